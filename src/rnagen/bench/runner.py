"""``run_benchmark``: models x seeds on one labelled data set into a leaderboard, resumable.

Output folder layout (every file written atomically, so an interrupted benchmark leaves only whole files)::

    OUT/bench.json                  settings of the benchmark (data shape, split, budget, models, seeds)
    OUT/split.json                  sample ids of the real training and test parts
    OUT/runs/<model>_seed<k>/       the trained generator's run folder (``rnagen.models.load`` reads it)
    OUT/results/<row>_seed<k>.json  one benchmark row's indicators (the unit of resume)
    OUT/plots/                      the data of the report's figures (see :mod:`rnagen.bench.plotdata`)
    OUT/leaderboard.csv, .json      one row per model (mean over seeds), with confidence intervals and the
                                    share of the gap closed per fidelity indicator
    OUT/report.html                 written by :func:`rnagen.report.write_report`

Two reference rows are always run: ``real`` (the real training profiles as the synthetic set: the ceiling)
and ``gaussian`` (the per-class Gaussian: the floor). Each row's share of the gap closed on an indicator
(:mod:`rnagen.metrics.gap`) is computed per seed, against the Gaussian of the same seed and the ceiling of its
own evaluation (the real-vs-real reference against the same held-out profiles), then averaged over seeds:
columns ``<indicator>_gap_closed``. TSTR is judged against its reference, TRTR (``trtr_accuracy``).

Resume: a row whose result file exists with the same fingerprint (split, budget overrides, sampler options,
seed, metrics) is not recomputed; a trained run folder with the same fingerprint is loaded instead of
retrained, and a run interrupted during training continues from its checkpoint.
"""
from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from .._io import write_h5ad, write_json, write_npz, write_text
from ..errors import ConfigError, DataError, RunDirError
from .budgets import (DDIM_STEP_GRID, DEFAULT_MODELS, EVALUATE_OPTIONS, ROWS, SAMPLER_STEPS, budget_overrides, check_budget,
                      parse_models)
from .plotdata import RealReference

#: the steps-curve file under ``plots/`` (DDIM and DPM-Solver++ quality against the number of steps)
STEPS_CURVE = "steps_curve.json"
#: the largest step count of the DPM-Solver++ part of the curve
DPM_MAX_STEPS = 50

__all__ = ["run_benchmark", "LEADERBOARD_COLUMNS", "METRIC_COLUMNS", "GAP_COLUMNS", "DIRECTIONS", "read_leaderboard"]

#: the headline indicators, in leaderboard order; each is also given ``_ci_low`` / ``_ci_high`` columns
METRIC_COLUMNS: tuple[str, ...] = (
    "tstr_accuracy", "trtr_accuracy", "correlation_score", "precision", "recall", "density", "coverage",
    "aa_ts", "detection_auc", "frechet_distance", "dcr_share",
)
LEADERBOARD_COLUMNS: tuple[str, ...] = ("model",) + METRIC_COLUMNS + ("train_seconds", "sample_seconds")
#: headline indicators with a share of the gap closed (Gaussian floor 0, real-vs-real ceiling 1), in order
GAP_INDICATORS: tuple[str, ...] = ("density", "coverage", "precision", "recall", "aa_ts", "detection_auc",
                                   "correlation_score", "frechet_distance")
#: their leaderboard columns (always present; empty where the indicator was not computed)
GAP_COLUMNS: tuple[str, ...] = tuple(f"{c}_gap_closed" for c in GAP_INDICATORS)
#: the floor row (always run) and the row of real training profiles (the ceiling)
FLOOR_ROW, CEILING_ROW = "gaussian", "real"

#: direction of each headline indicator: "higher", "lower", or a target value (closest is best)
DIRECTIONS: dict[str, Any] = {
    "tstr_accuracy": "higher", "trtr_accuracy": "higher", "correlation_score": "higher",
    "precision": "higher", "recall": "higher", "density": 1.0, "coverage": "higher",
    "aa_ts": 0.5, "detection_auc": 0.5, "frechet_distance": "lower", "dcr_share": 0.5,
    "train_seconds": "lower", "sample_seconds": "lower",
}

# names under which rnagen.metrics.evaluate may report a headline indicator (first match wins)
_ALIASES: dict[str, tuple[str, ...]] = {
    "tstr_accuracy": ("tstr_accuracy", "tstr_mlp_accuracy", "tstr_acc", "tstr_accuracy_mlp", "tstr"),
    "trtr_accuracy": ("trtr_accuracy", "trtr_mlp_accuracy", "trtr_acc", "trtr_accuracy_mlp", "trtr"),
    "correlation_score": ("correlation_score", "corr_score"),
    "precision": ("precision",), "recall": ("recall",), "density": ("density",), "coverage": ("coverage",),
    "aa_ts": ("aa_ts", "adversarial_accuracy"),
    "detection_auc": ("detection_auc", "detection"),
    # the paper's Fréchet distance is taken in a hidden layer of a classifier trained on real data
    "frechet_distance": ("frechet_distance", "frechet_classifier", "frechet_pca", "frechet_distance_pca"),
    "dcr_share": ("dcr_share", "dcr_train_share", "dcr_closer_to_train", "dcr"),
}


