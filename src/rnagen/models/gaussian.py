"""Per-class multivariate Gaussian: the honest floor every learned generator must beat.

For each label c, fit the mean mu_c and a shrunk covariance Sigma_c of the transformed training profiles
(Ledoit & Wolf 2004: Sigma = (1 - s) S + s (tr S / p) I, with s estimated in closed form, or fixed by the
config), so it works when genes outnumber samples; sample x = mu_c + L_c z with Sigma_c = L_c L_c^T. With
many genes (``covariance="auto"`` above 4,000) a diagonal covariance keeps memory linear in the genes.
Sampling multiplies each class's factor with that class's rows of a batch (never one G x G factor per
profile), so its memory is the model plus one batch of profiles.

The differentially private variant (``--set privacy.epsilon=E``; :func:`noisy_class_statistics`) releases
noisy sufficient statistics with the Gaussian mechanism and fits a Gaussian per class to them: class means,
class variances and (up to 4,000 genes) one low-rank within-class correlation shared by the classes, a
factor model x = mu_c + s_c * (W z1 + u * z2). It is the honest private floor. Its budget is written as ρ, as in
zero-concentrated DP (Bun & Steinke 2016), and converted to (ε, δ) exactly, every release being a Gaussian
mechanism:

- each profile x (in the model's transformed space) contributes to its class's count (sensitivity 1), sum of
  ``clip(x, R1)`` and sum of ``clip(x∘x, R2)``, where ``clip(v, R)`` rescales v to L2 norm at most R
  (``privacy.clip_norm`` R1, default sqrt(G), the expected norm of a standardised profile of G genes;
  ``privacy.clip_norm_sq`` R2, default sqrt(3 G), that of its squares for Gaussian genes). Adding or removing
  one profile changes one class's three statistics by at most 1, R1 and R2 in L2 norm;
- each statistic gets N(0, σ_i^2) noise per entry with σ_i = Δ_i / sqrt(2 ρ_i), a Gaussian mechanism
  (ρ_i-zCDP, Bun & Steinke 2016, Proposition 1.6; μ_i-GDP with μ_i² = 2 ρ_i, Dong, Roth & Su 2022); the
  releases compose, adaptively, to one Gaussian mechanism with μ² = 2 Σ ρ_i (Dong, Roth & Su 2022, Corollary
  3.3). The correlation release takes ``privacy.covariance_share`` of ρ (0.3 when released by default);
  the rest is split
  ρ_n : ρ_s : ρ_q = 0.05 : 0.6 : 0.35 (the means carry most of the utility, and the variances are
  further denoised by pooling, below);
- the within-class correlation (:func:`private_correlation`, Dwork et al. 2014's "Analyze Gauss"): each
  profile's residual from its class's *released* mean, divided by its released standard deviations and
  clipped to L2 norm R3 = sqrt(G), adds r r^T to one G x G matrix (sensitivity R3^2 in Frobenius norm, so
  symmetric noise of σ_c = R3^2 / sqrt(2 ρ_c) per upper-triangle entry). The eigenvectors whose eigenvalues
  stand above the bulk's and the noise's reach are kept as a probabilistic-PCA correlation
  (:func:`private_correlation`). It is released by default (:func:`auto_covariance_share`) only when the
  public n, G, ε and δ let it detect a direction carrying 8% of the within-class variance, and never above
  4,000 genes; otherwise its share goes to the other statistics;
- ρ is the largest whose Gaussian mechanism meets the target (ε, δ) by its exact privacy profile
  δ(ε) = Φ(-ε/μ + μ/2) - e^ε Φ(-ε/μ - μ/2), μ = sqrt(2 ρ) (Balle & Wang 2018, Theorem 8;
  :func:`rnagen.train.privacy.gaussian_mechanism_rho`), larger than the zCDP bound ε = ρ + 2 sqrt(ρ log(1/δ))
  allows (Bun & Steinke 2016, Proposition 1.3), so the same guarantee costs less noise;
- the class means (``sum / count``, projected back into the ball of radius R1), variances
  (``sum_sq / count - mean^2``, pulled toward the pooled variances by empirical-Bayes weights so that a
  small class's are not mostly noise, floored at 1e-3) and the class sizes used to split ``sample(n=...)``
  are computed from the noisy statistics only (post-processing). The number of profiles and the label set are
  treated as public; the preprocessing fitted on the training data is not covered (as for DP-SGD,
  :mod:`rnagen.train.privacy`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from ..config import checked
from ..errors import ConfigError
from ..train.privacy import PrivacyConfig
from ._base import Generator, PreprocessConfig, register

FULL_COVARIANCE_MAX_GENES = 4000
#: Shares of the zCDP budget ρ left after the correlation release spent on the counts, the sums and the sums
#: of squares.
RHO_SPLIT = (0.05, 0.6, 0.35)
VARIANCE_FLOOR = 1e-3
#: A kept eigenvalue of the noisy correlation release must exceed the noise's semicircle edge by this factor
#: (the edge's fluctuations are of relative order G^(-2/3); Tracy & Widom 1996).
EDGE_MARGIN = 1.05
#: The least share of each gene's correlation-scale variance left to its independent part.
UNIQUE_FLOOR = 0.05
#: The correlation's share of ρ when it is released by default.
COVARIANCE_SHARE = 0.3
#: The default releases the correlation only when a direction carrying this share of the within-class
#: variance would stand out of the release's bulk and noise (:func:`correlation_detection_floor`).
DETECTABLE_SHARE = 0.08


@dataclass
@checked("privacy", epsilon="> 0", delta="(0, 1)", clip_norm="> 0", clip_norm_sq="> 0", covariance_share="[0, 1)")
class GaussianPrivacyConfig:
    """The DP variant of the per-class Gaussian (section ``[privacy]``; analysis in the module docstring)."""

    epsilon: float | None = None
    """Target ε of the (ε, δ) guarantee; unset: not private."""
    delta: float | None = None
    """δ; unset: 1/n for n training profiles."""
    clip_norm: float | None = None
    """R1, the L2 norm each profile is clipped to for the sums; unset: sqrt(number of genes)."""
    clip_norm_sq: float | None = None
    """R2, the L2 norm of each profile's squares for the sums of squares; unset: sqrt(3 x number of genes)."""
    covariance_share: float | None = None
    """Share of ρ spent on the low-rank within-class correlation (0: a diagonal Gaussian; never released above
    4,000 genes or with ``covariance=diag``); unset: :func:`auto_covariance_share`."""
    reproducible: bool | None = None
    """``true``: the noise is drawn from the run's seed (the release repeats exactly; private only against whoever
    does not know the seed); unset: from the operating system's entropy, never saved
    (:func:`rnagen.train.privacy.noise_key`)."""

    def __post_init__(self) -> None:
        if self.epsilon is None and any(v is not None for v in (self.delta, self.clip_norm, self.clip_norm_sq,
                                                                self.covariance_share, self.reproducible)):
            raise ConfigError("privacy.delta, privacy.clip_norm*, privacy.covariance_share and privacy.reproducible "
                              "need privacy.epsilon")

    @property
    def enabled(self) -> bool:
        """Whether the model is fitted with differential privacy."""
        return self.epsilon is not None


