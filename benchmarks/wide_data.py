"""Fewer training profiles than genes: where the generators' samples sit (simulated counts).

Simulated RNA-seq counts: ``--samples`` profiles of ``--genes`` genes in 4 classes, each gene a negative
binomial (dispersion 1/5) around a log-normal base level, 10% of the genes shifted per class (log-normal fold,
sd 0.7), a log-normal library size per profile (sd 0.3, the one factor shared by all genes); prepared as the CLI
does (log2(x + 1)), split 80/20 (stratified, by each of ``--seeds``, default 0). The default diffusion model
(which denoises in the training profiles' leading principal components on such data, ``preprocess.space=auto``;
``--set preprocess.space=genes`` gives the denoiser on the genes; ``--models`` adds or replaces learned models,
``--set`` applies to each) and the per-class Gaussian are fitted on the training part and draw a held-out-sized
set. Printed, per split and as mean ± sd over the splits:

- ``rnagen.metrics.evaluate``'s precision, density, coverage, AA_ts (halves), TSTR and the near-copy share and
  DCR ratio for both models, the real-vs-real value beside them;
- each model's within-class standard deviation per gene over the training data's (median over genes and
  classes), by the genes' share of zeros;
- where each set's profiles lie relative to the span of the training profiles (standardised on the training
  data): the mean squared norm inside the span and outside it, for the held-out real profiles and each model.
  With fewer profiles than genes the span is a strict subspace: a new real profile has most of its energy
  outside it, a copy of a training profile all of it inside.

``--dataset`` runs the same on a development set instead. ``--span-only`` prints only the
share of the validation hold-out's variance outside the span of the rest of the training split
(:func:`rnagen.train.validation.outside_span_share` on the standardised profiles, the hold-out that the
diffusion model's length is chosen on), the share on which ``rnagen train`` warns.

    OMP_NUM_THREADS=2 python benchmarks/wide_data.py --samples 400 --genes 2000 --seeds 0 1 2
    OMP_NUM_THREADS=2 python benchmarks/wide_data.py --samples 400 --genes 2000 --set preprocess.space=genes
    OMP_NUM_THREADS=2 python benchmarks/wide_data.py --samples 400 --genes 2000 --set preprocess.space=genes \
        objective.anchor=diag
    OMP_NUM_THREADS=2 python benchmarks/wide_data.py --dataset gtex26
    python benchmarks/wide_data.py --span-only [--dataset D]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

METRICS = ["precision", "density", "coverage", "aa_ts", "aa_truth", "aa_syn", "tstr_logreg_accuracy",
           "near_copy_share", "dcr_ratio"]


def simulate(n: int, g: int, *, seed: int = 0):
    """Labelled count profiles (AnnData, log2(x + 1) as ``rnagen data prepare`` leaves them)."""
    import anndata as ad
    import pandas as pd

    rng = np.random.default_rng(seed)
    base = rng.lognormal(2.0, 2.0, g)
    y = rng.integers(0, 4, n)
    fold = np.exp(rng.normal(0.0, 0.7, (4, g)) * (rng.random((4, g)) < 0.1))
    lib = rng.lognormal(0.0, 0.3, n)
    mu = base[None, :] * fold[y] * lib[:, None]
    counts = rng.negative_binomial(5.0, 5.0 / (5.0 + mu))
    obs = pd.DataFrame({"label": np.array(["a", "b", "c", "d"])[y]}, index=[f"s{i}" for i in range(n)])
    return ad.AnnData(np.log2(counts + 1.0).astype(np.float32), obs=obs,
                      var=pd.DataFrame(index=[f"g{j}" for j in range(g)]))


def spread(train, syn) -> dict[str, float]:
    """Median within-class sd ratio (synthetic / training) by the genes' share of zeros in the training data."""
    X, S = np.asarray(train.X, np.float64), np.asarray(syn.X, np.float64)
    lt, ls = train.obs["label"].to_numpy(), syn.obs["label"].to_numpy()
    zeros = (X == 0).mean(0)
    out = {}
    for name, keep in (("no zeros", zeros == 0), ("0-20% zeros", (zeros > 0) & (zeros < 0.2)),
                       ("20-60% zeros", (zeros >= 0.2) & (zeros < 0.6)), (">= 60% zeros", zeros >= 0.6)):
        if keep.any():
            r = [np.median(S[ls == c][:, keep].std(0) / (X[lt == c][:, keep].std(0) + 1e-8)) for c in np.unique(lt)]
            out[name] = float(np.median(r))
    return out


