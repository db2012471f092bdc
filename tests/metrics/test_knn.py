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


def _brute_cross(a, b, ar2, br2):
    d2 = ((a.astype(np.float64)[:, None] - b.astype(np.float64)[None]) ** 2).sum(-1)
    return d2, (d2 <= br2[None, :]).sum(1), (d2 <= ar2[:, None]).any(0)


@pytest.mark.parametrize("block_bytes", [4096, 2**28])
def test_cross_pass_equals_brute_force_with_boundary_ties(rng, block_bytes):
    # far from 0 (cancellation-prone), with duplicated rows across the sets and radii set exactly to
    # pair distances, so many memberships sit on a ball's boundary
    a = (rng.normal(size=(180, 21)) * 3 + 200).astype(np.float32)
    b = (rng.normal(size=(150, 21)) * 3 + 200).astype(np.float32)
    b[:20] = a[:20]
    d2 = ((a.astype(np.float64)[:, None] - b.astype(np.float64)[None]) ** 2).sum(-1)
    ar2 = np.sort(d2, 1)[:, 3]      # a_i's radius = its 4th nearest b: that neighbour lies on the boundary
    br2 = np.sort(d2, 0)[5, :]      # b_j's radius = its 6th nearest a
    c = _knn.cross_pass(a, b, a_radii2=ar2, b_radii2=br2, block_bytes=block_bytes)
    _, counts, in_a = _brute_cross(a, b, ar2, br2)
    np.testing.assert_array_equal(c.a_in_b_balls, counts)
    np.testing.assert_array_equal(c.b_in_a_balls, in_a)
    np.testing.assert_allclose(c.a_nn2, d2.min(1), rtol=1e-12, atol=0)
    np.testing.assert_allclose(c.b_nn2, d2.min(0), rtol=1e-12, atol=0)
    assert (c.a_nn2[:20] == 0).all() and (c.b_nn2[:20] == 0).all()  # copies: exactly 0
    np.testing.assert_array_equal(c.b_nn[:20], np.arange(20))
    np.testing.assert_array_equal(d2[np.arange(180), c.a_nn], d2.min(1))
    np.testing.assert_array_equal(d2[c.b_nn, np.arange(150)], d2.min(0))


@pytest.mark.parametrize("exclude_self", [False, True])
def test_symmetric_tiled_self_search_with_duplicates(rng, exclude_self):
    # 300 rows in 64-row tiles (block_bytes=4096): the upper-triangle path, with duplicated rows
    X = rng.normal(size=(300, 9)).astype(np.float32) + 50
    X[150:170] = X[:20]
    d, i = _knn.knn(X, k=4, exclude_self=exclude_self, block_bytes=4096)
    full = ((X.astype(np.float64)[:, None] - X.astype(np.float64)[None]) ** 2).sum(-1)
    if exclude_self:
        np.fill_diagonal(full, np.inf)
    np.testing.assert_allclose(d, np.sqrt(np.sort(full, 1)[:, :4]), rtol=1e-9, atol=0)
    if exclude_self:  # a duplicated row's nearest other row is its copy, at exactly 0
        assert (d[:20, 0] == 0).all() and (i[:20, 0] == np.arange(150, 170)).all()
    else:
        assert (d[:, 0] == 0).all()  # itself (or its copy) at exactly 0
