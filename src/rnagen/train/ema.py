"""Exponential moving average of a module's parameters (used for sampling, as in DDPM/DDIM practice)."""
from __future__ import annotations

import torch
from torch import nn


class EMA:
    """Shadow copy of parameters and buffers: ``shadow = decay * shadow + (1 - decay) * param``.

    ``decay = 0`` makes the shadow track the live weights exactly. A warm-up (``min(decay, (1+n)/(10+n))``)
    keeps the early average from being dominated by the random initialisation.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999):
        self.decay = float(decay)
        self.num_updates = 0
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Move the shadow towards ``module``'s current weights (one step of the average, after an optimiser step).

        Floating-point tensors are averaged; integer buffers (e.g. counters) are copied.
        """
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for k, v in module.state_dict().items():
            s = self.shadow[k]
            if v.dtype.is_floating_point:
                s.lerp_(v.detach(), 1.0 - d)
            else:
                s.copy_(v)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The shadow tensors by parameter name (saved in checkpoints)."""
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor], num_updates: int = 0) -> None:
        """Restore the shadow from :meth:`state_dict` and the update count (which sets the warm-up) on resume."""
        for k, v in state.items():
            self.shadow[k].copy_(v)
        self.num_updates = int(num_updates)

    def apply_to(self, module: nn.Module) -> None:
        """Copy the averaged weights into ``module``."""
        module.load_state_dict(self.shadow)
