"""The biology family: DE tests against scipy, analytic recovery cases, the stated power of a planted fold
change, blocked co-expression against a brute-force version, classifier concordance and gene sets."""
import numpy as np
import pytest
from scipy import optimize, stats

from rnagen.errors import ConfigError, DataError
from rnagen.metrics import METRICS, evaluate
from rnagen.metrics.biology import (
    SUMMARY,
    BiologyOptions,
    bh_fdr,
    classifier_concordance,
    coexpression_recovery,
    de_recovery,
    differential_expression,
    gene_set_index,
    gene_set_ks,
    read_gmt,
)

BIO = [m for m, i in METRICS.items() if i.family == "biology" and m != "geneset_ks"]


def _classes(rng, n_per=30, g=60, n_classes=3, shift=2.0, n_de=6):
    """Log-scale profiles of ``n_classes`` classes; class c has genes c*n_de..(c+1)*n_de-1 up by ``shift``
    (sd 1) and a within-class factor linking genes 40..49."""
    y = np.repeat([f"c{i}" for i in range(n_classes)], n_per)
    X = rng.normal(size=(len(y), g)) + 5.0
    f = rng.normal(size=(len(y), 1))
    X[:, 40:50] += 1.5 * f
    for i in range(n_classes):
        X[y == f"c{i}", i * n_de:(i + 1) * n_de] += shift
    return X, y


# ----------------------------------------------------------------------------------- tests vs scipy
def test_welch_and_mannwhitney_and_bh_match_scipy():
    rng = np.random.default_rng(1)
    X, y = _classes(rng, n_per=9, g=25)
    X[:, 3] = np.round(X[:, 3])  # ties for the U test
    X[:, 4] = 7.0                # a constant gene: no test, p = 1
    for test in ("welch", "mannwhitney"):
        de = differential_expression(X, y, test=test, min_lfc=0.0)
        for i, c in enumerate(de.classes):
            a, b = X[y == c], X[y != c]
            if test == "welch":
                exp = stats.ttest_ind(a, b, equal_var=False).pvalue
            else:
                exp = stats.mannwhitneyu(a, b, method="asymptotic", use_continuity=True).pvalue
            exp = np.where(np.isnan(exp), 1.0, exp)
            np.testing.assert_allclose(de.p[i], exp, rtol=1e-6, atol=1e-12)
            np.testing.assert_allclose(de.q[i], stats.false_discovery_control(exp), rtol=1e-6, atol=1e-12)
            np.testing.assert_allclose(de.lfc[i], a.mean(0) - b.mean(0), atol=1e-9)


def test_de_against_one_class_and_scale_matches_scipy():
    rng = np.random.default_rng(2)
    X, y = _classes(rng, n_per=8, g=12)
    scale = rng.uniform(0.5, 2.0, size=12)
    de = differential_expression(X / scale, y, classes=["c0"], versus="c2", scale=scale, min_lfc=0.0)
    a, b = X[y == "c0"], X[y == "c2"]
    np.testing.assert_allclose(de.p[0], stats.ttest_ind(a, b, equal_var=False).pvalue, rtol=1e-6)
    np.testing.assert_allclose(de.lfc[0], a.mean(0) - b.mean(0), atol=1e-9)


def test_bh_matches_scipy_on_ties_and_rows():
    p = np.array([[0.01, 0.04, 0.04, 0.5, 0.001, 1.0], [0.2, 0.2, 0.2, 0.01, 0.03, 0.9]])
    np.testing.assert_allclose(bh_fdr(p), stats.false_discovery_control(p, axis=-1))


# ----------------------------------------------------------------------------------- analytic cases
def test_synthetic_equal_to_real_recovers_every_de_gene_and_edge():
    rng = np.random.default_rng(3)
    X, y = _classes(rng)
    T, yt = _classes(np.random.default_rng(4))
    df = evaluate(X, X.copy(), train=T, real_labels=y, synthetic_labels=y, train_labels=yt, metrics=BIO,
                  n_boot=0, n_boot_expensive=0).set_index(["name", "group"])["value"]
    for m in ("de_precision_up", "de_recall_up", "de_precision_down", "de_recall_down", "de_f1",
              "de_lfc_spearman", "coexpr_edge_precision", "coexpr_edge_recall", "coexpr_edge_f1", "coexpr_corr",
              "concordance_jaccard", "concordance_spearman"):
        assert df[(m, "all")] == pytest.approx(1.0, abs=1e-5), m
    # every class has the 6 planted up genes (and the rest's mirror image is no down call: rest shifts by 1/3)
    de = differential_expression(X, y)
    assert de.up.sum() >= 18


