"""Safe outputs: atomic writes, one writer at a time, outputs that never replace an input.

Every file rnagen writes goes through :func:`atomic_path`: the content is written to a temporary file in the
same directory and moved over the destination with :func:`os.replace`, which is atomic on POSIX and Windows.
A destination that is a symbolic link is written as shell redirection writes it: the file it points to gets the
content (the temporary made in that file's folder, so the move stays on one file system) and the link stays; a
link to nothing creates the file it names where that file's folder exists (:func:`output_target`).
An interrupted run leaves either the old file or the new one, never a truncated one, and the content is
flushed to the storage device before the move and the move after it (:func:`sync_file`, :func:`sync_folder`), so a
power loss does not leave the name on an empty file. A new file gets the mode
the user's umask gives a new file and a replaced one keeps its own (as ``open(..., "w")`` would), and a
file-system error while writing (full disk, no permission, read-only) becomes one
:class:`rnagen.errors.OutputError` naming the path.

A command that writes first checks its outputs (:func:`check_output`: not an input, not under a file, a file
where a file is expected) and then holds :func:`writer_lock` on them while it writes (``fcntl.flock``, released
by the kernel when the process dies, so a killed command never blocks the next one): on a file's real path, and
for a folder on the folder and on each file it writes there, so that any two commands writing one file by any
name are kept apart (:func:`claim_output`). The next writer removes
what a killed one left behind (:func:`remove_stale_temporaries`).

Ctrl-C and SIGTERM raise an exception where the program is, and one raised inside a finaliser or a weakref
callback (h5py's, while an .h5ad is written) is dropped by Python, the write carrying on: the command line
records such a lost interrupt (:func:`note_signal`, from ``sys.unraisablehook``), and :func:`atomic_path`
checks the record before it puts a file in place, so a file written across it is discarded, not left behind as
if the command had finished.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TypeVar

import numpy as np

from .errors import OutputError

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # not POSIX: outputs are written without a lock
    fcntl = None


def _umask() -> int:
    """The process umask (read from /proc where available: ``os.umask`` can only be read by setting it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: the longest file name (in bytes) most file systems allow
_NAME_MAX = 255
#: the part of that the name of a temporary or lock file beside an output may take from the output's own name:
#: room for the dots, mkstemp's 8 characters, ``.tmp`` and a suffix of up to 32 bytes
_STEM_MAX = _NAME_MAX - 14 - 32


def _stem(name: str, *, limit: int = _STEM_MAX) -> str:
    """``name`` as the temporaries and the lock file beside it carry it: whole where it leaves them a valid name,
    else cut to ``limit`` bytes (:data:`_STEM_MAX`) ending in a digest of the whole name (two long names that begin
    alike stay apart), so that an output may have any name the file system allows."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= limit:
        return name
    import hashlib

    return raw[:limit - 9].decode("utf-8", "ignore") + "~" + hashlib.sha256(raw).hexdigest()[:8]


def describe_os_error(e: OSError, path: str | os.PathLike | None = None, *, verb: str = "write") -> str:
    """One line naming the path and what the file system said, with the fix for the common cases."""
    where = str(path if path is not None else (e.filename or "")) or "a file"
    hint = {
        errno.ENOSPC: "no space left on the device; free some space or write elsewhere",
        errno.EDQUOT: "disk quota exceeded; free some space or write elsewhere",
        errno.EACCES: "permission denied; choose a path you can write to",
        errno.EPERM: "operation not permitted; choose a path you can write to",
        errno.EROFS: "read-only file system; write elsewhere",
        errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
        errno.EISDIR: "it is a folder; give a file path",
        errno.ENAMETOOLONG: "the path or a name in it is too long for the file system (most allow names of "
                            f"{_NAME_MAX} bytes); choose a shorter name",
    }.get(e.errno or -1)
    if e.errno == errno.EEXIST and hint is None:
        # mkdir on a symbolic link to nothing: the link, not a folder, holds the name
        for p in (Path(where), *Path(where).parents):
            if p.is_symlink() and not p.exists():
                hint = (f"{p} is a symbolic link to {os.readlink(p)}, which does not exist; create that folder, "
                        "or choose another path")
                break
    return f"cannot {verb} {where}: {hint or (e.strerror or str(e)).splitlines()[0]}"


def output_target(path: str | os.PathLike) -> Path:
    """The file or folder a write to ``path`` changes: ``path`` itself, or, where it is a symbolic link (to a link
    too), what the links lead to, so that the write goes through the link as shell redirection's does and the link
    stays. A link to nothing leads to the path it names, created by the write where that path's folder exists;
    a link whose target's folder does not exist, and a loop of links, are refused in one line."""
    p = Path(path)
    if not p.is_symlink():
        return p
    try:
        return Path(os.path.realpath(p, strict=True))
    except FileNotFoundError:
        target = Path(os.path.realpath(p))
    except OSError as e:   # ELOOP: links that point at each other lead to no file
        raise OutputError(f"{p} is a symbolic link that leads back to itself ({e.strerror}); give a file path, or "
                          "point the link at a file") from None
    if not target.parent.is_dir():
        raise OutputError(f"{p} is a symbolic link to {os.readlink(p)}, which does not exist, nor its folder "
                          f"{target.parent}; create that folder, or choose another path")
    return target


def settled_path(p: Path) -> Path:
    """``p`` as it reads once its missing folders are made: a ``..`` in the part that does not exist yet takes
    away the name before it (``new/../x.h5ad`` is ``x.h5ad``, and no folder ``new`` is made for it, where the
    file system would refuse the path), one after an existing folder stays (the file system resolves it)."""
    if ".." not in p.parts:
        return p
    head, tail = p, []
    while not (head.exists() or head.is_symlink()) and head != head.parent:
        tail.append(head.name)
        head = head.parent
    names: list[str] = []
    for name in reversed(tail):
        if name != "..":
            names.append(name)
        elif names:
            names.pop()
        else:
            head = head / ".."
    return head.joinpath(*names)


def _make_folder(d: Path) -> list[Path]:
    """``mkdir -p d`` through symbolic links: a link to nothing on the way gets its target created (where the
    target's folder exists, :func:`output_target`). Returns the folders created, outermost first."""
    missing = []
    p = d
    while not p.exists():
        if p.is_symlink():
            missing.append(output_target(p))
            break
        missing.append(p)
        p = p.parent
    made = []
    for m in reversed(missing):
        try:
            m.mkdir()
        except FileExistsError:   # made meanwhile by another process: not ours to remove
            if not m.is_dir():
                raise
            continue
        made.append(m)
    return made


def make_folders(path: str | os.PathLike) -> list[Path]:
    """``mkdir -p path`` as every output's folder is made: through a symbolic link to nothing (its target made
    where the target's folder exists), without a folder for a name a later ``..`` takes back; a refusal of the file
    system is one :class:`rnagen.errors.OutputError`. Returns the folders made, outermost first."""
    d = settled_path(Path(path))
    try:
        return _make_folder(d)
    except OSError as e:
        if isinstance(e, OutputError):
            raise
        raise OutputError(describe_os_error(e, d)) from None


#: an interrupt (KeyboardInterrupt, or SIGTERM's) Python dropped where it was raised, until the command ends
_SIGNALLED: list[BaseException] = []


def note_signal(exc: BaseException) -> None:
    """Record the interrupt ``exc``, raised by a signal handler and dropped by Python where it was raised."""
    if not _SIGNALLED:
        _SIGNALLED.append(exc)


def take_signal() -> BaseException | None:
    """The interrupt :func:`note_signal` recorded (``None``: none), the record cleared."""
    return _SIGNALLED.pop() if _SIGNALLED else None


def _temporary_beside(path: str | os.PathLike, suffix: str | None) -> tuple[Path, Path, Path]:
    """``(dest, final, tmp)``: ``path`` as settled (:func:`settled_path`), the file a write of it replaces (a
    symbolic link's target, :func:`output_target`) and a new empty temporary beside that file (one file system, for
    the rename), its folders made."""
    dest = settled_path(Path(path))
    if suffix is None:
        suffix = "".join(dest.suffixes)
    if len(suffix.encode("utf-8", "surrogateescape")) > 32:   # a name of many dots: its last suffix says the format
        suffix = dest.suffix if len(dest.suffix.encode("utf-8", "surrogateescape")) <= 32 else ""
    try:
        _make_folder(dest.parent)
        # a symbolic link is written through: the file it leads to is replaced, from a temporary beside it
        final = output_target(dest)
        fd, tmp = tempfile.mkstemp(prefix=f".{_stem(final.name)}.", suffix=f".tmp{suffix}", dir=final.parent)
        os.close(fd)
    except OSError as e:
        if isinstance(e, OutputError):
            raise
        raise OutputError(describe_os_error(e, dest)) from None
    return dest, final, Path(tmp)


def _mode_for(tmp: Path, final: Path) -> int:
    """Give ``tmp`` the permissions of the file ``final`` it replaces (a new file: what the umask gives one); returns
    the number of names ``final`` has (more than 1: a hard link, whose other names keep the old content)."""
    # mkstemp (and some writers) create 0600 files: an output gets what the umask gives any new file, and a file it
    # replaces keeps its own permissions, as shell redirection leaves them (a private file stays so)
    try:
        st = os.stat(final)
        mode, links = stat.S_IMODE(st.st_mode) & 0o777, st.st_nlink
    except OSError:
        mode, links = 0o666 & ~_umask(), 1
    os.chmod(tmp, mode)
    return links


def _warn_hard_link(final: Path, links: int) -> None:
    if links > 1:   # the rename gives the name a new file; the other names of the old one still hold it
        import warnings

        warnings.warn(f"{final} was a hard link ({links - 1} other name{'s' if links > 2 else ''} of the same "
                      "file): it holds the new content, the other names keep the previous one (outputs are "
                      "replaced whole, never rewritten in place)", UserWarning, stacklevel=4)


def sync_file(path: Path) -> None:
    """Flush ``path``'s content to the storage device (``fsync``) before it is renamed into place: file systems that
    allocate on write-back (ext4, XFS) may put a rename on disk before the data it names, so after a power loss the
    destination could name an empty or partial file; flushed first, it names the whole new content or the old file.
    A folder (a writer that made one in the temporary's place) is left as written."""
    if not path.is_file():
        return
    fd = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)   # Windows commits through a write handle
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: Path) -> None:
    """Flush ``folder``'s entries (the renames made in it) to the storage device, where a folder can be opened and
    synced (POSIX; some network file systems refuse: the renames stand as made)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it over ``path``, on error delete it.

    Parameters
    ----------
    path
        Final destination. Its parent directory is created if needed.
    suffix
        Suffix of the temporary file (some writers, e.g. h5py, do not care; pandas' compression inference
        does). Defaults to the destination's own suffixes.
    """
    with atomic_paths([path], suffix=suffix) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(paths: Sequence[str | os.PathLike], *, suffix: str | None = None) -> Iterator[list[Path]]:
    """:func:`atomic_path` for files that must agree (a train/test pair): yield a temporary beside each of
    ``paths``; once the block has written them all, they replace the old files together (:func:`replace_together`:
    after any failure or kill the destinations hold the whole old set or the whole new one); on error each
    temporary is deleted and nothing is replaced."""
    made: list[tuple[Path, Path, Path]] = []
    try:
        for path in paths:
            made.append(_temporary_beside(path, suffix))
        yield [tmp for _, _, tmp in made]
        if _SIGNALLED:   # an interrupt the writer's callbacks swallowed: the files are not put in place
            raise _SIGNALLED[0]
        for _, _, tmp in made:
            sync_file(tmp)
        links = [_mode_for(tmp, final) for _, final, tmp in made]
        if len(made) == 1:
            os.replace(made[0][2], made[0][1])
        else:
            replace_together([(tmp, final) for _, final, tmp in made])
        for folder in dict.fromkeys(final.parent for _, final, _ in made):
            sync_folder(folder)
        for (_, final, _), n in zip(made, links):
            _warn_hard_link(final, n)
    except BaseException as e:
        for _, _, tmp in made:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        refused = _write_refused(e, made[-1][0] if made else settled_path(Path(paths[0])))
        if refused is not None:
            raise refused from None
        raise


