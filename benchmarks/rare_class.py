"""A very rare class: is it generated as that class? (``train.rare_share``)

From the TCGA miRNA set (``quality.py``'s ``mirna4``), ``--n-large`` training profiles of each of three cancer
types and ``--n-rare`` of the fourth (``--rare``, by its index in the sorted class names), drawn with the seed;
the model is trained on them with ``train.rare_share`` set to each of ``--shares`` (0 turns the oversampling off)
and draws 300 profiles of the rare class. They are judged against the profiles not trained on (hundreds of the
rare type): the share a logistic regression fitted on those profiles calls the rare class, the distance of the
samples' mean to each class's mean, the mean distance of a sample to its nearest held-out profile of the rare
class, and (copies) the median distance of a sample to its nearest training profile of the rare class next to
the training profiles' own distance to their nearest held-out profile of it.

    OMP_NUM_THREADS=1 python benchmarks/rare_class.py --model diffusion --shares 0 0.02 --seed 0
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality as q  # noqa: E402


def nearest(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Each row of ``A``'s Euclidean distance to its nearest row of ``B``."""
    return np.sqrt(((A[:, None, :] - B[None]) ** 2).sum(-1)).min(1)


def main() -> None:
    """Train once per share and print what the rare class's samples look like."""
    import torch
    from sklearn.linear_model import LogisticRegression

    from rnagen.models import get_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="diffusion")
    ap.add_argument("--shares", nargs="+", type=float, default=[0.0, 0.02])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rare", type=int, default=0, help="index of the rare class among the sorted class names")
    ap.add_argument("--n-rare", type=int, default=2)
    ap.add_argument("--n-large", type=int, default=400)
    ap.add_argument("--data-dir", type=Path, default=q.DEFAULT_DATA_DIR)
    a = ap.parse_args()
    torch.set_num_threads(1)
    d = q.load_dataset("mirna4", a.data_dir)
    y = d.obs[q.LABEL].astype(str).to_numpy()
    classes = sorted(set(y))
    rare = classes[a.rare]
    rng = np.random.default_rng(a.seed)
    train = np.concatenate([rng.choice(np.flatnonzero(y == c), a.n_rare if c == rare else a.n_large, replace=False)
                            for c in classes])
    rest = np.setdiff1d(np.arange(d.n_obs), train)
    X = np.asarray(d.X)
    clf = LogisticRegression(max_iter=2000).fit(X[rest], y[rest])
    means = {c: X[rest][y[rest] == c].mean(0) for c in classes}
    held, seen = X[rest][y[rest] == rare], X[train][y[train] == rare]
    for share in a.shares:
        t0 = time.perf_counter()
        m = get_model(a.model).from_config(overrides=[f"train.rare_share={share}"]).fit(
            d[train].copy(), label_key=q.LABEL, seed=a.seed, progress=False)
        fit_s = time.perf_counter() - t0
        S = np.asarray(m.sample(counts={rare: 300}, seed=a.seed + 1).X)
        print(f"{a.model} rare_share={share:g} seed={a.seed}: {a.n_rare} {rare} among {len(train)}; called {rare} "
              f"{np.mean(clf.predict(S) == rare):.3f}; the samples' mean to each class's "
              + ", ".join(f"{c} {np.linalg.norm(S.mean(0) - mu):.2f}" for c, mu in means.items())
              + f"; to the nearest held-out {rare} {nearest(S, held[:200]).mean():.2f}; median to the nearest "
              f"training {rare} {np.median(nearest(S, seen)):.2f} (training to held-out "
              f"{np.median(nearest(seen, held)):.2f}); fit {fit_s:.0f} s", flush=True)


if __name__ == "__main__":
    main()
