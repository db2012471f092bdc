"""Dispersion of a trained diffusion model's samples, and what epsilon scaling does to it.

For a trained model (a run folder) and the split it was trained on (stratified 80/20, ``--seed``): the
synthetic set's variance relative to the held-out real profiles', in bands of the real training set's
principal components (all in the evaluation space: genes z-scored with the training statistics), next to the
per-class Gaussian's; which held-out profiles recall misses (per class, and their distance to the training
set); and the fidelity indicators when the sampler's noise prediction is divided by a factor lambda >= 1
(epsilon scaling, Ning et al. 2024, "Elucidating the exposure bias in diffusion models"): the implied
eps = sigma x_t + alpha v is scaled, x0 recomputed from it and v re-formed, so every sampler sees the
corrected prediction.

    OMP_NUM_THREADS=1 python benchmarks/dispersion.py --dataset tcga_mirna4 --run CACHE/tcga_mirna4/diffusion_0

(``CACHE`` a ``--cache`` folder of ``sampler_steps.py``, which keeps each trained model.)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sampler_steps import METRICS, SHORT, load_dataset, score  # noqa: E402

BANDS = [(0, 5), (5, 20), (20, 50), (50, 100), (100, 200), (200, None)]


def epsilon_scaling(model) -> list[float]:
    """Make ``model``'s network divide its implied noise prediction by ``lam[0]`` (Ning et al. 2024) at every
    sampling step; returns ``lam``, a one-element list to set (1.0: the network's own output). The network
    predicts v; eps and x0 are derived from it and recombined into v."""
    sa = model.schedule.sqrt_alphas_cumprod.float()
    s1 = model.schedule.sqrt_one_minus_alphas_cumprod.float()
    forward, lam = model.net.forward, [1.0]

    def scaled(x, t, yy):
        v = forward(x, t, yy)
        if lam[0] == 1.0:
            return v
        al, si = sa[t].reshape(-1, 1), s1[t].reshape(-1, 1)
        eps = (si * x + al * v) / lam[0]
        x0 = (x - si * eps) / al
        return al * eps - si * x0

    model.net.forward = scaled
    return lam


def recall_mask(R: np.ndarray, F: np.ndarray, k: int = 10) -> np.ndarray:
    """Which real profiles lie inside the k-NN ball of some synthetic profile (Kynkäänniemi et al. 2019)."""
    from scipy.spatial.distance import cdist
    from sklearn.neighbors import NearestNeighbors

    radius = NearestNeighbors(n_neighbors=k + 1).fit(F).kneighbors(F)[0][:, -1]
    return (cdist(R, F) <= radius[None, :]).any(axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="tcga_mirna4")
    ap.add_argument("--run", type=Path, required=True, help="run folder of a diffusion model trained on the split")
    ap.add_argument("--seed", type=int, default=0, help="split seed the model was trained on")
    ap.add_argument("--lambdas", type=float, nargs="+", default=[1.0, 1.005, 1.01, 1.02, 1.04])
    ap.add_argument("--draws", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(1)
    from sklearn.neighbors import NearestNeighbors

    from rnagen import pp
    from rnagen.models import get_model, load

    adata, key = load_dataset(a.dataset)
    train, test = pp.split(adata, label_key=key, test_size=0.2, seed=a.seed)
    model = load(a.run, device="cpu")
    gauss = get_model("gaussian").from_config().fit(train, label_key=key, seed=a.seed, progress=False)
    mu, sd = np.asarray(train.X).mean(0), np.asarray(train.X).std(0) + 1e-8
    z = lambda ad: (np.asarray(ad.X) - mu) / sd  # noqa: E731
    R, Xtr = z(test), z(train)
    y = test.obs[key].astype(str).to_numpy()

    sets = {"diffusion dpm++ 20": z(model.sample(like=test, seed=100, sampler="dpm++", steps=20)),
            "diffusion ddim 50": z(model.sample(like=test, seed=100, sampler="ddim", steps=50)),
            "gaussian": z(gauss.sample(like=test, seed=100)),
            "real training subsample": Xtr[np.random.default_rng(0).choice(len(Xtr), len(R), replace=False)]}
    _, _, Vt = np.linalg.svd(Xtr - Xtr.mean(0), full_matrices=False)
    band_var = lambda A, P: float(((A - A.mean(0)) @ P.T).var(0).sum())  # noqa: E731
    print("| set | total variance / real | " + " | ".join(f"PC {lo}-{hi or Vt.shape[0]}" for lo, hi in BANDS)
          + " | recall | missed per class |")
    print("|---|---|" + "---|" * len(BANDS) + "---|---|")
    d_train = NearestNeighbors(n_neighbors=1).fit(Xtr).kneighbors(R)[0][:, 0]
    for name, F in sets.items():
        rec = recall_mask(R, F)
        bands = [band_var(F, Vt[lo:hi]) / band_var(R, Vt[lo:hi]) for lo, hi in BANDS]
        missed = {c: int((~rec & (y == c)).sum()) for c in np.unique(y)}
        print(f"| {name} | {F.var(0).sum() / R.var(0).sum():.3f} | " + " | ".join(f"{b:.3f}" for b in bands)
              + f" | {rec.mean():.3f} | {missed} (median distance to training: missed "
              f"{np.median(d_train[~rec]):.1f}, recalled {np.median(d_train[rec]):.1f}) |")

    lam = epsilon_scaling(model)
    print("\n| lambda | sampler | " + " | ".join(SHORT[m] for m in METRICS) + " | total variance / real |")
    print("|---|---|" + "---|" * (len(METRICS) + 1))
    for L in a.lambdas:
        lam[0] = L
        for opts in (dict(sampler="dpm++", steps=20), dict(sampler="ddim", steps=50)):
            vals, ratio = [], []
            for d in range(a.draws):
                syn = model.sample(like=test, seed=a.seed + 100 + 1000 * d, progress=False, **opts)
                vals.append(score(test, syn, train, key, a.seed)[0])
                ratio.append(z(syn).var(0).sum() / R.var(0).sum())
            print(f"| {L} | {opts['sampler']} {opts['steps']} | "
                  + " | ".join(f"{np.mean([v[m] for v in vals]):.3f}" for m in METRICS) + f" | {np.mean(ratio):.3f} |",
                  flush=True)


if __name__ == "__main__":
    main()