#: the digits a process id may take in a file's name (a 32-bit id; Linux's ``pid_max`` is at most 2**22)
_PID_DIGITS = 10


def process_runs(pid: int) -> bool:
    """Whether process ``pid`` runs (``kill(pid, 0)``, which sends nothing); where that cannot be told (no POSIX
    signals, a process of another user) it is taken to run, so that what it wrote is kept."""
    if pid <= 0:   # kill(0, ...) would ask about this process's group: no process writes under that number
        return False
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, ValueError):   # a number beyond any process id
        return False
    except OSError:   # EPERM: it runs, as another user
        return True
    return True


def kept_aside(dest: Path, pid: int) -> Path:
    """Where process ``pid`` keeps the old ``dest`` while files replacing it and others together are put in place
    (:func:`replace_together`; a long name shortened as the temporaries' are, within the file system's name
    limit)."""
    limit = _NAME_MAX - len("..") - _PID_DIGITS - len(".old")
    return dest.with_name(f".{_stem(dest.name, limit=limit)}.{pid}.old")


#: the record :func:`replace_together` keeps in each destination's folder while it replaces files together:
#: ``.rnagen-replacing.<pid>.json``, naming each destination and where its old file is kept
_REPLACING_RE = re.compile(r"^\.rnagen-replacing\.(?P<pid>\d+)\.json$")


def _replacing_record(folder: Path, pid: int) -> Path:
    return folder / f".rnagen-replacing.{pid}.json"


#: the mark :func:`replace_together` puts beside each destination while its record lies in the folder:
#: ``.<name>.rnagen-replacing``, found by the name of the file a reader opens, without listing its folder
_MARK_SUFFIX = ".rnagen-replacing"


def _replacing_mark(dest: Path) -> Path:
    """The mark beside ``dest`` that a replacement together naming it may be unfinished (a long name shortened as
    the temporaries' are, within the file system's name limit)."""
    return dest.with_name(f".{_stem(dest.name, limit=_NAME_MAX - 1 - len(_MARK_SUFFIX))}{_MARK_SUFFIX}")


def _command_line() -> str:
    import shlex
    import sys

    return shlex.join(["rnagen", *sys.argv[1:]])


def _put_back(entries: Sequence[tuple[Path, Path | None]]) -> OSError | None:
    """Undo a replacement together: each destination that had an old file gets it back from where it was kept, one
    that had none is removed (a new file of the set, or nothing yet). ``None`` where every destination is as it
    was, else the first error of the file system."""
    failed: OSError | None = None
    for dest, old in reversed(entries):
        try:
            if old is None:
                dest.unlink(missing_ok=True)
            elif old.exists() and dest.exists() and os.path.samefile(old, dest):
                old.unlink()   # a second name of the old file: its destination was not replaced yet
            elif old.exists():
                os.replace(old, dest)
            # an old file not kept aside yet: its destination was never replaced
        except OSError as e:
            failed = failed or e
    return failed


