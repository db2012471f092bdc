"""The ``rnagen`` entry point.

Each sub-command lives in its own module under :mod:`rnagen.cli` exposing ``register(subparsers)``; the
module sets ``func`` on its parser. User errors (:class:`rnagen.errors.RnagenError`) are printed on one line
and exit with status 2, without a traceback; so are argparse's own errors (an unknown option, a missing or
badly typed value), through :class:`Parser`.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import os
import re
import signal
import sys
import threading
import typing
import warnings

from .. import __version__
from ..errors import RnagenError

# Sub-command modules, in the order they appear in ``rnagen --help``.
_COMMAND_MODULES = ("data", "models", "reconstruct", "evaluate", "bench", "tune")


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``rnagen: error: ... (see 'rnagen CMD --help')``, and exit
    status 2 (argparse's default prints the whole usage block first). Sub-command parsers inherit the class."""

    def error(self, message: str) -> typing.NoReturn:
        """Print ``message`` on one line and exit with status 2."""
        msg = " ".join(str(message).split())
        missing = re.match(r"argument (\S+): expected one argument$", msg)
        if missing:
            # argparse takes a value beginning with '-' (a path such as -x.h5ad) for another option
            opt = missing.group(1).split("/")[-1]
            msg += f"; a value that begins with '-' is written {opt}=VALUE (a path: ./-NAME)"
        self.exit(2, f"rnagen: error: {msg} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``rnagen`` parser with every sub-command of :data:`_COMMAND_MODULES` registered."""
    parser = Parser(
        prog="rnagen",
        description="Synthetic bulk RNA-seq profiles with conditional diffusion models, and proof of their quality.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'rnagen COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"rnagen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        mod = importlib.import_module(f"{__package__}.{name}")
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status (2 on a user error)."""
    rc = _main(argv)
    from .._io import FAILED_HDF5_WRITES

    distributed = sys.modules.get("rnagen.train.distributed")  # loaded only where a command trained
    if distributed is not None and distributed.started_here():
        # a torchrun rank whose group the command started: torn down, then out without the finalization that
        # can abort it
        distributed.leave(rc)

    if argv is None and FAILED_HDF5_WRITES:
        # the process's own command line after a failed .h5ad write: leave without the interpreter's clean-up,
        # whose release of HDF5's ids of that file can crash (segmentation fault) after the one-line message
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .._io import take_signal
    from ..utils import one_warning_each

    take_signal()
    previous, hook = _on_sigterm(), sys.unraisablehook
    sys.unraisablehook = functools.partial(_quiet_interrupts, hook)
    shown = warnings.showwarning
    warnings.showwarning = _one_line_warning
    stdout = _PipeOut.install()
    try:
        with one_warning_each():   # a warning about the same things once per command, however many steps meet them
            rc = args.func(args)
        lost = take_signal()
        if lost is not None:   # raised where Python dropped it (a finaliser's callback): the command did not stop
            raise lost
    except _Terminated:
        print("rnagen: terminated", file=sys.stderr)
        return 143
    except RnagenError as e:
        print(f"rnagen: error: {e}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as e:
        msg = _out_of_memory(e, args.command)
        if msg is None:
            raise
        print(f"rnagen: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnagen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # e.g. `rnagen data info X | head` where stdout is not the process's own; keep Python from complaining at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:  # what the file system refused where no command named it: still one line
        from .._io import describe_os_error

        print(f"rnagen: error: {describe_os_error(e, verb='use')}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = hook
        warnings.showwarning = shown
        if stdout is not None:
            stdout.flush()
            sys.stdout = stdout.stream
    return int(rc or 0)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning of rnagen's as one line on stderr (``rnagen: warning: ...``), as its errors are; another
    library's keeps where it came from."""
    ours = "rnagen" in str(filename).replace("\\", "/").split("/")
    where = "" if ours else f" ({category.__name__}, {filename}:{lineno})"
    print(f"rnagen: warning: {message}{where}", file=file or sys.stderr)


class _PipeOut:
    """The process's stdout during a command, where a reader that stops reading (``| head``, ``| true``) ends the
    printing, not the command: a command whose product is a file (``evaluate --out``, ``train``) still writes it
    and exits with its status. Past the broken pipe, what it prints goes to the null device."""

    def __init__(self, stream):
        self.stream = stream
        self.broken = False

    @classmethod
    def install(cls) -> _PipeOut | None:
        """Put one in place of ``sys.stdout`` where that is the process's own (not a caller's capture)."""
        if sys.stdout is None or sys.stdout is not sys.__stdout__:
            return None
        sys.stdout = out = cls(sys.stdout)
        return out

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.broken = True
        # what the stream's buffer still holds goes to the null device when it is flushed (at exit too)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


#: what lowers a command's memory, by command (the commands that train: the sizes their settings set)
_LESS_MEMORY = {
    "evaluate": "lower --n-boot or --n-boot-expensive (every replicate is kept for the interval), or score fewer "
                "profiles",
    "reconstruct": "lower the number of profiles, or the reconstructor's sizes set with --set",
    "data": "read fewer profiles or genes at once (--genes, or a subset of the file)",
}


def _out_of_memory(e: BaseException, command: str | None = None) -> str | None:
    """One line for an allocation the machine refused (NumPy's MemoryError, torch's CPU allocator or CUDA's out
    of memory), naming the size asked for and what lowers it in ``command``; ``None`` for any other error."""
    from ..utils import physical_memory

    text = str(e)
    asked = None
    beyond = False   # torch's "Storage size calculation overflowed": a tensor whose bytes do not fit in 64 bits
    if isinstance(e, RuntimeError):
        m = re.search(r"(?i)tried to allocate (\d+) bytes", text)
        g = re.search(r"(?i)tried to allocate ([0-9.]+) ([KMGT]i?B)", text)
        beyond = "storage size calculation overflowed" in text.lower()
        if m:
            asked = int(m.group(1))
        elif g:
            asked = float(g.group(1)) * 1024 ** ("KMGT".index(g.group(2)[0]) + 1)
        elif not beyond and "out of memory" not in text.lower() and "can't allocate memory" not in text.lower():
            return None
    where = "the GPU" if "cuda" in text.lower() else "this machine"
    total = physical_memory() if where == "this machine" else None
    has = f"{where} has {total / 2**30:,.0f} GiB" if total else f"more than {where} has"
    size = (f" (an allocation of more than 2^64 bytes; {has})" if beyond else
            f" (an allocation of {asked / 2**30:,.1f} GiB; {has})" if asked else f" ({has})")
    less = _LESS_MEMORY.get(command or "", "lower the sizes set with --set (network widths, latent or noise "
                            "dimension, batch sizes, objective.noise_multiplicity) or the number of profiles asked for")
    return f"out of memory{size}: {less}, or use a machine with more memory"


class _Terminated(BaseException):
    """SIGTERM (kill, timeout, a batch scheduler, docker stop) raised as an exception, so that a command ends
    as on Ctrl-C: its locks released and its temporaries removed on the way out."""


def _raise_terminated(signum, frame):
    raise _Terminated


def _quiet_interrupts(hook, unraisable) -> None:
    """``sys.unraisablehook`` during a command: an interrupt Python drops where it was raised (a finaliser's or a
    weakref's callback, as h5py's while an .h5ad is written) is recorded (:func:`rnagen._io.note_signal`: no file is
    put in place after it, and the command ends with it), not printed as a traceback; anything else goes to
    ``hook``, the one in place before."""
    if isinstance(unraisable.exc_value, (KeyboardInterrupt, _Terminated)):
        from .._io import note_signal

        note_signal(unraisable.exc_value)
        return
    hook(unraisable)


def _on_sigterm():
    """Install the SIGTERM handler in the main thread where the default one is in place; returns the handler to
    restore (``None`` where none was installed)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


if __name__ == "__main__":
    raise SystemExit(main())
