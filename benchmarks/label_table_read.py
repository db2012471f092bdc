"""A wide sample-annotation table (GTEx SampleAttributesDS-like: an id column, then 59 columns of codes, scores and
free text) read as the labels of a small expression matrix, given without ``--label-key``: CPU time and peak
resident memory of ``rnagen.data.read(..., labels=...)`` in a child process of its own, against the same read
without labels (the matrix and the imports).

    python benchmarks/label_table_read.py --rows 20000 --cols 60 [--unlabelled]

``--unlabelled``: one sample of the matrix has no row (read with ``drop_unlabelled=True``).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

CHILD = r"""
import json, resource, sys, time
import rnagen.data as d
from _mem import peak_mb
expr, labels, drop = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
a = d.read(expr, labels=labels or None, drop_unlabelled=drop)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"cpu_s": r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime,
                  "wall_s": time.perf_counter() - t0, "peak_mib": peak_mb(), "shape": list(a.shape),
                  "obs": list(a.obs.columns)}))
"""


def write(folder: str, rows: int, cols: int, unlabelled: bool) -> tuple[str, str]:
    """The annotation table (``rows`` x ``cols``) and a matrix of 300 of its samples x 50 genes."""
    rng = np.random.default_rng(0)
    ids = [f"GTEX-{i // 5:05X}-{i % 5:04d}-SM-{rng.integers(16**5):05X}" for i in range(rows)]
    tissues = [f"Tissue {k}" for k in range(30)]
    columns = {"SAMPID": ids, "SMATSSCR": rng.integers(0, 4, rows).astype(str)}
    for j in range(2, cols):
        kind = j % 4
        if kind == 0:
            columns[f"SMNUM{j}"] = [f"{v:.6g}" for v in rng.normal(1e6, 1e5, rows)]
        elif kind == 1:
            columns[f"SMCODE{j}"] = [tissues[k] for k in rng.integers(0, 30, rows)]
        elif kind == 2:
            columns[f"SMTEXT{j}"] = [f"note {k} on the sample, batch {k % 97}" for k in rng.integers(0, 10**6, rows)]
        else:
            columns[f"SMINT{j}"] = rng.integers(0, 10**5, rows).astype(str)
    ann = os.path.join(folder, "SampleAttributesDS.txt")
    with open(ann, "w") as fh:
        fh.write("\t".join(columns) + "\n")
        for i in range(rows):
            fh.write("\t".join(c[i] for c in columns.values()) + "\n")
    n = 300
    samples = ids[:: rows // n][:n]
    if unlabelled:
        samples[-1] = "GTEX-NOROW-0000-SM-00000"
    genes = [f"ENSG{k:011d}" for k in range(1, 51)]
    expr = os.path.join(folder, "expr.csv")
    X = rng.poisson(50, (n, len(genes)))
    with open(expr, "w") as fh:
        fh.write("sample," + ",".join(genes) + "\n")
        for s, row in zip(samples, X):
            fh.write(s + "," + ",".join(map(str, row)) + "\n")
    return expr, ann


def main() -> None:
    """Each read ``--repeats`` times, the range of its CPU time and peak printed."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--cols", type=int, default=60)
    ap.add_argument("--unlabelled", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _mem import child_env

    with tempfile.TemporaryDirectory() as folder:
        expr, ann = write(folder, args.rows, args.cols, args.unlabelled)
        print(f"annotation table {os.path.getsize(ann) / 1e6:.1f} MB, {args.rows} x {args.cols}")
        for what, labels in (("matrix only", ""), ("with the label table", ann)):
            runs = [json.loads(subprocess.run([sys.executable, "-c", CHILD, expr, labels,
                                               "1" if args.unlabelled else "0"], env=child_env(),
                                              capture_output=True, text=True, check=True).stdout)
                    for _ in range(args.repeats)]
            cpu = sorted(r["cpu_s"] for r in runs)
            peak = sorted(r["peak_mib"] for r in runs)
            print(f"{what}: read CPU {cpu[0]:.2f}-{cpu[-1]:.2f} s, peak {peak[0]:.0f}-{peak[-1]:.0f} MiB, "
                  f"shape {runs[0]['shape']}, obs {runs[0]['obs']}")


if __name__ == "__main__":
    main()