def span_energy(train, other) -> tuple[float, float]:
    """Mean squared norm of ``other``'s standardised profiles inside and outside the training profiles' span (the
    genes that vary in the training profiles)."""
    X = np.asarray(train.X, np.float64)
    keep = X.std(0) > 0  # a gene constant in the training profiles has no standardised value
    X = X[:, keep]
    mu, sd = X.mean(0), X.std(0)
    Q, _ = np.linalg.qr(((X - mu) / sd).T)
    A = (np.asarray(other.X, np.float64)[:, keep] - mu) / sd
    inside = A @ Q
    total = (A ** 2).sum(1).mean()
    ins = (inside ** 2).sum(1).mean()
    return float(ins), float(total - ins)


def main() -> None:
    """Print the tables described in the module docstring."""
    import torch

    from rnagen import pp
    from rnagen.metrics import evaluate
    from rnagen.models import get_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="split (and model) seeds")
    ap.add_argument("--models", nargs="+", default=["diffusion"], help="learned models beside the Gaussian floor")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the learned models")
    ap.add_argument("--dataset", default=None, help="a development set (quality.py's names) instead of simulated data")
    ap.add_argument("--span-only", action="store_true", help="print the hold-out's share outside the training span")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.dataset is None:
        data = simulate(a.samples, a.genes)
    else:
        from quality import LABEL, load_dataset

        data = load_dataset(a.dataset)
        data.obs["label"] = data.obs[LABEL].astype(str)
    if a.span_only:
        from rnagen.train.validation import outside_span_share, stratified_holdout

        tr, _ = pp.split(data, label_key="label", test_size=0.2, seed=0)
        X = np.asarray(tr.X, np.float64)
        X = (X - X.mean(0)) / (X.std(0) + 1e-8)
        fit, held = stratified_holdout(tr.obs["label"].astype("category").cat.codes.to_numpy(), fraction=0.1, seed=0)
        print(f"{a.dataset or 'simulated'} ({tr.n_obs} x {tr.n_vars} training): {len(held)} held out, "
              f"{outside_span_share(X[fit], X[held]):.4f} of their variance outside the span of the other {len(fit)}")
        return
    print(f"# {a.dataset or 'simulated'}: {data.n_obs} profiles x {data.n_vars} genes, {data.obs['label'].nunique()} "
          f"classes; split seeds {a.seeds}; overrides of {a.models}: {a.set}")
    rows: dict[str, list[list[float]]] = {}
    for seed in a.seeds:
        tr, te = pp.split(data, label_key="label", test_size=0.2, seed=seed)
        sets = {}
        for name, model, over in (("gaussian", "gaussian", []), *((m, m, a.set) for m in a.models)):
            t0 = time.perf_counter()
            m = get_model(model).from_config(overrides=over).fit(tr, label_key="label", seed=seed, progress=False)
            sets[name] = m.sample(like=te, seed=100 + seed)
            note = getattr(m, "validation", None)
            stop = (f", best check at step {note['best_step']} of {note['steps']}"
                    if isinstance(note, dict) and "best_step" in note else "")
            sub = getattr(m, "subspace", None)
            space = f"; {sub['n_components']} principal components" if sub else ""
            print(f"# split {seed}, {name}: fitted in {time.perf_counter() - t0:.0f} s{stop}{space}")
        print(f"\n| split {seed} | " + " | ".join(METRICS) + " |")
        print("|---|" + "---|" * len(METRICS))
        ref = None
        for name, syn in sets.items():
            df = evaluate(te, syn, train=tr, label_key="label", metrics=METRICS, n_boot=0, n_boot_expensive=0)
            df = df[df["group"] == "all"].set_index("name")
            ref = df["reference"]
            rows.setdefault(name, []).append([float(df.loc[k, "value"]) for k in METRICS])
            print(f"| {name} | " + " | ".join(f"{df.loc[k, 'value']:.3f}" for k in METRICS) + " |")
        assert ref is not None
        rows.setdefault("real (held-out vs training)", []).append([float(ref[k]) for k in METRICS])
        print("| real (held-out vs training) | " + " | ".join(f"{ref[k]:.3f}" for k in METRICS) + " |")
        print("\n| split " + str(seed) + " | within-class sd / training sd, by the genes' share of zeros | energy "
              "inside / outside the training span |")
        print("|---|---|---|")
        for name, syn in {"held-out real": te, **sets}.items():
            ratios = ", ".join(f"{k} {v:.2f}" for k, v in spread(tr, syn).items())
            ins, out = span_energy(tr, syn)
            print(f"| {name} | {ratios} | {ins:.1f} / {out:.1f} |", flush=True)
    if len(a.seeds) > 1:
        print(f"\n| mean ± sd over {len(a.seeds)} splits | " + " | ".join(METRICS) + " |")
        print("|---|" + "---|" * len(METRICS))
        for name, vals in rows.items():
            v = np.asarray(vals)
            print(f"| {name} | " + " | ".join(f"{m:.3f} ± {d:.3f}" for m, d in zip(v.mean(0), v.std(0, ddof=1))) + " |")


if __name__ == "__main__":
    main()
