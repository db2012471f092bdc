"""fit / apply / score / save / load of the reconstructor on data from known maps."""
import anndata as ad
import numpy as np
import pandas as pd
import pytest

import rnagen.reconstruct as rc
from rnagen.errors import DataError, RunDirError


def _split(prob, make_adata, *, raw: bool = False):
    full = prob["full"]
    if raw:  # linear units: the log2(x+1) transform must be applied and inverted
        full = np.exp2(full + 10.0) - 1.0
    a = make_adata(full, prob["names"])
    n = prob["n_train"]
    return a[:n].copy(), a[n:].copy()


@pytest.mark.parametrize("raw", [False, True])
def test_linear_recovers_a_linear_map_to_the_noise_ceiling(make_adata, linear_problem, raw):
    train, test = _split(linear_problem, make_adata, raw=raw)
    rec = rc.fit(train, inputs=linear_problem["inputs"], method="linear")
    assert rec.meta["log"]["applied"] is raw
    res = rec.score(test)
    ceiling = linear_problem["ceiling"]
    r2 = pd.Series(res["per_gene"]["r2"], index=res["per_gene"]["gene"])
    assert list(r2.index) == [g for g in linear_problem["names"] if g in set(ceiling.index)]  # training order
    gap = (r2 - ceiling[r2.index])
    # 1000 test samples: each gene's R^2 scatters ~0.02 around its ceiling; the average sits on it
    assert abs(gap.mean()) < 0.01 and gap.abs().max() < 0.1
    assert res["r2"]["median"] == pytest.approx(np.median(r2), abs=1e-12)
    assert res["r2"]["q1"] <= res["r2"]["median"] <= res["r2"]["q3"]
    assert res["pearson"]["median"] == pytest.approx(np.sqrt(ceiling).median(), abs=0.01)
    # MSE on the log scale is the noise variance (0.25) plus a little estimation error
    assert 0.24 < res["mse"] < 0.27 and res["mae"] == pytest.approx(0.5 * np.sqrt(2 / np.pi), abs=0.015)
    assert res["scale"] == ("log2(x+1)" if raw else "as given (already log scale: detected from the value range)")
    # the predictions are the noiseless signal, in the data's units
    pred = rec.predict(test)
    if raw:
        pred = np.log2(pred + 1.0) - 10.0
    sig = linear_problem["signal"].iloc[linear_problem["n_train"]:][rec.target_names].to_numpy()
    assert np.mean((pred - sig) ** 2) < 0.01


def test_apply_keeps_inputs_and_gene_order(make_adata, linear_problem):
    train, test = _split(linear_problem, make_adata)
    rec = rc.fit(train, inputs=linear_problem["inputs"], seed=3)
    # synthetic landmark-only data: inputs in a different order, one extra gene, float64 values
    rng = np.random.default_rng(5)
    cols = list(rng.permutation(linear_problem["inputs"])) + ["extra"]
    syn_X = np.hstack([test[:, cols[:-1]].X.astype(np.float64) + 1e-9, np.ones((test.n_obs, 1))])
    syn = make_adata(syn_X, cols)
    syn.X = syn_X                                   # keep float64
    syn.uns["note"] = "kept"
    full = rec.apply(syn)
    assert list(full.var_names) == linear_problem["names"]
    assert full.X.dtype == np.float64
    np.testing.assert_array_equal(full[:, cols[:-1]].X, syn_X[:, :-1])
    assert full.var["reconstructed"].sum() == len(rec.target_idx)
    assert not full.var.loc[linear_problem["inputs"], "reconstructed"].any()
    pd.testing.assert_frame_equal(full.obs, syn.obs)
    assert full.uns["note"] == "kept" and rc.Reconstructor.__name__
    np.testing.assert_allclose(full[:, rec.target_names].X, rec.predict(syn), rtol=1e-6)
    # rounded counts in, predicted genes out: the sample record no longer says "rounded", its model and seed stay
    syn.uns["rnagen"] = {"synthetic": {"model": "gaussian", "seed": 3, "rounded": True}, "history": {}}
    assert rec.apply(syn).uns["rnagen"]["synthetic"] == {"model": "gaussian", "seed": 3}
    # the input's own record is not written to (its history gained the 'reconstruct' step before)
    assert syn.uns["rnagen"]["history"] == {} and syn.uns["rnagen"]["synthetic"]["rounded"] is True
    # a missing input value (it made every predicted gene of its profile NaN) and a bare array are refused
    hole = syn.copy()
    X = np.asarray(hole.X).copy()
    X[1, 0] = np.nan
    hole.X = X
    with pytest.raises(DataError, match=r"NaN or infinite values in the input genes \(first: sample"):
        rec.apply(hole)
    with pytest.raises(DataError, match="give an AnnData"):
        rec.apply(syn_X)


def test_missing_inputs_are_named(make_adata, linear_problem, tmp_path):
    train, test = _split(linear_problem, make_adata)
    with pytest.raises(DataError, match=r"2 of the 22 input genes are missing from the training data: nope1, nope2; "
                                        r"take them out of the --inputs list"):
        rc.fit(train, inputs=linear_problem["inputs"] + ["nope1", "nope2"])
    rec = rc.fit(train, inputs=linear_problem["inputs"])
    drop = linear_problem["inputs"][:3]
    with pytest.raises(DataError, match=r"3 of the 20 input genes of the reconstructor are missing from the data to "
                                        r"reconstruct: " + ", ".join(drop) + "; give data holding them"):
        rec.apply(test[:, [g for g in test.var_names if g not in drop]].copy())
    with pytest.raises(DataError, match="nothing is left to reconstruct"):
        rc.fit(train[:, linear_problem["inputs"]].copy(), inputs=linear_problem["inputs"])
    with pytest.raises(DataError, match="none of the 978 L1000 landmark genes"):
        rc.fit(train, inputs="landmarks")
    with pytest.raises(RunDirError, match="not a reconstructor folder"):
        rc.load(tmp_path)


