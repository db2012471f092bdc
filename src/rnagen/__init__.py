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
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("rnagen")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .errors import RnagenError  # noqa: E402

__all__ = ["RnagenError", "__version__"]
