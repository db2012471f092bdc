"""Forward-process noise schedules (the β_t of DDPM), separate from the network and from the samplers.

Conventions (as in Ho et al. 2020 and huggingface/diffusers): timesteps are integer indices
``t = 0 .. T-1``; ``betas[t]`` is the variance added at step ``t``; ``alphas_cumprod[t] = ᾱ_t =
prod_{s<=t} (1 - β_s)``, so the forward marginal is

    q(x_t | x_0) = N( sqrt(ᾱ_t) x_0, (1 - ᾱ_t) I )                                   (Ho et al. 2020, eq. 4)

and "t = -1" (after the last reverse step) means ᾱ = 1, the clean data.

Kinds
-----
``linear``  β linear from ``beta_start`` to ``beta_end`` (Ho et al. 2020: 1e-4 .. 0.02, T = 1000)
``quad``    β = linspace(sqrt(beta_start), sqrt(beta_end), T)**2 (the schedule of the rna-diffusion paper)
``cosine``  ᾱ(t) = f(t)/f(0), f(t) = cos²(((t/T) + s)/(1 + s) · π/2), s = 0.008, β clipped at 0.999
            (Nichol & Dhariwal 2021, eq. 17)

Everything is computed in float64 (products of 1000 factors lose precision in float32) and stored as float32
tensors, as lucidrains/denoising-diffusion-pytorch does.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from ...errors import ConfigError

ScheduleKind = Literal["linear", "quad", "cosine"]
SCHEDULE_KINDS: tuple[str, ...] = ("linear", "quad", "cosine")

__all__ = ["NoiseSchedule", "make_betas", "ScheduleKind", "SCHEDULE_KINDS"]


def make_betas(kind: ScheduleKind, T: int, *, beta_start: float = 1e-4, beta_end: float = 0.02,
               cosine_s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Return the float64 array of ``T`` forward-process variances β_0..β_{T-1}.

    Parameters
    ----------
    kind
        ``"linear"``, ``"quad"`` or ``"cosine"`` (see the module docstring).
    T
        Number of diffusion steps (>= 2).
    beta_start, beta_end
        End points of the linear and quad schedules (ignored by cosine).
    cosine_s
        Offset ``s`` of the cosine schedule, which keeps β_0 from being vanishingly small.
    max_beta
        Upper clip of the cosine schedule's β (avoids a singularity at t = T).
    """
    T = int(T)
    if T < 2:
        raise ConfigError(f"schedule.T must be >= 2, got {T}")
    if kind == "linear":
        betas = np.linspace(beta_start, beta_end, T, dtype=np.float64)
    elif kind == "quad":
        betas = np.linspace(math.sqrt(beta_start), math.sqrt(beta_end), T, dtype=np.float64) ** 2
    elif kind == "cosine":
        # Nichol & Dhariwal 2021, eq. (17): ᾱ(t) = f(t)/f(0); β_t = 1 - ᾱ(t+1)/ᾱ(t), clipped at max_beta.
        steps = np.arange(T + 1, dtype=np.float64) / T
        f = np.cos((steps + cosine_s) / (1.0 + cosine_s) * math.pi / 2.0) ** 2
        abar = f / f[0]
        betas = np.clip(1.0 - abar[1:] / abar[:-1], 0.0, max_beta)
    else:
        raise ConfigError(f"schedule.kind must be one of {list(SCHEDULE_KINDS)}, got {kind!r}")
    if not (0.0 < betas.min() and betas.max() < 1.0):
        raise ConfigError(f"schedule betas must lie in (0, 1); got [{betas.min()}, {betas.max()}] "
                          "(check schedule.beta_start / beta_end)")
    return betas


class NoiseSchedule:
    """A discrete forward process q(x_t | x_0) with ``T`` steps.

    Parameters
    ----------
    kind
        ``"linear"``, ``"quad"`` (default, the paper's) or ``"cosine"``.
    T
        Number of training timesteps (default 1000).
    beta_start, beta_end
        β end points for ``linear``/``quad``.

    Attributes
    ----------
    betas, alphas, alphas_cumprod, sqrt_alphas_cumprod, sqrt_one_minus_alphas_cumprod : torch.Tensor
        float32 tensors of length ``T`` (computed in float64).
    alphas_cumprod64 : numpy.ndarray
        The float64 ᾱ_t, kept for samplers that combine several of them.
    """

    def __init__(self, kind: ScheduleKind = "quad", T: int = 1000, *, beta_start: float = 1e-4,
                 beta_end: float = 0.02) -> None:
        self.kind = kind
        self.T = int(T)
        self.beta_start = float(beta_start)
        self.beta_end = float(beta_end)
        betas = make_betas(kind, self.T, beta_start=beta_start, beta_end=beta_end)
        alphas = 1.0 - betas
        abar = np.cumprod(alphas)
        self.betas64 = betas
        self.alphas_cumprod64 = abar
        f32 = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
        self.betas = f32(betas)
        self.alphas = f32(alphas)
        self.alphas_cumprod = f32(abar)
        self.sqrt_alphas_cumprod = f32(np.sqrt(abar))
        self.sqrt_one_minus_alphas_cumprod = f32(np.sqrt(1.0 - abar))
        # signal-to-noise ratio ᾱ/(1-ᾱ) (Kingma et al. 2021), used by loss weightings
        self.snr = f32(abar / (1.0 - abar))

    def __repr__(self) -> str:
        return f"NoiseSchedule(kind={self.kind!r}, T={self.T})"

    def to(self, device: torch.device | str) -> "NoiseSchedule":
        """Move the stored tensors to ``device`` (in place; returns self)."""
        for name in ("betas", "alphas", "alphas_cumprod", "sqrt_alphas_cumprod",
                     "sqrt_one_minus_alphas_cumprod", "snr"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def alpha_bar(self, t: int) -> float:
        """ᾱ_t as a Python float in float64 precision; ``t < 0`` gives 1 (the clean data)."""
        return 1.0 if t < 0 else float(self.alphas_cumprod64[int(t)])

    @staticmethod
    def _gather(a: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
        out = a.to(t.device)[t]
        return out.reshape(-1, *([1] * (ndim - 1)))

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Sample x_t ~ q(x_t | x_0): ``sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) noise`` (Ho et al. 2020, eq. 4)."""
        a = self._gather(self.sqrt_alphas_cumprod, t, x0.ndim).to(x0.dtype)
        s = self._gather(self.sqrt_one_minus_alphas_cumprod, t, x0.ndim).to(x0.dtype)
        return a * x0 + s * noise

    def snr_at(self, t: torch.Tensor) -> torch.Tensor:
        """SNR(t) = ᾱ_t / (1 - ᾱ_t) at integer timesteps ``t`` (on ``t``'s device)."""
        return self.snr.to(t.device)[t]

    def velocity(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The v-prediction target ``v = sqrt(ᾱ_t) ε - sqrt(1 - ᾱ_t) x0`` (Salimans & Ho 2022, sec. 4)."""
        a = self._gather(self.sqrt_alphas_cumprod, t, x0.ndim).to(x0.dtype)
        s = self._gather(self.sqrt_one_minus_alphas_cumprod, t, x0.ndim).to(x0.dtype)
        return a * noise - s * x0
