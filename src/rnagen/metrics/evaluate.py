"""``evaluate``: every quality indicator of a synthetic set in one table, with CIs and real-vs-real references.

Preprocessing (the same for every set, so no metric is won by a scale difference):

1. Log scale (:func:`rnagen.pp.is_logged`, :func:`rnagen.pp.to_log_scale`): a set whose
   ``uns["rnagen"]["log"]`` says it is logged (or, without that record, whose values look logged by
   :func:`rnagen.pp.history.looks_logged`, or that has negative values, i.e. is already transformed) is used
   as is; otherwise ``log2(x + 1)`` is applied. Each set is judged on its own.
2. z-score every gene with the mean and standard deviation of the REAL TRAINING set (of the real set when
   no training set is given); constant genes get standard deviation 1. Synthetic data are never used to fit
   anything.

References: with ``train`` given, each fidelity/adversarial/detection metric is also computed for a
subsample of the training set (as many profiles as the synthetic set) in place of the synthetic set: the
value a perfect generator (one that draws new real profiles) would get. For utility metrics the reference
is TRTR (the classifier trained on real training data). For the DCR indicators the reference splits the
held-out set in halves, one playing the synthetic set (real profiles the generator never saw), the other the
held-out set, against a training subset keeping the train : held-out size ratio. ``privacy_loss`` has none
(its target, 0, is the real-vs-real value by construction). For the membership-inference indicators the
reference is an independent draw of held-out real profiles scored as the synthetic set (the ideal), and
``attrs["membership"]["copies"]`` holds the values of the training set itself (the worst case); see
:mod:`rnagen.metrics.membership` for the four disjoint sets the audit takes from ``real`` and ``train``.

Share of the gap closed: with ``floor`` (samples of the per-class Gaussian fitted on ``train``, passed in by
the caller, since this package fits no model) each fidelity-type indicator also gets the floor's value against
the same held-out and training sets and ``gap_closed`` = 1 - d(synthetic) / d(floor), d the distance from the
real-vs-real reference (the ceiling) on the indicator's side; see :mod:`rnagen.metrics.gap`.

Confidence intervals (95 %, bootstrap: percentile intervals from 200 replicates on, Student-t intervals on the
replicates' standard error below that, see :mod:`rnagen.metrics._bootstrap`): precision, recall, density,
coverage and AA_ts with its halves are recomputed ``n_boot_expensive`` times (default 20) on subsamples of both the
real and the synthetic set drawn without replacement (half of each, at most 2,000 of the larger; spread rescaled
to the full sets, :meth:`rnagen.metrics._context.EvalContext.neighbour_ci`), since their k-NN balls and nearest
neighbours move with both sets; the DCR share, the near-copy share, the DCR ratio and the privacy loss likewise
on subsamples of the held-out, the synthetic and the training set (or its reference subsample) together
(:func:`rnagen.metrics.privacy.dcr_replicates`), since each synthetic profile's term depends on the sets it is
measured against (where a set is too small to leave profiles out, their per-profile terms are resampled ``n_boot``
times, default 1000, with the neighbour structure fixed); the rest are recomputed on
resampled rows ``n_boot_expensive`` times (default 20): Fréchet distances (on the projected features),
correlation score and per-gene distances (m-out-of-n: replicates of at most 2,000 rows per set, spread
rescaled by sqrt(m/n)), MMD (on its 2,000-row subsample), macro-F1/AUC (resampling the test set), and
detection AUC (resampling the out-of-fold scores); their replicates are re-centred on the estimate (resampling
duplicates rows, which alone shifts a distance between sets), so the interval is the spread around it. A share of
per-profile 0/1 terms is never given an interval narrower than its Wilson score interval
(:func:`rnagen.metrics._bootstrap.share_floor`): at 0 or 1 every replicate repeats the bound.

Wide data (more than :data:`rnagen.metrics._classifiers.WIDE_GENES` genes, a full transcriptome): the classifiers
(TSTR and TRTR, augmentation, detection, the classifier Fréchet distance) take each set's scores on the leading
principal components of the training profiles the z-scores were fitted on
(:class:`rnagen.metrics._classifiers.PrincipalInputs`, ``attrs["classifier_inputs"]``), LOGAN-D1 those of the
membership audit's reference set (``attrs["membership"]["logan_inputs"]``: components of the members would tell
them apart by themselves), and the pooled co-expression
network the most variable genes (:data:`rnagen.metrics.biology.COEXPR_GENES`, ``attrs["biology_coexpr"]``): a
classifier's first layer on every gene, fitted dozens of times, and the network of every gene pair are what grow
with the genes; the other indicators stay on every gene.

Structure: :func:`prepare` brings the sets to one representation, :class:`rnagen.metrics._context.EvalContext`
holds them with the settings and the shared neighbour passes, and each family module's scorer (registered in
:mod:`rnagen.metrics._registry`) computes its indicators from it; :func:`evaluate` runs the scorers of the
requested indicators in their registered order and assembles the table.
"""
from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._genes import match_genes
from ..config import check_number, check_seed
from ..errors import ConfigError, DataError
from ..pp.copies import NEAR_COPY_RATIO, find_copies_stacked, first_of_group, group_ids
from ..pp.history import LOG_RANGE, log_state, looks_logged
from ..pp.prepare import dense, is_logged, takes_log2p1, to_log_scale
from ..pp.preprocess import folded_label
from ..utils import display_width, label_text, numeric_label_aliases, one_line, pad_to
from . import _knn
from ._checks import as_matrix, check_finite, check_label_count, check_labels
from ._context import EvalContext
from ._registry import (
    METRICS,
    REFERENCE_FAMILIES,
    against_reference,
    ordered_scorers,
    select_metrics,
    unknown_metrics_message,
)
from ._table import OVERALL_COLUMN, OVERALL_GROUP, marked, overall_rows
from .biology import BiologyOptions, gene_set_index
from .gap import NO_GAP_NOTE, UNRESOLVED_NOTE, add_gap_columns, applies, share_measured

DEFAULT_METRICS: tuple[str, ...] = tuple(METRICS)

COLUMNS = ["name", "group", "value", "ci_low", "ci_high", "reference", "direction", "family", "n_boot"]
#: added by :func:`evaluate` after :data:`COLUMNS`: the floor's value, the share of the gap closed and whether
#: the floor is measurably away from the ceiling (1, 0, or NaN: :func:`rnagen.metrics.gap.gap_resolved`)
GAP_COLUMNS = ["floor", "gap_closed", "gap_resolved"]


# --------------------------------------------------------------------------------------------- inputs
def _row_names(obj) -> list[str] | None:
    """The sample ids of an AnnData or a table with an index of its own; ``None`` for an array."""
    names = getattr(obj, "obs_names", None)
    if names is None and isinstance(obj, pd.DataFrame) and not isinstance(obj.index, pd.RangeIndex):
        names = obj.index
    return None if names is None else [str(x) for x in names]


