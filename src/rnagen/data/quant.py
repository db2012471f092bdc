"""A folder (or an archive) of per-sample quantification files, as RNA-seq pipelines write them, read as one
matrix.

Recognised (by file name, and for HTSeq by content; gzipped or not, as GEO's per-sample files are), one kind per
folder, searched up to three levels down. A ``.tar`` (GEO's ``GSExxx_RAW.tar`` of a series' per-sample files),
``.tar.gz``/``.tgz`` (or bzip2, xz), or ``.zip`` archive is read as the folder it would unpack to, one member at a
time, without unpacking it (a compressed tar is decompressed once into a temporary plain tar: its members are
reached by seeking, and seeking back in a compressed stream decompresses it again from its start); an archive
holding no such files but one matrix file is that file (:func:`archive_table`):

``*ReadsPerGene.out.tab``
    STAR ``--quantMode GeneCounts`` (Dobin et al. 2013): gene id, then reads counted unstranded, on the first
    read's strand (htseq-count ``-s yes``) and on the second's (``-s reverse``); four ``N_`` summary rows.
``*.augmented_star_gene_counts.tsv``
    GDC's harmonised STAR counts (TCGA, CPTAC, ...): ``gene_id gene_name gene_type unstranded stranded_first
    stranded_second tpm_unstranded ...``, ``N_`` rows and a ``# gene-model`` line.
``*.mirnas.quantification.txt``
    GDC's miRNA-seq quantification (BCGSC miRNA profiling of TCGA, TARGET, ...): ``miRNA_ID read_count
    reads_per_million_miRNA_mapped cross-mapped`` per miRBase 21 precursor (``hsa-let-7a-1``); the read counts
    are read (reads per million are ``--normalize cpm`` of them).
``*.isoforms.quantification.txt``
    GDC's isoform tables of the same runs (``miRNA_ID isoform_coords read_count ... miRNA_region``), read where a
    folder has no ``mirnas`` table: the reads of the isoforms annotated ``mature,MIMATxxxxxxx`` summed per mature
    miRNA, named by its miRBase accession (``var["precursors"]``: the precursors its reads came from), 0 where a
    sample's file lists none.
``*.genes.results``
    RSEM (Li & Dewey 2011): ``expected_count`` and ``TPM`` per gene (``*.isoforms.results`` per transcript, read
    where a folder has no gene-level table, their ``gene_id`` kept in ``var["gene_id"]`` as for GENCODE's names).
``quant.genes.sf``
    Salmon's gene-level table (Patro et al. 2017; ``-g``): ``NumReads`` and ``TPM``.
``quant.sf``, ``abundance.tsv``
    Salmon's and kallisto's (Bray et al. 2016) transcript-level tables (``NumReads``/``est_counts``, ``TPM``/
    ``tpm``), read where a folder has no gene-level table (kallisto's ``abundance.h5``, its default output and
    what sleuth reads, where a folder has no ``abundance.tsv``: ``est_counts`` by ``aux/ids``, TPM from them and
    ``aux/eff_lengths`` as kallisto and tximport compute it); a tx2gene table adds them up to genes
    (``rnagen data prepare --feature-map tx2gene.tsv --duplicates sum``, the sums tximport takes). GENCODE's
    ``ENST...|ENSG...|...|`` names are cut to the transcript id, their gene id and name kept in ``var["gene_id"]``
    and ``var["gene_name"]``: ``rnagen data prepare`` adds the transcripts up to those genes without a tx2gene.
``*.RCC``
    NanoString nCounter lanes (a targeted panel's probe counts; GEO's RAW.tar of a series holds them): the
    ``<Code_Summary>`` counts of the gene probes (Endogenous, Housekeeping) by name, the assay's controls (Positive,
    Negative, ...) left out, ``var["code_class"]`` kept; no normalisation (``--normalize``).
featureCounts output of one sample (Liao et al. 2014; by content)
    ``# Program:featureCounts`` comment lines, ``Geneid Chr Start End Strand Length`` and the sample's counts;
    the gene lengths are kept in ``var["length"]`` (for ``--normalize tpm``).
HTSeq-count output (Anders et al. 2015)
    any other file of two tab-separated columns, gene and whole count, its ``__no_feature``-style rows dropped;
    a header line before them (``gene_id<TAB>GSM123``, as submitters' per-sample files on GEO have) is skipped.

``quantity`` picks counts (the default) or TPM; for the two STAR kinds ``strand`` picks the column, and
``auto`` takes the stranded column that holds more than three times the other's reads in every sample, else the
unstranded one. Samples are named by their files (less the kind's suffix; by the folder for a file named only
``quant.genes.sf``, ``quant.sf`` or ``abundance.tsv``), their paths kept in ``obs["file"]``. Every file must list
the same genes (transcripts).
"""
from __future__ import annotations

import bz2
import contextlib
import contextvars
import errno
import gzip
import lzma
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal, cast

import numpy as np
import pandas as pd

from ..errors import DataError
from .io import _H5_ERRORS, _RAW_DATA, _is_featurecounts, _raw_data, array_scanner_kind

__all__ = ["read_quant_folder", "is_archive", "archive_table", "label_table", "QUANT_KINDS", "TRANSCRIPT_KINDS"]

Quantity = Literal["counts", "tpm"]
Strand = Literal["auto", "unstranded", "forward", "reverse"]


@dataclass(frozen=True)
class _Kind:
    name: str
    suffix: str                      # the file-name ending that identifies the kind ("" for HTSeq: by content)
    header: bool                     # a header line (after '#' comment lines)
    counts: str | tuple[str, str, str]  # the counts column, or STAR's (unstranded, forward, reverse)
    tpm: str | None


