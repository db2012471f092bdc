"""The Gaussian-anchored denoiser (``objective.anchor``): the exact Gaussian prediction plus a learned residual,
and, for private runs, the anchor's noisy statistics composed with DP-SGD in the accountant."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from rnagen.errors import ConfigError
from rnagen.models.diffusion import DiffusionModel
from rnagen.models.diffusion.network import AnchoredDenoiser, ResMLPDenoiser
from rnagen.models.diffusion.schedule import NoiseSchedule

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ["network.width=16", "network.depth=1", "network.time_dim=8", "schedule.T=50", "sample.steps=5",
        "train.batch_size=32", "train.log_every=5", "train.val_fraction=0"]


def _gaussian_net(kind: str, prediction: str, *, G=4, seed=0):
    """An anchored network with zero residual around one known class Gaussian (label 0)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(G, G))
    cov = A @ A.T / G + 0.2 * np.eye(G) if kind == "full" else np.diag(rng.uniform(0.2, 2.0, G))
    mean = rng.normal(0, 1.5, G)
    sched = NoiseSchedule("cosine", 100)
    net = AnchoredDenoiser(ResMLPDenoiser(G, 1, width=8, depth=1, time_dim=4), sched.alphas_cumprod,
                           prediction=prediction, kind=kind)
    w, U = np.linalg.eigh(cov)
    means = torch.tensor(np.stack([mean, mean]), dtype=torch.float32)
    eig = torch.tensor(np.stack([w, w]) if kind == "full" else np.stack([np.diag(cov)] * 2), dtype=torch.float32)
    basis = torch.tensor(np.stack([U, U]), dtype=torch.float32) if kind == "full" else None
    net.set_anchor(means, eig, basis)
    return net, sched, mean, cov


@pytest.mark.parametrize("kind", ["diag", "full"])
@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_anchor_is_the_least_squares_predictor_of_gaussian_data(kind, prediction):
    """For Gaussian x0 the anchor equals the best linear (= best) predictor of ε or v from x_t, fitted by
    least squares on many draws, at every noise level."""
    net, sched, mean, cov = _gaussian_net(kind, prediction)
    rng = np.random.default_rng(1)
    n, G = 200_000, len(mean)
    x0 = rng.multivariate_normal(mean, cov, n)
    eps = rng.standard_normal((n, G))
    for t in (3, 40, 95):
        a = float(sched.alphas_cumprod[t])
        xt = np.sqrt(a) * x0 + np.sqrt(1 - a) * eps
        target = eps if prediction == "eps" else np.sqrt(a) * eps - np.sqrt(1 - a) * x0
        design = np.hstack([xt, np.ones((n, 1))])
        coef = np.linalg.lstsq(design, target, rcond=None)[0]
        probe = rng.multivariate_normal(np.sqrt(a) * mean, a * cov + (1 - a) * np.eye(G), 50)
        got = net.anchor(torch.tensor(probe, dtype=torch.float32), torch.full((50,), t),
                         torch.zeros(50, dtype=torch.long)).numpy()
        # the closed form, by a plain matrix inverse in float64
        r = np.linalg.solve(a * cov + (1 - a) * np.eye(G), (probe - np.sqrt(a) * mean).T).T
        e = np.sqrt(1 - a) * r
        exact = e if prediction == "eps" else np.sqrt(a) * e - np.sqrt(1 - a) * (mean + np.sqrt(a) * r @ cov)
        np.testing.assert_allclose(got, exact, atol=2e-4 * max(1.0, np.abs(exact).max()))
        # ... which is the least-squares predictor (to Monte-Carlo error)
        np.testing.assert_allclose(got, np.hstack([probe, np.ones((50, 1))]) @ coef, atol=0.06)
    # the network's zero-initialised residual adds nothing
    probe_t = torch.tensor(probe, dtype=torch.float32)
    full = net(probe_t, torch.full((50,), 95), torch.zeros(50, dtype=torch.long))
    torch.testing.assert_close(full, net.anchor(probe_t, torch.full((50,), 95), torch.zeros(50, dtype=torch.long)))


