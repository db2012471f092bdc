"""Readers and fetchers; everything returns AnnData (obs = samples, var = genes).

- :func:`read`: ``.h5ad``, CSV/TSV, GCT 1.2/1.3, GEO series matrix, parquet, with validation and labels.
- :func:`read_feature_map`, :func:`map_features`: features (microarray probes) to genes.
- :func:`read_geo_samples`: a GEO series matrix's sample annotations (labels for NCBI's RNA-seq counts).
- :func:`read_sample_names`: samples renamed from a GDC sample sheet (file -> TCGA sample id) or a table.
- :mod:`rnagen.data.genes`: detect and map gene identifiers (symbols, Entrez, Ensembl).
- :mod:`rnagen.data.fetch`: download and convert the public TCGA (UCSC Xena TOIL) and GTEx v8 matrices, and GEO
  series with their platform annotation or NCBI's RNA-seq counts.
"""
from . import genes
from .io import (
    map_features,
    read,
    read_feature_map,
    read_geo_samples,
    read_labels,
    read_sample_names,
    validate,
    write_gct,
)

__all__ = ["read", "read_labels", "read_geo_samples", "validate", "write_gct", "genes", "read_feature_map",
           "map_features", "read_sample_names"]