_STAR = ("unstranded", "forward", "reverse")
QUANT_KINDS = {
    "star": _Kind("STAR ReadsPerGene.out.tab", "ReadsPerGene.out.tab", False, _STAR, None),
    "gdc": _Kind("GDC augmented STAR counts", ".augmented_star_gene_counts.tsv", True,
                 ("unstranded", "stranded_first", "stranded_second"), "tpm_unstranded"),
    "gdc_mirna": _Kind("GDC miRNA quantification", "mirnas.quantification.txt", True, "read_count", None),
    "gdc_mirna_iso": _Kind("GDC miRNA isoform quantification", "isoforms.quantification.txt", True, "read_count",
                           None),
    "rsem": _Kind("RSEM .genes.results", ".genes.results", True, "expected_count", "TPM"),
    "rsem_tx": _Kind("RSEM .isoforms.results (transcripts)", ".isoforms.results", True, "expected_count", "TPM"),
    "salmon": _Kind("Salmon quant.genes.sf", "quant.genes.sf", True, "NumReads", "TPM"),
    "salmon_tx": _Kind("Salmon quant.sf (transcripts)", "quant.sf", True, "NumReads", "TPM"),
    "kallisto": _Kind("kallisto abundance.tsv (transcripts)", "abundance.tsv", True, "est_counts", "tpm"),
    "kallisto_h5": _Kind("kallisto abundance.h5 (transcripts)", "abundance.h5", False, "est_counts", "tpm"),
    "nanostring": _Kind("NanoString nCounter RCC", ".RCC", True, "Count", None),
    "featurecounts": _Kind("featureCounts", "", True, "count", None),
    "htseq": _Kind("HTSeq-count", "", False, "count", None),
}
TRANSCRIPT_KINDS = ("salmon_tx", "kallisto", "kallisto_h5", "rsem_tx")
#: the gene-level kind whose files a tool writes beside the transcript-level ones (read instead of them)
_GENES_BESIDE = {"salmon": "salmon_tx", "rsem": "rsem_tx", "gdc_mirna": "gdc_mirna_iso"}
_MAX_DEPTH = 3
#: folders a quantifier writes beside each sample's table, holding no sample: Salmon's aux_info (ambig_info.tsv,
#: two columns of whole numbers that read as an HTSeq table; bootstraps, equivalence classes), libParams and logs
_SIDE_FOLDERS = frozenset({"aux_info", "libParams", "logs"})
_HTSEQ_SUFFIXES = (".gz", ".txt", ".tsv", ".tab", ".counts", ".count", ".htseq", ".htseq-count", ".htseq_counts",
                   ".featurecounts", "_featurecounts", "_counts", ".readcounts")


_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")


def is_archive(path: str | os.PathLike) -> bool:
    """Is ``path`` a file named as a tar or zip archive (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``,
    ``.tar.xz``, ``.zip``)?"""
    p = Path(path)
    return p.name.lower().endswith(_ARCHIVE_SUFFIXES) and not p.is_dir()


@dataclass(frozen=True)
class _Source:
    """One per-sample file: in a folder (``path``), or a member of an archive (``member`` read through
    ``reader``). ``rel`` is its path relative to the folder or inside the archive."""

    rel: str
    path: Path | None = None
    reader: Callable[[str], IO[bytes]] | None = None

    @property
    def name(self) -> str:
        return PurePosixPath(self.rel).name

    @property
    def parent(self) -> str:
        """The name of the folder holding the file ("" at the top of an archive)."""
        return self.path.parent.name if self.path is not None else PurePosixPath(self.rel).parent.name

    @property
    def label(self) -> str:
        """How error messages name the file."""
        return str(self.path) if self.path is not None else self.rel

    def open(self) -> IO[bytes]:
        """The file's bytes, decompressed when its name ends in ``.gz`` (closing it closes the file or member)."""
        gz = self.name.lower().endswith(".gz")
        if self.path is not None:
            return cast(IO[bytes], gzip.open(self.path, "rb") if gz else open(self.path, "rb"))
        assert self.reader is not None
        fh = self.reader(self.rel)
        return cast(IO[bytes], _GzipMember(fileobj=fh, mode="rb")) if gz else fh

    @contextlib.contextmanager
    def source(self) -> Iterator[Path | IO[bytes]]:
        """What pandas reads: the path of a file (compression inferred from its name), else the open member."""
        if self.path is not None:
            yield self.path
        else:
            with self.open() as fh:
                yield fh


class _GzipMember(gzip.GzipFile):
    """A gzipped archive member: closing it also closes the member it reads."""

    def close(self) -> None:
        inner = self.fileobj
        try:
            super().close()
        finally:
            closer = getattr(inner, "close", None)
            if closer is not None:
                closer()


def _plain_name(src: _Source) -> str:
    """The file name less a ``.gz`` (GEO's per-sample files are gzipped)."""
    return src.name[:-3] if src.name.lower().endswith(".gz") else src.name


#: the most attribute columns htseq-count's --additional-attr puts between a gene's id and its count
_HTSEQ_MAX_ATTRS = 4


def _id_and_count(line: str) -> tuple[str, str] | None:
    """A gene/count line's id and last field: two fields, or more where htseq-count's ``--additional-attr`` puts
    the gene's attributes (its name, biotype) between them."""
    fields = line.rstrip("\r\n").split("\t")
    if not 2 <= len(fields) <= 2 + _HTSEQ_MAX_ATTRS or not fields[0]:
        return None
    # attributes are words (a name, a biotype), never numbers: a gene and two samples' counts is a matrix
    if any(_is_number(f) for f in fields[1:-1]):
        return None
    return fields[0], fields[-1]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _htseq_header(lines: list[str]) -> int | None:
    """How many header lines a gene/count table starts with (0 or 1: a ``gene<TAB>sample`` line before the
    first gene), or ``None`` when the lines do not start such a table."""
    for skip in (0, 1):
        if len(lines) <= skip:
            return None
        row = _id_and_count(lines[skip])
        if row is None:
            return None
        if re.fullmatch(r"[0-9]+", row[1]):
            # a header names columns: it has no whole number where the counts are
            return skip
    return None


def _named_kind(name: str) -> str | None:
    """The kind a file's name (less ``.gz``) ends as (``quant.sf``, ``.genes.results``, ...), else ``None``."""
    return next((key for key, k in QUANT_KINDS.items() if k.suffix and name.endswith(k.suffix)), None)


