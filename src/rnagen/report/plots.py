"""Figures of the benchmark report, drawn with matplotlib from the saved plot data (nothing is computed
here beyond arranging what the benchmark saved) and returned as base64 PNG strings for embedding."""
from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


#: The longest class name written whole in a figure; longer ones are cut with an ellipsis (a 60-character name
#: pushed the heat map's and legend's panels off the page). The report's tables hold them whole.
MAX_LABEL = 32


def _drawable(text: str) -> bool:
    """Whether matplotlib's font has a glyph for every character of ``text`` (DejaVu Sans, its default, has none
    for CJK, which it draws as empty boxes, the same box for every such character)."""
    from matplotlib import font_manager, rcParams

    font = font_manager.get_font(font_manager.findfont(font_manager.FontProperties(family=rcParams["font.family"])))
    return all(ch.isspace() or font.get_char_index(ord(ch)) != 0 for ch in text)


def class_texts(names: Sequence[str]) -> dict[str, str]:
    """How each class name is written in the figures: whole up to :data:`MAX_LABEL` characters, cut with an
    ellipsis past it, and as its number ``#k`` (its place in ``names``, from 1) where the font lacks one of its
    characters or two cut names would read the same. :func:`class_key` lists the numbered ones for the report,
    whose HTML the browser writes in any script."""
    names = [str(n) for n in names]
    cut = {n: n if len(n) <= MAX_LABEL else n[:MAX_LABEL - 1].rstrip() + "\u2026" for n in names}
    seen: dict[str, int] = {}
    for n in names:
        seen[cut[n]] = seen.get(cut[n], 0) + 1
    return {n: cut[n] if seen[cut[n]] == 1 and _drawable(cut[n]) else f"#{i + 1}" for i, n in enumerate(names)}


def class_key(texts: Mapping[str, str]) -> str:
    """One sentence naming the classes the figures write by number (empty where none is)."""
    numbered = [f"{t} = {n}" for n, t in texts.items() if t.startswith("#") and t != n]
    return f"Classes numbered in the figures: {'; '.join(numbered)}." if numbered else ""


def _texts(names: Sequence[str], texts: Mapping[str, str] | None) -> list[str]:
    """The figure text of each of ``names`` (:func:`class_texts` of them where the report gave none)."""
    texts = texts if texts is not None else class_texts(names)
    # '$' opens matplotlib's math text: a class named 'p$\x$q' stopped the report, '$5 to $10' lost its '$'
    return [texts.get(str(n), str(n)).replace("$", r"\$") for n in names]


def to_base64(fig) -> str:
    """PNG bytes of ``fig`` as base64 text (the figure is closed)."""
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _colours(labels: Sequence[str]) -> dict[str, Any]:
    plt = _plt()
    if len(labels) <= 20:
        cmap = plt.get_cmap("tab20")
        return {lab: cmap(i) for i, lab in enumerate(labels)}
    cmap = plt.get_cmap("gist_rainbow")
    return {lab: cmap(i / (len(labels) - 1)) for i, lab in enumerate(labels)}


