"""``run_benchmark``: models x splits x seeds on one labelled data set into a leaderboard, resumable.

Output folder layout (every file written atomically, so an interrupted benchmark leaves only whole files)::

    OUT/bench.json                  settings of the benchmark (data shape, split, budget, models, seeds)
    OUT/split.json                  sample ids of the real training and test parts (of every split)
    OUT/runs/<model>_seed<k>/       the trained generator's run folder (``rnagen.models.load`` reads it)
    OUT/results/<row>_seed<k>.json  one benchmark row's indicators (the unit of resume)
    OUT/plots/                      the data of the report's figures (see :mod:`rnagen.bench.plotdata`)
    OUT/leaderboard.csv, .json      one row per model (mean over runs), with confidence intervals and the
                                    share of the gap closed per fidelity indicator
    OUT/report.html                 written by :func:`rnagen.report.write_report`

A run ``k`` is one training of a model: with ``splits`` stratified splits (seeds ``seed``, ``seed + 1``, ...)
and ``seeds`` trainings on each, run ``k`` trains on split ``k // seeds`` with seed ``seed + k``; one split
and one seed is run 0. One split is one draw of the held-out profiles, so a difference between generators is
only read against the spread over splits (the leaderboard's ``_sd`` columns).

One synthetic set is one draw of the trained model: with ``draws`` > 1 each row of a run samples that many
training-sized sets (draw 0 with the run's seed, draw ``d`` with :func:`draw_seed`), scores each against the
same held-out profiles with the same evaluation seed, and records their mean (values, CI bounds, references)
as the run's indicators, the draws' own values under ``"draws"`` and their standard deviation as
``draw_sd``; the leaderboard's ``<indicator>_draw_sd`` is its mean over runs, the draw-to-draw noise of one
synthetic set. The run folder keeps draw 0's set; the ``real`` row (the training profiles themselves) is one
set.

Two reference rows are always run: ``real`` (the real training profiles as the synthetic set: the ceiling, on
every run, with the run's seed) and ``gaussian`` (the per-class Gaussian: the floor). Each row's share of the gap
closed on an indicator (:mod:`rnagen.metrics.gap`) is computed per run, against the Gaussian of the same run and
the ceiling of its own evaluation (the real-vs-real reference against the same held-out profiles), then averaged
over runs: columns ``<indicator>_gap_closed``; ``<indicator>_gap_resolved`` is the share of those runs whose Gaussian CI
excludes the ceiling (:func:`rnagen.metrics.gap.gap_resolved`; at 0.5 or below the share is read as noise);
``<indicator>_gap_closed_n``, only where the share is undefined on some runs (the floor at the ceiling there), the
number of runs it averages. TSTR is judged against its reference, TRTR (``trtr_accuracy``).

Resume: a row whose result file exists with the same fingerprint (split, budget overrides, sampler options,
seed, metrics) is not recomputed; a trained run folder with the same fingerprint is loaded instead of
retrained, and a run interrupted during training continues from its checkpoint. ``results/``, the run folders
under ``runs/`` that hold a model or a checkpoint and the fitted reconstructors under ``recon/`` are therefore
the benchmark's resume state, kept when it fails (a full disk, an interrupt), and the error of a write that
failed names them, with the two ways on: run the same command again, or delete the folder. What the failed
benchmark made and that holds nothing to resume (empty folders, a run folder without a model, and the settings
records where nothing else is kept) is removed (:func:`_tidy_on_failure`).

A training that diverges (:class:`rnagen.errors.DivergedError`) does not end the benchmark: its rows' result
files record the failure (``"failed"``, with the same fingerprint, so a re-run with the same settings does not
train it again), the other rows run, the leaderboard and the report name the failed runs (``"failed"`` in
``leaderboard.json``), and :func:`run_benchmark` then raises one :class:`~rnagen.errors.DivergedError` naming
them and the setting to lower.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

import numpy as np
import pandas as pd

from .. import __version__
from .._io import (
    describe_os_error,
    file_digests,
    lock_holder,
    make_folders,
    remove_stale_temporaries,
    settled_path,
    write_h5ad,
    write_json,
    write_npz,
    write_text,
)
from .._manifest import RUN_FILES, folder_kind
from ..errors import ConfigError, DataError, DivergedError, OutputError, RnagenError, RunDirError
from ..pp.history import looks_logged
from ..pp.prepare import dense
from ..utils import label_text, numeric_label_aliases, one_warning_each
from .budgets import (
    DDIM_STEP_GRID,
    DEFAULT_MODELS,
    EVALUATE_OPTIONS,
    ROWS,
    SAMPLER_STEPS,
    budget_overrides,
    check_budget,
    parse_models,
)
from .plotdata import RealReference

#: the steps-curve file under ``plots/`` (DDIM and DPM-Solver++ quality against the number of steps)
STEPS_CURVE = "steps_curve.json"
#: the largest step count of the DPM-Solver++ part of the curve
DPM_MAX_STEPS = 50
#: the reconstruction methods a benchmark runs (``ReconstructConfig.method`` of :mod:`rnagen.reconstruct`)
_Method = Literal["linear", "mlp"]

__all__ = ["run_benchmark", "reconstruction_method", "LEADERBOARD_COLUMNS", "METRIC_COLUMNS", "GAP_COLUMNS",
           "read_leaderboard", "upgrade_leaderboard", "join_test_file", "TEST_FILE_COLUMN"]

#: the headline indicators (registry names, :data:`rnagen.metrics.METRICS`), in leaderboard order; each is
#: also given ``_ci_low`` / ``_ci_high`` columns
METRIC_COLUMNS: tuple[str, ...] = (
    "tstr_mlp_accuracy", "trtr_accuracy", "correlation_score", "precision", "recall", "density", "coverage",
    "aa_ts", "detection_auc", "frechet_classifier", "dcr_share",
) + (
    # the biology family's summary per group (rnagen.metrics.biology.SUMMARY; a benchmark has no gene sets)
    "de_f1", "coexpr_edge_f1", "concordance_jaccard",
)
#: columns that hold the real-vs-real reference of an indicator (TRTR: the TSTR classifier trained on real
#: training data), with that indicator's direction
REFERENCE_COLUMNS: dict[str, str] = {"trtr_accuracy": "tstr_mlp_accuracy"}
#: cost columns (seconds; lower is better)
COST_COLUMNS: tuple[str, ...] = ("train_seconds", "sample_seconds")
LEADERBOARD_COLUMNS: tuple[str, ...] = ("model",) + METRIC_COLUMNS + COST_COLUMNS
#: the privacy guarantee of a differentially private row (epsilon spent, delta; empty for the others), read
#: from its trained model's record
PRIVACY_COLUMNS: tuple[str, ...] = ("epsilon", "delta")
#: headline indicators with a share of the gap closed (Gaussian floor 0, real-vs-real ceiling 1), in order
GAP_INDICATORS: tuple[str, ...] = ("density", "coverage", "precision", "recall", "aa_ts", "detection_auc",
                                   "correlation_score", "frechet_classifier") + (
    "de_f1", "coexpr_edge_f1", "concordance_jaccard")
#: their leaderboard columns (always present; empty where the indicator was not computed)
GAP_COLUMNS: tuple[str, ...] = tuple(f"{c}_gap_closed" for c in GAP_INDICATORS)
#: the floor row (always run) and the row of real training profiles (the ceiling)
FLOOR_ROW, CEILING_ROW = "gaussian", "real"
#: leaderboard columns of files written by earlier versions, and the registry columns that replace them: a
#: column is dropped where its replacement is in the file, else renamed to the first (see
#: :func:`upgrade_leaderboard`)
_LEGACY_COLUMNS: dict[str, tuple[str, ...]] = {"tstr_accuracy": ("tstr_mlp_accuracy",),
                                               "frechet_distance": ("frechet_classifier", "frechet_pca")}
_SUFFIXES = ("", "_ci_low", "_ci_high", "_sd", "_gap_closed", "_gap_closed_sd", "_gap_closed_n",
             "_gap_resolved")


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


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object a benchmark file holds; ``None`` for a file that is missing, unreadable, not JSON or not an
    object (every file of the folder is one: a file edited into another shape is redone, as a damaged one is)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _load_data(data, label_key: str, what: str = "data"):
    if isinstance(data, (str, Path)):
        from .. import datasets
        from ..data import read

        if datasets.is_bundled(data):   # a data set shipped with rnagen, by name
            adata = datasets.load(str(data))
            return _load_data(adata, label_key, what)
        data = read(data, label_key=label_key)
    if not hasattr(data, "obs") or not hasattr(data, "X"):
        raise DataError(f"{what} must be an AnnData or a path the data layer reads, got {type(data).__name__}")
    if label_key not in data.obs:
        raise DataError(f"no label column {label_key!r} in the {what}; columns: {list(data.obs.columns)} "
                        "(choose one with --label-key)")
    from ..pp.history import with_scanpy_log1p

    # scanpy's record of the log of an AnnData given in memory, taken as a file's is on reading (the caller's
    # object unchanged)
    return with_scanpy_log1p(data, f"the {what}")


#: the sample column :func:`join_test_file` adds, saying which file a sample came from: the split ``split_key`` takes
TEST_FILE_COLUMN = "rnagen_test_file"


def _shown(names) -> str:
    names = [repr(str(x)) for x in names]
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def join_test_file(data, test, label_key: str):
    """The training profiles ``data`` and the held-out profiles of the file ``test`` (a published split in two
    files, ``rnagen benchmark --test``) as one AnnData whose column :data:`TEST_FILE_COLUMN` says train or test, for
    :func:`run_benchmark`'s ``split_key``; with the line to print where the test file's genes that ``data`` lacks
    are left out (else ``None``). The test file's genes are taken in ``data``'s order; refused where the two cannot
    be scored as one data set (a gene missing, a sample in both, a class only in the test file, values on a recorded
    log scale in one file only, or on two bases that cannot be brought to one). Two recorded log scales (scanpy's
    ln(x+1) beside log2(x+1), log2(x+1) beside log2(TPM+0.001)) are brought to one, exactly, as ``rnagen evaluate``
    scores such sets (:func:`rnagen.pp.history.log_plan`, :func:`~rnagen.pp.history.relogged`), and the line says
    so; a pseudocount one file records and the other does not is said, the values taken as they are. A sample is in
    both where one name holds the same values in both files (up to rounding); a name that holds other values in
    each (the generic ids ``sample_0``, ... of two files written without their row names) names two samples, and the
    test file's is renamed (``sample_0_test``) and said so."""
    import anndata as ad

    from ..pp import log_state
    from ..pp.history import (
        TWO_LOG_BASES,
        conversion_formula,
        log_bases_differ,
        log_plan,
        relogged_copy,
        relogged_name,
        unknown_pseudocount_note,
    )

    train = _load_data(data, label_key)
    held = _load_data(test, label_key, what="--test file")
    missing = train.var_names.difference(held.var_names)
    if len(missing):
        raise DataError(f"the --test file lacks {len(missing)} of DATA's {train.n_vars} genes ({_shown(missing)}): "
                        "give both files the same genes (rnagen data prepare --genes FILE on each)")
    a, b = log_state(train) or {}, log_state(held) or {}
    if bool(a.get("logged")) != bool(b.get("logged")):
        which, st = ("DATA", a) if a.get("logged") else ("the --test file", b)
        raise DataError(f"{which} records log-scale values ({st.get('transform')}) and the other file does not: "
                        "prepare both the same way (rnagen data prepare on each)")
    rebased = unknown_pseudocount_note("DATA", a, "the --test file", b)
    if (side := log_plan(a, b)) is not None:
        # two recorded log scales (bases, pseudocounts): one file's values converted exactly to the other's, as
        # rnagen evaluate scores such sets (before the samples of both files are compared, on one scale)
        which, st, to = ("DATA", a, b) if side == 0 else ("the --test file", b, a)
        part = relogged_copy(train if side == 0 else held, to, f"{which} beside {to.get('transform')}")
        train, held = (part, held) if side == 0 else (train, part)
        how = conversion_formula(st, to)
        rebased = (f"{which}'s {st.get('transform')} converted to {relogged_name(st, to)} ({how}, "
                   f"exact), the other file's {'base' if how.startswith('x ') else 'scale'}")
    elif log_bases_differ(a, b):
        raise DataError(f"DATA records {a.get('transform')} and the --test file {b.get('transform')}: {TWO_LOG_BASES}")
    both = train.obs_names.intersection(held.obs_names)
    if len(both):
        from ..metrics._knn import same_pairs

        def dense(a):
            x = a[both, train.var_names].X
            return x.toarray() if hasattr(x, "toarray") else np.asarray(x)

        same = both[same_pairs(dense(held), dense(train))]
        if len(same):
            raise DataError(f"{len(same)} sample(s) in both DATA and the --test file under the same name with the "
                            f"same values ({_shown(same)}): the same sample on both sides of the split; remove them "
                            "from one file")
    # numeric classes the test file writes another way (1.0 for 1: a float column beside a text one) are DATA's
    held_labels = [label_text(v) for v in held.obs[label_key].astype(str)]
    train_labels = {label_text(v) for v in train.obs[label_key].astype(str)}
    aliases = numeric_label_aliases(held_labels, train_labels)
    held_labels = [aliases.get(v, v) for v in held_labels]
    new = sorted(set(held_labels) - train_labels)
    if new:
        raise DataError(f"class(es) of {label_key!r} in the --test file only ({_shown(new)}): no model learns a class "
                        "it never saw; remove those samples from the test file")
    named = [w for w, part in (("DATA", train), ("the --test file", held)) if TEST_FILE_COLUMN in part.obs]
    if named:
        raise DataError(f"{named[0]} has a sample column {TEST_FILE_COLUMN!r}, the name --test gives its split; "
                        "rename it")
    extra = held.var_names.difference(train.var_names)
    notes = [f"the --test file's {len(extra)} gene(s) not in DATA ({_shown(extra)}) left out: the models learn "
             "DATA's genes"] if len(extra) else []
    if rebased is not None:
        notes.append(rebased)
    held = held[:, train.var_names].copy()   # the data layer reads either file as dense profiles
    held.obs[label_key] = held_labels
    if len(both):   # other profiles under the same names: the test file's renamed, unique in the joined data
        taken = set(map(str, train.obs_names)) | set(map(str, held.obs_names))
        new_names = {}
        for n in map(str, both):
            m, i = f"{n}_test", 2
            while m in taken:
                m, i = f"{n}_test{i}", i + 1
            taken.add(m)
            new_names[n] = m
        held.obs_names = pd.Index([new_names.get(str(n), str(n)) for n in held.obs_names])
        first = next(iter(new_names.items()))
        notes.append(f"{len(both)} sample name(s) of the --test file name other profiles in DATA (generic ids of "
                     f"files written without their sample names?): the test file's renamed, {first[0]!r} to "
                     f"{first[1]!r}")
    note = "note: " + "; ".join(notes) if notes else None
    joined = ad.concat([train, held], axis=0, join="outer", merge=None, uns_merge=None)
    joined.var = train.var.copy()
    joined.uns = dict(train.uns)
    joined.obs[TEST_FILE_COLUMN] = ["train"] * train.n_obs + ["test"] * held.n_obs
    joined.obs[label_key] = joined.obs[label_key].astype(str).astype("category")
    return joined, note


