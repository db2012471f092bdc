"""Conditional WGAN-GP: the gradient penalty against its closed form, the critic/generator cadence and
optimisers, configuration errors."""
from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from rnagen.errors import ConfigError
from rnagen.models import get_model
from rnagen.models.gan import WGANGPModel, gradient_penalty
from rnagen.models.gan.model import NOISE_GRID

# one torch thread: two thrash on a shared 2-core machine under load (benchmarks/RESULTS_baselines.md, "Tests")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Linear(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x, y):
        return x @ self.w


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = w.x has gradient w everywhere: penalty (||w|| - 1)^2 at every interpolate
    D = _Linear([3.0, 4.0])
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    gp = gradient_penalty(D, real, fake, torch.zeros(8, dtype=torch.long), torch.rand(8, 1))
    assert float(gp) == pytest.approx((5.0 - 1.0) ** 2)
    gp.backward()  # differentiable in the critic's weights: d/dw (||w||-1)^2 = 2(||w||-1) w/||w||
    assert torch.allclose(D.w.grad, torch.tensor([2 * 4 * 3 / 5, 2 * 4 * 4 / 5]))


def _data():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (40, 4)), rng.normal(5, 1, (40, 4))]).astype(np.float32)
    return ad.AnnData(X, obs=pd.DataFrame({"k": ["x"] * 40 + ["y"] * 40}, index=[f"s{i}" for i in range(80)]))


@pytest.mark.parametrize("optimizer,cls", [("adam", torch.optim.Adam), ("rmsprop", torch.optim.RMSprop)])
def test_n_critic_cadence_and_two_optimisers(optimizer, cls, tmp_path):
    m = get_model("wgan-gp").from_config(overrides=[
        "preprocess.log=none", "network.generator_hidden=[8]", "network.critic_hidden=[8]", "train.steps=10",
        "gan.n_critic=3", f"gan.optimizer={optimizer}", "gan.lr_generator=1e-3", "gan.lr_critic=5e-4",
        "train.log_every=5", "train.checkpoint_every=10"])
    m.fit(_data(), label_key="k", device="cpu", progress=False, run_dir=tmp_path)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    opts = state["optimizers"]
    assert set(opts) == {"critic", "generator"}
    steps = lambda o: int(next(iter(o["state"].values()))["step"])  # noqa: E731
    assert steps(opts["critic"]) == 10 and steps(opts["generator"]) == 3  # steps 2, 5, 8
    assert opts["critic"]["param_groups"][0]["lr"] == pytest.approx(5e-4)
    assert opts["generator"]["param_groups"][0]["lr"] == pytest.approx(1e-3)
    if optimizer == "adam":
        assert tuple(opts["critic"]["param_groups"][0]["betas"]) == (0.0, 0.9)  # the default adam_beta1
    assert {"loss_d", "w_dist", "gp", "loss_g"} <= set(m.history[0]) and len(m.history) == 2
    # only the generator is saved: sampling needs nothing else
    from safetensors.torch import load_file

    assert all(not k.startswith("critic") for k in load_file(str(tmp_path / "weights.safetensors")))


def test_a_resumed_gan_writes_the_training_log_of_an_uninterrupted_one(tmp_path, monkeypatch):
    """Killed at its 10th critic step, a run checkpointed every 7 steps resumes at step 7, between generator updates
    (steps 3, 6, 9...) and inside a logging window (rows every 5 steps): its training log, the generator's latest
    loss and copy share included, is an uninterrupted run's."""
    from rnagen.models.gan import network as gan_net

    cfg = ["preprocess.log=none", "network.generator_hidden=[8]", "network.critic_hidden=[8]", "train.steps=20",
           "gan.n_critic=3", "gan.copy_penalty=1", "train.log_every=5", "train.checkpoint_every=7",
           "train.val_fraction=0", "sample.noise=0"]
    full = get_model("wgan-gp").from_config(overrides=cfg)
    full.fit(_data(), label_key="k", device="cpu", progress=False, run_dir=tmp_path / "full")
    penalty, calls = gan_net.gradient_penalty, []

    def dies_at_10(*a, **kw):
        calls.append(1)
        if len(calls) > 9:
            raise KeyboardInterrupt
        return penalty(*a, **kw)

    monkeypatch.setattr(gan_net, "gradient_penalty", dies_at_10)
    with pytest.raises(KeyboardInterrupt):
        get_model("wgan-gp").from_config(overrides=cfg).fit(_data(), label_key="k", device="cpu", progress=False,
                                                            run_dir=tmp_path / "run")
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == 7
    monkeypatch.setattr(gan_net, "gradient_penalty", penalty)
    resumed = get_model("wgan-gp").from_config(overrides=cfg)
    resumed.fit(_data(), label_key="k", device="cpu", progress=False, run_dir=tmp_path / "run")
    got, want = (pd.read_csv(tmp_path / d / "train_log.csv") for d in ("run", "full"))
    assert {"loss_g", "copy_share", "loss_d"} <= set(want.columns) and list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got, want, rtol=1e-9)