def embedding(real: Mapping[str, np.ndarray], synthetic: Mapping[str, Mapping[str, np.ndarray]], *,
              key: str = "pca", texts: Mapping[str, str] | None = None) -> str:
    """Real (first panel) and each model's synthetic profiles in the real data's 2-D embedding, by label."""
    plt = _plt()
    order = [str(x) for x in real["label_order"]]
    col = _colours(order)
    panels = [("real (train)", real)] + [(name, d) for name, d in synthetic.items() if key in d]
    ncol = min(3, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.8 * nrow), squeeze=False)
    R = real[key]
    lo, hi = R.min(axis=0), R.max(axis=0)
    pad = 0.15 * (hi - lo + 1e-9)
    for ax, (name, d) in zip(axes.flat, panels):
        P, labs = d[key], np.asarray(d["labels"]).astype(str)
        if name != "real (train)":
            ax.scatter(R[:, 0], R[:, 1], s=6, c="#d0d0d0", linewidths=0, label="real")
        for lab in order:
            m = labs == lab
            if m.any():
                ax.scatter(P[m, 0], P[m, 1], s=7, color=col[lab], linewidths=0)
        ax.set_title(name, fontsize=10)
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.set_xticks([]), ax.set_yticks([])
        if key == "pca" and "pca_explained" in real:
            ev = real["pca_explained"]
            ax.set_xlabel(f"PC1 ({100 * ev[0]:.0f}%)", fontsize=8)
            ax.set_ylabel(f"PC2 ({100 * ev[1]:.0f}%)", fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if len(order) <= 30:
        handles = [plt.Line2D([], [], marker="o", ls="", color=col[lab], label=text)
                   for lab, text in zip(order, _texts(order, texts))]
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    fig.suptitle(f"{key.upper()} of the real training profiles; synthetic sets projected on it (grey: real)",
                 fontsize=10)
    fig.tight_layout()
    return to_base64(fig)


def correlations(real: Mapping[str, np.ndarray], synthetic: Mapping[str, Mapping[str, np.ndarray]]) -> str:
    """Gene-gene Pearson correlation heat maps of the most variable genes: real, then each model."""
    plt = _plt()
    panels = [("real (train)", real["corr"])] + [(n, d["corr"]) for n, d in synthetic.items()]
    ncol = min(4, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol, 3.2 * nrow), squeeze=False)
    im = None
    for ax, (name, C) in zip(axes.flat, panels):
        im = ax.imshow(C, vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([]), ax.set_yticks([])
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.7, label="Pearson r")
    fig.suptitle(f"Gene-gene correlation of the {real['corr'].shape[0]} most variable genes (same order)",
                 fontsize=10)
    return to_base64(fig)


def moments(real: Mapping[str, np.ndarray], synthetic: Mapping[str, Mapping[str, np.ndarray]]) -> str:
    """Per-gene mean (top row) and variance (bottom row), real vs synthetic, one column per model."""
    plt = _plt()
    names = list(synthetic)
    n = max(len(names), 1)
    fig, axes = plt.subplots(2, n, figsize=(3.2 * n, 6.2), squeeze=False)
    for j, name in enumerate(names):
        d = synthetic[name]
        for i, stat in enumerate(("mean", "var")):
            ax = axes[i, j]
            x, y = real[stat], d[stat]
            ax.scatter(x, y, s=4, alpha=0.6, linewidths=0)
            lim = [float(min(x.min(), y.min())), float(max(x.max(), y.max()))]
            ax.plot(lim, lim, color="k", lw=0.7)
            ax.set_xlabel(f"real {stat}", fontsize=8)
            ax.set_ylabel(f"synthetic {stat}", fontsize=8)
            if i == 0:
                ax.set_title(name, fontsize=10)
            ax.tick_params(labelsize=7)
    fig.suptitle("Per-gene mean and variance (log scale), real training vs synthetic; the line is y = x",
                 fontsize=10)
    fig.tight_layout()
    return to_base64(fig)


