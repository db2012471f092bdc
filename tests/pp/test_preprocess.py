"""AnnData-level preprocessing: log, gene selection, class filtering, splits, scalers, label checks."""
from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen import datasets
from rnagen.errors import DataError
from rnagen.pp import (
    check_labels,
    class_counts,
    complete_missing,
    filter_classes,
    fit_scaler,
    get_history,
    get_scaler,
    log2p1,
    log_state,
    looks_like_counts,
    normalize_depth,
    select_genes,
    set_log_state,
    split,
)


def _adata(X, genes, labels=None):
    a = ad.AnnData(X=np.asarray(X, dtype=np.float32), obs=pd.DataFrame(index=[f"s{i}" for i in range(len(X))]),
                   var=pd.DataFrame(index=list(genes)))
    if labels is not None:
        a.obs["y"] = pd.Categorical(labels)
    return a


def test_normalize_depth_cpm_and_median_ratio():
    """CPM divides by the library; DESeq2's median-of-ratios (Anders & Huber 2010, eq. 5) by the median ratio to
    the genes' geometric means, so one gene taking most of a sample's reads does not shrink its other genes."""
    rng = np.random.default_rng(0)
    base = rng.integers(5, 500, size=200).astype(float)
    depth = np.array([1.0, 3.0, 0.5])
    X = np.vstack([base * d for d in depth])
    a = normalize_depth(_adata(X, [f"g{i}" for i in range(200)]), "cpm")
    np.testing.assert_allclose(a.X, X / X.sum(axis=1, keepdims=True) * 1e6, rtol=1e-6)
    np.testing.assert_allclose(a.obs["size_factor"], X.sum(axis=1) / 1e6)
    b = normalize_depth(_adata(X, [f"g{i}" for i in range(200)]), "median-ratio")
    np.testing.assert_allclose(b.obs["size_factor"], depth / np.exp(np.log(depth).mean()), rtol=1e-12)
    np.testing.assert_allclose(b.X[0], b.X[1], rtol=1e-5)  # depth removed
    h = get_history(b)[-1]
    assert h["step"] == "normalize_depth" and h["method"] == "median-ratio" and h["n_genes_used"] == 200
    # composition: gene 0 takes most of sample 1's reads
    Y = X[:2].copy()
    Y[1, 0] *= 2000
    c = normalize_depth(_adata(Y, [f"g{i}" for i in range(200)]), "cpm")
    m = normalize_depth(_adata(Y, [f"g{i}" for i in range(200)]), "median-ratio")
    assert np.median(c.X[1, 1:] / c.X[0, 1:]) < 0.5  # CPM shrinks the other genes of that sample
    np.testing.assert_allclose(m.X[1, 1:] / m.X[0, 1:], 1.0, rtol=1e-5)  # median-ratio does not
    # brute force of eq. 5 on noisy counts with a zero, which leaves its gene out
    Z = rng.poisson(np.outer(depth, base)).astype(float)
    Z[2, 7] = 0
    used = [g for g in range(200) if (Z[:, g] > 0).all()]
    gm = [np.exp(np.mean(np.log(Z[:, g]))) for g in used]
    want = [np.median([Z[j, g] / m_ for g, m_ in zip(used, gm)]) for j in range(3)]
    d = normalize_depth(_adata(Z, [f"g{i}" for i in range(200)]), "median-ratio")
    np.testing.assert_allclose(d.obs["size_factor"], want, rtol=1e-9)
    assert get_history(d)[-1]["n_genes_used"] == 199


def test_normalize_depth_tpm():
    """TPM (Wagner et al. 2012): counts per kb of gene length, scaled to a million per sample."""
    X = np.array([[100.0, 400.0, 50.0], [300.0, 300.0, 900.0]])
    a = _adata(X, ["a", "b", "c"])
    a.var["length"] = [1000, 4000, 500]
    normalize_depth(a, "tpm")
    rate = X / np.array([1.0, 4.0, 0.5])
    np.testing.assert_allclose(a.X, rate / rate.sum(axis=1, keepdims=True) * 1e6, rtol=1e-6)
    np.testing.assert_allclose(a.X.sum(axis=1), 1e6, rtol=1e-6)
    assert get_history(a)[-1]["method"] == "tpm"
    with pytest.raises(DataError, match="needs each gene's length"):
        normalize_depth(_adata(X, ["a", "b", "c"]), "tpm")
    from rnagen.data import map_features

    m = _adata(X, ["t1", "t2", "t3"])
    m.var["length"] = [1000, 4000, 500]
    summed = map_features(m, {"t1": "a", "t2": "a", "t3": "c"}, duplicates="sum")
    with pytest.raises(DataError, match="needs each gene's length"):  # a sum of transcripts has no one length
        normalize_depth(summed, "tpm")
    b = _adata(X, ["a", "b", "c"])
    b.var["length"] = [1000, 0, 500]
    with pytest.raises(DataError, match="gene 'b' has '0'"):
        normalize_depth(b, "tpm")