def replace_together(moves: Sequence[tuple[Path, Path]]) -> None:
    """Move each written file over its destination, all or none (``moves``: ``(written, destination)`` pairs, each
    written file beside its destination: one file system).

    Each destination's old file is kept as a second link (:func:`kept_aside`, moved aside where the file system
    has no hard links) until the set is in place, and a record naming them (``.rnagen-replacing.<pid>.json``) is
    put in each destination's folder before the first move and removed after the last. A move that fails or is
    interrupted puts the old files back and the error names its destination; a process killed between two moves
    (``kill -9``: nothing of it runs) leaves the record, and the next rnagen command that writes or reads there
    puts the old files back (:func:`settle_replacements`): the destinations hold the whole old set or the whole
    new one, never a file of each (a train.h5ad of one split beside the test.h5ad of another)."""
    pid = os.getpid()
    entries = [(dest, kept_aside(dest, pid) if (dest.exists() or dest.is_symlink()) else None)
               for _, dest in moves]
    records = sorted({_replacing_record(dest.parent, pid) for _, dest in moves})
    # a mark already there stands for another record (settle_replacements removes it with the last one naming it)
    marks = [m for m in dict.fromkeys(_replacing_mark(d) for _, d in moves) if not os.path.lexists(m)]
    dest = moves[0][1]
    written: list[Path] = []
    try:
        for _, old in entries:   # a file of this id left by an earlier process of it is no old file of these
            if old is not None:
                old.unlink(missing_ok=True)
        text = json.dumps({"pid": pid, "command": _command_line(), "records": [str(r) for r in records],
                           "files": [{"dest": str(d), "old": None if o is None else str(o)} for d, o in entries]},
                          indent=1) + "\n"
        for rec in records:
            written.append(rec)
            write_text(rec, text)
        # after the records, before the first move: a mark stands for a record that lies in the folder already
        for mark in marks:
            written.append(mark)
            write_text(mark, "")
        for dest, old in entries:
            if old is not None:
                try:
                    os.link(dest, old)
                except OSError:   # a file system without hard links: the old file is moved aside instead
                    os.replace(dest, old)
        for tmp, dest in moves:
            os.replace(tmp, dest)
    except BaseException as e:
        if _put_back(entries) is None:
            for rec in written:
                with contextlib.suppress(OSError):
                    rec.unlink(missing_ok=True)
        # else the records stay: the next command that writes or reads there tries again
        if isinstance(e, OSError) and not isinstance(e, OutputError):
            raise OutputError(describe_os_error(e, dest)) from None
        raise
    for rec in [*records, *marks]:   # the marks after the records they stand for
        with contextlib.suppress(OSError):
            rec.unlink(missing_ok=True)
    for _, old in entries:
        if old is not None:
            with contextlib.suppress(OSError):
                old.unlink(missing_ok=True)


def _record_of(path: Path) -> dict[str, Any] | None:
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
        rec["entries"] = [(Path(f["dest"]), None if f["old"] is None else Path(f["old"])) for f in rec["files"]]
        return rec
    except (OSError, ValueError, KeyError, TypeError):
        return None


def settle_replacements(folder: str | os.PathLike) -> list[tuple[list[Path], str]]:
    """Put back the old files of every replacement together (:func:`replace_together`) whose record lies in
    ``folder`` and whose process no longer runs (killed between two moves): each under its destinations' write
    locks, skipped while another process holds one (it writes there, and settled them first). Returns the
    replacements that could not be put back (a folder this process may not write): their destinations and one line
    naming them and the fix, for a command that reads there to refuse; an empty list where the folder holds none."""
    d = Path(folder)
    left: list[tuple[list[Path], str]] = []
    try:
        listed = [f.name for f in d.iterdir()]
    except OSError:   # no folder, or one that cannot be listed: nothing this process can settle there
        return left
    found = sorted(d / name for name in listed if _REPLACING_RE.match(name))
    marks = [name for name in listed if name.startswith(".") and name.endswith(_MARK_SUFFIX)]
    for f in found:
        pid = int(f.name.split(".")[2])
        if pid == os.getpid() or process_runs(pid):
            continue
        rec = _record_of(f)
        if rec is None:
            continue
        entries: list[tuple[Path, Path | None]] = rec["entries"]
        dests = [dest for dest, _ in entries]
        try:
            with contextlib.ExitStack() as held:
                for dest in sorted(dests, key=lambda p: str(lock_path(p, kind="file"))):
                    held.enter_context(writer_lock(dest, kind="file"))
                if not f.exists():   # settled meanwhile by another process
                    continue
                failed = _put_back(entries)
                if failed is None:
                    for r in rec.get("records", [str(f)]):
                        with contextlib.suppress(OSError):
                            Path(r).unlink(missing_ok=True)
                    continue
        except WriterBusy:
            continue
        except OSError as e:
            failed = e
        names = " and ".join(p.name for p in dests)
        undo = " and ".join(f"rename {old} to {dest.name}" if old is not None else f"delete {dest}"
                            for dest, old in entries if old is None or old.exists())
        left.append((dests, f"{names} in {d} may be of two different runs: rnagen (pid {pid}: "
                            f"{rec.get('command', 'rnagen')}) was stopped while replacing them together, and the old "
                            f"files could not be put back ({describe_os_error(failed)}); {undo}, or run that "
                            "command again"))
    if marks:
        _remove_marks(d, marks)
    return left


def _remove_marks(d: Path, marks: list[str]) -> None:
    """Remove the marks ``marks`` (names in folder ``d``, listed with its records) that no record left in ``d``
    names a destination of: the folder listed again, as a mark is made after its record (a record made while the
    first listing ran, its mark seen there, is in this one). Matched by name (a record names its destinations by
    their full paths, ``d`` may be given relative); all kept where a record cannot be read."""
    named: set[str] = set()
    try:
        for f in d.iterdir():
            if _REPLACING_RE.match(f.name):
                rec = _record_of(f)
                if rec is None:
                    return
                named.update(_replacing_mark(dest).name for dest, _ in rec["entries"])
    except OSError:
        return
    for name in marks:
        if name not in named:
            with contextlib.suppress(OSError):
                (d / name).unlink(missing_ok=True)


def check_replacements(path: str | os.PathLike) -> None:
    """Refuse to read ``path`` where it is one of a set of files a killed command was replacing together and its
    old file cannot be put back (:func:`settle_replacements`, which puts it back where it can): one line naming the
    set and the fix (:class:`rnagen.errors.DataError`)."""
    from .errors import DataError

    p = Path(path)
    names = {p}
    with contextlib.suppress(OSError):
        names.add(output_target(p))
    # the folder listed only where a mark beside the file (or its link's target) says a record may lie there: a read
    # of one file in a folder of many does not pay for listing them
    marked = {n.parent for n in names if os.path.lexists(_replacing_mark(n))}
    for folder in sorted(marked):
        for dests, line in settle_replacements(folder):
            if any(os.path.realpath(n) == os.path.realpath(dest) for n in names for dest in dests):
                raise DataError(line)


def _write_refused(e: BaseException, dest: Path) -> OutputError | None:
    """The one-line :class:`OutputError` naming ``dest`` of a write of it that failed with ``e``: a file-system
    error, or a full disk a writer reports as its own error; ``None`` for any other failure (and for an
    :class:`OutputError`, which names its file already)."""
    if isinstance(e, OutputError) or not isinstance(e, Exception):
        return None
    if isinstance(e, OSError):
        return OutputError(describe_os_error(e, dest))
    if _disk_full(e, dest.parent):
        # writers that report a full disk as their own error (torch.save's "unexpected pos", safetensors'
        # SafetensorError, h5py's RuntimeError from HDF5's metadata flush): the same one line as an OSError's
        return OutputError(describe_os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), dest))
    return None


def _disk_full(e: BaseException, folder: Path) -> bool:
    """Whether error ``e`` of a writer is a full disk: said in its message (errno 28), or the folder's file
    system left with less than 1 MiB after a write failed with a RuntimeError (torch's serialiser names only a
    wrong file position)."""
    text = str(e)
    if "No space left on device" in text or "os error 28" in text:
        return True
    if isinstance(e, RuntimeError):
        import shutil

        with contextlib.suppress(OSError):
            return shutil.disk_usage(folder).free < (1 << 20)
    return False


_TEMP_RE = re.compile(r"^\.(?P<dest>.+)\.[A-Za-z0-9_]{8}\.tmp")


