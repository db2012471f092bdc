"""The share of the gap closed: analytic cases, the registry's directions, and evaluate / the CLI end to end."""
import json
import math

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen.errors import DataError
from rnagen.metrics import METRICS, evaluate, format_table
from rnagen.metrics.gap import applies, gap_closed, gap_closed_array, gap_closed_from, gap_resolved


@pytest.mark.parametrize("name", ["density", "aa_ts", "precision", "coverage", "frechet_pca", "correlation_score"])
def test_analytic_cases(name):
    # a floor on the worse side of the ceiling for every direction
    ceiling = 0.8
    floor = {"higher": 0.6, "lower": 1.0}.get(METRICS[name].direction, 0.6)
    assert gap_closed(name, ceiling, floor=floor, ceiling=ceiling) == 1.0           # as real data
    assert gap_closed(name, floor, floor=floor, ceiling=ceiling) == 0.0             # as the Gaussian
    halfway = (floor + ceiling) / 2
    assert gap_closed(name, halfway, floor=floor, ceiling=ceiling) == pytest.approx(0.5)
    worse = floor + (floor - ceiling)                                               # twice as far as the floor
    assert gap_closed(name, worse, floor=floor, ceiling=ceiling) == pytest.approx(-1.0)
    assert math.isnan(gap_closed(name, 0.7, floor=ceiling, ceiling=ceiling))        # no gap: undefined
    assert math.isnan(gap_closed(name, np.nan, floor=floor, ceiling=ceiling))


def test_direction_from_the_registry():
    """Beyond the ceiling on the good side: a one-sided indicator counts it as closed, a target one as a miss."""
    checked = 0
    for name, info in METRICS.items():
        if not applies(name):
            continue
        checked += 1
        ceiling, step = 1.0, 0.2
        if info.direction == "higher":
            floor, beyond = ceiling - step, ceiling + step
            assert gap_closed(name, beyond, floor=floor, ceiling=ceiling) == 1.0, name
        elif info.direction == "lower":
            floor, beyond = ceiling + step, ceiling - step
            assert gap_closed(name, beyond, floor=floor, ceiling=ceiling) == 1.0, name
        else:  # a target value: as far above the ceiling as the floor is below is no better than the floor
            floor, beyond = ceiling - step, ceiling + step
            assert gap_closed(name, beyond, floor=floor, ceiling=ceiling) == pytest.approx(0.0), name
        # a floor on the good side of the ceiling leaves no gap for one-sided indicators
        if isinstance(info.direction, str):
            assert math.isnan(gap_closed(name, ceiling, floor=beyond, ceiling=ceiling)), name
    assert checked >= 15
    # density (target 1.0 in the registry) is two-sided: over-dense is a shortfall
    assert gap_closed("density", 1.5, floor=0.5, ceiling=1.0) == pytest.approx(0.0)
    assert gap_closed("coverage", 1.0, floor=0.9, ceiling=0.95) == 1.0
    # utility (judged against TRTR), privacy and privacy_loss get no share
    for name in ("tstr_mlp_accuracy", "dcr_share", "near_copy_share", "privacy_loss"):
        assert not applies(name) and math.isnan(gap_closed(name, 0.9, floor=0.5, ceiling=1.0))
    np.testing.assert_allclose(gap_closed_array("aa_ts", [0.5, 0.6, 0.7], floor=0.6, ceiling=0.5), [1, 0, -1])


