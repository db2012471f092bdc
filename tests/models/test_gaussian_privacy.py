"""The differentially private per-class Gaussian: its noise has the scales of its Gaussian-mechanism analysis,
the released statistics are the clipped ones plus that noise, and the model is fitted from them alone."""
import numpy as np
import pytest

from rnagen.errors import ConfigError
from rnagen.models import get_model
from rnagen.models.gaussian import RHO_SPLIT, noise_scales, noisy_class_statistics
from rnagen.train.privacy import gaussian_mechanism_epsilon


@pytest.mark.parametrize("eps,delta", [(1.0, 1e-5), (10.0, 1 / 416)])
def test_noise_scales_spend_exactly_the_budget(eps, delta):
    sc = noise_scales(eps, delta, clip_norm=3.0, clip_norm_sq=5.0)
    # rho_i = sensitivity^2 / (2 sigma_i^2) per release; they add up to rho, which converts to eps
    parts = [1.0 / (2 * sc["sigma_count"] ** 2), 3.0 ** 2 / (2 * sc["sigma_sum"] ** 2),
             5.0 ** 2 / (2 * sc["sigma_sum_sq"] ** 2)]
    assert sum(parts) == pytest.approx(sc["rho"], rel=1e-12)
    assert [p / sc["rho"] for p in parts] == pytest.approx(list(RHO_SPLIT), rel=1e-12)
    assert gaussian_mechanism_epsilon(sc["rho"], delta) == pytest.approx(eps, rel=1e-9)
    # with a correlation release (residuals clipped to 7): its share, and the rest split as before
    sc = noise_scales(eps, delta, clip_norm=3.0, clip_norm_sq=5.0, covariance_share=0.3, clip_norm_cov=7.0)
    parts = [1.0 / (2 * sc["sigma_count"] ** 2), 3.0 ** 2 / (2 * sc["sigma_sum"] ** 2),
             5.0 ** 2 / (2 * sc["sigma_sum_sq"] ** 2), 7.0 ** 4 / (2 * sc["sigma_cov"] ** 2)]
    assert sum(parts) == pytest.approx(sc["rho"], rel=1e-12)
    assert [p / sc["rho"] for p in parts] == pytest.approx([0.7 * r for r in RHO_SPLIT] + [0.3], rel=1e-12)


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
    assert m.factors.shape == (26, 20)  # the class standard deviations; the correlation is shared
    assert rec["covariance_share"] == 0.3 and m.loadings.shape == (20, rec["correlation_rank"])
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
    np.testing.assert_array_equal(again.sample(n=40, seed=3).X, m.sample(n=40, seed=3).X)


def test_private_gaussian_noise_is_secret_unless_asked_to_repeat():
    """Two private fits of one seed on one data set release other means (the noise is a secret key's, not the
    public seed's: with the seed, two releases from data that differ in one profile give that profile away); with
    privacy.reproducible=true they are equal, and the record says which."""
    from rnagen import datasets

    ad = datasets.gtex26()[:, :20].copy()

    def fit(*extra):
        m = get_model("gaussian").from_config(overrides=["privacy.epsilon=1", *extra])
        m.fit(ad, label_key="tissue", seed=0, progress=False)
        return m

    a, b = fit(), fit()
    assert not np.array_equal(a.means, b.means) and a.privacy["noise"] == ("a key of the operating system's "
                                                                           "entropy, not saved")
    c, d = fit("privacy.reproducible=true"), fit("privacy.reproducible=true")
    np.testing.assert_array_equal(c.means, d.means)
    assert c.privacy["noise"].startswith("the run's seed")
    # the neighbouring relation the guarantee holds for, and what its exact sizes leave outside it
    assert c.privacy["neighbours"].startswith("add or remove one profile") and "outside the guarantee" in \
        c.privacy["neighbours"]
    with pytest.raises(ConfigError, match="privacy.reproducible need privacy.epsilon"):
        get_model("gaussian").from_config(overrides=["privacy.reproducible=true"])


def test_private_gaussian_refuses_a_full_covariance_and_settings_without_epsilon():
    with pytest.raises(ConfigError, match="low-rank or diagonal"):
        get_model("gaussian").from_config(overrides=["privacy.epsilon=1", "covariance=full"])
    for key in ("privacy.clip_norm=3", "privacy.covariance_share=0.3"):
        with pytest.raises(ConfigError, match="need privacy.epsilon"):
            get_model("gaussian").from_config(overrides=[key])
    with pytest.raises(ConfigError, match="covariance_share"):
        get_model("gaussian").from_config(overrides=["privacy.epsilon=1", "privacy.covariance_share=1"])


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


