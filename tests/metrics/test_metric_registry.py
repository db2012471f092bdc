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
