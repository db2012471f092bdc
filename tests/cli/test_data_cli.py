"""``rnagen data`` end to end: prepare/info/split, the CSV-vs-GCT equivalence, and every bad input
(exit status 2, a one-line message, nothing written or an existing file left unchanged)."""
from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen import datasets
from rnagen.cli.main import main
from rnagen.data import read, write_gct

GTEX_CSV = str(datasets.path("gtex26", "expression_samples_x_entrez.csv.gz"))
GTEX_SAMPLES = str(datasets.path("gtex26", "samples.csv"))


def _assert_same(a, b):
    np.testing.assert_array_equal(a.X, b.X)
    assert list(a.obs_names) == list(b.obs_names) and list(a.var_names) == list(b.var_names)
    pd.testing.assert_frame_equal(a.obs, b.obs)
    pd.testing.assert_frame_equal(a.var, b.var)


def test_prepare_csv_and_gct_give_the_same_anndata(tmp_path, capsys):
    gct = tmp_path / "gtex26.gct"
    write_gct(read(GTEX_CSV), gct)
    for genes in ("all",):
        rc1 = main(["data", "prepare", GTEX_CSV, "--labels", GTEX_SAMPLES, "--label-key", "tissue", "--genes", genes,
                    "--out", str(tmp_path / f"csv_{genes}.h5ad")])
        rc2 = main(["data", "prepare", str(gct), "--labels", GTEX_SAMPLES, "--label-key", "tissue", "--genes", genes,
                    "--out", str(tmp_path / f"gct_{genes}.h5ad")])
        assert rc1 == rc2 == 0
        a, b = ad.read_h5ad(tmp_path / f"csv_{genes}.h5ad"), ad.read_h5ad(tmp_path / f"gct_{genes}.h5ad")
        _assert_same(a, b)
    # and the content is the bundled data set itself
    ref = datasets.gtex26()
    a = ad.read_h5ad(tmp_path / "csv_all.h5ad")
    np.testing.assert_array_equal(a.X, ref.X)
    assert a.obs["tissue"].astype(str).tolist() == ref.obs["tissue"].astype(str).tolist()
    assert a.var["symbol"].iloc[0] == "TBX4" and int(a.var["is_landmark"].sum()) == 20
    assert a.uns["rnagen"]["label_key"] == "tissue"
    out = capsys.readouterr().out
    assert ("prepared 520 samples x 467 genes (entrez IDs); 386/467 mapped to Entrez/symbol/Ensembl; "
            "26 classes of 'tissue'") in out
    # the default --genes landmarks on data holding 20 of the 978 landmarks: an error naming --genes all
    rc = main(["data", "prepare", GTEX_CSV, "--labels", GTEX_SAMPLES, "--out", str(tmp_path / "lm.h5ad")])
    err = capsys.readouterr().err
    assert rc == 2 and "only 20 of the 978 L1000 landmarks" in err and "use --genes all" in err
    assert not (tmp_path / "lm.h5ad").exists()


