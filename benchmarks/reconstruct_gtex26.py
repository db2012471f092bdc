"""Reconstruction quality on real data: the bundled GTEx subset (520 samples, 26 tissues, 467 genes).

gtex26 holds only 20 L1000 landmarks, so the input set is chosen: the 100 most variable genes of the training
split, and, as a second set, 100 genes drawn at random (seed 0). Train/test: stratified by tissue, test size
0.2, seed 42 (``rnagen data split``). Both methods are fitted on the training split and scored on the test
split; the reference row is the trivial predictor (each target at its training mean), whose R² is <= 0.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/reconstruct_gtex26.py [--methods linear,mlp] [--genes-out DIR]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="linear,mlp")
    ap.add_argument("--genes-out", default=None, help="also write the two genes files here (for the CLI)")
    args = ap.parse_args()

    import torch

    import rnagen.reconstruct as rc
    from rnagen import datasets
    from rnagen.pp import split

    torch.set_num_threads(min(2, torch.get_num_threads()))
    train, test = split(datasets.gtex26(), label_key="tissue", test_size=0.2, seed=42)
    X = np.asarray(train.X)
    sets = {
        "top-variance 100": [train.var_names[i] for i in sorted(np.argsort(-X.var(0), kind="stable")[:100])],
        "random 100": [train.var_names[i] for i in sorted(np.random.default_rng(0).choice(train.n_vars, 100,
                                                                                          replace=False))],
    }
    if args.genes_out:
        d = Path(args.genes_out)
        d.mkdir(parents=True, exist_ok=True)
        for name, genes in sets.items():
            (d / f"genes_{name.split()[0].replace('-', '_')}.txt").write_text("\n".join(genes) + "\n")
    print(f"train {train.n_obs} / test {test.n_obs} samples, {train.n_vars} genes")
    print(f"{'inputs':18s} {'method':8s} {'R² median [q1, q3]':>26s} {'r median':>9s} {'MSE':>7s} {'MAE':>7s} {'fit s':>6s}")
    for name, genes in sets.items():
        tg = [g for g in train.var_names if g not in set(genes)]
        mu = X[:, [train.var_names.get_loc(g) for g in tg]].mean(0)
        Yt = np.asarray(test[:, tg].X, dtype=np.float64)
        r2_mean = rc.gene_scores(Yt, np.broadcast_to(mu, Yt.shape))[0]
        print(f"{name:18s} {'mean':8s} {np.nanmedian(r2_mean):10.3f} {'':15s} {'-':>9s} "
              f"{np.mean((Yt - mu) ** 2):7.4f} {np.mean(np.abs(Yt - mu)):7.4f} {'-':>6s}")
        for method in args.methods.split(","):
            t = time.perf_counter()
            rec = rc.fit(train, inputs=genes, method=method, label_key="tissue", seed=0, device="cpu")
            sec = time.perf_counter() - t
            s = rec.score(test, per_gene=False)
            r2 = s["r2"]
            print(f"{name:18s} {method:8s} {r2['median']:10.3f} [{r2['q1']:.3f}, {r2['q3']:.3f}] "
                  f"{s['pearson']['median']:9.3f} {s['mse']:7.4f} {s['mae']:7.4f} {sec:6.1f}")


if __name__ == "__main__":
    main()
