"""Blocked nearest-neighbour work with torch: never an N x N matrix that does not fit.

Squared Euclidean distances come from the matmul identity ``|a|^2 + |b|^2 - 2 a.b`` (one GEMM per block, the
fast path on CPU and GPU), computed in float32 on data centred by the reference set's mean (centring shrinks
the norms and therefore the cancellation error), and clamped at 0. The distances of the neighbours that are
*returned* are then recomputed directly as ``|a - b|^2`` so that identical rows give exactly 0.

Blocks are sized so that one block of distances stays under ``block_bytes`` (default 64 MB): query rows are
processed ``block`` at a time against all reference rows, which are themselves split into column blocks when
the reference set is very large.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

_BLOCK_BYTES = 64 * 2**20  # 64 MB blocks: small enough for cache-friendly passes, large enough for big GEMMs


def as_tensor(X, *, device: str | torch.device = "cpu") -> torch.Tensor:
    """A float32, C-contiguous torch tensor view of ``X`` (no copy when already float32 on CPU)."""
    if isinstance(X, torch.Tensor):
        return X.to(device=device, dtype=torch.float32).contiguous()
    return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)


def _rows_per_block(n_ref: int, block_bytes: int) -> int:
    return int(max(16, min(8192, block_bytes // max(1, 4 * n_ref))))


def sqdist_blocks(a: torch.Tensor, b: torch.Tensor, *, block_bytes: int = _BLOCK_BYTES
                  ) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield ``(start, stop, D)`` with ``D = |a[start:stop] - b|^2`` (shape ``(stop - start, len(b))``).

    Uses the matmul identity in float32, clamped at 0 (rounding can make it slightly negative).
    """
    bn = (b * b).sum(1)
    step = _rows_per_block(len(b), block_bytes)
    for s in range(0, len(a), step):
        ab = a[s:s + step]
        d = (ab * ab).sum(1, keepdim=True) + bn[None, :]
        d.addmm_(ab, b.T, alpha=-2.0)
        d.clamp_(min=0.0)
        yield s, s + len(ab), d


