"""Peak memory of sampling 100,000 x 978 profiles from every model (issue 15: bounded sampling memory).

Each model runs in a fresh subprocess: it trains briefly on synthetic 978-gene data (10 classes, 60 profiles
each; sampling memory does not depend on how well a model is trained), then samples with the defaults
(batch 4,096; the diffusion model with DDIM 50). Reported per model: the resident set size before sampling,
the peak during sampling (``VmHWM`` after resetting it through ``/proc/self/clear_refs``; where that is not
permitted, the whole process's: ``benchmarks/_mem.py``), the peak above the pre-sampling level, and the size of the
float32 output array itself, the reference any sampler must hold.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/sample_memory.py [--models diffusion vae wgan-gp gaussian]
        [--n 100000] [--genes 978] [--diffusion-width 512] [--diffusion-steps 50] [--write .gct .csv ...]

``--write .gct .csv ...`` also writes the sampled profiles as each of those endings (``rnagen sample --out``'s
writer, ``rnagen._io.write_profiles``) into a temporary folder and reports, per ending, the peak during the write
(reset before each) above the resident set before it, the file's size and the seconds.

``--diffusion-width`` and ``--diffusion-steps`` trade the diffusion run's time for fidelity to the defaults:
the sampler keeps only the current x and one network output per batch, so the peak does not depend on the
number of DDIM steps, and the network's activations (batch x 2 width floats) are small next to the output.
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

TRAIN = {
    "diffusion": ["train.steps=20", "train.batch_size=64", "train.checkpoint_every=20"],
    "vae": ["train.steps=20", "train.batch_size=64", "train.checkpoint_every=20"],
    "wgan-gp": ["train.steps=20", "train.batch_size=64", "train.checkpoint_every=20"],
    "gaussian": ["covariance=full"],
}


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _data(n_genes: int, n_classes: int = 10, per_class: int = 60, seed: int = 0):
    import anndata as ad
    import pandas as pd

    rng = np.random.default_rng(seed)
    centres = rng.normal(5.0, 1.5, (n_classes, n_genes))
    X = np.concatenate([c + rng.normal(0.0, 0.5, (per_class, n_genes)) for c in centres]).clip(0)
    obs = pd.DataFrame({"label": np.repeat([f"c{i}" for i in range(n_classes)], per_class)},
                       index=[f"s{i}" for i in range(len(X))])
    return ad.AnnData(X.astype(np.float32), obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(n_genes)]))


def _writes(syn, endings: list[str], exact: bool) -> list[dict]:
    """Write ``syn`` as each ending in a temporary folder: the peak during each write above the RSS before it."""
    import tempfile

    from rnagen._io import write_profiles

    out = []
    with tempfile.TemporaryDirectory() as d:
        for ending in endings:
            path = os.path.join(d, "syn" + ending)
            before = _status_kb("VmRSS")
            if exact:
                _reset_peak()
            t0 = time.perf_counter()
            write_profiles(syn, path)
            seconds = time.perf_counter() - t0
            peak = _status_kb("VmHWM") if exact else peak_mb() * 1024
            out.append({"ending": ending, "rss_before_mb": before / 1024, "peak_mb": peak / 1024,
                        "file_mb": os.path.getsize(path) / 2**20, "seconds": seconds})
            os.remove(path)
    return out


def worker(model: str, n: int, n_genes: int, width: int, steps: int, write: list[str]) -> dict:
    import torch

    from rnagen.models import get_model

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    overrides = list(TRAIN[model]) + ([f"network.width={width}"] if model == "diffusion" else [])
    gen = get_model(model).from_config(overrides=overrides).fit(_data(n_genes), label_key="label", seed=0,
                                                                 device="cpu", progress=False)
    options = {"sampler": "ddim", "steps": steps} if model == "diffusion" else {}
    before = _status_kb("VmRSS")
    exact = _reset_peak()
    t0 = time.perf_counter()
    syn = gen.sample(n, seed=1, **options)
    seconds = time.perf_counter() - t0
    peak = _status_kb("VmHWM") if exact else peak_mb() * 1024
    assert syn.shape == (n, n_genes) and np.isfinite(syn.X).all()
    return {"writes": _writes(syn, write, exact), "model": model, "n": n, "genes": n_genes, "rss_before_mb": before / 1024, "peak_mb": peak / 1024,
            "peak_exact": exact, "output_mb": syn.X.nbytes / 2**20, "seconds": seconds,
            "network_width": width if model == "diffusion" else None,
            "ddim_steps": steps if model == "diffusion" else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["diffusion", "vae", "wgan-gp", "gaussian"])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--genes", type=int, default=978)
    ap.add_argument("--diffusion-width", type=int, default=512, help="network.width (default: the model's 512)")
    ap.add_argument("--diffusion-steps", type=int, default=50, help="DDIM steps (default 50)")
    ap.add_argument("--write", nargs="*", default=[], help="endings to write the profiles as (e.g. .gct .csv)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.n, args.genes, args.diffusion_width, args.diffusion_steps,
                                args.write)))
        return
    print(f"sampling {args.n:,} x {args.genes} profiles per model, each in a fresh process, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"{'model':10s} {'RSS before':>11s} {'peak':>9s} {'peak - before':>14s} {'output array':>13s} "
          f"{'(peak-before)/output':>21s} {'seconds':>8s}")
    for m in args.models:
        cmd = [sys.executable, __file__, "--worker", m, "--n", str(args.n), "--genes", str(args.genes),
               "--diffusion-width", str(args.diffusion_width), "--diffusion-steps", str(args.diffusion_steps),
               "--write", *args.write]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(f"{m:10s} failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}")
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        above = r["peak_mb"] - r["rss_before_mb"]
        note = "" if r["peak_exact"] else " (whole process)"
        if m == "diffusion":
            note += f"  (network.width {r['network_width']}, DDIM {r['ddim_steps']})"
        print(f"{m:10s} {r['rss_before_mb']:7.0f} MiB {r['peak_mb']:5.0f} MiB {above:10.0f} MiB {r['output_mb']:9.0f} MiB "
              f"{above / r['output_mb']:21.2f} {r['seconds']:8.1f}{note}", flush=True)
        for w in r["writes"]:
            up = w["peak_mb"] - w["rss_before_mb"]
            print(f"  write {w['ending']:8s} RSS before {w['rss_before_mb']:6.0f} MiB, peak {w['peak_mb']:6.0f} MiB, "
                  f"peak - before {up:5.0f} MiB ({up / r['output_mb']:.2f} x output), file {w['file_mb']:6.0f} MiB, "
                  f"{w['seconds']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
