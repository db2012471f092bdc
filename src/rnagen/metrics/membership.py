"""Membership inference: can an attacker holding the synthetic set tell whether a profile was trained on?

The audit needs four disjoint sets of real profiles:

- **members**: profiles the generator was trained on (a subsample of the training set, as many as there are
  non-members and with their label mix, so the attack AUC is balanced);
- **non-members**: held-out profiles the generator never saw;
- **reference**: other held-out profiles, the attacker's sample of the population (calibrated attacks);
- **independent draw**: still other held-out profiles, scored in place of the synthetic set. A generator whose
  output is a fresh draw from the population (the ideal) cannot leak membership: its values are the
  real-vs-real reference (AUC near 0.5).

:func:`rnagen.metrics.evaluate` takes the non-members, the reference set (unless ``mia_reference`` is given)
and the independent draw from its held-out real set (``real``) by a stratified, seeded partition
(:func:`membership_split`), dealt in an order set by the profiles' content
(:func:`~rnagen.metrics._classifiers.canonical_order`), as are the members drawn from ``train``: the audit
attacks the same profiles however the rows of the files are ordered. A benchmark passes its split record's sets
instead (``evaluate(..., membership_sets=...)``). The non-members are held-out profiles that the fidelity
indicators also read: no indicator is fitted on them and none is fitted on the reference set or the members, so
sharing them biases neither; what must not be shared is a profile between the four sets above (a non-member in the
reference set sits at distance 0 from it and the calibrated attacks would call it a member).
Each attack is also run with the training set itself as the synthetic set (a generator that copies its
training profiles: the worst case), reported in ``attrs["membership"]["copies"]``.

Attacks (score: higher = "member"), all black-box (they see only the synthetic set and, where calibrated,
the reference set):

1. GAN-Leaks full black-box (Chen et al. 2020, CCS, eq. 4): ``-min_s |x - s|``.
2. GAN-Leaks calibrated (Chen et al. 2020, sec. 5.2, with the reference set in place of a reference
   generator): ``min_r |x - r| - min_s |x - s|``.
3. Monte-Carlo set membership (Hilprecht et al. 2019, PoPETs, eq. 2): the share of synthetic profiles within
   ``epsilon`` of ``x``; ``epsilon`` is a quantile (default the median) of the candidates' nearest-synthetic
   distances, as in the DOMIAS baseline code. A count of neighbours ranks profiles without the ``exp(-d^2)``
   kernel that underflows in hundreds of dimensions.
4. LOGAN-D1 (Hayes et al. 2019, PoPETs): a classifier of synthetic (1) vs reference (0) profiles (the MLP of
   :mod:`rnagen.metrics._classifiers`); the score is its probability of "synthetic".
5. DOMIAS (van Breugel et al. 2023, AISTATS, eq. 3): ``log p_S(x) - log p_R(x)``, both densities estimated
   in the space of the reference set's first principal components (at most ``pca_dims``), by a Gaussian KDE
   with Scott's bandwidth (as ``scipy.stats.gaussian_kde``) evaluated in log space with a blocked
   logsumexp, or by a Gaussian mixture (``density="gmm"``, the stronger density model).

Statistics per attack: ROC AUC (ties count half) and the true-positive rate at false-positive rates 0.1 and
0.01, read off the interpolated ROC curve: the piecewise-linear curve through the ROC vertices (one per
distinct score, ties giving a diagonal segment: the mean over random tie-breaking), at the largest TPR
reached at each FPR. With ``n`` non-members and scores that carry no information the expected TPR at FPR
``alpha`` on this curve is ``(floor(alpha n) + 1) / (n + 1)`` (:func:`chance_tpr`), which is above ``alpha``
when ``n`` is small (0.028 at ``alpha = 0.01`` with 35 non-members): that is the target the rows carry.
Confidence intervals: bootstrap over the members and the non-members (resampled separately), with what the attacks
fit on the synthetic and reference sets held fixed and what depends on the candidates themselves recomputed on
each resample (MC's radius, a quantile of their own nearest-synthetic distances); the AUC's interval on the logit
scale (:func:`rnagen.metrics._bootstrap.logit_ci`), a TPR's by :func:`rnagen.metrics._bootstrap.bootstrap_ci`,
never narrower than the Wilson interval of the members' share above the threshold.
They leave out the variation of the synthetic and the reference set and of what the attacks fit on them (LOGAN's
classifier, the densities): for a generator that copies its training profiles with noise, as for one that
draws new profiles, that part is a small share of the spread over audits (``benchmarks/ci_coverage.py
--membership-sr``), the members' and non-members' sampling the rest.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from ..config import check_number
from ..errors import ConfigError, DataError
from . import _classifiers, _knn
from ._bootstrap import bootstrap_ci, logit_ci, one_sided_bound, share_floor
from ._checks import check_sets as check_arrays
from ._classifiers import PrincipalInputs
from ._registry import Scored, register, scorer

if TYPE_CHECKING:
    from ._context import EvalContext

__all__ = ["ATTACKS", "STATISTICS", "membership_split", "membership_sets", "attack_scores", "attack_statistics",
           "roc_vertices", "tpr_at_fpr", "chance_tpr", "membership_inference", "verdict", "metric_name", "kde_logpdf"]

Density = Literal["kde", "gmm"]

#: attack key -> (display name, definition, source)
ATTACKS: dict[str, tuple[str, str, str]] = {
    "ganleaks": ("GAN-Leaks",
                 "GAN-Leaks full black-box: score = minus the distance to the nearest synthetic profile",
                 "Chen et al. 2020, GAN-Leaks (CCS), eq. 4"),
    "ganleaks_cal": ("GAN-Leaks calibrated",
                     "calibrated GAN-Leaks: score = distance to the nearest reference profile minus the distance "
                     "to the nearest synthetic profile",
                     "Chen et al. 2020, GAN-Leaks (CCS), sec. 5.2 (reference set in place of a reference model)"),
    "mc": ("MC set membership",
           "Monte-Carlo set membership: share of synthetic profiles within epsilon of the profile, epsilon the "
           "median of the candidates' nearest-synthetic distances (counts, no exp(-d^2))",
           "Hilprecht et al. 2019, Monte Carlo and reconstruction membership inference (PoPETs), eq. 2"),
    "logan": ("LOGAN-D1",
              "LOGAN-D1: an MLP classifier of synthetic vs reference profiles; score = its probability of "
              "'synthetic'",
              "Hayes et al. 2019, LOGAN (PoPETs); the D1 variant of the DOMIAS baselines"),
    "domias": ("DOMIAS",
               "DOMIAS: log density ratio synthetic / reference, Gaussian KDE (Scott bandwidth) on the first "
               "principal components of the reference set, in log space (logsumexp)",
               "van Breugel et al. 2023, DOMIAS (AISTATS), eq. 3"),
}

#: statistic key -> (FPR for a TPR statistic or None for the AUC, definition)
STATISTICS: dict[str, tuple[float | None, str]] = {
    "auc": (None, "ROC AUC of the attack score, members vs non-members (ties half)"),
    "tpr_at_fpr01": (0.1, "true-positive rate at false-positive rate 0.1 on the interpolated ROC"),
    "tpr_at_fpr001": (0.01, "true-positive rate at false-positive rate 0.01 on the interpolated ROC"),
}


def metric_name(attack: str, statistic: str) -> str:
    """The registry name of ``statistic`` of ``attack`` (``mia_<attack>_<statistic>``)."""
    return f"mia_{attack}_{statistic}"


# Direction. AUC: target 0.5, since a score that ranks members BELOW non-members leaks as much (the attacker
# flips it). TPR at a fixed FPR: target the FPR (chance), not "lower": an attack carrying no information has
# TPR = FPR in expectation, and values below chance are sampling noise at that end of the ROC, not more
# privacy, so "lower" would reward noise. Each row carries the exact chance level of its ROC estimator
# (chance_tpr), which the registry's value approaches with many non-members.
for _attack, (_label, _definition, _source) in ATTACKS.items():
    for _stat, (_alpha, _stat_def) in STATISTICS.items():
        register(metric_name(_attack, _stat), lower=0.0, upper=1.0, family="membership",
                 direction=0.5 if _alpha is None else _alpha, needs=("train",), source=_source,
                 definition=f"{_stat_def}; attack: {_definition}; members = training profiles subsampled to the "
                            "number of non-members (held-out profiles); reference = the value of an independent "
                            "real draw scored as the synthetic set (ideal)")


# --------------------------------------------------------------------------------------------- the split
def membership_split(labels: Sequence[Any] | np.ndarray | int, *, seed: int, with_reference: bool = True,
                     groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Stratified, seeded partition of the held-out profiles into the audit's parts.

    Parameters
    ----------
    labels
        The held-out profiles' class labels, or their number (one class).
    seed
        Seeds the partition.
    with_reference
        Three parts (``nonmembers``, ``reference``, ``independent``); ``False``: two (``nonmembers``,
        ``independent``), for a reference set given separately.
    groups
        A label per held-out profile, equal for the copies of one profile (:func:`rnagen.pp.copies.copy_labels`):
        each group is dealt whole, so no copy sits among the non-members while another is in the reference set
        (at distance 0 from it, the calibrated attacks would call that non-member a member) or the independent
        draw. ``None``: every profile its own group.

    Returns
    -------
    dict
        Sorted index arrays into the held-out set, one per part. Within each class the profiles (their groups
        of copies) are shuffled and dealt to the parts in turn, starting at the part that has received the
        fewest so far, so every part gets about a third (half) of each class and of the whole. Without copies
        the deal is that of the profiles themselves.
    """
    from ..pp.copies import first_of_group

    y = np.zeros(labels, dtype=np.int64) if isinstance(labels, (int, np.integer)) else np.asarray(labels)
    parts = ("nonmembers", "reference", "independent") if with_reference else ("nonmembers", "independent")
    g = first_of_group(groups, len(y))
    members: dict[int, list[int]] = {}
    for i, gi in enumerate(g.tolist()):
        members.setdefault(gi, []).append(i)
    rng = np.random.default_rng([int(seed), 18])
    got: list[list[int]] = [[] for _ in parts]
    dealt: set[int] = set()
    for c in sorted(set(y.tolist()), key=str):
        # the groups of the class's rows, each named by its first row: the rows themselves without copies
        idx = rng.permutation(np.unique(g[y == c]))
        start = int(np.argmin([len(p) for p in got]))
        j = 0
        for i in idx.tolist():
            if i in dealt:   # a group of copies labelled two ways, dealt with its first class
                continue
            dealt.add(i)
            got[(start + j) % len(parts)].extend(members[i])
            j += 1
    return {p: np.sort(np.asarray(rows, dtype=np.int64)) for p, rows in zip(parts, got)}


