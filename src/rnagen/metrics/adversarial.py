"""Nearest-neighbour adversarial accuracy (Yale et al. 2020) and the privacy loss derived from it."""
from __future__ import annotations

import numpy as np

from . import _knn
from ._registry import register

register("aa_ts", family="adversarial", direction=0.5,
         source="Yale, Dash, Dutta, Guyon, Pavao, Bennett 2020, Neurocomputing",
         definition="AA_ts = 1/2 [mean_T 1(d_TS > d_TT) + mean_S 1(d_ST > d_SS)] from 1-NN distances within "
                    "and across the real (T) and synthetic (S) sets; 0.5 ideal, ~1 separable, ~0 copying")
register("aa_truth", family="adversarial", direction=0.5, source="Yale et al. 2020",
         definition="share of real profiles whose nearest synthetic profile is farther than their nearest "
                    "other real profile (the real half of AA_ts)")
register("aa_syn", family="adversarial", direction=0.5, source="Yale et al. 2020",
         definition="share of synthetic profiles whose nearest real profile is farther than their nearest "
                    "other synthetic profile (the synthetic half of AA_ts)")
register("privacy_loss", family="adversarial", direction=0.0, needs=("train",),
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
    d_tt = _knn.knn(real, k=1, exclude_self=True, squared=True)[0][:, 0]
    d_ss = _knn.knn(fake, k=1, exclude_self=True, squared=True)[0][:, 0]
    d_ts, d_st = cross_nn2(real, fake)
    res = aa_from_distances(d_tt, d_ts, d_ss, d_st)
    return {k: res[k] for k in ("aa_ts", "aa_truth", "aa_syn")}


def privacy_loss(test, train, fake) -> float:
    """AA_ts(test, fake) - AA_ts(train, fake) (Yale et al. 2020). Use a training subset of the test set's
    size so the two AA values are comparable."""
    return adversarial_accuracy(test, fake)["aa_ts"] - adversarial_accuracy(train, fake)["aa_ts"]