def _unpack(obj, label_key: str | None, labels, what: str, *, generated: bool = False
            ) -> tuple[Any, np.ndarray | None, Any, bool | None]:
    """Return (X float32, labels or None, var_names or None, logged flag; None for arrays: judged by value).
    ``generated``: a generator's profiles, whose AnnData without a log record is judged by value as an array is
    (:func:`prepare` settles a scale its values leave open by the held-out set's), not refused."""
    if obj is None:
        return None, None, None, None
    if hasattr(obj, "obs") and hasattr(obj, "X"):
        X = dense(obj.X, dtype=np.float32)
        y = None
        if label_key is not None:
            if label_key not in obj.obs.columns:
                raise DataError(f"{what}: obs has no column {label_key!r} (columns: {list(obj.obs.columns)}); "
                                "pass the right --label-key")
            y = _labels_of(obj.obs[label_key], what)
        elif labels is not None:   # labels given as an array beside an AnnData without label_key: used
            y = _labels_of(labels, what)
        if not pd.Index(obj.var_names).is_unique:
            dup = pd.Index(obj.var_names)[pd.Index(obj.var_names).duplicated()][:3].tolist()
            raise DataError(f"{what}: duplicated gene ids {dup}; make the gene ids unique (one column per gene)")
        logged = None if generated and log_state(obj) is None else is_logged(obj, X=X)
        out: tuple[Any, np.ndarray | None, Any, bool | None] = (X, y, list(obj.var_names), logged)
    elif isinstance(obj, pd.DataFrame):
        # a samples x genes table: its columns name the genes (matched by name, as an AnnData's), a label column
        # named by label_key taken out; columns 0, 1, ... (an array's) name none
        df, y = obj, None
        if label_key is not None and label_key in df.columns:
            y = _labels_of(df[label_key], what)
            df = df.drop(columns=[label_key])
        elif label_key is not None and labels is None:
            raise DataError(f"{what}: the table has no column {label_key!r} (columns: {list(map(str, df.columns[:5]))}"
                            f"{', ...' if df.shape[1] > 5 else ''}); pass the right label_key")
        elif labels is not None:
            y = _labels_of(labels, what)
        text = [str(c) for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
        if text:
            raise DataError(f"{what}: the table's column(s) {text[:3]} hold text, not expression values; name the "
                            "label column with label_key, or drop the others")
        names = None if isinstance(df.columns, pd.RangeIndex) else [str(c) for c in df.columns]
        if names is not None and not pd.Index(names).is_unique:
            dup = pd.Index(names)[pd.Index(names).duplicated()][:3].tolist()
            raise DataError(f"{what}: duplicated gene ids {dup}; make the gene ids unique (one column per gene)")
        X = df.to_numpy(dtype=np.float32)
        out = X, y, names, None
    else:
        X = as_matrix(np.asarray(obj, np.float32), what)
        out = X, (None if labels is None else _labels_of(labels, what)), None, None
    if out[1] is not None:
        check_label_count(out[1], len(X), what)
    check_finite(X, what)
    return out


def _as_matrix(obj, what: str = "the set"):
    """A set as :func:`evaluate` reads it: an AnnData as given, with scanpy's record of its log (``uns["log1p"]``)
    taken as its log state as for a file read from disk (:func:`rnagen.pp.history.with_scanpy_log1p`, on a copy of
    its ``uns``: the caller's object is not changed; ``what`` names it in a warning), a DataFrame as given, a SciPy
    sparse matrix dense, a list of rows an array (the sizes are read off it before the sets are unpacked)."""
    if hasattr(obj, "obs"):
        from ..pp.history import with_scanpy_log1p

        return with_scanpy_log1p(obj, what)
    if obj is None or isinstance(obj, pd.DataFrame):
        return obj
    if hasattr(obj, "toarray"):
        return np.asarray(obj.toarray())
    if isinstance(obj, np.ndarray):
        return obj
    try:
        return np.asarray(obj, dtype=np.float32)
    except (TypeError, ValueError):   # rows of unequal length, or values that are no numbers
        raise DataError(f"a set of {type(obj).__name__} is no samples x genes matrix of numbers; give an AnnData, "
                        "a DataFrame or a 2-D array") from None


def _labels_of(values, what: str) -> np.ndarray:
    """Labels as text (:func:`rnagen.utils.label_text`); a missing one (NaN, None, empty) is refused: it would be
    scored as a class named 'nan'."""
    return np.asarray([label_text(v) for v in check_labels(values, what)])


def _as_real_classes(y: np.ndarray | None, y_real: np.ndarray | None) -> np.ndarray | None:
    """``y`` with its numeric classes written another way than a held-out class (``1.0`` for ``1``: a float
    column, or another file format, beside a text one) named as the held-out set names them
    (:func:`rnagen.utils.numeric_label_aliases`): otherwise each would be scored as a class of its own."""
    if y is None or y_real is None:
        return y
    aliases = numeric_label_aliases(np.unique(y).tolist(), np.unique(y_real).tolist())
    return y if not aliases else np.asarray([aliases.get(v, v) for v in y.tolist()])


def _aligned(X: np.ndarray, genes: list, real_genes: list, what: str, var: pd.DataFrame | None = None) -> np.ndarray:
    """``X``'s columns in the real set's gene order (AnnData inputs): by name, else (genes named by another ID
    type: symbols against Entrez ids, other Ensembl versions) through the shipped gene tables
    (:func:`rnagen._genes.match_genes`), each real gene to a column of its own; a real gene that several of
    ``X``'s columns name (two versions of its Ensembl ID, its symbol beside its Entrez ID) is an error naming them;
    genes missing are an error, naming the column of ``var`` (the set's gene annotations) that holds the real set's
    gene ids where one does, or saying where the genes are named by their positions."""
    if genes != real_genes:
        pos = pd.Index(genes).get_indexer(real_genes)
        if (pos < 0).any():
            # names padded with spaces in one file only (a CSV reader strips them, an .h5ad keeps them)
            stripped = pd.Index([str(g).strip() for g in genes])
            if stripped.is_unique:
                pos = stripped.get_indexer([str(g).strip() for g in real_genes])
        unplaced: list = []
        if (pos < 0).any():
            hits = match_genes(real_genes, genes, unique=True,
                               where=what if what.startswith("the ") else f"the {what} set")
            if all(h is not None for h in hits) and len(set(hits)) == len(hits):
                pos = np.asarray(hits, dtype=np.int64)
            else:   # the genes neither the names nor the gene tables place are the ones missing
                unplaced = [g for g, h in zip(real_genes, hits) if h is None]
        if (pos < 0).any():
            if unplaced:
                how = ("neither by name nor through the gene tables, which know symbols in their own case"
                       if len(unplaced) == len(real_genes) else
                       "the others matched by name or through the gene tables, which know symbols in their own case")
                raise DataError(f"{what} lacks {len(unplaced)} gene{'s' if len(unplaced) > 1 else ''} of the real "
                                f"set (e.g. {unplaced[:5]}; {how}){_genes_hint(genes, real_genes, var)}")
            missing = [real_genes[i] for i in np.flatnonzero(pos < 0)[:5]]
            raise DataError(f"{what} lacks {int((pos < 0).sum())} genes of the real set (e.g. {missing})"
                            f"{_genes_hint(genes, real_genes, var)}")
        X = X[:, pos]
    return X


def _genes_hint(genes: list, real_genes: list, var: pd.DataFrame | None) -> str:
    """The end of the error of a set that lacks real genes: the column of its gene annotations (``var``) that
    holds every real gene id, which the set's gene ids do not (an AnnData built from a matrix, its genes named in
    a column); genes named 0, 1, 2, ... (a matrix without gene names: anndata's default names, a CSV without a
    header), whose positions say nothing of which gene each is; else the plain request for the same genes."""
    wanted = {str(g).strip() for g in real_genes}
    if var is not None:
        for col in var.columns:
            values = var[col]
            if pd.api.types.is_numeric_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype):
                continue
            names = pd.Index([str(v).strip() for v in values])
            if names.is_unique and wanted <= set(names):
                return (f"; its var column {str(col)!r} holds every real gene id: make it the gene ids "
                        f"(adata.var_names = adata.var[{str(col)!r}].astype(str)) and write the file again")
    if len(genes) and [str(g).strip() for g in genes] == [str(i) for i in range(len(genes))]:
        return ("; its genes are named 0, 1, 2, ... (a matrix written without gene names): genes are matched by "
                "name, never by position, so name each column by its gene, as the real set does")
    return "; evaluate sets with the same genes"


def _depth_text(depth: dict) -> str:
    """A recorded depth normalisation (:func:`rnagen.pp.history.depth_normalisation`) in a message."""
    if depth["method"] == "none":
        return "none (prepared without --normalize)"
    return depth["method"] + (f" with background {depth['background']}" if "background" in depth else "")


def _check_depth(sets: Mapping[str, Any]) -> dict[str, str]:
    """Compare the sequencing-depth normalisation each set's record names with the held-out (``real``) set's:
    two methods (CPM beside DESeq2's median-ratio values) are refused, since every gene of a profile then differs
    by its own factor and every indicator would read it as expression; a method beside a set ``rnagen data prepare``
    wrote without one (counts beside CPM, or DESeq2-normalised counts beside the raw ones, whose means may lie
    close) is a note keyed ``<name>_scale``, as values normalised before rnagen read them are not known to it. Sets
    without a record are judged by their values (:func:`_scale_note`)."""
    from ..pp.history import depth_normalisation

    ref = depth_normalisation(sets["real"]) if hasattr(sets.get("real"), "uns") else None
    notes: dict[str, str] = {}
    if ref is None:
        return notes
    for name, obj in sets.items():
        if name == "real" or obj is None or not hasattr(obj, "uns"):
            continue
        depth = depth_normalisation(obj)
        if depth is None or depth == ref:
            continue
        who = {"mia_reference": "membership-inference reference"}.get(name, name)
        if "none" not in (ref["method"], depth["method"]):
            raise DataError(f"the {who} set's values record the depth normalisation {_depth_text(depth)}, the "
                            f"held-out set's {_depth_text(ref)}: two scales; prepare both with the same --normalize "
                            "(a synthetic set is on its model's training data's scale)")
        notes[f"{name}_scale"] = (f"its values record the depth normalisation {_depth_text(depth)}, the held-out "
                                  f"set's {_depth_text(ref)}: two scales? prepare both the same way (a synthetic set "
                                  "is on its model's training data's scale)")
    return notes


