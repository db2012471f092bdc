"""Membership-inference audit: analytic cases (copies, held-out real data, a Gaussian fitted to a large
population), agreement of every attack and statistic with a dense brute-force implementation, numerical
stability in 500 dimensions, the split, and the CLI's --reference."""
from __future__ import annotations

import json
from statistics import NormalDist

import numpy as np
import pytest

from rnagen.metrics import evaluate
from rnagen.metrics import membership as mm

MIA = [mm.metric_name(a, k) for a in mm.ATTACKS for k in mm.STATISTICS]


def population(n: int, *, d: int = 8, n_classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draws from a fixed mixture of ``n_classes`` Gaussians (class means on a sphere, shared covariance)."""
    means = np.random.default_rng(99).normal(0, 2.0, (n_classes, d))
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    return (means[y] + rng.normal(0, 1.0, (n, d))).astype(np.float32), y.astype(str)


def _rows(df) -> dict:
    return {r["name"]: r for r in df.to_dict("records")}


# ------------------------------------------------------------------------------------------- analytic cases
def test_copying_generator_is_detected_and_is_the_copies_reference():
    T, yt = population(240, seed=1)
    R, yr = population(150, seed=2)
    df = evaluate(R, T, train=T, real_labels=yr, synthetic_labels=yt, train_labels=yt, metrics=MIA, n_boot=200)
    rows = _rows(df)
    # every member sits at distance 0 from a synthetic profile, no non-member does
    assert rows["mia_ganleaks_auc"]["value"] == 1.0 and rows["mia_mc_auc"]["value"] == 1.0
    assert rows["mia_ganleaks_tpr_at_fpr001"]["value"] == 1.0
    assert rows["mia_ganleaks_auc"]["ci_low"] == 1.0
    assert rows["mia_ganleaks_cal_auc"]["value"] > 0.9
    att = df.attrs["membership"]
    # the synthetic set IS the training set here, so the worst-case reference equals the value
    for name in MIA:
        assert att["copies"][name] == pytest.approx(rows[name]["value"])
    assert att["sizes"] == {"members": 50, "nonmembers": 50, "reference": 50, "independent": 50, "copies": 240}
    assert "beat chance (family-wise over" in att["verdict"] and "FPR 0.01 needs 100 non-members" in att["verdict"]
    assert "GAN-Leaks: AUC 1 (bound 1 > chance 0.5)" in att["verdict"]
    assert "MC set membership: AUC 1 (bound 1 > chance 0.5)" in att["verdict"]
    # the independent real draw (the ideal) is far from the copies
    assert abs(rows["mia_ganleaks_auc"]["reference"] - 0.5) < 0.2
    assert rows["mia_ganleaks_auc"]["direction"] == "target 0.5"
    assert rows["mia_ganleaks_tpr_at_fpr001"]["direction"] == f"target {1 / 51:.3g}"


def test_held_out_copies_of_training_profiles_are_not_non_members():
    """Held-out profiles that are training profiles too (a sample in the data twice) are left out of the audit's
    non-members (and its reference and independent draw), with a note: the copying generator is then still seen
    with AUC 1 (0.89 with 30 such copies among the non-members, which it 'remembers' as well)."""
    T, yt = population(240, seed=1)
    R, yr = population(150, seed=2)
    R2, yr2 = np.vstack([R, T[:30]]), np.r_[yr, yt[:30]]
    df = evaluate(R2, T, train=T, real_labels=yr2, synthetic_labels=yt, train_labels=yt, metrics=MIA[:3], n_boot=0)
    assert _rows(df)["mia_ganleaks_auc"]["value"] == 1.0
    assert df.attrs["membership"]["note"].startswith("30 held-out profile(s) equal to training profiles left out")
    assert df.attrs["held_out_in_train"]["n"] == 30


def test_held_out_real_data_gives_chance_within_the_ci():
    T, yt = population(600, seed=3)
    R, yr = population(600, seed=4)
    S, ys = population(600, seed=5)  # a fresh real draw: the generator an auditor hopes for
    df = evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, metrics=MIA, n_boot=300)
    rows = _rows(df)
    for a in mm.ATTACKS:
        r = rows[mm.metric_name(a, "auc")]
        assert r["ci_low"] <= 0.5 <= r["ci_high"], (a, r)
        assert abs(r["value"] - 0.5) < 0.08, (a, r)
        assert abs(r["reference"] - 0.5) < 0.1, (a, r)
    assert df.attrs["membership"]["verdict"] == "no attack beats chance (family-wise over 15 statistics)"


def test_the_verdict_is_calibrated_family_wise_and_sees_a_leak_at_auc():
    """Scores without information (members and non-members exchangeable), 5 attacks, 35 non-members: the
    verdict calls at most 5% of clean audits leaky (27% with 95% intervals read one by one at FPR 0.01, where
    one non-member is already above chance); training profiles plus noise (AUC 0.85) are seen on AUC and TPR at
    FPR 0.1 though FPR 0.01 is out of reach of 35 non-members."""
    def rows(shift, t):
        r = np.random.default_rng(t)
        s = {a: np.r_[r.normal(shift, 1, 35), r.normal(0, 1, 35)] for a in mm.ATTACKS}
        st = {a: mm.attack_statistics(sc[:35], sc[35:]) for a, sc in s.items()}
        ci = mm._bootstrap(s, 35, n_boot=300, rng=np.random.default_rng(t), values=st)
        out = {}
        for a in s:
            for k, (al, _) in mm.STATISTICS.items():
                out[mm.metric_name(a, k)] = {"value": st[a][k], "ci_low": ci[a][k][0], "ci_high": ci[a][k][1],
                                             "direction": None if al is None else f"target {mm.chance_tpr(al, 35):.3g}"}
        return out

    alarms = sum(not mm.verdict(rows(0.0, t)).startswith("no attack") for t in range(100))
    assert alarms <= 5
    leak = mm.verdict(rows(1.5, 7))
    assert leak.startswith("5 of 5 attacks beat chance") and "FPR 0.01 needs 100 non-members" in leak
    assert "TPR@FPR 0.1" in leak and "TPR@FPR 0.01" not in leak
    assert mm.verdict({}) == "membership inference: not measured"


def test_gaussian_fitted_on_a_large_population_gives_near_chance():
    # 300 members and 300 non-members: an AUC's spread under chance is ~0.024, so 0.1 is four of them (with 100
    # of each it was 2.5, and LOGAN's AUC on one draw of them 0.59-0.60 whatever the classifier's seed)
    T, _ = population(4000, seed=6, n_classes=1)
    R, _ = population(700, seed=7, n_classes=1)
    rng = np.random.default_rng(8)
    mu, cov = T.mean(0), np.cov(T, rowvar=False)
    S = rng.multivariate_normal(mu, cov, size=2000).astype(np.float32)
    res = mm.membership_inference(T[:300], R[:300], S, R[300:], n_boot=200, seed=0)
    for a, v in res.items():
        assert abs(v["auc"] - 0.5) < 0.1, (a, v["auc"])
        assert v["chance"]["tpr_at_fpr001"] == pytest.approx(4 / 301)  # alpha n = 3: above the 4th non-member
    # five 95% intervals: one may miss 0.5 by chance (here LOGAN's, whose CI holds its classifier fixed)
    assert sum(v["auc_ci"][0] <= 0.5 <= v["auc_ci"][1] for v in res.values()) >= 4


# ------------------------------------------------------------------------------------------- brute force
def _dense(X, S):
    return np.sqrt(((X[:, None, :].astype(np.float64) - S[None, :, :].astype(np.float64)) ** 2).sum(-1))


def test_every_attack_agrees_with_a_dense_brute_force():
    from scipy.stats import gaussian_kde
    from sklearn.decomposition import PCA

    from rnagen.metrics._classifiers import fit_classifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 6)).astype(np.float32)
    S = rng.normal(0.2, 1.1, size=(45, 6)).astype(np.float32)
    R = rng.normal(size=(25, 6)).astype(np.float32)
    got = mm.attack_scores(X, S, R, pca_dims=3, seed=4, epochs=3)
    ds, dr = _dense(X, S), _dense(X, R)
    np.testing.assert_allclose(got["ganleaks"], -ds.min(1), rtol=1e-10)
    np.testing.assert_allclose(got["ganleaks_cal"], dr.min(1) - ds.min(1), rtol=1e-10, atol=1e-12)
    eps = np.median(ds.min(1))
    np.testing.assert_array_equal(got["mc"], (ds <= eps).sum(1) / len(S))
    assert len(set(got["mc"].tolist())) >= 3  # the counts vary: the comparison is not between constants
    clf = fit_classifier(np.concatenate([S, R]), np.r_[np.ones(45), np.zeros(25)].astype(np.int64), n_classes=2,
                         kind="mlp", seed=4, epochs=3, hidden=128)
    np.testing.assert_allclose(got["logan"], clf.predict_proba(X)[:, 1], rtol=1e-6)
    pca = PCA(n_components=3, random_state=4).fit(R.astype(np.float64))
    zx, zs, zr = (pca.transform(a.astype(np.float64)) for a in (X, S, R))
    want = gaussian_kde(zs.T).logpdf(zx.T) - gaussian_kde(zr.T).logpdf(zx.T)
    np.testing.assert_allclose(got["domias"], want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("density", ["kde", "gmm"])
def test_reference_side_shared_by_the_audits_gives_the_scores_of_separate_calls(density):
    """The audit attacks three synthetic sets with the same candidates and reference: what depends on those
    two alone is computed once (one entry per PCA dimension: 6 synthetic profiles allow 4, not 5) and every score
    equals that of a call computing it afresh."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 8)).astype(np.float32)
    R = rng.normal(size=(30, 8)).astype(np.float32)
    sets = [rng.normal(0.1 * i, 1.0, size=(n, 8)).astype(np.float32) for i, n in enumerate((50, 60, 6))]
    side = mm._ReferenceSide()
    for S in sets:
        shared = mm.attack_scores(X, S, R, pca_dims=5, seed=2, epochs=2, density=density, reference_side=side)
        alone = mm.attack_scores(X, S, R, pca_dims=5, seed=2, epochs=2, density=density)
        for a in mm.ATTACKS:
            np.testing.assert_allclose(shared[a], alone[a], rtol=1e-12, atol=1e-12, err_msg=a)
    assert side.d_r is not None and sorted(side.domias) == [(4, density), (5, density)]


def test_gmm_density_option_ranks_copies_and_differs_from_kde():
    T, _ = population(300, seed=9)
    R, _ = population(200, seed=10)
    X = np.concatenate([T[:60], R[:60]])
    kde = mm.attack_scores(X, T, R[60:], attacks=("domias",), pca_dims=4)["domias"]
    gmm = mm.attack_scores(X, T, R[60:], attacks=("domias",), pca_dims=4, density="gmm")["domias"]
    assert np.isfinite(gmm).all() and not np.allclose(gmm, kde)
    with pytest.raises(ValueError, match="density"):
        mm.attack_scores(X, T, R, attacks=("domias",), density="flow")  # type: ignore[arg-type]


def test_roc_statistics_agree_with_brute_force_and_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    pos, neg = rng.normal(0.7, 1, 80), rng.normal(0, 1, 120)
    st = mm.attack_statistics(pos, neg)
    assert st["auc"] == pytest.approx(roc_auc_score(np.r_[np.ones(80), np.zeros(120)], np.r_[pos, neg]))
    # untied scores: the interpolated ROC is the staircase, max TPR over thresholds with FPR <= alpha
    for alpha, key in ((0.1, "tpr_at_fpr01"), (0.01, "tpr_at_fpr001")):
        best = max((pos >= t).mean() for t in np.r_[np.inf, pos, neg] if (neg >= t).mean() <= alpha)
        assert st[key] == pytest.approx(best)
    # all scores tied: the diagonal (random tie-breaking), TPR = FPR, AUC 0.5
    tied = mm.attack_statistics(np.zeros(10), np.zeros(40))
    assert tied == pytest.approx({"auc": 0.5, "tpr_at_fpr01": 0.1, "tpr_at_fpr001": 0.01})


def test_chance_level_of_the_tpr_matches_simulation():
    rng = np.random.default_rng(2)
    n = 35
    sims = [mm.attack_statistics(rng.normal(size=n), rng.normal(size=n))["tpr_at_fpr001"] for _ in range(3000)]
    assert np.mean(sims) == pytest.approx(mm.chance_tpr(0.01, n), abs=0.004)
    assert mm.chance_tpr(0.01, n) == pytest.approx(1 / 36) and mm.chance_tpr(0.1, 1000) == pytest.approx(101 / 1001)


# ------------------------------------------------------------------------------------------- 500 dimensions
def test_stable_in_500_dimensions_where_exp_underflows():
    rng = np.random.default_rng(3)
    d = 500
    data = rng.normal(size=(700, d))
    shifts = np.array([3.0, 3.5, 4.0, 5.0])
    far = np.stack([np.full(d, s) for s in shifts]) + rng.normal(size=(4, d)) * 0.01
    # the naive kernel sum underflows to exactly 0 for every far point: log density -inf, no ranking left
    n = len(data)
    cov = np.cov(data, rowvar=False) * n ** (-2.0 / (d + 4))
    L = np.linalg.cholesky(cov)
    zf, zd = np.linalg.solve(L, far.T).T, np.linalg.solve(L, data.T).T
    naive = np.exp(-0.5 * ((zf[:, None, :] - zd[None]) ** 2).sum(-1)).sum(1)
    assert (naive == 0).all()
    logp = mm.kde_logpdf(data, far)
    assert np.isfinite(logp).all() and (np.diff(logp) < 0).all()  # farther: strictly lower log density
    # the whole audit on 500-gene profiles: a copying generator is still found by every distance attack
    T = rng.normal(size=(200, d)).astype(np.float32) * 5
    R = rng.normal(size=(150, d)).astype(np.float32) * 5
    res = mm.membership_inference(T[:50], R[:50], T, R[50:], n_boot=0, pca_dims=10)
    assert all(np.isfinite(v["auc"]) for v in res.values())
    assert res["ganleaks"]["auc"] == 1.0 and res["mc"]["auc"] == 1.0


# ------------------------------------------------------------------------------------------- the split
def test_split_is_stratified_disjoint_and_seeded():
    y = np.repeat(["a", "b", "c", "d"], [9, 7, 3, 1])
    part = mm.membership_split(y, seed=5)
    allidx = np.concatenate(list(part.values()))
    assert sorted(allidx.tolist()) == list(range(len(y)))
    assert sorted(len(p) for p in part.values()) == [6, 7, 7]
    for c, n in (("a", 9), ("b", 7)):
        per = [int((y[p] == c).sum()) for p in part.values()]
        assert max(per) - min(per) <= 1 and sum(per) == n
    assert all(np.array_equal(part[k], mm.membership_split(y, seed=5)[k]) for k in part)
    assert not np.array_equal(part["nonmembers"], mm.membership_split(y, seed=6)["nonmembers"])
    two = mm.membership_split(y, seed=5, with_reference=False)
    assert set(two) == {"nonmembers", "independent"} and len(two["nonmembers"]) + len(two["independent"]) == 20
    sets = mm.membership_sets(real_labels=y, n_real=20, train_labels=np.repeat(["a", "b", "c", "d"], 10),
                              n_train=40, seed=5)
    ytr = np.repeat(["a", "b", "c", "d"], 10)
    assert sorted(ytr[sets["members"]].tolist()) == sorted(y[sets["nonmembers"]].tolist())


def _leaky(seed: int):
    """Training and held-out draws and a synthetic set of half near-copies of training profiles (a leak)."""
    T, yt = population(200, seed=seed)
    R, yr = population(90, seed=seed + 1)
    S, ys = population(200, seed=seed + 2)
    S[::2] = T[::2] + np.random.default_rng(seed).normal(0, 0.05, T[::2].shape).astype(np.float32)
    return T, yt, R, yr, S, ys


def test_the_audit_attacks_the_same_profiles_however_the_rows_are_ordered():
    """The partition and the member subsample follow the profiles' content, not their row positions: files with
    the rows in another order give the same values, CIs, references and worst case."""
    T, yt, R, yr, S, ys = _leaky(30)
    kw = dict(metrics=MIA, n_boot=100, epochs=3)
    a = evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, **kw)
    pr, pt, ps = (np.random.default_rng(1).permutation(n) for n in (len(R), len(T), len(S)))
    b = evaluate(R[pr], S[ps], train=T[pt], real_labels=yr[pr], synthetic_labels=ys[ps], train_labels=yt[pt], **kw)
    assert _rows(a)["mia_ganleaks_auc"]["value"] > 0.6   # the leak is seen: the values compared carry signal
    cols = ["value", "ci_low", "ci_high", "reference"]
    np.testing.assert_allclose(b[cols].to_numpy(float), a[cols].to_numpy(float), atol=1e-6)
    assert a.attrs["membership"]["copies"] == pytest.approx(b.attrs["membership"]["copies"], abs=1e-6)
    # the genes in another order in every set: the same profiles attacked, so the distance attacks and LOGAN-D1
    # (its classifier's weights drawn in an order of the genes set by their values) score alike (DOMIAS's PCA
    # is the same up to rounding)
    pg = np.random.default_rng(2).permutation(R.shape[1])
    c = evaluate(R[:, pg], S[:, pg], train=T[:, pg], real_labels=yr, synthetic_labels=ys, train_labels=yt, **kw)
    same = [mm.metric_name(at, k) for at in ("ganleaks", "ganleaks_cal", "mc", "logan") for k in mm.STATISTICS]
    ra, rc = _rows(a), _rows(c)
    for n in same:
        assert rc[n]["value"] == pytest.approx(ra[n]["value"], abs=1e-6), n