def _clip_rows(A: np.ndarray, R: float) -> np.ndarray:
    """Rows of ``A`` rescaled to L2 norm at most ``R``."""
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    return A * np.minimum(1.0, R / np.maximum(norms, 1e-300))


def warn_if_clipped_away(X: np.ndarray, R: float, what: str) -> None:
    """Warn (the operator, not the release) where clipping the training profiles to L2 norm ``R`` would shrink
    most of them to under half their length: statistics released at the clipping norm of standardised profiles
    (sqrt(genes)) from profiles on another scale (``preprocess.scaler=none``: log2 expression of ~8 per gene has a
    norm of ~8 sqrt(genes)) come out shrunk toward 0 by the clipping, not by the noise. Says no value of the data."""
    if len(X) and float(np.median(np.linalg.norm(X, axis=1))) > 2.0 * R:
        import warnings

        warnings.warn(f"{what} clip each training profile to L2 norm {R:.3g} (sqrt(genes): a standardised "
                      "profile's), and most profiles are over twice as long, so the released statistics are shrunk "
                      "toward 0 by the clipping: keep preprocess.scaler=standard (the default) for a private run",
                      UserWarning, stacklevel=3)


def noise_scales(epsilon: float, delta: float, *, clip_norm: float, clip_norm_sq: float,
                 covariance_share: float = 0.0, clip_norm_cov: float | None = None) -> dict[str, float]:
    """ρ and the noise standard deviations (σ_n, σ_s, σ_q) of the counts, sums and sums of squares for an
    (ε, δ) target, and with ``covariance_share`` > 0 σ_c of the correlation release whose residuals are
    clipped to ``clip_norm_cov`` (returned too; the module docstring's analysis)."""
    from ..train.privacy import gaussian_mechanism_rho

    rho = gaussian_mechanism_rho(epsilon, delta)
    rest = 1.0 - covariance_share
    sens = (1.0, float(clip_norm), float(clip_norm_sq))
    sig = [d / np.sqrt(2.0 * share * rest * rho) for d, share in zip(sens, RHO_SPLIT)]
    out = {"rho": rho, "sigma_count": sig[0], "sigma_sum": sig[1], "sigma_sum_sq": sig[2]}
    if covariance_share > 0:
        if clip_norm_cov is None:
            raise ValueError("a correlation release needs clip_norm_cov")
        out["clip_norm_cov"] = float(clip_norm_cov)
        out["sigma_cov"] = out["clip_norm_cov"] ** 2 / np.sqrt(2.0 * covariance_share * rho)
    return out


