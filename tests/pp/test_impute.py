"""Missing values (``rnagen.pp.complete_missing``, ``rnagen data prepare --missing``): what is dropped, what is
filled in and how well, the record, and every refusal (exit status 2, one line, nothing written)."""
from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen.cli.main import main
from rnagen.data import read
from rnagen.errors import DataError
from rnagen.pp import complete_missing, get_history


def _low_rank(n=300, g=40, seed=0):
    """Profiles on 3 factors plus a little noise: a hidden value is predictable from the sample's other genes."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) @ rng.normal(size=(3, g)) + 0.2 * rng.normal(size=(n, g)) + 8.0
    labels = np.repeat(["a", "b", "c"], n // 3)
    return ad.AnnData(X=X.astype(np.float32), obs=pd.DataFrame({"label": labels}, index=[f"s{i}" for i in range(n)]),
                      var=pd.DataFrame(index=[f"g{j}" for j in range(g)]))


def test_knn_fills_hidden_values_better_than_gene_means_and_keeps_observed_ones():
    adata = _low_rank()
    X = np.asarray(adata.X, dtype=np.float64)
    mask = np.random.default_rng(1).random(X.shape) < 0.1
    holed = adata.copy()
    holed.X[mask] = np.nan
    out = complete_missing(holed, max_missing=0.5)
    F = np.asarray(out.X, dtype=np.float64)
    assert not np.isnan(F).any() and out.shape == adata.shape
    np.testing.assert_array_equal(F[~mask], np.asarray(adata.X)[~mask])  # observed values untouched
    knn = np.sqrt(((F - X)[mask] ** 2).mean())
    mean = np.sqrt(((np.nanmean(np.asarray(holed.X), axis=0) - X)[mask] ** 2).mean())
    assert knn < 0.4 * mean  # 3 factors: the neighbours on the other genes know the hidden value
    assert out.var["n_imputed"].tolist() == mask.sum(axis=0).tolist()
    (h,) = [s for s in get_history(out) if s["step"] == "impute"]
    assert h["n_missing"] == h["n_imputed"] == int(mask.sum()) and h["n_dropped_genes"] == 0
    assert h["method"] == "knn (k=10)" and h["within"] == "all"


def test_brute_force_neighbour_mean():
    """One missing value: the mean of that gene over the k samples nearest on the genes both observe."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 6))
    Xm = X.copy()
    Xm[0, 2] = np.nan
    out = complete_missing(ad.AnnData(X=Xm.astype(np.float32)), max_missing=0.5, k=4)
    obs = [j for j in range(6) if j != 2]
    X32 = Xm.astype(np.float32).astype(np.float64)
    d = np.sqrt(((X32[1:, obs] - X32[0, obs]) ** 2).sum(axis=1))
    nearest = 1 + np.argsort(d)[:4]
    assert np.asarray(out.X)[0, 2] == pytest.approx(X32[nearest, 2].mean(), rel=1e-5)


@pytest.mark.parametrize("n,g,share,k,block", [(300, 40, 0.1, 10, 256), (200, 30, 0.4, 5, 7), (40, 5, 0.6, 3, 256),
                                                 (12, 4, 0.3, 10, 5)])
def test_knn_fill_is_scikit_learns_rule(n, g, share, k, block):
    """The blocked GEMM route gives KNNImputer's values: rows sharing no observed gene (60% missing of 5), genes
    with fewer observers than k (12 samples, k 10), blocks smaller than the rows with gaps."""
    from sklearn.impute import KNNImputer

    from rnagen.pp.impute import knn_fill

    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 3)) @ rng.normal(size=(3, g)) + 0.3 * rng.normal(size=(n, g)) + 5
    X[rng.random(X.shape) < share] = np.nan
    X[0, :] = np.nan
    X[0, 0] = 1.0  # observes one gene only
    ref = KNNImputer(n_neighbors=k, keep_empty_features=True).fit_transform(X)
    np.testing.assert_allclose(knn_fill(X, k=k, block=block), ref, rtol=0, atol=1e-10)


def test_genes_missing_in_one_class_are_dropped_within_classes():
    adata = _low_rank()
    X = np.asarray(adata.X).copy()
    X[:50, 0] = np.nan          # half of class a (100 samples), 1/6 of all samples
    X[::20, 1] = np.nan         # 5% everywhere: kept and filled in
    X[120, 2:30] = np.nan       # one sample missing 28 of 40 genes
    adata.X = X
    within = complete_missing(adata, label_key="label")
    assert "g0" not in within.var_names and "g1" in within.var_names
    assert "s120" not in within.obs_names and within.n_obs == 299
    h = get_history(within)[-1]
    assert h["within"] == "classes of 'label'" and h["dropped_genes"] == "g0" and h["dropped_samples"] == "s120"
    pooled = complete_missing(adata)  # pooled share 50/300 < 0.2: kept and filled in from the other classes
    assert "g0" in pooled.var_names


