"""The privacy indicators' intervals carry the variation of the training and held-out sets, not only the synthetic
profiles' terms (subsamples of the three sets recomputed, rnagen.metrics.privacy.dcr_replicates)."""
from __future__ import annotations

import numpy as np

from rnagen.metrics import evaluate
from rnagen.metrics.privacy import dcr


def _sets(seed: int = 0, n_train: int = 200, n_holdout: int = 60, n_synthetic: int = 300, genes: int = 8):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal((n, genes)).astype(np.float32) for n in (n_train, n_holdout, n_synthetic))


def _row(df, name):
    return df.set_index("name").loc[name]


def test_a_synthetic_set_gathered_on_one_real_profile_gets_the_interval_of_a_coin_flip():
    # every synthetic profile sits next to one held-out profile: whether its closest record is a training or a
    # held-out profile turns on which side that one profile fell, so the share is 0 here but could as well have
    # been 1; resampling the synthetic terms alone reads [0, 0.01]
    T, H, _ = _sets()
    rng = np.random.default_rng(1)
    S = (H[0] + 0.01 * rng.standard_normal((300, H.shape[1]))).astype(np.float32)
    df = evaluate(H, S, train=T, metrics=["dcr_share", "privacy_loss"], n_boot=200, n_boot_expensive=20, seed=0)
    r = _row(df, "dcr_share")
    assert r["value"] == dcr(S, T, H)["share_closer_to_train"] == 0.0
    assert r["ci_high"] - r["ci_low"] > 0.3
    assert r["n_boot"] == 20


def test_a_perfect_generator_s_interval_is_wider_than_its_terms_alone_and_holds_the_value():
    T, H, S = _sets(n_synthetic=600)
    df = evaluate(H, S, train=T, metrics=["dcr_share", "near_copy_share", "dcr_ratio", "privacy_loss"],
                  n_boot=1000, n_boot_expensive=20, seed=3)
    share = _row(df, "dcr_share")
    terms = dcr(S, T, H)["_share_terms"]
    alone = 2 * 1.96 * terms.std() / np.sqrt(len(terms))   # the synthetic terms' own interval width
    assert share["ci_high"] - share["ci_low"] > 1.5 * alone
    assert share["ci_low"] <= len(T) / (len(T) + len(H)) <= share["ci_high"]
    loss = _row(df, "privacy_loss")
    assert loss["ci_low"] <= 0.0 <= loss["ci_high"] and loss["n_boot"] == 20
    for name in ("near_copy_share", "dcr_ratio"):
        r = _row(df, name)
        assert r["ci_low"] <= r["value"] <= r["ci_high"] and r["n_boot"] == 20


def test_sets_too_small_to_subsample_fall_back_to_the_terms_and_no_replicates_give_no_interval():
    T, H, S = _sets(n_train=6, n_holdout=2, n_synthetic=2)   # no row of a set to leave out
    df = evaluate(H, S, train=T, metrics=["dcr_share", "privacy_loss"], n_boot=200, n_boot_expensive=20, k=1,
                  seed=0)
    for name in ("dcr_share", "privacy_loss"):
        r = _row(df, name)
        assert r["n_boot"] == 200 and np.isfinite(r["ci_low"]) and r["ci_low"] <= r["value"] <= r["ci_high"]
    df = evaluate(H, S, train=T, metrics=["dcr_share", "privacy_loss"], n_boot=0, n_boot_expensive=0, k=1, seed=0)
    assert df[["ci_low", "ci_high"]].isna().all().all()