def prepare(real, synthetic, train=None, *, label_key: str | None = None, real_labels=None,
            synthetic_labels=None, train_labels=None, mia_reference=None, seed: int | None = None,
            fitted: dict | None = None, train_groups: np.ndarray | None = None) -> dict:
    """Align genes, bring every set to log scale and z-score with the real training statistics.

    With ``seed`` (as ``evaluate`` calls it), the training rows of the real-vs-real reference are drawn first
    (:func:`~rnagen.metrics._context.reference_rows`, on the log values) and the z-scores are fitted on the
    other training profiles when more than :data:`~rnagen.metrics.fidelity.PCA_COMPONENTS` remain: statistics
    fitted on the reference's own profiles bring them closer together than new real profiles are, most where
    genes outnumber training profiles (``benchmarks/ceiling_check.py --simulate``). The copies of the reference's
    profiles in the training set (a sample in it twice) are left out of those fits too
    (:func:`~rnagen.metrics._context.rows_outside`); ``train_groups`` (a label per training profile, equal for the
    copies of one profile) names them where the caller has found them, else they are found here
    (:func:`rnagen.pp.copies.copy_labels` on the log values). ``fitted`` (another call's ``fitted`` entry) reuses
    its statistics and reference rows: the floor is measured on the synthetic set's scale.

    Returns a dict with ``real``, ``synthetic``, ``train`` (float32 arrays or None), their labels, and
    ``preprocessing`` (a description of what was done to each set); with ``mia_reference`` (the
    membership-inference reference set) also ``mia_reference``, prepared like the others; with ``seed`` or
    ``fitted``, ``reference_rows`` (sorted training rows, ``None``: all of them), ``fit_rows`` (the training rows
    the statistics came from) and ``fitted``.
    """
    # an AnnData whose only log record is scanpy's is read as evaluate() and a file read from disk read it
    real, synthetic, train, mia_reference = (x if x is None or not hasattr(x, "obs") else _as_matrix(x, what)
                                             for x, what in ((real, "the real set"), (synthetic, "the synthetic set"),
                                                             (train, "the train set"),
                                                             (mia_reference, "the membership-inference reference set")))
    depth_notes = _check_depth({"real": real, "synthetic": synthetic, "train": train, "mia_reference": mia_reference})
    R, yr, gr, lr = _unpack(real, label_key, real_labels, "real")
    S, ys, gs, ls = _unpack(synthetic, label_key, synthetic_labels, "synthetic", generated=True)
    T, yt, gt, lt = _unpack(train, label_key, train_labels, "train")
    ys, yt = _as_real_classes(ys, yr), _as_real_classes(yt, yr)
    n_genes = R.shape[1]
    S = _on_real_genes(S, gs, gr, n_genes, "synthetic", getattr(synthetic, "var", None))
    if T is not None:
        T = _on_real_genes(T, gt, gr, n_genes, "train", getattr(train, "var", None))
    notes = {}
    for name, genes in (("synthetic", gs), ("train", gt)):
        if gr is not None and genes is not None and not set(gr) <= set(genes):
            notes[f"{name}_genes"] = "matched to the real set's through the gene tables (another ID type or version)"
        elif gr is not None and genes is not None and len(genes) > len(gr):
            held_out = set(gr)
            extra = [g for g in genes if g not in held_out]
            notes[f"{name}_genes"] = (f"include {len(extra)} the held-out set lacks (e.g. {extra[:3]}), left out: "
                                      f"every indicator is on the held-out set's {len(gr)} genes")
    raw = {"real": R, "synthetic": S, "train": T}
    R, notes["real"] = to_log_scale(R, logged=_logged(R, lr))
    # a synthetic set without a log record (an array, a table, another tool's .h5ad) is judged by its values
    # alone, which the held-out set's scale can overrule
    whole_logs = open_scale = False
    n_over = 0
    try:
        s_logged = looks_logged(S) if ls is None else ls
    except DataError:
        # a few values above the log range among values within it: read as log values or logged as counts,
        # whichever puts its genes' means nearer the held-out set's on the log scale (generated to be like it)
        open_scale, n_over, s_logged = True, _above_log_range(S), _nearer_as_logs(S, R)
    judged = (ls is None or log_state(synthetic) is None) and not open_scale
    if judged and s_logged and notes["real"] == "log2(x+1)" and _on_count_scale(S, raw["real"], R):
        # low counts that are not whole numbers (a model's expected counts) read as log values by their range
        # alone; beside the held-out counts they are counts too, and are logged as those are
        s_logged = False
    elif judged and not s_logged and notes["real"] != "log2(x+1)" and _on_log_scale(S, R):
        # whole numbers (log values rounded, or stored as integers) read as counts by their type alone; beside
        # held-out log values whose genes' means they share they are log values too, and a second log would
        # put every profile outside the held-out set's range
        s_logged = whole_logs = True
    S, notes["synthetic"] = to_log_scale(S, logged=s_logged)
    if whole_logs:
        notes["synthetic"] += "; whole numbers, read as log values: their genes' means are the held-out set's"
    if open_scale:   # said by `rnagen evaluate` (a reading of the values, not a record)
        notes["synthetic_read"] = (f"no log record and {n_over} values above the log range among values within it: "
                                   f"read as {'log values' if s_logged else 'a linear scale'}, which puts their "
                                   "genes' means nearer the held-out set's")
    if T is not None:
        T, notes["train"] = to_log_scale(T, logged=_logged(T, lt))
    sets = {"real": (real, notes["real"]), "synthetic": (synthetic, notes["synthetic"]),
            "train": (train, notes.get("train"))}
    bases = _log_bases(sets)
    states = _scored_states(sets)
    target = _target(states)
    R, S = _on_log2(R, "real", states, target, notes), _on_log2(S, "synthetic", states, target, notes)
    T = _on_log2(T, "train", states, target, notes) if T is not None else None
    real_mu, real_sd = R.mean(0, dtype=np.float64), R.std(0, dtype=np.float64)
    for name, A in (("synthetic", S), ("train", T)):
        if A is not None and (scale := _scale_note(A, real_mu, real_sd)) is not None:
            notes[f"{name}_scale"] = scale
    for key, note in depth_notes.items():
        notes.setdefault(key, note)   # the values' own shift, where seen, says it already
    # the sets given as counts (log2(x+1) applied here), for the count-based DE test (biology de_test=deseq2)
    counts = {k: v for k, v in raw.items() if v is not None and notes.get(k) == "log2(x+1)"}
    rows = fit_rows = None
    if fitted is not None:
        mu, sd, rows, fit_rows = fitted["mu"], fitted["sd"], fitted["reference_rows"], fitted["fit_rows"]
    else:
        ref = T if T is not None else R
        if T is not None and seed is not None:
            from ._context import reference_rows, rows_outside

            n_sub = min(len(T), len(S))
            if n_sub < len(T):
                rows = reference_rows(T, yt, ys, n_sub, np.random.default_rng(seed))
                if train_groups is None:
                    from ..pp.copies import copy_labels

                    train_groups = copy_labels(T)
                fit_rows = rows_outside(len(T), rows, train_groups)
            if fit_rows is not None:
                ref = T[fit_rows]
        mu = ref.mean(0, dtype=np.float64)
        sd = ref.std(0, dtype=np.float64)
        sd[sd == 0] = 1.0

    def z(a):
        return None if a is None else ((a - mu) / sd).astype(np.float32)

    if T is not None and fitted is None and (near := _held_out_copies(z(S), z(R), z(T))) is not None:
        notes["synthetic_held_out"] = near
    notes["zscore"] = f"per gene, mean/std of the real {'training' if T is not None else ''} set".replace("  ", " ")
    if fit_rows is not None:
        notes["zscore"] += f" outside the real-vs-real reference ({len(fit_rows)} profiles)"
    out = {"real": z(R), "synthetic": z(S), "train": z(T), "real_labels": yr, "synthetic_labels": ys,
           "train_labels": yt, "preprocessing": notes, "scale": sd, "counts": counts, "real_names": _row_names(real)}
    if seed is not None or fitted is not None:
        out.update({"reference_rows": rows, "fit_rows": fit_rows,
                    "fitted": {"mu": mu, "sd": sd, "reference_rows": rows, "fit_rows": fit_rows}})
    if mia_reference is not None:
        out["mia_reference"], notes["mia_reference"], scale = _prepared_extra(mia_reference, gr, n_genes, z,
                                                                              real_mu, real_sd, bases, target)
        if scale is not None:
            notes["mia_reference_scale"] = scale
    return out


def _held_out_copies(S: np.ndarray, R: np.ndarray, T: np.ndarray) -> str | None:
    """A note when most synthetic profiles lie nearer a held-out profile than 95% of the held-out profiles lie
    to their nearest training profile: near copies of the held-out set (a generator trained on it, or the set
    with noise added), against which every fidelity and utility indicator reads at or past the ceiling. A
    generator of the training profiles' population, a copier of the training set included, puts about a
    twentieth of its profiles there or fewer (the held-out set is the smaller of the two); else ``None``."""
    if len(S) < 2 or len(R) < 2 or not len(T):
        return None
    bar = float(np.quantile(_knn.knn(R, ref=T, k=1)[0][:, 0], 0.05))
    n = int((_knn.knn(S, ref=R, k=1)[0][:, 0] < bar).sum())
    if 2 * n <= len(S):
        return None
    return (f"{n} of its {len(S)} profiles lie nearer a held-out profile than 95% of the held-out profiles lie to "
            "any training profile: near copies of the held-out set (a generator trained on it, or the set with "
            "noise added?); every fidelity and utility indicator then reads at or past its ceiling")


#: a median shift of the genes' means (log scale) between a set and the held-out set past which the two are
#: taken for two scales (2.8-fold in log2 units): a generator's or a split's own differences stay far below it
SCALE_SHIFT = 1.5
#: a smaller median shift taken for two scales where nearly every gene (:data:`UNIFORM_SHARE`) moves the same way:
#: counts against CPM of a set of few genes or of shallow libraries (a library of 1.9 million reads: 0.9 log2
#: units) shifts every gene up by about as much, where a generator's or a split's errors go both ways
UNIFORM_SHIFT = 0.5
UNIFORM_SHARE = 0.95


def _on_real_genes(X: np.ndarray, genes: list | None, real_genes: list | None, n_genes: int, name: str,
                   var: pd.DataFrame | None = None) -> np.ndarray:
    """``X`` with its genes in the real set's order (by name when both have names; ``var``: the set's gene
    annotations, which the error of genes missing searches for the real ids); a different number of genes is an
    error."""
    if real_genes is not None and genes is not None:
        X = _aligned(X, genes, real_genes, name, var)
    if X.shape[1] != n_genes:
        raise DataError(f"{name} has {X.shape[1]} genes, real has {n_genes}; use the same genes")
    return X


def _prepared_extra(obj, real_genes: list | None, n_genes: int, z, real_mu: np.ndarray, real_sd: np.ndarray,
                    bases: dict[str, float | None] | None = None, target: tuple[str, dict] | None = None
                    ) -> tuple[np.ndarray, str, str | None]:
    """A further real set (the membership-inference reference), aligned, logged and z-scored like ``train``, on the
    other sets' log base (``bases``, :func:`_log_bases`) and scale (``target``, :func:`_target`); with what was
    done and its scale note
    (:func:`_scale_note`)."""
    name = "the membership-inference reference set"
    X, _, g, logged = _unpack(obj, None, None, name)
    X = _on_real_genes(X, g, real_genes, n_genes, name, getattr(obj, "var", None))
    X, note = to_log_scale(X, logged=_logged(X, logged))
    if bases is not None:
        notes = {"reference": note}
        _log_bases({"reference": (obj, note)}, given=_as_scored(bases))
        X = _on_log2(X, "reference", _scored_states({"reference": (obj, note)}), target, notes)
        note = notes["reference"]
    return z(X), note, _scale_note(X, real_mu, real_sd)


#: per-gene z-scores: nearly every gene (:data:`UNIFORM_SHARE`) with a mean within this of 0 and a standard
#: deviation within this of 1 (a set standardised on itself or on a set like it, either degrees of freedom)
ZSCORE_TOLERANCE = 0.1


def _zscored(mu: np.ndarray, sd: np.ndarray) -> bool:
    """Do genes' means ``mu`` and standard deviations ``sd`` say per-gene z-scores (each gene mean 0, sd 1)?"""
    ok = np.isfinite(mu) & np.isfinite(sd)
    if ok.sum() < 10:
        return False
    near = (np.abs(mu[ok]) < ZSCORE_TOLERANCE) & (np.abs(sd[ok] - 1.0) < ZSCORE_TOLERANCE)
    return bool(near.mean() >= UNIFORM_SHARE)


#: the base of a set's logarithm where :func:`_log_bases` cannot name it (log-scale values without a record of it)
_UNKNOWN = -1.0


