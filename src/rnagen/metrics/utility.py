"""Utility: is a classifier trained on synthetic profiles as good on real ones as one trained on real data?

- :func:`tstr`: train on synthetic, test on real ("reverse validation" in the paper); given real training
  data instead it is TRTR, the reference.
- :func:`augmentation`: train on real + synthetic, test on real.
- :func:`classifier_features`: hidden layer of an MLP trained on real data, as the feature map of the
  classifier Fréchet distance (:func:`rnagen.metrics.fidelity.frechet_distance`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ..utils import label_text
from ._bootstrap import bootstrap_ci, centred_ci, mean_ci
from ._checks import check_labels, check_sets
from ._classifiers import Kind, canonical_order, fit_classifier
from ._registry import Scored, register, scorer

if TYPE_CHECKING:
    from ._context import EvalContext

for _clf in ("mlp", "logreg"):
    register(f"tstr_{_clf}_accuracy", lower=0.0, upper=1.0, family="utility", direction="higher", needs=("labels",),
             source="Esteban et al. 2017 (TSTR); the paper's reverse validation",
             definition=f"accuracy on the real test set of a {_clf} classifier trained on synthetic profiles, "
                        "mean over seeds; reference: the same classifier trained on real training data (TRTR)")
    register(f"tstr_{_clf}_macro_f1", lower=0.0, upper=1.0, family="utility", direction="higher", needs=("labels",),
             source="Esteban et al. 2017 (TSTR)", definition="macro-averaged F1 of the same classifier")
    register(f"tstr_{_clf}_auc", lower=0.0, upper=1.0, family="utility", direction="higher", needs=("labels",),
             source="Esteban et al. 2017 (TSTR)",
             definition="macro-averaged one-vs-rest ROC AUC of the same classifier (classes present in the test set)")
register("augmentation_accuracy", lower=0.0, upper=1.0, family="utility", direction="higher", needs=("labels", "train"),
         source="data augmentation check (e.g. Marouf et al. 2020)",
         definition="accuracy on the real test set of an MLP trained on real training + synthetic profiles; "
                    "reference: trained on real training data only")
register("frechet_classifier", lower=0.0, family="fidelity", direction="lower", needs=("labels",), expensive=True,
         source="Heusel et al. 2017; the paper's Fréchet distance on a tissue classifier's hidden layer",
         definition="Fréchet distance between Gaussians fitted to the hidden-layer (256 ReLU units) "
                    "activations of an MLP trained to predict the label on real training data")


def encode_labels(*ys: Sequence | np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Map label arrays to shared integer codes; returns (codes per array, sorted class names). Labels are
    compared as :func:`rnagen.utils.label_text` (the composed and decomposed forms of one text are one class)."""
    texts = [np.asarray([label_text(v) for v in np.asarray(y, dtype=object).ravel()], dtype=str) for y in ys]
    classes = np.unique(np.concatenate(texts))
    lookup = {c: i for i, c in enumerate(classes)}
    return [np.array([lookup[v] for v in t], dtype=np.int64) for t in texts], classes


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
    synth_X, test_X = _checked("tstr", ("synth_X", synth_X, synth_y), ("test_X", test_X, test_y))
    if n_classes is None:
        (ys, yt), classes = encode_labels(synth_y, test_y)
        n_classes = len(classes)
    else:
        ys, yt = np.asarray(synth_y, np.int64), np.asarray(test_y, np.int64)
        classes = np.arange(n_classes)
    Xs = np.asarray(synth_X, np.float32)
    Xt = np.asarray(test_X, np.float32)
    # a class the training set lacks is one the classifier never learned: its untrained output may neither be
    # predicted (credit for a class never shown) nor rank profiles (its AUC is chance: all scores tied)
    unseen = np.bincount(ys, minlength=n_classes) == 0
    # a classifier trained on one class ranks the test profiles by noise: its AUC is undefined (NaN), as it is
    # for a test set of one class (macro_auc)
    one_class = int((~unseen).sum()) < 2
    per: dict[str, list[float]] = {"accuracy": [], "macro_f1": [], "auc": []}
    f1s, recs, correct, probas, models = [], [], np.zeros(len(Xt)), [], []
    for seed in seeds:
        clf = fit_classifier(Xs, ys, n_classes=n_classes, kind=classifier, seed=seed, epochs=epochs)
        models.append(clf)
        p = clf.predict_proba(Xt)
        if unseen.any():
            p = np.where(unseen, 0.0, p)
        pred = p.argmax(1)
        ok = pred == yt
        correct += ok
        mf1, f1, rec = _macro_f1_and_per_class(yt, pred, n_classes)
        per["accuracy"].append(float(ok.mean()))
        per["macro_f1"].append(mf1)
        per["auc"].append(float("nan") if one_class else macro_auc(yt, p))
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
    _checked("augmentation", ("train_X", train_X, train_y), ("synth_X", synth_X, synth_y), ("test_X", test_X, test_y))
    X = np.concatenate([np.asarray(train_X, np.float32), np.asarray(synth_X, np.float32)])
    y = np.concatenate([np.asarray(train_y).astype(str), np.asarray(synth_y).astype(str)])
    return tstr(X, y, test_X, np.asarray(test_y).astype(str), classifier=classifier, seeds=seeds, epochs=epochs)


