"""`rnagen train` killed with SIGKILL mid-run resumes from its last checkpoint with no corrupted files."""
import os
import signal
import subprocess
import sys
import time

import anndata as ad
import numpy as np
import pytest
import torch

from rnagen.cli.main import main

pytestmark = pytest.mark.slow


def test_sigkill_then_resume(tmp_path):
    data = tmp_path / "train.h5ad"
    from rnagen import datasets

    datasets.gtex26()[:, :32].copy().write_h5ad(data)
    run = tmp_path / "run"
    args = ["train", str(data), "--model", "diffusion", "--label-key", "tissue", "--out", str(run), "--quiet",
            "--set", "train.steps=300", "--set", "train.checkpoint_every=10", "--set", "network.width=32",
            "--set", "network.depth=1", "--set", "train.batch_size=32", "--set", "schedule.T=100", "--device", "cpu",
            # the whole 300-step budget (validation-based stopping and its resume: tests/train/test_validation*)
            "--set", "train.val_fraction=0"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "rnagen", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt = run / "checkpoint.pt"
    deadline = time.time() + 120
    while time.time() < deadline and not ckpt.exists():
        time.sleep(0.2)
    assert ckpt.exists(), "no checkpoint written within 120 s"
    # kill it hard, possibly in the middle of writing the next checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    step_at_kill = torch.load(ckpt, weights_only=True)["step"]  # loads: never a half-written file
    assert 0 < step_at_kill < 300
    assert not (run / "weights.safetensors").exists()  # the run is known to be unfinished

    # the very same command resumes from the checkpoint and finishes
    assert main(args) == 0
    log = (run / "train_log.csv").read_text().splitlines()
    assert log[-1].startswith("300,")
    model_dir_files = {p.name for p in run.iterdir()}
    assert {"weights.safetensors", "meta.json", "genes.txt", "transforms.npz"} <= model_dir_files
    assert not [n for n in model_dir_files if n.startswith(".")], "temporary files left behind"
    assert main(["sample", str(run), "--n-per-label", "2", "--steps", "10", "--out", str(tmp_path / "s.h5ad"),
                 "--quiet"]) == 0
    syn = ad.read_h5ad(tmp_path / "s.h5ad")
    assert syn.shape == (52, 32) and np.isfinite(syn.X).all()
