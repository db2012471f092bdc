"""Detection: can a classifier tell real from synthetic profiles?"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import check_number
from ._bootstrap import centred_ci
from ._checks import check_sets
from ._classifiers import Kind, canonical_order, fit_classifier
from ._registry import Scored, register, scorer
from .utility import macro_auc

if TYPE_CHECKING:
    from ._context import EvalContext

register("detection_auc", lower=0.0, upper=1.0, family="detection", direction=0.5, expensive=True,
         source="Lopez-Paz & Oquab 2017 (classifier two-sample tests); synthcity's detection metrics",
         definition="cross-validated ROC AUC of an MLP trained to separate real from synthetic profiles "
                    "(at most 2,500 of each in evaluate(), 5,000 by default); 0.5 = indistinguishable, 1 = separable")


def detection_scores(real, fake, *, cv: int = 5, classifier: Kind = "mlp", max_n: int | None = 5000,
                     seed: int = 0, epochs: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold P(synthetic) for every pooled profile and the 0/1 labels (1 = synthetic), the profiles of
    each set in :func:`~rnagen.metrics._classifiers.canonical_order` (the scores do not depend on the order
    of the rows given)."""
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(seed)
    R, F = np.asarray(real, np.float32), np.asarray(fake, np.float32)
    R, F = R[canonical_order(R)], F[canonical_order(F)]   # subsample and folds independent of the row order
    if max_n is not None:
        if len(R) > max_n:
            R = R[np.sort(rng.choice(len(R), max_n, replace=False))]
        if len(F) > max_n:
            F = F[np.sort(rng.choice(len(F), max_n, replace=False))]
    X = np.concatenate([R, F])
    y = np.concatenate([np.zeros(len(R), np.int64), np.ones(len(F), np.int64)])
    scores = np.zeros(len(X))
    cv = min(cv, len(R), len(F))   # each fold holds profiles of both sets (a held-out set of 4: 4 folds)
    if cv < 2:
        return np.full(len(X), np.nan), y
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    for i, (tr, te) in enumerate(folds.split(X, y)):
        clf = fit_classifier(X[tr], y[tr], n_classes=2, kind=classifier, seed=seed + i, epochs=epochs,
                             hidden=128)
        scores[te] = clf.predict_proba(X[te])[:, 1]
    return scores, y


def detection_auc(real, fake, *, cv: int = 5, classifier: Kind = "mlp", max_n: int | None = 5000,
                  seed: int = 0, epochs: int = 10) -> float:
    """Cross-validated ROC AUC of a real-vs-synthetic classifier (``cv`` stratified folds, out-of-fold
    scores pooled into one AUC). 0.5 means the classifier cannot tell the sets apart."""
    real, fake = check_sets([real, fake], ["real", "fake"], func="detection_auc", min_rows=2,
                            why="a cross-validated classifier (a profile of each set in each of 2 folds)")
    check_number("detection_auc: cv", cv, ">= 2", integer=True)   # one fold scores nothing out of fold
    check_number("detection_auc: epochs", epochs, ">= 1", integer=True)
    check_number("detection_auc: max_n", max_n, ">= 2", integer=True, optional=True)
    s, y = detection_scores(real, fake, cv=cv, classifier=classifier, max_n=max_n, seed=seed, epochs=epochs)
    return binary_auc(y, s)


def binary_auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC AUC of scores ``s`` for 0/1 labels ``y`` (ties counted half)."""
    return macro_auc(y, np.stack([-s, s], 1)) if len(np.unique(y)) == 2 and np.isfinite(s).all() else float("nan")


# --------------------------------------------------------------------------------------------- scorer
@scorer("detection", order=80, metrics=("detection_auc",))
def score_detection(ctx: EvalContext) -> Scored:
    """Detection AUC on at most 2,500 profiles per set; CI by resampling the out-of-fold scores (re-centred)."""
    # the genes, or on wide data the inputs of EvalContext.classifier_space
    R, S, ref = (ctx.classifier_input(n) for n in ("real", "synthetic", "reference"))
    sc, lab = detection_scores(R, S, seed=ctx.seed, epochs=ctx.epochs, max_n=2500)
    o = np.lexsort((sc, lab))   # resampled in an order of the scores, not of the rows
    sc, lab = sc[o], lab[o]
    reps, rng = [], ctx.stream("detection_auc")
    for _ in range(ctx.n_boot_expensive):
        i = rng.integers(0, len(sc), len(sc))
        reps.append(binary_auc(lab[i], sc[i]))
    refv = np.nan
    if ref is not None:
        s2, l2 = detection_scores(R, ref, seed=ctx.seed, epochs=ctx.epochs, max_n=2500)
        refv = binary_auc(l2, s2)
    v = binary_auc(lab, sc)
    return Scored([ctx.row("detection_auc", v, centred_ci(v, reps), refv, n_boot=ctx.n_boot_expensive)])
