"""AnnData-level preprocessing, scanpy style: depth normalisation, log, gene selection, class filtering, splits,
scalers.

Each function records what it did with :func:`rnagen.pp.history.record` into ``adata.uns["rnagen"]``.
Functions that change values (:func:`normalize_depth`, :func:`log2p1`) work in place and return the object;
functions that drop samples or genes (:func:`select_genes`, :func:`filter_classes`, :func:`split`) return new objects.
"""
from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..config import check_number
from ..errors import ConfigError, DataError
from ..utils import check_label_key, label_text, require_anndata
from .copies import copy_groups, group_ids, warn_mixed_labels
from .history import (
    adopt_scanpy_log1p,
    as_actual,
    below_one_note,
    check_summable,
    log_state,
    looks_logged,
    rebasable_to_log2,
    rebased_log,
    record,
    row_spans,
    set_log_state,
)
from .prepare import dense
from .transforms import Pipeline, make_pipeline

if TYPE_CHECKING:
    from .._genes import IdType

__all__ = ["normalize_depth", "looks_like_counts", "log2p1", "select_genes", "filter_classes", "split", "fit_scaler",
           "get_scaler", "check_labels", "class_counts", "merge_same_genes", "leave_out_other_matrices"]


def looks_like_counts(X) -> bool:
    """Do these values look like raw read counts: non-negative whole numbers, not on a log scale (some above
    30)? TPM, FPKM and normalised values have fractions; logged values stay below 30."""
    from .history import _finite_summary

    n, lo, hi, whole = _finite_summary(np.asarray(X))   # a block of rows at a time, not copies of the matrix
    return n > 0 and hi > 30.0 and lo >= 0 and whole


#: nCounter background estimates from each lane's negative controls (NanoStringNorm's ``Background``, Waggott
#: et al. 2012; nSolver's background subtraction)
BACKGROUNDS = ("none", "mean", "mean+2sd", "max")


def normalize_depth(adata, method: Literal["cpm", "median-ratio", "tpm", "nanostring"] = "cpm", *,
                    background: Literal["none", "mean", "mean+2sd", "max"] = "none"):
    """Remove sequencing depth from raw counts, in place: each sample's values divided by its size factor.

    ``cpm``: counts per million, the factor being the sample's total over every feature of ``adata`` divided by 10^6
    (run it before gene selection, so that the total is the library's). ``median-ratio``: DESeq2's size factors
    (Anders & Huber 2010, eq. 5), the median over the genes counted in every sample of the sample's ratio to the
    gene's geometric mean; robust to a few genes taking much of one sample's reads, and the values stay on the scale
    of counts. ``tpm``: transcripts per million (Wagner et al. 2012), each count divided by its gene's length in kb
    (``var["length"]``, as a featureCounts table gives it) before the per-million scaling, so long and short genes
    compare; a sample missing some genes has its total estimated from the share of the library those genes hold in
    the complete samples. ``nanostring``: NanoString nSolver's normalisation of nCounter lanes (read from RCC
    files): each lane scaled by its positive controls' geometric mean over the lanes' mean of it, then by its
    housekeeping genes' geometric mean likewise (``var["code_class"]``); lanes whose factors fall outside nSolver's
    QC ranges (0.3-3 and 0.1-10) are listed in the history. ``background`` (``nanostring`` only) subtracts each
    lane's background between the two scalings, as NanoStringNorm orders them: the mean, the mean plus two standard
    deviations or the maximum of its negative controls (``obs["negative_control_*"]``, scaled by the lane's
    positive-control factor), values below it set to 0. The factors are kept in ``obs["size_factor"]`` and the step
    in the history. Missing values are left out of the ratios (and, for the totals, accounted as above).

    Raises
    ------
    DataError
        If the values are on a log scale or negative (normalise counts before the log), a sample has no counts,
        (``median-ratio``) no gene is counted in every sample, or (``tpm``) gene lengths are missing or not
        positive.
    """
    require_anndata(adata, "normalize_depth")
    if method not in ("cpm", "median-ratio", "tpm", "nanostring"):
        raise DataError(f"unknown depth normalisation {method!r}; use 'cpm', 'median-ratio', 'tpm' or 'nanostring'")
    if background not in BACKGROUNDS:
        raise DataError(f"unknown background {background!r}; use one of {', '.join(BACKGROUNDS)}")
    as_actual(adata)   # a view's values written here would be its parent's
    if method == "nanostring":
        return _nanostring_normalised(adata, background)
    if background != "none":
        raise DataError(f"--background subtracts an nCounter lane's negative controls, with --normalize nanostring; "
                        f"remove --background or use --normalize nanostring instead of {method}")
    X = dense(adata.X)   # the arithmetic below is float64, a block of rows at a time where it can be
    if method == "tpm":
        if "length" not in adata.var.columns:
            raise DataError("--normalize tpm needs each gene's length (var['length'], as a featureCounts table "
                            "gives it) and these data have none; use --normalize cpm or median-ratio")
        length = pd.to_numeric(adata.var["length"], errors="coerce").to_numpy(dtype=np.float64)
        if not (np.isfinite(length) & (length > 0)).all():
            j = int(np.flatnonzero(~(np.isfinite(length) & (length > 0)))[0])
            raise DataError(f"--normalize tpm needs positive gene lengths; gene {str(adata.var_names[j])!r} has "
                            f"{str(adata.var['length'].iloc[j])!r}; fix the lengths or use --normalize cpm")
    st = log_state(adata)
    # values all in [0, 1), which the scale rule takes as log values, are no log expression: shares of reads
    shares = st is None and below_one_note(float(np.nanmin(X)), float(np.nanmax(X))) is not None
    if (st is not None and st.get("logged")) or (st is None and not shares
                                                 and looks_logged(X, names=(adata.obs_names, adata.var_names))):
        raise DataError(f"--normalize {method} needs counts, but the values are on a log scale already (max "
                        f"{float(np.nanmax(X)):.4g}); remove --normalize, or give the counts")
    if np.nanmin(X) < 0:
        raise DataError(f"--normalize {method} needs counts, but {int((X < 0).sum())} values are negative (the data "
                        "look centred); remove --normalize, or give the counts")
    spans = row_spans(X)
    total = np.concatenate([np.nansum(X[a:b].astype(np.float64), axis=1) for a, b in spans]) if spans else \
        np.zeros(0)
    if (total <= 0).any():
        i = int(np.flatnonzero(total <= 0)[0])
        raise DataError(f"sample {str(adata.obs_names[i])!r} has no counts (total 0): depth cannot be normalised; "
                        "remove the sample")
    n_used = adata.n_vars
    missing = X.dtype.kind == "f" and any(np.isnan(X[a:b]).any() for a, b in spans)
    if method in ("cpm", "tpm") and not missing:
        # a block of rows at a time: a full transcriptome of thousands of profiles is gigabytes in float64, and the
        # whole-matrix arithmetic held several such copies at once; the same values as below, row by row
        kb = length / 1e3 if method == "tpm" else None
        if kb is not None:   # reads per kilobase: the rate TPM scales to a million per sample
            factor = np.concatenate([np.nansum(X[a:b].astype(np.float64) / kb, axis=1) for a, b in spans]) / 1e6
        else:
            factor = total / 1e6
        out = np.empty(X.shape, dtype=np.float32)
        for a, b in spans:
            B = X[a:b].astype(np.float64)
            out[a:b] = ((B if kb is None else B / kb) / factor[a:b, None]).astype(np.float32)
        adata.X = out
    else:   # missing values (the library sizes estimated, _library_sizes) or median-ratio: the whole matrix
        X = X.astype(np.float64)
        if method == "tpm":
            X = X / (length / 1e3)  # reads per kilobase: the rate TPM scales to a million per sample
            factor = _library_sizes(X, adata.obs_names) / 1e6
        elif method == "cpm":
            factor = _library_sizes(X, adata.obs_names) / 1e6
        else:
            counted = np.all(np.isfinite(X) & (X > 0), axis=0)
            n_used = int(counted.sum())
            if n_used == 0:
                raise DataError("--normalize median-ratio needs genes counted in every sample and none is; use "
                                "--normalize cpm")
            logs = np.log(X[:, counted])
            factor = np.exp(np.median(logs - logs.mean(axis=0), axis=1))
        adata.X = (X / factor[:, None]).astype(np.float32)
    adata.obs["size_factor"] = factor
    record(adata, "normalize_depth", method=method, n_genes_used=int(n_used),
           library_size_min=float(total.min()), library_size_median=float(np.median(total)),
           library_size_max=float(total.max()))
    return adata


