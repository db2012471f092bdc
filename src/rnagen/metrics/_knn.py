"""Blocked nearest-neighbour work with torch: never an N x N matrix that does not fit.

Squared Euclidean distances come from the matmul identity ``|a|^2 + |b|^2 - 2 a.b`` (one GEMM per block, the
fast path on CPU and GPU), computed in float32 on data centred by the reference set's mean (centring shrinks
the norms and therefore the cancellation error), and clamped at 0. The distances of the neighbours that are
*returned* are then recomputed directly as ``|a - b|^2`` so that identical rows give exactly 0.

Blocks are sized so that one block of distances stays under ``block_bytes`` (default 256 MB): query rows are
processed ``block`` at a time against all reference rows, which are themselves split into column blocks when
the reference set is very large.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

_BLOCK_BYTES = 256 * 2**20


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
    step = max(1, (64 * 2**20) // max(1, 8 * k * a.shape[1]))
    for s in range(0, len(a), step):
        diff = a[s:s + step, None, :].double() - b[idx[s:s + step]].double()
        out[s:s + step] = (diff * diff).sum(-1)
    return out


def exact_pair_sqdist(a: torch.Tensor, b: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
    """``|a[ia[n]] - b[ib[n]]|^2`` in float64 for a list of pairs (same arithmetic as :func:`exact_sqdist`)."""
    out = torch.empty(len(ia), dtype=torch.float64)
    step = max(1, (64 * 2**20) // max(1, 8 * a.shape[1]))
    for s in range(0, len(ia), step):
        diff = a[ia[s:s + step], None, :].double() - b[ib[s:s + step]][:, None, :].double()
        out[s:s + step] = (diff * diff).sum(-1)[:, 0]
    return out


def center_pair(a: torch.Tensor, b: torch.Tensor, ref: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Subtract a common mean (of ``ref``, default ``b``) from both sets: distances are unchanged, rounding
    error of the matmul identity is smaller."""
    mu = (b if ref is None else ref).mean(0, keepdim=True)
    return a - mu, b - mu


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


def le_refined(d2: torch.Tensor, thr2: torch.Tensor, a0: torch.Tensor, b0: torch.Tensor, row0: int,
               *, norm_a: torch.Tensor, norm_b: torch.Tensor, rel_tol: float = 1e-5) -> torch.Tensor:
    """``d2 <= thr2`` for a block of float32 squared distances, with near-ties decided exactly.

    Pairs whose float32 distance lies within ``rel_tol * (|a|^2 + |b|^2)`` (squared norms of the *centred*
    rows, ``norm_a`` for this block and ``norm_b``: the scale of the matmul identity's rounding error) of the
    threshold are
    recomputed in float64 from the uncentred data ``a0``, ``b0`` (block rows start at ``row0`` of ``a0``),
    so a point on a ball's boundary (e.g. the k-th neighbour itself, for identical sets) is counted
    consistently with how the radius was computed.
    """
    thr32 = thr2.to(torch.float32)
    mask = d2 <= thr32
    tol = rel_tol * (norm_a[:, None] + norm_b[None, :]) + 1e-6
    amb = (d2 - thr32).abs() <= tol
    if bool(amb.any()):
        ia, ib = amb.nonzero(as_tuple=True)
        exact = exact_pair_sqdist(a0, b0, ia + row0, ib)
        t = thr2.expand_as(d2)[ia, ib].double()
        mask[ia, ib] = exact <= t
    return mask


def cross_reduce(a, b, fn: Callable[[int, int, torch.Tensor], None], *, block_bytes: int = _BLOCK_BYTES) -> None:
    """Call ``fn(start, stop, D2)`` for each block of squared distances between rows of ``a`` and all of ``b``.

    ``D2`` is the float32 matmul-identity block (clamped at 0) after centring both sets on ``b``'s mean.
    """
    ta, tb = center_pair(as_tensor(a), as_tensor(b))
    for s, e, d in sqdist_blocks(ta, tb, block_bytes=block_bytes):
        fn(s, e, d)


def brute_force_knn(query, ref=None, *, k: int, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Reference implementation in float64 NumPy (full matrix; for tests on small data only)."""
    q = np.asarray(query, dtype=np.float64)
    r = q if ref is None else np.asarray(ref, dtype=np.float64)
    d = np.sqrt(((q[:, None, :] - r[None, :, :]) ** 2).sum(-1))
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, idx, 1), idx