def classifier_features(train_X, train_y, *, seed: int = 0, epochs: int = 10, hidden: int = 256
                        ) -> Callable[[np.ndarray], np.ndarray]:
    """Fit an MLP on real (training) data and return its hidden-layer feature map ``X -> (n, hidden)``, which
    takes profiles of the training set's genes."""
    (train_X,) = _checked("classifier_features", ("train_X", train_X, train_y))
    (y,), classes = encode_labels(train_y)
    clf = fit_classifier(np.asarray(train_X, np.float32), y, n_classes=len(classes), kind="mlp", seed=seed,
                         epochs=epochs, hidden=hidden)
    n_genes = int(train_X.shape[1])

    def features(X: np.ndarray) -> np.ndarray:
        (X,) = check_sets([X], ["X"], func="the classifier_features map")
        if int(X.shape[1]) != n_genes:
            raise DataError(f"the classifier_features map: X has {int(X.shape[1])} genes, the classifier was "
                            f"trained on {n_genes}; give profiles of the training set's genes")
        return clf.hidden(X)

    return features


def _checked(func: str, *sets: tuple[str, Any, Any]) -> list[Any]:
    """The ``(name, X, y)`` sets of a classifier indicator checked (:func:`~rnagen.metrics._checks.check_sets`),
    each ``y`` one present label per profile of its ``X``; the X arrays returned as :func:`check_sets` gives them."""
    names = [name for name, _, _ in sets]
    Xs = check_sets([X for _, X, _ in sets], names, func=func)
    for (name, _, y), X in zip(sets, Xs):
        check_labels(y, f"{func}: the labels of {name}", len(X))
    return Xs


# --------------------------------------------------------------------------------------------- scorers
_TSTR = tuple(f"tstr_{c}_{m}" for c in ("mlp", "logreg") for m in ("accuracy", "macro_f1", "auc"))


