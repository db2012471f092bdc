"""The shared, immutable evaluation context every scorer of :func:`rnagen.metrics.evaluate` reads.

It holds the prepared sets (log scale, z-scored with the real training statistics; see
:func:`rnagen.metrics.evaluate.prepare`), their labels, the requested indicators, the bootstrap settings and
the seeded resampling stream, and computes the nearest-neighbour passes that several families share (PRDC,
adversarial accuracy, privacy) lazily, once.

The real-vs-real reference set (``reference``) is a subsample of the training set with as many profiles as
the synthetic set: scored in place of the synthetic set, it gives the value a perfect generator (one that
draws new real profiles) would get.
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import _knn
from ._registry import METRICS
from ._table import OVERALL_COLUMN, OVERALL_GROUP
from .fidelity import prdc_terms

__all__ = ["EvalContext"]

#: the indicators whose CIs come from subsamples of both sets (:meth:`EvalContext.neighbour_ci`)
NEIGHBOUR_INDICATORS = ("precision", "recall", "density", "coverage", "aa_ts", "aa_truth", "aa_syn")
#: the share of each set a subsample takes, and the most profiles of the larger set it takes
SUBSAMPLE_SHARE, SUBSAMPLE_MAX = 0.5, 2000
#: whether a subsample keeps each class's share of its set (labels known): the held-out set's and the synthetic
#: set's label mix are fixed by the split and the sampling, not drawn
STRATIFIED = True


def _subsample_plan(n: int, labels: np.ndarray | None, share: float, least: int) -> list[tuple[np.ndarray, int]]:
    """How a subsample of ``share`` of ``n`` rows is drawn: (positions, how many) per class of ``labels`` (each
    class its rounded share, at least one of a class with one row or more), or one group of all rows without
    labels; at least ``least`` rows in all where the set has them (the shortfall taken from the classes with the
    most rows left). Where the classes leave nothing out (one row each), the rows are drawn as one group."""
    if labels is None or not STRATIFIED:
        return [(np.arange(n), min(n, max(least, int(round(share * n)))))]
    y = np.asarray(labels).astype(str)
    plan = [(pos, max(1, int(round(share * len(pos))))) for pos in (np.flatnonzero(y == c) for c in np.unique(y))]
    short = least - sum(m for _, m in plan)
    while short > 0:
        spare = [len(pos) - m for pos, m in plan]
        i = int(np.argmax(spare))
        if spare[i] <= 0:
            break
        add = min(short, spare[i])
        plan[i] = (plan[i][0], plan[i][1] + add)
        short -= add
    if sum(m for _, m in plan) >= n:
        return _subsample_plan(n, None, share, least)
    return plan


def neighbour_indicators(R: np.ndarray, S: np.ndarray, k: int) -> dict[str, float]:
    """The :data:`NEIGHBOUR_INDICATORS` of ``S`` against ``R`` from the two sets' own neighbour passes (each set's
    k-NN balls, the cross nearest neighbours): what one subsample replicate recomputes."""
    from .adversarial import aa_from_distances

    kr = _knn.knn(R, k=k, exclude_self=True, squared=True)[0]
    ks = _knn.knn(S, k=k, exclude_self=True, squared=True)[0]
    t = prdc_terms(R, S, k=k, real_radii2=kr[:, -1], fake_radii2=ks[:, -1])
    aa = aa_from_distances(kr[:, 0], t["_real_to_fake_nn2"], ks[:, 0], t["_fake_to_real_nn2"])
    out = {m: float(np.mean(t[m])) for m in ("precision", "recall", "density", "coverage")}
    out.update({m: float(aa[m]) for m in ("aa_ts", "aa_truth", "aa_syn")})
    return out


def reference_rows(T: np.ndarray, train_labels: np.ndarray | None, synthetic_labels: np.ndarray | None, n: int,
                   rng: np.random.Generator) -> np.ndarray:
    """The training rows of the real-vs-real reference: ``n`` of them with the synthetic set's label mix where
    labels are known (as many of each class as the synthetic set has, while the class lasts; the rest at random),
    dealt in the rows' content order (:func:`~rnagen.metrics._classifiers.canonical_order`): the value a perfect
    generator sampled with that label mix gets, and the same for any order of the training rows. A random
    subsample mixes the classes otherwise and scores real data worse than such a generator (a Fréchet distance
    of the class means it shuffles)."""
    from ._classifiers import canonical_order

    order = canonical_order(T, None if train_labels is None else np.asarray(train_labels).astype(str))
    if train_labels is None or synthetic_labels is None:
        return np.sort(order[rng.choice(len(T), n, replace=False)])
    yt = np.asarray(train_labels).astype(str)[order]
    classes, want = np.unique(np.asarray(synthetic_labels).astype(str), return_counts=True)
    taken: list[np.ndarray] = []
    for c, m in zip(classes, want):
        pool = np.flatnonzero(yt == c)
        if len(pool):
            taken.append(rng.choice(pool, min(int(m), len(pool)), replace=False))
    chosen = np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)
    chosen = chosen[:n]
    if len(chosen) < n:   # classes the training set has too few of: the rest from the other training rows
        rest = np.setdiff1d(np.arange(len(T)), chosen)
        chosen = np.concatenate([chosen, rng.choice(rest, n - len(chosen), replace=False)])
    return np.sort(order[chosen])


def fits_outside(n_train: int, n_reference: int) -> bool:
    """Whether a training set of ``n_train`` profiles leaves enough outside a reference of ``n_reference`` (more
    than :data:`~rnagen.metrics.fidelity.PCA_COMPONENTS`) to fit the feature spaces on them."""
    from .fidelity import PCA_COMPONENTS

    return n_train - n_reference > PCA_COMPONENTS


def rows_outside(n_train: int, reference: np.ndarray | None, groups: np.ndarray | None = None
                 ) -> np.ndarray | None:
    """The training rows the feature spaces (z-scores, Fréchet PCA and classifier) are fitted on: those outside the
    reference where more than :data:`~rnagen.metrics.fidelity.PCA_COMPONENTS` are (:func:`fits_outside`), else
    ``None`` (all of them, the reference's own among them).

    ``groups`` (a label per training row, equal for the copies of one profile,
    :func:`rnagen.pp.copies.copy_labels`) leaves the copies of the reference's profiles out of the fits too: a
    copy in the fits puts the reference's own profile in them, and the reference reads closer to real data than
    new real profiles would. Without copies, the rows outside the reference."""
    from .fidelity import PCA_COMPONENTS

    if reference is None:
        return None
    out = np.setdiff1d(np.arange(n_train), reference)
    if groups is not None:
        g = np.asarray(groups)
        out = out[~np.isin(g[out], g[reference])]
    return out if len(out) > PCA_COMPONENTS else None


@dataclass(frozen=True)
class EvalContext:
    """Prepared inputs and settings of one evaluation (see the module docstring).

    ``real`` is the held-out real set, ``synthetic`` the set judged, ``train`` the real training set and
    ``reference`` its subsample of the synthetic set's size (both ``None`` without a training set), drawn from
    ``rng``. Each indicator's resampling draws from a stream of its own (:meth:`stream`).
    """

    real: np.ndarray
    synthetic: np.ndarray
    train: np.ndarray | None
    reference: np.ndarray | None
    real_labels: np.ndarray | None
    synthetic_labels: np.ndarray | None
    train_labels: np.ndarray | None
    want: tuple[str, ...]
    k: int
    n_boot: int
    n_boot_expensive: int
    seed: int
    classifier_seeds: tuple[int, ...]
    epochs: int
    rng: np.random.Generator = field(repr=False, compare=False)
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: labels of ``reference`` (the training rows it was drawn from)
    reference_labels: np.ndarray | None = None
    #: the rows of ``train`` the reference is drawn from, sorted (``None``: all of them, or no training set);
    #: set even where ``reference`` is left unset, so a floor's context fits the same feature spaces
    reference_index: np.ndarray | None = None
    #: the rows of ``train`` the feature spaces are fitted on (the z-scores, the Fréchet PCA and classifier):
    #: those outside the reference when more than 50 remain (``None``: all of them)
    fit_rows: np.ndarray | None = None
    #: per-gene factor from the z-scored values back to log2 units (the real training standard deviation)
    gene_scale: np.ndarray | None = None
    #: gene sets as column indices (``evaluate(..., gene_sets=...)``), for the gene-set indicators
    gene_sets: dict[str, np.ndarray] | None = None
    #: settings of the biology indicators (:class:`rnagen.metrics.biology.BiologyOptions`)
    biology: Any = None
    #: the raw counts of the sets given as counts (``real``, ``synthetic``, ``train``, ``reference``), for DESeq2
    counts: dict[str, np.ndarray] | None = None
    #: the membership-inference reference set (real profiles disjoint from ``real`` and ``train``), when given
    mia_reference: np.ndarray | None = None
    #: which held-out profiles are training profiles too (evaluate's check of the raw sets; ``None``: not known)
    held_out_copies: np.ndarray | None = None
    #: seed of the membership audit's partition of ``real`` (``None``: ``seed``)
    membership_seed: int | None = None
    #: the membership audit's index sets, given (``evaluate(..., membership_sets=...)``; ``None``: drawn)
    membership_index: dict[str, np.ndarray] | None = None
    #: options of the membership attacks (:func:`rnagen.metrics.membership.attack_scores`: ``density``,
    #: ``pca_dims``)
    membership_options: dict[str, Any] = field(default_factory=dict)
    #: the held-out profiles' sample ids (``None``: not known), for the warnings that name them
    real_names: Sequence[str] | None = None

    @classmethod
    def build(cls, prepared: dict, *, want: Sequence[str], k: int, n_boot: int, n_boot_expensive: int, seed: int,
              classifier_seeds: tuple[int, ...], epochs: int, gene_sets: dict[str, np.ndarray] | None = None,
              biology: Any = None, membership_seed: int | None = None,
              membership_index: dict[str, np.ndarray] | None = None,
              membership_options: dict[str, Any] | None = None, with_reference: bool = True) -> EvalContext:
        """The context of ``prepared`` (the output of ``prepare``); draws the reference subsample first.
        ``with_reference=False`` still draws it (the random stream is the same either way) but leaves
        ``reference`` unset, so no scorer computes a real-vs-real value."""
        rng = np.random.default_rng(seed)
        T, S, yt = prepared["train"], prepared["synthetic"], prepared["train_labels"]
        ref = ref_labels = rows = fit_rows = None
        counts = dict(prepared.get("counts") or {})
        if T is not None:
            n_sub = min(len(T), len(S))
            if "reference_rows" in prepared:   # drawn by prepare, before the z-scores fitted outside them
                rows, fit_rows = prepared["reference_rows"], prepared["fit_rows"]
            else:
                rows = reference_rows(T, yt, prepared["synthetic_labels"], n_sub, rng) if n_sub < len(T) else None
                groups = prepared.get("train_groups")
                if rows is not None and groups is None:
                    from ..pp.copies import copy_labels

                    groups = copy_labels(T)
                fit_rows = rows_outside(len(T), rows, groups)
            ref = T[rows] if rows is not None else T
            ref_labels = yt if yt is None or rows is None else yt[rows]
            if "train" in counts:
                counts["reference"] = counts["train"] if rows is None else counts["train"][rows]
            if not with_reference:
                ref = ref_labels = None
                counts.pop("reference", None)
        return cls(real=prepared["real"], synthetic=S, train=T, reference=ref,
                   real_labels=prepared["real_labels"], synthetic_labels=prepared["synthetic_labels"],
                   train_labels=prepared["train_labels"], want=tuple(want), k=k, n_boot=n_boot,
                   n_boot_expensive=n_boot_expensive, seed=seed, classifier_seeds=classifier_seeds, epochs=epochs,
                   rng=rng, reference_labels=ref_labels, reference_index=rows, fit_rows=fit_rows,
                   gene_scale=prepared.get("scale"),
                   gene_sets=gene_sets, biology=biology, counts=counts, mia_reference=prepared.get("mia_reference"),
                   membership_seed=membership_seed, membership_index=membership_index,
                   membership_options=dict(membership_options or {}), real_names=prepared.get("real_names"))

    def stream(self, name: str) -> np.random.Generator:
        """The random stream of indicator (or shared draw) ``name``: seeded by ``seed`` and the name alone, so an
        indicator's CI and reference are the same whichever other indicators are computed before it."""
        return np.random.default_rng([int(self.seed), zlib.crc32(name.encode())])

    def wants(self, name: str) -> bool:
        """Is indicator ``name`` requested (and computable from these inputs)?"""
        return name in self.want

    def row(self, name: str, value: float, ci: tuple[float, float] = (np.nan, np.nan), reference: float = np.nan,
            *, group: str | None = None, n_boot: int = 0, direction: str | None = None) -> dict[str, Any]:
        """One row of ``evaluate``'s table; direction and family come from the registry unless ``direction``
        (a data-dependent target, as text) is given. ``group``: the class (or pair of classes) the row is of;
        ``None`` for an overall row (its group :data:`~rnagen.metrics._table.OVERALL_GROUP`, and its
        :data:`~rnagen.metrics._table.OVERALL_COLUMN` true, so a class of that name stays apart)."""
        info = METRICS[name]
        lo, hi = float(ci[0]), float(ci[1])
        if info.lower is not None:   # a re-centred or Student-t interval can reach below 0, which no value does
            lo, hi = max(lo, info.lower), max(hi, info.lower)
        if info.upper is not None:   # nor can one of a share or an AUC pass 1
            lo, hi = min(lo, info.upper), min(hi, info.upper)
        return {"name": name, "group": OVERALL_GROUP if group is None else str(group), "value": float(value),
                "ci_low": lo, "ci_high": hi, "reference": float(reference),
                "direction": info.direction_text if direction is None else direction,
                "family": info.family, "n_boot": int(n_boot), OVERALL_COLUMN: group is None}

    #: cached passes that do not depend on the set judged (the real set's neighbours at ``k``, its copies in the
    #: training set and within itself, the PCA space and the classifier Fréchet distance's MLP fitted on training
    #: profiles): another set scored against the same prepared real and training sets (``evaluate``'s floor)
    #: reuses them, so it is measured in the same space
    REAL_SIDE = ("real_knn2", "held_out_copies", "real_copy_labels", "pca_space", "frechet_mlp", "classifier_space")

    def real_side(self) -> dict[str, Any]:
        """The :data:`REAL_SIDE` passes computed so far."""
        return {n: self.__dict__[n] for n in self.REAL_SIDE if n in self.__dict__}

    def adopt(self, passes: dict[str, Any]) -> None:
        """Take over another context's :data:`REAL_SIDE` passes (same real set, same ``k``)."""
        self.__dict__.update({n: v for n, v in passes.items() if n in self.REAL_SIDE})

    @cached_property
    def real_copy_labels(self) -> np.ndarray:
        """A label per held-out profile, equal for the copies of one profile (:func:`rnagen.pp.copies.copy_labels`
        on the prepared values): the parts the membership audit deals them to keep each group whole. Copies
        labelled two ways are warned of (:func:`rnagen.pp.copies.warn_mixed_labels`)."""
        from ..pp.copies import copy_labels, warn_mixed_labels

        labels = copy_labels(self.real)
        warn_mixed_labels(labels, self.real_labels, self.real_names,
                          what="the membership audit and the privacy reference deal each such profile's copies to "
                          "one part, with its first sample's class")
        return labels

    @cached_property
    def pca_space(self) -> Any:
        """The PCA space of the Fréchet distance (:class:`~rnagen.metrics.fidelity.PCASpace`, 50 components),
        fitted on the training profiles :attr:`fit_rows` names (the real set without a training set).
        Projections of the profiles a PCA was fitted on carry the variance the fit gave them, and a reference
        scored in its own fit's space sits above what a perfect generator (new real profiles) scores."""
        from .fidelity import PCA_COMPONENTS, PCASpace

        if self.train is None:
            return PCASpace(self.real, n_components=PCA_COMPONENTS)
        return PCASpace(self.train if self.fit_rows is None else self.train[self.fit_rows],
                        n_components=PCA_COMPONENTS)

    @cached_property
    def classifier_space(self) -> Any:
        """The classifiers' inputs on wide data (:class:`~rnagen.metrics._classifiers.PrincipalInputs`, above
        :data:`~rnagen.metrics._classifiers.WIDE_GENES` genes), fitted on the profiles the Fréchet PCA is
        (:attr:`pca_space`); ``None`` at most that many genes: the classifiers take the genes."""
        from ._classifiers import WIDE_GENES, PrincipalInputs

        if self.real.shape[1] <= WIDE_GENES:
            return None
        if self.train is None:
            return PrincipalInputs(self.real, source="real held-out")
        return PrincipalInputs(self.train if self.fit_rows is None else self.train[self.fit_rows])

    def classifier_input(self, name: str, rows: np.ndarray | None = None) -> np.ndarray | None:
        """Set ``name`` (``real``, ``synthetic``, ``train``, ``reference``) as the classifiers take it, its
        ``rows`` only when given: the genes, or on wide data its :attr:`classifier_space` inputs (each set
        projected once)."""
        X = getattr(self, name)
        if X is None or self.classifier_space is None:
            return X if X is None or rows is None else X[rows]
        key = f"classifier_input_{name}"
        if key not in self.memo:
            self.memo[key] = self.classifier_space(X)
        return self.memo[key] if rows is None else self.memo[key][rows]

    @property
    def reference_note(self) -> str | None:
        """Why the real-vs-real reference may read better than new real profiles would, when it does: the feature
        spaces were fitted on its own profiles."""
        from .fidelity import PCA_COMPONENTS

        if self.train is None or self.reference is None or self.fit_rows is not None:
            return None
        whole = self.reference_index is None
        why = ("the synthetic set is as large as the training set, so the reference is the training set itself"
               if whole else f"at most {PCA_COMPONENTS} training profiles lie outside the reference (and the copies "
               "of its profiles)")
        return (f"{why}: the z-scores, the Fréchet PCA and its classifier are fitted on the reference's own "
                "profiles, which then read closer to real data than new real profiles would (most where genes "
                "outnumber training profiles), and a generator's share of the distance to it better than it is; a "
                "synthetic set of the held-out set's size, or its part scored with fidelity_size='held-out' "
                "(--fidelity-size held-out), gets a reference outside the fits")

    # ------------------------------------------------------------------------ shared neighbour passes
    def _check_k(self) -> None:
        """The k-NN metrics need k + 1 profiles in every set (a profile's k neighbours exclude itself)."""
        sizes = {"real": len(self.real), "synthetic": len(self.synthetic),
                 "train": len(self.reference) if self.reference is not None else None}
        for what, n in sizes.items():
            if n is not None and n < self.k + 1:
                fix = f"lower --k (at most {n - 1}) or use more profiles" if n >= 2 else "use more profiles"
                raise ConfigError(f"k = {self.k} needs at least k + 1 = {self.k + 1} profiles in every set, but "
                                  f"the {what} set has {n}; {fix}")

    @cached_property
    def real_knn2(self) -> np.ndarray:
        """Squared distances of each real profile to its k nearest other real profiles."""
        self._check_k()
        return _knn.knn(self.real, k=self.k, exclude_self=True, squared=True)[0]

    @cached_property
    def synthetic_knn2(self) -> np.ndarray:
        """Squared distances of each synthetic profile to its k nearest other synthetic profiles."""
        self._check_k()
        return _knn.knn(self.synthetic, k=self.k, exclude_self=True, squared=True)[0]

    @cached_property
    def reference_knn2(self) -> np.ndarray:
        """Squared distances of each reference profile to its k nearest other reference profiles."""
        self._check_k()
        return _knn.knn(self.reference, k=self.k, exclude_self=True, squared=True)[0]

    @cached_property
    def prdc(self) -> dict[str, np.ndarray]:
        """PRDC terms of real vs synthetic, with the cross nearest-neighbour by-products (one blocked pass)."""
        return prdc_terms(self.real, self.synthetic, k=self.k, real_radii2=self.real_knn2[:, -1],
                          fake_radii2=self.synthetic_knn2[:, -1])

    def neighbour_replicates(self) -> tuple[dict[str, np.ndarray], float]:
        """Replicates of the :data:`NEIGHBOUR_INDICATORS` and the factor that scales their spread to the full sets'.

        Each of ``n_boot_expensive`` replicates draws the same share ``f`` of the real and the synthetic set without
        replacement (:data:`SUBSAMPLE_SHARE`, fewer where the larger set has more than :data:`SUBSAMPLE_MAX`
        profiles; at least ``k + 1`` of each; that share of each class where labels are known, :data:`STRATIFIED`,
        unless every class holds one profile) and recomputes the indicators from the subsamples' own neighbour
        passes: the k-NN balls and nearest neighbours change with both sets, which a resample of one set's
        per-profile terms with the other held fixed leaves out (its intervals cover the value less often than their
        level: ``benchmarks/ci_coverage.py``). Without replacement no profile meets its own copy, the flaw of a
        bootstrap of neighbour statistics. The spread of a statistic of ``f n`` of ``n`` profiles drawn without
        replacement is that of the full-size statistic times ``sqrt(f / (1 - f))`` (subsampling, Politis & Romano
        1994; exact for a mean; 1 at half the set). No replicates (empty arrays) with ``n_boot_expensive = 0`` or
        where a set is too small to leave profiles out."""
        if "neighbour_replicates" in self.memo:
            return self.memo["neighbour_replicates"]
        k = self.k

        def one(ir: np.ndarray, i_s: np.ndarray) -> dict[str, float]:
            return neighbour_indicators(self.real[ir], self.synthetic[i_s], k)

        got, scale = self.subsample_replicates("neighbour_subsamples",
                                               [(self.real, self.real_labels), (self.synthetic, self.synthetic_labels)],
                                               k + 1, one)
        out = ({m: np.asarray([g[m] for g in got], np.float64) for m in NEIGHBOUR_INDICATORS}, scale)
        self.memo["neighbour_replicates"] = out
        return out

    def subsample_replicates(self, stream: str, sets: Sequence[tuple[np.ndarray, np.ndarray | None]], least: int,
                             fn: Any) -> tuple[list[Any], float]:
        """``n_boot_expensive`` values of ``fn(*rows)``, ``rows`` each set's row indices of one subsample replicate,
        and the factor that scales their spread to the full sets' (:meth:`neighbour_replicates` says how the rows
        are drawn: the same share ``f`` of every set without replacement, per class where its labels (the second
        of each pair, or ``None``) are known, at least ``least`` rows of each, drawn in the rows' content order
        from the random stream ``stream``). No replicates (an empty list, factor NaN) with ``n_boot_expensive = 0``
        or where a set is too small to leave rows out."""
        from ._bootstrap import content_order

        ns = [len(a) for a, _ in sets]
        f = min(SUBSAMPLE_SHARE, SUBSAMPLE_MAX / max(ns))
        # each set's rows in their content order (the same rows for any order of a file's), drawn per class
        orders = [content_order(a) for a, _ in sets]
        plans = [_subsample_plan(n, None if y is None else np.asarray(y)[o], f, least)
                 for n, (_, y), o in zip(ns, sets, orders)]
        ms = [sum(m for _, m in plan) for plan in plans]
        reps: list[Any] = []
        if self.n_boot_expensive <= 0 or not all(least <= m < n for m, n in zip(ms, ns)):
            return reps, float("nan")
        rng = self.stream(stream)

        def draw(order: np.ndarray, plan: list[tuple[np.ndarray, int]]) -> np.ndarray:
            return np.sort(order[np.concatenate([rng.choice(pos, m, replace=False) for pos, m in plan])])

        for _ in range(self.n_boot_expensive):
            reps.append(fn(*[draw(o, plan) for o, plan in zip(orders, plans)]))
        share = sum(ms) / sum(ns)
        return reps, float(np.sqrt(share / (1.0 - share)))

    def subsample_ci(self, value: float, replicates: Sequence[float], scale: float) -> tuple[float, float]:
        """The CI of ``value`` from subsample ``replicates`` (:meth:`subsample_replicates`): their deviations from
        their mean, scaled by ``scale`` to the full sets', around ``value`` (NaN with fewer than two finite)."""
        from ._bootstrap import bootstrap_ci

        r = np.asarray(replicates, np.float64)
        r = r[np.isfinite(r)]
        if len(r) < 2 or not np.isfinite(value):
            return float("nan"), float("nan")
        return bootstrap_ci(value, value + scale * (r - r.mean()))

    def neighbour_ci(self, name: str, value: float) -> tuple[float, float]:
        """The CI of neighbour indicator ``name`` (value ``value``) from :meth:`neighbour_replicates`: their
        deviations from their mean, scaled to the full sets, around ``value``
        (:func:`~rnagen.metrics._bootstrap.bootstrap_ci`); a share of per-profile 0/1 terms (all but density)
        at least its Wilson interval (:func:`~rnagen.metrics._bootstrap.share_floor`: near a bound a subsample
        misses the few profiles on the other side, and the replicates repeat the value), over the profiles
        its terms belong to (AA_ts, the mean of its two halves: their effective number, 4 / (1/n_real +
        1/n_synthetic))."""
        from ._bootstrap import bootstrap_ci, share_floor

        reps, scale = self.neighbour_replicates()
        r = reps[name]
        if len(r) < 2:
            return float("nan"), float("nan")
        ci = bootstrap_ci(value, value + scale * (r - r.mean()))
        n_r, n_s = len(self.real), len(self.synthetic)
        terms = {"precision": n_s, "aa_syn": n_s, "recall": n_r, "coverage": n_r, "aa_truth": n_r,
                 "aa_ts": 4.0 / (1.0 / n_r + 1.0 / n_s)}
        return share_floor(ci, value, terms[name]) if name in terms else ci

    @cached_property
    def prdc_reference(self) -> dict[str, np.ndarray]:
        """PRDC terms of real vs the real-vs-real reference set."""
        return prdc_terms(self.real, self.reference, k=self.k, real_radii2=self.real_knn2[:, -1],
                          fake_radii2=self.reference_knn2[:, -1])

    @cached_property
    def reference_to_synthetic(self) -> _knn.CrossNeighbours:
        """Nearest neighbours between the reference set and the synthetic set (both directions)."""
        return _knn.cross_pass(self.reference, self.synthetic)