@pytest.mark.parametrize("step", ["cpm", "tpm", "log2p1"])
def test_depth_and_log_steps_hold_no_float64_copy_of_the_matrix(step, monkeypatch):
    """CPM, TPM and log2(x + 1) are computed a block of rows at a time: the whole-matrix float64 arithmetic held
    several copies of the matrix at twice its float32 size at once (the peak of rnagen data prepare on a wide
    matrix); the values are those of the whole-matrix arithmetic (one block), which missing values and
    median-ratio still take."""
    import tracemalloc

    from rnagen.pp import history

    rng = np.random.default_rng(0)
    X = rng.negative_binomial(3, 0.01, size=(1000, 2000)).astype(np.float32) + 1
    length = rng.integers(200, 5000, 2000)

    def run():
        a = ad.AnnData(X.copy(), var=pd.DataFrame({"length": length}, index=[f"g{j}" for j in range(2000)]))
        tracemalloc.start()
        if step == "log2p1":
            log2p1(a)
        else:
            normalize_depth(a, step)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return np.asarray(a.X), peak

    monkeypatch.setattr(history, "_BLOCK_VALUES", 1 << 16)   # the blocks of the steps and of the scale test
    blocked, peak = run()
    assert peak < 1.5 * X.nbytes, (peak, X.nbytes)   # the float32 result and a block, no float64 matrix
    monkeypatch.setattr(history, "_BLOCK_VALUES", X.size)   # the whole matrix as one block
    whole, _ = run()
    np.testing.assert_array_equal(blocked, whole)
    x = X.astype(np.float64)
    expected = (np.log2(x + 1.0) if step == "log2p1" else
                (x / (length / 1e3) if step == "tpm" else x))
    if step != "log2p1":
        expected = expected / expected.sum(axis=1, keepdims=True) * 1e6
    np.testing.assert_allclose(blocked, expected, rtol=1e-6)


def test_normalize_depth_refusals():
    genes = ["a", "b", "c"]
    with pytest.raises(DataError, match="values are on a log scale already"):
        normalize_depth(_adata([[1.5, 2.0, 3.0], [2.5, 1.0, 4.0]], genes))
    logged = _adata([[100, 200, 300], [250, 100, 400]], genes)
    set_log_state(logged, logged=True, transform="log2(x+1)")
    with pytest.raises(DataError, match="log scale already"):
        normalize_depth(logged)
    with pytest.raises(DataError, match="2 values are negative"):
        normalize_depth(_adata([[-100, 200, 300], [250, -1, 400]], genes))
    with pytest.raises(DataError, match="sample 's1' has no counts"):
        normalize_depth(_adata([[100, 200, 300], [0, 0, 0]], genes))
    with pytest.raises(DataError, match="needs genes counted in every sample and none is; use --normalize cpm"):
        normalize_depth(_adata([[100, 0, 300], [0, 50, 0]], genes), "median-ratio")
    with pytest.raises(DataError, match="unknown depth normalisation 'tmm'"):
        normalize_depth(_adata([[100, 200, 300], [250, 100, 400]], genes), "tmm")  # type: ignore[arg-type]
    # values all in [0, 1) read as log values by the scale rule are shares of reads: normalised, not refused
    shares = _adata([[0.0002, 0.0003, 0.0005], [0.0001, 0.0004, 0.0005]], genes)
    normalize_depth(shares, "cpm")
    np.testing.assert_allclose(shares.X.sum(axis=1), 1e6)
    with pytest.raises(DataError, match="log scale already"):
        normalize_depth(_adata([[0.2, 0.3, 1.5], [0.1, 0.4, 0.5]], genes))   # a value of 1 or more: log values
    assert looks_like_counts(np.array([[0, 31, 2], [5, 6, 1000]]))
    assert not looks_like_counts(np.array([[0, 31.5, 2], [5, 6, 1000]]))  # TPM-like fractions
    assert not looks_like_counts(np.array([[0, 3, 2], [5, 6, 10]]))  # within a log scale
    assert not looks_like_counts(np.array([[-1, 31, 2], [5, 6, 1000]]))


