import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen.errors import ConfigError
from rnagen.metrics import METRICS, evaluate, prepare


def _sets(rng, n=240, g=20, C=3):
    centers = rng.normal(size=(C, g)) * 2.0

    def make(m):
        y = rng.integers(0, C, m)
        # linear-scale, positive "expression": evaluate must log2(x+1) it
        X = np.exp2(np.clip(3.0 + centers[y] + rng.normal(size=(m, g)), 0, None)) - 1.0
        return X.astype(np.float32), np.array([f"c{c}" for c in y])

    return make(n), make(n), make(n)


def _adata(X, y):
    a = ad.AnnData(X=X, obs=pd.DataFrame({"tissue": y}, index=[f"s{i}" for i in range(len(X))]),
                   var=pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])]))
    return a


@pytest.fixture(scope="module")
def result():
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    (R, yr), (S, ys), (T, yt) = _sets(rng)
    # top_k 5 of the 20 genes: a top-k of every gene makes the concordance Jaccard 1 by construction (not reported)
    df = evaluate(_adata(R, yr), _adata(S, ys), train=_adata(T, yt), label_key="tissue", n_boot=200,
                  n_boot_expensive=5, k=5, classifier_seeds=(0,), epochs=5, biology={"top_k": 5})
    return df


def test_every_metric_with_ci_reference_and_direction(result):
    df = result
    overall = df[df.group == "all"].set_index("name")
    assert set(overall.index) == set(METRICS) - {"geneset_ks"}  # the gene-set indicator needs gene_sets=
    # independent genes: no co-expression edge in any set, so edge precision / recall / F1 are undefined
    no_edges = ["coexpr_edge_precision", "coexpr_edge_recall", "coexpr_edge_f1"]
    assert overall.loc[no_edges, "value"].isna().all()
    overall = overall.drop(index=no_edges)
    assert overall["value"].notna().all()
    with_ci = overall[overall["family"] != "biology"]  # the biology family draws no bootstrap resamples
    assert (with_ci["ci_low"] <= with_ci["value"] + 1e-9).all()
    assert (with_ci["value"] <= with_ci["ci_high"] + 1e-9).all()
    assert overall.drop(index="privacy_loss")["reference"].notna().all()
    assert np.isnan(overall.loc["privacy_loss", "reference"])
    # DCR references: held-out halves scored like a synthetic set sit at the exchangeable values (the share: of
    # the 120 profiles of one half, within 3 binomial standard deviations of 0.5)
    assert abs(overall.loc["dcr_share", "reference"] - 0.5) < 3 * np.sqrt(0.25 / 120)
    assert abs(overall.loc["dcr_ratio", "reference"] - 1.0) < 0.1
    assert overall.loc["near_copy_share", "reference"] < 0.1
    assert overall.loc["precision", "direction"] == "higher" and overall.loc["aa_ts", "direction"] == "target 0.5"
    # the synthetic set is drawn like the real data: every indicator sits near its reference
    assert abs(overall.loc["aa_ts", "value"] - 0.5) < 0.1
    assert overall.loc["tstr_mlp_accuracy", "value"] > 0.9
    per_class = df[df.group != "all"]
    assert set(per_class.group) == {"c0", "c1", "c2"}
    assert set(per_class.name) == {"tstr_mlp_macro_f1", "tstr_logreg_macro_f1", "de_f1", "concordance_jaccard",
                                   "coexpr_edge_f1"}
    assert df.attrs["preprocessing"]["real"] == "log2(x+1)"


def test_each_indicator_is_the_same_whichever_others_are_computed(result):
    """One seed, one number: every indicator's value, CI and reference are the same computed with all the others
    (the ``result`` fixture) or with its family alone, in a run of its own (each indicator resamples from a
    stream of its own, not one stream shared in registry order)."""
    rng = np.random.default_rng(1)
    (R, yr), (S, ys), (T, yt) = _sets(rng)
    kw = dict(train=_adata(T, yt), label_key="tissue", n_boot=200, n_boot_expensive=5, k=5, classifier_seeds=(0,),
              epochs=5, biology={"top_k": 5})
    cols = ["value", "ci_low", "ci_high", "reference"]
    full = result.set_index(["name", "group"])[cols]
    for family in sorted({METRICS[n].family for n in result["name"]}):
        alone = evaluate(_adata(R, yr), _adata(S, ys), metrics=[family], **kw).set_index(["name", "group"])[cols]
        np.testing.assert_allclose(alone.to_numpy(float), full.loc[alone.index].to_numpy(float), rtol=1e-9,
                                   atol=1e-12, err_msg=family)


def _many_classes(seed: int = 5, classes: int = 10, n_train: int = 10, n_held: int = 3):
    """Log-scale sets of ``classes`` classes: a training set of ``n_train`` per class, held-out and synthetic
    sets of ``n_held`` per class (the synthetic set drawn like the real data)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2.0, (classes, 30))

    def draw(per):
        y = np.repeat(np.arange(classes), per)
        X = np.clip(6.0 + centres[y] + rng.normal(0, 1.0, (len(y), 30)), 0, None).astype(np.float32)
        return _adata(X, np.array([f"t{c}" for c in y]))

    return draw(n_train), draw(n_held), draw(n_held)


def test_the_reference_has_the_synthetic_label_mix_and_ignores_the_row_order():
    """The real-vs-real reference is a training subsample with the synthetic set's label mix (a random one mixes
    the classes and scores real data worse than a perfect generator), dealt in the rows' content order."""
    from rnagen.metrics._context import reference_rows

    T, R, S = _many_classes()
    yt, ys = T.obs["tissue"].to_numpy(), S.obs["tissue"].to_numpy()
    rows = reference_rows(np.asarray(T.X), yt, ys, S.n_obs, np.random.default_rng(0))
    assert sorted(yt[rows].tolist()) == sorted(ys.tolist())
    kw = dict(label_key="tissue", metrics=["frechet_pca", "mmd", "density", "dcr_share", "dcr_ratio"], n_boot=20,
              n_boot_expensive=2)
    a = evaluate(R, S, train=T, **kw).set_index("name")["reference"]
    b = evaluate(R, S, train=T[::-1].copy(), **kw).set_index("name")["reference"]
    np.testing.assert_allclose(b.to_numpy(float), a.to_numpy(float), rtol=1e-4)


def test_the_frechet_pca_reference_is_what_new_real_profiles_score():
    """The PCA space is fitted on training profiles the reference is not drawn from: a reference scored in its
    own fit's space (whose projections carry the variance the fit gave them) sits far above what a perfect
    generator, new real profiles, scores where genes are many for the training profiles (here 200 for 120 genes,
    50 components)."""
    gaps = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        T, R, S = (rng.normal(size=(n, 120)).astype(np.float32) for n in (200, 60, 60))
        out = evaluate(R, S, train=T, metrics=["frechet_pca"], n_boot_expensive=2, seed=seed)
        row = out.set_index("name").loc["frechet_pca"]
        gaps.append(row["reference"] / row["value"] - 1.0)
        assert "reference_note" not in out.attrs
    # in the fit's space the reference reads about 50% above the perfect generator
    assert abs(float(np.mean(gaps))) < 0.15, gaps


def test_the_fits_are_the_training_set_s_where_the_reference_takes_it_whole_and_it_is_said():
    rng = np.random.default_rng(0)
    T, R, S = (rng.normal(size=(n, 20)).astype(np.float32) for n in (60, 60, 60))
    out = evaluate(R, S, train=T, metrics=["frechet_pca"], n_boot_expensive=2)
    assert out.attrs["reference_note"].startswith("the synthetic set is as large as the training set, so the "
                                                  "reference is the training set itself: the z-scores")
    assert out.attrs["preprocessing"]["zscore"] == "per gene, mean/std of the real training set"
    # 100 training rows, 60 in the reference: 40 others, too few for 50 components
    out = evaluate(R, S, train=np.vstack([T, T[:40] + 0.5]), metrics=["frechet_pca"], n_boot_expensive=2)
    assert out.attrs["reference_note"].startswith("at most 50 training profiles lie outside the reference")
    out = evaluate(R, S[:30], train=np.vstack([T, T + 0.5]), metrics=["frechet_pca"], n_boot_expensive=2)
    assert "reference_note" not in out.attrs
    assert out.attrs["preprocessing"]["zscore"].endswith("outside the real-vs-real reference (90 profiles)")


def _simulated(seed: int, sizes: tuple[int, ...], genes: int = 3000) -> list[tuple[np.ndarray, np.ndarray]]:
    """Independent draws of one distribution, one set per size: three classes with their own means on log-scale
    values (real profiles of it: a perfect generator's are another draw)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 0.7, (3, genes))
    out = []
    for n in sizes:
        y = rng.integers(0, 3, n)
        out.append(((6 + centres[y] + rng.normal(0, 1, (n, genes))).astype(np.float32), np.array([f"c{c}" for c in y])))
    return out


def test_the_reference_is_what_new_real_profiles_score_where_genes_outnumber_training_profiles():
    """The z-scores and the classifier Fréchet distance's MLP are fitted on the training profiles outside the
    reference: fitted on the reference's own, they drew its profiles closer together (a density well above a
    perfect generator's) and into its classifier's features (a Fréchet distance twice a perfect generator's)."""
    diffs = {"density": [], "frechet_classifier": []}
    for seed in range(3):
        (R, yr), (T, yt), (S, ys) = _simulated(seed, (60, 180, 60))
        df = evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, seed=seed,
                      metrics=list(diffs), n_boot=5, n_boot_expensive=2, classifier_seeds=(0,))
        rows = df[df.group == "all"].set_index("name")
        for m in diffs:
            diffs[m].append(rows.loc[m, "reference"] / rows.loc[m, "value"] - 1)
    assert abs(np.mean(diffs["density"])) < 0.06, diffs
    assert abs(np.mean(diffs["frechet_classifier"])) < 0.25, diffs


def test_a_training_sized_set_scored_on_a_held_out_sized_part_has_its_ceiling_outside_the_fits():
    """A synthetic set as large as the training set has the whole training set, inside the z-scores and the
    Fréchet PCA, as its reference: with genes outnumbering training profiles a perfect generator (new real
    profiles) reads far from it. fidelity_size="held-out" scores the families judged against the reference on a
    held-out-sized part, whose reference (as large) lies outside the fits: a perfect generator meets it."""
    ratios = {"synthetic": {"density": [], "frechet_pca": []}, "held-out": {"density": [], "frechet_pca": []}}
    for seed in range(10):   # one draw's density ratio is noisy: the mean of ten is judged
        (R, yr), (T, yt), (S, ys) = _simulated(seed, (60, 180, 180))
        for size, got in ratios.items():
            df = evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, seed=seed,
                          metrics=list(got), n_boot=5, n_boot_expensive=2, fidelity_size=size)
            rows = df.set_index("name")
            for m in got:
                got[m].append(rows.loc[m, "reference"] / rows.loc[m, "value"] - 1)
            assert ("reference_note" in df.attrs) == (size == "synthetic")
            assert ("fidelity_size_note" in df.attrs) == (size == "held-out")
    # in the fits the reference reads denser than new real profiles, and its projections spread wider
    assert np.mean(ratios["synthetic"]["density"]) > 0.1 and np.mean(ratios["synthetic"]["frechet_pca"]) > 1
    assert abs(np.mean(ratios["held-out"]["density"])) < 0.06, ratios
    assert abs(np.mean(ratios["held-out"]["frechet_pca"])) < 0.1, ratios


def test_the_held_out_sized_part_is_drawn_like_the_held_out_set_and_the_other_families_see_every_profile():
    from rnagen.metrics.evaluate import _like_held_out

    T, R, _ = _many_classes(n_train=12, n_held=4)
    R = R[np.r_[0:40:2, 1:8:2]].copy()   # the held-out set: 2 per class, 4 of t0 and t1
    S = T.copy()                          # training-sized; each profile a copy of a training one
    S.obs_names = [f"x{i}" for i in range(S.n_obs)]
    rows = _like_held_out(S, None, R, None, "tissue", 4)
    assert S.obs["tissue"].iloc[rows].value_counts().sort_index().to_dict() == \
        R.obs["tissue"].value_counts().sort_index().to_dict()
    flipped = S[::-1].copy()
    back = _like_held_out(flipped, None, R, None, "tissue", 4)
    np.testing.assert_array_equal(np.sort(np.asarray(flipped.X)[back], axis=0), np.sort(np.asarray(S.X)[rows], axis=0))
    kw = dict(label_key="tissue", n_boot=20, n_boot_expensive=2, seed=4)
    df = evaluate(R, S, train=T, metrics=["density", "coverage", "near_copy_share"], fidelity_size="held-out", **kw)
    part = evaluate(R, S[rows].copy(), train=T, metrics=["density", "coverage"], **kw).set_index("name")
    got = df.set_index("name")
    for m in ("density", "coverage"):
        assert got.loc[m, "value"] == pytest.approx(part.loc[m, "value"])
        assert got.loc[m, "reference"] == pytest.approx(part.loc[m, "reference"])
    # the privacy family on every profile: all 120 copies flagged, not the 24 of the part
    assert got.loc["near_copy_share", "value"] == 1.0 and len(df.attrs["flagged_near_copies"]) == S.n_obs
    assert "24 of the synthetic set's 120 profiles" in df.attrs["fidelity_size_note"]
    # a floor is cut like the synthetic set, its shares measured against the same ceiling
    F = S.copy()
    F.X = np.asarray(F.X) + np.random.default_rng(0).normal(0, 1, F.shape).astype(np.float32)
    fl = evaluate(R, S, train=T, floor=F, metrics=["density"], fidelity_size="held-out", **kw).set_index("name")
    cut = evaluate(R, S[rows].copy(), train=T, floor=F[_like_held_out(F, None, R, None, "tissue", 5)].copy(),
                   metrics=["density"], **kw).set_index("name")
    assert fl.loc["density", "floor"] == pytest.approx(cut.loc["density", "floor"])
    with pytest.raises(ConfigError, match="fidelity_size must be synthetic or held-out"):
        evaluate(R, S, train=T, fidelity_size="test", **kw)


