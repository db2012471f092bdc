"""The report tests draw the tiny benchmark of tests/bench/tiny_bench.py (resumed when already run)."""
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "rnagen_tests_tiny_bench", Path(__file__).parent.parent / "bench" / "tiny_bench.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory):
    return tiny.tiny_bench_dir(tmp_path_factory.getbasetemp())