def _members(n_train: int, n: int, *, train_labels: np.ndarray | None, nonmember_labels: np.ndarray | None,
             seed: int) -> np.ndarray:
    """Indices of the ``n`` training profiles that serve as members (all of them when there are fewer): with
    the non-members' label mix where the training set has enough of a class, the rest drawn at random."""
    rng = np.random.default_rng([int(seed), 18, 1])
    if n >= n_train:
        return np.arange(n_train)
    if train_labels is None or nonmember_labels is None:
        return np.sort(rng.choice(n_train, n, replace=False))
    chosen: list[int] = []
    for c in sorted(set(nonmember_labels.tolist()), key=str):
        pool = np.flatnonzero(train_labels == c)
        want = int((nonmember_labels == c).sum())
        chosen += rng.choice(pool, min(want, len(pool)), replace=False).tolist()
    if len(chosen) < n:
        rest = np.setdiff1d(np.arange(n_train), chosen)
        chosen += rng.choice(rest, n - len(chosen), replace=False).tolist()
    return np.sort(np.asarray(chosen, dtype=np.int64))


# --------------------------------------------------------------------------------------------- attacks
def _nearest2(X: torch.Tensor, S: torch.Tensor) -> np.ndarray:
    """Squared distance of each row of ``X`` to its nearest row of ``S`` (one blocked pass)."""
    return _knn.cross_pass(X, S).a_nn2


def _mc_counts(X: torch.Tensor, S: torch.Tensor, eps2: float) -> np.ndarray:
    """Number of rows of ``S`` within squared distance ``eps2`` (``<=``) of each row of ``X``: the k-NN-ball
    count of :func:`rnagen.metrics._knn.cross_pass` with every synthetic ball of radius ``epsilon`` (the
    candidates' balls are empty, radius -1)."""
    cp = _knn.cross_pass(X, S, a_radii2=np.full(len(X), -1.0), b_radii2=np.full(len(S), eps2))
    assert cp.a_in_b_balls is not None
    return cp.a_in_b_balls


def _pca(reference: np.ndarray, dims: int, seed: int):
    from sklearn.decomposition import PCA

    return PCA(n_components=dims, random_state=seed).fit(np.asarray(reference, np.float64))


