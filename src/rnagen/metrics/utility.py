"""Utility: is a classifier trained on synthetic profiles as good on real ones as one trained on real data?

- :func:`tstr`: train on synthetic, test on real ("reverse validation" in the paper); given real training
  data instead it is TRTR, the reference.
- :func:`augmentation`: train on real + synthetic, test on real.
- :func:`classifier_features`: hidden layer of an MLP trained on real data, as the feature map of the
  classifier Fréchet distance (:func:`rnagen.metrics.fidelity.frechet_distance`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ._classifiers import Kind, fit_classifier
from ._registry import register

for _clf in ("mlp", "logreg"):
    register(f"tstr_{_clf}_accuracy", family="utility", direction="higher", needs=("labels",),
             source="Esteban et al. 2017 (TSTR); the paper's reverse validation",
             definition=f"accuracy on the real test set of a {_clf} classifier trained on synthetic profiles, "
                        "mean over seeds; reference: the same classifier trained on real training data (TRTR)")
    register(f"tstr_{_clf}_macro_f1", family="utility", direction="higher", needs=("labels",),
             source="Esteban et al. 2017 (TSTR)", definition="macro-averaged F1 of the same classifier")
    register(f"tstr_{_clf}_auc", family="utility", direction="higher", needs=("labels",),
             source="Esteban et al. 2017 (TSTR)",
             definition="macro-averaged one-vs-rest ROC AUC of the same classifier (classes present in the test set)")
register("augmentation_accuracy", family="utility", direction="higher", needs=("labels", "train"),
         source="data augmentation check (e.g. Marouf et al. 2020)",
         definition="accuracy on the real test set of an MLP trained on real training + synthetic profiles; "
                    "reference: trained on real training data only")
register("frechet_classifier", family="fidelity", direction="lower", needs=("labels",), expensive=True,
         source="Heusel et al. 2017; the paper's Fréchet distance on a tissue classifier's hidden layer",
         definition="Fréchet distance between Gaussians fitted to the hidden-layer (256 ReLU units) "
                    "activations of an MLP trained to predict the label on real training data")


def encode_labels(*ys: Sequence) -> tuple[list[np.ndarray], np.ndarray]:
    """Map label arrays to shared integer codes; returns (codes per array, sorted class names)."""
    classes = np.unique(np.concatenate([np.asarray(y).astype(str) for y in ys]))
    lookup = {c: i for i, c in enumerate(classes)}
    return [np.array([lookup[v] for v in np.asarray(y).astype(str)], dtype=np.int64) for y in ys], classes


def _macro_f1_and_per_class(y: np.ndarray, pred: np.ndarray, n_classes: int) -> tuple[float, np.ndarray, np.ndarray]:
    tp = np.bincount(y[pred == y], minlength=n_classes).astype(float)
    n_true = np.bincount(y, minlength=n_classes).astype(float)
    n_pred = np.bincount(pred, minlength=n_classes).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(n_true + n_pred > 0, 2 * tp / (n_true + n_pred), np.nan)
        recall = np.where(n_true > 0, tp / n_true, np.nan)
    present = (n_true + n_pred) > 0  # sklearn's macro-F1 over labels seen in y_true or y_pred
    return float(np.nanmean(f1[present])) if present.any() else float("nan"), f1, recall


def macro_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """Macro one-vs-rest ROC AUC over the classes present in ``y`` (rank formula, ties counted half)."""
    from scipy.stats import rankdata

    aucs = []
    for c in np.unique(y):
        pos = y == c
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos == 0 or n_neg == 0:
            continue
        r = rankdata(proba[:, c])
        aucs.append((r[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(aucs)) if aucs else float("nan")


def tstr(synth_X, synth_y, test_X, test_y, *, classifier: Kind = "mlp", seeds: Sequence[int] = (0, 1, 2),
         epochs: int = 10, n_classes: int | None = None) -> dict:
    """Train on synthetic, test on real: accuracy, macro-F1 and macro AUC, mean and per seed.

    Pass real training data as ``synth_X, synth_y`` to get TRTR (the reference). Labels may be any values;
    they are encoded jointly (pass integer codes and ``n_classes`` to skip that).

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``auc`` (means over seeds), ``per_seed`` (dict of lists), ``classes``,
        ``per_class_f1`` and ``per_class_recall`` (means over seeds, one value per class), and ``correct``
        (per test profile, the share of seeds that classified it right: its mean is ``accuracy``; used for
        bootstrap intervals).
    """
    if n_classes is None:
        (ys, yt), classes = encode_labels(synth_y, test_y)
        n_classes = len(classes)
    else:
        ys, yt = np.asarray(synth_y, np.int64), np.asarray(test_y, np.int64)
        classes = np.arange(n_classes)
    Xs = np.asarray(synth_X, np.float32)
    Xt = np.asarray(test_X, np.float32)
    per = {"accuracy": [], "macro_f1": [], "auc": []}
    f1s, recs, correct, probas, models = [], [], np.zeros(len(Xt)), [], []
    for seed in seeds:
        clf = fit_classifier(Xs, ys, n_classes=n_classes, kind=classifier, seed=seed, epochs=epochs)
        models.append(clf)
        p = clf.predict_proba(Xt)
        pred = p.argmax(1)
        ok = pred == yt
        correct += ok
        mf1, f1, rec = _macro_f1_and_per_class(yt, pred, n_classes)
        per["accuracy"].append(float(ok.mean()))
        per["macro_f1"].append(mf1)
        per["auc"].append(macro_auc(yt, p))
        f1s.append(f1)
        recs.append(rec)
        probas.append(p)
    return {"accuracy": float(np.mean(per["accuracy"])), "macro_f1": float(np.mean(per["macro_f1"])),
            "auc": float(np.mean(per["auc"])), "per_seed": per, "classes": list(classes),
            "per_class_f1": np.mean(f1s, 0), "per_class_recall": np.mean(recs, 0),
            "correct": correct / len(seeds), "_pred": [p.argmax(1) for p in probas], "_proba": probas,
            "_y": yt, "n_classes": n_classes, "_models": models}


def augmentation(train_X, train_y, synth_X, synth_y, test_X, test_y, *, classifier: Kind = "mlp",
                 seeds: Sequence[int] = (0, 1, 2), epochs: int = 10) -> dict:
    """Train on real training + synthetic profiles, test on real: :func:`tstr` on the union."""
    X = np.concatenate([np.asarray(train_X, np.float32), np.asarray(synth_X, np.float32)])
    y = np.concatenate([np.asarray(train_y).astype(str), np.asarray(synth_y).astype(str)])
    return tstr(X, y, test_X, np.asarray(test_y).astype(str), classifier=classifier, seeds=seeds, epochs=epochs)


def classifier_features(train_X, train_y, *, seed: int = 0, epochs: int = 10, hidden: int = 256
                        ) -> Callable[[np.ndarray], np.ndarray]:
    """Fit an MLP on real (training) data and return its hidden-layer feature map ``X -> (n, hidden)``."""
    (y,), classes = encode_labels(train_y)
    clf = fit_classifier(np.asarray(train_X, np.float32), y, n_classes=len(classes), kind="mlp", seed=seed,
                         epochs=epochs, hidden=hidden)
    return clf.hidden