def correlation_detection_floor(n: int, n_genes: int, epsilon: float, delta: float, share: float) -> float:
    """The least share of the within-class variance (on the correlation scale, total G) that one direction must
    carry to be kept by :func:`private_correlation` from ``n`` profiles at ``share`` of the (ε, δ) budget:
    ((1 + sqrt(G / n))^2 - 1 + 2 σ_c sqrt(G) x :data:`EDGE_MARGIN` / n) / G, the release's bulk edge and noise
    edge above a unit bulk, with σ_c = G / sqrt(2 share ρ). Depends on public quantities only."""
    from ..train.privacy import gaussian_mechanism_rho

    sigma = n_genes / np.sqrt(2.0 * share * gaussian_mechanism_rho(epsilon, delta))
    return float((_spike_threshold(float(n), n_genes, float(n), sigma) / n - 1.0) / n_genes)


def _spike_threshold(bulk: float, n_genes: int, n: float, sigma: float) -> float:
    """The eigenvalue a spike of the correlation release must exceed (:func:`private_correlation`): the bulk's
    Marchenko-Pastur edge bulk (1 + sqrt(G / n))^2 plus the noise's semicircle edge 2 sigma sqrt(G) x
    :data:`EDGE_MARGIN`."""
    return bulk * (1.0 + np.sqrt(n_genes / n)) ** 2 + EDGE_MARGIN * 2.0 * sigma * np.sqrt(n_genes)


def auto_covariance_share(n: int, n_genes: int, epsilon: float, delta: float) -> float:
    """:data:`COVARIANCE_SHARE` when a direction carrying :data:`DETECTABLE_SHARE` of the within-class variance
    would be detected at that share (:func:`correlation_detection_floor`), else 0: below that the release would
    rarely find a direction and its budget is better spent on the means. Expression data sets have few
    directions carrying more than a few percent of the within-class variance; the cut-off is the development
    sets' (``benchmarks/RESULTS_privacy.md``)."""
    if n_genes > FULL_COVARIANCE_MAX_GENES:
        return 0.0
    floor = correlation_detection_floor(n, n_genes, epsilon, delta, COVARIANCE_SHARE)
    return COVARIANCE_SHARE if floor <= DETECTABLE_SHARE else 0.0


def noisy_class_statistics(X: np.ndarray, y: np.ndarray, n_labels: int, *, epsilon: float, delta: float,
                           clip_norm: float, clip_norm_sq: float, rng: np.random.Generator,
                           covariance_share: float = 0.0) -> dict[str, np.ndarray | float]:
    """Per-class counts, sums of clipped profiles and sums of clipped squares with Gaussian noise.

    Returns ``counts`` (C,), ``sums`` (C, G), ``sums_sq`` (C, G) (all noisy) and the scales of
    :func:`noise_scales` (``covariance_share`` of ρ is left for a correlation release, whose residuals are
    clipped to R3 = sqrt(G)).
    """
    sc = noise_scales(epsilon, delta, clip_norm=clip_norm, clip_norm_sq=clip_norm_sq,
                      covariance_share=covariance_share, clip_norm_cov=float(np.sqrt(X.shape[1])))
    X = np.asarray(X, dtype=np.float64)
    G = X.shape[1]
    Xs, Xq = _clip_rows(X, clip_norm), _clip_rows(X * X, clip_norm_sq)
    counts = np.bincount(y, minlength=n_labels).astype(np.float64)
    sums, sums_sq = np.zeros((n_labels, G)), np.zeros((n_labels, G))
    np.add.at(sums, y, Xs)
    np.add.at(sums_sq, y, Xq)
    return {"counts": counts + rng.normal(0.0, sc["sigma_count"], n_labels),
            "sums": sums + rng.normal(0.0, sc["sigma_sum"], sums.shape),
            "sums_sq": sums_sq + rng.normal(0.0, sc["sigma_sum_sq"], sums_sq.shape), **sc}


