"""One trained run folder sampled with and without its ``nonnegative`` step (the support clip), both scored
against the held-out profiles of a ``rnagen demo`` / ``rnagen benchmark`` split: the clip's effect on the same
network, apart from the length the validation chose with it.

    python benchmarks/support_clip_run.py --out DEMO_OUT DEMO_OUT/runs/diffusion_seed0 DEMO_OUT/runs/gaussian_seed0
"""
from __future__ import annotations

import argparse
import json


def main() -> None:
    """Print, per run folder, the indicators of its clipped and unclipped samples (point estimates)."""
    from rnagen import datasets
    from rnagen.metrics import evaluate
    from rnagen.models import load
    from rnagen.pp.transforms import Pipeline

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="the demo's output folder (its split.json)")
    ap.add_argument("runs", nargs="+", help="run folders trained on the bundled GTEx subset")
    a = ap.parse_args()
    data = datasets.gtex26()
    sp = json.load(open(f"{a.out}/split.json"))
    tr, te = data[sp["train"]].copy(), data[sp["test"]].copy()
    names = ["tstr_mlp_accuracy", "density", "aa_truth", "aa_syn", "detection_auc", "frechet_classifier", "ks_mean"]
    for run in a.runs:
        m = load(run)
        clipped = m.sample(like=tr, seed=0)
        m.pipeline = Pipeline([s for s in m.pipeline.steps if s.kind != "nonnegative"])
        raw = m.sample(like=tr, seed=0)
        for what, syn in (("clipped", clipped), ("unclipped", raw)):
            df = evaluate(te, syn, train=tr, label_key="tissue", metrics=names, n_boot=0,
                          n_boot_expensive=0).set_index("name")
            print(run.rstrip("/").split("/")[-1], what, " ".join(f"{k}={df.loc[k, 'value']:.3f}" for k in names),
                  flush=True)


if __name__ == "__main__":
    main()
