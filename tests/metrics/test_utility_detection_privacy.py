import numpy as np
import pytest

from rnagen.metrics import classifier_features, dcr, detection_auc, frechet_distance, tstr
from rnagen.metrics.utility import macro_auc


def _blobs(rng, n, C=4, g=10, sep=3.0, centers=None):
    centers = rng.normal(size=(C, g)) * sep if centers is None else centers
    y = rng.integers(0, C, n)
    return (centers[y] + rng.normal(size=(n, g))).astype(np.float32), np.array([f"t{c}" for c in y]), centers


def test_tstr_real_vs_label_permuted(rng):
    X, y, c = _blobs(rng, 600)
    Xt, yt, _ = _blobs(rng, 400, centers=c)
    good = tstr(X, y, Xt, yt, classifier="logreg", seeds=(0, 1), epochs=20)
    assert good["accuracy"] > 0.95 and good["macro_f1"] > 0.95 and good["auc"] > 0.99
    assert len(good["per_seed"]["accuracy"]) == 2 and good["classes"] == ["t0", "t1", "t2", "t3"]
    assert good["correct"].mean() == pytest.approx(good["accuracy"])
    Xb, yb, _ = _blobs(rng, 3000, centers=c)
    perm = tstr(Xb, rng.permutation(yb), Xt, yt, classifier="mlp", seeds=(0, 1), epochs=5)
    # labels carry no information: chance accuracy is 1/4 and AUC 0.5 (up to the chance class mix per
    # cluster in the training set, hence the large training set)
    assert perm["accuracy"] < 0.35 and abs(perm["auc"] - 0.5) < 0.1


@pytest.mark.parametrize("classifier", ["logreg", "mlp"])
def test_a_class_the_training_set_lacks_is_never_predicted(rng, classifier):
    """Train on a set without class t3, test on all four: the classifier never learned t3, so it never predicts
    it (its F1 is 0, not credit from an untrained output) and its one-vs-rest AUC is chance."""
    X, y, c = _blobs(rng, 600)
    Xt, yt, _ = _blobs(rng, 400, centers=c)
    keep = y != "t3"
    res = tstr(X[keep], y[keep], Xt, yt, classifier=classifier, seeds=(0, 1), epochs=20)
    k = res["classes"].index("t3")
    assert all((pred != k).all() for pred in res["_pred"])
    assert res["per_class_f1"][k] == 0.0 and res["per_class_recall"][k] == 0.0
    col = res["_proba"][0][:, k]
    assert macro_auc((res["_y"] == k).astype(int), np.c_[1 - col, col]) == 0.5   # all tied: chance
    assert res["accuracy"] < 0.8   # a quarter of the test profiles cannot be right


def test_macro_auc_against_sklearn(rng):
    from sklearn.metrics import roc_auc_score

    y = rng.integers(0, 3, 200)
    p = rng.dirichlet(np.ones(3), 200)
    assert macro_auc(y, p) == pytest.approx(roc_auc_score(y, p, multi_class="ovr"), abs=1e-12)


def test_classifier_features_frechet(rng):
    X, y, c = _blobs(rng, 500)
    f = classifier_features(X, y, epochs=5, hidden=32)
    assert f(X).shape == (500, 32)
    assert frechet_distance(X, X.copy(), space=f) == pytest.approx(0.0, abs=1e-4)
    X2, _, _ = _blobs(rng, 500, centers=c + 2.0)
    assert frechet_distance(X, X2, space=f) > 1.0


def test_detection_auc_same_vs_separable(rng):
    X, Y = rng.normal(size=(400, 10)), rng.normal(size=(400, 10))
    assert abs(detection_auc(X, Y, cv=3, epochs=5) - 0.5) < 0.1
    assert detection_auc(X, Y + 3.0, cv=3, epochs=5) > 0.99


