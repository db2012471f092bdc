"""The benchmark report: one self-contained HTML file drawn from a benchmark folder's saved results.

:func:`write_report` reads ``leaderboard.json`` and the plot data under ``plots/`` written by
:func:`rnagen.bench.run_benchmark`, computes no new indicator, draws the figures with matplotlib, embeds them
as base64 PNGs and renders ``templates/report.html.j2`` (jinja2). The file loads nothing from outside, so it
reads offline and can be mailed around.
"""
from __future__ import annotations

import contextlib
import html
import json
import math
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._io import file_digests, write_text
from ..errors import RunDirError

__all__ = ["write_report", "best_rows", "gap_colour"]

# leaderboard columns shown in the main table, with their headers
_SHOWN = (
    ("tstr_mlp_accuracy", "TSTR acc."), ("trtr_accuracy", "TRTR acc."), ("correlation_score", "corr. score"),
    ("precision", "precision"), ("recall", "recall"), ("density", "density"), ("coverage", "coverage"),
    ("aa_ts", "AA<sub>ts</sub>"), ("detection_auc", "detection AUC"), ("frechet_classifier", "Fréchet"),
    ("dcr_share", "DCR share"), ("train_seconds", "train s"), ("sample_seconds", "sample s"),
) + (("de_f1", "DE F1"), ("coexpr_edge_f1", "co-expr. edge F1"), ("concordance_jaccard", "top-gene Jaccard"))


# the share of the gap closed, shown first (columns written by rnagen.bench: ``<indicator>_gap_closed``)
_GAP_SHOWN = (
    ("density", "density"), ("coverage", "coverage"), ("precision", "precision"), ("recall", "recall"),
    ("aa_ts", "AA<sub>ts</sub>"), ("detection_auc", "detection AUC"), ("correlation_score", "corr. score"),
    ("frechet_classifier", "Fréchet"), ("frechet_pca", "Fréchet (PCA)"),
) + (("de_f1", "DE F1"), ("coexpr_edge_f1", "co-expr. edge F1"), ("concordance_jaccard", "top-gene Jaccard"))


def _finite(v: Any) -> float | None:
    """``v`` as a float if it is a finite number, else ``None`` (missing, NaN, infinite or not a number)."""
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def gap_colour(v: Any) -> str:
    """Background colour of a gap-closed cell: red at or below 0 (no better than the floor), through yellow
    (half the gap), to green at 1 (as real data); grey when undefined."""
    x = _finite(v)
    if x is None:
        return "#eeeeee"
    hue = 120.0 * min(max(x, 0.0), 1.0)
    light = 80 if x >= 0 else 72  # worse than the floor: a deeper red
    return f"hsl({hue:.0f}, 70%, {light}%)"


def _gap_table(rows: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any] | None:
    """The leading table: the share of the gap closed per model (rows) and indicator (columns), colour-coded;
    a share whose floor is within noise of the ceiling (:func:`rnagen.metrics.gap.share_measured`) in
    brackets, grey. Each column's head gives the two ends of its scale as raw values of the indicator (the
    leaderboard's means): the real row's (the real-vs-real ceiling, 100%) and the Gaussian row's (the floor, 0%)."""
    from ..metrics.gap import UNRESOLVED_NOTE, share_measured

    cols = [(c, lab) for c, lab in _GAP_SHOWN
            if any(_finite(r.get(f"{c}_gap_closed")) is not None for r in rows)]
    if not cols:
        return None
    body = []
    unresolved = False
    for r in rows:
        name = str(r["model"])
        if _is_reference(name):
            continue  # the real rows are the ceiling: 100% by construction
        cells = []
        for c, _ in cols:
            v = _finite(r.get(f"{c}_gap_closed"))
            sd = _finite(r.get(f"{c}_gap_closed_sd"))
            text = "–" if v is None else f"{100 * v:.0f}%"
            # a flag written empty (NaN: an indicator without a CI, as the biology family's) is not a missing
            # flag (a leaderboard written before the flags, read as measured)
            key = f"{c}_gap_resolved"
            flag = (math.nan if r[key] is None else r[key]) if key in r else None
            spread = "" if sd is None else f"± {100 * sd:.0f} sd"
            n = _finite(r.get(f"{c}_gap_closed_n"))   # defined on fewer runs than were run
            if n is not None and _finite(r.get("n_seeds")) is not None:
                spread = (spread + " " if spread else "") + f"{int(n)} of {int(r['n_seeds'])} runs"
            if v is not None and not share_measured(flag):
                # the floor within its CI of the ceiling on most runs: a ratio of two noise-sized distances
                cells.append({"text": f"({text})", "colour": gap_colour(None), "sd": spread, "unresolved": True})
                unresolved = True
                continue
            cells.append({"text": text, "colour": gap_colour(v), "sd": spread, "unresolved": False})
        body.append({"model": name, "floor": name == "gaussian", "cells": cells})
    ends = {name: next((r for r in rows if str(r["model"]) == name), {}) for name in ("real", "gaussian")}
    head = [{"key": c, "label": lab, "ceiling": _fmt(ends["real"].get(c), c), "floor": _fmt(ends["gaussian"].get(c), c)}
            for c, lab in cols]
    return {"head": head, "rows": body,
            "unresolved_note": UNRESOLVED_NOTE if unresolved else ""}



