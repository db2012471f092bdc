"""Fixtures for the metrics tests: small Gaussian sets, and one torch thread (tiny matrices run faster
without intra-op threading, especially on a shared 2-core machine)."""
import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def gauss(rng):
    X = rng.normal(size=(300, 16)).astype(np.float32)
    Y = rng.normal(size=(250, 16)).astype(np.float32)
    return X, Y