def _log_bases(sets: Mapping[str, tuple[Any, str | None]], given: Mapping[str, float | None] | None = None
               ) -> dict[str, float | None]:
    """The base of each set's log values, from its record and what :func:`to_log_scale` did (``sets``: name ->
    (the set as given, the note of its log step); ``given``: bases of further sets, as scored): 2 where the
    log2(x+1) was taken here, the recorded base (:func:`rnagen.pp.history.log_base`) of a set recorded as log
    scale, :data:`_UNKNOWN` for log values no record gives a base, ``None`` for a set that is not on a log scale
    (centred values) or not given.

    Values of two bases are never scored together: ln and log2 values of one profile differ by a factor of
    log2(e) = 1.44 in every gene, which each indicator would read as expression. Beside a set of base 2, a set
    recorded as ``log_b(x + c)`` of another base (its pseudocount known) is scored in log2, exactly
    (:func:`_on_log2`); a recorded
    base other than 2 beside log values whose base no record names, or two recorded bases that cannot be brought
    to one, are refused in one line."""
    from ..pp.history import TWO_LOG_BASES, log_base, log_pseudocount, log_state

    out: dict[str, float | None] = dict(given or {})
    states: dict[str, dict | None] = {}
    for name, (obj, note) in sets.items():
        if note is None or not (note == "log2(x+1)" or note.startswith("as is (log scale)")):
            out[name] = None
            continue
        st = log_state(obj) if obj is not None and hasattr(obj, "uns") else None
        states[name] = st
        out[name] = 2.0 if note == "log2(x+1)" else log_base(st) or _UNKNOWN
    known = {n: b for n, b in out.items() if b is not None and b != _UNKNOWN}
    other = {n: b for n, b in known.items() if not math.isclose(b, 2.0)}
    two = [n for n in known if n not in other]
    unknown = [n for n, b in out.items() if b == _UNKNOWN]
    for name, b in other.items():
        what = (states.get(name) or {}).get("transform", f"logs of base {b:g}")
        if two and name in states and log_pseudocount(states[name]) is not None:
            continue   # scored as its log2(x+1) (:func:`_on_log2`)
        if two:
            raise DataError(f"the {name} set records {what} and the {two[0]} set is log2(x+1): {TWO_LOG_BASES}")
        if unknown:
            raise DataError(f"the {name} set records {what} and the {unknown[0]} set's values look log-scale with no "
                            "record of their base: scored together, every gene would be read in two units; give "
                            f"the {unknown[0]} set's base (rnagen data prepare of its counts, or scanpy's "
                            "uns['log1p'] = {'base': 2} for log2(x+1) values) or both sets as counts")
        first = next((n for n, c in other.items() if not math.isclose(c, b)), None)
        if first is not None:
            raise DataError(f"the {name} set records {what} and the {first} set "
                            f"{(states.get(first) or {}).get('transform')}: {TWO_LOG_BASES}")
    return out


def _as_scored(bases: Mapping[str, float | None]) -> dict[str, float | None]:
    """:func:`_log_bases`'s bases as the sets are scored: those :func:`_on_log2` converts, 2."""
    two = any(b is not None and math.isclose(b, 2.0) for b in bases.values())
    return {n: 2.0 if two and b is not None and b != _UNKNOWN else b for n, b in bases.items()}


#: the log state of a set whose log2(x+1) :func:`to_log_scale` took
_LOG2P1 = {"logged": True, "transform": "log2(x+1)", "pseudocount": 1.0, "base": 2.0}


def _scored_states(sets: Mapping[str, tuple[Any, str | None]]) -> dict[str, dict | None]:
    """Each set's log state as scored (``sets`` as :func:`_log_bases`'s): log2(x+1) where :func:`to_log_scale` took
    it, the recorded state of a set taken as it is on a recorded log scale, ``None`` otherwise."""
    from ..pp.history import log_state

    out: dict[str, dict | None] = {}
    for name, (obj, note) in sets.items():
        st = None
        if note == "log2(x+1)":
            st = _LOG2P1
        elif note is not None and note.startswith("as is (log scale)") and obj is not None and hasattr(obj, "uns"):
            st = log_state(obj)
        out[name] = st if st and st.get("logged") else None
    return out


def _target(states: Mapping[str, dict | None]) -> tuple[str, dict] | None:
    """The set (name, state) whose log scale the others are scored on (:func:`rnagen.pp.history.log_target`: base
    2, of those the largest known pseudocount), ``None`` where no set's base is known."""
    from ..pp.history import log_target

    names = list(states)
    t = log_target([states[n] for n in names])
    if t is None:
        return None
    st = states[names[t]]
    assert st is not None
    return names[t], st


def _on_log2(A: np.ndarray, name: str, states: Mapping[str, dict | None], target: tuple[str, dict] | None,
             notes: dict) -> np.ndarray:
    """``A`` on the scale of ``target`` (:func:`_target`) where its recorded one differs and the two are brought to
    one (:func:`rnagen.pp.history.log_plan`): ``log_b(x + 1)`` beside log2 values times ``log2(b)``, a pseudocount
    other than the target's by ``v' = log2(2^v - c + c')`` (:func:`rnagen.pp.history.relogged`), exact, or
    refused; said in its note. A pseudocount one record names and the other does not is said in the note, the
    values taken as they are."""
    from ..pp.history import (
        conversion_formula,
        log1p_name,
        log_plan,
        relogged,
        relogged_name,
        unknown_pseudocount_note,
    )

    st = states.get(name)
    if st is None or target is None or target[0] == name:
        return A
    if log_plan(st, target[1]) != 0:
        if (said := unknown_pseudocount_note(f"the {name} set", st, f"the {target[0]} set", target[1])) is not None:
            notes[name] = f"{notes.get(name, '')}; {said}"
        return A
    b, c = _base_pc(st)
    how = conversion_formula(st, target[1])
    to = relogged_name(st, target[1])
    notes[name] = (f"{notes.get(name, '')}; {log1p_name(b, c)} converted to {to} ({how}, exact), the other sets' "
                   f"{'base' if how.startswith('x ') else 'scale'}")
    where = f"the {name} set beside the {target[0]} set's {target[1].get('transform')}"
    return relogged(A, st, target[1], where=where, dtype=A.dtype)


def _base_pc(st: dict) -> tuple[float, float]:
    """The base and pseudocount of a recorded log state that :func:`_on_log2` converts (both known)."""
    from ..pp.history import log_base, log_pseudocount

    b, c = log_base(st), log_pseudocount(st)
    assert b is not None and c is not None
    return b, c


def _base_name(b: float) -> str:
    from ..pp.history import log1p_name

    return log1p_name(b).removesuffix("(x+1)")


def _scale_note(A: np.ndarray, real_mu: np.ndarray, real_sd: np.ndarray) -> str | None:
    """A note when ``A`` holds per-gene z-scores and the held-out set does not (:func:`_zscored`), or when the
    genes' means of ``A`` (log scale) sit past :data:`SCALE_SHIFT` from the held-out set's (``real_mu``; the median
    over genes), else ``None``."""
    a_mu = A.mean(0, dtype=np.float64)
    if len(A) >= 3 and _zscored(a_mu, A.std(0, dtype=np.float64)) and not _zscored(real_mu, real_sd):
        # a z-score removes each gene's level and spread, which the indicators compare: every gene moves apart
        return ("its values are per-gene z-scores (each gene mean 0, standard deviation 1 within the set), the "
                "held-out set's are expression values: a generator's output scaled per gene (a scaler not "
                "inverted)? give the values before the z-score, on the held-out set's scale")
    diff = a_mu - real_mu
    shift = float(np.nanmedian(diff))
    same = float(np.nanmean(np.sign(diff) == np.sign(shift))) if np.isfinite(diff).any() else 0.0
    if abs(shift) <= SCALE_SHIFT:
        base = _base_note(A, a_mu, real_mu, real_sd)   # another log base moves every gene the same way too
        if base is not None or not (abs(shift) > UNIFORM_SHIFT and same >= UNIFORM_SHARE):
            return base
    side = "above" if shift > 0 else "below"
    return (f"its genes' means sit {abs(shift):.3g} units {side} the held-out set's on the log scale (median over "
            f"genes; {same:.0%} of the genes {side}): two scales (counts against CPM, another log base)? put both "
            "sets on one scale")


def _base_note(A: np.ndarray, a_mu: np.ndarray, real_mu: np.ndarray, real_sd: np.ndarray) -> str | None:
    """A note when ``A`` looks like the held-out values times one factor, gene by gene (another log base
    multiplies every log value by a constant: log10 against log2 by 0.30, ln by 0.69), which a shift of the means
    misses where they are small: the genes' means and spreads both at the same ratio to the held-out set's,
    outside 0.75 to 1.33 (a generator's under-dispersion moves the spread alone)."""
    keep = (np.abs(real_mu) > 0.5) & (real_sd > 0)
    if keep.sum() < 10 or len(A) < 3:
        return None
    r_mean = float(np.nanmedian(a_mu[keep] / real_mu[keep]))
    if not r_mean > 0 or 0.75 <= r_mean <= 1.33:   # another base multiplies by a positive factor (0: most genes 0)
        return None
    r_sd = float(np.nanmedian(A.std(0, dtype=np.float64)[keep] / real_sd[keep]))
    if not 0.85 <= r_sd / r_mean <= 1.15:
        return None
    return (f"its values are about {r_mean:.2f} times the held-out set's, gene by gene (the genes' means and spreads "
            "alike): another log base (log10 against log2 gives 0.30, ln 0.69)? put both sets on one scale")


def _on_count_scale(S: np.ndarray, real_counts: np.ndarray, real_logged: np.ndarray) -> bool:
    """Are the values of ``S`` (no negative one) on the held-out counts' scale rather than on their log2(x+1)
    scale: its genes' means at least twice as close to the counts' means as to the logged ones' (median over
    the genes)?"""
    if not len(S) or np.nanmin(S) < 0:
        return False
    ms = np.nanmean(S, axis=0, dtype=np.float64)
    to_counts = np.nanmedian(np.abs(ms - np.nanmean(real_counts, axis=0, dtype=np.float64)))
    to_logged = np.nanmedian(np.abs(ms - np.nanmean(real_logged, axis=0, dtype=np.float64)))
    return bool(2 * to_counts < to_logged)


def _on_log_scale(S: np.ndarray, real_logged: np.ndarray) -> bool:
    """Are the values of ``S`` (read as counts: whole numbers, none negative) on the held-out set's log scale
    rather than counts of it: its genes' means at least twice as close to the held-out log values' means as those
    of ``log2(S + 1)`` are (median over the genes)?"""
    if not len(S) or np.nanmin(S) < 0:
        return False
    ms = np.nanmean(S, axis=0, dtype=np.float64)
    mr = np.nanmean(real_logged, axis=0, dtype=np.float64)
    as_is = np.nanmedian(np.abs(ms - mr))
    logged = np.nanmedian(np.abs(np.nanmean(np.log2(np.asarray(S, np.float64) + 1.0), axis=0) - mr))
    return bool(2 * as_is < logged)


def _above_log_range(X: np.ndarray) -> int:
    """How many values lie above the log range (a block of rows at a time: no boolean copy of the whole set)."""
    return sum(int((X[i:i + 4096] > LOG_RANGE[1]).sum()) for i in range(0, len(X), 4096))


def _nearer_as_logs(S: np.ndarray, real_logged: np.ndarray) -> bool:
    """Are the genes' means of ``S`` as given nearer the held-out log values' than those of ``log2(S + 1)`` (median
    over the genes)?"""
    mr = np.nanmean(real_logged, axis=0, dtype=np.float64)
    as_is = np.nanmedian(np.abs(np.nanmean(S, axis=0, dtype=np.float64) - mr))
    logged = np.nanmedian(np.abs(np.nanmean(np.log2(np.clip(np.asarray(S, np.float64), 0, None) + 1.0), axis=0) - mr))
    return bool(as_is <= logged)


