"""Diffusion quality on the bundled GTEx data, next to the real-vs-real ceiling and the per-class Gaussian floor.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/diffusion_quality.py [--set train.steps=3000 ...] [--guidance 0,1]

Prints, for the held-out real test split (80/20 stratified, seed 0): density, coverage, precision, recall,
AA_ts (target 0.5) and TSTR accuracy (logistic regression) of
  * a real training subsample of the test set's size (the ceiling: what a perfect generator would score),
  * the per-class Gaussian (the floor),
  * the diffusion model (DDIM 50 steps with each guidance weight, DDPM 200 steps),
and the diffusion model's training time. Genes are z-scored with the real training statistics.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rnagen import datasets, pp
from rnagen.metrics import adversarial_accuracy, prdc, tstr
from rnagen.models import get_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", action="append", default=[], help="diffusion config override (repeatable)")
    ap.add_argument("--guidance", default="0,1", help="comma-separated guidance weights for DDIM 50")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    adata = datasets.gtex26()
    train, test = pp.split(adata, label_key="tissue", test_size=0.2, seed=args.seed)
    T = np.asarray(train.X, np.float64)
    mu, sd = T.mean(0), T.std(0)
    sd[sd == 0] = 1.0
    z = lambda a: (np.asarray(a.X, np.float64) - mu) / sd  # noqa: E731
    R, yr = z(test), test.obs["tissue"].astype(str).to_numpy()

    print(f"{'set':34s} {'density':>8s} {'coverage':>9s} {'precision':>9s} {'recall':>7s} {'AA_ts':>6s} "
          f"{'TSTR':>6s} {'train s':>8s}")

    def row(name: str, syn, seconds: float) -> None:
        S = z(syn)
        p = prdc(R, S, k=10)
        aa = adversarial_accuracy(R, S)["aa_ts"]
        acc = tstr(S, syn.obs["tissue"].astype(str).to_numpy(), R, yr, classifier="logreg", seeds=(0,))["accuracy"]
        print(f"{name:34s} {p['density']:8.3f} {p['coverage']:9.3f} {p['precision']:9.3f} {p['recall']:7.3f} "
              f"{aa:6.3f} {acc:6.3f} {seconds:8.1f}", flush=True)

    rng = np.random.default_rng(args.seed)
    row("real train subsample (ceiling)", train[rng.choice(train.n_obs, test.n_obs, replace=False)], 0.0)
    t0 = time.perf_counter()
    g = get_model("gaussian")().fit(train, label_key="tissue", seed=args.seed, progress=False)
    row("per-class Gaussian (floor)", g.sample(like=test, seed=args.seed), time.perf_counter() - t0)

    m = get_model("diffusion").from_config(overrides=args.set)
    m.fit(train, label_key="tissue", seed=args.seed, progress=False)
    for w in (float(x) for x in args.guidance.split(",")):
        row(f"diffusion DDIM 50, guidance {w:g}", m.sample(like=test, seed=args.seed, steps=50, guidance=w),
            m.train_seconds)
    row("diffusion DDPM 200", m.sample(like=test, seed=args.seed, sampler="ddpm", steps=200), m.train_seconds)
    if args.set:
        print("overrides:", " ".join(args.set))


if __name__ == "__main__":
    main()