def remove_stale_temporaries(directory: str | os.PathLike, *, name: str | None = None) -> list[str]:
    """Delete the temporary files :func:`atomic_path` left in ``directory`` when its process was killed
    (``kill -9`` mid-write: no ``except`` block runs); returns the names removed.

    Call it while holding :func:`writer_lock` on what is about to be written: the folder (``name=None``: every
    temporary in it) or the one file ``name`` (only that file's temporaries). A temporary whose destination
    file is locked by a live writer is kept: it is being written.
    """
    d = Path(directory)
    removed = []
    if d.is_dir():
        for f in sorted(d.iterdir()):
            m = _TEMP_RE.match(f.name)
            if not m or not f.is_file() or (name is not None and m["dest"] != _stem(name)):
                continue
            if name is None and _held_elsewhere(d / f".{m['dest']}.lock"):
                continue
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
            removed.append(f.name)
    return removed


# --- outputs: never an input, the right kind of path --------------------------------------------------------
def check_output(
    path: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike | None] = (),
    kind: Literal["file", "dir"] = "file",
    writes: Iterable[str] = (),
    option: str = "--out",
    example: str = "out.h5ad",
    profiles: bool | Literal["generated"] = False,
    results: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Refuse an output that would replace an input or cannot be created, before anything is written.

    Parameters
    ----------
    path
        The output file (``kind="file"``) or folder (``kind="dir"``).
    inputs
        Paths the command reads (``None`` and paths that do not exist are skipped). Real paths are compared
        (symbolic links and hard links resolved), so a link to an input is the input.
    writes
        For a folder: the names (files or sub-folders) the command writes inside it; an input there would be
        replaced.
    option
        The option the path came from, for the message.
    profiles
        The output is expression profiles (an .h5ad or a table; for a folder, the files ``writes`` names): an
        existing file there that rnagen did not write (:func:`written_by_rnagen`), a user's own data, is refused
        rather than replaced. ``"generated"`` (synthetic or reconstructed profiles): an existing file must be such
        a set too; the user's real data, prepared by rnagen or not, is refused.
    results
        The output is a results file (a ``kind="file"``), by ending what the command writes first in it: a JSON's
        top-level keys, a table's first header fields. An existing file of that ending without them (a user's
        notes, a data table) is refused rather than replaced; an ending not named is the command's to refuse.
    """
    from .errors import ConfigError
    from .utils import as_path

    out = as_path(path, option, error=ConfigError)
    _check_output_name(path, out, kind=kind, option=option, example=example)
    if out.is_symlink():   # written through (atomic_path): a link to nothing must lead into a folder that exists
        try:
            output_target(out)
        except OutputError as e:
            raise OutputError(f"{option} {e}") from None
    for parent in reversed(out.parents):
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"{option} {out}: {parent} is a file, not a folder; choose another path")
    if kind == "file" and out.is_dir():
        raise OutputError(f"{option} {out} is a folder; give a file path (e.g. {out / example})")
    if kind == "file" and out.exists() and not out.is_file():
        # a device (/dev/null, /dev/stdout's terminal or pipe), a FIFO or a socket: the atomic write would put a
        # regular file in its place, which, for root, replaces /dev/null itself
        link = " (through a symbolic link)" if out.is_symlink() else ""
        raise OutputError(f"{option} {out} is not a regular file{link} but a device, pipe or socket, which the "
                          f"output would replace; give a file path (e.g. {example})")
    if kind == "dir" and out.exists() and not out.is_dir():
        raise OutputError(f"{option} {out} is an existing file; give a folder path")
    real = os.path.realpath(out)
    targets = [real] + [os.path.join(real, w) for w in writes]
    for inp in inputs:
        if inp is None or not os.path.exists(inp):
            continue
        rin = os.path.realpath(inp)
        clash = any(rin == t or rin.startswith(t + os.sep) for t in targets[1:]) or rin == real
        if not clash and kind == "file" and out.exists():
            with contextlib.suppress(OSError):
                clash = os.path.samefile(inp, out)  # a hard link to the input
        if clash:
            raise OutputError(f"{option} {out} would overwrite the input {inp}; choose another output path")
    if profiles:
        files = [out] if kind == "file" else [out / w for w in writes]
        generated = profiles == "generated"
        for f in files:
            if f.is_file() and f.stat().st_size and not written_by_rnagen(f, generated=generated):
                where = f"{option} {out}" + (f": its {f.name}" if kind == "dir" else "")
                what = ("profiles rnagen did not generate (no synthetic or reconstruction record in it: real data?)"
                        if generated else "data rnagen did not write (no rnagen record in it)")
                raise OutputError(f"{where} exists and holds {what}; it would be replaced: choose another path, or "
                                  "delete it first")
    names = (results or {}).get("".join(out.suffixes[-1:]).lower())
    if names is not None and out.is_file() and out.stat().st_size and not _holds_record(out, names):
        raise OutputError(f"{option} {out} exists and is not a result rnagen wrote (it does not begin with "
                          f"{', '.join(names)}); it would be replaced: choose another path, or delete it first")
    return out


def _check_output_name(given: Any, out: Path, *, kind: Literal["file", "dir"], option: str, example: str) -> None:
    """Refuse an output name that cannot mean what it says: a blank one (``Path("")`` is the current folder), a
    file's name ending in a separator (a folder's: ``Path`` drops the ``/`` and would write a file of the folder's
    name), and a ``~`` the shell left unexpanded (``--out=~/x``, or in quotes), which would make a folder named
    ``~`` in the current one."""
    text = given if isinstance(given, str) else None
    if text is not None and not text.strip():
        what = "file" if kind == "file" else "folder"
        raise OutputError(f"{option} is {'empty' if not text else 'blank'} ({text!r}); give a {what} path"
                          + (f" (e.g. {example})" if kind == "file" else ""))
    if text is not None and kind == "file" and text.endswith(("/", os.sep)):
        raise OutputError(f"{option} {text} ends in {text[-1]}, as a folder's name does; give a file path (e.g. "
                          f"{text}{example})")
    first = out.parts[0] if out.parts else ""
    if first.startswith("~") and os.path.expanduser(first) != first and not Path(first).exists():
        raise OutputError(f"{option} {out} begins with {first}, which the shell did not expand to a home folder (it "
                          f"does not after '=' or in quotes); give the full path, or write {option} {out} with a "
                          "space and no quotes")


def _holds_record(path: Path, names: Sequence[str]) -> bool:
    """Whether the results file ``path`` holds ``names``: a JSON object's keys, a table's first header fields, or,
    for an HTML page, the ``<meta name="generator">`` its head names (``("rnagen",)``: a page rnagen wrote)."""
    try:
        if path.suffix.lower() in (".html", ".htm"):
            with open(path, encoding="utf-8", errors="replace") as fh:
                head = fh.read(4096)
            found = re.search(r'<meta\s+name="generator"\s+content="([^"\s]*)', head)
            return found is not None and found.group(1) in names
        if path.suffix.lower() == ".json":
            with open(path, encoding="utf-8") as fh:
                obj = json.load(fh)
            return isinstance(obj, dict) and all(n in obj for n in names)
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.readline().rstrip("\r\n")
    except (OSError, ValueError):
        return False
    fields = [f.strip().strip('"') for f in re.split(r"[,\t]", head)]
    return fields[:len(names)] == list(names)


#: the name of every synthetic profile (``syn_000000``, ...): how a table of them is told from real data
SYNTHETIC_PREFIX = "syn_"


def written_by_rnagen(path: Path, *, generated: bool = False) -> bool:
    """Whether the profiles file ``path`` may be one rnagen wrote: an .h5ad with its ``uns["rnagen"]`` record; a
    table whose first column is the ``sample`` column :func:`write_profiles` puts first (a user's table of that
    layout is not told apart: re-running a command into its own output must work); a GCT file (no such column
    either) whose first sample is named as synthetic profiles are (``syn_...``).

    ``generated``: one rnagen generated (synthetic or reconstructed profiles), not real data it prepared: an
    .h5ad or a parquet file whose record holds the synthetic set's entry or a reconstruction step; a table or GCT
    file whose first profile is named as synthetic profiles are (``syn_...``), or a GCT file whose row metadata marks
    each gene reconstructed or not, as reconstruct apply writes it (a reconstructed text table of real profiles is
    not told from the user's own and is refused)."""
    name = path.name.lower()
    try:
        if name.endswith(".h5ad"):
            import h5py

            with h5py.File(path, "r") as f:
                if "uns" not in f or "rnagen" not in f["uns"]:
                    return False
                if not generated:
                    return True
                rec = f["uns/rnagen"]
                return _names_a_generated_set(rec, rec["history"].keys() if "history" in rec else ())
        if name.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            if not names or names[0] not in ("sample", "sample_id"):
                return False
            if not generated:
                return True
            from .pp.history import TABLE_RECORD_KEY, parse_table_record

            raw = (pq.read_schema(path).metadata or {}).get(TABLE_RECORD_KEY)
            rec = parse_table_record(raw)[0] if raw else None
            if rec is not None and _names_a_generated_set(rec, rec.get("history") or {}):
                return True
            first = pq.ParquetFile(path).read_row_group(0, columns=[names[0]]).column(0)
            return len(first) > 0 and str(first[0]).startswith(SYNTHETIC_PREFIX)
        import gzip

        gct = name.endswith(GCT_ENDINGS)
        with (gzip.open(path, "rt", encoding="utf-8") if name.endswith(".gz") else
              open(path, encoding="utf-8")) as fh:
            header, row = fh.readline(), fh.readline()
            if gct:   # the version line, the dimension line, then the header naming the samples
                version, dims, header = header.strip(), row.split(), fh.readline()
                gene_row = ""
                if version == "#1.3" and len(dims) == 4:   # the first gene's line, after the column metadata
                    for _ in range(int(dims[3]) + 1):
                        gene_row = fh.readline()
        if gct:
            # the first sample follows the id and the row-metadata fields (one in GCT 1.2, as many as 1.3 says)
            first = (1 if version == "#1.2" else int(dims[2]) if version == "#1.3" else 0) + 1
            fields = header.split("\t")
            if first > 1 and len(fields) > first and fields[first].startswith(SYNTHETIC_PREFIX):
                return True
            # reconstruct apply's output of profiles not named as synthetic ones: its row metadata marks each gene
            # reconstructed or not (True / False), which a user's GCT file does not
            values = gene_row.rstrip("\n").split("\t")
            return (first > 1 and "reconstructed" in fields[1:first] and len(values) > first
                    and values[fields.index("reconstructed")] in ("True", "False"))
        if re.split(r"[,\t]", header, maxsplit=1)[0].strip().strip('"') not in ("sample", "sample_id"):
            return False
        return not generated or re.split(r"[,\t]", row, maxsplit=1)[0].strip().strip('"').startswith(
            SYNTHETIC_PREFIX)
    except Exception:  # noqa: BLE001 - unreadable as what its name says: not an output of rnagen's
        return False


def _names_a_generated_set(entries: Any, steps: Any) -> bool:
    """Whether a record's ``entries`` (``uns["rnagen"]``'s keys) and history ``steps`` (their keys) are a generated
    set's: the synthetic set's entry, or a reconstruction step."""
    return "synthetic" in entries or any(str(k).endswith("_reconstruct") for k in steps)


# --- one writer at a time -----------------------------------------------------------------------------------
LOCK_NAME = ".rnagen.lock"
_HELD: dict[str, int] = {}  # lock files this process holds -> nesting depth (re-entrant within a process)


def lock_path(target: str | os.PathLike, *, kind: Literal["file", "dir"] = "dir") -> Path:
    """The lock file guarding ``target``: ``TARGET/.rnagen.lock`` for a folder, ``.NAME.lock`` next to a file.

    Of the real path (symbolic links followed, :func:`output_target`): every name of one output, a link to it
    or the path through a linked folder, has the one lock, so two commands that write it are kept apart."""
    t = Path(os.path.realpath(output_target(target)))
    return t / LOCK_NAME if kind == "dir" else t.parent / f".{_stem(t.name)}.lock"


def lock_holder(target: str | os.PathLike, *, kind: Literal["file", "dir"] = "dir") -> str | None:
    """The process id (as written in the lock file) of a live process writing ``target``, else ``None``."""
    lf = lock_path(target, kind=kind)
    if not _held_elsewhere(lf):
        return None
    try:
        return lf.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def held_here(target: str | os.PathLike, *, kind: Literal["file", "dir"] = "dir") -> bool:
    """Whether this process holds the write lock of ``target`` (:func:`writer_lock`)."""
    return str(lock_path(target, kind=kind)) in _HELD


def _held_elsewhere(lock_file: Path) -> bool:
    """Whether another live process holds ``lock_file`` (never blocks)."""
    if str(lock_file) in _HELD:
        return True
    if fcntl is None:
        return False
    try:
        fd = os.open(lock_file, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS}


class WriterBusy(OutputError):
    """A write lock another live process holds (:func:`writer_lock`): ``target`` as given, and ``holder``, the
    process id its lock file names (``"unknown"`` where it names none yet)."""

    def __init__(self, target: Path, holder: str):
        super().__init__(f"{target} is being written by another rnagen process (pid {holder}); wait for it to "
                         "finish, or write to another path")
        self.target, self.holder = target, holder

    def __reduce__(self):   # rebuilt from its fields (an error sent back from a worker process is pickled)
        return type(self), (self.target, self.holder)


def _acquire(lock_file: Path, target: Path) -> int:
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is None:  # no flock on this platform: write unguarded
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in _NO_LOCKS:  # a file system without locks (some network mounts): write unguarded
                return fd
            if not isinstance(e, BlockingIOError):
                os.close(fd)
                raise
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                holder = os.read(fd, 32).decode().strip()
            os.close(fd)
            raise WriterBusy(target, holder or "unknown") from None
        # the previous holder removes the lock file when it is done: make sure we locked the file now at the path
        try:
            same = os.stat(lock_file).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError:
                # a full disk has no room for the process id: the lock file is not left behind, nor its lock held
                with contextlib.suppress(OSError):
                    os.unlink(lock_file)
                os.close(fd)
                raise
            return fd
        os.close(fd)


@contextlib.contextmanager
def writer_lock(target: str | os.PathLike, *, kind: Literal["file", "dir"] = "dir") -> Iterator[Path]:
    """Hold the exclusive write lock of a folder or file while the block runs.

    A second writer gets :class:`WriterBusy` (an :class:`rnagen.errors.OutputError`) naming the holder's process
    id, at once (:func:`waiting_for_writer` waits for the holder instead). The lock is an
    ``fcntl.flock`` on :func:`lock_path`, so the kernel releases it when the holder dies; the lock file is
    removed on release. Folders created to hold the lock are removed again if the block fails and left them
    empty. Re-entrant within one process.
    """
    target = Path(target)
    created: list[Path] = []
    lf = lock_path(target, kind=kind)
    key = str(lf)
    if key not in _HELD:
        # by the path as given, where a symbolic link to nothing on the way may lead only into a folder that exists
        created = make_folders(target if kind == "dir" else target.parent)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield target
        finally:
            _HELD[key] -= 1
        return
    try:
        fd = _acquire(lf, target)
    except OSError as e:
        for d in reversed(created):
            with contextlib.suppress(OSError):
                d.rmdir()
        if isinstance(e, OutputError):
            raise
        raise OutputError(describe_os_error(e, target)) from None
    _HELD[key] = 1
    ok = False
    try:
        yield target
        ok = True
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            os.unlink(lf)  # while still holding it: a waiting opener re-checks the path (see _acquire)
        os.close(fd)
        if not ok:
            for d in reversed(created):
                with contextlib.suppress(OSError):
                    d.rmdir()


#: how often a command waiting for another process's write lock (:func:`waiting_for_writer`) tries it again
LOCK_POLL = 0.2

_T = TypeVar("_T")


@contextlib.contextmanager
def waiting_for_writer(enter: Callable[[], AbstractContextManager[_T]], *, wait: float, hint: str,
                       doing: str = "written", label: str | None = None) -> Iterator[_T]:
    """Enter ``enter()``, a block that takes write locks (:func:`writer_lock`, :func:`claim_output`), and stay in it
    while the block runs. While another process holds one of its locks (:class:`WriterBusy`), wait for it up to
    ``wait`` seconds, saying so once on stderr (naming ``label``, else the path refused), and enter again; past the
    wait refuse in one line naming the process, followed by ``hint``.

    For a second command that would do what the first does (download one file, write one pair of views): it waits
    and does its part after the first, never beside it (two writers of one file corrupt it). A refused entry lets go
    of the locks it had taken before it waits: two processes entering blocks of the same locks in different orders
    (views that are links into each other's folders) do not each hold what the other waits for."""
    import sys
    import time

    deadline = time.monotonic() + wait
    said = False
    with contextlib.ExitStack() as held:
        while True:
            try:
                value = held.enter_context(enter())
                break
            except WriterBusy as e:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise OutputError(f"{e.target} is still being {doing} by another rnagen process (pid {e.holder}) "
                                      f"after {wait:g} s of waiting; {hint}") from None
                if not said:
                    print(f"rnagen: {label or e.target} is being {doing} by another rnagen process (pid {e.holder}); "
                          f"waiting for it to finish (up to {wait:g} s)", file=sys.stderr, flush=True)
                    said = True
                time.sleep(min(LOCK_POLL, left))
        yield value


@contextlib.contextmanager
def claim_output(
    path: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike | None] = (),
    kind: Literal["file", "dir"] = "file",
    writes: Iterable[str] = (),
    option: str = "--out",
    example: str = "out.h5ad",
    profiles: bool | Literal["generated"] = False,
    results: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[Path]:
    """:func:`check_output`, then hold :func:`writer_lock` on the output and remove the temporaries a killed
    writer left there: what every command that writes runs around its work.

    A folder's ``writes`` are locked too, each as the file it is: a command that writes ``D/train.h5ad`` as its
    ``--out`` takes that file's lock, not the folder's, and is kept apart from one writing the folder ``D`` by
    it (whichever comes second is refused)."""
    def check() -> Path:
        return check_output(path, inputs=inputs, kind=kind, writes=writes, option=option, example=example,
                            profiles=profiles, results=results)

    out = check()   # before anything is made for the lock
    with writer_lock(out, kind=kind), contextlib.ExitStack() as files:
        if kind == "dir":
            remove_stale_temporaries(out)
            for name in writes:   # after the clean-up, which keeps the temporaries of a file whose lock is held
                files.enter_context(writer_lock(out / name, kind="file"))
            # files a killed command was replacing together get their old ones back before any is written anew
            settle_replacements(out)
        else:   # beside the file written, a symbolic link's target (see atomic_path)
            final = output_target(out)
            for folder in sorted({out.parent, final.parent}):
                settle_replacements(folder)
            remove_stale_temporaries(final.parent, name=final.name)
        # checked again under the locks: what another writer holding them wrote in the meantime (data split putting
        # real profiles where sample writes) is seen before anything is replaced
        check()
        yield out


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def file_digests(folder: str | os.PathLike) -> dict[str, str]:
    """The SHA-256 of every file directly under ``folder``, by name (empty where there is no folder); not of the
    temporaries :func:`atomic_path` writes, which are no file of the folder's own."""
    import hashlib

    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())
            if f.is_file() and not _TEMP_RE.match(f.name)}