def test_drop_invents_no_value():
    adata = _low_rank()
    X = np.asarray(adata.X).copy()
    X[[3, 7, 9], [0, 5, 5]] = np.nan
    adata.X = X
    out = complete_missing(adata, how="drop")
    assert out.n_obs == 297 and out.n_vars == 40 and not np.isnan(out.X).any()
    keep = [i for i in range(300) if i not in (3, 7, 9)]
    np.testing.assert_array_equal(out.X, X[keep])
    h = get_history(out)[-1]
    assert h["how"] == "drop" and h["n_imputed"] == 0 and h["n_dropped_samples"] == 3


def test_complete_data_is_returned_as_is():
    adata = _low_rank()
    assert complete_missing(adata) is adata
    assert not [h for h in get_history(adata) if h["step"] == "impute"]


@pytest.mark.parametrize("kw,match", [
    ({"how": "mean"}, "unknown missing-value policy 'mean'"),
    ({"max_missing": 1.0}, r"--max-missing must be a share in \[0, 1\)"),
    ({"max_missing": -0.1}, r"--max-missing must be a share in \[0, 1\)"),
    ({"k": 0}, "--impute-neighbours must be an integer >= 1"),
    ({"k": 2.5}, "--impute-neighbours must be an integer >= 1"),
])
def test_bad_options(kw, match):
    with pytest.raises(DataError, match=match):
        complete_missing(_low_rank(), **kw)


def test_infinite_values_and_nothing_left_are_errors():
    adata = _low_rank()
    X = np.asarray(adata.X).copy()
    X[5, 5] = np.inf
    adata.X = X
    with pytest.raises(DataError, match="1 infinite values .*sample 's5', gene 'g5'.*not missing values"):
        complete_missing(adata)
    adata = _low_rank()
    X = np.asarray(adata.X).copy()
    X[::2, :] = np.nan  # every gene missing in half of every class
    adata.X = X
    with pytest.raises(DataError, match="every gene is missing in more than 20% .*raise --max-missing"):
        complete_missing(adata, label_key="label")
    X = np.asarray(_low_rank().X).copy()
    X[np.arange(300), np.arange(300) % 40] = np.nan  # one value per sample, 2.5% of each gene
    with pytest.raises(DataError, match="every sample has a missing value left .*use --missing impute"):
        complete_missing(ad.AnnData(X=X), how="drop")



def test_read_keeps_nan_only_when_asked(tmp_path):
    (tmp_path / "x.csv").write_text("id,TP53,EGFR\ns1,1,\ns2,1,2\n")
    with pytest.raises(DataError, match="1 NaN and 0 inf values .*rnagen data prepare --missing impute\\|drop"):
        read(tmp_path / "x.csv")
    a = read(tmp_path / "x.csv", missing="keep")
    assert np.isnan(a.X[0, 1]) and a.X[1, 1] == 2
    (tmp_path / "y.csv").write_text("id,TP53,EGFR\ns1,inf,\ns2,1,2\n")
    with pytest.raises(DataError, match=r"1 NaN and 1 inf values .*replace the infinite values in the file "
                                         r"\(inf, or a number beyond the float64 range[^;]*\)$"):
        read(tmp_path / "y.csv", missing="keep")
    # -Inf among log-scale values: R's log2 of a zero count, named so
    (tmp_path / "z.csv").write_text("id,TP53,EGFR\ns1,-Inf,3.5\ns2,1.2,2\n")
    with pytest.raises(DataError, match=r"0 NaN and 1 inf values .*the -inf values are the log of 0 \(R's "
                                        r"log2\(counts\) writes -Inf\): give the values before the log"):
        read(tmp_path / "z.csv")
    with pytest.raises(DataError, match="unknown missing-value handling 'fill'"):
        read(tmp_path / "x.csv", missing="fill")


def _holed_tsv(tmp_path):
    adata = _low_rank(n=60, g=12)
    X = np.asarray(adata.X).copy()
    X[:10, 0] = np.nan      # half of class a: dropped within classes
    X[::7, 3] = np.nan      # filled in
    df = pd.DataFrame(X, index=adata.obs_names, columns=adata.var_names)
    df.insert(0, "label", adata.obs["label"].to_numpy())
    path = tmp_path / "holed.tsv"
    df.to_csv(path, sep="\t", na_rep="")
    return path


