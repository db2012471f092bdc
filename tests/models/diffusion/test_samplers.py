"""Samplers, checked against an exact denoiser: for Gaussian data N(mu, s^2) the optimal epsilon is known in
closed form, so the samplers can be tested without training anything."""
import math

import numpy as np
import pytest
import torch

from rnagen.errors import ConfigError
from rnagen.models.diffusion.samplers import DDIMSampler, DDPMSampler, make_sampler, respace
from rnagen.models.diffusion.schedule import NoiseSchedule

from gaussian_case import MU, SD, LiveInputs, exact_denoiser  # the shared analytic case (this folder)


@pytest.mark.parametrize("spacing", ["trailing", "leading", "linspace"])
def test_respace_full_grid_is_every_step(spacing):
    assert np.array_equal(respace(1000, 1000, spacing), np.arange(999, -1, -1))


def test_respace_values():
    tr = respace(1000, 50, "trailing")
    assert tr[0] == 999 and tr[-1] == 19 and np.all(np.diff(tr) == -20)
    le = respace(1000, 50, "leading")
    assert le[0] == 980 and le[-1] == 0 and np.all(np.diff(le) == -20)
    li = respace(1000, 4, "linspace")
    assert li.tolist() == [999, 666, 333, 0]
    for S in (1, 3, 7, 333, 999):
        ts = respace(1000, S)
        assert len(ts) == S and len(set(ts.tolist())) == S and np.all(np.diff(ts) < 0)
        assert ts[0] == 999 and ts.min() >= 0
    with pytest.raises(ConfigError, match="between 1 and T"):
        respace(1000, 1001)
    with pytest.raises(ConfigError, match="between 1 and T"):
        respace(1000, 0)


def test_sampler_grid_and_previous_timestep():
    s = DDIMSampler(NoiseSchedule("quad", 100))
    s.set_timesteps(10)
    assert s.timesteps.tolist() == [99, 89, 79, 69, 59, 49, 39, 29, 19, 9]
    assert s.previous_timestep(0) == 89 and s.previous_timestep(9) == -1


def test_eta_one_sigma_is_ddpm_posterior_std():
    sch = NoiseSchedule("linear", 1000)
    s = DDIMSampler(sch)
    for t in (1, 10, 500, 999):
        beta_tilde = (1 - sch.alpha_bar(t - 1)) / (1 - sch.alpha_bar(t)) * sch.betas64[t]  # Ho et al. eq. (7)
        assert s.sigma(t, t - 1, 1.0) == pytest.approx(math.sqrt(beta_tilde), rel=1e-9)
        assert s.sigma(t, t - 1, 0.0) == 0.0


