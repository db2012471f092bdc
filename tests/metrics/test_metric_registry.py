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
        (lambda: mmd(R, np.where(S > 2, np.nan, S)), r"fake holds NaN or infinite values"),
        (lambda: per_gene_distances(R, S[:, :3]), r"different numbers of genes"),
        (lambda: dcr(S, R, R, quantile=2), r"quantile must be between 0 and 1, got 2"),
        (lambda: prdc(R.ravel(), S), r"real: expected a 2-D profiles x genes array"),
    ]
    for call, match in cases:
        with pytest.raises(DataError, match=match):
            call()
    assert 0 <= prdc(R, S, k=5)["precision"] <= 1   # the checks leave good inputs alone
