"""Wide data (more genes than ``rnagen.metrics._classifiers.WIDE_GENES``): the classifiers take the real training
profiles' principal components and the pooled co-expression network the most variable genes, recorded in the
result; at most that many genes nothing changes. The width is lowered here (monkeypatch) so the sets stay small."""
import numpy as np
import pytest

from rnagen.metrics import _classifiers, biology, evaluate
from rnagen.metrics._classifiers import PrincipalInputs
from rnagen.metrics.biology import coexpression_recovery
from rnagen.metrics.detection import binary_auc, detection_scores
from rnagen.metrics.utility import tstr

G = 40
WANT = ["precision", "frechet_pca", "mmd", "tstr_mlp_accuracy", "tstr_logreg_auc", "detection_auc",
        "frechet_classifier", "mia_logan_auc", "coexpr_corr", "coexpr_edge_f1"]


def _sets(seed=3, n=60, g=G, C=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(C, g)) * 1.5
    common = rng.normal(size=(2, g))   # shared factors: genes correlated, so the networks have edges

    def make(m, shift=0.0):
        y = np.arange(m) % C
        X = 3.0 + centres[y] + rng.normal(size=(m, 2)) @ common + rng.normal(size=(m, g)) + shift
        return X.astype(np.float32), np.array([f"c{c}" for c in y])

    return make(n), make(n, 0.2), make(2 * n)


def _run(**kw):
    (R, yr), (S, ys), (T, yt) = _sets()
    return evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, metrics=WANT, n_boot=20,
                    n_boot_expensive=3, k=5, classifier_seeds=(0,), epochs=3, **kw)


def _overall(df):
    return df[df["group"] == "all"].set_index("name")


def test_principal_inputs_rotate_the_span_of_the_fitted_profiles():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 200))
    p = PrincipalInputs(X)
    # every axis the 30 centred profiles span (29), and all their variance
    assert p.n_components == 29
    assert p.explained == pytest.approx(1.0)
    Z = p(X)
    assert Z.dtype == np.float32 and Z.shape == (30, 29)
    # one common scale: the inputs' mean square is 1, and distances between the fitted profiles are kept up to it
    assert float(np.mean(Z.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-4)
    d_genes = np.linalg.norm(X[:, None] - X[None], axis=2)
    d_in = np.linalg.norm(Z[:, None].astype(np.float64) - Z[None], axis=2) * p.scale_
    assert np.allclose(d_in, d_genes, rtol=1e-4, atol=1e-4)
    # the leading axes first, at most n_components of them
    q = PrincipalInputs(X, n_components=5)
    assert q.n_components == 5 and 0 < q.explained < 1
    assert np.allclose(np.abs(q(X)) * q.scale_, np.abs(Z[:, :5]) * p.scale_, rtol=1e-3, atol=1e-3)
    rec = q.record()
    assert rec["space"] == "pca" and rec["components"] == 5 and rec["genes"] == 200
    assert "5 leading principal components of 30 real training profiles" in rec["note"]


def test_principal_inputs_do_not_depend_on_the_order_of_rows_or_genes():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(25, 120)).astype(np.float32)
    Y = rng.normal(size=(7, 120)).astype(np.float32)
    rows, genes = rng.permutation(25), rng.permutation(120)
    p, q = PrincipalInputs(X), PrincipalInputs(X[rows][:, genes])
    assert np.array_equal(p(Y), q(Y[:, genes]))   # to the bit, signs included


def test_no_change_up_to_the_width():
    df = _run()
    assert "classifier_inputs" not in df.attrs
    assert "note" not in df.attrs["biology_coexpr"]


def test_classifiers_on_principal_components_above_the_width(monkeypatch):
    base = _overall(_run())
    monkeypatch.setattr(_classifiers, "WIDE_GENES", G - 1)
    df = _run()
    rec = df.attrs["classifier_inputs"]
    # fitted on the 60 training profiles outside the 60-profile reference, in 40 genes: 40 axes
    assert rec["components"] == G and rec["genes"] == G and rec["fitted_on"] == "60 real training profiles"
    assert f"{G} genes, more than {G - 1}" in rec["note"]
    wide = _overall(df)
    # what no classifier measures is unchanged, to the bit
    for m in ("precision", "frechet_pca", "mmd", "coexpr_corr"):
        assert wide.loc[m, "value"] == base.loc[m, "value"] and wide.loc[m, "reference"] == base.loc[m, "reference"]
    # the classifiers' values are those of the same classifiers on the projected sets
    from rnagen.metrics._context import EvalContext
    from rnagen.metrics.evaluate import prepare

    (R, yr), (S, ys), (T, yt) = _sets()
    prep = prepare(R, S, T, real_labels=yr, synthetic_labels=ys, train_labels=yt, seed=0)
    ctx = EvalContext.build(prep, want=WANT, k=5, n_boot=20, n_boot_expensive=3, seed=0, classifier_seeds=(0,),
                            epochs=3)
    space = ctx.classifier_space
    assert space.n_components == G
    Rz, Sz, ref = space(ctx.real), space(ctx.synthetic), space(ctx.reference)
    sc, lab = detection_scores(Rz, Sz, seed=0, epochs=3, max_n=2500)
    assert wide.loc["detection_auc", "value"] == pytest.approx(binary_auc(lab, sc), abs=1e-12)
    s2, l2 = detection_scores(Rz, ref, seed=0, epochs=3, max_n=2500)
    assert wide.loc["detection_auc", "reference"] == pytest.approx(binary_auc(l2, s2), abs=1e-12)
    t = tstr(Sz, ys, Rz, yr, classifier="mlp", seeds=(0,), epochs=3)
    assert wide.loc["tstr_mlp_accuracy", "value"] == pytest.approx(t["accuracy"], abs=1e-12)
    assert wide.loc["tstr_mlp_accuracy", "value"] != base.loc["tstr_mlp_accuracy", "value"] or \
        wide.loc["detection_auc", "value"] != base.loc["detection_auc", "value"]


