import numpy as np
import pytest
from scipy.stats import ks_2samp, wasserstein_distance

from rnagen.metrics import frechet_distance, gene_distance_summary, mmd, per_gene_distances, prdc
from rnagen.metrics._knn import brute_force_knn


def _prdc_bruteforce(real, fake, k):
    """Naeem et al.'s definitions written out on full float64 matrices, with <=."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    rr = brute_force_knn(real, k=k, exclude_self=True)[0][:, -1]
    fr = brute_force_knn(fake, k=k, exclude_self=True)[0][:, -1]
    d = np.sqrt(((real[:, None] - fake[None]) ** 2).sum(-1))  # (N, M)
    return {"precision": (d <= rr[:, None]).any(0).mean(), "recall": (d <= fr[None, :]).any(1).mean(),
            "density": (d <= rr[:, None]).sum(0).mean() / k, "coverage": (d.min(1) <= rr).mean()}


def test_prdc_identical_sets(gauss):
    X, _ = gauss
    r = prdc(X, X.copy(), k=5)
    assert r["precision"] == 1.0 and r["recall"] == 1.0 and r["coverage"] == 1.0
    # each profile is in its own ball and on the boundary of the k balls it is the k-th neighbour of...
    # more precisely sum_j #{i: d(i,j) <= r_i} = N * (k + 1) (self + its k nearest), so density = (k+1)/k
    assert r["density"] == pytest.approx(6 / 5)


def test_prdc_disjoint_sets(gauss):
    X, Y = gauss
    assert prdc(X, Y + 100.0, k=5) == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_matches_bruteforce(gauss):
    X, Y = gauss
    got = prdc(X, Y, k=10)
    exp = _prdc_bruteforce(X, Y, 10)
    for key in exp:
        assert got[key] == pytest.approx(exp[key], abs=1e-12), key


def test_frechet_shifted_gaussian_known_value(rng):
    mu = np.array([3.0, -1.0, 0.5, 0.0])
    X = rng.normal(size=(200_000, 4))
    # N(0, I) vs N(mu, I): |mu|^2; the same samples shifted remove sampling noise in the covariances
    assert frechet_distance(X, X + mu, space="raw") == pytest.approx(float(mu @ mu), rel=1e-9)
    # covariance case: S vs 4 S (X vs 2X): tr(S + 4S - 2 (4 S^2)^1/2) = tr(S) (= d = 4 in the population),
    # plus |mean(X) - mean(2X)|^2 = |mean(X)|^2
    m = X.mean(0)
    assert frechet_distance(X, 2 * X, space="raw") == pytest.approx(np.trace(np.cov(X.T)) + m @ m, rel=1e-9)
    assert np.trace(np.cov(X.T)) == pytest.approx(4.0, rel=0.01)


def test_frechet_independent_samples_and_pca(rng):
    X = rng.normal(size=(20_000, 5))
    Y = rng.normal(size=(20_000, 5)) + np.array([1.0, 0, 0, 0, 0])
    assert frechet_distance(X, Y, space="raw") == pytest.approx(1.0, abs=0.03)
    # a full-rank PCA is a rotation: the distance is unchanged
    assert frechet_distance(X, Y, space="pca", n_components=5) == pytest.approx(
        frechet_distance(X, Y, space="raw"), rel=1e-9)
    assert frechet_distance(X, X.copy(), space="pca", n_components=3) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(X, Y, space=lambda a: a[:, :1]) == pytest.approx(1.0, abs=0.03)


def test_mmd_zero_for_identical_positive_for_shift(gauss):
    X, Y = gauss
    assert mmd(X, X.copy()) == pytest.approx(0.0, abs=1e-6)
    same = mmd(X, Y)
    shifted = mmd(X, Y + 1.0)
    assert shifted > 10 * max(same, 1e-4)


def test_mmd_reference_does_not_move_with_the_synthetic_set(rng):
    """The real-vs-real MMD (the ceiling of its share of the gap closed) is one number for every synthetic set
    scored against the same held-out and training profiles: the kernel's bandwidth is the held-out set's, not
    the pooled sets' (with which a copy of the training set and a noisy set get references 2x apart)."""
    from rnagen.metrics import evaluate

    R, T = rng.normal(size=(80, 12)), rng.normal(size=(120, 12))
    refs, vals = [], []
    # synthetic sets of one size (the reference is a training subsample of the synthetic set's size)
    for S in (T[:80].copy(), T[:80] + rng.normal(0, 0.3, (80, 12)), rng.normal(2.0, 3.0, size=(80, 12))):
        df = evaluate(R, S, train=T, metrics=["mmd"], n_boot=0, n_boot_expensive=0).set_index("name")
        refs.append(df.loc["mmd", "reference"])
        vals.append(df.loc["mmd", "value"])
    assert refs[0] == refs[1] == refs[2] and refs[0] > 0
    assert vals[2] > 5 * vals[1]   # a shifted, wider set still scores far worse


