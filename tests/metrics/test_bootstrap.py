"""The bootstrap intervals hold their level at the replicate counts the tools use (10-20 for recomputed
indicators, 1000 for per-profile means) and contain the estimate at any count."""
import numpy as np
import pytest
from scipy.stats import t as student_t

from rnagen.metrics import _bootstrap as bs


def _coverage(n_boot, trials=400, n=100, seed=0):
    """Share of trials whose mean_ci of a standard normal sample of ``n`` contains the true mean 0."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(trials):
        lo, hi = bs.mean_ci(rng.standard_normal(n), n_boot=n_boot, rng=rng)
        hits += lo <= 0.0 <= hi
    return hits / trials


@pytest.mark.parametrize("n_boot", [3, 10, 20, 1000])
def test_a_95_percent_interval_covers_the_true_mean_95_percent_of_the_time(n_boot):
    # 400 trials: a binomial spread of 0.011 at 0.95; the percentile intervals of 10 or 20 replicates fall well
    # short of 0.91 (their bounds are the outermost replicates; benchmarks/ci_coverage.py)
    assert _coverage(n_boot) >= 0.91


def test_below_200_replicates_the_interval_is_students_around_the_estimate():
    reps = np.array([0.9, 1.4, 1.1, 0.7, 1.3])
    lo, hi = bs.bootstrap_ci(1.0, reps)
    half = student_t.ppf(0.975, 4) * reps.std(ddof=1)
    assert (lo, hi) == pytest.approx((1.0 - half, 1.0 + half))
    many = np.random.default_rng(1).gamma(2.0, size=bs.PERCENTILE_MIN_REPLICATES)
    assert bs.bootstrap_ci(5.0, many) == pytest.approx(tuple(np.quantile(many, [0.025, 0.975])))
    # a skewed distribution keeps its asymmetric percentile interval from 200 replicates on
    lo, hi = bs.bootstrap_ci(float(np.median(many)), many)
    assert hi - np.median(many) > np.median(many) - lo
    assert np.isnan(bs.bootstrap_ci(1.0, [2.0])).all() and np.isnan(bs.bootstrap_ci(np.nan, reps)).all()
    assert bs.bootstrap_ci(1.0, [1.0, 1.0, 1.0]) == (1.0, 1.0)


def test_two_replicates_give_an_interval_around_the_estimate_for_every_kind():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((40, 3)), rng.standard_normal((50, 3)) + 0.5
    fn = lambda a, b: float(np.linalg.norm(a.mean(0) - b.mean(0)))   # noqa: E731
    t1, t2 = rng.random(40), rng.random(60)
    for seed in range(20):
        r = np.random.default_rng(seed)
        cases = [(t1.mean(), bs.mean_ci(t1, n_boot=2, rng=r)),
                 (0.5 * t1.mean() + 0.5 * t2.mean(), bs.combo_ci([t1, t2], [0.5, 0.5], n_boot=2, rng=r)),
                 (fn(x, y), bs.stat_ci(fn, [x, y], n_boot=2, rng=r)),
                 (fn(x, y), bs.stat_ci(fn, [x, y], n_boot=2, rng=r, estimate=fn(x, y))),
                 (fn(x, y), bs.m_out_of_n_ci(fn, [x, y], estimate=fn(x, y), n_boot=2, rng=r, m_max=20))]
        for est, (lo, hi) in cases:
            assert lo <= est <= hi


def test_the_neighbour_indicators_intervals_cover_with_both_sets_drawn_anew():
    """Density and coverage move with the held-out set as much as with the synthetic one: their intervals, from
    subsamples of both sets, contain the mean over fresh draws of both about 95% of the time (a resample of one
    set's terms alone, the neighbour structure fixed, falls short of the asserted share here:
    benchmarks/ci_coverage.py --neighbours)."""
    from rnagen.metrics import evaluate

    rng = np.random.default_rng(11)
    vals: dict[str, list[float]] = {"density": [], "coverage": []}
    cis: dict[str, list[tuple[float, float]]] = {"density": [], "coverage": []}
    for t in range(80):
        R = rng.standard_normal((120, 10)).astype(np.float32)
        S = (1.3 * rng.standard_normal((120, 10))).astype(np.float32)
        df = evaluate(R, S, metrics=["density", "coverage"], n_boot=0, n_boot_expensive=20, seed=t).set_index("name")
        for m in vals:
            vals[m].append(df.loc[m, "value"])
            cis[m].append((df.loc[m, "ci_low"], df.loc[m, "ci_high"]))
            assert df.loc[m, "n_boot"] == 20
    cover = [np.mean([lo <= np.mean(vals[m]) <= hi for lo, hi in cis[m]]) for m in vals]
    assert np.mean(cover) >= 0.85, cover


def test_a_subsample_keeps_each_class_share_and_enough_rows_for_the_neighbours():
    """Per class its rounded share (at least one), and at least k + 1 rows in all, taken from the classes with the
    most rows left when one class alone cannot give them."""
    from rnagen.metrics._context import _subsample_plan

    y = np.array(["a"] * 4 + ["b"] * 4 + ["c"] * 1)
    plan = _subsample_plan(9, y, 0.5, 3)
    assert [m for _, m in plan] == [2, 2, 1]
    plan = _subsample_plan(9, y, 0.5, 8)   # 5 by shares, 3 more: two classes give theirs
    assert sum(m for _, m in plan) == 8 and all(m <= len(pos) for pos, m in plan)
    assert sum(m for _, m in _subsample_plan(9, y, 0.5, 20)) == 9   # no more than the set holds
    assert [m for _, m in _subsample_plan(9, None, 0.5, 8)] == [8]


def test_classes_of_one_profile_each_are_subsampled_as_a_whole():
    """A held-out set with one profile per class cannot leave one out per class: its subsamples ignore the classes,
    and the neighbour indicators keep their intervals."""
    from rnagen.metrics import evaluate

    rng = np.random.default_rng(4)
    R, S = rng.standard_normal((40, 6)), rng.standard_normal((40, 6))
    y = np.array([f"c{i}" for i in range(40)])
    df = evaluate(R, S, real_labels=y, synthetic_labels=y, metrics=["density", "aa_ts"], n_boot=0,
                  n_boot_expensive=5).set_index("name")
    for m in ("density", "aa_ts"):
        assert df.loc[m, "ci_low"] <= df.loc[m, "value"] <= df.loc[m, "ci_high"] < np.inf
        assert df.loc[m, "ci_high"] > df.loc[m, "ci_low"]


def test_the_wilson_interval_of_a_share():
    """Wilson's score interval, by its closed form: 45 of 50 -> [0.7864, 0.9565]; at a share of 0 or 1 it keeps
    a width of z^2 / (n + z^2) from the bound."""
    assert bs.wilson_ci(0.9, 50) == pytest.approx((0.7864, 0.9565), abs=1e-4)
    z2 = 1.959964 ** 2
    assert bs.wilson_ci(0.0, 104) == pytest.approx((0.0, z2 / (104 + z2)))
    assert bs.wilson_ci(1.0, 104) == pytest.approx((104 / (104 + z2), 1.0)) and bs.wilson_ci(1.0, 104)[1] == 1.0
    assert np.isnan(bs.wilson_ci(0.5, 0)).all() and np.isnan(bs.wilson_ci(1.5, 10)).all()


def test_a_share_at_its_bound_keeps_an_interval():
    """No near copies among 104 profiles is not a population share of exactly 0: every resample of terms all 0
    repeats 0, and the interval is Wilson's, not [0, 0]; away from the bounds the resampled interval stands."""
    rng = np.random.default_rng(0)
    lo, hi = bs.mean_ci(np.zeros(104), n_boot=1000, rng=rng)
    assert lo == 0.0 and hi == pytest.approx(bs.wilson_ci(0.0, 104)[1]) and hi > 0.03
    assert bs.mean_ci(np.ones(50), n_boot=20, rng=rng)[0] == pytest.approx(bs.wilson_ci(1.0, 50)[0])
    t = rng.standard_normal(200) + 5.0     # not a share: no floor
    assert bs.mean_ci(t, n_boot=1000, rng=np.random.default_rng(1)) == bs.bootstrap_ci(
        float(np.sort(t).mean()), np.sort(t)[np.random.default_rng(1).integers(0, 200, (1000, 200))].mean(1))
    assert np.isnan(bs.mean_ci(np.zeros(10), n_boot=0, rng=rng)).all()   # none asked for: none given


