"""The contract every adversarial case checks: a bad input or option fails cleanly.

A clean failure is exit status 2, exactly one line on stderr (``rnagen: error: ...``), no traceback, no file
that existed before changed (content and mode), and no new file left behind (partial outputs, temporaries).
Cases run the CLI in-process through :func:`rnagen.cli.main.main` so that hundreds of them stay fast.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest


def snapshot(roots: Iterable[Path]) -> dict[str, tuple[str, int]]:
    """``{path: (sha256, mode)}`` of every file under ``roots`` (a root may itself be a file)."""
    snap: dict[str, tuple[str, int]] = {}
    for root in roots:
        root = Path(root)
        files = [root] if root.is_file() else (sorted(p for p in root.rglob("*") if p.is_file())
                                                if root.is_dir() else [])
        for f in files:
            snap[str(f)] = (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mode)
    return snap


@dataclass
class CliResult:
    rc: int
    out: str
    err: str


def run_cli(argv: list[str], capsys) -> CliResult:
    """Run ``rnagen ARGV`` in-process; argparse's ``SystemExit`` becomes the exit status."""
    from rnagen.cli.main import main

    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse usage errors
        rc = e.code if isinstance(e.code, int) else 1
    cap = capsys.readouterr()
    return CliResult(int(rc or 0), cap.out, cap.err)


def assert_clean_failure(argv: list[str], capsys, *, watch: Iterable[Path], match: str | None = None) -> CliResult:
    """Run ``argv`` and assert the clean-failure contract on the folders/files in ``watch``.

    ``match``: a substring (case-insensitive) the error line must contain (the named problem or fix).
    """
    watch = [Path(w) for w in watch]
    before = snapshot(watch)
    res = run_cli(argv, capsys)
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    assert res.rc == 2, f"exit status {res.rc}, stderr: {res.err!r}"
    assert "Traceback" not in res.err, res.err
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {res.err!r}"
    assert lines[0].startswith("rnagen") and "error" in lines[0], lines[0]
    if match is not None:
        assert match.lower() in lines[0].lower(), f"{match!r} not in {lines[0]!r}"
    after = snapshot(watch)
    changed = sorted(p for p in before if p in after and after[p] != before[p])
    lost = sorted(set(before) - set(after))
    new = sorted(set(after) - set(before))
    assert not changed, f"files changed by a failing command: {changed}"
    assert not lost, f"files removed by a failing command: {lost}"
    assert not new, f"files left behind by a failing command: {new}"
    return res


@pytest.fixture
def clean_failure(capsys):
    """``clean_failure(argv, watch=[...], match=...)``: :func:`assert_clean_failure` bound to ``capsys``."""
    def _check(argv, *, watch, match=None):
        return assert_clean_failure(argv, capsys, watch=watch, match=match)
    return _check


@pytest.fixture
def cli(capsys):
    """``cli(argv) -> CliResult``: run the CLI in-process."""
    return lambda argv: run_cli(argv, capsys)


@pytest.fixture(autouse=True)
def _quiet_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield


__all__ = ["snapshot", "run_cli", "assert_clean_failure", "CliResult"]
