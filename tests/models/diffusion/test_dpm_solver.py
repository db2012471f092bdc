"""DPM-Solver++(2M) against an exact denoiser.

For Gaussian data x0 ~ N(MU, SD^2) the optimal ε (and v) is known in closed form, and so is the solution of
the probability-flow ODE: the monotone map between the Gaussians N(0, 1) at t = T-1 (approximately: the
marginal there is N(α MU, α² SD² + σ²)) and N(MU, SD^2), x_0 = MU + SD (x_T - α_T MU) / sqrt(α_T² SD² + σ_T²).
The ODE solvers (DDIM with eta 0 is the first-order one) can therefore be checked sample by sample.
"""
import math

import numpy as np
import pytest
import torch
from torch import nn

from rnagen.errors import ConfigError
from rnagen.models.diffusion import DiffusionModel, SampleConfig
from rnagen.models.diffusion.samplers import DDIMSampler, DPMSolverPPSampler, make_sampler, respace
from rnagen.models.diffusion.schedule import NoiseSchedule

from gaussian_case import MU, SD, LiveInputs, exact_denoiser  # the shared analytic case (this folder)

SCH = NoiseSchedule("quad", 1000)


def x_T(n: int = 20_000, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def ode_solution(xT: torch.Tensor) -> torch.Tensor:
    """The exact probability-flow ODE solution from t = T-1 to the clean data for N(MU, SD^2) data."""
    a = SCH.alpha_bar(SCH.T - 1)
    return MU + SD * (xT - math.sqrt(a) * MU) / math.sqrt(a * SD ** 2 + 1 - a)


def solve(name: str, steps: int, xT: torch.Tensor, prediction: str = "eps", spacing: str = "trailing"):
    s = make_sampler(name, SCH, prediction=prediction, spacing=spacing)
    return s.sample(exact_denoiser(SCH, prediction), xT.shape, steps=steps, x_T=xT, dtype=torch.float64)


def max_error(name: str, steps: int, prediction: str = "eps", spacing: str = "trailing") -> float:
    xT = x_T()
    return float((solve(name, steps, xT, prediction, spacing) - ode_solution(xT)).abs().max())


def test_registered_under_its_name():
    s = make_sampler("dpm++", SCH, prediction="v", spacing="logsnr", clip_x0=3.0)
    assert isinstance(s, DPMSolverPPSampler) and s.name == "dpm++"
    assert (s.prediction, s.spacing, s.clip_x0) == ("v", "logsnr", 3.0)


def test_one_and_two_steps_golden_against_hand_computation():
    """Algorithm 2 of Lu et al. (2022) by hand on the 5-step trailing grid 999 -> 799 -> 599, ε-prediction."""
    abar = {999: 0.0007334124595808159, 799: 0.020559306338898825, 599: 0.16864479865672416}
    for t, a in abar.items():
        assert SCH.alpha_bar(t) == pytest.approx(a, rel=1e-12)
    al = {t: math.sqrt(a) for t, a in abar.items()}
    sg = {t: math.sqrt(1 - a) for t, a in abar.items()}
    lam = {t: math.log(al[t] / sg[t]) for t in abar}
    x, e1, e2 = 1.0, 0.3, -0.2
    # step 1 (first order): x_θ = (x - σ ε)/α; x1 = σ1/σ0 x - α1 (e^{-h} - 1) x_θ
    d1 = (x - sg[999] * e1) / al[999]
    h1 = lam[799] - lam[999]
    x1 = sg[799] / sg[999] * x - al[799] * (math.exp(-h1) - 1) * d1
    # step 2 (second order): r = h1/h2, D = (1 + 1/2r) x_θ(t1) - 1/2r x_θ(t0)
    d2 = (x1 - sg[799] * e2) / al[799]
    h2 = lam[599] - lam[799]
    r = h1 / h2
    D = (1 + 1 / (2 * r)) * d2 - 1 / (2 * r) * d1
    x2 = sg[599] / sg[799] * x1 - al[599] * (math.exp(-h2) - 1) * D
    assert (x1, x2, r) == pytest.approx((4.003676475253039, 12.17645795767948, 1.4783073619965656), rel=1e-12)

    s = DPMSolverPPSampler(SCH)
    s.set_timesteps(5)
    assert s.timesteps.tolist() == [999, 799, 599, 399, 199]
    X1, P1 = s.step(torch.tensor([[e1]], dtype=torch.float64), 999, 799, torch.tensor([[x]], dtype=torch.float64))
    X2, P2 = s.step(torch.tensor([[e2]], dtype=torch.float64), 799, 599, X1)
    assert (P1.item(), P2.item()) == pytest.approx((d1, d2), rel=1e-12)  # the data predictions x_θ
    assert X1.item() == pytest.approx(x1, rel=1e-12)
    assert X2.item() == pytest.approx(x2, rel=1e-12)
    # the first-order update of the same second step (what dropping the 2M correction gives) is far off
    x2_first = sg[599] / sg[799] * x1 - al[599] * (math.exp(-h2) - 1) * d2
    assert abs(X2.item() - x2_first) > 0.3


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_first_step_and_last_step_are_ddim(prediction):
    """First order (the first step, no history; the final step to the clean data) is DDIM with eta 0."""
    f = exact_denoiser(SCH, prediction)
    dpm, ddim = DPMSolverPPSampler(SCH, prediction=prediction), DDIMSampler(SCH, prediction=prediction)
    dpm.set_timesteps(10), ddim.set_timesteps(10)
    x = x_T(64, 1)
    t, tp = int(dpm.timesteps[0]), dpm.previous_timestep(0)
    torch.testing.assert_close(dpm.step(f(x, t), t, tp, x), ddim.step(f(x, t), t, tp, x), rtol=1e-12, atol=1e-12)
    # the final step returns the predicted x0 whatever the history
    t = int(dpm.timesteps[-1])
    last, x0 = dpm.step(f(x, t), t, -1, x)
    torch.testing.assert_close((last, x0), ddim.step(f(x, t), t, -1, x), rtol=1e-12, atol=1e-12)
    assert torch.equal(last, x0)


@pytest.mark.parametrize("prediction", ["eps", "v"])
@pytest.mark.parametrize("spacing", ["trailing", "logsnr"])
def test_recovers_the_data_distribution_in_few_steps(prediction, spacing):
    xT = x_T(30_000, 2)
    x = solve("dpm++", 15, xT, prediction, spacing)
    # x_T ~ N(0, 1) is not exactly the forward marginal N(α MU, α² SD² + σ²) at t = T-1 (α ≈ 0.027), so the
    # exact map lands at mean MU - SD α MU ≈ 1.973; compare with it, and loosely with MU and SD
    ref = ode_solution(xT)
    assert float(x.mean()) == pytest.approx(float(ref.mean()), abs=0.01)
    assert float(x.std()) == pytest.approx(float(ref.std()), rel=0.02)
    assert float(x.mean()) == pytest.approx(MU, abs=0.04)
    assert float(x.std()) == pytest.approx(SD, rel=0.05)
    # DDIM with the same 15 network calls is visibly worse on the spread
    d = solve("ddim", 15, xT, prediction, spacing)
    assert abs(float(d.std()) - float(ref.std())) > 3 * abs(float(x.std()) - float(ref.std()))


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_converges_with_second_order_and_beats_ddim(prediction):
    err = {S: max_error("dpm++", S, prediction) for S in (5, 10, 20)}
    ddim = {S: max_error("ddim", S, prediction) for S in (10, 20)}
    assert err[20] < err[10] < err[5]
    # second order: halving the step size cuts the error far more than DDIM's factor of ~2 (first order)
    assert ddim[10] / ddim[20] < 2.5
    assert err[10] / err[20] > 4.0
    # dropping the 2M correction turns the solver into DDIM: this would fail
    assert err[20] < 0.1 * ddim[20]


def test_agrees_with_ddim_at_many_steps():
    xT = x_T(2000, 3)
    diff = {S: float((solve("dpm++", S, xT) - solve("ddim", S, xT)).abs().max()) for S in (50, 1000)}
    assert diff[1000] < 5e-3 and diff[1000] < diff[50] / 10


def test_logsnr_spacing():
    abar = SCH.alphas_cumprod64
    lam = 0.5 * np.log(abar / (1 - abar))
    for S in (1, 5, 20, 50, 200, 999, 1000):
        ts = respace(1000, S, "logsnr", alphas_cumprod=abar)
        assert len(ts) == S and ts[0] == 999 and np.all(np.diff(ts) < 0) and ts.min() >= 0
    # uniform in λ where the grid is coarse enough not to need tie-breaking: equal λ steps within rounding
    ts = respace(1000, 10, "logsnr", alphas_cumprod=abar)
    step = (lam[0] - lam[999]) / 10
    assert np.allclose(np.diff(lam[ts]), step, rtol=0.1)
    assert np.array_equal(respace(1000, 1000, "logsnr", alphas_cumprod=abar), np.arange(999, -1, -1))
    with pytest.raises(ConfigError, match="alphas_cumprod"):
        respace(1000, 10, "logsnr")


def test_state_does_not_leak_between_runs():
    s = DPMSolverPPSampler(SCH)
    f = exact_denoiser(SCH)
    xT = x_T(100, 4)
    a = s.sample(f, xT.shape, steps=10, x_T=xT, dtype=torch.float64)
    s.step(f(xT, 999), 999, 899, xT)  # a stray step leaves a stored prediction behind
    b = s.sample(f, xT.shape, steps=10, x_T=xT, dtype=torch.float64)
    assert torch.equal(a, b)


def test_deterministic_and_memory_constant():
    f = exact_denoiser(SCH)
    tracking = LiveInputs(f)
    g = torch.Generator().manual_seed(0)
    out = DPMSolverPPSampler(SCH).sample(tracking, (8, 3), steps=100, generator=g)
    state = g.get_state()
    assert len(tracking.seen) == 100 and tracking.max_alive <= 2
    again = DPMSolverPPSampler(SCH).sample(f, (8, 3), steps=100, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    # only x_T was drawn: the generator moved by exactly one draw of that shape
    g2 = torch.Generator().manual_seed(0)
    torch.randn((8, 3), generator=g2)
    assert torch.equal(g2.get_state(), state)


def test_eta_must_be_zero():
    assert DPMSolverPPSampler(SCH).eta == 0.0 and DPMSolverPPSampler(SCH, eta=0).eta == 0.0
    with pytest.raises(ConfigError, match=r"deterministic: eta must be 0 \(got 0.5\); use ddim for eta > 0"):
        DPMSolverPPSampler(SCH, eta=0.5)
    with pytest.raises(ConfigError, match="deterministic"):
        SampleConfig(sampler="dpm++", eta=1.0)
    assert SampleConfig(sampler="dpm++", spacing="logsnr").sampler == "dpm++"


# ----------------------------------------------------------------------------------------------------------
# classifier-free guidance through DiffusionModel.generate, with an exact conditional denoiser
# ----------------------------------------------------------------------------------------------------------
MUS = (2.0, -1.0)   # class means; the "unconditional" branch (null label) is N(MU_U, SD^2)
MU_U = 0.5


class ExactNet(nn.Module):
    """ε (or v) of per-class Gaussians N(MUS[y], SD^2); label 2 (null) is N(MU_U, SD^2)."""

    null_label = 2

    def __init__(self, prediction: str) -> None:
        super().__init__()
        self.prediction = prediction
        self.mu = torch.tensor([*MUS, MU_U])

    def forward(self, x, t, y):
        a = SCH.alpha_bar(int(t[0]))
        mu = self.mu[y][:, None]
        eps = math.sqrt(1 - a) * (x - math.sqrt(a) * mu) / (a * SD ** 2 + 1 - a)
        if self.prediction == "eps":
            return eps
        x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
        return math.sqrt(a) * eps - math.sqrt(1 - a) * x0


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_guidance_with_an_exact_denoiser(prediction):
    """With equal variances, (1+w) ε(x, y) - w ε(x, ∅) is the exact ε of N((1+w) μ_y - w μ_∅, SD^2), so
    guided DPM-Solver++ samples of class y must have that mean and the data's spread."""
    m = DiffusionModel.from_config()
    m.net, m.var_names, m.device = ExactNet(prediction), ["g"], None
    y = torch.tensor([0] * 10_000 + [1] * 10_000)
    for w in (0.0, 1.5):
        s = make_sampler("dpm++", SCH, prediction=prediction)
        s.set_timesteps(15)
        x = m.generate(y, sampler=s, guidance=w, seed=0, batch_size=8192)
        for c, mu in enumerate(MUS):
            xc = x[y.numpy() == c, 0]
            # the exact map from x_T ~ N(0, 1) shifts the mean by -SD α_T μ (α_T ≈ 0.027; see above)
            mu_w = (1 + w) * mu - w * MU_U
            assert float(xc.mean()) == pytest.approx(mu_w * (1 - SD * math.sqrt(SCH.alpha_bar(999))), abs=0.02), (w, c)
            assert float(xc.std()) == pytest.approx(SD, rel=0.05), (w, c)
