"""The user-facing conditional diffusion generator (registered as ``"diffusion"``).

Three pieces, kept apart (lucidrains' network / process / trainer split; diffusers' scheduler objects):

- :mod:`.network`   the residual-MLP denoiser ``net(x_t, t, y)``;
- :mod:`.schedule`  the forward process (β_t, ᾱ_t);
- :mod:`.samplers`  DDPM / DDIM / DPM-Solver++ reverse processes, driven by any trained ``net``;

and here the training objective (:class:`DiffusionObjective`, an ``nn.Module`` whose ``forward`` returns the
loss, so the shared :func:`rnagen.train.train_loop` and DDP can drive it) and :class:`DiffusionModel`, the
:class:`~rnagen.models.Generator` that binds data, trains, samples with the EMA weights, saves and loads.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..._manifest import member_checkpoint
from ...config import SEED_MAX, check_number, checked
from ...errors import ConfigError
from ...train import LossOutput, TrainConfig, fit_validated
from ...train.privacy import PrivacyConfig
from .._base import Generator, PreprocessConfig, register, valid_subspace_record
from .._subspace import MAX_COMPONENTS, SubspaceObjective
from ..gaussian import FULL_COVARIANCE_MAX_GENES, anchor_statistics
from .network import AnchoredDenoiser, ResMLPDenoiser
from .samplers import PREDICTIONS, SPACINGS, make_sampler, sampler_class
from .schedule import SCHEDULE_KINDS, NoiseSchedule, make_betas

__all__ = ["DiffusionModel", "DiffusionConfig", "NetworkConfig", "ScheduleConfig", "ObjectiveConfig",
           "SampleConfig", "DiffusionObjective"]


# ----------------------------------------------------------------------------------------------------------
# configuration (dataclass defaults are the single source of truth; sections map to TOML tables)
# ----------------------------------------------------------------------------------------------------------
#: the least sqrt(ᾱ_T) an ε-predicting model is trained with: the first sampling step divides the error of the
#: predicted noise by it (the paper's quad schedule at T = 1000: 0.027; linear 1e-4 to 0.02: 0.0064; cosine: 4.9e-5)
EPS_MIN_ROOT_ABAR = 1e-3


@dataclass
@checked("network", width=">= 1", depth=">= 0", time_dim=">= 2", dropout="[0, 1)", expansion=">= 1",
         cond_dim=">= 0")
class NetworkConfig:
    """Denoiser size (section ``[network]``), sized to train on CPU (training times: ``BENCHMARKS.md``, "Diffusion:
    training time to quality")."""

    width: int = 512
    depth: int = 3
    """Number of residual blocks."""
    time_dim: int = 128
    """Dimension of the sinusoidal time embedding."""
    dropout: float = 0.0
    """Dropout inside each block. 0 by default: on small sets the model is under-fitted, not over-fitted, at CPU
    budgets, and dropout lowered the density on the bundled GTEx data (``benchmarks/RESULTS_diffusion.md``)."""
    expansion: int = 2
    """Hidden width of each block's MLP, as a multiple of ``width``."""
    cond_dim: int = 0
    """Dimension of the time + label embedding that modulates every block (FiLM); 0: ``width``. Each block's
    modulation has ``2 * width * cond_dim`` weights, as many as its MLP at the default expansion when
    ``cond_dim = width``; a wide network conditions through a smaller embedding (the ``paper`` budget)."""
    gene_affine: bool | Literal["auto"] = "auto"
    """A per-gene affine path from ``x_t`` to the output, its slope and offset set by the time and the label
    (:mod:`~rnagen.models.diffusion.network`): the denoiser of each gene's own noise. ``auto``: where the network's
    input has more dimensions (genes, or principal components) than ``width``, the residual stream cannot carry
    every gene's value and leaves most genes' noise in the samples (``benchmarks/RESULTS_objectives.md``, "A
    per-gene affine path"); narrower inputs go without it, where it was measured to trade adversarial accuracy
    for density."""

    def __post_init__(self) -> None:
        if self.time_dim % 2:
            raise ConfigError(f"network.time_dim must be an even number >= 2, got {self.time_dim}")
        if not isinstance(self.gene_affine, bool) and self.gene_affine != "auto":
            raise ConfigError(f"network.gene_affine must be true, false or 'auto', got {self.gene_affine!r}")

    def affine_path(self, n_inputs: int) -> bool:
        """Whether the denoiser of ``n_inputs`` inputs has the per-gene affine path (``gene_affine`` resolved)."""
        return self.gene_affine if isinstance(self.gene_affine, bool) else n_inputs > self.width


@dataclass
@checked("schedule", T="[2, 1000000]", beta_start="(0, 1)", beta_end="(0, 1)")
class ScheduleConfig:
    """Forward process (section ``[schedule]``); ``quad`` from 1e-4 to 0.02 over T = 1000 is the paper's. T is at
    most a million: the schedule is held as arrays of T values, and a thousand times the paper's steps is
    already as fine as a continuous-time process is sampled."""

    kind: Literal["linear", "quad", "cosine"] = "quad"
    T: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULE_KINDS:
            raise ConfigError(f"schedule.kind must be one of {list(SCHEDULE_KINDS)}, got {self.kind!r}")
        if not self.beta_start < self.beta_end:
            raise ConfigError(f"need 0 < schedule.beta_start < schedule.beta_end < 1, got "
                              f"{self.beta_start}, {self.beta_end}")


@dataclass
@checked("objective", label_dropout="[0, 1)", min_snr_gamma="> 0", noise_multiplicity=">= 1",
         anchor_epsilon_share="(0, 1)", guide_fraction="[0, 1)")
class ObjectiveConfig:
    """Training objective (section ``[objective]``)."""

    prediction: Literal["eps", "v"] = "v"
    """What the network predicts: the noise ε (Ho et al. 2020) or v (Salimans & Ho 2022)."""
    label_dropout: float = 0.1
    """Probability of replacing a label by the null label in training, so classifier-free guidance works."""
    loss_weighting: Literal["none", "min_snr"] = "none"
    """``min_snr``: weight each timestep by min(SNR, γ)/SNR (ε) or min(SNR, γ)/(SNR+1) (v) (Hang et al. 2023)."""
    min_snr_gamma: float = 5.0
    antithetic: bool = True
    """Draw half the batch's timesteps as t and the other half as T-1-t (lower-variance loss, as the paper)."""
    noise_multiplicity: int = 1
    """K: draws of (t, ε) per profile whose losses are averaged inside that profile's loss (Dockhorn et al.
    2022, "Differentially private diffusion models", TMLR). Under DP-SGD each profile still yields one
    clipped gradient, so K lowers the gradient's variance at no privacy cost; 1 = one draw per profile."""
    anchor: Literal["none", "diag", "full", "auto"] = "none"
    """The network learns the residual from the exact denoiser of a per-class Gaussian fitted to the training
    profiles (:class:`~rnagen.models.diffusion.network.AnchoredDenoiser`), so an untrained or noisily trained
    network samples that Gaussian: ``diag`` (per-gene variances) or ``full`` (the Ledoit-Wolf covariance of
    the per-class Gaussian floor; with privacy, the private Gaussian's class variances and low-rank
    within-class correlation, and above 4,000 genes, where it releases none, ``diag``); ``auto``: ``full`` up
    to 4,000 genes and ``diag`` above, where a genes x genes eigenbasis per class would not fit (the per-class
    Gaussian's ``covariance=auto`` rule; with ``privacy.noise_multiplier`` instead of ``privacy.epsilon``, where
    the statistics would have no share of a target ε, no anchor); ``none``: the network predicts ε or v alone."""
    anchor_epsilon_share: float = 0.8
    """With an anchor and ``privacy.epsilon``: the share of ε the anchor's statistics would spend on their
    own; they are released with the Gaussian mechanism (as the private Gaussian's) and the DP-SGD noise is
    chosen so that both together, composed in Rényi DP, spend ``privacy.epsilon``. Most of the budget goes to
    the statistics because that is where a private model's utility comes from at ε <= 10: the DP-SGD residual
    adds nothing measurable on top of the anchor (``benchmarks/RESULTS_privacy.md``)."""
    guide_fraction: float = 0.5
    """Keep the EMA weights at this fraction of the chosen length (the validation check before the best one nearest
    it, none when the best is the first; of ``train.steps`` in a run of fixed length) as the guide of autoguidance
    (``sample.autoguidance``; Karras et al. 2024, "Guiding a diffusion model with a bad version of itself"): the
    same network less trained, which errs the same way as the final one but more. 0 keeps none (and halves the
    weights file)."""

    def __post_init__(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise ConfigError(f"objective.prediction must be one of {list(PREDICTIONS)}, got {self.prediction!r}")


#: The classifier-free guidance weights accepted (see :attr:`SampleConfig.guidance`).
GUIDANCE_RANGE = "[0, 100]"
#: The prefix of the guide's tensors in ``weights.safetensors``
GUIDE_PREFIX = "guide."
#: The prefix of member k's tensors in ``weights.safetensors`` (``train.members``; member 0's have none)
MEMBER_PREFIX = "member{}."
#: Seeds of a mixture's members are this far apart (``train.members``)
MEMBER_SEED_STRIDE = 1000


def member_seed(seed: int, k: int) -> int:
    """The seed of member ``k`` of a mixture trained or sampled with ``seed`` (member 0's is ``seed``)."""
    return (int(seed) + MEMBER_SEED_STRIDE * int(k)) % (SEED_MAX + 1)


#: The autoguidance weights a validated run scores on its held-out profiles to choose one (1: none)
GUIDE_WEIGHTS = (1.0, 1.5, 2.0, 3.0)
#: The classifier-free guidance weights a validated run scores with each autoguidance weight, to choose the pair
#: (0: none). Guidance pushes each class away from the others: it helps a classifier where classes overlap
#: (tumour subtypes) and only narrows the classes where they do not, so no one weight suits every data set
#: (benchmarks/RESULTS_objectives.md)
CFG_WEIGHTS = (0.0, 0.25, 0.5)
#: The autoguidance weights accepted (see :attr:`SampleConfig.autoguidance`): past 10 the extrapolation leaves
#: the range of what either network predicts
AUTOGUIDANCE_RANGE = "[1, 10]"


@dataclass
@checked("sample", steps=">= 1", eta=">= 0", guidance=GUIDANCE_RANGE, clip_x0="> 0",
         autoguidance=AUTOGUIDANCE_RANGE, autoguidance_from="[0, 1)", autoguidance_to="(0, 1]")
class SampleConfig:
    """Sampling defaults (section ``[sample]``); each can be overridden per call / on the command line."""

    sampler: Literal["ddim", "ddpm", "dpm++"] = "dpm++"
    """``ddim`` (Song et al. 2021), ``ddpm`` (Ho et al. 2020, ancestral) or ``dpm++`` (DPM-Solver++(2M), Lu et
    al. 2022: deterministic like DDIM with eta 0, second order, so it needs fewer steps for the same error)."""
    steps: int = 20
    """Respaced steps S <= T (one network call each)."""
    eta: float = 0.0
    """DDIM stochasticity: 0 deterministic, 1 = DDPM (not read by the ddpm sampler, which is always 1, nor by
    dpm++, which is always 0; asking either for another eta at sampling is an error)."""
    guidance: float | None = None
    """Classifier-free guidance weight w: ε = (1+w) ε(x, y) - w ε(x, ∅); 0 = plain conditional sampling. At most
    100: Ho & Salimans (2022) use w <= 4; far beyond, ε̃ leaves the range of the noise it stands for and the
    profiles overflow. Unset: the weight chosen at training with the autoguidance weight, on the held-out profiles
    that chose the length (:data:`CFG_WEIGHTS`, 0 among them; 0 where nothing was held out or the model was
    trained without label dropout)."""
    spacing: Literal["trailing", "leading", "linspace", "logsnr"] = "trailing"
    """Which S of the T timesteps are visited (:func:`~rnagen.models.diffusion.samplers.respace`); ``logsnr``
    spaces them uniformly in log-SNR, DPM-Solver's grid."""
    clip_x0: float | None = None
    """Clamp the predicted x0 to ±clip_x0 (standardised units) at each step; unset = no clamping."""
    autoguidance: float | None = None
    """Autoguidance weight w (Karras et al. 2024, eq. 2): each step's network output is
    D_guide + w (D - D_guide), D_guide the same network at ``objective.guide_fraction`` of its training: the step
    moves past the final network's output, away from where the less-trained one would go, which undoes the pull
    toward each class's core that an imperfect regression of x0 on x_t shares with its earlier self. 1 = off (the
    network alone; one network call per step instead of two). Unset: the weight chosen at training on the
    held-out profiles that chose the length (:data:`GUIDE_WEIGHTS`, 1 among them; 1 where nothing was held
    out). A model that kept no guide samples with 1, and refuses another weight asked for in the call."""
    autoguidance_from: float = 0.0
    """Autoguidance applies at the steps whose timestep t of T has ``autoguidance_from`` < (t + 1) / T <=
    ``autoguidance_to``, the network alone at the others (guidance in a limited interval of noise levels,
    Kynkäänniemi et al. 2024); (0, 1], the default, is every step. Each step left out saves the guide's call."""
    autoguidance_to: float = 1.0
    """The top of the interval of :attr:`autoguidance_from`."""

    def __post_init__(self) -> None:
        _check_sample_options(self.sampler, self.steps, self.eta, self.guidance, self.spacing, self.clip_x0)
        _check_interval(self.autoguidance_from, self.autoguidance_to)


def _check_interval(lo, hi) -> None:
    """The autoguidance interval (:attr:`SampleConfig.autoguidance_from`): 0 <= lo < hi <= 1."""
    check_number("autoguidance_from", lo, "[0, 1)")
    check_number("autoguidance_to", hi, "(0, 1]")
    if not float(lo) < float(hi):
        raise ConfigError(f"autoguidance_from must be below autoguidance_to, got {lo:g} and {hi:g}: the interval "
                          "of noise levels where the guide applies would hold no step")


def _check_sample_options(sampler, steps, eta, guidance, spacing, clip_x0, T: int | None = None) -> None:
    """The sampling options of a call or of the ``[sample]`` section: finite and in range (a NaN or infinite
    eta or guidance weight would give all-NaN profiles). The sampler's name and its eta are checked by the
    sampler class (:meth:`~rnagen.models.diffusion.samplers.DDIMSampler.check_eta`)."""
    cls = sampler_class(sampler)
    check_number("steps", steps, f"[1, {T}]" if T is not None else ">= 1", integer=True)
    cls.check_eta(eta)
    check_number("guidance", guidance, GUIDANCE_RANGE, optional=True)
    if spacing not in SPACINGS:
        raise ConfigError(f"spacing must be one of {list(SPACINGS)}, got {spacing!r}")
    check_number("clip_x0", clip_x0, "> 0", optional=True)


def _default_train() -> TrainConfig:
    # The length is chosen on held-out profiles (rnagen.train.validation): past a data-dependent point, longer
    # training concentrates the samples (density above the real-vs-real value, recall below it) and, on small
    # sets, copies training profiles, so no fixed length suits data sets of different sizes
    # (benchmarks/RESULTS_objectives.md). 10% of each class is held out (a small set: enough for 20 profiles,
    # within 20%; a set of 50-99 profiles validates on the 10-19 that a fifth gives, with the score's copy factor
    # guarding against the lengths that reproduce training profiles, where its whole budget copies them:
    # "Small real sets"); the budget is 1,500 epochs clipped to [1,000, 8,000] steps, a check every twentieth of it,
    # stop after 6 checks without improvement, the best check's weights kept. A constant learning rate after
    # the warm-up, so that every checkpoint is a finished model rather than a point on a schedule laid out for
    # the whole budget; the EMA of the weights (Polyak averaging, horizon ~1,000 steps) does the annealing.
    # A fixed length instead: --set train.steps=3500 --set train.val_fraction=0.
    return TrainConfig(steps=None, epochs=1500.0, min_steps=1000, max_steps=8000, batch_size=128, lr=1e-3,
                       weight_decay=1e-4, lr_schedule="constant", warmup_steps=100, grad_clip=1.0,
                       ema_decay=0.999, checkpoint_every=500, log_every=50, val_fraction=0.1, patience=6,
                       val_min=10)


@dataclass
@checked(None)   # each section: an instance, or a dict built into one
class DiffusionConfig:
    """Configuration of the conditional diffusion generator (one TOML table per section)."""

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=_default_train)
    sample: SampleConfig = field(default_factory=SampleConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    """DP-SGD (:mod:`rnagen.train.privacy`): ``privacy.epsilon=E`` trains with a (E, δ) guarantee."""

    def __post_init__(self) -> None:
        if self.sample.steps > self.schedule.T:
            raise ConfigError(f"sample.steps ({self.sample.steps}) cannot exceed schedule.T ({self.schedule.T})")
        if self.objective.prediction == "eps":
            # every sampler's first step reads x0 = (x_T - sqrt(1 - ᾱ_T) ε̂) / sqrt(ᾱ_T): the network's error in ε̂
            # times 1 / sqrt(ᾱ_T), which the cosine schedule's clipped β (Nichol & Dhariwal 2021) puts near 2e4
            s = self.schedule
            root = float(np.sqrt(np.prod(1.0 - make_betas(s.kind, s.T, beta_start=s.beta_start,
                                                           beta_end=s.beta_end))))
            if root < EPS_MIN_ROOT_ABAR:
                raise ConfigError(f"objective.prediction=eps with schedule.kind={s.kind} (T = {s.T}): the first "
                                  f"sampling step multiplies the network's error in the noise by 1 / sqrt(ᾱ_T) = "
                                  f"{1.0 / root:.3g} and the samples diverge; use objective.prediction=v (the "
                                  "default), or schedule.kind=quad")
        # auto with privacy.noise_multiplier resolves to no anchor (DiffusionModel._anchor_kind): there is no
        # target ε to give the statistics a share of; an explicit anchor is refused with the fix
        if self.train.members > 1 and self.privacy.enabled:
            raise ConfigError(f"train.members = {self.train.members} trains that many networks on the same profiles, "
                              "each spending the privacy budget again; use train.members=1 with privacy")
        if self.objective.anchor in ("diag", "full") and self.privacy.enabled:
            if self.privacy.epsilon is None:
                raise ConfigError("objective.anchor splits privacy.epsilon between the anchor's statistics and "
                                  "DP-SGD; set privacy.epsilon instead of privacy.noise_multiplier (or "
                                  "objective.anchor=auto, no anchor then)")


# ----------------------------------------------------------------------------------------------------------
# the training objective
# ----------------------------------------------------------------------------------------------------------
class DiffusionObjective(nn.Module):
    """``forward(x0, y, generator=g) -> LossOutput``: the denoising loss of one batch (Ho et al. 2020, eq. 14).

    1. draw t uniformly in 0..T-1 (antithetic pairs t, T-1-t when enabled);
    2. draw ε ~ N(0, I) and form x_t = sqrt(ᾱ_t) x0 + sqrt(1-ᾱ_t) ε (:meth:`NoiseSchedule.add_noise`);
    3. replace each label by the null label with probability ``label_dropout`` (classifier-free guidance,
       Ho & Salimans 2022);
    4. regress the network output on ε (or v, :meth:`NoiseSchedule.velocity`) with a per-sample mean squared
       error, optionally min-SNR weighted, averaged over the batch.

    With ``noise_multiplicity`` K > 1, steps 1-4 draw K (t, ε) per profile and average its K losses into one
    per-profile loss before the batch mean (:meth:`multiple_draw_losses`; Dockhorn et al. 2022).

    The schedule is not a sub-module (it has no weights); its tensors are gathered on the batch's device.
    """

    def __init__(self, net: ResMLPDenoiser | AnchoredDenoiser, schedule: NoiseSchedule,
                 cfg: ObjectiveConfig) -> None:
        super().__init__()
        self.net = net
        self.schedule = schedule
        self.T = schedule.T
        self.cfg = cfg

    def forward(self, x0: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None) -> LossOutput:
        """The training loss of a batch ``x0`` with class ids ``y`` (steps 1-4 above); ``generator`` draws t and ε."""
        if self.cfg.noise_multiplicity > 1:
            per_sample, per_draw = self.multiple_draw_losses(x0, y, generator)
            return LossOutput(loss=per_sample.mean(), logs={"mse": float(per_draw.detach().mean())})
        B, dev = x0.shape[0], x0.device
        if self.cfg.antithetic:
            half = torch.randint(0, self.T, ((B + 1) // 2,), generator=generator, device=dev)
            t = torch.cat([half, self.T - 1 - half])[:B]
        else:
            t = torch.randint(0, self.T, (B,), generator=generator, device=dev)
        noise = torch.randn(x0.shape, generator=generator, device=dev, dtype=x0.dtype)
        x_t = self.schedule.add_noise(x0, noise, t)
        if self.cfg.label_dropout > 0:
            drop = torch.rand(B, generator=generator, device=dev) < self.cfg.label_dropout
            y = torch.where(drop, torch.full_like(y, self.net.null_label), y)
        out = self.net(x_t, t, y)
        target = noise if self.cfg.prediction == "eps" else self.schedule.velocity(x0, noise, t)
        per_sample = (out.float() - target.float()).pow(2).mean(dim=1)
        loss = (self._weights(t) * per_sample).mean() if self.cfg.loss_weighting == "min_snr" else per_sample.mean()
        return LossOutput(loss=loss, logs={"mse": float(per_sample.detach().mean())})

    def _weights(self, t: torch.Tensor) -> torch.Tensor:
        """min-SNR weights of timesteps ``t`` (Hang et al. 2023), any shape."""
        snr = self.schedule.snr_at(t.reshape(-1)).reshape(t.shape)
        clipped = snr.clamp(max=self.cfg.min_snr_gamma)
        return clipped / snr if self.cfg.prediction == "eps" else clipped / (snr + 1.0)

    def multiple_draw_losses(self, x0: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
                             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise multiplicity K (Dockhorn et al. 2022): K draws of (t, ε) per profile, in one batch row.

        Returns the per-profile losses ``(B,)`` (each the mean of its K weighted draws) and the unweighted
        per-draw errors ``(B, K)``.

        The network runs on ``(B, K, genes)`` with timesteps and labels ``(B, K)``: every layer acts on the last
        dimension, so row b of the batch holds profile b's K copies and a per-sample gradient (opacus's hooks sum
        over the middle dimension) is the gradient of profile b's loss, the mean of its K losses. Antithetic
        timesteps pair the copies within a profile (t and T-1-t).
        """
        B, K, dev = x0.shape[0], int(self.cfg.noise_multiplicity), x0.device
        if self.cfg.antithetic:
            half = torch.randint(0, self.T, (B, (K + 1) // 2), generator=generator, device=dev)
            t = torch.cat([half, self.T - 1 - half], dim=1)[:, :K]
        else:
            t = torch.randint(0, self.T, (B, K), generator=generator, device=dev)
        x0k = x0[:, None, :].expand(B, K, x0.shape[1])
        noise = torch.randn(x0k.shape, generator=generator, device=dev, dtype=x0.dtype)
        flat = (B * K, x0.shape[1])
        x_t = self.schedule.add_noise(x0k.reshape(flat), noise.reshape(flat), t.reshape(-1)).reshape(x0k.shape)
        yk = y[:, None].expand(B, K)
        if self.cfg.label_dropout > 0:
            drop = torch.rand((B, K), generator=generator, device=dev) < self.cfg.label_dropout
            yk = torch.where(drop, torch.full_like(yk, self.net.null_label), yk)
        out = self.net(x_t, t, yk)
        if self.cfg.prediction == "eps":
            target = noise
        else:
            target = self.schedule.velocity(x0k.reshape(flat), noise.reshape(flat), t.reshape(-1)).reshape(x0k.shape)
        per_draw = (out.float() - target.float()).pow(2).mean(dim=-1)  # (B, K)
        weighted = self._weights(t) * per_draw if self.cfg.loss_weighting == "min_snr" else per_draw
        return weighted.mean(dim=1), per_draw  # one loss per profile: its K draws averaged before any clipping


def _cfg_weight(value: Any) -> float:
    """A recorded classifier-free guidance weight (``meta.json``): a number in :data:`GUIDANCE_RANGE`."""
    return float(check_number("its guidance weight (cfg_weight)", value, GUIDANCE_RANGE))


def _member_record(m: "DiffusionModel") -> dict[str, Any]:
    """How one member of a mixture was trained: its seed, where it stopped, its autoguidance weight and space."""
    v = m.validation or {}
    return {"seed": int(m.seed), **{k: v[k] for k in ("steps", "best_step", "best_score", "stop_reason") if k in v},
            **({"autoguidance": v["guide"]["chosen"]} if v.get("guide") else {}),
            **({"guidance": v["guide"]["guidance"]["chosen"]} if (v.get("guide") or {}).get("guidance") else {}),
            **({"n_components": m.subspace["n_components"]} if m.subspace else {})}


# ----------------------------------------------------------------------------------------------------------
# the user-facing model
# ----------------------------------------------------------------------------------------------------------
@register
class DiffusionModel(Generator):
    """Conditional denoising diffusion model for expression profiles (DDPM training; DDPM, DDIM or
    DPM-Solver++ sampling).

    Examples
    --------
    >>> model = DiffusionModel.from_config(overrides=["train.steps=500"])      # doctest: +SKIP
    >>> model.fit(adata, label_key="tissue", seed=0)                           # doctest: +SKIP
    >>> syn = model.sample(n_per_label=100, sampler="ddim", steps=50, seed=1)  # doctest: +SKIP
    """

    name = "diffusion"
    config_cls = DiffusionConfig

    net: ResMLPDenoiser | AnchoredDenoiser
    schedule: NoiseSchedule
    supports_space = True
    guide_net: nn.Module | None = None
    """The autoguidance guide (``objective.guide_fraction``): the denoiser with the weights of an earlier check."""
    guide_step: int = 0
    """The training step of the guide's weights (0: no guide)."""
    guide_weight: float = 1.0
    """The autoguidance weight chosen on the held-out profiles at training (1 where nothing was held out)."""
    cfg_weight: float = 0.0
    """The classifier-free guidance weight chosen with it (0 where nothing was held out, or without label
    dropout: :data:`CFG_WEIGHTS`)."""
    members: tuple["DiffusionModel", ...] = ()
    """The mixture's other networks (``train.members``), each a model of its own (network, guide, autoguidance
    weight, principal-component space) on this model's data; none for a single network."""
    _member_meta: tuple[dict[str, Any], ...] = ()  # their records in meta.json, read before their tensors

    def _keep_guide(self, objective: nn.Module, result: Any) -> None:
        """Make ``result``'s guide weights the guide (none without them) and load its sampling weights into
        ``objective``, the training objective around :attr:`net`."""
        self.guide_net, self.guide_step = None, 0
        if result.guide_state is not None:
            # the guide's weights are those of the whole objective (a principal-component codec around it): loaded
            # there, the denoiser's are read off before the weights sampling uses replace them
            objective.load_state_dict(result.guide_state)
            self._set_guide({k: v.detach().clone() for k, v in self.net.state_dict().items()})
            self.guide_step = int(result.guide_step)
        result.apply_to(objective)

    def _set_guide(self, state: dict[str, torch.Tensor]) -> None:
        """Make the guide a copy of the denoiser holding ``state``."""
        import copy

        guide = copy.deepcopy(self.net)
        guide.load_state_dict(state)
        self.guide_net = guide.to(self.device or torch.device("cpu")).eval()

    def _build(self) -> None:
        cfg: DiffusionConfig = self.config
        n = cfg.network
        self.schedule = NoiseSchedule(cfg.schedule.kind, cfg.schedule.T, beta_start=cfg.schedule.beta_start,
                                      beta_end=cfg.schedule.beta_end)
        self.net = ResMLPDenoiser(self.space_dim, self.n_labels, width=n.width, depth=n.depth, time_dim=n.time_dim,
                                  dropout=n.dropout, expansion=n.expansion, cond_dim=n.cond_dim or None,
                                  gene_affine=n.affine_path(self.space_dim))
        if (kind := self._anchor_kind()) != "none":
            self.net = AnchoredDenoiser(self.net, self.schedule.alphas_cumprod,
                                        prediction=cfg.objective.prediction, kind=kind)
        if self.device is not None:
            self.net.to(self.device)
            self.schedule.to(self.device)  # the training objective gathers ᾱ_t on the batch's device

    def _privacy_release_share(self) -> float:
        """``objective.anchor_epsilon_share`` where the anchor's statistics are released (any anchor but
        ``none``; :meth:`_anchor_kind`)."""
        return self.config.objective.anchor_epsilon_share if self.config.objective.anchor != "none" else 0.0

    def _anchor_kind(self) -> str:
        """The anchor built: ``objective.anchor``, except that ``auto`` and a private ``full`` anchor are
        ``diag`` above 4,000 genes (``auto``: no genes x genes eigenbasis per class; private: the private
        Gaussian releases no correlation there, :func:`rnagen.models.gaussian.auto_covariance_share`, so the
        per-class eigenbasis would be the identity), and ``auto`` is ``full`` below; ``auto`` with
        ``privacy.noise_multiplier`` (no target ε, so no share of it for the statistics) is ``none``."""
        kind = self.config.objective.anchor
        # in a principal-component space the anchor has at most MAX_COMPONENTS dimensions
        many = (MAX_COMPONENTS if self.subspace is not None else self.n_genes) > FULL_COVARIANCE_MAX_GENES
        if kind == "auto":
            if self.config.privacy.enabled and self.config.privacy.epsilon is None:
                return "none"
            return "diag" if many else "full"
        if kind == "full" and self.config.privacy.enabled and many:
            return "diag"
        return kind

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, run_dir: Path | None, progress: bool,
             resume: bool) -> None:
        n = int(self.config.train.members)
        self.members = ()
        self._fit_member(X, y, seed=seed, run_dir=run_dir, progress=progress, resume=resume,
                         checkpoint=member_checkpoint(0), desc="diffusion" if n == 1 else f"diffusion 1/{n}")
        if n == 1:
            return
        members = []
        for k in range(1, n):
            m = self._member()
            m.seed = member_seed(seed, k)
            # each member resumes from its own checkpoint; the finished ones return at once from theirs
            m._fit_member(X, y, seed=m.seed, run_dir=run_dir, progress=progress, resume=resume,
                          checkpoint=member_checkpoint(k), desc=f"diffusion {k + 1}/{n}")
            m._fit_copies = None   # a member keeps no reference to the training profiles
            members.append(m)
        self.members = tuple(members)
        parts = [self, *members]
        self.train_seconds = float(sum(m.train_seconds for m in parts))
        self.history = [{"member": k, **row} for k, m in enumerate(parts) for row in m.history]
        if self.validation is not None:
            own = self.validation
            self.validation = {**own, "curve": [{"member": k, **row} for k, m in enumerate(parts)
                                                for row in (m.validation or {}).get("curve", [])],
                               "members": [_member_record(m) for m in parts]}

    def _member(self) -> "DiffusionModel":
        """A model for another member of the mixture: this one's configuration, data binding and device."""
        m = type(self)(self.config)
        m.var_names, m.labels, m.label_counts = self.var_names, self.labels, self.label_counts
        m.label_key, m.n_train, m.device, m._fingerprint = self.label_key, self.n_train, self.device, self._fingerprint
        m._fit_copies = self._fit_copies   # the same profiles: their copies found once for every member
        return m

    def _fit_member(self, X: np.ndarray, y: np.ndarray, *, seed: int, run_dir: Path | None, progress: bool,
                    resume: bool, checkpoint: str, desc: str) -> None:
        """Train this model's own network (one member of a mixture) with ``seed``, checkpointed in ``checkpoint``."""
        built: list[nn.Module] = []
        chosen = self._choose_space(X, y, seed)
        self.codec, self.subspace = None, chosen
        kind = self._anchor_kind()
        if kind == "full" and chosen is None and self.n_genes > FULL_COVARIANCE_MAX_GENES:
            raise ConfigError(f"objective.anchor=full keeps a genes x genes eigenbasis per class, too large for "
                              f"{self.n_genes} genes (at most {FULL_COVARIANCE_MAX_GENES}); use objective.anchor=diag "
                              "or auto")

        def setup(Xt: np.ndarray, yt: np.ndarray):
            # the principal directions, if any, of the profiles trained on (not of the validation hold-out)
            self._fit_space(Xt, yt, chosen, seed=seed)
            # the initial weights come from the seed too, without touching torch's global generator
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._build()
            kw: dict[str, Any] = {}
            if kind != "none":
                assert isinstance(self.net, AnchoredDenoiser)
                if self.codec is not None:
                    Xt = self._encode(Xt)
                stats, prior = anchor_statistics(Xt, yt, self.n_labels, kind=kind,
                                                 epsilon_share=self.config.objective.anchor_epsilon_share,
                                                 privacy=self.config.privacy, seed=seed)
                means, eig, basis = stats
                self.net.set_anchor(torch.from_numpy(means).float(), torch.from_numpy(eig).float(),
                                    None if basis is None else torch.from_numpy(basis).float())
                if prior is not None:
                    kw["privacy_prior"] = prior
            objective = self._objective()
            built.append(objective if self.codec is None else SubspaceObjective(self.codec, objective))
            kw["guide_fraction"] = self.config.objective.guide_fraction
            return built[-1], kw

        def generate(Xt, yt, yy: np.ndarray, sd: int) -> np.ndarray:
            # validation draws with the configured sampler, as sample() does by default; in a principal-component
            # space the scores, since only they are trained (the residual is fitted once) and in the genes the
            # residual's noise would swamp their differences between checks; without guidance while the length
            # is chosen (the guide comes from that length), then with each pair of weights to choose one
            return self._sample_own(yy, seed=sd, batch_size=4096, progress=False, decode=False,
                                    guidance=pair[0], autoguidance=pair[1])

        pair = [0.0, 1.0]   # (classifier-free guidance, autoguidance) of the validation draws

        def choose(result: Any, validator: Callable[[], dict[str, float]]) -> dict[str, Any]:
            # the held-out profiles that chose the length score each (classifier-free guidance, autoguidance)
            # pair on the chosen network and its guide (the validator's fixed seeds: the pairs are compared on
            # the same draws); the first of equal scores in the order of CFG_WEIGHTS, then GUIDE_WEIGHTS, so
            # (0, 1) unless another does better. (0, 1) is the network alone, on the draws its own check scored:
            # that check's recorded score. Classifier-free guidance needs the null label's output, which a model
            # trained without label dropout has not learnt; autoguidance needs the guide
            guided = result.guide_state is not None
            cfgs = CFG_WEIGHTS if self.config.objective.label_dropout > 0 else (0.0,)
            if not guided and len(cfgs) == 1:
                return {}
            if guided:
                self._keep_guide(built[-1], result)
            weights = GUIDE_WEIGHTS if guided else (1.0,)
            v = result.validation or {}
            own = next((float(r["score"]) for r in v.get("curve", []) if r["step"] == v.get("best_step")), None)
            grid = []
            for g in cfgs:
                row = []
                for w in weights:
                    pair[:] = [g, w]
                    row.append(own if (g, w) == (0.0, 1.0) and own is not None else float(validator()["score"]))
                grid.append(row)
            pair[:] = [0.0, 1.0]
            i, j = divmod(int(np.argmax(np.asarray(grid, dtype=float))), len(weights))
            record: dict[str, Any] = {"weights": list(weights), "scores": grid[0], "chosen": weights[j]}
            if guided:
                record["step"] = int(result.guide_step)
            if len(cfgs) > 1:
                record["guidance"] = {"weights": list(cfgs), "scores": grid, "chosen": cfgs[i]}
            return record

        assert self.device is not None  # Generator.fit resolves it for every torch model
        result = fit_validated(setup, generate, X, y, self._train_config(), device=self.device, seed=seed,
                               run_dir=run_dir, progress=progress, resume=resume, fingerprint=self._fingerprint,
                               desc=desc, privacy=self.config.privacy, checkpoint_name=checkpoint,
                               scored_in=self._encode if chosen is not None else None,
                               # preprocess.space=auto measured it on fit_validated's split
                               outside_span=(chosen or {}).get("outside_span"), choose=choose,
                               groups=None if self._private else self._copy_groups(X))
        self._keep_guide(built[-1], result)   # and sampling uses the best check's weights (else the EMA's)
        guide = (result.validation or {}).get("guide", {})
        self.guide_weight = float(guide.get("chosen", 1.0))
        self.cfg_weight = float(guide.get("guidance", {}).get("chosen", 0.0))
        self.net.eval()
        self.history = result.history
        self.validation = result.validation
        self.privacy = self._privacy_record(result)
        self.train_seconds = result.seconds

    def _objective(self) -> nn.Module:
        """The training objective of the freshly built network (a module whose ``forward(x0, y, generator)``
        returns a :class:`~rnagen.train.LossOutput`); variants of the objective override this."""
        return DiffusionObjective(self.net, self.schedule, self.config.objective)

    # --- sampling ----------------------------------------------------------------------------------------
    def _sample(self, y: np.ndarray, *, seed: int, batch_size: int, progress: bool, decode: bool = True,
                **options: Any) -> np.ndarray:
        if not self.members or not len(y):
            return self._sample_own(y, seed=seed, batch_size=batch_size, progress=progress, decode=decode, **options)
        # a mixture (train.members): each profile from one member drawn at random, with equal weights; member k
        # draws its profiles with its own seed, so a (seed, batch_size) reproduces the set
        if not decode:
            raise ValueError("a mixture's members may train in different spaces; sample them decoded")
        parts, y = [self, *self.members], np.asarray(y)
        pick = np.random.default_rng([int(seed), len(parts)]).integers(len(parts), size=len(y))
        out = np.empty((len(y), self.n_genes), dtype=np.float32)
        used: list[dict[str, Any]] = []
        for k, m in enumerate(parts):
            rows = np.flatnonzero(pick == k)
            if len(rows):
                out[rows] = m._sample_own(y[rows], seed=member_seed(seed, k), batch_size=batch_size,
                                          progress=progress, **options)
                used.append(m._sampling_used)
        # what the draws used; the weights each member chose at training, where they differ
        record = dict(used[0])
        for key in ("autoguidance", "guidance"):
            weights = [u.get(key) for u in used]
            if len(set(weights)) > 1:
                record[key] = ", ".join(f"{w:g}" for w in weights)
        self._sampling_used = {**record, "members": len(parts)}
        return out

    def _sample_own(self, y: np.ndarray, *, seed: int, batch_size: int, progress: bool, decode: bool = True,
                    **options: Any) -> np.ndarray:
        """Profiles from this model's own network (one member of a mixture); see :meth:`_sample`."""
        s = self.config.sample
        valid = {"sampler", "steps", "eta", "guidance", "spacing", "clip_x0", "autoguidance", "autoguidance_from",
                 "autoguidance_to"}
        unknown = sorted(set(options) - valid)
        if unknown:
            raise ConfigError(f"unknown sampler option(s) {unknown}; valid: {sorted(valid)}")
        opt = {k: (options[k] if options.get(k) is not None else getattr(s, k))
               for k in valid - {"eta", "autoguidance"}}
        auto = options.get("autoguidance")
        check_number("autoguidance", auto, AUTOGUIDANCE_RANGE, optional=True)
        # a weight asked for in the call is used as it is (generate refuses one without a guide); else the configured
        # weight, else the one chosen at training, where there is a guide; without one (objective.guide_fraction = 0,
        # or a model saved before guides were kept) the network alone
        if auto is None:
            auto = 1.0 if self.guide_net is None else (
                s.autoguidance if s.autoguidance is not None else self.guide_weight)
        opt["autoguidance"] = float(auto)
        # classifier-free guidance likewise: the call's weight, else the configured one, else the one chosen at
        # training
        if opt["guidance"] is None:
            opt["guidance"] = float(self.cfg_weight)
        eta = options.get("eta")
        if eta is None and opt["sampler"] == "ddim":
            eta = s.eta  # the configured eta is DDIM's; ddpm and dpm++ run with their own unless one is asked
        _check_sample_options(opt["sampler"], opt["steps"], eta, opt["guidance"], opt["spacing"],
                              opt["clip_x0"], T=self.schedule.T)
        _check_interval(opt["autoguidance_from"], opt["autoguidance_to"])
        if float(opt["guidance"]) > 0 and self.config.objective.label_dropout <= 0:
            # ε(x, ∅) of eq. 6 is the output for the null label, which a model never shown it has not learnt
            raise ConfigError(f"guidance {opt['guidance']:g} needs the unconditional output the model learns from "
                              "labels dropped in training, and this one was trained with objective.label_dropout = "
                              "0; sample without guidance, or train with objective.label_dropout > 0")
        # what the samples were drawn with, defaults included (recorded with them by sample()): the eta the
        # sampler runs with (ddpm's 1, dpm++'s 0; another asked of either is refused)
        used_eta = sampler_class(opt["sampler"]).check_eta(eta)
        self._sampling_used = {k: v for k, v in {**opt, "eta": used_eta}.items() if v is not None}
        sampler = make_sampler(opt["sampler"], self.schedule, prediction=self.config.objective.prediction,
                               spacing=opt["spacing"], clip_x0=opt["clip_x0"], eta=eta)
        sampler.set_timesteps(int(opt["steps"]))
        w = float(opt["guidance"])
        return self.generate(torch.from_numpy(np.asarray(y, dtype=np.int64)), sampler=sampler, guidance=w,
                             seed=seed, batch_size=batch_size, progress=progress, decode=decode,
                             autoguidance=opt["autoguidance"],
                             interval=(float(opt["autoguidance_from"]), float(opt["autoguidance_to"])))

    @torch.inference_mode()
    def generate(self, y: torch.Tensor, *, sampler, guidance: float, seed: int, batch_size: int,
                 progress: bool = False, decode: bool = True, autoguidance: float = 1.0,
                 interval: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
        """Run ``sampler`` (with its own eta) for class ids ``y`` in batches; returns float32 profiles in the
        transformed space (in a principal-component space, ``preprocess.space``, the scores decoded with each
        class's residual drawn; with ``decode=False`` the scores themselves). ``autoguidance`` w != 1 combines
        the network's output with its guide's (:attr:`SampleConfig.autoguidance`) at the steps whose (t + 1) / T
        lies in ``interval`` = (from, to] (:attr:`SampleConfig.autoguidance_from`).

        One seeded generator draws every batch's x_T and step noise in order (then the residual), so the output
        is reproducible for a given (seed, batch_size).
        """
        from ...utils import progress_bar

        net, dev = self.net, self.device or torch.device("cpu")
        net.eval()
        guide = self.guide_net if autoguidance != 1.0 else None
        if autoguidance != 1.0 and guide is None:
            raise ConfigError(f"autoguidance {autoguidance:g} needs the guide a model keeps from its training "
                              "(objective.guide_fraction > 0), and this one kept none; sample with autoguidance 1, or "
                              "train again with objective.guide_fraction > 0")
        lo, hi = interval
        T = sampler.schedule.T   # the noise level of step t is (t + 1) / T on the sampler's own schedule
        g = torch.Generator(device=dev)
        g.manual_seed(int(seed))
        out, decode = self._draw_buffer(len(y), decode)
        starts = range(0, len(y), batch_size)
        bar = progress_bar(total=len(y) * sampler.num_steps, desc=f"{sampler.name} {sampler.num_steps} steps",
                           disable=not progress, leave=False, dynamic_ncols=True, unit="profile-step",
                           unit_scale=True)
        for start in starts:
            yb = y[start:start + batch_size].to(dev)
            B = len(yb)
            if guidance > 0:
                y_in = torch.cat([yb, torch.full_like(yb, net.null_label)])
            t_buf = torch.empty(1, dtype=torch.long, device=dev)  # one timestep, broadcast over the batch

            def guided(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
                if guidance == 0:
                    return model(x, t_buf, yb)
                # classifier-free guidance (Ho & Salimans 2022, eq. 6): ε̃ = (1+w) ε(x, y) - w ε(x, ∅),
                # conditional and unconditional branches in one batched forward pass
                both = model(torch.cat([x, x]), t_buf, y_in)
                cond, uncond = both[:B], both[B:]
                return cond.mul(1.0 + guidance).sub_(uncond, alpha=guidance)

            def denoise(x: torch.Tensor, t: int) -> torch.Tensor:
                t_buf.fill_(t)
                out = guided(net, x)
                if guide is None or not lo < (int(t) + 1) / T <= hi:
                    return out
                # autoguidance (Karras et al. 2024, eq. 2): D_guide + w (D - D_guide), an affine combination, so
                # the same on the ε, v or x0 the networks output
                return guided(guide, x).lerp_(out, autoguidance)

            def counted(x: torch.Tensor, t: int) -> torch.Tensor:
                bar.update(B)
                return denoise(x, t)

            x = self._decoded(sampler.sample(counted, (B, self.space_dim), generator=g, device=dev), yb, g, decode)
            out[start:start + B] = x.float().cpu().numpy()
            del x
        bar.close()
        return out

    # --- persistence -------------------------------------------------------------------------------------
    def _own_tensors(self) -> dict[str, torch.Tensor]:
        out = {k: v for k, v in self.net.state_dict().items()}
        if self.guide_net is not None:
            out.update({GUIDE_PREFIX + k: v for k, v in self.guide_net.state_dict().items()})
        return out

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        # member k's network, guide and principal-component space under member{k}. (member 0's as a lone network's)
        out = self._own_tensors()
        for k, m in enumerate(self.members, start=1):
            prefix = MEMBER_PREFIX.format(k)
            out.update({prefix + key: v for key, v in {**m._own_tensors(), **m._space_tensors()}.items()})
        return out

    def _load_own_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict({k: v for k, v in tensors.items() if not k.startswith(GUIDE_PREFIX)})
        self.net.to(self.device or torch.device("cpu")).eval()
        guide = {k[len(GUIDE_PREFIX):]: v for k, v in tensors.items() if k.startswith(GUIDE_PREFIX)}
        self.guide_net = None
        if guide:
            self._set_guide(guide)

    def _saved_config(self, raw: dict[str, Any]) -> None:
        # every run folder's config.toml names each network key; one without network.gene_affine holds weights
        # of a denoiser without the per-gene affine path
        network = raw.get("network")
        if not isinstance(network, dict) or "gene_affine" not in network:
            self.config.network.gene_affine = False

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        n = int(self.config.train.members)
        if len(self._member_meta) != n - 1:
            raise ValueError(f"meta.json describes {len(self._member_meta) + 1} networks, config.toml train.members "
                             f"{n}")
        prefixes = [MEMBER_PREFIX.format(k) for k in range(1, n)]
        stray = sorted({k.split(".", 1)[0] for k in tensors if k.startswith("member")
                        and not k.startswith(tuple(prefixes))})
        if stray:
            raise ValueError(f"it holds tensors of networks ({', '.join(stray)}) that config.toml does not describe")
        self._load_own_tensors({k: v for k, v in tensors.items() if not k.startswith("member")})
        members = []
        for prefix, meta in zip(prefixes, self._member_meta):
            own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            if not own:
                raise ValueError(f"it holds no tensors of the network {prefix.rstrip('.')}")
            m = self._member()
            m.seed, m.guide_step, m.guide_weight = meta["seed"], meta["guide_step"], meta["guide_weight"]
            m.cfg_weight = meta["cfg_weight"]
            if meta["subspace"] is not None:
                m.subspace = dict(meta["subspace"])
                m._new_codec()
            m._build()
            m._load_own_tensors(m._load_space(own))
            m.is_fitted = True
            members.append(m)
        self.members = tuple(members)

    def _extra_meta(self) -> dict[str, Any]:
        return {"n_parameters": int(sum(p.numel() for p in self.net.parameters())),
                "flops_per_profile_step": self.net.flops_per_sample(),
                **({"guide_step": int(self.guide_step), "guide_weight": float(self.guide_weight)}
                   if self.guide_net is not None else {}),
                **({"cfg_weight": float(self.cfg_weight)} if self.cfg_weight else {}),
                **({"members": [{"seed": int(m.seed), "guide_step": int(m.guide_step),
                                 "guide_weight": float(m.guide_weight), "subspace": m.subspace,
                                 **({"cfg_weight": float(m.cfg_weight)} if m.cfg_weight else {})}
                                for m in self.members]} if self.members else {})}

    def _load_extra_meta(self, extra: dict[str, Any]) -> None:
        self.guide_step = int(extra.get("guide_step", 0))
        self.guide_weight = float(extra.get("guide_weight", 1.0))
        # a run saved before the guidance weight was chosen samples without it, as it did
        self.cfg_weight = _cfg_weight(extra.get("cfg_weight", 0.0))
        members = extra.get("members", [])
        if not isinstance(members, list) or not all(
                isinstance(m, dict) and isinstance(m.get("seed"), int) and isinstance(m.get("guide_step"), int)
                and isinstance(m.get("guide_weight"), (int, float))
                and (m.get("subspace") is None or valid_subspace_record(m["subspace"]))
                for m in members):
            raise ValueError(f"its members record {members!r} does not describe networks")
        self._member_meta = tuple({"seed": m["seed"], "guide_step": m["guide_step"],
                                   "guide_weight": float(m["guide_weight"]), "subspace": m.get("subspace"),
                                   "cfg_weight": _cfg_weight(m.get("cfg_weight", 0.0))}
                                  for m in members)

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """Optuna search space: dotted config keys -> values drawn from ``trial`` (network width, depth and
        dropout, noise schedule, prediction target, learning rate, training steps)."""
        return {
            "network.width": trial.suggest_categorical("network.width", [256, 512, 1024]),
            "network.depth": trial.suggest_int("network.depth", 1, 4),
            "network.dropout": trial.suggest_float("network.dropout", 0.0, 0.3),
            "schedule.kind": (kind := trial.suggest_categorical("schedule.kind", ["quad", "linear", "cosine"])),
            # ε with the cosine schedule diverges at sampling (EPS_MIN_ROOT_ABAR): v alone there
            "objective.prediction": ("v" if kind == "cosine"
                                     else trial.suggest_categorical("objective.prediction", ["eps", "v"])),
            "train.lr": trial.suggest_float("train.lr", 1e-4, 3e-3, log=True),
            "train.steps": trial.suggest_int("train.steps", 500, 4000, step=500),
        }
