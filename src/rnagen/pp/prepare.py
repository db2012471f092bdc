"""The one preparation path of every scorer: a dense matrix, and on a log scale.

Every consumer that scores expression profiles (:func:`rnagen.metrics.evaluate`, the tuning objective,
the benchmark's plot data) asks here whether a set is logged and how to bring it to a log scale, so a metric
is never won or lost by a scale difference between two code paths.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError
from ..utils import require_anndata
from .history import _finite_summary, log_state, looks_logged

__all__ = ["dense", "is_logged", "to_log_scale", "takes_log2p1", "check_log_record", "state_scale"]


def dense(X: Any, *, dtype: Any = None) -> np.ndarray:
    """``X`` as a dense NumPy array (a SciPy sparse matrix is expanded), optionally cast to ``dtype``."""
    X = X.toarray() if hasattr(X, "toarray") else X
    return np.asarray(X) if dtype is None else np.asarray(X, dtype=dtype)


def is_logged(adata: Any = None, *, X: np.ndarray | None = None) -> bool:
    """Is this set on a log scale?

    The recorded log state of ``adata`` (:func:`rnagen.pp.history.log_state`) decides when there is one;
    otherwise the values do (:func:`rnagen.pp.history.looks_logged` on ``X``, by default ``adata.X``).
    """
    if adata is not None:
        require_anndata(adata, "is_logged (an array goes in X=)")
    st = log_state(adata) if adata is not None else None
    if st is not None:
        if st["logged"]:
            check_log_record(dense(adata.X) if X is None else X)
        return bool(st["logged"])
    # a data set (AnnData) whose scale a few outlying values leave open is an error naming them; bare arrays (the
    # metrics' array API, whose caller chose the scale) read such values as linear
    names = None if adata is None else (adata.obs_names, adata.var_names)
    return looks_logged(dense(adata.X) if X is None else X, names=names, strict=adata is not None)


#: no log-scale expression value reaches this (log2 of 2^100); a set recorded as logged that does was changed
_LOG_MAX = 100.0


def check_log_record(X: np.ndarray) -> None:
    """Values of a set whose record says log scale (``uns["rnagen"]["log"]``) that no log-scale expression
    reaches: ``X`` was replaced after the record (counts put back into a prepared file), and taking them as
    logged would train and score on raw values."""
    n, _, hi, _ = _finite_summary(np.asarray(X))   # a block of rows at a time
    if n and hi > _LOG_MAX:
        raise DataError(f"the data's record says log scale (uns['rnagen']['log']) but its values reach "
                        f"{hi:.4g}, which no log-scale value does: X was replaced after the record; "
                        "prepare the file again (rnagen data prepare) or delete uns['rnagen']['log']")


def state_scale(adata, scale: str) -> None:
    """``--log none --scale log|linear``: the scale the user states, recorded as the data's log state (an input
    record that agrees is kept: its transform, and its base where it names one); a statement the input's record
    or the values contradict is a :class:`DataError`. Log values without a known base are recorded as log2, the
    base of rnagen's own transform and of published log expression tables (UCSC Xena's log2(x+1))."""
    from .history import log_base, set_log_state

    st = log_state(adata)
    X = dense(adata.X)
    n, lo, hi, _ = _finite_summary(X)
    if scale == "log":
        if st is not None and not st["logged"]:
            raise DataError(f"--scale log, but the input's record says linear scale ({st['transform']}); remove "
                            "--scale log (--log none keeps the values as read) or give the log values")
        if n and hi > _LOG_MAX:
            raise DataError(f"--scale log, but the values reach {hi:.4g}, which no log-scale expression does (they "
                            f"stay below {_LOG_MAX:g}): they are linear; use --scale linear, or --log log2p1")
        if st is None:
            set_log_state(adata, logged=True, transform="log2, as given (--scale log)", base=2.0)
        elif log_base(st) is None:
            pc = st.get("pseudocount")
            set_log_state(adata, logged=True, transform=str(st.get("transform")), base=2.0,
                          pseudocount=float(pc) if isinstance(pc, (int, float)) and np.isfinite(pc) else None)
        return
    if st is not None and st["logged"]:
        raise DataError(f"--scale linear, but the input's record says log scale ({st['transform']}): logged again "
                        "they would be logged twice; remove --scale linear, or give the values before the log")
    if n and lo < 0:
        raise DataError(f"--scale linear, but {int(np.count_nonzero(X < 0))} values are negative (min {lo:.4g}), "
                        "which no linear expression is (centred values? log values?); use --scale log for log "
                        "values, or give the values before centring")
    if st is None:
        set_log_state(adata, logged=False, transform="as given (--scale linear)")


def to_log_scale(X: np.ndarray, *, logged: bool) -> tuple[np.ndarray, str]:
    """``X`` on a log scale, and what was done (a short description for the record).

    Logged data are returned as they are. Data with negative values are also returned as they are: they were
    already centred or scaled by the user, and a logarithm of them would be meaningless. Anything else gets
    ``log2(x + 1)``, in the dtype of ``X``.
    """
    if hasattr(X, "obs"):
        raise DataError("to_log_scale takes the expression matrix (adata.X), not an AnnData; give adata.X, or use "
                        "rnagen.pp.log2p1 on the AnnData")
    if not takes_log2p1(X, logged=logged):
        return X, "as is (log scale)" if logged else "as is (negative values: already transformed)"
    return np.log2(X + 1.0).astype(X.dtype, copy=False), "log2(x+1)"


def takes_log2p1(X: np.ndarray, *, logged: bool) -> bool:
    """Whether :func:`to_log_scale` takes ``log2(x + 1)`` of ``X``: values not on the log scale, none negative."""
    return not logged and not np.nanmin(X) < 0