def test_a_neighbour_indicator_near_its_bound_covers_its_value():
    """A synthetic set spread wider than the held-out one leaves almost no held-out profile outside its k-NN balls
    (recall ~0.999): a subsample then rarely holds the one that is, the replicates repeat 1, and an interval of
    width 0 would miss the true value (benchmarks/ci_coverage.py --neighbours); with the Wilson floor it covers
    it."""
    from rnagen.metrics import evaluate

    rng = np.random.default_rng(5)
    vals, cis = [], []
    for t in range(40):
        R = rng.standard_normal((150, 20)).astype(np.float32)
        S = (1.3 * rng.standard_normal((150, 20))).astype(np.float32)
        df = evaluate(R, S, metrics=["recall"], n_boot=0, n_boot_expensive=10, seed=t).set_index("name")
        vals.append(df.loc["recall", "value"])
        cis.append((df.loc["recall", "ci_low"], df.loc["recall", "ci_high"]))
    truth = float(np.mean(vals))
    assert 0.99 < truth < 1.0
    assert np.mean([lo <= truth <= hi for lo, hi in cis]) >= 0.9


def test_logit_ci_reaches_further_towards_the_middle_near_a_bound():
    from rnagen.metrics._bootstrap import bootstrap_ci, logit_ci

    rng = np.random.default_rng(0)
    reps = np.clip(0.93 + 0.04 * rng.standard_normal(1000), 0, 1)
    lo, hi = logit_ci(0.93, reps)
    se = reps.std(ddof=1)
    # the delta method on the logit scale: expit(logit(p) -+ 1.96 se / (p (1 - p)))
    c, h = np.log(0.93 / 0.07), 1.959964 * se / (0.93 * 0.07)
    assert (lo, hi) == pytest.approx((1 / (1 + np.exp(-(c - h))), 1 / (1 + np.exp(-(c + h)))), rel=1e-6)
    assert 0.0 < lo < 0.93 < hi < 1.0
    plo, phi = bootstrap_ci(0.93, reps)
    assert lo < plo - 0.01 and hi < phi   # further towards 0.5, short of 1
    # at a bound, or without spread, the bootstrap interval itself
    assert logit_ci(1.0, np.ones(300)) == (1.0, 1.0)
    assert logit_ci(0.0, np.r_[np.zeros(290), np.full(10, 0.05)]) == bootstrap_ci(0.0, np.r_[np.zeros(290),
                                                                                                   np.full(10, 0.05)])
    # below 200 replicates Student's t, as bootstrap_ci
    from scipy.stats import t as student_t

    few = reps[:20]
    lo, hi = logit_ci(0.5, few)
    assert hi - 0.5 == pytest.approx(1 / (1 + np.exp(-float(student_t.ppf(0.975, 19)) * few.std(ddof=1) / 0.25)) - 0.5)
    assert np.isnan(logit_ci(0.5, [0.4])[0])


