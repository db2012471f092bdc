"""The diffusion model on many genes of their own noise: the GTEx-scale stand-in, with and without the per-gene affine
path (``network.gene_affine``), next to the real-vs-real ceiling and the per-class Gaussian floor.

The stand-in (``gtex_scale_standin.py``: each tissue's mean, a rank-20 within-tissue correlation and each gene's own
noise, clipped at 0) is drawn with ``--n`` profiles (30 tissues), optionally cut to its first ``--genes`` genes or its
``--classes`` largest tissues, and split 80/20 (stratified, ``--seed``). The per-class Gaussian and each variant
(``--variant "k=v,k=v"``, diffusion config overrides; ``default`` for none) train on the training part; each draws a
held-out-sized set (seed 100) that ``rnagen.metrics.evaluate`` scores against the held-out profiles (the real row: a
training subsample, the same call's reference). Printed per row: density, coverage, precision, recall, AA_ts
(AA_truth / AA_syn), the **within-class spread** (median over the classes with at least 10 held-out profiles of the
median over genes of the synthetic over the held-out within-class standard deviation), the last logged training
loss, training seconds and, for a validated run, the step it kept.

``--steps N`` trains every variant for a fixed N steps on all training profiles (``train.val_fraction=0``): what the
network learns in that time, without the choice of length; without it, each trains as ``rnagen train`` does
(validation-chosen length, guidance pair). ``--samplers`` scores the fixed-length network again with DPM-Solver++
10, DDIM 50, DDIM 200 and DDPM 1000.

    OMP_NUM_THREADS=2 python benchmarks/gene_affine_screen.py --n 4000 --steps 2000 \\
        --variant network.gene_affine=false network.gene_affine=true
    OMP_NUM_THREADS=2 python benchmarks/gene_affine_screen.py --n 4000 --genes 467 --steps 2000 \\
        --variant network.gene_affine=false
    OMP_NUM_THREADS=1 python benchmarks/gene_affine_screen.py --n 4000 --variant network.gene_affine=false default
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gtex_scale_standin import standin  # noqa: E402

LABEL = "tissue"
SHOW = ("density", "coverage", "precision", "recall", "aa_ts", "aa_truth", "aa_syn")


def spread(syn, test) -> float:
    """Median over classes (>= 10 profiles in both sets) of the median over genes of the within-class sd ratio."""
    ys, yt = syn.obs[LABEL].astype(str).to_numpy(), test.obs[LABEL].astype(str).to_numpy()
    Xs, Xt = np.asarray(syn.X, dtype=np.float64), np.asarray(test.X, dtype=np.float64)
    ratios = []
    for c in np.unique(yt):
        if (ys == c).sum() >= 10 and (yt == c).sum() >= 10:
            s_syn, s_real = Xs[ys == c].std(0), Xt[yt == c].std(0)
            ok = s_real > 1e-3
            ratios.append(np.median(s_syn[ok] / s_real[ok]))
    return float(np.median(ratios))


def score(test, syn, train, seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """The indicators of ``syn`` against the held-out ``test`` and the same call's real-vs-real reference."""
    from rnagen.metrics import evaluate

    df = evaluate(test, syn, train=train, label_key=LABEL, metrics=list(SHOW), n_boot=0, n_boot_expensive=0,
                  seed=seed)
    df = df[df["group"] == "all"].set_index("name")
    return df["value"].to_dict(), df["reference"].to_dict()


def row(name: str, v: dict[str, float], extra: str = "") -> str:
    """One printed line of indicators."""
    return (f"{name:<40} dens={v['density']:.3f} cov={v['coverage']:.3f} prec={v['precision']:.3f} "
            f"rec={v['recall']:.3f} AA_ts={v['aa_ts']:.3f} ({v['aa_truth']:.3f} / {v['aa_syn']:.3f}) {extra}")


def main() -> None:
    """Parse the options, draw the stand-in, train and score each row."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--genes", type=int, default=None)
    ap.add_argument("--classes", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None, help="fixed training length (no validation)")
    ap.add_argument("--variant", nargs="+", default=["default"])
    ap.add_argument("--samplers", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    import torch

    from rnagen import pp
    from rnagen.models import get_model

    if a.threads:
        torch.set_num_threads(a.threads)
    data = standin(n=a.n, seed=0)
    if a.genes:
        data = data[:, : a.genes].copy()
    if a.classes:
        keep = data.obs[LABEL].value_counts().index[: a.classes]
        data = data[data.obs[LABEL].isin(keep)].copy()
        data.obs[LABEL] = data.obs[LABEL].astype(str)
    tr, te = pp.split(data, label_key=LABEL, test_size=0.2, seed=a.seed)
    print(f"stand-in {data.n_obs} x {data.n_vars}, {data.obs[LABEL].nunique()} tissues; train {tr.n_obs}, "
          f"held out {te.n_obs}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)", flush=True)
    gauss = get_model("gaussian")().fit(tr, label_key=LABEL, seed=a.seed, progress=False)
    syn = gauss.sample(like=te, seed=100)
    v, ref = score(te, syn, tr, a.seed)
    print(row("real (training subsample)", ref), flush=True)
    print(row("gaussian (floor)", v, f"spread={spread(syn, te):.3f}"), flush=True)
    for variant in a.variant:
        sets = [] if variant == "default" else [kv for kv in variant.split(",") if kv]
        if a.steps:
            sets = [f"train.steps={a.steps}", "train.val_fraction=0", *sets]
        m = get_model("diffusion").from_config(overrides=sets)
        t0 = time.perf_counter()
        m.fit(tr, label_key=LABEL, seed=a.seed, progress=False)
        fit_s = time.perf_counter() - t0
        loss = float(m.history[-1]["loss"]) if m.history else float("nan")
        v = m.validation or {}
        kept = f" kept step {v['best_step']} of {v['steps']}" if "best_step" in v else ""
        net = getattr(m.net, "net", m.net)   # inside an anchor, where there is one
        path = "path" if net.gene_affine is not None else "no path"
        options = [{}] + ([{"sampler": "dpm++", "steps": 10}, {"sampler": "ddim", "steps": 50},
                           {"sampler": "ddim", "steps": 200}, {"sampler": "ddpm"}] if a.samplers else [])
        for opts in options:
            syn = m.sample(like=te, seed=100, **opts)
            v, _ = score(te, syn, tr, a.seed)
            label = f"{variant} ({path})" + (f" {opts}" if opts else "")
            print(row(label, v, f"spread={spread(syn, te):.3f} loss={loss:.3f} train_s={fit_s:.0f}{kept}"),
                  flush=True)


if __name__ == "__main__":
    main()
