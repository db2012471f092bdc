"""The membership-inference audit of a benchmark folder as markdown, and what the audit costs per evaluation.

``table``: per model (the leaderboard's rows), per attack, AUC / TPR at FPR 0.1 / TPR at FPR 0.01 with their
95% CIs, next to the copying generator (the ``real`` row: training profiles as the synthetic set), the
independent real draw (each indicator's reference) and chance; then the verdict line of each model (the
report's, :func:`rnagen.metrics.membership.verdict`). Reads only ``leaderboard.json``.

    python benchmarks/membership.py table OUT            # OUT: an `rnagen benchmark` / `rnagen demo` folder

``cost``: seconds of the membership scorer of ``evaluate`` on the bundled gtex26 split of ``rnagen demo``
(test 20%, seed 0; synthetic set = the training profiles, as large as the demo's synthetic sets; 1,000
bootstrap resamples), ``--repeats`` times after one warm-up.

    OMP_NUM_THREADS=1 python benchmarks/membership.py cost --repeats 3

``domias-dims``: DOMIAS's AUC against the copying generator (synthetic set = the training profiles) on the
same split and audit sets, for several PCA dimensions and both density models: how much of the worst case
the density attack sees.

    OMP_NUM_THREADS=1 python benchmarks/membership.py domias-dims
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from rnagen.metrics.membership import ATTACKS, STATISTICS, metric_name, verdict

SHORT = {"auc": "AUC", "tpr_at_fpr01": "TPR@0.1", "tpr_at_fpr001": "TPR@0.01"}


def _f(v) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


def _cell(row: dict, name: str) -> str:
    v, lo, hi = row.get(name), row.get(name + "_ci_low"), row.get(name + "_ci_high")
    ci = f" [{_f(lo)}, {_f(hi)}]" if lo is not None and hi is not None else ""
    return _f(v) + ci


def table(out: Path) -> str:
    """The markdown attack tables and verdict lines of the benchmark folder ``out``."""
    lb = json.loads((out / "leaderboard.json").read_text())
    names = [metric_name(a, k) for a in ATTACKS for k in STATISTICS if metric_name(a, k) in lb["columns"]]
    dirs, refs = lb.get("directions", {}), lb.get("references", {})
    split = json.loads((out / "split.json").read_text()).get("membership", {})
    lines = [f"sets: {len(split.get('members', []))} members, {len(split.get('nonmembers', []))} non-members, "
             f"{len(split.get('reference', []))} reference, {len(split.get('independent', []))} independent "
             f"(split seed {split.get('seed')})", ""]
    for a in ATTACKS:
        cols = [n for n in names if n.startswith(f"mia_{a}_") and n.removeprefix(f"mia_{a}_") in STATISTICS]
        if not cols:
            continue
        lines += [f"**{ATTACKS[a][0]}** ({ATTACKS[a][2]})", "",
                  "| model | " + " | ".join(SHORT[c.removeprefix(f"mia_{a}_")] for c in cols) + " |",
                  "|---|" + "---|" * len(cols)]
        for r in lb["rows"]:
            m = str(r["model"])
            label = "copies (real training profiles)" if m == "real" else m
            lines.append(f"| {label} | " + " | ".join(_cell(r, c) for c in cols) + " |")
        lines.append("| independent real draw | " + " | ".join(_f(refs.get(c)) for c in cols) + " |")
        lines.append("| chance | " + " | ".join(_f(dirs.get(c)) for c in cols) + " |")
        lines.append("")
    for r in lb["rows"]:
        if r["model"] == "real":
            continue
        rows = {n: {"value": r.get(n), "ci_low": r.get(n + "_ci_low"), "ci_high": r.get(n + "_ci_high"),
                    "direction": dirs.get(n)} for n in names}
        lines.append(f"- {r['model']}: {verdict(rows)}")
    return "\n".join(lines)


def cost(repeats: int) -> list[float]:
    """Seconds of ``repeats`` evaluations of the 15 membership indicators on the demo's gtex26 split."""
    from rnagen import datasets, metrics, pp

    ad = datasets.gtex26()
    tr, te = pp.split(ad, label_key="tissue", test_size=0.2, seed=0)
    mia = [m for m in metrics.METRICS if m.startswith("mia_")]
    metrics.evaluate(te, tr, train=tr, label_key="tissue", metrics=mia[:1], n_boot=10)  # imports, first calls
    secs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        metrics.evaluate(te, tr, train=tr, label_key="tissue", metrics=mia, n_boot=1000)
        secs.append(time.perf_counter() - t0)
    return secs


def domias_dims(dims=(2, 5, 10, 20, 30)) -> list[tuple[int, str, float]]:
    """DOMIAS's AUC against the copying generator per PCA dimension and density model (gtex26, seed 0)."""
    import numpy as np

    from rnagen import datasets, pp
    from rnagen.metrics import membership as mm
    from rnagen.metrics.evaluate import prepare

    ad = datasets.gtex26()
    tr, te = pp.split(ad, label_key="tissue", test_size=0.2, seed=0)
    P = prepare(te, tr, tr, label_key="tissue")
    T, R = P["train"], P["real"]
    idx = mm.membership_sets(real_labels=P["real_labels"], n_real=len(R), train_labels=P["train_labels"],
                             n_train=len(T), seed=0)
    M, N, Rf = T[idx["members"]], R[idx["nonmembers"]], R[idx["reference"]]
    X = np.concatenate([M, N])
    out = []
    for d in dims:
        for dens in ("kde", "gmm"):
            s = mm.attack_scores(X, T, Rf, attacks=("domias",), pca_dims=d, density=dens)["domias"]
            out.append((d, dens, mm.attack_statistics(s[:len(M)], s[len(M):])["auc"]))
    return out


def main() -> None:
    """Parse the subcommand and print its result."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table")
    t.add_argument("out", type=Path)
    c = sub.add_parser("cost")
    c.add_argument("--repeats", type=int, default=3)
    sub.add_parser("domias-dims")
    args = ap.parse_args()
    if args.cmd == "table":
        print(table(args.out))
    elif args.cmd == "domias-dims":
        for d, dens, auc in domias_dims():
            print(f"pca_dims {d:>3} {dens}: AUC against the copying generator {auc:.3f}")
    else:
        print("seconds per evaluation of the 15 membership indicators:", [round(s, 2) for s in cost(args.repeats)])


if __name__ == "__main__":
    main()
