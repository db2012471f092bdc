"""The benchmark's membership audit: its sets in split.json, the copying generator (the real row) and the
independent real draw (each indicator's reference) next to every model, and the report's verdict lines."""
import importlib.util
import json
from html import escape as html_escape
from pathlib import Path

import numpy as np
import pytest

from rnagen.metrics import membership as mm

_spec = importlib.util.spec_from_file_location("rnagen_tests_tiny_bench_mia", Path(__file__).with_name("tiny_bench.py"))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

MIA = tuple(mm.metric_name(a, k) for a in ("ganleaks", "mc", "domias") for k in mm.STATISTICS)


@pytest.fixture(scope="module")
def mia_bench(tmp_path_factory):
    from rnagen.bench import run_benchmark

    base = tmp_path_factory.mktemp("mia_bench")
    csv = tiny.write_labelled_csv(base / "expr.csv", n_per=30)
    out = base / "bench"
    board = run_benchmark(csv, label_key="kind", models="gaussian", out_dir=out, budget="fast", metrics=MIA,
                          evaluate_options={"n_boot": 100}, progress=False, device="cpu", seed=3)
    return out, board


def test_split_record_names_disjoint_stratified_sets(mia_bench):
    out, _ = mia_bench
    split = json.loads((out / "split.json").read_text())
    m = split["membership"]
    assert m["seed"] == 3 and m["stratified_by"] == "kind"
    parts = [set(m[k]) for k in ("nonmembers", "reference", "independent")]
    assert set().union(*parts) == set(split["test"]) and sum(map(len, parts)) == len(split["test"])
    assert set(m["members"]) <= set(split["train"]) and len(m["members"]) == len(m["nonmembers"]) == 6
    # the same sets as evaluate draws with the benchmark's seed
    import pandas as pd

    df = pd.read_csv(out.parent / "expr.csv", index_col=0)
    yte, ytr = df.loc[split["test"], "kind"].to_numpy(), df.loc[split["train"], "kind"].to_numpy()
    idx = mm.membership_sets(real_labels=yte, n_real=len(yte), train_labels=ytr, n_train=len(ytr), seed=3)
    assert list(np.asarray(split["test"])[idx["nonmembers"]]) == m["nonmembers"]
    assert list(np.asarray(split["train"])[idx["members"]]) == m["members"]


def test_every_row_is_attacked_with_the_recorded_sets(mia_bench):
    """The gaussian row's audit is evaluate's on the split record's sets (by sample id), not sets drawn anew."""
    import anndata as ad
    import pandas as pd

    from rnagen.metrics import evaluate

    out, board = mia_bench
    split = json.loads((out / "split.json").read_text())
    m = split["membership"]
    df = pd.read_csv(out.parent / "expr.csv", index_col=0)
    genes = [c for c in df.columns if c != "kind"]

    def part(ids):
        a = ad.AnnData(df.loc[ids, genes].to_numpy(np.float32), obs=df.loc[ids, ["kind"]])
        a.obs_names, a.var_names = list(ids), genes
        return a

    test, train = part(split["test"]), part(split["train"])
    syn = ad.read_h5ad(out / "runs" / "gaussian_seed0" / "synthetic_gaussian.h5ad")
    pos = {k: [split["test"].index(i) for i in m[k]] for k in ("nonmembers", "reference", "independent")}
    pos["members"] = [split["train"].index(i) for i in m["members"]]
    got = evaluate(test, syn, train=train, label_key="kind", metrics=MIA, n_boot=100, seed=3, membership_sets=pos)
    b = board.set_index("model")
    for r in got.to_dict("records"):
        assert b.loc["gaussian", r["name"]] == pytest.approx(r["value"]), r["name"]


def test_copies_row_reference_and_report_verdict(mia_bench):
    out, board = mia_bench
    b = board.set_index("model")
    # the real row's evaluation scores the training profiles as the synthetic set: the copying generator, found by
    # GAN-Leaks, kept as the leaderboard's "copies"; the row itself shows the independent real draw (the ideal)
    meta = json.loads((out / "leaderboard.json").read_text())
    assert meta["copies"]["mia_ganleaks_auc"] == 1.0 and meta["copies"]["mia_mc_auc"] == 1.0
    assert b.loc["real", "mia_ganleaks_auc"] == pytest.approx(meta["references"]["mia_ganleaks_auc"])
    assert np.isnan(b.loc["real", "mia_ganleaks_auc_ci_low"])
    assert b.loc["gaussian", "mia_ganleaks_auc"] < 1.0
    assert 0.0 <= meta["references"]["mia_ganleaks_auc"] <= 1.0  # the independent real draw
    assert meta["directions"]["mia_ganleaks_auc"] == 0.5
    assert meta["directions"]["mia_ganleaks_tpr_at_fpr001"] == pytest.approx(1 / 7, abs=1e-3)  # 6 non-members
    html = (out / "report.html").read_text()
    assert 'id="membership-table"' in html and "copies (real training profiles" in html
    assert "independent real draw" in html
    # the verdict judges only the FPRs the audit's 6 non-members resolve (neither 0.1 nor 0.01: the 3 AUCs)
    line = mm.verdict({n: {"value": b.loc["gaussian", n], "ci_low": b.loc["gaussian", n + "_ci_low"],
                           "ci_high": b.loc["gaussian", n + "_ci_high"], "direction": meta["directions"][n]}
                       for n in MIA}, n_nonmembers=6)
    assert "family-wise over 3 statistics" in line
    assert f"<strong>gaussian</strong>: {html_escape(line)}" in html
    assert "All indicators" not in html or "mia_ganleaks_auc</th>" not in html
