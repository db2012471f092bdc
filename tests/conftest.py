"""Shared test fixtures. Area-specific fixtures live in each tests/<area>/conftest.py."""
import os

import pytest


def pytest_configure(config):
    """Share the cores among the test processes: ``make test`` runs two pytest-xdist workers on CI's two cores, so
    each process (a worker, and the subprocesses it starts, which inherit the setting) gets one torch and BLAS
    thread; a plain ``pytest`` gets every core. Set before any test module imports torch, which reads it then;
    a value the user exported stands."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT") or getattr(config.option, "numprocesses", None) or 1
    try:
        workers = max(1, int(workers))
    except (TypeError, ValueError):   # "-n auto" before xdist resolves it: one per core
        workers = os.cpu_count() or 1
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    os.environ.setdefault("MKL_NUM_THREADS", threads)


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch thread, restoring the previous count after it (tiny networks and matrices
    run faster without intra-op threading, and two threads thrash on a shared 2-core machine)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def earlier_output():
    """Writes a small .h5ad as rnagen writes one (its ``uns["rnagen"]`` record) at a path: the earlier result a
    failing command must leave as it was (a file rnagen did not write there is refused before any work)."""
    def write(path):
        import anndata as ad
        import numpy as np

        a = ad.AnnData(np.zeros((2, 2), np.float32))
        a.uns["rnagen"] = {"synthetic": {"model": "earlier"}}
        a.write_h5ad(path)
        return path

    return write
