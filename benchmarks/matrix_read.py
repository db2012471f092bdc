"""Reading a large expression matrix from CSV with `rnagen.data.read` (blocks of lines cast to float32 as they
are parsed) next to a whole-file pandas read (`pd.read_csv(..., low_memory=False)` then a float32 matrix), in
the same run, each in a fresh process so its peak resident memory (Linux's VmHWM) is its own.

Two layouts of the same G genes x N samples of values with two decimals: genes x samples (tall) and samples x
genes (wide). Parquet and Feather files are pandas' to_parquet / to_feather of float32 values (Feather: LZ4-compressed
Arrow IPC, pyarrow's default), read whole by pd.read_parquet / pd.read_feather as the reference.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/matrix_read.py --genes 18000 --samples 2000 [--format parquet|feather]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(kind: str, path: str) -> None:
    """Read ``path`` one way and print seconds, peak RSS and the matrix shape as JSON."""
    import numpy as np
    import pandas as pd
    from _mem import peak_mb

    t = time.perf_counter()
    if kind == "rnagen":
        from rnagen.data import read

        shape = read(path, label_key="group" if "grouped" in path else None).shape
    elif path.endswith(".parquet"):
        X = pd.read_parquet(path).to_numpy(np.float32)
        shape = X.shape
    elif path.endswith(".feather"):   # the index pandas recorded (gene, sample) read back as the index
        X = pd.read_feather(path).to_numpy(np.float32)
        shape = X.shape
    else:   # a row of labels under the header skipped
        X = pd.read_csv(path, index_col=0, dtype={0: str}, low_memory=False,
                        skiprows=[1] if "grouped" in path else None).to_numpy(np.float32)
        shape = X.shape
    print(json.dumps({"seconds": time.perf_counter() - t, "shape": list(shape), "peak_mb": peak_mb()}))


def main() -> None:
    """Write both layouts, read each both ways in child processes, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--genes", type=int, default=18000)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--format", choices=("csv", "parquet", "feather"), default="csv",
                    help="the files' format (parquet, feather: pandas' to_parquet / to_feather of float32 values, "
                         "read by pd.read_parquet / pd.read_feather as the reference)")
    ap.add_argument("--label-row", action="store_true",
                    help="csv: the genes x samples layout only, with a row of labels (group) under its header")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(*a.worker)
    import numpy as np
    import pandas as pd

    from rnagen import datasets

    genes = list(dict.fromkeys(datasets.gene_universe()["symbol"]))[:a.genes]
    X = np.random.default_rng(0).gamma(2.0, 50.0, size=(len(genes), a.samples)).astype(np.float32)
    samples = [f"S{i}" for i in range(a.samples)]
    with tempfile.TemporaryDirectory() as d:
        tall, wide = Path(d) / f"genes_x_samples.{a.format}", Path(d) / f"samples_x_genes.{a.format}"
        for path, frame in ((tall, pd.DataFrame(X, index=pd.Index(genes, name="gene"), columns=samples)),
                            (wide, pd.DataFrame(X.T, index=pd.Index(samples, name="sample"), columns=genes))):
            if a.format == "csv" and a.label_row and path == tall:
                frame.to_csv(path, float_format="%.2f")
                tall = Path(d) / "genes_x_samples_grouped.csv"
                with open(path) as src, open(tall, "w") as dst:   # the header, the row of labels, the rest
                    dst.write(src.readline())
                    dst.write("group," + ",".join("ab"[i % 2] for i in range(frame.shape[1])) + "\n")
                    shutil.copyfileobj(src, dst)
            elif a.format == "csv":
                frame.to_csv(path, float_format="%.2f")
            elif a.format == "feather":
                frame.to_feather(path)
            else:
                frame.to_parquet(path)
        print(f"# {len(genes)} genes x {a.samples} samples: float32 matrix {X.nbytes / 1e6:.0f} MB; {a.format} "
              f"{tall.stat().st_size / 1e6:.0f} MB")
        print(f"| layout ({a.format}) | rnagen.data.read | pandas whole-file read | peak RSS rnagen | "
              "peak RSS pandas |")
        print("|---|---|---|---|---|")
        for name, path in (("genes x samples, a row of labels", tall),) if a.label_row else (
                ("genes x samples", tall), ("samples x genes", wide)):
            res = {}
            for kind in ("rnagen", "pandas"):
                out = subprocess.run([sys.executable, __file__, "--worker", kind, str(path)], check=True,
                                     capture_output=True, text=True)
                res[kind] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {name} | {res['rnagen']['seconds']:.1f} s | {res['pandas']['seconds']:.1f} s | "
                  f"{res['rnagen']['peak_mb']:.0f} MB | {res['pandas']['peak_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