def exact_sqdist(a: torch.Tensor, b: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``|a[i] - b[idx[i, j]]|^2`` computed directly in float64 (exact 0 for identical rows), in chunks.

    Call it with the *uncentred* float32 data: the difference of two float32 numbers and its square are exact
    in float64, so the same pair always gives the same value, whichever set it was looked up from.
    """
    out = torch.empty(idx.shape, dtype=torch.float64)
    k = idx.shape[1]
    # cache-sized chunks and in-place arithmetic instead of whole-array temporaries (same values)
    step = max(1, (16 * 2**20) // max(1, 8 * k * a.shape[1]))
    for s in range(0, len(a), step):
        diff = b[idx[s:s + step]].double()
        diff.sub_(a[s:s + step, None, :].double())
        out[s:s + step] = diff.square_().sum(-1)
    return out


def exact_pair_sqdist(a: torch.Tensor, b: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
    """``|a[ia[n]] - b[ib[n]]|^2`` in float64 for a list of pairs (same arithmetic as :func:`exact_sqdist`)."""
    out = torch.empty(len(ia), dtype=torch.float64)
    step = max(1, (16 * 2**20) // max(1, 8 * a.shape[1]))
    for s in range(0, len(ia), step):
        diff = b[ib[s:s + step]][:, None, :].double()
        diff.sub_(a[ia[s:s + step], None, :].double())
        out[s:s + step] = diff.square_().sum(-1)[:, 0]
    return out


def center_pair(a: torch.Tensor, b: torch.Tensor, ref: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Subtract a common mean (of ``ref``, default ``b``) from both sets: distances are unchanged, rounding
    error of the matmul identity is smaller."""
    mu = (b if ref is None else ref).mean(0, keepdim=True)
    return a - mu, b - mu


def _square_tile(n: int, block_bytes: int) -> int:
    """Side of the square distance tiles of the symmetric within-set search (at least 64)."""
    return int(max(64, min(2048, np.sqrt(block_bytes / 4))))  # 2048: fastest of 1536-4096 at 17,000 x 978


def _self_topk_symmetric(q: torch.Tensor, kk: int, tile: int, *, mark_self: bool) -> torch.Tensor:
    """Indices of the ``kk`` smallest float32 squared distances of each row of ``q`` to the rows of ``q``.

    The distance matrix is symmetric, so only the tiles on and above the diagonal are computed (about half
    the GEMM work of a row-block sweep): each off-diagonal tile serves its rows and, transposed, its
    columns. Per row, a running top-``kk`` is merged with each tile's top-``kk``. ``mark_self`` puts each
    row's own index first (distance -1) so the caller can drop it.
    """
    n = len(q)
    norms = (q * q).sum(1)
    best_d = torch.full((n, kk), float("inf"))
    best_i = torch.full((n, kk), -1, dtype=torch.int64)

    def merge(lo: int, hi: int, d: torch.Tensor, offset: int) -> None:
        v, i = torch.topk(d, min(kk, d.shape[1]), dim=1, largest=False, sorted=False)
        cd = torch.cat([best_d[lo:hi], v], 1)
        ci = torch.cat([best_i[lo:hi], i + offset], 1)
        v2, j = torch.topk(cd, kk, dim=1, largest=False, sorted=False)
        best_d[lo:hi], best_i[lo:hi] = v2, torch.gather(ci, 1, j)

    for s in range(0, n, tile):
        e = min(s + tile, n)
        a = q[s:e]
        for t in range(s, n, tile):
            f = min(t + tile, n)
            d = norms[s:e, None] + norms[None, t:f]
            d.addmm_(a, q[t:f].T, alpha=-2.0)
            d.clamp_(min=0.0)
            if t == s:
                if mark_self:
                    d.fill_diagonal_(-1.0)
                merge(s, e, d, t)
            else:
                merge(s, e, d, t)
                merge(t, f, d.T.contiguous(), s)
    return best_i


def knn(query, ref=None, *, k: int, exclude_self: bool = False, block_bytes: int = _BLOCK_BYTES,
        squared: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of the ``k`` nearest rows of ``ref`` for each row of ``query``, ascending.

    Parameters
    ----------
    query, ref
        ``(n, d)`` and ``(m, d)`` arrays. ``ref=None`` means ``ref = query`` (within-set neighbours).
    k
        Number of neighbours.
    exclude_self
        Only with ``ref=None``: drop each row's own index (so duplicated rows still count as neighbours at
        distance 0, while a row is never its own neighbour).

    Returns
    -------
    (dist, idx)
        float64 Euclidean distances ``(n, k)`` (recomputed exactly for the returned pairs; squared if
        ``squared``) and int64 indices.
    """
    q0 = as_tensor(query)
    same = ref is None
    r0 = q0 if same else as_tensor(ref)
    if exclude_self and not same:
        raise ValueError("exclude_self needs ref=None")
    q, r = center_pair(q0, r0)
    if same:
        r = q
    kk = k + 1 if exclude_self else k
    if kk > len(r):
        raise ValueError(f"k={k} neighbours requested but the reference set has {len(r)} rows")
    tile = _square_tile(len(q), block_bytes)
    if same and tile < len(q):
        idx_out = _self_topk_symmetric(q, kk, tile, mark_self=exclude_self)
    else:
        idx_out = torch.empty((len(q), kk), dtype=torch.int64)
        for s, e, d in sqdist_blocks(q, r, block_bytes=block_bytes):
            if exclude_self:
                # self goes to the front: it is a neighbour at distance 0 that we then drop by index
                ar = torch.arange(s, e)
                d[ar - s, ar] = -1.0
            idx_out[s:e] = torch.topk(d, kk, dim=1, largest=False, sorted=True).indices
    if exclude_self:
        own = torch.arange(len(q))[:, None]
        keep = idx_out != own
        # every row has exactly one own index among kk (it was forced to the front)
        idx_out = idx_out[keep].view(len(q), k)
    d2 = exact_sqdist(q0, r0, idx_out)
    d2, order = torch.sort(d2, dim=1, stable=True)
    idx_out = torch.gather(idx_out, 1, order)
    return (d2 if squared else d2.sqrt()).numpy(), idx_out.numpy()


def knn_radius(X, *, k: int, block_bytes: int = _BLOCK_BYTES) -> np.ndarray:
    """Distance of every row to its ``k``-th nearest neighbour in the same set, excluding itself.

    This is the k-NN ball radius of Kynkäänniemi et al. (2019) and Naeem et al. (2020) (reference code:
    ``np.partition(d, k)[:, k]`` on the full distance matrix including the 0 self-distance).
    """
    d, _ = knn(X, k=k, exclude_self=True, block_bytes=block_bytes)
    return d[:, -1]


@dataclass
class CrossNeighbours:
    """One blocked pass over the distances between the rows of ``a`` and of ``b`` (see :func:`cross_pass`).

    ``a_nn2[i]``/``a_nn[i]``: squared distance to / index of the nearest row of ``b`` for each row of ``a``;
    ``b_nn2``/``b_nn`` likewise for the rows of ``b`` (distances recomputed exactly in float64 for the pair
    found, so identical rows give exactly 0). With ball radii: ``a_in_b_balls[i]`` = number of rows ``j`` of
    ``b`` with ``|a_i - b_j|^2 <= b_radii2[j]``; ``b_in_a_balls[j]`` = whether some row ``i`` of ``a`` has
    ``|a_i - b_j|^2 <= a_radii2[i]``.
    """

    a_nn2: np.ndarray
    a_nn: np.ndarray
    b_nn2: np.ndarray
    b_nn: np.ndarray
    a_in_b_balls: np.ndarray | None = None
    b_in_a_balls: np.ndarray | None = None


def _col_argmin(d2: torch.Tensor, mn: torch.Tensor, cols: torch.Tensor, eq: torch.Tensor) -> torch.Tensor:
    """Row index of ``mn[j] = min_i d2[i, j]`` (``mn`` over all columns) for the columns ``cols``.

    ``d2.argmin(0)`` is a strided reduction; a contiguous equality test followed by ``nonzero`` reads memory
    in order instead, which is cheaper on CPU; a few columns are simply gathered.
    """
    if len(cols) * 8 < d2.shape[1]:
        return d2[:, cols].argmin(0)
    torch.eq(d2, mn[None, :], out=eq)
    ij = eq.nonzero()
    first = torch.full((d2.shape[1],), d2.shape[0], dtype=torch.int64)
    first.scatter_reduce_(0, ij[:, 1], ij[:, 0], reduce="amin", include_self=True)
    out = first[cols]
    bad = out >= d2.shape[0]  # NaN columns never compare equal: fall back to argmin
    if bool(bad.any()):
        out[bad] = d2[:, cols[bad]].argmin(0)
    return out


def cross_pass(a, b, *, a_radii2=None, b_radii2=None, rel_tol: float = 1e-5,
               block_bytes: int = _BLOCK_BYTES) -> CrossNeighbours:
    """Nearest neighbours across two sets, in both directions, and optional k-NN-ball memberships, in ONE
    blocked pass over the float32 distance matrix (never materialised whole).

    Ball membership uses ``<=`` against the float64 squared radii: pairs whose float32 distance lies within
    ``rel_tol * (max|a|^2 + max|b|^2)`` of a radius (the scale of the matmul identity's rounding error, with
    squared norms taken after centring) are decided by an exact float64 recomputation, so a point on a
    ball's boundary (e.g. the k-th neighbour itself, for identical sets) is counted consistently with how the
    radius was computed. The per-block work is a handful of contiguous passes with preallocated buffers
    (counting by ``sub -> le_ -> sum`` on floats: boolean row sums and strided arg-reductions are several
    times slower on CPU).

    Parameters
    ----------
    a, b
        ``(n, d)`` and ``(m, d)`` arrays.
    a_radii2, b_radii2
        Squared k-NN radii of the rows of ``a`` / ``b`` (both or neither).

    Returns
    -------
    CrossNeighbours
    """
    a0, b0 = as_tensor(a), as_tensor(b)
    balls = a_radii2 is not None
    if balls != (b_radii2 is not None):
        raise ValueError("pass both a_radii2 and b_radii2, or neither")
    ta, tb = center_pair(a0, b0)
    na, nb = (ta * ta).sum(1), (tb * tb).sum(1)
    n, m = len(ta), len(tb)
    a_arg = torch.empty(n, dtype=torch.int64)
    b_min = torch.full((m,), float("inf"), dtype=torch.float32)
    b_arg = torch.zeros(m, dtype=torch.int64)
    if balls:
        ar2 = torch.as_tensor(np.asarray(a_radii2, np.float64))
        br2 = torch.as_tensor(np.asarray(b_radii2, np.float64))
        ar32, br32 = ar2.float(), br2.float()
        counts = torch.zeros(n, dtype=torch.int64)
        in_a = torch.zeros(m, dtype=torch.bool)
    step = _rows_per_block(m, block_bytes)
    buf = torch.empty((min(step, n), m), dtype=torch.float32)
    eq = torch.empty((min(step, n), m), dtype=torch.bool)
    nb_max = float(nb.max()) if m else 0.0
    for s, e, d2 in sqdist_blocks(ta, tb, block_bytes=block_bytes):
        rows = e - s
        w, q = buf[:rows], eq[:rows]
        a_arg[s:e] = d2.argmin(1)
        mn = d2.amin(0)
        better = (mn < b_min).nonzero().squeeze(1)
        if len(better):
            b_arg[better] = _col_argmin(d2, mn, better, q) + s
            b_min[better] = mn[better]
        if not balls:
            continue
        tol = rel_tol * (float(na[s:e].max()) + nb_max) + 1e-6
        # a_i inside the ball of b_j: d2[i, j] <= br2[j]; count certain (<= -tol) and possible (<= tol)
        lo = torch.sub(d2, br32[None, :], out=w).le_(-tol).sum(1)
        hi = torch.sub(d2, br32[None, :], out=w).le_(tol).sum(1)
        counts[s:e] = lo.to(torch.int64)
        for i in (hi != lo).nonzero().squeeze(1).tolist():
            ei = d2[i] - br32  # the same float32 arithmetic as above
            js = ((ei > -tol) & (ei <= tol)).nonzero().squeeze(1)
            exact = exact_pair_sqdist(a0, b0, torch.full_like(js, s + i), js)
            counts[s + i] = int(lo[i]) + int((exact <= br2[js]).sum())
        # b_j inside the ball of a_i: d2[i, j] <= ar2[i], any i
        cm = torch.sub(d2, ar32[s:e, None], out=w).amin(0)
        in_a.logical_or_(cm <= -tol)
        for j in ((cm <= tol) & (cm > -tol) & ~in_a).nonzero().squeeze(1).tolist():
            iz = ((d2[:, j] - ar32[s:e]).abs() <= tol).nonzero().squeeze(1)
            exact = exact_pair_sqdist(a0, b0, iz + s, torch.full_like(iz, j))
            if bool((exact <= ar2[s + iz]).any()):
                in_a[j] = True
    a_nn2 = exact_sqdist(a0, b0, a_arg[:, None])[:, 0]
    b_nn2 = exact_sqdist(b0, a0, b_arg[:, None])[:, 0]
    out = CrossNeighbours(a_nn2.numpy(), a_arg.numpy(), b_nn2.numpy(), b_arg.numpy())
    if balls:
        out.a_in_b_balls, out.b_in_a_balls = counts.numpy(), in_a.numpy()
    return out


def brute_force_knn(query, ref=None, *, k: int, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Reference implementation in float64 NumPy (full matrix; for tests on small data only)."""
    q = np.asarray(query, dtype=np.float64)
    r = q if ref is None else np.asarray(ref, dtype=np.float64)
    d = np.sqrt(((q[:, None, :] - r[None, :, :]) ** 2).sum(-1))
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, idx, 1), idx