def _factor_data(n, G, k, rng):
    """n profiles of G genes with unit variances, k common factors of loading 0.6 on disjoint gene blocks."""
    W = np.zeros((G, k))
    for j in range(k):
        W[j * (G // k):(j + 1) * (G // k), j] = 0.6
    X = rng.standard_normal((n, k)) @ W.T + rng.standard_normal((n, G)) * np.sqrt(1 - (W ** 2).sum(1))
    return X, W


def test_private_correlation_recovers_common_factors_and_keeps_nothing_from_noise():
    from rnagen.models.gaussian import private_correlation

    rng = np.random.default_rng(0)
    n, G = 3000, 120
    X, W = _factor_data(n, G, 3, rng)
    y = np.zeros(n, dtype=int)
    means, var = X.mean(0, keepdims=True), X.var(0, keepdims=True)
    L, u = private_correlation(X, y, means, var, float(n), sigma=20.0, clip_norm=np.sqrt(G), rng=rng)
    assert L.shape == (G, 3)  # three spikes (about 45,000) above the bulk (about 1,900, reaching 2,800) and the noise
    corr = L @ L.T + np.diag(u ** 2)
    np.testing.assert_allclose(np.diag(corr), 1.0, atol=1e-12)
    true = W @ W.T + np.diag(1 - (W ** 2).sum(1))
    off = ~np.eye(G, dtype=bool)
    assert np.abs(corr - true)[off].max() < 0.12          # the within-block correlations 0.36 are recovered
    assert np.abs(corr - true)[off].mean() < 0.02
    # independent genes: the release is noise alone and no eigenvalue passes its edge
    Z = rng.standard_normal((n, G))
    L0, u0 = private_correlation(Z, y, Z.mean(0, keepdims=True), Z.var(0, keepdims=True), float(n), sigma=20.0,
                                 clip_norm=np.sqrt(G), rng=rng)
    assert L0.shape == (G, 0) and np.allclose(u0, 1.0)
    # the released matrix is the residuals' Gram matrix plus symmetric noise of the stated scale
    from rnagen.models.gaussian import noisy_gram

    R = rng.standard_normal((50, 80))
    D = np.stack([noisy_gram(R, 3.0, np.random.default_rng(s)) - R.T @ R for s in range(20)])
    np.testing.assert_allclose(D, D.transpose(0, 2, 1))
    assert D.std() == pytest.approx(3.0, rel=0.02) and abs(D.mean()) < 0.02


def test_private_gaussian_samples_the_released_correlation_and_its_record_says_so():
    import anndata
    import pandas as pd

    rng = np.random.default_rng(1)
    X, W = _factor_data(4000, 60, 2, rng)
    obs = pd.DataFrame({"c": np.repeat(["a", "b"], 2000)}, index=[f"s{i}" for i in range(4000)])
    ad = anndata.AnnData(X=(X + 5).astype(np.float32), obs=obs)
    over = ["privacy.epsilon=20", "preprocess.log=none"]
    m = get_model("gaussian").from_config(overrides=over).fit(ad, label_key="c", seed=0, progress=False)
    assert m.privacy["correlation_rank"] == 2 and "correlation 0.3" in m.privacy["rho_split"]
    S = np.asarray(m.sample(n=20000, seed=1).X, dtype=np.float64)
    c = np.corrcoef(S, rowvar=False)
    block = c[:30, :30][~np.eye(30, dtype=bool)]
    assert abs(block.mean() - 0.36) < 0.06 and abs(c[:30, 30:].mean()) < 0.03
    # covariance=diag spends the whole budget on the diagonal statistics and samples independent genes
    d = get_model("gaussian").from_config(overrides=over + ["covariance=diag"]).fit(ad, label_key="c", seed=0,
                                                                                  progress=False)
    assert d.privacy["covariance_share"] == 0.0 and d.privacy["correlation_rank"] == 0
    assert d.privacy["correlation"] == "not released: covariance=diag" and m.privacy["correlation"] == "released"
    assert "correlation" not in d.privacy["rho_split"]
    cd = np.corrcoef(np.asarray(d.sample(n=20000, seed=1).X, dtype=np.float64), rowvar=False)
    assert abs(cd[:30, :30][~np.eye(30, dtype=bool)].mean()) < 0.03


def test_private_gaussian_releases_no_correlation_above_4000_genes():
    import anndata
    import pandas as pd

    rng = np.random.default_rng(2)
    ad = anndata.AnnData(X=rng.normal(5, 1, (40, 4001)).astype(np.float32),
                         obs=pd.DataFrame({"c": np.repeat(["a", "b"], 20)}, index=[f"s{i}" for i in range(40)]))
    m = get_model("gaussian").from_config(overrides=["privacy.epsilon=5", "preprocess.log=none"])
    m.fit(ad, label_key="c", seed=0, progress=False)
    assert m.privacy["covariance_share"] == 0.0 and m.loadings.shape == (4001, 0) and "noise_cov" not in m.privacy
    assert m.privacy["correlation"] == "not released: more than 4000 genes"


def test_the_default_releases_the_correlation_only_where_it_can_be_detected():
    """auto_covariance_share: from public n, G, ε, δ alone; more profiles or more budget lower the detection
    floor; the fit records the floor and spends nothing on a release that could not find 8% directions."""
    from rnagen.models.gaussian import auto_covariance_share, correlation_detection_floor

    f = [correlation_detection_floor(n, 400, 10.0, 1 / n, 0.3) for n in (200, 1000, 5000)]
    assert f[0] > f[1] > f[2]
    assert correlation_detection_floor(1000, 400, 1.0, 1e-3, 0.3) > correlation_detection_floor(1000, 400, 10.0,
                                                                                                1e-3, 0.3)
    assert auto_covariance_share(5000, 400, 10.0, 1 / 5000) == 0.3    # floor about 0.9%
    assert auto_covariance_share(200, 400, 10.0, 1 / 200) == 0.0      # floor about 18%
    assert auto_covariance_share(10 ** 6, 4001, 10.0, 1e-6) == 0.0    # never above 4,000 genes
    import anndata
    import pandas as pd

    rng = np.random.default_rng(3)
    ad = anndata.AnnData(X=rng.normal(5, 1, (60, 50)).astype(np.float32),
                         obs=pd.DataFrame({"c": np.repeat(["a", "b"], 30)}, index=[f"s{i}" for i in range(60)]))
    m = get_model("gaussian").from_config(overrides=["privacy.epsilon=2", "preprocess.log=none"])
    m.fit(ad, label_key="c", seed=0, progress=False)
    rec = m.privacy
    assert rec["covariance_share"] == 0.0 and rec["correlation_detection_floor"] > 0.08
    from rnagen.train.privacy import describe_privacy

    assert "correlation not released: no direction under 8%" in describe_privacy(rec)
    forced = get_model("gaussian").from_config(overrides=["privacy.epsilon=2", "preprocess.log=none",
                                                          "privacy.covariance_share=0.5"])
    forced.fit(ad, label_key="c", seed=0, progress=False)
    assert forced.privacy["covariance_share"] == 0.5 and "noise_cov" in forced.privacy
    assert "correlation of rank" in describe_privacy(forced.privacy)


def test_private_gaussian_without_the_scaler_needs_clipping_norms_of_the_data_scale():
    """Without the standard scaler (the data-independent preprocessing) the default clipping norms, those of
    standardised profiles, would clip log-scale profiles (~8 per gene) to an eighth of their norm and shrink the
    class means toward 0: refused before any fit; with norms bounding the data the means are the data's, noisier."""
    from rnagen import datasets

    base = ["privacy.epsilon=50", "preprocess.scaler=none", "preprocess.log=none", "preprocess.support=any"]
    for extra in ([], ["privacy.clip_norm=100"]):
        with pytest.raises(ConfigError, match="scaler=none needs privacy.clip_norm and privacy.clip_norm_sq"):
            get_model("gaussian").from_config(overrides=base + extra)
    ad = datasets.gtex26()[:, :20].copy()
    X = np.asarray(ad.X, dtype=np.float64)
    V = float(np.abs(X).max())
    m = get_model("gaussian").from_config(overrides=base + [f"privacy.clip_norm={V * np.sqrt(20)}",
                                                            f"privacy.clip_norm_sq={V * V * np.sqrt(20)}"])
    m.fit(ad, label_key="tissue", seed=0, progress=False)
    assert m.privacy["preprocessing"] == "data-independent"
    y = np.asarray(ad.obs["tissue"].map({lab: i for i, lab in enumerate(m.labels)}))
    means = np.stack([X[y == c].mean(0) for c in range(len(m.labels))])
    # the noise (of a norm bounding every profile) scatters the means, without shrinking them toward 0
    assert abs((m.means - means).mean()) < 0.05 * np.abs(means).mean()
    assert np.corrcoef(m.means.ravel(), means.ravel())[0, 1] > 0.9


def test_private_anchor_statistics_warn_where_clipping_would_shrink_the_profiles():
    """The anchor statistics a private diffusion model or WGAN-GP releases are clipped at sqrt(genes), a
    standardised profile's norm: on log-scale profiles (~8 per gene, preprocess.scaler=none) the clipping would
    shrink them to an eighth, said to the operator; standardised profiles pass without a word."""
    import warnings

    from rnagen.models.gaussian import anchor_statistics
    from rnagen.train.privacy import PrivacyConfig

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    z = rng.normal(0, 1, size=(120, 30)) + y[:, None]
    z = (z - z.mean(0)) / z.std(0)
    cfg = PrivacyConfig(epsilon=10.0, reproducible=True)
    for X, said in ((z, False), (8.0 + z, True)):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            anchor_statistics(X, y, 3, kind="diag", epsilon_share=0.8, privacy=cfg, seed=0)
        hits = [w for w in seen if "shrunk toward 0 by the clipping" in str(w.message)]
        assert bool(hits) == said, [str(w.message) for w in seen]
        if said:
            assert "keep preprocess.scaler=standard" in str(hits[0].message) and "5.48" in str(hits[0].message)