def test_small_sets_take_as_many_folds_as_they_can(rng, recwarn):
    """A held-out set of 4 profiles: 4 folds (each holds both sets), no scikit-learn warning; of 1: no fold can
    hold both, a DataError (evaluate's scorer reads such a set's AUC as NaN). One held-out class: TSTR's AUC is NaN
    and its CI too, without numpy's warning."""
    import warnings

    from rnagen.errors import DataError
    from rnagen.metrics import evaluate
    from rnagen.metrics.detection import binary_auc, detection_scores

    X, Y = rng.normal(size=(4, 10)), rng.normal(size=(40, 10)) + 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert detection_auc(X, Y, epochs=5) > 0.9
        assert np.isnan(binary_auc(*detection_scores(X[:1], Y, epochs=5)[::-1]))
        with pytest.raises(DataError, match=r"detection_auc: real has 1 profile\(s\)"):
            detection_auc(X[:1], Y, epochs=5)
        R = rng.normal(size=(30, 6)).astype(np.float32)
        df = evaluate(R, R[::-1].copy() + 0.1, real_labels=np.full(30, "a"), synthetic_labels=np.full(30, "a"),
                      metrics=["tstr_mlp_auc"], n_boot=10, n_boot_expensive=3, classifier_seeds=(0,), epochs=2)
    row = df[df["name"] == "tstr_mlp_auc"].iloc[0]
    assert np.isnan(row["value"]) and np.isnan(row["ci_low"])


def test_dcr_flags_copies_of_training(rng):
    train, holdout = rng.normal(size=(300, 8)), rng.normal(size=(200, 8))
    syn = np.concatenate([train[:50], rng.normal(size=(50, 8))])  # 50 copies, 50 new
    r = dcr(syn, train, holdout)
    assert set(r["flagged"][:50]) >= set(range(50)) and (r["flagged"] < 50).sum() == 50
    np.testing.assert_array_equal(r["flagged_train_index"][:50], np.arange(50))
    assert (r["dcr_train"][:50] == 0).all()
    copies = dcr(train[:100], train, holdout)
    assert copies["share_closer_to_train"] == 1.0 and copies["near_copy_share"] == 1.0
    fresh = dcr(rng.normal(size=(400, 8)), train, holdout)
    # exchangeable with real data: closest record is a training one with prob 300/500
    assert fresh["expected_share"] == pytest.approx(0.6)
    assert fresh["share_closer_to_train"] == pytest.approx(0.6, abs=0.08)
    assert fresh["near_copy_share"] < 0.05 and fresh["ratio"] == pytest.approx(1.0, abs=0.15)
    # copies of held-out profiles: infinitely far from memorising the training set (NaN before); copies of training
    # profiles: 0
    assert dcr(holdout[:60], train, holdout)["ratio"] == np.inf and copies["ratio"] == 0.0


def test_tstr_of_a_small_copy_of_the_training_set_is_trained_as_trtr_is():
    """Small sets are fitted in ~10 optimiser steps per epoch whatever their size: with a floor of 32 profiles
    per batch, 60 profiles got half the steps of 120, and a copy of 60 training profiles scored far below the
    TRTR of the 120 (logistic regression 0.70 against 0.91 here)."""
    from rnagen.metrics import evaluate

    gaps = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        centres = rng.normal(0, 1, (3, 50))

        def draw(n):
            y = rng.integers(0, 3, n)
            return (centres[y] + rng.normal(0, 1.5, (n, 50))).astype(np.float32), np.array([f"c{c}" for c in y])

        (R, yr), (T, yt) = draw(60), draw(120)
        df = evaluate(R, T[:60].copy(), train=T, real_labels=yr, synthetic_labels=yt[:60], train_labels=yt,
                      metrics=["tstr_logreg_accuracy"], n_boot=10)
        row = df[df.group == "all"].set_index("name").loc["tstr_logreg_accuracy"]
        gaps.append(row["value"] - row["reference"])
    assert np.mean(gaps) > -0.05, gaps


def test_held_out_profiles_in_the_training_set_do_not_hide_near_copies(rng):
    """A few held-out profiles that are training profiles too (a sample in the data twice, allowed with a
    note) sat at distance 0 from the training set and set the near-copy threshold, a low quantile of those
    distances, at 0: a generator of near copies read as making none."""
    from rnagen.metrics import evaluate

    train, holdout = rng.normal(size=(200, 10)), rng.normal(size=(60, 10))
    near = train[:60] * rng.uniform(0.99, 1.01, (60, 10))
    with_twins = np.concatenate([train, holdout[:3]])
    assert dcr(near, train, holdout)["near_copy_share"] > 0.9
    assert dcr(near, with_twins, holdout)["near_copy_share"] > 0.9
    df = evaluate(holdout, near, train=with_twins, metrics=["near_copy_share"], n_boot=10)
    assert df.set_index("name").loc["near_copy_share", "value"] > 0.9
    assert "held_out_in_train" in df.attrs