@pytest.mark.parametrize("method", ["linear", "mlp"])
def test_save_load_round_trip(make_adata, linear_problem, tmp_path, method):
    train, test = _split(linear_problem, make_adata)
    rec = rc.fit(train[:800].copy(), inputs=linear_problem["inputs"], method=method,
                 overrides=["mlp.hidden=[32]", "mlp.max_epochs=3"], device="cpu")
    rec.save(tmp_path / "rec")
    back = rc.load(tmp_path / "rec", device="cpu")
    assert back.method == method and back.var_names == rec.var_names and back.input_names == rec.input_names
    np.testing.assert_array_equal(back.predict(test), rec.predict(test))
    assert back.score(test)["r2"] == rec.score(test)["r2"]
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == sorted(
        ["config.toml", "genes.tsv", "manifest.json", "meta.json", "transforms.npz", "weights.safetensors"]
        + (["train_log.csv"] if method == "mlp" else []))
    assert not list((tmp_path / "rec").glob(".*tmp*"))      # no temp files left behind
    np.testing.assert_array_equal(back.train_keys, rec.train_keys)   # the training profiles' digests
    with pytest.raises(DataError, match="800 of the 800 test profiles are training profiles"):
        back.score(train[:800])
    # a folder saved without them (an earlier release's) loads and scores without the check
    rec.train_keys = None
    rec.save(tmp_path / "old")
    old = rc.load(tmp_path / "old", device="cpu")
    assert old.train_keys is None and old.score(train[:800])["r2"] == rec.score(train[:800])["r2"]


def test_mlp_beats_linear_on_a_nonlinear_map(make_adata):
    rng = np.random.default_rng(2)
    n, p = 2400, 6
    X = rng.normal(size=(n, p))
    T = np.column_stack([np.sin(2 * X[:, 0]), X[:, 1] * X[:, 2], np.abs(X[:, 3]), np.maximum(X[:, 4], 0) ** 2,
                         np.cos(X[:, 5] + X[:, 0]), np.tanh(3 * X[:, 1]) * X[:, 4]])
    Y = T + 0.1 * rng.normal(size=T.shape)
    names = [f"x{i}" for i in range(p)] + [f"y{i}" for i in range(T.shape[1])]
    a = make_adata(np.hstack([X, Y]), names)
    train, test = a[:2000].copy(), a[2000:].copy()
    inputs = names[:p]
    lin = rc.fit(train, inputs=inputs, method="linear", overrides=["log=none"]).score(test)
    mlp = rc.fit(train, inputs=inputs, method="mlp", seed=0, device="cpu", overrides=[
        "log=none", "mlp.hidden=[64, 64]", "mlp.lr=3e-3", "mlp.batch_size=64", "mlp.max_epochs=40",
        "mlp.patience=5", "mlp.dropout=0.0"]).score(test)
    # noise-free ceiling is ~0.97-0.99 per gene; a linear map explains almost nothing of these targets
    assert lin["r2"]["median"] < 0.5
    assert mlp["r2"]["median"] > 0.8 and mlp["mse"] < 0.5 * lin["mse"]


def test_mlp_is_seeded(make_adata, linear_problem):
    train, test = _split(linear_problem, make_adata)
    kw = dict(inputs=linear_problem["inputs"], method="mlp", device="cpu",
              overrides=["mlp.hidden=[16]", "mlp.max_epochs=2"])
    import torch

    state = torch.random.get_rng_state()
    p1 = rc.fit(train[:500].copy(), seed=4, **kw).predict(test)
    assert torch.equal(state, torch.random.get_rng_state())       # the global generator is untouched
    p2 = rc.fit(train[:500].copy(), seed=4, **kw).predict(test)
    p3 = rc.fit(train[:500].copy(), seed=5, **kw).predict(test)
    np.testing.assert_array_equal(p1, p2)
    assert not np.array_equal(p1, p3)


def test_genes_file_and_id_mapping(tmp_path):
    """Inputs given as a file of symbols; a model fitted on Entrez IDs applies to symbol-named data."""
    from rnagen import datasets

    g = datasets.gtex26()[:200].copy()
    inputs = list(g.var["symbol"][:30])
    f = tmp_path / "genes.txt"
    f.write_text("symbol\n# chosen genes\n" + "\n".join(inputs) + "\n")
    assert rc.read_genes_file(f) == inputs
    rec = rc.fit(g, inputs=f)
    assert rec.input_names == list(g.var_names[:30])
    syn = g[:, :30].copy()
    syn.var_names = inputs
    full = rec.apply(syn)
    assert list(full.var_names) == list(g.var_names) and list(full.var["symbol"]) == list(g.var["symbol"])
    np.testing.assert_array_equal(full.X[:, :30], g.X[:, :30])
    assert rec.meta["log"]["applied"] is False            # gtex26 is already log2(RPKM+1)