def _library_sizes(X: np.ndarray, samples) -> np.ndarray:
    """Each sample's total; where some of its genes are missing, its observed total over the share of the library
    those genes hold in the samples that have them all (the median share): left out of the sum, they would make
    the library look smaller and every value of the sample larger by as much."""
    total = np.nansum(X, axis=1)
    miss = np.isnan(X)
    rows = np.flatnonzero(miss.any(axis=1))
    if not len(rows):
        return total
    complete = ~miss.any(axis=1)
    if not complete.any():
        raise DataError(f"every sample misses a value (e.g. {str(samples[rows[0]])!r}): its library size cannot be "
                        "estimated for --normalize cpm or tpm; use --normalize median-ratio (genes counted in every "
                        "sample) or fill the values in first")
    share = np.median(X[complete] / total[complete, None], axis=0)
    held = np.array([share[miss[i]].sum() for i in rows])
    if (held >= 0.5).any():
        i = rows[int(np.flatnonzero(held >= 0.5)[0])]
        raise DataError(f"sample {str(samples[i])!r} misses genes holding half its library or more in the other "
                        "samples: its library size cannot be estimated; drop it or use --normalize median-ratio")
    total = total.copy()
    total[rows] = total[rows] / (1.0 - held)
    return total


def _nanostring_normalised(adata, background: str = "none"):
    """nSolver's normalisation of nCounter lanes (:func:`normalize_depth`, ``method="nanostring"``), in place."""
    pos = adata.obs["positive_control_geomean"] if "positive_control_geomean" in adata.obs.columns else None
    hk = (adata.var["code_class"].astype(str) == "Housekeeping").to_numpy() if "code_class" in adata.var.columns \
        else np.zeros(adata.n_vars, dtype=bool)
    if pos is None or not hk.any():
        raise DataError("--normalize nanostring needs NanoString lanes read from their RCC files (the positive "
                        "controls and the housekeeping genes); these data have "
                        + ("no positive controls" if pos is None else "no housekeeping gene")
                        + "; use --normalize median-ratio")
    pos = pd.to_numeric(pos, errors="coerce").to_numpy(np.float64)
    if not (np.isfinite(pos) & (pos > 0)).all():
        i = int(np.flatnonzero(~(np.isfinite(pos) & (pos > 0)))[0])
        raise DataError(f"lane {str(adata.obs_names[i])!r} has no positive control counts; remove it or use "
                        "--normalize median-ratio")
    X = dense(adata.X).astype(np.float64)
    total = np.nansum(X, axis=1)   # the lanes' counts before scaling, as the other methods report them
    pos_factor = pos / pos.mean()
    X = X / pos_factor[:, None]
    n_zeroed = 0
    bg = np.zeros(len(X))
    if background != "none":
        cols = [f"negative_control_{s}" for s in ("mean", "sd", "max")]
        if not set(cols) <= set(adata.obs.columns):
            raise DataError("--background needs each lane's negative controls, read from its RCC file, and these data "
                            "have none; remove --background")
        mean, sd, top = (pd.to_numeric(adata.obs[c], errors="coerce").to_numpy(np.float64) for c in cols)
        bg = {"mean": mean, "mean+2sd": mean + 2 * sd, "max": top}[background] / pos_factor
        if not np.isfinite(bg).all():
            i = int(np.flatnonzero(~np.isfinite(bg))[0])
            raise DataError(f"lane {str(adata.obs_names[i])!r} has no negative control counts for --background; "
                            "remove the lane or --background")
        below = X < bg[:, None]
        n_zeroed = int(below.sum())
        X = np.where(below, 0.0, X - bg[:, None])
    with np.errstate(divide="ignore"):
        logs = np.log(X[:, hk])
    if not np.isfinite(logs).all():
        if background != "none":
            i, j = (int(v[0]) for v in np.nonzero(~np.isfinite(logs)))
            lower = "--background none" if background == "mean" else "a lower --background (mean) or none"
            raise DataError(f"housekeeping gene {str(adata.var_names[np.flatnonzero(hk)[j]])!r} is at or below the "
                            f"background ({background} of the negative controls) in lane "
                            f"{str(adata.obs_names[i])!r}: its housekeeping normalisation needs them counted; use "
                            f"{lower}")
        raise DataError("a housekeeping gene is not counted in every lane (0 or missing); nSolver's housekeeping "
                        "normalisation needs them: use --normalize median-ratio")
    hk_gm = np.exp(logs.mean(axis=1))
    hk_factor = hk_gm / hk_gm.mean()
    adata.X = (X / hk_factor[:, None]).astype(np.float32)
    adata.obs["size_factor"] = pos_factor * hk_factor
    # nSolver's flags: a positive-control scaling factor outside 0.3-3, a housekeeping one outside 0.1-10
    flagged = [str(n) for n, a, b in zip(adata.obs_names, 1 / pos_factor, 1 / hk_factor)
               if not (0.3 <= a <= 3 and 0.1 <= b <= 10)]
    record(adata, "normalize_depth", method="nanostring", n_genes_used=int(hk.sum()),
           library_size_min=float(total.min()), library_size_median=float(np.median(total)),
           library_size_max=float(total.max()), flagged_lanes=flagged[:20], n_flagged_lanes=len(flagged),
           background=background, background_median=float(np.median(bg)), n_below_background=n_zeroed)
    return adata


