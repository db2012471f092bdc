"""Is the real-vs-real reference (the ceiling of the share of the gap closed) what a perfect generator scores?

A perfect generator draws new real profiles. On each of ``--splits`` stratified three-way splits (60% training,
20% held-out, 20% "synthetic": real profiles no model saw, with the held-out label mix), ``rnagen.metrics.evaluate``
scores the synthetic part against the held-out part with the training part as ``train``; its ``reference`` column
is the ceiling it measured in the same run. Printed per indicator: the perfect generator's value and the
reference, means over the splits with their standard deviation. A ceiling that sits on the far side of what a
perfect generator scores makes every share of the gap closed read better than it is.

``--simulate REAL,TRAIN,SYNTHETIC,GENES`` scores independent draws of one simulated distribution instead (3
classes with their own means on log-scale values; the synthetic set another draw: a perfect generator), e.g.
genes outnumbering the training profiles: ``--simulate 60,180,60,3000``.

``--layout TRAIN,HELD,SYNTHETIC`` sets the shares of the three-way split (default 0.6,0.2,0.2); with a synthetic
part as large as the training part (``0.4,0.2,0.4``: what ``rnagen benchmark`` samples) ``--fidelity-size``
(evaluate's ``fidelity_size``) compares scoring the whole synthetic set with scoring a held-out-sized part of it.

``--metrics`` scores only the named indicators (e.g. ``--metrics dcr_share dcr_ratio``: seconds per split).

``--floor`` also fits the per-class Gaussian (the floor, ``rnagen.models`` "gaussian" with its defaults, as
``quality.py``) on the training part, samples it with the synthetic part's label mix, and prints the share of the
gap closed (``rnagen.metrics.gap``) that the perfect generator reaches on each indicator with a share: what a
generator indistinguishable from new real profiles scores on the measure issue 16's targets are set on. Per
indicator: the mean and sd over the splits, the same over the splits whose floor is measurably away from the
ceiling (``gap_resolved``), the fraction of splits at or above 90%, and the lowest and highest mean over
disjoint groups of three splits (the tables of ``quality.py`` are means over three).

The first table also holds the mean and sd over the splits of the paired difference, the perfect generator's value
less the reference (e.g. with ``--layout 0.4,0.2,0.4 --metrics tstr_mlp_accuracy``: TSTR on a perfect generator's
training-sized set less TRTR).

``--groups K`` prints, per indicator, the ratio of the perfect generator's mean to the reference's mean over
disjoint groups of K splits: for the membership attacks' TPR at a low FPR (``--metrics mia_logan_tpr_at_fpr001
...``) the perfect generator and the reference are two independent real draws, so the ratios show how far apart
two draws' means over K splits fall by chance (issue 18's rule: at most 2x the reference, means over 10 splits).

Usage: OMP_NUM_THREADS=2 python benchmarks/ceiling_check.py --dataset gtex26 --splits 12
       OMP_NUM_THREADS=2 python benchmarks/ceiling_check.py --simulate 60,180,60,3000 --splits 4
       OMP_NUM_THREADS=2 python benchmarks/ceiling_check.py --dataset gtex26 --layout 0.4,0.2,0.4 \
           --fidelity-size held-out
       OMP_NUM_THREADS=1 python benchmarks/ceiling_check.py --dataset mirna4 --splits 12 --floor \
           --metrics density coverage precision recall aa_ts aa_truth aa_syn correlation_score
       OMP_NUM_THREADS=1 python benchmarks/ceiling_check.py --dataset mirna4 --splits 40 --groups 10 \
           --metrics mia_logan_tpr_at_fpr001 mia_mc_tpr_at_fpr001
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import quality as Q  # noqa: E402

METRICS = ["frechet_pca", "frechet_classifier", "mmd", "density", "coverage", "aa_ts", "dcr_share", "dcr_ratio",
           "correlation_score"]


def main() -> None:
    """Score the perfect generator on every split and print it next to the reference (module text)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="gtex26")
    ap.add_argument("--splits", type=int, default=12)
    ap.add_argument("--data-dir", type=Path, default=Q.DEFAULT_DATA_DIR)
    ap.add_argument("--simulate", default=None, metavar="REAL,TRAIN,SYNTHETIC,GENES")
    ap.add_argument("--layout", default="0.6,0.2,0.2", metavar="TRAIN,HELD,SYNTHETIC")
    ap.add_argument("--fidelity-size", choices=("synthetic", "held-out"), default="synthetic")
    ap.add_argument("--metrics", nargs="+", default=METRICS, help="the indicators to score (default: %(default)s)")
    ap.add_argument("--groups", type=int, default=0, metavar="K",
                    help="print the perfect-to-reference ratio of the means over disjoint groups of K splits")
    ap.add_argument("--floor", action="store_true",
                    help="fit the per-class Gaussian floor and print the perfect generator's share of the gap closed")
    args = ap.parse_args()
    if args.simulate:
        simulate(tuple(int(x) for x in args.simulate.split(",")), args.splits, args.fidelity_size)
        return
    share_train, share_held, share_syn = (float(x) for x in args.layout.split(","))
    from sklearn.model_selection import train_test_split

    from rnagen.metrics import evaluate

    warnings.simplefilter("ignore")
    a = Q.load_dataset(args.dataset, args.data_dir)
    y = a.obs[Q.LABEL].astype(str).to_numpy()
    idx = np.arange(a.n_obs)
    rows = []
    for seed in range(args.splits):
        tr, rest = train_test_split(idx, train_size=share_train, stratify=y, random_state=seed)
        te, sy = train_test_split(rest, test_size=share_syn / (share_held + share_syn), stratify=y[rest],
                                  random_state=seed)
        floor = gaussian_floor(a[tr].copy(), a[sy].copy(), seed) if args.floor else None
        d = evaluate(a[te].copy(), a[sy].copy(), train=a[tr].copy(), floor=floor, label_key=Q.LABEL, n_boot=10,
                     n_boot_expensive=2, seed=seed, metrics=args.metrics, fidelity_size=args.fidelity_size)
        d = d[d.group == "all"].set_index("name")[["value", "reference", "floor", "gap_closed", "gap_resolved"]]
        rows.append(d.assign(split=seed))
        if args.floor:
            print(f"split {seed}: " + ", ".join(f"{m} {v:.0%}" for m, v in d["gap_closed"].dropna().items()),
                  flush=True)
    r = pd.concat(rows).reset_index()
    g = r.groupby("name", sort=False).agg(perfect=("value", "mean"), perfect_sd=("value", "std"),
                                          reference=("reference", "mean"), reference_sd=("reference", "std"))
    # paired per split: e.g. TSTR on a perfect generator's set minus TRTR, both trained on sets of one size
    diff = r.assign(d=r["value"] - r["reference"]).groupby("name", sort=False)["d"]
    g["difference"], g["difference_sd"] = diff.mean(), diff.std()
    print(f"{args.dataset}: {a.n_obs} profiles, {len(set(y))} classes, {args.splits} splits (train / held-out / "
          f"synthetic {len(tr)} / {len(te)} / {len(sy)}), fidelity_size {args.fidelity_size}")
    print(g.to_string(float_format=lambda v: f"{v:.4g}"))
    if args.groups:
        print(f"\nthe perfect generator's mean over the reference's, disjoint groups of {args.groups} splits")
        print(group_ratios(r, args.groups).to_string(float_format=lambda v: f"{v:.4g}"))
    if args.floor:
        print("\nthe perfect generator's share of the gap closed (the floor fitted on the training part)")
        print(shares(r).to_string(float_format=lambda v: f"{v:.4g}"))


