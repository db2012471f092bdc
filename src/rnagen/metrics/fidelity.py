"""Fidelity: do synthetic profiles look like real ones, set against set?

- :func:`prdc`: precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020) with
  k-NN balls, blocked.
- :func:`frechet_distance`: Fréchet distance between Gaussians fitted in a PCA space fitted on real data, in
  the raw gene space, or in any feature map (e.g. a classifier's hidden layer, see
  :func:`rnagen.metrics.utility.classifier_features`).
- :func:`mmd`: maximum mean discrepancy with an RBF kernel whose bandwidth is the median pairwise distance.
- :func:`per_gene_distances`: per-gene 1-D Wasserstein-1 and Kolmogorov-Smirnov statistics, with
  :func:`gene_distance_summary`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from . import _knn
from ._bootstrap import bootstrap_ci, centred_ci, content_order, resample_counts, stat_ci
from ._checks import check_k, check_sets
from ._registry import Scored, register, scorer

if TYPE_CHECKING:
    from ._context import EvalContext

register("precision", lower=0.0, upper=1.0, expensive=True,
         family="fidelity", direction="higher", source="Kynkäänniemi et al. 2019, NeurIPS",
         definition="share of synthetic profiles inside at least one real k-NN ball (radius = distance to the "
                    "k-th nearest real neighbour, membership with <=)")
register("recall", lower=0.0, upper=1.0, expensive=True,
         family="fidelity", direction="higher", source="Kynkäänniemi et al. 2019, NeurIPS",
         definition="share of real profiles inside at least one synthetic k-NN ball")
register("density", lower=0.0, expensive=True, family="fidelity", direction=1.0, source="Naeem et al. 2020, ICML",
         definition="mean over synthetic profiles of (number of real k-NN balls containing it) / k; about 1 "
                    "when the two sets are drawn from one distribution ((k+1)/k for identical sets with <=)")
register("coverage", lower=0.0, upper=1.0, expensive=True,
         family="fidelity", direction="higher", source="Naeem et al. 2020, ICML",
         definition="share of real profiles whose k-NN ball contains at least one synthetic profile")
register("frechet_pca", lower=0.0, family="fidelity", direction="lower", expensive=True,
         source="Heusel et al. 2017 (FID), in a PCA space fitted on the real training set",
         definition="|mu_r - mu_s|^2 + tr(S_r + S_s - 2 (S_r^1/2 S_s S_r^1/2)^1/2) of Gaussians fitted to "
                    "the PCA scores (50 components) of z-scored log expression")
register("mmd", lower=0.0, family="fidelity", direction="lower", expensive=True,
         source="Gretton et al. 2012, JMLR; median heuristic for the bandwidth",
         definition="MMD^2 (V-statistic: >= 0, exactly 0 for identical sets) with "
                    "k(x,y) = exp(-|x-y|^2 / (2 sigma^2)), sigma = median pairwise "
                    "distance of the held-out real profiles, so that the synthetic set, the real-vs-real "
                    "reference and the floor are scored with one kernel (on at most 2,000 rows per set)")
register("wasserstein_mean", lower=0.0, family="fidelity", direction="lower", expensive=True,
         source="1-D optimal transport per gene (scipy.stats.wasserstein_distance)",
         definition="mean over genes of the Wasserstein-1 distance between real and synthetic marginals")
register("wasserstein_median", lower=0.0, family="fidelity", direction="lower", expensive=True,
         source="1-D optimal transport per gene", definition="median over genes of the per-gene Wasserstein-1")
register("ks_mean", upper=1.0, lower=0.0, family="fidelity", direction="lower", expensive=True,
         source="two-sample Kolmogorov-Smirnov statistic per gene (scipy.stats.ks_2samp)",
         definition="mean over genes of sup_x |F_real(x) - F_syn(x)|")
register("ks_median", upper=1.0, lower=0.0, family="fidelity", direction="lower", expensive=True,
         source="two-sample Kolmogorov-Smirnov statistic per gene", definition="median over genes of the KS statistic")


# --------------------------------------------------------------------------------------------- PRDC
def prdc_terms(real, fake, *, k: int = 10, real_radii2: np.ndarray | None = None,
               fake_radii2: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-sample terms whose means are precision, recall, density and coverage.

    Returns ``precision`` (bool per fake), ``density`` (count per fake / k), ``recall`` (bool per real),
    ``coverage`` (bool per real), and the by-products of the same pass, reused by adversarial accuracy and
    the privacy metrics: ``_real_to_fake_nn2``/``_real_to_fake_nn`` (exact squared distance to, and index
    of, each real profile's nearest synthetic profile) and ``_fake_to_real_nn2``/``_fake_to_real_nn``.
    ``real_radii2``/``fake_radii2`` (squared k-NN radii) may be passed to reuse a neighbour search.
    """
    r0, f0 = _knn.as_tensor(real), _knn.as_tensor(fake)
    if real_radii2 is None:
        real_radii2 = _knn.knn(r0, k=k, exclude_self=True, squared=True)[0][:, -1]
    if fake_radii2 is None:
        fake_radii2 = _knn.knn(f0, k=k, exclude_self=True, squared=True)[0][:, -1]
    # rows = synthetic, columns = real: fake j inside real ball i <=> d2[j, i] <= r_real[i]
    c = _knn.cross_pass(f0, r0, a_radii2=fake_radii2, b_radii2=real_radii2)
    assert c.a_in_b_balls is not None and c.b_in_a_balls is not None  # filled whenever radii are given
    return {"precision": c.a_in_b_balls > 0, "recall": c.b_in_a_balls,
            "density": c.a_in_b_balls / k,
            # coverage: the nearest synthetic neighbour of each real profile (exact distance) inside its ball
            "coverage": c.b_nn2 <= np.asarray(real_radii2, np.float64),
            "_real_to_fake_nn2": c.b_nn2, "_real_to_fake_nn": c.b_nn,
            "_fake_to_real_nn2": c.a_nn2, "_fake_to_real_nn": c.a_nn}