def _membership_cell(v: Any, lo: Any, hi: Any) -> dict[str, str]:
    return {"value": _fmt(v), "ci": f"[{_fmt(lo)}, {_fmt(hi)}]" if _finite(lo) is not None else ""}


def _nonmembers(out: Path) -> int | None:
    """The membership audit's number of non-members from the benchmark's ``split.json`` (the fewest over its
    splits), which decides the FPRs the verdict can judge; None where it is not recorded."""
    try:
        doc = json.loads((out / "split.json").read_text())
    except (OSError, ValueError):
        return None
    splits = doc.get("splits") or [doc]
    counts = [len(s["membership"]["nonmembers"]) for s in splits if isinstance(s, dict)
              and isinstance(s.get("membership"), dict) and "nonmembers" in s["membership"]]
    return min(counts) if counts and len(counts) == len(splits) else None


def _membership(rows: list[dict[str, Any]], lb: dict[str, Any], *, n_nonmembers: int | None = None
                ) -> dict[str, Any] | None:
    """The membership-inference section: per model and attack the AUC and the TPRs at FPR 0.1 / 0.01 (with
    CIs), next to the copying generator (the ``real`` row: training profiles as the synthetic set, the worst
    case), the independent real draw (each indicator's reference: the ideal) and chance; and one verdict line
    per model (:func:`rnagen.metrics.membership.verdict`, judged by the CI, on the FPRs that ``n_nonmembers``
    resolves)."""
    from ..metrics.membership import ATTACKS, STATISTICS, metric_name, verdict

    names = [(a, k) for a in ATTACKS for k in STATISTICS if metric_name(a, k) in lb["columns"]]
    if not names:
        return None
    directions, refs = lb.get("directions", {}), lb.get("references", {})
    copies = lb.get("copies")   # the real row's own values (the copying generator); earlier files kept them there
    attacks = list(dict.fromkeys(a for a, _ in names))
    body, verdicts = [], []
    for r in rows:
        model = str(r["model"])
        if _is_reference(model) and model != "real":  # the full-profile and reconstructed references
            continue
        if model == "real" and copies is not None:
            cells = [_membership_cell(copies.get(metric_name(a, k)), None, None) for a, k in names]
        else:
            cells = [_membership_cell(r.get(metric_name(a, k)), r.get(metric_name(a, k) + "_ci_low"),
                                      r.get(metric_name(a, k) + "_ci_high")) for a, k in names]
        label = "copies (real training profiles as the synthetic set: worst case)" if model == "real" else model
        body.append({"model": label, "reference": model == "real", "cells": cells})
        if model != "real":
            entries = {metric_name(a, k): {"value": r.get(metric_name(a, k)),
                                           "ci_low": r.get(metric_name(a, k) + "_ci_low"),
                                           "ci_high": r.get(metric_name(a, k) + "_ci_high"),
                                           "direction": directions.get(metric_name(a, k))} for a, k in names}
            verdicts.append({"model": model, "text": verdict(entries, n_nonmembers=n_nonmembers)})
    body.append({"model": "independent real draw (held-out real profiles as the synthetic set: ideal)",
                 "reference": True, "cells": [_membership_cell(refs.get(metric_name(a, k)), None, None)
                                              for a, k in names]})
    body.append({"model": "chance", "reference": True,
                 "cells": [_membership_cell(directions.get(metric_name(a, k)), None, None) for a, k in names]})
    head = [{"label": ATTACKS[a][0], "span": sum(1 for x, _ in names if x == a), "source": ATTACKS[a][2]}
            for a in attacks]
    sub = [{"auc": "AUC", "tpr_at_fpr01": "TPR@FPR 0.1", "tpr_at_fpr001": "TPR@FPR 0.01"}[k] for _, k in names]
    return {"head": head, "sub": sub, "rows": body, "verdicts": verdicts}