def test_looks_like_counts_reads_the_matrix_a_block_at_a_time(monkeypatch):
    """The counts test (run by data info and prepare on every value) reads a block of rows at a time: it holds less
    than half the matrix beside it (a GTEx-sized matrix is 3.8 GB); missing values are left out."""
    import tracemalloc

    from rnagen.pp import history

    monkeypatch.setattr(history, "_BLOCK_VALUES", 1 << 14)
    X = np.random.default_rng(0).negative_binomial(3, 0.01, size=(1000, 4000)).astype(np.float32)
    X[3, 5] = np.nan
    tracemalloc.start()
    counts = looks_like_counts(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert counts and peak < 0.5 * X.nbytes, (peak, X.nbytes)
    assert not looks_like_counts(X + 0.5) and not looks_like_counts(np.full((3, 3), np.nan))


def test_log2p1_values_and_history():
    a = _adata([[0, 1, 3], [7, 15, 255]], ["TP53", "EGFR", "MYC"])
    log2p1(a)
    np.testing.assert_array_equal(a.X, [[0, 1, 2], [3, 4, 8]])
    assert log_state(a)["logged"] and log_state(a)["transform"] == "log2(x+1)"
    assert get_history(a)[-1] == {"step": "log2p1", "applied": True, "pseudocount": 1.0}
    log2p1(a)  # recorded state: not logged twice
    np.testing.assert_array_equal(a.X, [[0, 1, 2], [3, 4, 8]])
    assert get_history(a)[-1]["applied"] is False


def test_log2p1_recognises_xena_log2_tpm_0001():
    tpm = np.array([[0.0, 5.0, 1000.0], [12.0, 0.5, 40.0]])
    a = _adata(np.log2(tpm + 0.001), ["TP53", "EGFR", "MYC"])
    before = a.X.copy()
    log2p1(a)  # min log2(0.001) = -9.97: looks logged, left alone
    np.testing.assert_array_equal(a.X, before)
    assert log_state(a)["logged"] and "detected" in log_state(a)["transform"]
    b = _adata(np.log2(tpm + 0.001), ["TP53", "EGFR", "MYC"])
    set_log_state(b, logged=True, transform="log2(TPM+0.001)", pseudocount=0.001)
    log2p1(b)
    np.testing.assert_array_equal(b.X, before)
    with pytest.raises(DataError, match="negative"):
        log2p1(b, force=True)


def test_log2p1_sets_aside_a_scanpy_record_whose_base_is_below_one():
    """An in-memory AnnData whose uns['log1p'] gives a base between 0 and 1 (log_0.5(x+1) of a count is at or below
    0, while these values are log-range and positive): the record is not taken as the log state (log_0.5), it is
    set aside with the one-line warning of a contradicted record, and the values' range decides (log scale of
    unknown base, left as they are). set_log_state refuses such a base."""
    import math
    import warnings

    from rnagen.pp import set_log_state

    x = np.log1p(np.array([[0.0, 1.0, 3.0], [7.0, 15.0, 1e4]]))
    a = _adata(x, ["TP53", "EGFR", "MYC"])
    a.uns["log1p"] = {"base": 0.5}
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        log2p1(a)
    msgs = [str(m.message) for m in w if "log1p" in str(m.message)]
    assert msgs == ["the data: uns['log1p'] says X was log-transformed (scanpy's sc.pp.log1p) but its base 0.5 is no "
                    "base of log_b(x+1) of expression (a finite number above 1; scanpy writes {'base': None} for the "
                    "natural log): the record is set aside and the values' range decides the scale; delete "
                    "uns['log1p'] from the file if it is stale"]
    assert "log1p" not in a.uns
    assert log_state(a)["transform"] == "unknown log scale (detected: values within [-10.5, 30])"
    np.testing.assert_array_equal(a.X, x.astype(np.float32))
    for base in (0.5, 1.0, 0.0, -2.0, math.inf, math.nan):
        with pytest.raises(DataError, match=r"^set_log_state: base must be the logarithm's base, a finite number "
                                            r"above 1"):
            set_log_state(a, logged=True, transform="log(x+1)", pseudocount=1.0, base=base)


def test_log2p1_converts_scanpys_natural_log1p_to_log2_exactly():
    """X = ln(x+1) (scanpy's sc.pp.log1p, uns['log1p'] = {'base': None}) is made log2(x+1) = ln(x+1) * log2(e),
    not logged again (log2(ln(x+1)+1)) nor kept as if it were log2; so is a base-10 record of rnagen's own. The
    result is recorded as log2(x+1) (base 2, the conversion in the history) and scanpy's record follows
    ({'base': 2.0}). A log2(x+1) record is left as it is; Xena's log2(TPM+0.001) (another pseudocount) too, and
    scanpy's log1p record, which does not describe it, is removed."""
    import math

    x = np.array([[0.0, 1.0, 3.0], [7.0, 15.0, 1e4]])
    a = _adata(np.log1p(x), ["TP53", "EGFR", "MYC"])
    a.uns["log1p"] = {"base": None}
    log2p1(a)
    np.testing.assert_allclose(a.X, np.log2(x + 1), rtol=1e-6, atol=1e-6)
    st = log_state(a)
    assert st["transform"] == "log2(x+1)" and st["base"] == 2.0 and st["pseudocount"] == 1.0
    assert get_history(a)[-1] == {"step": "log2p1", "applied": True, "pseudocount": 1.0,
                                  "converted_from": "ln(x+1) (scanpy's sc.pp.log1p, uns['log1p'])"}
    assert a.uns["log1p"] == {"base": 2.0}
    log2p1(a)   # log2(x+1) already: left as it is
    np.testing.assert_allclose(a.X, np.log2(x + 1), rtol=1e-6, atol=1e-6)
    assert get_history(a)[-1]["applied"] is False
    b = _adata(np.log10(x + 1), ["TP53", "EGFR", "MYC"])
    set_log_state(b, logged=True, transform="log10(x+1)", pseudocount=1.0, base=10.0)
    assert b.uns["log1p"] == {"base": 10.0}
    log2p1(b)
    np.testing.assert_allclose(b.X, np.log2(x + 1), rtol=1e-6, atol=1e-6)
    c = _adata(np.log2(x + 0.001), ["TP53", "EGFR", "MYC"])
    c.uns["log1p"] = {"base": None}
    set_log_state(c, logged=True, transform="log2(TPM+0.001)", pseudocount=0.001, base=2.0)
    assert "log1p" not in c.uns
    log2p1(c)
    np.testing.assert_array_equal(c.X, np.log2(x + 0.001).astype(np.float32))
    assert math.isclose(log_state(c)["pseudocount"], 0.001)


def test_whole_numbers_are_counts_however_low():
    """Read counts of a shallow library (all below 30) are counts, not log values: logged by log2p1."""
    from rnagen.pp import looks_logged

    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, size=(40, 60)).astype(np.float32)
    assert counts.max() <= 30 and not looks_logged(counts)
    assert looks_logged(counts + 0.5)   # the same range, not whole numbers: a log scale
    a = _adata(counts, [f"g{i}" for i in range(60)])
    log2p1(a)
    np.testing.assert_allclose(a.X, np.log2(counts + 1), rtol=1e-6)


