"""Reverse-process samplers, separate from the network (the huggingface/diffusers design).

A sampler owns a :class:`~rnagen.models.diffusion.schedule.NoiseSchedule`, its stochasticity ``eta`` and a
grid of ``S <= T`` respaced timesteps (:meth:`set_timesteps`); :meth:`step` takes the network's output at
``x_t`` and returns ``(x_{t_prev}, predicted x_0)``, as diffusers' ``prev_sample`` and
``pred_original_sample``; :meth:`sample` runs the whole loop in O(1) memory (only the current ``x`` and the
current network output are alive: intermediate steps are never kept).

- :class:`DDIMSampler`: Song, Meng & Ermon (2021), "Denoising Diffusion Implicit Models", eq. (12) with the
  σ of eq. (16). ``eta = 0`` is the deterministic DDIM; ``eta = 1`` is DDPM ancestral sampling.
- :class:`DDPMSampler`: Ho, Jain & Abbeel (2020), "Denoising Diffusion Probabilistic Models", Algorithm 2
  (eq. 11 for the mean, σ² = β̃ of eq. 7 or β), on the respaced grid with β'_t = 1 - ᾱ_t/ᾱ_prev (Nichol &
  Dhariwal 2021, sec. 4); its eta is always 1. With the small variance β̃ this is algebraically the same chain
  as DDIM with ``eta = 1``; it is written out separately so tests can check one against the other.
- :class:`DPMSolverPPSampler`: Lu et al. (2022), "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
  Probabilistic Models", Algorithm 2 (DPM-Solver++(2M)): a second-order multistep solver of the
  probability-flow ODE in data-prediction form, exact in the linear part; its first order is DDIM with
  ``eta = 0``, and its eta is always 0. One network call per step, like DDIM, but a smaller error per step.

All accept an ε-prediction or a v-prediction (Salimans & Ho 2022) network output.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from ...config import check_number
from ...errors import ConfigError
from .schedule import NoiseSchedule

Prediction = Literal["eps", "v"]
Spacing = Literal["trailing", "leading", "linspace", "logsnr"]
SamplerName = Literal["ddim", "ddpm", "dpm++"]
PREDICTIONS: tuple[str, ...] = ("eps", "v")
SPACINGS: tuple[str, ...] = ("trailing", "leading", "linspace", "logsnr")
SAMPLERS: tuple[str, ...] = ("ddim", "ddpm", "dpm++")

#: ``denoise(x_t, t) -> model output`` (ε or v) for a batch that shares the integer timestep ``t``.
DenoiseFn = Callable[[torch.Tensor, int], torch.Tensor]

__all__ = ["respace", "DDIMSampler", "DDPMSampler", "DPMSolverPPSampler", "make_sampler", "sampler_class",
           "Prediction", "Spacing", "SamplerName", "DenoiseFn", "PREDICTIONS", "SPACINGS", "SAMPLERS"]


def respace(T: int, S: int, spacing: Spacing = "trailing", *,
            alphas_cumprod: np.ndarray | None = None) -> np.ndarray:
    """The ``S`` timesteps (descending int64 indices into ``0..T-1``) a sampler visits.

    ``trailing`` (default) always starts at ``T - 1``, the step nearest pure noise (Lin et al. 2024,
    "Common diffusion noise schedules and sample steps are flawed", table 2); ``leading`` is the DDIM
    paper's ``0, T/S, 2T/S, ...``; ``linspace`` rounds ``linspace(0, T-1, S)``; ``logsnr`` (needs
    ``alphas_cumprod``) spaces the half-log-SNR λ_t = log(sqrt(ᾱ_t) / sqrt(1-ᾱ_t)) uniformly, the grid
    of DPM-Solver (Lu et al. 2022a, sec. 3.3 "logSNR"): ``S + 1`` values from λ_{T-1} to λ_0, of which the
    first ``S`` are the visited steps (the last step goes to the clean data, as for every spacing); each is
    rounded to the nearest timestep, and ties where λ moves faster than one timestep are pushed apart.
    With ``S = T`` all four give ``T-1, ..., 0``.
    """
    T, S = int(T), int(S)
    if not 1 <= S <= T:
        raise ConfigError(f"number of sampling steps must be between 1 and T = {T}, got {S}")
    if spacing == "logsnr":
        if alphas_cumprod is None or len(alphas_cumprod) != T:
            raise ConfigError("the logsnr spacing needs the schedule's alphas_cumprod (length T)")
        ts = _logsnr_grid(np.asarray(alphas_cumprod, dtype=np.float64), S)
    elif spacing == "trailing":
        ts = np.round(np.arange(T, 0, -T / S)).astype(np.int64) - 1
    elif spacing == "leading":
        ts = (np.arange(S) * (T // S)).astype(np.int64)[::-1]
    elif spacing == "linspace":
        ts = np.round(np.linspace(0, T - 1, S)).astype(np.int64)[::-1]
    else:
        raise ConfigError(f"timestep spacing must be one of {list(SPACINGS)}, got {spacing!r}")
    ts = np.ascontiguousarray(ts)
    assert len(ts) == S and len(np.unique(ts)) == S, (T, S, spacing)
    return ts


def _half_log_snr(abar: np.ndarray | float) -> np.ndarray:
    """λ = log(α/σ) = ½ log(ᾱ / (1-ᾱ)) (Lu et al. 2022, sec. 2; ``inf`` for the clean data, ᾱ = 1)."""
    abar = np.asarray(abar, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 0.5 * (np.log(abar) - np.log1p(-abar))


def _logsnr_grid(abar: np.ndarray, S: int) -> np.ndarray:
    T = len(abar)
    lam = _half_log_snr(abar)  # increasing as t decreases
    targets = np.linspace(lam[T - 1], lam[0], S + 1)[:S]
    # nearest timestep to each target λ: λ is monotone in t, so interpolate t(λ) on the reversed arrays
    ts = np.round(np.interp(targets, lam[::-1], np.arange(T - 1, -1, -1, dtype=np.float64))).astype(np.int64)
    for i in range(S - 2, -1, -1):  # strictly decreasing: push ties towards noise ...
        ts[i] = max(ts[i], ts[i + 1] + 1)
    return np.minimum(ts, T - 1 - np.arange(S))  # ... without leaving 0..T-1 (both stay strictly decreasing)


class DDIMSampler:
    """DDIM sampler with stochasticity ``eta`` (Song et al. 2021).

    Parameters
    ----------
    schedule
        The forward process the network was trained with.
    prediction
        What the network outputs: ``"eps"`` (the noise ε) or ``"v"`` (``sqrt(ᾱ) ε - sqrt(1-ᾱ) x0``).
    spacing
        How :meth:`set_timesteps` respaces ``S`` steps out of ``T`` (see :func:`respace`).
    clip_x0
        If given, clamp the predicted x0 to ``[-clip_x0, clip_x0]`` at each step (in the model's standardised
        space) and re-derive ε from it; ``None`` (default) leaves it alone.
    eta
        The η of DDIM eq. (16): 0 (default) is the deterministic DDIM, 1 is DDPM ancestral sampling, anything
        in between interpolates.
    """

    name: str = "ddim"

    def __init__(self, schedule: NoiseSchedule, *, prediction: Prediction = "eps",
                 spacing: Spacing = "trailing", clip_x0: float | None = None, eta: float | None = None) -> None:
        if prediction not in PREDICTIONS:
            raise ConfigError(f"prediction must be one of {list(PREDICTIONS)}, got {prediction!r}")
        if spacing not in SPACINGS:
            raise ConfigError(f"timestep spacing must be one of {list(SPACINGS)}, got {spacing!r}")
        self.schedule = schedule
        self.prediction = prediction
        self.spacing = spacing
        self.clip_x0 = clip_x0
        self.eta = self.check_eta(eta)
        self.set_timesteps(schedule.T)

    @classmethod
    def check_eta(cls, eta: float | None) -> float:
        """The η this sampler runs with for a requested ``eta`` (``None``: its default, 0); a finite η >= 0."""
        return float(check_number("eta", 0.0 if eta is None else eta, ">= 0"))

    # --- grid ------------------------------------------------------------------------------------
    def set_timesteps(self, num_steps: int) -> None:
        """Choose ``num_steps`` (S <= T) respaced timesteps; sets ``self.timesteps`` (descending)."""
        self.timesteps = respace(self.schedule.T, num_steps, self.spacing,
                                 alphas_cumprod=self.schedule.alphas_cumprod64)
        self.num_steps = len(self.timesteps)

    def previous_timestep(self, i: int) -> int:
        """The timestep after ``self.timesteps[i]`` in the reverse chain; ``-1`` (clean data) after the last."""
        return int(self.timesteps[i + 1]) if i + 1 < self.num_steps else -1

    # --- one step --------------------------------------------------------------------------------
    def _eps_x0(self, model_output: torch.Tensor, x: torch.Tensor, a_t: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(ε̂, x̂0) from the network output at x_t, with ᾱ_t = ``a_t``."""
        sa, s1 = math.sqrt(a_t), math.sqrt(1.0 - a_t)
        if self.prediction == "eps":
            eps = model_output
            # x̂0 = (x_t - sqrt(1-ᾱ_t) ε̂) / sqrt(ᾱ_t): the "predicted x0" of DDIM eq. (12) (= Ho eq. 15)
            x0 = (x - s1 * eps) / sa
        else:
            # v = sqrt(ᾱ) ε - sqrt(1-ᾱ) x0 and x_t = sqrt(ᾱ) x0 + sqrt(1-ᾱ) ε  =>  (Salimans & Ho 2022, eq. 6)
            x0 = sa * x - s1 * model_output
            eps = s1 * x + sa * model_output
        if self.clip_x0 is not None:
            x0 = x0.clamp(-self.clip_x0, self.clip_x0)
            eps = (x - sa * x0) / s1
        return eps, x0

    def sigma(self, t: int, t_prev: int, eta: float) -> float:
        """σ_t(η) of DDIM eq. (16): ``η sqrt((1-ᾱ_prev)/(1-ᾱ_t)) sqrt(1 - ᾱ_t/ᾱ_prev)``."""
        a_t, a_prev = self.schedule.alpha_bar(t), self.schedule.alpha_bar(t_prev)
        return eta * math.sqrt((1.0 - a_prev) / (1.0 - a_t)) * math.sqrt(1.0 - a_t / a_prev)

    def step(self, model_output: torch.Tensor, t: int, t_prev: int, x: torch.Tensor, *,
             generator: torch.Generator | None = None,
             noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One reverse step x_t -> x_{t_prev} (DDIM eq. 12) with the sampler's ``eta``.

        Parameters
        ----------
        model_output
            The network's ε̂ or v̂ at ``(x, t)``.
        t, t_prev
            Current and next timestep (``t_prev = -1`` for the final step to the clean data).
        generator, noise
            Where the fresh noise z comes from (drawn only when σ > 0).

        Returns
        -------
        (x_{t_prev}, x̂0)
            The next sample and the clean sample predicted at this step.
        """
        eta = self.eta
        # 1. ᾱ_t and ᾱ_{t_prev} (ᾱ_{-1} = 1), taken from the float64 schedule
        a_t, a_prev = self.schedule.alpha_bar(t), self.schedule.alpha_bar(t_prev)
        # 2. predicted noise ε̂ and predicted clean sample x̂0 ("predicted x0" term of eq. 12)
        eps, x0 = self._eps_x0(model_output, x, a_t)
        # 3. σ_t(η) from eq. (16); η = 1 makes it the DDPM posterior standard deviation sqrt(β̃_t)
        sigma = self.sigma(t, t_prev, eta)
        # 4. "direction pointing to x_t" of eq. (12): sqrt(1 - ᾱ_prev - σ²) ε̂
        c_dir = math.sqrt(max(1.0 - a_prev - sigma * sigma, 0.0))
        # 5. x_prev = sqrt(ᾱ_prev) x̂0 + direction + σ z   (eq. 12); no noise is drawn when σ = 0, so
        #    eta = 0 sampling depends on the generator only through x_T
        x_prev = x0.mul(math.sqrt(a_prev))
        x_prev.add_(eps, alpha=c_dir)
        if sigma > 0:
            if noise is None:
                noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x_prev.add_(noise, alpha=sigma)
        return x_prev, x0

    # --- the loop --------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, denoise: DenoiseFn, shape: tuple[int, ...], *, steps: int | None = None,
               generator: torch.Generator | None = None, x_T: torch.Tensor | None = None,
               device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
               progress: bool = False, desc: str = "sampling") -> torch.Tensor:
        """Run the reverse chain from x_T ~ N(0, I) over ``steps`` respaced timesteps and return x_0.

        Only the current ``x`` and the current network output are alive at any time, so memory does not
        grow with ``steps``.

        Parameters
        ----------
        denoise
            ``denoise(x_t, t) -> ε̂ or v̂`` for the whole batch at integer timestep ``t``.
        shape
            Shape of the batch to generate (ignored when ``x_T`` is given).
        steps
            Number of respaced steps S (default: keep the current grid).
        generator
            Seeded generator for x_T and the per-step noise.
        x_T
            Start from this noise instead of drawing it.
        """
        from ...utils import progress_bar

        if steps is not None:
            self.set_timesteps(steps)
        if x_T is None:
            x = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        else:
            x = x_T.to(device=device or x_T.device, dtype=dtype).clone()
        for i in progress_bar(range(self.num_steps), desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
            t, t_prev = int(self.timesteps[i]), self.previous_timestep(i)
            out = denoise(x, t)
            x, _ = self.step(out, t, t_prev, x, generator=generator)
            del out  # drop the references before the next network call allocates a new output
        return x


class DDPMSampler(DDIMSampler):
    """Ancestral DDPM sampler (Ho et al. 2020, Algorithm 2) on a respaced grid.

    Parameters
    ----------
    variance
        ``"small"`` (default): σ² = β̃_t = (1-ᾱ_prev)/(1-ᾱ_t) β'_t (Ho eq. 7; identical to DDIM with η = 1);
        ``"large"``: σ² = β'_t (Ho et al. 2020, sec. 3.2 report both give similar samples).
    eta
        Checked like DDIM's, then ignored: ancestral sampling is η = 1.
    """

    name: str = "ddpm"

    def __init__(self, schedule: NoiseSchedule, *, prediction: Prediction = "eps",
                 spacing: Spacing = "trailing", clip_x0: float | None = None, eta: float | None = None,
                 variance: Literal["small", "large"] = "small") -> None:
        if variance not in ("small", "large"):
            raise ConfigError(f"DDPM variance must be 'small' or 'large', got {variance!r}")
        super().__init__(schedule, prediction=prediction, spacing=spacing, clip_x0=clip_x0, eta=eta)
        self.variance = variance

    @classmethod
    def check_eta(cls, eta: float | None) -> float:
        """Always 1: ancestral sampling is DDIM's η = 1, so a requested other ``eta`` is an error (not dropped)."""
        if eta is not None and super().check_eta(eta) != 1:
            raise ConfigError(f"the ddpm sampler is ancestral: eta is 1 (got {eta}); use ddim for another eta")
        return 1.0

    def step(self, model_output: torch.Tensor, t: int, t_prev: int, x: torch.Tensor, *,
             generator: torch.Generator | None = None,
             noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One ancestral step x_t -> x_{t_prev}; returns ``(x_{t_prev}, x̂0)``."""
        # 1. ᾱ_t, ᾱ_prev and the respaced β'_t = 1 - ᾱ_t/ᾱ_prev, α'_t = 1 - β'_t (Nichol & Dhariwal 2021)
        a_t, a_prev = self.schedule.alpha_bar(t), self.schedule.alpha_bar(t_prev)
        beta = 1.0 - a_t / a_prev
        alpha = 1.0 - beta
        # 2. ε̂ (and x̂0) from the network output
        eps, x0 = self._eps_x0(model_output, x, a_t)
        # 3. posterior mean μ̃ = 1/sqrt(α'_t) (x_t - β'_t / sqrt(1-ᾱ_t) ε̂)   (Ho eq. 11)
        mean = (x - (beta / math.sqrt(1.0 - a_t)) * eps) / math.sqrt(alpha)
        if self.clip_x0 is not None:
            # with a clipped x̂0, use the equivalent x0-parameterised posterior mean (Ho eq. 7)
            mean = (math.sqrt(a_prev) * beta / (1.0 - a_t)) * x0 + (math.sqrt(alpha) * (1.0 - a_prev) / (1.0 - a_t)) * x
        if t_prev < 0:
            return mean, x0  # 5. last step: return the mean, no noise (Algorithm 2, "z = 0 if t = 1")
        # 4. σ² = β̃_t = (1-ᾱ_prev)/(1-ᾱ_t) β'_t (eq. 7) or β'_t
        var = beta * (1.0 - a_prev) / (1.0 - a_t) if self.variance == "small" else beta
        if noise is None:
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return mean.add_(noise, alpha=math.sqrt(var)), x0


class DPMSolverPPSampler(DDIMSampler):
    """DPM-Solver++(2M), the multistep second-order solver of Lu et al. (2022), Algorithm 2.

    The probability-flow ODE in the data-prediction form, with λ_t = log(α_t/σ_t), α_t = sqrt(ᾱ_t),
    σ_t = sqrt(1-ᾱ_t) and x_θ the predicted clean sample (from an ε or v network), has the exact solution

        x_t = (σ_t/σ_s) x_s + σ_t ∫_{λ_s}^{λ_t} e^{λ} x_θ(x_λ, λ) dλ                       (Lu et al. 2022, eq. 8)

    Freezing x_θ over the step gives DPM-Solver++(1), which is DDIM with ``eta = 0``; 2M instead extrapolates
    x_θ linearly in λ from the current and the previous step's prediction, so it costs one network call per
    step, as DDIM does, with a local error one order smaller. Deterministic: x_0 depends only on x_T.

    The first step has no previous prediction and is first order (Algorithm 2, i = 1). The last step goes to
    the clean data (σ = 0, λ = ∞), where the extrapolation ratio r = h_prev/h is 0 and the 2M weights are
    undefined: it is first order too, i.e. it returns x_θ at the last visited timestep ("lower_order_final"
    of the reference implementation, which forces it whenever the final σ is 0).

    The solver keeps one earlier prediction between calls of :meth:`step` (O(1) memory); it is forgotten by
    :meth:`set_timesteps`, :meth:`reset` and at the start of :meth:`sample`, so :meth:`step` must be called
    over the grid in order, starting from ``self.timesteps[0]``.
    """

    name: str = "dpm++"

    @classmethod
    def check_eta(cls, eta: float | None) -> float:
        """Always 0: the solver is deterministic, so a requested non-zero ``eta`` is an error."""
        if super().check_eta(eta) != 0:
            raise ConfigError(f"the dpm++ sampler is deterministic: eta must be 0 (got {eta}); use ddim for eta > 0")
        return 0.0

    def set_timesteps(self, num_steps: int) -> None:
        """Set the grid of ``num_steps`` timesteps and start a new trajectory (the multistep history is per grid)."""
        super().set_timesteps(num_steps)
        self.reset()

    def reset(self) -> None:
        """Forget the previous step's prediction (start a new trajectory)."""
        self._x0_prev: torch.Tensor | None = None   # x_θ(x̃_{t_{i-2}}, t_{i-2}) in Algorithm 2
        self._lam_prev: float | None = None         # λ_{t_{i-2}}

    def step(self, model_output: torch.Tensor, t: int, t_prev: int, x: torch.Tensor, *,
             generator: torch.Generator | None = None,
             noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step x̃_{t_{i-1}} -> x̃_{t_i} of Algorithm 2 (here ``t`` = t_{i-1}, ``t_prev`` = t_i < t).

        Parameters
        ----------
        model_output
            The network's ε̂ or v̂ at ``(x, t)``.
        t, t_prev
            Current and next timestep (``t_prev = -1`` for the final step to the clean data).
        generator, noise
            Unused (the solver is deterministic); accepted so every sampler's step is called alike.

        Returns
        -------
        (x̃_{t_i}, x_θ)
            The next sample and the data prediction at this step (the same tensor at the last step).
        """
        # 1. α, σ and the half-log-SNR λ = log(α/σ) at the current and the next timestep (float64 schedule)
        a_t, a_p = self.schedule.alpha_bar(t), self.schedule.alpha_bar(t_prev)
        alpha_p, sigma_t, sigma_p = math.sqrt(a_p), math.sqrt(1.0 - a_t), math.sqrt(1.0 - a_p)
        lam_t = float(_half_log_snr(a_t))
        # 2. the data prediction x_θ(x̃_{t_{i-1}}, t_{i-1}) from ε (x_θ = (x - σ ε)/α, Lu et al. 2022 eq. 4)
        #    or from v (Salimans & Ho 2022, eq. 6); clipped if clip_x0 is set
        _, x0 = self._eps_x0(model_output, x, a_t)
        x0_prev, lam_prev = self._x0_prev, self._lam_prev
        self._x0_prev, self._lam_prev = x0, lam_t
        if t_prev < 0:
            # 3. final step to the clean data (σ_{t_i} = 0, h = ∞): first order, x̃_0 = α_0 x_θ = x_θ
            self.reset()
            return x0, x0
        # 4. step size in λ: h_i = λ_{t_i} - λ_{t_{i-1}} (Algorithm 2, line 3)
        h = float(_half_log_snr(a_p)) - lam_t
        if x0_prev is None or lam_prev is None:  # set together: both None on the first step
            # 5. first step (i = 1): D = x_θ(x̃_{t_0}, t_0), the DPM-Solver++(1) update (eq. 9)
            D = x0
        else:
            # 6. r_i = h_{i-1}/h_i and D_i = (1 + 1/(2 r_i)) x_θ(t_{i-1}) - 1/(2 r_i) x_θ(t_{i-2})
            #    (Algorithm 2, lines 7-8): a backward difference of x_θ in λ, i.e. its linear extrapolation
            r = (lam_t - lam_prev) / h
            c = 1.0 / (2.0 * r)
            D = x0.mul(1.0 + c).sub_(x0_prev, alpha=c)
        # 7. x̃_{t_i} = (σ_{t_i}/σ_{t_{i-1}}) x̃_{t_{i-1}} - α_{t_i} (e^{-h_i} - 1) D_i (Algorithm 2, line 9)
        #    (out of place: D may be the stored x_θ, which the next step still needs)
        return x.mul(sigma_p / sigma_t).add_(D, alpha=-alpha_p * math.expm1(-h)), x0

    @torch.no_grad()
    def sample(self, denoise: DenoiseFn, shape: tuple[int, ...], *, steps: int | None = None,
               generator: torch.Generator | None = None, x_T: torch.Tensor | None = None,
               device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
               progress: bool = False, desc: str = "sampling") -> torch.Tensor:
        """Solve the probability-flow ODE from x_T ~ N(0, I) over ``steps`` respaced timesteps; see
        :meth:`DDIMSampler.sample`."""
        self.reset()
        try:
            return super().sample(denoise, shape, steps=steps, generator=generator, x_T=x_T,
                                  device=device, dtype=dtype, progress=progress, desc=desc)
        finally:
            self.reset()


def sampler_class(name: SamplerName) -> type[DDIMSampler]:
    """The sampler class called ``name`` (``"ddim"``, ``"ddpm"`` or ``"dpm++"``)."""
    classes = {"ddim": DDIMSampler, "ddpm": DDPMSampler, "dpm++": DPMSolverPPSampler}
    if name not in classes:
        raise ConfigError(f"sampler must be one of {list(SAMPLERS)}, got {name!r}")
    return classes[name]


def make_sampler(name: SamplerName, schedule: NoiseSchedule, *, prediction: Prediction = "eps",
                 spacing: Spacing = "trailing", clip_x0: float | None = None,
                 eta: float | None = None) -> DDIMSampler:
    """Build the sampler called ``name`` for ``schedule``; ``eta`` as the sampler takes it (``None``: its own,
    0 for ddim and dpm++, 1 for ddpm)."""
    return sampler_class(name)(schedule, prediction=prediction, spacing=spacing, clip_x0=clip_x0, eta=eta)