#: two profiles are one up to rounding (a CSV export with two or more decimals, or three significant digits) when
#: every value differs by at most this much: 0.01 plus 0.5% of its size; two profiles of different libraries
#: differ far more on some gene
_ROUNDING = (0.01, 0.005)


def same_pairs(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """For each row ``i``, whether ``A[i]`` and ``B[i]`` hold the same values up to rounding (:data:`_ROUNDING`)
    on every gene: one sample under its id in two files, one of them written with fewer decimals."""
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    with np.errstate(invalid="ignore"):
        return np.all(np.abs(A - B) <= _ROUNDING[0] + _ROUNDING[1] * np.abs(B), axis=1)


def same_profiles(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """For each row of ``A``, whether it is a row of ``B`` up to rounding (:data:`_ROUNDING`): its nearest row of
    ``B`` (in a random projection) holds the same values within the tolerance on every gene. Exact hashes would
    miss the held-out file given again once written to a CSV with fewer decimals.

    With few genes two different profiles agree on every one of them within the tolerance by chance; a match then
    says nothing. The control: ``B`` with each gene's values shuffled among its rows (every value kept, no profile
    kept whole), matched the same way. Where that finds at least a tenth as many matches, none is reported."""
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    out = _matches(A, B)
    if out.any() and len(B) > 1:
        shuffled = np.random.default_rng(0x5EED).permuted(B, axis=0)   # each column on its own
        if 10 * int(_matches(A, shuffled).sum()) >= int(out.sum()):
            return np.zeros(len(A), dtype=bool)
    return out


def _matches(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """:func:`same_profiles` without its control for chance."""
    if not len(A) or not len(B):
        return np.zeros(len(A), dtype=bool)
    # the candidate: the nearest row in 8 fixed random directions, by a k-d tree (a profile's own rounded copy
    # sits there at the size of its rounding, two different profiles at about their distance over sqrt(genes /
    # 8)); the candidate is then compared gene by gene
    from scipy.spatial import cKDTree

    if A.shape[1] > 8:
        P = np.random.default_rng(0x5EED).standard_normal((A.shape[1], 8)) / np.sqrt(A.shape[1])
        a, b = A @ P, B @ P
    else:
        a, b = A, B
    dist, idx = cKDTree(b).query(a, k=1)
    idx = np.asarray(idx, dtype=np.int64)
    # a rounding error of root-mean-square r moves a profile by about r sqrt(8) there: only candidates within
    # 6 sqrt(8) times the tolerance's root mean square are compared gene by gene (the rest are other profiles)
    tol_rms = np.sqrt(np.mean((_ROUNDING[0] + _ROUNDING[1] * np.abs(A)) ** 2, axis=1))
    check = np.flatnonzero(dist <= 6.0 * np.sqrt(min(8, A.shape[1])) * tol_rms)
    out = np.zeros(len(A), dtype=bool)
    if len(check):
        near = B[idx[check]]
        with np.errstate(invalid="ignore"):
            out[check] = np.all(np.abs(A[check] - near) <= _ROUNDING[0] + _ROUNDING[1] * np.abs(near), axis=1)
    return out
