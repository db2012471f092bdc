"""`rnagen reconstruct fit|apply|score` end to end on the bundled GTEx subset, and its one-line errors."""
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen import datasets
from rnagen.cli.main import main
from rnagen.pp import split


@pytest.fixture(scope="module")
def gtex_split(tmp_path_factory):
    d = tmp_path_factory.mktemp("gtex")
    train, test = split(datasets.gtex26(), label_key="tissue", test_size=0.2, seed=42)
    train.write_h5ad(d / "train.h5ad")
    test.write_h5ad(d / "test.h5ad")
    # gtex26 holds only 20 landmarks: take the 100 most variable training genes as the input set
    top = np.argsort(-np.asarray(train.X).var(0), kind="stable")[:100]
    # symbols where known (matched to the data's Entrez IDs through the gene tables), else Entrez IDs
    genes = [train.var["symbol"].iloc[i] or train.var_names[i] for i in sorted(top)]
    (d / "genes.txt").write_text("\n".join(genes) + "\n")
    return d, train, test, [train.var_names[i] for i in sorted(top)]


def test_fit_apply_score_on_gtex(gtex_split, capsys):
    d, train, test, entrez = gtex_split
    assert main(["reconstruct", "fit", str(d / "train.h5ad"), "--inputs", str(d / "genes.txt"), "--method", "linear",
                 "--label-key", "tissue", "--quiet", "--out", str(d / "rec")]) == 0
    out = capsys.readouterr().out
    assert "fitted linear reconstruction: 100 input genes -> 367 target genes on 416 samples" in out
    # a second fit into the same folder is refused before any work, the first one kept
    before = (d / "rec" / "meta.json").read_bytes()
    assert main(["reconstruct", "fit", str(d / "test.h5ad"), "--inputs", str(d / "genes.txt"), "--quiet", "--out",
                 str(d / "rec")]) == 2
    assert "already holds a fitted reconstructor" in capsys.readouterr().err
    assert (d / "rec" / "meta.json").read_bytes() == before
    # "synthetic" landmark data: the test set's input genes only
    syn = test[:, entrez[::-1]].copy()
    syn.write_h5ad(d / "syn.h5ad")
    assert main(["reconstruct", "apply", str(d / "rec"), str(d / "syn.h5ad"), "--out", str(d / "full.h5ad")]) == 0
    full = ad.read_h5ad(d / "full.h5ad")
    assert list(full.var_names) == list(train.var_names) and full.n_obs == test.n_obs
    assert list(full.obs["tissue"]) == list(test.obs["tissue"])
    np.testing.assert_array_equal(full[:, entrez[::-1]].X, syn.X)
    assert "367 predicted = 467 genes" in capsys.readouterr().out
    # as a table by its ending, read back to the same profiles
    from rnagen.data import read

    assert main(["reconstruct", "apply", str(d / "rec"), str(d / "syn.h5ad"), "--out", str(d / "full.csv")]) == 0
    back = read(d / "full.csv", label_key="tissue")
    assert list(back.var_names) == list(full.var_names) and list(back.obs["tissue"]) == list(test.obs["tissue"])
    np.testing.assert_array_equal(back.X, full.X)
    capsys.readouterr()
    # score on the held-out real data
    assert main(["reconstruct", "score", str(d / "rec"), str(d / "test.h5ad"), "--out", str(d / "s.csv")]) == 2
    assert "written as JSON; name the file s.json" in capsys.readouterr().err and not (d / "s.csv").exists()
    assert main(["reconstruct", "score", str(d / "rec"), str(d / "test.h5ad"), "--out", str(d / "s.json")]) == 0
    text = capsys.readouterr().out
    assert "R²" in text and "Pearson r" in text and "MSE" in text
    res = json.loads((d / "s.json").read_text())
    assert res["n_targets_scored"] == 367 and len(res["per_gene"]["r2"]) == 367
    # a sane reconstruction: most genes well predicted (figures for this data: BENCHMARKS.md, "Reconstruction")
    assert 0.6 < res["r2"]["median"] < 0.95 and res["pearson"]["median"] > 0.8
    assert res["scale"].startswith("as given (already log scale: log2(RPKM+1)")
    # the reconstructed full profiles score like the real ones on the predicted genes
    real = test[:, full.var_names].X
    tg = full.var["reconstructed"].to_numpy()
    err = np.mean((full.X[:, tg] - real[:, tg]) ** 2)
    assert err == pytest.approx(res["mse"], rel=1e-4)
    assert "held_out_in_train" not in res and "note:" not in text
    # scored on its training profiles: refused; a few of them among held-out ones: named in a note (sample ids
    # are not compared, the input values are)
    assert main(["reconstruct", "score", str(d / "rec"), str(d / "train.h5ad")]) == 2
    err_text = capsys.readouterr().err
    assert err_text.count("\n") == 1 and "416 of the 416 test profiles are training profiles of the reconstructor" \
        in err_text
    mixed = ad.concat([test, train[:3]])
    mixed.obs_names = [f"x{i}" for i in range(mixed.n_obs)]
    mixed.write_h5ad(d / "mixed.h5ad")
    assert main(["reconstruct", "score", str(d / "rec"), str(d / "mixed.h5ad")]) == 0
    assert f"note: 3 of the {test.n_obs + 3} test profiles equal training profiles on every input gene (e.g. " \
           f"'x{test.n_obs}')" in capsys.readouterr().out
    # ... also once written with 3 decimals under other names (a CSV export; 0.874 median R² was scored as held-out)
    rounded = train.copy()
    rounded.X = np.round(np.asarray(train.X), 3)
    rounded.obs_names = [f"r{i}" for i in range(rounded.n_obs)]
    rounded.write_h5ad(d / "rounded.h5ad")
    assert main(["reconstruct", "score", str(d / "rec"), str(d / "rounded.h5ad")]) == 2
    assert "416 of the 416 test profiles are training profiles of the reconstructor, every input value the same up " \
           "to rounding" in capsys.readouterr().err


