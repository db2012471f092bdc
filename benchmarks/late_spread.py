"""A later checkpoint, spread back out at sampling time: does it keep the fine structure it has learnt?

Along the default diffusion model's training (``selection_rules.py``) the samples reach the held-out density
early, while the two halves of the adversarial accuracy (AA_truth, AA_syn) reach their real-vs-real values
only later, when the samples are already over-dense. This screen takes the weights of chosen checks of such a
run (``selection_rules.py --keep-weights DIR``) and samples each with epsilon scaling (Ning et al. 2024: the
predicted noise divided by lambda >= 1 at every step, which widens the samples) at several lambdas, scored
as in ``selection_rules.py`` against the held-out split next to the floor and the ceiling; the share of the
gap closed reads AA_ts on its halves (``rnagen.metrics.gap``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/late_spread.py --dataset tcga_mirna4 --seed 1 \\
        --run /tmp/w_tcga_mirna4_1 --steps 2400 3200 4000 --lambdas 1 1.01 1.02 1.04
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    """Score the chosen checks' weights at each lambda (module text)."""
    from dispersion import epsilon_scaling
    from sampler_steps import load_dataset
    from selection_rules import floor_and_ceiling, score_draws

    from rnagen import pp
    from rnagen.metrics.gap import gap_closed_from
    from rnagen.models import get_model, load

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--steps", type=int, nargs="+", required=True)
    ap.add_argument("--lambdas", type=float, nargs="+", default=[1.0, 1.01, 1.02, 1.04])
    ap.add_argument("--draws", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(1)
    adata, key = load_dataset(a.dataset)
    train, test = pp.split(adata, label_key=key, test_size=0.2, seed=a.seed)
    gauss = get_model("gaussian").from_config().fit(train, label_key=key, seed=a.seed, progress=False)
    fl, ce = floor_and_ceiling(gauss, train, test, key, a.seed, a.draws)
    model = load(a.run, device="cpu")
    checks = dict(torch.load(a.run / "checks.pt", weights_only=False))
    objective = model._objective()
    lam = epsilon_scaling(model)
    names = ("density", "coverage", "aa_ts")
    print(f"floor {[round(float(np.mean([f[m] for f in fl])), 3) for m in names]}, "
          f"ceiling {[round(float(np.mean([c[m] for c in ce])), 3) for m in names]}")
    print("| step | lambda | density | coverage | recall | AA_truth | AA_syn | gap closed: density / coverage / "
          "AA_ts (halves) |")
    print("|---|---|---|---|---|---|---|---|")
    for step in a.steps:
        objective.load_state_dict(checks[step])
        model.net.eval()
        for L in a.lambdas:
            lam[0] = L
            vals = score_draws(model, train, test, key, a.seed, a.draws)
            g = {m: np.nanmean([gap_closed_from(m, v, f, c) for v, f, c in zip(vals, fl, ce)]) for m in names}
            mean = {m: float(np.mean([v[m] for v in vals])) for m in vals[0]}
            print(f"| {step} | {L} | {mean['density']:.3f} | {mean['coverage']:.3f} | {mean['recall']:.3f} | "
                  f"{mean['aa_truth']:.3f} | {mean['aa_syn']:.3f} | "
                  + " / ".join(f"{100 * g[m]:.0f}%" for m in names) + " |", flush=True)


if __name__ == "__main__":
    main()