def json_text(obj: Any) -> str:
    """``obj`` as the indented JSON :func:`write_json` writes (NumPy scalars and arrays converted)."""
    return json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n"


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (NumPy scalars and arrays are converted)."""
    return write_text(path, json_text(obj))


def write_h5ad(adata: Any, path: str | os.PathLike, *, compression: str | None = "gzip") -> Path:
    """Write an AnnData object to ``.h5ad`` atomically."""
    write_h5ads([(adata, path)], compression=compression)
    return Path(path)


def write_h5ads(items: Sequence[tuple[Any, str | os.PathLike]], *, compression: str | None = "gzip") -> None:
    """Write each ``(AnnData, path)`` of ``items`` to its ``.h5ad`` atomically, every file written before any
    replaces its old one, and all replacing them together (:func:`atomic_paths`: a train/test pair is never one of
    two splits, even after a kill); a write that fails names its own file, and no file is replaced."""
    import io
    import sys

    with atomic_paths([path for _, path in items], suffix=".h5ad") as tmps:
        for (adata, path), tmp in zip(items, tmps):
            # a failing write (a full disk) has h5py print a traceback for each object id it cannot release,
            # dozens before the write's own error: what the write prints is held back and shown only if it succeeds
            held = io.StringIO()
            try:
                with contextlib.redirect_stderr(held):
                    adata.write_h5ad(tmp, compression=compression)
            except BaseException as e:
                FAILED_HDF5_WRITES.append(Path(path))
                # named here: atomic_paths, which the error leaves through, would name the last of the files
                refused = _write_refused(e, settled_path(Path(path)))
                if refused is not None:
                    raise refused from None
                raise
            sys.stderr.write(held.getvalue())


#: .h5ad writes that failed in this process. HDF5 keeps ids of such a file (a full disk, say) whose release, when
#: they are collected or at exit, writes to it again and can end the process with a segmentation fault after the
#: command's one-line message; the command line leaves without that clean-up when this is not empty
#: (:func:`rnagen.cli.main.main`)
FAILED_HDF5_WRITES: list[Path] = []


#: the tables a command's product (synthetic or reconstructed profiles) can be written as, by the file's ending
TABLE_ENDINGS = {".csv": ",", ".csv.gz": ",", ".tsv": "\t", ".tsv.gz": "\t", ".txt": "\t", ".txt.gz": "\t",
                 ".tab": "\t", ".parquet": ""}
#: endings of other formats, which an .h5ad written under that name would pass for
OTHER_FORMAT_ENDINGS = (".xlsx", ".xls", ".ods", ".rds", ".rdata", ".rda", ".json", ".gct", ".gctx", ".loom", ".h5",
                        ".hdf5", ".zarr", ".feather", ".npz", ".npy", ".pkl", ".pickle", ".mtx", ".zip", ".tar", ".tgz",
                        ".gz", ".bz2", ".xz", ".parquet", ".pq", ".csv", ".tsv", ".txt", ".tab")


#: the endings of a GCT file (the Broad's genes x samples text format of GenePattern and CMap's L1000 data), which a
#: command's product can be written as too (:func:`write_gct_rows`)
GCT_ENDINGS = (".gct", ".gct.gz")


#: what writes profiles (an .h5ad or a table) says of its ``--out`` (:func:`output_ending`)
PROFILES = ((".h5ad", *TABLE_ENDINGS, *GCT_ENDINGS), "this command writes an .h5ad or a table (.csv, .tsv, .txt or "
            "GCT's .gct, optionally .gz, or .parquet)")


def output_ending(path: str | os.PathLike, endings: Sequence[str], made: str, *, option: str = "--out") -> str:
    """The ending of ``path`` among ``endings`` (a name without a format's ending: the first); a name ending in
    another format's suffix (:data:`OTHER_FORMAT_ENDINGS`) is refused, saying what the command writes (``made``)
    and the name to give (an .h5ad written as ``x.csv`` is a binary file a spreadsheet or R cannot read)."""
    name = Path(path).name
    if str(path).strip() == "-":   # the usual name of standard output, which these files are not written to
        raise OutputError(f"{option} -: {made}, to a file, not to standard output; give a file name (e.g. "
                          f"out{endings[0]})")
    for ending in sorted(endings, key=len, reverse=True):
        if name.lower().endswith(ending):
            return ending
    if name.lower().endswith((*OTHER_FORMAT_ENDINGS, ".h5ad")):   # .h5ad: where a command writes no profiles
        stem = name.split(".")[0] or "out"
        names = [stem + endings[0]] + ([stem + ".csv"] if ".csv" in endings[1:] else [])
        raise OutputError(f"{option} {name}: {made}; name the file {' or '.join(names)}")
    return endings[0]


#: values a table output (:func:`write_profiles`) formats at once: a block of profiles, which with its text (pandas
#: makes a Python string of each value) is what the write holds beside the profiles
TABLE_BLOCK_VALUES = 1 << 18


def write_profiles(adata: Any, path: str | os.PathLike) -> Path:
    """Write profiles atomically as the ending of ``path`` says (:func:`output_ending`, :data:`PROFILES`): an
    ``.h5ad``, or a table of one row per profile, its id first (``sample``), then its ``obs`` columns (the
    labels), then one column per gene (a text table written a block of :data:`TABLE_BLOCK_VALUES` values at a
    time), or a GCT file, genes x samples (:func:`_write_profiles_gct`). A parquet file keeps the record
    (``uns["rnagen"]``: the log state, the model, seed and privacy record of synthetic profiles) in its metadata
    (:func:`_write_parquet`); a text table or GCT file keeps no ``uns``."""
    ending = output_ending(path, *PROFILES)
    if ending == ".h5ad":
        return write_h5ad(adata, path)
    if ending in GCT_ENDINGS:
        return _write_profiles_gct(adata, path)
    import pandas as pd

    genes = pd.Index(adata.var_names.astype(str))
    names = set(genes)
    clash = [c for c in adata.obs.columns if c in names]
    if clash:
        raise OutputError(f"{Path(path).name}: column {clash[0]!r} names a gene and a sample annotation; write an "
                          ".h5ad")
    id_column = "sample" if "sample" not in adata.obs.columns else "sample_id"
    ids = np.asarray(list(map(str, adata.obs_names)), dtype=object)
    step = max(1, TABLE_BLOCK_VALUES // max(1, adata.n_vars))

    def blocks() -> Iterator[pd.DataFrame]:
        """The table a block of profiles at a time: its id, its ``obs`` columns, then its genes' values."""
        for a in range(0, max(adata.n_obs, 1), step):
            rows = adata.X[a:a + step]
            X = rows.toarray() if hasattr(rows, "toarray") else np.asarray(rows)
            block = pd.concat([adata.obs.iloc[a:a + step].reset_index(drop=True), pd.DataFrame(X, columns=genes)],
                              axis=1)
            block.insert(0, id_column, ids[a:a + step])
            yield block

    suffix = ".parquet" if ending == ".parquet" else ".gz" if ending.endswith(".gz") else Path(path).suffix
    with atomic_path(path, suffix=suffix) as tmp:
        if ending == ".parquet":
            _write_parquet(pd.concat(list(blocks()), ignore_index=True), tmp, adata)
        else:
            sep = TABLE_ENDINGS[ending]
            with contextlib.ExitStack() as stack:
                if ending.endswith(".gz"):
                    import gzip

                    # the gzip header names the file as it will be called, not the temporary
                    raw = stack.enter_context(open(tmp, "wb"))
                    gz = stack.enter_context(gzip.GzipFile(filename=Path(path).name[:-3], mode="wb", fileobj=raw))
                    fh = stack.enter_context(io_text(gz))
                else:
                    fh = stack.enter_context(open(tmp, "w", encoding="utf-8", newline=""))
                for k, block in enumerate(blocks()):
                    block.to_csv(fh, sep=sep, index=False, header=k == 0, lineterminator="\n")
    return Path(path)


def _write_parquet(df: Any, path: Path, adata: Any) -> None:
    """``df`` as one parquet table (its schema, a label column's categories and a column of missing values, is the
    whole set's), as ``df.to_parquet(path, index=False)`` writes it, with ``adata``'s record (``uns["rnagen"]``:
    the values' log state, the depth normalisation, the model, seed and privacy record) as JSON in the schema's
    key-value metadata (:data:`rnagen.pp.history.TABLE_RECORD_KEY`), which the parquet format keeps in the file's
    footer and rnagen's reader takes back (:func:`rnagen.pp.history.adopt_table_record`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .pp.history import TABLE_RECORD_KEY, table_record

    table = pa.Table.from_pandas(df, preserve_index=False)
    rec = table_record(adata)
    if rec is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), TABLE_RECORD_KEY: rec})
    pq.write_table(table, path)


def _write_profiles_gct(adata: Any, path: str | os.PathLike) -> Path:
    """Write profiles as a GCT file (:func:`write_gct_rows`): a line per gene. GCT 1.3 where the profiles carry
    annotations beyond the genes' symbols: each ``var`` column (symbol, Ensembl and Entrez ids, landmark marks,
    ``reconstructed``) a row-metadata column (:func:`gct_row_meta`), each ``obs`` column (the labels, the
    annotations a CSV holds as columns) a column-metadata line; else GCT 1.2, the genes' ``var["symbol"]`` as
    the Description where it has one."""
    var_cols = [str(c) for c in adata.var.columns]
    meta = {str(c): adata.obs[c].astype(str).tolist() for c in adata.obs.columns}
    if meta or var_cols not in ([], ["symbol"]):
        return write_gct_rows(path, adata.X, genes=adata.var_names.astype(str).tolist(),
                              samples=adata.obs_names.astype(str).tolist(), col_meta=meta,
                              row_meta=gct_row_meta(adata.var) if var_cols else None, version="1.3")
    symbols = adata.var["symbol"] if var_cols else None
    return write_gct_rows(path, adata.X, genes=adata.var_names.astype(str).tolist(),
                          samples=adata.obs_names.astype(str).tolist(),
                          descriptions=None if symbols is None else symbols.astype(str).tolist())


#: how GCT row metadata spells a missing value: CMap's ``na`` (cmapPy's parse_gct reads it, and ``NA``, ``nan``,
#: ``None``, ``#N/A``... as missing, :data:`rnagen.data.io.GCT_MISSING`)
GCT_NA = "na"


def gct_row_meta(var: Any) -> dict[str, tuple[str, Any]]:
    """The columns of ``var`` (a DataFrame of gene annotations) as GCT 1.3 row metadata for
    :func:`write_gct_rows`: each column's kind and values, formatted a block of genes at a time as
    :func:`_gct_meta_fields` says, so that :func:`rnagen.data.io.read` gives the same column back (its types as
    an ``.h5ad`` keeps them: ``bool``, ``int64``, ``float64``, pandas' nullable ``boolean`` and ``Int64`` where
    values are missing; text as text, ``na`` for a missing value). What the text cannot tell comes back as the
    reader's rules say (:func:`rnagen.data.io._gct_typed`): float32 values as the same numbers in float64, a
    categorical column as its values' text, whole numbers in a column whose name ends in ``id`` as text, a text
    value that is one of GCT's missing-value marks (``na``, ``NA``, ``nan``, ``None``, ...:
    :data:`rnagen.data.io.GCT_MISSING`) as missing: GCT has no quoting to tell the text ``na`` from CMap's mark,
    cmapPy's ``parse_gct`` reads them as missing too, and rnagen reads such marks as no label in every file."""
    import pandas as pd

    out: dict[str, tuple[str, Any]] = {}
    for c in var.columns:
        col = var[c]
        dt = col.dtype
        # NumPy's own booleans and integers as they are; pandas' nullable ones (pd.NA where missing) as objects
        values = col.to_numpy() if isinstance(dt, np.dtype) and dt.kind != "O" else np.asarray(col.astype(object))
        if isinstance(dt, pd.CategoricalDtype):
            kind, values = "text", np.asarray(col.astype(object))
        elif pd.api.types.is_bool_dtype(dt):
            kind = "bool"
        elif pd.api.types.is_integer_dtype(dt):
            kind = "int"
        elif pd.api.types.is_float_dtype(dt):
            kind, values = "float", col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:   # text
            kind, values = "text", np.asarray(col.astype(object))
        out[str(c)] = (kind, values)
    return out


