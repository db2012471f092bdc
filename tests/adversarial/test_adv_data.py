"""Adversarial input files: every file a user brings either works or fails cleanly.

Each bad case runs a real command (``data prepare``, ``data info``, ``data split``, ``train``, ``evaluate``)
and asserts the clean-failure contract of ``conftest.py``: exit status 2, one ``rnagen: error:`` line naming
the problem (checked with ``match``), no traceback, nothing that existed changed, nothing left behind. The
positive cases show that the inputs which should work (BOM, UTF-16, Latin-1, decimal commas, miRNA ids,
``--duplicates first|mean|sum``, numeric labels) do, with the values read back.
"""
from __future__ import annotations

import codecs
import gzip
import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen import datasets

# ------------------------------------------------------------------------------------------ small files

GOOD = "id,TP53,EGFR,MYC,tissue\ns1,1,2,3,a\ns2,4,5,6,a\ns3,1,2,3,b\ns4,4,5,6,b\n"
MIRNA = ["hsa-let-7a-5p", "hsa-let-7b-5p", "hsa-miR-21-5p", "hsa-miR-155-5p", "hsa-miR-1", "hsa-miR-10b-5p",
         "hsa-miR-200c-3p", "hsa-mir-143", "MIMAT0000062"]


def _mirna_table(n_per_class: int = 6, seed: int = 0) -> pd.DataFrame:
    """Labelled miRNA matrix (samples x miRBase names), z-scored like the TCGA miRNA data (negative values)."""
    rng = np.random.default_rng(seed)
    labels = ["LUAD"] * n_per_class + ["KIRC"] * n_per_class + ["SKCM"] * n_per_class
    X = rng.normal(size=(len(labels), len(MIRNA))) + np.repeat(np.arange(3), n_per_class)[:, None]
    df = pd.DataFrame(X.round(4), index=[f"TCGA-{i:02d}-A{i:03d}" for i in range(len(labels))], columns=MIRNA)
    df.insert(0, "label", labels)
    df.index.name = "sample_id"
    return df


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def _replace_line(text: str, i: int, new: str) -> str:
    lines = text.splitlines()
    lines[i] = new
    return "\n".join(lines) + "\n"


def _gct(rows: list[str], version: str = "#1.2", dims: str = "2\t2") -> str:
    return "\n".join([version, dims, *rows]) + "\n"


