"""Download the public TCGA and GTEx matrices and convert them into labelled ``.h5ad`` files; download GEO series.

Sources (default base URLs; any mirror holding the same file names can be given instead):

- TCGA: UCSC Xena TOIL hub, ``TcgaTargetGtex_rsem_gene_tpm.gz`` (genes x samples, log2(TPM+0.001), GENCODE
  v23 versioned Ensembl IDs) and ``TcgaTargetGTEX_phenotype.txt.gz`` (``_primary_site``, ``_sample_type``,
  ``_study``, ``detailed_category``). Only ``_study == "TCGA"`` samples are kept.
- GTEx v8: the portal's ``GTEx_Analysis_2017-06-05_v8_RNASeQCv1.1.9_gene_tpm.gct.gz`` (TPM) and
  ``GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt`` (tissue ``SMTS``, detailed ``SMTSD``).

- GEO (:func:`fetch_geo`): a series' ``GSExxx_series_matrix.txt.gz`` and its platform's ``GPLxxx.annot.gz``
  (probe -> gene) from NCBI's ``https://ftp.ncbi.nlm.nih.gov/geo`` tree, downloaded only: ``rnagen data
  prepare`` reads them (:func:`rnagen.data.read`, ``--feature-map``).
- recount3 (:func:`fetch_recount3`): a project's gene sums (base-pair coverage), QC table and sample metadata
  from ``http://duffel.rail.bio/recount3``, downloaded only: ``rnagen data prepare --recount-qc`` reads the sums
  as read counts.

Downloads stream into ``NAME.part`` in the cache directory under a lock (one process per file; another waits
for it and takes its file from the cache, up to :data:`MAX_LOCK_WAIT` seconds), resume with HTTP
``Range`` requests after an interruption (``If-Range`` with the server's ETag or Last-Modified, so the bytes
already there are continued only by the same version of the file), are checked against the server's size (or,
without one, for a whole gzip stream or a last line end), against web pages, error documents (XML, JSON) and
empty bodies, also inside a gzip stream, against the file's format where it is known (the first lines of the
TCGA, GTEx, GEO and recount3 files: a server's plain-text answer sent with status 200 is told from the data only
so, also inside a gzip stream) or else the server's Content-Type, and an optional sha256/md5, and only then are
renamed to ``NAME``, with a record of their size and sha256 beside them (``NAME.download.json``). What is refused
is removed, and the error quotes what came back. A file already in the cache is not downloaded again; it is
checked on each use against that record (cut short or changed since) and its format. A busy server's
``Retry-After`` is waited out.

Conversion (Lacan et al., ``REFERENCE.md``): genes restricted to the GTEx v8 protein-coding universe
(18,691 genes, :func:`rnagen.datasets.gene_universe`) plus any of the 978 landmarks outside it; two views are
written, ``<source>_full.h5ad`` (all those genes) and ``<source>_landmarks.h5ad`` (the landmarks present).
The big matrices are read in row chunks with only the kept sample columns, so memory stays near the size of
the output. An existing view rnagen did not write is refused, never replaced, and the two views replace the old
pair together or not at all, with a record of what they were converted from beside them (``<source>_views.json``:
each download's name, size and sha256, ``min_samples`` and rnagen's version, and each view's size, modification
time and inode as written). A fetch takes the views' locks before it converts: a second fetch writing the same
views waits for the first (up to :data:`MAX_LOCK_WAIT` seconds), then keeps the first's views where the record
says they are of the same downloads and options and unchanged since, and else converts and replaces the pair with
its own. An error that comes from a cached file's content names the file to delete.
"""
from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import json
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._io import (
    _PID_DIGITS,
    _holds_record,
    describe_os_error,
    replace_together,
    settle_replacements,
    sync_file,
    sync_folder,
    write_h5ad,
)
from .._io import kept_aside as _kept_aside
from .._io import process_runs as _process_runs
from ..errors import ConfigError, DataError, OutputError, RnagenError
from . import genes as _genes
from .io import _SOFT_KINDS, _unquote

__all__ = [
    "XENA_BASE_URL",
    "GTEX_EXPRESSION_BASE_URL",
    "GTEX_ANNOTATION_BASE_URL",
    "FileFormat",
    "RemoteFile",
    "remote_files",
    "default_cache_dir",
    "download",
    "file_checksum",
    "fetch_files",
    "convert_tcga",
    "convert_gtex",
    "fetch",
    "GEO_BASE_URL",
    "GEO_WEB_URL",
    "geo_url",
    "GEO_COUNTS",
    "geo_counts_url",
    "geo_suppl_url",
    "fetch_geo",
    "RECOUNT3_BASE_URL",
    "recount3_urls",
    "fetch_recount3",
]

XENA_BASE_URL = "https://toil-xena-hub.s3.us-east-1.amazonaws.com/download"
#: NCBI GEO's FTP tree over HTTPS: series/GSEnnn/GSExxx/matrix/, platforms/GPLnnn/GPLxxx/annot/
GEO_BASE_URL = "https://ftp.ncbi.nlm.nih.gov/geo"
GEO_WEB_URL = "https://www.ncbi.nlm.nih.gov/geo"
GTEX_EXPRESSION_BASE_URL = "https://storage.googleapis.com/adult-gtex/bulk-gex/v8/rna-seq"
GTEX_ANNOTATION_BASE_URL = "https://storage.googleapis.com/adult-gtex/annotations/v8/metadata-files"

Source = Literal["tcga", "gtex"]


@dataclass(frozen=True)
class FileFormat:
    """What the first line of a data file (of its content, for a gzip file) must be for the file to be what its
    name says: a line starting as ``first`` (a regular expression) whose tab-separated fields include
    ``columns``. A download is checked against it before it enters the cache, and a cached file before it is
    used: a server's plain-text answer sent with status 200 ("Service Unavailable", a rate-limit notice) has
    neither a web page's markup nor an error document's shape, and only the format tells it from the data."""

    what: str
    first: str = ""
    columns: tuple[str, ...] = ()
    #: lines opening with this before the header line are skipped (recount3's ``##annotation=`` lines)
    comment: str = ""

    def problem(self, head: bytes) -> str | None:
        """What is wrong with a file whose content begins with ``head``, else ``None``."""
        lines = head.decode("latin-1").split("\n")
        at = 0
        while self.comment and at < len(lines) - 1 and lines[at].startswith(self.comment):
            at += 1
        line = lines[at].rstrip("\r")
        fields = {_unquote(f) for f in line.split("\t")}
        if (self.first and re.match(self.first, line) is None) or not set(self.columns) <= fields:
            return f"not {self.what}"
        return None


#: the sample annotation columns each conversion reads: the download is checked for them before it is cached
_TCGA_PHENOTYPE_COLUMNS = ("sample", "_primary_site", "_sample_type", "_study", "detailed_category")
_GTEX_ATTRIBUTE_COLUMNS = ("SAMPID", "SMTS")
_GCT_VERSIONS = ("#1.2", "#1.3")


@dataclass(frozen=True)
class RemoteFile:
    """A file of a public data set: its name, its default base URL, its role (``expression``/``samples``) and
    its format (checked before it is cached or used)."""

    name: str
    base_url: str
    role: str
    format: FileFormat | None = None

    def url(self, base_url: str | None = None) -> str:
        """The download URL: the file name under ``base_url`` (a mirror), else under the default base URL."""
        return f"{(base_url or self.base_url).rstrip('/')}/{self.name}"


_FILES: dict[str, tuple[RemoteFile, RemoteFile]] = {
    "tcga": (RemoteFile("TcgaTargetGtex_rsem_gene_tpm.gz", XENA_BASE_URL, "expression",
                        FileFormat("a Xena expression matrix (a tab-separated header line: sample, then sample ids)",
                                   first=r"[^\t]+\t[^\t]")),
             RemoteFile("TcgaTargetGTEX_phenotype.txt.gz", XENA_BASE_URL, "samples",
                        FileFormat("the Xena phenotype table (a tab-separated header with "
                                   f"{', '.join(_TCGA_PHENOTYPE_COLUMNS)})", columns=_TCGA_PHENOTYPE_COLUMNS))),
    "gtex": (RemoteFile("GTEx_Analysis_2017-06-05_v8_RNASeQCv1.1.9_gene_tpm.gct.gz", GTEX_EXPRESSION_BASE_URL,
                        "expression",
                        FileFormat(f"a GCT matrix (first line {' or '.join(_GCT_VERSIONS)})",
                                   first="|".join(re.escape(v) + r"\s*$" for v in _GCT_VERSIONS))),
             RemoteFile("GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt", GTEX_ANNOTATION_BASE_URL, "samples",
                        FileFormat("the GTEx sample attribute table (a tab-separated header with "
                                   f"{' and '.join(_GTEX_ATTRIBUTE_COLUMNS)})", columns=_GTEX_ATTRIBUTE_COLUMNS))),
}

# Per-source default for dropping small classes: the paper drops GTEx tissues with < 100 samples; for TCGA
# only classes that cannot be stratified (< 2 samples) are dropped.
DEFAULT_MIN_SAMPLES = {"tcga": 2, "gtex": 100}


def remote_files(source: Source) -> tuple[RemoteFile, RemoteFile]:
    """The (expression, samples) files of ``source`` (``"tcga"`` or ``"gtex"``)."""
    if source not in _FILES:
        raise DataError(f"unknown data source {source!r}; choose 'tcga' or 'gtex'")
    return _FILES[source]


def default_cache_dir() -> Path:
    """``$RNAGEN_CACHE`` if set, else ``$XDG_CACHE_HOME/rnagen``, else ``~/.cache/rnagen``. As the XDG base
    directory specification says, an ``XDG_CACHE_HOME`` that is not an absolute path is ignored; so is a ``HOME``
    that is empty or relative (an empty one would put the cache at the file system's root), for the user's home
    directory in the password database."""
    home = os.environ.get("HOME", "")
    if not os.path.isabs(home):
        import pwd

        try:
            home = pwd.getpwuid(os.getuid()).pw_dir
        except KeyError:   # a user id without an entry (some containers): the current folder
            home = os.path.abspath(home or ".")

    def expanded(p: str) -> str:   # ~ as this home, whatever HOME says
        return home + p[1:] if p == "~" or p.startswith("~/") else os.path.expanduser(p)

    if os.environ.get("RNAGEN_CACHE"):
        return Path(expanded(os.environ["RNAGEN_CACHE"]))
    xdg = expanded(os.environ.get("XDG_CACHE_HOME", ""))
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "rnagen"
    return Path(home) / ".cache" / "rnagen"


# ----------------------------------------------------------------------------------------------- download

def file_checksum(path: str | os.PathLike, algo: str = "sha256", *, chunk_size: int = 1 << 20) -> str:
    """Hex digest of a file (``algo`` = ``"sha256"`` or ``"md5"``)."""
    if algo not in ("sha256", "md5"):
        raise DataError(f"unknown checksum algorithm {algo!r}; use sha256 or md5")
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


_HEX_DIGITS = {"sha256": 64, "md5": 32}


