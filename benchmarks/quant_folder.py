"""Reading a folder of per-sample quantification files (`rnagen.data.quant.read_quant_folder`) at a realistic
size, next to the loop a user would write with pandas (read each file, concatenate) in the same run.

The files are written here in STAR's ``ReadsPerGene.out.tab`` layout (or GDC's augmented STAR counts): N samples
x G genes of Poisson counts plus the four ``N_`` summary rows.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/quant_folder.py --samples 500 --genes 60660 [--kind gdc]

``--archive``: the files gzipped and packed into one ``.tar`` (GEO's ``GSExxx_RAW.tar``), read as it is, next to
what it takes without archive support: unpack it (``tarfile``, the ``data`` filter) and read the folder.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/quant_folder.py --samples 500 --genes 60660 --archive

``--archive tar.gz``: the plain files packed into one ``.tar.gz`` (as the GDC client's cart download is), stored
in reverse path order (an archive's order is its maker's, not the sorted order the samples are read in), read
with ``rnagen.data.read`` (which first lists the archive for a single matrix file), against unpacking it and
reading the folder.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/quant_folder.py --samples 200 --genes 60660 --archive tar.gz
"""
from __future__ import annotations

import argparse
import gzip
import resource
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

import anndata  # noqa: F401  (imported before the timings: read_quant_folder builds an AnnData)
import numpy as np
import pandas as pd

from rnagen.data import read
from rnagen.data.quant import read_quant_folder


def write(folder: Path, n: int, g: int, kind: str, seed: int = 0) -> None:
    """N files of G genes in the kind's layout."""
    rng = np.random.default_rng(seed)
    genes = [f"ENSG{i:011d}.{i % 9 + 1}" for i in range(g)]
    mu = rng.gamma(0.5, 200.0, size=g)
    for s in range(n):
        c = rng.poisson(mu)
        if kind == "star":
            head = ("N_unmapped\t100\t100\t100\nN_multimapping\t50\t50\t50\nN_noFeature\t9\t900\t905\n"
                    "N_ambiguous\t3\t1\t1\n")
            body = "\n".join(f"{gn}\t{v}\t{v // 2}\t{v - v // 2}" for gn, v in zip(genes, c))
            (folder / f"S{s:04d}_ReadsPerGene.out.tab").write_text(head + body + "\n")
        else:
            d = folder / f"uuid{s:04d}"
            d.mkdir()
            head = ("# gene-model: GENCODE v36\ngene_id\tgene_name\tgene_type\tunstranded\tstranded_first\t"
                    "stranded_second\ttpm_unstranded\tfpkm_unstranded\tfpkm_uq_unstranded\n"
                    "N_unmapped\t\t\t100\t100\t100\t\t\t\nN_multimapping\t\t\t5\t5\t5\t\t\t\n"
                    "N_noFeature\t\t\t9\t900\t905\t\t\t\nN_ambiguous\t\t\t3\t1\t1\t\t\t\n")
            body = "\n".join(f"{gn}\tG{i}\tprotein_coding\t{v}\t{v // 2}\t{v - v // 2}\t1.5\t1.0\t1.0"
                             for i, (gn, v) in enumerate(zip(genes, c)))
            (d / f"uuid{s:04d}.rna_seq.augmented_star_gene_counts.tsv").write_text(head + body + "\n")


def naive(folder: Path, kind: str) -> pd.DataFrame:
    """The loop a user writes: one read_csv per file, the column kept, concatenated."""
    cols = {}
    if kind == "star":
        for p in sorted(folder.glob("*ReadsPerGene.out.tab")):
            df = pd.read_csv(p, sep="\t", header=None, index_col=0).iloc[4:]
            cols[p.name] = df[1]
    else:
        for p in sorted(folder.glob("*/*.tsv")):
            df = pd.read_csv(p, sep="\t", comment="#", index_col=0).iloc[4:]
            cols[p.name] = df["unstranded"]
    return pd.concat(cols, axis=1).T