def _is_reference(model: str) -> bool:
    return model == "real" or model.startswith("real-") or model.startswith("real+")


def best_rows(rows: list[dict[str, Any]], column: str, direction: Any) -> set[int]:
    """Indices of the best non-reference rows in ``column`` ("higher", "lower" or a target value). For a target,
    the real row's value where the table has one: real profiles themselves do not score the nominal target (a
    detection AUC below 0.5 out of fold, AA halves apart at unequal set sizes), so the model nearest real data is
    the best, not the one nearest the nominal value. Not for the privacy and membership indicators (their real
    row is the independent real value; leaderboards of earlier versions held the copying generator's there): the
    nominal target."""
    from ..metrics._registry import scores_copies

    values = [(i, _finite(r.get(column))) for i, r in enumerate(rows) if not _is_reference(str(r["model"]))]
    cand = [(i, v) for i, v in values if v is not None]
    if not cand:
        return set()
    if direction not in ("higher", "lower") and not scores_copies(column):
        real = next((_finite(r.get(column)) for r in rows if str(r["model"]) == "real"), None)
        direction = real if real is not None else direction
    if direction == "higher":
        score = [v for _, v in cand]
    elif direction == "lower":
        score = [-v for _, v in cand]
    else:
        score = [-abs(v - float(direction)) for _, v in cand]
    top = max(score)
    best = {i for (i, _), s in zip(cand, score) if math.isclose(s, top, rel_tol=1e-9, abs_tol=1e-12)}
    # a column where every model ties (e.g. a shared TRTR reference) singles out nobody
    return set() if len(best) == len(cand) > 1 else best


def _fmt(v: Any, column: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, (int, float)):
        if column.endswith("seconds"):
            return f"{v:.1f}"
        a = abs(v)
        if a >= 1000:   # a large distance in plain digits: no exponent beside the column's decimals
            return f"{v:.0f}"
        return f"{v:.3g}" if (a < 0.001 and a != 0) else f"{v:.3f}"
    return str(v)   # the template escapes every value it writes (jinja2 autoescape)


def _direction_text(d: Any) -> str:
    if d == "higher":
        return "higher is better"
    if d == "lower":
        return "lower is better"
    try:
        return f"best near {float(d):g}"
    except (TypeError, ValueError):
        return ""


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _table(rows, columns, directions) -> dict[str, Any]:
    """Cells of a leaderboard table: value, CI text, and whether it is the best of its column."""
    # a column without a direction (the privacy guarantee's epsilon and delta: a setting, not a score) gets no star
    best = {c: best_rows(rows, c, directions[c]) if c in directions else set() for c, _ in columns}
    body = []
    for i, r in enumerate(rows):
        cells = []
        for c, _ in columns:
            lo, hi = r.get(f"{c}_ci_low"), r.get(f"{c}_ci_high")
            ci = f"[{_fmt(lo, c)}, {_fmt(hi, c)}]" if lo is not None and hi is not None else ""
            sd, dsd = r.get(f"{c}_sd"), r.get(f"{c}_draw_sd")
            # real profiles are neither trained nor sampled: the reference rows' 0 s is no time
            value = "–" if c.endswith("_seconds") and _is_reference(str(r["model"])) else _fmt(r.get(c), c)
            cells.append({"value": value, "ci": ci, "best": i in best[c],
                          "sd": f"± {_fmt(sd, c)} sd" if sd is not None else "",
                          "draw_sd": f"± {_fmt(dsd, c)} between draws" if dsd is not None else ""})
        body.append({"model": str(r["model"]), "reference": _is_reference(str(r["model"])), "cells": cells})
    head = [{"key": c, "label": lab, "direction": _direction_text(directions.get(c, ""))} for c, lab in columns]
    return {"head": head, "rows": body}


