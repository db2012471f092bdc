"""The correlation score's two routes (``rnagen.metrics.correlation_score``) timed on wide and tall data.

``method="genes"`` forms the G x G correlation matrices in row blocks, O((n_a + n_b) G^2); ``"samples"`` forms
the n x n Gram matrices, O((n_a + n_b)^2 G); ``"auto"`` (what ``evaluate`` uses) takes the cheaper. Each row
prints both routes' value and seconds on the same simulated sets (20 latent factors plus gene noise, float32),
so the reference is measured in the same run. ``evaluate`` calls the score about 22 times (the estimate, 20
m-out-of-n bootstrap replicates of at most 1,000 profiles, the real-vs-real reference), and again for the floor.

    OMP_NUM_THREADS=2 python benchmarks/correlation_wide.py --threads 2
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    """Print one line per (n, G) and route."""
    from rnagen.metrics import correlation_score

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shapes", nargs="+", default=["80x20000", "1000x20000", "5000x978"], metavar="NxG")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print("| profiles per set | genes | route | score | seconds |")
    print("|---|---|---|---|---|")
    for shape in args.shapes:
        n, g = (int(v) for v in shape.split("x"))
        L = rng.normal(size=(g, 20)).astype(np.float32)
        X = rng.normal(size=(n, 20)).astype(np.float32) @ L.T + rng.normal(size=(n, g)).astype(np.float32)
        Y = rng.normal(size=(n, 20)).astype(np.float32) @ L.T + rng.normal(size=(n, g)).astype(np.float32)
        auto = "samples" if 2 * n < g else "genes"
        for m in ("samples", "genes"):
            t = time.perf_counter()
            v = correlation_score(X, Y, method=m)
            tag = f"{m} (auto)" if m == auto else m
            print(f"| {n} | {g} | {tag} | {v:.6f} | {time.perf_counter() - t:.2f} |", flush=True)


if __name__ == "__main__":
    main()