def _logged(X: np.ndarray, logged: bool | None) -> bool:
    """The recorded log flag, or for arrays (no record) what the values say (:func:`rnagen.pp.is_logged`)."""
    return is_logged(X=X) if logged is None else logged


# --------------------------------------------------------------------------------------------- evaluate
def _check_options(*, k, n_boot, n_boot_expensive, epochs, seed, classifier_seeds) -> dict[str, Any]:
    """The numeric options, checked (0 resamples: point estimates without CIs, how the floor is scored)."""
    opts = {"k": check_number("k", k, ">= 1", integer=True),
            "n_boot": check_number("n_boot", n_boot, ">= 0", integer=True),
            "n_boot_expensive": check_number("n_boot_expensive", n_boot_expensive, ">= 0", integer=True),
            "epochs": check_number("epochs", epochs, ">= 1", integer=True),
            "seed": check_seed("seed", seed),
            "classifier_seeds": tuple(check_seed("classifier_seeds", s) for s in classifier_seeds)}
    if not opts["classifier_seeds"]:
        raise ConfigError("classifier_seeds must name at least one seed")
    for name in ("n_boot", "n_boot_expensive"):
        if opts[name] == 1:   # one replicate has no spread: no interval
            raise ConfigError(f"{name} = 1 gives no interval (one resample); use 0 for point values without CIs, "
                              "or at least 2 (more give steadier intervals)")
    return opts


def _requested(metrics: Sequence[str] | None) -> tuple[list[str], frozenset[str]]:
    """The indicators asked for (metric or family names, :func:`rnagen.metrics._registry.select_metrics`) and
    those named one by one."""
    if metrics is None:
        return list(DEFAULT_METRICS), frozenset()
    try:
        return select_metrics(metrics)
    except KeyError as e:
        raise DataError(unknown_metrics_message(e.args[0])) from None


def _computable(want: list[str], prepared: dict, *, strict: frozenset[str], explicit: bool) -> list[str]:
    """The requested indicators whose needs (labels, a training set) the inputs meet; one in ``strict`` (named
    one by one) that cannot be computed is an error, and so is an explicit request none of whose indicators can
    be."""
    has = {"labels": prepared["real_labels"] is not None and prepared["synthetic_labels"] is not None,
           "train": prepared["train"] is not None, "gene_sets": prepared.get("gene_sets") is not None}
    ok = [m for m in want if all(has[n] for n in METRICS[m].needs)]
    if explicit and (not ok or not strict <= set(ok)):
        m = next(m for m in want if m not in ok and (m in strict or not ok))
        lacking = [n for n in METRICS[m].needs if not has[n]]
        how = {"labels": "labels in every set (--label-key)", "train": "the training profiles (--train)",
               "gene_sets": "gene sets (--gene-sets FILE.gmt)"}
        raise DataError(f"metric {m!r} needs {' and '.join(how[n] for n in lacking)}; pass "
                        f"{' and '.join(how[n].rsplit('(', 1)[1].rstrip(')') for n in lacking)}, or leave it out of "
                        "--metrics")
    return ok


def _run_scorers(ctx: EvalContext, *, verbose: bool) -> tuple[list[dict], dict[str, Any]]:
    """Every registered scorer with a requested indicator, in order; rows, attrs and seconds per family."""
    rows: list[dict] = []
    attrs: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for sc in ordered_scorers():
        if not sc.metrics & set(ctx.want):
            continue
        t0 = time.perf_counter()
        out = sc.fn(ctx)
        rows += out.rows
        attrs.update(out.attrs)
        timings[sc.timing] = timings.get(sc.timing, 0.0) + time.perf_counter() - t0
        if verbose:
            print(f"  {sc.timing}: {timings[sc.timing]:.1f} s", flush=True)
    attrs["timings"] = timings
    return rows, attrs


def _table(rows: list[dict]) -> pd.DataFrame:
    """The rows in registry order, per-class rows after the overall ones; floor and gap columns empty (and the
    :data:`OVERALL_COLUMN` where a class is named as the overall rows' group)."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    for c in GAP_COLUMNS:
        df[c] = np.nan
    return _in_order(df, [bool(r.get(OVERALL_COLUMN, r["group"] == OVERALL_GROUP)) for r in rows])


def _in_order(df: pd.DataFrame, overall=None) -> pd.DataFrame:
    """``df``'s rows in registry order, per-class rows after the overall ones (``overall``: the mask of the
    overall rows, else :func:`overall_rows` of ``df``)."""
    order = {m: i for i, m in enumerate(METRICS)}
    is_overall = np.asarray(overall_rows(df) if overall is None else overall, dtype=bool)
    df = df.assign(_o=df["name"].map(order), _g=(~is_overall).astype(int), _overall=is_overall)
    df = df.sort_values(["_g", "_o"], kind="stable").reset_index(drop=True)
    return marked(df.drop(columns=["_o", "_g", "_overall"]), df["_overall"].to_numpy())


def _merged(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One table of the rows of ``tables`` (disjoint indicators) in registry order; their ``attrs`` together, the
    seconds per family added up and an entry of the first table kept over a later one's."""
    parts = [t for t in tables if len(t)] or tables[:1]
    overall = np.concatenate([np.asarray(overall_rows(t), dtype=bool) for t in parts])
    df = _in_order(pd.concat([t.drop(columns=[OVERALL_COLUMN], errors="ignore") for t in parts], ignore_index=True),
                   overall)
    timings: dict[str, float] = {}
    for t in reversed(tables):
        df.attrs.update({k: v for k, v in t.attrs.items() if k != "timings"})
        for k, v in t.attrs.get("timings", {}).items():
            timings[k] = timings.get(k, 0.0) + v
    df.attrs["timings"] = timings
    return df


def _scored(real, synthetic, train, *, metrics: Sequence[str] | None, opts: dict[str, Any], ceiling: bool,
            label_key: str | None, real_labels, synthetic_labels, train_labels, gene_sets, biology: BiologyOptions,
            real_side: dict[str, Any], mia_reference=None, membership_seed: int | None = None,
            membership_index: dict[str, np.ndarray] | None = None, mia_opts: dict[str, Any] | None = None,
            verbose: bool = False, only: frozenset[str] | None = None) -> pd.DataFrame:
    """``synthetic``'s table (rows and attrs, the gap columns empty). ``ceiling=False`` leaves out the
    real-vs-real references: the floor's table needs only its values and CIs, its ceiling being the synthetic
    set's own (the same training subsample), so they are not computed twice. ``real_side`` carries the passes
    over the real set alone from one call to the next (:meth:`EvalContext.real_side`). ``only``: of the
    indicators ``metrics`` asks for (checked as a whole), those computed here."""
    want, strict = _requested(metrics)
    # the floor (scored after the synthetic set) takes the synthetic set's statistics and reference rows
    prepared = prepare(real, synthetic, train, label_key=label_key, real_labels=real_labels,
                       synthetic_labels=synthetic_labels, train_labels=train_labels, mia_reference=mia_reference,
                       seed=opts["seed"], fitted=real_side.get("fitted"), train_groups=real_side.get("train_groups"))
    if "fitted" in prepared:
        real_side.setdefault("fitted", prepared["fitted"])
    if gene_sets is not None:
        genes = list(map(str, real.var_names)) if hasattr(real, "var_names") else None
        dropped: list[str] = []
        prepared["gene_sets"] = gene_set_index(gene_sets, genes, prepared["real"].shape[1], dropped=dropped)
    want = _computable(want, prepared, strict=strict, explicit=metrics is not None)
    if only is not None:
        want = [m for m in want if m in only]
    ctx = EvalContext.build(prepared, want=want, gene_sets=prepared.get("gene_sets"), biology=biology, **opts,
                            membership_seed=membership_seed, membership_index=membership_index,
                            membership_options=mia_opts, with_reference=ceiling)
    ctx.adopt(real_side)
    rows, attrs = _run_scorers(ctx, verbose=verbose)
    if (space := ctx.__dict__.get("classifier_space")) is not None:   # wide data: what the classifiers ran on
        attrs["classifier_inputs"] = space.record()
    real_side.update(ctx.real_side())
    if ceiling and (note := ctx.reference_note) is not None:
        attrs["reference_note"] = note
    df = _table(rows)
    df.attrs.update({"preprocessing": prepared["preprocessing"], **attrs})
    if gene_sets is not None and dropped:
        n = len(dropped) + len(prepared["gene_sets"])
        df.attrs["geneset_note"] = (f"{len(dropped)} of the {n} gene sets left out, fewer than 2 of their genes in "
                                    f"the data (e.g. {', '.join(map(repr, dropped[:3]))}): geneset_ks is the mean "
                                    f"over the other {n - len(dropped)}")
    return df


