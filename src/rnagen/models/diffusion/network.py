"""The denoiser: a residual MLP for gene vectors (no spatial order, so no convolutions; cf. TabDDPM).

``x_t`` (genes) is projected to ``width``; the timestep enters as a sinusoidal embedding (Vaswani et al.
2017; Ho et al. 2020, appendix B) passed through an MLP; the label enters as a learned embedding with one
extra "null" row (index ``n_labels``) used for the unconditional branch of classifier-free guidance (Ho &
Salimans 2022). The sum of the two embeddings modulates every residual block by a per-feature scale and
shift (FiLM / adaptive LayerNorm, Perez et al. 2018), so the condition reaches every layer, as in the
paper's network where the label is concatenated at every layer.

Beside the residual stream, an optional per-gene affine path adds ``a(c) * x_t + b(c)`` to the output, ``a`` and
``b`` linear in the same time + label embedding ``c``. For genes that carry noise of their own (measurement noise,
gene-level variation no other gene predicts), the minimum-MSE denoiser is, gene by gene, an affine function of that
gene's ``x_t`` whose slope depends on the noise level and on the class's variance of the gene (the Wiener filter;
:class:`AnchoredDenoiser` writes it out for a per-class Gaussian). Through the residual stream such a map must pass
every gene's value through a width-wide hidden state, LayerNorms and the output layer; the affine path gives it
directly, and the stream learns what couples genes (``benchmarks/RESULTS_objectives.md``, "A per-gene affine
path").
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["SinusoidalEmbedding", "ResidualBlock", "ResMLPDenoiser", "AnchoredDenoiser"]


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
    cond_dim
        Dimension of the time + label embedding that modulates each block (default ``width``).
    gene_affine
        Add the per-gene affine path ``a(c) * x_t + b(c)`` (module docstring) to the output; its layer starts at
        zero, so the untrained network predicts 0 with or without it.
    """

    def __init__(self, n_genes: int, n_labels: int, *, width: int = 512, depth: int = 3, time_dim: int = 128,
                 dropout: float = 0.1, expansion: int = 2, cond_dim: int | None = None,
                 gene_affine: bool = False) -> None:
        super().__init__()
        self.n_genes, self.n_labels = int(n_genes), int(n_labels)
        self.null_label = self.n_labels
        cond_dim = int(cond_dim or width)
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
        # the per-gene slope and offset from the condition embedding (module docstring)
        self.gene_affine: nn.Linear | None = None
        if gene_affine:
            self.gene_affine = nn.Linear(cond_dim, 2 * self.n_genes)
            nn.init.zeros_(self.gene_affine.weight)
            nn.init.zeros_(self.gene_affine.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Predict ε (or v) from ``x`` (batch, genes), integer timesteps ``t`` (batch,) and labels ``y``.

        Leading dimensions may be more than one (``x`` of shape ``(..., genes)`` with ``t`` and ``y`` of shape
        ``(...)``): every layer acts on the last dimension.
        """
        c = self.cond_act(self.time_embed(t) + self.label_embed(y))
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, c)
        out = self.out(self.cond_act(self.out_norm(h)))
        if self.gene_affine is not None:
            slope, offset = self.gene_affine(c).chunk(2, dim=-1)
            out = out + slope * x + offset
        return out

    def flops_per_sample(self) -> int:
        """Multiply-add FLOPs (2 per MAC) of one forward pass for one profile (the Linear layers)."""
        return int(sum(2 * m.in_features * m.out_features for m in self.modules() if isinstance(m, nn.Linear)))


class AnchoredDenoiser(nn.Module):
    """``net(x_t, t, y)`` added to the exact prediction for a per-class Gaussian (the "anchor").

    If x0 | y ~ N(m_y, Σ_y) and x_t = sqrt(ᾱ_t) x0 + sqrt(1-ᾱ_t) ε, the minimum-MSE predictions are
    (Gaussian conditioning; with Σ_y = U diag(λ) U^T, per eigen-direction):

        r = (ᾱ_t Σ_y + (1-ᾱ_t) I)^-1 (x_t - sqrt(ᾱ_t) m_y)
        E[ε | x_t] = sqrt(1-ᾱ_t) r,   E[x0 | x_t] = m_y + sqrt(ᾱ_t) Σ_y r,
        E[v | x_t] = sqrt(ᾱ_t) E[ε | x_t] - sqrt(1-ᾱ_t) E[x0 | x_t]   (v of Salimans & Ho 2022).

    The network (whose output layer starts at zero) learns only the residual, so the untrained model samples
    the per-class Gaussian and training moves it from there toward the data; an imperfect (under-trained, or
    noised by DP-SGD) network degrades toward that Gaussian rather than toward noise. ``kind="diag"`` keeps
    the variances only (U = I); ``"full"`` stores each class's eigenvectors. The null label (classifier-free
    guidance) has its own row: the moments of all profiles pooled. The statistics are persistent buffers
    (saved with the weights, not trained); no gradient flows through the anchor.
    """

    anchor_mean: torch.Tensor
    anchor_eig: torch.Tensor
    anchor_basis: torch.Tensor
    alphas_cumprod: torch.Tensor

    def __init__(self, net: ResMLPDenoiser, alphas_cumprod: torch.Tensor, *, prediction: str,
                 kind: str = "diag") -> None:
        super().__init__()
        if kind not in ("diag", "full"):
            raise ValueError(f"anchor kind must be 'diag' or 'full', got {kind!r}")
        self.net = net
        self.n_genes, self.n_labels, self.null_label = net.n_genes, net.n_labels, net.null_label
        self.prediction, self.kind = prediction, kind
        rows, G = net.n_labels + 1, net.n_genes
        self.register_buffer("anchor_mean", torch.zeros(rows, G))
        self.register_buffer("anchor_eig", torch.ones(rows, G))
        if kind == "full":
            self.register_buffer("anchor_basis", torch.eye(G).repeat(rows, 1, 1))
        self.register_buffer("alphas_cumprod", alphas_cumprod.detach().float().clone(), persistent=False)

    def set_anchor(self, means: torch.Tensor, eig: torch.Tensor, basis: torch.Tensor | None = None) -> None:
        """Set the anchor's rows (one per class, then the null label's): means and variances (``diag``) or
        means, covariance eigenvalues and eigenvectors as columns (``full``)."""
        if means.shape != self.anchor_mean.shape or eig.shape != self.anchor_eig.shape:
            raise ValueError(f"anchor statistics of shape {tuple(means.shape)} / {tuple(eig.shape)}; "
                             f"expected {tuple(self.anchor_mean.shape)}")
        if (basis is None) != (self.kind == "diag"):
            raise ValueError(f"a {self.kind} anchor {'takes no' if self.kind == 'diag' else 'needs an'} eigenbasis")
        self.anchor_mean.copy_(means)
        self.anchor_eig.copy_(eig)
        if basis is not None:
            if basis.shape != self.anchor_basis.shape:
                raise ValueError(f"eigenbasis of shape {tuple(basis.shape)}; expected {tuple(self.anchor_basis.shape)}")
            self.anchor_basis.copy_(basis)

    @torch.no_grad()
    def anchor(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The Gaussian's exact ε or v prediction (class docstring) at ``(x, t, y)``; shapes as :meth:`forward`.

        Computed in float32 whatever the input's precision: near t = 0, 1 - ᾱ_t is below bfloat16's resolution."""
        dtype, x = x.dtype, x.float()
        a = self.alphas_cumprod[t][..., None].float()
        m, lam = self.anchor_mean[y].float(), self.anchor_eig[y].float()
        sa, sb = a.sqrt(), (1.0 - a).sqrt()
        z = x - sa * m
        if self.kind == "diag":
            r = z / (a * lam + (1.0 - a))
            dev = lam * r  # Σ r
        else:
            # per class present: coordinates in the eigenbasis, scaled, rotated back (never a G x G per row)
            G = x.shape[-1]
            zf, lf = z.reshape(-1, G), lam.reshape(-1, G)
            af = a.expand(*z.shape[:-1], 1).reshape(-1, 1)
            yf = y.expand(z.shape[:-1]).reshape(-1)
            rf, devf = torch.empty_like(zf), torch.empty_like(zf)
            for c in torch.unique(yf).tolist():
                rows = torch.nonzero(yf == c).flatten()
                U = self.anchor_basis[c].float()
                coef = (zf[rows] @ U) / (af[rows] * lf[rows] + (1.0 - af[rows]))
                rf[rows], devf[rows] = coef @ U.T, (coef * lf[rows]) @ U.T
            r, dev = rf.reshape(z.shape), devf.reshape(z.shape)
        eps = sb * r
        out = eps if self.prediction == "eps" else sa * eps - sb * (m + sa * dev)
        return out.to(dtype)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The anchor's prediction plus the network's residual (shapes as :meth:`ResMLPDenoiser.forward`)."""
        return self.anchor(x, t, y) + self.net(x, t, y)

    def flops_per_sample(self) -> int:
        """Multiply-add FLOPs of one forward pass for one profile: the network's, and the full anchor's
        three products with a G x G eigenbasis."""
        extra = 2 * 3 * self.n_genes * self.n_genes if self.kind == "full" else 0
        return self.net.flops_per_sample() + extra