def test_given_sets_are_the_ones_attacked_and_checked():
    T, yt, R, yr, S, ys = _leaky(40)
    kw = dict(train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, metrics=MIA[:3], n_boot=0)
    sets = mm.membership_sets(real_labels=yr, n_real=len(R), train_labels=yt, n_train=len(T), seed=2)
    given = evaluate(R, S, membership_sets=sets, **kw)
    assert given.attrs["membership"]["sizes"] == {k: len(sets[k]) for k in sets} | {"copies": len(T)}
    # the same sets in another order and as lists: the same audit; other sets: another one
    again = evaluate(R, S, membership_sets={k: list(v[::-1]) for k, v in sets.items()}, **kw)
    assert again["value"].tolist() == given["value"].tolist()
    other = mm.membership_sets(real_labels=yr, n_real=len(R), train_labels=yt, n_train=len(T), seed=3)
    assert evaluate(R, S, membership_sets=other, **kw)["value"].tolist() != given["value"].tolist()
    # a separate reference set: the parts without the reference
    Ref, _ = population(25, seed=45)
    two = mm.membership_sets(real_labels=yr, n_real=len(R), train_labels=yt, n_train=len(T), seed=2,
                             with_reference=False)
    df = evaluate(R, S, membership_sets=two, mia_reference=Ref, **kw)
    assert df.attrs["membership"]["sizes"]["nonmembers"] == len(two["nonmembers"])


