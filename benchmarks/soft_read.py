"""Reading a GEO series' family SOFT file (`rnagen.data.read`: a table per sample, each parsed as it ends) next to
the same values as the series' matrix file, both read by `rnagen.data.read` in the same run (the reference: one
table of probes x samples), with the peak memory of each read (a child process per read, its own VmHWM:
``benchmarks/_mem.py``).

The series: N samples x P probes of log2 intensities (an Affymetrix HG-U133A series, say: 22,283 probes), each
sample's table with GEO's ID_REF, VALUE, ABS_CALL and DETECTION P-VALUE columns, its characteristics lines.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/soft_read.py --samples 300 --probes 22283
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from _mem import child_env


def _write(tmp: Path, n: int, p: int) -> tuple[Path, Path]:
    """The family SOFT file and the series matrix of the same values."""
    rng = np.random.default_rng(0)
    probes = [f"{200000 + i}_at" for i in range(p)]
    X = rng.normal(8.0, 1.5, size=(n, p)).round(3)
    gsm = [f"GSM{1000 + s}" for s in range(n)]
    soft, matrix = tmp / "GSE1_family.soft", tmp / "GSE1_series_matrix.txt"
    with open(soft, "w") as f:
        f.write("^DATABASE = GeoMiame\n^SERIES = GSE1\n^PLATFORM = GPL96\n!platform_table_begin\nID\tGene Symbol\n")
        f.write("".join(f"{q}\tG{i}\n" for i, q in enumerate(probes)) + "!platform_table_end\n")
        for s in range(n):
            f.write(f"^SAMPLE = {gsm[s]}\n!Sample_title = s{s}\n!Sample_geo_accession = {gsm[s]}\n"
                    f"!Sample_platform_id = GPL96\n!Sample_characteristics_ch1 = relapse: {s % 2}\n"
                    "!sample_table_begin\nID_REF\tVALUE\tABS_CALL\tDETECTION P-VALUE\n")
            f.write("".join(f"{q}\t{v:.3f}\tP\t0.001\n" for q, v in zip(probes, X[s])) + "!sample_table_end\n")
    with open(matrix, "w") as f:
        f.write("!Series_title\t\"GSE1\"\n!Sample_geo_accession\t" + "\t".join(f'"{g}"' for g in gsm) + "\n")
        f.write("!Sample_characteristics_ch1\t" + "\t".join(f'"relapse: {s % 2}"' for s in range(n)) + "\n")
        f.write("!series_matrix_table_begin\n\"ID_REF\"\t" + "\t".join(f'"{g}"' for g in gsm) + "\n")
        f.write("".join(f"{q}\t" + "\t".join(f"{v:.3f}" for v in X[:, i]) + "\n" for i, q in enumerate(probes)))
        f.write("!series_matrix_table_end\n")
    return soft, matrix


_CHILD = textwrap.dedent("""
    import json, sys, time
    import anndata, numpy as np
    from _mem import peak_mb
    from rnagen.data import read
    t = time.perf_counter()
    a = read(sys.argv[1], label_key="relapse")
    dt = time.perf_counter() - t
    print(json.dumps({"s": dt, "rss_gb": peak_mb() * 2**20 / 1e9,
                      "shape": list(a.shape), "sum": float(np.nansum(a.X, dtype=np.float64))}))
""")


def main() -> None:
    """Write the two files, read each in a child process, print time, peak RSS and whether they agree."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--probes", type=int, default=22283)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        soft, matrix = _write(Path(d), a.samples, a.probes)
        print(f"# {a.samples} samples x {a.probes} probes; family SOFT {soft.stat().st_size / 1e6:.0f} MB, series "
              f"matrix {matrix.stat().st_size / 1e6:.0f} MB")
        got = {}
        for name, path in (("series matrix (reference)", matrix), ("family SOFT", soft)):
            out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True,
                                 check=True, env=child_env())
            got[name] = json.loads(out.stdout.strip().splitlines()[-1])
            r = got[name]
            print(f"read {name:26s} {r['s']:6.1f} s  peak RSS {r['rss_gb']:.2f} GB  "
                  f"({r['shape'][0]} x {r['shape'][1]})")
        sums = [r["sum"] for r in got.values()]
        print(f"same values: {bool(np.isclose(sums[0], sums[1], rtol=1e-6))}")


if __name__ == "__main__":
    main()
