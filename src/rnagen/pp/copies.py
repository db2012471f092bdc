"""Copies of one profile in a data set: the same library under two sample ids (two aliquots of one tube, a file
merged twice, a sample re-processed), exactly or up to rounding or re-normalisation.

A copy on each side of a train/test split biases every indicator that compares a model with held-out profiles:
the real-vs-real reference reads as a perfect match, a generator that memorises its training profiles looks as
near the held-out ones as real data (density, DCR share, near copies), and a membership attack cannot tell a
member from a non-member. :func:`copy_groups` finds the copies; :func:`group_ids` gives the labels a grouped split
(:func:`rnagen.pp.split`) keeps together; :func:`copies_across` finds the profiles of one set that another holds.

Two profiles are copies when their every value is the same (a byte-for-byte digest), or when they are *near
copies*: nearer each other than :data:`NEAR_COPY_RATIO` times both

* the data's typical nearest-neighbour distance (the median over the profiles of the distance to the nearest
  profile that is not a copy), and
* each one's own distance to its nearest profile that is not a copy (a local gap).

Both bars are ratios of distances, so the test is the same for any unit, scale, number of genes or data size.
The local gap is what a distinct profile almost never shows: for profiles drawn from a density that is locally
uniform in ``m`` dimensions, the ratio of the nearest to the second-nearest neighbour distance is below ``t`` with
probability ``t ** m`` whatever the density (Facco et al. 2017, Sci. Rep. 7:12140, the TWO-NN estimator of the
intrinsic dimension), so a ratio of 0.1 is passed by chance by about ``10 ** -m`` of the profiles. The test is
made only where the data's own TWO-NN dimension makes a chance pair among all of them unlikely
(:data:`CHANCE_PAIRS`); the global bar keeps out two rare profiles that are near each other and far from all
others (two samples of a small class), which the local gap alone would take for copies. A tight crowd of
similar profiles (a homogeneous tissue) has no gap between its nearest neighbours and is not chained into one
group (each of two near copies must find the other one so). Rounding to two decimals, or a copy stored in single
precision, moves a profile by orders of magnitude less than the bar; two libraries of one tube sequenced apart
differ by their counting noise and are copies only where that noise is small beside the differences between
samples. Data of more than 50,000 distinct profiles are searched for exact copies only.

Equal rows are not taken for copies where values on a coarse grid (few genes, small whole counts, two decimals)
make them by chance: where the rows with each gene's values shuffled among them hold a tenth as many equal
rows, none is reported (the control :func:`rnagen.metrics._knn.same_profiles` makes for rounding).

Distances are Euclidean on the log scale (counts are taken as ``log2(x + 1)``, as everything rnagen scores);
profiles of one value in every gene (failed or empty libraries) are reported apart and are not copies.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["NEAR_COPY_RATIO", "CHANCE_PAIRS", "Copies", "find_copies", "find_copies_stacked", "copy_groups",
           "group_ids", "copy_labels",
           "first_of_group", "copies_across", "row_keys", "mixed_label_pairs", "warn_mixed_labels"]

#: two profiles nearer each other than this share of the data's typical nearest-neighbour distance, and of each
#: one's distance to its nearest other profile, are copies of one profile
NEAR_COPY_RATIO = 0.1
#: the near-copy test is made where the expected number of distinct profiles passing it by chance,
#: ``n * NEAR_COPY_RATIO ** m`` (``m`` the TWO-NN dimension of the data), stays below this
CHANCE_PAIRS = 0.05
#: neighbours looked at per profile: groups of up to this many near copies are found whole (exact copies, of
#: any number, by their digest)
_NEIGHBOURS = 10
#: fewest distinct profiles on which a typical nearest-neighbour distance and a dimension are estimated
_MIN_PROFILES = 8
#: most distinct profiles the near-copy test is made on (its neighbour search grows with their square); larger
#: data are searched for exact copies only
_MAX_NEAR = 50_000
#: differences between profiles and their candidate copies held at once when their distances are measured
_DIFF_VALUES = 1 << 22
#: genes beyond which neighbours are found in a random projection (the candidates' distances are then
#: measured on every gene): keeps the search within O(n^2 * 256)
_PROJECT_ABOVE = 512


def row_keys(X: np.ndarray) -> list[bytes]:
    """A digest of each row's bytes: rows with equal keys hold the same values (to 2^-128)."""
    return [hashlib.blake2b(np.ascontiguousarray(row).tobytes(), digest_size=16).digest() for row in X]