@pytest.mark.parametrize("change, match", [
    (lambda s: {k: v for k, v in s.items() if k != "reference"}, "must name the parts"),
    (lambda s: {**s, "extra": [0, 1]}, "must name the parts"),
    (lambda s: {**s, "nonmembers": np.r_[s["nonmembers"], 90]}, r"\[0, 90\)"),
    (lambda s: {**s, "members": np.r_[s["members"], -1]}, r"\[0, 200\)"),
    (lambda s: {**s, "independent": s["independent"][:1]}, "at least 2 distinct"),
    (lambda s: {**s, "reference": np.r_[s["reference"], s["reference"][0]]}, "at least 2 distinct"),
    (lambda s: {**s, "reference": np.r_[s["reference"], s["nonmembers"][0]]}, "in two parts"),
    (lambda s: {**s, "members": np.asarray(s["members"], float)}, "list of row indices"),
    (lambda s: "members", "must name the parts"),
])
def test_bad_given_sets_are_refused(change, match):
    from rnagen.errors import ConfigError

    T, yt, R, yr, S, ys = _leaky(40)
    sets = mm.membership_sets(real_labels=yr, n_real=len(R), train_labels=yt, n_train=len(T), seed=2)
    with pytest.raises(ConfigError, match=match):
        evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, metrics=MIA[:1], n_boot=0,
                 membership_sets=change(sets))
    with pytest.raises(ConfigError, match="needs the training set"):
        evaluate(R, S, real_labels=yr, synthetic_labels=ys, metrics=["density"], n_boot=0, membership_sets=sets)


