"""Two `rnagen tune` workers share one study on a real PostgreSQL server (started here on 127.0.0.1).

Checks: every requested trial is in the study exactly once (distinct, contiguous trial numbers; all
COMPLETE or PRUNED), both workers contributed, and the best configuration trains with `rnagen train
--config`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest

from pg_server import find_pg_bin, start_server

pytestmark = pytest.mark.postgres

TRIALS = (2, 2)


@pytest.fixture(scope="module")
def pg():
    if find_pg_bin() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin; "
                    "install the Debian package 'postgresql' (.ci/run does)")
    pytest.importorskip("psycopg2", reason="psycopg2-binary is not installed (pip install 'rnagen[postgres]')")
    srv = start_server()
    try:
        srv.create_database("rnagen")
        yield srv
    finally:
        srv.stop()


def test_two_workers_share_one_study(pg, gtex_small, tmp_path):
    import optuna

    url = pg.url("rnagen")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    workers = []
    for i, n in enumerate(TRIALS):
        cmd = [sys.executable, "-m", "rnagen", "tune", str(gtex_small), "--model", "gaussian", "--label-key",
               "tissue", "--trials", str(n), "--budget", "fast", "--storage", url, "--study", "shared",
               "--sampler-seed", str(i), "--out", str(tmp_path / f"best{i}.toml")]
        workers.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [w.communicate(timeout=300) for w in workers]
    for w, (out, err) in zip(workers, outs):
        assert w.returncode == 0, out[-2000:] + err[-2000:]

    study = optuna.load_study(study_name="shared", storage=url.replace("postgresql://", "postgresql+psycopg2://"))
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == sum(TRIALS)
    assert sorted(t.number for t in trials) == list(range(sum(TRIALS)))
    assert len({t._trial_id for t in trials}) == sum(TRIALS)
    ok = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    assert all(t.state in ok for t in trials), [t.state for t in trials]
    # both workers took trials from the one study
    by_worker = {}
    for t in trials:
        by_worker[t.user_attrs["worker"]] = by_worker.get(t.user_attrs["worker"], 0) + 1
    assert sorted(by_worker.values()) == sorted(TRIALS)

    # the best configuration over all workers trains
    best = study.best_trial
    final = [tomllib.loads((tmp_path / f"best{i}.toml").read_text()) for i in range(2)]
    assert any(f["shrinkage"] == pytest.approx(best.params["shrinkage"]) for f in final)
    best_toml = next(tmp_path / f"best{i}.toml" for i, f in enumerate(final)
                     if f["shrinkage"] == pytest.approx(best.params["shrinkage"]))
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "rnagen", "train", str(gtex_small), "--model", "gaussian", "--config",
                        str(best_toml), "--label-key", "tissue", "--out", str(run), "--quiet"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert tomllib.loads((run / "config.toml").read_text())["covariance"] == best.params["covariance"]
