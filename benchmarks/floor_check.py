"""Does the validation's floor check predict the test split? (issue 16)

A validated run scores the per-class Gaussian fitted to its own training part on its own held-out profiles with the
score that chose its length (``rnagen.train.validation.FidelityValidator.floor``), and ``rnagen train`` warns when
the kept model does not beat it on at least 20 of them (``describe_floor``). This screen compares that verdict with
the outcome on the test split of ``quality.py``'s protocol: per data set and split (a stratified 80/20 split), the
default diffusion model trained on the split's training profiles, or on a stratified share F of them
(``--fractions``; ``variants_screen.py``'s ``fracF``), and the per-class Gaussian fitted to the same profiles,
scored on the test split over ``--draws`` synthetic draws against the real-vs-real ceiling. The test verdict is the
mean share of the Gaussian-to-real gap closed on density, coverage and AA_ts (read on its halves; an indicator
without a gap left out): positive where the model beats the Gaussian of its own size.

Models come from ``variants_screen.py``'s cache and are trained there when absent: ``DIR/D_SEED_train.val_min=20``
for the whole training split (sets of 100+ profiles hold out the same profiles with the default 10),
``DIR/D_SEED_fracF_train.val_min=10`` for a share (the default). A run saved before the floor was recorded gets
it here, computed on the run's own split (``validation_holdout`` with the run's seed and ``[train]`` settings) in
the space it was scored in; ``--verify RUN DATA`` checks that computation against a run that recorded it.
``--fresh N`` adds the diffusion run's verdict over N draws of seeds no check used (the record's kept score is the
best of its checks on fixed draws; the replayed record is printed as a check). ``--model vae`` (or ``wgan-gp``;
``--set KEY=VALUE`` changes a setting) scores that model instead. Both train for a fixed length by default, with
nothing held out and so no verdict (the test's figures alone); ``--set train.val_fraction=0.1 --set
train.steps=none`` validates them.

Usage: OMP_NUM_THREADS=1 python benchmarks/floor_check.py --dataset brca200 --seeds 0 1 2 --fractions 1 0.5 \
           --cache DIR --draws 2
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import quality as Q  # noqa: E402
import resample_screen as RS  # noqa: E402

GAPS = ["density", "coverage", "aa_ts"]


def validation_floor(model, train, label_key: str = Q.LABEL) -> tuple[float, float, int]:
    """``(kept model's validation score, the per-class Gaussian's, held-out profiles)`` of a fitted run trained on
    ``train``: as recorded, else computed on the run's own split."""
    from rnagen.train.validation import _final_score

    v = model.validation or {}
    if "floor" in v:
        return float(v["final_score"]), float(v["floor"]["score"]), int(v["n_val"])
    validator = own_validator(model, train, label_key)
    return _final_score(v), float(validator.floor()["score"]), len(validator.y_val)


def own_validator(model, train, label_key: str = Q.LABEL):
    """The run's own ``FidelityValidator``: its split of ``train`` (``validation_holdout`` with the run's seed and
    ``[train]`` settings), in the space it was scored in, with its seed (the draws' seeds and the reference)."""
    from rnagen.train.validation import FidelityValidator, validation_holdout

    v = model.validation or {}
    X = np.asarray(train.X.toarray() if hasattr(train.X, "toarray") else train.X, dtype=np.float64)
    Xt = model._fitted_pipeline().transform(X).astype(np.float32)
    code = {c: i for i, c in enumerate(model.labels)}
    y = np.array([code[c] for c in train.obs[label_key].astype(str)], dtype=np.int64)
    split = validation_holdout(y, model.config.train, model.seed)
    if split is None or len(split[1]) != int(v.get("n_val", -1)):
        here = None if split is None else len(split[1])
        raise SystemExit(f"the run held out {v.get('n_val')} profiles, its split here {here}")
    mapped = model._encode if model.subspace is not None else (lambda A: A)
    fit, val = split
    return FidelityValidator(lambda yy, s: None, mapped(Xt[fit]), y[fit], mapped(Xt[val]), y[val], seed=model.seed)


def fresh_verdict(model, train, draws: int, label_key: str = Q.LABEL) -> tuple[float, float, float]:
    """``(kept diffusion model's score on the record's draws, its score and the per-class Gaussian's over ``draws``
    draws of seeds no check used)`` on the run's own held-out profiles and reference: the record's kept score is
    the best of the checks (and of the guidance pairs) on the same fixed draws, the floor's a single fit's on them."""
    validator = own_validator(model, train, label_key)

    def generate(yy, sd):
        return model._sample_own(yy, seed=sd, batch_size=4096, progress=False, decode=False)

    replayed = validator.score(generate)["score"]   # the record's draws: its kept score, as a check
    validator.seed += 1_000_003   # other draws; the reference (the run's seed) unchanged
    validator.draws = int(draws)
    return float(replayed), float(validator.score(generate)["score"]), float(validator.floor()["score"])


def verify(run: Path, data: str) -> None:
    """Recompute the recorded floor of run folder ``run`` (trained on ``data``, all of it) as done for a run saved
    without one, and print both."""
    from rnagen.cli._common import read_input
    from rnagen.models import load

    model = load(run, device="cpu")
    recorded = model.validation["floor"]["score"]
    del model.validation["floor"]
    adata = read_input(data, label_key=model.label_key)
    _, computed, n_val = validation_floor(model, adata, label_key=model.label_key)
    print(f"{run}: floor recorded {recorded:.6f}, computed {computed:.6f} ({n_val} held out)")


