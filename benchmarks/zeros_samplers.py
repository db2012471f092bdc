"""Each class's zeros (``preprocess.zeros=match``) under other samplers: the thresholds are calibrated once,
with the model's default sampler; are they right for DPM-Solver++ 10, DDIM 50 and DDPM 1000 too?

Per split (``quality.py``'s: stratified 80/20, the split seed also the training seed) one diffusion model is
trained with its defaults; for each sampler, two training-sized draws are scored with the default thresholds
and with thresholds recalibrated with that sampler (the same calibration as ``fit``'s, seeded the same way),
on the same draws: the zeros' placement error (mean over classes and genes of |share of zeros in the synthetic
set - share in the held-out profiles|, ``zeros_match.py``'s) and the same against the training profiles
(the shares the calibration aims at), with the seconds the recalibration takes.

    OMP_NUM_THREADS=2 python benchmarks/zeros_samplers.py --dataset gtex26 --seeds 0 1 --threads 2
"""
from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality as q  # noqa: E402
from zeros_match import zero_error  # noqa: E402

SAMPLERS = [("dpm++ 20 (default)", {}), ("dpm++ 10", {"sampler": "dpm++", "steps": 10}),
            ("ddim 50", {"sampler": "ddim", "steps": 50}), ("ddpm 1000", {"sampler": "ddpm", "steps": 1000})]


def main() -> None:
    """Train one diffusion model per split; print each sampler's placement error with both thresholds."""
    import torch

    from rnagen import pp
    from rnagen.models import get_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=q.DATASETS, default="gtex26")
    ap.add_argument("--data-dir", type=Path, default=q.DEFAULT_DATA_DIR)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = q.load_dataset(a.dataset, a.data_dir)
    for seed in a.seeds:
        tr, te = pp.split(data, label_key=q.LABEL, test_size=0.2, seed=seed)
        model = get_model("diffusion")().fit(tr, label_key=q.LABEL, seed=seed, progress=False)
        if model.zero_threshold is None:
            raise SystemExit(f"{a.dataset} has no zeros on a bounded scale: nothing to compare")
        base = model.zero_threshold.copy()
        ytr = tr.obs[q.LABEL].astype(str).to_numpy()
        share = np.stack([(np.asarray(tr.X)[ytr == c] == 0).mean(0) for c in model.labels])
        default_sample = model._sample
        for name, opts in SAMPLERS:
            for variant in ("default thresholds", "own thresholds"):
                t0 = time.perf_counter()
                if variant == "own thresholds":
                    model._sample = functools.partial(default_sample, **opts)
                    try:
                        model.zero_threshold = model._calibrate_zeros(share)
                    finally:
                        model._sample = default_sample
                else:
                    model.zero_threshold = base
                cal_s = time.perf_counter() - t0
                errs = [(zero_error(syn, te), zero_error(syn, tr)) for syn in
                        (model.sample(like=tr, seed=seed + 200 + 1000 * d, **opts) for d in range(2))]
                e = np.mean(errs, axis=0)
                print(f"split {seed} | {name} | {variant} | held-out error {e[0]:.4f} | training-share error "
                      f"{e[1]:.4f} | calibration {cal_s:.1f} s", flush=True)
        print(f"split {seed} | real training profiles | held-out error {zero_error(tr, te):.4f}", flush=True)


if __name__ == "__main__":
    main()
