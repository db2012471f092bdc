"""A tiny deterministic torch generator for the DDP tests (registered as ``ddp-toy``).

Its loss uses no random noise (unless ``dropout`` is set), so a 2-rank run with a global batch B must follow the
same trajectory as a 1-process run with batch B up to float summation order. Test hooks (environment variables,
read on every rank):

* ``RNAGEN_TEST_DUMP=DIR``: after training, each rank writes its live and EMA weights to DIR/rank{R}.pt;
* ``RNAGEN_TEST_CRASH_AT=K``: rank 1 (rank 0 when alone) dies hard (``os._exit(3)``) at optimiser step K,
  like a lost machine, so the run must be resumed from its last checkpoint;
* ``RNAGEN_TEST_NAN_AT=K``: rank 1 (rank 0 when alone) returns a NaN loss at optimiser step K, as a diverging
  run does on one rank first.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from rnagen.models._base import Generator, PreprocessConfig, register
from rnagen.train import LossOutput, TrainConfig, train_loop
from rnagen.train.distributed import dist_info
from rnagen.train.privacy import PrivacyConfig


@dataclass
class ToyConfig:
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    # log rows every 4 steps, checkpoints every 10: a run resumed from a checkpoint resumes inside a logging window
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=30, batch_size=16, lr=1e-2,
                                                                   warmup_steps=3, ema_decay=0.9,
                                                                   checkpoint_every=10, log_every=4))
    width: int = 16
    dropout: float = 0.0
    """Dropout after the hidden layer: its masks come from torch's global generator, one stream per rank."""


class ToyNet(nn.Module):
    def __init__(self, n_genes: int, n_labels: int, width: int, dropout: float = 0.0):
        super().__init__()
        self.n_labels = n_labels
        self.net = nn.Sequential(nn.Linear(n_genes + n_labels, width), nn.Tanh(), nn.Dropout(dropout),
                                 nn.Linear(width, n_genes))
        self.calls = 0

    def forward(self, x, y, generator=None):
        crash = os.environ.get("RNAGEN_TEST_CRASH_AT")
        info = dist_info()
        if crash is not None and self.calls == int(crash) and info.rank == min(1, info.world_size - 1):
            os._exit(3)
        self.calls += 1
        onehot = nn.functional.one_hot(y, self.n_labels).float()
        # reconstruct the profile from a shrunk copy and the label: deterministic, label-dependent
        pred = self.net(torch.cat([0.5 * x, onehot], dim=1))
        loss = ((pred - x) ** 2).mean()
        nan = os.environ.get("RNAGEN_TEST_NAN_AT")
        if nan is not None and self.calls == int(nan) and info.rank == min(1, info.world_size - 1):
            loss = loss * float("nan")
        return LossOutput(loss, {"mse": float(loss.detach())})


@register
class DDPToy(Generator):
    """Test-only deterministic torch model."""

    name = "ddp-toy"
    config_cls = ToyConfig

    def _build(self) -> None:
        # fixed initial weights, drawn without touching the global RNG
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1234)
            self.net = ToyNet(self.n_genes, self.n_labels, self.config.width, self.config.dropout)

    def _fit(self, X, y, *, seed, run_dir, progress, resume) -> None:
        self._build()
        privacy = getattr(self.config, "privacy", None)
        res = train_loop(self.net, torch.from_numpy(X), torch.from_numpy(y), self.config.train,
                         device=self.device, seed=seed, run_dir=run_dir, progress=progress, resume=resume,
                         fingerprint=self._fingerprint, privacy=privacy)
        self.history = res.history
        self.ema_state = res.ema.state_dict() if res.ema is not None else self.net.state_dict()
        if res.private is not None:
            self.privacy = self._privacy_record(res)
        dump = os.environ.get("RNAGEN_TEST_DUMP")
        if dump:
            info = dist_info()
            extra = {} if res.private is None else {"key": int(res.private._key), "epsilon": res.private.epsilon()}
            torch.save({"live": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()},
                        "ema": {k: v.detach().cpu().clone() for k, v in self.ema_state.items()},
                        "history": self.history, "world_size": info.world_size, **extra},
                       os.path.join(dump, f"rank{info.rank}.pt"))

    def _sample(self, y, *, seed, batch_size, progress, **options) -> np.ndarray:
        yt = torch.from_numpy(y)
        self.net.eval()   # no dropout while sampling
        with torch.no_grad():
            onehot = nn.functional.one_hot(yt, self.n_labels).float()
            x = self.net.net(torch.cat([torch.zeros(len(y), self.n_genes), onehot], dim=1))
        return x.numpy().astype(np.float32)

    def _state_tensors(self):
        return {f"net.{k}": v for k, v in self.ema_state.items()}

    def _load_state_tensors(self, tensors) -> None:
        self.net.load_state_dict({k[4:]: v for k, v in tensors.items()})
        self.ema_state = self.net.state_dict()


@dataclass
class PrivateToyConfig(ToyConfig):
    """The toy trained with DP-SGD (noise multiplier 0.8, clipping norm 1); ``privacy.reproducible`` unset: a
    secret key per process, which the ranks must share."""

    privacy: PrivacyConfig = field(default_factory=lambda: PrivacyConfig(noise_multiplier=0.8, max_grad_norm=1.0))


@register
class DDPToyPrivate(DDPToy):
    """Test-only: the deterministic toy trained with DP-SGD."""

    name = "ddp-toy-private"
    config_cls = PrivateToyConfig