def private_class_moments(X: np.ndarray, y: np.ndarray, n_labels: int, *, epsilon: float, delta: float,
                          clip_norm: float, clip_norm_sq: float, rng: np.random.Generator,
                          shrink: bool = True, pooled: bool = False, covariance_share: float = 0.0) -> dict[str, Any]:
    """Per-class means and diagonal variances from :func:`noisy_class_statistics` (post-processing only),
    and with ``covariance_share`` > 0 the low-rank within-class correlation (:func:`private_correlation`).

    Returns ``means`` and ``var`` (C, G), the noisy class sizes ``n`` (C,) floored at 1, the noise scales, and
    ``loadings`` (G, k) and ``unique_sd`` (G,) of the correlation (k = 0 and ones without the release). The
    variance is the mean square less the squared mean; ``shrink`` (the default) pulls each class's
    variances toward the pooled ones by the noise they carry (:func:`_shrink_to_pooled`). With ``pooled``,
    also ``pooled_mean`` and ``pooled_var`` (G,), the moments of all classes together (law of total variance
    over the released class moments; no further privacy cost).
    """
    X = np.asarray(X, dtype=np.float64)
    st = noisy_class_statistics(X, y, n_labels, epsilon=epsilon, delta=delta, clip_norm=clip_norm,
                                clip_norm_sq=clip_norm_sq, rng=rng, covariance_share=covariance_share)
    n = np.maximum(np.asarray(st["counts"]), 1.0)
    means = _clip_rows(np.asarray(st["sums"]) / n[:, None], clip_norm)
    var = np.asarray(st["sums_sq"]) / n[:, None] - means ** 2
    if shrink:
        var = _shrink_to_pooled(var, n, float(st["sigma_sum_sq"]))
    var = np.maximum(var, VARIANCE_FLOOR)
    out: dict[str, Any] = {**st, "n": n, "means": means, "var": var}
    if covariance_share > 0:
        out["loadings"], out["unique_sd"] = private_correlation(
            X, y, means, var, float(n.sum()), sigma=float(st["sigma_cov"]), clip_norm=float(st["clip_norm_cov"]),
            rng=rng)
    else:
        out["loadings"], out["unique_sd"] = np.zeros((X.shape[1], 0)), np.ones(X.shape[1])
    if pooled:
        w = n / n.sum()
        mean = w @ means
        out["pooled_mean"] = mean
        out["pooled_var"] = np.maximum(w @ (out["var"] + (means - mean) ** 2), VARIANCE_FLOOR)
    return out


def private_correlation(X: np.ndarray, y: np.ndarray, means: np.ndarray, var: np.ndarray, n_total: float, *,
                        sigma: float, clip_norm: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A low-rank within-class correlation from one noisy second-moment release (module docstring).

    ``means`` and ``var`` (C, G) are the released class moments, ``n_total`` the released number of profiles;
    residuals ``(x - mean_c) / sqrt(var_c)`` clipped to ``clip_norm`` are summed as outer products with
    symmetric Gaussian noise of ``sigma`` per entry (:func:`noisy_gram`; Dwork et al. 2014, "Analyze Gauss").
    The release M is read as a factor model: a bulk a I (each gene's independent part, n ψ) plus k spikes.
    a is the mean eigenvalue of the rest once the spikes are set aside (iterated from tr M / G); a spike is an
    eigenvalue above the largest the bulk's sampling spread reaches, a (1 + sqrt(G / n))^2 (Marchenko &
    Pastur 1967), plus the largest the noise adds, 2 sigma sqrt(G) (the semicircle edge, times
    :data:`EDGE_MARGIN`; the sum bounds the bulk's top eigenvalue by Weyl's inequality). Its size above the
    bulk is corrected for the noise's push (a spike θ in symmetric Gaussian noise appears at θ + G sigma^2 / θ;
    Péché 2006). The correlation is that of probabilistic PCA
    (Tipping & Bishop 1999), D^(-1/2) (V Θ V^T + a I) D^(-1/2) / n with D its diagonal (clipping scales the
    spikes and the bulk alike, so their ratio is kept), each gene's independent share at least
    :data:`UNIQUE_FLOOR`; returned as loadings W (G, k) and independent standard deviations u (G,) with
    W W^T + diag(u^2) of unit diagonal.
    """
    G = X.shape[1]
    n = max(n_total, 1.0)
    R = _clip_rows((X - means[y]) / np.sqrt(var[y]), clip_norm)
    lam, V = np.linalg.eigh(noisy_gram(R, sigma, rng))
    keep = np.zeros(G, dtype=bool)
    for _ in range(20):
        rest = lam[~keep]
        bulk = max(float(rest.mean()), 0.0) if rest.size else 0.0
        new = lam > _spike_threshold(bulk, G, n, sigma)
        if (new == keep).all():
            break
        keep = new
    spike = lam[keep] - bulk
    theta = (spike + np.sqrt(np.maximum(spike ** 2 - 4.0 * G * sigma ** 2, 0.0))) / 2.0 / n
    W = V[:, keep] * np.sqrt(theta)
    common = (W ** 2).sum(axis=1)
    unique = np.clip(bulk / n / np.maximum(common + bulk / n, 1e-300), UNIQUE_FLOOR, 1.0)
    scale = np.sqrt((1.0 - unique) / np.maximum(common, 1e-300))
    return W * scale[:, None], np.sqrt(unique)


def noisy_gram(R: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """R^T R plus a symmetric matrix of independent N(0, sigma^2) entries on and above the diagonal."""
    G = R.shape[1]
    E = np.triu(rng.normal(0.0, sigma, (G, G)))
    return R.T @ R + E + np.triu(E, 1).T


def _shrink_to_pooled(var: np.ndarray, n: np.ndarray, sigma_sq: float) -> np.ndarray:
    """Per-class variances ``var`` (C, G) pulled toward their pooled value by empirical-Bayes weights.

    Each class's estimate carries the released noise's variance ``(sigma_sq / n_c)^2`` (its sum of squares
    divided by its size); the spread of the true class variances around the pooled one, τ², is estimated by
    the method of moments (the mean squared deviation less the mean noise variance, at least 0), and class c
    keeps the weight τ² / (τ² + (sigma_sq / n_c)^2) of its own estimate (James & Stein 1961; Efron & Morris
    1973). Post-processing of released values: no privacy cost. Large classes keep their estimates; classes
    of a few profiles, whose estimates are mostly noise, take the pooled variance instead of a floored one.
    """
    w = n / n.sum()
    pooled = w @ var
    noise = (sigma_sq / n) ** 2
    tau2 = max(float(np.mean((var - pooled) ** 2)) - float(np.mean(noise)), 0.0)
    keep = (tau2 / (tau2 + noise))[:, None] if tau2 > 0 else np.zeros((len(n), 1))
    return keep * var + (1.0 - keep) * pooled


def fit_class_gaussians(X: np.ndarray, y: np.ndarray, n_labels: int, *, full: bool,
                        shrinkage: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-class Gaussian floor's parameters: each class's mean (C, G), its covariance's factor (C, G, G:
    Cholesky of the Ledoit-Wolf, or ``shrinkage``-shrunk, covariance; with ``full=False`` (C, G) standard
    deviations, shrunk toward their mean by ``shrinkage`` if given) and the shrinkage used (C,). A class
    without profiles keeps zeros. :func:`draw_class_gaussians` samples them.

    The moments are taken in float64 from the values as given: a full covariance from one class's rows at a time,
    the diagonal one from a block of genes at a time (:func:`rnagen.pp.history.column_spans`; each class's rows of
    the block, summed as those of the whole class would be), so a wide matrix is never copied whole in float64."""
    from sklearn.covariance import ledoit_wolf, shrunk_covariance

    from ..pp.history import column_spans
    from ._base import exact_values

    X = exact_values(X)
    G = X.shape[1]
    means = np.zeros((n_labels, G))
    factors = np.zeros((n_labels, G, G)) if full else np.zeros((n_labels, G))
    shrinkages = np.zeros(n_labels)
    present = [c for c in range(n_labels) if np.any(y == c)]
    if not full:
        var = np.zeros((n_labels, G))
        for a, b in column_spans(X):
            B = np.array(X[:, a:b], dtype=np.float64, order="K")
            for c in present:
                Bc = B[y == c]
                means[c, a:b] = Bc.mean(axis=0)
                var[c, a:b] = Bc.var(axis=0)
    for c in present:
        if full:
            Xc = X[y == c].astype(np.float64)
            means[c] = Xc.mean(axis=0)
            if shrinkage is None:
                cov, s = ledoit_wolf(Xc)
            else:
                s = shrinkage
                cov = shrunk_covariance(np.cov(Xc, rowvar=False, bias=True).reshape(G, G), shrinkage=s)
            # a tiny jitter keeps the Cholesky factorisation stable for (near-)constant genes
            factors[c] = np.linalg.cholesky(cov + 1e-8 * np.eye(G))
        else:
            s = 0.0 if shrinkage is None else shrinkage
            vc = (1 - s) * var[c] + s * var[c].mean()
            factors[c] = np.sqrt(np.maximum(vc, 1e-12))
        shrinkages[c] = s
    return means, factors, shrinkages


