"""Benchmark: how often rnagen's 95% bootstrap intervals contain the true value, at the replicate counts the tools
use (``n_boot_expensive`` 10 for the fast budget, 20 by default; ``n_boot`` 1000), against the percentile
interval of the same replicates, in the same run.

Two statistics with a known population value:
- the mean of ``n`` profiles' per-profile terms (:func:`rnagen.metrics._bootstrap.mean_ci`, the scheme of
  precision, coverage, AA and DCR shares), on standard-normal and on exponential (skewed) terms;
- the ratio of the medians of two independent exponential samples (the shape of ``dcr_ratio``; population value
  1), recomputed on resampled rows and re-centred (:func:`rnagen.metrics._bootstrap.stat_ci` with ``estimate``).

    .venv/bin/python benchmarks/ci_coverage.py --trials 2000
"""
from __future__ import annotations

import argparse

import numpy as np

from rnagen.metrics import _bootstrap as bs


def percentile(reps: np.ndarray) -> tuple[float, float]:
    """The percentile interval of the replicates (every interval before ``bootstrap_ci``)."""
    lo, hi = np.quantile(reps, [0.025, 0.975])
    return float(lo), float(hi)


def mean_case(draw, truth: float, B: int, trials: int, n: int, seed: int) -> tuple[float, float]:
    """Coverage of the mean of ``n`` terms from ``draw``: rnagen's interval, the percentile interval."""
    rng = np.random.default_rng(seed)
    new = old = 0
    for _ in range(trials):
        t = draw(rng, n)
        lo, hi = bs.mean_ci(t, n_boot=B, rng=np.random.default_rng(rng.integers(2**32)))
        new += lo <= truth <= hi
        reps = t[rng.integers(0, n, (B, n))].mean(1)
        lo, hi = percentile(reps)
        old += lo <= truth <= hi
    return new / trials, old / trials


def ratio_case(B: int, trials: int, n: int, seed: int) -> tuple[float, float]:
    """Coverage of the ratio of two exponential samples' medians (re-centred): rnagen's, the percentile."""
    rng = np.random.default_rng(seed)
    fn = lambda a, b: float(np.median(a) / np.median(b))  # noqa: E731
    new = old = 0
    for _ in range(trials):
        a, b = rng.standard_exponential(n), rng.standard_exponential(n)
        est = fn(a, b)
        lo, hi = bs.stat_ci(fn, [a, b], n_boot=B, rng=np.random.default_rng(rng.integers(2**32)), estimate=est)
        new += lo <= 1.0 <= hi
        reps = np.array([fn(a[rng.integers(0, n, n)], b[rng.integers(0, n, n)]) for _ in range(B)])
        lo, hi = percentile(reps - reps.mean() + est)
        old += lo <= 1.0 <= hi
    return new / trials, old / trials


def main() -> None:
    """Print the coverage table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--n", type=int, default=200, help="profiles per set")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    se = np.sqrt(0.95 * 0.05 / a.trials)
    print(f"share of {a.trials} trials whose 95% interval contains the true value (binomial SE {se:.3f}); "
          f"n = {a.n} per set")
    print(f"{'replicates':>10} | {'mean, normal':>22} | {'mean, exponential':>22} | {'ratio of medians':>22}")
    print(f"{'':>10} | {'rnagen':>10} {'percentile':>11} | {'rnagen':>10} {'percentile':>11} | "
          f"{'rnagen':>10} {'percentile':>11}")
    for B in (2, 5, 10, 20, 50, 200, 1000):
        nrm = mean_case(lambda r, n: r.standard_normal(n), 0.0, B, a.trials, a.n, a.seed)
        exp = mean_case(lambda r, n: r.standard_exponential(n), 1.0, B, a.trials, a.n, a.seed + 1)
        rat = ratio_case(B, a.trials // 4, a.n, a.seed + 2) if B <= 200 else (np.nan, np.nan)
        print(f"{B:>10} | {nrm[0]:>10.3f} {nrm[1]:>11.3f} | {exp[0]:>10.3f} {exp[1]:>11.3f} | "
              f"{rat[0]:>10.3f} {rat[1]:>11.3f}", flush=True)


if __name__ == "__main__":
    main()
