"""The biology figures of the report: drawn from the benchmark's saved ``plots/biology_<row>.npz``, whose fold
changes are those of the real training profiles and the synthetic set."""
import json

import numpy as np

from rnagen.bench.plotdata import plot_space
from rnagen.data import read


def test_biology_figures_and_their_data(tiny_bench):
    out, _, csv = tiny_bench
    text = (out / "report.html").read_text(encoding="utf-8")
    for fig in ("volcano", "lfc", "topgenes"):
        assert f'id="{fig}"' in text
    d = dict(np.load(out / "plots" / "biology_ddim.npz", allow_pickle=False))
    adata = read(csv, label_key="kind")
    train = adata[json.loads((out / "split.json").read_text())["train"]]
    X, _ = plot_space(train)
    y = train.obs["kind"].astype(str).to_numpy()
    classes = [str(c) for c in d["classes"]]
    assert classes == sorted(set(y))
    for i, c in enumerate(classes):
        np.testing.assert_allclose(d["lfc_real"][i], X[y == c].mean(0) - X[y != c].mean(0), atol=1e-4)
    assert d["lfc_syn"].shape == d["lfc_real"].shape == d["q_real"].shape
    assert ((d["q_real"] >= 0) & (d["q_real"] <= 1)).all()
    assert d["top_real"].shape == (len(classes), min(10, X.shape[1]))
    assert ((d["jaccard"] >= 0) & (d["jaccard"] <= 1)).all()


def test_biology_figures_take_dpm_rows_but_not_reconstructed_rows(tiny_bench, tmp_path, monkeypatch):
    import shutil

    from rnagen import report
    from rnagen.report import plots

    out = tiny_bench[0]
    for name in ("dpm++", "ddim+linear", "real"):
        shutil.copy(out / "plots" / "biology_ddim.npz", tmp_path / f"biology_{name}.npz")
    drawn = []
    monkeypatch.setattr(plots, "volcano", lambda sets, **kw: drawn.append(list(sets)) or "")
    figs = report._biology_figures(tmp_path, [{"model": m} for m in ("real", "dpm++", "ddim+linear")])
    assert drawn == [["dpm++"]]
    assert [f["id"] for f in figs][:2] == ["volcano", "lfc"]