def test_logan_on_principal_components_of_its_reference_set_above_the_width(monkeypatch):
    """Axes fitted on training profiles would set the members (fitted: in their span) apart from the non-members
    by themselves; LOGAN's are fitted on the audit's reference set, the attacker's own real profiles."""
    from rnagen.metrics._context import EvalContext
    from rnagen.metrics.evaluate import prepare
    from rnagen.metrics.membership import _audit, _parts

    monkeypatch.setattr(_classifiers, "WIDE_GENES", G - 1)
    df = _run()
    rec = df.attrs["membership"]["logan_inputs"]
    (R, yr), (S, ys), (T, yt) = _sets()
    prep = prepare(R, S, T, real_labels=yr, synthetic_labels=ys, train_labels=yt, seed=0)
    ctx = EvalContext.build(prep, want=WANT, k=5, n_boot=20, n_boot_expensive=3, seed=0, classifier_seeds=(0,),
                            epochs=3)
    p = _parts(ctx)
    Rf = p["reference"]
    assert rec["fitted_on"] == f"{len(Rf)} membership-reference profiles"
    assert rec["components"] == len(Rf) - 1 and "LOGAN-D1 ran on" in rec["note"]
    a = _audit(p["members"], p["nonmembers"], ctx.synthetic, Rf, attacks=["logan"], seed=int(p["seed"]), epochs=3,
               logan_inputs=PrincipalInputs(Rf, source="membership-reference"))
    assert _overall(df).loc["mia_logan_auc", "value"] == pytest.approx(a.values["logan"]["auc"], abs=1e-12)


def test_pooled_network_over_the_most_variable_genes_above_the_width(monkeypatch):
    base = _overall(_run())
    monkeypatch.setattr(biology, "COEXPR_GENES", 20)
    df = _run()
    note = df.attrs["biology_coexpr"]["note"]
    assert "over the 20 genes most variable in the held-out set" in note and f"not all {G}" in note
    assert df.attrs["biology_coexpr"]["genes"] == 20
    wide = _overall(df)
    # the pooled rows are those of the 20 genes of largest held-out variance (log2 units) alone
    from rnagen.metrics.evaluate import prepare

    (R, yr), (S, ys), (T, yt) = _sets()
    prep = prepare(R, S, T, real_labels=yr, synthetic_labels=ys, train_labels=yt, seed=0)
    Rz, Sz = prep["real"], prep["synthetic"]
    var = Rz.var(0, dtype=np.float64) * np.square(prep["scale"])
    genes = np.sort(np.argsort(-var, kind="stable")[:20])
    want = coexpression_recovery(Rz[:, genes], [Sz[:, genes]], real_labels=yr, other_labels=[ys])[0]
    assert wide.loc["coexpr_corr", "value"] == pytest.approx(want["coexpr_corr"], rel=1e-6)
    assert wide.loc["coexpr_edge_f1", "value"] == pytest.approx(want["coexpr_edge_f1"], rel=1e-6)
    assert wide.loc["coexpr_corr", "value"] != pytest.approx(base.loc["coexpr_corr", "value"], rel=1e-6)
    # the classifiers stay on the genes: only the network's width moved
    assert "classifier_inputs" not in df.attrs
    assert wide.loc["detection_auc", "value"] == base.loc["detection_auc", "value"]


def test_rnagen_evaluate_says_and_records_what_ran_on_wide_data(monkeypatch, tmp_path, capsys):
    import json

    import anndata as ad
    import pandas as pd

    from rnagen.cli.main import main

    monkeypatch.setattr(_classifiers, "WIDE_GENES", G - 1)
    monkeypatch.setattr(biology, "COEXPR_GENES", 20)
    paths = []
    for name, (X, y) in zip(("real", "syn", "train"), _sets()):
        a = ad.AnnData(X=X, obs=pd.DataFrame({"label": y}, index=[f"{name}{i}" for i in range(len(X))]),
                       var=pd.DataFrame(index=[f"g{j}" for j in range(G)]))
        a.write_h5ad(tmp_path / f"{name}.h5ad")
        paths.append(str(tmp_path / f"{name}.h5ad"))
    out = tmp_path / "m.json"
    assert main(["evaluate", "--real", paths[0], "--synthetic", paths[1], "--train", paths[2], "--label-key", "label",
                 "--metrics", "detection_auc,coexpr_corr,mia_logan_auc", "--k", "3", "--n-boot", "20",
                 "--n-boot-expensive", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"note: {G} genes, more than {G - 1}: the classifiers" in printed
    assert f"note: membership audit: {G} genes, more than {G - 1}: LOGAN-D1 ran on" in printed
    assert "note: the pooled co-expression network is over the 20 genes most variable" in printed
    rec = json.loads(out.read_text())
    assert rec["classifier_inputs"]["components"] == G and rec["classifier_inputs"]["space"] == "pca"
    assert rec["biology_coexpr"]["genes"] == 20
    assert any(f"{G} genes, more than {G - 1}" in n for n in rec["notes"])