def _gct_meta_fields(kind: str, values: Any) -> list[str]:
    """One block of a row-metadata column's fields: booleans ``True``/``False``, integers in decimal, floats as
    Python's shortest text that reads back as the same float64 (``repr``: ``1.0``, ``2.5e-08``, ``inf``), text
    as it is; a missing value :data:`GCT_NA`."""
    import pandas as pd

    if kind == "float":
        return [GCT_NA if v != v else repr(float(v)) for v in values.tolist()]
    if kind == "bool":
        return [GCT_NA if v is None or v is pd.NA else str(bool(v)) for v in values]
    if kind == "int":
        return [GCT_NA if v is None or v is pd.NA else str(int(v)) for v in values]
    return [GCT_NA if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v) for v in values]


#: values formatted at once in :func:`write_gct_rows`: the block of genes whose lines are made from one contiguous
#: copy, which with one line's text is what the write holds beside the matrix
GCT_BLOCK_VALUES = 1 << 20

#: what a GCT field cannot hold: its fields are tab-separated and its records lines, without quoting
_GCT_BREAKS = re.compile(r"[\t\r\n]")


def _gct_fields_check(name: str, what: str, values: Sequence[str]) -> None:
    """Refuse a field a GCT file cannot hold, naming the first and the way out: a tab or a line break in it, or a
    double quote opening it, which the readers built on pandas (rnagen's, cmapPy's ``parse_gct``) take for the
    opening of a quoted field (``"a"b`` reads back as ``ab``) and a reader splitting lines at tabs keeps as
    written: no way of writing it reads back the same in both."""
    for v in values:
        if _GCT_BREAKS.search(v):
            raise OutputError(f"{name}: the {what} {v[:40]!r} holds a tab or a line break, which a GCT file (tab-"
                              "separated lines, no quoting) cannot hold; rename it, or write a .csv or an .h5ad")
        if v.startswith('"'):
            raise OutputError(f"{name}: the {what} {v[:40]!r} begins with a double quote, which GCT readers built "
                              "on pandas (rnagen's, cmapPy's) take for quoting and drop; rename it, or write a .csv "
                              "or an .h5ad")