def test_prepare_logs_raw_counts_and_info_split(tmp_path, capsys):
    rng = np.random.default_rng(0)
    lm = datasets.landmarks()["symbol"].head(50).tolist()
    df = pd.DataFrame(rng.poisson(200, size=(30, 50)), index=[f"p{i}" for i in range(30)], columns=lm)
    df.insert(0, "subtype", ["LumA"] * 12 + ["Basal"] * 10 + ["Her2"] * 7 + ["Normal"])
    df.to_csv(tmp_path / "counts.tsv", sep="\t")
    rc = main(["data", "prepare", str(tmp_path / "counts.tsv"), "--label-key", "subtype", "--min-samples", "2",
               "--genes", "all", "--out", str(tmp_path / "p.h5ad")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "; 1 class under --min-samples 2 dropped ('Normal'; 1 sample)" in out
    assert "; values log2(x+1)-transformed (--log none keeps them as read" in out   # said, not only recorded
    # log values the scale test recognises are kept as read, and said so (not "transformed")
    lg = df.copy()
    lg.iloc[:, 1:] = np.log2(df.iloc[:, 1:].to_numpy(dtype=float) + 1) - 2.0
    lg.to_csv(tmp_path / "logged.tsv", sep="\t")
    assert main(["data", "prepare", str(tmp_path / "logged.tsv"), "--label-key", "subtype", "--min-samples", "2",
                 "--genes", "all", "--out", str(tmp_path / "l.h5ad")]) == 0
    out_l = capsys.readouterr().out
    assert "; values kept as read: they look log-scale already (all within [-10.5, 30]" in out_l
    assert "transformed" not in out_l
    np.testing.assert_allclose(ad.read_h5ad(tmp_path / "l.h5ad").X, lg.iloc[:29, 1:].to_numpy(dtype=float), rtol=1e-6)
    a = ad.read_h5ad(tmp_path / "p.h5ad")
    assert a.n_obs == 29 and "Normal" not in set(a.obs["subtype"])  # the 1-sample class was dropped
    np.testing.assert_allclose(a.X, np.log2(df.iloc[:29, 1:].to_numpy(dtype=float) + 1), rtol=1e-6)
    assert main(["data", "info", str(tmp_path / "p.h5ad")]) == 0
    info = capsys.readouterr().out
    assert "samples:   29" in info and "genes:     50 (symbol IDs; 50 of 978 landmarks present)" in info
    assert "labels (subtype): 3 classes" in info and "LumA   12" in info
    assert "log scale (log2(x+1))" in info and "log2p1 (applied=True" in info
    assert main(["data", "split", str(tmp_path / "p.h5ad"), "--test-size", "0.3", "--seed", "1",
                 "--out", str(tmp_path / "split")]) == 0
    tr, te = ad.read_h5ad(tmp_path / "split" / "train.h5ad"), ad.read_h5ad(tmp_path / "split" / "test.h5ad")
    assert tr.n_obs + te.n_obs == 29 and set(tr.obs_names).isdisjoint(te.obs_names)
    assert te.obs["subtype"].value_counts().to_dict() == {"LumA": 4, "Basal": 3, "Her2": 2}


def test_min_samples_dropping_several_classes_is_summarised(tmp_path, capsys):
    """Two classes under --min-samples: the summary names both (the written history holds them as an array)."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(5, 1, size=(25, 20)), index=[f"p{i}" for i in range(25)],
                      columns=[f"g{i}" for i in range(20)])
    df.insert(0, "tissue", ["Blood/Vessel"] * 12 + ["Intestin grêle"] * 10 + ["Pair / two"] * 2 + ["One"])
    df.to_csv(tmp_path / "x.tsv", sep="\t")
    rc = main(["data", "prepare", str(tmp_path / "x.tsv"), "--label-key", "tissue", "--min-samples", "3",
               "--genes", "all", "--out", str(tmp_path / "p.h5ad")])
    assert rc == 0
    assert "; 2 classes under --min-samples 3 dropped ('Pair / two', 'One'; 3 samples)" in capsys.readouterr().out
    a = ad.read_h5ad(tmp_path / "p.h5ad")
    assert a.obs["tissue"].value_counts().to_dict() == {"Blood/Vessel": 12, "Intestin grêle": 10}


def test_preparing_a_prepared_file_reports_only_its_own_drops(tmp_path, capsys):
    """The summary of a second prepare names what it dropped, not what the prepare that wrote its input did."""
    rng = np.random.default_rng(0)
    obs = pd.DataFrame({"tissue": pd.Categorical(["Brain"] * 6 + ["Liver"] * 4 + [np.nan] * 2 + ["One"])},
                       index=[f"s{i}" for i in range(13)])
    ad.AnnData(rng.normal(5, 1, size=(13, 8)).astype(np.float32), obs=obs,
               var=pd.DataFrame(index=[f"g{i}" for i in range(8)])).write_h5ad(tmp_path / "x.h5ad")
    assert main(["data", "prepare", str(tmp_path / "x.h5ad"), "--label-key", "tissue", "--genes", "all",
                 "--drop-unlabelled", "--min-samples", "2", "--out", str(tmp_path / "p.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "; 2 unlabelled samples dropped (--drop-unlabelled); 1 class under --min-samples 2 dropped ('One'" in out
    assert main(["data", "prepare", str(tmp_path / "p.h5ad"), "--genes", "all", "--out",
                 str(tmp_path / "q.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "prepared 10 samples x 8 features" in out and "dropped" not in out
    assert main(["data", "prepare", str(tmp_path / "p.h5ad"), "--genes", "all", "--min-samples", "5", "--out",
                 str(tmp_path / "r.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "; 1 class under --min-samples 5 dropped ('Liver'; 4 samples)" in out and "unlabelled" not in out
    assert "'One'" not in out


def test_class_options_without_a_label_column_are_refused(tmp_path, capsys):
    """--drop-unlabelled and --min-samples on a file whose labels no --label-key names would keep every sample,
    the unlabelled and the one-sample classes too: refused, naming the columns to choose from."""
    rng = np.random.default_rng(0)
    obs = pd.DataFrame({"tissue": pd.Categorical(["Brain"] * 6 + ["Liver"] * 5 + [np.nan] * 2 + ["One"])},
                       index=[f"s{i}" for i in range(14)])
    ad.AnnData(rng.normal(5, 1, size=(14, 8)).astype(np.float32), obs=obs,
               var=pd.DataFrame(index=[f"g{i}" for i in range(8)])).write_h5ad(tmp_path / "x.h5ad")
    base = ["data", "prepare", str(tmp_path / "x.h5ad"), "--genes", "all", "--out", str(tmp_path / "p.h5ad")]
    assert main([*base, "--drop-unlabelled", "--min-samples", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("--drop-unlabelled and --min-samples act on a label column, and none is given: "
                                     "add --label-key with the column holding the classes (its sample columns: "
                                     "'tissue')") in err
    assert main([*base, "--min-samples", "2"]) == 2
    assert "--min-samples acts on a label column" in capsys.readouterr().err
    assert not (tmp_path / "p.h5ad").exists()
    assert main([*base, "--label-key", "tissue", "--drop-unlabelled", "--min-samples", "2"]) == 0
    assert ad.read_h5ad(tmp_path / "p.h5ad").obs["tissue"].value_counts().to_dict() == {"Brain": 6, "Liver": 5}


def test_info_aligns_class_names_of_wide_characters_and_lists_dropped_classes_as_a_list(tmp_path, capsys):
    """Class names in CJK take two terminal columns a character: the counts stay in one column; the classes a
    --min-samples filter dropped read back in the history as a list, not numpy's array form."""
    rng = np.random.default_rng(0)
    obs = pd.DataFrame({"tissue": pd.Categorical(["乳腺癌"] * 4 + ["Basal"] * 5 + ["rare"] * 2 + ["one"])},
                       index=[f"s{i}" for i in range(12)])
    ad.AnnData(rng.normal(5, 1, size=(12, 8)).astype(np.float32), obs=obs,
               var=pd.DataFrame(index=[f"g{i}" for i in range(8)])).write_h5ad(tmp_path / "x.h5ad")
    assert main(["data", "prepare", str(tmp_path / "x.h5ad"), "--genes", "all", "--label-key", "tissue",
                 "--min-samples", "3", "--out", str(tmp_path / "p.h5ad")]) == 0
    capsys.readouterr()
    assert main(["data", "info", str(tmp_path / "p.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "\n  Basal   5\n  乳腺癌  4\n" in out
    assert "dropped_classes=['rare', 'one']" in out


def test_a_column_of_class_codes_read_as_a_gene_is_named_with_the_way_to_take_it(tmp_path, capsys):
    """A samples x genes CSV of log values whose class column holds codes (0, 1, 2): without --label-key the codes
    are read as a gene, so data info and train would find no labels; both name the column and --label-key; in a
    table of whole-number counts such a column is not told from a gene and nothing is named."""
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(30)]
    table = pd.DataFrame(rng.normal(5, 2, size=(40, 30)).round(3), columns=genes,
                         index=pd.Index([f"s{i}" for i in range(40)], name="sample"))
    table.insert(0, "subtype", np.repeat([0, 1, 2, 1], 10))
    table.to_csv(tmp_path / "x.csv")
    assert main(["data", "info", str(tmp_path / "x.csv")]) == 0
    assert ("labels:    none read; 'subtype' holds whole numbers (0, 1, 2) where the other features hold fractions: "
            "class codes read as a gene? --label-key subtype takes them as the labels") in capsys.readouterr().out
    assert main(["train", str(tmp_path / "x.csv"), "--model", "gaussian", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'subtype' holds whole numbers (0, 1, 2)" in err and "--label-key subtype" in err
    assert main(["data", "info", str(tmp_path / "x.csv"), "--label-key", "subtype"]) == 0
    assert "labels (subtype): 3 classes" in capsys.readouterr().out
    counts = table.copy()
    counts[genes] = rng.poisson(20, size=(40, 30))
    counts.to_csv(tmp_path / "c.csv")
    assert main(["data", "info", str(tmp_path / "c.csv")]) == 0
    assert "class codes" not in capsys.readouterr().out


@pytest.mark.parametrize("values, said", [
    (np.array([[0.0, 7.5], [12.25, 3.0]]), "values 0 to 12.25 taken as log scale (not logged again)"),
    (np.array([[0.0, 75.0], [1225.0, 3.0]]), "values 0 to 1225 taken as linear scale (log2(x+1) when training"),
    (np.array([[-20.5, 7.5], [12.25, 3.0]]), "values -20.5 to 12.25: negative but not a log scale"),
])
def test_info_says_how_an_unrecorded_scale_is_taken(tmp_path, capsys, values, said):
    """A table without a recorded log state: `data info` says how the models and evaluate take its values
    (preprocess.log=auto's rule) and the range it reads; values nobody can log name the setting."""
    path = tmp_path / "x.csv"
    pd.DataFrame(values, index=["s1", "s2"], columns=["TP53", "EGFR"]).to_csv(path)
    assert main(["data", "info", str(path)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("log state:"))
    assert line.startswith("log state: not recorded; ") and said in line
    assert ("preprocess.log=none" in line) == (values.min() < -10.5)


def test_info_lists_label_columns_held_as_text_of_either_kind():
    """Without a recorded label column, `data info` lists the text columns that could be labels, whether pandas
    holds them as objects or in its own string dtype (the only kind pandas 3 gives text); a column of one value
    per sample (an id) is none."""
    from rnagen.cli.data import summarize

    a = ad.AnnData(np.ones((6, 3), dtype=np.float32))
    a.obs["kind"] = pd.Series(["x", "y", "x", "y", "x", "x"], index=a.obs_names, dtype=object)
    a.obs["site"] = pd.Series(["u", "u", "v", "v", "w", "w"], index=a.obs_names, dtype="string")
    a.obs["sample"] = pd.Series([f"s{i}" for i in range(6)], index=a.obs_names, dtype="string")
    text = summarize(a)
    assert "labels (kind): 2 classes" in text and "labels (site): 3 classes" in text and "(sample)" not in text



def test_info_counts_samples_without_a_label_apart_from_the_classes(tmp_path, capsys):
    """A categorical label column of an .h5ad with missing labels (NaN, as anndata writes a pandas NA; a category
    no sample holds): `data info` counts the classes the samples hold and the samples without a label, not a class
    'nan', as prepare (which refuses them or drops them) sees them."""
    from rnagen.cli.data import summarize

    a = ad.AnnData(np.ones((6, 3), dtype=np.float32))
    a.obs["kind"] = pd.Categorical(["x", np.nan, "y", "x", np.nan, "y"], categories=["x", "y", "z"])
    lines = summarize(a, label_key="kind").splitlines()
    assert "labels (kind): 2 classes, 2 samples without a label (rnagen data prepare --drop-unlabelled drops " \
           "them)" in lines and not any(ln.split()[0] in ("nan", "z") for ln in lines if ln.startswith("  "))
    a.write_h5ad(tmp_path / "a.h5ad")
    assert main(["data", "info", str(tmp_path / "a.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "labels (kind): 2 classes, 2 samples without a label" in out and "  nan" not in out


def test_info_of_a_label_column_without_any_label_names_the_column_not_drop_unlabelled(tmp_path, capsys):
    """Every label missing (a column of NA marks, the wrong --label-key): info says no sample has one and points
    at --label-key, not at --drop-unlabelled, which would drop every sample and leave prepare nothing."""
    df = pd.DataFrame(np.arange(1, 19).reshape(6, 3), index=[f"s{i}" for i in range(6)],
                      columns=["ENSG00000000003", "ENSG00000000005", "ENSG00000000419"])
    df.assign(kind=["NA", "", "nan", "NA", "NA", ""]).to_csv(tmp_path / "d.csv", index_label="sample")
    assert main(["data", "info", str(tmp_path / "d.csv"), "--label-key", "kind"]) == 0
    out = capsys.readouterr().out
    assert ("labels (kind): 0 classes, no sample has a label (every 'kind' value empty or a missing-value mark: "
            "check --label-key or --labels)\n") in out
    assert "--drop-unlabelled" not in out


def test_missing_labels_are_counted_by_info_and_named_by_prepare_and_train(tmp_path, capsys):
    """Labels NA, nan and empty in a CSV's label column (or samples a label file has no row for) are no class:
    `data info --label-key` counts them beside the classes instead of refusing the file; prepare and train refuse
    them in one line naming the count, --drop-unlabelled and that a class named NA needs another name; prepare
    --drop-unlabelled keeps the labelled samples."""
    rows = ["id,TP53,EGFR,MYC,tissue"] + [f"s{i},{i + 1},{2 * i + 1},{i % 3 + 1},{lab}" for i, lab in
                                          enumerate(["NA", "nan", "", "a", "a", "a", "b", "b", "b", "NA"])]
    path = tmp_path / "na.csv"
    path.write_text("\n".join(rows) + "\n")
    assert main(["data", "info", str(path), "--label-key", "tissue"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("labels (tissue): 2 classes, 4 samples without a label (rnagen data prepare "
                        "--drop-unlabelled drops them)")
    assert sorted(lines[start + 1:start + 3]) == ["  a  3", "  b  3"] and "samples:   10" in lines
    for cmd in (["data", "prepare", str(path), "--genes", "all", "--out", str(tmp_path / "p.h5ad")],
                ["train", str(path), "--model", "gaussian", "--out", str(tmp_path / "run")]):
        assert main([*cmd, "--label-key", "tissue"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "na.csv: 4 of 10 samples have no 'tissue' label" in err[0]
        assert "--drop-unlabelled" in err[0] and "a class so named needs another name" in err[0]
    assert not (tmp_path / "p.h5ad").exists() and not (tmp_path / "run").exists()
    assert main(["data", "prepare", str(path), "--label-key", "tissue", "--genes", "all", "--drop-unlabelled",
                 "--min-samples", "2", "--out", str(tmp_path / "p.h5ad")]) == 0
    a = ad.read_h5ad(tmp_path / "p.h5ad")
    assert a.obs_names.tolist() == [f"s{i}" for i in range(3, 9)] and a.obs["tissue"].tolist() == ["a"] * 3 + ["b"] * 3
    # a label file without a row for two samples: info counts them, prepare refuses them as before
    data = tmp_path / "x.csv"
    data.write_text("\n".join(r.rsplit(",", 1)[0] for r in rows) + "\n")
    (tmp_path / "lab.csv").write_text("id,tissue\n" + "".join(f"s{i},{'ab'[i % 2]}\n" for i in range(2, 10)))
    assert main(["data", "info", str(data), "--labels", str(tmp_path / "lab.csv"), "--label-key", "tissue"]) == 0
    assert "labels (tissue): 2 classes, 2 samples without a label (rnagen data prepare --drop-unlabelled drops " \
           "them)" in capsys.readouterr().out.splitlines()
    assert main(["data", "prepare", str(data), "--labels", str(tmp_path / "lab.csv"), "--label-key", "tissue",
                 "--genes", "all", "--out", str(tmp_path / "q.h5ad")]) == 2
    assert "no row for 2 of 10 samples (e.g. 's0')" in capsys.readouterr().err


def test_info_prints_a_class_name_with_a_line_break_on_one_line():
    """A line break or a tab inside a class name is printed as an escape: one line per class, counts aligned."""
    from rnagen.cli.data import summarize

    a = ad.AnnData(np.ones((6, 3), dtype=np.float32))
    a.obs["kind"] = pd.Categorical(["line1\nline2", "tab\there", "ok"] * 2)
    lines = summarize(a, label_key="kind").splitlines()
    start = lines.index("labels (kind): 3 classes")
    rows = lines[start + 1:start + 4]
    assert sorted(r.split()[0] for r in rows) == ["line1\\nline2", "ok", "tab\\there"]
    assert len({len(r) for r in rows}) == 1
    # a class name of 300 characters is cut at 60 in the listing: the counts stay beside the names
    a.obs["kind"] = pd.Categorical(["x" * 300, "ok", "ok"] * 2)
    lines = summarize(a, label_key="kind").splitlines()
    start = lines.index("labels (kind): 2 classes")
    assert lines[start + 1:start + 3] == ["  ok" + " " * 58 + "  4", "  " + "x" * 59 + "…  2"]

def test_numeric_annotation_columns_among_entrez_ids_are_not_genes(tmp_path, capsys):
    """An age and a batch column beside genes named by Entrez ids (a clinical covariate pasted next to the
    expression): kept as sample annotations with a note, not read as genes, and the log values are not logged
    again (the age, above 30, would make them look linear)."""
    expr = pd.read_csv(GTEX_CSV, index_col=0).iloc[::2, :100]
    tissue = pd.read_csv(GTEX_SAMPLES, index_col=0).loc[expr.index, "tissue"]
    table = expr.copy()
    table.insert(0, "tissue", tissue)
    table.insert(1, "age", np.arange(len(table)) % 50 + 20)
    table.insert(2, "batch", np.arange(len(table)) % 3 + 1)
    table.to_csv(tmp_path / "covars.csv")
    assert main(["data", "prepare", str(tmp_path / "covars.csv"), "--label-key", "tissue", "--genes", "all",
                 "--out", str(tmp_path / "p.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "2 numeric columns named neither by a gene id nor a known gene kept as sample annotations" in out
    a = ad.read_h5ad(tmp_path / "p.h5ad")
    assert list(a.var_names) == list(expr.columns) and {"age", "batch"} <= set(a.obs.columns)
    assert a.obs["age"].tolist() == table["age"].tolist()
    np.testing.assert_allclose(a.X, expr.to_numpy(dtype=np.float32))   # not logged twice
    # a symbol-named table is left as it is: an unknown name there may be a gene
    sym = table.rename(columns={c: f"SYM{c}" for c in expr.columns})
    sym.to_csv(tmp_path / "sym.csv")
    assert main(["data", "prepare", str(tmp_path / "sym.csv"), "--label-key", "tissue", "--genes", "all",
                 "--out", str(tmp_path / "s.h5ad")]) == 2
    assert "all in 'age'" in capsys.readouterr().err and not (tmp_path / "s.h5ad").exists()
    # among real gene symbols, a numeric column named as a sample annotation (that no gene is) is one, whether
    # its values would break the scale test (an age) or not (a purity, a tumour stage)
    from rnagen import datasets

    symbols = {k: v for k, v in datasets.gtex26().var["symbol"].astype(str).items() if v.strip() and v != "nan"}
    expr = expr[[c for c in expr.columns if c in symbols]]
    named = table[["tissue", "age", "batch", *expr.columns]].rename(columns=symbols)
    named.insert(3, "Tumor purity", (np.arange(len(table)) % 7 + 3) / 10)
    named.insert(4, "STAGE", np.arange(len(table)) % 4 + 1)
    named.to_csv(tmp_path / "named.csv")
    assert main(["data", "prepare", str(tmp_path / "named.csv"), "--label-key", "tissue", "--genes", "all",
                 "--out", str(tmp_path / "n.h5ad")]) == 0
    assert ("4 numeric columns named neither by a gene id nor a known gene kept as sample annotations, not genes "
            "(age, batch, Tumor purity, STAGE)") in capsys.readouterr().out
    n = ad.read_h5ad(tmp_path / "n.h5ad")
    assert list(n.var_names) == [symbols[c] for c in expr.columns]
    assert n.obs["Tumor purity"].tolist() == named["Tumor purity"].tolist()
    np.testing.assert_allclose(n.X, expr.to_numpy(dtype=np.float32))


def test_a_gene_list_with_a_header_and_genes_the_data_lack(tmp_path, capsys):
    """--genes FILE: a header line naming the column is no gene; the list's genes the data lack are named; a list
    mostly of unknown ids still finds its known symbol among Entrez-named genes."""
    (tmp_path / "list.txt").write_text("gene_symbol\nTBX4\nNOTAGENE1\nFOO2\n")
    assert main(["data", "prepare", GTEX_CSV, "--labels", GTEX_SAMPLES, "--label-key", "tissue", "--genes",
                 str(tmp_path / "list.txt"), "--out", str(tmp_path / "p.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "520 samples x 1 genes" in out and "2 of the list's genes not in the data (NOTAGENE1, FOO2)" in out
    a = ad.read_h5ad(tmp_path / "p.h5ad")
    assert a.var["symbol"].tolist() == ["TBX4"] and a.uns["rnagen"]["genes"]["n_requested"] == 3


def test_prepare_normalises_sequencing_depth(tmp_path, capsys):
    """Raw counts of samples sequenced to different depths: without --normalize the summary says so; with it the
    depth is gone (counts per million of the whole library, before the landmarks are picked)."""
    rng = np.random.default_rng(1)
    lm = datasets.landmarks()["symbol"].head(600).tolist()
    other = [f"NOTAGENE{i}" for i in range(50)]
    mu = rng.gamma(1.0, 100.0, size=650)
    depth = np.repeat([1.0, 5.0], 10)
    counts = rng.poisson(np.outer(depth, mu))
    df = pd.DataFrame(counts, index=[f"s{i}" for i in range(20)], columns=lm + other)
    df.insert(0, "group", ["a", "b"] * 10)
    df.to_csv(tmp_path / "counts.tsv", sep="\t")
    assert main(["data", "info", str(tmp_path / "counts.tsv"), "--label-key", "group"]) == 0
    assert "values:    raw counts (whole numbers; per-sample totals over its 650 features" in capsys.readouterr().out
    base = ["data", "prepare", str(tmp_path / "counts.tsv"), "--label-key", "group"]
    assert main([*base, "--out", str(tmp_path / "raw.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "the values look like raw counts, per-sample totals" in out and "--normalize cpm or median-ratio" in out
    assert main([*base, "--normalize", "cpm", "--out", str(tmp_path / "cpm.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "depth normalised (cpm; library sizes" in out and "look like raw counts" not in out
    # normalised values are no whole counts: --log none is offered without --round's promise
    assert "(--log none keeps them as read)" in out and "--round" not in out
    a = ad.read_h5ad(tmp_path / "cpm.h5ad")
    assert a.n_vars == 600  # the landmarks; the library total counted the other 50 features too
    lib = counts.sum(axis=1)
    np.testing.assert_allclose(a.X, np.log2(counts[:, :600] / lib[:, None] * 1e6 + 1), rtol=1e-5)
    raw = ad.read_h5ad(tmp_path / "raw.h5ad")
    gap = lambda x: abs(x[depth == 5].mean() - x[depth == 1].mean())  # noqa: E731
    assert gap(raw.X.mean(axis=1)) > 2.0 and gap(a.X.mean(axis=1)) < 0.05  # log2(5) = 2.3 removed
    assert main([*base, "--normalize", "median-ratio", "--out", str(tmp_path / "mr.h5ad")]) == 0
    m = ad.read_h5ad(tmp_path / "mr.h5ad")
    assert gap(m.X.mean(axis=1)) < 0.05 and [h["step"] for h in m.uns["rnagen"]["history"].values()].count(
        "normalize_depth") == 1
    # estimated counts (Salmon's NumReads, RSEM's expected_count: not whole numbers) carry the depth too: named as
    # possibly such (FPKM looks alike); TPM, which totals 10^6 in every sample, gets no note
    est = df.copy()
    est[lm + other] = counts * rng.uniform(0.9, 1.1, counts.shape)
    est.to_csv(tmp_path / "est.tsv", sep="\t")
    assert main(["data", "info", str(tmp_path / "est.tsv"), "--label-key", "group"]) == 0
    assert "values:    linear scale, not whole numbers (per-sample totals over its 650 features" in \
        capsys.readouterr().out
    assert main(["data", "prepare", str(tmp_path / "est.tsv"), "--label-key", "group", "--out",
                 str(tmp_path / "est.h5ad")]) == 0
    assert "if they are estimated counts (Salmon's NumReads, RSEM's expected_count), --normalize cpm" in \
        capsys.readouterr().out
    tpm = df.copy()
    tpm[lm + other] = counts / counts.sum(axis=1, keepdims=True) * 1e6
    tpm.to_csv(tmp_path / "tpm.tsv", sep="\t")
    assert main(["data", "info", str(tmp_path / "tpm.tsv"), "--label-key", "group"]) == 0
    assert "values:" not in capsys.readouterr().out
    # the same values on microarray probes (a GEO GDS of MAS5 signals): intensities carry no sequencing depth
    arr = est.rename(columns={g: f"{200000 + j}_at" for j, g in enumerate(lm + other)})
    arr.to_csv(tmp_path / "arr.tsv", sep="\t")
    assert main(["data", "info", str(tmp_path / "arr.tsv"), "--label-key", "group"]) == 0
    assert "values:" not in capsys.readouterr().out


# ------------------------------------------------------------------------------------------- bad inputs

def _expr(tmp_path, text, name="in.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


GOOD = "id,TP53,EGFR,MYC,tissue\ns1,1,2,3,a\ns2,4,5,6,a\ns3,1,2,3,b\ns4,4,5,6,b\n"

BAD = {
    "malformed file": ("id,TP53,EGFR,MYC,tissue\ns1,1,2,3,a\ns2,4,5,6,a,7,8\n", [], "malformed CSV"),
    "missing label column": (GOOD, ["--label-key", "cancer"], "label column 'cancer' not found"),
    "NaN": ("id,TP53,EGFR,MYC,tissue\ns1,1,,3,a\ns2,4,5,6,a\ns3,1,2,3,b\ns4,4,5,6,b\n", [], "1 NaN and 0 inf"),
    "inf": ("id,TP53,EGFR,MYC,tissue\ns1,1,-inf,3,a\ns2,4,5,6,a\ns3,1,2,3,b\ns4,4,5,6,b\n", [], "0 NaN and 1 inf"),
    "negative values to log": ("id,TP53,EGFR,MYC,tissue\ns1,1,-40,300,a\ns2,4,5,6,a\ns3,1,2,3,b\ns4,4,5,6,b\n",
                               [], "needs non-negative values"),
    "negative values, forced log": (GOOD.replace("s1,1,2,3", "s1,-1,2,3"), ["--log", "log2p1"],
                                    "needs non-negative values"),
    "duplicated sample ids": (GOOD.replace("s2,", "s1,"), [], "duplicated sample ids"),
    "duplicated gene ids": (GOOD.replace("EGFR", "TP53"), [], "duplicated gene ids"),
    "landmarks of features that are not genes": (
        "id,probe_1,probe 2,probe#3,p4,p5,tissue\ns1,1,2,3,4,5,a\ns2,1,2,3,4,5,a\n", ["--genes", "landmarks"],
        "needs gene identifiers .*use --genes all"),
    "class with fewer than 2 samples": (GOOD + "s5,1,1,1,c\n", [], r"1 class\(es\) .*fewer than 2 samples: 'c' \(1\)"),
    "depth normalisation of log values": (GOOD.replace("s1,1,2,3", "s1,1.5,2.25,3.5"), ["--normalize", "cpm"],
                                          "needs counts, but the values are on a log"),
    "depth normalisation of an empty library": (GOOD.replace("s1,1,2,3", "s1,0,0,0").replace("s2,4,5,6", "s2,40,50,60"),
                                                ["--normalize", "median-ratio"], "sample 's1' has no counts"),
}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("existing", [False, True])
def test_prepare_bad_input_exit_2_one_line_nothing_written(tmp_path, capsys, case, existing, earlier_output):
    text, extra, match = BAD[case]
    out = tmp_path / "out.h5ad"
    earlier = earlier_output(out).read_bytes() if existing else None
    args = ["data", "prepare", _expr(tmp_path, text), "--out", str(out)]
    args += [] if "--genes" in extra else ["--genes", "all"]
    if "--label-key" not in extra:
        args += ["--label-key", "tissue"]
    rc = main(args + extra)
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnagen: error: ") and "Traceback" not in err
    import re

    assert re.search(match, lines[0]), lines[0]
    assert (out.read_bytes() == earlier) if existing else not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.csv"] + (["out.h5ad"] if existing else []))


def test_split_class_with_one_sample_exit_2(tmp_path, capsys):
    a = read(_expr(tmp_path, GOOD + "s5,1,1,1,c\n"), label_key="tissue")
    a.write_h5ad(tmp_path / "x.h5ad")
    (tmp_path / "split").mkdir()
    a.write_h5ad(tmp_path / "split" / "train.h5ad")   # an earlier split's (rnagen's record in it)
    old = (tmp_path / "split" / "train.h5ad").read_bytes()
    rc = main(["data", "split", str(tmp_path / "x.h5ad"), "--label-key", "tissue", "--out", str(tmp_path / "split")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "'c' (1)" in err[0]
    assert (tmp_path / "split" / "train.h5ad").read_bytes() == old
    assert sorted(p.name for p in (tmp_path / "split").iterdir()) == ["train.h5ad"]


def test_split_into_a_folder_of_the_user_s_own_train_h5ad_is_refused(tmp_path, capsys):
    """A folder holding the user's own train.h5ad (no rnagen record): refused, the file unchanged; a folder of an
    earlier split is written over."""
    (tmp_path / "own").mkdir()
    ad.AnnData(np.ones((3, 3), dtype=np.float32)).write_h5ad(tmp_path / "own" / "test.h5ad")
    before = (tmp_path / "own" / "test.h5ad").read_bytes()
    assert main(["data", "split", "gtex26", "--out", str(tmp_path / "own")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "its test.h5ad exists and holds data rnagen did not write" in err
    assert (tmp_path / "own" / "test.h5ad").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "own").iterdir()) == ["test.h5ad"]
    assert main(["data", "split", "gtex26", "--out", str(tmp_path / "again")]) == 0
    assert main(["data", "split", "gtex26", "--seed", "3", "--out", str(tmp_path / "again")]) == 0


def test_split_parts_keep_the_inputs_layers_raw_embeddings_and_uns(tmp_path, capsys):
    """A split partitions the user's .h5ad: each part holds, for its samples, everything the input held: X (the
    values as read), obs, var, layers (sparse kept sparse), .raw sliced by the same rows (its own genes, var and
    varm whole), obsm and obsp sliced by the rows, varm, varp and uns kept; the parts' samples are the input's,
    each once. Random and given (--split-key) splits alike."""
    import scipy.sparse as sp

    src = tmp_path / "sc.h5ad"
    _scanpy_log1p_h5ad(src, base=None)
    a = ad.read_h5ad(src)
    rng = np.random.default_rng(1)
    a.obs["grp"] = ["a", "b"] * 4 + ["a"]
    a.obs["part"] = ["train"] * 6 + ["test"] * 3
    raw_syms = list(a.raw.var_names) + ["EXTRA1", "EXTRA2"]   # raw keeps genes X does not (scanpy's HVG subset)
    a.raw = ad.AnnData(X=sp.csr_matrix(rng.poisson(20, size=(9, 14)).astype(np.float32)), obs=a.obs,
                       var=pd.DataFrame({"gene_ids": [f"E{j}" for j in range(14)]}, index=raw_syms),
                       varm={"loadings": rng.normal(size=(14, 2))})
    a.obsm["frame"] = pd.DataFrame({"u": rng.normal(size=9)}, index=a.obs_names)
    a.varp["gene_graph"] = sp.csr_matrix(rng.random((12, 12)))
    a.uns["neighbors"] = {"params": {"n_neighbors": 15, "method": "umap"}}
    a.write_h5ad(src)
    a = ad.read_h5ad(src)
    for extra in ([], ["--split-key", "part"]):
        out = tmp_path / f"parts{len(extra)}"
        assert main(["data", "split", str(src), "--label-key", "grp", "--test-size", "0.34", "--out", str(out)]
                    if not extra else ["data", "split", str(src), "--label-key", "grp", *extra, "--out", str(out)]) \
            == 0
        capsys.readouterr()
        parts = [ad.read_h5ad(out / f"{p}.h5ad") for p in ("train", "test")]
        names = [str(n) for p in parts for n in p.obs_names]
        assert sorted(names) == sorted(map(str, a.obs_names)) and len(set(names)) == a.n_obs
        if extra:
            assert list(parts[1].obs_names) == ["s6", "s7", "s8"]
        for p in parts:
            rows = [list(a.obs_names).index(n) for n in p.obs_names]
            np.testing.assert_array_equal(p.X, a.X.toarray()[rows].astype(np.float32))
            assert list(p.var_names) == list(a.var_names)
            assert list(p.obs["part"]) == list(a.obs["part"].iloc[rows])
            assert list(p.layers) == ["counts"] and sp.issparse(p.layers["counts"])
            np.testing.assert_array_equal(p.layers["counts"].toarray(), a.layers["counts"].toarray()[rows])
            assert p.raw is not None and sp.issparse(p.raw.X) and list(p.raw.var_names) == raw_syms
            np.testing.assert_array_equal(p.raw.X.toarray(), a.raw.X.toarray()[rows])
            pd.testing.assert_frame_equal(p.raw.var, a.raw.var)
            np.testing.assert_array_equal(p.raw.varm["loadings"], a.raw.varm["loadings"])
            assert sorted(p.obsm) == ["X_pca", "frame"] and list(p.obsp) == ["connectivities"]
            np.testing.assert_array_equal(p.obsm["X_pca"], a.obsm["X_pca"][rows])
            np.testing.assert_array_equal(p.obsm["frame"]["u"].to_numpy(), a.obsm["frame"]["u"].to_numpy()[rows])
            np.testing.assert_array_equal(p.obsp["connectivities"].toarray(),
                                          a.obsp["connectivities"].toarray()[np.ix_(rows, rows)])
            np.testing.assert_array_equal(p.varm["PCs"], a.varm["PCs"])
            np.testing.assert_array_equal(p.varp["gene_graph"].toarray(), a.varp["gene_graph"].toarray())
            assert p.uns["neighbors"]["params"]["n_neighbors"] == 15 and p.uns["log1p"] == {"base": None}


def test_split_by_the_data_own_column(tmp_path, capsys):
    """--split-key: the data's own split (a published set's train/test column); with --test-size or --seed (a
    random split's options) refused in one line, nothing written."""
    import anndata as ad

    rows = "".join(f"s{i},{i},{2 * i},{i % 3},{'ab'[i % 2]},{'test' if i in (4, 5, 9) else 'train'}\n"
                   for i in range(10))
    (tmp_path / "x.csv").write_text("sample,TP53,EGFR,MYC,tissue,part\n" + rows)
    assert main(["data", "prepare", str(tmp_path / "x.csv"), "--label-key", "tissue", "--genes", "all", "--out",
                 str(tmp_path / "x.h5ad")]) == 0   # prepare points at the column
    assert "column 'part' holds the data's own train/test split: rnagen data split (or benchmark) --split-key part" \
        in capsys.readouterr().out
    assert main(["data", "info", str(tmp_path / "x.h5ad")]) == 0   # info too
    assert "split:     column 'part' holds the data's own train/test split" in capsys.readouterr().out
    out = tmp_path / "sp"
    assert main(["data", "split", str(tmp_path / "x.csv"), "--label-key", "tissue", "--split-key", "part",
                 "--out", str(out)]) == 0
    assert "split 10 samples (as column 'part' says): 7 train" in capsys.readouterr().out
    assert list(ad.read_h5ad(out / "test.h5ad").obs_names) == ["s4", "s5", "s9"]
    for extra in (["--seed", "3"], ["--test-size", "0.3"]):
        assert main(["data", "split", str(tmp_path / "x.csv"), "--label-key", "tissue", "--split-key", "part",
                     *extra, "--out", str(tmp_path / "sp2")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{extra[0]} sets a random split and --split-key takes the data's own" in err
        assert not (tmp_path / "sp2").exists()


def test_info_does_not_count_a_split_column_as_the_labels(tmp_path, capsys):
    """Without --label-key, info lists the text columns that could be labels; a train/test column is the data's
    split, said on its own line, not its classes (nor does it hide the real label column beside it)."""
    obs = pd.DataFrame({"subtype": pd.Categorical(["LumA", "Basal"] * 5),
                        "split": ["train"] * 7 + ["test"] * 3}, index=[f"s{i}" for i in range(10)])
    X = np.arange(30, dtype=np.float32).reshape(10, 3) / 4
    ad.AnnData(X, obs=obs, var=pd.DataFrame(index=["TP53", "EGFR", "MYC"])).write_h5ad(tmp_path / "x.h5ad")
    assert main(["data", "info", str(tmp_path / "x.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "labels (subtype): 2 classes" in out and "labels (split)" not in out
    assert "split:     column 'split' holds the data's own train/test split" in out
    obs["subtype"] = [0, 1] * 5   # numbers: no text column left to count
    ad.AnnData(X, obs=obs, var=pd.DataFrame(index=["TP53", "EGFR", "MYC"])).write_h5ad(tmp_path / "y.h5ad")
    assert main(["data", "info", str(tmp_path / "y.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "columns:   subtype, split (none looks like labels)" in out and "labels (" not in out
    assert main(["data", "info", str(tmp_path / "y.h5ad"), "--label-key", "subtype"]) == 0
    assert "labels (subtype): 2 classes" in capsys.readouterr().out


def test_split_parts_record_the_label_column_they_were_stratified_on(tmp_path, capsys):
    """`data split --label-key K` on a file that records no label column (two candidates, a prepared file's other
    one): both parts record K, so `train` on the training part takes it without --label-key (saying so); a given
    split (--split-key) alike; the API's split records it too."""
    import anndata as ad

    from rnagen.pp import split
    from rnagen.pp.history import get_history

    rng = np.random.default_rng(0)
    rows = "".join(f"s{i},{','.join(f'{v:.3f}' for v in rng.normal(5, 1, 4))},{'abc'[i % 3]},{'xy'[i % 2]},"
                   f"{'test' if i % 5 == 0 else 'train'}\n" for i in range(30))
    (tmp_path / "x.csv").write_text("sample,TP53,EGFR,MYC,KRAS,tissue,batch,part\n" + rows)
    assert main(["data", "prepare", str(tmp_path / "x.csv"), "--label-key", "batch", "--genes", "all", "--out",
                 str(tmp_path / "x.h5ad")]) == 0
    for src, extra in ((tmp_path / "x.csv", []), (tmp_path / "x.h5ad", []),
                       (tmp_path / "x.csv", ["--split-key", "part"])):
        out = tmp_path / f"sp_{src.suffix[1:]}{len(extra)}"
        assert main(["data", "split", str(src), "--label-key", "tissue", *extra, "--out", str(out)]) == 0
        for part in ("train", "test"):
            assert ad.read_h5ad(out / f"{part}.h5ad").uns["rnagen"]["label_key"] == "tissue"
        capsys.readouterr()
        assert main(["train", str(out / "train.h5ad"), "--model", "gaussian", "--out", str(out / "run")]) == 0
        assert "labels: 'tissue' (the label column recorded in DATA)" in capsys.readouterr().out
    train, test = split(ad.read_h5ad(tmp_path / "x.h5ad"), label_key="tissue", seed=1)
    assert train.uns["rnagen"]["label_key"] == test.uns["rnagen"]["label_key"] == "tissue"
    assert get_history(train)[-1]["step"] == "split"


def test_info_and_fetch_errors_exit_2(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path / "missing.h5ad")]) == 2
    assert "does not exist" in capsys.readouterr().err
    rc = main(["data", "fetch", "tcga", "--cache-dir", str(tmp_path), "--checksum", "nonsense", "--no-progress"])
    assert rc == 2 and "bad --checksum" in capsys.readouterr().err


def test_a_dash_for_standard_input_names_dev_stdin(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)   # no file named '-' here
    for argv in (["data", "info", "-"], ["train", "-", "--label-key", "t", "--model", "gaussian", "--out", "run"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "'-': standard input is read by its path, /dev/stdin" in err
    assert not (tmp_path / "run").exists()
    # a file that is named '-' is read as it is
    datasets.gtex26()[:20, :30].copy().write_h5ad(tmp_path / "-")
    assert main(["data", "info", "-"]) == 0
    assert "samples:   20" in capsys.readouterr().out


def test_help_documents_every_option(capsys):
    for sub in ("fetch", "prepare", "info", "split"):
        with pytest.raises(SystemExit):
            main(["data", sub, "--help"])
        out = capsys.readouterr().out
        assert "usage: rnagen data " + sub in out


def test_bundled_dataset_by_name(tmp_path, capsys):
    assert main(["data", "info", "gtex26"]) == 0
    out = capsys.readouterr().out
    assert "samples:   520" in out and "labels (tissue): 26 classes" in out and "log2(RPKM+1) (as shipped)" in out
    assert main(["data", "split", "gtex26", "--out", str(tmp_path)]) == 0  # label key recorded in the data set
    te = ad.read_h5ad(tmp_path / "test.h5ad")
    assert te.n_obs == 104 and (te.obs["tissue"].value_counts() == 4).all()


def test_prepare_with_gene_list_file_of_another_id_type(tmp_path):
    ref = datasets.gtex26()
    syms = ref.var["symbol"].iloc[[5, 0, 17]].tolist()  # symbols, while the data are keyed by Entrez ID
    (tmp_path / "genes.txt").write_text("# my genes\n" + "\n".join(syms + ["NOT_A_GENE"]) + "\n")
    rc = main(["data", "prepare", GTEX_CSV, "--labels", GTEX_SAMPLES, "--genes", str(tmp_path / "genes.txt"),
               "--out", str(tmp_path / "x.h5ad")])
    assert rc == 0
    a = ad.read_h5ad(tmp_path / "x.h5ad")
    assert a.var["symbol"].tolist() == syms and list(a.var_names) == list(ref.var_names[[5, 0, 17]])
    assert list(a.uns["rnagen"]["genes"]["missing"]) == ["NOT_A_GENE"]
    np.testing.assert_array_equal(a.X, ref.X[:, [5, 0, 17]])


def test_prepare_with_a_gene_list_typed_by_hand(tmp_path, capsys):
    """A genes file of ids of every kind (symbol, Entrez id written as a float, versioned Ensembl id in lower case),
    one in single quotes, with spaces around ids, and ids listed twice: each gene is found, selected once, and each
    missing id is named once ('EGFR' in quotes, 7157.0 in a list of other ids and the lower-case Ensembl id were
    missing; a repeated missing id was counted twice)."""
    ref = datasets.gtex26()
    sym, ent, ens = (ref.var["symbol"].iloc[5], ref.var_names[0], ref.var["ensembl_id"].iloc[17])
    lines = [f"'{sym}'", f"  {ent}.0 ", f"{ens.lower()}.9", "NOT_A_GENE", "NOT_A_GENE ", sym, "ENSMUSG00000059552"]
    (tmp_path / "genes.txt").write_text("\n".join(lines) + "\n")
    assert main(["data", "prepare", GTEX_CSV, "--labels", GTEX_SAMPLES, "--genes", str(tmp_path / "genes.txt"),
                 "--out", str(tmp_path / "x.h5ad")]) == 0
    a = ad.read_h5ad(tmp_path / "x.h5ad")
    assert list(a.var_names) == list(ref.var_names[[5, 0, 17]])
    np.testing.assert_array_equal(a.X, ref.X[:, [5, 0, 17]])
    assert list(a.uns["rnagen"]["genes"]["missing"]) == ["NOT_A_GENE", "ENSMUSG00000059552"]
    assert a.uns["rnagen"]["genes"]["n_requested"] == 5
    assert "2 of the list's genes not in the data (NOT_A_GENE, ENSMUSG00000059552)" in capsys.readouterr().out


def test_prepare_names_a_gene_list_of_another_species(tmp_path, capsys):
    """A genes file of mouse Ensembl ids against human data finds none of them: the one-line error says the list is
    of mouse genes (it said only to check the gene ids), and nothing is written."""
    (tmp_path / "genes.txt").write_text("ENSMUSG00000059552\nENSMUSG00000057666.18\n")
    assert main(["data", "prepare", GTEX_CSV, "--labels", GTEX_SAMPLES, "--genes", str(tmp_path / "genes.txt"),
                 "--out", str(tmp_path / "x.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the list names mouse genes (e.g. 'ENSMUSG00000059552') but the data's are " \
                                    "human; list their human orthologs" in err
    assert not (tmp_path / "x.h5ad").exists()


def test_prepare_names_another_species(tmp_path, capsys):
    """Mouse symbols map to the human genes of the same name, said in the summary; mouse Ensembl ids find no
    landmark and the error names the species and the ortholog route (--feature-map), which then works."""
    import anndata as ad
    import numpy as np
    import pandas as pd

    from rnagen import datasets
    from rnagen.cli.main import main

    lm = datasets.landmarks()
    X = np.random.default_rng(0).gamma(2.0, 50.0, size=(600, 6))
    cols = [f"s{i}" for i in range(6)]
    pd.Series(["a"] * 3 + ["b"] * 3, index=cols, name="l").to_csv(tmp_path / "l.csv")
    df = pd.DataFrame(X, index=pd.Index([s.capitalize() for s in lm["symbol"][:600]], name="gene"), columns=cols)
    df.to_csv(tmp_path / "sym.csv")
    assert main(["data", "prepare", str(tmp_path / "sym.csv"), "--labels", str(tmp_path / "l.csv"), "--out",
                 str(tmp_path / "a.h5ad")]) == 0
    assert "the symbols are in mouse/rat case (e.g. " in capsys.readouterr().out
    ens = [f"ENSMUSG{i:011d}" for i in range(600)]
    df.index = pd.Index(ens, name="gene")
    df.to_csv(tmp_path / "ens.csv")
    assert main(["data", "prepare", str(tmp_path / "ens.csv"), "--labels", str(tmp_path / "l.csv"), "--out",
                 str(tmp_path / "b.h5ad")]) == 2
    err = capsys.readouterr().err
    assert "they are mouse Ensembl ids and rnagen's gene tables are human" in err and "--feature-map" in err
    pd.DataFrame({"Gene stable ID": ens, "Human gene stable ID": lm["ensembl_id"][:600]}).to_csv(
        tmp_path / "orthologs.tsv", sep="\t", index=False)
    assert main(["data", "prepare", str(tmp_path / "ens.csv"), "--labels", str(tmp_path / "l.csv"), "--feature-map",
                 str(tmp_path / "orthologs.tsv"), "--out", str(tmp_path / "b.h5ad")]) == 0
    assert ad.read_h5ad(tmp_path / "b.h5ad").n_vars == 600


def test_h5ad_with_repeated_gene_names_errs_in_one_line_and_prepares_with_duplicates(tmp_path, capsys):
    """An .h5ad whose gene names repeat (anndata warns on reading it) fails in exactly one line naming
    --duplicates, without anndata's warning, and prepares with it."""
    import warnings

    import anndata as ad
    import pandas as pd

    rng = np.random.default_rng(0)
    genes = ["TP53", "EGFR", "BRCA1", "GAPDH"] * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        a = ad.AnnData(X=rng.normal(8, 1, (12, 8)).astype(np.float32),
                       obs=pd.DataFrame({"grp": ["a", "b"] * 6}, index=[f"s{i}" for i in range(12)]),
                       var=pd.DataFrame(index=genes))
        a.write_h5ad(tmp_path / "d.h5ad")
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert main(["data", "prepare", str(tmp_path / "d.h5ad"), "--label-key", "grp", "--genes", "all", "--out",
                     str(tmp_path / "o.h5ad")]) == 2
        err = capsys.readouterr().err
        assert main(["data", "prepare", str(tmp_path / "d.h5ad"), "--label-key", "grp", "--genes", "all",
                     "--duplicates", "mean", "--out", str(tmp_path / "o.h5ad")]) == 0
    assert err.count("\n") == 1 and "duplicated gene ids (4, e.g. 'TP53')" in err
    assert not [w for w in seen if "not unique" in str(w.message)], [str(w.message) for w in seen]
    assert ad.read_h5ad(tmp_path / "o.h5ad").n_vars == 4


def test_prepare_names_classes_that_differ_only_in_case(tmp_path, capsys):
    """Labels typed by hand ('Lung', 'lung ', 'lung_tissue' against 'lung tissue'): kept apart, and the prepare
    line names them so the user can merge them; distinct labels draw no note."""
    genes = ["TP53", "EGFR", "MYC", "GAPDH"]
    labels = ["Lung", "lung ", "Liver", "Liver", "lung_tissue", "lung tissue", "Lung", "lung", "lung_tissue",
              "lung tissue"]
    df = pd.DataFrame(np.arange(40, dtype=float).reshape(10, 4) + 1, columns=genes,
                      index=[f"s{i}" for i in range(10)]).assign(tissue=labels)
    df.to_csv(tmp_path / "x.csv", index_label="sample")
    assert main(["data", "prepare", str(tmp_path / "x.csv"), "--label-key", "tissue", "--genes", "all", "--out",
                 str(tmp_path / "x.h5ad")]) == 0
    out = capsys.readouterr().out
    assert ("5 classes of 'tissue'; 2 sets of classes that differ only in case or spacing, kept apart "
            "('Lung'/'lung', 'lung tissue'/'lung_tissue'): make them one label") in out
    df.assign(tissue=["a", "b"] * 5).to_csv(tmp_path / "y.csv", index_label="sample")
    assert main(["data", "prepare", str(tmp_path / "y.csv"), "--label-key", "tissue", "--genes", "all", "--out",
                 str(tmp_path / "y.h5ad")]) == 0
    assert "differ only in case" not in capsys.readouterr().out
    # a typo that leaves a class of one sample: the refusal names its twin
    df.assign(tissue=["Lung"] * 5 + ["Liver"] * 4 + ["Lung_"]).to_csv(tmp_path / "z.csv", index_label="sample")
    assert main(["data", "prepare", str(tmp_path / "z.csv"), "--label-key", "tissue", "--genes", "all", "--out",
                 str(tmp_path / "z.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'Lung_' (1) ('Lung'/'Lung_' differ only in case or spacing: one class? " \
        "make them one label)" in err


def test_identical_and_flat_samples_are_named(tmp_path, capsys):
    """A sample uploaded twice under two names (every value equal) and failed libraries (every gene 0) are named
    by prepare and info, kept; distinct samples draw no note."""
    genes = ["TP53", "EGFR", "MYC", "GAPDH"]
    X = np.arange(1, 33, dtype=float).reshape(8, 4)
    X[5] = X[2]          # s5 is s2 again
    X[6] = X[7] = 0.0    # two empty libraries: named as failed, not as copies of each other
    df = pd.DataFrame(X, columns=genes, index=[f"s{i}" for i in range(8)]).assign(kind=["a", "b"] * 4)
    df.to_csv(tmp_path / "x.csv", index_label="sample")
    assert main(["data", "prepare", str(tmp_path / "x.csv"), "--label-key", "kind", "--genes", "all", "--log",
                 "none", "--out", str(tmp_path / "x.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "2 samples of one value in every gene (e.g. 's6': 0): failed libraries?" in out
    assert "1 sample identical to another ('s5' = 's2'): one library under two names?" in out
    assert main(["data", "info", str(tmp_path / "x.h5ad")]) == 0
    assert "identical: 2 samples of one value in every gene" in capsys.readouterr().out
    df.iloc[:5].to_csv(tmp_path / "y.csv", index_label="sample")
    assert main(["data", "prepare", str(tmp_path / "y.csv"), "--label-key", "kind", "--genes", "all", "--out",
                 str(tmp_path / "y.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "identical to another" not in out and "one value in every gene" not in out


def _with_copies(tmp_path, *, split_column: bool = False):
    """A CSV of 90 distinct profiles of three classes, then s0 again under another id and s1 and s2 rounded to
    two decimals (the same libraries exported again)."""
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b", "c"], 30)
    X = rng.normal(6, 2, (3, 25))[np.repeat([0, 1, 2], 30)] + rng.normal(0, 1, (90, 25))
    X = np.vstack([X, X[:1], np.round(X[1:3], 2) + 0.004])
    names = [f"s{i}" for i in range(90)] + ["again0", "again1", "again2"]
    df = pd.DataFrame(X, index=names, columns=[f"f{j}" for j in range(25)]).assign(kind=np.r_[y, y[:3]])
    if split_column:   # the copies in test, their profiles in train
        df = df.assign(part=["train"] * 70 + ["test"] * 20 + ["test"] * 3)
    df.to_csv(tmp_path / "c.csv", index_label="sample")
    return tmp_path / "c.csv"


def test_copies_are_named_by_prepare_and_info_and_split_keeps_them_together(tmp_path, capsys):
    src = _with_copies(tmp_path)
    h5 = str(tmp_path / "c.h5ad")
    assert main(["data", "prepare", str(src), "--label-key", "kind", "--genes", "all", "--out", h5]) == 0
    out = capsys.readouterr().out
    assert ("1 sample identical to another and 2 near copies of another sample (nearer it than 0.1 of the data's "
            "typical nearest-neighbour distance") in out
    assert "('again0' = 's0', 'again1' ~ 's1', 'again2' ~ 's2'): one library under two names?" in out
    assert main(["data", "info", h5]) == 0
    assert "identical: 1 sample identical to another and 2 near copies" in capsys.readouterr().out
    for seed in ("1", "2", "3"):
        out_dir = tmp_path / f"split{seed}"
        assert main(["data", "split", h5, "--seed", seed, "--out", str(out_dir)]) == 0
        assert "; 3 copies of profiles kept on their profile's side" in capsys.readouterr().out
        held = set(ad.read_h5ad(out_dir / "test.h5ad").obs_names)
        assert all((f"s{i}" in held) == (f"again{i}" in held) for i in range(3))


def test_a_given_split_with_copies_on_both_sides_is_warned_of(tmp_path, capsys):
    h5 = str(tmp_path / "c.h5ad")
    assert main(["data", "prepare", str(_with_copies(tmp_path, split_column=True)), "--label-key", "kind",
                 "--genes", "all", "--out", h5]) == 0
    capsys.readouterr()
    assert main(["data", "split", h5, "--split-key", "part", "--out", str(tmp_path / "own")]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and ("; warning: 3 test profiles of the given split are copies of training profiles "
                                     "(e.g. 'again0' of 's0')") in out


def test_log_twice_refused_and_log_none_states_the_scale(tmp_path, capsys):
    """--log log2p1 on a prepared file whose record says log2(x+1) logged it again (recorded once); refused.
    --log none on log values the scale test leaves undecided (one value above 30) records them as log values,
    so training does not stop at the question the refusal told to answer with --log none."""
    import anndata as ad

    rng = np.random.default_rng(3)
    counts = rng.poisson(rng.gamma(1.0, 50, 40), size=(24, 40)).astype(float)
    df = pd.DataFrame(counts, index=[f"S{i}" for i in range(24)], columns=[f"G{j}" for j in range(40)])
    df.insert(0, "cls", ["a", "b"] * 12)
    df.to_csv(tmp_path / "c.csv")
    assert main(["data", "prepare", str(tmp_path / "c.csv"), "--label-key", "cls", "--genes", "all",
                 "--out", str(tmp_path / "p.h5ad")]) == 0
    capsys.readouterr()
    assert main(["data", "prepare", str(tmp_path / "p.h5ad"), "--genes", "all", "--log", "log2p1",
                 "--out", str(tmp_path / "twice.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "they would be logged twice" in err and not (tmp_path / "twice.h5ad").exists()
    logged = np.log2(counts + 1)
    logged[3, 5] = 45.0
    lg = pd.DataFrame(logged, index=df.index, columns=df.columns[1:])
    lg.insert(0, "cls", df["cls"])
    lg.to_csv(tmp_path / "l.csv")
    assert main(["data", "prepare", str(tmp_path / "l.csv"), "--label-key", "cls", "--genes", "all",
                 "--out", str(tmp_path / "u.h5ad")]) == 2
    assert "--log none --scale log (log values)" in capsys.readouterr().err
    assert main(["data", "prepare", str(tmp_path / "l.csv"), "--label-key", "cls", "--genes", "all", "--log", "none",
                 "--out", str(tmp_path / "n.h5ad")]) == 0
    assert ad.read_h5ad(tmp_path / "n.h5ad").uns["rnagen"]["log"]["logged"]
    out = capsys.readouterr().out
    assert "recorded as log scale (--log none)" in out and "transformed" not in out   # no log taken: none said
    assert main(["train", str(tmp_path / "n.h5ad"), "--model", "gaussian", "--label-key", "cls", "--out",
                 str(tmp_path / "run"), "--quiet"]) == 0
    # counts kept with --log none stay unrecorded: training still logs them
    assert main(["data", "prepare", str(tmp_path / "c.csv"), "--label-key", "cls", "--genes", "all", "--log", "none",
                 "--out", str(tmp_path / "cn.h5ad")]) == 0
    assert "log" not in ad.read_h5ad(tmp_path / "cn.h5ad").uns["rnagen"]


def test_counts_are_shown_in_the_unit_they_round_to():
    """A per-million total of 999,999.9 was shown as '1e+03k'."""
    from rnagen.cli.data import _count_str

    assert [_count_str(v) for v in (999_999.9, 1_234_567, 45_600, 999.6, 12)] == ["1M", "1.23M", "45.6k", "1k", "12"]
    assert [_count_str(v) for v in (4.61e18, 2.5e11)] == ["4.61e+18", "250G"]


def test_columns_of_one_gene_are_added_as_counts(tmp_path, capsys):
    """Two columns of one gene (TP53 and tp53) in a count table with --duplicates sum: refused as 'log-scaled'
    (the merge ran after the log); now added as counts before the depth normalisation, as transcripts mapped to
    their genes are, and mean averages counts."""
    import anndata as ad

    rng = np.random.default_rng(5)
    counts = rng.poisson(rng.gamma(1.0, 80, 30), size=(20, 30)).astype(float)
    from rnagen import datasets

    genes = ["TP53"] + list(datasets.landmarks()["symbol"][:28]) + ["tp53"]
    df = pd.DataFrame(counts, index=[f"S{i}" for i in range(20)], columns=genes)
    df.insert(0, "cls", ["a", "b"] * 10)
    df.to_csv(tmp_path / "c.csv")
    for how, merged in (("sum", counts[:, 0] + counts[:, -1]), ("mean", (counts[:, 0] + counts[:, -1]) / 2)):
        assert main(["data", "prepare", str(tmp_path / "c.csv"), "--label-key", "cls", "--genes", "all",
                     "--duplicates", how, "--normalize", "cpm", "--out", str(tmp_path / f"{how}.h5ad")]) == 0
        capsys.readouterr()
        a = ad.read_h5ad(tmp_path / f"{how}.h5ad")
        raw = np.c_[merged, counts[:, 1:-1]]
        want = np.log2(raw / raw.sum(1, keepdims=True) * 1e6 + 1)
        np.testing.assert_allclose(a[:, ["TP53"]].X.ravel(), want[:, 0], rtol=1e-5)
        assert a.n_vars == 29


def test_values_standardised_per_gene_are_named(tmp_path, capsys):
    """z-scores per gene (scanpy.pp.scale's) were taken as a log scale without a word: a model trained on them
    generates z-scores. Said by info and prepare, with the way to the unscaled values; log values are not."""
    rng = np.random.default_rng(0)
    logged = rng.gamma(2.0, 2.0, size=(60, 40))
    z = (logged - logged.mean(0)) / logged.std(0)
    for name, X, said in (("z.h5ad", z, True), ("log.h5ad", logged, False)):
        obs = pd.DataFrame({"k": ["a", "b"] * 30}, index=[f"s{i}" for i in range(60)])
        a = ad.AnnData(X.astype(np.float32), obs=obs,
                       var=pd.DataFrame(index=datasets.landmarks()["symbol"].head(40).tolist()))
        a.write_h5ad(tmp_path / name)
        assert main(["data", "info", str(tmp_path / name)]) == 0
        assert ("the values are standardised per gene" in capsys.readouterr().out) is said
        assert main(["data", "prepare", str(tmp_path / name), "--genes", "all", "--label-key", "k",
                     "--out", str(tmp_path / f"p_{name}")]) == 0
        assert ("give the values before scaling" in capsys.readouterr().out) is said


def test_log_none_on_log_range_values_does_not_call_them_linear(tmp_path, capsys):
    """Log-range values with a few above 30 (the scale test undecided): --log none records them as log values,
    and the summary no longer also reads them as a linear scale whose totals need --normalize."""
    rng = np.random.default_rng(5)
    X = 4.0 + 3.0 * rng.random((40, 50)) + np.linspace(0.0, 8.0, 40)[:, None]   # per-sample shifts: totals differ
    X[:6, 0] = 35.0
    df = pd.DataFrame(X, index=[f"s{i}" for i in range(40)], columns=[f"g{j}" for j in range(50)])
    df.insert(0, "group", ["a", "b"] * 20)
    df.to_csv(tmp_path / "logs.csv")
    assert main(["data", "prepare", str(tmp_path / "logs.csv"), "--label-key", "group", "--genes", "all",
                 "--id-type", "other", "--log", "none", "--out", str(tmp_path / "p.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "recorded as log scale (--log none)" in out and "linear scale" not in out, out


def test_scale_states_what_values_kept_as_read_are(tmp_path, capsys):
    """--log none on linear values below 30 (low TPM, CPM of low miRNAs) recorded them as log scale, and training
    then modelled them unlogged: --scale linear records them linear (training takes log2(x+1)), --scale log records
    log2 values the range test reads otherwise (whole numbers), auto says what it took them for, and --scale with
    another --log, or against the input's record or values, is refused in one line."""
    import json

    rng = np.random.default_rng(1)
    lin = np.minimum(rng.gamma(1.5, 3.0, (24, 30)), 28.0)   # linear, not whole, all below 30
    assert not (lin == np.round(lin)).all() and np.quantile(lin, 0.99) <= 30

    def table(X, name):
        df = pd.DataFrame(X, index=[f"s{i}" for i in range(24)], columns=[f"g{j}" for j in range(30)])
        df.insert(0, "cls", ["a", "b"] * 12)
        df.to_csv(tmp_path / name)
        return str(tmp_path / name)

    src = table(lin, "lin.csv")
    base = ["data", "prepare", src, "--label-key", "cls", "--genes", "all", "--id-type", "other"]
    assert main([*base, "--log", "none", "--scale", "linear", "--out", str(tmp_path / "lin.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "recorded as linear scale (--scale linear)" in out and "recorded as log scale" not in out
    a = ad.read_h5ad(tmp_path / "lin.h5ad")
    assert not a.uns["rnagen"]["log"]["logged"] and a.uns["rnagen"]["log"]["transform"] == "as given (--scale linear)"
    np.testing.assert_allclose(a.X, lin, rtol=1e-6)   # kept as read
    for name in ("lin", "auto"):
        if name == "auto":   # the default: taken for log values, said with the way to linear
            assert main([*base, "--log", "none", "--out", str(tmp_path / "auto.h5ad")]) == 0
            out = capsys.readouterr().out
            assert "recorded as log scale (--log none)" in out and "--scale linear" in out and out.count("\n") == 1
        assert main(["train", str(tmp_path / f"{name}.h5ad"), "--model", "gaussian", "--label-key", "cls", "--out",
                     str(tmp_path / f"run_{name}"), "--quiet"]) == 0
        capsys.readouterr()
        meta = json.loads((tmp_path / f"run_{name}" / "meta.json").read_text())
        kinds = [s["kind"] for s in meta["pipeline"]]
        assert (kinds[0] == "log2p1") is (name == "lin"), kinds
        assert meta["data_log"]["logged"] is (name == "auto")
    # log2 values rounded to whole numbers: the range test reads counts, --scale log states them log2
    whole = np.round(np.log2(lin * 40 + 1))
    assert main(["data", "prepare", table(whole, "whole.csv"), "--label-key", "cls", "--genes", "all", "--id-type",
                 "other", "--log", "none", "--scale", "log", "--out", str(tmp_path / "log.h5ad")]) == 0
    assert "recorded as log scale, as stated (--scale log)" in capsys.readouterr().out
    st = ad.read_h5ad(tmp_path / "log.h5ad").uns["rnagen"]["log"]
    assert bool(st["logged"]) and st["base"] == 2.0
    assert main(["train", str(tmp_path / "log.h5ad"), "--model", "gaussian", "--label-key", "cls", "--out",
                 str(tmp_path / "run_log"), "--quiet"]) == 0
    capsys.readouterr()
    meta = json.loads((tmp_path / "run_log" / "meta.json").read_text())
    assert "log2p1" not in [s["kind"] for s in meta["pipeline"]] and meta["data_log"]["base"] == 2.0
    # scanpy's ln(x+1) (its uns["log1p"] record): --scale log keeps the record's base, not log2
    obs = pd.DataFrame({"cls": ["a", "b"] * 12}, index=[f"s{i}" for i in range(24)])
    ln = ad.AnnData(np.log1p(lin).astype(np.float32), obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(30)]),
                    uns={"log1p": {"base": None}})
    ln.write_h5ad(tmp_path / "ln.h5ad")
    assert main(["data", "prepare", str(tmp_path / "ln.h5ad"), "--label-key", "cls", "--genes", "all", "--id-type",
                 "other", "--log", "none", "--scale", "log", "--out", str(tmp_path / "ln_p.h5ad")]) == 0
    capsys.readouterr()
    st = ad.read_h5ad(tmp_path / "ln_p.h5ad").uns["rnagen"]["log"]
    assert bool(st["logged"]) and st["base"] == pytest.approx(np.e)
    # refused, one line, nothing written: --scale with another --log, and a scale the record or values contradict
    refused = [
        ([*base, "--log", "log2p1", "--scale", "linear"], "give --log none --scale linear, or remove --scale"),
        ([*base, "--scale", "log"], "give --log none --scale log, or remove --scale"),
        ([*base, "--log", "none", "--scale", "log", "--normalize", "cpm"], "depth-normalised counts are on a linear"),
        (["data", "prepare", str(tmp_path / "log.h5ad"), "--genes", "all", "--id-type", "other", "--log", "none",
          "--scale", "linear"], "--scale linear, but the input's record says log scale"),
        (["data", "prepare", str(tmp_path / "lin.h5ad"), "--genes", "all", "--id-type", "other", "--log", "none",
          "--scale", "log"], "--scale log, but the input's record says linear scale"),
        ([*base[:2], table(lin * 1000, "big.csv"), *base[3:], "--log", "none", "--scale", "log"],
         f"--scale log, but the values reach {lin.max() * 1000:.4g}, which no log-scale"),
        ([*base[:2], table(np.log2(lin + 0.001), "neg.csv"), *base[3:], "--log", "none", "--scale", "linear"],
         "values are negative"),
    ]
    for i, (argv, said) in enumerate(refused):
        assert main([*argv, "--out", str(tmp_path / f"no{i}.h5ad")]) == 2, argv
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1 and not (tmp_path / f"no{i}.h5ad").exists(), err


def test_log_none_on_depth_normalised_counts_records_them_linear(tmp_path, capsys):
    """--normalize with --log none: the values are counts per million (normalize_depth refuses log values), recorded
    as linear rather than left to the range test or taken for log values."""
    rng = np.random.default_rng(2)
    counts = rng.poisson(rng.gamma(1.0, 50, 40), size=(20, 40)).astype(float)
    df = pd.DataFrame(counts, index=[f"S{i}" for i in range(20)], columns=[f"G{j}" for j in range(40)])
    df.insert(0, "cls", ["a", "b"] * 10)
    df.to_csv(tmp_path / "c.csv")
    assert main(["data", "prepare", str(tmp_path / "c.csv"), "--label-key", "cls", "--genes", "all", "--id-type",
                 "other", "--normalize", "cpm", "--log", "none", "--out", str(tmp_path / "cpm.h5ad")]) == 0
    a = ad.read_h5ad(tmp_path / "cpm.h5ad")
    np.testing.assert_allclose(a.X, counts / counts.sum(1, keepdims=True) * 1e6, rtol=1e-5)
    assert not a.uns["rnagen"]["log"]["logged"] and a.uns["rnagen"]["log"]["transform"].startswith("cpm")


def test_info_on_an_undecided_scale_does_not_also_call_it_linear(tmp_path, capsys):
    """One profile a thousandfold above the others' log values leaves the scale undecided: info says so, naming the
    profile, and does not add a line reading the values as a linear scale whose totals need --normalize."""
    rng = np.random.default_rng(0)
    X = rng.normal(6.0, 1.0, (60, 30))
    X[7] *= 1000.0
    df = pd.DataFrame(X, index=[f"s{i}" for i in range(60)], columns=[f"g{j}" for j in range(30)])
    df.insert(0, "group", ["a", "b"] * 30)
    df.to_csv(tmp_path / "undecided.csv")
    assert main(["data", "info", str(tmp_path / "undecided.csv"), "--label-key", "group"]) == 0
    out = capsys.readouterr().out
    assert "undecided" in out and "'s7'" in out and "linear scale" not in out, out


def test_values_all_below_one_are_said_to_be_likely_shares(tmp_path, capsys):
    """Linear shares of reads (every value in [0, 1)) fall in the log range the scale rule reads as logged: prepare,
    info and training say so, with the way to scale and log them, which prepare then accepts."""
    rng = np.random.default_rng(0)
    counts = rng.negative_binomial(5, 0.01, size=(30, 12)).astype(float) + 1.0
    df = pd.DataFrame(counts / counts.sum(axis=1, keepdims=True) * 1e-2, index=[f"s{i}" for i in range(30)],
                      columns=[f"g{j}" for j in range(12)])
    df.insert(0, "group", ["a", "b", "c"] * 10)
    df.to_csv(tmp_path / "shares.csv")
    base = ["data", "prepare", str(tmp_path / "shares.csv"), "--label-key", "group", "--genes", "all"]
    assert main([*base, "--out", str(tmp_path / "p.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "every value lies between 0 and 1" in out and "--normalize cpm --log log2p1" in out, out
    assert main(["data", "info", str(tmp_path / "shares.csv")]) == 0
    assert "every value lies between 0 and 1" in capsys.readouterr().out
    assert main([*base, "--normalize", "cpm", "--log", "log2p1", "--out", str(tmp_path / "c.h5ad")]) == 0
    assert "every value lies between" not in capsys.readouterr().out
    c = read(tmp_path / "c.h5ad")
    np.testing.assert_allclose(c.X, np.log2(counts / counts.sum(axis=1, keepdims=True) * 1e6 + 1), rtol=1e-5)
    from rnagen.models import get_model

    a = ad.AnnData(df.drop(columns="group").to_numpy(), obs=pd.DataFrame({"group": df["group"].to_numpy()},
                                                                          index=df.index))
    with pytest.warns(UserWarning, match="between 0 and 1 .*--set preprocess.log=log2p1"):
        get_model("gaussian").from_config().fit(a, label_key="group", progress=False)
    # data at 0 to 1 inclusive (min-max scaled) are taken as they are without the warning
    scaled = a.copy()
    scaled.X = scaled.X / scaled.X.max()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        get_model("gaussian").from_config().fit(scaled, label_key="group", progress=False)


def test_an_id_type_the_features_are_not_is_refused(tmp_path, capsys):
    """--id-type entrez on symbols was recorded and reported as Entrez ids (the ids mapped by their own pattern):
    refused with the detected type; the right one, or other (features that are not genes), still prepares."""
    from rnagen import datasets

    syms = datasets.landmarks()["symbol"].tolist()[:30]
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.poisson(50, size=(20, 30)), columns=syms, index=[f"s{i}" for i in range(20)])
    df.insert(0, "label", ["a", "b"] * 10)
    df.to_csv(tmp_path / "sym.csv")
    base = ["data", "prepare", str(tmp_path / "sym.csv"), "--label-key", "label", "--genes", "all"]
    assert main([*base, "--id-type", "entrez", "--out", str(tmp_path / "e.h5ad")]) == 2
    err = capsys.readouterr().err
    assert "--id-type entrez, but the features are symbol ids" in err and "--id-type symbol" in err
    assert not (tmp_path / "e.h5ad").exists()
    for kind in ("symbol", "other"):
        assert main([*base, "--id-type", kind, "--out", str(tmp_path / f"{kind}.h5ad")]) == 0


def test_features_named_by_their_positions_are_not_read_as_entrez_ids(tmp_path, capsys):
    """A table without gene names (pandas writes its columns 0, 1, 2, ...) was read as Entrez ids (1 is A1BG, 9
    NAT1: 21 of 30 'mapped'): its features are positions, named so, and the landmark selection says why it fails."""
    from rnagen.data.genes import detect_id_type, positional_names

    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.poisson(20, size=(12, 30)))
    df.insert(0, "label", ["a", "b"] * 6)
    df.to_csv(tmp_path / "pos.csv")
    base = ["data", "prepare", str(tmp_path / "pos.csv"), "--label-key", "label"]
    assert main([*base, "--genes", "all", "--out", str(tmp_path / "p.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "named by their positions, the input has no gene names, no gene mapping" in out and "mapped" not in out
    assert main([*base, "--out", str(tmp_path / "l.h5ad")]) == 2
    assert "the features are named by their positions" in capsys.readouterr().err
    assert positional_names([str(i) for i in range(1, 31)]) and detect_id_type([str(i) for i in range(30)]) == "other"
    for ids in (["1", "2", "3", "9", "10", "12"], ["0", "1", "2"], ["0", "1", "2", "3", "3", "5"]):
        assert not positional_names(ids)   # Entrez ids, too few, a gap or a repeat
    assert detect_id_type(["1", "2", "3", "9", "10", "12"]) == "entrez"


def _scanpy_log1p_h5ad(path, *, base):
    """A scanpy-style .h5ad after sc.pp.normalize_total + sc.pp.log1p: X = log_b(CP10k + 1) (sparse), the counts
    in layers['counts'] and in .raw, a PCA in obsm and varm, a neighbour graph in obsp, and scanpy's record
    uns['log1p'] = {'base': base} (None: the natural log), written by hand as scanpy writes it."""
    import math

    import scipy.sparse as sp

    syms = [str(s) for s in datasets.landmarks()["symbol"][:12]]
    rng = np.random.default_rng(0)
    counts = rng.poisson(rng.gamma(2.0, 200.0, size=12), size=(9, 12)).astype(np.int64)
    cp10k = counts / counts.sum(1, keepdims=True) * 1e4
    X = np.log1p(cp10k) / (1.0 if base is None else math.log(base))
    obs = pd.DataFrame({"grp": ["a", "b", "c"] * 3}, index=[f"s{i}" for i in range(9)])
    a = ad.AnnData(X=sp.csr_matrix(X.astype(np.float32)), obs=obs, var=pd.DataFrame(index=syms))
    a.layers["counts"] = sp.csr_matrix(counts)
    a.raw = ad.AnnData(X=sp.csr_matrix(counts), var=pd.DataFrame(index=syms))
    a.obsm["X_pca"] = rng.normal(size=(9, 3))
    a.varm["PCs"] = rng.normal(size=(12, 3))
    a.obsp["connectivities"] = sp.csr_matrix(np.eye(9))
    a.uns["log1p"] = {"base": base}
    a.write_h5ad(path)
    return cp10k


@pytest.mark.parametrize("log", ["auto", "log2p1"])
def test_prepare_scanpy_natural_log1p_converts_to_log2(tmp_path, capsys, log):
    """`data prepare` of a scanpy file whose X is ln(x+1) (uns['log1p'] = {'base': None}): by default and with
    --log log2p1 the values are converted to log2(x+1) (not logged again, nor kept as ln under a log2 name), said
    in the summary, recorded with base 2 and scanpy's record {'base': 2.0}."""
    src = tmp_path / "sc.h5ad"
    cp10k = _scanpy_log1p_h5ad(src, base=None)
    argv = ["data", "prepare", str(src), "--genes", "all", "--label-key", "grp", "--out", str(tmp_path / "p.h5ad")]
    assert main(argv + (["--log", log] if log != "auto" else [])) == 0
    out = capsys.readouterr().out
    assert ("; values ln(x+1) (scanpy's sc.pp.log1p, uns['log1p']) converted to log2(x+1), the same expression in "
            "log2 units (--log none keeps them as read)") in out
    p = ad.read_h5ad(tmp_path / "p.h5ad")
    np.testing.assert_allclose(p.X, np.log2(cp10k + 1), rtol=1e-5, atol=1e-5)
    st = p.uns["rnagen"]["log"]
    assert st["transform"] == "log2(x+1)" and st["base"] == 2.0 and st["pseudocount"] == 1.0
    assert dict(p.uns["log1p"]) == {"base": 2.0}


def test_prepare_scanpy_log1p_keeps_the_record_with_log_none_and_base2_as_log2(tmp_path, capsys):
    """--log none keeps ln(x+1) values as read, recorded as such (base e) with scanpy's {'base': None}; a base-2
    log1p file is log2(x+1) already and kept as it is by default, --log log2p1 refusing to log it twice."""
    import math

    src = tmp_path / "sc.h5ad"
    cp10k = _scanpy_log1p_h5ad(src, base=None)
    assert main(["data", "prepare", str(src), "--genes", "all", "--label-key", "grp", "--log", "none",
                 "--out", str(tmp_path / "n.h5ad")]) == 0
    n = ad.read_h5ad(tmp_path / "n.h5ad")
    np.testing.assert_allclose(n.X, np.log1p(cp10k), rtol=1e-5, atol=1e-5)
    assert n.uns["rnagen"]["log"]["base"] == pytest.approx(math.e) and n.uns["log1p"] == {"base": None}
    src2 = tmp_path / "sc2.h5ad"
    _scanpy_log1p_h5ad(src2, base=2)
    assert main(["data", "prepare", str(src2), "--genes", "all", "--label-key", "grp",
                 "--out", str(tmp_path / "b.h5ad")]) == 0
    b = ad.read_h5ad(tmp_path / "b.h5ad")
    np.testing.assert_allclose(b.X, np.log2(cp10k + 1), rtol=1e-5, atol=1e-5)
    assert b.uns["rnagen"]["log"]["base"] == 2.0 and dict(b.uns["log1p"]) == {"base": 2.0}
    capsys.readouterr()
    assert main(["data", "prepare", str(src2), "--genes", "all", "--label-key", "grp", "--log", "log2p1",
                 "--out", str(tmp_path / "b2.h5ad")]) == 2
    assert "they would be logged twice" in capsys.readouterr().err and not (tmp_path / "b2.h5ad").exists()


def test_prepare_leaves_out_the_inputs_layers_raw_and_embeddings(tmp_path, capsys):
    """The prepared file holds the prepared X, not the input's other matrices: layers['counts'] and .raw (the raw
    counts of every input gene: stale beside a changed X, and patients' raw profiles in a file taken to hold the
    prepared values only), obsm/varm/obsp (a PCA, a neighbour graph of the old X). The summary names what was left
    out, where it stays, and how to prepare a layer instead; the history records it. --layer counts prepares the
    counts."""
    src = tmp_path / "sc.h5ad"
    _scanpy_log1p_h5ad(src, base=None)
    assert main(["data", "prepare", str(src), "--genes", "all", "--label-key", "grp",
                 "--out", str(tmp_path / "p.h5ad")]) == 0
    out = capsys.readouterr().out
    assert ("; left out the input's layers['counts'], raw, obsm['X_pca'], varm['PCs'], obsp['connectivities'] (its "
            "genes and values, not the prepared ones; sc.h5ad keeps them, --layer NAME prepares one instead of X)"
            ) in out
    p = ad.read_h5ad(tmp_path / "p.h5ad")
    assert list(p.layers) == [] and p.raw is None and list(p.obsm) == [] and list(p.varm) == []
    assert list(p.obsp) == []
    steps = [dict(h) for h in p.uns["rnagen"]["history"].values() if h["step"] == "leave_out"]
    assert len(steps) == 1 and list(steps[0]["matrices"]) == [
        "layers['counts']", "raw", "obsm['X_pca']", "varm['PCs']", "obsp['connectivities']"]
    assert main(["data", "prepare", str(src), "--genes", "all", "--label-key", "grp", "--layer", "counts",
                 "--out", str(tmp_path / "c.h5ad")]) == 0
    c = ad.read_h5ad(tmp_path / "c.h5ad")
    raw = ad.read_h5ad(src).layers["counts"].toarray()
    np.testing.assert_allclose(c.X, np.log2(raw + 1), rtol=1e-6)
    assert c.raw is None and list(c.layers) == []


def test_info_shows_the_synthetic_record_of_a_sampled_set(tmp_path, capsys):
    """``rnagen data info`` on a set ``rnagen sample`` wrote shows its record (uns['rnagen']['synthetic']): the model,
    the seed and the rnagen version in one line, the sampler's settings in the next."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.gamma(2.0, 50.0, (24, 12)), index=[f"S{i}" for i in range(24)],
                      columns=[f"G{j}" for j in range(12)])
    df.insert(0, "cls", ["a", "b"] * 12)
    df.to_csv(tmp_path / "x.csv")
    assert main(["train", str(tmp_path / "x.csv"), "--model", "gaussian", "--label-key", "cls", "--out",
                 str(tmp_path / "run"), "--quiet"]) == 0
    assert main(["sample", str(tmp_path / "run"), "--n", "10", "--seed", "7", "--out", str(tmp_path / "s.h5ad")]) == 0
    syn = dict(ad.read_h5ad(tmp_path / "s.h5ad").uns["rnagen"]["synthetic"])
    capsys.readouterr()
    assert main(["data", "info", str(tmp_path / "s.h5ad")]) == 0
    lines = capsys.readouterr().out.splitlines()
    from rnagen import __version__

    assert f"synthetic: generated by rnagen sample: gaussian model, seed 7, rnagen {__version__}" in lines
    assert f"sampling:  batch_size={syn['batch_size']}" in lines
    # generated values carry no sequencing depth of their own: the --normalize hint of measured ones is left out
    values = [x for x in lines if x.startswith("values:")]
    assert len(values) == 1 and values[0].startswith("values:    linear scale, not whole numbers (per-sample totals")
    assert values[0].endswith("), generated on the model's training data's scale")
    assert "normalize" not in capsys.readouterr().out + "\n".join(lines)
    # a prepared (real) set has no such lines, and its linear values get the hint
    assert main(["data", "info", str(tmp_path / "x.csv"), "--label-key", "cls"]) == 0
    out = capsys.readouterr().out
    assert "synthetic:" not in out
    assert "carry sequencing depth, which rnagen data prepare --normalize cpm|median-ratio removes" in out


# --- the train/test pair replaced together: a kill or a failure between its two renames -----------------------------
def _split_killed_between_renames(out, *args: str) -> int:
    """Run ``rnagen data split gtex26 ARGS --out OUT`` in a process that kills itself (SIGKILL: nothing of it runs
    after) right after the first of the pair's files is moved into place; returns its exit status."""
    import os
    import subprocess
    import sys

    code = ("import os, signal, sys\n"
            "real = os.replace\n"
            "def replace(src, dst, *a, **k):\n"
            "    real(src, dst, *a, **k)\n"
            "    if '.tmp' in os.fspath(src) and os.fspath(dst).endswith('.h5ad'):\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "os.replace = replace\n"
            "from rnagen.cli.main import main\n"
            f"sys.argv = ['rnagen', 'data', 'split', 'gtex26', *{list(args)!r}, '--out', {str(out)!r}]\n"
            "sys.exit(main(sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=600).returncode


def test_a_split_killed_between_its_two_renames_leaves_the_old_pair_for_the_next_command(tmp_path, capsys):
    """A split killed (SIGKILL) after moving one of train.h5ad/test.h5ad into place, before the other: the next
    rnagen command reading the folder finds the old pair whole (the file moved in is put back), not a train.h5ad of
    one split beside the test.h5ad of another; the next split writes its own pair whole."""
    import signal

    out = tmp_path / "split"
    assert main(["data", "split", "gtex26", "--seed", "1", "--out", str(out)]) == 0
    old = {n: (out / n).read_bytes() for n in ("train.h5ad", "test.h5ad")}
    old_train = set(ad.read_h5ad(out / "train.h5ad").obs_names)
    assert _split_killed_between_renames(out, "--seed", "2") == -signal.SIGKILL
    capsys.readouterr()
    assert main(["data", "info", str(out / "test.h5ad")]) == 0
    assert {n: (out / n).read_bytes() for n in old} == old
    # the record of the replacement and the old file kept aside are gone; what the killed process held (its lock
    # file, the temporary of the file it had not moved) is the next writer's to remove
    left = sorted(p.name for p in out.iterdir() if p.name not in old)
    assert [n for n in left if n.endswith((".old", ".json"))] == [], left
    train, test = read(out / "train.h5ad"), read(out / "test.h5ad")
    assert set(train.obs_names) == old_train and not set(train.obs_names) & set(test.obs_names)
    assert train.n_obs + test.n_obs == 520
    # a split into the folder after the kill: its own pair, as a split never interrupted writes it
    assert _split_killed_between_renames(out, "--seed", "2") == -signal.SIGKILL
    assert main(["data", "split", "gtex26", "--seed", "2", "--out", str(out)]) == 0
    assert main(["data", "split", "gtex26", "--seed", "2", "--out", str(tmp_path / "whole")]) == 0
    for n in old:
        assert set(read(out / n).obs_names) == set(read(tmp_path / "whole" / n).obs_names)
    assert set(read(out / "train.h5ad").obs_names) != old_train
    assert sorted(p.name for p in out.iterdir()) == ["test.h5ad", "train.h5ad"]


def test_a_pair_a_killed_split_left_that_cannot_be_put_back_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    """Where the old file cannot be put back (a folder this account may not write), reading the pair is refused in
    one line naming the pair, the process and the fix (the rename that puts the old file back), exit status 2."""
    import os
    import signal

    out = tmp_path / "split"
    assert main(["data", "split", "gtex26", "--seed", "1", "--out", str(out)]) == 0
    assert _split_killed_between_renames(out, "--seed", "2") == -signal.SIGKILL
    mixed = {n: (out / n).read_bytes() for n in ("train.h5ad", "test.h5ad")}
    capsys.readouterr()

    def refused(src, dst, *a, **k):
        raise PermissionError(13, "Permission denied", os.fspath(dst))

    monkeypatch.setattr(os, "replace", refused)
    assert main(["data", "info", str(out / "train.h5ad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "train.h5ad and test.h5ad in" in err[0] and "may be of two different runs" in err[0]
    assert "rnagen data split gtex26 --seed 2" in err[0] and "permission denied" in err[0]
    assert ".old to " in err[0] and "or run that command again" in err[0]
    assert {n: (out / n).read_bytes() for n in mixed} == mixed   # nothing changed


def test_a_split_whose_second_rename_fails_leaves_the_old_pair(tmp_path, capsys, monkeypatch):
    """The second of the pair's renames refused (a full disk, a permission): the first file gets its old one back,
    the error names the file, exit status 2, and nothing but the old pair is left in the folder."""
    import os

    out = tmp_path / "split"
    assert main(["data", "split", "gtex26", "--seed", "1", "--out", str(out)]) == 0
    old = {n: (out / n).read_bytes() for n in ("train.h5ad", "test.h5ad")}
    real, moved = os.replace, []

    def second_fails(src, dst, *a, **k):
        if ".tmp" in os.fspath(src) and os.fspath(dst).endswith(".h5ad"):
            if moved:
                raise OSError(28, "No space left on device", os.fspath(dst))
            moved.append(dst)
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", second_fails)
    capsys.readouterr()
    assert main(["data", "split", "gtex26", "--seed", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left on the device" in err[0] and ".h5ad" in err[0]
    assert len(moved) == 1
    assert {n: (out / n).read_bytes() for n in old} == old
    assert sorted(p.name for p in out.iterdir()) == ["test.h5ad", "train.h5ad"]
