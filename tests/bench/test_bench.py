"""run_benchmark end to end on a labelled CSV that is not bundled, resume, budgets and the CLI."""
import json
import math

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen.bench import LEADERBOARD_COLUMNS, budget_overrides, parse_models, run_benchmark
from rnagen.bench.budgets import BUDGET_TABLE, BUDGETS, ROWS
from rnagen.bench.runner import GAP_COLUMNS, _table_to_metrics
from rnagen.cli.main import main
from rnagen.errors import ConfigError, DataError, DivergedError

UNIT = ["tstr_mlp_accuracy", "trtr_accuracy", "precision", "recall", "coverage", "aa_ts", "dcr_share"]


def test_leaderboard_files_columns_and_ranges(tiny_bench):
    out, board, _ = tiny_bench
    csv = pd.read_csv(out / "leaderboard.csv")
    meta = json.loads((out / "leaderboard.json").read_text())
    for col in LEADERBOARD_COLUMNS:
        assert col in csv.columns, col
        assert col in meta["columns"]
        if col not in ("model", "train_seconds", "sample_seconds", "trtr_accuracy"):
            assert f"{col}_ci_low" in csv.columns and f"{col}_ci_high" in csv.columns
    assert csv["model"].tolist() == ["real", "gaussian", "ddpm", "ddim"]
    assert [r["model"] for r in meta["rows"]] == csv["model"].tolist()
    assert len(board) == 4
    for col in UNIT:
        v = csv[col].to_numpy(dtype=float)
        assert np.isfinite(v).all() and (v >= 0).all() and (v <= 1).all(), (col, v)
    assert (csv["frechet_pca"] >= 0).all() and (csv["density"] >= 0).all()
    assert csv["detection_auc"].isna().all()  # not asked for: an empty column, not a made-up value
    assert (csv["train_seconds"] >= 0).all() and (csv["sample_seconds"] >= 0).all()
    # CIs bracket the value (percentile bootstrap of the same statistic); the real row shows the ceiling of the
    # indicators judged against it (its reference, without a CI)
    models = csv[csv["model"] != "real"]
    for col in ("precision", "coverage", "aa_ts", "tstr_mlp_accuracy"):
        assert (models[f"{col}_ci_low"] <= models[col] + 1e-9).all()
        assert (models[col] <= models[f"{col}_ci_high"] + 1e-9).all()
    real = csv.set_index("model").loc["real"]
    for col in ("precision", "coverage", "aa_ts"):
        assert np.isnan(real[f"{col}_ci_low"]) and np.isnan(real[f"{col}_ci_high"])
    assert real["tstr_mlp_accuracy_ci_low"] <= real["tstr_mlp_accuracy"] <= real["tstr_mlp_accuracy_ci_high"]
    # the real row trains the TSTR classifier on the real training set: that IS the TRTR reference
    assert real["tstr_mlp_accuracy"] == pytest.approx(real["trtr_accuracy"])
    assert real["train_seconds"] == 0 and real["sample_seconds"] == 0
    # three well-separated classes: the per-class Gaussian is nearly as useful as real data
    assert csv.set_index("model").loc["gaussian", "tstr_mlp_accuracy"] >= 0.8
    # directions travel with the leaderboard (a target value for AA_ts)
    assert meta["directions"]["aa_ts"] == 0.5 and meta["directions"]["tstr_mlp_accuracy"] == "higher"
    assert meta["settings"]["label_key"] == "kind" and meta["settings"]["n_test"] + meta["settings"]["n_train"] == 42


def test_gap_closed_columns_against_floor_and_ceiling(tiny_bench):
    """Each row's share of the gap closed, recomputed from its result file and the Gaussian's of the same seed."""
    from rnagen.metrics.gap import gap_closed_from

    out, _, _ = tiny_bench
    csv = pd.read_csv(out / "leaderboard.csv").set_index("model")
    meta = json.loads((out / "leaderboard.json").read_text())
    for col in GAP_COLUMNS:
        assert col in csv.columns and col in meta["columns"]
    assert meta["gap_closed"]["floor"] == "gaussian" and meta["directions"]["aa_ts_gap_closed"] == "higher"
    res = {r: json.loads((out / "results" / f"{r}_seed0.json").read_text())["metrics"]
           for r in ("real", "gaussian", "ddpm", "ddim")}
    checked = 0
    for row in ("ddpm", "ddim"):
        for name in ("aa_ts", "recall", "correlation_score", "density", "coverage", "precision"):
            mine, fl = res[row], res["gaussian"]
            assert name != "aa_ts" or {"aa_truth", "aa_syn"} <= set(mine) & set(fl)   # AA_ts read on its halves
            want = gap_closed_from(name, {k: v["value"] for k, v in mine.items()},
                                   {k: v["value"] for k, v in fl.items()},
                                   {k: v["reference"] for k, v in mine.items()})
            got = csv.loc[row, f"{name}_gap_closed"]
            if np.isnan(want):
                assert np.isnan(got), (row, name)
            else:
                assert got == pytest.approx(want, rel=1e-5), (row, name)   # the csv keeps 6 digits
                checked += 1
    assert checked >= 4
    # the floor closes none of its own gap, the real training profiles all of it (NaN where there is no gap)
    for name in ("aa_ts", "correlation_score", "frechet_pca"):
        assert csv.loc["gaussian", f"{name}_gap_closed"] == 0.0
        assert csv.loc["real", f"{name}_gap_closed"] == pytest.approx(1.0)
    # detection AUC was not computed: an empty column
    assert csv["detection_auc_gap_closed"].isna().all()


