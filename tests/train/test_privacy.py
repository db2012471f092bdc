"""Differentially private training (``rnagen.train.privacy``): the accountant is opacus's, clipping and noise
are in force at the sizes DP-SGD prescribes, a resumed run keeps its accountant, and bad requests are one-line
errors."""
import sys

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("opacus")

from opacus.accountants import PRVAccountant, RDPAccountant  # noqa: E402
from opacus.accountants.utils import get_noise_multiplier  # noqa: E402

import rnagen.train.privacy as privacy_mod  # noqa: E402
from rnagen.cli.main import main  # noqa: E402
from rnagen.errors import ConfigError  # noqa: E402
from rnagen.models import get_model  # noqa: E402
from rnagen.train import LossOutput, TrainConfig  # noqa: E402
from rnagen.train.distributed import DistInfo  # noqa: E402
from rnagen.train.loop import _make_context  # noqa: E402
from rnagen.train.privacy import (  # noqa: E402
    PrivacyConfig,
    PrivacyPlan,
    PrivateTraining,
    dp_to_zcdp,
    gaussian_mechanism_delta,
    gaussian_mechanism_epsilon,
    gaussian_mechanism_rho,
    plan_privacy,
    release_rho,
    spent_epsilon,
    zcdp_to_dp,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ["network.width=16", "network.depth=1", "network.time_dim=8", "schedule.T=50", "sample.steps=5",
        "train.batch_size=32", "train.log_every=5"]


def _fit(name, data, overrides, **kw):
    # the settings as given: these tests check DP-SGD itself, not the private defaults (test_privacy_defaults.py)
    model = get_model(name).from_config(overrides=overrides, private_defaults=False)
    return model.fit(data, label_key="tissue", seed=3, device="cpu", progress=False, **kw)


# --- the accountant --------------------------------------------------------------------------------------
@pytest.mark.parametrize("accountant,cls", [("rdp", RDPAccountant), ("prv", PRVAccountant)])
def test_spent_epsilon_is_opacus_accountants(small, accountant, cls):
    model = _fit("diffusion", small, TINY + ["train.steps=12", "privacy.noise_multiplier=0.8",
                                            f"privacy.accountant={accountant}", "privacy.delta=1e-3"])
    rec = model.privacy
    q = 32 / 80
    assert rec["sample_rate"] == pytest.approx(q) and rec["steps"] == 12 and rec["noise_multiplier"] == 0.8
    ref = cls()
    for _ in range(12):
        ref.step(noise_multiplier=0.8, sample_rate=q)
    assert rec["epsilon"] == pytest.approx(ref.get_epsilon(delta=1e-3), rel=1e-9)
    assert rec["accountant"] == accountant and rec["delta"] == 1e-3 and rec["sampling"] == "poisson"


def test_epsilon_target_sets_opacus_noise_multiplier_and_delta_defaults_to_one_over_n(small):
    model = _fit("diffusion", small, TINY + ["train.steps=15", "privacy.epsilon=3", "privacy.accountant=rdp"])
    rec = model.privacy
    want = get_noise_multiplier(target_epsilon=3.0, target_delta=1 / 80, sample_rate=32 / 80, steps=15,
                                accountant="rdp")
    assert rec["noise_multiplier"] == want and rec["delta"] == 1 / 80
    assert 3.0 - 0.011 < rec["epsilon"] <= 3.0 and rec["epsilon_target"] == 3.0


def test_auto_accountant_counts_the_smaller_of_rdp_and_prv(small):
    """The default: ε is the smaller of the two accountants' (both bound the same mechanism's), and σ the least
    that keeps it within the target, so it needs less noise than RDP alone for the same guarantee."""
    model = _fit("diffusion", small, TINY + ["train.steps=15", "privacy.epsilon=3"])
    rec = model.privacy
    assert rec["accountant"] == "auto" and 3.0 - 0.011 < rec["epsilon"] <= 3.0
    hist = [(rec["noise_multiplier"], rec["sample_rate"], 15)]
    by = {a: spent_epsilon(hist, delta=1 / 80, accountant=a) for a in ("rdp", "prv")}
    assert rec["epsilon"] == pytest.approx(min(by.values()), rel=1e-12)
    assert by["prv"] < by["rdp"]  # PRV is the tighter here, so it sets the noise
    rdp_sigma = get_noise_multiplier(target_epsilon=3.0, target_delta=1 / 80, sample_rate=32 / 80, steps=15,
                                     accountant="rdp")
    assert rec["noise_multiplier"] < rdp_sigma


def test_auto_accountant_falls_back_on_rdp_where_prv_cannot_run(monkeypatch):
    from opacus import accountants

    real, asked = accountants.create_accountant, []

    def recording(mechanism):
        asked.append(mechanism)
        return real(mechanism=mechanism)

    monkeypatch.setattr(accountants, "create_accountant", recording)
    privacy_mod._accounted.cache_clear()
    # far past PRV_MAX_EPSILON by RDP, PRV is not asked (its grid would need petabytes here)
    tiny = [(1e-6, 0.1, 10)]
    assert spent_epsilon(tiny, delta=1e-3, accountant="auto") == spent_epsilon(tiny, delta=1e-3, accountant="rdp")
    assert "prv" not in asked
    # and where PRV fails, RDP's ε stands (PRV would be the smaller here)
    hist = [(1.1, 0.1, 50)]
    rdp, prv = (spent_epsilon(hist, delta=1e-3, accountant=a) for a in ("rdp", "prv"))
    assert prv < rdp and spent_epsilon(hist, delta=1e-3, accountant="auto") == prv

    def failing(mechanism):
        if mechanism == "prv":
            raise MemoryError("grid")
        return real(mechanism=mechanism)

    monkeypatch.setattr(accountants, "create_accountant", failing)
    privacy_mod._accounted.cache_clear()   # counted afresh, not remembered from the calls above
    assert spent_epsilon(hist, delta=1e-3, accountant="auto") == rdp


def test_a_count_is_remembered_and_equals_a_fresh_one(monkeypatch):
    """The same history at the same delta is counted once (a noise search asks RDP, then auto, at one sigma; the
    rows of a benchmark plan alike), and the remembered epsilon is the one a fresh count gives."""
    from opacus import accountants

    real, asked = accountants.create_accountant, []
    monkeypatch.setattr(accountants, "create_accountant", lambda mechanism: asked.append(mechanism) or real(
        mechanism=mechanism))
    privacy_mod._accounted.cache_clear()
    hist = [(1.3, 0.05, 40)]
    first = spent_epsilon(hist, delta=1e-4, accountant="auto")
    assert sorted(asked) == ["prv", "rdp"]
    assert spent_epsilon(hist, delta=1e-4, accountant="rdp") >= first and len(asked) == 2  # auto's RDP count
    again = spent_epsilon(hist, delta=1e-4, accountant="auto")
    assert again == first and sorted(asked) == ["prv", "rdp"]
    privacy_mod._accounted.cache_clear()
    assert spent_epsilon(hist, delta=1e-4, accountant="auto") == first and len(asked) == 4
    # another delta is another count
    spent_epsilon(hist, delta=1e-5, accountant="rdp")
    assert len(asked) == 5


def test_zcdp_conversion_round_trips():
    for eps, delta in [(0.5, 1e-5), (4.0, 1e-3), (10.0, 0.01)]:
        assert zcdp_to_dp(dp_to_zcdp(eps, delta), delta) == pytest.approx(eps, rel=1e-12)


@pytest.mark.parametrize("rho,eps", [(0.05, 0.5), (0.85, 4.0), (3.36, 10.0), (3.36, 2.0)])
def test_gaussian_mechanism_delta_is_the_privacy_loss_tail(rho, eps):
    # δ(ε) = E[(1 - e^(ε - L))_+] for the privacy loss L ~ N(μ²/2, μ²) of the Gaussian mechanism, μ² = 2ρ
    # (the definition, integrated numerically; Balle & Wang 2018, Lemma 3)
    from scipy import integrate
    from scipy.stats import norm

    mu = np.sqrt(2 * rho)
    want, _ = integrate.quad(lambda L: (1 - np.exp(eps - L)) * norm.pdf(L, mu ** 2 / 2, mu), eps, np.inf,
                             epsabs=1e-14)
    assert gaussian_mechanism_delta(rho, eps) == pytest.approx(want, rel=1e-6, abs=1e-14)


@pytest.mark.parametrize("eps,delta", [(0.5, 1e-5), (1.0, 1 / 416), (4.0, 1 / 1547), (10.0, 1 / 416)])
def test_gaussian_mechanism_conversion_is_exact_and_tighter_than_zcdp(eps, delta):
    rho = gaussian_mechanism_rho(eps, delta)
    assert gaussian_mechanism_delta(rho, eps) <= delta
    assert gaussian_mechanism_delta(rho * (1 + 1e-6), eps) > delta  # the largest ρ
    assert gaussian_mechanism_epsilon(rho, delta) == pytest.approx(eps, rel=1e-9)
    assert rho > dp_to_zcdp(eps, delta)  # the zCDP bound allows less: more noise for the same guarantee
    # opacus's PRV accountant on the same mechanism (noise multiplier 1/μ, one step at sample rate 1) agrees,
    # within its ε error bound of 0.01 and from above
    acc = PRVAccountant()
    acc.history = [(1 / np.sqrt(2 * rho), 1.0, 1)]
    assert eps <= acc.get_epsilon(delta=delta) <= eps + 0.011


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_release_rho_is_the_releases_share_by_the_runs_accountant(accountant):
    rho = release_rho(8.0, 1 / 416, accountant)
    alone = spent_epsilon([], delta=1 / 416, accountant=accountant, prior_rho=rho)
    if accountant == "rdp":
        assert alone == pytest.approx(8.0, abs=1e-6) and dp_to_zcdp(8.0, 1 / 416) < rho
        assert rho < gaussian_mechanism_rho(8.0, 1 / 416)
    else:   # the exact rho where PRV's count of it stays within 8, else just below it
        assert 0.99 * gaussian_mechanism_rho(8.0, 1 / 416) <= rho <= gaussian_mechanism_rho(8.0, 1 / 416)
        assert 7.98 <= alone <= 8.0


@pytest.mark.parametrize("accountant", ["auto", "prv"])
def test_a_small_epsilons_share_is_kept_by_the_accountant(accountant, monkeypatch):
    """At ε = 0.05 (the default 80% to the statistics: 0.04) PRV's count of the exact ρ is up to 0.01 above 0.04:
    the ρ released is the one the count keeps within the share, leaving DP-SGD the rest of the budget."""
    import rnagen.train.privacy as P

    rho = release_rho(0.04, 1 / 180, accountant)
    alone = spent_epsilon([], delta=1 / 180, accountant=accountant, prior_rho=rho)
    assert 0.03 <= alone <= 0.04 and 0 < rho < gaussian_mechanism_rho(0.04, 1 / 180)
    # an accountant that counts any release above the share: no rho fits, refused in one line
    monkeypatch.setattr(P, "spent_epsilon", lambda history, *, delta, accountant, prior_rho=0.0: 0.01 + 10 * prior_rho)
    with pytest.raises(ConfigError, match="below what the"):
        release_rho(0.005, 1 / 180, accountant)


@pytest.mark.parametrize("accountant", ["auto", "rdp", "prv"])
def test_a_share_below_what_the_accountant_counts_is_refused_in_one_line(accountant):
    """At ε = 1e-3 (and 1e-9) no release fits: RDP's conversion spends about log(1/δ)/(α-1) at any ρ, PRV's count
    may be 0.01 above the truth. Refused as a configuration error, where bisecting ρ towards 0 squared a noise
    multiplier past the float range inside the accountant."""
    for eps in (1e-3, 1e-9):
        with pytest.raises(ConfigError, match="below what the") as err:
            release_rho(eps, 1 / 416, accountant)
        assert "raise privacy.epsilon" in str(err.value) and "\n" not in str(err.value)
    # the hint names another accountant only where that one counts the release: RDP's at 0.03, PRV's error not
    with pytest.raises(ConfigError) as err:
        release_rho(0.003, 1 / 416, "auto")
    assert "accountant=rdp" not in str(err.value)


# --- clipping and noise ----------------------------------------------------------------------------------
class _Toy(nn.Module):
    """A deterministic per-sample loss, so per-sample gradients can be computed one profile at a time."""

    def __init__(self, d_in=6, d_out=40):
        super().__init__()
        self.lin = nn.Linear(d_in, d_out)

    def forward(self, x, y, generator=None):
        out = self.lin(x)
        return LossOutput(loss=(out - y[:, None].float()).pow(2).sum(1).mean())


def _private_step(sigma, C, xb, yb, *, B, seed=0):
    """One DP-SGD step of the toy module; returns the gradient the optimiser applied and the module."""
    torch.manual_seed(0)
    toy = _Toy(d_in=xb.shape[1])
    cfg = TrainConfig(steps=1, batch_size=B, lr=1e-3, warmup_steps=0, ema_decay=0.0)
    ctx = _make_context(toy, cfg, device=torch.device("cpu"), dist=DistInfo(), seed=0, total=1, custom_step=False,
                        param_groups=None)
    plan = PrivacyPlan(noise_multiplier=sigma, max_grad_norm=C, sample_rate=B / 100, expected_batch_size=B,
                       steps=1, delta=1e-5, accountant="rdp", n_train=100)
    # the noise drawn from the seed: a statistical check of its scale is then the same on every run (the default
    # key from the operating system's entropy would make it fail at random, now and then)
    private = PrivateTraining(plan, seed=seed, reproducible=True)
    private.attach(ctx)
    ctx.private = private
    private.step(ctx, xb, yb)
    return {n: p.grad.detach().clone() for n, p in toy.named_parameters()}, private


def _clipped_mean_grad(xb, yb, C, B):
    """Brute force: each profile's gradient, clipped to norm C, summed and divided by the expected batch B."""
    torch.manual_seed(0)
    toy = _Toy(d_in=xb.shape[1])
    total = {n: torch.zeros_like(p) for n, p in toy.named_parameters()}
    unclipped = {n: torch.zeros_like(p) for n, p in toy.named_parameters()}
    for i in range(len(xb)):
        toy.zero_grad()
        toy(xb[i:i + 1], yb[i:i + 1]).loss.backward()
        g = {n: p.grad.detach().clone() for n, p in toy.named_parameters()}
        norm = torch.sqrt(sum(v.pow(2).sum() for v in g.values()))
        for n in g:
            total[n] += g[n] * min(1.0, C / (float(norm) + 1e-6))
            unclipped[n] += g[n]
    return {n: v / B for n, v in total.items()}, {n: v / B for n, v in unclipped.items()}


def test_per_sample_gradients_are_clipped_to_the_norm():
    g = torch.Generator().manual_seed(1)
    xb, yb = torch.randn(9, 6, generator=g) * 3, torch.randint(0, 4, (9,), generator=g)
    applied, _ = _private_step(0.0, 0.5, xb, yb, B=12)
    want, unclipped = _clipped_mean_grad(xb, yb, 0.5, 12)
    for n in applied:
        torch.testing.assert_close(applied[n], want[n], rtol=1e-4, atol=1e-6)
    # the clipping is active here: without it the gradient would be far larger
    assert float(unclipped["lin.weight"].norm()) > 5 * float(want["lin.weight"].norm())


@pytest.mark.parametrize("B", [8, 64])
def test_noise_has_the_dp_sgd_scale_sigma_c_over_b(B):
    g = torch.Generator().manual_seed(2)
    xb, yb = torch.randn(5, 6, generator=g), torch.randint(0, 4, (5,), generator=g)
    sigma, C = 1.7, 0.9
    noisy, _ = _private_step(sigma, C, xb, yb, B=B)
    clean, _ = _private_step(0.0, C, xb, yb, B=B)
    diff = torch.cat([(noisy[n] - clean[n]).flatten() for n in noisy])  # 280 noise draws
    assert diff.numel() == 6 * 40 + 40
    assert float(diff.std()) == pytest.approx(sigma * C / B, rel=0.12)
    assert abs(float(diff.mean())) < 4 * sigma * C / B / np.sqrt(diff.numel())


@pytest.mark.parametrize("sigma", [0.0, 1.3])
def test_a_batch_whose_gradients_outgrow_the_bound_is_clipped_in_parts_with_one_noise_draw(monkeypatch, sigma):
    """Per-profile gradients held at once are bounded (privacy.GRAD_SAMPLE_BYTES): a Poisson batch of 9 profiles
    whose gradients would take more is clipped and summed 2 profiles at a time, in 5 backward passes of at most 2
    profiles; the update is the unparted one's (the brute-force clipped mean without noise; with noise, the same
    draw of the same scale added once, not once a part)."""
    from rnagen.train import privacy as priv

    g = torch.Generator().manual_seed(1)
    xb, yb = torch.randn(9, 6, generator=g) * 3, torch.randint(0, 4, (9,), generator=g)
    whole, _ = _private_step(sigma, 0.5, xb, yb, B=12)
    seen: list[int] = []
    forward = _Toy.forward
    monkeypatch.setattr(_Toy, "forward", lambda self, x, y, generator=None: (seen.append(len(x)),
                                                                              forward(self, x, y))[1])
    monkeypatch.setattr(priv, "GRAD_SAMPLE_BYTES", 2 * 4 * (6 * 40 + 40))
    parted, private = _private_step(sigma, 0.5, xb, yb, B=12)
    assert private.part_rows() == 2 and seen == [2, 2, 2, 2, 1]
    for n in whole:
        torch.testing.assert_close(parted[n], whole[n], rtol=1e-5, atol=1e-7)
    if sigma == 0.0:
        want, _ = _clipped_mean_grad(xb, yb, 0.5, 12)
        for n in parted:
            torch.testing.assert_close(parted[n], want[n], rtol=1e-4, atol=1e-6)
    assert private.history == [(sigma, 0.12, 1)]


def test_an_empty_poisson_batch_still_adds_noise_and_counts_as_a_step():
    applied, private = _private_step(2.0, 1.0, torch.zeros(0, 6), torch.zeros(0, dtype=torch.long), B=10)
    flat = torch.cat([v.flatten() for v in applied.values()])
    assert float(flat.std()) == pytest.approx(2.0 * 1.0 / 10, rel=0.12)
    assert private.history == [(2.0, 0.1, 1)]


def test_poisson_batches_have_the_sample_rate_and_are_reproducible():
    plan = PrivacyPlan(noise_multiplier=1.0, max_grad_norm=1.0, sample_rate=0.25, expected_batch_size=250,
                       steps=1, delta=1e-5, accountant="rdp", n_train=1000)
    batches = PrivateTraining(plan, seed=5).batches(1000, device=torch.device("cpu"))
    sizes = [len(batches.indices(k)) for k in range(40)]
    assert np.mean(sizes) == pytest.approx(250, rel=0.05) and len(set(sizes)) > 5  # sizes vary
    assert torch.equal(batches.indices(7), batches.indices(7))
    assert not torch.equal(batches.indices(7), batches.indices(8))


# --- resume ----------------------------------------------------------------------------------------------
def _killed_at_step_8_then_resumed(small, cfg, run_dir, killed_after, *, checkpoint=None):
    """A private diffusion run killed at its 9th step (checkpoint at 5), then resumed to its end; ``checkpoint``
    is called on the checkpoint left by the kill."""
    from rnagen.models.diffusion import DiffusionObjective

    with killed_after(DiffusionObjective, 8):
        _fit("diffusion", small, cfg, run_dir=run_dir)
    if checkpoint is not None:
        checkpoint(torch.load(run_dir / "checkpoint.pt", weights_only=True))
    return _fit("diffusion", small, cfg, run_dir=run_dir)


def test_killed_private_run_resumes_with_the_same_accountant_and_weights(small, tmp_path, killed_after):
    """With privacy.reproducible=true (noise and batches from the seed) a run killed and resumed ends as an
    uninterrupted one, weights and all; the accountant's history is the checkpoint's."""
    cfg = TINY + ["train.steps=12", "train.checkpoint_every=5", "privacy.noise_multiplier=1.1",
                  "privacy.reproducible=true"]
    full = _fit("diffusion", small, cfg, run_dir=tmp_path / "full")

    def at_step_5(state):
        assert state["step"] == 5 and sum(k for _, _, k in state["privacy"]["history"]) == 5

    resumed = _killed_at_step_8_then_resumed(small, cfg, tmp_path / "run", killed_after, checkpoint=at_step_5)
    assert resumed.privacy["steps"] == 12
    assert resumed.privacy["epsilon"] == full.privacy["epsilon"]
    for k, v in full._state_tensors().items():
        torch.testing.assert_close(resumed._state_tensors()[k], v, rtol=0, atol=0)


def test_private_noise_is_secret_unless_asked_to_repeat(small, tmp_path, monkeypatch, killed_after):
    """The DP-SGD noise and Poisson batches come from a key of the operating system's entropy, not from the
    (public) seed: two runs of one seed on one data set end with other weights and say where the noise came
    from; the key is in no file of the run folder; a run killed and resumed keeps its accountant (ε of 12 steps)
    with a fresh key for the steps it had left. privacy.reproducible=true repeats a run exactly and says so."""
    cfg = TINY + ["train.steps=12", "train.checkpoint_every=5", "privacy.noise_multiplier=1.1"]
    keys: list[int] = []
    real_key = privacy_mod.noise_key
    monkeypatch.setattr(privacy_mod, "noise_key", lambda seed, **k: keys.append(real_key(seed, **k)) or keys[-1])
    a = _fit("diffusion", small, cfg, run_dir=tmp_path / "a")
    b = _fit("diffusion", small, cfg, run_dir=tmp_path / "b")
    assert len(keys) == 2 and keys[0] != keys[1] and 0 not in keys
    wa, wb = a._state_tensors(), b._state_tensors()
    assert any(not torch.equal(wa[k], wb[k]) for k in wa)
    assert a.privacy["epsilon"] == b.privacy["epsilon"] and a.privacy["noise"] == ("a key of the operating "
                                                                                   "system's entropy, not saved")
    assert a.privacy["neighbours"].startswith("add or remove one profile")
    for f in (tmp_path / "a").rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert str(keys[0]).encode() not in data and keys[0].to_bytes(8, "little") not in data, f
    resumed = _killed_at_step_8_then_resumed(small, cfg, tmp_path / "run", killed_after)
    assert resumed.privacy["steps"] == 12 and resumed.privacy["epsilon"] == a.privacy["epsilon"]
    rep = cfg + ["privacy.reproducible=true"]
    c, d = _fit("diffusion", small, rep, run_dir=tmp_path / "c"), _fit("diffusion", small, rep, run_dir=tmp_path / "d")
    assert all(torch.equal(c._state_tensors()[k], v) for k, v in d._state_tensors().items())
    assert c.privacy["noise"].startswith("the run's seed (privacy.reproducible=true")
    assert "not private against whoever knows it" in privacy_mod.describe_privacy(c.privacy)


def test_a_finished_private_run_keeps_nothing_of_the_profiles_outside_epsilon(small, tmp_path):
    """A finished private run folder holds no data digest (meta.json, manifest.json: a membership test for whoever
    knows the other profiles), no checkpoint (its digest and raw losses are only for resuming) and no batch losses
    or Poisson batch sizes in train_log.csv (statistics of private batches; a member's presence adds to a batch's
    size); it loads and samples; a non-private run keeps all three."""
    import json

    from rnagen.models import load

    _fit("diffusion", small, TINY + ["train.steps=6", "privacy.noise_multiplier=1.1"], run_dir=tmp_path / "p")
    run = tmp_path / "p"
    assert not (run / "checkpoint.pt").exists()
    assert json.loads((run / "meta.json").read_text())["fingerprint"] == "not recorded (private run)"
    assert json.loads((run / "manifest.json").read_text())["fingerprint"] == "not recorded (private run)"
    head = (run / "train_log.csv").read_text().splitlines()[0].split(",")
    assert head == ["step", "lr"]   # no losses, no Poisson batch sizes
    assert np.isfinite(load(run, device="cpu").sample(n=4, seed=0).X).all()
    _fit("diffusion", small, TINY + ["train.steps=6"], run_dir=tmp_path / "n")
    assert (tmp_path / "n" / "checkpoint.pt").exists() and "loss" in \
        (tmp_path / "n" / "train_log.csv").read_text().splitlines()[0]


def test_a_private_run_decides_divergence_on_its_weights_not_its_losses(small, monkeypatch):
    """Whether a private run diverged is read from its weights (the DP release, post-processing), not from its
    batch losses (statistics of the private batches outside ε): a NaN loss with finite weights trains on; weights
    that left the finite range stop the run with the one-line error naming the learning rate."""
    real_step = PrivateTraining.step

    def nan_loss(self, ctx, xb, yb):
        return {**real_step(self, ctx, xb, yb), "loss": float("nan")}

    monkeypatch.setattr(PrivateTraining, "step", nan_loss)
    model = _fit("diffusion", small, TINY + ["train.steps=4", "privacy.noise_multiplier=1.0"])
    assert model.privacy["steps"] == 4 and all(torch.isfinite(v).all() for v in model._state_tensors().values())
    monkeypatch.setattr(PrivateTraining, "step", real_step)
    with pytest.raises(ConfigError, match=r"^training diverged at step \d+ of 40: weight \S+ is not finite; lower "
                                          r"the learning rate \(train.lr = 1e\+30\)"):
        _fit("diffusion", small, TINY + ["train.steps=40", "train.lr=1e30", "privacy.noise_multiplier=1.0"])


# --- the models ------------------------------------------------------------------------------------------
def test_private_vae_trains_samples_and_keeps_the_data_independent_sampler(small, tmp_path):
    from rnagen.models import load

    model = _fit("vae", small, ["network.hidden=[16]", "network.latent_dim=3", "train.steps=10",
                                "train.batch_size=32", "privacy.noise_multiplier=1.2"], run_dir=tmp_path / "v")
    assert model.privacy["noise_multiplier"] == 1.2 and model.privacy["steps"] == 10
    assert torch.equal(model.net.prior_chol, torch.eye(3).repeat(4, 1, 1))  # standard prior, not fitted
    assert torch.equal(model.net.log_var, torch.zeros(24))  # decoder variance not trained
    again = load(tmp_path / "v", device="cpu")
    syn = again.sample(n=8, seed=0)
    assert syn.uns["rnagen"]["privacy"]["epsilon"] == model.privacy["epsilon"]
    assert np.isfinite(syn.X).all()


def test_non_private_fit_records_nothing(small):
    model = _fit("diffusion", small, TINY + ["train.steps=3", "train.val_fraction=0"])
    assert model.privacy is None and "privacy" not in model.sample(n=4, seed=0).uns["rnagen"]


def test_preprocessing_is_reported_data_independent_only_when_nothing_is_fitted(small):
    from rnagen.pp import set_log_state

    linear = small.copy()   # the bundled values are log2(RPKM+1): put back on the RPKM scale for a log2p1 step
    linear.X = np.exp2(np.asarray(linear.X, dtype=np.float64)) - 1.0
    set_log_state(linear, logged=False, transform="RPKM")
    m = _fit("diffusion", linear, TINY + ["train.steps=2", "privacy.noise_multiplier=1",
                                         "preprocess.scaler=none", "preprocess.log=log2p1"])
    assert m.privacy["preprocessing"] == "data-independent"
    m = _fit("diffusion", small, TINY + ["train.steps=2", "privacy.noise_multiplier=1"])
    assert m.privacy["preprocessing"] == "not covered"
    # without a log step, preprocess.support=auto reads the data (is any value below 0?)
    fixed = TINY + ["train.steps=2", "privacy.noise_multiplier=1", "preprocess.scaler=none", "preprocess.log=none"]
    assert _fit("diffusion", small, fixed).privacy["preprocessing"] == "not covered"
    assert _fit("diffusion", small, fixed + ["preprocess.support=any"]).privacy["preprocessing"] == "data-independent"


# --- errors ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sets,message", [
    (["privacy.epsilon=0"], "'privacy.epsilon' must be > 0"),
    (["privacy.epsilon=-1"], "'privacy.epsilon' must be > 0"),
    (["privacy.epsilon=2", "privacy.noise_multiplier=1"], "not both"),
    (["privacy.delta=1e-5"], "need privacy.epsilon or privacy.noise_multiplier"),
    (["privacy.epsilon=2", "train.refit=true", "train.steps=5"], "train.refit"),
    (["privacy.noise_multiplier=1", "objective.anchor=full"], "set privacy.epsilon instead"),
])
def test_cli_refuses_bad_privacy_settings_in_one_line(cli_refuses, sets, message):
    cli_refuses("diffusion", TINY + sets, message)