def group_ratios(r: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per indicator: over disjoint groups of ``k`` splits in split order, the ratio of the perfect generator's
    mean to the reference's (inf where the reference's mean is 0), its lowest, median and highest value and the
    fraction of groups above 2."""
    out = {}
    for name, d in r.groupby("name", sort=False):
        d = d.sort_values("split")
        v, ref = d["value"].to_numpy(float), d["reference"].to_numpy(float)
        ratios = np.array([np.mean(v[i:i + k]) / np.mean(ref[i:i + k]) if np.mean(ref[i:i + k]) > 0 else np.inf
                           for i in range(0, len(v) - k + 1, k)])
        if len(ratios):
            out[name] = {"groups": len(ratios), "lowest": ratios.min(), "median": float(np.median(ratios)),
                         "highest": ratios.max(), "above_2": float(np.mean(ratios > 2))}
    return pd.DataFrame(out).T


def gaussian_floor(train, like, seed: int):
    """The per-class Gaussian (``quality.py``'s floor) fitted on ``train``, sampled with ``like``'s label mix."""
    from rnagen.models import get_model

    gauss = get_model("gaussian")()
    gauss.fit(train, label_key=Q.LABEL, seed=seed, progress=False)
    return gauss.sample(like=like, seed=seed + 100)


def shares(r: pd.DataFrame) -> pd.DataFrame:
    """Per indicator with a share: its mean and sd over the splits (all, and those whose floor is measurably
    away from the ceiling), the fraction of splits at or above 90%, and the lowest and highest mean over
    disjoint groups of three splits in split order (``quality.py``'s tables are means over three)."""
    out = {}
    for name, d in r.dropna(subset=["gap_closed"]).groupby("name", sort=False):
        d = d.sort_values("split")
        v = d["gap_closed"].to_numpy(float)
        res = d["gap_resolved"].to_numpy(float) > 0.5
        triples = [v[i:i + 3].mean() for i in range(0, len(v) - 2, 3)]
        out[name] = {"splits": len(v), "mean": v.mean(), "sd": v.std(ddof=1) if len(v) > 1 else np.nan,
                     "resolved": int(res.sum()), "mean_resolved": v[res].mean() if res.any() else np.nan,
                     "sd_resolved": v[res].std(ddof=1) if res.sum() > 1 else np.nan,
                     "at_least_90": float(np.mean(v >= 0.9)),
                     "triple_min": min(triples) if triples else np.nan,
                     "triple_max": max(triples) if triples else np.nan}
    return pd.DataFrame(out).T


def simulate(sizes: tuple[int, ...], draws: int, fidelity_size: str = "synthetic") -> None:
    """The perfect generator and the reference on simulated sets of the given sizes (see the module docstring)."""
    from rnagen.metrics import evaluate

    warnings.simplefilter("ignore")
    n_real, n_train, n_syn, genes = sizes
    rows = []
    for d in range(draws):
        rng = np.random.default_rng(d)
        centres = rng.normal(0, 0.7, (3, genes))

        def draw(n):
            y = rng.integers(0, 3, n)
            return (6 + centres[y] + rng.normal(0, 1, (n, genes))).astype(np.float32), np.array([f"c{c}" for c in y])

        (R, yr), (T, yt), (S, ys) = draw(n_real), draw(n_train), draw(n_syn)
        df = evaluate(R, S, train=T, real_labels=yr, synthetic_labels=ys, train_labels=yt, seed=d, n_boot=10,
                      n_boot_expensive=2, classifier_seeds=(0,), fidelity_size=fidelity_size,
                      metrics=METRICS[:4] + ["precision", "recall", "aa_truth", "aa_syn", "aa_ts", "detection_auc"])
        rows.append(df[df.group == "all"].set_index("name")[["value", "reference"]].assign(split=d))
    r = pd.concat(rows).reset_index()
    g = r.groupby("name", sort=False).agg(perfect=("value", "mean"), perfect_sd=("value", "std"),
                                          reference=("reference", "mean"), reference_sd=("reference", "std"))
    print(f"simulated: {n_real} held-out, {n_train} training, {n_syn} synthetic profiles, {genes} genes, {draws} "
          f"draws, fidelity_size {fidelity_size}")
    print(g.to_string(float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