def tstr_per_class(sets: Mapping[str, Mapping[str, Any]], labels: Sequence[str], *,
                   texts: Mapping[str, str] | None = None) -> str:
    """Heat map: a per-class score on real test of a classifier trained on each set (rows)."""
    plt = _plt()
    names = list(sets)
    M = np.array([[_nan(sets[n]["per_class"].get(lab)) for lab in labels] for n in names], dtype=float)
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(labels) + 2), 0.45 * len(names) + 2))
    im = ax.imshow(M, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_yticks(range(len(names)), [f"{n} ({_nan(sets[n].get('overall')):.2f})" for n in names], fontsize=8)
    ax.set_xticks(range(len(labels)), _texts(labels, texts), rotation=70, ha="right", fontsize=7)
    fig.colorbar(im, ax=ax, label="score on real test")
    ax.set_title("TSTR per class (classifier trained on each set; mean over classes in brackets)", fontsize=10)
    fig.tight_layout()
    return to_base64(fig)


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _log_x_at(ax, values: Sequence[float]) -> None:
    """A log x axis ticked at ``values`` themselves, in plain numbers (5, 10, 25 sampling steps; ε = 1, 10):
    the default ticks write powers of ten (6 x 10^0, 2 x 10^1) that are none of the points drawn."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ticks = sorted({float(v) for v in values if np.isfinite(v) and v > 0})
    ax.set_xscale("log")
    if ticks:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())


def steps_curve(curve: Mapping[str, Any]) -> str:
    """Quality indicators against the number of sampling steps (log x axis), one line style per sampler, with
    the real training profiles' values (the ceiling, dotted) and the Gaussian floor's (dash-dotted) as
    horizontal lines in each indicator's colour where the curve holds them."""
    plt = _plt()
    # steps curves written by earlier versions name two points' keys otherwise
    legacy = {"tstr_accuracy_logreg": "tstr_logreg_accuracy", "frechet_distance_pca": "frechet_pca"}
    pts = [{legacy.get(k, k): v for k, v in p.items()} for p in curve["points"]]
    refs = curve.get("references") or {}   # written with the registry names only
    ref_style = {"real": (":", "real training profiles (ceiling)"), "gaussian": ("-.", "Gaussian (floor)")}
    samplers = list(dict.fromkeys(p.get("sampler", "ddim") for p in pts))
    styles = {name: ("-", "--", ":", "-.")[i % 4] for i, name in enumerate(samplers)}
    keys = [k for k in ("tstr_logreg_accuracy", "correlation_score", "precision", "recall", "coverage")
            if k in pts[0]]
    panels = [("density", "C5", "density (1 = as real)")] if "density" in pts[0] else []
    panels += [("frechet_pca", "C3", "Fréchet distance (PCA, lower is better)")] if "frechet_pca" in pts[0] else []
    fig, axes = plt.subplots(1, 2 + len(panels), figsize=(4.4 * (2 + len(panels)), 3.6))
    for name in samplers:
        sp = [p for p in pts if p.get("sampler", "ddim") == name]
        steps = [p["steps"] for p in sp]
        for c, k in enumerate(keys):
            axes[0].plot(steps, [p[k] for p in sp], marker="o", ls=styles[name], color=f"C{c}")
        for ax, (k, colour, _) in zip(axes[1:], panels):
            ax.plot(steps, [p[k] for p in sp], marker="o", ls=styles[name], color=colour, label=name)
        axes[-1].plot(steps, [p["sample_seconds"] for p in sp], marker="o", ls=styles[name], color="C4",
                      label=name)
    for ref, vals in refs.items():
        ls, label = ref_style.get(ref, ("--", ref))
        for c, k in enumerate(keys):
            if vals.get(k) is not None:
                axes[0].axhline(vals[k], ls=ls, lw=0.9, color=f"C{c}", alpha=0.8)
        for ax, (k, colour, _) in zip(axes[1:], panels):
            if vals.get(k) is not None:
                ax.axhline(vals[k], ls=ls, lw=0.9, color=colour, alpha=0.8, label=label)
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("higher is better")
    # the first panel's key below the figure, colour for the indicator and line style for the sampler and the
    # references: inside, five indicators' lines and one entry per indicator and sampler overlapped
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=f"C{c}", marker="o", label=k) for c, k in enumerate(keys)]
    handles += [Line2D([], [], color="0.3", ls=styles[name], label=name) for name in samplers]
    handles += [Line2D([], [], color="0.3", ls=ref_style.get(ref, ("--", ref))[0],
                       label=ref_style.get(ref, ("--", ref))[1]) for ref in refs]
    for ax, (_, _, ylabel) in zip(axes[1:], panels):
        ax.set_ylabel(ylabel)
    axes[-1].set_ylabel("sampling seconds")
    for ax in axes[1:]:
        ax.legend(fontsize=7)
    for ax in axes:
        _log_x_at(ax, [p["steps"] for p in pts])
        ax.set_xlabel("sampling steps")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Quality against the number of sampling steps ({', '.join(samplers)}; T = {curve.get('T')})",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    return to_base64(fig)