def _kind_of(src: _Source) -> str | None:
    """The kind of a per-sample file, by its name; HTSeq by its first lines (gene, tab, a whole number; a
    header line before them allowed)."""
    name = _plain_name(src)
    if (named := _named_kind(name)) is not None:
        return named
    if name.lower().endswith(".rcc"):
        return "nanostring"
    if name.lower().endswith(".ctab"):
        return "ballgown"   # refused by _read_found, with the way to counts
    if name.startswith(".") or Path(name).suffix.lower() in (".bam", ".bai", ".sam", ".cram", ".log", ".md5",
                                                             ".html", ".json", ".h5ad", ".gct", ".csv", ".parquet",
                                                             ".tar", ".zip", ".tgz", ".pdf", ".xlsx", ".xls", ".bed",
                                                             ".bw", ".bigwig", ".fastq", ".fq", ".summary"):
        return None
    try:
        with src.open() as fh:
            lines = fh.read(1 << 16).decode("utf-8", errors="replace").split("\n")
    except (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile):
        return None
    if lines[0].startswith("# Program:featureCounts") and _is_featurecounts(lines):
        return "featurecounts"
    if (scanner := array_scanner_kind(lines)) is not None:
        return scanner   # refused by _read_found, with the way to expression values
    return "htseq" if _htseq_header(lines[:2]) is not None else None


#: the kinds whose files each hold one sample, named by the tool (a folder per sample: quant.sf, abundance.tsv)
#: or by the sample (S1.genes.results, S1.ReadsPerGene.out.tab)
_ONE_SAMPLE_KINDS = ("star", "gdc", "gdc_mirna", "gdc_mirna_iso", "rsem", "rsem_tx", "salmon", "salmon_tx", "kallisto",
                     "kallisto_h5")


def one_sample_file(path: Path) -> str | None:
    """For a single file of a quantifier that writes one per sample (Salmon's quant.sf, kallisto's abundance.tsv
    or .h5, RSEM's .genes.results, STAR's ReadsPerGene.out.tab, GDC's counts), the one-line refusal naming the
    folder to give; ``None`` for any other file. Read as a matrix, its columns became samples (est_counts, tpm)
    or its strands duplicated sample ids."""
    src = _Source(path.name, path=path)
    plain = _plain_name(src)
    # by the name alone: every such kind is named by its suffix (no file's content is read for the others)
    kind = _named_kind(plain) if path.is_file() else None
    if kind not in _ONE_SAMPLE_KINDS:
        return None
    k = QUANT_KINDS[kind]
    if kind != "kallisto_h5":
        # the tool's own layout, not a merged matrix a user named alike (all.genes.results from
        # rsem-generate-data-matrix): its counts column in the header, STAR's summary rows first
        try:
            with src.open() as fh:
                lines = [ln for ln in fh.read(1 << 14).decode("utf-8", "replace").splitlines()
                         if not ln.startswith("#")]
        except (OSError, EOFError, zlib.error):
            return None
        first = lines[0].split("\t") if lines else []
        counts = k.counts if isinstance(k.counts, str) else k.counts[0]
        own = first[:1] == ["N_unmapped"] if kind == "star" else counts in first
        if not own:
            return None
    # a tool's fixed file name sits in a folder of its own per sample; a sample-named file beside the others
    here = path.resolve().parent
    folder = here.parent if plain == k.suffix else here
    return (f"{path.name} is one sample's {k.name} file; give the folder holding every sample's "
            f"({os.path.relpath(folder)}): rnagen reads them together, one sample per file")


def _files(folder: Path) -> dict[str, list[_Source]]:
    """The per-sample files under ``folder`` (up to three levels down), by kind, in path order."""
    found: dict[str, list[_Source]] = {}
    base = len(folder.parts)
    # linked folders followed (a subset of samples gathered by symbolic links); the depth limit ends any cycle
    for root, dirs, names in os.walk(folder, followlinks=True):
        depth = len(Path(root).parts) - base
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SIDE_FOLDERS) \
            if depth < _MAX_DEPTH - 1 else []
        for n in sorted(names):
            p = Path(root) / n
            src = _Source(str(p.relative_to(folder)), path=p)
            kind = _kind_of(src) if p.is_file() else None
            if kind is not None:
                found.setdefault(kind, []).append(src)
    return found


# a compressed tar decompressed once per reading (see decompressed_once): (path, size, mtime) -> plain tar
_PLAIN_TARS: contextvars.ContextVar[dict | None] = contextvars.ContextVar("rnagen_plain_tars", default=None)
_COMPRESSED = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))


@contextlib.contextmanager
def decompressed_once() -> Iterator[None]:
    """Within this block a compressed tar archive is decompressed once however often it is listed
    (:func:`rnagen.data.read` lists an archive to see whether it is one matrix file, then reads its per-sample
    files); the plain copies live in one temporary folder (made when first needed) removed at the end of the
    block."""
    if _PLAIN_TARS.get() is not None:
        yield
        return
    cache: dict = {}
    token = _PLAIN_TARS.set(cache)
    try:
        yield
    finally:
        _PLAIN_TARS.reset(token)
        if "dir" in cache:
            shutil.rmtree(cache["dir"], ignore_errors=True)