def evaluate(real, synthetic, *, train=None, floor=None, label_key: str | None = None,
             metrics: Sequence[str] | None = None, n_boot: int = 1000, n_boot_expensive: int = 20, k: int = 10,
             seed: int = 0, classifier_seeds: Sequence[int] = (0, 1, 2), epochs: int = 10, real_labels=None,
             synthetic_labels=None, train_labels=None, floor_labels=None, verbose: bool = False,
             gene_sets=None, biology=None, mia_reference=None, membership_seed: int | None = None,
             membership_sets: Mapping[str, Any] | None = None, mia_density: Literal["kde", "gmm"] = "kde",
             mia_pca_dims: int = 10, fidelity_size: Literal["synthetic", "held-out"] = "synthetic"
             ) -> pd.DataFrame:
    """Score a synthetic set against real data: one row per metric with CI, reference and direction.

    Parameters
    ----------
    real
        Real held-out profiles (the test split): AnnData or array.
    synthetic
        Generated profiles (same genes): AnnData or array; ideally the same size and label mix as ``real``.
    train
        Real training profiles (what the generator was fitted on). Enables real-vs-real references, TRTR,
        augmentation, privacy metrics and fits the z-scoring and PCA on it.
    floor
        Profiles of the floor model (the per-class Gaussian fitted on ``train``, sampled to the synthetic
        set's label mix; this package does not fit models, so the caller passes its samples). Needs
        ``train``. Adds, for each indicator with a share of the gap closed (:mod:`rnagen.metrics.gap`), the
        floor's value against the same held-out profiles (``floor`` column) and the share of the
        floor-to-ceiling gap the synthetic set closes (``gap_closed``, the ceiling being ``reference``).
    label_key
        ``obs`` column with the class labels (AnnData inputs); enables utility metrics and the classifier
        Fréchet distance. For arrays pass ``real_labels``, ``synthetic_labels``, ``train_labels``,
        ``floor_labels``.
    metrics
        Names to compute (default: all of :data:`rnagen.metrics.METRICS` that the inputs allow).
    n_boot, n_boot_expensive
        Bootstrap resamples for per-profile-mean metrics and for recomputed metrics.
    k
        Neighbourhood size of precision/recall/density/coverage.
    seed
        Seeds the bootstrap, subsamples and classifiers.
    classifier_seeds, epochs
        Seeds (runs) and epochs of the utility classifiers.
    gene_sets
        Gene sets for the gene-set indicator ``geneset_ks``: a GMT file path
        (:func:`rnagen.metrics.biology.read_gmt`) or a mapping of set name to gene names (column indices for
        array inputs).
    biology
        Settings of the biology family (:class:`rnagen.metrics.biology.BiologyOptions` or a dict of its
        fields): DE test, FDR, fold-change threshold, co-expression threshold, top-k, importance.
    mia_reference
        Real profiles disjoint from ``real`` and ``train`` (AnnData or array): the reference set of the
        membership-inference attacks (:mod:`rnagen.metrics.membership`). Without it the attacks take their
        reference from ``real`` (a stratified third of it, the other thirds being the non-members and the
        independent real draw).
    membership_seed
        Seed of the membership audit's partition of ``real`` and of its member subsample (default ``seed``):
        a benchmark fixes it so every row is attacked with the same sets. The partition is dealt in an order set
        by the profiles' content, so it does not depend on the order of the rows.
    membership_sets
        The audit's sets given, not drawn: a mapping of ``members`` (row indices into ``train``), ``nonmembers``,
        ``reference`` (left out with ``mia_reference``) and ``independent`` (disjoint row indices into ``real``),
        as :func:`rnagen.metrics.membership.membership_sets` returns them; a benchmark passes its split record's.
    mia_density, mia_pca_dims
        DOMIAS's density model (``kde``: Gaussian KDE; ``gmm``: a Gaussian mixture, the stronger model) and the
        dimensions of its PCA space (see :func:`rnagen.metrics.membership.attack_scores`).
    fidelity_size
        ``"synthetic"``: every indicator on the whole synthetic set. ``"held-out"`` (needs ``train``): the
        indicators compared with a real-vs-real reference (:func:`~rnagen.metrics._registry.against_reference`:
        the families of :data:`~rnagen.metrics._registry.REFERENCE_FAMILIES` but ``privacy_loss``) on a part of
        the synthetic set like the held-out set (its size and label counts, drawn in content order); utility,
        privacy and membership on all of it, as ``"synthetic"`` scores them. Their reference is then a training
        subsample of the held-out set's size, and the z-scores, the Fréchet PCA and its classifier are fitted on
        the other training profiles (where more than :data:`~rnagen.metrics.fidelity.PCA_COMPONENTS` remain):
        the value new real profiles score. A synthetic set as large as the training set has the whole training
        set, inside those fits, as its reference (``reference_note``). A ``floor`` larger than the held-out set
        is cut like the synthetic set. ``rnagen benchmark`` scores its training-sized sets (the size TSTR is
        trained on) this way.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, group, value, ci_low, ci_high, reference, direction, family, n_boot, floor,
        gap_closed, gap_resolved`` (the last three NaN without ``floor``; ``gap_resolved`` 0 where the floor is
        within its CI of the ceiling, :func:`rnagen.metrics.gap.gap_resolved`); ``group`` is ``"all"``
        (:data:`~rnagen.metrics._table.OVERALL_GROUP`), or a class name for the per-class rows (a pair of classes
        for the DE pair's). Where a class itself is named ``"all"``, a boolean last column ``overall`` marks the
        overall rows (:func:`~rnagen.metrics._table.overall_rows` reads either form). ``df.attrs`` holds
        ``preprocessing``, ``timings`` (seconds per family),
        ``flagged_near_copies`` (synthetic row indices), with ``floor`` ``gap_note``, ``held_out_in_train``
        where a few held-out profiles equal training ones or are near copies of them (``n``, ``n_near``; more than
        half of them equal is an error), and
        ``reference_note`` where the z-scores and feature spaces had to be fitted on the real-vs-real
        reference's own profiles (a synthetic set as large as the training set, or too few others), and
        ``fidelity_size_note`` where a part of the synthetic set was scored (``fidelity_size="held-out"``), and
        ``synthetic_repeats_note`` where synthetic profiles repeat others value for value (:func:`_repeated_profiles`).

    Raises
    ------
    DataError
        Sets of other genes, a label column missing, more than half of ``real`` found in ``train`` (every value
        the same: the training set given as the held-out one, or a split done wrong), a bad reference set.
    """
    real, synthetic, train, floor, mia_reference = (_as_matrix(x, what) for x, what in (
        (real, "the real set"), (synthetic, "the synthetic set"), (train, "the train set"), (floor, "the floor set"),
        (mia_reference, "the membership-inference reference set")))
    opts = _check_options(k=k, n_boot=n_boot, n_boot_expensive=n_boot_expensive, epochs=epochs, seed=seed,
                          classifier_seeds=classifier_seeds)
    if floor is not None and train is None:
        raise DataError("the floor's share of the gap closed needs the real training set as the ceiling; pass "
                        "--train (or --floor none)")
    bio = BiologyOptions.from_any(biology)
    _check_mia_reference(mia_reference, real=real, train=train, synthetic=synthetic)
    label_note = check_label_sets(real, synthetic, train, label_key=label_key, real_labels=real_labels,
                                  synthetic_labels=synthetic_labels, train_labels=train_labels)
    overlap, copies, train_groups = _check_held_out(real, train)
    repeats_note = _repeated_profiles(synthetic)
    ms = None if membership_seed is None else check_seed("membership_seed", membership_seed)
    msets = None
    if membership_sets is not None:
        if train is None:
            raise ConfigError("membership_sets needs the training set (the members are its rows); pass train")
        from .membership import check_sets
        msets = check_sets(membership_sets, n_real=int(real.shape[0]), n_train=int(train.shape[0]),
                           with_reference=mia_reference is None)
    if mia_density not in ("kde", "gmm"):
        raise ConfigError(f"mia_density must be kde or gmm, not {mia_density!r}")
    check_fidelity_size(fidelity_size)
    if fidelity_size == "held-out" and train is None:
        raise ConfigError("fidelity_size held-out needs the training set (the real-vs-real reference is drawn from "
                          "it); pass --train, or leave --fidelity-size at synthetic")
    if metrics is not None and not list(metrics):
        raise ConfigError("metrics names nothing; name metrics or families, or leave it out for all of them")
    mia_opts = {"density": mia_density, "pca_dims": check_number("mia_pca_dims", mia_pca_dims, ">= 1", integer=True)}
    labels = {"label_key": label_key, "real_labels": real_labels, "train_labels": train_labels}
    # a synthetic set (or floor) larger than the training set: the ceiling, a training subsample of the synthetic
    # set's size, cannot be drawn at that size, and the indicators depend on the sets' sizes (the AA halves most):
    # a random training-sized part is scored, so the model and the ceiling are compared at one size
    size_note = None
    if train is not None:
        n_train_set = int(train.shape[0])
        n_syn = int(synthetic.shape[0])
        synthetic, synthetic_labels = _at_most(synthetic, synthetic_labels, n_train_set, seed)
        if floor is not None:
            floor, floor_labels = _at_most(floor, floor_labels, n_train_set, seed + 1)
        if n_syn > n_train_set:
            size_note = (f"the synthetic set ({n_syn} profiles) is larger than the training set ({n_train_set}): a "
                         f"random {n_train_set} of its profiles are scored, the size at which the real-vs-real "
                         "reference is drawn (the indicators depend on the sets' sizes)")
    # the floor is scored against the same prepared real set; the membership audit leaves out the copies found
    real_side: dict[str, Any] = {} if copies is None else {"held_out_copies": copies}
    if train_groups is not None:   # the training set's copies of one profile, kept out of the fits beside the reference
        real_side["train_groups"] = train_groups
    common = {"metrics": metrics, "opts": opts, "gene_sets": gene_sets, "biology": bio,
              "mia_reference": mia_reference, "membership_seed": ms, "membership_index": msets, "mia_opts": mia_opts,
              "verbose": verbose, **labels}
    n_all = int(synthetic.shape[0])
    if fidelity_size == "held-out" and n_all > int(real.shape[0]):
        # the indicators judged against the real-vs-real reference on a held-out-sized part, with the reference rows
        # and the fits outside them drawn at that size (the floor is scored in that part's space); the others on
        # the whole set as fidelity_size="synthetic" scores them, in their own fits (the z-scores of the distances
        # and classifiers), so that they do not depend on which other indicators are asked for
        rows = _like_held_out(synthetic, synthetic_labels, real, real_labels, label_key, seed)
        part, part_labels = _rows_of(synthetic, synthetic_labels, rows)
        want, _ = _requested(metrics)
        near = frozenset(m for m in want if against_reference(m))
        rest_side = dict(real_side)
        tables = [_scored(real, part, train, ceiling=True, synthetic_labels=part_labels, only=near,
                          real_side=real_side, **common)] if near else []
        if rest := frozenset(want) - near:
            whole = _scored(real, synthetic, train, ceiling=True, synthetic_labels=synthetic_labels, only=rest,
                            real_side=rest_side, **common)
            whole.attrs.pop("reference_note", None)   # no indicator of the whole set is judged against it
            tables.append(whole)
        df = _merged(tables)
        if near and rest:
            # the z-scores of the whole set's indicators, beside those of the part's (fitted outside its reference)
            df.attrs["preprocessing"] = {**tables[1].attrs["preprocessing"],
                                         "zscore_part": tables[0].attrs["preprocessing"]["zscore"]}
        counts = (" (its label counts, as far as the synthetic set has each class)"
                  if part_labels is not None or label_key is not None else "")
        inside = ("; the training set has too few other profiles to fit the z-scores and feature spaces outside "
                  "the reference (reference_note)" if "reference_note" in df.attrs else
                  ", so that the reference, as large, lies outside the fits")
        df.attrs["fidelity_size_note"] = (
            f"the indicators judged against the real-vs-real reference ({', '.join(REFERENCE_FAMILIES)}, but "
            f"privacy_loss) are scored on {len(rows)} of the synthetic set's {n_all} profiles, drawn like the "
            f"held-out set{counts}{inside}; utility, privacy and membership on all {n_all}")
        if floor is not None:
            frows = _like_held_out(floor, floor_labels, real, real_labels, label_key, seed + 1)
            floor, floor_labels = _rows_of(floor, floor_labels, frows)
    else:
        df = _scored(real, synthetic, train, ceiling=True, synthetic_labels=synthetic_labels, real_side=real_side,
                     **common)
    if floor is not None:
        t0 = time.perf_counter()
        names = _floor_metrics(df, with_labels=label_key is not None or floor_labels is not None)
        if names:
            # the floor's CIs tell whether its gap to the ceiling exceeds the sampling noise (gap_resolved)
            with warnings.catch_warnings():  # with n_boot=0, empty replicate lists are no issue
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    fl = _scored(real, floor, train, metrics=names, opts=opts, ceiling=False,
                                 synthetic_labels=floor_labels, gene_sets=gene_sets, biology=bio,
                                 real_side=real_side, **labels)
                except (DataError, ConfigError) as e:   # the floor set was scored in the synthetic set's place
                    msg = str(e)
                    if msg.startswith("synthetic"):
                        msg = "the floor" + msg[len("synthetic"):]
                    elif "the synthetic set" in msg:
                        msg = msg.replace("the synthetic set", "the floor set")
                    else:
                        msg = f"the floor set: {msg}"
                    raise type(e)(msg) from None
            add_gap_columns(df, fl)
            df.attrs["gap_note"] = GAP_NOTE
        df.attrs["timings"]["floor"] = time.perf_counter() - t0
    if overlap is not None:
        df.attrs["held_out_in_train"] = overlap
    if label_note is not None:
        df.attrs["label_note"] = label_note
    if size_note is not None:
        df.attrs["synthetic_size_note"] = size_note
    if repeats_note is not None:
        df.attrs["synthetic_repeats_note"] = repeats_note
    n_real, n_train = len(real), None if train is None else len(train)
    if n_train is not None and n_real > 2 * n_train:
        df.attrs["sizes_note"] = (f"the held-out set (--real, {n_real} profiles) is more than twice the training set "
                                  f"(--train, {n_train}): are the two swapped? the ceiling and the floor are fitted on "
                                  "--train")
    return df