def log2p1(adata, *, pseudocount: float = 1.0, force: bool = False):
    """``X <- log2(X + pseudocount)`` in place, unless ``X`` is already on a log scale.

    Already-logged data are recognised from the recorded log state (:func:`rnagen.pp.history.log_state`,
    e.g. set by the TCGA fetcher for Xena's log2(TPM+0.001), or scanpy's ``uns["log1p"]``,
    :func:`rnagen.pp.history.adopt_scanpy_log1p`) or, when nothing is recorded, by
    :func:`rnagen.pp.history.looks_logged`; they are left unchanged (the skip is recorded) unless
    ``force=True``. Values recorded as ``log_b(x + pseudocount)`` of another known base ``b`` (scanpy's natural
    ``log1p``) are converted, exactly: ``log2(x + c) = log_b(x + c) * log2(b)``.

    Raises
    ------
    DataError
        If a value is negative (log of a negative number; such data are centred or already logged).
    """
    require_anndata(adata, "log2p1")
    try:
        check_number("log pseudocount", pseudocount, "> 0")
    except ConfigError as e:   # the API's argument, kept a DataError as the CLI's --pseudocount reports it
        raise DataError(str(e)) from None
    as_actual(adata)   # a view's values written here would be its parent's
    X = dense(adata.X)
    st = log_state(adata)
    if not force:
        if st is None:
            adopt_scanpy_log1p(adata, "the data")
            st = log_state(adata)
        if (b := rebasable_to_log2(st, pseudocount)) is not None:
            return _rebase_log2(adata, X, b, pseudocount, str((st or {}).get("transform")))
        if st is not None and st.get("logged"):
            record(adata, "log2p1", applied=False, reason=f"already logged: {st.get('transform')}")
            return adata
        if st is None and looks_logged(X, names=(adata.obs_names, adata.var_names)):
            set_log_state(adata, logged=True, transform="unknown log scale (detected: values within [-10.5, 30])")
            record(adata, "log2p1", applied=False, reason="values look log-transformed already (max <= 30)")
            return adata
    if np.any(X < 0):
        i, j = np.argwhere(X < 0)[0]
        raise DataError(
            f"log2(x+{pseudocount:g}) needs non-negative values but found {int((X < 0).sum())} negative ones "
            f"(min {float(X.min()):.4g} at sample {adata.obs_names[i]!r}, gene {adata.var_names[j]!r}); the data "
            f"look centred or already logged: skip the log transform (--log none) or give raw counts/TPM")
    # float64 arithmetic a block of rows at a time: on the whole matrix it held three float64 copies of it at once
    out = np.empty(X.shape, dtype=np.float32)
    for a, b in row_spans(X):
        B = X[a:b].astype(np.float64)
        B += pseudocount
        out[a:b] = np.log2(B, out=B).astype(np.float32)
    adata.X = out
    set_log_state(adata, logged=True, transform=f"log2(x+{pseudocount:g})", pseudocount=pseudocount, base=2.0)
    record(adata, "log2p1", applied=True, pseudocount=float(pseudocount))
    return adata


def _rebase_log2(adata, X: np.ndarray, base: float, pseudocount: float, was: str):
    """``X = log_base(x + pseudocount)`` made ``log2(x + pseudocount)`` in place (times ``log2(base)``, in float64 a
    block of rows at a time: :func:`rnagen.pp.history.rebased_log`), recorded as a log2p1 step converted from
    ``was``."""
    adata.X = rebased_log(X, base)
    set_log_state(adata, logged=True, transform=f"log2(x+{pseudocount:g})", pseudocount=pseudocount, base=2.0)
    record(adata, "log2p1", applied=True, pseudocount=float(pseudocount), converted_from=was)
    return adata


def _merge_same_genes(adata, groups: list[list[int]], how: str):
    """Keep the first column of each group of same-gene columns (``how="first"``), or their mean (``"mean"``)
    or sum (``"sum"``, counts) stored in the first column."""
    drop = sorted(i for grp in groups for i in grp[1:])
    if how in ("mean", "sum"):
        X = dense(adata.X).astype(np.float64)
        if how == "sum":
            check_summable(X, "columns naming the same gene")
        for grp in groups:
            X[:, grp[0]] = X[:, grp].mean(axis=1) if how == "mean" else X[:, grp].sum(axis=1)
        adata = adata.copy()
        adata.X = X.astype(np.float32)
    keep = np.setdiff1d(np.arange(adata.n_vars), drop)
    return adata[:, keep].copy()


def merge_same_genes(adata, *, id_type: IdType, duplicates: str):
    """Columns naming one gene (another case, a symbol beside its Entrez id, two Ensembl versions) merged as
    ``duplicates`` says (``first``, ``mean``, ``sum``; ``error`` refuses them), and the merge recorded; returns the
    (possibly new) object. Run on the values as read, before depth normalisation and the log, so that ``sum`` adds
    counts and ``mean`` averages them, as for transcripts mapped to their genes."""
    if duplicates not in ("error", "first", "mean", "sum"):
        raise DataError(f"unknown duplicates policy {duplicates!r}; choose error, first, mean or sum")
    return _resolve_duplicates(adata, [str(v) for v in adata.var_names], id_type, duplicates)[0]