def test_a_few_values_above_the_log_range_leave_the_scale_undecided():
    """Log values with a few outlying cells (or a numeric annotation column, an age) above 30: the log test on
    the maximum would log the whole matrix twice; it is an error naming them, where they are and the way to
    state the scale. Linear values (many above 30) stay linear; data info reports it without failing."""
    from rnagen.pp import looks_logged

    rng = np.random.default_rng(1)
    X = rng.uniform(0, 14, size=(100, 50)).astype(np.float32)
    genes = [f"g{i}" for i in range(50)]
    cells = X.copy()
    cells[[3, 7], 5] = [35.0, 41.0]
    a = _adata(cells, genes)
    with pytest.raises(DataError, match=r"2 of them \(0.04%\) lie above 30, .*\(max 41\); all in 'g5'.*--log none"):
        log2p1(a)
    assert log_state(a) is None and np.array_equal(a.X, cells)   # nothing changed
    age = X.copy()
    age[:, 0] = rng.integers(20, 80, size=100)
    with pytest.raises(DataError, match=r"all in 'g0': if that is not expression \(an age"):
        looks_logged(age, names=([f"s{i}" for i in range(100)], genes))
    spread = X.copy()
    spread[rng.random(X.shape) < 0.01] = 50.0
    spread[rng.random(X.shape) < 0.2] = 500.0   # a fifth of the values above 30: a linear scale
    assert not looks_logged(spread)
    assert not looks_logged(cells, strict=False)


def test_a_profile_far_above_the_log_values_of_the_others_leaves_the_scale_undecided():
    """Log values of 60 profiles beside one left on the linear scale (a thousandfold the others): its values are
    more than 1% of the matrix, yet no linear matrix passes the log range in a single sample. Taking the whole
    matrix as linear would log the log values again; it is an error naming the sample. A linear matrix (values
    above the range in most samples) stays linear."""
    from rnagen.pp import looks_logged

    rng = np.random.default_rng(2)
    X = rng.uniform(0, 14, size=(60, 30))
    X[7] *= 1000.0
    names = ([f"s{i}" for i in range(60)], [f"g{j}" for j in range(30)])
    with pytest.raises(DataError, match=r"lie above 30, .*; all in sample 's7': a profile on another scale than the "
                                        r"others .*--log none"):
        looks_logged(X, names=names)
    a = _adata(X.astype(np.float32), names[1])
    with pytest.raises(DataError, match=r"all in sample 's7'"):
        log2p1(a)
    assert not looks_logged(2.0 ** rng.uniform(0, 14, size=(60, 30)))


def test_log2p1_refuses_negative_values():
    a = _adata([[-50.0, 100.0], [3.0, 4.0]], ["TP53", "EGFR"])  # not log-like (min < -10.5): must refuse
    with pytest.raises(DataError, match=r"needs non-negative values but found 1 negative .*sample 's0', gene 'TP53'"):
        log2p1(a)


def test_select_landmarks_any_id_type():
    lm = datasets.landmarks()
    rng = np.random.default_rng(0)
    u = datasets.gene_universe()
    tg = u[u["type"] == "target"].head(30)
    for col, tcol in (("symbol", "symbol"), ("entrez_id", "entrez_id"), ("ensembl_id_versioned_gtex_v8", None)):
        lmids = lm[col].dropna().head(25).tolist()[::-1]
        others = tg[tcol].tolist() if tcol else [f"{e}.3" for e in tg["ensembl_id"]]
        ids = others[:10] + lmids + others[10:]
        a = _adata(rng.random((4, len(ids))), ids)
        s = select_genes(a, "landmarks", min_landmark_fraction=0.0)
        # landmark-table order, whatever the input order
        assert list(s.var_names) == lmids[::-1], col
        info = s.uns["rnagen"]["genes"]
        assert info["n_selected"] == 25 and len(info["missing"]) == 978 - 25
        np.testing.assert_array_equal(s.X, a[:, lmids[::-1]].X)


def test_select_gene_list_across_id_types_and_errors():
    a = _adata(np.arange(8.0).reshape(2, 4), ["ENSG00000141510.16", "ENSG00000146648.15", "ENSG00000136997.14",
                                                "ENSG00000000003.14"])
    s = select_genes(a, ["MYC", "TP53", "NOPE"])
    assert list(s.var_names) == ["ENSG00000136997.14", "ENSG00000141510.16"]
    assert list(s.uns["rnagen"]["genes"]["missing"]) == ["NOPE"]
    s2 = select_genes(a, ["ENSG00000146648"])  # unversioned against versioned
    assert list(s2.var_names) == ["ENSG00000146648.15"]
    assert select_genes(a, "all").n_vars == 4
    with pytest.raises(DataError, match="none of the landmarks"):
        select_genes(_adata([[1.0]], ["ENSG00000000005"]), "landmarks")  # TNMD: not a landmark
    with pytest.raises(DataError, match="needs gene identifiers .*use --genes all"):
        select_genes(_adata([[1.0, 2.0]], ["probe_1", "probe 2"]), "landmarks")


def test_landmark_coverage_below_half_is_an_error_naming_genes_all():
    lm = datasets.landmarks()["symbol"].tolist()
    few = _adata(np.ones((2, 488)), lm[:488])  # 488 < 489 = half of 978
    with pytest.raises(DataError, match=r"only 488 of the 978 L1000 landmarks .*use --genes all"):
        select_genes(few, "landmarks")
    assert select_genes(few, "landmarks", min_landmark_fraction=0.0).n_vars == 488
    assert select_genes(_adata(np.ones((2, 489)), lm[:489]), "landmarks").n_vars == 489


def test_other_features_work_with_all_and_a_list():
    mir = ["hsa-let-7a-5p", "hsa-miR-21-5p", "hsa-miR-155-5p", "hsa-miR-1"]
    a = _adata(np.arange(8.0).reshape(2, 4), mir)
    assert select_genes(a, "all").uns["rnagen"]["history"]["000_select_genes"]["id_type"] == "other"
    s = select_genes(a, ["hsa-miR-1", "hsa-let-7a-5p", "hsa-miR-9-5p"])
    assert list(s.var_names) == ["hsa-miR-1", "hsa-let-7a-5p"] and list(s.uns["rnagen"]["genes"]["missing"]) == [
        "hsa-miR-9-5p"]
    np.testing.assert_array_equal(s.X, [[3, 0], [7, 4]])


