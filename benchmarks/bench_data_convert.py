"""GTEx-style GCT conversion: rnagen's chunked reader vs a naive whole-file pandas read (same run).

Writes a synthetic GTEx v8-shaped GCT.gz (all 56,200 rows of the real file's size class: the 18,691 protein-coding
genes plus filler non-coding rows; N samples) and its SampleAttributesDS table, then converts it twice, each
in a fresh subprocess so its peak RSS (Linux's VmHWM: ``benchmarks/_mem.py``) is its own:

- rnagen: ``rnagen.data.fetch.convert_gtex`` (usecols + row chunks scattered into a preallocated array);
- reference: ``pd.read_csv`` of the whole matrix, then row filtering to the same genes.

Usage: python benchmarks/bench_data_convert.py [--samples 300] [--workdir /tmp/rnagen_bench]
"""
from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _mem import child_env

N_ROWS = 56_200

RUN_RNAGEN = """
import json, sys, time
from _mem import peak_mb
import anndata  # noqa: F401  (import time is not conversion time)
from rnagen.data.fetch import convert_gtex
from rnagen.data import genes as g
g.gene_table()
t = time.perf_counter()
full, lm = convert_gtex(sys.argv[1], sys.argv[2], min_samples=1, progress=False)
dt = time.perf_counter() - t
print(json.dumps({"s": dt, "rss_mb": peak_mb(),
                  "shape": list(full.shape), "out_mb": full.X.nbytes / 2**20, "lm": lm.n_vars}))
"""

RUN_NAIVE = """
import json, sys, time
from _mem import peak_mb
import numpy as np, pandas as pd
from rnagen.data import genes as g
g.gene_table()
t = time.perf_counter()
df = pd.read_csv(sys.argv[1], sep="\\t", skiprows=2, index_col=0)
df = df.drop(columns="Description")
keep = set(g.gene_table()["ensembl_id"])
df = df[[g.strip_version(i) in keep for i in df.index]]
X = df.to_numpy(dtype=np.float32).T.copy()
dt = time.perf_counter() - t
print(json.dumps({"s": dt, "rss_mb": peak_mb(),
                  "shape": list(X.shape), "out_mb": X.nbytes / 2**20}))
"""


def make_files(workdir: Path, n_samples: int) -> tuple[Path, Path]:
    from rnagen import datasets

    workdir.mkdir(parents=True, exist_ok=True)
    gct, attrs = workdir / f"gtex_{n_samples}.gct.gz", workdir / f"attrs_{n_samples}.txt"
    if gct.exists() and attrs.exists():
        return gct, attrs
    rng = np.random.default_rng(0)
    u = datasets.gene_universe()
    ids = [f"{e}.5" for e in u["ensembl_id"]] + [f"ENSG9{i:010d}.1" for i in range(N_ROWS - len(u))]
    order = rng.permutation(len(ids))
    samples = [f"GTEX-{i:05X}-0001-SM-{i:05d}" for i in range(n_samples)]
    tissues = [f"T{i % 10}" for i in range(n_samples)]
    with gzip.open(gct, "wt", compresslevel=1) as fh:
        fh.write(f"#1.2\n{len(ids)}\t{n_samples}\nName\tDescription\t" + "\t".join(samples) + "\n")
        for start in range(0, len(ids), 2000):
            blk = order[start:start + 2000]
            vals = rng.gamma(0.5, 20.0, size=(len(blk), n_samples)).round(2)
            fh.write("".join(f"{ids[i]}\tG\t" + "\t".join(map(str, row)) + "\n" for i, row in zip(blk, vals)))
    attrs.write_text("SAMPID\tSMTS\tSMTSD\n" + "".join(f"{s}\t{t}\t{t} d\n" for s, t in zip(samples, tissues)))
    return gct, attrs


def run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True,
                         env=child_env())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--workdir", default="/tmp/rnagen_bench")
    a = ap.parse_args()
    t = time.perf_counter()
    gct, attrs = make_files(Path(a.workdir), a.samples)
    print(f"fixture: {N_ROWS} rows x {a.samples} samples, {gct.stat().st_size / 2**20:.1f} MiB gz "
          f"(made in {time.perf_counter() - t:.1f} s)")
    r = run(RUN_RNAGEN, str(gct), str(attrs))
    n = run(RUN_NAIVE, str(gct), str(attrs))
    assert r["shape"] == n["shape"], (r["shape"], n["shape"])
    print(f"output: {r['shape'][0]} samples x {r['shape'][1]} genes ({r['out_mb']:.1f} MiB float32), "
          f"{r['lm']} landmarks")
    print(f"rnagen convert_gtex : {r['s']:7.2f} s   peak RSS {r['rss_mb']:7.1f} MiB")
    print(f"naive pandas read   : {n['s']:7.2f} s   peak RSS {n['rss_mb']:7.1f} MiB")
    print(f"ratio rnagen/naive  : time {r['s'] / n['s']:.2f}x   peak RSS {r['rss_mb'] / n['rss_mb']:.2f}x")


if __name__ == "__main__":
    main()