def _resolve_duplicates(adata, var: list[str], vtype: IdType, duplicates: str) -> tuple[Any, list[str]]:
    """Columns naming the same gene: an error (``duplicates="error"``), else merged and the merge recorded;
    returns the (possibly new) object and its gene ids."""
    from .. import _genes as g

    groups = g.same_gene_groups(var, id_type=vtype) if vtype != "other" else []
    if not groups:
        return adata, var
    if duplicates == "error":
        ex = groups[0]
        names = " and ".join(repr(var[i][:40]) for i in ex[:3])
        which = "1 gene appears" if len(groups) == 1 else f"{len(groups)} genes appear"
        raise DataError(f"{which} in more than one column (e.g. {names} are the same gene); "
                        f"keep the first, average or add them (rnagen data prepare --duplicates first|mean|sum), or "
                        f"remove the extra columns")
    adata = _merge_same_genes(adata, groups, duplicates)
    record(adata, "merge_same_genes", how=duplicates, n_groups=len(groups),
           n_dropped=sum(len(x) - 1 for x in groups))
    return adata, [str(v) for v in adata.var_names]


def _landmark_columns(var: list[str], vtype: IdType, min_landmark_fraction: float) -> tuple[list[int], list[str]]:
    """Columns of the 978 L1000 landmarks (in landmark order) and the symbols of the absent ones; too few
    present is an error."""
    from .. import _genes as g

    g.require_gene_ids(var, id_type=vtype, what="landmark selection (--genes landmarks)")
    idx, rep = g.find_landmarks(var, id_type=vtype)
    if idx and len(idx) < min_landmark_fraction * 978:
        raise DataError(f"only {len(idx)} of the 978 L1000 landmarks are among the {len(var)} genes ({vtype} IDs), "
                        f"fewer than {min_landmark_fraction:.0%}; use --genes all (or a gene list file) to keep "
                        f"the genes the data have")
    return idx, rep.landmarks_missing


def _direct_hits(req: list[str], var: list[str]) -> list[int | None]:
    """The first column of each requested id, matched as written or by name (:func:`rnagen._genes.match_genes`'s:
    an Ensembl id without its version and in any case, an Entrez id written as a float as its digits, spaces
    around a name dropped)."""
    from .. import _genes as g

    exact: dict[str, int] = {}
    keyed: dict[str, int] = {}
    for i, v in enumerate(var):
        exact.setdefault(v, i)
        keyed.setdefault(g._name_key(v), i)
    return [exact.get(r, keyed.get(g._name_key(r))) for r in req]


def _entrez_hits(hits: list[int | None], req: list[str], rtype: IdType, var: list[str],
                 vtype: IdType) -> list[int | None]:
    """``hits`` with the unmatched ids matched through Entrez IDs (gene IDs of another type than the data's)."""
    from .. import _genes as g

    rent = g.gene_keys([g._name_key(r) for r in req], id_type=rtype)
    vent = g.gene_keys([g._name_key(v) for v in var], id_type=vtype)
    epos: dict[str, int] = {}
    for i, e in enumerate(vent):
        if e is not None:
            epos.setdefault(e, i)
    return [h if h is not None else (epos.get(e) if e is not None else None) for h, e in zip(hits, rent)]


def _list_columns(req: list[str], var: list[str], vtype: IdType) -> tuple[list[int], list[str]]:
    """Columns of a gene list (in list order, each column once) and the requested ids not found."""
    from .. import _genes as g

    if not req:
        raise DataError("empty gene list; give at least one gene id")
    rtype = g.detect_id_type([g._name_key(r) for r in req])
    hits = _direct_hits(req, var)
    if vtype != "other" and any(h is None for h in hits):
        # a list mostly of ids no table knows still has its known genes mapped, each by its own pattern
        hits = _entrez_hits(hits, req, rtype if rtype != "other" else "mixed", var, vtype)
    idx: list[int] = []
    seen = set()
    for h in hits:
        if h is not None and h not in seen:
            idx.append(h)
            seen.add(h)
    return idx, [r for r, h in zip(req, hits) if h is None]


def _subset_genes(adata, idx: list[int], *, selection: str, n_req: int, missing: list[str], vtype: IdType):
    """A new object with the columns ``idx``; the selection is stored in ``uns["rnagen"]["genes"]`` and
    recorded."""
    out = adata[:, idx].copy()
    u = out.uns.setdefault("rnagen", {})
    u["genes"] = {"selection": selection, "n_selected": len(idx),
                  "n_requested": n_req, "missing": np.asarray([str(m) for m in missing], dtype=object)
                  if missing else np.asarray([], dtype=object), "id_type": vtype}
    record(out, "select_genes", genes=selection, id_type=vtype, n_selected=len(idx), n_missing=len(missing))
    return out