def test_membership_rows_leave_the_other_rows_unchanged():
    T, yt = population(120, seed=11)
    R, yr = population(60, seed=12)
    S, ys = population(120, seed=13)
    kw = dict(train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, n_boot=50, n_boot_expensive=2,
              classifier_seeds=(0,), epochs=2, k=3)
    other = ["precision", "density", "aa_ts", "dcr_share", "tstr_logreg_accuracy"]
    a = evaluate(R, S, metrics=other, **kw)
    b = evaluate(R, S, metrics=other + MIA[:3], **kw)
    assert b.iloc[: len(a)][["name", "value", "ci_low", "ci_high"]].equals(a[["name", "value", "ci_low", "ci_high"]])
    assert b["name"].tolist()[len(a):] == MIA[:3]


def test_separate_reference_and_too_small_sets():
    T, yt = population(80, seed=14)
    R, yr = population(60, seed=15)
    Ref, _ = population(25, seed=16)
    df = evaluate(R, T, train=T, real_labels=yr, synthetic_labels=yt, train_labels=yt, metrics=MIA[:1],
                  n_boot=0, mia_reference=Ref)
    att = df.attrs["membership"]
    assert att["reference_given"] and att["sizes"]["reference"] == 25
    assert att["sizes"]["nonmembers"] + att["sizes"]["independent"] == 60
    gmm = evaluate(R, T, train=T, real_labels=yr, synthetic_labels=yt, train_labels=yt, metrics=["mia_domias_auc"],
                   n_boot=0, mia_reference=Ref, mia_density="gmm", mia_pca_dims=3)
    assert gmm.attrs["membership"]["options"] == {"density": "gmm", "pca_dims": 3}
    kde = evaluate(R, T, train=T, real_labels=yr, synthetic_labels=yt, train_labels=yt, metrics=["mia_domias_auc"],
                   n_boot=0, mia_reference=Ref, mia_pca_dims=3)
    assert gmm["value"].iloc[0] != kde["value"].iloc[0]
    small = evaluate(R[:5], T, train=T, metrics=MIA[:1], n_boot=0)
    assert np.isnan(small["value"].iloc[0]) and "too small" in small.attrs["membership"]["note"]


# ------------------------------------------------------------------------------------------- CLI
def _h5ad(path, X, y, prefix):
    import anndata as ad
    import pandas as pd

    a = ad.AnnData(X=np.asarray(X, np.float32), obs=pd.DataFrame({"kind": pd.Categorical(y)},
                   index=[f"{prefix}{i}" for i in range(len(X))]),
                   var=pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])]))
    a.write_h5ad(path)
    return str(path)


@pytest.fixture
def cli_sets(tmp_path):
    T, yt = population(60, seed=17)
    R, yr = population(30, seed=18)
    Ref, yf = population(20, seed=19)
    return {"train": _h5ad(tmp_path / "train.h5ad", T + 8, yt, "t"),
            "real": _h5ad(tmp_path / "real.h5ad", R + 8, yr, "r"),
            "ref": _h5ad(tmp_path / "ref.h5ad", Ref + 8, yf, "f"), "tmp": tmp_path}


def _run(argv, capsys):
    from rnagen.cli.main import main

    capsys.readouterr()
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr()


def test_cli_reference_set_is_used(cli_sets, capsys):
    out = cli_sets["tmp"] / "m.json"
    rc, cap = _run(["evaluate", "--real", cli_sets["real"], "--synthetic", cli_sets["train"], "--train",
                    cli_sets["train"], "--reference", cli_sets["ref"], "--label-key", "kind", "--metrics",
                    "mia_ganleaks_auc,mia_mc_auc,mia_ganleaks_tpr_at_fpr001", "--n-boot", "20", "--floor", "none",
                    "--out", out], capsys)
    assert rc == 0, cap.err
    assert "membership inference: 2 of 2 attacks beat chance (family-wise over 2 statistics; FPR 0.01 needs 100 " \
           "non-members): GAN-Leaks: AUC 1 (bound 1 > chance 0.5); MC set membership: AUC 1" in cap.out
    assert "rough" not in cap.out   # 20 resamples: no note
    res = json.loads(out.read_text())
    assert res["inputs"]["n_reference"] == 20 and res["membership"]["reference_given"] is True
    assert [m["value"] for m in res["metrics"]] == [1.0, 1.0, 1.0]