def test_the_dcr_reference_scores_every_held_out_profile_and_is_as_precise_as_a_perfect_generator():
    """Both halves of the held-out set play the synthetic set in turn: the reference has as many terms as the
    held-out set and the spread of a perfect generator of its size (one half alone has twice its variance), and
    both centre on the exchangeable share (3 : 1 training to held-out, 0.75). Classes of 4 held-out profiles, as
    in the bundled GTEx split."""
    from rnagen.metrics.privacy import dcr, privacy_reference

    ref, perfect = [], []
    for seed in range(60):
        rng = np.random.default_rng(seed)
        centres = rng.normal(0, 1.0, (26, 30))

        def draw(per):
            y = np.repeat(np.arange(26), per)
            return (centres[y] + rng.normal(0, 1, (len(y), 30))).astype(np.float32), y.astype(str)

        (T, yt), (R, yr), (S, _) = draw(12), draw(4), draw(4)
        r = privacy_reference(T, R, np.random.default_rng(seed), real_labels=yr, train_labels=yt)
        assert r["_share_terms"].size == len(R) and r["expected_share"] == pytest.approx(0.75)
        ref.append(r["share_closer_to_train"])
        perfect.append(dcr(S, T, R)["share_closer_to_train"])
    assert abs(np.mean(ref) - 0.75) < 0.02 and abs(np.mean(perfect) - 0.75) < 0.02
    assert np.std(ref) < 1.25 * np.std(perfect), (np.std(ref), np.std(perfect))


def test_the_dcr_ratio_reference_is_what_a_perfect_generator_scores_when_classes_have_substructure():
    """Real classes hold sub-groups (donors, subtypes): a held-out profile's nearest classmate is often one of
    the few of its sub-group. Halving the held-out set took that neighbour away from half the profiles and read
    the ratio of median distances far below a perfect generator's (by 0.13 here); scored against the whole sets
    with one profile swapped, the reference centres on it. Classes of 12 training and 4 held-out profiles, as in
    the bundled GTEx split."""
    from rnagen.metrics.privacy import dcr, privacy_reference

    ref, perfect = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        centres = rng.normal(0, 1.0, (26, 3, 30))

        def draw(per):
            y = np.repeat(np.arange(26), per)
            x = centres[y, rng.integers(0, 3, len(y))] + 0.4 * rng.normal(0, 1, (len(y), 30))
            return x.astype(np.float32), y.astype(str)

        (T, yt), (R, yr), (S, _) = draw(12), draw(4), draw(4)
        r = privacy_reference(T, R, np.random.default_rng(seed), real_labels=yr, train_labels=yt)
        assert r["ratio"] == pytest.approx(r["median_dcr_train"] / r["median_dcr_holdout"])
        ref.append(r["ratio"])
        perfect.append(dcr(S, T, R)["ratio"])
    diff = np.array(ref) - np.array(perfect)
    assert abs(diff.mean()) < 0.03, (diff.mean(), diff.std())
    # without labels too: the swapped profile is any training profile
    r = privacy_reference(T, R, np.random.default_rng(0))
    assert 0.5 < r["ratio"] < 1.5


def test_the_dcr_ratio_reference_does_not_depend_on_the_rows_order(rng):
    from rnagen.metrics.privacy import privacy_reference

    T, R = rng.normal(size=(80, 12)).astype(np.float32), rng.normal(size=(30, 12)).astype(np.float32)
    yt, yr = np.array(list("ab") * 40), np.array(list("ab") * 15)
    pt, pr = rng.permutation(80), rng.permutation(30)
    a = privacy_reference(T, R, np.random.default_rng(3), real_labels=yr, train_labels=yt)
    b = privacy_reference(T[pt], R[pr], np.random.default_rng(3), real_labels=yr[pr], train_labels=yt[pt])
    assert a["ratio"] == pytest.approx(b["ratio"], rel=1e-6)
    assert a["share_closer_to_train"] == pytest.approx(b["share_closer_to_train"])
    # the neighbours evaluate's passes hand over give the same reference as its own passes
    d = np.sqrt(((R[:, None, :].astype(np.float64) - T[None].astype(np.float64)) ** 2).sum(-1))
    rr = np.sqrt(((R[:, None, :].astype(np.float64) - R[None].astype(np.float64)) ** 2).sum(-1))
    np.fill_diagonal(rr, np.inf)
    c = privacy_reference(T, R, np.random.default_rng(3), real_labels=yr, train_labels=yt,
                          neighbours=(d.min(1), d.argmin(1), rr.min(1)))
    assert c["ratio"] == pytest.approx(a["ratio"], rel=1e-5)


