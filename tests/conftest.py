"""Shared test fixtures. Area-specific fixtures live in each tests/<area>/conftest.py."""
import os

import pytest

# Two cores on CI: keep torch and BLAS from oversubscribing when pytest runs things in subprocesses.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")


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
