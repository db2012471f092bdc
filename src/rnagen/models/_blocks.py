"""Network pieces shared by the conditional VAE and the WGAN-GP.

Gene vectors have no spatial order, so these are plain MLP blocks, ``Linear -> norm -> LeakyReLU``, as in the
paper's baselines (Lacan et al. 2026: BatchNorm and LeakyReLU, label concatenated to the input). The label
enters as a one-hot vector or a learned embedding concatenated to a network's input (Mirza & Osindero 2014;
Sohn et al. 2015).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

__all__ = ["LabelInput", "mlp", "Norm"]

Norm = Literal["batch", "layer", "none"]


class LabelInput(nn.Module):
    """Class ids -> conditioning vector: one-hot (``dim == 0``) or a learned embedding of size ``dim``."""

    def __init__(self, n_labels: int, dim: int = 0) -> None:
        super().__init__()
        self.n_labels = int(n_labels)
        self.embed = nn.Embedding(self.n_labels, dim) if dim > 0 else None
        self.out_dim = dim if dim > 0 else self.n_labels

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Conditioning vectors ``(batch, out_dim)`` for class ids ``y``."""
        if self.embed is not None:
            return self.embed(y)
        # the one-hot vector as a comparison (no data-dependent check): per-sample gradients vmap over it
        return (y.unsqueeze(-1) == torch.arange(self.n_labels, device=y.device)).float()


def _norm(kind: Norm, width: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(width)
    if kind == "layer":
        return nn.LayerNorm(width)
    return nn.Identity()


def mlp(in_dim: int, hidden: Sequence[int], *, norm: Norm = "batch", negative_slope: float = 0.2,
        dropout: float = 0.0) -> nn.Sequential:
    """``[Linear -> norm -> LeakyReLU -> dropout] * len(hidden)`` (output width ``hidden[-1]``)."""
    layers: list[nn.Module] = []
    d = in_dim
    for w in hidden:
        layers += [nn.Linear(d, w), _norm(norm, w), nn.LeakyReLU(negative_slope)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        d = w
    return nn.Sequential(*layers)
