"""The membership-inference audit of a benchmark folder as markdown, and what the audit costs per evaluation.

``table``: per model (the leaderboard's rows), per attack, AUC / TPR at FPR 0.1 / TPR at FPR 0.01 with their
95% CIs, next to the copying generator (the ``real`` row: training profiles as the synthetic set), the
independent real draw (each indicator's reference) and chance; then the verdict line of each model (the
report's, :func:`rnagen.metrics.membership.verdict`). Reads only ``leaderboard.json``.

    python benchmarks/membership.py table OUT            # OUT: an `rnagen benchmark` / `rnagen demo` folder

``splits``: the same attacks over several benchmark folders of one data set (``benchmarks/privacy.py --seed S``:
one stratified split each), per model row the mean over the splits of each attack's AUC and TPR at FPR 0.01
(with their spread) next to the mean of the independent real draw's TPR at FPR 0.01 (the reference of the
target "at most twice the reference"); one split's rate moves in steps of one member (1 / members), the mean of
k splits in steps of 1 / (k x members).

    python benchmarks/membership.py splits OUT_SEED0 OUT_SEED1 ... [--rows diffusion-dp-eps10 ...]

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
            if m == "real" and "copies" in lb:   # the real row shows the ideal; the copying generator is kept apart
                r = {"model": m, **{c: lb["copies"].get(c) for c in cols}}
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


def splits(outs: list[Path], rows: list[str] | None = None) -> str:
    """The markdown table of the ``splits`` subcommand (module text) for the benchmark folders ``outs``."""
    import numpy as np

    boards = [json.loads((o / "leaderboard.json").read_text()) for o in outs]
    members = [len(json.loads((o / "split.json").read_text()).get("membership", {}).get("members", []))
               for o in outs]
    names = rows or [r["model"] for r in boards[0]["rows"] if r["model"] != "real"]
    attacks = [a for a in ATTACKS if metric_name(a, "tpr_at_fpr001") in boards[0]["columns"]]

    def stat(xs: list[float]) -> str:
        v = [x for x in xs if x is not None and math.isfinite(x)]
        if not v:
            return "–"
        return f"{np.mean(v):.3f}" + (f" ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else "")

    lines = [f"{len(outs)} splits, members per split {members} ({sum(members)} in all)", "",
             "| model | " + " | ".join(f"{ATTACKS[a][0]}: AUC / TPR@0.01 (reference)" for a in attacks) + " |",
             "|---|" + "---|" * len(attacks)]
    for name in ["real"] + [n for n in names if n != "real"]:
        recs = [({"model": "real", **b["copies"]} if name == "real" and "copies" in b else
                 next((r for r in b["rows"] if r["model"] == name), None)) for b in boards]
        if any(r is None for r in recs):
            continue
        cells = []
        for a in attacks:
            auc = [r.get(metric_name(a, "auc")) for r in recs]
            tpr = [r.get(metric_name(a, "tpr_at_fpr001")) for r in recs]
            ref = [b.get("references", {}).get(metric_name(a, "tpr_at_fpr001")) for b in boards]
            cells.append(f"{stat(auc)} / {stat(tpr)} ({stat(ref)})")
        label = "copies (`real` row)" if name == "real" else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Parse the subcommand and print its result."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table")
    t.add_argument("out", type=Path)
    c = sub.add_parser("cost")
    c.add_argument("--repeats", type=int, default=3)
    sub.add_parser("domias-dims")
    sp = sub.add_parser("splits")
    sp.add_argument("outs", type=Path, nargs="+")
    sp.add_argument("--rows", nargs="*", default=None, help="model rows (default: all but the real row)")
    args = ap.parse_args()
    if args.cmd == "table":
        print(table(args.out))
    elif args.cmd == "splits":
        print(splits(args.outs, args.rows))
    elif args.cmd == "domias-dims":
        for d, dens, auc in domias_dims():
            print(f"pca_dims {d:>3} {dens}: AUC against the copying generator {auc:.3f}")
    else:
        print("seconds per evaluation of the 15 membership indicators:", [round(s, 2) for s in cost(args.repeats)])


if __name__ == "__main__":
    main()
