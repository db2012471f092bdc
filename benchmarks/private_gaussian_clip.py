"""The private per-class Gaussian's clipping norms against utility and fidelity, on several splits.

The private Gaussian (``rnagen.models.gaussian``, ``privacy.epsilon``) releases per-class counts, sums of
profiles clipped to L2 norm R1 (``privacy.clip_norm``, default sqrt(G)) and sums of squares clipped to R2
(``privacy.clip_norm_sq``, default sqrt(3 G)) with Gaussian noise proportional to R1 and R2. A smaller norm
means less noise on each class's statistics and more bias (every profile longer than the norm is shrunk), so
the best norm depends on the profiles per class and on ε. This script measures the trade-off: for each ε and
each (R1, R2) pair, given as multiples of the defaults, the Gaussian is fitted on each stratified 80/20
split's training part (seed = split seed), a synthetic set of the training split's size and label mix is
drawn, and ``rnagen.metrics.evaluate`` scores it against the held-out part: TSTR (MLP and logistic
regression, 3 classifier seeds), density and coverage (k = 10) and AA_ts (0.5 ideal); mean ± sd over
splits. The non-private Gaussian on the same splits is the reference row.

    OMP_NUM_THREADS=1 python benchmarks/private_gaussian_clip.py --dataset gtex26 --eps 1 4 10 \\
        --clip 1:1 0.7:0.7 0.5:0.5 0.5:1
    OMP_NUM_THREADS=1 python benchmarks/private_gaussian_clip.py --dataset gtex26 --eps 1000000 10 --clip 1:1 \\
        --set privacy.covariance_share=0.3
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

METRICS = ["tstr_mlp_accuracy", "tstr_logreg_accuracy", "density", "coverage", "aa_ts"]


def fitted_scores(m, tr, te, label: str, seed: int, metrics: list[str]) -> list[float]:
    """Fit ``m`` on ``tr``, draw a set of ``tr``'s size and label mix, and score it against ``te``."""
    from rnagen.metrics import evaluate

    m.fit(tr, label_key=label, seed=seed, progress=False)
    syn = m.sample(like=tr, seed=seed + 200)
    df = evaluate(te, syn, train=tr, label_key=label, metrics=metrics, n_boot=0, n_boot_expensive=0, seed=seed)
    df = df[df["group"] == "all"].set_index("name")["value"]
    return [float(df[k]) for k in metrics]


def scores(model_overrides: list[str], a, seeds: list[int], label: str) -> np.ndarray:
    """(splits x METRICS) of the Gaussian with ``model_overrides`` on each split seed."""
    from rnagen import pp
    from rnagen.models import get_model

    out = []
    for seed in seeds:
        tr, te = pp.split(a, label_key=label, test_size=0.2, seed=seed)
        m = get_model("gaussian").from_config(overrides=model_overrides)
        out.append(fitted_scores(m, tr, te, label, seed, METRICS))
    return np.asarray(out)


def main() -> None:
    """Print the table (module text)."""
    from quality import DATASETS, DEFAULT_DATA_DIR, LABEL, load_dataset

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=DATASETS, default="gtex26")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    ap.add_argument("--eps", nargs="+", type=float, default=[1.0, 4.0, 10.0])
    ap.add_argument("--clip", nargs="+", default=["1:1", "0.7:0.7", "0.5:0.5", "0.5:1"],
                    help="R1:R2 as multiples of the defaults sqrt(G) and sqrt(3 G)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="further overrides of every private fit, e.g. privacy.covariance_share=0.3")
    args = ap.parse_args()
    torch.set_num_threads(1)
    a = load_dataset(args.dataset, args.data_dir)
    G = a.n_vars
    print(f"{args.dataset}: {a.n_obs} x {G}, {a.obs[LABEL].nunique()} classes, splits {args.seeds}\n")
    print("| ε | R1 / sqrt(G) | R2 / sqrt(3G) | TSTR MLP | TSTR LR | density | coverage | AA_ts |")
    print("|---|---|---|---|---|---|---|---|")

    def row(eps: str, r1: str, r2: str, v: np.ndarray) -> None:
        cells = [f"{v[:, j].mean():.3f} ± {v[:, j].std(ddof=1):.3f}" if len(v) > 1 else f"{v[0, j]:.3f}"
                 for j in range(len(METRICS))]
        print(f"| {eps} | {r1} | {r2} | " + " | ".join(cells) + " |", flush=True)

    row("not private", "-", "-", scores([], a, args.seeds, LABEL))
    for eps in args.eps:
        for pair in args.clip:
            f1, f2 = (float(x) for x in pair.split(":"))
            over = [f"privacy.epsilon={eps}", f"privacy.clip_norm={f1 * np.sqrt(G)}",
                    f"privacy.clip_norm_sq={f2 * np.sqrt(3 * G)}", *args.set]
            row(f"{eps:g}", f"{f1:g}", f"{f2:g}", scores(over, a, args.seeds, LABEL))


if __name__ == "__main__":
    main()
