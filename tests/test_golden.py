"""Golden values: the numbers the tools report on fixed inputs and seeds do not change.

The expected values in ``tests/golden/*.json`` were written by ``tests/golden/make_golden.py`` and are only
rewritten on a deliberate change of behaviour. Each case (``tests/golden/golden_cases.py``) recomputes on a
slice of the bundled GTEx data: (a) the leaderboard of a tiny benchmark with its steps curve and per-class
TSTR plot data, (b) the full ``evaluate`` table with ``train=`` and ``floor=``, (c) the tuning objective and
what ``tune`` records for its trials, (d) the plot data ``step_quality`` and ``per_class_tstr``.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_DIR = Path(__file__).with_name("golden")
_spec = importlib.util.spec_from_file_location("rnagen_golden_cases", _DIR / "golden_cases.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)


@pytest.mark.parametrize("name", list(cases.CASES))
def test_golden(name, tmp_path):
    want = json.loads((_DIR / f"{name}.json").read_text())
    got = json.loads(json.dumps(cases.to_jsonable(cases.CASES[name](tmp_path))))
    diffs = cases.compare(got, want)
    assert not diffs, f"{len(diffs)} golden value(s) of {name!r} changed:\n" + "\n".join(diffs[:20])


def test_compare_detects_changes():
    """The comparison itself: a changed number, a reordered column or a NaN that became a number all count."""
    want = {"columns": ["a", "b"], "rows": [{"a": 1.0, "b": "nan"}]}
    assert cases.compare(json.loads(json.dumps(want)), want) == []
    assert cases.compare({"columns": ["a", "b"], "rows": [{"a": 1.0 + 1e-8, "b": "nan"}]}, want) == []
    assert cases.compare({"columns": ["a", "b"], "rows": [{"a": 1.0001, "b": "nan"}]}, want)
    assert cases.compare({"columns": ["a", "b"], "rows": [{"a": 1.0, "b": 0.0}]}, want)
    assert cases.compare({"columns": ["b", "a"], "rows": [{"b": "nan", "a": 1.0}]}, want)
    # a solver-bound indicator is compared at its own tolerance, every other key at the default
    conc = {"rows": [{"concordance_spearman": 0.42, "density": 1.0}]}
    assert cases.compare({"rows": [{"concordance_spearman": 0.4202, "density": 1.0}]}, conc) == []
    assert cases.compare({"rows": [{"concordance_spearman": 0.43, "density": 1.0}]}, conc)
    assert cases.compare({"rows": [{"concordance_spearman": 0.42, "density": 1.0002}]}, conc)
    # and so is an evaluate row named by it, in every number of that row, not in other rows
    rows = {"rows": [{"name": "concordance_spearman", "value": 0.42, "reference": 0.52},
                     {"name": "density", "value": 1.0, "reference": 1.0}]}
    assert cases.compare({"rows": [{"name": "concordance_spearman", "value": 0.4202, "reference": 0.5201},
                                   {"name": "density", "value": 1.0, "reference": 1.0}]}, rows) == []
    assert cases.compare({"rows": [{"name": "concordance_spearman", "value": 0.42, "reference": 0.52},
                                   {"name": "density", "value": 1.0, "reference": 1.0002}]}, rows)