# ---------------------------------------------------------------------------------------------------------
class _Progress:
    """One line per phase on stderr: ``[bench 2/7 12s] ddim seed 0: sample``."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled, self.t0 = total, 0, enabled, time.perf_counter()

    def __call__(self, msg: str) -> None:
        if self.enabled:
            el = time.perf_counter() - self.t0
            print(f"[bench {self.done}/{self.total} rows {el:6.0f}s] {msg}", file=sys.stderr, flush=True)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _load_data(data, label_key: str, what: str = "data"):
    if isinstance(data, (str, Path)):
        from ..data import read

        return read(data, label_key=label_key)
    if not hasattr(data, "obs") or not hasattr(data, "X"):
        raise DataError(f"{what} must be an AnnData or a path the data layer reads, got {type(data).__name__}")
    if label_key not in data.obs:
        raise DataError(f"no label column {label_key!r} in the {what}; columns: {list(data.obs.columns)} "
                        "(choose one with --label-key)")
    return data


# ---------------------------------------------------------------------------------------------------------
def _direction(value: Any, name: str) -> Any:
    """Normalise a direction from ``rnagen.metrics`` to "higher" / "lower" / a float target."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    s = str(value).strip().lower()
    if s in ("higher", "max", "maximize", "up", "higher is better", "+"):
        return "higher"
    if s in ("lower", "min", "minimize", "down", "lower is better", "-"):
        return "lower"
    for tok in s.replace("=", " ").replace(":", " ").split():
        try:
            return float(tok)
        except ValueError:
            continue
    return DIRECTIONS.get(name, "higher")


def _table_to_metrics(table: pd.DataFrame) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """``evaluate``'s table -> ({name: {value, ci_low, ci_high, reference, direction}}, per-class rows).

    Rows whose ``group`` is a class name (per-class breakdowns) go to the second dict:
    ``{metric: {class: {"value": v, "reference": r}}}``.
    """
    df = table.reset_index() if "name" not in table.columns else table
    out: dict[str, dict[str, Any]] = {}
    per_class: dict[str, dict[str, Any]] = {}
    for rec in df.to_dict("records"):
        name = str(rec["name"])
        group = str(rec.get("group", "all"))
        if group != "all":
            per_class.setdefault(name, {})[group] = {"value": _num(rec.get("value")),
                                                     "reference": _num(rec.get("reference"))}
            continue
        out[name] = {k: _num(rec.get(k)) for k in ("value", "ci_low", "ci_high", "reference")}
        out[name]["direction"] = _direction(rec.get("direction"), name)
    # headline names: map aliases, and take TRTR from the TSTR row's reference when not reported itself
    for col, aliases in _ALIASES.items():
        if col in out:
            continue
        for a in aliases:
            if a in out:
                out[col] = dict(out[a])
                break
    if "trtr_accuracy" not in out and "tstr_accuracy" in out and out["tstr_accuracy"]["reference"] is not None:
        ref = out["tstr_accuracy"]["reference"]
        out["trtr_accuracy"] = {"value": ref, "ci_low": None, "ci_high": None, "reference": ref,
                                "direction": "higher"}
    return out, per_class


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _evaluate(real, synthetic, *, train, label_key: str, seed: int, metrics: Sequence[str] | None,
              options: Mapping[str, Any]):
    from .. import metrics as M

    kw: dict[str, Any] = {"train": train, "label_key": label_key, "seed": seed, **options}
    if metrics is not None:
        kw["metrics"] = list(metrics)
    return _table_to_metrics(M.evaluate(real, synthetic, **kw))


# ---------------------------------------------------------------------------------------------------------
def _check_options(rows: list[str], budget: str, overrides: Mapping[str, Any], *, seeds: int, test_size: float,
                   seed: int, device: str) -> tuple[int, float, int]:
    """Every option, and every model's configuration (budget + overrides), checked before anything is written."""
    from ..config import check_number, check_seed
    from ..models import get_model
    from ..utils import check_device

    seeds = check_number("seeds", seeds, ">= 1", integer=True)
    test_size = check_number("test_size", test_size, "(0, 1)")
    seed = check_seed("seed", seed)
    check_seed("seed + seeds - 1 (the last training's seed)", seed + seeds - 1)
    check_device(device)
    models = {ROWS[r][0] for r in rows}
    stray = sorted(set(overrides) - models)
    if stray:
        raise ConfigError(f"overrides for model(s) {stray} that this benchmark does not train "
                          f"(models: {', '.join(sorted(models))})")
    for name in sorted(models):
        try:
            cls = get_model(name)
        except ConfigError:
            continue  # reported with the available models below, once the rows are known
        cls.from_config(overrides=budget_overrides(name, budget, n_train=1, extra=overrides.get(name)))
    return seeds, test_size, seed


