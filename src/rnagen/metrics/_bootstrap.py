"""Bootstrap confidence intervals (rows resampled with replacement).

The interval of ``B`` replicates (:func:`bootstrap_ci`): from ``B = 200`` on the percentile interval (each 2.5%
tail then holds at least five replicates); with fewer, ``estimate +- t(B - 1) * SE``, SE the replicates' standard
deviation and ``t(B - 1)`` Student's quantile. A percentile interval reads its bounds off the outermost
replicates, which at a few dozen replicates sit inside the distribution's 2.5% tails (the interval covers the true
value less often than its level says) and at B = 2 need not contain the estimate at all; Efron & Tibshirani (1993,
ch. 6 and 13) take 25-200 replicates for a standard error and many more for percentiles. The t quantile carries
the uncertainty of an SE read from ``B`` replicates, so the interval holds its level at any ``B >= 2`` (wide at
small ``B``).

Two kinds of replicates:

- :func:`mean_ci`: the metric is a mean of per-sample terms computed once (DCR shares, classifier correctness on
  the test set). The neighbour structure (the sets the terms are measured against) is held fixed and only the
  evaluated rows are resampled; cheap, so many resamples (default 1000), but blind to the variation of the other
  sets: precision, recall, density, coverage and AA take subsamples of both sets instead
  (:meth:`rnagen.metrics._context.EvalContext.neighbour_ci`).
- :func:`stat_ci`: the statistic is recomputed on resampled rows of each input (Fréchet distance, correlation
  score, MMD, per-gene distances); fewer resamples (default 20 in :func:`rnagen.metrics.evaluate`).
  Resampling with replacement duplicates rows, which by itself moves every between-set distance (FD, MMD,
  Wasserstein grow, the correlation score drops), so the replicates are re-centred on the estimate before
  the interval is read (:func:`centred_ci`): the interval shows the sampling spread around the estimate.

A share of terms in [0, 1] (precision, recall, coverage, the AA halves, the DCR shares, accuracies) is never
given an interval narrower than its Wilson score interval (:func:`share_floor`; Wilson 1927, the interval Brown,
Cai & DasGupta 2001 recommend for a proportion): where every term is 0 or every term is 1, every resample and
every subsample repeats the value and the interval collapses to a point ("no near copies, [0, 0]"), though a
share of 0 of ``n`` profiles says only that the population's share is below about 3.8 / ``n``.

Every resample is drawn over the terms or rows in an order set by their content (terms sorted by value, rows by
:func:`~rnagen.metrics._classifiers.canonical_order`): a file with its rows in another order gets the same
intervals, not only the same values.

For statistics that are costly at 17,000 profiles (correlation score, per-gene distances), replicates use
at most 2,000 rows per set and their spread is rescaled (:func:`m_out_of_n_ci`).

Recomputing nearest-neighbour metrics on a bootstrap sample would be wrong: resampled duplicates sit at
distance 0 from each other and inflate every k-NN ball statistic; hence the fixed-structure scheme above, or
subsamples drawn without replacement.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

PERCENTILE_MIN_REPLICATES = 200


def bootstrap_ci(estimate: float, samples: npt.ArrayLike, *, level: float = 0.95) -> tuple[float, float]:
    """Two-sided interval from bootstrap replicates of ``estimate`` (NaN replicates ignored): the percentile
    interval from :data:`PERCENTILE_MIN_REPLICATES` replicates on, below that ``estimate +- t(B - 1) * SE``
    (see the module's text); NaN with fewer than two finite replicates or a non-finite estimate."""
    s = np.asarray(samples, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size < 2 or not np.isfinite(estimate):
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    if s.size >= PERCENTILE_MIN_REPLICATES:
        lo, hi = np.quantile(s, [a, 1.0 - a])
        return float(lo), float(hi)
    from scipy.stats import t as student_t

    half = float(student_t.ppf(1.0 - a, s.size - 1)) * float(s.std(ddof=1))
    return float(estimate) - half, float(estimate) + half


def logit_ci(estimate: float, samples: npt.ArrayLike, *, level: float = 0.95) -> tuple[float, float]:
    """Two-sided interval of a statistic in [0, 1] built on the logit scale: ``expit(logit(estimate) +- q * SE /
    (estimate (1 - estimate)))``, SE the replicates' standard deviation (the delta method), ``q`` the normal
    quantile from :data:`PERCENTILE_MIN_REPLICATES` replicates on, Student's ``t(B - 1)`` below. Near a bound the
    plug-in standard error of a share or an ROC AUC shrinks with the estimate, and a percentile (or Wald) interval
    around an estimate that sampling pushed towards the bound misses the true value more often than its level
    says; on the logit scale the interval reaches further towards the middle (Pohar Perme & Manevski 2018, Stat.
    Methods Med. Res., for the AUC; Brown, Cai & DasGupta 2001, the logit interval of a proportion). At an
    estimate of exactly 0 or 1, or replicates without spread, it is :func:`bootstrap_ci`."""
    s = np.asarray(samples, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size < 2 or not np.isfinite(estimate):
        return float("nan"), float("nan")
    se = float(s.std(ddof=1))
    if not 0.0 < estimate < 1.0 or se <= 0.0:
        return bootstrap_ci(estimate, s, level=level)
    a = (1.0 - level) / 2.0
    if s.size >= PERCENTILE_MIN_REPLICATES:
        q = NormalDist().inv_cdf(1.0 - a)
    else:
        from scipy.stats import t as student_t

        q = float(student_t.ppf(1.0 - a, s.size - 1))
    centre = float(np.log(estimate / (1.0 - estimate)))
    half = q * se / (estimate * (1.0 - estimate))
    return float(1.0 / (1.0 + np.exp(-(centre - half)))), float(1.0 / (1.0 + np.exp(-(centre + half))))


def wilson_ci(share: float, n: float, *, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a share of ``n`` independent terms in [0, 1] (Wilson 1927): the values of the
    population share the score test at ``level`` does not reject. Unlike the normal (and bootstrap) interval it
    keeps a width at a share of 0 or 1: ``[0, z^2 / (n + z^2)]`` at 0. NaN for ``n <= 0`` or a share outside [0, 1]."""
    if not (np.isfinite(share) and np.isfinite(n)) or n <= 0 or not 0.0 <= share <= 1.0:
        return float("nan"), float("nan")
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    z2n = z * z / n
    centre = (share + z2n / 2.0) / (1.0 + z2n)
    half = z * float(np.sqrt(share * (1.0 - share) / n + z2n / (4.0 * n))) / (1.0 + z2n)
    # at a bound the bound itself, exactly (the formula returns it up to rounding)
    return (0.0 if share == 0.0 else max(0.0, centre - half)), (1.0 if share == 1.0 else min(1.0, centre + half))


def share_floor(ci: tuple[float, float], share: float, n: float, *, level: float = 0.95) -> tuple[float, float]:
    """``ci``, the interval of a share of ``n`` terms in [0, 1], widened where needed to contain its
    :func:`wilson_ci`: resamples of terms all at one bound repeat that bound. An interval not computed (NaN: no
    replicates asked for) stays NaN. For terms that are not independent (the neighbour indicators' terms share
    k-NN balls) the Wilson interval is a floor, not the interval: the replicates carry the dependence."""
    lo, hi = ci
    w_lo, w_hi = wilson_ci(share, n, level=level)
    if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(w_lo)):
        return lo, hi
    return min(lo, w_lo), max(hi, w_hi)


def one_sided_bound(value: float, lo: float, hi: float, level: float, n_boot: int | None, *,
                    logit: bool = False) -> float:
    """The lower bound at one-sided ``level`` read off a 95% interval ``[lo, hi]`` of ``value`` made from ``n_boot``
    replicates (``None``: as many as a percentile interval takes), by the construction that made the interval, so
    the bound is that interval's own lower end at the higher level and never above ``lo``.

    ``logit``: an interval of :func:`logit_ci` (symmetric about ``logit(value)``, asymmetric on the value's scale):
    the bound is ``expit(logit(value) - (q_level / q_0.975) (logit(value) - logit(lo)))``, ``q`` Student's
    ``t(n_boot - 1)`` quantiles below :data:`PERCENTILE_MIN_REPLICATES` replicates and the normal's from there,
    which is exactly :func:`logit_ci`'s lower end at two-sided level ``2 level - 1`` of the same replicates. A
    standard error read off the width on the value's scale would take the interval's short side towards the near
    bound as half its spread, and put the bound too close to ``value`` near 0 or 1. At a value of 0 or 1 (where
    :func:`logit_ci` gives :func:`bootstrap_ci`'s interval) as without ``logit``.

    Otherwise an interval of :func:`bootstrap_ci`: Student's t with ``n_boot - 1`` degrees of freedom for its
    ``estimate +- t SE`` form, the normal approximation (SE = width / 3.92) for a percentile interval."""
    from scipy.stats import t as student_t

    t_form = n_boot is not None and 2 <= n_boot < PERCENTILE_MIN_REPLICATES

    def quantile(p: float) -> float:
        return float(student_t.ppf(p, n_boot - 1)) if t_form and n_boot is not None else NormalDist().inv_cdf(p)

    if logit and 0.0 < lo <= value < 1.0:
        centre = math.log(value / (1.0 - value))
        down = (centre - math.log(lo / (1.0 - lo))) * quantile(level) / quantile(0.975)
        return min(lo, 1.0 / (1.0 + math.exp(-(centre - down))))
    if t_form:
        se = (hi - lo) / (2.0 * quantile(0.975))
        return min(lo, value - quantile(level) * se)
    return min(lo, value - quantile(level) * (hi - lo) / 3.92)


def content_order(a: Any) -> np.ndarray:
    """A permutation of ``a``'s entries (1-D: by value) or rows (2-D, dense or sparse:
    :func:`~rnagen.metrics._classifiers.canonical_order`) set by their content alone: resample indices drawn
    over it (``a[order[draw]]``) are the same rows for any order of a file's, without a reordered copy."""
    from ._classifiers import canonical_order

    if getattr(a, "ndim", 2) == 1:
        return np.argsort(np.asarray(a), kind="stable")
    return canonical_order(a)


def resample_counts(order: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bootstrap resample of the rows ``order`` (:func:`content_order`) permutes, as each row's share of it
    (multiplicity / n), indexed like the rows as given."""
    n = len(order)
    return np.bincount(order[rng.integers(0, n, n)], minlength=n) / n


def mean_ci(terms: np.ndarray, *, n_boot: int, rng: np.random.Generator, level: float = 0.95
            ) -> tuple[float, float]:
    """CI of ``terms.mean()`` by resampling the per-sample terms (vectorised, in chunks); terms in [0, 1] (a
    share) get at least their Wilson interval (:func:`share_floor`)."""
    t = np.sort(np.asarray(terms, dtype=np.float64).ravel())   # the terms in an order of their values
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
    ci = bootstrap_ci(float(t.mean()), np.concatenate(reps), level=level)
    if t[0] >= 0.0 and t[-1] <= 1.0:
        return share_floor(ci, float(t.mean()), t.size, level=level)
    return ci


def centred_ci(estimate: float, samples: npt.ArrayLike, *, level: float = 0.95) -> tuple[float, float]:
    """:func:`bootstrap_ci` of the replicates shifted so that their mean equals ``estimate``."""
    s = np.asarray(samples, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0 or not np.isfinite(estimate):
        return float("nan"), float("nan")
    return bootstrap_ci(estimate, s - s.mean() + estimate, level=level)


def stat_ci(fn: Callable[..., float], arrays: Sequence[np.ndarray], *, n_boot: int, rng: np.random.Generator,
            level: float = 0.95, estimate: float | None = None) -> tuple[float, float]:
    """CI of ``fn(*arrays)`` with the rows of every array resampled independently ``n_boot`` times
    (re-centred on ``estimate`` when given, see :func:`centred_ci`; else around ``fn(*arrays)``)."""
    if n_boot <= 0:
        return float("nan"), float("nan")
    orders = [content_order(a) for a in arrays]
    reps = []
    for _ in range(n_boot):
        res = [a[o[rng.integers(0, len(a), size=len(a))]] for a, o in zip(arrays, orders)]
        reps.append(float(fn(*res)))
    if estimate is not None:
        return centred_ci(estimate, reps, level=level)
    return bootstrap_ci(float(fn(*arrays)), reps, level=level)


def m_out_of_n_ci(fn: Callable[..., float], arrays: Sequence[np.ndarray], *, estimate: float, n_boot: int,
                  rng: np.random.Generator, m_max: int = 2000, level: float = 0.95) -> tuple[float, float]:
    """Re-centred bootstrap CI from resamples of at most ``m_max`` rows per array (m-out-of-n bootstrap).

    For statistics too costly to recompute on full-size resamples (gene-gene correlation matrices, per-gene
    CDFs of 17,000 profiles): each replicate draws ``m = min(n, m_max)`` rows with replacement from every
    array; the replicates' deviations from their mean are scaled by ``sqrt(m / n)`` (root-n consistent
    statistics: the spread shrinks like 1 / sqrt(n)) and added to ``estimate``.
    """
    if n_boot <= 0 or not np.isfinite(estimate):
        return float("nan"), float("nan")
    orders = [content_order(a) for a in arrays]
    ms = [min(len(a), m_max) for a in arrays]
    scale = float(np.sqrt(sum(ms) / sum(len(a) for a in arrays)))
    reps = np.array([float(fn(*[a[o[rng.integers(0, len(a), size=m)]] for a, o, m in zip(arrays, orders, ms)]))
                     for _ in range(n_boot)])
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return float("nan"), float("nan")
    return bootstrap_ci(estimate, estimate + scale * (reps - reps.mean()), level=level)


def combo_ci(terms: Sequence[np.ndarray], weights: Sequence[float], *, n_boot: int, rng: np.random.Generator,
             level: float = 0.95) -> tuple[float, float]:
    """CI of ``sum_i w_i mean(terms_i)``, each term array resampled independently (e.g. AA_ts, the mean of
    its real and its synthetic half)."""
    reps = np.zeros(n_boot)
    estimate = 0.0
    for t, w in zip(terms, weights):
        t = np.sort(np.asarray(t, np.float64).ravel())
        idx = rng.integers(0, len(t), size=(n_boot, len(t)))
        reps += w * t[idx].mean(1)
        estimate += w * float(t.mean())
    return bootstrap_ci(estimate, reps, level=level)
