"""`rnagen train` killed with SIGKILL mid-run resumes the same validation curve: same held-out split, same
checks, same best step and patience counter as an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

pytestmark = pytest.mark.slow

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def _args(data, run):
    return ["train", str(data), "--model", "diffusion", "--label-key", "tissue", "--out", str(run), "--quiet",
            "--device", "cpu", "--seed", "2",
            "--set", "train.steps=400", "--set", "train.val_fraction=0.1", "--set", "train.val_every=20",
            "--set", "train.patience=4",
            "--set", "train.checkpoint_every=10", "--set", "network.width=32", "--set", "network.depth=1",
            "--set", "train.batch_size=32", "--set", "schedule.T=100", "--set", "sample.steps=10"]


def _run(args):
    return subprocess.run([sys.executable, "-m", "rnagen", *args], env=ENV, capture_output=True, text=True,
                          timeout=600)


def test_sigkill_then_resume_continues_the_validation_curve(tmp_path):
    from rnagen import datasets

    data = tmp_path / "train.h5ad"
    datasets.gtex26()[:, :32].copy().write_h5ad(data)  # 520 profiles: 52 held out

    full = _run(_args(data, tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    # the one line saying where it stopped and why
    assert "best validation score" in full.stdout and "at step" in full.stdout
    # and the line comparing the kept model with the per-class Gaussian on the same held-out profiles
    assert "for the per-class Gaussian fitted to the same profiles (on the same 52 held-out" in full.stdout

    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "rnagen", *_args(data, run)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = run / "checkpoint.pt"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists():
            try:
                if len(torch.load(ckpt, weights_only=True)["validation"]["curve"]) >= 2:
                    break  # at least two checks in: a best score and a patience count to carry over
            except Exception:  # replaced while being read: try again
                pass
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    state = torch.load(ckpt, weights_only=True)
    assert 0 < state["step"] and state["validation"]["stop_reason"] == ""
    assert not (run / "weights.safetensors").exists()

    resumed = _run(_args(data, run))
    assert resumed.returncode == 0, resumed.stderr
    assert (run / "validation.csv").read_text() == (tmp_path / "full" / "validation.csv").read_text()
    v_full = json.loads((tmp_path / "full" / "meta.json").read_text())["validation"]
    v_run = json.loads((run / "meta.json").read_text())["validation"]
    assert v_run == v_full
    assert (run / "weights.safetensors").read_bytes() == (tmp_path / "full" / "weights.safetensors").read_bytes()
    assert resumed.stdout.splitlines()[-1] == full.stdout.splitlines()[-1]
