"""The cases of the golden test: fixed inputs (a slice of the bundled GTEx data), fixed seeds, and the numbers
the tools report on them. Shared by ``make_golden.py`` (writes the expected values) and ``tests/test_golden.py``
(recomputes and compares them)."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "rnagen_golden_tiny_bench", Path(__file__).resolve().parents[1] / "bench" / "tiny_bench.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

#: the GTEx slice: the first tissues, every sample of each, the first genes
N_TISSUES, N_GENES = 6, 80
#: leaderboard columns left out: wall-clock times are not reproducible
_TIMING = ("train_seconds", "sample_seconds")


def gtex_slice():
    """6 tissues x 20 samples x 80 genes of the bundled GTEx subset (log scale, as shipped)."""
    from rnagen.datasets import gtex26

    a = gtex26()
    tissues = list(a.obs["tissue"].cat.categories[:N_TISSUES])
    a = a[a.obs["tissue"].isin(tissues), :N_GENES].copy()
    a.obs["tissue"] = a.obs["tissue"].cat.remove_unused_categories()
    return a


def _split():
    from rnagen.pp import split

    a = gtex_slice()
    train, test = split(a, label_key="tissue", test_size=0.25, seed=0)
    return train, test


def class_gaussian(train, *, n_per: dict[str, int], seed: int, scale: float = 1.0) -> np.ndarray:
    """A per-class diagonal Gaussian draw (log scale) with the class means and ``scale`` x the standard
    deviations of ``train``: a fixed synthetic set that needs no trained model."""
    rng = np.random.default_rng(seed)
    X = np.asarray(train.X, np.float64)
    y = train.obs["tissue"].astype(str).to_numpy()
    out = []
    for c, n in n_per.items():
        Xc = X[y == c]
        out.append(Xc.mean(0) + scale * Xc.std(0) * rng.standard_normal((n, X.shape[1])))
    return np.concatenate(out).astype(np.float32)


def _labelled(X: np.ndarray, labels: np.ndarray, like):
    import anndata as ad
    import pandas as pd

    a = ad.AnnData(X=X, obs=pd.DataFrame({"tissue": pd.Categorical(labels)},
                                         index=[f"s{i}" for i in range(len(X))]),
                   var=pd.DataFrame(index=list(like.var_names)))
    a.uns["rnagen"] = {"log": dict(like.uns["rnagen"]["log"])}
    return a


def _synthetic_sets():
    train, test = _split()
    yt = test.obs["tissue"].astype(str).to_numpy()
    classes, counts = np.unique(yt, return_counts=True)
    n_per = dict(zip(classes, counts.tolist()))
    labels = np.repeat(classes, counts)
    syn = _labelled(class_gaussian(train, n_per=n_per, seed=1, scale=0.8), labels, test)
    floor = _labelled(class_gaussian(train, n_per=n_per, seed=2, scale=1.0), labels, test)
    return train, test, syn, floor


# ------------------------------------------------------------------------------------------------ cases
def case_leaderboard(tmp: Path) -> dict[str, Any]:
    """(a) the leaderboard of a tiny benchmark (gaussian, ddpm, ddim, vae), every numeric column; the
    steps curve and the per-class TSTR plot data it writes."""
    import json

    import torch

    from rnagen.bench import run_benchmark

    torch.set_num_threads(1)
    out = tmp / "bench"
    overrides = dict(tiny.TINY_OVERRIDES)
    # the training settings the golden values were recorded with (the diffusion defaults before its length
    # was chosen on held-out profiles): this case guards the code path, not the defaults
    overrides["diffusion"] = overrides["diffusion"] + ["train.lr_schedule=cosine", "train.ema_decay=0.995",
                                                       "train.val_fraction=0", "network.gene_affine=false"]
    overrides["vae"] = ["train.steps=20", "train.checkpoint_every=10"]
    board = run_benchmark(gtex_slice(), label_key="tissue", models="gaussian,ddpm,ddim,vae", out_dir=out,
                          budget="fast", overrides=overrides, evaluate_options=tiny.TINY_EVAL, steps_grid=(2, 5),
                          progress=False, device="cpu", report=False, test_size=0.25, seed=0)
    cols = [c for c in board.columns if c not in _TIMING]
    steps = json.loads((out / "plots" / "steps_curve.json").read_text())
    points = [{k: v for k, v in p.items() if k != "sample_seconds"} for p in steps["points"]]
    per_class = json.loads((out / "plots" / "tstr_per_class.json").read_text())
    logreg = json.loads((out / "plots" / "tstr_logreg_per_class.json").read_text())
    meta = json.loads((out / "leaderboard.json").read_text())
    return {"columns": cols, "rows": board[cols].to_dict("records"), "steps_curve": points,
            "tstr_per_class": per_class, "tstr_logreg_per_class": logreg,
            "directions": meta["directions"], "references": meta["references"]}


def case_evaluate(tmp: Path) -> dict[str, Any]:
    """(b) the full ``evaluate`` table (every registered metric) of a fixed synthetic set against the
    held-out split, with ``train=`` and ``floor=``."""
    from rnagen.metrics import evaluate

    train, test, syn, floor = _synthetic_sets()
    df = evaluate(test, syn, train=train, floor=floor, label_key="tissue", n_boot=50, n_boot_expensive=3,
                  k=5, seed=3, classifier_seeds=(0,), epochs=3)
    return {"columns": list(df.columns), "rows": df.to_dict("records"),
            "attrs": {k: df.attrs[k] for k in ("preprocessing", "flagged_near_copies", "flagged_train_index",
                                               "near_copy_threshold", "gap_note")}}


def case_tune(tmp: Path) -> dict[str, Any]:
    """(c) the tuned objective on a fixed synthetic set, and what ``tune`` records for one trial."""
    from rnagen._io import write_h5ad
    from rnagen.tune import tune
    from rnagen.tune.objective import objective_value, score_synthetic

    train, test, syn, _ = _synthetic_sets()
    mu = np.asarray(train.X, np.float64).mean(0)
    sd = np.asarray(train.X, np.float64).std(0) + 1e-8
    y_te = test.obs["tissue"].astype(str).to_numpy()
    y_syn = syn.obs["tissue"].astype(str).to_numpy()
    sc = score_synthetic((np.asarray(test.X) - mu) / sd, y_te, (np.asarray(syn.X) - mu) / sd, y_syn, seed=0)
    out: dict[str, Any] = {"scores": sc.as_dict(),
                           "objectives": {o: objective_value(sc, o) for o in ("default", "density", "aa", "tstr")}}
    path = tmp / "gtex_slice.h5ad"
    write_h5ad(gtex_slice(), path)
    study = tune(path, model="gaussian", label_key="tissue", trials=2, storage=f"sqlite:///{tmp}/tune.db",
                 study_name="golden", seed=0, sampler_seed=0, device="cpu")
    out["trials"] = [{"value": t.value, "params": t.params,
                      "user_attrs": {k: v for k, v in t.user_attrs.items() if k not in ("seconds", "worker")}}
                     for t in study.trials]
    return out


def case_plotdata(tmp: Path) -> dict[str, Any]:
    """(d) the plot data: ``step_quality`` and ``per_class_tstr`` of a fixed synthetic set."""
    from rnagen.bench.plotdata import RealReference, plot_space

    train, test, syn, _ = _synthetic_sets()
    ref = RealReference(train, test, label_key="tissue", seed=0)
    Xs, _ = plot_space(syn, logged=ref.logged)
    return {"step_quality": ref.step_quality(syn, seed=0),
            "per_class_tstr": ref.per_class_tstr(Xs, syn.obs["tissue"].astype(str).to_numpy(), seed=0),
            "per_class_tstr_real": ref.per_class_tstr(ref.Xtr, ref.ytr, seed=0)}


CASES = {"leaderboard": case_leaderboard, "evaluate": case_evaluate, "tune": case_tune, "plotdata": case_plotdata}


# ------------------------------------------------------------------------------------------------ compare
def to_jsonable(v: Any) -> Any:
    """Plain JSON types; NaN and infinities as the strings ``"nan"``, ``"inf"``, ``"-inf"``."""
    if isinstance(v, dict):
        return {str(k): to_jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return to_jsonable(v.tolist())
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else str(f)
    return v


#: keys (and evaluate rows named so) whose values come from an iterative solver stopped at its tolerance:
#: scikit-learn's L-BFGS logistic regression behind the classifier concordance (tol 1e-4) stops at a point that
#: moves with the CPU's rounding (concordance_spearman 0.42004 on one x86 machine, 0.42023 on another; its share
#: of the gap closed, dividing by a small difference, by 1.4e-3 relative), far inside the indicator's bootstrap
#: interval
SOLVER_RTOL = {"concordance_": 1e-2}


def compare(got: Any, want: Any, *, path: str = "", rtol: float = 1e-5, atol: float = 1e-9) -> list[str]:
    """Differences between ``got`` and ``want`` (both :func:`to_jsonable` output): same keys in the same
    order, same strings, numbers within ``rtol`` / ``atol``, NaN equal to NaN. (``rtol``: float32 kernels
    differ by ~1e-7 between CPUs, and a share of the gap closed divides by a small difference, e.g. the MMD
    one moves by ~1e-6 between two x86 machines.)"""
    nonfinite = ("nan", "inf", "-inf")
    if isinstance(want, dict):
        if not isinstance(got, dict) or list(got) != list(want):
            return [f"{path}: keys {list(got) if isinstance(got, dict) else type(got).__name__} != {list(want)}"]
        # a solver-bound indicator: a leaderboard column of its name, or an evaluate row named by it
        row = str(want.get("name", ""))
        rtol = max([rtol] + [r for p, r in SOLVER_RTOL.items() if row.startswith(p)])
        return [d for k in want
                for d in compare(got[k], want[k], path=f"{path}.{k}", atol=atol,
                                 rtol=max([rtol] + [r for p, r in SOLVER_RTOL.items() if str(k).startswith(p)]))]
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: {got!r:.200} != {want!r:.200}"]
        return [d for i, (g, w) in enumerate(zip(got, want))
                for d in compare(g, w, path=f"{path}[{i}]", rtol=rtol, atol=atol)]
    num = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool) or x in nonfinite  # noqa: E731
    if num(want) and num(got) and not isinstance(want, bool):
        g, w = float(got), float(want)
        if (math.isnan(g) and math.isnan(w)) or g == w or abs(g - w) <= atol + rtol * abs(w):
            return []
        return [f"{path}: {g!r} != {w!r}"]
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]
