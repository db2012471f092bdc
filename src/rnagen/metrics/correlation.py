"""Correlation score (Viñas et al. 2022): is the gene-gene correlation structure preserved?"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from ..errors import ConfigError
from ._bootstrap import m_out_of_n_ci
from ._checks import check_sets
from ._registry import Scored, register, scorer

if TYPE_CHECKING:
    from ._context import EvalContext

register("correlation_score", lower=-1.0, upper=1.0, family="correlation", direction="higher", expensive=True,
         source="Viñas, Andrés-Terré, Liò, Bryson 2022, Bioinformatics (adversarial generation of gene "
                "expression data)",
         definition="Pearson correlation between the upper triangles of the gene-gene distance matrices "
                    "1 - r of the real and the synthetic set (1 is best)")


def _standardise(X: np.ndarray) -> torch.Tensor:
    Z = torch.as_tensor(X)
    Z = Z - Z.mean(0)
    # centred and scaled in float64; the G x G products, which dominate the cost, run in float32
    return (Z / Z.norm(dim=0)).to(torch.float32)


def correlation_score(real, fake, *, block_genes: int = 2048,
                      method: Literal["auto", "genes", "samples"] = "auto") -> float:
    """Pearson correlation between the real and synthetic gene-gene correlation distances.

    For each set, r_gh is the Pearson correlation of genes g and h across samples; the distances 1 - r_gh of
    the upper triangle (g < h) form one vector per set, and the score is the Pearson correlation of the two
    vectors (Viñas et al. 2022). Correlating 1 - r is the same as correlating r (an affine map), and the sums
    of the Pearson formula over the upper triangle of a symmetric matrix are (sum over all entries - sum over
    the diagonal) / 2, so no triangle is ever indexed.

    With A (n_a x G) and B (n_b x G) the sets' standardised columns, the correlation matrices are A^T A and
    B^T B, and the five sums the formula needs are sum(A^T A) = |A 1|^2, |A^T A|_F^2 = |A A^T|_F^2 and
    <A^T A, B^T B>_F = |A B^T|_F^2 (the trace's cyclic property), and the same for B. ``method="genes"`` forms
    the G x G matrices ``block_genes`` rows at a time (O((n_a + n_b) G^2), never held whole, so 20,000 genes
    fit in memory); ``"samples"`` forms the n x n Gram matrices instead (O((n_a + n_b)^2 G)), far cheaper when
    there are fewer profiles than genes; ``"auto"`` takes the cheaper. Both give the same value up to float32
    rounding of the products.

    Genes constant in the real set have no correlation to preserve and are left out of both. A gene constant in
    the synthetic set (a collapsed output) correlates with no other gene there (r = 0, where the formula's r is
    undefined), and a synthetic set whose correlations are all equal, every gene constant, scores 0: no structure
    preserved. Leaving such genes out instead, a generator would gain by collapsing the genes it models badly.

    Each set needs 3 profiles (of 2, every correlation is +-1) and 3 genes (a correlation of the gene pairs'
    values needs 3 pairs at least); with fewer than 3 genes varying in the real set the score is NaN.
    """
    real, fake = check_sets([real, fake], ["real", "fake"], func="correlation_score", min_rows=3,
                            why="a gene-gene correlation", min_genes=3, genes_why="a correlation of gene pairs")
    return _correlation_score(real, fake, block_genes=block_genes, method=method)


def _correlation_score(real, fake, *, block_genes: int = 2048,
                       method: Literal["auto", "genes", "samples"] = "auto") -> float:
    """:func:`correlation_score` of sets checked already (``evaluate``'s, and their bootstrap replicates)."""
    X, Y = np.asarray(real), np.asarray(fake)
    if method not in ("auto", "genes", "samples"):
        raise ConfigError(f"correlation_score: method must be auto, genes or samples, not {method!r}")

    # (near-)constant genes, judged in float64 relative to their level (float32 rounding of a constant
    # column leaves a tiny non-zero spread)
    def varies(A):
        A = np.asarray(A, np.float64)
        return A.std(0) > 1e-6 * np.maximum(1.0, np.abs(A).mean(0))

    keep = varies(X)
    if keep.sum() < 3:
        return float("nan")
    A = _standardise(np.asarray(X[:, keep], np.float64))
    flat = torch.from_numpy(~varies(Y[:, keep]))
    B = _standardise(np.asarray(Y[:, keep], np.float64)).masked_fill(flat, 0.0)   # r = 0 with every other gene
    g = A.shape[1]
    na, nb = A.shape[0], B.shape[0]
    if method == "auto":
        method = "samples" if na + nb < g else "genes"  # (n_a + n_b)^2 G < (n_a + n_b) G^2
    if method == "samples":
        sx, sy = float(A.double().sum(1).square().sum()), float(B.double().sum(1).square().sum())
        sxx = float((A @ A.T).double().square().sum())
        syy = float((B @ B.T).double().square().sum())
        sxy = float((A @ B.T).double().square().sum())
    else:
        sx = sy = sxx = syy = sxy = 0.0
        for s in range(0, g, block_genes):
            ca = (A[:, s:s + block_genes].T @ A).double()  # rows s.. of the real correlation matrix
            cb = (B[:, s:s + block_genes].T @ B).double()
            sx += float(ca.sum())
            sy += float(cb.sum())
            sxx += float((ca * ca).sum())
            syy += float((cb * cb).sum())
            sxy += float((ca * cb).sum())
    da, db = (A * A).sum(0).double(), (B * B).sum(0).double()  # the diagonals (1, up to rounding)
    sx, sy = (sx - float(da.sum())) / 2, (sy - float(db.sum())) / 2
    sxx, syy = (sxx - float((da * da).sum())) / 2, (syy - float((db * db).sum())) / 2
    sxy = (sxy - float((da * db).sum())) / 2
    cnt = g * (g - 1) / 2
    cov = sxy - sx * sy / cnt
    vx = sxx - sx * sx / cnt
    vy = syy - sy * sy / cnt
    if vx <= 0:
        return float("nan")
    if vy <= 0:
        return 0.0
    # a Pearson correlation lies in [-1, 1]; the sums' rounding can pass it by a few ulps for identical sets
    return float(np.clip(cov / np.sqrt(vx * vy), -1.0, 1.0))


# --------------------------------------------------------------------------------------------- scorer
@scorer("correlation", order=50, metrics=("correlation_score",))
def score_correlation(ctx: EvalContext) -> Scored:
    """The correlation score with an m-out-of-n bootstrap CI (replicates of at most 1,000 rows per set: each
    is two G x G Gram matrices)."""
    R, S = ctx.real, ctx.synthetic
    v = _correlation_score(R, S)
    ci = m_out_of_n_ci(_correlation_score, [R, S], n_boot=ctx.n_boot_expensive, rng=ctx.stream("correlation_score"),
                        estimate=v, m_max=1000)
    ref = _correlation_score(R, ctx.reference) if ctx.reference is not None else np.nan
    return Scored([ctx.row("correlation_score", v, ci, ref, n_boot=ctx.n_boot_expensive)])