def test_cli_reference_of_other_profiles_under_generic_ids_is_taken(cli_sets, capsys):
    """Generic sample ids (s0, s1, ...) name other profiles in each set: a reference of new profiles under the
    training set's ids is compared by values, and taken; one of them a training profile under its own id is a
    sample given twice, refused."""
    import anndata as ad

    tmp = cli_sets["tmp"]
    train = ad.read_h5ad(cli_sets["train"])
    Ref, yf = population(20, seed=19)
    fresh = _h5ad(tmp / "ref_generic.h5ad", Ref + 8, yf, "t")   # ids t0..t19, the training set's own
    argv = ["evaluate", "--real", cli_sets["real"], "--synthetic", cli_sets["train"], "--train", cli_sets["train"],
            "--label-key", "kind", "--metrics", "mia_ganleaks_auc", "--n-boot", "5", "--floor", "none"]
    rc, cap = _run([*argv, "--reference", fresh], capsys)
    assert rc == 0, cap.err
    # 5 resamples: the intervals are called rough and no verdict is read off them
    assert "note: --n-boot 5: intervals from fewer than 10 resamples are rough" in cap.out
    assert "membership inference: not judged (5 bootstrap resamples; a family-wise verdict needs at least 20" \
        in cap.out
    one = np.asarray(Ref + 8, np.float32)
    one[3] = train.X[3]   # t3: the training profile t3 itself
    rc, cap = _run([*argv, "--reference", _h5ad(tmp / "ref_one.h5ad", one, yf, "t")], capsys)
    assert rc == 2 and "shares 1 sample(s) with --train (the members), e.g. 't3'" in cap.err


@pytest.mark.parametrize("case, match", [
    ("overlap_train", "shares"), ("overlap_real", "shares"), ("no_train", "needs --train"),
    ("missing", "ref_missing"), ("genes", "genes"), ("tiny", "at least 3"),
    ("renamed_train", "--train (the members) profiles under other names"),
    ("renamed_real", "--real (the non-members) profiles under other names"),
])
def test_cli_bad_reference_is_one_line_exit_2(cli_sets, capsys, case, match):
    tmp = cli_sets["tmp"]
    ref = {"overlap_train": cli_sets["train"], "overlap_real": cli_sets["real"], "no_train": cli_sets["ref"],
           "missing": str(tmp / "ref_missing.h5ad"),
           "genes": _h5ad(tmp / "ref_genes.h5ad", np.ones((10, 3)), ["x"] * 10, "q"),
           "tiny": _h5ad(tmp / "ref_tiny.h5ad", np.ones((2, 8)), ["x"] * 2, "z")}.get(case)
    if case.startswith("renamed"):   # the members' or non-members' own profiles, renamed and rounded (a CSV export)
        import anndata as ad

        a = ad.read_h5ad(cli_sets[case.split("_")[1]])
        ref = _h5ad(tmp / f"ref_{case}.h5ad", np.round(a.X, 3), a.obs["kind"], "copy")
    out = tmp / "bad.json"
    argv = ["evaluate", "--real", cli_sets["real"], "--synthetic", cli_sets["train"], "--reference", ref,
            "--metrics", "mia_ganleaks_auc", "--n-boot", "5", "--floor", "none", "--out", out]
    if case != "no_train":
        argv += ["--train", cli_sets["train"]]
    rc, cap = _run(argv, capsys)
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("rnagen: error:"), cap.err
    assert match in lines[0] and "Traceback" not in cap.err
    assert not out.exists()


def test_cli_reference_made_of_the_synthetic_profiles_is_refused(cli_sets, capsys):
    """A reference of the synthetic set's own profiles (the same file, or renamed and rounded) puts the attacks
    that compare the synthetic density with the reference's at chance (AUC 0.5 exactly): refused in one line."""
    import anndata as ad

    tmp = cli_sets["tmp"]
    a = ad.read_h5ad(cli_sets["ref"])
    renamed = _h5ad(tmp / "syn_renamed.h5ad", np.round(a.X, 3), a.obs["kind"], "copy")
    for ref, match in ((cli_sets["ref"], "shares"), (renamed, "--synthetic (the set audited) profiles under other")):
        argv = ["evaluate", "--real", cli_sets["real"], "--synthetic", cli_sets["ref"], "--train", cli_sets["train"],
                "--reference", ref, "--label-key", "kind", "--metrics", "mia_domias_auc", "--n-boot", "5",
                "--floor", "none"]
        rc, cap = _run(argv, capsys)
        lines = [ln for ln in cap.err.splitlines() if ln.strip()]
        assert rc == 2 and len(lines) == 1 and match in lines[0] and "--synthetic" in lines[0], cap.err


def test_the_verdict_reads_student_t_intervals_by_t_and_does_not_judge_a_handful_of_resamples():
    """An interval of fewer than 200 replicates is Student's (``bootstrap_ci``): its standard error and the
    family-wise bound are read with t, not the normal; of two replicates a width-0 interval (they agreed) is not
    taken as a measurement."""
    from scipy.stats import t as student_t

    def rows(v, n_boot):
        out = {}
        for a in mm.ATTACKS:
            for k, (al, _) in mm.STATISTICS.items():
                val = (v if (a, k) == ("ganleaks", "auc") else 0.5 if al is None else al)
                half = (student_t.ppf(0.975, n_boot - 1) if n_boot else 1.96) * 0.02
                out[mm.metric_name(a, k)] = {"value": val, "ci_low": val - half, "ci_high": val + half,
                                             "n_boot": n_boot, "direction": None if al is None else f"target {al}"}
        return out

    m = 10   # 5 attacks x (AUC, TPR@FPR 0.1): FPR 0.01 is unresolved by 50 non-members
    t_bound = student_t.ppf(1 - 0.025 / m, 19) * 0.02
    normal_bound = NormalDist().inv_cdf(1 - 0.025 / m) * 2 * student_t.ppf(0.975, 19) * 0.02 / 3.92
    assert normal_bound < t_bound
    v = 0.5 + (normal_bound + t_bound) / 2   # beats chance read by the normal, not by t
    assert mm.verdict(rows(v, 20), n_nonmembers=50).startswith("no attack beats chance (family-wise over 10")
    assert mm.verdict(rows(0.5 + t_bound + 0.001, 20), n_nonmembers=50).startswith("1 of 5 attacks beat chance")
    # a leaderboard entry (no replicate count: the benchmark's 1,000, percentile intervals): the normal reading
    assert mm.verdict(rows(v, None), n_nonmembers=50).startswith("1 of 5")
    few = rows(0.9, 2)
    for r in few.values():
        r["ci_low"] = r["ci_high"] = r["value"]
    assert mm.verdict(few, n_nonmembers=50) == ("not judged (2 bootstrap resamples; a family-wise verdict needs "
                                                "at least 20: --n-boot)")


