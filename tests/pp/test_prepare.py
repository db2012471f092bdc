"""The one preparation path of the scorers: dense conversion and the log-scale decision."""
import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from rnagen.errors import DataError
from rnagen.pp import dense, is_logged, set_log_state, to_log_scale


def test_dense_expands_sparse_and_casts():
    X = sp.csr_matrix(np.array([[0, 2], [3, 0]], dtype=np.float64))
    out = dense(X, dtype=np.float32)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert out.tolist() == [[0, 2], [3, 0]]
    assert dense([[1, 2]]).tolist() == [[1, 2]]


def test_is_logged_record_first_then_values():
    counts = ad.AnnData(np.array([[0.0, 1000.0], [5.0, 20.0]], dtype=np.float32))
    assert not is_logged(counts)                    # values up to 1000: not a log scale
    wide = ad.AnnData(np.array([[0.0, 42.0], [5.0, 20.0]], dtype=np.float32))
    assert not is_logged(wide)                      # above the heuristic's 30 ...
    set_log_state(wide, logged=True, transform="10 log10(x)")
    assert is_logged(wide)                          # ... the record wins over the values
    small = ad.AnnData(np.array([[0.5, 3.0]], dtype=np.float32))
    assert is_logged(small) and is_logged(X=np.array([[0.5, 3.0]]))
    # a record no value could match (X replaced by counts after it was written): refused, not taken as logged
    set_log_state(counts, logged=True, transform="log2(x+1)")
    with pytest.raises(DataError, match=r"the data's record says log scale .* but its values reach 1000, which no "
                                        r"log-scale value does: X was replaced after the record"):
        is_logged(counts)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_log_scale(dtype):
    X = np.array([[0.0, 1.0, 3.0]], dtype=dtype)
    out, what = to_log_scale(X, logged=False)
    assert what == "log2(x+1)" and out.dtype == dtype and np.allclose(out, [[0.0, 1.0, 2.0]])
    assert to_log_scale(X, logged=True) == (X, "as is (log scale)")
    neg = np.array([[-1.0, 2.0]], dtype=dtype)      # centred data: never logged again
    out, what = to_log_scale(neg, logged=False)
    assert out is neg and what.startswith("as is (negative")
