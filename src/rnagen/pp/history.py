"""What was done to an AnnData object, recorded in ``adata.uns["rnagen"]``.

``adata.uns["rnagen"]["history"]`` is a list of steps, each a dict with at least ``"step"`` (the function
name) and its parameters. ``adata.uns["rnagen"]["log"]`` says whether ``X`` is on a log scale and how it got
there, so later steps (and the models) neither log twice nor forget to.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["record", "get_history", "log_state", "set_log_state", "looks_logged", "check_summable"]


def _uns(adata) -> dict:
    u = adata.uns.get("rnagen")
    if not isinstance(u, dict):
        u = {}
        adata.uns["rnagen"] = u
    return u


def _plain(v: Any) -> Any:
    # h5ad stores nested dicts of scalars, strings and arrays; keep entries in those types
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (list, tuple)):
        return np.asarray([str(x) for x in v]) if v and isinstance(v[0], str) else np.asarray(v)
    if v is None:
        return "None"
    return v


def record(adata, step: str, **params: Any) -> None:
    """Append ``{"step": step, **params}`` to ``adata.uns["rnagen"]["history"]``.

    The history is stored as a dict keyed ``"000_step"``, ``"001_step"``, ... because h5ad cannot store a
    list of dicts; :func:`get_history` returns it as an ordered list.
    """
    u = _uns(adata)
    hist = u.get("history")
    if not isinstance(hist, dict):
        hist = {}
        u["history"] = hist
    key = f"{len(hist):03d}_{step}"
    hist[key] = {"step": step, **{k: _plain(v) for k, v in params.items()}}


def get_history(adata) -> list[dict]:
    """The recorded steps, oldest first."""
    hist = adata.uns.get("rnagen", {}).get("history", {})
    if not isinstance(hist, dict):
        return []
    return [dict(hist[k]) for k in sorted(hist)]


def log_state(adata) -> dict | None:
    """``{"logged": bool, "transform": str, "pseudocount": float}`` if recorded, else ``None``."""
    st = adata.uns.get("rnagen", {}).get("log")
    return dict(st) if isinstance(st, dict) else None


def set_log_state(adata, *, logged: bool, transform: str, pseudocount: float | None = None) -> None:
    """Record whether ``adata.X`` is log-scale (e.g. ``transform="log2(x+1)"`` or ``"log2(TPM+0.001)"``)."""
    _uns(adata)["log"] = {
        "logged": bool(logged),
        "transform": transform,
        "pseudocount": float(pseudocount) if pseudocount is not None else float("nan"),
    }


def looks_logged(X) -> bool:
    """Heuristic: do these values look log-transformed already?

    Raw counts, TPM or RSEM values reach into the thousands; log2 values of expression stay below ~25
    (2**25 = 33 million). Values down to log2(0.001) ~ -9.97 (UCSC Xena's log2(TPM + 0.001)) also count as
    logged. Centred or z-scored data (large negative values) are not called logged; they simply should not
    be log-transformed again, which the log transform itself refuses.
    """
    X = np.asarray(X)
    if X.size == 0:
        return False
    finite = X[np.isfinite(X)]
    if finite.size == 0:
        return False
    lo, hi = float(finite.min()), float(finite.max())
    return hi <= 30.0 and lo >= -10.5


def check_summable(X, source: str) -> None:
    """``--duplicates sum`` adds counts or TPM; log-scale or centred values are refused (their sum means
    nothing)."""
    X = np.asarray(X)
    finite = X[np.isfinite(X)]
    if finite.size and (float(finite.min()) < 0 or looks_logged(finite)):
        raise DataError(f"{source}: --duplicates sum adds counts or TPM, and these values look log-scaled or centred "
                        "(all within [-10.5, 30] or negative); use --duplicates mean")