# (file name, content, extra prepare options, expected piece of the error line)
BAD_FILES = {
    # empty and truncated files
    "empty": ("x.csv", b"", [], "empty file"),
    "blank lines only": ("x.csv", b"\n\n\n", [], "empty file"),
    "header only": ("x.csv", "id,TP53,EGFR\n", [], "header line only"),
    "header only, tsv": ("x.tsv", "id\tTP53\tEGFR\n", [], "header line only"),
    "gzip truncated": ("x.csv.gz", gzip.compress(GOOD.encode() * 50)[:40], [], "damaged gzip"),
    "gzip empty content": ("x.csv.gz", gzip.compress(b""), [], "empty file"),
    # binary content under a text name
    "binary garbage": ("x.csv", bytes(range(256)) * 4, [], "not a text file"),
    "NUL bytes in text": ("x.csv", b"id,TP53\x00\x01\x02\x03,EGFR\ns1,1,2\n" * 3, [], "not a text file"),
    "pdf": ("x.tsv", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n\x00\x00\x01\x02" + bytes(range(40)), [], "not a text file"),
    # ragged rows and separators
    "ragged row": ("x.csv", "id,TP53,EGFR,tissue\ns1,1,2,a\ns2,1,2,3,4\n", [], "every line needs the same number"),
    "ragged row, tsv": ("x.tsv", "id\tTP53\tEGFR\ts\ns1\t1\t2\ta\ns2\t1\t2\t3\t4\t5\n", [], "tab-separated"),
    "wrong --sep": ("x.csv", GOOD, ["--sep", ";"], "check the separator (rnagen data prepare --sep names it)"),
    "two-character --sep": ("x.csv", GOOD, ["--sep", ";;"], "must be one character"),
    # non-numeric cells: the value, its line and column quoted
    "non-numeric cell": ("x.csv", _replace_line(GOOD, 3, "s3,1,abc,3,b"), [],
                         "'abc' at line 4, column 'egfr' (sample 's3')"),
    "non-numeric cell, mirna": ("x.csv", "id,hsa-miR-1,hsa-miR-21-5p,tissue\ns1,1,2,a\ns2,x7,5,a\ns3,1,2,b\ns4,4,5,b\n",
                                [], "'x7' at line 3, column 'hsa-mir-1'"),
    "non-numeric cell, genes x samples": ("x.tsv", "gene\ts1\ts2\ts3\nTP53\t1\t2\t3\nEGFR\t4\t?\t6\nMYC\t1\t2\t3\n",
                                          [], "'?' at line 3, column 's2' (gene 'egfr')"),
    # a quoted decimal comma beside decimal points: which mark the file uses is not clear
    "decimal comma in a comma file": ("x.csv", 'id,TP53,EGFR,tissue\ns1,1.5,"2,5",a\ns2,4,5,a\ns3,1,2,b\n', [],
                                      "decimal comma"),
    "value beyond float32": ("x.csv", _replace_line(GOOD, 2, "s2,4,1e300,6,a"), [],
                             "beyond the float32 range (first 1e+300"),
    "value beyond float64": ("x.csv", _replace_line(GOOD, 2, "s2,4,1e999,6,a"), [], "beyond the float64 range"),
    "NaN value": ("x.csv", _replace_line(GOOD, 1, "s1,1,,3,a"), [], "1 NaN and 0 inf"),
    "inf value": ("x.csv", _replace_line(GOOD, 1, "s1,1,inf,3,a"), [], "0 NaN and 1 inf"),
    # missing labels: never a class called 'nan'
    "empty label": ("x.csv", _replace_line(GOOD, 2, "s2,4,5,6,"), [], "1 of 4 samples have no 'tissue' label"),
    "whitespace label": ("x.csv", _replace_line(GOOD, 2, "s2,4,5,6,   "), [], "--drop-unlabelled"),
    "NA label": ("x.csv", _replace_line(GOOD, 4, "s4,4,5,6,NA"), [], "first: sample 's4'"),
    "nan label": ("x.csv", _replace_line(GOOD, 1, "s1,1,2,3,nan"), [], "have no 'tissue' label"),
    "label column missing": ("x.csv", GOOD, ["--label-key", "cancer"], "label column 'cancer' not found"),
    # duplicated ids
    "duplicated sample": ("x.csv", _replace_line(GOOD, 2, "s1,4,5,6,a"), [], "--duplicates first|mean|sum"),
    "duplicated gene": ("x.csv", GOOD.replace("EGFR", "TP53"), [], "duplicated gene ids (1, e.g. 'tp53')"),
    "same gene in two cases": ("x.csv", GOOD.replace("EGFR", "tp53"), [], "'tp53' and 'tp53' are the same gene"),
    "ensembl and symbol of one gene": ("x.csv", GOOD.replace("EGFR", "ENSG00000141510.16"), [],
                                       "--duplicates first|mean|sum"),
    "no sample-id column, numeric repeats": ("x.csv", "grp,TP53,EGFR\n1,2,3\n1,4,5\n", ["--label-key", "grp"],
                                             "if the file has no id column, add one"),
    # features that are not genes: landmarks / mapping need genes
    "mirna with landmarks": ("x.csv", _mirna_table().to_csv(), ["--genes", "landmarks", "--label-key", "label"],
                             "use --genes all"),
    "probes with landmarks": ("x.csv", "id,ILMN_1343291,ILMN_1343295,tissue\ns1,1,2,a\ns2,3,4,a\n",
                              ["--genes", "landmarks"], "needs gene identifiers"),
    "low landmark coverage": ("x.csv", GOOD, ["--genes", "landmarks"], "only 3 of the 978 l1000 landmarks"),
    "mirna gene list none present": ("x.csv", _mirna_table().to_csv(), ["--genes", "@list", "--label-key", "label"],
                                     "none of the genes of the list found"),
    # GCT
    "gct wrong version": ("x.gct", _gct(["Name\tDescription\ts1\ts2", "TP53\tna\t1\t2"], version="#2.0"), [],
                          "not a gct file"),
    "gct bad dims": ("x.gct", _gct(["Name\tDescription\ts1\ts2"], dims="two\tthree"), [], "malformed gct dimension"),
    "gct negative dims": ("x.gct", _gct(["Name\tDescription\ts1\ts2"], dims="-1\t2"), [], "malformed gct dimension"),
    "gct header mismatch": ("x.gct", _gct(["Name\tDescription\ts1", "TP53\tna\t1"]), [], "header has 3 fields"),
    "gct row count": ("x.gct", _gct(["Name\tDescription\ts1\ts2", "TP53\tna\t1\t2"]), [], "gct says 2 rows but has 1"),
    "gct non-numeric": ("x.gct", _gct(["Name\tDescription\ts1\ts2", "TP53\tna\t1\t2", "EGFR\tna\tx\t2"]), [],
                        "'x' at line 5, column 's1' (gene 'egfr')"),
    "gct 1.3 short metadata": ("x.gct", _gct(["id\tDescription\ts1\ts2", "tissue\tna\ta", "TP53\tna\t1\t2"],
                                             version="#1.3", dims="1\t2\t1\t1"), [], "column-metadata line 'tissue'"),
    # parquet / h5ad garbage: no --sep advice
    "parquet garbage": ("x.parquet", b"PAR1 this is not parquet", [], "not a readable parquet file"),
    "parquet empty": ("x.parquet", b"", [], "not a readable parquet file"),
    "h5ad garbage": ("x.h5ad", b"\x89HDF\r\n\x1a\ngarbage", [], "not a readable .h5ad file"),
    "h5ad text": ("x.h5ad", GOOD, [], "not a readable .h5ad file"),
}


def _case_file(tmp_path: Path, name: str, content, extra: list[str]) -> tuple[Path, list[str]]:
    p = _write(tmp_path / name, content)
    extra = list(extra)
    if "@list" in extra:
        _write(tmp_path / "genes.txt", "TP53\nEGFR\n")
        extra[extra.index("@list")] = str(tmp_path / "genes.txt")
    return p, extra


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_prepare_bad_file(tmp_path, clean_failure, case, earlier_output):
    name, content, extra, match = BAD_FILES[case]
    p, extra = _case_file(tmp_path, name, content, extra)
    earlier_output(tmp_path / "out.h5ad")
    argv = ["data", "prepare", str(p), "--out", str(tmp_path / "out.h5ad")]
    if "--genes" not in extra:
        argv += ["--genes", "all"]
    if "--label-key" not in extra and "tissue" in (content if isinstance(content, str) else ""):
        argv += ["--label-key", "tissue"]
    res = clean_failure(argv + extra, watch=[tmp_path], match=match)
    # parquet and h5ad errors never give text-format advice
    if name.endswith((".parquet", ".h5ad")):
        assert "--sep" not in res.err
    assert "make sample ids unique" not in res.err.lower() or "duplicated sample" in case


# the same files through the other commands that read data
READERS = ["non-numeric cell", "empty label", "binary garbage", "duplicated sample", "value beyond float32",
           "parquet garbage", "ragged row"]


@pytest.mark.parametrize("case", READERS)
@pytest.mark.parametrize("command", ["info", "split", "train", "evaluate"])
def test_other_commands_bad_file(tmp_path, clean_failure, capsys, case, command):
    name, content, _, match = BAD_FILES[case]
    p = _write(tmp_path / name, content)
    if (command, case) == ("info", "duplicated sample"):
        # info describes the file: repeated ids summarised on the first of each, and said, with prepare's option
        from rnagen.cli.main import main

        assert main(["data", "info", str(p), "--label-key", "tissue"]) == 0
        assert "duplicates: 1 repeated sample id, summarised on the first of each; rnagen data prepare needs " \
            "--duplicates first|mean|sum" in capsys.readouterr().out
        return
    if (command, case) == ("info", "empty label"):
        # info describes the file: a sample without a label counted beside the classes, with prepare's option
        from rnagen.cli.main import main

        assert main(["data", "info", str(p), "--label-key", "tissue"]) == 0
        assert "labels (tissue): 2 classes, 1 sample without a label (rnagen data prepare --drop-unlabelled " \
            "drops them)" in capsys.readouterr().out.splitlines()
        return
    out = tmp_path / "out"
    argv = {
        "info": ["data", "info", str(p), "--label-key", "tissue"],
        "split": ["data", "split", str(p), "--label-key", "tissue", "--out", str(out)],
        "train": ["train", str(p), "--model", "gaussian", "--label-key", "tissue", "--out", str(out)],
        "evaluate": ["evaluate", "--real", str(p), "--synthetic", str(p), "--label-key", "tissue",
                     "--out", str(tmp_path / "m.json")],
    }[command]
    clean_failure(argv, watch=[tmp_path], match=match)


# ------------------------------------------------------------------------------------------ paths

def _unreadable(tmp_path: Path) -> Path:
    p = _write(tmp_path / "secret.csv", GOOD)
    p.chmod(0)
    if os.access(p, os.R_OK):
        p.chmod(0o644)
        pytest.skip("this user reads a chmod-000 file anyway (root)")
    return p


@pytest.mark.parametrize("command", ["prepare", "info", "split", "train"])
@pytest.mark.parametrize("kind", ["directory", "unreadable", "missing", "h5ad directory"])
def test_bad_paths(tmp_path, clean_failure, command, kind):
    if kind == "directory":  # a folder of per-sample files would be read; an empty one is refused
        p, match = tmp_path / "adir", "a folder without per-sample quantification files"
        p.mkdir()
    elif kind == "h5ad directory":
        p, match = tmp_path / "data.h5ad", "is a directory"
        p.mkdir()
    elif kind == "unreadable":
        p, match = _unreadable(tmp_path), "permission denied"
    else:
        p, match = tmp_path / "nope.csv", "does not exist"
    out = tmp_path / "out"
    argv = {
        "prepare": ["data", "prepare", str(p), "--genes", "all", "--out", str(tmp_path / "o.h5ad")],
        "info": ["data", "info", str(p)],
        "split": ["data", "split", str(p), "--label-key", "tissue", "--out", str(out)],
        "train": ["train", str(p), "--model", "gaussian", "--label-key", "tissue", "--out", str(out)],
    }[command]
    try:
        clean_failure(argv, watch=[tmp_path], match=match)
    finally:
        if kind == "unreadable":
            p.chmod(0o644)


# ------------------------------------------------------------------------------------------ label files

LABEL_FILES = {
    "label file empty": (b"", "label file labels.csv: empty"),
    "label file binary": (bytes(range(256)), "not a text file"),
    "label file missing sample": ("sample,tissue\ns1,a\ns2,a\ns3,b\n", "no row for 1 of 4 samples"),
    "label file duplicated sample": ("sample,tissue\ns1,a\ns1,b\ns2,a\ns3,b\ns4,b\n",
                                     "'s1' appears twice with different 'tissue' labels"),
    "label file blank label": ("sample,tissue\ns1,a\ns2, \ns3,b\ns4,b\n", "1 of 4 samples have no 'tissue' label"),
    "label file NA label": ("sample,tissue\ns1,a\ns2,NA\ns3,b\ns4,\n", "2 of 4 samples have no"),
    "label file wrong count": ("a\nb\n", "2 labels for 4 samples"),
    "label file wrong column": ("sample,grade\ns1,a\ns2,a\ns3,b\ns4,b\n", "label column 'tissue' not in label file"),
    "label file directory": (None, "is a directory"),
}


@pytest.mark.parametrize("case", list(LABEL_FILES))
def test_label_file_problems(tmp_path, clean_failure, case):
    content, match = LABEL_FILES[case]
    expr = _write(tmp_path / "x.csv", "id,TP53,EGFR,MYC\ns1,1,2,3\ns2,4,5,6\ns3,1,2,3\ns4,4,5,6\n")
    lab = tmp_path / "labels.csv"
    if content is None:
        lab.mkdir()
    else:
        _write(lab, content)
    clean_failure(["data", "prepare", str(expr), "--labels", str(lab), "--label-key", "tissue", "--genes", "all",
                   "--out", str(tmp_path / "o.h5ad")], watch=[tmp_path], match=match)


def test_encoding_in_the_gene_list(tmp_path, clean_failure):
    expr = _write(tmp_path / "x.csv", GOOD)
    _write(tmp_path / "genes.txt", bytes(range(256)))
    clean_failure(["data", "prepare", str(expr), "--label-key", "tissue", "--genes", str(tmp_path / "genes.txt"),
                   "--out", str(tmp_path / "o.h5ad")], watch=[tmp_path], match="not a text file")


# ------------------------------------------------------------------------------------------ what works

ENCODED = {
    "utf-8 BOM": ("x.csv", codecs.BOM_UTF8 + GOOD.encode()),
    "utf-16 (BOM)": ("x.csv", GOOD.encode("utf-16")),
    "utf-16-le BOM": ("x.csv", codecs.BOM_UTF16_LE + GOOD.encode("utf-16-le")),
    "utf-16-be BOM, tsv": ("x.tsv", codecs.BOM_UTF16_BE + GOOD.replace(",", "\t").encode("utf-16-be")),
    "utf-16-le no BOM": ("x.csv", GOOD.encode("utf-16-le")),
    "latin-1": ("x.csv", GOOD.replace(",a\n", ",caf\xe9\n").encode("latin-1")),
    "gzip without .gz": ("x.csv", gzip.compress(GOOD.encode())),
    "utf-16 gzipped": ("x.csv.gz", gzip.compress(GOOD.encode("utf-16"))),
    "CRLF": ("x.csv", GOOD.replace("\n", "\r\n").encode()),
    "semicolons, decimal commas": ("x.csv", "id;TP53;EGFR;MYC;tissue\ns1;1;2;3;a\ns2;4;5;6;a\ns3;1;2;3;b\n"
                                            "s4;4;5;6;b\n".replace(";2;", ";2,0;").encode()),
}


@pytest.mark.parametrize("case", list(ENCODED))
def test_encodings_and_formats_read(tmp_path, cli, case):
    name, content = ENCODED[case]
    p = _write(tmp_path / name, content)
    res = cli(["data", "prepare", str(p), "--label-key", "tissue", "--genes", "all", "--log", "none",
               "--out", str(tmp_path / "o.h5ad")])
    assert res.rc == 0, res.err
    a = ad.read_h5ad(tmp_path / "o.h5ad")
    assert list(a.obs_names) == ["s1", "s2", "s3", "s4"] and list(a.var_names) == ["TP53", "EGFR", "MYC"]
    np.testing.assert_array_equal(a.X, [[1, 2, 3], [4, 5, 6], [1, 2, 3], [4, 5, 6]])
    first = "caf\xe9" if case == "latin-1" else "a"
    assert a.obs["tissue"].astype(str).tolist() == [first, first, "b", "b"]


def test_decimal_commas_keep_their_fraction(tmp_path):
    from rnagen.data import read

    p = _write(tmp_path / "eu.csv", "id;TP53;EGFR\ns1;1,5;-0,25\ns2;2;3,75e1\n")
    a = read(p)
    np.testing.assert_array_equal(a.X, np.array([[1.5, -0.25], [2, 37.5]], dtype=np.float32))
    t = _write(tmp_path / "eu.tsv", "id\tTP53\tEGFR\ns1\t1,5\t2\ns2\t3\t4,5\n")
    np.testing.assert_array_equal(read(t).X, np.array([[1.5, 2], [3, 4.5]], dtype=np.float32))


@pytest.mark.parametrize("how,expected", [("first", [[1, 2, 3], [7, 7, 7], [1, 2, 3], [4, 5, 6]]),
                                          ("mean", [[2.5, 3.5, 4.5], [7, 7, 7], [1, 2, 3], [4, 5, 6]])])
def test_duplicates_first_and_mean(tmp_path, cli, how, expected):
    text = "id,TP53,EGFR,MYC,tissue\ns1,1,2,3,a\ns1,4,5,6,a\ns2,7,7,7,a\ns3,1,2,3,b\ns4,4,5,6,b\n"
    p = _write(tmp_path / "x.csv", text)
    res = cli(["data", "prepare", str(p), "--label-key", "tissue", "--genes", "all", "--log", "none",
               "--duplicates", how, "--out", str(tmp_path / "o.h5ad")])
    assert res.rc == 0, res.err
    a = ad.read_h5ad(tmp_path / "o.h5ad")
    assert list(a.obs_names) == ["s1", "s2", "s3", "s4"]
    np.testing.assert_allclose(a.X, expected)
    read_step = [h for h in a.uns["rnagen"]["history"].values() if h["step"] == "read"][0]
    assert read_step["duplicates"] == how and read_step["n_duplicated_samples"] == 1
    verb = "averaged" if how == "mean" else "dropped (first kept)"
    assert f"; 1 duplicated sample {verb} (--duplicates {how})" in res.out
    if how == "first":   # s1 (its first row) and s3 hold the same values: named
        assert "1 sample identical to another ('s3' = 's1')" in res.out


def test_same_gene_two_cases_first_keeps_the_first_column(tmp_path, cli):
    p = _write(tmp_path / "x.csv", GOOD.replace("EGFR", "tp53"))
    res = cli(["data", "prepare", str(p), "--label-key", "tissue", "--genes", "all", "--log", "none",
               "--duplicates", "mean", "--out", str(tmp_path / "o.h5ad")])
    assert res.rc == 0, res.err
    a = ad.read_h5ad(tmp_path / "o.h5ad")
    assert list(a.var_names) == ["TP53", "MYC"] and a.var["entrez_id"].tolist() == ["7157", "4609"]
    np.testing.assert_allclose(a.X[:, 0], [1.5, 4.5, 1.5, 4.5])
    assert "1 column naming an earlier column's gene averaged into it (--duplicates mean)" in res.out


def test_drop_unlabelled_and_numeric_labels(tmp_path, cli):
    text = "id,TP53,EGFR,grade\ns1,1,2,1\ns2,4,5,1\ns3,1,2,\ns4,4,5,2\ns5,3,3,2\ns6,3,3, \n"
    p = _write(tmp_path / "x.csv", text)
    res = cli(["data", "prepare", str(p), "--label-key", "grade", "--genes", "all", "--drop-unlabelled",
               "--out", str(tmp_path / "o.h5ad")])
    assert res.rc == 0, res.err
    a = ad.read_h5ad(tmp_path / "o.h5ad")
    assert list(a.obs_names) == ["s1", "s2", "s4", "s5"]
    assert a.obs["grade"].astype(str).tolist() == ["1", "1", "2", "2"]  # numeric codes found, no "nan" class
    assert "2 classes of 'grade'; 2 unlabelled samples dropped (--drop-unlabelled)" in res.out


def test_mixed_ensembl_and_symbols_keep_every_gene(tmp_path, cli):
    lm = datasets.landmarks().head(600)
    ids = [e if i % 2 else s for i, (e, s) in enumerate(zip(lm["ensembl_id"], lm["symbol"]))]
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.random((4, len(ids))), index=["s1", "s2", "s3", "s4"], columns=ids)
    df.insert(0, "tissue", ["a", "a", "b", "b"])
    df.to_csv(tmp_path / "x.csv")
    res = cli(["data", "prepare", str(tmp_path / "x.csv"), "--label-key", "tissue", "--out", str(tmp_path / "o.h5ad")])
    assert res.rc == 0, res.err
    a = ad.read_h5ad(tmp_path / "o.h5ad")
    assert a.n_vars == 600 and "(mixed IDs); 600/600 mapped" in res.out and "600/978 landmarks" in res.out