def test_aa_ts_is_judged_on_its_halves():
    """AA_ts = (AA_truth + AA_syn) / 2 can sit at its ideal while both halves miss it on opposite sides."""
    ceil = {"aa_ts": 0.50, "aa_truth": 0.50, "aa_syn": 0.50}
    floor = {"aa_ts": 0.58, "aa_truth": 0.66, "aa_syn": 0.50}
    spread = {"aa_ts": 0.50, "aa_truth": 1.00, "aa_syn": 0.00}      # far from the data, wider than it
    assert gap_closed("aa_ts", 0.50, floor=0.58, ceiling=0.50) == 1.0  # the value alone: "as real data"
    # on the halves: twice 0.5 away against the floor's (0.16 + 0) / 2
    assert gap_closed_from("aa_ts", spread, floor, ceil) == pytest.approx(1 - 0.5 / 0.08)
    # halves missing on the same side: the same as the value's distance
    same = {"aa_ts": 0.54, "aa_truth": 0.58, "aa_syn": 0.50}
    assert gap_closed_from("aa_ts", same, floor, ceil) == pytest.approx(
        gap_closed("aa_ts", 0.54, floor=0.58, ceiling=0.50)) == pytest.approx(0.5)
    # a part missing or not finite: the value is used
    assert gap_closed_from("aa_ts", {"aa_ts": 0.5}, floor, ceil) == 1.0
    assert gap_closed_from("aa_ts", {**spread, "aa_syn": np.nan}, floor, ceil) == 1.0
    # the halves themselves are plain target indicators
    assert gap_closed_from("aa_truth", spread, floor, ceil) == pytest.approx(1 - 0.5 / 0.16)


def test_a_gap_within_the_floor_s_ci_is_not_resolved():
    """The floor is measurably away from the ceiling only where the ceiling lies outside the floor's 95% CI on
    the side the floor falls short; a composite indicator is resolved when any of its parts is."""
    f = lambda v, lo, hi: {"value": v, "ci_low": lo, "ci_high": hi}  # noqa: E731
    # a target indicator: either side counts
    assert gap_resolved("density", {"density": f(0.5, 0.45, 0.55)}, {"density": 1.0}) == 1.0
    assert gap_resolved("density", {"density": f(1.5, 1.4, 1.6)}, {"density": 1.0}) == 1.0
    assert gap_resolved("density", {"density": f(0.95, 0.85, 1.05)}, {"density": 1.0}) == 0.0
    # one-sided: only a floor short of the ceiling beyond its CI
    assert gap_resolved("coverage", {"coverage": f(0.90, 0.87, 0.93)}, {"coverage": 0.99}) == 1.0
    assert gap_resolved("coverage", {"coverage": f(0.98, 0.96, 1.0)}, {"coverage": 0.99}) == 0.0
    assert gap_resolved("frechet_pca", {"frechet_pca": f(3.0, 2.5, 3.5)}, {"frechet_pca": 1.0}) == 1.0
    assert gap_resolved("frechet_pca", {"frechet_pca": f(1.2, 0.9, 1.5)}, {"frechet_pca": 1.0}) == 0.0
    # AA_ts on its halves: a floor whose mean sits at the ceiling's while a half misses is resolved
    halves = {"aa_ts": f(0.51, 0.47, 0.55), "aa_truth": f(0.87, 0.84, 0.90), "aa_syn": f(0.15, 0.12, 0.18)}
    ceil = {"aa_ts": 0.51, "aa_truth": 0.47, "aa_syn": 0.55}
    assert gap_resolved("aa_ts", halves, ceil) == 1.0
    near = {"aa_ts": f(0.52, 0.48, 0.56), "aa_truth": f(0.50, 0.44, 0.56), "aa_syn": f(0.54, 0.48, 0.60)}
    assert gap_resolved("aa_ts", near, ceil) == 0.0
    # halves without CIs: the indicator itself is judged
    assert gap_resolved("aa_ts", {"aa_ts": f(0.60, 0.58, 0.62), "aa_truth": {"value": 0.8}, "aa_syn": {}},
                        ceil) == 1.0
    # cannot be told: no CI, no value, or an indicator without a share
    assert math.isnan(gap_resolved("density", {"density": {"value": 0.5}}, {"density": 1.0}))
    assert math.isnan(gap_resolved("density", {}, {"density": 1.0}))
    assert math.isnan(gap_resolved("density", {"density": f(0.5, 0.4, 0.6)}, {}))
    assert math.isnan(gap_resolved("dcr_share", {"dcr_share": f(0.5, 0.4, 0.6)}, {"dcr_share": 0.9}))


