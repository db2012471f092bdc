"""The one preparation path of every scorer: a dense matrix, and on a log scale.

Every consumer that scores expression profiles (:func:`rnagen.metrics.evaluate`, the tuning objective,
the benchmark's plot data) asks here whether a set is logged and how to bring it to a log scale, so a metric
is never won or lost by a scale difference between two code paths.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .history import log_state, looks_logged

__all__ = ["dense", "is_logged", "to_log_scale"]


def dense(X: Any, *, dtype: Any = None) -> np.ndarray:
    """``X`` as a dense NumPy array (a SciPy sparse matrix is expanded), optionally cast to ``dtype``."""
    X = X.toarray() if hasattr(X, "toarray") else X
    return np.asarray(X) if dtype is None else np.asarray(X, dtype=dtype)


def is_logged(adata: Any = None, *, X: np.ndarray | None = None) -> bool:
    """Is this set on a log scale?

    The recorded log state of ``adata`` (:func:`rnagen.pp.history.log_state`) decides when there is one;
    otherwise the values do (:func:`rnagen.pp.history.looks_logged` on ``X``, by default ``adata.X``).
    """
    st = log_state(adata) if adata is not None else None
    if st is not None:
        return bool(st["logged"])
    return looks_logged(dense(adata.X) if X is None else X)


def to_log_scale(X: np.ndarray, *, logged: bool) -> tuple[np.ndarray, str]:
    """``X`` on a log scale, and what was done (a short description for the record).

    Logged data are returned as they are. Data with negative values are also returned as they are: they were
    already centred or scaled by the user, and a logarithm of them would be meaningless. Anything else gets
    ``log2(x + 1)``, in the dtype of ``X``.
    """
    if logged:
        return X, "as is (log scale)"
    if np.nanmin(X) < 0:
        return X, "as is (negative values: already transformed)"
    return np.log2(X + 1.0).astype(X.dtype, copy=False), "log2(x+1)"