def main() -> None:
    """Per data set split and training share: the run's validation verdict beside the test split's."""
    import variants_screen as VS

    from rnagen.metrics.gap import gap_closed_from
    from rnagen.models import get_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    RS.common_args(ap, threads=1)
    ap.add_argument("--fractions", type=float, nargs="+", default=[1.0])
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--verify", nargs=2, metavar=("RUN", "DATA"), default=None)
    ap.add_argument("--model", default="diffusion", help="another model (cached as DIR/D_SEED_MODEL_F[_SETTINGS])")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="that model's settings")
    ap.add_argument("--fresh", type=int, default=0, metavar="N",
                    help="also the verdict over N draws of seeds no validation check used (the diffusion model)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.verify:
        verify(Path(args.verify[0]), args.verify[1])
        return
    a = Q.load_dataset(args.dataset, args.data_dir)
    rows = []
    for seed in args.seeds:
        tr, te, floor, ceiling = Q.split_with_floor(a, seed, args.draws, label_key=Q.LABEL)
        for f in args.fractions:
            t0 = time.perf_counter()
            if f >= 1.0:
                part, tag, over, fl = tr, "_train.val_min=20", ["train.val_min=20"], floor
            else:
                part, tag, over = VS.share(tr, f, seed), f"_frac{f:g}_train.val_min=10", ["train.val_min=10"]
                gauss = get_model("gaussian")()
                gauss.fit(part, label_key=Q.LABEL, seed=seed, progress=False)
                fl = Q.score_draws(gauss, tr, te, seed, args.draws, label_key=Q.LABEL)[0]["value"]
            if args.model == "diffusion" and not args.set:
                model = RS.default_model(args.dataset, part, seed, args.cache, tag=tag, overrides=over)
            else:
                model = RS.default_model(args.dataset, part, seed, args.cache, name=args.model, overrides=args.set,
                                         tag=f"_{args.model}_{f:g}" + "".join(f"_{x}" for x in args.set))
            res = Q.score_draws(model, tr, te, seed, args.draws, label_key=Q.LABEL)[0]["value"]
            gaps = {m: gap_closed_from(m, res, fl, ceiling) for m in GAPS}
            # an indicator whose floor is at the ceiling has no gap (gtex26's coverage): left out of the mean
            mean_gap = float(np.nanmean(list(gaps.values())))
            if model.validation is None or "n_val" not in model.validation or not model.validation["n_val"]:
                kept = fscore = float("nan")
                n_val = 0
            else:
                kept, fscore, n_val = validation_floor(model, part)
            replayed = fresh = fresh_floor = float("nan")
            if args.fresh and n_val:
                replayed, fresh, fresh_floor = fresh_verdict(model, part, args.fresh)
            row = {"seed": seed, "fraction": f, "n": part.n_obs, "n_val": n_val, "kept": kept, "floor": fscore,
                   "replayed": replayed, "fresh": fresh, "fresh_floor": fresh_floor,
                   "mean_gap": mean_gap, **{f"gap_{m}": g for m, g in gaps.items()},
                   "tstr_model": res["tstr_mlp_accuracy"], "tstr_floor": fl["tstr_mlp_accuracy"]}
            rows.append(row)
            warn = kept <= fscore
            print(f"split {seed} F {f:g} ({part.n_obs} profiles, {n_val} held out): validation kept {kept:.3f} "
                  f"floor {fscore:.3f}{' (the Gaussian as high)' if warn else ''}"
                  + (f" (replayed {replayed:.3f}; over {args.fresh} new draws kept {fresh:.3f} floor {fresh_floor:.3f})"
                     if args.fresh and n_val else "") + "; test gap closed "
                  + " ".join(f"{m} {g:.0%}" for m, g in gaps.items()) + f", mean {mean_gap:.0%}; TSTR "
                  f"{100 * row['tstr_model']:.1f} vs {100 * row['tstr_floor']:.1f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\n{args.dataset}: the validation's verdict (kept score - floor score) against the test's (mean share of "
          "the density, coverage and AA_ts gaps closed against the same-size Gaussian)")
    fresh_cols = " new draws: kept - floor | agree |" if args.fresh else ""
    print("| F | split | profiles (held out) | validation: kept - floor | test: mean gap closed | agree |" + fresh_cols)
    print("|---|---|---|---|---|---|" + ("---|---|" if args.fresh else ""))

    def agree(d: float, gap: float) -> str:
        return "-" if not (np.isfinite(d) and np.isfinite(gap)) else ("yes" if (d > 0) == (gap > 0) else "no")

    for r in rows:
        d, e = r["kept"] - r["floor"], r["fresh"] - r["fresh_floor"]
        print(f"| {r['fraction']:g} | {r['seed']} | {r['n']} ({r['n_val']}) | {d:+.3f} | {r['mean_gap']:.0%} "
              f"| {agree(d, r['mean_gap'])} |" + (f" {e:+.3f} | {agree(e, r['mean_gap'])} |" if args.fresh else ""))


if __name__ == "__main__":
    main()