def _auc_leak_rows(v: float, reps: np.ndarray) -> dict:
    """Verdict rows of 50 non-members: GAN-Leaks' AUC ``v`` with its interval from ``reps`` as the audit makes it
    (``logit_ci``), every other statistic at chance with a narrow interval."""
    from rnagen.metrics._bootstrap import logit_ci

    out = {}
    for a in mm.ATTACKS:
        for k, (al, _) in mm.STATISTICS.items():
            val = 0.5 if al is None else al
            lo, hi = val - 0.01, val + 0.01
            if (a, k) == ("ganleaks", "auc"):
                val, (lo, hi) = v, logit_ci(v, reps)
            out[mm.metric_name(a, k)] = {"value": val, "ci_low": lo, "ci_high": hi, "n_boot": len(reps),
                                         "direction": None if al is None else f"target {al}"}
    return out


def test_the_verdict_reads_an_auc_interval_on_its_logit_scale_near_a_bound():
    """An AUC of 0.85 whose 95% interval is built on the logit scale (about [0.61, 0.95]): its family-wise lower
    end (10 statistics judged, two-sided level 0.995) is 0.47, below chance, so no attack beats chance; a standard
    error read off the interval's width on the AUC's scale would put that bound at 0.60 and call the attack
    leaky."""
    from rnagen.metrics._bootstrap import logit_ci

    reps = np.clip(0.85 + 0.7 * 0.85 * 0.15 * np.random.default_rng(0).standard_normal(1000), 0, 1)
    rows = _auc_leak_rows(0.85, reps)
    lo = rows["mia_ganleaks_auc"]["ci_low"]
    assert 0.6 < lo < 0.62 and 0.46 < logit_ci(0.85, reps, level=1 - 0.05 / 10)[0] < 0.48
    assert mm.verdict(rows, n_nonmembers=50) == ("no attack beats chance (family-wise over 10 statistics; FPR 0.01 "
                                                 "needs 100 non-members)")


def _auc_verdict_cases(seed: int, n: int, auc_range: tuple[float, float], n_boot: int):
    """``n`` GAN-Leaks AUCs drawn in ``auc_range`` with replicate spreads of 0.02-0.12: each AUC, its spread, its
    verdict rows (:func:`_auc_leak_rows`), the verdict line of 50 non-members and ``logit_ci`` of its replicates at
    the family-wise level of those rows (10 statistics, two-sided 0.995)."""
    from rnagen.metrics._bootstrap import logit_ci

    rng = np.random.default_rng(seed)
    for _ in range(n):
        v, sd = rng.uniform(*auc_range), rng.uniform(0.02, 0.12)
        reps = np.clip(v + sd * rng.standard_normal(n_boot), 0, 1)
        rows = _auc_leak_rows(v, reps)
        yield v, sd, rows, mm.verdict(rows, n_nonmembers=50), logit_ci(v, reps, level=1 - 0.05 / 10)


@pytest.mark.parametrize("n_boot", [50, 1000])
def test_the_verdict_agrees_with_the_auc_interval_at_the_family_wise_level(n_boot):
    """Over AUCs from 0.55 to 0.97 and spreads of 0.02-0.12: GAN-Leaks' AUC is called leaky exactly where
    ``logit_ci`` of its replicates at the family-wise level (10 statistics, two-sided 0.995) lies above 0.5, the
    bound the line prints is that interval's lower end, and never where the printed 95% interval holds 0.5."""
    called = 0
    for v, sd, rows, line, (fam, _) in _auc_verdict_cases(1, 60, (0.55, 0.97), n_boot):
        assert line.startswith("1 of 5 attacks beat chance") == (fam > 0.5), (v, sd, line)
        if fam > 0.5:
            called += 1
            assert f"GAN-Leaks: AUC {v:.3g} (bound {fam:.3g} > chance 0.5)" in line
            assert rows["mia_ganleaks_auc"]["ci_low"] > 0.5
    assert 10 < called < 50


def test_a_tpr_interval_is_never_narrower_than_the_members_wilson_interval():
    """20 members and 20 non-members, the five highest scores non-members: no member lies above the threshold of
    FPR 0.01 (the highest non-member) nor, in any resample, above the highest non-member drawn, so every
    replicate's TPR is 0; the share of 0 of 20 members says the TPR is below about 0.16 (Wilson), not 0."""
    from rnagen.metrics._bootstrap import wilson_ci

    r = np.random.default_rng(0)
    neg = np.r_[r.normal(0, 1, 15), 10.0 + np.arange(5)]
    s = {"ganleaks": np.r_[r.normal(0, 1, 20), neg]}
    st = {"ganleaks": mm.attack_statistics(s["ganleaks"][:20], neg)}
    assert st["ganleaks"]["tpr_at_fpr001"] == 0.0
    ci = mm._bootstrap(s, 20, n_boot=500, rng=np.random.default_rng(1), values=st)["ganleaks"]
    assert ci["tpr_at_fpr001"] == pytest.approx(wilson_ci(0.0, 20)) and 0.15 < ci["tpr_at_fpr001"][1] < 0.17
    for k in ("tpr_at_fpr01", "tpr_at_fpr001"):
        w_lo, w_hi = wilson_ci(st["ganleaks"][k], 20)
        assert ci[k][0] <= w_lo and ci[k][1] >= w_hi


