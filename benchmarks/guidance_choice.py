"""Can the classifier-free guidance weight be chosen on the held-out profiles of training (issue 16)?

Over 8 synthetic draws per split, guidance 0.5 lifts the default's TSTR on brca258 on every split (its classes,
the PAM50 subtypes, overlap) and lowers it on gtex26 on every split (RESULTS_objectives): no single weight suits
every data set, so a default weight would have to be chosen per data set, on data the model was trained with.
This screen computes, per split and per weight, the two candidate criteria a validated run could compute from
the profiles ``fit`` holds out (``validation_holdout`` with the run's own seed and ``[train]`` settings; the
model never trained on them):

* ``TRTS``: the accuracy on a large synthetic draw (``--big`` profiles with the training part's label mix) of an
  MLP trained on the real training part, against the same MLP's accuracy on the held-out profiles (``TRTR_V``).
  A generator that draws new real profiles gets TRTS = TRTR_V in expectation; class-conditionals that are too
  broad (overlapping classes blurred into each other) give TRTS < TRTR_V, and guidance sharpens them. The
  calibrated weight is the smallest whose TRTS reaches TRTR_V.
* ``TRTS_cv``: the same comparison cross-fitted on the training part, so that every training profile is a real
  test profile once (the held-out share alone is 20 profiles on brca200): ``--folds`` stratified folds, the MLPs
  of each trained on the other folds, their accuracy on the fold (``TRTR_cv``) and on the synthetic draw.
* ``vTSTR``: the accuracy on the held-out profiles of MLPs trained on synthetic draws of the training part's size
  and label mix (``--val-draws`` draws), TSTR on the validation split.

The MLP is the one of ``tstr_mlp_accuracy`` (``rnagen.metrics.utility.tstr``: seeds 0, 1, 2, 10 epochs) on
log-scale values z-scored with the training part's statistics. The test split's TSTR per weight (``--draws``
draws, the protocol of ``quality.py``) is printed beside, so the criterion can be read against the outcome.

Usage: OMP_NUM_THREADS=1 python benchmarks/guidance_choice.py --dataset brca258 --seeds 0 1 2 --cache DIR \
           --weights 0 0.25 0.5 1 --draws 8
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import quality as Q  # noqa: E402
import resample_screen as RS  # noqa: E402


def features(X, logged: bool, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Log-scale values z-scored with the training part's statistics (as ``rnagen.metrics.evaluate``)."""
    return ((RS.log_values(X, logged) - mu) / sd).astype(np.float32)


