import numpy as np
import pytest

from rnagen.errors import ConfigError, DataError
from rnagen.pp.transforms import (
    Floor,
    Log2p1,
    MaxAbsScaler,
    MinMaxScaler,
    NonNegative,
    Pipeline,
    StandardScaler,
    make_pipeline,
)

# three samples x three genes; the last gene is constant
X = np.array([[1.0, -2.0, 5.0],
              [3.0, 0.0, 5.0],
              [5.0, 4.0, 5.0]])


def test_standard_scaler_values_constant_gene_and_inverse():
    sc = StandardScaler().fit(X)
    Z = sc.transform(X)
    std0 = np.sqrt(8.0 / 3.0)  # population std of 1, 3, 5
    np.testing.assert_allclose(Z[:, 0], [-2.0 / std0, 0.0, 2.0 / std0])
    np.testing.assert_array_equal(sc.std[2], 1.0)  # a constant gene keeps std 1 and maps to 0
    np.testing.assert_array_equal(Z[:, 2], 0.0)
    np.testing.assert_allclose(sc.inverse_transform(Z), X)


def test_maxabs_and_minmax_values_and_inverse():
    ma = MaxAbsScaler().fit(X)
    np.testing.assert_allclose(ma.transform(X)[:, 1], [-0.5, 0.0, 1.0])
    np.testing.assert_allclose(ma.inverse_transform(ma.transform(X)), X)
    mm = MinMaxScaler(low=-1.0, high=1.0).fit(X)
    Z = mm.transform(X)
    np.testing.assert_allclose(Z[:, 0], [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(Z[:, 1], [-1.0, -1.0 / 3.0, 1.0])
    np.testing.assert_array_equal(Z[:, 2], -1.0)  # constant gene: range taken as 1, value at the low end
    np.testing.assert_allclose(mm.inverse_transform(Z), X)


def test_log2p1_inverse_clips_at_zero():
    lg = Log2p1()
    np.testing.assert_allclose(lg.transform(np.array([[0.0, 1.0, 3.0]])), [[0.0, 1.0, 2.0]])
    np.testing.assert_array_equal(lg.inverse_transform(np.array([[-1.0, 1.0]])), [[0.0, 1.0]])


def test_nonnegative_is_the_identity_forward_and_clips_at_zero_back():
    nn = NonNegative()
    np.testing.assert_array_equal(nn.transform(X), X)
    np.testing.assert_array_equal(nn.inverse_transform(X), np.maximum(X, 0))
    pipe = make_pipeline("nonnegative+standard").fit(np.abs(X))
    back = Pipeline.from_state(*pipe.to_state())
    assert back.spec == "nonnegative+standard"
    below = -np.abs(X) - 1.0                      # values no profile of the data can have
    Z = pipe.transform(below)
    assert (back.inverse_transform(Z) == 0).all() and (pipe.inverse_transform(Z) == 0).all()
    np.testing.assert_allclose(back.inverse_transform(pipe.transform(np.abs(X))), np.abs(X), atol=1e-12)


def test_floor_is_the_identity_forward_and_clips_at_its_value_back():
    fl = Floor(-9.965784)
    np.testing.assert_array_equal(fl.transform(X), X)
    np.testing.assert_array_equal(fl.inverse_transform(X - 20), np.full_like(X, -9.965784))
    pipe = make_pipeline([Floor(-3.0), "standard"]).fit(np.abs(X) - 3.0)
    back = Pipeline.from_state(*pipe.to_state())
    assert back.spec == "floor+standard" and back.steps[0].floor == -3.0
    assert (back.inverse_transform(pipe.transform(-np.abs(X) - 4.0)) == -3.0).all()
    with pytest.raises(ConfigError, match="floor must be a finite number"):
        Floor(float("nan"))


@pytest.mark.parametrize("cls", [StandardScaler, MaxAbsScaler, MinMaxScaler])
def test_unfitted_scaler_is_refused_by_name(cls):
    t = cls()
    with pytest.raises(DataError, match=f"transform '{t.kind}' is not fitted"):
        t.transform(X)
    with pytest.raises(DataError, match="is not fitted"):
        t.inverse_transform(X)
    with pytest.raises(DataError, match="is not fitted"):
        t.get_arrays()


def test_pipeline_state_round_trip_and_subset():
    pipe = make_pipeline("log2p1+standard").fit(np.abs(X))
    assert pipe.spec == "log2p1+standard"
    desc, arrays = pipe.to_state()
    back = Pipeline.from_state(desc, arrays)
    Y = np.array([[2.0, 1.0, 0.5]])
    np.testing.assert_array_equal(back.transform(Y), pipe.transform(Y))
    np.testing.assert_allclose(back.inverse_transform(back.transform(Y)), Y)
    sub = pipe.subset([2, 0])
    np.testing.assert_array_equal(sub.transform(Y[:, [2, 0]]), pipe.transform(Y)[:, [2, 0]])
