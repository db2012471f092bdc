"""An upper bound on TSTR for any generator built on privately released per-class means (issue 18).

The anchored private diffusion and the private Gaussian (``rnagen.models.gaussian``) release each class's sum of
profiles clipped to L2 norm R1 with a Gaussian mechanism; their TSTR is limited by the noise on those means.
This script gives that release every advantage a real private model does not have: the whole budget goes to the
sums (the real models also pay for counts, squares, correlation and DP-SGD), the class sizes are exact, and each
class's covariance is the non-private Ledoit-Wolf estimate, free. Only the means are private: the clipped class
sums get N(0, σ² I) noise with σ = R1 / sqrt(2ρ), ρ the largest whose Gaussian mechanism meets (ε, δ = 1/n)
exactly (:func:`rnagen.train.privacy.gaussian_mechanism_rho`). The per-class Gaussian with these means is
sampled to the training split's size and label mix and scored as in ``private_gaussian_clip.py``: TSTR (MLP
and logistic regression, 3 classifier seeds) on the held-out part of 3 stratified 80/20 splits. The first
row is the same Gaussian with its exact, non-private means.

It then prints, for split 0, the largest shares of the within-class variance that single directions of the
pooled within-class correlation carry (standardised residuals from each class's mean), next to the share a
direction needs to be released by the private Gaussian's correlation release at ε = 10
(:func:`rnagen.models.gaussian.correlation_detection_floor`, a function of n, G, ε and δ only).

    OMP_NUM_THREADS=1 python benchmarks/private_mean_bound.py --dataset gtex26 --eps 10 4 --clip 1 0.7 0.5
    OMP_NUM_THREADS=1 python benchmarks/private_mean_bound.py --dataset gtex26 --eps 10 --clip 1 0.5 --covariance diag
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

METRICS = ["tstr_mlp_accuracy", "tstr_logreg_accuracy"]


def scores(a, seeds: list[int], label: str, *, eps: float | None, r1_factor: float,
           covariance: str = "full") -> np.ndarray:
    """(splits x METRICS) of the Gaussian whose class means are released with all of ε (none: exact)."""
    from private_gaussian_clip import fitted_scores

    from rnagen import pp
    from rnagen.models import get_model
    from rnagen.models.gaussian import _clip_rows
    from rnagen.train.privacy import gaussian_mechanism_rho

    out = []
    for seed in seeds:
        tr, te = pp.split(a, label_key=label, test_size=0.2, seed=seed)
        m = get_model("gaussian").from_config(overrides=[f"covariance={covariance}"])
        fit = type(m)._fit

        def private_means(self, X, y, **kw):
            fit(self, X, y, **kw)
            if eps is None:
                return
            G = X.shape[1]
            R1 = r1_factor * np.sqrt(G)
            sigma = R1 / np.sqrt(2.0 * gaussian_mechanism_rho(eps, 1.0 / len(X)))
            rng = np.random.default_rng([seed, 0xB0])
            Xc = _clip_rows(np.asarray(X, np.float64), R1)
            for c in range(self.n_labels):
                n_c = int((y == c).sum())
                self.means[c] = (Xc[y == c].sum(0) + rng.normal(0.0, sigma, G)) / n_c

        m._fit = private_means.__get__(m)
        out.append(fitted_scores(m, tr, te, label, seed, METRICS))
    return np.asarray(out)


def spectrum(a, label: str, seed: int = 0) -> str:
    """The top within-class correlation shares of split ``seed``'s training part and the release's floor."""
    from rnagen import pp
    from rnagen.models import get_model
    from rnagen.models.gaussian import COVARIANCE_SHARE, correlation_detection_floor

    tr, _ = pp.split(a, label_key=label, test_size=0.2, seed=seed)
    m = get_model("gaussian").from_config(overrides=["covariance=diag"])
    seen: dict[str, np.ndarray] = {}
    fit = type(m)._fit

    def keep(self, X, y, **kw):
        seen["X"], seen["y"] = np.asarray(X, np.float64), y
        fit(self, X, y, **kw)

    m._fit = keep.__get__(m)
    m.fit(tr, label_key=label, seed=seed, progress=False)
    X, y = seen["X"], seen["y"]
    R = np.concatenate([(X[y == c] - X[y == c].mean(0)) / np.sqrt(X[y == c].var(0) + 1e-8) for c in np.unique(y)])
    lam = np.linalg.eigvalsh(R.T @ R)[::-1]
    n, G = X.shape
    floor = correlation_detection_floor(n, G, 10.0, 1.0 / n, COVARIANCE_SHARE)
    top = ", ".join(f"{v:.3f}" for v in lam[:5] / lam.sum())
    return (f"split {seed}: n = {n}, G = {G}; the five largest within-class correlation shares {top}; a direction "
            f"needs {floor:.3f} to be released at ε = 10 ({COVARIANCE_SHARE:g} of the budget)")


def main() -> None:
    """Print the table (module text)."""
    from quality import DATASETS, DEFAULT_DATA_DIR, LABEL, load_dataset

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=DATASETS, default="gtex26")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    ap.add_argument("--eps", nargs="+", type=float, default=[10.0])
    ap.add_argument("--clip", nargs="+", type=float, default=[1.0, 0.7, 0.5], help="R1 as multiples of sqrt(G)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--covariance", choices=["full", "diag"], default="full",
                    help="the non-private covariance the means are paired with (Ledoit-Wolf full, or per-gene)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    a = load_dataset(args.dataset, args.data_dir)
    print(f"{args.dataset}: {a.n_obs} x {a.n_vars}, {a.obs[LABEL].nunique()} classes, splits {args.seeds}, "
          f"covariance {args.covariance}\n")
    print("| ε | R1 / sqrt(G) | TSTR MLP | TSTR LR |")
    print("|---|---|---|---|")

    def row(eps: str, r1: str, v: np.ndarray) -> None:
        cells = [f"{v[:, j].mean():.3f} ± {v[:, j].std(ddof=1):.3f}" for j in range(len(METRICS))]
        print(f"| {eps} | {r1} | " + " | ".join(cells) + " |", flush=True)

    cov = args.covariance
    row("not private", "-", scores(a, args.seeds, LABEL, eps=None, r1_factor=0.0, covariance=cov))
    for eps in args.eps:
        for f in args.clip:
            row(f"{eps:g}", f"{f:g}", scores(a, args.seeds, LABEL, eps=eps, r1_factor=f, covariance=cov))
    print("\n" + spectrum(a, LABEL, args.seeds[0]))


if __name__ == "__main__":
    main()
