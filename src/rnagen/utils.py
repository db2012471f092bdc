"""Small shared helpers: device choice, an explicit random generator, the machine's memory."""
from __future__ import annotations

import contextlib
import contextvars
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import ConfigError, DataError, RnagenError

DeviceName = Literal["auto", "cpu", "cuda"] | str


_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def label_text(value) -> str:
    """A class label as the text every part of rnagen compares: ``str(value)`` in Unicode normal form C.

    The composed and decomposed forms of one text (``Café`` typed on Linux, ``Cafe\u0301`` as macOS file names and
    some exports write it) are canonically equivalent (Unicode Standard Annex #15): they display alike and mean
    the same class, so a data set holding both is one class, and a label written in either form finds it.
    """
    return unicodedata.normalize("NFC", str(value))


def one_line(text) -> str:
    """``text`` for one cell of a printed table: its control characters (a line break or a tab inside a class
    name) written as escapes, ``\\n``, ``\\t``, which would otherwise break the table's lines and columns."""
    text = str(text)
    if all(unicodedata.category(c) != "Cc" for c in text):
        return text
    return "".join(c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) == "Cc" else c
                   for c in text)


def display_width(text: str) -> int:
    """The columns ``text`` takes in a terminal: two for a wide or full-width character (CJK ideographs, full-width
    forms: Unicode's East Asian Width W and F), none for a combining mark, one for the others; a printed table pads
    its cells by this, not by ``len``, so a column of class names in Chinese or Japanese stays aligned."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad_to(text: str, width: int) -> str:
    """``text`` padded with spaces on the right to ``width`` display columns (:func:`display_width`)."""
    return text + " " * max(0, width - display_width(text))


def number_text(label: str) -> str:
    """A numeric label as one text whatever its type was (``"1.0"`` and ``"1"``: ``"1"``); others as they are."""
    try:
        x = float(label)
    except ValueError:
        return label
    return str(int(x)) if x.is_integer() and abs(x) < 2 ** 53 else repr(x)


def numeric_label_aliases(values, known) -> dict[str, str]:
    """``{value: class}`` for each of ``values`` (label texts) that is no class of ``known`` but names the same
    number as exactly one of them (``1.0`` for ``1``, as a float column, a spreadsheet or another file format
    writes a numeric class): that class. A value is left out where that class is among ``values`` too, since two
    classes of one set are never merged."""
    known = list(dict.fromkeys(known))
    have, mine = set(known), set(values)
    by_number: dict[str, list[str]] = {}
    for lab in known:
        by_number.setdefault(number_text(lab), []).append(lab)
    out = {}
    for v in mine - have:
        same = by_number.get(number_text(v), [])
        if len(same) == 1 and same[0] not in mine:
            out[v] = same[0]
    return out


#: how to get an AnnData, for the errors of functions that take one
ANNDATA_FIX = "read a file with rnagen.data.read, or build one with anndata.AnnData(X, obs=...)"


def require_anndata(obj: Any, what: str) -> None:
    """Raise :class:`DataError` unless ``obj`` is an AnnData (anything with ``X``, ``obs`` and ``var_names``):
    an array, a DataFrame or a path given where the API takes an AnnData would otherwise fail deep inside with
    Python's own error. ``what`` names the argument in the message (``"split"``, ``"the training data"``)."""
    if not all(hasattr(obj, a) for a in ("X", "obs", "var_names")):
        raise DataError(f"{what}: give an AnnData (samples x genes), not {type(obj).__name__}; "
                        f"{ANNDATA_FIX}")


def check_label_key(label_key: Any) -> None:
    """Raise :class:`DataError` unless ``label_key`` could name an ``obs`` column (a ``str``): a list or ``None``
    fails in pandas' lookup (unhashable type) or reads as a missing column named ``None``."""
    if not isinstance(label_key, str):
        raise DataError(f"label_key must be the name of a sample (obs) column, a str, not {label_key!r:.60}")


def as_path(value: Any, what: str, *, error: type[RnagenError] = DataError, fix: str = "") -> Path:
    """``value`` as a :class:`~pathlib.Path`: a ``str``, an ``os.PathLike`` (``pathlib.Path``) or ``bytes`` (as
    ``os`` functions take them) are accepted; anything else raises ``error`` naming ``what`` (and ``fix``)."""
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if not isinstance(value, (str, os.PathLike)):
        raise error(f"{what} must be a path (a str or pathlib.Path), not {type(value).__name__}"
                    + (f"; {fix}" if fix else ""))
    return Path(value)