def test_cli_prepare_missing(tmp_path, capsys):
    src = _holed_tsv(tmp_path)
    base = ["data", "prepare", str(src), "--label-key", "label", "--genes", "all", "--id-type", "other"]
    out = tmp_path / "p.h5ad"
    assert main(["data", "info", str(src), "--label-key", "label"]) == 0  # info shows the gaps, reads the rest
    info = capsys.readouterr().out
    assert "missing:   19 values (2.6%) in 2 genes (most: g0 17%, g3 15%" in info and "labels (label): 3" in info
    assert main([*base, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NaN" in err and "--missing impute|drop" in err and not out.exists()
    assert main([*base, "--missing", "impute", "--out", str(out)]) == 0
    msg = capsys.readouterr().out
    assert "1 gene with more than 20% missing in a class dropped (--missing impute)" in msg
    assert "9 missing values filled in from the 10 nearest samples" in msg
    a = ad.read_h5ad(out)
    assert a.shape == (60, 11) and not np.isnan(a.X).any() and int(a.var["n_imputed"].sum()) == 9
    assert main(["data", "info", str(out)]) == 0
    assert "impute (" in capsys.readouterr().out
    out2 = tmp_path / "d.h5ad"
    assert main([*base, "--missing", "drop", "--out", str(out2)]) == 0
    assert "9 samples with a value left missing dropped (--missing drop)" in capsys.readouterr().out
    assert ad.read_h5ad(out2).shape == (51, 11)


def test_cli_min_samples_applies_after_the_drops(tmp_path, capsys):
    """A class the missing-value drops shrink below --min-samples is dropped too; without the option the error
    names it, and a class left with no sample is no category of the output."""
    adata = _low_rank(n=60, g=12)
    X = np.asarray(adata.X).copy()
    labels = adata.obs["label"].to_numpy().copy()
    labels[:3] = "rare"
    X[1:3, 5] = np.nan  # two of the three 'rare' samples have a gap
    df = pd.DataFrame(X, index=adata.obs_names, columns=adata.var_names)
    df.insert(0, "label", labels)
    src = tmp_path / "rare.tsv"
    df.to_csv(src, sep="\t", na_rep="")
    base = ["data", "prepare", str(src), "--label-key", "label", "--genes", "all", "--id-type", "other",
            "--missing", "drop", "--max-missing", "0.7"]
    assert main([*base, "--out", str(tmp_path / "a.h5ad")]) == 2
    assert "'rare' (1)" in capsys.readouterr().err and not (tmp_path / "a.h5ad").exists()
    assert main([*base, "--min-samples", "2", "--out", str(tmp_path / "b.h5ad")]) == 0
    b = ad.read_h5ad(tmp_path / "b.h5ad")
    assert b.n_obs == 57 and "rare" not in b.obs["label"].cat.categories
    assert [h["step"] for h in get_history(b)][-2:] == ["impute", "filter_classes"]
    X[0, 6] = np.nan  # a gap in each of the three: the class goes with the drops
    gone = _low_rank(n=60, g=12)
    gone.X = X
    gone.obs["label"] = pd.Categorical(labels)
    out = complete_missing(gone, how="drop", max_missing=0.7, label_key="label")
    assert out.n_obs == 57 and list(out.obs["label"].cat.categories) == ["a", "b", "c"]


@pytest.mark.parametrize("extra,match", [
    (["--max-missing", "0.3"], "--max-missing applies to --missing impute or drop"),
    (["--missing", "drop", "--impute-neighbours", "3"], "--impute-neighbours applies to --missing impute"),
    (["--missing", "impute", "--max-missing", "1"], r"--max-missing: must be a finite number in \[0, 1\)"),
    (["--missing", "impute", "--impute-neighbours", "0"], "--impute-neighbours: must be an integer >= 1"),
])
def test_cli_prepare_missing_refusals(tmp_path, capsys, extra, match):
    src = _holed_tsv(tmp_path)
    out = tmp_path / "p.h5ad"
    try:
        rc = main(["data", "prepare", str(src), "--label-key", "label", "--genes", "all", "--id-type", "other",
                   *extra, "--out", str(out)])
    except SystemExit as e:  # a value argparse's converter refuses
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and re.search(match, err), err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["holed.tsv"]


def test_a_gene_with_no_value_prints_no_numpy_warning(tmp_path, capsys):
    """A column left empty on every sample: `data info` reads it without NumPy's "Mean of empty slice" (two
    warnings before the summary, or before the one-line error of a prepare that cannot fill it)."""
    import warnings

    src = _holed_tsv(tmp_path)
    df = pd.read_csv(src, sep="\t", index_col=0)
    df["g5"] = np.nan
    df.to_csv(src, sep="\t", na_rep="")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["data", "info", str(src), "--label-key", "label"]) == 0
    assert "g5 100%" in capsys.readouterr().out