def _codes(ctx: EvalContext) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Shared integer codes of the synthetic, real and training labels, and the class names (memoised)."""
    if "label_codes" not in ctx.memo:
        ys, yr, yt = ctx.synthetic_labels, ctx.real_labels, ctx.train_labels
        assert ys is not None and yr is not None  # the utility indicators need labels (registry needs)
        codes, classes = encode_labels(ys, yr, *([yt] if yt is not None else []))
        ctx.memo["label_codes"] = (codes[0], codes[1], codes[2] if yt is not None else None, classes)
    return ctx.memo["label_codes"]


def _tstr_rows(ctx: EvalContext, clf: str, res: dict, ref: dict | None, cr: np.ndarray, classes: np.ndarray
               ) -> list[dict]:
    """Rows of one classifier's TSTR accuracy, macro-F1 (overall and per class) and AUC; references: TRTR."""
    acc, f1, auc = (f"tstr_{clf}_{x}" for x in ("accuracy", "macro_f1", "auc"))
    nc, rows = len(classes), []
    rng = ctx.stream(f"tstr_{clf}")   # one draw shared by the macro-F1 and AUC replicates (and the per-class rows)
    if ctx.wants(acc):
        rows.append(ctx.row(acc, res["accuracy"], mean_ci(res["correct"], n_boot=ctx.n_boot, rng=ctx.stream(acc)),
                            ref["accuracy"] if ref else np.nan, n_boot=ctx.n_boot))
    reps_f1: list[float] = []
    reps_auc: list[float] = []
    # AUC replicates rank every class's scores: m-out-of-n (at most 2,000 test profiles, spread rescaled by
    # sqrt(m / n), see _bootstrap.m_out_of_n_ci); macro-F1 replicates are full-size
    m_auc = min(len(cr), 2000)
    order = canonical_order(ctx.real, cr)   # the held-out rows resampled in their content order
    for _ in range(ctx.n_boot_expensive):
        i = order[rng.integers(0, len(cr), len(cr))]
        reps_f1.append(float(np.mean([_macro_f1_and_per_class(cr[i], p[i], nc)[0] for p in res["_pred"]])))
        if ctx.wants(auc) and np.isfinite(res["auc"]):
            j = i[:m_auc]  # the first m draws of a resample are an m-out-of-n resample
            reps_auc.append(float(np.mean([macro_auc(cr[j], p[j]) for p in res["_proba"]])))
    if ctx.wants(f1):
        rows.append(ctx.row(f1, res["macro_f1"], centred_ci(res["macro_f1"], reps_f1),
                            ref["macro_f1"] if ref else np.nan, n_boot=ctx.n_boot_expensive))
    if ctx.wants(auc):
        # all NaN where the AUC is undefined (one held-out class), none where it is (one training class)
        reps = np.asarray(reps_auc or [np.nan], np.float64)
        dev = np.sqrt(m_auc / len(cr)) * (reps - np.nanmean(reps)) if np.isfinite(reps).any() else reps
        rows.append(ctx.row(auc, res["auc"], bootstrap_ci(res["auc"], res["auc"] + dev), ref["auc"] if ref else np.nan,
                            n_boot=ctx.n_boot_expensive))
    if ctx.wants(f1):
        # per-class breakdown: F1 per class (mean over seeds), reference = TRTR per class
        for k, cname in enumerate(classes):
            if (cr == k).sum() > 0:
                rows.append(ctx.row(f1, res["per_class_f1"][k],
                                    reference=ref["per_class_f1"][k] if ref else np.nan, group=str(cname)))
    return rows


@scorer("utility", order=90, metrics=_TSTR + ("augmentation_accuracy", "frechet_classifier"))
def score_utility(ctx: EvalContext) -> Scored:
    """TSTR of the MLP and the logistic regression (reference: TRTR) and the augmentation accuracy. The TRTR
    MLP is kept in ``ctx.memo["trtr_mlp"]`` for the classifier Fréchet distance."""
    cs, cr, ct, classes = _codes(ctx)
    # the genes, or on wide data the inputs of EvalContext.classifier_space
    R, S, T = (ctx.classifier_input(n) for n in ("real", "synthetic", "train"))
    kw: dict[str, Any] = {"seeds": ctx.classifier_seeds, "epochs": ctx.epochs, "n_classes": len(classes)}
    rows: list[dict] = []
    for clf in ("mlp", "logreg"):
        names = {f"tstr_{clf}_{x}" for x in ("accuracy", "macro_f1", "auc")}
        if not names & set(ctx.want) and not (clf == "mlp" and ctx.wants("augmentation_accuracy")):
            continue
        res = tstr(S, cs, R, cr, classifier=clf, **kw)
        ref = tstr(T, ct, R, cr, classifier=clf, **kw) if T is not None and ct is not None else None
        if clf == "mlp":
            ctx.memo["trtr_mlp"] = ref
        rows += _tstr_rows(ctx, clf, res, ref, cr, classes)
    if ctx.wants("augmentation_accuracy") and T is not None and ct is not None:
        aug = augmentation(T, ct.astype(str), S, cs.astype(str), R, cr.astype(str), seeds=ctx.classifier_seeds[:1],
                           epochs=ctx.epochs)
        trtr_mlp = ctx.memo.get("trtr_mlp")
        base = trtr_mlp["per_seed"]["accuracy"][0] if trtr_mlp else np.nan
        rows.append(ctx.row("augmentation_accuracy", aug["accuracy"],
                            mean_ci(aug["correct"], n_boot=ctx.n_boot, rng=ctx.stream("augmentation_accuracy")), base,
                            n_boot=ctx.n_boot))
    return Scored(rows, _one_class_note(ctx, cs, classes))


