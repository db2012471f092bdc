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

Usage: OMP_NUM_THREADS=2 python benchmarks/ceiling_check.py --dataset gtex26 --splits 12
       OMP_NUM_THREADS=2 python benchmarks/ceiling_check.py --simulate 60,180,60,3000 --splits 4
       OMP_NUM_THREADS=2 python benchmarks/ceiling_check.py --dataset gtex26 --layout 0.4,0.2,0.4 \
           --fidelity-size held-out
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
        d = evaluate(a[te].copy(), a[sy].copy(), train=a[tr].copy(), label_key=Q.LABEL, n_boot=10,
                     n_boot_expensive=2, seed=seed, metrics=args.metrics, fidelity_size=args.fidelity_size)
        d = d[d.group == "all"].set_index("name")[["value", "reference"]]
        rows.append(d.assign(split=seed))
    r = pd.concat(rows).reset_index()
    g = r.groupby("name", sort=False).agg(perfect=("value", "mean"), perfect_sd=("value", "std"),
                                          reference=("reference", "mean"), reference_sd=("reference", "std"))
    print(f"{args.dataset}: {a.n_obs} profiles, {len(set(y))} classes, {args.splits} splits (train / held-out / "
          f"synthetic {len(tr)} / {len(te)} / {len(sy)}), fidelity_size {args.fidelity_size}")
    print(g.to_string(float_format=lambda v: f"{v:.4g}"))


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