def check_device(device: DeviceName | None) -> str:
    """Return the device name if it is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; else raise.

    A syntax check that needs no torch (commands call it before anything is written); whether CUDA is there
    is :func:`resolve_device`'s question.
    """
    name = "auto" if device is None else device
    if not isinstance(name, str) or not _DEVICE.match(name):
        raise ConfigError(f"unknown device {device!r}; use auto (CUDA when available), cpu, cuda or cuda:N")
    return name


def resolve_device(device: DeviceName = "auto"):
    """Return a :class:`torch.device`; ``"auto"`` picks CUDA when available, else CPU.

    ``"cuda:1"`` style names are accepted. Asking for CUDA (or a CUDA device index) that this machine does
    not have is a user error, as is any other name (``gpu``, ``mps``: rnagen runs on CPU and CUDA only).
    """
    import torch

    name = check_device(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} requested but CUDA is not available; use --device cpu or auto")
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise ConfigError(f"device {device!r} requested but this machine has {n} CUDA device(s) "
                              f"(cuda:0 .. cuda:{n - 1}); use cuda, cpu or auto")
    return dev


def numpy_rng(seed: int | None) -> np.random.Generator:
    """A seeded NumPy generator."""
    return np.random.default_rng(seed)


def physical_memory() -> int | None:
    """This machine's physical memory in bytes, ``None`` where the platform does not tell."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


#: seconds between a progress bar's updates when it writes to a file or a pipe (a batch job's log), not a terminal
LOG_PROGRESS_INTERVAL = 30.0


def progress_bar(iterable=None, **kw):
    """A tqdm progress bar (``tqdm.auto``) that writes to a terminal as usual and, when its stream is a file or a
    pipe (a batch job's log, where each update is appended to one long line), at most every
    :data:`LOG_PROGRESS_INTERVAL` seconds (a new postfix, the training loss say, waits for that update too)."""
    import sys

    from tqdm.auto import tqdm

    stream = kw.get("file") or sys.stderr
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):   # a closed or stream-less object: treated as a log
        tty = False
    if tty:
        return tqdm(iterable, **kw)
    kw.setdefault("mininterval", LOG_PROGRESS_INTERVAL)
    kw.setdefault("maxinterval", max(LOG_PROGRESS_INTERVAL, float(kw["mininterval"])))
    return _log_bar_class(tqdm)(iterable, **kw)


_LOG_BARS: dict[type, type] = {}


def _log_bar_class(tqdm: type) -> type:
    """The progress bar class of :func:`progress_bar` for a log, made once per tqdm class: tqdm keeps a monitor
    thread per class, kept for the life of the process, so a class made anew for every bar would leave one
    thread behind per bar. Without a terminal nothing needs the monitor's forced refreshes (each update waits for
    the next iteration anyway), so it has none."""
    if tqdm not in _LOG_BARS:
        class LogBar(tqdm):
            monitor_interval = 0

            def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
                super().set_postfix(ordered_dict, refresh=False, **kwargs)

        _LOG_BARS[tqdm] = LogBar
    return _LOG_BARS[tqdm]


#: what a command's warnings have named so far (:func:`one_warning_each`); ``None`` outside a command
_NAMED: contextvars.ContextVar[set[Any] | None] = contextvars.ContextVar("rnagen_named_in_warnings", default=None)


@contextlib.contextmanager
def one_warning_each() -> Iterator[None]:
    """A command's span (a CLI command, :func:`rnagen.bench.run_benchmark`, :func:`rnagen.tune.tune`), within which
    a warning about the same things (a pair of sample ids, a data set's unknown scale) is given once
    (:func:`not_yet_named`): the split, each fit and the evaluation of one command meet the same data and would
    each say it again. Nested spans share the outermost one's record; also a decorator."""
    if _NAMED.get() is not None:
        yield
        return
    token = _NAMED.set(set())
    try:
        yield
    finally:
        _NAMED.reset(token)


def not_yet_named(keys: Iterable[Any]) -> list[Any]:
    """Those of ``keys`` (hashable) that no warning of the current command's span (:func:`one_warning_each`) has
    named, recorded as named now; all of them outside such a span."""
    keys = list(keys)
    named = _NAMED.get()
    if named is None:
        return keys
    new = [k for k in dict.fromkeys(keys) if k not in named]
    named.update(new)
    return new