@pytest.mark.parametrize("override,msg", [
    ("gan.n_critic=0", "n_critic"),
    ("gan.gp_weight=-1", "gp_weight"),
    ("network.critic_norm=batch", "critic_norm"),
    ("network.generator_hidden=[]", "generator_hidden"),
    ("gan.lr_critic=0", "lr_critic"),
    ("gan.adam_beta1=1.0", "adam_beta1"),
    ("network.critic_conditioning=film", "critic_conditioning"),
    ("gan.copy_penalty=-1", "copy_penalty"),
    ("gan.copy_quantile=0", "copy_quantile"),
    ("gan.copy_quantile=1", "copy_quantile"),
])
def test_bad_config(override, msg):
    with pytest.raises(ConfigError, match=msg):
        WGANGPModel.from_config(overrides=[override])


def test_sampler_options():
    m = get_model("wgan-gp").from_config(overrides=[
        "preprocess.log=none", "network.generator_hidden=[8]", "network.critic_hidden=[8]", "train.steps=2"])
    m.fit(_data(), label_key="k", device="cpu", progress=False)
    with pytest.raises(ConfigError, match="unknown sampler option"):
        m.sample(n_per_label=2, steps=3)
    with pytest.raises(ConfigError, match="noise"):
        m.sample(n_per_label=2, noise=-0.5)


@pytest.mark.parametrize("override,msg", [("sample.noise=-1", "sample.noise"), ("sample.noise=lots", "sample.noise"),
                                          ("sample.holdout=0", "sample.holdout"),
                                          ("sample.holdout=1", "sample.holdout")])
def test_bad_noise_config(override, msg):
    with pytest.raises(ConfigError, match=msg):
        WGANGPModel.from_config(overrides=[override])


def _mean_generator(means: np.ndarray) -> WGANGPModel:
    """A wgan-gp model whose generator outputs each class's mean exactly (no spread of its own)."""
    m = WGANGPModel.from_config(overrides=["network.generator_hidden=[8]", "network.critic_hidden=[8]"])
    m.var_names, m.labels = [f"g{i}" for i in range(means.shape[1])], [str(c) for c in range(len(means))]
    m.device = torch.device("cpu")
    m._build()
    with torch.no_grad():
        m.gan.generator.out.weight.zero_()
        m.gan.generator.out.bias.zero_()
        m.gan.generator.class_bias.weight.copy_(torch.from_numpy(means))
    return m


def test_auto_noise_finds_the_spread_the_generator_lacks():
    # Known answer: the data are N(mu_c, 0.3^2 I) and the generator gives mu_c exactly, so the output noise
    # that makes its samples score like held-out profiles is the data's own spread, 0.3
    rng = np.random.default_rng(3)
    means = rng.normal(0, 3, (3, 12)).astype(np.float32)
    y = np.repeat(np.arange(3), 80)
    X = (means[y] + 0.3 * rng.standard_normal((len(y), 12))).astype(np.float32)
    m = _mean_generator(means)
    noise, record = m._choose_noise(X[::2], y[::2], X[1::2], y[1::2], seed=0)
    assert noise in (0.25, 0.3, 0.35)
    assert record["noise"] == noise and record["n_heldout"] == 120
    assert len(record["scores"]) == len(NOISE_GRID) and max(record["scores"].values()) == record["scores"][str(noise)]
    assert record["scores"]["0.0"] < record["scores"][str(noise)] - 0.2  # without noise it scores far worse
    # the chosen noise is what sampling adds: the samples' within-class sd is the data's
    m.output_noise, m.is_fitted = noise, True
    Z = m.generate(torch.from_numpy(y), seed=1, batch_size=64)
    assert np.std(Z - means[y]) == pytest.approx(noise, rel=0.05)
    np.testing.assert_array_equal(m.generate(torch.from_numpy(y), seed=1, batch_size=64, noise=0.0), means[y])


