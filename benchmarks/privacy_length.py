"""One private (or not) diffusion fit on the bundled GTEx subset at a given length and ε, scored on its held-out
split: does a longer private run help? (``benchmarks/RESULTS_privacy.md``)

    python benchmarks/privacy_length.py 2000 10     # 2,000 DP-SGD steps at epsilon 10
    python benchmarks/privacy_length.py 600 inf     # the same network, not private
"""
from __future__ import annotations

import sys
import time

import torch


def main() -> None:
    """Fit, sample like the training split, print TSTR (MLP), density and coverage."""
    from rnagen import datasets, metrics
    from rnagen.models import get_model
    from rnagen.pp import split

    torch.set_num_threads(1)
    steps, eps = sys.argv[1], sys.argv[2]
    ad = datasets.gtex26()
    tr, te = split(ad, label_key="tissue", test_size=0.2, seed=0)
    arch = ["network.width=128", "network.depth=2", "train.batch_size=128", "train.val_fraction=0",
            "train.ema_decay=0.999", f"train.steps={steps}"]
    extra = [] if eps == "inf" else [f"privacy.epsilon={eps}"]
    t = time.time()
    m = get_model("diffusion").from_config(overrides=arch + extra)
    m.fit(tr, label_key="tissue", seed=0, progress=False)
    syn = m.sample(like=tr, seed=0)
    tab = metrics.evaluate(te, syn, train=tr, label_key="tissue", seed=0, classifier_seeds=(0,),
                           metrics=["tstr_mlp_accuracy", "density", "coverage"])
    print("steps", steps, "eps", eps, "sigma", m.privacy and m.privacy["noise_multiplier"],
          tab.reset_index()[["name", "value"]].round(3).values.tolist(), f"{time.time() - t:.0f}s", flush=True)


if __name__ == "__main__":
    main()
