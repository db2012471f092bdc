"""Write simulated wide count sets for timing ``rnagen evaluate --train`` on a full transcriptome (BENCHMARKS.md,
"Wide data: 20,000 genes"): ``--train + --real + --synthetic`` profiles x ``--genes`` genes of negative binomial
counts (dispersion 5, gene means log-normal around e^3), ``--classes`` classes of equal size, 10% of the genes
shifted per class (log-normal fold, sd 0.7), a log-normal library size per profile (sd 0.3); the synthetic set is
drawn from the same process with every gene mean scaled by a log-normal factor (sd 0.1), float32, seeded. Writes
``train.h5ad``, ``real.h5ad`` and ``synthetic.h5ad`` (labels in ``obs['label']``) under ``--out``.

    OMP_NUM_THREADS=1 python benchmarks/evaluate_wide.py --genes 20000 --out /tmp/wide20k
    OMP_NUM_THREADS=1 rnagen evaluate --train /tmp/wide20k/train.h5ad --real /tmp/wide20k/real.h5ad \
        --synthetic /tmp/wide20k/synthetic.h5ad --label-key label --verbose --out /tmp/wide20k/metrics.json
"""
from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd


def _draw(rng, n: int, mu: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` profiles, classes in turn, of the per-class gene means ``mu`` (classes x genes)."""
    y = np.arange(n) % classes
    lib = rng.lognormal(0.0, 0.3, n)[:, None]
    X = np.empty((n, mu.shape[1]), np.float32)
    for s in range(0, n, 50):   # in blocks: the float64 draws of 60,000 genes stay small
        m = mu[y[s:s + 50]] * lib[s:s + 50]
        X[s:s + 50] = rng.negative_binomial(5, 5 / (5 + m))
    return X, y


def main() -> None:
    """Write the three sets."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genes", type=int, default=20000)
    ap.add_argument("--train", type=int, default=600)
    ap.add_argument("--real", type=int, default=150)
    ap.add_argument("--synthetic", type=int, default=150)
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    base = rng.lognormal(3, 1.5, a.genes)
    mu = np.tile(base, (a.classes, 1))
    for c in range(a.classes):
        hit = rng.random(a.genes) < 0.1
        mu[c, hit] *= rng.lognormal(0.0, 0.7, int(hit.sum()))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    var = pd.DataFrame(index=[f"ENSG{10**10 + j:011d}" for j in range(a.genes)])
    names = [chr(ord("a") + c) for c in range(a.classes)]
    for name, n, m in (("train", a.train, mu), ("real", a.real, mu),
                       ("synthetic", a.synthetic, mu * rng.lognormal(0.0, 0.1, a.genes))):
        X, y = _draw(rng, n, m, a.classes)
        obs = pd.DataFrame({"label": pd.Categorical([names[i] for i in y])}, index=[f"{name}{i}" for i in range(n)])
        ad.AnnData(X, obs=obs, var=var).write_h5ad(out / f"{name}.h5ad")
        print(f"{out / name}.h5ad: {n} x {a.genes}")


if __name__ == "__main__":
    main()
