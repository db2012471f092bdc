"""Explicit, stored, invertible per-gene transforms.

A :class:`Pipeline` is a list of transforms fitted on training data only. It is saved as a small JSON-able
description plus NumPy arrays (no pickles), and inverted to bring generated values back to the data's
original units. Every model stores the pipeline it was trained with in its run folder.

Transforms
----------
``log2p1``   y = log2(x + c) (c = 1 by default); inverse x = max(2**y - c, 0) (expression is non-negative)
``standard`` y = (x - mean) / std per gene (std of a constant gene taken as 1)
``maxabs``   y = x / max|x| per gene (the released rna-diffusion code's scaler)
``minmax``   y = a + (b - a)(x - min)/(max - min) per gene
``identity`` nothing (keeps a pipeline spec explicit when the data are already on the right scale)
``nonnegative`` y = x; inverse x = max(y, 0): the data's support is [0, inf) (expression already on a log2(x+1)
             or TPM scale), so generated values below 0 are brought to its edge
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError, DataError

__all__ = [
    "Transform",
    "Log2p1",
    "StandardScaler",
    "MaxAbsScaler",
    "MinMaxScaler",
    "Identity",
    "NonNegative",
    "Floor",
    "Pipeline",
    "make_pipeline",
    "TRANSFORMS",
]


def _as2d(X: Any) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise DataError(f"expected a 2-D samples x genes matrix, got shape {X.shape}")
    return X


class Transform:
    """Base class: ``fit`` on training data, ``transform`` forward, ``inverse_transform`` back."""

    kind: ClassVar[str] = ""
    _arrays: ClassVar[tuple[str, ...]] = ()

    def fit(self, X: np.ndarray) -> "Transform":
        """Learn the per-gene parameters from training data ``X`` (samples x genes); returns ``self``."""
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Map ``X`` from data units to model units."""
        raise NotImplementedError

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """Map ``X`` from model units back to data units (the inverse of :meth:`transform`)."""
        raise NotImplementedError

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """:meth:`fit` on ``X``, then :meth:`transform` it."""
        return self.fit(X).transform(X)

    # --- state ---------------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Scalar parameters (JSON-able)."""
        return {}

    def get_arrays(self) -> dict[str, np.ndarray]:
        """Fitted per-gene arrays."""
        return {name: np.asarray(self._fitted(name)) for name in self._arrays}

    def _fitted(self, name: str) -> np.ndarray:
        """The fitted per-gene array ``name``; a transform used before ``fit`` is refused by name."""
        value = getattr(self, name, None)
        if value is None:
            raise DataError(f"transform {self.kind!r} is not fitted")
        return value

    def set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Restore the fitted per-gene arrays (as returned by :meth:`get_arrays`), as float64."""
        for name in self._arrays:
            setattr(self, name, np.asarray(arrays[name], dtype=np.float64))

    def subset(self, idx: np.ndarray) -> "Transform":
        """The same transform restricted to the genes ``idx`` (per-gene arrays are indexed)."""
        new = type(self)(**self.get_params())
        if self._arrays:
            new.set_arrays({k: v[idx] for k, v in self.get_arrays().items()})
        return new

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


class Identity(Transform):
    """No change; keeps a pipeline spec explicit when the data are already on the right scale."""

    kind = "identity"

    def transform(self, X: np.ndarray) -> np.ndarray:
        """A float64 copy of ``X``."""
        return _as2d(X).copy()

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """A float64 copy of ``X``."""
        return _as2d(X).copy()


class NonNegative(Transform):
    """The identity on data whose support is [0, inf); its inverse clips at 0. A model of such data (e.g.
    log2(x+1) values prepared upstream, where 0 is the most frequent value of many genes) places part of its
    probability below 0, which no profile can have: clipping maps it to the support's edge, the point mass at
    zero the data have."""

    kind = "nonnegative"

    def transform(self, X: np.ndarray) -> np.ndarray:
        """A float64 copy of ``X``."""
        return _as2d(X).copy()

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """``X`` with values below 0 set to 0 (float64)."""
        return np.maximum(_as2d(X), 0.0)


class Floor(Transform):
    """The identity on data bounded below by a floor other than 0: log2(x + c) data whose unexpressed values all
    sit at log2(c) (UCSC Xena's log2(TPM + 0.001): -9.966), or values raised to a detection limit (microarray
    intensities floored at 10 before the log). Its inverse clips at the floor, the point mass there, as
    :class:`NonNegative` does at 0."""

    kind = "floor"

    def __init__(self, floor: float = 0.0):
        if not np.isfinite(floor):
            raise ConfigError(f"floor must be a finite number, got {floor}")
        self.floor = float(floor)

    def get_params(self) -> dict[str, Any]:
        """``{"floor": value}``."""
        return {"floor": self.floor}

    def transform(self, X: np.ndarray) -> np.ndarray:
        """A float64 copy of ``X``."""
        return _as2d(X).copy()

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """``X`` with values below the floor set to it (float64)."""
        return np.maximum(_as2d(X), self.floor)


class Log2p1(Transform):
    """``log2(x + pseudocount)``; the inverse clips at 0 because expression is non-negative."""

    kind = "log2p1"

    def __init__(self, pseudocount: float = 1.0):
        if pseudocount <= 0:
            raise ConfigError(f"log pseudocount must be > 0, got {pseudocount}")
        self.pseudocount = float(pseudocount)

    def get_params(self) -> dict[str, Any]:
        """``{"pseudocount": c}``."""
        return {"pseudocount": self.pseudocount}

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``log2(x + c)``; negative input is refused because it means the data are already logged or centred."""
        X = _as2d(X)
        self.check_nonnegative(X)
        return np.log2(X + self.pseudocount)

    @staticmethod
    def check_nonnegative(X: np.ndarray) -> None:
        """Refuse ``X`` with values below 0 (read a block of rows at a time), which mean the data are already
        logged or centred."""
        from .history import row_spans

        Log2p1.refuse_negative(sum(int(np.count_nonzero(X[a:b] < 0)) for a, b in row_spans(X)))

    @staticmethod
    def refuse_negative(n: int) -> None:
        """Refuse ``n`` values below 0 (none: nothing to refuse)."""
        if n:
            raise DataError(
                f"log transform got {n} negative values; the data look already log-transformed or centred "
                "(prepare with --log none, or give raw non-negative counts/TPM)"
            )

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """``max(2**y - c, 0)``: generated values below the pseudocount map to zero expression."""
        return np.maximum(np.exp2(_as2d(X)) - self.pseudocount, 0.0)


