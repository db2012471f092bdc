"""Noise multiplicity (``objective.noise_multiplicity``, Dockhorn et al. 2022): K draws per profile inside one
batch row, so DP-SGD clips each profile's gradient as one example."""
from __future__ import annotations

import pytest
import torch

from rnagen.errors import ConfigError
from rnagen.models.diffusion import DiffusionModel
from rnagen.models.diffusion.model import DiffusionObjective, ObjectiveConfig
from rnagen.models.diffusion.network import ResMLPDenoiser
from rnagen.models.diffusion.schedule import NoiseSchedule
from rnagen.train import TrainConfig
from rnagen.train.distributed import DistInfo
from rnagen.train.loop import _make_context

opacus = pytest.importorskip("opacus")
from rnagen.train.privacy import PrivacyPlan, PrivateTraining  # noqa: E402

G, L = 7, 3


def _objective(**cfg) -> DiffusionObjective:
    torch.manual_seed(0)
    net = ResMLPDenoiser(G, L, width=8, depth=1, time_dim=4, dropout=0.0)
    for p in net.parameters():  # no zero-initialised layers: every parameter gets a gradient
        torch.nn.init.normal_(p, std=0.3)
    return DiffusionObjective(net, NoiseSchedule("cosine", 50), ObjectiveConfig(**cfg))


def _batch(B=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, G, generator=g) * 2, torch.randint(0, L, (B,), generator=g)


def _dp_step(obj, xb, yb, *, C, n=40, sigma=0.0):
    """One DP-SGD step through rnagen's private path; returns the applied gradient, the per-sample gradients'
    shapes, the private trainer (detached) and the generator state the step drew (t, ε) from."""
    cfg = TrainConfig(steps=1, batch_size=len(xb), lr=1e-3, warmup_steps=0, ema_decay=0.0)
    ctx = _make_context(obj, cfg, device=torch.device("cpu"), dist=DistInfo(), seed=0, total=1, custom_step=False,
                        param_groups=None)
    plan = PrivacyPlan(noise_multiplier=sigma, max_grad_norm=C, sample_rate=len(xb) / n,
                       expected_batch_size=len(xb), steps=1, delta=1e-5, accountant="rdp", n_train=n)
    private = PrivateTraining(plan, seed=0)
    private.attach(ctx)
    state, before = ctx.generator.get_state(), {k: v.clone() for k, v in obj.state_dict().items()}
    private.step(ctx, xb, yb)
    grads = {k: p.grad.detach().clone() for k, p in obj.named_parameters()}
    shapes = [tuple(p.grad_sample.shape) for p in private._dp_optimizer.params]
    private.detach()
    obj.load_state_dict(before)  # the weights the step's gradient was taken at
    return grads, shapes, private, state


def _brute_force(obj, xb, yb, state, *, C, K):
    """Each profile's gradient of its own loss (the mean of its K draws), clipped to C, summed, / B; and the
    unclipped norms."""
    g = torch.Generator().set_state(state)
    per_sample, _ = obj.multiple_draw_losses(xb, yb, g)
    params = [p for p in obj.parameters()]
    total, norms = [torch.zeros_like(p) for p in params], []
    for i in range(len(xb)):
        gi = torch.autograd.grad(per_sample[i], params, retain_graph=True)
        norm = float(torch.sqrt(sum(v.pow(2).sum() for v in gi)))
        norms.append(norm)
        for acc, v in zip(total, gi):
            acc += v * min(1.0, C / (norm + 1e-6))
    names = [k for k, _ in obj.named_parameters()]
    return {k: v / len(xb) for k, v in zip(names, total)}, norms


@pytest.mark.parametrize("K", [4, 5])
def test_each_profile_is_clipped_as_one_example_with_k_draws(K):
    obj = _objective(noise_multiplicity=K, label_dropout=0.2, loss_weighting="min_snr")
    xb, yb = _batch()
    C = 0.05
    applied, shapes, private, state = _dp_step(obj, xb, yb, C=C)
    # opacus saw B = 6 rows, not B * K: one per-sample gradient per profile, and the accountant's q is B / n
    assert len(shapes) == len(list(obj.parameters())) and all(s[0] == len(xb) for s in shapes)
    assert private.history == [(0.0, 6 / 40, 1)]
    want, norms = _brute_force(obj, xb, yb, state, C=C, K=K)
    assert sum(nm > 2 * C for nm in norms) >= 3  # the clipping binds for most profiles
    for k in applied:
        torch.testing.assert_close(applied[k], want[k], rtol=1e-4, atol=1e-7)
    # the step's gradient: B clipped rows of norm C each, summed over B, so its norm is at most C
    assert float(torch.sqrt(sum(v.pow(2).sum() for v in applied.values()))) <= C * (1 + 1e-5)


def test_one_draw_in_the_multiplicity_path_is_the_current_private_step():
    # antithetic pairs are drawn per batch in the K = 1 path and per profile with K draws, so compare without
    xb, yb = _batch(B=5, seed=3)
    plain, *_ = _dp_step(_objective(antithetic=False), xb, yb, C=0.05)
    obj = _objective(antithetic=False)
    obj.forward = lambda x0, y, generator=None: _as_loss(obj.multiple_draw_losses(x0, y, generator))
    via_k, *_ = _dp_step(obj, xb, yb, C=0.05)
    for k in plain:
        torch.testing.assert_close(via_k[k], plain[k], rtol=1e-5, atol=1e-8)
    assert any(float(v.abs().max()) > 0 for v in plain.values())


def _as_loss(pair):
    from rnagen.train import LossOutput

    return LossOutput(loss=pair[0].mean())


def test_k_draws_average_the_per_draw_losses():
    obj = _objective(noise_multiplicity=6, label_dropout=0.0)
    xb, yb = _batch(B=4)
    per_sample, per_draw = obj.multiple_draw_losses(xb, yb, torch.Generator().manual_seed(0))
    assert per_draw.shape == (4, 6)
    torch.testing.assert_close(per_sample, per_draw.mean(1))
    loss = obj(xb, yb, generator=torch.Generator().manual_seed(0)).loss
    torch.testing.assert_close(loss, per_draw.mean())
    # the draws differ across the K copies of one profile (K independent (t, ε), not one repeated)
    assert float(per_draw.detach().std(dim=1).min()) > 0


@pytest.mark.parametrize("k", [0, -2])
def test_noise_multiplicity_below_one_is_a_config_error(k):
    with pytest.raises(ConfigError, match="objective.noise_multiplicity"):
        DiffusionModel.from_config(overrides=[f"objective.noise_multiplicity={k}"])
