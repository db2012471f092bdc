"""rnagen: synthetic bulk RNA-seq profiles with conditional diffusion models, and proof of their quality.

Sub-packages
------------
data        readers (h5ad, CSV/TSV, GCT, parquet) and fetchers (TCGA, GTEx); everything returns AnnData
pp          transforms on AnnData: log, gene selection, invertible scalers, splits
models      the generator interface and its models (diffusion, vae, wgan-gp, gaussian)
train       the training loop shared by the torch models (EMA, checkpoints, resume, DDP)
reconstruct landmark genes -> full transcriptome
metrics     quality indicators, each with a name and a direction
bench       models x data sets -> leaderboard
report      leaderboard and plots -> one HTML file
datasets    small real data shipped with the package
tune        hyperparameter search (Optuna)

scanpy style: ``import rnagen as rg`` and every sub-package is an attribute (``rg.datasets.landmarks()``,
``rg.pp.split(...)``), imported on first use (PEP 562), so ``import rnagen`` stays light: torch is imported
only by the sub-packages that need it (models, train, ...), when they are first touched.
"""
from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("rnagen")
except _PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

import importlib as _importlib  # noqa: E402

from .errors import RnagenError  # noqa: E402

#: Sub-packages reachable as attributes of the top-level package, imported on first access.
_SUBMODULES = ("bench", "data", "datasets", "metrics", "models", "pp", "reconstruct", "report", "train", "tune")

__all__ = ["RnagenError", "__version__", *_SUBMODULES]


def __getattr__(name: str):
    """``rnagen.pp`` etc.: import the sub-package on first access (PEP 562)."""
    if name in _SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")  # also binds it on the package
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES))