def test_score_names_the_targets_the_test_set_lacks(gtex_split, tmp_path, capsys):
    """A test set without some target genes (a symbol a spreadsheet turned into a date that two genes share, a gene
    filtered out) is scored on the others; the line and the JSON name the ones left out, not only their number."""
    import rnagen.reconstruct as rc

    d, train, test, entrez = gtex_split
    rc.fit(train, inputs=entrez).save(tmp_path / "rec")
    targets = [g for g in train.var_names if g not in set(entrez)]
    test[:, [g for g in test.var_names if g not in targets[:2]]].copy().write_h5ad(tmp_path / "part.h5ad")
    assert main(["reconstruct", "score", str(tmp_path / "rec"), str(tmp_path / "part.h5ad"), "--out",
                 str(tmp_path / "s.json")]) == 0
    assert f"365 target genes (2 targets absent: {targets[0]}, {targets[1]})" in capsys.readouterr().out
    assert json.loads((tmp_path / "s.json").read_text())["targets_missing"] == targets[:2]


def test_inputs_on_another_scale_than_the_fit_are_refused(gtex_split, tmp_path, capsys):
    """Input genes on another scale than the reconstructor's fit (log-scale values to one fitted on values before
    the log, which takes the log itself, or the other way round) are refused in one line: every prediction would
    be off. A fixed log step (log=none) is the user's to match."""
    d, train, test, entrez = gtex_split
    raw_train = train.copy()
    raw_train.X = np.exp2(np.asarray(train.X)) - 1
    raw_train.uns = {}
    raw_train.write_h5ad(tmp_path / "raw_train.h5ad")
    syn = test[:, entrez].copy()
    syn.write_h5ad(tmp_path / "log_syn.h5ad")
    raw_syn = syn.copy()
    raw_syn.X = np.exp2(np.asarray(syn.X)) - 1
    raw_syn.uns = {}
    raw_syn.write_h5ad(tmp_path / "raw_syn.h5ad")
    fit = ["reconstruct", "fit", "--inputs", str(d / "genes.txt"), "--quiet"]
    assert main([*fit, str(tmp_path / "raw_train.h5ad"), "--out", str(tmp_path / "rec_raw")]) == 0
    assert main([*fit, str(d / "train.h5ad"), "--out", str(tmp_path / "rec_log")]) == 0
    capsys.readouterr()
    for rec, data, match in (("rec_raw", "log_syn", "look log-scale (values up to"),
                             ("rec_log", "raw_syn", "look like values before the log (up to")):
        assert main(["reconstruct", "apply", str(tmp_path / rec), str(tmp_path / f"{data}.h5ad"), "--out",
                     str(tmp_path / "full.h5ad")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and match in err and not (tmp_path / "full.h5ad").exists()
    for rec, data in (("rec_raw", "raw_syn"), ("rec_log", "log_syn")):   # matching scales apply
        assert main(["reconstruct", "apply", str(tmp_path / rec), str(tmp_path / f"{data}.h5ad"), "--out",
                     str(tmp_path / f"{rec}.h5ad")]) == 0


def test_apply_writes_gct_read_back_to_the_same_profiles(gtex_split, tmp_path, capsys):
    """reconstruct apply --out full.gct (or .gct.gz): GCT 1.3, a line per gene with its annotations as row
    metadata (its symbol, input genes and predicted ones, empty where none is known; whether it was reconstructed),
    the profiles' annotations as column metadata; read back to the .h5ad's values, genes, profiles, labels and
    gene annotations (the reconstructed marks booleans)."""
    import gzip

    from rnagen.data import read

    d, train, test, entrez = gtex_split
    assert main(["reconstruct", "fit", str(d / "train.h5ad"), "--inputs", str(d / "genes.txt"), "--method", "linear",
                 "--quiet", "--out", str(tmp_path / "rec")]) == 0
    syn = test[:, entrez].copy()
    syn.obs_names = [f"syn_{i:06d}" for i in range(syn.n_obs)]
    syn.write_h5ad(tmp_path / "syn.h5ad")
    apply = ["reconstruct", "apply", str(tmp_path / "rec"), str(tmp_path / "syn.h5ad"), "--out"]
    assert main([*apply, str(tmp_path / "full.h5ad")]) == 0
    full = ad.read_h5ad(tmp_path / "full.h5ad")
    for name in ("full.gct", "full.gct.gz", "full.gct"):   # the third over the first: its own output replaced
        assert main([*apply, str(tmp_path / name)]) == 0
        opener = gzip.open if name.endswith(".gz") else open
        with opener(tmp_path / name, "rt") as fh:
            head = [fh.readline().rstrip("\n") for _ in range(3 + full.obs.shape[1] + 1)]
        assert head[:2] == ["#1.3", f"{full.n_vars}\t{full.n_obs}\t2\t{full.obs.shape[1]}"]
        assert head[2].split("\t")[:4] == ["id", "symbol", "reconstructed", "syn_000000"]
        assert head[3 + list(full.obs.columns).index("tissue")].split("\t")[:4] == [
            "tissue", "na", "na", str(full.obs["tissue"].iloc[0])]
        assert head[-1].split("\t")[:3] == [full.var_names[0], full.var["symbol"].iloc[0],
                                            str(full.var["reconstructed"].iloc[0])]
        back = read(tmp_path / name, label_key="tissue")
        assert list(back.var_names) == list(full.var_names) and list(back.obs_names) == list(full.obs_names)
        np.testing.assert_array_equal(back.X, full.X)
        assert list(back.obs["tissue"]) == list(full.obs["tissue"].astype(str))
        # the gene annotations read back as written (a gene without a known symbol: "")
        assert back.var["symbol"].tolist() == full.var["symbol"].tolist() and "" in back.var["symbol"].tolist()
        pd.testing.assert_frame_equal(back.var, full.var.assign(symbol=full.var["symbol"].astype(str)))
        assert back.var["reconstructed"].dtype == bool and back.var["reconstructed"].sum() == 367
    assert "-> " + str(tmp_path / "full.gct") in capsys.readouterr().out


def test_cli_errors_are_one_line(gtex_split, tmp_path, capsys):
    d, train, test, entrez = gtex_split
    bad = tmp_path / "genes.txt"
    bad.write_text(f"{train.var['symbol'].iloc[0]}\nNOT_A_GENE\nALSO_MISSING\n")
    assert main(["reconstruct", "fit", str(d / "train.h5ad"), "--inputs", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "2 of the 3 input genes are missing from the training data: NOT_A_GENE, ALSO_MISSING" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()
    # apply on data lacking input genes
    assert main(["reconstruct", "fit", "gtex26", "--inputs", str(d / "genes.txt"), "--quiet",
                 "--out", str(tmp_path / "r")]) == 0
    test[:, :50].copy().write_h5ad(tmp_path / "few.h5ad")
    capsys.readouterr()
    assert main(["reconstruct", "apply", str(tmp_path / "r"), str(tmp_path / "few.h5ad"),
                 "--out", str(tmp_path / "o.h5ad")]) == 2
    err = capsys.readouterr().err
    assert "input genes of the reconstructor are missing from the data to reconstruct" in err
    assert not (tmp_path / "o.h5ad").exists()
    # --out over a copy of the real held-out data (rnagen's record in it, but no synthetic set): not replaced
    import shutil

    shutil.copy(d / "test.h5ad", tmp_path / "real_copy.h5ad")
    kept = (tmp_path / "real_copy.h5ad").read_bytes()
    assert main(["reconstruct", "apply", str(tmp_path / "r"), str(d / "test.h5ad"), "--out",
                 str(tmp_path / "real_copy.h5ad")]) == 2
    assert "holds profiles rnagen did not generate" in capsys.readouterr().err
    assert (tmp_path / "real_copy.h5ad").read_bytes() == kept
    for _ in range(2):   # its own output is written over
        assert main(["reconstruct", "apply", str(tmp_path / "r"), str(d / "test.h5ad"), "--out",
                     str(tmp_path / "full.h5ad")]) == 0
    assert main(["reconstruct", "score", str(tmp_path / "nope"), str(d / "test.h5ad")]) == 2
    assert "not a reconstructor folder" in capsys.readouterr().err
    assert main(["reconstruct", "fit", "gtex26", "--set", "linear.alpha=1", "--out", str(tmp_path / "x")]) == 2
    assert "unknown config key 'linear.alpha'" in capsys.readouterr().err


def test_set_reaches_the_keys_a_flag_also_sets_and_both_are_refused(gtex_split, tmp_path, capsys):
    """method, seed and val_size are config keys too: --set sets them where the flag is left out (the flags' own
    defaults no longer replace them unseen), and a flag and --set of one key are one line, nothing written."""
    d = gtex_split[0]
    fit = ["reconstruct", "fit", str(d / "train.h5ad"), "--inputs", str(d / "genes.txt"), "--quiet"]
    assert main([*fit, "--set", "val_size=0.3", "--set", "seed=5", "--out", str(tmp_path / "r")]) == 0
    meta = json.loads((tmp_path / "r" / "meta.json").read_text())
    assert meta["n_val"] == pytest.approx(0.3 * 416, abs=3)
    assert "val_size = 0.3" in (tmp_path / "r" / "config.toml").read_text()
    capsys.readouterr()
    for flags in (["--method", "mlp", "--set", "method=linear"], ["--seed", "1", "--set", "seed=1"]):
        assert main([*fit, *flags, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "give it once" in err
        assert not (tmp_path / "x").exists()


def test_recorded_linear_values_below_the_log_range_are_not_refused(gtex_split, tmp_path, capsys):
    """Values recorded as linear (rnagen data prepare, a synthetic set) but all below ~25, where the value range
    reads as log scale: the fit took the log (from the record) and apply then refused the same kind of data as
    'log-scale' (the range guess), with advice to give values before the log, which they were."""
    from rnagen.pp.history import set_log_state

    d, train, test, entrez = gtex_split
    paths = {}
    for name, part in (("train", train), ("test", test)):
        a = part.copy()
        a.X = (np.exp2(np.asarray(part.X)) - 1) / 1e4   # linear, every value below 25
        assert float(a.X.max()) < 25
        a.uns = {}
        set_log_state(a, logged=False, transform="TPM / 10^4")
        paths[name] = tmp_path / f"small_{name}.h5ad"
        a.write_h5ad(paths[name])
    assert main(["reconstruct", "fit", str(paths["train"]), "--inputs", str(d / "genes.txt"), "--out",
                 str(tmp_path / "rec"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["reconstruct", "apply", str(tmp_path / "rec"), str(paths["test"]), "--out",
                 str(tmp_path / "full.h5ad")]) == 0, capsys.readouterr().err


def test_a_reconstructed_parquet_file_of_real_profiles_is_replaced_on_a_re_run(gtex_split, tmp_path):
    """reconstruct apply of real profiles (their ids not named as synthetic ones) into a parquet file, twice: the
    file's record (a reconstruction step) tells rnagen's own output from a user's table of that layout, which is
    refused; a text table has no record and is refused."""
    import pandas as pd

    d, train, test, entrez = gtex_split
    assert main(["reconstruct", "fit", str(d / "train.h5ad"), "--inputs", str(d / "genes.txt"), "--method", "linear",
                 "--quiet", "--out", str(tmp_path / "rec")]) == 0
    test[:, entrez].copy().write_h5ad(tmp_path / "part.h5ad")
    apply = ["reconstruct", "apply", str(tmp_path / "rec"), str(tmp_path / "part.h5ad"), "--out"]
    out = tmp_path / "full.parquet"
    assert main([*apply, str(out)]) == 0
    first = pd.read_parquet(out)
    assert not str(first.iloc[0, 0]).startswith("syn_")
    assert main([*apply, str(out)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), first)
    # a user's table of the same layout, without the record: not replaced
    first.to_parquet(tmp_path / "theirs.parquet", index=False)
    kept = (tmp_path / "theirs.parquet").read_bytes()
    assert main([*apply, str(tmp_path / "theirs.parquet")]) == 2
    assert (tmp_path / "theirs.parquet").read_bytes() == kept
    # nor one whose metadata names a reconstruction in a record not of the form rnagen writes (a step that is no
    # mapping naming its step)
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(first, preserve_index=False)
    bogus = json.dumps({"history": {"00_reconstruct": "a note"}}).encode()
    pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), b"rnagen": bogus}),
                   tmp_path / "forged.parquet")
    kept = (tmp_path / "forged.parquet").read_bytes()
    assert main([*apply, str(tmp_path / "forged.parquet")]) == 2
    assert (tmp_path / "forged.parquet").read_bytes() == kept


def test_reconstructed_profiles_are_refused_as_test_data(gtex_split, tmp_path, capsys):
    """`reconstruct score` on reconstruct apply's own output (an .h5ad or parquet recording the step, a GCT marking
    the genes, a CSV written to 3 decimals that records nothing): their target genes are predictions, and the score
    of the reconstructor against itself (R² 1) is refused in one line; the real held-out profiles score."""
    d, train, test, entrez = gtex_split
    rec = tmp_path / "rec"
    assert main(["reconstruct", "fit", str(d / "train.h5ad"), "--inputs", str(d / "genes.txt"), "--quiet",
                 "--out", str(rec)]) == 0
    test[:, entrez].copy().write_h5ad(tmp_path / "syn.h5ad")
    for ending in ("h5ad", "parquet", "gct"):
        assert main(["reconstruct", "apply", str(rec), str(tmp_path / "syn.h5ad"), "--out",
                     str(tmp_path / f"full.{ending}")]) == 0
    full = ad.read_h5ad(tmp_path / "full.h5ad")
    table = pd.DataFrame(np.round(np.asarray(full.X, np.float64), 3), index=full.obs_names, columns=full.var_names)
    table.index.name = "sample"
    table.to_csv(tmp_path / "full3.csv")
    capsys.readouterr()
    for name, why in (("full.h5ad", "its record names a linear step"), ("full.parquet", "its record names a linear"),
                      ("full.gct", "its genes are marked reconstructed"), ("full3.csv", "own predictions")):
        assert main(["reconstruct", "score", str(rec), str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and why in err and "score on held-out real full profiles" in err, (name, err)
    assert main(["reconstruct", "score", str(rec), str(d / "test.h5ad")]) == 0
    r2 = float(capsys.readouterr().out.split("\nR²")[1].split()[0])
    assert 0.3 < r2 < 0.99


@pytest.mark.parametrize("ending", [".gct", ".gct.gz"])
def test_a_reconstructed_gct_file_of_real_profiles_is_replaced_on_a_re_run(gtex_split, tmp_path, ending):
    """reconstruct apply of profiles not named as synthetic ones into a GCT file, twice: the file's row metadata
    (each gene marked reconstructed True or False) tells rnagen's own output from a user's GCT file, so the re-run
    replaces it; a user's GCT file with other row metadata, or a 'reconstructed' column of other values, is not
    replaced."""
    d, train, test, entrez = gtex_split
    assert main(["reconstruct", "fit", str(d / "train.h5ad"), "--inputs", str(d / "genes.txt"), "--quiet",
                 "--out", str(tmp_path / "rec")]) == 0
    test[:, entrez].copy().write_h5ad(tmp_path / "part.h5ad")
    apply = ["reconstruct", "apply", str(tmp_path / "rec"), str(tmp_path / "part.h5ad"), "--out"]
    out = tmp_path / f"full{ending}"
    assert main([*apply, str(out)]) == 0
    first = ad.read_h5ad(tmp_path / "part.h5ad").obs_names[0]
    assert not first.startswith("syn_")
    from rnagen.data import read

    before = read(out)
    assert main([*apply, str(out)]) == 0
    after = read(out)
    np.testing.assert_array_equal(np.asarray(after.X), np.asarray(before.X))
    assert after.var["reconstructed"].sum() == len(train.var_names) - len(entrez)
    for name, meta in (("theirs.gct", "desc\tx"), ("marks.gct", "reconstructed\tyes")):
        (tmp_path / name).write_text(f"#1.3\n1\t1\t1\t0\nid\t{meta.split(chr(9))[0]}\tS1\nG1\t"
                                     f"{meta.split(chr(9))[1]}\t2.5\n")
        kept = (tmp_path / name).read_bytes()
        assert main([*apply, str(tmp_path / name)]) == 2
        assert (tmp_path / name).read_bytes() == kept


def test_genes_given_beside_the_inputs_are_said_to_be_replaced_or_left_out(gtex_split, tmp_path, capsys):
    """reconstruct apply on profiles holding more than the input genes (full real profiles, a generator's extra
    genes): the genes the reconstructor predicts hold its predictions in the output, and the genes it was not
    fitted on are left out; each is said in a note naming them, and recorded in the reconstruct step. Profiles of
    the input genes alone give no note."""
    from rnagen.pp import get_history

    d, train, test, entrez = gtex_split
    rec = tmp_path / "rec"
    assert main(["reconstruct", "fit", str(d / "train.h5ad"), "--inputs", str(d / "genes.txt"), "--quiet",
                 "--out", str(rec)]) == 0
    targets = [g for g in train.var_names if g not in set(entrez)]
    extra = test[:, entrez + targets[:3]].copy()
    X = np.hstack([np.asarray(extra.X), np.full((extra.n_obs, 1), 2.5, np.float32)])
    extra = ad.AnnData(X, obs=extra.obs, var=pd.DataFrame(index=list(extra.var_names) + ["7157"]), uns=extra.uns)
    extra.write_h5ad(tmp_path / "extra.h5ad")
    capsys.readouterr()
    apply = ["reconstruct", "apply", str(rec)]
    assert main([*apply, str(tmp_path / "extra.h5ad"), "--out", str(tmp_path / "a.h5ad")]) == 0
    out = capsys.readouterr().out
    assert (f"note: 3 genes of {tmp_path / 'extra.h5ad'} that the reconstructor predicts ({', '.join(targets[:3])}) "
            f"hold its predictions in {tmp_path / 'a.h5ad'}, not the values given") in out
    assert f"note: 1 genes of {tmp_path / 'extra.h5ad'} that the reconstructor was not fitted on (7157) are left out" \
        in out
    full = ad.read_h5ad(tmp_path / "a.h5ad")
    step = get_history(full)[-1]
    assert step["replaced_targets"] == 3 and list(step["left_out_examples"]) == ["7157"]
    assert "7157" not in full.var_names
    assert not np.allclose(np.asarray(full[:, targets[:3]].X), np.asarray(test[:, targets[:3]].X))
    test[:, entrez].copy().write_h5ad(tmp_path / "inputs.h5ad")
    assert main([*apply, str(tmp_path / "inputs.h5ad"), "--out", str(tmp_path / "b.h5ad")]) == 0
    assert "note:" not in capsys.readouterr().out
    assert "replaced_targets" not in get_history(ad.read_h5ad(tmp_path / "b.h5ad"))[-1]


def test_cmap_gct_profiles_named_by_affymetrix_probes_are_matched_through_their_gene_column(tmp_path, capsys):
    """A GCT file as CMap writes L1000 profiles: each landmark a row named by its Affymetrix probe (200814_at) with
    its gene in the row metadata (pr_gene_id, a symbol). reconstruct apply and score match the input genes
    through that column, and give what the same profiles named by Entrez IDs give; probe ids without a gene column
    are refused naming the missing inputs."""
    from rnagen.data import read

    gtex = datasets.gtex26()
    train, test = split(gtex, label_key="tissue", test_size=0.2, seed=0)
    train.write_h5ad(tmp_path / "train.h5ad")
    assert main(["reconstruct", "fit", str(tmp_path / "train.h5ad"), "--quiet", "--out", str(tmp_path / "rec")]) == 0
    lm = datasets.landmarks().astype({"entrez_id": str}).set_index("entrez_id")
    inputs = [g for g in gtex.var_names if g in lm.index]
    assert len(inputs) == 20
    X = np.asarray(test[:, inputs].X, np.float64)

    def gct(path, meta):
        head = "\t".join(["id", *meta]) + "\t" + "\t".join(test.obs_names)
        lines = [f"{lm.loc[g, 'affx_probe_id']}\t" + "".join(f"{lm.loc[g, c] if c in lm else g}\t" for c in meta)
                 + "\t".join(f"{x:.6f}" for x in X[:, j]) for j, g in enumerate(inputs)]
        path.write_text(f"#1.3\n{len(inputs)}\t{test.n_obs}\t{len(meta)}\t0\n{head}\n" + "\n".join(lines) + "\n")

    gct(tmp_path / "cmap.gct", ["pr_gene_id", "symbol"])
    ref = test[:, inputs].copy()
    ref.X = np.round(X, 6)
    ref.write_h5ad(tmp_path / "entrez.h5ad")
    apply = ["reconstruct", "apply", str(tmp_path / "rec")]
    assert main([*apply, str(tmp_path / "cmap.gct"), "--out", str(tmp_path / "a.h5ad")]) == 0
    assert main([*apply, str(tmp_path / "entrez.h5ad"), "--out", str(tmp_path / "b.h5ad")]) == 0
    a, b = read(tmp_path / "a.h5ad"), read(tmp_path / "b.h5ad")
    assert list(a.var_names) == list(gtex.var_names)
    np.testing.assert_allclose(np.asarray(a.X), np.asarray(b.X), rtol=1e-5, atol=1e-5)
    gct(tmp_path / "probes.gct", ["pool"])
    capsys.readouterr()
    assert main([*apply, str(tmp_path / "probes.gct"), "--out", str(tmp_path / "c.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "20 of the 20 input genes of the reconstructor are missing" in err
