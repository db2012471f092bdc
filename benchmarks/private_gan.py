"""The private WGAN-GP (DP-SGD on its critic) against the private and the non-private per-class Gaussian, at
several ε, on held-out profiles (``benchmarks/RESULTS_privacy.md``, "The private WGAN-GP").

For each split seed, a stratified 80/20 split (``rnagen.pp.split``); every row trains on the training split and
draws (a) the held-out split's label mix, scored for density, coverage and AA_ts against the held-out profiles,
and (b) the training split's label mix, on which TSTR's MLP trains (one classifier seed), next to TRTR (the
same classifier trained on the real training split). The private rows train with ``privacy.epsilon=E`` (δ = 1/n,
the default accountant) and a secret noise key, so a re-run repeats them only within their spread.

    OMP_NUM_THREADS=1 python benchmarks/private_gan.py --dataset gtex26 --seeds 0 1 2 --budgets 1,4,10
    OMP_NUM_THREADS=1 python benchmarks/private_gan.py --dataset mirna4 --seeds 0 1 2 --budgets 1,4,10

``--variant NAME:KEY=VALUE,...`` adds a private WGAN-GP row with those settings on top of the benchmark's private
row's (:data:`rnagen.bench.privacy.PRIVATE_SETTINGS`), which is always run. Prints one JSON line per row and
split, then a markdown table of means ± standard deviations over the splits.
"""
from __future__ import annotations

import argparse
import collections
import json
import time
from pathlib import Path

import numpy as np
import torch
from privacy import load  # benchmarks/privacy.py: the bundled GTEx subset or TCGA miRNA


def main() -> None:
    """Train and score every row on every split; print the lines and the table."""
    from rnagen.bench.privacy import PRIVATE_SETTINGS, _literal
    from rnagen.metrics import evaluate
    from rnagen.models import get_model
    from rnagen.pp.preprocess import split

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="gtex26")
    ap.add_argument("--data-dir", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budgets", default="1,4,10")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ad, key = load(args.dataset, args.data_dir)
    budgets = [float(e) for e in args.budgets.split(",")]
    variants = [("wgan-gp-dp", [f"{k}={_literal(v)}" for k, v in PRIVATE_SETTINGS["wgan-gp"].items()])]
    for v in args.variant:
        name, _, opts = v.partition(":")
        variants.append((name, variants[0][1] + [o for o in opts.split(",") if o]))
    results: dict[str, list[dict[str, float]]] = collections.defaultdict(list)
    for seed in args.seeds:
        tr, te = split(ad, label_key=key, test_size=0.2, seed=seed)

        def run(model: str, overrides: list[str], row: str) -> None:
            t = time.perf_counter()
            m = get_model(model).from_config(overrides=overrides)
            m.fit(tr, label_key=key, seed=seed, progress=False, device="cpu")
            secs = time.perf_counter() - t
            fid = evaluate(te, m.sample(like=te, seed=seed + 100), train=tr, label_key=key,
                           metrics=["density", "coverage", "aa_ts"], n_boot=50, seed=seed).set_index("name")
            util = evaluate(te, m.sample(like=tr, seed=seed + 200), train=tr, label_key=key,
                            metrics=["tstr_mlp_accuracy"], n_boot=20, seed=seed, classifier_seeds=(0,)
                            ).set_index("name")
            out = {k: float(fid.loc[k, "value"]) for k in ("density", "coverage", "aa_ts")}
            out.update(tstr=float(util.loc["tstr_mlp_accuracy", "value"]),
                       trtr=float(util.loc["tstr_mlp_accuracy", "reference"]), s=secs)
            results[row].append(out)
            print(json.dumps({"seed": seed, "row": row, **{k: round(x, 4) for k, x in out.items()}}), flush=True)

        run("gaussian", [], "gaussian")
        for eps in budgets:
            run("gaussian", [f"privacy.epsilon={eps}"], f"gaussian-dp-eps{eps:g}")
            for name, overrides in variants:
                run("wgan-gp", overrides + [f"privacy.epsilon={eps}"], f"{name}-eps{eps:g}")
    print("\n| row | TSTR (TRTR) | density | coverage | AA_ts | train s | splits |\n|---|---|---|---|---|---|---|")
    for row, rs in results.items():
        def f(k: str) -> str:
            v = [r[k] for r in rs]
            return f"{np.mean(v):.3f} ± {np.std(v, ddof=1) if len(v) > 1 else 0.0:.3f}"
        print(f"| {row} | {f('tstr')} ({np.mean([r['trtr'] for r in rs]):.3f}) | {f('density')} | {f('coverage')} "
              f"| {f('aa_ts')} | {np.mean([r['s'] for r in rs]):.0f} | {len(rs)} |")


if __name__ == "__main__":
    main()
