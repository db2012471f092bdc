"""A stand-in for GTEx at its full size on the L1000 landmarks (17,000 profiles x 978 genes, 30 tissues), for timing
``rnagen train`` at that size (BENCHMARKS.md, "Diffusion speed and memory": "The default `rnagen train` at GTEx's
size"). No such file is local; this one is drawn from a model fitted to the bundled GTEx subset (gtex26: 26 tissues
x 20 profiles, 467 genes, log2(RPKM+1)):

1. each tissue's mean over its 20 profiles; the within-tissue residuals (every profile minus its tissue's mean)
   pooled, their 20 leading principal directions and scales (a shared low-rank correlation) and each gene's
   remaining standard deviation;
2. 978 genes: the 467 measured ones, and 511 more, each a fixed mixture (Dirichlet weights) of 3 measured genes
   drawn at random, so that the new genes carry correlated tissue signal as landmark genes do; a new gene's own
   remaining standard deviation is that of a measured gene drawn at random; named after the 978 L1000 landmarks;
3. 30 tissues: gtex26's 26 and 4 more (Kidney, Bladder, Cervix Uteri, Fallopian Tube), each with the mean of two
   measured tissues' means; the tissues' sizes are GTEx v8's SMTS counts (rounded, approximate) scaled to 17,000
   profiles (Brain 2,580 ... Fallopian Tube 9);
4. each profile: its tissue's mean + the low-rank part + each gene's own noise, clipped at 0 (log scale), float32.

    python benchmarks/gtex_scale_standin.py --out gtex17k.h5ad [--n 17000] [--seed 0]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from rnagen.datasets import load

#: GTEx v8 profiles per SMTS tissue (approximate), the 26 of gtex26 first, then the 4 it lacks
GTEX_V8_SIZES = {
    "Brain": 2642, "Skin": 1809, "Esophagus": 1445, "Blood Vessel": 1335, "Adipose Tissue": 1204, "Blood": 929,
    "Heart": 861, "Muscle": 803, "Colon": 779, "Thyroid": 653, "Nerve": 619, "Lung": 578, "Breast": 459,
    "Testis": 361, "Stomach": 359, "Pancreas": 328, "Pituitary": 283, "Adrenal Gland": 258, "Prostate": 245,
    "Spleen": 241, "Liver": 226, "Small Intestine": 187, "Ovary": 180, "Salivary Gland": 162, "Vagina": 156,
    "Uterus": 142, "Kidney": 89, "Bladder": 21, "Cervix Uteri": 19, "Fallopian Tube": 9}
#: the 4 tissues gtex26 lacks, each given the mean of two of its tissues' means
EXTRA = {"Kidney": ("Liver", "Adrenal Gland"), "Bladder": ("Colon", "Vagina"), "Cervix Uteri": ("Uterus", "Vagina"),
         "Fallopian Tube": ("Ovary", "Uterus")}
LANDMARKS = Path("/work/shared/data/l1000_landmarks/l1000_landmarks_978.tsv")


def standin(n: int = 17000, genes: int = 978, rank: int = 20, seed: int = 0) -> ad.AnnData:
    """``n`` profiles x ``genes`` genes of 30 tissues drawn as the module docstring says (log2(RPKM+1) scale)."""
    rng = np.random.default_rng(seed)
    g26 = load("gtex26")
    X = np.asarray(g26.X, dtype=np.float64)
    tissue = g26.obs["tissue"].astype(str).to_numpy()
    names = sorted(set(tissue))
    means = {t: X[tissue == t].mean(axis=0) for t in names}
    R = X - np.stack([means[t] for t in tissue])
    _, s, Vt = np.linalg.svd(R, full_matrices=False)
    F = (Vt[:rank].T * (s[:rank] / np.sqrt(len(X) - len(names))))          # genes x rank
    own = np.sqrt(np.maximum(((R - (R @ Vt[:rank].T) @ Vt[:rank]) ** 2).sum(0) / (len(X) - len(names)), 0))
    G0 = X.shape[1]
    M = np.zeros((genes, G0))
    M[:G0, :G0] = np.eye(G0)
    for j in range(G0, genes):
        M[j, rng.choice(G0, 3, replace=False)] = rng.dirichlet(np.ones(3))
    own_all = np.concatenate([own, rng.choice(own, genes - G0)])
    for t, (a, b) in EXTRA.items():
        means[t] = (means[a] + means[b]) / 2
    total = sum(GTEX_V8_SIZES.values())
    sizes = {t: max(2, round(c * n / total)) for t, c in GTEX_V8_SIZES.items()}
    sizes["Brain"] += n - sum(sizes.values())
    labels = np.repeat(list(sizes), list(sizes.values()))
    mu = np.stack([M @ means[t] for t in sizes])[np.repeat(np.arange(len(sizes)), list(sizes.values()))]
    Y = mu + rng.standard_normal((n, rank)) @ (M @ F).T + rng.standard_normal((n, genes)) * own_all
    Y = np.clip(Y, 0, None).astype(np.float32)
    order = rng.permutation(n)
    lm = pd.read_csv(LANDMARKS, sep="\t")
    adata = ad.AnnData(Y[order], obs=pd.DataFrame({"tissue": labels[order]},
                                                  index=[f"standin_{i:05d}" for i in range(n)]),
                       var=pd.DataFrame(index=lm["symbol"].astype(str).to_numpy()[:genes]))
    adata.uns["rnagen"] = {"label_key": "tissue", "log": dict(g26.uns["rnagen"]["log"])}
    adata.uns["log1p"] = dict(g26.uns["log1p"])
    return adata


def main() -> None:
    """Write the stand-in to ``--out``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=17000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    adata = standin(a.n, seed=a.seed)
    adata.write_h5ad(a.out)
    c = adata.obs["tissue"].value_counts()
    print(f"{a.out}: {adata.n_obs} x {adata.n_vars}, {len(c)} tissues ({c.max()} to {c.min()} profiles), "
          f"zeros {float((adata.X == 0).mean()):.3f}")


if __name__ == "__main__":
    main()
