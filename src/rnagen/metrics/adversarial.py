"""Nearest-neighbour adversarial accuracy (Yale et al. 2020) and the privacy loss derived from it."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import _knn
from ._bootstrap import combo_ci
from ._checks import check_sets
from ._registry import Scored, register, scorer

if TYPE_CHECKING:
    from ._context import EvalContext

register("aa_ts", lower=0.0, upper=1.0, expensive=True, family="adversarial", direction=0.5,
         source="Yale, Dash, Dutta, Guyon, Pavao, Bennett 2020, Neurocomputing",
         definition="AA_ts = 1/2 [mean_T 1(d_TS > d_TT) + mean_S 1(d_ST > d_SS)] from 1-NN distances within "
                    "and across the real (T) and synthetic (S) sets; 0.5 ideal, ~1 separable, ~0 copying; "
                    "its distance from real data is read on its two halves (a set far from the data can "
                    "score AA_truth ~1 and AA_syn ~0, i.e. AA_ts ~0.5)",
         parts=("aa_truth", "aa_syn"))
register("aa_truth", lower=0.0, upper=1.0, expensive=True,
         family="adversarial", direction=0.5, source="Yale et al. 2020",
         definition="share of real profiles whose nearest synthetic profile is farther than their nearest "
                    "other real profile (the real half of AA_ts)")
register("aa_syn", lower=0.0, upper=1.0, expensive=True,
         family="adversarial", direction=0.5, source="Yale et al. 2020",
         definition="share of synthetic profiles whose nearest real profile is farther than their nearest "
                    "other synthetic profile (the synthetic half of AA_ts)")
register("privacy_loss", lower=-1.0, upper=1.0, family="adversarial", direction=0.0, needs=("train",), reference=False,
         source="Yale et al. 2020",
         definition="AA_ts(real held-out, synthetic) - AA_ts(real training, synthetic); large when the "
                    "synthetic set sits closer to the training profiles than to unseen ones")


def aa_from_distances(d_tt: np.ndarray, d_ts: np.ndarray, d_ss: np.ndarray, d_st: np.ndarray) -> dict:
    """Adversarial-accuracy terms from 1-NN distances (any monotone transform, e.g. squared, works).

    ``d_tt``: each real profile to its nearest other real profile; ``d_ts``: to its nearest synthetic one;
    ``d_ss``, ``d_st`` likewise for synthetic profiles. Returns per-sample boolean terms and the three means.
    """
    t_terms = np.asarray(d_ts) > np.asarray(d_tt)
    s_terms = np.asarray(d_st) > np.asarray(d_ss)
    aa_truth, aa_syn = float(t_terms.mean()), float(s_terms.mean())
    return {"aa_truth": aa_truth, "aa_syn": aa_syn, "aa_ts": 0.5 * (aa_truth + aa_syn),
            "_truth_terms": t_terms, "_syn_terms": s_terms}


def cross_nn2(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Squared distance of each row of ``a`` to its nearest row of ``b`` and vice versa (one blocked pass;
    the winning pairs recomputed exactly)."""
    c = _knn.cross_pass(a, b)
    return c.a_nn2, c.b_nn2


def adversarial_accuracy(real, fake) -> dict[str, float]:
    """Nearest-neighbour adversarial accuracy of Yale et al. (2020).

    AA_truth = mean_i 1[d_TS(i) > d_TT(i)], AA_syn = mean_j 1[d_ST(j) > d_SS(j)], AA_ts = (AA_truth +
    AA_syn) / 2, where d_TT(i) is the distance from real profile i to its nearest *other* real profile, d_TS(i)
    to its nearest synthetic profile, and d_SS, d_ST likewise for synthetic profiles. A 1-NN classifier
    that cannot tell the sets apart scores 0.5; separable sets score 1; a synthetic set made of copies of
    the real one scores 0 (every profile's nearest neighbour across is at distance 0, strictly closer than
    its nearest neighbour within, when the real profiles are distinct).

    Returns
    -------
    dict
        ``aa_ts``, ``aa_truth``, ``aa_syn``.
    """
    real, fake = check_sets([real, fake], ["real", "fake"], func="adversarial_accuracy", min_rows=2,
                            why="a nearest other profile")
    return _adversarial_accuracy(real, fake)


