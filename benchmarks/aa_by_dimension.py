"""Where the diffusion model's AA_truth excess lives: the nearest-neighbour test in the leading principal components.

AA_truth (Yale et al. 2020) is the share of held-out profiles whose nearest synthetic profile is farther than their
nearest real one. Here the same comparison is read in the space of the training profiles' k leading principal
components (genes z-scored with the training statistics) for several k, against a real set of the synthetic set's
size drawn from the training split (the real-vs-real reference of ``evaluate``): a share near 0.5 at small k and
above it at large k says the synthetic profiles match the data's leading directions and depart from it in the
many low-variance ones. Also printed: the synthetic set's variance over the held-out set's in bands of principal
components and in the residual beyond the last.

The default diffusion model is trained on each stratified 80/20 split (``quality.py``'s), or loaded from
``--cache DIR`` (``DIR/D_SEED``, as ``resample_screen.py`` keeps them). These distances are plain Euclidean in the
projected z-scores; ``evaluate``'s AA_truth uses its own preparation, so the all-genes line is close to it, not
equal.

Usage: OMP_NUM_THREADS=2 python benchmarks/aa_by_dimension.py --dataset mirna4 --seeds 0 1 2 --cache DIR
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import quality as Q  # noqa: E402
import resample_screen as RS  # noqa: E402


def main() -> None:
    """Per split: the AA_truth-like share per number of components, and the variance ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    RS.common_args(ap, threads=2)
    ap.add_argument("--dims", type=int, nargs="+", default=[5, 20, 50])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from sklearn.decomposition import PCA

    from rnagen import pp
    from rnagen.metrics._knn import knn
    from rnagen.pp.history import log_state

    def nearest_sq(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        return knn(A, B, k=1, squared=True)[0][:, 0]

    a = Q.load_dataset(args.dataset, args.data_dir)
    logged = bool((log_state(a) or {}).get("logged"))

    dims = sorted(d for d in args.dims if d < a.n_vars)
    for seed in args.seeds:
        tr, te = pp.split(a, label_key=Q.LABEL, test_size=0.2, seed=seed)
        model = RS.default_model(args.dataset, tr, seed, args.cache)
        syn = model.sample(like=te, seed=seed + 100)
        model_labels = syn.obs[Q.LABEL].astype(str).to_numpy()
        Xtr, Xte, Xs = (RS.log_values(x.X, logged) for x in (tr, te, syn))
        mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-8
        Ztr, T, S = (Xtr - mu) / sd, (Xte - mu) / sd, (Xs - mu) / sd
        R = Ztr[np.random.default_rng(seed).choice(len(Ztr), len(S), replace=False)]
        pca = PCA(max(dims), random_state=seed).fit(Ztr)
        for k in dims + [None]:
            P = np.eye(T.shape[1]) if k is None else pca.components_[:k].T
            dr, ds = nearest_sq(T @ P, R @ P), nearest_sq(T @ P, S @ P)
            where = "all genes" if k is None else f"{k} components"
            print(f"{args.dataset} split {seed} {where:>14}: held-out nearer a real profile than a synthetic one "
                  f"{np.mean(ds > dr):.3f} (median squared distance to the real set {np.median(dr):.1f}, to the "
                  f"synthetic set {np.median(ds):.1f})", flush=True)
        ps, pt = pca.transform(S), pca.transform(T)
        bands, lo = [], 0
        for hi in dims:
            bands.append(f"components {lo + 1}-{hi} {ps[:, lo:hi].var(0).sum() / pt[:, lo:hi].var(0).sum():.3f}")
            lo = hi
        es, et = S - pca.inverse_transform(ps), T - pca.inverse_transform(pt)
        rs, rt = (es ** 2).sum(1).mean(), (et ** 2).sum(1).mean()
        # the class means' offset beyond the last component against the spread there: a synthetic residual with less
        # variance than the data's lies farther from held-out profiles only if it sits elsewhere
        ys, yt = model_labels, te.obs[Q.LABEL].astype(str).to_numpy()
        offset = np.mean([((es[ys == c].mean(0) - et[yt == c].mean(0)) ** 2).sum() for c in np.unique(yt)])
        print(f"{args.dataset} split {seed} synthetic variance over the held-out set's: " + ", ".join(bands)
              + f", mean square beyond {dims[-1]} {rs / rt:.3f}; beyond it the classes' mean offset squared "
              f"{offset:.1f} against the held-out mean square {rt:.1f}", flush=True)


if __name__ == "__main__":
    main()