def test_same_gene_in_two_columns_error_first_mean():
    a = _adata([[1.0, 2.0, 5.0], [3.0, 4.0, 6.0]], ["TP53", "EGFR", "tp53"])
    msg = r"1 gene appears in more than one column \(e.g. 'TP53' and 'tp53'.*--duplicates first\|mean"
    with pytest.raises(DataError, match=msg):
        select_genes(a, "all")
    f = select_genes(a, "all", duplicates="first")
    assert list(f.var_names) == ["TP53", "EGFR"]
    np.testing.assert_array_equal(f.X, [[1, 2], [3, 4]])
    m = select_genes(a, "all", duplicates="mean")
    np.testing.assert_array_equal(m.X, [[3, 2], [4.5, 4]])
    assert get_history(m)[0] == {"step": "merge_same_genes", "how": "mean", "n_groups": 1, "n_dropped": 1}


def test_check_labels_treats_blank_and_nan_strings_as_missing():
    a = _adata(np.zeros((4, 1)), ["TP53"], ["a", "a", " ", "nan"])
    with pytest.raises(DataError, match=r"2 of 4 samples have no 'y' label .*first: sample 's2'.*--drop-unlabelled"):
        check_labels(a, "y")


def test_filter_classes_and_check_labels():
    a = _adata(np.zeros((6, 2)), ["TP53", "EGFR"], ["a", "a", "a", "b", "b", "c"])
    with pytest.raises(DataError, match=r"fewer than 2 samples: 'c' \(1\)"):
        check_labels(a, "y")
    with pytest.raises(DataError, match="label column 'z' not found"):
        check_labels(a, "z")
    f = filter_classes(a, "y", min_samples=2)
    assert f.obs["y"].value_counts().to_dict() == {"a": 3, "b": 2}
    assert list(f.obs["y"].cat.categories) == ["a", "b"]
    assert get_history(f)[-1]["dropped_classes"].tolist() == ["c"]
    check_labels(f, "y")
    assert filter_classes(a, "y", min_samples=3).obs["y"].tolist() == ["a"] * 3


def test_split_stratified_seeded_golden():
    a = datasets.gtex26()
    tr, te = split(a, label_key="tissue", test_size=0.2, seed=42)
    assert (tr.n_obs, te.n_obs) == (416, 104)
    assert set(tr.obs_names).isdisjoint(te.obs_names) and len(set(tr.obs_names) | set(te.obs_names)) == 520
    assert te.obs["tissue"].value_counts().between(4, 4).all()  # 20 per tissue -> 4 in test for each
    tr2, te2 = split(a, label_key="tissue", test_size=0.2, seed=42)
    assert list(te2.obs_names) == list(te.obs_names)
    _, te3 = split(a, label_key="tissue", test_size=0.2, seed=7)
    assert list(te3.obs_names) != list(te.obs_names)
    assert get_history(te)[-1] == {"step": "split", "part": "test", "label_key": "tissue", "test_size": 0.2,
                                   "seed": 42, "n_obs": 104}


def test_split_errors():
    a = _adata(np.zeros((5, 2)), ["TP53", "EGFR"], ["a", "a", "a", "b", "lonely"])
    with pytest.raises(DataError, match="'lonely' \\(1\\)"):
        split(a, label_key="y")
    b = _adata(np.zeros((4, 2)), ["TP53", "EGFR"], ["a", "a", "b", "b"])
    with pytest.raises(DataError, match="holds out 1, but a split stratified by .y. holds out and keeps one of each of "
                                        "its 2 classes; give --test-size at least 0.251"):
        split(b, label_key="y", test_size=0.25)  # 1 test sample cannot hold 2 classes
    with pytest.raises(DataError, match="between 0 and 1"):
        split(b, label_key="y", test_size=1.5)
    # a class of 2 (or 3 with a large test share) keeps one training sample: no model can fit a class on one
    c = _adata(np.zeros((12, 2)), ["TP53", "EGFR"], ["a"] * 7 + ["pair"] * 2 + ["three"] * 3)
    with pytest.raises(DataError, match=r"^the split with test size 0.3 leaves fewer than 2 training samples in 1 "
                                        r"class\(es\) of 'y': 'pair' \(2 samples, 1 to train on\); drop such classes "
                                        r"\(rnagen data prepare --min-samples 3\)$"):
        split(c[c.obs["y"] != "three"].copy(), label_key="y", test_size=0.3)
    # a class of 3 left thin by a large test share: --min-samples 3 would keep it, the test share is the way
    with pytest.raises(DataError, match=r"'three' \(3 samples, 1 to train on\); lower --test-size$"):
        split(c[c.obs["y"] != "pair"].copy(), label_key="y", test_size=0.6)
    tr, te = split(c[c.obs["y"] != "pair"].copy(), label_key="y", test_size=0.2)
    assert tr.obs["y"].value_counts().min() == 2