def write_gct_rows(path: str | os.PathLike, X: Any, *, genes: Sequence[str], samples: Sequence[str],
                   descriptions: Sequence[str] | None = None, col_meta: Mapping[str, Sequence[str]] | None = None,
                   row_meta: Mapping[str, tuple[str, Any]] | None = None,
                   version: Literal["1.2", "1.3"] = "1.2") -> Path:
    """Write the samples x genes matrix ``X`` (dense or sparse) as a GCT file, genes x samples, atomically; a
    name ending in ``.gz`` is gzipped.

    GCT (https://software.broadinstitute.org/cancer/software/gsea/wiki/index.php/Data_formats#GCT): ``#1.2``,
    the numbers of genes and samples, a header ``Name``, ``Description``, the sample ids, then a line per gene:
    its id, its description, its values. ``#1.3`` adds the numbers of row- and column-metadata fields to the
    dimension line, names the id column ``id`` and puts a line per column-metadata field (``col_meta``: its
    name, ``na`` under each row-metadata column, a value per sample) between the header and the genes. GCT 1.3's
    row-metadata columns (https://clue.io/connectopedia/gct_format: any number of them, between the id and the
    samples, the dimension line's third number) are ``row_meta``'s (:func:`gct_row_meta`: a gene annotation
    each, named in the header) where it has any, else the one Description. A description that is empty or
    ``nan`` is written ``na``.

    The lines are written a block of genes at a time (:data:`GCT_BLOCK_VALUES` values, at least one gene), each
    block a contiguous copy of those genes' columns: beside ``X`` the write holds that block and one line's text,
    never the file's. Values are written with 9 significant digits (``%.9g``), which read back as the same
    float32."""
    import gzip

    dest = Path(path)
    meta = {str(k): [str(v) for v in vals] for k, vals in (col_meta or {}).items()}
    rmeta = dict(row_meta or {})
    if meta and version != "1.3":
        raise OutputError(f"{dest.name}: column metadata needs GCT version 1.3")
    if rmeta and (version != "1.3" or descriptions is not None):
        raise ValueError("write_gct_rows: row metadata needs GCT version 1.3, and takes the Description's place")
    n, g = X.shape
    if len(genes) != g or len(samples) != n or (descriptions is not None and len(descriptions) != g) or any(
            len(v) != n for v in meta.values()) or any(len(v) != g for _, v in rmeta.values()):
        raise ValueError(f"write_gct_rows: {len(genes)} genes, {len(samples)} samples and their annotations for "
                         f"a {n} x {g} matrix")
    desc = ["na"] * g if descriptions is None else [
        "na" if str(d) in ("", "nan", "None") else str(d) for d in descriptions]
    for what, values in (("gene id", genes), ("gene description", desc), ("sample id", samples),
                         ("sample annotation name", list(meta))):
        _gct_fields_check(dest.name, what, [str(v) for v in values])
    for k, vals in meta.items():
        _gct_fields_check(dest.name, f"sample annotation {k!r} value", vals)
    step = max(1, GCT_BLOCK_VALUES // max(1, n))   # genes a block
    _gct_fields_check(dest.name, "gene annotation name", list(rmeta))
    for k, (kind, vals) in rmeta.items():
        if kind == "text":   # checked a block of genes at a time, all before anything is written
            for a in range(0, g, step):
                _gct_fields_check(dest.name, f"gene annotation {k!r} value", _gct_meta_fields(kind, vals[a:a + step]))
    names = list(rmeta) or ["Description"]
    if version == "1.2":
        head = f"#1.2\n{g}\t{n}\nName\tDescription\t" + "\t".join(map(str, samples)) + "\n"
    else:
        fill = "\tna" * len(names)
        head = (f"#1.3\n{g}\t{n}\t{len(names)}\t{len(meta)}\nid\t" + "\t".join(names + list(map(str, samples)))
                + "\n" + "".join(f"{k}{fill}\t" + "\t".join(vals) + "\n" for k, vals in meta.items()))
    if hasattr(X, "tocsc"):   # a sparse matrix: its columns (the genes) sliced from the compressed-column form
        X = X.tocsc()
    line = "%s\t%s\t" + "\t".join(["%.9g"] * n) + "\n"
    with atomic_path(dest) as tmp, open(tmp, "wb") as raw, (
            # the gzip header names the file as it will be called, not the temporary
            gzip.GzipFile(filename=dest.name[:-3], mode="wb", fileobj=raw, compresslevel=6)
            if dest.name.lower().endswith(".gz") else contextlib.nullcontext(raw)) as out:
        out.write(head.encode("utf-8"))
        for start in range(0, g, step):
            block = X[:, start:start + step]
            rows = np.ascontiguousarray((block.toarray() if hasattr(block, "toarray") else block).T)
            fields = [_gct_meta_fields(kind, vals[start:start + step]) for kind, vals in rmeta.values()]
            for i, values in enumerate(rows, start):
                ann = "\t".join(f[i - start] for f in fields) if fields else desc[i]
                out.write((line % (genes[i], ann, *values.tolist())).encode("utf-8"))
    return dest


def io_text(binary: Any) -> Any:
    """A UTF-8 text stream over a binary one, detached (not closed) on leaving, with Unix line ends."""
    import io

    @contextlib.contextmanager
    def _wrapped():
        fh = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        try:
            yield fh
        finally:
            fh.flush()
            fh.detach()

    return _wrapped()


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write NumPy arrays to ``.npz`` atomically (no pickles: read back with ``allow_pickle=False``)."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            # numpy's stub types savez's keywords as arrays plus ``allow_pickle: bool``; mypy checks ``**arrays``
            # against that bool too, though every name here is an array's
            np.savez(fh, **arrays)  # type: ignore[arg-type]
    return Path(path)
