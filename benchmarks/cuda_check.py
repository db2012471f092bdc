"""The diffusion model on a CUDA machine: the device picked automatically, training and sampling throughput next
to the matmul rooflines measured in the same run, the paper's denoiser's training step, and a model trained on
the GPU loaded and sampled on the CPU.

Parts (``--parts``, default all):
  matmul   float32 (TF32 off), TF32 and bf16 matmul 8192^3 on the GPU: the rooflines
  train    the default diffusion model (``device="auto"``) on the bundled gtex26, stratified 80/20 split (seed 0):
           the device it trained on, seconds, steps, and the validation stop line
  sample   sampling throughput of that model on the GPU (100,000 profiles: DPM-Solver++ 10 and 20, DDIM 50; 10,000
           with DDPM 1000), and of the default network for 978 genes with random weights, as profiles/s, seconds
           per 1,000 and the fraction of the float32 / TF32 roofline reached (FLOPs of the Linear layers)
  paper    the paper's GTEx denoiser (the ``paper`` budget: width 8192, depth 2, 978 genes, batch 2048, bf16
           autocast): seconds per training step, from two run lengths (their difference over the extra steps),
           next to the reference's 23.7 s per step on a 2-core CPU (``../shared/REFERENCE.md``), and what its
           15,000 epochs of 17,000 profiles would take at that rate
  cpu      the gtex26 model trained on the GPU, saved, loaded with ``device="cpu"`` and sampled there (2,600
           profiles on each device): finite, with the same per-gene means and standard deviations as the GPU's
           samples within sampling noise (mean differences over the pooled sd, for the genes not constant in both)

Usage (on a machine with a CUDA GPU; ``--quick`` shrinks every size to check the script on a CPU)::

    python benchmarks/cuda_check.py [--parts matmul,train,sample,paper,cpu] [--quick]
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time

import numpy as np
import torch


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def matmul_tflops(dtype: torch.dtype, *, tf32: bool, n: int, reps: int, device: str) -> float:
    """TFLOP/s of ``reps`` n x n matrix products (after three warm-ups)."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync()
    return reps * 2 * n ** 3 / (time.perf_counter() - t0) / 1e12


def part_matmul(args) -> dict[str, float]:
    """The rooflines: float32 without and with TF32, and bf16."""
    n, reps = (512, 3) if args.quick else (8192, 10)
    roof = {"fp32": matmul_tflops(torch.float32, tf32=False, n=n, reps=reps, device=args.device),
            "tf32": matmul_tflops(torch.float32, tf32=True, n=n, reps=reps, device=args.device),
            "bf16": matmul_tflops(torch.bfloat16, tf32=False, n=n, reps=reps, device=args.device)}
    torch.backends.cuda.matmul.allow_tf32 = False
    for k, v in roof.items():
        print(f"matmul {n}^3 {k}: {v:8.1f} TFLOP/s", flush=True)
    return roof


def _split(adata, label_key: str, seed: int = 0):
    from sklearn.model_selection import train_test_split

    lab = adata.obs[label_key].astype(str).to_numpy()
    tr, te = train_test_split(np.arange(adata.n_obs), test_size=0.2, stratify=lab, random_state=seed)
    return adata[tr].copy(), adata[te].copy()


def part_train(args):
    """The default diffusion model trained on gtex26 with ``device="auto"``."""
    from rnagen.datasets import gtex26
    from rnagen.models import get_model
    from rnagen.train.validation import describe

    train, test = _split(gtex26(), "tissue")
    over = ["train.steps=40"] if args.quick else []
    gen = get_model("diffusion").from_config(overrides=over)
    t0 = time.perf_counter()
    gen.fit(train, label_key="tissue", seed=0, progress=False)   # device "auto"
    sec = time.perf_counter() - t0
    v = getattr(gen, "validation", None)
    print(f"default diffusion on gtex26 ({train.n_obs} x {train.n_vars}): device {gen.device}, "
          f"{sec:.1f} s wall, {gen.train_seconds:.1f} s in training; {describe(v) if v else ''}", flush=True)
    return gen, train, test