def _adversarial_accuracy(real, fake) -> dict[str, float]:
    """:func:`adversarial_accuracy` of sets checked already."""
    d_tt = _knn.knn(real, k=1, exclude_self=True, squared=True)[0][:, 0]
    d_ss = _knn.knn(fake, k=1, exclude_self=True, squared=True)[0][:, 0]
    d_ts, d_st = cross_nn2(real, fake)
    res = aa_from_distances(d_tt, d_ts, d_ss, d_st)
    return {k: res[k] for k in ("aa_ts", "aa_truth", "aa_syn")}


def privacy_loss(test, train, fake) -> float:
    """AA_ts(test, fake) - AA_ts(train, fake) (Yale et al. 2020). Use a training subset of the test set's
    size so the two AA values are comparable."""
    test, train, fake = check_sets([test, train, fake], ["test", "train", "fake"], func="privacy_loss", min_rows=2,
                                   why="a nearest other profile")
    return _adversarial_accuracy(test, fake)["aa_ts"] - _adversarial_accuracy(train, fake)["aa_ts"]


# --------------------------------------------------------------------------------------------- scorer
@scorer("adversarial", order=20, metrics=("aa_ts", "aa_truth", "aa_syn", "privacy_loss"), timing="neighbours")
def score_adversarial(ctx: EvalContext) -> Scored:
    """AA_ts and its halves from the shared neighbour passes (CIs from subsamples of both sets,
    :meth:`~rnagen.metrics._context.EvalContext.neighbour_ci`), and the privacy loss: AA_ts against the held-out
    set minus AA_ts against the training subsample (as many profiles as the synthetic set; its CI from the
    subsamples of the held-out, the synthetic and that training set together, each AA recomputed from its own
    neighbour passes; where the sets are too small to subsample, the per-profile terms resampled ``n_boot`` times
    with the neighbour structure fixed)."""
    main, kr, ks = ctx.prdc, ctx.real_knn2, ctx.synthetic_knn2
    aa = aa_from_distances(kr[:, 0], main["_real_to_fake_nn2"], ks[:, 0], main["_fake_to_real_nn2"])
    ref_aa = None
    if ctx.reference is not None:
        ref = ctx.prdc_reference
        ref_aa = aa_from_distances(kr[:, 0], ref["_real_to_fake_nn2"], ctx.reference_knn2[:, 0],
                                   ref["_fake_to_real_nn2"])
    nb, nbe = ctx.n_boot, ctx.n_boot_expensive
    rows = []
    for m in ("aa_ts", "aa_truth", "aa_syn"):
        if ctx.wants(m):
            rows.append(ctx.row(m, aa[m], ctx.neighbour_ci(m, aa[m]), ref_aa[m] if ref_aa else np.nan, n_boot=nbe))
    if ctx.wants("privacy_loss") and ctx.reference is not None:
        ts = ctx.reference_to_synthetic
        aa_tr = aa_from_distances(ctx.reference_knn2[:, 0], ts.a_nn2, ks[:, 0], ts.b_nn2)
        value = aa["aa_ts"] - aa_tr["aa_ts"]
        R, S, F = ctx.real, ctx.synthetic, ctx.reference

        def one(ir: np.ndarray, i_s: np.ndarray, i_f: np.ndarray) -> float:
            s = S[i_s]
            d_ss = _knn.knn(s, k=1, exclude_self=True, squared=True)[0][:, 0]   # shared by the two AA values

            def aa_ts(A: np.ndarray) -> float:
                d_ts, d_st = cross_nn2(A, s)
                return aa_from_distances(_knn.knn(A, k=1, exclude_self=True, squared=True)[0][:, 0], d_ts, d_ss,
                                         d_st)["aa_ts"]

            return aa_ts(R[ir]) - aa_ts(F[i_f])

        reps, scale = ctx.subsample_replicates("privacy_loss_subsamples", [(R, ctx.real_labels),
                                               (S, ctx.synthetic_labels), (F, ctx.reference_labels)], 2, one)
        if len(reps) >= 2:
            ci, n = ctx.subsample_ci(value, reps, scale), nbe
        else:
            ci = combo_ci([aa["_truth_terms"], aa["_syn_terms"], aa_tr["_truth_terms"], aa_tr["_syn_terms"]],
                          [0.5, 0.5, -0.5, -0.5], n_boot=nb, rng=ctx.stream("privacy_loss"))
            n = nb
        rows.append(ctx.row("privacy_loss", value, ci, n_boot=n))
    return Scored(rows)