def test_shuffled_labels_recover_almost_no_de_gene():
    rng = np.random.default_rng(5)
    X, y = _classes(rng)
    real = differential_expression(X, y)
    syn = differential_expression(X, rng.permutation(y))
    rec = de_recovery(real, syn)
    assert real.up.sum() >= 18
    assert rec["de_recall_up"] < 0.1
    assert 0.0 <= rec["de_f1"] < 0.1  # F1 from counts: defined (not NaN) even when one set has no call
    assert abs(rec["de_lfc_spearman"]) < 0.3


def _bh_power(*, n: int, delta: float, m: int, m1: int, alpha: float) -> float:
    """Expected share of the planted genes that Welch's test + BH at ``alpha`` finds (two groups of n, sd 1,
    m genes of which m1 shifted by delta), by the large-m fixed point of the BH cut-off u = alpha * R/m with
    R/m = pi0 u + pi1 power(u), power(u) = P(|T'| > t_{1-u/2}) for T' noncentral t (df 2n-2, noncentrality
    delta / sqrt(2/n))."""
    df, nc = 2 * n - 2, delta / np.sqrt(2.0 / n)
    pi1 = m1 / m

    def power(u):
        c = stats.t.isf(u / 2, df)
        return stats.nct.sf(c, df, nc) + stats.nct.cdf(-c, df, nc)

    u = optimize.brentq(lambda u: alpha * ((1 - pi1) * u + pi1 * power(u)) - u, 1e-12, alpha)
    return float(power(u))


def test_planted_fold_change_found_with_the_stated_power():
    n, delta, m, m1, alpha = 15, 1.2, 1000, 100, 0.05
    expected = _bh_power(n=n, delta=delta, m=m, m1=m1, alpha=alpha)
    assert 0.4 < expected < 0.8  # a case where power is neither trivial nor total
    rng = np.random.default_rng(6)
    y = np.repeat(["A", "B"], n)
    recalls, false = [], []
    for _ in range(30):  # the BH cut-off varies from draw to draw: average over draws
        X = rng.normal(size=(2 * n, m))
        X[:n, :m1] += delta
        de = differential_expression(X, y, classes=["A"], fdr=alpha, min_lfc=0.0)
        recalls.append(de.up[0, :m1].mean())
        false.append((de.up[0, m1:] | de.down[0, m1:]).sum() / max(1, (de.up[0] | de.down[0]).sum()))
    # the fixed point is a large-m limit (and Welch's df is near, not at, 2n - 2): 0.05 absolute tolerance
    assert np.mean(recalls) == pytest.approx(expected, abs=0.05)
    assert np.mean(false) < 2 * alpha  # BH keeps the false discovery proportion near alpha * pi0


# ----------------------------------------------------------------------------------- co-expression
def _brute_coexpr(A, B, thr):
    def corr(X):
        X = X - X.mean(0)
        nrm = np.linalg.norm(X, axis=0)
        Z = np.divide(X, nrm, out=np.zeros_like(X), where=nrm > 1e-9)
        return Z.T @ Z

    iu = np.triu_indices(A.shape[1], 1)
    ca, cb = corr(A)[iu], corr(B)[iu]
    ea, eb = np.abs(ca) > thr, np.abs(cb) > thr
    tp = (ea & eb).sum()
    return {"coexpr_edge_precision": tp / eb.sum(), "coexpr_edge_recall": tp / ea.sum(),
            "coexpr_corr": np.corrcoef(ca, cb)[0, 1]}


