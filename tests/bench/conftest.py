"""Fixtures of the benchmark tests (the shared tiny run lives in tiny_bench.py)."""
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("rnagen_tests_tiny_bench", Path(__file__).with_name("tiny_bench.py"))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory):
    return tiny.tiny_bench_dir(tmp_path_factory.getbasetemp())


@pytest.fixture
def labelled_csv(tmp_path):
    return tiny.write_labelled_csv(tmp_path / "expr.csv")


@pytest.fixture
def landmarks_and_full():
    """The landmark-data and full-profile writer (reconstruction rows), for tests that score them."""
    return tiny.landmarks_and_full


@pytest.fixture
def write_labelled_csv():
    """The tiny labelled CSV writer itself, for a test that needs another size."""
    return tiny.write_labelled_csv


@pytest.fixture
def tiny_settings():
    """The tiny benchmark's settings (overrides, evaluation options, metrics, steps grid), to run it again."""
    return {"overrides": tiny.TINY_OVERRIDES, "evaluate_options": tiny.TINY_EVAL, "metrics": tiny.TINY_METRICS,
            "steps_grid": tiny.STEPS_GRID}