def main() -> None:
    """Per split: TRTR_V, then per weight TRTS, vTSTR and the test split's TSTR - TRTR."""
    import argparse

    import torch
    from sklearn.model_selection import StratifiedKFold

    from rnagen import pp
    from rnagen.metrics.utility import tstr
    from rnagen.pp.history import log_state
    from rnagen.train.validation import validation_holdout

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    RS.common_args(ap, threads=1)
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0])
    ap.add_argument("--big", type=int, default=4000, help="profiles of the TRTS draw")
    ap.add_argument("--val-draws", type=int, default=2)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--draws", type=int, default=0, help="test-split draws per weight (0: none)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    a = Q.load_dataset(args.dataset, args.data_dir)
    logged = bool((log_state(a) or {}).get("logged"))
    rows: dict[float, list[dict]] = {w: [] for w in args.weights}
    for seed in args.seeds:
        t0 = time.perf_counter()
        tr, te = pp.split(a, label_key=Q.LABEL, test_size=0.2, seed=seed)
        model = RS.default_model(args.dataset, tr, seed, args.cache)
        y = tr.obs[Q.LABEL].astype(str).to_numpy()
        held = validation_holdout(y, model.config.train, seed)
        if held is None:
            raise SystemExit(f"split {seed}: nothing held out")
        fi, vi = held
        n_val = (model.validation or {}).get("n_val")
        if n_val is not None and int(n_val) != len(vi):
            raise SystemExit(f"split {seed}: {len(vi)} held out here, the run held out {n_val}")
        XF = RS.log_values(tr.X[fi], logged)
        mu, sd = XF.mean(0), XF.std(0) + 1e-8
        F, V = ((XF - mu) / sd).astype(np.float32), features(tr.X[vi], logged, mu, sd)
        classes = sorted(set(y))
        code = {c: i for i, c in enumerate(classes)}
        yF, yV = np.array([code[c] for c in y[fi]]), np.array([code[c] for c in y[vi]])
        kw = {"classifier": "mlp", "n_classes": len(classes)}
        ref = tstr(F, yF, V, yV, **kw)
        clf = ref["_models"]
        counts_F = {c: int((y[fi] == c).sum()) for c in classes}
        folds = []   # (the MLPs trained without the fold, their accuracy on it)
        for a_idx, b_idx in StratifiedKFold(args.folds, shuffle=True, random_state=seed).split(F, yF):
            res = tstr(F[a_idx], yF[a_idx], F[b_idx], yF[b_idx], **kw)
            folds.append((res["_models"], res["accuracy"]))
        trtr_cv = float(np.mean([acc for _, acc in folds]))
        scale = max(1, round(args.big / len(fi)))
        print(f"split {seed}: {len(fi)} training, {len(vi)} held out; TRTR_V {100 * ref['accuracy']:.1f} TRTR_cv "
              f"{100 * trtr_cv:.1f}", flush=True)
        for w in args.weights:
            big = model.sample(counts={c: n * scale for c, n in counts_F.items()}, seed=seed + 300, guidance=w)
            S = features(big.X, logged, mu, sd)
            yS = np.array([code[c] for c in big.obs[Q.LABEL].astype(str)])
            trts = float(np.mean([(m.predict_proba(S).argmax(1) == yS).mean() for m in clf]))
            trts_cv = float(np.mean([(m.predict_proba(S).argmax(1) == yS).mean() for ms, _ in folds for m in ms]))
            vt = []
            for d in range(args.val_draws):
                syn = model.sample(counts=counts_F, seed=seed + 400 + 1000 * d, guidance=w)
                vt.append(tstr(features(syn.X, logged, mu, sd),
                               np.array([code[c] for c in syn.obs[Q.LABEL].astype(str)]), V, yV, **kw)["accuracy"])
            r = {"trts": trts - ref["accuracy"], "trts_cv": trts_cv - trtr_cv,
                 "vtstr": float(np.mean(vt)) - ref["accuracy"],
                 "vtstr_sd": float(np.std(vt, ddof=1)) if len(vt) > 1 else np.nan}
            if args.draws:
                res, _ = Q.score_draws(model, tr, te, seed, args.draws, label_key=Q.LABEL, guidance=w)
                r["test"] = res["value"]["tstr_mlp_accuracy"] - res["reference"]["tstr_mlp_accuracy"]
            rows[w].append(r)
            print(f"split {seed} w {w:g}: TRTS-TRTR_V {100 * r['trts']:+.1f} TRTS_cv-TRTR_cv "
                  f"{100 * r['trts_cv']:+.1f} vTSTR-TRTR_V {100 * r['vtstr']:+.1f}"
                  f" (draw sd {100 * r['vtstr_sd']:.1f})"
                  + (f" test TSTR-TRTR {100 * r['test']:+.1f}" if "test" in r else ""), flush=True)
        print(f"split {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"\n{args.dataset}, splits {args.seeds} (points; mean ± sd over the splits)")
    print("| weight | TRTS - TRTR_V | TRTS_cv - TRTR_cv | vTSTR - TRTR_V | test TSTR - TRTR |\n|---|---|---|---|---|")
    for w, rs in rows.items():
        def ms(k):
            v = 100 * np.array([r[k] for r in rs if k in r], float)
            return f"{v.mean():+.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else (f"{v.mean():+.1f}" if len(v) else "-")
        print(f"| {w:g} | {ms('trts')} | {ms('trts_cv')} | {ms('vtstr')} | {ms('test')} |")


if __name__ == "__main__":
    main()