def test_evaluate_marks_a_floor_within_noise_of_the_ceiling():
    """A floor that is itself a draw of the data distribution leaves no measurable gap on density: the table
    says so (``gap_resolved`` 0, the share printed in brackets); the wide floor's gap is measured."""
    draw, _ = _sets(2)
    (R, yr), (T, yt), (F, yf) = draw(200), draw(200), draw(200)
    W, yw = draw(200, scale=1.5)
    kw = dict(train=T, real_labels=yr, train_labels=yt, synthetic_labels=yt, n_boot=200, k=5,
              metrics=["density", "aa_ts", "aa_truth", "aa_syn"])
    same = evaluate(R, T + 0.3, floor=F, floor_labels=yf, **kw).set_index("name")
    wide = evaluate(R, T + 0.3, floor=W, floor_labels=yw, **kw).set_index("name")
    for m in ("density", "aa_ts"):
        assert same.loc[m, "gap_resolved"] == 0.0 and wide.loc[m, "gap_resolved"] == 1.0, m
        # the share itself is still there: the mark says how to read it
        assert np.isfinite(same.loc[m, "gap_closed"]) and np.isfinite(wide.loc[m, "gap_closed"])
    text = format_table(same.reset_index())
    assert f"({100 * same.loc['density', 'gap_closed']:.0f}%)" in text and "sampling noise" in text
    wide_text = format_table(wide.reset_index())
    for m in ("density", "aa_ts"):
        assert "(" + f"{100 * wide.loc[m, 'gap_closed']:.0f}%)" not in wide_text, m


def test_evaluate_reads_a_wide_set_s_aa_ts_on_its_halves():
    """A set spread three times wider than the data scores AA_ts near 0.5 (real profiles' nearest neighbours
    are real, and so are the synthetic ones'): its share of the gap is far below the floor's, while its
    value alone would put it near the ceiling."""
    draw, rng = _sets(1, g=200)   # distances concentrate in many dimensions
    (R, yr), (T, yt), (F, yf) = draw(150), draw(150), draw(150)   # the floor: the data's own model
    W, yw = draw(150, scale=3.0)
    df = evaluate(R, W, train=T, floor=F, real_labels=yr, synthetic_labels=yw, train_labels=yt, floor_labels=yf,
                  metrics=["aa_ts", "aa_truth", "aa_syn"], n_boot=0, k=5).set_index("name")
    assert df.loc["aa_truth", "value"] > 0.95 and df.loc["aa_syn", "value"] < 0.05
    assert abs(df.loc["aa_ts", "value"] - 0.5) < 0.05
    assert df.loc["aa_ts", "gap_closed"] < -1
    assert gap_closed("aa_ts", df.loc["aa_ts", "value"], floor=df.loc["aa_ts", "floor"],
                      ceiling=df.loc["aa_ts", "reference"]) > 0


def _sets(seed=0, n=150, g=12, C=3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(C, g)) * 1.5

    def draw(m, scale=1.0):
        y = rng.integers(0, C, m)
        return (centers[y] + scale * rng.normal(size=(m, g))).astype(np.float32), np.array([f"c{c}" for c in y])

    return draw, rng


