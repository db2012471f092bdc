"""Bootstrap confidence intervals (percentile method, rows resampled with replacement).

Two kinds:

- :func:`mean_ci`: the metric is a mean of per-sample terms computed once (precision, coverage, AA terms,
  DCR shares, classifier correctness on the test set). The neighbour structure (k-NN balls of the reference
  set) is held fixed and only the evaluated rows are resampled; cheap, so many resamples (default 1000).
- :func:`stat_ci`: the statistic is recomputed on resampled rows of each input (Fréchet distance, correlation
  score, MMD, per-gene distances); fewer resamples (default 20 in :func:`rnagen.metrics.evaluate`).
  Resampling with replacement duplicates rows, which by itself moves every between-set distance (FD, MMD,
  Wasserstein grow, the correlation score drops), so the replicates are re-centred on the estimate before
  taking percentiles (:func:`centred_ci`): the interval shows the sampling spread around the estimate.

Recomputing nearest-neighbour metrics on a bootstrap sample would be wrong: resampled duplicates sit at
distance 0 from each other and inflate every k-NN ball statistic; hence the fixed-structure scheme above.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def percentile_ci(samples: Sequence[float], *, level: float = 0.95) -> tuple[float, float]:
    """Two-sided percentile interval of bootstrap replicates (NaN replicates ignored)."""
    s = np.asarray(samples, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(s, [a, 1.0 - a])
    return float(lo), float(hi)


def mean_ci(terms: np.ndarray, *, n_boot: int, rng: np.random.Generator, level: float = 0.95
            ) -> tuple[float, float]:
    """CI of ``terms.mean()`` by resampling the per-sample terms (vectorised, in chunks)."""
    t = np.asarray(terms, dtype=np.float64).ravel()
    if n_boot <= 0 or t.size == 0:
        return float("nan"), float("nan")
    reps = []
    chunk = max(1, int(2e7 // max(1, t.size)))
    done = 0
    while done < n_boot:
        m = min(chunk, n_boot - done)
        idx = rng.integers(0, t.size, size=(m, t.size))
        reps.append(t[idx].mean(1))
        done += m
    return percentile_ci(np.concatenate(reps), level=level)


def centred_ci(estimate: float, samples: Sequence[float], *, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the replicates shifted so that their mean equals ``estimate``."""
    s = np.asarray(samples, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0 or not np.isfinite(estimate):
        return float("nan"), float("nan")
    return percentile_ci(s - s.mean() + estimate, level=level)


def stat_ci(fn: Callable[..., float], arrays: Sequence[np.ndarray], *, n_boot: int, rng: np.random.Generator,
            level: float = 0.95, estimate: float | None = None) -> tuple[float, float]:
    """CI of ``fn(*arrays)`` with the rows of every array resampled independently ``n_boot`` times
    (re-centred on ``estimate`` when given, see :func:`centred_ci`)."""
    if n_boot <= 0:
        return float("nan"), float("nan")
    reps = []
    for _ in range(n_boot):
        res = [a[rng.integers(0, len(a), size=len(a))] for a in arrays]
        reps.append(float(fn(*res)))
    if estimate is not None:
        return centred_ci(estimate, reps, level=level)
    return percentile_ci(reps, level=level)
