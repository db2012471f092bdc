"""The VAE's training length x latent size x observation noise (scale, covariance) x temperature, under the
judging protocol.

For each split seed (``benchmarks/quality.py``'s stratified 80/20 split of the bundled GTEx subset) the VAE is
fitted once per (training length, latent size); every (noise_scale, noise_covariance, temperature) sampler
setting then draws ``--draws`` pairs of a test-sized set (fidelity, privacy) and a training-sized set (TSTR),
each scored by ``quality.score`` next to the real-vs-real ceiling and the per-class Gaussian floor of the same
split (the Gaussian also drawn ``--draws`` times); a split's value is the mean over its draws, which removes
most of the sampling noise of one draw (AA_ts moves by ~0.02 between draws of the same model). Prints one row
per (seed, setting), then the means over seeds with the indicators that beat the floor and on how many splits.

    .venv/bin/python benchmarks/vae_sweep.py --seeds 0 1 2 3 4 --steps 1500 3000
    .venv/bin/python benchmarks/vae_sweep.py --seeds 0 1 2 3 4 --latent-dims 16 32 --noise-covariances full \
        diagonal --noise-scales 0.75 0.85 --temperatures 1.0 --draws 3
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import METRICS, PRIVACY, SHORT, beats, score_draws  # noqa: E402  (the judging protocol, shared)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--steps", nargs="+", type=int, default=[1500, 3000])
    ap.add_argument("--noise-scales", nargs="+", type=float, default=[0.25, 0.5, 0.75])
    ap.add_argument("--temperatures", nargs="+", type=float, default=[0.8, 1.0])
    ap.add_argument("--latent-dims", nargs="+", type=int, default=[16])
    ap.add_argument("--noise-covariances", nargs="+", default=["diagonal"], help="the model's default: diagonal")
    ap.add_argument("--draws", type=int, default=1, help="synthetic draws per setting and split (averaged)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from rnagen import datasets, pp
    from rnagen.models import get_model

    a = datasets.gtex26()
    cols = METRICS + PRIVACY
    variants = [dict(noise_scale=n, noise_covariance=c, temperature=t) for n in args.noise_scales
                for c in args.noise_covariances for t in args.temperatures]
    rows: dict[str, list[dict]] = {}

    def scored(model, tr, te, seed, **opts) -> tuple[dict, dict]:
        res, _ = score_draws(model, tr, te, seed, args.draws, **opts)
        return res["value"], res["reference"]

    for seed in args.seeds:
        tr, te = pp.split(a, label_key="tissue", test_size=0.2, seed=seed)
        g = get_model("gaussian").from_config().fit(tr, label_key="tissue", seed=seed, progress=False)
        value, reference = scored(g, tr, te, seed)
        rows.setdefault("real", []).append(reference)
        rows.setdefault("gaussian", []).append(value)
        for steps in args.steps:
            for latent in args.latent_dims:
                full = "full" in args.noise_covariances  # the full factor is computed at fit time when asked
                m = get_model("vae").from_config(overrides=[f"train.steps={steps}", f"network.latent_dim={latent}"]
                                                 + (["sample.noise_covariance=full"] if full else []))
                m.fit(tr, label_key="tissue", seed=seed, progress=False)
                for v in variants:
                    value, _ = scored(m, tr, te, seed, **v)
                    key = (f"vae {steps} z{latent} {v['noise_covariance'][:4]} ns={v['noise_scale']} "
                           f"T={v['temperature']}")
                    rows.setdefault(key, []).append(value)
                    print(seed, key, " ".join(f"{SHORT[x]}={value[x]:.3f}" for x in cols), flush=True)
    mean = {k: {x: float(np.mean([r[x] for r in rs])) for x in cols} for k, rs in rows.items()}
    print(f"\nmeans over seeds {args.seeds}")
    n = len(args.seeds)
    for k in rows:
        won = []
        for x in METRICS:
            if k in ("real", "gaussian") or not beats(x, mean[k][x], mean["gaussian"][x], mean["real"][x]):
                continue
            per_split = sum(beats(x, rows[k][i][x], rows["gaussian"][i][x], rows["real"][i][x]) for i in range(n))
            won.append(f"{SHORT[x]}({per_split}/{n})")
        print(f"{k:36s}", " ".join(f"{SHORT[x]}={mean[k][x]:.3f}" for x in cols), " beats:", ",".join(won))


if __name__ == "__main__":
    main()
