"""The private WGAN-GP: DP-SGD on the critic (the only network that reads the profiles) with each profile's
gradient of its own loss, gradient penalty included, clipped and noised; the generator's class offsets from
noisy class means composed into ε; the generator trained from the critic alone."""
import json
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("opacus")

import rnagen.models.gan.network as gan_net  # noqa: E402
from rnagen.models import get_model, load  # noqa: E402
from rnagen.models.gan.network import (  # noqa: E402
    WGANGP,
    CondCritic,
    CondGenerator,
    gradient_penalty,
    per_sample_critic_grads,
    wgan_gp_step,
)
from rnagen.train import TrainConfig  # noqa: E402
from rnagen.train.distributed import DistInfo  # noqa: E402
from rnagen.train.loop import _make_context  # noqa: E402
from rnagen.train.privacy import PrivacyPlan, PrivateTraining, release_rho, spent_epsilon  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ["network.generator_hidden=[16]", "network.critic_hidden=[16]", "network.noise_dim=4",
        "train.batch_size=16", "train.log_every=2"]


def _fit(data, overrides, **kw):
    # the settings as given: these tests check private training itself, not the private defaults
    # (test_privacy_defaults.py)
    model = get_model("wgan-gp").from_config(overrides=overrides, private_defaults=False)
    return model.fit(data, label_key="tissue", seed=3, device="cpu", progress=False, **kw)


# --- each profile's gradient ------------------------------------------------------------------------------
@pytest.mark.parametrize("conditioning,label_dim,drift", [("projection", 0, 0.0), ("concat", 0, 1e-3),
                                                           ("concat", 5, 0.0)])
def test_per_sample_critic_gradients_are_each_profiles_own(conditioning, label_dim, drift):
    """Against one backward pass per profile through the batch critic loss and gradient penalty of the
    non-private step (so a term left out of the per-profile loss, or a profile's gradient mixed with another's,
    shows). The critic and the profiles in float64 (the penalty's norm is taken in float32 either way, as in
    training): the two ways sum in different orders, which all-float32 arithmetic rounds apart by up to ~1e-3 of a
    small gradient on some CPUs, where either mistake moves it by its own size."""
    torch.manual_seed(0)
    D = CondCritic(7, 3, hidden=[12, 6], conditioning=conditioning, label_dim=label_dim).double()
    x, fake = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)
    y, eps = torch.tensor([0, 2, 1, 2, 0]), torch.rand(5, 1, dtype=torch.float64)
    grads, (d_real, d_fake, gp) = per_sample_critic_grads(D, x, fake, y, eps, gp_weight=10.0, drift=drift)
    for i in range(5):
        D.zero_grad()
        s = slice(i, i + 1)
        real_score = D(x[s], y[s])
        loss = D(fake[s], y[s]).sum() - real_score.sum() + 10.0 * gradient_penalty(D, x[s], fake[s], y[s], eps[s])
        if drift:
            loss = loss + drift * real_score.pow(2).sum()
        loss.backward()
        for name, p in D.named_parameters():
            torch.testing.assert_close(grads[name][i], p.grad, rtol=1e-4, atol=1e-6)
        assert float(d_real[i]) == pytest.approx(float(real_score), abs=1e-5)
        assert float(d_fake[i]) == pytest.approx(float(D(fake[s], y[s])), abs=1e-5)
        assert float(gp[i]) == pytest.approx(float(gradient_penalty(D, x[s], fake[s], y[s], eps[s])), rel=1e-4)


