"""Screen: the VAE's sampling options (observation-noise scale, latent prior) on one trained VAE per split.

Same protocol as ``sampler_steps.py`` (stratified 80/20 split, per-class Gaussian floor, real-vs-real
ceiling, synthetic draws with the held-out label mix); the summary gives the means over splits x draws and the
share of the gap closed, 1 - |model - ceiling| / |floor - ceiling| per split (plain distances: a value beyond
the ceiling counts against the model here).

    OMP_NUM_THREADS=1 python benchmarks/vae_screen.py --dataset tcga_mirna4 --seeds 0 1 2
    OMP_NUM_THREADS=1 python benchmarks/vae_screen.py --dataset tcga_mirna4 --seeds 0 1 2 \\
        --set sample.noise_covariance=full
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sampler_steps import METRICS, SHORT, load_dataset, score  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="tcga_mirna4")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--model", default="vae")
    ap.add_argument("--set", nargs="*", default=[])
    ap.add_argument("--grid", default="vae")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(1)
    from rnagen import pp
    from rnagen.models import get_model

    if a.grid == "vae":
        cfgs = [(f"ns{ns} {pr}", {"noise_scale": ns, "prior": pr}) for pr in ("aggregate", "standard")
                for ns in (0.5, 0.75, 1.0)]
    else:
        cfgs = [("default", {})]
    adata, key = load_dataset(a.dataset)
    res = {"floor": [], "ceiling": [], "rows": {lab: [] for lab, _ in cfgs}, "fit_s": []}
    for seed in a.seeds:
        train, test = pp.split(adata, label_key=key, test_size=0.2, seed=seed)
        gauss = get_model("gaussian").from_config().fit(train, label_key=key, seed=seed, progress=False)
        model = get_model(a.model).from_config(overrides=a.set)
        t0 = time.perf_counter()
        model.fit(train, label_key=key, seed=seed, device="cpu", progress=False)
        res["fit_s"].append(time.perf_counter() - t0)
        print(f"[{a.dataset} seed {seed}] fit {res['fit_s'][-1]:.0f} s", flush=True)
        for d in range(a.draws):
            s_seed = seed + 100 + 1000 * d
            floor, ceiling = score(test, gauss.sample(like=test, seed=s_seed), train, key, seed)
            res["floor"].append(floor)
            res["ceiling"].append(ceiling)
            print(f"[seed {seed} draw {d}] floor " + " ".join(f"{SHORT[m]}={floor[m]:.3f}" for m in METRICS)
                  + "; ceiling " + " ".join(f"{SHORT[m]}={ceiling[m]:.3f}" for m in METRICS), flush=True)
            for lab, opts in cfgs:
                syn = model.sample(like=test, seed=s_seed, progress=False, **opts)
                val, _ = score(test, syn, train, key, seed)
                res["rows"][lab].append(val)
                print(f"[seed {seed} draw {d}] {lab:18s} " + " ".join(f"{SHORT[m]}={val[m]:.3f}" for m in METRICS),
                      flush=True)
            if a.json:
                a.json.write_text(json.dumps(res))
    # summary: mean over (seed, draw) and gap closed on the means of each split
    print("\nsummary (mean over splits x draws; gap closed per split then averaged)")
    fl, ce = res["floor"], res["ceiling"]
    for lab, rows in res["rows"].items():
        parts = []
        for m in METRICS:
            v = np.mean([r[m] for r in rows])
            gaps = [1 - abs(r[m] - c[m]) / abs(f[m] - c[m])
                    for r, f, c in zip(rows, fl, ce) if abs(f[m] - c[m]) > 0.005]
            parts.append(f"{SHORT[m]}={v:.3f} ({np.mean(gaps)*100:.0f}%)" if gaps else f"{SHORT[m]}={v:.3f}")
        print(f"{lab:18s} " + " ".join(parts))
    print("floor              " + " ".join(f"{SHORT[m]}={np.mean([r[m] for r in fl]):.3f}" for m in METRICS))
    print("ceiling            " + " ".join(f"{SHORT[m]}={np.mean([r[m] for r in ce]):.3f}" for m in METRICS))


if __name__ == "__main__":
    main()