def test_evaluate_copies_close_more_of_the_gap_than_a_shifted_set():
    draw, rng = _sets()
    (R, yr), (T, yt) = draw(150), draw(150)
    F, yf = draw(150, scale=1.5)             # the floor: right class means, too wide
    shifted = T + 1.0                         # every gene off by one standard deviation
    kw = dict(train=T, floor=F, real_labels=yr, train_labels=yt, floor_labels=yf, n_boot=20, n_boot_expensive=2,
              k=5, metrics=["precision", "recall", "density", "coverage", "aa_ts", "correlation_score",
                            "dcr_share"], classifier_seeds=(0,))
    cp = evaluate(R, T.copy(), synthetic_labels=yt, **kw).set_index("name")
    sh = evaluate(R, shifted, synthetic_labels=yt, **kw).set_index("name")
    for df in (cp, sh):
        assert list(df.columns[-3:]) == ["floor", "gap_closed", "gap_resolved"]
        # the floor's values: the same for both sets (same real, train and seed)
        assert df.loc["dcr_share", ["floor", "gap_closed"]].isna().all()   # privacy: no share
    pd.testing.assert_series_equal(cp["floor"], sh["floor"])
    # the copies ARE the real-vs-real reference set here: all of the gap closed
    for m in ("density", "coverage", "aa_ts", "correlation_score"):
        assert cp.loc[m, "gap_closed"] == pytest.approx(1.0), m
        if m != "correlation_score":   # a shift leaves gene-gene correlations as they are
            assert sh.loc[m, "gap_closed"] < cp.loc[m, "gap_closed"], m
        # the column is the function of the value, floor and reference columns
        assert sh.loc[m, "gap_closed"] == pytest.approx(gap_closed(m, sh.loc[m, "value"], floor=sh.loc[m, "floor"],
                                                                   ceiling=sh.loc[m, "reference"]))
    assert sh.loc["aa_ts", "gap_closed"] < 0    # a shifted set is easier to tell from real than the Gaussian
    assert "gap closed" in format_table(sh.reset_index()) and "floor" in format_table(sh.reset_index())
    assert "NaN" in cp.attrs["gap_note"]
    # without a floor: the columns are there and empty; without train there is no ceiling
    plain = evaluate(R, T, train=T, real_labels=yr, synthetic_labels=yt, train_labels=yt, metrics=["aa_ts"], n_boot=10)
    assert plain[["floor", "gap_closed"]].isna().all().all() and "gap closed" not in format_table(plain)
    with pytest.raises(DataError, match="--train"):
        evaluate(R, T, floor=F, metrics=["aa_ts"])


def _adata(X, y):
    return ad.AnnData(X=X, obs=pd.DataFrame({"tissue": y}, index=[f"s{i}" for i in range(len(X))]),
                      var=pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])]))