def _critic_step(sigma, C, xb, yb, *, B, label_weights):
    """One private step of a small WGAN-GP (the critic's DP-SGD update, then the generator's); returns the critic
    gradient the optimiser applied, the brute-force clipped and unclipped means, and the generator's labels."""
    torch.manual_seed(0)
    G = CondGenerator(6, 2, noise_dim=3, hidden=[8], norm="layer", class_bias=True)
    D = CondCritic(6, 2, hidden=[20], conditioning="projection")
    gan = WGANGP(G, D, n_critic=1, gp_weight=10.0)
    gan.label_weights = torch.tensor(label_weights)
    cfg = TrainConfig(steps=1, batch_size=B, lr=1e-3, warmup_steps=0, ema_decay=0.0, grad_clip=0.0)
    groups = {"critic": {"params": list(D.parameters()), "lr": 1e-3, "optimizer": torch.optim.SGD},
              "generator": {"params": list(G.parameters()), "lr": 1e-3, "optimizer": torch.optim.SGD}}
    ctx = _make_context(gan, cfg, device=torch.device("cpu"), dist=DistInfo(), seed=0, total=1, custom_step=True,
                        param_groups=groups)
    # the brute force: the same noise and interpolation draws the step makes, one backward pass per profile
    g = torch.Generator().manual_seed(0)
    g.set_state(ctx.generator.get_state())
    z, eps = torch.randn((len(xb), 3), generator=g), torch.rand((len(xb), 1), generator=g)
    with torch.no_grad():
        fake = G(z, yb)
    clipped = {n: torch.zeros_like(p) for n, p in D.named_parameters()}
    unclipped = {n: torch.zeros_like(p) for n, p in D.named_parameters()}
    for i in range(len(xb)):
        D.zero_grad()
        s = slice(i, i + 1)
        (D(fake[s], yb[s]).sum() - D(xb[s], yb[s]).sum()
         + 10.0 * gradient_penalty(D, xb[s], fake[s], yb[s], eps[s])).backward()
        gi = {n: p.grad.detach().clone() for n, p in D.named_parameters()}
        norm = float(torch.sqrt(sum(v.pow(2).sum() for v in gi.values())))
        for n in gi:
            clipped[n] += gi[n] * min(1.0, C / (norm + 1e-6)) / B
            unclipped[n] += gi[n] / B
    D.zero_grad()
    plan = PrivacyPlan(noise_multiplier=sigma, max_grad_norm=C, sample_rate=B / 100, expected_batch_size=B,
                       steps=1, delta=1e-5, accountant="rdp", n_train=100)
    private = PrivateTraining(plan, seed=0, reproducible=True)
    private.attach(ctx, wgan_gp_step)
    ctx.private = private
    labels = []
    hook = G.register_forward_pre_hook(lambda _m, args: labels.append(args[1].clone()))
    logs = private.step(ctx, xb, yb)
    hook.remove()
    applied = {n: p.grad.detach().clone() for n, p in D.named_parameters()}
    return applied, clipped, unclipped, labels, logs, private


def test_private_critic_step_clips_each_profile_and_adds_noise_of_sigma_c_over_b():
    g = torch.Generator().manual_seed(1)
    xb, yb = torch.randn(9, 6, generator=g) * 3, torch.randint(0, 2, (9,), generator=g)
    applied, want, unclipped, _, logs, private = _critic_step(0.0, 0.3, xb, yb, B=12, label_weights=[0.5, 0.5])
    for n in applied:
        torch.testing.assert_close(applied[n], want[n], rtol=1e-4, atol=1e-6)
    # the clipping is active here: without it the gradient would be far larger
    total = lambda d: float(torch.sqrt(sum(v.pow(2).sum() for v in d.values())))  # noqa: E731
    assert total(unclipped) > 3 * total(want)
    assert {"loss_d", "w_dist", "gp", "loss_g", "batch"} <= set(logs) and private.history == [(0.0, 0.12, 1)]
    noisy, clean = _critic_step(1.7, 0.3, xb, yb, B=12, label_weights=[0.5, 0.5])[0], applied
    diff = torch.cat([(noisy[n] - clean[n]).flatten() for n in noisy])
    assert diff.numel() > 200
    assert float(diff.std()) == pytest.approx(1.7 * 0.3 / 12, rel=0.15)