def test_tpr_at_fpr001_intervals_of_20_non_members_cover_chance():
    """Scores without information, 20 members and 20 non-members, 300 audits: the TPR at FPR 0.01 is the share
    of members above the highest non-member, whose expectation is 1 / 21 (``chance_tpr``); half the audits have
    no member there. Its intervals cover 1 / 21 in at least 93% of the audits (the resample's percentile interval
    alone in 88%: it repeats a TPR of 0)."""
    r = np.random.default_rng(5)
    truth = mm.chance_tpr(0.01, 20)
    hits = 0
    for t in range(300):
        sc = r.normal(0, 1, 40)
        st = {"ganleaks": mm.attack_statistics(sc[:20], sc[20:])}
        ci = mm._bootstrap({"ganleaks": sc}, 20, n_boot=200, rng=np.random.default_rng(t), values=st)
        lo, hi = ci["ganleaks"]["tpr_at_fpr001"]
        hits += lo <= truth <= hi
    assert hits / 300 >= 0.93, hits


def test_copies_within_the_held_out_set_are_dealt_to_one_part(monkeypatch):
    """A profile twice in the held-out set (planted copies) goes whole to the non-members, the reference or the
    independent draw: a non-member whose copy is in the reference set sits at distance 0 from it and the
    calibrated attacks read it as a member. Without copies the deal is the profiles' own."""
    y = np.repeat(["a", "b", "c"], [12, 9, 6])
    g = np.arange(len(y))
    g[[3, 7, 11]] = 0   # copies labelled with the group's first row
    g[[13, 20]] = 9
    g[25] = 10   # a copy in another class: dealt with its group's first class
    for seed in range(6):
        plain = mm.membership_split(y, seed=seed)
        same = mm.membership_split(y, seed=seed, groups=np.arange(len(y)) + 100)   # labels of any value
        assert all(np.array_equal(plain[k], same[k]) for k in plain)
        part = mm.membership_split(y, seed=seed, groups=g)
        assert sorted(np.concatenate(list(part.values())).tolist()) == list(range(len(y)))
        where = {i: k for k, v in part.items() for i in v.tolist()}
        for grp in ([0, 3, 7, 11], [9, 13, 20], [10, 25]):
            assert len({where[i] for i in grp}) == 1, (seed, grp, part)
    # evaluate finds the copies in the held-out set and attacks no non-member with its copy beside it
    T, yt = population(120, seed=1)
    R, yr = population(60, seed=2)
    R2, yr2 = np.vstack([R, R[:24]]), np.r_[yr, yr[:24]]
    seen: dict[str, np.ndarray] = {}
    audit = mm._audit

    def spy(M, N, S, Rf, **kw):
        seen.setdefault("N", N)
        seen.setdefault("Rf", Rf)
        return audit(M, N, S, Rf, **kw)

    monkeypatch.setattr(mm, "_audit", spy)
    evaluate(R2, T, train=T, real_labels=yr2, synthetic_labels=yt, train_labels=yt, metrics=MIA[:3], n_boot=0)
    d = ((seen["N"][:, None, :] - seen["Rf"][None, :, :]) ** 2).sum(-1)
    assert d.min() > 0


def _leaking_audit(rng: np.random.Generator, n: int = 20, genes: int = 20):
    """One audit of a generator whose 300 synthetic profiles are 0.9 t + sqrt(0.19) z of 300 of its 400 training
    profiles t: ``n`` members drawn from them, ``n`` new non-members, 20 reference profiles."""
    T = rng.standard_normal((400, genes)).astype(np.float32)
    u = rng.choice(400, 300, replace=False)
    S = (0.9 * T[u] + np.sqrt(0.19) * rng.standard_normal((300, genes))).astype(np.float32)
    M = T[rng.choice(400, n, replace=False)]
    N, R = (rng.standard_normal((k, genes)).astype(np.float32) for k in (n, 20))
    return M, N, S, R


def test_the_auc_intervals_hold_their_level_for_a_leaking_generator_with_few_non_members():
    # 20 members, 20 non-members: the AUC of GAN-Leaks sits near 0.87 and MC's near 0.80. The true value is the
    # mean over 600 audits (its SE ~0.003); 200 audits' 95% intervals must contain it at least 92.5% of the time,
    # pooled over the two attacks (binomial SE 0.011 at 0.95). The members' and non-members' resample with the
    # scores held fixed, MC's radius included, and a percentile interval, falls short here (about 0.89 pooled).
    atts = ["ganleaks", "mc"]
    rng = np.random.default_rng(20261207)
    truth = {a: [] for a in atts}
    for _ in range(600):
        M, N, S, R = _leaking_audit(rng)
        sc = mm.attack_scores(np.concatenate([M, N]), S, R, attacks=atts)
        for a in atts:
            truth[a].append(mm.attack_statistics(sc[a][:20], sc[a][20:])["auc"])
    mean = {a: float(np.mean(v)) for a, v in truth.items()}
    sd = {a: float(np.std(v)) for a, v in truth.items()}
    assert 0.84 < mean["ganleaks"] < 0.9 and 0.76 < mean["mc"] < 0.84
    hit = {a: 0 for a in atts}
    half = {a: [] for a in atts}
    trials = 200
    for t in range(trials):
        out = mm.membership_inference(*_leaking_audit(rng), attacks=atts, n_boot=1000, seed=t)
        for a in atts:
            lo, hi = out[a]["auc_ci"]
            hit[a] += lo <= mean[a] <= hi
            half[a].append((hi - lo) / 2)
    pooled = (hit["ganleaks"] + hit["mc"]) / (2 * trials)
    assert pooled >= 0.925, (hit, trials)
    assert min(hit.values()) / trials >= 0.9, hit
    # not bought by width alone: the mean half-width within 1.3 times what the spread over audits asks for
    for a in atts:
        assert np.mean(half[a]) < 1.3 * 1.96 * sd[a], (a, np.mean(half[a]), sd[a])