@pytest.mark.parametrize("n_boot", [50, 1000])
def test_one_sided_bound_of_a_logit_interval_is_its_lower_end_at_the_higher_level(n_boot):
    """Read off a logit-scale 95% interval, the one-sided bound at level L is ``logit_ci``'s lower end at two-sided
    level 2L - 1 of the same replicates (Student's t below 200 replicates, the normal from there); a standard error
    read off the width on the AUC's scale puts it too close to an AUC near 1."""
    from rnagen.metrics._bootstrap import logit_ci, one_sided_bound

    reps = np.clip(0.85 + 0.09 * np.random.default_rng(3).standard_normal(n_boot), 0, 1)
    lo, hi = logit_ci(0.85, reps)
    level = 1 - 0.025 / 10
    want = logit_ci(0.85, reps, level=2 * level - 1)[0]
    assert one_sided_bound(0.85, lo, hi, level, n_boot, logit=True) == pytest.approx(want, rel=1e-9)
    assert want < 0.5 < lo
    assert one_sided_bound(0.85, lo, hi, level, n_boot) > 0.55     # the width's reading: above chance
    # at a bound (logit_ci's interval is bootstrap_ci's there) and without spread, as without logit
    assert one_sided_bound(1.0, 1.0, 1.0, level, 1000, logit=True) == 1.0
    assert one_sided_bound(0.7, 0.7, 0.7, level, 1000, logit=True) == 0.7
