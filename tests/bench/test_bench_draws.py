"""``run_benchmark(draws=N)`` / ``rnagen benchmark --draws N``: several synthetic sets per trained model, each
scored against the same held-out profiles, a row's indicators their mean and their spread reported."""
import json

import numpy as np
import pandas as pd
import pytest

from rnagen.bench import run_benchmark
from rnagen.bench.runner import draw_seed
from rnagen.cli.main import main

EVAL = {"n_boot": 20, "n_boot_expensive": 2, "classifier_seeds": (0,), "epochs": 2}
METRICS = ["precision", "recall", "density", "coverage", "aa_ts", "tstr_mlp_accuracy"]


def _results(out):
    return {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}


def test_draw_seeds_are_the_run_seed_then_distinct_from_every_run_seed():
    assert draw_seed(7, 0) == 7
    seeds = [draw_seed(s, d) for s in range(50) for d in range(1, 5)]
    assert len(set(seeds)) == len(seeds) and not set(seeds) & set(range(50))
    assert all(0 <= x < 2 ** 32 for x in seeds) and draw_seed(3, 2) == draw_seed(3, 2)


def test_draws_are_averaged_and_the_first_draw_is_the_one_draw_benchmark(tmp_path, labelled_csv, monkeypatch):
    """Three draws of the Gaussian: the first is the set a one-draw benchmark scores (the same values), the
    others are other sets; the row's values, CI bounds and references are the draws' means, ``draw_sd`` their
    spread and the leaderboard's ``<indicator>_draw_sd`` that spread;
    the real row is scored once, as without draws; a rerun resumes, another number of draws redoes the row."""
    from rnagen import metrics

    kw = dict(label_key="kind", models="gaussian", progress=False, report=False, evaluate_options=EVAL,
              metrics=METRICS, seed=2)
    one = run_benchmark(labelled_csv, out_dir=tmp_path / "one", **kw).set_index("model")
    three = run_benchmark(labelled_csv, out_dir=tmp_path / "three", draws=3, **kw).set_index("model")
    r1, r3 = _results(tmp_path / "one"), _results(tmp_path / "three")
    assert json.loads((tmp_path / "three" / "bench.json").read_text())["draws"] == 3
    assert "draws" not in r1["gaussian_seed0"] and "draw_sd" not in r1["gaussian_seed0"]["metrics"]["precision"]
    draws = r3["gaussian_seed0"]["draws"]
    assert [d["seed"] for d in draws] == [2, draw_seed(2, 1), draw_seed(2, 2)]
    first = {n: m["value"] for n, m in r1["gaussian_seed0"]["metrics"].items()}
    assert draws[0]["values"] == pytest.approx(first, nan_ok=True)
    # the other draws are other synthetic sets: their values differ from the first's
    assert len({d["values"]["aa_ts"] for d in draws}) == 3
    met = r3["gaussian_seed0"]["metrics"]
    for name in ("precision", "density", "coverage", "aa_ts", "tstr_mlp_accuracy"):
        vals = [d["values"][name] for d in draws]
        assert met[name]["value"] == pytest.approx(np.mean(vals))
        assert met[name]["draw_sd"] == pytest.approx(np.std(vals, ddof=1))
        assert three.loc["gaussian", f"{name}_draw_sd"] == pytest.approx(np.std(vals, ddof=1))
        assert three.loc["gaussian", name] == pytest.approx(np.mean(vals))
    # the CI bounds and the reference are the draws' means too: the held-out profiles and evaluation are shared,
    # so the TRTR reference (real-trained classifier) is the same on every draw and the one-draw run's
    assert met["trtr_accuracy"]["value"] == pytest.approx(r1["gaussian_seed0"]["metrics"]["trtr_accuracy"]["value"])
    assert met["precision"]["ci_low"] <= met["precision"]["value"] <= met["precision"]["ci_high"]
    # the real row is one set (the training profiles): scored once, the same as without draws
    assert r3["real_seed0"]["metrics"] == r1["real_seed0"]["metrics"] and "draws" not in r3["real_seed0"]
    assert "precision_draw_sd" not in one.columns and np.isnan(three.loc["real", "precision_draw_sd"])
    # the saved synthetic set is the first draw's, the one-draw benchmark's
    import anndata as ad

    a = ad.read_h5ad(tmp_path / "one" / "runs" / "gaussian_seed0" / "synthetic_gaussian.h5ad")
    b = ad.read_h5ad(tmp_path / "three" / "runs" / "gaussian_seed0" / "synthetic_gaussian.h5ad")
    np.testing.assert_array_equal(np.asarray(a.X), np.asarray(b.X))

    calls = {"evaluate": 0}
    evaluate = metrics.evaluate

    def counting(*a, **k):
        calls["evaluate"] += 1
        return evaluate(*a, **k)

    monkeypatch.setattr(metrics, "evaluate", counting)
    run_benchmark(labelled_csv, out_dir=tmp_path / "three", draws=3, **kw)
    assert calls["evaluate"] == 0                      # resumed: nothing redone
    run_benchmark(labelled_csv, out_dir=tmp_path / "three", draws=2, **kw)
    assert calls["evaluate"] == 2                      # the Gaussian row's two draws; the real row kept
    assert len(_results(tmp_path / "three")["gaussian_seed0"]["draws"]) == 2
    run_benchmark(labelled_csv, out_dir=tmp_path / "three", **kw)
    assert calls["evaluate"] == 3 and "draws" not in _results(tmp_path / "three")["gaussian_seed0"]


