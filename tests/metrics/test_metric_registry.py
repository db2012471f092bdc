"""The metric registry is the single source of names, directions and scorers."""
import dataclasses

import numpy as np
import pytest

from rnagen.metrics import METRICS, evaluate
from rnagen.metrics._context import EvalContext
from rnagen.metrics._registry import SCORERS, direction_from_text, direction_text, ordered_scorers


def test_every_metric_has_exactly_one_scorer():
    owners = {m: [s.name for s in SCORERS.values() if m in s.metrics] for m in METRICS}
    # the utility scorer also runs for the two indicators it prepares (the TRTR MLP of the classifier Fréchet
    # distance and of the augmentation accuracy); every other metric belongs to one scorer
    shared = {"frechet_classifier": ["utility", "frechet_classifier"]}
    for m, names in owners.items():
        assert sorted(names) == sorted(shared.get(m, names)) and len(names) >= 1, (m, names)
        assert len(names) == 1 or m in shared, (m, names)
    assert [s.order for s in ordered_scorers()] == sorted(s.order for s in SCORERS.values())


@pytest.mark.parametrize("direction", ["higher", "lower", 0.5, 1.0, 0.0, 0.75])
def test_direction_text_round_trip(direction):
    assert direction_from_text(direction_text(direction)) == direction


def test_direction_from_text_rejects_other_words():
    with pytest.raises(ValueError, match="not a metric direction"):
        direction_from_text("up")


def test_table_directions_come_from_the_registry():
    rng = np.random.default_rng(0)
    R, S, T = rng.normal(size=(30, 6)), rng.normal(size=(30, 6)), rng.normal(size=(40, 6))
    df = evaluate(R, S, train=T, metrics=["precision", "aa_ts", "privacy_loss", "mmd"], n_boot=10,
                  n_boot_expensive=2, k=3)
    assert dict(zip(df["name"], df["direction"])) == {m: METRICS[m].direction_text for m in df["name"]}
    assert dict(zip(df["name"], df["family"])) == {m: METRICS[m].family for m in df["name"]}