def test_auto_noise_holds_out_profiles_records_and_reloads(tmp_path):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (60, 6)), rng.normal(4, 1, (60, 6))]).astype(np.float32)
    a = ad.AnnData(X, obs=pd.DataFrame({"k": ["x"] * 60 + ["y"] * 60}, index=[f"s{i}" for i in range(120)]))
    over = ["preprocess.log=none", "network.generator_hidden=[8]", "network.critic_hidden=[8]", "train.steps=3",
            "train.checkpoint_every=3"]
    m = get_model("wgan-gp").from_config(overrides=over)
    m.fit(a, label_key="k", device="cpu", progress=False, run_dir=tmp_path)
    # 120 profiles: the share raised so that MIN_VAL = 20 are held out (10 per class), the rest trained on
    assert m.noise_choice["n_heldout"] == 20 and m.output_noise == m.noise_choice["noise"] in NOISE_GRID
    assert len(m.gan.copy_reference) == 100  # the held-out profiles are not trained on
    assert m.sampling_note().startswith(f"output noise {m.output_noise:g} chosen on 20 held-out profiles")
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["extra"]["output_noise"] == m.output_noise
    assert meta["extra"]["noise_choice"]["scores"] == m.noise_choice["scores"]
    again = WGANGPModel.load(tmp_path, device="cpu")
    assert again.output_noise == m.output_noise
    np.testing.assert_array_equal(again.sample(n_per_label=4, seed=2).X, m.sample(n_per_label=4, seed=2).X)
    # a fixed noise is used as given, without holding anything out
    fixed = get_model("wgan-gp").from_config(overrides=over + ["sample.noise=0.4"])
    fixed.fit(a, label_key="k", device="cpu", progress=False)
    assert fixed.output_noise == 0.4 and fixed.noise_choice is None
    assert fixed.sampling_note() == "output noise 0.4 (sample.noise)"
    base = fixed.sample(n_per_label=200, seed=5, noise=0.0).X
    noisy = fixed.sample(n_per_label=200, seed=5).X
    assert not np.array_equal(base, noisy)
    # the noise is added in the transformed (scaled) space: 0.4 of each gene's training sd
    sd = fixed.pipeline.transform(X).std(0) / X.std(0)  # 1 / sd per gene
    np.testing.assert_allclose((np.asarray(noisy) - np.asarray(base)).std(0) * sd, 0.4, rtol=0.15)


