"""Quality of the learned baselines (VAE, WGAN-GP) next to the per-class Gaussian floor and real data.

On the bundled GTEx subset (26 tissues x 20 samples, 467 genes, log2 scale): a stratified 80/20 split per
seed; each model trains on the 416 training profiles and generates a synthetic set with the test split's
label mix (4 per tissue); the indicators compare it with the 104 held-out real profiles in the data's own
log2 units (``--standardise`` z-scores genes with the training split's statistics instead; this lets
near-constant, mostly-zero genes dominate every distance, and then no model reaches a real k-NN ball):

* density and coverage (Naeem et al. 2020, k = 10), ``rnagen.metrics.prdc``;
* AA_ts (Yale et al. 2020; 0.5 ideal), ``rnagen.metrics.adversarial_accuracy``;
* TSTR: accuracy on the real test split of a logistic regression trained on the synthetic set.

Reference measured in the same run: "real" = a label-matched subset of the real *training* split scored
against the test split (what a perfect generator would reach), and the per-class Gaussian.

    .venv/bin/python benchmarks/bench_baselines.py --seeds 0 1 2
    .venv/bin/python benchmarks/bench_baselines.py --models vae --set vae:sample.noise=true
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
import torch


def split(a, seed: int):
    from sklearn.model_selection import train_test_split

    idx = np.arange(a.n_obs)
    tr, te = train_test_split(idx, test_size=0.2, random_state=seed, stratify=a.obs["tissue"].astype(str))
    return a[np.sort(tr)].copy(), a[np.sort(te)].copy()


def scores(real, y_real, fake, y_fake, seed):
    from sklearn.linear_model import LogisticRegression

    from rnagen.metrics import adversarial_accuracy, prdc

    p = prdc(real, fake, k=10)
    aa = adversarial_accuracy(real, fake)["aa_ts"]
    clf = LogisticRegression(max_iter=500, random_state=seed).fit(fake, y_fake)
    return {"density": float(p["density"]), "coverage": float(p["coverage"]), "aa_ts": float(aa),
            "tstr": float(clf.score(real, y_real))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["gaussian", "vae", "wgan-gp"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--set", nargs="*", default=[], help="MODEL:key=value config overrides")
    ap.add_argument("--sample", nargs="*", default=[], help="MODEL:option=value sampler options")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--standardise", action="store_true", help="z-score genes before scoring")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from rnagen.datasets import gtex26
    from rnagen.models import get_model

    a = gtex26()
    overrides, sopts = defaultdict(list), defaultdict(dict)
    for s in args.set:
        m, kv = s.split(":", 1)
        overrides[m].append(kv)
    for s in args.sample:
        m, kv = s.split(":", 1)
        k, v = kv.split("=", 1)
        sopts[m][k] = {"true": True, "false": False}.get(v.lower(), float(v) if v.replace(".", "").isdigit() else v)
    rows = defaultdict(list)
    for seed in args.seeds:
        tr, te = split(a, seed)
        Xtr, Xte = np.asarray(tr.X, np.float64), np.asarray(te.X, np.float64)
        mu, sd = (Xtr.mean(0), Xtr.std(0) + 1e-8) if args.standardise else (0.0, 1.0)
        z = lambda X: (np.asarray(X, np.float64) - mu) / sd  # noqa: E731
        yte = te.obs["tissue"].astype(str).to_numpy()
        # real reference: per tissue, as many training profiles as the test split has
        rng = np.random.default_rng(seed)
        ytr = tr.obs["tissue"].astype(str).to_numpy()
        pick = np.concatenate([rng.choice(np.flatnonzero(ytr == t), (yte == t).sum(), replace=False)
                               for t in np.unique(yte)])
        rows["real"].append({**scores(z(Xte), yte, z(Xtr[pick]), ytr[pick], seed), "seconds": 0.0})
        for name in args.models:
            model = get_model(name).from_config(overrides=overrides[name])
            t0 = time.perf_counter()
            model.fit(tr, label_key="tissue", seed=seed, progress=False)
            secs = time.perf_counter() - t0
            syn = model.sample(like=te, seed=seed + 100, **sopts[name])
            ys = syn.obs["tissue"].astype(str).to_numpy()
            rows[name].append({**scores(z(Xte), yte, z(syn.X), ys, seed), "seconds": secs})
            print(f"seed {seed} {name:9s} " + " ".join(f"{k}={v:.3f}" for k, v in rows[name][-1].items()), flush=True)
    print(f"\nmean (sd) over seeds {args.seeds}; overrides {dict(overrides)}; sampler {dict(sopts)}")
    print(f"{'model':10s} {'density':>14s} {'coverage':>14s} {'AA_ts':>14s} {'TSTR':>14s} {'fit s':>8s}")
    for name, rs in rows.items():
        cell = lambda k: f"{np.mean([r[k] for r in rs]):.3f} ({np.std([r[k] for r in rs]):.3f})"  # noqa: E731
        print(f"{name:10s} {cell('density'):>14s} {cell('coverage'):>14s} {cell('aa_ts'):>14s} {cell('tstr'):>14s} "
              f"{np.mean([r['seconds'] for r in rs]):8.1f}")


if __name__ == "__main__":
    main()
