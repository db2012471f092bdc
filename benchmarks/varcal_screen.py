"""Screen: per-class variance calibration of trained diffusion models' samples.

The default's samples carry about 85% of the real total variance per class (``RESULTS_objectives.md``). This
screen rescales each class's synthetic deviations from the synthetic class mean by one scalar,
``s_c = sqrt(tr Cov_train,c / tr Cov_syn,c)`` (traces in units of the training set's per-gene standard deviation;
``--power 0.5`` moves half way in log scale), which restores the spread without changing the directions, and
scores the result with the protocol of ``sampler_steps.py`` (same splits, seeds and draws: the "none" rows equal
its DPM-Solver++ 20 rows). It reads the models that ``sampler_steps.py --cache`` trained.

    OMP_NUM_THREADS=1 python benchmarks/varcal_screen.py --run 0=CACHE0/tcga_mirna4/diffusion_0 \\
        --run 1=CACHE1/tcga_mirna4/diffusion_1 --run 2=CACHE2/tcga_mirna4/diffusion_2 --json varcal.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sampler_steps import METRICS, SHORT, load_dataset, score  # noqa: E402

from rnagen import pp  # noqa: E402
from rnagen.models import load  # noqa: E402


def calibrated(X: np.ndarray, y: np.ndarray, Xtr: np.ndarray, ytr: np.ndarray, power: float) -> np.ndarray:
    """``X`` with each class's deviations from its mean scaled by ``s_c ** power`` (module docstring)."""
    sd = Xtr.std(0) + 1e-8
    out = X.copy()
    for c in np.unique(y):
        m = y == c
        s = np.sqrt((Xtr[ytr == c] / sd).var(0).sum() / (X[m] / sd).var(0).sum()) ** power
        mu = X[m].mean(0)
        out[m] = mu + s * (X[m] - mu)
    return out


def main() -> None:
    """Score every run's draws without calibration, half way and fully calibrated."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="tcga_mirna4")
    ap.add_argument("--run", action="append", required=True, help="SEED=RUN_FOLDER of a cached model")
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(1)
    adata, key = load_dataset(a.dataset)
    res: dict[str, list] = {}
    for spec in a.run:
        seed_text, folder = spec.split("=", 1)
        seed = int(seed_text)
        train, test = pp.split(adata, label_key=key, test_size=0.2, seed=seed)
        model = load(Path(folder), device="cpu")
        Xtr, ytr = np.asarray(train.X, dtype=np.float64), np.asarray(train.obs[key])
        for d in range(a.draws):
            syn = model.sample(like=test, seed=seed + 100 + 1000 * d, progress=False)
            X, y = np.asarray(syn.X, dtype=np.float64), np.asarray(syn.obs[key])
            for label, power in (("none", 0.0), ("half", 0.5), ("full", 1.0)):
                cal = syn.copy()
                cal.X = calibrated(X, y, Xtr, ytr, power).astype(np.float32)
                val, _ = score(test, cal, train, key, seed)
                res.setdefault(label, []).append(val)
                print(f"seed {seed} draw {d} {label:5s} " + " ".join(f"{SHORT[m]}={val[m]:.3f}" for m in METRICS),
                      flush=True)
    for label, vals in res.items():
        print(f"mean {label:5s} " + " ".join(f"{SHORT[m]}={np.mean([v[m] for v in vals]):.3f}" for m in METRICS))
    if a.json:
        a.json.write_text(json.dumps(res))


if __name__ == "__main__":
    main()
