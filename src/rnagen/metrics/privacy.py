"""Privacy: are synthetic profiles copies, or near-copies, of training profiles?"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError
from . import _knn
from ._bootstrap import centred_ci, mean_ci, share_floor
from ._checks import check_sets
from ._registry import Scored, register, scorer

if TYPE_CHECKING:
    from ._context import EvalContext

register("dcr_share", lower=0.0, upper=1.0, family="privacy", direction=0.5, needs=("train",),
         source="distance to closest record (Park et al. 2018; synthcity / SynthEval 'DCR share')",
         definition="share of synthetic profiles strictly closer to their closest training profile than to "
                    "any held-out real profile (ties count 1/2); target n_train / (n_train + n_holdout), "
                    "the value for profiles exchangeable with real ones (0.5 for equal sizes); 1 = copies")
register("dcr_ratio", lower=0.0, family="privacy", direction=1.0, needs=("train",),
         source="distance to closest record",
         definition="median DCR to the training set / median DCR to the held-out set (< 1: memorisation)")
register("near_copy_share", lower=0.0, upper=1.0, family="privacy", direction="lower", needs=("train",),
         source="distance to closest record with a real-data threshold",
         definition="share of synthetic profiles closer to a training profile than 99% of held-out real "
                    "profiles are (threshold = 1% quantile of held-out-to-training DCR)")


def dcr(synthetic, train, holdout, *, quantile: float = 0.01) -> dict:
    """Distance to closest record of synthetic profiles to training vs held-out real profiles.

    Parameters
    ----------
    synthetic, train, holdout
        Arrays with the same columns; ``holdout`` is real data the generator never saw (the test split).
    quantile
        Near-copy threshold: a synthetic profile is flagged when its distance to the closest training
        profile is below this quantile of the held-out profiles' own distances to their closest training
        profile (a genuinely new real profile is that close only ``quantile`` of the time; held-out profiles
        that are training profiles too are left out of it, or a sample in the data twice would set it at 0 and
        hide every near copy). Exact copies (distance 0) are always flagged.

    Returns
    -------
    dict
        ``dcr_train``, ``dcr_holdout`` (per synthetic profile; ``dcr_train`` against the full training set),
        ``share_closer_to_train`` (for a synthetic profile exchangeable with real ones, its closest record in
        train + holdout is a training record with probability ``expected_share`` = n_train / (n_train +
        n_holdout)), ``expected_share``, ``median_dcr_train``, ``median_dcr_holdout``, ``ratio``, ``threshold``,
        ``flagged`` (indices of flagged synthetic profiles), ``flagged_train_index`` (their closest training
        profile), ``near_copy_share``, and ``_share_terms`` (per-profile 0/0.5/1 terms).
    """
    if not (isinstance(quantile, (int, float)) and 0.0 <= float(quantile) <= 1.0):
        raise DataError(f"quantile must be between 0 and 1, got {quantile!r}")
    synthetic, train, holdout = check_sets([synthetic, train, holdout], ["synthetic", "train", "holdout"],
                                           func="dcr")
    S, T, H = (_knn.as_tensor(a) for a in (synthetic, train, holdout))
    st = _knn.cross_pass(S, T)
    sh = _knn.cross_pass(S, H)
    return dcr_from_neighbours(np.sqrt(st.a_nn2), st.a_nn, np.sqrt(sh.a_nn2), np.sqrt(_knn.cross_pass(H, T).a_nn2),
                               n_train=len(T), n_holdout=len(H), quantile=quantile,
                               holdout_in_train=_knn.same_profiles(np.asarray(holdout), np.asarray(train)))


def dcr_from_neighbours(d_tr: np.ndarray, i_tr: np.ndarray, d_ho: np.ndarray, ho_to_tr: np.ndarray, *,
                        n_train: int, n_holdout: int, quantile: float = 0.01,
                        holdout_in_train: np.ndarray | None = None) -> dict:
    """:func:`dcr` from nearest-neighbour distances already computed (e.g. by the passes of
    :func:`rnagen.metrics.evaluate`): ``d_tr``/``i_tr`` distance and index of each synthetic profile's closest
    training profile, ``d_ho`` its distance to the closest held-out profile, ``ho_to_tr`` each held-out
    profile's distance to its closest training profile; ``holdout_in_train`` marks the held-out profiles that
    are training profiles too, left out of the near-copy threshold (at distance 0 they would set it at 0 and
    hide every near copy)."""
    d_tr, d_ho, ho_to_tr = (np.asarray(x, np.float64) for x in (d_tr, d_ho, ho_to_tr))
    if holdout_in_train is not None and holdout_in_train.any() and not holdout_in_train.all():
        ho_to_tr = ho_to_tr[~np.asarray(holdout_in_train, bool)]
    i_tr = np.asarray(i_tr)
    share_terms = np.where(d_tr < d_ho, 1.0, np.where(d_tr == d_ho, 0.5, 0.0))
    thr = float(np.quantile(ho_to_tr, quantile))
    flag = (d_tr < thr) | (d_tr == 0)
    med_tr, med_ho = float(np.median(d_tr)), float(np.median(d_ho))
    return {"dcr_train": d_tr, "dcr_holdout": d_ho, "share_closer_to_train": float(share_terms.mean()),
            "expected_share": n_train / (n_train + n_holdout),
            "median_dcr_train": med_tr, "median_dcr_holdout": med_ho,
            "ratio": _median_ratio(med_tr, med_ho),
            "threshold": thr,
            "flagged": np.flatnonzero(flag), "flagged_train_index": i_tr[flag],
            "near_copy_share": float(flag.mean()), "_share_terms": share_terms, "_near_terms": flag}


def _median_ratio(med_tr: float, med_ho: float) -> float:
    """The DCR ratio of two median distances; copies of held-out profiles (median DCR to them 0, to training
    > 0) are infinitely far from memorising."""
    return med_tr / med_ho if med_ho > 0 else (float("inf") if med_tr > 0 else float("nan"))


# --------------------------------------------------------------------------------------------- scorer
def privacy_reference(T: np.ndarray, R: np.ndarray, rng: np.random.Generator, *, cap: int = 2000,
                      real_labels: np.ndarray | None = None, train_labels: np.ndarray | None = None,
                      neighbours: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                      groups: np.ndarray | None = None) -> dict:
    """DCR indicators of real profiles the "generator" never saw: the real-vs-real reference.

    The held-out set is split in two halves: H1 plays the synthetic set, H2 the held-out set, and a training
    subset T' (sized so that |T'| / |H2| = |T| / |R|, the same train : held-out ratio as the main computation,
    hence the same expected share) the training set; then H2 plays the synthetic set against H1 and another
    subset, and the terms of both are pooled: the reference scores as many profiles as the held-out set has,
    as a perfect generator does (one half alone has twice its variance). With labels the halves split each
    class and T' takes each class in that ratio to its held-out half: a random split leaves classes of H1 with
    no classmate in H2 (only in T'), which pulls the share above its exchangeable value when the held-out set
    has few profiles per class. The sets are dealt in the rows' content order (the same reference for any order
    of the rows). At most ``cap`` profiles of each half are scored, and the near-copy threshold is estimated
    from at most ``cap`` profiles of each (per-profile indicators: fewer profiles widen the spread, they do not
    shift the value), so the reference costs a small fraction of one pass over the data.

    The DCR ratio's reference is not read from the halves: a ratio of median distances depends on the numbers
    of candidates themselves, not only on their ratio, and halving both sides read it lower than a perfect
    generator scores against the whole sets where classes have few held-out profiles
    (``benchmarks/ceiling_check.py``). It is :func:`_ratio_reference`'s, against the whole sets less one
    profile each side; ``neighbours`` (each held-out profile's distance to and index of its closest training
    profile, and its distance to its closest other held-out profile, in the rows' order), where the caller has
    them, spare it its passes. ``groups`` (a label per held-out profile, equal for copies of one profile,
    :func:`rnagen.pp.copies.copy_labels`) keeps each profile's copies in one half: a copy in each would put a
    held-out profile at distance 0 from the stand-in synthetic one and read a perfect generator as closer to
    the held-out set than it is; in the DCR ratio's reference a held-out profile's own copies are left out of its
    candidates. Without copies the halves and the candidates are the profiles' own.
    """
    from ..pp.copies import first_of_group
    from ._classifiers import canonical_order

    def strings(y):
        return None if y is None else np.asarray(y).astype(str)

    yr, yt = strings(real_labels), strings(train_labels)
    # positions below are in content order (ro, to), mapped back when the rows are taken: no reordered copy of
    # the (possibly large) training set
    ro, to = canonical_order(R, yr), canonical_order(T, yt)
    yr = None if yr is None else yr[ro]
    yt = None if yt is None else yt[to]
    # each group of copies (named by its first position in content order; the positions themselves without
    # copies) dealt whole to one half
    g = first_of_group(None if groups is None else np.asarray(groups)[ro], len(R))
    members: dict[int, list[int]] = {}
    for i, gi in enumerate(g.tolist()):
        members.setdefault(gi, []).append(i)

    def rows(groups_: np.ndarray) -> np.ndarray:
        return np.asarray([i for gi in groups_.tolist() for i in members[gi]], dtype=np.int64)

    if yr is None or yt is None:
        perm = rng.permutation(np.unique(g))
        # as many groups as bring the first half nearest half the profiles
        sizes = np.cumsum([0] + [len(members[gi]) for gi in perm.tolist()])
        half = int(np.argmin(np.abs(sizes - len(R) // 2)))
        i1, i2 = rows(perm[:half]), rows(perm[half:])
    else:
        parts1, parts2 = [], []
        dealt: set[int] = set()
        for c in sorted(set(yr.tolist())):
            # a group of copies labelled two ways is dealt with its first class
            idx = rng.permutation(np.setdiff1d(np.unique(g[yr == c]), list(dealt)))
            dealt.update(idx.tolist())
            k = len(idx) // 2 + (rng.random() < 0.5 if len(idx) % 2 else 0)   # odd classes: the extra one at random
            parts1.append(rows(idx[:k]))
            parts2.append(rows(idx[k:]))
        i1, i2 = (np.concatenate(p).astype(np.int64) for p in (parts1, parts2))
        if not len(i1) or not len(i2):   # classes of one profile each, all dealt to one half
            both = np.concatenate([i1, i2])
            # cut between groups of copies (each lies in a run of its own), nearest the middle
            cuts = np.r_[0, np.flatnonzero(g[both][1:] != g[both][:-1]) + 1, len(both)]
            cut = int(cuts[np.argmin(np.abs(cuts - len(both) // 2))])
            i1, i2 = both[:cut], both[cut:]

    def train_subset(ih):
        """training rows in the ratio |T| / |R| to the held-out part ``ih`` (per class with labels)"""
        if yr is None or yt is None:
            n = int(min(len(T), max(1, round(len(T) * len(ih) / len(R)))))
            return rng.choice(len(T), n, replace=False)
        parts = []
        for c in sorted(set(yr[ih].tolist())):
            pool = np.flatnonzero(yt == c)
            want = int(round(len(T) * int((yr[ih] == c).sum()) / len(R)))
            parts.append(rng.choice(pool, min(want, len(pool)), replace=False))
        it = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        return it if len(it) else rng.choice(len(T), 1, replace=False)

    # both halves play the synthetic set in turn (H1 against H2 and its training subset, H2 against H1 and
    # another), so the reference scores as many profiles as the held-out set has, as a perfect generator of the
    # held-out set's size does: one half alone has twice its variance
    terms: dict[str, list[np.ndarray]] = {"d_tr": [], "i_tr": [], "d_ho": [], "ho_to_tr": []}
    n_t = n_h = 0
    for q, h in ((i1, i2), (i2, i1)):
        it = train_subset(h)
        hq = R[ro[np.sort(rng.permutation(q)[:cap])]]
        hh = R[ro[np.sort(h)]]
        tp = T[to[np.sort(it)]]
        hs = hh[np.sort(rng.choice(len(hh), min(cap, len(hh)), replace=False))]
        st = _knn.cross_pass(hq, tp)
        terms["d_tr"].append(np.sqrt(st.a_nn2))
        terms["i_tr"].append(st.a_nn)
        terms["d_ho"].append(np.sqrt(_knn.cross_pass(hq, hh).a_nn2))
        terms["ho_to_tr"].append(np.sqrt(_knn.cross_pass(hs, tp).a_nn2))
        n_t, n_h = n_t + len(it), n_h + len(h)
    out = dcr_from_neighbours(*(np.concatenate(terms[k]) for k in ("d_tr", "i_tr", "d_ho", "ho_to_tr")),
                              n_train=n_t, n_holdout=n_h)
    if len(T) >= 2:
        out.update(_ratio_reference(T, R, ro, to, yr, yt, rng, cap=cap, neighbours=neighbours, groups=groups))
    return out


def _ratio_reference(T: np.ndarray, R: np.ndarray, ro: np.ndarray, to: np.ndarray, yr: np.ndarray | None,
                     yt: np.ndarray | None, rng: np.random.Generator, *, cap: int,
                     neighbours: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                     groups: np.ndarray | None = None) -> dict:
    """The DCR ratio of held-out profiles, each playing a perfect generator's profile against the whole sets
    with one profile swapped: held-out profile h is scored against the training set less one training profile
    t* of h's class (drawn at random; any class without labels) and the held-out set less h plus t*. t* is as
    new to h as the held-out profiles are, so h meets |T| - 1 training and |R| held-out candidates, as many of
    its class on the held-out side as a new profile meets: leaving h out alone (|R| - 1 held-out candidates)
    read the ratio as low as the halves do where a class has 4 held-out profiles. ``ro``, ``to`` are the
    content orders of the rows (and ``yr``, ``yt`` the labels in them), so that the draws do not depend on the
    rows' order; at most ``cap`` held-out profiles are scored. Only the profiles whose closest training profile
    is t* need a second neighbour: the passes are those of the DCR itself (``neighbours``, see
    :func:`privacy_reference`).

    ``groups`` (a label per held-out profile in the rows' order, equal for copies of one profile) leaves h's own
    copies out of the held-out candidates with h: a copy at distance 0 would read h, a new profile, as a copy of
    the held-out set, and the reference ratio as infinite where copies are many."""
    qp = np.sort(rng.permutation(len(R))[:cap])   # positions in content order
    if yr is None or yt is None:
        star = to[rng.integers(0, len(T), len(qp))]
    else:
        pools = {c: np.flatnonzero(yt == c) for c in set(yr[qp].tolist())}
        star = np.array([to[pools[c][rng.integers(len(pools[c]))]] if len(pools[c]) else to[rng.integers(len(T))]
                         for c in yr[qp]], dtype=np.int64)
    q = ro[qp]
    Rq = R[q]
    if neighbours is None:
        d1, i1 = (a[:, 0] for a in _knn.knn(Rq, T, k=1))
        d_rr = _knn.knn(Rq, R, k=2)[0][:, 1]   # the first is h itself, at 0
    else:
        d1, i1, d_rr = (np.asarray(a)[q] for a in neighbours)
    d_tr = np.asarray(d1, np.float64).copy()
    lost = np.flatnonzero(i1 == star)   # t* was the closest: the next one is
    if len(lost):
        d_tr[lost] = _knn.knn(Rq[lost], T, k=2)[0][:, 1]
    d_star = np.linalg.norm(Rq.astype(np.float64) - T[star].astype(np.float64), axis=1)
    d_rr = _outside_own_group(R, q, np.asarray(d_rr, np.float64), groups)
    d_ho = np.minimum(d_rr, d_star)
    med_tr, med_ho = float(np.median(d_tr)), float(np.median(d_ho))
    return {"median_dcr_train": med_tr, "median_dcr_holdout": med_ho,
            "ratio": _median_ratio(med_tr, med_ho)}


def _outside_own_group(R: np.ndarray, q: np.ndarray, d_rr: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """``d_rr`` (each held-out profile ``R[q]``'s distance to its closest other held-out profile) with the profiles
    that have copies in ``R`` (``groups``) measured to their closest held-out profile outside their own group
    instead: of a profile's ``size + 1`` nearest profiles (itself among them) at most ``size`` are its group's,
    so the first outside its group is its closest profile outside it. Unchanged without copies."""
    if groups is None:
        return d_rr
    g = np.asarray(groups)
    _, inv, sizes = np.unique(g, return_inverse=True, return_counts=True)
    size = sizes[inv.reshape(-1)][q]
    has = np.flatnonzero(size > 1)
    if not len(has):
        return d_rr
    out = d_rr.copy()
    d, idx = _knn.knn(R[q[has]], R, k=min(int(size[has].max()) + 1, len(R)))
    other = g[idx] != g[q[has]][:, None]
    first = np.argmax(other, axis=1)
    found = other[np.arange(len(has)), first]
    out[has] = np.where(found, d[np.arange(len(has)), first], np.inf)
    return out


def _dcr(ctx: EvalContext) -> dict:
    """DCR of the synthetic set against the full training set and the held-out set; the neighbour passes of
    the context are reused when the reference set is the whole training set."""
    R, S, T = ctx.real, ctx.synthetic, ctx.train
    assert T is not None  # the DCR indicators need a training set (registry needs)
    if ctx.reference is T:
        ts = ctx.reference_to_synthetic
        s_t2, s_t_idx = ts.b_nn2, ts.b_nn
        r_t2, r_t_idx = ctx.prdc_reference["_real_to_fake_nn2"], ctx.prdc_reference["_real_to_fake_nn"]
    else:
        st, rt = _knn.cross_pass(S, T), _knn.cross_pass(R, T)
        s_t2, s_t_idx, r_t2, r_t_idx = st.a_nn2, st.a_nn, rt.a_nn2, rt.a_nn
    seen = ctx.held_out_copies   # held-out profiles that are training profiles too (a sample in the data twice)
    if seen is None or len(seen) != len(R):
        seen = _knn.same_profiles(R, T)
    out = dcr_from_neighbours(np.sqrt(s_t2), s_t_idx, np.sqrt(ctx.prdc["_fake_to_real_nn2"]), np.sqrt(r_t2),
                              n_train=len(T), n_holdout=len(R), holdout_in_train=seen)
    # the held-out profiles' own neighbours, for the reference (privacy_reference)
    out["_held_out_neighbours"] = (np.sqrt(r_t2), np.asarray(r_t_idx), np.sqrt(ctx.real_knn2[:, 0]))
    return out


def dcr_replicates(ctx: EvalContext) -> tuple[list[dict], float]:
    """The DCR indicators recomputed on ``n_boot_expensive`` subsamples of the held-out, the synthetic and the
    training set together (:meth:`~rnagen.metrics._context.EvalContext.subsample_replicates`), and the factor that
    scales their spread to the full sets'. Each synthetic profile's term depends on the training and held-out
    sets it is measured against: resampling the terms alone leaves out their variation, and its intervals cover
    a perfect generator's share less often than their level where the synthetic set is larger than the held-out
    set (``benchmarks/ci_coverage.py --privacy``). The same share of each set keeps the expected share
    n_train / (n_train + n_holdout)."""
    R, S, T = ctx.real, ctx.synthetic, ctx.train
    assert T is not None
    seen = ctx.held_out_copies

    def one(ir: np.ndarray, i_s: np.ndarray, it: np.ndarray) -> dict:
        r, s, t = R[ir], S[i_s], T[it]
        st = _knn.cross_pass(s, t)
        copies = None if seen is None or len(seen) != len(R) else np.asarray(seen, bool)[ir]
        return dcr_from_neighbours(np.sqrt(st.a_nn2), st.a_nn, np.sqrt(_knn.cross_pass(s, r).a_nn2),
                                   np.sqrt(_knn.cross_pass(r, t).a_nn2), n_train=len(t), n_holdout=len(r),
                                   holdout_in_train=copies)

    return ctx.subsample_replicates("privacy_subsamples", [(R, ctx.real_labels), (S, ctx.synthetic_labels),
                                                           (T, ctx.train_labels)], 2, one)


@scorer("privacy", order=30, metrics=("dcr_share", "dcr_ratio", "near_copy_share"))
def score_privacy(ctx: EvalContext) -> Scored:
    """DCR share (target: the train share of train + held-out), DCR ratio and near-copy share, with the
    real-vs-real reference of :func:`privacy_reference`; ``attrs`` name the flagged near copies. The CIs come from
    subsamples of the three sets (:func:`dcr_replicates`), the shares' at least their Wilson interval; where the
    sets are too small to subsample, the synthetic profiles' terms are resampled with the other sets fixed."""
    p = _dcr(ctx)
    nb, nbe = ctx.n_boot, ctx.n_boot_expensive
    assert ctx.train is not None
    ref = privacy_reference(ctx.train, ctx.real, ctx.stream("privacy_reference"), real_labels=ctx.real_labels,
                            train_labels=ctx.train_labels, neighbours=p["_held_out_neighbours"],
                            groups=ctx.real_copy_labels) if len(ctx.real) >= 4 else {}
    reps, scale = dcr_replicates(ctx) if ctx.wants("dcr_share") or ctx.wants("dcr_ratio") or \
        ctx.wants("near_copy_share") else ([], float("nan"))
    n_s = len(ctx.synthetic)

    def share_ci(key: str, terms: str, name: str) -> tuple[tuple[float, float], int]:
        """the interval of share ``key`` (indicator ``name``) and the replicates it took"""
        if len(reps) >= 2:
            return share_floor(ctx.subsample_ci(p[key], [r[key] for r in reps], scale), p[key], n_s), nbe
        return mean_ci(p[terms], n_boot=nb, rng=ctx.stream(name)), nb

    rows = []
    if ctx.wants("dcr_share"):
        ci, n = share_ci("share_closer_to_train", "_share_terms", "dcr_share")
        rows.append(ctx.row("dcr_share", p["share_closer_to_train"], ci,
                            ref.get("share_closer_to_train", np.nan), n_boot=n,
                            direction=f"target {p['expected_share']:.3g}"))
    if ctx.wants("dcr_ratio"):
        if len(reps) >= 2:
            ci = ctx.subsample_ci(p["ratio"], [r["ratio"] for r in reps], scale)
        else:
            ratios, rng = [], ctx.stream("dcr_ratio")
            o = np.lexsort((p["dcr_holdout"], p["dcr_train"]))   # resampled in an order of the distances
            d_train, d_holdout = p["dcr_train"][o], p["dcr_holdout"][o]
            for _ in range(nbe):
                i = rng.integers(0, n_s, n_s)
                ratios.append(np.median(d_train[i]) / max(np.median(d_holdout[i]), 1e-12))
            ci = centred_ci(p["ratio"], ratios)
        rows.append(ctx.row("dcr_ratio", p["ratio"], ci, ref.get("ratio", np.nan), n_boot=nbe))
    if ctx.wants("near_copy_share"):
        ci, n = share_ci("near_copy_share", "_near_terms", "near_copy_share")
        rows.append(ctx.row("near_copy_share", p["near_copy_share"], ci, ref.get("near_copy_share", np.nan),
                            n_boot=n))
    attrs = {"flagged_near_copies": p["flagged"].tolist(), "flagged_train_index": p["flagged_train_index"].tolist(),
             "near_copy_threshold": p["threshold"]}
    # synthetic profiles that are training profiles value for value (up to rounding): each discloses one training
    # profile whole, however few they are; the near-copy share's test against the real-vs-real reference and the
    # attacks' family-wise verdict need many to see them
    same = _knn.same_profiles(np.asarray(ctx.synthetic), np.asarray(ctx.train))
    if same.any():
        first = int(np.flatnonzero(same)[0]) + 1
        attrs["training_copies_note"] = (
            f"{int(same.sum())} of the {n_s} synthetic profiles are training profiles, every value the same up to "
            f"rounding (the first: synthetic row {first}, counting from 1): each discloses a training profile "
            "whole; do not release them")
    return Scored(rows, attrs)
