"""Readers: formats, orientation, labels, and validation errors."""
from __future__ import annotations

import gzip
import os
import re

import numpy as np
import pandas as pd
import pytest

from rnagen import datasets
from rnagen.data import read, write_gct
from rnagen.data.io import detect_orientation
from rnagen.errors import DataError
from rnagen.pp import get_history


@pytest.fixture(scope="module")
def small():
    a = datasets.gtex26()
    idx = np.r_[0:6, 20:26, 40:46]  # 3 tissues x 6 samples
    return a[idx, :40].copy()


def _frame(a) -> pd.DataFrame:
    return pd.DataFrame(a.X, index=a.obs_names, columns=a.var_names)


def _same(a, b, label="tissue"):
    np.testing.assert_array_equal(a.X, b.X)
    assert list(a.obs_names) == list(b.obs_names) and list(a.var_names) == list(b.var_names)
    if label:
        assert b.obs[label].dtype == "category"
        assert b.obs[label].astype(str).tolist() == a.obs[label].astype(str).tolist()


def test_csv_samples_x_genes_with_label_column(small, tmp_path):
    df = _frame(small)
    df.insert(0, "tissue", small.obs["tissue"].astype(str))
    df.to_csv(tmp_path / "x.csv", float_format="%.9g")
    b = read(tmp_path / "x.csv", label_key="tissue")
    _same(small, b)
    assert b.X.dtype == np.float32
    h = get_history(b)[0]
    assert h["step"] == "read" and h["orientation"] == "samples_x_genes" and h["format"] == "csv"


def test_tsv_gz_genes_x_samples_detected_and_labels_file(small, tmp_path):
    _frame(small).T.to_csv(tmp_path / "x.tsv.gz", sep="\t", float_format="%.9g")
    pd.DataFrame({"sample": small.obs_names, "tissue": small.obs["tissue"].astype(str)}).iloc[::-1].to_csv(
        tmp_path / "lab.tsv", sep="\t", index=False)
    b = read(tmp_path / "x.tsv.gz", labels=tmp_path / "lab.tsv")  # label column = second column, matched by id
    _same(small, b)
    assert get_history(b)[0]["orientation"] == "genes_x_samples"
    assert get_history(b)[0]["labels_file"] == "lab.tsv"   # where the labels came from
    # an .h5ad labelled from a file records the file too (a read of an .h5ad alone adds no step)
    small.write_h5ad(tmp_path / "x.h5ad")
    assert get_history(read(tmp_path / "x.h5ad", labels=tmp_path / "lab.tsv", label_key="tissue"))[-1][
        "labels_file"] == "lab.tsv"
    # explicit orientation gives the other reading
    c = read(tmp_path / "x.tsv.gz", orientation="samples_x_genes")
    assert c.shape == (small.n_vars, small.n_obs)


def test_one_column_label_file_in_sample_order(small, tmp_path):
    _frame(small).to_csv(tmp_path / "x.csv", float_format="%.9g")
    (tmp_path / "l1.txt").write_text("\n".join(small.obs["tissue"].astype(str)) + "\n")
    (tmp_path / "l2.txt").write_text("tissue\n" + "\n".join(small.obs["tissue"].astype(str)) + "\n")
    _same(small, read(tmp_path / "x.csv", labels=tmp_path / "l1.txt", label_key="tissue"))
    _same(small, read(tmp_path / "x.csv", labels=tmp_path / "l2.txt"))
    (tmp_path / "l3.txt").write_text("a\nb\n")
    with pytest.raises(DataError, match="2 labels for 18 samples"):
        read(tmp_path / "x.csv", labels=tmp_path / "l3.txt")
    # a header line over one label too few: as many lines as samples, the first a value no other line has; read
    # in order, every label would have moved by one
    short = small.obs["tissue"].astype(str).tolist()[:-1]
    (tmp_path / "l4.txt").write_text("tissue\n" + "\n".join(short) + "\n")
    with pytest.raises(DataError, match="its first line 'tissue' appears on no other line.*17 lines under it would "
                                        "label 18 samples"):
        read(tmp_path / "x.csv", labels=tmp_path / "l4.txt")
    # one label too many, the first line a label: not a header (every sample would get the next one's label)
    labs = small.obs["tissue"].astype(str).tolist()
    (tmp_path / "l5.txt").write_text("\n".join([labs[0], *labs]) + "\n")
    with pytest.raises(DataError, match=f"19 lines for 18 samples, and its first line {labs[0]!r} is one of the "
                                        "labels, not a column name"):
        read(tmp_path / "x.csv", labels=tmp_path / "l5.txt")


def test_a_label_table_without_header_naming_samples_loosely(small, tmp_path):
    """ids and labels without a header line, the ids in another case or as file names (s1, S1.bam): the first
    row is data, as the rows are matched (it was taken for a header, its sample unlabelled)."""
    _frame(small).to_csv(tmp_path / "x.csv", float_format="%.9g")
    labs = small.obs["tissue"].astype(str).tolist()
    for name, ids in (("lower", [o.lower() for o in small.obs_names]), ("bam", [f"{o}.bam" for o in small.obs_names])):
        (tmp_path / f"{name}.tsv").write_text("".join(f"{i}\t{lab}\n" for i, lab in zip(ids, labs)))
        got = read(tmp_path / "x.csv", labels=tmp_path / f"{name}.tsv")
        assert got.obs["label"].astype(str).tolist() == labs, name


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_gct_round_trip(small, tmp_path, version):
    keys = ["tissue"] if version == "1.3" else []
    write_gct(small, tmp_path / "x.gct.gz", version=version, obs_keys=keys)
    with gzip.open(tmp_path / "x.gct.gz", "rt") as fh:
        assert fh.readline().strip() == f"#{version}"
    b = read(tmp_path / "x.gct.gz", label_key="tissue" if keys else None)
    _same(small, b, label="tissue" if keys else None)
    if version == "1.2":
        assert list(b.var.columns) == []  # 'na' descriptions are dropped
    else:   # each var column a row-metadata column, read back as it was
        pd.testing.assert_frame_equal(b.var, small.var)


def test_profiles_written_as_gct_1_2_and_1_3(small, tmp_path):
    """write_profiles (sample's and reconstruct apply's --out) writes GCT by the ending: 1.2 where the profiles
    carry no annotations but the genes' symbols (the Description where known, 'na' for an empty one), 1.3 with
    each var column (symbol, Ensembl id, landmark mark) as a row-metadata column and each obs column (a label, a
    number) as a column-metadata line otherwise; a sparse matrix as its dense values; .gct.gz gzipped, its
    header naming the file. Each reads back to the same values, ids, labels and gene annotations."""
    import anndata as ad
    import scipy.sparse as sp

    from rnagen._io import write_profiles

    bare = ad.AnnData(sp.csr_matrix(np.where(small.X > 5, small.X, 0)), var=small.var[["symbol"]].copy())
    bare.obs_names = small.obs_names
    bare.var.loc[bare.var_names[1], "symbol"] = ""
    write_profiles(bare, tmp_path / "bare.gct")
    lines = (tmp_path / "bare.gct").read_text().splitlines()
    assert lines[:3] == ["#1.2", "40\t18", "\t".join(["Name", "Description", *small.obs_names])]
    assert [ln.split("\t")[1] for ln in lines[3:6]] == ["TBX4", "na", "NKX2-1"] and len(lines) == 3 + 40
    back = read(tmp_path / "bare.gct")
    np.testing.assert_array_equal(back.X, bare.X.toarray())
    assert list(back.var_names) == list(small.var_names) and list(back.obs_names) == list(small.obs_names)
    pd.testing.assert_frame_equal(back.var, bare.var)   # the symbols where rnagen keeps them, the empty one empty

    full = small.copy()
    full.obs["depth"] = np.arange(full.n_obs) * 0.5
    write_profiles(full, tmp_path / "full.gct.gz")
    raw = (tmp_path / "full.gct.gz").read_bytes()
    assert raw[3] & 0x08 and raw[10:].split(b"\0", 1)[0] == b"full.gct"   # FNAME flag, then the name
    with gzip.open(tmp_path / "full.gct.gz", "rt") as fh:
        lines = fh.read().splitlines()
    assert lines[:3] == ["#1.3", "40\t18\t3\t2", "\t".join(["id", "symbol", "ensembl_id", "is_landmark",
                                                               *small.obs_names])]
    assert lines[3] == "\t".join(["tissue", "na", "na", "na", *small.obs["tissue"].astype(str)])
    assert lines[4] == "\t".join(["depth", "na", "na", "na", *map(str, full.obs["depth"])])
    assert lines[5].split("\t")[:4] == ["9496", "TBX4", "ENSG00000121075", "False"]
    back = read(tmp_path / "full.gct.gz", label_key="tissue")
    _same(full, back)
    np.testing.assert_array_equal(back.obs["depth"].to_numpy(), full.obs["depth"].to_numpy())
    pd.testing.assert_frame_equal(back.var, full.var)   # every gene annotation, the landmark marks booleans


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_a_gct_description_of_symbols_reads_back_as_the_symbols(small, tmp_path, version):
    """write_gct(description="symbol") puts the genes' symbols in GCT's Description: read back, they are
    var["symbol"] as written (an empty one, written 'na', empty again), not var["description"]. A Description of
    free text, or of ids that are not symbols, is kept as var["description"]; one of symbols beside a 'symbol'
    row-metadata column of its own stays the description."""
    a = small.copy()
    a.var.loc[a.var_names[2], "symbol"] = ""
    a.var["note"] = [f"gene number {i}" for i in range(a.n_vars)]
    for col in ("symbol", "note", "ensembl_id"):
        write_gct(a, tmp_path / f"{col}.gct", version=version, description=col, var_keys=None if version == "1.2"
                  else [])
        back = read(tmp_path / f"{col}.gct")
        want = a.var[[col]].rename(columns={col: "symbol" if col == "symbol" else "description"})
        pd.testing.assert_frame_equal(back.var, want)
    if version == "1.3":   # the Description first, then every other var column (var_keys=None)
        write_gct(a, tmp_path / "all.gct", version=version, description="symbol")
        assert (tmp_path / "all.gct").read_text().splitlines()[2].split("\t")[:5] == [
            "id", "Description", "ensembl_id", "is_landmark", "note"]
        pd.testing.assert_frame_equal(read(tmp_path / "all.gct").var, a.var)
    assert back.var["description"].tolist()[:2] == ["ENSG00000121075", "ENSG00000105967"]
    # GTEx's own layout: Ensembl ids as the Name, their symbols as the Description
    lines = ["#1.2", "3\t2", "Name\tDescription\tS1\tS2", "ENSG00000141510.16\tTP53\t1\t2",
             "ENSG00000146648.15\tEGFR\t3\t4", "ENSG00000012048.20\tBRCA1\t5\t6"]
    (tmp_path / "gtex.gct").write_text("\n".join(lines) + "\n")
    assert read(tmp_path / "gtex.gct").var["symbol"].tolist() == ["TP53", "EGFR", "BRCA1"]
    (tmp_path / "both.gct").write_text("#1.3\n2\t2\t2\t0\nid\tsymbol\tDescription\tS1\tS2\n"
                                      "7157\tTP53\tTP53\t1\t2\n1956\tEGFR\tEGFR\t3\t4\n")
    both = read(tmp_path / "both.gct")
    assert list(both.var.columns) == ["symbol", "description"] and both.var["description"].tolist() == ["TP53", "EGFR"]


def _annotated(small):
    """small's genes with an annotation of each kind a var column holds: Entrez ids as text (one unknown, empty),
    whole numbers, floats with a missing one, text with a missing and an empty value, pandas' nullable integers and
    booleans with a missing one, a categorical column."""
    a = small.copy()
    g = a.n_vars
    a.var["entrez_id"] = [str(e) if i != 3 else "" for i, e in enumerate(a.var_names)]
    a.var["n_exons"] = (np.arange(g, dtype=np.int64) * 7 - 20)
    a.var["gc"] = np.where(np.arange(g) % 5 == 1, np.nan, np.arange(g) / 3)
    a.var["note"] = [np.nan if i == 2 else "" if i == 4 else f"probe {i}; 3' end" for i in range(g)]
    a.var["rank"] = pd.array([None if i == 1 else i * 1000 for i in range(g)], dtype="Int64")
    a.var["curated"] = pd.array([None if i == 0 else i % 3 == 0 for i in range(g)], dtype="boolean")
    a.var["family"] = pd.Categorical(["TF" if i % 2 else "kinase" for i in range(g)])
    return a


def test_gct_1_3_gives_back_every_gene_annotation_with_its_type(small, tmp_path):
    """GCT 1.3 holds any number of row-metadata columns: write_gct(version="1.3") and --out x.gct[.gz] write every
    var column under its name, and the file reads back to the same var: booleans bool, whole numbers int64,
    floats float64, text as text (Entrez ids too), pandas' nullable Int64 and boolean where a value is missing
    (each the type an .h5ad gives back), a missing value 'na' and missing again, an empty text empty; a
    categorical column as its values' text."""
    import anndata as ad

    from rnagen._io import write_profiles

    a = _annotated(small)
    want = a.var.assign(family=a.var["family"].astype(str).astype(object))
    write_gct(a, tmp_path / "x.gct", version="1.3", obs_keys=["tissue"])
    write_profiles(a, tmp_path / "y.gct.gz")
    with gzip.open(tmp_path / "y.gct.gz", "rt") as fh:
        assert fh.read() == (tmp_path / "x.gct").read_text()   # one layout, whichever writes it
    lines = (tmp_path / "x.gct").read_text().splitlines()
    names = ["symbol", "ensembl_id", "is_landmark", "entrez_id", "n_exons", "gc", "note", "rank", "curated", "family"]
    assert lines[1] == "40\t18\t10\t1" and lines[2].split("\t")[:11] == ["id", *names]
    assert lines[3].split("\t")[:12] == ["tissue", *["na"] * 10, "Adipose Tissue"]
    assert lines[4].split("\t")[:11] == ["9496", "TBX4", "ENSG00000121075", "False", "9496", "-20", "0.0",
                                         "probe 0; 3' end", "0", "na", "kinase"]
    assert lines[5].split("\t")[1:11] == ["TFEC", "ENSG00000105967", "False", "22797", "-13", "na",
                                          "probe 1; 3' end", "na", "False", "TF"]
    assert lines[7].split("\t")[4] == "" and lines[8].split("\t")[7] == ""
    for name in ("x.gct", "y.gct.gz"):
        back = read(tmp_path / name, label_key="tissue")
        _same(a, back)
        pd.testing.assert_frame_equal(back.var, want)
        assert back.var["note"].isna().tolist() == [i == 2 for i in range(40)]
    ad.AnnData(a.X, obs=a.obs, var=a.var).write_h5ad(tmp_path / "x.h5ad")
    h5 = ad.read_h5ad(tmp_path / "x.h5ad").var
    for col in ("is_landmark", "n_exons", "gc", "rank", "curated"):
        assert back.var[col].dtype == h5[col].dtype, col


def test_a_field_a_gct_file_cannot_hold_is_refused_before_it_is_written(small, tmp_path):
    """A label, id or annotation name holding a tab or a line break would shift or split the tab-separated
    lines (GCT has no quoting): one line naming the value and the formats that hold it, no file, no
    temporary; write_gct names an obs or var column the AnnData lacks."""
    from rnagen._io import write_profiles
    from rnagen.errors import OutputError

    bad = small.copy()
    bad.obs["tissue"] = bad.obs["tissue"].astype(str)
    bad.obs.iloc[4, 0] = "Adipose\tTissue"
    with pytest.raises(OutputError, match=r"^x.gct: the sample annotation 'tissue' value 'Adipose\\tTissue' holds a "
                                          r"tab or a line break, .*; rename it, or write a .csv or an .h5ad$"):
        write_profiles(bad, tmp_path / "x.gct")
    bad = small.copy()
    bad.obs_names = [*small.obs_names[:-1], "last\nsample"]
    with pytest.raises(OutputError, match=r"the sample id 'last\\nsample' holds a tab or a line break"):
        write_gct(bad, tmp_path / "x.gct")
    assert os.listdir(tmp_path) == []
    with pytest.raises(DataError, match=r"^write_gct: no obs column 'kind' \(its columns: tissue\); name one"):
        write_gct(small, tmp_path / "x.gct", version="1.3", obs_keys=["kind"])


@pytest.mark.parametrize("where", ["value", "name"])
def test_a_gene_annotation_a_gct_file_cannot_hold_is_refused_before_it_is_written(small, tmp_path, where):
    """A var value or column name holding a tab or a line break would shift or split GCT 1.3's tab-separated
    lines: refused with one line naming it, by write_gct and by --out x.gct, before anything is written (no file,
    no temporary); the CLI's exit status 2."""
    from rnagen._io import write_profiles
    from rnagen.errors import OutputError

    a = _annotated(small)
    if where == "value":
        a.var["note"] = a.var["note"].astype(object)
        a.var.iloc[39, a.var.columns.get_loc("note")] = "two\nlines"
        msg = r"^x.gct: the gene annotation 'note' value 'two\\nlines' holds a tab or a line break, .*\.h5ad$"
    else:
        a.var = a.var.rename(columns={"gc": "gc\tcontent"})
        msg = r"^x.gct: the gene annotation name 'gc\\tcontent' holds a tab or a line break"
    with pytest.raises(OutputError, match=msg):
        write_profiles(a, tmp_path / "x.gct")
    with pytest.raises(OutputError, match=msg):
        write_gct(a, tmp_path / "x.gct", version="1.3")
    assert os.listdir(tmp_path) == []
    # GCT 1.2 holds no such column: it writes the symbols alone, as it can
    write_gct(a, tmp_path / "x.gct", description="symbol")
    assert read(tmp_path / "x.gct").var.columns.tolist() == ["symbol"]


@pytest.mark.parametrize("writer", ["write_gct", "write_profiles"])
def test_a_gct_file_is_written_a_block_of_genes_at_a_time(tmp_path, monkeypatch, writer):
    """GCT is genes x samples: a line per gene across every sample. The writer formats a block of genes
    (GCT_BLOCK_VALUES values) at a time, with their annotations (GCT 1.3's row metadata), so what it allocates
    beside the matrix is about a block and a line, not the file's text, which is several times the float32
    matrix. The block is lowered here so that a small matrix shows it; the file reads back to the same values
    and gene annotations."""
    import tracemalloc

    import anndata as ad

    import rnagen._io as rio

    monkeypatch.setattr(rio, "GCT_BLOCK_VALUES", 20_000)
    rng = np.random.default_rng(0)
    a = ad.AnnData(rng.normal(5, 2, (2000, 400)).astype(np.float32),
                   obs=pd.DataFrame({"kind": np.repeat(["a", "b"], 1000)}, index=[f"syn_{i:06d}" for i in range(2000)]),
                   var=pd.DataFrame({"symbol": [f"GENE{j}" for j in range(400)], "n_exons": np.arange(400),
                                     "is_landmark": np.arange(400) % 3 == 0}, index=[f"g{j}" for j in range(400)]))
    write = (lambda: write_gct(a, tmp_path / "x.gct", version="1.3", obs_keys=["kind"])) if writer == "write_gct" \
        else (lambda: rio.write_profiles(a, tmp_path / "x.gct"))
    tracemalloc.start()
    try:
        write()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    text = (tmp_path / "x.gct").stat().st_size
    assert text > 2.5 * a.X.nbytes and peak < 0.2 * a.X.nbytes, (peak, a.X.nbytes, text)
    back = read(tmp_path / "x.gct", label_key="kind")
    np.testing.assert_array_equal(back.X, a.X)
    assert back.obs["kind"].astype(str).tolist() == a.obs["kind"].tolist()
    pd.testing.assert_frame_equal(back.var, a.var)   # the gene annotations as row metadata, a block at a time


def test_parquet_and_h5ad(small, tmp_path):
    df = _frame(small)
    df.insert(0, "tissue", small.obs["tissue"].astype(str))
    df.to_parquet(tmp_path / "x.parquet")
    _same(small, read(tmp_path / "x.parquet", label_key="tissue"))
    small.write_h5ad(tmp_path / "x.h5ad")
    _same(small, read(tmp_path / "x.h5ad", label_key="tissue"))


def test_h5ad_entrez_ids_written_as_floats(small, tmp_path):
    """An .h5ad built from a frame whose Entrez columns were floats names its genes '9496.0': read by their digits,
    as a text table's are, so that --genes landmarks and a reconstructor find the genes; names that are not all
    such floats stay as written."""
    a = small.copy()
    a.var_names = [f"{v}.0" for v in small.var_names]
    a.write_h5ad(tmp_path / "f.h5ad")
    _same(small, read(tmp_path / "f.h5ad", label_key="tissue"))
    a.var_names = [f"v{i}.0" for i in range(a.n_vars)]
    a.write_h5ad(tmp_path / "g.h5ad")
    assert list(read(tmp_path / "g.h5ad").var_names) == list(a.var_names)


def test_table_without_sample_id_column(tmp_path):
    (tmp_path / "x.csv").write_text("ENSG00000141510.16,ENSG00000146648.15,groups\n1,2,a\n3,4,b\n")
    b = read(tmp_path / "x.csv", label_key="groups")
    assert list(b.obs_names) == ["sample_0", "sample_1"] and b.X.tolist() == [[1, 2], [3, 4]]


def test_orientation_rules():
    assert detect_orientation(["s1", "s2"], ["TP53", "EGFR", "MYC"]) == "samples_x_genes"
    assert detect_orientation(["7157", "1956"], ["1", "2", "3"]) == "genes_x_samples"
    # no gene-like ids: genes outnumber samples
    assert detect_orientation(["a", "b"], ["c", "d", "e"]) == "samples_x_genes"


def test_orientation_of_entrez_ids_against_numbered_samples():
    """Samples numbered 1..24 are mostly Entrez ids too (1: A1BG, 2: A2M): a genes x samples table of NCBI's
    gene ids, half of them outside the shipped tables (non-coding), stays genes x samples; a table of 2,000
    numbered samples x the landmarks' Entrez ids stays samples x genes."""
    uni = [str(e) for e in dict.fromkeys(datasets.gene_universe()["entrez_id"][:800])]
    genes = uni + [str(200_000_000 + i) for i in range(900)]
    numbered = [str(i) for i in range(1, 25)]
    assert detect_orientation(genes, numbered) == "genes_x_samples"
    assert detect_orientation(numbered, genes) == "samples_x_genes"
    landmarks = [str(e) for e in datasets.landmarks()["entrez_id"]]
    assert detect_orientation([str(i) for i in range(1, 2001)], landmarks) == "samples_x_genes"
    assert detect_orientation(landmarks[:24], numbered) == "genes_x_samples"
    # more numbered samples (R's write.csv row names 1..n) than genes, the genes' Entrez ids not all known (the
    # bundled GTEx subset: 83%): the run numbers the samples
    gtex = [str(v) for v in datasets.gtex26().var_names]
    rows = [str(i) for i in range(1, 521)]
    assert detect_orientation(rows, gtex) == "samples_x_genes"
    assert detect_orientation(gtex, rows) == "genes_x_samples"
    # a subset of the numbered samples (every other one): still numbers, not genes
    assert detect_orientation(rows[::2], gtex) == "samples_x_genes"
    assert detect_orientation(gtex, rows[::2]) == "genes_x_samples"


def test_orientation_of_ids_that_name_their_kind():
    """Ids that are not gene identifiers but say what they are (a simulated or anonymised table) decide over
    the size rule: 300 samples x 100 genes stays so."""
    samples, genes = [f"sample_{i}" for i in range(300)], [f"gene_{i}" for i in range(100)]
    assert detect_orientation(samples, genes) == "samples_x_genes"
    assert detect_orientation(genes, samples) == "genes_x_samples"
    assert detect_orientation([f"Patient-{i:02d}" for i in range(50)], [f"x{i}" for i in range(10)]) == \
        "samples_x_genes"
    # nothing said: the size rule
    assert detect_orientation([f"a{i}" for i in range(300)], [f"b{i}" for i in range(100)]) == "genes_x_samples"


@pytest.mark.parametrize("content,match", [
    ("id,TP53,EGFR\ns1,1,2\ns2,1,2,3,4\n", "malformed CSV"),
    # the last line cut off mid-value by an interrupted download: not missing values
    ("id,TP53,EGFR,MYC\ns1,1,2,3\ns2,1,33", "the last line stops after 3 of 4 fields, without a line end"),
    ("id,TP53,EGFR\ns1,1,nan\ns2,1,2\n", "1 NaN and 0 inf values .*sample 's1', gene 'EGFR'"),
    ("id,TP53,EGFR\ns1,1,inf\ns2,1,2\n", "0 NaN and 1 inf"),
    ("id,TP53,EGFR\ns1,1,2\ns1,1,2\n", "duplicated sample ids"),
    # one id twice: the same values each time (a file merged twice), or other values (two libraries of one sample)
    ("id,TP53,EGFR\ns1,1,2\ns2,5,6\ns1,1,2\n", r"duplicated sample ids \(1, e.g. 's1', each time with the same "
     r"values: the file merged twice\? --duplicates first keeps one copy and loses nothing\)"),
    ("id,TP53,EGFR\ns1,1,2\ns2,5,6\ns1,1,3\n", r"duplicated sample ids \(1, e.g. 's1', with other values each time: "
     r"two libraries of one sample \(aliquots, a re-sequencing\)\? --duplicates mean averages them\)"),
    ("id,TP53,TP53\ns1,1,2\ns2,1,2\n", "duplicated gene ids"),
    ("id,TP53,EGFR,MYC\ns1,1,2,3\ns2,1,abc,3\n", "non-numeric value 'abc' at line 3, column 'EGFR' \\(sample 's2'\\)"),
    ("", "empty file"),
])
def test_bad_text_files(tmp_path, content, match):
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(DataError, match=match):
        read(tmp_path / "bad.csv")


def test_a_label_column_named_like_a_gene_is_named_as_one(tmp_path):
    """GRP is a gene symbol: a column of class names under it reads as a broken gene column; the message says
    how to read it as the label column, and that way it reads."""
    rows = "".join(f"s{i},{'ab'[i % 2]},{i + 1},{i + 2},{i + 3}\n" for i in range(8))
    (tmp_path / "x.csv").write_text("sample,grp,TP53,EGFR,MYC\n" + rows)
    with pytest.raises(DataError, match="if column 'grp' holds labels, name it as the label column"):
        read(tmp_path / "x.csv")
    assert read(tmp_path / "x.csv", label_key="grp").obs["grp"].astype(str).tolist() == list("abababab")


def test_a_complete_last_line_without_a_line_end_is_read(tmp_path):
    (tmp_path / "ok.csv").write_text("id,TP53,EGFR\ns1,1,2\ns2,3,33777")
    assert read(tmp_path / "ok.csv").X[1, 1] == 33777


def test_ids_in_the_second_column_behind_the_labels(small, tmp_path):
    """subtype,sample_id,genes...: the first column repeats classes, the sample ids are the later text column whose
    values are all distinct: read by those ids, the classes kept as the label column (taken for sample ids,
    --duplicates first would leave one sample per class)."""
    df = _frame(small)
    df.insert(0, "sample_id", list(small.obs_names))
    df.insert(0, "tissue", small.obs["tissue"].astype(str).to_numpy())
    df.to_csv(tmp_path / "x.csv", index=False, float_format="%.9g")
    _same(small, read(tmp_path / "x.csv", label_key="tissue"))
    _same(small, read(tmp_path / "x.csv"))
    # a first column of distinct ids stays the ids
    df.iloc[:, [1, 0] + list(range(2, df.shape[1]))].to_csv(tmp_path / "y.csv", index=False, float_format="%.9g")
    _same(small, read(tmp_path / "y.csv", label_key="tissue"))


def test_labels_first_and_no_sample_ids_at_all(small, tmp_path):
    """label,genes...: a table written without its row names, the classes first and no id column: with the label
    key (or classes before columns named as genes) the samples are sample_0, sample_1, ... in the file's order and
    the classes their label; features not named as genes need the label key, and without it the error names the
    column as classes and the way on (it offered --duplicates, which would merge each class into one sample)."""
    df = _frame(small)
    df.insert(0, "tissue", small.obs["tissue"].astype(str).to_numpy())
    df.to_csv(tmp_path / "x.csv", index=False, float_format="%.9g")
    for kw in ({"label_key": "tissue"}, {}):
        got = read(tmp_path / "x.csv", **kw)
        assert list(got.obs_names) == [f"sample_{i}" for i in range(small.n_obs)]
        np.testing.assert_allclose(got.X, small.X, rtol=1e-6)
        assert list(got.obs["tissue"].astype(str)) == list(small.obs["tissue"].astype(str))
    other = df.copy()
    other.columns = ["tissue", *[f"feature.{j}" for j in range(other.shape[1] - 1)]]
    other.to_csv(tmp_path / "f.csv", index=False, float_format="%.9g")
    assert list(read(tmp_path / "f.csv", label_key="tissue").obs_names)[:2] == ["sample_0", "sample_1"]
    with pytest.raises(DataError, match=r"the sample ids repeat \d+ values over \d+ samples \(e\.g\. '.+'\): the "
                                        r"first column looks like classes, not ids; if so, name it with "
                                        r"--label-key \(the samples then get the ids sample_0, sample_1, \.\.\.\)"):
        read(tmp_path / "f.csv")


@pytest.mark.parametrize("form", ["{}.0", "X{}"], ids=["float", "R"])
def test_entrez_ids_written_as_floats_or_by_r_are_read_as_ids(small, tmp_path, form):
    """Entrez ids written 9496.0 (a column that held a missing value) or X9496 (R's make.names) beside a label
    column: read as the ids they are (not other features mapped to no gene); R's X1, X2, ... of unnamed columns
    stay."""
    df = _frame(small)
    df.columns = [form.format(c) for c in df.columns]
    df.insert(0, "tissue", small.obs["tissue"].astype(str).to_numpy())
    df.to_csv(tmp_path / "x.csv", float_format="%.9g")
    _same(small, read(tmp_path / "x.csv", label_key="tissue"))
    generic = _frame(small)
    generic.columns = [f"X{i + 1}" for i in range(generic.shape[1])]
    generic.to_csv(tmp_path / "g.csv", float_format="%.9g")
    assert list(read(tmp_path / "g.csv", orientation="samples_x_genes").var_names) == list(generic.columns)


@pytest.mark.parametrize("sep", ["\t", "\\t", "tab"], ids=["tab", "backslash-t", "word"])
def test_a_tab_separator_as_typed(small, tmp_path, sep):
    """--sep '\\t' as a shell passes it (a backslash and a t) and --sep tab mean a tab."""
    _frame(small).to_csv(tmp_path / "x.txt", sep="\t", float_format="%.9g")
    _same(small, read(tmp_path / "x.txt", sep=sep), label=None)


def test_a_rename_table_giving_two_samples_one_name_is_refused(tmp_path):
    """A table of current and new ids naming two samples alike: its own error (the duplicated-ids error offered
    --duplicates, which would merge two different samples)."""
    from rnagen.data import read_sample_names

    (tmp_path / "names.csv").write_text("old,new\na,P1\nb,P2\nc,P1\n")
    with pytest.raises(DataError, match="samples 'a' and 'c' both get the name 'P1'; give each sample a name"):
        read_sample_names(tmp_path / "names.csv", ["a", "b", "c"])
    (tmp_path / "ok.csv").write_text("old,new\na,P1\nb,P2\nc,P3\n")
    assert read_sample_names(tmp_path / "ok.csv", ["a", "b", "c"]) == ["P1", "P2", "P3"]


def test_a_boolean_label_column_keeps_true_and_false(small, tmp_path):
    """A boolean obs column of an .h5ad as the labels: 'True' / 'False' as a CSV gives them, not '1' / '0'."""
    a = small.copy()
    a.obs["basal"] = np.arange(a.n_obs) % 2 == 0
    a.write_h5ad(tmp_path / "b.h5ad")
    got = read(tmp_path / "b.h5ad", label_key="basal")
    assert got.obs["basal"].astype(str).tolist()[:2] == ["True", "False"]
    frame = _frame(small).assign(basal=a.obs["basal"].to_numpy())
    frame.to_csv(tmp_path / "b.csv", float_format="%.9g")
    assert read(tmp_path / "b.csv", label_key="basal").obs["basal"].astype(str).tolist() == \
        got.obs["basal"].astype(str).tolist()


def test_missing_label_column_and_file(tmp_path):
    (tmp_path / "x.csv").write_text("id,TP53,EGFR,tissue\ns1,1,2,a\ns2,1,2,b\n")
    with pytest.raises(DataError, match="label column 'cancer' not found .*tissue"):
        read(tmp_path / "x.csv", label_key="cancer")
    with pytest.raises(DataError, match="does not exist"):
        read(tmp_path / "nope.csv")


@pytest.mark.parametrize(("header", "value", "at"), [
    ("gene\ts1\ts2\ts3", "abc", 2), ("gene\ts1\ts2\ts3", "NA?", 3), ("gene\ts1\ts2\ts3", "abc", 1),
    ("gene\tliver\tbrain\theart", "-", 2), ("gene\tliver\tbrain\theart", "NA", 2)])
def test_a_one_gene_table_with_a_value_that_is_no_number(tmp_path, header, value, at):
    """A genes x samples table of one gene whose value in one sample is not a number: the sample is not taken
    for a gene annotation (one value cannot be mostly numbers) and left out; the read says what it says of the
    same value in a table of two genes (the value, its line, its sample), or reads a missing-value marker as
    missing, as it does there."""
    row = ["TP53", "1", "2", "3"]
    row[at] = value
    (tmp_path / "one.tsv").write_text(f"{header}\n" + "\t".join(row) + "\n")
    (tmp_path / "two.tsv").write_text(f"{header}\n" + "\t".join(row) + "\nEGFR\t4\t5\t6\n")
    with pytest.raises(DataError) as two:
        read(tmp_path / "two.tsv")
    with pytest.raises(DataError) as one:
        read(tmp_path / "one.tsv")
    assert str(one.value) == str(two.value).replace("two.tsv", "one.tsv")
    sample = header.split("\t")[at]
    assert ("NaN" if value == "NA" else f"non-numeric value {value!r} at line 2, column {sample!r} (gene 'TP53')") \
        in str(one.value)


def test_a_one_gene_table_keeps_its_gene_annotations(tmp_path):
    """A text column of a one-gene table that is not a sample (named unlike the samples, beside them but not
    between two) is the gene's annotation, as in a longer table."""
    (tmp_path / "a.tsv").write_text("gene\tsymbol\ts1\ts2\tnote\n7157\tTP53\t1\t2\ttumor protein p53\n")
    a = read(tmp_path / "a.tsv")
    assert list(a.obs_names) == ["s1", "s2"] and a.X.tolist() == [[1.0], [2.0]]
    assert a.var.to_dict("list") == {"symbol": ["TP53"], "note": ["tumor protein p53"]}


def test_a_gct_file_under_another_name_reads_as_gct(small, tmp_path, capsys):
    """A GCT file is known by its first lines (the version line over a dimension line), not only by its name: a
    link x.gz to a .gct.gz, the file saved as .txt or without an ending read as the .gct.gz does (a table of
    those lines is a malformed one). A table whose first line is not GCT's is read as a table."""
    from rnagen.cli.main import main

    write_gct(small, tmp_path / "a.gct.gz", version="1.3", description="symbol", obs_keys=["tissue"])
    want = read(tmp_path / "a.gct.gz", label_key="tissue")
    os.symlink("a.gct.gz", tmp_path / "x.gz")
    with gzip.open(tmp_path / "a.gct.gz", "rb") as fh:
        text = fh.read()
    (tmp_path / "a.txt").write_bytes(text)
    (tmp_path / "plain").write_bytes(text)
    for name in ("x.gz", "a.txt", "plain"):
        got = read(tmp_path / name, label_key="tissue")
        _same(want, got)
        pd.testing.assert_frame_equal(got.var, want.var)
        assert get_history(got)[0]["format"] == "gct" and get_history(got)[0]["path"] == name
    assert main(["data", "info", str(tmp_path / "x.gz")]) == 0
    assert "samples:   18" in capsys.readouterr().out
    (tmp_path / "t.txt").write_text("#1.2 of the lab's pipeline\ngene\ts1\ts2\nTP53\t1\t2\n")
    assert read(tmp_path / "t.txt").obs_names.tolist() == ["s1", "s2"]


@pytest.mark.parametrize("dims", ["2\t2\t1", "2 rows\t2", "2\t2\t0\t0", ""])
def test_a_gct_file_with_a_malformed_dimension_line_gets_the_gct_error_under_any_name(tmp_path, capsys, dims):
    """A file whose first line is GCT's version line (#1.2, #1.3) is a GCT file whatever its name: a dimension
    line that is malformed (a number short, not numbers, no row-metadata field, empty) gets the GCT reader's own
    error naming the line and what GCT needs there, as a .gct name does, not a table error; one line, exit 2."""
    from rnagen.cli.main import main

    text = f"#1.3\n{dims}\nid\tDescription\ts1\ts2\nTP53\tna\t1\t2\nEGFR\tna\t3\t4\n"
    shown = " ".join(dims.split())
    for name in ("x.gct", "x.txt", "x.tsv", "plain"):
        (tmp_path / name).write_text(text)
        with pytest.raises(DataError, match=rf"^{name}: malformed GCT dimension line '{shown}'; expected 'rows "
                                            r"cols' \(1\.2\) or 'rows cols row-meta col-meta' \(1\.3\)"):
            read(tmp_path / name)
        assert main(["data", "info", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "malformed GCT dimension line" in err, err


def test_bad_gct(tmp_path):
    (tmp_path / "a.gct").write_text("#1.2\n2\t2\nName\tDescription\ts1\ts2\nTP53\tna\t1\t2\n")
    with pytest.raises(DataError, match="GCT says 2 rows but has 1"):
        read(tmp_path / "a.gct")
    (tmp_path / "b.gct").write_text("#2.0\n1\t2\nName\tDescription\ts1\ts2\nTP53\tna\t1\t2\n")
    with pytest.raises(DataError, match="not a GCT file"):
        read(tmp_path / "b.gct")
    (tmp_path / "c.gct").write_text("#1.2\n1\t3\nName\tDescription\ts1\ts2\nTP53\tna\t1\t2\n")
    with pytest.raises(DataError, match="header has 4 fields, expected 5"):
        read(tmp_path / "c.gct")


def test_gct_duplicated_ids(tmp_path):
    (tmp_path / "a.gct").write_text("#1.2\n1\t2\nName\tDescription\ts1\ts1\nTP53\tna\t1\t2\n")
    with pytest.raises(DataError, match="duplicated sample ids"):
        read(tmp_path / "a.gct")
    (tmp_path / "b.gct").write_text("#1.2\n2\t2\nName\tDescription\ts1\ts2\nTP53\tna\t1\t2\nTP53\tna\t1\t2\n")
    with pytest.raises(DataError, match="duplicated gene ids"):
        read(tmp_path / "b.gct")


# ------------------------------------------------------------------------------------------ messy real-world files

def test_spreadsheets_and_archives_are_named(tmp_path):
    """A damaged Excel workbook, an old .xls one or a zip archive under any name: a one-line error saying what it
    is and what to do."""
    import zipfile

    with zipfile.ZipFile(tmp_path / "expr.xlsx", "w") as z:  # the parts every .xlsx holds
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    with zipfile.ZipFile(tmp_path / "expr.csv", "w") as z:  # a zipped table under a .csv name
        z.writestr("expr.csv", "id,TP53\ns1,1\n")
    (tmp_path / "old.xls").write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504))
    for name, match in (("expr.xlsx", "expr.xlsx: not a readable Excel workbook .*; save it again"),
                        ("expr.csv", "a zip archive, not a text table; unzip it"),
                        ("old.xls", "old.xls: not a readable Excel workbook")):
        with pytest.raises(DataError, match=match):
            read(tmp_path / name)
    with pytest.raises(DataError, match="label file labels.xlsx: not a readable Excel workbook"):
        (tmp_path / "e.csv").write_text("id,TP53\ns1,1\ns2,2\n")
        (tmp_path / "labels.xlsx").write_bytes((tmp_path / "expr.xlsx").read_bytes())
        read(tmp_path / "e.csv", labels=tmp_path / "labels.xlsx")


def test_compressed_binary_files_are_decompressed_once(tmp_path):
    """An .h5ad, a GCTX, a parquet file or a workbook compressed whole (GEO's GSExxx_adata.h5ad.gz), under its
    name or another: decompressed into a temporary file and read as the plain one, the read step naming the file
    given and its compression; a prepared .h5ad keeps its own history; a damaged one is named in one line."""
    import bz2
    import gzip
    import lzma

    from rnagen.pp import log2p1

    (tmp_path / "x.csv").write_text("id,TP53,EGFR,label\ns1,1,2,a\ns2,3,4,a\ns3,5,6,b\ns4,7,8,b\n")
    a = log2p1(read(tmp_path / "x.csv", label_key="label"))
    a.write_h5ad(tmp_path / "x.h5ad")
    frame = pd.DataFrame(a.X, index=a.obs_names, columns=a.var_names).assign(label=a.obs["label"].astype(str))
    frame.to_parquet(tmp_path / "x.parquet")
    cols, rows, M = _gctx(tmp_path / "l5.gctx", n=4)
    for plain, packed, opener in (("x.h5ad", "x.h5ad.gz", gzip.compress), ("x.h5ad", "x.h5ad", lzma.compress),
                                  ("x.parquet", "x.parquet.bz2", bz2.compress),
                                  ("l5.gctx", "l5.gctx.gz", gzip.compress)):
        want = read(tmp_path / plain, label_key="cell_id" if plain == "l5.gctx" else "label")
        (tmp_path / "packed").mkdir(exist_ok=True)
        target = tmp_path / "packed" / packed
        target.write_bytes(opener((tmp_path / plain).read_bytes()))
        got = read(target, label_key="cell_id" if plain == "l5.gctx" else "label")
        np.testing.assert_array_equal(got.X, want.X)
        assert list(got.obs_names) == list(want.obs_names) and list(got.var_names) == list(want.var_names)
        steps = get_history(got)
        if plain == "x.h5ad":   # a prepared file: its history as written, the read of x.csv first
            assert [s["step"] for s in steps] == [s["step"] for s in get_history(want)]
            assert steps[0]["path"] == "x.csv" and "compression" not in steps[0]
        else:
            assert steps[-1]["path"] == packed and steps[-1]["compression"] in ("gzip", "bz2")
    (tmp_path / "cut.h5ad.gz").write_bytes(gzip.compress((tmp_path / "x.h5ad").read_bytes())[:2000])
    with pytest.raises(DataError, match=r"cut.h5ad.gz: damaged gzip file \(EOFError\); download or compress it"):
        read(tmp_path / "cut.h5ad.gz")


@pytest.mark.parametrize("magic, what, way", [
    ("28b52ffd", "Zstandard-compressed", "zstd -d FILE"), ("04224d18", "LZ4-compressed", "lz4 -d FILE"),
    ("1f9d90", r"compressed by Unix compress \(.Z\)", "uncompress FILE"),
    ("377abcaf271c", "a 7-Zip archive", "7z x FILE"), ("526172211a0700", "a RAR archive", "unrar x FILE")])
def test_other_compressions_are_named(tmp_path, magic, what, way):
    """A file packed by a tool whose format is not read: named, with the command that unpacks it, whatever its
    name, as data or as a label file."""
    (tmp_path / "x.csv").write_bytes(bytes.fromhex(magic) + bytes(range(256)) * 4)
    (tmp_path / "e.csv").write_text("id,TP53\ns1,1\ns2,2\n")
    for call in (lambda: read(tmp_path / "x.csv"), lambda: read(tmp_path / "e.csv", labels=tmp_path / "x.csv")):
        with pytest.raises(DataError, match=rf"x.csv: {what}, which is not read; .*{re.escape(way)}"):
            call()


def test_no_sample_id_column_with_fractional_first_column(tmp_path):
    (tmp_path / "x.csv").write_text("a,b,c\n1.5,2,3\n2.5,4,5\n")
    b = read(tmp_path / "x.csv", orientation="samples_x_genes")
    assert list(b.obs_names) == ["sample_0", "sample_1"] and list(b.var_names) == ["a", "b", "c"]
    np.testing.assert_array_equal(b.X, [[1.5, 2, 3], [2.5, 4, 5]])
    (tmp_path / "m.csv").write_text("hsa-let-7a-5p,hsa-miR-21-5p\n1,2\n1,3\n")  # miRNA header, no id column
    m = read(tmp_path / "m.csv")
    assert list(m.var_names) == ["hsa-let-7a-5p", "hsa-miR-21-5p"] and m.X.tolist() == [[1, 2], [1, 3]]


def test_numeric_label_column_and_missing_labels(tmp_path):
    (tmp_path / "x.csv").write_text("id,TP53,EGFR,stage\ns1,1,2,1\ns2,3,4,2\ns3,5,6,\ns4,7,8,2\n")
    with pytest.raises(DataError, match=r"1 of 4 samples have no 'stage' label .*first: sample 's3'"):
        read(tmp_path / "x.csv", label_key="stage")
    b = read(tmp_path / "x.csv", label_key="stage", drop_unlabelled=True)
    assert list(b.obs_names) == ["s1", "s2", "s4"] and b.obs["stage"].tolist() == ["1", "2", "2"]
    assert list(b.var_names) == ["TP53", "EGFR"]  # the numeric label column is not a gene
    assert get_history(b)[0]["n_dropped_unlabelled"] == 1


def test_h5ad_with_a_nan_class_is_refused(small, tmp_path):
    a = small.copy()
    a.obs["tissue"] = a.obs["tissue"].astype(str)
    a.obs.iloc[3, a.obs.columns.get_loc("tissue")] = "nan"
    a.write_h5ad(tmp_path / "a.h5ad")
    with pytest.raises(DataError, match="1 of 18 samples have no 'tissue' label"):
        read(tmp_path / "a.h5ad", label_key="tissue")


def test_h5ad_of_an_older_layout_reads_without_warnings(small, tmp_path):
    """A graph kept in uns, as scanpy wrote it before obsp existed (its bundled pbmc68k_reduced.h5ad): anndata
    moves it while reading with a FutureWarning per element, which reached the user's terminal; read quietly."""
    import warnings

    import scipy.sparse as sp

    a = small.copy()
    a.uns["neighbors"] = {"distances": sp.csr_matrix(np.eye(a.n_obs)), "connectivities": sp.csr_matrix(np.eye(a.n_obs))}
    a.write_h5ad(tmp_path / "old.h5ad")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = read(tmp_path / "old.h5ad")
    assert b.shape == a.shape


@pytest.mark.parametrize("how,expected", [("first", [[1, 2], [3, 4]]), ("mean", [[1.5, 2], [3.5, 4]])])
def test_duplicated_gene_columns_first_and_mean(tmp_path, how, expected):
    (tmp_path / "x.csv").write_text("id,TP53,EGFR,TP53\ns1,1,2,2\ns2,3,4,4\n")
    with pytest.raises(DataError, match=r"duplicated gene ids \(1, e.g. 'TP53'\); .*--duplicates first\|mean"):
        read(tmp_path / "x.csv")
    b = read(tmp_path / "x.csv", duplicates=how)
    assert list(b.var_names) == ["TP53", "EGFR"]
    np.testing.assert_array_equal(b.X, expected)


def test_gct_duplicated_samples_with_duplicates_first(tmp_path):
    (tmp_path / "a.gct").write_text("#1.2\n1\t3\nName\tDescription\ts1\ts1\ts2\nTP53\tna\t1\t2\t3\n")
    b = read(tmp_path / "a.gct", duplicates="first")
    assert list(b.obs_names) == ["s1", "s2"] and b.X[:, 0].tolist() == [1, 3]


def test_latin1_after_a_utf8_looking_start(tmp_path):
    # the first 64 KiB are plain ASCII, a Latin-1 byte comes later: still read as Latin-1
    rows = "".join(f"s{i},1,2,a\n" for i in range(8000))
    (tmp_path / "x.csv").write_bytes(("id,TP53,EGFR,tissue\n" + rows + "s_end,1,2,caf\xe9\n").encode("latin-1"))
    b = read(tmp_path / "x.csv", label_key="tissue")
    assert b.n_obs == 8001 and b.obs["tissue"].iloc[-1] == "caf\xe9"


def test_gct_latin1_after_a_utf8_looking_start(tmp_path):
    # the GCT reader retries a UTF-8 start with Latin-1 bytes further on like the table reader
    rows = "".join(f"G{i}\tgene {i}\t1\t2\n" for i in range(6000))
    text = "#1.2\n6001\t2\nName\tDescription\ts1\ts2\n" + rows + "G_end\tcaf\xe9\t3\t4\n"
    (tmp_path / "x.gct").write_bytes(text.encode("latin-1"))
    b = read(tmp_path / "x.gct")
    assert b.shape == (2, 6001) and b.var["description"].iloc[-1] == "caf\xe9"
    assert b.X[:, -1].tolist() == [3.0, 4.0]


def _barcodes(n: int, seed: int = 0, length: int = 16) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


@pytest.mark.parametrize("form", ["velocyto_loom", "h5ad", "csv_genes_x_cells", "dropseq_tsv"])
def test_single_cells_named_by_barcodes_are_refused(tmp_path, capsys, form):
    """Cells read as samples (a velocyto loom, a scanpy .h5ad, a table of cells): refused in one line naming the
    barcodes and the pseudo-bulk way on; bulk samples named with their 6-10 nt Illumina indexes still read."""
    import anndata as ad
    import h5py

    from rnagen.cli.main import main

    n, genes = 60, ["TP53", "EGFR", "MYC", "GAPDH"]
    X = np.random.default_rng(1).poisson(0.3, (n, len(genes))).astype(np.float32)
    bc = _barcodes(n)
    if form == "velocyto_loom":
        path = tmp_path / "cells.loom"
        with h5py.File(path, "w") as f:
            f["matrix"] = X.T
            f["layers/spliced"], f["layers/unspliced"] = X.T, X.T
            f["row_attrs/Gene"] = np.array([g.encode() for g in genes])
            f["col_attrs/CellID"] = np.array([f"pbmc1:{b}x".encode() for b in bc])
    elif form == "h5ad":
        path = tmp_path / "cells.h5ad"
        a = ad.AnnData(X)
        a.obs_names, a.var_names = [f"{b}-1" for b in bc], genes
        a.write_h5ad(path)
    elif form == "csv_genes_x_cells":
        path = tmp_path / "cells.csv"
        pd.DataFrame(X.T, index=genes, columns=[f"{b}-1-0" for b in bc]).to_csv(path)
    else:
        path = tmp_path / "cells.tsv"
        pd.DataFrame(X, index=_barcodes(n, length=12), columns=genes).to_csv(path, sep="\t")
    with pytest.raises(DataError, match=r"its 60 samples are named by cell barcodes .* single cells, not bulk"):
        read(path)
    assert main(["data", "info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "aggregate" in err and "Traceback" not in err
    # bulk samples named with their sequencing indexes, and fewer than 50 barcoded samples: read
    idx = [f"S{i}_{b[:8]}-{b[8:16]}" for i, b in enumerate(bc)]
    pd.DataFrame(X, index=idx, columns=genes).to_csv(tmp_path / "bulk.csv")
    assert read(tmp_path / "bulk.csv").n_obs == n
    pd.DataFrame(X[:20], index=bc[:20], columns=genes).to_csv(tmp_path / "few.csv")
    assert read(tmp_path / "few.csv").n_obs == 20


def test_loom_files(tmp_path, monkeypatch, capsys):
    """A loom file (loompy, velocyto, anndata's write_loom): matrix genes x samples, row_attrs as var (named by
    Gene), col_attrs as obs (named by CellID; a text attribute labels with --label-key, loompy's XML character
    references given back), 2-D attributes left out; --layer reads a layer; its column attributes label another
    file as a --labels file; a missing layer, a file too large for the memory and a damaged file refused in one
    line."""
    import h5py

    import rnagen.data.io as dio
    from rnagen.cli.main import main

    X = np.arange(24, dtype=np.float32).reshape(4, 6) * 3     # 4 genes x 6 samples
    with h5py.File(tmp_path / "bulk.loom", "w") as f:
        f["matrix"] = X
        f["layers/spliced"] = X + 1
        f["row_attrs/Gene"] = np.array([b"TP53", b"EGFR", b"MYC", b"GAPDH"])
        f["row_attrs/Accession"] = np.array([b"ENSG00000141510", b"ENSG00000146648", b"ENSG00000136997",
                                             b"ENSG00000111640"])
        f["col_attrs/CellID"] = np.array([f"S{i}".encode() for i in range(6)])
        f["col_attrs/tissue"] = np.array([b"Caf&#233;", b"Lung"] * 3)
        f["col_attrs/depth"] = np.arange(6.0)
        f["col_attrs/umap"] = np.zeros((6, 2))
        f.attrs["LOOM_SPEC_VERSION"] = "3.0.0"
    a = read(tmp_path / "bulk.loom", label_key="tissue")
    assert list(a.obs_names) == [f"S{i}" for i in range(6)] and list(a.var_names) == ["TP53", "EGFR", "MYC", "GAPDH"]
    np.testing.assert_array_equal(a.X, X.T)
    assert a.obs["tissue"].astype(str).tolist() == ["Café", "Lung"] * 3 and "umap" not in a.obs.columns
    assert a.obs["depth"].tolist() == list(range(6)) and a.var["Accession"].iloc[0] == "ENSG00000141510"
    assert get_history(a)[0]["format"] == "loom"
    np.testing.assert_array_equal(read(tmp_path / "bulk.loom", layer="spliced").X, X.T + 1)
    with pytest.raises(DataError, match=r"bulk.loom has no layer 'counts'; its layers: spliced"):
        read(tmp_path / "bulk.loom", layer="counts")
    assert main(["data", "prepare", str(tmp_path / "bulk.loom"), "--label-key", "tissue", "--genes", "all",
                 "--out", str(tmp_path / "b.h5ad")]) == 0
    assert "2 classes of 'tissue'" in capsys.readouterr().out
    # its column attributes label another file's samples (the matrix unread)
    (tmp_path / "m.csv").write_text("sample,TP53,EGFR\n" + "".join(f"S{i},{i},{2 * i}\n" for i in (5, 0, 3)))
    with pytest.warns(UserWarning, match=r"label file bulk.loom: 3 of its 6 sample ids name no sample of the data "
                                         r"\('S1', 'S2', 'S4'\)"):
        m = read(tmp_path / "m.csv", labels=tmp_path / "bulk.loom", label_key="tissue")
    assert m.obs["tissue"].astype(str).tolist() == ["Lung", "Café", "Lung"]
    monkeypatch.setattr(dio, "_memory_bytes", lambda: 2 * 4 * 4 * 5)   # half of it holds 5 samples
    with pytest.raises(DataError, match=r"bulk.loom: its 6 samples \(cells\?\) x 4 genes need .* more than half this "
                                        "machine's"):
        read(tmp_path / "bulk.loom")
    monkeypatch.undo()
    raw = (tmp_path / "bulk.loom").read_bytes()
    (tmp_path / "cut.loom").write_bytes(raw[: len(raw) // 2])
    assert main(["data", "prepare", str(tmp_path / "cut.loom"), "--genes", "all", "--out",
                 str(tmp_path / "c.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cut.loom" in err and not (tmp_path / "c.h5ad").exists()
    with pytest.raises(DataError, match="cut.loom"):   # as a label file too
        read(tmp_path / "m.csv", labels=tmp_path / "cut.loom", label_key="tissue")


def test_parquet_and_h5ad_content_under_a_text_name(small, tmp_path):
    df = _frame(small)
    df.insert(0, "tissue", small.obs["tissue"].astype(str))
    df.to_parquet(tmp_path / "x.csv")
    _same(small, read(tmp_path / "x.csv", label_key="tissue"))
    small.write_h5ad(tmp_path / "y.txt")
    _same(small, read(tmp_path / "y.txt", label_key="tissue"))


def test_hdf5_files_that_are_no_anndata_are_named(tmp_path):
    """A 10x Genomics matrix is an HDF5 file but no AnnData: said so, with the way on, instead of "not a readable
    .h5ad"."""
    import h5py

    with h5py.File(tmp_path / "filtered_feature_bc_matrix.h5", "w") as f:
        f["matrix/barcodes"] = np.array([b"AAACCTG"])
    with pytest.raises(DataError, match="a 10x Genomics HDF5 matrix of single cells"):
        read(tmp_path / "filtered_feature_bc_matrix.h5")
    for name in ("matrix.mtx", "matrix.mtx.gz"):   # names neither genes nor samples
        import gzip

        body = b"%%MatrixMarket matrix coordinate integer general\n%\n3 2 2\n1 1 5\n3 2 7\n"
        (tmp_path / name).write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
        with pytest.raises(DataError, match=rf"{name}: a Matrix Market sparse matrix, which names neither genes nor"):
            read(tmp_path / name)


def _archs4(path, *, transposed=False, gene_key="symbol"):
    """An ARCHS4 gene-count file's layout (data/expression, meta/genes/*, meta/samples/*), chunked as the real
    ones are: counts[g, s] = 100 * g + s for 6 genes and 50 samples GSM1000..GSM1049."""
    import h5py

    genes = ["TP53", "EGFR", "MYC", "GAPDH", "KRAS", "ACTB"]
    gsm = [f"GSM{1000 + s}" for s in range(50)]
    counts = (100 * np.arange(6)[:, None] + np.arange(50)[None, :]).astype(np.uint32)
    with h5py.File(path, "w") as f:
        f.create_dataset("data/expression", data=counts.T if transposed else counts, chunks=True, compression="gzip")
        f[f"meta/genes/{gene_key}"] = np.array([g.encode() for g in genes])
        f["meta/genes/ensembl_gene"] = np.array([f"ENSG{i:011d}".encode() for i in range(6)])
        f["meta/samples/geo_accession"] = np.array([g.encode() for g in gsm])
        f["meta/samples/series_id"] = np.array([b"GSE1"] * 50)
    return genes, gsm, counts


@pytest.mark.parametrize("transposed, key", [(False, "symbol"), (True, "gene_symbol")])
def test_archs4_reads_the_samples_the_labels_name(tmp_path, capsys, transposed, key):
    """ARCHS4 holds every GEO sample of a species: the label file's GSM accessions choose the samples (in either
    orientation and gene-name key of its releases), a GEO series matrix names them too, samples ARCHS4 lacks are
    left out and listed; without labels, or with none found, it is refused in one line."""
    genes, gsm, counts = _archs4(tmp_path / "human_gene_v2.2.h5", transposed=transposed, gene_key=key)
    (tmp_path / "lab.csv").write_text("sample,group\nGSM1040,b\nGSM1003,a\nGSM1010,a\nGSM9999,b\nGSM1041,b\n")
    a = read(tmp_path / "human_gene_v2.2.h5", labels=tmp_path / "lab.csv", label_key="group")
    assert list(a.obs_names) == ["GSM1003", "GSM1010", "GSM1040", "GSM1041"] and list(a.var_names) == genes
    np.testing.assert_array_equal(a.X, counts[:, [3, 10, 40, 41]].T)
    assert a.obs["group"].tolist() == ["a", "a", "b", "b"]
    assert a.var["ensembl_id"].tolist()[:2] == ["ENSG00000000000", "ENSG00000000001"]
    h = get_history(a)[0]
    assert h["format"] == "archs4" and h["n_missing_labelled"] == 1 and list(h["missing_labelled"]) == ["GSM9999"]
    series = tmp_path / "GSE1_series_matrix.txt"
    series.write_text('!Series_title\t"x"\n!Sample_geo_accession\t"GSM1001"\t"GSM1002"\n'
                      '!Sample_characteristics_ch1\t"tissue: liver"\t"tissue: brain"\n'
                      '!series_matrix_table_begin\n"ID_REF"\t"GSM1001"\t"GSM1002"\n!series_matrix_table_end\n')
    s = read(tmp_path / "human_gene_v2.2.h5", labels=series, label_key="tissue")
    assert list(s.obs_names) == ["GSM1001", "GSM1002"] and s.obs["tissue"].tolist() == ["liver", "brain"]
    from rnagen.cli.main import main

    assert main(["data", "prepare", str(tmp_path / "human_gene_v2.2.h5"), "--labels", str(tmp_path / "lab.csv"),
                 "--label-key", "group", "--genes", "all", "--out", str(tmp_path / "a4.h5ad")]) == 0
    assert "1 labelled sample not in the ARCHS4 file left out (GSM9999)" in capsys.readouterr().out
    assert main(["data", "info", str(tmp_path / "human_gene_v2.2.h5")]) == 0
    assert "ARCHS4 gene counts: 50 GEO samples of 1 series x 6 genes" in capsys.readouterr().out
    with pytest.raises(DataError, match=r"an ARCHS4 file of 50 samples; name the ones to read with --labels"):
        read(tmp_path / "human_gene_v2.2.h5")
    (tmp_path / "none.csv").write_text("sample,group\nGSM1,a\nGSM2,b\n")
    with pytest.raises(DataError, match=r"none of the label file's 2 GSM accessions is in this ARCHS4 file"):
        read(tmp_path / "human_gene_v2.2.h5", labels=tmp_path / "none.csv")


def _gctx(path, *, transposed=False, n=12):
    """A CMap GCTX file as cmapPy's write_gctx lays it out (the matrix stored samples x features at
    /0/DATA/0/matrix, ids and metadata fields under /0/META/COL and /0/META/ROW, -666 for missing metadata): the
    978 landmarks by Entrez id and a LOC gene; returns the sample ids, feature ids and matrix as stored."""
    import h5py

    from rnagen import datasets

    lm = datasets.landmarks()
    rows = [str(e) for e in lm["entrez_id"]] + ["100287399"]
    cols = [f"CPC006_A549_6H:BRD-K{i:05d}:10" for i in range(n)]
    M = np.random.default_rng(0).normal(0.0, 1.0, size=(n, len(rows))).astype(np.float32)
    with h5py.File(path, "w") as f:
        f.attrs["version"] = np.bytes_("GCTX1.0")
        f.create_dataset("0/DATA/0/matrix", data=M.T if transposed else M, chunks=True, compression="gzip")
        f["0/META/COL/id"] = np.array(cols, dtype="S")
        f["0/META/COL/cell_id"] = np.array(["A549", "MCF7"] * (n // 2), dtype="S")
        f["0/META/COL/pert_iname"] = np.array(["-666"] + ["vorinostat"] * (n - 1), dtype="S")
        f["0/META/COL/pert_dose"] = np.array([-666.0] + [10.0] * (n - 1))
        f["0/META/ROW/id"] = np.array(rows, dtype="S")
        f["0/META/ROW/pr_gene_symbol"] = np.array([*lm["symbol"], "POTEB2"], dtype="S")
        f["0/META/ROW/pr_is_lm"] = np.array([1] * len(lm) + [0])
    return cols, rows, M


@pytest.mark.parametrize("transposed", [False, True])
def test_gctx_reads_cmap_files(tmp_path, capsys, monkeypatch, transposed):
    """CMap's GCTX (LINCS L1000): every sample, or those a label table names (in the file's order, the ones the
    file lacks listed); the sample metadata as label columns with -666 missing, the feature metadata kept, the
    Entrez ids exactly; a matrix larger than half the memory refused naming --labels, `data info` summarising it
    from its metadata; a matrix of the wrong shape refused."""
    from rnagen.cli.main import main
    from rnagen.data import io as dio

    path = tmp_path / "level5_n12x979.gctx"
    cols, rows, M = _gctx(path, transposed=transposed)
    a = read(path, label_key="cell_id")
    assert list(a.obs_names) == cols and list(a.var_names) == rows
    np.testing.assert_array_equal(a.X, M)
    assert a.obs["cell_id"].tolist() == ["A549", "MCF7"] * 6
    assert pd.isna(a.obs["pert_iname"].iloc[0]) and a.obs["pert_iname"].iloc[1] == "vorinostat"
    assert np.isnan(a.obs["pert_dose"].iloc[0]) and a.obs["pert_dose"].iloc[1] == 10.0
    assert a.var["pr_gene_symbol"].iloc[-1] == "POTEB2" and a.var["pr_is_lm"].tolist()[-2:] == [1, 0]
    assert get_history(a)[0]["format"] == "gctx"
    assert main(["data", "info", str(path)]) == 0   # its text metadata offered as labels, as a GCT's ("none" before)
    assert "labels (cell_id): 2 classes" in capsys.readouterr().out
    (tmp_path / "sig_info.txt").write_text("sig_id\tcell\n" + f"{cols[7]}\tb\n{cols[2]}\ta\nNOT_IN_FILE\tb\n"
                                           f"{cols[3]}\ta\n{cols[9]}\tb\n")
    s = read(path, labels=tmp_path / "sig_info.txt", label_key="cell")
    assert list(s.obs_names) == [cols[i] for i in (2, 3, 7, 9)] and s.obs["cell"].tolist() == ["a", "a", "b", "b"]
    np.testing.assert_array_equal(s.X, M[[2, 3, 7, 9]])
    assert list(get_history(s)[0]["missing_labelled"]) == ["NOT_IN_FILE"]
    import tarfile

    with tarfile.open(tmp_path / "sig_info.tar.gz", "w:gz") as tf:   # the label table in an archive: the same
        tf.add(tmp_path / "sig_info.txt", "sig_info.txt")
    assert list(read(path, labels=tmp_path / "sig_info.tar.gz", label_key="cell").obs_names) == list(s.obs_names)
    assert main(["data", "prepare", str(path), "--labels", str(tmp_path / "sig_info.txt"), "--label-key", "cell",
                 "--out", str(tmp_path / "p.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "978/978 landmarks" in out and "1 labelled sample not in the GCTX file left out (NOT_IN_FILE)" in out

    monkeypatch.setattr(dio, "_memory_bytes", lambda: 8 * 979 * 4 * 2)   # half of it holds 8 samples
    with pytest.raises(DataError, match=r"the 12 samples x 979 features of this GCTX need 0.0 GiB, more than half "
                                        r"this machine's 0.0 GiB; name fewer samples to read with --labels FILE"):
        read(path)
    assert read(path, labels=tmp_path / "sig_info.txt").n_obs == 4
    assert main(["data", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "CMap GCTX GCTX1.0: 12 samples x 979 features" in out and "sample metadata: cell_id, pert_dose, " \
        "pert_iname" in out and "feature metadata: pr_gene_symbol, pr_is_lm" in out
    monkeypatch.undo()

    import h5py

    with h5py.File(path, "a") as f:
        del f["0/DATA/0/matrix"]
        f["0/DATA/0/matrix"] = np.zeros((5, 5), dtype=np.float32)
    assert main(["data", "prepare", str(path), "--out", str(tmp_path / "q.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the GCTX matrix is 5 x 5 for 12 samples and 979 features" in err
    assert not (tmp_path / "q.h5ad").exists()


def test_unreadable_file_is_named(tmp_path, monkeypatch):
    import os

    (tmp_path / "x.csv").write_text("id,TP53\ns1,1\n")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p).endswith("x.csv") else real_access(p, mode))
    with pytest.raises(DataError, match=r"'.*x.csv' cannot be read \(permission denied\); check its permissions"):
        read(tmp_path / "x.csv")


# ------------------------------------------------------------------------------------------ GEO series matrix

_GEO = """!Series_title\t"A test series"
!Series_geo_accession\t"GSE1"
!Sample_title\t"liver 1"\t"liver 2"\t"brain 1"\t"brain 2"
!Sample_geo_accession\t"GSM1"\t"GSM2"\t"GSM3"\t"GSM4"
!Sample_source_name_ch1\t"liver"\t"liver"\t"brain"\t"brain"
!Sample_characteristics_ch1\t"tissue: liver"\t"tissue: liver"\t"age: 55"\t"tissue: brain"
!Sample_characteristics_ch1\t"age: 50"\t"age: 60"\t"tissue: brain"\t"age: 40"
!Sample_characteristics_ch1\t"title: a"\t"title: b"\t"title: c"\t"title: d"
!Sample_relation\t"r1"\t"r2"\t"r3"\t"r4"
!Sample_characteristics_ch2\t"tissue: reference"\t"tissue: reference"\t"tissue: reference"\t"tissue: reference"
!Sample_relation\t"s1"\t"s2"\t"s3"\t"s4"
!series_matrix_table_begin
"ID_REF"\t"GSM1"\t"GSM2"\t"GSM3"\t"GSM4"
"1007_s_at"\t10.1\t10.3\t8.2\t8.1
"1053_at"\t5.5\t5.2\t7.1\tnull
"117_at"\t6.0\t6.1\t6.3\t6.2
!series_matrix_table_end
"""


def test_geo_series_matrix(tmp_path, capsys):
    """Probes x samples between the table markers, the !Sample_ lines as sample columns (each characteristic
    under its own key whichever line GEO put it on), 'null' a missing value, gzipped or not."""
    import anndata as ad

    from rnagen.cli.main import main

    path = tmp_path / "GSE1_series_matrix.txt.gz"
    path.write_bytes(gzip.compress(_GEO.encode()))
    with pytest.raises(DataError, match="1 NaN and 0 inf values .*sample 'GSM4', gene '1053_at'.*--missing impute"):
        read(path)
    a = read(path, missing="keep", label_key="tissue")
    assert list(a.obs_names) == ["GSM1", "GSM2", "GSM3", "GSM4"] and list(a.var_names) == ["1007_s_at", "1053_at",
                                                                                          "117_at"]
    assert a.obs["tissue"].astype(str).tolist() == ["liver", "liver", "brain", "brain"]
    assert a.obs["age"].tolist() == [50, 60, 55, 40] and a.obs["title"].astype(str).tolist()[0] == "liver 1"
    assert a.obs["title (characteristics)"].astype(str).tolist() == ["a", "b", "c", "d"]
    assert a.obs["tissue (ch2)"].astype(str).tolist() == ["reference"] * 4  # the other channel's, beside ch1's
    assert a.obs["relation_2"].astype(str).tolist()[0] == "s1" and a.obs["relation"].astype(str).tolist()[0] == "r1"
    np.testing.assert_allclose(a.X[:, 0], [10.1, 10.3, 8.2, 8.1], rtol=1e-6)
    assert np.isnan(a.X[3, 1]) and get_history(a)[0]["format"] == "geo"
    assert main(["data", "info", str(path)]) == 0  # one value per sample (titles): not offered as labels
    info = capsys.readouterr().out
    assert "labels (tissue): 2 classes" in info and "labels (title)" not in info
    out = tmp_path / "geo.h5ad"
    assert main(["data", "prepare", str(path), "--label-key", "tissue", "--genes", "all", "--id-type", "other",
                 "--missing", "impute", "--max-missing", "0.5", "--out", str(out)]) == 0
    assert "1 missing value filled in from the 10 nearest samples" in capsys.readouterr().out
    b = ad.read_h5ad(out)
    assert b.shape == (4, 3) and not np.isnan(b.X).any()


@pytest.mark.parametrize("edit,match", [
    (lambda t: t.replace("!series_matrix_table_begin\n", ""), "without its '!series_matrix_table_begin' line"),
    (lambda t: t.replace("!series_matrix_table_end\n", ""), "no '!series_matrix_table_end' line"),
    (lambda t: t.replace("\t6.1\t", "\tabc\t"),
     "non-numeric value 'abc' at line 16, column 'GSM2' \\(gene '117_at'\\)"),
    (lambda t: t.replace('"GSM2"\t"GSM3"\t"GSM4"\n!Sample_source', '"GSM3"\t"GSM2"\t"GSM4"\n!Sample_source'),
     "!Sample_geo_accession line does not list the table's sample columns in order"),
    (lambda t: t.split('"ID_REF"')[0] + '"ID_REF"\t"GSM1"\n!series_matrix_table_end\n',
     "holds no expression values .*fetch geo --accession GSE1 --counts raw and give this file as --labels"),
])
def test_bad_geo_series_matrix(tmp_path, edit, match):
    path = tmp_path / "GSE1_series_matrix.txt"
    path.write_text(edit(_GEO))
    with pytest.raises(DataError, match=match):
        read(path, missing="keep")


def test_labels_from_a_geo_series_matrix(tmp_path):
    """An RNA-seq series' values live outside its series matrix (NCBI's counts by GSM, a submitter's table by
    sample title): the matrix gives the labels, matched by accession or title, its table left unread."""
    from rnagen.data import read_geo_samples

    series = tmp_path / "GSE1_series_matrix.txt.gz"
    series.write_bytes(gzip.compress((_GEO.split('"ID_REF"')[0] + "!series_matrix_table_end\n").encode()))
    obs = read_geo_samples(series)
    assert list(obs.index) == ["GSM1", "GSM2", "GSM3", "GSM4"] and obs["age"].tolist() == [50, 60, 55, 40]
    rng = np.random.default_rng(0)
    for ids in (["GSM3", "GSM1", "GSM4", "GSM2"], ["brain 1", "liver 1", "brain 2", "liver 2"]):
        counts = pd.DataFrame(rng.poisson(50, size=(30, 4)), index=[f"g{i}" for i in range(30)], columns=ids)
        counts.index.name = "GeneID"
        path = tmp_path / "counts.tsv"
        counts.to_csv(path, sep="\t")
        a = read(path, labels=series, label_key="tissue")
        assert a.obs["tissue"].astype(str).tolist() == ["brain", "liver", "brain", "liver"]
        assert list(a.obs_names) == ids and a.shape == (4, 30)
    for kw, match in (({}, "is a GEO series file and needs --label-key: pass one of its sample columns "
                           "\\('source_name_ch1', 'tissue'\\)"),
                      ({"label_key": "disease"}, "has no sample column 'disease'")):
        with pytest.raises(DataError, match=match):
            read(path, labels=series, **kw)
    counts.columns = ["GSM1", "GSM2", "GSM3", "GSM9"]
    counts.to_csv(path, sep="\t")
    with pytest.raises(DataError, match="1 of 4 samples \\(e.g. 'GSM9'\\) are neither GSM accessions nor sample"):
        read(path, labels=series, label_key="tissue")
    (tmp_path / "x.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(DataError, match="x.tsv is not a GEO series matrix"):
        read_geo_samples(tmp_path / "x.tsv")


# ------------------------------------------------------------------------------------------ featureCounts

def _featurecounts(files: list[str], counts: np.ndarray) -> str:
    lines = ['# Program:featureCounts v2.0.6; Command:"featureCounts" "-a" "gencode.v44.gtf" "-o" "counts.txt" '
             + " ".join(f'"{f}"' for f in files),
             "Geneid\tChr\tStart\tEnd\tStrand\tLength\t" + "\t".join(files)]
    genes = ["ENSG00000092010.15", "ENSG00000122873.12", "ENSG00000124664.11"]
    for g, row, ln in zip(genes, counts, (1520, 873, 2210)):
        lines.append(f"{g}\tchr14;chr14\t24136;24140\t24141;24150\t+;+\t{ln}\t" + "\t".join(map(str, row)))
    return "\n".join(lines) + "\n"


def test_featurecounts_table(tmp_path):
    """featureCounts' output, the usual raw counts of an RNA-seq pipeline: the comment line and the five
    annotation columns are not samples; samples are named by their BAM files less path, extension and the
    aligner's suffix."""
    counts = np.array([[10, 0, 7, 3], [200, 150, 90, 310], [5, 6, 7, 8]])
    files = [f"/data/star/{s}_Aligned.sortedByCoord.out.bam" for s in ("t1", "t2", "n1", "n2")]
    path = tmp_path / "counts.txt"
    path.write_text(_featurecounts(files, counts))
    a = read(path)
    assert list(a.obs_names) == ["t1", "t2", "n1", "n2"] and a.obs["file"].tolist() == files
    assert list(a.var_names) == ["ENSG00000092010.15", "ENSG00000122873.12", "ENSG00000124664.11"]
    assert a.var["length"].tolist() == [1520, 873, 2210] and get_history(a)[0]["format"] == "featurecounts"
    from rnagen.pp import normalize_depth

    rate = counts.T / (np.array([1520, 873, 2210]) / 1e3)
    np.testing.assert_allclose(normalize_depth(a.copy(), "tpm").X, rate / rate.sum(1, keepdims=True) * 1e6,
                               rtol=1e-5)  # the table's lengths give TPM
    np.testing.assert_array_equal(a.X, counts.T)
    labels = tmp_path / "labels.tsv"
    labels.write_text("sample\tgroup\nt1\ttumour\nt2\ttumour\nn1\tnormal\nn2\tnormal\n")
    assert read(path, labels=labels).obs["group"].astype(str).tolist() == ["tumour", "tumour", "normal", "normal"]
    # names that the shortening would make equal stay the paths; plain names lose the extension only
    path.write_text(_featurecounts(["run1/s.bam", "run2/s.bam", "x.bam", "y.bam"], counts))
    assert list(read(path).obs_names) == ["run1/s.bam", "run2/s.bam", "x.bam", "y.bam"]
    path.write_text(_featurecounts(["a.bam", "b.BAM", "c.sam", "d"], counts))
    assert list(read(path).obs_names) == ["a", "b", "c", "d"]
    (tmp_path / "counts.txt.summary").write_text("Status\t" + "\t".join(files) + "\nAssigned\t1\t2\t3\t4\n"
                                                 "Unassigned_Unmapped\t0\t0\t1\t0\n")
    with pytest.raises(DataError, match="is featureCounts' summary .*without .summary"):
        read(tmp_path / "counts.txt.summary")
    path.write_text(_featurecounts(files, counts).replace("\t310\n", "\tx\n"))
    with pytest.raises(DataError, match="non-numeric value 'x' at line 4"):
        read(path)


# ------------------------------------------------------------------------------------------ feature -> gene maps

def test_read_feature_map(tmp_path):
    from rnagen.data import read_feature_map

    (tmp_path / "GPL.annot").write_text(
        "#ID = probe\n^PLATFORM = GPL1\n!platform_table_begin\nID\tGene symbol\tGene title\n"
        "p1\tTP53\ttumor protein p53, a title with commas\np2\tEGFR\t\np3\tDDR1 /// MIR4640\t\np4\t---\t\np5\t\t\n"
        "p1\tMYC\tlisted twice under two genes: no single gene (the first kept before)\np2\tEGFR\ttwice, one gene\n")
    m = read_feature_map(tmp_path / "GPL.annot")
    assert m == {"p1": "", "p2": "EGFR", "p3": "", "p4": "", "p5": ""}
    # GEO's .annot layout: the symbol in the third column, after the gene title; a map without a header
    (tmp_path / "GPL96.annot").write_text("^Annotation\n!platform_table_begin\nID\tGene title\tGene symbol\tGene ID\n"
                                          "1007_s_at\tdiscoidin domain receptor\tDDR1\t780\n117_at\theat\tHSPA6\t3310\n"
                                          "!platform_table_end\n")
    assert read_feature_map(tmp_path / "GPL96.annot") == {"1007_s_at": "DDR1", "117_at": "HSPA6"}
    # Affymetrix Gene ST arrays' GEO table (GPL6244): no symbol column, each transcript's symbol in
    # gene_assignment; a probe set of two genes or none maps to nothing (GB_LIST, the second column, is no gene)
    (tmp_path / "GPL6244_family.soft").write_text(
        "^PLATFORM = GPL6244\n!platform_table_begin\nID\tGB_LIST\tSPOT_ID\tgene_assignment\tmrna_assignment\n"
        "7896736\tNM_001005484\t\tNM_001005484 // OR4F5 // olfactory receptor // 1p36.33 // 79501 /// "
        "ENST00000335137 // OR4F5 // olfactory receptor // 1p36.33 // 79501\tNM_001005484 // RefSeq\n"
        "7896740\tNM_1,NM_2\t\tNM_1 // OR4F17 // t // 19p13.3 // 81099 /// NM_2 // OR4F29 // t // 1p36 // 729759\tx\n"
        "7896742\t\t\t---\t---\n!platform_table_end\n")
    assert read_feature_map(tmp_path / "GPL6244_family.soft") == {"7896736": "OR4F5", "7896740": "", "7896742": ""}
    (tmp_path / "map.csv").write_text('"p1","TP53"\np2,EGFR\n')
    assert read_feature_map(tmp_path / "map.csv") == {"p1": "TP53", "p2": "EGFR"}
    (tmp_path / "one.txt").write_text("p1\n")
    with pytest.raises(DataError, match="a line with one field .*give two columns"):
        read_feature_map(tmp_path / "one.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(DataError, match="no feature id and gene id lines"):
        read_feature_map(tmp_path / "empty.txt")
    with pytest.raises(DataError, match="feature map .* does not exist"):
        read_feature_map(tmp_path / "nope.txt")


def _probes():
    import anndata as ad

    X = np.array([[1.0, 3.0, 5.0, 7.0], [2.0, np.nan, 6.0, 8.0]], dtype=np.float32)
    return ad.AnnData(X=X, obs=pd.DataFrame(index=["s1", "s2"]), var=pd.DataFrame(index=["p1", "p2", "p3", "p9"]))


def test_map_features():
    from rnagen.data import map_features

    m = {"p1": "TP53", "p2": "TP53", "p3": "", "p4": "MYC"}  # p9 unlisted, p3 no single gene
    with pytest.raises(DataError, match="1 features map to a gene another feature maps to, e.g. 'TP53'.*"
                                       "--duplicates mean\\|sum\\|first"):
        map_features(_probes(), m)
    a = map_features(_probes(), m, duplicates="mean")
    assert list(a.var_names) == ["TP53"] and a.var["feature_id"].tolist() == ["p1"]
    np.testing.assert_array_equal(a.X[:, 0], [2.0, 2.0])  # s2: p2 missing, the mean of what is there
    h = get_history(a)[-1]
    assert (h["step"], h["n_features"], h["n_unlisted"], h["n_no_single_gene"], h["n_merged"], h["n_genes"]) == (
        "map_features", 4, 1, 1, 1, 1)
    f = map_features(_probes(), m, duplicates="first")
    np.testing.assert_array_equal(f.X[:, 0], [1.0, 2.0])
    with pytest.raises(DataError, match="none of the data's 4 feature ids is listed"):
        map_features(_probes(), {"x": "TP53"})
    with pytest.raises(DataError, match="the 2 listed features map to no single gene"):
        map_features(_probes(), {"p1": "", "p2": ""})


def test_duplicated_ids_averaged_leave_missing_values_out(tmp_path):
    (tmp_path / "d.csv").write_text("id,TP53,EGFR\ns1,1,\ns1,3,4\ns2,5,6\n")
    a = read(tmp_path / "d.csv", duplicates="mean", missing="keep")
    np.testing.assert_array_equal(a.X, [[2.0, 4.0], [5.0, 6.0]])
    (tmp_path / "e.csv").write_text("id,TP53,EGFR\ns1,1,\ns1,3,\ns2,5,6\n")
    assert np.isnan(read(tmp_path / "e.csv", duplicates="mean", missing="keep").X[0, 1])


def test_cli_prepare_geo_with_feature_map(tmp_path, capsys):
    import anndata as ad

    from rnagen.cli.main import main

    geo = tmp_path / "GSE1_series_matrix.txt"
    geo.write_text(_GEO)
    fmap = tmp_path / "GPL1.annot"
    fmap.write_text("ID\tGene symbol\n1007_s_at\tDDR1 /// MIR4640\n1053_at\tRFC2\n117_at\tRFC2\n")
    base = ["data", "prepare", str(geo), "--feature-map", str(fmap), "--label-key", "tissue", "--genes", "all",
            "--missing", "impute", "--max-missing", "0.5"]
    assert main([*base, "--out", str(tmp_path / "a.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--duplicates mean|sum|first" in err and not (tmp_path / "a.h5ad").exists()
    assert main([*base, "--duplicates", "mean", "--out", str(tmp_path / "b.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "1 feature without a single gene in the feature map dropped" in out
    assert "1 feature averaged into another of the same gene (--duplicates mean)" in out
    b = ad.read_h5ad(tmp_path / "b.h5ad")
    assert list(b.var_names) == ["RFC2"] and not np.isnan(b.X).any()
    np.testing.assert_allclose(b.X[:, 0], [5.75, 5.65, 6.7, 6.2], rtol=1e-6)  # GSM4: 1053_at null, 117_at alone


def test_cli_prepare_gene_st_array_probes(tmp_path, capsys):
    """A GEO series matrix of an Affymetrix Gene ST array: numeric probe ids, read as whole numbers that name
    no gene; landmarks asked of them are refused naming probes and --feature-map, and the platform's GEO table
    (its gene_assignment column) maps them to the landmarks."""
    import anndata as ad

    from rnagen import datasets
    from rnagen.cli.main import main

    lm = datasets.landmarks()
    probes = [str(7892501 + i) for i in range(len(lm))]
    X = np.random.default_rng(0).normal(8.0, 1.0, size=(len(lm), 4)).round(3)
    gsm = ["GSM1", "GSM2", "GSM3", "GSM4"]
    (tmp_path / "GSE9_series_matrix.txt").write_text(
        "!Series_platform_id\t\"GPL6244\"\n!Sample_geo_accession\t" + "\t".join(f'"{g}"' for g in gsm) + "\n"
        "!Sample_characteristics_ch1\t\"tissue: a\"\t\"tissue: a\"\t\"tissue: b\"\t\"tissue: b\"\n"
        "!series_matrix_table_begin\n\"ID_REF\"\t" + "\t".join(f'"{g}"' for g in gsm) + "\n"
        + "".join(f"{p}\t" + "\t".join(map(str, row)) + "\n" for p, row in zip(probes, X))
        + "!series_matrix_table_end\n")
    (tmp_path / "GPL6244.txt").write_text("ID\tGB_LIST\tgene_assignment\n" + "".join(
        f"{p}\tNM_{i}\tNM_{i} // {s} // title // 1p36 // {e} /// ENST{i} // {s} // title // 1p36 // {e}\n"
        for i, (p, s, e) in enumerate(zip(probes, lm["symbol"], lm["entrez_id"]))))
    base = ["data", "prepare", str(tmp_path / "GSE9_series_matrix.txt"), "--label-key", "tissue"]
    assert main([*base, "--out", str(tmp_path / "a.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "probe numbers of the GEO platform (ID_REF, e.g. '7892501'), not genes: map " \
        "them to genes with --feature-map" in err and not (tmp_path / "a.h5ad").exists()
    assert main([*base, "--feature-map", str(tmp_path / "GPL6244.txt"), "--out", str(tmp_path / "a.h5ad")]) == 0
    a = ad.read_h5ad(tmp_path / "a.h5ad")
    assert list(a.var_names) == list(lm["symbol"]) and a.var["is_landmark"].all()
    np.testing.assert_allclose(a.X, X.T.astype(np.float32))


def test_tcga_barcodes_matched_to_labels_given_at_a_shorter_level(tmp_path):
    """Expression columns named by aliquot barcodes, labels by participant (a clinical table) or by sample (a
    sample sheet): each sample takes the row of the longest barcode it extends; a participant's label on two of
    its samples (tumour and normal) is refused."""
    from rnagen.data import read_labels

    obs = ["TCGA-A1-A0SB-01A-11R-A144-07", "TCGA-A2-A04P-01A-31R-A034-07", "TCGA-AN-A0FL-01B-11R-A034-07"]
    (tmp_path / "clin.csv").write_text("bcr_patient_barcode,subtype\nTCGA-A2-A04P,Basal\ntcga-a1-a0sb,LumA\n"
                                       "TCGA-AN-A0FL,Her2\nTCGA-ZZ-0000,LumB\n")
    name, lab = read_labels(tmp_path / "clin.csv", obs)
    assert name == "subtype" and list(lab) == ["LumA", "Basal", "Her2"]
    # no header line: the first row is a barcode, not column names
    (tmp_path / "clin_nohead.tsv").write_text("TCGA-A2-A04P\tBasal\nTCGA-A1-A0SB\tLumA\nTCGA-AN-A0FL\tHer2\n")
    assert list(read_labels(tmp_path / "clin_nohead.tsv", obs)[1]) == ["LumA", "Basal", "Her2"]
    # a tumour and its normal tissue: per-sample rows (type code, with or without the vial letter) label each
    pair = ["TCGA-A1-A0SB-01A-11R-A144-07", "TCGA-A1-A0SB-11A-13R-A144-07", "TCGA-A2-A04P-01A-31R-A034-07"]
    (tmp_path / "samples.csv").write_text("sample,type\nTCGA-A1-A0SB-01,tumour\nTCGA-A1-A0SB-11A,normal\n"
                                          "TCGA-A2-A04P-01,tumour\n")
    assert list(read_labels(tmp_path / "samples.csv", pair)[1]) == ["tumour", "normal", "tumour"]
    with pytest.raises(DataError, match=r"clin.csv labels participants, and 1 of them have several samples in the "
                                        r"data \(TCGA-A1-A0SB: TCGA-A1-A0SB-01A, TCGA-A1-A0SB-11A;.*give labels per "
                                        "sample"):
        read_labels(tmp_path / "clin.csv", pair)
    # a sample of no row: named as before
    with pytest.raises(DataError, match="no row for 1 of 2 samples .*TCGA-B6-A0RE"):
        read_labels(tmp_path / "clin.csv", [obs[0], "TCGA-B6-A0RE-01A-11R-A034-07"])


def test_labels_for_sample_names_r_rewrote(tmp_path):
    """A matrix saved from R names its samples as make.names left them (TCGA.A1.A0SB.01A..., X1234, GSM1.a)
    while the label file keeps the ids as they were: matched, TCGA barcodes also at a shorter level; a rewritten
    name that two label rows share is matched to neither."""
    from rnagen.data import read_labels

    (tmp_path / "clin.tsv").write_text("id\tsubtype\nTCGA-A1-A0SB\tLumA\nTCGA-A1-A0SC\tBasal\n")
    names = ["TCGA.A1.A0SC.01A.11R.A144.07", "TCGA.A1.A0SB.01A.11R.A144.07"]
    assert list(read_labels(tmp_path / "clin.tsv", names)[1]) == ["Basal", "LumA"]
    (tmp_path / "l.tsv").write_text("id\tgroup\n1234\tA\nGSM1-a\tB\ns 1\tC\n")
    assert list(read_labels(tmp_path / "l.tsv", ["X1234", "GSM1.a", "s.1"])[1]) == ["A", "B", "C"]
    (tmp_path / "two.tsv").write_text("id\tgroup\nGSM1-a\tA\nGSM1 a\tB\n")
    with pytest.raises(DataError, match="no row for 1 of 1 samples"):
        read_labels(tmp_path / "two.tsv", ["GSM1.a"])
    # the ids in another column: SRA's run table (Run first, GEO_Accession later) for samples named by GSM, a
    # clinical table whose first column is the patient (repeated) and a later one the sample
    (tmp_path / "SraRunTable.txt").write_text(
        "Run,Assay Type,BioSample,GEO_Accession (exp),tissue\nSRR1,RNA-Seq,SAMN1,GSM11,liver\n"
        "SRR2,RNA-Seq,SAMN2,GSM12,lung\nSRR3,RNA-Seq,SAMN3,GSM13,liver\n")
    assert list(read_labels(tmp_path / "SraRunTable.txt", ["GSM12", "GSM11"], label_key="tissue")[1]) == [
        "lung", "liver"]
    assert list(read_labels(tmp_path / "SraRunTable.txt", ["SRR3"], label_key="tissue")[1]) == ["liver"]
    (tmp_path / "clin.csv").write_text("patient,sample,stage\nP1,P1_t,II\nP1,P1_n,I\nP2,P2_t,III\n")
    assert list(read_labels(tmp_path / "clin.csv", ["P2_t", "P1_n"], label_key="stage")[1]) == ["III", "I"]
    with pytest.raises(DataError, match="sample id 'P1' appears twice with different 'stage' labels \\('II', 'I'\\)"):
        read_labels(tmp_path / "clin.csv", ["P9_t"], label_key="stage")
    # a row repeated with the same label (a merged export): read once
    (tmp_path / "rep.csv").write_text("sample,group\ns1,A\ns2,B\ns1,A\n")
    assert list(read_labels(tmp_path / "rep.csv", ["s2", "s1"])[1]) == ["B", "A"]
    # samples named by their files, or in another case: matched when unambiguous
    (tmp_path / "s.tsv").write_text("id\tgroup\nS1\tA\nS2\tB\nctl_3\tC\n")
    assert list(read_labels(tmp_path / "s.tsv", ["/data/bam/S2.bam", "s1", "CTL_3.counts.txt"])[1]) == ["B", "A", "C"]
    with pytest.raises(DataError, match="no row for 2 of 2 samples"):   # two samples of one loose name
        read_labels(tmp_path / "s.tsv", ["s1.bam", "S1.counts"])
    # a label file naming the samples' FASTQ files (bcl2fastq's S1_S3_L001_R1_001.fastq.gz, a pair's S2_1.fq.gz):
    # the read and lane marks go too, the two files of a pair one sample; a plain name keeps its _1
    (tmp_path / "fq.csv").write_text("file,group\nS1_S3_L001_R1_001.fastq.gz,A\nS1_S3_L001_R2_001.fastq.gz,A\n"
                                     "S2_1.fq.gz,B\nS2_2.fq.gz,B\nctl_1,C\n")
    assert list(read_labels(tmp_path / "fq.csv", ["S2", "S1", "ctl_1"])[1]) == ["B", "A", "C"]
    with pytest.raises(DataError, match="no row for 1 of 1 samples"):
        read_labels(tmp_path / "fq.csv", ["ctl"])
    (tmp_path / "fq2.csv").write_text("file,group\nS1_R1.fastq.gz,A\nS1_R2.fastq.gz,B\n")   # a pair of two labels
    with pytest.raises(DataError, match="no row for 1 of 1 samples"):
        read_labels(tmp_path / "fq2.csv", ["S1"])
    # single-end files whose sample names end in _1 / _2 keep them
    (tmp_path / "se.csv").write_text("file,group\nctl_1.fastq.gz,A\nctl_2.fastq.gz,B\n")
    assert list(read_labels(tmp_path / "se.csv", ["ctl_2", "ctl_1"])[1]) == ["B", "A"]


def test_gdc_sample_sheet_labels_a_folder_of_gdc_files(tmp_path, capsys):
    """gdc-client puts each file in a folder named by its file id; the portal's sample sheet names each file, its
    project, case, sample id and type: it labels the folder's samples through --label-key."""
    import anndata as ad

    from rnagen.cli.main import main

    genes = ["ENSG00000092010.15", "ENSG00000122873.12", "ENSG00000124664.11"]
    rows = ["File ID\tFile Name\tData Category\tData Type\tProject ID\tCase ID\tSample ID\tSample Type"]
    samples = [("f1d1", "9a7c", "TCGA-BRCA", "TCGA-A1-A0SB-01A", "Primary Tumor"),
               ("f2d2", "3b4e", "TCGA-BRCA", "TCGA-A1-A0SB-11A", "Solid Tissue Normal"),
               ("f3d3", "77e0", "TCGA-LUAD", "TCGA-05-4244-01A", "Primary Tumor")]
    for i, (fid, uuid, proj, sid, stype) in enumerate(samples):
        fname = f"{uuid}.rna_seq.augmented_star_gene_counts.tsv"
        lines = ["# gene-model: GENCODE v36",
                 "gene_id\tgene_name\tgene_type\tunstranded\tstranded_first\tstranded_second\ttpm_unstranded",
                 "N_unmapped\t\t\t100\t100\t100\t"]
        lines += [f"{g}\tG{j}\tprotein_coding\t{10 * (i + 1) + j}\t1\t1\t1.0" for j, g in enumerate(genes)]
        (tmp_path / "gdc" / fid).mkdir(parents=True)
        (tmp_path / "gdc" / fid / fname).write_text("\n".join(lines) + "\n")
        rows.append(f"{fid}\t{fname}\tTranscriptome Profiling\tGene Expression Quantification\t{proj}\t{sid[:12]}\t"
                    f"{sid}\t{stype}")
    rows.append("f9d9\t5555.rna_seq.augmented_star_gene_counts.tsv\tTranscriptome Profiling\tGene Expression "
                "Quantification\tTCGA-LUAD\tTCGA-05-4249\tTCGA-05-4249-01A\tPrimary Tumor")   # not downloaded
    (tmp_path / "gdc_sample_sheet.tsv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "d.h5ad"
    assert main(["data", "prepare", str(tmp_path / "gdc"), "--labels", str(tmp_path / "gdc_sample_sheet.tsv"),
                 "--label-key", "Sample Type", "--min-samples", "2", "--genes", "all", "--out", str(out)]) == 0
    a = ad.read_h5ad(out)   # the one normal sample's class dropped
    assert list(a.obs_names) == ["9a7c", "77e0"] and set(a.obs["Sample Type"]) == {"Primary Tumor"}
    a = read(tmp_path / "gdc", labels=tmp_path / "gdc_sample_sheet.tsv", label_key="Sample Type")
    assert a.obs["Sample Type"].astype(str).tolist() == ["Primary Tumor", "Solid Tissue Normal", "Primary Tumor"]
    a = read(tmp_path / "gdc", labels=tmp_path / "gdc_sample_sheet.tsv", label_key="Project ID")
    assert a.obs["Project ID"].astype(str).tolist() == ["TCGA-BRCA", "TCGA-BRCA", "TCGA-LUAD"]
    capsys.readouterr()
    assert main(["data", "prepare", str(tmp_path / "gdc"), "--labels", str(tmp_path / "gdc_sample_sheet.tsv"),
                 "--genes", "all", "--out", str(tmp_path / "e.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a GDC sample sheet and needs --label-key: pass one of its columns " \
        "('Project ID', 'Case ID', 'Sample ID', 'Sample Type')" in err and not (tmp_path / "e.h5ad").exists()
    # a matrix whose columns are aliquot barcodes: matched to the sheet's sample ids
    from rnagen.data import read_labels

    aliquots = ["TCGA-05-4244-01A-01R-1107-07", "TCGA-A1-A0SB-11A-13R-A144-07"]
    assert list(read_labels(tmp_path / "gdc_sample_sheet.tsv", aliquots, label_key="Sample Type")[1]) == [
        "Primary Tumor", "Solid Tissue Normal"]
    # a cart with a somatic VCF too: its row names the tumour and its normal ("A, B"); each sample's own file is
    # its single-sample row (the shared sample id found neither before)
    vcf = "\t".join(["f8d8", "TCGA_BRCA.wxs.VarScan2.somatic_annotation.vcf.gz", "Simple Nucleotide Variation",
                     "Annotated Somatic Mutation", "TCGA-BRCA", "TCGA-A1-A0SB, TCGA-A1-A0SB",
                     "TCGA-A1-A0SB-10A, TCGA-A1-A0SB-01A", "Blood Derived Normal, Primary Tumor"])
    (tmp_path / "cart_sheet.tsv").write_text("\n".join([*rows, vcf]) + "\n")
    b = read(tmp_path / "gdc", sample_names=tmp_path / "cart_sheet.tsv", labels=tmp_path / "cart_sheet.tsv",
             label_key="Sample Type")
    assert list(b.obs_names) == ["TCGA-A1-A0SB-01A", "TCGA-A1-A0SB-11A", "TCGA-05-4244-01A"]
    assert b.obs["Sample Type"].astype(str).tolist() == ["Primary Tumor", "Solid Tissue Normal", "Primary Tumor"]
    (tmp_path / "other_sheet.tsv").write_text("\n".join(rows[:2] + rows[3:]) + "\n")
    with pytest.raises(DataError, match="GDC sample sheet other_sheet.tsv: no file, file id or sample id of it names "
                                        "1 of 3 samples .*'3b4e'"):
        read(tmp_path / "gdc", labels=tmp_path / "other_sheet.tsv", label_key="Sample Type")


def test_samples_renamed_by_a_gdc_sample_sheet_find_clinical_labels(tmp_path, capsys):
    """--sample-names: a GDC folder's samples named by the sheet's TCGA sample ids, which then find their labels
    in a clinical table given per participant (also from a folder of links to some of the file folders); a plain
    table of current and new ids; refusals in one line."""
    import anndata as ad

    from rnagen.cli.main import main
    from rnagen.data import read_sample_names

    test_gdc_sample_sheet_labels_a_folder_of_gdc_files(tmp_path, capsys)  # writes gdc/ and gdc_sample_sheet.tsv
    sheet = tmp_path / "gdc_sample_sheet.tsv"
    (tmp_path / "clinical.tsv").write_text("bcr_patient_barcode\tsubtype\nTCGA-05-4244\tLumA\nTCGA-A1-A0SB\tBasal\n"
                                           "TCGA-XX-0000\tHer2\n")
    a = read(tmp_path / "gdc", sample_names=sheet)
    assert list(a.obs_names) == ["TCGA-A1-A0SB-01A", "TCGA-A1-A0SB-11A", "TCGA-05-4244-01A"]
    assert [f.split("/")[-1][:4] for f in a.obs["file"]] == ["9a7c", "3b4e", "77e0"]
    assert get_history(a)[0]["sample_names"] == "gdc_sample_sheet.tsv"
    # a participant's label on its tumour and its normal: refused; with the normal left out, labelled
    with pytest.raises(DataError, match="labels participants, and 1 of them have several samples"):
        read(tmp_path / "gdc", sample_names=sheet, labels=tmp_path / "clinical.tsv", label_key="subtype")
    tumours = tmp_path / "tumours.tsv"
    tumours.write_text("old\tnew\n9a7c\tTCGA-A1-A0SB-01A\n3b4e\tTCGA-A1-A0SB-11A\n77e0\tTCGA-05-4244-01A\n")
    assert read_sample_names(tumours, ["77e0", "9a7c"]) == ["TCGA-05-4244-01A", "TCGA-A1-A0SB-01A"]
    (tmp_path / "one").mkdir()
    for fid in ("f1d1", "f3d3"):
        (tmp_path / "one" / fid).symlink_to(tmp_path / "gdc" / fid)
    b = read(tmp_path / "one", sample_names=sheet, labels=tmp_path / "clinical.tsv", label_key="subtype")
    assert list(b.obs_names) == ["TCGA-A1-A0SB-01A", "TCGA-05-4244-01A"]
    assert b.obs["subtype"].astype(str).tolist() == ["Basal", "LumA"]
    (tmp_path / "clinical2.tsv").write_text("bcr_patient_barcode\tstage\nTCGA-05-4244\tII\nTCGA-A1-A0SB\tII\n")
    out = tmp_path / "c.h5ad"
    assert main(["data", "prepare", str(tmp_path / "one"), "--sample-names", str(sheet), "--labels",
                 str(tmp_path / "clinical2.tsv"), "--label-key", "stage", "--genes", "all", "--out", str(out)]) == 0
    c = ad.read_h5ad(out)
    assert list(c.obs_names) == ["TCGA-A1-A0SB-01A", "TCGA-05-4244-01A"] and set(c.obs["stage"]) == {"II"}
    # refusals: a sample the file does not name, two names for one sample, a one-column file; nothing written
    for body, match in (("old\tnew\n9a7c\tA\n", "names 2 of 3 samples .*'3b4e'"),
                        ("old\tnew\n9a7c\tA\n9a7c\tB\n3b4e\tC\n77e0\tD\n", "'9a7c' appears twice"),
                        ("old\tnew\n9a7c\tA\n3b4e\t\n77e0\tD\n", "sample '3b4e' gets the name ''"),
                        ("9a7c\n3b4e\n77e0\n", "one column")):
        (tmp_path / "n.tsv").write_text(body)
        with pytest.raises(DataError, match=match):
            read(tmp_path / "gdc", sample_names=tmp_path / "n.tsv")
    capsys.readouterr()
    assert main(["data", "prepare", str(tmp_path / "gdc"), "--sample-names", str(tmp_path / "absent.tsv"),
                 "--genes", "all", "--out", str(tmp_path / "e.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sample-name file" in err and "does not exist" in err
    assert not (tmp_path / "e.h5ad").exists()


# ------------------------------------------------------------------------------------------ spreadsheets

def _dated_genes(small):
    """``small``'s genes x samples table with four symbols as a spreadsheet writes them back: 1-Sep (SEPT1),
    3-Mar (MARCH3) and both genes of 1-Mar (MARCH1 and MARC1)."""
    from rnagen.data import genes

    df = _frame(small).T
    names = genes.map_ids(list(df.index), to="symbol")[0]
    names[5:9] = ["1-Sep", "3-Mar", "1-Mar", "1-Mar"]
    df.index = pd.Index(names)
    return df


def test_gene_symbols_a_spreadsheet_made_dates_are_renamed_back(small, tmp_path, capsys):
    from rnagen.cli.main import main

    df = _dated_genes(small)
    df.to_csv(tmp_path / "x.csv", index_label="gene", float_format="%.9g")
    b = read(tmp_path / "x.csv")
    want = [n for n in df.index if n != "1-Mar"]
    want[5:7] = ["SEPT1", "MARCH3"]
    assert list(b.var_names) == want
    keep = [i for i, n in enumerate(df.index) if n != "1-Mar"]
    np.testing.assert_array_equal(b.X, df.to_numpy(np.float32).T[:, keep])
    h = get_history(b)[0]
    assert list(h["dates_restored_from"]) == ["1-Sep", "3-Mar"] and list(h["dates_restored_to"]) == ["SEPT1", "MARCH3"]
    assert list(h["dates_dropped"]) == ["1-Mar", "1-Mar"]
    assert list(h["dates_dropped_genes"]) == ["MARCH1 or MARC1"] * 2
    (tmp_path / "lab.csv").write_text("id,tissue\n" + "".join(f"{s},{t}\n" for s, t in zip(small.obs_names,
                                                                                          small.obs["tissue"])))
    assert main(["data", "prepare", str(tmp_path / "x.csv"), "--labels", str(tmp_path / "lab.csv"), "--genes", "all",
                 "--out", str(tmp_path / "x.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "2 gene symbols a spreadsheet had turned into dates renamed back (1-Sep -> SEPT1, 3-Mar -> MARCH3)" in out
    assert "2 genes dropped whose symbol a spreadsheet had turned into a date that two genes share (1-Mar: MARCH1 " \
           "or MARC1)" in out


def test_excel_workbook_reads_as_its_table(small, tmp_path, capsys):
    """An .xlsx sheet: title rows above the header and a footnote below skipped, date cells in the gene column
    renamed back, values equal to the CSV's; labels from a workbook; sheets chosen or refused in one line."""
    import datetime

    from rnagen.cli.main import main

    df = _dated_genes(small)
    dated = list(df.index)
    dated[5:9] = [datetime.datetime(2024, 9, 1), datetime.datetime(2024, 3, 3), datetime.datetime(2024, 3, 1),
                  datetime.datetime(2024, 3, 1)]
    xl = df.copy()
    xl.index = pd.Index(dated, dtype=object)
    labels = pd.DataFrame({"sample": small.obs_names, "tissue": small.obs["tissue"].astype(str)})
    with pd.ExcelWriter(tmp_path / "x.xlsx") as w:
        pd.DataFrame([["Supplementary Table 2. Expression per gene"]]).to_excel(w, sheet_name="expr", header=False,
                                                                               index=False)
        xl.to_excel(w, sheet_name="expr", startrow=2, index_label="gene")
        pd.DataFrame([["* values are log2(TPM + 1)"]]).to_excel(w, sheet_name="expr", header=False, index=False,
                                                                 startrow=len(xl) + 4)
    with pd.ExcelWriter(tmp_path / "two.xlsx") as w:
        pd.DataFrame([["read me"]]).to_excel(w, sheet_name="README", header=False, index=False)
        xl.to_excel(w, sheet_name="expr", index_label="gene")
    with pd.ExcelWriter(tmp_path / "both.xlsx") as w:   # two tables of numbers: which one is for the user to say
        xl.to_excel(w, sheet_name="counts", index_label="gene")
        xl.to_excel(w, sheet_name="normalised", index_label="gene")
    with pd.ExcelWriter(tmp_path / "lab.xlsx") as w:   # a title row above the labels' table
        pd.DataFrame([["Table S1. Samples"]]).to_excel(w, header=False, index=False)
        labels.to_excel(w, index=False, startrow=1)
    df.to_csv(tmp_path / "x.csv", index_label="gene", float_format="%.9g")

    a = read(tmp_path / "x.csv")
    b = read(tmp_path / "x.xlsx", labels=tmp_path / "lab.xlsx", label_key="tissue")
    np.testing.assert_allclose(b.X, a.X, rtol=1e-6)
    assert list(b.var_names) == list(a.var_names) and list(b.obs_names) == list(small.obs_names)
    assert b.obs["tissue"].astype(str).tolist() == small.obs["tissue"].astype(str).tolist()
    assert list(get_history(b)[0]["dates_restored_from"]) == ["2024-09-01", "2024-03-03"]
    c = read(tmp_path / "two.xlsx", sheet="expr")
    np.testing.assert_allclose(c.X, a.X, rtol=1e-6)
    assert get_history(c)[0]["sheet"] == "expr" and get_history(c)[0]["format"] == "xlsx"
    (tmp_path / "x_as.txt").write_bytes((tmp_path / "x.xlsx").read_bytes())  # a workbook under a text name
    np.testing.assert_allclose(read(tmp_path / "x_as.txt").X, a.X, rtol=1e-6)
    # Excel 97-2003 (.xls): the same table, a date cell in the gene column, a title row, labels from an .xls
    import xlwt

    wb = xlwt.Workbook()
    ws = wb.add_sheet("expr")
    ws.write(0, 0, "Supplementary Table 2")
    for j, h in enumerate(["gene", *map(str, xl.columns)]):
        ws.write(2, j, h)
    dated_style = xlwt.easyxf(num_format_str="D-MMM")
    for i, (g, row) in enumerate(zip(xl.index, xl.to_numpy())):
        ws.write(3 + i, 0, g, dated_style if isinstance(g, datetime.datetime) else xlwt.Style.default_style)
        for j, v in enumerate(row):
            ws.write(3 + i, 1 + j, float(v))
    wb.save(str(tmp_path / "x.xls"))
    lb = xlwt.Workbook()
    ls = lb.add_sheet("labels")
    for i, row in enumerate([["sample", "tissue"], *labels.to_numpy().tolist()]):
        for j, v in enumerate(row):
            ls.write(i, j, str(v))
    lb.save(str(tmp_path / "lab.xls"))
    d = read(tmp_path / "x.xls", labels=tmp_path / "lab.xls", label_key="tissue")
    np.testing.assert_allclose(d.X, a.X, rtol=1e-6)
    assert list(d.var_names) == list(a.var_names) and get_history(d)[0]["format"] == "xls"
    assert d.obs["tissue"].astype(str).tolist() == small.obs["tissue"].astype(str).tolist()

    for path, kw, match in (
            ("both.xlsx", {}, r"both.xlsx: a workbook of 2 sheets \('counts', 'normalised'\); none or several of "
                              r"them hold a table of numbers: choose one with --sheet NAME"),
            ("two.xlsx", {"sheet": "counts"}, "two.xlsx has no sheet 'counts'; its sheets: 'README', 'expr'"),
            ("x.csv", {"sheet": "expr"}, "--sheet applies to a workbook"),
            ("two.xlsx", {"sheet": "README"}, "the sheet holds no table")):
        with pytest.raises(DataError, match=match):
            read(tmp_path / path, **kw)
    with pytest.raises(DataError, match="label file two.xlsx: its second column .* names each sample apart"):
        read(tmp_path / "x.csv", labels=tmp_path / "two.xlsx")   # its sheet naming the samples: a matrix
    # a label workbook of several sheets: the one sheet naming the samples (and the --label-key column) labels them
    with pd.ExcelWriter(tmp_path / "clinical.xlsx") as w:
        pd.DataFrame({"About": ["sheet 2 lists the samples"]}).to_excel(w, sheet_name="README", index=False)
        labels.to_excel(w, sheet_name="Samples", index=False)
        pd.DataFrame({"sample": ["x1", "x2"], "tissue": ["a", "b"]}).to_excel(w, sheet_name="Other", index=False)
    for kw in ({"label_key": "tissue"}, {}):
        e = read(tmp_path / "x.xls", labels=tmp_path / "clinical.xlsx", **kw)
        assert e.obs["tissue"].astype(str).tolist() == small.obs["tissue"].astype(str).tolist()
    with pytest.raises(DataError, match="label file clinical.xlsx: a workbook of 3 sheets .*none or several of them"):
        read(tmp_path / "x.xls", labels=tmp_path / "clinical.xlsx", label_key="stage")

    out = tmp_path / "p.h5ad"
    assert main(["data", "prepare", str(tmp_path / "two.xlsx"), "--sheet", "expr", "--labels",
                 str(tmp_path / "lab.xlsx"), "--genes", "all", "--out", str(out)]) == 0
    assert "renamed back (2024-09-01 -> SEPT1, 2024-03-03 -> MARCH3)" in capsys.readouterr().out
    assert main(["data", "prepare", str(tmp_path / "both.xlsx"), "--labels", str(tmp_path / "lab.xlsx"),
                 "--out", str(tmp_path / "q.h5ad")]) == 2
    assert "choose one with --sheet NAME" in capsys.readouterr().err and not (tmp_path / "q.h5ad").exists()
    # a README sheet beside the only table of numbers: that table, said in the history
    auto = read(tmp_path / "two.xlsx", labels=tmp_path / "lab.xlsx")
    np.testing.assert_array_equal(auto.X, c.X)
    assert "(sheet 'expr', the workbook's only table of numbers)" in get_history(auto)[0]["orientation"]


# ------------------------------------------------------------------------------------------ portals' tables

def test_tcga_firehose_and_cbioportal_tables(tmp_path):
    """Broad GDAC Firehose: a second header line of quantities (skipped when one per sample, refused naming them
    when several) and SYMBOL|ENTREZ feature names (read by the Entrez id, the symbol kept); cBioPortal: the
    Entrez_Gene_Id column beside the samples is a gene annotation, not a sample, and names the genes whose
    symbol is empty; genes or samples without an id are refused with the line."""
    from rnagen import datasets

    lm = datasets.landmarks()
    syms, ent = list(lm["symbol"][:30]), [str(e) for e in lm["entrez_id"][:30]]
    X = np.random.default_rng(0).gamma(2.0, 50.0, size=(30, 4)).round(3)
    samples = [f"TCGA-A1-A0S{i}-01A-11R-A144-07" for i in range(4)]
    head = "Hybridization REF\t" + "\t".join(samples) + "\n"
    body = "?|100130426\t" + "\t".join(["0"] * 4) + "\n" + "".join(
        f"{s}|{e}\t" + "\t".join(f"{v:g}" for v in row) + "\n" for s, e, row in zip(syms, ent, X))
    (tmp_path / "fh.txt").write_text(head + "gene_id\t" + "\t".join(["normalized_count"] * 4) + "\n" + body)
    a = read(tmp_path / "fh.txt")
    assert list(a.obs_names) == samples and list(a.var_names) == ["100130426", *ent]
    assert a.var["symbol"].tolist() == ["?", *syms]
    np.testing.assert_allclose(a.X[:, 1:], X.T.astype(np.float32))
    assert get_history(a)[0]["n_symbol_entrez_ids"] == 31
    # RSEM genes: raw_count, scaled_estimate, transcript_id per sample -> the raw counts
    (tmp_path / "fh3.txt").write_text(
        "Hybridization REF\t" + "\t".join(s for s in samples[:2] for _ in range(3)) + "\n"
        + "gene_id\t" + "\t".join(["raw_count", "scaled_estimate", "transcript_id"] * 2) + "\n"
        + "TP53|7157\t5\t0.1\tuc1\t7\t0.2\tuc1\nEGFR|1956\t9\t0.3\tuc2\t11\t0.4\tuc2\n")
    r = read(tmp_path / "fh3.txt")
    assert list(r.obs_names) == samples[:2] and list(r.var_names) == ["7157", "1956"]
    np.testing.assert_array_equal(r.X, [[5, 9], [7, 11]])
    assert "the read counts of a Firehose table: 2 of its 6 columns" in get_history(r)[0]["orientation"]
    (tmp_path / "fh4.txt").write_text(
        "Hybridization REF\t" + "\t".join(s for s in samples[:2] for _ in range(2)) + "\n"
        + "gene_id\t" + "\t".join(["scaled_estimate", "transcript_id"] * 2) + "\n"
        + "TP53|7157\t" + "\t".join(["0.1", "uc1"] * 2) + "\n")
    with pytest.raises(DataError, match=r"fh4.txt: a TCGA Firehose table of several quantities per sample "
                                        r"\(scaled_estimate, transcript_id\) without read counts.*; --quantity tpm "
                                        r"reads its scaled_estimate"):
        read(tmp_path / "fh4.txt")
    # --quantity tpm: RSEM's scaled_estimate x 10^6 (with or without the raw counts beside it)
    for name in ("fh3.txt", "fh4.txt"):
        t = read(tmp_path / name, quantity="tpm")
        np.testing.assert_allclose(t.X, [[1e5, 3e5], [2e5, 4e5]] if name == "fh3.txt" else [[1e5], [1e5]])
        assert "the TPM (10^6 x scaled_estimate) of a Firehose table" in get_history(t)[0]["orientation"]
    for name in ("fh.txt",):   # one quantity per sample: nothing to choose
        with pytest.raises(DataError, match="--quantity tpm to a Firehose RSEM table"):
            read(tmp_path / name, quantity="tpm")

    df = pd.DataFrame(X, columns=[s[:15] for s in samples])
    df.insert(0, "Entrez_Gene_Id", [int(e) for e in ent])
    df.insert(0, "Hugo_Symbol", syms)
    df.loc[3, "Hugo_Symbol"] = np.nan
    df.to_csv(tmp_path / "data_mrna_seq_v2_rsem.txt", sep="\t", index=False)
    c = read(tmp_path / "data_mrna_seq_v2_rsem.txt")
    assert list(c.obs_names) == [s[:15] for s in samples]   # no sample named Entrez_Gene_Id
    want = list(syms)
    want[3] = ent[3]
    assert list(c.var_names) == want and c.var["Entrez_Gene_Id"].tolist() == [int(e) for e in ent]
    np.testing.assert_allclose(c.X, X.T.astype(np.float32))
    # Entrez ids beyond 2^24 (LOC genes) kept exactly (float32 would make 100287399 100287400), and a symbol
    # repeated for two genes (cBioPortal's tables hold some): the genes named by their Entrez ids
    df.loc[3, "Entrez_Gene_Id"] = 100287399
    df.loc[1, "Hugo_Symbol"] = df.loc[2, "Hugo_Symbol"]
    df.to_csv(tmp_path / "data_mrna_seq_v2_rsem.txt", sep="\t", index=False)
    c = read(tmp_path / "data_mrna_seq_v2_rsem.txt")
    want = [*ent[:3], "100287399", *ent[4:]]
    assert list(c.var_names) == want and get_history(c)[0]["gene_ids_from"] == "Entrez_Gene_Id"
    assert c.var["symbol"].tolist()[:4] == [syms[0], syms[2], syms[2], "100287399"]
    np.testing.assert_allclose(c.X, X.T.astype(np.float32))
    (tmp_path / "e.csv").write_text("gene,s1,s2\nTP53,1,2\n,4,5\nEGFR,1,1\n,2,2\n")
    with pytest.raises(DataError, match=r"e.csv: 2 gene\(s\) without an id \(the first at line 3\)"):
        read(tmp_path / "e.csv")
    (tmp_path / "e2.csv").write_text("id,TP53,EGFR\ns1,1,2\n,3,4\n")
    with pytest.raises(DataError, match=r"e2.csv: 1 sample\(s\) without an id \(the first at line 3\)"):
        read(tmp_path / "e2.csv")


def test_inputs_given_as_pipes(small, tmp_path):
    """A named pipe (a shell's <(zcat x.gz)) is read once and spooled: data, labels and the feature map read
    from pipes give what the files give."""
    import gzip as gz
    import os
    import threading

    df = _frame(small)
    df.to_csv(tmp_path / "x.csv", float_format="%.9g")
    (tmp_path / "lab.csv").write_text("id,tissue\n" + "".join(f"{s},{t}\n" for s, t in zip(small.obs_names,
                                                                                          small.obs["tissue"])))
    want = read(tmp_path / "x.csv", labels=tmp_path / "lab.csv", label_key="tissue")

    def pipe(name: str, data: bytes):
        path = tmp_path / name
        os.mkfifo(path)

        def feed():
            with open(path, "wb") as fh:
                fh.write(data)
        t = threading.Thread(target=feed, daemon=True)
        t.start()
        return path, t

    xp, t1 = pipe("x_pipe", gz.compress((tmp_path / "x.csv").read_bytes()))   # zcat's input, not its output
    lp, t2 = pipe("lab_pipe", (tmp_path / "lab.csv").read_bytes())
    got = read(xp, labels=lp, label_key="tissue")
    t1.join(5)
    t2.join(5)
    _same(want, got)
    assert not list(tmp_path.glob("rnagen-pipe-*"))


def test_a_preamble_of_comment_lines(tmp_path):
    """Lines starting with '#' before the table (a tool's version, date, command) are skipped; a header written
    with a '#' in front of it (#gene<TAB>s1...) is the header; the separator is sniffed from the table; footnote
    sentences under the table are skipped."""
    body = "TP53\t100\t200\t300\nEGFR\t3\t4\t5\n"
    (tmp_path / "a.tsv").write_text("# exported by tool X 1.2\n# 2024-01-01, a; b\ngene\ts1\ts2\ts3\n" + body)
    (tmp_path / "b.tsv").write_text("#gene\ts1\ts2\ts3\n" + body)
    (tmp_path / "c.csv").write_text("# a,b;c\n# x\ngene,s1,s2\nTP53,1.5,2\nEGFR,3,4\n")
    for name in ("a.tsv", "b.tsv"):
        a = read(tmp_path / name)
        assert list(a.obs_names) == ["s1", "s2", "s3"] and list(a.var_names) == ["TP53", "EGFR"], name
        np.testing.assert_array_equal(a.X, [[100, 3], [200, 4], [300, 5]])
    c = read(tmp_path / "c.csv")
    assert list(c.obs_names) == ["s1", "s2"] and c.X.tolist() == [[1.5, 3.0], [2.0, 4.0]]
    from rnagen.data import read_labels

    (tmp_path / "l.tsv").write_text("# sample annotations, 2024\nsample\tgroup\ns2\tB\ns1\tA\n")
    assert list(read_labels(tmp_path / "l.tsv", ["s1", "s2"])[1]) == ["A", "B"]
    # footnote lines under the table (a sentence alone on its line, after a blank line or not): skipped, as under a
    # workbook's table; a gene with missing values stays a gene (and --missing decides)
    for foot in ("\nNote: values are log2 CPM\n", "* normalised with edgeR TMM\n"):
        (tmp_path / "f.tsv").write_text("gene\ts1\ts2\ts3\n" + body + foot)
        f = read(tmp_path / "f.tsv")
        assert list(f.var_names) == ["TP53", "EGFR"] and f.X.tolist() == [[100, 3], [200, 4], [300, 5]]
    (tmp_path / "g.tsv").write_text("gene\ts1\ts2\ts3\n" + body + "MYC\t\t\t\n")
    assert list(read(tmp_path / "g.tsv", missing="keep").var_names) == ["TP53", "EGFR", "MYC"]


@pytest.mark.parametrize("header_end", ["", "\t"])
def test_lines_ending_with_the_separator(tmp_path, header_end):
    """Every line ending with a tab (some exporters): no empty extra sample, and no shift of the sample names
    by pandas' implicit index when the header lacks that tab; R's write.table header (no id field) still
    reads as before."""
    (tmp_path / "t.tsv").write_text(f"gene\ts1\ts2\ts3{header_end}\nTP53\t1\t2\t3\t\nEGFR\t4\t5\t6\t\n")
    a = read(tmp_path / "t.tsv")
    assert list(a.obs_names) == ["s1", "s2", "s3"] and list(a.var_names) == ["TP53", "EGFR"]
    np.testing.assert_array_equal(a.X, [[1, 4], [2, 5], [3, 6]])
    (tmp_path / "r.tsv").write_text("s1\ts2\ts3\nTP53\t1\t2\t3\nEGFR\t4\t5\t6\n")
    np.testing.assert_array_equal(read(tmp_path / "r.tsv").X, [[1, 4], [2, 5], [3, 6]])
    (tmp_path / "s.csv").write_text("id,TP53,EGFR,\ns1,1,4,\ns2,2,5,\n")
    b = read(tmp_path / "s.csv")
    assert list(b.obs_names) == ["s1", "s2"] and list(b.var_names) == ["TP53", "EGFR"]


def test_row_numbers_before_the_ids(tmp_path):
    """pandas' to_csv and R's write.csv write row numbers first by default: the ids in the next column name the
    genes (or samples), not 0, 1, 2; a label column after row numbers stays a label column."""
    (tmp_path / "g.csv").write_text(",gene,s1,s2,s3\n0,TP53,100,200,300\n1,EGFR,3,4,5\n2,MYC,1,1,1\n")
    a = read(tmp_path / "g.csv")
    assert list(a.var_names) == ["TP53", "EGFR", "MYC"] and list(a.obs_names) == ["s1", "s2", "s3"]
    (tmp_path / "s.csv").write_text('"","sample","TP53","EGFR"\n"1","s1",1,2\n"2","s2",3,4\n"3","s3",5,6\n')
    b = read(tmp_path / "s.csv")
    assert list(b.obs_names) == ["s1", "s2", "s3"] and list(b.var_names) == ["TP53", "EGFR"]
    (tmp_path / "l.csv").write_text(",tissue,TP53,EGFR\n0,liver,1,2\n1,lung,3,4\n2,liver,5,6\n")
    c = read(tmp_path / "l.csv", label_key="tissue")
    assert list(c.obs_names) == ["0", "1", "2"] and c.obs["tissue"].astype(str).tolist() == ["liver", "lung", "liver"]


def test_long_tables_one_line_per_sample_and_gene(tmp_path):
    """A long ("tidy") table (sample, gene, value, and the label column) reads as the samples x genes matrix it
    lists, whichever id column comes first; a missing pair is a missing value; a pair listed twice or a sample
    with two labels is refused."""
    genes = [str(x) for x in datasets.landmarks()["symbol"][:20]]
    rows = [(f"s{i}", g, float(10 * i + j), "A" if i < 3 else "B") for i in range(6) for j, g in enumerate(genes)]
    df = pd.DataFrame(rows, columns=["sample", "gene", "tpm", "group"])
    df.to_csv(tmp_path / "long.csv", index=False)
    a = read(tmp_path / "long.csv", label_key="group")
    assert list(a.obs_names) == [f"s{i}" for i in range(6)] and list(a.var_names) == genes
    np.testing.assert_array_equal(a.X, np.arange(6)[:, None] * 10 + np.arange(20)[None, :])
    assert a.obs["group"].astype(str).tolist() == ["A"] * 3 + ["B"] * 3
    assert get_history(a)[0]["orientation"] == "long (one line per sample and gene)"
    df[["gene", "sample", "tpm"]].to_csv(tmp_path / "long.tsv", sep="\t", index=False)
    np.testing.assert_array_equal(read(tmp_path / "long.tsv").X, a.X)
    df.iloc[1:].to_csv(tmp_path / "gap.csv", index=False)
    b = read(tmp_path / "gap.csv", label_key="group", missing="keep")
    assert np.isnan(b.X[0, list(b.var_names).index(genes[0])]) and np.isnan(b.X).sum() == 1
    pd.concat([df, df.iloc[[5]]]).to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(DataError, match=r"a long table \(one line per sample and gene\) with the pair \('s0', "):
        read(tmp_path / "twice.csv", label_key="group")
    bad = df.copy()
    bad.loc[3, "group"] = "B"
    bad.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(DataError, match="sample 's0' has several 'group' labels"):
        read(tmp_path / "labels.csv", label_key="group")


def test_a_merged_counts_tables_summary_rows_are_dropped(tmp_path, capsys):
    """HTSeq-count's __no_feature-style and STAR's N_unmapped-style rows in a merged counts table are no genes:
    dropped before CPM, whose library sizes they would otherwise inflate."""
    from rnagen.cli.main import main

    (tmp_path / "c.tsv").write_text("gene\ts1\ts2\ts3\nTP53\t100\t200\t300\nEGFR\t300\t200\t100\n"
                                    "__no_feature\t1000\t2000\t5\n__ambiguous\t10\t10\t10\nN_unmapped\t500\t600\t1\n")
    a = read(tmp_path / "c.tsv")
    assert list(a.var_names) == ["TP53", "EGFR"]
    assert list(get_history(a)[0]["count_summary_rows"]) == ["__no_feature", "__ambiguous", "N_unmapped"]
    out = tmp_path / "c.h5ad"
    assert main(["data", "prepare", str(tmp_path / "c.tsv"), "--genes", "all", "--normalize", "cpm", "--out",
                 str(out)]) == 0
    assert "3 counter summary rows dropped (__no_feature, __ambiguous, N_unmapped: reads given no gene)" in \
        capsys.readouterr().out
    import anndata as ad

    np.testing.assert_allclose(ad.read_h5ad(out).X[:, 0], np.log2(np.array([100, 200, 300]) / 400 * 1e6 + 1),
                               rtol=1e-5)


def test_a_table_read_in_blocks_of_lines(tmp_path):
    """Tables are parsed in blocks of lines (at least 256) cast to float32 one at a time: a table of several
    blocks gives the exact values, and a bad value in a later block is still named with its line."""
    from rnagen import datasets

    genes = list(dict.fromkeys(datasets.gene_universe()["symbol"]))[:700]
    X = np.random.default_rng(0).gamma(2.0, 50.0, size=(700, 3))
    lines = ["gene,s1,s2,s3"] + [f"{g}," + ",".join(f"{v:.6g}" for v in row) for g, row in zip(genes, X)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    a = read(tmp_path / "t.csv")
    assert list(a.var_names) == genes and a.X.dtype == np.float32
    np.testing.assert_array_equal(a.X, np.array([[float(f"{v:.6g}") for v in row] for row in X], np.float32).T)
    bad = list(lines)
    bad[601] = f"{genes[600]},1,abc,3"
    (tmp_path / "b.csv").write_text("\n".join(bad) + "\n")
    with pytest.raises(DataError, match=rf"non-numeric value 'abc' at line 602, column 's2' \(gene '{genes[600]}'\)"):
        read(tmp_path / "b.csv")
    big = list(lines)
    big[500] = f"{genes[499]},1,2,1e39"
    (tmp_path / "o.csv").write_text("\n".join(big) + "\n")
    with pytest.raises(DataError, match="beyond the float32 range"):
        read(tmp_path / "o.csv")


def test_numeric_labels_keep_their_text_and_a_continuous_label_is_named(tmp_path, capsys):
    """A label column of numbers (doses) keeps the text written in the file (the numeric table parser must not
    turn 0.1 into float32's 0.10000000149); a label column of a measured value (age per sample) is refused as
    continuous, in one line, with or without --min-samples, instead of listing every "class" or dropping most
    samples; a long list of small classes is cut short."""
    from rnagen.cli.main import main
    from rnagen.pp import check_labels, filter_classes

    rng = np.random.default_rng(1)
    X = rng.normal(5, 1, (30, 12))
    df = pd.DataFrame(X, columns=[f"F{i}" for i in range(12)])
    df.insert(0, "dose", np.repeat(["0.1", "0.5", "1.0"], 10))
    df.insert(0, "sample", [f"s{i}" for i in range(30)])
    df.to_csv(tmp_path / "dose.csv", index=False)
    a = read(tmp_path / "dose.csv", label_key="dose")
    assert a.obs["dose"].astype(str).value_counts().to_dict() == {"0.1": 10, "0.5": 10, "1.0": 10}
    np.testing.assert_allclose(a.X, X, rtol=1e-6)
    df["age"] = np.round(20 + np.arange(30) * 1.7 + rng.uniform(0, 1, 30), 1)   # 30 distinct ages
    df.to_csv(tmp_path / "age.csv", index=False)
    b = read(tmp_path / "age.csv", label_key="age")
    want = "the labels of 'age' look like a continuous value, not classes (30 distinct numbers among 30 samples"
    with pytest.raises(DataError, match=r"look like a continuous value.*bin them into groups"):
        check_labels(b, "age")
    with pytest.raises(DataError, match=r"look like a continuous value"):
        filter_classes(b, "age", min_samples=2)
    for extra in ([], ["--min-samples", "2"]):
        capsys.readouterr()
        assert main(["data", "prepare", str(tmp_path / "age.csv"), "--label-key", "age", "--genes", "all", *extra,
                     "--out", str(tmp_path / "a.h5ad")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and want in err and not (tmp_path / "a.h5ad").exists()
    # classes named by text, many of one sample: not continuous, the list cut after 8
    c = read(tmp_path / "dose.csv", label_key="dose")
    c.obs["dose"] = [f"drug{i}" for i in range(20)] + ["ctl"] * 10
    with pytest.raises(DataError, match=r"^20 class\(es\) of 'dose' have fewer than 2 samples: 'drug.*' \(1\), .* and "
                                        r"12 more; add samples or drop them"):
        check_labels(c, "dose")


def test_a_label_file_naming_the_columns_turns_a_guessed_layout(tmp_path):
    """A table of features that are no gene ids, fewer features than samples, is guessed genes x samples; a label
    file whose ids name its rows (not its columns) turns it, and the history says why. Labels naming neither
    axis get their own error; a given --orientation is kept as it is."""
    rng = np.random.default_rng(2)
    X = rng.normal(5, 1, (30, 20))
    # names that do not say what they are (s1, G1 would: test_orientation_of_ids_that_name_their_kind)
    df = pd.DataFrame(X, columns=[f"v{i}" for i in range(20)], index=pd.Index([f"q{i}" for i in range(30)],
                                                                              name="sample"))
    df.to_csv(tmp_path / "m.csv")
    pd.DataFrame({"sample": df.index, "group": np.repeat(["a", "b", "c"], 10)}).to_csv(tmp_path / "lab.csv",
                                                                                       index=False)
    assert read(tmp_path / "m.csv").shape == (20, 30)    # the guess alone: more rows than columns
    a = read(tmp_path / "m.csv", labels=tmp_path / "lab.csv")
    assert a.shape == (30, 20) and list(a.obs_names) == list(df.index) and list(a.var_names) == list(df.columns)
    np.testing.assert_allclose(a.X, X, rtol=1e-6)
    assert a.obs["group"].astype(str).tolist() == list(np.repeat(["a", "b", "c"], 10))
    assert get_history(a)[0]["orientation"] == "samples_x_genes (the label file names the rows)"
    pd.DataFrame({"sample": [f"x{i}" for i in range(30)], "group": "a"}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(DataError, match=r"label file other.csv: no row for 20 of 20 samples"):
        read(tmp_path / "m.csv", labels=tmp_path / "other.csv")
    with pytest.raises(DataError, match=r"label file lab.csv: no row for 20 of 20 samples"):
        read(tmp_path / "m.csv", labels=tmp_path / "lab.csv", orientation="genes_x_samples")


def test_thousands_separators_are_not_decimal_commas(tmp_path):
    """Counts a spreadsheet exported with thousands separators (43,567 in a tab or ';' file, "43,567" quoted in a
    CSV, 1,234,567) read as the numbers they are, not as decimal commas (43.567: a thousandth); a decimal-comma
    file written with three decimals (4,253 beside 0,204) stays decimal."""
    rng = np.random.default_rng(0)
    genes = ["TP53", "EGFR", "BRCA1", "GAPDH", "ACTB", "MYC"]
    S = [f"S{i}" for i in range(1, 9)]
    c = rng.integers(0, 5000, size=(6, 8))
    c[0, 0] = 1234567

    def table(name, sep, cell):
        (tmp_path / name).write_text(sep.join(["gene", *S]) + "\n" + "".join(
            sep.join([g, *(cell(v) for v in r)]) + "\n" for g, r in zip(genes, c)))
        return tmp_path / name

    for name, sep, cell in (("t.tsv", "\t", lambda v: f"{v:,}"), ("t.csv", ";", lambda v: f"{v:,}"),
                            ("q.csv", ",", lambda v: f'"{v:,}"' if v >= 1000 else str(v))):
        np.testing.assert_array_equal(read(table(name, sep, cell)).X, c.T, err_msg=name)
    c[0, 0] = 4253   # grouped in threes, one group each: the plain numbers under a thousand decide
    np.testing.assert_array_equal(read(table("one.tsv", "\t", lambda v: f"{v:,}")).X, c.T)
    dec = read(table("dec.tsv", "\t", lambda v: f"{v / 1000:.3f}".replace(".", ",")))
    np.testing.assert_allclose(dec.X, c.T / 1000, rtol=1e-6)
    # the European way: decimal commas and thousands points (1.234,5; 12.345.678,25; 1.234 beside 3,25)
    c[0, 0] = 12345678
    eu = read(table("eu.csv", ";", lambda v: f"{v:,}".replace(",", ".") + (",25" if v % 2 else "")))
    np.testing.assert_allclose(eu.X, (c + 0.25 * (c % 2)).T, rtol=1e-7)
    # dots alone stay decimal points (1.234 is 1.234 without a comma anywhere)
    np.testing.assert_allclose(read(table("pt.csv", ";", lambda v: f"{v / 1000:.3f}")).X, c.T / 1000, rtol=1e-6)


def test_a_dash_for_a_missing_value_is_named_as_one(tmp_path):
    """'-' or '.' where a value is missing (some tools write them): the non-numeric error says how to mark it
    missing; a word stays a plain non-numeric error."""
    for tok, hint in (("-", True), (".", True), ("high", False)):
        (tmp_path / "m.tsv").write_text(f"gene\tS1\tS2\tS3\nTP53\t1\t2\t3\nEGFR\t4\t{tok}\t6\nMYC\t7\t8\t9\n")
        with pytest.raises(DataError) as e:
            read(tmp_path / "m.tsv")
        msg = str(e.value)
        assert f"non-numeric value {tok!r} at line 3, column 'S2' (gene 'EGFR')" in msg
        assert ("if it marks a missing value: write NA or leave the field empty, then prepare with --missing "
                "impute|drop" in msg) == hint
    (tmp_path / "x.csv").write_text("gene,S1,S2\nTP53,1,#DIV/0!\nEGFR,4,5\n")   # a spreadsheet's formula error
    with pytest.raises(DataError, match=r"'#DIV/0!' at line 2, column 'S2' \(gene 'TP53'\) \(a spreadsheet's formula "
                                        r"error: fix the formula in the workbook"):
        read(tmp_path / "x.csv")


def test_an_sdrf_labels_samples_named_by_their_runs(tmp_path):
    """ArrayExpress / Expression Atlas sample tables (SDRF): the first column (Source Name) repeats for a donor's
    runs and the samples are named by Comment[ENA_RUN], listed once per run or once per read file of a paired
    run; the labels come from a Factor Value column. A run listed with two labels is not taken as the ids."""
    rng = np.random.default_rng(0)
    runs = [f"ERR{1000 + i}" for i in range(8)]
    genes = ["ENSG00000141510", "ENSG00000146648", "ENSG00000012048"]
    c = rng.integers(0, 5000, size=(3, 8))
    (tmp_path / "atlas.tsv").write_text("Gene ID\tGene Name\t" + "\t".join(runs) + "\n" + "".join(
        f"{g}\tN{i}\t" + "\t".join(map(str, r)) + "\n" for i, (g, r) in enumerate(zip(genes, c))))
    hdr = ["Source Name", "Characteristics[organism]", "Characteristics[disease]", "Assay Name", "Comment[ENA_RUN]",
           "Comment[FASTQ_URI]", "Factor Value[disease]"]
    disease = ["normal"] * 4 + ["glioblastoma"] * 4

    def sdrf(name, reads):
        rows = ["\t".join(hdr)]
        for i, r in enumerate(runs):
            for k in range(1, reads + 1):
                rows.append("\t".join([f"donor{i // 2}", "Homo sapiens", disease[i], f"assay{i}", r,
                                       f"ftp://x/{r}_{k}.fastq.gz", disease[i]]))
        (tmp_path / name).write_text("\n".join(rows) + "\n")
        return tmp_path / name

    for reads in (1, 2):
        a = read(tmp_path / "atlas.tsv", labels=sdrf(f"E-{reads}.sdrf.txt", reads),
                 label_key="Factor Value[disease]")
        assert list(a.obs_names) == runs and a.obs["Factor Value[disease]"].astype(str).tolist() == disease
    text = (tmp_path / "E-2.sdrf.txt").read_text().splitlines()
    text[2] = text[2].replace("\tnormal", "\tglioblastoma")   # ERR1000's second read file: another label
    (tmp_path / "bad.sdrf.txt").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"label file bad.sdrf.txt: sample 'ERR1000' \(column 'Comment\[ENA_RUN\]'\) "
                                        r"has rows of different 'Factor Value\[disease\]' labels \('normal', "
                                        r"'glioblastoma'\)"):
        read(tmp_path / "atlas.tsv", labels=tmp_path / "bad.sdrf.txt", label_key="Factor Value[disease]")


def test_spaces_around_ids_are_padding(tmp_path):
    """R's write.table (quoted names, no header field over the row names) with spaces around some gene names,
    and a CSV whose header pads its gene names: the ids are read without the spaces, so the genes are
    recognised and the table's layout found."""
    (tmp_path / "r.tsv").write_text('"S1"\t"S2"\t"S3"\n"TP53 "\t1.5\t2.5\t3\n" EGFR"\t4\t5\t6\n"MYC"\t7\t8\t9\n')
    a = read(tmp_path / "r.tsv")
    assert list(a.obs_names) == ["S1", "S2", "S3"] and list(a.var_names) == ["TP53", "EGFR", "MYC"]
    np.testing.assert_array_equal(a.X, [[1.5, 4, 7], [2.5, 5, 8], [3, 6, 9]])
    (tmp_path / "p.csv").write_text("sample, TP53 , EGFR,group\n s1 ,1,2,a\ns2,3,4,b\n")
    b = read(tmp_path / "p.csv", label_key="group")
    assert list(b.obs_names) == ["s1", "s2"] and list(b.var_names) == ["TP53", "EGFR"]
    assert b.obs["group"].astype(str).tolist() == ["a", "b"]


@pytest.mark.parametrize("form", ["{e}.5|{s}", "{s}|{e}", "{e}_{s}", "{e}.12_{s}", "{s}_{e}", "{e}::{s}"])
def test_ensembl_ids_joined_to_symbols(tmp_path, form):
    """Genes named by an Ensembl id and a symbol joined (merged count tables, GEO files) are read by the Ensembl
    id, which maps to the landmarks, the symbol kept; the orientation finds them as genes (fewer genes than
    samples here); GENCODE's _PAR_Y copy is an id, not a symbol."""
    pairs = [("ENSG00000141510", "TP53"), ("ENSG00000146648", "EGFR"), ("ENSG00000136997", "MYC"),
             ("ENSG00000111640", "GAPDH"), ("ENSG00000075624", "ACTB")]
    names = [form.format(e=e, s=s) for e, s in pairs]
    names[4] = "ENSG00000002586.20_PAR_Y"
    rng = np.random.default_rng(0)
    X = rng.integers(1, 999, size=(5, 8))
    (tmp_path / "ids.tsv").write_text("gene\t" + "\t".join(f"S{i}" for i in range(8)) + "\n" + "".join(
        n + "\t" + "\t".join(map(str, r)) + "\n" for n, r in zip(names, X)))
    a = read(tmp_path / "ids.tsv")
    assert a.n_obs == 8 and a.var["symbol"].tolist()[:4] == ["TP53", "EGFR", "MYC", "GAPDH"]
    want = [(e + ".5" if form.startswith("{e}.5") else e + ".12" if form.startswith("{e}.12") else e)
            for e, _ in pairs[:4]]
    assert list(a.var_names) == [*want, "ENSG00000002586.20_PAR_Y"]
    np.testing.assert_array_equal(a.X, X.T)
    assert get_history(a)[0]["n_ensembl_symbol_ids"] == 4


def test_gencode_transcript_names_in_a_table(tmp_path, capsys):
    """A merged transcript table of a GENCODE transcriptome indexed without --gencode (salmon quantmerge: names
    ENST|ENSG|OTTHUMG|OTTHUMT|tx name|gene name|length|biotype|), either orientation: read by transcript id, the
    gene's id and name kept, transcript-level; prepare adds the transcripts up to their genes (--genes all keeps
    the transcripts)."""
    import anndata as ad

    from rnagen.cli.main import main

    genes = [("ENSG00000141510.18", "TP53"), ("ENSG00000146648.21", "EGFR"), ("ENSG00000136997.21", "MYC")]
    names, gene_of = [], []
    for i, (e, s) in enumerate(genes):
        for j in range(2 if i < 2 else 1):
            names.append(f"ENST{i * 10 + j:011d}.{j + 1}|{e}|OTTHUMG0000{i}|OTTHUMT0000{i}{j}|{s}-20{j}|{s}|"
                         f"{1000 + j}|protein_coding|")
            gene_of.append(i)
    X = np.random.default_rng(1).integers(0, 500, size=(6, len(names)))
    (tmp_path / "merged.tsv").write_text("Name\t" + "\t".join(f"S{k}" for k in range(6)) + "\n" + "".join(
        n + "\t" + "\t".join(map(str, c)) + "\n" for n, c in zip(names, X.T)))
    (tmp_path / "wide.csv").write_text("sample," + ",".join(names) + "\n" + "".join(
        f"S{k}," + ",".join(map(str, r)) + "\n" for k, r in enumerate(X)))
    for f in ("merged.tsv", "wide.csv"):
        a = read(tmp_path / f)
        assert [v.split(".")[0] for v in a.var_names] == [n.split(".")[0] for n in names], f
        assert a.var["gene_id"].tolist() == [genes[i][0] for i in gene_of]
        assert a.var["gene_name"].tolist() == [genes[i][1] for i in gene_of]
        np.testing.assert_array_equal(a.X, X)
        assert get_history(a)[0]["quant_level"] == "transcript"
    (tmp_path / "labels.tsv").write_text("sample\tg\n" + "".join(f"S{k}\t{'ab'[k % 2]}\n" for k in range(6)))
    (tmp_path / "genes.txt").write_text("TP53\nEGFR\nMYC\n")
    base = ["data", "prepare", str(tmp_path / "merged.tsv"), "--labels", str(tmp_path / "labels.tsv"), "--log", "none"]
    assert main([*base, "--genes", str(tmp_path / "genes.txt"), "--out", str(tmp_path / "g.h5ad")]) == 0
    assert "5 transcripts added up to 3 genes by the gene ids the data give them" in capsys.readouterr().out
    g = ad.read_h5ad(tmp_path / "g.h5ad")
    np.testing.assert_allclose(g.X, np.c_[X[:, 0] + X[:, 1], X[:, 2] + X[:, 3], X[:, 4]])
    assert main([*base, "--genes", "all", "--out", str(tmp_path / "t.h5ad")]) == 0
    assert ad.read_h5ad(tmp_path / "t.h5ad").n_vars == 5


def test_a_transcript_table_with_a_gene_column(tmp_path, capsys):
    """nf-core/rnaseq's salmon.merged.transcript_counts.tsv (tx, gene_id, samples): transcript-level with its genes
    kept; prepare adds the transcripts up to them. Without a gene column the transcripts stay features."""
    import anndata as ad

    from rnagen.cli.main import main

    gene_of = ["ENSG00000141510", "ENSG00000141510", "ENSG00000146648", "ENSG00000136997"]
    X = np.random.default_rng(2).integers(0, 300, size=(4, 5))   # transcripts x samples
    rows = [f"ENST{i:011d}\t{g}\t" + "\t".join(map(str, X[i])) for i, g in enumerate(gene_of)]
    (tmp_path / "salmon.merged.transcript_counts.tsv").write_text(
        "tx\tgene_id\t" + "\t".join(f"S{k}" for k in range(5)) + "\n" + "\n".join(rows) + "\n")
    a = read(tmp_path / "salmon.merged.transcript_counts.tsv")
    assert a.var["gene_id"].tolist() == gene_of and get_history(a)[0]["quant_level"] == "transcript"
    (tmp_path / "genes.txt").write_text("TP53\nEGFR\nMYC\n")
    assert main(["data", "prepare", str(tmp_path / "salmon.merged.transcript_counts.tsv"), "--genes",
                 str(tmp_path / "genes.txt"), "--log", "none", "--out", str(tmp_path / "g.h5ad")]) == 0
    assert "4 transcripts added up to 3 genes" in capsys.readouterr().out
    np.testing.assert_allclose(ad.read_h5ad(tmp_path / "g.h5ad").X, np.c_[X[0] + X[1], X[2], X[3]])
    assert main(["data", "info", str(tmp_path / "salmon.merged.transcript_counts.tsv")]) == 0
    assert "features:  4 transcripts of 3 genes the data name: rnagen data prepare adds them up to those" in \
        capsys.readouterr().out
    (tmp_path / "plain.tsv").write_text("tx\t" + "\t".join(f"S{k}" for k in range(5)) + "\n" + "".join(
        f"ENST{i:011d}\t" + "\t".join(map(str, X[i])) + "\n" for i in range(4)))
    assert "quant_level" not in get_history(read(tmp_path / "plain.tsv"))[0]


def test_a_spreadsheet_total_row_is_dropped(tmp_path, capsys):
    """A 'Total' row (or 'Sum' column, 'Grand total', any case) holding each sample's sum of the other genes, as
    spreadsheets add, is dropped (it would double every library size) and named by prepare; a gene of that name
    with other values is kept as data."""
    from rnagen.cli.main import main

    X = np.array([[10, 20, 30], [5, 0, 7], [100, 50, 25], [1, 2, 3]])
    body = "".join(f"{g},{','.join(map(str, r))}\n" for g, r in zip(["TP53", "EGFR", "MYC", "GAPDH"], X))
    (tmp_path / "t.csv").write_text("gene,s1,s2,s3\n" + body + "Total," + ",".join(map(str, X.sum(0))) + "\n")
    a = read(tmp_path / "t.csv")
    assert list(a.var_names) == ["TP53", "EGFR", "MYC", "GAPDH"] and a.X.tolist() == X.T.tolist()
    assert list(get_history(a)[0]["total_rows"]) == ["gene 'Total'"]
    # samples as rows, a 'Grand total' column with decimals rounded
    rows = "".join(f"s{j + 1},{','.join(map(str, X[:, j] + 0.25))},{X[:, j].sum() + 1.0}\n" for j in range(3))
    (tmp_path / "w.csv").write_text("sample,TP53,EGFR,MYC,GAPDH,Grand total\n" + rows)
    assert list(read(tmp_path / "w.csv").var_names) == ["TP53", "EGFR", "MYC", "GAPDH"]
    # a 'Sum' sample (the per-gene sum over the samples) in a genes x samples table
    (tmp_path / "s.csv").write_text("gene,s1,s2,s3,Sum\n" + "".join(
        f"{g},{','.join(map(str, r))},{r.sum()}\n" for g, r in zip(["TP53", "EGFR", "MYC", "GAPDH"], X)))
    assert list(read(tmp_path / "s.csv").obs_names) == ["s1", "s2", "s3"]
    (tmp_path / "k.csv").write_text("gene,s1,s2,s3\n" + body + "Total,1,2,3\n")   # not a sum: data
    assert "Total" in list(read(tmp_path / "k.csv").var_names)
    assert main(["data", "prepare", str(tmp_path / "t.csv"), "--genes", "all", "--normalize", "cpm", "--out",
                 str(tmp_path / "t.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "gene 'Total' holding the sum of the others dropped" in out and "library sizes 65-116" in out


def test_columns_of_per_gene_statistics_are_not_samples(tmp_path, capsys):
    """A supplementary table with its samples and per-gene statistics beside them (Mean, SD, log2FC, P.Value,
    adj.P.Val): the statistics are left out, named by prepare; labelled, the label file need not list them."""
    from rnagen.cli.main import main

    rng = np.random.default_rng(3)
    X = rng.normal(6, 1, (4, 6))
    stats = {"Mean": X.mean(1), "SD": X.std(1), "log2FC": rng.normal(0, 1, 4), "P.Value": rng.uniform(0, 1, 4),
             "adj.P.Val": rng.uniform(0, 1, 4)}
    head = "gene," + ",".join(f"S{j}" for j in range(6)) + "," + ",".join(stats)
    rows = [f"{g}," + ",".join(f"{v:.4f}" for v in [*X[i], *(s[i] for s in stats.values())])
            for i, g in enumerate(["TP53", "EGFR", "MYC", "GAPDH"])]
    (tmp_path / "supp.csv").write_text("\n".join([head, *rows]) + "\n")
    (tmp_path / "labels.csv").write_text("sample,g\n" + "".join(f"S{j},{'ab'[j % 2]}\n" for j in range(6)))
    a = read(tmp_path / "supp.csv", labels=tmp_path / "labels.csv")
    assert list(a.obs_names) == [f"S{j}" for j in range(6)]
    np.testing.assert_allclose(a.X, X.T, atol=1e-4)
    assert list(get_history(a)[0]["statistics_columns"]) == list(stats)
    assert main(["data", "prepare", str(tmp_path / "supp.csv"), "--labels", str(tmp_path / "labels.csv"), "--genes",
                 "all", "--out", str(tmp_path / "p.h5ad")]) == 0
    assert ("5 columns of per-gene statistics left out (Mean, SD, log2FC, P.Value, adj.P.Val: not samples)"
            in capsys.readouterr().out)


def test_a_row_of_labels_under_the_header(tmp_path, capsys):
    """A genes x samples table with the class in a row under the header (group, tumor, normal, ...): with
    --label-key naming the row it labels the samples and the values read as numbers; without it the row is
    named in one line with the way on; features that are no genes (miRNAs) are read the same way."""
    from rnagen.cli.main import main

    (tmp_path / "row.csv").write_text("gene,S1,S2,S3,S4\ngroup,tumor,normal,tumor,normal\nTP53,1,2,3,4\n"
                                      "EGFR,4,5,6,7.5\nMYC,7,8,9,10\n")
    a = read(tmp_path / "row.csv", label_key="group")
    assert list(a.obs_names) == ["S1", "S2", "S3", "S4"] and list(a.var_names) == ["TP53", "EGFR", "MYC"]
    assert a.obs["group"].astype(str).tolist() == ["tumor", "normal", "tumor", "normal"]
    np.testing.assert_array_equal(a.X, [[1, 4, 7], [2, 5, 8], [3, 6, 9], [4, 7.5, 10]])
    (tmp_path / "mir.tsv").write_text("miRNA\tS1\tS2\tS3\nclass\tA\tB\tA\nhsa-let-7a-5p\t1\t2\t3\n"
                                      "hsa-miR-21-5p\t4\t5\t6\nhsa-miR-155-5p\t7\t8\t9\nhsa-miR-1-3p\t1\t1\t1\n")
    m = read(tmp_path / "mir.tsv", label_key="class")
    assert m.shape == (3, 4) and m.obs["class"].astype(str).tolist() == ["A", "B", "A"]
    capsys.readouterr()
    assert main(["data", "prepare", str(tmp_path / "row.csv"), "--genes", "all", "--out",
                 str(tmp_path / "o.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not (tmp_path / "o.h5ad").exists()
    assert "row 'group' holds text for every sample ('tumor', 'normal', ...): if it is the labels, pass " \
           "--label-key group, else remove the row" in err
    # a stray word in two of six samples is a bad value, not a row of labels
    (tmp_path / "nd.csv").write_text("gene,S1,S2,S3,S4,S5,S6\nTP53,1,2,3,4,5,6\nEGFR,4,n.d.,6,n.d.,8,9\n"
                                     "MYC,7,8,9,10,11,12\n")
    with pytest.raises(DataError, match="non-numeric value 'n.d.' at line 3, column 'S2'"):
        read(tmp_path / "nd.csv")


def test_gsea_cls_labels_a_gct(tmp_path, capsys):
    """A GSEA class file (.cls) beside its GCT: labels in the samples' order, named by its class-name line in the
    order each label first appears (numbers or names alike); a continuous .cls, a count that is not the
    data's or more labels than announced classes refused in one line."""
    from rnagen.cli.main import main

    (tmp_path / "g.gct").write_text("#1.2\n3\t4\nNAME\tDescription\tS1\tS2\tS3\tS4\nTP53\tna\t1\t2\t3\t4\n"
                                    "EGFR\tna\t4\t5\t6\t7\nMYC\tna\t7\t8\t9\t10\n")
    for name, body in (("n.cls", "4 2 1\n# Tumor Normal\n0 1 0 1\n"), ("t.cls", "4 2 1\n#Tumor Normal\nT N T N\n"),
                       ("r.cls", "4 2 1\n# Tumor Normal\n1 0 1 0\n")):
        (tmp_path / name).write_text(body)
        a = read(tmp_path / "g.gct", labels=tmp_path / name)
        assert a.obs["class"].astype(str).tolist() == ["Tumor", "Normal", "Tumor", "Normal"], name
    out = tmp_path / "o.h5ad"
    assert main(["data", "prepare", str(tmp_path / "g.gct"), "--labels", str(tmp_path / "n.cls"), "--label-key",
                 "phenotype", "--genes", "all", "--min-samples", "2", "--out", str(out)]) == 0
    import anndata as ad
    assert ad.read_h5ad(out).obs["phenotype"].astype(str).tolist() == ["Tumor", "Normal", "Tumor", "Normal"]
    for body, msg in (("#numeric\n#age\n1.0 2.0 3.0 4.0\n", "is a continuous GSEA .cls"),
                      ("5 2 1\n# Tumor Normal\nT N T N N\n", "labels 5 samples in order, the data has 4"),
                      ("4 2 1\n# Tumor Normal\nT N T\n", "announces 4 samples but its label line holds 3"),
                      ("4 2 1\n# Tumor Normal\nT N X N\n", "3 different labels for the 2 classes")):
        (tmp_path / "bad.cls").write_text(body)
        capsys.readouterr()
        assert main(["data", "prepare", str(tmp_path / "g.gct"), "--labels", str(tmp_path / "bad.cls"), "--genes",
                     "all", "--out", str(tmp_path / "b.h5ad")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and msg in err and not (tmp_path / "b.h5ad").exists()


def _soft_family(samples, *, platforms=None, tables=True):
    """A GEO family SOFT file: a platform table (ID, Gene Symbol) and each sample's table (ID_REF, VALUE,
    ABS_CALL) with its !Sample_ lines; ``samples`` maps GSM accession -> (characteristics, {probe: value})."""
    lines = ["^DATABASE = GeoMiame", "!Database_name = Gene Expression Omnibus (GEO)", "^SERIES = GSE1",
             "!Series_title = a series", "^PLATFORM = GPL96", "!platform_table_begin", "ID\tGene Symbol",
             "1007_s_at\tDDR1", "1053_at\tRFC2", "117_at\tHSPA6", "!platform_table_end"]
    for i, (gsm, (chars, values)) in enumerate(samples.items()):
        lines += [f"^SAMPLE = {gsm}", f"!Sample_title = sample {i}", f"!Sample_geo_accession = {gsm}",
                  f"!Sample_platform_id = {(platforms or {}).get(gsm, 'GPL96')}"]
        lines += [f"!Sample_characteristics_ch1 = {c}" for c in chars]
        if tables:
            lines += ["!sample_table_begin", "ID_REF\tVALUE\tABS_CALL",
                      *(f"{k}\t{v}\tP" for k, v in values.items()), "!sample_table_end"]
    return "\n".join(lines) + "\n"


def test_geo_soft_files(tmp_path, capsys):
    """GEO's SOFT text: a series' family file (each sample's VALUE column joined by probe, its !Sample_ lines as
    columns, null and a probe a sample lacks missing), a curated data set (GDS: the table, its subsets as sample
    columns, IDENTIFIER kept); either labels another table, and the family file's platform maps its probes; samples
    of two platforms, samples without tables, a platform alone and a cut file refused in one line."""
    from rnagen.cli.main import main
    from rnagen.data import read_labels

    samples = {"GSM1": (["tissue: liver", "age: 40"], {"1007_s_at": 5.5, "1053_at": 7.25, "117_at": 1.0}),
               "GSM2": (["tissue: lung", "age: 50"], {"1007_s_at": 6.5, "1053_at": "null", "117_at": 2.0}),
               "GSM3": (["tissue: liver", "age: 60"], {"1007_s_at": 4.5, "117_at": 3.0})}
    fam = tmp_path / "GSE1_family.soft"
    fam.write_text(_soft_family(samples))
    a = read(fam, label_key="tissue", missing="keep")
    assert list(a.obs_names) == ["GSM1", "GSM2", "GSM3"] and list(a.var_names) == ["1007_s_at", "1053_at", "117_at"]
    np.testing.assert_array_equal(a.X, [[5.5, 7.25, 1.0], [6.5, np.nan, 2.0], [4.5, np.nan, 3.0]])
    assert a.obs["tissue"].tolist() == ["liver", "lung", "liver"] and a.obs["age"].tolist() == [40, 50, 60]
    assert a.obs["title"].tolist() == ["sample 0", "sample 1", "sample 2"] and get_history(a)[0]["format"] == "soft"
    (tmp_path / "counts.csv").write_text("gene,GSM3,GSM1,GSM2\nTP53,1,2,3\nEGFR,4,5,6\n")
    assert read_labels(fam, ["GSM3", "GSM1", "GSM2"], label_key="tissue")[1].tolist() == ["liver", "liver", "lung"]
    samples["GSM4"] = (["tissue: lung", "age: 70"], {"1007_s_at": 1.5, "1053_at": 3.5, "117_at": 2.5})
    (tmp_path / "GSE1b_family.soft").write_text(_soft_family(samples))
    assert main(["data", "prepare", str(tmp_path / "GSE1b_family.soft"), "--feature-map", str(fam), "--label-key",
                 "tissue", "--genes", "all", "--missing", "impute", "--max-missing", "0.7", "--out",
                 str(tmp_path / "f.h5ad")]) == 0
    assert "4 samples x 3 genes (symbol IDs)" in capsys.readouterr().out
    del samples["GSM4"]

    gds = tmp_path / "GDS507.soft"
    gds.write_text("^DATASET = GDS507\n!dataset_title = a data set\n^SUBSET = GDS507_1\n!subset_description = normal\n"
                   "!subset_sample_id = GSM1,GSM3\n!subset_type = disease state\n^SUBSET = GDS507_2\n"
                   "!subset_description = tumor\n!subset_sample_id = GSM2\n!subset_type = disease state\n"
                   "^DATASET = GDS507\n#ID_REF = probe\n!dataset_table_begin\nID_REF\tIDENTIFIER\tGSM1\tGSM2\tGSM3\n"
                   "1007_s_at\tDDR1\t5.5\t6.5\t4.5\n1053_at\tRFC2\t7.25\tnull\t1\n!dataset_table_end\n")
    g = read(gds, label_key="disease state", missing="keep")
    assert list(g.obs_names) == ["GSM1", "GSM2", "GSM3"] and g.obs["disease state"].tolist() == ["normal", "tumor",
                                                                                                  "normal"]
    np.testing.assert_array_equal(g.X, [[5.5, 7.25], [6.5, np.nan], [4.5, 1.0]])
    assert g.var["IDENTIFIER"].tolist() == ["DDR1", "RFC2"]
    assert read_labels(gds, ["GSM2", "GSM1"], label_key="disease state")[1].tolist() == ["tumor", "normal"]

    bad = {"two.soft": (_soft_family(samples, platforms={"GSM2": "GPL97"}), r"samples of 2 platforms \(GPL96, GPL97\)"),
           "rnaseq.soft": (_soft_family(samples, tables=False), r"sample GSM1 has no table .*rnagen data fetch geo"),
           "GPL96.soft": ("^PLATFORM = GPL96\n!platform_table_begin\nID\tGene Symbol\n1007_s_at\tDDR1\n"
                          "!platform_table_end\n", r"a platform description \(give it as --feature-map\)"),
           "cut.soft": (_soft_family(samples).rsplit("!sample_table_end", 1)[0], r"without its _table_end line"),
           # a brief series file: its series and platform records, no sample's (GEOparse's GSE105845_family.soft)
           "brief.soft": ("^SERIES = GSE105845\n!Series_title = microRNA-seq\n!Series_sample_id = GSM2828511\n"
                          "!Series_platform_id = GPL13112\n^PLATFORM = GPL13112\n!Platform_title = Illumina HiSeq "
                          "2000\n!Platform_data_row_count = 0\n",
                          r"a GEO series file without its samples' records .*give the series' full family file")}
    for name, (text, match) in bad.items():
        (tmp_path / name).write_text(text)
        assert main(["data", "prepare", str(tmp_path / name), "--genes", "all", "--out", str(tmp_path / "b.h5ad")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(match, err), err
        assert not (tmp_path / "b.h5ad").exists()


def test_expression_atlas_files(tmp_path, capsys):
    """Expression Atlas: the raw counts per run labelled by the condensed SDRF (no header; a row per run and
    variable), the experiment's factor the label without --label-key, any characteristic with it; a run with two
    values of one variable refused; a query result (a value per condition) refused naming the per-run file."""
    from rnagen.data import read_labels

    runs = ["ERR1725593", "ERR1725594", "ERR1725595", "ERR1725596"]
    rows = []
    for i, r in enumerate(runs):
        rows += [f"E-MTAB-5214\t\t{r}\tcharacteristic\torganism\tHomo sapiens\thttp://purl.obolibrary.org/obo/NCBITaxon_9606",
                 f"E-MTAB-5214\t\t{r}\tcharacteristic\tsex\t{'male' if i % 2 else 'female'}\t",
                 f"E-MTAB-5214\t\t{r}\tcharacteristic\torganism part\t{'liver' if i < 2 else 'lung'} tissue\t",
                 f"E-MTAB-5214\t\t{r}\tfactor\torganism part\t{'liver' if i < 2 else 'lung'}\t"]
    sdrf = tmp_path / "E-MTAB-5214.condensed-sdrf.tsv"
    sdrf.write_text("\n".join(rows) + "\n")
    obs = runs[::-1]
    name, lab = read_labels(sdrf, obs)
    assert name == "organism part" and list(lab) == ["lung", "lung", "liver", "liver"]   # the factor's value
    name, lab = read_labels(sdrf, obs, label_key="sex")
    assert name == "sex" and list(lab) == ["male", "female", "male", "female"]
    (tmp_path / "two.tsv").write_text("\n".join([*rows, f"E-MTAB-5214\t\t{runs[0]}\tfactor\torganism part\tlung\t"]))
    with pytest.raises(DataError, match=r"assay 'ERR1725593' has several values of 'organism part'"):
        read_labels(tmp_path / "two.tsv", obs)
    (tmp_path / "counts.tsv").write_text("Gene ID\tGene Name\t" + "\t".join(runs) + "\n"
                                         "ENSG00000141510\tTP53\t1\t2\t3\t4\nENSG00000146648\tEGFR\t5\t6\t7\t8\n")
    a = read(tmp_path / "counts.tsv", labels=sdrf)
    assert a.obs["organism part"].tolist() == ["liver", "liver", "lung", "lung"]
    from rnagen.cli.main import main

    assert main(["data", "prepare", str(tmp_path / "counts.tsv"), "--labels", str(sdrf), "--label-key", "organism",
                 "--genes", "all", "--out", str(tmp_path / "one.h5ad")]) == 0   # one class: said so, in the singular
    assert "; 1 class of 'organism' (one class: the models generate it unconditionally)" in capsys.readouterr().out
    (tmp_path / "E-MTAB-5214-query-results.tpms.tsv").write_text(
        "# Expression Atlas version: 0.1.4\n# Query: Genes matching: '', specifically expressed in any Organism part, "
        "exceeding 0.5 TPM, in experiment E-MTAB-5214\n# Timestamp: Mon, 03 Jan 2022\n"
        "Gene ID\tGene Name\tliver\tlung\nENSG00000141510\tTP53\t12\t\nENSG00000146648\tEGFR\t3\t4\n")
    with pytest.raises(DataError, match=r"an Expression Atlas query result, one value per condition.*raw-counts.tsv"):
        read(tmp_path / "E-MTAB-5214-query-results.tpms.tsv")


def test_label_column_of_a_sample_sheet_without_label_key(tmp_path):
    """Without --label-key the second column labels, unless it names each sample apart (an nf-core/rnaseq sample
    sheet: sample, fastq_1, fastq_2, strandedness, condition): then the one column that groups the samples, and
    with several such columns a refusal naming them."""
    from rnagen.data import read_labels

    obs = ["WT_REP1", "WT_REP2", "KO_REP1", "KO_REP2"]
    rows = [f"{s},/data/{s}_R1.fastq.gz,/data/{s}_R2.fastq.gz,auto,{s[:2]}" for s in obs]
    (tmp_path / "samplesheet.csv").write_text("sample,fastq_1,fastq_2,strandedness,condition\n" + "\n".join(rows))
    name, lab = read_labels(tmp_path / "samplesheet.csv", obs)
    assert name == "condition" and list(lab) == ["WT", "WT", "KO", "KO"]
    rows = [f"{r},{'batch1' if i % 2 else 'batch2'}" for i, r in enumerate(rows)]
    (tmp_path / "two.csv").write_text("sample,fastq_1,fastq_2,strandedness,condition,batch\n" + "\n".join(rows))
    with pytest.raises(DataError, match=r"its second column 'fastq_1' names each sample apart, no class; pass "
                                        r"--label-key with the column of classes \('condition', 'batch'\)"):
        read_labels(tmp_path / "two.csv", obs)
    assert list(read_labels(tmp_path / "two.csv", obs, label_key="batch")[1]) == ["batch2", "batch1"] * 2
    (tmp_path / "plain.csv").write_text("sample,group,age\n" + "\n".join(f"{s},{s[:2]},{i}" for i, s in enumerate(obs)))
    assert read_labels(tmp_path / "plain.csv", obs)[0] == "group"   # a second column of classes: as before


def test_a_split_column_is_not_taken_as_the_classes_without_label_key(tmp_path):
    """A label file whose second column says train or test (mixOmics' breast.TCGA: sample_id, split, subtype) is
    refused without --label-key, naming its other columns: a generator conditioned on it learns the two parts of
    a split; with --label-key either column is read as asked."""
    from rnagen.data import read_labels

    obs = ["A0FJ", "A13E", "A0G0", "A0SX", "A143", "A0DA"]
    split = ["train", "Train", "test", "train", "test", "train"]
    subtype = ["Basal", "LumA", "Her2", "LumA", "Basal", "Her2"]
    (tmp_path / "lab.csv").write_text("sample_id,split,subtype\n" + "".join(
        f"{o},{s},{t}\n" for o, s, t in reversed(list(zip(obs, split, subtype)))))
    with pytest.raises(DataError, match=r"label file lab.csv: its column 'split', taken as the labels without "
                                        r"--label-key, says train or test for each sample, a split, not classes; "
                                        r"pass --label-key with the column of classes \(its other columns: "
                                        r"'subtype'\)"):
        read_labels(tmp_path / "lab.csv", obs)
    name, lab = read_labels(tmp_path / "lab.csv", obs, label_key="subtype")
    assert name == "subtype" and list(lab) == subtype
    assert list(read_labels(tmp_path / "lab.csv", obs, label_key="split")[1]) == split
    (tmp_path / "two.csv").write_text("sample_id,split\n" + "".join(f"{o},{s}\n" for o, s in zip(obs, split)))
    with pytest.raises(DataError, match=r"a split, not classes; give a label file of the classes"):
        read_labels(tmp_path / "two.csv", obs)


def test_gtex_samples_labelled_by_their_donor(tmp_path):
    """GTEx's subject phenotype table labels donors (GTEX-1117F): each sample of a donor takes its row, in every
    tissue (a brain sample's extra field, a name R rewrote with dots too); a donor the table lacks is refused."""
    from rnagen.data import read_labels

    obs = ["GTEX-1117F-0226-SM-5GZZ7", "GTEX-1117F-0011-R10a-SM-AHZ7F", "GTEX.111CU.0526.SM.5EGHK",
           "GTEX-111FC-0126-SM-5N9DL"]
    (tmp_path / "GTEx_Analysis_v8_Annotations_SubjectPhenotypesDS.txt").write_text(
        "SUBJID\tSEX\tAGE\tDTHHRDY\nGTEX-1117F\t2\t60-69\t4\nGTEX-111CU\t1\t50-59\t0\nGTEX-111FC\t1\t60-69\t1\n"
        "GTEX-111VG\t1\t60-69\t3\n")
    name, lab = read_labels(tmp_path / "GTEx_Analysis_v8_Annotations_SubjectPhenotypesDS.txt", obs, label_key="AGE")
    assert name == "AGE" and list(lab) == ["60-69", "60-69", "50-59", "60-69"]
    (tmp_path / "few.txt").write_text("SUBJID\tAGE\nGTEX-1117F\t60-69\nGTEX-111CU\t50-59\n")
    with pytest.raises(DataError, match=r"no row for 1 of 4 samples \(e.g. 'GTEX-111FC-0126-SM-5N9DL'\)"):
        read_labels(tmp_path / "few.txt", obs, label_key="AGE")


def test_tcga_samples_labelled_by_longer_barcodes(tmp_path):
    """cBioPortal names samples TCGA-A1-A0SB-01; a phenotype table gives TCGA-A1-A0SB-01A (or aliquots): each
    sample takes the label of the rows that extend it when they agree; two vials with different labels, or
    a participant's id in the data, find none."""
    (tmp_path / "m.txt").write_text("Hugo_Symbol\tEntrez_Gene_Id\tTCGA-A1-A0SB-01\tTCGA-A1-A0SD-01\tTCGA-A1-A0SE-01\n"
                                    "TP53\t7157\t1\t2\t3\nEGFR\t1956\t4\t5\t6\n")
    (tmp_path / "p.tsv").write_text("sample\tsubtype\nTCGA-A1-A0SB-01A\tLumA\nTCGA-A1-A0SD-01A-11R-A144-07\tBasal\n"
                                    "TCGA-A1-A0SD-01A-11R-A145-07\tBasal\nTCGA-A1-A0SE-01A\tLumB\n"
                                    "TCGA-A1-A0SE-11A\tNormal\n")
    a = read(tmp_path / "m.txt", labels=tmp_path / "p.tsv", label_key="subtype")
    assert a.obs["subtype"].astype(str).tolist() == ["LumA", "Basal", "LumB"]
    (tmp_path / "q.tsv").write_text("sample\tsubtype\nTCGA-A1-A0SB-01A\tLumA\nTCGA-A1-A0SB-01B\tBasal\n"
                                    "TCGA-A1-A0SD-01A\tBasal\nTCGA-A1-A0SE-01A\tLumB\n")
    with pytest.raises(DataError, match=r"no row for 1 of 3 samples \(e.g. 'TCGA-A1-A0SB-01'\)"):
        read(tmp_path / "m.txt", labels=tmp_path / "q.tsv", label_key="subtype")
    (tmp_path / "part.txt").write_text("gene\tTCGA-A1-A0SB\tTCGA-A1-A0SD\nTP53\t1\t2\nEGFR\t3\t4\n")
    with pytest.raises(DataError, match=r"no row for 2 of 2 samples"):
        read(tmp_path / "part.txt", labels=tmp_path / "p.tsv", label_key="subtype")


# ------------------------------------------------------------------------------------------ recount3

def _recount3(tmp_path, *, name="sra.gene_sums.SRP012345.G026.gz", preamble=True, exons=False):
    """A recount3 sums file as the project writes it (two ## lines, gene_id then the runs, gzip) and its QC
    table (rail_id, external_id, study, ... star.average_mapped_length; paired runs map twice the read length),
    from read counts: the coverage is each read's aligned length summed."""
    rng = np.random.default_rng(3)
    lm = datasets.landmarks()
    runs = ["SRR100", "SRR101", "SRR102", "SRR103"]
    length = np.array([76.0, 100.0, 202.0, 150.0])
    counts = rng.poisson(rng.gamma(0.6, 400.0, size=(40, 1)), size=(40, 4)).astype(np.int64)
    coverage = counts * length.astype(np.int64)
    ids = ([f"chr1|{10000 + 500 * i}|{10300 + 500 * i}|+" for i in range(40)] if exons
           else list(lm["ensembl_id_versioned_gtex_v8"][:40]))
    head = ("##annotation=G026\n##date.generated=2020-07-28\n" if preamble else "")
    text = head + ("chromosome|start_1base|end_1base|strand" if exons else "gene_id") + "\t" + "\t".join(runs) + "\n"
    text += "".join(g + "\t" + "\t".join(str(v) for v in row) + "\n" for g, row in zip(ids, coverage))
    (tmp_path / name).write_bytes(gzip.compress(text.encode()))
    qc = pd.DataFrame({"rail_id": [1, 2, 3, 4], "external_id": runs, "study": "SRP012345",
                       "star.all_mapped_reads": counts.sum(0), "star.average_input_read_length": [76, 100, 101, 150],
                       "star.average_mapped_length": length, "star.average_mapped_length2": [1.0] * 4})
    qc.to_csv(tmp_path / "sra.recount_qc.SRP012345.MD.gz", sep="\t", index=False, compression="gzip")
    return tmp_path / name, tmp_path / "sra.recount_qc.SRP012345.MD.gz", runs, ids, counts


def test_recount3_sums_are_coverage_read_as_counts(tmp_path):
    """recount3's gene sums hold base-pair coverage (Wilks et al. 2021): read as counts only with the project's QC
    table (coverage / each run's star.average_mapped_length, recount3::compute_read_counts), kept as coverage
    when asked, and refused without either (it was read as counts: every value ~100x a count)."""
    sums, qc, runs, ids, counts = _recount3(tmp_path)
    with pytest.raises(DataError, match=r"recount3's sums are base-pair coverage .* --recount-qc .* --quantity "
                                        r"coverage"):
        read(sums)
    a = read(sums, recount_qc=qc)
    assert list(a.obs_names) == runs and list(a.var_names) == ids
    np.testing.assert_array_equal(a.X, counts.T.astype(np.float32))
    h = get_history(a)[0]
    assert h["quantity"] == "read counts" and h["recount_qc"] == qc.name
    assert "average mapped length: read counts" in h["orientation"] and list(h["mapped_length_range"]) == [76.0, 202.0]
    c = read(sums, quantity="coverage")
    np.testing.assert_array_equal(c.X, (counts * np.array([76, 100, 202, 150])).T.astype(np.float32))
    assert get_history(c)[0]["quantity"] == "base-pair coverage"
    # known by its name alone (the ## lines removed), and exon sums (features chr|start|end|strand) alike
    bare, _, _, _, _ = _recount3(tmp_path, name="gtex.gene_sums.BLADDER.G026.gz", preamble=False)
    np.testing.assert_array_equal(read(bare, recount_qc=qc).X, counts.T.astype(np.float32))
    ex, _, _, exon_ids, _ = _recount3(tmp_path, name="sra.exon_sums.SRP012345.G026.gz", exons=True)
    e = read(ex, recount_qc=qc)
    assert list(e.var_names) == exon_ids and list(e.obs_names) == runs
    np.testing.assert_array_equal(e.X, counts.T.astype(np.float32))
    for kw, msg in (({"quantity": "tpm"}, "hold base-pair coverage, not TPM"),
                    ({"quantity": "coverage", "recount_qc": qc}, "remove it or --quantity coverage")):
        with pytest.raises(DataError, match=msg):
            read(sums, **kw)


def test_packed_sample_attributes_label_samples(tmp_path):
    """recount3's SRA metadata packs each run's attributes into one column (key;;value|key;;value): a key is a
    label column, by its name or as recount3::expand_sra_attributes names it; a missing key lists them."""
    sums, _, runs, _, _ = _recount3(tmp_path)
    treat = ["control", "drug", "control", "drug"]
    cells = ["HeLa", "HeLa", "K562", "K562"]
    pd.DataFrame({"rail_id": [1, 2, 3, 4], "external_id": runs, "study": "SRP012345",
                  "sample_attributes": [f"cell type;;{c}|treatment;;{t}" for c, t in zip(cells, treat)]}).to_csv(
        tmp_path / "sra.sra.SRP012345.MD.gz", sep="\t", index=False, compression="gzip")
    md = tmp_path / "sra.sra.SRP012345.MD.gz"
    assert read(sums, quantity="coverage", labels=md, label_key="treatment").obs["treatment"].tolist() == treat
    a = read(sums, quantity="coverage", labels=md, label_key="sra_attribute.cell_type")
    assert a.obs["sra_attribute.cell_type"].tolist() == cells
    with pytest.raises(DataError, match=r"label column 'tissue' not in label file .*cell type, .*treatment"):
        read(sums, quantity="coverage", labels=md, label_key="tissue")


def test_recount3_qc_table_must_fit(tmp_path):
    """A QC table lacking a run, its mapped length or the column is refused naming it; so are the recount3
    options on data that are not recount3 sums."""
    sums, qc, runs, _, _ = _recount3(tmp_path)
    full = pd.read_csv(qc, sep="\t")
    full.iloc[1:].to_csv(tmp_path / "less.tsv", sep="\t", index=False)
    with pytest.raises(DataError, match=r"recount3 QC file less.tsv: 1 of the 4 runs have no row \(e.g. 'SRR100'\)"):
        read(sums, recount_qc=tmp_path / "less.tsv")
    failed = full.copy()
    failed.loc[2, "star.average_mapped_length"] = np.nan
    failed.to_csv(tmp_path / "failed.tsv", sep="\t", index=False)
    with pytest.raises(DataError, match=r"1 run\(s\) without a mapped length \(e.g. 'SRR102'"):
        read(sums, recount_qc=tmp_path / "failed.tsv")
    full.drop(columns=["star.average_mapped_length"]).to_csv(tmp_path / "other.tsv", sep="\t", index=False)
    with pytest.raises(DataError, match="no star.average_mapped_length column"):
        read(sums, recount_qc=tmp_path / "other.tsv")
    # sample metadata exported from the RangedSummarizedExperiment names the column with its origin
    merged = full.rename(columns={"star.average_mapped_length": "recount_qc.star.average_mapped_length"})
    merged.to_csv(tmp_path / "coldata.csv", index=False)
    assert read(sums, recount_qc=tmp_path / "coldata.csv").n_obs == 4
    with pytest.raises(DataError, match="check the --recount-qc path"):
        read(sums, recount_qc=tmp_path / "absent.tsv")
    (tmp_path / "plain.tsv").write_text("gene\tS1\tS2\nTP53\t1\t2\nEGFR\t3\t4\n")
    for kw in ({"recount_qc": qc}, {"quantity": "coverage"}):
        with pytest.raises(DataError, match="applies to recount3's gene or exon sums"):
            read(tmp_path / "plain.tsv", **kw)


def test_recount3_cli(tmp_path, capsys):
    """prepare reads the counts with --recount-qc, refuses (exit 2, nothing written) without; the coverage
    kept and normalised to CPM equals the counts' CPM (the read length cancels); info says what the values are."""
    import anndata as ad

    from rnagen.cli.main import main

    sums, qc, _, _, _ = _recount3(tmp_path)
    out = tmp_path / "p.h5ad"
    assert main(["data", "prepare", str(sums), "--genes", "all", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--recount-qc" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main(["data", "prepare", str(sums), "--recount-qc", str(qc), "--genes", "all", "--normalize", "cpm",
                 "--out", str(out)]) == 0
    assert main(["data", "prepare", str(sums), "--quantity", "coverage", "--genes", "all", "--normalize", "cpm",
                 "--out", str(tmp_path / "cov.h5ad")]) == 0
    np.testing.assert_allclose(ad.read_h5ad(out).X, ad.read_h5ad(tmp_path / "cov.h5ad").X, rtol=1e-5)
    capsys.readouterr()
    assert main(["data", "prepare", str(sums), "--quantity", "coverage", "--genes", "all", "--out",
                 str(tmp_path / "cov2.h5ad")]) == 0
    assert "the values are recount3's base-pair coverage" in capsys.readouterr().out
    assert main(["data", "info", str(sums)]) == 0
    assert "recount3 base-pair coverage, not read counts" in capsys.readouterr().out


def test_r_write_table_default_space_separated(tmp_path):
    """R's write.table() writes space-separated, quoted fields with the header one field short (no name above
    the row names): read as the table it is, genes x samples or samples x genes with a label column whose
    values hold spaces; a file of labels with spaces in them is not split on them."""
    genes = ["TP53", "EGFR", "MYC", "GAPDH"]
    X = np.arange(24, dtype=np.float32).reshape(4, 6) * 1.5
    (tmp_path / "m.txt").write_text(" ".join(f'"S{j}"' for j in range(1, 7)) + "\n" + "".join(
        f'"{g}" ' + " ".join(f"{v:g}" for v in row) + "\n" for g, row in zip(genes, X)))
    a = read(tmp_path / "m.txt")
    assert list(a.obs_names) == [f"S{j}" for j in range(1, 7)] and list(a.var_names) == genes
    np.testing.assert_array_equal(a.X, X.T)
    tissues = ["Adipose Tissue", "Brain - Cortex"] * 3
    (tmp_path / "df.txt").write_text('"tissue" ' + " ".join(f'"{g}"' for g in genes) + "\n" + "".join(
        f'"S{j + 1}" "{t}" ' + " ".join(f"{v:g}" for v in X[:, j]) + "\n" for j, t in enumerate(tissues)))
    d = read(tmp_path / "df.txt", label_key="tissue")
    assert d.obs["tissue"].astype(str).tolist() == tissues and list(d.var_names) == genes
    np.testing.assert_array_equal(d.X, X.T)
    (tmp_path / "lab.txt").write_text("\n".join(tissues) + "\n")
    assert read(tmp_path / "m.txt", labels=tmp_path / "lab.txt").obs["label"].astype(str).tolist() == tissues


@pytest.mark.parametrize("header", ["baseMean,log2FoldChange,lfcSE,stat,pvalue,padj",      # DESeq2
                                    "logFC,logCPM,F,PValue,FDR",                           # edgeR
                                    "logFC,AveExpr,t,P.Value,adj.P.Val,B"])               # limma
def test_a_differential_expression_table_is_not_profiles(tmp_path, header):
    """A DE result table (one row per gene, statistics as columns) was read as that many 'samples'."""
    cols = header.split(",")
    rng = np.random.default_rng(0)
    (tmp_path / "res.csv").write_text("," + header + "\n" + "".join(
        f"G{i}," + ",".join(f"{v:.4g}" for v in rng.uniform(0, 1, len(cols))) + "\n" for i in range(30)))
    with pytest.raises(DataError, match=r"res.csv: a differential-expression result table .*not expression "
                                        r"profiles"):
        read(tmp_path / "res.csv")


def _listing_counted(monkeypatch, folder):
    """Count each listing of ``folder`` (os.scandir, os.listdir, Path.iterdir); a listing of it raises where the
    returned list holds ``"refuse"``."""
    import pathlib

    seen: list[str] = []

    def spy(name, real):
        def listed(path=".", *a, **k):
            if os.path.realpath(os.fspath(path)) == os.path.realpath(folder):
                seen.append(name)
                if "refuse" in seen:
                    raise RuntimeError(f"{folder} listed by {name}")
            return real(path, *a, **k)
        return listed

    monkeypatch.setattr(os, "scandir", spy("scandir", os.scandir))
    monkeypatch.setattr(os, "listdir", spy("listdir", os.listdir))
    monkeypatch.setattr(pathlib.Path, "iterdir", spy("iterdir", pathlib.Path.iterdir))
    return seen


def test_a_read_does_not_list_the_file_s_folder(tmp_path, monkeypatch):
    """A read of one file in a folder of many (a downloads folder, a quantification folder) does not list the folder;
    a pair a killed command was replacing together (records named by its process id) is still found by the read of
    either file, by the mark beside it, and the old pair put back."""
    import signal
    import subprocess
    import sys

    header = "sample,TP53,EGFR,MYC\n"
    old = {n: header + f"s1,1,2,{k}\ns2,4,5,6\n" for k, n in enumerate(("a.csv", "b.csv"))}
    for n, text in old.items():
        (tmp_path / n).write_text(text)
    for j in range(50):
        (tmp_path / f"other{j}.txt").write_text("x")
    seen = _listing_counted(monkeypatch, tmp_path)
    seen.append("refuse")
    a = read(tmp_path / "a.csv")
    assert list(a.var_names) == ["TP53", "EGFR", "MYC"] and seen == ["refuse"]
    monkeypatch.undo()
    # a process killed (SIGKILL) between the pair's two moves: a.csv is its, b.csv the old one
    new = (header + "s1,9,9,9\ns2,9,9,9\n", header + "s1,8,8,8\ns2,8,8,8\n")
    code = ("import os, signal\nfrom pathlib import Path\nfrom rnagen._io import atomic_paths\nreal = os.replace\n"
            "def replace(src, dst, *x, **k):\n    real(src, dst, *x, **k)\n"
            "    if '.tmp' in os.fspath(src) and os.path.basename(dst) == 'a.csv':\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "os.replace = replace\n"
            f"with atomic_paths([Path({str(tmp_path / 'a.csv')!r}), Path({str(tmp_path / 'b.csv')!r})]) as (x, y):\n"
            f"    x.write_text({new[0]!r})\n    y.write_text({new[1]!r})\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == -signal.SIGKILL
    assert [(tmp_path / n).read_text() for n in old] == [new[0], old["b.csv"]]
    seen = _listing_counted(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)   # the file named relative to the working folder, its record by its full path
    b = read("b.csv")
    assert seen and {n: (tmp_path / n).read_text() for n in old} == old   # the old pair whole again
    np.testing.assert_array_equal(b.X, [[1, 2, 1], [4, 5, 6]])
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("other")
                  and not p.name.endswith(".tmp.csv")) == ["a.csv", "b.csv"]   # no record, no mark, no old file
    # what the kill left is settled: the next read lists nothing
    seen.clear()
    seen.append("refuse")
    read(tmp_path / "a.csv")


def test_feather_is_read_and_pickles_and_arrays_are_named(tmp_path):
    """pandas' to_feather (Arrow IPC) reads as parquet does; a pickle is not loaded (it would run the file's
    code) and a NumPy array has no names: each named with the way on, not 'binary content'."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.poisson(50, (6, 4)).astype(np.float32), index=[f"S{i}" for i in range(6)],
                      columns=["TP53", "EGFR", "MYC", "GAPDH"])
    df.assign(tissue=["a", "b"] * 3).reset_index(names="sample").to_feather(tmp_path / "x.feather")
    a = read(tmp_path / "x.feather", label_key="tissue")
    assert list(a.obs_names) == list(df.index) and list(a.var_names) == list(df.columns)
    np.testing.assert_array_equal(a.X, df.to_numpy())
    assert a.obs["tissue"].astype(str).tolist() == ["a", "b"] * 3 and get_history(a)[0]["format"] == "feather"
    df.to_pickle(tmp_path / "x.pkl")
    with pytest.raises(DataError, match=r"x.pkl: a Python pickle, which is not loaded .*to_parquet"):
        read(tmp_path / "x.pkl")
    np.save(tmp_path / "x.npy", df.to_numpy())
    with pytest.raises(DataError, match=r"x.npy: a NumPy array, without sample or gene names"):
        read(tmp_path / "x.npy")


def test_depmap_symbol_entrez_names(tmp_path):
    """DepMap's tables name genes 'TP53 (7157)' (CCLE expression, gene effects): read by the Entrez id, the
    symbol kept, and counted as genes (they were 'other IDs', so no landmark was found)."""
    from rnagen import datasets

    lm = datasets.landmarks()
    syms, ent = list(lm["symbol"][:40]), [str(e) for e in lm["entrez_id"][:40]]
    X = np.random.default_rng(0).gamma(2.0, 1.0, size=(6, 40)).round(3)
    cell = [f"ACH-{i:06d}" for i in range(6)]
    pd.DataFrame(X, index=cell, columns=[f"{s} ({e})" for s, e in zip(syms, ent)]).to_csv(tmp_path / "dm.csv")
    a = read(tmp_path / "dm.csv")
    assert list(a.obs_names) == cell and list(a.var_names) == ent and a.var["symbol"].tolist() == syms
    np.testing.assert_allclose(a.X, X.astype(np.float32))
    assert get_history(a)[0]["n_symbol_entrez_ids"] == 40
    ens = [str(e) for e in lm["ensembl_id"][:40]]
    pd.DataFrame(X, index=cell, columns=[f"{s} ({e})" for s, e in zip(syms, ens)]).to_csv(tmp_path / "dm2.csv")
    b = read(tmp_path / "dm2.csv")
    assert list(b.var_names) == ens and b.var["symbol"].tolist() == syms


def test_illumina_detection_p_values_are_no_samples(tmp_path):
    """Illumina BeadArray tables: a 'Detection Pval' column after each sample (GEO's non-normalised tables) was
    read as repeated samples, and the fix the error offered (--duplicates first) would have kept one as a
    sample; GenomeStudio's S.AVG_Signal / S.Detection Pval / S.BEAD_STDERR / S.Avg_NBEADS columns are read as
    each sample's AVG_Signal; a MAGE-TAB matrix of VALUE and Detection Pval per sample reads its VALUEs."""
    probes = ["ILMN_1343291", "ILMN_1343295", "ILMN_1651199", "ILMN_1651209"]
    rng = np.random.default_rng(0)
    X = rng.uniform(5, 12, size=(4, 3)).round(3)
    P = rng.uniform(0, 1, size=(4, 3)).round(3)
    head = "ID_REF\t" + "\t".join(f"GSM{j}\tDetection Pval" for j in range(3)) + "\n"
    (tmp_path / "geo.txt").write_text(head + "".join(
        p + "\t" + "\t".join(f"{x}\t{q}" for x, q in zip(xr, pr)) + "\n" for p, xr, pr in zip(probes, X, P)))
    a = read(tmp_path / "geo.txt")
    assert list(a.obs_names) == ["GSM0", "GSM1", "GSM2"] and list(a.var_names) == probes
    np.testing.assert_allclose(a.X, X.T.astype(np.float32))
    assert "3 detection p-value columns dropped" in get_history(a)[0]["orientation"]
    stats = ["AVG_Signal", "Detection Pval", "BEAD_STDERR", "Avg_NBEADS"]
    head = "PROBE_ID\tSYMBOL\tARRAY_ADDRESS_ID\t" + "\t".join(f"S{j}.{s}" for j in range(3) for s in stats) + "\n"
    (tmp_path / "gs.txt").write_text(head + "".join(
        f"{p}\tG{i}\t{1000 + i}\t" + "\t".join(f"{x}\t{q}\t0.1\t20" for x, q in zip(xr, pr)) + "\n"
        for i, (p, xr, pr) in enumerate(zip(probes, X, P))))
    g = read(tmp_path / "gs.txt")
    assert list(g.obs_names) == ["S0", "S1", "S2"] and list(g.var_names) == probes
    assert g.var["SYMBOL"].tolist() == ["G0", "G1", "G2", "G3"]
    np.testing.assert_allclose(g.X, X.T.astype(np.float32))
    assert "GenomeStudio: each of 3 samples' AVG_Signal; 10 other columns dropped" in get_history(g)[0]["orientation"]
    (tmp_path / "mt.txt").write_text(
        "Hybridization REF\t" + "\t".join(f"S{j}\tS{j}" for j in range(3)) + "\n"
        + "Reporter REF\t" + "\t".join(["VALUE\tDetection Pval"] * 3) + "\n" + "".join(
            p + "\t" + "\t".join(f"{x}\t{q}" for x, q in zip(xr, pr)) + "\n" for p, xr, pr in zip(probes, X, P)))
    m = read(tmp_path / "mt.txt")
    assert list(m.obs_names) == ["S0", "S1", "S2"]
    np.testing.assert_allclose(m.X, X.T.astype(np.float32))
    assert "the 'VALUE' columns of a MAGE-TAB data matrix: 3 of its 6 columns" in get_history(m)[0]["orientation"]


def test_excel_sep_directive_line(tmp_path):
    """A CSV written for Excel may open with 'sep=;' (the separator it uses): it was taken for a second header of
    quantities; it names the separator and is skipped, in data and label files."""
    (tmp_path / "x.csv").write_text("sep=;\ngene;S1;S2;S3\nTP53;1,5;2;3\nEGFR;4;5;6\nMYC;7;8;9\n")
    (tmp_path / "lab.csv").write_text('"sep=,"\nsample,group\nS1,a\nS2,b\nS3,a\n')
    a = read(tmp_path / "x.csv", labels=tmp_path / "lab.csv")
    assert list(a.obs_names) == ["S1", "S2", "S3"] and list(a.var_names) == ["TP53", "EGFR", "MYC"]
    np.testing.assert_array_equal(a.X, [[1.5, 4, 7], [2, 5, 8], [3, 6, 9]])
    assert a.obs["group"].tolist() == ["a", "b", "a"]


def test_labels_before_sample_ids(tmp_path):
    """A two-column label file with the labels first and the sample ids second (group, sample) labels the
    samples; its first column was taken for the ids ('sample id a appears twice with different labels')."""
    (tmp_path / "x.csv").write_text("gene,S1,S2,S3\nTP53,1,2,3\nEGFR,4,5,6\nMYC,7,8,9\n")
    (tmp_path / "rev.csv").write_text("group,sample\na,S3\nb,S2\na,S1\n")
    assert read(tmp_path / "x.csv", labels=tmp_path / "rev.csv").obs["group"].tolist() == ["a", "b", "a"]
    (tmp_path / "rev2.csv").write_text("a,S3\nb,S2\na,S1\n")   # no header
    assert read(tmp_path / "x.csv", labels=tmp_path / "rev2.csv").obs["label"].tolist() == ["a", "b", "a"]


def test_repeated_symbols_beside_unique_gene_ids(tmp_path, capsys):
    """Genes named by symbols that repeat (two Y_RNA genes) beside a column of unique Ensembl ids: named by the ids
    (the symbols kept), not refused as duplicates with the advice to average two different genes; a repeated id
    is still a duplicate."""
    from rnagen.cli.main import main

    (tmp_path / "x.csv").write_text("gene_name,gene_id,S1,S2,S3\nTP53,ENSG00000141510,1,2,3\n"
                                    "Y_RNA,ENSG00000201098,4,5,6\nY_RNA,ENSG00000199568,7,8,9\n"
                                    "MYC,ENSG00000136997,1,1,1\n")
    a = read(tmp_path / "x.csv")
    assert list(a.var_names) == ["ENSG00000141510", "ENSG00000201098", "ENSG00000199568", "ENSG00000136997"]
    assert a.var["symbol"].tolist() == ["TP53", "Y_RNA", "Y_RNA", "MYC"]
    np.testing.assert_array_equal(a.X[:, 1:3], [[4, 7], [5, 8], [6, 9]])
    assert get_history(a)[0]["gene_ids_from"] == "gene_id"
    assert main(["data", "prepare", str(tmp_path / "x.csv"), "--genes", "all", "--out", str(tmp_path / "p.h5ad")]) == 0
    assert "genes named by their 'gene_id' column" in capsys.readouterr().out
    (tmp_path / "y.csv").write_text("gene_name,gene_id,S1,S2\nTP53,ENSG00000141510,1,2\nY_RNA,ENSG00000201098,4,5\n"
                                    "Y_RNA,ENSG00000201098,7,8\nMYC,ENSG00000136997,1,1\n")
    with pytest.raises(DataError, match="duplicated gene ids"):
        read(tmp_path / "y.csv")


def test_opendocument_spreadsheet(tmp_path):
    """LibreOffice's .ods (a zip archive, which was refused as one to unzip) reads as an Excel sheet does, by
    content whatever its name; labels may be one too."""
    genes = ["TP53", "EGFR", "MYC", "GAPDH"]
    X = np.arange(12, dtype=np.float32).reshape(4, 3) * 2.5
    pd.DataFrame(X, index=pd.Index(genes, name="gene"), columns=["S1", "S2", "S3"]).to_excel(
        tmp_path / "x.ods", engine="odf")
    pd.DataFrame({"sample": ["S1", "S2", "S3"], "group": ["a", "b", "a"]}).to_excel(
        tmp_path / "lab.ods", engine="odf", index=False)
    a = read(tmp_path / "x.ods", labels=tmp_path / "lab.ods")
    assert list(a.obs_names) == ["S1", "S2", "S3"] and list(a.var_names) == genes
    np.testing.assert_array_equal(a.X, X.T)
    assert a.obs["group"].tolist() == ["a", "b", "a"] and get_history(a)[0]["format"] == "ods"
    (tmp_path / "x.ods").rename(tmp_path / "x.dat")
    assert read(tmp_path / "x.dat").n_obs == 3


def test_a_row_of_groups_above_the_header(tmp_path, capsys):
    """A spreadsheet's merged cells over each group of samples (',Control,,,Treated,,' above the sample ids),
    saved as CSV or kept in the workbook: the header is the sample ids, the groups a label column ('group', or
    the name in the row's first cell); before, the group row was the header and the ids 'a row of labels'."""
    from rnagen.cli.main import main

    genes = ["TP53", "EGFR", "MYC", "GAPDH", "KRAS", "ACTB", "PSME1", "CISD1"]
    samples = ["ctrl_1", "ctrl_2", "ctrl_3", "trt_1", "trt_2", "trt_3"]
    X = np.arange(48, dtype=np.float32).reshape(8, 6)
    rows = [["", "Control", "", "", "Treated", "", ""], ["gene", *samples],
            *[[g, *[f"{v:g}" for v in r]] for g, r in zip(genes, X)]]
    (tmp_path / "g.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    want = ["Control"] * 3 + ["Treated"] * 3
    a = read(tmp_path / "g.csv", label_key="group")
    assert list(a.obs_names) == samples and list(a.var_names) == genes and a.obs["group"].tolist() == want
    np.testing.assert_array_equal(a.X, X.T)
    assert "a row of groups above the header: obs 'group'" in get_history(a)[0]["orientation"]
    cells = pd.DataFrame([[np.nan if v == "" else v for v in r] for r in rows], dtype=object)
    cells.iloc[0, 0] = "condition"
    cells.iloc[2:, 1:] = cells.iloc[2:, 1:].astype(float)
    cells.to_excel(tmp_path / "g.xlsx", header=False, index=False)
    b = read(tmp_path / "g.xlsx", label_key="condition")
    assert list(b.obs_names) == samples and b.obs["condition"].tolist() == want
    np.testing.assert_array_equal(b.X, X.T)
    assert main(["data", "prepare", str(tmp_path / "g.csv"), "--label-key", "group", "--genes", "all", "--out",
                 str(tmp_path / "g.h5ad")]) == 0
    assert "2 classes of 'group'" in capsys.readouterr().out
    # each sample's group written out (a CSV of a sheet whose merged cells were unmerged, or typed so): the same;
    # it was the header, and the ids "a row of labels" to pass as --label-key
    rows[0] = ["", *want, ""][:7]
    (tmp_path / "every.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    c = read(tmp_path / "every.csv", label_key="group")
    assert list(c.obs_names) == samples and c.obs["group"].tolist() == want
    np.testing.assert_array_equal(c.X, X.T)
    # a row of distinct names above a row of repeated ones is a header over a row of labels, not groups
    rows[0], rows[1] = ["gene", *samples], ["arm", *want]
    (tmp_path / "labels_row.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    assert read(tmp_path / "labels_row.csv", label_key="arm").obs["arm"].tolist() == want


def test_a_table_aligned_by_runs_of_spaces(tmp_path):
    """A table printed in columns (print(df), column -t: runs of spaces, the header over the values, or one field
    short above the row names) reads as the table it is; it was 'no data rows'."""
    genes = ["TP53", "EGFR", "MYC", "GAPDH", "KRAS", "ACTB"]
    X = np.arange(24, dtype=np.float32).reshape(6, 4) + 0.5
    body = "".join(f"{g:<8} " + "  ".join(f"{v:>6}" for v in r) + "\n" for g, r in zip(genes, X))
    for name, head in (("a.txt", "gene       S1      S2      S3      S4\n"),
                       ("b.txt", "           S1      S2      S3      S4\n")):
        (tmp_path / name).write_text(head + body)
        a = read(tmp_path / name)
        assert list(a.obs_names) == ["S1", "S2", "S3", "S4"] and list(a.var_names) == genes, name
        np.testing.assert_array_equal(a.X, X.T)


@pytest.mark.parametrize("mark", ["'--", "[Not Available]", "not reported", "[Unknown]"])
def test_portal_missing_value_marks_are_no_class(tmp_path, mark):
    """The GDC portal's clinical tables write '-- where a value is missing, TCGA's legacy clinical data
    [Not Available] or [Unknown], the GDC 'not reported': each was a class of its own; now a missing label
    (refused, or dropped with --drop-unlabelled)."""
    (tmp_path / "x.csv").write_text("gene,S1,S2,S3,S4\nTP53,1,2,3,4\nEGFR,4,5,6,7\nMYC,7,8,9,1\n")
    (tmp_path / "clinical.tsv").write_text(f"sample\tstage\nS1\tStage I\nS2\t{mark}\nS3\tStage II\nS4\tStage I\n")
    with pytest.raises(DataError, match=r"1 of 4 samples have no 'stage' label .*first: sample 'S2'"):
        read(tmp_path / "x.csv", labels=tmp_path / "clinical.tsv", label_key="stage")
    a = read(tmp_path / "x.csv", labels=tmp_path / "clinical.tsv", label_key="stage", drop_unlabelled=True)
    assert list(a.obs_names) == ["S1", "S3", "S4"] and sorted(a.obs["stage"].cat.categories) == ["Stage I", "Stage II"]


def test_parquet_and_feather_label_tables(tmp_path):
    """A sample table saved by pandas (parquet with its index, Feather with a column of ids) labels the samples;
    both were refused as binary files."""
    (tmp_path / "x.csv").write_text("gene,S1,S2,S3\nTP53,1,2,3\nEGFR,4,5,6\nMYC,7,8,9\n")
    meta = pd.DataFrame({"group": ["a", "b", "a"], "batch": [1.0, 2.0, 1.0]}, index=pd.Index(["S3", "S1", "S2"],
                                                                                               name="sample"))
    meta.to_parquet(tmp_path / "meta.parquet")
    meta.reset_index().to_feather(tmp_path / "meta.feather")
    for name in ("meta.parquet", "meta.feather"):
        a = read(tmp_path / "x.csv", labels=tmp_path / name, label_key="group")
        assert a.obs["group"].tolist() == ["b", "a", "a"], name
        assert read(tmp_path / "x.csv", labels=tmp_path / name, label_key="batch").obs["batch"].tolist() == \
            ["2", "1", "1"]


@pytest.mark.parametrize("ext", ["parquet", "feather"])
def test_a_parquet_or_feather_label_table_is_read_by_its_id_and_label_columns(tmp_path, monkeypatch, ext):
    """With --label-key, a parquet or Feather label table is read by the two columns the labels need (the sample
    ids: pandas' index, else the first column; the label column), not its other columns, and labels the samples as
    the whole table does: the same labels, the same warning of rows naming no sample. Where the id column leaves
    a sample unlabelled (its id in another column, a run table), the whole table is read and labels it."""
    import rnagen.data.io as rio
    from rnagen.data import read_labels

    obs = ["S1", "S2", "S3"]
    extra = {f"qc_{k}": np.arange(4.0) + k for k in range(30)}
    meta = pd.DataFrame({"group": ["a", "b", "a", "c"], **extra, "batch": [1.0, 2.0, 1.0, 3.0]},
                        index=pd.Index(["S3", "S1", "S2", "S9"], name="sample"))
    runs = pd.DataFrame({"patient": ["P1", "P2", "P3"], "group": ["x", "y", "z"], "run": ["S2", "S3", "S1"]})
    if ext == "parquet":
        meta.to_parquet(tmp_path / "meta.parquet")
        runs.to_parquet(tmp_path / "runs.parquet", index=False)
    else:
        meta.reset_index().to_feather(tmp_path / "meta.feather")
        runs.to_feather(tmp_path / "runs.feather")
    asked: list = []
    reader = getattr(pd, f"read_{ext}")
    monkeypatch.setattr(pd, f"read_{ext}", lambda path, columns=None, **kw: (asked.append(columns),
                                                                           reader(path, columns=columns, **kw))[1])
    for key, want in (("group", ["b", "a", "a"]), ("batch", ["2", "1", "1"])):
        with pytest.warns(UserWarning, match=r"1 of its 4 sample ids name no sample of the data \('S9'\)"):
            name, lab = read_labels(tmp_path / f"meta.{ext}", obs, label_key=key)
        assert name == key and list(lab) == want
        assert asked == [[key] if ext == "parquet" else ["sample", key]], asked
        with pytest.warns(UserWarning, match="1 of its 4 sample ids"):   # the whole table's rows, as read before
            whole = rio._labels_by_id(rio._label_rows(tmp_path / f"meta.{ext}", sep=None), obs, label_key=key,
                                      source=f"meta.{ext}")
        assert whole[0] == name and list(whole[1]) == list(lab) and asked[1:] == [None]
        asked.clear()
    name, lab = read_labels(tmp_path / f"runs.{ext}", obs, label_key="group")
    assert list(lab) == ["z", "x", "y"]
    assert asked == [["patient", "group"], None]   # the two columns, then the whole table


def test_label_files_in_archives(tmp_path):
    """The GDC portal's clinical cart (a tar.gz of clinical.tsv, exposure.tsv, ...) labels TCGA samples by its
    clinical.tsv (a case on several rows, '--' missing); a zip of one table is that table; an archive of several
    other tables, or of none, is refused naming them."""
    import tarfile
    import zipfile

    from rnagen.data import read_labels

    obs = ["TCGA-A1-A0SB-01A-11R-A144-07", "TCGA-A2-A04P-01A-31R-A034-07", "TCGA-AN-A0FL-01A-11R-A034-07"]
    clin = ("case_id\tcase_submitter_id\tproject_id\tajcc_pathologic_stage\ttreatment_type\n"
            "c1\tTCGA-A1-A0SB\tTCGA-BRCA\tStage I\tRadiation\nc1\tTCGA-A1-A0SB\tTCGA-BRCA\tStage I\tChemotherapy\n"
            "c2\tTCGA-A2-A04P\tTCGA-BRCA\tStage II\tRadiation\nc3\tTCGA-AN-A0FL\tTCGA-BRCA\t'--\tRadiation\n")
    (tmp_path / "cart").mkdir()
    (tmp_path / "cart" / "clinical.tsv").write_text(clin)
    (tmp_path / "cart" / "exposure.tsv").write_text("case_id\tcase_submitter_id\tyears_smoked\nc1\tTCGA-A1-A0SB\t'--\n")
    with tarfile.open(tmp_path / "clinical.cart.2024-01-01.tar.gz", "w:gz") as tf:
        for name in ("clinical.tsv", "exposure.tsv"):
            tf.add(tmp_path / "cart" / name, name)
    name, lab = read_labels(tmp_path / "clinical.cart.2024-01-01.tar.gz", obs, label_key="ajcc_pathologic_stage")
    assert name == "ajcc_pathologic_stage" and lab[0] == "Stage I" and lab[1] == "Stage II" and pd.isna(lab[2])
    with zipfile.ZipFile(tmp_path / "labels.zip", "w") as z:
        z.writestr("samples.csv", "sample,stage\n" + "".join(f"{o},S{i}\n" for i, o in enumerate(obs)))
    assert list(read_labels(tmp_path / "labels.zip", obs)[1]) == ["S0", "S1", "S2"]
    with tarfile.open(tmp_path / "other.tar", "w") as tf:
        tf.add(tmp_path / "cart" / "exposure.tsv", "exposure.tsv")
        tf.add(tmp_path / "cart" / "exposure.tsv", "follow_up.tsv")
    with pytest.raises(DataError, match=r"label file other.tar: an archive of 2 tables \(exposure.tsv, follow_up.tsv\)"
                                        r"; unpack it"):
        read_labels(tmp_path / "other.tar", obs)
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as z:
        z.writestr("README.md", "nothing")
    with pytest.raises(DataError, match=r"label file empty.zip: an archive of no table"):
        read_labels(tmp_path / "empty.zip", obs)


def test_json_label_files(tmp_path):
    """A JSON list of records labels the samples (nested fields as a.b.c, a list's values joined); the record
    field naming every sample is the id column, as a table's."""
    import json

    (tmp_path / "x.csv").write_text("gene,S1,S2,S3\nTP53,1,2,3\nEGFR,4,5,6\nMYC,7,8,9\n")
    recs = [{"id": s, "meta": {"group": g, "site": ["x", "x"]}} for s, g in (("S2", "b"), ("S1", "a"), ("S3", "a"))]
    (tmp_path / "l.json").write_text(json.dumps(recs))
    assert read(tmp_path / "x.csv", labels=tmp_path / "l.json", label_key="meta.group").obs["meta.group"].tolist() \
        == ["a", "b", "a"]
    assert read(tmp_path / "x.csv", labels=tmp_path / "l.json", label_key="meta.site").obs["meta.site"].tolist() \
        == ["x"] * 3


def test_h5ad_and_gctx_label_files(tmp_path):
    """The sample annotations of an .h5ad (its obs) or of a CMap GCTX (its column metadata) label another table,
    their matrices left unread; one without annotations, or a damaged one, is refused in one line."""
    import anndata as ad

    (tmp_path / "x.csv").write_text("gene,S1,S2,S3\nTP53,1,2,3\nEGFR,4,5,6\nMYC,7,8,9\n")
    obs = pd.DataFrame({"group": pd.Categorical(["a", "b", "a"]), "depth": [1.5, 2.5, 3.5]},
                       index=["S3", "S1", "S2"])
    ad.AnnData(X=np.zeros((3, 2), dtype=np.float32), obs=obs).write_h5ad(tmp_path / "meta.h5ad")
    assert read(tmp_path / "x.csv", labels=tmp_path / "meta.h5ad", label_key="group").obs["group"].tolist() == \
        ["b", "a", "a"]
    assert read(tmp_path / "x.csv", labels=tmp_path / "meta.h5ad").obs["group"].tolist() == ["b", "a", "a"]
    cols, _, _ = _gctx(tmp_path / "l5.gctx", n=4)
    pd.DataFrame(np.ones((4, 2)), index=cols, columns=["TP53", "EGFR"]).to_csv(tmp_path / "sig.csv")
    g = read(tmp_path / "sig.csv", labels=tmp_path / "l5.gctx", label_key="cell_id")
    assert g.obs["cell_id"].tolist() == ["A549", "MCF7", "A549", "MCF7"]
    ad.AnnData(X=np.zeros((3, 2), dtype=np.float32), obs=pd.DataFrame(index=["S1", "S2", "S3"])).write_h5ad(
        tmp_path / "bare.h5ad")
    with pytest.raises(DataError, match=r"label file bare.h5ad: an .h5ad without sample annotations"):
        read(tmp_path / "x.csv", labels=tmp_path / "bare.h5ad")
    (tmp_path / "cut.h5ad").write_bytes((tmp_path / "meta.h5ad").read_bytes()[:3000])
    with pytest.raises(DataError, match=r"label file cut.h5ad: not a readable .h5ad file"):
        read(tmp_path / "x.csv", labels=tmp_path / "cut.h5ad")


def test_tcga_barcodes_give_the_sample_type(tmp_path, capsys):
    """Samples named by TCGA barcodes (sample level or longer, also as R writes them) get obs['sample_type'] from
    the barcode's sample type code, GDC's names: the tumour-versus-normal label, usable as --label-key without a
    label file. Not when a sample is named otherwise, not over a column of that name, not added to an .h5ad."""
    import anndata as ad

    from rnagen._io import write_h5ad
    from rnagen.cli.main import main

    genes = ["TP53", "EGFR", "MYC", "GAPDH"]
    X = np.arange(24, dtype=np.float32).reshape(4, 6) + 1
    names = ["TCGA-A1-A0SB-01A-11R-A144-07", "TCGA-A1-A0SD-01A", "TCGA-BH-A0B3-11B", "TCGA-E2-A15K-06A",
             "TCGA-BH-A18V-11", "TCGA.A2.A04P.01A"]
    pd.DataFrame(X, index=genes, columns=names).to_csv(tmp_path / "t.csv")
    a = read(tmp_path / "t.csv")
    assert a.obs["sample_type"].tolist() == ["Primary Solid Tumor", "Primary Solid Tumor", "Solid Tissue Normal",
                                             "Metastatic", "Solid Tissue Normal", "Primary Solid Tumor"]
    assert get_history(a)[0]["tcga_sample_type"].startswith("obs['sample_type']")
    assert main(["data", "prepare", str(tmp_path / "t.csv"), "--label-key", "sample_type", "--genes", "all",
                 "--min-samples", "2", "--out", str(tmp_path / "t.h5ad")]) == 0
    assert "classes of 'sample_type'" in capsys.readouterr().out
    b = ad.read_h5ad(tmp_path / "t.h5ad")
    assert set(b.obs["sample_type"]) == {"Primary Solid Tumor", "Solid Tissue Normal"}   # the one metastasis dropped
    pd.DataFrame(X, index=genes, columns=[*names[:5], "S6"]).to_csv(tmp_path / "mixed.csv")
    assert "sample_type" not in read(tmp_path / "mixed.csv").obs.columns
    own = pd.DataFrame(X.T, index=names, columns=genes).assign(sample_type=["x", "x", "y", "y", "x", "y"])
    own.to_csv(tmp_path / "own.csv")
    assert read(tmp_path / "own.csv", label_key="sample_type").obs["sample_type"].tolist() == list("xxyyxy")
    h = ad.AnnData(X.T.copy(), obs=pd.DataFrame(index=names), var=pd.DataFrame(index=genes))
    write_h5ad(h, tmp_path / "h.h5ad")
    assert "sample_type" not in read(tmp_path / "h.h5ad").obs.columns


def test_numeric_sample_ids_written_as_floats_in_the_label_file(tmp_path):
    """A label table whose numeric id column holds a missing value is written by pandas or R as floats (100.0):
    its rows still label samples 100, 101, ...; a fractional id is another id."""
    genes = ["TP53", "EGFR", "MYC", "GAPDH"]
    ids = [str(100 + i) for i in range(6)]
    pd.DataFrame(np.arange(24, dtype=float).reshape(4, 6) + 1, index=genes, columns=ids).to_csv(tmp_path / "x.csv")
    lab = pd.DataFrame({"id": [100.0 + i for i in range(6)] + [np.nan], "arm": list("aabbab") + ["c"]})
    lab.to_csv(tmp_path / "labels.csv", index=False)
    assert "100.0" in (tmp_path / "labels.csv").read_text()
    a = read(tmp_path / "x.csv", labels=tmp_path / "labels.csv", label_key="arm")
    assert list(a.obs_names) == ids and a.obs["arm"].tolist() == list("aabbab")
    lab["id"] = [100.5 + i for i in range(6)] + [np.nan]
    lab.to_csv(tmp_path / "frac.csv", index=False)
    with pytest.raises(DataError):
        read(tmp_path / "x.csv", labels=tmp_path / "frac.csv", label_key="arm")


def test_files_of_another_omics_kind_are_named(tmp_path, capsys):
    """What a GDC download or a project folder mixes with the expression files, given as the data: a VCF, a MAF
    (it was read as a one-sample matrix of its numeric columns, without a word), a FASTA, a GTF (each 'header line
    only' or 'no data rows' before) and an Illumina IDAT file: each named, with the way on, in one line."""
    from rnagen.cli.main import main

    files = {
        "calls.vcf": ("##fileformat=VCFv4.2\n##source=x\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
                      "1\t100\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\n", "a VCF of variant calls"),
        "muts.maf": ("#version 2.4\nHugo_Symbol\tEntrez_Gene_Id\tCenter\tStart_Position\tTumor_Sample_Barcode\n"
                     "TP53\t7157\tBI\t7675088\tTCGA-A1-A0SB-01A\nKRAS\t3845\tBI\t25245350\tTCGA-A1-A0SD-01A\n",
                     "a MAF of somatic mutations"),
        "tx.fa": (">ENST00000000001.3\nACGTACGTTTGA\n>ENST00000000002.1\nGGGTTTAA\n", "sequences (FASTA"),
        "genes.gtf": ('chr1\tHAVANA\tgene\t11869\t14409\t.\t+\t.\tgene_id "ENSG00000223972.5";\n'
                      'chr1\tHAVANA\ttranscript\t11869\t14409\t.\t+\t.\tgene_id "ENSG00000223972.5"; '
                      'transcript_id "ENST00000456328.2";\n', "a genome annotation (GTF/GFF"),
    }
    for name, (text, what) in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "x_Grn.idat").write_bytes(b"IDAT\x03\x00\x00\x00" + bytes(64))
    files["x_Grn.idat"] = ("", "an Illumina IDAT file")
    # a saved web page, GDC's metadata JSON and its sample sheet ('no numeric sample columns' before)
    extra = {"GSE1_series_matrix.txt": ("<!DOCTYPE html>\n<html><head><title>GEO Accession viewer</title></head>"
                                        "<body>x</body></html>\n", "a web page (HTML), not the data"),
             "metadata.cart.json": ('[\n  {"file_id": "f1", "file_name": "a.tsv"}\n]\n', "JSON, not a table"),
             "gdc_sample_sheet.tsv": ("File ID\tFile Name\tData Category\tProject ID\tCase ID\tSample ID\n"
                                      "f1\ta.tsv\tTranscriptome Profiling\tTCGA-BRCA\tTCGA-A1-A0SB\t"
                                      "TCGA-A1-A0SB-01A\n", "GDC's sample sheet")}
    for name, (text, what) in extra.items():
        (tmp_path / name).write_text(text)
        files[name] = (text, what)
    (tmp_path / "brackets.tsv").write_text("[Gene]\tS1\tS2\nTP53\t1\t2\nEGFR\t3\t4\nMYC\t5\t6\n")
    assert read(tmp_path / "brackets.tsv").shape == (2, 3)   # a header in brackets is no JSON
    for name, (_, what) in files.items():
        with pytest.raises(DataError, match=rf"^{name}: {re.escape(what)}"):
            read(tmp_path / name)
        assert main(["data", "prepare", str(tmp_path / name), "--out", str(tmp_path / "o.h5ad")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and what in err
    assert not (tmp_path / "o.h5ad").exists()


def test_a_table_of_sample_annotations_given_as_the_data(tmp_path):
    """GDC's clinical.tsv (or a sample sheet) given as the data was read as one 'sample' of ages over its cases,
    without a word; it is named, with --labels. One sample's counts beside its genes' annotation columns still
    read, as does one gene's values beside sample annotations."""
    (tmp_path / "clinical.tsv").write_text(
        "case_id\tcase_submitter_id\tproject_id\tage_at_index\tgender\tvital_status\n"
        "1a\tTCGA-A1-A0SB\tTCGA-BRCA\t70\tfemale\tAlive\n2b\tTCGA-A1-A0SD\tTCGA-BRCA\t59\tfemale\tDead\n"
        "3c\tTCGA-A1-A0SE\tTCGA-BRCA\t56\tfemale\tAlive\n")
    with pytest.raises(DataError, match=r"^clinical.tsv: a table of sample annotations .*'age_at_index', beside 4 "
                                        r"text columns.*give it as the --labels"):
        read(tmp_path / "clinical.tsv")
    (tmp_path / "one.tsv").write_text(
        "gene_id\tgene_name\tgene_type\tS1\nENSG00000141510\tTP53\tprotein_coding\t120\n"
        "ENSG00000146648\tEGFR\tprotein_coding\t80\nENSG00000136997\tMYC\tprotein_coding\t33\n")
    a = read(tmp_path / "one.tsv")
    assert a.shape == (1, 3) and list(a.obs_names) == ["S1"]
    (tmp_path / "gene.csv").write_text("sample,tissue,batch,TP53\nS1,lung,b1,12.5\nS2,liver,b1,3.25\nS3,lung,b2,8\n")
    b = read(tmp_path / "gene.csv", label_key="tissue")
    assert b.shape == (3, 1) and list(b.var_names) == ["TP53"]


def test_copies_of_a_sample_with_different_labels_are_not_merged(tmp_path):
    """--duplicates mean|first|sum merged two rows of one sample id whatever their labels, keeping the first
    (a label file with the same conflict is refused); the table's own label column is checked the same way."""
    df = pd.DataFrame(np.arange(12.0).reshape(4, 3) * 10 + 1, index=["S0", "S1", "S0", "S2"],
                      columns=["TP53", "EGFR", "MYC"])
    df.insert(0, "cls", ["A", "B", "B", "B"])
    df.to_csv(tmp_path / "x.csv", index_label="sample")
    for how in ("mean", "first", "sum"):
        with pytest.raises(DataError, match=r"sample id 'S0' appears twice with different 'cls' labels \('A', 'B'\)"):
            read(tmp_path / "x.csv", label_key="cls", duplicates=how)
    df.iloc[2, 0] = "A"   # copies labelled alike: merged as asked
    df.to_csv(tmp_path / "y.csv", index_label="sample")
    a = read(tmp_path / "y.csv", label_key="cls", duplicates="mean")
    assert list(a.obs_names) == ["S0", "S1", "S2"] and a.obs["cls"].tolist() == ["A", "B", "B"]


def test_drop_unlabelled_drops_samples_the_label_file_lacks(tmp_path):
    """--drop-unlabelled dropped samples with an empty label but refused those without a row in the label file;
    both are unlabelled now. Without it, the refusal names the option."""
    df = pd.DataFrame(np.arange(1.0, 25.0).reshape(6, 4) * 7, index=[f"S{i}" for i in range(6)],
                      columns=["TP53", "EGFR", "MYC", "KRAS"])
    df.to_csv(tmp_path / "x.csv", index_label="sample")
    (tmp_path / "lab.csv").write_text("sample,cls\nS0,a\nS1,a\nS2,b\nS4,b\n")
    with pytest.raises(DataError, match=r"no row for 2 of 6 samples .* or leave those samples out \(rnagen data "
                                        r"prepare --drop-unlabelled\)"):
        read(tmp_path / "x.csv", labels=tmp_path / "lab.csv", label_key="cls")
    a = read(tmp_path / "x.csv", labels=tmp_path / "lab.csv", label_key="cls", drop_unlabelled=True)
    assert list(a.obs_names) == ["S0", "S1", "S2", "S4"] and a.obs["cls"].tolist() == ["a", "a", "b", "b"]


def test_a_label_file_disagreeing_with_the_datas_own_column_is_refused(tmp_path):
    """`--labels` naming a column the data has too: the same labels pass, other ones are refused naming the first
    sample (the file's replaced the data's silently)."""
    import pandas as pd

    from rnagen.data import read
    from rnagen.errors import DataError

    X = pd.DataFrame([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], index=["s1", "s2", "s3"],
                     columns=["TP53", "EGFR", "MYC"]).assign(kind=["a", "b", "a"])
    X.to_csv(tmp_path / "x.csv", index_label="sample")
    pd.DataFrame({"kind": ["a", "b", "a"]}, index=["s1", "s2", "s3"]).to_csv(tmp_path / "same.csv", index_label="id")
    pd.DataFrame({"kind": ["a", "c", "a"]}, index=["s1", "s2", "s3"]).to_csv(tmp_path / "other.csv", index_label="id")
    a = read(tmp_path / "x.csv", label_key="kind", labels=tmp_path / "same.csv")
    assert list(a.obs["kind"]) == ["a", "b", "a"]
    with pytest.raises(DataError, match=r"own 'kind' column and the label file other.csv disagree on 1 of 3 samples "
                                        r"\(first: 's2', 'b' in the data, 'c' in the file\)"):
        read(tmp_path / "x.csv", label_key="kind", labels=tmp_path / "other.csv")


def test_rows_named_by_their_numbers_are_not_entrez_ids(tmp_path):
    """R's write.csv (or its row names 1..n as text, Biobase's swrep.rda): an array layout table read as 3 samples
    x 8,448 'genes' mapped to Entrez ids by their row numbers. Refused, naming the way on; a distinct text column
    after the numbers is taken as the ids, as before."""
    rows = ["", "Block", "Row", "Column", "ID", "Name"]
    lines = [",".join(f'"{r}"' for r in rows)] + [f'"{i}",{1 + i // 5},{i % 5},{i},"spot{i % 3}","g"'
                                                  for i in range(1, 13)]
    (tmp_path / "spots.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"spots.csv: its rows are named only by their numbers \(1 to 12: R's "
                                        r"automatic row names, or the first column write.csv adds\), which would be "
                                        r"read as Entrez gene ids"):
        read(tmp_path / "spots.csv")
    (tmp_path / "ids.csv").write_text('"","gene","S1","S2"\n"1","TP53",1,2\n"2","EGFR",3,4\n"3","MYC",5,6\n')
    a = read(tmp_path / "ids.csv")
    assert list(a.var_names) == ["TP53", "EGFR", "MYC"] and list(a.obs_names) == ["S1", "S2"]


def test_a_per_gene_annotation_given_as_labels_is_refused(tmp_path):
    """Biobase's reporter.rda (each probe's type) given as --labels of exprsData.txt made the 500 probes the
    samples."""
    probes = ["AFFX-MurIL2_at", "AFFX-MurIL10_at", "1000_at", "1001_at", "1002_f_at"]
    pd.DataFrame(np.arange(15, dtype=float).reshape(5, 3) + 1, index=probes,
                 columns=["A", "B", "C"]).to_csv(tmp_path / "expr.txt", sep="\t")
    pd.DataFrame({"probeType": ["control", "control", "gene", "gene", "gene"]}, index=probes).to_csv(
        tmp_path / "reporter.csv")
    with pytest.raises(DataError, match=r"label file reporter.csv names the data's genes or probes \(e.g. "
                                        r"'AFFX-MurIL2_at'\), not its samples: a per-gene annotation"):
        read(tmp_path / "expr.txt", labels=tmp_path / "reporter.csv", label_key="probeType")


def test_workbook_layouts_from_real_files(tmp_path):
    """Layouts of real workbooks (gdata's ExampleExcelFile.xlsx, openxlsx's and readxl's test files): a title in
    column A above a table starting in column B (sample names became tuples '(nan, 'FirstRow')'); numbers stored
    as text named as such ('non-numeric value ?' before); a sheet calamine cannot parse named, the others still
    read."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "titled"
    ws["A1"] = "Some text at the top of the sheet"
    for j, name in enumerate(["", "TP53", "EGFR", "MYC"]):
        ws.cell(row=3, column=2 + j, value=name or None)
    for i, s in enumerate(["FirstRow", "SecondRow", "ThirdRow"]):
        ws.cell(row=4 + i, column=2, value=s)
        for j in range(3):
            ws.cell(row=4 + i, column=3 + j, value=float(10 * i + j))
    text = wb.create_sheet("as_text")
    for j, name in enumerate(["sample", "TP53", "EGFR"]):
        text.cell(row=1, column=1 + j, value=name)
    for i in range(3):
        text.cell(row=2 + i, column=1, value=f"S{i}")
        text.cell(row=2 + i, column=2, value=float(i))
        text.cell(row=2 + i, column=3, value="-4.0" if i == 1 else float(i))
    wb.save(tmp_path / "book.xlsx")
    a = read(tmp_path / "book.xlsx", sheet="titled")
    assert list(a.obs_names) == ["FirstRow", "SecondRow", "ThirdRow"] and list(a.var_names) == ["TP53", "EGFR", "MYC"]
    np.testing.assert_array_equal(a.X, [[0, 1, 2], [10, 11, 12], [20, 21, 22]])
    with pytest.raises(DataError, match=r"non-numeric value '-4.0' \(a number stored as text: format the cells as "
                                        r"numbers\) at line 3, column 'EGFR' \(sample 'S1'\)"):
        read(tmp_path / "book.xlsx", sheet="as_text")


def test_a_long_table_of_entrez_ids_reads_as_its_grid(tmp_path):
    """One line per sample and gene with genes named by Entrez ids: the numeric gene column was taken for a
    second value column ('duplicated sample ids'); the ids are the column whose known genes repeat once per
    sample, even beside whole-number counts."""
    rng = np.random.default_rng(0)
    genes = [7157, 1956, 4609, 2597]
    counts = rng.integers(0, 1000, size=(6, 4))
    rows = [(f"S{i}", g, int(counts[i, j])) for i in range(6) for j, g in enumerate(genes)]
    pd.DataFrame(rows, columns=["sample", "gene", "value"]).to_csv(tmp_path / "long.csv", index=False)
    a = read(tmp_path / "long.csv")
    assert list(a.var_names) == [str(g) for g in genes] and list(a.obs_names) == [f"S{i}" for i in range(6)]
    np.testing.assert_array_equal(a.X, counts)


def test_labels_made_one_by_their_edge_spaces_are_said_and_warnings_are_one_line(tmp_path, capsys):
    """' sp ' and 'sp' are read as one class (leading and trailing spaces dropped): said in a warning, where the
    merge was silent and the twin warning spoke of 'SP'/'sp' alone; the command line prints rnagen's warnings
    on one line each, as its errors."""
    import warnings as w

    from rnagen.cli.main import main
    from rnagen.data import read

    rows = ["sample,label,g1,g2,g3"] + [f"s{i},{lab},{i},{i + 1},{i % 3}"
                                        for i, lab in enumerate(["sp", " sp ", "SP", "u"] * 3)]
    path = tmp_path / "spaces.csv"
    path.write_text("\n".join(rows) + "\n")
    with w.catch_warnings(record=True) as caught:
        w.simplefilter("always")
        a = read(path, label_key="label")
    assert sorted(a.obs["label"].unique()) == ["SP", "sp", "u"]
    said = [str(c.message) for c in caught if "leading or trailing spaces" in str(c.message)]
    assert said == ["labels that differ only in leading or trailing spaces are read as one class (' sp '/'sp'); "
                    "give them distinct names if they are distinct classes"]
    assert main(["data", "info", str(path), "--label-key", "label"]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert err and all(ln.startswith("rnagen: warning: ") for ln in err), err


@pytest.mark.parametrize("bad,hint", [
    (5, r"not int$"),
    (["a.csv", "b.csv"], r"not list; read one file at a time and join them with anndata.concat"),
    (None, r"not NoneType$"),
    (pd.DataFrame({"g1": [1.0]}), r"not DataFrame; build an AnnData from the table"),
    (np.zeros((2, 2)), r"not ndarray$"),
], ids=["int", "list", "None", "DataFrame", "ndarray"])
def test_read_refuses_a_path_of_the_wrong_type(bad, hint):
    with pytest.raises(DataError, match=r"^read: the data must be a path \(a str or pathlib.Path\), " + hint):
        read(bad)


def test_read_takes_str_path_and_bytes_alike_and_refuses_an_anndata_or_a_folder(small, tmp_path):
    import anndata as ad

    from rnagen.data import read_labels, validate

    path = tmp_path / "x.csv"
    _frame(small).to_csv(path)
    a = read(str(path))
    for p in (path, bytes(path)):
        _same(read(p), a, label=None)
    with pytest.raises(DataError, match="not AnnData; it is an AnnData already: use it as it is"):
        read(a)
    with pytest.raises(DataError, match="a folder without per-sample quantification files"):
        read(tmp_path)
    with pytest.raises(DataError, match="^read: drop_unlabelled must be True or False, got 'no'"):
        read(path, drop_unlabelled="no")
    for option in ("labels", "sample_names", "recount_qc"):
        with pytest.raises(DataError, match=rf"^read: {option} must be a path \(a str or pathlib.Path\), not int"):
            read(path, **{option: 5})
    with pytest.raises(DataError, match=r"^read_labels: the file must be a path \(a str or pathlib.Path\), not int"):
        read_labels(5, a.obs_names)
    with pytest.raises(DataError, match=r"^validate \(data\): give an AnnData \(samples x genes\), not ndarray"):
        validate(np.zeros((2, 2)))
    with pytest.raises(DataError, match=r"^write_gct: give an AnnData \(samples x genes\), not DataFrame"):
        write_gct(_frame(small), tmp_path / "x.gct")
    with pytest.raises(DataError, match=r"^write_gct: the file must be a path \(a str or pathlib.Path\), not int"):
        write_gct(ad.AnnData(np.zeros((2, 2), np.float32)), 5)


def test_parquet_whose_pandas_index_came_back_as_a_column(tmp_path):
    """A pandas parquet rewritten by a tool that drops pandas' schema record (polars, DuckDB, a pyarrow table
    saved again) holds the sample ids in a column '__index_level_0__' (pyarrow puts it last): the samples are named
    by it, as pandas would read them, not numbered with the ids left as an annotation; a label table alike."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    ids, genes = [f"S{i}" for i in range(6)], ["TP53", "EGFR", "MYC", "GAPDH"]
    df = pd.DataFrame(rng.poisson(50, (6, 4)).astype(np.int64), index=ids, columns=genes).assign(tissue=["a", "b"] * 3)
    table = pa.Table.from_pandas(df, preserve_index=True).replace_schema_metadata(None)
    assert table.column_names[-1] == "__index_level_0__"
    pq.write_table(table, tmp_path / "x.parquet")
    a = read(tmp_path / "x.parquet", label_key="tissue")
    assert list(a.obs_names) == ids and list(a.var_names) == genes and list(a.obs.columns) == ["tissue"]
    np.testing.assert_array_equal(a.X, df[genes].to_numpy())
    labels = pd.DataFrame({"group": ["x", "y", "z", "x", "y", "z"]}, index=ids[::-1])
    pq.write_table(pa.Table.from_pandas(labels, preserve_index=True).replace_schema_metadata(None),
                   tmp_path / "labels.parquet")
    b = read(tmp_path / "x.parquet", labels=tmp_path / "labels.parquet", label_key="group")
    assert b.obs["group"].tolist() == ["z", "y", "x", "z", "y", "x"]


def _scanpy_file(path, *, counts_in: str, rnagen_record: bool = False):
    """An .h5ad as a scanpy pipeline leaves it: X normalised to 10^4 per sample and log1p'd (sparse), the counts
    (int64, sparse) in layers['counts'] or in .raw, genes named by Ensembl ids with their symbols in a column."""
    import anndata as ad
    import scipy.sparse as sp

    from rnagen.pp import set_log_state

    rng = np.random.default_rng(0)
    counts = rng.poisson(rng.gamma(1.0, 300.0, size=30), size=(8, 30)).astype(np.int64)
    X = np.log1p(counts / counts.sum(1, keepdims=True) * 1e4).astype(np.float32)
    var = pd.DataFrame({"feature_name": [f"G{j}" for j in range(30)]}, index=[f"ENSG{j:011d}" for j in range(30)])
    a = ad.AnnData(X=sp.csr_matrix(X), obs=pd.DataFrame({"grp": ["a", "b"] * 4}, index=[f"s{i}" for i in range(8)]),
                   var=var)
    if counts_in == "raw":
        a.raw = ad.AnnData(X=sp.csr_matrix(counts), var=var)
    else:
        a.layers["counts"] = sp.csr_matrix(counts)
    a.uns["log1p"] = {"base": None}
    if rnagen_record:
        set_log_state(a, logged=True, transform="log1p of CP10k")
    a.write_h5ad(path)
    return counts, X


@pytest.mark.parametrize("counts_in,option", [("layer", "--layer counts"), ("raw", "--layer raw")])
def test_scanpy_h5ad_says_x_is_read_and_where_its_counts_are(tmp_path, capsys, counts_in, option):
    """A scanpy .h5ad whose X is normalised and logged, the counts in layers['counts'] or .raw: X is read (its
    values), with a warning that says so and names the option that reads the counts; `data info` lists the other
    matrices and summarises one with --layer; a file rnagen wrote (its choice made) and one whose X holds the
    counts read without a warning."""
    import warnings

    from rnagen.cli.main import main

    path = tmp_path / "sc.h5ad"
    counts, X = _scanpy_file(path, counts_in=counts_in)
    with pytest.warns(UserWarning, match=rf"sc.h5ad: X holds no raw counts .* is what is read; the file keeps counts "
                                         rf"in .*: rnagen data prepare {option} reads them"):
        a = read(path, label_key="grp")
    np.testing.assert_array_equal(a.X, X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(read(path, layer=option.split()[-1]).X, counts)
    assert main(["data", "info", str(path)]) == 0
    captured = capsys.readouterr()
    shown = "layers['counts']" if counts_in == "layer" else "raw"
    assert f"matrices:  X summarised; also {shown} (--layer NAME reads one instead)" in captured.out
    assert "rnagen: warning: sc.h5ad: X holds no raw counts" in captured.err
    assert main(["data", "info", str(path), "--layer", option.split()[-1]]) == 0
    out = capsys.readouterr().out
    assert "values:    raw counts (whole numbers" in out and "matrices:" not in out
    _scanpy_file(path, counts_in=counts_in, rnagen_record=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read(path)


def _log1p_file(path, X, *, uns_log1p, layer=None):
    """An .h5ad as scanpy writes one after sc.pp.log1p: X and scanpy's record uns['log1p'] (written by hand as
    scanpy does: {'base': None} for the natural log, {'base': b} otherwise), optionally a counts layer."""
    import anndata as ad

    a = ad.AnnData(X=np.asarray(X, np.float32), obs=pd.DataFrame(index=[f"s{i}" for i in range(X.shape[0])]),
                   var=pd.DataFrame(index=[f"G{j}" for j in range(X.shape[1])]))
    if layer is not None:
        a.layers["counts"] = layer
    a.uns["log1p"] = uns_log1p
    a.write_h5ad(path)


@pytest.mark.parametrize("base,name", [(None, "ln(x+1)"), (2, "log2(x+1)"), (10, "log10(x+1)")])
def test_h5ad_scanpy_log1p_record_is_the_log_state_with_its_base(tmp_path, base, name):
    """scanpy's uns['log1p'] (sc.pp.log1p) says X is log_b(x+1), b its base (None: e): read as the log state,
    with that base and pseudocount 1, which the values' range alone cannot tell (ln and log2 values both lie in
    [0, 30]). Read with --layer, the record (of X) does not describe the layer and is not taken."""
    import math

    from rnagen.pp import log_state

    rng = np.random.default_rng(0)
    counts = rng.poisson(50, size=(6, 5)).astype(np.float64)
    b = math.e if base is None else base
    _log1p_file(tmp_path / "x.h5ad", np.log1p(counts) / math.log(b), uns_log1p={"base": base}, layer=counts)
    a = read(tmp_path / "x.h5ad")
    st = log_state(a)
    assert st is not None and st["logged"] is True and st["pseudocount"] == 1.0
    assert st["base"] == pytest.approx(b) and st["transform"] == f"{name} (scanpy's sc.pp.log1p, uns['log1p'])"
    assert a.uns["log1p"] == {"base": base}   # kept, as scanpy reads it
    lay = read(tmp_path / "x.h5ad", layer="counts")
    assert log_state(lay) is None and "log1p" not in lay.uns
    np.testing.assert_array_equal(lay.X, counts)


def test_h5ad_scanpy_log1p_base_as_a_one_element_array_or_bytes_is_read_as_its_value(tmp_path):
    """A base another writer stored as a one-element array (['None'], [2.0]) or as bytes (b'None') is the value it
    holds: the natural log for 'None', as scanpy's own record; no warning."""
    import math
    import warnings

    from rnagen.pp import log_state
    from rnagen.pp.history import scanpy_log1p_base

    counts = np.random.default_rng(0).poisson(50, size=(6, 5)).astype(np.float64)
    for stored, b in ((np.array(["None"]), math.e), (np.array([2.0]), 2.0)):
        _log1p_file(tmp_path / "x.h5ad", np.log1p(counts) / math.log(b), uns_log1p={"base": stored})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            a = read(tmp_path / "x.h5ad")
        assert log_state(a)["base"] == pytest.approx(b)
    assert scanpy_log1p_base({"base": b"None"}) == math.e
    assert scanpy_log1p_base({"base": np.array(b"None")}) == math.e


@pytest.mark.parametrize("X,seen", [
    (np.arange(1, 31, dtype=np.float64).reshape(6, 5) * 40,
     r"the values are whole numbers up to 1200, counts \(X replaced by the counts after the log"),
    (np.linspace(-2.5, 2.5, 30).reshape(6, 5), r"values go down to -2\.5, and log\(x\+1\) of expression is never "
                                               r"below 0 \(scaled or centred after the log"),
    (np.linspace(0.5, 4000.5, 30).reshape(6, 5), r"values reach 4000\.5, above any log value"),
])
def test_h5ad_scanpy_log1p_record_the_values_contradict_is_set_aside_in_one_line(tmp_path, capsys, X, seen):
    """A uns['log1p'] whose X cannot be log(x+1) of expression (whole counts put back after the log, values
    below 0 after sc.pp.scale, values above any log value) is not taken: one warning line names the file and
    what was seen, the record is removed, and the values' range decides the scale as without a record."""
    import warnings

    from rnagen.cli.main import main
    from rnagen.pp import log_state

    _log1p_file(tmp_path / "x.h5ad", X, uns_log1p={"base": None})
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        a = read(tmp_path / "x.h5ad")
    msgs = [str(m.message) for m in w if "log1p" in str(m.message)]
    assert len(msgs) == 1 and "\n" not in msgs[0]
    assert re.search(r"^x\.h5ad: uns\['log1p'\] says X was log-transformed \(scanpy's sc\.pp\.log1p\) but " + seen,
                     msgs[0]), msgs[0]
    assert msgs[0].endswith("the record is set aside and the values' range decides the scale; delete uns['log1p'] "
                            "from the file if it is stale")
    assert log_state(a) is None and "log1p" not in a.uns
    np.testing.assert_array_equal(a.X, X.astype(np.float32))
    assert main(["data", "info", str(tmp_path / "x.h5ad")]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if "log1p" in ln]
    assert len(err) == 1 and err[0].startswith("rnagen: warning: x.h5ad: uns['log1p'] says X was log-transformed")


def test_h5ad_uns_log1p_not_of_scanpys_form_is_set_aside(tmp_path):
    """A uns['log1p'] that is not scanpy's record ({'base': 'two'}) is set aside with a warning saying so; so is one
    whose base is no base of log_b(x+1) (0.5, 1, 0, negative, inf, NaN), in one line naming it."""
    import math
    import warnings

    from rnagen.pp import log_state
    from rnagen.pp.history import scanpy_log1p_base

    _log1p_file(tmp_path / "x.h5ad", np.full((4, 3), 2.5), uns_log1p={"base": "two"})
    with pytest.warns(UserWarning, match=r"x\.h5ad: uns\['log1p'\] says X was log-transformed .* but its form is not "
                                         r"scanpy's \(\{'base': 'two'\}"):
        a = read(tmp_path / "x.h5ad")
    assert "log1p" not in a.uns and log_state(a) is None
    # a number that is no base of log_b(x+1) of expression (a base is finite and above 1) is named as such, not as
    # a form other than a number; 0.5 too, whose log of every count is at or below 0 (values in the log range above
    # 0 contradict it: they are not taken as log_0.5)
    for base, shown in ((0.5, "0.5"), (0.999, "0.999"), (1.0, "1"), (-2.0, "-2"), (0.0, "0"), (math.inf, "inf"),
                        (math.nan, "nan"), (np.array([0.5]), "0.5")):
        _log1p_file(tmp_path / "b.h5ad", np.full((4, 3), 2.5), uns_log1p={"base": base})
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            a = read(tmp_path / "b.h5ad")
        msgs = [str(m.message) for m in w if "log1p" in str(m.message)]
        assert msgs == [f"b.h5ad: uns['log1p'] says X was log-transformed (scanpy's sc.pp.log1p) but its base {shown} "
                        "is no base of log_b(x+1) of expression (a finite number above 1; scanpy writes {'base': "
                        "None} for the natural log): the record is set aside and the values' range decides the "
                        "scale; delete uns['log1p'] from the file if it is stale"], (base, msgs)
        assert "log1p" not in a.uns and log_state(a) is None
        assert scanpy_log1p_base({"base": base}) is None
    assert scanpy_log1p_base({"base": 1.5}) == 1.5 and scanpy_log1p_base({"base": np.int64(10)}) == 10.0
    assert scanpy_log1p_base({"base": True}) is None


def test_h5ad_of_any_number_type_reads_as_float32_without_a_float64_copy(tmp_path, monkeypatch):
    """X as pipelines write counts (int64, int32, unsigned, sparse CSR or CSC) or as float16 reads as the same
    values in float32; an integer matrix is not copied to float64 on the way (nor a sparse one made dense whole
    in its own type): the reading holds little more than the file's matrix and the result."""
    import tracemalloc

    import anndata as ad
    import scipy.sparse as sp

    import rnagen.data.io as dio

    monkeypatch.setattr(dio, "_SPARSE_BLOCK", 1 << 14, raising=False)   # blocks of a sparse matrix made dense
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.5, size=(150, 3000))
    for name, X in [("int64", counts), ("int32", counts.astype(np.int32)), ("uint16", counts.astype(np.uint16)),
                    ("float16", counts.astype(np.float16)), ("csr", sp.csr_matrix(counts)),
                    ("csc", sp.csc_matrix(counts))]:
        ad.AnnData(X=X).write_h5ad(tmp_path / f"{name}.h5ad")
        tracemalloc.start()
        try:
            a = read(tmp_path / f"{name}.h5ad")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert a.X.dtype == np.float32 and isinstance(a.X, np.ndarray), name
        np.testing.assert_array_equal(a.X, counts, err_msg=name)
        if name in ("int64", "csr", "csc"):   # the int64 matrix is 2x the result; a float64 copy would add 2x more
            assert peak < 4.0 * a.X.nbytes, (name, peak / a.X.nbytes)


def test_h5ad_too_large_for_memory_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """An .h5ad whose matrix, dense, needs more than half the memory (a single-cell atlas stored sparse) is
    refused from its metadata, before anything is read (the system would end the process); a layer's size is the
    one that counts when --layer names it."""
    import anndata as ad
    import scipy.sparse as sp

    import rnagen.data.io as dio

    a = ad.AnnData(X=sp.random(40, 25, density=0.1, format="csr", dtype=np.float32, random_state=0))
    a.obs_names = [f"s{i}" for i in range(40)]
    a.layers["counts"] = sp.csr_matrix(a.shape, dtype=np.int64)
    a.write_h5ad(tmp_path / "atlas.h5ad")
    monkeypatch.setattr(dio, "_memory_bytes", lambda: 2 * 4 * 25 * 30)   # half of it holds 30 samples
    monkeypatch.setattr(ad, "read_h5ad", lambda *a, **k: pytest.fail("read before the size was checked"))
    for layer in (None, "counts"):
        with pytest.raises(DataError, match=r"atlas.h5ad: its 40 samples \(cells\?\) x 25 genes need .* GiB as a dense "
                                            "matrix, more than half this machine's .*sum the cells of each sample"):
            read(tmp_path / "atlas.h5ad", layer=layer)
    monkeypatch.undo()
    assert read(tmp_path / "atlas.h5ad").shape == (40, 25)


def test_h5ad_symbols_made_unique_by_anndata_beside_ensembl_ids(tmp_path):
    """scanpy's default for genes named by symbols (read_10x_*, var_names_make_unique): a repeated symbol's second
    gene named 'TP53-1', the Ensembl ids in var['gene_ids']. The genes are named by those ids, the symbols kept
    as they were (TP53 twice), as for symbols that repeat; 'TP53-1' was kept as a gene of that name, which no gene
    table knows. Without an id column, or with names that only look so, nothing changes."""
    import anndata as ad

    from rnagen import datasets

    lm = datasets.landmarks()
    syms, ens = [str(s) for s in lm["symbol"][:6]], [str(e) for e in lm["ensembl_id"][:7]]
    X = np.arange(4 * 7, dtype=np.float32).reshape(4, 7)
    a = ad.AnnData(X=X, obs=pd.DataFrame(index=[f"s{i}" for i in range(4)]),
                   var=pd.DataFrame({"gene_ids": ens}, index=[*syms, syms[2]]))
    a.var_names_make_unique()
    assert a.var_names[-1] == f"{syms[2]}-1"
    a.write_h5ad(tmp_path / "sc.h5ad")
    b = read(tmp_path / "sc.h5ad")
    assert list(b.var_names) == ens and b.var["symbol"].tolist() == [*syms, syms[2]]
    np.testing.assert_array_equal(b.X, X)
    assert get_history(b)[0]["gene_ids_from"] == "gene_ids"
    a.var = a.var.drop(columns="gene_ids")
    a.write_h5ad(tmp_path / "no_ids.h5ad")
    assert list(read(tmp_path / "no_ids.h5ad").var_names) == list(a.var_names)
    c = ad.AnnData(X=X[:, :3], var=pd.DataFrame({"gene_ids": ens[:3]}, index=["NKX2-1", "KRTAP1-1", "TP53"]))
    c.write_h5ad(tmp_path / "dashes.h5ad")
    assert list(read(tmp_path / "dashes.h5ad").var_names) == ["NKX2-1", "KRTAP1-1", "TP53"]


def test_label_rows_of_no_sample_are_warned_of_in_one_line(tmp_path, capsys):
    """A label file's rows whose ids name no sample of the data (a table of another data set, or of more samples)
    are named in one warning with their count and a few ids; rows a sample takes its label from by a shorter or a
    longer TCGA barcode or by its GTEx donor are used, not named; a file of every sample's row says nothing."""
    import warnings as w

    import anndata as ad

    from rnagen.cli.main import main
    from rnagen.data import read_labels

    def said(path, obs, **kw):
        with w.catch_warnings(record=True) as caught:
            w.simplefilter("always")
            _, lab = read_labels(path, obs, **kw)
        return list(lab), [str(c.message) for c in caught if "name no sample" in str(c.message)]

    obs = [f"S{i}" for i in range(4)]
    (tmp_path / "lab.csv").write_text("sample,cls\nS0,a\nX1,a\nS1,a\nS2,b\nS3,b\nGSM9,b\nS99,a\nX4,b\n")
    assert said(tmp_path / "lab.csv", obs) == (["a", "a", "b", "b"], [
        "label file lab.csv: 4 of its 8 sample ids name no sample of the data ('X1', 'GSM9', 'S99', ...); their "
        "rows are not used (a label file of other samples, or of more samples than the data hold?)"])
    (tmp_path / "same.csv").write_text("sample,cls\nS3,b\nS0,a\nS1,a\nS2,b\n")
    assert said(tmp_path / "same.csv", obs) == (["a", "a", "b", "b"], [])
    # TCGA: a participant's row, a sample row, two aliquot rows agreeing on a sample given shorter: all used
    tcga = ["TCGA-A1-A0SB-01A-11R-A144-07", "TCGA-A2-A04P-01", "TCGA-A1-A0SD-01"]
    (tmp_path / "t.tsv").write_text("sample\tsubtype\nTCGA-A1-A0SB\tLumA\nTCGA-A2-A04P-01A\tBasal\n"
                                    "TCGA-A1-A0SD-01A-11R-A144-07\tHer2\nTCGA-A1-A0SD-01A-11R-A145-07\tHer2\n"
                                    "TCGA-ZZ-0000\tLumB\n")
    assert said(tmp_path / "t.tsv", tcga) == (["LumA", "Basal", "Her2"], [
        "label file t.tsv: 1 of its 5 sample ids name no sample of the data ('TCGA-ZZ-0000'); their rows are not "
        "used (a label file of other samples, or of more samples than the data hold?)"])
    gtex = ["GTEX-1117F-0226-SM-5GZZ7", "GTEX-1117F-0011-R10a-SM-AHZ7F", "GTEX.111CU.0526.SM.5EGHK"]
    (tmp_path / "donors.txt").write_text("SUBJID\tAGE\nGTEX-1117F\t60-69\nGTEX-111CU\t50-59\nGTEX-111VG\t60-69\n")
    lab, msg = said(tmp_path / "donors.txt", gtex, label_key="AGE")
    assert lab == ["60-69", "60-69", "50-59"] and len(msg) == 1 and "1 of its 3 sample ids" in msg[0] \
        and "('GTEX-111VG')" in msg[0]
    # the command line: one warning line, the samples prepared with their labels; with a sample the file lacks,
    # the error as before, and --drop-unlabelled drops it and still names the rows of no sample
    df = pd.DataFrame(np.arange(1.0, 17.0).reshape(4, 4) * 7, index=obs, columns=["TP53", "EGFR", "MYC", "KRAS"])
    df.to_csv(tmp_path / "x.csv", index_label="sample")
    capsys.readouterr()
    assert main(["data", "prepare", str(tmp_path / "x.csv"), "--labels", str(tmp_path / "lab.csv"), "--label-key",
                 "cls", "--genes", "all", "--min-samples", "2", "--out", str(tmp_path / "p.h5ad")]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert err == ["rnagen: warning: label file lab.csv: 4 of its 8 sample ids name no sample of the data ('X1', "
                   "'GSM9', 'S99', ...); their rows are not used (a label file of other samples, or of more samples "
                   "than the data hold?)"]
    assert ad.read_h5ad(tmp_path / "p.h5ad").obs["cls"].astype(str).tolist() == ["a", "a", "b", "b"]
    (tmp_path / "part.csv").write_text("sample,cls\nS0,a\nS1,a\nS2,b\nX1,b\n")
    assert main(["data", "prepare", str(tmp_path / "x.csv"), "--labels", str(tmp_path / "part.csv"),
                 "--label-key", "cls", "--genes", "all", "--out", str(tmp_path / "q.h5ad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no row for 1 of 4 samples (e.g. 'S3')" in err[0]
    with w.catch_warnings(record=True) as caught:
        w.simplefilter("always")
        a = read(tmp_path / "x.csv", labels=tmp_path / "part.csv", label_key="cls", drop_unlabelled=True)
    assert list(a.obs_names) == ["S0", "S1", "S2"]
    assert [str(c.message) for c in caught if "name no sample" in str(c.message)] == [
        "label file part.csv: 1 of its 4 sample ids name no sample of the data ('X1'); their rows are not used (a "
        "label file of other samples, or of more samples than the data hold?)"]


def test_thousands_points_spaces_and_quoted_decimal_commas_of_spreadsheets(tmp_path):
    """What European spreadsheets export reads as the numbers it holds: whole counts with thousands points in a
    ';' or tab file (1.225 beside 512, not 1.225), thousands grouped by a space, plain or no-break (French and Swiss
    locales: 1 225 and 1\\u202f225,5), and decimal commas quoted in a comma-separated file (Google Sheets' "4,36")."""
    rng = np.random.default_rng(0)
    genes = ["TP53", "EGFR", "BRCA1", "GAPDH", "ACTB", "MYC"]
    S = [f"S{i}" for i in range(1, 9)]
    c = rng.integers(0, 5000, size=(6, 8))
    c[0, 0], c[1, 1] = 1234567, 7

    def table(name, sep, cell, values=c):
        (tmp_path / name).write_text(sep.join(["gene", *S]) + "\n" + "".join(
            sep.join([g, *(cell(v) for v in r)]) + "\n" for g, r in zip(genes, values)), encoding="utf-8")
        return tmp_path / name

    for name, sep in (("pt.csv", ";"), ("pt.tsv", "\t")):
        np.testing.assert_array_equal(read(table(name, sep, lambda v: f"{v:,}".replace(",", "."))).X, c.T,
                                      err_msg=name)
    c[0, 0] = 4253   # one group each: the plain numbers under a thousand decide, as for thousands commas
    np.testing.assert_array_equal(read(table("pt1.csv", ";", lambda v: f"{v:,}".replace(",", "."))).X, c.T)
    for space in (" ", "\u00a0", "\u202f"):
        got = read(table("sp.csv", ";", lambda v: f"{v:,}".replace(",", space) + (",5" if v % 2 else "")))
        np.testing.assert_allclose(got.X, (c + 0.5 * (c % 2)).T, rtol=1e-7, err_msg=repr(space))
    x = np.round(rng.normal(3, 2, size=(6, 8)), 3)
    got = read(table("gs.csv", ",", lambda v: f'"{v:.3f}"'.replace(".", ","), values=x))
    np.testing.assert_allclose(got.X, x.T, rtol=1e-6)
    # a value with a decimal point keeps the points decimal, and a thousands comma a comma-separated file's commas
    pts = read(table("dec.csv", ";", lambda v: f"{v / 1000:.3f}" if v != 7 else "7"))
    np.testing.assert_allclose(pts.X, np.where(c == 7, 7, c / 1000).T, rtol=1e-6)
    # values written with three decimals (7.000), all at or above 1, beside a column of whole numbers of its own (an
    # age): no column holds both, so the points are decimal (read as thousands each value would be a thousand times
    # itself and taken for counts)
    v = np.round(rng.uniform(1, 15, size=(8, 5)), 3)
    age = rng.integers(20, 80, size=8)
    (tmp_path / "age.tsv").write_text("\t".join(["sample", "age", *genes[:5]]) + "\n" + "".join(
        "\t".join([s, str(a), *(f"{x:.3f}" for x in r)]) + "\n" for s, a, r in zip(S, age, v)), encoding="utf-8")
    from rnagen.data.io import _sniff_numbers
    lines = (tmp_path / "age.tsv").read_text().splitlines()
    assert _sniff_numbers(lines[1:], "\t") == (".", None)
    # the same with decimal commas in a ';' file (7,000 beside an age column): decimal commas, not thousands
    (tmp_path / "age.csv").write_text(";".join(["sample", "age", *genes[:5]]) + "\n" + "".join(
        ";".join([s, str(a), *(f"{x:.3f}".replace(".", ",") for x in r)]) + "\n" for s, a, r in zip(S, age, v)),
        encoding="utf-8")
    lines = (tmp_path / "age.csv").read_text().splitlines()
    assert _sniff_numbers(lines[1:], ";") == (",", None)


def _whole_then(path, sep, rows, *, n_whole, width=4, first=()):
    """A genes x samples table (``width`` samples) whose genes after those of ``first`` (none by default) are
    ``n_whole`` genes of whole numbers (zeros among them: no decimal mark, no thousands separator), then the genes
    of ``rows`` ((name, cells) pairs, the cells repeated to the width). Returns the whole numbers and the byte
    offset of the first of ``rows``."""
    def lines(named):
        return "".join(sep.join([g, *(cells * (width // len(cells)))]) + "\n" for g, cells in named)

    whole = np.array([[(i * 7 + j * 3) % 600 for j in range(width)] for i in range(n_whole)])
    head = sep.join(["gene", *(f"S{j + 1}" for j in range(width))]) + "\n" + lines(first) + "".join(
        sep.join([f"G{i}", *map(str, r)]) + "\n" for i, r in enumerate(whole))
    path.write_text(head + lines(rows))
    return whole, len(head.encode())


# what European and English spreadsheets write: (separator, the cells of a gene, the numbers they are)
_LATE_MARKS = {
    "decimal commas, tab": ("\t", ["0,75", "1,5", "12", "3,25"], [0.75, 1.5, 12, 3.25]),
    "decimal commas, ';'": (";", ["0,75", "1,5", "12", "3,25"], [0.75, 1.5, 12, 3.25]),
    "thousands points, ';'": (";", ["1.225", "512", "12.345", "7"], [1225, 512, 12345, 7]),
    "thousands commas, tab": ("\t", ["1,234", "512", "12,345", "7"], [1234, 512, 12345, 7]),
    "thousands commas quoted, ','": (",", ['"1,234"', "512", '"12,345"', "7"], [1234, 512, 12345, 7]),
}


@pytest.mark.parametrize("where", ["line 25", "line 60", "past the first 64 KiB"])
def test_the_number_format_is_decided_by_the_first_values_that_show_it(tmp_path, where):
    """A table whose first genes hold only whole numbers (0, 12, 512) tells its number format by its first values
    with a decimal mark or a thousands separator, wherever they are (past the 20 lines the format is sniffed
    from, past the 50 lines read first, past the first 64 KiB): decimal commas, thousands points and thousands
    commas read as the numbers written, and the whole numbers before them as they are."""
    from rnagen.data.io import _HEAD_BYTES

    n_whole, width = {"line 25": (23, 4), "line 60": (58, 4), "past the first 64 KiB": (110, 160)}[where]
    for case, (sep, cells, numbers) in _LATE_MARKS.items():
        p = tmp_path / "late.txt"
        whole, offset = _whole_then(p, sep, [("LATE", cells), ("NEXT", ["1", "2", "3", "4"])], n_whole=n_whole,
                                    width=width)
        assert (offset > _HEAD_BYTES) == (where == "past the first 64 KiB")
        a = read(p, orientation="genes_x_samples")
        assert list(a.var_names) == [*(f"G{i}" for i in range(n_whole)), "LATE", "NEXT"], case
        np.testing.assert_array_equal(a.X[:, -2], numbers * (width // 4), err_msg=f"{case}, {where}")
        np.testing.assert_array_equal(a.X[:, :-2], whole.T, err_msg=f"{case}, {where}")
        np.testing.assert_array_equal(a.X[:, -1], [1, 2, 3, 4] * (width // 4), err_msg=f"{case}, {where}")
        if where == "past the first 64 KiB":   # the first 64 KiB of the text, not of the gzip stream
            (tmp_path / "late.txt.gz").write_bytes(gzip.compress(p.read_bytes()))
            np.testing.assert_array_equal(read(tmp_path / "late.txt.gz", orientation="genes_x_samples").X, a.X)


def test_thousands_points_past_the_first_lines_through_the_cli(tmp_path, capsys):
    """rnagen data prepare writes the counts of a ';' file whose thousands points first show on line 60 as the
    counts written (1.225 is 1225), not as decimals a thousandth of them."""
    import anndata as ad

    from rnagen.cli.main import main

    whole, _ = _whole_then(tmp_path / "eu.csv", ";", [("LATE", ["1.225", "512", "12.345", "7"])], n_whole=58)
    out = tmp_path / "eu.h5ad"
    assert main(["data", "prepare", str(tmp_path / "eu.csv"), "--orientation", "genes_x_samples", "--genes", "all",
                 "--log", "none", "--out", str(out)]) == 0, capsys.readouterr().err
    a = ad.read_h5ad(out)
    np.testing.assert_array_equal(a[:, "LATE"].X.ravel(), [1225, 512, 12345, 7])
    np.testing.assert_array_equal(a[:, "G1"].X.ravel(), whole[1])


def test_values_further_on_refine_the_number_format_of_the_first_lines(tmp_path):
    """Thousands commas first seen on line 60 of a file of decimal points (1,234 beside 0.5: an English
    spreadsheet's) read as thousands; decimal commas first seen on line 60 of a GCT read as decimals."""
    whole = [[f"{(i * 7 + j) % 600 / 4}" for j in range(4)] for i in range(58)]
    (tmp_path / "en.tsv").write_text("gene\tS1\tS2\tS3\tS4\n" + "".join(
        "\t".join([f"G{i}", *r]) + "\n" for i, r in enumerate(whole)) + "LATE\t1,234\t512\t12,345.5\t7\n")
    a = read(tmp_path / "en.tsv", orientation="genes_x_samples")
    np.testing.assert_array_equal(a[:, "LATE"].X.ravel(), [1234, 512, 12345.5, 7])
    np.testing.assert_array_equal(a[:, "G3"].X.ravel(), [float(v) for v in whole[3]])
    (tmp_path / "eu.gct").write_text("#1.2\n59\t4\nName\tDescription\tS1\tS2\tS3\tS4\n" + "".join(
        f"G{i}\tna\t{i}\t{i + 1}\t0\t12\n" for i in range(58)) + "LATE\tna\t0,75\t1,5\t12\t3,25\n")
    g = read(tmp_path / "eu.gct")
    np.testing.assert_array_equal(g[:, "LATE"].X.ravel(), np.float32([0.75, 1.5, 12, 3.25]))
    np.testing.assert_array_equal(g[:, "G7"].X.ravel(), [7, 8, 0, 12])


# files that contradict themselves: (separator, rows, the error's words with the lines of rows {0} and {-1})
_MIXED_MARKS = {
    # decimal points, then decimal commas
    "decimal points then commas": (";", [("P", ["0.5", "1.5", "2", "3"]), *((f"W{i}", ["1", "2", "3", "4"])
                                                                             for i in range(5)),
                                         ("C", ["0,5", "1,5", "2", "3"])],
                                   "'0,5' at line {1}, column 'S1' (row 'C') has a decimal comma, but '0.5' at line "
                                   "{0}, column 'S1' (row 'P') has a decimal point: no number format reads both as "
                                   "written"),
    # thousands commas, then a decimal comma (read with thousands commas: 5)
    "thousands commas then a decimal comma": (
        "\t", [("T", ["1,234,567", "512", "43,567", "7"]), ("C", ["1", "0,5", "2", "3"])],
        "'0,5' at line {1}, column 'S2' (row 'C') has a decimal comma, but '1,234,567' at line {0}, column 'S1' (row "
        "'T') has thousands commas"),
    # thousands points, then a decimal point (read with thousands points: 5)
    "thousands points then a decimal point": (
        ";", [("T", ["1.225.000", "512", "43.567", "7"]), ("D", ["0.5", "1", "2", "3"])],
        "'0.5' at line {1}, column 'S1' (row 'D') has a decimal point, but '1.225.000' at line {0}, column 'S1' (row "
        "'T') has thousands points"),
}


@pytest.mark.parametrize("case", list(_MIXED_MARKS))
@pytest.mark.parametrize("where", ["after 58 lines of whole numbers", "at the top", "the first at the top"])
def test_a_table_of_two_number_formats_is_refused_naming_the_value(tmp_path, capsys, case, where):
    """A table no number format reads as written (decimal points in some rows and decimal commas in others; a
    decimal mark beside thousands separators of the same character) is refused in one line that names the first
    value contradicting the others, where it is, the value it contradicts and the fix: whether the first lines
    (whole numbers) leave the format open, decide it with both values among them, or decide it with the first
    (the second past line 50, which a format of thousands separators would read as another number); rnagen data
    prepare exits with status 2 and writes nothing."""
    from rnagen.cli.main import main

    sep, rows, words = _MIXED_MARKS[case]
    p = tmp_path / "mixed.txt"
    if where == "after 58 lines of whole numbers":
        _whole_then(p, sep, rows, n_whole=58)
        words = words.format(60, 59 + len(rows))
    elif where == "at the top":
        _whole_then(p, sep, rows, n_whole=0)
        words = words.format(2, 1 + len(rows))
    else:
        _whole_then(p, sep, rows[1:], n_whole=58, first=rows[:1])
        words = words.format(2, 59 + len(rows))
    fix = ("write every value with one decimal mark and no thousands separators (in a spreadsheet: give all value "
           "cells one number format and export again)")
    with pytest.raises(DataError) as e:
        read(p, orientation="genes_x_samples")
    assert str(e.value).startswith(f"mixed.txt: {words}") and str(e.value).endswith(fix), str(e.value)
    out = tmp_path / "x.h5ad"
    assert main(["data", "prepare", str(p), "--orientation", "genes_x_samples", "--genes", "all", "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err
    assert not out.exists()


def _late_table(path, sep, first, late, *, n_whole=58):
    """A genes x samples table (4 samples): the gene FIRST with the cells ``first``, ``n_whole`` genes of whole
    numbers, then the gene LATE with the cells ``late``."""
    _whole_then(path, sep, [("LATE", late)], n_whole=n_whole, first=[("FIRST", first)])
    return path


@pytest.mark.parametrize("sep", [";", "\t"])
@pytest.mark.parametrize("space", [" ", "\u00a0", "\u202f"])
def test_thousands_grouped_by_spaces_read_as_written_and_misgrouped_ones_refused(tmp_path, capsys, sep, space):
    """A ';' or tab file of a French or Swiss spreadsheet (decimal commas, thousands grouped by a space, a no-break
    space or a narrow no-break space) reads as written wherever its grouped values first show; a value whose
    spaces do not group its digits in threes after one to three (12 34, 1 2345, 1234 567, 0 123, 1 234 5), which
    pandas would read as the digits run together (1234), is refused in one line naming it, its line, column and
    row and the fix, whether the format was decided on the first lines or on it; a value with a space in its
    decimal part is named as non-numeric as written (a no-break space as its code, named), not the good value of its
    column; one with a decimal point beside the decimal commas as a mix of two locales' numbers."""
    from rnagen.cli.main import main

    g = space
    named = {" ": "", "\u00a0": r" (\xa0: a no-break space)", "\u202f": r" (\u202f: a narrow no-break space)"}[g]
    a = read(_late_table(tmp_path / "late.txt", sep, ["1", "2", "3", "4"], [f"1{g}234,5", "12", f"12{g}345", "3,5"]),
             orientation="genes_x_samples")
    np.testing.assert_array_equal(a[:, "LATE"].X.ravel(), np.float32([1234.5, 12, 12345, 3.5]))
    a = read(_late_table(tmp_path / "top.txt", sep, [f"1{g}234{g}567,25", "7", f"43{g}567", "0,5"],
                         ["1", "2", "3", "4"]), orientation="genes_x_samples")
    np.testing.assert_array_equal(a[:, "FIRST"].X.ravel(), np.float32([1234567.25, 7, 43567, 0.5]))
    fix = ("write the value without thousands separators (in a spreadsheet: give all value cells one number format "
           "and export again)")
    for bad, number in (("12 34", "1234"), ("1 2345", "12345"), ("1234 567", "1234567"), ("0 123", "123"),
                        ("1 234 5", "12345"), ("1 2", "12")):
        bad = bad.replace(" ", g)
        words = (f"{bad!r}{named} at line 61, column 'S2' (row 'LATE') is no number as written: its digits are not "
                 "grouped "
                 f"in threes after one to three (as in 12 345), yet read with the file's thousands spaces it would be "
                 f"{number}")
        p = _late_table(tmp_path / "bad.txt", sep, [f"1{g}234,5", "7", f"43{g}567", "0,5"], ["1", bad, "3", "4"])
        with pytest.raises(DataError) as e:
            read(p, orientation="genes_x_samples")
        assert str(e.value) == f"bad.txt: {words}; {fix}"
        assert main(["data", "info", str(p)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err and "Traceback" not in err
    # a misgrouped value beside the first grouped ones: the format they decide does not read it as 1234
    p = tmp_path / "first.txt"
    p.write_text(sep.join(["gene", "S1", "S2", "S3"]) + "\n" + sep.join(["A", f"1{g}234,5", f"12{g}34", "3,5"]) + "\n"
                 + sep.join(["B", "1", "2", "3"]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^first.txt: {re.escape(repr(f'12{g}34') + named)} at line 2, column 'S2' "
                                        r"\(row 'A'\) is no number as written"):
        read(p, orientation="genes_x_samples")
    # a space in the decimal part: named as written (the parse reads a no-break space as a plain one), the no-break
    # space written as its code and named, so that it can be found
    p = _late_table(tmp_path / "dec.txt", sep, [f"1{g}234,5", "7", f"43{g}567", "0,5"], [f"1,5{g}000", "2", "3", "4"])
    words = (f"dec.txt: non-numeric value {f'1,5{g}000'!r}{named} at line 61, column 'S1' (gene 'LATE') (marks no "
             "number format reads as written")
    with pytest.raises(DataError, match=f"^{re.escape(words)}"):
        read(p, orientation="genes_x_samples")
    assert main(["data", "info", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err
    # a decimal point beside grouped values with decimal commas: two locales' numbers
    p = _late_table(tmp_path / "dec.txt", sep, [f"1{g}234,5", "7", f"43{g}567", "0,5"], [f"1{g}234.5", "2", "3", "4"])
    with pytest.raises(DataError, match=rf"^dec.txt: {re.escape(repr(f'1{g}234.5') + named)} at line 61, column 'S1' "
                                        r"\(row 'LATE'\) has thousands grouped by spaces and a decimal point, but "
                                        rf"{re.escape(repr(f'1{g}234,5') + named)} at line 2, column 'S1' \(row "
                                        r"'FIRST'\) has thousands grouped by spaces and a decimal comma: no number "
                                        r"format reads both as written"):
        read(p, orientation="genes_x_samples")


@pytest.mark.parametrize("sep", [",", ";", "\t"])
@pytest.mark.parametrize("group", ["'", "\u2019", " ", "\u00a0", "\u202f"])
def test_thousands_apostrophes_and_spaces_with_a_decimal_point_read_as_written(tmp_path, capsys, sep, group):
    """Swiss spreadsheets' thousands apostrophes, plain or typographic (1'234.5, 1’234.5), and thousands grouped by
    a space, plain, no-break or narrow no-break, with a decimal point (1 234.5, 12 345.75: the SI's digit groups) read
    as the numbers written, in a ',', ';' or tab file, samples as rows or as columns, wherever the grouped values
    first show; a value whose groups are not threes after one to three (12'34, 1 2345, 1'234'5), which pandas would
    read as the digits run together, is refused in one line naming it (a no-break space as its code), its line,
    column and row and the fix (rnagen data info: exit status 2); a decimal comma beside them is two locales."""
    from rnagen.cli.main import main

    g = group
    named = {"\u00a0": r" (\xa0: a no-break space)", "\u202f": r" (\u202f: a narrow no-break space)"}.get(g, "")
    x = np.array([[1234.5, 12345.75, 7], [2345.25, 0.5, 1234567], [512, 1000, 3.25]])

    def cell(v):
        return f"{v:,.2f}".rstrip("0").rstrip(".").replace(",", g)

    assert [cell(v) for v in x[1]] == [f"2{g}345.25", "0.5", f"1{g}234{g}567"]
    p = tmp_path / "sxg.txt"
    p.write_text(sep.join(["sample", "TP53", "EGFR", "MYC"]) + "\n" + "".join(
        sep.join([f"S{i}", *map(cell, r)]) + "\n" for i, r in enumerate(x)), encoding="utf-8")
    a = read(p, orientation="samples_x_genes")
    np.testing.assert_array_equal(a.X, x.astype(np.float32))
    p = tmp_path / "gxs.txt"
    p.write_text(sep.join(["gene", "S1", "S2", "S3"]) + "\n" + "".join(
        sep.join([gene, *map(cell, r)]) + "\n" for gene, r in zip(["TP53", "EGFR", "MYC"], x.T)), encoding="utf-8")
    np.testing.assert_array_equal(read(p).X, x.astype(np.float32))
    # first shown on line 61, after whole numbers; and at the top
    late = read(_late_table(tmp_path / "late.txt", sep, ["1", "2", "3", "4"],
                            [f"1{g}234.5", "12", f"12{g}345", "3.5"]), orientation="genes_x_samples")
    np.testing.assert_array_equal(late[:, "LATE"].X.ravel(), np.float32([1234.5, 12, 12345, 3.5]))
    np.testing.assert_array_equal(late[:, "G3"].X.ravel(), [21, 24, 27, 30])
    top = read(_late_table(tmp_path / "top.txt", sep, [f"1{g}234{g}567.25", "7", f"43{g}567", "0.5"],
                           ["1", "2", "3", "4"]), orientation="genes_x_samples")
    np.testing.assert_array_equal(top[:, "FIRST"].X.ravel(), np.float32([1234567.25, 7, 43567, 0.5]))
    words_t, t = ("thousands apostrophes", "'") if g in "'\u2019" else ("thousands spaces", " ")
    for bad, number in (("12 34", "1234"), ("1 2345", "12345"), ("1 234 5", "12345"), ("0 123.5", "123.5")):
        bad = bad.replace(" ", g)
        words = (f"{bad!r}{named} at line 61, column 'S2' (row 'LATE') is no number as written: its digits are not "
                 f"grouped in threes after one to three (as in 12{t}345), yet "
                 f"read with the file's {words_t} it would be {number}; write the value without thousands separators")
        p = _late_table(tmp_path / "bad.txt", sep, [f"1{g}234.5", "7", f"43{g}567", "0.5"], ["1", bad, "3", "4"])
        with pytest.raises(DataError) as e:
            read(p, orientation="genes_x_samples")
        assert str(e.value).startswith(f"bad.txt: {words}"), str(e.value)
        assert main(["data", "info", str(p)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err and "Traceback" not in err
    if sep != ",":   # a decimal comma beside them: no number format reads both
        p = _late_table(tmp_path / "mix.txt", sep, [f"1{g}234.5", "7", f"43{g}567", "0.5"], ["1", "2,5", "3", "4"])
        with pytest.raises(DataError, match="no number format reads both as written"):
            read(p, orientation="genes_x_samples")


@pytest.mark.parametrize("sep,first,bad,number", [
    ("\t", ["1,234", "512", "12,345", "7"], "1,23,456", "123456"),       # thousands commas (an English spreadsheet)
    ("\t", ["1,234,567", "512", "12,345", "7"], "12,34", None),          # a decimal comma beside them: two locales
    (";", ["1.225", "512", "12.345", "7"], "1.234.5", "12345"),          # thousands points (a German spreadsheet)
    (";", ["1.225", "512", "12.345", "7"], "1.23.456", "123456"),
])
def test_a_value_its_file_s_thousands_separator_would_run_together_is_refused(tmp_path, sep, first, bad, number):
    """pandas drops a thousands separator wherever it stands among the digits: in a file of thousands commas
    1,23,456 would be 123456, in one of thousands points 1.234.5 would be 12345; such a
    value, read as written by no number format, is refused naming it (a value another format reads as written is
    a mix of two locales, refused as such)."""
    p = _late_table(tmp_path / "t.txt", sep, first, ["1", "2", bad, "4"])
    with pytest.raises(DataError) as e:
        read(p, orientation="genes_x_samples")
    if number is None:
        assert "no number format reads both as written" in str(e.value)
    else:
        t = "commas" if "," in first[0] else "points"
        assert str(e.value).startswith(f"t.txt: {bad!r} at line 61, column 'S3' (row 'LATE') is no number as written")
        assert f"read with the file's thousands {t} it would be {number};" in str(e.value)


def test_a_stray_value_in_a_decimal_comma_file_is_named_and_its_sample_kept(tmp_path, capsys):
    """A ';' file of decimal commas (or thousands points) whose sample column holds one stray value is refused
    naming that value: the column's other values are numbers in the file's format (1,25), so it is a sample with a
    stray value, not an annotation column dropped from the samples."""
    from rnagen.cli.main import main

    for name, cells, bad in (("dc.csv", lambda i: [f"{i},5", f"{i + 1},25", f"{i + 2},5"], "BAD;1,5;x;3,5"),
                             ("tp.csv", lambda i: [f"{i + 1}.225", "512", f"{i + 2}"], "BAD;1.225;x;3")):
        p = tmp_path / name
        p.write_text("gene;S1;S2;S3\n" + "".join(";".join([f"G{i}", *cells(i)]) + "\n" for i in range(6)) + bad + "\n")
        for orientation in ("genes_x_samples", "auto"):
            with pytest.raises(DataError, match=rf"^{name}: non-numeric value 'x' at line 8, column 'S2' \(gene "
                                                r"'BAD'\)"):
                read(p, orientation=orientation)
        assert main(["data", "info", str(p)]) == 2
        assert "non-numeric value 'x' at line 8" in capsys.readouterr().err
    # samples as rows: the gene column with the stray value named, not its first decimal comma
    p = tmp_path / "sxg.csv"
    p.write_text("sample;ENSG00000141510;ENSG00000146648;batch\n" + "".join(
        f"S{i};{i},5;{i + 1},25;b{i % 2}\n" for i in range(6)) + "S9;1,5;n/v;b1\n")
    with pytest.raises(DataError, match=r"^sxg.csv: non-numeric value 'n/v' at line 8, column 'ENSG00000146648' "
                                        r"\(sample 'S9'\)"):
        read(p, orientation="samples_x_genes")


@pytest.mark.parametrize("date", ["{d:02d}.03.2021", "{d:02d}.03.21", "2021.03.{d:02d}."])
def test_a_column_of_dates_in_a_file_of_thousands_points_is_an_annotation_as_written(tmp_path, capsys, date):
    """A sample annotation of dates written with points (12.03.2021, 12.03.21, the Hungarian 2021.03.12.) in a ';'
    file of thousands points and decimal commas (1.234,5), or of counts grouped by points (1.225 beside 512), is text:
    the file reads, its matrix that of the file without the column, the dates kept as written; samples as columns,
    a row of dates is the labels with --label-key, else refused in one line naming it (exit status 2); a
    misgrouped number (1.234.5) beside the dates is refused still, and a date where the first lines show a column
    or row of numbers is named as a date, never read as the number pandas makes of it (12032021)."""
    from rnagen.cli.main import main

    genes = ["TP53", "EGFR", "MYC"]
    x = np.array([[1234.5 + i, i + 0.25, 2345.0] for i in range(6)])
    dates = [date.format(d=10 + i) for i in range(6)]
    cell = {1234.5: "1.234,5"}

    def num(v):
        return f"{v:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".").rstrip("0").rstrip(",")

    assert num(1234.5) == cell[1234.5] and num(2345.0) == "2.345" and num(0.25) == "0,25"
    rows = [f"S{i};{d};" + ";".join(num(v) for v in r) for i, (d, r) in enumerate(zip(dates, x))]
    (tmp_path / "with.csv").write_text("sample;date;" + ";".join(genes) + "\n" + "\n".join(rows) + "\n")
    (tmp_path / "without.csv").write_text("sample;" + ";".join(genes) + "\n" + "\n".join(
        f"S{i};" + ";".join(num(v) for v in r) for i, r in enumerate(x)) + "\n")
    a = read(tmp_path / "with.csv")
    b = read(tmp_path / "without.csv")
    np.testing.assert_allclose(a.X, x, rtol=1e-6)
    np.testing.assert_array_equal(a.X, b.X)
    assert list(a.var_names) == genes and list(a.obs["date"]) == dates
    assert list(read(tmp_path / "with.csv", label_key="date").obs["date"]) == dates
    assert main(["data", "info", str(tmp_path / "with.csv")]) == 0, capsys.readouterr().err
    capsys.readouterr()
    # counts grouped by points beside the dates: 1.225 is 1225
    (tmp_path / "counts.csv").write_text("sample;date;TP53;EGFR\n" + "".join(
        f"S{i};{d};{'1.2%d5' % i if i % 2 else str(50 + i)};{i}12\n" for i, d in enumerate(dates)))
    np.testing.assert_array_equal(read(tmp_path / "counts.csv").X[:, 0], [50, 1215, 52, 1235, 54, 1255])
    # samples as columns: the row of dates is the labels as written
    (tmp_path / "gxs.csv").write_text("gene;S0;S1;S2\ndate;" + ";".join(dates[:3]) + "\n" + "".join(
        f"G{k};" + ";".join(num(v) for v in x[:3, k]) + "\n" for k in range(3)))
    g = read(tmp_path / "gxs.csv", label_key="date")
    assert list(g.obs["date"]) == dates[:3] and list(g.var_names) == ["G0", "G1", "G2"]
    np.testing.assert_allclose(g.X, x[:3], rtol=1e-6)
    words = (f"gxs.csv: row 'date' (line 2) holds dates for the samples ({dates[0]!r}, {dates[1]!r}, ...), sample "
             "annotations, not expression values: if it is the labels, pass --label-key date, else remove the row")
    with pytest.raises(DataError, match=re.escape(words)):
        read(tmp_path / "gxs.csv")
    assert main(["data", "info", str(tmp_path / "gxs.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err
    # a misgrouped number beside the dates is refused, naming it
    (tmp_path / "bad.csv").write_text("sample;date;" + ";".join(genes) + "\n" + "\n".join(
        r.replace(";0,25;", ";1.234.5;") if r.startswith("S0;") else r for r in rows) + "\n")
    words = ("bad.csv: '1.234.5' at line 2, column 'EGFR' (row 'S0') is no number as written: its digits are not "
             "grouped in threes after one to three (as in 12.345), yet read with the file's thousands points it would "
             "be 12345")
    assert main(["data", "info", str(tmp_path / "bad.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err
    # a date past the first lines of a column empty there, and one in a column of numbers: named as dates
    late = "".join(f"S{i};{dates[0] if i == 65 else ''};{num(1234.5 + i)};0,5\n" for i in range(70))
    (tmp_path / "late.csv").write_text("sample;date;TP53;EGFR\n" + late)
    words = (f"late.csv: {dates[0]!r} at line 67, column 'date' (row 'S65') is a date among the values, which the "
             "file's thousands points would read as the number ")
    assert main(["data", "info", str(tmp_path / "late.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err
    (tmp_path / "stray.csv").write_text("sample;" + ";".join(genes) + "\n" + "\n".join(
        f"S{i};" + ";".join(dates[0] if (i, k) == (3, 1) else num(v) for k, v in enumerate(r))
        for i, r in enumerate(x)) + "\n")
    with pytest.raises(DataError, match=rf"^stray.csv: non-numeric value {re.escape(repr(dates[0]))} at line 5, "
                                        r"column 'EGFR' \(sample 'S3'\) \(a date among the values"):
        read(tmp_path / "stray.csv")


@pytest.mark.parametrize("space", [" ", "\u00a0", "\u202f"])
def test_a_space_inside_a_field_of_a_space_separated_file_is_no_thousands_separator(tmp_path, space):
    """R's write.table (fields separated by single spaces, text quoted) and a table aligned by runs of spaces: a
    quoted "1 234,5" or "1 234" is no number grouped by spaces there (spaces separate the fields), refused as a
    non-numeric value, never read as 1234.5; an unquoted one is refused too."""
    for bad, name in ((f'"1{space}234,5"', "q1.txt"), (f'"1{space}234"', "q2.txt"), (f"1{space}234", "u.txt")):
        p = tmp_path / name
        p.write_text('"S1" "S2" "S3"\n' + "".join(f'"G{i}" {i},5 {i + 1} {i + 2}\n' for i in range(5))
                     + f'"BAD" {bad} 5 6\n', encoding="utf-8")
        with pytest.raises(DataError):
            read(p, orientation="genes_x_samples")
    p = tmp_path / "r.txt"
    p.write_text('"S1" "S2" "S3"\n' + "".join(f'"G{i}" {i} {i + 1} {i + 2}\n' for i in range(5))
                 + f'"BAD" "1{space}234,5" 5 6\n', encoding="utf-8")
    named = {"\u00a0": r" (\xa0: a no-break space)", "\u202f": r" (\u202f: a narrow no-break space)"}.get(space, "")
    with pytest.raises(DataError, match=rf"non-numeric value {re.escape(repr(f'1{space}234,5') + named)} at line 7, "
                                        r"column "
                                        r"'S1' \(gene 'BAD'\) "
                                        r"\(thousands grouped by spaces, read only in a ';'- or tab-separated file"):
        read(p, orientation="genes_x_samples")
    p = tmp_path / "aligned.txt"
    p.write_text("gene    S1      S2     S3\n" + "".join(f"G{i}      {i}     {i + 1}      {i + 2}\n" for i in range(30))
                 + f"BAD     1{space}234    5     6\n", encoding="utf-8")
    with pytest.raises(DataError):
        read(p, orientation="genes_x_samples")


def test_the_line_named_is_the_file_s_line_past_quoted_line_breaks_blank_lines_and_a_preamble(tmp_path, capsys):
    """A bad value's line is the line of the file it stands on: past rows whose quoted Description holds line
    breaks (LF or CRLF), past blank lines, a '#' preamble and a row of labels; a value of another locale named by
    its own line, column and row (not a piece of a broken Description taken for a row); rnagen data info says so
    in one line with exit status 2."""
    from rnagen.cli.main import main

    def table(name, text):
        (tmp_path / name).write_bytes(text.encode())
        return tmp_path / name

    for nl in ("\n", "\r\n"):
        rows = "".join(f'G{i},"first line{nl}second line",{i},{i + 1},{i + 2}{nl}' for i in range(5))
        p = table("quoted.csv", f"gene,Description,S1,S2,S3{nl}" + rows + f'BAD,"d",1,x,3{nl}')
        with pytest.raises(DataError, match=r"non-numeric value 'x' at line 12, column 'S2' \(gene 'BAD'\)"):
            read(p, orientation="genes_x_samples")
        assert main(["data", "info", str(p)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "'x' at line 12, column 'S2'" in err
    # samples as rows, a ';' file of decimal commas with a multi-line note before the bad value
    p = table("sxg.csv", "sample;note;TP53;EGFR;MYC\n" + "".join(f'S{i};"a\nb\nc";{i},5;{i + 1};{i + 2}\n'
                                                                   for i in range(4)) + 'SB;"n";1,5;x;3\n')
    with pytest.raises(DataError, match=r"non-numeric value 'x' at line 14, column 'EGFR' \(sample 'SB'\)"):
        read(p, orientation="samples_x_genes")
    body = "".join(f"G{i},{i},{i + 1},{i + 2}\n" for i in range(5))
    for name, text, line in (("preamble.csv", "# exported\n# by hand\ngene,S1,S2,S3\n" + body + "BAD,1,x,3\n", 9),
                             ("blank.csv", "gene,S1,S2,S3\n" + body + "\n\nBAD,1,x,3\n", 9),
                             ("labels.csv", "gene,S1,S2,S3\ncls,a,b,a\n" + body + "BAD,1,x,3\n", 8)):
        with pytest.raises(DataError, match=rf"non-numeric value 'x' at line {line}, column 'S2' \(gene 'BAD'\)"):
            read(table(name, text), orientation="genes_x_samples", label_key="cls" if "labels" in name else None)
    # two locales: the decimal comma named on its own line (3), in its column and row
    p = table("mixed.csv", "gene;Description;S1;S2;S3\n" + "".join(f'G{i};"a\nb";{i},5;1;2\n' for i in range(5))
              + 'BAD;"d";1.5;2;3\n')
    with pytest.raises(DataError, match=r"^mixed.csv: '1.5' at line 12, column 'S1' \(row 'BAD'\) has a decimal "
                                        r"point, but '0,5' at line 3, column 'S1' \(row 'G0'\) has a decimal comma"):
        read(p, orientation="genes_x_samples")
    # a misgrouped value past the first 64 KiB, after rows with line breaks in a quoted field
    rows = "".join(f'G{i};"x\ny";{i % 999 + 1} 234,5;{i};2\n' for i in range(6000))
    p = table("late.csv", "gene;Description;S1;S2;S3\n" + rows + 'BAD;"d";12 34;1;2\n')
    with pytest.raises(DataError, match=r"^late.csv: '12 34' at line 12002, column 'S1' \(row 'BAD'\) is no number"):
        read(p, orientation="genes_x_samples")


def _nsolver_export(sep: str, count: str) -> str:
    """An nSolver RCC Collector export of two lanes (File Name, a lane attribute, the probes), TP53's count in the
    first lane written as ``count``."""
    rows = [["File Name", "", "", "a.RCC", "b.RCC"], ["Sample ID", "", "", "s1", "s2"],
            ["Positive", "POS_A(128)", "ERCC_00117.1", "12800", "6400"],
            ["Negative", "NEG_A(0)", "ERCC_00096.1", "11", "9"],
            ["Endogenous", "TP53", "NM_000546.5", count, "310"],
            ["Housekeeping", "GAPDH", "NM_002046.3", "1900", "950"]]
    return "".join(sep.join(f'"{c}"' if sep in c else c for c in r) + "\r\n" for r in rows)


def test_files_of_tools_that_write_decimal_points_refuse_a_spreadsheet_s_number_marks(tmp_path, capsys):
    """A GEO series matrix, a GEO SOFT file, a featureCounts table and an nSolver export saved again by a
    spreadsheet of another locale: a decimal comma or a thousands separator (which these tools never write) is
    refused in one line naming the value, where it is, and the fix, never read as another number: featureCounts'
    1.234 is no count it writes (whole, or two decimals with -M --fraction) nor a gene length, nSolver's 1.234 no
    count; featureCounts' fractional 2.50 reads as 2.5."""
    from rnagen.cli.main import main

    def refused(name, text, words):
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(DataError) as e:
            read(p, missing="keep")
        assert str(e.value).startswith(f"{name}: {words}"), str(e.value)
        assert main(["data", "info", str(p)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err and "Traceback" not in err

    geo_fix = "GEO's series matrix writes numbers with a decimal point and no thousands separators"
    refused("GSE1_series_matrix.txt", _GEO.replace("\t6.1\t", "\t6,1\t"),
            f"'6,1' at line 16, column 'GSM2' (row '117_at') has a decimal comma, but {geo_fix}")
    refused("GSE2_series_matrix.txt", _GEO.replace("\t6.1\t", '\t"1,234"\t'),
            "'1,234' at line 16, column 'GSM2' (row '117_at') has a comma before three digits (a decimal or a "
            f"thousands comma), but {geo_fix}")
    samples = {"GSM1": (["tissue: liver"], {"1007_s_at": 5.5, "1053_at": 7.25}),
               "GSM2": (["tissue: lung"], {"1007_s_at": 6.5, "1053_at": "7,25"})}
    refused("GSE1_family.soft", _soft_family(samples),
            "'7,25' in sample GSM2, probe '1053_at' has a decimal comma, but GEO's SOFT files write numbers with a "
            "decimal point")

    counts = np.array([[10, 0, 7, 3], [200, 150, 90, 310], [5, 6, 7, 8]]).astype(object)
    files = ["a.bam", "b.bam", "c.bam", "d.bam"]
    for v, words in (("1,234", "'1,234' at line 4, column 'b.bam' (row 'ENSG00000122873.12') has a comma before "
                               "three digits (a decimal or a thousands comma), but featureCounts writes numbers"),
                     ("1.234", "'1.234' at line 4, column 'b.bam' (gene 'ENSG00000122873.12') is no value "
                               "featureCounts writes (a count is a whole number, or with -M --fraction one with two "
                               "decimals")):
        c = counts.copy()
        c[1, 1] = v
        refused("counts.txt", _featurecounts(files, c), words)
    refused("lengths.txt", _featurecounts(files, counts).replace("\t873\t", "\t1.234\t"),
            "'1.234' at line 4, column 'Length' (gene 'ENSG00000122873.12') is no value featureCounts writes (a gene "
            "length is a whole number")
    c = counts.copy()
    c[1, 1] = "2.50"
    (tmp_path / "fraction.txt").write_text(_featurecounts(files, c))
    np.testing.assert_array_equal(read(tmp_path / "fraction.txt").X[1], [0, 2.5, 6])

    for name, sep, v in (("eu.csv", ";", "1.234"), ("en.csv", ",", "1,234")):
        kind = "a point" if "." in v else "a comma"
        refused(name, _nsolver_export(sep, v), f"count {v!r} at line 5 (probe 'TP53', lane 'a.RCC') has {kind} "
                                               "before three digits")
    (tmp_path / "ok.csv").write_text(_nsolver_export(";", "1234"))
    np.testing.assert_array_equal(read(tmp_path / "ok.csv")[:, "TP53"].X.ravel(), [1234, 310])


def test_the_number_check_tests_every_line_with_a_value_its_format_does_not_read():
    """The fast test on a line's text that spares splitting it (:class:`rnagen.data.io._NumberCheck`) passes every
    line holding a value with a mark that the format being read does not read as written (whole numbers with a
    leading 0, runs of four digits, one to three groups of commas, points or spaces, decimal parts, exponents,
    quoted in a comma-separated file) or a value no format reads as written that it would make a number of (12 34
    read with thousands spaces), and, while the format is open, every line holding any value with a mark."""
    import random
    from types import SimpleNamespace

    from rnagen.data.io import _MARKS, _NUMBER_LIKE, _READS, _fields, _NumberCheck, _read_by_pandas

    rnd = random.Random(0)

    def value():
        n = rnd.choice(["0", "5", "07", "12", "512", "1234", "12345"])
        grouped = rnd.choice(["1", "12", "123", "0"]) + "".join(
            rnd.choice(",. ") + rnd.choice(["123", "12", "1234", "000"]) for _ in range(rnd.randrange(1, 3)))
        return rnd.choice([n, f"{n}.{rnd.choice(['5', '123', '1234'])}", f"{n},{rnd.choice(['5', '123', '1234'])}",
                           grouped, grouped + rnd.choice([",5", ".5"]), f"-{n}.5", f".{n}", "1e5", f"{n},5e-3", "NA"])

    for sep in ("\t", ";", ","):
        txt = SimpleNamespace(source="x", sep=sep, lines=[], numbers_decided=True, decimal=".", thousands=None)
        check = _NumberCheck(txt, header=["gene", "S1", "S2", "S3"], data_from=1)
        for _ in range(4000):
            cells = [value() for _ in range(3)]
            if sep == ",":
                cells = [f'"{v}"' if "," in v or rnd.random() < 0.2 else v for v in cells]
            line = sep.join(["ENSG00000141510.16", *cells])
            seen = check._values(5, line)
            assert not seen or check._suspect(line, (".", None), True), line
            for fmt, reads in _READS.items():
                if any(not reads.fullmatch(s.value) for s in seen):
                    assert check._suspect(line, fmt, False), (fmt, line)
            # a value no format reads as written, which a format's thousands separator makes a number of (12 34)
            fields = [f.strip() for f in _fields(line, sep)[1:]]
            for fmt in _READS:
                if any(_MARKS.search(v) and _NUMBER_LIKE.fullmatch(v) and _read_by_pandas(v, fmt)
                       and not any(r.fullmatch(v) for r in _READS.values()) for v in fields):
                    assert check._suspect(line, fmt, False), ("misread", fmt, line)


def test_a_wide_table_with_a_gene_named_like_an_annotation_is_read_in_one_block_without_a_float64_copy(tmp_path,
                                                                                                         monkeypatch):
    """A samples x genes table whose genes include GC (named like a gene annotation column, which the reader
    leaves as parsed) among many others, beside a label column: every value read exactly, in the file's order; each
    parsed block keeps its cast columns in one float32 block (set one column at a time, each would split the
    frame's blocks again: quadratic in the columns), and the float32 matrix is built without a float64 copy of the
    table."""
    import tracemalloc

    import rnagen.data.io as io_mod
    from rnagen.data.io import _float32_chunk, _matrix

    rng = np.random.default_rng(0)
    genes = [f"GENE{j}" for j in range(600)]
    genes[300] = "GC"
    X = np.round(rng.gamma(2.0, 50.0, size=(40, 600)), 2)
    df = pd.DataFrame(X, index=[f"s{i}" for i in range(40)], columns=genes)
    df.insert(0, "tissue", ["ab"[i % 2] for i in range(40)])
    df.index.name = "sample"
    df.to_csv(tmp_path / "wide.csv")
    a = read(tmp_path / "wide.csv", label_key="tissue")
    assert list(a.var_names) == genes and a.X.dtype == np.float32
    np.testing.assert_array_equal(a.X, X.astype(np.float32))
    assert list(a.obs["tissue"]) == ["ab"[i % 2] for i in range(40)]

    chunk = pd.read_csv(tmp_path / "wide.csv", index_col=0)
    out = _float32_chunk(chunk, "wide.csv")
    assert list(out.columns) == list(chunk.columns) and list(out.index) == list(chunk.index)
    assert out["GC"].dtype == np.float64 and out["tissue"].dtype == object and out["GENE0"].dtype == np.float32
    assert out._mgr.nblocks <= 3
    np.testing.assert_array_equal(out.drop(columns="tissue").to_numpy(np.float64).astype(np.float32),
                                  X.astype(np.float32))

    num = list(range(1, out.shape[1]))
    big = pd.concat([out] * 50, ignore_index=True)   # 2,000 x 600: the matrix 4.8 MB
    monkeypatch.setattr(io_mod, "_SLICE_VALUES", 2000 * 30, raising=False)   # slices of 30 columns
    tracemalloc.start()
    try:
        M = _matrix(big, num, list(big.columns), "wide.csv")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(M, np.tile(X.astype(np.float32), (50, 1)))
    assert peak < 1.6 * M.nbytes   # the matrix and a slice: no float64 copy (2 x) of the whole


def _arrow_cases(tmp_path, ext="parquet"):
    """Parquet (``ext="parquet"``) or Feather files of the layouts a user's table comes in, each with what decides
    how its columns are read."""
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    def save(frame, name):
        if ext == "parquet":
            frame.to_parquet(tmp_path / f"{name}.{ext}")
        else:
            frame.to_feather(tmp_path / f"{name}.{ext}")

    rng = np.random.default_rng(3)
    samples = [f"s{i}" for i in range(30)]
    out = {}
    # samples x genes: a label column first, a gene named like an annotation (GC), float32 values
    wide = pd.DataFrame(rng.gamma(2.0, 50.0, (30, 700)).astype(np.float32), index=pd.Index(samples, name="sample"),
                        columns=[f"G{j}" for j in range(699)] + ["GC"])
    wide.insert(0, "tissue", ["ab"[i % 2] for i in range(30)])
    save(wide, "wide")
    out["wide"] = (f"wide.{ext}", "tissue")
    # genes x samples in float64 with gene annotations: whole-number Entrez ids beyond float32's exact range, a length
    tall = pd.DataFrame(np.round(rng.gamma(2.0, 50.0, (40, 30)), 3), index=pd.Index([f"GENE{j}" for j in range(40)],
                        name="gene"), columns=samples)
    tall.insert(0, "Entrez_Gene_Id", (100287399.0 + np.arange(40)))
    tall.insert(1, "Length", np.arange(40, dtype=np.int64) * 10 + 500)
    save(tall, "tall")
    out["tall"] = (f"tall.{ext}", None)
    # numeric labels (doses) as the label column, kept as written
    dose = pd.DataFrame(rng.gamma(2.0, 5.0, (30, 50)), index=pd.Index(samples, name="sample"),
                        columns=[f"G{j}" for j in range(50)])
    dose["dose"] = [0.1, 0.5, 1.0] * 10
    save(dose, "dose")
    out["dose"] = (f"dose.{ext}", "dose")
    # no pandas record (written by pyarrow, as polars or DuckDB write): the ids a text column, values in between
    t = pa.table({"value0": rng.normal(5, 1, 30), "id": samples, **{f"G{j}": rng.normal(5, 1, 30) for j in range(40)},
                  "grp": ["xyz"[i % 3] for i in range(30)]})
    (pq.write_table if ext == "parquet" else feather.write_feather)(t, tmp_path / f"plain.{ext}")
    out["plain"] = (f"plain.{ext}", "grp")
    # more columns of other types than are inserted one at a time (whole counts), then float values
    many = pd.DataFrame(rng.poisson(20, (30, 80)), index=pd.Index(samples, name="sample"),
                        columns=[f"C{j}" for j in range(80)])
    for j in range(40):
        many[f"F{j}"] = rng.normal(5, 1, 30)
    many["grp"] = ["ab"[i % 2] for i in range(30)]
    save(many, "many")
    out["many"] = (f"many.{ext}", "grp")
    return out


def _as_whole_read(got: dict, cases: dict, tmp_path) -> None:
    """Each case read a batch of columns at a time (``got``) is the AnnData of the whole-file read (the reader
    patched to it before the call), and the layouts' particulars are kept."""
    for k, (f, key) in cases.items():
        ref = read(tmp_path / f, label_key=key)
        a = got[k]
        assert list(a.var_names) == list(ref.var_names) and list(a.obs_names) == list(ref.obs_names), k
        assert a.X.dtype == np.float32
        np.testing.assert_array_equal(a.X, ref.X)
        pd.testing.assert_frame_equal(a.obs, ref.obs, check_dtype=False)
        pd.testing.assert_frame_equal(a.var, ref.var, check_dtype=False)
    assert list(got["wide"].var_names)[-1] == "GC" and got["wide"].n_vars == 700
    assert list(got["tall"].var["Entrez_Gene_Id"])[:2] == [100287399, 100287400]   # exact, not float32-rounded
    assert sorted(set(got["dose"].obs["dose"].astype(str))) == ["0.1", "0.5", "1"]   # not 0.10000000149
    assert got["many"].n_vars == 120 and list(got["many"].var_names[:2]) == ["C0", "C1"]


def test_a_parquet_table_reads_as_pandas_reads_it_a_batch_of_columns_at_a_time(tmp_path, monkeypatch):
    """Each layout reads to the same AnnData as through pd.read_parquet of the whole file (the values, the genes in
    the file's order, the labels, the annotations), with the float columns read a few at a time."""
    import rnagen.data.io as io_mod

    cases = _arrow_cases(tmp_path)
    monkeypatch.setattr(io_mod, "_PARQUET_COLUMNS", 7)
    got = {k: read(tmp_path / f, label_key=key) for k, (f, key) in cases.items()}
    monkeypatch.setattr(io_mod, "_parquet_frame", lambda path, label_key: pd.read_parquet(path))
    _as_whole_read(got, cases, tmp_path)


def test_a_feather_table_reads_as_pandas_reads_it_a_batch_of_columns_at_a_time(tmp_path, monkeypatch):
    """Feather (Arrow IPC) files of each layout read to the same AnnData as through pd.read_feather of the whole
    file, with the float columns decoded a few at a time: pandas' index (a named one, a RangeIndex, one written as a
    column named ``index``), text columns, several record batches, compressed and not."""
    import pyarrow as pa
    import pyarrow.feather as feather

    import rnagen.data.io as io_mod

    cases = _arrow_cases(tmp_path, "feather")
    rng = np.random.default_rng(4)
    samples = [f"s{i}" for i in range(30)]
    # the index written as a column named ``index`` (df.reset_index().to_feather), a text label column last
    ix = pd.DataFrame(rng.gamma(2.0, 50.0, (30, 60)), index=samples, columns=[f"G{j}" for j in range(60)])
    ix["tissue"] = ["abc"[i % 3] for i in range(30)]
    ix.reset_index().to_feather(tmp_path / "index.feather")
    cases["index"] = ("index.feather", "tissue")
    # genes x samples: gene ids and descriptions as text columns, a RangeIndex; uncompressed, record batches of 7 rows
    tall = pd.DataFrame(np.round(rng.gamma(2.0, 50.0, (40, 30)), 2).astype(np.float32), columns=samples)
    tall.insert(0, "gene", [f"ENSG{j:011d}" for j in range(40)])
    tall.insert(1, "Description", [f"gene {j}" for j in range(40)])
    feather.write_feather(tall, tmp_path / "batches.feather", compression="uncompressed", chunksize=7)
    cases["batches"] = ("batches.feather", None)
    monkeypatch.setattr(io_mod, "_PARQUET_COLUMNS", 7)
    decoded = []
    real = feather.read_table
    monkeypatch.setattr(feather, "read_table", lambda *a, **kw: decoded.append(kw.get("columns")) or real(*a, **kw))
    got = {k: read(tmp_path / f, label_key=key) for k, (f, key) in cases.items()}
    assert max(len(c or ()) for c in decoded) == 7   # the values a batch of 7 columns at a time
    monkeypatch.setattr(io_mod, "_feather_frame", lambda path, label_key: pd.read_feather(path))
    _as_whole_read(got, cases, tmp_path)
    assert list(got["index"].obs_names) == samples and got["index"].n_vars == 60
    assert list(got["batches"].obs_names) == samples and list(got["batches"].var["Description"])[:1] == ["gene 0"]
    np.testing.assert_array_equal(got["batches"].X, tall[samples].to_numpy().T)
    assert pa.ipc.open_file(str(tmp_path / "batches.feather")).num_record_batches == 6


@pytest.mark.parametrize("ext", ["parquet", "feather"])
def test_a_parquet_value_beyond_float32_is_refused_as_before(tmp_path, monkeypatch, ext):
    """A float64 value beyond float32's range in a parquet or Feather file: the same one-line error, naming the
    sample and the gene, as the whole-file read gives."""
    import rnagen.data.io as io_mod

    df = pd.DataFrame(np.ones((5, 20)), index=pd.Index([f"s{i}" for i in range(5)], name="sample"),
                      columns=[f"G{j}" for j in range(20)])
    df.iloc[3, 12] = 1e39
    getattr(df, f"to_{ext}")(tmp_path / f"big.{ext}")
    with pytest.raises(DataError) as new:
        read(tmp_path / f"big.{ext}")
    monkeypatch.setattr(io_mod, f"_{ext}_frame", lambda path, label_key: getattr(pd, f"read_{ext}")(path))
    with pytest.raises(DataError) as old:
        read(tmp_path / f"big.{ext}")
    assert str(new.value) == str(old.value)
    assert "1 values beyond the float32 range (first 1e+39 at 's3', 'G12')" in str(new.value)


def test_a_wide_parquet_file_is_decoded_in_a_fraction_of_the_memory(tmp_path):
    """pyarrow's peak allocation reading a 200 x 4,000 float64 table: the batches' against the whole table's
    (pd.read_parquet), each in a fresh process."""
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    pd.DataFrame(rng.gamma(2.0, 50.0, (200, 4000)), index=pd.Index([f"s{i}" for i in range(200)], name="sample"),
                 columns=[f"G{j}" for j in range(4000)]).to_parquet(tmp_path / "m.parquet")
    peaks = {}
    for how in ("batches", "whole"):
        code = ("import pyarrow as pa, pandas as pd\nimport rnagen.data.io as m\n"
                + ("m._parquet_frame = lambda path, label_key: pd.read_parquet(path)\n" if how == "whole" else "")
                + f"m.read({str(tmp_path / 'm.parquet')!r})\nprint(pa.default_memory_pool().max_memory())\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        peaks[how] = int(out.stdout.split()[-1])
    assert peaks["batches"] < 0.3 * peaks["whole"], peaks


def test_a_wide_feather_file_is_read_in_a_fraction_of_the_memory(tmp_path):
    """The resident memory a read of a 2,000 x 4,000 float64 Feather file adds at its peak (Linux's VmHWM, reset
    after a first small read has imported what a read needs): the batches' against the whole table's
    (pd.read_feather), each in a fresh process. pyarrow's own allocation count does not tell them apart: its reader
    allocates a record batch's whole body for a column subset and touches only the columns'."""
    import subprocess
    import sys

    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak resident memory")
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.gamma(2.0, 50.0, (2000, 4000)), index=pd.Index([f"s{i}" for i in range(2000)], name="sample"),
                 columns=[f"G{j}" for j in range(4000)]).to_feather(tmp_path / "m.feather")
    pd.DataFrame(np.ones((3, 4)), index=pd.Index([f"s{i}" for i in range(3)], name="sample"),
                 columns=[f"G{j}" for j in range(4)]).to_feather(tmp_path / "small.feather")
    peaks = {}
    for how in ("batches", "whole"):
        code = ("import pandas as pd\nimport rnagen.data.io as m\n"
                "def kb(key): return int(open('/proc/self/status').read().split(key + ':')[1].split()[0])\n"
                + ("m._feather_frame = lambda path, label_key: pd.read_feather(path)\n" if how == "whole" else "")
                + f"m.read({str(tmp_path / 'small.feather')!r})\nopen('/proc/self/clear_refs', 'w').write('5')\n"
                + f"r0 = kb('VmRSS')\nm.read({str(tmp_path / 'm.feather')!r})\nprint(kb('VmHWM') - r0)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        peaks[how] = int(out.stdout.split()[-1])
    # the whole table's read: the file's 64 MB read, pandas' float64 copy, the float32 matrix; the batches': the
    # float32 matrix (32 MB), its copy into the AnnData and a batch
    assert peaks["batches"] < 0.5 * peaks["whole"], peaks


def test_a_row_of_labels_under_the_header_is_lifted_before_the_samples_become_text(tmp_path, monkeypatch):
    """A genes x samples table whose second line names each sample's class (``group``, as GEO and portal tables put
    it), beside a text column of descriptions: the labels, the values and the genes read as before, and the samples'
    columns reach the table-to-AnnData step as float32 numbers, not as the Python objects the row of labels made of
    every value of theirs (a 20,000 x 2,000 table: 2.7 GB)."""
    import rnagen.data.io as io_mod

    rng = np.random.default_rng(0)
    X = np.round(rng.gamma(2.0, 50.0, (60, 8)), 2)
    genes = [f"ENSG{j:011d}" for j in range(1, 61)]
    lines = ["gene,Description," + ",".join(f"S{i}" for i in range(8)),
             "group,," + ",".join("tumour" if i % 2 else "normal" for i in range(8))]
    lines += [f"{g},gene {k}," + ",".join(f"{v:.2f}" for v in X[k]) for k, g in enumerate(genes)]
    (tmp_path / "grouped.csv").write_text("\n".join(lines) + "\n")
    seen = {}
    real = io_mod._frame_to_adata

    def spy(df, **kw):
        seen["dtypes"] = df.dtypes.copy()
        return real(df, **kw)

    monkeypatch.setattr(io_mod, "_frame_to_adata", spy)
    a = read(tmp_path / "grouped.csv", label_key="group")
    assert list(a.obs["group"]) == ["tumour" if i % 2 else "normal" for i in range(8)]
    assert list(a.var_names) == genes and list(a.obs_names) == [f"S{i}" for i in range(8)]
    np.testing.assert_array_equal(a.X, X.T.astype(np.float32))
    assert list(a.var["Description"])[:2] == ["gene 0", "gene 1"]
    assert all(seen["dtypes"][f"S{i}"] == np.float32 for i in range(8))


def test_a_row_of_labels_over_genes_named_by_entrez_numbers_keeps_them_as_the_ids(tmp_path):
    """The first header field a gene symbol and the genes Entrez numbers under a row of labels: the numbers stay the
    genes' ids (the row of labels is one of the ids, so they are not all numbers), as when the row stays in the
    table."""
    rng = np.random.default_rng(0)
    X = np.round(rng.gamma(2.0, 50.0, (30, 4)), 2)
    (tmp_path / "entrez.csv").write_text("\n".join(
        ["TP53,S1,S2,S3,S4", "group,a,b,a,b"] + [f"{7157 + k}," + ",".join(f"{v:.2f}" for v in X[k])
                                                  for k in range(30)]) + "\n")
    a = read(tmp_path / "entrez.csv", label_key="group")
    assert list(a.obs["group"]) == ["a", "b", "a", "b"] and list(a.var_names[:2]) == ["7157", "7158"]
    np.testing.assert_array_equal(a.X, X.T.astype(np.float32))


_LABEL_ROW_FORMATS = [
    # (separator, how a value is written, the labels' row of class codes as written)
    (";", lambda v: f"{v:,.2f}".replace(",", " ").replace(".", ",").replace(" ", "."), ["0,5", "1", "0,5", "2"]),
    ("\t", lambda v: f"{v:,.2f}".replace(",", " ").replace(".", ",").replace(" ", "."), ["0,5", "1", "0,5", "2"]),
    (",", lambda v: f'"{v:,.2f}"' if v >= 1000 else f"{v:.2f}", ["0.5", "1", "0.5", "2"]),
]


@pytest.mark.parametrize("sep,num,codes", _LABEL_ROW_FORMATS, ids=["semicolon", "tab", "comma"])
def test_a_row_of_labels_in_a_file_of_decimal_commas_or_thousands_separators(tmp_path, capsys, sep, num, codes):
    """Samples as columns, values with thousands separators (1.230,5 and 2,5 in a ';' or tab file; "1,230.50" in a
    ',' file) and a row of labels under the header named by --label-key: the samples' columns the row made text are
    read in the file's number format, so the matrix is that of the file without the row and the labels are the
    row's; a row of class codes (numbers) is the labels as written, as a label column is, and leaves the genes. A
    value the format reads as another number is refused as without the row (exit status 2 from the CLI, one
    line)."""
    from rnagen.cli.main import main

    rng = np.random.default_rng(1)
    X = np.round(rng.gamma(2.0, 400.0, (6, 4)), 2)
    X[0, 0] = 1230.5
    genes = [f"G{k}" for k in range(6)]
    header = sep.join(["gene", "S1", "S2", "S3", "S4"])
    body = [sep.join([g, *(num(v) for v in X[k])]) for k, g in enumerate(genes)]
    assert num(1230.5) in ("1.230,50", '"1,230.50"')
    (tmp_path / "plain.txt").write_text("\n".join([header, *body]) + "\n")
    plain = read(tmp_path / "plain.txt")
    np.testing.assert_allclose(plain.X, X.T, rtol=1e-6)
    for key, row, want in (("subtype", ["LumA", "Basal", "LumA", "Her2"], ["LumA", "Basal", "LumA", "Her2"]),
                           ("cls", codes, codes)):
        (tmp_path / f"{key}.txt").write_text("\n".join([header, sep.join([key, *row]), *body]) + "\n")
        a = read(tmp_path / f"{key}.txt", label_key=key)
        np.testing.assert_array_equal(a.X, plain.X)
        assert list(a.var_names) == genes and list(a.obs_names) == ["S1", "S2", "S3", "S4"]
        assert a.obs[key].astype(str).tolist() == want
        assert main(["data", "info", str(tmp_path / f"{key}.txt"), "--label-key", key]) == 0, capsys.readouterr().err
    # a value that no format reads as written, which the file's thousands separator would make a number of
    t = "." if sep != "," else ","
    bad = f"12{t}34{t}5" if sep != "," else '"12,34,5"'
    rows = [*body[:2], sep.join(["G2", num(X[2, 0]), bad, *(num(v) for v in X[2, 2:])]), *body[3:]]
    for name, lines in (("bad_plain.txt", [header]),
                        ("bad_row.txt", [header, sep.join(["subtype", "a", "b", "a", "b"])])):
        (tmp_path / name).write_text("\n".join([*lines, *rows]) + "\n")
    with pytest.raises(DataError, match=re.escape(f"{bad.strip(chr(34))!r} at line 5, column 'S2' (row 'G2') is no "
                                                  "number as written")):
        read(tmp_path / "bad_row.txt", label_key="subtype")
    with pytest.raises(DataError, match="is no number as written"):
        read(tmp_path / "bad_plain.txt")
    capsys.readouterr()
    assert main(["data", "info", str(tmp_path / "bad_row.txt"), "--label-key", "subtype"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "is no number as written" in err


def test_a_row_of_labels_without_label_key_in_a_file_of_decimal_commas_is_named(tmp_path):
    """A row of text over samples written with decimal commas (a ';' file), no --label-key: the row is named in one
    line with the way on (its samples' values below it are numbers in the file's format), not reported as a
    sample's bad value."""
    (tmp_path / "row.csv").write_text("gene;S1;S2;S3\nsubtype;LumA;Basal;LumA\nTP53;1.230,5;2,5;3,0\n"
                                      "BRCA1;4,5;5,5;6,5\nEGFR;7,0;8,0;9,0\n")
    with pytest.raises(DataError, match=re.escape("row.csv: row 'subtype' holds text for every sample ('LumA', "
                                                  "'Basal', ...): if it is the labels, pass --label-key subtype")):
        read(tmp_path / "row.csv")


@pytest.mark.parametrize("sep", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
def test_a_numeric_row_of_labels_is_the_labels_and_samples_as_rows_read_as_before(tmp_path, sep):
    """Samples as columns and a row of class codes (``cls,1,2,1``) named by --label-key: the labels, as a numeric
    label column of samples as rows is read (its codes as text: 1, not 1.0), the row not a gene; also with a
    separator after every line (its last empty field no sample). Samples as rows: the numeric label column is read
    as before, the labels as written and every other column a gene."""
    X = np.array([[1.5, 2.5, 3.0], [4.5, 5.5, 6.5], [7.0, 8.0, 9.25]])
    body = [sep.join([g, *(f"{v:g}" for v in r)]) for g, r in zip(["TP53", "BRCA1", "EGFR"], X)]
    for end in ("", sep):
        (tmp_path / "gxs.txt").write_text("".join(ln + end + "\n" for ln in [
            sep.join(["gene", "S1", "S2", "S3"]), sep.join(["cls", "1", "2", "1"]), *body]))
        a = read(tmp_path / "gxs.txt", label_key="cls")
        assert list(a.obs_names) == ["S1", "S2", "S3"] and list(a.var_names) == ["TP53", "BRCA1", "EGFR"]
        assert a.obs["cls"].astype(str).tolist() == ["1", "2", "1"]
        np.testing.assert_array_equal(a.X, X.T.astype(np.float32))
    (tmp_path / "sxg.txt").write_text("\n".join([sep.join(["sample", "cls", "TP53", "BRCA1", "EGFR"])] + [
        sep.join([s, c, *(f"{v:g}" for v in X[:, i])]) for i, (s, c) in enumerate(zip(["S1", "S2", "S3"], "121"))])
        + "\n")
    b = read(tmp_path / "sxg.txt", label_key="cls")
    assert b.obs["cls"].astype(str).tolist() == ["1", "2", "1"] and list(b.var_names) == ["TP53", "BRCA1", "EGFR"]
    np.testing.assert_array_equal(b.X, X.T.astype(np.float32))


def test_spreadsheet_margins_dropped_and_unnamed_values_refused(small, tmp_path):
    """A spreadsheet saved as CSV keeps the cells it once formatted: ``,,,`` lines under the table and a separator
    or two more at the end of every line. Those rows without an id and columns without a name, all empty, are no
    sample or gene: dropped with a note in the read record, the data as without them (in both orientations, and
    beside a row of labels). A column of values without a name is a gene (or sample) without an id: refused
    naming where it is."""
    df = _frame(small)
    df.insert(0, "tissue", small.obs["tissue"].astype(str))
    lines = df.to_csv(float_format="%.9g").splitlines()
    n = len(lines[0].split(","))
    (tmp_path / "m.csv").write_text("\n".join(ln + ",," for ln in lines) + "\n" + ("," * (n + 1) + "\n") * 3)
    a = read(tmp_path / "m.csv", label_key="tissue")
    _same(small, a)
    orient = get_history(a)[0]["orientation"]
    assert orient.startswith("samples_x_genes") and "empty line" in orient and "without an id dropped" in orient
    # an empty column without a name between two genes, and one ",,," line inside the table
    mid = [",".join(f[:3] + [""] + f[3:]) for f in (ln.split(",") for ln in lines)]
    (tmp_path / "mid.csv").write_text("\n".join(mid[:5] + ["," * n] + mid[5:]) + "\n")
    b = read(tmp_path / "mid.csv", label_key="tissue")
    _same(small, b)
    assert "(1 empty column without a name and 1 empty line without an id dropped)" in \
        get_history(b)[0]["orientation"]
    # genes x samples, with a row of labels under the header and empty columns and lines around the table
    t = _frame(small).T
    g = t.to_csv(float_format="%.9g").splitlines()
    label_line = "tissue," + ",".join(small.obs["tissue"].astype(str))
    body = [g[0] + ",", label_line + ",", *(ln + "," for ln in g[1:]), "," * (small.n_obs + 1)]
    (tmp_path / "g.csv").write_text("\n".join(body) + "\n")
    c = read(tmp_path / "g.csv", label_key="tissue")
    _same(small, c)
    # values under no name: refused, naming the neighbours
    bad = [",".join(f[:3] + ["" if i == 0 else "1.5"] + f[3:]) for i, f in enumerate(ln.split(",") for ln in lines)]
    (tmp_path / "bad.csv").write_text("\n".join(bad) + "\n")
    genes = list(small.var_names)
    with pytest.raises(DataError, match=rf"bad.csv: 1 column of values without a name in the header \(after "
                                        rf"'{genes[0]}', before '{genes[1]}'\), which would be a gene without an id"):
        read(tmp_path / "bad.csv", label_key="tissue")
    gbad = g[:1] + [ln + ",7" for ln in g[1:]]
    (tmp_path / "gbad.csv").write_text(gbad[0] + ",\n" + "\n".join(gbad[1:]) + "\n")
    with pytest.raises(DataError, match=r"gbad.csv: 1 column of values without a name in the header \(after "
                                        rf"'{small.obs_names[-1]}'\), which would be a sample without an id"):
        read(tmp_path / "gbad.csv")


def _read_traced(path, monkeypatch, **kw):
    """``read(path)`` traced: its AnnData, the read's peak, the peak when the text parse ended (``parsed``, a text
    file only), and what ``_matrix`` added to the memory held and to the peak (the second read of ``path``: the
    first loads the gene tables, which stay)."""
    import tracemalloc

    import rnagen.data.io as io_mod

    read(path, **kw)
    seen: dict[str, float] = {}
    matrix, parse = io_mod._matrix, io_mod._parse_text

    def traced_matrix(*a, **k):
        before, seen["before"] = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = matrix(*a, **k)
        now, peak = tracemalloc.get_traced_memory()
        seen["held"], seen["peak"] = now - before, peak - before
        return out

    def traced_parse(*a, **k):
        out = parse(*a, **k)
        seen["parsed"] = tracemalloc.get_traced_memory()[1]
        return out

    monkeypatch.setattr(io_mod, "_matrix", traced_matrix)
    monkeypatch.setattr(io_mod, "_parse_text", traced_parse)
    tracemalloc.start()
    try:
        a = read(path, **kw)
        peak = max(tracemalloc.get_traced_memory()[1], seen.get("before", 0))
    finally:
        tracemalloc.stop()
    return a, peak, seen


@pytest.mark.parametrize("ext", ["csv", "parquet", "feather"])
def test_a_table_read_holds_its_matrix_once_the_frame_s_float32_block_taken_as_it_is(tmp_path, monkeypatch, ext):
    """A table of float32-readable values, genes x samples (tall) and samples x genes (wide): the reader's float32
    block is the matrix (no copy taken of it: _matrix adds nothing to the memory held), laid out as it is (tall: C
    order, wide: F order), writeable, with every value, gene and sample as written; a text read reaches its peak
    while parsing, and a parquet or Feather read (its batches of 16 columns) holds the matrix, not a copy beside
    it, at its peak."""
    import rnagen.data.io as io_mod

    monkeypatch.setattr(io_mod, "_PARQUET_COLUMNS", 16)
    rng = np.random.default_rng(0)
    X = np.round(rng.gamma(2.0, 50.0, size=(4000, 600)), 2).astype(np.float32)   # genes x samples: 9.6 MB
    genes, samples = [f"GENE{j}" for j in range(4000)], [f"S{i}" for i in range(600)]
    for layout, frame in (("tall", pd.DataFrame(X, index=pd.Index(genes, name="gene"), columns=samples)),
                          ("wide", pd.DataFrame(X.T, index=pd.Index(samples, name="sample"), columns=genes))):
        path = tmp_path / f"{layout}.{ext}"
        if ext == "csv":
            frame.to_csv(path, float_format="%.2f")
        elif ext == "parquet":
            frame.to_parquet(path)
        else:
            frame.to_feather(path)
        a, peak, seen = _read_traced(path, monkeypatch)
        M = a.X.nbytes
        assert a.X.dtype == np.float32 and a.X.shape == (600, 4000), layout
        np.testing.assert_array_equal(a.X, X.T, err_msg=layout)
        assert list(a.var_names) == genes and list(a.obs_names) == samples, layout
        assert a.X.flags.c_contiguous if layout == "tall" else a.X.flags.f_contiguous, layout
        assert a.X.flags.writeable, layout
        a.X[0, 0] = -1.0
        assert seen["held"] < 0.05 * M and seen["peak"] < 0.05 * M, (layout, seen, M)
        if ext == "csv":   # a block of lines parsed in float64 and cast, no float64 temporary beside them
            assert peak <= seen["parsed"] < 6.0 * M, (layout, peak / M, seen["parsed"] / M)
        else:
            assert peak < 1.6 * M, (layout, peak / M)


def test_a_matrix_taken_from_a_read_only_block_is_a_writeable_copy():
    """A frame whose float32 block is read-only (memory a file maps): the matrix is a writeable copy of it, the
    block as it was."""
    from rnagen.data.io import _matrix

    X = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    X.flags.writeable = False
    df = pd.DataFrame(X, columns=list("abcd"), copy=False)
    M = _matrix(df, [0, 1, 2, 3], list("abcd"), "t.csv")
    assert M.flags.writeable and not np.shares_memory(M, X)
    np.testing.assert_array_equal(M, np.arange(12, dtype=np.float32).reshape(3, 4))


@pytest.mark.parametrize("damage, said", [
    (b"{not json", "is not JSON"),
    (b"[1, 2]", "is list, not a mapping"),
    (b'{"log": {"transform": "log2(x+1)", "pseudocount": 1}}', "without its logged flag"),
    (b'{"log": {"logged": "yes", "transform": "log2(x+1)"}}', "without its logged flag"),
    (b'{"log": {"logged": true, "transform": "log2(x+1)", "base": 1}}', "no logarithm's base"),
    (b'{"log": {"logged": true, "transform": "log2(x+1)", "pseudocount": "one"}}', "pseudocount that is no number"),
    (b'{"log": [true], "synthetic": {"model": "gaussian"}}', "'log' entry that is no mapping"),
    (b'{"history": {"000_read": "read"}}', "history step '000_read' that does not name its step"),
    (b'{"label_key": 3}', "'label_key' entry that is no text"),
])
def test_a_damaged_record_in_a_parquet_file_is_set_aside(tmp_path, damage, said):
    """rnagen's record in a parquet file's metadata (key b"rnagen", written by sample and reconstruct apply) is
    taken only where it has the form rnagen writes: a file edited or rewritten elsewhere whose record is not JSON
    or whose entries lack that form is read as a table without one, with a one-line warning, its scale read from the
    values (log values: log scale); an intact record is taken (linear, as recorded, though the values look
    logged)."""
    import anndata as ad
    import pyarrow.parquet as pq

    from rnagen._io import write_profiles
    from rnagen.pp import is_logged, log_state
    from rnagen.pp.history import set_log_state

    rng = np.random.default_rng(1)
    a = ad.AnnData(rng.uniform(1, 6, (6, 4)).astype(np.float32),
                   obs=pd.DataFrame({"kind": list("aabbcc")}, index=[f"syn_{i:06d}" for i in range(6)]),
                   var=pd.DataFrame(index=["TP53", "EGFR", "MYC", "ACTB"]))
    set_log_state(a, logged=False, transform="as given (--scale linear)")
    path = write_profiles(a, tmp_path / "syn.parquet")
    back = read(path, label_key="kind")
    assert log_state(back) == {"logged": False, "transform": "as given (--scale linear)",
                               "pseudocount": pytest.approx(np.nan, nan_ok=True)}
    assert not is_logged(back)
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"rnagen": damage}), path)
    with pytest.warns(UserWarning, match="record in the file's metadata") as caught:
        back = read(path, label_key="kind")
    msg = str(caught[0].message)
    assert said in msg and msg.startswith("syn.parquet: ") and "\n" not in msg
    assert log_state(back) is None and "log1p" not in back.uns
    assert is_logged(back)   # read by value: 1 to 6, not whole numbers
    np.testing.assert_array_equal(back.X, a.X)


def test_a_parquet_record_of_log_values_the_values_contradict_is_set_aside(tmp_path):
    """A record saying log scale over values no log of expression reaches (counts put into the file after it was
    written) is set aside with a warning, the values read as linear, where an .h5ad's stands and is refused when
    used (its record can be deleted; a parquet file's metadata is not in a user's reach as easily)."""
    import anndata as ad

    from rnagen._io import write_profiles
    from rnagen.pp import is_logged, log_state
    from rnagen.pp.history import set_log_state

    a = ad.AnnData(np.array([[3.0, 250.0], [7.0, 1200.5]], dtype=np.float32),
                   obs=pd.DataFrame(index=["syn_000000", "syn_000001"]), var=pd.DataFrame(index=["TP53", "MYC"]))
    set_log_state(a, logged=True, transform="log2(x+1)", pseudocount=1.0, base=2.0)
    path = write_profiles(a, tmp_path / "syn.parquet")
    with pytest.warns(UserWarning, match="says log scale, but the values reach 1200"):
        back = read(path)
    assert log_state(back) is None and "log1p" not in back.uns and not is_logged(back)


def test_cmap_s_minus_666_in_gct_row_metadata_is_missing(tmp_path):
    """CMap writes -666 for a missing metadata value, which cmapPy's parser reads as missing by default
    (convert_neg_666=True): a GCT 1.3 row-metadata column of numbers with -666 reads with that value missing, as a
    .gctx's metadata does; a text column's -666 too."""
    p = tmp_path / "cmap.gct"
    p.write_text("#1.3\n3\t2\t2\t0\n"
                 "id\tpr_is_lm\tpr_gene_title\tS1\tS2\n"
                 "7157\t1\ttumor protein p53\t1.5\t2.5\n"
                 "1956\t-666\t-666\t3.5\t4.5\n"
                 "672\t0\tBRCA1 DNA repair associated\t5.5\t6.5\n")
    a = read(p)
    assert a.var["pr_is_lm"].isna().tolist() == [False, True, False]
    assert a.var["pr_is_lm"].dropna().astype(int).tolist() == [1, 0]
    assert a.var["pr_gene_title"].isna().tolist() == [False, True, False]
    np.testing.assert_array_equal(np.asarray(a.X), [[1.5, 3.5, 5.5], [2.5, 4.5, 6.5]])


@pytest.mark.parametrize("key", [None, "SMTS"])
def test_a_wide_text_label_table_is_read_by_its_id_and_label_columns(tmp_path, monkeypatch, key):
    """A wide sample-annotation table (GTEx's SampleAttributesDS: an id column and dozens of others) labels the
    samples from its id column and its label column (``--label-key``, else the second) read alone, not parsed
    whole: the same labels and the same warning of rows naming no sample as the whole table gives. Where the id
    column leaves a sample unlabelled (its id in another column), the whole table is read and labels it."""
    import rnagen.data.io as rio
    from rnagen.data import read_labels

    obs = ["GTEX-1-0001", "GTEX-2-0001", "GTEX-3-0001"]
    head = ["SAMPID", "SMATSSCR", *[f"SMQC{k}" for k in range(30)], "SMTS"]
    rows = [["GTEX-3-0001", "2", *map(str, range(30)), "Lung"], ["GTEX-1-0001", "1", *map(str, range(30)), "Liver"],
            ["GTEX-2-0001", "2", *map(str, range(30)), "Lung"], ["GTEX-9-0001", "0", *map(str, range(30)), "Skin"]]
    (tmp_path / "SampleAttributesDS.txt").write_text("\n".join("\t".join(r) for r in [head, *rows]) + "\n")
    parsed: list = []
    reader = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda *a, **kw: (parsed.append(kw.get("usecols")), reader(*a, **kw))[1])
    with pytest.warns(UserWarning, match=r"1 of its 4 sample ids name no sample of the data \('GTEX-9-0001'\)"):
        name, lab = read_labels(tmp_path / "SampleAttributesDS.txt", obs, label_key=key)
    assert parsed == []   # no table parsed
    assert name == (key or "SMATSSCR") and list(lab) == (["Liver", "Lung", "Lung"] if key else ["1", "2", "2"])
    with pytest.warns(UserWarning, match="1 of its 4 sample ids"):
        whole = rio._labels_by_id(rio._label_rows(tmp_path / "SampleAttributesDS.txt", sep=None), obs,
                                  label_key=key, source="SampleAttributesDS.txt")
    assert whole[0] == name and list(whole[1]) == list(lab) and parsed == [None]
    parsed.clear()
    # the samples named by a later column (a run table: the first column is the patient)
    runs = [["patient", "group", *[f"qc{k}" for k in range(20)], "run"],
            *[[p, g, *map(str, range(20)), r] for p, g, r in (("P1", "x", "GTEX-2-0001"), ("P2", "y", "GTEX-3-0001"),
                                                              ("P3", "z", "GTEX-1-0001"))]]
    (tmp_path / "runs.tsv").write_text("\n".join("\t".join(r) for r in runs) + "\n")
    name, lab = read_labels(tmp_path / "runs.tsv", obs, label_key=None if key is None else "group")
    assert name == "group" and list(lab) == ["z", "x", "y"] and parsed == [None]


def test_a_label_table_leaving_a_sample_unlabelled_is_read_once(tmp_path, monkeypatch):
    """With --drop-unlabelled and a sample the label table has no row for, the table is parsed once (settling the
    layout and labelling the samples share the one read), and the sample dropped."""
    import rnagen.data.io as rio

    df = pd.DataFrame(np.arange(1.0, 25.0).reshape(6, 4) * 7, index=[f"S{i}" for i in range(6)],
                      columns=["A1", "B2", "C3", "D4"])
    df.to_csv(tmp_path / "x.csv", index_label="sample")
    (tmp_path / "lab.csv").write_text("sample,cls,batch,site\n" + "".join(
        f"S{i},{'ab'[i % 2]},{i},s{i}\n" for i in (0, 1, 2, 3, 5)))
    parsed: list = []
    rows = rio._label_rows
    monkeypatch.setattr(rio, "_label_rows", lambda *a, **kw: (parsed.append(a[0]), rows(*a, **kw))[1])
    a = read(tmp_path / "x.csv", labels=tmp_path / "lab.csv", drop_unlabelled=True)
    assert list(a.obs_names) == ["S0", "S1", "S2", "S3", "S5"] and a.obs["cls"].tolist() == list("ababb")
    assert len(parsed) == 1, parsed


def test_a_one_sample_file_is_read_and_one_it_cannot_use_is_named(tmp_path):
    """A single profile (a gene column and one value column) reads as one sample; where it has no column to take
    as the sample, the refusal says why in one line: its one numeric column is named as a gene annotation
    (``length``: a table of gene lengths), or its value is no number (named, with its column). Both said "no
    numeric sample columns found"."""
    (tmp_path / "one.tsv").write_text("gene_id\tS1\nENSG00000141510\t12.5\nENSG00000146648\t3\n")
    a = read(tmp_path / "one.tsv")
    assert a.shape == (1, 2) and list(a.obs_names) == ["S1"] and a.X.tolist() == [[12.5, 3.0]]
    (tmp_path / "lengths.tsv").write_text("gene_id\tlength\nENSG00000141510\t2512\nENSG00000146648\t9905\n")
    with pytest.raises(DataError, match=r"^lengths.tsv: its numeric column \('length'\) is named as a gene "
                                        r"annotation .* no sample to read; give a table with a column of values per "
                                        r"sample \(a sample's column named as an annotation: rename it"):
        read(tmp_path / "lengths.tsv")
    (tmp_path / "text.tsv").write_text("gene\tS1\nTP53\tabc\n")
    with pytest.raises(DataError, match=r"^text.tsv: no column of numbers to read as a sample \(its columns after "
                                        r"the gene ids: 'S1' \('abc'\)\); write each sample's values as numbers"):
        read(tmp_path / "text.tsv")
    for name in ("lengths.tsv", "text.tsv"):
        with pytest.raises(DataError) as e:
            read(tmp_path / name)
        assert "\n" not in str(e.value)


def test_a_row_of_class_codes_past_the_first_lines_is_read_as_written(tmp_path):
    """A row of class codes named by --label-key keeps its codes as written (``0,5`` in a file of decimal commas,
    ``1`` not ``1.0``) under 60 genes, past the lines the format is sniffed from (read ``0.5``, the codes as
    parsed, before)."""
    genes = [f"G{i};{i},5;{i + 1},25;3,5" for i in range(60)]
    (tmp_path / "x.csv").write_text("\n".join(["gene;S1;S2;S3", *genes, "cls;0,5;1;0,5"]) + "\n")
    a = read(tmp_path / "x.csv", label_key="cls")
    assert a.obs["cls"].astype(str).tolist() == ["0,5", "1", "0,5"]
    assert a.n_vars == 60 and a[:, "G0"].X[:, 0].tolist() == [0.5, 1.25, 3.5]


@pytest.mark.parametrize("what", ["gene annotation 'note' value", "sample annotation 'tissue' value", "sample id"])
def test_a_gct_field_opening_with_a_double_quote_is_refused_before_it_is_written(small, tmp_path, what):
    """A GCT field beginning with ``"`` reads back without its quotes through pandas' parser (rnagen's and
    cmapPy's: ``"a"b`` as ``ab``), kept as written by a reader splitting at tabs: refused in one line naming it,
    before anything is written; an existing file of that name kept as it was. A quote inside a field reads back as
    written and is kept."""
    from rnagen._io import write_profiles
    from rnagen.errors import OutputError

    a = _annotated(small)
    a.obs["tissue"] = a.obs["tissue"].astype(str)
    if what.startswith("gene"):
        a.var["note"] = a.var["note"].astype(object)
        a.var.iloc[3, a.var.columns.get_loc("note")] = '"putative" kinase'
    elif what.startswith("sample annotation"):
        a.obs.iloc[2, a.obs.columns.get_loc("tissue")] = '"putative" kinase'
    else:
        a.obs_names = [*a.obs_names[:-1], '"putative" kinase']
    (tmp_path / "x.gct").write_text("kept\n")
    msg = (rf"^x.gct: the {what} '\"putative\" kinase' begins with a double quote, which GCT readers built on pandas "
           r"\(rnagen's, cmapPy's\) take for quoting and drop; rename it, or write a .csv or an .h5ad$")
    with pytest.raises(OutputError, match=msg):
        write_profiles(a, tmp_path / "x.gct")
    with pytest.raises(OutputError, match=msg):
        write_gct(a, tmp_path / "x.gct", version="1.3", obs_keys=["tissue"])
    assert os.listdir(tmp_path) == ["x.gct"] and (tmp_path / "x.gct").read_text() == "kept\n"
    b = _annotated(small)
    b.var["note"] = b.var["note"].astype(object)
    b.var.iloc[3, b.var.columns.get_loc("note")] = 'a "putative" kinase'
    write_gct(b, tmp_path / "y.gct", version="1.3")
    assert read(tmp_path / "y.gct").var["note"].iloc[3] == 'a "putative" kinase'


@pytest.mark.parametrize("ext", ["parquet", "feather"])
def test_a_parquet_or_feather_label_table_without_label_key_is_read_by_two_columns(tmp_path, monkeypatch, ext):
    """Without --label-key, a parquet or Feather label table is read by its ids and the column after them (the
    labels the whole table gives: the same name and values); a second column naming each sample apart (a sample
    sheet, whose class column the whole table finds) is read whole."""
    from rnagen.data import read_labels

    obs = ["S1", "S2", "S3", "S4"]
    extra = {f"qc_{k}": np.arange(4.0) + k for k in range(30)}
    meta = pd.DataFrame({"group": ["a", "b", "a", "b"], **extra, "batch": [1.0, 2.0, 1.0, 3.0]},
                        index=pd.Index(["S3", "S1", "S2", "S4"], name="sample"))
    sheet = pd.DataFrame({"fastq": ["S3.fq", "S1.fq", "S2.fq", "S4.fq"], "condition": ["x", "y", "x", "y"]},
                         index=pd.Index(["S3", "S1", "S2", "S4"], name="sample"))
    if ext == "parquet":
        meta.to_parquet(tmp_path / "meta.parquet")
        sheet.to_parquet(tmp_path / "sheet.parquet")
    else:
        meta.reset_index().to_feather(tmp_path / "meta.feather")
        sheet.reset_index().to_feather(tmp_path / "sheet.feather")
    asked: list = []
    reader = getattr(pd, f"read_{ext}")
    monkeypatch.setattr(pd, f"read_{ext}", lambda path, columns=None, **kw: (asked.append(columns),
                                                                           reader(path, columns=columns, **kw))[1])
    name, lab = read_labels(tmp_path / f"meta.{ext}", obs)
    assert name == "group" and list(lab) == ["b", "a", "a", "b"]
    assert asked == [["group"] if ext == "parquet" else ["sample", "group"]], asked
    asked.clear()
    name, lab = read_labels(tmp_path / f"sheet.{ext}", obs)
    assert name == "condition" and list(lab) == ["y", "x", "x", "y"] and asked[-1] is None


def test_a_label_file_naming_every_row_turns_a_guessed_layout_with_drop_unlabelled(tmp_path, monkeypatch):
    """With --drop-unlabelled, a label file naming every row of a table guessed genes x samples, and by chance
    some of its columns, still turns the table (the rows are the samples), not drop the columns it does not name;
    the file is parsed once for the layout and the labels."""
    import rnagen.data.io as rio

    rng = np.random.default_rng(3)
    X = rng.normal(5, 1, (30, 20))
    df = pd.DataFrame(X, columns=[f"q{i}" for i in range(25, 45)], index=pd.Index([f"q{i}" for i in range(30)],
                                                                                   name="sample"))
    df.to_csv(tmp_path / "m.csv")
    pd.DataFrame({"sample": df.index, "group": np.repeat(["a", "b", "c"], 10)}).to_csv(tmp_path / "lab.csv",
                                                                                       index=False)
    parsed: list = []
    rows = rio._label_rows
    monkeypatch.setattr(rio, "_label_rows", lambda *a, **kw: (parsed.append(a[0]), rows(*a, **kw))[1])
    a = read(tmp_path / "m.csv", labels=tmp_path / "lab.csv", drop_unlabelled=True)
    assert a.shape == (30, 20) and list(a.obs_names) == list(df.index)
    assert a.obs["group"].astype(str).tolist() == list(np.repeat(["a", "b", "c"], 10))
    assert len(parsed) <= 1