def test_cli_reports_gap_closed_with_the_gaussian_floor(tmp_path, capsys):
    from rnagen._io import write_h5ad
    from rnagen.cli.main import main

    draw, _ = _sets(seed=1)
    (R, yr), (T, yt) = draw(120), draw(120)
    for name, X, y in (("test", R, yr), ("train", T, yt), ("syn", T + 1.0, yt), ("floor", draw(120, 1.5)[0], yt)):
        write_h5ad(_adata(X, y), tmp_path / f"{name}.h5ad")
    base = ["evaluate", "--real", str(tmp_path / "test.h5ad"), "--synthetic", str(tmp_path / "syn.h5ad"),
            "--label-key", "tissue", "--metrics", "density,coverage,aa_ts,dcr_share", "--n-boot", "20",
            "--n-boot-expensive", "2", "--k", "5"]
    out = tmp_path / "m.json"
    assert main(base + ["--train", str(tmp_path / "train.h5ad"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "gap closed" in printed and "floor" in printed
    js = json.loads(out.read_text())
    assert js["inputs"]["floor"].startswith("gaussian")
    rows = {m["name"]: m for m in js["metrics"]}
    assert rows["aa_ts"]["floor"] is not None and rows["aa_ts"]["gap_closed"] < 0.5
    assert rows["aa_ts"]["gap_resolved"] in (0.0, 1.0)       # the floor bootstrapped: its gap is judged
    assert rows["dcr_share"]["gap_closed"] is None and rows["dcr_share"]["gap_resolved"] is None
    # a file as the floor, and no floor at all
    assert main(base + ["--train", str(tmp_path / "train.h5ad"), "--floor", str(tmp_path / "floor.h5ad"),
                        "--out", str(out)]) == 0
    assert json.loads(out.read_text())["inputs"]["floor"] == str(tmp_path / "floor.h5ad")
    capsys.readouterr()
    assert main(base + ["--train", str(tmp_path / "train.h5ad"), "--floor", "none", "--out", str(out)]) == 0
    assert "gap closed" not in capsys.readouterr().out
    assert all(m["gap_closed"] is None for m in json.loads(out.read_text())["metrics"])
    # a floor without the training set: one line, exit 2, the output untouched
    before = out.read_bytes()
    assert main(base + ["--floor", "gaussian", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--train" in err and len(err.strip().splitlines()) == 1 and out.read_bytes() == before
    # a synthetic label the Gaussian never saw: the floor is drawn for the other classes, and a note says so
    write_h5ad(_adata(T + 1.0, np.where(yt == "c0", "zz", yt)), tmp_path / "odd.h5ad")
    assert main(base[:4] + [str(tmp_path / "odd.h5ad")] + base[5:] + ["--train", str(tmp_path / "train.h5ad"),
                                                                      "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "the synthetic class 'zz' (" in printed and "is not a class of the training set" in printed
    assert "gap closed" in printed and out.read_bytes() != before


def test_the_floor_column_is_the_floor_set_s_value_scored_without_a_second_ceiling(monkeypatch):
    """The floor's values equal the floor set's own ``evaluate`` values; its table leaves the real-vs-real
    references out (they are the synthetic table's), so the detection classifier runs three times (the
    synthetic set, its reference, the floor), not four, and it reuses the real set's neighbour radii (one pass
    over the real set); the classifier Fréchet distance alone fits the first seed's TRTR MLP only, and it is
    the model TSTR's TRTR run fits (same value either way)."""
    import rnagen.metrics._knn as knn
    import rnagen.metrics.detection as detection

    draw, _ = _sets()
    (R, yr), (T, yt), (S, ys) = draw(140), draw(150), draw(150, scale=1.2)   # only the real set has 140
    F, yf = draw(150, scale=1.5)
    names = ["density", "aa_ts", "detection_auc", "frechet_classifier", "correlation_score"]
    kw = dict(train=T, real_labels=yr, train_labels=yt, n_boot=20, n_boot_expensive=2, k=5, epochs=3,
              classifier_seeds=(0, 1))
    calls = []
    real_scores = detection.detection_scores
    monkeypatch.setattr(detection, "detection_scores", lambda *a, **k: calls.append(1) or real_scores(*a, **k))
    real_passes = []
    real_knn = knn.knn
    # the real set's own neighbours (its k-NN radii; the copy check's cross pass to --train not counted)
    monkeypatch.setattr(knn, "knn", lambda X, **k: real_passes.append(len(X) == 140 and k.get("ref") is None)
                        or real_knn(X, **k))
    df = evaluate(R, S, floor=F, synthetic_labels=ys, floor_labels=yf, metrics=names, **kw).set_index("name")
    assert len(calls) == 3 and sum(real_passes) == 1
    alone = evaluate(R, F, synthetic_labels=yf, metrics=names, **kw).set_index("name")
    with_tstr = evaluate(R, F, synthetic_labels=yf, metrics=["frechet_classifier", "tstr_mlp_accuracy"],
                         **kw).set_index("name")
    for m in names:
        assert df.loc[m, "floor"] == pytest.approx(alone.loc[m, "value"], rel=1e-6), m
        assert np.isfinite(alone.loc[m, "reference"]) and np.isfinite(df.loc[m, "gap_closed"]), m
    assert with_tstr.loc["frechet_classifier", "value"] == pytest.approx(alone.loc["frechet_classifier", "value"],
                                                                        rel=1e-6)


def test_the_table_keeps_long_class_names_apart():
    """Per-class rows of classes sharing their first 12 characters stay apart in the printed table."""
    import pandas as pd

    rows = [{"name": "tstr_logreg_macro_f1", "group": g, "value": v, "ci_low": np.nan, "ci_high": np.nan,
             "reference": np.nan, "direction": "higher"}
            for g, v in (("all", 0.9), ("Brain - Cerebellum", 0.8), ("Brain - Cerebellar Hemisphere", 0.7))]
    text = format_table(pd.DataFrame(rows), per_class=True)
    assert "Brain - Cerebellum " in text and "Brain - Cerebellar Hemisphere " in text


def test_the_text_table_keeps_its_columns_for_long_indicator_names():
    df = pd.DataFrame({"name": ["density", "mia_ganleaks_cal_tpr_at_fpr001"], "group": ["all", "all"],
                       "value": [1.0, 0.5], "ci_low": [0.9, 0.4], "ci_high": [1.1, 0.6],
                       "reference": [1.0, 0.5], "direction": ["target 1", "target 0.5"]})
    lines = format_table(df).splitlines()
    assert len({line.index(" all ") for line in lines[1:]}) == 1 and lines[0].index("group") == lines[1].index("all")