def test_per_gene_distances_match_scipy(rng):
    X = np.round(rng.normal(size=(120, 6)), 1)  # ties
    Y = np.round(rng.normal(size=(77, 6)) + 0.3, 1)
    w, k = per_gene_distances(X, Y, block_genes=4)
    for g in range(6):
        assert w[g] == pytest.approx(wasserstein_distance(X[:, g], Y[:, g]), abs=1e-6)
        assert k[g] == pytest.approx(ks_2samp(X[:, g], Y[:, g]).statistic, abs=1e-6)
    s = gene_distance_summary(X, X)
    assert s["wasserstein_max"] == pytest.approx(0.0, abs=1e-12) and s["ks_max"] == pytest.approx(0.0, abs=1e-12)


def test_per_gene_family_without_replicates_has_no_ci_and_no_warning(rng):
    """``n_boot_expensive=0`` (a quick evaluate): the per-gene summaries keep their values, with a NaN interval
    and no numpy warning about the mean of no replicates."""
    import warnings

    from rnagen.metrics import evaluate

    X, Y = rng.normal(size=(60, 5)), rng.normal(size=(50, 5)) + 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        df = evaluate(X, Y, metrics=["ks_mean", "wasserstein_mean"], n_boot=0, n_boot_expensive=0).set_index("name")
    assert df.loc["ks_mean", "value"] == pytest.approx(np.mean(per_gene_distances(X, Y)[1]))
    assert np.isnan(df.loc["ks_mean", "ci_low"]) and np.isnan(df.loc["wasserstein_mean", "ci_high"])


def test_prdc_duplicated_profiles_zero_radius(rng):
    # every profile appears k+1 times: all k-NN radii are 0; with <= the balls still contain their copies
    # (the reference package's strict < gives 0 everywhere here)
    base = (rng.normal(size=(40, 30)) * 10 + 50).astype(np.float32)
    dup = np.repeat(base, 6, axis=0)
    r = prdc(dup, dup.copy(), k=5)
    assert r["precision"] == 1.0 and r["recall"] == 1.0 and r["coverage"] == 1.0
    assert r["density"] == pytest.approx(6 / 5)


def test_identical_sets_score_inside_the_indicators_bounds():
    """Rounding must not carry a value past its registered bound: a distance of identical sets is 0, not a few
    ulps below it, and their correlation score 1, not above it."""
    from rnagen.metrics import correlation_score

    X = np.random.default_rng(0).normal(size=(200, 30)) * np.arange(1, 31)
    for seed in range(5):
        R = np.random.default_rng(seed).normal(size=(150, 40)) * 3.0 + 7.0
        assert frechet_distance(R, R.copy(), space="raw") >= 0.0
        assert frechet_distance(R, R.copy()) >= 0.0
        assert -1.0 <= correlation_score(R, R.copy()) <= 1.0
    assert correlation_score(X, X.copy()) == pytest.approx(1.0)
