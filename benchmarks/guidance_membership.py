"""Membership attacks on the default diffusion model sampled with the guidance pair its run chooses (issue 16, 18).

The default chooses the classifier-free guidance weight with the autoguidance weight on the held-out profiles
(``joint_guidance.py``; RESULTS_objectives, "Choosing the classifier-free guidance weight with the autoguidance
weight: adopted"). Guidance pushes each class away from the others and toward its own dense regions: does it
expose the training profiles more than the same network sampled without classifier-free guidance (the run's own
autoguidance weight, the default before)? Per split of ``quality.py``'s protocol (stratified 80/20, the cached
default model of that split), the membership audit's sets as a benchmark draws them
(``rnagen.metrics.membership.membership_sets`` with the split's seed), ``--draws`` synthetic sets of the training
part's size and label mix per pair; prints each attack's AUC, TPR at FPR 0.1 and at FPR 0.01 (mean over the draws,
then over the splits) beside the independent real draw's (held-out real profiles as the synthetic set: the ideal).

Usage: OMP_NUM_THREADS=1 python benchmarks/guidance_membership.py --dataset brca258 --seeds 0 1 2 --cache DIR \
           --draws 3
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import joint_guidance as J  # noqa: E402
import quality as Q  # noqa: E402
import resample_screen as RS  # noqa: E402

STATS = ("auc", "tpr_at_fpr01", "tpr_at_fpr001")


def main() -> None:
    """Per split, the chosen pair and CFG 0 at the run's autoguidance weight; the attack table over the splits."""
    import argparse

    import torch

    from rnagen import pp
    from rnagen.metrics import evaluate
    from rnagen.metrics.membership import membership_sets

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    RS.common_args(ap, threads=1)
    ap.add_argument("--draws", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    a = Q.load_dataset(args.dataset, args.data_dir)
    got: dict[str, list[dict[str, float]]] = {"without classifier-free guidance": [], "the chosen pair": [],
                                              "independent real draw": []}
    for seed in args.seeds:
        tr, te = pp.split(a, label_key=Q.LABEL, test_size=0.2, seed=seed)
        model = RS.default_model(args.dataset, tr, seed, args.cache)
        g, w = J.joint_scores(model, tr, seed)["chosen"]
        sets = membership_sets(real_labels=te.obs[Q.LABEL].astype(str).to_numpy(), n_real=te.n_obs,
                               train_labels=tr.obs[Q.LABEL].astype(str).to_numpy(), n_train=tr.n_obs, seed=seed)
        pairs = {"without classifier-free guidance": (0.0, float(model.guide_weight)), "the chosen pair": (g, w)}
        print(f"split {seed}: the run's autoguidance {model.guide_weight:g}; chosen pair guidance {g:g}, "
              f"autoguidance {w:g}; {len(sets['members'])} members", flush=True)
        for name, (cfg, ag) in pairs.items():
            vals, refs = [], []
            for d in range(args.draws):
                syn = model.sample(like=tr, seed=seed + 500 + 1000 * d, guidance=cfg, autoguidance=ag)
                t = evaluate(te, syn, train=tr, label_key=Q.LABEL, metrics=["membership"], n_boot=0,
                             membership_sets=sets, seed=seed).set_index("name")
                vals.append(t["value"])
                refs.append(t["reference"])
            row = {n: float(np.mean([float(v[n]) for v in vals])) for n in vals[0].index}
            got[name].append(row)
        # the reference of the last pair's draws: the held-out real profiles, the same for every pair
        got["independent real draw"].append({n: float(np.mean([float(r[n]) for r in refs])) for n in refs[0].index})
    attacks = sorted({n.removesuffix("_auc") for n in got["the chosen pair"][0] if n.endswith("_auc")})
    print(f"\n{args.dataset}, splits {args.seeds}, {args.draws} draws each: mean over the splits "
          "(AUC / TPR at FPR 0.1 / TPR at FPR 0.01)")
    print("| attack | " + " | ".join(got) + " |\n|---" * 1 + "|---" * len(got) + "|")
    for base in attacks:
        cells = []
        for rows in got.values():
            cells.append(" / ".join(f"{np.mean([r[f'{base}_{s}'] for r in rows]):.3f}" for s in STATS))
        print(f"| {base.removeprefix('mia_')} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
