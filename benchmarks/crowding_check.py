"""Do the default diffusion model's samples crowd among themselves, and does its validation see it? (issue 16)

AA_ts (Yale et al. 2020) read on its halves: AA_truth, the share of real profiles whose nearest neighbour is real
rather than synthetic, and AA_syn, the share of synthetic profiles whose nearest neighbour is synthetic rather than
real. An AA_syn above its real-vs-real value means the samples sit nearer one another than real profiles do: they
crowd. Two questions per cached run (``variants_screen.py``'s default, ``DIR/D_SEED``, trained there if absent):

``sizes``: the halves on stratified subsamples of a quarter, a half and all of the test split of ``quality.py``'s
protocol (a stratified 80/20 split), against the per-class Gaussian and the real-vs-real reference (``evaluate``'s:
a training subsample of the synthetic set's size) on the same subsamples, means over ``--repeats`` subsamples and
draws: a crowding that a small set could not show would grow with the size.

``holdout``: the kept model sampled afresh (``model.sample``, the pair of guidance weights it chose) on the run's own
held-out profiles (``validation_holdout`` with the run's seed, as ``joint_guidance.py``) and on as many test
profiles, beside the halves its validation record holds for the kept check (the run folder's ``validation.csv``):
the record is the best of the checks scored on fixed draws, and the same weights may read otherwise on new ones.

``anchors``: do the samples crowd around the same training profiles? For the whole test split and synthetic sets of
its label mix (the model's and the Gaussian's, ``--repeats`` / 2 draws), genes z-scored with the training
profiles' statistics: the share of profiles whose nearest neighbour within their own set has the same nearest
training profile as they do, for the test profiles (real) and each synthetic set.

Usage: OMP_NUM_THREADS=2 python benchmarks/crowding_check.py --dataset gemdiff16 --seeds 0 1 2 --cache DIR
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
import joint_guidance as J  # noqa: E402
import quality as Q  # noqa: E402
import resample_screen as RS  # noqa: E402

HALVES = ("aa_truth", "aa_syn")


def halves(real, syn, train, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(AA_truth, AA_syn) of ``syn`` against ``real`` and their real-vs-real reference, in ``evaluate``'s space."""
    from rnagen.metrics import evaluate

    df = evaluate(real, syn, train=train, label_key=Q.LABEL, metrics=["aa_ts", *HALVES], n_boot=0,
                  n_boot_expensive=0, seed=seed)
    df = df[df["group"] == "all"].set_index("name")
    return (np.array([df.loc[k, "value"] for k in HALVES]), np.array([df.loc[k, "reference"] for k in HALVES]))


def shared_anchor(X: np.ndarray, train: np.ndarray) -> float:
    """The share of rows of ``X`` whose nearest other row has the same nearest row of ``train``."""
    from sklearn.neighbors import NearestNeighbors

    own = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X, return_distance=False)[:, 1]
    anchor = NearestNeighbors(n_neighbors=1).fit(train).kneighbors(X, return_distance=False)[:, 0]
    return float((anchor == anchor[own]).mean())


def _fmt(v: np.ndarray) -> str:
    return f"{v[0]:.3f} / {v[1]:.3f}"


def main() -> None:
    """Print both checks per split."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=Q.DATASETS, default="gemdiff16")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=6, help="subsamples and draws per size (3 at the whole split)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-dir", type=Path, default=Q.DEFAULT_DATA_DIR)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from rnagen import pp
    from rnagen.models import get_model
    from rnagen.pp.history import log_state

    a = Q.load_dataset(args.dataset, args.data_dir)
    logged = bool((log_state(a) or {}).get("logged"))
    print(f"{args.dataset}: {a.n_obs} x {a.n_vars}; AA_truth / AA_syn (real-vs-real reference: a training subsample)")
    for seed in args.seeds:
        tr, te = pp.split(a, label_key=Q.LABEL, test_size=0.2, seed=seed)
        model = RS.default_model(args.dataset, tr, seed, args.cache)
        gauss = get_model("gaussian")()
        gauss.fit(tr, label_key=Q.LABEL, seed=seed, progress=False)
        for frac in (0.25, 0.5, 1.0):
            n_rep = args.repeats if frac < 1 else max(1, args.repeats // 2)
            got: dict[str, list[np.ndarray]] = {"model": [], "gaussian": [], "reference": []}
            for r in range(n_rep):
                sub = te if frac == 1.0 else pp.split(te, label_key=Q.LABEL, test_size=frac, seed=1000 + r)[1]
                for name, m in (("model", model), ("gaussian", gauss)):
                    value, ref = halves(sub, m.sample(like=sub, seed=77 + r), tr, seed + r)
                    got[name].append(value)
                    if name == "model":
                        got["reference"].append(ref)
            print(f"split {seed} sizes n={sub.n_obs}: " + "   ".join(
                f"{k} {_fmt(np.mean(v, axis=0))}" for k, v in got.items()), flush=True)
        X_tr = RS.log_values(tr.X, logged)
        mu, sd = X_tr.mean(0), X_tr.std(0) + 1e-8
        z = {"train": (X_tr - mu) / sd}
        anchors = {"real": [shared_anchor((RS.log_values(te.X, logged) - mu) / sd, z["train"])]}
        for r in range(max(1, args.repeats // 2)):
            for name, m in (("model", model), ("gaussian", gauss)):
                syn = (RS.log_values(m.sample(like=te, seed=900 + r).X, logged) - mu) / sd
                anchors.setdefault(name, []).append(shared_anchor(syn, z["train"]))
        print(f"split {seed} anchors n={te.n_obs}: share whose nearest neighbour has their nearest training profile: "
              + "   ".join(f"{k} {np.mean(v):.3f}" for k, v in anchors.items()), flush=True)
        _, _, fi, vi = J.own_holdout(model, tr, seed)
        fit, val = tr[fi], tr[vi]
        v = model.validation or {}
        curve = pd.read_csv(args.cache / f"{args.dataset}_{seed}" / "validation.csv").set_index("step")
        kept = curve.loc[v["best_step"]]
        rec, ref = np.array([kept[k] for k in HALVES]), np.array([v["reference"][k] for k in HALVES])
        print(f"split {seed} holdout n={len(vi)}: record at the kept check (step {v['best_step']}, no guidance) "
              f"{_fmt(rec)} against {_fmt(ref)}")
        for name in ("held-out", "test"):
            got = {"model": [], "reference": []}
            for r in range(args.repeats):
                real = val if name == "held-out" else pp.split(te, label_key=Q.LABEL, test_size=len(vi) / te.n_obs,
                                                                seed=500 + r)[1]
                value, ref = halves(real, model.sample(like=real, seed=300 + r), fit, seed + r)
                got["model"].append(value)
                got["reference"].append(ref)
            print(f"split {seed} holdout n={len(vi)}: new draws on the {name} profiles: model "
                  f"{_fmt(np.mean(got['model'], axis=0))} against {_fmt(np.mean(got['reference'], axis=0))}",
                  flush=True)


if __name__ == "__main__":
    main()
