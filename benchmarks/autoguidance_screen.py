"""Screen: autoguidance from an earlier checkpoint of the same denoiser (Karras et al. 2024), issue 16.

The default diffusion model's samples are under-dispersed (RESULTS_objectives.md, "Where the gap is"): an
under-fitted regression of x0 on x_t shrinks toward each class's core. Autoguidance (Karras, Aittala, Kynkäänniemi,
Lehtinen, Aila & Laine 2024, "Guiding a diffusion model with a bad version of itself", eq. 2) samples with
D_w = w D_good + (1 - w) D_bad, w > 1: the step extrapolates away from a worse model of the same data, along the
directions where the good model differs from it, instead of isotropically (epsilon scaling) or toward the class
(classifier-free guidance). The "bad" model here is the same training run's EMA weights at an earlier validation
check (a fraction ``--frac`` of the validation-chosen length), so it costs no second training. The combination is
affine, so it is the same on the network's ε, v or x0 output.

Protocol of ``quality.py``: a stratified 80/20 split per seed, the per-class Gaussian floor and the real-vs-real
ceiling on the same split, 2 synthetic draws, the package's default sampler (DPM-Solver++ 20); printed per
(frac, w): the share of the gap closed per indicator and the values behind it. w = 1 is the default model.

Usage: OMP_NUM_THREADS=2 python benchmarks/autoguidance_screen.py --dataset mirna4 --seeds 0 --fracs 0.5 \\
           --weights 1 1.5 2
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
import quality as Q  # noqa: E402

SHARES = ["density", "coverage", "recall", "aa_ts", "detection_auc"]


class Guided(nn.Module):
    """``w * good(x, t, y) + (1 - w) * bad(x, t, y)`` (Karras et al. 2024, eq. 2), with the good network's
    attributes (``null_label``) for the sampler."""

    def __init__(self, good: nn.Module, bad: nn.Module, w: float):
        super().__init__()
        self.good, self.bad, self.w = good, bad, float(w)
        self.null_label = getattr(good, "null_label", None)

    def forward(self, x, t, y):
        """The guided output of the two denoisers at ``(x, t, y)``."""
        g = self.good(x, t, y)
        if self.w == 1.0:
            return g
        return self.bad(x, t, y).lerp_(g, self.w)   # bad + w (good - bad)


def main() -> None:
    """Train the default diffusion model per split, keep its checks' EMA weights, print the shares per (frac, w)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mirna4", choices=Q.DATASETS)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--fracs", type=float, nargs="+", default=[0.5])
    ap.add_argument("--weights", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import copy

    from rnagen.metrics.gap import gap_closed_from
    from rnagen.models import get_model
    from rnagen.train.validation import ValidationTracker

    snapshots: dict[int, dict[str, torch.Tensor]] = {}
    check = ValidationTracker.check

    def keeping(self, step, row, weights):   # every check's EMA weights, for the earlier "bad" model
        snapshots[int(step)] = {k: v.clone() for k, v in weights.items()}
        return check(self, step, row, weights)

    ValidationTracker.check = keeping
    data = Q.load_dataset(args.dataset)
    for seed in args.seeds:
        tr, te, floor, ceiling = Q.split_with_floor(data, seed, args.draws, label_key=Q.LABEL)
        snapshots.clear()
        model = get_model("diffusion")()
        t0 = time.perf_counter()
        model.fit(tr, label_key=Q.LABEL, seed=seed, progress=False)
        best = int(model.validation["best_step"])
        print(f"seed {seed}: diffusion trained in {time.perf_counter() - t0:.0f} s, best check {best}, checks "
              f"{sorted(snapshots)[:3]}...{sorted(snapshots)[-1]}", flush=True)
        good = model.net
        for frac in args.fracs:
            step = min(snapshots, key=lambda s: abs(s - frac * best))
            bad = copy.deepcopy(good)
            # the checks keep the training objective's weights: the denoiser's are under ``net.``
            bad.load_state_dict({k[4:]: v for k, v in snapshots[step].items() if k.startswith("net.")})
            bad.eval()
            for w in args.weights:
                if w == 1.0 and frac != args.fracs[0]:
                    continue   # the default model itself, already scored with the first fraction
                model.net = Guided(good, bad, w).eval()
                res, _ = Q.score_draws(model, tr, te, seed, args.draws, label_key=Q.LABEL)
                v = res["value"]
                row = {"seed": seed, "frac": frac, "bad_step": step, "best_step": best, "w": w}
                row.update({f"gap_{m}": round(gap_closed_from(m, v, floor, ceiling), 3) for m in SHARES})
                row.update({m: round(v[m], 3) for m in ("density", "coverage", "recall", "aa_truth", "aa_syn")})
                row.update(tstr_mlp=round(v["tstr_mlp_accuracy"], 4),
                           trtr_mlp=round(ceiling["tstr_mlp_accuracy"], 4))
                print(json.dumps(row), flush=True)
            model.net = good


if __name__ == "__main__":
    main()