#: the share of a synthetic set's profiles repeating another of its profiles from which they are named: a sampler
#: of continuous values repeats none, whole-number counts of few genes a few by chance
REPEATED_SHARE = 0.01


def _repeated_profiles(synthetic) -> str | None:
    """A note when at least :data:`REPEATED_SHARE` of the synthetic profiles repeat another synthetic profile value
    for value (a generator's mode collapse, or rows written twice by the tool that wrote the file): each copy is
    scored as a profile of its own, so the set holds fewer distinct profiles than its size says; else ``None``."""
    X = _unpack(synthetic, None, None, "synthetic", generated=True)[0]
    if len(X) < 2:
        return None
    n_rep = int(pd.DataFrame(np.asarray(X)).duplicated().sum())
    if n_rep == 0 or n_rep < REPEATED_SHARE * len(X):
        return None
    return (f"{n_rep} of its {len(X)} profiles repeat another of its profiles value for value ({len(X) - n_rep} "
            "distinct): a generator's mode collapse, or rows written twice? each copy is scored as a profile of its "
            "own")


def _at_most(obj, labels, n: int, seed: int):
    """``obj`` (AnnData or array) and its ``labels`` cut to a seeded random ``n`` of its rows, in their order,
    when it has more; as they are otherwise. Drawn from the rows in their content order
    (:func:`~rnagen.metrics._classifiers.canonical_order`), so the same rows are kept for any order of a file's."""
    if int(obj.shape[0]) <= n:
        return obj, labels
    from ._classifiers import canonical_order

    X = obj.X if hasattr(obj, "obs") else np.asarray(obj)
    order = canonical_order(X, None if labels is None else np.asarray([label_text(v) for v in np.ravel(labels)]))
    rows = np.sort(order[np.random.default_rng([int(seed), 77]).choice(int(obj.shape[0]), n, replace=False)])
    return _rows_of(obj, labels, rows)


def check_fidelity_size(value: Any) -> str:
    """``value`` if it is a ``fidelity_size`` :func:`evaluate` takes, else a one-line :class:`ConfigError`."""
    if value not in ("synthetic", "held-out"):
        raise ConfigError(f"fidelity_size must be synthetic or held-out, not {value!r}")
    return str(value)


def _like_held_out(obj, labels, real, real_labels, label_key: str | None, seed: int) -> np.ndarray:
    """Sorted rows of ``obj`` (AnnData or array, with ``labels`` or its ``label_key`` column), as many as ``real``
    has, drawn like it: per class of ``real``, as many of that class as it has (all of them where ``obj`` has
    fewer), then other rows up to its size; without labels on either side, any rows. Drawn from the rows in their
    content order (:func:`~rnagen.metrics._classifiers.canonical_order`): the same rows for any order of a file's."""
    from ._classifiers import canonical_order

    def labels_of(o, given, what):
        if hasattr(o, "obs") and label_key is not None:
            return _labels_of(o.obs[label_key], what) if label_key in o.obs.columns else None
        return None if given is None else _labels_of(given, what)

    n = int(real.shape[0])
    y_real = labels_of(real, real_labels, "real")
    y = _as_real_classes(labels_of(obj, labels, "synthetic"), y_real)
    X = obj.X if hasattr(obj, "obs") else np.asarray(obj)   # canonical_order reads sparse rows in chunks
    rng = np.random.default_rng([int(seed), 79])
    order = canonical_order(X, y)
    drawn = order[rng.permutation(len(order))]
    if y is None or y_real is None:
        return np.sort(drawn[:n])
    want = pd.Series(y_real).value_counts()
    by_class = pd.Series(y[drawn]).groupby(y[drawn], sort=False).cumcount().to_numpy()
    quota = pd.Series(y[drawn]).map(want).fillna(0).to_numpy()
    picked = by_class < quota
    rows = drawn[picked]
    if len(rows) < n:
        rows = np.concatenate([rows, drawn[~picked][:n - len(rows)]])
    return np.sort(rows)


def _rows_of(obj, labels, rows: np.ndarray):
    """``obj`` (AnnData or array) and its ``labels`` (or ``None``) at ``rows``."""
    cut = obj[rows].copy() if hasattr(obj, "obs") else np.asarray(obj)[rows]
    return cut, (None if labels is None else np.asarray(labels)[rows])


def _check_held_out(real, train) -> tuple[dict[str, Any] | None, np.ndarray | None, np.ndarray | None]:
    """Held-out profiles that are training profiles too (every value the same up to rounding; sample ids are not
    compared, generic ones such as ``s0`` name different profiles in different sets): each is its own nearest neighbour
    across the sets, and the real-vs-real ceiling, the membership audit and the utility of a model trained on it
    are measured on seen data. Most of them in the training set (the training file given twice, a split done
    wrong) is refused; a few (a library in the data twice, empty libraries) are returned for the table's note,
    with the mask of those profiles (``None`` without a training set). Near copies of training profiles
    (:mod:`rnagen.pp.copies`: the same library with noise, beyond the rounding tolerance) join the note and the
    mask, not the refusal. Last, the copies of one profile within the training set found in the same search (a
    label per training profile, :func:`_near_copies_in_train`)."""
    if train is None:
        return None, None, None
    R, _, gr, lr = _unpack(real, None, None, "real")
    T, _, gt, lt = _unpack(train, None, None, "train")
    T = _on_real_genes(T, gt, gr, R.shape[1], "train", getattr(train, "var", None))
    mask = _same_on_either_scale(R, lr, T, lt)
    same = np.flatnonzero(mask).tolist()
    names = list(map(str, getattr(real, "obs_names", range(R.shape[0]))))
    if 2 * len(same) > R.shape[0]:
        raise DataError(f"{len(same)} of the {R.shape[0]} held-out (--real) profiles are also training (--train) "
                        f"profiles, every value the same up to rounding (e.g. {names[same[0]]!r}); the held-out set "
                        "must be profiles the model never saw: split the data first (rnagen data split)")
    near, train_groups = _near_copies_in_train(R, lr, T, lt)
    near &= ~mask
    if not same and not near.any():
        return None, mask, train_groups
    mask = mask | near
    shared = np.flatnonzero(mask).tolist()
    parts = [f"{len(same)} equal training profiles"] if same else []
    if near.any():
        parts.append(f"{int(near.sum())} {'are near copies' if near.sum() > 1 else 'is a near copy'} of one (nearer "
                     f"it than {NEAR_COPY_RATIO:g} of the data's typical nearest-neighbour distance)")
    return {"n": len(same), "n_near": int(near.sum()), "n_real": int(R.shape[0]),
            "examples": [names[i] for i in shared[:5]],
            "note": (f"{len(shared)} of the {R.shape[0]} held-out profiles share a profile with the training set: "
                     f"{' and '.join(parts)} (e.g. {names[shared[0]]!r}): samples in the data twice, or empty "
                     "libraries? each is its own neighbour across the sets, and the real-vs-real reference and the "
                     "privacy indicators read better than they are; split with rnagen data split, which keeps "
                     "copies on one side, or remove the copies from the data")}, mask, train_groups