class StandardScaler(Transform):
    """Per-gene z-score; a constant gene (std 0) gets std 1 so it maps to 0 and back unchanged."""

    kind = "standard"
    _arrays = ("mean", "std")

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> "StandardScaler":
        """Learn each gene's mean and standard deviation from ``X``."""
        X = _as2d(X)
        self.mean = X.mean(axis=0)
        std = X.std(axis=0)
        self.std = np.where(std > 1e-12, std, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``(x - mean) / std`` per gene."""
        return (_as2d(X) - self._fitted("mean")) / self._fitted("std")

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """``y * std + mean`` per gene."""
        return _as2d(X) * self._fitted("std") + self._fitted("mean")


class MaxAbsScaler(Transform):
    """Per-gene division by the maximum absolute training value (scikit-learn's ``MaxAbsScaler``)."""

    kind = "maxabs"
    _arrays = ("scale",)

    def __init__(self) -> None:
        self.scale: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> "MaxAbsScaler":
        """Learn each gene's maximum absolute value (1 for an all-zero gene)."""
        m = np.abs(_as2d(X)).max(axis=0)
        self.scale = np.where(m > 0, m, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``x / max|x|`` per gene."""
        return _as2d(X) / self._fitted("scale")

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """``y * max|x|`` per gene."""
        return _as2d(X) * self._fitted("scale")


class MinMaxScaler(Transform):
    """Per-gene affine map of the training range onto ``[low, high]`` (default [-1, 1])."""

    kind = "minmax"
    _arrays = ("data_min", "data_range")

    def __init__(self, low: float = -1.0, high: float = 1.0):
        if not high > low:
            raise ConfigError(f"minmax range must have high > low, got [{low}, {high}]")
        self.low, self.high = float(low), float(high)
        self.data_min: np.ndarray | None = None
        self.data_range: np.ndarray | None = None

    def get_params(self) -> dict[str, Any]:
        """``{"low": a, "high": b}``, the target range."""
        return {"low": self.low, "high": self.high}

    def fit(self, X: np.ndarray) -> "MinMaxScaler":
        """Learn each gene's training minimum and range (1 for a constant gene)."""
        X = _as2d(X)
        self.data_min = X.min(axis=0)
        r = X.max(axis=0) - self.data_min
        self.data_range = np.where(r > 1e-12, r, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``a + (b - a)(x - min) / (max - min)`` per gene."""
        return self.low + (self.high - self.low) * (_as2d(X) - self._fitted("data_min")) / self._fitted("data_range")

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """``(y - a) / (b - a) * (max - min) + min`` per gene."""
        return (_as2d(X) - self.low) / (self.high - self.low) * self._fitted("data_range") + self._fitted("data_min")


TRANSFORMS: dict[str, type[Transform]] = {
    c.kind: c for c in (Identity, NonNegative, Floor, Log2p1, StandardScaler, MaxAbsScaler, MinMaxScaler)
}


class Pipeline:
    """An ordered list of transforms, fitted in order and inverted in reverse order."""

    def __init__(self, steps: Sequence[Transform] = ()):
        self.steps = list(steps)

    def fit(self, X: Any) -> "Pipeline":
        """Fit each step on the output of the steps before it (training data only); returns ``self``."""
        Y = _as2d(X)
        for s in self.steps:
            Y = s.fit(Y).transform(Y)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Apply the fitted steps in order: data units to model units."""
        Y = _as2d(X)
        for s in self.steps:
            Y = s.transform(Y)
        return Y

    def fit_transform(self, X: Any) -> np.ndarray:
        """:meth:`fit` on ``X`` and return ``X`` in model units, in one pass."""
        Y = _as2d(X)
        for s in self.steps:
            Y = s.fit(Y).transform(Y)
        return Y

    def fit_transform_columns(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`fit_transform` a block of genes at a time (:func:`rnagen.pp.history.column_spans`): ``X`` in
        model units as float32, laid out as :meth:`fit_transform`'s result is, and each gene's largest value in
        model units (float64, before that cast). Every step acts on each gene alone, and a block holds whole
        columns in the layout of ``X``, so each block's parameters and values are the whole matrix's to the last
        bit; the float64 values held at once are one block's (a float64 copy of a transcriptome-wide matrix is
        twice its float32 size, and each step of :meth:`fit_transform` makes one)."""
        from .history import column_spans

        X = np.asarray(X)
        if X.ndim != 2:
            raise DataError(f"expected a 2-D samples x genes matrix, got shape {X.shape}")
        if self.steps and isinstance(self.steps[0], Log2p1):
            self.steps[0].check_nonnegative(X)   # refused by its count over the whole matrix
        out: np.ndarray | None = None
        top = np.empty(X.shape[1])
        parts: list[list[dict[str, np.ndarray]]] = [[] for _ in self.steps]
        negative = 0   # values below 0 reaching a later log step, counted over every block as on the whole matrix
        for a, b in column_spans(X):
            Y = np.array(X[:, a:b], dtype=np.float64, order="K")
            for i, s in enumerate(self.steps):
                if i and isinstance(s, Log2p1) and (k := int(np.count_nonzero(Y < 0))):
                    negative += k
                    break
                step = type(s)(**s.get_params())
                Y = step.fit(Y).transform(Y)
                parts[i].append(step.get_arrays())
            if negative:
                continue
            if out is None:   # the layout the last step gives, as on the whole matrix
                out = np.empty(X.shape, dtype=np.float32, order="F" if np.isfortran(Y) else "C")
            out[:, a:b] = Y
            top[a:b] = Y.max(axis=0)
        Log2p1.refuse_negative(negative)
        for s, fitted in zip(self.steps, parts):
            if s._arrays:
                s.set_arrays({k: np.concatenate([f[k] for f in fitted]) for k in s._arrays})
        if out is None:
            out = np.empty(X.shape, dtype=np.float32)
        return out, top

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Invert the steps in reverse order: model units back to data units."""
        Y = _as2d(X)
        for s in reversed(self.steps):
            Y = s.inverse_transform(Y)
        return Y

    def subset(self, idx: Any) -> "Pipeline":
        """The pipeline restricted to the genes ``idx``."""
        return Pipeline([s.subset(np.asarray(idx)) for s in self.steps])

    @property
    def spec(self) -> str:
        """The step kinds joined by ``+`` (``"identity"`` for no steps), as :func:`make_pipeline` reads them."""
        return "+".join(s.kind for s in self.steps) or "identity"

    def to_state(self) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        """``(description, arrays)``: a JSON-able list of steps and a flat dict of arrays (``"i.name"``)."""
        desc, arrays = [], {}
        for i, s in enumerate(self.steps):
            desc.append({"kind": s.kind, "params": s.get_params()})
            for k, v in s.get_arrays().items():
                arrays[f"{i}.{k}"] = v
        return desc, arrays

    @classmethod
    def from_state(cls, desc: Sequence[Mapping[str, Any]], arrays: Mapping[str, np.ndarray]) -> "Pipeline":
        """Rebuild a fitted pipeline from :meth:`to_state`'s ``(description, arrays)``."""
        steps = []
        for i, d in enumerate(desc):
            kind = d["kind"]
            if kind not in TRANSFORMS:
                raise DataError(f"unknown transform {kind!r} in saved pipeline; known: {sorted(TRANSFORMS)}")
            t = TRANSFORMS[kind](**dict(d.get("params", {})))
            if t._arrays:
                t.set_arrays({k: arrays[f"{i}.{k}"] for k in t._arrays})
            steps.append(t)
        return cls(steps)

    def __repr__(self) -> str:
        return f"Pipeline({self.steps!r})"


def make_pipeline(spec: str | Sequence[str | Transform]) -> Pipeline:
    """Build an unfitted pipeline from ``"log2p1+standard"`` or ``["log2p1", "standard"]`` (a list may hold
    transform objects too, for steps with parameters)."""
    if not isinstance(spec, (str, Sequence)):
        raise ConfigError(f"a transform spec is a str such as 'log2p1+standard' or a list of steps, not "
                          f"{type(spec).__name__}")
    names = [s.strip() for s in spec.split("+")] if isinstance(spec, str) else list(spec)
    steps: list[Transform] = []
    for n in names:
        if isinstance(n, Transform):
            steps.append(n)
            continue
        if n not in TRANSFORMS:
            raise ConfigError(f"unknown transform {n!r}; choose from {sorted(TRANSFORMS)}")
        if n != "identity":
            steps.append(TRANSFORMS[n]())
    return Pipeline(steps)
