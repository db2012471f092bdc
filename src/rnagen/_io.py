"""Atomic file writes: nothing already written is lost or half-written.

Every file rnagen writes goes through :func:`atomic_path`: the content is written to a temporary file in the
same directory and moved over the destination with :func:`os.replace`, which is atomic on POSIX and Windows.
An interrupted run leaves either the old file or the new one, never a truncated one.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


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
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if suffix is None:
        suffix = "".join(dest.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".tmp{suffix}", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


_TEMP_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp")


def remove_stale_temporaries(directory: str | os.PathLike) -> list[str]:
    """Delete the temporary files :func:`atomic_path` left in ``directory`` when its process was killed
    (``kill -9`` mid-write: no ``except`` block runs). Call it before a process starts writing into a folder
    it owns (e.g. a run folder being resumed); returns the names removed."""
    d = Path(directory)
    removed = []
    if d.is_dir():
        for f in d.iterdir():
            if f.is_file() and _TEMP_RE.match(f.name):
                with contextlib.suppress(FileNotFoundError):
                    f.unlink()
                removed.append(f.name)
    return removed


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


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (NumPy scalars and arrays are converted)."""
    return write_text(path, json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n")


def write_h5ad(adata: Any, path: str | os.PathLike, *, compression: str | None = "gzip") -> Path:
    """Write an AnnData object to ``.h5ad`` atomically."""
    with atomic_path(path, suffix=".h5ad") as tmp:
        adata.write_h5ad(tmp, compression=compression)
    return Path(path)


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write NumPy arrays to ``.npz`` atomically (no pickles: read back with ``allow_pickle=False``)."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return Path(path)
