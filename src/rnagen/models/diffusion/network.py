"""The denoiser: a residual MLP for gene vectors (no spatial order, so no convolutions; cf. TabDDPM).

``x_t`` (genes) is projected to ``width``; the timestep enters as a sinusoidal embedding (Vaswani et al.
2017; Ho et al. 2020, appendix B) passed through an MLP; the label enters as a learned embedding with one
extra "null" row (index ``n_labels``) used for the unconditional branch of classifier-free guidance (Ho &
Salimans 2022). The sum of the two embeddings modulates every residual block by a per-feature scale and
shift (FiLM / adaptive LayerNorm, Perez et al. 2018), so the condition reaches every layer, as in the
paper's network where the label is concatenated at every layer.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["SinusoidalEmbedding", "ResidualBlock", "ResMLPDenoiser"]


class SinusoidalEmbedding(nn.Module):
    """Fixed sinusoidal embedding of a (float or integer) timestep: ``[sin(t ω_k), cos(t ω_k)]``.

    ``ω_k = max_period^(-k / (dim/2))`` for ``k = 0 .. dim/2 - 1`` (the Transformer's position encoding).
    """

    freqs: torch.Tensor  # registered buffer (non-persistent): rebuilt from ``dim`` rather than saved

    def __init__(self, dim: int, *, max_period: float = 10_000.0) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"time embedding dimension must be even, got {dim}")
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64) / half)
        self.register_buffer("freqs", freqs.float(), persistent=False)
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """``[sin(t ω), cos(t ω)]`` for timesteps ``t`` of any shape ``(...)`` -> ``(..., dim)``."""
        args = t.float()[..., None] * self.freqs
        return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class ResidualBlock(nn.Module):
    """``h + W2 · dropout(SiLU(W1 · (LN(h) · (1 + scale(c)) + shift(c))))``; W2 starts at zero.

    Zero-initialising the last layer makes each block the identity at initialisation, which keeps deep
    stacks trainable without tuning (Goyal et al. 2017; used by the guided-diffusion U-Net).
    """

    def __init__(self, width: int, cond_dim: int, *, dropout: float = 0.1, expansion: int = 2) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.film = nn.Linear(cond_dim, 2 * width)
        self.fc1 = nn.Linear(width, expansion * width)
        self.act = nn.SiLU()
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(expansion * width, width)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The block applied to hidden state ``h`` under the conditioning embedding ``c`` (FiLM scale and shift)."""
        scale, shift = self.film(c).chunk(2, dim=-1)
        z = self.norm(h) * (1.0 + scale) + shift
        return h + self.fc2(self.drop(self.act(self.fc1(z))))


class ResMLPDenoiser(nn.Module):
    """Residual MLP ``forward(x_t, t, y) -> ε̂ or v̂`` for ``n_genes``-dimensional profiles.

    Parameters
    ----------
    n_genes
        Input and output dimension.
    n_labels
        Number of classes; the label embedding has ``n_labels + 1`` rows, the last being the "null"
        (unconditional) label ``null_label == n_labels``.
    width
        Hidden width of the residual stream.
    depth
        Number of residual blocks.
    time_dim
        Dimension of the sinusoidal time embedding.
    dropout
        Dropout inside each block.
    expansion
        Hidden width of each block's MLP as a multiple of ``width``.
    """

    def __init__(self, n_genes: int, n_labels: int, *, width: int = 512, depth: int = 3, time_dim: int = 128,
                 dropout: float = 0.1, expansion: int = 2) -> None:
        super().__init__()
        self.n_genes, self.n_labels = int(n_genes), int(n_labels)
        self.null_label = self.n_labels
        cond_dim = width
        self.time_embed = nn.Sequential(
            SinusoidalEmbedding(time_dim), nn.Linear(time_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim)
        )
        self.label_embed = nn.Embedding(self.n_labels + 1, cond_dim)
        nn.init.normal_(self.label_embed.weight, std=0.02)
        self.cond_act = nn.SiLU()
        self.inp = nn.Linear(self.n_genes, width)
        self.blocks = nn.ModuleList(
            ResidualBlock(width, cond_dim, dropout=dropout, expansion=expansion) for _ in range(depth)
        )
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, self.n_genes)
        # a zero output layer: the untrained network predicts 0, the mean of ε (and of v)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Predict ε (or v) from ``x`` (batch, genes), integer timesteps ``t`` (batch,) and labels ``y``.

        Leading dimensions may be more than one (``x`` of shape ``(..., genes)`` with ``t`` and ``y`` of shape
        ``(...)``): every layer acts on the last dimension.
        """
        c = self.cond_act(self.time_embed(t) + self.label_embed(y))
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, c)
        return self.out(self.cond_act(self.out_norm(h)))

    def flops_per_sample(self) -> int:
        """Multiply-add FLOPs (2 per MAC) of one forward pass for one profile (the Linear layers)."""
        return int(sum(2 * m.in_features * m.out_features for m in self.modules() if isinstance(m, nn.Linear)))
