"""Screen: isotropic Gaussian noise added to a model's outputs in its scaled space, each scale scored on the
test split (an oracle choice, to see whether a held-out choice could help at all).

One stratified 80/20 split (``quality.py``'s), the model trained with its defaults, ``quality.py``'s
indicators over 2 draws per scale (the same draws; the noise from its own seeded stream), shares of the gap
against the per-class Gaussian floor and the real-vs-real ceiling of the same split. For the WGAN-GP pass
``--set sample.noise=0`` to screen its outputs as they are. ``--shape matched`` scales each gene's noise by
the square root of its within-class variance gap (pooled within-class variance of the training profiles minus
that of a training-sized noise-free draw, floored at 0, normalised to mean 1), the shape of the VAE's matched
noise, instead of the same noise for every gene.

    OMP_NUM_THREADS=1 python benchmarks/output_noise_screen.py --dataset brca258 --model diffusion --seed 0
    OMP_NUM_THREADS=1 python benchmarks/output_noise_screen.py --dataset mirna4 --model wgan-gp \
        --set sample.noise=0 --scales 0.2 0.3 0.4 --shape matched
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality as q  # noqa: E402

SHOW = ["density", "coverage", "precision", "recall", "aa_ts", "detection_auc"]


def main() -> None:
    """Train once, print every scale's indicators with their shares of the gap."""
    import torch

    from rnagen import pp
    from rnagen.metrics.gap import gap_closed_from
    from rnagen.models import get_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=q.DATASETS, default="brca258")
    ap.add_argument("--data-dir", type=Path, default=q.DEFAULT_DATA_DIR)
    ap.add_argument("--model", default="diffusion")
    ap.add_argument("--set", nargs="*", default=[], help="config overrides of the model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scales", nargs="+", type=float, default=[0.0, 0.1, 0.2, 0.3, 0.4])
    ap.add_argument("--shape", choices=["isotropic", "matched"], default="isotropic")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tr, te = pp.split(q.load_dataset(a.dataset, a.data_dir), label_key=q.LABEL, test_size=0.2, seed=a.seed)
    gauss = get_model("gaussian")().fit(tr, label_key=q.LABEL, seed=a.seed, progress=False)
    fl, _ = q.score_draws(gauss, tr, te, a.seed, draws=2, label_key=q.LABEL)
    ceiling, floor = fl["reference"], fl["value"]
    model = get_model(a.model).from_config(overrides=a.set).fit(tr, label_key=q.LABEL, seed=a.seed, progress=False)
    plain = model._sample
    shape = np.ones(tr.n_vars)
    if a.shape == "matched":
        codes = {c: i for i, c in enumerate(model.labels)}
        y = np.array([codes[c] for c in tr.obs[q.LABEL].astype(str)])
        X = model.pipeline.transform(np.asarray(tr.X, np.float32)).astype(np.float64)
        D = np.asarray(plain(y, seed=999, batch_size=4096, progress=False), dtype=np.float64)
        within = lambda A: sum(((A[y == c] - A[y == c].mean(0)) ** 2).sum(0) for c in np.unique(y)) / len(A)  # noqa: E731
        gap = np.maximum(within(X) - within(D), 0.0)
        shape = np.sqrt(gap / gap.mean())
    for s in a.scales:
        def noisy(y, *, seed, batch_size, progress, s=s, **opts):
            out = plain(y, seed=seed, batch_size=batch_size, progress=progress, **opts)
            e = np.random.default_rng([seed, 77]).standard_normal(out.shape)
            return out + (s * shape * e).astype(np.float32)
        model._sample = noisy
        v = q.score_draws(model, tr, te, a.seed, draws=2, label_key=q.LABEL)[0]["value"]
        print(f"{a.dataset} split {a.seed} {a.model} {a.shape} noise {s}: " + " ".join(
            f"{m}={v[m]:.3f} ({100 * gap_closed_from(m, v, floor, ceiling):.0f}%)" for m in SHOW)
            + f" aa_truth={v['aa_truth']:.3f} aa_syn={v['aa_syn']:.3f} TSTR={v['tstr_mlp_accuracy']:.3f} "
            f"(TRTR {ceiling['tstr_mlp_accuracy']:.3f})", flush=True)


if __name__ == "__main__":
    main()