# ---------------------------------------------------------------------------------------------------------
def _table_to_metrics(table: pd.DataFrame) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """``evaluate``'s table -> ({name: {value, ci_low, ci_high, reference, direction}}, per-class rows).

    Rows whose ``group`` is a class name (per-class breakdowns) go to the second dict:
    ``{metric: {class: {"value": v, "reference": r}}}``. The reference columns (:data:`REFERENCE_COLUMNS`)
    are added from their indicator's reference.
    """
    from ..metrics._registry import direction_from_text
    from ..metrics._table import overall_rows

    df = table.reset_index() if "name" not in table.columns else table
    out: dict[str, dict[str, Any]] = {}
    per_class: dict[str, dict[str, Any]] = {}
    for rec, overall in zip(df.to_dict("records"), overall_rows(df).tolist()):
        name = str(rec["name"])
        group = str(rec.get("group"))
        if not overall:
            per_class.setdefault(name, {})[group] = {"value": _num(rec.get("value")),
                                                     "reference": _num(rec.get("reference"))}
            continue
        out[name] = {k: _num(rec.get(k)) for k in ("value", "ci_low", "ci_high", "reference")}
        out[name]["direction"] = direction_from_text(rec["direction"])
    for col, src in REFERENCE_COLUMNS.items():
        if src in out and out[src]["reference"] is not None:
            ref = out[src]["reference"]
            out[col] = {"value": ref, "ci_low": None, "ci_high": None, "reference": ref,
                        "direction": out[src]["direction"]}
    return out, per_class


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


#: evaluate's arguments the benchmark sets itself, per row: not options a caller passes in evaluate_options
_SET_PER_ROW = frozenset({"real", "synthetic", "train", "label_key", "seed", "metrics", "membership_seed",
                          "membership_sets"})


def _check_evaluate_options(options: Mapping[str, Any] | None) -> None:
    """Refuse an ``evaluate_options`` key :func:`rnagen.metrics.evaluate` does not take (or one the benchmark
    sets per row), before anything is written: it raised a TypeError at the first row, after the split."""
    import inspect

    from ..metrics.evaluate import evaluate as evaluate_as_defined

    # the function as its module defines it (the package attribute may be wrapped, e.g. to count calls)
    known = set(inspect.signature(evaluate_as_defined).parameters) - _SET_PER_ROW
    bad = sorted(str(k) for k in dict(options or {}) if k not in known)
    if bad:
        raise ConfigError(f"evaluate_options {bad} are not options of rnagen.metrics.evaluate; use "
                          f"{', '.join(sorted(known))}")


def _evaluate(real, synthetic, *, train, label_key: str, seed: int, metrics: Sequence[str] | None,
              options: Mapping[str, Any], attrs: dict[str, Any] | None = None):
    """``evaluate``'s table as leaderboard records (:func:`_table_to_metrics`); its notes (the table's ``attrs``)
    go into ``attrs`` when given."""
    from .. import metrics as M

    kw: dict[str, Any] = {"train": train, "label_key": label_key, "seed": seed, **options}
    if metrics is not None:
        kw["metrics"] = list(metrics)
    table = M.evaluate(real, synthetic, **kw)
    if attrs is not None:
        attrs.update(table.attrs)
    return _table_to_metrics(table)


# ---------------------------------------------------------------------------------------------------------
def draw_seed(seed: int, d: int) -> int:
    """The sampling seed of synthetic draw ``d`` of a run whose seed is ``seed``: the seed itself for draw 0 (a
    one-draw benchmark's set), else one derived from both (:class:`numpy.random.SeedSequence`), so that no
    draw reuses another run's seed however many runs there are."""
    if d == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(d)]).generate_state(1)[0])


def _check_options(rows: list[str], budget: str, overrides: Mapping[str, Any], *, seeds: int, splits: int,
                   test_size: float, seed: int, device: str, draws: int = 1) -> tuple[int, int, float, int, int]:
    """Every option, and every model's configuration (budget + overrides), checked before anything is written."""
    from ..config import check_number, check_seed
    from ..models import get_model
    from ..utils import check_device

    draws = check_number("draws", draws, ">= 1", integer=True)
    seeds = check_number("seeds", seeds, ">= 1", integer=True)
    splits = check_number("splits", splits, ">= 1", integer=True)
    test_size = check_number("test_size", test_size, "(0, 1)")
    seed = check_seed("seed", seed)
    check_seed("seed + splits x seeds - 1 (the last training's seed)", seed + splits * seeds - 1)
    check_device(device)
    models = {ROWS[r][0] for r in rows}
    stray = sorted(set(overrides) - models)
    if stray:
        rows_of = {m: [r for r, (model, _) in ROWS.items() if model == m] for m in stray}
        known = [m for m in stray if rows_of[m]]
        add = "" if not known else (", or add " + ", ".join("/".join(rows_of[m]) for m in known) + " to --models")
        raise ConfigError(f"overrides for model(s) {stray} that this benchmark does not train "
                          f"(models: {', '.join(sorted(models))}); drop those --set options{add}")
    for name in sorted(models):
        try:
            cls = get_model(name)
        except ConfigError:
            continue  # reported with the available models below, once the rows are known
        cls.from_config(overrides=budget_overrides(name, budget, n_train=1, extra=overrides.get(name)))
    return seeds, splits, test_size, seed, draws