def run_benchmark(
    data,
    *,
    label_key: str,
    models: str | Sequence[str] = DEFAULT_MODELS,
    reconstruct: str | Sequence[str] | None = None,
    full=None,
    seeds: int = 1,
    budget: str = "fast",
    out_dir: str | Path,
    test_size: float = 0.2,
    seed: int = 0,
    progress: bool = True,
    overrides: Mapping[str, Mapping[str, Any] | Sequence[str]] | None = None,
    steps_grid: Sequence[int] | None = None,
    metrics: Sequence[str] | None = None,
    evaluate_options: Mapping[str, Any] | None = None,
    device: str = "auto",
    report: bool = True,
    data_name: str | None = None,
) -> pd.DataFrame:
    """Benchmark generators on one labelled data set; returns the leaderboard (one row per model).

    Parameters
    ----------
    data
        AnnData or any file :func:`rnagen.data.read` reads (h5ad, CSV with a label column, GCT, ...).
    label_key
        The class column (``obs`` column or CSV column).
    models
        Benchmark rows: ``ddpm``, ``ddim`` (two samplers of one trained ``diffusion`` model), ``vae``,
        ``wgan-gp``, ``gaussian``; a list or a comma-separated string. A ``real`` row (real training data
        used as the synthetic set: the ceiling) is always added, and the ``gaussian`` row (the floor of the
        share of the gap closed) when not listed.
    reconstruct, full
        Reconstruction methods (``linear``, ``mlp``) and the full-profile data (same samples as ``data``, a
        superset of its genes): each model's synthetic profiles are completed to full profiles and scored
        again as rows ``<model>+<method>``; a ``real-full`` row is the full-profile reference.
    seeds
        Independent trainings per model (seeds ``seed``, ``seed+1``, ...); the leaderboard reports the mean
        (and ``<metric>_sd`` across seeds when ``seeds > 1``).
    budget
        ``fast`` (CPU minutes), ``standard`` (model defaults) or ``paper`` (the paper's settings, for a GPU);
        see :mod:`rnagen.bench.budgets`.
    out_dir
        Output folder (see the module docstring); rerunning on the same folder resumes.
    test_size, seed
        Stratified split of ``data`` into real training and test parts, seeded.
    overrides
        Extra config overrides per registered model, applied after the budget, e.g.
        ``{"diffusion": ["train.steps=50"]}``.
    steps_grid
        Step counts of the quality-vs-steps curve (default per budget; capped at the schedule's T): DDIM over
        all of them, DPM-Solver++ over those up to ``DPM_MAX_STEPS``.
    metrics
        Names passed to :func:`rnagen.metrics.evaluate` (default: all).
    evaluate_options
        Keyword arguments of :func:`rnagen.metrics.evaluate` (``n_boot``, ``classifier_seeds``, ...) on top of
        the budget's (:data:`rnagen.bench.budgets.EVALUATE_OPTIONS`).
    device
        ``auto``, ``cpu`` or ``cuda``.
    report
        Also write ``out_dir/report.html`` (:func:`rnagen.report.write_report`).
    data_name
        Name of the data set in the report (default: the file name).

    Returns
    -------
    pandas.DataFrame
        The leaderboard, also written to ``out_dir/leaderboard.csv`` and ``leaderboard.json``.
    """
    from ..pp import split

    check_budget(budget)
    rows = parse_models(models)
    if FLOOR_ROW not in rows:
        rows.insert(0, FLOOR_ROW)  # the floor of every row's share of the gap closed
    methods = _parse_methods(reconstruct)
    if methods and full is None:
        raise ConfigError("--reconstruct needs the full profiles: pass --full FULL.h5ad")
    overrides = dict(overrides or {})
    seeds, test_size, seed = _check_options(rows, budget, overrides, seeds=seeds, test_size=test_size, seed=seed,
                                            device=device)
    if metrics is not None:
        from ..metrics import METRICS

        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ConfigError(f"unknown metric(s) {unknown}; valid: {', '.join(METRICS)}")
    if isinstance(full, (str, Path)) and not Path(full).exists():
        raise DataError(f"--full {str(full)!r} does not exist; give the full profiles of the same samples")
    adata = _load_data(data, label_key)
    train, test = split(adata, label_key=label_key, test_size=test_size, seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("runs", "results", "plots"):
        (out / sub).mkdir(exist_ok=True)
    split_fp = _hash({"train": list(map(str, train.obs_names)), "test": list(map(str, test.obs_names)),
                      "genes": list(map(str, adata.var_names)), "label_key": label_key,
                      "X": hashlib.sha256(np.ascontiguousarray(np.asarray(
                          adata.X[: min(adata.n_obs, 64)].toarray() if hasattr(adata.X, "toarray")
                          else adata.X[: min(adata.n_obs, 64)], dtype=np.float32)).tobytes()).hexdigest()})
    settings = {"rnagen_version": __version__, "label_key": label_key, "n_obs": adata.n_obs,
                "n_genes": adata.n_vars, "n_train": train.n_obs, "n_test": test.n_obs, "test_size": test_size,
                "seed": seed, "seeds": seeds, "budget": budget, "models": rows, "reconstruct": methods,
                "split_fingerprint": split_fp,
                "labels": [str(c) for c in train.obs[label_key].cat.categories],
                "data": str(data) if isinstance(data, (str, Path)) else "AnnData",
                "data_name": data_name or (Path(str(data)).name if isinstance(data, (str, Path)) else "AnnData"),
                "full": (str(full) if isinstance(full, (str, Path)) else ("AnnData" if full is not None else None))}
    prev = _read_json(out / "bench.json")
    if prev and prev.get("split_fingerprint") != split_fp:
        raise RunDirError(f"{out} holds a benchmark of other data or another split (label key, test size, seed "
                          "or samples differ); choose a new --out folder or delete the old one")
    write_json(out / "bench.json", settings)
    write_json(out / "split.json", {"train": list(map(str, train.obs_names)), "test": list(map(str, test.obs_names))})

    # registered models to train and the rows each one serves
    by_model: dict[str, list[str]] = {}
    for r in rows:
        by_model.setdefault(ROWS[r][0], []).append(r)
    from ..models import available_models

    missing = sorted(set(by_model) - set(available_models()))
    if missing:
        raise ConfigError(f"model(s) {missing} are not available in this installation "
                          f"(available: {', '.join(available_models())}); drop them from --models")

    n_rows = 1 + len(rows) * seeds * (1 + len(methods)) + (1 if methods else 0)
    say = _Progress(n_rows, progress)
    ref = RealReference(train, test, label_key=label_key, seed=seed)
    write_npz(out / "plots" / "real.npz", **ref.arrays())
    ev_opts = {**EVALUATE_OPTIONS[budget], **dict(evaluate_options or {})}
    if "k" not in ev_opts and test.n_obs < 12:
        # k-NN metrics need k + 1 profiles per set: a small test split gets a smaller neighbourhood
        ev_opts["k"] = max(1, test.n_obs - 2)
    metric_fp = {"metrics": list(metrics) if metrics is not None else "all", "split": split_fp,
                 "evaluate": {k: list(v) if isinstance(v, (tuple, list)) else v for k, v in ev_opts.items()}}

    def evaluate_(real, synthetic, *, train, seed):
        return _evaluate(real, synthetic, train=train, label_key=label_key, seed=seed, metrics=metrics,
                         options=ev_opts)

    # --- the real reference row -------------------------------------------------------------------------
    _real_row(out, "real", test, train, train, seed=seed, evaluate_=evaluate_, fp=metric_fp, say=say)
    _update_json(out / "plots" / "tstr_logreg_per_class.json",
                 {"real": ref.per_class_tstr(ref.Xtr, ref.ytr, seed=seed)})

    # --- reconstruction: fitted on real full training profiles only -------------------------------------
    recons: dict[str, Any] = {}
    full_train = full_test = None
    if methods:
        full_ad = _read_full(full, label_key) if isinstance(full, (str, Path)) else full
        full_train, full_test = _align_full(full_ad, train, test, adata, label_key)
        from .. import reconstruct as R

        for m in methods:
            rdir = out / "recon" / m
            rfp = _hash({"method": m, "split": split_fp, "seed": seed, "genes": list(map(str, full_ad.var_names))})
            marker = rdir / "bench_fingerprint.txt"
            if (rdir / "meta.json").is_file() and marker.is_file() and marker.read_text().strip() == rfp:
                say(f"reconstruction {m}: fitted earlier, loaded from {rdir}")
                rec = R.load(rdir, device=device)
            else:
                say(f"reconstruction {m}: fit on real full training profiles")
                rec = R.fit(full_train, inputs=list(map(str, adata.var_names)), method=m, seed=seed,
                            device=device, progress=progress)
                rec.save(rdir)
                write_text(marker, rfp + "\n")
            recons[m] = rec
            score = rec.score(full_test)
            write_npz(out / "plots" / f"recon_{m}.npz", **_r2_arrays(score))
            write_json(out / "plots" / f"recon_{m}.json", {k: v for k, v in score.items() if k != "per_gene"})
        _real_row(out, "real-full", full_test, full_train, full_train, seed=seed, evaluate_=evaluate_,
                  fp=metric_fp, say=say)

    # --- models -------------------------------------------------------------------------------------------
    T_by_model: dict[str, int] = {}
    for k in range(seeds):
        s = seed + k
        for model_name, model_rows in by_model.items():
            extra = overrides.get(model_name)
            ovr = budget_overrides(model_name, budget, n_train=train.n_obs, extra=extra)
            run_dir = out / "runs" / f"{model_name}_seed{k}"
            run_fp = _hash({"model": model_name, "overrides": ovr, "seed": s, "split": split_fp})
            want: list[tuple[str, dict[str, Any], str]] = []   # (row, sampler options, fingerprint)
            gen = None
            for r in model_rows:
                opts = dict(ROWS[r][1])
                if model_name == "diffusion":
                    gen = gen or _trained(model_name, ovr, run_dir, run_fp, train, label_key, s, device,
                                          progress, say, lazy=True)
                    T = gen.config.schedule.T
                    T_by_model[model_name] = T
                    opts["steps"] = min(SAMPLER_STEPS[budget][r], T)
                fp = _hash({"run": run_fp, "row": r, "opts": opts, **metric_fp,
                            "recon": methods})
                res = _read_json(out / "results" / f"{r}_seed{k}.json")
                if res and res.get("fingerprint") == fp:
                    say(f"{r} seed {k}: done earlier, skipped")
                    say.done += 1 + len(methods)
                    continue
                want.append((r, opts, fp))
            if not want:
                continue
            if gen is None or not gen.is_fitted:
                gen = _trained(model_name, ovr, run_dir, run_fp, train, label_key, s, device, progress, say)
            for r, opts, fp in want:
                say(f"{r} seed {k}: sample {train.n_obs} profiles like the training set {opts or ''}")
                t0 = time.perf_counter()
                syn = gen.sample(like=train, seed=s, progress=progress, **opts)
                sample_seconds = time.perf_counter() - t0
                write_h5ad(syn, run_dir / f"synthetic_{r}.h5ad")
                say(f"{r} seed {k}: evaluate")
                result = {"row": r, "model": model_name, "seed": s, "seed_index": k, "sampler": opts,
                          "overrides": ovr, "train_seconds": float(gen.train_seconds),
                          "sample_seconds": sample_seconds, "fingerprint": fp}
                result["metrics"], result["per_class"] = evaluate_(test, syn, train=train, seed=s)
                if k == 0:
                    write_npz(out / "plots" / f"{r}.npz", **ref.synthetic_arrays(syn))
                    Xs, _ = _plot_X(ref, syn)
                    _update_json(out / "plots" / "tstr_logreg_per_class.json", {r: ref.per_class_tstr(
                        Xs, syn.obs[label_key].astype(str).to_numpy(), seed=s)})
                say.done += 1
                for m, rec in recons.items():
                    say(f"{r}+{m} seed {k}: reconstruct and evaluate full profiles")
                    t1 = time.perf_counter()
                    syn_full = rec.apply(syn)
                    rsec = time.perf_counter() - t1
                    met, _ = evaluate_(full_test, syn_full, train=full_train, seed=s)
                    result.setdefault("reconstructed", {})[m] = {"sample_seconds": sample_seconds + rsec,
                                                                 "metrics": met}
                    say.done += 1
                write_json(out / "results" / f"{r}_seed{k}.json", result)
            # quality against the number of sampling steps (first seed; same trained network)
            if model_name == "diffusion" and k == 0:
                _steps_curve(out, gen, ref, train, budget=budget, steps_grid=steps_grid, seed=s, run_fp=run_fp,
                             say=say)
        # the curve is also wanted when every diffusion row was resumed
    if "diffusion" in by_model and not (out / "plots" / STEPS_CURVE).is_file():
        ovr = budget_overrides("diffusion", budget, n_train=train.n_obs, extra=overrides.get("diffusion"))
        run_fp = _hash({"model": "diffusion", "overrides": ovr, "seed": seed, "split": split_fp})
        gen = _trained("diffusion", ovr, out / "runs" / "diffusion_seed0", run_fp, train, label_key, seed, device,
                       progress, say)
        _steps_curve(out, gen, ref, train, budget=budget, steps_grid=steps_grid, seed=seed, run_fp=run_fp, say=say)

    board = _leaderboard(out, rows, seeds=seeds, methods=methods)
    _per_class_plot(out, rows)
    if report:
        from ..report import write_report

        path = write_report(out)
        say(f"report: {path}")
    return board


# ---------------------------------------------------------------------------------------------------------
def _parse_methods(reconstruct) -> list[str]:
    if not reconstruct:
        return []
    names = [m.strip() for m in (reconstruct.split(",") if isinstance(reconstruct, str) else reconstruct)
             if m.strip()]
    bad = [m for m in names if m not in ("linear", "mlp")]
    if bad:
        raise ConfigError(f"unknown reconstruction method(s) {bad}; choose linear and/or mlp")
    return list(dict.fromkeys(names))


def _read_full(path, label_key):
    from ..data import read

    try:
        return read(path, label_key=label_key)
    except DataError:
        return read(path)  # the labels may live only in the landmark data


def _align_full(full_ad, train, test, adata, label_key):
    """The full profiles of the same training / test samples (the full set must hold the data's genes)."""
    names = set(map(str, full_ad.obs_names))
    miss = [n for n in list(map(str, train.obs_names)) + list(map(str, test.obs_names)) if n not in names]
    if miss:
        raise DataError(f"{len(miss)} samples of the data are not in the full profiles (first: {miss[:3]}); "
                        "--full must hold the same samples as DATA")
    genes = set(map(str, full_ad.var_names))
    gmiss = [g for g in map(str, adata.var_names) if g not in genes]
    if gmiss:
        raise DataError(f"{len(gmiss)} genes of the data are not in the full profiles (first: {gmiss[:3]}); "
                        "--full must hold every gene of DATA (the reconstruction inputs)")
    ft = full_ad[list(map(str, train.obs_names))].copy()
    fs = full_ad[list(map(str, test.obs_names))].copy()
    for a, src in ((ft, train), (fs, test)):
        a.obs[label_key] = src.obs[label_key].to_numpy()
        a.obs[label_key] = a.obs[label_key].astype(src.obs[label_key].dtype)
    return ft, fs


def _r2_arrays(score) -> dict[str, np.ndarray]:
    """Per-gene R² (and Pearson r when given) from a reconstruction score (dict or DataFrame)."""
    if isinstance(score, pd.DataFrame):
        cols = {c.lower(): c for c in score.columns}
        out = {"r2": score[cols.get("r2", "r2")].to_numpy(dtype=np.float32)}
        for key in ("pearson", "pearson_r", "r"):
            if key in cols:
                out["pearson_r"] = score[cols[key]].to_numpy(dtype=np.float32)
                break
        return out
    if isinstance(score, Mapping):
        for key in ("per_gene", "genes"):
            if key in score:
                return _r2_arrays(pd.DataFrame(score[key]))
        out = {}
        for key in ("r2", "pearson_r"):
            if key in score and np.ndim(score[key]) == 1:
                out[key] = np.asarray(score[key], dtype=np.float32)
        if out:
            return out
    raise DataError(f"cannot read per-gene R² from the reconstruction score ({type(score).__name__})")


def _plot_X(ref: RealReference, syn):
    from .plotdata import plot_space

    return plot_space(syn, logged=ref.logged)


def _update_json(path: Path, entries: Mapping[str, Any]) -> None:
    data = _read_json(path) or {}
    data.update(entries)
    write_json(path, data)


def _real_row(out: Path, row: str, real, synthetic, train, *, seed, evaluate_, fp, say) -> None:
    path = out / "results" / f"{row}_seed0.json"
    fingerprint = _hash({"row": row, **fp})
    prev = _read_json(path)
    if prev and prev.get("fingerprint") == fingerprint:
        say(f"{row}: done earlier, skipped")
    else:
        say(f"{row}: evaluate real training profiles as the synthetic set (reference)")
        met, per_class = evaluate_(real, synthetic, train=train, seed=seed)
        write_json(path, {"row": row, "model": row, "seed": seed, "seed_index": 0, "train_seconds": 0.0,
                          "sample_seconds": 0.0, "fingerprint": fingerprint, "metrics": met,
                          "per_class": per_class})
    say.done += 1


def _trained(model_name, ovr, run_dir: Path, run_fp: str, train, label_key, seed, device, progress, say,
             lazy: bool = False):
    """A trained generator: loaded from its run folder when complete and identical, else fitted (resumes).

    ``lazy``: only build the (untrained) generator, to read its configuration.
    """
    from ..models import get_model, load

    cls = get_model(model_name)
    marker = run_dir / "bench_fingerprint.txt"
    complete = (run_dir / "weights.safetensors").is_file() and (run_dir / "meta.json").is_file()
    if complete and marker.is_file() and marker.read_text().strip() == run_fp:
        if lazy:
            return cls.from_config(overrides=ovr)
        say(f"{model_name} seed {seed}: trained earlier, loaded from {run_dir}")
        return load(run_dir, device=device)
    gen = cls.from_config(overrides=ovr)
    if lazy:
        return gen
    if marker.is_file() and marker.read_text().strip() != run_fp:
        # settings changed: start afresh rather than resume another configuration's checkpoint
        for f in ("checkpoint.pt", "weights.safetensors", "meta.json"):
            (run_dir / f).unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(marker, run_fp + "\n")
    say(f"{model_name} seed {seed}: train ({', '.join(ovr) or 'defaults'})")
    gen.fit(train, label_key=label_key, seed=seed, device=device, run_dir=run_dir, progress=progress, resume=True)
    say(f"{model_name} seed {seed}: trained in {gen.train_seconds:.1f}s")
    return gen


def _steps_curve(out: Path, gen, ref: RealReference, train, *, budget, steps_grid, seed, run_fp, say) -> None:
    """Quality against the number of sampling steps of the same trained network, for each deterministic
    sampler: DDIM (eta = 0) over the whole grid, DPM-Solver++(2M) up to ``DPM_MAX_STEPS`` (a second-order
    solver is meant for few steps)."""
    path = out / "plots" / STEPS_CURVE
    T = gen.config.schedule.T
    grid = sorted({min(int(s), T) for s in (steps_grid or DDIM_STEP_GRID[budget]) if int(s) >= 1})
    grids = {"ddim": grid, "dpm++": [st for st in grid if st <= DPM_MAX_STEPS]}
    fp = _hash({"run": run_fp, "grids": grids})
    prev = _read_json(path)
    if prev and prev.get("fingerprint") == fp:
        return
    if not gen.is_fitted:
        return
    points = []
    for sampler, steps in grids.items():
        for st in steps:
            say(f"{sampler} steps curve: {st} steps")
            t0 = time.perf_counter()
            syn = gen.sample(like=train, seed=seed, sampler=sampler, steps=st)
            sec = time.perf_counter() - t0
            points.append({"sampler": sampler, "steps": st, "sample_seconds": sec,
                           **ref.step_quality(syn, seed=seed)})
    write_json(path, {"fingerprint": fp, "T": T, "model": "diffusion", "samplers": list(grids),
                      "points": points})


# ---------------------------------------------------------------------------------------------------------
def _collect(out: Path, rows: Sequence[str], seeds: int, methods: Sequence[str]) -> dict[str, list[dict]]:
    """Per leaderboard row, its per-seed records ``{metrics, train_seconds, sample_seconds}``."""
    got: dict[str, list[dict]] = {"real": []}
    r0 = _read_json(out / "results" / "real_seed0.json")
    if r0:
        got["real"].append(r0)
    if methods:
        rf = _read_json(out / "results" / "real-full_seed0.json")
        if rf:
            got["real-full"] = [rf]
    for r in rows:
        got[r] = []
        for m in methods:
            got[f"{r}+{m}"] = []
        for k in range(seeds):
            res = _read_json(out / "results" / f"{r}_seed{k}.json")
            if not res:
                continue
            got[r].append(res)
            for m, sub in (res.get("reconstructed") or {}).items():
                if m in methods:
                    got[f"{r}+{m}"].append({"metrics": sub["metrics"], "train_seconds": res["train_seconds"],
                                            "sample_seconds": sub["sample_seconds"],
                                            "seed_index": res.get("seed_index", k)})
    return {k: v for k, v in got.items() if v}


def _leaderboard(out: Path, rows: Sequence[str], *, seeds: int, methods: Sequence[str]) -> pd.DataFrame:
    got = _collect(out, rows, seeds, methods)
    names: list[str] = list(METRIC_COLUMNS)
    directions = dict(DIRECTIONS)
    references: dict[str, float | None] = {}
    for recs in got.values():
        for rec in recs:
            for name, m in rec["metrics"].items():
                if name not in names:
                    names.append(name)
                directions.setdefault(name, m.get("direction", "higher"))
                if name in METRIC_COLUMNS and m.get("direction") is not None:
                    directions[name] = m["direction"]
                if references.get(name) is None and m.get("reference") is not None:
                    references[name] = m["reference"]
    records = []
    for row, recs in got.items():
        rec: dict[str, Any] = {"model": row, "n_seeds": len(recs)}
        for name in names:
            vals = [r["metrics"].get(name, {}) for r in recs]
            v = [x.get("value") for x in vals if x.get("value") is not None]
            lo = [x.get("ci_low") for x in vals if x.get("ci_low") is not None]
            hi = [x.get("ci_high") for x in vals if x.get("ci_high") is not None]
            rec[name] = float(np.mean(v)) if v else np.nan
            rec[f"{name}_ci_low"] = float(np.mean(lo)) if lo else np.nan
            rec[f"{name}_ci_high"] = float(np.mean(hi)) if hi else np.nan
            if seeds > 1:
                rec[f"{name}_sd"] = float(np.std(v, ddof=1)) if len(v) > 1 else np.nan
        for name, gaps in _gap_per_seed(row, recs, got).items():
            g = [x for x in gaps if math.isfinite(x)]
            rec[f"{name}_gap_closed"] = float(np.mean(g)) if g else np.nan
            if seeds > 1:
                rec[f"{name}_gap_closed_sd"] = float(np.std(g, ddof=1)) if len(g) > 1 else np.nan
        rec["train_seconds"] = float(np.mean([r.get("train_seconds", 0.0) for r in recs]))
        rec["sample_seconds"] = float(np.mean([r.get("sample_seconds", 0.0) for r in recs]))
        records.append(rec)
    board = pd.DataFrame.from_records(records)
    for c in GAP_COLUMNS:
        if c not in board.columns:
            board[c] = np.nan
    first = ["model"] + list(METRIC_COLUMNS) + ["train_seconds", "sample_seconds", "n_seeds"] + list(GAP_COLUMNS)
    ci = [f"{n}_{s}" for n in METRIC_COLUMNS for s in ("ci_low", "ci_high")]
    rest = [c for c in board.columns if c not in first and c not in ci]
    board = board[first + ci + rest]
    gap_cols = [c for c in board.columns if c.endswith("_gap_closed")]
    directions.update({c: "higher" for c in gap_cols})
    with_path = out / "leaderboard.csv"
    from .._io import atomic_path

    with atomic_path(with_path) as tmp:
        board.to_csv(tmp, index=False, float_format="%.6g")
    settings = _read_json(out / "bench.json") or {}
    write_json(out / "leaderboard.json", {
        "columns": list(board.columns),
        "rows": [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                 for r in board.to_dict("records")],
        "directions": {k: directions[k] for k in names + ["train_seconds", "sample_seconds"] + gap_cols
                       if k in directions},
        "references": references,
        "gap_closed": {"columns": gap_cols, "floor": FLOOR_ROW, "ceiling": CEILING_ROW, "note": _GAP_NOTE},
        "settings": settings,
    })
    return board


_GAP_NOTE = ("share of the gap closed = 1 - d(row) / d(gaussian), d the distance from the real-vs-real value on the "
             "indicator's side, per seed then averaged: 1 = as real data, 0 = as the per-class Gaussian, negative = "
             "worse; empty (NaN) where the Gaussian already reaches the real-vs-real value on every seed. TSTR is "
             "judged against TRTR (trtr_accuracy) instead.")


def _registered_name(col: str, metrics: Mapping[str, Any]) -> str | None:
    """The registry name behind a leaderboard column (itself, or the alias ``evaluate`` reported it under)."""
    from ..metrics import METRICS

    if col in METRICS:
        return col
    return next((a for a in _ALIASES.get(col, ()) if a in METRICS and a in metrics), None)


def _gap_per_seed(row: str, recs: Sequence[dict], got: Mapping[str, list[dict]]) -> dict[str, list[float]]:
    """Per indicator, the share of the gap ``row`` closes on each of its seeds (NaN where undefined).

    The floor is the Gaussian row of the same seed (its reconstructed row for ``<model>+<method>`` rows); the
    ceiling is the reference of the row's own evaluation. The ``real`` row is its own ceiling (1 where the
    floor leaves a gap). Rows without a floor get none.
    """
    from ..metrics.gap import applies, gap_closed

    if row.startswith(CEILING_ROW + "-"):  # the full-profile reference: no full-profile floor without a model
        return {}
    _, plus, method = row.partition("+")
    floors = {r.get("seed_index", i): r["metrics"] for i, r in enumerate(got.get(FLOOR_ROW + plus + method, []))}
    if not floors:
        return {}
    out: dict[str, list[float]] = {}
    names = set().union(*(r["metrics"] for r in recs)) if recs else set()
    for name in sorted(names | set(GAP_INDICATORS)):
        vals = []
        for i, r in enumerate(recs):
            # the real row (one evaluation, first seed's split) is judged against the first seed's floor
            f = floors.get(0 if row == CEILING_ROW else r.get("seed_index", i)) or {}
            key = _registered_name(name, r["metrics"])
            m = r["metrics"].get(name)
            if key is None or not applies(key) or m is None or name not in f:
                continue
            vals.append(gap_closed(key, m.get("value"), floor=f[name].get("value"), ceiling=m.get("reference")))
        if vals:
            out[name] = vals
    return out


#: the per-class breakdown of ``rnagen.metrics.evaluate`` drawn as "TSTR per class", in order of preference
_PER_CLASS_METRICS = ("tstr_mlp_macro_f1", "tstr_logreg_macro_f1", "tstr_mlp_accuracy")


def _per_class_plot(out: Path, rows: Sequence[str]) -> None:
    """``plots/tstr_per_class.json``: per-class TSTR of each row (first seed) and the TRTR reference.

    Taken from ``evaluate``'s per-class rows when it reports them, else from the benchmark's own per-class
    logistic-regression recall (``plots/tstr_logreg_per_class.json``).
    """
    recs = {r: _read_json(out / "results" / f"{r}_seed0.json") for r in ["real", *rows]}
    recs = {r: v for r, v in recs.items() if v}
    for name in _PER_CLASS_METRICS:
        have = {r: v["per_class"][name] for r, v in recs.items() if name in (v.get("per_class") or {})}
        if not have:
            continue
        sets: dict[str, Any] = {}
        first = next(iter(have.values()))
        if any(x.get("reference") is not None for x in first.values()):
            sets["real (TRTR)"] = {"per_class": {c: x["reference"] for c, x in first.items()}}
        for r, pc in have.items():
            if r == "real":
                continue
            sets[r] = {"per_class": {c: x["value"] for c, x in pc.items()}}
        for r, v in sets.items():
            vals = [x for x in v["per_class"].values() if x is not None]
            v["overall"] = float(np.mean(vals)) if vals else None
        write_json(out / "plots" / "tstr_per_class.json",
                   {"metric": f"{name} per class (classifier trained on each set, tested on real test)",
                    "sets": sets})
        return
    lr = _read_json(out / "plots" / "tstr_logreg_per_class.json") or {}
    sets = {("real (TRTR)" if r == "real" else r): {"per_class": v["per_class"], "overall": v["accuracy"]}
            for r, v in lr.items() if r == "real" or r in rows}
    write_json(out / "plots" / "tstr_per_class.json",
               {"metric": "recall per class of a logistic regression (real-PCA features) trained on each set",
                "sets": sets})


def read_leaderboard(out_dir: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The saved leaderboard of a benchmark folder and its metadata (directions, references, settings)."""
    p = Path(out_dir) / "leaderboard.json"
    meta = _read_json(p)
    if meta is None:
        raise RunDirError(f"{out_dir} has no leaderboard.json; run `rnagen benchmark ... --out {out_dir}` first")
    board = pd.DataFrame.from_records(meta["rows"], columns=meta["columns"])
    return board, meta
