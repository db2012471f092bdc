"""Two recorded log scales of two pseudocounts brought to one (rnagen.pp.history.log_plan, relogged)."""
import math

import numpy as np
import pytest

from rnagen.errors import DataError
from rnagen.pp.history import log_plan, log_target, relogged, unknown_pseudocount_note

P1 = {"logged": True, "transform": "log2(x+1)", "pseudocount": 1.0, "base": 2.0}
XENA = {"logged": True, "transform": "log2(TPM+0.001)", "pseudocount": 0.001, "base": 2.0}
LN = {"logged": True, "transform": "ln(x+1)", "pseudocount": 1.0, "base": math.e}
LOG10 = {"logged": True, "transform": "log10(x+1)", "pseudocount": 1.0, "base": 10.0}
NOPC = {"logged": True, "transform": "log2, as given", "pseudocount": float("nan"), "base": 2.0}


def test_the_side_converted_and_the_scale_it_takes():
    assert log_plan(XENA, P1) == 0 and log_plan(P1, XENA) == 1        # to the larger pseudocount
    assert log_plan(LN, XENA) == 0 and log_target([LN, XENA]) == 1    # base 2 first
    assert log_plan(P1, P1) is None and log_plan(LN, LOG10) is None    # one scale; two bases neither 2: refused
    assert log_plan(NOPC, XENA) is None and log_plan(NOPC, LN) == 1    # ln(x+1) made log2(x+1), as it is beside log2
    assert unknown_pseudocount_note("A", NOPC, "B", XENA).startswith(
        "A's log2, as given records no pseudocount beside B's log2(TPM+0.001): taken as they are")
    assert unknown_pseudocount_note("A", P1, "B", XENA) is None


def test_relogged_is_exact_where_the_values_are_expression_and_refuses_others():
    x = np.array([[0.0, 0.5, 3.0, 1e5]])
    np.testing.assert_allclose(relogged(np.log2(x + 0.001), XENA, P1, dtype=np.float64), np.log2(x + 1), atol=1e-9)
    np.testing.assert_allclose(relogged(np.log2(x + 1), P1, XENA, dtype=np.float64), np.log2(x + 0.001), atol=1e-9)
    np.testing.assert_allclose(relogged(np.log1p(x), LN, XENA, dtype=np.float64), np.log2(x + 0.001), atol=1e-9)
    # float32 rounding of log2(0 + 0.001) = -9.9658 is taken as 0
    v = np.float32(math.log2(0.001)) - np.float32(1e-6)
    assert relogged(np.array([v]), XENA, P1)[0] == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(DataError, match=r"^A: 1 value\(s\) of its log2\(x\+1\) lie below 0 \(down to -0\.5\), "
                                        r"the least "
                                        r"log\(x \+ 1\) of expression takes, so they cannot be made log2\(x\+0\.001\) "
                                        r"exactly beside log2\(TPM\+0\.001\): prepare both"):
        relogged(np.array([[0.0, -0.5, 2.0]]), P1, XENA, where="A")