def select_genes(adata, genes: Literal["landmarks", "all"] | Sequence[str] = "landmarks", *,
                 id_type: IdType | None = None, min_landmark_fraction: float = 0.5,
                 duplicates: Literal["error", "first", "mean", "sum"] = "error"):
    """Keep the landmark genes, all genes, or a given gene list.

    Parameters
    ----------
    genes
        ``"landmarks"``: the 978 L1000 landmarks, found whatever the ID type of ``var_names`` (symbols, Entrez,
        Ensembl, versioned or not, or a mix) and ordered as in :func:`rnagen.datasets.landmarks`; ``"all"``:
        every feature (also features that are not genes, ID type ``"other"``); a list: those genes or features
        (any supported ID type; matched by name, an Ensembl ID without its version and spaces around an ID
        dropped, or, for genes, through Entrez IDs), in list order, each column once (an ID listed twice, or two
        IDs of one gene, select it once).
    id_type
        ID type of ``var_names``; detected with :func:`rnagen.data.genes.detect_id_type` when ``None``.
    min_landmark_fraction
        With ``"landmarks"``, the fraction of the 978 landmarks that must be present: a landmark model
        trained on a small part of the landmark space is not the model asked for, so too few is an error
        naming ``--genes all``; ``0`` takes whatever is present.
    duplicates
        Columns that name the same gene (``TP53`` and ``tp53``, an Ensembl ID and its symbol, two versions of
        one Ensembl ID): ``"error"`` (default), ``"first"`` (keep the first column, drop the others), ``"mean"``
        (average them into the first column) or ``"sum"`` (add them, counts). The choice is recorded.

    Returns
    -------
    anndata.AnnData
        A new object. ``uns["rnagen"]["genes"]`` holds ``n_selected``, ``n_requested`` and ``missing`` (the
        symbols of absent landmarks, or the absent IDs of the list, each once; ``n_requested`` counts each
        listed ID once).

    Raises
    ------
    DataError
        Landmarks asked of features that are not genes, fewer than ``min_landmark_fraction`` of the landmarks,
        none of the requested genes present, or columns naming the same gene with ``duplicates="error"``.
    """
    from .. import _genes as g

    require_anndata(adata, "select_genes")
    if not isinstance(genes, str) and (not isinstance(genes, (Sequence, np.ndarray, pd.Index, pd.Series))
                                       or np.ndim(genes) != 1):
        raise DataError(f"select_genes: genes must be 'landmarks', 'all' or a list of gene ids, not "
                        f"{type(genes).__name__}")
    if duplicates not in ("error", "first", "mean", "sum"):
        raise DataError(f"unknown duplicates policy {duplicates!r}; choose error, first, mean or sum")
    var = [str(v) for v in adata.var_names]
    vtype = id_type or g.detect_id_type(var)
    adata, var = _resolve_duplicates(adata, var, vtype, duplicates)
    if isinstance(genes, str) and genes == "all":
        out = adata.copy()
        record(out, "select_genes", genes="all", id_type=vtype, n_selected=out.n_vars)
        return out
    req: list[str] = []
    if isinstance(genes, str) and genes == "landmarks":
        idx, missing = _landmark_columns(var, vtype, min_landmark_fraction)
        n_req, what = 978, "landmarks"
    elif isinstance(genes, str):
        raise DataError(f"unknown gene selection {genes!r}; use 'landmarks', 'all' or a list of gene ids")
    else:
        req = list(dict.fromkeys(str(x) for x in genes))   # an id listed twice is one request, one missing gene
        idx, missing = _list_columns(req, var, vtype)
        n_req, what = len(req), "genes of the list"
    if not idx:
        species = g.other_species(var)
        if species is not None and species != "mouse or rat":
            raise DataError(f"none of the {what} found among the {len(var)} genes: they are {species} Ensembl ids and "
                            "rnagen's gene tables are human; map them to their human orthologs first (--feature-map "
                            f"with a table of {species} gene id and human gene symbol, e.g. from Ensembl BioMart) or "
                            "use --genes all")
        listed = g.other_species(req)   # None for the landmarks (no list)
        if species is None and vtype != "other" and listed is not None and listed != "mouse or rat":
            raise DataError(f"none of the {what} found among the {len(var)} genes: the list names {listed} genes (e.g. "
                            f"{req[0][:30]!r}) but the data's are human; list their human orthologs (e.g. from Ensembl "
                            "BioMart) or use --genes all")
        if vtype == "entrez" and g.map_ids(var, to="symbol", id_type="entrez")[1].n_mapped == 0:
            # whole numbers that are no known gene: the numeric probe ids of Affymetrix Gene/Exon ST arrays
            # (7892501, 10338001) or Illumina's, as a GEO series matrix's ID_REF gives them
            raise DataError(f"none of the {what} found among the {len(var)} features: numbers that name no known "
                            f"Entrez gene (e.g. {var[0]!r}; microarray probe ids?): map them to genes with "
                            "--feature-map (the platform's table, GEO's GPL file) or use --genes all")
        raise DataError(f"none of the {what} found among the {len(var)} genes ({vtype} IDs); check the gene IDs "
                        f"or use --genes all")
    return _subset_genes(adata, idx, selection=genes if isinstance(genes, str) else "list", n_req=n_req,
                         missing=missing, vtype=vtype)


def class_counts(adata, label_key: str) -> pd.Series:
    """Samples per class of ``obs[label_key]`` (classes with zero samples left out), largest first; the
    composed and decomposed forms of one text count as one class (:func:`rnagen.utils.label_text`)."""
    require_anndata(adata, "class_counts")
    check_label_key(label_key)
    if label_key not in adata.obs.columns:
        cols = ", ".join(map(str, adata.obs.columns)) or "none"
        raise DataError(f"label column {label_key!r} not found (sample columns: {cols}); pass --label-key with "
                        f"one of these")
    vc = adata.obs[label_key].astype(str).map(label_text).value_counts()
    return vc[vc > 0]


def _continuous(vc: pd.Series, label_key: str, n_obs: int) -> str | None:
    """The refusal of a label column that holds a measured quantity (age, dose as a number per sample, a
    score) rather than classes: every label a number, at least 10 of them, most held by one sample. rnagen's
    models generate per class, and dropping the single-sample "classes" would drop most samples."""
    nums = pd.to_numeric(pd.Series(vc.index.astype(str)), errors="coerce")
    if len(vc) < 10 or nums.isna().any() or (vc.to_numpy() < 2).mean() <= 0.5:
        return None
    return (f"the labels of {label_key!r} look like a continuous value, not classes ({len(vc)} distinct numbers "
            f"among {n_obs} samples, from {nums.min():g} to {nums.max():g}); rnagen generates profiles per class: "
            "bin them into groups in a label file (--labels) or choose a column of classes (--label-key)")


def folded_label(label) -> str:
    """A label in lower case with its runs of spaces, ``_`` and ``-`` made one space: labels that fold alike
    differ only in case or spacing (``Lung tissue``, ``lung_tissue``)."""
    return re.sub(r"[\s_-]+", " ", label_text(label)).strip().casefold()


def near_duplicate_labels(labels) -> list[list[str]]:
    """The sets of labels that differ only in case or spacing (``Lung``/``lung``, ``lung tissue``/``lung_tissue``):
    in a label column typed by hand most likely one class each, which the models would generate apart."""
    groups: dict[str, list[str]] = {}
    for lab in sorted({label_text(v) for v in pd.Series(labels).dropna().unique()}):
        groups.setdefault(folded_label(lab), []).append(lab)
    return [g for g in groups.values() if len(g) > 1]


