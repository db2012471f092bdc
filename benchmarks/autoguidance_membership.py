"""Membership attacks on an `rnagen benchmark` / `rnagen demo` folder's diffusion model sampled with and without its
autoguidance: the same network, the same audit sets (the split's, as the benchmark draws them), several synthetic
draws of the training set's size and label mix. Does the chosen weight expose the members more than the network
alone? Prints, per weight, each attack's mean AUC, TPR at FPR 0.1 and at FPR 0.01 with their spread over the draws,
next to the independent real draw's (held-out real profiles as the synthetic set: the ideal, as the benchmark's
real row).

Usage:
    OMP_NUM_THREADS=2 python benchmarks/autoguidance_membership.py OUT [--draws 3]      (a demo folder: gtex26)
    OMP_NUM_THREADS=2 python benchmarks/autoguidance_membership.py OUT --data expression.csv.gz --label-key label \\
        --run dpm++_seed0 --draws 3                                                    (a benchmark's folder)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    """Score the attacks for weight 1 and the model's chosen weight."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--data", default="gtex26", help="the benchmarked data: a bundled set's name or a path")
    ap.add_argument("--label-key", default="tissue")
    ap.add_argument("--run", default="diffusion_seed0", help="the diffusion row's run folder under OUT/runs")
    args = ap.parse_args()

    from rnagen import datasets
    from rnagen.data import read
    from rnagen.metrics import evaluate
    from rnagen.models import load

    split = json.loads(Path(args.out, "split.json").read_text())
    data = datasets.load(args.data) if datasets.is_bundled(args.data) else read(args.data, label_key=args.label_key)
    train, test = data[split["train"]].copy(), data[split["test"]].copy()
    # the benchmark's own audit sets, by sample id (split.json names exactly the profiles it attacked)
    ms = split["membership"]
    sets = {k: (train if k == "members" else test).obs_names.get_indexer(ms[k])
            for k in ("members", "nonmembers", "reference", "independent")}
    model = load(Path(args.out, "runs", args.run), device="cpu")
    print(f"{args.data}: chosen weight {model.guide_weight:g}, guide step {model.guide_step}; "
          f"{len(sets['members'])} members, {args.draws} draws")
    for w in sorted({1.0, float(model.guide_weight)}):
        rows, refs = [], []
        for seed in range(1, args.draws + 1):
            syn = model.sample(like=train, seed=seed, autoguidance=w)
            t = evaluate(test, syn, train=train, label_key=args.label_key, metrics=["membership"], n_boot=0,
                         membership_sets=sets).set_index("name")
            rows.append(t["value"])
            refs.append(t["reference"])
        for n in [n for n in rows[0].index if n.endswith("_auc")]:
            base = n.removesuffix("_auc")
            cells = []
            for m in (n, base + "_tpr_at_fpr01", base + "_tpr_at_fpr001"):
                v = [float(r[m]) for r in rows]
                cells.append(f"{np.mean(v):.3f} ± {np.std(v):.3f} (ref {np.mean([float(r[m]) for r in refs]):.3f})")
            print(f"w = {w:g} {base.removeprefix('mia_')}: AUC {cells[0]}, TPR@0.1 {cells[1]}, TPR@0.01 {cells[2]}")


if __name__ == "__main__":
    main()