def test_held_out_profiles_in_a_file_of_their_own(tmp_path, labelled_csv, capsys):
    """``rnagen benchmark TRAIN --test TEST``: the published split of two files scores as the same profiles with a
    split column (--split-key), whatever the order of the test file's genes; files that cannot be one data set
    are refused with one line, exit 2, and nothing written."""
    from rnagen.cli.main import main

    df = pd.read_csv(labelled_csv, index_col=0)
    test_rows = [i % 5 == 0 for i in range(len(df))]
    train, test = df[[not t for t in test_rows]], df[test_rows]
    train.to_csv(tmp_path / "train.csv")
    test[list(reversed(test.columns))].to_csv(tmp_path / "test.csv")   # the genes in another order
    extra = test.assign(ENSG00000000999=np.arange(len(test)) + 5.0)   # a gene DATA lacks: left out, said
    extra.to_csv(tmp_path / "test_extra.csv")
    df.assign(part=["test" if t else "train" for t in test_rows]).to_csv(tmp_path / "own.csv")
    common = ["--label-key", "kind", "--models", "gaussian", "--budget", "fast", "--metrics", "precision,density",
              "--quiet"]
    assert main(["benchmark", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"), *common,
                 "--out", str(tmp_path / "b")]) == 0
    assert "one split, the data's own (--split-key or --test)" in capsys.readouterr().out
    assert main(["benchmark", str(tmp_path / "own.csv"), "--split-key", "part", *common,
                 "--out", str(tmp_path / "own")]) == 0
    split = json.loads((tmp_path / "b" / "split.json").read_text())
    assert split["test"] == list(test.index) and split["train"] == list(train.index)
    got, own = (pd.read_csv(tmp_path / d / "leaderboard.csv", index_col="model") for d in ("b", "own"))
    for col in ("precision", "density"):
        assert got.loc["gaussian", col] == pytest.approx(own.loc["gaussian", col], abs=1e-12)
    assert "held-out profiles of a file of their own (<code>--test</code>)" in \
        (tmp_path / "b" / "report.html").read_text()
    assert main(["benchmark", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test_extra.csv"), *common,
                 "--out", str(tmp_path / "ex")]) == 0
    assert "the --test file's 1 gene(s) not in DATA ('ENSG00000000999') left out" in capsys.readouterr().out
    ex = pd.read_csv(tmp_path / "ex" / "leaderboard.csv", index_col="model")
    assert ex.loc["gaussian", "density"] == pytest.approx(got.loc["gaussian", "density"], abs=1e-12)
    # a sparse .h5ad training file beside a CSV test file: the same figures
    import anndata as ad
    from scipy.sparse import csr_matrix

    genes = [c for c in train.columns if c != "kind"]
    ad.AnnData(X=csr_matrix(train[genes].to_numpy(np.float64)), obs=train[["kind"]],
               var=pd.DataFrame(index=genes)).write_h5ad(tmp_path / "sparse.h5ad")
    assert main(["benchmark", str(tmp_path / "sparse.h5ad"), "--test", str(tmp_path / "test.csv"), *common,
                 "--out", str(tmp_path / "sp")]) == 0
    sp = pd.read_csv(tmp_path / "sp" / "leaderboard.csv", index_col="model")
    for col in ("precision", "density"):
        assert sp.loc["gaussian", col] == pytest.approx(got.loc["gaussian", col], rel=1e-5)
    # two files written without their sample names, the label column first: each file's samples are sample_0,
    # sample_1, ..., the same names for other profiles; the test file's are renamed, said, and score the same
    for name, part in (("train_noid.csv", train), ("test_noid.csv", test)):
        part[["kind", *genes]].to_csv(tmp_path / name, index=False)
    capsys.readouterr()
    assert main(["benchmark", str(tmp_path / "train_noid.csv"), "--test", str(tmp_path / "test_noid.csv"),
                 *common, "--out", str(tmp_path / "noid")]) == 0
    assert f"note: {len(test)} sample name(s) of the --test file name other profiles in DATA (generic ids of files " \
           "written without their sample names?): the test file's renamed, 'sample_0' to 'sample_0_test'" \
        in capsys.readouterr().out
    split = json.loads((tmp_path / "noid" / "split.json").read_text())
    assert split["test"] == [f"sample_{i}_test" for i in range(len(test))]
    noid = pd.read_csv(tmp_path / "noid" / "leaderboard.csv", index_col="model")
    for col in ("precision", "density"):
        assert noid.loc["gaussian", col] == pytest.approx(got.loc["gaussian", col], rel=1e-5)
    # refused: a gene missing, a sample in both files, a class only in the test file, another split asked for,
    # values on a log scale in one file only, full profiles of the training file's samples alone
    test.drop(columns=[test.columns[3]]).to_csv(tmp_path / "fewer.csv")
    pd.concat([test, train.iloc[:1]]).to_csv(tmp_path / "shared.csv")
    test.assign(kind=["delta"] + list(test["kind"][1:])).to_csv(tmp_path / "new_class.csv")
    test.drop(columns=["kind"]).to_csv(tmp_path / "unlabelled.csv")
    assert main(["data", "prepare", str(tmp_path / "train.csv"), "--label-key", "kind", "--genes", "all",
                 "--out", str(tmp_path / "train.h5ad")]) == 0
    capsys.readouterr()
    cases = [(["train.csv", "--test", "fewer.csv"], "the --test file lacks 1 of DATA's 60 genes"),
             (["train.csv", "--test", "shared.csv"], "1 sample(s) in both DATA and the --test file under the same "
                                                      "name with the same values ('S001')"),
             (["train.csv", "--test", "new_class.csv"], "class(es) of 'kind' in the --test file only ('delta')"),
             (["train.csv", "--test", "test.csv", "--splits", "2"], "--test gives the held-out profiles, one split, "
                                                                    "and --splits asks for another split"),
             (["train.h5ad", "--test", "test.csv"], "DATA records log-scale values (log2(x+1)) and the other file"),
             (["train.csv", "--test", "test.csv", "--reconstruct", "linear", "--full", str(tmp_path / "train.csv")],
              "--full must hold every sample the benchmark scores (DATA's, and the --test file's)"),
             # the benchmark takes no --labels: the way to labels it names is the data layer's
             (["train.csv", "--test", "unlabelled.csv"], "label column 'kind' not found (sample columns: none); pass "
                                                         "--label-key with one of these, or add the labels from a file "
                                                         "of their own (rnagen data prepare --labels FILE)")]
    for i, (argv, message) in enumerate(cases):
        argv = [str(tmp_path / argv[0]), argv[1], str(tmp_path / argv[2]), *argv[3:]]
        assert main(["benchmark", *argv, *common, "--out", str(tmp_path / f"no{i}")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (message, err)
        assert not (tmp_path / f"no{i}").exists()


def test_the_data_own_split(tmp_path, labelled_csv, capsys):
    """``split_key``: the benchmark runs on the split the data's column names (recorded in split.json and
    bench.json, named in the report); with several splits, or --test-size on the command line, refused."""
    from rnagen.cli.main import main
    from rnagen.errors import ConfigError

    df = pd.read_csv(labelled_csv, index_col=0)
    df["part"] = ["test" if i % 5 == 0 else "train" for i in range(len(df))]
    df.to_csv(tmp_path / "own.csv")
    kw = dict(label_key="kind", models="gaussian", progress=False, device="cpu", split_key="part",
              evaluate_options={"n_boot": 0, "n_boot_expensive": 2, "classifier_seeds": (0,), "epochs": 2},
              metrics=["precision", "density", "correlation"])   # a family by its name
    board = run_benchmark(tmp_path / "own.csv", out_dir=tmp_path / "b", report=True, **kw)
    assert np.isfinite(board.set_index("model").loc["gaussian", "correlation_score"])
    split = json.loads((tmp_path / "b" / "split.json").read_text())
    assert split["test"] == [s for i, s in enumerate(df.index) if i % 5 == 0]
    settings = json.loads((tmp_path / "b" / "bench.json").read_text())
    assert settings["split_key"] == "part" and settings["test_size"] is None
    assert "data's own split (column <code>part</code>)" in (tmp_path / "b" / "report.html").read_text()
    with pytest.raises(ConfigError, match="--split-key takes the data's own split, one split: drop --splits"):
        run_benchmark(tmp_path / "own.csv", out_dir=tmp_path / "c", splits=2, report=False, **kw)
    assert main(["benchmark", str(tmp_path / "own.csv"), "--label-key", "kind", "--split-key", "part",
                 "--test-size", "0.3", "--out", str(tmp_path / "d")]) == 2
    assert "--test-size sets the random split and --split-key takes the data's own" in capsys.readouterr().err
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()
    # the same split under another --seed into the same folder: the reference row is scored again with that seed,
    # as a fresh benchmark scores it (its subsamples and audit sets follow the seed)
    again = run_benchmark(tmp_path / "own.csv", out_dir=tmp_path / "b", report=False, seed=5, **kw)
    fresh = run_benchmark(tmp_path / "own.csv", out_dir=tmp_path / "e", report=False, seed=5, **kw)
    assert json.loads((tmp_path / "b" / "results" / "real_seed0.json").read_text())["seed"] == 5
    cols = ["precision", "density"]
    assert again.set_index("model").loc["real", cols].tolist() == fresh.set_index("model").loc["real", cols].tolist()


def test_gaussian_floor_row_is_always_run(tmp_path, labelled_csv):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("tiny", Path(__file__).with_name("tiny_bench.py"))
    tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny)
    board = run_benchmark(labelled_csv, label_key="kind", models="ddim", out_dir=tmp_path / "b", progress=False,
                          report=False, overrides=tiny.TINY_OVERRIDES, steps_grid=(2,), device="cpu",
                          evaluate_options={"n_boot": 20, "n_boot_expensive": 2, "classifier_seeds": (0,),
                                            "epochs": 2}, metrics=["aa_ts", "recall"])
    assert board["model"].tolist() == ["real", "gaussian", "ddim"]
    assert board.set_index("model").loc["gaussian", "aa_ts_gap_closed"] == 0.0
    assert np.isfinite(board.set_index("model").loc["ddim", "aa_ts_gap_closed"])


def test_run_folders_synthetic_counts_and_plot_data(tiny_bench):
    out, _, _ = tiny_bench
    runs = sorted(p.name for p in (out / "runs").iterdir())
    # ddpm and ddim are two samplers of ONE trained diffusion model
    assert runs == ["diffusion_seed0", "gaussian_seed0"]
    split = json.loads((out / "split.json").read_text())
    assert len(split["train"]) == 33 and len(split["test"]) == 9 and not set(split["train"]) & set(split["test"])
    labels = {s: ("alpha", "beta", "gamma")[int(s[1:]) // 14] for s in split["train"]}
    want = pd.Series(labels).value_counts().sort_index()
    for row, run in (("gaussian", "gaussian_seed0"), ("ddpm", "diffusion_seed0"), ("ddim", "diffusion_seed0")):
        syn = ad.read_h5ad(out / "runs" / run / f"synthetic_{row}.h5ad")
        got = syn.obs["kind"].astype(str).value_counts().sort_index()
        assert got.to_dict() == want.to_dict()          # same label counts as the training split
        res = json.loads((out / "results" / f"{row}_seed0.json").read_text())
        assert res["row"] == row and "tstr_mlp_accuracy" in res["metrics"]
    assert json.loads((out / "results" / "ddpm_seed0.json").read_text())["sampler"] == {"sampler": "ddpm", "steps": 20}
    assert json.loads((out / "results" / "ddim_seed0.json").read_text())["sampler"] == {"sampler": "ddim", "steps": 20}
    steps = json.loads((out / "plots" / "steps_curve.json").read_text())
    assert steps["T"] == 20 and steps["samplers"] == ["ddim", "dpm++"]
    for sampler in ("ddim", "dpm++"):  # the same grid for both (50 capped at T; dpm++ stops at 50 steps)
        assert [p["steps"] for p in steps["points"] if p["sampler"] == sampler] == [2, 5, 20]
    _check_steps_curve_references(out, steps)
    with np.load(out / "plots" / "real.npz") as z:
        assert z["pca"].shape == (33, 2) and z["corr"].shape == (50, 50) and z["mean"].shape == (60,)
        assert np.allclose(np.diag(z["corr"]), 1.0, atol=1e-5)
    with np.load(out / "plots" / "gaussian.npz") as z:
        assert z["pca"].shape == (33, 2) and set(z["labels"]) == {"alpha", "beta", "gamma"}
    tpc = json.loads((out / "plots" / "tstr_per_class.json").read_text())
    assert set(tpc["sets"]) >= {"real (TRTR)", "gaussian", "ddpm", "ddim"}
    assert set(tpc["sets"]["gaussian"]["per_class"]) == {"alpha", "beta", "gamma"}


def _check_steps_curve_references(out, steps):
    """The steps curve's ceiling is the real training profiles and its floor the Gaussian row's first set, each
    scored as the curve's own sets are (recomputed here from the split record and the saved set)."""
    from rnagen.bench.plotdata import RealReference
    from rnagen.data import read

    refs = steps["references"]
    keys = set(steps["points"][0]) - {"sampler", "steps", "sample_seconds"}
    # the ceiling has no Fréchet distance in a PCA fitted on its own profiles
    assert set(refs) == {"real", "gaussian"} and set(refs["gaussian"]) == keys
    assert set(refs["real"]) == keys - {"frechet_pca"}
    split = json.loads((out / "split.json").read_text())
    data = read(out.parent / "tiny_expr.csv", label_key="kind")
    train, test = data[split["train"]].copy(), data[split["test"]].copy()
    ref = RealReference(train, test, label_key="kind", seed=0)
    assert refs["real"] == pytest.approx({k: v for k, v in ref.step_quality(train, seed=0).items()
                                          if k != "frechet_pca"})
    floor_set = ad.read_h5ad(out / "runs" / "gaussian_seed0" / "synthetic_gaussian.h5ad")
    assert refs["gaussian"] == pytest.approx(ref.step_quality(floor_set, seed=0))
    assert {k: refs["gaussian"][k] for k in refs["real"]} != pytest.approx(refs["real"])


def test_a_damaged_weights_file_is_trained_again(tmp_path, labelled_csv, capsys):
    """A run folder of the benchmark whose weights were truncated (its result missing) is trained again, to the
    same numbers (train's fix for it, --no-resume, is no option of benchmark's)."""
    kw = dict(label_key="kind", models="gaussian", out_dir=tmp_path / "b", progress=False, report=False,
              evaluate_options={"n_boot": 20, "n_boot_expensive": 2, "classifier_seeds": (0,), "epochs": 2},
              metrics=["precision", "recall", "aa_ts"])
    first = run_benchmark(labelled_csv, **kw)
    weights = tmp_path / "b" / "runs" / "gaussian_seed0" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    (tmp_path / "b" / "results" / "gaussian_seed0.json").unlink()
    again = run_benchmark(labelled_csv, **{**kw, "progress": True})
    said = capsys.readouterr()
    assert "weights.safetensors is truncated" in said.out + said.err and "trained again" in said.out + said.err
    timing = [c for c in first.columns if "seconds" in c]
    pd.testing.assert_frame_equal(first.drop(columns=timing), again.drop(columns=timing))
    assert weights.stat().st_size > 100


def test_benchmark_files_edited_into_another_json_shape_are_redone(tmp_path, labelled_csv):
    """A record of the folder that is valid JSON but no object (a list) is taken as damaged, as one that is no
    JSON is: the rerun rewrites it instead of failing with a traceback."""
    kw = dict(label_key="kind", models="gaussian", out_dir=tmp_path / "b", progress=False, report=False,
              evaluate_options={"n_boot": 20, "n_boot_expensive": 2, "classifier_seeds": (0,), "epochs": 2},
              metrics=["precision", "recall", "aa_ts"])
    first = run_benchmark(labelled_csv, **kw)
    names = ["bench.json", "results/gaussian_seed0.json", "plots/tstr_logreg_per_class.json"]
    for name in names:
        (tmp_path / "b" / name).write_text("[1, 2]\n")
    again = run_benchmark(labelled_csv, **kw)
    timing = [c for c in first.columns if "seconds" in c]
    pd.testing.assert_frame_equal(first.drop(columns=timing), again.drop(columns=timing))
    assert all(isinstance(json.loads((tmp_path / "b" / name).read_text()), dict) for name in names)


def test_resume_skips_finished_models(tmp_path, labelled_csv, monkeypatch):
    from rnagen import metrics
    from rnagen.models.gaussian import GaussianModel

    calls = {"fit": 0, "evaluate": 0}
    fit, evaluate = GaussianModel._fit, metrics.evaluate

    def counting_fit(self, *a, **k):
        calls["fit"] += 1
        return fit(self, *a, **k)

    def counting_evaluate(*a, **k):
        calls["evaluate"] += 1
        return evaluate(*a, **k)

    monkeypatch.setattr(GaussianModel, "_fit", counting_fit)
    monkeypatch.setattr(metrics, "evaluate", counting_evaluate)
    kw = dict(label_key="kind", models="gaussian", out_dir=tmp_path / "b", progress=False, report=False,
              evaluate_options={"n_boot": 20, "n_boot_expensive": 2, "classifier_seeds": (0,), "epochs": 2},
              metrics=["precision", "recall", "aa_ts", "tstr_mlp_accuracy"])
    run_benchmark(labelled_csv, **kw)
    assert calls == {"fit": 1, "evaluate": 2}         # real row + gaussian
    res = tmp_path / "b" / "results" / "gaussian_seed0.json"
    mtime = res.stat().st_mtime_ns
    board = run_benchmark(labelled_csv, **kw)
    assert calls == {"fit": 1, "evaluate": 2}         # nothing redone
    assert res.stat().st_mtime_ns == mtime and board["model"].tolist() == ["real", "gaussian"]
    # an interrupted benchmark: the model trained, its result was not written -> the model is loaded, not refit
    res.unlink()
    run_benchmark(labelled_csv, **kw)
    assert calls == {"fit": 1, "evaluate": 3}
    # a figure file of the first run deleted: the row is drawn and scored again (the model loaded), to the same
    # result, and the file is back for the report
    before = json.loads(res.read_text())["metrics"]
    (tmp_path / "b" / "plots" / "gaussian.npz").unlink()
    run_benchmark(labelled_csv, **kw)
    assert calls == {"fit": 1, "evaluate": 4} and (tmp_path / "b" / "plots" / "gaussian.npz").is_file()
    assert json.loads(res.read_text())["metrics"] == before
    # a second seed adds one training and the real row of that run (scored with its seed: the ceiling its shares
    # are measured against); changing the model's settings retrains only that model
    board = run_benchmark(labelled_csv, **{**kw, "seeds": 2}).set_index("model")
    assert calls == {"fit": 2, "evaluate": 6}
    runs = [{f"{r}": json.loads((tmp_path / "b" / "results" / f"{r}_seed{k}.json").read_text())["metrics"]
             for r in ("real", "gaussian")} for k in (0, 1)]
    for run in runs:
        assert run["gaussian"]["precision"]["reference"] == pytest.approx(run["real"]["precision"]["value"])
    assert board.loc["real", "n_seeds"] == 2
    assert board.loc["real", "precision"] == pytest.approx(np.mean([r["real"]["precision"]["value"] for r in runs]))
    run_benchmark(labelled_csv, **{**kw, "overrides": {"gaussian": ["covariance=diag"]}})
    assert calls == {"fit": 3, "evaluate": 7}
    # another split of the same folder is refused
    with pytest.raises(Exception, match="another split"):
        run_benchmark(labelled_csv, **{**kw, "seed": 5})


def test_data_changed_past_its_first_rows_is_not_taken_for_done(tmp_path, write_labelled_csv):
    """A benchmark folder re-run on a file whose values changed in its last profile (the digest covered its first
    64): refused, not every row skipped as done on the old values."""
    path = write_labelled_csv(tmp_path / "expr.csv", n_per=30)
    kw = dict(label_key="kind", models="gaussian", out_dir=tmp_path / "b", progress=False, report=False,
              evaluate_options={"n_boot": 10, "n_boot_expensive": 2, "classifier_seeds": (0,), "epochs": 2},
              metrics=["precision"])
    run_benchmark(path, **kw)
    df = pd.read_csv(path, index_col=0)
    df.iloc[-1, 0] = df.iloc[-1, 0] * 2 + 1
    df.to_csv(path, index_label="sample")
    with pytest.raises(Exception, match="holds a benchmark of other data"):
        run_benchmark(path, **kw)


def test_the_steps_curve_is_redone_for_another_run_and_dropped_without_diffusion(tiny_bench, tiny_settings, tmp_path):
    """A steps curve of another diffusion run (a benchmark killed while drawing it kept the earlier model's) is
    redone on resume; a re-run of the folder without diffusion rows removes it, so the report draws no curve of a
    model its board lacks."""
    import shutil

    from rnagen.bench import runner

    src, _, csv = tiny_bench
    out = tmp_path / "b"
    shutil.copytree(src, out)
    curve = out / "plots" / runner.STEPS_CURVE
    doc = json.loads(curve.read_text())
    run = doc["run"]
    curve.write_text(json.dumps({**doc, "run": "another", "fingerprint": "another"}))
    kw = dict(label_key="kind", budget="fast", progress=False, device="cpu", report=False, **tiny_settings)
    run_benchmark(csv, models="gaussian,ddpm,ddim", out_dir=out, **kw)
    assert json.loads(curve.read_text())["run"] == run
    run_benchmark(csv, models="gaussian", out_dir=out, **{**kw, "overrides": None})
    assert not curve.exists()
    # the diffusion model of another configuration diverging: the earlier model's curve is not kept beside it
    shutil.rmtree(out)
    shutil.copytree(src, out)
    over = {**(kw.get("overrides") or {}), "diffusion": [*(kw.get("overrides") or {}).get("diffusion", []),
                                                         "train.lr=1e6"]}
    with pytest.raises(DivergedError):
        run_benchmark(csv, models="gaussian,ddpm,ddim", out_dir=out, **{**kw, "overrides": over})
    assert not curve.exists()


def test_budgets_and_model_names():
    assert parse_models("ddpm, ddim,gaussian") == ["ddpm", "ddim", "gaussian"]
    assert parse_models("dpm++") == ["dpm++"] and ROWS["dpm++"] == ("diffusion", {"sampler": "dpm++"})
    with pytest.raises(ConfigError, match="unknown benchmark model"):
        parse_models("ddpm,gan")
    fast = budget_overrides("diffusion", "fast", n_train=416)
    # the fast budget's diffusion trains to the model's own default length (not cut short)
    assert not any(o.startswith("train.steps=") for o in fast)
    # the paper's budget is stated in epochs: 15,000 epochs of 12,244 profiles at batch 2048
    paper = budget_overrides("diffusion", "paper", n_train=12244)
    assert f"train.steps={-(-15000 * 12244 // 2048)}" in paper and "network.width=8192" in paper
    assert "train.val_fraction=0.0" in paper  # the paper's fixed length on every training profile
    # the paper's denoiser size: 227.6 M parameters for 978 genes (REFERENCE.md), here within 1.3x of it
    import torch

    from rnagen.models import get_model
    from rnagen.models.diffusion.network import ResMLPDenoiser

    cfg = get_model("diffusion").from_config(overrides=paper).config.network
    with torch.device("meta"):   # counted, not allocated
        net = ResMLPDenoiser(978, 26, width=cfg.width, depth=cfg.depth, expansion=cfg.expansion,
                             cond_dim=cfg.cond_dim or None)
    assert 227.6e6 <= sum(p.numel() for p in net.parameters()) <= 1.3 * 227.6e6
    # the paper's TCGA rows: its 2 x 4096 denoiser (63.4 M parameters for 978 genes, REFERENCE.md) at lr 1.4e-3,
    # the same 15,000 epochs; its VAE and WGAN-GP rows from the TCGA searches
    tcga = budget_overrides("diffusion", "paper-tcga", n_train=1547)
    assert "network.width=4096" in tcga and "train.lr=0.0014155" in tcga
    assert f"train.steps={-(-15000 * 1547 // 2048)}" in tcga and "train.val_fraction=0.0" in tcga
    cfg = get_model("diffusion").from_config(overrides=tcga).config.network
    with torch.device("meta"):
        net = ResMLPDenoiser(978, 33, width=cfg.width, depth=cfg.depth, expansion=cfg.expansion,
                             cond_dim=cfg.cond_dim or None)
    assert 63.4e6 <= sum(p.numel() for p in net.parameters()) <= 1.3 * 63.4e6
    vae = get_model("vae").from_config(overrides=budget_overrides("vae", "paper-tcga", n_train=1547)).config
    assert list(vae.network.hidden) == [2048, 8192, 256, 4096] and vae.train.batch_size == 2048
    gan = budget_overrides("wgan-gp", "paper-tcga", n_train=1547)
    gcfg = get_model("wgan-gp").from_config(overrides=gan).config
    assert list(gcfg.network.critic_hidden) == [4096, 128] and gcfg.train.batch_size == 64
    assert f"train.steps={-(-1000 * 1547 // 64)}" in gan
    # the GTEx rows are untouched by the TCGA table built from them
    assert "network.width=8192" in budget_overrides("diffusion", "paper", n_train=10)
    # every budget has its sampler steps, steps grid and evaluation options, and the CLI offers each
    from rnagen.bench.budgets import DDIM_STEP_GRID, EVALUATE_OPTIONS, SAMPLER_STEPS
    from rnagen.cli.main import build_parser
    assert set(BUDGET_TABLE) == set(DDIM_STEP_GRID) == set(SAMPLER_STEPS) == set(EVALUATE_OPTIONS) == set(BUDGETS)
    bench_cli = build_parser()._subparsers._group_actions[0].choices["benchmark"]
    assert next(a for a in bench_cli._actions if a.dest == "budget").choices == BUDGETS
    assert budget_overrides("gaussian", "standard", n_train=10) == []
    merged = budget_overrides("diffusion", "fast", n_train=10, extra=["train.steps=7"])
    assert "train.steps=7" in merged and "train.steps=1500" not in merged
    with pytest.raises(ConfigError, match="unknown budget"):
        budget_overrides("diffusion", "huge", n_train=10)


def test_table_to_metrics_keeps_registry_names_and_directions():
    table = pd.DataFrame([
        {"name": "tstr_mlp_accuracy", "group": "all", "value": 0.8, "ci_low": 0.7, "ci_high": 0.9,
         "reference": 0.95, "direction": "higher"},
        {"name": "tstr_mlp_macro_f1", "group": "a", "value": 0.5, "ci_low": np.nan, "ci_high": np.nan,
         "reference": 0.9, "direction": "higher"},
        {"name": "aa_ts", "group": "all", "value": 0.6, "ci_low": 0.5, "ci_high": 0.7, "reference": 0.5,
         "direction": "target 0.5"},
        {"name": "frechet_classifier", "group": "all", "value": 3.0, "ci_low": 2.0, "ci_high": 4.0,
         "reference": 1.0, "direction": "lower"},
    ])
    m, per_class = _table_to_metrics(table)
    assert m["tstr_mlp_accuracy"]["value"] == 0.8 and m["trtr_accuracy"]["value"] == 0.95
    assert m["trtr_accuracy"]["direction"] == "higher" and m["trtr_accuracy"]["ci_low"] is None
    assert m["aa_ts"]["direction"] == 0.5 and m["frechet_classifier"]["direction"] == "lower"
    assert per_class == {"tstr_mlp_macro_f1": {"a": {"value": 0.5, "reference": 0.9}}}
    assert m["tstr_mlp_accuracy"]["ci_low"] == 0.7 and "group" not in m["aa_ts"]
    # one name per indicator: no second copy under another name
    assert set(m) == {"tstr_mlp_accuracy", "trtr_accuracy", "aa_ts", "frechet_classifier"}


def test_cli_benchmark_of_one_class_says_the_accuracies_are_trivial(tmp_path, capsys):
    """Data of one class: the benchmark runs (an unconditional generator, in effect) and says, on the terminal
    and in the report, that TSTR and TRTR are 1 by construction."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("tiny", Path(__file__).with_name("tiny_bench.py"))
    tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny)
    path = tiny.write_labelled_csv(tmp_path / "one.csv", classes=("only",), n_per=24)
    out = tmp_path / "one"
    assert main(["benchmark", str(path), "--label-key", "kind", "--models", "gaussian", "--out", str(out),
                 "--quiet", "--metrics", "precision,recall,tstr_mlp_accuracy"]) == 0
    text = capsys.readouterr().out
    assert "one class: train-on-synthetic / train-on-real accuracies are 1 by construction and say nothing" in text
    assert 'id="one-class"' in (out / "report.html").read_text()
    board = pd.read_csv(out / "leaderboard.csv").set_index("model")
    assert board.loc["gaussian", "tstr_mlp_accuracy"] == 1.0


def test_cli_benchmark_on_csv(tmp_path, labelled_csv, capsys):
    out = tmp_path / "cli"
    rc = main(["benchmark", str(labelled_csv), "--label-key", "kind", "--models", "gaussian", "--out", str(out),
               "--quiet", "--test-size", "0.25", "--metrics", "precision,recall,aa_ts"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "gaussian" in text and "real" in text and "report.html" in text
    assert "one split: a difference between models smaller than the spread over splits is noise" in text
    assert (out / "leaderboard.csv").is_file() and (out / "report.html").is_file()
    assert 'id="one-split"' in (out / "report.html").read_text()
    assert "one class:" not in text and 'id="one-class"' not in (out / "report.html").read_text()
    assert json.loads((out / "bench.json").read_text())["test_size"] == 0.25
    board = pd.read_csv(out / "leaderboard.csv").set_index("model")
    assert 0 <= board.loc["gaussian", "aa_ts"] <= 1 and np.isnan(board.loc["gaussian", "tstr_mlp_accuracy"])
    # user errors: one line, exit 2, no traceback
    assert main(["benchmark", str(labelled_csv), "--label-key", "kind", "--models", "nope", "--out",
                 str(tmp_path / "x")]) == 2
    assert "unknown benchmark model" in capsys.readouterr().err
    assert main(["benchmark", str(labelled_csv), "--label-key", "nolabel", "--out", str(tmp_path / "y")]) == 2
    assert main(["benchmark", str(labelled_csv), "--label-key", "kind", "--reconstruct", "linear",
                 "--out", str(tmp_path / "z")]) == 2
    assert "--full" in capsys.readouterr().err
    assert main(["benchmark", str(labelled_csv), "--label-key", "kind", "--set", "train.steps=3",
                 "--out", str(tmp_path / "w")]) == 2
    assert "MODEL:KEY=VALUE" in capsys.readouterr().err
    assert main(["benchmark", str(labelled_csv), "--label-key", "kind", "--models", "real,gaussian",
                 "--out", str(tmp_path / "v")]) == 2
    assert "'real' is always part of the leaderboard" in capsys.readouterr().err
    # a plain file where the benchmark keeps a folder, a report of the user's (no bench.json): one line, nothing
    # created or replaced
    for folder, name, said in (("u", "results", "holds a file named results"),
                               ("own", "report.html", "holds report.html but no bench.json")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text("<p>my own</p>")
        assert main(["benchmark", str(labelled_csv), "--label-key", "kind", "--models", "gaussian",
                     "--out", str(tmp_path / folder)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == [name]
        assert (tmp_path / folder / name).read_text() == "<p>my own</p>"
    # a test share that leaves a small training set: the neighbourhood shrinks to the smaller set (the synthetic
    # set has the training set's size), not an error naming an option the benchmark lacks
    board = run_benchmark(labelled_csv, label_key="kind", models="gaussian", out_dir=tmp_path / "s", test_size=0.85,
                          metrics=["precision", "density"], evaluate_options={"n_boot": 0}, progress=False)
    assert np.isfinite(board.set_index("model").loc["gaussian", "density"])
    import torch

    if not torch.cuda.is_available():   # CUDA asked for where there is none: refused before anything is written
        assert main(["benchmark", str(labelled_csv), "--label-key", "kind", "--models", "gaussian", "--device",
                     "cuda", "--out", str(tmp_path / "t")]) == 2
        assert "CUDA is not available" in capsys.readouterr().err and not (tmp_path / "t").exists()


def test_reconstruction_rows_and_r2(tmp_path, labelled_csv, landmarks_and_full):
    """Landmark-style data (20 of 60 genes) + full profiles: each model also scored after reconstruction."""
    data_csv, full_path = landmarks_and_full(labelled_csv, tmp_path)   # labels in the landmark data only
    full = ad.read_h5ad(full_path)
    out = tmp_path / "rec"
    board = run_benchmark(data_csv, label_key="kind", models="gaussian", reconstruct="linear", full=full_path,
                          out_dir=out, progress=False,
                          evaluate_options={"n_boot": 20, "n_boot_expensive": 2, "classifier_seeds": (0,),
                                            "epochs": 2},
                          metrics=["precision", "recall", "coverage", "aa_ts", "tstr_mlp_accuracy"])
    assert board["model"].tolist() == ["real", "real-full", "gaussian", "gaussian+linear"]
    with np.load(out / "plots" / "recon_linear.npz") as z:
        r2 = z["r2"]
    assert r2.shape == (40,) and np.isfinite(r2).all() and (r2 <= 1).all()  # the 40 non-input genes
    summary = json.loads((out / "plots" / "recon_linear.json").read_text())
    assert summary["n_targets"] == 40 and summary["method"] == "linear"
    assert (out / "recon" / "linear" / "meta.json").is_file()
    b = board.set_index("model")
    assert 0 <= b.loc["gaussian+linear", "tstr_mlp_accuracy"] <= 1
    assert b.loc["gaussian+linear", "sample_seconds"] >= b.loc["gaussian", "sample_seconds"]
    # the full-profile ceiling closes its own gap to the Gaussian's reconstructed profiles (the full floor)
    shares = b.loc["real-full", [c for c in b.columns if c.endswith("_gap_closed")]].astype(float)
    assert (shares.dropna() == 1.0).all() and shares.notna().any()
    assert 'id="recon"' in (out / "report.html").read_text()
    # the full profiles on another scale than the data (logged here, the data's counts not): refused before any
    # training, the reconstructor would otherwise take the log of log values
    logged = full.copy()
    logged.X = np.log2(np.asarray(logged.X) + 1)
    logged.write_h5ad(tmp_path / "full_log.h5ad")
    with pytest.raises(DataError, match="DATA holds values before the log and --full log-scale for the same genes"):
        run_benchmark(data_csv, label_key="kind", models="gaussian", reconstruct="linear",
                      full=tmp_path / "full_log.h5ad", out_dir=tmp_path / "rec2", progress=False)
    assert not (tmp_path / "rec2").exists()
    # full profiles of other data under the same sample names (same scale, other values): refused, and a refused
    # rerun into the finished benchmark leaves its files as they were
    other = full.copy()
    other.X = np.asarray(other.X) * 1.5 + 1
    other.write_h5ad(tmp_path / "full_other.h5ad")
    before = {f: (out / f).read_bytes() for f in ("bench.json", "split.json")}
    with pytest.raises(DataError, match=r"--full holds other values than DATA for the same samples and genes"):
        run_benchmark(data_csv, label_key="kind", models="gaussian", reconstruct="linear",
                      full=tmp_path / "full_other.h5ad", out_dir=out, progress=False)
    assert {f: (out / f).read_bytes() for f in before} == before
    with pytest.raises(ConfigError, match="--full is read only to score reconstructions"):
        run_benchmark(data_csv, label_key="kind", models="gaussian", full=full_path, out_dir=tmp_path / "rec3",
                      progress=False)


@pytest.mark.slow
def test_demo_command_on_bundled_data(tmp_path, capsys):
    """`rnagen demo` wiring on the bundled GTEx subset (one fast model, two indicators, to stay short)."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--models", "gaussian", "--metrics", "precision,recall", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "gaussian" in text and str((out / "report.html").resolve()) in text
    meta = json.loads((out / "leaderboard.json").read_text())
    assert meta["settings"]["n_obs"] == 520 and meta["settings"]["n_genes"] == 467
    assert meta["settings"]["n_train"] == 416 and len(meta["settings"]["labels"]) == 26
    assert "bundled GTEx subset" in (out / "report.html").read_text()


def test_read_leaderboard_renames_columns_of_earlier_versions(tmp_path):
    """Earlier files named the TSTR accuracy ``tstr_accuracy`` and the Fréchet distance ``frechet_distance``
    (a copy of the classifier one, else of the PCA one): the copy is dropped where the registry column is
    there, and renamed where it is not."""
    from rnagen.bench import read_leaderboard

    old = {"columns": ["model", "tstr_accuracy", "tstr_accuracy_ci_low", "frechet_distance",
                       "frechet_distance_gap_closed", "frechet_pca", "frechet_pca_gap_closed"],
           "rows": [{"model": "ddim", "tstr_accuracy": 0.7, "tstr_accuracy_ci_low": 0.6, "frechet_distance": 3.0,
                     "frechet_distance_gap_closed": 0.5, "frechet_pca": 3.0, "frechet_pca_gap_closed": 0.5}],
           "directions": {"tstr_accuracy": "higher", "frechet_distance": "lower", "frechet_pca": "lower"},
           "references": {"tstr_accuracy": 0.9, "frechet_distance": 1.0, "frechet_pca": 1.0},
           "gap_closed": {"columns": ["frechet_distance_gap_closed", "frechet_pca_gap_closed"]}}
    (tmp_path / "leaderboard.json").write_text(json.dumps(old))
    board, meta = read_leaderboard(tmp_path)
    assert list(board.columns) == ["model", "tstr_mlp_accuracy", "tstr_mlp_accuracy_ci_low", "frechet_pca",
                                   "frechet_pca_gap_closed"]
    assert board.loc[0, "tstr_mlp_accuracy"] == 0.7 and board.loc[0, "frechet_pca_gap_closed"] == 0.5
    assert meta["directions"] == {"tstr_mlp_accuracy": "higher", "frechet_pca": "lower"}
    assert meta["references"] == {"tstr_mlp_accuracy": 0.9, "frechet_pca": 1.0}
    assert meta["gap_closed"]["columns"] == ["frechet_pca_gap_closed"]
    # the Fréchet copy alone: renamed to the classifier Fréchet distance it copied
    alone = {"columns": ["model", "frechet_distance"], "rows": [{"model": "vae", "frechet_distance": 2.0}]}
    (tmp_path / "leaderboard.json").write_text(json.dumps(alone))
    board, _ = read_leaderboard(tmp_path)
    assert list(board.columns) == ["model", "frechet_classifier"] and board.loc[0, "frechet_classifier"] == 2.0


def test_rows_whose_name_has_a_plus_find_their_floor():
    """``dpm++`` is a plain row (its floor is ``gaussian``); ``dpm+++linear`` is its linear reconstruction."""
    from rnagen.bench.runner import _gap_shares, reconstruction_method

    assert reconstruction_method("dpm++") is None and reconstruction_method("ddim") is None
    assert reconstruction_method("dpm+++linear") == "linear" and reconstruction_method("vae+mlp") == "mlp"
    metric = lambda v, ref=None: {"value": v, "reference": ref}  # noqa: E731
    got = {"gaussian": [{"metrics": {"aa_ts": metric(0.60)}}],
           "gaussian+linear": [{"metrics": {"aa_ts": metric(0.70)}}]}
    gap = _gap_shares("dpm++", [{"metrics": {"aa_ts": metric(0.55, 0.50)}}], got)
    assert [share for share, _ in gap["aa_ts"]] == [pytest.approx(0.5)]  # half of the way from 0.60 to 0.50
    gap = _gap_shares("dpm+++linear", [{"metrics": {"aa_ts": metric(0.55, 0.50)}}], got)
    assert [share for share, _ in gap["aa_ts"]] == [pytest.approx(0.75)]  # against the reconstructed floor, 0.70


def test_a_share_defined_on_some_runs_only_says_on_how_many(capsys):
    """Where the floor reaches the ceiling on one of two runs the share is undefined there: the row's share is the
    other run's alone, and the leaderboard says so (1 of 2 runs) instead of reading as a two-run mean."""
    from rnagen.bench.runner import _board_row
    from rnagen.cli.bench import print_leaderboard

    def metric(v, ref, lo=None, hi=None):
        return {"value": v, "reference": ref, "ci_low": lo, "ci_high": hi}

    got = {"gaussian": [{"seed_index": 0, "metrics": {"coverage": metric(0.9, 1.0, 0.85, 0.95)}},
                        {"seed_index": 1, "metrics": {"coverage": metric(1.0, 1.0, 0.97, 1.0)}}]}
    recs = [{"seed_index": 0, "metrics": {"coverage": metric(1.0, 1.0)}},
            {"seed_index": 1, "metrics": {"coverage": metric(1.0, 1.0)}}]
    rec = _board_row("vae", recs, got, ["coverage"], seeds=2)
    assert rec["coverage_gap_closed"] == 1.0 and rec["coverage_gap_closed_n"] == 1 and rec["n_seeds"] == 2
    print_leaderboard(pd.DataFrame([rec]))
    assert "100% (1 of 2 runs)" in capsys.readouterr().out
    off = {"gaussian": [got["gaussian"][0], {**got["gaussian"][0], "seed_index": 1}]}
    both = _board_row("vae", recs, off, ["coverage"], seeds=2)
    assert "coverage_gap_closed_n" not in both   # defined on every run: no count
    # of three runs the row's third failed: defined on both of the row's own runs, no "2 of 2 runs"
    third = _board_row("vae", recs, off, ["coverage"], seeds=3)
    assert "coverage_gap_closed_n" not in third and third["n_seeds"] == 2


def test_board_rows_say_on_how_many_seeds_the_floor_is_measurably_off_the_ceiling(capsys):
    """``<indicator>_gap_resolved``: the share of a row's seeds whose floor CI excludes the ceiling; the printed
    leaderboard brackets a share resolved on half the seeds or fewer and says why."""
    from rnagen.bench.runner import _board_row
    from rnagen.cli.bench import print_leaderboard

    def metric(v, ref, lo=None, hi=None):
        return {"value": v, "reference": ref, "ci_low": lo, "ci_high": hi}

    # seed 0: the floor's density 0.5 [0.45, 0.55] against a ceiling of 1.0 (resolved); seed 1: 0.97 [0.9, 1.04]
    # (within noise); detection AUC without CIs: cannot be told
    got = {"gaussian": [{"seed_index": 0, "metrics": {"density": metric(0.5, 1.0, 0.45, 0.55),
                                                      "detection_auc": metric(0.6, 0.5)}},
                        {"seed_index": 1, "metrics": {"density": metric(0.97, 1.0, 0.90, 1.04),
                                                      "detection_auc": metric(0.6, 0.5)}}]}
    recs = [{"seed_index": 0, "metrics": {"density": metric(0.75, 1.0), "detection_auc": metric(0.55, 0.5)}},
            {"seed_index": 1, "metrics": {"density": metric(1.06, 1.0), "detection_auc": metric(0.55, 0.5)}}]
    rec = _board_row("vae", recs, got, ["density", "detection_auc"], seeds=2)
    assert rec["density_gap_closed"] == pytest.approx((0.5 + (1 - 0.06 / 0.03)) / 2)
    assert rec["density_gap_resolved"] == 0.5
    assert math.isnan(rec["detection_auc_gap_resolved"])
    floor_rec = _board_row("gaussian", got["gaussian"], got, ["density"], seeds=2)
    assert floor_rec["density_gap_resolved"] == 0.5
    board = pd.DataFrame([floor_rec, rec])
    print_leaderboard(board)
    out = capsys.readouterr().out
    # with the spread over the two seeds (the sd of the two per-seed shares)
    sd = np.std([0.5, 1 - 0.06 / 0.03], ddof=1)
    assert rec["density_gap_closed_sd"] == pytest.approx(sd) and "± sd over runs" in out
    assert f"({100 * rec['density_gap_closed']:.0f}% ± {100 * sd:.0f})" in out and "sampling noise" in out
    # the same share on both seeds, bracketed: without CIs it cannot be told whether its gap exceeds the noise
    assert f"({100 * rec['detection_auc_gap_closed']:.0f}% ± 0)" in out
    # resolved on both seeds: printed as measured
    got["gaussian"][1]["metrics"]["density"] = metric(0.6, 1.0, 0.55, 0.65)
    rec = _board_row("vae", recs, got, ["density"], seeds=2)
    assert rec["density_gap_resolved"] == 1.0
    print_leaderboard(pd.DataFrame([rec]))
    out = capsys.readouterr().out
    shares = out.split("share of the gap closed")[1].split("\n", 1)[1]
    assert f"{100 * rec['density_gap_closed']:.0f}% ± " in shares and f"({100 * rec['density_gap_closed']:.0f}%" \
        not in shares
    # one run: no spread printed
    rec = _board_row("vae", recs[:1], {"gaussian": got["gaussian"][:1]}, ["density"], seeds=1)
    print_leaderboard(pd.DataFrame([rec]))
    out = capsys.readouterr().out
    assert "±" not in out and f"{100 * rec['density_gap_closed']:.0f}%" in out


def test_splits_score_each_run_on_its_own_split_against_its_own_floor_and_ceiling(tmp_path, labelled_csv):
    """``splits=2``: two stratified splits, the real row and the Gaussian floor on each, every other row's share
    of the gap closed per run against its own split's floor and ceiling, the leaderboard's mean and sd those of
    the runs; a third split resumes the first two."""
    from rnagen.metrics.gap import gap_closed_from

    tiny = _tiny()
    out = tmp_path / "b"
    kw = dict(label_key="kind", models="gaussian,ddim", out_dir=out, progress=False, report=False,
              overrides=tiny.TINY_OVERRIDES, steps_grid=(2,), device="cpu", seed=3,
              evaluate_options={"n_boot": 20, "n_boot_expensive": 2, "classifier_seeds": (0,), "epochs": 2},
              metrics=["precision", "density", "coverage", "aa_ts", "correlation_score", "tstr_mlp_accuracy"])
    board = run_benchmark(labelled_csv, splits=2, **kw).set_index("model")
    split = json.loads((out / "split.json").read_text())
    assert [s["seed"] for s in split["splits"]] == [3, 4]
    assert split["train"] == split["splits"][0]["train"] and split["membership"] == split["splits"][0]["membership"]
    tests = [set(s["test"]) for s in split["splits"]]
    assert tests[0] != tests[1] and all(len(t) == 9 for t in tests)
    for s in split["splits"]:
        assert not set(s["train"]) & set(s["test"])
        labels = pd.Series([("alpha", "beta", "gamma")[int(x[1:]) // 14] for x in s["test"]]).value_counts()
        assert labels.to_dict() == {"alpha": 3, "beta": 3, "gamma": 3}   # stratified
        assert set(s["membership"]["nonmembers"]) <= set(s["test"]) and set(s["membership"]["members"]) <= set(
            s["train"])
    res = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    assert sorted(res) == ["ddim_seed0", "ddim_seed1", "gaussian_seed0", "gaussian_seed1", "real_seed0",
                           "real_seed1"]
    assert [res[f"ddim_seed{k}"]["split_seed"] for k in (0, 1)] == [3, 4]
    assert [res[f"ddim_seed{k}"]["seed"] for k in (0, 1)] == [3, 4]
    # each run's ceiling is the real row's of its own split (real training profiles scored on that test part)
    for k in (0, 1):
        for name in ("precision", "density", "coverage"):
            assert res[f"ddim_seed{k}"]["metrics"][name]["reference"] == pytest.approx(
                res[f"real_seed{k}"]["metrics"][name]["reference"])
            assert board.loc["real", name] == pytest.approx(np.mean(
                [res[f"real_seed{j}"]["metrics"][name]["reference"] for j in (0, 1)]))
    assert res["real_seed0"]["metrics"]["density"]["reference"] != res["real_seed1"]["metrics"]["density"]["reference"]
    # the leaderboard: the mean and sd over the two runs of the per-run shares, each against its own floor
    checked = 0
    for name in ("density", "coverage", "aa_ts", "correlation_score"):
        shares = [gap_closed_from(name, {n: m["value"] for n, m in res[f"ddim_seed{k}"]["metrics"].items()},
                                  {n: m["value"] for n, m in res[f"gaussian_seed{k}"]["metrics"].items()},
                                  {n: m["reference"] for n, m in res[f"ddim_seed{k}"]["metrics"].items()})
                  for k in (0, 1)]
        if not all(np.isfinite(shares)):
            continue
        assert board.loc["ddim", f"{name}_gap_closed"] == pytest.approx(np.mean(shares), rel=1e-5)
        assert board.loc["ddim", f"{name}_gap_closed_sd"] == pytest.approx(np.std(shares, ddof=1), rel=1e-4)
        checked += 1
    assert checked >= 2
    vals = [res[f"ddim_seed{k}"]["metrics"]["density"]["value"] for k in (0, 1)]
    assert board.loc["ddim", "density"] == pytest.approx(np.mean(vals), rel=1e-5)
    assert board.loc["ddim", "density_sd"] == pytest.approx(np.std(vals, ddof=1), rel=1e-4)
    assert board.loc["real", "n_seeds"] == 2 and board.loc["ddim", "n_seeds"] == 2
    assert board.loc["real", "coverage_gap_closed"] == pytest.approx(1.0) or np.isnan(
        board.loc["real", "coverage_gap_closed"])
    assert json.loads((out / "bench.json").read_text())["splits"] == 2
    # a third split: the first two runs are not redone
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    board = run_benchmark(labelled_csv, splits=3, **kw).set_index("model")
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json") if p.name in mtimes} == mtimes
    assert {p.stem for p in (out / "results").glob("*_seed2.json")} == {"real_seed2", "gaussian_seed2", "ddim_seed2"}
    assert board.loc["ddim", "n_seeds"] == 3
    assert json.loads((out / "results" / "ddim_seed2.json").read_text())["split_seed"] == 5
    # the report names the splits and shows each share with its spread over them
    from rnagen.report import write_report

    html = write_report(out).read_text()
    assert "3 stratified\n  splits (test size 0.2, seeds 3 to 5)" in html and "1 seed(s) per split" in html
    assert 'id="one-split"' not in html
    # 33 training profiles, 9 held out: too few besides the reference to fit the evaluation's spaces on them
    settings = json.loads((out / "bench.json").read_text())
    assert settings["fidelity_size"] == "held-out" and settings["ceiling_outside_fits"] is False
    text = " ".join(html.split())
    assert "the training set holds too few others (50 or fewer) to fit the evaluation's z-scores" in text
    assert "outside those the evaluation's z-scores, PCA and classifier are fitted on" not in text
    lb = json.loads((out / "leaderboard.json").read_text())
    lb["settings"]["ceiling_outside_fits"] = True
    (out / "leaderboard.json").write_text(json.dumps(lb))
    text = " ".join(write_report(out).read_text().split())
    assert "outside those the evaluation's z-scores, PCA and classifier are fitted on: the value new real profiles " \
        "score" in text and "too few others" not in text
    # (on 9 held-out profiles a share is often within the noise: shown in brackets, without its spread)
    for c in ("aa_ts", "density", "coverage", "precision"):
        share, sd = board.loc["ddim", f"{c}_gap_closed"], board.loc["ddim", f"{c}_gap_closed_sd"]
        if np.isfinite(sd):
            measured = board.loc["ddim", f"{c}_gap_resolved"] > 0.5
            assert (f"{100 * share:.0f}%<span class=\"ci\">± {100 * sd:.0f} sd" if measured
                    else f"({100 * share:.0f}%)") in html
    # a scoring option evaluate does not know: refused before anything is written
    with pytest.raises(ConfigError, match="fidelity_size must be synthetic or held-out, not 'heldout'"):
        run_benchmark(labelled_csv, **{**kw, "out_dir": tmp_path / "d",
                                       "evaluate_options": {"fidelity_size": "heldout"}})
    assert not (tmp_path / "d").exists()
    # reconstruction scores one split: refused before anything is written
    with pytest.raises(ConfigError, match="one split"):
        run_benchmark(labelled_csv, **{**kw, "out_dir": tmp_path / "c"}, splits=2, reconstruct="linear",
                      full=labelled_csv)
    assert not (tmp_path / "c").exists()


def _tiny():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("tiny", Path(__file__).with_name("tiny_bench.py"))
    tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny)
    return tiny


def test_a_bundled_data_set_by_name(tmp_path, capsys):
    """``rnagen benchmark gtex26`` takes the bundled GTEx subset by name, as prepare, train, tune and evaluate do
    (it was 'input file gtex26 does not exist'); a file of that name in the folder still wins."""
    import os

    from rnagen.cli.main import main

    args = ["benchmark", "gtex26", "--label-key", "tissue", "--models", "gaussian", "--metrics", "precision",
            "--quiet"]
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "bench.json").read_text())["n_obs"] == 520
    (tmp_path / "gtex26").write_text("not a table\n")
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert main([*args, "--out", str(tmp_path / "c")]) == 2
    finally:
        os.chdir(cwd)
    assert "gtex26" in capsys.readouterr().err


def test_a_diverging_model_is_left_out_and_named_the_other_rows_run(tmp_path, labelled_csv, capsys):
    """A row whose training diverges (a learning rate far too high) does not end the benchmark: the other rows
    are run into the leaderboard and the report, which name the failed run; the command then ends with one line
    naming the model, the step and the benchmark's way to lower the rate (--set MODEL:train.lr=...), exit 2. A
    re-run with the same settings does not train it again; one with a lower rate does, and succeeds."""
    from rnagen.cli.main import main

    out = tmp_path / "b"
    args = ["benchmark", str(labelled_csv), "--label-key", "kind", "--models", "dpm++,gaussian", "--metrics",
            "precision", "--quiet", "--set", "diffusion:train.val_fraction=0",
            "--set", "diffusion:train.steps=60", "--set", "diffusion:train.warmup_steps=0",
            "--set", "diffusion:train.grad_clip=0", "--out", str(out)]
    assert main([*args, "--set", "diffusion:train.lr=1e6"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "diffusion (training seed 0): training diverged at step" in err
    assert "--set diffusion:train.lr=" in err and "leaderboard.csv" in err
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["model"]) == {"real", "gaussian"}
    assert np.isfinite(board.set_index("model").loc["gaussian", "precision"])
    meta = json.loads((out / "leaderboard.json").read_text())
    assert list(meta["failed"]) == ["dpm++"] and "diverged" in meta["failed"]["dpm++"][0]
    report = (out / "report.html").read_text()
    assert 'id="failed"' in report and "dpm++" in report
    result = out / "results" / "dpm++_seed0.json"
    before = result.stat().st_mtime_ns

    # the same settings: the failure is read back, not trained again
    assert main([*args, "--set", "diffusion:train.lr=1e6"]) == 2
    assert "diverged" in capsys.readouterr().err and result.stat().st_mtime_ns == before

    # a lower rate: trained, scored, and nothing left of the failure
    assert main([*args, "--set", "diffusion:train.lr=1e-3"]) == 0
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["model"]) == {"real", "gaussian", "dpm++"}
    assert not json.loads((out / "leaderboard.json").read_text())["failed"]
    assert 'id="failed"' not in (out / "report.html").read_text()
    plots = out / "plots"
    assert (plots / "dpm++.npz").is_file() and "dpm++" in json.loads((plots / "tstr_logreg_per_class.json").read_text())

    # diverging again: the figures do not draw the model of the lower rate as the row's
    assert main([*args, "--set", "diffusion:train.lr=1e6"]) == 2
    capsys.readouterr()
    assert not (plots / "dpm++.npz").exists() and not (plots / "biology_dpm++.npz").exists()
    assert "dpm++" not in json.loads((plots / "tstr_logreg_per_class.json").read_text())


def test_references_are_the_mean_over_every_run():
    """The leaderboard's real-vs-real references stood at split 0's value beside means over every split (TRTR 1.0
    beside a column mean of 0.986); they are the mean of every run's."""
    from rnagen.bench.runner import _indicators

    got = {"real": [{"metrics": {"density": {"value": 1.0, "reference": 0.97}}},
                    {"metrics": {"density": {"value": 1.1, "reference": 1.09}}}],
           "vae": [{"metrics": {"density": {"value": 0.8, "reference": 0.97}}},
                   {"metrics": {"density": {"value": 0.9, "reference": 1.09}}}]}
    _, _, refs = _indicators(got)
    assert refs["density"] == pytest.approx(1.03)


def test_a_rerun_removes_what_a_killed_benchmark_left_in_its_folders(tmp_path, tiny_bench, tiny_settings):
    """A benchmark killed mid-write leaves temporaries in results/, plots/ and a run folder; the rerun removes
    them, and the leaderboard's record of the figure data lists none (it listed a temporary as a figure file). A
    rerun with other settings removes every checkpoint of the old ones (a mixture member's stayed behind and
    was refused as another run's, after member 0 was trained again)."""
    import shutil

    src, _, csv = tiny_bench
    out = tmp_path / "b"
    shutil.copytree(src, out)
    temps = [out / "plots" / ".tstr_logreg_per_class.json.abcd1234.tmp.json",
             out / "results" / ".gaussian_seed0.json.abcd1234.tmp.json",
             out / "runs" / "gaussian_seed0" / ".synthetic_gaussian.h5ad.abcd1234.tmp.h5ad"]
    for t in temps:
        t.write_text("partial")
    stale = out / "runs" / "diffusion_seed0" / "checkpoint_member1.pt"
    stale.write_bytes(b"another run's")
    kw = dict(label_key="kind", budget="fast", progress=False, device="cpu", report=False, **tiny_settings)
    run_benchmark(csv, models="gaussian", out_dir=out, **{**kw, "overrides": None})
    assert not [t for t in temps if t.exists()]
    assert not [n for n in json.loads((out / "leaderboard.json").read_text())["plots"] if ".tmp" in n]
    assert stale.exists()   # the diffusion rows were not run
    over = {**kw["overrides"], "diffusion": [*kw["overrides"].get("diffusion", []), "train.lr=0.0005"]}
    run_benchmark(csv, models="gaussian,ddim", out_dir=out, **{**kw, "overrides": over})
    assert not stale.exists()


def test_settings_for_a_model_the_benchmark_does_not_train_name_the_way_on(tmp_path, labelled_csv, capsys):
    """--set for a model outside --models: refused in one line that says to drop the option or add the model's
    rows (the diffusion model's are its samplers'), nothing written."""
    from rnagen.cli.main import main

    out = tmp_path / "b"
    for spec, tail in (("vae:train.steps=3", "drop those --set options, or add vae to --models"),
                       ("diffusion:train.steps=3", "or add ddpm/ddim/dpm++ to --models"),
                       ("foo:x=1", "drop those --set options")):
        assert main(["benchmark", str(labelled_csv), "--label-key", "kind", "--models", "gaussian", "--set", spec,
                     "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.rstrip().endswith(tail), err
    assert not out.exists()


def test_a_setting_given_twice_is_recorded_once_with_the_value_that_applies(tmp_path, labelled_csv):
    """bench.json (and the report's header from it) listed both of --set vae:train.steps=30 --set
    vae:train.steps=40; the last one is the one the model trains with, and the only one recorded."""
    from rnagen.bench.runner import _last_of_each_key
    from rnagen.cli.main import main

    assert _last_of_each_key(["train.steps=30", "train.lr=0.01", "train.steps=40"]) == ["train.steps=40",
                                                                                         "train.lr=0.01"]
    assert _last_of_each_key({"train.steps": 3}) == ["train.steps=3"]
    out = tmp_path / "b"
    assert main(["benchmark", str(labelled_csv), "--label-key", "kind", "--models", "gaussian,vae", "--metrics",
                 "precision", "--quiet", "--set", "vae:train.steps=3", "--set", "vae:train.steps=4", "--out",
                 str(out)]) == 0
    assert json.loads((out / "bench.json").read_text())["overrides"]["vae"] == ["train.steps=4"]


def test_an_evaluate_option_evaluate_does_not_take_is_refused_before_anything_is_written(tmp_path, labelled_csv):
    """evaluate_options={"nboot": 5} raised a TypeError at the first row, after split.json and bench.json were
    written."""
    out = tmp_path / "b"
    with pytest.raises(ConfigError, match=r"evaluate_options \['nboot'\] are not options of rnagen.metrics.evaluate"):
        run_benchmark(labelled_csv, label_key="kind", models="gaussian", out_dir=out, budget="fast", progress=False,
                      device="cpu", report=False, evaluate_options={"nboot": 5})
    assert not out.exists()


def _numeric_labelled(n, labels, seed):

    rng = np.random.default_rng(seed)
    y = np.asarray(labels, dtype=object)[np.arange(n) % len(labels)]
    return ad.AnnData(X=rng.gamma(2.0, 10.0, size=(n, 8)).astype(np.float32),
                      obs=pd.DataFrame({"kind": y}, index=[f"S{seed}_{i}" for i in range(n)]),
                      var=pd.DataFrame(index=[f"g{j}" for j in range(8)]))


def test_a_test_file_writing_numeric_classes_another_way_joins_them(tmp_path):
    """A --test file whose numeric classes read 1.0, 2.0 (a float column) beside DATA's 1, 2 holds DATA's classes,
    not classes of its own (refused as classes in the test file only)."""
    from rnagen.bench.runner import TEST_FILE_COLUMN, join_test_file

    train = _numeric_labelled(30, ["1", "2", "2.5"], 0)
    held = _numeric_labelled(12, [1.0, 2.0, 2.5], 1)
    joined, _ = join_test_file(train, held, "kind")
    test = joined.obs[TEST_FILE_COLUMN] == "test"
    assert sorted(set(joined.obs.loc[test, "kind"].astype(str))) == ["1", "2", "2.5"]
    assert held.obs["kind"].tolist()[:2] == [1.0, 2.0]   # the caller's AnnData is left as it was


def test_a_class_named_all_is_benchmarked_apart_from_the_overall_rows(tmp_path):
    """A class named 'all' (the group of the indicators' overall rows) is benchmarked as any class: its per-class
    TSTR F1 is filed under its name, and the leaderboard's macro F1 is the mean of the per-class F1s (the overall
    row), not that class's own."""
    data = _numeric_labelled(40, ["all", "other"], 0)
    board = run_benchmark(data, label_key="kind", models="gaussian", out_dir=tmp_path / "b", progress=False,
                          device="cpu", metrics=["utility"], report=False)
    res = json.loads((tmp_path / "b" / "results" / "gaussian_seed0.json").read_text())
    for name in ("tstr_mlp_macro_f1", "tstr_logreg_macro_f1"):
        per = res["per_class"][name]
        assert sorted(per) == ["all", "other"]
        mean = (per["all"]["value"] + per["other"]["value"]) / 2
        assert res["metrics"][name]["value"] == pytest.approx(mean, abs=1e-12)
        assert float(board.loc[board["model"] == "gaussian", name].iloc[0]) == pytest.approx(mean, abs=1e-12)
    assert per["all"]["value"] != per["other"]["value"]   # so the mean is told from the class's own value
    tpc = json.loads((tmp_path / "b" / "plots" / "tstr_per_class.json").read_text())
    assert sorted(tpc["sets"]["gaussian"]["per_class"]) == ["all", "other"]


def test_test_file_logged_in_another_base_is_converted_to_log2(tmp_path):
    """DATA of ln(x+1) values (scanpy's log1p, uns['log1p'] = {'base': None}) and a --test file of log2(x+1)
    values (base 2): DATA is made log2(x+1) (times log2(e), exact), as rnagen evaluate scores such sets, before
    the files' samples are compared, and the note says so in a line; an AnnData given in memory is read as its
    file is (scanpy's record taken) and left unchanged. ln beside log10 (neither of base 2) is refused in one line
    naming both records. The same base in both files is joined as it is."""
    import math

    from rnagen.bench.runner import join_test_file
    from rnagen.errors import DataError
    from rnagen.pp.history import log_state

    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, 50.0, size=(12, 5))
    files = (("ln", None, np.log1p(x)), ("log2", 2, np.log2(x + 1)), ("ln2", None, np.log1p(x) + 0.1),
             ("log10", 10, np.log10(x + 1)))
    mem = {}
    for name, base, X in files:
        a = ad.AnnData(X=X.astype(np.float32), obs=pd.DataFrame({"k": ["a", "b"] * 6},
                                                                  index=[f"{name}{i}" for i in range(12)]),
                       var=pd.DataFrame(index=[f"G{j}" for j in range(5)]))
        a.uns["log1p"] = {"base": base}
        a.write_h5ad(tmp_path / f"{name}.h5ad")
        mem[name] = a
    for data in (tmp_path / "ln.h5ad", mem["ln"]):
        joined, note = join_test_file(data, tmp_path / "log2.h5ad", "k")
        assert note == ("note: DATA's ln(x+1) (scanpy's sc.pp.log1p, uns['log1p']) converted to log2(x+1) (x 1.443, "
                        "exact), the other file's base")
        assert log_state(joined)["base"] == 2.0 and joined.uns["log1p"] == {"base": 2.0}
        train = joined.X[:12]
        np.testing.assert_allclose(train, np.log2(x + 1), rtol=1e-6)
        np.testing.assert_array_equal(train, (np.log1p(x).astype(np.float32).astype(np.float64)
                                              * math.log2(math.e)).astype(np.float32))
    assert log_state(mem["ln"]) is None and "rnagen" not in mem["ln"].uns   # the caller's object unchanged
    # the test file's ln values beside DATA's log2: the test file converted, a sample in both found on one scale
    same = mem["ln"][:3].copy()
    same.obs_names = [f"log2{i}" for i in range(3)]
    with pytest.raises(DataError, match=r"^3 sample\(s\) in both DATA and the --test file under the same name"):
        join_test_file(tmp_path / "log2.h5ad", same, "k")
    with pytest.raises(DataError, match=r"^DATA records ln\(x\+1\) \(scanpy's sc\.pp\.log1p, uns\['log1p'\]\) and "
                                        r"the --test file log10\(x\+1\) \(scanpy's sc\.pp\.log1p, uns\['log1p'\]\): "
                                        r"logs of two bases; prepare both with rnagen data prepare"):
        join_test_file(tmp_path / "ln.h5ad", tmp_path / "log10.h5ad", "k")
    joined, note = join_test_file(tmp_path / "ln.h5ad", tmp_path / "ln2.h5ad", "k")
    assert joined.n_obs == 24 and note is None


def test_ceiling_outside_fits_counts_the_copies_of_the_reference_s_profiles(tmp_path, write_labelled_csv):
    """30 profiles each in the data 4 times (120 rows: 96 training, 24 held out): 72 training profiles lie outside a
    24-profile reference, more than the 50 the evaluation's fits need, but the fits also leave out every copy of
    the reference's profiles (rnagen.metrics._context.rows_outside), and fewer than 50 remain: bench.json says the
    ceiling is inside the fits, as the evaluation records. The same sizes without copies: outside."""
    from rnagen.metrics.fidelity import PCA_COMPONENTS

    unique = pd.read_csv(write_labelled_csv(tmp_path / "u.csv", n_per=10), index_col=0)
    planted = pd.concat([unique.set_axis([f"{i}_c{c}" for i in unique.index]) for c in range(4)])
    planted.to_csv(tmp_path / "copies.csv", index_label="sample")
    write_labelled_csv(tmp_path / "distinct.csv", n_per=40)
    kw = dict(label_key="kind", models="gaussian", budget="fast", evaluate_options={"n_boot": 20},
              metrics=("density", "coverage"), progress=False, device="cpu", report=False)
    flags = {}
    for name in ("copies", "distinct"):
        run_benchmark(tmp_path / f"{name}.csv", out_dir=tmp_path / name, **kw)
        settings = json.loads((tmp_path / name / "bench.json").read_text())
        assert (settings["n_train"], settings["n_test"]) == (96, 24)
        assert settings["n_train"] - settings["n_test"] > PCA_COMPONENTS   # the sizes alone: room outside
        flags[name] = settings["ceiling_outside_fits"]
    assert flags == {"copies": False, "distinct": True}
    for name, flag in flags.items():   # as the ceiling's evaluation recorded it
        assert json.loads((tmp_path / name / "results" / "real_seed0.json").read_text())["fits_outside"] is flag
    from rnagen.report import write_report

    text = " ".join(write_report(tmp_path / "copies").read_text().split())
    assert "the training set holds too few others (50 or fewer) to fit the evaluation's z-scores" in text


def test_copies_labelled_two_ways_are_warned_of_once_per_benchmark(tmp_path, labelled_csv, capsys):
    """``rnagen benchmark`` on data where profiles appear again under other ids with another label: the split and
    the evaluation's membership audit (of each row) meet the same pairs of sample ids, and the command says so
    once, with the count of such profiles and one pair."""
    from rnagen.cli.main import main

    df = pd.read_csv(labelled_csv, index_col=0)
    kinds = sorted(df["kind"].unique())
    again = df.iloc[[0, 7, 13]].copy()
    again["kind"] = [next(k for k in kinds if k != v) for v in again["kind"]]
    again.index = [f"again{i}" for i in (0, 7, 13)]
    pd.concat([df, again]).to_csv(tmp_path / "m.csv")
    assert main(["benchmark", str(tmp_path / "m.csv"), "--label-key", "kind", "--models", "gaussian", "--budget",
                 "fast", "--metrics", "precision,dcr_share", "--quiet", "--out", str(tmp_path / "b")]) == 0
    said = [ln for ln in capsys.readouterr().err.splitlines() if "appear under several sample ids" in ln]
    assert len(said) == 1, said
    assert said[0].startswith(f"rnagen: warning: 3 profile(s) appear under several sample ids with different labels "
                              f"(e.g. {df.index[0]!r} labelled {df['kind'].iloc[0]!r} and its copy 'again0'")


def test_test_file_of_another_pseudocount_is_brought_to_one_scale(tmp_path):
    """DATA recorded as log2(x+1) and a --test file as UCSC Xena's log2(TPM+0.001): the test file is made
    log2(x+1) by v' = log2(2^v - 0.001 + 1), exact, and the note says so; a test file with values below
    log2(0.001) is refused in one line naming both scales; a record of no pseudocount is joined as it is, noted."""
    from rnagen.bench.runner import join_test_file
    from rnagen.pp.history import log_state, set_log_state

    x = np.arange(60, dtype=np.float64).reshape(12, 5) * 3.7

    def write(name, X, transform, pc):
        a = ad.AnnData(X=np.asarray(X, np.float32), obs=pd.DataFrame({"k": ["a", "b"] * 6},
                                                                     index=[f"{name}{i}" for i in range(12)]),
                       var=pd.DataFrame(index=[f"G{j}" for j in range(5)]))
        set_log_state(a, logged=True, transform=transform, pseudocount=pc, base=2.0)
        a.write_h5ad(tmp_path / f"{name}.h5ad")
        return tmp_path / f"{name}.h5ad"

    data = write("p1", np.log2(x + 1), "log2(x+1)", 1.0)
    joined, note = join_test_file(data, write("xena", np.log2(x + 0.001), "log2(TPM+0.001)", 0.001), "k")
    assert note == ("note: the --test file's log2(TPM+0.001) converted to log2(x+1) (log2(2^v - 0.001 + 1), exact), "
                    "the other file's scale")
    np.testing.assert_allclose(joined.X[12:], np.log2(x + 1), atol=1e-4)
    assert log_state(joined)["pseudocount"] == 1.0
    bad = np.log2(x + 0.001)
    bad[3, 2] = -11.0
    with pytest.raises(DataError, match=r"^the --test file beside log2\(x\+1\): 1 value\(s\) of its "
                                        r"log2\(TPM\+0\.001\) "
                                        r"lie below -9\.966"):
        join_test_file(data, write("bad", bad, "log2(TPM+0.001)", 0.001), "k")
    joined, note = join_test_file(data, write("nopc", np.log2(x + 1), "log2, as given (--scale log)", None), "k")
    assert note.startswith("note: the --test file's log2, as given (--scale log) records no pseudocount beside "
                           "DATA's log2(x+1): taken as they are")
    np.testing.assert_array_equal(joined.X[12:], np.log2(x + 1).astype(np.float32))


def test_a_kill_between_the_new_leaderboard_and_its_report_leaves_no_earlier_report(tmp_path, labelled_csv,
                                                                                    monkeypatch):
    """The report of a leaderboard being replaced goes before it: a benchmark killed while writing the new report
    leaves the new leaderboard and no report (not the earlier one, which shows rows the board has not)."""
    import rnagen.report

    out = tmp_path / "b"
    args = ["benchmark", str(labelled_csv), "--label-key", "kind", "--out", str(out), "--quiet", "--metrics",
            "precision"]
    assert main([*args, "--models", "gaussian"]) == 0
    assert "gaussian" in (out / "report.html").read_text()

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(rnagen.report, "write_report", killed)
    assert main([*args, "--models", "gaussian,vae", "--set", "vae:train.steps=3",
                 "--set", "vae:train.val_fraction=0"]) == 130
    assert set(pd.read_csv(out / "leaderboard.csv")["model"]) == {"real", "gaussian", "vae"}
    assert not (out / "report.html").exists()
    monkeypatch.undo()
    assert main(["report", str(out)]) == 0 and "vae" in (out / "report.html").read_text()