def draw_class_gaussians(means: np.ndarray, factors: np.ndarray, y: np.ndarray, z: np.ndarray, *,
                         common: np.ndarray | None = None, unique_sd: np.ndarray | None = None) -> np.ndarray:
    """Profiles x = mu_c + L_c z for class ids ``y`` from standard normals ``z`` (rows x G): ``factors`` as
    :func:`fit_class_gaussians` returns them, or with ``common`` (the private factor model's common part, one row
    per profile) x = mu_c + s_c (common + u z). One (rows x G) @ (G x G) product per class present, so a batch
    never holds a G x G factor per profile; the same z gives the same profiles."""
    out = np.empty(z.shape, dtype=np.float32)
    # with every array of one type (float64 as drawn and fitted), the products and sums are taken in place in the
    # copy of each class's normals: the same values without two more arrays of the batch's size
    arrays = (z, means, factors, *(a for a in (common, unique_sd) if a is not None))
    in_place = all(a.dtype == z.dtype for a in arrays)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        zc = z[rows]
        if factors.ndim == 3:
            xc = zc @ factors[c].T
        elif not in_place:
            xc = ((common[rows] + zc * unique_sd) if common is not None else zc) * factors[c]
        else:
            if common is not None:
                zc *= unique_sd
                zc += common[rows]
            xc = zc
            xc *= factors[c]
        if in_place:
            xc += means[c]
            out[rows] = xc
        else:
            out[rows] = xc + means[c]
    return out


