"""The private Gaussian's released class moments post-processed: shrunk, denoised, debiased (a screen; not adopted).

The private Gaussian (``rnagen.models.gaussian``) releases each class's sum of clipped profiles with Gaussian
noise of known scale σ_s, so each released class mean carries noise of variance s_c² = (σ_s / n_c)² on every
gene. With 16 profiles per class (gtex26) that noise is of the order of the class differences. Post-processing
the released means costs no privacy; this screen tries such steps (modes joined by ``+``), scored as
``private_gaussian_clip.py`` scores the clipping norms (TSTR, density, coverage, AA_ts against the held-out
split, mean ± sd over stratified 80/20 splits), with the mean L2 error of the class means fed to the model
against the exact ones:

- ``js``: each gene's class means pulled toward their pooled mean with the weight τ_g² / (τ_g² + s_c²), τ_g²
  the spread of the true class means on gene g by the method of moments (the mean squared deviation across
  classes less the mean noise variance, at least 0; James & Stein 1961, Efron & Morris 1973), as the model
  already does for its class variances across classes;
- ``jsc``: each class's whole mean vector pulled toward the pooled mean by the positive-part James-Stein factor
  1 - (G - 2) s_c² / |m_c - m|² (James & Stein 1961), one weight per class instead of per gene;
- ``svd``: the matrix of centred class means, rows scaled by n_c / σ_s to unit noise, its singular values shrunk
  by the optimal rule for Frobenius loss with known noise (Gavish & Donoho 2017), rows scaled back: the class
  means' differences span few directions, the noise all of them;
- ``vb``: the class variance as the mean square less the squared *raw* mean plus s_c² (unbiased: the squared
  noisy mean overestimates the squared mean by s_c²);
- ``exact``, ``exactvar``: yardsticks, not private: the exact class means, the exact class variances (then
  through the model's own pooling of the variances).

``--reproducible`` draws every mode's noise from the split's seed (``privacy.reproducible=true``): the modes of a
split post-process the same release.

    OMP_NUM_THREADS=1 python benchmarks/private_mean_shrink.py --dataset gtex26 --eps 10 --modes base js vb js+vb
    OMP_NUM_THREADS=1 python benchmarks/private_mean_shrink.py --dataset gtex26 --eps 10 --clip 0.7 --modes base js+vb
    OMP_NUM_THREADS=1 python benchmarks/private_mean_shrink.py --dataset D --eps 10 --reproducible \
        --modes base jsc svd vb jsc+vb exact exact+exactvar
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


MODES = ("js", "jsc", "svd", "vb", "exact", "exactvar")


def svd_shrink(raw: np.ndarray, n: np.ndarray, sigma_sum: float) -> np.ndarray:
    """The centred class means ``raw`` denoised by optimal singular-value shrinkage (Gavish & Donoho 2017,
    Frobenius loss, known noise level 1 after scaling row c by n_c / sigma_sum)."""
    mu = (n / n.sum()) @ raw
    w = (n / sigma_sum)[:, None]
    U, sv, Vt = np.linalg.svd((raw - mu) * w, full_matrices=False)
    C, G = raw.shape
    beta, x = C / G, sv / np.sqrt(G)
    eta = np.where(x > 1 + np.sqrt(beta),
                   np.sqrt(np.maximum((x ** 2 - beta - 1) ** 2 - 4 * beta, 0.0)) / np.maximum(x, 1e-300), 0.0)
    return mu + ((U * (eta * np.sqrt(G))) @ Vt) / w


def patched_statistics(orig, mode: str, errors: list[float] | None = None):
    """``noisy_class_statistics`` whose released sums (and sums of squares) carry the ``mode``'s
    post-processing, so that the model's own ``private_class_moments`` turns them into means and variances;
    the mean L2 error of the class means it passes on is appended to ``errors``."""
    parts = set(mode.split("+")) - {"base"}
    if parts - set(MODES):
        raise SystemExit(f"unknown mode {mode!r}: base or {', '.join(MODES)}, joined by +")

    def stats(X, y, n_labels, **kw):
        st = orig(X, y, n_labels, **kw)
        n = np.maximum(np.asarray(st["counts"]), 1.0)
        raw = np.asarray(st["sums"]) / n[:, None]
        s2 = (float(st["sigma_sum"]) / n) ** 2
        Xf = np.asarray(X, np.float64)
        exact = np.stack([Xf[y == c].mean(0) for c in range(n_labels)])
        means = raw
        mu = (n / n.sum()) @ raw
        if "js" in parts:
            dev = raw - mu
            tau2 = np.maximum((dev ** 2).mean(0) - s2.mean(), 0.0)
            means = mu + tau2[None, :] / (tau2[None, :] + s2[:, None]) * dev
        if "jsc" in parts:
            dev = raw - mu
            k = np.maximum(0.0, 1.0 - (raw.shape[1] - 2) * s2 / np.maximum((dev ** 2).sum(1), 1e-300))
            means = mu + k[:, None] * dev
        if "svd" in parts:
            means = svd_shrink(raw, n, float(st["sigma_sum"]))
        if "exact" in parts:
            means = exact
        if errors is not None:
            errors.append(float(np.linalg.norm(means - exact, axis=1).mean()))
        if not parts:
            return st
        # private_class_moments takes var = sums_sq / n - means**2: keep its variance (sums_sq / n - raw**2),
        # plus s_c**2 with "vb", under the shrunk means; "exactvar" puts the exact variances there
        if "exactvar" in parts:
            var = np.stack([Xf[y == c].var(0) for c in range(n_labels)])
        else:
            var = np.asarray(st["sums_sq"]) / n[:, None] - raw ** 2 + (s2[:, None] if "vb" in parts else 0.0)
        return {**st, "sums": means * n[:, None], "sums_sq": n[:, None] * (var + means ** 2)}

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
    ap.add_argument("--reproducible", action="store_true",
                    help="every mode's noise drawn from the split's seed: the modes post-process the same release")
    args = ap.parse_args()
    torch.set_num_threads(1)
    a = load_dataset(args.dataset, args.data_dir)
    G = a.n_vars
    over = [f"privacy.epsilon={args.eps}", f"privacy.clip_norm={args.clip * np.sqrt(G)}",
            f"privacy.clip_norm_sq={args.clip * np.sqrt(3 * G)}"] + (
        ["privacy.reproducible=true"] if args.reproducible else [])
    print(f"{args.dataset}, ε = {args.eps:g}, norms x {args.clip:g}, splits {args.seeds}\n")
    print("| mode | " + " | ".join(METRICS) + " | mean error |\n|---|" + "---|" * (len(METRICS) + 1))
    orig = gm.noisy_class_statistics
    for mode in args.modes:
        errors: list[float] = []
        gm.noisy_class_statistics = patched_statistics(orig, mode, errors)
        v = scores(over, a, args.seeds, LABEL)
        print(f"| {mode} | " + " | ".join(f"{v[:, j].mean():.3f} ± {v[:, j].std(ddof=1):.3f}"
                                          for j in range(len(METRICS))) + f" | {np.mean(errors):.1f} |", flush=True)
    gm.noisy_class_statistics = orig


if __name__ == "__main__":
    main()
