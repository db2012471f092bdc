"""``rnagen benchmark --privacy-budgets``: private rows next to the others, with their guarantee recorded."""
import importlib.util
import json
from pathlib import Path

import pytest

from rnagen.bench.privacy import parse_privacy_budgets, parse_private_row, private_row_name
from rnagen.cli.main import main
from rnagen.errors import ConfigError

pytest.importorskip("opacus")

_spec = importlib.util.spec_from_file_location("rnagen_tests_tiny_bench_dp", Path(__file__).with_name("tiny_bench.py"))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)
TINY_EVAL, TINY_METRICS, TINY_OVERRIDES, write_labelled_csv = (tiny.TINY_EVAL, tiny.TINY_METRICS,
                                                               tiny.TINY_OVERRIDES, tiny.write_labelled_csv)

TINY_PRIVATE = {**TINY_OVERRIDES,
                "vae": ["network.hidden=[16]", "network.latent_dim=3", "train.steps=10", "train.batch_size=16"]}
TINY_PRIVATE["wgan-gp"] = ["network.generator_hidden=[16]", "network.critic_hidden=[16]", "train.steps=10",
                          "train.batch_size=16"]
TINY_PRIVATE["diffusion"] = TINY_OVERRIDES["diffusion"] + ["network.width=16", "network.depth=1", "train.steps=10",
                                                           "train.batch_size=16"]


def test_budget_list_and_row_names():
    assert parse_privacy_budgets("1, 4,10,4") == [1.0, 4.0, 10.0]
    assert private_row_name("diffusion", 1.0) == "diffusion-dp-eps1"
    assert private_row_name("vae", 0.5) == "vae-dp-eps0.5"
    assert parse_private_row("gaussian-dp-eps10") == ("gaussian", 10.0)
    assert parse_private_row("wgan-gp-dp-eps1") == ("wgan-gp", 1.0)
    # a row of no private family, or of a family name that is none
    assert parse_private_row("dpm++") is None and parse_private_row("ddim-dp-eps1") is None
    for bad in ("0", "-1", "x", "nan"):
        with pytest.raises(ConfigError, match="--privacy-budgets"):
            parse_privacy_budgets(bad)
    for empty in ("", ",", " , "):   # no private rows and exit 0 before
        with pytest.raises(ConfigError, match="names no epsilon"):
            parse_privacy_budgets(empty)
    with pytest.raises(ConfigError, match=r"1.0 and 1.0000001 name one row \(eps1\)"):
        parse_privacy_budgets("1,1.0000001")   # both rows were named diffusion-dp-eps1, one trained


@pytest.mark.slow
def test_private_rows_are_trained_scored_and_plotted(tmp_path):
    from rnagen.bench import run_benchmark

    csv = write_labelled_csv(tmp_path / "expr.csv")
    out = tmp_path / "bench"
    board = run_benchmark(csv, label_key="kind", models="gaussian", out_dir=out, budget="fast",
                          overrides=TINY_PRIVATE, evaluate_options=TINY_EVAL, metrics=TINY_METRICS, progress=False,
                          device="cpu", privacy_budgets="3")
    rows = list(board["model"])
    want = [f"{f}-dp-eps{e}" for f in ("diffusion", "vae", "wgan-gp", "gaussian") for e in (3,)]
    assert set(want) <= set(rows)
    for row in want:
        meta = json.loads((out / "runs" / f"{row}_seed0" / "meta.json").read_text())
        # the finished private folder keeps no digest of the split's profiles: the run's marker is beside it
        assert not (out / "runs" / f"{row}_seed0" / "bench_fingerprint.txt").exists()
        assert (out / "runs" / f"{row}_seed0.fingerprint").is_file()
        eps = float(row.rsplit("eps", 1)[1])
        assert eps - 0.011 < meta["privacy"]["epsilon"] <= eps + 1e-9, row
        acc = float(board.loc[board["model"] == row, "tstr_mlp_accuracy"].iloc[0])
        assert 0.0 <= acc <= 1.0
        # the leaderboard carries the guarantee each row's model spent, not its name's target
        got = board.loc[board["model"] == row, ["epsilon", "delta"]].iloc[0]
        assert got["epsilon"] == pytest.approx(meta["privacy"]["epsilon"], rel=1e-9)
        assert got["delta"] == pytest.approx(meta["privacy"]["delta"], rel=1e-9)
    assert board.loc[~board["model"].isin(want), "epsilon"].isna().all()
    assert {"epsilon", "delta"} <= set(json.loads((out / "leaderboard.json").read_text())["columns"])
    # a private diffusion run is trained for its fixed length, with the user's settings on top of the row's
    meta = json.loads((out / "runs" / "diffusion-dp-eps3_seed0" / "meta.json").read_text())
    assert meta["privacy"]["steps"] == 10 and meta["validation"]["stop_reason"] == "no_validation"
    report = (out / "report.html").read_text()
    assert "Utility against the privacy budget" in report
    # run again: every private model is loaded, not trained again; a folder holding its marker inside (as
    # written by an earlier version) has it moved out
    runs = out / "runs"
    (runs / "vae-dp-eps3_seed0.fingerprint").replace(runs / "vae-dp-eps3_seed0" / "bench_fingerprint.txt")
    stamps = {row: (out / "runs" / f"{row}_seed0" / "weights.safetensors").stat().st_mtime_ns for row in want}
    run_benchmark(csv, label_key="kind", models="gaussian", out_dir=out, budget="fast", overrides=TINY_PRIVATE,
                  evaluate_options=TINY_EVAL, metrics=TINY_METRICS, progress=False, device="cpu", privacy_budgets="3")
    for row in want:
        assert (out / "runs" / f"{row}_seed0" / "weights.safetensors").stat().st_mtime_ns == stamps[row], row
        assert not (out / "runs" / f"{row}_seed0" / "bench_fingerprint.txt").exists()


