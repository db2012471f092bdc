"""Missing values (NaN) in an expression matrix: drop what is mostly missing, then impute or drop the rest.

Public expression tables often leave cells empty: values below a detection limit, probes absent from one
platform, genes filtered in some samples. A generator needs a complete matrix, so ``rnagen data prepare
--missing impute|drop`` completes it once, on the log scale, before anything is fitted:

1. a gene missing in more than ``max_missing`` of the samples of any class is dropped (per class, so that a
   gene absent from a whole platform or class is not filled in from the other classes);
2. a sample still missing more than ``max_missing`` of the remaining genes is dropped;
3. ``impute``: every remaining missing value is the mean of that gene over the ``k`` samples nearest to it on
   the genes both observe (KNNimpute, Troyanskaya et al. 2001, Bioinformatics 17:520; the rule of
   scikit-learn's ``KNNImputer``, Euclidean distance rescaled for the missing coordinates, computed in blocks
   of matrix products: :func:`knn_fill`); ``drop``: the samples with a missing value left are dropped, so no
   value is invented.

The imputation does not use the labels (it would otherwise move samples towards their class), and it uses
every sample given: prepared before a train/test split, a test profile's observed values may help fill a
training profile's gaps. What was dropped and how many values were filled is recorded in the ``impute`` step
of the history and, per gene, in ``var["n_imputed"]``.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ..errors import DataError
from ..utils import require_anndata
from .history import record
from .prepare import dense

__all__ = ["MISSING_POLICIES", "complete_missing", "knn_fill"]

#: ``rnagen data prepare --missing``: refuse NaN, fill them in, or drop the samples that have them
MISSING_POLICIES = ("error", "impute", "drop")


def _shown(names, n: int = 5) -> str:
    names = [str(x) for x in names]
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


def complete_missing(adata, *, how: Literal["impute", "drop"] = "impute", max_missing: float = 0.2, k: int = 10,
                     label_key: str | None = None):
    """A copy of ``adata`` without missing values (see the module docstring); ``adata`` itself if it has none.

    Parameters
    ----------
    how
        ``"impute"`` (k-nearest-neighbour imputation of what is left after the drops) or ``"drop"`` (drop the
        samples with any missing value left).
    max_missing
        In [0, 1): the largest share of missing values a gene may have in any class (or in all samples
        without ``label_key``), and then a sample over the remaining genes.
    k
        Neighbours of the imputation.
    label_key
        ``obs`` column of the classes the genes' missing shares are computed within.

    Raises
    ------
    DataError
        An infinite value, a bad option, or nothing left after the drops (the message names the share to raise).
    """
    require_anndata(adata, "complete_missing")
    if how not in ("impute", "drop"):
        raise DataError(f"unknown missing-value policy {how!r}; choose one of {', '.join(MISSING_POLICIES)}")
    if not (isinstance(max_missing, (int, float)) and 0 <= max_missing < 1):
        raise DataError(f"--max-missing must be a share in [0, 1), got {max_missing!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"--impute-neighbours must be an integer >= 1, got {k!r}")
    X = dense(adata.X)
    if np.isinf(X).any():
        i, j = np.argwhere(np.isinf(X))[0]
        raise DataError(f"{int(np.isinf(X).sum())} infinite values (first at sample {str(adata.obs_names[i])[:40]!r}, "
                        f"gene {str(adata.var_names[j])[:40]!r}): they are not missing values; fix the file")
    miss = np.isnan(X)
    n_missing = int(miss.sum())
    if n_missing == 0:
        return adata
    if label_key is not None:
        groups = adata.obs[label_key].astype(str).to_numpy()
        by_class = pd.DataFrame(miss).groupby(groups).mean().to_numpy()
        gene_share = by_class.max(axis=0)
    else:
        gene_share = miss.mean(axis=0)
    keep_genes = gene_share <= max_missing
    where = " in some class" if label_key is not None else ""
    if not keep_genes.any():
        raise DataError(f"every gene is missing in more than {max_missing:.0%} of the samples{where} (least "
                        f"missing: {gene_share.min():.0%}); raise --max-missing or give a more complete file")
    sample_share = miss[:, keep_genes].mean(axis=1)
    keep_samples = sample_share <= max_missing
    if how == "drop":
        keep_samples &= ~miss[:, keep_genes].any(axis=1)
    if not keep_samples.any():
        # only with drop: the samples' missing shares over the kept genes average to at most max_missing (the
        # kept genes' mean share), so some sample is within it
        raise DataError(f"every sample has a missing value left after dropping the genes missing in more than "
                        f"{max_missing:.0%} of the samples{where}; use --missing impute or lower --max-missing")
    out = adata[keep_samples][:, keep_genes].copy()
    if label_key is not None and isinstance(out.obs[label_key].dtype, pd.CategoricalDtype):
        out.obs[label_key] = out.obs[label_key].cat.remove_unused_categories()  # a class whose samples all went
    Xk = dense(out.X).astype(np.float64)
    left = np.isnan(Xk)
    n_imputed = int(left.sum())
    if n_imputed:
        Xk = knn_fill(Xk, k=int(k))
    out.X = Xk.astype(np.float32)
    out.var["n_imputed"] = left.sum(axis=0).astype(np.int64)
    dropped_genes = list(map(str, adata.var_names[~keep_genes]))
    dropped_samples = list(map(str, adata.obs_names[~keep_samples]))
    record(out, "impute", how=how, method=f"knn (k={int(k)})" if how == "impute" else "none",
           **({"k": int(k)} if how == "impute" else {}),
           max_missing=float(max_missing), within=f"classes of {label_key!r}" if label_key is not None else "all",
           n_missing=n_missing, n_imputed=n_imputed, n_dropped_genes=len(dropped_genes),
           n_dropped_samples=len(dropped_samples), dropped_genes=_shown(dropped_genes, 50) or "none",
           dropped_samples=_shown(dropped_samples, 50) or "none")
    return out


def knn_fill(X: np.ndarray, *, k: int, block: int = 256) -> np.ndarray:
    """``X`` (float64, NaN = missing) with each missing value replaced by the mean of its gene over the ``k``
    samples that observe the gene and lie nearest to the sample (scikit-learn's ``KNNImputer`` with uniform
    weights, fitted and applied to ``X``): distance² = G / (genes both observe) x the squared differences over
    those genes; a sample sharing no observed gene is no donor; without any donor, the gene's observed mean (0
    for a gene observed nowhere, as ``keep_empty_features=True``).

    The distances of a block of samples to all samples are three matrix products (on the observed masks, the
    values with 0 for missing, and their squares), so the cost is that of a few GEMMs over n² x G instead of one
    pass per gene. Each sample's nearest candidates (4k + 8) are searched first for each of its missing genes;
    a gene with fewer than k observing candidates among them falls back to every sample observing it.
    """
    X = np.asarray(X, dtype=np.float64)
    M = ~np.isnan(X)
    n, G = X.shape
    Mf = M.astype(np.float64)
    Xz = np.where(M, X, 0.0)
    X0 = Xz - Xz.sum(axis=0) / np.maximum(Mf.sum(axis=0), 1.0) * Mf  # centred genes: less rounding in the GEMMs
    S = X0 * X0
    n_obs = M.sum(axis=0)
    out = X.copy()
    rows = np.flatnonzero(~M.all(axis=1))
    L = min(n, 4 * k + 8)
    for b0 in range(0, len(rows), block):
        R = rows[b0:b0 + block]
        common = Mf[R] @ Mf.T
        d2 = S[R] @ Mf.T
        d2 += Mf[R] @ S.T
        d2 -= 2.0 * (X0[R] @ X0.T)
        np.maximum(d2, 0.0, out=d2)
        with np.errstate(divide="ignore", invalid="ignore"):
            d2 *= G / common
        d2[common == 0] = np.inf
        d2[np.arange(len(R)), R] = np.inf  # a sample is never its own donor (it lacks the gene anyway)
        cand = np.argpartition(d2, L - 1, axis=1)[:, :L] if L < n else np.tile(np.arange(n), (len(R), 1))
        dc = np.take_along_axis(d2, cand, axis=1)
        order = np.argsort(dc, axis=1, kind="stable")
        cand, dc = np.take_along_axis(cand, order, axis=1), np.take_along_axis(dc, order, axis=1)
        obs = M[cand] & np.isfinite(dc)[:, :, None]                  # (b, L, G): candidate observes the gene
        take = obs & (np.cumsum(obs, axis=1) <= k)
        got = take.sum(axis=1)                                       # (b, G)
        filled = (take * Xz[cand]).sum(axis=1) / np.maximum(got, 1)
        need = np.minimum(k, n_obs)[None, :]
        miss = ~M[R]
        ok = miss & (got >= need) & (got > 0)
        rr, jj = np.nonzero(ok)
        out[R[rr], jj] = filled[rr, jj]
        for i, j in zip(*np.nonzero(miss & ~ok)):                    # the exact search for the rest
            donors = np.flatnonzero(M[:, j] & np.isfinite(d2[i]))
            if len(donors) == 0:
                out[R[i], j] = X[M[:, j], j].mean() if n_obs[j] else 0.0
                continue
            nearest = donors[np.argsort(d2[i, donors], kind="stable")[:k]]
            out[R[i], j] = X[nearest, j].mean()
    return out
