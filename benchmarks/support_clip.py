"""The per-class Gaussian with and without the support clip (``preprocess.support``) on one development set.

Each split's training profiles fit the Gaussian twice, with ``preprocess.support=any`` (values below 0 kept)
and ``auto`` (clipped at 0 when every training value is >= 0); the same sampling seed draws a held-out-sized
set from each, scored by ``rnagen.metrics.evaluate`` against the held-out profiles (point estimates). Printed
per split: the share of generated values below 0 and exactly 0, of profiles with any value below 0, and the
indicators the clip moves (the real-vs-real detection AUC beside them).

    OMP_NUM_THREADS=1 python benchmarks/support_clip.py --dataset gtex26 --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import LABEL, load_dataset  # noqa: E402

METRICS = ["density", "aa_ts", "aa_truth", "aa_syn", "detection_auc", "ks_mean"]


def main() -> None:
    """Print the table described in the module docstring."""
    from rnagen import pp
    from rnagen.metrics import evaluate
    from rnagen.models import get_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="gtex26")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    a = ap.parse_args()
    data = load_dataset(a.dataset)
    X = np.asarray(data.X)
    print(f"# {a.dataset}: real values exactly 0: {(X == 0).mean():.3f}, below 0: {(X < 0).mean():.3f}")
    print("split support below0 zero profiles_below0 " + " ".join(METRICS) + " detection_auc_real")
    for seed in a.seeds:
        tr, te = pp.split(data, label_key=LABEL, test_size=0.2, seed=seed)
        for support in ("any", "auto"):
            m = get_model("gaussian").from_config(overrides=[f"preprocess.support={support}"])
            syn = m.fit(tr, label_key=LABEL, seed=seed).sample(like=te, seed=100 + seed)
            S = np.asarray(syn.X)
            df = evaluate(te, syn, train=tr, label_key=LABEL, metrics=METRICS, n_boot=0,
                          n_boot_expensive=0).set_index("name")
            vals = " ".join(f"{df.loc[k, 'value']:.3f}" for k in METRICS)
            print(f"{seed} {support} {(S < 0).mean():.3f} {(S == 0).mean():.3f} {(S < 0).any(1).mean():.3f} {vals} "
                  f"{df.loc['detection_auc', 'reference']:.3f}", flush=True)


if __name__ == "__main__":
    main()