@one_warning_each()
def run_benchmark(
    data,
    *,
    label_key: str,
    models: str | Sequence[str] = DEFAULT_MODELS,
    reconstruct: str | Sequence[str] | None = None,
    full=None,
    seeds: int = 1,
    splits: int = 1,
    draws: int = 1,
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
    privacy_budgets: str | Sequence[float] | None = None,
    split_key: str | None = None,
) -> pd.DataFrame:
    """Benchmark generators on one labelled data set; returns the leaderboard (one row per model).

    Parameters
    ----------
    data
        AnnData or any file :func:`rnagen.data.read` reads (h5ad, CSV with a label column, GCT, ...).
    label_key
        The class column (``obs`` column or CSV column).
    models
        Benchmark rows: ``ddpm``, ``ddim``, ``dpm++`` (three samplers of one trained ``diffusion`` model),
        ``vae``, ``wgan-gp``, ``gaussian``; a list or a comma-separated string. A ``real`` row (real training data
        used as the synthetic set: the ceiling) is always added, and the ``gaussian`` row (the floor of the
        share of the gap closed) when not listed.
    reconstruct, full
        Reconstruction methods (``linear``, ``mlp``) and the full-profile data (same samples as ``data``, a
        superset of its genes): each model's synthetic profiles are completed to full profiles and scored
        again as rows ``<model>+<method>``; a ``real-full`` row is the full-profile reference.
    seeds
        Independent trainings per model and split (seeds ``seed``, ``seed+1``, ...); the leaderboard reports
        the mean over every run (and ``<metric>_sd`` across runs when there is more than one).
    splits
        Stratified splits of ``data`` (seeds ``seed``, ``seed+1``, ...), each model trained ``seeds`` times on
        each; the real row (ceiling) and the Gaussian floor are measured on every split, and each run's
        share of the gap closed against its own split's. Not with ``reconstruct``.
    draws
        Synthetic sets drawn from each trained model and scored (see the module docstring): a row's indicators
        on a run are their mean over the draws, ``<metric>_draw_sd`` in the leaderboard their spread between
        draws. The real row is scored once (its set is the training profiles).
    budget
        ``fast`` (CPU minutes), ``standard`` (model defaults) or ``paper`` (the paper's settings, for a GPU);
        see :mod:`rnagen.bench.budgets`.
    out_dir
        Output folder (see the module docstring); rerunning on the same folder resumes.
    test_size, seed
        Stratified split of ``data`` into real training and test parts, seeded (the first split's seed).
    split_key
        A column of ``data`` naming each sample's part (``train``/``test``: a published data set's own split,
        :func:`rnagen.pp.split`'s ``by``) instead of the random split; one split (not with ``splits`` > 1),
        ``test_size`` unused, ``seed`` still the first training's.
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
    privacy_budgets
        ε values (``"1,4,10"`` or a list): adds the differentially private rows ``diffusion-dp-eps<ε>``,
        ``vae-dp-eps<ε>`` and ``gaussian-dp-eps<ε>`` (:mod:`rnagen.bench.privacy`).

    Returns
    -------
    pandas.DataFrame
        The leaderboard, also written to ``out_dir/leaderboard.csv`` and ``leaderboard.json``.

    Raises
    ------
    rnagen.errors.DivergedError
        After the leaderboard and the report are written, when a model's training diverged: its rows are
        left out of them (named under ``"failed"`` in ``leaderboard.json``), every other row is there.
    """
    out_dir = settled_path(Path(out_dir))   # OUT/runs/... are opened as well as written: no missing name before a ..
    with _tidy_on_failure(out_dir):
        private = _private_rows(privacy_budgets, budget=budget, overrides=overrides)
        bench = _setup(data, label_key=label_key, models=models, reconstruct=reconstruct, full=full, seeds=seeds,
                       splits=splits, draws=draws, budget=budget, out_dir=out_dir, test_size=test_size, seed=seed,
                       progress=progress,
                       overrides=_for_rows(models, overrides, private), steps_grid=steps_grid, metrics=metrics,
                       evaluate_options=evaluate_options, device=device, data_name=data_name, split_key=split_key,
                       private=private, private_overrides=overrides)
        _add_private_rows(bench, private)
        if bench.runs > 1:   # what the progress lines' "run k" is
            j = "k" if bench.seeds == 1 else f"k // {bench.seeds}"
            where = (f"on split {j} (stratified with seed {bench.seed} + {j})" if bench.splits > 1
                     else "on the one split")
            bench.say(f"{bench.runs} runs: run k trains {where} with training seed {bench.seed} + k")
        _real_rows(bench)
        # planned one run at a time (a run's split is built when it is reached; see _Bench.part)
        for k in range(bench.runs):
            for model_name, model_rows in bench.by_model.items():
                _run_job(bench, _plan(bench, model_name, model_rows, k))
            for row, spec in private.items():
                _run_job(bench, _plan_private(bench, row, spec, k, overrides))
        curve = bench.out / "plots" / STEPS_CURVE
        if "diffusion" not in bench.by_model:
            curve.unlink(missing_ok=True)   # a curve of an earlier run's diffusion model, which this board lacks
        else:
            # the curve is also wanted when every diffusion row was resumed, and redone when it belongs to another run
            # (a benchmark killed while drawing it leaves the earlier model's); with this run's diffusion training
            # failed, an earlier model's curve is removed, not shown beside a board without its rows
            job = _plan(bench, "diffusion", [], 0)
            if _failures(bench.out, bench.by_model["diffusion"], [0]):
                if (_read_json(curve) or {}).get("run") != job.run_fp:
                    curve.unlink(missing_ok=True)
            elif (_read_json(curve) or {}).get("run") != job.run_fp:
                gen = _trained("diffusion", job.overrides, job.run_dir, job.run_fp, bench.train, label_key, bench.seed,
                               device, progress, bench.say)
                _steps_curve(bench, gen, seed=bench.seed, run_fp=job.run_fp)
        _per_class_plot(bench.out, bench.rows)
        # the report of the leaderboard about to be replaced goes first: a kill between the new leaderboard and
        # its report leaves no report (`rnagen report` writes it) rather than the earlier one beside the new board;
        # a report linked from elsewhere is kept, the new one written through the link
        stale = bench.out / "report.html"
        if stale.is_file() and not stale.is_symlink():
            stale.unlink()
            if not report:
                bench.say(f"removed {stale}: it showed the earlier leaderboard (`rnagen report {bench.out}` writes "
                          "the new one's)")
        board = _leaderboard(bench.out, bench.rows, seeds=bench.seeds, splits=bench.splits, methods=bench.methods)
        if report:
            from ..report import write_report

            bench.say(f"report: {write_report(bench.out)}")
        failed = _failures(bench.out, bench.rows, range(bench.runs))
        if failed:
            raise DivergedError(_failed_message(failed, bench.out))
        return board


@contextlib.contextmanager
def _tidy_on_failure(out: Path) -> Iterator[None]:
    """Around a benchmark writing ``out``: where it fails, remove what it made that holds nothing to resume
    (:func:`_tidy`); a failed write (a full disk) is said with the resume state kept and how to go on."""
    before = _paths_under(out)
    try:
        yield
    except DivergedError:   # raised once every other row, the leaderboard and the report are written
        raise
    except BaseException as e:
        kept = _tidy(out, before)
        # a failed write: an OSError of the file system, or rnagen's OutputError; rnagen's other errors that are
        # OSErrors too (RunDirError, a FileNotFoundError: a folder of another benchmark, a damaged checkpoint) name
        # their own way on, which running the command again is not
        if isinstance(e, OSError) and (isinstance(e, OutputError) or not isinstance(e, RnagenError)) and kept:
            msg = str(e) if isinstance(e, OutputError) else describe_os_error(e)
            where = ", ".join(f"{k}/" for k in kept)
            raise OutputError(f"{msg}; {out} keeps the finished part ({where}: the benchmark's resume state): run "
                              f"the same command again to resume, or delete {out} to start over") from None
        raise


def _paths_under(out: Path) -> set[str] | None:
    """Every file and folder under ``out``, relative to it (symbolic links to folders not followed); ``None``
    where there is no folder ``out``."""
    if not out.is_dir():
        return None
    found: set[str] = set()
    for root, dirs, files in os.walk(out):
        rel = Path(root).relative_to(out)
        found.update(str(rel / n) for n in (*dirs, *files))
    return found


def _holds_model(folder: Path) -> bool:
    """Whether a run folder holds what a resumed benchmark reuses: trained weights or a training checkpoint."""
    return (folder / "weights.safetensors").is_file() or any(f.suffix == ".pt" for f in folder.iterdir())


def _holds_nothing(folder: Path) -> bool:
    """Whether a run folder holds nothing to resume or to read: no model, no checkpoint, no training curve."""
    return not _holds_model(folder) and not any((folder / f).is_file() for f in ("train_log.csv", "validation.csv"))


