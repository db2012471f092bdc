"""Small real data shipped with rnagen, with provenance.

Everything here is read from package data (``rnagen/datasets/files``) through :mod:`importlib.resources`, so
it works from a wheel, a zip or an editable install, and needs no network.

- :func:`landmarks`: the 978 L1000 landmark genes with Entrez IDs, symbols and Ensembl IDs
  (``files/landmarks/PROVENANCE.md``).
- :func:`gene_universe`: the GTEx v8 protein-coding gene table used by Lacan et al. (18,691 genes; 974
  landmarks, 17,717 reconstruction targets).
- :func:`renamed_symbols`: NCBI Gene's symbol of 2022 for the 694 genes of those two tables whose symbol HGNC
  changed since (25 landmarks, e.g. HIST2H2BE -> H2BC21), so tables named with current symbols map.
- :func:`gtex26`: a GTEx subset, 26 tissues x 20 samples, 467 genes, log2(RPKM+1) as shipped by the SEPIRA
  R package (``files/gtex26/PROVENANCE.md``).
"""
from __future__ import annotations

import functools
import gzip
import io
from importlib import resources

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["landmarks", "gene_universe", "renamed_symbols", "gtex26", "provenance", "path", "BUNDLED", "load",
           "is_bundled"]

_FILES = "rnagen.datasets"


def _open_bytes(*parts: str) -> bytes:
    return resources.files(_FILES).joinpath("files", *parts).read_bytes()


def path(*parts: str):
    """A :class:`importlib.resources` Traversable for a shipped file, e.g. ``path("gtex26", "samples.csv")``."""
    return resources.files(_FILES).joinpath("files", *parts)


def provenance(name: str) -> str:
    """The provenance note of a shipped data set: ``"landmarks"`` or ``"gtex26"``."""
    if name not in ("landmarks", "gtex26"):
        raise DataError(f"unknown data set {name!r}; choose 'landmarks' or 'gtex26'")
    return _open_bytes(name, "PROVENANCE.md").decode("utf-8")


@functools.lru_cache(maxsize=1)
def _landmarks() -> pd.DataFrame:
    df = pd.read_csv(io.BytesIO(_open_bytes("landmarks", "l1000_landmarks_978.tsv")), sep="\t", dtype=str)
    return df


def landmarks() -> pd.DataFrame:
    """The 978 L1000 landmark genes.

    Returns
    -------
    pandas.DataFrame
        978 rows, all columns as strings: ``entrez_id``, ``symbol`` (current clue.io symbol),
        ``symbol_cmap_2017`` (older symbol, 29 differ), ``ensembl_id`` (unversioned),
        ``ensembl_id_versioned_gtex_v8``, ``affx_probe_id``, ``gene_name``, ``gene_family``, ``pool``,
        ``ensembl_source``. ``entrez_id``, ``symbol`` and ``ensembl_id`` are each unique.
    """
    return _landmarks().copy()


@functools.lru_cache(maxsize=1)
def _universe() -> pd.DataFrame:
    raw = gzip.decompress(_open_bytes("landmarks", "gtex_v8_protein_coding_18691.csv.gz"))
    df = pd.read_csv(io.BytesIO(raw), dtype=str)
    df = df.rename(columns={"Description": "symbol", "Type": "type"})
    return df[["symbol", "ensembl_id", "entrez_id", "gene_biotype", "type"]]


def gene_universe() -> pd.DataFrame:
    """The GTEx v8 protein-coding gene universe of Lacan et al. (18,691 genes).

    Returns
    -------
    pandas.DataFrame
        Columns ``symbol``, ``ensembl_id`` (unversioned), ``entrez_id``, ``gene_biotype`` and ``type``
        (``"landmark"`` for the 974 landmarks found in GTEx v8, ``"target"`` for the other 17,717), all strings.
    """
    return _universe().copy()


@functools.lru_cache(maxsize=1)
def _renamed() -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(_open_bytes("landmarks", "symbols_ncbi_2022.csv")), dtype=str)


def renamed_symbols() -> pd.DataFrame:
    """Genes of :func:`landmarks` and :func:`gene_universe` whose symbol has changed (HGNC renamings up to 2022).

    Returns
    -------
    pandas.DataFrame
        694 rows, all strings: ``entrez_id``, ``symbol`` (the shipped tables' symbol) and ``symbol_ncbi_2022``
        (NCBI Gene's symbol of 2022-09-12 for that Entrez ID, e.g. EPRS -> EPRS1, HIST2H2BE -> H2BC21). A newer
        symbol that is also another shipped gene's symbol, or that two shipped genes share, is left out
        (``files/landmarks/PROVENANCE.md``).
    """
    return _renamed().copy()


def gtex26():
    """GTEx subset: 520 samples (26 tissues x 20) x 467 genes, log2(RPKM+1) as shipped.

    Returns
    -------
    anndata.AnnData
        ``X`` float32 (520 x 467); ``obs["tissue"]`` categorical (26 tissues, SMTS level);
        ``var_names`` are Entrez IDs as strings, ``var`` has ``symbol``, ``ensembl_id`` and ``is_landmark``.
        The log state is recorded with :func:`rnagen.pp.history.set_log_state` (logged, "log2(RPKM+1) (as
        shipped)"), and ``uns["rnagen"]["label_key"] = "tissue"``.
    """
    import anndata as ad

    from ..pp.history import record, set_log_state

    expr = pd.read_csv(io.BytesIO(_open_bytes("gtex26", "expression_samples_x_entrez.csv.gz")),
                       compression="gzip", index_col=0)
    samples = pd.read_csv(io.BytesIO(_open_bytes("gtex26", "samples.csv")), dtype=str).set_index("sample_id")
    genes = pd.read_csv(io.BytesIO(_open_bytes("gtex26", "genes.csv")), dtype=str).set_index("entrez_id")
    expr.index = expr.index.astype(str)
    expr.columns = expr.columns.astype(str)
    obs = pd.DataFrame(index=pd.Index(expr.index, name=None))
    obs["tissue"] = pd.Categorical(samples.loc[expr.index, "tissue"].to_numpy())
    g = genes.reindex(expr.columns)
    var = pd.DataFrame(index=pd.Index(expr.columns, name=None))
    var["symbol"] = g["symbol"].fillna("").to_numpy()
    var["ensembl_id"] = g["ensembl_id"].fillna("").to_numpy()
    var["is_landmark"] = (g["is_l1000_landmark"].fillna("0").to_numpy() == "1")
    adata = ad.AnnData(X=expr.to_numpy(dtype=np.float32), obs=obs, var=var)
    set_log_state(adata, logged=True, transform="log2(RPKM+1) (as shipped)", pseudocount=1.0, base=2.0)
    record(adata, "datasets.gtex26", source="SEPIRA GeneExp (GTEx subset)", n_obs=adata.n_obs, n_vars=adata.n_vars)
    adata.uns["rnagen"]["label_key"] = "tissue"
    return adata


#: Bundled expression data sets by name (usable as INPUT of ``rnagen data prepare/info/split``).
BUNDLED = {"gtex26": gtex26}


def is_bundled(name) -> bool:
    """Whether ``name`` (a command's input) names a bundled data set: one of :data:`BUNDLED`, no file of that name
    being there (a file wins)."""
    import os

    return str(name) in BUNDLED and not os.path.exists(name)


def load(name: str):
    """A bundled expression data set by name (``"gtex26"``) as AnnData."""
    if name not in BUNDLED:
        raise DataError(f"unknown bundled data set {name!r}; choose from {', '.join(BUNDLED)}")
    return BUNDLED[name]()