@dataclass
@checked(None, shrinkage="[0, 1]")
class GaussianConfig:
    """Configuration of :class:`GaussianModel`: preprocessing, covariance form and shrinkage."""
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    covariance: Literal["auto", "full", "diag"] = "auto"
    """``full`` (shrunk), ``diag``, or ``auto``: full up to 4,000 genes, diagonal above."""
    shrinkage: float | None = None
    """Fixed shrinkage intensity in [0, 1]; ``None`` estimates it per class (Ledoit-Wolf)."""
    privacy: GaussianPrivacyConfig = field(default_factory=GaussianPrivacyConfig)
    """The differentially private variant: noisy sufficient statistics; with ``covariance=auto`` (up to 4,000
    genes) a low-rank within-class correlation, with ``diag`` none."""

    def __post_init__(self) -> None:
        if self.privacy.enabled and self.covariance == "full":
            raise ConfigError("the private gaussian has a low-rank or diagonal covariance (a full one needs far "
                              "more noise); use covariance=auto or diag with privacy.epsilon")
        p = self.privacy
        if p.enabled and self.preprocess.scaler == "none" and (p.clip_norm is None or p.clip_norm_sq is None):
            # the default clipping norms sqrt(G) and sqrt(3 G) are those of a standardised profile and its squares;
            # profiles on their own scale (log2 expression of ~8 per gene: a norm of ~8 sqrt(G)) would be clipped
            # far inside them, every class mean and variance shrunk toward 0 by the clipping, not by the noise
            raise ConfigError("the private gaussian with preprocess.scaler=none needs privacy.clip_norm and "
                              "privacy.clip_norm_sq: the defaults, sqrt(genes) and sqrt(3 x genes), bound standardised "
                              "profiles; set them to public bounds of a profile's L2 norm and of its squares' (values "
                              "of at most V: V x sqrt(genes) and V^2 x sqrt(genes)), or keep the standard scaler")