def _parse_checksum(checksum: str) -> tuple[str, str]:
    """``(algorithm, hex digest)`` of ``sha256:HEX``, ``md5:HEX`` or a bare digest; a digest of the wrong length
    or with other characters than hex digits is refused (it could only mismatch, and the advice to delete the
    download would throw a good file away)."""
    algo, sep, hexd = str(checksum).strip().partition(":")
    if not sep:
        # bare hex: infer from length
        hexd, algo = algo, {64: "sha256", 32: "md5"}.get(len(algo), "?")
    algo = algo.lower()
    if algo not in _HEX_DIGITS:
        raise DataError(f"bad checksum {checksum!r}; write it as sha256:HEX or md5:HEX")
    hexd = hexd.strip().lower()
    if len(hexd) != _HEX_DIGITS[algo] or not re.fullmatch(r"[0-9a-f]+", hexd):
        raise DataError(f"bad checksum {checksum!r}: a {algo} digest is {_HEX_DIGITS[algo]} hex digits (0-9, a-f), "
                        f"not {hexd[:70]!r}; copy it again from the data's checksum file")
    return algo, hexd


def _verify(path: Path, *, checksum: str | None, expected_size: int | None, what: str,
            again: str | None = None) -> None:
    """Refuse a file of another size or checksum than expected; ``again`` is the way on (default: delete the
    file and fetch again)."""
    again = again or f"delete {path} and fetch again"
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise DataError(f"{what}: size {size} bytes, expected {expected_size}; {again}")
    if checksum:
        algo, want = _parse_checksum(checksum)
        got = file_checksum(path, algo)
        if got != want:
            raise DataError(f"{what}: {algo} checksum mismatch (got {got}, expected {want}); the download is corrupt "
                            f"or the checksum is wrong: {again}, or fix --checksum")


def _page(head: bytes, name: str) -> str | None:
    """What a file ``name`` beginning with ``head`` is when it is a server's page rather than data: a web page (an
    error, login or bot-check page sent with status 200), an XML or JSON error document; else ``None``. A page or
    document by its name (``.html``, ``.xml``, ``.json``) is what it says."""
    name = name.lower()
    low = head.lower()
    if low.startswith(b"\xef\xbb\xbf"):   # a UTF-8 byte-order mark before the markup
        low = low[3:]
    low = low.lstrip()
    while low.startswith(b"<!--") and b"-->" in low:   # comments before the markup (a proxy's, a CMS's)
        low = low[low.index(b"-->") + 3:].lstrip()
    if name.endswith((".html", ".htm", ".xml")):
        return None
    if low.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")) and \
            (b"<html" in low or b"<!doctype html" in low or b"<head" in low or b"<body" in low):
        return "a web page (HTML), not the file: an error, login or bot-check page"
    if low.startswith((b"<?xml", b"<error")) and b"<error" in low:
        # S3's and Google Cloud Storage's errors (AccessDenied, NoSuchKey) come as XML with status 200 at times
        return "an error document (XML) from the server, not the file"
    if not name.endswith(".json") and re.match(rb'^\{\s*"(error|errors|code|message)"\s*:', low):
        # a storage or API error as JSON ({"error": ...}): no data file of these sources is a JSON object
        return "an error document (JSON) from the server, not the file"
    return None


def _gzip_head(path: Path, size: int = 4096) -> bytes:
    """The first ``size`` bytes of a gzip file's content (less where the stream is shorter or damaged there)."""
    return _gzip_head_whole(path, size)[0]


def _gzip_head_whole(path: Path, size: int = 4096) -> tuple[bytes, bool]:
    """:func:`_gzip_head`, and whether those bytes are whole: ``False`` where the stream is damaged or cut short
    before ``size`` bytes (what came out may stop anywhere, a line among them)."""
    d = zlib.decompressobj(wbits=31)
    out = b""
    try:
        with open(path, "rb") as fh:
            while len(out) < size and (block := fh.read(1 << 16)):
                out += d.decompress(block, size - len(out))
                while d.unconsumed_tail and len(out) < size:
                    out += d.decompress(d.unconsumed_tail, size - len(out))
                if d.eof:
                    break
    except zlib.error:
        return out, False
    return out, len(out) >= size or d.eof


def _not_the_file(path: Path, name: str, *, whole: bool, expect: FileFormat | None = None,
                  content_type: str | None = None) -> str | None:
    """What is wrong with ``path`` as the file ``name`` names, else ``None``: empty, a web page (an error, login or
    bot-check page sent with status 200) or an error document, not gzip data under a ``.gz`` name, a gzip stream
    whose content is such a page, with ``whole`` a gzip stream cut short or damaged (read to its end: a server's
    own truncated file has the size it announces), content not of the ``expect`` format, or, for a file of no
    known format, a server's ``content_type`` saying it sent a web page or a JSON document."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head:
        return "empty"
    page = _page(head, name)
    if page is not None:
        return page
    gz = name.lower().endswith(".gz")
    if gz:
        if head[:2] != b"\x1f\x8b":
            return "not gzip data though its name ends in .gz"
        page = _page(_gzip_head(path), name[:-3])
        if page is not None:   # a page compressed by the server or a proxy on its way
            return "gzip data holding " + page
        if whole:
            try:
                with gzip.open(path, "rb") as fh:
                    while fh.read(1 << 22):
                        pass
            except (OSError, EOFError, zlib.error) as e:
                return f"a gzip stream cut short or damaged ({type(e).__name__})"
    if expect is not None:
        content, whole_head = _gzip_head_whole(path) if gz else (head, True)
        if not whole_head and b"\n" not in content:
            return None   # a stream damaged in its first line: a reader names it as such, the format cannot tell
        return expect.problem(content)
    mime = (content_type or "").split(";")[0].strip().lower()
    stem = name.lower()[:-3] if gz else name.lower()
    if not gz and mime == "text/html" and not stem.endswith((".html", ".htm")):
        return "a web page by its Content-Type (text/html), not the file"
    if not gz and (mime == "application/json" or mime.endswith("+json")) and not stem.endswith(".json"):
        return f"an error document by its Content-Type ({mime}), not the file"
    return None


def _began(path: Path, size: int = 80) -> str:
    """How a file begins, as one short printable quote (of its content, for gzip data): control characters
    and line ends (a terminal's escape sequences among them) become spaces; mostly binary data is shown as the
    hex of its first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(4 * size)
    if head[:2] == b"\x1f\x8b":
        head = _gzip_head(path, 4 * size) or head
    text = head.decode("utf-8", errors="replace")
    if sum(c.isprintable() and c != "\ufffd" or c in "\t\r\n" for c in text) < 0.9 * len(text):
        return f"binary data ({head[:8].hex(' ')} ...)"
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return repr(text[:size] + ("..." if len(text) > size else ""))


class HTTPStatusError(DataError):
    """An HTTP error status (``status``) for a download: a missing file (404) is told apart from the rest."""

    def __init__(self, status: int, url: str):
        super().__init__(f"HTTP {status} for {url}; check the URL or --base-url")
        self.status = status


#: what the file system answers a write it refuses (as against a network error, also an OSError)
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


class _Interrupted(Exception):
    """A transfer that stopped early; the ``.part`` file keeps what arrived. ``wait``: the seconds the server
    asked to wait before the next request (``Retry-After``), if it said."""

    def __init__(self, reason: str, *, wait: float | None = None):
        super().__init__(reason)
        self.wait = wait


#: the longest ``Retry-After`` waited out within one call; a server asking for longer is left alone, and the
#: message says when to run the command again
MAX_RETRY_AFTER = 120.0


def _retry_after(headers) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait (RFC 9110 10.2.3: a number of seconds or an HTTP date),
    else ``None``."""
    value = (headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return float(value)
    if value:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is not None:
            return max(0.0, when.timestamp() - time.time())
    return None


#: HTTP statuses of a server that may answer later: too many requests, a gateway or the service unavailable
_TRANSIENT = (429, 500, 502, 503, 504)


def _resume_record(part: Path) -> Path:
    """Where a ``.part`` file's source is recorded: its URL and the server's validator (ETag or Last-Modified) of
    the version its bytes are of, so that a resume continues that version and no other."""
    return part.with_name(part.name + ".json")


def _validator(headers) -> str | None:
    """The response's strong ETag, else its Last-Modified date: what ``If-Range`` takes (a weak ETag is not)."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified") or None


def _reason(e: BaseException) -> str:
    """One line saying why a transfer failed: the innermost error of those requests and urllib3 wrap in one
    another (whose text is a tuple's, or a connection pool's description around the cause)."""
    while True:
        inner = e.args[0] if e.args and isinstance(e.args[0], BaseException) else getattr(e, "reason", None)
        if not isinstance(inner, BaseException):
            break
        e = inner
    text = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
    m = re.search(r"IncompleteRead\((\d+) bytes read, (\d+) more expected\)", text)
    if m:
        return f"connection broken: {m[1]} bytes read, {m[2]} more expected"
    m = re.search(r"Failed to establish a new connection: (?:\[Errno -?\d+\] )?([^'\"()]+)", text)
    if m:
        return f"cannot connect: {m[1].strip()}"
    text = re.sub(r"^\w*Connection(?:Pool)?\([^)]*\): |^\[Errno -?\d+\] ", "", text.strip())
    return (text.splitlines()[0][:200] if text else "") or type(e).__name__


def _silence(e: BaseException, timeout: float) -> str | None:
    """The reason for a transfer given up for the server's silence (the socket's ``timeout``, among the errors
    requests and urllib3 wrap in one another), else ``None``."""
    seen: BaseException | None = e
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, TimeoutError) or "Timeout" in type(seen).__name__:
            if "Connect" in type(seen).__name__:
                return f"no connection within {timeout:g} s (timeout)"
            return f"the server sent nothing for {timeout:g} s (timeout)"
        inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else getattr(seen, "reason", None)
        seen = inner if isinstance(inner, BaseException) else None
    return None


def _blocks(raw, chunk_size: int, decode: bool):
    """The response body's blocks as they arrive: ``read1`` returns what one receive brought (urllib3 2), where
    ``stream`` waits for a whole block, so a transfer trickling bytes would be timed only block by block."""
    if not hasattr(raw, "read1"):
        yield from raw.stream(chunk_size, decode_content=decode)
        return
    while block := raw.read1(chunk_size, decode_content=decode):
        yield block