def test_blocked_coexpression_equals_brute_force():
    rng = np.random.default_rng(7)
    A, _ = _classes(rng, g=23)
    B, _ = _classes(np.random.default_rng(8), g=23)
    B[:, 5] = 3.0  # a constant gene: correlated with nothing
    exp = _brute_coexpr(A, B, 0.2)
    for block in (4, 7, 1024):
        got = coexpression_recovery(A, [B], threshold=0.2, block_genes=block)[0]
        for k, v in exp.items():
            assert got[k] == pytest.approx(v, abs=1e-5), (k, block)


def test_coexpression_within_class_and_destroyed_structure():
    rng = np.random.default_rng(9)
    X, y = _classes(rng)
    # genes permuted independently across profiles: no co-expression left
    P = np.stack([rng.permutation(col) for col in X.T], axis=1)
    same, gone = coexpression_recovery(X, [X.copy(), P], real_labels=y, other_labels=[y, y])
    assert same["coexpr_edge_recall"] == pytest.approx(1.0) and same["coexpr_edge_precision"] == pytest.approx(1.0)
    assert same["real_edges"] >= 45  # the 10-gene factor links every pair of its genes
    assert gone["coexpr_edge_recall"] < 0.1 and abs(gone["coexpr_corr"]) < 0.2


# ----------------------------------------------------------------------------------- concordance
@pytest.mark.parametrize("importance", ["coef", "permutation"])
def test_concordance_identical_sets_agree_and_noise_does_not(importance):
    rng = np.random.default_rng(10)
    X, y = _classes(rng, g=30, n_de=4)
    same = classifier_concordance(X, y, X.copy(), y, top_k=4, importance=importance)
    assert same["concordance_jaccard"] == pytest.approx(1.0)
    assert same["concordance_spearman"] == pytest.approx(1.0)
    noise = classifier_concordance(X, y, rng.normal(size=X.shape) + 5.0, y, top_k=4, importance=importance)
    assert noise["concordance_jaccard"] < 0.4
    # the planted genes of each class are its top genes on real data (by the drop of its own class's probability a
    # gene of another class can outrank one: c2's gene 9 also separates c1 from c2; whether it does depends on the
    # permutations drawn)
    top = set(same["per_class"]["c1"]["top_real"])
    if importance == "coef":
        assert top == {4, 5, 6, 7}
    else:
        assert len(top & {4, 5, 6, 7}) >= 3 and top <= set(range(12))


# ----------------------------------------------------------------------------------- gene sets
def test_gene_set_ks_zero_for_identical_and_large_for_shift():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(200, 10))
    sets = gene_set_index({"a": ["g0", "g1", "g2"], "b": ["G5", "g6", "nope"]}, [f"g{i}" for i in range(10)], 10)
    assert [list(v) for v in sets.values()] == [[0, 1, 2], [5, 6]]
    assert gene_set_ks(X, X.copy(), sets).tolist() == [0.0, 0.0]
    Y = X.copy()
    Y[:, 5:7] += 2.0
    ks = gene_set_ks(X, Y, sets)
    assert ks[0] == 0.0 and ks[1] > 0.8


def test_read_gmt_and_its_errors(tmp_path):
    good = tmp_path / "s.gmt"
    good.write_text("# comment\nSET1\tdesc\tTP53\tBRCA1\t\nSET2\thttp://x\tEGFR\tTP53\tTP53\n\n")
    assert read_gmt(good) == {"SET1": ["TP53", "BRCA1"], "SET2": ["EGFR", "TP53"]}
    cases = {"missing.gmt": None, "nogene.gmt": "SET1\tdesc\n", "dup.gmt": "A\td\tX\nA\td\tY\n", "empty.gmt": "\n",
             "bin.gmt": b"\xff\xfe\x00\xd8"}
    for name, text in cases.items():
        p = tmp_path / name
        if isinstance(text, bytes):
            p.write_bytes(text)
        elif text is not None:
            p.write_text(text)
        with pytest.raises(DataError) as e:
            read_gmt(p)
        assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="none of the 1 gene sets"):
        gene_set_index({"x": ["A", "B"]}, ["C", "D"], 2)


