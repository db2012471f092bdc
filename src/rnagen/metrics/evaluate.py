"""``evaluate``: every quality indicator of a synthetic set in one table, with CIs and real-vs-real references.

Preprocessing (the same for every set, so no metric is won by a scale difference):

1. Log scale: a set whose ``uns["rnagen"]["log"]`` says it is logged (or, without that record, whose values
   look logged by :func:`rnagen.pp.history.looks_logged`, or that has negative values, i.e. is already
   transformed) is used as is; otherwise ``log2(x + 1)`` is applied. Each set is judged on its own.
2. z-score every gene with the mean and standard deviation of the REAL TRAINING set (of the real set when
   no training set is given); constant genes get standard deviation 1. Synthetic data are never used to fit
   anything.

References: with ``train`` given, each fidelity/adversarial/detection metric is also computed for a
subsample of the training set (as many profiles as the synthetic set) in place of the synthetic set: the
value a perfect generator (one that draws new real profiles) would get. For utility metrics the reference
is TRTR (the classifier trained on real training data). For the DCR indicators the reference splits the
held-out set in halves, one playing the synthetic set (real profiles the generator never saw), the other the
held-out set, against a training subset keeping the train : held-out size ratio. ``privacy_loss`` has none
(its target, 0, is the real-vs-real value by construction).

Share of the gap closed: with ``floor`` (samples of the per-class Gaussian fitted on ``train``, passed in by
the caller, since this package fits no model) each fidelity-type indicator also gets the floor's value against
the same held-out and training sets and ``gap_closed`` = 1 - d(synthetic) / d(floor), d the distance from the
real-vs-real reference (the ceiling) on the indicator's side; see :mod:`rnagen.metrics.gap`.

Confidence intervals (95 %, percentile bootstrap, see :mod:`rnagen.metrics._bootstrap`): metrics that are
means of per-profile terms (precision, recall, density, coverage, AA, DCR shares, accuracy) resample those
terms ``n_boot`` times (default 1000) with the neighbour structure fixed; the others are recomputed on
resampled rows ``n_boot_expensive`` times (default 20): Fréchet distances (on the projected features),
correlation score and per-gene distances (m-out-of-n: replicates of at most 2,000 rows per set, spread
rescaled by sqrt(m/n)), MMD (on its 2,000-row subsample), macro-F1/AUC (resampling the test set), and
detection AUC (resampling the out-of-fold scores); their replicates are re-centred on the estimate (resampling
duplicates rows, which alone shifts a distance between sets), so the interval is the spread around it.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..config import check_number, check_seed
from ..errors import ConfigError, DataError
from . import _knn
from ._bootstrap import centred_ci, m_out_of_n_ci, mean_ci, percentile_ci, stat_ci
from ._registry import METRICS
from .gap import NO_GAP_NOTE, applies, gap_closed
from .adversarial import aa_from_distances
from .correlation import correlation_score
from .detection import binary_auc, detection_scores
from .fidelity import (PCASpace, _moments, gaussian_frechet, median_bandwidth, mmd, mmd_kernel, per_gene_distances,
                       per_gene_distances_boot, prdc_terms)
from .privacy import dcr_from_neighbours
from .utility import _macro_f1_and_per_class, augmentation, encode_labels, macro_auc, tstr

DEFAULT_METRICS: tuple[str, ...] = tuple(METRICS)

COLUMNS = ["name", "group", "value", "ci_low", "ci_high", "reference", "direction", "family", "n_boot"]
#: added by :func:`evaluate` after :data:`COLUMNS`: the floor's value and the share of the gap closed
GAP_COLUMNS = ["floor", "gap_closed"]


# --------------------------------------------------------------------------------------------- inputs
def _unpack(obj, label_key: str | None, labels, what: str) -> tuple[np.ndarray, np.ndarray | None, Any, bool | None]:
    """Return (X float32, labels or None, var_names or None, logged-flag-or-None)."""
    if obj is None:
        return None, None, None, None
    if hasattr(obj, "obs") and hasattr(obj, "X"):
        from ..pp.history import log_state

        X = obj.X.toarray() if hasattr(obj.X, "toarray") else np.asarray(obj.X)
        y = None
        if label_key is not None:
            if label_key not in obj.obs.columns:
                raise DataError(f"{what}: obs has no column {label_key!r} (columns: {list(obj.obs.columns)}); "
                                "pass the right --label-key")
            y = np.asarray(obj.obs[label_key].astype(str))
        st = log_state(obj)
        return np.asarray(X, np.float32), y, list(obj.var_names), (None if st is None else bool(st["logged"]))
    X = np.asarray(obj, np.float32)
    if X.ndim != 2:
        raise DataError(f"{what}: expected a 2-D samples x genes array, got shape {X.shape}")
    return X, (None if labels is None else np.asarray(labels).astype(str)), None, None


def _to_log(X: np.ndarray, logged: bool | None) -> tuple[np.ndarray, str]:
    from ..pp.history import looks_logged

    if logged is None:
        logged = looks_logged(X)
    if logged:
        return X, "as is (log scale)"
    if np.nanmin(X) < 0:
        # negative values: already centred/scaled by the user; logging again would be wrong
        return X, "as is (negative values: already transformed)"
    return np.log2(X + 1.0).astype(np.float32), "log2(x+1)"


def prepare(real, synthetic, train=None, *, label_key: str | None = None, real_labels=None,
            synthetic_labels=None, train_labels=None) -> dict:
    """Align genes, bring every set to log scale and z-score with the real training statistics.

    Returns a dict with ``real``, ``synthetic``, ``train`` (float32 arrays or None), their labels, and
    ``preprocessing`` (a description of what was done to each set).
    """
    R, yr, gr, lr = _unpack(real, label_key, real_labels, "real")
    S, ys, gs, ls = _unpack(synthetic, label_key, synthetic_labels, "synthetic")
    T, yt, gt, lt = _unpack(train, label_key, train_labels, "train")
    if gr is not None:
        for name, g, arr in (("synthetic", gs, S), ("train", gt, T)):
            if g is None or arr is None:
                continue
            if g != gr:
                pos = pd.Index(g).get_indexer(gr)
                if (pos < 0).any():
                    missing = [gr[i] for i in np.flatnonzero(pos < 0)[:5]]
                    raise DataError(f"{name} lacks {int((pos < 0).sum())} genes of the real set (e.g. {missing}); "
                                    "evaluate sets with the same genes")
                arr = arr[:, pos]
                if name == "synthetic":
                    S = arr
                else:
                    T = arr
    for name, arr in (("synthetic", S), ("train", T)):
        if arr is not None and arr.shape[1] != R.shape[1]:
            raise DataError(f"{name} has {arr.shape[1]} genes, real has {R.shape[1]}; use the same genes")
    notes = {}
    R, notes["real"] = _to_log(R, lr)
    S, notes["synthetic"] = _to_log(S, ls)
    if T is not None:
        T, notes["train"] = _to_log(T, lt)
    ref = T if T is not None else R
    mu = ref.mean(0, dtype=np.float64)
    sd = ref.std(0, dtype=np.float64)
    sd[sd == 0] = 1.0
    z = lambda a: None if a is None else ((a - mu) / sd).astype(np.float32)  # noqa: E731
    notes["zscore"] = f"per gene, mean/std of the real {'training' if T is not None else ''} set".replace("  ", " ")
    return {"real": z(R), "synthetic": z(S), "train": z(T), "real_labels": yr, "synthetic_labels": ys,
            "train_labels": yt, "preprocessing": notes}


# --------------------------------------------------------------------------------------------- evaluate
def _combo_ci(terms: Sequence[np.ndarray], weights: Sequence[float], *, n_boot: int, rng) -> tuple[float, float]:
    """CI of sum_i w_i mean(terms_i), each term array resampled independently."""
    reps = np.zeros(n_boot)
    for t, w in zip(terms, weights):
        t = np.asarray(t, np.float64)
        idx = rng.integers(0, len(t), size=(n_boot, len(t)))
        reps += w * t[idx].mean(1)
    return percentile_ci(reps)


def _privacy_reference(T: np.ndarray, R: np.ndarray, rng: np.random.Generator, *, cap: int = 2000) -> dict:
    """DCR indicators of real profiles the "generator" never saw: the real-vs-real reference.

    The held-out set is split in two random halves: H1 plays the synthetic set, H2 the held-out set, and a
    random training subset T' (sized so that |T'| / |H2| = |T| / |R|, the same train : held-out ratio as the
    main computation, hence the same expected share) the training set. At most ``cap`` profiles of H1 are
    scored, and the near-copy threshold is estimated from at most ``cap`` profiles of H2 (per-profile
    indicators: fewer profiles widen the spread, they do not shift the value), so the reference costs a small
    fraction of one pass over the data.
    """
    perm = rng.permutation(len(R))
    half = len(R) // 2
    h1 = R[np.sort(perm[:half][:cap])]
    h2 = R[np.sort(perm[half:])]
    n_t = int(min(len(T), max(1, round(len(T) * len(h2) / len(R)))))
    tp = T[np.sort(rng.choice(len(T), n_t, replace=False))]
    h2s = h2[np.sort(rng.choice(len(h2), min(cap, len(h2)), replace=False))]
    st = _knn.cross_pass(h1, tp)
    return dcr_from_neighbours(np.sqrt(st.a_nn2), st.a_nn, np.sqrt(_knn.cross_pass(h1, h2).a_nn2),
                               np.sqrt(_knn.cross_pass(h2s, tp).a_nn2), n_train=n_t, n_holdout=len(h2))


def _check_k(k: int, **sizes: int | None) -> None:
    """The k-NN metrics need k + 1 profiles in every set (a profile's k neighbours exclude itself)."""
    for what, n in sizes.items():
        if n is not None and n < k + 1:
            raise ConfigError(f"k = {k} needs at least k + 1 = {k + 1} profiles in every set, but the {what} set "
                              f"has {n}; lower --k (at most {max(n - 1, 0)}) or use more profiles")


def evaluate(real, synthetic, *, train=None, floor=None, label_key: str | None = None,
             metrics: Sequence[str] | None = None, n_boot: int = 1000, n_boot_expensive: int = 20, k: int = 10,
             seed: int = 0, classifier_seeds: Sequence[int] = (0, 1, 2), epochs: int = 10, real_labels=None,
             synthetic_labels=None, train_labels=None, floor_labels=None, verbose: bool = False) -> pd.DataFrame:
    """Score a synthetic set against real data: one row per metric with CI, reference and direction.

    Parameters
    ----------
    real
        Real held-out profiles (the test split): AnnData or array.
    synthetic
        Generated profiles (same genes): AnnData or array; ideally the same size and label mix as ``real``.
    train
        Real training profiles (what the generator was fitted on). Enables real-vs-real references, TRTR,
        augmentation, privacy metrics and fits the z-scoring and PCA on it.
    floor
        Profiles of the floor model (the per-class Gaussian fitted on ``train``, sampled to the synthetic
        set's label mix; this package does not fit models, so the caller passes its samples). Needs
        ``train``. Adds, for each indicator with a share of the gap closed (:mod:`rnagen.metrics.gap`), the
        floor's value against the same held-out profiles (``floor`` column) and the share of the
        floor-to-ceiling gap the synthetic set closes (``gap_closed``, the ceiling being ``reference``).
    label_key
        ``obs`` column with the class labels (AnnData inputs); enables utility metrics and the classifier
        Fréchet distance. For arrays pass ``real_labels``, ``synthetic_labels``, ``train_labels``,
        ``floor_labels``.
    metrics
        Names to compute (default: all of :data:`rnagen.metrics.METRICS` that the inputs allow).
    n_boot, n_boot_expensive
        Bootstrap resamples for per-profile-mean metrics and for recomputed metrics.
    k
        Neighbourhood size of precision/recall/density/coverage.
    seed
        Seeds the bootstrap, subsamples and classifiers.
    classifier_seeds, epochs
        Seeds (runs) and epochs of the utility classifiers.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, group, value, ci_low, ci_high, reference, direction, family, n_boot, floor,
        gap_closed`` (the last two NaN without ``floor``); ``group`` is ``"all"``, or a class name for the
        per-class TSTR rows. ``df.attrs`` holds ``preprocessing``, ``timings`` (seconds per family),
        ``flagged_near_copies`` (synthetic row indices) and, with ``floor``, ``gap_note``.
    """
    k = check_number("k", k, ">= 1", integer=True)
    # 0 resamples: point estimates without confidence intervals (how the floor is scored for the gap)
    n_boot = check_number("n_boot", n_boot, ">= 0", integer=True)
    n_boot_expensive = check_number("n_boot_expensive", n_boot_expensive, ">= 0", integer=True)
    epochs = check_number("epochs", epochs, ">= 1", integer=True)
    seed = check_seed("seed", seed)
    classifier_seeds = tuple(check_seed("classifier_seeds", s) for s in classifier_seeds)
    if not classifier_seeds:
        raise ConfigError("classifier_seeds must name at least one seed")
    want = list(DEFAULT_METRICS if metrics is None else metrics)
    unknown = [m for m in want if m not in METRICS]
    if unknown:
        raise DataError(f"unknown metric(s) {unknown}; valid: {', '.join(METRICS)}")
    explicit = metrics is not None
    if floor is not None and train is None:
        raise DataError("the floor's share of the gap closed needs the real training set as the ceiling; pass "
                        "--train (or --floor none)")
    d = prepare(real, synthetic, train, label_key=label_key, real_labels=real_labels,
                synthetic_labels=synthetic_labels, train_labels=train_labels)
    R, S, T = d["real"], d["synthetic"], d["train"]
    yr, ys, yt = d["real_labels"], d["synthetic_labels"], d["train_labels"]
    has_labels = yr is not None and ys is not None
    rng = np.random.default_rng(seed)
    for m in want:
        needs = METRICS[m].needs
        if explicit and (("labels" in needs and not has_labels) or ("train" in needs and T is None)):
            raise DataError(f"metric {m!r} needs {' and '.join(needs)}; pass --train / --label-key")
    want = [m for m in want if not (("labels" in METRICS[m].needs and not has_labels)
                                    or ("train" in METRICS[m].needs and T is None))]
    rows: list[dict] = []
    timings: dict[str, float] = {}
    attrs: dict[str, Any] = {"preprocessing": d["preprocessing"], "timings": timings}

    def add(name, value, ci=(np.nan, np.nan), reference=np.nan, group="all", nb=0, direction=None):
        info = METRICS[name]
        rows.append({"name": name, "group": group, "value": float(value), "ci_low": float(ci[0]),
                     "ci_high": float(ci[1]), "reference": float(reference),
                     "direction": info.direction_text if direction is None else direction,
                     "family": info.family, "n_boot": int(nb)})

    # the real-vs-real reference set: as many training profiles as synthetic ones
    Tsub = None
    if T is not None:
        n_sub = min(len(T), len(S))
        Tsub = T[np.sort(rng.choice(len(T), n_sub, replace=False))] if n_sub < len(T) else T

    def tick(fam, t0):
        timings[fam] = timings.get(fam, 0.0) + time.perf_counter() - t0
        if verbose:
            print(f"  {fam}: {timings[fam]:.1f} s", flush=True)

    # ---- nearest-neighbour family (PRDC, AA, privacy loss) and privacy (DCR) ----------------------------
    # One blocked pass per pair of sets, shared by every metric that needs it: R x S gives PRDC, AA and the
    # synthetic profiles' DCR to the held-out set; R x Tsub the references and the held-out profiles' DCR to
    # training; Tsub x S the privacy loss and the DCR to training (Tsub is all of T when T is not larger
    # than S; otherwise DCR takes two more passes against the full training set).
    nn_names = {"precision", "recall", "density", "coverage", "aa_ts", "aa_truth", "aa_syn", "privacy_loss"}
    dcr_names = {"dcr_share", "dcr_ratio", "near_copy_share"}
    want_dcr = T is not None and bool(dcr_names & set(want))
    if nn_names & set(want) or want_dcr:
        _check_k(k, real=len(R), synthetic=len(S), train=len(Tsub) if Tsub is not None else None)
        t0 = time.perf_counter()
        kr = _knn.knn(R, k=k, exclude_self=True, squared=True)[0]
        ks_ = _knn.knn(S, k=k, exclude_self=True, squared=True)[0]
        main = prdc_terms(R, S, k=k, real_radii2=kr[:, -1], fake_radii2=ks_[:, -1])
        aa = aa_from_distances(kr[:, 0], main["_real_to_fake_nn2"], ks_[:, 0], main["_fake_to_real_nn2"])
        ref = ref_aa = ts = None
        if Tsub is not None:
            kt = _knn.knn(Tsub, k=k, exclude_self=True, squared=True)[0]
            ref = prdc_terms(R, Tsub, k=k, real_radii2=kr[:, -1], fake_radii2=kt[:, -1])
            ref_aa = aa_from_distances(kr[:, 0], ref["_real_to_fake_nn2"], kt[:, 0], ref["_fake_to_real_nn2"])
            if "privacy_loss" in want or (want_dcr and Tsub is T):
                ts = _knn.cross_pass(Tsub, S)
        for m in ("precision", "recall", "density", "coverage"):
            if m in want:
                add(m, main[m].mean(), mean_ci(main[m], n_boot=n_boot, rng=rng),
                    ref[m].mean() if ref is not None else np.nan, nb=n_boot)
        if "aa_ts" in want:
            add("aa_ts", aa["aa_ts"], _combo_ci([aa["_truth_terms"], aa["_syn_terms"]], [0.5, 0.5],
                                                n_boot=n_boot, rng=rng),
                ref_aa["aa_ts"] if ref_aa else np.nan, nb=n_boot)
        for m, key in (("aa_truth", "_truth_terms"), ("aa_syn", "_syn_terms")):
            if m in want:
                add(m, aa[m], mean_ci(aa[key], n_boot=n_boot, rng=rng), ref_aa[m] if ref_aa else np.nan, nb=n_boot)
        if "privacy_loss" in want and Tsub is not None:
            # AA against the training subsample (as many profiles as the synthetic set) vs against held-out data
            aa_tr = aa_from_distances(kt[:, 0], ts.a_nn2, ks_[:, 0], ts.b_nn2)
            loss = aa["aa_ts"] - aa_tr["aa_ts"]
            ci = _combo_ci([aa["_truth_terms"], aa["_syn_terms"], aa_tr["_truth_terms"], aa_tr["_syn_terms"]],
                           [0.5, 0.5, -0.5, -0.5], n_boot=n_boot, rng=rng)
            add("privacy_loss", loss, ci, np.nan, nb=n_boot)
        tick("neighbours", t0)
        if want_dcr:
            t0 = time.perf_counter()
            if Tsub is T:
                s_t2, s_t_idx, r_t2 = ts.b_nn2, ts.b_nn, ref["_real_to_fake_nn2"]
            else:
                st = _knn.cross_pass(S, T)
                s_t2, s_t_idx, r_t2 = st.a_nn2, st.a_nn, _knn.cross_pass(R, T).a_nn2
            p = dcr_from_neighbours(np.sqrt(s_t2), s_t_idx, np.sqrt(main["_fake_to_real_nn2"]), np.sqrt(r_t2),
                                    n_train=len(T), n_holdout=len(R))
            prv_ref = _privacy_reference(T, R, rng) if len(R) >= 4 else {}
            if "dcr_share" in want:
                add("dcr_share", p["share_closer_to_train"], mean_ci(p["_share_terms"], n_boot=n_boot, rng=rng),
                    prv_ref.get("share_closer_to_train", np.nan), nb=n_boot,
                    direction=f"target {p['expected_share']:.3g}")
            if "dcr_ratio" in want:
                reps = []
                for _ in range(n_boot_expensive):
                    i = rng.integers(0, len(S), len(S))
                    reps.append(np.median(p["dcr_train"][i]) / max(np.median(p["dcr_holdout"][i]), 1e-12))
                add("dcr_ratio", p["ratio"], centred_ci(p["ratio"], reps), prv_ref.get("ratio", np.nan),
                    nb=n_boot_expensive)
            if "near_copy_share" in want:
                add("near_copy_share", p["near_copy_share"], mean_ci(p["_near_terms"], n_boot=n_boot, rng=rng),
                    prv_ref.get("near_copy_share", np.nan), nb=n_boot)
            attrs["flagged_near_copies"] = p["flagged"].tolist()
            attrs["flagged_train_index"] = p["flagged_train_index"].tolist()
            attrs["near_copy_threshold"] = p["threshold"]
            tick("privacy", t0)

    # ---- Fréchet in PCA space ----------------------------------------------------------------------------
    def fd_feats(fr, fs, fref, name):
        stat = lambda a, b: gaussian_frechet(*_moments(a), *_moments(b))  # noqa: E731
        v = stat(fr, fs)
        add(name, v, stat_ci(stat, [fr, fs], n_boot=n_boot_expensive, rng=rng, estimate=v),
            stat(fr, fref) if fref is not None else np.nan, nb=n_boot_expensive)

    if "frechet_pca" in want:
        t0 = time.perf_counter()
        pca = PCASpace(T if T is not None else R, n_components=50)
        fd_feats(pca(R), pca(S), pca(Tsub) if Tsub is not None else None, "frechet_pca")
        tick("frechet", t0)

    # ---- correlation score -------------------------------------------------------------------------------
    if "correlation_score" in want:
        t0 = time.perf_counter()
        v = correlation_score(R, S)
        # replicates of at most 1,000 rows per set: each is two G x G Gram matrices
        add("correlation_score", v, m_out_of_n_ci(correlation_score, [R, S], n_boot=n_boot_expensive, rng=rng,
                                                  estimate=v, m_max=1000),
            correlation_score(R, Tsub) if Tsub is not None else np.nan, nb=n_boot_expensive)
        tick("correlation", t0)

    # ---- MMD -----------------------------------------------------------------------------------------------
    if "mmd" in want:
        t0 = time.perf_counter()
        cap = 2000
        Rm = R[np.sort(rng.choice(len(R), cap, replace=False))] if len(R) > cap else R
        Sm = S[np.sort(rng.choice(len(S), cap, replace=False))] if len(S) > cap else S
        bw = median_bandwidth(Rm, Sm)
        # one pooled kernel matrix; bootstrap replicates index into it (no kernel recomputation)
        K = mmd_kernel(np.concatenate([Rm, Sm]), bandwidth=bw).astype(np.float64)
        nr, ns = len(Rm), len(Sm)

        Kxx, Kyy, Kxy = K[:nr, :nr], K[nr:, nr:], K[:nr, nr:]

        def mmd_w(wx, wy):
            # V-statistic with row weights (a resample's multiplicities / n): w'Kw replaces the means over
            # the resampled index grid (identical values, matrix-vector products instead of gathers)
            return float(max(wx @ Kxx @ wx + wy @ Kyy @ wy - 2 * wx @ Kxy @ wy, 0))

        v = mmd_w(np.full(nr, 1.0 / nr), np.full(ns, 1.0 / ns))
        reps = [mmd_w(np.bincount(rng.integers(0, nr, nr), minlength=nr) / nr,
                      np.bincount(rng.integers(0, ns, ns), minlength=ns) / ns) for _ in range(n_boot_expensive)]
        refv = np.nan
        if Tsub is not None:
            Tm = Tsub[np.sort(rng.choice(len(Tsub), cap, replace=False))] if len(Tsub) > cap else Tsub
            refv = mmd(Rm, Tm, bandwidth=bw, max_n=None)
        add("mmd", v, centred_ci(v, reps), refv, nb=n_boot_expensive)
        tick("mmd", t0)

    # ---- per-gene distances --------------------------------------------------------------------------------
    gd = [m for m in ("wasserstein_mean", "wasserstein_median", "ks_mean", "ks_median") if m in want]
    if gd:
        t0 = time.perf_counter()

        def summ(w, kk, ax=None):
            return {"wasserstein_mean": np.mean(w, axis=ax), "wasserstein_median": np.median(w, axis=ax),
                    "ks_mean": np.mean(kk, axis=ax), "ks_median": np.median(kk, axis=ax)}

        w, kk = per_gene_distances(R, S)
        val = summ(w, kk)
        # replicates on at most 2,000 rows per set, spread rescaled (m-out-of-n bootstrap)
        m_r, m_s = min(len(R), 2000), min(len(S), 2000)
        scale = np.sqrt((m_r + m_s) / (len(R) + len(S)))
        Rb = R[rng.choice(len(R), m_r, replace=False)] if m_r < len(R) else R
        Sb = S[rng.choice(len(S), m_s, replace=False)] if m_s < len(S) else S
        _, _, bw, bk = per_gene_distances_boot(Rb, Sb, n_boot=n_boot_expensive, rng=rng)
        reps = summ(bw, bk, 1)
        refs = summ(*per_gene_distances(R, Tsub)) if Tsub is not None else {}
        for m in gd:
            dev = scale * (np.asarray(reps[m]) - np.mean(reps[m]))
            add(m, val[m], percentile_ci(val[m] + dev), refs.get(m, np.nan), nb=n_boot_expensive)
        tick("per_gene", t0)

    # ---- detection ---------------------------------------------------------------------------------------
    if "detection_auc" in want:
        t0 = time.perf_counter()
        sc, lab = detection_scores(R, S, seed=seed, epochs=epochs, max_n=2500)
        reps = []
        for _ in range(n_boot_expensive):
            i = rng.integers(0, len(sc), len(sc))
            reps.append(binary_auc(lab[i], sc[i]))
        refv = np.nan
        if Tsub is not None:
            s2, l2 = detection_scores(R, Tsub, seed=seed, epochs=epochs, max_n=2500)
            refv = binary_auc(l2, s2)
        v = binary_auc(lab, sc)
        add("detection_auc", v, centred_ci(v, reps), refv, nb=n_boot_expensive)
        tick("detection", t0)

    # ---- utility -------------------------------------------------------------------------------------------
    if has_labels:
        t0 = time.perf_counter()
        lab_sets = [ys, yr] + ([yt] if yt is not None else [])
        codes, classes = encode_labels(*lab_sets)
        cs, cr = codes[0], codes[1]
        ct = codes[2] if yt is not None else None
        nc = len(classes)
        trtr_mlp = None
        for clf in ("mlp", "logreg"):
            names = [f"tstr_{clf}_{x}" for x in ("accuracy", "macro_f1", "auc")]
            if not set(names) & set(want) and not (clf == "mlp" and ("frechet_classifier" in want
                                                                      or "augmentation_accuracy" in want)):
                continue
            res = tstr(S, cs, R, cr, classifier=clf, seeds=classifier_seeds, epochs=epochs, n_classes=nc)
            ref = None
            if T is not None and yt is not None:
                ref = tstr(T, ct, R, cr, classifier=clf, seeds=classifier_seeds, epochs=epochs, n_classes=nc)
                if clf == "mlp":
                    trtr_mlp = ref
            if names[0] in want:
                add(names[0], res["accuracy"], mean_ci(res["correct"], n_boot=n_boot, rng=rng),
                    ref["accuracy"] if ref else np.nan, nb=n_boot)
            reps_f1, reps_auc = [], []
            # AUC replicates rank every class's scores: m-out-of-n (at most 2,000 test profiles, spread
            # rescaled by sqrt(m / n), see _bootstrap.m_out_of_n_ci); macro-F1 replicates are full-size
            m_auc = min(len(cr), 2000)
            for _ in range(n_boot_expensive):
                i = rng.integers(0, len(cr), len(cr))
                reps_f1.append(np.mean([_macro_f1_and_per_class(cr[i], p[i], nc)[0] for p in res["_pred"]]))
                if names[2] in want:
                    j = i[:m_auc]  # the first m draws of a resample are an m-out-of-n resample
                    reps_auc.append(np.mean([macro_auc(cr[j], p[j]) for p in res["_proba"]]))
            if names[1] in want:
                add(names[1], res["macro_f1"], centred_ci(res["macro_f1"], reps_f1), ref["macro_f1"] if ref else np.nan,
                    nb=n_boot_expensive)
            if names[2] in want:
                dev = np.sqrt(m_auc / len(cr)) * (np.asarray(reps_auc) - np.nanmean(reps_auc))
                add(names[2], res["auc"], percentile_ci(res["auc"] + dev), ref["auc"] if ref else np.nan,
                    nb=n_boot_expensive)
            if names[1] in want:
                # per-class breakdown: F1 per class (mean over seeds), reference = TRTR per class
                for ci_, cname in enumerate(classes):
                    if (cr == ci_).sum() == 0:
                        continue
                    add(names[1], res["per_class_f1"][ci_],
                        reference=ref["per_class_f1"][ci_] if ref else np.nan, group=str(cname))
        if "augmentation_accuracy" in want and T is not None and yt is not None:
            aug = augmentation(T, ct.astype(str), S, cs.astype(str), R, cr.astype(str), seeds=classifier_seeds[:1],
                               epochs=epochs)
            base = trtr_mlp["per_seed"]["accuracy"][0] if trtr_mlp else np.nan
            add("augmentation_accuracy", aug["accuracy"], mean_ci(aug["correct"], n_boot=n_boot, rng=rng), base,
                nb=n_boot)
        tick("utility", t0)
        if "frechet_classifier" in want:
            t0 = time.perf_counter()
            if trtr_mlp is not None:  # the TRTR MLP (first seed) is exactly "a classifier trained on real data"
                clf = trtr_mlp["_models"][0]
            else:
                from ._classifiers import fit_classifier
                clf = fit_classifier(R, cr, n_classes=nc, kind="mlp", seed=seed, epochs=epochs)
            fd_feats(clf.hidden(R), clf.hidden(S), clf.hidden(Tsub) if Tsub is not None else None,
                     "frechet_classifier")
            tick("frechet", t0)

    df = pd.DataFrame(rows, columns=COLUMNS)
    # keep the registry order, per-class rows after the overall ones
    order = {m: i for i, m in enumerate(METRICS)}
    df["_o"] = df["name"].map(order)
    df["_g"] = (df["group"] != "all").astype(int)
    df = df.sort_values(["_g", "_o"], kind="stable").drop(columns=["_o", "_g"]).reset_index(drop=True)
    df["floor"] = np.nan
    df["gap_closed"] = np.nan
    if floor is not None:
        t0 = time.perf_counter()
        _add_gap(df, attrs, real, floor, train=train, label_key=label_key, k=k, seed=seed,
                 classifier_seeds=classifier_seeds, epochs=epochs, real_labels=real_labels,
                 floor_labels=floor_labels, train_labels=train_labels)
        tick("floor", t0)
    df.attrs.update(attrs)
    return df


def _add_gap(df: pd.DataFrame, attrs: dict, real, floor, *, train, label_key, k, seed, classifier_seeds, epochs,
             real_labels, floor_labels, train_labels) -> None:
    """Fill ``df``'s ``floor`` and ``gap_closed`` columns in place (see :mod:`rnagen.metrics.gap`).

    The floor set is scored by the same :func:`evaluate` (same held-out and training sets, same seed, hence
    the same real-vs-real subsample when it has the synthetic set's size) on the indicators that get a
    share; the ceiling is the synthetic set's own ``reference`` column.
    """
    overall = df["group"] == "all"
    names = [m for m in df.loc[overall, "name"] if applies(m)]
    if label_key is None and floor_labels is None:  # e.g. the classifier Fréchet distance: no floor labels
        names = [m for m in names if "labels" not in METRICS[m].needs]
    if not names:
        return
    import warnings

    with warnings.catch_warnings():  # no bootstrap for the floor: its empty replicate lists are not an issue
        warnings.simplefilter("ignore", RuntimeWarning)
        fl = evaluate(real, floor, train=train, label_key=label_key, metrics=names, n_boot=0, n_boot_expensive=0,
                      k=k, seed=seed, classifier_seeds=classifier_seeds, epochs=epochs, real_labels=real_labels,
                      synthetic_labels=floor_labels, train_labels=train_labels)
    fv = fl[fl["group"] == "all"].set_index("name")["value"]
    for i in df.index[overall & df["name"].isin(names)]:
        m = df.at[i, "name"]
        df.at[i, "floor"] = fv.get(m, np.nan)
        df.at[i, "gap_closed"] = gap_closed(m, df.at[i, "value"], floor=df.at[i, "floor"],
                                            ceiling=df.at[i, "reference"])
    attrs["gap_note"] = ("gap closed = 1 - d(value) / d(floor), d = distance from the real-vs-real reference "
                         "(the ceiling) on the indicator's side; 1: as real data, 0: as the floor, < 0: worse. "
                         + NO_GAP_NOTE)


def format_table(df: pd.DataFrame, *, per_class: bool = False) -> str:
    """A readable text table: metric, value, 95% CI, reference, direction; with a floor (``evaluate(...,
    floor=...)``) also the floor's value and the share of the gap closed, in percent."""
    sub = df if per_class else df[df["group"] == "all"]
    has_floor = "floor" in sub.columns and bool(sub["floor"].notna().any())
    gap_head = f" {'floor':>10} {'gap closed':>10}" if has_floor else ""
    lines = [f"{'metric':<24} {'group':<12} {'value':>10} {'95% CI':>23} {'reference':>10}{gap_head}  direction"]
    for r in sub.itertuples():
        ci = "" if np.isnan(r.ci_low) else f"[{r.ci_low:.4g}, {r.ci_high:.4g}]"
        ref = "" if np.isnan(r.reference) else f"{r.reference:.4g}"
        gap = ""
        if has_floor:
            fl = "" if np.isnan(r.floor) else f"{r.floor:.4g}"
            gc = "" if np.isnan(r.floor) else ("NaN" if np.isnan(r.gap_closed) else f"{100 * r.gap_closed:.0f}%")
            gap = f" {fl:>10} {gc:>10}"
        lines.append(f"{r.name:<24} {str(r.group)[:12]:<12} {r.value:>10.4g} {ci:>23} {ref:>10}{gap}  {r.direction}")
    if has_floor:
        lines.append("gap closed: share of the floor-to-reference (ceiling) distance closed; 100% = as real data, "
                     "0% = as the floor, negative = worse; NaN = the floor already reaches the ceiling")
    return "\n".join(lines)
