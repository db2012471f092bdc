"""Private diffusion settings against TSTR, one configuration per call (issue 18: noise multiplicity and
DP-suited settings, Dockhorn et al. 2022).

The benchmark's split (stratified 80/20, seed 0 or ``--split-seed``, :func:`rnagen.pp.split`), one private diffusion model trained
on the training split at ``privacy.epsilon=EPS`` with the given overrides, a synthetic set with the training
split's label mix sampled by DPM-Solver++ in 20 steps, and the ``fast`` budget's TSTR (MLP, classifier seed 0)
against the held-out split, with density and coverage:

    python benchmarks/privacy_dpm_sweep.py --dataset mirna4 --eps 10 --set objective.noise_multiplicity=16 ...

Prints one markdown row: the overrides, σ, ε spent, TSTR, density, coverage, training seconds.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch


def main() -> None:
    """Train, sample and score one private diffusion configuration."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="mirna4")
    ap.add_argument("--data-dir", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--eps", type=float, default=10.0, help="privacy.epsilon; 0 trains without privacy")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--split-seed", type=int, default=0, help="seed of the stratified 80/20 split (and of training)")
    ap.add_argument("--sampler", default="dpm++", help="the sampler of the synthetic set (dpm++, ddim, ddpm)")
    ap.add_argument("--adam-eps", type=float, default=None,
                    help="AdamW's eps term for this process (a larger one damps the steps of noise-dominated "
                         "coordinates, as SGD would); the loop's default otherwise")
    ap.add_argument("--clip-x0", type=float, default=None, help="clamp the predicted x0 at every sampling step")
    args = ap.parse_args()
    torch.set_num_threads(1)
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from privacy import load

    from rnagen.metrics import evaluate
    from rnagen.models.diffusion import DiffusionModel
    from rnagen.pp import split

    if args.adam_eps is not None:  # this process only: the loop builds torch.optim.AdamW by name
        import functools
        torch.optim.AdamW = functools.partial(torch.optim.AdamW, eps=args.adam_eps)  # type: ignore[misc]
    adata, key = load(args.dataset, args.data_dir)
    train, test = split(adata, label_key=key, test_size=0.2, seed=args.split_seed)
    base = ["train.val_fraction=0.0", "train.checkpoint_every=100000"]
    priv = [f"privacy.epsilon={args.eps!r}"] if args.eps > 0 else []
    model = DiffusionModel.from_config(overrides=base + priv + list(args.set))
    t0 = time.time()
    model.fit(train, label_key=key, seed=args.split_seed)
    secs = time.time() - t0
    syn = model.sample(like=train, sampler=args.sampler, steps=20, seed=1, clip_x0=args.clip_x0)
    res = evaluate(test, syn, train=train, label_key=key, metrics=["tstr_mlp_accuracy", "density", "coverage"],
                   classifier_seeds=(0,), n_boot=10, n_boot_expensive=2)
    val = {r["name"]: r["value"] for r in res.to_dict("records") if r["group"] == "all"}
    rec = getattr(model, "privacy", None) or {}
    extra = [f"sampler={args.sampler}"] + ([f"clip_x0={args.clip_x0:g}"] if args.clip_x0 else []) \
        + ([f"adam_eps={args.adam_eps:g}"] if args.adam_eps is not None else [])
    sigma = rec.get("noise_multiplier", float("nan"))
    print(f"| {args.dataset} (split {args.split_seed}) | {args.eps:g} | {' '.join(args.set + extra)} | {sigma:.3g} | "
          f"{rec.get('epsilon', float('inf')):.3g} | {val['tstr_mlp_accuracy']:.3f} | {val['density']:.3f} | "
          f"{val['coverage']:.3f} | {secs:.0f} |", flush=True)


if __name__ == "__main__":
    main()