def test_mc_counts_at_every_replicate_radius_match_a_dense_count():
    rng = np.random.default_rng(3)
    M, N, S, R = _leaking_audit(rng)
    X = np.concatenate([M, N])
    sc, mc = mm._attack_scores(X, S, R, attacks=["mc"], epsilon_quantile=0.5, pca_dims=10, density="kde",
                               seed=0, epochs=10, reference_side=None, logan_inputs=None)
    assert mc is not None
    D = np.sqrt(((X[:, None, :].astype(np.float64) - S[None]) ** 2).sum(-1))
    eps = float(np.quantile(D.min(1), 0.5))
    radii = np.array([0.5 * eps, 0.9 * eps, eps, 1.2 * eps, 2.0 * eps])
    got = mm._mc_counts_at(mc, radii)
    assert np.array_equal(got, np.stack([(D <= r).sum(1) for r in radii], 1))
    # at the audit's own radius the counts are its scores
    assert np.array_equal(got[:, 2] / len(S), sc["mc"])


def test_replicates_with_their_own_scores_give_the_fixed_score_statistics_and_ties():
    rng = np.random.default_rng(5)
    for _ in range(30):
        n1, n2 = (int(x) for x in rng.integers(2, 25, 2))
        s = rng.integers(0, 4, n1 + n2).astype(float)   # many ties
        B = 6
        wp, wn = np.zeros((B, n1 + n2)), np.zeros((B, n1 + n2))
        for b in range(B):
            np.add.at(wp[b], rng.integers(0, n1, n1), 1.0)
            np.add.at(wn[b], n1 + rng.integers(0, n2, n2), 1.0)
        fixed = mm._Roc(s[:n1], s[n1:]).statistics(wp, wn)
        varying = mm._varying_statistics(np.tile(s, (B, 1)), wp, wn)
        for k in mm.STATISTICS:
            np.testing.assert_allclose(varying[k], fixed[k], atol=1e-12)


def test_the_mc_interval_follows_its_radius_over_resamples():
    # a resample of the candidates moves MC's radius (a quantile of their own nearest-synthetic distances) and with
    # it every score: the replicates recompute it, so the interval differs from one over scores held fixed, and its
    # AUC interval still contains the estimate
    rng = np.random.default_rng(11)
    M, N, S, R = _leaking_audit(rng)
    out = mm.membership_inference(M, N, S, R, attacks=["mc"], n_boot=500, seed=1)["mc"]
    a = mm._audit(M, N, S, R, attacks=("mc",))
    fixed = mm._bootstrap(a.scores, len(M), n_boot=500, rng=np.random.default_rng(1), values=a.values, mc=None)
    assert out["auc_ci"][0] <= out["auc"] <= out["auc_ci"][1]
    assert out["auc_ci"] != pytest.approx(fixed["mc"]["auc"]), (out["auc_ci"], fixed["mc"]["auc"])


@pytest.mark.parametrize("n_boot", [50, 1000])
def test_an_auc_below_chance_is_said_as_the_reversed_attacks_leak(n_boot):
    """A synthetic set that keeps away from its training profiles (members farther from it than non-members):
    GAN-Leaks' AUC well below 0.5 is said where its family-wise upper bound, the mirror of the lower one of
    1 - AUC on the logit scale, lies below 0.5, with that bound; an AUC whose upper bound reaches 0.5 is not."""
    said = 0
    for v, sd, rows, line, (_, upper) in _auc_verdict_cases(2, 40, (0.03, 0.45), n_boot):
        assert ("below chance" in line) == (upper < 0.5), (v, sd, line)
        if upper < 0.5:
            said += 1
            assert line.startswith("no attack beats chance as designed (family-wise over 10 statistics")
            assert f"GAN-Leaks: AUC {v:.3g} (bound {upper:.3g} < chance 0.5)" in line
            assert rows["mia_ganleaks_auc"]["ci_high"] < 0.5
        else:
            assert line.startswith("no attack beats chance (family-wise")
    assert 10 < said < 40


def test_an_auc_below_chance_from_attacked_scores_is_said():
    """Scores of members drawn lower than non-members' (AUC about 0.15, 35 of each, the audit's own bootstrap):
    the verdict says the reversed score tells members apart; exchangeable scores say nothing of the kind."""
    def rows(shift, t):
        r = np.random.default_rng(t)
        s = {a: np.r_[r.normal(shift, 1, 35), r.normal(0, 1, 35)] for a in mm.ATTACKS}
        st = {a: mm.attack_statistics(sc[:35], sc[35:]) for a, sc in s.items()}
        ci = mm._bootstrap(s, 35, n_boot=300, rng=np.random.default_rng(t), values=st)
        return {mm.metric_name(a, k): {"value": st[a][k], "ci_low": ci[a][k][0], "ci_high": ci[a][k][1],
                                       "direction": None if al is None else f"target {mm.chance_tpr(al, 35):.3g}"}
                for a in s for k, (al, _) in mm.STATISTICS.items()}

    line = mm.verdict(rows(-1.5, 3))
    assert line.startswith("no attack beats chance as designed") and line.count("< chance 0.5") == 5
    assert sum("below chance" in mm.verdict(rows(0.0, t)) for t in range(100)) <= 5


def test_a_given_reference_holding_a_few_members_under_other_names_is_attacked_without_them():
    """A --reference set with a few training profiles under other names (fewer than half: more is refused) is a
    sample of the population holding members: they are left out of it, with a note, so the audit reads as with the
    clean reference; kept, DOMIAS's reference density would sit on those members and hide their leak."""
    T, yt = population(120, seed=21)
    R, yr = population(60, seed=22)
    Ref, _ = population(30, seed=23)
    M = mm.metric_name("domias", "auc")
    kw = {"train": T, "real_labels": yr, "synthetic_labels": yt, "train_labels": yt, "metrics": [M, MIA[0]],
          "n_boot": 0}
    clean = evaluate(R, T, mia_reference=Ref, **kw)
    leaky = evaluate(R, T, mia_reference=np.vstack([Ref, np.round(T[:12], 4)]), **kw)
    att = leaky.attrs["membership"]
    assert att["sizes"]["reference"] == 30
    # the synthetic set is the training set (a copying generator): those 12 are its profiles too
    assert att["reference_note"].endswith(": 12 training profile(s), 12 synthetic profile(s)")
    assert "reference_note" not in clean.attrs["membership"]
    assert _rows(leaky)[M]["value"] == pytest.approx(_rows(clean)[M]["value"])
    assert _rows(leaky)[MIA[0]]["value"] == pytest.approx(_rows(clean)[MIA[0]]["value"])
