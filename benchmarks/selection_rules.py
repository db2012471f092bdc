"""How the diffusion model's training length is chosen: every validation check scored on the held-out split too.

One run per data set and split seed trains the default diffusion model (validation share, checks every
twentieth of the budget, ``rnagen.train.validation``) to its whole step budget (patience disabled), keeps the
EMA weights of every check, and afterwards scores each check's weights against the held-out test split with
the judging protocol of ``sampler_steps.py`` (a synthetic set with the test split's label mix from the default
sampler, ``rnagen.metrics.evaluate``, the per-class Gaussian floor and the real-vs-real ceiling of the same
split and draw). The output is two curves per run over the same steps: what the validation score saw, and what
a user's held-out data would have scored.

From them any stopping rule can be replayed without retraining (``--analyse``): the step a rule keeps, and
the held-out share of the gap closed there (per split, then mean and sd over splits). Rules:

``patience P``        the package's rule: the best score, stop after P checks without improvement, on the
                      validation score with AA_ts read on its halves or on AA_ts itself; "multi": each check's
                      indicators averaged over the package's default draws and reference subsamples, the
                      others one draw against one subsample; "from 25%": ``train.patience_from``
``smooth W, P``       the same on the mean of the last W checks' scores (``train.val_window``)

Every rule is replayed by the package's own ``ValidationTracker``.
``budget``            no early stop: the last check
``oracle <m>``        the check with the best held-out gap closed on indicator m (a bound no rule can beat)

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/selection_rules.py --dataset gtex26 --seed 0 --threads 1 \\
        --out /tmp/sel_gtex26_0.json
    .venv/bin/python benchmarks/selection_rules.py --analyse /tmp/sel_*.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

METRICS = ["density", "coverage", "precision", "recall", "aa_ts", "aa_truth", "aa_syn"]
GAP = ["density", "coverage", "aa_ts", "recall", "precision"]


def score(test, syn, train, label_key: str, seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """``sampler_steps.score`` on this script's indicators (the AA halves included)."""
    from sampler_steps import score as score_on

    return score_on(test, syn, train, label_key, seed, METRICS)


def floor_and_ceiling(gauss, train, test, label_key: str, seed: int, draws: int) -> tuple[list, list]:
    """The per-class Gaussian's values (the floor) and the real-vs-real references (the ceiling) on ``draws``
    draws with the screens' sampling seeds ``seed + 100 + 1000 d``."""
    floors, ceilings = [], []
    for d in range(draws):
        f, c = score(test, gauss.sample(like=test, seed=seed + 100 + 1000 * d), train, label_key, seed)
        floors.append(f)
        ceilings.append(c)
    return floors, ceilings


def score_draws(model, train, test, label_key: str, seed: int, draws: int) -> list[dict[str, float]]:
    """The values of ``draws`` synthetic draws of ``model`` as it stands (the floor's sampling seeds)."""
    return [score(test, model.sample(like=test, seed=seed + 100 + 1000 * d, progress=False), train, label_key,
                  seed)[0] for d in range(draws)]


