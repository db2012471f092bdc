"""Utility against the privacy budget: DP diffusion, DP VAE and the DP Gaussian at several ε, next to the
non-private models, through ``rnagen benchmark --privacy-budgets`` (:mod:`rnagen.bench.privacy`).

One stratified 80/20 split (``--seed``, default 0); every row trains on the training split, samples a set with
its label mix and is scored against the held-out split by the benchmark's ``fast`` evaluation (TSTR with one classifier
seed; density, coverage and their share of the gap closed between the per-class Gaussian floor and the
real-vs-real ceiling). The non-private rows are the models' defaults (``dpm++``: the default diffusion model
with its validation-chosen length, sampled with DPM-Solver++ in 20 steps; ``vae``; ``gaussian``); the private
rows use the settings of :data:`rnagen.bench.privacy.PRIVATE_SETTINGS` with δ = 1/n and the default accountant.

    python benchmarks/privacy.py --dataset gtex26 --budgets 1,4,10 --out bench_privacy_gtex26
    python benchmarks/privacy.py --dataset mirna4 --budgets 1,4,10 --out bench_privacy_mirna4
    # the non-private diffusion model with the private rows' network and length (the private rows unchanged)
    cp -r bench_privacy_gtex26 bench_privacy_gtex26_same
    python benchmarks/privacy.py --dataset gtex26 --budgets 1,4,10 --out bench_privacy_gtex26_same \
        --set diffusion:network.width=128 --set diffusion:network.depth=2 --set diffusion:train.steps=600 \
        --set diffusion:train.batch_size=128 --set diffusion:train.val_fraction=0.0 \
        --set diffusion:train.checkpoint_every=200 --set diffusion:train.ema_decay=0.99

Prints the table written into ``benchmarks/RESULTS_privacy.md``; the benchmark folder holds the leaderboard,
the run folders (each private one with its guarantee in ``meta.json``) and ``report.html``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

COLUMNS = ("tstr_mlp_accuracy", "trtr_accuracy", "density", "coverage", "density_gap_closed",
           "coverage_gap_closed", "aa_ts", "dcr_share", "train_seconds")


def load(name: str, data_dir: Path):
    """The bundled GTEx subset, or a development set from ``data_dir`` (AnnData, label key)."""
    from rnagen import datasets
    from rnagen.data import read

    if name == "gtex26":
        return datasets.gtex26(), "tissue"
    if name == "mirna4":
        return read(data_dir / "tcga_mirna4" / "expression.csv.gz", label_key="label"), "label"
    raise SystemExit(f"unknown dataset {name!r}")


def main() -> None:
    """Run the benchmark and print the utility-vs-ε table as markdown."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="gtex26")
    ap.add_argument("--data-dir", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--budgets", default="1,4,10")
    ap.add_argument("--models", default="dpm++,vae,gaussian")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0, help="seed of the stratified split (and of every row)")
    ap.add_argument("--set", action="append", default=[], metavar="MODEL:KEY=VALUE",
                    help="as rnagen benchmark --set (applies to the model's private rows too)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from rnagen.bench import run_benchmark

    adata, key = load(args.dataset, args.data_dir)
    overrides: dict[str, list[str]] = {}
    for item in args.set:
        model, _, kv = item.partition(":")
        overrides.setdefault(model, []).append(kv)
    board = run_benchmark(adata, label_key=key, models=args.models, out_dir=args.out, budget="fast", seed=args.seed,
                          privacy_budgets=args.budgets, device="cpu", data_name=args.dataset, overrides=overrides)
    cols = [c for c in COLUMNS if c in board.columns]
    print("| row | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for rec in board.to_dict("records"):
        vals = []
        for c in cols:
            v = rec.get(c)
            vals.append("-" if v is None or v != v else (f"{100 * v:.0f}%" if c.endswith("_gap_closed")
                                                         else f"{v:.3f}"))
        print(f"| {rec['model']} | " + " | ".join(vals) + " |")


if __name__ == "__main__":
    main()