def test_gene_scores_golden():
    y = np.array([[1.0, 0.0, 2.0], [2.0, 0.0, 2.0], [3.0, 0.0, 2.0], [4.0, 0.0, 2.0]])
    p = np.array([[1.5, 1.0, 2.0], [1.5, 0.0, 1.0], [3.5, 0.0, 2.0], [3.5, 0.0, 2.0]])
    r2, r = rc.gene_scores(y, p)
    # gene 0: SSE = 4 * 0.25 = 1, SST = 5 -> 0.8; r = corr([1,2,3,4], [1.5,1.5,3.5,3.5]) = 0.894427
    assert r2[0] == pytest.approx(0.8) and r[0] == pytest.approx(2 / np.sqrt(5))
    assert np.isnan(r2[1]) and np.isnan(r[1]) and np.isnan(r2[2])


@pytest.mark.filterwarnings("ignore:Variable names are not unique")
def test_new_data_naming_an_input_gene_in_two_columns_is_refused():
    """Profiles holding one input gene in two columns, under names the gene tables tie to it ('tbx4' and 'TBX4' for
    the fitted '9496') or under one repeated name: which one is the gene is unknown, so taking the first, whatever
    it holds, is refused with both named; one column per gene, named another way (Entrez ids written as floats) and
    in another order, gives the same predictions."""
    from rnagen import datasets

    g = datasets.gtex26()[:200].copy()
    rec = rc.fit(g, inputs=list(g.var_names[:20]), val_size=0, overrides=["linear.alphas=[1]"])
    syms = list(g.var["symbol"][:20])
    X = np.asarray(g.X[:, :20])
    new = ad.AnnData(np.hstack([np.full((g.n_obs, 1), 100.0, np.float32), X]), obs=g.obs,
                     var=pd.DataFrame(index=[syms[0].lower(), *syms]))
    for call in (rec.apply, rec.predict):
        with pytest.raises(DataError, match=rf"the data to reconstruct names 1 gene in more than one column \(e.g. "
                                            rf"'9496' as '{syms[0].lower()}' and '{syms[0]}'\).*--duplicates"):
            call(new)
    twice = ad.AnnData(np.hstack([np.full((g.n_obs, 1), 100.0, np.float32), X]), obs=g.obs,
                       var=pd.DataFrame(index=[g.var_names[0], *g.var_names[:20]]))
    with pytest.raises(DataError, match=r"names 1 gene in more than one column \(e.g. '9496' as '9496' and '9496'\)"):
        rec.predict(twice)
    names = list(g.var_names)
    names[20] = g.var["symbol"].iloc[20]          # a target gene by its symbol, and again in lower case
    test = ad.AnnData(np.hstack([np.asarray(g.X), np.asarray(g.X[:, [20]])]), obs=g.obs,
                      var=pd.DataFrame(index=[*names, names[20].lower()]))
    with pytest.raises(DataError, match=r"the test data names 1 gene in more than one column"):
        rec.score(test[150:].copy())
    named = ad.AnnData(X[:, ::-1].copy(), obs=g.obs, var=pd.DataFrame(index=[f"{e}.0" for e in g.var_names[:20]][::-1]))
    np.testing.assert_array_equal(rec.predict(named), rec.predict(g))


def test_training_data_naming_a_gene_in_two_columns_is_refused():
    """A symbol column beside the same gene's Ensembl column would make one an input and the other a target
    predicted from it: refused as rnagen data prepare refuses them, with its way on."""
    from rnagen import datasets

    g = datasets.gtex26()[:120].copy()
    ens = str(g.var["ensembl_id"].iloc[0])
    two = ad.AnnData(np.hstack([np.asarray(g.X), np.asarray(g.X[:, [0]]) + 0.5]), obs=g.obs,
                     var=pd.DataFrame(index=[*g.var_names, ens]))
    with pytest.raises(DataError, match=rf"'{g.var_names[0]}' and '{ens}' are the same gene.*--duplicates first"):
        rc.fit(two, inputs=list(g.var_names[:20]))


def test_two_versions_of_an_ensembl_id_are_refused_where_one_gene_is_matched():
    """Data holding two versions of one Ensembl ID (files of two GENCODE releases merged): new data with two
    versions of an input gene the reconstructor knows by another version, and training data with two versions of
    a gene the shipped tables do not know (a lncRNA), took the first column silently; now refused naming both
    columns. New data with the reconstructor's own version beside another take that column."""
    from rnagen import datasets

    g = datasets.gtex26()[:120]
    g = g[:, g.var["ensembl_id"].astype(str).str.startswith("ENSG").to_numpy()].copy()
    ens = [str(e) for e in g.var["ensembl_id"]]
    g.var_names = [f"{e}.5" for e in ens]
    rec = rc.fit(g, inputs=ens[:20], val_size=0, overrides=["linear.alphas=[1]"])
    assert rec.input_names == list(g.var_names[:20])
    X = np.asarray(g.X)
    two = ad.AnnData(np.hstack([X[:, [0]] + 100.0, X]), obs=g.obs,
                     var=pd.DataFrame(index=[f"{ens[0]}.6", *[f"{e}.7" for e in ens]]))
    for call in (rec.predict, rec.apply, rec.score):
        with pytest.raises(DataError, match=rf"'{ens[0]}.5' matches 2 versions of one Ensembl id in the "
                                            rf"(data to reconstruct|test data) \('{ens[0]}.6' and '{ens[0]}.7'\)"):
            call(two)
    own = ad.AnnData(np.hstack([X[:, [0]] + 100.0, X]), obs=g.obs,
                     var=pd.DataFrame(index=[f"{ens[0]}.6", *g.var_names]))
    np.testing.assert_array_equal(rec.predict(own), rec.predict(g))
    lnc = ad.AnnData(np.hstack([X, X[:, [0]] + 1.0, X[:, [1]]]), obs=g.obs,
                     var=pd.DataFrame(index=[*g.var_names, "ENSG00000299990.1", "ENSG00000299990.2"]))
    with pytest.raises(DataError, match=r"'ENSG00000299990.1' and 'ENSG00000299990.2' are the same gene"):
        rc.fit(lnc, inputs=[*ens[:20], "ENSG00000299990"])