def _plain_tar(archive: Path, stack: contextlib.ExitStack) -> Path:
    """``archive`` itself when it is a plain tar, else a plain copy of the compressed tar in a temporary folder.

    A tar member is reached by seeking; a gzip, bzip2 or xz stream seeks backwards by decompressing again from its
    start, so reading members out of the archive's order (sorted by path, or twice: once to recognise, once to
    read) costs a decompression each, quadratic in the archive's size. One pass into a plain tar makes it linear.
    """
    with open(archive, "rb") as fh:
        magic = fh.read(6)
    opener = next((op for m, op in _COMPRESSED if magic.startswith(m)), None)
    if opener is None:
        return archive
    st = archive.stat()
    key = (str(archive.resolve()), st.st_size, st.st_mtime_ns)
    cache = _PLAIN_TARS.get()
    if cache is not None and key in cache:
        return cast(Path, cache[key])
    if cache is None:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rnagen-tar-")))
    else:
        folder = cache.setdefault("dir", Path(tempfile.mkdtemp(prefix="rnagen-tar-")))
    out = folder / f"{len(cache) if cache is not None else 0}.tar"
    try:
        with opener(archive, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except OSError as e:
        out.unlink(missing_ok=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise DataError(f"{archive.name}: cannot be decompressed into the temporary folder {folder.parent} "
                            f"({e.strerror}); free space there (or set TMPDIR to a folder with room) or unpack the "
                            "archive yourself (tar -xf) and give the folder") from e
        raise DataError(f"{archive}: not a readable tar archive ({type(e).__name__}); download it again") from e
    except (EOFError, zlib.error, lzma.LZMAError) as e:
        out.unlink(missing_ok=True)
        raise DataError(f"{archive}: not a readable tar archive ({type(e).__name__}); download it again") from e
    if cache is not None:
        cache[key] = out
    return out


def _archive_members(archive: Path, stack: contextlib.ExitStack) -> list[_Source]:
    """The files inside a tar or zip ``archive`` (up to three levels down; no ``__MACOSX`` or dot files), in path
    order; the open archive is left to ``stack`` to close. Members are read through the archive, never written
    under their own names, so a name (absolute, ``..``) cannot reach outside."""
    is_zip = archive.name.lower().endswith(".zip")
    try:
        if is_zip:
            zf = stack.enter_context(zipfile.ZipFile(archive))
            names = [i.filename for i in zf.infolist() if not i.is_dir()]

            def reader(n: str) -> IO[bytes]:
                try:
                    return zf.open(n)
                except NotImplementedError as e:   # Deflate64 (Windows' compressed folders), AES, strong encryption
                    raise DataError(f"{archive.name}: {n} is packed in a way Python's zipfile cannot read "
                                    f"({str(e).splitlines()[0] if str(e) else 'unsupported'}: Deflate64 or AES "
                                    "encryption?); unpack it with unzip or 7z x "
                                    "and give the file") from e
                except RuntimeError as e:   # zipfile: "File ... is encrypted, password required"
                    raise DataError(f"{archive.name}: {n} is encrypted (a password-protected zip); unzip it with "
                                    "its password and give the file") from e
        else:
            tf = stack.enter_context(tarfile.open(_plain_tar(archive, stack)))
            members = {m.name: m for m in tf.getmembers() if m.isfile()}
            names = list(members)

            def reader(n: str) -> IO[bytes]:
                fh = tf.extractfile(members[n])
                assert fh is not None  # a regular member
                return fh
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{archive}: not a readable {'zip' if is_zip else 'tar'} archive ({type(e).__name__}); "
                        "download it again") from e
    out = []
    for n in sorted(names):
        parts = PurePosixPath(n).parts
        if len(parts) > _MAX_DEPTH or any(x.startswith(".") or x == "__MACOSX" or x in _SIDE_FOLDERS
                                           for x in parts[:-1]) or parts[-1].startswith("."):
            continue
        out.append(_Source(n, reader=reader))
    return out


def _archive_files(archive: Path, stack: contextlib.ExitStack) -> dict[str, list[_Source]]:
    """The per-sample files inside a tar or zip ``archive``, by kind, in path order (:func:`_archive_members`)."""
    found: dict[str, list[_Source]] = {}
    for src in _archive_members(archive, stack):
        kind = _kind_of(src)
        if kind is not None:
            found.setdefault(kind, []).append(src)
    return found


# a matrix file, gzipped or not, as data portals and GEO submitters zip one
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".gct", ".parquet", ".pq", ".feather", ".xlsx", ".xls", ".ods",
                   ".h5ad", ".rds", ".rdata", ".rda")


@contextlib.contextmanager
def archive_table(archive: str | os.PathLike) -> Iterator[tuple[Path, str] | None]:
    """The one matrix file of an archive that holds no per-sample files (``GSExxx_counts.csv.zip``), copied to a
    temporary folder removed afterwards, and its name inside the archive; ``None`` for an archive of per-sample
    files (read by :func:`read_quant_folder`). An archive of several matrix files is refused: which one is meant
    is the user's to say."""
    archive = Path(archive)
    with contextlib.ExitStack() as stack:
        members = _archive_members(archive, stack)
        kinds = [_kind_of(src) for src in members]
        if kinds.count("featurecounts") == 1 and all(k in (None, "featurecounts") for k in kinds):
            # one featureCounts table: the matrix reader takes it whatever its number of samples
            tables = [s for s, k in zip(members, kinds) if k == "featurecounts"]
        elif any(k is not None for k in kinds):
            yield None
            return
        else:
            if (hint := _raw_data([s.rel for s in members])) is not None:
                raise DataError(f"{archive}: {hint}")   # GEO's RAW.tar of CEL files, its filelist.txt no matrix
            tables = [s for s in members if _plain_name(s).lower().endswith(_TABLE_SUFFIXES)
                      and not re.match(r"(readme|license|licence|manifest|md5|checksum)", s.name, re.IGNORECASE)]
        if len(tables) > 1:
            shown = ", ".join(s.rel for s in tables[:5]) + (", ..." if len(tables) > 5 else "")
            raise DataError(f"{archive.name}: an archive of {len(tables)} matrix files ({shown}); unpack it (tar -xf "
                            "or unzip) and give the one to read")
        if not tables:
            yield None  # read_quant_folder says what the archive lacks
            return
        yield _copied_out(tables[0], archive, stack), tables[0].rel


