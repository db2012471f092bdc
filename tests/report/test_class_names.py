"""Class names in the report's figures: long ones cut, ones the font cannot draw numbered with a key in the
caption (a 200-character name stretched the heat map's image; CJK names were drawn as identical empty boxes)."""
import base64
import struct
import warnings

import numpy as np

from rnagen.report import plots


def _png_size(b64: str) -> tuple[int, int]:
    raw = base64.b64decode(b64)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", raw[16:24])


def test_class_texts_cut_long_names_and_number_undrawable_or_colliding_ones():
    long = "Brain - Anterior cingulate cortex (BA24) of the left hemisphere"
    twin_a, twin_b = "x" * 40 + "a", "x" * 40 + "b"
    names = ["Lung", long, "肺癌", twin_a, twin_b, "Côte d'Ivoire"]
    texts = plots.class_texts(names)
    assert texts["Lung"] == "Lung" and texts["Côte d'Ivoire"] == "Côte d'Ivoire"
    assert len(texts[long]) == plots.MAX_LABEL and texts[long].endswith("\u2026") and long.startswith(texts[long][:-1])
    assert texts["肺癌"] == "#3" and texts[twin_a] == "#4" and texts[twin_b] == "#5"
    key = plots.class_key(texts)
    assert key == f"Classes numbered in the figures: #3 = 肺癌; #4 = {twin_a}; #5 = {twin_b}."
    assert plots.class_key(plots.class_texts(["a", "b"])) == ""


def test_figures_draw_every_glyph_and_keep_their_size_with_any_class_name():
    def heat_map(labels):
        sets = {"real": {"per_class": {lab: 0.9 for lab in labels}, "overall": 0.9},
                "m": {"per_class": {lab: 0.5 for lab in labels}, "overall": 0.5}}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            img = plots.tstr_per_class(sets, labels, texts=plots.class_texts(labels))
        assert not [w for w in caught if "missing from font" in str(w.message)]
        return _png_size(img)

    short = heat_map(["a" * 32, "b"])
    long = heat_map(["a" * 200, "b"])
    assert abs(long[0] - short[0]) <= 4 and abs(long[1] - short[1]) <= 4, (long, short)  # an ellipsis's pixels
    heat_map(["肺癌", "肝癌"])
    # the other class figures take the same texts
    rng = np.random.default_rng(0)
    real = {"pca": rng.normal(size=(20, 2)), "labels": np.array(["肺癌", "z" * 90] * 10),
            "label_order": np.array(["肺癌", "z" * 90])}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plots.embedding(real, {"m": {"pca": rng.normal(size=(20, 2)), "labels": real["labels"]}},
                        texts=plots.class_texts(real["label_order"]))
    assert not [w for w in caught if "missing from font" in str(w.message)]


def test_dollar_signs_in_class_names_are_drawn_as_written():
    """'$' opens matplotlib's math text: a class named 'p$\\x$q' stopped the benchmark at its report (a
    traceback), '$5 to $10' was drawn as '5to10'."""
    labels = ["p$\\x$q", "price $5 to $10"]
    sets = {"real": {"per_class": {lab: 0.9 for lab in labels}, "overall": 0.9},
            "m": {"per_class": {lab: 0.5 for lab in labels}, "overall": 0.5}}
    assert _png_size(plots.tstr_per_class(sets, labels, texts=plots.class_texts(labels)))[0] > 0
    rng = np.random.default_rng(0)
    real = {"pca": rng.normal(size=(20, 2)), "labels": np.array(labels * 10), "label_order": np.array(labels)}
    plots.embedding(real, {"m": {"pca": rng.normal(size=(20, 2)), "labels": real["labels"]}},
                    texts=plots.class_texts(real["label_order"]))
    assert plots._texts(labels, None) == ["p\\$\\x\\$q", "price \\$5 to \\$10"]
    # gene names in the top-genes table, the data's own too
    genes = np.array([["p$\\x$q", "G2", "G3"], ["$5 to $10", "G2", "G4"]])
    top = {"m": {"classes": np.array(labels), "top_real": genes, "jaccard": np.array([0.5, 1.0])}}
    assert _png_size(plots.top_gene_table(top, n_show=3))[0] > 0


def test_the_report_captions_carry_the_key_of_numbered_classes(tmp_path):
    import json

    from rnagen.report import _figures

    labels = np.array(["肺癌", "Lung"])
    np.savez(tmp_path / "real.npz", label_order=labels, labels=labels, pca=np.zeros((2, 2)))
    (tmp_path / "tstr_per_class.json").write_text(json.dumps(
        {"metric": "recall", "sets": {"real": {"per_class": {"肺癌": 1.0, "Lung": 0.5}, "overall": 0.75}}}))
    figures = {f["id"]: f for f in _figures(tmp_path, [])}
    assert figures["tstr"]["caption"].endswith("Classes numbered in the figures: #1 = 肺癌.")


def test_a_row_without_a_first_run_set_is_named_under_the_set_figures(tmp_path, monkeypatch):
    """The figures draw each row's first run; a row whose first run failed (its others in the tables) has no
    panel, and the caption says so instead of leaving it out unsaid."""
    from rnagen.report import _set_figures

    for other in ("correlations", "moments"):   # the PCA's caption is the one under test
        monkeypatch.setattr(plots, other, lambda *a, **k: "")

    rng = np.random.default_rng(0)
    labels = np.array(["a", "b"] * 10)
    real = {"pca": rng.normal(size=(20, 2)), "labels": labels, "label_order": np.array(["a", "b"])}
    np.savez(tmp_path / "vae.npz", pca=rng.normal(size=(20, 2)), labels=labels)
    rows = [{"model": "real"}, {"model": "gaussian"}, {"model": "vae"}]
    pca = next(f for f in _set_figures(tmp_path, rows, real, plots.class_texts(["a", "b"])) if f["id"] == "pca")
    assert pca["caption"].endswith("No panel for gaussian: the figures draw each row's first run, which failed "
                                   "there (the tables are over its other runs).")
    np.savez(tmp_path / "gaussian.npz", pca=rng.normal(size=(20, 2)), labels=labels)
    pca = next(f for f in _set_figures(tmp_path, rows, real, plots.class_texts(["a", "b"])) if f["id"] == "pca")
    assert "No panel" not in pca["caption"]


def test_log_x_axes_are_ticked_at_the_points_drawn(monkeypatch):
    """The steps curve and the privacy curve put their log x axis ticks at powers of ten (6 x 10^0, 2 x 10^1),
    none of them a step count or an epsilon that was run; they are ticked at the points themselves."""
    figs = []
    monkeypatch.setattr(plots, "to_base64", lambda fig: figs.append(fig) or "")
    pts = [{"sampler": s, "steps": n, "tstr_logreg_accuracy": 0.5, "density": 1.0, "frechet_pca": 3.0,
            "sample_seconds": 0.1 * n} for s in ("ddim", "dpm++") for n in (5, 10, 20)]
    plots.steps_curve({"points": pts, "T": 20, "references": {"real": {"density": 1.0}}})
    plots.privacy_curve({"vae": {"eps": [10.0, 1.0], "utility": [0.5, 0.1], "attack": [0.6, 0.5],
                                 "utility_ref": 0.9, "attack_ref": 0.7}}, utility="TSTR", attack="AUC")
    for fig in figs:
        for ax in fig.axes:
            labels = [t.get_text() for t in ax.get_xticklabels()]
            assert labels in (["5", "10", "20"], ["1", "10"]), labels
        # the many-line panels' keys sit below them, in the figure's legend, not over their lines
        assert fig.legends and not fig.axes[0].get_legend()