def test_private_generator_update_draws_its_labels_from_the_class_shares_not_the_batch():
    """The generator's update is post-processing of the private critic: its labels and their number come from
    the (public) class shares and the expected batch size, not from which profiles the Poisson batch holds; an
    empty batch still takes the critic's noise and the generator's step."""
    xb, yb = torch.randn(5, 6), torch.zeros(5, dtype=torch.long)
    _, _, _, labels, _, _ = _critic_step(1.0, 1.0, xb, yb, B=12, label_weights=[0.0, 1.0])
    assert torch.equal(labels[0], yb)  # the critic's generated partners carry the batch's labels
    assert len(labels[1]) == 12 and bool((labels[1] == 1).all())
    applied, _, _, labels, logs, private = _critic_step(1.0, 1.0, torch.zeros(0, 6), torch.zeros(0, dtype=torch.long),
                                                        B=12, label_weights=[0.5, 0.5])
    assert len(labels) == 1 and len(labels[0]) == 12  # the generator's update alone
    assert float(torch.cat([v.flatten() for v in applied.values()]).abs().max()) > 0  # the critic's noise
    assert "loss_d" not in logs and private.history == [(1.0, 0.12, 1)]


# --- the model ----------------------------------------------------------------------------------------------
def test_private_wgan_gp_trains_with_its_guarantee_and_its_samples_carry_it(small, tmp_path):
    model = _fit(small, TINY + ["train.steps=6", "privacy.epsilon=8"], run_dir=tmp_path / "g")
    rec = model.privacy
    assert 8 - 0.011 < rec["epsilon"] <= 8 + 1e-9
    # the class means' release and DP-SGD composed by the run's accountant
    assert rec["prior_rho"] > 0 and rec["epsilon_dpsgd"] < rec["epsilon"]
    assert rec["epsilon"] == pytest.approx(spent_epsilon(
        [(rec["noise_multiplier"], rec["sample_rate"], 6)], delta=1 / 80, accountant="auto",
        prior_rho=rec["prior_rho"]), rel=1e-9)
    assert "critic" in rec["scope"] and "post-processing" in rec["scope"]
    assert model.output_noise == 0.0 and "differential privacy" in model.noise_choice["note"]
    assert model.gan.copy_penalty == 0.0 and model.gan.copy_reference is None
    meta = json.loads((tmp_path / "g" / "meta.json").read_text())
    assert "copy_radius" not in meta and meta["privacy"]["epsilon"] == rec["epsilon"]
    assert not (tmp_path / "g" / "checkpoint.pt").exists()
    syn = load(tmp_path / "g", device="cpu").sample(n=8, seed=0)
    assert syn.uns["rnagen"]["privacy"]["epsilon"] == rec["epsilon"] and np.isfinite(syn.X).all()


def test_a_private_runs_progress_bar_shows_no_statistic_of_its_batches(small, monkeypatch):
    """The losses of private batches are outside epsilon: the progress bar shows what train_log.csv keeps (the
    schedule and the time), as a non-private run's shows its losses."""
    import rnagen.utils

    shown = []

    class Bar:
        def __init__(self, *a, **kw):
            pass

        def update(self, n=1):
            pass

        def set_postfix(self, d):
            shown.append(dict(d))

        def close(self):
            pass

    monkeypatch.setattr(rnagen.utils, "progress_bar", Bar)
    model = get_model("wgan-gp").from_config(overrides=TINY + ["train.steps=4", "privacy.noise_multiplier=1"],
                                             private_defaults=False)
    model.fit(small, label_key="tissue", seed=3, device="cpu", progress=True)
    assert shown and all(set(d) <= {"seconds"} for d in shown)
    shown.clear()
    model = get_model("wgan-gp").from_config(overrides=TINY + ["train.steps=4", "sample.noise=0"])
    model.fit(small, label_key="tissue", seed=3, device="cpu", progress=True)
    assert shown and all("loss_d" in d for d in shown)


def _offsets(overrides, X, y):
    """The generator's class offsets as the fit left them: with n_critic=2 and one step the generator takes no
    update, so they are where the model started them."""
    import anndata as ad
    import pandas as pd

    data = ad.AnnData(X.astype(np.float32), obs=pd.DataFrame({"tissue": [f"c{v}" for v in y]},
                                                             index=[f"s{i}" for i in range(len(y))]))
    data.var_names = [f"g{j}" for j in range(X.shape[1])]
    model = _fit(data, TINY + ["preprocess.scaler=none", "preprocess.log=none", "preprocess.support=any",
                               "gan.n_critic=2", "train.steps=1", "sample.noise=0", *overrides])
    return model.gan.generator.class_bias.weight.detach().double().numpy()


