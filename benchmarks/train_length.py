"""Training length: fixed-length defaults against validation-chosen length, on more than one data set.

For each seed: a stratified 80/20 split of the data set; each model trains on the training split (with the
validation-based stopping, the model holds its own validation share out of that split) and generates a
synthetic set with the test split's label mix, scored by ``rnagen.metrics.evaluate`` against the held-out
test split, with the real-vs-real reference (the ceiling) from the same call; the per-class Gaussian is the
floor. TSTR (logistic regression, MLP) comes from a second synthetic set of the training split's size.
"gap" is the share of the floor-to-ceiling gap closed, 1 - |model - ceiling| / |floor - ceiling| (AA_ts:
ceiling = the real-vs-real value), averaged over the seeds' values.

Data sets: ``gtex26`` (bundled; label ``tissue``) and ``mirna4`` (``/work/shared/data/tcga_mirna4``:
1,934 TCGA profiles x 383 miRNAs, 4 cancer types, values already z-scored; label ``label``).

    OMP_NUM_THREADS=1 python benchmarks/train_length.py --data mirna4 --models diffusion --seeds 0 1 \\
        --set diffusion:train.steps=3500 diffusion:train.val_fraction=0 --label fixed3500
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

METRICS = ["density", "coverage", "aa_ts", "tstr_logreg_accuracy", "tstr_mlp_accuracy"]
SHORT = {"density": "dens", "coverage": "cov", "aa_ts": "AA_ts", "tstr_logreg_accuracy": "TSTR_lr",
         "tstr_mlp_accuracy": "TSTR_mlp"}
MIRNA4 = Path("/work/shared/data/tcga_mirna4/expression.csv.gz")


def load(name: str):
    """(AnnData, label key) of a development data set."""
    import anndata as ad
    import pandas as pd

    from rnagen import datasets
    from rnagen.pp.history import set_log_state

    if name == "gtex26":
        return datasets.gtex26(), "tissue"
    df = pd.read_csv(MIRNA4, index_col=0)
    obs = pd.DataFrame({"label": pd.Categorical(df.pop("label").astype(str))}, index=df.index.astype(str))
    a = ad.AnnData(X=df.to_numpy(np.float32), obs=obs, var=pd.DataFrame(index=df.columns.astype(str)))
    set_log_state(a, logged=True, transform="zscore")  # already on a log scale (z-scored log values)
    return a, "label"


def score(model, train, test, key: str, seed: int) -> dict[str, dict[str, float]]:
    from rnagen.metrics import evaluate

    syn = model.sample(like=test, seed=seed + 100)
    syn_tstr = model.sample(like=train, seed=seed + 200)
    first = ["density", "coverage", "aa_ts"]
    tstr = ["tstr_logreg_accuracy", "tstr_mlp_accuracy"]
    out: dict[str, dict[str, float]] = {"value": {}, "reference": {}}
    for s, names in ((syn, first), (syn_tstr, tstr)):
        df = evaluate(test, s, train=train, label_key=key, metrics=names, n_boot=0, n_boot_expensive=0,
                      seed=seed)
        df = df[df["group"] == "all"].set_index("name")
        out["value"].update(df["value"].to_dict())
        out["reference"].update(df["reference"].to_dict())
    return out


def gap(name: str, m: float, floor: float, ceil: float) -> float:
    if name.startswith("tstr"):
        return float("nan")
    return 1.0 - abs(m - ceil) / max(abs(floor - ceil), 1e-12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", choices=["gtex26", "mirna4"], default="gtex26")
    ap.add_argument("--models", nargs="+", default=["diffusion"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--set", nargs="*", default=[], help="MODEL:key=value config overrides")
    ap.add_argument("--label", default=None, help="row label for the (single) non-Gaussian model")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from rnagen import pp
    from rnagen.models import get_model

    a, key = load(args.data)
    overrides = defaultdict(list)
    for s in args.set:
        m, kv = s.split(":", 1)
        overrides[m].append(kv)
    models = ["gaussian"] + [m for m in args.models if m != "gaussian"]
    rows: dict[str, list[dict]] = defaultdict(list)
    for seed in args.seeds:
        tr, te = pp.split(a, label_key=key, test_size=0.2, seed=seed)
        for name in models:
            model = get_model(name).from_config(overrides=overrides[name])
            t0 = time.perf_counter()
            model.fit(tr, label_key=key, seed=seed, progress=False)
            fit_s = time.perf_counter() - t0
            res = score(model, tr, te, key, seed)
            if name == "gaussian":
                rows["real (ceiling)"].append({**res["reference"], "fit_s": 0.0, "steps": 0})
                print(f"seed {seed} {'real (ceiling)':16s} " + " ".join(
                    f"{SHORT.get(k, k)}={val:.3f}" for k, val in rows["real (ceiling)"][-1].items()), flush=True)
            label = name if (name == "gaussian" or args.label is None) else args.label
            v = getattr(model, "validation", None) or {}
            steps = v.get("steps", len(model.history) and model.history[-1].get("step", 0))
            rows[label].append({**res["value"], "fit_s": fit_s, "steps": steps})
            extra = (f" best_step={v.get('best_step')} stop={v.get('stop_reason')}" if v else "")
            print(f"seed {seed} {label:16s} " + " ".join(f"{SHORT.get(k, k)}={val:.3f}" for k, val in
                                                         rows[label][-1].items()) + extra, flush=True)
    print(f"\n{args.data}: mean (sd) over seeds {args.seeds}; overrides {dict(overrides)}; torch threads "
          f"{args.threads}")
    print(f"{'set':18s} " + " ".join(f"{SHORT[m]:>14s}" for m in METRICS) + f" {'fit s':>7s} {'steps':>7s}"
          "  gap closed (dens, cov, AA_ts)")
    for name, rs in rows.items():
        cells = " ".join(f"{np.mean([r[m] for r in rs]):.3f} ({np.std([r[m] for r in rs]):.3f})".rjust(14)
                         for m in METRICS)
        g = ""
        if name not in ("gaussian", "real (ceiling)"):
            g = ", ".join(f"{np.mean([gap(m, r[m], f[m], c[m]) for r, f, c in zip(rs, rows['gaussian'], rows['real (ceiling)'])]):.0%}"
                          for m in ("density", "coverage", "aa_ts"))
        print(f"{name:18s} {cells} {np.mean([r['fit_s'] for r in rs]):7.1f} "
              f"{np.mean([r['steps'] for r in rs]):7.0f}  {g}")


if __name__ == "__main__":
    main()