def test_split_by_a_column_of_the_data():
    """``by``: the data's own split (a column saying train or test, any case, training/holdout/validation too,
    mixed): the parts as the column names them, recorded; a missing column, a missing value, other values, one
    part only, a test class without training samples and a class left one training sample are refused."""
    y = ["a"] * 5 + ["b"] * 5
    part = ["Train", "train", "train", "test", "Train", "training", "train", "Train", "holdout", "test"]
    a = _adata(np.arange(20, dtype=float).reshape(10, 2), ["TP53", "EGFR"], y)
    a.obs["part"] = [{"training": "train", "holdout": "test"}.get(v, v) for v in part]
    tr, te = split(a, label_key="y", by="part")
    assert list(te.obs_names) == [a.obs_names[i] for i in (3, 8, 9)] and tr.n_obs == 7
    assert get_history(te)[-1] == {"step": "split", "part": "test", "label_key": "y", "by": "part", "n_obs": 3}
    a.obs["part"] = [v.upper() if v == "train" else "Validation" for v in ["train"] * 3 + ["x"] + ["train"] * 4
                     + ["x", "x"]]
    assert split(a, label_key="y", by="part")[1].n_obs == 3   # TRAIN / Validation
    a.obs["part"] = part   # case and synonyms mixed: each value names one part
    assert list(split(a, label_key="y", by="part")[1].obs_names) == [a.obs_names[i] for i in (3, 8, 9)]
    for values, match in ((part[:9] + ["fold2"], r"holds .*'fold2' \(1\); rnagen splits in two: give each sample "
                                                 r"train or test"),
                          (["train"] * 10, r"holds 'train' \(10\); rnagen splits in two")):
        a.obs["part"] = values
        with pytest.raises(DataError, match=match):
            split(a, label_key="y", by="part")
    with pytest.raises(DataError, match=r"no split column 'fold' \(sample columns: y, part\)"):
        split(a, label_key="y", by="fold")
    a.obs["part"] = ["train"] * 9 + [None]
    with pytest.raises(DataError, match=r"has no value for 1 sample\(s\), e.g. 's9'"):
        split(a, label_key="y", by="part")
    a.obs["part"] = ["train"] * 5 + ["test"] * 5
    with pytest.raises(DataError, match=r"puts every sample of 1 class\(es\) of 'y' in the test part \('b'\)"):
        split(a, label_key="y", by="part")
    a.obs["part"] = ["train", "test", "test", "test", "test"] + ["train"] * 3 + ["test"] * 2
    with pytest.raises(DataError, match=r"^the split in column 'part' leaves fewer than 2 training samples in 1 "
                                        r"class\(es\) of 'y': 'a' \(5 samples, 1 to train on\); move some of their "
                                        r"samples to train in 'part'$"):
        split(a, label_key="y", by="part")