def test_evaluate_gene_sets_and_options(tmp_path):
    rng = np.random.default_rng(12)
    X, y = _classes(rng, g=20)
    gmt = tmp_path / "s.gmt"
    gmt.write_text("S1\td\t0\t1\t2\n")  # integer names: indices for array inputs come from a mapping
    sets = {"S1": [0, 1, 2], "S2": [10, 11]}
    T, yt = _classes(np.random.default_rng(13), g=20)   # the training set: other profiles than the held-out ones
    df = evaluate(X, X + 0.0, train=T, real_labels=y, synthetic_labels=y, train_labels=yt, gene_sets=sets,
                  metrics=["geneset_ks"], n_boot=0, n_boot_expensive=0)
    assert df["value"].tolist() == [0.0] and df.attrs["geneset_ks"]["n_sets"] == 2
    with pytest.raises(DataError, match="need gene names"):
        evaluate(X, X, real_labels=y, synthetic_labels=y, gene_sets=gmt, metrics=["geneset_ks"])
    with pytest.raises(DataError, match=r"needs gene sets \(--gene-sets FILE.gmt\)"):
        evaluate(X, X, real_labels=y, synthetic_labels=y, metrics=["geneset_ks"])
    with pytest.raises(ConfigError, match="unknown biology option"):
        BiologyOptions.from_any({"fdr": 0.1, "nope": 1})
    with pytest.raises(ConfigError, match="de_test"):
        BiologyOptions.from_any({"de_test": "deseq"})


def test_de_pair_rows_and_summary_registered():
    rng = np.random.default_rng(13)
    X, y = _classes(rng)
    df = evaluate(X, X.copy(), real_labels=y, synthetic_labels=y, metrics=["de_f1"], n_boot=0,
                  n_boot_expensive=0, biology={"de_pair": ("c0", "c1")})
    row = df[df["group"] == "c0 vs c1"]
    assert row["value"].tolist() == [1.0]
    assert all(METRICS[m].family == "biology" for m in SUMMARY)


def test_a_class_named_as_the_de_pair_is_scored_like_any_class():
    """A class named as the DE pair's rows ('c0 vs c1' beside the pair c0, c1) is scored like any class: its
    per-class rows keep its name and the numbers it has under another name ('c2'); the pair's rows take the group
    'c0 vs c1 (pair)' (' (pair)' again where that is a class too) with the pair's numbers; the rows of the other
    classes and the overall rows are those of the data without such a name."""
    rng = np.random.default_rng(13)
    X, y = _classes(rng)
    S = X + rng.normal(scale=2.0, size=X.shape)   # a synthetic set that recovers part of the DE calls
    kw = dict(metrics=["de_f1", "de_recall_up", "coexpr_edge_f1", "concordance_jaccard"], n_boot=0,
              n_boot_expensive=0, biology={"de_pair": ("c0", "c1"), "coexpr_min_class": 5})
    plain = evaluate(X, S, real_labels=y, synthetic_labels=y, **kw)
    named = np.where(y == "c2", "c0 vs c1", y)
    df = evaluate(X, S, real_labels=named, synthetic_labels=named, **kw)
    pair = plain[plain["group"] == "c0 vs c1"]
    assert len(pair) == 2 and set(pair["name"]) == {"de_f1", "de_recall_up"}
    assert float(pair.loc[pair["name"] == "de_f1", "value"].iloc[0]) == pytest.approx(20 / 23)
    # every row of the renamed data is the plain data's row of the same indicator and group, the class c2's rows
    # under 'c0 vs c1' and the pair's under 'c0 vs c1 (pair)'; nothing else differs
    rename = {"c2": "c0 vs c1", "c0 vs c1": "c0 vs c1 (pair)"}
    expected = plain.assign(group=plain["group"].map(lambda g: rename.get(g, g)))
    assert sorted(df["group"].unique()) == sorted(expected["group"].unique())
    assert {"c0 vs c1", "c0 vs c1 (pair)"} <= set(df["group"])
    key = ["name", "group"]
    assert not df.duplicated(key).any()
    merged = df.merge(expected, on=key, suffixes=("", "_plain"), validate="one_to_one")
    assert len(merged) == len(df) == len(plain)
    np.testing.assert_array_equal(merged["value"].to_numpy(), merged["value_plain"].to_numpy())
    assert len(df[df["group"] == "c0 vs c1"]) == len(plain[plain["group"] == "c2"]) >= 3   # DE, co-expr., conc.
    from rnagen.metrics.biology import pair_group

    assert pair_group("c0", "c1", [np.array(["c0", "c1"])]) == "c0 vs c1"
    assert pair_group("c0", "c1", [np.array(["c0", "c0 vs c1"]), np.array(["c0 vs c1 (pair)"])]) == \
        "c0 vs c1 (pair) (pair)"


