"""Biological fidelity: do the synthetic profiles carry the same biology as the real ones?

Four groups of indicators, each comparing the synthetic set with the real held-out set, with the real training
profiles scored the same way as the ceiling (the real-vs-real reference of :mod:`rnagen.metrics.evaluate`)
and the per-class Gaussian as the floor:

1. **Differential-expression (DE) recovery** (:func:`differential_expression`, :func:`de_recovery`). Each
   class against the rest, on log-scale data: Welch's t-test (default) or the Mann-Whitney U test (normal
   approximation with tie and continuity corrections), Benjamini-Hochberg FDR over the genes of each class
   (Benjamini & Hochberg 1995), and a fold-change threshold: gene g is DE up (down) in class c when
   q < ``fdr`` and log2FC >= ``min_lfc`` (<= -``min_lfc``). Precision and recall of the synthetic set's DE
   genes against the real ones, up and down separately (counts pooled over classes), their F1, and the
   Spearman correlation of the log2 fold changes over all genes (mean over classes). As scored by the
   CAMDA/ELSA Health Privacy Challenge, PRO-GENE-GEN (Chen et al., PoPETs 2024) and Nanda & Saha 2026.
2. **Co-expression** (:func:`coexpression_recovery`). Gene-gene Pearson correlation networks, edge where
   |r| > ``coexpr_threshold``: edge precision, recall, F1 and the Pearson correlation of the two matrices'
   upper triangles. The headline network is the pooled within-class one (each class centred on its own
   mean: the co-expression that class differences do not explain, defined even for classes too small for a
   network of their own); classes with at least ``coexpr_min_class`` profiles in every set also get their
   own rows, over the ``coexpr_class_genes`` genes most variable in the real held-out set (every gene up to
   that number: the per-class networks cost one G x G pass per class). Above :data:`COEXPR_GENES` genes (a full
   transcriptome) the pooled network too is over that many of the most variable genes (``attrs['biology_coexpr']``
   says so). Blocked: rows of the G x G matrices
   are formed ``block_genes`` at a time and only counts and sums are kept.
3. **Classifier concordance** (:func:`classifier_concordance`). A multinomial logistic regression trained on
   the real held-out profiles and the same one trained on the synthetic profiles; per class, the Jaccard
   overlap of the top-k genes by importance (|coefficient| by default, or the permutation importance) and the
   Spearman correlation of the importances over all genes (mean over classes), as in Nanda & Saha 2026.
4. **Gene sets** (:func:`read_gmt`, :func:`gene_set_scores`). Per-sample score of each gene set: the mean
   z-score of its genes (z with the real training statistics); the Kolmogorov-Smirnov distance between the
   real and synthetic score distributions, mean over the sets. Needs ``evaluate(..., gene_sets=...)``.

Data: the evaluation context holds log-scale profiles z-scored per gene with the real training statistics;
the t and U statistics are unchanged by that per-gene affine map, and log2 fold changes are brought back to
log2 units by the training standard deviation (``EvalContext.gene_scale``). The biology scorers run after
every other family, so they leave the other families' values and resampling streams as they are; they draw
no bootstrap resamples (no confidence intervals; the real-vs-real reference shows the sampling spread).
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..config import check_number
from ..errors import ConfigError, DataError
from ._checks import check_labels, check_sets
from ._registry import Scored, register, scorer

if TYPE_CHECKING:
    from ._context import EvalContext

__all__ = ["BiologyOptions", "DEResult", "welch_t", "mann_whitney", "bh_fdr", "differential_expression",
           "de_recovery", "coexpression_recovery", "classifier_concordance", "read_gmt", "gene_set_index",
           "gene_set_scores", "gene_set_ks", "shared_classes", "SUMMARY"]

_DE_SRC = ("CAMDA 2025 / ELSA Health Privacy Challenge (DE recovery on TCGA); Chen et al. 2024, PoPETs "
           "(PRO-GENE-GEN, DE-gene preservation); Nanda & Saha 2026; Welch 1947; Mann & Whitney 1947; "
           "Benjamini & Hochberg 1995")
_COEXPR_SRC = "CAMDA 2025 / ELSA Health Privacy Challenge (co-expression edge recovery)"
_CONC_SRC = "Nanda & Saha 2026 (concordance of the top genes of classifiers trained on real and synthetic data)"
_GS_SRC = "mean z-score gene-set scores (Lee et al. 2008, PLoS Comput Biol); Kolmogorov-Smirnov distance"
_DE_DEF = ("each class vs the rest on log-scale data (Welch t-test, or Mann-Whitney U; BH FDR < fdr and "
           "|log2FC| >= min_lfc, defaults 0.05 and 1); synthetic DE genes vs real held-out DE genes, counts "
           "pooled over classes: ")

register("de_precision_up", lower=0.0, upper=1.0,
         family="biology", direction="higher", needs=("labels",), source=_DE_SRC,
         definition=_DE_DEF + "share of the synthetic up-regulated DE genes that are up in real")
register("de_recall_up", lower=0.0, upper=1.0, family="biology", direction="higher", needs=("labels",), source=_DE_SRC,
         definition=_DE_DEF + "share of the real up-regulated DE genes that are up in synthetic")
register("de_precision_down", lower=0.0, upper=1.0,
         family="biology", direction="higher", needs=("labels",), source=_DE_SRC,
         definition=_DE_DEF + "share of the synthetic down-regulated DE genes that are down in real")
register("de_recall_down", lower=0.0, upper=1.0,
         family="biology", direction="higher", needs=("labels",), source=_DE_SRC,
         definition=_DE_DEF + "share of the real down-regulated DE genes that are down in synthetic")
register("de_f1", lower=0.0, upper=1.0, family="biology", direction="higher", needs=("labels",), source=_DE_SRC,
         definition=_DE_DEF + "F1 of up and down calls together (a gene counts as found when called in the "
                              "same direction); per class in the per-class rows")
register("de_lfc_spearman", lower=-1.0, upper=1.0,
         family="biology", direction="higher", needs=("labels",), source=_DE_SRC,
         definition="Spearman correlation of the log2 fold changes (class vs rest) of real held-out and "
                    "synthetic profiles over all genes, mean over classes")
_CO_DEF = ("pooled within-class gene-gene Pearson correlation network (each class centred on its mean), edge "
           "where |r| > threshold (default 0.3): ")
register("coexpr_edge_precision", lower=0.0, upper=1.0, family="biology", direction="higher", needs=("labels",),
         source=_COEXPR_SRC,
         definition=_CO_DEF + "share of the synthetic edges that are real held-out edges")
register("coexpr_edge_recall", lower=0.0, upper=1.0, family="biology", direction="higher", needs=("labels",),
         source=_COEXPR_SRC,
         definition=_CO_DEF + "share of the real held-out edges found in the synthetic network")
register("coexpr_edge_f1", lower=0.0, upper=1.0,
         family="biology", direction="higher", needs=("labels",), source=_COEXPR_SRC,
         definition=_CO_DEF + "F1 of edge precision and recall; per class (classes with enough profiles) "
                              "in the per-class rows")
register("coexpr_corr", lower=-1.0, upper=1.0,
         family="biology", direction="higher", needs=("labels",), source=_COEXPR_SRC,
         definition=_CO_DEF + "Pearson correlation of the real and synthetic correlation matrices' upper "
                              "triangles")
_CONC_DEF = ("multinomial logistic regression trained on real held-out and on synthetic profiles; per class, "
             "genes ranked by |coefficient| (or permutation importance): ")
register("concordance_jaccard", lower=0.0, upper=1.0,
         family="biology", direction="higher", needs=("labels",), source=_CONC_SRC,
         definition=_CONC_DEF + "Jaccard overlap of the top-k genes (default k = 20), mean over classes")
register("concordance_spearman", lower=-1.0, upper=1.0,
         family="biology", direction="higher", needs=("labels",), source=_CONC_SRC,
         definition=_CONC_DEF + "Spearman correlation of the importances over all genes, mean over classes")
register("geneset_ks", lower=0.0, upper=1.0, family="biology", direction="lower", needs=("gene_sets",), source=_GS_SRC,
         definition="per gene set, the Kolmogorov-Smirnov distance between the real held-out and synthetic "
                    "distributions of the per-sample set score (mean z-score of the set's genes); mean over "
                    "the sets (evaluate(..., gene_sets=...), rnagen evaluate --gene-sets FILE.gmt)")

#: one summary indicator per group, the leaderboard's headline columns of this family
SUMMARY: tuple[str, ...] = ("de_f1", "coexpr_edge_f1", "concordance_jaccard", "geneset_ks")
_DE = ("de_precision_up", "de_recall_up", "de_precision_down", "de_recall_down", "de_f1", "de_lfc_spearman")
_COEXPR = ("coexpr_edge_precision", "coexpr_edge_recall", "coexpr_edge_f1", "coexpr_corr")
#: genes above which the pooled co-expression network of ``evaluate`` is over this many of the genes most variable
#: in the held-out set (log2 units), as the per-class networks are over ``BiologyOptions.coexpr_class_genes``:
#: its G x G pairs (1.8 billion at 60,000 genes, per set) grow with the square of the genes; the development sets
#: (383 to 978 genes) and panels of a few thousand keep every gene
COEXPR_GENES = 5000
_CONC = ("concordance_jaccard", "concordance_spearman")


@dataclass(frozen=True)
class BiologyOptions:
    """Settings of the biology indicators (``evaluate(..., biology=BiologyOptions(...))`` or a dict).

    Attributes
    ----------
    de_test
        ``"welch"`` (Welch's unequal-variance t-test) or ``"mannwhitney"`` (U test, normal approximation), both
        on the log-scale data; or ``"deseq2"``: the negative-binomial Wald test of DESeq2 (Love et al. 2014)
        through ``pydeseq2`` (Muzellec et al. 2023) on the raw counts, for sets given as non-negative
        non-logged values (a synthetic set of counts is rounded); its q-values are pydeseq2's
        (Benjamini-Hochberg after independent filtering) and its fold changes are on normalised counts.
    fdr
        Benjamini-Hochberg false discovery rate of a DE call.
    min_lfc
        Smallest |log2 fold change| of a DE call (log2 units of the log-scale data).
    de_pair
        Two class names: also report DE recovery of the first class against the second (group ``"A vs B"``;
        ``"A vs B (pair)"`` where a class is named ``"A vs B"``, :func:`pair_group`).
    coexpr_threshold
        |r| above which two genes are linked in a co-expression network.
    coexpr_class_genes
        Genes of the per-class networks at most (the most variable in the real held-out set); the pooled
        network always uses every gene.
    coexpr_min_class
        Fewest profiles a class needs in every set for its own co-expression rows.
    block_genes
        Rows of the G x G correlation matrices formed at a time (memory: about 3 x 4 x block x G bytes per set).
    top_k
        Genes per class compared by the classifier concordance.
    importance
        ``"coef"`` (|logistic-regression coefficient|) or ``"permutation"`` (drop of the mean predicted
        probability of the true class among a class's profiles when a gene is permuted).
    seed
        Seeds the classifier and the permutations.
    """

    de_test: Literal["welch", "mannwhitney", "deseq2"] = "welch"
    fdr: float = 0.05
    min_lfc: float = 1.0
    de_pair: tuple[str, str] | None = None
    coexpr_threshold: float = 0.3
    coexpr_min_class: int = 10
    coexpr_class_genes: int = 2000
    block_genes: int = 1024
    top_k: int = 20
    importance: Literal["coef", "permutation"] = "coef"
    seed: int = 0

    @classmethod
    def from_any(cls, obj: BiologyOptions | Mapping[str, Any] | None) -> BiologyOptions:
        """``obj`` checked: ``None`` gives the defaults; a dict's unknown keys are an error listing the valid."""
        if obj is None:
            return cls()
        if isinstance(obj, cls):
            opts = obj
        elif isinstance(obj, Mapping):
            valid = [f.name for f in fields(cls)]
            bad = [k for k in obj if k not in valid]
            if bad:
                raise ConfigError(f"unknown biology option(s) {bad}; valid: {', '.join(valid)}")
            opts = cls(**dict(obj))
        else:
            raise ConfigError(f"biology options must be a BiologyOptions or a dict, got {type(obj).__name__}")
        opts._check()
        return opts

    @classmethod
    def from_strings(cls, items: Sequence[str]) -> BiologyOptions:
        """Options from ``KEY=VALUE`` texts (``rnagen evaluate --biology``), each value read as its field's type
        (``de_pair=A,B`` for the pair); a malformed item or unknown key is a :class:`ConfigError`."""
        types = {"fdr": float, "min_lfc": float, "coexpr_threshold": float, "coexpr_min_class": int,
                 "coexpr_class_genes": int, "block_genes": int, "top_k": int, "seed": int}
        out: dict[str, Any] = {}
        for item in items:
            key, sep, value = (x.strip() for x in item.partition("="))
            if not sep or not key:
                raise ConfigError(f"--biology {item!r} must look like KEY=VALUE, e.g. de_test=mannwhitney")
            try:
                if key == "de_pair":
                    a, b = (v.strip() for v in value.split(","))
                    out[key] = (a, b)
                else:
                    out[key] = types[key](value) if key in types else value
            except ValueError:
                raise ConfigError(f"--biology {item!r}: {value!r} is not a valid value of {key}") from None
        return cls.from_any(out)

    def _check(self) -> None:
        if self.de_test not in ("welch", "mannwhitney", "deseq2"):
            raise ConfigError(f"biology de_test {self.de_test!r} is not one of welch, mannwhitney, deseq2")
        if self.importance not in ("coef", "permutation"):
            raise ConfigError(f"biology importance {self.importance!r} is not one of coef, permutation")
        if not 0 < self.fdr < 1:
            raise ConfigError(f"biology fdr must be in (0, 1), got {self.fdr}")
        if self.min_lfc < 0:
            raise ConfigError(f"biology min_lfc must be >= 0, got {self.min_lfc}")
        if not 0 <= self.coexpr_threshold < 1:
            raise ConfigError(f"biology coexpr_threshold must be in [0, 1), got {self.coexpr_threshold}")
        for name in ("coexpr_min_class", "coexpr_class_genes", "block_genes", "top_k"):
            if int(getattr(self, name)) < (3 if name == "coexpr_min_class" else 1):
                raise ConfigError(f"biology {name} is too small: {getattr(self, name)}")
        if self.de_pair is not None and (len(self.de_pair) != 2 or self.de_pair[0] == self.de_pair[1]):
            raise ConfigError(f"biology de_pair must name two different classes, got {self.de_pair!r}")


# ============================================================================ 1. differential expression
def welch_t(m1: np.ndarray, v1: np.ndarray, n1: Any, m2: np.ndarray, v2: np.ndarray, n2: Any
            ) -> tuple[np.ndarray, np.ndarray]:
    """Welch's t statistic and two-sided p-value from group means, unbiased variances and sizes (broadcast).

    t = (m1 - m2) / sqrt(v1/n1 + v2/n2), with the Welch-Satterthwaite degrees of freedom
    df = (v1/n1 + v2/n2)^2 / ((v1/n1)^2/(n1-1) + (v2/n2)^2/(n2-1)) (Welch 1947). A gene constant in both
    groups has no test: p = 1 (t = 0).
    """
    a, b = v1 / n1, v2 / n2
    se2 = a + b
    ok = se2 > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(ok, (m1 - m2) / np.sqrt(np.where(ok, se2, 1.0)), 0.0)
        df = np.where(ok, se2 ** 2 / (a ** 2 / (n1 - 1) + b ** 2 / (n2 - 1)), 1.0)
    p = np.where(ok, 2.0 * stats.t.sf(np.abs(t), df), 1.0)
    return t, p


def mann_whitney(ranks_in: np.ndarray, n1: Any, n: int, tie_term: np.ndarray) -> np.ndarray:
    """Two-sided p-value of the Mann-Whitney U test from the rank sums of the first group (normal
    approximation with tie and continuity corrections, as ``scipy.stats.mannwhitneyu(method="asymptotic")``).

    ``ranks_in``: sum of the pooled mid-ranks of the first group's values; ``tie_term``: sum over tie groups
    of t^3 - t, per gene. U1 = R1 - n1(n1+1)/2, mu = n1 n2 / 2, sigma^2 = n1 n2 / 12 ((n+1) - tie/(n(n-1))).
    """
    n2 = n - n1
    u1 = ranks_in - n1 * (n1 + 1) / 2.0
    mu = n1 * n2 / 2.0
    s2 = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    ok = s2 > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.abs(u1 - mu) - 0.5) / np.sqrt(np.where(ok, s2, 1.0))
    return np.where(ok, np.minimum(2.0 * stats.norm.sf(z), 1.0), 1.0)


def bh_fdr(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values along the last axis (``scipy.stats.false_discovery_control``):
    q_(i) = min_{j >= i} p_(j) m / j over the sorted p-values, capped at 1."""
    p = np.asarray(p, dtype=np.float64)
    m = p.shape[-1]
    order = np.argsort(p, axis=-1)
    ps = np.take_along_axis(p, order, axis=-1) * m / np.arange(1, m + 1)
    ps = np.minimum.accumulate(ps[..., ::-1], axis=-1)[..., ::-1]
    q = np.empty_like(ps)
    np.put_along_axis(q, order, np.minimum(ps, 1.0), axis=-1)
    return q


@dataclass(frozen=True)
class DEResult:
    """DE of each class against the rest: arrays of shape (classes, genes)."""

    classes: tuple[str, ...]
    lfc: np.ndarray      # log2 fold change, class mean - rest mean in log2 units
    p: np.ndarray
    q: np.ndarray        # BH-adjusted over the genes of each class
    up: np.ndarray       # bool: q < fdr and lfc >= min_lfc
    down: np.ndarray


def _tie_term(R: np.ndarray) -> np.ndarray:
    """Sum of t^3 - t over the tie groups of each column, from its mid-ranks: the sum of squared mid-ranks
    falls short of n(n+1)(2n+1)/6 by exactly sum(t^3 - t)/12."""
    n = R.shape[0]
    return np.maximum(12.0 * (n * (n + 1) * (2 * n + 1) / 6.0 - (R * R).sum(0)), 0.0)


def differential_expression(X: np.ndarray, labels: Sequence[str] | np.ndarray, *, classes: Sequence[str] | None = None,
                            scale: np.ndarray | None = None, test: str = "welch", fdr: float = 0.05,
                            min_lfc: float = 1.0, versus: str | None = None) -> DEResult:
    """Each class of ``classes`` against every other profile (or against class ``versus``), vectorised over
    classes and genes.

    Parameters
    ----------
    X
        Profiles x genes on a log scale (or a per-gene affine map of it, with ``scale`` the per-gene factor
        that brings differences back to log2 units).
    labels
        Class of each profile.
    classes
        Classes tested (default: every class present).
    scale
        Per-gene multiplier of mean differences (``None``: 1).
    test, fdr, min_lfc
        See :class:`BiologyOptions`.
    versus
        A class name: test each class against that class only, instead of against the rest.
    """
    (X,) = check_sets([X], ["X"], func="differential_expression")
    check_labels(labels, "differential_expression: labels", len(X))
    return _differential_expression(X, labels, classes=classes, scale=scale, test=test, fdr=fdr, min_lfc=min_lfc,
                                    versus=versus)


def _differential_expression(X: np.ndarray, labels: Sequence[str] | np.ndarray, *,
                             classes: Sequence[str] | None = None, scale: np.ndarray | None = None,
                             test: str = "welch", fdr: float = 0.05, min_lfc: float = 1.0,
                             versus: str | None = None) -> DEResult:
    """:func:`differential_expression` of a set checked already (``evaluate``'s)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(labels).astype(str)
    cls = tuple(str(c) for c in (np.unique(y) if classes is None else classes))
    other = np.ones(len(y), bool) if versus is None else (y == versus)
    member = np.stack([y == c for c in cls]).astype(np.float64)                    # (C, n)
    rest = (other[None, :] & (member == 0)).astype(np.float64)
    n1, n2 = member.sum(1)[:, None], rest.sum(1)[:, None]
    if (n1 < 2).any() or (n2 < 2).any():
        raise DataError("differential expression needs at least 2 profiles in every class and in its comparison "
                        "group")
    Xc = X - X.mean(0)  # centred first, so the sums of squares below do not cancel catastrophically
    s1, s2 = member @ Xc, rest @ Xc
    q1, q2 = member @ (Xc * Xc), rest @ (Xc * Xc)
    m1, m2 = s1 / n1, s2 / n2
    v1 = np.maximum(q1 - n1 * m1 * m1, 0.0) / (n1 - 1)
    v2 = np.maximum(q2 - n2 * m2 * m2, 0.0) / (n2 - 1)
    lfc = (m1 - m2) * (1.0 if scale is None else np.asarray(scale, np.float64)[None, :])
    if test == "welch":
        p = welch_t(m1, v1, n1, m2, v2, n2)[1]
    elif test == "mannwhitney":
        p = _mann_whitney_all(X, member, rest)
    else:
        raise ConfigError(f"unknown DE test {test!r}; choose welch or mannwhitney")
    q = bh_fdr(p)
    sig = q < fdr
    return DEResult(cls, lfc, p, q, sig & (lfc >= min_lfc) & (lfc > 0), sig & (lfc <= -min_lfc) & (lfc < 0))


def deseq2_de(counts: np.ndarray, labels: Sequence[str] | np.ndarray, *, classes: Sequence[str] | None = None,
              fdr: float = 0.05, min_lfc: float = 1.0, versus: str | None = None) -> DEResult:
    """DE of each class against the rest (or against class ``versus``) on raw counts with DESeq2's
    negative-binomial GLM and Wald test (Love et al. 2014, Genome Biology 15:550), through ``pydeseq2``
    (Muzellec et al. 2023, Bioinformatics 39:btad547): one fit per class with the design ``~group``
    (member vs rest), median-of-ratios size factors, Cooks-distance refitting; ``lfc`` is the MLE log2 fold
    change, ``q`` pydeseq2's adjusted p-value (BH after independent filtering; NaN, e.g. a gene without
    counts, counts as 1).

    ``counts`` are rounded to integers (a generator's count-scale output is not integral); negative values are
    an error.
    """
    try:
        from pydeseq2.dds import DeseqDataSet
        from pydeseq2.default_inference import DefaultInference
        from pydeseq2.ds import DeseqStats
    except ImportError:
        raise ConfigError("biology de_test=deseq2 needs pydeseq2: pip install 'rnagen[deseq2]' (or use "
                          "de_test=welch)") from None
    C = np.asarray(counts, dtype=np.float64)
    if not np.isfinite(C).all() or (C < 0).any():
        raise DataError("DESeq2 needs non-negative finite counts; pass raw counts or use de_test=welch")
    C = np.rint(C).astype(np.int64)
    y = np.asarray(labels).astype(str)
    cls = tuple(str(c) for c in (np.unique(y) if classes is None else classes))
    genes = [f"g{j}" for j in range(C.shape[1])]
    inference = DefaultInference(n_cpus=1)
    lfc, p, q = (np.zeros((len(cls), C.shape[1])) for _ in range(3))
    for i, c in enumerate(cls):
        keep = np.ones(len(y), bool) if versus is None else (y == c) | (y == versus)
        group = np.where(y[keep] == c, "member", "rest")
        if min((group == "member").sum(), (group == "rest").sum()) < 2:
            raise DataError("differential expression needs at least 2 profiles in every class and in its "
                            "comparison group")
        idx = [f"s{k}" for k in range(int(keep.sum()))]
        dds = DeseqDataSet(counts=pd.DataFrame(C[keep], index=idx, columns=genes),
                           metadata=pd.DataFrame({"group": group}, index=idx), design="~group",
                           inference=inference, quiet=True)
        dds.deseq2()
        wald = DeseqStats(dds, contrast=["group", "member", "rest"], alpha=fdr, inference=inference, quiet=True)
        wald.summary()
        res = wald.results_df.reindex(genes)
        lfc[i] = np.nan_to_num(res["log2FoldChange"].to_numpy(np.float64), nan=0.0)
        p[i] = np.nan_to_num(res["pvalue"].to_numpy(np.float64), nan=1.0)
        q[i] = np.nan_to_num(res["padj"].to_numpy(np.float64), nan=1.0)
    sig = q < fdr
    return DEResult(cls, lfc, p, q, sig & (lfc >= min_lfc) & (lfc > 0), sig & (lfc <= -min_lfc) & (lfc < 0))


def _mann_whitney_all(X: np.ndarray, member: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Mann-Whitney p-values of every (class, gene): ranks are pooled over each class and its comparison
    group; against the rest that pool is every profile, so one ranking serves all classes."""
    if (member + rest == 1).all():
        R = stats.rankdata(X, axis=0)
        tie = _tie_term(R)
        return mann_whitney(member @ R, member.sum(1)[:, None], X.shape[0], tie[None, :])
    out = []
    for mem, oth in zip(member, rest):  # one pool per class (a class against another class)
        pool = (mem + oth) > 0
        R = stats.rankdata(X[pool], axis=0)
        out.append(mann_whitney(mem[pool] @ R, mem.sum(), int(pool.sum()), _tie_term(R)))
    return np.stack(out)


def _safe_div(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("nan")


def _f1(tp: float, n_found: float, n_true: float) -> float:
    """F1 = 2 TP / (found + true): defined whenever either set has a call (0 when one set has none), NaN when
    neither has any."""
    return _safe_div(2.0 * tp, n_found + n_true)


def _row_spearman(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``A`` with the same row of ``B`` (NaN for a constant row)."""
    ra, rb = stats.rankdata(A, axis=1), stats.rankdata(B, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def de_recovery(real: DEResult, synthetic: DEResult) -> dict[str, Any]:
    """Precision / recall of the synthetic DE calls against the real ones (counts pooled over classes), F1,
    and the Spearman correlation of the log2 fold changes (mean over classes); ``per_class`` holds each
    class's F1 and Spearman."""
    if real.classes != synthetic.classes:
        raise ValueError("DE results of different classes")
    tp_u = (real.up & synthetic.up).sum(1)
    tp_d = (real.down & synthetic.down).sum(1)
    nr_u, nr_d, ns_u, ns_d = real.up.sum(1), real.down.sum(1), synthetic.up.sum(1), synthetic.down.sum(1)
    rho = _row_spearman(real.lfc, synthetic.lfc)
    tp, ns, nr = tp_u + tp_d, ns_u + ns_d, nr_u + nr_d
    per_class = {c: {"de_f1": _f1(tp[i], ns[i], nr[i]), "de_lfc_spearman": float(rho[i])}
                 for i, c in enumerate(real.classes)}
    return {"de_precision_up": _safe_div(tp_u.sum(), ns_u.sum()), "de_recall_up": _safe_div(tp_u.sum(), nr_u.sum()),
            "de_precision_down": _safe_div(tp_d.sum(), ns_d.sum()),
            "de_recall_down": _safe_div(tp_d.sum(), nr_d.sum()), "de_f1": _f1(tp.sum(), ns.sum(), nr.sum()),
            "de_lfc_spearman": float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan"),
            "per_class": per_class}


def shared_classes(*label_sets: np.ndarray | None, min_n: int = 2) -> list[str]:
    """Classes with at least ``min_n`` profiles in every labelled set (and a rest of at least ``min_n``)."""
    common: set[str] | None = None
    for y in label_sets:
        if y is None:
            continue
        vals, counts = np.unique(y, return_counts=True)
        ok = {str(v) for v, c in zip(vals, counts) if c >= min_n and len(y) - c >= min_n}
        common = ok if common is None else common & ok
    return sorted(common or ())


# ============================================================================ 2. co-expression
def _within_class_standardised(X: np.ndarray, labels: np.ndarray | None):
    """Columns centred within each class (or overall without labels) and scaled to unit norm, as a float32
    tensor: the Gram matrix of the result is the (pooled within-class) Pearson correlation matrix. A gene
    without spread gets a zero column: correlated with nothing, its diagonal entry 0."""
    import torch

    A = np.asarray(X, dtype=np.float64).copy()
    if labels is None:
        A -= A.mean(0)
    else:
        for c in np.unique(labels):
            m = labels == c
            A[m] -= A[m].mean(0)
    norm = np.sqrt((A * A).sum(0))
    level = np.maximum(1.0, np.abs(np.asarray(X, np.float64)).mean(0)) * np.sqrt(len(A))
    ok = norm > 1e-6 * level  # float32 rounding of a constant column leaves a tiny non-zero spread
    A[:, ok] /= norm[ok]
    A[:, ~ok] = 0.0
    return torch.as_tensor(A.astype(np.float32))


def _twice_right(M, width: int, stat) -> float:
    """``stat`` of the square ``M[:, :width]`` plus twice ``stat`` of the rest of the rows of ``M``."""
    return stat(M[:, :width]) + (2.0 * stat(M[:, width:]) if M.shape[1] > width else 0.0)


def coexpression_recovery(real: np.ndarray, others: Sequence[np.ndarray], *, threshold: float = 0.3,
                          real_labels: np.ndarray | None = None,
                          other_labels: Sequence[np.ndarray | None] | None = None,
                          block_genes: int = 1024) -> list[dict[str, float]]:
    """Edge precision / recall / F1 and the upper-triangle correlation of the correlation network of each of
    ``others`` against that of ``real`` (one pass over the real matrix serves every other set).

    With labels, every set is centred within its classes first (the pooled within-class correlation). The
    G x G matrices are formed ``block_genes`` rows at a time in float32, each block only from its diagonal
    rightwards (half the products); the full matrices' counts and sums are accumulated (the part right of
    the diagonal block twice), and the diagonal is taken off at the end, halving for the symmetric upper
    triangle, so no triangle is indexed and 20,000 genes need a few hundred MB.

    Each set needs 3 profiles (of 2, every correlation is +-1) and the sets 2 genes (a gene pair).
    """
    if hasattr(others, "shape"):
        raise DataError("coexpression_recovery: others is one array; pass a list of sets (e.g. [synthetic])")
    others = list(others)
    if other_labels is not None and len(other_labels) != len(others):
        raise DataError(f"coexpression_recovery: {len(other_labels)} other_labels for {len(others)} other sets; give "
                        "one label array (or None) per set")
    names = ["real"] + [f"others[{i}]" for i in range(len(others))]
    real, *others = check_sets([real, *others], names, func="coexpression_recovery", min_rows=3,
                               why="a gene-gene correlation", min_genes=2, genes_why="a gene pair")
    for name, X, y in zip(names, [real, *others], [real_labels, *(other_labels or [None] * len(others))]):
        if y is not None:
            check_labels(y, f"coexpression_recovery: the labels of {name}", len(X))
    check_number("coexpression_recovery: threshold", threshold, "[0, 1)")   # |r| of an edge; 1 would leave none
    return _coexpression_recovery(real, others, threshold=threshold, real_labels=real_labels,
                                  other_labels=other_labels, block_genes=block_genes)


def _coexpression_recovery(real: np.ndarray, others: Sequence[np.ndarray], *, threshold: float = 0.3,
                           real_labels: np.ndarray | None = None,
                           other_labels: Sequence[np.ndarray | None] | None = None,
                           block_genes: int = 1024) -> list[dict[str, float]]:
    """:func:`coexpression_recovery` of sets checked already (``evaluate``'s, and their classes' parts)."""
    import torch

    other_labels = list(other_labels) if other_labels is not None else [None] * len(others)
    A = _within_class_standardised(real, real_labels)
    Bs = [_within_class_standardised(o, lab) for o, lab in zip(others, other_labels)]
    g = A.shape[1]
    if any(B.shape[1] != g for B in Bs):
        raise ValueError("co-expression: every set needs the same genes")
    thr = float(threshold)
    n_real = 0.0
    acc = [dict.fromkeys(("tp", "n", "sx", "sy", "sxx", "syy", "sxy"), 0.0) for _ in Bs]
    sa = saa = 0.0
    for s in range(0, g, block_genes):
        # rows s..e of the matrix, columns s.. only (the lower part is the mirror image): the square block on
        # the diagonal counts as itself, the part right of it twice, giving the full matrix's sums at half
        # the products
        e = min(s + block_genes, g)
        ca = A[:, s:e].T @ A[:, s:]
        ea = ca.abs() > thr
        n_real += _twice_right(ea, e - s, lambda m: float(m.sum()))
        sa += _twice_right(ca, e - s, lambda m: float(m.sum(dtype=torch.float64)))
        saa += _twice_right(ca, e - s, lambda m: float((m * m).sum(dtype=torch.float64)))
        for B, a in zip(Bs, acc):
            cb = B[:, s:e].T @ B[:, s:]
            eb = cb.abs() > thr
            a["tp"] += _twice_right(ea & eb, e - s, lambda m: float(m.sum()))
            a["n"] += _twice_right(eb, e - s, lambda m: float(m.sum()))
            a["syy"] += _twice_right(cb, e - s, lambda m: float((m * m).sum(dtype=torch.float64)))
            a["sy"] += _twice_right(cb, e - s, lambda m: float(m.sum(dtype=torch.float64)))
            a["sxy"] += _twice_right(ca * cb, e - s, lambda m: float(m.sum(dtype=torch.float64)))
    da = (A * A).sum(0).double()
    out = []
    cnt = g * (g - 1) / 2
    ea_diag = float((da.abs() > thr).sum())
    sx, sxx = (sa - float(da.sum())) / 2, (saa - float((da * da).sum())) / 2
    n_r = (n_real - ea_diag) / 2
    for B, a in zip(Bs, acc):
        db = (B * B).sum(0).double()
        eb_diag = (db.abs() > thr)
        both_diag = float(((da.abs() > thr) & eb_diag).sum())
        tp, n_s = (a["tp"] - both_diag) / 2, (a["n"] - float(eb_diag.sum())) / 2
        sy, syy = (a["sy"] - float(db.sum())) / 2, (a["syy"] - float((db * db).sum())) / 2
        sxy = (a["sxy"] - float((da * db).sum())) / 2
        cov, vx, vy = sxy - sx * sy / cnt, sxx - sx * sx / cnt, syy - sy * sy / cnt
        prec, rec = _safe_div(tp, n_s), _safe_div(tp, n_r)
        out.append({"coexpr_edge_precision": prec, "coexpr_edge_recall": rec, "coexpr_edge_f1": _f1(tp, n_s, n_r),
                    "coexpr_corr": float(cov / np.sqrt(vx * vy)) if vx > 0 and vy > 0 else float("nan"),
                    "real_edges": n_r, "synthetic_edges": n_s, "shared_edges": tp})
    return out


# ============================================================================ 3. classifier concordance
def _importance(X: np.ndarray, y: np.ndarray, classes: Sequence[str], *, how: str, seed: int) -> np.ndarray:
    """Per class (rows, in ``classes`` order) and gene, the importance of the gene for a multinomial logistic
    regression fitted on (X, y)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from ._classifiers import canonical_order

    # the rows in an order set by their content: an unconverged fit and the permutations depend on the order
    order = canonical_order(np.asarray(X), np.asarray(y).astype(str))
    X, y = np.asarray(X)[order], np.asarray(y)[order]
    clf = LogisticRegression(max_iter=300, C=1.0, random_state=seed)
    with warnings.catch_warnings():  # an unconverged fit still ranks the genes; the budget bounds the cost
        warnings.simplefilter("ignore", ConvergenceWarning)
        # many classes of few held-out profiles each (sklearn suspects a regression target): still classes
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
        clf.fit(X, y)
    pos = [list(clf.classes_).index(c) for c in classes]
    W = clf.coef_ if clf.coef_.shape[0] == len(clf.classes_) else np.vstack([-clf.coef_, clf.coef_])
    if how == "coef":
        return np.abs(W[pos])
    return _permutation_importance(X, y, clf.classes_, W, clf.intercept_ if len(clf.intercept_) == len(W)
                                   else np.r_[-clf.intercept_, clf.intercept_], pos, seed=seed)


def _permutation_importance(X, y, all_classes, W, b, pos, *, seed: int, block: int = 64) -> np.ndarray:
    """Mean predicted probability of the true class, over each class's profiles, minus the same with one gene
    permuted; genes are permuted one at a time, ``block`` at a time: permuting gene g only shifts the
    logits by (x_perm[:, g] - x[:, g]) w_g."""
    rng = np.random.default_rng(seed)
    X = np.asarray(X, np.float64)
    n, g = X.shape
    logits = X @ W.T + b
    yi = np.searchsorted(all_classes, y)
    member = np.stack([yi == k for k in pos]).astype(np.float64)       # (C', n)
    counts = np.maximum(member.sum(1), 1.0)

    def true_prob(L):  # L (..., n, K) -> probability of each profile's own class
        L = L - L.max(-1, keepdims=True)
        P = np.exp(L)
        P /= P.sum(-1, keepdims=True)
        return np.take_along_axis(P, np.broadcast_to(yi[:, None], P.shape[:-1] + (1,)), -1)[..., 0]

    base = member @ true_prob(logits) / counts                           # (C',)
    perm = rng.permuted(np.tile(np.arange(n), (g, 1)), axis=1)           # (g, n) a permutation per gene
    out = np.empty((len(pos), g))
    for s in range(0, g, block):  # blocks of genes: (block, n, K) logits at a time
        idx = np.arange(s, min(s + block, g))
        delta = X[perm[idx], idx[:, None]] - X[:, idx].T                   # (b, n)
        L = logits[None] + delta[:, :, None] * W[:, idx].T[:, None, :]    # (b, n, K)
        out[:, idx] = base[:, None] - (member @ true_prob(L).T) / counts[:, None]
    return out


def classifier_concordance(real: np.ndarray, real_labels: np.ndarray, synthetic: np.ndarray,
                           synthetic_labels: np.ndarray, *, top_k: int = 20, importance: str = "coef",
                           seed: int = 0, real_importance: np.ndarray | None = None,
                           classes: Sequence[str] | None = None) -> dict[str, Any]:
    """Jaccard overlap of the top-``top_k`` genes per class and Spearman correlation of the importances over
    all genes (means over the classes), for the classifier trained on real and the one trained on synthetic
    profiles. ``real_importance``: the real classifier's importances when computed already."""
    real, synthetic = check_sets([real, synthetic], ["real", "synthetic"], func="classifier_concordance", min_rows=2,
                                 why="a classifier of 2 classes")
    check_labels(real_labels, "classifier_concordance: real_labels", len(real))
    check_labels(synthetic_labels, "classifier_concordance: synthetic_labels", len(synthetic))
    check_number("classifier_concordance: top_k", top_k, ">= 1", integer=True)
    if importance not in ("coef", "permutation"):
        raise ConfigError(f"classifier_concordance: importance must be 'coef' or 'permutation', not {importance!r}")
    return _classifier_concordance(real, real_labels, synthetic, synthetic_labels, top_k=top_k, importance=importance,
                                   seed=seed, real_importance=real_importance, classes=classes)


def _classifier_concordance(real: np.ndarray, real_labels: np.ndarray, synthetic: np.ndarray,
                            synthetic_labels: np.ndarray, *, top_k: int = 20, importance: str = "coef",
                            seed: int = 0, real_importance: np.ndarray | None = None,
                            classes: Sequence[str] | None = None) -> dict[str, Any]:
    """:func:`classifier_concordance` of sets checked already (``evaluate``'s)."""
    cls = list(classes) if classes is not None else shared_classes(real_labels, synthetic_labels, min_n=1)
    if len(cls) < 2:
        return {"concordance_jaccard": float("nan"), "concordance_spearman": float("nan"), "per_class": {},
                "real_importance": None}
    Ir = real_importance if real_importance is not None else _importance(real, real_labels, cls, how=importance,
                                                                          seed=seed)
    Is = _importance(synthetic, synthetic_labels, cls, how=importance, seed=seed)
    k = min(top_k, Ir.shape[1])
    tr = np.argsort(-Ir, axis=1, kind="stable")[:, :k]
    ts = np.argsort(-Is, axis=1, kind="stable")[:, :k]
    inter = np.array([len(np.intersect1d(a, b)) for a, b in zip(tr, ts)])
    jac = inter / (2 * k - inter)
    rho = _row_spearman(Ir, Is)
    return {"concordance_jaccard": float(jac.mean()),
            "concordance_spearman": float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan"),
            "per_class": {c: {"concordance_jaccard": float(j), "top_real": tr[i].tolist(), "top_synthetic":
                              ts[i].tolist()} for i, (c, j) in enumerate(zip(cls, jac))},
            "real_importance": Ir}


# ============================================================================ 4. gene sets
def read_gmt(path: str | Path) -> dict[str, list[str]]:
    """Gene sets of a GMT file (MSigDB format): one set a line, ``name<TAB>description<TAB>gene<TAB>gene...``.

    Empty lines and lines starting with ``#`` are skipped; empty gene fields are ignored. A missing file, a
    line without a gene, a repeated set name or a file without any set is a :class:`rnagen.errors.DataError`.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"gene-set file {str(p)!r} does not exist; pass a GMT file (name, description, genes "
                        "separated by tabs)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read gene-set file {str(p)!r} as UTF-8 text ({type(e).__name__}); pass a GMT "
                        "text file") from None
    sets: dict[str, list[str]] = {}
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rstrip("\r\n").split("\t")
        genes = [g.strip() for g in parts[2:] if g.strip()]
        name = parts[0].strip()
        if not name or not genes:
            raise DataError(f"{p.name} line {i}: a GMT line needs a set name, a description and at least one "
                            "gene, separated by tabs")
        if name in sets:
            raise DataError(f"{p.name} line {i}: gene set {name!r} appears twice; give each set a unique name")
        sets[name] = list(dict.fromkeys(genes))
    if not sets:
        raise DataError(f"gene-set file {str(p)!r} holds no gene set; pass a GMT file with one set a line")
    return sets


def gene_set_index(gene_sets: str | Path | Mapping[str, Sequence[Any]], genes: Sequence[str] | None,
                   n_genes: int, *, min_size: int = 2, dropped: list[str] | None = None) -> dict[str, np.ndarray]:
    """Column indices of each gene set's genes in the data (gene names matched exactly, then case-blind, then
    through the gene tables: :func:`rnagen._genes.match_genes`, which refuses a name several columns answer to).

    ``gene_sets`` is a GMT path or a mapping of set name to gene names (or, for arrays without gene names,
    column indices). Sets with fewer than ``min_size`` genes in the data are left out (their names appended to
    ``dropped`` when given); none left is an error.
    """
    sets = read_gmt(gene_sets) if isinstance(gene_sets, (str, Path)) else dict(gene_sets)
    exact = {str(g): i for i, g in enumerate(genes)} if genes is not None else {}
    blind = {str(g).upper(): i for i, g in enumerate(genes)} if genes is not None else {}
    # names by another ID type than the data's (symbols in the GMT, Entrez IDs in the data): matched through the
    # gene tables, as the data sets' own genes are, in one pass over every set's names
    other = sorted({str(m) for members in sets.values() for m in members
                    if not isinstance(m, (int, np.integer)) and str(m) not in exact and str(m).upper() not in blind})
    via_table: dict[str, int] = {}
    if other and genes is not None:
        from .._genes import match_genes

        # names of no gene ID type match exactly only; a name two of the data's columns answer to (two versions of
        # its Ensembl ID) is refused naming them, as where one gene is matched elsewhere
        hits = match_genes(other, [str(g) for g in genes], unique=True, where="the data (gene sets)")
        via_table = {m: h for m, h in zip(other, hits) if h is not None}
    out: dict[str, np.ndarray] = {}
    for name, members in sets.items():
        idx = []
        for m in members:
            if isinstance(m, (int, np.integer)) and not isinstance(m, bool):
                if not 0 <= int(m) < n_genes:
                    raise DataError(f"gene set {name!r}: column index {m} outside 0..{n_genes - 1}")
                idx.append(int(m))
            elif genes is None:
                raise DataError("gene sets by name need gene names: pass AnnData inputs, or give the sets as "
                                "column indices")
            elif str(m) in exact:
                idx.append(exact[str(m)])
            elif str(m).upper() in blind:
                idx.append(blind[str(m).upper()])
            elif str(m) in via_table:
                idx.append(via_table[str(m)])
        idx = sorted(set(idx))
        if len(idx) >= min_size:
            out[str(name)] = np.asarray(idx, dtype=np.int64)
        elif dropped is not None:
            dropped.append(str(name))
    if not out:
        raise DataError(f"none of the {len(sets)} gene sets has {min_size} or more genes of the data; check that "
                        "the GMT file uses the data's gene identifiers (symbols, Entrez or Ensembl)")
    return out


def gene_set_scores(X: np.ndarray, sets: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per-sample score of each set (columns, in ``sets`` order): the mean of the set's z-scored genes."""
    X = np.asarray(X, np.float64)
    return np.stack([X[:, idx].mean(1) for idx in sets.values()], axis=1)


def gene_set_ks(real: np.ndarray, synthetic: np.ndarray, sets: Mapping[str, np.ndarray]) -> np.ndarray:
    """Two-sample Kolmogorov-Smirnov statistic of each set's score, real vs synthetic."""
    a, b = gene_set_scores(real, sets), gene_set_scores(synthetic, sets)
    return np.atleast_1d(stats.ks_2samp(a, b, axis=0).statistic)


# ============================================================================ scorers
def _opts(ctx: EvalContext) -> BiologyOptions:
    return BiologyOptions.from_any(getattr(ctx, "biology", None))


def _labelled_sets(ctx: EvalContext) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The held-out set and its labels, and the labelled sets judged against it: the synthetic set, then the
    real-vs-real reference (the ceiling) when there is a training set."""
    if ctx.real_labels is None or ctx.synthetic_labels is None:
        raise DataError("the biology indicators need class labels; pass --label-key")
    judged = [(ctx.synthetic, ctx.synthetic_labels)]
    if ctx.reference is not None and ctx.reference_labels is not None:
        judged.append((ctx.reference, ctx.reference_labels))
    return ctx.real, ctx.real_labels, judged


def _no_result(names: Sequence[str]) -> dict[str, Any]:
    """The result of a set that cannot be scored (the reference lacking the classes): NaN, no per-class rows."""
    return {**dict.fromkeys(names, np.nan), "per_class": {}}


def _two_classes_note(what: str, yr: np.ndarray, ys: np.ndarray) -> str | None:
    """Why ``what`` is not reported when the held-out or the synthetic set holds fewer than two classes (one
    class has no rest to be compared with), else ``None``."""
    n_r, n_s = len(set(np.asarray(yr).tolist())), len(set(np.asarray(ys).tolist()))
    if min(n_r, n_s) >= 2:
        return None
    return (f"{what} needs two classes or more in the held-out and the synthetic set (the held-out set has {n_r}, "
            f"the synthetic set {n_s}): not reported")


def _reference_classes(classes: Sequence[str], yr: np.ndarray, yref: np.ndarray, min_n: int = 2) -> list[str]:
    """Of the classes the synthetic set is scored on, those the reference (a training subsample) also has
    ``min_n`` profiles of: the reference is scored on these, and the synthetic set's classes never depend on it
    (its value, and its floor's, would change with the subsample drawn)."""
    ok = set(shared_classes(yr, yref, min_n=min_n))
    return [c for c in classes if c in ok]


def _rows(ctx: EvalContext, names: Sequence[str], res: list[dict], *, group: str | None = None) -> list:
    """Rows of ``names`` from the synthetic set's result ``res[0]``, the reference from ``res[1]`` if any;
    overall rows unless ``group`` names a class or a pair."""
    return [ctx.row(m, res[0][m], reference=res[1][m] if len(res) > 1 else np.nan, group=group) for m in names]


def _per_class_rows(ctx: EvalContext, name: str, res: list[dict]) -> list:
    """Per-class rows of ``name`` from the results' ``per_class`` entries."""
    ref = res[1]["per_class"] if len(res) > 1 else {}
    return [ctx.row(name, v[name], reference=ref.get(c, {}).get(name, np.nan), group=c)
            for c, v in res[0]["per_class"].items()]


def _de_function(ctx: EvalContext, o: BiologyOptions, sets: list[np.ndarray]):
    """``de(i, labels, classes=, versus=)``: the DE of ``sets[i]`` (held-out, synthetic, reference) with the
    configured test; DESeq2 runs on the same sets' raw counts (``ctx.counts``)."""
    if o.de_test != "deseq2":
        kw: dict[str, Any] = {"scale": ctx.gene_scale, "test": o.de_test, "fdr": o.fdr, "min_lfc": o.min_lfc}
        return lambda i, y, **more: _differential_expression(sets[i], y, **kw, **more)
    counts = ctx.counts or {}
    names = ["real", "synthetic", "reference"][:len(sets)]
    missing = [n for n in names if n not in counts]
    if missing:
        raise DataError(f"biology de_test=deseq2 needs raw counts, but the {', '.join(missing)} set(s) are on a log "
                        "scale or transformed; pass non-logged counts or use de_test=welch")
    return lambda i, y, **more: deseq2_de(counts[names[i]], y, fdr=o.fdr, min_lfc=o.min_lfc, **more)


def pair_group(a: str, b: str, labels: Sequence[np.ndarray]) -> str:
    """The ``group`` of the rows of the DE pair ``a`` against ``b``: ``"a vs b"``, with ``" (pair)"`` added (as
    often as needed) where a class of ``labels`` bears that name, whose own per-class rows keep it: a label may be
    any text, and the two kinds of row must not share a group."""
    named = {str(c) for y in labels for c in np.unique(np.asarray(y).astype(str))}
    group = f"{a} vs {b}"
    while group in named:
        group += " (pair)"
    return group


@scorer("biology_de", order=200, metrics=_DE, timing="biology")
def score_de(ctx: EvalContext) -> Scored:
    """DE recovery of the synthetic set and of the real-vs-real reference against the held-out set."""
    o = _opts(ctx)
    R, yr, judged = _labelled_sets(ctx)
    want = [m for m in _DE if ctx.wants(m)]
    ys = judged[0][1]
    if (note := _two_classes_note("differential expression (each class against the rest)", yr, ys)) is not None:
        return Scored([ctx.row(m, np.nan) for m in want], {"biology_de": {"note": note}})
    classes = shared_classes(yr, ys)
    if not classes:
        return Scored([ctx.row(m, np.nan) for m in want], {"biology_de": {"note": (
            "no class has 2 profiles or more in both the held-out and the synthetic set: differential expression "
            "not reported")}})
    de = _de_function(ctx, o, [R] + [X for X, _ in judged])
    real = de(0, yr, classes=classes)
    res = [de_recovery(real, de(1, ys, classes=classes))]
    if len(judged) > 1:
        rc = _reference_classes(classes, yr, judged[1][1])
        res.append(de_recovery(real if rc == classes else de(0, yr, classes=rc), de(2, judged[1][1], classes=rc))
                   if rc else _no_result(_DE))
    rows = _rows(ctx, want, res)
    if ctx.wants("de_f1"):
        rows += _per_class_rows(ctx, "de_f1", res)
    if o.de_pair is not None:
        a, b = (str(x) for x in o.de_pair)
        if not all(a in set(y) and b in set(y) for y in (yr, ys)):
            raise DataError(f"biology de_pair {o.de_pair!r}: both classes must be present in the held-out and the "
                            "synthetic set")
        real_ab = de(0, yr, classes=[a], versus=b)
        res_ab = [de_recovery(real_ab, de(i, y, classes=[a], versus=b)) if a in set(y) and b in set(y)
                  else _no_result(_DE) for i, (_, y) in enumerate(judged, start=1)]
        rows += _rows(ctx, want, res_ab, group=pair_group(a, b, [yr] + [y for _, y in judged]))
    # distinct genes DE in some class (with two classes each gene is up in one and down in the other: its calls
    # counted once per class would double it), and the calls per class and gene
    return Scored(rows, {"biology_de": {"real_de_genes": int((real.up | real.down).any(axis=0).sum()),
                                        "real_de_calls": int(real.up.sum() + real.down.sum()),
                                        "classes": len(classes)}})


@scorer("biology_coexpr", order=210, metrics=_COEXPR, timing="biology")
def score_coexpr(ctx: EvalContext) -> Scored:
    """Pooled within-class co-expression recovery, then per class where every set has enough profiles."""
    o = _opts(ctx)
    R, yr, judged = _labelled_sets(ctx)
    kw: dict[str, Any] = {"threshold": o.coexpr_threshold, "block_genes": o.block_genes}
    scale = ctx.gene_scale if ctx.gene_scale is not None else 1.0
    log_var = R.var(0, dtype=np.float64) * np.square(scale)  # in log2 units: the z-scores' variance is ~1
    by_var = np.argsort(-log_var, kind="stable")
    # the pooled network of every gene up to COEXPR_GENES, of the most variable genes above (its G x G pairs)
    pooled = np.sort(by_var[:COEXPR_GENES]) if R.shape[1] > COEXPR_GENES else slice(None)
    res = _coexpression_recovery(R[:, pooled], [X[:, pooled] for X, _ in judged], real_labels=yr,
                                 other_labels=[y for _, y in judged], **kw)
    rows = _rows(ctx, [m for m in _COEXPR if ctx.wants(m)], res)
    own = shared_classes(yr, judged[0][1], min_n=o.coexpr_min_class)
    ref_own = set(_reference_classes(own, yr, judged[1][1], o.coexpr_min_class)) if len(judged) > 1 else set()
    genes = np.sort(by_var[:o.coexpr_class_genes])
    for c in own:
        sets = [X[y == c][:, genes] for X, y in judged[:2 if c in ref_own else 1]]
        rc = _coexpression_recovery(R[yr == c][:, genes], sets, **kw)
        if ctx.wants("coexpr_edge_f1"):
            rows += _rows(ctx, ["coexpr_edge_f1"], rc, group=c)
    attrs: dict[str, Any] = {"real_edges": res[0]["real_edges"], "synthetic_edges": res[0]["synthetic_edges"],
                             "classes_with_own_network": own}
    if R.shape[1] > COEXPR_GENES:
        attrs["genes"] = COEXPR_GENES
        attrs["note"] = (f"the pooled co-expression network is over the {COEXPR_GENES} genes most variable in the "
                         f"held-out set (log2 units), not all {R.shape[1]}: the network of every gene pair grows "
                         "with the square of the genes")
    return Scored(rows, {"biology_coexpr": attrs})


@scorer("biology_concordance", order=220, metrics=_CONC, timing="biology")
def score_concordance(ctx: EvalContext) -> Scored:
    """Top-gene concordance of the classifiers trained on real held-out and on synthetic profiles."""
    o = _opts(ctx)
    R, yr, judged = _labelled_sets(ctx)
    if o.top_k >= R.shape[1]:
        # every gene is among the top genes of both classifiers: a Jaccard of 1 whatever the sets, no measurement
        note = (f"top_k = {o.top_k} is not below the number of genes ({R.shape[1]}): concordance_jaccard would be 1 "
                f"whatever the sets, so it is not reported; biology top_k below {R.shape[1]} measures it")
        rows = [ctx.row("concordance_jaccard", np.nan)] if ctx.wants("concordance_jaccard") else []
        if ctx.wants("concordance_spearman"):
            o = replace(o, top_k=R.shape[1] - 1)   # the Spearman correlation reads every gene
        else:
            return Scored(rows, {"biology_concordance": {"note": note}})
    else:
        note, rows = None, []
    two = _two_classes_note("the top-gene concordance (classifiers of the classes)", yr, judged[0][1])
    if two is not None:
        have = {r["name"] for r in rows}
        return Scored(rows + [ctx.row(m, np.nan) for m in _CONC if ctx.wants(m) and m not in have],
                      {"biology_concordance": {"note": two if note is None else f"{note}; {two}"}})
    kw: dict[str, Any] = {"top_k": o.top_k, "importance": o.importance, "seed": o.seed}
    classes = shared_classes(yr, judged[0][1], min_n=1)
    res: list[dict] = []
    for X, y in judged:  # the real classifier is fitted once (again only for a reference lacking classes)
        cls = classes if not res else _reference_classes(classes, yr, y, 1)
        res.append(_classifier_concordance(R, yr, X, y, real_importance=res[0]["real_importance"]
                                          if res and cls == classes else None, classes=cls, **kw))
    if note is not None:
        return Scored(rows + _rows(ctx, ["concordance_spearman"], res), {"biology_concordance": {"note": note}})
    rows = _rows(ctx, [m for m in _CONC if ctx.wants(m)], res)
    if ctx.wants("concordance_jaccard"):
        rows += _per_class_rows(ctx, "concordance_jaccard", res)
    return Scored(rows)


@scorer("biology_genesets", order=230, metrics=("geneset_ks",), timing="biology")
def score_genesets(ctx: EvalContext) -> Scored:
    """Mean KS distance of the gene-set score distributions (synthetic and reference vs real held-out)."""
    sets = getattr(ctx, "gene_sets", None)
    if not sets:
        return Scored()
    ks = gene_set_ks(ctx.real, ctx.synthetic, sets)
    ref = float(gene_set_ks(ctx.real, ctx.reference, sets).mean()) if ctx.reference is not None else np.nan
    return Scored([ctx.row("geneset_ks", float(ks.mean()), reference=ref)],
                  {"geneset_ks": {"n_sets": len(sets), "per_set": dict(zip(sets, map(float, ks)))}})