def test_private_class_offsets_start_from_class_means_with_the_gaussian_mechanisms_noise():
    """Without an anchor (gan.anchor=none): clipped class sums plus N(0, R^2 / (2 rho)) per coordinate,
    R = sqrt(G), divided by the class sizes, rho the release's share of epsilon by the run's accountant; zeros
    with a noise multiplier (no share to spend); the exact means without privacy."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 200)
    X = rng.normal(0.0, 0.5, (600, 60)) + np.repeat(rng.normal(0.0, 0.3, (3, 60)), 200, axis=0)
    means = np.stack([X[y == c].mean(axis=0) for c in range(3)])
    np.testing.assert_allclose(_offsets([], X, y), means, atol=1e-5)
    got = _offsets(["privacy.epsilon=2", "gan.anchor=none", "gan.anchor_epsilon_share=0.5", "privacy.accountant=rdp"],
                   X, y)
    rho = release_rho(1.0, 1 / 600, "rdp")
    want_sd = np.sqrt(60) / np.sqrt(2 * rho) / 200
    # 180 draws: the sample sd's relative spread is 1 / sqrt(2 * 180) = 5.3%; 4 of them
    assert float((got - means).std()) == pytest.approx(want_sd, rel=0.21)
    assert abs(float((got - means).mean())) < 4 * want_sd / np.sqrt(180)
    assert not (_offsets(["privacy.noise_multiplier=1"], X, y)).any()
    # each profile enters its class sum clipped to norm R (at an epsilon whose noise is negligible): half of class 0
    # at 8 (norm 8 R, clipped to 1 per gene), half at -0.5 (inside the ball): 0.25 per gene, where the class's own
    # mean, 3.75, would be cut back to the ball's boundary, 1
    X[np.flatnonzero(y == 0)[:100]] = 8.0
    X[np.flatnonzero(y == 0)[100:]] = -0.5
    big = _offsets(["privacy.epsilon=1e6", "gan.anchor=none", "privacy.accountant=rdp"], X, y)
    np.testing.assert_allclose(big[0], np.full(60, 0.25), atol=5e-3)


def test_private_class_offsets_warn_where_clipping_would_shrink_the_profiles():
    """Profiles of ~8 per gene (no standard scaler): the class sums clipped at sqrt(G) would shrink each profile to
    an eighth of its length, said to the operator; profiles of the standardised scale pass without it."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 50)
    X = rng.normal(0.0, 1.0, (150, 40))
    private = ["privacy.epsilon=2", "gan.anchor=none", "privacy.accountant=rdp"]
    with pytest.warns(UserWarning, match="starting class means clip each training profile to L2 norm 6.32"):
        _offsets(private, X + 8.0, y)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*shrunk toward 0 by the clipping.*")
        _offsets(private, X, y)


def _untrained(overrides, data):
    """A WGAN-GP fitted for one critic step with n_critic=2: its generator takes no update, so it samples what
    the model started it as."""
    return _fit(data, TINY + ["gan.n_critic=2", "train.steps=1", "sample.noise=0", *overrides])


@pytest.mark.parametrize("kind", ["diag", "full"])
def test_an_anchored_generator_starts_as_the_per_class_gaussian(small, kind, tmp_path):
    """gan.anchor: before any generator update its samples are the per-class Gaussian's (the training class
    means, and the variances or the Ledoit-Wolf covariance), in the model's transformed space; the anchor is
    saved with the generator, so a loaded run draws the same profiles."""
    from sklearn.covariance import ledoit_wolf

    raw = ["preprocess.scaler=none", "preprocess.log=none", "preprocess.support=any"]  # the model's space: X
    model = _fit(small, TINY + raw + ["gan.n_critic=2", "train.steps=1", "sample.noise=0", f"gan.anchor={kind}"],
                 run_dir=tmp_path / "a")
    assert model._anchor_kind() == kind and model.privacy is None
    c = 1
    Z = model.generate(torch.full((20000,), c), seed=0, batch_size=4096, decode=False).astype(np.float64)
    ref = np.asarray(small.X, dtype=np.float64)[(small.obs["tissue"] == model.labels[c]).to_numpy()]
    np.testing.assert_allclose(Z.mean(axis=0), ref.mean(axis=0), atol=0.05)
    want = ledoit_wolf(ref)[0] if kind == "full" else np.diag(ref.var(axis=0))
    np.testing.assert_allclose(np.cov(Z.T), want, atol=0.06 * float(np.abs(want).max()))
    if kind == "full":  # the correlation is there, not only the variances
        assert float(np.abs(want - np.diag(np.diag(want))).max()) > 0.3 * float(np.abs(want).max())
    again = load(tmp_path / "a", device="cpu")
    np.testing.assert_array_equal(again.sample(n=12, seed=4).X, model.sample(n=12, seed=4).X)


