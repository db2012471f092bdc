"""The biology family's rows of a benchmark folder's leaderboard as a Markdown table (benchmarks/RESULTS_biology.md).

    python benchmarks/biology_table.py /tmp/bio_mirna_bench
"""
from __future__ import annotations

import json
import math
import sys

NAMES = ("de_precision_up", "de_recall_up", "de_precision_down", "de_recall_down", "de_f1", "de_lfc_spearman",
         "coexpr_edge_precision", "coexpr_edge_recall", "coexpr_edge_f1", "coexpr_corr", "concordance_jaccard",
         "concordance_spearman")


def _fmt(v, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100 * v:.0f}%" if pct else f"{v:.3f}"


def main() -> None:
    """Print the table of the folder given as the first argument."""
    board = json.load(open(sys.argv[1] + "/leaderboard.json"))
    rows = {r["model"]: r for r in board["rows"]}
    models = [m for m in rows if m != "real"]
    judged = [m for m in models if m != "gaussian"]
    print("| indicator | real (ceiling) | " + " | ".join(models) + " | "
          + " | ".join(f"{m} gap closed" for m in judged) + " |")
    print("|---" * (2 + len(models) + len(judged)) + "|")
    for n in NAMES:
        print(f"| {n} | {_fmt(rows['real'].get(n))} | " + " | ".join(_fmt(rows[m].get(n)) for m in models) + " | "
              + " | ".join(_fmt(rows[m].get(n + "_gap_closed"), pct=True) for m in judged) + " |")


if __name__ == "__main__":
    main()
