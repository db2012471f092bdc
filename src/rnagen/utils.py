"""Small shared helpers: device choice and explicit random generators."""
from __future__ import annotations

import os
from typing import Literal

import numpy as np

from .errors import ConfigError

DeviceName = Literal["auto", "cpu", "cuda"] | str


def resolve_device(device: DeviceName = "auto"):
    """Return a :class:`torch.device`; ``"auto"`` picks CUDA when available, else CPU.

    ``"cuda:1"`` style names are accepted. Asking for CUDA on a machine without it is a user error.
    """
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available; use --device cpu or auto")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {device!r}; use auto, cpu or cuda")
    return dev


def torch_generator(seed: int, device=None):
    """A seeded :class:`torch.Generator` on ``device`` (never touches global RNG state)."""
    import torch

    g = torch.Generator(device=device if device is not None else "cpu")
    g.manual_seed(int(seed))
    return g


def numpy_rng(seed: int | None) -> np.random.Generator:
    """A seeded NumPy generator."""
    return np.random.default_rng(seed)


def n_threads() -> int:
    """CPU threads torch should use (respects ``OMP_NUM_THREADS``)."""
    env = os.environ.get("OMP_NUM_THREADS")
    if env and env.isdigit():
        return max(1, int(env))
    return max(1, os.cpu_count() or 1)