def test_cli_gene_sets_scores_and_bad_gmt_is_one_line_exit_2(tmp_path, capsys):
    import json

    import anndata as ad
    import pandas as pd

    from rnagen._io import write_h5ad
    from rnagen.cli.main import main

    genes = [f"G{i}" for i in range(20)]
    for name, seed, shift in (("test", 1, 0.0), ("syn", 2, 3.0)):
        X, y = _classes(np.random.default_rng(seed), n_per=10, g=20)
        X[:, 10:14] += shift  # the synthetic set moves set S2's genes
        a = ad.AnnData(X=X.astype(np.float32), obs=pd.DataFrame({"t": pd.Categorical(y)},
                                                                 index=[f"{name}{i}" for i in range(len(y))]),
                       var=pd.DataFrame(index=genes))
        write_h5ad(a, tmp_path / f"{name}.h5ad")
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("S1\tx\tG0\tG1\tG2\nS2\tx\tg10\tG11\tG12\tG13\n")
    out = tmp_path / "m.json"
    base = ["evaluate", "--real", str(tmp_path / "test.h5ad"), "--synthetic", str(tmp_path / "syn.h5ad"),
            "--label-key", "t", "--metrics", "geneset_ks,de_f1", "--out", str(out)]
    assert main(base + ["--gene-sets", str(gmt), "--biology", "de_test=mannwhitney", "--biology", "min_lfc=0.5"]) == 0
    js = json.loads(out.read_text())
    assert js["settings"]["biology"]["de_test"] == "mannwhitney" and js["settings"]["biology"]["min_lfc"] == 0.5
    per_set = js["geneset_ks"]["per_set"]
    assert per_set["S2"] == 1.0 and per_set["S1"] < 0.3
    capsys.readouterr()
    bad = tmp_path / "bad.gmt"
    bad.write_text("S1\tonly a description\n")
    out.unlink()
    assert main(base + ["--gene-sets", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnagen: error:") and "bad.gmt line 1" in err and "\n" not in err
    assert not out.exists()
    for item, msg in (("nope=1", "unknown biology option"), ("fdr=x", "not a valid value of fdr"),
                      ("de_test", "KEY=VALUE")):
        assert main(base + ["--biology", item]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and "\n" not in err


def test_per_class_coexpression_rows_use_the_most_variable_genes():
    X, y = _classes(np.random.default_rng(15))
    S, ys = _classes(np.random.default_rng(16))
    X[:, 40:50] *= 3.0  # the factor genes: the most variable in log2 units
    S[:, 40:50] *= 3.0
    T, yt = _classes(np.random.default_rng(17))   # the training set: other profiles than the held-out ones
    T[:, 40:50] *= 3.0
    df = evaluate(X, S, train=T, real_labels=y, synthetic_labels=ys, train_labels=yt, metrics=["coexpr_edge_f1"],
                  n_boot=0, n_boot_expensive=0, biology={"coexpr_class_genes": 10})
    got = df[df["group"] != "all"].set_index("group")["value"]
    assert list(got.index) == ["c0", "c1", "c2"]
    for c in got.index:
        exp = coexpression_recovery(X[y == c][:, 40:50], [S[ys == c][:, 40:50]])[0]["coexpr_edge_f1"]
        assert got[c] == pytest.approx(exp, abs=1e-6)
    assert got.min() > 0.8  # the factor's edges are in both sets


# ----------------------------------------------------------------------------------- DESeq2 on raw counts
def _nb_counts(rng, n_per=12, g=30, fold=4.0, n_de=5):
    """Negative-binomial counts (mean 200, dispersion 0.05) of 2 classes; class c0 has genes 0..n_de-1 up by
    ``fold`` and genes n_de..2 n_de-1 down by ``fold``; every profile has its own library size."""
    y = np.repeat(["c0", "c1"], n_per)
    mu = np.full((len(y), g), 200.0)
    mu[y == "c0", :n_de] *= fold
    mu[y == "c0", n_de:2 * n_de] /= fold
    mu *= rng.uniform(0.7, 1.4, size=(len(y), 1))
    disp = 0.05
    return rng.negative_binomial(1 / disp, 1 / (1 + disp * mu)).astype(float), y


def test_deseq2_finds_a_planted_fold_change_with_its_sign_and_size():
    pytest.importorskip("pydeseq2")
    from rnagen.metrics.biology import deseq2_de

    rng = np.random.default_rng(5)
    C, y = _nb_counts(rng)
    de = deseq2_de(C, y, classes=["c0"], fdr=0.05, min_lfc=1.0)
    assert de.classes == ("c0",)
    assert de.up[0, :5].all() and de.down[0, 5:10].all()          # every planted gene, in its direction
    assert not (de.up[0, 10:] | de.down[0, 10:]).any()            # no null gene called
    np.testing.assert_allclose(de.lfc[0, :5], 2.0, atol=0.35)     # log2(4), library sizes normalised away
    np.testing.assert_allclose(de.lfc[0, 5:10], -2.0, atol=0.35)
    # the comparison with one other class equals class vs rest when there are two classes
    de_vs = deseq2_de(C, y, classes=["c0"], versus="c1")
    np.testing.assert_allclose(de_vs.lfc, de.lfc, atol=1e-6)
    with pytest.raises(DataError, match="non-negative"):
        deseq2_de(-C, y)


def test_evaluate_deseq2_on_counts_and_its_errors(monkeypatch):
    pytest.importorskip("pydeseq2")
    rng = np.random.default_rng(6)
    C, y = _nb_counts(rng, n_per=10, g=20)
    T, yt = _nb_counts(rng, n_per=10, g=20)
    names = ["de_f1", "de_recall_up", "de_recall_down"]
    df = evaluate(C, C, train=T, real_labels=y, synthetic_labels=y, train_labels=yt, metrics=names, n_boot=0,
                  biology={"de_test": "deseq2"})
    v = df[df["group"] == "all"].set_index("name")
    assert (v.loc[names, "value"] == 1.0).all()                 # the real set itself recovers every DE gene
    assert v.loc["de_f1", "reference"] > 0.8                    # another real draw: most of them
    shuffled = evaluate(C, C, train=T, real_labels=y, synthetic_labels=rng.permutation(y), train_labels=yt,
                        metrics=["de_f1"], n_boot=0, biology={"de_test": "deseq2"})
    assert shuffled[shuffled["group"] == "all"].set_index("name").loc["de_f1", "value"] < 0.5
    with pytest.raises(DataError, match="needs raw counts"):    # a log-scale synthetic set has no counts
        evaluate(C, np.log2(C + 1) - 5, train=T, real_labels=y, synthetic_labels=y, train_labels=yt,
                 metrics=["de_f1"], n_boot=0, biology={"de_test": "deseq2"})
    monkeypatch.setitem(__import__("sys").modules, "pydeseq2.dds", None)  # pydeseq2 not installed
    with pytest.raises(ConfigError, match=r"pip install 'rnagen\[deseq2\]'"):
        evaluate(C, C, train=T, real_labels=y, synthetic_labels=y, train_labels=yt, metrics=["de_f1"],
                 n_boot=0, biology={"de_test": "deseq2"})
    assert BiologyOptions.from_strings(["de_test=deseq2"]).de_test == "deseq2"


def test_gene_sets_named_by_another_id_type_are_matched_and_dropped_sets_named():
    """A GMT of symbols against data named by Entrez IDs (the bundled GTEx subset) is matched through the gene
    tables, as the data sets' own genes are; a set left out is said in a note (it vanished from the mean)."""
    from rnagen import datasets

    a = datasets.gtex26()[:60, :80].copy()
    sym = [s for s in a.var["symbol"].astype(str) if s][:6]
    ent = [str(v) for v in a.var_names[20:26]]
    idx = gene_set_index({"symbols": sym, "entrez": ent}, [str(v) for v in a.var_names], a.n_vars)
    assert len(idx["symbols"]) == 6 and len(idx["entrez"]) == 6
    sets = {"symbols": sym, "entrez": ent, "absent": ["NOT_A_GENE1", "NOT_A_GENE2"]}
    df = evaluate(a[:20].copy(), a[20:40].copy(), train=a[40:].copy(), metrics=["geneset_ks"], n_boot=0,
                  n_boot_expensive=0, gene_sets=sets)
    assert df.attrs["geneset_ks"]["n_sets"] == 2
    assert df.attrs["geneset_note"].startswith("1 of the 3 gene sets left out") and "'absent'" in df.attrs[
        "geneset_note"]


def test_a_gene_set_member_two_columns_answer_to_is_refused():
    """Data holding two versions of a gene's Ensembl ID (two GENCODE releases merged) and a GMT naming the gene by
    its symbol: the set took the first column silently; now refused naming both columns. Names of no gene ID type
    still match exactly only."""
    genes = ["ENSG00000141510.16", "ENSG00000141510.17", "ENSG00000111640.14", "ENSG00000146648.15"]
    with pytest.raises(DataError, match=r"'TP53' matches 2 versions of one Ensembl id in the data \(gene sets\) "
                                        r"\('ENSG00000141510.16' and 'ENSG00000141510.17'\)"):
        gene_set_index({"s": ["TP53", "GAPDH"]}, genes, 4)
    idx = gene_set_index({"s": ["GAPDH", "EGFR", "gene_x"]}, genes, 4)
    assert idx["s"].tolist() == [2, 3]
    assert gene_set_index({"s": ["gene_x", "gene_y"]}, ["gene_x", "gene_y", "z"], 3)["s"].tolist() == [0, 1]


def test_the_de_gene_count_counts_each_gene_once():
    """Two classes: a gene up in one is down in the other; the count of real DE genes is of distinct genes, the
    calls per class and gene apart (it counted each gene twice)."""
    rng = np.random.default_rng(8)
    y = np.repeat(["a", "b"], 40)
    X = rng.normal(5.0, 1.0, (80, 30)).astype(np.float32)
    X[y == "a", :6] += 3.0
    df = evaluate(X, X.copy(), real_labels=y, synthetic_labels=y, metrics=["de_f1"], n_boot=0, n_boot_expensive=0)
    de = differential_expression(X, y)
    rec = df.attrs["biology_de"]
    assert rec["real_de_genes"] == int((de.up | de.down).any(axis=0).sum()) == 6
    assert rec["real_de_calls"] == 12


def test_a_synthetic_set_of_one_class_says_why_de_and_concordance_are_not_reported(tmp_path, capsys):
    """One class has no rest to be compared with: the DE and concordance rows were NaN with nothing said."""
    import anndata as ad
    import pandas as pd

    from rnagen.cli.main import main

    rng = np.random.default_rng(9)
    X, y = _classes(rng)
    one = y == "c0"
    df = evaluate(X, X[one], real_labels=y, synthetic_labels=y[one], metrics=["de_f1", "concordance_jaccard"],
                  n_boot=0, n_boot_expensive=0)
    assert df.set_index("name")["value"].isna().all()
    for key, what in (("biology_de", "differential expression"), ("biology_concordance", "top-gene concordance")):
        assert "needs two classes or more in the held-out and the synthetic set (the held-out set has 3, the " \
               "synthetic set 1)" in df.attrs[key]["note"] and what in df.attrs[key]["note"]
    for name, Z, lab in (("real", X, y), ("syn", X[one] + rng.normal(0, 0.3, X[one].shape), y[one])):
        ad.AnnData(np.exp2(Z).astype(np.float32), obs=pd.DataFrame({"k": lab})).write_h5ad(tmp_path / f"{name}.h5ad")
    capsys.readouterr()
    assert main(["evaluate", "--real", str(tmp_path / "real.h5ad"), "--synthetic", str(tmp_path / "syn.h5ad"),
                 "--label-key", "k", "--metrics", "de_f1", "--n-boot", "2"]) == 0
    assert "note: differential expression (each class against the rest) needs two classes" in capsys.readouterr().out
