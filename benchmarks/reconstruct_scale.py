"""Scale of the landmark -> full-transcriptome reconstruction (issue 6).

A simulated matrix of the paper's TCGA shape: 10,000 samples x (978 inputs + 19,553 targets), low-rank
structure (50 latent factors) plus gene-specific noise, on a log2-like scale. Each measurement runs in its own
subprocess so its peak resident memory (Linux's VmHWM: ``benchmarks/_mem.py``) is its own:

- ``ours``    ``rnagen.reconstruct.fit(..., method="linear")``: transforms, the 15-penalty validation choice and
              the refit on all samples, i.e. the whole public call;
- ``sklearn`` reference: ``sklearn.linear_model.Ridge`` for ONE penalty on the same z-scored data (what one
              would otherwise run once per penalty);
- ``mlp``     the default D-GEX MLP, seconds per epoch (2 epochs).

Usage::

    OMP_NUM_THREADS=2 python benchmarks/reconstruct_scale.py [--n 10000] [--inputs 978] [--targets 19553]
        [--parts ours,sklearn,mlp] [--mlp-device cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from _mem import peak_mb


def simulate(n: int, p: int, q: int, *, rank: int = 50, seed: int = 0):
    import anndata as ad
    import pandas as pd

    rng = np.random.default_rng(seed)
    G = p + q
    Z = rng.normal(size=(n, rank)).astype(np.float32)
    L = (rng.normal(size=(rank, G)) / np.sqrt(rank)).astype(np.float32)
    noise = rng.uniform(0.3, 1.0, size=G).astype(np.float32)
    X = np.empty((n, G), dtype=np.float32)
    for s in range(0, n, 1000):   # blockwise: never a float64 copy of the whole matrix
        b = slice(s, s + 1000)
        X[b] = Z[b] @ L + noise * rng.standard_normal(size=(X[b].shape[0], G), dtype=np.float32) + 8.0
    names = [f"g{i:05d}" for i in range(G)]
    a = ad.AnnData(X=X, var=pd.DataFrame(index=pd.Index(names)))
    return a, names[:p]


def _maxrss_gb() -> float:
    return peak_mb() / 1024


def part_ours(a, inputs, args) -> dict:
    import rnagen.reconstruct as rc

    base = _maxrss_gb()
    t = time.perf_counter()
    rec = rc.fit(a, inputs=inputs, method="linear", seed=0)
    sec = time.perf_counter() - t
    f = rec.meta["fit"]
    return {"seconds": sec, "seconds_preprocess": rec.meta["seconds"]["preprocess"],
            "seconds_solver": rec.meta["seconds"]["fit"], "n_penalties": len(f["alphas"]),
            "alpha": f["alpha"], "val_r2_mean": f["val_r2_mean"], "maxrss_data_gb": base,
            "maxrss_gb": _maxrss_gb(), "coef_checksum": float(np.abs(rec.coef).sum())}


def part_sklearn(a, inputs, args) -> dict:
    from sklearn.linear_model import Ridge

    import rnagen.reconstruct as rc

    # the same z-scored inputs/targets our fit uses (transform time not counted for the reference)
    from rnagen.reconstruct.model import _fit_pipeline

    p = len(inputs)
    _, Xz = _fit_pipeline(a.X, np.arange(p), log=False, what="inputs")
    _, Yz = _fit_pipeline(a.X, np.arange(p, a.n_vars), log=False, what="targets")
    del a
    base = _maxrss_gb()
    alpha = args.alpha
    t = time.perf_counter()
    m = Ridge(alpha=alpha * Xz.shape[0], fit_intercept=True).fit(Xz, Yz)
    sec = time.perf_counter() - t
    # agreement with our closed form at the same penalty
    ours = rc.fit_ridge(Xz, Yz, val_idx=None, alphas=[alpha])
    diff = float(np.max(np.abs(m.coef_.T - ours.coef)))
    return {"seconds": sec, "alpha": alpha, "maxrss_data_gb": base, "maxrss_gb": _maxrss_gb(),
            "max_abs_coef_diff_vs_ours": diff, "max_abs_coef": float(np.max(np.abs(ours.coef)))}


def part_mlp(a, inputs, args) -> dict:
    import rnagen.reconstruct as rc

    base = _maxrss_gb()
    t = time.perf_counter()
    rec = rc.fit(a, inputs=inputs, method="mlp", seed=0, device=args.mlp_device,
                 overrides=["mlp.max_epochs=2", "mlp.patience=10"])
    sec = time.perf_counter() - t
    h = rec.history
    per_epoch = [h[0]["seconds"]] + [h[i]["seconds"] - h[i - 1]["seconds"] for i in range(1, len(h))]
    return {"seconds": sec, "seconds_per_epoch": per_epoch, "device": rec.meta["fit"]["device"],
            "hidden": rec.config.mlp.hidden, "batch_size": rec.config.mlp.batch_size,
            "val_mse": [r["val_mse"] for r in h], "maxrss_data_gb": base, "maxrss_gb": _maxrss_gb()}


PARTS = {"ours": part_ours, "sklearn": part_sklearn, "mlp": part_mlp}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="samples")
    ap.add_argument("--inputs", type=int, default=978, help="input genes")
    ap.add_argument("--targets", type=int, default=19_553, help="target genes")
    ap.add_argument("--parts", default="ours,sklearn,mlp", help="comma-separated: ours, sklearn, mlp")
    ap.add_argument("--alpha", type=float, default=1e-2, help="per-sample penalty of the sklearn reference")
    ap.add_argument("--mlp-device", default="cpu", help="device of the MLP part")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)   # internal: run one part in this process
    args = ap.parse_args()
    if args.one:
        import torch

        torch.set_num_threads(min(2, torch.get_num_threads()))
        a, inputs = simulate(args.n, args.inputs, args.targets)
        print(json.dumps(PARTS[args.one](a, inputs, args)))
        return
    print(f"shape: {args.n} samples x {args.inputs} inputs -> {args.targets} targets; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, cpus={os.cpu_count()}", flush=True)
    res = {}
    for part in args.parts.split(","):
        cmd = [sys.executable, __file__, "--one", part, "--n", str(args.n), "--inputs", str(args.inputs),
               "--targets", str(args.targets), "--alpha", str(args.alpha), "--mlp-device", args.mlp_device]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"part {part} failed")
        res[part] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{part}: {json.dumps(res[part])}", flush=True)
    if "ours" in res:
        o = res["ours"]
        print(f"\nlinear (ours, {o['n_penalties']} penalties + refit, transforms included): {o['seconds']:.1f} s, "
              f"peak RSS {o['maxrss_gb']:.2f} GB (data alone {o['maxrss_data_gb']:.2f} GB); chosen alpha "
              f"{o['alpha']:g}, validation mean R² {o['val_r2_mean']:.3f}")
    if "sklearn" in res:
        s = res["sklearn"]
        print(f"sklearn Ridge, one penalty: {s['seconds']:.1f} s, peak RSS {s['maxrss_gb']:.2f} GB; max |coef "
              f"difference| vs ours {s['max_abs_coef_diff_vs_ours']:.2e} (max |coef| {s['max_abs_coef']:.2f})")
        if "ours" in res:
            o = res["ours"]
            t, k = o["seconds_solver"], o["n_penalties"]
            print(f"ratio (solver only, both on the same z-scored data): ours for all {k} penalties + refit "
                  f"{t:.1f} s / sklearn for one penalty {s['seconds']:.1f} s = {t / s['seconds']:.2f}x; a sklearn "
                  f"grid of {k} fits would take ~{k * s['seconds']:.0f} s -> ours is {k * s['seconds'] / t:.1f}x faster")
    if "mlp" in res:
        m = res["mlp"]
        print(f"mlp (hidden {m['hidden']}, batch {m['batch_size']}, {m['device']}): "
              f"{', '.join(f'{x:.1f}' for x in m['seconds_per_epoch'])} s per epoch; peak RSS {m['maxrss_gb']:.2f} GB")


if __name__ == "__main__":
    main()