@pytest.mark.parametrize("method", ["standard", "maxabs", "minmax", "log2p1+standard"])
def test_fit_scaler_inverts_and_survives_h5ad(tmp_path, method):
    a = datasets.gtex26()[:60, :30].copy()
    pipe = fit_scaler(a, method)
    Z = pipe.transform(a.X)
    if method == "standard":
        np.testing.assert_allclose(Z.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(pipe.inverse_transform(Z), a.X, atol=1e-5)
    a.write_h5ad(tmp_path / "a.h5ad")
    back = get_scaler(ad.read_h5ad(tmp_path / "a.h5ad"))
    np.testing.assert_allclose(back.transform(a.X), Z, atol=1e-6)
    assert back.spec == pipe.spec


def test_the_stored_scaler_follows_the_genes_of_a_reordered_or_subset_copy(tmp_path):
    """A copy whose genes were reordered or subset keeps uns (the scaler): each gene gets its own scale back; a
    gene the scaler never saw is named. A spec of transform objects is recorded so the data can be saved."""
    from rnagen.pp.transforms import MinMaxScaler

    a = datasets.gtex26()[:60, :30].copy()
    Z = fit_scaler(a, "standard").transform(np.asarray(a.X, np.float64))
    rev = a[:, a.var_names[::-1]].copy()
    np.testing.assert_allclose(get_scaler(rev).transform(np.asarray(rev.X, np.float64)), Z[:, ::-1], atol=1e-9)
    sub = a[:, a.var_names[5:12]].copy()
    np.testing.assert_allclose(get_scaler(sub).transform(np.asarray(sub.X, np.float64)), Z[:, 5:12], atol=1e-9)
    other = a[:, :3].copy()
    other.var_names = ["X1", "X2", "X3"]
    with pytest.raises(DataError, match=r"3 gene\(s\) of the data were not in the data the scaler was fitted on"):
        get_scaler(other)
    b = a.copy()
    pipe = fit_scaler(b, [MinMaxScaler(0, 1)])
    b.write_h5ad(tmp_path / "b.h5ad")
    back = get_scaler(ad.read_h5ad(tmp_path / "b.h5ad"))
    np.testing.assert_allclose(back.transform(np.asarray(b.X)), pipe.transform(np.asarray(b.X)), atol=1e-6)
    assert float(back.transform(np.asarray(b.X)).min()) == pytest.approx(0.0)


def test_get_scaler_missing():
    with pytest.raises(DataError, match="no fitted scaler"):
        get_scaler(_adata([[1.0]], ["TP53"]))


def test_non_finite_pseudocount_and_values_are_refused():
    """log2p1 with a NaN or infinite pseudocount made every value NaN (recorded as 'log2(x+nan)'); a scaler fitted
    on data with a NaN gave its gene NaN in every sample: both refused."""
    import numpy as np
    import pytest

    from rnagen import datasets, pp
    from rnagen.errors import DataError

    x = datasets.gtex26()[:20, :5].copy()
    for bad in (float("nan"), float("inf"), 0.0):
        with pytest.raises(DataError, match="pseudocount must be a finite number > 0"):
            pp.log2p1(x.copy(), pseudocount=bad, force=True)
    X = np.asarray(x.X).copy()
    X[2, 3] = np.nan
    x.X = X
    with pytest.raises(DataError, match=r"NaN or infinite values \(first: sample .*, gene"):
        pp.fit_scaler(x)


def test_split_seed_and_filter_minimum_are_checked():
    """A seed of -1 (reported as a bad --test-size) or 1.7 (silently 1), and min_samples of 0, -3 or 2.5, are
    refused naming the argument."""
    import pytest

    from rnagen import datasets, pp
    from rnagen.errors import DataError

    a = datasets.gtex26()
    for seed in (-1, 1.7, "x"):
        with pytest.raises(DataError, match="seed must be an integer"):
            pp.split(a, label_key="tissue", seed=seed)
    for m in (0, -3, 2.5, True):
        with pytest.raises(DataError, match="min_samples must be a whole number >= 1"):
            pp.filter_classes(a, "tissue", min_samples=m)
    assert pp.filter_classes(a, "tissue", min_samples=1).n_obs == a.n_obs


def test_cpm_of_a_sample_missing_counts_estimates_its_library():
    """A sample missing some genes' counts: its library was the sum of the counts it has, too small, and every
    value of it too large (+0.05 log2 at 4% of the library missing); now its total is the observed one over the
    share of the library the missing genes hold in the complete samples; a sample missing most of it is refused."""
    import anndata as ad
    import numpy as np
    import pytest

    from rnagen.errors import DataError
    from rnagen.pp import normalize_depth

    rng = np.random.default_rng(0)
    mu = rng.gamma(1.0, 50, 200)
    depth = rng.uniform(0.5, 2, 30)
    X = rng.poisson(np.outer(depth, mu)).astype(float)
    full = ad.AnnData(X.copy())
    normalize_depth(full, "cpm")
    holes = X.copy()
    holes[7, :20] = np.nan
    a = ad.AnnData(holes)
    normalize_depth(a, "cpm")
    true_cpm = full.X[7, 20:]
    assert np.abs(np.log2(a.X[7, 20:] + 1) - np.log2(true_cpm + 1)).max() < 0.02
    naive = holes[7, 20:] / np.nansum(holes[7]) * 1e6   # the old total
    assert np.abs(np.log2(naive + 1) - np.log2(true_cpm + 1)).mean() > 0.05
    most = X.copy()
    most[3, np.argsort(mu)[-150:]] = np.nan
    with pytest.raises(DataError, match="misses genes holding half its library or more"):
        normalize_depth(ad.AnnData(most), "cpm")


def test_split_keeps_the_datas_category_order():
    """Both parts keep the label column's own category order (the models and the report follow it); they were
    sorted, so a model trained on the split listed its classes in another order than one trained on the data."""
    obs = pd.DataFrame({"k": pd.Categorical(["z"] * 6 + ["a"] * 6 + ["m"] * 6, categories=["z", "unused", "a", "m"])},
                       index=[f"s{i}" for i in range(18)])
    a = ad.AnnData(np.random.default_rng(0).random((18, 3)).astype(np.float32), obs=obs)
    tr, te = split(a, label_key="k", test_size=0.5, seed=0)
    assert list(tr.obs["k"].cat.categories) == list(te.obs["k"].cat.categories) == ["z", "a", "m"]
    b = a.copy()
    b.obs["k"] = b.obs["k"].astype(str)
    assert list(split(b, label_key="k", test_size=0.5, seed=0)[0].obs["k"].cat.categories) == ["a", "m", "z"]


def test_in_place_steps_on_a_view_leave_its_parent_as_it_was():
    """anndata writes a view's X and the dicts in its uns through to its parent: log2p1 on ``a[:6]`` logged the
    parent's first rows and recorded the parent as logged. The view is made an object of its own first."""
    import anndata as ad

    from rnagen.pp import log2p1, normalize_depth
    from rnagen.pp.history import log_state

    A = ad.AnnData(np.random.default_rng(0).poisson(50, (12, 30)).astype("float32"))
    before = A.X.copy()
    v = A[:6]
    log2p1(v, force=True)
    np.testing.assert_array_equal(A.X, before)
    assert log_state(A) is None and log_state(v)["logged"]
    np.testing.assert_allclose(v.X, np.log2(before[:6] + 1.0), rtol=1e-6)
    w = A[:8]
    normalize_depth(w, "cpm")
    np.testing.assert_array_equal(A.X, before)
    np.testing.assert_allclose(w.X.sum(axis=1), 1e6, rtol=1e-4)


def _labelled(n_per=6, genes=4):
    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, 50.0, size=(3 * n_per, genes)).round().astype(np.float32)
    a = _adata(X, [f"g{j}" for j in range(genes)])
    a.obs["tissue"] = pd.Categorical(np.repeat(["a", "b", "c"], n_per))
    return a


@pytest.mark.parametrize("bad", [np.zeros((6, 3)), pd.DataFrame(np.zeros((6, 3))), None, "data.h5ad"],
                         ids=["ndarray", "DataFrame", "None", "path"])
@pytest.mark.parametrize("call", [
    lambda x: split(x, label_key="tissue"),
    lambda x: filter_classes(x, "tissue"),
    lambda x: check_labels(x, "tissue"),
    lambda x: class_counts(x, "tissue"),
    lambda x: normalize_depth(x),
    lambda x: log2p1(x),
    lambda x: select_genes(x, ["g1"]),
    lambda x: fit_scaler(x),
    lambda x: get_scaler(x),
    lambda x: complete_missing(x),
], ids=["split", "filter_classes", "check_labels", "class_counts", "normalize_depth", "log2p1", "select_genes",
        "fit_scaler", "get_scaler", "complete_missing"])
def test_pp_refuses_what_is_not_an_anndata(call, bad):
    with pytest.raises(DataError, match=rf"give an AnnData \(samples x genes\), not {type(bad).__name__}; "
                                        r"read a file with rnagen.data.read"):
        call(bad)


