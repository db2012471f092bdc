"""What the indicator functions check of their inputs before any work: 2-D sets of finite numbers, as many genes in
each, enough profiles and genes, one present label per profile. A bad input is a :class:`rnagen.errors.DataError`
naming the function, the set and the fix, not an error from deep inside a distance pass, a linear-algebra routine
or a classifier, nor a NaN or a number that reads as a result. :func:`rnagen.metrics.evaluate` reads its sets
through the same checks.

The checks copy nothing that is already an array of numbers: :func:`check_sets` returns the arrays as given
(tensors stay tensors), and the functions convert them as they did before, so a valid input scores the same.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError


def subject(func: str, name: str) -> str:
    """``name`` prefixed with the function that reads it (``"prdc: fake"``)."""
    return f"{func}: {name}" if func else name


def as_matrix(a: Any, what: str) -> Any:
    """``a`` as a 2-D array of numbers: the array itself where it is one (a tensor stays a tensor), a list of rows
    as NumPy reads it, an array of other values (objects) converted to float64."""
    if hasattr(a, "detach"):
        x = a
    else:
        try:
            x = np.asarray(a)
            if x.dtype.kind not in "biuf":
                x = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError):   # rows of unequal length, text
            raise DataError(f"{what} is no profiles x genes array of numbers ({type(a).__name__}); give a 2-D "
                            "array of numbers") from None
    if x.ndim != 2:
        raise DataError(f"{what}: expected a 2-D profiles x genes array, got shape {tuple(x.shape)}; give one row "
                        "per profile (a single profile as x.reshape(1, -1))")
    return x


def check_finite(x: Any, what: str) -> None:
    """Refuse NaN and infinite values in ``x`` (an array or a tensor), counting them and naming the first; one
    pass over the values where there are none, integer arrays none at all."""
    if hasattr(x, "detach"):
        if bool(x.isfinite().all()):
            return
        x = x.detach().cpu().numpy()
    elif x.dtype.kind in "biu" or bool(np.isfinite(x).all()):
        return
    n_nan, n_inf = int(np.isnan(x).sum()), int(np.isinf(x).sum())
    first = np.argwhere(~np.isfinite(x))[0]
    at = f"profile {int(first[0])}, gene {int(first[1])}" if len(first) == 2 else f"position {first.tolist()}"
    fixes = (([f"fill in or drop the {n_nan} missing (NaN) values (rnagen data prepare --missing impute|drop)"]
              if n_nan else [])
             + ([f"replace the {n_inf} infinite values (a -inf is often the log of 0: take log2(x + 1))"]
                if n_inf else []))
    raise DataError(f"{what}: {n_nan + n_inf} NaN or infinite values (first at {at}); every indicator needs "
                    f"finite values: {' and '.join(fixes)}")


def _per_set(value: Any, n: int) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


def check_sets(arrays: Sequence, names: Sequence[str], *, func: str = "", min_rows: int | Sequence[int] = 1,
               why: str | Sequence[str] = "", min_genes: int = 1, genes_why: str = "") -> list[Any]:
    """``arrays`` checked as sets of one gene count, each 2-D, finite and of at least ``min_rows`` profiles (one
    value, or one per set; ``why`` says what needs that many) and ``min_genes`` genes (``genes_why`` says what
    needs them); ``func`` names the caller in the messages. Returns the arrays as :func:`as_matrix` reads them:
    arrays of numbers as given (no copy)."""
    rows, whys = _per_set(min_rows, len(names)), _per_set(why, len(names))
    out = []
    for a, name, least, need in zip(arrays, names, rows, whys):
        x = as_matrix(a, subject(func, name))
        if int(x.shape[0]) < least:
            raise DataError(f"{subject(func, name)} has {int(x.shape[0])} profile(s); {need or 'this indicator'} "
                            f"needs at least {least}: give more profiles")
        check_finite(x, subject(func, name))
        out.append(x)
    cols = {name: int(x.shape[1]) for x, name in zip(out, names)}
    if len(set(cols.values())) > 1:
        shown = ", ".join(f"{n} {c}" for n, c in cols.items())
        raise DataError(f"{subject(func, 'the sets')} have different numbers of genes ({shown}); give them the "
                        "same genes")
    g = next(iter(cols.values()), min_genes)
    if g < min_genes:
        sets = f"{names[0]} has" if len(names) == 1 else "the sets have"
        raise DataError(f"{subject(func, sets)} {g} gene(s); {genes_why or 'this indicator'} needs at "
                        f"least {min_genes}: give profiles with more genes")
    return out


def check_labels(values: Any, what: str, n: int | None = None) -> np.ndarray:
    """``values`` as a flat object array of labels: none missing (NaN, None, empty or an NA token: scored as a class
    named 'nan' otherwise) and, given ``n``, one per profile."""
    from ..data.io import missing_labels

    arr = np.asarray(values, dtype=object).ravel()
    miss = missing_labels(arr)
    if miss.any():
        raise DataError(f"{what}: {int(miss.sum())} profile(s) without a label (first at position "
                        f"{int(np.flatnonzero(miss)[0])}); label every profile or leave them out")
    if n is not None:
        check_label_count(arr, n, what)
    return arr


def check_label_count(labels: Any, n: int, what: str) -> None:
    """One label per profile of a set of ``n``."""
    if len(labels) != n:
        raise DataError(f"{what}: {len(labels)} labels for {n} profiles; give one label per profile")


def check_k(k, n_smallest: int, *, func: str = "") -> int:
    """``k`` of a k-NN indicator: an integer from 1 to one less than the smallest set."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"{subject(func, 'k')} must be an integer >= 1, got {k!r}")
    if k >= n_smallest:
        raise DataError(f"{subject(func, f'k={k}')} needs more than {k} profiles in every set (the smallest has "
                        f"{n_smallest}); lower k")
    return int(k)
