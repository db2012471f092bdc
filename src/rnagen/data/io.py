"""Readers that turn expression files into validated, labelled AnnData (obs = samples, var = genes).

Supported: ``.h5ad``, CSV/TSV (optionally gzipped; samples x genes or genes x samples), GCT 1.2/1.3, GEO
series matrix files (``GSExxx_series_matrix.txt.gz``: probes x samples, the ``!Sample_`` annotations as sample
columns), featureCounts tables (genes x BAM files; Liao et al. 2014), recount3's gene sums, parquet, Excel
workbooks and R's ``.rds``/``.RData`` matrices and data frames. Every reader ends in
:func:`validate`, so a returned object has finite values, unique sample and gene IDs and, when asked, a
categorical label column without missing labels.

Text files are decoded from what their bytes say, not from their name: a byte-order mark (UTF-8, UTF-16
LE/BE), UTF-16 without one (NUL bytes in every other position), UTF-8, else Latin-1; gzip is recognised by
its magic number, ``.h5ad``/parquet content by theirs, and GCT by its version and dimension lines. The separator
is sniffed from the first lines (tab, ``;`` or ``,``), and a decimal comma (``1,5`` in a ``;``- or tab-separated
file, the European CSV) and thousands separators are recognised: from the first lines, or where their values are
whole numbers from the first values further on that carry a mark; every value is checked against that format as it
is parsed (:class:`_NumberCheck`), so that none is read as another number than the one written. Any malformed input
is a :class:`rnagen.errors.DataError` with one line naming the problem, where it is (value, line, column) and the
fix.
"""
from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import functools
import gzip
import io
import lzma
import os
import re
import shlex
import shutil
import stat
import tempfile
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar, cast

import numpy as np
import pandas as pd

from .._io import gct_row_meta, write_gct_rows
from ..errors import DataError, RnagenError
from ..utils import as_path, label_text, require_anndata
from . import genes as _genes

__all__ = ["read", "read_labels", "read_geo_samples", "geo_has_values", "write_gct", "validate",
           "detect_orientation", "Orientation", "Duplicates", "missing_labels", "check_labelled", "read_feature_map",
           "map_features", "read_sample_names", "grouping_columns", "recorded_label_key"]

Orientation = Literal["auto", "samples_x_genes", "genes_x_samples"]
_ORIENTATIONS = ("auto", "samples_x_genes", "genes_x_samples")
Duplicates = Literal["error", "first", "mean", "sum"]
_DUPLICATES = ("error", "first", "mean", "sum")
# tokens that mean "no value" in a label (pandas' default NA tokens that people write by hand)
_NA_TOKENS = frozenset({"", "nan", "NaN", "NAN", "NA", "N/A", "n/a", "na", "null", "NULL", "None", "none", "<NA>",
                        "#N/A", "-",
                        # the GDC portal's clinical and biospecimen tables ('--), TCGA's legacy clinical data (as
                        # Firehose and cBioPortal give it) and the GDC's "not reported"
                        "'--", "--", "[Not Available]", "[Not Applicable]", "[Unknown]", "[Not Evaluated]",
                        "[Discrepancy]", "[Not Reported]", "not reported", "Not Reported"})
# the largest float32; larger finite values would silently become inf in the float32 matrix
_F32_MAX = float(np.finfo(np.float32).max)
_HEAD_BYTES = 1 << 16
_T = TypeVar("_T")
#: how a file read without its label column gets one: every command reads ``--label-key``, and the labels of a file
#: without them come from an annotation file through ``rnagen data prepare --labels`` (``rnagen train`` takes one too)
LABELS_HINT = ("; pass --label-key with one of these, or add the labels from a file of their own (rnagen data prepare "
               "--labels FILE)")


# ------------------------------------------------------------------------------------------ files and bytes
def _format(path: Path) -> str:
    name = path.name.lower()
    for c in (".gz", ".bz2", ".xz"):
        if name.endswith(c):
            name = name[:-len(c)]
    for ext, fmt in ((".h5ad", "h5ad"), (".gct", "gct"), (".parquet", "parquet"), (".pq", "parquet"),
                     (".xlsx", "xlsx"), (".xlsm", "xlsx"), (".xls", "xls"), (".ods", "ods"),
                     (".csv", "csv"), (".tsv", "tsv"), (".txt", "tsv"), (".tab", "tsv")):
        if name.endswith(ext):
            return fmt
    return "text"


def _is_pipe(p: Path) -> bool:
    """A named pipe or device (a shell's ``<(zcat x.gz)``, ``/dev/stdin`` fed by a pipe): readable once."""
    try:
        mode = p.stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


_F = TypeVar("_F", bound=Callable[..., Any])


def _decompressing_once(fn: _F) -> _F:
    """``fn`` with :func:`rnagen.data.quant.decompressed_once` around it: a compressed tar is listed twice by
    :func:`read` (one matrix file or per-sample files?) and decompressed once."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .quant import decompressed_once

        with decompressed_once():
            return fn(*args, **kwargs)
    return cast(_F, wrapper)


def _spools_pipes(fn: _F) -> _F:
    """``fn(path, ...)`` given a pipe: its bytes copied once into a temporary file (removed after) that ``fn``
    reads instead, since the readers open a file more than once (its first bytes, then the whole)."""
    @functools.wraps(fn)
    def wrapper(path: Any, *args: Any, **kw: Any) -> Any:
        # every reader takes its path here first: a str, a pathlib.Path or bytes, anything else refused
        reading = fn.__name__ == "read"
        p = as_path(path, "read: the data" if reading else f"{fn.__name__}: the file",
                    fix=_read_path_fix(path) if reading else "")
        if not _is_pipe(p):
            return fn(os.fsdecode(path) if isinstance(path, bytes) else path, *args, **kw)
        with tempfile.TemporaryDirectory(prefix="rnagen-pipe-") as d:
            return fn(_spool(p, Path(d)), *args, **kw)
    return cast(_F, wrapper)


def _spool(p: Path, folder: Path) -> Path:
    """The bytes of the pipe ``p`` copied into a file of its name in ``folder``."""
    q = folder / (p.name or "input")
    try:
        with open(p, "rb") as src, open(q, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except OSError as e:
        raise DataError(f"{p}: cannot be read ({e.strerror or type(e).__name__}); check the command that "
                        "writes it") from e
    return q


def _check_file(p: Path, what: str = "input file", hint: str = "check the path") -> None:
    """A clean error for a path that is missing, a directory or unreadable."""
    if str(p) == "-" and not p.exists():   # the shell convention for standard input, which has a path of its own
        raise DataError(f"{what} '-': standard input is read by its path, /dev/stdin (e.g. zcat x.csv.gz | rnagen "
                        "data info /dev/stdin), or give the file's path")
    if not p.exists():
        raise DataError(f"{what} {str(p)!r} does not exist; {hint}")
    if p.is_dir():
        raise DataError(f"{what} {str(p)!r} is a directory; give the path of a file")
    if not os.access(p, os.R_OK):
        raise DataError(f"{what} {str(p)!r} cannot be read (permission denied); check its permissions")
    try:
        with open(p, "rb") as fh:
            fh.read(1)
    except OSError as e:
        raise DataError(f"{what} {str(p)!r} cannot be read ({e.strerror or type(e).__name__}); check the file") from e


_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"))
_OPENERS: dict[str, Callable[[Path, Literal["rb"]], gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile]] = {
    "gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}


def _compression(p: Path) -> str | None:
    """Compression from the file's magic number (a ``.gz`` name on a plain file reads as plain)."""
    with open(p, "rb") as fh:
        start = fh.read(6)
    for magic, name in _MAGIC:
        if start.startswith(magic):
            return name
    return None


# formats read by seeking in the file (HDF5: .h5ad, GCTX, ARCHS4; parquet, Feather, workbooks), which a compressed
# stream does not allow: a compressed one (GEO's supplementary GSExxx_adata.h5ad.gz) is decompressed once
_SEEKED_FORMATS = frozenset({"h5ad", "parquet", "feather", "xlsx", "xls", "ods"})


def _decompressed(p: Path, compression: str, folder: Path) -> Path:
    """The compressed file ``p`` decompressed into ``folder`` under its name less the compression suffix."""
    name = p.name
    for suffix in (".gz", ".bz2", ".xz"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[:-len(suffix)]
    q = folder / name
    try:
        with _OPENERS[compression](p, "rb") as src, open(q, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (EOFError, zlib.error, lzma.LZMAError, ValueError) as e:
        raise DataError(f"{p.name}: damaged {compression} file ({type(e).__name__}); download or compress it "
                        "again") from e
    except OSError as e:
        if e.errno is None:   # gzip's BadGzipFile and the like: the content, not the disk
            raise DataError(f"{p.name}: damaged {compression} file ({_one_line(e)[:60]}); download or compress it "
                            "again") from e
        raise DataError(f"{p.name}: cannot be decompressed to be read ({e.strerror or e}); free space in the "
                        f"temporary folder (TMPDIR) or decompress it yourself and give the file") from e
    return q


def _raw_head(p: Path, compression: str | None, n: int = _HEAD_BYTES) -> bytes:
    try:
        if compression is None:
            with open(p, "rb") as fh:
                return fh.read(n)
        with _OPENERS[compression](p, "rb") as fh:
            return fh.read(n)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as e:
        raise DataError(f"{p.name}: damaged {compression} file ({type(e).__name__}); download or compress it "
                        f"again") from e


def _content_format(head: bytes) -> str | None:
    """``"h5ad"``, ``"parquet"``, ``"feather"``, ``"xlsx"``, ``"xls"``, ``"rds"`` or ``"rdata"`` when the bytes
    are an HDF5 file, a parquet or Feather (Arrow IPC) file, an Excel workbook (a zip archive holding ``xl/``;
    Excel 97-2003's OLE2 container) or R's serialisation (``saveRDS``, ``save()``; after decompression),
    whatever the name says."""
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "h5ad"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith((b"ARROW1", b"FEA1")):
        return "feather"
    if head.startswith(b"PK\x03\x04") and b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet" in head[:120]:
        return "ods"
    if head.startswith(b"PK\x03\x04") and (b"xl/" in head or b"[Content_Types]" in head):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    if _is_r_data(head):
        return "rdata" if head.startswith(_R_SAVE) else "rds"
    return None


# raw data given instead of expression values, alone or a folder (GEO's GSExxx_RAW.tar) of it: kind -> (one
# file, several, what makes expression values of them), and the file names of each kind
_RAW_DATA = {
    "cel": ("an Affymetrix CEL file", "Affymetrix CEL files",
            " (raw probe intensities), not expression values; summarise the arrays to probe sets first (R: "
            "oligo::rma or affy::rma, then write.csv(Biobase::exprs(eset), \"expr.csv\")), or give the series "
            "matrix GEO made of them"),
    "idat": ("an Illumina IDAT file", "Illumina IDAT files",
             " (raw bead intensities), not expression values; summarise them first (R: limma::read.idat then "
             "limma::neqc, or GenomeStudio), or give the series matrix GEO made of them"),
    "reads": ("sequencing FASTQ reads", "sequencing read files",
              ", not expression values; quantify them first (Salmon or kallisto, or STAR with --quantMode "
              "GeneCounts) and give the counts (a folder of per-sample outputs reads as one table)"),
    "alignments": ("sequencing alignments", "sequencing alignment files",
                   ", not expression values; count them first (featureCounts, HTSeq-count or STAR --quantMode "
                   "GeneCounts) and give the counts (a folder of per-sample outputs reads as one table)"),
    # microarray scanners' text outputs, one array each (GEO's RAW.tar of a two-colour or Agilent series), known
    # by their content (array_scanner_kind)
    "agilent": ("an Agilent Feature Extraction file", "Agilent Feature Extraction files",
                " (one array's probe intensities), not expression values; normalise the arrays first (R: "
                "x <- limma::read.maimages(files, source = \"agilent\", green.only = TRUE); then "
                "limma::backgroundCorrect and limma::normalizeBetweenArrays, and write.csv of the result's E), or "
                "give the series matrix GEO made of them"),
    "genepix": ("a GenePix results file (ATF)", "GenePix results files (ATF)",
                " (one array's spot intensities), not expression values; normalise the arrays first (R: "
                "limma::read.maimages(files, source = \"genepix\"), then limma::normalizeWithinArrays and "
                "normalizeBetweenArrays), or give the series matrix GEO made of them"),
    # StringTie -B's tables for ballgown, one folder per sample (t_data.ctab: each transcript's FPKM and coverage)
    "ballgown": ("a StringTie ballgown table (.ctab)", "StringTie ballgown tables (.ctab)",
                 " (FPKM and coverage per transcript or exon, not read counts); give the count matrices StringTie's "
                 "prepDE.py makes of these folders (gene_count_matrix.csv, or transcript_count_matrix.csv), which "
                 "read as tables"),
}
_RAW_SUFFIXES = {"cel": (".cel",), "idat": (".idat",), "reads": (".fastq", ".fq", ".sra"),
                 "alignments": (".bam", ".cram", ".sam")}
# what h5py raises reading a damaged HDF5 file (a cut download, overwritten bytes), besides its own messages
_H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError)


def array_scanner_kind(lines: Sequence[str]) -> str | None:
    """``"agilent"`` or ``"genepix"`` for the first lines of a microarray scanner's output (Agilent Feature
    Extraction: ``TYPE`` then ``FEPARAMS`` rows; GenePix: an Axon Text File, ``ATF``), else ``None``."""
    if lines and lines[0].startswith("TYPE\t") and any(ln.startswith("FEPARAMS\t") for ln in lines[1:6]):
        return "agilent"
    if lines and re.match(r"ATF\t[0-9.]+", lines[0]):
        return "genepix"
    return None


#: what a file of another omics kind is, given as expression data (a GDC download mixes them), and the way on
_NOT_EXPRESSION = {
    "vcf": "a VCF of variant calls, not expression values; give a table of expression (read counts, TPM or log "
           "values) per gene and sample, e.g. GDC's *.augmented_star_gene_counts.tsv files of the same cases",
    "maf": "a MAF of somatic mutations (a row per mutation), not expression values; give a table of expression (read "
           "counts, TPM or log values) per gene and sample, e.g. GDC's *.augmented_star_gene_counts.tsv files of "
           "the same cases",
    "fasta": "sequences (FASTA: a genome, a transcriptome or reads), not expression values; quantify the samples' "
             "reads against a transcriptome first (Salmon or kallisto) and give the counts",
    "annotation": "a genome annotation (GTF/GFF: one feature per line), not expression values; it maps transcripts "
                  "to genes when given as --feature-map",
    "sample sheet": "GDC's sample sheet (a row per downloaded file), not expression values; give the folder of the "
                    "files it lists, with the sheet as --sample-names (or --labels)",
    "json": "JSON, not a table of expression values; a GDC metadata file labels or names the samples of the "
            "expression data (--labels, --sample-names)",
}


def _not_expression(lines: Sequence[str]) -> str | None:
    """What a text file of another omics kind is (:data:`_NOT_EXPRESSION`), from its first lines; ``None`` for
    any other file."""
    body = [ln for ln in lines[:40] if ln.strip() and not ln.startswith("#")]
    if body and re.match(r'\s*(\{\s*"|\[\s*[{\["0-9-]|\[\s*$)', body[0]):   # a JSON object or array
        return _NOT_EXPRESSION["json"]
    if lines and lines[0].startswith("##fileformat=VCF"):
        return _NOT_EXPRESSION["vcf"]
    head = set(body[0].rstrip("\r").split("\t")) if body else set()
    if {"Hugo_Symbol", "Tumor_Sample_Barcode"} <= head:
        return _NOT_EXPRESSION["maf"]
    if {"File ID", "File Name", "Sample ID"} <= head:
        return _NOT_EXPRESSION["sample sheet"]
    if body and body[0].split("\t")[0] in ("t_id", "e_id", "i_id") and ({"chr", "t_id"} & head):
        one, _, way = _RAW_DATA["ballgown"]   # StringTie -B's t_data/e_data/i_data/e2t/i2t.ctab
        return one + way
    if body and body[0].startswith(">") and len(body) > 1 and _SEQUENCE.fullmatch(body[1].strip()[:200] or "-"):
        return _NOT_EXPRESSION["fasta"]
    if len(body) >= 1 and all(ln.count("\t") == 8 and _GFF_LINE.match(ln) for ln in body[:10]):
        return _NOT_EXPRESSION["annotation"]
    return None


def _raw_data(names: Sequence[str]) -> str | None:
    """What raw data most of the files named are (:data:`_RAW_DATA`), with the way to expression values; ``None``
    otherwise."""
    stems = [n.lower().removesuffix(".gz").removesuffix(".bz2").removesuffix(".xz") for n in names]
    for kind, suffixes in _RAW_SUFFIXES.items():
        n = sum(s.endswith(suffixes) for s in stems)
        if n and n >= 0.5 * len(stems):
            _, several, way = _RAW_DATA[kind]
            return f"{n} {several}{way}"
    return None


# compressions and archives not read, by magic number: what it is, how to unpack it
_OTHER_PACKING = ((b"\x28\xb5\x2f\xfd", ("Zstandard-compressed", "decompress it (zstd -d FILE)")),
                  (b"\x04\x22\x4d\x18", ("LZ4-compressed", "decompress it (lz4 -d FILE)")),
                  (b"\x1f\x9d", ("compressed by Unix compress (.Z)", "decompress it (uncompress FILE or gzip -d)")),
                  (b"7z\xbc\xaf\x27\x1c", ("a 7-Zip archive", "unpack it (7z x FILE)")),
                  (b"Rar!\x1a\x07", ("a RAR archive", "unpack it (unrar x FILE)")))


def _check_binary_kind(head: bytes, source: str) -> None:
    """A zip archive, a Python pickle, a NumPy array, sequencing reads or alignments, or an Affymetrix CEL file,
    under any name: say what it is and how to get a table."""
    if head.startswith(b"PK\x03\x04"):
        raise DataError(f"{source}: a zip archive, not a text table; unzip it and give the file inside")
    packed = next((how for magic, how in _OTHER_PACKING if head.startswith(magic)), None)
    if packed is not None:
        raise DataError(f"{source}: {packed[0]}, which is not read; {packed[1]} and give the file (gzip, bzip2 and "
                        "xz are read as they are)")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise DataError(f"{source}: a Python pickle, which is not loaded (unpickling runs the file's code); save the "
                        "table with df.to_parquet(\"expr.parquet\") or df.to_csv(\"expr.csv\") and give that")
    if head.startswith(b"\x93NUMPY"):
        raise DataError(f"{source}: a NumPy array, without sample or gene names; save it with them: "
                        "pd.DataFrame(a, index=samples, columns=genes).to_csv(\"expr.csv\")")
    if head[:14].lower() == b"%%matrixmarket":
        raise DataError(f"{source}: a Matrix Market sparse matrix, which names neither genes nor samples (10x "
                        "Genomics and GEO write single cells so, beside features.tsv and barcodes.tsv); give bulk "
                        "profiles as a table or an .h5ad with their ids (Python: scanpy.read_10x_mtx(folder), "
                        "cells summed per sample)")
    if head.lstrip().startswith(b"<Header>") and b"FileVersion" in head[:200]:
        raise DataError(f"{source}: a NanoString nCounter RCC file, one sample's lane; give the folder (or GEO's "
                        "RAW.tar) of the series' RCC files, read as one matrix")
    lines = head.split(b"\n", 4)
    kind = ("alignments" if head.startswith((b"BAM\x01", b"CRAM", b"@HD\t", b"@SQ\t")) else
            "reads" if head.startswith(b"@") and len(lines) > 3 and lines[2].startswith(b"+") else
            "cel" if head.startswith((b"[CEL]", b"@\x00\x00\x00\x04\x00\x00\x00", b"\x3b\x01")) else
            "idat" if head.startswith(b"IDAT") else None)
    if kind is not None:
        one, _, way = _RAW_DATA[kind]
        raise DataError(f"{source}: {one}{way}")
    start = head.lstrip(codecs.BOM_UTF8).lstrip()
    if start[:15].lower().startswith((b"<!doctype html", b"<html")):
        raise DataError(f"{source}: a web page (HTML), not the data; download the file the page links to (on GEO: "
                        "the series matrix or a supplementary file), not the page")


def _encoding(head: bytes, source: str) -> str:
    """The text encoding of a file from its first bytes (BOM, UTF-16 NUL pattern, UTF-8, else Latin-1)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if b"\x00" in head:
        even, odd = head[0::2], head[1::2]
        # UTF-16 text in ASCII range: every high byte is NUL (LE: odd positions, BE: even positions)
        if len(head) >= 4 and odd.count(0) >= 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
            return "utf-16-le"
        if len(head) >= 4 and even.count(0) >= 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "utf-16-be"
        raise DataError(f"{source}: not a text file (binary content); give CSV/TSV/GCT text, .h5ad, .parquet, "
                        ".feather, .xlsx or R's .rds")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    ctrl = sum(b < 9 or 13 < b < 32 for b in head)
    if ctrl > max(2, 0.01 * len(head)):
        raise DataError(f"{source}: not a text file (binary content); give CSV/TSV/GCT text, .h5ad, .parquet, "
                        ".feather, .xlsx or R's .rds")
    return "latin-1"


class _Text:
    """What the first bytes of a text file say: compression, encoding, separator, decimal mark, first lines."""

    def __init__(self, p: Path, *, sep: str | None, fmt: str, n_lines: int = 50):
        self.path, self.source = p, p.name
        self.compression = _compression(p)
        raw = _raw_head(p, self.compression)
        self.content_format = _content_format(raw)
        if self.content_format is not None:
            return
        _check_binary_kind(raw, self.source)
        self.encoding = _encoding(raw, self.source)
        text = raw.decode(self.encoding, errors="replace")
        if len(raw) == _HEAD_BYTES:  # the last line may be cut
            text = text.rsplit("\n", 1)[0]
        self.lines = [ln.rstrip("\r") for ln in text.split("\n")][:n_lines]
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()
        if self.lines and self.lines[0].startswith("\ufeff"):
            self.lines[0] = self.lines[0][1:]
        table = self.lines[_comment_lines(self.lines):]  # the separator of the table, not of its preamble
        declared = _SEP_LINE.fullmatch(self.lines[0]) if self.lines else None
        self.sep = sep if sep is not None else declared.group(1) if declared else _sniff_sep(table, fmt)
        self.decimal, self.thousands = _sniff_numbers(table[1:], self.sep)
        # whether those lines hold a value with a decimal mark or thousands separator: when none does, the number
        # format is a default that the values further on decide (_NumberCheck)
        self.numbers_decided = _numbers_seen(table[1:21], self.sep)

    def open(self, encoding: str | None = None, *, numbers: _NumberCheck | None = None, plain: bool = True):
        """The whole file as text (decompressed and decoded with ``encoding``, default the sniffed one); where
        the thousands are grouped by spaces, the no-break spaces among them read as plain ones, and where by
        apostrophes, the typographic ones (U+2019) as plain ones (pandas takes one character as the thousands
        separator); with ``plain`` false, every character as written. With ``numbers``, every value read is
        checked against the number format (``decimal``, ``thousands``) as it passes (:class:`_NumberCheck`)."""
        raw = _OPENERS[self.compression](self.path, "rb") if self.compression else open(self.path, "rb")
        fh: io.TextIOBase = io.TextIOWrapper(raw, encoding=encoding or self.encoding, newline="")
        if numbers is not None:   # the values checked as written, their no-break spaces too
            try:
                numbers.start((self.decimal, self.thousands))
            except BaseException:
                fh.close()
                raise
            fh = _Checked(fh, numbers, (self.decimal, self.thousands))
        table = _GROUPS_PLAIN.get(self.thousands or "") if plain else None
        return _GroupsPlain(fh, table) if table is not None else fh

    def header(self) -> list[str]:
        return _fields(self.lines[0], self.sep) if self.lines else []


#: the characters a spreadsheet groups thousands by (CLDR number symbols), each format's read as the one character
#: pandas takes: the no-break space (U+00A0) and the narrow one (U+202F) of the French and Swiss locales as a plain
#: space, the typographic apostrophe (U+2019) of the Swiss as the plain one (de-CH, it-CH: 1'234.5)
_SPACES = " \u00a0\u202f"
_APOSTROPHES = "'\u2019"
_GROUPS = {" ": _SPACES, "'": _APOSTROPHES}
_GROUPS_PLAIN = {t: str.maketrans({c: t for c in chars[1:]}) for t, chars in _GROUPS.items()}


class _GroupsPlain(io.TextIOBase):
    """A text stream with the grouping characters of its thousands separator read as the plain one (``table``: a
    character-for-character translation, so any split of the text into chunks translates alike)."""

    def __init__(self, fh: io.TextIOBase, table: dict[int, str]):
        self._fh, self._table = fh, table

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        return self._fh.read(size).translate(self._table)

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return self._fh.readline(size if size is not None else -1).translate(self._table)

    def close(self) -> None:
        self._fh.close()
        super().close()


#: the separator of a table aligned by runs of spaces (pandas' regular expression for any whitespace)
_WHITESPACE = r"\s+"


def _fields(line: str, sep: str) -> list[str]:
    """The fields of one line (quotes honoured; split plainly where the csv module refuses the line)."""
    if sep == _WHITESPACE:
        return line.split()
    try:
        return next(csv.reader([line], delimiter=sep), [])
    except csv.Error:
        return line.split(sep)


# Excel's separator directive, a first line "sep=;" in CSV written for Excel
_SEP_LINE = re.compile(r'"?sep=(.)"?\s*')


def _comment_lines(lines: list[str]) -> int:
    """How many lines starting with ``#`` open the file (a tool's preamble: version, date, command), an Excel
    ``sep=;`` directive first counted with them."""
    n = 1 if lines and _SEP_LINE.fullmatch(lines[0]) else 0
    while n < len(lines) and lines[n].startswith("#"):
        n += 1
    return n if n < len(lines) else 0


def _table_start(lines: list[str], sep: str) -> int:
    """The line a table's header is on after a ``#`` preamble: the first line after it, or the preamble's last
    line when the line after it is already data (a header written as ``#gene<TAB>s1...``)."""
    n = _comment_lines(lines)
    if not n:
        return 0
    values = [f for f in _fields(lines[n], sep)[1:] if f.strip()]
    is_data = bool(values) and all(pd.notna(pd.to_numeric(f.replace(",", "."), errors="coerce")) for f in values)
    return n - 1 if is_data else n


def _sniff_sep(lines: list[str], fmt: str) -> str:
    """Tab, ``;`` or ``,``: the first that splits the first lines into the same number (> 1) of fields; else a
    single space when the lines are a table of numbers separated by spaces (:func:`_space_separated`)."""
    lines = [ln for ln in lines[:20] if ln.strip()]
    if not lines:
        return "\t" if fmt in ("tsv", "gct") else ","
    cands = ("\t", ";", ",") if fmt != "csv" else (",", ";", "\t")
    for c in cands:
        try:
            counts = {len(r) for r in csv.reader(lines, delimiter=c)}
        except csv.Error:
            continue
        if len(counts) == 1 and counts.pop() > 1:
            # the first consistent candidate wins; the order puts the separator the file name implies first
            # (a ';' file with decimal commas never splits consistently on ',', the header has no commas)
            return c
    first = lines[0]
    best = max(cands, key=lambda c: first.count(c))
    if not first.count(best) and _space_separated(lines):
        return " "
    if not first.count(best) and _space_separated(lines, aligned=True):
        return _WHITESPACE
    return best if first.count(best) else ("\t" if fmt in ("tsv", "gct", "text") else ",")


def _space_separated(lines: list[str], *, aligned: bool = False) -> bool:
    """A table separated by single spaces, as R's ``write.table`` writes by default (quoted names, the header one
    field short of the rows: no field above the row names), or with ``aligned`` by runs of spaces (a table printed
    in columns: ``print(df)``, ``column -t``; no quotes): every row splits into the same number (> 2) of fields,
    the header into that many or one fewer, and the rows' values are numbers (so that a file of labels with
    spaces in them is not split)."""
    try:
        rows = [ln.split() for ln in lines] if aligned else list(csv.reader(lines, delimiter=" "))
    except csv.Error:
        return False
    if len(rows) < 2:
        return False
    widths = {len(r) for r in rows[1:]}
    if len(widths) != 1 or (n := widths.pop()) < 3 or len(rows[0]) not in (n, n - 1):
        return False
    values = [f for r in rows[1:] for f in r[1:]]
    return sum(pd.notna(pd.to_numeric(f, errors="coerce")) for f in values) >= 0.8 * len(values)


_DEC_COMMA = re.compile(r"^[+-]?\d*,\d+([eE][+-]?\d+)?$")
_DEC_POINT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?$")


_GROUPED = re.compile(r"^[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d+)?$")
_DOT_GROUPED = re.compile(r"^[+-]?[1-9]\d{0,2}(\.\d{3})+(,\d+)?$")
_SMALL_INT = re.compile(r"^[+-]?[1-9]\d{0,2}$")
_SPACE_GROUPED = re.compile(r"^[+-]?[1-9]\d{0,2}([ \u00a0\u202f]\d{3})+(,\d+)?$")
_SPACE_GROUPED_POINT = re.compile(r"^[+-]?[1-9]\d{0,2}([ \u00a0\u202f]\d{3})+(\.\d+)?$")
_APOSTROPHE_GROUPED = re.compile(r"^[+-]?[1-9]\d{0,2}(['\u2019]\d{3})+(\.\d+)?$")
_DIGIT_SPACE_DIGIT = re.compile(r"\d[ \u00a0\u202f]\d")
_DIGIT_APOSTROPHE_DIGIT = re.compile(r"\d['\u2019]\d")


#: a date written with points, as spreadsheets of the German, Swiss, Nordic and Eastern European locales write a
#: date cell as text (CLDR's short and medium date patterns ``dd.MM.yy``, ``d.M.y``; the Hungarian ``y.MM.dd.``):
#: day (1-31), month (1-12), a year of two or four digits, or a four-digit year first. No number format reads it
#: as written (the month is no group of three digits), and a thousands point would make a number of it (pandas
#: drops the points: 12.03.2021 read as 12032021), so it is a sample's annotation, never a value
_DATE = re.compile(r"(?:(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.(?:\d{2}|\d{4})"
                   r"|\d{4}\.(?:0?[1-9]|1[0-2])\.(?:0?[1-9]|[12]\d|3[01]))\.?")


def _mixed_both_ways(cells: list[list[str]], a: re.Pattern, b: re.Pattern) -> bool:
    """Whether some line and some column of ``cells`` each hold a value matching ``a`` and one matching ``b``."""
    def mixed(values) -> bool:
        return any(a.match(v) for v in values) and any(b.match(v) for v in values)

    width = max((len(r) for r in cells), default=0)
    return any(mixed(r) for r in cells) and any(mixed([r[j] for r in cells if j < len(r)]) for j in range(width))


def _sniff_numbers(lines: list[str], sep: str, *, n_lines: int = 20) -> tuple[str, str | None]:
    """The decimal mark and thousands separator of the values (fields after the first of up to ``n_lines``
    lines).

    Decimal commas (``1,5``) in a file not separated by commas, unless a value has a decimal point; ``1.234``
    beside them is a thousand and more (the European way: thousands ``"."``). Thousands commas (``43,567``,
    ``1,234,567``; spreadsheets export counts that way; in a comma-separated file only quoted values can hold one)
    when every value with a comma is grouped in threes after one to three digits and either one has two groups or
    a decimal part, or the values under a thousand are plain whole numbers (``512``: a decimal-comma file writes
    no plain numbers beside its ``5,446``) in one line and one column with a grouped value (a count's magnitudes,
    not a column of whole numbers of its own beside three-decimal values, :func:`_mixed_both_ways`); read as
    decimal commas they would be a thousandth of themselves.
    Thousands points alike where no value has a comma (``1.225`` beside ``512`` in a ``;`` file). In a
    comma-separated file, quoted values with a decimal comma (``"4,36"``) and none with a point are decimal.
    Thousands grouped by a space, plain or no-break: with decimal commas (``1 225,5``) in a ``;`` or tab file, with
    a decimal point (``1 225.5``) where a grouped value or, no value having a decimal comma, another has one, or
    in a comma-separated file. Thousands grouped by apostrophes, plain or typographic (``1'225.5``: Swiss
    spreadsheets), with a decimal point, where every such value is grouped in threes and no value has a decimal
    comma."""
    try:
        rows = ([_fields(ln, sep) for ln in lines[:n_lines]] if sep == _WHITESPACE
                else csv.reader(lines[:n_lines], delimiter=sep))
        # (a date written with points, 12.03.2021, is an annotation: it tells nothing of the values' format)
        cells = [["" if _DATE.fullmatch(f) else f for f in (f.strip() for f in row[1:])] for row in rows]
        fields = [f for row in cells for f in row]
    except csv.Error:
        return ".", None
    dec_comma = any(_DEC_COMMA.match(f) for f in fields)
    apostrophes = [f for f in fields if _DIGIT_APOSTROPHE_DIGIT.search(f)]
    if apostrophes and all(_APOSTROPHE_GROUPED.match(f) for f in apostrophes) and not dec_comma:
        # thousands grouped by apostrophes (1'225.5: Swiss spreadsheets, de-CH and it-CH; CLDR number symbols)
        return ".", "'"
    spaced = [f for f in fields if _DIGIT_SPACE_DIGIT.search(f)]
    if spaced and sep in (",", ";", "\t"):
        # thousands grouped by a space, plain or no-break: with a decimal comma (1 225,5: French and Swiss
        # spreadsheets) or a decimal point (1 225.5: the SI's digit groups, ISO 80000-1; English and Swiss locales)
        by_point = all(_SPACE_GROUPED_POINT.match(f) for f in spaced)
        by_comma = sep != "," and all(_SPACE_GROUPED.match(f) for f in spaced)
        point = any("." in f for f in spaced) or (not dec_comma and any(_DEC_POINT.match(f) for f in fields))
        if by_point and (point or not by_comma):
            return ".", " "
        if by_comma:
            return ",", " "
    decimal = "."
    if sep != ",":
        n_comma = sum(bool(_DEC_COMMA.match(f) or _DOT_GROUPED.match(f) and "," in f) for f in fields)
        n_point = sum(bool(_DEC_POINT.match(f)) and not _DOT_GROUPED.match(f) for f in fields)
        decimal = "," if n_comma and not n_point else "."
    if decimal == "," and any(_DOT_GROUPED.match(f) and "." in f for f in fields):
        return ",", "."
    with_comma = [f for f in fields if "," in f]
    if with_comma and all(_GROUPED.match(f) for f in with_comma) and (
            any(f.count(",") > 1 or "." in f for f in with_comma) or _mixed_both_ways(cells, _SMALL_INT, _GROUPED)):
        return ".", ","
    with_point = [f for f in fields if "." in f]
    if sep != "," and not with_comma and with_point and all(_DOT_GROUPED.match(f) for f in with_point) and (
            any(f.count(".") > 1 for f in with_point) or _mixed_both_ways(cells, _SMALL_INT, _DOT_GROUPED)):
        # whole numbers grouped by points (1.225 beside 512 in one sample's and in one gene's values: a European
        # spreadsheet's counts); decimal points beside plain whole numbers would not all fall in groups of three
        # after one to three digits, unless written with three decimals (7.000) beside a column of whole numbers of
        # its own (an age), which shares no column with the decimals
        return ",", "."
    if sep == "," and with_comma and all(_DEC_COMMA.match(f) for f in with_comma) and not any(
            _DEC_POINT.match(f) for f in fields):
        # decimal commas quoted in a comma-separated file (a spreadsheet of a European locale exporting CSV,
        # Google Sheets' "4,36" or pandas' to_csv(decimal=","))
        return ",", None
    return decimal, None


# ------------------------------------------------------------------------------------------ number formats

#: the number formats a table's values may be written in, as (decimal mark, thousands separator): pandas' own
#: (and R's, Excel's in English), then those of European spreadsheets (CLDR number symbols: German, French, Swiss)
_NumberFormat = tuple[str, str | None]
_NUMBER_FORMATS: tuple[_NumberFormat, ...] = ((".", None), (".", ","), (",", None), (",", "."), (",", " "),
                                              (".", " "), (".", "'"))


def _reads_as_written(decimal: str, thousands: str | None) -> re.Pattern:
    """A value that pandas reads as the number written with this decimal mark and thousands separator: digits
    (either plain or grouped in threes after one to three digits), a decimal part, an exponent. pandas drops a
    thousands separator wherever it stands (``0,5`` read with thousands commas is 5), so a separator outside
    groups of three is no value of the format."""
    d = re.escape(decimal)
    if thousands is None:
        whole = r"\d+"
    else:
        t = f"[{_GROUPS[thousands]}]" if thousands in _GROUPS else re.escape(thousands)
        whole = rf"(?:\d+|[1-9]\d{{0,2}}(?:{t}\d{{3}})+)"
    return re.compile(rf"[+-]?(?:{whole}(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?")


_READS = {f: _reads_as_written(*f) for f in _NUMBER_FORMATS}
_MARKS = re.compile(r"[.,]|\d[ \u00a0\u202f'\u2019]\d")
#: the thousands separators of each format that has one, in words
_THOUSANDS_WORDS = {",": "thousands commas", ".": "thousands points", " ": "thousands spaces",
                    "'": "thousands apostrophes"}


def _formats(sep: str) -> tuple[_NumberFormat, ...]:
    """The number formats a table separated by ``sep`` may be written in: thousands grouped by spaces never where
    spaces separate the fields (a space inside a field there is a separator, or a quoted text's)."""
    if sep not in (" ", _WHITESPACE):
        return _NUMBER_FORMATS
    return tuple(f for f in _NUMBER_FORMATS if f[1] != " ")


#: a field written as a number: a sign, digits with points, commas, spaces or apostrophes among them, an exponent
_NUMBER_LIKE = re.compile(r"[+-]?[.,]?\d[\d., \u00a0\u202f'\u2019]*(?:[eE][+-]?\d+)?")


def _read_by_pandas(v: str, fmt: _NumberFormat) -> str | None:
    """The number pandas makes of ``v`` (a stripped field that no format reads as written, :func:`_marked`) read
    in ``fmt``, as text with a decimal point; None where it makes none. pandas drops a thousands separator wherever
    it stands among the digits before the decimal mark (read with thousands spaces ``12 34`` is 1234, with
    thousands points ``1.234.5`` is 12345), so a format with a thousands separator makes numbers of such values
    that were never written; without one it makes none."""
    decimal, thousands = fmt
    if thousands is None:
        return None
    sign = v[:1] if v[:1] in ("+", "-") else ""
    body = v[len(sign):]
    if not body[:1].isdigit():
        return None
    cut = next((k for k, ch in enumerate(body) if ch == decimal or ch in "eE"), len(body))
    seps = _GROUPS.get(thousands, thousands)
    plain = sign + "".join(ch for ch in body[:cut] if ch not in seps) + body[cut:]
    return plain.replace(decimal, ".") if _READS[(decimal, None)].fullmatch(plain) else None


def _plain_numbers(s: pd.Series, fmt: _NumberFormat) -> pd.Series:
    """A column of text as numbers: its values written in the table's number format ``fmt`` as that format reads
    them (``1 234,5`` is 1234.5 in a file of thousands spaces and decimal commas, as pandas reads a column of
    them), the others as ``pd.to_numeric`` reads them; NaN where no number."""
    if fmt == (".", None):
        return pd.to_numeric(s, errors="coerce")
    decimal, thousands = fmt
    reads = _READS[fmt]
    drop = {ord(c): None for c in _GROUPS.get(thousands or "", thousands or "")}

    def plain(v: Any) -> Any:
        if isinstance(v, str) and reads.fullmatch(t := v.strip()):
            return t.translate(drop).replace(decimal, ".")
        return v

    return pd.to_numeric(s.map(plain), errors="coerce")
_QUOTED = re.compile(r'"([^"]*)"')


def _bad_thousands(decimal: str, thousands: str) -> re.Pattern:
    """A thousands separator (``,`` or ``.``) in a line's text where no value of its format has one: not before
    exactly three digits, not after a digit, after a run of digits that starts with 0 or has four or more, or
    after the decimal mark."""
    t, d = re.escape(thousands), re.escape(decimal)
    # every branch starts at the separator (or the decimal mark), which the search skips to; lookbehinds of fixed
    # width for the digits before it
    zero = "|".join(rf"(?<=0{x}{t})(?<![\d{t}]0{x}{t})" for x in ("", r"\d", r"\d\d"))
    return re.compile(rf"{t}(?:(?!\d{{3}}(?!\d))|(?<!\d{t})|(?<=\d{{4}}{t})|{zero})|{d}\d*{t}")


_BAD_THOUSANDS = {",": _bad_thousands(".", ","), ".": _bad_thousands(",", ".")}
#: two of one mark with only digits between them: a decimal mark read twice, or a second thousands separator
_TWO_MARKS = {",": re.compile(r",\d*,"), ".": re.compile(r"\.\d*\.")}
def _bad_groups(chars: str, decimal: str) -> re.Pattern:
    """One of ``chars`` (the spaces or the apostrophes a format groups thousands by) between digits where no value
    of that format has one: not before exactly three digits, after a run of four or more digits or of one to three
    that starts with 0, or after the decimal mark (as :func:`_bad_thousands`)."""
    g, d = f"[{chars}]", re.escape(decimal)
    zero = "|".join(rf"(?<=0{x}{g})(?<![\d{chars}]0{x}{g})" for x in ("", r"\d", r"\d\d"))
    return re.compile(rf"(?<=\d){g}(?=\d)(?:(?!\d{{3}}(?!\d))|(?<=\d{{4}}{g})|{zero})|{d}\d*{g}(?=\d)")


#: a space or an apostrophe between digits where no value of the format of that decimal mark has one
_BAD_SPACES = {",": _bad_groups(_SPACES, ","), ".": _bad_groups(_SPACES, ".")}
_BAD_APOSTROPHES = _bad_groups(_APOSTROPHES, ".")


def _has_space(text: str) -> bool:
    """Whether ``text`` holds a space a spreadsheet may group thousands by (a fast test before a pattern's)."""
    return " " in text or "\u00a0" in text or "\u202f" in text


def _has_apostrophe(text: str) -> bool:
    """Whether ``text`` holds an apostrophe a spreadsheet may group thousands by (a fast test before a pattern's)."""
    return "'" in text or "\u2019" in text


def _marked(v: str, sep: str) -> bool:
    """Whether ``v`` (a stripped field) is a number written with a decimal mark or a thousands separator that
    some number format reads: what tells the formats apart (``12``, ``NA`` or a gene name tells nothing). Spaces
    group thousands in no file whose fields spaces separate (:func:`_formats`)."""
    return _MARKS.search(v) is not None and any(_READS[f].fullmatch(v) for f in _formats(sep))


def _numbers_seen(lines: list[str], sep: str) -> bool:
    """Whether the values of ``lines`` (the fields after the first) hold a number with a mark
    (:func:`_marked`)."""
    return any(_MARKS.search(ln) and any(_marked(f.strip(), sep) for f in _fields(ln, sep)[1:]) for ln in lines)


def _number_kind(v: str) -> str:
    """What marks the number ``v`` is written with, in words."""
    for grouped, words in ((_DIGIT_SPACE_DIGIT, "thousands grouped by spaces"),
                           (_DIGIT_APOSTROPHE_DIGIT, "thousands apostrophes")):
        if grouped.search(v):
            return words + (" and a decimal comma" if "," in v else " and a decimal point" if "." in v else "")
    comma, point = v.rfind(","), v.rfind(".")
    if comma >= 0 and point >= 0:
        return "thousands commas and a decimal point" if point > comma else "thousands points and a decimal comma"
    mark, name = (",", "comma") if comma >= 0 else (".", "point")
    if v.count(mark) > 1:
        return f"thousands {name}s"
    if (_GROUPED if mark == "," else _DOT_GROUPED).match(v):
        return f"a {name} before three digits (a decimal or a thousands {name})"
    return f"a decimal {name}"


def _ends_quoted(line: str, sep: str, inside: bool = False) -> bool:
    """Whether ``line`` ends inside a quoted field (a line break in a quoted annotation: the record goes on on the
    next line), starting inside one or not (``inside``). A quote opens a field only at its start (after the
    separator or at the line's start, as pandas' and Python's csv parsers read it), and ``""`` inside one is a
    quote (RFC 4180)."""
    p = 0
    while (q := line.find('"', p)) >= 0:
        if inside:
            if line.startswith('"', q + 1):
                p = q + 2
                continue
            inside = False
        elif q == 0 or line[q - 1] == sep or (sep == _WHITESPACE and line[q - 1].isspace()):
            inside = True
        p = q + 1
    return inside


def _records(lines: Sequence[str], sep: str) -> list[tuple[int, str]]:
    """The records of ``lines`` (a file's first lines, line breaks taken off): each as its first line's number (from
    0) and its text, the lines of a quoted field with line breaks joined by ``\n``; a record the lines leave
    unended is left out."""
    out: list[tuple[int, str]] = []
    parts: list[str] = []   # the lines of the unended record
    start, inside = 0, False   # its first line, and whether it ends inside a quoted field
    for i, ln in enumerate(lines):
        if not parts:
            start = i
        parts.append(ln)
        inside = _ends_quoted(ln, sep, inside) if '"' in ln else inside
        if not inside:
            out.append((start, "\n".join(parts)))
            parts = []
    return out


class _Dates(NamedTuple):
    """The dates (:data:`_DATE`) among a text table's first values: the columns that hold one, by name (the samples
    as rows: a column of collection dates), and the rows of dates, by line (from 0) and fields (the samples as
    columns: a row of dates under the header)."""

    columns: list[str]
    rows: dict[int, list[str]]


def _dates(txt: _Text, header: Sequence[str], data_from: int) -> _Dates:
    """The dates among the values (fields after the first) of ``txt``'s first lines from line ``data_from`` (from
    0) on. A record whose values hold two dates or more, as many as half of them, and no number is a row of dates,
    kept where every record before it is one line (its line is then the one pandas skips), unless each of its dates
    stands in a column that another record's dates make a column of dates (a sample's annotations beside its
    missing values: the samples as rows); a date in another record makes its column a column of dates."""
    columns: dict[str, None] = {}
    candidates: list[tuple[int, list[str], list[str], bool]] = []   # (line, fields, dates' columns, one line)
    one_line = True   # whether every record so far is one line
    for k, rec in _records(txt.lines, txt.sep):
        one_line = one_line and "\n" not in rec
        if k < data_from or "." not in rec:
            continue
        fields = _fields(rec, txt.sep)
        values = [f.strip() for f in fields[1:]]
        dated = [_DATE.fullmatch(v) is not None for v in values]
        n = sum(dated)
        if not n:
            continue
        shift = 1 if len(fields) == len(header) + 1 else 0   # a header without a field above the ids
        names = [str(header[j - shift]) for j, d in enumerate(dated, start=1) if d and 0 < j - shift < len(header)]
        numbers = any(v and not d and _NUMBER_LIKE.fullmatch(v) for v, d in zip(values, dated))
        if not numbers and n >= 2 and 2 * n >= len(values):
            candidates.append((k, fields, names, one_line))
            continue
        columns.update(dict.fromkeys(names))
    rows: dict[int, list[str]] = {}
    for k, fields, names, whole in candidates:
        if names and all(c in columns for c in names) and len(names) == sum(
                _DATE.fullmatch(f.strip()) is not None for f in fields[1:]):
            continue   # dates in columns of dates: a record of the table, not a row of dates
        if whole:
            rows[k] = fields
    return _Dates(list(columns), rows)


#: the characters a value may hold that look like a plain space or none, by name
_UNSEEN = {"\u00a0": "a no-break space", "\u202f": "a narrow no-break space", "\u2009": "a thin space",
           "\u2007": "a figure space", "\u200b": "a zero-width space", "\ufeff": "a zero-width no-break space"}


def _shown(v: str) -> str:
    """``v`` (its first 40 characters) as a message names it: quoted, a character that looks like a plain space or
    none written as its code and named (``'1\\xa0234' (\\xa0: a no-break space)``), so that it can be found."""
    unseen = [c for c in _UNSEEN if c in v[:40]]
    return repr(v[:40]) + ("" if not unseen else " (" + ", ".join(
        f"{ascii(c)[1:-1]}: {_UNSEEN[c]}" for c in unseen) + ")")


class _Seen(NamedTuple):
    """A value with a mark, where it is: its line (from 1), field, row id and column name."""

    line: int
    field: int
    value: str
    row: str
    column: str

    def where(self) -> str:
        return f"{_shown(self.value)} at line {self.line}, column {self.column[:40]!r} (row {self.row[:40]!r})"


class _Renumber(Exception):  # noqa: N818 - a signal to read the table again, not an error
    """Values further on decide another number format than the one the table is being read with."""

    def __init__(self, fmt: _NumberFormat):
        super().__init__(fmt)
        self.fmt = fmt


#: lines with marked values (:func:`_marked`) the format is decided on, as the first lines decide it (_sniff_numbers)
_EVIDENCE_LINES = 20


class _NumberCheck:
    """The number format of a table's values (decimal mark, thousands separator) checked against every value as
    the table is parsed, so that no value is read as another number than the one written.

    The first lines decide the format (:func:`_sniff_numbers`). Where they hold no value with a mark (whole
    numbers, zeros: the first genes of a count table), the first lines further on that do decide it, as the first
    lines would have: up to 20 such lines, or those within the next 64 KiB of text. Every value with a mark is
    then checked: a value the format does not read as written (``1.225`` beside ``512`` read as 1.225 though the
    file groups thousands by points; ``0,5`` read with thousands commas as 5) makes the table read again in the
    format that reads every value seen so far as written, and a table that no format reads so (decimal points
    in some rows, decimal commas in others) is refused, naming the first value that contradicts the others. A value
    that no format reads as written and the table's thousands separator would make a number of (``12 34``: pandas
    drops the separator wherever it stands, 1234) is refused too, naming it.
    Lines are matched against the format by a fast test on their text before their fields are split, so a table
    written in one format costs one scan of its text besides the parse."""

    def __init__(self, txt: _Text, *, header: Sequence[str], data_from: int, first_value: int = 1,
                 text_columns: Sequence[str] = (), skip: Sequence[int] = ()):
        self.source, self.sep = txt.source, txt.sep
        self.formats = _formats(txt.sep)
        self.header = [str(h) for h in header]
        # read as text (a label column, a column of dates): no values of the matrix
        self.text_columns = frozenset(text_columns)
        self.skip = frozenset(skip)   # lines (from 0) the parse skips (a row of dates taken out as text)
        self.data_from, self.first_value = data_from, first_value
        self.context = txt.lines[data_from:]       # the first data lines, beside the evidence for the sniff
        self.decided = txt.numbers_decided
        self.witness: dict[_NumberFormat, _Seen] = {}   # each format's first value it does not read as written
        self.evidence: list[str] = []                  # the first lines with marked values
        fmt = (txt.decimal, txt.thousands)
        for k, rec in _records(txt.lines, self.sep):   # the first lines, known before the parse (:meth:`start`)
            if k >= data_from and k not in self.skip and self._suspect(rec, fmt, not self.decided):
                self._record(self._values(k, rec))

    # ------------------------------------------------------------------ one line
    def _rest(self, line: str) -> str:
        """The text of ``line`` after its id (and annotation) fields."""
        if self.sep == _WHITESPACE:
            parts = line.split(None, self.first_value)
        else:
            parts = line.split(self.sep, self.first_value)
        return parts[-1] if len(parts) > self.first_value else ""

    def _suspect(self, line: str, fmt: _NumberFormat, gathering: bool) -> bool:
        """Whether ``line`` may hold a marked value (``gathering``) or one that ``fmt`` does not read as written:
        a test on the text, true for every such line, false for nearly every line written in ``fmt``. Each format
        reads every marked value but those with a mark it does not have (a comma, a point, a group of digits after a
        space or an apostrophe), two decimal marks, or its thousands separator outside groups of three."""
        quoted = self.sep == ","   # commas separate the fields: a value's commas stand inside quotes
        spaced = self.sep in (",", ";", "\t")   # spaces are no field separator: a value may group digits by them
        if not ((quoted and '"' in line) or (not quoted and "," in line) or "." in line
                or (spaced and _has_space(line)) or _has_apostrophe(line)):
            return False
        rest = self._rest(line)
        commas = "\x1f".join(_QUOTED.findall(rest)) if quoted else rest   # the text a value's commas stand in
        spaces = rest if spaced else ""                                   # the text a value's space groups stand in
        space = _has_space(spaces) and _DIGIT_SPACE_DIGIT.search(spaces) is not None
        apostrophe = _has_apostrophe(rest) and _DIGIT_APOSTROPHE_DIGIT.search(rest) is not None
        if gathering:
            return "," in commas or "." in rest or space or apostrophe
        decimal, thousands = fmt
        if space and (thousands != " " or _BAD_SPACES[decimal].search(spaces) is not None):
            return True
        if apostrophe and (thousands != "'" or _BAD_APOSTROPHES.search(rest) is not None):
            return True
        if decimal == ".":
            return (_TWO_MARKS["."].search(rest) is not None
                    or ("," in commas if thousands != "," else _BAD_THOUSANDS[","].search(commas) is not None))
        if _TWO_MARKS[","].search(commas) is not None:
            return True
        return "." in rest if thousands != "." else _BAD_THOUSANDS["."].search(rest) is not None

    def _values(self, i: int, line: str, fmt: _NumberFormat | None = None) -> list[_Seen]:
        """The marked values of ``line`` (line ``i`` from 0) where they are. With ``fmt``, the format the table
        is read in, a value that no format reads as written and ``fmt`` makes a number of (:func:`_read_by_pandas`:
        ``12 34`` read with thousands spaces) is refused."""
        fields = _fields(line, self.sep)
        if not fields:
            return []
        shift = 1 if len(fields) == len(self.header) + 1 else 0   # a header without a field above the ids
        row = fields[0].strip()
        out = []
        breaks = "\n" in line   # a record over several lines: each value on the line it stands on
        for j in range(self.first_value, len(fields)):
            v = fields[j].strip()
            n = i + 1 + (sum(f.count("\n") for f in fields[:j]) if breaks else 0)
            marked = _marked(v, self.sep)
            misread = None
            if (not marked and fmt is not None and fmt[1] is not None and _MARKS.search(v) is not None
                    and _NUMBER_LIKE.fullmatch(v) is not None
                    and not any(_READS[f].fullmatch(v) for f in self.formats)):
                misread = _read_by_pandas(v, fmt)
            if marked or misread:
                k = j - shift
                column = self.header[k] if 0 <= k < len(self.header) else f"field {j + 1}"
                if column in self.text_columns:
                    continue
                if misread is not None and fmt is not None:
                    number = format(float(misread), ".15g")
                    if _DATE.fullmatch(v):
                        raise self._date(_Seen(n, j, v, row, column), fmt, number)
                    raise self._misgrouped(_Seen(n, j, v, row, column), fmt, number)
                out.append(_Seen(n, j, v, row, column))
        return out

    def line(self, i: int, line: str, fmt: _NumberFormat) -> bool:
        """Check line ``i`` (from 0) of the file read in ``fmt``; whether it holds marked values."""
        if i < self.data_from or not self._suspect(line, fmt, not self.decided) or i in self.skip:
            return False
        seen = self._values(i, line, fmt)
        if not seen:
            return False
        self._record(seen)
        if len(self.evidence) < _EVIDENCE_LINES:
            self.evidence.append(line)
        if len(self.witness) == len(self.formats):
            raise self._mixed()
        if self.decided and fmt in self.witness:
            self.decide(fmt, line)
        return True

    def _record(self, seen: list[_Seen]) -> None:
        """Note, for each format, the first of ``seen`` it does not read as written."""
        for s in seen:
            for f in self.formats:
                if not _READS[f].fullmatch(s.value) and (f not in self.witness or s < self.witness[f]):
                    self.witness[f] = s

    # ------------------------------------------------------------------ the decision
    def start(self, fmt: _NumberFormat) -> None:
        """Before a parse in ``fmt``: refuse a table whose first lines no format reads as written, and settle a
        format those lines contradict (the sniff weighs their values, it does not require every one read)."""
        if len(self.witness) == len(self.formats):
            raise self._mixed()
        if self.decided and fmt in self.witness:
            self.decide(fmt)

    def decide(self, fmt: _NumberFormat, line: str | None = None) -> None:
        """Settle the format on the values seen, the table being read in ``fmt``: of the formats that read them
        all as written, the one the sniff chooses on the first lines and the evidence (or the first), where the
        format was undecided or ``fmt`` is not one of them; else ``fmt``. Another format than ``fmt`` is read
        again (:class:`_Renumber`)."""
        fits = [f for f in self.formats if f not in self.witness]
        if not fits:
            raise self._mixed()
        if fmt not in fits or not self.decided:
            lines = self.context + self.evidence + ([line] if line is not None and line not in self.evidence else [])
            sniffed = _sniff_numbers(lines, self.sep, n_lines=len(lines))
            choice = sniffed if sniffed in fits else fits[0]
        else:
            choice = fmt
        self.decided = True
        if choice != fmt:
            raise _Renumber(choice)

    def _mixed(self) -> DataError:
        """The one-line error of a table no number format reads as written: the value at which the last format
        fell, and the first value before it that no format reading it reads too."""
        last = max(self.witness.values())
        other = min(self.witness[f] for f in self.formats if _READS[f].fullmatch(last.value))
        return DataError(f"{self.source}: {last.where()} has {_number_kind(last.value)}, but {other.where()} has "
                         f"{_number_kind(other.value)}: no number format reads both as written (the file mixes two "
                         "locales' numbers); write every value with one decimal mark and no thousands separators "
                         "(in a spreadsheet: give all value cells one number format and export again)")

    def _misgrouped(self, s: _Seen, fmt: _NumberFormat, number: str) -> DataError:
        """The one-line error of a value that no format reads as written, its thousands separators outside groups
        of three, which the table's format would read as another number (``number``)."""
        t = cast(str, fmt[1])
        return DataError(f"{self.source}: {s.where()} is no number as written: its digits are not grouped in threes "
                         f"after one to three (as in 12{t}345), yet read with the file's {_THOUSANDS_WORDS[t]} it "
                         f"would be {number}; write the value without thousands separators (in a spreadsheet: give "
                         "all value cells one number format and export again)")


    def _date(self, s: _Seen, fmt: _NumberFormat, number: str) -> DataError:
        """The one-line error of a date among the values (a column or row of dates whose first lines hold none, or
        a date in a column or row of numbers), which the table's thousands separator would read as ``number``."""
        t = cast(str, fmt[1])
        return DataError(f"{self.source}: {s.where()} is a date among the values, which the file's "
                         f"{_THOUSANDS_WORDS[t]} would read as the number {number}; give sample annotations such as "
                         "dates in a column (or --label-key row) of their own with a date in its first rows, or in a "
                         "label file (--labels), or write the dates as year-month-day (2021-03-12)")


class _Checked(io.TextIOBase):
    """A text stream whose lines are checked by a :class:`_NumberCheck` as they are read (by pandas: ``read``;
    a GCT's header lines: ``readline``), the evidence for an undecided format gathered up to its bounds."""

    def __init__(self, fh: io.TextIOBase, check: _NumberCheck, fmt: _NumberFormat):
        self._fh, self._check, self._fmt = fh, check, fmt
        self._tail: list[str] = []   # the start of a line not ended yet
        self._next = 0               # the number (from 0) of the next line
        self._open: list[str] = []   # the lines of a record whose quoted field goes on past them
        self._gathered: int | None = None   # characters read since the first marked value, while gathering

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        text = self._fh.read(size)
        self._see(text)
        return text

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        text = self._fh.readline(size if size is not None else -1)
        self._see(text)
        return text

    def close(self) -> None:
        self._fh.close()
        super().close()

    def _see(self, text: str) -> None:
        check = self._check
        if not text:   # the end of the file
            if self._tail:
                if self._open:
                    self._quoted("".join(self._tail))
                else:
                    self._one("".join(self._tail))
                self._tail = []
            if self._open:   # a quoted field the file leaves unended
                self._one("\n".join(self._open), len(self._open))
                self._open = []
            if not check.decided:
                check.decide(self._fmt)
            return
        if "\n" not in text:
            self._tail.append(text)
            lines = []
        else:
            lines = text.split("\n")
            lines[0] = "".join(self._tail) + lines[0]
            self._tail = [lines.pop()]
        if self._open or '"' in text:   # quoted fields, perhaps over several lines: checked a record at a time
            for ln in lines:
                self._quoted(ln)
        else:
            for ln in lines:
                self._one(ln)
        if self._gathered is not None and not check.decided:
            self._gathered += len(text)
            if len(check.evidence) >= _EVIDENCE_LINES or self._gathered > _HEAD_BYTES:
                check.decide(self._fmt)

    def _one(self, line: str, n_lines: int = 1) -> None:
        gathering = not self._check.decided
        if self._check.line(self._next, line.rstrip("\r"), self._fmt) and gathering and self._gathered is None:
            self._gathered = 0
        self._next += n_lines

    def _quoted(self, line: str) -> None:
        """Take ``line`` into the record it belongs to, and check the record once it ends."""
        sep = self._check.sep
        if not self._open and ('"' not in line or not _ends_quoted(line, sep)):
            self._one(line)
            return
        inside = bool(self._open)
        self._open.append(line)
        if inside and _ends_quoted(line, sep, inside=True):
            return
        if len(self._open) > 1:
            self._one("\n".join(self._open), len(self._open))
            self._open = []


def _one_line(e: BaseException) -> str:
    msg = str(e).strip()
    return msg.splitlines()[-1][:200] if msg else type(e).__name__


# ------------------------------------------------------------------------------------------ tables -> AnnData

def _gene_score(ids: Sequence[str]) -> float:
    """Fraction of ``ids`` that look like feature IDs: genes (symbols, Entrez, Ensembl) or non-gene features of
    known naming schemes (miRNAs, CpG sites, probes); 0 if no type is recognised."""
    ids = [str(x) for x in ids]
    if not ids:
        return 0.0
    t = _genes.detect_id_type(ids)
    if t == "other":
        # an id joined to a symbol (TCGA's legacy SYMBOL|ENTREZ, ENSEMBL|SYMBOL: read by the id, :func:`_pipe_ids`)
        return max(_genes.looks_like_features(ids), 1.0 if _combined_ids(ids) is not None else 0.0)
    if t in ("entrez", "mixed"):
        # sample IDs can be plain numbers too; only count IDs that are known genes
        _, rep = _genes.map_ids(ids, to="entrez", id_type=t)
        return rep.n_mapped / len(ids)
    return 1.0


def _check_not_annotations(adata, source: str) -> None:
    """Refuse a table of sample annotations read as data (GDC's clinical.tsv, a sample sheet: one numeric column,
    an age, beside text columns): one sample of features not named as features are, or one feature not so named,
    beside two or more text columns."""
    if adata.n_obs == 1 and adata.var.shape[1] >= 2 and _gene_score(list(adata.var_names)) < 0.5:
        numeric, text = str(adata.obs_names[0]), list(map(str, adata.var.columns))
    elif adata.n_vars == 1 and adata.obs.shape[1] >= 2 and _gene_score([str(adata.var_names[0])]) < 0.5:
        numeric, text = str(adata.var_names[0]), list(map(str, adata.obs.columns))
    else:
        return
    raise DataError(f"{source}: a table of sample annotations (clinical data, a sample sheet: one numeric column, "
                    f"{numeric[:40]!r}, beside {len(text)} text columns: {', '.join(text[:4])[:120]}), not expression "
                    "values; give it as the --labels of the expression data (--label-key one of its columns)")


#: a cell barcode in a sample name: 10x Genomics' 14-16 nt (Cell Ranger "AAACCTGAGAAGGCCT-1", velocyto
#: "sample:AAACCTGAGAAGGCCTx", scanpy's concatenation "AAACCTGAGAAGGCCT-1-0"), Drop-seq's 12 nt; Illumina sample
#: indexes in bulk sample names are 6-10 nt
_CELL_BARCODE = re.compile(r"(?<![A-Za-z])[ACGTN]{12,20}x?(?![A-Za-z])")


def _check_not_single_cells(adata, source: str) -> None:
    """Refuse single cells read as samples: at least 50 samples, nine in ten named by a cell barcode. A
    generator of bulk profiles trained on cells learns cells (sparse, with a depth per cell), not samples."""
    names = [str(o) for o in adata.obs_names]
    if len(names) < 50:
        return
    step = max(1, len(names) // 2000)   # a sample of the names of a large file is enough
    few = names[::step]
    hits = sum(bool(_CELL_BARCODE.search(n)) for n in few)
    if hits < 0.9 * len(few):
        return
    example = next(n for n in few if _CELL_BARCODE.search(n))
    raise DataError(f"{source}: its {len(names):,} samples are named by cell barcodes (e.g. {example[:40]!r}): "
                    "single cells, not bulk profiles; sum the cells of each sample first (Python: "
                    "scanpy.get.aggregate(adata, by='sample', func='sum'); R: scuttle::aggregateAcrossCells) and give "
                    "those profiles")


def _all_digits(ids: Sequence[str]) -> bool:
    return bool(len(ids)) and all(str(x).isdigit() for x in ids)


def _consecutive(ids: Sequence[str]) -> bool:
    """Whole numbers that are a run (1, 2, ..., n in any order; n >= 3): sample numbers, not Entrez ids."""
    v = sorted(int(str(x)) for x in ids)
    return len(v) >= 3 and v == list(range(v[0], v[0] + len(v)))


def _numbering(ids: Sequence[str]) -> bool:
    """Whole numbers that number things: a run 1..n, or numbers no larger than 3 times their count (a subset of
    numbered samples, 1, 3, 8, ...); Entrez ids of a gene set spread far wider (up to 10^8)."""
    if _consecutive(ids):
        return True
    v = [int(str(x)) for x in ids]
    return len(v) >= 3 and max(v) <= 3 * len(v)


def detect_orientation(row_ids: Sequence[str], col_ids: Sequence[str]) -> Literal["samples_x_genes", "genes_x_samples"]:
    """Decide whether a table is samples x genes or genes x samples.

    Feature-like identifiers (gene symbols, Entrez or Ensembl IDs; miRNA, CpG or probe names) on exactly one
    axis decide; otherwise the axis with more entries is taken as genes (bulk RNA-seq matrices have far more
    genes than samples). When both axes are whole numbers (Entrez ids against numbered samples), only an axis of
    which 90% are known Entrez ids, and not a run 1..n, decides over the size rule.
    """
    r, c = _gene_score(row_ids), _gene_score(col_ids)
    if _all_digits(row_ids) and _all_digits(col_ids):
        # Entrez ids and sample numbers look alike, and many small numbers are Entrez ids (1: A1BG, 2: A2M):
        # numbers that number things (R's write.csv row names, or a subset of them) are the samples; else only an
        # axis of near-certain genes outvotes the size rule below
        run_r, run_c = _numbering(row_ids), _numbering(col_ids)
        if run_r != run_c:
            return "samples_x_genes" if run_r else "genes_x_samples"
        r, c = (r if r >= 0.9 else 0.0), (c if c >= 0.9 else 0.0)
    if c >= 0.5 > r or (c >= 0.5 and r >= 0.5 and c > r):
        return "samples_x_genes"
    if r >= 0.5 > c or (c >= 0.5 and r >= 0.5 and r > c):
        return "genes_x_samples"
    # names that say what they are (sample_1, ..., gene_1, ...: simulated or anonymised tables)
    kr, kc = _axis_kind(row_ids), _axis_kind(col_ids)
    rows_are_samples, cols_are_samples = kr == "samples" or kc == "genes", kc == "samples" or kr == "genes"
    if rows_are_samples != cols_are_samples:
        return "samples_x_genes" if rows_are_samples else "genes_x_samples"
    return "samples_x_genes" if len(col_ids) >= len(row_ids) else "genes_x_samples"


#: ids that name their kind: a word, then a separator or digits (sample_1, Patient-07, gene12, probe_3)
_KIND_PREFIX = re.compile(r"(?P<word>[a-z]+)[ _.-]*\d", re.IGNORECASE)
_SAMPLE_WORDS = frozenset(("sample", "samples", "patient", "subject", "donor", "specimen", "case", "cell",
                           "individual", "replicate", "rep", "s"))
_GENE_WORDS = frozenset(("gene", "genes", "feature", "probe", "transcript", "g", "var", "variable"))


def _axis_kind(ids: Sequence[str]) -> str | None:
    """``"samples"`` or ``"genes"`` when every id is the same word naming that kind followed by a number
    (``sample_1``, ``gene_12``), else ``None``."""
    words = set()
    for x in ids:
        m = _KIND_PREFIX.match(str(x))
        if m is None:
            return None
        words.add(m.group("word").lower())
        if len(words) > 1:
            return None
    word = next(iter(words), None)
    return "samples" if word in _SAMPLE_WORDS else "genes" if word in _GENE_WORDS else None


def _lift_label_row(chunk: pd.DataFrame, label_key: str,
                    numbers: _NumberFormat = (".", None)) -> tuple[pd.DataFrame, np.ndarray | None]:
    """A parsed block of a genes x samples table without its row named ``label_key`` (a row of labels: text, or
    numeric class codes), the columns that row made text read as numbers again in the table's number format
    ``numbers`` where every other value of theirs is one (as :func:`_label_row` reads them), and the row's values by
    column; the block as it is, and ``None``, where no one row is named so."""
    idx = [str(x) for x in chunk.index]
    if idx.count(label_key) != 1 or chunk.shape[0] < 2:
        return chunk, None
    text = [j for j, dt in enumerate(chunk.dtypes.tolist()) if not pd.api.types.is_numeric_dtype(dt)]
    pos = idx.index(label_key)
    row = chunk.iloc[pos].astype(object).to_numpy()
    rest = chunk.drop(index=chunk.index[pos])
    return (_numbers_again(rest, text, numbers) if text else rest), row


def _numbers_again(rest: pd.DataFrame, text: list[int], numbers: _NumberFormat = (".", None)) -> pd.DataFrame:
    """``rest`` with each of its ``text`` columns (those a row of labels made text) as float32 numbers where every
    value of it is one as the table's number format ``numbers`` reads it (``1.230,5`` is 1230.5 in a file of
    thousands points and decimal commas, as the parse reads the columns the row leaves numeric:
    :func:`_plain_numbers`); built whole from its columns (set one at a time, each would split the frame's blocks
    again)."""
    columns: dict[int, Any] = {j: rest.iloc[:, j] for j in range(rest.shape[1])}
    for j in text:
        conv = _plain_numbers(rest.iloc[:, j], numbers)
        if conv.notna().sum() == rest.iloc[:, j].notna().sum():
            columns[j] = conv.astype(np.float32)
    out = pd.DataFrame(columns, index=rest.index)
    out.columns = rest.columns
    return out


def _label_row(df: pd.DataFrame, *, label_key: str | None, orientation: str, source: str,
               numbers: _NumberFormat = (".", None)) -> tuple[pd.DataFrame, pd.Series | None]:
    """A genes x samples table with a row of labels (``group, tumor, normal, ...`` under the header, as some
    GEO and portal tables put the class, or numeric class codes): the row named by ``label_key`` taken out as the
    samples' labels and the columns it made text read as numbers in the table's number format ``numbers``. Without
    ``label_key``, a leading row of text over numeric samples is refused naming it. Returns the table and the labels
    by sample (``None`` when there is no such row)."""
    text = [j for j, dt in enumerate(df.dtypes.tolist()) if not pd.api.types.is_numeric_dtype(dt)]
    if df.shape[0] < 2 or orientation == "samples_x_genes":
        return df, None
    idx = [str(x) for x in df.index]
    if label_key is not None and label_key not in [str(c) for c in df.columns] and idx.count(label_key) == 1:
        pos = idx.index(label_key)
        row = df.iloc[pos].astype(object)
        rest = _numbers_again(df.drop(index=df.index[pos]), text, numbers)
        samples = [str(c) for j, c in enumerate(df.columns) if pd.api.types.is_numeric_dtype(rest.dtypes.iloc[j])]
        row.index = [str(c) for c in df.columns]
        return rest, row[samples]
    if label_key is None and len(text) >= max(2, 0.8 * df.shape[1]):   # a label row makes every sample text
        for pos in range(min(5, df.shape[0])):
            vals = df.iloc[pos, text]
            below = df.iloc[pos + 1:pos + 6, text]
            if (pd.to_numeric(vals, errors="coerce").isna().all() and vals.notna().all()
                    and all(_mostly_numeric(below.iloc[:, k], numbers) for k in range(below.shape[1]))):
                raise DataError(f"{source}: row {idx[pos]!r} holds text for every sample ({str(vals.iloc[0])[:20]!r}, "
                                f"{str(vals.iloc[1])[:20]!r}, ...): if it is the labels, pass --label-key "
                                f"{shlex.quote(idx[pos])}, else remove the row")
    return df, None


def _numeric_columns(df: pd.DataFrame) -> tuple[list[int], list[int]]:
    """Positions of the numeric and of the other columns (positions: column names may repeat)."""
    num: list[int] = []
    other: list[int] = []
    for j, dt in enumerate(df.dtypes.tolist()):
        (num if pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt) else other).append(j)
    return num, other


def _mostly_numeric(s: pd.Series, numbers: _NumberFormat = (".", None)) -> bool:
    """A text column whose values are mostly numbers (written in the table's number format ``numbers``): a data
    column with a few stray values, not an annotation."""
    v = s.dropna()
    if not len(v):
        return False
    return float(_plain_numbers(v, numbers).notna().mean()) >= 0.5


#: the line of a table's value in its file and the value as written, from its row id, column name and text as
#: parsed (:func:`_line_of_value`)
_Locate = Callable[[str, str, str], "tuple[int, str] | None"]


def _line_of_value(txt: _Text, header: Sequence[str], row: str, column: str, value: str) -> tuple[int, str] | None:
    """The line (from 1) that ``value`` of the row ``row`` (its id) in ``column`` stands on in the text table
    ``txt`` (its column names ``header``), and the value as written there (a no-break space that the parse read as a
    plain one as written): its records read again with the csv module, a quoted field's line breaks counted and
    blank lines and a preamble passed, the first whose id is ``row`` and whose field in that column (else any field
    after the id) is ``value`` as parsed; None where none is. Read only to name a bad value."""
    names = [str(h).strip() for h in header]
    want = value.strip()
    table = _GROUPS_PLAIN.get(txt.thousands or "", {})
    try:
        with txt.open(plain=False) as fh:
            reader: Any = ((ln.split() for ln in fh) if txt.sep == _WHITESPACE
                           else csv.reader(fh, delimiter=txt.sep))
            end = 0
            for fields in reader:
                first, end = end + 1, (reader.line_num if txt.sep != _WHITESPACE else end + 1)
                if not fields or fields[0].strip() != row:
                    continue
                k = names.index(column) + (len(fields) == len(names) + 1) if column in names else -1
                j = k if 0 < k < len(fields) and fields[k].strip().translate(table) == want else next(
                    (j for j in range(1, len(fields)) if fields[j].strip().translate(table) == want), None)
                if j is not None:
                    return first + sum(f.count("\n") for f in fields[:j]), fields[j].strip()
    except (UnicodeDecodeError, csv.Error, OSError, EOFError, zlib.error, lzma.LZMAError):
        pass
    return None


def _bad_value(s: pd.Series, *, line_of_row: int, where: str, numbers: _NumberFormat = (".", None),
               locate: _Locate | None = None) -> str:
    """``'abc' at line 3, column 'EGFR' (sample 's2')``: the first non-numeric value of column ``s`` (the values
    written in the table's number format ``numbers`` are numbers), as written: its line and its text are the file's
    that ``locate`` finds it by (:func:`_line_of_value`), else its row's position after ``line_of_row`` (a table of
    one line per row) and its text as parsed."""
    conv = _plain_numbers(s, numbers)
    badmask = (conv.isna() & s.notna()).to_numpy()
    if not badmask.any():
        # every value converts, yet the column holds no numbers: a spreadsheet's text, True/False or date cells
        for pos, v in enumerate(s.tolist()):
            if isinstance(v, (bool, np.bool_)):
                what = "a True/False cell"
            elif isinstance(v, str):
                what = "a number stored as text: format the cells as numbers"
            elif hasattr(v, "year"):
                what = "a date or time"
            else:
                continue
            line, _ = (locate(str(s.index[pos]), str(s.name), str(v)) if locate else None) or (pos + line_of_row,
                                                                                                 "")
            return (f"{str(v)[:40]!r} ({what}) at line {line}, column {str(s.name)[:40]!r} ({where} "
                    f"{str(s.index[pos])[:40]!r})")
        return f"in column {str(s.name)[:40]!r} (values of type {s.dtype}, not numbers)"
    pos = int(np.flatnonzero(badmask)[0])
    v = str(s.iloc[pos])
    hint = ""
    try:
        if np.isinf(float(v)):
            hint = " (beyond the float64 range)"
    except ValueError:
        pass
    if _DEC_COMMA.match(v.strip()):
        hint = " (a decimal comma: write the file with decimal points, or separate fields with ';' or tabs)"
    elif _READS[(",", " ")].fullmatch(v.strip()) and _DIGIT_SPACE_DIGIT.search(v):
        hint = (" (thousands grouped by spaces, read only in a ';'- or tab-separated file of decimal commas: write the "
                "values without thousands separators)")
    elif _READS[(".", " ")].fullmatch(v.strip()) and _DIGIT_SPACE_DIGIT.search(v):
        hint = (" (thousands grouped by spaces, read only in a file separated by commas, ';' or tabs: write the values "
                "without thousands separators)")
    elif _DATE.fullmatch(v.strip()):
        hint = (" (a date among the values: give sample annotations in a column of their own, or in a label file: "
                "--labels)")
    elif _NUMBER_LIKE.fullmatch(v.strip()) and _MARKS.search(v.strip()):
        # digits with marks that no number format reads as written: a thousands separator outside groups of three
        # digits (12 34, 1.234.5), one in the decimal part (1,5 000), or marks of two locales (1 234.5)
        hint = (" (marks no number format reads as written: thousands separators stand only between groups of three "
                "digits after one to three, before one decimal mark; write the value with one decimal mark and no "
                "thousands separators)")
    elif v.strip().upper() in ("#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!"):
        hint = (" (a spreadsheet's formula error: fix the formula in the workbook, or write NA there and prepare with "
                "--missing impute|drop)")
    elif v.strip() in ("-", "--", ".", "?", "\u2013", "\u2014", "x", "X"):
        hint = (" (if it marks a missing value: write NA or leave the field empty, then prepare with --missing "
                "impute|drop)")
    # the value as written (its no-break spaces, which the parse reads as plain ones, shown and named)
    line, written = (locate(str(s.index[pos]), str(s.name), v) if locate else None) or (pos + line_of_row, v)
    return (f"{_shown(written)} at line {line}, column {str(s.name)[:40]!r} ({where} {str(s.index[pos])[:40]!r}){hint}")


def _require_numeric(df: pd.DataFrame, columns, *, line_of_row: int, source: str) -> None:
    """A one-line error naming the first non-numeric value of ``columns`` (genes x samples tables)."""
    for c in columns:
        if not pd.api.types.is_numeric_dtype(df[c].dtype):
            raise DataError(f"{source}: non-numeric value {_bad_value(df[c], line_of_row=line_of_row, where='gene')}; "
                            "fix or remove that value")


def _refuse_locale_marks(df: pd.DataFrame, columns, *, line_of_row: int, source: str, tool: str,
                         again: str) -> None:
    """A one-line error naming the first value of ``columns`` (text columns of a table that ``tool`` writes with
    decimal points and no thousands separators, one line per row) written with a decimal comma, a thousands
    separator or a space between digits: the table saved again by a spreadsheet of another locale. ``again``: how
    to get the table as ``tool`` writes it."""
    for c in columns:
        col = df[c]
        if pd.api.types.is_numeric_dtype(col.dtype):
            continue
        text = col.astype(str).str.strip()
        marked = (text.str.contains(",", regex=False) | text.str.contains(_DIGIT_SPACE_DIGIT)
                  | text.str.contains(_DIGIT_APOSTROPHE_DIGIT)) & text.map(
            lambda v: _NUMBER_LIKE.fullmatch(v) is not None)
        if marked.any():
            pos = int(np.flatnonzero(marked.to_numpy())[0])
            v = text.iloc[pos]
            raise DataError(f"{source}: {v[:40]!r} at line {pos + line_of_row}, column {str(c)[:40]!r} (row "
                            f"{str(col.index[pos])[:40]!r}) has {_number_kind(v)}, but {tool} writes numbers with a "
                            "decimal point and no thousands separators (the file saved again by a spreadsheet of "
                            f"another locale?); {again}, or write every value with a decimal point and no thousands "
                            "separators")


def _beyond_float32(X: np.ndarray) -> np.ndarray:
    """Where ``X`` holds a finite value beyond float32's range: from comparisons, one byte per value at a time (no
    float64 temporary such as ``np.abs(X)``: the size of ``X`` again)."""
    big = X > _F32_MAX
    big |= X < -_F32_MAX
    big &= np.isfinite(X)   # inf and -inf as written, not beyond the range
    return big


def _to_float32(X: np.ndarray, rows: Sequence[str], cols: Sequence[str], source: str) -> np.ndarray:
    """float64 -> float32, refusing finite values beyond float32's range (they would become inf)."""
    big = _beyond_float32(X)
    if big.any():
        i, j = np.argwhere(big)[0]
        raise DataError(f"{source}: {int(big.sum())} values beyond the float32 range (first {X[i, j]:g} at "
                        f"{str(rows[i])[:40]!r}, {str(cols[j])[:40]!r}); expression values are stored as float32 "
                        f"(|x| <= 3.4e38): rescale or log-transform them")
    return X.astype(np.float32)


#: values of a table's slice that :func:`_matrix` takes into float32 at a time
_SLICE_VALUES = 8 << 20


def _copy_on_write() -> contextlib.AbstractContextManager:
    """pandas' copy-on-write mode, in which a selection of columns that is one whole block, and that block's
    ``to_numpy()``, are views of it (pandas 2.x: its option set for the ``with`` block only; pandas >= 3 always
    copies on write and deprecates the option)."""
    if int(pd.__version__.split(".")[0]) >= 3:
        return contextlib.nullcontext()
    return pd.option_context("mode.copy_on_write", True)


def _writeable(X: np.ndarray) -> np.ndarray:
    """``X`` writeable: copy-on-write marks a view of a frame's block read-only, to keep the frame from changing
    through it; the matrix leaves the reader's frame, which is dropped, as its own (a copy where numpy refuses, the
    block itself being read-only)."""
    if not X.flags.writeable:
        try:
            X.flags.writeable = True
        except ValueError:
            X = X.copy()
    return X


def _matrix(df: pd.DataFrame, num: list[int], cols: list[str], source: str) -> np.ndarray:
    """The ``num`` columns as a float32 matrix: as they are when the reader cast them already (after its range
    check), else through float64 with the range check. Where some are not float32 (a gene named like a gene
    annotation, GC, that the reader left as parsed), filled a slice of about 8M values at a time, so that the
    matrix and the table are held with one slice's copy, not a float64 copy of the whole."""
    if all(dt == np.float32 for dt in df.dtypes.iloc[num]):
        with _copy_on_write():
            # the reader's float32 block itself where the ``num`` columns are the whole of it, in its order (a view,
            # laid out as the block: column by column), else one float32 copy; no float64 pass either way
            X = df.iloc[:, num].to_numpy(dtype=np.float32)
        return _writeable(X)
    out = np.empty((df.shape[0], len(num)), dtype=np.float32)
    step = max(1, _SLICE_VALUES // max(df.shape[0], 1))
    f32 = (df.dtypes.iloc[num] == np.float32).to_numpy()
    for a in range(0, len(num), step):
        # a slice's float32 columns as they are; the others through float64 and the range check
        pos = np.arange(a, min(a + step, len(num)))
        for k, checked in ((pos[f32[pos]], False), (pos[~f32[pos]], True)):
            if not len(k):
                continue
            part = df.iloc[:, [num[i] for i in k]]
            into = slice(k[0], k[-1] + 1) if k[-1] - k[0] + 1 == len(k) else k
            out[:, into] = _to_float32(part.to_numpy(dtype=np.float64), df.index, [cols[num[i]] for i in k],
                                       source) if checked else part.to_numpy(dtype=np.float32)
    return out


def _float32_chunk(chunk: pd.DataFrame, source: str, first: int = 0) -> pd.DataFrame:
    """A parsed block of lines with its numeric columns from position ``first`` on cast to float32 (a value
    beyond float32's range refused), so a large table is held once in float32 instead of float64; the other
    columns as parsed, and so are the columns named as gene annotations (:data:`_GENE_ANNOTATION`): float32 holds
    whole numbers exactly only up to 2^24, and Entrez ids reach 10^8 (LOC genes: 100287399)."""
    num = [j for j, dt in enumerate(chunk.dtypes.tolist())
           if j >= first and pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt)
           and not _GENE_ANNOTATION.fullmatch(str(chunk.columns[j]).strip())]
    if not num:
        return chunk
    vals = _to_float32(chunk.iloc[:, num].to_numpy(dtype=np.float64), chunk.index,
                       [str(chunk.columns[j]) for j in num], source)
    if len(num) == chunk.shape[1]:
        return pd.DataFrame(vals, index=chunk.index, columns=chunk.columns)
    # the cast columns as one block beside the others: set one at a time, each column would split the frame's block
    # again (quadratic in a wide table's columns: a gene named like an annotation, GC, among 18,000 symbols)
    cast = set(num)
    rest = [j for j in range(chunk.shape[1]) if j not in cast]
    out = _side_by_side([(pd.DataFrame(vals), num), (chunk.iloc[:, rest], rest)], chunk.index)
    out.columns = chunk.columns
    return out


def _side_by_side(parts: list[tuple[pd.DataFrame, list[int]]], index: pd.Index) -> pd.DataFrame:
    """One table of frames that each hold the columns at positions ``pos`` of it (``parts``: ``(frame, pos)``,
    every position once), joined side by side and taken into the table's order, its rows ``index``."""
    rows = pd.RangeIndex(len(index))
    joined = pd.concat([frame.set_axis(rows) for frame, _ in parts], axis=1)
    order = np.empty(joined.shape[1], dtype=np.int64)
    k = 0
    for _, pos in parts:
        order[pos] = np.arange(k, k + len(pos))
        k += len(pos)
    out = joined.iloc[:, order]
    out.index = index
    return out


def _frame_orientation(df: pd.DataFrame, *, cols: list[str], num: list[int], lab: int | None,
                       orientation: Orientation) -> str:
    """The layout of a table: the one given, else samples x genes when a column is named by the label key,
    else detected from what the row and column ids look like."""
    if orientation == "auto" and lab is not None:
        # a column named by the label key: rows are samples, whatever the ids look like
        return "samples_x_genes"
    if orientation == "auto":
        return detect_orientation(list(df.index), [cols[j] for j in num] or cols)
    return orientation


#: the ``uns`` key that carries the numeric annotation columns of a table (:func:`_numeric_covariates`) from
#: the table reader to the read record
_COVARIATES = "_rnagen_covariate_columns"
#: the read record's ``feature_ids`` of a GEO table whose ID_REFs are whole numbers: probe numbers of its platform
#: (GEOparse's example family, a mouse spotted array: probe 1 is Nfatc2, not Entrez 1, A1BG)
PLATFORM_PROBES = "platform probe numbers (ID_REF)"


def platform_probes(adata) -> bool:
    """Whether the features are a GEO platform's probe numbers (the read record's ``feature_ids``), not mapped to
    genes since (a feature map)."""
    from ..pp.history import get_history

    probes = False
    for h in get_history(adata):
        if h["step"] == "read":
            probes = h.get("feature_ids") == PLATFORM_PROBES
        elif h["step"] == "map_features":
            probes = False
    return probes


def feature_id_type(adata) -> _genes.IdType:
    """The features' id type (:func:`rnagen.data.genes.detect_id_type`), ``other`` for a GEO platform's probe
    numbers, which would read as Entrez ids."""
    return "other" if platform_probes(adata) else _genes.detect_id_type(adata.var_names)


#: the names of a sample's clinical and technical annotations (case, spaces, dots and underscores aside): among
#: columns named by gene symbols, a numeric column so named that is no known gene is such an annotation
_COVARIATE_NAME = re.compile(
    r"(age([_](at|of)[_]?(diagnosis|death|sampling|collection|onset|index|surgery))?([_]?(years?|yrs|months|days))?|"
    r"years[_]?(of[_])?age|bmi|body[_]?mass[_]?index|weight|height|(tumou?r[_]?)?purity|ploidy|(tumou?r[_]?)?(stage|"
    r"grade|size)|batch|rin|rin[_]?(score|value)|sex|gender|(overall[_])?survival([_]?(time|months|days|years))?|"
    r"(os|pfs|dfs|dss|rfs|efs)([_]?(time|months|days|years|status|event))?|days[_]?to[_]?[a-z_]+|vital[_]?status|"
    r"time|time[_]?point|status|event|tmb|msi([_]?score)?|pack[_]?years|dose|concentration|replicate|lane|plate|"
    r"run|sample[_]?(number|index)|patient[_]?(number|index))", re.IGNORECASE)


def _covariate_name(name: str) -> bool:
    """Is ``name`` the name of a sample annotation (:data:`_COVARIATE_NAME`): ``Age at diagnosis``, ``BMI``,
    ``tumor.purity``, ``OS_months``?"""
    return _COVARIATE_NAME.fullmatch(re.sub(r"[\s._-]+", "_", name.strip())) is not None


def _numeric_covariates(cols: list[str], num: list[int]) -> list[int]:
    """Numeric columns of a samples x genes table that are sample annotations, not genes: among columns named
    by Entrez or Ensembl ids (a pattern every gene id has), the few whose names are neither such an id nor any
    known gene (an age, a batch, a BMI); among columns named by gene symbols, where an unknown name may be a gene
    the shipped tables lack, the few that are no known gene and are named as a sample annotation is
    (:func:`_covariate_name`)."""
    if len(num) < 20:
        return []
    names = [cols[j] for j in num]
    kind = _genes.detect_id_type(names)
    if kind == "symbol":
        # named as annotations are (a clinical table pasted beside the genes): up to a tenth of the columns
        odd = [j for j in num if _covariate_name(cols[j]) and _gene_score([cols[j]]) == 0]
        return odd if len(odd) <= max(3, 0.1 * len(num)) else []
    if kind not in ("entrez", "ensembl", "ensembl_versioned"):
        return []
    from .._genes import _ENSEMBL_RE, _ENTREZ_RE

    pattern = _ENTREZ_RE if kind == "entrez" else _ENSEMBL_RE
    odd = [j for j in num if not pattern.match(cols[j]) and _gene_score([cols[j]]) == 0]
    return odd if len(odd) <= max(3, 0.02 * len(num)) else []


def _samples_x_genes(df: pd.DataFrame, *, cols: list[str], num: list[int], other: list[int], lab: int | None,
                     source: str, line: int, sep_hint: str, numbers: _NumberFormat = (".", None),
                     locate: _Locate | None = None) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Rows are samples: numeric columns are genes, the others sample annotations (a text column's numbers as the
    table's number format ``numbers`` writes them; a bad value's line as ``locate`` finds it); returns X, obs,
    var."""
    if lab is not None and lab in num:
        num.remove(lab)  # numeric class codes: a label, not a gene
        other.append(lab)
    # non-numeric columns are sample annotations (labels, splits), unless they hold mostly numbers or are
    # named like features: then a stray string broke a data column
    for j in other:
        c, col = cols[j], df.iloc[:, j]
        if j == lab:
            continue
        mostly = _mostly_numeric(col, numbers)
        if mostly or (num and _genes.looks_like_features([c]) > 0) or \
                (num and len(other) < len(cols) / 2 and _gene_score([c]) > 0):
            # a column of text named like a gene (GRP, SET, ...) may be a label column, not a broken gene column
            label_hint = "" if mostly else (f", or if column {str(c)[:40]!r} holds labels, name it as the label "
                                            "column (--label-key, label_key=)")
            value = _bad_value(col, line_of_row=line, where="sample", numbers=numbers, locate=locate)
            raise DataError(f"{source}: non-numeric value {value}; fix or remove that value{label_hint}")
    if not num:
        raise DataError(f"{source}: no numeric expression columns found; {sep_hint}, and that the first "
                        f"column holds sample IDs")
    X = _matrix(df, num, cols, source)
    obs = pd.DataFrame(index=df.index)
    for j in other:
        obs[cols[j]] = df.iloc[:, j].to_numpy() if j == lab else pd.Categorical(df.iloc[:, j].astype(object))
    var = pd.DataFrame(index=pd.Index([cols[j] for j in num]))
    return X, obs, var


# numeric gene annotations beside the samples (cBioPortal's Entrez_Gene_Id, featureCounts-like Length, Start,
# End): by their header, never a sample
_GENE_ANNOTATION = re.compile(r"(entrez([ _]?gene)?([ _]?ids?)?|ncbi[ _]?gene[ _]?id|gene[ _]?ids?|length|"
                              r"effective[ _]?length|transcript[ _]?length|start|end|chr(om(osome)?)?|strand|"
                              r"gc([ _]?content)?)", re.IGNORECASE)


def _genes_x_samples(df: pd.DataFrame, *, cols: list[str], num: list[int], other: list[int], source: str,
                     line: int, sep_hint: str, numbers: _NumberFormat = (".", None), locate: _Locate | None = None
                     ) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Rows are genes: numeric columns are samples (unless named as a gene annotation, :data:`_GENE_ANNOTATION`),
    the others gene annotations (e.g. symbol, Description; a text column of numbers as the table's number format
    ``numbers`` writes them is a sample with a stray value, its line as ``locate`` finds it); a gene without an id
    takes its Entrez id where a column gives one; returns X (samples x genes), obs, var."""
    annot = [j for j in num if _GENE_ANNOTATION.fullmatch(cols[j].strip())]
    num = [j for j in num if j not in annot]
    other = sorted(other + annot)
    no_id = np.asarray([_blank_id(x) for x in df.index])
    if no_id.any():
        entrez = next((j for j in annot if "entrez" in cols[j].lower() or "ncbi" in cols[j].lower()), None)
        if entrez is not None:
            ids = pd.to_numeric(df.iloc[:, entrez], errors="coerce")
            fill = no_id & ids.notna().to_numpy()
            df.index = pd.Index([str(int(ids.iloc[i])) if fill[i] else x for i, x in enumerate(df.index)])
            no_id &= ~fill
        _refuse_blank_ids(no_id, "gene", line=line, source=source)
    df.index = df.index.map(str)
    for j in other:
        if j in annot:
            continue
        if _mostly_numeric(df.iloc[:, j], numbers) or (df.shape[0] == 1 and _a_sample_column(j, cols, num)):
            value = _bad_value(df.iloc[:, j], line_of_row=line, where="gene", numbers=numbers, locate=locate)
            raise DataError(f"{source}: non-numeric value {value}; fix or remove that value")
    if not num:
        raise DataError(_no_sample_column(df, cols=cols, annot=annot, other=other, source=source,
                                          sep_hint=sep_hint))
    X = np.ascontiguousarray(_matrix(df, num, cols, source).T)
    var = pd.DataFrame(index=df.index)
    for j in other:
        var[cols[j]] = _whole_numbers(df.iloc[:, j]) if j in annot else df.iloc[:, j].astype(str).to_numpy()
    obs = pd.DataFrame(index=pd.Index([cols[j] for j in num]))
    return X, obs, var


def _no_sample_column(df: pd.DataFrame, *, cols: list[str], annot: list[int], other: list[int], source: str,
                      sep_hint: str) -> str:
    """The one-line refusal of a genes x samples table without a column of numbers to take as a sample (a file of
    one profile, a gene and a value column, reads as one sample): its numeric columns all named as gene
    annotations (:data:`_GENE_ANNOTATION`: a table of gene lengths or positions), or its columns after the ids
    all text (the value of a profile of one gene that is no number, a gene list with descriptions), each named
    with a value it holds."""
    if annot:
        named = ", ".join(repr(cols[j][:30]) for j in annot[:4])
        return (f"{source}: its numeric column{'s' if len(annot) > 1 else ''} ({named}) "
                f"{'are' if len(annot) > 1 else 'is'} named as a gene annotation (lengths, positions), and no other "
                f"column holds numbers: no sample to read; give a table with a column of values per sample (a "
                f"sample's column named as an annotation: rename it to the sample's name)")

    def shown(j: int) -> str:
        col = df.iloc[:, j].astype(str).str.strip()
        value = next((v for v in col if v and v.lower() not in ("nan", "none")), "")
        return f"{cols[j][:30]!r} ({_shown(value[:20])})" if value else f"{cols[j][:30]!r} (empty)"

    listed = ", ".join(shown(j) for j in other[:4]) + (", ..." if len(other) > 4 else "")
    return (f"{source}: no column of numbers to read as a sample (its columns after the gene ids: {listed}); "
            f"write each sample's values as numbers, one column per sample, or {sep_hint}")


def _name_shape(name: str) -> str:
    """A column name with its runs of digits as one mark, in one case: ``s1`` and ``S12`` alike."""
    return re.sub(r"\d+", "0", name.strip()).casefold()


def _a_sample_column(j: int, cols: list[str], num: list[int]) -> bool:
    """Whether the text column ``j`` of a one-gene genes x samples table is a sample with a value that is no
    number, not a gene annotation: its name is shaped as a sample column's (``s2`` beside ``s1``, ``s3``), or it
    stands between two sample columns (the numeric columns ``num``). One value cannot tell a text column from a
    sample's stray value as the mostly-numbers test of a longer table does (:func:`_mostly_numeric`)."""
    if not num:
        return False
    return min(num) < j < max(num) or _name_shape(cols[j]) in {_name_shape(cols[k]) for k in num}


def _whole_numbers(s: pd.Series) -> Any:
    """A numeric gene annotation as read (floats where the reader made them so), as integers where every value is
    whole (an Entrez id column: 7157, not 7157.0, so that it can name the genes), missing values kept."""
    v = pd.to_numeric(s, errors="coerce")
    seen = v.notna()
    if seen.any() and np.all(np.mod(v[seen].to_numpy(np.float64), 1) == 0):
        return v.astype("Int64").to_numpy()
    return s.to_numpy()


def _long_to_wide(df: pd.DataFrame, *, label_key: str | None, source: str) -> pd.DataFrame | None:
    """A long ("tidy") table, one line per sample and gene (ids, a second id column, one numeric value column,
    and the label column if named), as a samples x genes table: which id column holds the genes is told by
    :func:`detect_orientation`; a pair missing from the lines is a missing value. ``None`` for any other table.
    """
    num, other = _numeric_columns(df)
    lab = [j for j in other if str(df.columns[j]) == label_key]
    keys = [j for j in other if j not in lab]
    if len(num) == 2 and not keys:
        # genes named by Entrez ids: a numeric id column beside the value column, told apart by its values being
        # known genes that repeat once per sample, a grid of samples x genes (counts are whole numbers too, and
        # small ones name genes as well)
        n_samples = pd.Index(df.index).nunique()

        def id_column(j: int) -> bool:
            col = df.iloc[:, j]
            if not np.isfinite(col.to_numpy(np.float64)).all() or not np.array_equal(col, np.round(col)) or \
                    col.nunique() * n_samples > 2 * len(df):
                return False
            return _gene_score(list(col.astype(np.int64).astype(str).unique()[:200])) > 0.5

        ids = [j for j in num if id_column(j)]
        if len(ids) == 1:
            name = df.columns[ids[0]]
            df = df.copy()
            df[name] = df[name].astype(np.int64).astype(str)
            keys, num = ids, [j for j in num if j != ids[0]]
    if len(num) != 1 or len(keys) != 1 or not pd.Index(df.index).duplicated().any():
        return None
    a = pd.Index([str(x) for x in df.index])
    b = pd.Index(df.iloc[:, keys[0]].astype(str).to_numpy())
    if b.is_unique:
        return None
    pairs = pd.MultiIndex.from_arrays([a, b])
    if pairs.duplicated().any():
        i = int(np.flatnonzero(pairs.duplicated())[0])
        raise DataError(f"{source}: a long table (one line per sample and gene) with the pair ({a[i][:40]!r}, "
                        f"{b[i][:40]!r}) on two lines; keep one line per pair")
    ua, ub = a.unique(), b.unique()
    if len(df) < 0.5 * len(ua) * len(ub):
        return None  # not a grid of samples and genes: an annotated table with repeated ids
    samples_first = detect_orientation(list(ua), list(ub)) == "samples_x_genes"
    (us, ug), (s, g) = ((ua, ub), (a, b)) if samples_first else ((ub, ua), (b, a))
    M = np.full((len(us), len(ug)), np.nan)
    M[us.get_indexer(s), ug.get_indexer(g)] = df.iloc[:, num[0]].to_numpy(dtype=np.float64)
    out = pd.DataFrame(M, index=pd.Index(us, name=str(df.index.name) if samples_first else str(df.columns[keys[0]])),
                       columns=pd.Index(ug))
    if lab:
        per = pd.Series(df.iloc[:, lab[0]].to_numpy(), index=s).groupby(level=0, sort=False)
        mixed = per.nunique(dropna=False)
        if (mixed > 1).any():
            raise DataError(f"{source}: sample {mixed.index[mixed > 1][0][:40]!r} has several {label_key!r} labels in "
                            "this long table; give each sample one label")
        out.insert(0, str(label_key), per.first().reindex(us).to_numpy())
    return out


#: the index name the R readers give a data frame's row names
_R_ROWNAMES = "rownames"


def _row_numbers(df: pd.DataFrame, *, minimum: int = 3) -> bool:
    """Whether the rows are named by their numbers alone: 0..n-1 or 1..n (at least ``minimum`` rows) under an
    empty header (pandas' ``to_csv``, R's ``write.csv`` and automatic row names)."""
    name = "" if df.index.name is None else str(df.index.name)
    if name.strip() and not name.startswith("Unnamed:") and name != _R_ROWNAMES:
        return False
    idx = [str(x) for x in df.index]
    if len(idx) < minimum or not all(x.isdigit() for x in idx):
        return False
    v = [int(x) for x in idx]
    return v[0] in (0, 1) and v == list(range(v[0], v[0] + len(v)))


def _row_numbers_dropped(df: pd.DataFrame, *, label_key: str | None) -> pd.DataFrame:
    """A first column of row numbers (0..n-1 or 1..n under an empty header: pandas' ``to_csv`` and R's
    ``write.csv`` write them by default) before a column of distinct text ids: the ids become the index."""
    if df.shape[1] < 2 or str(df.columns[0]) == label_key or not _row_numbers(df, minimum=1):
        return df
    ids = df.iloc[:, 0]
    if pd.api.types.is_numeric_dtype(ids.dtype) or ids.isna().any() or ids.astype(str).duplicated().any() or \
            _mostly_numeric(ids.astype(str)):
        return df
    out = df.iloc[:, 1:]
    out.index = pd.Index(ids.astype(str).to_numpy(), name=str(df.columns[0]))
    return out


_FLOAT_ID = re.compile(r"\d+\.0")
_R_NAME_ID = re.compile(r"X\d+")


def _entrez_as_written(names: list[str]) -> list[str]:
    """Whole-number ids as their digits: written as floats (``9496.0``: a column that once held a missing value)
    or made syntactic names by R (``X9496``: ``make.names`` of a data frame's column names), where such names are
    at least 80% of ``names`` (the rest: annotation columns, kept) and, for R's, their digits mostly known Entrez
    ids (R's ``X1``, ``X2``, ... of unnamed columns stay). Other names as they are."""
    if len(names) < 2 or not all(isinstance(x, str) for x in names):
        return names
    for pattern, cut in ((_FLOAT_ID, slice(None, -2)), (_R_NAME_ID, slice(1, None))):
        hit = [bool(pattern.fullmatch(x)) for x in names]
        if sum(hit) < max(2, 0.8 * len(names)):
            continue
        digits = [x[cut] for x, h in zip(names, hit) if h]
        if pattern is _R_NAME_ID and (_consecutive(digits) or _gene_score(digits) < 0.5):
            continue
        return [x[cut] if h else x for x, h in zip(names, hit)]
    return names


def read_gene_list(path: str | os.PathLike, *, what: str = "gene list",
                   hint: str = "give 'landmarks', 'all' or a file with one gene id per line") -> list[str]:
    """Gene or feature ids of a list file: the first field of each line (comma or tab separated; spaces and quotes
    around it dropped), ``#`` comments, blank lines and a header line naming the column (``gene``, ``Gene Symbol``,
    ``entrez_id``...) skipped; decoded like any input text (BOM, UTF-16, UTF-8, Latin-1); Entrez ids written as
    floats (``7157.0``) as their digits. ``what`` names the file in errors, ``hint`` the way on for a missing one."""
    return _spools_pipes(_gene_list_ids)(path, what=what, hint=hint)


def _gene_list_ids(path: str | os.PathLike, *, what: str, hint: str) -> list[str]:
    p = Path(path)
    _check_file(p, what, hint)
    txt = _Text(p, sep="\t", fmt="tsv", n_lines=10**9)
    if txt.content_format is not None:
        raise DataError(f"{what} {str(path)!r} is a binary {txt.content_format} file; give a text file with one gene "
                        f"id per line")
    out = []
    with txt.open() as fh:
        for line in fh:
            f = line.split("#", 1)[0].replace(",", "\t").split("\t")[0].strip().strip("\"'").strip()
            if f:
                out.append(f)
    if out and out[0].lower().replace(" ", "_") in _LIST_HEADERS:
        out = out[1:]   # a header line naming the column
    if not out:
        raise DataError(f"{what} {str(path)!r} holds no gene ids; put one gene id per line")
    return _entrez_as_written(out)


#: the first line of a gene list that names its column rather than a gene
_LIST_HEADERS = frozenset(("gene", "genes", "gene_id", "gene_ids", "geneid", "gene_symbol", "gene_name", "symbol",
                           "symbols", "hgnc_symbol", "entrez", "entrez_id", "entrezid", "ensembl", "ensembl_id",
                           "ensembl_gene_id", "id", "ids", "name", "feature", "features", "probe", "probe_id",
                           "mirna", "x"))


def _ids_from_a_later_column(df: pd.DataFrame, *, label_key: str | None) -> pd.DataFrame:
    """A first column of classes (repeated values; the label key's column, or at most half as many values as
    rows beside numeric columns named as genes) with the sample ids in a later text column
    (``subtype,sample_id,TP53,...``): the ids taken from the one text column whose values are all distinct, the
    classes kept as a column under their header; with no text column beside it at all (``label,TP53,...``, a
    table written without its row names) the samples get ids ``sample_0``, ``sample_1``, ... in the file's
    order. A first column without a header takes the label key's name where no other column has it (the classes
    written as the row names, ``write.csv`` of a table whose row names are the classes). Any other table as it
    is."""
    idx = pd.Series([str(x).strip() for x in df.index])
    if len(idx) < 4 or not idx.duplicated().any():
        return df
    name = str(df.index.name) if df.index.name is not None else ""
    numeric = [str(c) for c, dt in zip(df.columns, df.dtypes.tolist()) if pd.api.types.is_numeric_dtype(dt)]
    # the label key's column, or few classes before columns named as genes (not a genes x samples table whose
    # first column repeats gene names: _unique_gene_ids takes its ids from another column)
    if not (name == label_key or (idx.nunique() <= len(idx) / 2 and numeric and _gene_score(numeric) >= 0.5)):
        return df
    if not name.strip() and label_key is not None and label_key not in map(str, df.columns):
        name = label_key
    unique = [j for j, dt in enumerate(df.dtypes.tolist()) if not pd.api.types.is_numeric_dtype(dt)
              and df.iloc[:, j].notna().all() and df.iloc[:, j].astype(str).str.strip().ne("").all()
              and not df.iloc[:, j].astype(str).str.strip().duplicated().any()
              and not _mostly_numeric(df.iloc[:, j].astype(str))]
    if not unique and len(numeric) == df.shape[1]:   # no id column at all: the rows in the file's order
        out = df.copy()
        out.insert(0, name or "label", df.index.to_numpy())
        out.index = pd.Index([f"sample_{i}" for i in range(len(out))])
        return out
    if len(unique) != 1:
        return df
    j = unique[0]
    out = df.copy()
    out.insert(0, name or "label", df.index.to_numpy())
    ids = out.iloc[:, j + 1].astype(str).str.strip().to_numpy()
    out = out.drop(columns=out.columns[j + 1])
    out.index = pd.Index(ids, name=str(df.columns[j]))
    return out


def _refuse_blank_ids(no_id: np.ndarray, what: str, *, line: int, source: str) -> None:
    """A one-line error for the rows (``no_id``, a mask) whose id cell is empty; ``line`` is the first row's."""
    if no_id.any():
        i = int(np.flatnonzero(no_id)[0])
        raise DataError(f"{source}: {int(no_id.sum())} {what}(s) without an id (the first at line {i + line}); give "
                        f"each {what} an id in the first column or remove those lines")


def _blank_id(x: Any) -> bool:
    """An empty cell where an id belongs (NaN, None or blank text)."""
    return x is None or (isinstance(x, float) and np.isnan(x)) or (isinstance(x, str) and not x.strip())


# the columns of differential-expression results: DESeq2 (results()), edgeR (topTags), limma (topTable), Seurat
# (FindMarkers); a table of them has one row per gene and no sample at all
_DE_COLUMNS = frozenset(c.lower() for c in (
    "baseMean", "log2FoldChange", "lfcSE", "pvalue", "padj", "logFC", "logCPM", "PValue", "FDR", "AveExpr",
    "P.Value", "adj.P.Val", "p_val", "avg_log2FC", "avg_logFC", "p_val_adj", "pct.1", "pct.2"))


def _refuse_result_table(columns: Sequence[str], source: str) -> None:
    found = [c for c in columns if str(c).strip().lower() in _DE_COLUMNS]
    if len(found) >= 3:
        raise DataError(f"{source}: a differential-expression result table ({', '.join(found[:4])}), not expression "
                        "profiles; give the matrix of values per sample the test was run on (counts or normalised "
                        "expression)")


# Illumina BeadArray exports: a detection p-value column after each sample (GEO's non-normalised tables:
# ID_REF, S1, Detection Pval, S2, Detection Pval, ...), or GenomeStudio's columns per sample (S1.AVG_Signal,
# S1.Detection Pval, S1.BEAD_STDERR, S1.Avg_NBEADS); the p-values and bead statistics are no samples
_DETECTION = re.compile(r"detection[ ._-]*(p[ ._-]*val(ue)?|call)?(\.\d+)?", re.IGNORECASE)
_GENOMESTUDIO = re.compile(r"(?P<sample>.+?)[._ ](?P<what>avg_signal|detection[ ._-]*p[ ._-]*val(ue)?|"
                           r"bead_std(err|ev)|avg_nbeads|narrays|array_stdev)", re.IGNORECASE)


def _unnamed(name: Any) -> bool:
    """A column without a name in its header: a blank field, or pandas' ``Unnamed: 5`` for one."""
    s = str(name).strip()
    return not s or re.fullmatch(r"Unnamed: \d+(_level_\d+)?", s) is not None


def _empty(values: pd.DataFrame | pd.Series) -> np.ndarray:
    """Per column of a frame (or for a series): whether every cell is empty (missing, or blank text)."""
    v = values.to_frame() if isinstance(values, pd.Series) else values
    blank = v.isna().to_numpy()
    for j in np.flatnonzero(~blank.all(axis=0)):
        col = v.iloc[:, j]
        if not pd.api.types.is_numeric_dtype(col.dtype):
            blank[:, j] |= col.map(lambda x: isinstance(x, str) and not x.strip()).to_numpy(dtype=bool)
    return blank.all(axis=0)


def _empty_margins(df: pd.DataFrame) -> tuple[pd.DataFrame, str, list[int]]:
    """``df`` without the columns that have neither a name nor a value and the rows that have neither an id nor a
    value: what a spreadsheet saved as CSV leaves of cells once formatted (``,,,`` lines under the table, a
    separator or two more at the end of every line), no sample or gene of the data. Returns the table, a note of
    what was dropped (``""`` when nothing) and the positions of the columns kept."""
    cols = [j for j, c in enumerate(df.columns) if _unnamed(c)]
    drop_cols = [cols[k] for k in np.flatnonzero(_empty(df.iloc[:, cols]))] if cols else []
    no_id = np.flatnonzero([_blank_id(x) for x in df.index])
    keep_cols = [j for j in range(df.shape[1]) if j not in set(drop_cols)]
    drop_rows = [i for i in no_id if _empty(df.iloc[i, keep_cols])[0]] if len(no_id) and keep_cols else []
    if not drop_cols and not drop_rows:
        return df, "", keep_cols
    out = df.iloc[[i for i in range(df.shape[0]) if i not in set(drop_rows)], keep_cols]
    parts = [f"{n} empty {what}{'s' if n > 1 else ''} without {name}"
             for n, what, name in ((len(drop_cols), "column", "a name"), (len(drop_rows), "line", "an id")) if n]
    return out, f" ({' and '.join(parts)} dropped)", keep_cols


def _refuse_unnamed_values(cols: list[str], num: list[int], *, what: str, source: str) -> None:
    """A column of numbers with no name in the header would be a {what} without a name: refused, naming where it
    is (the columns beside it), as a row's missing id is."""
    j = next((j for j in num if _unnamed(cols[j])), None)
    if j is None:
        return
    where = ", ".join(f"{side} {cols[k]!r}" for side, k in (("after", j - 1), ("before", j + 1))
                      if 0 <= k < len(cols) and not _unnamed(cols[k]))
    n = sum(_unnamed(cols[k]) for k in num)
    where = where or f"at position {j + 2}"
    raise DataError(f"{source}: {n} column{'s' if n > 1 else ''} of values without a name in the header "
                    f"({'the first ' if n > 1 else ''}{where}), which would be a {what} without an id; give "
                    f"{'each' if n > 1 else 'it'} a name in the header line or remove {'them' if n > 1 else 'it'}")


def _array_columns(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """An Illumina table's per-sample statistics dropped: GenomeStudio's columns reduced to each sample's
    AVG_Signal (named by the sample; numeric columns that are not a gene annotation, such as ARRAY_ADDRESS_ID,
    dropped too), a detection p-value column after each sample dropped. Returns the table and what was done
    (``""`` when nothing)."""
    cols = [str(c) for c in df.columns]
    gs = [_GENOMESTUDIO.fullmatch(c) for c in cols]
    signal = [m for m in gs if m is not None and m.group("what").lower() == "avg_signal"]
    if len(signal) >= 2:
        keep, names = [], []
        for j, (c, m) in enumerate(zip(cols, gs)):
            if m is not None and m.group("what").lower() == "avg_signal":
                keep.append(j)
                names.append(m.group("sample"))
            elif m is None and (not _mostly_numeric(df.iloc[:, j]) or _GENE_ANNOTATION.fullmatch(c)):
                keep.append(j)
                names.append(c)
        out = df.iloc[:, keep].set_axis(names, axis=1)
        return out, (f" (GenomeStudio: each of {len(signal)} samples' AVG_Signal; {len(cols) - len(keep)} other "
                     "columns dropped)")
    det = [j for j, c in enumerate(cols) if _DETECTION.fullmatch(c)]
    if not det:
        return df, ""
    out = df.iloc[:, [j for j in range(len(cols)) if j not in set(det)]]
    return out, f" ({len(det)} detection p-value columns dropped)"


def _frame_to_adata(df: pd.DataFrame, *, orientation: Orientation, source: str, label_key: str | None = None,
                    fmt: str = "csv", header_lines: int = 1, label_row: pd.Series | None = None,
                    numbers: _NumberFormat = (".", None), locate: _Locate | None = None):
    """A table with IDs in the index -> AnnData, splitting numeric data from annotation columns. ``label_row``: a
    row of labels the reader took out of ``df`` (:func:`_lift_label_row`), its values by ``df``'s columns;
    ``numbers``: the number format of a text table's values (decimal mark, thousands separator); ``locate``: a
    bad value's line in the text file (:func:`_line_of_value`)."""
    import anndata as ad

    # spaces around an id are padding (a fixed-width export, a hand-edited header), never part of the name
    df.columns = df.columns.map(lambda c: str(c).strip())
    df.index = pd.Index([x.strip() if isinstance(x, str) else x for x in df.index], name=df.index.name)
    df.columns = pd.Index(_entrez_as_written(list(df.columns)))
    if label_row is not None:   # named as the columns are, then followed through the steps below by name
        label_row = pd.Series(label_row.to_numpy(), index=df.columns, dtype=object)
    if all(isinstance(x, str) for x in df.index):
        df.index = pd.Index(_entrez_as_written(list(df.index)), name=df.index.name)
    _refuse_result_table(list(df.columns), source)
    df, empty_note, kept = _empty_margins(df)
    if label_row is not None:
        label_row = label_row.iloc[kept]
    df, array_note = _array_columns(df)
    array_note = empty_note + array_note
    df = _row_numbers_dropped(df, label_key=label_key)
    df = _ids_from_a_later_column(df, label_key=label_key)
    numbered = df.shape[0] if _row_numbers(df) else 0
    wide = _long_to_wide(df, label_key=label_key, source=source) if orientation == "auto" else None
    if wide is not None:
        df = wide
    binary = fmt in ("parquet", *_WORKBOOKS, "rds")
    # every command reads tables; only `rnagen data prepare` takes a separator (--sep), and writes an .h5ad
    sep_hint = ("check the file's columns" if binary else
                "check the separator (rnagen data prepare --sep names it) and the file format")
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise DataError(f"{source}: no data rows or columns found; {sep_hint}")
    if orientation not in _ORIENTATIONS:
        raise DataError(f"unknown orientation {orientation!r}; choose one of {', '.join(_ORIENTATIONS)}")
    if label_row is not None and wide is None:
        if list(label_row.index) != list(df.columns):   # a step above dropped or moved columns: followed by name
            if label_row.index.duplicated().any():
                dup = label_row.index[label_row.index.duplicated()][0]
                raise DataError(f"{source}: column {str(dup)[:40]!r} is named twice; give each sample one name")
            label_row = label_row.reindex(df.columns)
        numeric = [pd.api.types.is_numeric_dtype(dt) for dt in df.dtypes.tolist()]
        row_labels: pd.Series | None = pd.Series(label_row.to_numpy()[numeric],
                                                 index=[str(c) for c, k in zip(df.columns, numeric) if k])
    else:
        df, row_labels = _label_row(df, label_key=label_key, orientation=orientation, source=source,
                                    numbers=numbers)
    cols = [str(c) for c in df.columns]
    num, other = _numeric_columns(df)
    lab = cols.index(label_key) if label_key is not None and label_key in cols else None
    orient = _frame_orientation(df, cols=cols, num=num, lab=lab,
                                orientation="samples_x_genes" if wide is not None else
                                "genes_x_samples" if row_labels is not None else orientation)
    line = header_lines + 1
    _refuse_unnamed_values(cols, [j for j in num if j != lab], what="gene" if orient == "samples_x_genes" else
                           "sample", source=source)
    covariates: list[int] = []
    if orient == "samples_x_genes":
        _refuse_blank_ids(np.asarray([_blank_id(x) for x in df.index]), "sample", line=line, source=source)
        df.index = df.index.map(str)
        covariates = _numeric_covariates(cols, [j for j in num if j != lab])
        num = [j for j in num if j not in covariates]
        X, obs, var = _samples_x_genes(df, cols=cols, num=num, other=other, lab=lab, source=source, line=line,
                                       sep_hint=sep_hint, numbers=numbers, locate=locate)
        for j in covariates:
            col = df.iloc[:, j].to_numpy()
            # read as float32 with the data: a value's shortest float32 text is the file's (0.3, not 0.30000001)
            obs[cols[j]] = col.astype(str).astype(np.float64) if col.dtype == np.float32 else col
    else:
        if numbered:
            raise DataError(f"{source}: its rows are named only by their numbers (1 to {numbered}: R's automatic "
                            "row names, or the first column write.csv adds), which would be read as Entrez gene ids; "
                            "give the genes' ids as the first column (or row names), or --orientation samples_x_genes "
                            "if the rows are samples")
        X, obs, var = _genes_x_samples(df, cols=cols, num=num, other=other, source=source, line=line,
                                       sep_hint=sep_hint, numbers=numbers, locate=locate)
    obs.index.name = None
    var.index.name = None
    if row_labels is not None:   # a row of labels: the samples are the columns
        obs[str(label_key)] = row_labels.reindex(obs.index).to_numpy()
    with warnings.catch_warnings():
        # duplicated names are reported by validate() as a DataError; anndata's warning would only repeat it
        warnings.simplefilter("ignore", UserWarning)
        adata = ad.AnnData(X=X, obs=obs, var=var)
    if covariates:
        adata.uns[_COVARIATES] = [cols[j] for j in covariates]   # taken into the read record by read()
    return adata, ("long (one line per sample and gene)" if wide is not None else orient) + array_note


#: the column pandas writes a table's unnamed index to in a parquet or Feather file; a reader that finds no pandas
#: schema record beside it (the file rewritten by polars, DuckDB or a pyarrow table saved again) sees a column
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")


def _pandas_index(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its one ``__index_level_0__`` column (pandas' index, come back as a column) as its index again,
    as pandas reads the file it wrote: the sample ids, not an annotation beside numbered samples."""
    cols = [c for c in df.columns if _PANDAS_INDEX.fullmatch(str(c))]
    if len(cols) != 1 or not isinstance(df.index, pd.RangeIndex):
        return df
    df = df.set_index(cols[0])
    df.index.name = None
    return df


#: the most columns :func:`_arrow_frame` decodes at once
_PARQUET_COLUMNS = 512
#: the most columns other than the floating-point values that :func:`_arrow_frame` inserts one at a time beside
#: them (more: joined in one copy)
_PARQUET_INSERTS = 64


def _parquet_frame(path: Path, *, label_key: str | None) -> pd.DataFrame:
    """``pd.read_parquet(path)``, its floating-point columns decoded a batch at a time (:func:`_arrow_frame`)."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    return _arrow_frame(f.schema_arrow, source=path.name, label_key=label_key,
                        whole=lambda: pd.read_parquet(path),
                        others=lambda cols: pd.read_parquet(path, columns=cols),   # with the index pandas recorded
                        values=lambda cols: f.read(columns=cols, use_pandas_metadata=False))


def _feather_frame(path: Path, *, label_key: str | None) -> pd.DataFrame:
    """``pd.read_feather(path)``, its floating-point columns decoded a batch at a time (:func:`_arrow_frame`) from
    the file memory-mapped: an uncompressed Arrow IPC file's columns are read in place, a compressed one's (LZ4 or
    ZSTD buffers, pyarrow's default) decompressed only for the batch's columns. A Feather V1 file (not Arrow IPC;
    pyarrow's ``write_feather(version=1)``) is read whole."""
    import pyarrow as pa
    import pyarrow.feather as feather

    try:
        with pa.memory_map(str(path)) as src:
            schema = pa.ipc.open_file(src).schema
    except pa.ArrowInvalid:
        return pd.read_feather(path)
    index = _arrow_index(schema)

    def others(cols: list[str]) -> pd.DataFrame:
        # pd.read_feather, unlike pd.read_parquet, neither adds the index's columns to a selection nor takes an empty
        # one as no columns (it reads all): the index asked for, and one column for the rows where nothing else is
        return pd.read_feather(path, columns=[*index, *cols] or schema.names[:1])[cols]

    return _arrow_frame(schema, source=path.name, label_key=label_key,
                        whole=lambda: pd.read_feather(path), others=others,
                        values=lambda cols: feather.read_table(str(path), columns=cols, memory_map=True))


def _arrow_index(schema) -> list[str]:
    """The columns holding the index that pandas recorded in an Arrow schema (none for a RangeIndex, which it
    records by its bounds)."""
    return [c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)]


def _arrow_frame(schema, *, source: str, label_key: str | None, whole: Callable[[], pd.DataFrame],
                 others: Callable[[list[str]], pd.DataFrame], values: Callable[[list[str]], Any]) -> pd.DataFrame:
    """The table of a parquet or Feather file of Arrow ``schema`` as pandas reads it (``whole()``), its
    floating-point columns read a batch of about :data:`_SLICE_VALUES` values (at most :data:`_PARQUET_COLUMNS`
    columns) at a time (``values(names)``: a pyarrow table) and cast to float32 (a value beyond float32's range
    refused) into one block. pyarrow decodes a whole table into buffers several times the size of its values, then
    pandas copies them: a batch at a time, the peak is the float32 matrix and one batch. The block is laid out
    column by column, as pandas lays out its own, so that the frame is built around it without a copy, and the
    matrix taken from the frame (:func:`_matrix`) is the block itself, in either orientation. The index (from
    pandas' record in the file), the label column (numbers kept as written), columns named as gene annotations
    (whole-number ids, :data:`_GENE_ANNOTATION`) and every other column are read as pandas reads them
    (``others(names)``, with the index); a file whose columns repeat a name is read whole."""
    import pyarrow as pa

    names = list(schema.names)
    index = _arrow_index(schema)
    # a column named as a gene annotation stored in float32 or narrower (GC among gene symbols) joins the block:
    # float32 holds its values exactly, and a column beside the block would be a second block to join
    floats = [j for j, field in enumerate(schema) if pa.types.is_floating(field.type) and field.name not in index
              and field.name != label_key
              and (field.type.bit_width <= 32 or not _GENE_ANNOTATION.fullmatch(field.name.strip()))]
    if len(set(names)) != len(names) or not floats:
        return whole()
    cast = set(floats)
    rest = [j for j in range(len(names)) if j not in cast and names[j] not in index]
    other = others([names[j] for j in rest])
    n = len(other.index)
    X = np.empty((n, len(floats)), dtype=np.float32, order="F")
    # pyarrow's buffers per column decoded dwarf a short column's values: batches of at most _PARQUET_COLUMNS
    step = max(1, min(_SLICE_VALUES // max(n, 1), _PARQUET_COLUMNS))
    for a in range(0, len(floats), step):
        batch = [names[j] for j in floats[a:a + step]]
        table = values(batch)
        # column by column into the block: a float64 column checked against float32's range on its own, so that
        # the batch is not held again in float64; one beyond it: the batch's values refused as a whole
        # (_to_float32 names the first)
        beyond = False
        for k in range(len(batch)):
            col = table.column(k).to_numpy()   # nulls are NaN
            if col.dtype.itemsize > 4 and bool(_beyond_float32(col).any()):
                beyond = True
            elif not beyond:
                X[:, a + k] = col
        if beyond:
            _to_float32(np.column_stack([table.column(k).to_numpy() for k in range(len(batch))]).astype(np.float64),
                        other.index, batch, source)
        del table
        # pyarrow's Arrow IPC reader takes a column subset into a buffer the size of the record batch's whole body,
        # filled only where the columns asked for lie; freed, its touched pages stay with the allocator (mimalloc,
        # jemalloc) unless given back, and batch after batch they would add up to the file's size
        pa.default_memory_pool().release_unused()
    df = pd.DataFrame(X, index=other.index, columns=pd.Index([names[j] for j in floats], dtype=object), copy=False)
    # each column's place among the file's columns (the index's left out)
    pos = {j: k for k, j in enumerate(j for j in range(len(names)) if names[j] not in index)}
    if len(rest) <= _PARQUET_INSERTS:
        # each other column put at its place, in the order of those places: the float32 block is not copied (a
        # concatenation would copy it to join it with a float column of the others)
        for j in rest:
            df.insert(pos[j], names[j], other[names[j]])
        return df
    return _side_by_side([(other, [pos[j] for j in rest]), (df, [pos[j] for j in floats])], other.index)


def _read_parquet(path: Path, *, orientation: Orientation, label_key: str | None, fmt: str = "parquet"):
    """A parquet or Feather (Arrow IPC, pandas' ``to_feather``) table: the index (also one that came back as a
    ``__index_level_0__`` column), else a first text column, holds the ids."""
    source = path.name
    try:
        df = (_parquet_frame if fmt == "parquet" else _feather_frame)(path, label_key=label_key)
    except DataError:
        raise
    except Exception as e:  # pyarrow raises many types for a bad file
        raise DataError(f"{source}: not a readable {fmt} file ({type(e).__name__}: {_one_line(e)[:120]}); "
                        f"re-export it") from e
    df = _pandas_index(df)
    if isinstance(df.index, pd.RangeIndex) and df.shape[1] and not pd.api.types.is_numeric_dtype(df.iloc[:, 0]):
        df = df.set_index(df.columns[0])
    if df.columns.duplicated().any():
        df.columns = df.columns.map(str)
    adata, orient = _frame_to_adata(df, orientation=orientation, source=source, label_key=label_key, fmt="parquet")
    if fmt == "parquet":
        # rnagen's record of profiles it wrote (their log state, the model), kept in the schema's metadata
        from ..pp.history import adopt_table_record

        adopt_table_record(adata, _parquet_record(path), source)
    return adata, orient


def _parquet_record(path: Path) -> bytes | None:
    """The value of rnagen's key in a parquet file's schema metadata (:data:`rnagen.pp.history.TABLE_RECORD_KEY`),
    ``None`` where there is none."""
    import pyarrow.parquet as pq

    from ..pp.history import TABLE_RECORD_KEY

    meta = pq.read_schema(path).metadata or {}
    return meta.get(TABLE_RECORD_KEY)


# ------------------------------------------------------------------------------------------ Excel workbooks

#: the spreadsheet formats read through calamine: Excel's .xlsx and 97-2003 .xls, OpenDocument's .ods
_WORKBOOKS = ("xlsx", "xls", "ods")

def _excel_sheet(p: Path, sheet: str | None, *, what: str = "", fmt: str = "xlsx",
                 fits: Callable[[pd.DataFrame], bool] | None = None) -> pd.DataFrame:
    """One sheet of a workbook (``fmt``: ``.xlsx``, Excel 97-2003's ``.xls`` or OpenDocument's ``.ods``, all
    through calamine, a Rust reader several times faster than openpyxl) as cells (no header; empty cells and
    Excel's #N/A are NaN): the sheet named ``sheet``, else the workbook's only sheet, else the only one whose
    cells ``fits`` accepts (a label workbook's sheet naming the samples and the label column)."""
    source = f"{what}{p.name}"
    try:
        __import__("python_calamine")
    except ImportError as e:
        raise DataError(f"{source}: reading an Excel {'.' + fmt} workbook needs python-calamine (pip install "
                        "python-calamine); or save the sheet as CSV/TSV and give that file") from e
    chosen = None
    kind = "OpenDocument spreadsheet" if fmt == "ods" else "Excel workbook"
    try:
        with pd.ExcelFile(p, engine="calamine") as book:
            names = [str(s) for s in book.sheet_names]
            parsed: dict[str, pd.DataFrame] = {}
            if sheet is None and len(names) > 1 and fits is not None:
                for n in names:
                    # one sheet calamine cannot parse (a number stored as ' 41') does not make the others unreadable
                    with contextlib.suppress(Exception):
                        parsed[n] = book.parse(n, header=None)
                found = [n for n, cells in parsed.items() if fits(cells)]
                sheet = chosen = found[0] if len(found) == 1 else None
            if sheet is None and len(names) != 1:
                fix = ("none or several of them hold a table of numbers: choose one with --sheet NAME" if not what
                       else "none or several of them name the samples and the --label-key column: save the sheet of "
                            "labels as CSV/TSV")
                raise DataError(f"{source}: a workbook of {len(names)} sheets ({', '.join(map(repr, names[:10]))}); "
                                f"{fix}")
            if sheet is not None and sheet not in names:
                raise DataError(f"{source} has no sheet {sheet!r}; its sheets: {', '.join(map(repr, names[:10]))}")
            name = sheet if sheet is not None else names[0]
            try:
                cells = parsed[name] if name in parsed else book.parse(name, header=None)
            except Exception as e:  # noqa: BLE001 - calamine's errors on one sheet's cells
                raise DataError(f"{source}: its sheet {name!r} cannot be read ({type(e).__name__}: "
                                f"{_one_line(e)[:100]}); save that sheet as CSV/TSV, or the {kind} again from the "
                                "spreadsheet program") from e
    except RnagenError:
        raise
    except Exception as e:  # calamine's errors, zipfile.BadZipFile, KeyError: a damaged workbook
        raise DataError(f"{source}: not a readable {kind} ({type(e).__name__}: {_one_line(e)[:100]}); save it "
                        "again from the spreadsheet program, or the sheet as CSV/TSV") from e
    cells = cells.dropna(axis=0, how="all").dropna(axis=1, how="all")
    if chosen is not None:
        cells.attrs["chosen_sheet"] = chosen
    return cells


def _numeric_table(cells: pd.DataFrame) -> bool:
    """Whether a sheet's cells hold a table of numbers: at least 2 x 2 of them, most filled cells numbers (a
    README or a sheet of sample annotations is not)."""
    vals = cells.stack()
    num = pd.to_numeric(vals.astype(str).str.strip(), errors="coerce").notna()
    return int(num.sum()) >= 4 and float(num.mean()) >= 0.5 and cells.shape[0] >= 3 and cells.shape[1] >= 3


def _table_row(cells: pd.DataFrame) -> int:
    """The first row of a sheet's table: title rows above it fill one cell at most."""
    return int(np.argmax(cells.notna().sum(axis=1).to_numpy() >= 2))


def _group_row(top: list[str], head: list[str], data: list[str]) -> tuple[str, list[str]] | None:
    """A row of group names above the header, each written once over its group's first sample (a spreadsheet's
    merged cells: ``, Control, , , Treated, ,``) or over each of its samples (``, Control, Control, Treated,
    Treated``: fewer names than samples), then a header of distinct sample ids and a row of numbers: the name of
    the groups (the row's first field, else ``"group"``) and each sample column's group, forward-filled; else
    ``None``."""
    if len(head) < 3 or len(top) != len(head) or len(data) != len(head):
        return None
    names = [f.strip() for f in top[1:]]
    filled = [n for n in names if n]
    every = len(filled) == len(names) and len(set(filled)) < len(names)   # each sample's group written out
    if not names[0] or len(set(filled)) < 2 or (len(filled) > 0.6 * len(names) and not every):
        return None

    def number(v: str) -> bool:
        return bool(v.strip()) and bool(pd.notna(pd.to_numeric(v.strip().replace(",", "."), errors="coerce")))

    ids = [h.strip() for h in head[1:]]
    if any(not h or number(h) for h in ids) or sum(map(number, data[1:])) < 0.8 * (len(data) - 1):
        return None
    if every and len(set(ids)) < len(ids):   # not sample ids: another row of groups, or of labels
        return None
    groups, current = [], ""
    for n in names:
        current = n or current
        groups.append(current)
    return top[0].strip() or "group", groups


def _with_groups(adata, orient: str, header: list[str], grouped: tuple[str, list[str]] | None):
    """The groups of :func:`_group_row` as a categorical ``obs`` column (a label column: ``--label-key``) when
    the samples are the header's columns."""
    if grouped is None:
        return adata, orient
    key, groups = grouped
    of = dict(zip((h.strip() for h in header[1:]), groups))
    if key in adata.obs.columns or not all(str(o) in of for o in adata.obs_names):
        return adata, orient
    adata.obs[key] = pd.Categorical([of[str(o)] for o in adata.obs_names])
    return adata, f"{orient} (a row of groups above the header: obs {key!r})"


def _read_excel(p: Path, *, sheet: str | None, orientation: Orientation, label_key: str | None,
                fmt: str = "xlsx"):
    """An Excel sheet as a table: title lines above the header (a single filled cell) and footnotes below the
    data (a single filled cell holding a sentence) skipped, the first column the sample or gene ids."""
    source = p.name
    cells = _excel_sheet(p, sheet, fmt=fmt, fits=_numeric_table)
    chosen = cells.attrs.get("chosen_sheet")
    if cells.shape[0] < 2 or cells.shape[1] < 2:
        raise DataError(f"{source}: the sheet holds no table (a header row and a row per sample or gene); check the "
                        "sheet (--sheet)")
    filled = cells.notna().sum(axis=1).to_numpy()
    top = _table_row(cells)
    rows = [["" if pd.isna(v) else str(v) for v in cells.iloc[i]] for i in range(top, min(top + 3, len(cells)))]
    grouped = _group_row(*rows) if len(rows) == 3 else None
    top += grouped is not None
    end = len(cells)
    while end > top + 1 and filled[end - 1] == 1 and pd.notna(cells.iat[end - 1, 0]) and \
            " " in str(cells.iat[end - 1, 0]).strip():
        end -= 1
    header = ["" if pd.isna(h) else str(h) for h in cells.iloc[top]]
    df = cells.iloc[top + 1:end].copy()
    # columns empty in the table's header and rows (a title in column A above a table that starts in column B)
    used = [j for j in range(df.shape[1]) if header[j].strip() or df.iloc[:, j].notna().any()]
    df, header = df.iloc[:, used], [header[j] for j in used]
    df.columns = pd.Index(header)
    # the first column by position: a blank header shared with another column made a two-level index of tuples
    ids = df.iloc[:, 0]
    df = df.iloc[:, 1:].set_axis(pd.Index(ids.to_numpy(), name=header[0]), axis=0).infer_objects()
    df.index = pd.Index(["" if pd.isna(x) else str(x) for x in df.index])
    if df.shape[0] == 0:
        raise DataError(f"{source}: header row only, no data rows; give one row per sample or gene")
    adata, orient = _frame_to_adata(df, orientation=orientation, source=source, label_key=label_key, fmt=fmt,
                                    header_lines=int(cells.index[top]) + 1)
    adata, orient = _with_groups(adata, orient, header, grouped)
    return adata, orient + (f" (sheet {chosen!r}, the workbook's only table of numbers)" if chosen else "")


# ------------------------------------------------------------------------------------------ R data files

# R's serialisation (saveRDS: "X\n" then the format version; save: "RDX2\n"/"RDX3\n"), after decompression
_R_SAVE = (b"RDX2\n", b"RDX3\n", b"RDA2\n", b"RDA3\n", b"RDB2\n", b"RDB3\n")

# Bioconductor's containers (S4 classes, or lists with a class) that pyreadr cannot read, most specific first,
# each with the R line that writes its matrix as a table rnagen reads
_R_CONTAINERS = (
    ("SingleCellExperiment", "single-cell data: sum the cells of each sample first (scuttle::aggregateAcrossCells), "
                             'then write.csv(SummarizedExperiment::assay(x, 1), "counts.csv")'),
    ("DESeqDataSet", 'write.csv(DESeq2::counts(x), "counts.csv") and write.csv(as.data.frame(colData(x)), '
                     '"samples.csv")'),
    ("RangedSummarizedExperiment", 'write.csv(SummarizedExperiment::assay(x, 1), "counts.csv") and '
                                   'write.csv(as.data.frame(SummarizedExperiment::colData(x)), "samples.csv")'),
    ("SummarizedExperiment", 'write.csv(SummarizedExperiment::assay(x, 1), "counts.csv") and '
                             'write.csv(as.data.frame(SummarizedExperiment::colData(x)), "samples.csv")'),
    ("ExpressionSet", 'write.csv(Biobase::exprs(x), "expression.csv") and write.csv(Biobase::pData(x), '
                      '"samples.csv")'),
    ("DGEList", 'write.csv(x$counts, "counts.csv") and write.csv(x$samples, "samples.csv")'),
    ("EList", 'write.csv(x$E, "expression.csv") (limma-voom log-CPM) and write.csv(x$targets, "samples.csv")'),
    ("Seurat", "single-cell data: sum the cells of each sample first (Seurat::AggregateExpression), then write "
               "the summed counts with write.csv"),
)


def _is_r_data(head: bytes) -> bool:
    """R's binary (XDR ``X``, native ``B``) or text (``A``) serialisation, or a ``save()`` workspace."""
    if head.startswith(_R_SAVE):
        return True
    if head[:2] in (b"X\n", b"B\n"):
        return head[2:6] in (b"\x00\x00\x00\x02", b"\x00\x00\x00\x03", b"\x02\x00\x00\x00", b"\x03\x00\x00\x00")
    return re.match(rb"A\n[23]\n\d+\n\d+\n", head) is not None


#: the containers that are lists with a class (S3); the others are S4 objects
_R_S3_CONTAINERS = ("DGEList", "EList")
_S4SXP, _VECSXP = 25, 19


def _rds_top_type(p: Path) -> int | None:
    """The SEXP type of an ``.rds`` file's object (R's serialisation: the header, then the object's flags, whose
    low byte is its type), ``None`` for a ``save()`` workspace or a header not read."""
    import struct

    head = _raw_head(p, _compression(p), 64)
    order = {b"X\n": ">i", b"B\n": "<i"}.get(head[:2])
    if order is None or len(head) < 18:
        return None
    version = struct.unpack(order, head[2:6])[0]
    at = 14
    if version == 3:   # the native encoding's name follows the three version numbers
        at = 18 + struct.unpack(order, head[14:18])[0]
    if len(head) < at + 4:
        return None
    return struct.unpack(order, head[at:at + 4])[0] & 0xFF


def _r_container(p: Path) -> str | None:
    """The Bioconductor container class an R file holds, found by its name in the serialised stream as a string of
    its own (R writes a string's length before its bytes: a name inside a longer text, as package indices hold,
    is no class)."""
    import struct

    names = [struct.pack(order, len(n)) + n.encode() for n, _ in _R_CONTAINERS for order in (">i", "<i")]
    found: set[bytes] = set()
    comp = _compression(p)
    tail = b""
    with (_OPENERS[comp](p, "rb") if comp else open(p, "rb")) as fh:
        while len(found) < len(names):
            block = fh.read(1 << 22)
            if not block:
                break
            chunk = tail + block
            found.update(n for n in names if n in chunk)
            tail = chunk[-64:]
    top = _rds_top_type(p)
    # an .rds's own object decides: an S4 object is one of the S4 classes, a list one of the list classes, anything
    # else none (a package's index lists class names as text)
    allowed = [n for n, _ in _R_CONTAINERS if top is None or (top == _S4SXP and n not in _R_S3_CONTAINERS)
               or (top == _VECSXP and n in _R_S3_CONTAINERS)]
    return next((n for n in allowed if any(f.endswith(n.encode()) and len(f) == len(n) + 4 for f in found)), None)


def _r_objects(p: Path, what: str = "") -> dict[str, pd.DataFrame]:
    """The tables (matrices, data frames, factors) of an ``.rds`` or ``.RData`` file, by object name (``""`` for
    an ``.rds``), through pyreadr (librdata)."""
    source = f"{what}{p.name}"
    try:
        import pyreadr
    except ImportError as e:
        raise DataError(f"{source}: reading R's .rds/.RData needs pyreadr (pip install pyreadr); or write the table "
                        "from R with write.csv") from e
    error: Exception | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # "no readable objects": said below, with the way on
            found = pyreadr.read_r(str(p))
    except Exception as e:   # pyreadr's LibrdataError (an object it does not read, a damaged file), OSError
        error, found = e, {}
    if found:
        return {"" if k is None else str(k): v for k, v in found.items()}
    # nothing read: an S4 object or a list (pyreadr skips them, or raises in its older releases), R's text form,
    # or a damaged file
    head = _raw_head(p, _compression(p), 8)
    if head.startswith((b"B\n", b"RDB")):
        raise DataError(f"{source}: saved in R's native binary form (saveRDS(x, file, xdr = FALSE)), which is not "
                        "read; save it again with saveRDS(x, file) (or save(x, file = ...))") from error
    if head.startswith((b"A\n", b"RDA")):
        raise DataError(f"{source}: saved in R's text form (ascii = TRUE), which is not read; save it again in R's "
                        "binary form (saveRDS(x, file) or save(x, file = ...))") from error
    try:
        container = _r_container(p)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError):
        container = None
    if container is not None:
        how = dict(_R_CONTAINERS)[container]
        get = (f"load(\"{p.name}\"), x being the object" if head.startswith(_R_SAVE) else
               f"x <- readRDS(\"{p.name}\")")
        raise DataError(f"{source}: an R {container} object, not a matrix or data frame; in R, {get}; {how}, and "
                        "give those files") from error
    why = f" (or a damaged file: {_one_line(error)[:80]})" if error is not None else ""
    raise DataError(f"{source}: an R object that is not a matrix, data frame or factor{why}; in R, write the matrix "
                    "with write.csv(m, \"counts.csv\")") from error


def _r_table(p: Path, *, obj: str | None, what: str = "") -> pd.DataFrame:
    """The one table of an R file: its ``.rds`` object, or the ``.RData`` object named ``obj``, else the only one
    holding numbers in more than one column."""
    source = f"{what}{p.name}"
    found = _r_objects(p, what)
    if obj is not None:
        if obj not in found:
            names = ", ".join(repr(k) for k in found if k)
            raise DataError(f"{source} has no object {obj!r}" + (f"; its tables: {names}" if names else
                                                                  "; an .rds holds one object: remove --object"))
        return found[obj]
    if len(found) == 1:
        return next(iter(found.values()))
    tables = [k for k, v in found.items() if sum(pd.api.types.is_numeric_dtype(t) for t in v.dtypes) > 1]
    if len(tables) != 1:
        names = ", ".join(repr(k) for k in (tables or list(found))[:10])
        raise DataError(f"{source}: {len(tables) or len(found)} tables ({names}); choose one with --object NAME")
    return found[tables[0]]


def _r_label_rows(p: Path) -> pd.DataFrame:
    """An R label file as the text rows of a label table: a data frame (its row names first, as ``colData`` is
    written) with a header row, or a factor or vector of labels in sample order. In a workspace the one table
    with a text (factor or character) column."""
    found = _r_objects(p, "label file ")
    if len(found) > 1:
        texts = [k for k, v in found.items() if not all(pd.api.types.is_numeric_dtype(t) for t in v.dtypes)]
        if len(texts) != 1:
            raise DataError(f"label file {p.name}: {len(texts) or len(found)} tables "
                            f"({', '.join(repr(k) for k in (texts or list(found))[:10])}); save the sample table "
                            "alone (saveRDS(coldata, 'samples.rds')) or as CSV")
        found = {texts[0]: found[texts[0]]}
    return _frame_label_rows(next(iter(found.values())))


def _h5ad_obs(p: Path) -> pd.DataFrame:
    """The sample annotations of an .h5ad (``obs``), a GCTX (its column metadata) or a loom file (its column
    attributes) given as a label file, the matrix left unread; the samples' ids a named first column."""
    import anndata as ad
    import h5py

    kind = "gctx" if _is_gctx(p) else "loom" if _is_loom(p) else None
    if kind is not None:
        try:
            with h5py.File(p, "r") as f:
                if kind == "gctx":   # a CMap GCTX's sample metadata
                    ids = _h5_strings(f["0/META/COL/id"])
                    obs = _gctx_meta(f["0/META/COL"], len(ids), p.name, "sample")
                    obs.index = pd.Index(ids)
                else:   # a loom's column attributes
                    obs = _loom_attrs(f["col_attrs"], f["matrix"].shape[1])
        except DataError:
            raise
        except _H5_ERRORS as e:
            raise DataError(f"label file {p.name}: cannot read it ({type(e).__name__}: {_one_line(e)[:80]}); check "
                            "that it is complete") from e
        if kind == "gctx" and obs.shape[1] == 0:
            raise DataError(f"label file {p.name}: a GCTX without sample metadata (only /0/META/COL/id); give the "
                            "release's sample table (sig_info.txt, inst_info.txt)")
        if kind == "loom":
            key = next((k for k in _LOOM_SAMPLE_NAMES if k in obs.columns), None)
            if key is None or obs.shape[1] < 2:
                raise DataError(f"label file {p.name}: a loom file without sample names and annotations (col_attrs "
                                f"{', '.join(obs.columns) or 'empty'}); give a file with sample id and label columns")
            obs.index = pd.Index([str(x) for x in obs.pop(key)])
        obs.index.name = "sample"
        return obs
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # repeated names: the label rows' own checks say so
            a = ad.read_h5ad(p, backed="r")
            obs = a.obs.copy()
            a.file.close()
    except Exception as e:  # h5py's and anndata's errors for a file that is no AnnData
        raise DataError(f"label file {p.name}: not a readable .h5ad file ({type(e).__name__}); give a CSV/TSV "
                        "with sample id and label columns") from e
    if obs.shape[1] == 0:
        raise DataError(f"label file {p.name}: an .h5ad without sample annotations (obs has no column); give a "
                        "file with sample id and label columns")
    obs.index = pd.Index([str(i) for i in obs.index], name="sample")
    return obs


def _frame_label_rows(df: pd.DataFrame) -> pd.DataFrame:
    """A table of labels read as a data frame (R, parquet, Feather) as the text rows of a label file: a header
    row and the rows, a named index (R's row names, pandas' index) first; one unnamed column is labels in
    sample order."""
    if isinstance(df.index, pd.RangeIndex) and df.shape[1] == 1:
        rows = pd.DataFrame({0: df.iloc[:, 0]})   # a vector: one label per sample, in order
    else:
        ids = "" if df.index.name is None or df.index.name == "rownames" else str(df.index.name)
        if not isinstance(df.index, pd.RangeIndex):
            df = df.reset_index()
            df.columns = pd.Index([ids, *df.columns[1:]])
        rows = pd.DataFrame([list(map(str, df.columns)), *df.astype(object).to_numpy().tolist()])
    # whole doubles print without a trailing .0, as R prints them (a batch 1, not 1.0)
    return rows.apply(lambda c: c.map(lambda v: "" if pd.isna(v) else str(int(v)) if isinstance(v, float)
                                      and v.is_integer() else str(v))).set_axis(range(rows.shape[1]), axis=1)


def _read_r(p: Path, *, obj: str | None, orientation: Orientation, label_key: str | None):
    """An R matrix or data frame (``saveRDS`` or ``save``) as a table: the row names (or a first text column)
    are the ids, the column names the other axis."""
    source = p.name
    df = _r_table(p, obj=obj)
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise DataError(f"{source}: an empty R table; save the matrix with its rows and columns")
    named_rows = not isinstance(df.index, pd.RangeIndex)
    if not named_rows and df.shape[1] > 1 and not pd.api.types.is_numeric_dtype(df.iloc[:, 0]):
        df = df.set_index(df.columns[0])   # a data frame of a gene (or sample) column and the values
        named_rows = True
    if not named_rows and isinstance(df.columns, pd.RangeIndex):
        raise DataError(f"{source}: an R matrix without row or column names, so neither its genes nor its samples "
                        "can be named; in R, set rownames(m) and colnames(m) before saveRDS(m, file)")
    if not named_rows:
        raise DataError(f"{source}: an R table without row names: its genes or samples have no ids; in R, set "
                        "rownames(m) (or keep the id column first) before saving")
    df.index = pd.Index([str(x) for x in df.index], name=df.index.name)
    for c in [c for c in df.columns if df[c].dtype == np.dtype(object)]:
        # pyreadr gives an integer column holding NA as Python ints and NaN: numbers, with missing values
        if all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in df[c]):
            df[c] = df[c].astype(np.float64)
    return _frame_to_adata(df, orientation=orientation, source=source, label_key=label_key, fmt="rds")


def _trailing_separator(data_lines: list[str], header: list[str], sep: str) -> bool:
    """Does every line end with the separator (``TP53<TAB>1<TAB>2<TAB>``), as some exporters write them? Then
    the data lines are one field longer than a header without it; a header ending with it too has an empty
    last field."""
    lines = [ln for ln in data_lines if ln.strip()]
    if not lines or not all(ln.endswith(sep) for ln in lines) or not header:
        return False
    n = len(_fields(lines[0], sep))
    return len(header) == n - 1 or (len(header) == n and not header[-1].strip())


def _second_header(lines: list[str], sep: str) -> list[str] | None:
    """The quantity of each column when the table has a second header line, as TCGA's Firehose (Broad GDAC)
    tables do (``Hybridization REF  TCGA-...`` then ``gene_id  normalized_count ...``), else ``None``."""
    if len(lines) < 3:
        return None
    f = _fields(lines[1], sep)
    if len(f) < 2 or f[0].strip() not in ("gene_id", "Composite Element REF", "Reporter REF", "miRNA_ID", "gene",
                                          "probe"):
        return None
    if any(pd.notna(pd.to_numeric(x, errors="coerce")) or not x.strip() for x in f[1:]):
        return None
    return [x.strip() for x in f[1:]]


def _looks_like_id_header(h0: str) -> bool:
    return h0 == "" or h0.startswith("Unnamed:")


def _refuse_cut_short(txt: _Text, n_fields: int, sep: str) -> None:
    """Refuse a text file whose last line stops short of the header's fields with no line end after it: a
    download or copy cut off mid-line, whose last value may itself be cut (33777 read as 33), which a table
    reader would take for missing values. Read from the file's last bytes (uncompressed files)."""
    if txt.compression or txt.encoding.lower().replace("-", "").startswith(("utf16", "utf32")):
        return   # a compressed file cut short fails to decompress; UTF-16/32 text (a spreadsheet's) is no download
    try:
        size = txt.path.stat().st_size
        with open(txt.path, "rb") as fh:
            fh.seek(max(0, size - 65536))
            tail = fh.read()
    except OSError:
        return
    if not tail or tail.endswith((b"\n", b"\r")):
        return
    last = tail.rsplit(b"\n", 1)[-1].decode(txt.encoding, errors="replace")
    got = len(_fields(last, sep))
    if got < n_fields:
        raise DataError(f"{txt.source}: the last line stops after {got} of {n_fields} fields, without a line end: the "
                        "file looks cut short (an interrupted download or copy), its last value perhaps cut too; "
                        "get the whole file again")


def _parse_text(txt: _Text, parse: Callable[[str], _T]) -> _T:
    """``parse(encoding)`` with the sniffed encoding; a file that starts as UTF-8 and has other bytes further
    on is a Latin-1 file, parsed again as such. A parse whose values turn out to be written in another number
    format than ``txt``'s (:class:`_NumberCheck`) is done again in that format: each new format is one that no
    value seen so far contradicts, so there are at most as many as formats."""
    for _ in _NUMBER_FORMATS:
        try:
            return _parse_decoded(txt, parse)
        except _Renumber as r:
            txt.decimal, txt.thousands = r.fmt
    return _parse_decoded(txt, parse)


def _parse_decoded(txt: _Text, parse: Callable[[str], _T]) -> _T:
    try:
        return parse(txt.encoding)
    except UnicodeDecodeError:
        if txt.encoding != "utf-8":
            raise
        return parse("latin-1")


_QUANTITY_ON_A_MATRIX = ("--quantity and --strand apply to a folder of per-sample quantification files (and --quantity "
                         "tpm to a Firehose RSEM table of raw_count and scaled_estimate, --quantity coverage to "
                         "recount3's sums); remove them for a matrix file")


def _no_header_line(lines: list[str], sep: str) -> bool:
    """Whether a table starts with data, not column names: its first two lines name known features (genes,
    miRNAs, probes) and hold numbers only after them, in the same number of fields (htseq-count writes its
    counts so, without a header; read with one, the first gene would become the column names)."""
    rows = [_fields(ln, sep) for ln in lines[:2]]
    if len(rows) < 2 or len(rows[0]) < 2 or len(rows[0]) != len(rows[1]):
        return False
    for r in rows:
        try:
            [float(v) for v in r[1:]]
        except ValueError:
            return False
    return all(r[0].strip() and _gene_score([r[0].strip()]) > 0 for r in rows)


def _table_stem(name: str) -> str:
    """A file's name less its compression and table endings (``S1.counts.txt.gz`` -> ``S1``), naming a sample."""
    stem = re.sub(r"\.(gz|bz2|xz|zip)$", "", name, flags=re.I)
    while (shorter := re.sub(r"\.(txt|tsv|tab|csv|counts?|htseq(-count|_counts)?|readcounts)$", "", stem,
                             flags=re.I)) != stem:
        stem = shorter
    return stem or name


def _row_of_dates(dates: _Dates, *, source: str, label_key: str | None,
                  n_fields: int) -> tuple[int, np.ndarray] | None:
    """The row of dates among ``dates`` named ``label_key`` (the samples' labels of a genes x samples table, as many
    fields as the header's ``n_fields``), as its line (from 0) and its values as written; None where there is no row
    of dates. Any other row of dates is refused: sample annotations among the genes."""
    out = None
    for k, fields in dates.rows.items():
        row = fields[0].strip()
        if label_key is not None and row == label_key and len(fields) == n_fields and out is None:
            out = (k, np.array([f.strip() for f in fields[1:]], dtype=object))
            continue
        shown = ", ".join(repr(f.strip()[:20]) for f in fields[1:3])
        raise DataError(f"{source}: row {row[:40]!r} (line {k + 1}) holds dates for the samples ({shown}, ...), "
                        "sample annotations, not expression values: if it is the labels, pass --label-key "
                        f"{shlex.quote(row)}, else remove the row (and give the dates in a label file: --labels)")
    return out


def _row_as_written(txt: _Text, row: str, data_from: int, n_values: int) -> np.ndarray | None:
    """The values of the record named ``row`` (from line ``data_from``, from 0) as written, stripped: a row of
    labels' class codes as text, as a label column is read (``0,5`` in a file of decimal commas, ``1`` not
    ``1.0``); None where no record is named so and has ``n_values`` values. Looked for among ``txt``'s first lines,
    then (a row of labels under the genes, or one of several lines) through the whole file."""
    for k, rec in _records(txt.lines, txt.sep):
        if k < data_from or "\n" in rec:
            continue
        fields = _fields(rec, txt.sep)
        if fields and fields[0].strip() == row:
            return np.array([f.strip() for f in fields[1:]], dtype=object) if len(fields) == n_values + 1 else None
    if txt.sep == _WHITESPACE:
        return None
    try:
        with txt.open(plain=False) as fh:
            records = csv.reader(fh, delimiter=txt.sep)
            for fields in records:
                if records.line_num > data_from and fields and fields[0].strip() == row:
                    return (np.array([f.strip() for f in fields[1:]], dtype=object) if len(fields) == n_values + 1
                            else None)
    except (csv.Error, UnicodeError, OSError, EOFError):
        return None   # the values as parsed
    return None


def _read_table(path: Path, txt: _Text, *, fmt: str, orientation: Orientation, label_key: str | None = None,
                quantity: str = "counts"):
    source = path.name
    s = txt.sep
    sep_name = "tab" if s == "\t" else "space" if s == _WHITESPACE else repr(s)
    if not txt.lines:
        raise DataError(f"{source}: empty file; give a table with a header line and one line per sample or gene")

    start = _table_start(txt.lines, s)   # a '#' preamble skipped
    preamble = " ".join(txt.lines[:start])
    if "Expression Atlas" in preamble and "Query:" in preamble:
        raise DataError(f"{source}: an Expression Atlas query result, one value per condition (its samples' "
                        "summary), not a profile per sample; download the experiment's values per run (its "
                        "raw-counts.tsv, with the condensed-sdrf.tsv as --labels)")
    lines = txt.lines[start:]
    grouped = _group_row(*(_fields(ln, s) for ln in lines[:3])) if len(lines) >= 3 else None
    if grouped is not None:   # a row of groups above the header: skipped, kept as a label column
        start += 1
        lines = lines[1:]
    header = _fields(lines[0], s)
    quantities = _second_header(lines, s)
    no_header = grouped is None and quantities is None and _no_header_line(lines, s)
    if no_header:
        # a feature's values on the first line (htseq-count's tables, one column per BAM file): not column names
        stem = _table_stem(source)
        header = [""] + ([stem] if len(header) == 2 else [f"{stem}_{j}" for j in range(1, len(header))])
    usecols = None
    what, table_of = "read counts", "a Firehose table"   # the columns read, for the history
    several = quantities is not None and len(set(quantities)) > 1
    if quantity == "tpm" and not (several and "scaled_estimate" in (quantities or [])):
        raise DataError(_QUANTITY_ON_A_MATRIX)
    if several and quantity == "tpm":
        # RSEM's scaled_estimate is each gene's share of the transcripts: TPM = 10^6 x it (Li & Dewey 2011)
        assert quantities is not None
        usecols = [0] + [j + 1 for j, q in enumerate(quantities) if q == "scaled_estimate"]
    elif several:
        # several quantities per sample (Firehose's RSEM genes: raw_count, scaled_estimate, transcript_id;
        # miRNA-seq: read_count, reads_per_million_miRNA_mapped, cross-mapped): its read counts are the matrix
        assert quantities is not None
        raw: str | None = next((q for q in ("raw_count", "read_count") if q in quantities), None)
        measured = [q for q in dict.fromkeys(quantities) if not _DETECTION.fullmatch(q)]
        if raw is None and len(measured) == 1:
            raw = measured[0]   # a MAGE-TAB data matrix (ArrayExpress): each sample's VALUE and Detection Pval
            what, table_of = f"{raw!r} columns", "a MAGE-TAB data matrix"
        if raw is None:
            shown = ", ".join(dict.fromkeys(quantities))
            raise DataError(f"{source}: a TCGA Firehose table of several quantities per sample ({shown}) without "
                            "read counts; give the file of one quantity per sample (its *normalized_results or "
                            "*.data.txt), or keep the columns of one quantity and remove the second header line"
                            + ("; --quantity tpm reads its scaled_estimate" if "scaled_estimate" in quantities else ""))
        usecols = [0] + [j + 1 for j, q in enumerate(quantities) if q == raw]

    trailing = _trailing_separator(lines[2 if quantities is not None else 1:], header, s)
    skip = list(range(start)) + ([start + 1] if quantities is not None else [])

    # blocks of ~8M values, each cast to float32 before the next is read: the peak memory is the float32 table
    # and one block's tokens and values, not the whole table's in float64 and its copies
    rows = max(256, (8 << 20) // max(1, len(header)))
    # a label column is text as written: numeric labels (doses 0.1, 0.5) must not become float32 (0.10000000149)
    dtype: dict[int | str, type] = {0: str}
    if label_key is not None and label_key in header[1:]:
        dtype[label_key] = str

    # the lines of values (below the header, and the quantities' line), checked against the number format as they
    # are parsed
    first_values = start if no_header else start + 1 + (quantities is not None)

    # a row of labels under the header (genes x samples) taken out of the first block as it is parsed, so that the
    # samples' columns it made text are numbers again before the blocks are joined (joined with it, every value of
    # the table would be a Python object); its values by position in the file's columns
    lift = (label_key is not None and orientation != "samples_x_genes" and label_key not in header[1:]
            and not trailing and not no_header and usecols is None)
    lifted: list[np.ndarray | None] = [None]

    # dates written with points (12.03.2021) are sample annotations, read as text as written: a column of them (a
    # thousands point would make numbers of them), and a row of them as the labels (a row of labels read as text
    # from the file, its line skipped by the parse)
    dates = _dates(txt, header, first_values) if not no_header else _Dates([], {})
    for c in dates.columns:
        dtype[c] = str
    dated = _row_of_dates(dates, source=source, label_key=label_key if lift else None, n_fields=len(header))
    if dated is not None:
        skip = sorted({*skip, dated[0]})
    numbers = _NumberCheck(txt, header=header, data_from=first_values,
                           text_columns=[*([label_key] if label_key else []), *dates.columns],
                           skip=[dated[0]] if dated is not None else [])

    def _parse(encoding: str) -> pd.DataFrame:
        lifted[0] = None
        with txt.open(encoding, numbers=numbers) as fh:
            blocks: list[pd.DataFrame] = []
            for c in pd.read_csv(fh, sep=s, index_col=False if trailing else 0, dtype=dtype, decimal=txt.decimal,
                                 thousands=txt.thousands, header=None if no_header else "infer",
                                 names=header if no_header else None, skiprows=skip or None, chunksize=rows,
                                 low_memory=False, usecols=usecols):
                if lift and not blocks:
                    assert label_key is not None
                    c, lifted[0] = _lift_label_row(c, label_key, (txt.decimal, txt.thousands))
                blocks.append(_float32_chunk(c, source))
        df = pd.concat(blocks) if len(blocks) > 1 else blocks[0]
        if trailing:
            # every line ends with the separator: its empty last field is no column, and the first column is the
            # ids, not pandas' implicit index of lines one field longer than the header
            last = str(df.columns[-1])
            if df.shape[1] > 2 and (not last.strip() or last.startswith("Unnamed:")) and df.iloc[:, -1].isna().all():
                df = df.iloc[:, :-1]
            df = df.set_index(df.columns[0])
        return df

    try:
        df = _parse_text(txt, _parse)
    except pd.errors.EmptyDataError as e:
        raise DataError(f"{source}: no data (empty file or header only); give one line per sample or gene") from e
    except pd.errors.ParserError as e:
        msg = _one_line(e)
        fix = (f"every line needs the same number of {sep_name}-separated fields (or name the separator: rnagen "
               "data prepare --sep)" if "Expected" in msg or "fields" in msg
               else "check the file format and the separator (rnagen data prepare --sep)")
        raise DataError(f"{source}: malformed {fmt.upper()} file ({msg}); {fix}") from e
    except (UnicodeDecodeError, UnicodeError) as e:
        raise DataError(f"{source}: cannot decode the text as {txt.encoding} ({_one_line(e)[:80]}); save it as "
                        f"UTF-8") from e
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise DataError(f"{source}: cannot read the file ({type(e).__name__}: {_one_line(e)[:80]}); check that it "
                        f"is complete") from e
    if df.shape[0] == 0:
        raise DataError(f"{source}: header line only, no data lines; give one line per sample or gene")
    _refuse_cut_short(txt, len(header) - (1 if trailing else 0), s)
    # footnotes below the data ("Note: values are log2 CPM"): lines of one field holding a sentence, as under a
    # workbook's table (_read_excel)
    end = len(df)
    while end > 1 and " " in str(df.index[end - 1]).strip() and bool(df.iloc[end - 1].isna().all()):
        end -= 1
    df = df.iloc[:end] if end < len(df) else df
    if len(header) == df.shape[1] + 1:
        # pandas renames repeated header fields ("TP53" -> "TP53.1"); keep the names as written
        df.columns = pd.Index([str(h) for h in header[1:]])
    h0 = str(df.index.name) if df.index.name is not None else ""
    idx_num = pd.to_numeric(pd.Series(df.index), errors="coerce")
    # (a lifted row of labels was one of the ids: they are not all numbers, as when it stays in the table)
    idx_numeric = bool(idx_num.notna().all()) and lifted[0] is None
    # fractional numbers are values, never sample ids
    idx_fractional = idx_numeric and bool((idx_num != np.round(idx_num)).any())
    h0_feature = _gene_score([h0]) > 0
    if not _looks_like_id_header(h0) and h0 != label_key and idx_numeric and (h0_feature or idx_fractional):
        # no sample-id column: the first header field names a feature, so the first column holds data
        df = df.reset_index()
        df.columns = pd.Index([h0, *[str(c) for c in df.columns[1:]]])
        df.index = pd.Index([f"sample_{i}" for i in range(len(df))])
        df[h0] = pd.to_numeric(df[h0], errors="coerce").astype(np.float64)
    elif idx_numeric and pd.Index(df.index).duplicated().any():
        raise DataError(f"{source}: the first column ({h0 or 'unnamed'!r}) is read as the sample/gene ids but holds "
                        f"numbers with repeats (e.g. {df.index[pd.Index(df.index).duplicated()][0]!r}); if the file "
                        f"has no id column, add one as its first column")
    if dated is not None and lifted[0] is None and df.shape[1] == len(dated[1]):
        lifted[0] = dated[1]
    if lifted[0] is not None and any(not isinstance(v, str) and not pd.isna(v) for v in lifted[0]):
        # numbers in the row of labels (class codes, doses), which the parse made floats: the labels as written
        assert label_key is not None
        written = _row_as_written(txt, label_key, first_values, df.shape[1])
        lifted[0] = lifted[0] if written is None else written
    label_row = None if lifted[0] is None else pd.Series(lifted[0], index=df.columns, dtype=object)
    adata, orient = _frame_to_adata(df, orientation=orientation, source=source, label_key=label_key, fmt=fmt,
                                    label_row=label_row, numbers=(txt.decimal, txt.thousands),
                                    locate=functools.partial(_line_of_value, txt, header))
    adata, orient = _with_groups(adata, orient, header, grouped)
    if no_header:
        orient += f" (no header line: its value columns named {header[1]}" + (
            f" to {header[-1]}, in the file's order" if len(header) > 2 else "") + ")"
    if usecols is None:
        return adata, orient
    if quantity == "tpm":
        adata.X = _to_float32(adata.X.astype(np.float64) * 1e6, adata.obs_names, adata.var_names, source)
        what = "TPM (10^6 x scaled_estimate)"
    n_all = len(quantities or [])
    return adata, f"{orient} (the {what} of {table_of}: {len(usecols) - 1} of its {n_all} columns)"


# recount3 (Wilks et al. 2021) sums a project's runs over genes or exons into files opened by
# "##annotation=G026" and "##date.generated=..." lines and named {source}.{gene|exon}_sums.{project}.{annotation}.gz.
# Their values are base-pair coverage (each read adds the bases it aligns), not reads: read counts are the
# coverage over each run's average mapped length (recount3::compute_read_counts), from the project's QC table.
_RECOUNT3_NAME = re.compile(r"^[a-z0-9_]+\.(gene|exon)_sums\.[^.]+\.[^.]+", re.IGNORECASE)
_RECOUNT3_LENGTH = "star.average_mapped_length"


def _is_recount3_sums(lines: list[str], name: str) -> bool:
    preamble = lines[:_comment_lines(lines)]
    return any(ln.startswith("##annotation=") for ln in preamble) or bool(_RECOUNT3_NAME.match(name))


def is_recount3_sums(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a recount3 gene or exon sums file (base-pair coverage per run; see :func:`read`)."""
    from .quant import is_archive

    p = Path(path)
    if not p.is_file() or _format(p) not in ("csv", "tsv", "text") or is_archive(p):
        return False
    try:
        txt = _Text(p, sep=None, fmt="text")
    except (DataError, OSError):
        return False   # not text: reading it says what it is
    return txt.content_format is None and _is_recount3_sums(txt.lines, p.name)


def _recount3_lengths(path: str | os.PathLike, runs: Sequence[str]) -> np.ndarray:
    """Each run's average mapped length (``star.average_mapped_length``, by ``external_id``) from a recount3
    QC table: the project's ``*.recount_qc.*.MD.gz``, or sample metadata that carries its columns (as
    ``recount_qc.star.average_mapped_length``)."""
    p = Path(path)
    _check_file(p, "recount3 QC file", "check the --recount-qc path")
    source = f"recount3 QC file {p.name}"
    txt = _Text(p, sep=None, fmt=_format(p))
    if txt.content_format is not None or not txt.lines:
        raise DataError(f"{source}: {'empty' if txt.content_format is None else 'a binary file'}; give the "
                        "project's tab-separated *.recount_qc.*.MD.gz")
    header = [h.strip().lower() for h in _fields(txt.lines[0], txt.sep)]
    length = next((i for i, h in enumerate(header) if h == _RECOUNT3_LENGTH or h.endswith("." + _RECOUNT3_LENGTH)),
                  None)
    if "external_id" not in header or length is None:
        lacking = "external_id" if "external_id" not in header else _RECOUNT3_LENGTH
        raise DataError(f"{source}: no {lacking} column; give the project's *.recount_qc.*.MD.gz (its "
                        f"{_RECOUNT3_LENGTH} per external_id), not another metadata file")
    ids = header.index("external_id")
    try:
        with txt.open() as fh:
            qc = pd.read_csv(fh, sep=txt.sep, header=0, usecols=[ids, length], dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, csv.Error, OSError, EOFError,
            zlib.error) as e:
        raise DataError(f"{source}: malformed ({_one_line(e)[:100]}); give the project's *.recount_qc.*.MD.gz") from e
    qc.columns = pd.Index(["run", "length"])
    qc["run"] = qc["run"].str.strip()
    qc = qc.drop_duplicates()
    if qc["run"].duplicated().any():
        raise DataError(f"{source}: run {qc['run'][qc['run'].duplicated()].iloc[0]!r} has two mapped lengths; "
                        "give the QC table of one project")
    of = dict(zip(qc["run"], pd.to_numeric(qc["length"], errors="coerce")))
    missing = [r for r in runs if r not in of]
    if missing:
        raise DataError(f"{source}: {len(missing)} of the {len(runs)} runs have no row (e.g. {missing[0]!r}); give "
                        "the QC table of the project the sums are of")
    out = np.array([of[r] for r in runs], dtype=np.float64)
    bad = [r for r, v in zip(runs, out) if not np.isfinite(v) or v <= 0]
    if bad:
        raise DataError(f"{source}: {len(bad)} run(s) without a mapped length (e.g. {bad[0]!r}: its alignment "
                        "failed); leave them out of the sums, or keep the coverage with --quantity coverage and "
                        "--normalize cpm")
    return out


def _check_recount3_options(*, quantity: str, recount_qc, source: str) -> None:
    """What a recount3 sums table can be read as: read counts (with its QC table) or the coverage it holds."""
    if quantity == "tpm":
        raise DataError(f"{source}: recount3's sums hold base-pair coverage, not TPM; read counts with --recount-qc "
                        "and normalise them (--normalize cpm), or remove --quantity tpm")
    if quantity == "coverage":
        if recount_qc is not None:
            raise DataError("--recount-qc turns recount3's coverage into read counts; remove it or --quantity "
                            "coverage")
        return
    if recount_qc is None:
        raise DataError(f"{source}: recount3's sums are base-pair coverage (each read adds the bases it aligns), "
                        "not read counts; give the project's QC table (e.g. sra.recount_qc.SRP012345.MD.gz) with "
                        "--recount-qc to read counts, or keep the coverage with --quantity coverage and "
                        "--normalize cpm")


def _recount3_values(adata, orient: str, *, quantity: str, recount_qc, source: str) -> tuple[Any, str, dict]:
    """A recount3 sums table as read counts (coverage / each run's average mapped length, rounded) or, with
    ``quantity="coverage"``, as the base-pair coverage it holds."""
    if quantity == "coverage":
        return adata, f"{orient} (recount3 base-pair coverage)", {"quantity": "base-pair coverage"}
    runs = [str(r) for r in adata.obs_names]
    length = _recount3_lengths(recount_qc, runs)
    adata.X = _to_float32(np.rint(adata.X.astype(np.float64) / length[:, None]), adata.obs_names, adata.var_names,
                          source)
    return adata, f"{orient} (recount3 base-pair coverage / each run's average mapped length: read counts)", {
        "quantity": "read counts", "recount_qc": Path(recount_qc).name,
        "mapped_length_range": [float(length.min()), float(length.max())]}


class _GctShape(NamedTuple):
    """What a GCT file's dimension line declares: data rows, samples, row- and column-metadata fields."""

    n_rows: int
    n_cols: int
    n_rmeta: int
    n_cmeta: int

    @property
    def n_fields(self) -> int:
        """Fields of the column header and of every data line: the id, the row metadata, the samples."""
        return 1 + self.n_rmeta + self.n_cols


def _is_gct(lines: Sequence[str]) -> bool:
    """Whether the first line of a text file is a GCT file's, whatever its name: GCT's version line, ``#1.2`` or
    ``#1.3`` alone (a table's comment line says more). Its dimension line is :func:`_gct_shape`'s to check, whose
    error names what GCT needs there."""
    return len(lines) > 0 and lines[0].strip() in ("#1.2", "#1.3")


def _gct_shape(lines: list[str], source: str) -> _GctShape:
    """The version line (``#1.2`` or ``#1.3``) and the dimension line, checked."""
    version = lines[0].strip() if lines else ""
    if version not in ("#1.2", "#1.3"):
        raise DataError(f"{source}: not a GCT file (first line {version[:20]!r}, expected '#1.2' or '#1.3'); "
                        f"fix the header or save it as CSV/TSV")
    dims = lines[1].split() if len(lines) > 1 else []
    try:
        dims_i = [int(x) for x in dims]
    except ValueError:
        dims_i = []
    need = 2 if version == "#1.2" else 4
    if len(dims_i) < need or any(d < 0 for d in dims_i[:need]) or (version == "#1.3" and dims_i[2] < 1):
        raise DataError(f"{source}: malformed GCT dimension line {' '.join(dims)[:40]!r}; expected 'rows cols' (1.2) "
                        f"or 'rows cols row-meta col-meta' (1.3), non-negative, at least 1 row-metadata field")
    n_rows, n_cols = dims_i[0], dims_i[1]
    if n_rows == 0 or n_cols == 0:
        raise DataError(f"{source}: GCT dimension line says {n_rows} rows x {n_cols} samples; give a file with data")
    if version == "#1.2":
        return _GctShape(n_rows, n_cols, n_rmeta=1, n_cmeta=0)
    return _GctShape(n_rows, n_cols, n_rmeta=dims_i[2], n_cmeta=dims_i[3])


def _gct_columns(fh, shape: _GctShape, source: str) -> tuple[list[str], dict[str, list[str]]]:
    """The column header and the column-metadata lines (GCT 1.3: one line per sample annotation), read from
    ``fh`` after its version and dimension lines."""
    fh.readline()
    fh.readline()
    n_fields = shape.n_fields
    header = next(csv.reader([fh.readline().rstrip("\r\n")], delimiter="\t"))
    if len(header) != n_fields:
        raise DataError(f"{source}: GCT header has {len(header)} fields, expected {n_fields} "
                        f"(id, {shape.n_rmeta} row-metadata, {shape.n_cols} samples); fix the dimension line")
    cmeta = {}
    for _ in range(shape.n_cmeta):
        f = fh.readline().rstrip("\r\n").split("\t")
        if len(f) != n_fields:
            raise DataError(f"{source}: GCT column-metadata line {f[0][:40]!r} has {len(f)} fields, expected "
                            f"{n_fields}; fix the dimension line or the metadata lines")
        cmeta[f[0]] = f[1 + shape.n_rmeta:]
    return header, cmeta


def _gct_frame(txt: _Text, shape: _GctShape, source: str) -> tuple[list[str], dict[str, list[str]], pd.DataFrame]:
    """The column header, the column metadata and the data lines (ids as the index, columns named by the
    header) of a GCT file, with as many fields and rows as the dimension line says."""
    n_fields = shape.n_fields

    rows = max(256, (8 << 20) // max(1, n_fields))  # blocks cast to float32 one at a time (as _read_table)
    # the values after the id and the row metadata, below the version, dimension, header and column-metadata lines
    numbers = _NumberCheck(txt, header=_fields(txt.lines[2], "\t") if len(txt.lines) > 2 else [],
                           data_from=3 + shape.n_cmeta, first_value=1 + shape.n_rmeta)

    def _parse(encoding: str) -> tuple[list[str], dict[str, list[str]], pd.DataFrame]:
        with txt.open(encoding, numbers=numbers) as fh:
            header, cmeta = _gct_columns(fh, shape, source)
            blocks = [_float32_chunk(c, source, first=shape.n_rmeta) for c in pd.read_csv(
                fh, sep="\t", header=None, names=[f"_{i}" for i in range(n_fields)], index_col=0, dtype={"_0": str},
                # the row metadata as its text (an empty field, 'NA', 'True' kept): _gct_var gives it its types
                converters={f"_{i}": str for i in range(1, 1 + shape.n_rmeta)},
                decimal=txt.decimal, thousands=txt.thousands, low_memory=False, chunksize=rows)]
            return header, cmeta, pd.concat(blocks) if len(blocks) > 1 else blocks[0]

    try:
        header, cmeta, df = _parse_text(txt, _parse)
    except DataError:
        raise
    except pd.errors.EmptyDataError as e:
        raise DataError(f"{source}: GCT file without data lines; GCT says {shape.n_rows} rows") from e
    except (pd.errors.ParserError, csv.Error, UnicodeError, EOFError, OSError, StopIteration, zlib.error,
            lzma.LZMAError) as e:
        raise DataError(f"{source}: malformed GCT file ({_one_line(e)}); every line needs {n_fields} tab-separated "
                        f"fields") from e
    if df.shape[1] != n_fields - 1:
        raise DataError(f"{source}: GCT data lines have {df.shape[1] + 1} fields, expected {n_fields}; fix the file")
    df.columns = pd.Index(header[1:])
    if df.shape[0] != shape.n_rows:
        raise DataError(f"{source}: GCT says {shape.n_rows} rows but has {df.shape[0]}; fix the dimension line")
    return header, cmeta, df


def _gct_values(df: pd.DataFrame, shape: _GctShape, samples: list[str], source: str,
                numbers: _NumberFormat = (".", None), locate: _Locate | None = None) -> pd.DataFrame:
    """The sample columns of the data lines, each checked to be numeric (in the number format ``numbers``)."""
    pos = list(range(shape.n_rmeta, shape.n_rmeta + shape.n_cols))
    for k, c in enumerate(pos):
        if not pd.api.types.is_numeric_dtype(df.iloc[:, c].dtype):
            col = df.iloc[:, c].rename(samples[k])
            line = 4 + shape.n_cmeta
            value = _bad_value(col, line_of_row=line, where="gene", numbers=numbers, locate=locate)
            raise DataError(f"{source}: non-numeric value {value}; fix or remove that value")
    return df.iloc[:, pos]


#: a GCT Description that names no value: the ``na`` GCT writers (rnagen's too) put in an empty one
_GCT_NO_DESCRIPTION = ("na", "NA", "nan", "")

#: the text of a missing GCT row-metadata value: cmapPy's parse_gct's list (CMap's ``na`` among them, which
#: rnagen writes, :data:`rnagen._io.GCT_NA`), CMap's other null ``-666`` (cmapPy's ``parse(convert_neg_666=True)``,
#: its default, reads it as missing), and an empty field in a column of booleans or numbers
GCT_MISSING = frozenset(("na", "NA", "nan", "NaN", "-nan", "-NaN", "None", "NULL", "#N/A", "N/A", "#NA", "#N/A!",
                         "#VALUE!", "-666", "-666.0"))

_GCT_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)")


def _gct_identifiers(name: str) -> bool:
    """Whether a row-metadata column holds identifiers, kept as text whatever their digits (Entrez ids:
    ``entrez_id``, CMap's ``pr_gene_id``, ``gene_id``, ``id``), as rnagen's own ``var`` holds them."""
    return name.lower().endswith("id")


def _gct_typed(name: str, text: pd.Series) -> pd.Series:
    """A GCT 1.3 row-metadata column (its fields' text) with the type its text spells, as an ``.h5ad`` holds
    that type: every value ``True``/``False`` (what pandas and rnagen write for a boolean) ``bool``; every one a
    whole number in decimal ``int64``, a number ``float64`` (``inf`` too); pandas' nullable ``boolean`` and
    ``Int64`` where some are missing (:data:`GCT_MISSING` or empty), ``NaN`` in floats. Any other column, and a
    column of identifiers (:func:`_gct_identifiers`), is text, ``NaN`` where a value is missing (an empty field
    stays empty text)."""
    missing = text.isin(GCT_MISSING)
    blank = (missing | (text == "")).to_numpy()
    given = text[~blank]
    if len(given) and not _gct_identifiers(name):
        if given.isin(("True", "False")).all():
            flags = text == "True"
            return flags if not blank.any() else pd.Series(pd.array(
                [pd.NA if b else f for b, f in zip(blank, flags)], dtype="boolean"), index=text.index)
        if given.str.fullmatch(_GCT_INTEGER.pattern).all():
            ints = pd.to_numeric(given, errors="coerce")
            if ints.notna().all() and ints.dtype.kind == "i":   # beyond int64: read as float64 or text below
                if not blank.any():
                    return pd.Series(ints.to_numpy(dtype=np.int64), index=text.index)
                full = pd.array([pd.NA] * len(text), dtype="Int64")
                full[~blank] = ints.to_numpy(dtype=np.int64)
                return pd.Series(full, index=text.index)
        nums = pd.to_numeric(given.str.strip(), errors="coerce")
        if nums.notna().all():
            out = np.full(len(text), np.nan)
            out[~blank] = nums.to_numpy(dtype=np.float64)
            return pd.Series(out, index=text.index)
    return text.where(~missing, np.nan)


def _gct_var(df: pd.DataFrame, n_rmeta: int) -> pd.DataFrame:
    """Gene annotations from the row-metadata columns (GCT 1.3's any number of them, 1.2's Description).

    A ``Description`` (GCT 1.2's, and a 1.3 column of that name) that is empty or repeats the id is dropped, one
    of gene symbols (GTEx's GCT files; :func:`write_gct` and ``--out x.gct`` of ``var["symbol"]``), none of them
    with a space, is kept as ``var["symbol"]``, where rnagen keeps symbols, its ``na`` as ``""``, and any other
    (free text) as ``var["description"]``. Every other column gets the type its text spells (:func:`_gct_typed`),
    so that the ``var`` that :func:`write_gct` and ``--out x.gct`` write as GCT 1.3 reads back as it was: its
    booleans, integers, floats and text, a missing value missing; a categorical column reads as text. Repeated
    column names get a position suffix."""
    raw = df.iloc[:, :n_rmeta]
    names = [str(c) for c in raw.columns]
    var = pd.DataFrame(index=raw.index)
    for j, c in enumerate(names):
        text = raw.iloc[:, j].astype(str)
        key = "description" if c == "Description" else c
        if key in var.columns:
            key = f"{key}_{j}"
        var[key] = text if c == "Description" else _gct_typed(c, text)
    if "Description" in names:
        key = "description" if "description" in var.columns else f"description_{names.index('Description')}"
        desc = var[key]
        blank = desc.isin(_GCT_NO_DESCRIPTION)
        if blank.all() or (desc == var.index).all():
            var = var.drop(columns=key)
        elif ("symbol" not in var.columns and not desc[~blank].str.strip().str.contains(r"\s").any()
              and _genes.detect_id_type(desc[~blank].tolist()) == "symbol"):
            # symbols hold no spaces: a Description of symbols for most genes and words for others (a probe's
            # annotation where it has no symbol) is free text, kept whole
            var[key] = desc.where(~blank, "")
            var = var.rename(columns={key: "symbol"})
    var.index = var.index.map(str)
    var.index.name = None
    return var


def _gct_obs(samples: list[str], cmeta: dict[str, list[str]]) -> pd.DataFrame:
    """Sample annotations from the column metadata: numeric when every value is a number, else categorical."""
    obs = pd.DataFrame(index=pd.Index([str(s) for s in samples]))
    for k, v in cmeta.items():
        num = pd.to_numeric(pd.Series(v), errors="coerce")
        obs[str(k)] = num.to_numpy() if num.notna().all() else pd.Categorical(v)
    return obs


def _read_gct(path: Path, txt: _Text):
    """GCT 1.2 (``Name``, ``Description``, samples) or 1.3 (row and column metadata), genes x samples."""
    import anndata as ad

    source = path.name
    shape = _gct_shape(txt.lines, source)
    header, cmeta, df = _gct_frame(txt, shape, source)
    samples = header[1 + shape.n_rmeta:]
    vals = _gct_values(df, shape, samples, source, (txt.decimal, txt.thousands),
                       functools.partial(_line_of_value, txt, header))
    var = _gct_var(df, shape.n_rmeta)
    obs = _gct_obs(samples, cmeta)
    X = np.ascontiguousarray(_matrix(vals, list(range(vals.shape[1])), samples, source).T)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicated ids: validate() raises a DataError
        return ad.AnnData(X=X, obs=obs, var=var)


# ------------------------------------------------------------------------------------------ feature -> gene maps

#: gene fields of an annotation table that name no single gene: empty, Affymetrix's '---', several genes
_NO_GENE = re.compile(r"^(|-+|NA|N/A|nan|null)$|//|[,;|]", re.IGNORECASE)


#: header names of the gene column in platform tables, most specific first: GEO's .annot files ("Gene symbol",
#: after "Gene title"), Affymetrix ("Gene Symbol"), Illumina ("Symbol"), Agilent ("GENE_SYMBOL"), GDS ("IDENTIFIER"),
#: Affymetrix Gene/Exon ST arrays' GEO tables (GPL6244, GPL6246, GPL17586: "gene_assignment", :func:`_assigned_gene`)
_GENE_COLUMNS = ("gene symbol", "gene_symbol", "symbol", "identifier", "gene", "gene_assignment")


def _assigned_gene(field: str) -> str:
    """The gene of an Affymetrix ``gene_assignment`` field, ``accession // symbol // title // band // entrez``
    per transcript, transcripts joined by ``///``: the symbol when every transcript names the same one, else
    ``""`` (no gene, or several)."""
    symbols = {parts[1].strip() for parts in (e.split("//") for e in field.split("///")) if len(parts) > 1}
    return next(iter(symbols)) if len(symbols) == 1 else ""


#: a GTF's (``gene_id "ENSG..."; transcript_id "ENST...";``) or GFF3's (``gene_id=...;transcript_id=...``,
#: Ensembl's ``Parent=gene:ENSG...``) attributes that tie a transcript to its gene
_GTF_ATTR = re.compile(r'(?:^|[;\s])(gene_id|transcript_id|Parent|ID)[ =]"?([^";]+)"?')
#: the prefixes GFF3 files put before a transcript's or a gene's id (Ensembl's ``transcript:``, ``gene:``; NCBI's
#: ``rna-``, ``gene-``; ``mRNA:`` of some plant annotations)
_GFF_TX_PREFIX = ("transcript:", "mRNA:", "rna-")
_GFF_GENE_PREFIX = ("gene:", "gene-")
_GFF_LINE = re.compile(r"[^\t]*\t[^\t]*\t[^\t]*\t\d+\t\d+\t[^\t]*\t[-+.?]\t")
#: miRBase accessions of mature miRNAs and of their hairpins, a FASTA sequence line, an aliases.txt line
_MIRBASE_ACC = re.compile(r"MI(MAT)?\d{7}")
_SEQUENCE = re.compile(r"[ACGTUNacgtun]+")
_MIRBASE_ALIASES = re.compile(r"MI(MAT)?\d{7}\t[^\t]*;[^\t]*")
#: first-column header names that mark the first line of a feature map as a header
_ID_COLUMNS = frozenset({"id", "id_ref", "name", "probe", "probe_id", "probeset", "feature", "feature_id"})


@_spools_pipes
def read_feature_map(path: str | os.PathLike) -> dict[str, str]:
    """Feature (probe) id -> gene id from a text table (tab-, comma- or ``;``-separated, quotes removed): the
    first field and, when the first line is a header naming a gene column (``Gene symbol``, ``Symbol``,
    ``GENE_SYMBOL``, ``IDENTIFIER``, ``gene``; GEO platform files), that column, else the second field.
    ``#``, ``!`` and ``^`` lines are comments. A gene field naming no single gene (empty, ``---``,
    ``A /// B``, ``A, B``) maps the feature to nothing, as does a feature listed twice under two genes (listed twice
    under one, it maps to it).
    miRBase's files name miRNAs by their accessions (GDC's isoform tables summed to mature miRNAs, MIMATxxxxxxx):
    ``mature.fa`` / ``hairpin.fa`` (``>hsa-miR-21-5p MIMAT0000076 Homo sapiens ...``) and ``aliases.txt``
    (``MIMAT0000076<TAB>hsa-miR-21;hsa-miR-21-5p;``, the names in the order miRBase gave them: the last is the
    current one). A GTF or GFF3 annotation maps each transcript to its gene id: the tx2gene of a folder of
    per-transcript tables (Salmon, kallisto, RSEM). GENCODE's and Ensembl's (``ENSG...``), iGenomes' and UCSC's RefSeq
    GTFs (``gene_id "TP53"; transcript_id "NM_000546"``), NCBI's GFF3 (``Parent=gene-TP53``) and a Cufflinks or
    StringTie merge (``XLOC_000001``, ``MSTRG.1``) alike."""
    p = Path(path)
    _check_file(p, "feature map", "check the --feature-map path")
    txt = _Text(p, sep=None, fmt=_format(p))
    if txt.content_format is not None:
        raise DataError(f"feature map {p.name}: a binary {txt.content_format} file; give a text table of feature id "
                        "and gene id")
    out: dict[str, str] = {}
    gff_lines = 0

    def _parse(encoding: str) -> None:
        nonlocal gff_lines
        out.clear()
        gff_lines = 0
        col = None
        assigned = False
        with txt.open(encoding) as fh:
            for line in fh:
                row = line.rstrip("\r\n")
                if out and row.strip().lower() == "!platform_table_end":
                    break   # a family SOFT file's sample tables follow (ID_REF, VALUE): no genes
                if row.startswith(">"):   # a FASTA header: name, accession, species (miRBase)
                    name, acc = (row[1:].split() + ["", ""])[:2]
                    if _MIRBASE_ACC.fullmatch(acc):
                        out.setdefault(acc, name)
                    continue
                if not row.strip() or row.lstrip().startswith(("#", "!", "^")) or (out and _SEQUENCE.fullmatch(row)):
                    continue
                if row.count("\t") == 8 and _GFF_LINE.match(row):   # a GTF/GFF3 feature line
                    gff_lines += 1
                    attrs = dict(_GTF_ATTR.findall(row.rsplit("\t", 1)[1]))
                    parent, ident = attrs.get("Parent", ""), attrs.get("ID", "")
                    gene = attrs.get("gene_id") or (parent[5:] if parent.startswith(_GFF_GENE_PREFIX) else "")
                    tx = attrs.get("transcript_id") or next(
                        (ident[len(pre):] for pre in _GFF_TX_PREFIX if ident.startswith(pre)), "")
                    if tx and gene and gene != tx:   # UCSC's knownGene GTF repeats the transcript as its gene
                        out.setdefault(tx, gene)
                    continue
                if _MIRBASE_ALIASES.fullmatch(row):
                    acc, names = row.split("\t", 1)
                    current = [n.strip() for n in names.split(";") if n.strip()]
                    if current:
                        out.setdefault(acc.strip(), current[-1])
                    continue
                sep = "\t" if "\t" in row else (";" if ";" in row and "," not in row else ",")
                fields = [_unquote(f) for f in row.split(sep)]
                if len(fields) < 2:
                    raise DataError(f"feature map {p.name}: a line with one field ({row[:40]!r}); give two columns, "
                                    "feature id and gene id")
                if col is None:  # the first line: a header naming the gene column, or data
                    names = [f.strip().lower() for f in fields]
                    col = next((names.index(c) for c in _GENE_COLUMNS if c in names[1:]), 1)
                    assigned = names[col] == "gene_assignment"
                    if col != 1 or names[0] in _ID_COLUMNS:
                        continue
                feat = fields[0]
                gene = fields[col] if col < len(fields) else ""
                if assigned:
                    gene = _assigned_gene(gene)
                gene = "" if _NO_GENE.search(gene) else gene
                if feat and feat not in out:
                    out[feat] = gene
                elif feat and gene and out[feat] and out[feat] != gene:
                    out[feat] = ""   # listed twice under two genes: no single gene, as "A /// B"

    _parse_text(txt, _parse)
    if not out and gff_lines:
        raise DataError(f"feature map {p.name}: a GTF/GFF3 annotation none of whose {gff_lines} lines ties a "
                        "transcript to a gene (transcript_id and gene_id, or a transcript's ID and its gene Parent); "
                        "give the annotation the transcripts were quantified against, or a two-column tx2gene table")
    if not out:
        raise DataError(f"feature map {p.name}: no feature id and gene id lines; give two columns")
    return out


_ENSEMBL_VERSION = re.compile(r"^(ENS[A-Z]*[TGP][0-9]{11})\.[0-9]+$")


def map_features(adata, mapping: dict[str, str], *, duplicates: Duplicates = "error", source: str = "feature map"):
    """``adata`` with its features renamed to the genes ``mapping`` gives them (microarray probes to genes);
    features without a gene, or with several, are dropped, and features of one gene are resolved by
    ``duplicates`` (``"error"``, ``"first"``, ``"mean"``: averaged, missing values left out, or ``"sum"``: added,
    for counts or TPM, e.g. transcripts to their genes with a tx2gene table). The original
    id is kept in ``var["feature_id"]`` (the first feature's, for merged ones) and the counts in the history.
    Ensembl ids versioned on one side only are matched without their versions."""
    from ..pp.history import record

    require_anndata(adata, "map_features")
    if not isinstance(mapping, Mapping):
        raise DataError(f"map_features: mapping must be a dict of feature id -> gene, not {type(mapping).__name__}; "
                        "read a feature map file with rnagen.data.read_feature_map")
    if duplicates not in _DUPLICATES:
        raise DataError(f"unknown duplicates policy {duplicates!r}; choose one of {', '.join(_DUPLICATES)}")
    feats = [str(v) for v in adata.var_names]
    genes = [mapping.get(f) for f in feats]
    listed = sum(g is not None for g in genes)
    unversioned = False
    if listed < len(feats):
        # Ensembl ids with a version on one side only (ENST00000456328.2 against ENST00000456328)
        strip = {_ENSEMBL_VERSION.sub(r"\1", k): v for k, v in mapping.items()}
        alt = [strip.get(_ENSEMBL_VERSION.sub(r"\1", f)) for f in feats]
        if sum(g is not None for g in alt) > listed:
            genes, listed, unversioned = alt, sum(g is not None for g in alt), True
    if listed == 0:
        raise DataError(f"{source}: none of the data's {len(feats)} feature ids is listed (data: {feats[0][:30]!r}, "
                        f"map: {next(iter(mapping))[:30]!r}); give the map of this platform")
    keep = [i for i, g in enumerate(genes) if g]
    if not keep:
        raise DataError(f"{source}: the {listed} listed features map to no single gene; check the map's gene column")
    out = adata[:, keep].copy()
    out.var["feature_id"] = [feats[i] for i in keep]
    out.var_names = pd.Index([str(genes[i]) for i in keep])
    dup_source = f"{source} (several features of one gene)"
    if duplicates == "error" and out.var_names.duplicated().any():
        d = out.var_names[out.var_names.duplicated()]
        raise DataError(f"{dup_source}: {len(d)} features map to a gene another feature maps to, e.g. {str(d[0])!r}; "
                        "average them, add them (counts) or keep the first (rnagen data prepare --duplicates "
                        "mean|sum|first)")
    out, n_merged = _collapse(out, axis="var", how=duplicates, source=dup_source)
    record(out, "map_features", source=source, n_features=len(feats), n_unlisted=len(feats) - listed,
           n_no_single_gene=listed - len(keep), n_merged=n_merged, duplicates=duplicates, n_genes=out.n_vars,
           matched_without_version=unversioned)
    return out


# ------------------------------------------------------------------------------------------ GEO series matrix

_GEO_BEGIN, _GEO_END = "!series_matrix_table_begin", "!series_matrix_table_end"


def _is_geo(lines: list[str]) -> bool:
    """A GEO series matrix (``GSExxx_series_matrix.txt``) starts with ``!Series_`` / ``!Sample_`` lines."""
    first = next((ln for ln in lines if ln.strip()), "")
    return first.startswith(("!Series_", "!Sample_")) or first.lower().startswith(_GEO_BEGIN)


def _unquote(field: str) -> str:
    field = field.strip()
    return field[1:-1] if len(field) >= 2 and field[0] == field[-1] == '"' else field


def _geo_obs(samples: list[str], meta: list[tuple[str, list[str]]], source: str) -> pd.DataFrame:
    """Sample annotations from the ``!Sample_*`` lines: one column per field (``title``, ``source_name_ch1``,
    ...), and each ``key: value`` of the ``characteristics`` lines in a column named by its key (``tissue``,
    ``disease state``, ...), whichever line GEO put it on; values numeric where all are numbers."""
    n = len(samples)
    cols: dict[str, list[str]] = {}
    chars: dict[str, str] = {}  # the columns the characteristics lines fill -> which line kind (ch1, ch2)
    for key, vals in meta:
        if len(vals) != n:
            continue  # a field GEO did not give per sample
        if key == "geo_accession":
            if vals != samples:
                raise DataError(f"{source}: the !Sample_geo_accession line does not list the table's sample "
                                f"columns in order ({vals[:2]} against {samples[:2]}); download the file again")
            continue
        if key.startswith("characteristics"):
            for i, cell in enumerate(vals):
                ck, colon, value = cell.partition(":")
                keyed = bool(colon and ck.strip())
                name = ck.strip() if keyed else key
                if name in cols and chars.get(name) != key:
                    # a key that names another !Sample_ field, or the other channel's (two-colour arrays)
                    name += f" ({key.rsplit('_', 1)[-1]})" if name in chars else " (characteristics)"
                chars.setdefault(name, key)
                cols.setdefault(name, [""] * n)[i] = value.strip() if keyed else cell
            continue
        name, j = key, 2
        while name in cols:  # a field GEO repeats (relation, data_processing, ...) or a characteristic's key
            name, j = f"{key}_{j}", j + 1
        cols[name] = vals
    obs = pd.DataFrame(index=pd.Index(samples))
    for k, v in cols.items():
        num = pd.to_numeric(pd.Series(v), errors="coerce")
        obs[k] = num.to_numpy() if num.notna().all() else pd.Categorical(v)
    return obs


def _geo_head(fh, source: str) -> tuple[list[tuple[str, list[str]]], int]:
    """The ``!Sample_*`` lines of an open series matrix, read up to its table's begin marker, and the number of
    lines read."""
    meta: list[tuple[str, list[str]]] = []
    n_line = 0
    for line in fh:
        n_line += 1
        row = line.rstrip("\r\n")
        if row.strip().lower() == _GEO_BEGIN:
            return meta, n_line
        if row.startswith("!Sample_"):
            fields = row.split("\t")
            meta.append((fields[0][len("!Sample_"):], [_unquote(f) for f in fields[1:]]))
    raise DataError(f"{source}: a GEO series matrix without its {_GEO_BEGIN!r} line; download the "
                    "*_series_matrix.txt.gz file again")


def _geo_samples(p: Path, txt: _Text) -> pd.DataFrame:
    """The sample annotations of a series matrix (one row per ``GSM`` accession), its table left unread; of a
    SOFT file likewise (:func:`_soft_samples`)."""
    if _is_soft(txt.lines):
        return _soft_samples(p, txt)

    def _parse(encoding: str) -> list[tuple[str, list[str]]]:
        with txt.open(encoding) as fh:
            return _geo_head(fh, p.name)[0]

    meta = _parse_text(txt, _parse)
    samples = next((vals for key, vals in meta if key == "geo_accession"), None)
    if not samples:
        raise DataError(f"{p.name}: a GEO series matrix without its !Sample_geo_accession line; download it again")
    return _geo_obs(samples, meta, p.name)


def _geo_text(p: Path) -> _Text:
    _check_file(p, "GEO series matrix")
    txt = _Text(p, sep="\t", fmt="tsv")
    if txt.content_format is not None or not (_is_geo(txt.lines) or _is_soft(txt.lines)):
        raise DataError(f"{p.name} is not a GEO series matrix (it starts with neither !Series_ nor !Sample_ lines); "
                        "give a GSExxx_series_matrix.txt[.gz] file")
    return txt


def read_geo_samples(path: str | os.PathLike) -> pd.DataFrame:
    """The sample annotations of a GEO series matrix (``GSExxx_series_matrix.txt[.gz]``), indexed by ``GSM``
    accession: one column per ``!Sample_`` field and per characteristic key, as :func:`read` puts them in ``obs``;
    the expression table is not read (an RNA-seq series has none there)."""
    p = as_path(path, "read_geo_samples: the file")
    return _geo_samples(p, _geo_text(p))


def geo_has_values(path: str | os.PathLike) -> bool:
    """Whether a GEO series matrix's table has a data line after its header (an RNA-seq series' has none)."""
    p = Path(path)
    txt = _geo_text(p)

    def _parse(encoding: str) -> bool:
        with txt.open(encoding) as fh:
            _geo_head(fh, p.name)
            next(fh, "")  # the table's header line
            first = next(fh, "").strip().lower()
            return bool(first) and first != _GEO_END

    return _parse_text(txt, _parse)


def _read_geo(path: Path, txt: _Text):
    """A GEO series matrix: ``!Sample_*`` annotation lines, then the probes x samples table between
    ``!series_matrix_table_begin`` and ``!series_matrix_table_end`` (``null`` = missing)."""
    import anndata as ad

    source = path.name

    def _parse(encoding: str) -> tuple[list[tuple[str, list[str]]], int, list[str]]:
        with txt.open(encoding) as fh:
            meta, n_line = _geo_head(fh, source)
            body: list[str] = []
            for line in fh:
                if line.strip().lower() == _GEO_END:
                    break
                body.append(line)
            else:
                raise DataError(f"{source}: the GEO table has no {_GEO_END!r} line (a cut file?); download it again")
        return meta, n_line, body

    meta, n_head, body = _parse_text(txt, _parse)
    if len(body) < 2:
        m = re.match(r"(GSE[0-9]+)", source, flags=re.IGNORECASE)
        acc = m.group(1).upper() if m else "GSExxx"
        raise DataError(f"{source}: the GEO series matrix holds no expression values (an RNA-seq series keeps them "
                        f"outside it); download NCBI's gene counts with rnagen data fetch geo --accession {acc} "
                        "--counts raw and give this file as --labels")
    header = [_unquote(f) for f in body[0].rstrip("\r\n").split("\t")]
    try:
        df = pd.read_csv(io.StringIO("".join(body)), sep="\t", index_col=0, dtype={header[0]: str},
                         na_values=sorted(_NA_TOKENS), keep_default_na=True, low_memory=False)
    except (pd.errors.ParserError, csv.Error) as e:
        raise DataError(f"{source}: malformed GEO table ({_one_line(e)}); every line needs {len(header)} "
                        "tab-separated fields") from e
    _refuse_locale_marks(df, df.columns, line_of_row=n_head + 2, source=source, tool="GEO's series matrix",
                         again="download the series matrix again")
    _require_numeric(df, df.columns, line_of_row=n_head + 2, source=source)
    samples = [str(c) for c in df.columns]
    obs = _geo_obs(samples, meta, source)
    var = pd.DataFrame(index=pd.Index([str(i) for i in df.index]))
    X = _to_float32(df.to_numpy(dtype=np.float64), var.index, samples, source).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicated ids: validate() raises a DataError
        return ad.AnnData(X=X, obs=obs, var=var)


# ------------------------------------------------------------------------------------------ GEO SOFT

# GEO's SOFT text (GEOquery's getGEO reads it): entities opened by ^KIND = accession lines, their attributes as
# !Key = value lines, their tables between !kind_table_begin and !kind_table_end. A series' family file
# (GSExxx_family.soft.gz) holds its platforms and a table per sample (ID_REF, VALUE, ...); a curated data set
# (GDSxxx.soft.gz) one table (ID_REF, IDENTIFIER, a column per sample) and its subsets (the samples of each
# value of a variable: disease state, agent, time, ...).
_SOFT_KINDS = ("^DATABASE", "^SERIES", "^PLATFORM", "^SAMPLE", "^DATASET", "^SUBSET", "^ANNOTATION")


def _is_soft(lines: list[str]) -> bool:
    first = next((ln for ln in lines if ln.strip()), "")
    return first.upper().startswith(_SOFT_KINDS)


_SoftEntity = tuple[str, str, list[tuple[str, str]], Any]


def _soft_entities(fh, source: str, tables: Callable[[str, str, list[str]], Any] | None = None) -> list[_SoftEntity]:
    """The entities of a SOFT file in order: kind, accession, attributes (key, value) and table: what ``tables``
    makes of its lines as soon as it ends (kind, accession, lines; a family file's many sample tables are not all
    held as text), ``None`` without ``tables`` or without a table."""
    out: list[_SoftEntity] = []
    table: list[str] | None = None
    for raw in fh:
        line = raw.rstrip("\r\n")
        if table is not None and not line.startswith("!"):   # most lines: a table's rows
            if tables is not None and line.strip() and not line.startswith("#"):
                table.append(line)
            continue
        low = line.strip().lower()
        if table is not None:
            if low.endswith("_table_end"):
                kind, acc, attrs, _ = out[-1]
                out[-1] = (kind, acc, attrs, tables(kind, acc, table) if tables is not None else None)
                table = None
            elif tables is not None and line.strip() and not line.startswith("#"):
                table.append(line)
            continue
        if line.startswith("^"):
            kind, _, acc = line[1:].partition("=")
            out.append((kind.strip().upper(), acc.strip(), [], None))
        elif low.startswith("!") and low.endswith("_table_begin"):
            if not out:
                raise DataError(f"{source}: a SOFT table before any ^ entity line; download the file again")
            table = []
        elif line.startswith("!") and out:
            key, _, value = line[1:].partition("=")
            out[-1][2].append((key.strip(), value.strip()))
    if table is not None:
        raise DataError(f"{source}: a SOFT table without its _table_end line (a cut file?); download it again")
    return out


def _soft_table(lines: list[str], source: str, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(io.StringIO("\n".join(lines)), sep="\t", dtype=str, keep_default_na=False,
                           quoting=csv.QUOTE_NONE)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as e:
        raise DataError(f"{source}: malformed SOFT table of {what} ({_one_line(e)[:80]}); download the file "
                        "again") from e


def _soft_values(col: pd.Series, source: str, where: str, ids: Sequence[str] | None = None) -> np.ndarray:
    """A SOFT table column as float64, GEO's null (and the portals' missing marks) as NaN; a value GEO does not
    write (a decimal comma, a thousands separator: the file saved again by a spreadsheet of another locale) refused
    naming it and its probe (``ids``: the table's ID_REF)."""
    text = col.str.strip()
    vals = pd.to_numeric(text.where(~text.isin(_NA_TOKENS | {"null", "NULL", ""})), errors="coerce")
    bad = vals.isna() & ~text.isin(_NA_TOKENS | {"null", "NULL", ""})
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        v = text.iloc[pos]
        probe = f", probe {str(ids[pos])[:40]!r}" if ids is not None else ""
        grouped = _DIGIT_SPACE_DIGIT.search(v) or _DIGIT_APOSTROPHE_DIGIT.search(v)
        if _NUMBER_LIKE.fullmatch(v) and ("," in v or grouped):
            raise DataError(f"{source}: {v[:40]!r} in {where}{probe} has {_number_kind(v)}, but GEO's SOFT files "
                            "write numbers with a decimal point and no thousands separators (the file saved again by "
                            "a spreadsheet of another locale?); download the SOFT file again, or write every value "
                            "with a decimal point and no thousands separators")
        raise DataError(f"{source}: non-numeric value {v[:40]!r} in {where}{probe}; fix or remove it")
    return vals.to_numpy(dtype=np.float64)


def _gds_obs(ents, samples: list[str]) -> pd.DataFrame:
    """A GDS's subsets as sample columns: one per subset type (``disease state``, ``agent``), each sample's value
    the description of its subset of that type (both, joined by ``; ``, for a sample in two)."""
    obs = pd.DataFrame(index=pd.Index(samples))
    for k, _, attrs, _ in ents:
        if k != "SUBSET":
            continue
        a = dict(attrs)
        kind, value = a.get("subset_type", "subset"), a.get("subset_description", "")
        col = obs[kind] if kind in obs.columns else pd.Series("", index=obs.index, dtype=object)
        for s in (x.strip() for x in a.get("subset_sample_id", "").split(",")):
            if s in col.index:
                col[s] = f"{col[s]}; {value}" if col[s] else value
        obs[kind] = col
    for c in obs.columns:
        obs[c] = pd.Categorical(obs[c].where(obs[c] != ""))
    return obs


def _soft_sample_obs(ents, source: str) -> pd.DataFrame:
    """A family SOFT file's samples (GSM accessions) with their ``!Sample_`` lines as columns, as a series
    matrix's (:func:`_geo_obs`: each characteristic under its key)."""
    samples = [(acc, attrs) for k, acc, attrs, _ in ents if k == "SAMPLE"]
    meta: list[tuple[str, list[str]]] = []
    for key in dict.fromkeys(k for _, a in samples for k, _ in a if k.startswith("Sample_")):
        per = [[v for k, v in a if k == key] for _, a in samples]
        for i in range(max(len(v) for v in per)):
            meta.append((key[len("Sample_"):], [v[i] if i < len(v) else "" for v in per]))
    return _geo_obs([acc for acc, _ in samples], meta, source)


def _soft_samples(p: Path, txt: _Text) -> pd.DataFrame:
    """The sample annotations of a SOFT file, for it to label another table: a family file's ``!Sample_`` lines,
    or a GDS's subsets."""
    source = p.name

    def _parse(encoding: str):
        with txt.open(encoding) as fh:
            return _soft_entities(fh, source)

    ents = _parse_text(txt, _parse)
    if any(k == "SAMPLE" for k, _, _, _ in ents):
        return _soft_sample_obs(ents, source)
    ids = [s.strip() for k, _, a, _ in ents if k == "SUBSET"
           for s in dict(a).get("subset_sample_id", "").split(",") if s.strip()]
    if not ids:
        raise DataError(f"label file {source}: a GEO SOFT file without samples or subsets; give the series' "
                        "family file or series matrix")
    return _gds_obs(ents, list(dict.fromkeys(ids)))


def _soft_sample_values(source: str, acc: str, lines: list[str]) -> pd.Series:
    """A family file's sample table (ID_REF, VALUE, ...) as its VALUEs by probe, GEO's null as missing."""
    head = [h.strip() for h in lines[0].split("\t")] if lines else []
    if "VALUE" not in head[1:]:
        raise DataError(f"{source}: sample {acc}'s table has no VALUE column; download the file again")
    try:
        df = pd.read_csv(io.StringIO("\n".join(lines)), sep="\t", usecols=[0, head.index("VALUE")],
                         dtype={0: str}, na_values=sorted(_NA_TOKENS), keep_default_na=False,
                         quoting=csv.QUOTE_NONE)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as e:
        raise DataError(f"{source}: malformed SOFT table of sample {acc} ({_one_line(e)[:80]}); download the file "
                        "again") from e
    ids = df.iloc[:, 0].astype(str)
    if ids.duplicated().any():
        raise DataError(f"{source}: sample {acc} lists probe {ids[ids.duplicated()].iloc[0]!r} twice; download the "
                        "file again")
    col = df.iloc[:, 1]
    if not pd.api.types.is_numeric_dtype(col.dtype):
        return pd.Series(_soft_values(col.astype(str), source, f"sample {acc}", list(ids)), index=ids)
    return pd.Series(col.to_numpy(dtype=np.float64), index=ids)


def _read_soft(path: Path, txt: _Text):
    """A GEO SOFT file: a curated data set (GDS: its table, the subsets as sample columns) or a series' family
    file (each sample's VALUE column by ID_REF, its !Sample_ lines as sample columns, as a series matrix's);
    probes as features, as in a series matrix (``--feature-map`` maps them)."""
    import anndata as ad

    source = path.name

    def _table(kind: str, acc: str, lines: list[str]) -> Any:
        if kind == "SAMPLE":
            return _soft_sample_values(source, acc, lines)
        return _soft_table(lines, source, "the data set") if kind == "DATASET" else None

    def _parse(encoding: str) -> list[_SoftEntity]:
        with txt.open(encoding) as fh:
            return _soft_entities(fh, source, _table)

    ents = _parse_text(txt, _parse)
    kinds = [k for k, _, _, _ in ents]
    if "DATASET" in kinds:
        df = next((t for k, _, _, t in ents if k == "DATASET" and t is not None), None)
        if df is None:
            raise DataError(f"{source}: a GEO data set (GDS) SOFT file without its table; download the full file "
                            "(GDSxxx_full.soft.gz or GDSxxx.soft.gz)")
        samples = [c for c in df.columns[1:] if re.fullmatch(r"GSM\d+", str(c).strip())]
        if not samples:
            raise DataError(f"{source}: the GDS table has no GSM sample columns; download the file again")
        probes = df.iloc[:, 0].astype(str).str.strip().tolist()
        X = np.column_stack([_soft_values(df[s], source, f"sample {s}", probes) for s in samples]).T
        var = pd.DataFrame(index=pd.Index(df.iloc[:, 0].str.strip()))
        for c in df.columns[1:]:
            if c not in samples:
                var[str(c)] = df[c].to_numpy()
        obs = _gds_obs(ents, [s.strip() for s in samples])
    else:
        samples_e = [(acc, attrs, t) for k, acc, attrs, t in ents if k == "SAMPLE"]
        if not samples_e and "SERIES" in kinds:
            raise DataError(f"{source}: a GEO series file without its samples' records (a brief SOFT, or a cut "
                            "download); give the series' full family file (GSExxx_family.soft.gz) or series matrix, "
                            "or for an RNA-seq series NCBI's gene counts (rnagen data fetch geo)")
        if not samples_e:
            what = "a platform description (give it as --feature-map)" if "PLATFORM" in kinds else "no samples"
            raise DataError(f"{source}: a GEO SOFT file of {what}, not expression values; give the series' "
                            "family file (GSExxx_family.soft.gz) or series matrix")
        platforms = sorted({dict(a).get("Sample_platform_id", "") for _, a, _ in samples_e} - {""})
        if len(platforms) > 1:
            raise DataError(f"{source}: samples of {len(platforms)} platforms ({', '.join(platforms[:4])}), whose "
                            "probes differ; give the series matrix of one platform (GSExxx-GPLyyy_series_matrix."
                            "txt.gz)")
        lacking = next((acc for acc, _, t in samples_e if t is None or not len(t)), None)
        if lacking is not None:
            raise DataError(f"{source}: sample {lacking} has no table (an RNA-seq series keeps its values outside "
                            "GEO's records); download NCBI's gene counts with rnagen data fetch geo and give this "
                            "file's series matrix as --labels")
        frame = pd.DataFrame({acc: t for acc, _, t in samples_e})   # a probe a sample lacks: a missing value
        X = frame.to_numpy(dtype=np.float64).T
        var = pd.DataFrame(index=pd.Index([str(i) for i in frame.index]))
        obs = _soft_sample_obs(ents, source)
    X = _to_float32(X, list(obs.index), list(var.index), source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicated ids: validate() raises a DataError
        return ad.AnnData(X=X, obs=obs, var=var)


# ------------------------------------------------------------------------------------------ featureCounts

_FC_HEADER = ["Geneid", "Chr", "Start", "End", "Strand", "Length"]
# what aligners append to a sample's name in its BAM file name (STAR's Aligned.sortedByCoord.out.bam, ...)
_BAM_SUFFIXES = ("Aligned.sortedByCoord.out", "Aligned.toTranscriptome.out", "Aligned.out", ".sorted", ".sort",
                 ".dedup", ".markdup")


def _fc_comment_lines(lines: list[str]) -> int:
    n = 0
    while n < len(lines) and lines[n].startswith("#"):
        n += 1
    return n


def _is_featurecounts(lines: list[str]) -> bool:
    """A featureCounts table (Liao et al. 2014): ``# Program:featureCounts`` comment lines, then ``Geneid Chr
    Start End Strand Length`` and one column per BAM file."""
    n = _fc_comment_lines(lines)
    return n < len(lines) and lines[n].split("\t")[:6] == _FC_HEADER


def _bam_sample_names(files: list[str]) -> list[str]:
    """Sample names from featureCounts' BAM paths: the file name less its extension and an aligner suffix all of
    them share; the paths themselves where that would name two samples alike."""
    names = [re.sub(r"\.(bam|sam|cram)$", "", f.replace("\\", "/").rsplit("/", 1)[-1], flags=re.IGNORECASE)
             for f in files]
    for suffix in _BAM_SUFFIXES:
        if all(n.endswith(suffix) and len(n) > len(suffix) for n in names):
            names = [n[: -len(suffix)].rstrip("._-") or n for n in names]
            break
    return names if len(set(names)) == len(names) and all(names) else list(files)


def _refuse_unwritten_counts(df: pd.DataFrame, line_of_row: int, source: str, again: str) -> None:
    """Refuse a featureCounts value its writer never writes (Liao et al. 2014; Subread's featureCounts.c): a gene
    length is a whole number, a count a whole number or, counted fractionally (``-M --fraction``), one with two
    decimals; more decimals (``1.234``) are a spreadsheet's thousands point, read as a thousandth of the count."""
    for c in ["Length", *df.columns[5:]]:
        x = df[c].to_numpy(dtype=np.float64)
        scale = 1.0 if c == "Length" else 100.0
        with np.errstate(invalid="ignore"):
            odd = np.isfinite(x) & (np.abs(x * scale - np.round(x * scale)) > 1e-6 * np.maximum(1.0, np.abs(x * scale)))
        if odd.any():
            pos = int(np.flatnonzero(odd)[0])
            what = "a gene length is a whole number" if c == "Length" else (
                "a count is a whole number, or with -M --fraction one with two decimals")
            raise DataError(f"{source}: {repr(float(x[pos]))!r} at line {pos + line_of_row}, column "
                            f"{str(c)[:40]!r} (gene {str(df.index[pos])[:40]!r}) is no value featureCounts writes "
                            f"({what}: a thousands point of a spreadsheet's locale, read as a thousandth?); {again}, "
                            "or write the values without thousands separators")


def _read_featurecounts(path: Path, txt: _Text):
    """featureCounts' output: genes x BAM files of counts after five annotation columns; samples named by their
    BAM files (the paths kept in ``obs["file"]``), the gene lengths kept in ``var["length"]``."""
    import anndata as ad

    source = path.name
    skip = _fc_comment_lines(txt.lines)

    def _parse(encoding: str) -> pd.DataFrame:
        with txt.open(encoding) as fh:
            return pd.read_csv(fh, sep="\t", skiprows=skip, index_col=0, low_memory=False,
                               dtype={c: str for c in _FC_HEADER[:5]})

    try:
        df = _parse_text(txt, _parse)
    except (pd.errors.ParserError, csv.Error) as e:
        raise DataError(f"{source}: malformed featureCounts table ({_one_line(e)}); every line needs the header's "
                        "tab-separated fields") from e
    files = [str(c) for c in df.columns[5:]]
    if not files:
        raise DataError(f"{source}: a featureCounts table without count columns; run featureCounts on the BAM files")
    again = "give featureCounts' own output"
    _refuse_locale_marks(df, ["Length", *df.columns[5:]], line_of_row=skip + 2, source=source, tool="featureCounts",
                         again=again)
    _require_numeric(df, ["Length", *df.columns[5:]], line_of_row=skip + 2, source=source)
    _refuse_unwritten_counts(df, skip + 2, source, again)
    samples = _bam_sample_names(files)
    var = pd.DataFrame({"length": df["Length"].to_numpy()}, index=pd.Index([str(i) for i in df.index]))
    obs = pd.DataFrame({"file": files}, index=pd.Index(samples))
    X = _to_float32(df[df.columns[5:]].to_numpy(dtype=np.float64), var.index, samples, source).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicated ids: validate() raises a DataError
        return ad.AnnData(X=X, obs=obs, var=var)


# the code classes of an nCounter probe (RCC files, nSolver's exports): genes, spike-in controls and the
# panel-specific controls (Binding, Purification, Ligation, SNV_*)
_NCOUNTER_CLASS = re.compile(r"(endogenous\d*|housekeeping|positive|negative|binding|purification|ligation"
                             r"|spikein|invariant|snv_\w+)", flags=re.I)


def _is_nsolver_export(txt: _Text) -> bool:
    """NanoString nSolver's RCC Collector export: lanes as columns after three label columns, ``File Name`` on the
    first line, then the lanes' attributes (``Sample ID``, ``Lane ID``, ``Binding Density``, ...), then one line per
    probe: ``CodeClass,Name,Accession,count per lane``."""
    if not txt.lines or txt.sep == _WHITESPACE:
        return False
    first = _fields(txt.lines[0], txt.sep)
    if len(first) < 4 or first[0].strip().lower() != "file name" or any(f.strip() for f in first[1:3]):
        return False
    return any((f := _fields(ln, txt.sep)) and _NCOUNTER_CLASS.fullmatch(f[0].strip()) for ln in txt.lines[1:])


def _read_nsolver_export(path: Path, txt: _Text):
    """An nSolver RCC Collector export (:func:`_is_nsolver_export`) as the lanes' RCC files read as a folder:
    the gene probes' counts (Endogenous, Housekeeping; ``var["code_class"]``, ``var["accession"]``), each lane's
    positive-control geometric mean and negative-control mean, SD and maximum (for ``--normalize nanostring`` and
    ``--background``), its attributes as ``obs`` columns (``Sample ID``: a ``--label-key``) and its file in
    ``obs["file"]``; samples named by their RCC files less the extension."""
    import anndata as ad

    from .quant import RCC_GENES, control_stats

    source = path.name
    with txt.open() as fh:
        rows = [r for r in csv.reader(fh, delimiter=txt.sep) if any(c.strip() for c in r)]
    files = [c.strip() for c in rows[0][3:]]
    while files and not files[-1]:
        files.pop()
    n = len(files)
    if not n or not all(files):
        raise DataError(f"{source}: an nSolver export whose File Name line has an empty lane; export it again")
    attrs: dict[str, list[str]] = {}
    probes: list[list[str]] = []
    for i, r in enumerate(rows[1:], start=2):
        head = r[0].strip()
        if head.lower().replace(" ", "") == "codeclass":
            continue   # the probe table's own header, in some exports
        if not _NCOUNTER_CLASS.fullmatch(head):
            if probes:
                raise DataError(f"{source}: line {i} ({head[:30]!r}) is neither a lane attribute nor a probe of a "
                                "code class (Endogenous, Housekeeping, Positive, Negative); check the file")
            attrs[head] = [c.strip() for c in (r[3:] + [""] * n)[:n]]
            continue
        if len(r) < 3 + n:
            raise DataError(f"{source}: line {i} (probe {r[1].strip()[:30]!r}) has {max(0, len(r) - 3)} counts for "
                            f"{n} lanes (a cut file?); export it again")
        counts_text = [c.strip() for c in r[3:3 + n]]
        marked = next((j for j, c in enumerate(counts_text) if _MARKS.search(c) and _NUMBER_LIKE.fullmatch(c)), None)
        if marked is not None:
            # nSolver writes counts as whole numbers; a mark is a spreadsheet's (1.234 would be read as 1.234)
            c = counts_text[marked]
            raise DataError(f"{source}: count {c[:20]!r} at line {i} (probe {r[1].strip()[:30]!r}, lane "
                            f"{files[marked]!r}) has {_number_kind(c)}, but nSolver writes counts as whole numbers "
                            "without thousands separators (the file saved again by a spreadsheet of another locale?); "
                            "export it from nSolver again, or write the counts without separators")
        probes.append([c.strip() for c in r[:3 + n]])
    genes = [p for p in probes if p[0].startswith(RCC_GENES)]
    if not genes:
        raise DataError(f"{source}: an nSolver export without Endogenous or Housekeeping probes; check the file")
    names = pd.Index([p[1] for p in genes])
    if names.duplicated().any():
        raise DataError(f"{source}: probe {names[names.duplicated()][0]!r} is listed twice; check the file")
    counts = pd.DataFrame([p[3:] for p in genes], index=names, columns=range(n)).apply(pd.to_numeric,
                                                                                      errors="coerce")
    if counts.isna().to_numpy().any():
        g, j = next((g, j) for j in range(n) for g in names if pd.isna(counts.at[g, j]))
        bad = genes[names.get_loc(g)][3 + j]
        raise DataError(f"{source}: non-numeric count {bad[:20]!r} for probe {g!r} in lane {files[j]!r}; check the "
                        "file")
    stats = [control_stats([p[3 + j] for p in probes if p[0] == "Positive"],
                           [p[3 + j] for p in probes if p[0] == "Negative"]) for j in range(n)]
    samples = [re.sub(r"\.rcc$", "", f, flags=re.I) or f for f in files]
    if len(set(samples)) < n:
        samples = files
    obs = pd.DataFrame({"file": files}, index=pd.Index(samples))
    for name, values in attrs.items():
        if name and name.lower() != "file name" and any(values) and name not in obs.columns:
            obs[name] = values
    obs["positive_control_geomean"] = [g for g, _ in stats]
    for k, what in enumerate(("mean", "sd", "max")):
        obs[f"negative_control_{what}"] = [neg[k] for _, neg in stats]
    var = pd.DataFrame({"code_class": [p[0] for p in genes], "accession": [p[2] for p in genes]}, index=names)
    info = {"kind": "nanostring", "quantity": "counts", "column": "Count", "n_files": n, "level": "gene",
            "n_control_probes": len(probes) - len(genes)}
    X = counts.to_numpy(np.float64).T.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicated lanes: validate() raises a DataError
        return ad.AnnData(X=X, obs=obs, var=var), info


# ------------------------------------------------------------------------------------------ labels

#: the end of an error on missing labels: a class whose name is a missing-value mark cannot be told from a missing
#: label (pandas and R read ``NA`` as missing too), so it needs another name
NA_CLASS_HINT = ("; NA, nan and the other missing-value marks are read as no label in every file, never as a class: "
                 "a class so named needs another name in the label column (e.g. 'NA (class)')")


def missing_labels(values) -> np.ndarray:
    """Boolean mask of missing labels: NaN/None, empty or blank strings, and NA tokens (``nan``, ``NA``, ...)."""
    s = pd.Series(np.asarray(values, dtype=object))
    na = s.isna().to_numpy()
    txt = s.astype(str).str.strip()
    return na | txt.isin(_NA_TOKENS).to_numpy()


def label_column_counts(path: str | os.PathLike, label_key: str) -> dict[str, int] | None:
    """How many rows of each class a label table holds in its column headed ``label_key`` (any table
    :func:`read_labels` reads: CSV/TSV, a workbook, parquet, an .h5ad's ``obs``); ``None`` where no column of its
    first row is headed so, or that is no table of labels. A row without a label is an error naming how many (a
    missing label is no class)."""
    p = Path(path)
    try:
        raw = _label_rows(p, sep=None, label_key=label_key)
    except DataError:
        return None
    if raw.shape[0] < 2:
        return None
    head = raw.iloc[0].astype(str).str.strip().to_numpy()
    cols = np.flatnonzero(head == label_key)
    if len(cols) != 1:
        return None
    values = raw.iloc[1:, int(cols[0])].astype(str).str.strip().to_numpy(dtype=object)
    miss = missing_labels(values)
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        # named by the row's id, the first column's value: .h5ad, parquet or a workbook have no lines to count
        row = f"data row {i + 1}"
        where = f"sample {str(raw.iloc[1 + i, 0])[:40]!r}, {row}" if int(cols[0]) != 0 else row
        raise DataError(f"{p.name}: {int(miss.sum())} of its {len(values)} rows {'has' if miss.sum() == 1 else 'have'} "
                        f"no {label_key!r} label (the first: {where}); give every row its class, or remove those "
                        "rows")
    return {str(k): int(v) for k, v in pd.Series(values).value_counts(sort=False).items()}


def check_labelled(adata, label_key: str, *, source: str | None = None) -> None:
    """Raise a :class:`DataError` naming the count and the first sample when any ``obs[label_key]`` value is
    missing in the sense of :func:`missing_labels` (a missing label must never become a class ``nan``)."""
    miss = missing_labels(adata.obs[label_key].astype(object).to_numpy())
    if miss.any():
        first = str(adata.obs_names[int(np.flatnonzero(miss)[0])])
        where = f"{source}: " if source else ""
        raise DataError(f"{where}{int(miss.sum())} of {adata.n_obs} samples have no {label_key!r} label (empty, "
                        f"NA or a missing-value mark such as '-- or [Not Available]; first: sample {first[:40]!r}); "
                        f"give them a label or drop them (rnagen data prepare --drop-unlabelled){NA_CLASS_HINT}")


def _label_strings(s: pd.Series, *, say: bool = True) -> pd.Series:
    """Labels as stripped strings in Unicode normal form C (:func:`rnagen.utils.label_text`; integral numbers
    without ``.0``), missing ones as NaN. With ``say``, labels that become one by the stripping (``' sp '`` and
    ``'sp'``: most likely one class typed twice) are named in a warning, since they are read as one class."""
    vals = s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s
    miss = missing_labels(vals.to_numpy())
    num = pd.to_numeric(pd.Series(vals.to_numpy()), errors="coerce")
    out: list[str | float] = []
    for v, n, m in zip(vals.tolist(), num.tolist(), miss):
        if m:
            out.append(np.nan)
        elif isinstance(v, (bool, np.bool_)):
            out.append(str(bool(v)))   # True / False, as a text file writes them (not 1 / 0)
        elif not isinstance(v, str) and n == n and float(n).is_integer():
            out.append(str(int(n)))
        else:
            out.append(label_text(v).strip())
    if say:
        forms: dict[str, set[str]] = {}
        for v, o in zip(vals.tolist(), out):
            if isinstance(v, str) and isinstance(o, str):
                forms.setdefault(o, set()).add(label_text(v))
        merged = sorted(sorted(f) for f in forms.values() if len(f) > 1)
        if merged:
            import warnings

            shown = ", ".join("/".join(repr(x) for x in g) for g in merged[:3]) + (", ..." if len(merged) > 3 else "")
            warnings.warn(f"labels that differ only in leading or trailing spaces are read as one class ({shown}); "
                          "give them distinct names if they are distinct classes", UserWarning, stacklevel=3)
    return pd.Series(out, index=s.index, dtype=object)


def _check_same_labels(own: pd.Series, given: Any, name: str, source: str) -> None:
    """Refuse a label file whose ``name`` column disagrees with the data's own column of that name on a sample
    both label: which of the two the user meant is not for the reader to guess."""
    a = _label_strings(pd.Series(own.to_numpy(), index=own.index), say=False)
    b = _label_strings(pd.Series(np.asarray(given, dtype=object), index=own.index), say=False)
    both = a.notna() & b.notna()
    differ = both & (a.astype(str) != b.astype(str))
    if differ.any():
        i = differ.to_numpy().nonzero()[0][0]
        raise DataError(f"the data's own {name!r} column and the label file {source} disagree on {int(differ.sum())} "
                        f"of {len(a)} samples (first: {str(own.index[i])[:40]!r}, {str(a.iloc[i])[:30]!r} in the "
                        f"data, {str(b.iloc[i])[:30]!r} in the file); give --label-key another column of the file, "
                        "or leave out --labels to use the data's")


def _apply_labels(adata, label_key: str, *, drop_unlabelled: bool, source: str, keep_unlabelled: bool = False):
    """Make ``obs[label_key]`` categorical strings; missing labels are an error, dropped, or (``keep_unlabelled``)
    kept missing."""
    lab = _label_strings(adata.obs[label_key])
    miss = lab.isna().to_numpy()
    if keep_unlabelled:
        adata.obs[label_key] = pd.Categorical(lab.to_numpy(dtype=object))   # NaN stays missing, no class 'nan'
        return adata, 0
    if miss.any():
        first = str(adata.obs_names[int(np.flatnonzero(miss)[0])])
        if not drop_unlabelled:
            raise DataError(f"{source}: {int(miss.sum())} of {adata.n_obs} samples have no {label_key!r} label (empty, "
                            f"NA or a missing-value mark such as '-- or [Not Available]; first: sample "
                            f"{first[:40]!r}); give them a label or drop them (rnagen data prepare --drop-unlabelled)"
                            f"{NA_CLASS_HINT}")
        if miss.all():
            raise DataError(f"{source}: no sample has a {label_key!r} label; check --label-key or the label file")
        adata = adata[~miss].copy()
        lab = lab[~miss]
    adata.obs[label_key] = pd.Categorical(lab.to_numpy(dtype=object).astype(str))
    return adata, int(miss.sum())


def _label_rows(p: Path, *, sep: str | None, label_key: str | None = None,
                ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The fields of a label file as strings (no NA parsing), trailing blank lines removed. Of a workbook of
    several sheets, the one sheet holding a cell ``label_key`` and a cell naming one of ``ids``; of an archive,
    its label table (:func:`rnagen.data.quant.label_table`)."""
    _check_file(p, "label file", "check the --labels path")
    from .quant import is_archive, label_table

    if is_archive(p):
        with label_table(p) as table:
            return _label_rows(table, sep=sep, label_key=label_key, ids=ids)
    txt = _Text(p, sep=sep, fmt=_format(p))
    if txt.content_format in _WORKBOOKS:
        wanted = set(ids or ())

        def fits(cells: pd.DataFrame) -> bool:
            text = cells.astype(str).apply(lambda c: c.str.strip())
            return ((label_key is None or bool((text == label_key).to_numpy().any()))
                    and (not wanted or bool(text.isin(wanted).to_numpy().any())))

        cells = _excel_sheet(p, None, what="label file ", fmt=txt.content_format,
                             fits=fits if label_key is not None or wanted else None)
        if cells.shape[1] > 1:
            cells = cells.iloc[_table_row(cells):]
        return cells.apply(lambda c: c.map(lambda v: "" if pd.isna(v) else str(v))).reset_index(drop=True).set_axis(
            range(cells.shape[1]), axis=1)
    if txt.content_format in ("rds", "rdata"):
        return _r_label_rows(p)
    if txt.content_format == "h5ad":
        return _frame_label_rows(_h5ad_obs(p))
    if txt.content_format in ("parquet", "feather"):
        try:
            df = pd.read_parquet(p) if txt.content_format == "parquet" else pd.read_feather(p)
        except Exception as e:  # pyarrow raises many types for a bad file
            raise DataError(f"label file {p.name}: not a readable {txt.content_format} file ({type(e).__name__}); "
                            "re-export it") from e
        return _frame_label_rows(_pandas_index(df))
    if txt.content_format is not None:
        raise DataError(f"label file {p.name}: a binary {txt.content_format} file; give a CSV/TSV with sample id "
                        f"and label columns, or one label per line")
    if not txt.lines:
        raise DataError(f"label file {p.name}: empty; give a CSV/TSV with sample id and label columns, or one label "
                        f"per line")
    if txt.lines[0].lstrip().startswith(("[", "{")):
        return _json_label_rows(p, txt)
    try:
        with txt.open() as fh:
            raw = pd.read_csv(fh, sep=txt.sep, header=None, dtype=str, keep_default_na=False,
                              skip_blank_lines=False, skiprows=_table_start(txt.lines, txt.sep))
    except pd.errors.ParserError as e:
        # Expression Atlas's condensed SDRF leaves out the ontology term where a value has none: rows of 6 and 7
        # fields. Padded, it is read when it is one; any other table of ragged rows is malformed.
        sdrf = _ragged_sdrf(txt, p.name)
        if sdrf is None:
            raise DataError(f"label file {p.name}: malformed ({_one_line(e)}); give a CSV/TSV with sample id and "
                            f"label columns, or one label per line") from e
        return sdrf
    except (pd.errors.EmptyDataError, UnicodeError, csv.Error, OSError) as e:
        raise DataError(f"label file {p.name}: malformed ({_one_line(e)}); give a CSV/TSV with sample id and label "
                        f"columns, or one label per line") from e
    while len(raw) and raw.iloc[-1].fillna("").str.strip().eq("").all():
        raw = raw.iloc[:-1]  # trailing blank lines
    return _condensed_sdrf(raw, p.name)


def _ragged_sdrf(txt: _Text, source: str) -> pd.DataFrame | None:
    """A condensed SDRF whose rows have 6 or 7 fields (:func:`_condensed_sdrf` of them padded to the widest),
    ``None`` for a table that is no condensed SDRF."""
    try:
        with txt.open() as fh:
            rows = [r for r in csv.reader(fh, delimiter=txt.sep) if any(c.strip() for c in r)]
    except (csv.Error, UnicodeError, OSError):
        return None
    width = max((len(r) for r in rows), default=0)
    if width < 6 or width > 7:
        return None
    raw = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=str)
    out = _condensed_sdrf(raw, source)
    return out if out is not raw else None


def _flat_record(obj: Any, prefix: str = "") -> dict[str, str]:
    """A JSON record's fields as ``a.b.c`` -> text: a list's items merged, the distinct values of a field in them
    joined by ``;`` (a file of one case has one value)."""
    if isinstance(obj, dict):
        out: dict[str, str] = {}
        for k, v in obj.items():
            out.update(_flat_record(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, list):
        parts = [_flat_record(x, prefix) for x in obj]
        keys = dict.fromkeys(k for d in parts for k in d)
        return {k: ";".join(dict.fromkeys(d[k] for d in parts if k in d and d[k] != "")) for k in keys}
    return {prefix[:-1] or "value": "" if obj is None else str(obj)}


# the GDC portal's metadata JSON (metadata.cart.*.json) fields under the names of its sample sheet, which the
# sample-sheet matching reads (files by name or id, samples by their TCGA ids)
_GDC_JSON_FIELDS = (("File ID", ("file_id",)), ("File Name", ("file_name",)),
                    ("Data Category", ("data_category",)), ("Data Type", ("data_type",)),
                    ("Project ID", ("cases.project.project_id",)), ("Case ID", ("cases.submitter_id",)),
                    ("Sample ID", ("cases.samples.submitter_id", "associated_entities.entity_submitter_id")),
                    ("Sample Type", ("cases.samples.sample_type",)))


def _json_label_rows(p: Path, txt: _Text) -> pd.DataFrame:
    """A JSON label file: a list of records (the GDC portal's metadata JSON, one per file) or an API reply
    (``{"data": {"hits": [...]}}``), each record flattened to ``a.b.c`` fields; the GDC's fields also under their
    sample-sheet names, so its files match as a sample sheet's do."""
    import json

    try:
        with txt.open() as fh:
            doc = json.load(fh)
    except (ValueError, UnicodeError) as e:
        raise DataError(f"label file {p.name}: not readable JSON ({_one_line(e)[:80]}); give a list of records, or "
                        "a CSV/TSV with sample id and label columns") from e
    records = doc.get("data", {}).get("hits") if isinstance(doc, dict) and isinstance(doc.get("data"), dict) else doc
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise DataError(f"label file {p.name}: JSON that is no list of records (one object per sample or file); "
                        "give such a list, or a CSV/TSV with sample id and label columns")
    flat = [_flat_record(r) for r in records]
    keys = list(dict.fromkeys(k for d in flat for k in d))
    if "file_id" in keys and "file_name" in keys:   # the GDC portal's metadata
        named = [(name, next((f for f in fields if f in keys), None)) for name, fields in _GDC_JSON_FIELDS]
        for d in flat:
            d.update({name: d.get(f, "") for name, f in named if f is not None})
        keys = [name for name, f in named if f is not None] + keys
    return pd.DataFrame([keys, *([d.get(k, "") for k in keys] for d in flat)])


_SDRF_KINDS = frozenset({"characteristic", "factor"})


def _condensed_sdrf(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """Expression Atlas's condensed SDRF (``E-MTAB-5214.condensed-sdrf.tsv``: no header, a row per assay and
    variable: experiment, array design, assay, ``characteristic`` or ``factor``, variable, value, ontology term)
    as a table of one row per assay and a column per variable, factors first (a header row first, as the label
    rows are); a variable given as both, the factor's value. Any other table as it is."""
    if raw.shape[1] < 5 or len(raw) < 1:
        return raw
    # a column of kinds has one on (nearly) every row: its first rows show it, the rest are checked
    kinds = [j for j in range(1, raw.shape[1] - 2)
             if raw[j].iloc[:200].str.strip().str.lower().isin(_SDRF_KINDS).mean() >= 0.5
             and raw[j].str.strip().str.lower().isin(_SDRF_KINDS).mean() >= 0.9]
    if not kinds:
        return raw
    j = kinds[0]
    rows = pd.DataFrame({"assay": raw[j - 1].str.strip(), "kind": raw[j].str.strip().str.lower(),
                         "key": raw[j + 1].str.strip(), "value": raw[j + 2].str.strip()})
    rows = rows[rows["kind"].isin(_SDRF_KINDS) & (rows["assay"] != "") & (rows["key"] != "")]
    clash = rows.groupby(["assay", "key", "kind"], sort=False)["value"].nunique()
    if (clash > 1).any():
        assay, key, _ = clash[clash > 1].index[0]
        raise DataError(f"label file {source}: assay {assay!r} has several values of {key!r}; give one per assay")
    factors_first = rows.sort_values("kind", kind="stable", key=lambda k: k.eq("characteristic"))
    wide = factors_first.drop_duplicates(["assay", "key"]).pivot(index="assay", columns="key", values="value")
    # the experiment's factors (what it varies) first: the label column taken without --label-key
    keys = dict.fromkeys([*rows.loc[rows["kind"] == "factor", "key"], *rows["key"]])
    wide = wide.reindex(index=list(dict.fromkeys(rows["assay"])), columns=list(keys))
    head = pd.DataFrame([["assay", *wide.columns]])
    return pd.concat([head, pd.DataFrame(wide.reset_index().fillna("").to_numpy())], ignore_index=True)


def _labels_in_order(raw: pd.DataFrame, n: int, *, label_key: str | None, source: str) -> tuple[str, pd.Categorical]:
    """One column of labels in sample order, with a header line when it has one line more than samples."""
    vals = raw[0].tolist()
    if len(vals) == n + 1:
        name, vals = vals[0], vals[1:]
        if str(name).strip() in {str(v).strip() for v in vals}:
            # the first line is one of the labels, not a column's name: one label too many, and taking the first
            # for a header would give every sample the next sample's label
            raise DataError(f"label file {source}: {n + 1} lines for {n} samples, and its first line "
                            f"{str(name).strip()[:40]!r} is one of the labels, not a column name; give one label per "
                            "sample in sample order (a header line above them is fine), or a table with sample ids")
    elif len(vals) == n:
        name = label_key or "label"
        first = str(vals[0]).strip()
        counts = pd.Series([str(v).strip() for v in vals]).value_counts()
        if n >= 10 and counts[first] == 1 and (counts.drop(first) >= 2).all():
            # one line per sample, the first a value no other line has: a header line over one label too few
            raise DataError(f"label file {source}: its first line {first[:40]!r} appears on no other line, as a "
                            f"header's name would, and the {n - 1} lines under it would label {n} samples; give one "
                            "label per sample in sample order (a header line above them is fine), or a table with "
                            "sample ids")
    else:
        raise DataError(f"label file {source}: {len(vals)} labels for {n} samples; give one label per sample "
                        f"in sample order, or a table with sample ids")
    name = label_key or str(name).strip() or "label"
    return name, pd.Categorical(_label_strings(pd.Series(vals, dtype=object)))


def _names_columns(f0: str, obs_names: Sequence[str]) -> bool:
    """Whether a label table's first row is a header, by its first field ``f0``: it is data when that field names
    a sample as the rows are matched: exactly, or in another case or with a file's extension (s1, S1.bam for S1),
    or by a TCGA barcode."""
    f0 = f0.strip()
    if f0 in set(obs_names) or _TCGA_BARCODE.fullmatch(f0):
        return False
    loose = {_loose_key(o, reads=r) for o in obs_names for r in (False, True)}
    return _loose_key(f0) not in loose and _loose_key(f0, reads=True) not in loose


def _two_text_columns(txt: _Text, obs_names: list[str], label_key: str | None) -> pd.DataFrame | None:
    """The sample ids and labels of a delimited label table read alone, as :func:`_labels_by_id` would take them
    from the whole table: its first column and the ``label_key`` column (without ``label_key``, the second), one
    pass over the lines keeping those two fields of each (a wide sample annotation, GTEx's SampleAttributesDS
    or a TCGA clinical table, is not parsed whole), as :func:`_label_rows` gives them; ``None`` where the whole
    table decides: a quote on any line, a line of other field count, a header of repeated names, a GDC sample
    sheet, a condensed SDRF, and, without ``label_key``, an experiment design's factor column after the second
    (:func:`_two_columns_name` checks the second column's values)."""

    sep = txt.sep
    start = _table_start(txt.lines, sep)
    if len(sep) != 1 or start >= len(txt.lines) or any('"' in ln for ln in txt.lines[:start + 1]):
        return None
    header = txt.lines[start].split(sep)
    n_sep = len(header) - 1
    if (len(header) < 3 or len(set(header)) < len(header) or {"File Name", "Sample ID"} <= set(header)
            or any(f.strip().lower() in _SDRF_KINDS for ln in txt.lines[start:start + 2] for f in ln.split(sep))):
        return None
    has_header = _names_columns(header[0], obs_names)
    factor = r"(?i)\s*factor\s*value\s*\[.+\]\s*"
    if label_key is None and has_header and any(re.fullmatch(factor, h) for h in header[2:]) \
            and not re.fullmatch(factor, header[1]):
        return None
    if label_key is not None and has_header:
        if header.count(label_key) != 1 or header[0] == label_key:
            return None
        j = header.index(label_key)
    else:
        j = 1
    ids: list[str] = []
    labels: list[str] = []
    try:
        with txt.open() as fh:
            for i, line in enumerate(fh):
                if i < start:
                    continue
                line = line.rstrip("\r\n")
                if i == 0:
                    line = line.lstrip("\ufeff")
                if not line:
                    ids.append("")
                    labels.append("")
                    continue
                if '"' in line or line.count(sep) != n_sep:
                    return None
                fields = line.split(sep, j + 1)
                ids.append(fields[0])
                labels.append(fields[j])
    except (UnicodeError, OSError, EOFError):
        return None   # the whole read names the problem
    while ids and ids[-1] == "" and labels[-1] == "":
        ids.pop()
        labels.pop()
    return pd.DataFrame({0: ids, 1: labels}, dtype=object) if len(ids) >= 2 else None


def _two_columns_name(two: pd.DataFrame, obs_names: list[str], label_key: str | None) -> str | None:
    """The labels' name that :func:`_labels_by_id` gives the whole table, for its id and label columns ``two``
    (a header row, then the rows): ``label_key``, else the second column's header (``label`` where it has none);
    ``None`` where the whole table decides the label column: without ``label_key``, a second column that names
    each sample apart (an nf-core sample sheet's, :func:`_class_column`) or says train or test for each
    (:func:`_refuse_split_as_classes`)."""
    from ..pp.preprocess import is_split_column

    if label_key is not None:
        return label_key
    if not _names_columns(str(two.iat[0, 0]), obs_names):
        return "label"
    values = two[1].iloc[1:].astype(str).str.strip()
    if values.nunique() >= len(values) or is_split_column(values):
        return None
    return str(two.iat[0, 1]).strip() or "label"


def _labels_by_id(raw: pd.DataFrame, obs_names: list[str], *, label_key: str | None,
                  source: str, absent_ok: bool = False) -> tuple[str, pd.Categorical]:
    """A table of sample ids (first column) and labels (the ``label_key`` column, else the second), with a
    header line unless its first field is a sample id; rows matched to ``obs_names`` by id. ``absent_ok``: a
    sample without a row gets no label (``--drop-unlabelled`` then drops it) instead of an error."""
    given = label_key is not None
    raw = raw.fillna("")
    if raw.shape[1] == 2 and label_key is None:
        # two columns, the labels first and the sample ids second (group, sample): the ids are the one naming the
        # samples; reading the first as ids took the sample names for labels
        c0, c1 = (set(raw[j].astype(str).str.strip()) for j in (0, 1))
        if set(obs_names) <= c1 and not set(obs_names) & c0:
            raw = raw[[1, 0]].set_axis([0, 1], axis=1)
    first = [str(x) for x in raw.iloc[0].tolist()]
    has_header = _names_columns(first[0], obs_names)
    table = raw.iloc[1:] if has_header else raw
    cols = first if has_header else [f"col{i}" for i in range(raw.shape[1])]
    if has_header and len(set(cols)) != len(cols):
        cols = [c if c not in cols[:i] else f"{c}_{i}" for i, c in enumerate(cols)]
    table = table.set_axis(cols, axis=1)
    if label_key is None and has_header and len(cols) > 2 and len(table) > 2 and \
            not {"File Name", "Sample ID"} <= set(cols):
        label_key = _class_column(table, cols, source)
    if label_key is None and has_header:
        # Expression Atlas's experiment design (Run, Sample Characteristic[...] ..., Factor Value[...]): what the
        # experiment varies, its first factor, not the first characteristic (often one value for every run)
        factor = next((c for c in cols[1:] if re.fullmatch(r"(?i)\s*factor\s*value\s*\[.+\]\s*", c)), None)
        if factor is not None and not re.fullmatch(r"(?i)\s*factor\s*value\s*\[.+\]\s*", cols[1]):
            label_key = factor
    if label_key is not None and has_header and label_key not in cols[1:]:
        table, cols = _expand_attributes(table, cols)
    if label_key is not None and has_header:
        if label_key not in cols[1:]:
            raise DataError(f"label column {label_key!r} not in label file {source} (columns: "
                            f"{', '.join(c[:60] for c in cols[1:12])}{', ...' if len(cols) > 12 else ''}); pass "
                            "--label-key with one of these")
        name = label_key
    else:
        name = label_key or (cols[1].strip() if has_header and cols[1].strip() else "label")
    col = label_key if label_key is not None and has_header else cols[1]
    if not given and has_header:
        _refuse_split_as_classes(table, cols, col, source)
    ids = table[cols[0]].astype(str).str.strip()
    if has_header and {"File Name", "Sample ID"} <= set(cols):
        if ids.duplicated().any():
            raise DataError(f"label file {source}: file id {ids[ids.duplicated()].iloc[0][:40]!r} appears twice; "
                            "keep one row per file")
        return _labels_from_gdc_sheet(table, cols, obs_names, label_key=label_key, source=source)
    whole = table   # every row: another column may name the samples where the first repeats (SDRF: Source Name)
    if ids.duplicated().any():
        labels_of = table[col].astype(str).str.strip().groupby(ids.to_numpy()).nunique()
        if (labels_of <= 1).all():  # a row repeated with the same label (a merged export): one kept
            keep = ~ids.duplicated().to_numpy()
            table, ids = table[keep], ids[keep]
    m = _matched(obs_names, ids, table[col], source=source) if not ids.duplicated().any() else {}
    id_col = ids   # the ids the labels are matched by
    conflict = None   # a column naming every sample, one of them on rows of two labels
    if len(m) < len(obs_names) and has_header:
        # the sample ids in another column (SRA's run table: Run, ..., GEO_Accession; a clinical table whose
        # first column is the patient; an SDRF's Comment[ENA_RUN], listed once per read file): the first column
        # that names every sample, once or on rows of one label
        samples, labels_as_text = set(obs_names), whole[col].astype(str).str.strip()
        for c in cols[1:]:
            if c == col:
                continue
            other, lab = whole[c].astype(str).str.strip(), whole[col]
            if other.duplicated().any():
                n_labels = labels_as_text.groupby(other.to_numpy(), sort=False).nunique()
                if (n_labels > 1).any():
                    clash = sorted(i for i in n_labels.index[n_labels > 1] if i in samples)
                    if clash and conflict is None and samples <= set(other):
                        conflict = (c, clash[0], dict.fromkeys(lab[other == clash[0]]))
                    continue
                keep = ~other.duplicated().to_numpy()
                other, lab = other[keep], lab[keep]
            found = _matched(obs_names, other, lab, source=source)
            if len(found) == len(obs_names):
                m, id_col = found, other
                break
    if len(m) < len(obs_names) and conflict is not None:
        c, dup, labs = conflict
        seen = ", ".join(repr(str(v)[:20]) for v in labs)
        raise DataError(f"label file {source}: sample {dup[:40]!r} (column {c[:30]!r}) has rows of different "
                        f"{name!r} labels ({seen}); keep one label per sample")
    if len(m) < len(obs_names) and ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        seen = ", ".join(repr(str(v)[:20]) for v in dict.fromkeys(table[col][ids == dup]))
        raise DataError(f"label file {source}: sample id {dup[:40]!r} appears twice with different {name!r} labels "
                        f"({seen}); keep one row per sample")
    missing = [o for o in obs_names if o not in m]
    if missing and not (absent_ok and len(missing) < len(obs_names)):
        raise DataError(f"label file {source}: no row for {len(missing)} of {len(obs_names)} samples (e.g. "
                        f"{missing[0][:40]!r}); add them, check that a column holds the sample ids, or leave those "
                        "samples out (rnagen data prepare --drop-unlabelled)")
    _warn_unused_rows(obs_names, id_col, m, source=source)
    return name, pd.Categorical(_label_strings(pd.Series([m.get(o, None) for o in obs_names], dtype=object)))


def _warn_unused_rows(obs_names: list[str], ids: pd.Series, m: Mapping[str, Any], *, source: str) -> None:
    """Warn, in one line with their count and a few of their ids, of the label table's rows that label no sample
    of the data (``m``: each matched sample's label through ``ids``): a table of another data set, or of more
    samples than the data hold, whose other rows are ignored. A row is used when a sample takes its label by any
    of :func:`_matched`'s ways, found by matching the ids to themselves."""
    if not m:
        return
    ids = ids.astype(str)
    by_id = _matched(list(m), ids, ids, source=source)
    used = set(by_id.values())
    # a sample named at a shorter TCGA level than several rows that agree on its label takes it from all of them
    short = {o.upper() for o in m if o not in by_id}
    if short:
        used |= {i for i in ids if _TCGA_BARCODE.fullmatch(i) and short & set(_tcga_prefixes(i.upper()))}
    unused = list(dict.fromkeys(i for i in ids if i not in used))
    if unused:
        shown = ", ".join(repr(i[:40]) for i in unused[:3]) + (", ..." if len(unused) > 3 else "")
        warnings.warn(f"label file {source}: {len(unused)} of its {ids.nunique()} sample ids name no sample of the "
                      f"data ({shown}); their rows are not used (a label file of other samples, or of more samples "
                      "than the data hold?)", UserWarning, stacklevel=2)


def _refuse_split_as_classes(table: pd.DataFrame, cols: list[str], col: str, source: str) -> None:
    """Refuse the label column chosen without ``--label-key`` where it says train or test for each sample (a
    published split, mixOmics' breast.TCGA ``split``): a generator conditioned on it learns the two parts, not
    the classes; the error names the file's other columns."""
    from ..pp.preprocess import is_split_column

    if not is_split_column(table[col].astype(str).str.strip()):
        return
    others = [c for c in cols[1:] if c != col]
    fix = (f"pass --label-key with the column of classes (its other columns: "
           f"{', '.join(repr(c[:30]) for c in others[:8])})" if others else "give a label file of the classes")
    raise DataError(f"label file {source}: its column {col[:30]!r}, taken as the labels without --label-key, says "
                    f"train or test for each sample, a split, not classes; {fix}")


def _class_column(table: pd.DataFrame, cols: list[str], source: str) -> str | None:
    """The label column of a table given without ``--label-key`` whose second column names each row apart (an
    nf-core sample sheet: sample, fastq_1, ..., condition): its one column that groups the rows, refused naming
    them when several do; ``None`` (the second column) otherwise."""
    def n_values(c: str) -> int:
        return int(table[c].astype(str).str.strip().nunique())

    if n_values(cols[1]) < len(table):
        return None
    grouping = [c for c in cols[2:] if 1 < n_values(c) < len(table)]
    if len(grouping) > 1:
        shown = ", ".join(repr(c[:30]) for c in grouping[:8])
        raise DataError(f"label file {source}: its second column {cols[1][:30]!r} names each sample apart, no class; "
                        f"pass --label-key with the column of classes ({shown})")
    return grouping[0] if grouping else None


# a column of attributes packed as key;;value|key;;value (recount3's sra.sample_attributes)
_PACKED = re.compile(r"[^;|]+;;[^|]*(\|[^;|]+;;[^|]*)*")


def _expand_attributes(table: pd.DataFrame, cols: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Each packed attribute column (:data:`_PACKED`, in at least 80% of its filled rows) split into a column per
    key, named by the key (``cell type``) and as recount3::expand_sra_attributes names it
    (``sra_attribute.cell_type``); columns of those names already there are kept as they are."""
    new: dict[str, list[str]] = {}
    for c in cols[1:]:
        vals = table[c].astype(str).str.strip()
        filled = vals[vals != ""]
        if not len(filled) or filled.str.fullmatch(_PACKED.pattern).mean() < 0.8:
            continue
        rows = [dict(kv.split(";;", 1) for kv in v.split("|") if ";;" in kv) if v else {} for v in vals]
        for key in dict.fromkeys(k.strip() for r in rows for k in r):
            column = [next((val.strip() for k, val in r.items() if k.strip() == key), "") for r in rows]
            for name in (key, "sra_attribute." + key.replace(" ", "_")):
                if name not in cols and name not in new:
                    new[name] = column
    if not new:
        return table, cols
    table = pd.concat([table, pd.DataFrame(new, index=table.index)], axis=1)
    return table, [*cols, *new]


def recorded_label_key(path: str | os.PathLike) -> str | None:
    """The label column an ``.h5ad`` records (``uns["rnagen"]["label_key"]``, written by ``rnagen data prepare``)
    and holds, read without its matrix; ``None`` for other files and for one that cannot be read (the read that
    follows names the problem)."""
    p = Path(path)
    if p.suffix.lower() != ".h5ad" or not p.is_file():
        return None
    import anndata as ad

    try:
        a = ad.read_h5ad(p, backed="r")
    except Exception:  # noqa: BLE001 - anything a damaged file raises: the full read reports it
        return None
    try:
        key = a.uns.get("rnagen", {}).get("label_key")
        return key if isinstance(key, str) and key in a.obs.columns else None
    finally:
        a.file.close()


def grouping_columns(path: str | os.PathLike) -> list[str]:
    """The columns of a sample table (a header row, one row per sample; packed ``key;;value`` attributes split,
    :func:`_expand_attributes`) that group its samples, the candidates for ``--label-key``: more than one value
    and fewer than one per sample."""
    raw = _label_rows(Path(path), sep=None)
    cols = [str(c) for c in raw.iloc[0].tolist()]
    table, cols = _expand_attributes(raw.iloc[1:].set_axis(cols, axis=1), cols)
    return [c for c in cols[1:] if not c.startswith("sra_attribute.") and 1 < table[c].nunique() < len(table)]


def _matched(obs_names: list[str], ids: pd.Series, labels: pd.Series, *, source: str) -> dict[str, Any]:
    """Each sample's label through the label file's ``ids``: the id itself, else a TCGA barcode at a shorter
    level, a GTEx sample's donor, a name R rewrote, or a file name or another case of the id."""
    m = dict(zip(ids, labels))
    if not set(obs_names) <= set(m):
        m = {**m, **_tcga_matches(obs_names, m, source=source)}
    if not set(obs_names) <= set(m):
        m = {**m, **_gtex_matches([o for o in obs_names if o not in m], m)}
    if not set(obs_names) <= set(m):
        m = {**m, **_r_name_matches([o for o in obs_names if o not in m], m, source=source)}
    if not set(obs_names) <= set(m):
        m = {**m, **_loose_matches([o for o in obs_names if o not in m], m)}
    return {o: m[o] for o in obs_names if o in m}


#: a TCGA barcode: project-TSS-participant, then sample type + vial, portion + analyte, plate, centre
#: (https://docs.gdc.cancer.gov/Encyclopedia/pages/TCGA_Barcode/)
_TCGA_BARCODE = re.compile(r"TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}"
                           r"(-[0-9]{2}[A-Z]?(-[0-9]{2}[A-Z](-[A-Z0-9]{4}(-[0-9]{2})?)?)?)?", re.IGNORECASE)


#: the sample type codes of TCGA barcodes (the two digits after the participant: TCGA-A1-A0SB-01A), as GDC's code
#: table names them (https://gdc.cancer.gov/resources-tcga-users/tcga-code-tables/sample-type-codes)
_TCGA_SAMPLE_TYPES = {
    "01": "Primary Solid Tumor", "02": "Recurrent Solid Tumor", "03": "Primary Blood Derived Cancer - Peripheral Blood",
    "04": "Recurrent Blood Derived Cancer - Bone Marrow", "05": "Additional - New Primary", "06": "Metastatic",
    "07": "Additional Metastatic", "08": "Human Tumor Original Cells",
    "09": "Primary Blood Derived Cancer - Bone Marrow", "10": "Blood Derived Normal", "11": "Solid Tissue Normal",
    "12": "Buccal Cell Normal", "13": "EBV Immortalized Normal", "14": "Bone Marrow Normal", "20": "Control Analyte",
    "40": "Recurrent Blood Derived Cancer - Peripheral Blood", "50": "Cell Lines", "60": "Primary Xenograft Tissue",
    "61": "Cell Line Derived Xenograft Tissue"}
#: a TCGA barcode at the sample level or longer, its sample type code captured (also as R writes it: dots)
_TCGA_SAMPLE = re.compile(r"TCGA[-.][A-Z0-9]{2}[-.][A-Z0-9]{4}[-.]([0-9]{2})(?![0-9])", re.IGNORECASE)


def _tcga_sample_types(adata) -> bool:
    """``obs["sample_type"]`` from the sample type code of samples named by TCGA barcodes (01 Primary Solid Tumor,
    11 Solid Tissue Normal, ...): the label a tumour-versus-normal model asks for, which the barcodes carry. Added
    only when every sample is so named and no such column exists; whether it was."""
    if adata.n_obs == 0 or "sample_type" in adata.obs.columns:
        return False
    codes = []
    for o in adata.obs_names:
        m = _TCGA_SAMPLE.match(str(o))
        if m is None:
            return False
        codes.append(m.group(1))
    adata.obs["sample_type"] = pd.Categorical([_TCGA_SAMPLE_TYPES.get(c, f"sample type {c}") for c in codes])
    return True


# what pipelines add to a sample's name when it names its columns by files (a merged counts table's
# /data/S1.bam, S1.counts.txt)
_FILE_SUFFIX = re.compile(r"\.(bam|sam|cram|fastq|fq|gz|bz2|counts?|txt|tsv|csv|tab|sf|results|genes|isoforms)$",
                          re.IGNORECASE)


# what a sequencer adds to a sample's name in its FASTQ files (bcl2fastq's S1_S3_L001_R1_001.fastq.gz, a read
# pair's S1_1.fq.gz): taken off only where the name was a FASTQ file's
_READ_SUFFIX = re.compile(r"(_S\d+)?(_L\d{3})?_R?[12](_\d{3})?$", re.IGNORECASE)


def _loose_key(x: str, *, reads: bool = False) -> str:
    """A sample name less its folder and file extensions, in any case: ``/data/S1.bam`` -> ``s1``; with ``reads``,
    a FASTQ file's name less the read and lane marks too: ``S1_S3_L001_R1_001.fastq.gz`` -> ``s1``; a whole number
    written as a float as that number: ``100.0`` -> ``100``."""
    s = x.strip().replace("\\", "/").rsplit("/", 1)[-1]
    fastq = re.search(r"\.(fastq|fq)(\.gz|\.bz2)?$", s, re.IGNORECASE) is not None
    while (t := _FILE_SUFFIX.sub("", s)) != s and t:
        s = t
    if reads and fastq and (t := _READ_SUFFIX.sub("", s)):
        s = t
    if re.fullmatch(r"[0-9]+\.0+", s):   # a numeric id written as a float (a column with a missing value): 100.0
        s = s.split(".")[0]
    return s.casefold()


def _rekeyed(m: Mapping[str, Any], key: Callable[[str], str]) -> dict[str, Any]:
    """``m`` keyed by ``key`` of its keys; a new key two entries of different values share is left out (it could
    name either; a read pair's two FASTQ files of one label are one sample)."""
    out: dict[str, Any] = {}
    clash: set[str] = set()
    for k, v in m.items():
        nk = key(str(k))
        if nk in out and not _same_value(out[nk], v):
            clash.add(nk)
        out[nk] = v
    return {k: v for k, v in out.items() if k not in clash}


def _same_value(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):   # arrays or rows: not compared
        return False


def _loose_matches(obs_names: list[str], m: Mapping[str, Any]) -> dict[str, Any]:
    """Labels for samples named by their files or in another case than the label file's ids (``/data/S1.bam``,
    ``s1`` for ``S1``); a loose name two label rows or two samples share matches neither."""
    keys = pd.Index([_loose_key(o) for o in obs_names])
    shared = set(keys[keys.duplicated()])
    out: dict[str, Any] = {}
    # a FASTQ file's name as it is first (a single-end ctl_1.fastq.gz names the sample ctl_1), then less its read
    # and lane marks (a pair's S1_R1 and S1_R2 name the sample S1)
    for reads in (False, True):
        by_key = _rekeyed(m, lambda k: _loose_key(k, reads=reads))
        out.update({o: by_key[k] for o, k in zip(obs_names, keys)
                    if o not in out and k in by_key and k not in shared})
    return out


def _make_names(x: str) -> str:
    """R's ``make.names``: characters other than letters, digits, ``.`` and ``_`` become ``.``; an ``X`` is put
    before a name starting with a digit, ``_`` or ``.`` and a digit (what ``read.table`` and ``data.frame`` do
    to column names: ``TCGA-A1-A0SB-01A`` -> ``TCGA.A1.A0SB.01A``, ``1234`` -> ``X1234``)."""
    s = re.sub(r"[^A-Za-z0-9._]", ".", x)
    if not s or s[0].isdigit() or s[0] == "_" or (s[0] == "." and s[1:2].isdigit()):
        s = "X" + s
    return s


def _r_name_matches(obs_names: list[str], m: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """Labels for samples whose names R rewrote (a matrix saved from R: ``TCGA.A1.A0SB.01A``, ``X1234``) while
    the label file has them as they were; a rewritten name two label rows share matches neither. TCGA barcodes
    with dots then find rows given at a shorter level (:func:`_tcga_matches`)."""
    by_r = _rekeyed(m, _make_names)
    out = {o: by_r[o] for o in obs_names if o in by_r}
    dashed = {o: o.replace(".", "-") for o in obs_names if o not in out and "-" not in o and
              _TCGA_BARCODE.fullmatch(o.replace(".", "-"))}
    if dashed:
        found = _tcga_matches(list(dashed.values()), m, source=source)
        out.update({o: m[d] if d in m else found[d] for o, d in dashed.items() if d in m or d in found})
    return out


def _tcga_prefixes(barcode: str) -> list[str]:
    """The shorter barcodes a TCGA barcode extends, longest first: aliquot -> portion -> sample (with and
    without its vial letter) -> participant."""
    f = barcode.split("-")
    out = ["-".join(f[:n]) for n in range(len(f) - 1, 2, -1)]
    if len(f) >= 4 and len(f[3]) == 3:   # sample type + vial (01A): also the sample type alone (01)
        sample = "-".join(f[:4])  # the barcode itself when it is a sample's: then the sample type comes first
        out.insert(out.index(sample) + 1 if sample in out else 0, "-".join(f[:3] + [f[3][:2]]))
    return out


def _tcga_matches(obs_names: list[str], m: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """Labels for TCGA barcodes that the label file gives at a shorter level (a clinical table's participant
    ``TCGA-A1-A0SB``, a sample sheet's ``TCGA-A1-A0SB-01``): each sample takes the row of the longest barcode it
    extends. A participant-level row labelling two samples of one participant (a tumour and its normal tissue,
    say) is refused: a per-patient label is not that of every sample taken from the patient. A sample given at a
    shorter level than the label rows (cBioPortal's ``TCGA-A1-A0SB-01`` against a phenotype table's
    ``TCGA-A1-A0SB-01A``, or aliquots') takes the label of the rows that extend it when they agree on one; never
    from a participant's id alone."""
    upper = {str(k).upper(): v for k, v in m.items()}
    longer: dict[str, set[str]] = {}
    for k, v in upper.items():
        if _TCGA_BARCODE.fullmatch(k):
            for pre in _tcga_prefixes(k):
                if pre.count("-") >= 3:   # a sample's id or longer: the same tissue sample
                    longer.setdefault(pre, set()).add(str(v).strip())
    out: dict[str, Any] = {}
    by_participant: dict[str, list[str]] = {}
    for o in obs_names:
        if o in m or not _TCGA_BARCODE.fullmatch(o):
            continue
        for pre in _tcga_prefixes(o.upper()):
            if pre in upper:
                out[o] = upper[pre]
                if pre.count("-") == 2:
                    by_participant.setdefault(pre, []).append(o)
                break
        else:
            below = longer.get(o.upper(), set())
            if o.count("-") >= 3 and len(below) == 1:
                out[o] = next(iter(below))
    shared = {p: s for p, s in by_participant.items() if len(s) > 1}
    if shared:
        p, s = next(iter(shared.items()))
        raise DataError(f"label file {source} labels participants, and {len(shared)} of them have several samples in "
                        f"the data ({p}: {', '.join(x[:16] for x in s[:3])}; a tumour and its normal tissue, say); "
                        "give labels per sample (TCGA-XX-XXXX-01 ...) or keep one sample per participant")
    return out


#: a GTEx sample id: its donor (GTEX-1117F), then the tissue site, collection and aliquot fields
#: (GTEX-1117F-0226-SM-5GZZ7, GTEX-1117F-0011-R10a-SM-AHZ7F); dots where R rewrote the name
_GTEX_SAMPLE = re.compile(r"(GTEX[-.][A-Z0-9]+)(?:[-.][A-Z0-9]+)+", re.IGNORECASE)


def _gtex_matches(obs_names: list[str], m: Mapping[str, Any]) -> dict[str, Any]:
    """Labels for GTEx samples that the label file gives per donor (``GTEX-1117F``: the subject phenotype table's
    age bracket, sex, death classification): each sample takes its donor's row. These describe the donor, so,
    unlike a TCGA participant's label on a tumour and its normal tissue, they hold for each of its tissues."""
    donors = {str(k).upper(): v for k, v in m.items() if re.fullmatch(r"GTEX-[A-Z0-9]+", str(k).strip(), re.I)}
    out: dict[str, Any] = {}
    for o in obs_names:
        g = _GTEX_SAMPLE.fullmatch(o.strip())
        if g is not None and (donor := g.group(1).replace(".", "-").upper()) in donors:
            out[o] = donors[donor]
    return out


def _gdc_keys(table: pd.DataFrame, cols: list[str], *, sample_ids: bool) -> dict[str, int]:
    """The names by which a GDC sample sheet's rows are found: each file's id (the folder gdc-client puts it in),
    its name and its name less every suffix (what a folder of per-sample files names its sample), and with
    ``sample_ids`` its TCGA sample ids; a name two rows share finds neither, unless one row is of that sample alone
    and the others of several (a somatic VCF's row names its tumour and normal samples: the sample's own file is the
    single-sample row)."""
    rows_of: dict[str, dict[int, bool]] = {}
    for i, row in enumerate(table.itertuples(index=False)):
        rec = dict(zip(cols, row))
        fname = str(rec.get("File Name", "")).strip()
        cand = {str(rec.get("File ID", "")).strip(), fname, fname.split(".", 1)[0]}
        several = False
        if sample_ids:
            ids = {s.strip() for s in str(rec.get("Sample ID", "")).split(",")} - {""}
            several = len(ids) > 1
            cand |= ids
        for key in cand - {""}:
            rows_of.setdefault(key, {})[i] = several
    keys: dict[str, int] = {}
    for key, rows in rows_of.items():
        single = [i for i, several in rows.items() if not several]
        if len(rows) == 1 or len(single) == 1:
            keys[key] = single[0] if single else next(iter(rows))
    return keys


@_spools_pipes
def read_sample_names(path: str | os.PathLike, obs_names: Sequence[str]) -> list[str]:
    """New names for samples, from a GDC sample sheet (each file's TCGA ``Sample ID``, found by its file name or
    file id) or a two-column table (current id, new id; a header line allowed).

    A folder of files downloaded from the GDC names its samples by file (a UUID); named by their TCGA barcodes
    instead, they find their labels in a clinical table given per participant or per sample
    (:func:`read_labels` matches barcodes given at a shorter level).

    Raises
    ------
    DataError
        A sample without a row, a row naming several samples (a GDC file of two samples), an empty new name.
    """
    p = Path(path)
    source = p.name
    names = [str(x) for x in obs_names]
    raw = _label_rows(p, sep=None).fillna("")
    if raw.shape[1] < 2:
        raise DataError(f"sample-name file {source}: one column; give a GDC sample sheet or a table of current and "
                        "new sample ids")
    first = [str(x).strip() for x in raw.iloc[0].tolist()]
    if {"Sample ID", "File Name"} <= set(first):
        table = raw.iloc[1:].set_axis(first, axis=1)
        keys = _gdc_keys(table, first, sample_ids=False)
        new_of = {k: str(table["Sample ID"].iloc[i]).strip() for k, i in keys.items()}
        what = "no file name or file id of the GDC sample sheet"
    else:
        table = raw.iloc[1:] if first[0] not in set(names) else raw
        old, new = table.iloc[:, 0].astype(str).str.strip(), table.iloc[:, 1].astype(str).str.strip()
        if old.duplicated().any():
            raise DataError(f"sample-name file {source}: sample id {old[old.duplicated()].iloc[0][:40]!r} appears "
                            "twice; keep one row per sample")
        new_of = dict(zip(old, new))
        what = "no row of the table (current id, new id)"
        given: dict[str, str] = {}
        for o in names:
            n = new_of.get(o)
            if n and n in given:
                raise DataError(f"sample-name file {source}: samples {given[n][:40]!r} and {o[:40]!r} both get the "
                                f"name {n[:40]!r}; give each sample a name of its own")
            if n:
                given[n] = o
    missing = [o for o in names if o not in new_of]
    if missing:
        raise DataError(f"sample-name file {source}: {what} names {len(missing)} of {len(names)} samples (e.g. "
                        f"{missing[0][:40]!r}); give the file written for this data")
    out = [new_of[o] for o in names]
    bad = next((o for o, n in zip(names, out) if not n or "," in n), None)
    if bad is not None:
        raise DataError(f"sample-name file {source}: sample {bad[:40]!r} gets the name {new_of[bad][:60]!r}; a "
                        "sample needs one non-empty name (a GDC file of several samples is not one profile)")
    return out


def _labels_from_gdc_sheet(table: pd.DataFrame, cols: list[str], obs_names: list[str], *, label_key: str | None,
                           source: str) -> tuple[str, pd.Categorical]:
    """Labels from a GDC sample sheet (``File ID, File Name, ..., Project ID, Case ID, Sample ID, Sample Type``,
    as the GDC portal's cart writes it for files downloaded with gdc-client): a sample matches the row of its
    file (its name, a folder of per-sample files being named by its files, is the file name less its suffix),
    of its file's id (the folder gdc-client puts the file in) or of its TCGA sample id (or one its barcode
    extends)."""
    offered = [c for c in cols if c not in ("File ID", "File Name", "Data Category", "Data Type")]
    if label_key is None:
        raise DataError(f"label file {source} is a GDC sample sheet and needs --label-key: pass one of its columns "
                        f"({', '.join(repr(c) for c in offered[:10])})")
    keys = _gdc_keys(table, cols, sample_ids=True)
    pos = {o: keys[o] for o in obs_names if o in keys}
    if len(pos) < len(obs_names):   # aliquot barcodes in the data, the sheet's sample ids shorter
        pos.update(_tcga_matches([o for o in obs_names if o not in pos], keys, source=source))
    missing = [o for o in obs_names if o not in pos]
    if missing:
        raise DataError(f"GDC sample sheet {source}: no file, file id or sample id of it names {len(missing)} of "
                        f"{len(obs_names)} samples (e.g. {missing[0][:40]!r}); give the sample sheet of the files "
                        "the data was read from")
    col = table[label_key].tolist()
    return str(label_key), pd.Categorical(_label_strings(pd.Series([col[pos[o]] for o in obs_names], dtype=object)))


def _labels_from_geo(p: Path, txt: _Text, names: list[str], *, label_key: str | None) -> tuple[str, pd.Categorical]:
    """Labels from a series matrix's sample columns, matched by GSM accession, else by unique sample title, else
    by the GSM accession that starts each sample's name (GEO's per-sample files)."""
    obs = _geo_samples(p, txt)
    candidates = [str(c) for c in obs.columns if 1 < obs[c].nunique() < len(obs)]
    shown = ", ".join(repr(c[:40]) for c in candidates[:12]) + (", ..." if len(candidates) > 12 else "")
    if label_key is None or label_key not in obs.columns:
        what = "needs --label-key" if label_key is None else f"has no sample column {label_key!r}"
        raise DataError(f"label file {p.name} is a GEO series file and {what}: pass one of its sample columns "
                        f"({shown or 'none with more than one value'})")
    ids = [str(i) for i in obs.index]
    pos = {k: i for i, k in enumerate(ids)}
    if not set(names) <= set(ids) and "title" in obs.columns:
        titles = [str(t) for t in obs["title"].astype(object)]
        if len(set(titles)) == len(titles) and set(names) <= set(titles):
            pos = {k: i for i, k in enumerate(titles)}
    if not set(names) <= set(pos):
        # GEO's per-sample supplementary files are named GSMxxx_<title>...: the accession that starts each name
        acc = {n: m.group(1) for n in names if (m := re.match(r"(GSM[0-9]+)(?:[_.-]|$)", n))}
        if len(acc) == len(names) and len(set(acc.values())) == len(names) and set(acc.values()) <= set(ids):
            by_acc = {k: i for i, k in enumerate(ids)}
            pos = {n: by_acc[a] for n, a in acc.items()}
    missing = [n for n in names if n not in pos]
    if missing:
        raise DataError(f"label file {p.name}: {len(missing)} of {len(names)} samples (e.g. {missing[0][:40]!r}) are "
                        "neither GSM accessions nor sample titles of this series, nor start with one; give the series "
                        "matrix of the series the expression file comes from")
    col = obs[label_key].astype(object).reset_index(drop=True)
    vals = pd.Series([col.iloc[pos[n]] for n in names], dtype=object)
    return str(label_key), pd.Categorical(_label_strings(vals))


@_spools_pipes
def read_labels(path: str | os.PathLike, obs_names: Sequence[str], *, label_key: str | None = None,
                sep: str | None = None, absent_ok: bool = False) -> tuple[str, pd.Categorical]:
    """Read sample labels from an annotation file.

    Two layouts are accepted: a table with a sample-ID column and a label column (the column named
    ``label_key`` if given, else the second column; rows matched by sample ID), or a single column of labels
    in sample order (with or without a header line). The file is decoded like an expression file (BOM,
    UTF-16, UTF-8, Latin-1). A GEO series matrix is a third: ``label_key`` names one of its sample columns
    (:func:`read_geo_samples`), matched by ``GSM`` accession or else by sample title (NCBI's RNA-seq counts
    and submitters' tables name their samples by one or the other).

    ``absent_ok`` (``--drop-unlabelled``): a sample the table has no row for is unlabelled (NaN), not an error.

    Returns
    -------
    name, labels
        The label name (column header, ``label_key`` or ``"label"``) and the labels aligned to ``obs_names``;
        missing labels (empty, blank, ``NA``/``nan``) are NaN.
    """
    return _read_labels(path, obs_names, label_key=label_key, sep=sep, absent_ok=absent_ok, parsed=None)


def _read_labels(path: str | os.PathLike, obs_names: Sequence[str], *, label_key: str | None, sep: str | None,
                 absent_ok: bool, parsed: dict[tuple, pd.DataFrame] | None) -> tuple[str, pd.Categorical]:
    """:func:`read_labels`; ``parsed`` keeps the label files' rows as parsed whole, so that the reads of one
    ``rnagen.data.read`` (the layout check's for the rows and for the columns, the labels') parse a file once."""
    p = Path(path)
    names = [str(x) for x in obs_names]
    _check_file(p, "label file", "check the --labels path")
    from .quant import is_archive, label_table

    if is_archive(p):   # the GDC portal's clinical cart (clinical.tsv and its siblings), an archive of one table
        with label_table(p) as table:
            return _read_labels(table, obs_names, label_key=label_key, sep=sep, absent_ok=absent_ok, parsed=None)
    txt = _Text(p, sep=sep, fmt=_format(p))
    if txt.content_format is None and (_is_geo(txt.lines) or _is_soft(txt.lines)):
        return _labels_from_geo(p, txt, names, label_key=label_key)
    if txt.content_format is None and _is_cls(txt.lines):
        return _labels_from_cls(txt.lines, names, label_key=label_key, source=p.name)
    two: pd.DataFrame | None = None
    if txt.content_format in ("parquet", "feather"):
        two = _arrow_label_rows(p, txt.content_format, label_key)
    elif txt.content_format is None and txt.lines and not txt.lines[0].lstrip().startswith(("[", "{")):
        two = _two_text_columns(txt, names, label_key)
    name = None if two is None else _two_columns_name(two, names, label_key)
    if two is not None and name is not None:
        # the id and label columns alone, where they label every sample; a sample the id column leaves
        # unlabelled may be named by another column, and the whole table decides
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            try:
                # named by its header as written (the whole table's label_key or second column)
                _, lab = _labels_by_id(two, names, label_key=str(two.iat[0, 1]) if label_key is None else label_key,
                                       source=p.name)
            except DataError:
                lab = None
        if lab is not None:
            for w in said:
                warnings.warn(w.message, w.category, stacklevel=2)
            return name, lab
    # a workbook's sheet is chosen by the ids it names: parsed again for other ids
    key = (str(p), sep, label_key, tuple(names) if txt.content_format in _WORKBOOKS else None)
    raw = parsed.get(key) if parsed is not None else None
    if raw is None:
        raw = _label_rows(p, sep=sep, label_key=label_key, ids=names)
        if parsed is not None:
            parsed[key] = raw
    if raw.shape[1] == 1:
        return _labels_in_order(raw, len(names), label_key=label_key, source=p.name)
    return _labels_by_id(raw, names, label_key=label_key, source=p.name, absent_ok=absent_ok)


def _arrow_label_rows(p: Path, fmt: str, label_key: str | None) -> pd.DataFrame | None:
    """The rows of a parquet or Feather label file (:func:`_frame_label_rows`) of only its sample ids (the index
    pandas recorded, else its first column) and its ``label_key`` column (without ``label_key``, the column after
    the ids), read alone (pyarrow reads the columns asked for, not the file's others); ``None`` where the whole
    table is needed or no narrower: the label column missing or the ids' own, a GDC sample sheet (File Name,
    Sample ID), no other column, without ``label_key`` ids of several columns or an experiment design's factor
    column, a file pyarrow cannot read this way (Feather V1)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if fmt == "parquet":
            schema = pq.read_schema(p)
        else:
            with pa.memory_map(str(p)) as src:
                schema = pa.ipc.open_file(src).schema
    except (pa.ArrowException, OSError, ValueError):
        return None   # the whole read says what is wrong with the file
    names = list(schema.names)
    index = _arrow_index(schema)
    unnamed = [c for c in names if _PANDAS_INDEX.fullmatch(c)]
    ids = index or (unnamed if len(unnamed) == 1 else names[:1])
    if label_key is None:
        rest = [c for c in names if c not in ids]
        if len(ids) != 1 or not rest or any(re.fullmatch(r"(?i)\s*factor\s*value\s*\[.+\]\s*", c) for c in rest):
            return None
        label_key = rest[0]
    if label_key not in names or label_key in ids or {"File Name", "Sample ID"} <= set(names) or \
            len(names) <= len(ids) + 1:
        return None
    cols = [c for c in names if c in ids or c == label_key]
    try:
        df = (pd.read_parquet(p, columns=[c for c in cols if c not in index]) if fmt == "parquet"
              else pd.read_feather(p, columns=cols))
    except Exception:  # pyarrow raises many types for a bad file: the whole read names the problem
        return None
    return _frame_label_rows(_pandas_index(df))


_CLS_HEAD = re.compile(r"\s*(\d+)\s+(\d+)\s+1\s*")


def _is_cls(lines: list[str]) -> bool:
    """A GSEA class file (``.cls``): ``<samples> <classes> 1``, ``# <class names>``, then a label per sample;
    or a continuous one (``#numeric``)."""
    if lines and lines[0].strip().lower() == "#numeric":
        return True
    return len(lines) >= 3 and bool(_CLS_HEAD.fullmatch(lines[0])) and lines[1].lstrip().startswith("#")


def _labels_from_cls(lines: list[str], names: list[str], *, label_key: str | None,
                     source: str) -> tuple[str, pd.Categorical]:
    """Labels from a categorical GSEA ``.cls`` file, in the samples' order (the order of the GCT's columns it
    goes with). The labels of the third line are named by the second line's class names in the order each
    label first appears (the Broad's definition of the format); ``label_key`` names the label (default
    ``"class"``)."""
    if lines[0].strip().lower() == "#numeric":
        raise DataError(f"label file {source} is a continuous GSEA .cls (#numeric): rnagen generates profiles per "
                        "class; give a categorical .cls or a table of classes")
    head = _CLS_HEAD.fullmatch(lines[0])
    assert head is not None
    n, k = int(head.group(1)), int(head.group(2))
    classes = lines[1].lstrip()[1:].split()
    labels = " ".join(ln for ln in lines[2:] if ln.strip()).split()
    if len(labels) != n:
        raise DataError(f"label file {source}: its first line announces {n} samples but its label line holds "
                        f"{len(labels)}; fix the .cls file")
    if n != len(names):
        raise DataError(f"label file {source} labels {n} samples in order, the data has {len(names)}; give the "
                        ".cls file written for this data (its samples in the same order)")
    seen = list(dict.fromkeys(labels))
    if len(seen) > k:
        raise DataError(f"label file {source}: {len(seen)} different labels for the {k} classes its first line "
                        "announces; fix the .cls file")
    named = dict(zip(seen, classes)) if len(classes) == len(seen) else {x: x for x in seen}
    return label_key or "class", pd.Categorical([named[x] for x in labels])


# ------------------------------------------------------------------------------------------ validation

def _dup_message(source: str, axis: str, dup: pd.Index, names: pd.Index | None = None, X: Any = None, *,
                 fmt: str | None = None, label_key: str | None = None) -> str:
    """The error of repeated ``axis`` ids; where ``names`` (all the ids) repeat few values, as a column of classes
    read as the ids does, it says how to name that column instead of offering to merge the samples: in a table
    (``fmt`` not ``h5ad``) read without a label column (``label_key``); an .h5ad's ids (its ``obs_names``, no
    column of a table) or a table's beside the label column named are to be made unique. Given the matrix ``X``
    (rows: the samples), it says whether the repeated samples hold the same values each time (the file merged
    twice: keeping the first loses nothing) or other ones (two libraries of one sample)."""
    if axis == "sample" and names is not None and len(names) >= 4 and pd.Index(names).nunique() <= len(names) / 2:
        head = (f"{source}: the sample ids repeat {pd.Index(names).nunique()} values over {len(names)} samples "
                f"(e.g. {str(dup[0])[:40]!r})")
        merge = "(or merge the repeats: rnagen data prepare --duplicates first|mean|sum)"
        if fmt == "h5ad":
            return (f"{head}: its obs_names name no sample each; make them unique (adata.obs_names_make_unique() in "
                    f"Python, then write the file again) {merge}")
        if label_key is not None:
            return (f"{head}, beside the label column {label_key!r}: the first column holds no sample ids; make "
                    f"them unique (or drop that column: the samples then get the ids sample_0, sample_1, ...) {merge}")
        return (f"{head}: the first column looks like classes, not ids; if so, name it "
                "with --label-key (the samples then get the ids sample_0, sample_1, ...), else make the ids unique "
                f"{merge}")
    what = ""
    if axis == "sample" and X is not None and names is not None:
        what = _repeats_hold(X, pd.Index(names), dup)
    return (f"{source}: duplicated {axis} ids ({len(dup)}, e.g. {str(dup[0])[:40]!r}{what}); keep the first of each, "
            f"average or add them (rnagen data prepare --duplicates first|mean|sum), or make the {axis} ids unique")


def _repeats_hold(X: Any, names: pd.Index, dup: pd.Index) -> str:
    """``", each time with the same values: ..."`` or ``", with other values ..."`` for repeated sample ids (rows of
    ``X``), from their first repeated id; ``""`` where the rows cannot be compared."""
    rows = np.flatnonzero(names == dup[0])
    try:
        block = np.asarray(X[rows].toarray() if hasattr(X[rows], "toarray") else X[rows], dtype=np.float64)
    except (TypeError, ValueError, IndexError):
        return ""
    if np.array_equal(block[:1].repeat(len(block), axis=0), block, equal_nan=True):
        return (", each time with the same values: the file merged twice? --duplicates first keeps one copy and "
                "loses nothing")
    return (", with other values each time: two libraries of one sample (aliquots, a re-sequencing)? --duplicates "
            "mean averages them")


def validate(adata, *, label_key: str | None = None, source: str = "data", allow_missing: bool = False) -> None:
    """Check an AnnData for finite values, unique IDs and (optionally) a label column without missing labels.

    ``allow_missing`` lets NaN through (not infinities), for :func:`rnagen.pp.impute.complete_missing` to deal with.

    Raises
    ------
    DataError
        Naming the problem (NaN/inf with the first position, duplicated IDs, missing label column or labels)
        and the fix.
    """
    require_anndata(adata, f"validate ({source})")
    X = adata.X
    if X is None:
        raise DataError(f"{source}: no expression matrix (X is empty); give a file with data")
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    if X.size == 0:
        raise DataError(f"{source}: empty matrix ({adata.n_obs} samples x {adata.n_vars} genes); give a file with data")
    if not np.issubdtype(X.dtype, np.number):
        raise DataError(f"{source}: expression values are not numeric; fix the file")
    bad = np.isinf(X) if allow_missing else ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        n_nan, n_inf = int(np.isnan(X).sum()), int(np.isinf(X).sum())
        inf = X[np.isinf(X)]
        finite = X[np.isfinite(X)]
        log_of_zero = bool(inf.size and (inf < 0).all() and finite.size and float(finite.max()) <= 30.0)
        fixes = (["the -inf values are the log of 0 (R's log2(counts) writes -Inf): give the values before the "
                  "log, or log2(x + 1) of them" if log_of_zero else
                  "replace the infinite values in the file (inf, or a number beyond the float64 range such as 1e999: "
                  "readers of some pandas versions turn those into inf)"] if n_inf else []) + (
            [] if allow_missing or not n_nan else
            ["fill in or drop the missing values with rnagen data prepare --missing impute|drop and use its .h5ad"])
        fix = " and ".join(fixes)
        raise DataError(f"{source}: {n_nan} NaN and {n_inf} inf values (first at sample "
                        f"{str(adata.obs_names[i])[:40]!r}, gene {str(adata.var_names[j])[:40]!r}); {fix}")
    for axis, names in (("sample", adata.obs_names), ("gene", adata.var_names)):
        dup = pd.Index(names)[pd.Index(names).duplicated()]
        if len(dup):
            raise DataError(_dup_message(source, axis, dup, pd.Index(names), X if axis == "sample" else None))
    if label_key is not None:
        if label_key not in adata.obs.columns:
            cols = ", ".join(str(c)[:30] for c in list(adata.obs.columns)[:10]) or "none"
            raise DataError(f"{source}: label column {label_key!r} not found (sample columns: {cols}){LABELS_HINT}")
        check_labelled(adata, label_key, source=source)


#: a name anndata's ``var_names_make_unique`` gave a repeated one: the name, a dash and a count (``Y_RNA-1`` for the
#: second Y_RNA, ``NKX2-1-1`` for the second NKX2-1)
_MADE_UNIQUE = re.compile(r"(.+)-(\d+)")


def _made_unique(names: Sequence[str]) -> list[str] | None:
    """``names`` as they were before anndata's ``var_names_make_unique`` (scanpy's default for genes named by
    symbols): a name that is another name of the table, a dash and a number goes back to that name. ``None`` when
    no name is such; no human gene symbol is another one with a dash and a number added (KRTAP1-1 has no KRTAP1)."""
    have = set(names)
    stems = [m.group(1) if (m := _MADE_UNIQUE.fullmatch(n)) is not None and m.group(1) in have else None
             for n in names]
    if not any(stems):
        return None
    return [n if stem is None else stem for n, stem in zip(names, stems)]


def _unique_gene_ids(adata) -> tuple[Any, str | None]:
    """Genes named by a column that repeats names (symbols: Y_RNA, paralogs' shared names; also names anndata's
    ``var_names_make_unique`` turned into Y_RNA-1, Y_RNA-2) beside a gene-id column that names each row once
    (Ensembl or Entrez ids): renamed by those ids, the names kept in ``var["symbol"]`` (or ``var["name"]``; a
    made-unique name as it was), so that two genes of one symbol are not taken for duplicates of one gene, nor a
    second one for a gene of its own name that no gene table knows. Returns the AnnData and the column used
    (``None`` when nothing was done)."""
    names = [str(v) for v in adata.var_names]
    unmade = _made_unique(names) if adata.var.shape[1] else None
    if adata.var_names.is_unique and unmade is None:
        return adata, None
    for col in adata.var.columns:
        vals = adata.var[col].astype(str).str.strip()
        if (vals == "").any() or vals.str.lower().isin(["nan", "na", "<na>"]).any() or not vals.is_unique:
            continue
        if _genes.detect_id_type(list(vals)) in ("ensembl", "ensembl_versioned", "entrez") and \
                _gene_score(list(vals)) >= 0.9:
            old = unmade if unmade is not None else names
            adata.var_names = pd.Index(list(vals))
            adata.var = adata.var.drop(columns=[col])
            adata.var["symbol" if "symbol" not in adata.var.columns else "name"] = old
            return adata, str(col)
    return adata, None


def _collapse(adata, *, axis: Literal["obs", "var"], how: Duplicates, source: str, label_key: str | None = None,
              fmt: str | None = None):
    """Resolve duplicated sample (``obs``) or gene (``var``) ids: error, keep the first, average or add; copies of
    one sample labelled differently (``label_key``) are refused whatever the policy, as in a label file."""
    import anndata as ad

    names = pd.Index(adata.obs_names if axis == "obs" else adata.var_names)
    dup = names.duplicated()
    if not dup.any():
        return adata, 0
    if how == "error":
        raise DataError(_dup_message(source, "sample" if axis == "obs" else "gene", names[dup], names,
                                     adata.X if axis == "obs" else None, fmt=fmt,
                                     label_key=label_key if label_key in adata.obs.columns else None))
    if axis == "obs" and label_key is not None and label_key in adata.obs.columns:
        labels = pd.Series(adata.obs[label_key].astype(str).to_numpy(), index=names)
        kinds = labels.groupby(level=0, sort=False).nunique()
        if (kinds > 1).any():
            sid = str(kinds.index[int(np.flatnonzero(kinds.to_numpy() > 1)[0])])
            found = sorted(set(labels.loc[sid]))
            raise DataError(f"{source}: sample id {sid!r} appears twice with different {label_key!r} labels "
                            f"({', '.join(map(repr, found[:3]))}); fix the labels or the ids before --duplicates "
                            "merges the copies")
    n = int(dup.sum())
    if how == "first":
        return (adata[~dup].copy() if axis == "obs" else adata[:, ~dup].copy()), n
    X = np.asarray(adata.X, dtype=np.float64)
    if how == "sum":
        from ..pp.history import check_summable

        check_summable(X, source)
    M = X if axis == "obs" else X.T
    codes, uniq = pd.factorize(names)
    seen = ~np.isnan(M)  # a missing value (kept for --missing) is left out of its group's mean
    sums = np.zeros((len(uniq), M.shape[1]))
    counts = np.zeros((len(uniq), M.shape[1]))
    np.add.at(sums, codes, np.where(seen, M, 0.0))
    np.add.at(counts, codes, seen)
    if how == "sum":
        n_copies = np.bincount(codes, minlength=len(uniq))[:, None]
        with np.errstate(invalid="ignore"):
            mean = np.where(counts == n_copies, sums, np.nan).astype(np.float32)  # a sum with a copy missing: NaN
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (sums / counts).astype(np.float32)  # NaN where every copy is missing
    keep = np.flatnonzero(~dup)  # first occurrence of each id, in file order = factorize order
    if axis == "obs":
        out = ad.AnnData(X=mean, obs=adata.obs.iloc[keep].copy(), var=adata.var.copy(), uns=dict(adata.uns))
    else:
        # a merged gene's length is none of its parts' (transcripts summed to genes): TPM cannot use it
        var = adata.var.iloc[keep].drop(columns=["length"], errors="ignore")
        out = ad.AnnData(X=mean.T, obs=adata.obs.copy(), var=var, uns=dict(adata.uns))
    return out, n


# ------------------------------------------------------------------------------------------ the reader

@_spools_pipes
@_decompressing_once
def read(path: str | os.PathLike, *, label_key: str | None = None, labels: str | os.PathLike | None = None,
         orientation: Orientation = "auto", sep: str | None = None, duplicates: Duplicates = "error",
         drop_unlabelled: bool = False, keep_unlabelled: bool = False, missing: Literal["error", "keep"] = "error",
         quantity: Literal["counts", "tpm", "coverage"] = "counts",
         strand: Literal["auto", "unstranded", "forward", "reverse"] = "auto", layer: str | None = None,
         sheet: str | None = None, sample_names: str | os.PathLike | None = None,
         recount_qc: str | os.PathLike | None = None, unique_sample_ids: bool = False):
    """Read an expression file, or a folder of per-sample quantification files, into AnnData (obs = samples,
    var = genes or other features).

    Parameters
    ----------
    path
        ``.h5ad``, ``.csv``/``.tsv``/``.txt`` (optionally ``.gz``/``.bz2``/``.xz``), ``.gct`` (1.2 or 1.3; known by its
        first lines under any name), CMap's ``.gctx`` (the samples ``labels`` names where the matrix exceeds half the
        memory), ``.parquet``, an Excel workbook (``.xlsx``, ``.xls``, ``.ods``: the sheet ``sheet`` names, else its
        only sheet or only table of numbers; its first column the ids; title rows above the header skipped) or an R
        matrix, data frame or factor (``saveRDS``'s ``.rds``, ``save()``'s ``.RData``; through pyreadr; Bioconductor
        containers are refused with the R line that writes their matrix). Text may be UTF-8 (with or without BOM),
        UTF-16 or Latin-1, with decimal points or (``;``/tab-separated) decimal commas. A folder: one file per sample
        from STAR, GDC, RSEM, Salmon or HTSeq-count (:func:`rnagen.data.quant.read_quant_folder`); a ``.tar``,
        ``.tar.gz``/``.tgz`` (bzip2, xz) or ``.zip`` archive of such files (GEO's ``GSExxx_RAW.tar``) is read the same
        way without unpacking it, and an archive of one matrix file (``GSExxx_counts.csv.zip``) as that file. NanoString
        nSolver's RCC Collector export (one CSV of every lane) reads as the lanes' RCC files do, their attributes as
        ``obs`` columns.
    label_key
        Name of the sample-label column. For samples x genes tables, the column of that name (text or
        numeric class codes); for GCT 1.3 a column-metadata row; for h5ad an ``obs`` column. With ``labels``,
        the column of the label file to use (and the name of the ``obs`` column). The labels end up as
        categorical strings in ``obs[label_key]``.
    labels
        Separate annotation file: CSV/TSV with sample id and label columns, or one label per line in sample
        order.
    orientation
        ``"auto"`` (detect: feature-like IDs on one axis, else genes outnumber samples), ``"samples_x_genes"``
        or ``"genes_x_samples"``; text and parquet only (GCT is always genes x samples).
    sep
        Field separator for text files; by default sniffed from the first lines (tab, ``;`` or ``,``).
    duplicates
        Duplicated sample ids or gene ids: ``"error"`` (default), ``"first"`` (keep the first occurrence),
        ``"mean"`` (average the duplicated rows or columns; a sample keeps the annotations of its first
        occurrence) or ``"sum"`` (add them: counts of technical replicates or of one gene's transcripts; refused
        for log-scale values). What was removed is recorded in the ``read`` step of the history.
    drop_unlabelled
        Drop the samples without a label (empty, blank, ``NA``/``nan`` or another missing-value mark:
        :func:`missing_labels`) instead of raising.
    keep_unlabelled
        Keep the samples without a label, their label missing (NaN), instead of raising: for a summary that
        counts them (``rnagen data info``). A label file's samples without a row keep none either.
    missing
        ``"error"`` (default): a missing (NaN) value is an error; ``"keep"``: NaN are kept, for
        :func:`rnagen.pp.impute.complete_missing` (infinite values are an error either way).
    quantity, strand
        A folder only: counts (default) or TPM, and the STAR counts column (``auto``: detected from the reads
        each stranded column holds). ``quantity="tpm"`` also reads a TCGA Firehose RSEM table of ``raw_count``
        and ``scaled_estimate`` by its ``scaled_estimate`` (TPM = 10^6 x it). ``quantity="coverage"`` keeps a
        recount3 sums table's base-pair coverage (see ``recount_qc``).
    layer
        ``.h5ad`` only: the matrix to read instead of ``X``, a layer's name (e.g. ``"counts"``) or ``"raw"``
        (``adata.raw``, with its genes).
    sheet
        An Excel workbook only: the sheet to read (needed when the workbook has several); an R workspace
        (``.RData``): the object to read (needed when it holds several tables).
    sample_names
        A file renaming the samples before labels and duplicates are resolved (:func:`read_sample_names`): a
        GDC sample sheet (each file's TCGA sample id) or a table of current and new ids.
    recount_qc
        A recount3 gene or exon sums file (``sra.gene_sums.SRP012345.G026.gz``, opened by ``##annotation=``)
        holds base-pair coverage, not reads: it is read as read counts, each run's coverage over its average
        mapped length (``star.average_mapped_length`` of this QC table, the project's
        ``*.recount_qc.*.MD.gz``; recount3::compute_read_counts), or kept as coverage with
        ``quantity="coverage"`` (then normalised: ``cpm`` cancels the read length). Without either it is refused.
    unique_sample_ids
        Repeated sample ids made unique (anndata's ``obs_names_make_unique``: ``syn``, ``syn-1``, ``syn-2``, ...),
        every sample kept, instead of ``duplicates`` resolving them: for a set whose ids name no sample (generated
        profiles). How many were renamed is recorded in the ``read`` step (``n_sample_ids_made_unique``).

    Returns
    -------
    anndata.AnnData
        float32 ``X``; for non-h5ad input ``uns["rnagen"]["history"]`` starts with a ``read`` step (an
        ``.h5ad`` keeps the history it was written with and gains a ``read`` step only when duplicates or
        unlabelled samples were removed).

    Raises
    ------
    DataError
        For a missing, unreadable or malformed file, NaN/inf values, duplicated sample or gene IDs, or a
        missing label column or labels.

    Notes
    -----
    Gene symbols that a spreadsheet turned into dates (``1-Sep`` for SEPT1, ``4-Mar`` for MARCH4; Ziemann et al.
    2016) are given back their names, and the two dates that each stand for two genes (``1-Mar``: MARCH1 or MARC1;
    ``2-Mar``) are dropped; the ``read`` step of the history lists both.
    """
    p = Path(path)
    if p.is_file():   # one of a pair a killed command was replacing (data split's train/test): its old one put back
        from .._io import check_replacements

        check_replacements(p)
    labels, sample_names, recount_qc = (
        None if v is None else as_path(v, f"read: {name}", fix=fix) for name, v, fix in
        (("labels", labels, "labels held in memory go into adata.obs after reading, e.g. adata.obs['label'] = ..."),
         ("sample_names", sample_names, ""), ("recount_qc", recount_qc, "")))
    if duplicates not in _DUPLICATES:
        raise DataError(f"unknown duplicates policy {duplicates!r}; choose one of {', '.join(_DUPLICATES)}")
    if missing not in ("error", "keep"):
        raise DataError(f"unknown missing-value handling {missing!r}; choose 'error' or 'keep'")
    for flag, value in (("drop_unlabelled", drop_unlabelled), ("keep_unlabelled", keep_unlabelled)):
        if not isinstance(value, (bool, np.bool_)):   # "yes" or "no" would both read as true
            raise DataError(f"read: {flag} must be True or False, got {value!r}")
    if drop_unlabelled and keep_unlabelled:
        raise DataError("read: drop_unlabelled and keep_unlabelled exclude each other; pass one of them")
    if quantity not in ("counts", "tpm", "coverage"):
        raise DataError(f"unknown quantity {quantity!r}; choose 'counts', 'tpm' or 'coverage'")
    if isinstance(sep, str) and sep.lower() in ("\\t", "tab"):
        sep = "\t"   # --sep '\t' as typed in a shell (a backslash and a t), or the word
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1 or sep in "\r\n\"'"):
        raise DataError(f"field separator {sep!r} must be one character (e.g. ',' ';' or a tab); check --sep")
    from .quant import archive_table, is_archive

    if is_archive(p) and p.is_file() and os.access(p, os.R_OK):
        # an archive of one matrix file (GSExxx_counts.csv.zip) is that file
        try:
            with archive_table(p) as table:
                if table is not None:
                    adata = read(table[0], label_key=label_key, labels=labels, orientation=orientation, sep=sep,
                                 duplicates=duplicates, drop_unlabelled=drop_unlabelled,
                                 keep_unlabelled=keep_unlabelled, missing=missing, quantity=quantity, strand=strand,
                                 layer=layer, sheet=sheet, sample_names=sample_names, recount_qc=recount_qc,
                                 unique_sample_ids=unique_sample_ids)
                    for step in adata.uns.get("rnagen", {}).get("history", {}).values():
                        if step.get("step") == "read" and "archive" not in step:
                            step.update(archive=p.name, member=table[1])
                    return adata
        except OSError as e:  # the temporary copy: a full disk, say
            raise DataError(f"{p.name}: its matrix file cannot be copied out to be read ({e.strerror or e}); free "
                            "space in the temporary folder (TMPDIR) or unpack the archive yourself") from e
    if p.is_file() and not is_archive(p) and os.access(p, os.R_OK) and not _is_pipe(p):
        comp = _compression(p)
        if comp is not None and _content_format(_raw_head(p, comp)) in _SEEKED_FORMATS:
            with tempfile.TemporaryDirectory(prefix="rnagen-unpack-") as d:
                q = _decompressed(p, comp, Path(d))
                adata = read(q, label_key=label_key, labels=labels, orientation=orientation, sep=sep,
                             duplicates=duplicates, drop_unlabelled=drop_unlabelled,
                             keep_unlabelled=keep_unlabelled, missing=missing, quantity=quantity, strand=strand,
                             layer=layer, sheet=sheet, sample_names=sample_names, recount_qc=recount_qc,
                             unique_sample_ids=unique_sample_ids)
            steps = list(adata.uns.get("rnagen", {}).get("history", {}).values())
            if steps and steps[-1].get("step") == "read" and steps[-1].get("path") == q.name:
                steps[-1].update(path=p.name, compression=comp)   # this read's step (an .h5ad keeps its own)
            return adata
    if not p.is_dir() or _format(p) != "text" or p.suffix.lower() in (".gz", ".bz2", ".xz"):
        _check_file(p)  # a folder named like a file (data.h5ad/) is a mistake, not a folder of per-sample files
        if is_archive(p):
            if layer is not None:
                raise DataError(f"--layer applies to .h5ad input; {p.name} is an archive, remove --layer")
        elif strand != "auto":
            raise DataError(_QUANTITY_ON_A_MATRIX)
    elif layer is not None:
        raise DataError(f"--layer applies to .h5ad input; {p.name} is a folder, remove --layer")
    elif not os.access(p, os.R_OK | os.X_OK):
        raise DataError(f"input folder {str(p)!r} cannot be read (permission denied); check its permissions")
    with contextlib.ExitStack() as stack:
        if labels is not None and _is_pipe(Path(labels)):
            # the labels are read more than once (to settle a guessed layout, then to label): a pipe only once
            labels = _spool(Path(labels), Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rnagen-pipe-"))))
        try:
            return _read(p, label_key=label_key, labels=labels, orientation=orientation, sep=sep,
                         duplicates=duplicates, drop_unlabelled=drop_unlabelled,
                         keep_unlabelled=keep_unlabelled, missing=missing, quantity=quantity,
                         strand=strand, layer=layer, sheet=sheet, sample_names=sample_names,
                         recount_qc=recount_qc, unique_sample_ids=unique_sample_ids)
        except RnagenError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, csv.Error, UnicodeError, OSError,
                EOFError, zlib.error, lzma.LZMAError, MemoryError) as e:
            # a malformed file reaching a parser path without a specific check: still one clean line
            raise DataError(f"{p.name}: cannot read this file as {_format(p)} ({type(e).__name__}: "
                            f"{_one_line(e)[:120]}); check the file format and the separator (rnagen data prepare "
                            "--sep)") from e


def _read_path_fix(value: Any) -> str:
    """What to do instead of passing ``value`` (not a path) to :func:`read`: in-memory data need no reading."""
    if hasattr(value, "obs") and hasattr(value, "X"):
        return "it is an AnnData already: use it as it is (read takes the path of a file)"
    if isinstance(value, pd.DataFrame):
        return ("build an AnnData from the table (samples x genes) with anndata.AnnData(df), or write it to a file "
                "(df.to_csv) and read that")
    if isinstance(value, (list, tuple)):
        return "read one file at a time and join them with anndata.concat"
    return ""


def _oriented_by_labels(adata, orient: str, labels, label_key: str | None, *, absent_ok: bool = False,
                        parsed: dict[tuple, pd.DataFrame] | None = None):
    """A table whose layout was guessed (features that are no gene ids, fewer of them than samples) turned the
    other way when the label file's ids name its columns and not its rows; a plain numeric table only (no
    annotation columns that the guess would have put on the wrong axis). Returns the table, its layout and the
    labels read on the way (:func:`read_labels`'s pair for its samples, read with ``absent_ok`` as the labels
    are read after: ``--drop-unlabelled``; ``None`` where they were not read). The rows are labelled unless the
    file leaves some unlabelled and names every column; ``parsed`` as :func:`_read_labels` keeps it, the file
    parsed once."""
    import anndata as ad

    if len(adata.obs.columns) or len(adata.var.columns):
        return adata, orient, None
    try:
        rows = _read_labels(labels, adata.obs_names, label_key=label_key, sep=None, absent_ok=absent_ok,
                            parsed=parsed)
    except DataError:
        rows = None
    if rows is not None and not pd.isna(np.asarray(rows[1], dtype=object)).any():
        return adata, orient, rows
    try:
        found = _read_labels(labels, adata.var_names, label_key=label_key, sep=None, absent_ok=False,
                             parsed=parsed)
    except DataError:
        return adata, orient, rows   # the labels' own error is reported where they are read
    feats = [str(v) for v in adata.var_names]
    if not _all_digits(feats) and (_genes.looks_like_probes(feats[:2000]) or _gene_score(feats[:2000]) > 0.5):
        # the ids the label file names are the data's genes or probes: a per-gene annotation, not the samples'
        # labels (turning the table would make the probes the samples)
        raise DataError(f"label file {Path(labels).name} names the data's genes or probes (e.g. "
                        f"{feats[0][:30]!r}), not its samples: a per-gene annotation; give a table of the samples' "
                        "labels")
    turned = ad.AnnData(X=np.ascontiguousarray(adata.X.T), obs=pd.DataFrame(index=adata.var_names.copy()),
                        var=pd.DataFrame(index=adata.obs_names.copy()), uns=dict(adata.uns))
    now = "genes_x_samples" if orient.startswith("samples_x_genes") else "samples_x_genes"
    return turned, f"{now} (the label file names the {'columns' if now == 'genes_x_samples' else 'rows'})", found


def _read(p: Path, *, label_key, labels, orientation, sep, duplicates, drop_unlabelled, missing, quantity, strand,
          layer=None, sheet=None, sample_names=None, recount_qc=None, keep_unlabelled=False,
          unique_sample_ids=False):
    from ..pp.history import record, set_log_state
    from .quant import is_archive, one_sample_file, read_quant_folder

    fmt = "folder" if p.is_dir() or is_archive(p) else _format(p)
    if fmt != "folder" and (one := one_sample_file(p)) is not None:
        raise DataError(one)
    txt = None
    folder: dict[str, object] = {}
    if fmt not in ("h5ad", "parquet", "folder", *_WORKBOOKS):
        txt = _Text(p, sep=sep, fmt=fmt)
        if txt.content_format is not None:
            fmt = txt.content_format  # an HDF5/parquet/Excel file under a text name
        elif fmt != "gct" and _is_gct(txt.lines):
            # a GCT file under another name: a link x.gz to a .gct.gz, a .txt download, a pipe (/dev/stdin)
            fmt = "gct"
            txt = _Text(p, sep=sep, fmt=fmt)
    if layer is not None and fmt != "h5ad":
        raise DataError(f"--layer applies to .h5ad input; {p.name} is not one, remove --layer")
    if sheet is not None and fmt not in (*_WORKBOOKS, "rds", "rdata"):
        raise DataError(f"--sheet applies to a workbook (.xlsx, .xls, .ods) and --object to an R file (.RData); "
                        f"{p.name} is neither, remove it")
    if fmt != "h5ad" and label_key is not None and not str(label_key):
        raise DataError("empty --label-key; give the name of the label column")
    if quantity != "counts" and (fmt in ("h5ad", "parquet", "feather", *_WORKBOOKS, "gct", "rds", "rdata") or (
            txt is not None and (_is_geo(txt.lines) or _is_soft(txt.lines) or _is_featurecounts(txt.lines)))):
        raise DataError(_QUANTITY_ON_A_MATRIX)   # a plain table may be a Firehose one (_read_table decides)
    recount3 = txt is not None and fmt in ("csv", "tsv", "text") and _is_recount3_sums(txt.lines, p.name)
    if recount3:
        _check_recount3_options(quantity=quantity, recount_qc=recount_qc, source=p.name)
    elif recount_qc is not None or quantity == "coverage":
        opt = "--recount-qc" if recount_qc is not None else "--quantity coverage"
        raise DataError(f"{opt} applies to recount3's gene or exon sums (sra.gene_sums.SRP012345.G026.gz, opened by "
                        f"##annotation=); {p.name} is not one, remove {opt}")
    extra: dict[str, object] = {}
    orient = "genes_x_samples"
    if fmt == "folder":
        adata, folder = read_quant_folder(p, quantity=quantity, strand=strand)
        orient = "one file per sample"
    elif fmt == "h5ad" and _is_gctx(p):
        if layer is not None:
            raise DataError(f"--layer applies to .h5ad input; {p.name} is a GCTX file, remove --layer")
        adata, extra = _read_gctx(p, labels)
        fmt, orient = "gctx", "samples_x_genes"
    elif fmt == "h5ad" and _is_loom(p):
        adata, extra = _read_loom(p, layer)
        fmt, orient = "loom", "genes_x_samples"
    elif fmt == "h5ad" and _is_archs4(p):
        if layer is not None:
            raise DataError(f"--layer applies to .h5ad input; {p.name} is an ARCHS4 file, remove --layer")
        adata, extra = _read_archs4(p, labels)
        fmt, orient = "archs4", "the samples the label file names"
    elif fmt == "h5ad":
        adata = _read_h5ad(p, layer)
        orient = "samples_x_genes"
    elif fmt in ("parquet", "feather"):
        adata, orient = _read_parquet(p, orientation=orientation, label_key=label_key, fmt=fmt)
    elif fmt in _WORKBOOKS:
        adata, orient = _read_excel(p, sheet=sheet, orientation=orientation, label_key=label_key, fmt=fmt)
    elif fmt in ("rds", "rdata"):
        adata, orient = _read_r(p, obj=sheet, orientation=orientation, label_key=label_key)
    else:
        assert txt is not None  # every format but h5ad and parquet is text, sniffed above
        if fmt == "gct":
            adata = _read_gct(p, txt)
        elif _is_soft(txt.lines):
            fmt = "soft"
            adata = _read_soft(p, txt)
        elif _is_geo(txt.lines):
            fmt = "geo"
            adata = _read_geo(p, txt)
        elif _is_featurecounts(txt.lines):
            fmt = "featurecounts"
            adata = _read_featurecounts(p, txt)
        elif _is_nsolver_export(txt):
            fmt, orient = "nsolver", "one column per lane"
            adata, folder = _read_nsolver_export(p, txt)
        elif (scanner := array_scanner_kind(txt.lines)) is not None:
            one, _, way = _RAW_DATA[scanner]
            raise DataError(f"{p.name}: {one}{way}")
        elif (other := _not_expression(txt.lines)) is not None:
            raise DataError(f"{p.name}: {other}")
        elif len(txt.lines) > 1 and txt.lines[0].startswith("Status\t") and txt.lines[1].startswith("Assigned\t"):
            raise DataError(f"{p.name} is featureCounts' summary (reads per assignment status), not counts per gene; "
                            "give the counts table it was written beside (the same name without .summary)")
        else:
            adata, orient = _read_table(p, txt, fmt=fmt, orientation=orientation, label_key=label_key,
                                        quantity="counts" if recount3 else quantity)
            if recount3:
                adata, orient, extra = _recount3_values(adata, orient, quantity=quantity, recount_qc=recount_qc,
                                                        source=p.name)
    if fmt in ("csv", "tsv", "text", "parquet", "feather", "rds", "rdata", *_WORKBOOKS):   # a generic table
        _check_not_annotations(adata, p.name)
    if folder:
        # a quantifier's own output is on its linear scale, however low its values (RSEM's expected counts of a
        # shallow library stay below 30, where the log test would take them for log values)
        set_log_state(adata, logged=False, transform=f"{folder['column']} as quantified")
    if fmt not in ("folder", "h5ad", "loom", "archs4", "gctx", "geo", "soft", "nsolver"):
        adata, stats = _drop_statistics(adata)
        if stats:
            extra = {**extra, "statistics_columns": stats}
    found = None   # the labels, when settling the layout read them (the sample ids do not change until then)
    parsed: dict[tuple, pd.DataFrame] = {}   # the label file as parsed whole, by the layout check and the labels
    if (orientation == "auto" and fmt not in ("folder", "h5ad", "loom", "archs4", "gctx", "gct", "geo", "soft",
                                              "featurecounts", "nsolver")
            and labels is not None and sample_names is None):
        adata, orient, found = _oriented_by_labels(adata, orient, labels, label_key,
                                                   absent_ok=drop_unlabelled or keep_unlabelled, parsed=parsed)
    adata, changed = _undate_genes(adata)
    changed.update(extra)
    adata, summary = _drop_count_summaries(adata)
    if summary:
        changed["count_summary_rows"] = summary
    adata, totals = _drop_totals(adata)
    if totals:
        changed["total_rows"] = totals
    adata, piped = _pipe_ids(adata)
    changed.update(piped)
    _check_not_single_cells(adata, p.name)
    if fmt in ("geo", "soft") and adata.n_vars and all(str(v).strip().isdigit() for v in adata.var_names):
        # a platform's probe numbers (spotted arrays, Agilent feature numbers), which read as Entrez ids
        changed["feature_ids"] = PLATFORM_PROBES
    if fmt != "folder" and _transcripts_with_genes(adata):   # a folder's level is its reader's
        changed["quant_level"] = "transcript"
    bams = [str(o) for o in adata.obs_names]
    if fmt in ("csv", "tsv", "text") and bams and all(re.search(r"\.(bam|sam|cram)$", b, re.I) for b in bams):
        # a table of counts per alignment file (htseq-count --with-header, bedtools multicov): samples named by
        # their files, as featureCounts' are (_bam_sample_names), the paths kept in obs["file"]
        names = _bam_sample_names(bams)
        if names != bams:
            if "file" not in adata.obs.columns:
                adata.obs["file"] = bams
            adata.obs_names = pd.Index(names)
            changed["sample_names_from"] = "alignment file names"
    if sample_names is not None:
        _check_file(Path(sample_names), "sample-name file", "check the --sample-names path")
        new = read_sample_names(sample_names, adata.obs_names)
        if "file" not in adata.obs.columns:  # a folder's samples keep their files' paths there already
            adata.obs["input_id"] = list(adata.obs_names)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # two files of one sample: --duplicates resolves them
            adata.obs_names = pd.Index(new)
        changed["sample_names"] = Path(sample_names).name
    if fmt != "h5ad" and _tcga_sample_types(adata):
        changed["tcga_sample_type"] = "obs['sample_type'] from the barcodes' sample type codes"
    if labels is not None:
        name, lab = found if found is not None else _read_labels(
            labels, adata.obs_names, label_key=label_key, sep=None, absent_ok=drop_unlabelled or keep_unlabelled,
            parsed=parsed)
        if name in adata.obs.columns:
            _check_same_labels(adata.obs[name], lab, name, Path(labels).name)
        adata.obs[name] = lab
        label_key = name
        changed["labels_file"] = Path(labels).name   # where the labels came from, in the read step
    if unique_sample_ids and pd.Index(adata.obs_names).duplicated().any():
        n_same = int(pd.Index(adata.obs_names).duplicated().sum())
        adata.obs_names = pd.Index(adata.obs_names).astype(str)
        adata.obs_names_make_unique()
        changed["n_sample_ids_made_unique"] = n_same
    adata, n_dup_obs = _collapse(adata, axis="obs", how=duplicates, source=p.name, label_key=label_key, fmt=fmt)
    if duplicates == "error":
        adata, ids_from = _unique_gene_ids(adata)
        if ids_from is not None:
            changed["gene_ids_from"] = ids_from
    adata, n_dup_var = _collapse(adata, axis="var", how=duplicates, source=p.name)
    if _COVARIATES in adata.uns:
        changed["covariate_columns"] = list(adata.uns.pop(_COVARIATES))
    n_unlabelled = 0
    if label_key is not None and label_key in adata.obs.columns:
        adata, n_unlabelled = _apply_labels(adata, label_key, drop_unlabelled=drop_unlabelled,
                                            keep_unlabelled=keep_unlabelled, source=p.name)
    validate(adata, label_key=None if keep_unlabelled else label_key, source=p.name,
             allow_missing=missing == "keep")
    if n_dup_obs or n_dup_var:
        changed.update(duplicates=duplicates, n_duplicated_samples=n_dup_obs, n_duplicated_genes=n_dup_var)
    if n_unlabelled:
        changed["n_dropped_unlabelled"] = n_unlabelled
    if layer is not None:
        changed["layer"] = layer
    if sheet is not None:
        changed["sheet" if fmt in _WORKBOOKS else "object"] = sheet
    if fmt == "h5ad" and not changed:
        # the canonical format already carries its history; reading it again is not a transform
        return adata
    record(adata, "read", path=str(p.name), format=fmt, orientation=orient, label_key=label_key,
           n_obs=adata.n_obs, n_vars=adata.n_vars, **{f"quant_{k}": v for k, v in folder.items()}, **changed)
    return adata


# the reads a counter could not give a gene, which a merged counts table keeps as rows: HTSeq-count's and STAR's
# (--quantMode GeneCounts) summary lines
_COUNT_SUMMARIES = frozenset({"__no_feature", "__ambiguous", "__too_low_aQual", "__not_aligned",
                              "__alignment_not_unique", "N_unmapped", "N_multimapping", "N_noFeature", "N_ambiguous"})


def _drop_count_summaries(adata: Any) -> tuple[Any, list[str]]:
    """A counts table's summary rows (HTSeq's ``__no_feature``, STAR's ``N_unmapped``, ...) dropped: they are
    no genes, and a library size taken over them (``--normalize cpm``) would count unassigned reads. Returns
    the AnnData and the names dropped."""
    names = [str(v) for v in adata.var_names]
    drop = [n for n in names if n in _COUNT_SUMMARIES]
    if not drop or len(drop) == len(names):
        return adata, []
    return adata[:, [n not in _COUNT_SUMMARIES for n in names]].copy(), drop


# per-gene summary statistics a supplementary table puts beside its samples (limma's topTable, DESeq2's results,
# a spreadsheet's own): compared lower-case without punctuation or spaces
# (names that could be a sample's, FC for frontal cortex, Max, Range, are not in it)
_STATISTICS = frozenset({"mean", "average", "avg", "median", "sd", "stdev", "stddev", "sem", "variance", "logfc",
                         "log2fc", "log2foldchange", "foldchange", "lfcse", "pvalue", "pval", "pvalues", "padj",
                         "adjpval", "adjpvalue", "fdr", "qvalue", "qval", "tstat", "aveexpr", "basemean", "logcpm",
                         "meanexpression", "averageexpression"})


def _drop_statistics(adata: Any) -> tuple[Any, list[str]]:
    """Sample columns named as per-gene statistics (``Mean``, ``SD``, ``log2FC``, ``P.Value``, ``adj.P.Val``,
    ``FDR``, ...) beside real samples left out: they are no profiles (a table of nothing else is a DE result,
    refused elsewhere). Returns the AnnData and the names left out."""
    names = [str(n) for n in adata.obs_names]
    stats = [i for i, n in enumerate(names) if re.sub(r"[^a-z0-9]", "", n.casefold()) in _STATISTICS]
    if not stats or 2 * len(stats) >= len(names):
        return adata, []
    keep = np.ones(len(names), dtype=bool)
    keep[stats] = False
    return adata[keep].copy(), [names[i] for i in stats]


_TOTAL_NAME = re.compile(r"(grand |column |row )?(totals?|sums?)( counts?| reads?| of (all|the) (genes|samples))?",
                         re.IGNORECASE)


def _drop_totals(adata: Any) -> tuple[Any, list[str]]:
    """A row or column a spreadsheet added with each sample's (or gene's) total over the others (``Total``,
    ``Sum``, ``Grand total``) dropped: it is no gene, and a library size taken over it (``--normalize cpm``)
    would double every sample's, halving every value. Dropped only when its values are that sum (to 0.1% or a
    unit of rounding); named so, with other values, it is kept as data. Returns the AnnData and the names
    dropped (``"gene 'Total'"``, ``"sample 'Sum'"``)."""
    dropped: list[str] = []
    keep_var = np.ones(adata.n_vars, dtype=bool)
    keep_obs = np.ones(adata.n_obs, dtype=bool)
    for axis, names, keep in ((1, adata.var_names, keep_var), (0, adata.obs_names, keep_obs)):
        hits = [i for i, n in enumerate(map(str, names)) if _TOTAL_NAME.fullmatch(n.strip())]
        if len(hits) != 1 or len(names) < 3:
            continue
        X = np.asarray(adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X)
        if not np.issubdtype(X.dtype, np.number):
            return adata, []
        i = hits[0]
        line = (X[:, i] if axis == 1 else X[i, :]).astype(np.float64)
        total = np.nansum(X, axis=axis, dtype=np.float64) - line   # every other gene's (sample's) values
        if np.isfinite(line).all() and np.allclose(line, total, rtol=1e-3, atol=1.0):
            keep[i] = False
            dropped.append(f"{'gene' if axis == 1 else 'sample'} {str(names[i])!r}")
    if not dropped:
        return adata, []
    return adata[keep_obs][:, keep_var].copy(), dropped


# TCGA's legacy RSEM tables: TP53|7157; DepMap (CCLE expression, gene effects): TP53 (7157)
_SYMBOL_ENTREZ = (re.compile(r"(?P<symbol>[^|]*)\|(?P<id>[0-9]+)"),
                  re.compile(r"(?P<symbol>[^()\s]+) \((?P<id>[0-9]+)\)"))
# an Ensembl gene id (versioned or not, GENCODE's _PAR_Y copies too) joined to a symbol, either way round:
# ENSG00000141510.16|TP53, ENSG00000141510_TP53, TP53|ENSG00000141510 (merged count tables, some GEO files)
_ENS = r"ENS[A-Z]*G\d{11}(?:\.\d+)?(?:_PAR_Y)?"
_ENSEMBL_SYMBOL = (re.compile(rf"(?P<id>{_ENS})(?:\||_|::?)(?!PAR_Y$)(?P<symbol>[^|:]+)"),
                   re.compile(rf"(?P<symbol>[^|:]+?)(?:\||_|::?)(?P<id>{_ENS})"),
                   re.compile(rf"(?P<symbol>[^()\s]+) \((?P<id>{_ENS})\)"))
# a GENCODE transcriptome's FASTA names, as Salmon and kallisto report transcripts indexed without --gencode
# (a merged table of them: salmon quantmerge): ENST...|ENSG...|OTTHUMG|OTTHUMT|tx name|gene name|length|biotype|
_GENCODE_TX = (re.compile(r"(?P<id>ENS[A-Z]*T\d{11}(?:\.\d+)?(?:_PAR_Y)?)\|(?P<gene>ENS[A-Z]*G\d{11}(?:\.\d+)?"
                          r"(?:_PAR_Y)?)(?:\|[^|]*){3}\|(?P<symbol>[^|]*)(?:\|.*)?"),)


def _combined_ids(names: Sequence[str]) -> tuple[str, list[re.Match[str] | None]] | None:
    """Which joined naming at least 80% of ``names`` follow (``"symbol_entrez"``, ``"ensembl_symbol"`` or
    ``"gencode_transcript"``) and each name's match, else ``None``."""
    for kind, patterns in (("symbol_entrez", _SYMBOL_ENTREZ), ("ensembl_symbol", _ENSEMBL_SYMBOL),
                           ("gencode_transcript", _GENCODE_TX)):
        m = [next((x for x in (p.fullmatch(n) for p in patterns) if x is not None), None) for n in names]
        if names and sum(x is not None for x in m) >= 0.8 * len(names):
            return kind, m
    return None


def _pipe_ids(adata: Any) -> tuple[Any, dict[str, Any]]:
    """Features named by an id and a symbol joined: ``SYMBOL|ENTREZ`` (TCGA's legacy RSEM tables: ``TP53|7157``,
    ``?|100130426``) or ``SYMBOL (ENTREZ)`` (DepMap: ``TP53 (7157)``) renamed to their Entrez ids,
    ``ENSEMBL|SYMBOL`` (or ``_``, ``:``, either order; ``SYMBOL (ENSEMBL)``) to their Ensembl ids, which map
    without ambiguity; the symbols kept in ``var["symbol"]``. GENCODE's transcript names (``ENST|ENSG|...``)
    are renamed to the transcript id, the gene's id and name kept in ``var["gene_id"]`` and ``var["gene_name"]``
    and the values marked transcript-level (``rnagen data prepare`` adds them up to those genes). Returns the
    AnnData and ``{"n_<kind>_ids": how many were renamed}`` (empty unless at least 80% of the features are
    named so)."""
    names = [str(v) for v in adata.var_names]
    found = _combined_ids(names)
    if found is None:
        return adata, {}
    kind, m = found
    if kind == "gencode_transcript":
        adata.var["gene_id"] = [x.group("gene") if x is not None else "" for x in m]
        adata.var["gene_name"] = [x.group("symbol") if x is not None else "" for x in m]
        adata.var_names = pd.Index([x.group("id") if x is not None else n for x, n in zip(m, names)])
        return adata, {f"n_{kind}_ids": sum(x is not None for x in m), "quant_level": "transcript"}
    if "symbol" not in adata.var.columns:
        adata.var["symbol"] = [x.group("symbol") if x is not None else "" for x in m]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # two symbols of one gene id: --duplicates resolves them
        adata.var_names = pd.Index([x.group("id") if x is not None else n for x, n in zip(m, names)])
    return adata, {f"n_{kind}_ids": sum(x is not None for x in m)}


_ENSEMBL_TX = re.compile(r"ENS[A-Z]*T\d{11}(?:\.\d+)?(?:_PAR_Y)?")
#: a transcript table's gene column (nf-core/rnaseq's salmon.merged.transcript_counts.tsv: tx, gene_id; tximport's
#: TXNAME, GENEID), ids before names
_TX_GENE_COLUMNS = ("gene_id", "geneid", "gene", "gene_name", "genename", "gene_symbol")


def _transcripts_with_genes(adata: Any) -> bool:
    """Features that are Ensembl transcripts (at least 80%) with a column naming each one's gene: kept in
    ``var["gene_id"]``, the values marked transcript-level (``rnagen data prepare`` adds them up to those genes).
    GENCODE's joined names are :func:`_pipe_ids`'."""
    names = [str(v) for v in adata.var_names]
    if not names or sum(_ENSEMBL_TX.fullmatch(n) is not None for n in names) < 0.8 * len(names):
        return False
    cols = {str(c).casefold(): c for c in adata.var.columns}
    col = next((cols[c] for c in _TX_GENE_COLUMNS if c in cols), None)
    if col is None:
        return False
    adata.var["gene_id"] = adata.var[col].astype(str).to_numpy()
    return True


def _undate_genes(adata: Any) -> tuple[Any, dict[str, object]]:
    """Gene symbols a spreadsheet turned into dates (``1-Sep``: SEPT1) given back their names; the two dates that
    are each two genes (``1-Mar``: MARCH1 or MARC1) dropped, since their values cannot be told apart. Returns the
    AnnData and what was done, for the ``read`` step of the history (empty when nothing was)."""
    restored, ambiguous = _genes.spreadsheet_dates(list(adata.var_names))
    if not restored and not ambiguous:
        return adata, {}
    old = [str(v).removesuffix(" 00:00:00") for v in adata.var_names]  # an .xlsx date cell read by pandas
    names = [str(v) for v in adata.var_names]
    for i, g in restored.items():
        names[i] = g
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a restored name may repeat: --duplicates resolves it
        adata.var_names = pd.Index(names)
        if ambiguous:
            adata = adata[:, [i not in ambiguous for i in range(len(names))]].copy()
    done: dict[str, object] = {}
    if restored:
        done.update(dates_restored_from=[old[i] for i in sorted(restored)],
                    dates_restored_to=[restored[i] for i in sorted(restored)])
    if ambiguous:
        done.update(dates_dropped=[old[i] for i in sorted(ambiguous)],
                    dates_dropped_genes=[" or ".join(ambiguous[i]) for i in sorted(ambiguous)])
    return adata, done


def _other_hdf5(p: Path) -> str | None:
    """What an HDF5 file that is no AnnData is, when it is one of the well-known kinds: a 10x Genomics matrix
    (single cells, not bulk profiles); else ``None``. (ARCHS4's, GCTX and loom files are read.)"""
    import h5py

    try:
        with h5py.File(p, "r") as f:
            # Cell Ranger 3+ writes one /matrix group; Cell Ranger 2 one group per genome (/hg19/barcodes, ...)
            groups = [g for g in f.values() if isinstance(g, h5py.Group)]
            if any("barcodes" in g for g in groups):
                return ("a 10x Genomics HDF5 matrix of single cells, not an .h5ad of bulk profiles; give bulk "
                        "profiles (cells summed per sample, say) as a table or an .h5ad")
            if {"est_counts", "aux"} <= set(f.keys()):
                return ("one sample's kallisto abundance.h5 (transcripts); give the folder holding every sample's "
                        "folder: rnagen reads them together, one sample per file")
    except Exception:  # noqa: BLE001 - a damaged file: the caller's message stands
        return None
    return None


# ------------------------------------------------------------------------------------------ ARCHS4

# ARCHS4 (Lachmann et al. 2018): every GEO RNA-seq sample of a species aligned alike, gene counts in one HDF5
# file, data/expression with meta/samples/* and meta/genes/*; the gene names' dataset was renamed between
# releases, and the matrix is read in whichever orientation its shape says
_ARCHS4_GENES = ("symbol", "gene_symbol", "genes")
_GSM = re.compile(r"GSM\d+")


def _h5_strings(dataset) -> list[str]:
    """An HDF5 dataset of strings (bytes as h5py reads them) as Python strings."""
    return [x.decode() if isinstance(x, bytes) else str(x) for x in dataset[()]]


def _is_archs4(p: Path) -> bool:
    import h5py

    try:
        with h5py.File(p, "r") as f:
            return {"data", "meta"} <= set(f.keys()) and "expression" in f["data"] and "samples" in f["meta"]
    except Exception:  # noqa: BLE001 - not HDF5 or damaged: the .h5ad reader says so
        return False


def archs4_summary(path: str | os.PathLike) -> str | None:
    """``"ARCHS4 gene counts: S samples x G genes (...)"`` for an ARCHS4 file, read from its metadata alone (the
    matrix is far larger than memory), else ``None``."""
    import h5py

    p = Path(path)
    if not p.is_file() or not _is_archs4(p):
        return None
    try:
        with h5py.File(p, "r") as f:
            n_samples = len(f["meta/samples/geo_accession"])
            key = next((k for k in _ARCHS4_GENES if k in f["meta/genes"]), None)
            n_genes = len(f[f"meta/genes/{key}"]) if key else f["data/expression"].shape[0]
            series = len(set(f["meta/samples/series_id"][()])) if "series_id" in f["meta/samples"] else None
    except _H5_ERRORS:   # damaged: the reader says so in one line
        return None
    return (f"ARCHS4 gene counts: {n_samples:,} GEO samples" + (f" of {series:,} series" if series else "")
            + f" x {n_genes:,} genes; rnagen data prepare FILE --labels LABELS reads the samples LABELS names by "
            "GSM accession")


def _label_gsms(labels: str | os.PathLike) -> list[str]:
    """The GEO sample accessions a label file names: a GEO series matrix's samples, or the GSM ids of the
    table's column that holds most of them."""
    p = Path(labels)
    _check_file(p, "label file", "check the --labels path")
    txt = _Text(p, sep=None, fmt=_format(p))
    if txt.content_format is None and (_is_geo(txt.lines) or _is_soft(txt.lines)):
        return [str(s) for s in read_geo_samples(p).index]
    raw = _label_rows(p, sep=None).astype(str)
    hits = [int(raw[j].str.strip().str.fullmatch(_GSM.pattern).sum()) for j in raw.columns]
    col = raw.columns[int(np.argmax(hits))]
    return list(dict.fromkeys(s.strip() for s in raw[col] if _GSM.fullmatch(s.strip())))


def _read_archs4(p: Path, labels) -> tuple[Any, dict[str, object]]:
    """The samples a label file names (by GSM accession) out of an ARCHS4 gene-count file: the file holds every
    GEO sample of a species, far more than memory, so the labels choose. Samples the file lacks are left out
    (the history lists them). Returns the AnnData (counts as float32, genes by symbol, Ensembl ids kept) and
    what was read, for the history."""
    import anndata as ad
    import h5py

    source = p.name
    wanted = _label_gsms(labels) if labels is not None else []
    try:
        with h5py.File(p, "r") as f:
            gsm = _h5_strings(f["meta/samples/geo_accession"])
            if labels is None:
                raise DataError(f"{source}: an ARCHS4 file of {len(gsm):,} samples; name the ones to read with "
                                "--labels FILE (a table of GSM accessions and labels, or the series' GEO series "
                                "matrix)")
            key = next((k for k in _ARCHS4_GENES if k in f["meta/genes"]), None)
            if key is None:
                raise DataError(f"{source}: an ARCHS4 file without gene names (meta/genes/"
                                f"{' or '.join(_ARCHS4_GENES)}); download the file again")
            genes = _h5_strings(f[f"meta/genes/{key}"])
            where = {g: i for i, g in enumerate(gsm)}
            missing = [g for g in wanted if g not in where]
            idx = sorted({where[g] for g in wanted if g in where})
            if not idx:
                shown = f" (e.g. {wanted[0]!r})" if wanted else ""
                raise DataError(f"{source}: none of the label file's {len(wanted)} GSM accessions is in this "
                                f"ARCHS4 file{shown}; check the species and release, or label by GSM accession")
            dset = f["data/expression"]
            if dset.shape == (len(genes), len(gsm)):
                X = dset[:, idx].T
            elif dset.shape == (len(gsm), len(genes)):
                X = dset[idx, :]
            else:
                raise DataError(f"{source}: data/expression is {dset.shape[0]} x {dset.shape[1]} for {len(genes)} "
                                f"genes and {len(gsm)} samples; download the file again")
            var = pd.DataFrame(index=pd.Index(genes))
            for k in ("ensembl_gene", "ensembl_gene_id"):
                if k in f["meta/genes"]:
                    var["ensembl_id"] = _h5_strings(f[f"meta/genes/{k}"])
                    break
    except DataError:
        raise
    except _H5_ERRORS as e:
        raise DataError(f"{source}: cannot read the ARCHS4 file ({type(e).__name__}: {_one_line(e)[:80]}); "
                        "download it again") from e
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # a symbol of two genes: --duplicates resolves it
        adata = ad.AnnData(X=np.asarray(X, dtype=np.float32), obs=pd.DataFrame(index=[gsm[i] for i in idx]), var=var)
    info: dict[str, object] = {"archs4_samples": len(gsm), "archs4_genes": key}
    if missing:
        info.update(missing_labelled=missing[:20], n_missing_labelled=len(missing))
    return adata, info


# ------------------------------------------------------------------------------------------ GCTX

# CMap's GCTX (the LINCS L1000 releases, GEO GSE92742 and GSE70138, clue.io; cmapPy's parse_gctx): HDF5 with the
# matrix at /0/DATA/0/matrix, stored samples x genes, the ids at /0/META/ROW/id (genes: Entrez ids in L1000) and
# /0/META/COL/id (signatures or instances), further metadata fields as datasets beside them; -666 is CMap's
# missing value. A release's matrix (473,647 signatures x 12,328 genes) is far larger than memory.
_GCTX_NODES = ("0/DATA/0/matrix", "0/META/ROW/id", "0/META/COL/id")
_CMAP_MISSING = frozenset({"-666", "-666.0"})
# samples read from the matrix at a time: one block's rows in float32 beside the result
_GCTX_BLOCK = 2048


def _is_loom(p: Path) -> bool:
    import h5py

    try:
        with h5py.File(p, "r") as f:
            return {"matrix", "row_attrs", "col_attrs"} <= set(f.keys()) and isinstance(f["matrix"], h5py.Dataset)
    except Exception:  # noqa: BLE001 - not HDF5 or damaged: the .h5ad reader says so
        return False


#: the loom attributes that name the features and the samples (loompy's conventions, then anndata's write_loom)
_LOOM_FEATURE_NAMES = ("Gene", "var_names", "gene_names", "Accession", "gene_ids")
_LOOM_SAMPLE_NAMES = ("CellID", "obs_names", "cell_names", "SampleID", "sample")


def _loom_attrs(group, n: int) -> pd.DataFrame:
    """A loom file's ``row_attrs`` or ``col_attrs`` (one value per feature or sample) as a table; attributes of
    another length or more than one dimension (embeddings) left out. loompy stores text as ASCII bytes with
    other characters as XML references (``&#233;``), given back here."""
    import html

    cols: dict[str, Any] = {}
    for key in group:
        d = group[key]
        if not hasattr(d, "shape") or d.ndim != 1 or d.shape[0] != n:
            continue
        vals = d[()]
        if vals.dtype.kind in ("S", "O", "U"):
            vals = [html.unescape(x.decode("utf-8", errors="replace") if isinstance(x, bytes) else str(x))
                    for x in vals]
        cols[key] = vals
    return pd.DataFrame(cols, index=pd.RangeIndex(n))


def _read_loom(p: Path, layer: str | None) -> tuple[Any, dict[str, object]]:
    """A loom file (Linnarsson lab's HDF5 layout; loompy, velocyto and anndata's write_loom): ``matrix`` (or the
    layer ``layer``) genes x samples, ``row_attrs`` as ``var`` (named by ``Gene``, else the first of
    :data:`_LOOM_FEATURE_NAMES`), ``col_attrs`` as ``obs`` (named by ``CellID``, else ...; a ``--label-key``);
    refused when it does not fit in memory. Returns the AnnData and what was read, for the history."""
    import anndata as ad
    import h5py

    source = p.name
    try:
        with h5py.File(p, "r") as f:
            name = layer if layer not in (None, "") else "matrix"
            if name != "matrix":
                have = ", ".join(k for k in f.get("layers", {}) if k != "") or "none"
                if "layers" not in f or name not in f["layers"]:
                    raise DataError(f"{source} has no layer {name!r}; its layers: {have} (or omit --layer to read "
                                    "its matrix)")
                dset = f["layers"][name]
            else:
                dset = f["matrix"]
            if dset.ndim != 2:
                raise DataError(f"{source}: the loom matrix has {dset.ndim} dimensions; re-create the file")
            n_genes, n_samples = dset.shape
            if not np.issubdtype(dset.dtype, np.number):
                raise DataError(f"{source}: the loom matrix holds {dset.dtype} values, not numbers; re-create it")
            var = _loom_attrs(f["row_attrs"], n_genes)
            obs = _loom_attrs(f["col_attrs"], n_samples)
            need, total = 4 * n_genes * n_samples, _memory_bytes()
            if total is not None and need > total // 2:
                raise DataError(f"{source}: its {n_samples:,} samples (cells?) x {n_genes:,} genes need "
                                f"{need / 2**30:.1f} GiB, more than half this machine's {total / 2**30:.1f} GiB; sum "
                                "the cells of each sample first (bulk profiles) or subset the file")
            gkey = next((k for k in _LOOM_FEATURE_NAMES if k in var.columns), None)
            skey = next((k for k in _LOOM_SAMPLE_NAMES if k in obs.columns), None)
            genes = [str(x) for x in var[gkey]] if gkey else [f"feature_{i}" for i in range(n_genes)]
            samples = [str(x) for x in obs[skey]] if skey else [f"sample_{i}" for i in range(n_samples)]
            X = np.empty((n_samples, n_genes), dtype=np.float32)
            for s in range(0, n_samples, _GCTX_BLOCK):
                vals = np.asarray(dset[:, s:s + _GCTX_BLOCK]).T
                X[s:s + vals.shape[0]] = vals if vals.dtype == np.float32 else _to_float32(
                    vals.astype(np.float64), samples[s:s + vals.shape[0]], genes, source)
    except DataError:
        raise
    except _H5_ERRORS as e:
        raise DataError(f"{source}: cannot read the loom file ({type(e).__name__}: {_one_line(e)[:80]}); check "
                        "that it is complete") from e
    var.index = pd.Index(genes)
    obs.index = pd.Index(samples)
    var = var.drop(columns=[gkey] if gkey else [])
    obs = obs.drop(columns=[skey] if skey else [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # repeated ids: --duplicates resolves them
        adata = ad.AnnData(X=X, obs=obs, var=var)
        adata.strings_to_categoricals()   # text attributes as an .h5ad stores them: classes
    info: dict[str, object] = {}
    if not gkey:
        info["loom_unnamed_features"] = True
    return adata, info


def _is_gctx(p: Path) -> bool:
    import h5py

    try:
        with h5py.File(p, "r") as f:
            return all(node in f for node in _GCTX_NODES)
    except Exception:  # noqa: BLE001 - not HDF5 or damaged: the .h5ad reader says so
        return False


def _memory_bytes() -> int | None:
    """This machine's physical memory (:func:`rnagen.utils.physical_memory`; a name the tests replace)."""
    from ..utils import physical_memory

    return physical_memory()


def gctx_summary(path: str | os.PathLike) -> str | None:
    """``"CMap GCTX: S samples x G features (...)"`` for a GCTX file whose matrix does not fit in half this
    machine's memory (a release's: 473,647 x 12,328), from its metadata alone; ``None`` for any other file (a GCTX
    that fits is read and summarised as every matrix is)."""
    import h5py

    p = Path(path)
    if not p.is_file() or not _is_gctx(p):
        return None
    try:
        with h5py.File(p, "r") as f:
            n_cols, n_rows = len(f["0/META/COL/id"]), len(f["0/META/ROW/id"])
            total = _memory_bytes()
            if total is None or 4 * n_cols * n_rows <= total // 2:
                return None
            cmeta = [k for k in f["0/META/COL"] if k != "id"]
            rmeta = [k for k in f["0/META/ROW"] if k != "id"]
            version = f.attrs.get("version")
    except _H5_ERRORS:   # damaged: the reader says so in one line
        return None
    if isinstance(version, np.ndarray):
        version = version.ravel()[0] if version.size else None
    if isinstance(version, bytes):
        version = version.decode(errors="replace")
    size = 4 * n_cols * n_rows
    return (f"CMap GCTX{f' {version}' if version else ''}: {n_cols:,} samples x {n_rows:,} features "
            f"({size / 2**30:.1f} GiB as float32)\n"
            f"sample metadata: {', '.join(cmeta) or 'none'}\nfeature metadata: {', '.join(rmeta) or 'none'}\n"
            "rnagen data prepare FILE --labels LABELS reads the samples LABELS names (e.g. rows of the release's "
            "sig_info.txt); --label-key FIELD labels them by a sample metadata field")


def _gctx_meta(group, n: int, source: str, what: str) -> pd.DataFrame:
    """The metadata fields of a GCTX group (``/0/META/ROW`` or ``/0/META/COL``) beside its ids, one column each,
    text as text, CMap's -666 as missing."""
    out: dict[str, Any] = {}
    for k in group:
        d = group[k]
        if k == "id" or not hasattr(d, "shape"):
            continue
        if d.ndim != 1 or d.shape[0] != n:
            raise DataError(f"{source}: the GCTX {what} field {k!r} holds {d.shape} values for {n} {what}s; "
                            "re-create the file (cmapPy's write_gctx)")
        vals = d[()]
        if vals.dtype.kind in "SOU":
            col = pd.Series([x.decode(errors="replace") if isinstance(x, bytes) else str(x) for x in vals])
            out[str(k)] = col.where(~col.str.strip().isin(_CMAP_MISSING)).to_numpy()
        elif (vals == -666).any():
            out[str(k)] = np.where(vals == -666, np.nan, vals.astype(np.float64))
        else:
            out[str(k)] = vals
    return pd.DataFrame(out)


def _gctx_wanted(labels, ids: list[str]) -> tuple[list[int], list[str]] | None:
    """Positions of the samples a label file names (its column naming most of the GCTX's sample ids), in the
    file's order, and the ids of that column the file lacks; ``None`` when no column names any (a label per line
    in sample order, say: every sample is read)."""
    p = Path(labels)
    _check_file(p, "label file", "check the --labels path")
    raw = _label_rows(p, sep=None).astype(str)
    where = {s: i for i, s in enumerate(ids)}
    hits = [int(raw[j].str.strip().isin(where).sum()) for j in raw.columns]
    if not hits or max(hits) == 0:
        return None
    named = [s.strip() for s in raw[raw.columns[int(np.argmax(hits))]]]
    if named[0] not in where:
        named = named[1:]   # the header line (the rows are read as written)
    return sorted({where[s] for s in named if s in where}), [s for s in dict.fromkeys(named) if s not in where]


def _read_gctx(p: Path, labels) -> tuple[Any, dict[str, object]]:
    """A GCTX file's samples (those a label file names, else every one; refused when they do not fit in memory)
    with the sample metadata as ``obs`` columns (a ``--label-key``) and the feature metadata as ``var``.
    Returns the AnnData and what was read, for the history."""
    import anndata as ad
    import h5py

    source = p.name
    try:
        with h5py.File(p, "r") as f:
            cols = _h5_strings(f["0/META/COL/id"])
            rows = _h5_strings(f["0/META/ROW/id"])
            dset = f["0/DATA/0/matrix"]
            if dset.shape == (len(cols), len(rows)):
                transposed = False
            elif dset.shape == (len(rows), len(cols)):
                transposed = True
            else:
                raise DataError(f"{source}: the GCTX matrix is {' x '.join(map(str, dset.shape))} for {len(cols)} "
                                f"samples and {len(rows)} features; re-create the file (cmapPy's write_gctx)")
            if not np.issubdtype(dset.dtype, np.number):
                raise DataError(f"{source}: the GCTX matrix holds {dset.dtype} values, not numbers; re-create it")
            wanted = _gctx_wanted(labels, cols) if labels is not None else None
            idx, missing = (list(range(len(cols))), []) if wanted is None else wanted
            need, total = 4 * len(idx) * len(rows), _memory_bytes()
            if total is not None and need > total // 2:
                named = "the label file names " if wanted is not None else ""
                raise DataError(f"{source}: the {len(idx):,} samples {named}x {len(rows):,} features of this GCTX "
                                f"need {need / 2**30:.1f} GiB, more than half this machine's "
                                f"{total / 2**30:.1f} GiB; name fewer samples to read with --labels FILE (a table "
                                "whose id column lists them, e.g. the rows of sig_info.txt you want)")
            X = np.empty((len(idx), len(rows)), dtype=np.float32)
            for s in range(0, len(idx), _GCTX_BLOCK):
                block = idx[s:s + _GCTX_BLOCK]
                vals = dset[:, block].T if transposed else dset[block, :]
                X[s:s + len(block)] = vals if vals.dtype == np.float32 else _to_float32(
                    vals.astype(np.float64), [cols[i] for i in block], rows, source)
            obs = _gctx_meta(f["0/META/COL"], len(cols), source, "sample").iloc[idx]
            obs.index = pd.Index([cols[i] for i in idx])
            var = _gctx_meta(f["0/META/ROW"], len(rows), source, "feature")
            var.index = pd.Index(rows)
    except DataError:
        raise
    except _H5_ERRORS as e:
        raise DataError(f"{source}: cannot read the GCTX file ({type(e).__name__}: {_one_line(e)[:80]}); check "
                        "that it is complete") from e
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # repeated ids: --duplicates resolves them
        adata = ad.AnnData(X=X, obs=obs, var=var)
    info: dict[str, object] = {"gctx_samples": len(cols)}
    if missing:
        info.update(missing_labelled=missing[:20], n_missing_labelled=len(missing))
    return adata, info


def _read_h5ad(p: Path, layer: str | None = None):
    import anndata as ad

    other = _other_hdf5(p)
    if other:
        raise DataError(f"{p.name}: {other}")
    _check_h5ad_fits(p, layer)
    with warnings.catch_warnings():
        # repeated gene or sample names are --duplicates' to resolve, with its own message
        warnings.filterwarnings("ignore", message=".*names are not unique", category=UserWarning)
        # a file of an older anndata (scanpy's bundled pbmc68k_reduced.h5ad) is moved to the current layout as
        # it is read, with a FutureWarning per element: the user's file is read as it is, nothing to act on
        warnings.filterwarnings("ignore", message="Moving element from", category=FutureWarning)
        try:
            adata = ad.read_h5ad(p)
        except Exception as e:  # h5py raises OSError/KeyError for broken files
            kind = "GCTX" if p.name.lower().endswith(".gctx") else ".h5ad"   # one too damaged to show its layout
            raise DataError(f"{p.name}: not a readable {kind} file ({type(e).__name__}); re-create it") from e
        if layer is not None:
            adata = _h5ad_layer(adata, layer, p.name)
    if adata.X is None:
        raise DataError(f"{p.name}: the .h5ad file has no expression matrix (X); re-create it with X")
    if layer is None:
        _say_counts_elsewhere(adata, p.name)
    # Entrez ids a float column named (an AnnData built from a frame whose columns were read as floats: 7157.0)
    # named by their digits, as a text table's are
    names = _entrez_as_written([str(v) for v in adata.var_names])
    if names != [str(v) for v in adata.var_names]:
        adata.var_names = pd.Index(names)
    if not np.issubdtype(adata.X.dtype, np.number):
        raise DataError(f"{p.name}: expression values are not numeric; fix the file")
    adata.X = _dense_float32(adata.X, adata.obs_names, adata.var_names, p.name)
    # scanpy's record of its log1p (uns["log1p"]): the values' base, which their range cannot tell (ln or log2)
    from ..pp.history import adopt_scanpy_log1p

    adopt_scanpy_log1p(adata, p.name)
    return adata


#: values of a sparse matrix made dense at a time (a block of rows, or of a CSC matrix's columns)
_SPARSE_BLOCK = 1 << 22


def _dense_float32(X, rows: Sequence[str], cols: Sequence[str], source: str) -> np.ndarray:
    """An .h5ad's matrix (dense or sparse, of any numeric type) as the dense float32 matrix rnagen holds, the
    float32 range checked (:func:`_to_float32`). Integers (counts written as int32, int64 or unsigned) and half
    floats fit float32 and are cast at once, without a float64 copy of the matrix; a sparse matrix is made dense a
    block at a time into the result, so the file's matrix is held once beside it, not in a dense copy per step."""
    if not hasattr(X, "toarray"):
        X = np.asarray(X)
        if X.dtype == np.float32:
            return X
        if X.dtype.kind in "iu" or X.dtype == np.float16:
            return X.astype(np.float32)
        return _to_float32(X.astype(np.float64, copy=False), rows, cols, source)
    by_col = getattr(X, "format", "") == "csc"   # a CSC matrix sliced by columns, as it is stored
    if not by_col and getattr(X, "format", "") != "csr":
        X = X.tocsr()
    out = np.empty(X.shape, dtype=np.float32)
    length = X.shape[0] if by_col else X.shape[1]
    step = max(1, _SPARSE_BLOCK // max(1, length))
    for s in range(0, X.shape[1] if by_col else X.shape[0], step):
        if by_col:
            out[:, s:s + step] = _dense_float32(X[:, s:s + step].toarray(), rows, cols[s:s + step], source)
        else:
            out[s:s + step] = _dense_float32(X[s:s + step].toarray(), rows[s:s + step], cols, source)
    return out


def _h5ad_matrix_shape(p: Path, layer: str | None) -> tuple[int, int] | None:
    """The shape of the matrix an .h5ad read gives (X, the layer ``layer``, or ``raw``'s X) from the file's
    metadata, none of it read; ``None`` where the file does not say (a missing layer: the reader names it)."""
    import h5py

    path = "X" if layer is None else "raw/X" if layer == "raw" else f"layers/{layer}"
    try:
        with h5py.File(p, "r") as f:
            node = f.get(path)
            if isinstance(node, h5py.Dataset):
                shape = node.shape
            elif isinstance(node, h5py.Group):   # a sparse matrix: its shape an attribute (older: h5sparse_shape)
                shape = node.attrs.get("shape", node.attrs.get("h5sparse_shape"))
            else:
                return None
    except Exception:  # noqa: BLE001 - a damaged file: the reader says so
        return None
    if shape is None or len(shape) != 2:
        return None
    return int(shape[0]), int(shape[1])


def _check_h5ad_fits(p: Path, layer: str | None) -> None:
    """Refuse an .h5ad whose matrix, made dense in float32 as rnagen holds it, needs more than half this machine's
    memory (a single-cell atlas: 10^5 cells stored sparse), before any of it is read: said in one line, not ended
    by the system for want of memory."""
    shape = _h5ad_matrix_shape(p, layer)
    total = _memory_bytes()
    if shape is None or total is None:
        return
    n_samples, n_genes = shape
    need = 4 * n_samples * n_genes
    if need > total // 2:
        raise DataError(f"{p.name}: its {n_samples:,} samples (cells?) x {n_genes:,} genes need {need / 2**30:.1f} GiB "
                        f"as a dense matrix, more than half this machine's {total / 2**30:.1f} GiB; sum the cells of "
                        "each sample first (bulk profiles: scanpy.get.aggregate(adata, by='sample', func='sum')) or "
                        "subset the file")


def _holds_counts(M) -> bool:
    """Does a matrix of an .h5ad (dense or sparse) look like raw read counts (:func:`rnagen.pp.looks_like_counts`),
    judged on its first rows (some 65,000 values: a large matrix is not copied whole)."""
    from ..pp.preprocess import looks_like_counts

    head = M[: max(1, min(M.shape[0], (1 << 16) // max(1, M.shape[1])))]
    vals = head.data if hasattr(head, "tocsr") else np.asarray(head)   # a sparse matrix: its stored values
    return vals.size > 0 and looks_like_counts(np.asarray(vals))


def _say_counts_elsewhere(adata, source: str) -> None:
    """Warn when ``X`` of a file rnagen has not written holds no counts (scanpy's normalised and logged values)
    while a layer or ``raw`` holds them: X is what is read, and the warning names the option that reads the
    counts instead, which --normalize and the models' count handling (sample --round) need."""
    if "rnagen" in adata.uns or _holds_counts(adata.X):
        return
    found = [f"layers[{k!r}]" for k, v in adata.layers.items() if _holds_counts(v)]
    opts = [f"--layer {k}" for k, v in adata.layers.items() if _holds_counts(v)]
    if adata.raw is not None and _holds_counts(adata.raw.X):
        found.append("raw (adata.raw)")
        opts.append("--layer raw")
    if found:
        warnings.warn(f"{source}: X holds no raw counts (normalised or log values, as scanpy leaves them) and is "
                      f"what is read; the file keeps counts in {' and '.join(found)}: rnagen data prepare "
                      f"{opts[0]} reads them", UserWarning, stacklevel=2)


def _h5ad_layer(adata, layer: str, source: str):
    """``adata`` with the matrix of ``layer`` as X (``"raw"``: ``adata.raw``, its genes with it; the usual place of
    the counts in a scanpy file whose X was normalised and logged), the other matrices dropped."""
    import anndata as ad

    have = ", ".join(list(adata.layers.keys()) + (["raw"] if adata.raw is not None else [])) or "none"
    uns = {k: v for k, v in adata.uns.items() if k != "log1p"}   # rnagen's and scanpy's log records describe X,
    if isinstance(uns.get("rnagen"), dict):                      # not this matrix
        uns["rnagen"] = {k: v for k, v in uns["rnagen"].items() if k != "log"}
    if layer == "raw":
        if adata.raw is None:
            raise DataError(f"{source} has no raw matrix (adata.raw); its layers: {have}")
        return ad.AnnData(X=adata.raw.X, obs=adata.obs.copy(), var=adata.raw.var.copy(), uns=uns)
    if layer not in adata.layers:
        raise DataError(f"{source} has no layer {layer!r}; its layers: {have} (or omit --layer to read X)")
    return ad.AnnData(X=adata.layers[layer], obs=adata.obs.copy(), var=adata.var.copy(), uns=uns)


def write_gct(adata, path: str | os.PathLike, *, version: Literal["1.2", "1.3"] = "1.2",
              description: str | None = None, obs_keys: Sequence[str] = (),
              var_keys: Sequence[str] | None = None) -> Path:
    """Write ``adata`` as a GCT file (genes x samples), atomically; ``.gz`` suffix gzips it. Written a block of
    genes at a time (:func:`rnagen._io.write_gct_rows`, the writer of ``rnagen sample --out x.gct``): beside the
    matrix, the write holds one block, never the file's text; values with 9 significant digits, which read back
    as the same float32.

    Parameters
    ----------
    version
        ``"1.2"`` (``Name``, ``Description``, samples) or ``"1.3"`` (row-metadata columns, column-metadata
        lines).
    description
        ``var`` column written as the ``Description`` field (``"na"`` when ``None``, and for empty values); a
        column of gene symbols (``"symbol"``) reads back as ``var["symbol"]``, any other as ``var["description"]``.
        In GCT 1.3 the first row-metadata column, the ``var_keys`` after it.
    obs_keys
        ``obs`` columns written as column metadata (GCT 1.3 only).
    var_keys
        ``var`` columns written as row-metadata columns (GCT 1.3 only), each under its name; ``None``: every
        ``var`` column but ``description``'s. :func:`read` gives them back as they were (booleans, integers,
        floats, text; a missing value written ``na`` and read missing; a categorical column as text; a column
        named ``Description`` as GCT's Description; one whose name ends in ``id`` as text: the rules of
        :func:`_gct_var`). A GCT 1.3 without any is written with a ``Description`` of ``na``.
    """
    require_anndata(adata, "write_gct")
    dest = as_path(path, "write_gct: the file")
    if version not in ("1.2", "1.3"):
        raise DataError(f"unknown GCT version {version!r}; choose '1.2' or '1.3'")
    if obs_keys and version == "1.2":
        raise DataError("column metadata (obs_keys) needs GCT version 1.3")
    if var_keys and version == "1.2":
        raise DataError("row-metadata columns (var_keys) need GCT version 1.3; GCT 1.2 holds one, the description")
    keys = ([] if version == "1.2" else [k for k in adata.var.columns if k != description] if var_keys is None
            else list(var_keys))
    for key, frame, what in ([(description, adata.var, "var")] if description else []) + [
            (k, adata.obs, "obs") for k in obs_keys] + [(k, adata.var, "var") for k in keys]:
        if key not in frame.columns:
            raise DataError(f"write_gct: no {what} column {key!r} (its columns: "
                            f"{', '.join(map(str, frame.columns)) or 'none'}); name one of those")
    desc = adata.var[description].astype(str).tolist() if description else None
    meta = {k: adata.obs[k].astype(str).tolist() for k in obs_keys}
    rmeta = None
    if keys:
        # the Description first, under GCT's own name (read back as the symbols or the description it is)
        rmeta = ({"Description": ("text", np.asarray(["na" if str(d) in ("", "nan", "None") else d for d in desc],
                                                     dtype=object))} if desc is not None else {})
        rmeta.update(gct_row_meta(adata.var[list(keys)]))
        desc = None
    return write_gct_rows(dest, adata.X, genes=[str(g) for g in adata.var_names],
                          samples=[str(s) for s in adata.obs_names], descriptions=desc, col_meta=meta,
                          row_meta=rmeta, version=version)
