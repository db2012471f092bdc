"""Generated values past anything the training data held: the upper bound and the moderated class variances.

Two simulated count sets, each model trained with its defaults (the VAE for 200 steps), 2,000 or 100 profiles per
class sampled, and per set: the largest ratio of a generated value to its gene's largest training value, how many
values pass 100 times it, and the share the upper bound cut (``uns["rnagen"]["synthetic"]["clipped_above"]``):

- ``bimodal``: 120 profiles of 50 genes, one gene at 0 or in the millions (its log2 standard deviation ~10);
- ``tiny-class``: 42 profiles of 200 genes (fewer profiles than genes: the principal-component space), classes of
  40 and 2, 40 mostly-zero genes; the ratios of the class of two.

Usage: OMP_NUM_THREADS=1 python benchmarks/value_bounds.py
"""
from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd


def _sets():
    rng = np.random.default_rng(0)
    mu = np.exp(rng.normal(3, 2, 50))
    X = rng.poisson(mu * rng.gamma(5, 0.2, (120, 50))).astype(np.float32)
    X[:60, 0] = 0
    X[60:, 0] = rng.uniform(1e6, 1e7, 60).round()
    lab = np.array(["a"] * 60 + ["b"] * 60)
    rng.shuffle(lab)
    bimodal = ad.AnnData(X, obs=pd.DataFrame({"lab": lab}, index=[f"s{i}" for i in range(120)]),
                         var=pd.DataFrame(index=[f"g{i}" for i in range(50)]))
    rng = np.random.default_rng(0)
    mu = np.exp(rng.normal(3, 2, 200))
    X = rng.poisson(mu * rng.gamma(5, 0.2, (42, 200))).astype(np.float32)
    X[:, :40] *= rng.random((42, 40)) < 0.15
    tiny = ad.AnnData(X, obs=pd.DataFrame({"lab": ["big"] * 40 + ["tiny"] * 2}, index=[f"s{i}" for i in range(42)]),
                      var=pd.DataFrame(index=[f"g{i}" for i in range(200)]))
    return {"bimodal": (bimodal, 2000, None), "tiny-class": (tiny, 100, "tiny")}


def main() -> None:
    """Print the table described in the module docstring."""
    from rnagen.models import get_model

    warnings.simplefilter("ignore")
    print(f"{'set':11s} {'model':9s} {'space':6s} {'max ratio':>10s} {'>100x':>6s} {'cut share':>10s}")
    for name, (a, n, only) in _sets().items():
        top = np.maximum(np.asarray(a.X).max(axis=0), 1.0)
        for model, over in (("gaussian", []), ("vae", ["train.steps=200"])):
            m = get_model(model).from_config(overrides=over).fit(a, label_key="lab", progress=False)
            s = m.sample(n_per_label=n, seed=0)
            Y = np.asarray(s.X)
            if only is not None:
                Y = Y[(s.obs["lab"] == only).to_numpy()]
            r = Y / top
            cut = (s.uns["rnagen"]["synthetic"].get("clipped_above") or {}).get("share", 0.0)
            print(f"{name:11s} {model:9s} {'pca' if m.subspace else 'genes':6s} {r.max():10.3g} {int((r > 100).sum()):6d} "
                  f"{cut:10.4f}")


if __name__ == "__main__":
    main()