def check_labels(adata, label_key: str, *, min_per_class: int = 2) -> None:
    """Raise :class:`DataError` naming the classes with fewer than ``min_per_class`` samples.

    Also fails for a missing label column or missing labels (NaN, empty or blank strings, ``NA``/``nan``
    tokens: never a class of its own). Models call this before fitting.
    """
    require_anndata(adata, "check_labels")
    check_label_key(label_key)
    if label_key not in adata.obs.columns:
        class_counts(adata, label_key)
    from ..data.io import check_labelled

    check_labelled(adata, label_key)
    vc = class_counts(adata, label_key)
    small = vc[vc < min_per_class]
    if len(small):
        cont = _continuous(vc, label_key, adata.n_obs)
        if cont is not None:
            raise DataError(cont)
        names = ", ".join(f"{k!r} ({v})" for k, v in small.head(8).items())
        names += f" and {len(small) - 8} more" if len(small) > 8 else ""
        twins = [g for g in near_duplicate_labels(vc.index) if set(g) & set(map(str, small.index))]
        hint = "" if not twins else (" (" + ", ".join("/".join(repr(x) for x in g) for g in twins[:3])
                                     + " differ only in case or spacing: one class? make them one label)")
        raise DataError(f"{len(small)} class(es) of {label_key!r} have fewer than {min_per_class} samples: {names}"
                        f"{hint}; add samples or drop them (rnagen data prepare --min-samples {min_per_class})")


def filter_classes(adata, label_key: str, *, min_samples: int = 2):
    """Drop the samples of classes with fewer than ``min_samples`` samples; returns a new object."""
    require_anndata(adata, "filter_classes")
    if isinstance(min_samples, bool) or not isinstance(min_samples, (int, np.integer)) or min_samples < 1:
        raise DataError(f"min_samples must be a whole number >= 1, got {min_samples!r}")
    vc = class_counts(adata, label_key)
    cont = _continuous(vc, label_key, adata.n_obs) if (vc < min_samples).any() else None
    if cont is not None:
        raise DataError(cont)
    drop = [str(k) for k, v in vc.items() if v < min_samples]
    keep = ~adata.obs[label_key].astype(str).map(label_text).isin(drop).to_numpy()
    if keep.sum() == 0:
        raise DataError(f"no class of {label_key!r} has at least {min_samples} samples; lower --min-samples")
    out = adata[keep].copy()
    lab = out.obs[label_key]
    if not isinstance(lab.dtype, pd.CategoricalDtype):
        lab = lab.astype(str).astype("category")
    out.obs[label_key] = lab.cat.remove_unused_categories()
    record(out, "filter_classes", label_key=label_key, min_samples=int(min_samples), dropped_classes=drop or "none",
           n_dropped_samples=int((~keep).sum()))
    return out


#: the values of a split column (``split(..., by=...)``) that name each part, compared case-insensitively
_TRAIN_NAMES = frozenset({"train", "training", "trn", "discovery"})
_TEST_NAMES = frozenset({"test", "testing", "tst", "holdout", "hold-out", "held-out", "heldout", "validation",
                         "valid", "val"})


def leave_out_other_matrices(adata) -> list[str]:
    """Remove from a prepared AnnData the input's matrices beside ``X`` (``layers``, ``.raw``, ``obsm``, ``varm``,
    ``obsp``, ``varp``: a scanpy file's counts, PCA and neighbour graph), recorded in the history; returns them as
    the summary names them. They hold the input's genes and values, not the prepared ones: stale beside the
    prepared ``X``, and the raw profiles (patients' counts) in a file a user takes to hold the prepared values
    only. What rnagen reads is ``X``; the source keeps the rest."""
    left = [f"layers[{k!r}]" for k in adata.layers]
    if adata.raw is not None:
        left.append("raw")
    for slot in ("obsm", "varm", "obsp", "varp"):
        left += [f"{slot}[{k!r}]" for k in getattr(adata, slot)]
    if not left:
        return []
    as_actual(adata)   # a view's matrices removed here would be its parent's
    for k in list(adata.layers):
        del adata.layers[k]
    adata.raw = None
    for slot in ("obsm", "varm", "obsp", "varp"):
        m = getattr(adata, slot)
        for k in list(m):
            del m[k]
    record(adata, "leave_out", matrices=left)
    return left


