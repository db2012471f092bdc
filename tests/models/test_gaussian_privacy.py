"""The differentially private per-class Gaussian: its noise has the scales of its zCDP analysis, the released
statistics are the clipped ones plus that noise, and the model is fitted from them alone."""
import numpy as np
import pytest

from rnagen.errors import ConfigError
from rnagen.models import get_model
from rnagen.models.gaussian import RHO_SPLIT, noise_scales, noisy_class_statistics
from rnagen.train.privacy import zcdp_to_dp


@pytest.mark.parametrize("eps,delta", [(1.0, 1e-5), (10.0, 1 / 416)])
def test_noise_scales_spend_exactly_the_budget(eps, delta):
    sc = noise_scales(eps, delta, clip_norm=3.0, clip_norm_sq=5.0)
    # rho_i = sensitivity^2 / (2 sigma_i^2) per release; they add up to rho, which converts to eps
    parts = [1.0 / (2 * sc["sigma_count"] ** 2), 3.0 ** 2 / (2 * sc["sigma_sum"] ** 2),
             5.0 ** 2 / (2 * sc["sigma_sum_sq"] ** 2)]
    assert sum(parts) == pytest.approx(sc["rho"], rel=1e-12)
    assert [p / sc["rho"] for p in parts] == pytest.approx(list(RHO_SPLIT), rel=1e-12)
    assert zcdp_to_dp(sc["rho"], delta) == pytest.approx(eps, rel=1e-12)


def test_released_statistics_are_clipped_sums_plus_noise_of_the_stated_scale():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 2, (30, 50))
    y = np.repeat([0, 1, 2], 10)
    R1, R2 = 4.0, 6.0
    runs = [noisy_class_statistics(X, y, 3, epsilon=2.0, delta=1e-3, clip_norm=R1, clip_norm_sq=R2,
                                   rng=np.random.default_rng(s)) for s in range(60)]
    sc = noise_scales(2.0, 1e-3, clip_norm=R1, clip_norm_sq=R2)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    Xc = X * np.minimum(1, R1 / norms)
    Q = X * X
    Qc = Q * np.minimum(1, R2 / np.linalg.norm(Q, axis=1, keepdims=True))
    true_sum = np.stack([Xc[y == c].sum(0) for c in range(3)])
    true_sq = np.stack([Qc[y == c].sum(0) for c in range(3)])
    d_sum = np.stack([r["sums"] for r in runs]) - true_sum
    d_sq = np.stack([r["sums_sq"] for r in runs]) - true_sq
    d_n = np.stack([r["counts"] for r in runs]) - 10
    assert d_sum.mean() == pytest.approx(0, abs=4 * sc["sigma_sum"] / np.sqrt(d_sum.size))
    assert d_sum.std() == pytest.approx(sc["sigma_sum"], rel=0.03)
    assert d_sq.std() == pytest.approx(sc["sigma_sum_sq"], rel=0.03)
    assert d_n.std() == pytest.approx(sc["sigma_count"], rel=0.15)
    # the clipping is in force: the profiles' norms exceed R1, so the unclipped sums differ
    assert (norms > R1).all()


def test_private_gaussian_fits_from_noisy_statistics_and_records_its_guarantee(tmp_path):
    from rnagen import datasets
    from rnagen.models import load

    ad = datasets.gtex26()[:, :20].copy()
    m = get_model("gaussian").from_config(overrides=["privacy.epsilon=50"])
    m.fit(ad, label_key="tissue", seed=0, progress=False, run_dir=tmp_path / "g")
    rec = m.privacy
    assert rec["epsilon"] == pytest.approx(50.0) and rec["delta"] == 1 / 520
    assert rec["clip_norm"] == pytest.approx(np.sqrt(20)) and rec["clip_norm_sq"] == pytest.approx(np.sqrt(60))
    assert m.factors.shape == (26, 20)  # diagonal
    assert (m.factors >= np.sqrt(1e-3) - 1e-12).all()
    # the class sizes it samples with are the noisy counts (20 each, noise sd ~ 0.4 at eps 50)
    assert m.label_counts.sum() != 0 and np.abs(m.label_counts - 20).max() <= 3
    # at a large epsilon the noisy means are close to the (clipped) class means in the model's space
    Z = m.pipeline.transform(np.asarray(ad.X, dtype=np.float64))
    y = np.asarray(ad.obs["tissue"].map({lab: i for i, lab in enumerate(m.labels)}))
    means = np.stack([Z[y == c].mean(0) for c in range(26)])
    assert np.abs(m.means - means).mean() < 0.25
    again = load(tmp_path / "g")
    assert again.privacy == rec and again.sample(n=5, seed=0).uns["rnagen"]["privacy"]["rho"] == rec["rho"]


def test_private_gaussian_refuses_a_full_covariance_and_settings_without_epsilon():
    with pytest.raises(ConfigError, match="diagonal"):
        get_model("gaussian").from_config(overrides=["privacy.epsilon=1", "covariance=full"])
    with pytest.raises(ConfigError, match="need privacy.epsilon"):
        get_model("gaussian").from_config(overrides=["privacy.clip_norm=3"])


def test_noisy_variances_of_small_classes_shrink_to_the_pooled_ones():
    """Empirical-Bayes shrinkage: with the same noise on every class's sum of squares, a class of 5 profiles
    (estimate mostly noise) takes nearly the pooled variance while classes of 2,000 keep their own."""
    from rnagen.models.gaussian import _shrink_to_pooled

    rng = np.random.default_rng(0)
    G = 200
    true = np.stack([np.full(G, 0.5), np.full(G, 2.0), np.full(G, 1.0)])
    n = np.array([2000.0, 2000.0, 5.0])
    sigma = 30.0
    var = true + rng.normal(0, 1, true.shape) * (sigma / n)[:, None]
    out = _shrink_to_pooled(var, n, sigma)
    pooled = (n / n.sum()) @ var
    assert np.abs(out[:2] - var[:2]).max() < 0.01                  # the large classes keep their estimates
    assert np.abs(out[2] - pooled).mean() < 0.05 * np.abs(var[2] - pooled).mean()  # the small one is pooled
    assert np.mean((out - true) ** 2) < 0.1 * np.mean((var - true) ** 2)
    # no spread beyond the noise: everything pooled
    flat = np.ones((3, G)) + rng.normal(0, 1, (3, G)) * (sigma / n)[:, None]
    np.testing.assert_allclose(_shrink_to_pooled(flat, n, sigma)[2], (n / n.sum()) @ flat, atol=0.05)
