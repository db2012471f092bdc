"""The VAE's training length x observation-noise scale x temperature, under the judging protocol.

For each split seed (``benchmarks/quality.py``'s stratified 80/20 split of the bundled GTEx subset) the VAE is
fitted once per training length; every (noise_scale, temperature) sampler setting then draws a test-sized set
(fidelity, privacy) and a training-sized set (TSTR), scored by ``quality.score`` next to the real-vs-real
ceiling and the per-class Gaussian floor of the same split. Prints one row per (seed, setting), then the means
over seeds with the indicators that beat the floor.

    .venv/bin/python benchmarks/vae_sweep.py --seeds 0 1 2 3 4 --steps 1500 3000
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import METRICS, PRIVACY, SHORT, beats, score  # noqa: E402  (the judging protocol, shared)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--steps", nargs="+", type=int, default=[1500, 3000])
    ap.add_argument("--noise-scales", nargs="+", type=float, default=[0.25, 0.5, 0.75])
    ap.add_argument("--temperatures", nargs="+", type=float, default=[0.8, 1.0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from rnagen import datasets, pp
    from rnagen.models import get_model

    a = datasets.gtex26()
    cols = METRICS + PRIVACY
    variants = [dict(noise_scale=n, temperature=t) for n in args.noise_scales for t in args.temperatures]
    rows: dict[str, list[dict]] = {}
    for seed in args.seeds:
        tr, te = pp.split(a, label_key="tissue", test_size=0.2, seed=seed)
        g = get_model("gaussian").from_config().fit(tr, label_key="tissue", seed=seed, progress=False)
        r = score(te, g.sample(like=te, seed=seed + 100), tr, seed, syn_tstr=g.sample(like=tr, seed=seed + 200))
        rows.setdefault("real", []).append(r["reference"])
        rows.setdefault("gaussian", []).append(r["value"])
        for steps in args.steps:
            m = get_model("vae").from_config(overrides=[f"train.steps={steps}"])
            m.fit(tr, label_key="tissue", seed=seed, progress=False)
            for v in variants:
                r = score(te, m.sample(like=te, seed=seed + 100, **v), tr, seed,
                          syn_tstr=m.sample(like=tr, seed=seed + 200, **v))
                key = f"vae {steps} ns={v['noise_scale']} T={v['temperature']}"
                rows.setdefault(key, []).append(r["value"])
                print(seed, key, " ".join(f"{SHORT[x]}={r['value'][x]:.3f}" for x in cols), flush=True)
    mean = {k: {x: float(np.mean([r[x] for r in rs])) for x in cols} for k, rs in rows.items()}
    print(f"\nmeans over seeds {args.seeds}")
    for k in rows:
        won = [SHORT[x] for x in METRICS if k not in ("real", "gaussian")
               and beats(x, mean[k][x], mean["gaussian"][x], mean["real"][x])]
        print(f"{k:28s}", " ".join(f"{SHORT[x]}={mean[k][x]:.3f}" for x in cols), " beats:", ",".join(won))


if __name__ == "__main__":
    main()