def recon_r2(r2: Mapping[str, np.ndarray]) -> str:
    """Distribution of per-gene R² on held-out real profiles, per reconstruction method."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    names = list(r2)
    data = [np.asarray(r2[n], dtype=float)[np.isfinite(r2[n])] for n in names]
    lo = min([-0.5] + [float(np.percentile(d, 1)) for d in data if len(d)])
    bins = np.linspace(max(lo, -1.0), 1.0, 41)
    for n, d in zip(names, data):
        axes[0].hist(np.clip(d, bins[0], 1.0), bins=bins, alpha=0.55, label=f"{n} (median {np.median(d):.2f})")
    axes[0].set_xlabel("per-gene R² on held-out real profiles")
    axes[0].set_ylabel("genes")
    axes[0].legend(fontsize=8)
    axes[1].boxplot(data, showfliers=False)
    axes[1].set_xticks(range(1, len(names) + 1), names)
    axes[1].set_ylabel("per-gene R²")
    fig.suptitle("Reconstruction of the non-input genes from the input genes (trained on real data)", fontsize=10)
    fig.tight_layout()
    return to_base64(fig)


# ----------------------------------------------------------------------------------- biological fidelity
def _volcano_classes(d: Mapping[str, np.ndarray], n: int) -> list[int]:
    """The ``n`` classes with the most real DE genes (the most informative panels)."""
    calls = (d["q_real"] < float(d["fdr"])) & (np.abs(d["lfc_real"]) >= float(d["min_lfc"]))
    return sorted(np.argsort(-calls.sum(1), kind="stable")[:n].tolist())


def volcano(sets: Mapping[str, Mapping[str, np.ndarray]], *, n_classes: int = 4,
            texts: Mapping[str, str] | None = None) -> str:
    """Volcano plots, one row per synthetic set and one column per class (the classes with the most real DE
    genes): log2 fold change (class vs rest) against -log10 BH q, real training profiles in grey under the
    synthetic set in colour, with the DE thresholds dashed."""
    plt = _plt()
    first = next(iter(sets.values()))
    cols = _volcano_classes(first, n_classes)
    fig, axes = plt.subplots(len(sets), len(cols), figsize=(3.2 * len(cols), 2.8 * len(sets)), squeeze=False)
    for i, (name, d) in enumerate(sets.items()):
        for j, c in enumerate(cols):
            ax = axes[i, j]
            for tag, col, lab in (("real", "0.6", "real"), ("syn", "tab:red", name)):
                q = np.maximum(d[f"q_{tag}"][c].astype(np.float64), 1e-300)  # float32 q underflows to 0
                ax.scatter(d[f"lfc_{tag}"][c], -np.log10(q), s=4, c=col, alpha=0.6, label=lab, linewidths=0)
            ax.axhline(-np.log10(float(d["fdr"])), ls="--", c="k", lw=0.6)
            for x in (-float(d["min_lfc"]), float(d["min_lfc"])):
                ax.axvline(x, ls="--", c="k", lw=0.6)
            ax.set_title(f"{name}: {_texts([d['classes'][c]], texts)[0]}", fontsize=8)
            ax.set_xlabel("log2 fold change", fontsize=7)
            if j == 0:
                ax.set_ylabel("-log10 q", fontsize=7)
                ax.legend(fontsize=6, markerscale=2, loc="upper left")
    fig.tight_layout()
    return to_base64(fig)


def fold_change_scatter(sets: Mapping[str, Mapping[str, np.ndarray]], *, max_points: int = 20000) -> str:
    """Synthetic against real log2 fold changes (every class and gene; real DE genes in colour), one panel
    per synthetic set, with the diagonal and the Spearman correlation over all points."""
    from scipy.stats import spearmanr

    plt = _plt()
    fig, axes = plt.subplots(1, len(sets), figsize=(3.4 * len(sets), 3.4), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (name, d) in zip(axes[0], sets.items()):
        x, y = d["lfc_real"].ravel(), d["lfc_syn"].ravel()
        de = ((d["q_real"] < float(d["fdr"])) & (np.abs(d["lfc_real"]) >= float(d["min_lfc"]))).ravel()
        idx = np.sort(rng.choice(len(x), max_points, replace=False)) if len(x) > max_points else np.arange(len(x))
        ax.scatter(x[idx][~de[idx]], y[idx][~de[idx]], s=3, c="0.6", alpha=0.5, linewidths=0, label="not DE")
        ax.scatter(x[idx][de[idx]], y[idx][de[idx]], s=3, c="tab:red", alpha=0.6, linewidths=0, label="real DE")
        lim = float(np.nanmax(np.abs(np.r_[x, y]))) if len(x) else 1.0
        ax.plot([-lim, lim], [-lim, lim], c="k", lw=0.6)
        rho = spearmanr(x, y).statistic if len(x) > 2 else float("nan")
        ax.set_title(f"{name} (Spearman {rho:.2f})", fontsize=9)
        ax.set_xlabel("real log2 FC", fontsize=8)
        ax.set_ylabel("synthetic log2 FC", fontsize=8)
    axes[0, 0].legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    return to_base64(fig)


def coexpr_per_class(sets: Mapping[str, Mapping[str, np.ndarray]], *, texts: Mapping[str, str] | None = None) -> str:
    """Co-expression edge F1 per class (classes with enough profiles for a network of their own), one line
    per synthetic set; edge precision and recall as thin markers."""
    plt = _plt()
    classes = sorted({str(c) for d in sets.values() for c in d["coexpr_classes"]})
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(classes) + 2), 3.6))
    pos = {c: i for i, c in enumerate(classes)}
    for name, d in sets.items():
        x = [pos[str(c)] for c in d["coexpr_classes"]]
        line, = ax.plot(x, d["coexpr"][:, 2], marker="o", label=f"{name} F1")
        ax.plot(x, d["coexpr"][:, 0], ls="none", marker="^", ms=3, c=line.get_color(), alpha=0.6)
        ax.plot(x, d["coexpr"][:, 1], ls="none", marker="v", ms=3, c=line.get_color(), alpha=0.6)
    ax.set_xticks(range(len(classes)), _texts(classes, texts), rotation=90, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("edge F1 (^ precision, v recall)", fontsize=8)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return to_base64(fig)


def top_gene_table(sets: Mapping[str, Mapping[str, np.ndarray]], *, n_show: int = 5,
                   texts: Mapping[str, str] | None = None) -> str:
    """A table: per class, the first ``n_show`` top genes of the classifier trained on real profiles and, per
    synthetic set, the Jaccard overlap of its top genes with them."""
    plt = _plt()
    first = next(iter(sets.values()))
    classes = [str(c) for c in first["classes"]]
    # gene names are the data's own, '$' in them opens matplotlib's math text as in class names (:func:`_texts`)
    cells = [[c, ", ".join(str(g).replace("$", r"\$") for g in first["top_real"][i][:n_show])]
             + [f"{float(d['jaccard'][i]):.2f}" if i < len(d["jaccard"]) else "" for d in sets.values()]
             for i, c in enumerate(_texts(classes, texts))]
    cols = ["class", f"real top {n_show} genes"] + [f"{n} Jaccard" for n in sets]
    fig, ax = plt.subplots(figsize=(4 + 1.3 * len(sets) + 0.9 * n_show, 0.28 * len(classes) + 0.8))
    ax.axis("off")
    tab = ax.table(cellText=cells, colLabels=cols, loc="center", cellLoc="left")
    tab.auto_set_font_size(False)
    tab.set_fontsize(7)
    tab.auto_set_column_width(list(range(len(cols))))
    return to_base64(fig)


def privacy_curve(curves: Mapping[str, Mapping[str, Any]], *, utility: str, attack: str | None) -> str:
    """Utility (and the strongest attack's AUC, when given) against ε, one line per model family, with each
    family's non-private value as a dashed horizontal line of the same colour.

    ``curves[family] = {"eps": [...], "utility": [...], "attack": [...], "utility_ref": v, "attack_ref": v}``.
    """
    plt = _plt()
    panels = [("utility", utility)] + ([("attack", attack)] if attack else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        for c, (family, cur) in enumerate(curves.items()):
            order = np.argsort(cur["eps"])
            eps = np.asarray(cur["eps"], dtype=float)[order]
            vals = np.asarray([_nan(v) for v in cur[key]], dtype=float)[order]
            # a marker and a size per family: families at the same value (TSTR 1 at every ε) stay visible
            ax.plot(eps, vals, marker="osD^v"[c % 5], ms=9 - 1.5 * (c % 4), color=f"C{c}", alpha=0.85,
                    label=f"{family} (DP)")
            ref = cur.get(f"{key}_ref")
            if ref is not None:
                ax.axhline(float(ref), color=f"C{c}", ls="--", lw=1, label=f"{family} (not private)")
        if key == "attack":
            ax.axhline(0.5, color="grey", ls=":", lw=1, label="chance")
        _log_x_at(ax, [e for cur in curves.values() for e in cur["eps"]])
        ax.set_xlabel("privacy budget ε (log scale)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    # one key below the panels, not over the lines (the chance line's entry from the attack panel)
    handles, labels = [], []
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    return to_base64(fig)