def _sample_rate(gen, n: int, **opts) -> float:
    gen.sample(n_per_label=1, seed=0, **opts)   # warm-up
    _sync()
    per = max(1, n // len(gen.labels))
    t0 = time.perf_counter()
    syn = gen.sample(n_per_label=per, seed=1, progress=False, **opts)
    _sync()
    return syn.n_obs / (time.perf_counter() - t0)


def part_sample(args, gen, roof: dict[str, float] | None) -> None:
    """Sampling throughput of the trained model and of the 978-gene default network."""
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from diffusion_bench import random_model

    big = 2_000 if args.quick else 100_000
    rand = random_model()
    rand.device = torch.device(args.device)
    rand.net.to(rand.device)
    for name, model in (("gtex26 model (467 genes)", gen), ("default network, 978 genes, random weights", rand)):
        if model is None:
            continue
        flops = model.net.flops_per_sample()
        for sampler, steps, n in (("dpm++", 10, big), ("dpm++", 20, big), ("ddim", 50, big),
                                  ("ddpm", 1000, big // 10)):
            rate = _sample_rate(model, n, sampler=sampler, steps=steps)
            tflops = rate * steps * flops / 1e12
            frac = "" if not roof else (f" = {tflops / roof['fp32']:.2f} of fp32 matmul, "
                                        f"{tflops / roof['tf32']:.2f} of TF32")
            print(f"{name}: {sampler} {steps:4d} steps, {n} profiles: {rate:12.0f} profiles/s "
                  f"({1000 / rate:.4f} s per 1,000); {tflops:.2f} TFLOP/s{frac} ({flops / 1e6:.2f} MFLOP/profile/step)",
                  flush=True)


def part_paper(args) -> None:
    """Seconds per training step of the ``paper`` budget's denoiser at batch 2048."""
    import anndata as ad

    from rnagen.bench.budgets import budget_overrides
    from rnagen.models import get_model

    genes, n, labels = (50, 256, 4) if args.quick else (978, 4096, 26)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(labels), n // labels)
    X = (rng.normal(size=(len(y), genes)) + y[:, None] * 0.1).astype(np.float32)
    adata = ad.AnnData(X)
    adata.obs["label"] = [f"c{v}" for v in y]
    adata.var_names = [f"g{i}" for i in range(genes)]
    base = [o for o in budget_overrides("diffusion", "paper", n_train=len(y)) if not o.startswith("train.steps=")]
    if args.quick:
        base = [o if not o.startswith("network.width=") else "network.width=64" for o in base]
    secs = {}
    short, long_ = (3, 8) if args.quick else (20, 120)
    for steps in (short, long_):
        gen = get_model("diffusion").from_config(overrides=[*base, f"train.steps={steps}",
                                                            "train.checkpoint_every=100000"])
        gen.fit(adata, label_key="label", seed=0, progress=False)
        secs[steps] = gen.train_seconds
        params = sum(p.numel() for p in gen.net.parameters())
        print(f"paper denoiser ({params / 1e6:.1f} M parameters, {genes} genes, batch "
              f"{gen.config.train.batch_size}, amp {gen.config.train.amp}) on {gen.device}: {steps} steps in "
              f"{secs[steps]:.2f} s", flush=True)
    per = (secs[long_] - secs[short]) / (long_ - short)
    recipe = math.ceil(15000 * 17000 / 2048)
    print(f"paper denoiser: {per * 1000:.1f} ms per training step (batch 2048) against 23.7 s on a 2-core CPU "
          f"(REFERENCE.md): {23.7 / per:.0f}x; the 15,000-epoch recipe on 17,000 profiles ({recipe} steps) "
          f"~{recipe * per / 60:.0f} min", flush=True)


def part_cpu(args, gen, test) -> None:
    """The GPU-trained model saved, loaded on the CPU and sampled on both devices."""
    from rnagen.models import load

    with tempfile.TemporaryDirectory() as d:
        gen.save(d)
        cpu = load(d, device="cpu")
        per = 4 if args.quick else 100
        a = gen.sample(n_per_label=per, seed=3, progress=False)
        b = cpu.sample(n_per_label=per, seed=3, progress=False)
    A, B = np.asarray(a.X, dtype=np.float64), np.asarray(b.X, dtype=np.float64)
    sd = np.sqrt((A.var(0) + B.var(0)) / 2)
    live = sd > 0
    dmean = np.abs(A.mean(0) - B.mean(0))[live] / sd[live]
    ratio = B.std(0)[live] / np.maximum(A.std(0)[live], 1e-12)
    n = B.shape[0]
    print(f"trained on {gen.device}, loaded on {cpu.device}: {n} profiles each, finite {np.isfinite(B).all()}; "
          f"{int((~live).sum())} genes constant in both; per-gene mean difference / pooled sd: median "
          f"{np.median(dmean):.3f}, 99th percentile {np.quantile(dmean, 0.99):.3f}, max {dmean.max():.3f} (two "
          f"independent draws of {n}: ~{math.sqrt(2 / n) * 0.674:.3f} median expected); sd ratio CPU / GPU median "
          f"{np.median(ratio):.3f}", flush=True)


def main() -> None:
    """Run the parts asked for."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="matmul,train,sample,paper,cpu")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, to check the script (also on a CPU)")
    args = ap.parse_args()
    args.device = "cuda" if torch.cuda.is_available() else "cpu"
    parts = set(args.parts.split(","))
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    print(f"torch {torch.__version__}, {name}", flush=True)
    roof = part_matmul(args) if "matmul" in parts else None
    gen = test = None
    if parts & {"train", "sample", "cpu"}:
        gen, _, test = part_train(args)
    if "sample" in parts:
        part_sample(args, gen, roof)
    if "cpu" in parts:
        part_cpu(args, gen, test)
    if "paper" in parts:
        part_paper(args)


if __name__ == "__main__":
    main()
