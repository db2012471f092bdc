"""Reading an expression matrix saved as an Excel workbook (`rnagen.data.read` on ``.xlsx``, through calamine)
next to the same matrix as CSV, both read by `rnagen.data.read` in the same run; a zipped CSV (one matrix file
in a ``.zip``, copied to a temporary folder and read) beside them, and the workbook through openpyxl (pandas'
default engine) as the reference.

The matrix: G gene symbols x N samples of whole counts (a submitter's supplementary table), the gene column with
a title row above the header, as such workbooks have.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/spreadsheet_read.py --genes 18000 --samples 100
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
import zipfile
from pathlib import Path

import anndata  # noqa: F401  (imported before the timings: read builds an AnnData)
import numpy as np
import pandas as pd

from rnagen import datasets
from rnagen.data import read


def main() -> None:
    """Write the three files, read each, print the times and whether the matrices agree."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--genes", type=int, default=18000)
    ap.add_argument("--samples", type=int, default=100)
    a = ap.parse_args()
    symbols = list(dict.fromkeys(datasets.gene_universe()["symbol"]))[:a.genes]
    X = np.random.default_rng(0).gamma(2.0, 50.0, size=(len(symbols), a.samples)).round()
    df = pd.DataFrame(X, index=pd.Index(symbols, name="gene"), columns=[f"S{i}" for i in range(a.samples)])
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t = time.perf_counter()
        with pd.ExcelWriter(tmp / "m.xlsx") as w:
            pd.DataFrame([["Supplementary Table 1. Counts per gene"]]).to_excel(w, header=False, index=False)
            df.to_excel(w, startrow=2)
        print(f"# {len(symbols)} genes x {a.samples} samples; workbook written in {time.perf_counter() - t:.1f} s "
              f"({(tmp / 'm.xlsx').stat().st_size / 1e6:.1f} MB)")
        df.to_csv(tmp / "m.csv")
        with zipfile.ZipFile(tmp / "m.csv.zip", "w", zipfile.ZIP_DEFLATED) as z:
            z.write(tmp / "m.csv", "m.csv")
        got = {}
        for name in ("m.csv", "m.csv.zip", "m.xlsx"):
            t = time.perf_counter()
            got[name] = read(tmp / name)
            print(f"read {name:10s} {time.perf_counter() - t:6.1f} s  ({got[name].n_obs} x {got[name].n_vars})")
        # the reference: the same workbook through openpyxl, pandas' default engine (the reader before calamine)
        excel_file = pd.ExcelFile
        pd.ExcelFile = lambda path, engine=None, **kw: excel_file(path, engine="openpyxl", **kw)  # type: ignore
        try:
            t = time.perf_counter()
            got["openpyxl"] = read(tmp / "m.xlsx")
            print(f"read m.xlsx through openpyxl {time.perf_counter() - t:6.1f} s (reference)")
        finally:
            pd.ExcelFile = excel_file  # type: ignore[misc]
        same = all(np.array_equal(got["m.csv"].X, got[n].X) for n in ("m.csv.zip", "m.xlsx", "openpyxl"))
        print(f"same matrix from all four: {same}; peak RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
