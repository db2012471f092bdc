"""rnagen.tune: storage URLs, the objective's analytic cases, search spaces of every model, pruning, and
`rnagen tune` on the bundled data whose best configuration trains with `rnagen train --config`."""
from __future__ import annotations

import contextlib
import sys
import tomllib
from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import optuna
import pytest

from rnagen.cli.main import main
from rnagen.config import build_config
from rnagen.errors import ConfigError, DataError
from rnagen.models import available_models, get_model
from rnagen.models._base import _REGISTRY, Generator, PreprocessConfig, register
from rnagen.train import TrainConfig
from rnagen.tune import (
    best_config,
    get_budget,
    normalise_storage,
    objective_value,
    open_study,
    score_synthetic,
    space_for,
    split_validation,
    suggest,
    tune,
)
from rnagen.tune import spaces as spaces_mod
from rnagen.tune.study import _nest


# --- storage -------------------------------------------------------------------------------------------------
def test_storage_urls(monkeypatch):
    assert normalise_storage(None) == "sqlite:///rnagen-tune.db"
    assert normalise_storage("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    # without psycopg 3, SQLAlchemy 2.1 cannot open a bare postgresql:// URL: point it at psycopg2
    monkeypatch.setitem(sys.modules, "psycopg", None)
    assert normalise_storage("postgresql://u@h:5/db") == "postgresql+psycopg2://u@h:5/db"
    assert normalise_storage("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalise_storage("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    with pytest.raises(ConfigError, match="not a database URL"):
        normalise_storage("results.db")


# --- objective -----------------------------------------------------------------------------------------------
def _blobs(rng, n_per=30, shift=0.0):
    y = np.repeat([0, 1, 2], n_per)
    centres = np.array([[4.0, 0, 0, 0, 0], [0, 4.0, 0, 0, 0], [0, 0, 4.0, 0, 0]])
    return centres[y] + rng.normal(size=(len(y), 5)) + shift, y


def test_objective_analytic_cases():
    rng = np.random.default_rng(0)
    real, y = _blobs(rng)
    # a copy of the real set: each real k-NN ball (self + k neighbours) holds k+1 copies, so density is
    # (k+1)/k (clipped to 1 in the objective), TSTR 1, but AA_ts = 0 (copying) gives no AA credit
    s = score_synthetic(real, y, real.copy(), y, k=5)
    assert s.density == pytest.approx(6 / 5) and s.aa_ts == pytest.approx(0.0) and s.aa_score == 0.0
    assert s.tstr == 1.0
    assert objective_value(s) == pytest.approx(2.0)
    # a fresh draw of the same distribution: AA_ts near 0.5, density near 1, labels learned
    fresh, yf = _blobs(np.random.default_rng(1))
    s = score_synthetic(real, y, fresh, yf, k=5)
    assert 0.35 < s.aa_ts < 0.65 and s.aa_score > 0.7
    assert 0.7 < s.density < 1.3 and s.tstr > 0.95
    assert objective_value(s) > 2.4
    # far away: nothing real-like, fully separable
    far, yfar = _blobs(np.random.default_rng(2), shift=50.0)
    s = score_synthetic(real, y, far, yfar, k=5)
    assert s.density == 0.0 and s.aa_ts == 1.0 and s.aa_score == 0.0
    # spread far wider than the data, in many genes: every profile's nearest neighbour is real (AA_truth 1,
    # AA_syn 0), AA_ts 0.5, yet no AA credit
    wide_real = rng.normal(size=(120, 200))
    wide = np.random.default_rng(3).normal(size=(120, 200)) * 3.0
    s = score_synthetic(wide_real, np.zeros(120, int), wide, np.zeros(120, int), k=5)
    assert s.aa_ts == pytest.approx(0.5) and s.aa_score == 0.0
    # label-permuted synthetic data: TSTR far below the real-label value
    s = score_synthetic(real, y, fresh, (yf + 1) % 3, k=5)
    assert s.tstr < 0.1
    # a diverged model scores the minimum instead of raising
    s = score_synthetic(real, y, np.full_like(fresh, np.nan), yf)
    assert objective_value(s) == 0.0
    assert objective_value(s, "aa") == 0.0
    with pytest.raises(ConfigError, match="unknown objective"):
        objective_value(s, "fid")


# --- search spaces -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n in available_models() if get_model(n).__module__.startswith("rnagen.")])
def test_every_model_has_a_search_space_with_valid_keys(name):
    cls = get_model(name)
    space_for(cls)  # raises if the model has none
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for budget in ("fast", "paper"):
        for _ in range(4):
            overrides = suggest(cls, study.ask(), get_budget(budget))
            assert overrides
            cfg = build_config(cls.config_cls, overrides=_nest(overrides))  # unknown keys would raise
            if hasattr(cfg, "train"):
                lo, hi = get_budget(budget).steps
                assert lo <= cfg.train.steps <= hi


def test_the_diffusion_search_space_draws_no_schedule_that_diverges():
    """ε-prediction with the cosine schedule diverges at sampling (the config refuses it): tune never draws it."""
    cls = get_model("diffusion")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    drawn = set()
    for _ in range(60):
        overrides = suggest(cls, study.ask(), get_budget("fast"))
        cfg = build_config(cls.config_cls, overrides=_nest(overrides))   # a diverging pair would raise
        drawn.add((cfg.schedule.kind, cfg.objective.prediction))
    assert ("cosine", "v") in drawn and ("quad", "eps") in drawn and ("cosine", "eps") not in drawn


def test_split_validation_is_stratified(gtex_small):
    import anndata as ad

    a = ad.read_h5ad(gtex_small)
    tr, va = split_validation(a, label_key="tissue", val_size=0.2, seed=0)
    assert tr.n_obs + va.n_obs == a.n_obs and not set(tr.obs_names) & set(va.obs_names)
    assert (va.obs["tissue"].value_counts() == 4).all() and (tr.obs["tissue"].value_counts() == 16).all()
    small = a[np.r_[0:2, 20:a.n_obs]].copy()  # first tissue left with 2 samples
    with pytest.raises(DataError, match="fewer than 3 samples"):
        split_validation(small, label_key="tissue", val_size=0.2, seed=0)


# --- pruning, with a test model whose quality is set by one knob --------------------------------------------
@dataclass
class NoisyConfig:
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    noise: float = 1.0


class NoisyMeans(Generator):
    """Class means plus Gaussian noise of a configurable size (a stand-in for a torch model)."""

    name = "tune-noisy"
    config_cls = NoisyConfig
    uses_torch = False

    def _fit(self, X, y, *, seed, run_dir, progress, resume):
        self.means = np.stack([X[y == c].mean(0) for c in range(self.n_labels)])
        self.fit_steps = getattr(type(self), "fit_steps", []) + [self.config.train.steps]
        type(self).fit_steps = self.fit_steps

    def _sample(self, y, *, seed, batch_size, progress, **options):
        rng = np.random.default_rng(seed)
        return (self.means[y] + self.config.noise * rng.standard_normal((len(y), self.n_genes))).astype(np.float32)

    def _state_tensors(self):
        import torch

        return {"means": torch.from_numpy(self.means)}

    def _load_state_tensors(self, tensors):
        self.means = tensors["means"].numpy()


@pytest.fixture
def noisy_model():
    register(NoisyMeans)
    spaces_mod.register_space("tune-noisy")(
        lambda trial, keys: {"noise": trial.suggest_float("noise", 0.01, 20.0, log=True)})
    NoisyMeans.fit_steps = []
    yield NoisyMeans
    _REGISTRY.pop("tune-noisy", None)
    spaces_mod._SPACES.pop("tune-noisy", None)


def test_bad_trial_is_pruned_at_the_first_rung(noisy_model, gtex_small, tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = open_study(storage=storage, study_name="p")
    for noise in (0.9, 1.0, 1.1, 15.0):  # the 4th is hopeless
        study.enqueue_trial({"noise": noise, "train.steps": 400})
    study = tune(gtex_small, model="tune-noisy", label_key="tissue", trials=4, storage=storage, study_name="p",
                 budget="fast", out=tmp_path / "best.toml")
    states = [t.state for t in study.trials]
    S = optuna.trial.TrialState
    assert states == [S.COMPLETE, S.COMPLETE, S.COMPLETE, S.PRUNED]
    # the pruned trial trained once (the quarter rung: 100 of 400 steps); complete ones twice (100, 400)
    assert NoisyMeans.fit_steps == [100, 400] * 3 + [100]
    assert study.trials[3].intermediate_values.keys() == {0}
    best = tomllib.loads((tmp_path / "best.toml").read_text())
    assert best["model"] == "tune-noisy"
    assert best["noise"] == study.best_trial.params["noise"] and best["train"]["steps"] == 400
    assert {t.user_attrs["worker"] for t in study.trials} and "density" in study.best_trial.user_attrs


def test_each_trial_line_prints_the_steps_it_trained(noisy_model, gtex_small, tmp_path, capsys):
    """A space drawing its own train.steps is capped by the budget: the trial line prints the capped value
    trained (the uncapped suggestion before)."""
    spaces_mod._SPACES["tune-noisy"] = lambda trial, keys: {
        "noise": trial.suggest_float("noise", 0.5, 1.0), "train.steps": trial.suggest_int("train.steps", 5000, 6000)}
    assert main(["tune", str(gtex_small), "--model", "tune-noisy", "--label-key", "tissue", "--trials", "1",
                 "--budget", "fast", "--sampler-seed", "0", "--out", str(tmp_path / "b.toml")]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("trial 0:"))
    assert "'train.steps': 600" in line and NoisyMeans.fit_steps == [150, 600]


def test_a_diverged_trial_is_the_worst_not_the_end(noisy_model, gtex_small, tmp_path, monkeypatch):
    """A trial whose model diverges (its samples NaN: sample raises DivergedError, as fit does on a NaN loss)
    scores the worst objective and the study goes on to its other trials."""
    real = NoisyMeans._sample

    def nan_when_noisy(self, y, **kw):
        Z = real(self, y, **kw)
        return Z * np.nan if self.config.noise > 10 else Z

    monkeypatch.setattr(NoisyMeans, "_sample", nan_when_noisy)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = open_study(storage=storage, study_name="d")
    for noise in (15.0, 1.0):
        study.enqueue_trial({"noise": noise, "train.steps": 400})
    study = tune(gtex_small, model="tune-noisy", label_key="tissue", trials=2, storage=storage, study_name="d",
                 budget="fast", out=tmp_path / "best.toml")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert study.trials[0].value == 0.0 < study.trials[1].value and study.best_trial.number == 1


def test_an_interrupted_tune_keeps_the_best_so_far(gtex_small, tmp_path):
    """Ctrl-C (or SIGTERM) during a study: the best configuration of the trials completed so far is written to
    ``out`` before the interrupt goes on."""
    out = tmp_path / "best.toml"

    def stop(study, trial):
        if trial.number == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune(gtex_small, model="gaussian", label_key="tissue", trials=5, budget="fast", sampler_seed=0,
             storage=f"sqlite:///{tmp_path / 's.db'}", out=out, callbacks=[stop])
    assert tomllib.loads(out.read_text())["model"] == "gaussian"


# --- the command line on the bundled data, and the best configuration trains ------------------------------
def test_cli_tune_sqlite_then_train(gtex_small, tmp_path, capsys):
    best = tmp_path / "best.toml"
    args = ["tune", str(gtex_small), "--model", "gaussian", "--label-key", "tissue", "--trials", "2",
            "--budget", "fast", "--sampler-seed", "1", "--out", str(best)]
    assert main(args) == 0
    db = tmp_path / "rnagen-gaussian.db"  # default storage: a SQLite file next to --out
    assert db.is_file()
    # a second run joins the same study: trials add up, numbers stay distinct
    assert main(args[:7] + ["1"] + args[8:]) == 0
    out = capsys.readouterr().out
    assert "3 trials (3 complete, 0 pruned)" in out
    study = optuna.load_study(study_name="rnagen-gaussian", storage=f"sqlite:///{db}")
    assert sorted(t.number for t in study.trials) == [0, 1, 2]
    # the seeded worker that joined continued the search: no configuration of the first run replayed
    assert len({t.params["shrinkage"] for t in study.trials}) == 3
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    name, cfg = best_config(study)
    assert name == "gaussian"
    text = tomllib.loads(best.read_text())
    assert text["model"] == "gaussian" and text["covariance"] == study.best_trial.params["covariance"]
    assert text["shrinkage"] == pytest.approx(study.best_trial.params["shrinkage"])
    assert text["preprocess"]["scaler"] == study.best_trial.params["preprocess.scaler"]
    # the best configuration trains with `rnagen train --config`, and the run folder records it
    run = tmp_path / "run"
    assert main(["train", str(gtex_small), "--model", "gaussian", "--config", str(best), "--label-key", "tissue",
                 "--out", str(run), "--quiet"]) == 0
    assert tomllib.loads((run / "config.toml").read_text()) == text
    from rnagen.models import load

    syn = load(run).sample(n_per_label=3, seed=0)
    assert syn.n_obs == 30 and np.isfinite(syn.X).all()
    # --out naming the study's own database (the default one beside it, or a --storage sqlite file) is refused:
    # it replaced every trial with the TOML
    capsys.readouterr()
    before = db.read_bytes()
    for extra in ([], ["--storage", f"sqlite:///{db}"]):
        assert main(args[:-1] + [str(db)] + extra) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is the study's database" in err
        assert db.read_bytes() == before
    # --out over a file that is not a configuration tune wrote: a table, a TOML naming no generator, the
    # configuration of a trained run folder (its weights would no longer match): refused, each file unchanged
    (tmp_path / "table.csv").write_text("sample,g1\ns1,1\n")
    (tmp_path / "own.toml").write_text("[train]\nsteps = 10\n")
    for path, match in ((tmp_path / "table.csv", "give a .toml path"),
                        (tmp_path / "own.toml", "is not a configuration rnagen tune wrote"),
                        (run / "config.toml", "is the configuration of the trained run in")):
        before = path.read_bytes()
        assert main(args[:-1] + [str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and match in err, err
        assert path.read_bytes() == before


def test_tune_takes_the_label_column_the_data_record_as_train_does(gtex_small, tmp_path, capsys):
    best = tmp_path / "best.toml"
    assert main(["tune", str(gtex_small), "--model", "gaussian", "--trials", "1", "--budget", "fast",
                 "--sampler-seed", "1", "--out", str(best), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "labels: 'tissue' (the label column recorded in DATA)" in out and "--label-key tissue" in out
    study = optuna.load_study(study_name="rnagen-gaussian", storage=f"sqlite:///{tmp_path / 'rnagen-gaussian.db'}")
    assert study.user_attrs["label_key"] == "tissue"
    # a table records none: one line naming --label-key and its columns, nothing written
    table = tmp_path / "plain.csv"
    ad.read_h5ad(gtex_small).to_df().assign(tissue="x").to_csv(table)
    assert main(["tune", str(table), "--model", "gaussian", "--out", str(tmp_path / "b2.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "records no label column; pass --label-key" in err
    assert not (tmp_path / "b2.toml").exists()


def test_joining_a_study_with_other_settings_is_refused(gtex_small, tmp_path, capsys):
    base = ["tune", str(gtex_small), "--model", "gaussian", "--label-key", "tissue", "--trials", "1",
            "--budget", "fast", "--out", str(tmp_path / "b.toml"), "--quiet"]
    assert main(base) == 0
    assert main(base + ["--objective", "tstr"]) == 2
    err = capsys.readouterr().err
    assert "was started with objective='default'" in err and "\n" not in err.strip()
    # other data of the same shape (each value doubled) would add trials scored on another validation split
    other = tmp_path / "other.h5ad"
    a = ad.read_h5ad(gtex_small)
    a.X = np.asarray(a.X) * 2
    a.write_h5ad(other)
    assert main(base[:1] + [str(other)] + base[2:]) == 2
    err = capsys.readouterr().err
    assert "tunes on other data" in err and "\n" not in err.strip()
    assert main(base[:2] + ["--model", "nope"] + base[4:]) == 2


# --- a study database the file system refuses -----------------------------------------------------------------
def test_a_full_disk_at_the_study_database_is_one_line_and_leaves_no_empty_database(tmp_path, monkeypatch):
    """SQLite creates the database file, then fails on a full disk ('database or disk is full'): one line naming
    the full disk and the fix, and the empty file it created removed."""
    import sqlalchemy.exc

    from rnagen.errors import OutputError
    from rnagen.tune.study import open_study

    db = tmp_path / "study.db"

    class FullDisk:
        def __init__(self, url, **kw):
            db.write_bytes(b"")
            raise sqlalchemy.exc.OperationalError("CREATE TABLE studies", {},
                                                  Exception("database or disk is full"))
    monkeypatch.setattr(optuna.storages, "RDBStorage", FullDisk)
    with pytest.raises(OutputError, match=r"study database: cannot write .*study.db: no space left on the device; "
                                          r"free some space .*--storage"):
        open_study(storage=f"sqlite:///{db}", study_name="s")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_at_the_study_database_leaves_no_folder_made_for_it(gtex_small, tmp_path, monkeypatch, capsys):
    """`rnagen tune --out NEW/best.toml` on a full disk: the folder made for the study database (STUDY.db beside
    --out) is removed with the database SQLite could not fill: one line, nothing left."""
    import sqlalchemy.exc

    from rnagen.cli.main import main

    class FullDisk:
        def __init__(self, url, **kw):
            open(url.removeprefix("sqlite:///"), "wb").close()
            raise sqlalchemy.exc.OperationalError("CREATE TABLE studies", {},
                                                  Exception("database or disk is full"))
    monkeypatch.setattr(optuna.storages, "RDBStorage", FullDisk)
    out = tmp_path / "new" / "deeper" / "best.toml"
    assert main(["tune", str(gtex_small), "--model", "gaussian", "--label-key", "tissue", "--trials", "1",
                 "--budget", "fast", "--out", str(out), "--quiet", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnagen: error: study database: cannot write ") and err.count("\n") == 1, err
    assert f"{out.parent / 'rnagen-gaussian.db'}: no space left on the device" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["_create_new_trial", "set_trial_state_values"])
def test_a_study_database_filling_up_between_trials_is_one_line(gtex_small, tmp_path, monkeypatch, capsys, where):
    """The disk fills while a worker runs its trials: SQLite's 'database or disk is full' as a new trial is
    recorded (Optuna's StorageInternalError) or as a finished one is (Optuna's own AssertionError 'Should not
    reach.', the storage error its context) is one line naming the database and the fix, exit 2, the best
    configuration of the trials completed so far kept in --out."""
    import sqlalchemy.exc

    from rnagen.cli.main import main

    out = tmp_path / "best.toml"
    argv = ["tune", str(gtex_small), "--model", "gaussian", "--label-key", "tissue", "--trials", "1", "--budget",
            "fast", "--out", str(out), "--quiet", "--device", "cpu", "--sampler-seed", "0"]
    assert main(argv) == 0
    best = out.read_text()

    def full(self, *a, **k):
        try:
            raise sqlalchemy.exc.OperationalError("INSERT INTO trials", {}, Exception("database or disk is full"))
        except sqlalchemy.exc.OperationalError as e:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from e
    monkeypatch.setattr(optuna.storages.RDBStorage, where, full)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == (f"rnagen: error: study database: cannot write {tmp_path / 'rnagen-gaussian.db'}: no space left on "
                   "the device; free some space or write elsewhere (or name another with --storage "
                   "sqlite:///FILE.db)\n")
    assert out.read_text() == best and sorted(p.name for p in tmp_path.iterdir()) == ["best.toml",
                                                                                       "rnagen-gaussian.db"]


def _read_only(path):
    """Make ``path`` unwritable even for root (``chattr +i``), undone at teardown; skipped where that is not
    possible (no chattr, or a file system without the attribute). A user other than root: its mode is enough."""
    import os
    import shutil
    import subprocess

    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o444)
        return lambda: path.chmod(mode)
    if shutil.which("chattr") is None:
        pytest.skip("root ignores file modes and there is no chattr to make a file immutable")
    res = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {res.stderr.decode().strip()}")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=False)


def test_a_read_only_study_database_is_one_line_not_a_traceback(tmp_path):
    """An existing study database the worker may not write (read-only, immutable): Optuna's StorageInternalError
    ('An exception is raised during the commit') becomes one line naming the file and the fix."""
    from rnagen.errors import OutputError
    from rnagen.tune.study import open_study

    db = tmp_path / "study.db"
    open_study(storage=f"sqlite:///{db}", study_name="first")
    before = db.read_bytes()
    undo = _read_only(db)
    try:
        with pytest.raises(OutputError, match=r"study database: cannot write .*study.db: .*--storage"):
            open_study(storage=f"sqlite:///{db}", study_name="second", attrs={"model": "gaussian"})
    finally:
        undo()
    assert db.read_bytes() == before


def test_a_tune_stopped_by_sigterm_leaves_no_trial_running(gtex_small, tmp_path, monkeypatch, capsys):
    """SIGTERM (a scheduler's stop, ``timeout``) during a trial of ``rnagen tune``: the command ends in one line with
    status 143, the trial it was running is marked failed in the study (as Optuna marks one stopped by Ctrl-C), not
    left running for every worker's sampler until a heartbeat check, and the best configuration so far is written;
    a second run joins the study and completes its trials."""
    import os
    import signal

    from rnagen.tune.study import _TrialRunner

    real = _TrialRunner.evaluate
    calls = []

    def evaluate(self, cfg):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, cfg)

    monkeypatch.setattr(_TrialRunner, "evaluate", evaluate)
    best = tmp_path / "best.toml"
    args = ["tune", str(gtex_small), "--model", "gaussian", "--label-key", "tissue", "--trials", "3",
            "--budget", "fast", "--sampler-seed", "1", "--quiet", "--out", str(best)]
    assert main(args) == 143
    assert capsys.readouterr().err == "rnagen: terminated\n"
    db = f"sqlite:///{tmp_path / 'rnagen-gaussian.db'}"
    study = optuna.load_study(study_name="rnagen-gaussian", storage=db)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    assert tomllib.loads(best.read_text())["model"] == "gaussian"
    args.remove("--quiet")
    assert main(args[:7] + ["1"] + args[8:]) == 0
    assert "study 'rnagen-gaussian': 3 trials (2 complete, 0 pruned, 1 failed)" in capsys.readouterr().out
    study = optuna.load_study(study_name="rnagen-gaussian", storage=db)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "COMPLETE"]


def test_a_sqlite_database_of_another_program_is_not_taken_as_the_study_storage(gtex_small, tmp_path, capsys):
    """--storage naming a SQLite file that holds another program's tables (the user's own database): refused in one
    line before anything is written, the file byte for byte as it was (Optuna would add its 13 tables to it); an
    empty file, and a study database, are taken."""
    import sqlite3

    mine = tmp_path / "results.db"
    with contextlib.closing(sqlite3.connect(mine)) as con:
        con.execute("CREATE TABLE samples (id TEXT, tissue TEXT)")
        con.execute("INSERT INTO samples VALUES ('s1', 'Lung')")
        con.commit()
    kept = mine.read_bytes()
    args = ["tune", str(gtex_small), "--model", "gaussian", "--label-key", "tissue", "--trials", "1", "--budget",
            "fast", "--sampler-seed", "1", "--quiet", "--out", str(tmp_path / "out" / "best.toml")]
    assert main([*args, "--storage", f"sqlite:///{mine}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a SQLite database of something else (tables: samples)" in err
    assert mine.read_bytes() == kept and not (tmp_path / "out").exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    assert main([*args, "--storage", f"sqlite:///{empty}"]) == 0
    assert main([*args, "--storage", f"sqlite:///{empty}"]) == 0   # the study's own database, joined
    study = optuna.load_study(study_name="rnagen-gaussian", storage=f"sqlite:///{empty}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]


def test_a_validation_share_no_stratified_split_allows_is_named_with_the_shares_that_do(gtex_small, tmp_path, capsys):
    """3 profiles of each of 10 classes: --val-size 0.2 holds out 6, fewer than the classes, and 0.8 keeps 6, and
    each is refused naming the bound (the smallest share of 3 decimals holding out 10, the largest keeping 10);
    0.34 holds out 11, leaving a class 1 training profile, which every trial's model refuses: refused before the
    study is made, in one line with no traceback. A share within the bounds tunes."""
    from rnagen.data import read

    a = read(gtex_small)
    keep = np.concatenate([np.flatnonzero(a.obs["tissue"].to_numpy() == c)[:3] for c in a.obs["tissue"].cat.categories])
    a[keep].copy().write_h5ad(tmp_path / "small.h5ad")
    args = ["tune", str(tmp_path / "small.h5ad"), "--model", "gaussian", "--label-key", "tissue", "--trials", "1",
            "--budget", "fast", "--sampler-seed", "1", "--quiet", "--out", str(tmp_path / "t" / "best.toml")]
    for share, said in (("0.2", "--val-size 0.2 of 30 samples holds out 6, but a split stratified by 'tissue' holds "
                                "out and keeps one of each of its 10 classes; give --val-size at least 0.301"),
                        ("0.8", "holds out 24, but a split stratified by 'tissue' holds out and keeps one of each of "
                                "its 10 classes; give --val-size at most 0.666"),
                        ("0.34", "--val-size 0.34 leaves 1 class(es) of 'tissue' fewer than 2 training samples")):
        assert main([*args, "--val-size", share]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err and "Traceback" not in err, err
        assert not (tmp_path / "t").exists()
    assert main([*args, "--val-size", "0.301"]) == 0



def test_an_rnagen_error_in_a_trial_is_one_line_without_optunas_traceback(gtex_small, tmp_path, monkeypatch, capsys):
    """A trial stopped by an rnagen error (data a model refuses): Optuna's "trial failed" warning and traceback are
    dropped by the command's log filter (kept for any other exception, a bug to report); the command ends with the
    error's one line and status 2."""
    import logging

    from rnagen.cli.tune import _no_interrupt_trace
    from rnagen.tune.study import _TrialRunner

    def record(exc):
        try:
            raise exc
        except Exception:
            return logging.LogRecord("optuna", logging.WARNING, __file__, 1, "Trial 0 failed with parameters: {}",
                                     None, sys.exc_info())

    assert _no_interrupt_trace(record(DataError("refused"))) is False
    assert _no_interrupt_trace(record(ValueError("a bug"))) is True

    def evaluate(self, cfg):
        raise DataError("the model refuses these profiles; give others")

    monkeypatch.setattr(_TrialRunner, "evaluate", evaluate)
    assert main(["tune", str(gtex_small), "--model", "gaussian", "--label-key", "tissue", "--trials", "1", "--budget",
                 "fast", "--quiet", "--out", str(tmp_path / "best.toml")]) == 2
    assert capsys.readouterr().err == "rnagen: error: the model refuses these profiles; give others\n"