def test_cli_refuses_bad_budgets_before_writing(tmp_path, capsys):
    csv = write_labelled_csv(tmp_path / "expr.csv")
    out = tmp_path / "b"
    assert main(["benchmark", str(csv), "--label-key", "kind", "--models", "gaussian", "--out", str(out),
                 "--privacy-budgets", "1,0"]) == 2
    err = capsys.readouterr().err
    assert "--privacy-budgets" in err and len(err.strip().splitlines()) == 1
    assert not (out / "bench.json").exists()


def test_an_unreachable_epsilon_is_refused_before_any_row_is_trained(tmp_path, capsys):
    """ε = 1e-9: the private diffusion and WGAN-GP rows release statistics first, the VAE's DP-SGD alone needs a
    noise past the search's bound; each would fail when its row starts, after the rows before it were trained.
    The plans are checked for the split's training profiles before anything is written."""
    csv = write_labelled_csv(tmp_path / "expr.csv")
    out = tmp_path / "b"
    for budgets in ("2,1e-9", "2,1e-3"):   # at δ = 1/33 the first covers a release with δ alone
        assert main(["benchmark", str(csv), "--label-key", "kind", "--models", "gaussian", "--out", str(out),
                     "--privacy-budgets", budgets]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("rnagen: error:") and "privacy.epsilon" in err[-1], budgets
        assert "Traceback" not in "".join(err) and not out.exists()
    # the VAE alone (its private row without a released statistic): DP-SGD's noise search refuses it
    from rnagen.bench.privacy import private_rows
    from rnagen.bench.runner import _check_private_plans

    vae = {k: v for k, v in private_rows([1e-9]).items() if k.startswith("vae")}
    with pytest.raises(ConfigError, match="cannot be reached"):
        _check_private_plans(vae, budget="fast", overrides=None, n_train=400)
    _check_private_plans(private_rows([2.0]), budget="fast", overrides=None, n_train=96)   # reachable: no error


def test_report_plots_utility_and_attack_auc_against_epsilon_when_the_columns_exist():
    from rnagen.report import _privacy_figures

    rows = [{"model": "dpm++", "tstr_mlp_accuracy": 0.9, "mia_gan_leaks_auc": 0.6, "detection_auc": 0.7,
             "tstr_mlp_auc": 0.9},
            {"model": "diffusion-dp-eps1", "tstr_mlp_accuracy": 0.3, "mia_gan_leaks_auc": 0.5},
            {"model": "diffusion-dp-eps10", "tstr_mlp_accuracy": 0.6, "mia_gan_leaks_auc": 0.52},
            {"model": "gaussian-dp-eps1", "tstr_mlp_accuracy": 0.2}]
    (fig,) = _privacy_figures(rows)
    assert "mia_gan_leaks_auc" in fig["caption"]
    assert "detection_auc" not in fig["caption"] and "tstr_mlp_auc" not in fig["caption"]
    assert fig["img"]  # a PNG, base64
    no_attack = [{k: v for k, v in r.items() if k != "mia_gan_leaks_auc"} for r in rows]
    (fig,) = _privacy_figures(no_attack)
    assert "membership" not in fig["caption"]
    assert _privacy_figures([{"model": "dpm++", "tstr_mlp_accuracy": 0.9}]) == []


def test_private_rows_run_on_every_split(tmp_path, monkeypatch):
    """With --splits, each private row is trained and scored on every split, against that split's held-out
    profiles (its ceiling the real row of the same split). The rows of a torch model and of the Gaussian (every
    family's rows are trained in test_private_rows_are_trained_scored_and_plotted)."""
    import rnagen.bench.privacy as bench_privacy
    from rnagen.bench import run_benchmark

    every = bench_privacy.private_rows
    monkeypatch.setattr(bench_privacy, "private_rows", lambda eps: every(eps, families=("vae", "gaussian")))

    csv = write_labelled_csv(tmp_path / "expr.csv")
    out = tmp_path / "bench"
    board = run_benchmark(csv, label_key="kind", models="gaussian", out_dir=out, budget="fast",
                          overrides={"vae": TINY_PRIVATE["vae"]}, evaluate_options=TINY_EVAL, metrics=TINY_METRICS,
                          progress=False, device="cpu", privacy_budgets="3", splits=2, report=False).set_index("model")
    assert {r for r in board.index if "-dp-" in r} == {"vae-dp-eps3", "gaussian-dp-eps3"}
    for row in ("vae-dp-eps3", "gaussian-dp-eps3"):
        assert board.loc[row, "n_seeds"] == 2
        for k in (0, 1):
            res = json.loads((out / "results" / f"{row}_seed{k}.json").read_text())
            real = json.loads((out / "results" / f"real_seed{k}.json").read_text())
            assert res["split_seed"] == k
            assert res["metrics"]["precision"]["reference"] == pytest.approx(real["metrics"]["precision"]["value"])