def test_mirna_matrix_prepare_and_benchmark_end_to_end(tmp_path, cli, one_torch_thread):
    """Must-show of issue 15: a labelled miRNA matrix works with --genes all and default id detection, and
    `rnagen benchmark` runs on it end to end (here the Gaussian floor and a diffusion model of a few steps
    sampled with DDIM, next to the real reference)."""
    _mirna_table().to_csv(tmp_path / "mirna.csv")
    res = cli(["data", "prepare", str(tmp_path / "mirna.csv"), "--label-key", "label", "--genes", "all",
               "--out", str(tmp_path / "mirna.h5ad")])
    assert res.rc == 0, res.err
    assert "prepared 18 samples x 9 features (other IDs" in res.out and "3 classes of 'label'" in res.out
    a = ad.read_h5ad(tmp_path / "mirna.h5ad")
    assert list(a.var_names) == MIRNA and a.X.min() < 0  # z-scores kept as they are (already log scale)
    info = cli(["data", "info", str(tmp_path / "mirna.h5ad")])
    assert info.rc == 0 and "features:  9 (other IDs" in info.out
    res = cli(["benchmark", str(tmp_path / "mirna.h5ad"), "--label-key", "label", "--models", "gaussian,ddim",
               "--set", "diffusion:train.steps=10", "--test-size", "0.34", "--metrics", "density,coverage",
               "--quiet", "--out", str(tmp_path / "bench")])
    assert res.rc == 0, res.err
    board = pd.read_csv(tmp_path / "bench" / "leaderboard.csv")
    assert set(board["model"]) == {"real", "gaussian", "ddim"}
    assert board["coverage"].between(0, 1).all() and (board["density"] >= 0).all()
    assert (tmp_path / "bench" / "report.html").stat().st_size > 0