@dataclass
class Copies:
    """The copies :func:`find_copies` found.

    Attributes
    ----------
    groups
        Row indices of each group of copies (two or more rows each, in row order; groups ordered by their first
        row).
    exact
        For each group, whether its rows hold the same values byte for byte.
    flat
        Rows of one value in every gene (failed or empty libraries), in no group.
    scale
        The data's typical nearest-neighbour distance (NaN where it was not estimated).
    dimension
        The data's TWO-NN intrinsic dimension (NaN where not estimated).
    near_tested
        Whether the near-copy test was made (enough distinct profiles and not too many, a dimension that keeps
        chance pairs out); exact copies are found either way.
    """

    groups: list[list[int]] = field(default_factory=list)
    exact: list[bool] = field(default_factory=list)
    flat: list[int] = field(default_factory=list)
    scale: float = float("nan")
    dimension: float = float("nan")
    near_tested: bool = False

    @property
    def n_copies(self) -> int:
        """Rows beyond the first of each group: how many profiles are copies of another."""
        return sum(len(g) - 1 for g in self.groups)


def find_copies(X: Any, *, ratio: float = NEAR_COPY_RATIO) -> Copies:
    """The groups of copies among the rows of ``X`` (samples x genes, on the scale distances are to be taken in;
    see the module docstring for the test). Missing values count as the gene's mean in the near-copy test."""
    return _find(_Rows([(_matrix(X), False)]), ratio=ratio)


def find_copies_stacked(parts: list[tuple[Any, bool]], *, ratio: float = NEAR_COPY_RATIO) -> Copies:
    """:func:`find_copies` of the rows of several matrices stacked in order (rows numbered through the stack),
    each ``(X, log)`` taken as its values, or as their ``log2(x + 1)`` where ``log`` (in float64, as
    :func:`rnagen.pp.to_log_scale` takes it of a float64 copy): the groups, scale and dimension the search finds
    on the stacked float64 matrix, read a block of rows at a time without stacking the sets or taking their
    logs whole."""
    return _find(_Rows([(_matrix(X), bool(log)) for X, log in parts]), ratio=ratio)


def _matrix(X: Any) -> Any:
    """``X`` as a 2-D array, a SciPy sparse matrix kept sparse (its rows are expanded a block at a time)."""
    return X.tocsr() if hasattr(X, "tocsr") else np.asarray(X)


