"""Choosing the classifier-free guidance weight with the autoguidance weight, on the validation score (issue 16).

A validated diffusion run scores its autoguidance weights (``GUIDE_WEIGHTS``) with the validation score of the
held-out profiles that chose its length (``rnagen.train.validation``: density, coverage and AA_ts against their
real-vs-real values, each as a share of the way from its worst value). Over 8 draws per split classifier-free
guidance lifts TSTR on brca258 and lowers it on mirna4 and gtex26 (RESULTS_objectives). Would that same score, over
the pairs (CFG weight, autoguidance weight) of ``CFG_WEIGHTS`` x ``GUIDE_WEIGHTS`` (``rnagen.models.diffusion.model``:
the choice a run trained with the current code makes itself), choose guidance where it helps? This scores the pairs
for cached runs whose record holds the autoguidance choice alone.

Per split this rebuilds the run's own validation (the trained model's fitted transform of the training part,
``validation_holdout`` with the run's seed and ``[train]`` settings, the principal-component space where the run
trained in one, ``FidelityValidator`` with the run's seed: the draws the run scored), checks it against the
record (the reference, and the scores of the autoguidance weights the run chose among at CFG 0), then scores every
pair. The chosen pair is the best score, the first of equal ones in the order CFG weight then autoguidance
weight (so CFG 0 unless a weight does better, as the run's own choice). ``variants_screen.py``'s ``joint``
variant samples with it on the test split.

Usage: OMP_NUM_THREADS=1 python benchmarks/joint_guidance.py --dataset brca258 --seeds 0 1 2 --cache DIR \
           --cfg 0 0.25 0.5
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import quality as Q  # noqa: E402
import resample_screen as RS  # noqa: E402


def own_holdout(model, train, seed: int):
    """The run's own split of ``train``: its fitted transform of the profiles, their class ids and the
    (training part, held-out part) indices ``validation_holdout`` gave it (checked against the record)."""
    from rnagen.train.validation import validation_holdout

    X = np.asarray(train.X.toarray() if hasattr(train.X, "toarray") else train.X, dtype=np.float64)
    Xt = model.pipeline.transform(X).astype(np.float32)
    index = {c: i for i, c in enumerate(model.labels)}
    y = np.array([index[str(c)] for c in train.obs[Q.LABEL].astype(str)], dtype=np.int64)
    held = validation_holdout(y, model.config.train, seed)
    if held is None:
        raise SystemExit(f"split {seed}: nothing held out")
    fi, vi = held
    n_val = int((model.validation or {}).get("n_val", -1))
    if n_val != len(vi):
        raise SystemExit(f"split {seed}: {len(vi)} held out here, the run held out {n_val}")
    return Xt, y, fi, vi


def joint_scores(model, train, seed: int, cfg: tuple[float, ...] | None = None) -> dict:
    """The validation score of every (CFG weight, autoguidance weight) pair on the run's own held-out profiles
    (``cfg``: the CFG weights, default the package's ``CFG_WEIGHTS``), the recorded scores and reference beside the
    recomputed ones, and the chosen pair."""
    from rnagen.models.diffusion.model import CFG_WEIGHTS, GUIDE_WEIGHTS
    from rnagen.train.validation import FidelityValidator

    cfg = CFG_WEIGHTS if cfg is None else cfg

    v = model.validation or {}
    if model.members:
        raise SystemExit("a mixture (train.members > 1): each member chose its own weight; not screened")
    Xt, y, fi, vi = own_holdout(model, train, seed)
    mapped = model._encode if model.subspace is not None else (lambda A: A)
    pair = [0.0, 1.0]

    def generate(yy: np.ndarray, sd: int) -> np.ndarray:
        return model._sample_own(yy, seed=sd, batch_size=4096, progress=False, decode=False, guidance=pair[0],
                                 autoguidance=pair[1])

    validator = FidelityValidator(generate, mapped(Xt[fi]), y[fi], mapped(Xt[vi]), y[vi], seed=seed)
    ref_rec = v.get("reference") or {}
    ref_diff = max(abs(validator.reference[k] - float(ref_rec[k])) for k in ref_rec) if ref_rec else float("nan")
    guide = v.get("guide") or {}
    weights = list(guide.get("weights") or GUIDE_WEIGHTS) if guide else [1.0]
    grid = {}
    for g in cfg:
        for a in weights:
            pair[:] = [float(g), float(a)]
            grid[(float(g), float(a))] = float(validator()["score"])
    recorded = dict(zip(guide.get("weights", []), guide.get("scores", [])))
    # weight 1 is recorded as its own check's score (the EMA weights at that check), not redrawn: compared on
    # the others
    rec_diff = max((abs(grid[(0.0, float(a))] - float(s)) for a, s in recorded.items() if float(a) != 1.0),
                   default=float("nan"))
    best = max(grid.values())
    chosen = next(p for p, s in grid.items() if s == best)
    return {"grid": grid, "chosen": chosen, "recorded_chosen": float(guide.get("chosen", 1.0)),
            "reference_diff": ref_diff, "recorded_diff": rec_diff, "n_val": len(vi)}


def main() -> None:
    """Per split: the recomputed validation against the record, the score of every pair, the chosen pair."""
    import argparse

    import torch

    from rnagen import pp
    from rnagen.models.diffusion.model import CFG_WEIGHTS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    RS.common_args(ap, threads=1)
    ap.add_argument("--cfg", type=float, nargs="+", default=list(CFG_WEIGHTS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    a = Q.load_dataset(args.dataset, args.data_dir)
    for seed in args.seeds:
        tr, _ = pp.split(a, label_key=Q.LABEL, test_size=0.2, seed=seed)
        model = RS.default_model(args.dataset, tr, seed, args.cache)
        r = joint_scores(model, tr, seed, tuple(args.cfg))
        print(f"split {seed}: {r['n_val']} held out; reference vs recorded max |diff| {r['reference_diff']:.2g}, "
              f"CFG 0 scores vs recorded {r['recorded_diff']:.2g}; the run chose autoguidance "
              f"{r['recorded_chosen']:g}; joint choice CFG {r['chosen'][0]:g}, autoguidance {r['chosen'][1]:g}",
              flush=True)
        ws = sorted({p[1] for p in r["grid"]})
        print("| CFG \\ autoguidance | " + " | ".join(f"{w:g}" for w in ws) + " |")
        print("|---" * (len(ws) + 1) + "|")
        for g in args.cfg:
            print(f"| {g:g} | " + " | ".join(f"{r['grid'][(float(g), w)]:.3f}" for w in ws) + " |", flush=True)


if __name__ == "__main__":
    main()
