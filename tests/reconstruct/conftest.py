"""Synthetic full profiles from known maps, for the reconstruction tests."""
import anndata as ad
import numpy as np
import pandas as pd
import pytest


def make_adata(X: np.ndarray, names: list[str], *, seed: int = 0) -> ad.AnnData:
    obs = pd.DataFrame({"group": pd.Categorical(np.where(np.arange(len(X)) % 2 == 0, "a", "b"))},
                       index=[f"s{i:05d}" for i in range(len(X))])
    return ad.AnnData(X=X.astype(np.float32), obs=obs, var=pd.DataFrame(index=pd.Index(names)))


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """The MLP tests use tiny networks: one thread avoids the oversubscription of a shared 2-core machine."""
    yield


@pytest.fixture(name="make_adata", scope="session")
def _make_adata_fixture():
    return make_adata


@pytest.fixture(scope="session")
def linear_problem():
    """Inputs interleaved with targets in var order: y = x W + noise (sigma 0.5); X ~ N(0, I)."""
    rng = np.random.default_rng(0)
    n, p, q, sigma = 4000, 20, 120, 0.5
    X = rng.normal(size=(n, p))
    W = rng.normal(size=(p, q)) * rng.uniform(0.05, 0.5, size=q)   # a range of signal-to-noise ratios
    Y = X @ W + sigma * rng.normal(size=(n, q))
    full = np.empty((n, p + q))
    order = rng.permutation(p + q)            # column of each gene in var order
    in_cols, tg_cols = order[:p], order[p:]
    full[:, in_cols] = X
    full[:, tg_cols] = Y
    names = [f"gene{i:03d}" for i in range(p + q)]
    inputs = [names[c] for c in in_cols]
    # analytic ceiling: R^2_j = var(x w_j) / (var(x w_j) + sigma^2) = |w_j|^2 / (|w_j|^2 + sigma^2)
    v = (W ** 2).sum(0)
    ceiling = pd.Series(v / (v + sigma ** 2), index=[names[c] for c in tg_cols])
    signal = pd.DataFrame(X @ W, columns=ceiling.index)
    return {"full": full, "names": names, "inputs": inputs, "ceiling": ceiling, "signal": signal, "n_train": 3000}
