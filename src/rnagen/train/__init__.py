"""The training loop shared by every torch model: batches, AdamW, LR schedule, EMA, mixed precision,
atomic checkpoints with resume, and data-parallel training with torch.distributed."""
from .loop import LossOutput, StepContext, TrainConfig, TrainResult, train_loop
from .ema import EMA
from .distributed import DistInfo, dist_info, init_distributed

__all__ = ["TrainConfig", "TrainResult", "LossOutput", "StepContext", "train_loop", "EMA", "DistInfo",
           "dist_info", "init_distributed"]
