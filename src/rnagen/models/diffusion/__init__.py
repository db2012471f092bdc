"""Conditional diffusion generator: noise schedules, DDPM/DDIM/DPM-Solver++ samplers, a residual-MLP denoiser, and the
user-facing :class:`DiffusionModel` (registered as ``"diffusion"``)."""
from .model import (
                    DiffusionConfig,
                    DiffusionModel,
                    DiffusionObjective,
                    NetworkConfig,
                    ObjectiveConfig,
                    SampleConfig,
                    ScheduleConfig,
)
from .network import ResMLPDenoiser, SinusoidalEmbedding
from .samplers import DDIMSampler, DDPMSampler, DPMSolverPPSampler, make_sampler, respace
from .schedule import NoiseSchedule, make_betas

__all__ = ["DiffusionModel", "DiffusionConfig", "DiffusionObjective", "NetworkConfig", "ObjectiveConfig",
           "SampleConfig", "ScheduleConfig", "ResMLPDenoiser", "SinusoidalEmbedding", "DDIMSampler",
           "DDPMSampler", "DPMSolverPPSampler", "make_sampler", "respace", "NoiseSchedule", "make_betas"]
