"""What was done to an AnnData object, recorded in ``adata.uns["rnagen"]``.

``adata.uns["rnagen"]["history"]`` is a list of steps, each a dict with at least ``"step"`` (the function
name) and its parameters. ``adata.uns["rnagen"]["log"]`` says whether ``X`` is on a log scale and how it got
there, so later steps (and the models) neither log twice nor forget to. Where that scale is one of scanpy's
``log1p`` (``log_b(x + 1)``), ``adata.uns["log1p"]`` says so too, in scanpy's own form, so that scanpy does not
log the values again either.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["record", "get_history", "depth_normalisation", "log_state", "set_log_state", "log_base", "log_bases_differ",
           "rebasable_to_log2", "rebased_log",
           "log_pseudocount", "log_target", "log_plan", "relogged", "relogged_copy", "relogged_name",
           "conversion_formula", "relogged_scale", "unknown_pseudocount_note", "TWO_LOG_SCALES", "with_scanpy_log1p",
           "TWO_LOG_BASES", "log1p_name", "scanpy_log1p_base",
           "sync_scanpy_log1p", "adopt_scanpy_log1p", "looks_logged", "check_summable", "LOG_RANGE",
           "TABLE_RECORD_KEY", "table_record", "parse_table_record", "adopt_table_record"]


def as_actual(adata):
    """``adata`` itself, made an AnnData of its own where it is a view (``a[:6]``), before it is changed in place:
    anndata writes a view's ``X`` and the dicts in its ``uns`` through to its parent, which would then be half
    transformed and record the step as done on all of it (what scanpy's in-place functions do too)."""
    if getattr(adata, "is_view", False):
        adata._init_as_actual(adata.copy())
    return adata


def _uns(adata) -> dict:
    as_actual(adata)
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


def depth_normalisation(adata) -> dict | None:
    """The sequencing-depth normalisation the values of ``adata`` carry, as its history records it: the last
    ``normalize_depth`` step's ``method`` (``cpm``, ``median-ratio``, ``tpm``, ``nanostring``) with its
    ``background`` where it has one (``rnagen data prepare --normalize``; a synthetic set carries its training
    data's), ``{"method": "none"}`` for a set ``rnagen data prepare`` wrote without one (its ``log2p1`` step is
    recorded, taken or not; values normalised before rnagen read them are not known to it), ``None`` where the
    history says nothing (a file rnagen did not prepare)."""
    hist = get_history(adata) if hasattr(adata, "uns") else []
    for h in reversed(hist):
        if h.get("step") == "normalize_depth" and isinstance(h.get("method"), str):
            bg = h.get("background")
            return {"method": h["method"], **({"background": bg} if isinstance(bg, str) and bg != "none" else {})}
    return {"method": "none"} if any(h.get("step") == "log2p1" for h in hist) else None


def log_state(adata) -> dict | None:
    """``{"logged": bool, "transform": str, "pseudocount": float[, "base": float]}`` if recorded, else ``None``
    (``base``: the logarithm's base where it is known, :func:`log_base`)."""
    st = adata.uns.get("rnagen", {}).get("log")
    return dict(st) if isinstance(st, dict) else None


def set_log_state(adata, *, logged: bool, transform: str, pseudocount: float | None = None,
                  base: float | None = None) -> None:
    """Record whether ``adata.X`` is log-scale (e.g. ``transform="log2(x+1)"`` or ``"log2(TPM+0.001)"``), with the
    logarithm's ``base`` where it is known (2 for log2, ``math.e`` for scanpy's default ``log1p``). The values
    are then ``log_base(x + pseudocount)``, which is what converting them to another base needs; scanpy's
    ``uns["log1p"]`` is kept in step (:func:`sync_scanpy_log1p`). A ``base`` that is not finite and above 1 (no
    base of ``log_b(x + pseudocount)`` of expression, :func:`log_base`) is a :class:`DataError`."""
    if base is not None and not (_is_number(base) and math.isfinite(base) and base > 1):
        raise DataError(f"set_log_state: base must be the logarithm's base, a finite number above 1 (2 for log2, "
                        f"math.e for ln), got {base!r}")
    st: dict[str, Any] = {
        "logged": bool(logged),
        "transform": transform,
        "pseudocount": float(pseudocount) if pseudocount is not None else float("nan"),
    }
    if logged and base is not None:
        st["base"] = float(base)
    _uns(adata)["log"] = st
    sync_scanpy_log1p(adata)


#: a log transform's name as rnagen's records write it (:func:`log1p_name`, ``log2(TPM+0.001)``): its base
_NAMED_BASE = re.compile(r"(?:(?P<ln>ln)|log_?(?P<b>[0-9]+(?:\.[0-9]+)?))\(")


def log_base(st: dict | None) -> float | None:
    """The base of a recorded log state's logarithm (2.0, ``math.e``, 10.0), ``None`` where the record does not say
    (values found log-scale by their range, a published scale of unknown base, linear values).

    A record without a ``base`` entry whose transform opens with the logarithm's name (``log2(x+1)``,
    ``ln(x+1)``: what rnagen writes, :func:`log1p_name`) has that name's base: rnagen's records of an earlier
    version name the transform but carry no ``base``."""
    if not st or not st.get("logged"):
        return None
    b = st.get("base")
    if b is None:
        m = _NAMED_BASE.match(str(st.get("transform", "")))
        b = None if m is None else math.e if m["ln"] else float(m["b"])
    return float(b) if isinstance(b, (int, float, np.number)) and math.isfinite(b) and b > 1 else None


#: the fix named where two sets' records give their logarithms two bases (:func:`log_bases_differ`)
TWO_LOG_BASES = "logs of two bases; prepare both with rnagen data prepare (log2(x+1) by default)"


def log_bases_differ(a: dict | None, b: dict | None) -> bool:
    """Whether two recorded log states (:func:`log_state`) both know their base and the bases differ: ln and log2
    values of one profile differ by a factor of log2(e) = 1.44 in every gene, which no comparison of the two sets
    may read as expression; a state of unknown base is judged by its values elsewhere."""
    ba, bb = log_base(a), log_base(b)
    return ba is not None and bb is not None and not math.isclose(ba, bb, rel_tol=1e-9)


def rebasable_to_log2(st: dict | None, pseudocount: float = 1.0) -> float | None:
    """The base ``b`` of a recorded ``log_b(x + pseudocount)`` that :func:`rnagen.pp.log2p1` converts to
    ``log2(x + pseudocount)`` exactly (a known base other than 2, the same pseudocount: scanpy's ``ln(x+1)``),
    else ``None``."""
    b = log_base(st)
    if b is None or b == 2 or st is None or st.get("pseudocount") != pseudocount:
        return None
    return b


def rebased_log(X, base: float, to: float = 2.0, dtype: Any = np.float32) -> np.ndarray:
    """``X = log_base(x + c)`` as ``log_to(x + c)``, of the same pseudocount ``c``: times ``log_to(base)``
    (``log2(base)`` for ``to=2``), in float64 a block of rows at a time (:func:`row_spans`), as ``dtype``."""
    factor = math.log2(base) if to == 2 else math.log(base) / math.log(to)
    X = np.asarray(X)
    out = np.empty(X.shape, dtype=dtype)
    if X.ndim < 2:
        out[...] = X.astype(np.float64) * factor
        return out
    for a, b in row_spans(X):
        out[a:b] = X[a:b].astype(np.float64) * factor
    return out


#: the fix named where two sets' log scales cannot be brought to one exactly (:func:`relogged`)
TWO_LOG_SCALES = "prepare both from their linear values with rnagen data prepare (log2(x+1) by default)"


def log_pseudocount(st: dict | None) -> float | None:
    """The pseudocount ``c`` of a recorded ``log_b(x + c)`` (1 for log2(x+1), 0.001 for UCSC Xena's
    log2(TPM+0.001)); ``None`` where the record does not know it (NaN) or records no log."""
    if not st or not st.get("logged"):
        return None
    raw = st.get("pseudocount")
    if raw is None or not _is_number(raw):
        return None
    c = float(raw)
    return c if math.isfinite(c) and c >= 0 else None


def log_target(states: list[dict | None]) -> int | None:
    """Of recorded log states, the index of the one whose scale the others are brought to (:func:`relogged`): of
    those of a known base, one of base 2 where any is (ln and log2 sets are scored as log2), of those the one of the
    largest known pseudocount (log2(x+1) beside log2(TPM+0.001): ``x + 1`` is defined for every value of
    ``log2(x + 0.001)`` of expression, the reverse needs every ``x`` at or above 0); ``None`` where no base is
    known."""
    known = [(i, st) for i, st in enumerate(states) if log_base(st) is not None]
    if not known:
        return None

    def rank(item: tuple[int, dict | None]) -> tuple[bool, bool, float]:
        b, c = log_base(item[1]), log_pseudocount(item[1])
        return (b is not None and math.isclose(b, 2.0), c is not None, c if c is not None else 0.0)

    return max(known, key=rank)[0]


def _converts(st: dict | None, to: dict | None) -> bool:
    """Whether the values of record ``st`` are brought to record ``to``'s scale (:func:`relogged`): both bases
    known, ``st``'s pseudocount known, and either the bases agree and the pseudocounts differ (``to``'s known), or
    they differ and ``to``'s is 2 (:func:`log_target`)."""
    b, b2, c, c2 = log_base(st), log_base(to), log_pseudocount(st), log_pseudocount(to)
    if b is None or b2 is None or c is None:
        return False
    if math.isclose(b, b2, rel_tol=1e-9):
        return c2 is not None and not math.isclose(c, c2, rel_tol=1e-9)
    return math.isclose(b2, 2.0)


def log_plan(a: dict | None, b: dict | None) -> int | None:
    """Of two recorded log states on two scales, the one (0: ``a``, 1: ``b``) whose values are converted exactly to
    the other's scale (:func:`relogged`), the other being :func:`log_target`'s choice: ``log_b(x + 1)`` beside log2
    values made log2(x+1) (scanpy's ln), log2(x+1) beside log2(TPM+0.001) ... of two known pseudocounts made the
    larger one's; ``None`` where the scales agree, a base is unknown, the converted side's pseudocount is unknown
    (:func:`unknown_pseudocount_note`), or two bases neither of which is 2 (ln beside log10: refused,
    :func:`log_bases_differ`)."""
    t = log_target([a, b])
    if t is None:
        return None
    st, to = (b, a) if t == 0 else (a, b)
    return 1 - t if _converts(st, to) else None


def relogged_scale(st: dict, to: dict) -> tuple[float, float | None]:
    """The base and pseudocount :func:`relogged` gives values of record ``st`` converted to record ``to``'s
    scale: ``to``'s base, and ``to``'s pseudocount where known, else ``st``'s (a change of base alone)."""
    b2 = log_base(to)
    assert b2 is not None
    c2 = log_pseudocount(to)
    return b2, c2 if c2 is not None else log_pseudocount(st)


def relogged_name(st: dict, to: dict) -> str:
    """The transform :func:`relogged` leaves values of record ``st`` converted to record ``to``'s scale in:
    ``log2(x+1)``, ``log2(x+0.001)`` (:func:`log1p_name`)."""
    b2, c2 = relogged_scale(st, to)
    assert c2 is not None
    return log1p_name(b2, c2)


def conversion_formula(st: dict, to: dict) -> str:
    """How :func:`relogged` converts values ``v`` of record ``st`` to ``to``'s scale: ``x 1.443`` (a change of base:
    ``log_b'(x + c) = log_b(x + c) * log_b'(b)``), ``log2(2^v - 0.001 + 1)`` (of pseudocount, ``x = b^v - c``)."""
    b, c = log_base(st), log_pseudocount(st)
    b2, c2 = relogged_scale(st, to)
    assert b is not None and c is not None and c2 is not None
    if math.isclose(c, c2, rel_tol=1e-9):
        return f"x {math.log(b) / math.log(b2):.4g}"
    name = log1p_name(b2, c2).split("(")[0]
    power = "e" if math.isclose(b, math.e) else f"{b:g}"
    return f"{name}({power}^v - {c:g} + {c2:g})"


def relogged(X, st: dict, to: dict, *, where: str = "the values", dtype: Any = np.float32) -> np.ndarray:
    """Values ``v = log_b(x + c)`` of record ``st`` as ``log_b'(x + c')`` of record ``to``'s scale
    (:func:`relogged_scale`), exact: of the same pseudocount times ``log_b'(b)`` (:func:`rebased_log`), else
    ``v' = log_b'(b^v - c + c')`` in float64 a block of rows at a time (``x = c * expm1(v ln b - ln c)``, without
    the loss of ``b^v - c`` near 0). That is the same expression only where ``x = b^v - c`` is at or above 0 (up to
    float32 rounding of ``v``, 1e-5 of ``c``: a value below ``log_b(c)`` is no ``log_b(x + c)`` of expression)
    and ``x + c'`` is above 0; other values are a :class:`DataError` naming both transforms, as ``where``'s."""
    b, c = log_base(st), log_pseudocount(st)
    b2, c2 = relogged_scale(st, to)
    assert b is not None and c is not None and c2 is not None
    if math.isclose(c, c2, rel_tol=1e-9):
        return rebased_log(X, b, to=b2, dtype=dtype)
    X = np.asarray(X)
    shape = X.shape
    X2 = X.reshape(shape[0], -1) if X.ndim >= 2 else X.reshape(1, -1)
    out = np.empty(X2.shape, dtype=dtype)
    lb, lb2, tol = math.log(b), math.log(b2), 1e-5 * c
    bad, lo = 0, np.inf
    for s, e in row_spans(X2):
        V = X2[s:e].astype(np.float64)
        with np.errstate(all="ignore"):
            x = c * np.expm1(V * lb - math.log(c)) if c > 0 else np.exp(V * lb)
            y = np.maximum(x, 0.0) + c2
            wrong = (x < -tol) | (y <= 0)
        wrong &= ~np.isnan(V)
        if wrong.any():
            bad += int(wrong.sum())
            lo = min(lo, float(V[wrong].min()))
        with np.errstate(all="ignore"):
            out[s:e] = np.log(y) / lb2
    if bad:
        what, other = str(st.get("transform")), str(to.get("transform"))
        floor = math.log(c) / lb if c > 0 else -math.inf
        raise DataError(f"{where}: {bad} value(s) of its {what} lie below {floor:.4g} (down to {lo:.4g}), the least "
                        f"log(x + {c:g}) of expression takes, so they cannot be made {log1p_name(b2, c2)} exactly "
                        f"beside {other}: {TWO_LOG_SCALES}")
    return out.reshape(shape)


def relogged_copy(adata, to: dict, where: str):
    """A copy of ``adata`` (its log state recorded) with its values on record ``to``'s scale (:func:`relogged`),
    its log state and a ``rebase_log`` step recorded; the caller's object is not changed."""
    st = log_state(adata)
    assert st is not None
    b2, c2 = relogged_scale(st, to)
    assert c2 is not None
    X = adata.X
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    out = adata.copy()
    out.X = relogged(X, st, to, where=where, dtype=np.result_type(X.dtype, np.float32))
    set_log_state(out, logged=True, transform=log1p_name(b2, c2), pseudocount=c2, base=b2)
    record(out, "rebase_log", base=b2, pseudocount=c2, converted_from=str(st.get("transform")))
    return out


def unknown_pseudocount_note(a_name: str, a: dict | None, b_name: str, b: dict | None) -> str | None:
    """A line where of two recorded log scales one names its pseudocount and the other does not (NaN): their values
    are taken as they are, not guessed at, and the line says what that risks; ``None`` otherwise."""
    if not (a and a.get("logged") and b and b.get("logged")):
        return None
    ca, cb = log_pseudocount(a), log_pseudocount(b)
    if (ca is None) == (cb is None):
        return None
    (un, ust), (kn, kst) = ((a_name, a), (b_name, b)) if ca is None else ((b_name, b), (a_name, a))
    return (f"{un}'s {ust.get('transform')} records no pseudocount beside {kn}'s {kst.get('transform')}: taken as "
            "they are; if its values are log(x + c) of another c, every lowly expressed gene reads shifted "
            f"(log2(0 + 0.001) = -9.97, log2(0 + 1) = 0): {TWO_LOG_SCALES}")


def log1p_name(base: float, pseudocount: float = 1.0) -> str:
    """``log_base(x + pseudocount)`` as rnagen's records write it: ``log2(x+1)``, ``ln(x+1)``, ``log10(x+1)``."""
    name = "ln" if math.isclose(base, math.e) else f"log{base:g}" if float(base).is_integer() else f"log_{base:g}"
    return f"{name}(x+{pseudocount:g})"


def _recorded_base(value: Any) -> Any:
    """The ``base`` entry of a ``uns["log1p"]`` dict as a Python value (a one-element array or an HDF5 byte string
    unwrapped; ``"None"``, as h5ad stores ``None``, read as ``None``); ``"<no dict>"`` where ``value`` is no dict."""
    if not isinstance(value, dict):
        return "<no dict>"
    b = value.get("base")
    if isinstance(b, np.ndarray) and b.size == 1:   # a one-element array (a file another writer made)
        b = b.item()
    if isinstance(b, bytes):   # a fixed-length HDF5 string read as bytes
        b = b.decode("latin-1")
    return None if isinstance(b, str) and b == "None" else b


def _is_number(b: Any) -> bool:
    return isinstance(b, (int, float, np.number)) and not isinstance(b, (bool, np.bool_))


def scanpy_log1p_base(value: Any) -> float | None:
    """The base of scanpy's ``uns["log1p"]`` record (``{"base": None}``: natural log, as ``sc.pp.log1p`` writes
    it by default; ``{"base": b}``: ``log_b``); ``None`` for a record of another form (not scanpy's) or a number
    that is no base of ``log_b(x + 1)`` of expression: a base is finite and above 1 (at 1 or below 0 no
    logarithm exists, and one between 0 and 1 turns the order of the values round, every count's log at or below
    0), as :func:`log_base` requires of every recorded state."""
    b = _recorded_base(value)
    if b is None:
        return math.e
    if _is_number(b) and math.isfinite(b) and b > 1:
        return float(b)
    return None


def sync_scanpy_log1p(adata) -> None:
    """Keep scanpy's ``adata.uns["log1p"]`` in step with the recorded log state: set where the state is
    ``log_b(x + 1)`` of a known base ``b`` (``{"base": None}`` for the natural log, as scanpy writes it), removed
    where the state is linear or another log of a known base (``log2(TPM+0.001)``); a log scale of unknown base
    leaves it as it is. scanpy reads the key to tell whether ``X`` was logged, so a file rnagen writes must neither
    lack it on ``log1p`` values nor keep a stale one on values it changed."""
    st = log_state(adata)
    if st is None:
        return
    b = log_base(st)
    as_actual(adata)
    if b is not None and st.get("pseudocount") == 1.0:
        adata.uns["log1p"] = {"base": None} if math.isclose(b, math.e) else {"base": b}
    elif not st.get("logged") or b is not None:
        adata.uns.pop("log1p", None)


def adopt_scanpy_log1p(adata, source: str) -> None:
    """Take scanpy's record that ``X`` was logged (``uns["log1p"]``, written by ``sc.pp.log1p``) as the log state
    where rnagen has none: ``X`` is ``log_b(x + 1)``, ``b`` the record's base (``None``: the natural log).

    The values are checked against it first: ``log_b(x + 1)`` of expression is never below 0, never whole counts
    and never above the log range. A record the values contradict (``X`` replaced by the counts after the log, or
    scaled after it: ``sc.pp.scale``) is removed, with a one-line warning naming what was seen, and the values'
    scale is decided by :func:`looks_logged` as for any file without a record.
    """
    import warnings

    if "log1p" not in adata.uns or log_state(adata) is not None:
        return
    b = scanpy_log1p_base(adata.uns["log1p"])
    seen = None
    if b is None and _is_number(given := _recorded_base(adata.uns["log1p"])):
        seen = (f"its base {float(given):g} is no base of log_b(x+1) of expression (a finite number above 1; "
                "scanpy writes {'base': None} for the natural log)")
    elif b is None:
        seen = (f"its form is not scanpy's ({_shown_value(adata.uns['log1p'])}; scanpy writes {{'base': None}} or a "
                "logarithm's base, a number above 1)")
    else:
        X = adata.X
        X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        n, lo, hi, whole = _finite_summary(X)
        if n and lo < 0:
            seen = (f"values go down to {lo:.4g}, and log(x+1) of expression is never below 0 (scaled or centred "
                    "after the log, as sc.pp.scale leaves them?)")
        elif n and whole and hi >= 2:
            seen = (f"the values are whole numbers up to {hi:.6g}, counts (X replaced by the counts after the log, "
                    "adata.X = adata.layers['counts']?)")
        elif n and hi > LOG_RANGE[1]:
            seen = f"values reach {hi:.6g}, above any log value (X replaced after the log?)"
    if seen is None:
        assert b is not None
        set_log_state(adata, logged=True, transform=f"{log1p_name(b)} (scanpy's sc.pp.log1p, uns['log1p'])",
                      pseudocount=1.0, base=b)
        return
    adata.uns.pop("log1p")
    warnings.warn(f"{source}: uns['log1p'] says X was log-transformed (scanpy's sc.pp.log1p) but {seen}: the record "
                  "is set aside and the values' range decides the scale; delete uns['log1p'] from the file if it is "
                  "stale", UserWarning, stacklevel=3)


def with_scanpy_log1p(adata, source: str):
    """``adata`` with scanpy's record of its log (``uns["log1p"]``) taken as its log state
    (:func:`adopt_scanpy_log1p`), as a file read from disk is, without changing the caller's object: ``adata``
    itself where there is nothing to adopt (no ``uns["log1p"]``, or a log state recorded already), else a new
    AnnData sharing its ``X`` (a view: a copy of it), with its sample and gene tables and an ``uns`` of its own (its
    ``rnagen`` dict copied, which the adopted state is written into); other matrices (``layers``, ``obsm``) are not
    carried."""
    if not hasattr(adata, "uns") or "log1p" not in adata.uns or log_state(adata) is not None:
        return adata
    import anndata as ad

    if getattr(adata, "is_view", False):   # a view's X is its parent's: a copy of the part is the caller's own
        out = adata.copy()
    else:
        uns = dict(adata.uns)
        if isinstance(uns.get("rnagen"), dict):
            uns["rnagen"] = dict(uns["rnagen"])
        out = ad.AnnData(X=adata.X, obs=adata.obs, var=adata.var, uns=uns)
    adopt_scanpy_log1p(out, source)
    return out


def _shown_value(v: Any) -> str:
    """``v`` in a message: its repr, cut to 60 characters."""
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


#: the log-scale range: log2 expression stays below 30 (2**30 ~ 10^9), down to log2(0.001) ~ -9.97
LOG_RANGE = (-10.5, 30.0)
#: at most this share of values above the range among values otherwise within it: not a linear scale but
#: outlying cells or non-expression columns (an age), which the log test must not follow
AMBIGUOUS_SHARE = 0.01


def looks_logged(X, *, names: tuple[Any, Any] | None = None, strict: bool = True) -> bool:
    """Heuristic: do these values look log-transformed already?

    Raw counts, TPM or RSEM values reach into the thousands; log2 values of expression stay below ~25
    (2**25 = 33 million). Values down to log2(0.001) ~ -9.97 (UCSC Xena's log2(TPM + 0.001)) also count as
    logged. Centred or z-scored data (large negative values) are not called logged; they simply should not
    be log-transformed again, which the log transform itself refuses. Whole numbers (read counts, however
    low) are not logged.

    A few values above the range among values otherwise within it (at most :data:`AMBIGUOUS_SHARE`, or all in at
    most 3 of more than 10 columns, or in at most 3 of more than 10 samples: a profile left on the linear scale, or
    an outlier a thousandfold the others) leave the scale undecided: a test on the maximum alone would log data whose
    scale a single outlying cell or a numeric annotation column (an age) broke. With ``strict`` that is a
    :class:`DataError` naming them (and where they are, given ``names``: the row and column labels of ``X``)
    and the way to state the scale; without, such values read as linear.
    """
    X = np.asarray(X)
    if X.size == 0:
        return False
    n, lo, hi, whole = _finite_summary(X)
    if n == 0:
        return False
    if lo >= 0 and hi >= 2 and whole:
        return False   # whole numbers: counts
    if hi <= LOG_RANGE[1] and lo >= LOG_RANGE[0]:
        return True
    if strict and lo >= LOG_RANGE[0]:
        over = sum(int((B[np.isfinite(B)] > LOG_RANGE[1]).sum()) for B in _row_blocks(X))
        if over / n <= AMBIGUOUS_SHARE or _in_few_columns(X) or _in_few_rows(X):
            raise DataError(_ambiguous_scale(X, over, over / n, hi, names))
    return False


#: values a whole-matrix step holds at once (the scale test, the depth normalisation and the log): a few blocks of
#: this size beside the matrix, never a copy of all of it (a full transcriptome of thousands of profiles is
#: gigabytes, in float64 twice that)
_BLOCK_VALUES = 1 << 22


def row_spans(X: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of blocks of whole rows of ``X`` of at most about :data:`_BLOCK_VALUES` values."""
    rows = max(1, _BLOCK_VALUES // max(int(np.prod(X.shape[1:])), 1))
    return [(a, min(a + rows, X.shape[0])) for a in range(0, X.shape[0], rows)]


def column_spans(X: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of blocks of whole columns of a 2-D ``X`` of about :data:`_BLOCK_VALUES` values, none of a
    single column unless ``X`` has one. A per-column mean or variance of such a block is the whole matrix's to the
    last bit: NumPy sums the columns of a row-major block of two columns or more row after row, as it sums the whole
    matrix's, and those of a column-major one along each column, as it does the whole's (a lone column of a
    row-major matrix would be summed the second way)."""
    cols = max(2, _BLOCK_VALUES // max(int(X.shape[0]), 1))
    spans = [(a, min(a + cols, X.shape[1])) for a in range(0, X.shape[1], cols)]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] == 1:
        spans[-2:] = [(spans[-2][0], spans[-1][1])]
    return spans


def _row_blocks(X: np.ndarray):
    """``X`` (any shape) as blocks of whole rows (:func:`row_spans`)."""
    if X.ndim < 2:
        X = X.reshape(-1, 1) if X.ndim == 1 else X.reshape(1, 1)
    for a, b in row_spans(X):
        yield X[a:b]


def _finite_summary(X: np.ndarray) -> tuple[int, float, float, bool]:
    """The number of finite values of ``X``, their minimum and maximum, and whether all are whole numbers, read
    block by block (:func:`_row_blocks`)."""
    n, lo, hi, whole = 0, np.inf, -np.inf, True
    for B in _row_blocks(X):
        f = B[np.isfinite(B)]
        if not f.size:
            continue
        n += int(f.size)
        lo, hi = min(lo, float(f.min())), max(hi, float(f.max()))
        whole = whole and bool(np.all(f == np.round(f)))
    return n, float(lo), float(hi), whole


def looks_standardised(X) -> bool:
    """Whether most genes have mean 0 and standard deviation 1 (values standardised per gene, as scanpy.pp.scale
    and many published matrices leave them): z-scores, not expression values."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 3:
        return False
    # each gene's mean and sd over its values that are not NaN (as np.nanmean / np.nanstd), in two passes over
    # float64 blocks of rows (:func:`row_spans`): never a float64 copy of the whole matrix
    n, total = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for B in _row_blocks(X):
        B = np.asarray(B, np.float64)
        seen = ~np.isnan(B)
        n += seen.sum(axis=0)
        total += np.where(seen, B, 0.0).sum(axis=0)
    with np.errstate(all="ignore"):   # a gene with no value: its NaN mean and sd are read below
        mean = total / n
        squares = np.zeros(X.shape[1])
        for B in _row_blocks(X):
            d = np.asarray(B, np.float64) - mean
            squares += np.where(np.isnan(B), 0.0, d * d).sum(axis=0)
        sd = np.sqrt(squares / n)
    varied = np.isfinite(sd) & (sd > 0)
    if varied.mean() < 0.9:
        return False
    # 0.1: a subset of a scaled matrix (the cells scaled together, some of them kept) is off by a few hundredths
    return bool(np.median(np.abs(mean[varied])) < 0.1 and np.median(np.abs(sd[varied] - 1.0)) < 0.1)


def below_one_note(lo: float, hi: float) -> str | None:
    """What to say of values that :func:`looks_logged` takes as log scale though all lie in [0, 1): log2(x+1) below
    1 everywhere means no gene reached one count or TPM in any profile, so such values are more likely linear
    shares (a fraction of each profile's reads), which the rule leaves as they are; ``None`` for other ranges."""
    if not (0 <= lo and hi < 1):
        return None
    return (f"every value lies between 0 and 1 (the largest {hi:.3g}), which no log-scale expression matrix does: "
            "taken as they are, not logged; if they are linear shares of each profile's reads, scale and log them: "
            "rnagen data prepare --normalize cpm --log log2p1")


def _columns_above(X: np.ndarray) -> np.ndarray:
    """The columns of a 2-D ``X`` holding finite values above the log range."""
    hit = np.zeros(X.shape[1], dtype=bool)
    with np.errstate(invalid="ignore"):
        for B in _row_blocks(X):
            hit |= (np.isfinite(B) & (B > LOG_RANGE[1])).any(axis=0)
    return np.flatnonzero(hit)


def _in_few_columns(X: np.ndarray) -> bool:
    """The values above the log range all in at most 3 of more than 10 columns (features): numeric annotation
    columns (an age) in a table of log values, whatever their share."""
    return X.ndim == 2 and X.shape[1] > 10 and 0 < len(_columns_above(X)) <= 3


def _in_few_rows(X: np.ndarray) -> bool:
    """The values above the log range all in at most 3 of more than 10 rows (samples): log values beside a profile
    or two on another scale (not logged, or scaled a thousandfold), which a linear matrix, whose highly expressed
    genes pass the range in nearly every sample, does not show."""
    if X.ndim != 2 or X.shape[0] <= 10:
        return False
    with np.errstate(invalid="ignore"):
        n = sum(int((np.isfinite(B) & (B > LOG_RANGE[1])).any(axis=1).sum()) for B in _row_blocks(X))
    return 0 < n <= 3


def _ambiguous_scale(X: np.ndarray, n: int, share: float, hi: float, names: tuple[Any, Any] | None) -> str:
    """The one-line error of :func:`looks_logged` for values whose scale a few outlying ones leave open."""
    where = ""
    if names is not None and X.ndim == 2 and (len(names[0]), len(names[1])) == X.shape:
        rows, cols = names
        hit = _columns_above(X)
        i, j = np.unravel_index(int(np.argmax(np.where(np.isfinite(X), X, -np.inf))), X.shape)
        with np.errstate(invalid="ignore"):
            above = np.flatnonzero((np.isfinite(X) & (X > LOG_RANGE[1])).any(axis=1))
        if X.shape[1] > 10 and 0 < len(hit) <= 3:
            shown = ", ".join(repr(str(cols[k])) for k in hit)
            where = (f"; all in {shown}: if {'that is' if len(hit) == 1 else 'those are'} not expression (an age, a "
                     "batch, a sample annotation), remove it from the matrix")
        elif _in_few_rows(X):
            shown = ", ".join(repr(str(rows[k])) for k in above)
            one = len(above) == 1
            where = (f"; all in sample{'' if one else 's'} {shown}: a profile on another scale than the others (not "
                     f"logged as they are, or far outlying)? remove {'it' if one else 'them'} or put "
                     f"{'it' if one else 'them'} on the others' scale")
        else:
            where = f", the largest at sample {str(rows[i])!r}, feature {str(cols[j])!r}"
    return (f"the values look log-scale but {n} of them ({share:.2%}) lie above {LOG_RANGE[1]:g}, where no log "
            f"expression does (max {hi:.4g}){where}; state the scale: rnagen data prepare --log none --scale log "
            "(log values) or --log log2p1 (linear values), then use the prepared file (a model: --set "
            "preprocess.log=none or log2p1)")


def check_summable(X, source: str) -> None:
    """``--duplicates sum`` adds counts or TPM; log-scale or centred values are refused (their sum means
    nothing)."""
    X = np.asarray(X)
    finite = X[np.isfinite(X)]
    if finite.size and (float(finite.min()) < 0 or looks_logged(finite)):
        raise DataError(f"{source}: --duplicates sum adds counts or TPM, and these values look log-scaled or centred "
                        "(all within [-10.5, 30] or negative); use --duplicates mean")


# ------------------------------------------------------------------------- the record in a table's metadata

#: the key of a parquet file's schema metadata (Arrow key-value metadata, kept in the file footer) that holds
#: rnagen's record of the profiles (``uns["rnagen"]`` as JSON: :func:`table_record`, :func:`adopt_table_record`)
TABLE_RECORD_KEY = b"rnagen"

#: the record's entries rnagen reads, each with the type it must have
_RECORD_ENTRIES = {"log": dict, "history": dict, "synthetic": dict, "privacy": dict, "genes": dict,
                   "label_key": str}


def _jsonable(v: Any) -> Any:
    """``v`` (an entry of ``uns["rnagen"]``: dicts of scalars, strings, lists and arrays) in JSON's types: arrays
    and tuples as lists, NumPy scalars as Python's, ``None`` as ``"None"`` (as h5ad stores it, :func:`_plain`), a
    float that is not finite as ``null`` (JSON has no NaN; :func:`_from_json` reads it back as NaN)."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return _jsonable(v.item())
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if v is None:
        return "None"
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _from_json(v: Any) -> Any:
    """A JSON value of :func:`_jsonable` as an h5ad read gives the entry: ``null`` as NaN, a list of strings or of
    numbers as an array (h5ad stores lists as arrays)."""
    if isinstance(v, dict):
        return {k: _from_json(x) for k, x in v.items()}
    if v is None:
        return float("nan")
    if isinstance(v, list):
        items = [_from_json(x) for x in v]
        if all(isinstance(x, str) for x in items):
            return np.asarray(items, dtype=object)
        if all(isinstance(x, (bool, int, float)) for x in items):
            return np.asarray(items)
        return items
    return v


def table_record(adata) -> bytes | None:
    """``adata``'s record (``uns["rnagen"]``: its log state, history, the synthetic set's model and seed, the
    privacy record) as UTF-8 JSON, to be kept in a table file's metadata under :data:`TABLE_RECORD_KEY`; ``None``
    where there is none."""
    import json

    rec = adata.uns.get("rnagen") if hasattr(adata, "uns") else None
    if not isinstance(rec, dict) or not rec:
        return None
    return json.dumps(_jsonable(rec), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _record_problem(rec: Any) -> str | None:
    """What makes ``rec`` (a record read from a table's metadata) no record of rnagen's, ``None`` where its
    entries have the form rnagen writes: the log state (:func:`set_log_state`) with its ``logged`` flag, its
    transform, its pseudocount a number and its base a logarithm's (:func:`log_base`); the history a mapping of
    steps, each naming its ``step``."""
    if not isinstance(rec, dict):
        return f"is {type(rec).__name__}, not a mapping of entries"
    for key, kind in _RECORD_ENTRIES.items():
        if key in rec and not isinstance(rec[key], kind):
            return f"has a {key!r} entry that is no {'mapping' if kind is dict else 'text'} ({_shown_value(rec[key])})"
    st = rec.get("log")
    if st is not None:
        if not isinstance(st.get("logged"), bool) or not isinstance(st.get("transform"), str):
            return f"has a log state without its logged flag or transform ({_shown_value(st)})"
        pc = st.get("pseudocount")
        if pc is not None and not _is_number(pc):
            return f"has a log pseudocount that is no number ({_shown_value(pc)})"
        b = st.get("base")
        if b is not None and not (_is_number(b) and math.isfinite(b) and b > 1):
            return f"has a log base that is no logarithm's base, a finite number above 1 ({_shown_value(b)})"
    for key, step in (rec.get("history") or {}).items():
        if not isinstance(step, dict) or not isinstance(step.get("step"), str):
            return f"has a history step {key!r} that does not name its step ({_shown_value(step)})"
    return None


def parse_table_record(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """rnagen's record kept in a table file's metadata (``raw``: the JSON :func:`table_record` wrote) as an h5ad
    read gives ``uns["rnagen"]``, and ``None``; or ``None`` and what makes it no record of rnagen's: not JSON,
    nested deeper than the interpreter's recursion limit, or entries without the form rnagen writes
    (:func:`_record_problem`)."""
    import json

    try:
        rec = json.loads(raw.decode("utf-8"))
        value = _from_json(rec)
    except (UnicodeDecodeError, ValueError) as e:
        return None, f"is not JSON ({type(e).__name__})"
    except RecursionError:   # lists or mappings nested deeper than the interpreter's recursion limit
        return None, "is nested deeper than any record of rnagen's"
    problem = _record_problem(rec)
    return (None, problem) if problem is not None else (value, None)


def adopt_table_record(adata, raw: bytes | None, source: str) -> None:
    """Take rnagen's record kept in a table file's metadata (``raw``: the JSON :func:`table_record` wrote) as
    ``adata.uns["rnagen"]``, as an .h5ad's is read: its log state, history (the depth normalisation), the synthetic
    set's model and seed. The file may have been edited or rewritten by another tool that kept the metadata, so
    the record is checked first: one that is not JSON, whose entries lack the form rnagen writes
    (:func:`_record_problem`), or whose log state the values contradict (recorded as logged, values that no log of
    expression reaches: :func:`rnagen.pp.prepare.check_log_record`) is set aside whole, with a one-line warning,
    and the values' range decides the scale as for any table without a record."""
    import warnings

    from ..errors import DataError

    if raw is None:
        return
    value, problem = parse_table_record(raw)
    if value is not None and value.get("log", {}).get("logged"):
        from .prepare import check_log_record

        try:
            check_log_record(adata.X)
        except DataError:
            _, _, hi, _ = _finite_summary(np.asarray(adata.X))
            problem = f"says log scale, but the values reach {hi:.4g}, which no log-scale expression value does"
    if problem is not None:
        warnings.warn(f"{source}: rnagen's record in the file's metadata (key {TABLE_RECORD_KEY.decode()!r}) "
                      f"{problem}: the record is set aside and the values' range decides the scale; write the file "
                      "again with rnagen, or remove the key", UserWarning, stacklevel=3)
        return
    as_actual(adata)
    adata.uns["rnagen"] = value
    sync_scanpy_log1p(adata)