def _copied_out(src: _Source, archive: Path, stack: contextlib.ExitStack) -> Path:
    """An archive member copied into a temporary folder that ``stack`` removes."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rnagen-archive-")))
    name = src.name if not src.name.startswith(".") else "table" + Path(src.name).suffix
    assert src.reader is not None  # an archive member
    try:
        with src.reader(src.rel) as fh, open(tmp / name, "wb") as out:
            shutil.copyfileobj(fh, out, 1 << 20)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise DataError(f"{archive}: damaged archive, {src.rel} cannot be read ({type(e).__name__}); download it "
                        "again") from e
    return tmp / name


@contextlib.contextmanager
def label_table(archive: str | os.PathLike) -> Iterator[Path]:
    """The table of an archive given as a label file, copied to a temporary folder removed afterwards: its only
    table, or the GDC portal's clinical cart's ``clinical.tsv`` (beside ``exposure.tsv``, ``follow_up.tsv``, ...);
    refused naming its tables when it holds several others or none."""
    archive = Path(archive)
    with contextlib.ExitStack() as stack:
        members = _archive_members(archive, stack)
        tables = [s for s in members if _plain_name(s).lower().endswith((*_TABLE_SUFFIXES, ".json"))
                  and not re.match(r"(readme|license|licence|manifest|md5|checksum)", s.name, re.IGNORECASE)]
        clinical = [s for s in tables if _plain_name(s).lower() == "clinical.tsv"]
        pick = clinical if len(clinical) == 1 else tables
        if len(pick) != 1:
            shown = ", ".join(s.rel for s in tables[:5]) + (", ..." if len(tables) > 5 else "")
            what = f"{len(tables)} tables ({shown})" if tables else "no table"
            raise DataError(f"label file {archive.name}: an archive of {what}; unpack it (tar -xf or unzip) and give "
                            "the label table")
        yield _copied_out(pick[0], archive, stack)


def _sample_name(src: _Source, kind: str) -> str:
    name = _plain_name(src)
    if kind in ("htseq", "featurecounts"):
        stem = name
        while True:
            low = stem.lower()
            cut = next((s for s in _HTSEQ_SUFFIXES if low.endswith(s) and len(stem) > len(s)), None)
            if cut is None:
                return stem
            stem = stem[: -len(cut)]
    stem = name[: -len(QUANT_KINDS[kind].suffix)]
    if kind == "gdc":
        stem = stem.removesuffix(".rna_seq")
    if kind == "nanostring":
        return re.sub(r"\.rcc$", "", name, flags=re.I).rstrip("._-") or src.parent
    if kind in ("gdc_mirna", "gdc_mirna_iso"):  # <file uuid>.mirbase21.mirnas... (or .mirnaseq....): the uuid
        stem = re.sub(r"\.(mirbase\d+|mirnaseq)\.?$", "", stem)
    stem = stem.rstrip("._-")
    return stem or src.parent


def _table(src: _Source, kind: str, columns: list[str]) -> pd.DataFrame:
    """One file's ``columns`` as a table indexed by gene id, its summary rows dropped (only the columns asked
    for are parsed: a folder of a thousand files is read one file at a time, keeping one column of each)."""
    k = QUANT_KINDS[kind]
    path = src.label
    if kind == "kallisto_h5":
        return _kallisto_h5(src, columns)
    try:
        with src.open() as fh:
            head = fh.read(1 << 16).decode("utf-8", errors="replace").split("\n")
        skip = 0
        while skip < len(head) and head[skip].startswith("#"):
            skip += 1
        if k.header:
            header = head[skip].rstrip("\r").split("\t") if skip < len(head) else []
            rename = {}
            if kind == "featurecounts":
                if len(header) != 7:
                    raise DataError(f"{path}: a featureCounts table of {len(header) - 6} samples in a folder of "
                                    "per-sample files; give the table itself as the input (or one file per sample)")
                rename = {header[6]: "count"}
                columns = [header[6] if c == "count" else c for c in columns]
            absent = [c for c in columns if c not in header[1:]]
            if absent:
                raise DataError(f"{path}: no {absent[0]!r} column (columns: {', '.join(header[1:9])}); is it a "
                                f"{k.name} file?")
            with src.source() as handle:
                df = pd.read_csv(handle, sep="\t", skiprows=skip, index_col=0, usecols=[header[0], *columns],
                                 low_memory=False).rename(columns=rename)
        else:
            names = ["gene", *_STAR] if kind == "star" else ["gene", "count"]
            use: list[str] | list[int] = ["gene", *columns]
            if kind == "htseq":
                skip += _htseq_header(head[skip:skip + 2]) or 0
                # the id and the last field: the count, after any --additional-attr columns
                n_fields = len(head[skip].rstrip("\r").split("\t")) if skip < len(head) else 2
                use, names = [0, n_fields - 1], [f"_{j}" for j in range(n_fields)]
                names[0], names[-1] = "gene", "count"
            with src.source() as handle:
                df = pd.read_csv(handle, sep="\t", header=None, names=names, index_col="gene", skiprows=skip,
                                 usecols=use, low_memory=False, dtype={"gene": str})
    except DataError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, ValueError, zlib.error) as e:
        raise DataError(f"{path}: not a readable {k.name} file ({type(e).__name__}); check the file") from e
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile) as e:
        raise DataError(f"{path} cannot be read ({getattr(e, 'strerror', None) or type(e).__name__}); check the file "
                        "and its permissions") from e
    df.index = df.index.astype(str)
    if kind in TRANSCRIPT_KINDS and len(df) and "|" in df.index[0]:
        # a GENCODE transcriptome indexed without --gencode: ENST...|ENSG...|OTTHUMG|OTTHUMT|tx name|gene name|
        # length|biotype|; the transcript id names the row, the gene id and name are kept (tximport's tx2gene)
        parts = df.index.str.split("|")
        df = df.assign(gene_id=parts.str[1].fillna(""), gene_name=parts.str[5].fillna(""))
        df.index = parts.str[0]
    if kind not in ("htseq", "star", "gdc"):
        return df
    # the summary rows close (HTSeq: __no_feature, ...) or open (STAR, GDC: N_unmapped, ...) the table
    prefix, ends = ("__", df.index[-8:]) if kind == "htseq" else ("N_", df.index[:8])
    summary = [i for i in ends if i.startswith(prefix)]
    return df.drop(index=summary) if summary else df


def _kallisto_h5(src: _Source, columns: list[str]) -> pd.DataFrame:
    """kallisto's ``abundance.h5``: ``est_counts`` per transcript (``aux/ids``) and TPM computed from them as
    kallisto writes it in ``abundance.tsv`` and tximport reads the file (rate = est_counts / eff_length, TPM =
    10^6 rate / sum of rates); the bootstraps are not read."""
    import h5py

    try:
        with src.open() as fh, h5py.File(fh, "r") as f:
            ids = [i.decode() if isinstance(i, bytes) else str(i) for i in f["aux/ids"][()]]
            counts = np.asarray(f["est_counts"][()], np.float64)
            eff = np.asarray(f["aux/eff_lengths"][()], np.float64)
    except _H5_ERRORS as e:
        raise DataError(f"{src.label}: not a readable kallisto abundance.h5 ({type(e).__name__}: {str(e)[:80]}); "
                        "check the file, or give the folder with kallisto's abundance.tsv files") from e
    if not (counts.ndim == eff.ndim == 1 and len(counts) == len(eff) == len(ids)):
        raise DataError(f"{src.label}: {len(ids)} transcript ids, {counts.size} counts and {eff.size} effective "
                        "lengths; not a kallisto abundance.h5 of one sample (check the file)")
    rate = np.divide(counts, eff, out=np.zeros_like(counts), where=eff > 0)
    total = rate.sum()
    tpm = rate * (1e6 / total) if total > 0 else rate
    return pd.DataFrame({"est_counts": counts, "tpm": tpm}, index=pd.Index(ids))[columns]


def _numbers(df: pd.DataFrame, column: str, path: str) -> np.ndarray:
    vals = pd.to_numeric(df[column], errors="coerce")
    if vals.isna().any():
        bad = df[column][vals.isna()]
        raise DataError(f"{path}: non-numeric value {str(bad.iloc[0])[:30]!r} for gene {str(bad.index[0])[:40]!r} in "
                        f"column {column!r}; fix the file")
    return vals.to_numpy(dtype=np.float64)


def _mature_counts(files: list[_Source]) -> tuple[list[np.ndarray], pd.Index, np.ndarray]:
    """GDC miRNA isoform tables summed to mature miRNAs: per sample, the reads of every isoform annotated
    ``mature,MIMATxxxxxxx`` added up by accession (as TCGA's mature-miRNA tables are made); a file lists only the
    isoforms it saw, so a mature miRNA absent from a sample's file has no read there (0). Returns the rows, the
    accessions (in accession order) and, per accession, the precursors its reads came from."""
    per_file: list[pd.Series] = []
    sources: dict[str, set[str]] = {}
    for src in files:
        df = _table(src, "gdc_mirna_iso", ["read_count", "miRNA_region"])
        region = df["miRNA_region"].astype(str)
        mature = region.str.startswith("mature,").to_numpy()
        acc = region[mature].str.split(",", n=1).str[1].str.strip()
        if (acc == "").any():
            raise DataError(f"{src.label}: a 'mature,' region without its MIMAT accession; check the file")
        reads = pd.Series(_numbers(df.iloc[mature], "read_count", src.label), index=acc.to_numpy())
        per_file.append(reads.groupby(level=0).sum())
        for a, pre in zip(acc.to_numpy(), df.index[mature]):
            sources.setdefault(a, set()).add(str(pre))
    if not sources:
        raise DataError(f"{files[0].label} and the other {len(files) - 1} isoform tables hold no read on a mature "
                        "miRNA (no 'mature,MIMAT...' region); check the files")
    order = pd.Index(sorted(sources, key=lambda a: (len(a), a)))
    rows = [s.reindex(order, fill_value=0.0).to_numpy(np.float32) for s in per_file]
    return rows, order, np.array([";".join(sorted(sources[a])) for a in order], dtype=object)


# the probes of an RCC file that measure genes; the others are the assay's controls (Positive and Negative
# spike-ins, and the Binding, Purification, Ligation, SNV_* classes of some panels)
RCC_GENES = ("Endogenous", "Housekeeping")


def control_stats(positive: list[str], negative: list[str]) -> tuple[float, tuple[float, float, float]]:
    """One nCounter lane's control summaries from its Positive and Negative probes' counts (as text): the
    geometric mean of the positive controls (NaN without one above 0), and the mean, standard deviation and
    maximum of the negative controls (NaN without them), for nSolver's normalisation and background."""
    pos = pd.to_numeric(pd.Series([str(v).strip() for v in positive], dtype=object),
                        errors="coerce").to_numpy(np.float64)
    pos = pos[np.isfinite(pos) & (pos > 0)]
    neg = pd.to_numeric(pd.Series([str(v).strip() for v in negative], dtype=object),
                        errors="coerce").to_numpy(np.float64)
    neg = neg[np.isfinite(neg)]
    return (float(np.exp(np.log(pos).mean())) if len(pos) else float("nan"),
            (float(neg.mean()), float(neg.std(ddof=1)) if len(neg) > 1 else 0.0, float(neg.max()))
            if len(neg) else (float("nan"),) * 3)


def _rcc_counts(files: list[_Source]) -> tuple[list[np.ndarray], pd.Index, np.ndarray, int, np.ndarray,
                                                np.ndarray]:
    """NanoString nCounter RCC files (one per sample lane, an XML-like text of ``<Header>``, ``<Sample_Attributes>``,
    ``<Lane_Attributes>`` and ``<Code_Summary>`` sections; the last ``CodeClass,Name,Accession,Count``): each
    file's counts of its gene probes (Endogenous, Housekeeping), the controls left out. Returns the rows, the gene
    names, their code classes, the number of control probes left out, each lane's geometric mean of its
    positive controls (NaN without them) and the mean, standard deviation and maximum of its negative controls
    (NaN without them; a lanes x 3 array), for nSolver's normalisation and background (``--normalize nanostring
    --background``); every file must list the same genes."""
    genes: pd.Index | None = None
    classes = np.zeros(0, dtype=object)
    rows: list[np.ndarray] = []
    n_controls = 0
    positive: list[float] = []
    negative: list[tuple[float, float, float]] = []
    for src in files:
        try:
            with src.open() as fh:
                text = fh.read().decode("utf-8", errors="replace")
        except (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile) as e:
            raise DataError(f"{src.label} cannot be read ({getattr(e, 'strerror', None) or type(e).__name__}); check "
                            "the file") from e
        m = re.search(r"<Code_Summary>\s*\n(.*?)</Code_Summary>", text, flags=re.S | re.I)
        if m is None:
            raise DataError(f"{src.label}: an RCC file without its <Code_Summary> section (a cut file?); export it "
                            "again from the nCounter")
        lines = [ln.strip() for ln in m.group(1).splitlines() if ln.strip()]
        head = [h.strip() for h in lines[0].split(",")] if lines else []
        if not {"CodeClass", "Name", "Count"} <= set(head):
            raise DataError(f"{src.label}: its <Code_Summary> has no CodeClass, Name and Count columns; check the file")
        ci, ni, ki = head.index("CodeClass"), head.index("Name"), head.index("Count")
        table = [ln.split(",") for ln in lines[1:]]
        if any(len(f) < len(head) for f in table):
            raise DataError(f"{src.label}: a <Code_Summary> line of fewer fields than its header; check the file")
        geomean, negs = control_stats([f[ki] for f in table if f[ci].strip() == "Positive"],
                                      [f[ki] for f in table if f[ci].strip() == "Negative"])
        positive.append(geomean)
        negative.append(negs)
        keep = [f for f in table if f[ci].strip().startswith(RCC_GENES)]
        if not keep:
            raise DataError(f"{src.label}: no Endogenous or Housekeeping probe in its <Code_Summary>; check the file")
        names = pd.Index([f[ni].strip() for f in keep])
        counts = pd.to_numeric(pd.Series([f[ki].strip() for f in keep]), errors="coerce")
        if counts.isna().any():
            bad = int(np.flatnonzero(counts.isna().to_numpy())[0])
            raise DataError(f"{src.label}: non-numeric count {keep[bad][ki].strip()[:20]!r} for {names[bad]!r}; check "
                            "the file")
        if names.duplicated().any():
            raise DataError(f"{src.label}: probe {names[names.duplicated()][0]!r} is listed twice; check the file")
        if genes is None:
            genes, classes = names, np.array([f[ci].strip() for f in keep], dtype=object)
            n_controls = len(table) - len(keep)
        elif not names.equals(genes):
            if set(names) != set(genes):
                raise DataError(f"{src.label} lists {len(names)} genes and {files[0].label} {len(genes)}, not the "
                                "same ones: the lanes were run with different code sets; give one panel's files")
            counts = pd.Series(counts.to_numpy(), index=names).loc[genes].reset_index(drop=True)
        rows.append(counts.to_numpy(np.float32))
    assert genes is not None
    return rows, genes, classes, n_controls, np.asarray(positive), np.asarray(negative, dtype=np.float64)


def _strand_call(first: float, second: float) -> str:
    """A library's strandedness from the reads counted on each strand's column."""
    return "forward" if first > 3 * second else "reverse" if second > 3 * first else "unstranded"


def read_quant_folder(folder: str | os.PathLike, *, quantity: Quantity = "counts", strand: Strand = "auto"):
    """Read a folder (or a tar or zip archive) of per-sample quantification files into AnnData (samples x genes,
    float32).

    Returns
    -------
    (anndata.AnnData, dict)
        The matrix (``obs["file"]``: each sample's file, relative to ``folder`` or inside the archive) and what
        was read: ``kind``, ``quantity``, the column taken, ``strand`` (STAR kinds), ``n_files`` and, for an
        archive, ``archive``.

    Raises
    ------
    DataError
        No recognised file, files of several kinds, a quantity the kind does not have, files listing different
        genes, a malformed file or archive, or samples that disagree on strandedness under ``strand="auto"``.
    """
    if quantity not in ("counts", "tpm"):
        raise DataError(f"unknown quantity {quantity!r}; use 'counts' or 'tpm'")
    if strand not in ("auto", *_STAR):
        raise DataError(f"unknown strand {strand!r}; use auto, unstranded, forward or reverse")
    folder = Path(folder)
    archive = is_archive(folder)
    if not archive and (kind := _other_folder(folder)) is not None:
        raise DataError(f"{folder}: {kind}")
    with contextlib.ExitStack() as stack:
        found = _archive_files(folder, stack) if archive else _files(folder)
        if not found:
            names = ([s.rel for s in _archive_members(folder, stack)] if archive else
                     [str(q) for _, q in zip(range(10_000), folder.rglob("*")) if q.is_file()])
            if (hint := _raw_data(names)) is not None:
                raise DataError(f"{folder}: {hint}")
        return _read_found(folder, found, archive=archive, quantity=quantity, strand=strand)


def _other_folder(folder: Path) -> str | None:
    """What a folder that holds one data set in a layout of its own is, with the way to a file rnagen reads: a Zarr
    store (AnnData's write_zarr) or a 10x Genomics matrix folder (single cells); ``None`` for any other folder."""
    try:
        names = {q.name.lower() for _, q in zip(range(1000), folder.iterdir())} if folder.is_dir() else set()
    except OSError:   # unreadable: the folder reader says so
        return None
    if {".zgroup", ".zattrs", "zarr.json"} & names:
        return ("a Zarr store (an AnnData written with write_zarr, or another array store), not a folder of "
                "per-sample files; convert it to an .h5ad (Python, with zarr installed: "
                "anndata.read_zarr(\"x.zarr\").write_h5ad(\"x.h5ad\")) and give that")
    from .._manifest import folder_kind

    kind = folder_kind(folder)[0]
    if kind == "run":
        return (f"an rnagen run folder (a trained model), not data; sample from it (rnagen sample {folder} --n 1000 "
                "--out syn.h5ad) and give the data it was trained on, or its samples, as a file")
    if kind == "reconstructor":
        return (f"an rnagen reconstructor folder, not data; it completes profiles (rnagen reconstruct apply {folder} "
                "DATA --out full.h5ad): give the data as a file")
    if kind == "split":
        return (f"a folder of rnagen data split's parts, not one data set; give one of them ({folder / 'train.h5ad'} "
                "or test.h5ad)")
    if kind == "benchmark":
        return ("an rnagen benchmark folder, not data: its results are leaderboard.csv and report.html; give the "
                "data it was run on as a file")
    alevin = folder / "alevin"
    try:
        inner = {q.name.lower() for _, q in zip(range(100), alevin.iterdir())} if alevin.is_dir() else set()
    except OSError:
        inner = set()
    if {"quants_mat.mtx", "quants_mat.gz"} & (names | inner):
        return ("an alevin or alevin-fry (Salmon) output of single cells (quants_mat: cells x genes), not bulk "
                "profiles; give bulk profiles (the cells summed per sample, e.g. in R fishpond::loadFry(folder) then "
                "a sum per sample) as a table or an .h5ad")
    if {"matrix.mtx", "matrix.mtx.gz"} & names and {"barcodes.tsv", "barcodes.tsv.gz"} & names:
        return ("a 10x Genomics matrix folder (matrix.mtx, features, barcodes) of single cells, not bulk profiles; "
                "give bulk profiles (cells summed per sample, e.g. scanpy.read_10x_mtx(folder) then a sum per "
                "sample) as a table or an .h5ad")
    return None


def _read_found(folder: Path, found: dict[str, list[_Source]], *, archive: bool, quantity: Quantity,
                strand: Strand):
    import anndata as ad

    for scanner in ("agilent", "genepix", "ballgown"):
        if scanner in found and 2 * len(found[scanner]) >= sum(map(len, found.values())):
            _, several, way = _RAW_DATA[scanner]
            raise DataError(f"{folder}: {len(found[scanner])} {several}{way}")
        found.pop(scanner, None)
    for genes_kind, tx_kind in _GENES_BESIDE.items():
        if genes_kind in found:
            # Salmon -g writes quant.genes.sf beside quant.sf, RSEM .genes.results beside .isoforms.results
            found.pop(tx_kind, None)
    if "kallisto" in found:   # kallisto quant writes abundance.h5 beside abundance.tsv: the same estimates
        found.pop("kallisto_h5", None)
    if not found:
        kinds = ("per-sample quantification files (STAR *ReadsPerGene.out.tab, GDC *.augmented_star_gene_counts.tsv "
                 "or *.mirnas.quantification.txt, RSEM *.genes.results or *.isoforms.results, Salmon quant.genes.sf "
                 "or quant.sf, kallisto abundance.tsv or abundance.h5, NanoString *.RCC, featureCounts or HTSeq-count "
                 "tables)")
        if archive:
            raise DataError(f"{folder}: an archive without {kinds} or a single matrix file (.csv, .tsv, .txt, .gct, "
                            ".parquet, .feather, .xlsx, .xls, .h5ad, .rds); unpack it (tar -xf or unzip) and give the "
                            "matrix file")
        raise DataError(f"{folder}: a folder without {kinds}; give a matrix file or a folder of such files")
    if len(found) > 1:
        kinds = ", ".join(f"{len(v)} {QUANT_KINDS[k].name}" for k, v in found.items())
        raise DataError(f"{folder}: files of several kinds ({kinds}); give a folder holding one kind")
    kind, files = next(iter(found.items()))
    k = QUANT_KINDS[kind]
    if strand != "auto" and not isinstance(k.counts, tuple):
        raise DataError(f"--strand applies to STAR's and GDC's counts, not to {k.name} files; remove --strand")
    if quantity == "tpm":
        if k.tpm is None:
            raise DataError(f"{k.name} files hold counts only; remove --quantity tpm (and normalise the counts with "
                            "--normalize)")
        if strand != "auto":
            raise DataError("--strand chooses a counts column; it does not apply with --quantity tpm")
    if quantity == "tpm":
        assert k.tpm is not None
        wanted = [k.tpm]
    elif isinstance(k.counts, tuple):
        wanted = list(k.counts) if strand == "auto" else [k.counts[_STAR.index(strand)]]
    else:
        wanted = [k.counts]
    genes: pd.Index | None = None
    gene_names = gene_ids = lengths = precursors = None
    rows: list[np.ndarray] = []
    calls: list[str] = []
    code_classes = positive = negative = None
    n_controls = 0
    if kind == "gdc_mirna_iso":
        rows, genes, precursors = _mature_counts(files)
    elif kind == "nanostring":
        rows, genes, code_classes, n_controls, positive, negative = _rcc_counts(files)
    for src in files if kind not in ("gdc_mirna_iso", "nanostring") else ():
        p = src.label
        extra = {"gdc": ["gene_name"], "featurecounts": ["Length"], "rsem_tx": ["gene_id"]}.get(kind, []) \
            if genes is None else []
        df = _table(src, kind, wanted + extra)
        if genes is None:
            genes = df.index
            if genes.duplicated().any():
                raise DataError(f"{p}: gene {genes[genes.duplicated()][0]!r} is listed twice; check the file")
            if "gene_name" in df.columns:
                gene_names = df["gene_name"].astype(str).to_numpy()
            if "gene_id" in df.columns:
                gene_ids = df["gene_id"].astype(str).to_numpy()
            if "Length" in df.columns:
                lengths = _numbers(df, "Length", p)
        elif not df.index.equals(genes):
            if len(df.index) != len(genes) or set(df.index) != set(genes):
                raise DataError(f"{p} lists {len(df.index)} genes and {files[0].label} {len(genes)}, not the same "
                                "ones: the files come from different annotations; quantify every sample with one")
            df = df.loc[genes]
        if len(wanted) == 3:  # strand auto: this sample's call picks its column; every call must agree
            assert isinstance(k.counts, tuple)
            calls.append(_strand_call(float(_numbers(df, k.counts[1], p).sum()),
                                      float(_numbers(df, k.counts[2], p).sum())))
            rows.append(_numbers(df, k.counts[_STAR.index(calls[-1])], p).astype(np.float32))
        else:
            rows.append(_numbers(df, wanted[0], p).astype(np.float32))
    assert genes is not None
    if len(set(calls)) > 1:
        shown = ", ".join(f"{files[i].name} {c}" for i, c in enumerate(calls) if c != calls[0] or i == 0)[:200]
        raise DataError(f"the samples' libraries do not look equally stranded ({shown}); pass --strand "
                        "unstranded|forward|reverse")
    column = k.counts[_STAR.index(calls[0])] if calls and isinstance(k.counts, tuple) else wanted[0]
    X = np.vstack(rows)
    rel = [str(PurePosixPath(src.rel)) for src in files]   # a tar member "./x" shown as "x"
    names = [_sample_name(src, kind) for src in files]
    if len(set(names)) != len(names):
        names = rel
    obs = pd.DataFrame({"file": rel}, index=pd.Index(names))
    if positive is not None:
        obs["positive_control_geomean"] = positive
    if negative is not None:
        for j, stat in enumerate(("mean", "sd", "max")):
            obs[f"negative_control_{stat}"] = negative[:, j]
    var = pd.DataFrame(index=pd.Index(genes))
    if gene_ids is not None:
        var["gene_id"] = gene_ids
    if gene_names is not None:
        var["gene_name"] = gene_names
    if lengths is not None:
        var["length"] = lengths
    if precursors is not None:
        var["precursors"] = precursors
    if code_classes is not None:
        var["code_class"] = code_classes
    level = "transcript" if kind in TRANSCRIPT_KINDS else "mature miRNA" if kind == "gdc_mirna_iso" else "gene"
    info = {"kind": kind, "quantity": quantity, "column": column, "n_files": len(files), "level": level}
    if kind == "nanostring":
        info["n_control_probes"] = n_controls
    if archive:
        info["archive"] = folder.name
    if isinstance(k.counts, tuple) and quantity == "counts":
        info["strand"] = _STAR[k.counts.index(column)]
    return ad.AnnData(X=X, obs=obs, var=var), info