def test_anchor_takes_the_noise_multiplicity_shapes():
    """(B, K, genes) inputs with (B, K) timesteps and labels give each copy its own prediction."""
    net, _, _, _ = _gaussian_net("full", "v")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 4, generator=g)
    t = torch.randint(0, 100, (3, 5), generator=g)
    y = torch.randint(0, 2, (3, 5), generator=g)
    out = net.anchor(x, t, y)
    flat = net.anchor(x.reshape(15, 4), t.reshape(15), y.reshape(15)).reshape(3, 5, 4)
    torch.testing.assert_close(out, flat)


@pytest.fixture(scope="module")
def gaussian_data():
    import anndata as ad
    import pandas as pd

    rng = np.random.default_rng(0)
    G, n = 6, 600
    A = rng.normal(size=(3, G, G))
    covs = A @ A.transpose(0, 2, 1) / G + 0.1 * np.eye(G)
    means = rng.normal(0, 2, (3, G))
    y = np.repeat(np.arange(3), n // 3)
    X = np.stack([rng.multivariate_normal(means[c], covs[c]) for c in y])
    obs = pd.DataFrame({"c": pd.Categorical([f"k{c}" for c in y])}, index=[str(i) for i in range(n)])
    return ad.AnnData(X.astype(np.float32), obs=obs)


@pytest.mark.parametrize("kind", ["diag", "full"])
def test_untrained_anchored_model_samples_its_class_gaussians(gaussian_data, kind):
    """With the residual untouched (a learning rate of 0 in effect) DPM-Solver++ draws the anchor's Gaussian:
    class means and covariances of 6,000 draws match the anchor's statistics."""
    m = DiffusionModel.from_config(overrides=TINY + [f"objective.anchor={kind}", "train.steps=1", "train.lr=1e-30",
                                                     "preprocess.scaler=none", "preprocess.log=none",
                                                     "schedule.T=1000", "sample.steps=20"])
    m.fit(gaussian_data, label_key="c", seed=0, device="cpu", progress=False)
    S = m.sample(n_per_label=6000, seed=1)
    lab = S.obs["c"].astype(str).to_numpy()
    net = m.net
    assert isinstance(net, AnchoredDenoiser)
    for c in range(3):
        Z = np.asarray(S.X)[lab == f"k{c}"]
        lam = net.anchor_eig[c].numpy().astype(np.float64)
        U = net.anchor_basis[c].numpy() if kind == "full" else np.eye(6)
        cov = (U * lam) @ U.T
        np.testing.assert_allclose(Z.mean(0), net.anchor_mean[c].numpy(), atol=4 * np.sqrt(lam.max() / 6000) + 0.02)
        np.testing.assert_allclose(np.cov(Z, rowvar=False), cov, atol=0.08 * np.abs(cov).max())
    # the anchor was fitted to the data: the full one's covariance is the class's (shrunk) covariance
    X = np.asarray(gaussian_data.X, dtype=np.float64)
    y = gaussian_data.obs["c"].cat.codes.to_numpy()
    np.testing.assert_allclose(net.anchor_mean[0].numpy(), X[y == 0].mean(0), atol=1e-5)
    if kind == "full":
        off = np.cov(X[y == 0], rowvar=False)[0, 1]
        U, lam = net.anchor_basis[0].numpy(), net.anchor_eig[0].numpy()
        assert ((U * lam) @ U.T)[0, 1] == pytest.approx(off, rel=0.2)


def test_training_the_residual_moves_away_from_the_anchor_and_round_trips(gaussian_data, tmp_path):
    from rnagen.models import load

    m = DiffusionModel.from_config(overrides=TINY + ["objective.anchor=full", "train.steps=30"])
    m.fit(gaussian_data, label_key="c", seed=0, device="cpu", progress=False, run_dir=tmp_path / "r")
    assert isinstance(m.net, AnchoredDenoiser)
    assert m.net.net.out.weight.abs().sum() > 0  # the residual trained
    m.save(tmp_path / "r")
    back = load(tmp_path / "r")
    a = np.asarray(m.sample(n_per_label=5, seed=2).X)
    b = np.asarray(back.sample(n_per_label=5, seed=2).X)
    np.testing.assert_array_equal(a, b)


def test_anchor_option_errors_are_one_line():
    with pytest.raises(ConfigError, match=r"objective.anchor.*one of \['none', 'diag', 'full', 'auto'\]"):
        DiffusionModel.from_config(overrides=["objective.anchor=class"])
    with pytest.raises(ConfigError, match="anchor_epsilon_share"):
        DiffusionModel.from_config(overrides=["objective.anchor_epsilon_share=1.5"])


# --- private runs: the anchor's release composed with DP-SGD ---------------------------------------------
needs_opacus = pytest.mark.skipif(importlib.util.find_spec("opacus") is None, reason="opacus is not installed")


@needs_opacus
def test_spent_epsilon_composes_a_gaussian_release_with_either_accountant():
    from opacus.accountants import PRVAccountant, RDPAccountant

    from rnagen.train.privacy import gaussian_mechanism_epsilon, spent_epsilon, zcdp_to_dp

    hist, delta, rho = [(1.2, 0.1, 200)], 1e-4, 0.3
    for accountant, cls in (("rdp", RDPAccountant), ("prv", PRVAccountant)):
        acc = cls()
        acc.history = list(hist)
        sgd = acc.get_epsilon(delta=delta)
        alone = spent_epsilon([], delta=delta, accountant=accountant, prior_rho=rho)
        both = spent_epsilon(hist, delta=delta, accountant=accountant, prior_rho=rho)
        # composing costs more than either part and less than their sum (basic composition)
        assert max(sgd, alone) < both < sgd + alone
        # a negligible release leaves opacus's ε
        assert spent_epsilon(hist, delta=delta, accountant=accountant, prior_rho=1e-12) == pytest.approx(
            sgd, rel=1e-3 if accountant == "prv" else 1e-6)
        if accountant == "rdp":  # RDP's conversion is between the exact one and Bun & Steinke's zCDP bound
            assert gaussian_mechanism_epsilon(rho, delta) < alone <= zcdp_to_dp(rho, delta)
            # the release is α ρ at every order: the history entry of noise 1/sqrt(2ρ) at sample rate 1
            from opacus.accountants.analysis.rdp import get_privacy_spent

            orders = np.asarray(RDPAccountant.DEFAULT_ALPHAS, dtype=float)
            assert alone == pytest.approx(get_privacy_spent(orders=orders, rdp=rho * orders, delta=delta)[0],
                                          rel=1e-9)
        else:  # PRV's is the exact one, within its error bound of 0.01 and from above
            assert gaussian_mechanism_epsilon(rho, delta) <= alone <= gaussian_mechanism_epsilon(rho, delta) + 0.011
            rdp_both = spent_epsilon(hist, delta=delta, accountant="rdp", prior_rho=rho)
            assert both < rdp_both  # tighter than RDP on the composition


@needs_opacus
def test_plan_with_a_prior_release_spends_the_target_in_total():
    from rnagen.train.privacy import PrivacyConfig, plan_privacy, spent_epsilon

    cfg = PrivacyConfig(epsilon=4.0, accountant="rdp")
    plain = plan_privacy(cfg, n=1000, batch_size=100, steps=300)
    plan = plan_privacy(cfg, n=1000, batch_size=100, steps=300, prior_rho=0.05, prior_mechanism="x")
    spent = spent_epsilon([(plan.noise_multiplier, plan.sample_rate, 300)], delta=plan.delta, accountant="rdp",
                          prior_rho=0.05)
    assert 4.0 - 0.01 <= spent <= 4.0
    assert plan.noise_multiplier > plain.noise_multiplier  # the release's share costs DP-SGD noise
    with pytest.raises(ConfigError, match="statistics released before DP-SGD alone .*objective.anchor_epsilon_share"):
        plan_privacy(cfg, n=1000, batch_size=100, steps=300, prior_rho=5.0)
    for accountant in ("prv", "auto"):
        other = plan_privacy(PrivacyConfig(epsilon=4.0, accountant=accountant), n=1000, batch_size=100,
                             steps=300, prior_rho=0.05)
        spent = spent_epsilon([(other.noise_multiplier, other.sample_rate, 300)], delta=other.delta,
                              accountant=accountant, prior_rho=0.05)
        assert 4.0 - 0.01 <= spent <= 4.0 and other.noise_multiplier < plan.noise_multiplier


@needs_opacus
def test_private_anchored_diffusion_spends_the_target_in_total(gaussian_data):
    m = DiffusionModel.from_config(overrides=TINY + ["objective.anchor=diag", "train.steps=10", "privacy.epsilon=5",
                                                     "objective.anchor_epsilon_share=0.4"], private_defaults=False)
    m.fit(gaussian_data, label_key="c", seed=0, device="cpu", progress=False)
    rec = m.privacy
    assert 5.0 - 0.011 < rec["epsilon"] <= 5.0 + 1e-9 and rec["epsilon_target"] == 5.0
    assert 0 < rec["epsilon_dpsgd"] < rec["epsilon"] and rec["prior_rho"] > 0
    assert "anchor" in rec["mechanism"]
    from rnagen.train.privacy import describe_privacy

    line = describe_privacy(rec)
    assert "and the release of the anchor's per-class Gaussian statistics" in line
    from rnagen.train.privacy import epsilon_text

    assert f"{epsilon_text(rec['epsilon_dpsgd'])} alone" in line   # rounded up, as every printed epsilon
    assert "accountant auto (the smaller epsilon of RDP and PRV)" in line
    plain = DiffusionModel.from_config(overrides=TINY + ["train.steps=10", "privacy.epsilon=5"],
                                       private_defaults=False)   # no anchor: the private defaults would add one
    plain.fit(gaussian_data, label_key="c", seed=0, device="cpu", progress=False)
    assert rec["noise_multiplier"] > plain.privacy["noise_multiplier"]
    # the anchor holds noisy, clipped statistics: the class means in the model's space, off by at least the
    # released sums' noise (σ_sum / n_c, n_c = 200) and close to them
    Xt = m.pipeline.transform(np.asarray(gaussian_data.X, dtype=np.float64))
    y = gaussian_data.obs["c"].cat.codes.to_numpy()
    exact = np.stack([Xt[y == c].mean(0) for c in range(3)])
    err = m.net.anchor_mean[:3].numpy() - exact
    from rnagen.models.gaussian import noise_scales
    from rnagen.train.privacy import gaussian_mechanism_epsilon, release_rho, spent_epsilon

    # the anchor's share of ε by the run's (default: auto) accountant, noised as that Gaussian mechanism
    assert rec["accountant"] == "auto"
    assert rec["prior_rho"] == pytest.approx(release_rho(0.4 * 5, 1 / 600, "auto"), rel=1e-8)
    assert 2.0 - 0.011 <= spent_epsilon([], delta=1 / 600, accountant="auto", prior_rho=rec["prior_rho"]) <= 2.0
    eps_anchor = gaussian_mechanism_epsilon(rec["prior_rho"], 1 / 600)
    sd = noise_scales(eps_anchor, 1 / 600, clip_norm=np.sqrt(6), clip_norm_sq=np.sqrt(18))["sigma_sum"] / 200
    assert noise_scales(eps_anchor, 1 / 600, clip_norm=1, clip_norm_sq=1)["rho"] == pytest.approx(rec["prior_rho"])
    assert err.std() > 0.5 * sd
    assert np.corrcoef(m.net.anchor_mean[:3].numpy().ravel(), exact.ravel())[0, 1] > 0.95


def test_private_full_anchor_holds_the_private_gaussians_correlation(gaussian_data):
    """objective.anchor=full with privacy: each class's covariance is its released standard deviations times
    the released low-rank correlation (rnagen.models.gaussian.private_correlation), and the whole still spends
    the target."""
    m = DiffusionModel.from_config(overrides=TINY + ["objective.anchor=full", "train.steps=10",
                                                     "privacy.epsilon=5", "privacy.reproducible=true"])
    m.fit(gaussian_data, label_key="c", seed=0, device="cpu", progress=False)
    rec = m.privacy
    assert 5.0 - 0.011 < rec["epsilon"] <= 5.0 + 1e-9 and "within-class correlation" in rec["mechanism"]
    U, w = m.net.anchor_basis.double().numpy(), m.net.anchor_eig.double().numpy()
    covs = np.einsum("cij,cj,ckj->cik", U, w, U)
    sd = np.sqrt(np.einsum("cii->ci", covs))
    corr = covs / sd[:, :, None] / sd[:, None, :]
    # one correlation shared by every class (and the pooled row), with a unit diagonal
    np.testing.assert_allclose(corr, np.broadcast_to(corr[0], corr.shape), atol=1e-4)
    # and it is the private Gaussian's released correlation, recomputed from the same profiles and noise seed
    from rnagen.models.gaussian import auto_covariance_share, private_class_moments

    Xt = m.pipeline.transform(np.asarray(gaussian_data.X, dtype=np.float64))
    y = gaussian_data.obs["c"].cat.codes.to_numpy()
    from rnagen.train.privacy import gaussian_mechanism_epsilon, release_rho

    eps_anchor = gaussian_mechanism_epsilon(release_rho(0.8 * 5.0, 1 / 600, "auto"), 1 / 600)
    share = auto_covariance_share(600, 6, eps_anchor, 1 / 600)
    st = private_class_moments(Xt, y, 3, epsilon=eps_anchor, delta=1 / 600, clip_norm=np.sqrt(6),
                               clip_norm_sq=np.sqrt(18), rng=np.random.default_rng([0, 0xA4C0]), pooled=True,
                               covariance_share=share)
    released = st["loadings"] @ st["loadings"].T + np.diag(st["unique_sd"] ** 2)
    assert share > 0 and st["loadings"].shape[1] >= 1
    assert np.abs(released - np.eye(6)).max() > 0.1          # a correlation, not the identity
    np.testing.assert_allclose(corr[0], released, atol=1e-4)


def test_private_full_anchor_above_the_gene_limit_is_diagonal(monkeypatch, gaussian_data):
    """Above 4,000 genes the private Gaussian releases no correlation, so a private anchor=full is built as diag
    (no genes x genes eigenbasis per class) instead of refused; the non-private full anchor is still refused."""
    import rnagen.models.diffusion.model as dm

    monkeypatch.setattr(dm, "FULL_COVARIANCE_MAX_GENES", 5)  # the data have 6 genes
    m = DiffusionModel.from_config(overrides=TINY + ["objective.anchor=full", "train.steps=4", "privacy.epsilon=5"])
    m.fit(gaussian_data, label_key="c", seed=0, device="cpu", progress=False)
    assert m.net.kind == "diag" and not hasattr(m.net, "anchor_basis")
    assert "within-class correlation" not in m.privacy["mechanism"]


def test_private_anchor_refusal_names_the_fix():
    for kind in ("diag", "full"):
        with pytest.raises(ConfigError, match="set privacy.epsilon instead.*objective.anchor=auto"):
            DiffusionModel.from_config(overrides=TINY + ["train.steps=2", f"objective.anchor={kind}",
                                                         "privacy.noise_multiplier=1"])


@needs_opacus
def test_auto_anchor_with_a_noise_multiplier_is_no_anchor(gaussian_data, tmp_path):
    """With privacy.noise_multiplier there is no target ε to give the statistics a share of: auto builds the
    plain denoiser (no statistics released, DP-SGD alone, as without an anchor), and loads back as it."""
    from rnagen.models import load
    from rnagen.models.diffusion.network import AnchoredDenoiser

    over = TINY + ["train.steps=4", "privacy.noise_multiplier=1", "privacy.reproducible=true"]
    m = DiffusionModel.from_config(overrides=over + ["objective.anchor=auto"])
    m.fit(gaussian_data, label_key="c", seed=0, device="cpu", progress=False)
    assert not isinstance(m.net, AnchoredDenoiser) and "anchor" not in m.privacy["mechanism"]
    plain = DiffusionModel.from_config(overrides=over)
    plain.fit(gaussian_data, label_key="c", seed=0, device="cpu", progress=False)
    assert m.privacy["epsilon"] == plain.privacy["epsilon"]
    a = np.asarray(m.sample(n_per_label=3, seed=1, progress=False).X)
    np.testing.assert_array_equal(a, np.asarray(plain.sample(n_per_label=3, seed=1, progress=False).X))
    m.save(tmp_path / "r")
    back = load(tmp_path / "r")
    assert not isinstance(back.net, AnchoredDenoiser)
    np.testing.assert_array_equal(a, np.asarray(back.sample(n_per_label=3, seed=1, progress=False).X))


def test_full_anchor_is_refused_for_many_genes(monkeypatch, gaussian_data):
    import rnagen.models.diffusion.model as dm

    monkeypatch.setattr(dm, "FULL_COVARIANCE_MAX_GENES", 5)  # the data have 6 genes
    m = DiffusionModel.from_config(overrides=TINY + ["train.steps=2", "objective.anchor=full"])
    with pytest.raises(ConfigError, match="use objective.anchor=diag"):
        m.fit(gaussian_data, label_key="c", seed=0, device="cpu", progress=False)


def test_auto_anchor_is_full_up_to_the_gene_limit_and_diagonal_above(monkeypatch, gaussian_data, tmp_path):
    """objective.anchor=auto: the full anchor (one eigenbasis per class) where it fits, diag above 4,000 genes
    instead of the full anchor's refusal; both train, sample, and load back as the anchor they were built."""
    import rnagen.models.diffusion.model as dm
    from rnagen.models import load

    over = TINY + ["train.steps=2", "objective.anchor=auto"]
    m = DiffusionModel.from_config(overrides=over)
    m.fit(gaussian_data, label_key="c", seed=0, device="cpu", progress=False)
    assert m.net.kind == "full" and m.net.anchor_basis.shape[-1] == 6
    monkeypatch.setattr(dm, "FULL_COVARIANCE_MAX_GENES", 5)  # the data have 6 genes
    m = DiffusionModel.from_config(overrides=over)
    m.fit(gaussian_data, label_key="c", seed=0, device="cpu", progress=False)
    assert m.net.kind == "diag" and not hasattr(m.net, "anchor_basis")
    a = np.asarray(m.sample(n_per_label=3, seed=1, progress=False).X)
    m.save(tmp_path / "r")
    back = load(tmp_path / "r")
    assert back.net.kind == "diag"
    np.testing.assert_array_equal(a, np.asarray(back.sample(n_per_label=3, seed=1, progress=False).X))
    assert np.isfinite(a).all()


def test_anchor_keeps_float32_precision_for_low_precision_inputs():
    """bfloat16 inputs (mixed precision on a GPU) get the float32 prediction, rounded once at the end."""
    net, _, _, _ = _gaussian_net("full", "v")
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    t, y = torch.full((8,), 1), torch.zeros(8, dtype=torch.long)
    ref = net.anchor(x, t, y)
    low = net.anchor(x.bfloat16(), t, y)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), net.anchor(x.bfloat16().float(), t, y).bfloat16().float())
    assert torch.isfinite(low).all() and (low.float() - ref).abs().max() < 0.05 * ref.abs().max()