def kde_logpdf(data: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``log`` of the Gaussian KDE of ``data`` at ``points`` (the estimator of ``scipy.stats.gaussian_kde``:
    kernel covariance = data covariance x Scott's factor ``n^(-1/(d+4))``, equal weights), in log space.

    The points are whitened with the Cholesky factor of the kernel covariance, so the kernel exponent is
    ``-|z - z_j|^2 / 2``; the squared distances come block by block (:func:`rnagen.metrics._knn.sqdist_blocks`,
    float64) and are reduced with ``logsumexp``: a point far from every kernel centre keeps a finite, ranked
    log density where ``exp`` would underflow to 0.
    """
    D = np.asarray(data, np.float64)
    P = np.asarray(points, np.float64)
    n, d = D.shape
    cov = np.atleast_2d(np.cov(D, rowvar=False)) * n ** (-2.0 / (d + 4))
    try:
        L = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        # data spanning fewer than d directions (a collapsed generator's identical profiles): the kernel is
        # widened by a ridge far below the data's own variance, so the density stays finite and ranks the points
        # by their distance to the data's span
        ridge = 1e-6 * max(float(np.trace(cov)) / d, 1e-6)
        L = np.linalg.cholesky(cov + ridge * np.eye(d))
    zd = torch.from_numpy(np.linalg.solve(L, D.T).T.copy())
    zp = torch.from_numpy(np.linalg.solve(L, P.T).T.copy())
    out = np.empty(len(P))
    for s, e, d2 in _knn.sqdist_blocks(zp, zd):
        out[s:e] = torch.logsumexp(-0.5 * d2, dim=1).numpy()
    log_norm = math.log(n) + 0.5 * d * math.log(2 * math.pi) + float(np.log(np.diag(L)).sum())
    return out - log_norm


def _gmm_logpdf(data: np.ndarray, points: np.ndarray, *, seed: int, n_components: int = 8) -> np.ndarray:
    """``log`` density of a full-covariance Gaussian mixture fitted on ``data`` (at most ``n_components``, at
    most one per ``d + 2`` profiles); scikit-learn evaluates it with logsumexp."""
    from sklearn.mixture import GaussianMixture

    n, d = data.shape
    k = int(max(1, min(n_components, n // (d + 2))))
    gm = GaussianMixture(n_components=k, covariance_type="full", reg_covar=1e-4, random_state=seed, n_init=1)
    return gm.fit(np.asarray(data, np.float64)).score_samples(np.asarray(points, np.float64))


def _logan(X: np.ndarray, S: np.ndarray, R: np.ndarray, *, seed: int, epochs: int, max_n: int = 5000,
           inputs: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """LOGAN-D1 scores: P(synthetic) of an MLP trained on synthetic (1) vs reference (0) profiles (at most
    ``max_n`` of each, drawn with ``seed``); ``inputs``: a map of the profiles to the classifier's inputs
    (``evaluate``'s on wide data, :class:`~rnagen.metrics._classifiers.PrincipalInputs`), else the genes."""
    from ._classifiers import canonical_order, fit_classifier

    if inputs is not None:
        X, S, R = inputs(X), inputs(S), inputs(R)
    S, R = S[canonical_order(S)], R[canonical_order(R)]   # the subsample independent of the row order
    rng = np.random.default_rng([int(seed), 18, 2])
    S = S[np.sort(rng.choice(len(S), max_n, replace=False))] if len(S) > max_n else S
    R = R[np.sort(rng.choice(len(R), max_n, replace=False))] if len(R) > max_n else R
    Xy = np.concatenate([S, R]).astype(np.float32)
    y = np.concatenate([np.ones(len(S), np.int64), np.zeros(len(R), np.int64)])
    clf = fit_classifier(Xy, y, n_classes=2, kind="mlp", seed=seed, epochs=epochs, hidden=128)
    return clf.predict_proba(np.asarray(X, np.float32))[:, 1].astype(np.float64)


class _ReferenceSide:
    """What the attacks compute from the candidates and the reference set alone, kept for the next synthetic
    set attacked with the same two (the audit scores three: the model's, the independent draw, the copies):
    the candidates' nearest-reference distances (calibrated GAN-Leaks) and, per PCA dimension, DOMIAS's
    fitted PCA with the reference density at the candidates."""

    def __init__(self) -> None:
        self.d_r: np.ndarray | None = None
        self.domias: dict[tuple[int, str], tuple[Any, np.ndarray]] = {}


@dataclass(frozen=True)
class _McRadius:
    """What the MC attack's score needs to be recomputed at another radius: the candidates and the synthetic set
    (as tensors), each candidate's distance to its nearest synthetic profile and the radius's quantile."""

    X: torch.Tensor
    S: torch.Tensor
    d_s: np.ndarray
    quantile: float


def attack_scores(candidates: np.ndarray, synthetic: np.ndarray, reference: np.ndarray, *,
                  attacks: Sequence[str] = tuple(ATTACKS), epsilon_quantile: float = 0.5, pca_dims: int = 10,
                  density: Density = "kde", seed: int = 0, epochs: int = 10,
                  reference_side: _ReferenceSide | None = None,
                  logan_inputs: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Every attack's membership score (higher = "member") for each candidate profile.

    Parameters
    ----------
    candidates
        Profiles whose membership is guessed (members and non-members, in any order).
    synthetic
        The released synthetic set.
    reference
        Real profiles from the population that were not trained on (the attacker's calibration sample).
    attacks
        Keys of :data:`ATTACKS`.
    epsilon_quantile
        The MC attack's ball radius: this quantile of the candidates' nearest-synthetic distances.
    pca_dims
        DOMIAS: dimensions of the reference set's PCA space (capped at the number of genes and at two less
        than the smaller of the synthetic and reference sets, so every covariance is full rank).
    density
        DOMIAS's density model: ``kde`` (Gaussian KDE) or ``gmm`` (Gaussian mixture).
    seed, epochs
        Seed of the PCA, the mixture and LOGAN's classifier; LOGAN's training epochs.
    reference_side
        A cache of the parts computed from ``candidates`` and ``reference`` alone, filled on the first call and
        read on the next ones; give the same object only with the same candidates, reference and seed.
    logan_inputs
        A map of profiles to LOGAN's classifier inputs (``evaluate`` passes, on wide data, the principal
        components of ``reference``: :class:`~rnagen.metrics._classifiers.PrincipalInputs`); ``None``: the genes.
        Fitted on members it would set them apart by itself (a fitted profile lies in the span of the axes, a new
        one mostly off it).

    Returns
    -------
    dict
        attack key -> float64 scores, one per candidate.
    """
    return _attack_scores(candidates, synthetic, reference, attacks=attacks, epsilon_quantile=epsilon_quantile,
                          pca_dims=pca_dims, density=density, seed=seed, epochs=epochs, reference_side=reference_side,
                          logan_inputs=logan_inputs)[0]


def _attack_scores(candidates: np.ndarray, synthetic: np.ndarray, reference: np.ndarray, *,
                   attacks: Sequence[str], epsilon_quantile: float, pca_dims: int, density: Density, seed: int,
                   epochs: int, reference_side: _ReferenceSide | None,
                   logan_inputs: Callable[[np.ndarray], np.ndarray] | None
                   ) -> tuple[dict[str, np.ndarray], _McRadius | None]:
    """:func:`attack_scores`, and what the MC attack's score needs at another radius (None without it)."""
    bad = [a for a in attacks if a not in ATTACKS]
    if bad:
        raise ConfigError(f"unknown attack(s) {bad}; valid: {', '.join(ATTACKS)}")
    Xn, Sn, Rn = (np.asarray(a, np.float32) for a in (candidates, synthetic, reference))
    X, S, R = (_knn.as_tensor(a) for a in (Xn, Sn, Rn))
    side = reference_side if reference_side is not None else _ReferenceSide()
    out: dict[str, np.ndarray] = {}
    mc: _McRadius | None = None
    # the nearest-synthetic distances serve three attacks: one blocked pass
    d_s = np.sqrt(_nearest2(X, S)) if {"ganleaks", "ganleaks_cal", "mc"} & set(attacks) else np.empty(0)
    if "ganleaks" in attacks:
        out["ganleaks"] = -d_s
    if "ganleaks_cal" in attacks:
        if side.d_r is None:
            side.d_r = np.sqrt(_nearest2(X, R))
        out["ganleaks_cal"] = side.d_r - d_s
    if "mc" in attacks:
        eps = float(np.quantile(d_s, epsilon_quantile))
        # a candidate whose nearest synthetic profile lies beyond the radius has none within it, so only the
        # others need the ball count's pass (with a relative margin for the rounding of a second pass)
        near = np.flatnonzero(d_s <= eps * (1.0 + 1e-4))
        counts = np.zeros(len(Xn))
        if len(near):
            counts[near] = _mc_counts(X[torch.from_numpy(near)], S, eps * eps)
        out["mc"] = counts / len(Sn)
        mc = _McRadius(X, S, d_s, float(epsilon_quantile))
    if "logan" in attacks:
        out["logan"] = _logan(Xn, Sn, Rn, seed=seed, epochs=epochs, inputs=logan_inputs)
    if "domias" in attacks:
        if density not in ("kde", "gmm"):
            raise ConfigError(f"density must be 'kde' or 'gmm', not {density!r}")
        dims = int(max(1, min(pca_dims, Xn.shape[1], len(Sn) - 2, len(Rn) - 2)))
        if (dims, density) not in side.domias:
            pca = _pca(Rn, dims, seed)
            zx, zr = (pca.transform(np.asarray(a, np.float64)) for a in (Xn, Rn))
            log_r = kde_logpdf(zr, zx) if density == "kde" else _gmm_logpdf(zr, zx, seed=seed)
            side.domias[dims, density] = (pca, log_r)
        pca, log_r = side.domias[dims, density]
        zx, zs = (pca.transform(np.asarray(a, np.float64)) for a in (Xn, Sn))
        out["domias"] = (kde_logpdf(zs, zx) if density == "kde" else _gmm_logpdf(zs, zx, seed=seed)) - log_r
    return {a: out[a] for a in attacks}, mc


def _mc_counts_at(mc: _McRadius, radii: np.ndarray) -> np.ndarray:
    """``(n, K)`` int32: the number of synthetic profiles within each of the ascending ``radii`` (``<=``) of each
    candidate, in one blocked pass over the candidates whose nearest synthetic profile lies within the largest
    radius (the others have none within any). The distances are the float32 matmul identity's
    (:func:`rnagen.metrics._knn.sqdist_blocks`), so a profile within rounding of a radius may fall either side;
    a candidate's nearest synthetic profile, whose distance the radii are quantiles of, is counted from its exact
    distance."""
    r = np.asarray(radii, np.float64)
    K = len(r)
    out = np.zeros((len(mc.d_s), K), np.int32)
    near = np.flatnonzero(mc.d_s <= r[-1] * (1.0 + 1e-4))
    if len(near):
        ta, tb = _knn.center_pair(mc.X[torch.from_numpy(near)], mc.S)
        r2 = torch.from_numpy((r * r).astype(np.float32))
        # an eighth of the usual block: each float32 distance gets an int64 bin and a flat index besides
        for s, e, d2 in _knn.sqdist_blocks(ta, tb, block_bytes=_knn._BLOCK_BYTES // 8):
            # bin k: the first radius whose square is >= the squared distance; counts at radius k: bins <= k
            b = torch.searchsorted(r2, d2.contiguous())
            flat = (b + (K + 1) * torch.arange(e - s)[:, None]).reshape(-1)
            h = torch.bincount(flat, minlength=(e - s) * (K + 1)).reshape(e - s, K + 1)
            out[near[s:e]] = h[:, :K].cumsum(1).numpy().astype(np.int32)
    # the nearest synthetic profile from its exact distance (the radius may equal it)
    return np.maximum(out, (mc.d_s[:, None] <= r[None, :]).astype(np.int32))


# --------------------------------------------------------------------------------------------- ROC
def roc_vertices(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(fpr, tpr)`` of the ROC curve of scores ``pos`` (members) vs ``neg`` (non-members): from
    ``(0, 0)``, one vertex per distinct score (thresholds high to low, ``score >= threshold`` called member),
    to ``(1, 1)``."""
    roc = _Roc(np.asarray(pos, np.float64), np.asarray(neg, np.float64))
    fpr, tpr = roc.curves(roc.pos_w[None], roc.neg_w[None])
    return fpr[0], tpr[0]


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, alpha: float) -> float:
    """TPR at FPR ``alpha`` on the interpolated ROC (see the module docstring): linear between the last vertex
    with FPR <= ``alpha`` (the largest TPR reached at that FPR) and the next vertex."""
    return float(_tpr_at(np.asarray(fpr)[None], np.asarray(tpr)[None], alpha)[0])


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, alpha: float) -> np.ndarray:
    """:func:`tpr_at_fpr` for each row of ``(B, G)`` vertex arrays (FPR non-decreasing along a row)."""
    i = (fpr <= alpha).sum(1) - 1
    j = np.minimum(i + 1, fpr.shape[1] - 1)
    rows = np.arange(len(fpr))
    f0, f1, t0, t1 = fpr[rows, i], fpr[rows, j], tpr[rows, i], tpr[rows, j]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = t0 + (t1 - t0) * (alpha - f0) / (f1 - f0)
    return np.where(j > i, out, t0)


class _Roc:
    """Member and non-member scores sorted once (high to low); a bootstrap replicate is a vector of counts per
    profile, so every replicate's ROC comes from cumulative sums over the same order (no re-sorting)."""

    def __init__(self, pos: np.ndarray, neg: np.ndarray):
        s = np.concatenate([pos, neg])
        self.order = np.argsort(-s, kind="stable")
        ss = s[self.order]
        # the last position of each distinct score: the ROC vertices
        self.last = np.concatenate([np.flatnonzero(np.diff(ss) != 0), [len(ss) - 1]])
        self.n_pos = len(pos)
        self.pos_w = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
        self.neg_w = 1.0 - self.pos_w

    def curves(self, wp: np.ndarray, wn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(fpr, tpr)`` vertex arrays ``(B, G + 1)`` for member / non-member weights ``(B, n)`` (input order)."""
        tp = np.cumsum(wp[:, self.order], 1)[:, self.last]
        fp = np.cumsum(wn[:, self.order], 1)[:, self.last]
        zero = np.zeros((len(wp), 1))
        return (np.concatenate([zero, fp / fp[:, -1:]], 1), np.concatenate([zero, tp / tp[:, -1:]], 1))

    def statistics(self, wp: np.ndarray, wn: np.ndarray) -> dict[str, np.ndarray]:
        """Every statistic of :data:`STATISTICS` per replicate: the AUC as the area under the vertices
        (trapezoids: ties count half, the Mann-Whitney U), the TPRs by :func:`tpr_at_fpr`."""
        return _curve_statistics(*self.curves(wp, wn))


def _curve_statistics(fpr: np.ndarray, tpr: np.ndarray) -> dict[str, np.ndarray]:
    """Every statistic of :data:`STATISTICS` of ROC vertex arrays ``(B, m)``: the AUC as the area under the
    vertices (trapezoids), the TPRs by :func:`tpr_at_fpr`."""
    out = {}
    for k, (alpha, _) in STATISTICS.items():
        if alpha is None:
            out[k] = 0.5 * (np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1])).sum(1)
        else:
            out[k] = _tpr_at(fpr, tpr, alpha)
    return out


def _varying_statistics(scores: np.ndarray, wp: np.ndarray, wn: np.ndarray) -> dict[str, np.ndarray]:
    """:meth:`_Roc.statistics` for scores that differ between replicates (``(B, n)``, as the weights): each row
    sorted on its own; every position of a run of tied scores takes the run's last cumulative counts, so the
    curve's points are its vertices, repeated (zero-area steps), and ties give the diagonal as in :class:`_Roc`."""
    B, n = scores.shape
    order = np.argsort(-scores, axis=1, kind="stable")
    ss = np.take_along_axis(scores, order, 1)
    last = np.ones((B, n), bool)
    last[:, :-1] = ss[:, 1:] != ss[:, :-1]
    end = np.where(last, np.arange(n)[None, :], n - 1)
    end = np.minimum.accumulate(end[:, ::-1], axis=1)[:, ::-1]   # the end of each position's run of ties
    tp = np.take_along_axis(np.cumsum(np.take_along_axis(wp, order, 1), 1), end, 1)
    fp = np.take_along_axis(np.cumsum(np.take_along_axis(wn, order, 1), 1), end, 1)
    zero = np.zeros((B, 1))
    return _curve_statistics(np.concatenate([zero, fp / fp[:, -1:]], 1), np.concatenate([zero, tp / tp[:, -1:]], 1))


def attack_statistics(pos: np.ndarray, neg: np.ndarray) -> dict[str, float]:
    """AUC and the TPRs at FPR 0.1 and 0.01 (:data:`STATISTICS`) of member scores ``pos`` vs non-member
    scores ``neg``."""
    roc = _Roc(np.asarray(pos, np.float64), np.asarray(neg, np.float64))
    return {k: float(v[0]) for k, v in roc.statistics(roc.pos_w[None], roc.neg_w[None]).items()}


def chance_tpr(alpha: float, n_nonmembers: int) -> float:
    """Expected TPR at FPR ``alpha`` on the interpolated ROC for scores without information (members and
    non-members exchangeable, no ties): the share of members above the ``(floor(alpha n) + 1)``-th highest
    non-member, ``(floor(alpha n) + 1) / (n + 1)``."""
    n = int(n_nonmembers)
    return min(1.0, (math.floor(alpha * n + 1e-9) + 1) / (n + 1))


def _bootstrap(scores: Mapping[str, np.ndarray], n_pos: int, *, n_boot: int, rng: np.random.Generator,
               values: Mapping[str, Mapping[str, float]], chunk: int = 100, mc: _McRadius | None = None
               ) -> dict[str, dict[str, tuple[float, float]]]:
    """CIs of every statistic of every attack around its value in ``values`` (attack -> statistic -> value);
    members and non-members resampled separately (one draw shared by the attacks, as counts per profile). What
    the attacks fit on the synthetic and reference sets is held fixed; what depends on the candidates themselves
    is recomputed on each resample: the MC attack's radius, a quantile of the candidates' nearest-synthetic
    distances (``mc``; its score is a count within that radius, so a resample that moves the radius moves every
    candidate's score). The AUC's interval is :func:`rnagen.metrics._bootstrap.logit_ci` of the replicates (a
    U-statistic over every member / non-member pair, in [0, 1]: near a bound a percentile interval of a few dozen
    candidates falls short); a TPR's is :func:`rnagen.metrics._bootstrap.bootstrap_ci` (read off one step of the
    ROC, its replicates jump between a few values, where a delta-method standard error misstates them), never
    narrower than the Wilson interval of the share of ``n_pos`` members above the threshold
    (:func:`rnagen.metrics._bootstrap.share_floor`): where few non-members set the threshold (FPR 0.01 below one
    of them, its highest), the resample cannot draw a threshold above the highest non-member (the bootstrap of an
    extreme order statistic, Bickel & Freedman 1981), and no member above it repeats a TPR of 0 in every
    resample."""
    n = len(next(iter(scores.values())))
    n_neg = n - n_pos
    rocs = {a: _Roc(s[:n_pos], s[n_pos:]) for a, s in scores.items() if not (a == "mc" and mc is not None)}
    draws = []
    for b0 in range(0, n_boot, chunk):
        m = min(chunk, n_boot - b0)
        draws.append((rng.integers(0, n_pos, (m, n_pos)), rng.integers(0, n_neg, (m, n_neg))))
    if "mc" in scores and mc is not None:
        # each resample's radius from its own candidates; the counts within every distinct radius in one pass
        radii = np.concatenate([np.quantile(np.concatenate([mc.d_s[ip], mc.d_s[n_pos + ineg]], 1), mc.quantile,
                                            axis=1) for ip, ineg in draws])
        grid, which = np.unique(radii, return_inverse=True)
        counts = _mc_counts_at(mc, grid)
    reps: dict[str, dict[str, list[np.ndarray]]] = {a: {k: [] for k in STATISTICS} for a in scores}
    done = 0
    for ip, ineg in draws:
        m = len(ip)
        wp = np.zeros((m, n))
        wn = np.zeros((m, n))
        rows = np.arange(m)[:, None]
        np.add.at(wp, (rows, ip), 1.0)
        np.add.at(wn, (rows, n_pos + ineg), 1.0)
        for a, roc in rocs.items():
            for k, v in roc.statistics(wp, wn).items():
                reps[a][k].append(v)
        if "mc" in scores and mc is not None:
            for k, v in _varying_statistics(counts[:, which[done:done + m]].T.astype(np.float64), wp, wn).items():
                reps["mc"][k].append(v)
        done += m
    return {a: {k: logit_ci(values[a][k], np.concatenate(v)) if k == "auc"
                else share_floor(bootstrap_ci(values[a][k], np.concatenate(v)), values[a][k], n_pos)
                for k, v in st.items()}
            for a, st in reps.items()}


@dataclass(frozen=True)
class _Audit:
    """The statistics of every attack on one synthetic set: values, per-attack scores (members first)."""

    values: dict[str, dict[str, float]]
    scores: dict[str, np.ndarray]
    mc: _McRadius | None = None


def _audit(members: np.ndarray, nonmembers: np.ndarray, synthetic: np.ndarray, reference: np.ndarray,
           **kw: Any) -> _Audit:
    X = np.concatenate([members, nonmembers])
    opts = {"attacks": tuple(ATTACKS), "epsilon_quantile": 0.5, "pca_dims": 10, "density": "kde", "seed": 0,
            "epochs": 10, "reference_side": None, "logan_inputs": None, **kw}
    scores, mc = _attack_scores(X, synthetic, reference, **opts)
    n = len(members)
    return _Audit({a: attack_statistics(s[:n], s[n:]) for a, s in scores.items()}, scores, mc)


def membership_inference(members, nonmembers, synthetic, reference, *, attacks: Sequence[str] = tuple(ATTACKS),
                         n_boot: int = 1000, seed: int = 0, epsilon_quantile: float = 0.5, pca_dims: int = 10,
                         density: Density = "kde", epochs: int = 10) -> dict[str, dict[str, Any]]:
    """Run the attacks on one synthetic set and report AUC and TPRs at FPR 0.1 / 0.01 with bootstrap CIs.

    Parameters
    ----------
    members, nonmembers
        Training profiles and held-out profiles the generator never saw (same columns, same preprocessing as
        the other sets; equal sizes give a balanced AUC).
    synthetic, reference
        The synthetic set and real reference profiles disjoint from both (see the module docstring).
    attacks, epsilon_quantile, pca_dims, density, epochs
        See :func:`attack_scores`.
    n_boot, seed
        Bootstrap resamples (0: no CI) and the seed of the attacks and the resampling.

    Returns
    -------
    dict
        attack -> ``{statistic: value, statistic + "_ci": (low, high), "chance": {statistic: chance level}}``.
    """
    members, nonmembers, synthetic, reference = check_arrays(
        [members, nonmembers, synthetic, reference], ["members", "nonmembers", "synthetic", "reference"],
        func="membership_inference", min_rows=[2, 2, 3, 3],
        why=["an attack's ROC"] * 2 + ["DOMIAS's density fit (a PCA space of 1 dimension at least)"] * 2)
    # the options before any attack runs (an unknown one would otherwise stop the audit after the others' work)
    if isinstance(attacks, str) or not all(isinstance(x, str) for x in attacks) or not set(attacks) <= set(ATTACKS):
        raise ConfigError(f"membership_inference: attacks must be a list of {', '.join(ATTACKS)}, got {attacks!r}")
    if density not in ("kde", "gmm"):
        raise ConfigError(f"membership_inference: density must be 'kde' or 'gmm', not {density!r}")
    check_number("membership_inference: n_boot", n_boot, ">= 0", integer=True)
    check_number("membership_inference: epsilon_quantile", epsilon_quantile, "(0, 1)")
    check_number("membership_inference: pca_dims", pca_dims, ">= 1", integer=True)
    check_number("membership_inference: epochs", epochs, ">= 1", integer=True)
    a = _audit(*(np.asarray(x, np.float32) for x in (members, nonmembers, synthetic, reference)), attacks=attacks,
               epsilon_quantile=epsilon_quantile, pca_dims=pca_dims, density=density, seed=seed, epochs=epochs)
    n_pos, n_neg = len(members), len(nonmembers)
    ci = (_bootstrap(a.scores, n_pos, n_boot=n_boot, rng=np.random.default_rng(seed), values=a.values, mc=a.mc)
          if n_boot > 0 else {})
    chance = {k: (0.5 if al is None else chance_tpr(al, n_neg)) for k, (al, _) in STATISTICS.items()}
    return {att: {**v, **{f"{k}_ci": ci.get(att, {}).get(k, (math.nan, math.nan)) for k in v}, "chance": chance}
            for att, v in a.values.items()}


# --------------------------------------------------------------------------------------------- verdict
#: the fewest bootstrap replicates whose interval the verdict reads: of two or three, replicates that happen to
#: agree (a TPR at a low FPR takes few values) give an interval of width 0, and any value off chance would count
MIN_VERDICT_REPLICATES = 20


def verdict(rows: Mapping[str, Mapping[str, Any]], *, n_nonmembers: int | None = None) -> str:
    """A plain-language line: which attacks beat chance, judged family-wise over every attack and statistic.

    ``rows`` maps indicator names to ``{"value", "ci_low", "ci_high", "direction"}`` (an ``evaluate`` row or a
    leaderboard entry). Each attack is judged on its AUC and its TPRs at FPR 0.1 and 0.01, the last only where
    the non-members resolve it (at least 100 of them: with fewer, FPR 0.01 is below one non-member and its
    chance level, 1 / (n + 1), sits above 0.01). With 5 attacks and 3 statistics, 95% intervals read one by one
    call a clean generator leaky in about one audit in four; so the lower bound is taken at the one-sided level
    0.025 / m for the m statistics judged (Bonferroni), read off the 95% interval by the construction that made it
    (:func:`rnagen.metrics._bootstrap.one_sided_bound`): an AUC's on the logit scale
    (:func:`rnagen.metrics._bootstrap.logit_ci`), so the bound is that interval's own lower end at the family-wise
    level, below the printed one, and near AUC 1 as far towards 0.5 as the interval's longer side says; a TPR's
    (:func:`rnagen.metrics._bootstrap.bootstrap_ci`) by the normal approximation (standard error = its width /
    3.92), or, for a row of ``n_boot`` < 200 replicates (a Student-t interval), by Student's t with
    ``n_boot - 1`` degrees of freedom. Rows of fewer than :data:`MIN_VERDICT_REPLICATES` replicates are not judged.
    An attack beats chance when that bound lies above the chance level (the row's target direction; 0.5 for the
    AUC), so never on a statistic whose printed interval holds its chance level. An AUC whose upper bound at the
    same level lies below 0.5 is said too: the synthetic set keeps away from its training profiles (a copy
    repulsion, a generator pushed off the data it saw), so members lie farther from it than non-members, and an
    attacker who reverses the score tells them apart as well as one at ``1 - AUC``; the two sides of the AUCs
    together keep the family-wise error at the two-sided 5%. ``n_nonmembers``: the
    audit's, where known (else FPR 0.01 counts as unresolved where its chance level is above 0.02, under 50
    non-members).
    """
    judged: list[tuple[str, str, float, float, float, float, int | None]] = []
    unresolved, few = False, 0
    for att, (label, _, _) in ATTACKS.items():
        for stat, (alpha, _) in STATISTICS.items():
            r = rows.get(metric_name(att, stat))
            if not r or r.get("value") is None or not math.isfinite(float(r["value"])):
                continue
            target = r.get("direction")
            try:
                chance = float(str(target).removeprefix("target ")) if target is not None else float(alpha or 0.5)
            except ValueError:
                chance = float(alpha or 0.5)
            if alpha is not None and (n_nonmembers < 1.0 / alpha if n_nonmembers is not None
                                      else chance > 2 * alpha):   # FPR alpha is below one non-member
                unresolved = unresolved or alpha == 0.01
                continue
            lo, hi = r.get("ci_low"), r.get("ci_high")
            if lo is None or hi is None or not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
                continue
            b = r.get("n_boot")
            b = None if b is None else int(b)
            if b is not None and 0 < b < MIN_VERDICT_REPLICATES:
                few = b
                continue
            judged.append((att, stat, float(r["value"]), float(lo), float(hi), chance, b))
    if not judged:
        if few:
            return (f"not judged ({few} bootstrap resamples; a family-wise verdict needs at "
                    f"least {MIN_VERDICT_REPLICATES}: --n-boot)")
        return "membership inference: not measured"
    level = 1.0 - 0.025 / len(judged)
    beaten: dict[str, list[str]] = {}
    below: list[str] = []
    for att, stat, v, lo, hi, chance, b in judged:
        bound = one_sided_bound(v, lo, hi, level, b, logit=stat == "auc")
        if bound > chance:
            what = {"auc": "AUC", "tpr_at_fpr01": "TPR@FPR 0.1", "tpr_at_fpr001": "TPR@FPR 0.01"}[stat]
            beaten.setdefault(att, []).append(f"{what} {v:.3g} (bound {bound:.3g} > chance {chance:.3g})")
        elif stat == "auc":
            # the upper bound: the lower one of 1 - AUC, whose interval is [1 - hi, 1 - lo] (logit(1 - x) = -logit(x))
            upper = 1.0 - one_sided_bound(1.0 - v, 1.0 - hi, 1.0 - lo, level, b, logit=True)
            if upper < 0.5:
                below.append(f"{ATTACKS[att][0]}: AUC {v:.3g} (bound {upper:.3g} < chance 0.5)")
    how = f"family-wise over {len(judged)} statistics" + ("; FPR 0.01 needs 100 non-members" if unresolved else "")
    reversed_ = ("; below chance, so the reversed score tells members apart (the synthetic set keeps away from its "
                 "training profiles): " + "; ".join(below)) if below else ""
    if not beaten:
        return f"no attack beats chance{' as designed' if below else ''} ({how}){reversed_}"
    return (f"{len(beaten)} of {len({j[0] for j in judged})} attacks beat chance ({how}): "
            + "; ".join(f"{ATTACKS[a][0]}: {', '.join(w)}" for a, w in beaten.items()) + reversed_)


# --------------------------------------------------------------------------------------------- scorer
_NAMES = tuple(metric_name(a, k) for a in ATTACKS for k in STATISTICS)
#: the smallest held-out set the audit runs on (two non-members, two reference and two independent profiles)
MIN_HOLDOUT = 6


def membership_sets(*, real_labels: np.ndarray | None, n_real: int, train_labels: np.ndarray | None,
                    n_train: int, seed: int, with_reference: bool = True, real_groups: np.ndarray | None = None
                    ) -> dict[str, np.ndarray]:
    """The audit's index sets: :func:`membership_split` of the held-out set (``nonmembers``, ``reference``
    unless given separately, ``independent``: indices into it; ``real_groups``: its copies of one profile,
    dealt to one part) and ``members`` (indices into the training set: as many as the non-members, with their
    label mix). ``evaluate`` and the benchmark's split record both call this, so the record names exactly the
    profiles attacked."""
    part = membership_split(real_labels if real_labels is not None else n_real, seed=seed,
                            with_reference=with_reference, groups=real_groups)
    yn = None if real_labels is None else np.asarray(real_labels)[part["nonmembers"]]
    part["members"] = _members(n_train, len(part["nonmembers"]), train_labels=train_labels, nonmember_labels=yn,
                               seed=seed)
    return part


def check_sets(sets: Mapping[str, Any], *, n_real: int, n_train: int, with_reference: bool = True
               ) -> dict[str, np.ndarray]:
    """``sets`` (as :func:`membership_sets` returns them) checked against the held-out set's size ``n_real`` and
    the training set's ``n_train``: sorted int64 index arrays; a missing or extra part, an index out of range,
    a profile in two held-out parts or twice in one, or a part of fewer than two profiles is a ConfigError."""

    want = ("members", "nonmembers", "reference", "independent") if with_reference else (
        "members", "nonmembers", "independent")
    if not isinstance(sets, Mapping) or set(sets) != set(want):
        got = sorted(map(str, sets)) if isinstance(sets, Mapping) else type(sets).__name__
        raise ConfigError(f"membership_sets must name the parts {', '.join(want)} (got {got})"
                          + ("; with mia_reference the reference part is that set" if not with_reference else ""))
    out: dict[str, np.ndarray] = {}
    for k in want:
        try:
            v = np.asarray(sets[k])
            ok = v.ndim == 1 and (v.size == 0 or np.issubdtype(v.dtype, np.integer))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(f"membership_sets[{k!r}] must be a list of row indices")
        n = n_train if k == "members" else n_real
        if v.size < 2 or v.min() < 0 or v.max() >= n or len(np.unique(v)) != v.size:
            raise ConfigError(f"membership_sets[{k!r}] must hold at least 2 distinct row indices in [0, {n}) "
                              f"(the {'training' if k == 'members' else 'held-out'} set's rows)")
        out[k] = np.sort(v.astype(np.int64))
    held = np.concatenate([out[k] for k in want if k != "members"])
    if len(np.unique(held)) != held.size:
        raise ConfigError("membership_sets: a held-out profile is in two parts (non-members, reference and the "
                          "independent draw must be disjoint)")
    return out


def _content_sets(R: np.ndarray, T: np.ndarray, *, real_labels, train_labels, seed: int, with_reference: bool,
                  real_groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`membership_sets` dealt over the rows of ``R`` and ``T`` in their content order
    (:func:`~rnagen.metrics._classifiers.canonical_order`), returned as indices into the rows as given, each part
    in content order: a permutation of either set's rows attacks the same profiles in the same order (the
    bootstrap resamples by position). ``real_groups``: a label per row of ``R`` (as given), equal for copies of
    one profile, which go to one part."""
    from ._classifiers import canonical_order

    def order(X, y):
        return canonical_order(X, None if y is None else np.asarray(y).astype(str))

    ro, to = order(R, real_labels), order(T, train_labels)
    idx = membership_sets(real_labels=None if real_labels is None else np.asarray(real_labels)[ro], n_real=len(R),
                          train_labels=None if train_labels is None else np.asarray(train_labels)[to],
                          n_train=len(T), seed=seed, with_reference=with_reference,
                          real_groups=None if real_groups is None else np.asarray(real_groups)[ro])
    return {k: (to if k == "members" else ro)[v] for k, v in idx.items()}


def _parts(ctx: EvalContext) -> dict[str, Any] | None:
    """The audit's sets from the context (None when the held-out set is too small to split)."""
    R, T = ctx.real, ctx.train
    assert T is not None
    given = ctx.mia_reference is not None
    if len(R) < (4 if given else MIN_HOLDOUT) or len(T) < 2:
        return None
    seed = ctx.seed if ctx.membership_seed is None else ctx.membership_seed
    if ctx.membership_index is not None:
        idx = dict(ctx.membership_index)
    else:
        # copies of one profile within the held-out set (a sample in it twice) dealt to one part: a non-member
        # whose copy is in the reference set or the independent draw reads as a member
        idx = _content_sets(R, T, real_labels=ctx.real_labels, train_labels=ctx.train_labels, seed=seed,
                            with_reference=not given, real_groups=ctx.real_copy_labels)
    # held-out profiles that are training profiles too (a sample in the data twice) are members: left out of the
    # non-members, the reference and the independent draw, where they would read as non-members found
    seen = ctx.held_out_copies
    if seen is None or len(seen) != len(R):
        seen = _knn.same_profiles(R, T)
    dropped = int(seen.sum())
    if dropped:
        idx = {k: (v if k == "members" else v[~seen[v]]) for k, v in idx.items()}
        if min(len(idx["nonmembers"]), len(idx["independent"]), len(idx.get("reference", [0, 0]))) < 2:
            return None
    reference = np.asarray(ctx.mia_reference) if given else R[idx["reference"]]
    in_sets = _given_reference_copies(ctx) if given else {}
    if in_sets:
        # a given reference's profiles that are members, held-out or synthetic profiles under other names (fewer
        # than half: more is refused when the inputs are read): the attacks' sample of the population must be
        # other profiles, a member there reads as the population's and hides its own leak (DOMIAS's density
        # ratio, van Breugel et al. 2023, Eq. 2)
        keep = ~np.logical_or.reduce(list(in_sets.values()))
        if int(keep.sum()) < 3:
            raise DataError(f"the --reference set holds {int(keep.sum())} profile(s) besides copies of the "
                            "training, held-out or synthetic profiles; the membership-inference attacks need at "
                            "least 3 others: pass a reference of other held-out profiles")
        reference = reference[keep]
    return {"members": T[idx["members"]], "nonmembers": R[idx["nonmembers"]], "independent": R[idx["independent"]],
            "reference": reference, "seed": seed, "dropped_copies": dropped,
            "reference_copies": {k: int(v.sum()) for k, v in in_sets.items() if v.any()}}


def _given_reference_copies(ctx: EvalContext) -> dict[str, np.ndarray]:
    """For each row of the given reference set, whether it is a training, held-out or synthetic profile (by
    values, up to rounding: :func:`rnagen.metrics._knn.same_profiles`), by set; only the sets it shares some."""
    ref = np.asarray(ctx.mia_reference)
    out = {}
    for what, other in (("training", ctx.train), ("held-out", ctx.real), ("synthetic", ctx.synthetic)):
        if other is not None and len(other) and (same := _knn.same_profiles(ref, np.asarray(other))).any():
            out[what] = same
    return out


# order 110: after every other family, so their rows and bootstrap draws are the same with or without it
@scorer("membership", order=110, metrics=_NAMES)
def score_membership(ctx: EvalContext) -> Scored:
    """Every attack on the synthetic set (value and CI), on an independent real draw (the reference column:
    the ideal) and on the training set itself (``attrs["membership"]["copies"]``: the worst case)."""
    want = [n for n in _NAMES if ctx.wants(n)]
    attacks = [a for a in ATTACKS if any(metric_name(a, k) in want for k in STATISTICS)]
    p = _parts(ctx)
    if p is None:
        note = ("the held-out set is too small for the membership audit (at least "
                f"{MIN_HOLDOUT} profiles, 4 with a separate reference set)")
        return Scored([ctx.row(n, np.nan) for n in want], {"membership": {"note": note}})
    seed = int(p["seed"])
    M, N, Rf = p["members"], p["nonmembers"], p["reference"]
    # on wide data LOGAN's classifier takes the principal components of the attack's reference set (the attacker's
    # own real profiles, where DOMIAS fits its PCA too): axes fitted on training profiles (evaluate's
    # classifier_space) would tell the members from the non-members by themselves
    logan_inputs = PrincipalInputs(Rf, source="membership-reference") if Rf.shape[1] > _classifiers.WIDE_GENES \
        and "logan" in attacks else None
    kw: dict[str, Any] = {"attacks": attacks, "seed": seed, "epochs": ctx.epochs, **ctx.membership_options,
                          "logan_inputs": logan_inputs}
    assert ctx.train is not None
    side = _ReferenceSide()  # the same candidates and reference in the three audits
    model = _audit(M, N, ctx.synthetic, Rf, reference_side=side, **kw)
    ideal = _audit(M, N, p["independent"], Rf, reference_side=side, **kw)
    copies = _audit(M, N, ctx.train, Rf, reference_side=side, **kw)
    ci = (_bootstrap(model.scores, len(M), n_boot=ctx.n_boot, rng=ctx.stream("membership"), values=model.values,
                     mc=model.mc) if ctx.n_boot > 0 else {})
    rows = []
    for a in attacks:
        for k, (alpha, _) in STATISTICS.items():
            name = metric_name(a, k)
            if name not in want:
                continue
            target = None if alpha is None else f"target {chance_tpr(alpha, len(N)):.3g}"
            rows.append(ctx.row(name, model.values[a][k], ci.get(a, {}).get(k, (np.nan, np.nan)),
                                ideal.values[a][k], n_boot=ctx.n_boot if ci else 0, direction=target))
    table = {r["name"]: r for r in rows}
    attrs = {"sizes": {"members": len(M), "nonmembers": len(N), "reference": len(Rf),
                       "independent": len(p["independent"]), "copies": len(ctx.train)},
             **({"note": f"{p['dropped_copies']} held-out profile(s) equal to training profiles left out of the "
                         "non-members, the reference and the independent draw (they are members)"}
                if p["dropped_copies"] else {}),
             **({"reference_note": "left out of the given reference set (the attacks' sample of the population "
                                   "must be other profiles): " + ", ".join(
                                       f"{n} {what} profile(s)" for what, n in p["reference_copies"].items())}
                if p["reference_copies"] else {}),
             **({"logan_inputs": logan_inputs.record("LOGAN-D1")} if logan_inputs is not None else {}),
             "reference_given": ctx.mia_reference is not None, "split_seed": seed,
             "options": dict(ctx.membership_options),
             "copies": {metric_name(a, k): float(v) for a in attacks for k, v in copies.values[a].items()
                        if metric_name(a, k) in want},
             "verdict": verdict(table, n_nonmembers=len(N))}
    return Scored(rows, {"membership": attrs})
