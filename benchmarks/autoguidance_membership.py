"""Membership attacks on an `rnagen benchmark` / `rnagen demo` folder's diffusion model sampled with and without its
autoguidance: the same network, the same audit sets (the split's, as the benchmark draws them), several synthetic
draws of the training set's size and label mix. Does the chosen weight expose the members more than the network
alone? Prints each attack's mean AUC and its spread over the draws, per weight.

Usage: OMP_NUM_THREADS=2 python benchmarks/autoguidance_membership.py OUT [--draws 3]   (OUT: a demo folder on the
bundled gtex26 data)
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    """Score the attacks for weight 1 and the model's chosen weight."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--draws", type=int, default=3)
    args = ap.parse_args()

    from rnagen import datasets
    from rnagen.metrics import evaluate
    from rnagen.metrics.membership import membership_sets
    from rnagen.models import load

    split = json.load(open(f"{args.out}/split.json"))
    data = datasets.gtex26()
    train, test = data[split["train"]].copy(), data[split["test"]].copy()
    sets = membership_sets(real_labels=test.obs["tissue"].astype(str).to_numpy(), n_real=test.n_obs,
                           train_labels=train.obs["tissue"].astype(str).to_numpy(), n_train=train.n_obs,
                           seed=int(split["membership"]["seed"]))
    model = load(f"{args.out}/runs/diffusion_seed0", device="cpu")
    print(f"chosen weight {model.guide_weight:g}, guide step {model.guide_step}; {len(sets['members'])} members")
    for w in sorted({1.0, float(model.guide_weight)}):
        rows = []
        for seed in range(1, args.draws + 1):
            syn = model.sample(like=train, seed=seed, autoguidance=w)
            rows.append(evaluate(test, syn, train=train, label_key="tissue", metrics=["membership"], n_boot=0,
                                 membership_sets=sets).set_index("name")["value"])
        names = [n for n in rows[0].index if n.endswith("_auc")]
        print(f"w = {w:g}: " + ", ".join(f"{n.removeprefix('mia_').removesuffix('_auc')} AUC "
                                          f"{np.mean([r[n] for r in rows]):.3f} ± {np.std([r[n] for r in rows]):.3f}"
                                          for n in names))


if __name__ == "__main__":
    main()