def run(name: str, seed: int, draws: int, overrides: list[str], keep_weights: str | None = None) -> dict:
    """Train on split ``seed`` of ``name`` to the whole budget, then score every check on the held-out split."""
    from sampler_steps import load_dataset

    from rnagen import pp
    from rnagen.models import get_model
    from rnagen.train import validation

    adata, label_key = load_dataset(name)
    train, test = pp.split(adata, label_key=label_key, test_size=0.2, seed=seed)
    gauss = get_model("gaussian").from_config().fit(train, label_key=label_key, seed=seed, progress=False)
    floors, ceilings = floor_and_ceiling(gauss, train, test, label_key, seed, draws)
    print(f"[{name} {seed}] floor {floors[0]}\n[{name} {seed}] ceiling {ceilings[0]}", flush=True)

    kept: list[tuple[int, dict]] = []
    original = validation.ValidationTracker.check

    def check(self, step, row, weights):  # every check's weights, not only the best's
        kept.append((int(step), {k: v.clone() for k, v in weights.items()}))
        return original(self, step, row, weights)

    validation.ValidationTracker.check = check
    seen: list = []  # the run's validator, scoring one draw against one reference subsample
    original_init = validation.FidelityValidator.__init__

    def init(self, generate, X_train, y_train, X_val, y_val, **kw):
        original_init(self, generate, X_train, y_train, X_val, y_val, **{**kw, "draws": 1, "reference_draws": 1})
        # the package's default validator on the same profiles, scored after training at every check
        default = object.__new__(validation.FidelityValidator)
        original_init(default, generate, X_train, y_train, X_val, y_val, **kw)
        seen.append(default)

    validation.FidelityValidator.__init__ = init
    model = get_model("diffusion").from_config(overrides=["train.patience=100000", *overrides])
    t0 = time.perf_counter()
    model.fit(train, label_key=label_key, seed=seed, device="cpu", progress=False)
    fit_s = time.perf_counter() - t0
    validation.ValidationTracker.check = original
    validation.FidelityValidator.__init__ = original_init
    multi_validator = seen[0]
    curve = model.validation["curve"]
    print(f"[{name} {seed}] fit {fit_s:.0f} s, {len(kept)} checks, budget {model.validation['budget']}", flush=True)

    if keep_weights is not None:  # the model (its best check's weights) and every check's, for later screens
        model.save(Path(keep_weights))
        torch.save(kept, Path(keep_weights) / "checks.pt")
    objective = model._objective()
    rows = []
    for (step, weights), vrow in zip(kept, curve):
        objective.load_state_dict(weights)
        model.net.eval()
        vals = score_draws(model, train, test, label_key, seed, draws)
        val_multi = {k: v for k, v in multi_validator().items() if k != "score"}
        rows.append({"step": step, "val": vrow, "val_multi": val_multi, "test": vals})
        print(f"[{name} {seed}] step {step:5d} val {vrow['score']:.3f} | test " + " ".join(
            f"{m}={np.mean([v[m] for v in vals]):.3f}" for m in ("density", "coverage", "recall", "aa_ts")),
            flush=True)
    return {"dataset": name, "seed": seed, "draws": draws, "overrides": overrides, "fit_s": fit_s,
            "budget": model.validation["budget"], "n_val": model.validation["n_val"],
            "val_reference": model.validation["reference"], "val_reference_multi": multi_validator.reference,
            "floor": floors, "ceiling": ceilings, "checks": rows}


# ------------------------------------------------------------------------------------------------ analysis
def held_out(res: dict, i: int) -> dict[str, float]:
    """Check i's held-out gap closed per indicator (per draw, then averaged; AA_ts read on its halves,
    ``rnagen.metrics.gap``) and its mean values."""
    from rnagen.metrics.gap import gap_closed_from

    out = {}
    for m in GAP:
        with np.errstate(all="ignore"):
            g = [gap_closed_from(m, v, f, c) for v, f, c in zip(res["checks"][i]["test"], res["floor"],
                                                                res["ceiling"])]
        out[m] = float(np.nanmean(g)) if np.isfinite(g).any() else float("nan")
        out["value_" + m] = float(np.mean([v[m] for v in res["checks"][i]["test"]]))
    return out


def replay(res: dict, scores: np.ndarray, *, patience: int, window: int = 1, patience_from: float = 0.0) -> int:
    """The index of the check ``rnagen.train.validation.ValidationTracker`` keeps when fed ``scores`` at the
    run's check steps (its patience, ``train.val_window`` and ``train.patience_from``)."""
    from rnagen.train.validation import ValidationTracker

    t = ValidationTracker(patience=patience, budget=res["budget"], budget_source="epochs", every=1, window=window,
                          patience_from=patience_from)
    for i, (c, s) in enumerate(zip(res["checks"], scores)):
        if t.check(c["step"], {"score": float(s)}, {"i": torch.tensor(i)}):
            break
    assert t.best_weights is not None
    return int(t.best_weights["i"])


def val_scores(res: dict, halves: bool, multi: bool = False) -> np.ndarray:
    """The validation score of every check: the package's (``rnagen.train.validation.combine``, AA_ts read on
    its halves) or, ``halves=False``, the same with the distance of AA_ts itself; ``multi``: the reference
    averaged over training subsamples and the check's indicators over several draws."""
    from rnagen.train.validation import combine

    ref = res["val_reference_multi"] if multi else res["val_reference"]
    out = []
    for c in res["checks"]:
        v = c["val_multi"] if multi else c["val"]
        if not halves:
            v = {k: v[k] for k in ("density", "coverage", "aa_ts")}
        out.append(combine(v, ref) if np.isfinite(v["density"]) else 0.0)
    return np.array(out)