def test_context_is_immutable_and_shares_neighbour_passes():
    rng = np.random.default_rng(1)
    prepared = {"real": rng.normal(size=(20, 4)).astype(np.float32),
                "synthetic": rng.normal(size=(20, 4)).astype(np.float32), "train": None,
                "real_labels": None, "synthetic_labels": None, "train_labels": None}
    ctx = EvalContext.build(prepared, want=["precision"], k=3, n_boot=5, n_boot_expensive=1, seed=0,
                            classifier_seeds=(0,), epochs=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.k = 4
    assert ctx.prdc is ctx.prdc and ctx.real_knn2 is ctx.real_knn2   # computed once
    assert ctx.reference is None and ctx.train is None


def test_array_indicators_refuse_bad_inputs_in_one_error():
    """The array-level functions, called from a notebook with sets of other gene counts, too few profiles, a NaN
    or k out of range, raised IndexErrors, LinAlgErrors or torch errors from deep inside: one DataError each."""
    import numpy as np
    import pytest

    from rnagen.errors import DataError
    from rnagen.metrics import adversarial_accuracy, dcr, frechet_distance, mmd, per_gene_distances, prdc

    rng = np.random.default_rng(0)
    R, S = rng.normal(size=(30, 6)), rng.normal(size=(25, 6))
    cases = [
        (lambda: prdc(R, S, k=0), r"k must be an integer >= 1, got 0"),
        (lambda: prdc(R, S[:3], k=5), r"k=5 needs more than 5 profiles in every set \(the smallest has 3\)"),
        (lambda: prdc(R, S[:, :5]), r"different numbers of genes \(real 6, fake 5\)"),
        (lambda: adversarial_accuracy(R, S[:, :4]), r"different numbers of genes"),
        (lambda: adversarial_accuracy(R, S[:1]), r"fake has 1 profile\(s\); a nearest other profile needs at least 2"),
        (lambda: frechet_distance(R, S[:1]), r"fake has 1 profile\(s\); a covariance needs at least 2"),
        (lambda: mmd(R, np.where(S > 2, np.nan, S)), r"mmd: fake: \d+ NaN or infinite values \(first at profile"),
        (lambda: per_gene_distances(R, S[:, :3]), r"different numbers of genes"),
        (lambda: dcr(S, R, R, quantile=2), r"quantile must be between 0 and 1, got 2"),
        (lambda: prdc(R.ravel(), S), r"prdc: real: expected a 2-D profiles x genes array"),
    ]
    for call, match in cases:
        with pytest.raises(DataError, match=match):
            call()
    assert 0 <= prdc(R, S, k=5)["precision"] <= 1   # the checks leave good inputs alone


# ------------------------------------------------------------------ every array-level function refuses bad sets
def _bad_input_specs():
    """name -> (call, the sets in order, the labels of set i, the fewest profiles the varied set may have). The
    last set is the one each case spoils (the synthetic set where there is one)."""
    import rnagen.metrics as M

    kw = {"epochs": 1, "seeds": (0,)}
    return {
        "prdc": (lambda a, b: M.prdc(a, b, k=3), 2, {}, 2),
        "frechet_distance": (M.frechet_distance, 2, {}, 2),
        "mmd": (M.mmd, 2, {}, 1),
        "per_gene_distances": (M.per_gene_distances, 2, {}, 1),
        "gene_distance_summary": (M.gene_distance_summary, 2, {}, 1),
        "correlation_score": (M.correlation_score, 2, {}, 3),
        "adversarial_accuracy": (M.adversarial_accuracy, 2, {}, 2),
        "privacy_loss": (M.privacy_loss, 3, {}, 2),
        "detection_auc": (lambda a, b: M.detection_auc(a, b, epochs=1), 2, {}, 2),
        "dcr": (lambda a, b, c: M.dcr(c, b, a), 3, {}, 1),
        "tstr": (lambda a, ya, b, yb: M.tstr(a, ya, b, yb, **kw), 2, {0, 1}, 1),
        "augmentation": (lambda a, ya, b, yb, c, yc: M.augmentation(a, ya, b, yb, c, yc, **kw), 3, {0, 1, 2}, 1),
        "classifier_features": (lambda a, ya: M.classifier_features(a, ya, epochs=1), 1, {0}, 1),
        "differential_expression": (M.differential_expression, 1, {0}, 1),
        "coexpression_recovery": (lambda a, b: M.coexpression_recovery(a, [b]), 2, {}, 3),
        "classifier_concordance": (M.classifier_concordance, 2, {0, 1}, 2),
        "membership_inference": (lambda a, b, c, d: M.membership_inference(a, b, c, d, n_boot=0, epochs=1), 4, {}, 3),
    }


def _spoilt(kind: str):
    def nan(X):
        X = X.copy()
        X[1, 2] = X[3, 0] = np.nan
        return X

    def inf(X):
        X = X.copy()
        X[0, 0] = -np.inf
        return X

    return {"nan": nan, "inf": inf, "1-D": lambda X: X[0], "genes differ": lambda X: X[:, :5]}.get(kind)


_BAD_KINDS = ("nan", "inf", "too few profiles", "no genes", "genes differ", "1-D", "labels of another length",
              "a missing label")


def _applicable(name: str, kind: str) -> bool:
    _, n_sets, labelled, _ = _bad_input_specs()[name]
    return bool(labelled) if "label" in kind else not (kind == "genes differ" and n_sets == 1)


@pytest.mark.parametrize(("name", "kind"), [(n, k) for n in _bad_input_specs() for k in _BAD_KINDS
                                            if _applicable(n, k)])
def test_every_array_function_refuses_bad_input_naming_itself(name, kind):
    """Called directly (a notebook, the README's examples), the array-level functions returned NaN or a number for
    sets holding NaN or inf, of too few profiles or no genes (correlation_score 0.0 of one synthetic profile,
    detection_auc NaN), or raised numpy, scikit-learn or torch errors (other gene counts, 1-D arrays, labels of
    another length): a DataError each, naming the function, the set and the fix."""
    from rnagen.errors import DataError

    call, n_sets, labelled, fewest = _bad_input_specs()[name]
    rng = np.random.default_rng(0)
    sets = [rng.normal(size=(40, 8)).astype(np.float32) for _ in range(n_sets)]
    labels = {i: np.array(["a", "b"] * 20, dtype=object) for i in labelled}
    last = n_sets - 1
    if kind in ("labels of another length", "a missing label"):
        i = max(labels)
        labels[i] = labels[i][:37] if kind == "labels of another length" else np.where(np.arange(40) == 4, None,
                                                                                        labels[i])
    elif kind == "too few profiles":
        sets[last] = sets[last][:fewest - 1]
        if last in labels:
            labels[last] = labels[last][:fewest - 1]
    elif kind == "no genes":
        sets = [X[:, :0] for X in sets]
    else:
        sets[last] = _spoilt(kind)(sets[last])
    args = []
    for i, X in enumerate(sets):
        args += [X] + ([labels[i]] if i in labels else [])
    match = {"nan": r": 2 NaN or infinite values \(first at profile 1, gene 2\); .*fill in or drop the 2 missing "
                    r"\(NaN\) values \(rnagen data prepare --missing impute",
             "inf": r": 1 NaN or infinite values \(first at profile 0, gene 0\); .*replace the 1 infinite values",
             "too few profiles": rf" has {fewest - 1} profile\(s\); .* needs at least {fewest}: give more profiles",
             "no genes": r" 0 gene\(s\); .* needs at least \d: give profiles with more genes",
             "genes differ": r"the sets have different numbers of genes \(.*\b5\b.*\); give them the same genes",
             "1-D": r": expected a 2-D profiles x genes array, got shape \(8,\)",
             "labels of another length": r"37 labels for 40 profiles; give one label per profile",
             "a missing label": r"1 profile\(s\) without a label \(first at position 4\)"}[kind]
    with pytest.raises(DataError, match=rf"^{name}: .*{match}"):
        call(*args)


def test_the_checks_refuse_other_shapes_of_the_sets_and_leave_good_ones_uncopied():
    """A classifier_features map given profiles of other genes (a matmul error), coexpression_recovery given one
    array for its list of sets (each row read as a set), membership_inference's reference too small for DOMIAS's
    PCA space: DataErrors. A float array passes the checks as itself (evaluate checks 17,000 x 978 sets)."""
    import rnagen.metrics as M
    from rnagen.errors import DataError
    from rnagen.metrics._checks import check_sets

    rng = np.random.default_rng(1)
    R, S = rng.normal(size=(40, 8)).astype(np.float32), rng.normal(size=(40, 8)).astype(np.float32)
    y = np.array(["a", "b"] * 20)
    f = M.classifier_features(R, y, epochs=1, hidden=8)
    assert f(S).shape == (40, 8)
    with pytest.raises(DataError, match=r"the classifier_features map: X has 6 genes, the classifier was trained on 8"):
        f(S[:, :6])
    with pytest.raises(DataError, match=r"coexpression_recovery: others is one array; pass a list of sets"):
        M.coexpression_recovery(R, S)
    with pytest.raises(DataError, match=r"coexpression_recovery: 2 other_labels for 1 other sets"):
        M.coexpression_recovery(R, [S], other_labels=[y, y])
    with pytest.raises(DataError, match=r"membership_inference: reference has 2 profile\(s\); DOMIAS"):
        M.membership_inference(R[:10], R[10:20], S, R[20:22], n_boot=0)
    with pytest.raises(DataError, match=r"frechet_distance: fit_on: 40 NaN or infinite values"):
        M.frechet_distance(R, S, fit_on=np.where(np.arange(8) == 3, np.nan, R))
    for X in (R, R.astype(np.float64), np.arange(12).reshape(3, 4)):
        assert check_sets([X], ["X"])[0] is X
    assert check_sets([np.array([[1, 2], [3, 4]], dtype=object)], ["X"])[0].dtype == np.float64


_OPTION_CASES = {
    "correlation_score method": ("correlation_score", {"method": "pearson"}, "method must be auto, genes or samples"),
    "detection_auc cv": ("detection_auc", {"cv": 1}, "detection_auc: cv must be"),
    "detection_auc epochs": ("detection_auc", {"epochs": 0}, "detection_auc: epochs must be"),
    "membership attacks": ("membership_inference", {"attacks": ["loganx"]}, "attacks must be a list of"),
    "membership attacks text": ("membership_inference", {"attacks": "logan"}, "attacks must be a list of"),
    "membership density": ("membership_inference", {"density": "flow"}, "density must be 'kde' or 'gmm'"),
    "membership epsilon": ("membership_inference", {"epsilon_quantile": 1.5}, "epsilon_quantile must be"),
    "concordance top_k": ("classifier_concordance", {"top_k": 0}, "top_k must be"),
    "concordance importance": ("classifier_concordance", {"importance": "shap"}, "importance must be"),
    "coexpression threshold": ("coexpression_recovery", {"threshold": 1.0}, "threshold must be"),
}


@pytest.mark.parametrize("case", sorted(_OPTION_CASES))
def test_metric_options_out_of_range_are_a_config_error_before_any_work(case):
    """An option outside its range is a ConfigError naming it (a ValueError from deep inside, or a NaN, before)."""
    from rnagen import metrics
    from rnagen.errors import ConfigError

    name, options, words = _OPTION_CASES[case]
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(12, 5)), rng.normal(size=(12, 5))
    y = np.array(["a", "b"] * 6)
    call = {"correlation_score": lambda **o: metrics.correlation_score(A, B, **o),
            "detection_auc": lambda **o: metrics.detection_auc(A, B, **o),
            "membership_inference": lambda **o: metrics.membership_inference(A, B, A[:6], B[:6], n_boot=0, **o),
            "classifier_concordance": lambda **o: metrics.classifier_concordance(A, y, B, y, **o),
            "coexpression_recovery": lambda **o: metrics.coexpression_recovery(A, [B], **o)}[name]
    with pytest.raises(ConfigError, match=words) as e:
        call(**options)
    assert "\n" not in str(e.value)