@pytest.mark.parametrize("labelled", [True, False])
def test_privacy_reference_keeps_copies_of_a_held_out_profile_in_one_half(monkeypatch, labelled):
    """A profile twice in the held-out set (planted copies) lies in one half of the privacy reference: a copy in
    each half would sit at distance 0 from the stand-in synthetic profile. ``evaluate`` finds the copies;
    without copies the halves are the same as without groups."""
    from rnagen.metrics import evaluate, privacy

    rng = np.random.default_rng(3)
    T, R = rng.normal(size=(90, 12)).astype(np.float32), rng.normal(size=(40, 12)).astype(np.float32)
    yt, yr = np.arange(90) % 3, np.arange(40) % 3
    plain = privacy.privacy_reference(T, R, np.random.default_rng(0), real_labels=yr, train_labels=yt)
    same = privacy.privacy_reference(T, R, np.random.default_rng(0), real_labels=yr, train_labels=yt,
                                     groups=np.arange(40) * 7)
    assert plain["share_closer_to_train"] == same["share_closer_to_train"]
    np.testing.assert_array_equal(plain["_share_terms"], same["_share_terms"])
    R2, yr2 = np.vstack([R, R[:16]]), np.r_[yr, yr[:16]]
    held: list[np.ndarray] = []
    real = privacy.dcr_from_neighbours

    def spy(d_tr, i_tr, d_ho, *a, **kw):
        held.append(np.asarray(d_ho))
        return real(d_tr, i_tr, d_ho, *a, **kw)

    monkeypatch.setattr(privacy, "dcr_from_neighbours", spy)
    labels = dict(real_labels=yr2, synthetic_labels=yt, train_labels=yt) if labelled else {}
    evaluate(R2, T, train=T, metrics=["dcr_share"], n_boot=0, **labels)
    # the reference's call is the one with a term per held-out profile
    ref = [d for d in held if len(d) == len(R2)]
    assert ref and ref[-1].min() > 0


def test_the_dcr_ratio_reference_leaves_a_held_out_profile_s_copies_out_of_its_candidates():
    """A held-out profile in the held-out set twice (planted copies of half of them) plays a new profile against
    the held-out set less its own copies: a copy at distance 0 among its candidates reads the reference ratio as
    infinite. With the copies grouped (as ``evaluate`` finds them) it is what the set without copies gives."""
    from rnagen.metrics import evaluate
    from rnagen.metrics.privacy import privacy_reference
    from rnagen.pp.copies import copy_labels

    rng = np.random.default_rng(0)
    T, R = rng.normal(size=(90, 12)).astype(np.float32), rng.normal(size=(40, 12)).astype(np.float32)
    R2 = np.vstack([R, R[:20]])
    alone = privacy_reference(T, R, np.random.default_rng(0))["ratio"]
    grouped = privacy_reference(T, R2, np.random.default_rng(0), groups=copy_labels(R2))["ratio"]
    assert np.isfinite(grouped) and grouped == pytest.approx(alone, abs=0.02)
    ref = evaluate(R2, T, train=T, metrics=["dcr_ratio"], n_boot=0).set_index("name").loc["dcr_ratio", "reference"]
    assert 0.8 < ref < 1.1
    # without copies the groups change nothing
    same = privacy_reference(T, R, np.random.default_rng(0), groups=np.arange(40) * 3)["ratio"]
    assert same == alone


def test_synthetic_profiles_that_are_training_profiles_are_named_however_few(rng):
    """A synthetic set from another tool holding 5 training profiles verbatim (rounded, as a CSV writes them)
    among 195 new draws: too few for the near-copy share's interval or the attacks' family-wise verdict to stand
    out, but each discloses a training profile whole, so the privacy family says how many and where."""
    from rnagen.metrics import evaluate

    train, holdout, new = rng.normal(size=(200, 10)), rng.normal(size=(60, 10)), rng.normal(size=(200, 10))
    leaky = new.copy()
    leaky[[7, 40, 41, 90, 150]] = np.round(train[:5], 4)
    df = evaluate(holdout, leaky, train=train, metrics=["near_copy_share"], n_boot=10)
    assert df.attrs["training_copies_note"].startswith("5 of the 200 synthetic profiles are training profiles")
    assert "synthetic row 8, counting from 1" in df.attrs["training_copies_note"]
    clean = evaluate(holdout, new, train=train, metrics=["near_copy_share"], n_boot=10)
    assert "training_copies_note" not in clean.attrs