@pytest.mark.parametrize("prediction", ["eps", "v"])
@pytest.mark.parametrize("S", [1000, 37])
def test_ddim_eta1_equals_ddpm_step_by_step(prediction, S):
    sch = NoiseSchedule("quad", 1000)
    f = exact_denoiser(sch, prediction)
    ddim, ddpm = DDIMSampler(sch, prediction=prediction, eta=1.0), DDPMSampler(sch, prediction=prediction)
    ddim.set_timesteps(S), ddpm.set_timesteps(S)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 3, generator=g, dtype=torch.float64)
    y = x.clone()
    for i in range(S):
        t, tp = int(ddim.timesteps[i]), ddim.previous_timestep(i)
        z = torch.randn(x.shape, generator=g, dtype=torch.float64)
        x, x0_ddim = ddim.step(f(x, t), t, tp, x, noise=z)
        y, x0_ddpm = ddpm.step(f(y, t), t, tp, y, noise=z)
    torch.testing.assert_close(x, y, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(x0_ddim, x0_ddpm, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_ddpm_and_ddim_recover_the_data_distribution(prediction):
    sch = NoiseSchedule("quad", 1000)
    f = exact_denoiser(sch, prediction)
    n = 30_000  # below torch's parallel grain size (32768 elements): no thread hand-offs per step
    ddpm = make_sampler("ddpm", sch, prediction=prediction)
    x = ddpm.sample(f, (n, 1), steps=1000, generator=torch.Generator().manual_seed(1))
    assert float(x.mean()) == pytest.approx(MU, abs=0.02)
    assert float(x.std()) == pytest.approx(SD, rel=0.03)
    ddim = make_sampler("ddim", sch, prediction=prediction, eta=1.0)
    x2 = ddim.sample(f, (n, 1), steps=1000, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(x2, x, rtol=1e-4, atol=1e-4)  # same chain, same noise: DDIM(eta=1, S=T) == DDPM
    # deterministic DDIM with 50 respaced steps: same statistics (probability-flow discretisation)
    x3 = make_sampler("ddim", sch, prediction=prediction).sample(f, (n, 1), steps=50,
                                                                 generator=torch.Generator().manual_seed(2))
    assert float(x3.mean()) == pytest.approx(MU, abs=0.05)
    assert float(x3.std()) == pytest.approx(SD, rel=0.05)


def test_eta0_is_deterministic_given_x_T():
    sch = NoiseSchedule("quad", 1000)
    f = exact_denoiser(sch)
    s = DDIMSampler(sch)
    x_T = torch.randn(100, 4, generator=torch.Generator().manual_seed(3))
    a = s.sample(f, x_T.shape, steps=20, x_T=x_T, generator=torch.Generator().manual_seed(10))
    g = torch.Generator().manual_seed(99)
    state = g.get_state()
    b = s.sample(f, x_T.shape, steps=20, x_T=x_T, generator=g)
    assert torch.equal(a, b)
    assert torch.equal(g.get_state(), state)  # no noise was drawn after x_T
    # same seed -> same x_T -> same samples; eta > 0 draws fresh noise and changes them
    c = s.sample(f, (100, 4), steps=20, generator=torch.Generator().manual_seed(5))
    d = s.sample(f, (100, 4), steps=20, generator=torch.Generator().manual_seed(5))
    e = DDIMSampler(sch, eta=0.5).sample(f, (100, 4), steps=20, generator=torch.Generator().manual_seed(5))
    assert torch.equal(c, d) and not torch.allclose(c, e)


@pytest.mark.parametrize("S", [10, 200])
def test_memory_does_not_grow_with_steps(S):
    """The loop keeps no intermediate x_t: at every network call, at most two earlier inputs are alive."""
    sch = NoiseSchedule("quad", 1000)
    tracking = LiveInputs(exact_denoiser(sch))
    out = DDPMSampler(sch).sample(tracking, (8, 3), steps=S, generator=torch.Generator().manual_seed(0))
    assert len(tracking.seen) == S and tracking.max_alive <= 2
    del out
    assert tracking.alive() <= 1


def test_bad_options():
    sch = NoiseSchedule("quad", 100)
    with pytest.raises(ConfigError, match="prediction"):
        DDIMSampler(sch, prediction="x0")
    with pytest.raises(ConfigError, match="sampler"):
        make_sampler("euler", sch)
    with pytest.raises(ConfigError, match="eta must be a finite number >= 0, got -1"):
        DDIMSampler(sch, eta=-1)
    with pytest.raises(ConfigError, match="eta must be a finite number >= 0, got nan"):
        DDPMSampler(sch, eta=float("nan"))


def test_each_sampler_owns_its_eta():
    """ddim runs with the eta it is given (default 0); ddpm always with 1, dpm++ always with 0: another eta
    asked of either is refused, not dropped."""
    sch = NoiseSchedule("quad", 100)
    assert [make_sampler(n, sch).eta for n in ("ddim", "ddpm", "dpm++")] == [0.0, 1.0, 0.0]
    assert make_sampler("ddim", sch, eta=0.5).eta == 0.5 and make_sampler("ddpm", sch, eta=1).eta == 1.0
    with pytest.raises(ConfigError, match=r"the ddpm sampler is ancestral: eta is 1 \(got 0.3\); use ddim"):
        make_sampler("ddpm", sch, eta=0.3)


@pytest.mark.parametrize("name", ["ddim", "ddpm", "dpm++"])
def test_step_returns_the_next_sample_and_the_predicted_x0(name):
    """With an exact denoiser of N(MU, SD^2) data, the x0 a step predicts is E[x0 | x_t] (Tweedie):
    MU + SD^2 sqrt(a) (x_t - sqrt(a) MU) / (a SD^2 + 1 - a)."""
    sch = NoiseSchedule("quad", 1000)
    s = make_sampler(name, sch, prediction="v")
    s.set_timesteps(10)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t, tp = int(s.timesteps[0]), s.previous_timestep(0)
    prev, x0 = s.step(exact_denoiser(sch, "v")(x, t), t, tp, x, generator=torch.Generator().manual_seed(1))
    a = sch.alpha_bar(t)
    torch.testing.assert_close(x0, MU + SD ** 2 * math.sqrt(a) * (x - math.sqrt(a) * MU) / (a * SD ** 2 + 1 - a),
                               rtol=1e-9, atol=1e-9)
    assert prev.shape == x.shape and not torch.equal(prev, x0)
