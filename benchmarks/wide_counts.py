"""Write a wide count matrix as an .h5ad for the data commands' memory figures (BENCHMARKS.md, "The copy search on a
wide matrix"): N profiles x G genes of negative binomial counts (dispersion 5, gene means log-normal around e^3),
four classes of equal size, float32, seeded.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/wide_counts.py --samples 2000 --genes 20000 --out wide.h5ad
"""
from __future__ import annotations

import argparse

import anndata as ad
import numpy as np
import pandas as pd


def main() -> None:
    """Write the file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--genes", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    mu = rng.lognormal(3, 1.5, a.genes)
    X = rng.negative_binomial(5, 5 / (5 + mu), size=(a.samples, a.genes)).astype(np.float32)
    labels = np.repeat(["a", "b", "c", "d"], -(-a.samples // 4))[:a.samples]
    adata = ad.AnnData(X, obs=pd.DataFrame({"label": pd.Categorical(labels)},
                                           index=[f"s{i}" for i in range(a.samples)]),
                       var=pd.DataFrame(index=[f"ENSG{10**10 + j:011d}" for j in range(a.genes)]))
    adata.write_h5ad(a.out)
    print(f"{a.out}: {a.samples} x {a.genes}, {X.nbytes / 2**20:.1f} MiB as float32")


if __name__ == "__main__":
    main()