def _near_copies_in_train(R: np.ndarray, lr: bool | None, T: np.ndarray, lt: bool | None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """For each held-out profile, whether it has a near copy among the training profiles
    (:func:`rnagen.pp.copies.find_copies_stacked` on the two sets together, each on its log scale); and from the same
    search a label per training profile, equal for the copies of one profile (``arange`` without copies,
    :func:`rnagen.pp.copies.first_of_group`)."""
    # each set's log values in float64 a block of rows at a time, never the two stacked (a float64 copy of both)
    found = find_copies_stacked([(R, takes_log2p1(R, logged=_logged(R, lr))),
                                 (T, takes_log2p1(T, logged=_logged(T, lt)))])
    out = np.zeros(len(R), dtype=bool)
    for rows in found.groups:
        held = [r for r in rows if r < len(R)]
        if len(held) < len(rows):   # the group holds a training profile
            out[held] = True
    return out, first_of_group(group_ids(found, len(R) + len(T))[len(R):], len(T))


def _same_on_either_scale(A: np.ndarray, la: bool | None, B: np.ndarray, lb: bool | None) -> np.ndarray:
    """:func:`~rnagen.metrics._knn.same_profiles` of ``A`` in ``B`` as given, and where one set is on the log
    scale and the other not (the held-out set exported as counts), on the log scale too (each set logged as
    :func:`prepare` logs it)."""
    same = _knn.same_profiles(A, B)
    a_logged, b_logged = _logged(A, la), _logged(B, lb)
    if a_logged != b_logged and not same.all():
        same |= _knn.same_profiles(to_log_scale(A, logged=a_logged)[0], to_log_scale(B, logged=b_logged)[0])
    return same


def check_synthetic_is_not_held_out(real, synthetic, *, what: str = "synthetic", option: str = "--synthetic"
                                    ) -> None:
    """A synthetic set most of whose profiles are held-out profiles (every value the same up to rounding, as a
    CSV export leaves it): the held-out file
    given as ``--synthetic`` too, refused by ``rnagen evaluate`` (every indicator would compare the held-out set
    with itself; :func:`evaluate` itself scores it, the identity being a useful analytic case). A synthetic set
    that copies training profiles is scored: the privacy indicators are there to show it."""
    R, _, gr, lr = _unpack(real, None, None, "real")
    S, _, gs, ls = _unpack(synthetic, None, None, "synthetic", generated=True)
    S = _on_real_genes(S, gs, gr, R.shape[1], "the floor" if what == "floor" else what,
                       getattr(synthetic, "var", None))
    same = int(_same_on_either_scale(S, ls, R, lr).sum())
    if 2 * same > S.shape[0]:
        raise DataError(f"{same} of the {S.shape[0]} {what} profiles are held-out (--real) profiles, every value "
                        f"the same up to rounding: the held-out file given as {option}? pass the generated "
                        "profiles")


def _label_values(obj, label_key: str | None, labels) -> set[str] | None:
    """The classes of a set (its ``obs[label_key]``, or ``labels`` for an array), ``None`` without labels."""
    if obj is None:
        return None
    if hasattr(obj, "obs") and label_key is not None and label_key in obj.obs.columns:
        return {label_text(x) for x in obj.obs[label_key].astype(str)}
    return None if labels is None else {label_text(x) for x in np.asarray(labels).ravel()}


def check_label_sets(real, synthetic, train=None, *, label_key: str | None = None, real_labels=None,
                     synthetic_labels=None, train_labels=None) -> str | None:
    """The synthetic and training sets' classes against the held-out set's: none in common is an error (a label
    column of other names, or names that differ in case: every per-class and utility indicator would be 0);
    some apart returns a note (real classes without synthetic or training profiles, which TSTR or TRTR cannot
    predict, or synthetic or training classes the real set lacks), else ``None``."""
    yr = _label_values(real, label_key, real_labels)
    if yr is None:
        return None
    notes = []
    for what, obj, labels in (("synthetic", synthetic, synthetic_labels), ("training", train, train_labels)):
        y = _label_values(obj, label_key, labels)
        if y is None:
            continue
        aliases = numeric_label_aliases(y, yr)
        y = {aliases.get(v, v) for v in y}
        if not y & yr:
            hint = (" (they differ only in case or spacing)"
                    if {folded_label(v) for v in y} & {folded_label(v) for v in yr} else "")
            raise DataError(f"none of the {what} set's {len(y)} classes is a class of the held-out (--real) set"
                            f"{hint}: {what} {_shown(y)}, real {_shown(yr)}; label both with the same names")
        if what == "synthetic":
            missing, extra = sorted(yr - y), sorted(y - yr)
            cased = sorted(f"{m!r} / {e!r}" for m in missing for e in extra if folded_label(m) == folded_label(e))
            if cased:
                names = "class names differ" if len(cased) > 1 else "class name differs"
                notes.append(f"{len(cased)} {names} only in case or spacing ({', '.join(cased[:3])}): label both "
                             "sets alike")
            if missing:
                them = "them" if len(missing) > 1 else "it"
                notes.append(f"{len(missing)} held-out class{'es' if len(missing) > 1 else ''} without synthetic "
                             f"profiles ({_shown(missing)}): TSTR cannot predict {them}")
            if extra:
                notes.append(f"{len(extra)} synthetic class{'es' if len(extra) > 1 else ''} not in the held-out set "
                             f"({_shown(extra)})")
        else:
            # TRTR's classifiers learn them too: their predictions of those classes on held-out profiles are
            # errors, and the reference of every utility indicator (TRTR) reads lower than the split allows
            missing, extra = sorted(yr - y), sorted(y - yr)
            if missing:
                them = "them" if len(missing) > 1 else "it"
                notes.append(f"{len(missing)} held-out class{'es' if len(missing) > 1 else ''} without training "
                             f"profiles ({_shown(missing)}): TRTR cannot predict {them}")
            if extra:
                them = "them" if len(extra) > 1 else "it"
                notes.append(f"{len(extra)} training class{'es' if len(extra) > 1 else ''} not in the held-out set "
                             f"({_shown(extra)}): TRTR's and TSTR's predictions of {them} count as errors, and in "
                             "the macro-F1 with an F1 of 0")
    return "; ".join(notes) or None


def _shown(values, k: int = 3) -> str:
    v = sorted(values)
    return ", ".join(repr(x) for x in v[:k]) + (", ..." if len(v) > k else "")


def _check_mia_reference(ref, *, real, train, synthetic=None) -> None:
    """The membership-inference reference set needs the training set (the members), and shares no sample with
    the held-out or training profiles or the synthetic set: no profile under the same id with the same values,
    and not most of them under other ids (a reference made of the synthetic profiles puts the attacks that
    compare the two densities at chance)."""
    if ref is None:
        return
    if train is None:
        raise DataError("the membership-inference reference set needs --train (the training profiles: the "
                        "members); pass --train or drop --reference")
    n = int(ref.n_obs) if hasattr(ref, "n_obs") else len(ref)
    if n < 3:
        raise DataError(f"the --reference set has {n} profile(s); the membership-inference attacks need at least 3 "
                        "(a density and a classifier are fitted on it)")
    ids = np.asarray(list(map(str, getattr(ref, "obs_names", []))))
    F, _, gf, _ = _unpack(ref, None, None, "reference")
    for what, other in (("--real (the non-members)", real), ("--train (the members)", train),
                        ("--synthetic (the set audited)", synthetic)):
        if other is None:
            continue
        # compared by values: the same profiles under other names (a renamed copy) would make every attack's
        # reference side the members' or the non-members' own profiles, and generic ids (s0, s1, ...) name other
        # profiles in each set
        X_o, _, go, _ = _unpack(other, None, None, "reference")
        try:
            same = _knn.same_profiles(F, _on_real_genes(X_o, go, gf, F.shape[1], "reference"))
        except DataError:   # other genes: the checks of the genes say so
            continue
        # a profile under its own id in both sets is one sample given twice, however few
        shared = sorted(set(ids[same].tolist()) & set(map(str, getattr(other, "obs_names", [])))) if len(ids) else []
        if shared:
            raise DataError(f"the --reference set shares {len(shared)} sample(s) with {what}, e.g. {shared[0]!r}; "
                            "the reference must be other held-out profiles")
        if 2 * int(same.sum()) > len(F):
            raise DataError(f"{int(same.sum())} of the {len(F)} --reference profiles are {what} profiles under "
                            "other names, every value the same up to rounding; the reference must be other held-out "
                            "profiles")


#: ``attrs["gap_note"]`` of a table with a floor
GAP_NOTE = ("gap closed = 1 - d(value) / d(floor), d = distance from the real-vs-real reference (the ceiling) on "
            "the indicator's side; 1: as real data, 0: as the floor, < 0: worse. " + NO_GAP_NOTE)


def _floor_metrics(df: pd.DataFrame, *, with_labels: bool) -> list[str]:
    """The indicators the floor set is scored on: those of the table with a share of the gap closed (without
    floor labels, none that needs labels, e.g. the classifier Fréchet distance)."""
    names = [m for m in df.loc[overall_rows(df), "name"] if applies(m)]
    return names if with_labels else [m for m in names if "labels" not in METRICS[m].needs]


def format_table(df: pd.DataFrame, *, per_class: bool = False) -> str:
    """A readable text table: metric, value, 95% CI, reference, direction; with a floor (``evaluate(...,
    floor=...)``) also the floor's value and the share of the gap closed, in percent."""
    overall = overall_rows(df)
    sub = df if per_class else df[overall]
    has_floor = "floor" in sub.columns and bool(sub["floor"].notna().any())
    gap_head = f" {'floor':>10} {'gap closed':>10}" if has_floor else ""
    # a class named as the overall rows' group is printed as a class, so its rows are not read as the overall ones
    groups = [f"{one_line(g)} (class)" if g == OVERALL_GROUP and not o else one_line(g)
              for g, o in zip(sub["group"], overall.loc[sub.index])]
    # the group column as wide as its longest name (class names such as "Brain - Cerebellar Hemisphere" and
    # "Brain - Cerebellum" must stay apart), at least 12
    gw = max([12, *(display_width(g) for g in groups)])
    mw = max([24, *(len(str(n)) for n in sub["name"])])   # mia_ganleaks_cal_tpr_at_fpr001 is 30 wide
    lines = [f"{'metric':<{mw}} {'group':<{gw}} {'value':>10} {'95% CI':>23} {'reference':>10}{gap_head}  direction"]
    unresolved = False
    for r, group in zip(sub.itertuples(), groups):
        ci = "" if np.isnan(r.ci_low) else f"[{r.ci_low:.4g}, {r.ci_high:.4g}]"
        ref = "" if np.isnan(r.reference) else f"{r.reference:.4g}"
        gap = ""
        if has_floor:
            fl = "" if np.isnan(r.floor) else f"{r.floor:.4g}"
            gc = "" if np.isnan(r.floor) else ("NaN" if np.isnan(r.gap_closed) else f"{100 * r.gap_closed:.0f}%")
            if gc and gc != "NaN" and not share_measured(getattr(r, "gap_resolved", None)):
                gc = f"({gc})"
                unresolved = True
            gap = f" {fl:>10} {gc:>10}"
        lines.append(f"{r.name:<{mw}} {pad_to(group, gw)} {r.value:>10.4g} {ci:>23} {ref:>10}{gap}  {r.direction}")
    if has_floor:
        lines.append("gap closed: share of the floor-to-reference (ceiling) distance closed; 100% = as real data, "
                     "0% = as the floor, negative = worse; NaN = the floor already reaches the ceiling")
    if unresolved:
        lines.append(f"(in brackets): {UNRESOLVED_NOTE}")
    return "\n".join(lines)