def test_cli_without_opacus_names_the_extra(small, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "opacus", None)  # `import opacus` now raises ImportError
    data = tmp_path / "d.h5ad"
    small.write_h5ad(data)
    out = tmp_path / "r"
    assert main(["train", str(data), "--model", "vae", "--label-key", "tissue", "--out", str(out), "--quiet",
                 "--set", "privacy.epsilon=4", "--set", "train.steps=3"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'rnagen[privacy]'" in err and len(err.strip().splitlines()) == 1
    assert not any(out.glob("*.safetensors")) and not (out / "config.toml").exists()


def test_batchnorm_vae_is_refused_for_per_sample_clipping(small):
    with pytest.raises(ConfigError, match="per-sample gradient clipping") as e:
        _fit("vae", small, ["network.norm=batch", "train.steps=2", "privacy.epsilon=4"])
    # the reason and the way on in one short line, not opacus's paragraph
    assert "BatchNorm normalises" in str(e.value) and "--set network.norm=layer" in str(e.value)
    assert len(str(e.value)) < 250 and "\n" not in str(e.value)


def test_unreachable_epsilon_is_a_config_error():
    """A target no noise multiplier up to 1e6 meets: at such a noise the steps cost next to nothing and RDP's
    conversion about log(1/δ)/(α-1) at its largest order, so the refusal names δ and ε, not the steps (1 step
    fails as 10,000 do), with what the conversion costs at that δ."""
    for acc, steps in (("auto", 10_000), ("rdp", 1), ("auto", 1), ("prv", 5)):
        with pytest.raises(ConfigError, match=r"privacy.epsilon=1e-06 cannot be reached at privacy.delta=1e-09: "
                                              r"the accountant's conversion spends about 0.251 at that delta "
                                              r"whatever the noise and the number of steps; raise privacy.delta"):
            plan_privacy(PrivacyConfig(epsilon=1e-6, delta=1e-9, accountant=acc), n=10, batch_size=10, steps=steps)
    # ε = 1 at δ = 1e-30: about 1.03 by RDP's conversion, though a noise multiplier of 12 spends less by the exact
    # count of one step
    with pytest.raises(ConfigError, match=r"spends about 1.03 at that delta"):
        plan_privacy(PrivacyConfig(epsilon=1.0, delta=1e-30), n=100, batch_size=100, steps=1)


def test_a_spent_epsilon_is_never_below_0_and_is_printed_rounded_up():
    """PRV's upper bound goes below 0 where δ alone covers the history (δ = 1/42, σ = 512, 500 full-batch
    steps): ε is 0 there. Printed ε is rounded up, so that the shorter number is never a stronger guarantee."""
    from rnagen.train.privacy import epsilon_text

    assert spent_epsilon([(512.0, 1.0, 500)], delta=1 / 42, accountant="prv") == 0.0
    assert spent_epsilon([(512.0, 1.0, 500)], delta=1 / 42, accountant="auto") == 0.0
    assert [epsilon_text(e) for e in (2.99448, 2.995, 1.0, 0.048191, 123456.7, 0.0)] == \
        ["2.995", "2.995", "1", "0.0482", "1.235e+05", "0"]


def test_delta_above_one_over_n_and_prv_past_its_range_are_refused(small):
    """δ above 1/n (a guarantee a mechanism publishing one whole profile meets) is refused for DP-SGD, the
    anchor's release and the private Gaussian, 1/n itself accepted; an explicit PRV accountant past ε 100 (it ran
    for hours at ε 1,000) is refused before training, by target or by noise multiplier, and auto counts by RDP."""
    with pytest.raises(ConfigError, match=r"privacy.delta=0.9 is above 1/n = 0.1 for the 10 training profiles"):
        plan_privacy(PrivacyConfig(epsilon=4, delta=0.9), n=10, batch_size=5, steps=10)
    assert plan_privacy(PrivacyConfig(epsilon=4, delta=0.1), n=10, batch_size=5, steps=10).delta == 0.1
    with pytest.raises(ConfigError, match="above 1/n"):
        _fit("gaussian", small, ["privacy.epsilon=4", "privacy.delta=0.5"])
    with pytest.raises(ConfigError, match="above 1/n"):
        _fit("diffusion", small, TINY + ["train.steps=2", "privacy.epsilon=4", "privacy.delta=0.5",
                                         "objective.anchor=diag"])
    with pytest.raises(ConfigError, match=r"privacy.epsilon=1000 is beyond the PRV accountant's range"):
        plan_privacy(PrivacyConfig(epsilon=1000, accountant="prv"), n=100, batch_size=10, steps=20)
    with pytest.raises(ConfigError, match=r"the epsilon of these settings .* is beyond the PRV accountant's range"):
        plan_privacy(PrivacyConfig(noise_multiplier=0.05, accountant="prv"), n=100, batch_size=50, steps=200)
    assert plan_privacy(PrivacyConfig(epsilon=1000), n=100, batch_size=10, steps=20).noise_multiplier > 0


def test_private_training_with_validation_is_refused():
    from rnagen.train.loop import _make_private

    toy = _Toy()
    cfg = TrainConfig(steps=1, batch_size=4, ema_decay=0.0)
    ctx = _make_context(toy, cfg, device=torch.device("cpu"), dist=DistInfo(), seed=0, total=1,
                        custom_step=False, param_groups=None)
    with pytest.raises(ConfigError, match="fixed length"):
        _make_private(ctx, PrivacyConfig(noise_multiplier=1.0), n=10, batch=4, total=1, seed=0,
                      custom_step=None, validator=lambda: {"score": 0.0})


def test_the_noise_of_a_step_is_drawn_apart_from_every_batch():
    """The Poisson batches and the Gaussian noise of DP-SGD come from streams of one key that never share a seed:
    on the CPU torch draws normals from the same uniforms as rand, so a shared seed made step s's noise a function
    of step s + 4's batch draws (the accounting assumes the noise independent of the subsampling)."""
    import torch

    from rnagen.train.privacy import _BATCHES, _NOISE, stream_seed

    for key in (0, 1, 42, 2**61 + 3):
        batches = {stream_seed(key, _BATCHES, k) for k in range(500)}
        noise = {stream_seed(key, _NOISE, k) for k in range(500)}
        assert len(batches) == len(noise) == 500 and not batches & noise
        assert all(0 <= s < 2**63 for s in batches | noise)
    # a private fit: the noise each step adds (its first 16 values, over sigma) is not the Box-Muller transform
    # of any step's batch uniforms (torch's CPU normals of 16 or more values: radii from the first 8 uniforms,
    # angles from the next 8), which it was for the batch 4 steps later
    import opacus.optimizers.optimizer as oo

    from rnagen.datasets import gtex26
    from rnagen.models import get_model

    noises, uniforms = [], []
    real_noise, real_rand = oo._generate_noise, torch.rand

    def noise(std, reference, generator=None, secure_mode=False):
        z = real_noise(std, reference, generator, secure_mode)
        if len(noises) < 10 and z.numel() >= 16:
            noises.append(z.flatten()[:16].double() / std)
        return z

    def rand(*size, generator=None, **kw):
        u = real_rand(*size, generator=generator, **kw)
        if generator is not None and u.ndim == 1 and u.numel() == 520:
            uniforms.append(u[:16].double())
        return u

    oo._generate_noise, torch.rand = noise, rand
    try:
        get_model("diffusion").from_config(overrides=["train.steps=14", "privacy.noise_multiplier=1",
                                                      "network.width=32"], private_defaults=False
                                           ).fit(gtex26(), label_key="tissue", device="cpu", progress=False)
    finally:
        oo._generate_noise, torch.rand = real_noise, real_rand
    assert len(noises) == 10 and len(uniforms) >= 14
    for u in uniforms:
        r = torch.sqrt(-2 * torch.log1p(-u[:8]))
        bm = torch.cat([r * torch.cos(2 * torch.pi * u[8:]), r * torch.sin(2 * torch.pi * u[8:])])
        assert all(float((bm - z).abs().max()) > 1e-3 for z in noises)


@pytest.mark.parametrize("eps,q,steps,rho", [(0.5, 0.01, 5000, 0.0), (4.0, 0.3, 300, 0.3)])
def test_auto_noise_search_meets_the_target_with_few_prv_counts(monkeypatch, eps, q, steps, rho):
    """The σ for a target ε under the auto accountant (and with a prior release) spends at most the target and
    within 0.01 of it, found with a handful of counts by the run's accountant (each a PRV numerical composition;
    the cheap RDP bound brackets it first), where a bisection from σ = 1 took a dozen or more."""
    counts = []
    every = privacy_mod.spent_epsilon

    def counted(*a, **kw):
        if kw.get("accountant") == "auto" and a and a[0]:
            counts.append(1)
        return every(*a, **kw)

    monkeypatch.setattr(privacy_mod, "spent_epsilon", counted)
    sigma = privacy_mod._composed_noise_multiplier(eps, delta=1e-3, q=q, steps=steps, prior_rho=rho,
                                                   accountant="auto")
    spent = every([(sigma, q, steps)], delta=1e-3, accountant="auto", prior_rho=rho)
    assert eps - 0.01 <= spent <= eps
    assert len(counts) <= 8


def test_a_custom_step_that_does_not_name_its_private_optimiser_is_refused():
    """A model's own step takes part in DP-SGD only when it names the optimiser whose parameters read the
    profiles (it then computes their per-profile gradients itself); any other is refused before training."""
    from rnagen.train.loop import _make_private

    toy = _Toy()
    cfg = TrainConfig(steps=1, batch_size=4, ema_decay=0.0)
    groups = {"a": {"params": [toy.lin.weight], "lr": 1e-3}, "b": {"params": [toy.lin.bias], "lr": 1e-3}}
    ctx = _make_context(toy, cfg, device=torch.device("cpu"), dist=DistInfo(), seed=0, total=1, custom_step=True,
                        param_groups=groups)

    def step(ctx, xb, yb):
        return {}

    for named in (None, "c"):
        if named is not None:
            step.private_optimizer = named
        with pytest.raises(ConfigError, match="a step that clips per-profile gradients"):
            _make_private(ctx, PrivacyConfig(noise_multiplier=1.0), n=10, batch=4, total=1, seed=0,
                          custom_step=step, validator=None)
