"""DE recovery on raw counts: DESeq2 (biology de_test=deseq2) beside the log-scale Welch test, for the models of a
finished ``rnagen benchmark`` folder on a count data set (``RESULTS_biology.md``).

The held-out and training profiles are the benchmark's split (``split.json``); each model of ``runs/`` draws a
synthetic set with the held-out label mix (its output is on the input's count scale; DESeq2 rounds it); the
real-vs-real reference is evaluate's training subsample, as for every indicator.

    OMP_NUM_THREADS=1 python benchmarks/deseq2_recovery.py DATA.h5ad BENCH_FOLDER --label-key label
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import anndata

from rnagen.metrics import evaluate
from rnagen.models import get_model, load

NAMES = ["de_precision_up", "de_recall_up", "de_precision_down", "de_recall_down", "de_f1", "de_lfc_spearman"]


def main() -> None:
    """Print one Markdown row per (model, test): the DE indicators and their real-vs-real reference."""
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("bench", type=Path)
    ap.add_argument("--label-key", default="label")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    adata = anndata.read_h5ad(a.data)
    split = json.loads((a.bench / "split.json").read_text())
    train, test = adata[split["train"]].copy(), adata[split["test"]].copy()
    print("| model | DE test | " + " | ".join(NAMES) + " | seconds |")
    print("|---" * (len(NAMES) + 3) + "|")
    models = {"gaussian (floor, refitted)": get_model("gaussian").from_config().fit(train, label_key=a.label_key,
                                                                                   seed=a.seed, progress=False)}
    for run in sorted((a.bench / "runs").glob(f"*_seed{a.seed}")):
        if (run / "meta.json").is_file():
            models[run.name.removesuffix(f"_seed{a.seed}")] = load(run, device="cpu")
    for name, model in models.items():
        syn = model.sample(like=test, seed=a.seed + 1, progress=False)
        for test_name in ("welch", "deseq2"):
            t0 = time.perf_counter()
            df = evaluate(test, syn, train=train, label_key=a.label_key, metrics=NAMES, n_boot=0,
                          biology={"de_test": test_name})
            v = df[df["group"] == "all"].set_index("name")
            cells = [f"{v.loc[m, 'value']:.3f} ({v.loc[m, 'reference']:.3f})" for m in NAMES]
            print(f"| {name} | {test_name} | " + " | ".join(cells)
                  + f" | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
