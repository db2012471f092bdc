"""Benchmark: rnagen.metrics.prdc against the reference ``prdc`` package (Naeem et al., NAVER), same data,
same run; then the full ``rnagen.metrics.evaluate`` on 17,000 x 978 simulated profiles.

Each measurement runs in a fresh child process so its peak resident memory (Linux's VmHWM: ``benchmarks/_mem.py``)
is its own.
The reference package is a benchmark-only dependency: ``.venv/bin/pip install prdc``.

    .venv/bin/python benchmarks/metrics_prdc.py --n 17000 --genes 978 --threads 2
    .venv/bin/python benchmarks/metrics_prdc.py --n 5000 --genes 978 --threads 2 --no-evaluate
    .venv/bin/python benchmarks/metrics_prdc.py --n 17000 --threads 2 --no-reference --evaluate-train --evaluate-floor
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def simulate(n: int, g: int, *, seed: int, classes: int = 26, shift: float = 0.0):
    """Class-structured log-expression-like profiles: low-rank class centres + gene noise."""
    import numpy as np

    rng = np.random.default_rng(1234)  # shared centres and loadings
    centers = rng.normal(size=(classes, 20)) @ rng.normal(size=(20, g)) * 0.3
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    X = centers[y] + rng.normal(size=(n, g)) + shift
    return X.astype(np.float32), np.array([f"t{c}" for c in y])


def worker(args) -> None:
    import resource

    import numpy as np
    import torch
    from _mem import peak_mb

    torch.set_num_threads(args.threads)
    d = np.load(args.data)
    real, fake = d["real"], d["fake"]
    base = peak_mb()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if args.worker == "ours":
        from rnagen.metrics import prdc

        res = prdc(real, fake, k=args.k)
    elif args.worker == "ref":
        import contextlib
        import io

        from prdc import compute_prdc

        with contextlib.redirect_stdout(io.StringIO()):
            res = {k: float(v) for k, v in compute_prdc(real, fake, args.k).items()}
    elif args.worker == "evaluate":
        from rnagen.metrics import evaluate

        kw = {}
        if "train" in d:
            kw = {"train": d["train"], "train_labels": d["train_labels"]}
        if "floor" in d:
            kw.update(floor=d["floor"], floor_labels=d["floor_labels"])
        df = evaluate(real, fake, real_labels=d["real_labels"], synthetic_labels=d["fake_labels"], k=args.k,
                      **kw)
        res = {"table": df[df.group == "all"][["name", "value", "ci_low", "ci_high", "reference"]].to_dict("records"),
               "timings": df.attrs["timings"]}
    dt = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    peak = peak_mb()
    cpu = (ru.ru_utime - ru0.ru_utime) + (ru.ru_stime - ru0.ru_stime)
    print(json.dumps({"seconds": dt, "cpu_s": cpu, "peak_mb": peak, "base_mb": base, "result": res}))


def run_child(kind: str, data: str, a) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    out = subprocess.run([sys.executable, __file__, "--worker", kind, "--data", data, "--k", str(a.k),
                          "--threads", str(a.threads)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=17000, help="profiles per set")
    p.add_argument("--genes", type=int, default=978)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-reference", action="store_true", help="skip the reference prdc package")
    p.add_argument("--no-evaluate", action="store_true", help="skip the full evaluate() timing")
    p.add_argument("--evaluate-train", action="store_true", help="also pass a real training set to evaluate()")
    p.add_argument("--evaluate-floor", action="store_true",
                   help="also pass a floor set (`rnagen evaluate --train` fits one by default); needs --evaluate-train")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--data", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a)
    import numpy as np

    tmp = tempfile.mkdtemp(prefix="rnagen_bench_")
    real, yr = simulate(a.n, a.genes, seed=1)
    fake, yf = simulate(a.n, a.genes, seed=2, shift=0.05)
    path = os.path.join(tmp, "d.npz")
    np.savez(path, real=real, fake=fake, real_labels=yr, fake_labels=yf)
    print(f"# {a.n} real x {a.n} synthetic profiles, {a.genes} genes, k={a.k}, torch/BLAS threads={a.threads}")
    ours = run_child("ours", path, a)
    print(f"rnagen.metrics.prdc : {ours['seconds']:7.2f} s (CPU {ours['cpu_s']:.1f} s)  peak RSS {ours['peak_mb']:7.0f} MB "
          f"(data+imports {ours['base_mb']:.0f} MB)  {ours['result']}")
    if not a.no_reference:
        ref = run_child("ref", path, a)
        print(f"prdc (reference)    : {ref['seconds']:7.2f} s (CPU {ref['cpu_s']:.1f} s)  peak RSS {ref['peak_mb']:7.0f} MB "
              f"(data+imports {ref['base_mb']:.0f} MB)  {ref['result']}")
        diff = {k: ours["result"][k] - ref["result"][k] for k in ref["result"]}
        print(f"difference (ours - reference): {diff}")
        print(f"speed-up {ref['seconds'] / ours['seconds']:.1f}x wall, {ref['cpu_s'] / ours['cpu_s']:.1f}x CPU; extra memory over data: ours "
              f"{ours['peak_mb'] - ours['base_mb']:.0f} MB vs reference {ref['peak_mb'] - ref['base_mb']:.0f} MB")
        # the <= fix: a set in which every profile appears k+1 times (radius 0); identical sets
        rng = np.random.default_rng(0)
        base = rng.normal(size=(100, 16)).astype(np.float32)
        dup = np.repeat(base, a.k + 1, axis=0)
        np.savez(path, real=dup, fake=dup.copy(), real_labels=yr[:1], fake_labels=yf[:1])
        o2, r2 = run_child("ours", path, a), run_child("ref", path, a)
        print(f"identical sets, each profile repeated k+1 times: ours {o2['result']}  reference {r2['result']}")
        np.savez(path, real=base, fake=base.copy(), real_labels=yr[:1], fake_labels=yf[:1])
        o3, r3 = run_child("ours", path, a), run_child("ref", path, a)
        print(f"identical sets of distinct profiles: ours {o3['result']}  reference {r3['result']}")
    if not a.no_evaluate:
        kw = {}
        if a.evaluate_train:
            train, yt = simulate(a.n, a.genes, seed=3)
            kw = {"train": train, "train_labels": yt}
        if a.evaluate_floor:
            if not a.evaluate_train:
                raise SystemExit("--evaluate-floor needs --evaluate-train: the floor's gap is measured to the ceiling")
            floor, yfl = simulate(a.n, a.genes, seed=4, shift=0.1)
            kw.update(floor=floor, floor_labels=yfl)
        np.savez(path, real=real, fake=fake, real_labels=yr, fake_labels=yf, **kw)
        ev = run_child("evaluate", path, a)
        what = ("with train and floor" if "floor" in kw else "with train") if kw else "without train"
        print(f"evaluate() {what}, labels (26 classes): {ev['seconds']:.1f} s (CPU {ev['cpu_s']:.1f} s), "
              f"peak RSS {ev['peak_mb']:.0f} MB; per family: "
              + ", ".join(f"{k} {v:.1f}" for k, v in ev["result"]["timings"].items()))
        for r in ev["result"]["table"]:
            print(f"  {r['name']:<22} {r['value']:.4g} [{r['ci_low']:.4g}, {r['ci_high']:.4g}] ref {r['reference']:.4g}")


if __name__ == "__main__":
    main()