class _Rows:
    """The rows of one or more matrices stacked, in float64 on the scale copies are tested on (each matrix's values,
    or their ``log2(x + 1)``), read a block of rows at a time: the search holds a few blocks beside the matrices,
    never a float64 copy of all of them (a full transcriptome of thousands of profiles is gigabytes, in float64
    twice its single-precision size). Every value is computed as on the whole stack (the same cast, the same
    elementwise log), so the search finds what it finds on that stack.

    ``index`` picks rows of the stack (in its order; all where None); ``fill`` (a value per gene) replaces the
    missing values, which :func:`numpy.nan_to_num` then makes finite, as the near-copy test takes them.
    """

    def __init__(self, parts: list[tuple[Any, bool]], index: np.ndarray | None = None,
                 fill: np.ndarray | None = None) -> None:
        self.parts = parts
        self.starts = np.cumsum([0] + [M.shape[0] for M, _ in parts])
        self.index = index
        self.fill = fill
        self.n_genes = int(parts[0][0].shape[1]) if parts and len(parts[0][0].shape) > 1 else 1

    def __len__(self) -> int:
        return int(self.starts[-1]) if self.index is None else len(self.index)

    def subset(self, index: np.ndarray, fill: np.ndarray | None = None) -> _Rows:
        """The rows ``index`` of these (indices into this view), with ``fill`` for missing values."""
        base = np.asarray(index, dtype=np.int64) if self.index is None else self.index[index]
        return _Rows(self.parts, base, fill)

    def spans(self, per_row: int | None = None) -> list[tuple[int, int]]:
        """``(start, stop)`` of blocks of rows of about :data:`_DIFF_VALUES` values (``per_row`` values a row,
        by default the genes)."""
        step = max(1, _DIFF_VALUES // max(1, self.n_genes if per_row is None else per_row))
        return [(a, min(a + step, len(self))) for a in range(0, len(self), step)]

    def take(self, rows: Any, cols: slice = slice(None)) -> np.ndarray:
        """Float64 values of ``rows`` (a slice or indices into this view), genes ``cols``, in a new C-ordered
        array."""
        at = np.arange(len(self))[rows] if isinstance(rows, slice) else np.asarray(rows, dtype=np.int64)
        at = at if self.index is None else self.index[at]
        part = np.searchsorted(self.starts, at, side="right") - 1
        width = len(range(self.n_genes)[cols])
        out = np.empty((len(at), width), dtype=np.float64)
        for p, (M, log) in enumerate(self.parts):
            sel = np.flatnonzero(part == p)
            if not sel.size:
                continue
            B = M[at[sel] - self.starts[p], cols]
            B = B.toarray() if hasattr(B, "toarray") else B
            B = np.array(B, dtype=np.float64)   # a copy of its own: the log below is taken in place
            if log:   # to_log_scale's log2(x + 1)
                np.add(B, 1.0, out=B)
                np.log2(B, out=B)
            out[sel] = B
        if self.fill is not None:
            out = np.nan_to_num(np.where(np.isnan(out), self.fill[cols], out))
        return out


def _find(X: _Rows, *, ratio: float) -> Copies:
    """:func:`find_copies` of the rows of ``X``."""
    n = len(X)
    out = Copies()
    if n < 2:
        return out
    lo, hi = np.empty(n), np.empty(n)
    keys: list[bytes] = []
    for a, b in X.spans():
        B = X.take(slice(a, b))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # a sample with every value missing: not 'one value'
            lo[a:b], hi[a:b] = np.nanmin(B, axis=1), np.nanmax(B, axis=1)
        keys.extend(row_keys(B))
    out.flat = np.flatnonzero(lo == hi).tolist() if X.n_genes > 1 else []
    flat = set(out.flat)
    by_key: dict[bytes, list[int]] = {}
    for i, key in enumerate(keys):
        if i not in flat:
            by_key.setdefault(key, []).append(i)
    if any(len(g) > 1 for g in by_key.values()) and _by_chance(X, flat, by_key):
        return out
    reps = [g[0] for g in by_key.values()]   # one row per distinct profile, in row order
    members = {g[0]: g for g in by_key.values()}
    parent = {r: r for r in reps}

    def root(r: int) -> int:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    near_pairs = _near_pairs(X.subset(np.asarray(reps, dtype=np.int64)), ratio=ratio, out=out)
    for a, b in near_pairs:
        ra, rb = root(reps[a]), root(reps[b])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    joined: dict[int, list[int]] = {}
    for r in reps:
        joined.setdefault(root(r), []).extend(members[r])
    for r in sorted(joined):
        rows = sorted(joined[r])
        if len(rows) > 1:
            out.groups.append(rows)
            out.exact.append(len(members[r]) == len(rows))
    return out


def _by_chance(X: _Rows, flat: set[int], by_key: dict[bytes, list[int]]) -> bool:
    """Whether equal rows are what values on a coarse grid give by chance (few genes, small whole counts, two
    decimals): the rows with each gene's values shuffled among them (every value kept, no profile kept whole)
    hold at least a tenth as many equal rows. Equal rows then say nothing of copies, and nearness still less.

    The shuffle is made a block of genes at a time, each row's digest fed block by block: one generator shuffles
    the genes one after another, so the blocks together are the shuffle of the whole matrix."""
    rows = X.subset(np.asarray([i for i in range(len(X)) if i not in flat], dtype=np.int64))
    rng = np.random.default_rng(0x5EED)
    digests = [hashlib.blake2b(digest_size=16) for _ in range(len(rows))]
    width = max(1, _DIFF_VALUES // max(1, len(rows)))
    for c in range(0, X.n_genes, width):
        shuffled = rng.permuted(rows.take(slice(None), slice(c, c + width)), axis=0)   # each column on its own
        for h, row in zip(digests, shuffled):
            h.update(row.tobytes())
    n_equal = sum(len(g) - 1 for g in by_key.values())
    return 10 * (len(rows) - len({h.digest() for h in digests})) >= n_equal


def _gene_means(U: _Rows) -> np.ndarray | None:
    """Each gene's mean over the rows of ``U``, missing values left out (as :func:`numpy.nanmean`, summed row
    after row in the same order), where any value is missing; else None."""
    total: np.ndarray | None = None
    count = np.zeros(U.n_genes, dtype=np.intp)
    missing = False
    for a, b in U.spans():
        B = U.take(slice(a, b))
        nan = np.isnan(B)
        missing = missing or bool(nan.any())
        B[nan] = 0.0
        total = B.sum(axis=0) if total is None else np.concatenate([total[None], B]).sum(axis=0)
        count += (~nan).sum(axis=0)
    if not missing or total is None:
        return None
    with np.errstate(all="ignore"):
        return total / count   # a gene missing in every profile: NaN, 0 once nan_to_num has run


def _near_pairs(U: _Rows, *, ratio: float, out: Copies) -> list[tuple[int, int]]:
    """Pairs of rows of ``U`` (distinct profiles) that are near copies; sets ``out``'s scale, dimension and
    ``near_tested``."""
    m = len(U)
    if m < _MIN_PROFILES or m > _MAX_NEAR or U.n_genes < 2:
        return []
    mean = _gene_means(U)
    if mean is not None:
        assert U.index is not None
        U = _Rows(U.parts, U.index, mean)
    k = min(_NEIGHBOURS + 1, m - 1)
    dist, idx = _neighbours(U, k)
    # the local gap: the first c >= 1 with d_c < ratio * d_(c+1) makes neighbours 1..c the candidate copies and
    # d_(c+1) the profile's own scale (its nearest other profile); without such a gap, c = 0 and the scale is d_1
    c = np.zeros(m, dtype=np.int64)
    for j in range(k - 1, 0, -1):   # the smallest gap wins: scanned from the far end, overwritten going in
        gap = dist[:, j - 1] < ratio * dist[:, j]
        c[gap] = j
    own = dist[np.arange(m), c]
    scale = float(np.median(own))
    # TWO-NN past each profile's copies: log(d_(c+2) / d_(c+1)) has median ln 2 / dimension
    nxt = dist[np.arange(m), np.minimum(c + 1, k - 1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(nxt / own)
    logs = logs[np.isfinite(logs) & (c + 1 < k)]
    med = float(np.median(logs)) if len(logs) else 0.0
    dim = np.log(2.0) / med if med > 0 else float("inf")
    out.scale, out.dimension = scale, dim
    if not scale > 0 or m * ratio ** min(dim, 1e6) >= CHANCE_PAIRS:
        return []
    out.near_tested = True
    bar = ratio * np.minimum(own, scale)
    pairs = set()
    for i in np.flatnonzero(c > 0):
        for j in range(c[i]):
            if dist[i, j] < bar[i]:
                pairs.add((int(i), int(idx[i, j])))
    # a pair both of whose profiles see the other as a copy
    return sorted((a, b) for a, b in pairs if a < b and (b, a) in pairs)


def _neighbours(U: _Rows, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest other rows of ``U``: distances (ascending) and indices. On many genes the
    candidates are found in a random projection (distances kept in expectation) and measured on every gene."""
    from sklearn.neighbors import NearestNeighbors

    projected = U.n_genes > _PROJECT_ABOVE
    if projected:   # the projection a block of rows at a time
        P = np.random.default_rng(0x5EED).standard_normal((U.n_genes, 256))
        P /= np.sqrt(256)
        V = np.empty((len(U), 256))
        for a, b in U.spans():
            V[a:b] = U.take(slice(a, b)) @ P
    else:
        V = U.take(slice(None))
    kk = min(2 * k + 1 if projected else k + 1, len(U))
    _, idx = NearestNeighbors(n_neighbors=kk, algorithm="brute").fit(V).kneighbors(V)
    del V
    # drop each row itself (not always first among exact ties), keep k; distances on every gene
    others = [r[r != i][:kk - 1] for i, r in enumerate(idx)]
    idx = np.asarray(others, dtype=np.int64)
    # the candidates' distances a block of rows at a time (about _DIFF_VALUES differences held at once)
    d = np.empty(idx.shape, dtype=np.float64)
    for a, b in U.spans(idx.shape[1] * U.n_genes):
        near = U.take(idx[a:b].ravel()).reshape(b - a, idx.shape[1], U.n_genes)
        d[a:b] = np.sqrt(((U.take(slice(a, b))[:, None, :] - near) ** 2).sum(axis=2))
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, axis=1), np.take_along_axis(idx, order, axis=1)


def _log_part(adata) -> tuple[Any, bool]:
    """``adata.X`` (a sparse matrix kept sparse) and whether copies are tested on its ``log2(x + 1)``
    (:func:`rnagen.pp.to_log_scale`'s choice: not for values on the log scale or with negative values; a scale
    its values leave open is read as their own)."""
    from ..errors import DataError
    from .history import looks_logged
    from .prepare import dense, is_logged

    X = _matrix(adata.X)
    try:
        logged = is_logged(adata)
    except DataError:
        logged = looks_logged(dense(X), strict=False)
    return X, not logged and not _nanmin(X) < 0


def _nanmin(X: Any) -> float:
    """The least value of ``X`` (NaN where it has none), a sparse matrix's unstored zeros counted."""
    if hasattr(X, "nnz"):
        values = X.data if X.nnz == np.prod(X.shape) else np.append(X.data, 0.0)
    else:
        values = np.asarray(X)
    if not values.size:
        return float("nan")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # every value missing: NaN, which no test passes
        return float(np.nanmin(values))


def copy_groups(adata) -> Copies:
    """:func:`find_copies` of an AnnData's profiles, on the log scale."""
    return _find(_Rows([_log_part(adata)]), ratio=NEAR_COPY_RATIO)


def group_ids(copies: Copies, n: int) -> np.ndarray:
    """A group label per row: the first row of its group of copies, else the row itself."""
    g = np.arange(n)
    for rows in copies.groups:
        g[rows] = rows[0]
    return g


def copy_labels(X: Any) -> np.ndarray:
    """:func:`group_ids` of :func:`find_copies` of ``X``: a label per row that a grouped split keeps together."""
    return group_ids(find_copies(X), len(X))


def first_of_group(groups: np.ndarray | None, n: int) -> np.ndarray:
    """``groups`` (a label per row, equal for copies of one profile, of any value) relabelled by each group's
    first row: ``arange(n)`` without ``groups`` or without copies, so a draw over the labels is then the draw
    over the rows."""
    if groups is None or n == 0:
        return np.arange(n)
    _, inv = np.unique(np.asarray(groups), return_inverse=True)
    inv = inv.reshape(-1)
    first = np.full(int(inv.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first, inv, np.arange(n))
    return first[inv]


def mixed_label_pairs(groups: np.ndarray | None, labels: Any) -> list[tuple[int, int]]:
    """``(first row, row of another class)`` for each group of copies (``groups``: a label per row, equal for the
    copies of one profile, :func:`copy_labels`) whose rows carry more than one class of ``labels``: one profile
    with two labels, which a stratified split can place with one class only."""
    if groups is None or labels is None:
        return []
    g = first_of_group(groups, len(groups))
    y = np.asarray(labels).astype(str)
    pairs: list[tuple[int, int]] = []
    seen: set[int] = set()
    # the rows whose class differs from their group's first row's: the first such row of each group
    for r in np.flatnonzero(y != y[g]).tolist():
        if int(g[r]) not in seen:
            seen.add(int(g[r]))
            pairs.append((int(g[r]), int(r)))
    return pairs


def warn_mixed_labels(groups: np.ndarray | None, labels: Any, names: Any = None, *, what: str) -> int:
    """Warn (``UserWarning``) where copies of one profile carry two classes (:func:`mixed_label_pairs`), naming
    how many groups do and one pair of sample ids (``names``, row numbers without them); ``what`` says what the
    grouping does with them. A profile with two labels is a data error the user must correct: a split keeps
    the copies on one side under one class, a model learns the profile as both. Returns the number of such
    groups.

    Within one command (:func:`rnagen.utils.one_warning_each`: its split, each fit and the evaluation's membership
    audit meet the same profiles) a pair of sample ids that a warning has named, shown or counted in its number,
    is not warned of again; with ``names`` only, since row numbers of two matrices name different profiles."""
    pairs = mixed_label_pairs(groups, labels)
    if pairs:
        import warnings

        from ..utils import not_yet_named

        y = [str(v) for v in np.asarray(labels).astype(str)]
        ids = [str(i) for i in range(len(y))] if names is None else [str(x) for x in names]
        if names is not None:
            keys = [("copies labelled two ways", *sorted((ids[a], ids[b]))) for a, b in pairs]
            new = set(not_yet_named(keys))
            if not new:
                return len(pairs)
            pairs = [p for p, k in zip(pairs, keys) if k in new] + [p for p, k in zip(pairs, keys) if k not in new]
        a, b = pairs[0]
        warnings.warn(f"{len(pairs)} profile(s) appear under several sample ids with different labels (e.g. "
                      f"{ids[a]!r} labelled {y[a]!r} and its copy {ids[b]!r} labelled {y[b]!r}): {what}; one "
                      "profile with two labels is a data error: correct the labels or remove the copies (rnagen "
                      "data info names them)", UserWarning, stacklevel=2)
    return len(pairs)


def copies_across(a, b) -> list[tuple[int, int]]:
    """``(row of a, row of b)`` for each profile of AnnData ``a`` that has a copy in ``b`` (the test of
    :func:`find_copies` on the two sets together, each brought to the log scale on its own), one pair per row of
    ``a``, in row order."""
    A, B = _log_part(a), _log_part(b)
    if not A[0].shape[0] or not B[0].shape[0] or A[0].shape[1] != B[0].shape[1]:
        return []
    found = find_copies_stacked([A, B])
    n_a = A[0].shape[0]
    pairs: list[tuple[int, int]] = []
    for rows in found.groups:
        left = [r for r in rows if r < n_a]
        right = [r - n_a for r in rows if r >= n_a]
        pairs.extend((r, right[0]) for r in left if right)
    return sorted(pairs)