def split(adata, *, label_key: str, test_size: float = 0.2, seed: int = 42, by: str | None = None):
    """Stratified, seeded train/test split (scikit-learn ``train_test_split``), or the split the data carry.

    Parameters
    ----------
    label_key
        The ``obs`` column of the classes, stratified on (each class split in the same proportion).
    test_size
        Share of each class held out (0 to 1, exclusive; default 0.2).
    seed
        Seeds the split (default 42): the same seed, the same parts.
    by
        An ``obs`` column naming each sample's part (``train``/``test``, or ``training``/``testing``,
        ``holdout``, ``validation``, any case: a published data set's own split, e.g. mixOmics' breast.TCGA);
        ``test_size`` and ``seed`` are then not used.

    Returns
    -------
    train, test
        New AnnData objects; each records the split (``part``, ``test_size`` and ``seed``, or ``by``) and
        ``label_key`` as its label column (``uns["rnagen"]["label_key"]``).

    Raises
    ------
    DataError
        A class with fewer than 2 samples (it cannot be stratified), a test size too small or too large to hold
        every class, or one that leaves a class fewer than 2 training samples (no model can fit it); with ``by``,
        a column missing, with missing values or values other than the two parts', or a test class without
        training samples; a class whose profiles are all copies of one (:mod:`rnagen.pp.copies`).

    Notes
    -----
    The random split keeps the copies of one profile (the same values under several sample ids, or near copies:
    :func:`rnagen.pp.copies.copy_groups`) on one side, as a stratified group split: otherwise the held-out part
    holds profiles the model trains on, and every indicator measured on it, the real-vs-real reference first,
    reads better than the model is. Each part then records ``n_copies_grouped``. Data without copies are split
    as their rows. The split a column names (``by``) is taken as it is.
    """
    require_anndata(adata, "split")
    check_label_key(label_key)
    if by is not None and not isinstance(by, str):
        raise DataError(f"split: by must be the name of a sample (obs) column, a str, not {type(by).__name__}")
    if by is None and not (isinstance(test_size, numbers.Real) and not isinstance(test_size, bool)
                           and 0.0 < float(test_size) < 1.0):
        raise DataError(f"test size must be a number between 0 and 1 (exclusive), the share of each class held out, "
                        f"got {test_size!r}")
    if by is None:
        from ..config import check_seed

        try:
            seed = check_seed("seed", seed)
        except ConfigError as e:   # the API's argument, not a setting (sklearn's own error blames the test size)
            raise DataError(str(e)) from None
    check_labels(adata, label_key, min_per_class=2)
    y = adata.obs[label_key].astype(str).map(label_text).to_numpy()   # one class per text, in any Unicode form
    if by is not None:
        tr, te = _parts_of(adata, by)
        unseen = sorted(set(y[te]) - set(y[tr]))
        if unseen:
            shown = ", ".join(repr(c) for c in unseen[:5])
            raise DataError(f"the split in column {by!r} puts every sample of {len(unseen)} class(es) of {label_key!r} "
                            f"in the test part ({shown}): the models could not learn them; move some to train or drop "
                            "those classes")
        n_copies = 0
    else:
        tr, te, n_copies = stratified_group_split(adata, y, test_size=float(test_size), seed=int(seed),
                                                  label_key=label_key)
    tr, te = np.sort(tr), np.sort(te)
    left = pd.Series(y[tr]).value_counts()
    thin = [c for c in sorted(set(y)) if left.get(c, 0) < 2]
    if thin:
        # every model fits each class on its training profiles and needs two of them (a spread to learn)
        whole = pd.Series(y).value_counts()
        shown = ", ".join(f"{c!r} ({int(whole[c])} samples, {int(left.get(c, 0))} to train on)" for c in thin[:5])
        # --min-samples 3 drops the classes of fewer than 3 samples; a larger class left thin by the split needs a
        # smaller test part (or, in a given split, some of its samples moved to train)
        ways = (["drop such classes (rnagen data prepare --min-samples 3)"] if any(whole[c] < 3 for c in thin)
                else [])
        if any(whole[c] > 2 for c in thin):
            ways.append("lower --test-size" if by is None else f"move some of their samples to train in {by!r}")
        which = f"in column {by!r}" if by is not None else f"with test size {test_size}"
        raise DataError(f"the split {which} leaves fewer than 2 training samples in "
                        f"{len(thin)} class(es) of {label_key!r}: {shown}; {' or '.join(ways)}")
    col = adata.obs[label_key]
    # both parts share one category order: the data's own where it has one (the order the models and the report
    # keep), else sorted
    present = set(y)
    order = list(dict.fromkeys(label_text(c) for c in col.cat.categories if label_text(c) in present)) \
        if isinstance(col.dtype, pd.CategoricalDtype) else sorted(present)
    out = []
    for part, idx in (("train", tr), ("test", te)):
        a = adata[idx].copy()
        a.obs[label_key] = pd.Categorical(y[idx], categories=order)
        how: dict[str, Any] = {"by": by} if by is not None else {"test_size": float(test_size), "seed": int(seed)}
        if n_copies:
            how["n_copies_grouped"] = n_copies
        record(a, "split", part=part, label_key=label_key, **how, n_obs=int(len(idx)))
        # the classes the parts were stratified on are their label column (as rnagen data prepare --label-key
        # records it): train, evaluate and benchmark take it without being told again
        a.uns["rnagen"] = {**dict(a.uns.get("rnagen", {})), "label_key": label_key}
        out.append(a)
    return out[0], out[1]


def stratified_group_split(adata, y: np.ndarray, *, test_size: float, seed: int, label_key: str,
                   option: str = "--test-size") -> tuple[np.ndarray, np.ndarray, int]:
    """A stratified split that keeps the copies of one profile (:func:`rnagen.pp.copies.copy_groups`) on one
    side: the distinct profiles are split (each group by its first row's class), each group following its first
    row. Without copies, the split of the rows themselves. Returns the training and test rows, and how many rows
    were placed with another (copies beyond the first of each group). ``option``: the setting an error names.
    Also the tuning's validation split (:func:`rnagen.tune.study.split_validation`)."""
    from sklearn.model_selection import train_test_split

    copies = copy_groups(adata)
    g = group_ids(copies, adata.n_obs)
    first = np.unique(g)   # every row where there are no copies
    yf = y[first]
    names = [str(x) for x in adata.obs_names]
    warn_mixed_labels(g, y, names, what="the split keeps each such profile's copies on one side, stratified as "
                      "its first sample's class")
    counts = pd.Series(yf).value_counts()
    lone = [c for c in sorted(set(y)) if counts.get(c, 0) < 2]
    if lone:
        # a class whose profiles are all copies of one: any held-out profile of it is one the model trains on
        c = lone[0]
        rows = [i for grp in copies.groups for i in grp if y[grp[0]] == c]
        shown = " = ".join(repr(names[i]) for i in rows[:4]) + (" = ..." if len(rows) > 4 else "")
        raise DataError(f"{len(lone)} class(es) of {label_key!r} hold one profile under several ids ({c!r}: {shown}, "
                        "the same values): no held-out profile of it is new to the training set; remove the copies "
                        "from the input, or drop the class (rnagen data prepare --min-samples)")
    # a stratified split holds out at least one profile of each class and keeps one of each (scikit-learn holds out
    # ceil(share x n)): a share outside those bounds is named with the bounds
    n, k = len(first), len(counts)
    lo, hi = k / n, (n - k) / n
    if (int(np.ceil(float(test_size) * n)) < k or n - int(np.ceil(float(test_size) * n)) < k) and lo <= hi:
        what = (f"{n} distinct profiles ({adata.n_obs} samples, copies kept together)" if n < adata.n_obs
                else f"{n} samples")
        # the smallest share of 3 decimals holding out k (scikit-learn rounds share x n up), the largest keeping k
        bound = (f"at least {np.floor((k - 1) / n * 1000) / 1000 + 0.001:.3f}" if float(test_size) < lo
                 else f"at most {np.floor(hi * 1000) / 1000:.3f}")
        raise DataError(f"{option} {test_size:g} of {what} holds out {int(np.ceil(float(test_size) * n))}, but a split "
                        f"stratified by {label_key!r} holds out and keeps one of each of its {k} classes; give "
                        f"{option} {bound}")
    try:
        tr, te = train_test_split(first, test_size=test_size, random_state=seed, stratify=yf)
    except ValueError as e:
        what = (f"{len(first)} distinct profiles ({adata.n_obs} samples, copies kept together)"
                if len(first) < adata.n_obs else f"{adata.n_obs} samples")
        raise DataError(f"cannot split {what} of {len(set(y))} classes with test size {test_size}: {e}; change "
                        f"{option}") from e
    if len(first) < adata.n_obs:
        tr, te = np.flatnonzero(np.isin(g, tr)), np.flatnonzero(np.isin(g, te))
    return tr, te, adata.n_obs - len(first)