def test_genes_file_as_spreadsheets_and_editors_write_it(tmp_path):
    """A genes file with a byte-order mark (Windows editors), a 'Gene Symbol' header (GEO's) or Entrez ids written
    as floats (7157.0: an exported numeric column) names the genes of the data, read as rnagen data prepare reads
    its list, not as missing input genes ('\ufeffTBX4', 'Gene Symbol', '9496.0')."""
    from rnagen import datasets

    g = datasets.gtex26()[:60].copy()
    sym = list(g.var["symbol"][:3])
    files = {"bom.txt": ("\n".join(sym) + "\n", "utf-8-sig"),
             "header.tsv": ("Gene Symbol\tdescription\n" + "\n".join(f"{s}\tx" for s in sym) + "\n", "utf-8"),
             "floats.txt": ("\n".join(f"{e}.0" for e in g.var_names[:3]) + "\n", "utf-8")}
    for name, (text, enc) in files.items():
        f = tmp_path / name
        f.write_text(text, encoding=enc)
        assert rc.read_genes_file(f) in (sym, list(g.var_names[:3])), name
        assert rc.fit(g, inputs=f, val_size=0, overrides=["linear.alphas=[1]"]).input_names == list(g.var_names[:3])


def test_an_input_named_twice_under_two_ids_is_named():
    """A symbol and an Entrez id of the same gene in the input list: the error names both and the data's gene."""
    from rnagen.datasets import gtex26

    a = gtex26()
    with pytest.raises(DataError, match=r"same gene twice under different IDs \('TBX4' and '9496': '9496' of the "
                                        r"data\); remove one of them"):
        rc.fit(a, inputs=["TBX4", "9496", *list(a.var_names[1:3])])


def test_too_few_profiles_to_validate_or_score_are_refused(make_adata, linear_problem):
    """A fit on 3 profiles chose its penalty from 'validation mean R² nan on 1 samples'; a score on 2 profiles
    reported a mean R² of -3,074 (genes that happen not to vary over them). Both refused, naming the minimum."""
    train, test = _split(linear_problem, make_adata)
    with pytest.raises(DataError, match=r"5 training samples are too few to hold out 3 .* give at least 6, or fit "
                                        r"without validation \(val_size=0 with one penalty"):
        rc.fit(train[:5].copy(), inputs=linear_problem["inputs"])
    small = rc.fit(train[:5].copy(), inputs=linear_problem["inputs"], val_size=0.0,
                   overrides=["linear.alphas=[1.0]"])   # one fixed penalty: taken
    rc.fit(train[:6].copy(), inputs=linear_problem["inputs"])   # 3 held out, 3 to fit on
    with pytest.raises(DataError, match=r"need at least 5 test samples to score .* got 4"):
        small.score(test[:4].copy())
    assert np.isfinite(small.score(test[:5].copy())["r2"]["mean"])


def _unrecorded(X: np.ndarray, genes: list[str]):
    """An AnnData of ``X`` with no recorded log state (a CSV's): the scale is judged from the values."""
    import anndata as ad

    a = ad.AnnData(X.astype(np.float32))
    a.obs_names, a.var_names = [f"s{i}" for i in range(len(X))], genes
    return a