@register
class GaussianModel(Generator):
    """A multivariate normal per label with covariance shrinkage (fast; the floor learned models must beat)."""

    name = "gaussian"
    config_cls = GaussianConfig
    uses_torch = False

    def _full(self) -> bool:
        kind = self.config.covariance
        if self.config.privacy.enabled:
            return False
        return kind == "full" or (kind == "auto" and self.n_genes <= FULL_COVARIANCE_MAX_GENES)

    def _fit(self, X, y, *, seed, run_dir, progress, resume) -> None:
        if self.config.privacy.enabled:
            self._fit_private(X, y, seed=seed)
            return
        self.means, self.factors, self.shrinkages = fit_class_gaussians(X, y, self.n_labels, full=self._full(),
                                                                        shrinkage=self.config.shrinkage)
        self.loadings, self.unique_sd = np.zeros((X.shape[1], 0)), np.ones(X.shape[1])
        self.history = [{"step": 1, "mean_shrinkage": float(self.shrinkages.mean())}]

    def _fit_private(self, X: np.ndarray, y: np.ndarray, *, seed: int) -> None:
        """Means, variances and the low-rank correlation from noisy statistics (module docstring); the class
        sizes too."""
        from ..train.privacy import (
            NEIGHBOURS,
            gaussian_mechanism_epsilon,
            noise_key,
            noise_source,
            preprocessing_coverage,
            resolve_delta,
        )

        p, G = self.config.privacy, X.shape[1]
        delta = resolve_delta(p.delta, len(X))
        R1 = p.clip_norm if p.clip_norm is not None else float(np.sqrt(G))
        R2 = p.clip_norm_sq if p.clip_norm_sq is not None else float(np.sqrt(3.0 * G))
        share = self._covariance_share(len(X), delta)
        rng = np.random.default_rng([noise_key(seed, reproducible=p.reproducible), 0xD1FF])
        st = private_class_moments(X, y, self.n_labels, epsilon=float(p.epsilon), delta=delta, clip_norm=R1,
                                   clip_norm_sq=R2, rng=rng, covariance_share=share)
        self.means, self.factors, self.shrinkages = st["means"], np.sqrt(st["var"]), np.zeros(self.n_labels)
        self.loadings, self.unique_sd = st["loadings"], st["unique_sd"]
        self.label_counts = np.maximum(np.rint(st["n"]), 1).astype(np.int64)
        pre = self.config.preprocess
        rest = 1.0 - share
        split = ", ".join(f"{name} {rest * v:.3g}" for name, v in zip(("counts", "sums", "squares"), RHO_SPLIT))
        self.privacy = {
            "mechanism": ("Gaussian mechanism on clipped per-class counts, sums and sums of squares"
                          + (" and the within-class residuals' second moments" if share > 0 else "")
                          + " (composed exactly: one Gaussian mechanism, mu = sqrt(2 rho))"),
            "epsilon": gaussian_mechanism_epsilon(float(st["rho"]), delta), "epsilon_target": float(p.epsilon),
            "delta": delta, "accountant": "gdp", "rho": float(st["rho"]),
            "rho_split": split + (f", correlation {share:.3g}" if share > 0 else ""),
            "noise_count": float(st["sigma_count"]), "noise_sum": float(st["sigma_sum"]),
            "noise_sum_sq": float(st["sigma_sum_sq"]), "clip_norm": R1, "clip_norm_sq": R2,
            "covariance_share": share, "correlation_rank": int(self.loadings.shape[1]),
            "correlation_detection_floor": correlation_detection_floor(len(X), G, float(p.epsilon), delta,
                                                                       share or COVARIANCE_SHARE),
            "n_train": int(len(X)),
            "preprocessing": preprocessing_coverage(log=pre.log, scaler=pre.scaler, support=pre.support),
            "noise": noise_source(p.reproducible),
            "public": "n_train, the gene count and labels (class sizes released with noise)",
            "neighbours": NEIGHBOURS,
        }
        self.privacy["correlation"] = self._correlation_reason(share)
        if share > 0:
            self.privacy.update(noise_cov=float(st["sigma_cov"]), clip_norm_cov=float(st["clip_norm_cov"]))
        self.history = [{"step": 1, "mean_shrinkage": 0.0}]

    def _correlation_reason(self, share: float) -> str:
        """Why the private fit did or did not release the correlation, in words for the record."""
        if share > 0:
            return "released"
        if self.config.covariance == "diag":
            return "not released: covariance=diag"
        if self.n_genes > FULL_COVARIANCE_MAX_GENES:
            return f"not released: more than {FULL_COVARIANCE_MAX_GENES} genes"
        if self.config.privacy.covariance_share is not None:
            return "not released: privacy.covariance_share=0"
        return f"not released: no direction under {DETECTABLE_SHARE:.0%} of the within-class variance detectable"

    def _covariance_share(self, n: int, delta: float) -> float:
        """The share of ρ the private fit spends on the correlation: none with ``covariance=diag`` or above
        4,000 genes (the gene count is public), ``privacy.covariance_share`` if set, else
        :func:`auto_covariance_share`."""
        p = self.config.privacy
        if self.config.covariance == "diag" or self.n_genes > FULL_COVARIANCE_MAX_GENES:
            return 0.0
        if p.covariance_share is not None:
            return float(p.covariance_share)
        return auto_covariance_share(n, self.n_genes, float(p.epsilon), delta)

    def _sample(self, y, *, seed, batch_size, progress, **options) -> np.ndarray:
        if options:
            raise ConfigError(f"the gaussian model takes no sampler options, got {sorted(options)}")
        rng = np.random.default_rng(seed)
        out = np.empty((len(y), self.n_genes), dtype=np.float32)
        for start in range(0, len(y), batch_size):
            yb = y[start:start + batch_size]
            z = rng.standard_normal((len(yb), self.n_genes))
            # the private factor model's common part: k more normals per profile, drawn after z
            common = rng.standard_normal((len(yb), self._rank())) @ self.loadings.T if self._rank() else None
            out[start:start + len(yb)] = draw_class_gaussians(self.means, self.factors, yb, z, common=common,
                                                              unique_sd=self.unique_sd)
        return out

    def _rank(self) -> int:
        """k, the rank of the private factor model's common part (0 for every other form)."""
        return int(self.loadings.shape[1])

    def _state_tensors(self) -> dict[str, Any]:
        out = {"means": torch.from_numpy(self.means), "factors": torch.from_numpy(self.factors),
               "shrinkages": torch.from_numpy(self.shrinkages)}
        if self._rank():
            out.update(loadings=torch.from_numpy(self.loadings), unique_sd=torch.from_numpy(self.unique_sd))
        return out

    def _load_state_tensors(self, tensors) -> None:
        self.means = tensors["means"].numpy().astype(np.float64)
        self.factors = tensors["factors"].numpy().astype(np.float64)
        self.shrinkages = tensors["shrinkages"].numpy().astype(np.float64)
        C, G = self.n_labels, self.n_genes
        self.loadings = tensors["loadings"].numpy().astype(np.float64) if "loadings" in tensors else np.zeros((G, 0))
        self.unique_sd = tensors["unique_sd"].numpy().astype(np.float64) if "unique_sd" in tensors else np.ones(G)
        factor_shape = (C, G, G) if self._full() else (C, G)
        if (self.means.shape != (C, G) or self.factors.shape != factor_shape or self.shrinkages.shape != (C,)
                or self.loadings.shape[0] != G or self.unique_sd.shape != (G,)):
            raise ValueError(f"tensor shapes {self.means.shape}, {self.factors.shape}, {self.loadings.shape} do "
                             f"not fit {C} labels x {G} genes")

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        """Optuna search space: covariance form, shrinkage intensity and scaler drawn from ``trial``."""
        return {
            "covariance": trial.suggest_categorical("covariance", ["full", "diag"]),
            "shrinkage": trial.suggest_float("shrinkage", 0.01, 0.99),
            "preprocess.scaler": trial.suggest_categorical("preprocess.scaler", ["standard", "none"]),
        }