def _one_class_note(ctx: EvalContext, cs: np.ndarray, classes: np.ndarray) -> dict[str, str]:
    """``{"utility_note": ...}`` where the synthetic set holds one class and a TSTR AUC was asked for: the
    classifiers trained on it have no second class to rank the held-out profiles by, so its AUC is NaN; else
    empty."""
    present = np.unique(cs)
    if len(present) >= 2 or not any(ctx.wants(f"tstr_{c}_auc") for c in ("mlp", "logreg")):
        return {}
    return {"utility_note": f"the synthetic set holds one class ({str(classes[present[0]])!r}): the TSTR AUC is not "
                            "computable (NaN), a classifier trained on one class having no other to rank the "
                            "held-out profiles by; its accuracy and macro-F1 are those of predicting that class "
                            "for every profile"}


def _frechet_mlp(ctx: EvalContext) -> Any:
    """The MLP of the classifier Fréchet distance: fitted on the training profiles outside the real-vs-real
    reference (:attr:`EvalContext.fit_rows`; a reference in its classifier's training set reads closer to the
    held-out profiles in its hidden layer than new real profiles do), else the TRTR MLP of the first classifier
    seed, else an MLP fitted on the real set. Kept in the context (``frechet_mlp``), so the floor is measured in
    the same features."""
    if "frechet_mlp" in ctx.__dict__:
        return ctx.__dict__["frechet_mlp"]
    _, cr, ct, classes = _codes(ctx)
    trtr_mlp = ctx.memo.get("trtr_mlp")
    if ctx.train is not None and ct is not None and ctx.fit_rows is not None and \
            len(np.unique(ct[ctx.fit_rows])) >= 2:
        clf = fit_classifier(np.asarray(ctx.classifier_input("train", ctx.fit_rows), np.float32),
                             np.asarray(ct[ctx.fit_rows], np.int64), n_classes=len(classes), kind="mlp",
                             seed=ctx.classifier_seeds[0], epochs=ctx.epochs)
    elif trtr_mlp is not None:
        clf = trtr_mlp["_models"][0]
    elif ctx.train is not None and ct is not None:
        # the TRTR MLP of the first classifier seed, as tstr() fits it, without the other seeds' runs
        # (the floor's table and a request of this indicator alone need no TSTR)
        clf = fit_classifier(np.asarray(ctx.classifier_input("train"), np.float32), np.asarray(ct, np.int64),
                             n_classes=len(classes), kind="mlp", seed=ctx.classifier_seeds[0], epochs=ctx.epochs)
    else:
        clf = fit_classifier(np.asarray(ctx.classifier_input("real"), np.float32), cr, n_classes=len(classes),
                             kind="mlp", seed=ctx.seed, epochs=ctx.epochs)
    ctx.__dict__["frechet_mlp"] = clf
    return clf


@scorer("frechet_classifier", order=100, metrics=("frechet_classifier",), timing="frechet")
def score_frechet_classifier(ctx: EvalContext) -> Scored:
    """The paper's Fréchet distance in the hidden layer of an MLP trained on real data (:func:`_frechet_mlp`)."""
    from .fidelity import frechet_row

    clf = _frechet_mlp(ctx)
    R, S, ref = (ctx.classifier_input(n) for n in ("real", "synthetic", "reference"))
    fref = clf.hidden(ref) if ref is not None else None
    return Scored([frechet_row(ctx, "frechet_classifier", clf.hidden(R), clf.hidden(S), fref)])