def test_projection_critic_scores_the_label_by_an_inner_product():
    from rnagen.models.gan import CondCritic

    torch.manual_seed(0)
    D = CondCritic(6, 3, hidden=[8], norm="none", conditioning="projection")
    x, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 1, 0])
    h = D.body(x)
    expected = D.out(h).squeeze(1) + (D.embed(y) * h).sum(1)  # Miyato & Koyama 2018, eq. (3)
    assert torch.allclose(D(x, y), expected)
    assert D.body[0].in_features == 6  # the label does not enter the input
    # the label changes the score only through the projection term
    assert not torch.allclose(D(x, torch.zeros(5, dtype=torch.long)), D(x, torch.ones(5, dtype=torch.long)))


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
def test_minibatch_std_feature_is_the_group_spread(conditioning):
    """Karras et al. 2018: groups of G consecutive rows (the rest a smaller group), each row's last feature the
    mean over features of the within-group standard deviation; finite gradients for identical rows; off by
    default."""
    from rnagen.models.gan import CondCritic

    torch.manual_seed(0)
    D = CondCritic(6, 3, hidden=[8], norm="none", conditioning=conditioning, minibatch_std=4)
    assert D.out.in_features == 9 and CondCritic(6, 3, hidden=[8]).out.in_features == 8
    h = torch.randn(10, 8)
    got = D._with_group_std(h)
    assert torch.equal(got[:, :8], h)
    for rows in (slice(0, 4), slice(4, 8), slice(8, 10)):
        g = h[rows].double()
        want = (g.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        assert torch.allclose(got[rows, 8].double(), want.expand(len(g)), atol=1e-6)
    # a collapsed group (identical profiles) has the smallest spread, and its gradient stays finite
    x = torch.zeros(8, 6, requires_grad=True)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    (grad,) = torch.autograd.grad(D(x, y).sum(), x)
    assert torch.isfinite(grad).all()
    # the score of a row depends on the other rows of its group only through the feature
    x2 = torch.randn(8, 6)
    moved = x2.clone()
    moved[1] += 1.0
    diff = (D(moved, y) - D(x2, y)).abs()
    assert diff[0] > 0 and diff[4:].abs().max() == 0


def test_wgan_with_minibatch_std_trains_samples_and_loads(tmp_path):
    over = ["preprocess.log=none", "network.generator_hidden=[8]", "network.critic_hidden=[8]", "train.steps=4",
            "train.checkpoint_every=2", "network.critic_minibatch_std=4"]
    m = get_model("wgan-gp").from_config(overrides=over)
    m.fit(_data(), label_key="k", device="cpu", progress=False, run_dir=tmp_path)
    assert m.gan.critic.minibatch_std == 4
    a = np.asarray(m.sample(n_per_label=3, seed=1).X)
    assert np.isfinite(a).all()
    again = WGANGPModel.load(tmp_path, device="cpu")
    np.testing.assert_array_equal(a, np.asarray(again.sample(n_per_label=3, seed=1).X))
    with pytest.raises(ConfigError, match="critic_minibatch_std"):
        WGANGPModel.from_config(overrides=["network.critic_minibatch_std=-1"])


def test_class_bias_starts_at_the_class_means_and_adam_beta1(tmp_path):
    a = _data()
    m = get_model("wgan-gp").from_config(overrides=[
        "preprocess.log=none", "preprocess.scaler=none", "network.generator_hidden=[8]",
        "network.critic_hidden=[8]", "network.class_bias=true", "network.critic_conditioning=projection",
        "gan.adam_beta1=0.5", "train.steps=1", "train.ema_decay=0", "train.lr=1e-12",
        "train.checkpoint_every=1"])
    m.fit(a, label_key="k", device="cpu", progress=False, run_dir=tmp_path)
    lab = a.obs["k"].to_numpy()
    means = np.stack([a.X[lab == c].mean(0) for c in ("x", "y")])
    # one step at lr 1e-12 leaves the data-dependent initialisation in place
    np.testing.assert_allclose(m.gan.generator.class_bias.weight.detach().numpy(), means, atol=1e-5)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert tuple(state["optimizers"]["critic"]["param_groups"][0]["betas"]) == (0.5, 0.9)
    # the class offsets travel with the generator through save/load
    again = WGANGPModel.load(tmp_path, device="cpu")
    np.testing.assert_array_equal(again.sample(n_per_label=3, seed=4).X, m.sample(n_per_label=3, seed=4).X)


def test_copy_repulsion_value_and_gradient():
    from rnagen.models.gan import copy_repulsion

    ref = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    # distances to the closest reference profile: 0.5 (to ref 0), 1.0 (to ref 1), 3.0 (outside radius 2)
    fake = torch.tensor([[0.0, 0.5], [9.0, 0.0], [5.0, 3.0]], requires_grad=True)
    pen, share = copy_repulsion(fake, ref, radius=2.0)
    assert float(pen) == pytest.approx(((2.0 - 0.5) + (2.0 - 1.0) + 0.0) / 3)
    assert float(share) == pytest.approx(2 / 3)
    pen.backward()
    # descending the penalty moves each profile inside the radius straight away from its closest
    # reference profile, with gradient norm 1 / batch; the one outside gets no gradient
    np.testing.assert_allclose(fake.grad.numpy(), [[0.0, -1 / 3], [1 / 3, 0.0], [0.0, 0.0]], atol=1e-6)


def test_copy_repulsion_at_an_anchor_pushes_where_the_anchor_copies():
    from rnagen.models.gan import copy_repulsion

    ref = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    # the averaged generator (anchor) copies ref 0 for the first noise, is far from both for the second;
    # the live outputs are elsewhere: the anchor's distances and directions decide
    anchor = torch.tensor([[0.0, 0.5], [5.0, 3.0]])
    fake = torch.tensor([[9.0, 0.0], [0.0, 0.1]], requires_grad=True)
    pen, share = copy_repulsion(fake, ref, radius=2.0, anchor=anchor)
    # the hinge linearised at the anchor: (2 - 0.5) - <fake - anchor, unit vector away from ref 0>
    assert float(pen) == pytest.approx(((2.0 - 0.5) - (0.0 - 0.5)) / 2)
    assert float(share) == pytest.approx(0.5)
    pen.backward()
    np.testing.assert_allclose(fake.grad.numpy(), [[0.0, -0.5], [0.0, 0.0]], atol=1e-6)
    # at anchor = fake it is the plain hinge
    same, _ = copy_repulsion(anchor, ref, radius=2.0, anchor=anchor)
    plain, _ = copy_repulsion(anchor, ref, radius=2.0)
    assert float(same) == pytest.approx(float(plain))


def test_nearest_other_distance_is_leave_one_out():
    from rnagen.models.gan import nearest_other_distance

    X = torch.randn(23, 5, generator=torch.Generator().manual_seed(0))
    X[7] = X[3]  # a duplicate: distance 0 for both, not inf
    full = torch.cdist(X, X) + torch.diag(torch.full((23,), float("inf")))
    expected = full.min(dim=1).values.numpy()
    np.testing.assert_allclose(nearest_other_distance(X), expected, rtol=1e-5)
    assert nearest_other_distance(X)[3] == 0 and nearest_other_distance(X)[7] == 0
    rows = np.array([7, 0, 22])  # a subset of rows, still against all of X
    np.testing.assert_allclose(nearest_other_distance(X, rows), expected[rows], rtol=1e-5)
    with pytest.raises(ConfigError, match="at least 2"):
        nearest_other_distance(X[:1])


def test_copy_penalty_radius_and_log(tmp_path):
    from rnagen.models.gan import nearest_other_distance

    a = _data()
    m = get_model("wgan-gp").from_config(overrides=[
        "preprocess.log=none", "preprocess.scaler=none", "network.generator_hidden=[8]",
        "network.critic_hidden=[8]", "train.steps=4", "train.log_every=2", "train.checkpoint_every=4",
        "gan.copy_penalty=2", "gan.copy_quantile=0.25"])
    m.fit(a, label_key="k", device="cpu", progress=False, run_dir=tmp_path)
    radius = np.quantile(nearest_other_distance(torch.from_numpy(np.asarray(a.X))), 0.25)
    assert m.copy_radius == pytest.approx(radius, rel=1e-5)
    assert m.gan.copy_radius == pytest.approx(radius, rel=1e-5)
    assert all(0.0 <= r["copy_share"] <= 1.0 for r in m.history)
    # the reference profiles are training data: never written to the run folder
    from safetensors.torch import load_file

    assert not any("copy_reference" in k for k in load_file(str(tmp_path / "weights.safetensors")))
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert not any("copy_reference" in k for k in state["module"]) and "copy_reference" not in state.get("ema", {})


def test_the_copy_anchor_is_the_averaged_generator():
    from types import SimpleNamespace

    from rnagen.models.gan import WGANGP, CondCritic, CondGenerator
    from rnagen.models.gan.network import _averaged_generator_output
    from rnagen.train.ema import EMA

    torch.manual_seed(0)
    gan = WGANGP(CondGenerator(4, 2, noise_dim=3, hidden=[8], norm="layer"), CondCritic(4, 2, hidden=[8]))
    ema = EMA(gan, decay=0.5)
    with torch.no_grad():
        for p in gan.generator.parameters():
            p.add_(1.0)  # the live generator moves away from the average
    z, y = torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1])
    out = _averaged_generator_output(SimpleNamespace(ema=ema), gan.generator, z, y)
    averaged = CondGenerator(4, 2, noise_dim=3, hidden=[8], norm="layer")
    averaged.load_state_dict({k[len("generator."):]: v for k, v in ema.shadow.items() if k.startswith("generator.")})
    assert torch.allclose(out, averaged(z, y)) and not torch.allclose(out, gan.generator(z, y))
    assert _averaged_generator_output(SimpleNamespace(ema=None), gan.generator, z, y) is None