def _transfer(session, url: str, part: Path, *, chunk_size: int, timeout: float, progress: bool,
              low_speed: float = 1024.0, low_speed_time: float = 60.0) -> tuple[int | None, str | None]:
    """One HTTP request that appends to ``part`` (resuming with ``Range`` where the bytes are of the version the
    server has now, ``If-Range``); returns the total size if known and the response's ``Content-Type``. A response
    of unknown size must end as a whole file does (:func:`_not_the_file`; a text file on a line end), else it counts
    as interrupted, and so does one slower than ``low_speed`` bytes per second over ``low_speed_time`` seconds (a
    stalled server that sends a byte now and then never reaches the socket's ``timeout``)."""
    import requests
    import urllib3

    from ..utils import progress_bar

    record = _resume_record(part)
    have = part.stat().st_size if part.exists() else 0
    source = None
    if have:
        try:
            source = json.loads(record.read_text())
        except (OSError, ValueError):
            source = None
        if not isinstance(source, dict) or source.get("url") != url or not source.get("validator"):
            # bytes of an unknown version (another URL, a server without validators, an older rnagen): spliced
            # onto today's file they would make a corrupt one, so the transfer starts again
            part.unlink()
            have = 0
    # the bytes as stored: a server compressing them on the way (Content-Encoding) must not change a .gz file
    headers = {"Accept-Encoding": "identity"}
    if have:
        assert isinstance(source, dict)
        headers.update({"Range": f"bytes={have}-", "If-Range": source["validator"]})
    try:
        r = session.get(url, headers=headers, stream=True, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as e:
        if re.search(r"NameResolution|Failed to resolve|Name or service not known|Temporary failure in name "
                     r"resolution|nodename nor servname|getaddrinfo failed", str(e)):
            # no retry helps a host name that does not resolve
            from urllib.parse import urlparse

            raise DataError(f"cannot reach {urlparse(url).hostname}: its name does not resolve (no network, or a "
                            "wrong host in --base-url); check the connection, or give a mirror with "
                            "--base-url") from None
        raise _Interrupted(_silence(e, timeout) or _reason(e)) from e
    except requests.TooManyRedirects:
        raise DataError(f"{url}: the server redirects in a loop; check the URL or --base-url") from None
    except requests.RequestException as e:   # an invalid URL, a scheme requests cannot fetch
        raise DataError(f"{url}: cannot be fetched ({type(e).__name__}: {str(e)[:100]}); check the URL or "
                        "--base-url") from None
    with r:
        if r.status_code == 416 and have:
            # nothing left to send: the part file is already complete (or the server changed the file)
            cr = r.headers.get("Content-Range", "")
            total = int(cr.rsplit("/", 1)[1]) if "/" in cr and cr.rsplit("/", 1)[1].isdigit() else None
            if total == have:
                return total, None
            part.unlink()
            raise _Interrupted("server refused the resume range; restarting from the beginning")
        if r.status_code in _TRANSIENT:
            # a server busy or rate-limiting (S3, GCS and NCBI send these): tried again like an interruption, not
            # before the time it asks for
            wait = _retry_after(r.headers)
            raise _Interrupted(f"HTTP {r.status_code} from the server" +
                               (f", which asks to wait {wait:.0f} s" if wait is not None else ""), wait=wait)
        if r.status_code >= 400:
            raise HTTPStatusError(r.status_code, url)
        encoded = r.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
        name = part.name[:-len(".part")]
        # compressed on the way: a .gz file is kept as sent (the stored gzip data), anything else decoded
        decode = encoded and not name.lower().endswith(".gz")
        if r.status_code == 206:
            cr = r.headers.get("Content-Range", "")
            try:
                start = int(cr.split()[1].split("-")[0])
                total_s = cr.rsplit("/", 1)[1]
                total = int(total_s) if total_s.isdigit() else None
            except (IndexError, ValueError):
                raise DataError(f"bad Content-Range {cr!r} from {url}; try again without the .part file") from None
            if start != have:
                part.unlink()
                raise _Interrupted(f"server resumed at byte {start}, expected {have}; restarting")
            mode = "ab"
        else:
            # 200: the whole file (no Range asked, the Range ignored, or If-Range: the file changed since)
            have = 0
            cl = r.headers.get("Content-Length")
            total = int(cl) if cl and cl.isdigit() and not decode else None
            mode = "wb"
            validator = _validator(r.headers) if not decode else None
            if validator:
                record.write_text(json.dumps({"url": url, "validator": validator}))
            else:
                record.unlink(missing_ok=True)   # no resume: a later request could not tell the version apart
        try:
            with open(part, mode) as fh, progress_bar(total=total, initial=have, unit="B", unit_scale=True,
                                                      unit_divisor=1024, desc=name, disable=not progress,
                                                      leave=False) as bar:
                since, got_since = time.monotonic(), 0
                for block in _blocks(r.raw, chunk_size, decode):
                    if block:
                        fh.write(block)
                        bar.update(len(block))
                        got_since += len(block)
                    now = time.monotonic()
                    if now - since >= low_speed_time:
                        if got_since < low_speed * (now - since):
                            raise _Interrupted(f"the transfer stalled: {got_since / (now - since):.0f} bytes/s over "
                                               f"{now - since:.1f} s")
                        since, got_since = now, 0
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
            if isinstance(e, OSError) and not isinstance(e, (ConnectionError, TimeoutError)):
                raise   # the local file system (a full disk): not the transfer's
            raise _Interrupted(_silence(e, timeout) or _reason(e)) from e
    got = part.stat().st_size
    if total is not None and got < total:
        raise _Interrupted(f"connection closed after {got} of {total} bytes")
    if total is not None and got > total:
        part.unlink()
        raise DataError(f"{url}: received {got} bytes, more than the announced {total}; fetch again")
    if total is None and got:
        # no size announced: a connection closed early looks like the end of the file, so the file must end as a
        # whole one does (a gzip stream to its end, a text file on a line end)
        cut = _not_the_file(part, name, whole=True)
        if cut is None and not name.lower().endswith(".gz"):
            with open(part, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) not in (b"\n", b"\r") and _looks_like_text(part):
                    cut = "a text file that stops in the middle of a line"
        if cut is not None and cut.startswith(("a gzip stream cut", "a text file that stops")):
            part.unlink()
            record.unlink(missing_ok=True)
            raise _Interrupted(f"the server gave no size and sent {cut}")
    return total, r.headers.get("Content-Type")


#: the longest a command waits for another process that holds the lock of what it is about to write: a download
#: of the same file into the cache (whose finished file it then takes from the cache, checked), or the views of the
#: same output folder, their conversion included (which it then keeps where their record says they are of the same
#: conversion, else writes again); past it the command is refused in one line naming the process
MAX_LOCK_WAIT = 600.0


@contextlib.contextmanager
def _download_lock(dest: Path, *, wait: float) -> Iterator[None]:
    """Hold the lock of the download ``dest`` while the block runs. While another process holds it (downloading the
    same file: a second writer of one ``.part`` file would corrupt it), wait for it up to ``wait`` seconds, saying
    so once on stderr, and past that refuse, naming the process."""
    from .._io import waiting_for_writer, writer_lock

    with waiting_for_writer(lambda: writer_lock(dest, kind="file"), wait=wait, doing="downloaded", label=dest.name,
                            hint="run the same command again once it has finished (its file is then taken from the "
                                 "cache), or give another --cache-dir"):
        yield


def _looks_like_text(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return b"\0" not in head


def download(url: str, dest: str | os.PathLike, *, checksum: str | None = None, expected_size: int | None = None,
             retries: int = 3, retry_wait: float = 1.0, chunk_size: int = 1 << 16, timeout: float = 60.0,
             progress: bool = True, session=None, page_hint: str | None = None, low_speed: float = 1024.0,
             low_speed_time: float = 60.0, expect: FileFormat | None = None, lock_wait: float | None = None) -> Path:
    """Download ``url`` to ``dest`` with resume, size check and optional checksum.

    The bytes go to ``dest + ".part"``; an interrupted transfer is resumed with an HTTP ``Range`` request
    (up to ``retries`` times in this call, and again by a later call) when the server identifies the version the
    bytes are of (ETag or Last-Modified, sent back as ``If-Range``: a file changed since is fetched whole). When
    complete, the size is checked against the server's ``Content-Length``/``Content-Range`` (and
    ``expected_size``), the content against the name (not empty, not a web page, a ``.gz`` file read to the end of
    its gzip stream) and the ``expect`` format, the checksum is verified, and the file is renamed to ``dest``; its
    size, time and sha256 are recorded beside it (``dest + ".download.json"``). Anything refused is removed: what
    came back is quoted in the one-line error. An existing ``dest`` is verified and reused without a request: its
    size against the record (its sha256 where its time changed), its content against the name and ``expect``.
    One process at a time downloads a file (a lock beside it): another waits for it, up to ``lock_wait`` seconds,
    and then takes its file from the cache, checked as above (or downloads it itself, where the first failed). A
    busy server's ``Retry-After`` is waited out up to :data:`MAX_RETRY_AFTER` seconds.

    Parameters
    ----------
    checksum
        ``"sha256:HEX"`` or ``"md5:HEX"`` (a bare hex string is accepted: 64 digits sha256, 32 md5).
    timeout, low_speed, low_speed_time
        A transfer is interrupted (and resumed, as above) when nothing arrives for ``timeout`` seconds, or less
        than ``low_speed`` bytes per second over ``low_speed_time`` seconds (curl's ``--speed-limit`` and
        ``--speed-time``): a server that sends a byte now and then would otherwise hold the download forever.
    page_hint
        The way on when the server sends a web page instead of the file (default: try again later, check the
        URL, or save the file as ``dest`` by hand).
    expect
        The file's format (its first line): a server's plain-text answer sent with status 200 is told from the
        data only by it.
    lock_wait
        Seconds to wait for another process downloading ``dest`` (default :data:`MAX_LOCK_WAIT`); past them the
        download is refused (:class:`rnagen.errors.OutputError`).

    Raises
    ------
    DataError
        HTTP errors, a size or checksum mismatch, a web page or damaged file, or an interruption that outlasted
        ``retries`` (the message says to run the command again to resume).
    """
    from urllib.parse import urlparse

    import requests

    try:
        parsed = urlparse(url)
        parsed.port   # a malformed host or port ('http://[::1', 'http://h:x') raises here
    except ValueError as e:
        raise DataError(f"{url!r} is not an http(s) URL ({e}); give --base-url as https://HOST/PATH") from None
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise DataError(f"{url!r} is not an http(s) URL; give --base-url as https://HOST/PATH")
    if checksum:
        _parse_checksum(checksum)   # a malformed one refused before anything is fetched
    lock_wait = MAX_LOCK_WAIT if lock_wait is None else lock_wait
    if not (low_speed >= 0 and low_speed_time > 0 and timeout > 0 and lock_wait >= 0):
        raise ConfigError(f"download needs timeout > 0, low_speed >= 0, low_speed_time > 0 and lock_wait >= 0 (got "
                          f"{timeout}, {low_speed}, {low_speed_time}, {lock_wait}); low_speed=0 turns the low-speed "
                          "limit off")
    dest = Path(dest)

    def cached() -> Path:
        return _check_cached(dest, checksum=checksum, expected_size=expected_size, expect=expect)

    if dest.exists():   # a finished download is only read: no lock to take (a cache on a read-only disk)
        return cached()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _download_lock(dest, wait=lock_wait):   # a second process appending to the same .part corrupts it
        if dest.exists():   # finished by another process while this one waited: its file, checked
            return cached()
        # the record of a file deleted since describes nothing: left, it would refuse the file saved there by
        # hand after this download fails, or be read beside the new file before its own record replaces it
        _cache_record(dest).unlink(missing_ok=True)
        part = dest.with_name(dest.name + ".part")
        own = session is None
        session = session or requests.Session()
        try:
            attempt = 0
            while True:
                try:
                    total, content_type = _transfer(session, url, part, chunk_size=chunk_size, timeout=timeout,
                                                    progress=progress, low_speed=low_speed,
                                                    low_speed_time=low_speed_time)
                    break
                except OSError as e:
                    if isinstance(e, RnagenError) or e.errno not in _WRITE_ERRNOS:
                        raise
                    # the file system refused the bytes (a full disk): what came is kept in the .part to resume from
                    raise OutputError(describe_os_error(e, part) + "; then run the same command again to resume "
                                      "the download") from None
                except _Interrupted as e:
                    attempt += 1
                    got = part.stat().st_size if part.exists() else 0
                    if e.wait is not None and e.wait > MAX_RETRY_AFTER and retries:
                        raise DataError(f"download of {url} put off by the server ({e}, longer than rnagen waits, "
                                        f"{MAX_RETRY_AFTER:.0f} s); run the same command again after that, or give "
                                        "a mirror with --base-url") from None
                    if attempt > retries:
                        resume = _resume_record(part).exists() and got
                        if not got:   # nothing came: no file to resume from
                            part.unlink(missing_ok=True)
                            _resume_record(part).unlink(missing_ok=True)
                        raise DataError(f"download of {url} interrupted after {got} bytes ({e}); run the same "
                                        "command again" + (f" to resume from {part.name}" if resume else "")) from None
                    time.sleep(max(retry_wait * min(2 ** (attempt - 1), 30), e.wait or 0.0))
        finally:
            if own:
                session.close()
        try:
            # a transfer of unknown size was read to its end already (_transfer)
            bad = _not_the_file(part, dest.name, whole=total is not None, expect=expect, content_type=content_type)
            if bad is not None:
                hint = (page_hint if page_hint and "a web page" in bad else
                        f"the server may be busy or refusing: run the same command again later, check the URL or "
                        f"--base-url (a mirror), or save the file yourself as {dest} (it is checked before use)")
                began = f"; it began {_began(part)}" if part.stat().st_size else ""
                ctype = f", Content-Type {content_type}" if content_type and "Content-Type" not in bad else ""
                raise DataError(f"{url} sent {bad} (removed, not cached{began}{ctype}); {hint}")
            _verify(part, checksum=checksum, expected_size=expected_size if expected_size is not None else total,
                    what=dest.name, again="the download was removed: fetch again")
            sha256 = file_checksum(part)
        except DataError:
            part.unlink()
            _resume_record(part).unlink(missing_ok=True)
            raise
        sync_file(part)   # the download whole on disk before its final name (rnagen._io.sync_file)
        os.replace(part, dest)
        sync_folder(dest.parent)
        _resume_record(part).unlink(missing_ok=True)
        _write_cache_record(dest, url=url, sha256=sha256)
        return dest


def _cache_record(dest: Path) -> Path:
    """Where a finished download's size, modification time and sha256 are recorded: a cached file cut short or
    changed by hand since (a text table that lost its last lines still reads as a table) is told on use."""
    return dest.with_name(dest.name + ".download.json")


def _write_cache_record(dest: Path, *, url: str, sha256: str) -> None:
    """Record ``dest`` as downloaded now; the record is a check, not the data: a file system refusing it leaves
    the download usable (checked on use by its content alone)."""
    st = dest.stat()
    rec = _cache_record(dest)
    tmp = rec.with_name(f".{rec.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"url": url, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}))
        os.replace(tmp, rec)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _check_cached(dest: Path, *, checksum: str | None, expected_size: int | None,
                  expect: FileFormat | None = None) -> Path:
    """Refuse a cached download that is not what it was: another size or checksum than expected, another size
    than recorded when it was downloaded (or, its time changed, another sha256), or content that is not the file
    its name and ``expect`` say; each error names the file to delete."""
    _verify(dest, checksum=checksum, expected_size=expected_size, what=f"cached {dest.name}")
    rec_path = _cache_record(dest)
    try:
        rec = json.loads(rec_path.read_text())
        size, mtime_ns, sha256 = int(rec["size"]), int(rec["mtime_ns"]), str(rec["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        rec = None   # put there by hand, or by an older rnagen: its content is all there is to check
    if rec is not None:
        st = dest.stat()
        again = f"delete it and fetch again (or, if you put it there yourself, delete {rec_path})"
        if st.st_size != size:
            raise DataError(f"cached {dest} is {st.st_size} bytes, {size} when it was downloaded: cut short or "
                            f"changed since; {again}")
        if st.st_mtime_ns != mtime_ns:
            if file_checksum(dest) != sha256:
                raise DataError(f"cached {dest} changed since it was downloaded (its sha256 differs); {again}")
            _write_cache_record(dest, url=str(rec.get("url", "")), sha256=sha256)   # touched, not changed
    bad = _not_the_file(dest, dest.name, whole=False, expect=expect)
    if bad is not None:
        began = f" (it begins {_began(dest)})" if dest.stat().st_size else ""
        raise DataError(f"cached {dest} is {bad}{began}; delete it and fetch again")
    return dest


def _refuse_empty(**options: str | os.PathLike | None) -> None:
    """Refuse an option given an empty value (``--base-url ""``), which would otherwise read as not given."""
    for name, value in options.items():
        if value is not None and not str(value).strip():
            flag = "--" + name.replace("_", "-")
            raise DataError(f"{flag} is empty; give a value, or leave the option out for its default")


def _named_checksums(checksums: Mapping[str, str] | None) -> dict[str, str]:
    """``checksums`` as a dict, one without a file name (``--checksum =sha256:HEX``) or a value refused."""
    out = dict(checksums or {})
    for name, value in out.items():
        if not str(name).strip() or not str(value).strip():
            raise DataError(f"--checksum {name}={value}: no {'file name' if not str(name).strip() else 'checksum'} "
                            "there; write NAME=sha256:HEX (NAME: a file name or its role)")
    return out


def fetch_files(source: Source, *, cache_dir: str | os.PathLike | None = None, base_url: str | None = None,
                checksums: Mapping[str, str] | None = None, retries: int = 3, retry_wait: float = 1.0,
                progress: bool = True) -> dict[str, Path]:
    """Download (or reuse from the cache) the expression and sample files of ``source``.

    Files land in ``<cache_dir>/<source>/``. ``base_url`` replaces every file's default base URL (a mirror
    holding the same file names). ``checksums`` maps a file name (or its role, ``"expression"`` /
    ``"samples"``) to ``"sha256:HEX"``/``"md5:HEX"``.

    Returns
    -------
    dict
        ``{"expression": path, "samples": path}``.
    """
    _refuse_empty(cache_dir=cache_dir, base_url=base_url)
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    checksums = _named_checksums(checksums)
    known = {f.name for f in remote_files(source)} | {"expression", "samples"}
    unknown = sorted(set(checksums) - known)
    if unknown:
        raise DataError(f"checksum given for unknown file(s) {', '.join(unknown)}; "
                        f"use one of {', '.join(sorted(known))}")
    out = {}
    for f in remote_files(source):
        cs = checksums.get(f.name) or checksums.get(f.role)
        out[f.role] = download(f.url(base_url), cache / source / f.name, checksum=cs, retries=retries,
                               retry_wait=retry_wait, progress=progress, expect=f.format)
    return out


# --------------------------------------------------------------------------------------------- conversion

def _read_matrix(handle_factory: Callable[[], io.TextIOBase], *, skip: int, id_col: str | None, keep_samples: list[str],
                 chunksize: int, source: str, progress: bool) -> tuple[np.ndarray, list[str], list[str], list[int]]:
    """Chunked read of a genes x samples text matrix, keeping the known genes and the ``keep_samples`` columns.

    Only the kept columns are parsed (``usecols``) and each chunk of rows is scattered straight into a
    preallocated samples x genes float32 array with one column per row of :func:`genes.gene_table`, so the
    peak memory is about twice the output (the array, then its compacted copy), never the whole file.

    Returns
    -------
    X, ids, samples, rows
        ``X`` samples x kept genes (in gene-table order), their IDs as written in the file (e.g. versioned),
        the sample IDs, and the gene-table row of each kept gene.
    """
    from ..utils import progress_bar

    with handle_factory() as fh:
        for _ in range(skip):
            fh.readline()
        header = fh.readline().rstrip("\r\n").split("\t")
    if not header or (id_col is not None and header[0] != id_col):
        raise DataError(f"{source}: expected first header field {id_col!r}, got {header[0][:40]!r} (is this the "
                        f"right file?); {_AGAIN.format(source)}")
    colpos = {c: i for i, c in enumerate(header)}
    if len(colpos) != len(header):
        raise DataError(f"{source}: duplicated sample ids in the header; delete it and fetch again")
    samples = [s for s in keep_samples if s in colpos]
    if not samples:
        raise DataError(f"{source}: none of the annotated samples are columns of the matrix; the files do not match "
                        "(one is a wrong or damaged download): delete them and fetch again")
    usecols = [0] + sorted(colpos[s] for s in samples)
    samples = [header[i] for i in usecols[1:]]
    # usecols pays off only when many columns are dropped (TCGA out of the Xena TCGA+TARGET+GTEx matrix);
    # per-column float32 dtypes slow the C parser down, so values are parsed as float64 and cast per chunk
    read_cols = None if len(usecols) > 0.8 * len(header) else usecols
    dtype = {header[0]: str}
    t = _genes.gene_table()
    ens = {e: i for i, e in enumerate(t["ensembl_id"].tolist())}
    X = np.zeros((len(samples), len(t)), dtype=np.float32)
    seen = np.zeros(len(t), dtype=bool)
    ids: dict[int, str] = {}
    with handle_factory() as fh:
        for _ in range(skip + 1):
            fh.readline()
        reader = pd.read_csv(fh, sep="\t", header=None, names=header, usecols=read_cols, dtype=dtype,
                             chunksize=chunksize, index_col=0)
        try:
            for chunk in progress_bar(reader, desc=f"reading {Path(source).name}", unit="chunk", disable=not progress,
                                      leave=False):
                pos, rows = [], []
                for i, gid in enumerate(chunk.index):
                    r = ens.get(_genes.strip_version(str(gid)))
                    # first occurrence wins; _PAR_Y copies keep their suffix and are not in the table
                    if r is not None and not seen[r]:
                        seen[r] = True
                        ids[r] = str(gid)
                        pos.append(i)
                        rows.append(r)
                if rows:
                    X[:, rows] = chunk.iloc[pos][samples].to_numpy(dtype=np.float32).T
        except (pd.errors.ParserError, ValueError) as e:
            raise DataError(f"{source}: malformed matrix ({str(e).strip().splitlines()[-1]}); delete it and fetch "
                            "again") from e
    kept = np.flatnonzero(seen)
    if kept.size == 0:
        raise DataError(f"{source}: no protein-coding or landmark genes found among the matrix rows (is this the "
                        f"right file?); {_AGAIN.format(source)}")
    return X[:, kept] if kept.size < len(t) else X, [ids[int(r)] for r in kept], samples, kept.tolist()


#: the way on for a cached download that is not what its name says (a plain-text error page saved as the file, a
#: mirror's other file): said by every conversion error that comes from the file's content
_AGAIN = "if it is a download gone wrong (an error page saved as the file), delete {} and fetch again"


def _open_factory(path: Path) -> Callable[[], io.TextIOBase]:
    def f():
        if path.name.lower().endswith(".gz"):
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
        return open(path, encoding="utf-8", newline="")
    return f


@contextlib.contextmanager
def _damaged(path: Path):
    """A cached file cut short or damaged (a truncated or bit-flipped gzip stream, bytes that are no text), met
    while reading it, as a one-line error naming the file to delete."""
    try:
        yield
    except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as e:
        raise DataError(f"{path.name} is cut short or damaged ({type(e).__name__}: {str(e)[:80]}); delete {path} "
                        "and fetch again") from None


def _header(path: Path, skip: int) -> list[str]:
    with _open_factory(path)() as fh:
        for _ in range(skip):
            fh.readline()
        return fh.readline().rstrip("\r\n").split("\t")


def _keep_classes(in_matrix: list[str], labels: pd.Series, min_samples: int, source: Path,
                  annotation: Path) -> tuple[list[str], dict]:
    """Samples of classes with at least ``min_samples`` samples in the matrix ``source``, decided from the header
    before any data is parsed (so dropped samples are never read), and the ``filter_classes`` record; a matrix
    sharing no sample with the ``annotation`` file is refused as such (no class size helps)."""
    if not in_matrix:
        raise DataError(f"{source}: none of the samples of {annotation} is a column of the matrix; the files do not "
                        f"match (one is a wrong or damaged download): delete {source} and {annotation} and fetch "
                        "again")
    counts = labels.loc[in_matrix].value_counts()
    keep_cls = set(counts[counts >= min_samples].index)
    keep = [s for s in in_matrix if labels.at[s] in keep_cls]
    if not keep:
        raise DataError(f"{source}: no class has at least {min_samples} samples; lower --min-samples")
    rec = {"label_key": "tissue", "min_samples": int(min_samples),
           "dropped_classes": sorted(set(counts.index) - keep_cls) or "none",
           "n_dropped_samples": int(len(in_matrix) - len(keep))}
    return keep, rec


def _views(X: np.ndarray, ids: list[str], rows: list[int], obs: pd.DataFrame, *, label_key: str,
           filter_record: dict, log_logged: bool, log_transform: str, source: str, pseudocount: float | None,
           path: Path):
    """Build the full and landmark AnnData views from a samples x genes block (genes = gene-table rows) read
    from the matrix ``path``."""
    import anndata as ad

    from ..pp.history import record, set_log_state
    from ..pp.preprocess import select_genes

    t = _genes.gene_table()
    var = pd.DataFrame({
        "symbol": t["symbol"].to_numpy()[rows].astype(str),
        "entrez_id": t["entrez_id"].fillna("").to_numpy()[rows].astype(str),
        "ensembl_id_versioned": np.asarray(ids, dtype=object).astype(str),
        "is_landmark": t["is_landmark"].to_numpy()[rows].astype(bool),
    }, index=pd.Index(t["ensembl_id"].to_numpy()[rows].astype(str)))
    if not np.isfinite(X).all():
        raise DataError(f"{path}: the matrix has NaN or inf values; delete it and fetch again")
    full = ad.AnnData(X=X, obs=obs, var=var)
    set_log_state(full, logged=log_logged, transform=log_transform, pseudocount=pseudocount,
                  base=2.0 if log_logged else None)   # the published log scales fetched are log2
    record(full, f"fetch.{source}", n_obs=full.n_obs, n_vars=full.n_vars, label_key=label_key)
    full.uns["rnagen"]["label_key"] = label_key
    record(full, "filter_classes", **filter_record)
    # the public matrices carry 974 of the 978 landmarks; the landmark view is whatever they hold
    lm = select_genes(full, "landmarks", id_type="ensembl", min_landmark_fraction=0.0)
    return full, lm


def _annotation_table(path: Path, what: str) -> pd.DataFrame:
    """A sample annotation file as a table of strings; one cut short, damaged (a bad gzip stream) or malformed is
    named, with the way on."""
    try:
        return pd.read_csv(path, sep="\t", dtype=str, encoding="latin-1")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, EOFError, OSError, zlib.error) as e:
        kind = "zlib.error" if isinstance(e, zlib.error) else type(e).__name__
        reason = str(e).strip().splitlines()[-1][:100] if str(e).strip() else "no detail"
        raise DataError(f"{path}: malformed, cut short or damaged {what} ({kind}: {reason}); delete it and fetch "
                        "again") from None


def convert_tcga(expression: str | os.PathLike, phenotype: str | os.PathLike, *, min_samples: int = 2,
                 chunksize: int = 2000, progress: bool = True):
    """Xena TOIL files -> (full, landmarks) AnnData of the TCGA samples.

    ``obs`` has ``tissue`` (``_primary_site``; the default label, as the paper's 24 tissue types),
    ``cancer_type`` (``detailed_category``), ``sample_type`` (``_sample_type``) and ``study``. Values stay
    log2(TPM+0.001) as published; the log state records it, so :func:`rnagen.pp.log2p1` will not log again.
    """
    pheno_path = Path(phenotype)
    ph = _annotation_table(pheno_path, "phenotype table")
    miss = [c for c in _TCGA_PHENOTYPE_COLUMNS if c not in ph.columns]
    if miss:
        raise DataError(f"{pheno_path}: missing column(s) {', '.join(miss)} (is this TcgaTargetGTEX_phenotype?); "
                        f"{_AGAIN.format(pheno_path)}")
    ph = ph[(ph["_study"] == "TCGA") & ph["_primary_site"].notna()].drop_duplicates("sample").set_index("sample")
    expr = Path(expression)
    with _damaged(expr):
        in_matrix = [x for x in _header(expr, 0)[1:] if x in ph.index]
        keep, rec = _keep_classes(in_matrix, ph["_primary_site"], min_samples, expr, pheno_path)
        X, ids, samples, rows = _read_matrix(_open_factory(expr), skip=0, id_col=None, keep_samples=keep,
                                             chunksize=chunksize, source=str(expr), progress=progress)
    p = ph.loc[samples]
    obs = pd.DataFrame({
        "tissue": pd.Categorical(p["_primary_site"].to_numpy()),
        "cancer_type": pd.Categorical(p["detailed_category"].fillna("unknown").to_numpy()),
        "sample_type": pd.Categorical(p["_sample_type"].fillna("unknown").to_numpy()),
        "study": pd.Categorical(p["_study"].to_numpy()),
    }, index=pd.Index(samples))
    return _views(X, ids, rows, obs, label_key="tissue", filter_record=rec, log_logged=True,
                  log_transform="log2(TPM+0.001)", source="tcga", pseudocount=0.001, path=expr)


def convert_gtex(expression: str | os.PathLike, attributes: str | os.PathLike, *, min_samples: int = 100,
                 chunksize: int = 2000, progress: bool = True):
    """GTEx v8 GCT + SampleAttributesDS -> (full, landmarks) AnnData.

    ``obs`` has ``tissue`` (``SMTS``, the label) and ``tissue_detail`` (``SMTSD``). Tissues with fewer
    than ``min_samples`` samples are dropped (100 in the paper: 26 tissues remain). Values are TPM (linear
    scale); the log state says so, and :func:`rnagen.pp.log2p1` logs them.
    """
    attr_path = Path(attributes)
    at = _annotation_table(attr_path, "sample attribute table")
    miss = [c for c in _GTEX_ATTRIBUTE_COLUMNS if c not in at.columns]
    if miss:
        raise DataError(f"{attr_path}: missing column(s) {', '.join(miss)} (is this SampleAttributesDS?); "
                        f"{_AGAIN.format(attr_path)}")
    at = at[at["SMTS"].notna()].drop_duplicates("SAMPID").set_index("SAMPID")
    expr = Path(expression)
    with _damaged(expr), _open_factory(expr)() as fh:
        version = fh.readline().strip()
        fh.readline()
        header = fh.readline().rstrip("\r\n").split("\t")
    if version not in _GCT_VERSIONS or header[:2] != ["Name", "Description"]:
        raise DataError(f"{expr}: not a GTEx GCT 1.2 file (header {version[:40]!r}, {header[:2]}); "
                        f"{_AGAIN.format(expr)}")
    in_matrix = [x for x in header[2:] if x in at.index]
    keep, rec = _keep_classes(in_matrix, at["SMTS"], min_samples, expr, attr_path)
    with _damaged(expr):
        X, ids, samples, rows = _read_matrix(_open_factory(expr), skip=2, id_col="Name", keep_samples=keep,
                                             chunksize=chunksize, source=str(expr), progress=progress)
    a = at.loc[samples]
    obs = pd.DataFrame({
        "tissue": pd.Categorical(a["SMTS"].to_numpy()),
        "tissue_detail": pd.Categorical(a["SMTSD"].fillna("unknown").to_numpy()) if "SMTSD" in a else "unknown",
    }, index=pd.Index(samples))
    return _views(X, ids, rows, obs, label_key="tissue", filter_record=rec, log_logged=False,
                  log_transform="none (TPM)", source="gtex", pseudocount=None, path=expr)


def _views_at(out: Path, source: str, *, option: str, inputs: list[Path]) -> dict[str, Path]:
    """The two views' paths in ``out``, refused (before anything is downloaded or written) where either would
    replace an input, a file rnagen did not write (the user's own data or notes) or something that is not a file
    (a folder): the pair is put in place only when both can be."""
    from .._io import check_output, output_target

    dests = {key: out / f"{source}_{key}.h5ad" for key in ("full", "landmarks")}
    check_output(out, inputs=inputs, kind="dir", writes=[d.name for d in dests.values()], option=option,
                 profiles=True)
    for d in dests.values():
        if d.is_symlink() and not d.exists():   # a link to nothing: its target made, where the target's folder is
            try:
                output_target(d)
            except OutputError as e:
                raise OutputError(f"{option} {out}: {e}") from None
        elif d.exists() and not d.is_file():
            raise OutputError(f"{option} {out}: its {d.name} is a folder or another thing than a file; it cannot be "
                              "replaced: choose another path, or move it away first")
    record = _views_record(out, source)
    if record.exists() and not record.is_file():
        raise OutputError(f"{option} {out}: its {record.name} is a folder or another thing than a file; it cannot be "
                          "replaced: choose another path, or move it away first")
    if record.is_file() and not _holds_record(record, _VIEWS_RECORD_KEYS):
        raise OutputError(f"{option} {out}: its {record.name} exists and is not the record of the views rnagen "
                          "writes beside them; it would be replaced: choose another path, or delete it first")
    return dests


#: what the record of a folder's views holds (:func:`_views_record`)
_VIEWS_RECORD_KEYS = ("source", "min_samples", "rnagen", "inputs", "views")


def _views_record(out: Path, source: str) -> Path:
    """The record beside the views in ``out`` of what they were converted from and of the views as written: a fetch
    of the same downloads and options keeps views it names unchanged (:func:`_views_of`) instead of converting."""
    return out / f"{source}_views.json"


def _input_identity(path: Path) -> dict[str, Any]:
    """A download's name, size and sha256: the sha256 its download record holds where that record is of the file
    as it is (its size and modification time; :func:`_check_cached` has checked it), else read from the file (one
    saved into the cache by hand)."""
    st = path.stat()
    sha256 = None
    try:
        rec = json.loads(_cache_record(path).read_text())
        if int(rec["size"]) == st.st_size and int(rec["mtime_ns"]) == st.st_mtime_ns:
            sha256 = str(rec["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return {"name": path.name, "size": st.st_size, "sha256": sha256 or file_checksum(path)}


def _view_identity(path: Path) -> dict[str, Any]:
    """A written view as the file system holds it (through a link, its target): a view replaced since (another
    command writing it, a copy put there) has another inode, and one changed in place another size or time."""
    st = path.stat()
    return {"name": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _conversion(source: str, files: Mapping[str, Path], min_samples: int) -> dict[str, Any]:
    """What a conversion's output depends on: the source, its downloads, ``min_samples`` and rnagen's version (the
    gene universe and the conversion's code); the chunk size and progress bars change nothing written."""
    from .. import __version__

    return {"source": source, "min_samples": int(min_samples), "rnagen": __version__,
            "inputs": {role: _input_identity(files[role]) for role in ("expression", "samples")}}


def _views_of(record: Path, dests: Mapping[str, Path], conversion: Mapping[str, Any]) -> bool:
    """Whether the views ``dests`` are the ones ``record`` names (each as written, unchanged since) and of
    ``conversion``: then converting again would write the same views. Read under the views' locks."""
    try:
        rec = json.loads(record.read_text(encoding="utf-8"))
        return (isinstance(rec, dict) and all(rec.get(k) == v for k, v in conversion.items())
                and all(rec["views"][key] == _view_identity(d) for key, d in dests.items()))
    except (OSError, ValueError, KeyError, TypeError):   # no record, or no view of it: converted anew
        return False


def _pending_view(target: Path, pid: int) -> Path:
    """Where process ``pid`` writes a view (or the views' record, ending ``.json``) before it replaces ``target``: a
    hidden file beside the target (one file system, for the rename), named by the process. A long target name is
    shortened as rnagen's temporaries shorten it (:func:`rnagen._io._stem`), to leave this name short enough that
    the temporary :func:`rnagen._io.atomic_path` writes it through carries it whole
    (:func:`_remove_dead_writers_files` tells that temporary by it) and within the file system's name limit."""
    from .._io import _STEM_MAX, _stem

    ending = _pending_ending(target)
    stem = target.name[:-len(ending)] if target.name.endswith(ending) else target.name
    limit = _STEM_MAX - len("..") - _PID_DIGITS - len(ending)
    return target.with_name(f".{_stem(stem, limit=limit)}.{pid}{ending}")


def _pending_ending(target: Path) -> str:
    """The ending a file written to replace ``target`` keeps: the views' record's ``.json``, else ``.h5ad``."""
    return ".json" if target.name.endswith(".json") else ".h5ad"


def _remove_dead_writers_files(target: Path) -> list[str]:
    """Delete what a fetch killed while writing the view ``target`` (``kill -9``: no ``finally`` runs) left beside
    it: the view written but not put in place (:func:`_pending_view`), that file's unfinished temporaries
    (:func:`rnagen._io.atomic_path`) and the old view kept aside (:func:`_kept_aside`), each only where the process
    whose id it carries no longer runs: a live process's file is never touched. A pair of views that process was
    putting in place gets its old views back first (:func:`rnagen._io.settle_replacements`), from the old views
    kept aside. The caller holds ``target``'s lock (or knows no process holds it), so no other fetch writes these
    names meanwhile. Returns the names removed."""
    folder = target.parent
    settle_replacements(folder)
    ending = _pending_ending(target)
    pending = re.escape(_pending_view(target, 0).name[:-len(f".0{ending}")])
    old = re.escape(_kept_aside(target, 0).name[:-len(".0.old")])
    ending = re.escape(ending)
    left = re.compile(rf"^{pending}\.(?P<pid>\d+){ending}$|^\.{pending}\.(?P<tmp>\d+){ending}\.[A-Za-z0-9_]{{8}}\.tmp"
                      rf"|^{old}\.(?P<old>\d+)\.old$")
    removed = []
    with contextlib.suppress(OSError):   # a folder that cannot be listed holds nothing this run can remove
        for f in sorted(folder.iterdir()):
            m = left.match(f.name)
            if m is None or not f.is_file() or f.is_symlink():
                continue
            if _process_runs(int(m["pid"] or m["tmp"] or m["old"])):
                continue
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
            removed.append(f.name)
    return removed


def _remove_stale_views(out: Path, source: str) -> None:
    """Delete what a killed fetch left in ``out`` (:func:`_remove_dead_writers_files` of each view's name), and the
    temporaries of the views' own names, all kept while another process holds that view's lock (a ``prepare``
    writing it, a fetch into another folder whose view is a link to this one). Called under the folder's lock."""
    from .._io import held_here, lock_holder, remove_stale_temporaries

    if not out.is_dir():
        return
    for key in ("full", "landmarks"):
        view = out / f"{source}_{key}.h5ad"
        if lock_holder(view, kind="file") is None:
            remove_stale_temporaries(out, name=view.name)
        if lock_holder(view, kind="file") is None or held_here(view, kind="file"):
            _remove_dead_writers_files(view)   # this process's own files are kept: its id runs
    _remove_dead_writers_files(_views_record(out, source))   # written only under the folder's lock, held here


@contextlib.contextmanager
def _views_locked(out: Path, source: str, *, option: str, inputs: list[Path]) -> Iterator[dict[str, Path]]:
    """Hold the locks of ``out`` and of its two views (each view's own lock too, which a command writing it as its
    ``--out`` takes) while the block runs, what a killed fetch left there removed; yields the views' paths, checked
    as they are under the locks (:func:`_views_at`).

    The folder's lock first, then the views' in the order of their lock files' paths: a view that is a link into
    another folder is locked where its target is (:func:`rnagen._io.lock_path`), so two fetches whose views link
    into each other's folders need the same view locks, and one order for every process means one of them takes
    both while the other waits (in the order of the views' names, each could hold the one the other needs next
    and both be refused, again and again, until the wait ends)."""
    from .._io import lock_path, writer_lock

    with writer_lock(out, kind="dir"), contextlib.ExitStack() as held:
        dests = _views_at(out, source, option=option, inputs=inputs)   # as they are now, after the conversion
        _remove_stale_views(out, source)
        for d in sorted(dests.values(), key=lambda v: str(lock_path(v, kind="file"))):
            held.enter_context(writer_lock(d, kind="file"))
        yield dests


def fetch(source: Source, *, out_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
          base_url: str | None = None, checksums: Mapping[str, str] | None = None, min_samples: int | None = None,
          retries: int = 3, retry_wait: float = 1.0, chunksize: int = 2000, progress: bool = True) -> dict[str, Path]:
    """Download ``source`` (``"tcga"`` or ``"gtex"``) and write ``<source>_full.h5ad`` and
    ``<source>_landmarks.h5ad`` into ``out_dir`` (default ``<cache_dir>/<source>``).

    An existing view rnagen did not write (a user's file of that name) is refused, not replaced, before
    anything is downloaded; the two views replace the old pair together or not at all, with the record of what
    they were converted from (``<source>_views.json``). The views' locks are taken before the conversion: another
    process writing the views (a fetch of the same source into the same folder) is waited for, up to
    :data:`MAX_LOCK_WAIT` seconds; past the wait the fetch is refused (:class:`rnagen.errors.OutputError`). Views
    the record names, unchanged since they were written and converted from the same downloads with the same
    ``min_samples`` by the same rnagen version, are kept as they are (saying so on stderr): converting again would
    write the same; other views are converted anew and replaced.

    Returns
    -------
    dict
        Paths: ``expression``, ``samples`` (downloads), ``full``, ``landmarks`` (converted files), ``record``
        (what the views were converted from).
    """
    import sys

    from .._io import json_text, output_target, waiting_for_writer, write_text

    _refuse_empty(out=out_dir, cache_dir=cache_dir, base_url=base_url)
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    out = Path(out_dir) if out_dir else cache / source
    option = "--out" if out_dir else "--out (default CACHE/SOURCE)"
    inputs = [cache / source / f.name for f in remote_files(source)]
    _views_at(out, source, option=option, inputs=inputs)
    files = fetch_files(source, cache_dir=cache, base_url=base_url, checksums=checksums, retries=retries,
                        retry_wait=retry_wait, progress=progress)
    ms = DEFAULT_MIN_SAMPLES[source] if min_samples is None else int(min_samples)
    conv = convert_tcga if source == "tcga" else convert_gtex
    conversion = _conversion(source, files, ms)   # a hand-saved download's sha256 read before the locks are taken
    record = _views_record(out, source)

    # the views' locks before the conversion: a second fetch of the same views waits for the first to put its pair
    # in place and then keeps that pair where it is of the same conversion, rather than converting the same cached
    # files beside the first (minutes, and a matrix's memory); the two views are one conversion: both written
    # before either replaces the old pair (a full disk on the second would leave a full view of one run beside the
    # landmark view of another), and the record of their inputs replaced with them
    with waiting_for_writer(lambda: _views_locked(out, source, option=option, inputs=inputs), wait=MAX_LOCK_WAIT,
                            hint="run the same command again once it has finished, or give another --out") as dests:
        if _views_of(record, dests, conversion):
            print(f"rnagen: {' and '.join(d.name for d in dests.values())} in {out} are of these downloads and "
                  f"--min-samples already ({record.name}); kept, not converted again", file=sys.stderr, flush=True)
            return {**files, **dests, "record": record}
        full, lm = conv(files["expression"], files["samples"], min_samples=ms, chunksize=chunksize,
                        progress=progress)
        # a view that is a symbolic link is written through it, from a file beside its target (one file system)
        written = {**dests, "record": record}
        targets = {key: output_target(d) for key, d in written.items()}
        for key, t in targets.items():   # what a killed fetch left beside a linked view's target, under its lock
            if t != written[key]:
                _remove_dead_writers_files(t)
        pending = {key: _pending_view(t, os.getpid()) for key, t in targets.items()}
        try:
            for key, view in (("full", full), ("landmarks", lm)):
                try:
                    write_h5ad(view, pending[key])
                except OutputError as e:   # named as the view it is, not as its temporary
                    raise OutputError(str(e).replace(str(pending[key]), str(dests[key]))) from None
            # each view as it will lie in place: a rename keeps a file's inode, size and modification time
            views = {key: {**_view_identity(pending[key]), "name": dests[key].name} for key in dests}
            try:
                write_text(pending["record"], json_text({**conversion, "views": views}))
            except OutputError as e:
                raise OutputError(str(e).replace(str(pending["record"]), str(record))) from None
            replace_together([(pending[key], targets[key]) for key in written])
            files.update(written)
        finally:
            for tmp in pending.values():
                tmp.unlink(missing_ok=True)
    return files


# --------------------------------------------------------------------------------------------- GEO

_GEO_ACCESSION = re.compile(r"^(GSE|GPL)([1-9][0-9]*)$")

# The formats of GEO's files (https://www.ncbi.nlm.nih.gov/geo/info/soft.html), checked before a download is cached
# and on each use: a busy server's plain-text or JSON answer inside a gzip stream has a gzip file's first bytes.
#: a series matrix opens with the series' ``!Series_title`` line (the ``!Series_`` attributes, then ``!Sample_``)
_GEO_SERIES_MATRIX = FileFormat("a GEO series matrix (a first line !Series_title, or another !Series_ line)",
                                first=r"!Series_")
#: a platform annotation (``GPLxxx.annot.gz``) is SOFT text: its first line an entity line, ``^Annotation``
_GEO_ANNOTATION = FileFormat("a GEO platform annotation (SOFT text opening with ^Annotation)",
                             first="(?i)(?:" + "|".join(re.escape(k) for k in _SOFT_KINDS) + r")\b")
#: NCBI's RNA-seq counts (https://www.ncbi.nlm.nih.gov/geo/info/rnaseqcounts.html): genes by GeneID x GSM columns
_GEO_COUNTS = FileFormat("NCBI's gene counts (a tab-separated header: GeneID, then GSM accessions)",
                         first=r"GeneID\t")


def geo_url(accession: str, *, base_url: str | None = None, platform: str | None = None) -> str:
    """The URL of a series' matrix (``GSExxx``; with ``platform``, that platform's matrix of a series on
    several, ``GSExxx-GPLyyy_series_matrix.txt.gz``) or a platform's annotation (``GPLxxx``) in GEO's tree:
    files sit under ``GSEnnn`` / ``GPLnnn`` folders named by the accession less its last three digits."""
    m = _GEO_ACCESSION.match(accession)
    if m is None:
        raise DataError(f"GEO accession {accession!r} is not a series (GSE followed by digits, e.g. GSE2034) or a "
                        "platform (GPL96); check --accession")
    kind, digits = m.groups()
    folder = f"{kind}{digits[:-3]}nnn"
    base = (base_url or GEO_BASE_URL).rstrip("/")
    if kind == "GSE":
        if platform is not None and not re.match(r"^GPL[1-9][0-9]*$", platform):
            raise DataError(f"GEO platform {platform!r} is not GPL followed by digits (e.g. GPL570); check --platform")
        name = f"{accession}-{platform}" if platform else accession
        return f"{base}/series/{folder}/{accession}/matrix/{name}_series_matrix.txt.gz"
    return f"{base}/platforms/{folder}/{accession}/annot/{accession}.annot.gz"


def _series_platforms(path: Path) -> list[str]:
    """The platform ids of a series matrix's ``!Series_platform_id`` line(s)."""
    out: list[str] = []
    try:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("!series_matrix_table_begin"):
                    break
                if line.startswith("!Series_platform_id"):
                    out += [_unquote(f) for f in line.rstrip("\r\n").split("\t")[1:] if f.strip()]
    except (OSError, EOFError, zlib.error) as e:
        path.unlink(missing_ok=True)  # not kept in the cache, where the next run would reuse it
        _cache_record(path).unlink(missing_ok=True)
        raise DataError(f"{path.name} is not a gzipped GEO series matrix ({type(e).__name__}; removed from the "
                        "cache); check --base-url, or fetch again") from e
    return out


#: NCBI's RNA-seq quantifications of a series (https://www.ncbi.nlm.nih.gov/geo/info/rnaseqcounts.html): the
#: name part of each kind in ``GSExxx_<part>_<assembly>_NCBI.tsv.gz``
GEO_COUNTS = {"raw": "raw_counts", "tpm": "norm_counts_TPM", "fpkm": "norm_counts_FPKM"}


def geo_counts_url(accession: str, *, name: str | None = None, base_url: str | None = None) -> str:
    """The URL of NCBI's RNA-seq counts page for a series (``name=None``: the page listing its files), or of
    one of those files; ``base_url`` (a mirror of ``https://www.ncbi.nlm.nih.gov/geo``) replaces the host."""
    base = (base_url or GEO_WEB_URL).rstrip("/")
    url = f"{base}/download/?type=rnaseq_counts&acc={accession}"
    return url if name is None else f"{url}&format=file&file={name}"


def _counts_files(page: str, accession: str) -> dict[str, list[str]]:
    """The counts files an NCBI counts page links for ``accession``, by kind (``raw``, ``tpm``, ``fpkm``)."""
    names = re.findall(rf"file=({re.escape(accession)}_[A-Za-z0-9_.]+?_NCBI\.tsv\.gz)", page)
    out: dict[str, list[str]] = {}
    for kind, part in GEO_COUNTS.items():
        for n in dict.fromkeys(names):
            if n.startswith(f"{accession}_{part}_"):
                out.setdefault(kind, []).append(n)
    return out


def _listing(url: str, tmp: Path, kw: dict[str, Any]) -> str:
    """The text of a listing page (a series' counts page, a suppl/ folder), fetched through a file of this
    process's own beside ``tmp`` and not kept: a listing is asked for again on each run, never reused from the
    cache, and two runs at once never remove each other's."""
    own = tmp.with_name(f"{tmp.stem}.{os.getpid()}{tmp.suffix}")
    part = own.with_name(own.name + ".part")
    files = (own, part, _resume_record(part), _cache_record(own))
    for f in files:   # left by a killed process of the same id
        f.unlink(missing_ok=True)
    try:
        download(url, own, **kw)
        return own.read_text(encoding="utf-8", errors="replace")
    finally:
        for f in files:
            f.unlink(missing_ok=True)


def _fetch_geo_counts(acc: str, kind: str, cache: Path, *, base_url: str | None, checksum: str | None,
                      kw: dict[str, Any]) -> Path:
    """NCBI's counts file of one kind for a series: from the cache, else named by the series' counts page."""
    part = GEO_COUNTS[kind]
    cached = sorted(cache.glob(f"{acc}_{part}_*_NCBI.tsv.gz"))
    if len(cached) == 1:
        # the counts page not asked again
        return _check_cached(cached[0], checksum=checksum, expected_size=None, expect=_GEO_COUNTS)
    page_url = geo_counts_url(acc, base_url=base_url)
    files = _counts_files(_listing(page_url, cache / f".{acc}_rnaseq_counts.html", kw), acc)
    if not files:
        raise DataError(f"NCBI has computed no RNA-seq counts for {acc} (its page {page_url} links none: NCBI counts "
                        "human and mouse series with reads in SRA); list the submitter's files with --suppl instead")
    if kind not in files:
        raise DataError(f"NCBI's counts page for {acc} links no {kind} counts, only {', '.join(sorted(files))}; pass "
                        f"--counts {sorted(files)[0]}")
    name = files[kind][0]
    url = geo_counts_url(acc, name=name, base_url=base_url)
    return download(url, cache / name, checksum=checksum, expect=_GEO_COUNTS, **kw,
                    page_hint=f"NCBI asks for a browser at times: download {url} in one into {cache}, then run this "
                              "command again")


def geo_suppl_url(accession: str, *, name: str | None = None, base_url: str | None = None) -> str:
    """The URL of a series' supplementary folder in GEO's tree (``GSExxx/suppl/``), or of one file in it."""
    from urllib.parse import quote

    matrix = geo_url(accession, base_url=base_url)
    # quoted: a '#' or '?' in a file name would end the path there (a fragment, a query)
    return matrix.rsplit("/matrix/", 1)[0] + "/suppl/" + quote(name or "")


def _suppl_files(page: str) -> list[tuple[str, str]]:
    """(file name, size as the listing prints it) of a directory listing's file links."""
    out: list[tuple[str, str]] = []
    for m in re.finditer(r'<a href="([^"?/][^"/]*)">[^<]*</a>([^<\n]*)', page):
        name, rest = m.group(1), m.group(2).split()
        if name not in (n for n, _ in out) and name not in ("..", "."):
            out.append((name, rest[-1] if rest and rest[-1] != "-" else ""))
    return out


def _fetch_geo_suppl(acc: str, name: str, cache: Path, *, base_url: str | None, checksum: str | None,
                     kw: dict[str, Any]) -> Path | list[tuple[str, str]]:
    """The series' supplementary files (``name=""``: their list, from the folder's listing) or one of them."""
    if name:
        if "/" in name or "\\" in name or name in (".", ".."):
            raise DataError(f"--suppl {name!r} is not a file name; give one of the names --suppl lists")
        try:
            # per series: every series' suppl/ folder holds a filelist.txt, and many share other names
            return download(geo_suppl_url(acc, name=name, base_url=base_url), cache / acc / name, checksum=checksum,
                            **kw)
        except HTTPStatusError as e:
            if e.status != 404:
                raise
            raise DataError(f"{acc}'s suppl/ folder has no {name}; list its files with --suppl alone") from None
    url = geo_suppl_url(acc, base_url=base_url)
    try:
        page = _listing(url, cache / f".{acc}_suppl.html", kw)
    except HTTPStatusError as e:
        if e.status != 404:
            raise
        return []
    if "<pre" not in page.lower() and "index of" not in page.lower():
        # a folder listing (GEO's autoindex) prints its files in <pre> under "Index of"; a login, bot-check or
        # error page sent with status 200 would read as a folder without files
        raise DataError(f"{url} sent a web page that is no folder listing (a login, bot-check or error page); open "
                        "it in a browser, or run the command again later")
    return _suppl_files(page)


def _download_whole(url: str, dest: Path, **kw: Any) -> Path:
    """:func:`download`, a file reused from the cache read to the end of its gzip stream first: a series matrix or
    a platform annotation damaged in the cache would otherwise be reported as downloaded, and fail only when
    ``prepare`` reads it."""
    cached = dest.exists()
    got = download(url, dest, **kw)
    if cached:
        bad = _not_the_file(got, got.name, whole=True, expect=kw.get("expect"))
        if bad is not None:
            raise DataError(f"cached {got} is {bad}; delete it and fetch again")
    return got


def _single_platform_series(acc: str, gpl: str, cache: Path, *, base_url: str | None, checksum: str | None,
                            kw: dict[str, Any]) -> Path | None:
    """The plain series matrix of ``acc`` when the series is on the one platform ``gpl`` (GEO names a matrix by
    its platform only for a series on several); ``None`` when GEO has no plain matrix either. A series on
    another platform is refused, naming it."""
    url = geo_url(acc, base_url=base_url)
    try:
        series = _download_whole(url, cache / url.rsplit("/", 1)[1], checksum=checksum, expect=_GEO_SERIES_MATRIX,
                                 **kw)
    except HTTPStatusError as e:
        if e.status != 404:
            raise
        return None
    platforms = _series_platforms(series)
    if platforms and gpl not in platforms:
        raise DataError(f"{acc} is on platform {', '.join(platforms)}, not {gpl}; remove --platform (it picks one "
                        "platform's matrix of a series on several)")
    return series


def fetch_geo(accession: str, *, platform: str | None = None, counts: str | None = None, suppl: str | None = None,
              cache_dir: str | os.PathLike | None = None, base_url: str | None = None,
              checksums: Mapping[str, str] | None = None, retries: int = 3, retry_wait: float = 1.0,
              progress: bool = True) -> dict[str, Any]:
    """Download a GEO series matrix and its platform's annotation (probe -> gene) into ``<cache>/geo/``;
    ``platform`` picks one platform's matrix of a series on several. With ``counts`` (``"raw"``, ``"tpm"`` or
    ``"fpkm"``), NCBI's gene counts of an RNA-seq series instead of the platform annotation: the file its
    counts page (:func:`geo_counts_url`) links for that kind, genes by NCBI GeneID (Entrez) x samples by GSM
    accession; its series matrix, whose table is empty, holds the sample annotations (``--labels``). With
    ``suppl``, the submitter's files of the series (``GSExxx/suppl/``) instead: ``""`` lists them, a name
    downloads that file.

    Nothing is converted: labels, missing values, depth normalisation and probes of one gene are choices of
    ``rnagen data prepare`` (``--label-key``, ``--labels``, ``--missing``, ``--normalize``, ``--feature-map``
    with the annotation, ``--duplicates``). A platform without an annotation file on GEO gives
    ``annotation=None`` (the probes stay probes).

    Returns
    -------
    dict
        ``series`` (path), ``platform`` (its id, or ``None`` when the matrix names none), ``annotation`` (path or
        ``None``), ``counts`` (path, or ``None`` without ``counts``) and ``suppl`` (with ``suppl``: the
        downloaded file's path, or the listed files as (name, size) pairs).
    """
    _refuse_empty(accession=accession, platform=platform, cache_dir=cache_dir, base_url=base_url)
    acc = str(accession).strip().upper()
    gpl_asked = None if platform is None else str(platform).strip().upper()
    series_url = geo_url(acc, base_url=base_url, platform=gpl_asked)
    if not acc.startswith("GSE"):
        raise DataError(f"{acc} is a platform; give a series accession (GSE...) to --accession")
    if counts is not None and counts not in GEO_COUNTS:
        raise DataError(f"unknown counts kind {counts!r}; use one of {', '.join(GEO_COUNTS)}")
    if counts is not None and suppl is not None:
        raise DataError("--counts downloads NCBI's counts, --suppl a submitter's file; give one")
    cache = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / "geo"
    checksums = _named_checksums(checksums)
    series_name = series_url.rsplit("/", 1)[1]
    unknown = sorted(k for k in checksums
                     if k not in (series_name, "series", "annotation", "counts", "suppl", suppl)
                     and not re.match(r"^GPL\d+\.annot\.gz$", k)
                     and not re.match(rf"^{re.escape(acc)}_[\w.]+_NCBI\.tsv\.gz$", k))
    if unknown:
        raise DataError(f"checksum given for unknown file(s) {', '.join(unknown)}; use {series_name}, GPLxxx.annot.gz, "
                        "a counts file name, 'series', 'annotation' or 'counts'")
    kw: dict[str, Any] = {"retries": retries, "retry_wait": retry_wait, "progress": progress}
    series: Path | None = None
    try:
        series = _download_whole(series_url, cache / series_name,
                                 checksum=checksums.get(series_name) or checksums.get("series"),
                                 expect=_GEO_SERIES_MATRIX, **kw)
    except HTTPStatusError as e:
        if e.status != 404:
            raise
        if gpl_asked is None:
            raise DataError(f"GEO has no {series_name} at {series_url}: a series on several platforms has one "
                            f"matrix per platform ({acc}-GPLxxx_series_matrix.txt.gz: pass --platform GPLxxx), and a "
                            "series without processed values has none") from None
    if series is None:
        assert gpl_asked is not None
        series = _single_platform_series(acc, gpl_asked, cache, base_url=base_url, checksum=checksums.get("series"),
                                         kw=kw)
        if series is None:
            raise DataError(f"GEO has no {series_name} at {series_url}: is {acc} on platform {gpl_asked}? Its matrix/ "
                            "folder lists the platforms it has matrices for")
    platforms = _series_platforms(series)
    gpl = platforms[0] if len(platforms) == 1 else gpl_asked
    out: dict[str, Any] = {"series": series, "platform": gpl, "annotation": None, "counts": None, "suppl": None}
    if suppl is not None:
        cs = checksums.get(suppl) or checksums.get("suppl") if suppl else None
        out["suppl"] = _fetch_geo_suppl(acc, suppl, cache, base_url=base_url, checksum=cs, kw=kw)
        return out
    if counts is not None:
        named = [k for k in checksums if k.endswith("_NCBI.tsv.gz")]
        cs = checksums.get("counts") or (checksums[named[0]] if named else None)
        out["counts"] = _fetch_geo_counts(acc, counts, cache, base_url=base_url, checksum=cs, kw=kw)
        if named and named[0] != out["counts"].name:
            raise DataError(f"checksum given for {named[0]}, but NCBI's {counts} counts of {acc} are "
                            f"{out['counts'].name}")
        return out
    other = sorted(k for k in checksums if k.endswith(".annot.gz") and k != f"{gpl}.annot.gz")
    if other:
        raise DataError(f"checksum given for {', '.join(other)}, but {acc} is on platform {gpl or 'several platforms'}")
    if gpl is not None and _GEO_ACCESSION.match(gpl):
        try:
            out["annotation"] = _download_whole(geo_url(gpl, base_url=base_url), cache / f"{gpl}.annot.gz",
                                                checksum=checksums.get(f"{gpl}.annot.gz") or
                                                checksums.get("annotation"), expect=_GEO_ANNOTATION, **kw)
        except HTTPStatusError as e:
            if e.status != 404:
                raise
    return out


# ------------------------------------------------------------------------------------------ recount3

RECOUNT3_BASE_URL = "http://duffel.rail.bio/recount3"
"""recount3's file tree (Wilks et al. 2021): {organism}/data_sources/{sra,gtex,tcga}/{gene_sums,metadata}/."""
RECOUNT3_HOMES = ("sra", "gtex", "tcga")
# the gene annotation of each organism's default gene sums (GENCODE v26 for human, GENCODE M23 for mouse)
RECOUNT3_ANNOTATION = {"human": "G026", "mouse": "M023"}
#: recount3's gene sums: ``##annotation=`` and ``##date.generated=`` lines, then the header ``gene_id`` and the runs
_RECOUNT3_SUMS = FileFormat("recount3 gene sums (## lines, then a tab-separated header: gene_id, then run ids)",
                            first=r"gene_id\t", comment="##")
#: every recount3 metadata table (the QC table, the sample metadata) opens with the join key of its rows
#: (recount3::read_metadata merges them by it): rail_id, external_id and study
_RECOUNT3_METADATA = FileFormat("a recount3 metadata table (a tab-separated header with rail_id, external_id and "
                                "study)", columns=("rail_id", "external_id", "study"))
_RECOUNT3_FORMATS = {"sums": _RECOUNT3_SUMS, "qc": _RECOUNT3_METADATA, "samples": _RECOUNT3_METADATA}
_RECOUNT3_PROJECT = {"sra": re.compile(r"^[SED]RP\d+$"), "gtex": re.compile(r"^[A-Z_]+$"),
                     "tcga": re.compile(r"^[A-Z]+$")}


def recount3_urls(project: str, *, home: str = "sra", organism: str = "human",
                  base_url: str | None = None) -> dict[str, str]:
    """The URLs of a recount3 project's gene sums, QC table and sample metadata (``sums``, ``qc``, ``samples``),
    laid out as recount3::file_locate_url lays them out: ``{base}/{organism}/data_sources/{home}/{gene_sums|
    metadata}/{last two characters}/{project}/{home}.{gene_sums|recount_qc|home}.{project}.{G026.gz|MD.gz}``."""
    if home not in RECOUNT3_HOMES:
        raise DataError(f"unknown recount3 home {home!r}; use one of {', '.join(RECOUNT3_HOMES)}")
    if organism not in RECOUNT3_ANNOTATION or (organism == "mouse" and home != "sra"):
        raise DataError(f"recount3 has no {organism} {home} data; human has sra, gtex and tcga, mouse sra")
    pid = str(project).strip().upper()
    if not _RECOUNT3_PROJECT[home].match(pid):
        example = {"sra": "an SRA study such as SRP009615", "gtex": "a GTEx tissue such as BLADDER",
                   "tcga": "a TCGA project such as BRCA"}[home]
        raise DataError(f"{project!r} is not a recount3 {home} project; give {example} (--home picks sra, gtex or "
                        "tcga)")
    root = f"{(base_url or RECOUNT3_BASE_URL).rstrip('/')}/{organism}/data_sources/{home}"
    tail = f"{pid[-2:]}/{pid}"
    return {"sums": f"{root}/gene_sums/{tail}/{home}.gene_sums.{pid}.{RECOUNT3_ANNOTATION[organism]}.gz",
            "qc": f"{root}/metadata/{tail}/{home}.recount_qc.{pid}.MD.gz",
            "samples": f"{root}/metadata/{tail}/{home}.{home}.{pid}.MD.gz"}


def fetch_recount3(project: str, *, home: str = "sra", organism: str = "human",
                   cache_dir: str | os.PathLike | None = None, base_url: str | None = None,
                   checksums: Mapping[str, str] | None = None, retries: int = 3, retry_wait: float = 1.0,
                   progress: bool = True) -> dict[str, Path]:
    """Download a recount3 project's gene sums, its QC table and its sample metadata into ``<cache>/recount3/``.

    The gene sums are base-pair coverage; ``rnagen data prepare SUMS --recount-qc QC`` reads them as read counts
    (each run's coverage over its average mapped length, recount3::compute_read_counts) and ``--labels SAMPLES``
    labels the runs (for SRA studies by an attribute of ``sample_attributes``). Nothing is converted here.

    Returns
    -------
    dict
        ``sums``, ``qc`` and ``samples``: the downloaded files' paths.
    """
    _refuse_empty(project=project, cache_dir=cache_dir, base_url=base_url)
    urls = recount3_urls(project, home=home, organism=organism, base_url=base_url)
    cache = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / "recount3"
    checksums = _named_checksums(checksums)
    names = {k: u.rsplit("/", 1)[1] for k, u in urls.items()}
    unknown = sorted(k for k in checksums if k not in (*names, *names.values()))
    if unknown:
        raise DataError(f"checksum given for unknown file(s) {', '.join(unknown)}; use {', '.join(names.values())}, "
                        "'sums', 'qc' or 'samples'")
    out: dict[str, Path] = {}
    for key, url in urls.items():
        try:
            out[key] = download(url, cache / names[key], checksum=checksums.get(names[key]) or checksums.get(key),
                                retries=retries, retry_wait=retry_wait, progress=progress,
                                expect=_RECOUNT3_FORMATS[key])
        except HTTPStatusError as e:
            if e.status != 404:
                raise
            raise DataError(f"recount3 has no {names[key]} at {url}: check the project id and --home (SRA studies "
                            "are sra, GTEx tissues gtex, TCGA projects tcga)") from None
    return out