def rules(res: dict) -> dict[str, int]:
    """{rule: index of the check it keeps} for one run."""
    old, new = val_scores(res, halves=False), val_scores(res, halves=True)
    n = len(old)
    out = {"AA_ts score, patience 6": replay(res, old, patience=6),
           "AA_ts score, smooth 3": replay(res, old, patience=6, window=3),
           "halves score, patience 6": replay(res, new, patience=6),
           "halves score, patience 10": replay(res, new, patience=10),
           "halves score, smooth 3": replay(res, new, patience=6, window=3),
           "halves score, smooth 5": replay(res, new, patience=8, window=5),
           "budget": n - 1}
    if "val_reference_multi" in res:
        from rnagen.train import TrainConfig

        multi = val_scores(res, halves=True, multi=True)
        out["halves score, multi, patience 6"] = replay(res, multi, patience=6)
        out["halves score, multi, smooth 3"] = replay(res, multi, patience=6, window=3)
        out["halves score, multi, patience 6 from 25%"] = replay(res, multi, patience=6,
                                                                 patience_from=TrainConfig.patience_from)
    h = [held_out(res, i) for i in range(n)]
    for m in ("density", "coverage", "aa_ts"):
        g = np.array([x[m] for x in h])
        if np.isfinite(g).any():  # NaN where the floor reaches the ceiling
            out[f"oracle {m}"] = int(np.nanargmax(g))
    with np.errstate(all="ignore"):
        g3 = np.array([np.nanmean([x[m] for m in ("density", "coverage", "aa_ts")]) for x in h])
    out["oracle mean of 3"] = int(np.nanargmax(g3))
    return out


def analyse(paths: list[str]) -> str:
    """The rules' table per data set over the runs in ``paths`` (markdown)."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    lines = []
    for name in sorted({r["dataset"] for r in runs}):
        rs = sorted([r for r in runs if r["dataset"] == name], key=lambda r: r["seed"])
        lines.append(f"\n### {name}: splits {[r['seed'] for r in rs]}, {rs[0]['draws']} draw(s) per check, "
                     f"budget {rs[0]['budget']} steps, {rs[0]['n_val']} held-out validation profiles\n")
        lines.append("| rule | step kept (per split) | " + " | ".join(f"{m} gap closed" for m in GAP)
                     + " | mean of density, coverage, AA_ts shares | density | recall | AA_ts |")
        lines.append("|---|---|" + "---|" * (len(GAP) + 4))
        chosen = [rules(r) for r in rs]
        for rule in dict.fromkeys(k for c in chosen for k in c):
            if not all(rule in c for c in chosen):
                continue
            steps = [r["checks"][c[rule]]["step"] for r, c in zip(rs, chosen)]
            h = [held_out(r, c[rule]) for r, c in zip(rs, chosen)]
            cells = []
            for m in GAP:
                v = np.array([x[m] for x in h]) * 100
                cells.append(f"{np.nanmean(v):.0f}% ± {np.nanstd(v):.0f}" if np.isfinite(v).any() else "NaN")
            vals = [f"{np.mean([x['value_' + m] for x in h]):.3f}" for m in ("density", "recall", "aa_ts")]
            with np.errstate(all="ignore"):
                m3 = np.array([np.nanmean([x[m] for m in ("density", "coverage", "aa_ts")]) for x in h]) * 100
            lines.append(f"| {rule} | {', '.join(map(str, steps))} | " + " | ".join(cells)
                         + f" | {np.mean(m3):.0f}% ± {np.std(m3):.0f} | " + " | ".join(vals) + " |")
        fl = [np.mean([f[m] for f in r["floor"]]) for r in rs for m in ("density", "recall", "aa_ts")]
        ce = [np.mean([c[m] for c in r["ceiling"]]) for r in rs for m in ("density", "recall", "aa_ts")]
        lines.append(f"\nfloor (density, recall, AA_ts, per split): {np.round(fl, 3).tolist()}; "
                     f"ceiling: {np.round(ce, 3).tolist()}")
    return "\n".join(lines)


def main() -> None:
    """Run one split (or analyse earlier runs) as the module text says."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=["gtex26", "tcga_mirna4", "brca258", "brca200"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], help="diffusion config overrides (KEY=VALUE)")
    ap.add_argument("--out", help="JSON file for the run")
    ap.add_argument("--analyse", nargs="+", help="JSON files of earlier runs: print the rules' table")
    ap.add_argument("--keep-weights", help="save the model to this run folder, with every check's weights "
                                           "in checks.pt")
    a = ap.parse_args()
    if a.analyse:
        print(analyse(a.analyse))
        return
    if not a.dataset or not a.out:
        ap.error("--dataset and --out are needed to run (or --analyse FILES)")
    torch.set_num_threads(a.threads)
    res = run(a.dataset, a.seed, a.draws, a.set, a.keep_weights)
    res["command"] = " ".join(sys.argv)
    Path(a.out).write_text(json.dumps(res, default=float))
    print(analyse([a.out]))


if __name__ == "__main__":
    main()
