"""What the array-level indicator functions check of their inputs before any work: 2-D sets of finite values,
as many genes in each, enough profiles. A bad input is a :class:`rnagen.errors.DataError` naming it, not an
error from deep inside a distance pass or a linear-algebra routine."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import DataError


def check_sets(arrays: Sequence, names: Sequence[str], *, min_rows: int = 1, why: str = "") -> list[np.ndarray]:
    """``arrays`` as float arrays of one gene count, each 2-D, finite and of at least ``min_rows`` profiles
    (``why`` says what needs that many); the arrays themselves where they are tensors already."""
    out = []
    for a, name in zip(arrays, names):
        x = a if hasattr(a, "detach") else np.asarray(a, dtype=np.float64)
        shape = tuple(x.shape)
        if len(shape) != 2:
            raise DataError(f"{name}: expected a 2-D profiles x genes array, got shape {shape}")
        if shape[0] < min_rows:
            raise DataError(f"{name} has {shape[0]} profile(s); {why or 'this indicator'} needs at least {min_rows}")
        finite = bool(x.isfinite().all()) if hasattr(x, "isfinite") else bool(np.isfinite(x).all())
        if not finite:
            raise DataError(f"{name} holds NaN or infinite values; every indicator needs finite values")
        out.append(x)
    cols = {name: int(x.shape[1]) for x, name in zip(out, names)}
    if len(set(cols.values())) > 1:
        shown = ", ".join(f"{n} {c}" for n, c in cols.items())
        raise DataError(f"the sets have different numbers of genes ({shown}); give them the same genes")
    return out


def check_k(k, n_smallest: int) -> int:
    """``k`` of a k-NN indicator: an integer from 1 to one less than the smallest set."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"k must be an integer >= 1, got {k!r}")
    if k >= n_smallest:
        raise DataError(f"k={k} needs more than {k} profiles in every set (the smallest has {n_smallest}); lower k")
    return int(k)