def timed_read(path: Path, what: str):
    """``read_quant_folder(path)`` timed, with the peak RSS it reached; prints one line."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    adata, info = read_quant_folder(path)
    took = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{what}: {took:.1f} s ({adata.n_obs} x {adata.n_vars}, strand {info.get('strand')}); peak RSS "
          f"{peak:.0f} MB ({before:.0f} MB before), the matrix {adata.X.nbytes / 2**20:.0f} MB")
    return adata


def archive_tgz(folder: Path, dest: Path) -> Path:
    """Every file of ``folder``, as it is, into the gzipped tar ``dest``, in reverse path order."""
    with tarfile.open(dest, "w:gz") as tf:
        for p in sorted((x for x in folder.rglob("*") if x.is_file()), reverse=True):
            tf.add(p, str(p.relative_to(folder)))
    return dest


def archive(folder: Path, dest: Path) -> Path:
    """Every file of ``folder`` gzipped into the tar ``dest`` (names relative to the folder, ``.gz`` added)."""
    with tarfile.open(dest, "w") as tf:
        for p in sorted(x for x in folder.rglob("*") if x.is_file()):
            gz = p.with_name(p.name + ".gz")
            with open(p, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as out:
                shutil.copyfileobj(src, out)
            tf.add(gz, str(gz.relative_to(folder)))
            gz.unlink()
    return dest


def main() -> None:
    """Write the folder, read it both ways, print the times and whether the values agree."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--genes", type=int, default=60660)
    ap.add_argument("--kind", choices=["star", "gdc"], default="star")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip the pandas loop (the peak RSS printed is then read_quant_folder's own)")
    ap.add_argument("--archive", nargs="?", const="tar", choices=["tar", "tar.gz"],
                    help="read the files gzipped in one .tar (or as they are in one .tar.gz), against unpacking "
                         "it and reading the folder")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "files"
        folder.mkdir()
        t = time.perf_counter()
        write(folder, a.samples, a.genes, a.kind)
        print(f"wrote {a.samples} {a.kind} files x {a.genes} genes in {time.perf_counter() - t:.1f} s")
        if a.archive:
            if a.archive == "tar":
                tar = archive(folder, Path(tmp) / "RAW.tar")
                shutil.rmtree(folder)
                print(f"packed them gzipped into one tar of {tar.stat().st_size / 2**20:.0f} MB")
                adata = timed_read(tar, "read_quant_folder(the tar)")
            else:
                tar = archive_tgz(folder, Path(tmp) / "cart.tar.gz")
                shutil.rmtree(folder)
                print(f"packed them into one tar.gz of {tar.stat().st_size / 2**20:.0f} MB")
                t = time.perf_counter()
                adata = read(tar)
                print(f"rnagen.data.read(the tar.gz): {time.perf_counter() - t:.1f} s ({adata.n_obs} x "
                      f"{adata.n_vars}); peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
            if not a.no_reference:
                t = time.perf_counter()
                with tarfile.open(tar) as tf:
                    tf.extractall(Path(tmp) / "unpacked", filter="data")
                t_unpack = time.perf_counter() - t
                ref, _ = read_quant_folder(Path(tmp) / "unpacked")
                t_ref = time.perf_counter() - t
                same = np.array_equal(adata.X, ref.X) and list(adata.obs_names) == list(ref.obs_names)
                print(f"unpack ({t_unpack:.1f} s) then read the folder (reference): {t_ref:.1f} s; same values: "
                      f"{same}")
            return
        adata = timed_read(folder, "read_quant_folder")
        if not a.no_reference:
            t = time.perf_counter()
            ref = naive(folder, a.kind)
            t_ref = time.perf_counter() - t
            same = np.array_equal(adata.X, ref.to_numpy(dtype=np.float32))
            print(f"pandas loop (reference): {t_ref:.1f} s; same values: {same}")


if __name__ == "__main__":
    main()
