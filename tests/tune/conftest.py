"""Fixtures for the tuning tests: a small slice of the bundled GTEx data written as .h5ad."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def gtex_small(tmp_path_factory) -> Path:
    """The bundled GTEx subset, 10 tissues x 20 samples x 40 genes (keeps each trial well under a second)."""
    from rnagen._io import write_h5ad
    from rnagen.datasets import gtex26

    a = gtex26()
    tissues = list(a.obs["tissue"].cat.categories[:10])
    a = a[a.obs["tissue"].isin(tissues), :40].copy()
    a.obs["tissue"] = a.obs["tissue"].cat.remove_unused_categories()
    path = tmp_path_factory.mktemp("tune") / "gtex_small.h5ad"
    write_h5ad(a, path)
    return path