def prdc(real, fake, *, k: int = 10) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` against ``real`` with k-NN balls.

    Definitions (Kynkäänniemi et al. 2019; Naeem et al. 2020), with ``B(x, r)`` the ball around ``x`` whose
    radius ``r`` is the distance to its ``k``-th nearest neighbour in its own set, excluding itself:

    - precision = mean_j 1[exists i: Y_j in B(X_i)]
    - recall    = mean_i 1[exists j: X_i in B(Y_j)]
    - density   = 1/(k M) sum_j sum_i 1[Y_j in B(X_i)]
    - coverage  = mean_i 1[min_j |X_i - Y_j| <= r(X_i)]

    Membership uses ``<=`` (the reference ``prdc`` package uses ``<``), so identical sets give precision =
    recall = coverage = 1 and density = (k + 1) / k (each profile lies in its own ball and on the boundary of
    the balls of which it is the k-th neighbour). On continuous data without ties both rules agree.

    Parameters
    ----------
    real, fake
        ``(N, d)`` and ``(M, d)`` arrays (already preprocessed the same way).
    k
        Neighbourhood size (10 on landmarks in the paper, 50 on full profiles).
    """
    real, fake = check_sets([real, fake], ["real", "fake"], func="prdc", min_rows=2, why="a k-NN indicator")
    k = check_k(k, min(len(real), len(fake)), func="prdc")
    t = prdc_terms(real, fake, k=k)
    return {key: float(np.mean(t[key])) for key in ("precision", "recall", "density", "coverage")}


# --------------------------------------------------------------------------------------------- Fréchet
def gaussian_frechet(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein) distance between N(mu1, s1) and N(mu2, s2), squared form as in FID.

    tr((s1 s2)^1/2) is computed as sum(sqrt(eig(s1^1/2 s2 s1^1/2))) with symmetric eigendecompositions, which is
    stable for rank-deficient covariances (negative rounding eigenvalues are clipped at 0).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(s1, np.float64), np.asarray(s2, np.float64)
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    s1h = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = s1h @ s2 @ s1h
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(ev, 0, None)).sum()
    diff = mu1 - mu2
    # a squared distance: below 0 only by rounding (identical sets)
    return float(max(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean, 0.0))


def _moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, np.float64)
    return X.mean(0), np.cov(X, rowvar=False).reshape(X.shape[1], X.shape[1])


#: components of the Fréchet distance's PCA space in ``evaluate``
PCA_COMPONENTS = 50


class PCASpace:
    """A PCA projection fitted once on real (training) data, as a feature map for :func:`frechet_distance`."""

    def __init__(self, fit_on: np.ndarray, *, n_components: int = 50):
        X = np.asarray(fit_on, np.float64)
        self.mean_ = X.mean(0)
        n_components = int(min(n_components, X.shape[0] - 1, X.shape[1]))
        Xc = X - self.mean_
        if X.shape[1] <= 2000:
            # exact: eigenvectors of the d x d scatter matrix
            w, v = np.linalg.eigh(Xc.T @ Xc)
            self.components_ = v[:, ::-1][:, :n_components].T
        else:
            # wide data (e.g. 20,000 genes): randomized SVD (Halko et al. 2011), seeded, never d x d
            from sklearn.utils.extmath import randomized_svd

            _, _, vt = randomized_svd(Xc, n_components, n_iter=7, random_state=0)
            self.components_ = vt

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Project ``X`` (samples x genes) onto the fitted components: ``(X - mean) V^T``."""
        return (np.asarray(X, np.float64) - self.mean_) @ self.components_.T


def frechet_distance(real, fake, *, space: Literal["pca", "raw"] | Callable[[np.ndarray], np.ndarray] = "pca",
                     n_components: int = 50, fit_on=None) -> float:
    """Fréchet distance between Gaussians fitted to ``real`` and ``fake`` in a feature space.

    FD = |mu_r - mu_f|^2 + tr(S_r + S_f - 2 (S_r S_f)^1/2) (Heusel et al. 2017; Dowson & Landau 1982).

    Parameters
    ----------
    space
        ``"pca"``: scores on the first ``n_components`` principal axes of ``fit_on`` (default ``real``; pass
        the real *training* set so the space does not depend on the set being judged); ``"raw"``: the
        input columns themselves; a callable: any feature map, e.g. a classifier's hidden layer
        (:func:`rnagen.metrics.utility.classifier_features`).
    """
    sets, names = [real, fake] + ([] if fit_on is None else [fit_on]), ["real", "fake", "fit_on"]
    checked = check_sets(sets, names[:len(sets)], func="frechet_distance", min_rows=2, why="a covariance")
    # the feature maps read float64 arrays (tensors as given)
    real, fake = (x if hasattr(x, "detach") else np.asarray(x, np.float64) for x in checked[:2])
    if callable(space):
        fr, ff = space(real), space(fake)
    elif space == "pca":
        pca = PCASpace(real if fit_on is None else fit_on, n_components=n_components)
        fr, ff = pca(real), pca(fake)
    elif space == "raw":
        fr, ff = real, fake
    else:
        raise ValueError(f"space must be 'pca', 'raw' or a callable, not {space!r}")
    return gaussian_frechet(*_moments(fr), *_moments(ff))


# --------------------------------------------------------------------------------------------- MMD
def median_bandwidth(X: np.ndarray, Y: np.ndarray) -> float:
    """Median pairwise Euclidean distance of the pooled rows (the usual median heuristic)."""
    Z = _knn.as_tensor(np.concatenate([X, Y]))
    meds = []
    for s, e, d in _knn.sqdist_blocks(*_knn.center_pair(Z, Z)):
        # strictly upper triangle only: no self pairs
        iu = torch.arange(s, e)[:, None] < torch.arange(len(Z))[None, :]
        meds.append(d[iu])
    return float(torch.cat(meds).median().sqrt())


def mmd_kernel(Z: np.ndarray, *, bandwidth: float) -> np.ndarray:
    """The RBF kernel matrix exp(-|z_i - z_j|^2 / (2 sigma^2)) of the rows of ``Z`` (float32; small sets)."""
    gamma = 1.0 / (2.0 * max(bandwidth, 1e-12) ** 2)
    T = _knn.as_tensor(Z)
    T = T - T.mean(0)
    K = torch.empty((len(T), len(T)), dtype=torch.float32)
    for s, e, d in _knn.sqdist_blocks(T, T):
        K[s:e] = torch.exp(-gamma * d)
    return K.numpy()


def mmd(real, fake, *, bandwidth: float | None = None, max_n: int | None = 2000, seed: int = 0) -> float:
    """Squared maximum mean discrepancy with an RBF kernel (Gretton et al. 2012), V-statistic.

    MMD^2 = mean k(x, x') + mean k(y, y') - 2 mean k(x, y) over all pairs (self pairs included), with
    k(x, y) = exp(-|x - y|^2 / (2 sigma^2)) and sigma the median pairwise distance of the pooled sets unless
    given. The V-statistic is never negative and is exactly 0 for identical sets (the unbiased U-statistic
    goes slightly negative there); its bias is O(1/n). A fixed sigma = 1 (as in some libraries) makes every
    kernel value ~0 at 1,000 dimensions; the median heuristic scales with the data. ``max_n`` caps each set
    by a seeded subsample (all pairs of 17,000 profiles would cost three 17,000^2 kernel passes).
    """
    real, fake = check_sets([real, fake], ["real", "fake"], func="mmd")
    X, Y = np.asarray(real, np.float32), np.asarray(fake, np.float32)
    rng = np.random.default_rng(seed)
    if max_n is not None:
        X, Y = _cap_rows(X, max_n, rng), _cap_rows(Y, max_n, rng)
    sigma = median_bandwidth(X, Y) if bandwidth is None else float(bandwidth)
    gamma = 1.0 / (2.0 * max(sigma, 1e-12) ** 2)
    ref = _knn.as_tensor(X)

    def kmean(A, B):
        tot = 0.0
        ta, tb = _knn.as_tensor(A) - ref.mean(0), _knn.as_tensor(B) - ref.mean(0)
        for _, _, d in _knn.sqdist_blocks(ta, tb):
            tot += float(torch.exp(-gamma * d.double()).sum())
        return tot / (len(A) * len(B))

    return float(max(kmean(X, X) + kmean(Y, Y) - 2 * kmean(X, Y), 0.0))


# --------------------------------------------------------------------------------------------- per gene
def per_gene_distances(real, fake, *, block_genes: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene Wasserstein-1 and Kolmogorov-Smirnov statistics between the marginals of two sets.

    Exact for unequal sizes and ties, vectorised over genes: the pooled values of each gene are sorted, the
    two empirical CDFs are evaluated after each distinct value, W1 = sum |F_r - F_s| * gap and
    KS = max |F_r - F_s| (the same values as ``scipy.stats.wasserstein_distance`` and ``ks_2samp``).
    """
    real, fake = check_sets([real, fake], ["real", "fake"], func="per_gene_distances")
    w1, ks, _, _ = per_gene_distances_boot(real, fake, n_boot=0, block_genes=block_genes)
    return w1, ks


def per_gene_distances_boot(real, fake, *, n_boot: int, rng: np.random.Generator | None = None,
                            block_genes: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`per_gene_distances` plus ``n_boot`` bootstrap replicates ``(n_boot, genes)`` of each.

    A bootstrap resample of rows only changes the *weights* of the pooled sorted values (multinomial counts
    / n), not their order, so each replicate is a gather and a cumulative sum; nothing is re-sorted.

    Genes are laid out as rows (contiguous) and sorted with NumPy's vectorised quicksort, in blocks of
    ``block_genes`` spread over as many threads as torch uses (NumPy releases the GIL while sorting);
    sorting strided columns in place with ``torch.sort(dim=0)`` is slower. The sort need not be stable: the
    CDFs are read only after the last copy of a tied value, and W1 weighs each step by the gap to the next
    value, which is 0 inside a run of ties.
    """
    from concurrent.futures import ThreadPoolExecutor

    X, Y = np.asarray(real, np.float32), np.asarray(fake, np.float32)
    n, m, g = len(X), len(Y), X.shape[1]
    w1, ks = np.empty(g), np.empty(g)
    bw, bk = np.empty((n_boot, g)), np.empty((n_boot, g))
    lab = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)])
    weights = []
    if n_boot:
        rng = rng if rng is not None else np.random.default_rng(0)
        ox, oy = content_order(X), content_order(Y)   # the rows resampled in their content order
        for _ in range(n_boot):
            cx, cy = resample_counts(ox, rng), resample_counts(oy, rng)
            weights.append(np.concatenate([cx, -cy]))

    def block(s: int) -> None:
        e = min(s + block_genes, g)
        Z = np.concatenate([X[:, s:e].T, Y[:, s:e].T], axis=1)  # (genes, n + m), rows contiguous
        order = np.argsort(Z, axis=1)
        vals = np.take_along_axis(Z, order, 1)
        gaps = np.diff(vals, axis=1).astype(np.float64)
        # only positions after the last copy of a tied value are CDF values
        last = np.concatenate([gaps > 0, np.ones((e - s, 1), bool)], axis=1)

        def stats(lw):
            diff_cdf = np.cumsum(lw[order], axis=1)  # F_r - F_s after each sorted value
            return (np.abs(diff_cdf[:, :-1]) * gaps).sum(1), (np.abs(diff_cdf) * last).max(1)

        w1[s:e], ks[s:e] = stats(lab)
        for b, lw in enumerate(weights):
            bw[b, s:e], bk[b, s:e] = stats(lw)

    starts = range(0, g, block_genes)
    workers = max(1, min(torch.get_num_threads(), len(starts)))
    if workers == 1:
        for s in starts:
            block(s)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(block, starts))
    return w1, ks, bw, bk


def gene_distance_summary(real, fake) -> dict[str, float]:
    """Mean, median and maximum over genes of the per-gene Wasserstein-1 and KS statistics."""
    real, fake = check_sets([real, fake], ["real", "fake"], func="gene_distance_summary")
    w1, ks, _, _ = per_gene_distances_boot(real, fake, n_boot=0)
    return {"wasserstein_mean": float(w1.mean()), "wasserstein_median": float(np.median(w1)),
            "wasserstein_max": float(w1.max()), "ks_mean": float(ks.mean()),
            "ks_median": float(np.median(ks)), "ks_max": float(ks.max())}


# --------------------------------------------------------------------------------------------- scorers
# The functions below compute this family's indicators for rnagen.metrics.evaluate from the shared context
# (rnagen.metrics._context.EvalContext); their bootstrap CIs are described in rnagen.metrics.evaluate.
_PRDC = ("precision", "recall", "density", "coverage")
_GENEWISE = ("wasserstein_mean", "wasserstein_median", "ks_mean", "ks_median")


@scorer("prdc", order=10, metrics=_PRDC, timing="neighbours")
def score_prdc(ctx: EvalContext) -> Scored:
    """Precision, recall, density and coverage: means of per-profile terms, their CIs from subsamples of both
    sets recomputed ``n_boot_expensive`` times (:meth:`~rnagen.metrics._context.EvalContext.neighbour_ci`); the
    reference is the same against the real-vs-real reference set."""
    main = ctx.prdc
    ref = ctx.prdc_reference if ctx.reference is not None else None
    values = {m: float(main[m].mean()) for m in _PRDC if ctx.wants(m)}
    return Scored([ctx.row(m, v, ctx.neighbour_ci(m, v), ref[m].mean() if ref is not None else np.nan,
                           n_boot=ctx.n_boot_expensive) for m, v in values.items()])


def frechet_row(ctx: EvalContext, name: str, fr: np.ndarray, fs: np.ndarray, fref: np.ndarray | None
                ) -> dict[str, Any]:
    """The Fréchet distance row ``name`` between real features ``fr`` and synthetic features ``fs`` (CI by
    recomputation on resampled rows, re-centred), with the reference features ``fref``."""
    def stat(a, b):
        return gaussian_frechet(*_moments(a), *_moments(b))

    v = stat(fr, fs)
    return ctx.row(name, v, stat_ci(stat, [fr, fs], n_boot=ctx.n_boot_expensive, rng=ctx.stream(name), estimate=v),
                   stat(fr, fref) if fref is not None else np.nan, n_boot=ctx.n_boot_expensive)


@scorer("frechet_pca", order=40, metrics=("frechet_pca",), timing="frechet")
def score_frechet_pca(ctx: EvalContext) -> Scored:
    """The Fréchet distance in a 50-component PCA space fitted on the training profiles outside the reference
    (:attr:`EvalContext.pca_space`; the real set without a training set)."""
    pca = ctx.pca_space
    fref = pca(ctx.reference) if ctx.reference is not None else None
    return Scored([frechet_row(ctx, "frechet_pca", pca(ctx.real), pca(ctx.synthetic), fref)])


def _cap_rows(X: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``cap`` rows of ``X``, drawn without replacement from the rows in their content order
    (:func:`~rnagen.metrics._classifiers.canonical_order`: the same rows for any order of a file's rows)."""
    if len(X) <= cap:
        return X
    from ._classifiers import canonical_order

    return X[np.sort(canonical_order(X)[rng.choice(len(X), cap, replace=False)])]


@scorer("mmd", order=60, metrics=("mmd",))
def score_mmd(ctx: EvalContext) -> Scored:
    """MMD² on at most 2,000 rows per set; bootstrap replicates index into one pooled kernel matrix. The kernel's
    bandwidth is the held-out real profiles' median distance: a bandwidth of the pooled sets would move with the
    synthetic set, and the real-vs-real reference (the ceiling of the share of the gap closed) with it."""
    cap, rng = 2000, ctx.stream("mmd")
    # the subsamples (and the bandwidth on the held-out one) from streams of their own: the same held-out rows for
    # the model, the floor and the ceiling, and the same value whichever other indicators ran before
    Rm = _cap_rows(ctx.real, cap, np.random.default_rng([int(ctx.seed), 61]))
    Sm = _cap_rows(ctx.synthetic, cap, np.random.default_rng([int(ctx.seed), 62]))
    bw = median_bandwidth(Rm, Rm[:0])
    K = mmd_kernel(np.concatenate([Rm, Sm]), bandwidth=bw).astype(np.float64)
    nr, ns = len(Rm), len(Sm)
    Kxx, Kyy, Kxy = K[:nr, :nr], K[nr:, nr:], K[:nr, nr:]

    def mmd_w(wx, wy):
        # V-statistic with row weights (a resample's multiplicities / n): w'Kw replaces the means over the
        # resampled index grid (identical values, matrix-vector products instead of gathers)
        return float(max(wx @ Kxx @ wx + wy @ Kyy @ wy - 2 * wx @ Kxy @ wy, 0))

    v = mmd_w(np.full(nr, 1.0 / nr), np.full(ns, 1.0 / ns))
    orders = content_order(Rm), content_order(Sm)   # the rows resampled in their content order
    reps = [mmd_w(resample_counts(orders[0], rng), resample_counts(orders[1], rng))
            for _ in range(ctx.n_boot_expensive)]
    refv = np.nan
    if ctx.reference is not None:
        refv = mmd(Rm, _cap_rows(ctx.reference, cap, np.random.default_rng([int(ctx.seed), 63])), bandwidth=bw,
                   max_n=None)
    return Scored([ctx.row("mmd", v, centred_ci(v, reps), refv, n_boot=ctx.n_boot_expensive)])


def _gene_summary(w: np.ndarray, ks: np.ndarray, axis: int | None = None) -> dict[str, Any]:
    return {"wasserstein_mean": np.mean(w, axis=axis), "wasserstein_median": np.median(w, axis=axis),
            "ks_mean": np.mean(ks, axis=axis), "ks_median": np.median(ks, axis=axis)}


@scorer("per_gene", order=70, metrics=_GENEWISE)
def score_per_gene(ctx: EvalContext) -> Scored:
    """Per-gene Wasserstein-1 and KS summaries; replicates on at most 2,000 rows per set with the spread
    rescaled by sqrt(m / n) (m-out-of-n bootstrap)."""
    R, S, rng = ctx.real, ctx.synthetic, ctx.stream("per_gene")   # one draw for the four summaries
    val = _gene_summary(*per_gene_distances(R, S))
    m_r, m_s = min(len(R), 2000), min(len(S), 2000)
    scale = np.sqrt((m_r + m_s) / (len(R) + len(S)))
    Rb, Sb = _cap_rows(R, m_r, rng), _cap_rows(S, m_s, rng)
    _, _, bw, bk = per_gene_distances_boot(Rb, Sb, n_boot=ctx.n_boot_expensive, rng=rng)
    reps = _gene_summary(bw, bk, 1)
    refs = _gene_summary(*per_gene_distances(R, ctx.reference)) if ctx.reference is not None else {}
    rows = []
    for m in _GENEWISE:
        if ctx.wants(m):
            r = np.asarray(reps[m])
            dev = scale * (r - r.mean()) if r.size else r  # no replicates (n_boot_expensive=0): no CI
            rows.append(ctx.row(m, val[m], bootstrap_ci(val[m], val[m] + dev), refs.get(m, np.nan),
                                n_boot=ctx.n_boot_expensive))
    return Scored(rows)