def _tidy(out: Path, before: set[str] | None) -> list[str]:
    """Remove what a failed benchmark made under ``out`` (not in ``before``) that holds nothing to resume: run
    folders without a model, checkpoint or curve (and a private row's fingerprint beside one), the settings records and
    plot data where no resume state is kept at all, and the folders left empty. Returns the folders of resume
    state ``out`` keeps: ``results``, ``runs``, ``recon`` (each where it holds one)."""
    def new(p: Path) -> bool:   # made by the failed benchmark (``before`` None: so was ``out``)
        return before is None or (p != out and str(p.relative_to(out)) not in before)

    with contextlib.suppress(OSError):
        for d in sorted((out / "runs").iterdir()) if (out / "runs").is_dir() else []:
            if d.is_dir() and not d.is_symlink() and new(d) and _holds_nothing(d):
                for f in d.iterdir():
                    if f.is_file() and not f.is_symlink():
                        f.unlink()
                _private_marker(d).unlink(missing_ok=True)
                d.rmdir()
    kept = []
    with contextlib.suppress(OSError):
        if any((out / "results").glob("*.json")):
            kept.append("results")
        if any(d.is_dir() and _holds_model(d) for d in (out / "runs").glob("*")):
            kept.append("runs")
        if any((d / "meta.json").is_file() for d in (out / "recon").glob("*")):
            kept.append("recon")
    if not kept:   # nothing to resume: the settings and figure data this run wrote are its only trace
        for f in (out / "bench.json", out / "split.json", *sorted((out / "plots").glob("*"))):
            with contextlib.suppress(OSError):
                if f.is_file() and not f.is_symlink() and new(f):
                    f.unlink()
    for d in sorted((out / "runs", out / "results", out / "plots", *(out / "recon").glob("*"), out / "recon", out),
                    key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            if d.is_dir() and not d.is_symlink() and new(d) and not any(d.iterdir()):
                d.rmdir()
    return kept


def _failures(out: Path, rows: Sequence[str], runs) -> dict[str, list[str]]:
    """Per row, the failure messages recorded in its result files of runs ``runs`` (rows whose training
    diverged; see the module docstring)."""
    got: dict[str, list[str]] = {}
    for r in rows:
        for k in runs:
            res = _read_json(out / "results" / f"{r}_seed{k}.json")
            if res and res.get("failed"):
                got.setdefault(r, []).append(str(res["failed"]))
    return got


def _failed_message(failed: Mapping[str, list[str]], out: Path) -> str:
    """One line: the first failed training (the model, seed, step and the setting to lower), how many rows
    failed, and where the other rows' results are."""
    first = next(iter(failed.values()))[0]
    n = sum(len(v) for v in failed.values())
    rows = ", ".join(failed)
    return (f"{first}; {n} row run(s) without a result ({rows}), the other rows are in {out / 'leaderboard.csv'} "
            "and the report")


# ---------------------------------------------------------------------------------------------------------
@dataclass
class _Part:
    """One stratified split of the data: its index, seed, training and test parts, and fingerprints."""

    index: int
    seed: int
    train: Any
    test: Any
    split_fp: str
    metric_fp: dict[str, Any]   # the fingerprint of a result's scoring on this split
    #: a label per test profile, equal for copies of one profile (found when first asked for, once per split)
    test_groups: np.ndarray | None = field(default=None, repr=False, compare=False)

    def copy_labels(self) -> np.ndarray:
        """:attr:`test_groups`, found on the first call (:func:`rnagen.pp.copies.copy_groups` of the test part)."""
        if self.test_groups is None:
            from ..pp.copies import copy_groups, group_ids

            self.test_groups = group_ids(copy_groups(self.test), self.test.n_obs)
        return self.test_groups


@dataclass
class _Bench:
    """A benchmark once checked and set up: its folder, data, settings and the shared real reference.

    ``first`` is the first split (the report's figures, the steps curve and the reconstruction read it;
    ``train``, ``test``, ``split_fp`` and ``metric_fp`` are its); :meth:`part` gives any run's split."""

    out: Path
    label_key: str
    budget: str
    rows: list[str]
    by_model: dict[str, list[str]]   # registered model -> the rows it serves
    methods: list[_Method]
    seeds: int
    seed: int
    overrides: dict[str, Any]
    steps_grid: Sequence[int] | None
    metrics: Sequence[str] | None
    device: str
    progress: bool
    adata: Any
    first: _Part
    ev_opts: dict[str, Any]
    say: _Progress
    ref: RealReference
    splits: int = 1
    draws: int = 1   # synthetic sets scored per row and run
    recons: dict[str, Any] = field(default_factory=dict)   # reconstruction method -> fitted reconstructor
    full: Any = None          # the full profiles (with reconstruction), and their training / test parts
    full_train: Any = None
    full_test: Any = None
    test_size: float = 0.2
    split_key: str | None = None   # the data's own split (one split), else a random stratified one
    _other: _Part | None = None   # the split built last, when not the first

    @property
    def train(self):
        return self.first.train

    @property
    def test(self):
        return self.first.test

    @property
    def split_fp(self) -> str:
        return self.first.split_fp

    @property
    def metric_fp(self) -> dict[str, Any]:
        return self.first.metric_fp

    @property
    def runs(self) -> int:
        """Trainings per model: ``seeds`` on each of ``splits`` splits (see the module docstring)."""
        return self.splits * self.seeds

    def part(self, k: int) -> _Part:
        """The split of run ``k`` (split ``k // seeds``), built when first asked for: only the first split
        and the current one are held, not every split's copy of the data."""
        j = k // self.seeds
        if j == 0:
            return self.first
        if self._other is None or self._other.index != j:
            self._other = None   # one copy of the data at a time besides the first split's
            self._other = _make_part(self.adata, j, seed=self.seed + j, label_key=self.label_key,
                                     test_size=self.test_size, metric_fp=self.metric_fp, by=self.split_key)
        return self._other

    def evaluate(self, real, synthetic, *, train, seed: int, part: _Part | None = None,
                 attrs: dict[str, Any] | None = None):
        """``evaluate`` with the benchmark's metrics and options, as leaderboard records; the membership audit
        attacks every row of a split with the sets its split record names (:func:`_audit_sets`; the full
        profiles, of the first split's samples in its order, with the first split's). ``attrs``: as
        :func:`_evaluate`'s."""
        p = self.first if part is None else part
        return _evaluate(real, synthetic, train=train, label_key=self.label_key, seed=seed, metrics=self.metrics,
                         options={**self.ev_opts, "membership_seed": p.seed,
                                  "membership_sets": _audit_sets(p, label_key=self.label_key)}, attrs=attrs)


def _make_part(adata, j: int, *, seed: int, label_key: str, test_size: float, metric_fp: Mapping[str, Any],
               by: str | None = None) -> _Part:
    """Split ``j`` of the data (stratified, ``seed``; or the one its column ``by`` names) with its fingerprints."""
    from ..pp import split

    train, test = split(adata, label_key=label_key, test_size=test_size, seed=seed, by=by)
    split_fp = _split_fingerprint(adata, train, test, label_key)
    return _Part(j, seed, train, test, split_fp, {**metric_fp, "split": split_fp})


@dataclass(frozen=True)
class _Job:
    """One registered model trained with one seed, and the rows still to sample from it (with the sampler
    options and result fingerprint of each: a row whose result file has its fingerprint is done)."""

    model: str
    seed_index: int
    seed: int
    overrides: list[str]   # the budget's and the user's config overrides, ``key=value``
    run_dir: Path
    run_fp: str
    todo: tuple[tuple[str, dict[str, Any], str], ...]
    gen: Any = None   # the (lazily built) generator, when planning needed its configuration
    private: bool = False   # a differentially private row's job (rnagen.bench.privacy)


def _validated(rows_arg, *, reconstruct, full, overrides, budget, seeds, splits, test_size, seed, device, metrics,
               split_key=None, draws=1):
    """Every option checked before anything is written; returns (rows, methods, overrides, seeds, splits,
    test_size, seed, draws)."""
    check_budget(budget)
    rows = parse_models(rows_arg)
    if FLOOR_ROW not in rows:
        rows.insert(0, FLOOR_ROW)  # the floor of every row's share of the gap closed
    methods = _parse_methods(reconstruct)
    if methods and full is None:
        raise ConfigError("--reconstruct needs the full profiles: pass --full FULL.h5ad")
    if full is not None and not methods:
        raise ConfigError("--full is read only to score reconstructions: add --reconstruct linear (or mlp), or drop "
                          "--full")
    overrides = dict(overrides or {})
    seeds, splits, test_size, seed, draws = _check_options(rows, budget, overrides, seeds=seeds, splits=splits,
                                                           test_size=test_size, seed=seed, device=device,
                                                           draws=draws)
    if methods and splits > 1:
        raise ConfigError("--reconstruct scores one split: drop --splits, or run one benchmark per split "
                          "(--seed S, a new --out each)")
    if split_key is not None and splits > 1:
        raise ConfigError("--split-key takes the data's own split, one split: drop --splits (or --split-key for "
                          "random stratified splits)")
    if metrics is not None:
        from ..metrics._registry import select_metrics, unknown_metrics_message

        if not metrics:
            raise ConfigError("--metrics names no indicator; give indicator or family names separated by commas "
                              "(e.g. --metrics fidelity,privacy), or leave --metrics out for all")
        try:
            select_metrics(metrics)
        except KeyError as e:
            raise ConfigError(unknown_metrics_message(e.args[0])) from None
    if isinstance(full, (str, Path)) and not Path(full).exists():
        raise DataError(f"--full {str(full)!r} does not exist; give the full profiles of the same samples")
    return rows, methods, overrides, seeds, splits, test_size, seed, draws


def _split_fingerprint(adata, train, test, label_key: str) -> str:
    """Identifies the data and its split: sample ids of both parts, genes, label key, every value and label (a
    digest of the first rows alone would take a file changed further down for the one already benchmarked)."""
    h = hashlib.sha256()
    step = max(1, (64 << 20) // (4 * max(1, adata.n_vars)))   # 64 MB of float32 at a time
    for s in range(0, adata.n_obs, step):
        h.update(np.ascontiguousarray(dense(adata.X[s:s + step], dtype=np.float32)).tobytes())
    h.update("\n".join(map(str, adata.obs[label_key])).encode())
    return _hash({"train": list(map(str, train.obs_names)), "test": list(map(str, test.obs_names)),
                  "genes": list(map(str, adata.var_names)), "label_key": label_key, "X": h.hexdigest()})


def _write_settings(out: Path, records: Sequence[dict[str, Any]], *, split_fp: str, settings: dict[str, Any]
                    ) -> None:
    """``bench.json`` and ``split.json`` (the first split's sample ids and membership sets at the top level,
    every split's record, :func:`_split_record`, under ``splits`` when there are several); a folder holding
    another data set or first split is refused."""
    prev = _read_json(out / "bench.json")
    if prev and prev.get("split_fingerprint") != split_fp:
        raise RunDirError(f"{out} holds a benchmark of other data or another split (label key, test size, seed "
                          "or samples differ); choose a new --out folder or delete the old one")
    doc = {k: v for k, v in records[0].items() if k != "seed"}
    if len(records) > 1:
        doc["splits"] = records
    from .._io import atomic_paths, json_text

    # the settings and the split they ran on, replaced together (a kill between them leaves both old)
    with atomic_paths([out / "bench.json", out / "split.json"]) as (bench_tmp, split_tmp):
        bench_tmp.write_text(json_text(settings), encoding="utf-8")
        split_tmp.write_text(json_text(doc), encoding="utf-8")


def _audit_sets(part: _Part, *, label_key: str) -> dict[str, np.ndarray] | None:
    """The membership audit's sets of a split (:func:`rnagen.metrics.membership.membership_sets` with the
    split's seed: indices into its test and training parts), or None where the test part is too small for the
    audit (evaluate then leaves its rows empty)."""
    from ..metrics.membership import MIN_HOLDOUT, membership_sets

    if part.test.n_obs < MIN_HOLDOUT or part.train.n_obs < 2:
        return None
    # copies of one profile within the test part dealt to one of the audit's sets (membership_split)
    groups = part.copy_labels()
    return membership_sets(real_labels=part.test.obs[label_key].astype(str).to_numpy(), n_real=part.test.n_obs,
                           train_labels=part.train.obs[label_key].astype(str).to_numpy(), n_train=part.train.n_obs,
                           seed=part.seed, real_groups=groups)


def _split_record(part: _Part, *, label_key: str) -> dict[str, Any]:
    """A split's sample ids and the membership audit's sets (sample ids): the test part split, stratified and
    seeded, into non-members, the attacks' reference set and the independent real draw (the ideal), and the
    members (training profiles, as many as the non-members). Every row's evaluation on the split attacks these
    same sets (:func:`rnagen.metrics.membership.membership_sets` with the split's seed); the fidelity
    indicators still read the whole test part (no indicator is fitted on it, so sharing the non-members biases
    none)."""
    train, test = part.train, part.test
    idx = _audit_sets(part, label_key=label_key)
    if idx is None:
        return {"seed": part.seed, "train": list(map(str, train.obs_names)), "test": list(map(str, test.obs_names))}
    ids = {"members": list(map(str, train.obs_names[idx["members"]]))}
    ids.update({k: list(map(str, test.obs_names[idx[k]])) for k in ("nonmembers", "reference", "independent")})
    return {"seed": part.seed, "train": list(map(str, train.obs_names)), "test": list(map(str, test.obs_names)),
            "membership": {"seed": part.seed, "stratified_by": label_key, **ids}}


def _by_model(rows: Sequence[str]) -> dict[str, list[str]]:
    """Registered model -> the benchmark rows it serves; a model this installation lacks is an error."""
    from ..models import available_models

    by_model: dict[str, list[str]] = {}
    for r in rows:
        by_model.setdefault(ROWS[r][0], []).append(r)
    missing = sorted(set(by_model) - set(available_models()))
    if missing:
        raise ConfigError(f"model(s) {missing} are not available in this installation "
                          f"(available: {', '.join(available_models())}); drop them from --models")
    return by_model


def _setup(data, *, label_key, models, reconstruct, full, seeds, splits, budget, out_dir, test_size, seed,
           progress, overrides, steps_grid, metrics, evaluate_options, device, data_name, split_key=None,
           draws=1, private: Mapping[str, Any] | None = None, private_overrides=None) -> _Bench:
    """Check the options, split the data, check the ``private`` rows' privacy plans (with the user's
    ``private_overrides``), write the settings and the real reference's plot data."""
    rows, methods, overrides, seeds, splits, test_size, seed, draws = _validated(
        models, reconstruct=reconstruct, full=full, overrides=overrides, budget=budget, seeds=seeds, splits=splits,
        test_size=test_size, seed=seed, device=device, metrics=metrics, split_key=split_key, draws=draws)
    by_model = _by_model(rows)
    from ..metrics.evaluate import check_fidelity_size

    # refused before anything is written (evaluate would refuse it at the first row)
    check_fidelity_size(dict(evaluate_options or {}).get("fidelity_size", "held-out"))
    _check_evaluate_options(evaluate_options)
    if device != "auto":
        from ..utils import resolve_device

        resolve_device(device)   # CUDA asked for where there is none: refused before anything is written
    adata = _load_data(data, label_key)
    # every split is made (and checked) before anything is written; only the first is kept (Bench.part remakes
    # the others when their runs come)
    first = _make_part(adata, 0, seed=seed, label_key=label_key, test_size=test_size, metric_fp={}, by=split_key)
    records = [_split_record(first, label_key=label_key)]
    records += [_split_record(_make_part(adata, j, seed=seed + j, label_key=label_key, test_size=test_size,
                                         metric_fp={}), label_key=label_key) for j in range(1, splits)]
    train, test = first.train, first.test
    _check_private_plans(private, budget=budget, overrides=private_overrides, n_train=train.n_obs)
    full_ad = full_train = full_test = None
    if methods:
        full_ad = _read_full(full, label_key) if isinstance(full, (str, Path)) else full
        full_train, full_test = _align_full(full_ad, train, test, adata, label_key)
    out = Path(out_dir)
    if folder_kind(out)[0] not in (None, "benchmark", "split"):
        # a generator's run folder, a reconstructor or the user's config.toml: a benchmark's files do not go there
        raise RunDirError(f"{out} holds a trained model's folder (config.toml), not a benchmark; choose a new --out")
    theirs = [f for f in ("split.json", "leaderboard.csv", "leaderboard.json", "report.html") if (out / f).exists()]
    if theirs and not (out / "bench.json").is_file():
        # a benchmark writes bench.json before any of these: without it they are another's (a user's report)
        raise RunDirError(f"{out} holds {', '.join(theirs)} but no bench.json: files no benchmark wrote, which one "
                          "would replace; choose a new --out")
    for sub in ("runs", "results", "plots"):
        if (out / sub).exists() and not (out / sub).is_dir():
            raise RunDirError(f"{out} holds a file named {sub}, where a benchmark keeps its {sub} folder; choose a "
                              "new --out")
    for sub in ("runs", "results", "plots"):
        make_folders(out / sub)
    # what a benchmark killed mid-write left in its folders (the caller holds the folder's lock; a run folder
    # being trained by a process of its own is locked and keeps its temporaries)
    for folder in [out / "results", out / "plots", *(d for d in (out / "runs").iterdir() if d.is_dir())]:
        if lock_holder(folder, kind="dir") is None:
            remove_stale_temporaries(folder)
    split_fp = first.split_fp
    path_like = isinstance(data, (str, Path))
    settings = {"rnagen_version": __version__, "label_key": label_key, "n_obs": adata.n_obs,
                "n_genes": adata.n_vars, "n_train": train.n_obs, "n_test": test.n_obs,
                "test_size": test_size if split_key is None else None, "split_key": split_key,
                "seed": seed, "seeds": seeds, "splits": splits, "draws": draws, "budget": budget, "models": rows,
                "reconstruct": methods, "split_fingerprint": split_fp,
                "labels": [str(c) for c in train.obs[label_key].cat.categories],
                "data": str(data) if path_like else "AnnData",
                "data_name": data_name or (Path(str(data)).name if path_like else "AnnData"),
                "full": (str(full) if isinstance(full, (str, Path)) else ("AnnData" if full is not None else None)),
                # what the user changed from the budget, and the indicators asked for (None: all), for the report
                "overrides": {m: _last_of_each_key(o) for m, o in (overrides or {}).items() if o},
                "metrics": list(metrics) if metrics is not None else None}
    # the synthetic sets are as large as the training set (TSTR trains on them); the indicators judged against
    # the real-vs-real reference are scored on a held-out-sized part, whose reference (as large) lies outside the
    # evaluation's fits (rnagen.metrics.evaluate's fidelity_size)
    ev_opts = {"fidelity_size": "held-out", **EVALUATE_OPTIONS[budget], **dict(evaluate_options or {})}
    if "k" not in ev_opts and min(test.n_obs, train.n_obs) < 12:
        # k-NN metrics need k + 1 profiles per set (the held-out one, the synthetic and reference sets of the
        # training set's size): a small split gets a smaller neighbourhood
        ev_opts["k"] = max(1, min(test.n_obs, train.n_obs) - 2)
    from ..metrics._context import fits_outside

    settings["fidelity_size"] = ev_opts["fidelity_size"]
    # whether the held-out-sized reference leaves enough training profiles to fit the evaluation's spaces on, by the
    # sizes alone; set from the ceilings' own evaluations, which count the copies of the reference's profiles too,
    # once they are scored (_real_rows)
    settings["ceiling_outside_fits"] = ev_opts["fidelity_size"] == "held-out" and fits_outside(train.n_obs,
                                                                                                 test.n_obs)
    _write_settings(out, records, split_fp=split_fp, settings=settings)
    n_rows = splits * seeds * (1 + len(rows) * (1 + len(methods))) + (1 if methods else 0)
    ref = RealReference(train, test, label_key=label_key, seed=seed)
    write_npz(out / "plots" / "real.npz", **ref.arrays())
    from ..metrics import METRICS

    # "all" names the registry's indicators: a result written before an indicator was added is recomputed
    metric_fp = {"metrics": list(metrics) if metrics is not None else ["all", *METRICS], "split": split_fp,
                 "evaluate": {k: list(v) if isinstance(v, (tuple, list)) else v for k, v in ev_opts.items()}}
    first.metric_fp = metric_fp
    bench = _Bench(out=out, label_key=label_key, budget=budget, rows=rows, by_model=by_model, methods=methods,
                   seeds=seeds, seed=seed, overrides=overrides, steps_grid=steps_grid, metrics=metrics,
                   device=device, progress=progress, adata=adata, first=first, ev_opts=ev_opts,
                   say=_Progress(n_rows, progress), ref=ref, splits=splits, test_size=test_size, split_key=split_key,
                   draws=draws)
    if methods:
        bench.full, bench.full_train, bench.full_test = full_ad, full_train, full_test
    return bench


def _real_rows(bench: _Bench) -> None:
    """The reference rows: real training profiles scored as the synthetic set (landmark and, with
    reconstruction, full profiles), on every run (split and seed) with the run's seed, so that the real row shown
    is the mean of the very ceilings the model rows' shares are measured against; and the fitted
    reconstructions."""
    out, seed = bench.out, bench.seed
    for k in range(bench.runs):
        part = bench.part(k)
        _real_row(out, "real", part.test, part.train, part.train, seed=seed + k, k=k,
                  evaluate_=lambda *a, part=part, **kw: bench.evaluate(*a, part=part, **kw), fp=part.metric_fp,
                  say=bench.say)
    _update_json(out / "plots" / "tstr_logreg_per_class.json",
                 {"real": bench.ref.per_class_tstr(bench.ref.Xtr, bench.ref.ytr, seed=seed)})
    # whether the ceilings lay outside the evaluation's fits, as each run's evaluation drew its reference and left its
    # profiles and their copies (pp.copies) out of the fits (metrics._context.rows_outside): the sizes alone
    # (bench.json's first estimate) miss the copies, which can leave too few profiles outside
    outside = [(_read_json(out / "results" / f"real_seed{k}.json") or {}).get("fits_outside")
               for k in range(bench.runs)]
    if all(isinstance(f, bool) for f in outside):
        _update_json(out / "bench.json", {"ceiling_outside_fits": bench.ev_opts["fidelity_size"] == "held-out"
                                          and all(outside)})
    if not bench.methods:
        return
    for m in bench.methods:
        bench.recons[m] = _reconstructor(bench, m)
    _real_row(out, "real-full", bench.full_test, bench.full_train, bench.full_train, seed=seed, k=0,
              evaluate_=bench.evaluate, fp=bench.metric_fp, say=bench.say)


def _reconstructor(bench: _Bench, method: _Method):
    """Reconstruction ``method`` fitted on the real full training profiles (loaded when fitted earlier on the
    same split), with its per-gene R² on the real full test profiles written for the report."""
    from .. import reconstruct as R

    out = bench.out
    rdir = out / "recon" / method
    rfp = _hash({"method": method, "split": bench.split_fp, "seed": bench.seed,
                 "genes": list(map(str, bench.full.var_names))})
    marker = rdir / "bench_fingerprint.txt"
    if (rdir / "meta.json").is_file() and marker.is_file() and marker.read_text().strip() == rfp:
        bench.say(f"reconstruction {method}: fitted earlier, loaded from {rdir}")
        rec = R.load(rdir, device=bench.device)
    else:
        bench.say(f"reconstruction {method}: fit on real full training profiles")
        rec = R.fit(bench.full_train, inputs=list(map(str, bench.adata.var_names)), method=method,
                    seed=bench.seed, device=bench.device, progress=bench.progress)
        rec.save(rdir)
        write_text(marker, rfp + "\n")
    score = rec.score(bench.full_test)
    write_npz(out / "plots" / f"recon_{method}.npz", **_r2_arrays(score))
    write_json(out / "plots" / f"recon_{method}.json", {k: v for k, v in score.items() if k != "per_gene"})
    return rec


def _plan(bench: _Bench, model_name: str, model_rows: Sequence[str], k: int) -> _Job:
    """The job of ``model_name`` in run ``k`` (seed ``seed + k`` on split ``k // seeds``): its configuration and
    fingerprints, and the rows whose results are missing or stale (done rows are counted as progress)."""
    s, part = bench.seed + k, bench.part(k)
    ovr = budget_overrides(model_name, bench.budget, n_train=part.train.n_obs,
                           extra=bench.overrides.get(model_name))
    run_dir = bench.out / "runs" / f"{model_name}_seed{k}"
    run_fp = _hash({"model": model_name, "overrides": ovr, "seed": s, "split": part.split_fp})
    todo, gen = [], None
    for r in model_rows:
        opts = dict(ROWS[r][1])
        if model_name == "diffusion":
            gen = gen or _trained(model_name, ovr, run_dir, run_fp, part.train, bench.label_key, s, bench.device,
                                  bench.progress, bench.say, lazy=True)
            opts["steps"] = min(SAMPLER_STEPS[bench.budget][r], gen.config.schedule.T)
        todo += _row_todo(bench, r, k, run_fp, opts)
    return _Job(model_name, k, s, ovr, run_dir, run_fp, tuple(todo), gen)


def _row_todo(bench: _Bench, row: str, k: int, run_fp: str, opts: dict[str, Any]
              ) -> list[tuple[str, dict[str, Any], str]]:
    """``[(row, opts, fingerprint)]`` when the row's result for run ``k`` is still to compute, ``[]``
    (counted as done) when a result with the same fingerprint is on disk."""
    # the number of draws enters only where it is not one: a one-draw result is the same as before the option
    fp = _hash({"run": run_fp, "row": row, "opts": opts, **bench.part(k).metric_fp, "recon": bench.methods,
                **({"draws": bench.draws} if bench.draws > 1 else {})})
    res = _read_json(bench.out / "results" / f"{row}_seed{k}.json")
    # the first run's set also feeds the report's figures: a figure file gone (deleted) has the row drawn again
    # (the same seeds: the same set and numbers), or the report would drop the row's panels
    plots = bench.out / "plots"
    drawn = k > 0 or (res or {}).get("failed") or all((plots / f).is_file() for f in (f"{row}.npz",
                                                                                      f"biology_{row}.npz"))
    if res and res.get("fingerprint") == fp and drawn:
        bench.say(f"{row} run {k}: " + ("its training diverged earlier (the same settings), skipped"
                                          if res.get("failed") else "done earlier, skipped"))
        bench.say.done += 1 + len(bench.methods)
        return []
    return [(row, opts, fp)]


def _private_rows(budgets, *, budget: str, overrides) -> dict[str, tuple[str, dict[str, Any], list[str]]]:
    """The private rows asked for (:mod:`rnagen.bench.privacy`), opacus present; their configurations and
    privacy plans are checked with the split's size, before anything is written (:func:`_check_private_plans`)."""
    from .privacy import parse_privacy_budgets, private_rows

    eps = parse_privacy_budgets(budgets)
    if not eps:
        return {}
    from ..train.privacy import require_opacus

    require_opacus()
    return private_rows(eps)


def _check_private_plans(private: Mapping[str, Any] | None, *, budget: str, overrides, n_train: int) -> None:
    """Each private row's configuration and privacy plan for ``n_train`` training profiles
    (:meth:`~rnagen.models.Generator.check_privacy_plan`): a bad setting or an ε no noise meets is refused before
    anything is trained, not when its row's turn comes after the others'."""
    from ..models import get_model

    for model, _, settings in (private or {}).values():
        get_model(model).from_config(overrides=_private_overrides(model, settings, budget, n_train, overrides)
                                     ).check_privacy_plan(n_train)


def _private_overrides(model: str, settings: list[str], budget: str, n_train: int, overrides) -> list[str]:
    """The budget's settings, then the private row's, then the user's ``--set`` for ``model``, then its ε."""
    user = (overrides or {}).get(model) or []
    if isinstance(user, Mapping):
        user = [f"{k}={v}" for k, v in user.items()]
    *fixed, eps = settings
    return budget_overrides(model, budget, n_train=n_train, extra=[*fixed, *user, eps])


def _for_rows(models, overrides, private: Mapping[str, Any]):
    """``overrides`` less those of models that only private rows train (checked with those rows)."""
    if not private or not overrides:
        return overrides
    plain = {ROWS[r][0] for r in parse_models(models)}
    only_private = {spec[0] for spec in private.values()} - plain
    return {m: v for m, v in overrides.items() if m not in only_private}


def _add_private_rows(bench: _Bench, private: Mapping[str, Any]) -> None:
    """Append the private rows to the leaderboard's rows, the progress count and ``bench.json``."""
    if not private:
        return
    bench.rows.extend(r for r in private if r not in bench.rows)
    bench.say.total += len(private) * bench.runs * (1 + len(bench.methods))
    _update_json(bench.out / "bench.json", {"private_rows": list(private)})


def _plan_private(bench: _Bench, row: str, spec: tuple[str, dict[str, Any], list[str]], k: int,
                  overrides) -> _Job:
    """The job of one private row in run ``k`` (its own run folder ``runs/<row>_seed<k>``)."""
    model, opts, settings = spec
    s, part = bench.seed + k, bench.part(k)
    ovr = _private_overrides(model, settings, bench.budget, part.train.n_obs, overrides)
    run_dir = bench.out / "runs" / f"{row}_seed{k}"
    if (run_dir / "bench_fingerprint.txt").is_file():   # a folder written with its marker inside: moved out
        os.replace(run_dir / "bench_fingerprint.txt", _private_marker(run_dir))
    run_fp = _hash({"model": model, "overrides": ovr, "seed": s, "split": part.split_fp, "private": row})
    opts = dict(opts)
    if model == "diffusion":
        T = _schedule_T(model, ovr)
        opts["steps"] = min(SAMPLER_STEPS[bench.budget]["dpm++"], T)
    return _Job(model, k, s, ovr, run_dir, run_fp, tuple(_row_todo(bench, row, k, run_fp, opts)), private=True)


def _last_of_each_key(overrides: Mapping[str, Any] | Sequence[str]) -> list[str]:
    """``key=value`` settings as they apply: a key given twice (``--set vae:train.steps=30 --set
    vae:train.steps=40``) once, with its last value, at its first place."""
    given = [f"{k}={v}" for k, v in overrides.items()] if isinstance(overrides, Mapping) else list(overrides)
    last: dict[str, str] = {}
    for o in given:
        last[str(o).partition("=")[0].strip()] = str(o)
    return list(last.values())


def _private_marker(run_dir: Path) -> Path:
    """Where a private row's run fingerprint is kept: beside its folder (:func:`_trained`)."""
    return run_dir.parent / f"{run_dir.name}.fingerprint"


def _schedule_T(model: str, overrides: list[str]) -> int:
    """The diffusion schedule's T under ``overrides`` (the sampling steps are capped at it)."""
    from ..models import get_model

    return int(get_model(model).from_config(overrides=overrides).config.schedule.T)


def _run_job(bench: _Bench, job: _Job) -> None:
    """Train (or load) the job's generator, then sample, score and save each of its pending rows; the first
    seed of the diffusion model also gets the quality-vs-steps curve. A training that diverges is recorded as
    each pending row's result (``"failed"``) and the benchmark goes on."""
    if job.todo:
        gen = job.gen
        if gen is None or not gen.is_fitted:
            try:
                gen = _trained(job.model, job.overrides, job.run_dir, job.run_fp,
                               bench.part(job.seed_index).train, bench.label_key, job.seed, bench.device,
                               bench.progress, bench.say, private=job.private)
            except DivergedError as e:
                bench.say(f"{e}; its rows are left out, the benchmark goes on")
                for row, _, fp in job.todo:
                    write_json(bench.out / "results" / f"{row}_seed{job.seed_index}.json",
                               {"row": row, "model": job.model, "seed": job.seed, "seed_index": job.seed_index,
                                "fingerprint": fp, "failed": str(e), "metrics": {}})
                    bench.say.done += 1 + len(bench.methods)
                    if job.seed_index == 0:
                        _drop_figure_data(bench.out / "plots", row)
                return
        for row, opts, fp in job.todo:
            _run_row(bench, job, gen, row, opts, fp)
        if job.model == "diffusion" and job.seed_index == 0 and not job.private:
            _steps_curve(bench, gen, seed=job.seed, run_fp=job.run_fp)


def _run_row(bench: _Bench, job: _Job, gen, row: str, opts: dict[str, Any], fp: str) -> None:
    """Sample one row's synthetic sets like the training set (``bench.draws`` of them), score each (and its
    reconstructions), save the mean over the draws and each draw's values."""
    k, s, say = job.seed_index, job.seed, bench.say
    part = bench.part(k)
    n = bench.draws
    seeds = [draw_seed(s, d) for d in range(n)]
    scored: list[tuple[dict[str, Any], dict[str, Any]]] = []
    recon: dict[str, list[tuple[dict[str, Any], float]]] = {m: [] for m in bench.recons}
    seconds = []
    for d in range(n):
        of = f" (draw {d + 1} of {n})" if n > 1 else ""
        say(f"{row} run {k}: sample {part.train.n_obs} profiles like the training set {opts or ''}{of}")
        t0 = time.perf_counter()
        syn = gen.sample(like=part.train, seed=seeds[d], progress=bench.progress, **opts)
        seconds.append(time.perf_counter() - t0)
        if d == 0:
            write_h5ad(syn, job.run_dir / f"synthetic_{row}.h5ad")
        say(f"{row} run {k}: evaluate{of}")
        # every draw is scored with the run's seed: the same evaluation subsamples, classifier seeds and
        # audit sets, so that draws differ by their profiles only
        scored.append(bench.evaluate(part.test, syn, train=part.train, seed=s, part=part))
        if k == 0 and d == 0:
            plots = bench.out / "plots"
            write_npz(plots / f"{row}.npz", **bench.ref.synthetic_arrays(syn))
            Xs, _ = _plot_X(bench.ref, syn)
            _update_json(plots / "tstr_logreg_per_class.json", {row: bench.ref.per_class_tstr(
                Xs, syn.obs[bench.label_key].astype(str).to_numpy(), seed=s)})
            write_npz(plots / f"biology_{row}.npz", **bench.ref.biology_arrays(syn))
        for m, rec in bench.recons.items():
            say(f"{row}+{m} run {k}: reconstruct and evaluate full profiles{of}")
            t1 = time.perf_counter()
            syn_full = rec.apply(syn)
            rsec = time.perf_counter() - t1
            met, _ = bench.evaluate(bench.full_test, syn_full, train=bench.full_train, seed=s)
            recon[m].append((met, seconds[-1] + rsec))
    sample_seconds = float(np.mean(seconds))   # one training-sized set's
    result: dict[str, Any] = {"row": row, "model": job.model, "seed": s, "seed_index": k, "split": part.index,
                              "split_seed": part.seed, "sampler": opts, "overrides": job.overrides,
                              "train_seconds": float(gen.train_seconds), "sample_seconds": sample_seconds,
                              "fingerprint": fp}
    guarantee = getattr(gen, "privacy", None)
    if guarantee:
        result.update({c: float(guarantee[c]) for c in PRIVACY_COLUMNS})
    result["metrics"] = _mean_over_draws([met for met, _ in scored])
    result["per_class"] = _mean_per_class([pc for _, pc in scored])
    if n > 1:
        result["draws"] = _draw_values([met for met, _ in scored], seeds=seeds)
    say.done += 1 + len(bench.recons)
    for m, got in recon.items():
        sub: dict[str, Any] = {"sample_seconds": float(np.mean([sec for _, sec in got])),
                               "metrics": _mean_over_draws([met for met, _ in got])}
        if n > 1:
            sub["draws"] = _draw_values([met for met, _ in got], seeds=seeds)
        result.setdefault("reconstructed", {})[m] = sub
    write_json(bench.out / "results" / f"{row}_seed{k}.json", result)


def _mean_or_none(values: Sequence[Any]) -> float | None:
    v = [float(x) for x in values if x is not None]
    return float(np.mean(v)) if v else None


def _mean_over_draws(mets: Sequence[Mapping[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The indicators of one run from its draws' (``_table_to_metrics`` records): per indicator the mean value,
    the mean CI bounds (each draw's bootstrap CI is over the held-out profiles the draws share, so their mean is
    that uncertainty for the mean value too; the draws' own spread is ``draw_sd``), the mean reference and,
    with more than one draw, ``draw_sd``: the standard deviation of the draws' values (None where fewer than
    two draws have one)."""
    if len(mets) == 1:
        return dict(mets[0])
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(n for m in mets for n in m):
        recs = [m[name] for m in mets if name in m]
        rec = {key: _mean_or_none([r.get(key) for r in recs]) for key in ("value", "ci_low", "ci_high", "reference")}
        rec["direction"] = recs[0].get("direction")
        vals = [float(r["value"]) for r in recs if r.get("value") is not None]
        rec["draw_sd"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
        out[name] = rec
    return out


def _mean_per_class(per_class: Sequence[dict[str, dict[str, dict[str, Any]]]]
                    ) -> dict[str, dict[str, dict[str, Any]]]:
    """The per-class rows of one run: each class's value and reference averaged over the draws."""
    if len(per_class) == 1:
        return per_class[0]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name in dict.fromkeys(n for pc in per_class for n in pc):
        classes = dict.fromkeys(c for pc in per_class for c in pc.get(name, {}))
        out[name] = {c: {key: _mean_or_none([pc[name][c].get(key) for pc in per_class
                                             if c in pc.get(name, {})]) for key in ("value", "reference")}
                     for c in classes}
    return out


def _draw_values(mets: Sequence[Mapping[str, dict[str, Any]]], *, seeds: Sequence[int]) -> list[dict[str, Any]]:
    """Each draw's sampling seed and indicator values (the record of what the mean was taken over)."""
    return [{"seed": int(sd), "values": {name: r.get("value") for name, r in m.items()}}
            for sd, m in zip(seeds, mets)]


# ---------------------------------------------------------------------------------------------------------
def reconstruction_method(row: str) -> str | None:
    """The reconstruction method of a ``<row>+<method>`` leaderboard row, ``None`` for a plain row (a row name
    may itself contain "+", as ``dpm++`` does)."""
    base, plus, method = row.rpartition("+")
    return method if plus and base and method in get_args(_Method) else None


def _parse_methods(reconstruct) -> list[_Method]:
    if not reconstruct:
        return []
    names = [m.strip() for m in (reconstruct.split(",") if isinstance(reconstruct, str) else reconstruct)
             if m.strip()]
    bad = [m for m in names if m not in get_args(_Method)]
    if bad:
        raise ConfigError(f"unknown reconstruction method(s) {bad}; choose linear and/or mlp")
    return cast(list[_Method], list(dict.fromkeys(names)))  # every name checked above


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
                        "--full must hold every sample the benchmark scores (DATA's, and the --test file's)")
    genes = set(map(str, full_ad.var_names))
    gmiss = [g for g in map(str, adata.var_names) if g not in genes]
    if gmiss:
        raise DataError(f"{len(gmiss)} genes of the data are not in the full profiles (first: {gmiss[:3]}); "
                        "--full must hold every gene of DATA (the reconstruction inputs)")
    ft = full_ad[list(map(str, train.obs_names))].copy()
    fs = full_ad[list(map(str, test.obs_names))].copy()
    # the reconstruction maps synthetic DATA profiles through a fit on FULL: one scale for both, checked here on
    # the shared genes of the training samples rather than refused by the reconstructor after every training
    genes = list(map(str, adata.var_names))
    in_data, in_full = looks_logged(dense(train.X)), looks_logged(dense(ft[:, genes].X))
    if in_data != in_full:
        scale = {True: "log-scale", False: "values before the log"}
        raise DataError(f"DATA holds {scale[in_data]} and --full {scale[in_full]} for the same genes and samples; "
                        "give both on one scale (rnagen data prepare each the same way)")
    # on one scale the shared genes must hold the same values: another data set (or another normalisation) under
    # the same sample names would give a reference and reconstructions of other data, exit 0
    n = min(train.n_obs, 500)
    xd = dense(train.X[:n]).astype(np.float64)
    xf = dense(ft[:n, genes].X).astype(np.float64)
    with np.errstate(invalid="ignore"):
        off = ~(np.abs(xd - xf) <= 1e-3 * (1.0 + np.abs(xd))) & ~(np.isnan(xd) & np.isnan(xf))
    if off.mean() > 0.01:
        i, j = np.argwhere(off)[0]
        raise DataError(f"--full holds other values than DATA for the same samples and genes ({off.mean():.0%} of "
                        f"those compared differ; e.g. sample {str(train.obs_names[i])!r}, gene {genes[j]!r}: "
                        f"{xd[i, j]:.4g} in DATA, {xf[i, j]:.4g} in --full); give the full profiles of the same data, "
                        "prepared the same way")
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


def _drop_figure_data(plots: Path, row: str) -> None:
    """Remove ``row``'s figure data (the first run's synthetic set draws the report's figures): where that run
    failed, an earlier configuration's set would be drawn as the row's."""
    for name in (f"{row}.npz", f"biology_{row}.npz"):
        (plots / name).unlink(missing_ok=True)
    per_class = plots / "tstr_logreg_per_class.json"
    data = _read_json(per_class)
    if data and row in data:
        write_json(per_class, {k: v for k, v in data.items() if k != row})


def _update_json(path: Path, entries: Mapping[str, Any]) -> None:
    data = _read_json(path) or {}
    data.update(entries)
    write_json(path, data)


def _real_row(out: Path, row: str, real, synthetic, train, *, seed, k: int, evaluate_, fp, say) -> None:
    """A reference row's result for run ``k``."""
    path = out / "results" / f"{row}_seed{k}.json"
    # the seed draws the evaluation's subsamples and the membership audit's sets: a split given by a column
    # (--split-key) is the same under another --seed, its reference row's scoring is not
    fingerprint = _hash({"row": row, "seed": int(seed), **fp})
    prev = _read_json(path)
    if prev and prev.get("fingerprint") == fingerprint:
        say(f"{row} run {k}: done earlier, skipped")
    else:
        say(f"{row} run {k}: evaluate real training profiles as the synthetic set (reference)")
        attrs: dict[str, Any] = {}
        met, per_class = evaluate_(real, synthetic, train=train, seed=seed, attrs=attrs)
        # fits_outside: the z-scores and feature spaces were fitted outside the real-vs-real reference and the
        # copies of its profiles (evaluate's reference_note is there exactly when they were fitted on all of them)
        write_json(path, {"row": row, "model": row, "seed": seed, "seed_index": k, "train_seconds": 0.0,
                          "sample_seconds": 0.0, "fingerprint": fingerprint, "metrics": met,
                          "per_class": per_class, "fits_outside": "reference_note" not in attrs})
    say.done += 1


def _trained(model_name, ovr, run_dir: Path, run_fp: str, train, label_key, seed, device, progress, say,
             lazy: bool = False, private: bool = False):
    """A trained generator: loaded from its run folder when complete and identical, else fitted (resumes).

    ``lazy``: only build the (untrained) generator, to read its configuration. The run's fingerprint, a digest of
    the settings and of the split's profiles, is kept in the run folder (``bench_fingerprint.txt``), except for a
    ``private`` row's: beside it (``runs/<folder>.fingerprint``), since a finished private run folder keeps no
    digest of the data (a digest tells whoever knows the other profiles whether one was among them).
    """
    from ..models import get_model, load

    cls = get_model(model_name)
    marker = _private_marker(run_dir) if private else run_dir / "bench_fingerprint.txt"
    complete = (run_dir / "weights.safetensors").is_file() and (run_dir / "meta.json").is_file()
    if complete and marker.is_file() and marker.read_text().strip() == run_fp:
        if lazy:
            return cls.from_config(overrides=ovr)
        try:
            gen = load(run_dir, device=device)
            say(f"{model_name} (training seed {seed}): trained earlier, loaded from {run_dir}")
            return gen
        except RunDirError as e:
            # the benchmark's own run folder, its final files damaged (the manifest's check): trained again from
            # its checkpoint where that is sound
            say(f"{model_name} (training seed {seed}): {str(e).split(';')[0]}; its final files removed, trained "
                "again")
            for f in ("weights.safetensors", "meta.json"):
                (run_dir / f).unlink(missing_ok=True)
    gen = cls.from_config(overrides=ovr)
    if lazy:
        return gen
    if marker.is_file() and marker.read_text().strip() != run_fp:
        # settings changed: start afresh rather than resume another configuration's checkpoints (a mixture
        # member's and a refit's too)
        for f in ("weights.safetensors", "meta.json", *(c for c in RUN_FILES if c.endswith(".pt"))):
            (run_dir / f).unlink(missing_ok=True)
    make_folders(run_dir)
    write_text(marker, run_fp + "\n")
    say(f"{model_name} (training seed {seed}): train ({', '.join(ovr) or 'defaults'})")
    try:
        gen.fit(train, label_key=label_key, seed=seed, device=device, run_dir=run_dir, progress=progress,
                resume=True)
    except DivergedError as e:   # the setting to lower, as the benchmark takes it
        raise DivergedError(f"{model_name} (training seed {seed}): {e} (in a benchmark: --set "
                            f"{model_name}:train.lr=...)") from None
    except RunDirError as e:   # a damaged checkpoint: train's --no-resume is no option of benchmark's
        raise RunDirError(f"{model_name} (training seed {seed}): {str(e).split(';')[0]}; delete {run_dir} and run the "
                          "benchmark again (its other rows are kept)") from None
    say(f"{model_name} (training seed {seed}): trained in {gen.train_seconds:.1f}s")
    return gen


def _steps_curve(bench: _Bench, gen, *, seed: int, run_fp: str) -> None:
    """Quality against the number of sampling steps of the same trained network, for each deterministic
    sampler: DDIM (eta = 0) over the whole grid, DPM-Solver++(2M) up to ``DPM_MAX_STEPS`` (a second-order
    solver is meant for few steps); next to the same indicators of the real training profiles (the ceiling)
    and of the floor row's first set (the per-class Gaussian, drawn as its leaderboard row draws it), each
    scored as the curve's sets are, so that a point reads against both."""
    path = bench.out / "plots" / STEPS_CURVE
    T = gen.config.schedule.T
    grid = sorted({min(int(s), T) for s in (bench.steps_grid or DDIM_STEP_GRID[bench.budget]) if int(s) >= 1})
    grids = {"ddim": grid, "dpm++": [st for st in grid if st <= DPM_MAX_STEPS]}
    floor = _plan(bench, ROWS[FLOOR_ROW][0], [], 0)
    fp = _hash({"run": run_fp, "grids": grids, "floor": floor.run_fp})
    prev = _read_json(path)
    if (prev and prev.get("fingerprint") == fp and prev.get("run") == run_fp) or not gen.is_fitted:
        return
    points = []
    for sampler, steps in grids.items():
        for st in steps:
            bench.say(f"{sampler} steps curve: {st} steps")
            t0 = time.perf_counter()
            syn = gen.sample(like=bench.train, seed=seed, sampler=sampler, steps=st)
            sec = time.perf_counter() - t0
            points.append({"sampler": sampler, "steps": st, "sample_seconds": sec,
                           **bench.ref.step_quality(syn, seed=seed)})
    bench.say("steps curve: its ceiling and floor")
    gauss = _trained(floor.model, floor.overrides, floor.run_dir, floor.run_fp, bench.train, bench.label_key,
                     floor.seed, bench.device, bench.progress, bench.say)
    # the Fréchet distance's PCA is fitted on the real training profiles, whose own projections carry the variance
    # the fit gave them: their distance reads above a new real draw's (BENCHMARKS.md, "Is the ceiling what a
    # perfect generator scores?"), so the ceiling has none
    ceiling = {k: v for k, v in bench.ref.step_quality(bench.train, seed=seed).items() if k != "frechet_pca"}
    references = {CEILING_ROW: ceiling,
                  FLOOR_ROW: bench.ref.step_quality(gauss.sample(like=bench.train, seed=floor.seed), seed=seed)}
    write_json(path, {"fingerprint": fp, "run": run_fp, "T": T, "model": "diffusion", "samplers": list(grids),
                      "points": points, "references": references})


# ---------------------------------------------------------------------------------------------------------
def _collect(out: Path, rows: Sequence[str], seeds: int, methods: Sequence[str], splits: int = 1
             ) -> dict[str, list[dict]]:
    """Per leaderboard row, its per-run records ``{metrics, train_seconds, sample_seconds}``."""
    got: dict[str, list[dict]] = {"real": []}
    for k in range(seeds * splits):
        rj = _read_json(out / "results" / f"real_seed{k}.json")
        if rj:
            got["real"].append(rj)
    if methods:
        rf = _read_json(out / "results" / "real-full_seed0.json")
        if rf:
            got["real-full"] = [rf]
    for r in rows:
        got[r] = []
        for m in methods:
            got[f"{r}+{m}"] = []
        for k in range(seeds * splits):
            res = _read_json(out / "results" / f"{r}_seed{k}.json")
            if not res or res.get("failed"):
                continue
            got[r].append(res)
            for m, sub in (res.get("reconstructed") or {}).items():
                if m in methods:
                    got[f"{r}+{m}"].append({"metrics": sub["metrics"], "train_seconds": res["train_seconds"],
                                            "sample_seconds": sub["sample_seconds"],
                                            "seed_index": res.get("seed_index", k)})
    return {k: v for k, v in got.items() if v}


def _registry_direction(name: str) -> Any:
    """The registry direction of a leaderboard column (an indicator, or a reference column's indicator)."""
    from ..metrics import METRICS

    info = METRICS.get(REFERENCE_COLUMNS.get(name, name))
    return None if info is None else info.direction


def _indicators(got: Mapping[str, list[dict]]) -> tuple[list[str], dict[str, Any], dict[str, float | None]]:
    """The leaderboard's indicator columns (headline first, then every other one reported, in order), the
    direction of each (as its evaluation reported it, e.g. the DCR share's data-dependent target, else the
    registry's) and the mean of the reference values reported for each over every run: the runs' own real-vs-real
    values, beside the rows' means over the same runs."""
    from ..metrics import METRICS

    names: list[str] = list(METRIC_COLUMNS)
    directions: dict[str, Any] = {n: _registry_direction(n) for n in METRIC_COLUMNS}
    refs: dict[str, list[float]] = {}
    for recs in got.values():
        for rec in recs:
            for name, m in rec["metrics"].items():
                if name not in METRICS and name not in REFERENCE_COLUMNS:
                    continue  # a column name of an earlier version (see _LEGACY_COLUMNS)
                if name not in names:
                    names.append(name)
                    directions[name] = m.get("direction", _registry_direction(name))
                if name in METRIC_COLUMNS and m.get("direction") is not None:
                    directions[name] = m["direction"]
                ref = m.get("reference")
                if ref is not None and math.isfinite(float(ref)):
                    refs.setdefault(name, []).append(float(ref))
    references: dict[str, float | None] = {n: float(np.mean(v)) for n, v in refs.items()}
    return names, directions, references


def _is_ceiling(row: str) -> bool:
    """The real reference rows (landmark and full profiles): the training profiles scored as the synthetic set."""
    return row == CEILING_ROW or row.startswith(CEILING_ROW + "-")


def _copies(got: Mapping[str, list[dict]], names: Sequence[str]) -> dict[str, float]:
    """The real row's values of the indicators of closeness to the training profiles, means over its runs: a
    generator that copies its training set, the worst case (the membership table's "copies" row)."""
    from ..metrics._registry import scores_copies

    out: dict[str, float] = {}
    for name in names:
        if scores_copies(name):
            v = [r["metrics"].get(name, {}).get("value") for r in got.get(CEILING_ROW, [])]
            v = [float(x) for x in v if x is not None and math.isfinite(float(x))]
            if v:
                out[name] = float(np.mean(v))
    return out


def _shows_reference(name: str) -> bool:
    """Whether the real row shows indicator ``name``'s reference (without a CI) in place of its value.

    An indicator of closeness to the training profiles: the value is that of the training profiles themselves,
    a generator that copies (kept as the leaderboard's "copies"); the reference is the held-out real value, the
    ideal. An indicator judged against the real-vs-real reference: the reference is the ceiling the other rows'
    shares are measured against (a training subsample, outside the evaluation's fits where enough training
    profiles remain: bench.json's ``ceiling_outside_fits``); the value scores a part of the training profiles,
    which may lie inside those fits."""
    from ..metrics._registry import against_reference, scores_copies

    return scores_copies(name) or against_reference(name)


def _board_row(row: str, recs: Sequence[dict], got: Mapping[str, list[dict]], names: Sequence[str], *,
               seeds: int) -> dict[str, Any]:
    """One leaderboard row: per indicator the mean over runs of the value and the CI bounds (and the spread
    across runs when there are ``seeds`` > 1 of them), the mean share of the gap closed, and the mean times."""
    rec: dict[str, Any] = {"model": row, "n_seeds": len(recs)}
    for name in names:
        vals = [r["metrics"].get(name, {}) for r in recs]
        if _is_ceiling(row) and _shows_reference(name):
            vals = [{"value": x.get("reference")} for x in vals]
        v = [x.get("value") for x in vals if x.get("value") is not None]
        lo = [x.get("ci_low") for x in vals if x.get("ci_low") is not None]
        hi = [x.get("ci_high") for x in vals if x.get("ci_high") is not None]
        rec[name] = float(np.mean(v)) if v else np.nan
        rec[f"{name}_ci_low"] = float(np.mean(lo)) if lo else np.nan
        rec[f"{name}_ci_high"] = float(np.mean(hi)) if hi else np.nan
        if seeds > 1:
            rec[f"{name}_sd"] = float(np.std(v, ddof=1)) if len(v) > 1 else np.nan
        dsd = [x["draw_sd"] for x in vals if x.get("draw_sd") is not None]
        if dsd:
            # the spread between synthetic draws of one trained model, averaged over runs (--draws)
            rec[f"{name}_draw_sd"] = float(np.mean(dsd))
    shares = _gap_shares(row, recs, got)
    for name in sorted(shares):
        g = [share for share, _ in shares[name] if math.isfinite(share)]
        rec[f"{name}_gap_closed"] = float(np.mean(g)) if g else np.nan
        if seeds > 1:
            rec[f"{name}_gap_closed_sd"] = float(np.std(g, ddof=1)) if len(g) > 1 else np.nan
            # the share defined on some of the row's runs only (the floor at the ceiling on the others); a run that
            # failed is none of the row's (n_seeds)
            if 0 < len(g) < len(recs):
                rec[f"{name}_gap_closed_n"] = len(g)
    for name, pairs in shares.items():
        if any(math.isfinite(share) for share, _ in pairs):
            # the share of the seeds whose floor is measurably away from the ceiling (gap_resolved)
            known = [res for _, res in pairs if math.isfinite(res)]
            rec[f"{name}_gap_resolved"] = float(np.mean(known)) if known else np.nan
    for c in COST_COLUMNS:
        rec[c] = float(np.mean([r.get(c, 0.0) for r in recs]))
    for c in PRIVACY_COLUMNS:
        # the largest over the runs: the guarantee every run's release meets
        vals = [float(r[c]) for r in recs if r.get(c) is not None]
        rec[c] = max(vals) if vals else np.nan
    return rec


def _leaderboard(out: Path, rows: Sequence[str], *, seeds: int, methods: Sequence[str], splits: int = 1
                 ) -> pd.DataFrame:
    """The leaderboard of the results in ``out``, written to ``leaderboard.csv`` and ``leaderboard.json``."""
    got = _collect(out, rows, seeds, methods, splits)
    names, directions, references = _indicators(got)
    board = pd.DataFrame.from_records([_board_row(row, recs, got, names, seeds=seeds * splits)
                                       for row, recs in got.items()])
    for c in GAP_COLUMNS:
        if c not in board.columns:
            board[c] = np.nan
    first = (["model"] + list(METRIC_COLUMNS) + list(COST_COLUMNS) + ["n_seeds"] + list(PRIVACY_COLUMNS)
             + list(GAP_COLUMNS))
    ci = [f"{n}_{s}" for n in METRIC_COLUMNS for s in ("ci_low", "ci_high")]
    rest = [c for c in board.columns if c not in first and c not in ci]
    board = board[first + ci + rest]
    gap_cols = [c for c in board.columns if c.endswith("_gap_closed")]
    directions.update({c: "lower" for c in COST_COLUMNS})
    directions.update({c: "higher" for c in gap_cols})
    from .._io import atomic_paths, json_text

    # the table and its record are one leaderboard: replaced together (a kill between them leaves both old)
    with atomic_paths([out / "leaderboard.csv", out / "leaderboard.json"]) as (csv_tmp, json_tmp):
        board.to_csv(csv_tmp, index=False, float_format="%.6g")
        json_tmp.write_text(json_text(_leaderboard_record(out, board, names, directions, references, gap_cols, got,
                                                          rows, seeds * splits)), encoding="utf-8")
    return board


def _leaderboard_record(out: Path, board: pd.DataFrame, names: list[str], directions: dict[str, Any],
                        references: Any, gap_cols: list[str], got: Mapping[str, list[dict]], rows: Sequence[str],
                        runs: int) -> dict[str, Any]:
    """``leaderboard.json``: the table's columns and rows (NaN as null), the indicators' directions and references,
    the copies, the gap-closed columns, the settings, the rows that failed and the plot data it was written with."""
    return {
        "columns": list(board.columns),
        "rows": [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                 for r in board.to_dict("records")],
        "directions": {k: directions[k] for k in names + list(COST_COLUMNS) + gap_cols
                       if directions.get(k) is not None},
        "references": references,
        "copies": _copies(got, names),
        "gap_closed": {"columns": gap_cols, "floor": FLOOR_ROW, "ceiling": CEILING_ROW, "note": _GAP_NOTE},
        "settings": _read_json(out / "bench.json") or {},
        "failed": _failures(out, rows, range(runs)),
        # the figure data the leaderboard was written with: a rerun stopped before its end leaves some of them
        # rewritten beside this leaderboard, and the report draws only the files recorded here
        "plots": file_digests(out / "plots"),
    }


_GAP_NOTE = ("share of the gap closed = 1 - d(row) / d(gaussian), d the distance from the real-vs-real value on the "
             "indicator's side, per run (split and seed) against that run's Gaussian, then averaged: 1 = as real "
             "data, 0 = as the per-class Gaussian, negative = worse; empty (NaN) where the Gaussian already reaches "
             "the real-vs-real value on every run. "
             "<indicator>_gap_resolved: the share of those runs where the real-vs-real value lies outside the "
             "Gaussian's 95% CI (at 0.5 or below, the gap is within the sampling noise and the share is not a "
             "measurement). TSTR is judged against TRTR (trtr_accuracy) instead.")


def _seed_floors(row: str, recs: Sequence[dict], got: Mapping[str, list[dict]]
                 ) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """Per run of ``row``: its values and references, indicator by name, and its floor's metrics (the
    Gaussian row of the same run; its reconstructed row for ``<model>+<method>`` rows). Empty for rows without a
    floor."""
    if row.startswith(CEILING_ROW + "-"):
        # the full-profile ceiling: judged against the Gaussian's reconstructed profiles (the first method's),
        # the floor of the full-profile rows
        floor_row = next((r for r in got if r.startswith(FLOOR_ROW + "+")), "")
    else:
        floor_row = FLOOR_ROW + (f"+{method}" if (method := reconstruction_method(row)) else "")
    floors = {r.get("seed_index", i): r["metrics"] for i, r in enumerate(got.get(floor_row, []))}
    if not floors:
        return []

    def column(metrics: Mapping[str, dict], key: str) -> dict[str, Any]:
        return {k: v.get(key) for k, v in metrics.items()}

    def values(metrics: Mapping[str, dict]) -> dict[str, Any]:
        # the real row is its own ceiling: its reference where it shows it (_shows_reference)
        if not _is_ceiling(row):
            return column(metrics, "value")
        return {k: v.get("reference" if _shows_reference(k) else "value") for k, v in metrics.items()}

    return [(values(r["metrics"]), column(r["metrics"], "reference"),
             floors.get(r.get("seed_index", i)) or {}) for i, r in enumerate(recs)]


def _gap_shares(row: str, recs: Sequence[dict], got: Mapping[str, list[dict]]
                ) -> dict[str, list[tuple[float, float]]]:
    """Per indicator, on each of ``row``'s seeds, the share of the gap it closes (NaN where undefined) and
    whether the floor is measurably away from the ceiling there (:func:`rnagen.metrics.gap.gap_resolved`; NaN
    where the share is undefined or it cannot be told).

    The floor is the Gaussian row of the same seed (:func:`_seed_floors`); the ceiling is the reference of the
    row's own evaluation. The ``real`` row is its own ceiling (1 where the floor leaves a gap). Rows without a
    floor get none.
    """
    from ..metrics.gap import applies, gap_closed_from, gap_resolved

    out: dict[str, list[tuple[float, float]]] = {}
    for v, c, f in _seed_floors(row, recs, got):
        fv = {k: m.get("value") for k, m in f.items()}
        for name in v:
            if not applies(name) or name not in fv:
                continue
            share = gap_closed_from(name, v, fv, c)
            out.setdefault(name, []).append((share, gap_resolved(name, f, c) if math.isfinite(share) else math.nan))
    return out


#: the per-class breakdown of ``rnagen.metrics.evaluate`` drawn as "TSTR per class", in order of preference
_PER_CLASS_METRICS = ("tstr_mlp_macro_f1", "tstr_logreg_macro_f1", "tstr_mlp_accuracy")


def _per_class_plot(out: Path, rows: Sequence[str]) -> None:
    """``plots/tstr_per_class.json``: per-class TSTR of each row (first seed) and the TRTR reference.

    Taken from ``evaluate``'s per-class rows when it reports them, else from the benchmark's own per-class
    logistic-regression recall (``plots/tstr_logreg_per_class.json``).
    """
    recs = {r: v for r in ["real", *rows] if (v := _read_json(out / "results" / f"{r}_seed0.json"))}
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
    """The saved leaderboard of a benchmark folder and its metadata (directions, references, settings), with
    the columns of files written by earlier versions under their registry names (:func:`upgrade_leaderboard`)."""
    from .._io import check_replacements

    p = Path(out_dir) / "leaderboard.json"
    check_replacements(p)   # a leaderboard.csv and .json a killed benchmark was replacing: the old pair put back
    meta = _read_json(p)
    if meta is None:
        raise RunDirError(f"{out_dir} has no leaderboard.json; run `rnagen benchmark ... --out {out_dir}` first")
    meta = upgrade_leaderboard(meta)
    board = pd.DataFrame.from_records(meta["rows"], columns=meta["columns"])
    return board, meta


def upgrade_leaderboard(meta: dict[str, Any]) -> dict[str, Any]:
    """A ``leaderboard.json`` document with every column named by the registry.

    Files written by earlier versions name two headline columns otherwise (:data:`_LEGACY_COLUMNS`): the
    TSTR accuracy ``tstr_accuracy`` and the Fréchet distance ``frechet_distance`` (the classifier one, or the
    PCA one where the classifier one was not computed). Such a column (with its ``_ci_low``, ``_ci_high``,
    ``_sd`` and gap-closed companions) is dropped where the file also holds the registry column it copied,
    and renamed to it otherwise. A current file is returned unchanged.
    """
    cols = list(meta["columns"])
    rename: dict[str, str | None] = {}
    for old, new in _LEGACY_COLUMNS.items():
        if old not in cols:
            continue
        target = None if any(n in cols for n in new) else new[0]
        rename.update({old + sfx: (None if target is None else target + sfx) for sfx in _SUFFIXES})
    if not rename:
        return meta

    def keys(d: Mapping[str, Any]) -> dict[str, Any]:
        renamed: dict[str, Any] = {}
        for k, v in d.items():
            new = rename.get(k, k)
            if new is not None:
                renamed[new] = v
        return renamed

    out = dict(meta)
    out["columns"] = list(keys({c: None for c in cols}))
    out["rows"] = [keys(r) for r in meta["rows"]]
    for key in ("directions", "references"):
        if key in meta:
            out[key] = keys(meta[key])
    if "gap_closed" in meta:
        out["gap_closed"] = {**meta["gap_closed"], "columns": list(keys({c: None for c in
                                                                          meta["gap_closed"].get("columns", [])}))}
    return out