def _low_inputs(seed: int = 0, n: int = 80):
    """Log-scale profiles whose 10 input genes lie in [2, 4.5] (3 to 21.6 before the log) and 30 targets in [7, 12]
    (127 to 4,095): linear input genes stay in the log range."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 10))
    inputs = 3.25 + 0.4 * np.clip(z, -3, 3)
    targets = 9.5 + 0.5 * (z @ rng.normal(size=(10, 30))) / np.sqrt(10)
    genes = [f"G{i}" for i in range(40)]
    return np.hstack([inputs, np.clip(targets, 7, 12)]), genes


def test_the_log_step_and_the_input_scale_are_judged_as_the_data_are():
    """Without a recorded log state: log values whose extremes are whole numbers (0 and 16) are not logged again
    at fit; linear inputs that stay in the log range are told from log ones by the fitted inputs' means, both
    ways (a log-fitted reconstructor refuses them, a linear-fitted one takes them)."""
    L, genes = _low_inputs()
    inputs = genes[:10]
    # log-scale values rounded to 2 decimals, with 0 and 16 among them: log-scale, not counts
    W = np.round(np.hstack([L, np.full((len(L), 1), 8.0)]), 2)
    W[0, -1], W[1, -1] = 0.0, 16.0
    rec = rc.fit(_unrecorded(W, genes + ["G40"]), inputs=inputs, val_size=0.25, seed=0)
    assert rec.meta["log"]["applied"] is False
    train, test = L[:60], L[60:]
    on_log = rc.fit(_unrecorded(train, genes), inputs=inputs, val_size=0.25, seed=0)
    assert on_log.meta["log"]["applied"] is False
    lin_test = _unrecorded(np.exp2(test) - 1, genes)
    assert float(lin_test.X[:, :10].max()) < 25
    with pytest.raises(DataError, match="look like values before the log"):
        on_log.apply(lin_test)
    on_log.apply(_unrecorded(test, genes))   # the same profiles in log units: taken
    on_lin = rc.fit(_unrecorded(np.exp2(train) - 1, genes), inputs=inputs, val_size=0.25, seed=0)
    assert on_lin.meta["log"]["applied"] is True
    out = on_lin.apply(lin_test)              # linear inputs below 25 for a linear fit: taken, not "log-scale"
    assert np.corrcoef(np.log2(np.asarray(out.X)[:, 10:] + 1).ravel(), test[:, 10:].ravel())[0, 1] > 0.5
    with pytest.raises(DataError, match="look log-scale"):
        on_lin.apply(_unrecorded(test, genes))


def test_z_scored_inputs_given_to_a_reconstructor_fitted_on_expression_values_are_refused():
    """Input genes standardised per gene (z-scores, negative and of mean 0) given to a reconstructor fitted on log
    expression: each gene would read as expressed near the lowest level the training data show, and every
    prediction would be off; refused, whatever the file records. A reconstructor fitted on z-scores takes them."""
    L, genes = _low_inputs()
    train, test = L[:60], L[60:]
    on_log = rc.fit(_unrecorded(train, genes), inputs=genes[:10], val_size=0.25, seed=0)
    z = (test - test.mean(axis=0)) / test.std(axis=0)
    recorded = _unrecorded(z, genes)
    recorded.uns["rnagen"] = {"log": {"logged": True, "transform": "log2(x+1)", "pseudocount": 1.0}}
    for given in (_unrecorded(z, genes), recorded):
        with pytest.raises(DataError, match=r"its input genes are standardised per gene \(each gene's mean 0 and sd 1: "
                                            r"z-scores\), but the reconstructor was fitted on expression values"):
            on_log.apply(given)
    zt = (train - train.mean(axis=0)) / train.std(axis=0)
    rc.fit(_unrecorded(zt, genes), inputs=genes[:10], val_size=0.25, seed=0).apply(_unrecorded(z, genes))


def test_wrong_types_and_objects_are_refused(make_adata, tmp_path):
    from rnagen.errors import ConfigError

    rng = np.random.default_rng(0)
    a = make_adata(rng.normal(size=(12, 6)) + 5.0, [f"g{j}" for j in range(6)])
    for bad in (np.asarray(a.X), a.to_df(), None, "full.h5ad"):
        with pytest.raises(DataError, match=rf"^fit: give an AnnData \(samples x genes\), not {type(bad).__name__}"):
            rc.fit(bad, inputs=["g0"])
    with pytest.raises(DataError, match="none of the 978 L1000 landmark genes found"):
        rc.fit(a)   # the default inputs, on data without landmark genes
    for inputs in (5, None):
        with pytest.raises(DataError, match="^inputs must be 'landmarks', a list of gene ids or the path of a genes"):
            rc.fit(a, inputs=inputs)
    with pytest.raises(DataError, match=r"^label_key must be the name of a sample \(obs\) column"):
        rc.fit(a, inputs=["g0"], label_key=["group"])
    for config in ({"method": "linear"}, rc.LinearConfig(), "linear"):
        with pytest.raises(ConfigError, match=rf"expects a ReconstructConfig, got {type(config).__name__}"):
            rc.fit(a, inputs=["g0"], config=config)
    with pytest.raises(ConfigError, match="^Reconstructor expects a ReconstructConfig, got MLPConfig"):
        rc.Reconstructor(rc.MLPConfig())
    for overrides, got in ((5, "int"), ([5], "list of int")):
        with pytest.raises(ConfigError, match=rf"^overrides are 'key=value' strings .* not {got}$"):
            rc.fit(a, inputs=["g0"], overrides=overrides)
    # what works: an array of ids, a section given as a dict
    cfg = rc.ReconstructConfig(linear={"alphas": [1.0]}, val_size=0.0)
    assert isinstance(cfg.linear, rc.LinearConfig)
    rec = rc.fit(a, inputs=np.array(["g0", "g1"]), config=cfg)
    assert rec.input_names == ["g0", "g1"]
    with pytest.raises(DataError, match=r"^the test data: give an AnnData \(samples x genes\), not ndarray"):
        rec.score(np.asarray(a.X))
    with pytest.raises(ConfigError, match="^score: per_gene must be True or False, got 'no'"):
        rec.score(a, per_gene="no")
    with pytest.raises(ConfigError, match=r"^reconstructor folder must be a path \(a str or pathlib.Path\), not int"):
        rec.save(5)
    with pytest.raises(ConfigError, match=r"^load: the reconstructor folder must be a path .* not NoneType"):
        rc.load(None)


@pytest.mark.parametrize("method", ["linear", "mlp"])
def test_predictions_of_data_at_or_above_0_stay_there(make_adata, method):
    """log2(x+1) values prepared upstream (no log step in the reconstructor): a target gene near 0 was predicted
    below it (values no profile has) by the ridge map and the MLP; apply, predict and score clip at 0, which
    brings every prediction nearer the truth; data with negative values (z-scores) are not bounded. The output of
    an input without a scale record (read from a table) records the training data's scale."""
    from rnagen.pp import set_log_state

    rng = np.random.default_rng(0)
    n, g = 200, 12
    latent = rng.normal(size=(n, 3))
    X = latent @ rng.normal(size=(3, g)) + rng.normal(scale=0.5, size=(n, g)) + 1.0
    X[:, 6:] -= 1.6   # targets near 0, clipped there as log2(x+1) data are
    X = np.maximum(X, 0.0)
    names = [f"g{j}" for j in range(g)]
    train, test = make_adata(X[:150], names), make_adata(X[150:], names)
    for a in (train, test):
        set_log_state(a, logged=True, transform="log2(x+1)")
    overrides = ["linear.alphas=[0.1]"] if method == "linear" else ["mlp.hidden=[8]", "mlp.max_epochs=30"]
    rec = rc.fit(train, inputs=names[:6], config=rc.ReconstructConfig(method=method, val_size=0.2),
                 overrides=overrides)
    assert [s.kind for s in rec.pipe_out.steps] == ["nonnegative", "standard"]
    out = rec.apply(test)
    assert np.asarray(out.X).min() >= 0 and (np.asarray(out.X)[:, 6:] == 0).any()
    assert rec.predict(test).min() >= 0
    raw = rec.pipe_out.steps[-1].inverse_transform(rec._predict_z(rec.pipe_in.transform(X[150:, :6])))
    assert raw.min() < 0   # what the map itself gives
    truth = X[150:, 6:]
    assert rec.score(test)["mse"] == pytest.approx(float(np.mean((np.maximum(raw, 0) - truth) ** 2)), rel=1e-5)
    assert rec.score(test)["mse"] < float(np.mean((raw - truth) ** 2))
    # an input without a scale record (a table) gets the training data's in the output; one with a record keeps it
    from rnagen.pp import log_state

    bare = make_adata(X[150:], names)
    assert log_state(bare) is None and log_state(rec.apply(bare))["logged"]
    assert log_state(rec.apply(bare))["transform"] == "log2(x+1), as the reconstructor's training data"
    assert log_state(out)["transform"] == "log2(x+1)"
    counts = make_adata(np.round(np.exp2(X) - 1) * 10, names)   # linear counts: the reconstructor logs them
    lin = rc.fit(counts, inputs=names[:6], config=rc.ReconstructConfig(val_size=0.0), overrides=["linear.alphas=[1]"])
    assert log_state(lin.apply(make_adata(np.asarray(counts.X)[:20], names))) == {
        "logged": False, "transform": "linear, as the reconstructor's training data", "pseudocount": pytest.approx(
            np.nan, nan_ok=True)}
    z = make_adata(X - X.mean(0), names)   # centred: negative values, no bound
    set_log_state(z, logged=True, transform="centred")
    free = rc.fit(z, inputs=names[:6], config=rc.ReconstructConfig(val_size=0.0), overrides=["linear.alphas=[0.1]"])
    assert [s.kind for s in free.pipe_out.steps] == ["standard"]


