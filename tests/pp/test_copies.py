"""Copies of one profile: found exactly and up to rounding or noise, never among distinct profiles, and kept on
one side of every split rnagen makes."""
from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen.errors import DataError
from rnagen.pp import get_history, split
from rnagen.pp.copies import NEAR_COPY_RATIO, copies_across, find_copies


def _profiles(n: int = 120, p: int = 40, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Log-scale-like profiles of a few classes (distinct: no two near each other)."""
    rng = np.random.default_rng(seed)
    y = np.repeat([f"c{i}" for i in range(classes)], n // classes)
    centres = rng.normal(6.0, 2.0, (classes, p))
    return centres[np.searchsorted(np.unique(y), y)] + rng.normal(0, 1.0, (n, p)), y


def _adata(X: np.ndarray, y: np.ndarray, names: list[str] | None = None) -> ad.AnnData:
    obs = pd.DataFrame({"y": pd.Categorical(y)}, index=names or [f"s{i}" for i in range(len(X))])
    a = ad.AnnData(X.astype(np.float32), obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])]))
    a.uns["rnagen"] = {"log": {"logged": True, "transform": "log2(x+1)", "pseudocount": 1.0}}
    return a


def test_exact_rounded_single_precision_and_noisy_copies_are_found():
    X, _ = _profiles()
    rng = np.random.default_rng(1)
    copies = np.vstack([X[:3], np.round(X[3:6], 2), X[6:9].astype(np.float32), X[9:12] + rng.normal(0, 0.01, (3, 40))])
    found = find_copies(np.vstack([X, copies]))
    assert found.groups == [[i, 120 + i] for i in range(12)]
    assert found.exact == [True] * 3 + [False] * 9
    assert found.near_tested and found.n_copies == 12 and found.flat == []
    # a triplicate is one group; a profile of one value in every gene is not a copy of another such
    found = find_copies(np.vstack([X, X[:1] + 1e-3, X[:1] - 1e-3, np.zeros((2, 40))]))
    assert found.groups == [[0, 120, 121]] and found.flat == [122, 123]


def test_distinct_profiles_are_not_copies():
    """The bars are ratios of distances: a tight crowd of similar profiles (a homogeneous tissue) has no gap
    between its neighbours and is not chained into a group; two rare profiles near each other and far from all
    others are not copies (the global bar); data of two dimensions (where chance pairs are common) are not
    tested for near copies; values on a coarse grid that agree by chance are not exact copies."""
    X, _ = _profiles()
    rng = np.random.default_rng(2)
    crowd = X[:1] + rng.normal(0, 0.05, (40, 40))
    assert find_copies(np.vstack([X, crowd])).groups == []
    rare = 40.0 + rng.normal(0, 0.3, (2, 40))
    assert find_copies(np.vstack([X, rare])).groups == []
    assert find_copies(X * 1000.0).groups == [] and find_copies(X / 1000.0 - 5.0).groups == []
    flat = find_copies(rng.normal(0, 1, (2000, 2)))
    assert flat.groups == [] and not flat.near_tested
    grid = np.round(rng.normal(8.0, 0.4, (1500, 2)), 2)   # hundreds of equal rows, by chance
    assert len(np.unique(grid, axis=0)) < 1480 and find_copies(grid).groups == []


def test_every_profile_twice_is_found():
    """Where every profile is in the data twice (technical replicates throughout), the typical distance is the
    one to the nearest other profile past each one's copy, not the copies' own."""
    X, _ = _profiles(n=60)
    found = find_copies(np.vstack([X, X + np.random.default_rng(3).normal(0, 0.01, X.shape)]))
    assert found.groups == [[i, 60 + i] for i in range(60)]
    assert found.scale > 10 * NEAR_COPY_RATIO * np.sqrt(2 * 40) * 0.01


def test_the_copy_search_holds_no_float64_copy_of_the_matrix(monkeypatch):
    """The search on a data set's log values (what prepare, info, split and training run) reads the matrix a block
    of rows at a time in float64 (and the chance control's shuffle a block of genes at a time): it holds less than
    one float64 copy of the matrix beside it, whether rows repeat or not (a GTEx-sized matrix is 3.8 GB in float32,
    7.6 GB in float64). The groups found are the same."""
    import tracemalloc

    import sklearn.neighbors  # noqa: F401  (the import's own allocations are not the search's)

    from rnagen.pp import copies, history
    from rnagen.pp.copies import copy_groups

    monkeypatch.setattr(copies, "_DIFF_VALUES", 1 << 14)   # blocks well below the matrix
    monkeypatch.setattr(history, "_BLOCK_VALUES", 1 << 14)   # the scale test's blocks too
    rng = np.random.default_rng(0)
    X = rng.negative_binomial(3, 0.01, size=(1000, 4000)).astype(np.float32)
    X[7] = X[3]   # one exact copy: the distinct rows are then taken apart, and the chance control shuffles
    a = ad.AnnData(X, obs=pd.DataFrame(index=[f"s{i}" for i in range(1000)]))
    for data in (a, a[np.r_[0:7, 8:1000]].copy()):
        tracemalloc.start()
        found = copy_groups(data)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        repeats = data.n_obs == 1000
        assert found.groups == ([[3, 7]] if repeats else [])
        assert peak < 2 * data.X.nbytes, (peak, data.X.nbytes)


def _wide_counts(n: int, g: int, seed: int) -> np.ndarray:
    """Negative binomial counts with an exact triplicate, a copy off by one count in a few genes, and two empty
    libraries."""
    rng = np.random.default_rng(seed)
    X = rng.negative_binomial(5, 5 / (5 + rng.lognormal(3, 1.5, g)), size=(n, g)).astype(np.float32)
    X[5] = X[9] = X[7]
    X[11] = X[12] + (rng.random(g) < 0.002)
    X[20] = X[21] = 0
    return X


def _same(a, b) -> bool:
    return (a.groups == b.groups and a.exact == b.exact and a.flat == b.flat and a.near_tested == b.near_tested
            and np.array_equal([a.scale, a.dimension], [b.scale, b.dimension], equal_nan=True))


@pytest.mark.parametrize("case", ["counts", "wide", "sparse", "missing", "grid", "logged"])
def test_the_copy_search_in_blocks_finds_what_it_finds_on_the_whole_matrix(monkeypatch, case):
    """Blocks of one row (or one gene in the chance control's shuffle) give the groups, the typical distance and
    the dimension of one block holding the whole matrix: every value is the float64 log value of the whole, the
    shuffle is the whole matrix's, the genes' means (missing values) are summed in the same order."""
    import scipy.sparse as sp

    from rnagen.pp import copies
    from rnagen.pp.copies import copy_groups

    X = _wide_counts(240, 2000 if case == "wide" else 300, seed=4)
    if case == "missing":
        X[np.random.default_rng(5).random(X.shape) < 0.01] = np.nan
        X[:, 3] = np.nan   # a gene missing everywhere
    if case == "grid":   # few genes of small whole counts: equal rows by chance, which the shuffle shows
        X = np.random.default_rng(6).poisson(0.3, size=(400, 5)).astype(np.float32)
    data = ad.AnnData(sp.csr_matrix(X) if case == "sparse" else X)
    if case == "logged":
        data.X = np.log2(X + 1)
        data.uns["rnagen"] = {"log": {"logged": True, "transform": "log2(x+1)", "pseudocount": 1.0}}
    monkeypatch.setattr(copies, "_DIFF_VALUES", 1 << 40)
    whole = copy_groups(data)
    monkeypatch.setattr(copies, "_DIFF_VALUES", 1)
    assert _same(copy_groups(data), whole)
    if case == "grid":
        assert whole.groups == [] and len(np.unique(X, axis=0)) < 300
    elif case != "missing":
        assert whole.groups == [[5, 7, 9], [11, 12]] and whole.exact == [True, False] and whole.flat == [20, 21]
        assert whole.near_tested


def test_copies_across_sets_on_different_scales_in_blocks(monkeypatch):
    """Two sets, one as counts and one on the log scale, searched together a block at a time: the pairs found on
    the whole stack."""
    from rnagen.pp import copies

    X = _wide_counts(200, 700, seed=7)
    counts = ad.AnnData(X[:100])
    logged = ad.AnnData(np.log2(X[100:] + 1.0).astype(np.float32))
    logged.uns["rnagen"] = {"log": {"logged": True, "transform": "log2(x+1)", "pseudocount": 1.0}}
    logged.X[0] = np.log2(X[5] + 1.0)   # row 5 of the counts, logged, in the other set
    monkeypatch.setattr(copies, "_DIFF_VALUES", 1 << 40)
    whole = copies_across(counts, logged)
    monkeypatch.setattr(copies, "_DIFF_VALUES", 1)
    assert copies_across(counts, logged) == whole == [(5, 0), (7, 0), (9, 0)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_split_keeps_the_copies_of_a_profile_on_one_side(seed):
    X, y = _profiles()
    rng = np.random.default_rng(5)
    twice = np.arange(0, 120, 4)   # 30 profiles in the data twice, half of them rounded, half with noise
    extra = np.vstack([np.round(X[twice[:15]], 2), X[twice[15:]] + rng.normal(0, 0.01, (15, 40))])
    names = [f"s{i}" for i in range(120)] + [f"copy_of_s{i}" for i in twice]
    a = _adata(np.vstack([X, extra]), np.concatenate([y, y[twice]]), names)
    tr, te = split(a, label_key="y", test_size=0.25, seed=seed)
    held = set(te.obs_names)
    for i in twice:
        assert (f"s{i}" in held) == (f"copy_of_s{i}" in held)
    assert abs(te.n_obs - 0.25 * 150) <= 3 and set(tr.obs_names).isdisjoint(held)
    assert te.obs["y"].value_counts().min() >= 8   # still stratified
    assert get_history(te)[-1]["n_copies_grouped"] == 30
    assert copies_across(te, tr) == []


def test_split_of_data_without_copies_is_the_row_split():
    """Data without copies are split as before grouping existed: scikit-learn's stratified split of the rows."""
    from sklearn.model_selection import train_test_split

    X, y = _profiles()
    tr, te = split(_adata(X, y), label_key="y", test_size=0.2, seed=11)
    _, want = train_test_split(np.arange(120), test_size=0.2, random_state=11, stratify=y)
    assert list(te.obs_names) == [f"s{i}" for i in np.sort(want)]
    assert "n_copies_grouped" not in get_history(te)[-1]


def test_split_refuses_a_class_that_is_one_profile_under_several_ids():
    X, y = _profiles()
    a = _adata(np.vstack([X, X[:1] + 9.0, X[:1] + 9.0, X[:1] + 9.0]), np.concatenate([y, ["lone"] * 3]),
               [f"s{i}" for i in range(120)] + ["d1", "d2", "d3"])
    with pytest.raises(DataError, match=r"1 class\(es\) of 'y' hold one profile under several ids \('lone': 'd1' = "
                                        r"'d2' = 'd3', the same values\)"):
        split(a, label_key="y")


def test_copies_across_two_sets_on_their_own_scales():
    """A held-out set exported as counts, beside a logged training set, still shows its copies."""
    X, y = _profiles()
    X = np.clip(X, 0.0, None)
    train = _adata(X[:100], y[:100])
    counts = np.vstack([2.0 ** X[100:] - 1.0, 2.0 ** X[:2] - 1.0])
    held = ad.AnnData(counts.astype(np.float64), obs=pd.DataFrame(index=[f"h{i}" for i in range(22)]),
                      var=train.var.copy())
    held.uns["rnagen"] = {"log": {"logged": False, "transform": "none", "pseudocount": float("nan")}}
    assert copies_across(held, train) == [(20, 0), (21, 1)]


def test_the_benchmarks_splits_keep_copies_on_one_side():
    """``rnagen benchmark`` draws its splits (one per ``--splits``) with the same grouped split."""
    from rnagen.bench.runner import _make_part

    X, y = _profiles()
    a = _adata(np.vstack([X, X[:20]]), np.concatenate([y, y[:20]]),
               [f"s{i}" for i in range(120)] + [f"copy_of_s{i}" for i in range(20)])
    for j in range(3):
        part = _make_part(a, j, seed=40 + j, label_key="y", test_size=0.2, metric_fp={})
        held = set(part.test.obs_names)
        assert all((f"s{i}" in held) == (f"copy_of_s{i}" in held) for i in range(20))


def test_the_tuning_validation_split_keeps_copies_on_one_side():
    from rnagen.tune.study import split_validation

    X, y = _profiles()
    a = _adata(np.vstack([X, X[:20]]), np.concatenate([y, y[:20]]),
               [f"s{i}" for i in range(120)] + [f"copy_of_s{i}" for i in range(20)])
    for seed in range(3):
        _, va = split_validation(a, label_key="y", val_size=0.25, seed=seed)
        held = set(va.obs_names)
        assert all((f"s{i}" in held) == (f"copy_of_s{i}" in held) for i in range(20))


def test_the_benchmark_says_what_its_splits_do_with_copies():
    from rnagen.cli.bench import _copies_note

    X, y = _profiles()
    a = _adata(np.vstack([X, X[:2]]), np.concatenate([y, y[:2]]), [f"s{i}" for i in range(120)] + ["c0", "c1"])
    assert _copies_note(a, "y", None) == ("2 copies of profiles in the data (rnagen data info names them): kept on "
                                          "their profile's side of every split")
    a.obs["part"] = ["train"] * 120 + ["test"] * 2
    assert _copies_note(a, "y", "part").startswith("warning: 2 test profiles of the given split are copies of "
                                                   "training profiles (e.g. 'c0' of 's0')")
    assert _copies_note(_adata(X, y), "y", None) == ""


def test_copies_labelled_two_ways_are_warned_of_with_an_example_pair():
    """A profile under two sample ids with two different labels is a data error: the split (and the tuning's, the
    evaluation's parts) keeps its copies on one side under its first sample's class, and says so with how many
    such profiles there are and one pair of sample ids. Copies of one label give no warning."""
    import warnings

    from rnagen.metrics import evaluate

    X, y = _profiles()
    # s0 and s5 (class c0) appear again as d0 labelled c1 and d5 labelled c2; s1 again as d1, still c0
    a = _adata(np.vstack([X, X[[0, 5, 1]]]), np.concatenate([y, ["c1", "c2", "c0"]]),
               [f"s{i}" for i in range(120)] + ["d0", "d5", "d1"])
    msg = (r"2 profile\(s\) appear under several sample ids with different labels \(e\.g\. 's0' labelled 'c0' and "
           r"its copy 'd0' labelled 'c1'\): the split keeps each such profile's copies on one side, stratified as "
           r"its first sample's class; one profile with two labels is a data error")
    with pytest.warns(UserWarning, match=msg):
        tr, te = split(a, label_key="y", test_size=0.25, seed=0)
    assert ("s0" in te.obs_names) == ("d0" in te.obs_names)
    with pytest.warns(UserWarning, match=r"2 profile\(s\) .* \(e\.g\. 's0' labelled 'c0' and its copy 'd0' labelled "
                                         r"'c1'\): the membership audit and the privacy reference deal"):
        evaluate(a, a[:60].copy(), train=_adata(X + 3.0, y), label_key="y", metrics=["dcr_ratio"], n_boot=0)
    from rnagen.pp.copies import copy_labels, mixed_label_pairs

    assert mixed_label_pairs(copy_labels(np.asarray(a.X)), a.obs["y"]) == [(0, 120), (5, 121)]
    same = _adata(np.vstack([X, X[[0, 1]]]), np.concatenate([y, ["c0", "c0"]]),
                  [f"s{i}" for i in range(120)] + ["d0", "d1"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        split(same, label_key="y", test_size=0.25, seed=0)


def test_copies_labelled_two_ways_are_warned_of_once_per_command():
    """Within one command (rnagen.utils.one_warning_each: the CLI's, run_benchmark's, tune's span) the split, each
    fit and the evaluation's membership audit meet the same copies: a pair of sample ids a warning named (shown or
    counted) is not named again; a pair not yet named is, with its own ids. Outside a command each call warns."""
    import warnings

    from rnagen.pp.copies import copy_labels, warn_mixed_labels
    from rnagen.utils import one_warning_each

    X, y = _profiles()
    a = _adata(np.vstack([X, X[[0, 5]]]), np.concatenate([y, ["c1", "c2"]]),
               [f"s{i}" for i in range(120)] + ["d0", "d5"])
    g, labels, names = copy_labels(np.asarray(a.X)), a.obs["y"].to_numpy(), list(a.obs_names)

    def said(calls):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            for rows in calls:
                assert warn_mixed_labels(g[rows], labels[rows], [names[i] for i in rows], what="x") == \
                    len({names[i] for i in rows} & {"d0", "d5"})
        return [re.match(r"(\d+) profile\(s\) appear .* \(e\.g\. '(\w+)' labelled '\w+' and its copy '(\w+)'",
                         str(m.message)).groups() for m in w]

    both, only_d5 = list(range(122)), [i for i in range(122) if i != 120]
    assert len(said([both, both, only_d5])) == 3
    with one_warning_each():
        assert said([both, both, only_d5]) == [("2", "s0", "d0")]
    with one_warning_each():   # the pair s5/d5 first, then s0/d0 is new: named with its own ids
        assert said([only_d5, both, only_d5]) == [("1", "s5", "d5"), ("2", "s0", "d0")]
