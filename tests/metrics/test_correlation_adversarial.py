import numpy as np
import pytest

from rnagen.metrics import adversarial_accuracy, correlation_score, privacy_loss


def _correlated(rng, n, g=12):
    L = rng.normal(size=(g, 3))
    return (rng.normal(size=(n, 3)) @ L.T + 0.5 * rng.normal(size=(n, g))).astype(np.float32)


def test_correlation_score_identical_is_one(rng):
    X = _correlated(rng, 400)
    assert correlation_score(X, X.copy()) == pytest.approx(1.0, abs=1e-6)


def _r(A):
    """Gene-gene correlations, 0 for a constant gene's (where corrcoef gives NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(np.corrcoef(A.T), nan=0.0)


def test_correlation_score_matches_direct_formula_and_blocks(rng):
    X, Y = _correlated(rng, 400), rng.normal(size=(300, 12))
    Y[:, 0] = 1.0  # a gene constant in the synthetic set correlates with none (r = 0), not a NaN
    iu = np.triu_indices(12, 1)
    a = 1 - np.corrcoef(X.T)[iu]
    b = 1 - _r(Y)[iu]
    exp = np.corrcoef(a, b)[0, 1]
    assert correlation_score(X, Y, block_genes=3) == pytest.approx(exp, abs=1e-5)
    # same structure, new samples: high; independent genes: near 0
    assert correlation_score(X, _correlated(np.random.default_rng(0), 400)) > 0.3
    assert abs(exp) < 0.3


@pytest.mark.parametrize("n_real,n_fake,genes", [(40, 30, 300), (400, 300, 12)])
def test_correlation_score_gene_and_sample_routes_agree(rng, n_real, n_fake, genes):
    """The G x G route and the n x n Gram route are the same sums; "auto" takes the Gram route when there are
    fewer profiles than genes. Both equal the direct formula on the upper triangles."""
    L = rng.normal(size=(genes, 4))
    X = (rng.normal(size=(n_real, 4)) @ L.T + rng.normal(size=(n_real, genes))).astype(np.float32)
    Y = (rng.normal(size=(n_fake, 4)) @ L.T + 2 * rng.normal(size=(n_fake, genes))).astype(np.float32)
    X[:, 3] = 2.0  # constant in the real set: dropped from both
    Y[:, 5] = 1.0  # constant in the synthetic set: r = 0 with every other gene
    keep = np.r_[0:3, 4:genes]
    iu = np.triu_indices(len(keep), 1)
    exp = np.corrcoef(np.corrcoef(X[:, keep].T)[iu], _r(Y[:, keep])[iu])[0, 1]
    got = {m: correlation_score(X, Y, method=m, block_genes=7) for m in ("genes", "samples", "auto")}
    assert got["genes"] == pytest.approx(exp, abs=1e-5)
    assert got["samples"] == pytest.approx(exp, abs=1e-5)
    assert got["auto"] == got["samples" if n_real + n_fake < genes else "genes"]
    with pytest.raises(ValueError, match="method"):
        correlation_score(X, Y, method="rows")


def test_aa_identical_copies_score_zero(gauss):
    X, _ = gauss
    # every profile's nearest cross-set neighbour is its copy at distance 0 < its nearest within-set
    # neighbour (rows are distinct), so no term is "farther": AA_truth = AA_syn = 0
    assert adversarial_accuracy(X, X.copy()) == {"aa_ts": 0.0, "aa_truth": 0.0, "aa_syn": 0.0}


def test_aa_disjoint_is_one_and_same_distribution_near_half(rng):
    X = rng.normal(size=(600, 8))
    Y = rng.normal(size=(600, 8))
    assert adversarial_accuracy(X, Y + 50)["aa_ts"] == 1.0
    assert adversarial_accuracy(X, Y)["aa_ts"] == pytest.approx(0.5, abs=0.05)


def test_privacy_loss_flags_copies_of_training(rng):
    train, test = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    copies = train.copy()
    loss = privacy_loss(test, train, copies)
    # AA against train is 0 (copies); against unseen test data ~0.5
    assert adversarial_accuracy(train, copies)["aa_ts"] == 0.0
    assert loss == pytest.approx(0.5, abs=0.07)
    fresh = rng.normal(size=(400, 8))
    assert abs(privacy_loss(test, train, fresh)) < 0.07


def test_correlation_score_float32_near_constant_gene(rng):
    X = _correlated(rng, 200).astype(np.float32)
    Y = _correlated(rng, 200).astype(np.float32)
    X[:, 2] = np.float32(-0.73)  # constant: its float32 std is not exactly 0
    X[5, 2] = np.nextafter(np.float32(-0.73), np.float32(0))
    assert np.isfinite(correlation_score(X, Y))


def test_correlation_score_of_a_collapsed_generator(rng):
    """A synthetic set of one repeated profile (a collapsed generator) has no correlation structure: 0, not NaN
    (a NaN is left out of a leaderboard's means); collapsing the genes a model gets wrong costs, not gains."""
    X = _correlated(rng, 400)
    assert correlation_score(X, np.repeat(X.mean(0, keepdims=True), 300, axis=0)) == 0.0
    Y = _correlated(np.random.default_rng(1), 300)
    full = correlation_score(X, Y)
    Y[:, :4] = 0.0
    assert correlation_score(X, Y) < full - 0.05
    assert np.isnan(correlation_score(np.ones((50, 12)), Y))   # no real structure to compare
