"""Landmark genes -> full transcriptome (Lacan et al.: linear and D-GEX MLP reconstruction).

>>> import rnagen.reconstruct as rc
>>> rec = rc.fit(real_full, inputs="landmarks", method="linear")    # doctest: +SKIP
>>> full = rec.apply(synthetic_landmarks)                          # doctest: +SKIP
>>> rec.score(real_test_full)["r2"]["median"]                      # doctest: +SKIP
>>> rec.save("recon/"); rec = rc.load("recon/")                    # doctest: +SKIP
"""
from .genes import match_genes, read_genes_file, resolve_inputs
from .model import (
                    LinearConfig,
                    LinearReconstructor,
                    MLPConfig,
                    MLPReconstructor,
                    ReconstructConfig,
                    Reconstructor,
                    fit,
                    gene_scores,
                    load,
)
from .ridge import DEFAULT_ALPHAS, fit_ridge

__all__ = ["fit", "load", "Reconstructor", "LinearReconstructor", "MLPReconstructor", "ReconstructConfig",
           "LinearConfig", "MLPConfig", "gene_scores", "fit_ridge", "DEFAULT_ALPHAS", "match_genes",
           "read_genes_file", "resolve_inputs"]
