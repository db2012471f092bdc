"""Time of fitting the principal-component space (``preprocess.space``) on wide data: exact against randomized SVD.

Simulated counts as ``wide_data.py`` makes them (``--samples`` x ``--genes``, 4 classes), log2(x + 1), genes
standardised; :func:`rnagen.models._subspace.fit_subspace` timed with the exact economy SVD (the threshold
``EXACT_SVD_MAX`` raised above the data's size) and with the randomized SVD the default uses beyond it, in the
same run. Printed: seconds, the components kept, the residual scale, and the largest difference between the two
fits' subspaces (principal angles) and between their residual standard deviations.

    OMP_NUM_THREADS=2 python benchmarks/subspace_fit.py --samples 3000 --genes 20000
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    """Print the comparison described in the module docstring."""
    import rnagen.models._subspace as sub
    from wide_data import simulate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=3000)
    ap.add_argument("--genes", type=int, default=20000)
    a = ap.parse_args()
    data = simulate(a.samples, a.genes)
    X = np.asarray(data.X, np.float64)
    sd = X.std(0)
    X = (X[:, sd > 0] - X[:, sd > 0].mean(0)) / sd[sd > 0]
    y = data.obs["label"].astype("category").cat.codes.to_numpy()
    fits = {}
    default = sub.EXACT_SVD_MAX
    for name, limit in (("exact SVD", 10 ** 9), ("randomized SVD (default)", default)):
        sub.EXACT_SVD_MAX = limit
        t0 = time.perf_counter()
        codec, rec = sub.fit_subspace(X, y, 4, seed=0)
        fits[name] = codec
        print(f"{name}: {time.perf_counter() - t0:.1f} s, {rec['n_components']} components, residual scale "
              f"{rec['residual_scale']:.4f}", flush=True)
    sub.EXACT_SVD_MAX = default
    e, r = fits["exact SVD"], fits["randomized SVD (default)"]
    if e.n_components == r.n_components:
        # k - |E Rᵀ|_F² is 0 when the two bases span the same subspace (the sum of the squared sines of their
        # principal angles)
        gap = e.n_components - float((e.basis.double() @ r.basis.double().T).pow(2).sum())
        print(f"subspace gap (sum of squared sines of the principal angles) {gap:.2e}, largest residual sd "
              f"difference {float((e.res_sd - r.res_sd).abs().max()):.2e}")


if __name__ == "__main__":
    main()