def split_columns(adata) -> list[str]:
    """The ``obs`` columns that name each sample's part of a train/test split (every value a train or a test name,
    both present): what :func:`split`'s ``by`` takes."""
    return [str(c) for c in adata.obs.columns if is_split_column(adata.obs[c])]


def is_split_column(values: Sequence[Any] | pd.Series) -> bool:
    """Whether ``values`` (a sample annotation) name each sample's part of a train/test split: every value a train
    or a test name (``train``, ``test``, ``validation``, ... in any case), both present."""
    col = pd.Series(values)
    if col.isna().any() or col.nunique() > 4:
        return False
    folded = col.astype(str).str.strip().str.casefold()
    return bool(folded.isin(_TRAIN_NAMES).any() and folded.isin(_TEST_NAMES).any() and
                folded.isin(_TRAIN_NAMES | _TEST_NAMES).all())


def _parts_of(adata, by: str) -> tuple[np.ndarray, np.ndarray]:
    """The training and test rows a split column names (:func:`split`'s ``by``)."""
    if by not in adata.obs.columns:
        raise DataError(f"no split column {by!r} (sample columns: {', '.join(map(str, adata.obs.columns)) or 'none'}); "
                        "name the column that says train or test")
    col = adata.obs[by]
    if col.isna().any():
        i = int(np.flatnonzero(col.isna().to_numpy())[0])
        raise DataError(f"the split column {by!r} has no value for {int(col.isna().sum())} sample(s), e.g. "
                        f"{str(adata.obs_names[i])!r}; give every sample train or test")
    values = col.astype(str).str.strip()
    folded = values.str.casefold()
    counts = values.value_counts()
    train, test = folded.isin(_TRAIN_NAMES).to_numpy(), folded.isin(_TEST_NAMES).to_numpy()
    if not train.any() or not test.any() or not (train | test).all():
        shown = ", ".join(f"{v!r} ({n})" for v, n in counts.items())
        raise DataError(f"the split column {by!r} holds {shown}; rnagen splits in two: give each sample train or "
                        "test (training/testing, holdout or validation read as test)")
    return np.flatnonzero(train), np.flatnonzero(test)


def fit_scaler(adata, method: str = "standard") -> Pipeline:
    """Fit a per-gene scaler on ``adata`` (training data only) and store it in ``uns["rnagen"]["scaler"]``.

    Parameters
    ----------
    method
        A :func:`rnagen.pp.transforms.make_pipeline` spec: ``"standard"``, ``"maxabs"``, ``"minmax"``,
        ``"log2p1+standard"``, ``"identity"``, ...

    Returns
    -------
    Pipeline
        Fitted and invertible; :func:`get_scaler` rebuilds it from ``uns`` (also after an h5ad round trip).
        ``adata.X`` itself is not changed.
    """
    require_anndata(adata, "fit_scaler")
    try:
        pipe = make_pipeline(method)
    except Exception as e:
        raise DataError(str(e)) from e
    X = dense(adata.X).astype(np.float64)
    if not np.isfinite(X).all():   # one NaN would make its gene's scale NaN for every sample
        i, j = np.argwhere(~np.isfinite(X))[0]
        raise DataError(f"the data hold NaN or infinite values (first: sample {str(adata.obs_names[i])!r}, gene "
                        f"{str(adata.var_names[j])!r}); fill them in or drop them before fitting a scaler")
    pipe.fit(X)
    desc, arrays = pipe.to_state()
    adata.uns.setdefault("rnagen", {})["scaler"] = {
        "spec": pipe.spec,
        "steps": {f"{i:03d}": {"kind": d["kind"], "params": dict(d["params"])} for i, d in enumerate(desc)},
        "arrays": {k: np.asarray(v) for k, v in arrays.items()},
        "var_names": np.asarray([str(v) for v in adata.var_names], dtype=object),
    }
    # the history holds plain values: a spec given as transform objects is recorded by their kinds and parameters
    record(adata, "fit_scaler", method=pipe.spec if not isinstance(method, str) else method,
           steps=[f"{d['kind']}({', '.join(f'{k}={v}' for k, v in d['params'].items())})" for d in desc],
           n_obs=adata.n_obs)
    return pipe


def get_scaler(adata) -> Pipeline:
    """The scaler stored by :func:`fit_scaler` (``DataError`` if none), for the genes of ``adata`` in its order:
    a copy with the genes reordered or subset (whose ``uns`` kept the scaler) gets each gene's own scale; a gene
    the scaler was not fitted on is a ``DataError``."""
    require_anndata(adata, "get_scaler")
    st = adata.uns.get("rnagen", {}).get("scaler")
    if not isinstance(st, dict):
        raise DataError("no fitted scaler stored in this data; run fit_scaler on the training data first")
    desc = [{"kind": str(v["kind"]), "params": dict(v.get("params", {}))} for _, v in sorted(st["steps"].items())]
    arrays = {k: np.asarray(v) for k, v in st["arrays"].items()}
    fitted = [str(v) for v in np.asarray(st.get("var_names", []), dtype=object)]
    genes = [str(v) for v in adata.var_names]
    if fitted and genes != fitted:
        pos = {g: i for i, g in enumerate(fitted)}
        missing = [g for g in genes if g not in pos]
        if missing:
            raise DataError(f"{len(missing)} gene(s) of the data were not in the data the scaler was fitted on "
                            f"(first: {missing[:3]}); fit the scaler on data with these genes")
        idx = np.asarray([pos[g] for g in genes], dtype=np.int64)
        arrays = {k: (v[idx] if v.ndim == 1 and len(v) == len(fitted) else v) for k, v in arrays.items()}
    return Pipeline.from_state(desc, arrays)