@pytest.mark.parametrize("label_key", [None, "group"])
def test_the_validation_split_keeps_copies_of_a_profile_on_one_side(make_adata, linear_problem, monkeypatch,
                                                                     label_key):
    """Profiles in the training data twice (planted copies of 60 of 200) are held out together or not at all: a
    held-out profile whose inputs copy a training profile's is predicted as that profile's targets, and would
    choose the penalty that memorises best. The share is counted in distinct profiles."""
    from rnagen.reconstruct.model import Reconstructor

    train, _ = _split(linear_problem, make_adata)
    data = ad.concat([train[:200], train[:60]])
    data.obs_names = [f"s{i}" for i in range(260)]
    held: list[np.ndarray] = []
    split = Reconstructor._val_split

    def spy(self, *a, **kw):
        held.append(split(self, *a, **kw))
        return held[-1]

    monkeypatch.setattr(Reconstructor, "_val_split", spy)
    rec = rc.fit(data, inputs=linear_problem["inputs"], label_key=label_key)
    val = set(held[-1].tolist())
    assert all((i in val) == (200 + i in val) for i in range(60))
    assert len(val) == rec.meta["n_val"] and 20 <= len(val) <= 26   # 20 of the 200 distinct profiles
    if label_key is not None:   # a copy labelled another way: a data error, named
        data.obs["group"] = data.obs["group"].cat.set_categories(["a", "b"])
        data.obs.iloc[201, data.obs.columns.get_loc("group")] = "a"
        with pytest.warns(UserWarning, match=r"1 profile\(s\) appear under several sample ids with different "
                                             r"labels \(e\.g\. 's1' labelled 'b' and its copy 's201' labelled 'a'\)"):
            rc.fit(data, inputs=linear_problem["inputs"], label_key=label_key)


