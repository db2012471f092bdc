import numpy as np
import pytest

from rnagen.metrics import _knn


@pytest.mark.parametrize("exclude_self", [False, True])
def test_blocked_knn_equals_brute_force(rng, exclude_self):
    X = rng.normal(size=(257, 33)).astype(np.float32) * 5 + 100  # far from 0: cancellation-prone
    Y = None if exclude_self else rng.normal(size=(190, 33)).astype(np.float32) * 5 + 100
    # tiny block budget forces many row blocks
    d, i = _knn.knn(X, Y, k=7, exclude_self=exclude_self, block_bytes=4096)
    bd, bi = _knn.brute_force_knn(X, Y, k=7, exclude_self=exclude_self)
    np.testing.assert_array_equal(i, bi)
    np.testing.assert_allclose(d, bd, rtol=1e-9, atol=1e-9)


def test_identical_rows_have_exact_zero_distance(rng):
    X = rng.normal(size=(100, 50)).astype(np.float32) * 30 + 1000
    d, i = _knn.knn(X, X.copy(), k=1)
    assert (d[:, 0] == 0).all()
    np.testing.assert_array_equal(i[:, 0], np.arange(100))


def test_exclude_self_keeps_duplicates_as_neighbours(rng):
    X = rng.normal(size=(50, 8)).astype(np.float32)
    X = np.concatenate([X, X[:1]])  # row 50 duplicates row 0
    d, i = _knn.knn(X, k=1, exclude_self=True)
    assert i[0, 0] == 50 and i[50, 0] == 0 and d[0, 0] == 0.0
    assert (i[:, 0] != np.arange(51)).all()


def test_knn_radius_is_kth_neighbour_excluding_self(rng):
    X = rng.normal(size=(80, 5))
    full = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    expected = np.sort(full, 1)[:, 3]  # column 0 is self (0), so the 3rd neighbour is column 3
    np.testing.assert_allclose(_knn.knn_radius(X, k=3), expected, rtol=1e-5)