def test_the_whole_set_families_do_not_depend_on_the_part_or_on_what_else_is_asked_for():
    """Utility, privacy, membership and privacy_loss are scored on the whole synthetic set in its own fits, as
    fidelity_size="synthetic" scores them, whatever else is asked for beside them and whatever label mix the
    synthetic set has (TRTR is the same), and privacy_loss reads a copy of the training set as one."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 0.7, (3, 40))

    def draw(n):
        y = rng.integers(0, 3, n)
        return np.exp(2 + centres[y] + rng.normal(0, 0.5, (n, 40))).round().astype(np.float32), \
            np.array([f"c{c}" for c in y])

    (R, yr), (T, yt), (S, ys) = draw(20), draw(120), draw(120)
    kw = dict(train=T, real_labels=yr, train_labels=yt, seed=1, n_boot=20, n_boot_expensive=2, k=3, epochs=2,
              classifier_seeds=(0,))
    whole = ["dcr_share", "near_copy_share", "tstr_logreg_accuracy", "mia_ganleaks_auc"]

    def rows(size, metrics, S=S, ys=ys):
        df = evaluate(R, S, synthetic_labels=ys, metrics=metrics, fidelity_size=size, **kw)
        return df[df.group == "all"].set_index("name")
    alone = rows("held-out", ["privacy", "utility", "membership"])
    beside = rows("held-out", ["privacy", "utility", "membership", "density"])
    plain = rows("synthetic", ["privacy", "utility", "membership"])
    for got in (beside, plain):
        np.testing.assert_allclose(got.loc[whole, ["value", "reference"]].to_numpy(float),
                                   alone.loc[whole, ["value", "reference"]].to_numpy(float), rtol=1e-9)
    ys2 = np.where(ys == "c2", "c0", ys)   # a generator that never draws c2: TRTR is the same
    assert rows("held-out", ["tstr_logreg_accuracy", "density"], ys=ys2).loc["tstr_logreg_accuracy", "reference"] \
        == pytest.approx(plain.loc["tstr_logreg_accuracy", "reference"])
    copy = {size: rows(size, ["privacy_loss", "density"], S=T, ys=yt).loc["privacy_loss", "value"]
            for size in ("synthetic", "held-out")}
    assert copy["held-out"] == pytest.approx(copy["synthetic"]) and copy["synthetic"] > 0.4
    df = evaluate(R, S, synthetic_labels=ys, metrics=["privacy"], fidelity_size="held-out", **kw)
    assert "reference_note" not in df.attrs   # nothing scored was judged against the reference


def test_held_out_sizing_says_when_too_few_training_profiles_remain_outside_the_reference():
    rng = np.random.default_rng(1)
    T, R, S = (rng.normal(6, 1, (n, 30)).astype(np.float32) for n in (33, 9, 33))
    df = evaluate(R, S, train=T, metrics=["density", "dcr_share"], fidelity_size="held-out", n_boot=5, k=3)
    assert df.attrs["reference_note"].startswith("at most 50 training profiles lie outside the reference")
    assert "scored on 9 of the synthetic set's 33 profiles, drawn like the held-out set; the training set has too " \
        "few other profiles to fit the z-scores and feature spaces outside the reference" in \
        df.attrs["fidelity_size_note"]
    with pytest.raises(ConfigError, match="fidelity_size held-out needs the training set"):
        evaluate(R, S, fidelity_size="held-out")
    with pytest.raises(ConfigError, match="metrics names nothing"):
        evaluate(R, S, train=T, metrics=[])
    # families of which nothing can be computed (no labels) leave no empty table behind
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        df = evaluate(R, S, train=T, metrics=["fidelity", "utility"], fidelity_size="held-out", n_boot=5, k=3,
                      n_boot_expensive=2)
    assert df["n_boot"].dtype.kind == "i" and set(df["family"]) == {"fidelity"}


def test_evaluate_command_says_where_the_pca_space_holds_the_reference(tmp_path, capsys):
    from rnagen.cli.main import main

    rng = np.random.default_rng(0)
    paths = {}
    for name, n in (("train", 60), ("real", 40), ("syn", 60)):
        X = np.exp2(rng.normal(4.0, 1.0, size=(n, 20))).astype(np.float32)
        paths[name] = tmp_path / f"{name}.h5ad"
        _adata(X, np.array(["a", "b"] * (n // 2))).write_h5ad(paths[name])
    argv = ["evaluate", "--real", paths["real"], "--synthetic", paths["syn"], "--train", paths["train"],
            "--label-key", "tissue", "--metrics", "frechet_pca", "--floor", "none", "--n-boot-expensive", "2"]
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 0
    assert "note: the synthetic set is as large as the training set, so the reference is the training set " \
        "itself" in capsys.readouterr().out
    # scored on a part like the held-out set: a reference outside the fits, and said
    out = tmp_path / "scores.json"
    assert main([str(a) for a in argv] + ["--fidelity-size", "held-out", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "as large as the training set" not in text
    assert "note: the indicators judged against the real-vs-real reference (fidelity, adversarial, detection, " \
        "correlation, biology, but privacy_loss) are scored on 40 of the synthetic set's 60 profiles" in text
    assert json.loads(out.read_text())["settings"]["fidelity_size"] == "held-out"


def test_the_floor_is_measured_in_the_synthetic_set_s_pca_space(monkeypatch):
    """A floor of another label mix would draw other reference rows and fit other z-scores and another PCA space;
    it is scored in the synthetic set's (one fit), so the model, the floor and the ceiling share one scale."""
    import rnagen.metrics.fidelity as fidelity

    fits = []
    real_init = fidelity.PCASpace.__init__
    monkeypatch.setattr(fidelity.PCASpace, "__init__", lambda self, X, **k: fits.append(len(X)) or
                        real_init(self, X, **k))
    T, R, S = _many_classes(n_train=12)
    F = S[S.obs["tissue"].isin(["t0", "t1", "t2", "t3", "t4"]).to_numpy()].copy()
    F = ad.concat([F, F])
    F.obs_names_make_unique()
    out = evaluate(R, S, train=T, floor=F, label_key="tissue", metrics=["frechet_pca"], n_boot_expensive=2)
    assert fits == [T.n_obs - S.n_obs]
    assert np.isfinite(out.set_index("name").loc["frechet_pca", "floor"])


def test_the_classifier_indicators_do_not_depend_on_the_order_of_the_genes():
    """The classifiers' weights are drawn in an order of the genes set by their values (column_order), not the
    file's: TSTR, TRTR, augmentation, the detection AUC and the classifier Fréchet distance are the same with the
    genes of every set in another order (they moved with it); TRTR is the TSTR rows' reference."""
    rng = np.random.default_rng(3)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=150)
    names = ["tstr_mlp_accuracy", "tstr_logreg_accuracy", "augmentation_accuracy",
             "detection_auc", "frechet_classifier"]
    kw = dict(label_key="tissue", metrics=names, n_boot=20, n_boot_expensive=2, k=5, classifier_seeds=(0,),
              epochs=3)
    a = evaluate(_adata(R, yr), _adata(S, ys), train=_adata(T, yt), **kw)
    pg = rng.permutation(R.shape[1])
    b = evaluate(*(_adata(X[:, pg], y) for X, y in ((R, yr), (S, ys))), train=_adata(T[:, pg], yt), **kw)
    cols = ["value", "ci_low", "ci_high", "reference"]
    assert set(names) <= set(a["name"])
    np.testing.assert_allclose(b[cols].to_numpy(float), a[cols].to_numpy(float), rtol=1e-5, atol=1e-6)


def test_the_subsamples_follow_the_rows_content_not_their_positions():
    """A synthetic set larger than the training set is scored on a random part of it, and MMD on at most
    max_n rows per set: both are drawn from the rows in their content order, so a file with its rows in another
    order keeps the same profiles and gets the same values."""
    from rnagen.metrics import mmd

    rng = np.random.default_rng(4)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=120)
    S2, ys2 = np.vstack([S, S * 1.1]), np.concatenate([ys, ys])   # 240 profiles: 120 of them scored
    kw = dict(label_key="tissue", metrics=["mmd", "density", "precision", "coverage"], n_boot=20,
              n_boot_expensive=2, k=5)
    a = evaluate(_adata(R, yr), _adata(S2, ys2), train=_adata(T, yt), **kw)
    p = rng.permutation(len(S2))
    b = evaluate(_adata(R, yr), _adata(S2[p], ys2[p]), train=_adata(T, yt), **kw)
    assert "synthetic_size_note" in a.attrs
    np.testing.assert_allclose(b[["value", "reference"]].to_numpy(float), a[["value", "reference"]].to_numpy(float),
                               rtol=1e-6)
    X, Y = np.log1p(R[:100]), np.log1p(S[:100])
    px, py = rng.permutation(100), rng.permutation(100)
    assert mmd(X[px], Y[py], max_n=40, seed=0) == pytest.approx(mmd(X, Y, max_n=40, seed=0), rel=1e-6)
    # a sparse set's rows are ordered alike (an h5ad of counts is often stored sparse)
    import scipy.sparse as sp

    from rnagen.metrics._classifiers import canonical_order

    assert (canonical_order(sp.csr_matrix(S2), ys2) == canonical_order(S2, ys2)).all()


def test_every_value_interval_and_reference_is_the_same_for_any_order_of_the_rows():
    """The bootstrap resamples terms sorted by value and rows in their content order: a file with its rows in
    another order gets the same intervals, not only the same values."""
    rng = np.random.default_rng(4)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=120)
    kw = dict(label_key="tissue", n_boot=50, n_boot_expensive=4, k=5, classifier_seeds=(0,), epochs=3,
              biology={"top_k": 5})
    a = evaluate(_adata(R, yr), _adata(S, ys), train=_adata(T, yt), **kw)
    pr, ps, pt = (rng.permutation(120) for _ in range(3))
    b = evaluate(_adata(R[pr], yr[pr]), _adata(S[ps], ys[ps]), train=_adata(T[pt], yt[pt]), **kw)
    assert (a["name"] == b["name"]).all() and (a["group"] == b["group"]).all()
    cols = ["value", "ci_low", "ci_high", "reference"]
    assert a["ci_low"].notna().sum() > 40
    np.testing.assert_allclose(b[cols].to_numpy(float), a[cols].to_numpy(float), rtol=1e-5, atol=1e-9)


def test_the_biology_values_do_not_depend_on_the_reference():
    """The synthetic set's biology rows are scored on the classes it shares with the held-out set, whatever the
    reference subsample holds: a floor identical to the synthetic set (scored without a reference) gets the same
    values and closes no gap, also where the reference lacks a class (a training class of one profile)."""
    T, R, S = _many_classes(n_held=2)
    T = T[~((T.obs["tissue"] == "t3").to_numpy() & (np.arange(T.n_obs) % 10 > 0))].copy()   # t3: one profile
    names = ["de_f1", "de_precision_up", "concordance_jaccard", "concordance_spearman", "coexpr_edge_f1"]
    df = evaluate(R, S, train=T, floor=S, label_key="tissue", metrics=names, biology={"top_k": 5})
    over = df[df.group == "all"].set_index("name")
    checked = 0
    for n in names:
        if np.isfinite(over.loc[n, "value"]):
            assert over.loc[n, "floor"] == pytest.approx(over.loc[n, "value"]), n
            checked += 1
    assert checked >= 3
    assert "t3" in set(df.loc[df.name == "de_f1", "group"])   # the class the reference lacks is still scored


def test_options_that_would_measure_nothing_are_refused():
    """A floor too small for k names the floor (not the synthetic set); a biology top_k of every gene makes the
    Jaccard 1 by construction (not reported, with a note); one resample gives an interval of width 0."""
    from rnagen.errors import ConfigError

    T, R, S = _many_classes()
    with pytest.raises(ConfigError, match="but the floor set has 8"):
        evaluate(R, S, train=T, floor=S[:8].copy(), label_key="tissue", metrics=["precision"], n_boot=0)
    df = evaluate(R, S, label_key="tissue", metrics=["concordance_jaccard", "concordance_spearman"],
                  biology={"top_k": 30})
    over = df[df.group == "all"].set_index("name")["value"]
    assert np.isnan(over["concordance_jaccard"]) and np.isfinite(over["concordance_spearman"])
    assert "top_k = 30 is not below the number of genes (30)" in df.attrs["biology_concordance"]["note"]
    for opt in ("n_boot", "n_boot_expensive"):
        with pytest.raises(ConfigError, match=f"{opt} = 1 gives no interval"):
            evaluate(R, S, label_key="tissue", metrics=["precision"], **{opt: 1})


def test_cli_says_when_no_label_column_is_shared(tmp_path, capsys):
    """Tables whose label columns are named differently: the labelled indicators are left out with a note naming
    each input's columns (they vanished without a word)."""
    from rnagen.cli.main import main

    T, R, S = _many_classes()
    for name, a, col in (("real", R, "tissue"), ("syn", S, "label"), ("train", T, "tissue")):
        df = pd.DataFrame(np.asarray(a.X), index=a.obs_names, columns=a.var_names)
        df.insert(0, col, a.obs["tissue"].to_numpy())
        df.to_csv(tmp_path / f"{name}.csv", index_label="sample")
    assert main(["evaluate", "--real", str(tmp_path / "real.csv"), "--synthetic", str(tmp_path / "syn.csv"),
                 "--train", str(tmp_path / "train.csv"), "--metrics", "precision", "--n-boot", "10"]) == 0
    out = capsys.readouterr().out
    assert "no label column is shared by the inputs (real: 'tissue'; synthetic: 'label'; train: 'tissue')" in out
    # the held-out file given as the floor: the floor at the ceiling, every share meaningless: refused
    assert main(["evaluate", "--real", str(tmp_path / "real.csv"), "--synthetic", str(tmp_path / "syn.csv"),
                 "--train", str(tmp_path / "train.csv"), "--floor", str(tmp_path / "real.csv"), "--metrics",
                 "precision", "--n-boot", "10"]) == 2
    err = capsys.readouterr().err
    assert "floor profiles are held-out (--real) profiles" in err and "given as --floor?" in err


def test_copies_of_training_are_caught():
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(2)
    (R, yr), _, (T, yt) = _sets(rng, n=200)
    S = T[:150].copy()
    df = evaluate(R, S, train=T, real_labels=yr, synthetic_labels=yt[:150], train_labels=yt,
                  metrics=["aa_ts", "privacy_loss", "dcr_share", "near_copy_share"], n_boot=100)
    v = df.set_index("name")["value"]
    assert v["dcr_share"] == 1.0 and v["near_copy_share"] == 1.0
    ref = df.set_index("name")["reference"]  # real profiles never trained on: far from the copies' values
    assert abs(ref["dcr_share"] - 0.5) < 0.15 and ref["near_copy_share"] < 0.1
    assert v["privacy_loss"] > 0.3
    assert df.attrs["flagged_near_copies"] == list(range(150))
    assert df.attrs["flagged_train_index"] == list(range(150))