def write_report(out_dir: str | Path, *, path: str | Path | None = None, title: str | None = None) -> Path:
    """Write ``report.html`` for a benchmark folder (see :func:`rnagen.bench.run_benchmark`).

    Parameters
    ----------
    out_dir
        The benchmark folder (holds ``leaderboard.json`` and ``plots/``).
    path
        Where to write the report; default ``out_dir/report.html``.
    title
        Page title; default names the data and label key.

    Returns
    -------
    pathlib.Path
        The report's path.
    """
    import jinja2

    out = Path(out_dir)
    lb_path = out / "leaderboard.json"
    if not lb_path.is_file():
        raise RunDirError(f"{out} has no leaderboard.json; run `rnagen benchmark ... --out {out}` first")
    from .._io import check_replacements
    from ..bench.runner import TEST_FILE_COLUMN, upgrade_leaderboard

    check_replacements(lb_path)   # a leaderboard.csv and .json a killed benchmark was replacing: the old pair back

    try:
        lb = upgrade_leaderboard(json.loads(lb_path.read_text(encoding="utf-8")))
        rows, directions, settings = lb["rows"], lb.get("directions", {}), lb.get("settings", {})
        if not (isinstance(rows, list) and all(isinstance(r, dict) and "model" in r for r in rows)):
            raise TypeError("rows")
        if not (isinstance(lb["columns"], list) and all(isinstance(c, str) for c in lb["columns"])):
            raise TypeError("columns")
        # the entries the page reads as tables of their own: absent, or a JSON object each
        if any(not isinstance(lb.get(k), (dict, type(None)))
               for k in ("directions", "settings", "references", "copies", "gap_closed", "failed", "plots")):
            raise TypeError("entries")
    except (ValueError, KeyError, TypeError, AttributeError):   # cut short, edited by hand, or not rnagen's
        raise RunDirError(f"{lb_path} is damaged (not the leaderboard rnagen writes); rerun `rnagen benchmark ... "
                          f"--out {out}`, which redoes what it cannot read") from None
    shown = [(c, lab) for c, lab in _SHOWN if c in lb["columns"]]
    main = _table(rows, shown, directions)
    gap = _gap_table(rows, settings)
    shown_keys = {c for c, _ in _SHOWN}
    others = [c for c in lb["columns"] if c not in shown_keys and c not in ("model", "n_seeds")
              and not c.endswith(("_ci_low", "_ci_high", "_sd", "_gap_closed", "_gap_closed_n", "_gap_resolved"))
              and not c.startswith("mia_")   # the resolved flags qualify the gap table's shares: not indicators
              and any(r.get(c) is not None for r in rows)]   # a column no row has (not computed): no blank column
    extra = _table(rows, [(c, html.escape(c)) for c in others], directions) if others else None
    from ..metrics.fidelity import PCA_COMPONENTS

    with _current_plots(out / "plots", lb.get("plots")) as (pdir, left_out):
        figures = _figures(pdir, rows)
    membership = _membership(rows, lb, n_nonmembers=_nonmembers(out))

    env = jinja2.Environment(loader=jinja2.PackageLoader("rnagen.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    tpl = env.get_template("report.html.j2")
    name = settings.get("data_name") or Path(str(settings.get("data", "data"))).name
    ttl = title or f"rnagen benchmark: {name}, label {settings.get('label_key', '?')}"
    html_text = tpl.render(
        title=ttl, settings=settings, main=main, gap=gap, extra=extra, figures=figures, version=__version__,
        membership=membership, failed=lb.get("failed") or {}, plots_left_out=left_out,
        pca_components=PCA_COMPONENTS, test_file_column=TEST_FILE_COLUMN,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    dest = Path(path) if path is not None else out / "report.html"
    write_text(dest, html_text)
    return dest


@contextlib.contextmanager
def _current_plots(pdir: Path, digests: Mapping[str, str] | None) -> Iterator[tuple[Path, list[str]]]:
    """The plot folder to draw from, and the files of ``pdir`` left out: those not recorded in the leaderboard's
    ``digests`` (:func:`rnagen._io.file_digests`) or changed since (a rerun stopped before its end
    rewrites some of them and leaves the earlier leaderboard). Without a record (a leaderboard of an earlier
    version) every file is drawn."""
    if digests is None or not pdir.is_dir():
        yield pdir, []
        return
    now = file_digests(pdir)
    stale = sorted(name for name, digest in now.items() if digests.get(name) != digest)
    if not stale:
        yield pdir, []
        return
    with tempfile.TemporaryDirectory(prefix="rnagen-plots-") as tmp:
        for name in now:
            if name not in stale:
                shutil.copy2(pdir / name, Path(tmp) / name)
        yield Path(tmp), stale


def _figures(pdir: Path, rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Every figure whose data the benchmark wrote under ``pdir`` (``OUT/plots``), in page order."""
    from . import plots

    real = _load_npz(pdir / "real.npz") if (pdir / "real.npz").is_file() else None
    # one way of writing each class name in every figure, numbered alike, with the key in their captions
    names = [str(x) for x in real["label_order"]] if real is not None else []
    for name in (str(r["model"]) for r in rows):
        f = pdir / f"biology_{name}.npz"
        if not names and f.is_file():
            names = [str(c) for c in _load_npz(f).get("classes", [])]
    texts = plots.class_texts(names)
    figures = _set_figures(pdir, rows, real, texts)
    figures += _result_figures(pdir, rows, real, texts)
    figures += _biology_figures(pdir, rows, texts)
    figures += _privacy_figures(rows)
    key = plots.class_key(texts)
    for fig in figures:
        if key and fig["id"] in _CLASS_FIGURES:
            fig["caption"] = f"{fig['caption']} {key}"
    return figures


#: the figures that write class names (their captions carry :func:`plots.class_key`)
_CLASS_FIGURES = frozenset({"pca", "umap", "tstr", "volcano", "coexpr", "topgenes"})


#: each private family's non-private leaderboard row (the first present), for the reference line
_NON_PRIVATE_ROW = {"diffusion": ("dpm++", "ddim", "ddpm"), "vae": ("vae",), "gaussian": ("gaussian",)}
_UTILITY = "tstr_mlp_accuracy"


def _attack_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Membership-inference AUC columns present in the leaderboard (``mia_<attack>_auc``), read by name: the
    benchmark writes them when the membership audit runs."""
    cols = dict.fromkeys(k for r in rows for k in r)
    return [c for c in cols if c.startswith("mia_") and c.endswith("_auc")]


def _privacy_figures(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """TSTR (and the strongest attack's AUC) against ε of the private rows (:mod:`rnagen.bench.privacy`)."""
    from ..bench.privacy import parse_private_row
    from . import plots

    by_name = {str(r["model"]): r for r in rows}
    attacks = _attack_columns(rows)

    def strongest(r: dict[str, Any]) -> float | None:
        # the highest AUC, the attacks as designed (members nearer the synthetic set): on a small audit one draw's
        # AUC far below 0.5 is mostly its noise; the membership section's verdict says where an AUC lies below
        # chance beyond its interval (rnagen.metrics.membership.verdict), which a reversed score would exploit
        vals = [v for v in (_finite(r.get(c)) for c in attacks) if v is not None]
        return max(vals) if vals else None

    curves: dict[str, dict[str, Any]] = {}
    for name, r in by_name.items():
        parsed = parse_private_row(name)
        if parsed is None:
            continue
        family, eps = parsed
        cur = curves.setdefault(family, {"eps": [], "utility": [], "attack": []})
        cur["eps"].append(eps)
        cur["utility"].append(_finite(r.get(_UTILITY)))
        cur["attack"].append(strongest(r))
    if not curves:
        return []
    for family, cur in curves.items():
        ref = next((by_name[n] for n in _NON_PRIVATE_ROW.get(family, ()) if n in by_name), None)
        cur["utility_ref"] = _finite(ref.get(_UTILITY)) if ref else None
        cur["attack_ref"] = strongest(ref) if ref else None
    has_attack = any(v is not None for cur in curves.values() for v in cur["attack"])
    with_ref = [f for f, cur in curves.items() if cur["utility_ref"] is not None]
    missing = [f for f in curves if f not in with_ref]
    caption = ("Differentially private rows (<family>-dp-eps<ε>): TSTR accuracy against the privacy budget ε"
               + (f", with the non-private row of {', '.join(with_ref)} dashed" if with_ref else "")
               + (f" ({', '.join(missing)}: no non-private row in this benchmark)" if missing else ""))
    if has_attack:
        caption += (f"; right: the highest membership-inference AUC among {', '.join(attacks)} (0.5 = chance; "
                    "the attacks as designed; the membership verdicts say where one lies below chance)")
    return [{"id": "privacy", "title": "Utility against the privacy budget", "caption": caption + ".",
             "img": plots.privacy_curve(curves, utility="TSTR accuracy (higher is better)",
                                        attack="attack AUC (0.5 = chance)" if has_attack else None)}]


def _set_figures(pdir: Path, rows: list[dict[str, Any]], real: dict[str, np.ndarray] | None,
                 texts: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """The figures comparing each synthetic set (first seed) with the real profiles: embeddings, gene-gene
    correlations and per-gene moments."""
    from ..bench.runner import reconstruction_method
    from . import plots

    figures: list[dict[str, str]] = []
    syn, absent = {}, []
    for r in rows:
        name = str(r["model"])
        f = pdir / f"{name}.npz"
        # reconstructed rows (<row>+<method>) are full-transcriptome sets on other genes; "dpm++" is not one
        if not _is_reference(name) and reconstruction_method(name) is None:
            if f.is_file():
                syn[name] = _load_npz(f)
            else:
                absent.append(name)
    # the figures draw the first run's sets: a row whose first run failed has none, its tables the other runs
    without = (f" No panel for {', '.join(absent)}: the figures draw each row's first run, which failed there "
               "(the tables are over its other runs)." if absent else "")
    if real is not None and syn:
        figures.append({"id": "pca", "title": "PCA: real vs synthetic, coloured by label",
                        "caption": "PCA fitted on the real training profiles (log scale); each synthetic set is "
                                   "projected on the same axes, over the real profiles in grey." + without,
                        "img": plots.embedding(real, syn, key="pca", texts=texts)})
        if "umap" in real:
            figures.append({"id": "umap", "title": "UMAP: real vs synthetic, coloured by label",
                            "caption": "UMAP fitted on the real training profiles; synthetic sets transformed.",
                            "img": plots.embedding(real, syn, key="umap", texts=texts)})
        figures.append({"id": "corr", "title": "Gene-gene correlations, real vs synthetic",
                        "caption": "Pearson correlation of the most variable genes (same gene order in every "
                                   "panel); the correlation score compares these structures over all genes.",
                        "img": plots.correlations(real, syn)})
        figures.append({"id": "moments", "title": "Per-gene mean and variance, real vs synthetic",
                        "caption": "One point per gene; a faithful generator lies on the diagonal.",
                        "img": plots.moments(real, syn)})
    return figures


def _result_figures(pdir: Path, rows: list[dict[str, Any]], real: dict[str, np.ndarray] | None,
                    texts: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """The figures of per-class TSTR, the quality-vs-steps curve and the reconstruction R²."""
    from . import plots

    figures: list[dict[str, str]] = []
    tpc_path = pdir / "tstr_per_class.json"
    if tpc_path.is_file() and real is not None:
        tpc = json.loads(tpc_path.read_text())
        sets = tpc.get("sets", {})
        order = [n for n in sets if n.startswith("real")] + [str(r["model"]) for r in rows
                                                             if str(r["model"]) in sets]
        sets = {n: sets[n] for n in dict.fromkeys(order)}
        if sets:
            figures.append({"id": "tstr", "title": "TSTR per class",
                            "caption": f"{tpc.get('metric', '')}; the real row is the same classifier trained "
                                       "on the real training profiles (TRTR).",
                            "img": plots.tstr_per_class(sets, [str(x) for x in real["label_order"]], texts=texts)})
    steps_path = pdir / "steps_curve.json"
    if steps_path.is_file():
        curve = json.loads(steps_path.read_text())
        if curve.get("points"):
            figures.append({"id": "steps", "title": "Quality against the number of sampling steps",
                            "caption": "The same trained diffusion model sampled deterministically with a "
                                       "growing number of respaced steps, by DDIM (eta = 0, solid) and "
                                       "DPM-Solver++(2M) (dashed); scored against real test"
                                       + ("; horizontal lines: the real training profiles (the ceiling, "
                                          "dotted; none for the Fréchet distance, whose PCA is fitted on "
                                          "them) and the Gaussian floor's first set (dash-dotted), scored alike"
                                          if curve.get("references") else "")
                                       + ". The curve is scored as the figures are, in their log space (genes not "
                                         "z-scored; TSTR a logistic regression on the real PCA coordinates) on sets "
                                         "drawn for it: it compares the step counts with each other, and its values "
                                         "are not the leaderboard's.",
                            "img": plots.steps_curve(curve)})
    r2 = {}
    for f in sorted(pdir.glob("recon_*.npz")):
        d = _load_npz(f)
        if "r2" in d:
            r2[f.stem.removeprefix("recon_")] = d["r2"]
    if r2:
        figures.append({"id": "recon", "title": "Reconstruction R² distribution",
                        "caption": "Per-gene R² on held-out real full profiles of each reconstruction method.",
                        "img": plots.recon_r2(r2)})

    return figures


def _biology_figures(pdir: Path, rows: list[dict[str, Any]], texts: Mapping[str, str] | None = None
                     ) -> list[dict[str, str]]:
    """The biological-fidelity figures of each synthetic set (first seed) against the real training profiles:
    volcano plots, the fold-change scatter, co-expression recovery per class and the top-gene overlap."""
    from ..bench.runner import reconstruction_method
    from . import plots

    sets = {}
    for r in rows:
        name = str(r["model"])
        f = pdir / f"biology_{name}.npz"
        # a reconstructed row (``<row>+<method>``) has no plot data of its own; ``dpm++`` is a plain row
        if not _is_reference(name) and reconstruction_method(name) is None and f.is_file():
            d = _load_npz(f)
            if "lfc_real" in d:
                sets[name] = d
    if not sets:
        return []
    figures = [
        {"id": "volcano", "title": "Differential expression: volcano plots, real vs synthetic",
         "caption": "Each class against the rest (Welch t-test, Benjamini-Hochberg q), real training profiles in "
                    "grey, the synthetic set in red; dashed: the DE thresholds (q and |log2 fold change|). The "
                    "classes with the most real DE genes are shown.",
         "img": plots.volcano(sets, texts=texts)},
        {"id": "lfc", "title": "Log2 fold changes, synthetic against real",
         "caption": "Every class (vs the rest) and gene; genes DE in the real profiles in red. A faithful "
                    "generator lies on the diagonal.",
         "img": plots.fold_change_scatter(sets)},
    ]
    if any(len(d.get("coexpr_classes", ())) for d in sets.values()):
        figures.append({"id": "coexpr", "title": "Co-expression recovery per class",
                        "caption": "Edges |r| > 0.3 of each class's gene-gene correlation network (classes with "
                                   "at least 10 profiles in both sets): F1, precision and recall of the "
                                   "synthetic edges against the real ones.",
                        "img": plots.coexpr_per_class(sets, texts=texts)})
    if all("jaccard" in d for d in sets.values()):
        figures.append({"id": "topgenes", "title": "Top genes of a classifier: real vs synthetic",
                        "caption": "Per class, the genes with the largest |coefficient| of a logistic "
                                   "regression trained on real training profiles, and the Jaccard overlap of "
                                   "the top 10 genes of the same classifier trained on each synthetic set.",
                        "img": plots.top_gene_table(sets, texts=texts)})
    return figures