def test_inputs_logged_in_another_base_than_the_fit_are_converted_to_it():
    """A reconstructor fitted on log2(x+1) profiles given ln(x+1) inputs (scanpy's log1p): the inputs are made
    log2(x+1) (times log2(e), exact), as rnagen evaluate scores such sets, whether the log step was decided by the
    values or fixed; apply, predict and score then give what the log2(x+1) inputs give, the caller's object is
    not changed, and the conversion is said (the reconstruct step's ``input_log``, score's ``log_note``). Inputs
    of a recorded base and another pseudocount (ln(x+0.001)) are made log2(x+1) too, exactly."""
    import math

    from rnagen.pp.history import get_history, log_state, set_log_state

    L, genes = _low_inputs()
    train, test = L[:60], L[60:]

    def recorded(values, base, pc=1.0):
        a = _unrecorded(values, genes)
        name = "ln" if base == math.e else "log2"
        set_log_state(a, logged=True, transform=f"{name}(x+{pc:g})", pseudocount=pc, base=base)
        return a

    for log in ("auto", "none"):
        rec = rc.fit(recorded(train, 2.0), inputs=genes[:10], val_size=0.25, seed=0, overrides=[f"log={log}"])
        assert rec.meta["log"]["data_log_base"] == 2.0
        assert rec.meta["log"]["data_log_pseudocount"] == 1.0
        ln = recorded((test / math.log2(math.e)).astype(np.float32), math.e)
        kept = ln.X.copy()
        out, ref = rec.apply(ln), rec.apply(recorded(test, 2.0))
        np.testing.assert_allclose(out.X, ref.X, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(ln.X, kept)   # the caller's object unchanged
        assert log_state(ln)["base"] == math.e and log_state(out)["base"] == 2.0
        assert get_history(out)[-1]["input_log"] == (
            "the data to reconstruct: its ln(x+1) converted to log2(x+1) (x 1.443, exact), the reconstructor's "
            "training data's base")
        np.testing.assert_allclose(rec.predict(ln), rec.predict(recorded(test, 2.0)), rtol=1e-5, atol=1e-5)
        res, res2 = rec.score(ln, per_gene=False), rec.score(recorded(test, 2.0), per_gene=False)
        assert res["r2"]["median"] == pytest.approx(res2["r2"]["median"], abs=1e-5)
        assert res["log_note"].startswith("the test data: its ln(x+1) converted to log2(x+1) (x 1.443, exact)")
        assert "log_note" not in res2
        # ln(x+0.001) inputs: made log2(x+1) by v' = log2(e^v - 0.001 + 1), exact
        tpm = recorded(np.log(np.exp2(test.astype(np.float64)) - 1 + 0.001).astype(np.float32), math.e, pc=0.001)
        np.testing.assert_allclose(rec.apply(tpm).X, ref.X, rtol=1e-4, atol=1e-4)


def test_log2_inputs_are_converted_to_a_fit_on_ln_values():
    """A reconstructor fitted on ln(x+1) profiles (its record: base e, pseudocount 1) given log2(x+1) inputs: the
    inputs are made ln(x+1) (divided by log2(e), exact), the fit's scale, and the output is in its units; scanpy's
    ``uns["log1p"]`` of an AnnData given in memory is read as its log state at fit and at apply, as a file's is."""
    import math

    from rnagen.pp.history import get_history, log_state, set_log_state

    L, genes = _low_inputs()
    train, test = L[:60] / math.log2(math.e), L[60:]
    ln_train = _unrecorded(train, genes)
    ln_train.uns["log1p"] = {"base": None}   # sc.pp.log1p's record, no rnagen state
    rec = rc.fit(ln_train, inputs=genes[:10], val_size=0.25, seed=0)
    assert log_state(ln_train) is None   # the caller's object unchanged
    assert rec.meta["log"]["data_log_base"] == pytest.approx(math.e)
    log2 = _unrecorded(test, genes)
    set_log_state(log2, logged=True, transform="log2(x+1)", pseudocount=1.0, base=2.0)
    ln_test = _unrecorded((test / math.log2(math.e)).astype(np.float32), genes)
    ln_test.uns["log1p"] = {"base": None}
    out, ref = rec.apply(log2), rec.apply(ln_test)
    np.testing.assert_allclose(out.X, ref.X, rtol=1e-5, atol=1e-5)
    assert log_state(out)["base"] == pytest.approx(math.e)
    assert get_history(out)[-1]["input_log"] == (
        "the data to reconstruct: its log2(x+1) converted to ln(x+1) (x 0.6931, exact), the reconstructor's "
        "training data's base")
    assert "input_log" not in get_history(ref)[-1]
    del rec.meta["log"]["data_log_pseudocount"]   # a fit that recorded no pseudocount: ln(x+c) of unknown c
    with pytest.raises(DataError, match=r"logs of two bases"):
        rec.apply(log2)


def test_a_log2_record_without_a_base_entry_is_log2_beside_ln_inputs():
    """A log state rnagen wrote without a ``base`` entry (``{"logged": True, "transform": "log2(x+1)"}``, its
    records of an earlier version) names its base in the transform: a reconstructor fitted on such data, or whose
    own record lacks ``data_log_base``, converts ln(x+1) inputs to log2(x+1) as it does for a record with the
    base."""
    import math

    from rnagen.pp.history import get_history, set_log_state

    L, genes = _low_inputs()
    train, test = L[:60], L[60:]
    old = _unrecorded(train, genes)
    old.uns["rnagen"] = {"log": {"logged": True, "transform": "log2(x+1)", "pseudocount": 1.0}}
    ln = _unrecorded(test / math.log2(math.e), genes)
    set_log_state(ln, logged=True, transform="ln(x+1)", pseudocount=1.0, base=math.e)
    rec = rc.fit(old, inputs=genes[:10], val_size=0.25, seed=0)
    assert rec.meta["log"]["data_log_base"] == 2.0
    log2 = _unrecorded(test, genes)
    log2.uns["rnagen"] = {"log": {"logged": True, "transform": "log2(x+1)", "pseudocount": 1.0}}
    ref = rec.apply(log2)
    out = rec.apply(ln)   # converted to log2(x+1), as beside a record with the base
    np.testing.assert_allclose(out.X, ref.X, rtol=1e-5, atol=1e-5)
    assert "ln(x+1) converted to log2(x+1)" in get_history(out)[-1]["input_log"]
    del rec.meta["log"]["data_log_base"]   # the record of a fit that names its data's scale only
    np.testing.assert_array_equal(rec.apply(ln).X, out.X)
    out = rec.apply(old)
    assert out.shape == old.shape


def test_inputs_of_another_pseudocount_than_the_fit_are_converted_or_refused():
    """A reconstructor fitted on log2(x+1) profiles given log2(TPM+0.001) inputs (UCSC Xena's scale, the same base):
    the inputs are made log2(x+1) by v' = log2(2^v - 0.001 + 1), exact, and apply gives what the log2(x+1)
    inputs give, said in ``input_log``; values below log2(0.001) are no log2(x+0.001) of expression: refused in
    one line naming both scales; a record of no pseudocount is taken as it is, with a note."""
    from rnagen.pp.history import get_history, set_log_state

    L, genes = _low_inputs()
    train, test = L[:60], L[60:]

    def recorded(values, pc, transform):
        a = _unrecorded(values, genes)
        set_log_state(a, logged=True, transform=transform, pseudocount=pc, base=2.0)
        return a

    rec = rc.fit(recorded(train, 1.0, "log2(x+1)"), inputs=genes[:10], val_size=0.25, seed=0)
    xena = np.log2(np.exp2(test.astype(np.float64)) - 1 + 0.001).astype(np.float32)
    out, ref = rec.apply(recorded(xena, 0.001, "log2(TPM+0.001)")), rec.apply(recorded(test, 1.0, "log2(x+1)"))
    np.testing.assert_allclose(out.X, ref.X, rtol=1e-4, atol=1e-4)
    assert get_history(out)[-1]["input_log"] == (
        "the data to reconstruct: its log2(TPM+0.001) converted to log2(x+1) (log2(2^v - 0.001 + 1), exact), the "
        "reconstructor's training data's scale")
    bad = xena.copy()
    bad[0, 0] = -12.0
    with pytest.raises(DataError, match=r"1 value\(s\) of its log2\(TPM\+0\.001\) lie below -9\.966 .*cannot be made "
                                        r"log2\(x\+1\) exactly beside log2\(x\+1\): prepare both from their linear"):
        rec.apply(recorded(bad, 0.001, "log2(TPM+0.001)"))
    res = rec.score(recorded(test, None, "log2, as given (--scale log)"), per_gene=False)
    assert res["log_note"].startswith("the test data's log2, as given (--scale log) records no pseudocount beside the "
                                      "reconstructor's training data's log2(x+1): taken as they are")


def test_linear_inputs_with_a_few_values_below_0_are_judged_linear():
    """Profiles on the linear scale with a few values below 0 (a generator's noise): given to a reconstructor fitted
    on log-scale data they are refused as values before the log, not taken as log values because one is below 0;
    given to one that takes log2(x+1) itself they are refused naming the values below 0 and the clip at 0, not
    called log-scale (values up to thousands) nor 'already log-transformed' where their record says linear. Log
    values below 0 (log2(TPM+0.001)) stay log values."""
    from rnagen.pp.history import set_log_state

    L, genes = _low_inputs(n=100)
    L = L + 3.0                                  # inputs 5 to 7.5 in log2 units: 31 to 180 before the log
    train, test = L[:80], L[80:]
    on_log = rc.fit(_unrecorded(train, genes), inputs=genes[:10], val_size=0.25, seed=0)
    on_lin = rc.fit(_unrecorded(np.exp2(train) - 1, genes), inputs=genes[:10], val_size=0.25, seed=0)
    assert on_log.meta["log"]["applied"] is False and on_lin.meta["log"]["applied"] is True
    lin = np.exp2(test) - 1
    lin[0, 0], lin[3, 2] = -0.2, -5.0
    with pytest.raises(DataError, match=r"look like values before the log \(up to"):
        on_log.apply(_unrecorded(lin, genes))
    recorded = _unrecorded(lin, genes)
    set_log_state(recorded, logged=False, transform="linear")
    with pytest.raises(DataError, match=r"look like values before the log"):
        on_log.apply(recorded)
    for data in (_unrecorded(lin, genes), recorded):
        with pytest.raises(DataError, match=r"2 values of its input genes are below 0 \(first: sample 's0', gene "
                                            r"'G0': -0\.2\).*set them to 0 \(clip the profiles at 0\)"):
            on_lin.apply(data)
    clipped = on_lin.apply(_unrecorded(np.maximum(lin, 0), genes))
    assert np.isfinite(clipped.X).all() and float(clipped.X.min()) >= 0
    # log2(TPM + 0.001) inputs: values below 0 are log values, taken by a fit on such values
    tpm = np.log2(np.exp2(L) - 1 + 0.001)
    tpm[:, 0] = np.where(np.arange(len(L)) % 4 == 0, np.log2(0.001), tpm[:, 0])
    on_tpm = rc.fit(_unrecorded(tpm[:80], genes), inputs=genes[:10], val_size=0.25, seed=0)
    assert on_tpm.meta["log"]["applied"] is False
    assert on_tpm.apply(_unrecorded(tpm[80:], genes)).n_obs == 20
    with pytest.raises(DataError, match="look log-scale"):
        on_lin.apply(_unrecorded(tpm[80:], genes))
