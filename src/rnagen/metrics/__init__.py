"""Quality indicators of synthetic expression profiles (one module per family).

Every metric is registered in :data:`METRICS` with a name, a family, a direction (``"higher"``, ``"lower"`` or
a target value) and its definition and source. Array-level functions:

- fidelity: :func:`prdc`, :func:`frechet_distance`, :func:`mmd`, :func:`per_gene_distances`,
  :func:`gene_distance_summary`
- correlation: :func:`correlation_score`
- adversarial: :func:`adversarial_accuracy`, :func:`privacy_loss`
- utility: :func:`tstr` (TRTR when given real training data), :func:`augmentation`, :func:`classifier_features`
- detection: :func:`detection_auc`
- privacy: :func:`dcr`
- biology: :func:`differential_expression`, :func:`coexpression_recovery`, :func:`classifier_concordance`,
  :func:`read_gmt`
- membership: :func:`membership_inference` (GAN-Leaks, calibrated GAN-Leaks, MC set membership, LOGAN-D1,
  DOMIAS), :func:`membership_split`
- the share of the gap closed between the Gaussian floor and the real-vs-real ceiling: :func:`gap_closed`

:func:`evaluate` computes them all on AnnData or arrays and returns a table with bootstrap confidence
intervals and real-vs-real reference values. This package never imports :mod:`rnagen.models`.

Structure: each family module registers its indicators (:func:`rnagen.metrics._registry.register`) and one
scorer per group of indicators computed together (:func:`rnagen.metrics._registry.scorer`), which reads the
shared :class:`rnagen.metrics._context.EvalContext`; :func:`evaluate` runs the scorers of the requested
indicators in their registered order. A new family is a new module with its registrations, imported below.
"""
from importlib import import_module

# The family modules register their indicators when imported; the registration order is the order of
# evaluate()'s rows and of the shared resampling stream, so it is fixed here, not left to the import sorter.
FAMILIES = ("fidelity", "adversarial", "correlation", "utility", "detection", "privacy", "membership", "biology")
for _family in FAMILIES:
    import_module(f"{__name__}.{_family}")

from ._registry import METRICS, MetricInfo  # noqa: E402
from .adversarial import adversarial_accuracy, privacy_loss  # noqa: E402
from .biology import (  # noqa: E402
    BiologyOptions,
    classifier_concordance,
    coexpression_recovery,
    differential_expression,
    read_gmt,
)
from .correlation import correlation_score  # noqa: E402
from .detection import detection_auc  # noqa: E402
from .evaluate import evaluate, format_table, prepare  # noqa: E402
from .fidelity import frechet_distance, gene_distance_summary, mmd, per_gene_distances, prdc  # noqa: E402
from .gap import gap_closed  # noqa: E402
from .membership import membership_inference, membership_split  # noqa: E402
from .privacy import dcr  # noqa: E402
from .utility import augmentation, classifier_features, tstr  # noqa: E402

__all__ = [
    "METRICS", "MetricInfo", "prdc", "frechet_distance", "mmd", "per_gene_distances", "gene_distance_summary",
    "correlation_score", "adversarial_accuracy", "privacy_loss", "tstr", "augmentation", "classifier_features",
    "detection_auc", "dcr", "evaluate", "format_table", "prepare", "gap_closed",
    "BiologyOptions", "differential_expression", "coexpression_recovery", "classifier_concordance", "read_gmt",
    "membership_inference", "membership_split",
]