def test_prepare_zscores_with_training_statistics(rng):
    T = rng.normal(size=(100, 4)).astype(np.float32) * 3 + 5
    R = rng.normal(size=(50, 4)).astype(np.float32)
    d = prepare(R, R, T)
    np.testing.assert_allclose(d["train"].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(d["train"].std(0), 1, atol=1e-4)
    assert d["preprocessing"]["train"].startswith("as is")


def test_unknown_metric_and_missing_inputs(rng):
    from rnagen.errors import DataError

    X = rng.normal(size=(30, 4))
    with pytest.raises(DataError, match="unknown metric"):
        evaluate(X, X, metrics=["nope"])
    with pytest.raises(DataError, match="needs"):
        evaluate(X, X, metrics=["dcr_share"])


def test_cli_writes_json_and_table(tmp_path, capsys):
    import torch

    from rnagen._io import write_h5ad
    from rnagen.cli.main import main

    torch.set_num_threads(1)
    rng = np.random.default_rng(3)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=150)
    for name, X, y in (("test", R, yr), ("syn", S, ys), ("train", T, yt)):
        write_h5ad(_adata(X, y), tmp_path / f"{name}.h5ad")
    out = tmp_path / "m.json"
    rc = main(["evaluate", "--real", str(tmp_path / "test.h5ad"), "--synthetic", str(tmp_path / "syn.h5ad"),
               "--train", str(tmp_path / "train.h5ad"), "--label-key", "tissue", "--metrics",
               "precision,coverage,aa_ts,tstr_logreg_accuracy,dcr_share", "--n-boot", "50", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "precision" in printed and "95% CI" in printed and "reference" in printed
    js = json.loads(out.read_text())
    names = [m["name"] for m in js["metrics"]]
    assert names == ["precision", "coverage", "aa_ts", "tstr_logreg_accuracy", "dcr_share"]
    assert all(m["ci_low"] is not None for m in js["metrics"])
    assert js["inputs"]["n_genes"] == 20
    assert "note: without --train" not in printed
    # without --train: said what is missing, a copy of the training set not told from real data
    assert main(["evaluate", "--real", str(tmp_path / "test.h5ad"), "--synthetic", str(tmp_path / "train.h5ad"),
                 "--label-key", "tissue", "--metrics", "precision"]) == 0
    assert "note: without --train there is no real-vs-real reference" in capsys.readouterr().out
    # a user error is one line, exit status 2
    rc = main(["evaluate", "--real", str(tmp_path / "test.h5ad"), "--synthetic", str(tmp_path / "syn.h5ad"),
               "--metrics", "bogus", "--out", str(out)])
    assert rc == 2
    # the metrics table as CSV by the file's ending; another format's ending refused before any work
    base = ["evaluate", "--real", str(tmp_path / "test.h5ad"), "--synthetic", str(tmp_path / "syn.h5ad"), "--train",
            str(tmp_path / "train.h5ad"), "--label-key", "tissue", "--metrics", "precision,coverage", "--n-boot", "50"]
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "m.csv")]) == 0
    table = pd.read_csv(tmp_path / "m.csv")
    assert table["name"].tolist() == ["precision", "coverage"]
    assert table["value"].tolist() == pytest.approx([m["value"] for m in js["metrics"][:2]])
    # notes a table cannot hold are named with the output that keeps them, and the JSON keeps every printed note
    assert main([*base, "--n-boot", "5", "--out", str(tmp_path / "r.tsv")]) == 0
    printed = capsys.readouterr().out
    assert "the 2 notes above are kept" in printed
    assert "--out r.json" in printed and pd.read_csv(tmp_path / "r.tsv", sep="\t")["name"].size == 2
    assert main([*base, "--n-boot", "5", "--out", str(tmp_path / "r.json")]) == 0
    said = [line[len("note: "):] for line in capsys.readouterr().out.splitlines() if line.startswith("note: ")]
    assert said and json.loads((tmp_path / "r.json").read_text())["notes"] == said
    assert main([*base, "--out", str(tmp_path / "m.xlsx")]) == 2
    assert "evaluate writes JSON" in capsys.readouterr().err and not (tmp_path / "m.xlsx").exists()
    # a floor file of other genes is named as the floor, not as the synthetic set
    few = _adata(T[:, :5], yt)
    write_h5ad(few, tmp_path / "floor.h5ad")
    capsys.readouterr()
    assert main([*base, "--floor", str(tmp_path / "floor.h5ad"), "--out", str(tmp_path / "f.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnagen: error: the floor lacks 15 genes of the real set") and "synthetic" not in err
    # a missing --synthetic named as such, without the label-column hint that a recorded label key adds to
    # errors about the label column
    recorded = _adata(R, yr)
    recorded.uns["rnagen"] = {"label_key": "tissue"}
    write_h5ad(recorded, tmp_path / "rec.h5ad")
    assert main(["evaluate", "--real", str(tmp_path / "rec.h5ad"), "--synthetic", str(tmp_path / "none.h5ad")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "label" not in err
    # a synthetic class the training set lacks: scored, named as such (the floor sampled without it), not as a
    # model's unknown label
    odd = _adata(S, np.where(ys == ys[0], "Kidney", ys))
    write_h5ad(odd, tmp_path / "odd.h5ad")
    assert main(["evaluate", "--real", str(tmp_path / "test.h5ad"), "--synthetic", str(tmp_path / "odd.h5ad"),
                 "--train", str(tmp_path / "train.h5ad"), "--label-key", "tissue", "--metrics", "precision"]) == 0
    cap = capsys.readouterr()
    assert "the synthetic class 'Kidney' (" in cap.out and "is not a class of the training set" in cap.out
    assert "model was trained" not in cap.out + cap.err
    # without --out: the same table printed, nothing written
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(base) == 0
    printed = capsys.readouterr().out
    assert "precision" in printed and "coverage" in printed and "wrote" not in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_held_out_profiles_in_the_training_set_are_refused(tmp_path, capsys):
    """--real profiles found in --train (every value the same, whatever their ids): most of them (the training
    file given twice, a split done wrong) refused before any indicator is computed, in one line; a few (a sample in
    the data twice) scored with a note; sets that only share generic ids ('0', '1', ...) are not concerned."""
    from rnagen._io import write_h5ad
    from rnagen.cli.main import main
    from rnagen.errors import DataError

    rng = np.random.default_rng(4)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=60)
    leaky = np.vstack([T, R[:31]])
    with pytest.raises(DataError, match=r"31 of the 60 held-out \(--real\) profiles are also training \(--train\) "
                                        r"profiles, every value the same up to rounding \(e.g. '0'\)"):
        evaluate(R, S, train=leaky, real_labels=yr, synthetic_labels=ys, train_labels=np.r_[yt, yr[:31]],
                 metrics=["precision"], n_boot=0)
    with pytest.raises(DataError, match=r"31 of the 60 held-out .* every value the same up to rounding"):
        evaluate(R, S, train=np.vstack([T, np.round(R[:31], 3)]), real_labels=yr, synthetic_labels=ys,
                 train_labels=np.r_[yt, yr[:31]], metrics=["precision"], n_boot=0)   # written with 3 decimals
    df = evaluate(R, S, train=np.vstack([T, R[:3]]), real_labels=yr, synthetic_labels=ys,
                  train_labels=np.r_[yt, yr[:3]], metrics=["precision"], n_boot=0)
    assert df.attrs["held_out_in_train"]["n"] == 3 and df.attrs["held_out_in_train"]["examples"] == ["0", "1", "2"]
    assert "held_out_in_train" not in evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt,
                                               metrics=["precision"], n_boot=0).attrs
    write_h5ad(_adata(R, yr), tmp_path / "test.h5ad")
    write_h5ad(_adata(S, ys), tmp_path / "syn.h5ad")
    base = ["evaluate", "--real", str(tmp_path / "test.h5ad"), "--synthetic", str(tmp_path / "syn.h5ad"),
            "--label-key", "tissue", "--metrics", "precision", "--n-boot", "20"]
    assert main([*base, "--train", str(tmp_path / "test.h5ad"), "--out", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "60 of the 60 held-out (--real) profiles are also training" in err
    assert not (tmp_path / "m.json").exists()
    write_h5ad(_adata(T, yt), tmp_path / "train.h5ad")   # the same generic ids (s0, s1, ...), other profiles
    assert main([*base, "--train", str(tmp_path / "train.h5ad"), "--out", str(tmp_path / "m.json")]) == 0


def test_held_out_near_copies_of_training_profiles_are_named():
    """Held-out profiles that are training profiles with a little noise (the same library quantified twice, not
    within the rounding tolerance) are named in the held-out note and left out of the membership audit's
    non-members, as exact copies are; distinct profiles draw no note."""
    rng = np.random.default_rng(6)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=60)
    logged = np.log2(T[:4].astype(np.float64) + 1.0)
    near = np.exp2(logged + np.abs(rng.normal(0, 0.05, logged.shape))) - 1.0   # beyond the rounding tolerance
    real = np.vstack([R, near]).astype(np.float32)
    df = evaluate(real, S, train=T, real_labels=np.r_[yr, yt[:4]], synthetic_labels=ys, train_labels=yt,
                  metrics=["precision"], n_boot=0)
    note = df.attrs["held_out_in_train"]
    assert note["n"] == 0 and note["n_near"] == 4 and note["examples"] == ["60", "61", "62", "63"]
    assert note["note"].startswith("4 of the 64 held-out profiles share a profile with the training set: 4 are near "
                                   "copies of one")


def test_copies_on_another_scale_are_refused_and_near_copies_of_the_held_out_set_said():
    """The held-out profiles given on the log scale beside held-out counts (or counts beside log values: the held-
    out set exported) are the held-out set itself, refused as on one scale; the held-out set with a little noise
    (or a generator trained on it) gets a note, since every indicator then reads at or past its ceiling; a draw
    of the same population and a copy of the training set get none."""
    from rnagen.errors import DataError
    from rnagen.metrics.evaluate import check_synthetic_is_not_held_out

    rng = np.random.default_rng(5)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=60)
    logged = np.log2(R.astype(np.float64) + 1.0)
    for real, syn in ((R, logged), (logged, R)):
        with pytest.raises(DataError, match=r"60 of the 60 synthetic profiles are held-out \(--real\) profiles"):
            check_synthetic_is_not_held_out(real, syn)
    with pytest.raises(DataError, match=r"60 of the 60 held-out \(--real\) profiles are also training"):
        evaluate(R, S, train=np.log2(np.vstack([T, R]) + 1.0), real_labels=yr, synthetic_labels=ys,
                 train_labels=np.r_[yt, yr], metrics=["precision"], n_boot=0)
    noisy = np.exp2(logged + np.abs(rng.normal(0, 0.01, logged.shape))) - 1.0   # counts stay >= 0
    kw = {"real_labels": yr, "train_labels": yt, "metrics": ["precision"], "n_boot": 0}
    note = evaluate(R, noisy, train=T, synthetic_labels=yr, **kw).attrs["preprocessing"]["synthetic_held_out"]
    assert note.startswith("60 of its 60 profiles lie nearer a held-out profile than 95% of the held-out profiles")
    for other, labels in ((S, ys), (T, yt)):
        assert "synthetic_held_out" not in evaluate(R, other, train=T, synthetic_labels=labels,
                                                    **kw).attrs["preprocessing"]


def test_the_genes_a_set_lacks_are_those_neither_names_nor_gene_tables_place(tmp_path):
    """Lower-case symbols the gene tables place are not missing: the count and the examples are the genes left."""
    from rnagen.errors import DataError

    genes = ["TP53", "BRCA1", "EGFR", "MYC", "GAPDH", "ACTB", "KRAS", "PTEN", "ESR1", "ERBB2", "HLA-H"]
    rng = np.random.default_rng(0)
    real = ad.AnnData(rng.normal(5, 1, (30, 11)).astype(np.float32), var=pd.DataFrame(index=genes))
    syn = ad.AnnData(rng.normal(5, 1, (30, 11)).astype(np.float32), var=pd.DataFrame(index=[g.lower() for g in genes]))
    with pytest.raises(DataError, match=r"synthetic lacks 1 gene of the real set \(e.g. \['HLA-H'\]; the others"):
        evaluate(real, syn, metrics=["precision"], n_boot=0)


def test_a_set_whose_gene_ids_are_in_a_column_or_its_positions_is_told_which(tmp_path, capsys):
    """A synthetic .h5ad built from a matrix names its genes 0, 1, 2, ... (anndata's default), with the gene ids
    in a var column or nowhere; a CSV written without gene names reads the same: the refusal names the var column
    holding every real gene id and how to make it the gene ids, or says that genes are matched by name, never by
    position; a set lacking some genes keeps the plain request."""
    from rnagen.cli.main import main
    from rnagen.errors import DataError

    rng = np.random.default_rng(0)
    genes = ["hsa-miR-21-5p", "hsa-let-7a-5p", "hsa-miR-155-5p", "hsa-miR-10b-5p", "hsa-miR-200c-3p"]
    real = _adata(rng.normal(5, 1, (30, 5)).astype(np.float32), np.repeat(["a", "b"], 15))
    real.var_names = genes
    syn = ad.AnnData(rng.normal(5, 1, (30, 5)).astype(np.float32),
                     obs=pd.DataFrame({"tissue": np.repeat(["a", "b"], 15)}, index=[f"x{i}" for i in range(30)]))
    syn.var["mirna"] = genes[::-1]
    kw = dict(label_key="tissue", metrics=["precision"], n_boot=0, k=3)
    with pytest.raises(DataError, match=r"synthetic lacks 5 genes of the real set \(e.g. \['hsa-miR-21-5p'.*neither "
                       r"by name nor through the gene tables.*\); its var column 'mirna' holds every real gene id: "
                       r"make it the gene ids \(adata.var_names = adata.var\['mirna'\].astype\(str\)\)"):
        evaluate(real, syn, **kw)
    named = syn.copy()
    named.var_names = list(syn.var["mirna"])
    assert evaluate(real, named, **kw).set_index("name").loc["precision", "value"] >= 0
    del syn.var["mirna"]
    with pytest.raises(DataError, match=r"its genes are named 0, 1, 2, ... \(a matrix written without gene names\): "
                       "genes are matched by name, never by position"):
        evaluate(real, syn, **kw)
    with pytest.raises(DataError, match=r"synthetic lacks 1 gene of the real set .*; evaluate sets with the same "
                       "genes$"):
        evaluate(real, named[:, 1:].copy(), **kw)
    real.write_h5ad(tmp_path / "real.h5ad")
    table = pd.DataFrame(np.asarray(syn.X))
    table.insert(0, "tissue", syn.obs["tissue"].to_numpy())
    table.to_csv(tmp_path / "syn.csv", index=False)
    capsys.readouterr()
    assert main(["evaluate", "--real", str(tmp_path / "real.h5ad"), "--synthetic", str(tmp_path / "syn.csv"),
                 "--label-key", "tissue", "--metrics", "precision", "--k", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "genes are matched by name, never by position" in err[0], err


def test_a_real_gene_two_columns_of_a_set_name_is_refused():
    """A set holding two versions of a real gene's Ensembl ID (two GENCODE releases merged), or its symbol beside its
    Entrez ID, had the first column scored as that gene, whatever it held; now refused naming both columns. One
    column per gene, named another way, is scored as the same set."""
    from rnagen.errors import DataError

    genes = ["ENSG00000141510", "ENSG00000012048", "ENSG00000146648", "ENSG00000136997", "ENSG00000111640"]
    rng = np.random.default_rng(0)
    X = rng.normal(5, 1, (30, 5)).astype(np.float32)
    real = ad.AnnData(X, var=pd.DataFrame(index=genes))
    two = ad.AnnData(np.hstack([X[:, :1] + 3.0, X]), var=pd.DataFrame(index=[f"{genes[0]}.16",
                                                                           *[f"{g}.17" for g in genes]]))
    with pytest.raises(DataError, match=r"'ENSG00000141510' matches 2 versions of one Ensembl id in the synthetic set "
                                        r"\('ENSG00000141510.16' and 'ENSG00000141510.17'\)"):
        evaluate(real, two, metrics=["precision"], n_boot=0)
    both = ad.AnnData(np.hstack([X[:, :1] + 3.0, X]), var=pd.DataFrame(index=["tp53", "7157", *genes[1:]]))
    with pytest.raises(DataError, match=r"the synthetic set names 1 gene in more than one column \(e.g. "
                                        r"'ENSG00000141510' as 'tp53' and '7157'\)"):
        evaluate(real, both, metrics=["precision"], n_boot=0)
    one = ad.AnnData(X, var=pd.DataFrame(index=[f"{g}.17" for g in genes]))
    pd.testing.assert_frame_equal(evaluate(real, one, metrics=["precision"], n_boot=0),
                                  evaluate(real, real.copy(), metrics=["precision"], n_boot=0))


def test_held_out_profiles_of_two_genes_are_not_taken_for_training_profiles():
    """On two genes, values given to two decimals, hundreds of held-out profiles agree with some training profile on
    both within the rounding by chance: the shuffled control finds as many, so no copy is reported; on the same
    profiles with 30 more genes the chance is nil and a true copy is found."""
    from rnagen.metrics import _knn

    rng = np.random.default_rng(8)
    X = np.round(rng.normal(8.0, 0.4, (1900, 2)), 2)
    R, T = X[:400], X[400:]
    assert _knn._matches(R, T).mean() > 0.5       # what the tolerance alone finds: chance agreements
    assert not _knn.same_profiles(R, T).any()
    df = evaluate(R, R[::-1] + 0.1, train=T, metrics=["precision"], n_boot=0)
    assert "held_out_in_train" not in df.attrs
    wide = np.hstack([X, rng.normal(5.0, 1.0, (1900, 30))])
    R, T = wide[:400], np.vstack([wide[400:], wide[:3]])
    assert np.flatnonzero(_knn.same_profiles(R, T)).tolist() == [0, 1, 2]


def test_labels_in_another_unicode_form_are_the_same_classes():
    """Held-out labels written decomposed (NFD, as macOS exports them) and synthetic ones composed (NFC) name the
    same classes: the scores equal those of one form throughout."""
    import unicodedata

    rng = np.random.default_rng(7)
    (R, yr), (S, ys), _ = _sets(rng, n=90)
    accented = {"c0": "Café", "c1": "Crème brûlée", "c2": "Ångström"}
    composed = [unicodedata.normalize("NFC", accented[v]) for v in yr]
    decomposed = [unicodedata.normalize("NFD", accented[v]) for v in yr]
    assert composed != decomposed
    syn = [unicodedata.normalize("NFC", accented[v]) for v in ys]
    kw = dict(metrics=["utility"], n_boot=0, classifier_seeds=(0,), epochs=3)
    same = evaluate(R, S, real_labels=composed, synthetic_labels=syn, **kw).set_index(["name", "group"])["value"]
    other = evaluate(R, S, real_labels=decomposed, synthetic_labels=syn, **kw).set_index(["name", "group"])["value"]
    assert same["tstr_logreg_accuracy"].iloc[0] > 0.5
    pd.testing.assert_series_equal(same, other)


def test_label_sets_that_do_not_match_the_held_out_one(tmp_path, capsys):
    """Synthetic (or training) classes none of which is a held-out class (other names, or names in another case)
    are refused in one line before anything is fitted (the floor samples the synthetic labels); some classes
    apart are scored with a note naming them (real classes without synthetic profiles cap TSTR). The held-out file
    given as the synthetic one is refused too."""
    from rnagen._io import write_h5ad
    from rnagen.cli.main import main
    from rnagen.errors import DataError

    rng = np.random.default_rng(5)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=60)
    upper = np.char.upper(ys)
    with pytest.raises(DataError, match=r"none of the synthetic set's 3 classes is a class of the held-out "
                                        r"\(--real\) set \(they differ only in case or spacing\): synthetic 'C0', "
                                        r"'C1', 'C2', real 'c0', 'c1', 'c2'"):
        evaluate(R, S, train=T, real_labels=yr, synthetic_labels=upper, train_labels=yt, metrics=["precision"],
                 n_boot=0)
    with pytest.raises(DataError, match="none of the training set's 3 classes"):
        evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=np.char.add("t", yt),
                 metrics=["precision"], n_boot=0)
    partial = np.where(ys == "c2", "c9", ys)
    df = evaluate(R, S, train=T, real_labels=yr, synthetic_labels=partial, train_labels=yt, metrics=["precision"],
                  n_boot=0)
    assert df.attrs["label_note"] == ("1 held-out class without synthetic profiles ('c2'): TSTR cannot predict it; "
                                      "1 synthetic class not in the held-out set ('c9')")
    assert "label_note" not in evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt,
                                        metrics=["precision"], n_boot=0).attrs
    # a training class the held-out set lacks: TRTR (the utility indicators' reference) predicts it too
    keep = yr != "c2"
    df = evaluate(R[keep], S, train=T, real_labels=yr[keep], synthetic_labels=ys, train_labels=yt,
                  metrics=["precision"], n_boot=0)
    assert "1 training class not in the held-out set ('c2'): TRTR's and TSTR's predictions of it count as " \
        "errors" in df.attrs["label_note"]
    write_h5ad(_adata(R, yr), tmp_path / "test.h5ad")
    write_h5ad(_adata(T, yt), tmp_path / "train.h5ad")
    write_h5ad(_adata(S, upper), tmp_path / "syn.h5ad")
    write_h5ad(_adata(S, np.where(ys == "c2", "c1", ys)), tmp_path / "partial.h5ad")   # no c2 (the floor: c0, c1)
    base = ["evaluate", "--real", str(tmp_path / "test.h5ad"), "--train", str(tmp_path / "train.h5ad"),
            "--label-key", "tissue", "--metrics", "precision", "--n-boot", "20"]
    assert main([*base, "--synthetic", str(tmp_path / "syn.h5ad"), "--out", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none of the synthetic set's 3 classes" in err and "--floor" not in err
    assert not (tmp_path / "m.json").exists()
    assert main([*base, "--synthetic", str(tmp_path / "partial.h5ad"), "--out", str(tmp_path / "m.json")]) == 0
    assert "note: 1 held-out class without synthetic profiles ('c2')" in capsys.readouterr().out
    assert "label_note" in json.loads((tmp_path / "m.json").read_text())
    # --real and --train swapped (the held-out set far larger): a note
    write_h5ad(_adata(T[:20], yt[:20]), tmp_path / "small_train.h5ad")
    assert main([*base[:4], str(tmp_path / "small_train.h5ad"), *base[5:], "--synthetic",
                 str(tmp_path / "partial.h5ad"), "--out", str(tmp_path / "w.json")]) == 0
    assert "note: the held-out set (--real, 60 profiles) is more than twice the training set (--train, 20): are " \
           "the two swapped?" in capsys.readouterr().out
    # the held-out file given as --synthetic too: refused by the command (the API scores the identity)
    assert main([*base, "--synthetic", str(tmp_path / "test.h5ad"), "--out", str(tmp_path / "s.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "60 of the 60 synthetic profiles are held-out (--real) profiles" in err
    assert not (tmp_path / "s.json").exists()
    # ... also once written with 3 decimals under other names (a CSV export): every value the same up to rounding
    rounded = _adata(np.round(R, 3), yr)
    rounded.obs_names = [f"x{i}" for i in range(rounded.n_obs)]
    write_h5ad(rounded, tmp_path / "rounded.h5ad")
    assert main([*base, "--synthetic", str(tmp_path / "rounded.h5ad"), "--out", str(tmp_path / "s.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "60 of the 60 synthetic profiles are held-out (--real) profiles, every value the " \
                                    "same up to rounding" in err


def test_tables_sharing_a_label_column_are_scored_per_class(tmp_path, capsys):
    """CSV inputs (as rnagen sample --out syn.csv writes them) record no label key: the one text column they all
    share is the labels, said in a line, so TSTR and the per-class floor are there (they were left out without a
    word, the floor then one Gaussian of every class); two shared columns are named in a note instead."""
    from rnagen.cli.main import main

    rng = np.random.default_rng(8)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=60)
    for name, (X, y) in {"real": (R, yr), "syn": (S, ys), "train": (T, yt)}.items():
        df = pd.DataFrame(X, index=[f"{name}{i}" for i in range(len(X))], columns=[f"g{j}" for j in range(X.shape[1])])
        df.insert(0, "tissue", y)
        df.to_csv(tmp_path / f"{name}.csv")
        df.insert(1, "batch", np.where(np.arange(len(X)) % 2, "b1", "b2"))
        df.to_csv(tmp_path / f"{name}2.csv")
    base = ["evaluate", "--metrics", "precision,tstr_logreg_accuracy", "--n-boot", "5"]
    assert main([*base, "--real", str(tmp_path / "real.csv"), "--synthetic", str(tmp_path / "syn.csv"), "--train",
                 str(tmp_path / "train.csv")]) == 0
    out = capsys.readouterr().out
    assert "labels: 'tissue' (the one label column every input has" in out and "tstr_logreg_accuracy" in out
    two = ["--real", str(tmp_path / "real2.csv"), "--synthetic", str(tmp_path / "syn2.csv")]
    assert main([*base[:2], "precision", *base[3:], *two]) == 0
    assert "note: no labels used: the inputs share the columns 'batch', 'tissue'; --label-key NAME" in \
        capsys.readouterr().out
    assert main([*base, *two]) == 2   # TSTR asked for by name: what it lacks, and only that
    assert "metric 'tstr_logreg_accuracy' needs labels in every set (--label-key); pass --label-key, or leave it " \
           "out of --metrics" in capsys.readouterr().err
    assert main([*base[:2], "dcr_share", *base[3:], *two]) == 2
    assert "metric 'dcr_share' needs the training profiles (--train); pass --train, or leave it out of --metrics" \
        in capsys.readouterr().err


def test_api_inputs_that_would_score_wrong_are_refused():
    """evaluate() given a NaN or infinite value (precision, density, coverage read 0 and AA_ts 0.23 from one NaN
    profile), a missing label (scored as a class named 'nan'), labels of another length (an IndexError deep in a
    family), or duplicated gene ids (one gene scored twice, another never): one DataError each; labels given as
    arrays beside AnnData without label_key are used (they were dropped with every per-class indicator)."""
    from rnagen.errors import DataError

    rng = np.random.default_rng(12)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=60)
    kw = dict(metrics=["precision"], n_boot=0)
    bad = S.copy()
    bad[0] = np.nan
    with pytest.raises(DataError, match=r"synthetic: 20 NaN or infinite values \(first at profile 0, gene 0\)"):
        evaluate(R, bad, real_labels=yr, synthetic_labels=ys, **kw)
    inf = T.copy()
    inf[3, 2] = np.inf
    with pytest.raises(DataError, match=r"train: 1 NaN or infinite values \(first at profile 3, gene 2\)"):
        evaluate(R, S, train=inf, real_labels=yr, synthetic_labels=ys, train_labels=yt, **kw)
    with pytest.raises(DataError, match=r"real: 59 labels for 60 profiles"):
        evaluate(R, S, real_labels=yr[:-1], synthetic_labels=ys, **kw)
    missing = yr.astype(object).copy()
    missing[4] = None
    with pytest.raises(DataError, match=r"real: 1 profile\(s\) without a label \(first at position 4\)"):
        evaluate(R, S, real_labels=missing, synthetic_labels=ys, **kw)
    a_real, a_syn = _adata(R, yr), _adata(S, ys)
    a_real.obs.loc["s4", "tissue"] = np.nan
    with pytest.raises(DataError, match="without a label"):
        evaluate(a_real, a_syn, label_key="tissue", **kw)
    dup = _adata(R, yr)
    dup.var_names = [*dup.var_names[:-1], dup.var_names[0]]
    with pytest.raises(DataError, match=r"real: duplicated gene ids \['g0'\]"):
        evaluate(dup, a_syn, label_key="tissue", **kw)
    with_arrays = evaluate(_adata(R, yr), a_syn, real_labels=yr, synthetic_labels=ys,
                           metrics=["precision", "tstr_logreg_accuracy"], n_boot=0)
    assert "tstr_logreg_accuracy" in set(with_arrays["name"])


def test_intervals_of_distances_stay_at_or_above_zero():
    """A synthetic set at distance ~0 from the real one (its profiles rounded): the re-centred intervals of the
    Fréchet distance, MMD and the per-gene distances reached below 0 (wasserstein_mean [-0.025, 0.031]), which no
    distance does; they are cut at 0, the values untouched."""
    rng = np.random.default_rng(11)
    (R, yr), _, _ = _sets(rng, n=80)
    names = ["frechet_pca", "mmd", "wasserstein_mean", "ks_mean"]
    df = evaluate(R, np.round(R, 2), real_labels=yr, synthetic_labels=yr, metrics=names, n_boot=50,
                  n_boot_expensive=20).set_index("name")
    for m in names:
        assert df.loc[m, "ci_low"] >= 0.0 and df.loc[m, "ci_high"] >= df.loc[m, "ci_low"], m
    assert (df.loc[names, "ci_low"] == 0.0).any()   # a cut took place


def test_sets_naming_genes_by_another_id_type_are_matched():
    """A synthetic set naming its genes by symbol (or another Ensembl version) against a held-out set of Entrez
    ids is scored on the same genes, column for column, as the same set named alike; genes the tables cannot
    match still refuse."""
    from rnagen import datasets
    from rnagen.errors import DataError

    g = datasets.gtex26()
    sym = g.var["symbol"].astype(str)
    g = g[:, ((sym != "") & ~sym.duplicated()).to_numpy()].copy()
    real, syn = g[::2].copy(), g[1::2].copy()
    named = syn.copy()
    named.var_names = list(named.var["symbol"].astype(str))
    named = named[:, ::-1].copy()   # another order too
    same = evaluate(real, syn, label_key="tissue", metrics=["precision", "density"], n_boot=0)
    other = evaluate(real, named, label_key="tissue", metrics=["precision", "density"], n_boot=0)
    np.testing.assert_array_equal(other["value"].to_numpy(), same["value"].to_numpy())
    assert other.attrs["preprocessing"]["synthetic_genes"].startswith("matched to the real set's through the gene")
    assert "synthetic_genes" not in same.attrs["preprocessing"]
    # names padded with spaces in the real .h5ad, stripped in a synthetic CSV read back: the same genes
    padded = real.copy()
    padded.var_names = [f" {v} " for v in real.var_names]
    spaced = evaluate(padded, syn, label_key="tissue", metrics=["precision", "density"], n_boot=0)
    np.testing.assert_array_equal(spaced["value"].to_numpy(), same["value"].to_numpy())
    named.var_names = [f"gene_{i}" for i in range(named.n_vars)]
    with pytest.raises(DataError, match=f"synthetic lacks {g.n_vars} genes of the real set"):
        evaluate(real, named, label_key="tissue", metrics=["precision"], n_boot=0)
    # a held-out set of fewer genes: scored on its genes, the others named in a note
    fewer = evaluate(real[:, 40:].copy(), syn, label_key="tissue", metrics=["precision"], n_boot=0)
    assert fewer.attrs["preprocessing"]["synthetic_genes"] == (
        f"include 40 the held-out set lacks (e.g. {list(syn.var_names[:3])}), left out: every indicator is on the "
        f"held-out set's {g.n_vars - 40} genes")


def test_a_set_on_another_scale_is_named():
    """A synthetic (or training) set whose genes' means sit far from the held-out set's on the log scale (counts
    against CPM: a constant factor) gets a note; sets of one scale do not."""
    rng = np.random.default_rng(6)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=60)
    kw = dict(real_labels=yr, synthetic_labels=ys, train_labels=yt, metrics=["precision"], n_boot=0)
    assert not any(k.endswith("_scale") for k in evaluate(R, S, train=T, **kw).attrs["preprocessing"])
    notes = evaluate(R, S * 8.0, train=T, **kw).attrs["preprocessing"]   # 3 log2 units up
    assert notes["synthetic_scale"].startswith("its genes' means sit 2.") and " units above the held-out" in \
        notes["synthetic_scale"] and "train_scale" not in notes
    assert "train_scale" in evaluate(R, S, train=T / 8.0, **kw).attrs["preprocessing"]
    # a smaller shift of nearly every gene the same way (counts against CPM of shallow libraries: 0.9 log2 units)
    # is named too; the same median shift with genes moving both ways (a generator's errors) is not
    up = evaluate(R, S * 1.87, train=T, **kw).attrs["preprocessing"]["synthetic_scale"]
    assert up.startswith("its genes' means sit 0.8") and "100% of the genes above" in up, up
    mixed = np.asarray(S, dtype=np.float64).copy()
    mixed[:, ::4] /= 1.87 ** 3   # a quarter of the genes well below: the median still up, not uniform
    mixed[:, 1::4] *= 1.87
    mixed[:, 2::4] *= 1.87
    mixed[:, 3::4] *= 1.87
    assert "synthetic_scale" not in evaluate(R, mixed, train=T, **kw).attrs["preprocessing"]
    notes = evaluate(R, S, train=T, mia_reference=S[:30] * 8.0, **{**kw, "metrics": ["mia_ganleaks_auc"]}).attrs
    assert "mia_reference_scale" in notes["preprocessing"]
    # log values in another base (log10 and ln against the held-out set's log2): every gene's mean and spread at
    # the same ratio, a shift of the means too small to see where they are small
    T2, R2, S2 = _many_classes()
    for a in (T2, R2, S2):   # log values of means near 1.2: another base shifts them by less than 1.5
        a.X = np.asarray(a.X) * 0.2
    kw2 = dict(label_key="tissue", metrics=["precision"], n_boot=0)
    assert not any(k.endswith("_scale") for k in evaluate(R2, S2, train=T2, **kw2).attrs["preprocessing"])
    import re

    for factor in (np.log10(2), np.log(2)):
        other = S2.copy()
        other.X = np.asarray(S2.X) * factor
        note = evaluate(R2, other, train=T2, **kw2).attrs["preprocessing"]["synthetic_scale"]
        m = re.match(r"its values are about ([0-9.]+) times the held-out set's", note)
        assert m and abs(float(m.group(1)) - factor) < 0.05 and "another log base" in note, note
    under = S2.copy()   # a generator's under-dispersion moves the spread alone: no note
    mu = np.asarray(S2.X).mean(0)
    under.X = (mu + 0.7 * (np.asarray(S2.X) - mu)).astype(np.float32)
    assert "synthetic_scale" not in evaluate(R2, under, train=T2, **kw2).attrs["preprocessing"]
    zeros = S2.copy()   # most genes 0 (a median ratio of 0): scored, no other log base read into it
    zeros.X = np.asarray(S2.X).copy()
    zeros.X[:, : zeros.n_vars * 2 // 3] = 0.0
    assert "synthetic_scale" not in evaluate(R2, zeros, train=T2, **kw2).attrs["preprocessing"]


def test_metrics_never_import_models():
    import subprocess
    import sys

    code = ("import sys, rnagen.metrics, rnagen.cli.evaluate; "
            "print(any(m.startswith('rnagen.models') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_metric_families_are_names_too(rng):
    """``metrics`` takes family names (every indicator of the family the inputs allow) beside metric names; a
    metric named one by one that the inputs cannot give is an error, a family's is left out; unknown names are
    refused with the families and metrics."""
    from rnagen.errors import DataError
    from rnagen.metrics._registry import families

    (R, yr), (S, ys), (T, yt) = _sets(rng, n=80)
    df = evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt,
                  metrics=["privacy", "correlation_score"], n_boot=10, n_boot_expensive=2)
    assert list(df["name"][df["group"] == "all"]) == ["correlation_score", *families()["privacy"]]  # registry order
    # the biology family without gene sets: geneset_ks left out, the rest computed
    df = evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, metrics=["biology"],
                  n_boot=0, n_boot_expensive=2)
    got = set(df["name"])
    assert "geneset_ks" not in got and got == set(families()["biology"]) - {"geneset_ks"}
    with pytest.raises(DataError, match=r"metric 'geneset_ks' needs gene sets \(--gene-sets FILE.gmt\)"):
        evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, metrics=["geneset_ks"])
    # a family none of whose indicators the inputs allow (utility without labels) is an error
    with pytest.raises(DataError, match="metric 'tstr_mlp_accuracy' needs labels"):
        evaluate(R, S, train=T, metrics=["utility"])
    with pytest.raises(DataError, match=r"unknown metric\(s\) \['fidelty'\]; valid: a family \(fidelity, "):
        evaluate(R, S, metrics=["fidelty"])


def test_cli_takes_the_recorded_label_column(tmp_path, capsys):
    """Without --label-key, evaluate labels the sets by the column the held-out .h5ad records (as rnagen data
    prepare writes it) and says so: TSTR and the per-class floor, not a one-class evaluation without a word;
    --label-key none scores without labels; a synthetic set without that column is refused naming both ways."""
    from rnagen._io import write_h5ad
    from rnagen.cli.main import main

    rng = np.random.default_rng(5)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=90)
    for name, X, y in (("test", R, yr), ("syn", S, ys), ("train", T, yt)):
        a = _adata(X, y)
        a.uns["rnagen"] = {"label_key": "tissue"}
        write_h5ad(a, tmp_path / f"{name}.h5ad")
    base = ["evaluate", "--real", str(tmp_path / "test.h5ad"), "--train", str(tmp_path / "train.h5ad"),
            "--metrics", "precision,tstr_logreg_accuracy", "--n-boot", "10"]
    out = tmp_path / "m.json"
    assert main([*base, "--synthetic", str(tmp_path / "syn.h5ad"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "labels: 'tissue' (the label column recorded in --real" in printed
    js = json.loads(out.read_text())
    assert js["inputs"]["label_key"] == "tissue" and js["inputs"]["floor"].startswith("gaussian (per-class")
    assert [m["name"] for m in js["metrics"]] == ["precision", "tstr_logreg_accuracy"]
    # --label-key none: no labels, so a label-needing metric named one by one is refused
    assert main([*base[:-4], "--metrics", "precision", "--synthetic", str(tmp_path / "syn.h5ad"), "--label-key",
                 "none", "--out", str(tmp_path / "n.json")]) == 0
    assert json.loads((tmp_path / "n.json").read_text())["inputs"]["label_key"] is None
    capsys.readouterr()
    # a synthetic set without the column
    write_h5ad(ad.AnnData(X=S, var=pd.DataFrame(index=[f"g{j}" for j in range(S.shape[1])])),
               tmp_path / "bare.h5ad")
    assert main([*base, "--synthetic", str(tmp_path / "bare.h5ad"), "--out", str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tissue" in err and "--label-key none" in err
    assert "label column 'tissue' (the one recorded in --real) not found" in err and "--labels" not in err
    assert not (tmp_path / "b.json").exists()
    # named with --label-key: the data layer's message, its way to labels turned into evaluate's (no --labels here)
    assert main([*base, "--synthetic", str(tmp_path / "bare.h5ad"), "--label-key", "tissue",
                 "--out", str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err
    assert "label column 'tissue' not found" in err and "pass --label-key naming the labels of every set" in err
    assert "--labels" not in err and err.count("\n") == 1 and not (tmp_path / "b.json").exists()
    # classes that differ only in case from the held-out set's on one class: said so beside the two notes
    write_h5ad(_adata(S, np.where(ys == "c1", "C1", ys)), tmp_path / "cased.h5ad")
    assert main([*base, "--synthetic", str(tmp_path / "cased.h5ad"), "--floor", "none"]) == 0
    assert "note: 1 class name differs only in case or spacing ('c1' / 'C1'): label both sets alike" in \
        capsys.readouterr().out


def test_a_collapsed_generator_is_scored_not_a_crash(rng):
    """A synthetic set of one repeated profile (a collapsed generator): the DOMIAS attack's density on it used to
    fail (a singular kernel covariance); every indicator is computed, the correlation score 0, not NaN."""
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=90)
    flat = np.repeat(np.median(T, 0, keepdims=True), len(S), axis=0)
    df = evaluate(R, flat, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, n_boot=10,
                  n_boot_expensive=2, classifier_seeds=(0,), epochs=2,
                  metrics=["correlation_score", "aa_ts", "membership"])
    v = df[df["group"] == "all"].set_index("name")["value"]
    assert v["correlation_score"] == 0.0 and v["aa_ts"] > 0.9
    assert np.isfinite(v[[m for m in v.index if m.startswith("mia_domias")]]).all()


def test_a_synthetic_set_larger_than_the_training_set_is_scored_at_the_ceilings_size():
    """The ceiling is a training subsample of the synthetic set's size: with more synthetic than training profiles
    it was drawn smaller than the model's set, and a generator drawing new real profiles closed -1,100% of the
    AA_syn gap. A random training-sized part of the set is scored, and a note says so."""
    from rnagen import datasets

    g = datasets.gtex26()
    t = g.obs["tissue"].astype(str).to_numpy()
    idx = [np.flatnonzero(t == c) for c in np.unique(t)]
    train, real, syn = (g[np.concatenate([v[a:b] for v in idx])].copy() for a, b in ((0, 5), (5, 10), (10, 20)))
    floor = syn.copy()
    floor.X = np.asarray(syn.X) + np.random.default_rng(0).normal(0, 1.0, syn.shape).astype(np.float32)
    df = evaluate(real, syn, train=train, floor=floor, label_key="tissue", metrics=["aa_ts", "aa_syn", "density"],
                  n_boot=20, k=5)
    shares = dict(zip(df["name"], df["gap_closed"]))
    assert shares["aa_syn"] > 0.5 and shares["aa_ts"] > 0.5 and shares["density"] > 0.5, shares
    assert df.attrs["synthetic_size_note"].startswith("the synthetic set (260 profiles) is larger than the training "
                                                      "set (130): a random 130 of its profiles are scored")
    same = evaluate(real, syn[:130].copy(), train=train, label_key="tissue", metrics=["aa_ts"], n_boot=0)
    assert "synthetic_size_note" not in same.attrs


def test_no_interval_passes_the_range_of_its_indicator():
    """A re-centred bootstrap interval of a value near its bound went past it (correlation score 0.968 with CI
    [0.80, 1.04], macro-F1 [0.956, 1.003]): cut at the registry's bounds, as distances were at 0."""
    from rnagen import datasets
    from rnagen.metrics import METRICS

    g = datasets.gtex26()
    real, train = g[::2].copy(), g[1::2].copy()
    df = evaluate(real, real.copy(), train=train, label_key="tissue", n_boot=50, n_boot_expensive=8,
                  metrics=["correlation_score", "precision", "coverage", "tstr_logreg_accuracy", "tstr_logreg_auc"],
                  classifier_seeds=(0,))
    for _, r in df.iterrows():
        info = METRICS[r["name"]]
        assert info.upper == 1.0 and r["ci_high"] <= 1.0 and r["ci_low"] <= r["value"] + 1e-12, r.to_dict()
    assert df.set_index("name").loc["correlation_score", "value"] == pytest.approx(1.0)


def test_the_mmd_floor_is_scored_on_the_models_held_out_subsample():
    """Past 2,000 held-out profiles MMD subsamples them from the shared random stream, which the floor's table
    (no privacy scorer) reached in another state: the floor column and its share rested on other rows than the
    model's value, and MMD changed with the other indicators asked for."""
    rng = np.random.default_rng(0)
    R, T = rng.normal(size=(2300, 12)).astype(np.float32), rng.normal(size=(2300, 12)).astype(np.float32)
    S = (rng.normal(size=(2300, 12)) + 0.05).astype(np.float32)
    F = (rng.normal(size=(2300, 12)) + 0.15).astype(np.float32)
    one = evaluate(R, S, train=T, floor=F, metrics=["mmd"], n_boot=0, n_boot_expensive=0).set_index("name")
    two = evaluate(R, S, train=T, floor=F, metrics=["mmd", "dcr_share"], n_boot=0,
                   n_boot_expensive=0).set_index("name")
    alone = evaluate(R, F, train=T, metrics=["mmd"], n_boot=0, n_boot_expensive=0).set_index("name")
    assert one.loc["mmd", "value"] == two.loc["mmd", "value"]
    assert one.loc["mmd", "floor"] == two.loc["mmd", "floor"] == alone.loc["mmd", "value"]


def _low_counts(rng, sizes):
    """Held-out, training and synthetic Poisson counts of 40 genes (means 3 on average, half again in class "1"),
    each ``(counts, labels)``, of ``sizes`` profiles."""
    lam = rng.gamma(2.0, 1.5, 40)

    def counts(n):
        y = rng.integers(0, 2, n)
        return rng.poisson(lam * (1 + 0.5 * y[:, None])).astype(np.float32), y.astype(str)

    return [counts(n) for n in sizes]


def test_low_counts_that_are_not_whole_numbers_are_logged_as_the_held_out_counts_are():
    """Expected counts of a model (low, not whole numbers) read as log values by their range alone: every
    synthetic profile fell outside the real manifold (precision 0). Beside held-out counts they are counts;
    the same values logged stay as they are."""
    rng = np.random.default_rng(0)
    (R, yr), (T, yt), (S, ys) = _low_counts(rng, (100, 150, 100))
    jittered = np.clip(S + rng.uniform(-0.3, 0.3, S.shape), 0, None).astype(np.float32)
    kw = dict(train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, metrics=["precision", "density"],
              n_boot=5)
    df = evaluate(R, jittered, **kw)
    assert df.attrs["preprocessing"]["synthetic"] == "log2(x+1)"
    assert df.set_index("name").loc["precision", "value"] > 0.8
    logged = evaluate(R, np.log2(jittered + 1), **kw)
    assert logged.attrs["preprocessing"]["synthetic"] == "as is (log scale)"
    assert logged.set_index("name").loc["precision", "value"] > 0.8


def test_a_set_without_a_log_record_is_read_on_the_held_out_set_s_scale():
    """Another tool's .h5ad (no log record) is judged by its values as an array is: low counts that are not whole
    numbers beside held-out counts are logged as those are (taken as log values, precision read 0), and whole
    numbers beside held-out log values whose genes' means they share (log values rounded, or stored as integers)
    are log values too (logged again, precision read 0); counts as whole numbers beside log values stay counts."""
    rng = np.random.default_rng(0)
    (R, yr), (T, yt), (S, ys) = _low_counts(rng, (100, 150, 100))
    kw = dict(label_key="tissue", metrics=["precision"], n_boot=0)
    jittered = np.clip(S + rng.uniform(-0.3, 0.3, S.shape), 0, None).astype(np.float32)
    df = evaluate(_adata(R, yr), _adata(jittered, ys), train=_adata(T, yt), **kw)
    assert df.attrs["preprocessing"]["synthetic"] == "log2(x+1)"
    assert df.set_index("name").loc["precision", "value"] > 0.9

    def logs(X):
        return np.log2(20 * X + 1).astype(np.float32)

    for whole in (np.rint(logs(S)), np.rint(logs(S)).astype(np.int32)):
        for given in (_adata(whole, ys), whole):
            labels = {} if hasattr(given, "obs") else {"real_labels": yr, "synthetic_labels": ys, "train_labels": yt}
            real, train = (_adata(logs(R), yr), _adata(logs(T), yt)) if labels == {} else (logs(R), logs(T))
            df = evaluate(real, given, train=train, **{**kw, "label_key": None if labels else "tissue"}, **labels)
            assert df.attrs["preprocessing"]["synthetic"].startswith("as is (log scale); whole numbers, read as log")
            assert df.set_index("name").loc["precision", "value"] > 0.8
            assert "synthetic_scale" not in df.attrs["preprocessing"]
    as_counts = evaluate(_adata(logs(R), yr), _adata(np.rint(20 * S), ys), train=_adata(logs(T), yt), **kw)
    assert as_counts.attrs["preprocessing"]["synthetic"] == "log2(x+1)"
    assert as_counts.set_index("name").loc["precision", "value"] > 0.8


def test_a_generated_set_whose_values_leave_the_scale_open_is_read_on_the_held_out_set_s_scale():
    """A generated set without a log record (a CSV of `rnagen sample`) whose values lie in the log range but for a
    few above it (a model trained on low linear values, recorded linear: its tail reaches past 30) was refused as
    of undecided scale; it is read the way that puts its genes' means nearer the held-out set's (linear here, log
    for log values with a few outliers), with a note, and scores as the same set with a record does."""
    from rnagen.pp.prepare import state_scale

    rng = np.random.default_rng(3)
    mu = rng.uniform(0.5, 6.0, (2, 30))

    def linear(n):
        y = rng.integers(0, 2, n)
        return rng.gamma(4.0, mu[y] / 4.0).astype(np.float32), y.astype(str)

    (R, yr), (T, yt), (S, ys) = linear(120), linear(160), linear(120)
    S[:4, 0] = [31.0, 35.0, 40.0, 33.0]   # 4 of 3,600 values past the log range
    kw = dict(label_key="tissue", metrics=["precision", "density"], n_boot=0)

    def recorded(X, y, scale):
        a = _adata(X, y)
        state_scale(a, scale)
        return a

    for scale, f in (("linear", lambda X: X), ("log", lambda X: np.log2(X + 1).astype(np.float32))):
        Sf = f(S)
        if scale == "log":
            Sf[:4, 0] = [31.0, 35.0, 40.0, 33.0]
        real, train = recorded(f(R), yr, scale), recorded(f(T), yt, scale)
        df = evaluate(real, _adata(Sf, ys), train=train, **kw)
        pre = df.attrs["preprocessing"]
        assert pre["synthetic"] == ("log2(x+1)" if scale == "linear" else "as is (log scale)")
        assert pre["synthetic_read"] == ("no log record and 4 values above the log range among values within it: "
                                         "read as " + ("a linear scale" if scale == "linear" else "log values")
                                         + ", which puts their genes' means nearer the held-out set's")
        same = evaluate(real, recorded(Sf, ys, scale), train=train, **kw)
        got, want = df.set_index("name")["value"], same.set_index("name")["value"]
        assert want["precision"] > 0.8
        np.testing.assert_allclose(got[["precision", "density"]], want[["precision", "density"]])


def test_synthetic_profiles_repeating_others_are_named(tmp_path, capsys):
    """A synthetic set whose profiles repeat (a collapsed generator's one profile per class, a file holding its rows
    twice) is scored as given, with a note of how many repeat and how many are distinct, printed by the command;
    a set of distinct profiles has none."""
    from rnagen.cli.main import main

    T, R, S = _many_classes(classes=4, n_train=20, n_held=10)
    kw = dict(label_key="tissue", metrics=["precision", "recall"], n_boot=0, k=3)
    assert "synthetic_repeats_note" not in evaluate(R, S, train=T, **kw).attrs
    twice = ad.concat([S[:20], S[:20]])
    twice.obs_names_make_unique()
    df = evaluate(R, twice, train=T, **kw)
    assert df.attrs["synthetic_repeats_note"] == (
        "20 of its 40 profiles repeat another of its profiles value for value (20 distinct): a generator's mode "
        "collapse, or rows written twice? each copy is scored as a profile of its own")
    for name, a in (("real", R), ("train", T), ("syn", twice)):
        a.write_h5ad(tmp_path / f"{name}.h5ad")
    capsys.readouterr()
    assert main(["evaluate", "--real", str(tmp_path / "real.h5ad"), "--synthetic", str(tmp_path / "syn.h5ad"),
                 "--train", str(tmp_path / "train.h5ad"), "--label-key", "tissue", "--metrics", "precision",
                 "--k", "3", "--n-boot", "2", "--n-boot-expensive", "2", "--floor", "none"]) == 0
    assert "note: the synthetic set: 20 of its 40 profiles repeat another" in capsys.readouterr().out


def test_two_resamples_give_intervals_that_contain_the_value():
    """``--n-boot 2``: the interval of two replicates is Student's around the value, never one that misses it."""
    rng = np.random.default_rng(5)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=120)
    df = evaluate(_adata(R, yr), _adata(S, ys), train=_adata(T, yt), label_key="tissue", n_boot=2,
                  n_boot_expensive=2, k=5, classifier_seeds=(0,), epochs=2,
                  metrics=["precision", "density", "coverage", "aa_ts", "aa_syn", "dcr_share", "dcr_ratio",
                           "frechet_pca", "correlation_score", "wasserstein_mean", "mmd",
                           "tstr_mlp_macro_f1", "tstr_mlp_auc", "detection_auc"])
    rows = df[(df.group == "all") & df.value.notna()]
    assert len(rows) >= 10
    assert (rows.ci_low <= rows.value + 1e-12).all() and (rows.value <= rows.ci_high + 1e-12).all()


def test_a_set_of_one_profile_is_not_told_to_lower_k_to_zero():
    from rnagen.errors import ConfigError

    rng = np.random.default_rng(2)
    R, S = rng.standard_normal((30, 5)), rng.standard_normal((30, 5))
    with pytest.raises(ConfigError, match=r"the synthetic set has 1; use more profiles$"):
        evaluate(R, S[:1], metrics=["precision"], n_boot=0, k=3)
    with pytest.raises(ConfigError, match=r"the synthetic set has 3; lower --k \(at most 2\) or use more profiles"):
        evaluate(R, S[:3], metrics=["precision"], n_boot=0, k=3)


def test_a_table_of_named_genes_is_matched_by_name_and_its_label_column_taken_out():
    """A DataFrame's columns name its genes: matched to the other set's by name as an AnnData's are (they were
    taken by position, a shuffled table scoring precision 0), with the label column named by label_key."""
    from rnagen.errors import DataError

    rng = np.random.default_rng(6)
    (R, yr), (S, ys), _ = _sets(rng, n=80)
    real, syn = _adata(R, yr), _adata(S, ys)
    kw = {"metrics": ["precision", "density"], "n_boot": 0}
    want = evaluate(real, syn, label_key="tissue", **kw)["value"].to_numpy()
    order = rng.permutation(R.shape[1])
    table = real.to_df().iloc[:, order].assign(tissue=yr)
    got = evaluate(table, syn, label_key="tissue", **kw)["value"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(evaluate(real.to_df().iloc[:, order], syn.to_df(), **kw)["value"].to_numpy(),
                               evaluate(real, syn, **kw)["value"].to_numpy(), rtol=1e-6)
    with pytest.raises(DataError, match="hold text, not expression values"):
        evaluate(table, syn, **kw)
    with pytest.raises(DataError, match="the table has no column 'kind'"):
        evaluate(table.drop(columns="tissue"), syn, label_key="kind", **kw)


def test_lists_and_sparse_matrices_score_as_the_arrays_they_hold():
    """Lists of rows and SciPy sparse matrices (the individual metrics take them) failed inside evaluate where it
    read their sizes; ragged rows are refused in one line."""
    import scipy.sparse as sp

    from rnagen.errors import DataError

    rng = np.random.default_rng(7)
    R, S, T = (rng.poisson(5, (n, 12)).astype(float) for n in (40, 40, 60))
    kw = {"metrics": ["precision", "density"], "n_boot": 0}
    want = evaluate(R, S, train=T, **kw)["value"].to_numpy()
    for conv in (lambda a: a.tolist(), sp.csr_matrix):
        np.testing.assert_allclose(evaluate(conv(R), conv(S), train=conv(T), **kw)["value"].to_numpy(), want)
    with pytest.raises(DataError, match="no samples x genes matrix of numbers"):
        evaluate([[1.0, 2.0], [3.0]], S, **kw)


def test_evaluate_leaves_torch_s_global_generator_as_it_was():
    """The classifiers' layers drew their default initialisation from torch's global generator (the caller's)
    before their own seed set the weights: the values were reproducible, the caller's stream was advanced."""
    import torch

    rng = np.random.default_rng(8)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=60)
    torch.manual_seed(3)
    before = torch.get_rng_state()
    evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, n_boot=0, epochs=2,
             metrics=["tstr_mlp_accuracy", "tstr_logreg_accuracy", "detection_auc"])
    assert torch.equal(torch.get_rng_state(), before)


def test_numeric_classes_written_another_way_are_the_held_out_classes():
    """Synthetic and training labels 1, 2 (a model trained on a float label column) against held-out ones written
    1.0, 2.0 (a CSV export) name the same classes: scored as the held-out set's names, not as classes of their own
    with an F1 of 0; a set holding both forms keeps them apart."""
    from rnagen.metrics.evaluate import check_label_sets

    rng = np.random.default_rng(11)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=90)
    num = {"c0": "1", "c1": "2", "c2": "2.5"}
    real = [{"c0": "1.0", "c1": "2.0", "c2": "2.5"}[v] for v in yr]
    kw = dict(metrics=["utility"], n_boot=0, classifier_seeds=(0,), epochs=3)
    df = evaluate(R, S, train=T, real_labels=real, synthetic_labels=[num[v] for v in ys],
                  train_labels=[num[v] for v in yt], **kw)
    same = evaluate(R, S, train=T, real_labels=real, synthetic_labels=[{"1": "1.0", "2": "2.0"}.get(num[v], num[v])
                                                                    for v in ys],
                    train_labels=[{"1": "1.0", "2": "2.0"}.get(num[v], num[v]) for v in yt], **kw)
    pd.testing.assert_frame_equal(df, same)
    assert set(df.loc[df["group"] != "all", "group"]) == {"1.0", "2.0", "2.5"}
    assert check_label_sets(R, S, real_labels=real, synthetic_labels=[num[v] for v in ys]) is None
    # both forms in one set are two classes of that set
    note = check_label_sets(R, S, real_labels=real, synthetic_labels=["1", "1.0"] * (len(ys) // 2))
    assert note is not None and "'1'" in note


def test_a_class_named_all_is_scored_apart_from_the_overall_rows(tmp_path, capsys):
    """A class named 'all' (the overall rows' group) is scored as any class: its per-class rows hold the numbers the
    same class gets under another name, the overall rows those of the table without it, and a last column
    ``overall`` tells the two kinds apart (in the table, the printed table and the command line's JSON and CSV); a
    table of other class names has no such column."""
    from rnagen.cli.main import main
    from rnagen.metrics._table import overall_rows
    from rnagen.metrics.evaluate import COLUMNS, GAP_COLUMNS, format_table

    rng = np.random.default_rng(3)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=60)
    rename = {"c0": "all"}   # sorts where c0 does: the classes keep their order, so every number is the same
    kw = {"metrics": ["utility", "de_f1"], "n_boot": 0, "n_boot_expensive": 0, "epochs": 3, "classifier_seeds": (0,)}
    plain = evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, **kw)
    named = evaluate(R, S, train=T, real_labels=[rename.get(v, v) for v in yr],
                     synthetic_labels=[rename.get(v, v) for v in ys], train_labels=[rename.get(v, v) for v in yt],
                     **kw)
    assert list(plain.columns) == COLUMNS + GAP_COLUMNS
    assert list(named.columns) == COLUMNS + GAP_COLUMNS + ["overall"]
    over = overall_rows(named)
    assert over.tolist() == (plain["group"] == "all").tolist() and int(over.sum()) == 8
    assert named.loc[over, "group"].eq("all").all()
    pd.testing.assert_frame_equal(named[over].drop(columns="overall"), plain[plain["group"] == "all"])
    per_class = named[~over]
    assert set(per_class["group"]) == {"all", "c1", "c2"}
    # the class 'all' holds class c0's per-class numbers (TSTR F1 per class, DE F1 per class)
    mine = per_class[per_class["group"] == "all"].set_index("name")
    c0 = plain[plain["group"] == "c0"].set_index("name")
    assert sorted(mine.index) == sorted(c0.index) == ["de_f1", "tstr_logreg_macro_f1", "tstr_mlp_macro_f1"]
    np.testing.assert_array_equal(mine.loc[c0.index, ["value", "reference"]].to_numpy(float),
                                  c0[["value", "reference"]].to_numpy(float))
    printed = format_table(named, per_class=True).splitlines()
    assert sum(ln.split()[1:3] == ["all", "(class)"] for ln in printed) == 3
    assert sum(ln.split()[1] == "all" and ln.split()[2] != "(class)" for ln in printed[1:] if ln.split()) == 8
    assert "(class)" not in format_table(named)
    # the command line: the overall rows in "metrics", the class's in "per_class"; the CSV keeps the column
    for name, X, y in (("real", R, yr), ("syn", S, ys), ("train", T, yt)):
        _adata(X, [rename.get(v, v) for v in y]).write_h5ad(tmp_path / f"{name}.h5ad")
    args = ["evaluate", "--real", str(tmp_path / "real.h5ad"), "--synthetic", str(tmp_path / "syn.h5ad"),
            "--train", str(tmp_path / "train.h5ad"), "--label-key", "tissue", "--metrics", "utility",
            "--n-boot", "2", "--floor", "none"]
    assert main([*args, "--out", str(tmp_path / "m.json")]) == 0
    out = json.loads((tmp_path / "m.json").read_text())
    assert {r["group"] for r in out["metrics"]} == {"all"} and all(r["overall"] for r in out["metrics"])
    assert [r["name"] for r in out["metrics"]] == plain.loc[plain["family"] == "utility", "name"][
        plain["group"] == "all"].tolist()
    assert sorted({r["group"] for r in out["per_class"]}) == ["all", "c1", "c2"]
    assert not any(r["overall"] for r in out["per_class"])
    assert main([*args, "--out", str(tmp_path / "m.csv")]) == 0
    csv = pd.read_csv(tmp_path / "m.csv")
    assert list(csv.columns[-1:]) == ["overall"] and csv["overall"].tolist() == [True] * 7 + [False] * 6
    assert csv.loc[~csv["overall"], "group"].tolist().count("all") == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_class_name_with_a_line_break_keeps_the_printed_table_one_line_per_row():
    """Control characters in a class name (a line break, a tab) are printed as escapes: one line per row, the
    columns aligned."""
    from rnagen.metrics.evaluate import format_table

    rng = np.random.default_rng(5)
    (R, yr), (S, ys), _ = _sets(rng, n=90)
    names = {"c0": "line1\nline2", "c1": "tab\there", "c2": "ok"}
    df = evaluate(R, S, real_labels=[names[v] for v in yr], synthetic_labels=[names[v] for v in ys],
                  metrics=["utility"], n_boot=0, classifier_seeds=(0,), epochs=3)
    lines = format_table(df, per_class=True).splitlines()
    assert len(lines) == len(df) + 1
    rows = [ln for ln in lines if "line1\\nline2" in ln or "tab\\there" in ln]
    assert rows and len({ln.index("higher") for ln in lines[1:]}) == 1


def test_the_copies_of_the_reference_s_profiles_are_left_out_of_the_fits():
    """A training profile in the training set twice (planted copies) lies in the real-vs-real reference or in the
    rows the z-scores and feature spaces are fitted on, never in both: a copy in the fits puts the reference's own
    profile in them. ``evaluate`` passes the copies its held-out check found; ``prepare`` finds them itself.
    Without copies the fits are the rows outside the reference."""
    rng = np.random.default_rng(0)
    T, R, S = (rng.normal(size=(n, 20)).astype(np.float32) for n in (150, 40, 60))
    T2 = np.vstack([T, T[:60]])   # rows 150-209 copy rows 0-59
    d = prepare(R, S, T2, seed=0)
    ref, fit = set(d["reference_rows"].tolist()), d["fit_rows"]
    copy_of = {i: 150 + i for i in range(60)} | {150 + i: i for i in range(60)}
    assert len(ref) == 60 and not ref & set(fit.tolist())
    # every row outside the reference but the copies of its profiles
    assert fit.tolist() == [i for i in range(210) if i not in ref and copy_of.get(i) not in ref]
    assert len(fit) < 150   # some copies of the reference's profiles were left out
    out = evaluate(R, S, train=T2, metrics=["frechet_pca"], n_boot_expensive=2)
    assert out.attrs["preprocessing"]["zscore"].endswith(f"outside the real-vs-real reference ({len(fit)} profiles)")
    plain = prepare(R, S, T, seed=0)
    np.testing.assert_array_equal(plain["fit_rows"], np.setdiff1d(np.arange(150), plain["reference_rows"]))


def test_sets_logged_in_two_bases_are_scored_in_log2_or_refused():
    """ln(x+1) values (scanpy's log1p) beside log2(x+1) values of the same profiles differ by a factor of 1.44 in
    every gene. Beside a set of base 2 (recorded, or counts evaluate logs itself) the ln set is scored as its
    log2(x+1), exactly (x log2(e)): the table is that of both sets given in log2. Beside log values no record names
    the base of, or two recorded bases neither of them 2, refused in one line; one recorded base is scored."""
    import math

    from rnagen.errors import DataError
    from rnagen.pp.history import set_log_state

    rng = np.random.default_rng(0)
    counts = rng.gamma(2.0, 50.0, size=(60, 8))
    obs = pd.DataFrame({"k": ["a", "b", "c"] * 20}, index=[f"s{i}" for i in range(60)])

    def logged(values, base, name, record=True):
        a = ad.AnnData(values.astype(np.float32), obs=obs.set_axis([f"{name}{i}" for i in range(60)]),
                       var=pd.DataFrame(index=[f"G{j}" for j in range(8)]))
        if record:
            set_log_state(a, logged=True, transform=log1p_name(base), pseudocount=1.0, base=base)
        return a

    from rnagen.pp.history import log1p_name

    def scores(real, syn, **kw):
        t = evaluate(real, syn, label_key="k", metrics=["frechet_pca"], n_boot=0, **kw)
        return t.set_index("name")["value"]

    syn_counts = rng.gamma(2.0, 60.0, size=(60, 8))
    log2_real, log2_syn = logged(np.log2(counts + 1), 2.0, "r"), logged(np.log2(syn_counts + 1), 2.0, "s")
    expected = scores(log2_real, log2_syn)
    ln_real, ln_syn = logged(np.log1p(counts), math.e, "r"), logged(np.log1p(syn_counts), math.e, "s")
    pd.testing.assert_series_equal(scores(ln_real, log2_syn), expected, rtol=1e-4)
    pd.testing.assert_series_equal(scores(log2_real, ln_syn), expected, rtol=1e-4)
    # the held-out counts, logged by evaluate: base 2 too
    counts_real = ad.AnnData(counts.astype(np.float32), obs=obs, var=pd.DataFrame(index=[f"G{j}" for j in range(8)]))
    pd.testing.assert_series_equal(scores(counts_real, ln_syn), scores(counts_real, log2_syn), rtol=1e-4)
    from rnagen.metrics.evaluate import prepare

    said = prepare(log2_real, ln_syn, label_key="k")["preprocessing"]["synthetic"]
    assert said == "as is (log scale); ln(x+1) converted to log2(x+1) (x 1.443, exact), the other sets' base"
    # log2 values without a record of their base beside the ln set: refused, not scored in two units
    with pytest.raises(DataError, match=r"^the synthetic set records ln\(x\+1\) and the real set's values look "
                                        r"log-scale with no record of their base"):
        evaluate(logged(np.log2(counts + 1), 2.0, "r", record=False), ln_syn, label_key="k", metrics=["density"],
                 n_boot=0)
    with pytest.raises(DataError, match=r"^the real set records ln\(x\+1\) and the train set log10\(x\+1\): logs "
                                        r"of two bases"):
        evaluate(ln_real, ln_syn, train=logged(np.log10(counts + 1), 10.0, "t"), label_key="k",
                 metrics=["density"], n_boot=0)
    table = evaluate(ln_real, ln_syn, label_key="k", metrics=["density"], n_boot=0)
    assert np.isfinite(table.loc[table["name"] == "density", "value"]).all()
    # a record without a base entry (rnagen's of an earlier version) names its base in the transform
    old = logged(np.log2(counts + 1), 2.0, "o")
    old.uns["rnagen"]["log"] = {"logged": True, "transform": "log2(x+1)", "pseudocount": 1.0}
    pd.testing.assert_series_equal(scores(old, ln_syn), expected, rtol=1e-4)


def test_an_in_memory_anndata_with_scanpy_s_log1p_record_is_read_as_a_file_is():
    """An AnnData given in memory whose ``uns["log1p"]`` (scanpy's sc.pp.log1p, the natural log) is its only record
    of the log: read as ln(x+1), as a file read from disk is, so beside a log2(x+1) set it is scored as its
    log2(x+1) (the table of both sets given in log2), not taken for log values of unknown base; the caller's object
    is not changed (no rnagen state written to it, its ``uns["log1p"]`` kept)."""
    from rnagen.pp.history import log_state, set_log_state

    rng = np.random.default_rng(1)
    counts, syn_counts = rng.gamma(2.0, 50.0, size=(60, 8)), rng.gamma(2.0, 60.0, size=(60, 8))
    obs = pd.DataFrame({"k": ["a", "b", "c"] * 20}, index=[f"s{i}" for i in range(60)])
    var = pd.DataFrame(index=[f"G{j}" for j in range(8)])

    def log2_set(values, name):
        a = ad.AnnData(np.log2(values + 1).astype(np.float32), obs=obs.set_axis([f"{name}{i}" for i in range(60)]),
                       var=var)
        set_log_state(a, logged=True, transform="log2(x+1)", pseudocount=1.0, base=2.0)
        return a

    def scores(real, syn):
        t = evaluate(real, syn, label_key="k", metrics=["frechet_pca", "density"], n_boot=0)
        return t.set_index("name")["value"]

    real, expected = log2_set(counts, "r"), scores(log2_set(counts, "r"), log2_set(syn_counts, "s"))
    ln_syn = ad.AnnData(np.log1p(syn_counts).astype(np.float32), obs=obs.set_axis([f"s{i}" for i in range(60)]),
                        var=var)
    ln_syn.uns["log1p"] = {"base": None}
    pd.testing.assert_series_equal(scores(real, ln_syn), expected, rtol=1e-4)
    said = evaluate(real, ln_syn, label_key="k", metrics=["density"], n_boot=0).attrs["preprocessing"]["synthetic"]
    assert said == "as is (log scale); ln(x+1) converted to log2(x+1) (x 1.443, exact), the other sets' base"
    assert log_state(ln_syn) is None and dict(ln_syn.uns) == {"log1p": {"base": None}}
    # prepare(), the step evaluate() scores on, called alone reads it so too
    from rnagen.metrics.evaluate import prepare

    alone, as_log2 = prepare(real, ln_syn, label_key="k"), prepare(real, log2_set(syn_counts, "s"), label_key="k")
    assert alone["preprocessing"]["synthetic"] == said
    np.testing.assert_allclose(alone["synthetic"], as_log2["synthetic"], rtol=1e-5, atol=1e-5)
    assert log_state(ln_syn) is None and dict(ln_syn.uns) == {"log1p": {"base": None}}
    # the view of a part, as given: its parent unchanged
    part = ln_syn[:30]
    evaluate(real[:30], part, label_key="k", metrics=["density"], n_boot=0)
    assert log_state(ln_syn) is None and "rnagen" not in ln_syn.uns


def test_the_held_out_sets_copies_in_training_are_found_without_a_float64_copy_of_both_sets(monkeypatch):
    """The search for held-out profiles that copy training ones, and for the training set's own copies, takes
    each set's log2(x + 1) in float64 a block of rows at a time (blocks of 16,384 values here), never the two
    sets stacked in float64: its peak stays below one float64 copy of them, and it finds what the search on that
    stacked copy finds, group for group."""
    import tracemalloc

    import sklearn.neighbors  # noqa: F401  (imported before tracing: its import is no part of the peak)

    import rnagen.pp.copies as copies
    from rnagen.metrics.evaluate import _near_copies_in_train
    from rnagen.pp import to_log_scale
    from rnagen.pp.copies import find_copies, first_of_group, group_ids

    monkeypatch.setattr(copies, "_DIFF_VALUES", 1 << 14)
    rng = np.random.default_rng(0)
    mu = rng.lognormal(3, 1.5, 4000)
    R, T = (rng.negative_binomial(5, 5 / (5 + mu), size=(m, 4000)).astype(np.float32) for m in (200, 300))
    R[:3] = T[:3]                      # held-out profiles equal to training ones
    R[3] = T[3] * 1.001                # a near copy (the same library scaled by 0.1%)
    T[10] = T[20]                      # a copy within the training set
    tracemalloc.start()
    try:
        near, groups = _near_copies_in_train(R, None, T, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < (R.size + T.size) * 8   # under one float64 copy of both sets
    assert np.flatnonzero(near).tolist() == [0, 1, 2, 3]
    assert groups[20] == 10 and (groups[np.arange(300) != 20] == np.delete(np.arange(300), 20)).all()
    whole = find_copies(np.vstack([to_log_scale(np.asarray(A, np.float64), logged=False)[0] for A in (R, T)]))
    assert np.array_equal(groups, first_of_group(group_ids(whole, 500)[200:], 300))
    assert [g for g in whole.groups if g[0] < 200] == [[i, 200 + i] for i in range(4)]


def _write_sets(tmp_path, n=60, seed=11):
    """Held-out, training and synthetic .h5ad files of :func:`_sets` (classes in ``tissue``); the synthetic set
    as an AnnData to write in other forms."""
    from rnagen._io import write_h5ad

    (R, yr), (S, ys), (T, yt) = _sets(np.random.default_rng(seed), n=n)

    def named(X, y):   # gene symbols, which a CSV reader takes for the genes' axis
        a = _adata(X, y)
        a.var_names = _SYMBOLS
        return a

    for name, X, y in (("test", R, yr), ("train", T, yt)):
        write_h5ad(named(X, y), tmp_path / f"{name}.h5ad")
    return named(S, ys)


_SYMBOLS = ["TP53", "BRCA1", "BRCA2", "ESR1", "PGR", "ERBB2", "MKI67", "GATA3", "FOXA1", "KRT5", "KRT14", "KRT17",
            "EGFR", "MYC", "CCND1", "PTEN", "PIK3CA", "AKT1", "CDH1", "VIM"]


def test_cli_reads_repeated_synthetic_ids_and_keeps_refusing_repeated_held_out_ids(tmp_path, capsys):
    """A synthetic set's sample ids name no sample: an .h5ad whose obs_names are all "syn", or a CSV whose row ids
    are its classes (beside its label column, or as its only class column without a header), is scored, its ids
    made unique and said in one note (the class column without a header is the labels --label-key names, the ids
    renumbered), with the same numbers as under unique ids. The held-out set's repeated ids
    stay refused, with the fix for an .h5ad (no first column to name with --label-key)."""
    from rnagen._io import write_h5ad
    from rnagen.cli.main import main

    syn = _write_sets(tmp_path)
    write_h5ad(syn, tmp_path / "syn.h5ad")
    same = syn.copy()
    same.obs_names = ["syn"] * same.n_obs
    write_h5ad(same, tmp_path / "same.h5ad")
    table = pd.DataFrame(np.asarray(syn.X), columns=syn.var_names, index=syn.obs["tissue"].to_numpy())
    table.insert(0, "tissue", syn.obs["tissue"].to_numpy())
    table.to_csv(tmp_path / "classes_and_column.csv")
    table.drop(columns=["tissue"]).to_csv(tmp_path / "classes_only.csv")   # first column: the classes, no header
    base = ["evaluate", "--real", str(tmp_path / "test.h5ad"), "--train", str(tmp_path / "train.h5ad"),
            "--label-key", "tissue", "--metrics", "precision,tstr_logreg_accuracy", "--n-boot", "20",
            "--n-boot-expensive", "3", "--floor", "none"]
    values = {}
    for name in ("syn.h5ad", "same.h5ad", "classes_and_column.csv", "classes_only.csv"):
        capsys.readouterr()
        assert main([*base, "--synthetic", str(tmp_path / name), "--out", str(tmp_path / f"{name}.json")]) == 0, \
            capsys.readouterr().err
        out = capsys.readouterr().out
        notes = [n for n in out.splitlines() if "sample ids repeat" in n]
        js = json.loads((tmp_path / f"{name}.json").read_text())
        values[name] = [m["value"] for m in js["metrics"]]
        if name in ("syn.h5ad", "classes_only.csv"):   # the classes only: labels named by --label-key, ids renumbered
            assert not notes, out
        else:
            assert len(notes) == 1, out
            first = "'syn', 'syn-1'" if name == "same.h5ad" else "'c"
            assert f"{same.n_obs - (1 if name == 'same.h5ad' else 3)} of its {same.n_obs} repeat" in notes[0] and \
                "made unique (" + first in notes[0], notes[0]
    assert values["same.h5ad"] == values["syn.h5ad"]
    assert values["classes_and_column.csv"] == values["classes_only.csv"]
    assert values["classes_and_column.csv"][1] == pytest.approx(values["syn.h5ad"][1], abs=1e-6)
    # the held-out set's repeated ids: refused, the fix for an .h5ad's obs_names
    write_h5ad(same, tmp_path / "same_real.h5ad")
    capsys.readouterr()
    assert main(["evaluate", "--real", str(tmp_path / "same_real.h5ad"), "--synthetic", str(tmp_path / "syn.h5ad"),
                 "--label-key", "tissue", "--metrics", "precision"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "obs_names_make_unique()" in err and "--label-key" not in err, err


def test_cli_reads_a_floor_file_of_repeated_ids_as_a_synthetic_set(tmp_path, capsys):
    """--floor FILE is a generator's profiles, as the synthetic set is: a floor whose sample ids all repeat (two
    draws concatenated, or every id "floor") is scored, its ids made unique and said in one note, with the same
    floor values as under unique ids."""
    from rnagen._io import write_h5ad
    from rnagen.cli.main import main

    syn = _write_sets(tmp_path)
    write_h5ad(syn, tmp_path / "syn.h5ad")
    floor = syn.copy()
    floor.X = np.asarray(floor.X) + np.random.default_rng(5).normal(0, 0.3, floor.shape).astype(np.float32)
    write_h5ad(floor, tmp_path / "floor.h5ad")
    same = floor.copy()
    same.obs_names = ["floor"] * same.n_obs
    write_h5ad(same, tmp_path / "floor_same.h5ad")
    base = ["evaluate", "--real", str(tmp_path / "test.h5ad"), "--train", str(tmp_path / "train.h5ad"),
            "--synthetic", str(tmp_path / "syn.h5ad"), "--label-key", "tissue", "--metrics", "precision,density",
            "--n-boot", "20"]
    floors = {}
    for name in ("floor.h5ad", "floor_same.h5ad"):
        capsys.readouterr()
        assert main([*base, "--floor", str(tmp_path / name), "--out", str(tmp_path / f"{name}.json")]) == 0, \
            capsys.readouterr().err
        notes = [n for n in capsys.readouterr().out.splitlines() if "sample ids repeat" in n]
        assert len(notes) == (name == "floor_same.h5ad"), notes
        if notes:
            assert notes[0].startswith("note: the floor's sample ids repeat") and "made unique ('floor', 'floor-1'" \
                in notes[0], notes[0]
        floors[name] = [m["floor"] for m in json.loads((tmp_path / f"{name}.json").read_text())["metrics"]]
    assert floors["floor.h5ad"] == floors["floor_same.h5ad"]


def test_cli_floor_leaves_out_a_synthetic_class_the_training_set_lacks(tmp_path, capsys):
    """A synthetic class the training set lacks (here a class renamed) is scored with the default Gaussian floor:
    fitted on the training classes, sampled to the label mix of the other synthetic profiles, said in a note; a
    synthetic set none of whose classes the training set has is refused naming them."""
    from rnagen._io import write_h5ad
    from rnagen.cli.main import main

    syn = _write_sets(tmp_path)
    renamed = syn.copy()
    renamed.obs["tissue"] = renamed.obs["tissue"].astype(str).replace({"c2": "c2-renamed"})
    n_renamed = int((renamed.obs["tissue"] == "c2-renamed").sum())
    write_h5ad(renamed, tmp_path / "renamed.h5ad")
    argv = ["evaluate", "--real", str(tmp_path / "test.h5ad"), "--train", str(tmp_path / "train.h5ad"),
            "--synthetic", str(tmp_path / "renamed.h5ad"), "--label-key", "tissue", "--metrics", "precision,recall",
            "--n-boot", "20", "--n-boot-expensive", "3", "--out", str(tmp_path / "m.json")]
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"the synthetic class 'c2-renamed' ({n_renamed} profiles) is not a class of the training set" in out
    assert f"the other {syn.n_obs - n_renamed} synthetic profiles, without it" in out
    js = json.loads((tmp_path / "m.json").read_text())
    assert all(m["floor"] is not None and np.isfinite(m["floor"]) for m in js["metrics"])
    assert "1 synthetic class(es) without training profiles left out" in js["inputs"]["floor"]
    # no class in common with the training set: refused, naming the classes
    other = syn.copy()
    other.obs["tissue"] = "x"
    other.obs.loc[other.obs_names[:5], "tissue"] = "c0"
    train = ad.read_h5ad(tmp_path / "train.h5ad")
    train.obs["tissue"] = "c0-only"
    train.obs.loc[train.obs_names[:5], "tissue"] = "c1"
    # (the floor's own check: a training set whose classes the synthetic set never names)
    write_h5ad(train, tmp_path / "train_other.h5ad")
    syn_x = syn.copy()
    syn_x.obs["tissue"] = np.where(syn_x.obs["tissue"].astype(str) == "c0", "c0", "q")
    write_h5ad(syn_x, tmp_path / "syn_x.h5ad")
    capsys.readouterr()
    assert main([*argv[:6], str(tmp_path / "syn_x.h5ad"), "--train", str(tmp_path / "train_other.h5ad"),
                 "--label-key", "tissue", "--metrics", "precision"]) == 2
    err = capsys.readouterr().err.strip()
    assert "none of the synthetic set's classes ('c0'" in err and "--floor gaussian" in err, err


def test_tstr_auc_of_a_one_class_synthetic_set_is_not_computable():
    """A classifier trained on one class ranks the held-out profiles by noise: the TSTR AUC is NaN (no CI), with
    a note saying why; accuracy and macro-F1 stay (those of predicting that class); TRTR's AUC is a number."""
    rng = np.random.default_rng(7)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=90)
    one = ys == "c0"
    df = evaluate(R, S[one], train=T, real_labels=yr, synthetic_labels=ys[one], train_labels=yt,
                  metrics=["tstr_logreg_accuracy", "tstr_logreg_auc"], n_boot=20, n_boot_expensive=3,
                  classifier_seeds=(0,))
    auc = df.set_index("name").loc["tstr_logreg_auc"]
    acc = df.set_index("name").loc["tstr_logreg_accuracy"]
    assert np.isnan(auc["value"]) and np.isnan(auc["ci_low"]) and np.isnan(auc["ci_high"])
    assert auc["reference"] > 0.9
    assert acc["value"] == pytest.approx(np.mean(yr == "c0"))
    assert "the synthetic set holds one class ('c0'): the TSTR AUC is not computable (NaN)" in df.attrs["utility_note"]
    both = evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt,
                    metrics=["tstr_logreg_auc"], n_boot=20, n_boot_expensive=3, classifier_seeds=(0,))
    assert np.isfinite(both["value"].iloc[0]) and "utility_note" not in both.attrs


def test_a_z_scored_synthetic_set_is_named_as_z_scores():
    """A synthetic set z-scored per gene (each gene mean 0, sd 1) is named as such, not as counts against CPM or
    another log base; a set of the held-out set's scale gets no note, and z-scored held-out data none either."""
    rng = np.random.default_rng(6)
    (R, yr), (S, ys), (T, yt) = _sets(rng, n=60)
    kw = dict(real_labels=yr, synthetic_labels=ys, train_labels=yt, metrics=["precision"], n_boot=0)
    L = np.log2(S.astype(np.float64) + 1.0)
    for ddof in (0, 1):
        Z = (L - L.mean(0)) / L.std(0, ddof=ddof)
        note = evaluate(R, Z, train=T, **kw).attrs["preprocessing"]["synthetic_scale"]
        assert note.startswith("its values are per-gene z-scores (each gene mean 0, standard deviation 1"), note
        assert "counts against CPM" not in note and "log base" not in note
    assert "synthetic_scale" not in evaluate(R, S, train=T, **kw).attrs["preprocessing"]

    def z(X):
        lx = np.log2(X.astype(np.float64) + 1.0)
        return (lx - lx.mean(0)) / lx.std(0)

    assert "synthetic_scale" not in evaluate(z(R), z(S), train=z(T), **kw).attrs["preprocessing"]


def test_sets_of_two_pseudocounts_are_scored_on_one_scale():
    """A held-out set recorded as UCSC Xena's log2(TPM+0.001) beside a synthetic set recorded as log2(x+1) (the same
    base): the held-out set is made log2(x+1) by v' = log2(2^v - 0.001 + 1), exact, and scores as the log2(x+1) sets
    do, said in its note; ln(x+1) beside log2(TPM+0.001) is made log2(TPM+0.001)'s scale, not log2(x+1); a record
    of no pseudocount beside a known one is scored as it is, with a note."""
    import math

    from rnagen.pp.history import set_log_state

    rng = np.random.default_rng(0)
    counts = rng.gamma(0.5, 4.0, size=(60, 8))
    syn_counts = rng.gamma(0.5, 4.0, size=(60, 8))
    obs = pd.DataFrame({"k": ["a", "b"] * 30}, index=[f"r{i}" for i in range(60)])

    def logged(X, transform, pc, base=2.0):
        a = ad.AnnData(np.asarray(X, np.float32), obs=obs.copy(), var=pd.DataFrame(index=[f"G{j}" for j in range(8)]))
        set_log_state(a, logged=True, transform=transform, pseudocount=pc, base=base)
        return a

    real_p1 = logged(np.log2(counts + 1), "log2(x+1)", 1.0)
    syn_p1 = logged(np.log2(syn_counts + 1), "log2(x+1)", 1.0)
    real_xena = logged(np.log2(counts + 0.001), "log2(TPM+0.001)", 0.001)
    out = prepare(real_xena, syn_p1, label_key="k")
    assert out["preprocessing"]["real"] == ("as is (log scale); log2(x+0.001) converted to log2(x+1) "
                                            "(log2(2^v - 0.001 + 1), exact), the other sets' scale")
    ref = prepare(real_p1, syn_p1, label_key="k")
    np.testing.assert_allclose(out["real"], ref["real"], atol=1e-4)
    np.testing.assert_allclose(out["synthetic"], ref["synthetic"], atol=1e-4)
    # scanpy's ln(x+1) beside log2(TPM+0.001): brought to log2(x+0.001), the other set's scale
    syn_ln = logged(np.log1p(syn_counts), "ln(x+1)", 1.0, base=math.e)
    out = prepare(real_xena, syn_ln, label_key="k")
    assert out["preprocessing"]["synthetic"] == ("as is (log scale); ln(x+1) converted to log2(x+0.001) "
                                                 "(log2(e^v - 1 + 0.001), exact), the other sets' scale")
    ref = prepare(real_xena, logged(np.log2(syn_counts + 0.001), "log2(TPM+0.001)", 0.001), label_key="k")
    np.testing.assert_allclose(out["synthetic"], ref["synthetic"], atol=1e-3)
    # a record without a pseudocount beside a known one: as it is, said
    said = prepare(real_xena, logged(np.log2(syn_counts + 1), "log2, as given (--scale log)", None),
                   label_key="k")["preprocessing"]["synthetic"]
    assert said.startswith("as is (log scale); the synthetic set's log2, as given (--scale log) records no "
                           "pseudocount beside the real set's log2(TPM+0.001): taken as they are")
