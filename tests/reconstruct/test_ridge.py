"""The closed-form ridge solver against direct solves, one penalty and many."""
import numpy as np
import pytest

from rnagen.errors import DataError
from rnagen.reconstruct.ridge import fit_ridge


def _direct(X, Y, lam):
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    W = np.linalg.solve(Xc.T @ Xc + lam * np.eye(X.shape[1]), Xc.T @ Yc)
    return W, my - mx @ W


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    n, p, q = 300, 12, 40
    # correlated inputs, so the penalty matters
    X = rng.normal(size=(n, p)) @ (np.eye(p) + 0.8 * rng.normal(size=(p, p)) / np.sqrt(p)) + 0.3
    W = rng.normal(size=(p, q)) * (rng.random(q) > 0.5)      # half the targets are pure noise
    Y = X @ W + rng.normal(size=(n, q)) * np.linspace(0.2, 3.0, q) + 1.5
    return X, Y


def test_single_penalty_matches_direct_solve(data):
    X, Y = data
    for alpha in (1e-4, 0.3, 5.0):
        res = fit_ridge(X, Y, val_idx=None, alphas=[alpha])
        W, b = _direct(X, Y, len(X) * alpha)
        np.testing.assert_allclose(res.coef, W, rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(res.intercept, b, rtol=2e-4, atol=2e-4)


def test_penalty_choice_matches_brute_force(data):
    X, Y = data
    val = np.arange(0, 300, 5)
    fit_rows = np.setdiff1d(np.arange(300), val)
    alphas = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]
    sse = []
    for a in alphas:
        W, b = _direct(X[fit_rows], Y[fit_rows], len(fit_rows) * a)
        sse.append(((Y[val] - X[val] @ W - b) ** 2).sum(0))
    sse = np.array(sse)
    res = fit_ridge(X, Y, val_idx=val, alphas=alphas, block=7)        # blocks of 7 targets: edges covered
    best = alphas[int(np.argmin(sse.sum(1)))]
    assert np.all(res.alpha == best)
    np.testing.assert_allclose(res.val_mse, sse.sum(1) / (len(val) * Y.shape[1]), rtol=1e-4)
    k = alphas.index(best)
    sst = ((Y[val] - Y[val].mean(0)) ** 2).sum(0)
    assert res.val_r2[0] == pytest.approx(np.mean(1 - sse[k] / sst), rel=1e-4)
    # the final map is refitted on all rows with the chosen penalty
    W, b = _direct(X, Y, len(X) * best)
    np.testing.assert_allclose(res.coef, W, rtol=2e-4, atol=2e-5)
    # per-gene choice: each target its own argmin; the noise-only targets get the strongest shrinkage
    res_g = fit_ridge(X, Y, val_idx=val, alphas=alphas, per_gene=True)
    np.testing.assert_array_equal(res_g.alpha, np.asarray(alphas)[np.argmin(sse, axis=0)])
    np.testing.assert_allclose(res_g.val_mse, res.val_mse, rtol=1e-4)
    best_g = sse.min(0)
    assert res_g.val_r2[0] == pytest.approx(np.mean(1 - best_g / sst), rel=1e-4)


def test_bad_grids():
    X, Y = np.ones((10, 2)), np.ones((10, 3))
    with pytest.raises(DataError, match="no validation split"):
        fit_ridge(X, Y, val_idx=None, alphas=[0.1, 1.0])
    with pytest.raises(DataError, match=">= 0"):
        fit_ridge(X, Y, val_idx=None, alphas=[-1.0])
