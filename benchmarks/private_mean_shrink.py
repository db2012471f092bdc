"""The private Gaussian's class means shrunk per gene by empirical Bayes (a screen; not adopted).

The private Gaussian (``rnagen.models.gaussian``) releases each class's sum of clipped profiles with Gaussian
noise of known scale σ_s, so each released class mean carries noise of variance s_c² = (σ_s / n_c)² on every
gene. With 16 profiles per class (gtex26) that noise is of the order of the class differences. Post-processing
the released means costs no privacy; this screen tries two such steps, scored as
``private_gaussian_clip.py`` scores the clipping norms (TSTR, density, coverage, AA_ts against the held-out
split, mean ± sd over stratified 80/20 splits):

- ``js``: each gene's class means pulled toward their pooled mean with the weight τ_g² / (τ_g² + s_c²), τ_g²
  the spread of the true class means on gene g by the method of moments (the mean squared deviation across
  classes less the mean noise variance, at least 0; James & Stein 1961, Efron & Morris 1973), as the model
  already does for its class variances across classes;
- ``vb``: the class variance as the mean square less the squared *raw* mean plus s_c² (unbiased: the squared
  noisy mean overestimates the squared mean by s_c²).

    OMP_NUM_THREADS=1 python benchmarks/private_mean_shrink.py --dataset gtex26 --eps 10 --modes base js vb js+vb
    OMP_NUM_THREADS=1 python benchmarks/private_mean_shrink.py --dataset gtex26 --eps 10 --clip 0.7 --modes base js+vb
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def patched_statistics(orig, mode: str):
    """``noisy_class_statistics`` whose released sums (and sums of squares) carry the ``mode``'s
    post-processing, so that the model's own ``private_class_moments`` turns them into means and variances."""

    def stats(X, y, n_labels, **kw):
        st = orig(X, y, n_labels, **kw)
        n = np.maximum(np.asarray(st["counts"]), 1.0)
        raw = np.asarray(st["sums"]) / n[:, None]
        s2 = (float(st["sigma_sum"]) / n) ** 2
        means = raw
        if "js" in mode:
            mu = (n / n.sum()) @ raw
            dev = raw - mu
            tau2 = np.maximum((dev ** 2).mean(0) - s2.mean(), 0.0)
            means = mu + tau2[None, :] / (tau2[None, :] + s2[:, None]) * dev
        # private_class_moments takes var = sums_sq / n - means**2: keep its variance (sums_sq / n - raw**2),
        # plus s_c**2 with "vb", under the shrunk means
        var_shift = means ** 2 - raw ** 2 + (s2[:, None] if "vb" in mode else 0.0)
        sums_sq = np.asarray(st["sums_sq"]) + n[:, None] * var_shift
        return {**st, "sums": means * n[:, None], "sums_sq": sums_sq}

    return stats


def main() -> None:
    """Print one row per mode (module text)."""
    from private_gaussian_clip import METRICS, scores
    from quality import DATASETS, DEFAULT_DATA_DIR, LABEL, load_dataset

    import rnagen.models.gaussian as gm

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=DATASETS, default="gtex26")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    ap.add_argument("--eps", type=float, default=10.0)
    ap.add_argument("--clip", type=float, default=1.0, help="R1 and R2 as a multiple of their defaults")
    ap.add_argument("--modes", nargs="+", default=["base", "js", "vb", "js+vb"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = ap.parse_args()
    torch.set_num_threads(1)
    a = load_dataset(args.dataset, args.data_dir)
    G = a.n_vars
    over = [f"privacy.epsilon={args.eps}", f"privacy.clip_norm={args.clip * np.sqrt(G)}",
            f"privacy.clip_norm_sq={args.clip * np.sqrt(3 * G)}"]
    print(f"{args.dataset}, ε = {args.eps:g}, norms x {args.clip:g}, splits {args.seeds}\n")
    print("| mode | " + " | ".join(METRICS) + " |\n|---|" + "---|" * len(METRICS))
    orig = gm.noisy_class_statistics
    for mode in args.modes:
        gm.noisy_class_statistics = orig if mode == "base" else patched_statistics(orig, mode)
        v = scores(over, a, args.seeds, LABEL)
        print(f"| {mode} | " + " | ".join(f"{v[:, j].mean():.3f} ± {v[:, j].std(ddof=1):.3f}"
                                          for j in range(len(METRICS))) + " |", flush=True)
    gm.noisy_class_statistics = orig


if __name__ == "__main__":
    main()
