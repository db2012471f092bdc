"""Fixtures for the metrics tests: small Gaussian sets, and one torch thread (tiny matrices run faster
without intra-op threading, especially on a shared 2-core machine)."""
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def gauss(rng):
    X = rng.normal(size=(300, 16)).astype(np.float32)
    Y = rng.normal(size=(250, 16)).astype(np.float32)
    return X, Y