@pytest.mark.parametrize("test_size", [0, 1, -0.2, "0.2", "abc", None, True, [0.2]])
def test_split_refuses_a_test_size_that_is_not_a_share(test_size):
    with pytest.raises(DataError, match=r"^test size must be a number between 0 and 1 \(exclusive\).*got "):
        split(_labelled(), label_key="tissue", test_size=test_size)


def test_split_takes_a_numpy_float_test_size():
    train, test = split(_labelled(), label_key="tissue", test_size=np.float32(0.5), seed=1)
    assert (train.n_obs, test.n_obs) == (9, 9)


@pytest.mark.parametrize("key", [["tissue"], None, 1])
def test_label_key_that_is_no_column_name(key):
    a = _labelled()
    for call in (lambda: split(a, label_key=key), lambda: class_counts(a, key)):
        with pytest.raises(DataError, match=r"^label_key must be the name of a sample \(obs\) column, a str, not "):
            call()
    with pytest.raises(DataError, match="label column 'nope' not found"):
        split(a, label_key="nope")
    with pytest.raises(DataError, match="by must be the name of a sample"):
        split(a, label_key="tissue", by=1)


def test_pp_options_of_the_wrong_type():
    a = _labelled()
    for genes in (5, None):
        with pytest.raises(DataError, match="genes must be 'landmarks', 'all' or a list of gene ids"):
            select_genes(a, genes)
    assert select_genes(a, np.array(["g1", "g2"])).n_vars == 2   # an array of ids is a list
    with pytest.raises(DataError, match="pseudocount must be a finite number > 0, got '1'"):
        log2p1(a.copy(), pseudocount="1")
    with pytest.raises(DataError, match="a transform spec is a str"):
        fit_scaler(a, 3)
    from rnagen.errors import ConfigError
    from rnagen.pp import is_logged, make_pipeline, to_log_scale

    with pytest.raises(ConfigError, match="a transform spec is a str"):
        make_pipeline(None)
    with pytest.raises(DataError, match=r"takes the expression matrix \(adata.X\), not an AnnData"):
        to_log_scale(a, logged=False)
    with pytest.raises(DataError, match="an array goes in X="):
        is_logged(np.asarray(a.X))


def test_scale_test_reads_a_large_matrix_in_blocks_without_copying_its_values(monkeypatch):
    """``looks_logged`` (run by data info, prepare and train on every matrix) reads the values block by block:
    on a full transcriptome of thousands of profiles a copy of every finite value, and a rounded copy of that,
    would be gigabytes each beside the matrix. The same answers on counts, log values and linear values. The
    block is made small here so that a small matrix shows it."""
    import tracemalloc

    from rnagen.pp import history
    from rnagen.pp.history import looks_logged

    monkeypatch.setattr(history, "_BLOCK_VALUES", 50_000, raising=False)

    rng = np.random.default_rng(0)
    counts = rng.poisson(5.0, size=(400, 5000)).astype(np.float32)
    logged = np.log2(counts + 1)
    linear = counts * np.float32(1.37) + np.float32(40.0)
    tracemalloc.start()
    try:
        answers = [looks_logged(X) for X in (counts, logged, linear)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert answers == [False, True, False]
    assert peak < counts.nbytes / 2, (peak, counts.nbytes)
    # a few values above the log range among log values are still refused as an undecided scale
    odd = logged.copy()
    odd[:5, :3] = 1000.0
    with pytest.raises(DataError, match="look log-scale"):
        looks_logged(odd)


def test_the_standardisation_test_reads_the_matrix_a_block_at_a_time(monkeypatch):
    """Whether the genes are z-scores (``looks_standardised``, run by data info and prepare on up to 2,000 samples:
    every one of a GTEx-wide matrix's genes) is read from per-gene sums over float64 blocks of rows: no float64
    copy of the matrix (nanmean and nanstd made two), and the decisions those made, missing values, infinite
    values and sets a few hundredths off z-scores included."""
    import tracemalloc
    import warnings

    from rnagen.pp import history
    from rnagen.pp.history import looks_standardised

    def by_nan_functions(X):
        X = np.asarray(X, np.float64)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, sd = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
        varied = np.isfinite(sd) & (sd > 0)
        return bool(varied.mean() >= 0.9 and np.median(np.abs(mean[varied])) < 0.1
                    and np.median(np.abs(sd[varied] - 1.0)) < 0.1)

    rng = np.random.default_rng(0)
    monkeypatch.setattr(history, "_BLOCK_VALUES", 64)   # blocks of a few rows
    seen = set()
    for t in range(200):
        X = rng.normal(rng.choice([0.0, 0.05, 0.12, 5.0]), rng.choice([1.0, 1.08, 1.12, 3.0]),
                       (int(rng.integers(3, 40)), int(rng.integers(1, 30))))
        if t % 3 == 0:
            X[rng.random(X.shape) < 0.1] = np.nan
        if t % 7 == 0:
            X[:, 0] = np.inf
        if t % 5 == 0:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                X = (X - np.nanmean(X, 0)) / np.nanstd(X, 0)
        X = X.astype(np.float32 if t % 2 else np.float64)
        assert looks_standardised(X) == by_nan_functions(X), t
        seen.add(looks_standardised(X))
    assert seen == {True, False}
    monkeypatch.setattr(history, "_BLOCK_VALUES", 1 << 16)
    Z = rng.normal(size=(500, 2000)).astype(np.float32)
    tracemalloc.start()
    assert looks_standardised(Z)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.5 * Z.nbytes, (peak, Z.nbytes)   # a float64 copy is twice the float32 matrix
