"""Readers and fetchers; everything returns AnnData (obs = samples, var = genes).

- :func:`read`: ``.h5ad``, CSV/TSV, GCT 1.2/1.3, parquet, with validation and labels.
- :mod:`rnagen.data.genes`: detect and map gene identifiers (symbols, Entrez, Ensembl).
- :mod:`rnagen.data.fetch`: download and convert the public TCGA (UCSC Xena TOIL) and GTEx v8 matrices.
"""
from . import genes
from .io import read, read_labels, validate, write_gct

__all__ = ["read", "read_labels", "validate", "write_gct", "genes"]