def test_copy_penalty_enters_the_generator_update():
    # one generator step, every generated profile inside the radius (quantile 0.99): with the penalty the
    # generator's outputs move away from their closest training profiles, without it they do not
    a = _data()
    ref = torch.from_numpy(np.asarray(a.X))
    z = torch.randn(64, 32, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1] * 32)

    def mean_dcr(penalty):
        m = get_model("wgan-gp").from_config(overrides=[
            "preprocess.log=none", "preprocess.scaler=none", "network.critic_hidden=[8]", "train.steps=1",
            "train.lr=1e-2", "train.ema_decay=0", f"gan.copy_penalty={penalty}", "gan.copy_quantile=0.99"])
        m.fit(a, label_key="k", seed=0, device="cpu", progress=False)
        with torch.no_grad():
            return float(torch.cdist(m.gan.generator(z, y), ref).min(dim=1).values.mean())

    # the penalty's gradient moves generated profiles away from the reference: a larger mean distance to it
    assert mean_dcr(50.0) > mean_dcr(0.0) + 0.3


def test_a_diverged_gan_is_named_when_sampled(capsys, tmp_path):
    """A WGAN-GP trained at an absurd rate makes finite values billions of training SDs away (no NaN loss to stop
    it): its samples record them (uns far_values) and `rnagen sample` says the model looks diverged; a sound
    model's samples record nothing."""
    from rnagen.cli.main import main
    from rnagen.datasets import gtex26
    from rnagen.models import get_model
    from rnagen.models._base import far_values

    a = gtex26()[:, :40].copy()
    bad = get_model("wgan-gp").from_config(overrides=["train.steps=40", "gan.lr_generator=1000",
                                                      "gan.lr_critic=1000", "sample.noise=0"])
    bad.fit(a, label_key="tissue", seed=0, progress=False)
    far = bad.sample(n_per_label=2, seed=0).uns["rnagen"]["synthetic"]["far_values"]
    assert far["share"] > 0.5 and far["max_sd"] > far["threshold_sd"] == max(50.0, 3 * np.sqrt(a.n_obs))
    bad.save(tmp_path / "run")
    assert main(["sample", str(tmp_path / "run"), "--n", "20", "--out", str(tmp_path / "s.h5ad"), "--quiet"]) == 0
    assert "the model looks diverged; train it again with a lower learning rate" in capsys.readouterr().out
    z = np.random.default_rng(0).normal(size=(500, 40)).astype(np.float32)
    assert far_values(z, 416) is None
    z[3, 7] = 80.0
    assert far_values(z, 416) == {"share": 1 / z.size, "max_sd": 80.0, "threshold_sd": 3 * np.sqrt(416)}


