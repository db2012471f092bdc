"""Noise schedules: golden values against closed forms, monotonicity, dtypes, forward-process identities."""
import math

import numpy as np
import pytest
import torch

from rnagen.errors import ConfigError
from rnagen.models.diffusion.schedule import NoiseSchedule, make_betas


def test_quad_golden_values():
    s = NoiseSchedule("quad", 1000)
    assert s.betas64[0] == pytest.approx(1e-4, rel=1e-12)
    assert s.betas64[-1] == pytest.approx(0.02, rel=1e-12)
    # closed form of the paper's schedule: beta_t = (sqrt(b0) + t/(T-1) (sqrt(b1) - sqrt(b0)))^2
    t = 499
    expected = (0.01 + t / 999 * (math.sqrt(0.02) - 0.01)) ** 2
    assert s.betas64[t] == pytest.approx(expected, rel=1e-12)
    # alpha_bar as an explicit product, and golden values computed once in float64
    assert s.alpha_bar(9) == pytest.approx(np.prod([1 - b for b in s.betas64[:10]]), rel=1e-12)
    assert s.alphas_cumprod64[0] == pytest.approx(0.9999, rel=1e-12)
    assert s.alphas_cumprod64[499] == pytest.approx(0.333187767, rel=1e-8)
    assert s.alphas_cumprod64[999] == pytest.approx(7.33412460e-04, rel=1e-7)


def test_linear_golden_values():
    s = NoiseSchedule("linear", 1000)
    assert s.betas64[0] == pytest.approx(1e-4)
    assert s.betas64[-1] == pytest.approx(0.02)
    assert s.betas64[1] - s.betas64[0] == pytest.approx((0.02 - 1e-4) / 999, rel=1e-10)
    # the DDPM paper's schedule ends at alpha_bar_T ~ 4.04e-5 (Ho et al. 2020)
    assert s.alphas_cumprod64[-1] == pytest.approx(4.03582977e-05, rel=1e-7)
    assert s.alphas_cumprod64[499] == pytest.approx(7.85872429e-02, rel=1e-7)


def test_cosine_matches_closed_form():
    T, sft = 1000, 0.008
    s = NoiseSchedule("cosine", T)
    f = lambda u: math.cos((u + sft) / (1 + sft) * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 10, 250, 499, 900):  # away from the 0.999 clip, alpha_bar_t = f((t+1)/T) / f(0)
        assert s.alpha_bar(t) == pytest.approx(f((t + 1) / T) / f(0), rel=1e-9)
    assert s.betas64.max() <= 0.999
    assert s.alpha_bar(499) == pytest.approx(0.493843590, rel=1e-7)


@pytest.mark.parametrize("kind", ["linear", "quad", "cosine"])
@pytest.mark.parametrize("T", [10, 1000, 4000])
def test_monotone_and_float32_storage(kind, T):
    s = NoiseSchedule(kind, T)
    assert s.betas.dtype == torch.float32 and s.alphas_cumprod.dtype == torch.float32
    assert s.betas64.dtype == np.float64 and len(s.betas64) == T
    assert np.all(np.diff(s.betas64) >= 0)
    ab = s.alphas_cumprod64
    assert np.all(np.diff(ab) < 0) and 0 < ab[-1] < ab[0] < 1
    assert np.allclose(s.alphas_cumprod.numpy(), ab, rtol=1e-6, atol=0)
    assert np.allclose(s.sqrt_alphas_cumprod.numpy() ** 2 + s.sqrt_one_minus_alphas_cumprod.numpy() ** 2, 1.0,
                       atol=1e-6)
    assert s.alpha_bar(-1) == 1.0


def test_bad_settings_raise():
    with pytest.raises(ConfigError, match="linear"):
        make_betas("sigmoid", 100)
    with pytest.raises(ConfigError, match="T"):
        NoiseSchedule("quad", 1)


def test_forward_process_identities():
    s = NoiseSchedule("quad", 1000)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(64, 5, generator=g), torch.randn(64, 5, generator=g)
    t = torch.randint(0, 1000, (64,), generator=g)
    a = torch.tensor(s.alphas_cumprod64[t.numpy()], dtype=torch.float32)[:, None]
    xt = s.add_noise(x0, eps, t)
    torch.testing.assert_close(xt, a.sqrt() * x0 + (1 - a).sqrt() * eps)
    v = s.velocity(x0, eps, t)
    # Salimans & Ho (2022): x0 = sqrt(a) x_t - sqrt(1-a) v and eps = sqrt(1-a) x_t + sqrt(a) v
    torch.testing.assert_close(a.sqrt() * xt - (1 - a).sqrt() * v, x0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close((1 - a).sqrt() * xt + a.sqrt() * v, eps, atol=1e-5, rtol=1e-5)