def anchor_statistics(X: np.ndarray, y: np.ndarray, n_labels: int, *, kind: str, epsilon_share: float,
                      privacy: PrivacyConfig, seed: int, stream: int = 0xA4C0, pooled: bool = True,
                      what: str = "the anchor's"
                      ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray | None], dict[str, Any] | None]:
    """The statistics of an anchor of ``kind`` (the diffusion model's ``objective.anchor`` as it builds it,
    :meth:`rnagen.models.diffusion.DiffusionModel._anchor_kind`, or the WGAN-GP's ``gan.anchor``), one row per class
    then (``pooled``) the pooled row of the null label: ``(means, eigenvalues, eigenvectors)`` (``diag``: variances
    and ``None``); and the privacy release to compose with DP-SGD, if any (``what`` names it in the record,
    ``stream`` keys its noise apart from the run's other draws).

    ``full``: each class's Ledoit-Wolf covariance (the per-class Gaussian floor's) in its eigenbasis. ``diag`` not
    private: the classes' variances. Private (``privacy.epsilon``): the private Gaussian's noisy, clipped per-class
    statistics (:func:`rnagen.models.gaussian.private_class_moments`) at ``epsilon_share x epsilon`` on their own by
    the run's accountant (:func:`rnagen.train.privacy.release_rho`), returned as a Gaussian-mechanism release of ρ
    for it; ``full`` adds its low-rank within-class correlation where the private Gaussian's default would release
    it (:func:`rnagen.models.gaussian.auto_covariance_share` at that ε), each class's covariance being its standard
    deviations times that correlation, in its eigenbasis.
    Eigenvalues and variances are floored at the private Gaussian's floor, so a class of one profile is not a
    point mass.
    """
    from ..train.privacy import (
        DEFAULT_ACCOUNTANT,
        gaussian_mechanism_epsilon,
        noise_key,
        release_rho,
        resolve_delta,
        spent_epsilon,
    )

    X = np.asarray(X, dtype=np.float64)
    G = X.shape[1]
    groups = [X[y == c] for c in range(n_labels)] + ([X] if pooled else [])
    means = np.stack([g.mean(axis=0) if len(g) else np.zeros(G) for g in groups])
    if kind == "full" and not privacy.enabled:
        from sklearn.covariance import ledoit_wolf

        eig, basis = np.ones((len(groups), G)), np.tile(np.eye(G), (len(groups), 1, 1))
        for i, g in enumerate(groups):
            if len(g) >= 2:
                w, U = np.linalg.eigh(ledoit_wolf(g)[0])
                eig[i], basis[i] = w, U
        return (means, np.maximum(eig, VARIANCE_FLOOR), basis), None
    if not privacy.enabled:
        var = np.stack([g.var(axis=0) if len(g) else np.ones(G) for g in groups])
        return (means, np.maximum(var, VARIANCE_FLOOR), None), None
    assert privacy.epsilon is not None
    delta = resolve_delta(privacy.delta, len(X))
    accountant = privacy.accountant or DEFAULT_ACCOUNTANT
    # the release's share of ε by the run's accountant, as the Gaussian mechanism's exact (ε, δ) it is noised for
    eps_anchor = gaussian_mechanism_epsilon(
        release_rho(epsilon_share * float(privacy.epsilon), delta, accountant), delta)
    full = kind == "full"
    share = auto_covariance_share(len(X), G, eps_anchor, delta) if full else 0.0
    rng = np.random.default_rng([noise_key(seed, reproducible=privacy.reproducible), stream])
    warn_if_clipped_away(X, float(np.sqrt(G)), "the private anchor statistics")
    st = private_class_moments(X, y, n_labels, epsilon=eps_anchor, delta=delta, clip_norm=float(np.sqrt(G)),
                               clip_norm_sq=float(np.sqrt(3.0 * G)), rng=rng, pooled=pooled, covariance_share=share)
    means = np.vstack([st["means"], st["pooled_mean"]]) if pooled else st["means"]
    var = np.vstack([st["var"], st["pooled_var"]]) if pooled else st["var"]
    rho = float(st["rho"])
    alone = spent_epsilon([], delta=delta, accountant=accountant, prior_rho=rho)
    stats = "per-class Gaussian statistics" + (" and within-class correlation" if share > 0 else "")
    prior = {"rho": rho, "mechanism": (f"{what} {stats} (Gaussian mechanism, rho={rho:.4g}, epsilon "
                                       f"{alone:.3g} on their own)")}
    if not full:
        return (means, var, None), prior
    corr = st["loadings"] @ st["loadings"].T + np.diag(st["unique_sd"] ** 2)
    eig, basis = np.empty_like(var), np.empty((len(var), G, G))
    for i, v in enumerate(var):
        sd = np.sqrt(v)
        eig[i], basis[i] = np.linalg.eigh(sd[:, None] * corr * sd[None, :])
    return (means, np.maximum(eig, VARIANCE_FLOOR), basis), prior