def test_the_noise_hold_out_keeps_copies_of_a_profile_on_one_side(monkeypatch):
    """Profiles in the data twice (planted copies of a third of them) are held out for the output noise together
    or not at all: a held-out copy of a training profile would choose the noise that keeps the generator's
    reproductions of its training profiles nearest the held-out ones."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (40, 6)), rng.normal(4, 1, (40, 6))]).astype(np.float32)
    y = np.array(["x"] * 40 + ["y"] * 40)
    X, y = np.vstack([X, X[::2]]), np.concatenate([y, y[::2]])   # rows 80-119 copy rows 0, 2, ..., 78
    a = ad.AnnData(X, obs=pd.DataFrame({"k": y}, index=[f"s{i}" for i in range(120)]))
    seen = {}
    choose = WGANGPModel._choose_noise

    def spy(self, X_fit, y_fit, X_held, y_held, *, seed):
        seen["fit"], seen["held"] = X_fit, X_held
        return choose(self, X_fit, y_fit, X_held, y_held, seed=seed)

    monkeypatch.setattr(WGANGPModel, "_choose_noise", spy)
    m = get_model("wgan-gp").from_config(overrides=["preprocess.log=none", "network.generator_hidden=[8]",
                                                    "network.critic_hidden=[8]", "train.steps=3"])
    m.fit(a, label_key="k", device="cpu", progress=False)
    fit_rows = {r.tobytes() for r in seen["fit"]}
    assert len(seen["held"]) >= 20 and not any(r.tobytes() in fit_rows for r in seen["held"])
    assert m.noise_choice["n_heldout"] == len(seen["held"])
