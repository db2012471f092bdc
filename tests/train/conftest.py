"""Fixtures of the training tests."""
import pytest


@pytest.fixture(scope="module")
def small():
    """4 tissues x 20 profiles x 24 genes of the bundled GTEx subset (the private-training tests' data)."""
    from rnagen import datasets

    ad = datasets.gtex26()
    keep = ad.obs["tissue"].isin(sorted(ad.obs["tissue"].unique())[:4]).to_numpy()
    return ad[keep, :24].copy()
