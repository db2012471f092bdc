"""Each class's zeros matched (``preprocess.zeros=match``, the default) against the clip alone, on the same
trained networks and the same draws: the calibration runs after training and changes nothing the network
learns, so switching its thresholds off (``zero_threshold = None``) gives the clip-only samples of the same
draw, an exact A/B on one training run per model and split. Two more variants on the same draws: ``mirror``
(``preprocess.zeros=mirror``: in a class and gene without zeros the model's mass below the support's edge
mirrored above it, not clipped to 0) and ``mirror-all`` (every value below the edge that is not placed as a zero
mirrored, in the classes with zeros too).

Per split (``quality.py``'s: stratified 80/20, the split seed also the training seed) and model, ``--draws``
draws of a test-sized set (the indicators) and a training-sized one (TSTR, and the zeros' placement), scored as
``quality.py`` scores them; shares of the gap closed against the Gaussian floor *of the same variant* (the
floor gets its zeros matched too) and the real-vs-real ceiling. Also per row: the mean per-gene KS statistic
and the zeros' placement error, mean over classes and genes of |share of zeros in the synthetic training-sized
set - share in the held-out profiles| (ceiling: the real training split's).

    OMP_NUM_THREADS=1 python benchmarks/zeros_match.py --dataset gtex26 --seeds 0 1 2 --draws 2 --out zeros_gtex26
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality as q  # noqa: E402

SHOW = ["density", "coverage", "aa_truth", "aa_syn", "aa_ts", "detection_auc", "tstr_mlp_accuracy"]
SHARE = ["density", "coverage", "aa_ts", "detection_auc"]


def zero_error(syn, test) -> float:
    """Mean over classes and genes of |share of values at 0 in ``syn`` - in ``test``| (classes of ``test``)."""
    ys, yt = syn.obs[q.LABEL].astype(str).to_numpy(), test.obs[q.LABEL].astype(str).to_numpy()
    Xs, Xt = np.asarray(syn.X), np.asarray(test.X)
    return float(np.mean([np.abs((Xs[ys == c] == 0).mean(0) - (Xt[yt == c] == 0).mean(0)).mean()
                          for c in np.unique(yt)]))


def ks_mean(test, syn, train, seed: int) -> float:
    """The mean per-gene two-sample KS statistic of ``syn`` against ``test`` (rnagen's ``ks_mean``)."""
    from rnagen.metrics import evaluate

    df = evaluate(test, syn, train=train, label_key=q.LABEL, metrics=["ks_mean"], n_boot=0, n_boot_expensive=0,
                  seed=seed)
    return float(df[df["group"] == "all"].set_index("name").loc["ks_mean", "value"])


def reflect_everywhere(Z: np.ndarray, threshold: np.ndarray, edge: np.ndarray) -> None:
    """The ``mirror-all`` variant of ``Generator._reflect_below_edge``: every value below the edge that is not
    placed as a zero mirrored above it, in the classes with zeros too."""
    below = (Z < edge) & (Z > threshold)
    Z[below] = (2 * np.broadcast_to(edge, Z.shape) - Z)[below]


def with_zeros(model, zeros: str):
    """``model`` with ``preprocess.zeros`` set to ``zeros`` (read when sampling; the thresholds stay)."""
    from dataclasses import replace

    model.config = replace(model.config, preprocess=replace(model.config.preprocess, zeros=zeros))
    return model


def score(model, tr, te, seed: int, draws: int) -> dict[str, float]:
    """``quality.py``'s indicators, KS and the zeros' placement, averaged over ``draws`` draws."""
    rows = []
    for d in range(draws):
        syn = model.sample(like=te, seed=seed + 100 + 1000 * d)
        syn_tstr = model.sample(like=tr, seed=seed + 200 + 1000 * d)
        r = q.score(te, syn, tr, seed, syn_tstr=syn_tstr, label_key=q.LABEL)
        rows.append({**r["value"], "ks_mean": ks_mean(te, syn, tr, seed), "zero_error": zero_error(syn_tstr, te),
                     **{f"ref_{k}": v for k, v in r["reference"].items()}})
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def main() -> None:
    """Train each model once per split, score it with and without its zeros' thresholds; print the tables."""
    from rnagen import pp
    from rnagen.metrics.gap import gap_closed_from
    from rnagen.models import get_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=q.DATASETS, default="gtex26")
    ap.add_argument("--data-dir", type=Path, default=q.DEFAULT_DATA_DIR)
    ap.add_argument("--models", nargs="+", default=["gaussian", "diffusion", "vae", "wgan-gp"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="also write PREFIX.md")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    data = q.load_dataset(a.dataset, a.data_dir)
    models = ["gaussian"] + [m for m in a.models if m != "gaussian"]
    rows: dict[str, list[dict]] = {}
    t0 = time.perf_counter()
    for seed in a.seeds:
        tr, te = pp.split(data, label_key=q.LABEL, test_size=0.2, seed=seed)
        for name in models:
            t1 = time.perf_counter()
            model = get_model(name)().fit(tr, label_key=q.LABEL, seed=seed, progress=False)
            fit_s = time.perf_counter() - t1
            if model.zero_threshold is None:
                raise SystemExit(f"{a.dataset} has no zeros on a bounded scale: nothing to compare")
            matched = score(model, tr, te, seed, a.draws)
            mirrored = score(with_zeros(model, "mirror"), tr, te, seed, a.draws)
            model._reflect_below_edge = reflect_everywhere
            mirror_all = score(model, tr, te, seed, a.draws)
            del model._reflect_below_edge
            with_zeros(model, "auto")
            thresholds, model.zero_threshold = model.zero_threshold, None
            clipped = score(model, tr, te, seed, a.draws)
            model.zero_threshold = thresholds
            variants = (("clip", clipped), ("match", matched), ("mirror", mirrored), ("mirror-all", mirror_all))
            for variant, r in variants:
                rows.setdefault(f"{name} {variant}", []).append({**r, "seed": seed, "fit_s": fit_s})
            if name == "gaussian":
                ceiling = {k[4:]: v for k, v in matched.items() if k.startswith("ref_")}
                ceiling["ks_mean"] = ks_mean(te, tr, tr, seed)
                ceiling["zero_error"] = zero_error(tr, te)
                rows.setdefault("real (ceiling)", []).append({**ceiling, "seed": seed, "fit_s": 0.0})
            shown = SHOW + ["ks_mean", "zero_error"]
            print(f"seed {seed} {name}: " + " | ".join(f"{v} " + " ".join(f"{k}={r[k]:.3f}" for k in shown)
                                                       for v, r in variants), flush=True)
    ceil = {r["seed"]: r for r in rows["real (ceiling)"]}
    cols = SHOW + ["ks_mean", "zero_error"]
    lines = [f"`benchmarks/zeros_match.py --dataset {a.dataset} --seeds {' '.join(map(str, a.seeds))} --draws "
             f"{a.draws}`: {data.n_obs} x {data.n_vars}, {data.obs[q.LABEL].nunique()} classes, "
             f"{time.perf_counter() - t0:.0f} s, torch threads {a.threads}", "",
             "Values (mean ± sd over splits):", "", "| row | " + " | ".join(cols) + " | train s |",
             "|---" * (len(cols) + 2) + "|"]
    for n, rs in rows.items():
        cells = [q._cell(q.summary([r.get(m, math.nan) for r in rs])).split(" [")[0] for m in cols]
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {np.mean([r['fit_s'] for r in rs]):.0f} |")
    lines += ["", "Share of the gap closed, each variant against the Gaussian floor of the same variant (mean ± sd "
              "over splits); TSTR MLP - TRTR in points:", "",
              "| row | " + " | ".join(SHARE) + " | TSTR - TRTR |", "|---" * (len(SHARE) + 2) + "|"]
    for n, rs in rows.items():
        if n == "real (ceiling)":
            continue
        floor = {r["seed"]: r for r in rows[f"gaussian {n.split()[-1]}"]}
        cells = [q._cell(q.summary([gap_closed_from(m, r, floor[r["seed"]], ceil[r["seed"]]) for r in rs]),
                         pct=True).split(" [")[0] for m in SHARE]
        tstr = q.summary([100 * (r["tstr_mlp_accuracy"] - ceil[r["seed"]]["tstr_mlp_accuracy"]) for r in rs])
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {tstr['mean']:+.1f} ± {tstr['sd']:.1f} |")
    text = "\n".join(lines)
    print("\n" + text)
    if a.out:
        Path(a.out + ".md").write_text(text + "\n")


if __name__ == "__main__":
    main()