def test_reconstructed_rows_average_the_same_draws(tmp_path, labelled_csv, landmarks_and_full):
    """With reconstruction, each draw is completed to full profiles and scored; the reconstructed row's values
    are their mean, recorded with the draws' seeds."""
    data_csv, full_path = landmarks_and_full(labelled_csv, tmp_path, labels_in_full=True)
    out = tmp_path / "rec"
    board = run_benchmark(data_csv, label_key="kind", models="gaussian", reconstruct="linear", full=full_path,
                          out_dir=out, progress=False, report=False, draws=2, evaluate_options=EVAL,
                          metrics=["precision", "coverage", "aa_ts"]).set_index("model")
    res = _results(out)["gaussian_seed0"]
    sub = res["reconstructed"]["linear"]
    assert [d["seed"] for d in sub["draws"]] == [d["seed"] for d in res["draws"]]
    for name in ("precision", "coverage", "aa_ts"):
        vals = [d["values"][name] for d in sub["draws"]]
        assert sub["metrics"][name]["value"] == pytest.approx(np.mean(vals))
        assert board.loc["gaussian+linear", name] == pytest.approx(np.mean(vals))
        assert board.loc["gaussian+linear", f"{name}_draw_sd"] == pytest.approx(np.std(vals, ddof=1))
    assert sub["sample_seconds"] >= res["sample_seconds"]


def test_cli_draws_option_report_and_bad_values(tmp_path, labelled_csv, capsys):
    out = tmp_path / "cli"
    args = ["benchmark", str(labelled_csv), "--label-key", "kind", "--models", "gaussian", "--quiet",
            "--metrics", "precision,recall,aa_ts"]
    assert main([*args, "--out", str(out), "--draws", "2"]) == 0
    text = capsys.readouterr().out
    assert "one synthetic draw per trained model" not in text
    html = (out / "report.html").read_text()
    assert "2 synthetic draws per training" in html and "between draws" in html
    board = pd.read_csv(out / "leaderboard.csv").set_index("model")
    assert np.isfinite(board.loc["gaussian", "aa_ts_draw_sd"])
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert "one synthetic draw per trained model" in capsys.readouterr().out
    one = (tmp_path / "one" / "report.html").read_text()
    # no spread between draws in the cells, and the command line's note on it in the page as well
    assert "between draws</span>" not in one and 'id="one-draw"' in one and 'id="one-draw"' not in html
    # bad values: one line naming the option, exit 2, nothing written
    for bad in ("0", "-1", "1.5", "two"):
        with pytest.raises(SystemExit) as e:
            main([*args, "--out", str(tmp_path / "bad"), "--draws", bad])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--draws" in err and "Traceback" not in err
        assert not (tmp_path / "bad").exists()
    with pytest.raises(Exception, match="draws"):
        run_benchmark(labelled_csv, label_key="kind", models="gaussian", out_dir=tmp_path / "api", draws=0,
                      progress=False)
    assert not (tmp_path / "api").exists()
