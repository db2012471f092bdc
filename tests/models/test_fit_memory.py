"""Fitting on a wide matrix holds the training matrix as given, its float32 transform and blocks of float64 values,
never a float64 copy of the whole (a GTEx-sized matrix is 3.8 GB in float32, 7.6 GB in float64 per copy), and fits
the numbers a whole-matrix float64 fit gives, to the last bit."""
import tracemalloc

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen.models import get_model
from rnagen.pp import history
from rnagen.pp.transforms import make_pipeline

#: values per block in these tests: blocks of a few hundred genes, the last of them a single gene on its own
#: unless merged (19,948 = 61 x 327 + 1 genes over 200 profiles)
BLOCK = 1 << 16


def _wide(order: str, n: int = 200, genes: int = 19948, seed: int = 0) -> ad.AnnData:
    """Linear positive values (no zeros, not whole numbers: log2(x+1) and standardised, no zero calibration), four
    classes, float32 in ``order``."""
    rng = np.random.default_rng(seed)
    X = (rng.lognormal(2.0, 1.0, (n, genes)) * rng.lognormal(0.0, 1.0, genes)).astype(np.float32)
    X = np.asfortranarray(X) if order == "F" else np.ascontiguousarray(X)
    y = np.repeat(["a", "b", "c", "d"], -(-n // 4))[:n]
    return ad.AnnData(X, obs=pd.DataFrame({"label": pd.Categorical(y)}, index=[f"s{i}" for i in range(n)]),
                      var=pd.DataFrame(index=[f"g{j}" for j in range(genes)]))


def test_column_blocks_never_leave_one_gene_alone(monkeypatch):
    """NumPy sums the columns of a row-major block of one column pairwise and those of two or more row after row:
    a lone last column joins the block before it."""
    from rnagen.pp.history import column_spans

    monkeypatch.setattr(history, "_BLOCK_VALUES", 10)
    assert column_spans(np.zeros((5, 7))) == [(0, 2), (2, 4), (4, 7)]
    assert column_spans(np.zeros((5, 6))) == [(0, 2), (2, 4), (4, 6)]
    assert column_spans(np.zeros((5, 1))) == [(0, 1)]
    assert column_spans(np.zeros((2, 9))) == [(0, 5), (5, 9)]


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("spec", ["log2p1+standard", "nonnegative+standard", "floor+minmax", "standard", "maxabs",
                                  "identity"])
def test_the_pipeline_fitted_a_block_of_genes_at_a_time_is_the_whole_matrix_fit(monkeypatch, order, spec):
    """Parameters, values, layout and each gene's largest model value of :meth:`Pipeline.fit_transform_columns`
    equal those of the whole float64 matrix's :meth:`Pipeline.fit_transform`, bit for bit (NumPy sums a column
    pairwise in a column-major matrix and row after row in a row-major one: each block keeps the matrix's layout)."""
    from rnagen.pp.history import column_spans

    monkeypatch.setattr(history, "_BLOCK_VALUES", 1000)
    X = np.asarray(_wide(order, n=50, genes=41).X)
    if spec.startswith("floor"):
        from rnagen.pp.transforms import Floor

        steps: list = [Floor(float(X.min())), "minmax"]
    else:
        steps = spec.split("+")
    whole, blocks = make_pipeline(steps), make_pipeline(steps)
    ref = whole.fit_transform(np.asarray(X, dtype=np.float64))
    out, top = blocks.fit_transform_columns(X)
    assert column_spans(X) == [(0, 20), (20, 41)]   # the last gene joined the block before it
    assert out.dtype == np.float32 and np.array_equal(out, ref.astype(np.float32))
    assert np.isfortran(out) == np.isfortran(ref.astype(np.float32))
    assert np.array_equal(top, ref.max(axis=0))
    a, b = whole.to_state(), blocks.to_state()
    assert a[0] == b[0] and a[1].keys() == b[1].keys()
    assert all(np.array_equal(a[1][k], b[1][k]) for k in a[1])


def test_the_log_step_refuses_negative_values_by_their_count_in_the_whole_matrix(monkeypatch):
    """Blocks of genes give the error a whole-matrix log step gives: every negative value counted."""
    from rnagen.errors import DataError

    monkeypatch.setattr(history, "_BLOCK_VALUES", 100)
    X = np.ones((20, 30), dtype=np.float32)
    X[3, 2] = X[17, 29] = X[9, 15] = -1
    with pytest.raises(DataError, match="log transform got 3 negative values"):
        make_pipeline("log2p1+standard").fit_transform_columns(X)


@pytest.mark.parametrize("spec", ["nonnegative+log2p1", "standard+log2p1"])
def test_a_later_log_step_refuses_negative_values_by_their_count_in_the_whole_matrix(monkeypatch, spec):
    """A log step after another step is given that step's values: the negative ones in every block are counted,
    as :meth:`Pipeline.fit_transform` counts them on the whole matrix, not those of the first block that has any."""
    from rnagen.errors import DataError

    monkeypatch.setattr(history, "_BLOCK_VALUES", 40)   # blocks of 2 genes over 20 samples
    X = np.ones((20, 30), dtype=np.float32)
    X[3, 2] = X[17, 29] = X[9, 15] = -1
    X[:, 20:22] = np.arange(20, dtype=np.float32)[:, None]   # standardised: 10 values below 0 in each gene
    with pytest.raises(DataError) as whole:
        make_pipeline(spec).fit_transform(np.asarray(X, dtype=np.float64))
    n = 3 if spec.startswith("nonnegative") else 3 + 2 * 10
    assert f"log transform got {n} negative values" in str(whole.value)
    with pytest.raises(DataError, match=f"log transform got {n} negative values"):
        make_pipeline(spec).fit_transform_columns(X)


@pytest.mark.parametrize("order", ["C", "F"])
def test_the_gaussian_fit_on_a_wide_matrix_holds_no_float64_copy_of_it(monkeypatch, order):
    """`fit` of the per-class Gaussian on 200 x 19,948 float32 values (diagonal covariance) holds less than twice
    the float32 matrix beside it: its float32 transform and blocks of genes in float64, where a whole-matrix
    float64 fit holds several float64 copies (each twice the matrix) at once. Its pipeline, class means and
    standard deviations are those of the textbook float64 fit on the whole matrix, bit for bit, and so are its
    draws."""
    import sklearn.covariance  # noqa: F401  (the import's own allocations are not the fit's)

    monkeypatch.setattr(history, "_BLOCK_VALUES", BLOCK)
    data = _wide(order)
    X = np.asarray(data.X)
    model = get_model("gaussian")()
    model.fit(data, label_key="label", seed=0, progress=False)   # warm: the first fit's imports and caches
    model = get_model("gaussian")()
    tracemalloc.start()
    model.fit(data, label_key="label", seed=0, progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * X.nbytes, (peak, X.nbytes)
    assert model.pipeline.spec == "log2p1+standard" and model.zero_threshold is None

    # the whole-matrix float64 fit, as a textbook would write it
    ref = make_pipeline("log2p1+standard")
    model_values = ref.fit_transform(np.asarray(X, dtype=np.float64))
    X64 = np.asarray(model_values.astype(np.float32), dtype=np.float64)   # what the model is fitted to
    y = data.obs["label"].cat.codes.to_numpy()
    assert all(np.array_equal(v, model.pipeline.to_state()[1][k]) for k, v in ref.to_state()[1].items())
    assert np.array_equal(model.means, np.stack([X64[y == c].mean(axis=0) for c in range(4)]))
    assert np.array_equal(model.factors, np.stack([np.sqrt(np.maximum(X64[y == c].var(axis=0), 1e-12))
                                                   for c in range(4)]))
    assert np.array_equal(model.upper, np.minimum(
        model_values.max(axis=0) + 3.0,
        ref.transform(((X.max(axis=0).astype(np.float64) + 1.0) * 8.0 - 1.0)[None, :])[0]).astype(np.float32))

    monkeypatch.setattr(history, "_BLOCK_VALUES", 1 << 40)   # one block: the whole matrix
    whole = get_model("gaussian")().fit(data, label_key="label", seed=0, progress=False)
    assert np.array_equal(np.asarray(model.sample(n_per_label=5, seed=3).X),
                          np.asarray(whole.sample(n_per_label=5, seed=3).X))


def test_a_missing_value_in_a_later_block_is_named_with_the_whole_matrix_count(monkeypatch):
    """The check for NaN/inf, a block of rows at a time, names the first such value and counts them all."""
    from rnagen.errors import DataError

    monkeypatch.setattr(history, "_BLOCK_VALUES", 40)
    data = _wide("C", n=40, genes=20)
    data.X[25, 7] = np.nan
    data.X[31, 2] = np.inf
    with pytest.raises(DataError, match=r"the data contain 2 NaN/inf values \(first: sample 's25', gene 'g7'\)"):
        get_model("gaussian")().fit(data, label_key="label", seed=0, progress=False)


def _old_pca(X, k=None):
    """The textbook principal components of :func:`rnagen.models._subspace._pca` (the exact SVD: fewer than 1,025
    profiles), on a centred copy."""
    mu = X.mean(axis=0)
    _, s, Vt = np.linalg.svd(X - mu, full_matrices=False)
    var = s ** 2 / max(len(X) - 1, 1)
    return (mu, Vt, var) if k is None else (mu, Vt[:k], var[:k])


def _old_subspace(X, y, n_labels, seed):
    """The principal-component space of :mod:`rnagen.models._subspace` on a whole float64 copy of ``X``, every step
    a new array: the reference for the fit that centres in place."""
    from rnagen.models._subspace import KEEP_RATIO, MAX_COMPONENTS, _class_moments
    from rnagen.pp.copies import copy_labels
    from rnagen.train.validation import stratified_holdout

    X = np.asarray(X, dtype=np.float64)
    a, b = stratified_holdout(y, fraction=0.5, seed=seed, groups=copy_labels(X))
    mu, Vt, var = _old_pca(X[a])
    ratio = ((X[b] - mu) @ Vt.T).var(axis=0, ddof=0) / np.maximum(var, 1e-12)
    below = np.flatnonzero(ratio < KEEP_RATIO)
    k = max(1, min(int(below[0]) if len(below) else len(ratio), len(X) - 1, X.shape[1], MAX_COMPONENTS))
    V = Vt[:k]

    def residual(Z, mu, V):
        A = Z - mu   # named: NumPy would write A - P into a temporary A, in A's layout
        return A - (A @ V.T) @ V

    rm, rv = _class_moments(residual(X[a], mu, V), y[a], n_labels)
    Rb = residual(X[b], mu, V) - rm[y[b]]
    scale = max(1.0, float((Rb ** 2).sum() / max(float(rv[y[b]].sum()), 1e-12)))
    mu, V, var = _old_pca(X, k)
    R = residual(X, mu, V)
    rm, rv = _class_moments(R, y, n_labels)
    kept = float(1.0 - (R ** 2).sum() / float(((X - mu) ** 2).sum()))
    return k, scale, kept, [mu, V, np.sqrt(np.maximum(var, 1e-12)), rm, np.sqrt(np.maximum(rv * scale, 1e-12))]


@pytest.mark.parametrize("order", ["C", "F"])
def test_the_principal_component_space_holds_one_float64_copy_of_the_profiles(monkeypatch, order):
    """:func:`fit_subspace` on 200 x 19,948 float32 standardised profiles holds at most the float64 profiles
    centred, their directions and one more profiles-sized array (the projection the residual is written over, or
    the squares of the energy's sum) beside the matrix, not a float64 copy, its centred copy, the projection and
    the residual at once; and fits, to the last bit, the space and record the whole-copy fit gives (the residual's
    energy summed in the row-major order of ``A - (A Vᵀ) V`` for a column-major matrix too). The copies' search,
    which has its own blocks, is given its answer."""
    from rnagen.models._subspace import fit_subspace
    from rnagen.pp import copies

    data = _wide(order)
    Z = make_pipeline("log2p1+standard").fit_transform(np.asarray(data.X, dtype=np.float64))
    X = np.asarray(Z.astype(np.float32), order=order)
    y = data.obs["label"].cat.codes.to_numpy()
    fit_subspace(X[:20, :50], y[:20], 4, seed=0)   # warm: the first call's imports
    groups = copies.copy_labels(X)
    monkeypatch.setattr(copies, "copy_labels", lambda _: groups)
    tracemalloc.start()
    codec, record = fit_subspace(X, y, 4, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    f64 = X.size * 8
    assert peak < 2.5 * f64, (peak / f64)
    monkeypatch.undo()

    k, scale, kept, arrays = _old_subspace(X, y, 4, 0)
    assert record["n_components"] == k and record["residual_scale"] == scale and record["kept_share"] == kept
    for name, ref in zip(["mean", "basis", "scale", "res_mean", "res_sd"], arrays):
        assert np.array_equal(getattr(codec, name).numpy(), ref.astype(np.float32)), name


@pytest.mark.parametrize("order", ["C", "F"])
def test_the_share_outside_the_span_holds_the_training_rows_once_beside_the_factorisation(order):
    """:func:`outside_span_share` on rows of a 200 x 19,948 float32 matrix holds, beside it, the training rows in
    float64 centred in place, the QR factorisation's own copy and its Q, not a float32 copy of the rows and their
    float64 copy uncentred as well; the share is that of the textbook float64 computation, bit for bit."""
    from rnagen.train.validation import outside_span_share

    data = _wide(order)
    X = np.asarray(data.X)
    X = np.asarray(np.log2(X.astype(np.float64) + 1).astype(np.float32), order=order)
    tr, va = np.arange(0, 200, 4), np.setdiff1d(np.arange(200), np.arange(0, 200, 4))
    tr, va = va, tr   # 150 training profiles, 50 held out
    outside_span_share(X[:10, :20], X[10:12, :20])   # warm
    f64 = len(tr) * X.shape[1] * 8
    tracemalloc.start()
    given = outside_span_share(X[tr], X[va])   # the rows' float32 copy, then its float64 one centred in place
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4.3 * f64, (peak / f64)
    tracemalloc.start()
    share = outside_span_share(X, None, rows=(tr, va))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 3.6 * f64, (peak / f64)

    Xt, Xv = np.asarray(X[tr], dtype=np.float64), np.asarray(X[va], dtype=np.float64)
    mu = Xt.mean(axis=0)
    Q, R = np.linalg.qr((Xt - mu).T)
    Q = Q[:, np.abs(np.diag(R)) > 1e-10 * max(float(np.abs(R).max()), 1e-300)]
    A = Xv - mu
    assert share == max(0.0, 1.0 - float(((A @ Q) ** 2).sum()) / float((A ** 2).sum()))
    assert share == given == outside_span_share(X[tr].astype(np.float64), X[va])
    assert 0.5 < share < 1
