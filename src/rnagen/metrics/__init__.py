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
- the share of the gap closed between the Gaussian floor and the real-vs-real ceiling: :func:`gap_closed`

:func:`evaluate` computes them all on AnnData or arrays and returns a table with bootstrap confidence
intervals and real-vs-real reference values. This package never imports :mod:`rnagen.models`.

Structure: each family module registers its indicators (:func:`rnagen.metrics._registry.register`) and one
scorer per group of indicators computed together (:func:`rnagen.metrics._registry.scorer`), which reads the
shared :class:`rnagen.metrics._context.EvalContext`; :func:`evaluate` runs the scorers of the requested
indicators in their registered order. A new family is a new module with its registrations, imported below.
"""
from ._registry import METRICS, MetricInfo

# the family modules, in the order of evaluate()'s rows: importing a module registers its indicators, so this
# order is the registration order, and evaluate (whose default is every registered indicator) comes after them
# isort: off
from .fidelity import frechet_distance, gene_distance_summary, mmd, per_gene_distances, prdc
from .adversarial import adversarial_accuracy, privacy_loss
from .correlation import correlation_score
from .utility import augmentation, classifier_features, tstr
from .detection import detection_auc
from .privacy import dcr
from .evaluate import evaluate, format_table, prepare
from .gap import gap_closed
# isort: on

__all__ = [
    "METRICS", "MetricInfo", "prdc", "frechet_distance", "mmd", "per_gene_distances", "gene_distance_summary",
    "correlation_score", "adversarial_accuracy", "privacy_loss", "tstr", "augmentation", "classifier_features",
    "detection_auc", "dcr", "evaluate", "format_table", "prepare", "gap_closed",
]
