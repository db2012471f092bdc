"""Benchmark: time and peak memory of the biology indicators (rnagen.metrics.biology) on wide and tall data.

Simulated class-structured log-scale profiles (a real held-out set, a synthetic set and a real-vs-real
reference of the same size, 26 classes), timed per indicator group exactly as ``evaluate`` runs them: DE
(each class vs the rest, Welch + BH, for the synthetic set and the reference), co-expression (pooled
within-class network at |r| > 0.3, blocked, plus the per-class networks of classes with >= 10 profiles) and
classifier concordance (logistic regression on each set). Wall and CPU seconds are both printed: on a shared
machine the wall time includes waiting for a core. Each size runs in a fresh child process so its
peak resident memory (Linux's VmHWM: ``benchmarks/_mem.py``) is its own.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/biology_timing.py --n 17000 --genes 978
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/biology_timing.py --n 1000 --genes 20000
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/biology_timing.py --row-cost

``--row-cost``: what the family adds to one row of ``rnagen benchmark`` on the bundled gtex26 (the family in
``evaluate`` with the floor, and the report's plot data ``RealReference.biology_arrays``), for a per-class
Gaussian synthetic set.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def simulate(n: int, g: int, *, seed: int, classes: int = 26):
    """Low-rank class centres, a few within-class gene modules (co-expression) and gene noise."""
    import numpy as np

    rng = np.random.default_rng(1234)  # centres and module loadings shared by every set
    centers = rng.normal(size=(classes, 20)) @ rng.normal(size=(20, g)) * 0.3
    load = rng.normal(size=(10, g)) * (rng.random((10, g)) < 0.05)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    X = centers[y] + rng.normal(size=(n, 10)) @ load + rng.normal(size=(n, g)) + 5.0
    return X.astype(np.float32), np.array([f"t{c}" for c in y])


def worker(args) -> None:
    """One size, timed in this process: prints one JSON line."""
    import torch
    from _mem import peak_mb

    from rnagen.metrics import evaluate

    torch.set_num_threads(args.threads)
    R, yr = simulate(args.n, args.genes, seed=1)
    S, ys = simulate(args.n, args.genes, seed=2)
    T, yt = simulate(args.n, args.genes, seed=3)
    out = {"n": args.n, "genes": args.genes, "threads": args.threads}
    groups = {"de": ["de_f1"], "coexpr": ["coexpr_edge_f1"], "concordance": ["concordance_jaccard"]}
    for name, metrics in groups.items():
        t0, c0 = time.perf_counter(), time.process_time()
        df = evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, metrics=metrics,
                      n_boot=0, n_boot_expensive=0)
        out[f"{name}_seconds"] = round(time.perf_counter() - t0, 2)
        out[f"{name}_cpu_seconds"] = round(time.process_time() - c0, 2)  # wall minus waiting on a shared machine
        row = df[(df["name"] == metrics[0]) & (df["group"] == "all")].iloc[0]
        out[f"{metrics[0]}"] = round(float(row["value"]), 4)
        out[f"{metrics[0]}_reference"] = round(float(row["reference"]), 4)
        out[f"{name}_scorer_seconds"] = round(df.attrs["timings"].get("biology", float("nan")), 2)
    out["peak_rss_gb"] = round(peak_mb() / 1024, 2)
    print(json.dumps(out))


def row_cost() -> None:
    """The biology family's added cost per benchmark row on gtex26 (twice: the second without first-call costs)."""
    from rnagen import datasets, metrics, pp
    from rnagen.bench.plotdata import RealReference
    from rnagen.models import get_model

    ad = datasets.gtex26()
    tr, te = pp.split(ad, label_key="tissue", test_size=0.2, seed=0)
    syn = get_model("gaussian")().fit(tr, label_key="tissue", seed=0, progress=False).sample(like=tr, seed=0,
                                                                                              progress=False)
    bio = [m for m, i in metrics.METRICS.items() if i.family == "biology" and m != "geneset_ks"]
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        metrics.evaluate(te, syn, train=tr, floor=syn, label_key="tissue", metrics=bio, n_boot=0,
                         n_boot_expensive=0)
        t1, c1 = time.perf_counter(), time.process_time()
        ref = RealReference(tr, te, label_key="tissue", seed=0)
        t2, c2 = time.perf_counter(), time.process_time()
        ref.biology_arrays(syn)
        t3, c3 = time.perf_counter(), time.process_time()
        print(json.dumps({"evaluate_wall": round(t1 - t0, 2), "evaluate_cpu": round(c1 - c0, 2),
                          "plotdata_wall": round(t3 - t2, 2), "plotdata_cpu": round(c3 - c2, 2)}))


def main() -> None:
    """Run the requested size in a child process and print its JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=17000, help="profiles per set")
    ap.add_argument("--genes", type=int, default=978)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--row-cost", action="store_true", help="the added cost per benchmark row on gtex26")
    args = ap.parse_args()
    if args.row_cost:
        row_cost()
        return
    if args.worker:
        worker(args)
        return
    cmd = [sys.executable, __file__, "--worker", "--n", str(args.n), "--genes", str(args.genes), "--threads",
           str(args.threads)]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    print(res.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
