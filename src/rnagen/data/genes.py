"""Feature identifiers: detect their type and map genes between symbols, Entrez IDs and Ensembl IDs.

The implementation is :mod:`rnagen._genes` (below both :mod:`rnagen.data` and :mod:`rnagen.pp`); see its
docstring for the tables used and how each ID type is mapped.
"""
from .._genes import (
                      GENE_ID_TYPES,
                      IdType,
                      MappingReport,
                      detect_id_type,
                      find_landmarks,
                      gene_table,
                      landmark_entrez,
                      looks_like_features,
                      looks_like_probes,
                      map_ids,
                      other_species,
                      positional_names,
                      require_gene_ids,
                      same_gene_groups,
                      spreadsheet_dates,
                      strip_version,
                      to_entrez,
)

__all__ = ["IdType", "MappingReport", "detect_id_type", "strip_version", "gene_table", "map_ids", "to_entrez",
           "landmark_entrez", "find_landmarks", "require_gene_ids", "same_gene_groups", "looks_like_features",
           "looks_like_probes", "spreadsheet_dates", "other_species", "positional_names",
           "GENE_ID_TYPES"]
