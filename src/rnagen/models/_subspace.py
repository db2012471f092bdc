"""A principal-component space for generators, for data with fewer training profiles than genes.

With ``n`` training profiles and ``G > n`` genes the profiles span a subspace of at most ``n - 1`` directions. Where
genes carry noise that no other gene predicts (low counts, a full transcriptome), a new profile has much of its
energy outside that span, and a network trained on the genes reproduces its training profiles inside the span
and leaves noise outside it (a denoiser), or puts its samples near none of them (a GAN): its samples are near no
real profile (``benchmarks/RESULTS_realdata.md``, "Fewer training profiles than genes"). The remedy is a factor
model whose factors are learnt by the generator (latent diffusion, Rombach et al. 2022, with a linear encoder;
the noise model of probabilistic PCA, Tipping & Bishop 1999):

    x = m + (z * s) Vᵀ + r_c + ψ_c^½ ε,    ε ~ N(0, I),

where ``V`` holds the ``k`` leading principal directions of the training profiles (genes x k), ``s`` their
standard deviations, ``z`` the standardised scores that the generator draws for class ``c``, and
``r_c``, ``ψ_c`` each class's per-gene mean and variance of the residual outside the ``k`` directions
(``preprocess.space``: :meth:`rnagen.models.Generator._choose_space` says when).

The factor model holds where what lies beyond the ``k`` directions is gene-level noise (counts' sampling noise,
measurement noise). Real profiles often carry structure there too (sub-types, batches, sites), spread over many
weak directions that a few dozen profiles cannot pin down; drawn as independent per-gene noise, it puts every
sample far from every real profile (``benchmarks/RESULTS_objectives.md``, "Small real sets"). So
``preprocess.space=auto`` uses this space only where the directions after the ``k`` kept behave like noise
(:func:`residual_is_noise`).

``k`` is chosen on held-out profiles, not from the spectrum alone: the training profiles are split in two
halves (stratified, the copies of one profile in one half), the first half's principal directions are found,
and a direction is kept while the second half's variance along it is at least :data:`KEEP_RATIO` of the first
half's. A direction that carries
signal has the same variance in profiles it was not fitted to; one that is a fit to the first half's noise has
far less there (about ``n/G`` of it). The residual variances are in-sample estimates, slightly low for a new
profile; they are scaled by the ratio of the second half's residual energy to the first half's in-sample
residual variance (at least 1).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .gaussian import VARIANCE_FLOOR

__all__ = ["SubspaceCodec", "SubspaceObjective", "fit_subspace", "choose_components", "noise_ratio",
           "residual_is_noise", "KEEP_RATIO", "MAX_COMPONENTS", "NOISE_FACTOR", "RESIDUAL_DIRECTIONS"]

KEEP_RATIO = 0.5
"""A principal direction of one half of the training profiles is kept while the other half's variance along it
is at least this share of the first half's (module docstring): signal directions sit near 1, directions fitted
to noise near ``n / G``."""
MAX_COMPONENTS = 512
"""At most this many directions are kept (the network's input width)."""
RESIDUAL_DIRECTIONS = 5
"""How many directions after the kept ones :func:`residual_is_noise` reads (their median held-out ratio)."""
NOISE_FACTOR = 2.0
"""The residual is taken for noise while the median held-out ratio of the directions after the kept ones is at
most this multiple of :func:`noise_ratio`: counts simulated as signal plus per-gene noise sit near 1 times it,
subsets of 44-88 profiles of the real development sets at 3.6-9.2 times (``benchmarks/RESULTS_objectives.md``,
"Small real sets")."""


def noise_ratio(n_fit: int, n_genes: int) -> float:
    """The held-out ratio (module docstring) expected of the leading directions fitted to pure noise: with ``n_fit``
    profiles of ``n_genes`` independent unit-variance genes, the in-sample variance along them sits at the
    Marchenko-Pastur edge (1 + sqrt(G / n))² (Marchenko & Pastur 1967; Johnstone 2001), new profiles' variance along
    any fixed direction at 1."""
    return 1.0 / (1.0 + np.sqrt(n_genes / max(n_fit, 1))) ** 2


class SubspaceCodec(nn.Module):
    """The factor model of the module docstring as buffers: ``encode`` maps standardised profiles to the
    generator's scores, ``decode`` maps generated scores back and adds each class's residual."""

    mean: torch.Tensor
    basis: torch.Tensor
    scale: torch.Tensor
    res_mean: torch.Tensor
    res_sd: torch.Tensor

    def __init__(self, n_genes: int, n_components: int, n_labels: int) -> None:
        super().__init__()
        self.n_genes, self.n_components, self.n_labels = int(n_genes), int(n_components), int(n_labels)
        self.register_buffer("mean", torch.zeros(self.n_genes))
        self.register_buffer("basis", torch.zeros(self.n_components, self.n_genes))
        self.register_buffer("scale", torch.ones(self.n_components))
        self.register_buffer("res_mean", torch.zeros(self.n_labels, self.n_genes))
        self.register_buffer("res_sd", torch.ones(self.n_labels, self.n_genes))

    def set(self, mean: np.ndarray, basis: np.ndarray, scale: np.ndarray, res_mean: np.ndarray,
            res_sd: np.ndarray) -> None:
        """Set the fitted arrays (shapes as the buffers)."""
        for name, value in (("mean", mean), ("basis", basis), ("scale", scale), ("res_mean", res_mean),
                            ("res_sd", res_sd)):
            buf = getattr(self, name)
            if tuple(np.shape(value)) != tuple(buf.shape):
                raise ValueError(f"subspace {name} of shape {np.shape(value)}; expected {tuple(buf.shape)}")
            buf.copy_(torch.as_tensor(np.asarray(value), dtype=buf.dtype))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised scores ``((x - m) V) / s`` of profiles ``x`` (batch x genes)."""
        return ((x.float() - self.mean) @ self.basis.T / self.scale).to(x.dtype)

    def decode(self, z: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Profiles from scores ``z`` of classes ``y``: the factor part plus a draw of the class's residual."""
        z = z.float()
        noise = torch.randn((len(z), self.n_genes), generator=generator, device=z.device)
        return self.mean + (z * self.scale) @ self.basis + self.res_mean[y] + self.res_sd[y] * noise


class SubspaceObjective(nn.Module):
    """A training objective on the codec's scores: ``forward(x0, y, generator)`` encodes the batch of profiles
    and returns the inner objective's loss (the codec is fixed; only the network trains)."""

    def __init__(self, codec: SubspaceCodec, inner: nn.Module) -> None:
        super().__init__()
        self.codec = codec
        self.inner = inner

    def forward(self, x0: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None) -> Any:
        """The inner objective's loss on the batch's scores."""
        return self.inner(self.codec.encode(x0), y, generator=generator)


EXACT_SVD_MAX = 2 * MAX_COMPONENTS
"""Above this many profiles and genes both, the leading directions come from a randomized SVD (Halko et al.
2011; ``sklearn.utils.extmath.randomized_svd``, 4 power iterations), since at most ``MAX_COMPONENTS + 1`` of
them are used (the exact SVD's cost grows as profiles² x genes; ``benchmarks/subspace_fit.py``)."""


def _pca(X: np.ndarray, k: int | None = None, *, overwrite: bool = False
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, leading principal directions (rows) and their variances of the rows of ``X`` (``k`` of them, or all
    that are used: every one, or ``MAX_COMPONENTS + 1`` beyond :data:`EXACT_SVD_MAX`). ``overwrite``: ``X`` (float64)
    is centred in place and left so, the one copy of the profiles the decomposition needs (the same values and
    layout as ``X - mean``, so the same directions). With ``k`` the directions are a copy of the ``k`` rows, not a
    view that keeps all of them."""
    mu = X.mean(axis=0)
    if overwrite:
        A = X
        A -= mu
    else:
        A = X - mu
    if min(A.shape) > EXACT_SVD_MAX:
        from sklearn.utils.extmath import randomized_svd

        want = min(k if k is not None else MAX_COMPONENTS + 1, min(A.shape))
        _, s, Vt = randomized_svd(A, n_components=want, n_iter=4, random_state=0)
    else:
        _, s, Vt = np.linalg.svd(A, full_matrices=False)
    var = s ** 2 / max(len(X) - 1, 1)
    if k is not None:
        Vt, var = Vt[:k].copy(), var[:k]
    return mu, Vt, var


def _residual(A: np.ndarray, V: np.ndarray) -> np.ndarray:
    """The centred profiles ``A`` (float64) less their projection on the directions ``V`` (rows), written over the
    product ``(A Vᵀ) V`` (row-major, as ``A - (A Vᵀ) V`` is): no third profiles-sized array beside the two. The
    caller drops ``A``."""
    P = (A @ V.T) @ V
    return np.subtract(A, P, out=P)


def _rows64(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The rows ``rows`` of ``X`` as a new float64 array, laid out as those of ``X`` converted whole (a row-major copy
    either way), without a float64 copy of all of ``X``."""
    R = X[rows]
    return R if R.dtype == np.float64 and not np.may_share_memory(R, X) else R.astype(np.float64)


PRIOR_DF = 4.0
"""Degrees of freedom of the pooled within-class variance that each class's residual variance is moderated
toward (:func:`_class_moments`)."""


def _class_moments(R: np.ndarray, y: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Each class's per-gene mean and variance, the variance moderated toward the pooled within-class one
    (Smyth 2004, the posterior variance (d0 s0² + d s²) / (d0 + d) with ``d0`` = :data:`PRIOR_DF`): a class of two
    profiles has one degree of freedom per gene, and its own variance ((a - b)² / 2: a gene at 0 and 320 in
    its two profiles) sent draws orders of magnitude past the training values. A class of one takes the pooled
    variance; without any within-class freedom, the variance of all profiles."""
    means = np.zeros((n_labels, R.shape[1]))
    own = np.zeros((n_labels, R.shape[1]))
    df = np.zeros(n_labels)
    for c in range(n_labels):
        rows = R[y == c]
        if len(rows):
            means[c] = rows.mean(axis=0)
        if len(rows) > 1:
            own[c], df[c] = rows.var(axis=0, ddof=1), len(rows) - 1
    if df.sum() > 0:
        pooled = (df[:, None] * own).sum(axis=0) / df.sum()
    else:
        pooled = R.var(axis=0, ddof=1) if len(R) > 1 else np.ones(R.shape[1])
    var = (PRIOR_DF * pooled + df[:, None] * own) / (PRIOR_DF + df[:, None])
    return means, var


def choose_components(X: np.ndarray, y: np.ndarray, n_labels: int, *, seed: int, groups: np.ndarray | None = None
                      ) -> tuple[int, float, dict[str, Any]]:
    """The number of principal directions to keep and the residual variances' scale (module docstring), from
    a stratified split of ``(X, y)`` into halves; also a record of the choice. Without a split (too few
    profiles), the number of classes (at least 1) and scale 1.

    The halves keep the copies of one profile (a sample in the data twice) on one side: a copy in the second
    half carries the first half's fit to its noise over, and a direction fitted to noise would read as signal.
    ``groups`` (a label per row, :func:`rnagen.pp.copies.copy_labels`) where the caller has found them, else
    they are found here. Without copies the halves are the rows'."""
    from ..pp.copies import copy_labels
    from ..train.validation import stratified_holdout

    # the halves in float64, each a copy of its rows centred in place: never a float64 copy of all of X
    X = np.asarray(X)
    y = np.asarray(y)
    cap = max(1, min(len(X) - 1, X.shape[1], MAX_COMPONENTS))
    g = copy_labels(X) if groups is None else np.asarray(groups)   # the same float64 values, a block at a time
    split = stratified_holdout(y, fraction=0.5, seed=seed, groups=g)
    if split is None:
        k = max(1, min(len(np.unique(y)), cap))
        return k, 1.0, {"rule": "too few profiles to split: one direction per class", "n_components": k}
    a, b = split
    Ra = _rows64(X, a)
    mu, Vt, var = _pca(Ra, overwrite=True)
    Rb = _rows64(X, b)
    Rb -= mu
    ratio = (Rb @ Vt.T).var(axis=0, ddof=0) / np.maximum(var, 1e-12)
    below = np.flatnonzero(ratio < KEEP_RATIO)
    k = int(below[0]) if len(below) else len(ratio)
    k = max(1, min(k, cap))
    V = Vt[:k].copy()
    del Vt
    Ra = _residual(Ra, V)
    rm, rv = _class_moments(Ra, y[a], n_labels)
    del Ra
    Rb = _residual(Rb, V)
    yb = y[b]
    for c in np.unique(yb):   # Rb - rm[y[b]], a class at a time
        Rb[yb == c] -= rm[c]
    scale = max(1.0, float(np.square(Rb, out=Rb).sum() / max(float(rv[yb].sum()), 1e-12)))
    del Rb
    after = ratio[k:k + RESIDUAL_DIRECTIONS]
    record = {"rule": f"held-out variance ratio >= {KEEP_RATIO}", "n_components": k, "residual_scale": scale,
              "ratios": [round(float(r), 4) for r in ratio[:k + RESIDUAL_DIRECTIONS]],
              "residual_ratio": float(np.median(after)) if len(after) else None,
              # the first half's distinct profiles: copies add no directions to fit noise along
              "noise_ratio": noise_ratio(len(np.unique(g[a])), X.shape[1])}
    return k, scale, record


def residual_is_noise(record: dict[str, Any]) -> bool:
    """Whether :func:`choose_components`' record finds the directions after the kept ones noise-like: their median
    held-out ratio at most :data:`NOISE_FACTOR` times :func:`noise_ratio` (true where none is left to read, or the
    profiles were too few to split)."""
    after, noise = record.get("residual_ratio"), record.get("noise_ratio")
    return after is None or noise is None or after <= NOISE_FACTOR * noise


def fit_subspace(X: np.ndarray, y: np.ndarray, n_labels: int, *, seed: int, groups: np.ndarray | None = None
                 ) -> tuple[SubspaceCodec, dict[str, Any]]:
    """The codec fitted to standardised training profiles ``X`` of classes ``y`` (module docstring), and the
    record of its choice (:func:`choose_components`) with the share of the profiles' variance it keeps.
    ``groups``: :func:`rnagen.pp.copies.copy_labels` of ``X`` where the caller has them (found here otherwise)."""
    X = np.asarray(X)
    k, scale, record = choose_components(X, y, n_labels, seed=seed, groups=groups)
    # one float64 copy of the profiles, centred in place; the residual written over its projection
    A = np.array(X, dtype=np.float64)
    mu, V, var = _pca(A, k, overwrite=True)
    total = float(np.square(A).sum())
    R = _residual(A, V)
    del A
    rm, rv = _class_moments(R, np.asarray(y), n_labels)
    codec = SubspaceCodec(X.shape[1], len(V), n_labels)
    codec.set(mu, V, np.sqrt(np.maximum(var, VARIANCE_FLOOR)), rm, np.sqrt(np.maximum(rv * scale, VARIANCE_FLOOR)))
    record["kept_share"] = float(1.0 - np.square(R, out=R).sum() / total) if total > 0 else 1.0
    return codec, record