def test_the_private_anchor_is_the_private_gaussians_release_composed_into_epsilon(small):
    """With privacy.epsilon the default anchor (auto: full) holds the private Gaussian's statistics released at
    gan.anchor_epsilon_share of epsilon by the run's accountant, composed with DP-SGD; the class offsets are not
    released besides (they stay 0)."""
    model = _untrained(["privacy.epsilon=6", "gan.anchor_epsilon_share=0.7", "privacy.accountant=rdp"], small)
    rec = model.privacy
    assert model._anchor_kind() == "full" and "anchor" in rec["prior_mechanism"]
    assert rec["prior_rho"] == pytest.approx(release_rho(0.7 * 6, 1 / 80, "rdp"), rel=1e-6)
    assert 6 - 0.011 < rec["epsilon"] <= 6 + 1e-9
    assert not model.gan.generator.class_bias.weight.detach().any()
    G = model.gan.generator
    assert G.anchor_mean.abs().sum() > 0 and torch.isfinite(G.anchor_scale).all()


@pytest.mark.parametrize("sets,message", [
    (["network.critic_minibatch_std=4"], "network.critic_minibatch_std mixes the profiles"),
    (["gan.copy_penalty=3"], "gan.copy_penalty reads the training profiles"),
    (["network.generator_norm=batch"], "network.generator_norm=batch normalises the generated partners"),
    (["gan.anchor=full", "privacy.noise_multiplier=1"], "gan.anchor splits privacy.epsilon"),
])
def test_cli_refuses_what_would_read_profiles_outside_the_guarantee(cli_refuses, tmp_path, sets, message):
    eps = [] if any(s.startswith("privacy.") for s in sets) else ["privacy.epsilon=4"]
    cli_refuses("wgan-gp", TINY + ["train.steps=2"] + eps + sets, message)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    # the same settings without privacy, and copy_penalty=0 with it, are accepted
    get_model("wgan-gp").from_config(overrides=[s for s in sets if not s.startswith("privacy.")])
    get_model("wgan-gp").from_config(overrides=["privacy.epsilon=4", "gan.copy_penalty=0"])


def test_killed_private_wgan_gp_resumes_with_the_same_accountant_and_weights(small, tmp_path, monkeypatch):
    """With privacy.reproducible=true a private run killed at its 9th critic step (checkpoint at 5) and resumed
    ends as an uninterrupted one: generator weights, epsilon and the accountant's 12 steps."""
    cfg = TINY + ["train.steps=12", "train.checkpoint_every=5", "privacy.epsilon=6", "privacy.accountant=rdp",
                  "privacy.reproducible=true"]
    full = _fit(small, cfg, run_dir=tmp_path / "full")
    per_sample, calls = gan_net.per_sample_critic_grads, []

    def dies_at_9(*a, **kw):
        calls.append(1)
        if len(calls) > 8:
            raise KeyboardInterrupt
        return per_sample(*a, **kw)

    monkeypatch.setattr(gan_net, "per_sample_critic_grads", dies_at_9)
    with pytest.raises(KeyboardInterrupt):
        _fit(small, cfg, run_dir=tmp_path / "run")
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["step"] == 5 and sum(k for _, _, k in state["privacy"]["history"]) == 5
    monkeypatch.setattr(gan_net, "per_sample_critic_grads", per_sample)
    resumed = _fit(small, cfg, run_dir=tmp_path / "run")
    assert resumed.privacy["steps"] == 12 and resumed.privacy["epsilon"] == full.privacy["epsilon"]
    for k, v in full._state_tensors().items():
        torch.testing.assert_close(resumed._state_tensors()[k], v, rtol=0, atol=0)
