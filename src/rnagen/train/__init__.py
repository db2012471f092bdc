"""The training loop shared by every torch model: batches, AdamW, LR schedule, EMA, mixed precision,
atomic checkpoints with resume, data-parallel training with torch.distributed, and the training length
chosen on held-out profiles (:mod:`.validation`)."""
from .distributed import DistInfo, dist_info, init_distributed
from .ema import EMA
from .loop import LossOutput, StepContext, TrainConfig, TrainResult, resolve_budget, train_loop
from .validation import FidelityValidator, describe, fit_validated, stratified_holdout

__all__ = ["TrainConfig", "TrainResult", "LossOutput", "StepContext", "train_loop", "resolve_budget",
           "FidelityValidator", "describe", "fit_validated", "stratified_holdout", "EMA", "DistInfo",
           "dist_info", "init_distributed"]
