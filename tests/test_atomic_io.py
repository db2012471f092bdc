"""rnagen._io: atomic writes, and the clean-up of what a killed writer leaves behind."""
import os

import pytest

from rnagen._io import atomic_path, remove_stale_temporaries, write_text


def test_atomic_path_replaces_only_on_success(tmp_path):
    dest = tmp_path / "a.json"
    write_text(dest, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert dest.read_text() == "old" and os.listdir(tmp_path) == ["a.json"]


def test_remove_stale_temporaries_of_a_killed_writer(tmp_path):
    import tempfile

    # what atomic_path leaves behind when its process dies (SIGKILL) before the final rename: a file named
    # like mkstemp(prefix=".<dest>.", suffix=".tmp<suffix>")
    write_text(tmp_path / "checkpoint.pt", "last good checkpoint")
    fd, orphan = tempfile.mkstemp(prefix=".checkpoint.pt.", suffix=".tmp.pt", dir=tmp_path)
    os.close(fd)
    write_text(tmp_path / ".user_notes", "not ours")
    write_text(tmp_path / ".plain.tmp", "no random part: not ours")
    assert remove_stale_temporaries(tmp_path) == [os.path.basename(orphan)]
    assert sorted(os.listdir(tmp_path)) == [".plain.tmp", ".user_notes", "checkpoint.pt"]
    assert remove_stale_temporaries(tmp_path / "missing") == []
