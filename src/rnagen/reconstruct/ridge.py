"""Ridge least squares for many targets, penalty chosen on a validation split, in closed form.

For inputs ``X`` (n x p) and targets ``Y`` (n x q), both centred, the ridge solution for penalty ``lam`` is
``W = (X^T X + lam I)^-1 X^T Y``. With the eigendecomposition ``X^T X = V diag(s) V^T`` this is

    W(lam) = V diag(1 / (s + lam)) V^T X^T Y                                                   (1)

so ONE eigendecomposition of the small p x p Gram matrix (float64) and ONE product ``C = V^T X^T Y``
(p x q) serve every target and every penalty of the grid (Hastie, Tibshirani & Friedman, ESL 3.4.1).
The expensive step is the n x p x q product ``X^T Y``, done once, in float32 blocks over the targets; it is
split into the fit-part and validation-part sums so the final refit on all training data only adds them
(no second pass over Y). The validation errors of every target and penalty follow from the same sums without
predicting (see the comment in :func:`fit_ridge`): the grid costs O(p^2) per penalty for one shared penalty,
O(p^2 q) per penalty for per-target penalties.

The penalty is expressed per sample: minimise ``(1/n)||Y - XW||^2 + alpha ||W||^2``, i.e. ``lam = n alpha``,
so the same ``alpha`` means the same thing for any sample size (inputs are z-scored).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError

__all__ = ["RidgeResult", "fit_ridge", "DEFAULT_ALPHAS"]

# 10^-5 ... 10^2 in half decades: from nearly ordinary least squares to strong shrinkage of z-scored inputs.
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(10.0 ** k) for k in np.arange(-5.0, 2.01, 0.5))


@dataclass
class RidgeResult:
    """Fitted ridge map ``Y ~ X @ coef + intercept`` and its validation record."""

    coef: np.ndarray                      # p x q, float32
    intercept: np.ndarray                 # q, float32
    alpha: np.ndarray                     # q (per-gene choice) or a single value repeated
    alphas: np.ndarray                    # the grid
    val_mse: np.ndarray = field(default_factory=lambda: np.zeros(0))   # mean validation MSE per grid alpha
    val_r2: np.ndarray = field(default_factory=lambda: np.zeros(0))    # [mean per-gene validation R^2 at the choice]


def _blocks(q: int, size: int):
    for start in range(0, q, size):
        yield slice(start, min(q, start + size))


def _inv(x: np.ndarray) -> np.ndarray:
    # 1/x, with 0 for a zero eigenvalue at zero penalty (the minimum-norm least-squares solution)
    out = np.zeros_like(x, dtype=np.float64)
    np.divide(1.0, x, out=out, where=x > 1e-12 * max(float(np.max(x)), 1.0))
    return out


def _eigh_gram(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # One BLAS thread: a p x p eigenproblem (p ~ 1,000) is small, and multi-threaded LAPACK on a busy machine
    # spends far longer spinning for cores than one thread takes to solve it. The large products stay
    # multi-threaded.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - shipped with scikit-learn
        import contextlib

        limit = contextlib.nullcontext()
    else:
        limit = threadpool_limits(limits=1, user_api="blas")
    with limit:
        s, V = np.linalg.eigh(G)
    # rounding can make the smallest eigenvalues of a PSD matrix slightly negative
    return np.clip(s, 0.0, None), V


@dataclass
class _Sums:
    """Sufficient statistics of the fit part (``f``) and the validation part (``v``) of the rows, float64."""

    nf: int
    nv: int
    Gf: np.ndarray    # X_fit^T X_fit (p x p)
    sxf: np.ndarray   # column sums of X_fit
    Gv: np.ndarray    # X_val^T X_val (zeros without a validation part)
    sxv: np.ndarray
    Sf: np.ndarray    # X_fit^T Y_fit (p x q)
    Sv: np.ndarray    # X_val^T Y_val
    syf: np.ndarray   # column sums of Y_fit
    syv: np.ndarray
    yyv: np.ndarray   # column sums of squares of Y_val


def fit_ridge(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    val_idx: np.ndarray | None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    per_gene: bool = False,
    block: int = 4096,
    progress=None,
) -> RidgeResult:
    """Fit ridge regression of every column of ``Y`` on ``X``; choose ``alpha`` on ``val_idx``; refit on all.

    Parameters
    ----------
    X, Y
        float32 (or float64) matrices, n x p and n x q, in the model's (z-scored) space.
    val_idx
        Rows used to choose the penalty (fit on the others); ``None`` or a single alpha skips the choice.
    alphas
        Grid of per-sample penalties (``lam = n * alpha``, eq. 1).
    per_gene
        Choose the penalty for each target separately (free: the validation errors of every target and
        every penalty are computed anyway) instead of one penalty minimising the total validation error.
    block
        Targets per block of the pass over ``Y`` (bounds the memory of float32 copies).
    progress
        Optional callable ``progress(n_done)`` advanced by targets processed.
    """
    n = X.shape[0]
    q = Y.shape[1]
    if Y.shape[0] != n:
        raise DataError(f"inputs have {n} samples but targets {Y.shape[0]}")
    grid = np.asarray(sorted(float(a) for a in alphas), dtype=np.float64)  # the penalties, ascending
    if grid.size == 0 or np.any(grid < 0):
        raise DataError(f"ridge penalties must be a non-empty list of values >= 0, got {grid.tolist()}")
    X = np.asarray(X, dtype=np.float32)
    choose = val_idx is not None and len(val_idx) > 0 and grid.size > 1
    mask = np.zeros(n, dtype=bool)
    if choose:
        mask[np.asarray(val_idx)] = True
    fit_rows, val_rows = np.flatnonzero(~mask), np.flatnonzero(mask)
    if len(fit_rows) < 2:
        raise DataError(f"ridge needs at least 2 training samples outside the validation split, got {len(fit_rows)}")
    sums = _sufficient_sums(X, Y, fit_rows, val_rows, choose=choose, block=block)
    val_mse = np.zeros(0)
    val_r2 = np.zeros(0)
    if choose:
        alpha, val_mse, val_r2 = _choose_penalty(sums, grid, per_gene=per_gene)
        if progress is not None:
            progress(q)
    else:
        if grid.size > 1:
            raise DataError(f"{grid.size} ridge penalties given but no validation split to choose among them; "
                            "give one penalty or a validation size > 0")
        alpha = np.full(q, grid[0])
    coef, intercept = _refit(sums, alpha, block=block)
    return RidgeResult(coef=coef, intercept=intercept, alpha=alpha, alphas=grid, val_mse=val_mse, val_r2=val_r2)


def _sufficient_sums(X: np.ndarray, Y: np.ndarray, fit_rows: np.ndarray, val_rows: np.ndarray, *, choose: bool,
                     block: int) -> _Sums:
    """The one pass over ``Y``: sufficient statistics split into fit and validation parts (float64 for
    everything p x p; ``X^T Y`` in float32 blocks over the targets)."""
    p, q = X.shape[1], Y.shape[1]
    Xf, Xv = X[fit_rows], X[val_rows]
    Xf64 = Xf.astype(np.float64)
    Gf = Xf64.T @ Xf64
    sxf = Xf64.sum(0)
    del Xf64
    if choose:
        Xv64 = Xv.astype(np.float64)
        Gv, sxv = Xv64.T @ Xv64, Xv64.sum(0)
        del Xv64
    else:
        Gv, sxv = np.zeros((p, p)), np.zeros(p)
    Sf = np.empty((p, q), dtype=np.float64)
    Sv = np.zeros((p, q), dtype=np.float64)
    syf = np.empty(q, dtype=np.float64)
    syv = np.zeros(q, dtype=np.float64)
    yyv = np.zeros(q, dtype=np.float64)
    for b in _blocks(q, block):
        Yb = np.asarray(Y[:, b], dtype=np.float32)
        Sf[:, b] = Xf.T @ Yb[fit_rows]
        syf[b] = Yb[fit_rows].sum(0, dtype=np.float64)
        if choose:
            Sv[:, b] = Xv.T @ Yb[val_rows]
            Yv = Yb[val_rows].astype(np.float64)
            syv[b] = Yv.sum(0)
            yyv[b] = np.einsum("ij,ij->j", Yv, Yv)
    return _Sums(nf=len(fit_rows), nv=len(val_rows), Gf=Gf, sxf=sxf, Gv=Gv, sxv=sxv, Sf=Sf, Sv=Sv, syf=syf,
                 syv=syv, yyv=yyv)


def _choose_penalty(st: _Sums, alphas: np.ndarray, *,
                    per_gene: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(alpha per target, mean validation MSE per grid penalty, [mean validation R^2 at the choice])``,
    from a fit on the fit part only."""
    nf, nv, q = st.nf, st.nv, st.Sf.shape[1]
    # -- fit part only: eigendecomposition and C = V^T Xc^T Yc (centred with the fit-part means) ------------
    mxf, myf = st.sxf / nf, st.syf / nf
    s, V = _eigh_gram(st.Gf - nf * np.outer(mxf, mxf))
    C = V.T @ (st.Sf - nf * np.outer(mxf, myf))                            # p x q
    # Validation error without predicting: with M = (X_val - mx) V, Yc = Y_val - my, d = 1/(s + lam),
    #   SSE_j(lam) = |Yc_j|^2 - 2 sum_k d_k B_kj C_kj + (D C)_j^T A (D C)_j,
    # B = M^T Yc = V^T (X_val - mx)^T (Y_val - my) (from the validation sums already made), A = M^T M.
    # The total over targets needs only K = C C^T: tr(D A D K), O(p^2) per penalty, so the grid is free.
    sxv, syv, yyv = st.sxv, st.syv, st.yyv
    B = V.T @ (st.Sv - np.outer(mxf, syv) - np.outer(sxv, myf) + nv * np.outer(mxf, myf))
    A = V.T @ (st.Gv - np.outer(mxf, sxv) - np.outer(sxv, mxf) + nv * np.outer(mxf, mxf)) @ V
    yy = yyv - 2.0 * myf * syv + nv * myf * myf                          # |Y_val_j - my_j|^2
    sst = yyv - syv * syv / nv                                             # around the validation mean
    BC = B * C
    gk = BC.sum(1)

    def sse_genes(dk: np.ndarray) -> np.ndarray:                         # dk: p x q or p x 1
        DC = dk * C
        return yy - 2.0 * (dk * BC).sum(0) + np.einsum("kj,kj->j", DC, A @ DC)

    lams = nf * alphas
    if per_gene:
        sse = np.stack([sse_genes(_inv(s + lam)[:, None]) for lam in lams])
        alpha = alphas[np.argmin(sse, axis=0)]
        val_mse = sse.sum(1) / (nv * q)
        chosen = sse[np.argmin(sse, axis=0), np.arange(q)]
    else:
        K = C @ C.T
        tot = np.array([yy.sum() - 2.0 * (_inv(s + lam) * gk).sum()
                        + np.einsum("k,kl,l,kl->", _inv(s + lam), A, _inv(s + lam), K) for lam in lams])
        val_mse = tot / (nv * q)
        alpha = np.full(q, alphas[int(np.argmin(tot))])
        chosen = sse_genes(_inv(s + nf * alpha[0])[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 1e-12 * max(float(sst.max()), 1.0), 1.0 - chosen / sst, np.nan)
    val_r2 = np.array([np.nanmean(r2)]) if np.isfinite(r2).any() else np.array([np.nan])
    return alpha, val_mse, val_r2


def _refit(st: _Sums, alpha: np.ndarray, *, block: int) -> tuple[np.ndarray, np.ndarray]:
    """``(coef, intercept)`` (float32) on all training rows: the statistics add up, only the p x p
    eigenproblem is redone. Frees the summed ``X^T Y`` parts of ``st`` (left empty)."""
    n, p, q = st.nf + st.nv, st.Sf.shape[0], st.Sf.shape[1]
    mx = (st.sxf + st.sxv) / n
    my = (st.syf + st.syv) / n
    G = st.Gf + st.Gv - n * np.outer(mx, mx)
    S = st.Sf + st.Sv
    st.Sf = st.Sv = np.empty((0, 0))  # p x q each: free them before the next p x q arrays
    S -= n * np.outer(mx, my)
    s, V = _eigh_gram(G)
    C = V.T @ S
    del S
    coef = np.empty((p, q), dtype=np.float32)
    for b in _blocks(q, block):
        d = _inv(s[:, None] + n * alpha[None, b])                       # p x |b|, eq. (1) per target
        coef[:, b] = (V @ (d * C[:, b])).astype(np.float32)
    intercept = (my - mx @ coef.astype(np.float64)).astype(np.float32)
    return coef, intercept
