"""Run-folder integrity: a manifest of every file's size and SHA-256, and one-line errors for damaged files.

``manifest.json`` is written last, each time a run folder is saved or checkpointed, so it describes a folder
whose files are all complete. Loading and resuming verify it: a missing, truncated, replaced or edited file is
named in one line with the fix, before anything reads it. Folders without a manifest still load when their
files are consistent (every reader goes through :func:`reading`, which turns any failure into one line naming
the file).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import RnagenError, RunDirError

__all__ = ["MANIFEST", "RUN_FILES", "MAX_MEMBERS", "member_checkpoint", "refit_checkpoint", "write_manifest",
           "read_manifest", "verify_manifest", "reading", "folder_kind"]

MANIFEST = "manifest.json"
FORMAT = "rnagen-manifest/1"
#: the most networks one run trains (``train.members``)
MAX_MEMBERS = 8


def member_checkpoint(k: int) -> str:
    """The checkpoint of the diffusion model's member ``k`` (``train.members``; member 0 is the run's own)."""
    return "checkpoint.pt" if k == 0 else f"checkpoint_member{k}.pt"


def refit_checkpoint(name: str) -> str:
    """The checkpoint of the refit (``train.refit``) of the run checkpointed in ``name``."""
    return name.removesuffix(".pt") + "_refit.pt"


# what a generator run folder holds (see rnagen.models._base); the manifest covers those present
RUN_FILES = ("config.toml", "meta.json", "genes.txt", "transforms.npz", "weights.safetensors", "train_log.csv",
             "validation.csv",
             *(f(member_checkpoint(k)) for k in range(MAX_MEMBERS) for f in (str, refit_checkpoint)))


def folder_kind(path: str | os.PathLike) -> tuple[str | None, str | None]:
    """What an rnagen command keeps in the folder ``path``, so that no command writes among another's files:
    ``("benchmark", None)`` (``bench.json``), ``("reconstructor", None)``, ``("run", model)`` (a generator's
    run folder: its ``config.toml`` names the model), ``("own", None)`` (a ``config.toml`` that names no model:
    the user's own), ``("unreadable", None)`` (a ``config.toml`` that is no TOML), ``("split", None)`` (the
    parts ``rnagen data split`` writes), else ``(None, None)``."""
    d = Path(path)
    if (d / "bench.json").is_file():
        return "benchmark", None
    cfg = d / "config.toml"
    if cfg.is_file():
        from .config import read_toml

        try:
            model = read_toml(cfg).get("model")
        except (RnagenError, OSError, UnicodeError):
            return "unreadable", None
        if model is None:
            return "own", None
        return ("reconstructor", None) if model == "reconstruct" else ("run", str(model))
    if (d / "train.h5ad").is_file() and (d / "test.h5ad").is_file():
        return "split", None
    return None, None


def _digest(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return {"size": path.stat().st_size, "sha256": h.hexdigest()}


def write_manifest(directory: str | os.PathLike, names: Iterable[str], *,
                   pending: Mapping[str, str | os.PathLike] | None = None, **info: Any) -> Path:
    """Write ``DIR/manifest.json`` listing the size and SHA-256 of each of ``names`` present in ``DIR``.

    ``pending``: ``{name: temporary path}`` of files about to replace ``name``; both the current and the new
    content are accepted until the manifest is written again, so a process killed between the replacement
    and the next manifest leaves a folder that still verifies. ``info``: JSON-able facts about the run
    (model name, data fingerprint), readable with :func:`read_manifest`.
    """
    from ._io import write_json

    d = Path(directory)
    files: dict[str, Any] = {}
    for name in names:
        if (d / name).is_file():
            files[name] = _digest(d / name)
    for name, tmp in (pending or {}).items():
        new = _digest(Path(tmp))
        files[name] = {**new, "or": [files[name]]} if name in files else new
    return write_json(d / MANIFEST, {"format": FORMAT, **info, "files": files})


def read_manifest(directory: str | os.PathLike, *, fix: str) -> dict[str, Any] | None:
    """The manifest of ``directory`` (``None`` when it has none); a damaged one is an error naming ``fix``."""
    p = Path(directory) / MANIFEST
    if not p.is_file():
        return None
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
        ok = (isinstance(m, dict) and m.get("format") == FORMAT and isinstance(m.get("files"), dict)
              and all(isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get("sha256"), str)
                      for v in m["files"].values()))
    except (OSError, UnicodeDecodeError, ValueError):
        ok = False
    if not ok:
        raise RunDirError(f"{p} is damaged (not an rnagen manifest); {fix}")
    return m


def verify_manifest(directory: str | os.PathLike, *, fix: str, only: Iterable[str] | None = None
                    ) -> dict[str, Any] | None:
    """Check every file the manifest lists (or only those in ``only``): present, same size, same SHA-256.

    Returns the manifest, or ``None`` for a folder without one (written before manifests existed).
    """
    d = Path(directory)
    m = read_manifest(d, fix=fix)
    if m is None:
        return None
    keep = set(only) if only is not None else None
    for name, rec in m["files"].items():
        if keep is not None and name not in keep:
            continue
        p = d / name
        if not p.is_file():
            raise RunDirError(f"{p} is missing (listed in {MANIFEST}); {fix}")
        accepted = [rec, *[r for r in rec.get("or", []) if isinstance(r, dict)]]
        size = p.stat().st_size
        if all(size != r.get("size") for r in accepted):
            raise RunDirError(f"{p} is truncated or replaced ({size} bytes, {rec['size']} when saved); {fix}")
        if _digest(p)["sha256"] not in [r.get("sha256") for r in accepted]:
            raise RunDirError(f"{p} has changed since it was saved (its SHA-256 differs from {MANIFEST}); {fix}")
    return m


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    first = text.splitlines()[0].strip() if text else ""
    # torch.load's refusal suggests weights_only=False, which must never be followed for a run-folder file
    if "weights_only" in text or "pickle" in text.lower() or not first:
        return f"not a tensors-only file ({type(e).__name__})" if "weights_only" in text else type(e).__name__
    if isinstance(e, KeyError):
        return f"missing entry {first}"
    return first[:160]


@contextlib.contextmanager
def reading(path: str | os.PathLike, *, fix: str, reason: str | None = None) -> Iterator[None]:
    """Turn any failure while reading ``path`` into one :class:`RunDirError` naming the file and ``fix``.

    ``reason``: what to say instead of the underlying error's first line (e.g. for tensors that do not fit
    the network the configuration describes).
    """
    try:
        yield
    except RunDirError:
        raise
    except RnagenError as e:
        raise RunDirError(f"{path} is not usable: {e}; {fix}") from None
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - every way a damaged file can fail to parse
        raise RunDirError(f"{path} is damaged or inconsistent ({reason or _reason(e)}); {fix}") from None
