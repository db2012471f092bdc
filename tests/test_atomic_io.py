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


def test_a_gzipped_table_names_itself_in_its_header(tmp_path):
    """The gzip header of a .csv.gz / .tsv.gz names the file it holds as its final name (pandas wrote the
    temporary '.a.csv.gz.10xgnaq0.tmp' there); the table reads back the same."""
    import gzip

    import anndata as ad
    import numpy as np
    import pandas as pd

    from rnagen._io import write_profiles

    obs = pd.DataFrame({"k": ["x", "y"]}, index=["s1", "s2"])
    a = ad.AnnData(np.arange(6, dtype=np.float32).reshape(2, 3), obs=obs, var=pd.DataFrame(index=["A", "B", "C"]))
    for name, sep in (("out.csv.gz", ","), ("out.tsv.gz", "\t")):
        write_profiles(a, tmp_path / name)
        raw = (tmp_path / name).read_bytes()
        assert raw[3] & 0x08 and raw[10:].split(b"\0", 1)[0] == name[:-3].encode()   # FNAME flag, then the name
        back = pd.read_csv(tmp_path / name, sep=sep, index_col=0)
        assert list(back.index) == ["s1", "s2"] and back.loc["s2", "C"] == 5.0 and back.loc["s1", "k"] == "x"
        with gzip.open(tmp_path / name, "rt") as fh:
            assert fh.readline().rstrip("\n") == sep.join(["sample", "k", "A", "B", "C"])


def test_a_gct_write_that_fails_midway_keeps_the_old_file(tmp_path, monkeypatch):
    """A GCT file is written a block of genes at a time into a temporary: a write that fails after some blocks (a
    full disk) is one OutputError naming the file, and leaves the old file whole, no temporary beside it."""
    import errno

    import anndata as ad
    import numpy as np

    import rnagen._io as rio
    from rnagen.errors import OutputError

    a = ad.AnnData(np.arange(60, dtype=np.float32).reshape(3, 20))
    a.obs_names = ["syn_0", "syn_1", "syn_2"]
    rio.write_profiles(a, tmp_path / "x.gct")
    old = (tmp_path / "x.gct").read_bytes()
    assert old.startswith(b"#1.2\n20\t3\nName\tDescription\tsyn_0\tsyn_1\tsyn_2\n0\tna\t0\t20\t40\n")

    class FillsTheDisk(np.ndarray):
        def __getitem__(self, key):
            if isinstance(key, tuple) and isinstance(key[1], slice) and key[1].start >= 6:
                raise OSError(errno.ENOSPC, "No space left on device")
            return np.asarray(self)[key]

    monkeypatch.setattr(rio, "GCT_BLOCK_VALUES", 6)   # two genes a block: the fourth block fails
    with pytest.raises(OutputError, match=r"x\.gct.*no space left"):
        rio.write_gct_rows(tmp_path / "x.gct", (a.X + 1).view(FillsTheDisk), genes=list(map(str, range(20))),
                           samples=list(a.obs_names))
    assert (tmp_path / "x.gct").read_bytes() == old and os.listdir(tmp_path) == ["x.gct"]


def test_out_dash_is_refused_not_written_as_a_file_named_dash(tmp_path, monkeypatch, capsys):
    """``--out -`` reads as standard output; the outputs are files, so it is refused in one line (a file named
    ``-`` was written in the current folder)."""
    from rnagen.cli.main import main

    monkeypatch.chdir(tmp_path)
    a = tmp_path / "a.csv"
    a.write_text("sample,g1,g2,g3\ns1,1,2,3\ns2,2,3,4\ns3,3,4,5\ns4,4,5,6\n")
    assert main(["evaluate", "--real", str(a), "--synthetic", str(a), "--metrics", "precision", "--out", "-"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out -:" in err and "not to standard output" in err
    assert not (tmp_path / "-").exists()


@pytest.fixture
def small_tmpfs(tmp_path, mount_tmpfs):
    """A 64 KiB tmpfs at ``tmp_path/small`` (unmounted afterwards): a disk that fills. Needs mount rights (root
    in a container that allows it); skipped otherwise."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    return mount_tmpfs(mnt, "64k")


def _fill(folder):
    """Fill the file system of ``folder`` until a write fails; returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_lock_on_a_full_disk_leaves_no_lock_file(small_tmpfs):
    """On a full disk the lock file is created but its process id cannot be written: one OutputError naming the
    full disk, and neither the lock file nor the folder made for it left behind."""
    from rnagen._io import lock_path, writer_lock
    from rnagen.errors import OutputError

    _fill(small_tmpfs)
    run = small_tmpfs / "run"
    with pytest.raises(OutputError, match="no space left"):
        with writer_lock(run, kind="dir"):
            pass
    with pytest.raises(OutputError, match="no space left"):
        with writer_lock(small_tmpfs / "syn.h5ad", kind="file"):
            pass
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["filler"]
    (small_tmpfs / "filler").unlink()
    with writer_lock(run, kind="dir"):   # space freed: the same lock is taken
        assert lock_path(run).read_text() == f"{os.getpid()}\n"
    assert not lock_path(run).exists()


def test_a_lock_whose_process_id_cannot_be_written_is_released(tmp_path, monkeypatch):
    """The same without a mount: the write of the process id fails; the lock file is removed and its lock
    released, so the next writer gets it."""
    import errno

    import rnagen._io as rio
    from rnagen.errors import OutputError

    real = os.ftruncate

    def full(fd, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(rio.os, "ftruncate", full)
    with pytest.raises(OutputError, match="no space left"):
        with rio.writer_lock(tmp_path / "out.json", kind="file"):
            pass
    monkeypatch.setattr(rio.os, "ftruncate", real)
    assert os.listdir(tmp_path) == []
    with rio.writer_lock(tmp_path / "out.json", kind="file"):
        assert rio.lock_holder(tmp_path / "out.json", kind="file") is not None


def test_an_output_of_the_longest_name_the_file_system_allows(tmp_path):
    """A name of 255 bytes is valid: its temporary and its lock file, named after it, are cut to fit (with a digest
    of the whole name, so two long names that begin alike stay apart), and a killed writer's temporary of it is
    still found and removed."""
    import tempfile

    from rnagen._io import _stem, lock_path, writer_lock

    name = "é" * 100 + "x" * 50 + ".h5ad"   # 255 bytes of UTF-8
    assert len(name.encode()) == 255
    dest = tmp_path / name
    with writer_lock(dest, kind="file"):
        write_text(dest, "profiles")
    assert os.listdir(tmp_path) == [name] and dest.read_text() == "profiles"
    other = "é" * 100 + "x" * 49 + "y.h5ad"
    assert _stem(other) != _stem(name) and len(lock_path(dest, kind="file").name.encode()) <= 255
    fd, orphan = tempfile.mkstemp(prefix=f".{_stem(name)}.", suffix=".tmp.h5ad", dir=tmp_path)
    os.close(fd)
    assert remove_stale_temporaries(tmp_path, name=other) == []
    assert remove_stale_temporaries(tmp_path, name=name) == [os.path.basename(orphan)]
    with atomic_path(tmp_path / ("a." * 120 + "csv")) as tmp:   # a name of many dots: a short suffix kept
        assert tmp.name.endswith(".tmp.csv")
        tmp.write_text("x")


def test_a_name_too_long_and_a_dangling_link_say_what_is_wrong(tmp_path):
    """A name over the limit, and a folder path that is a symbolic link to nothing in a folder that does not exist
    either (mkdir says only 'File exists'), are refused in one line naming the problem and the fix; a link to
    nothing in a folder that exists gets its target made, as shell redirection makes a linked file."""
    from rnagen._io import writer_lock
    from rnagen.errors import OutputError

    with pytest.raises(OutputError, match="too long for the file system.*choose a shorter name"):
        write_text(tmp_path / ("x" * 256 + ".json"), "{}")
    link = tmp_path / "run"
    link.symlink_to(tmp_path / "gone" / "nowhere")
    with pytest.raises(OutputError, match=r"run is a symbolic link to .*nowhere, which does not exist, nor its "
                                          r"folder .*gone; create that folder"):
        with writer_lock(link, kind="dir"):
            pass
    with pytest.raises(OutputError, match="symbolic link to .*nowhere, which does not exist"):
        write_text(link / "m.json", "{}")
    assert sorted(os.listdir(tmp_path)) == ["run"] and link.is_symlink()
    (tmp_path / "gone").mkdir()
    with writer_lock(link, kind="dir"):
        write_text(link / "m.json", "{}")
    assert link.is_symlink() and (tmp_path / "gone" / "nowhere" / "m.json").read_text() == "{}"
    assert sorted(os.listdir(tmp_path / "gone" / "nowhere")) == ["m.json"]   # the lock file gone with the lock


def test_an_output_that_is_a_device_or_a_pipe_is_refused_not_replaced(tmp_path):
    """--out naming a FIFO, a device (/dev/null: root may write /dev, where the atomic write would put a regular
    file in its place) or a symbolic link to one (/dev/stdout) is refused before anything is written."""
    import stat

    from rnagen._io import check_output
    from rnagen.errors import OutputError

    fifo = tmp_path / "metrics.json"
    os.mkfifo(fifo)
    link = tmp_path / "stdout.json"
    link.symlink_to(fifo)
    targets = [fifo, link]
    if os.geteuid() == 0:   # only root may make a device node
        dev = tmp_path / "null.json"
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        targets.append(dev)
    for t in targets:
        with pytest.raises(OutputError, match="is not a regular file.*device, pipe or socket.*give a file path"):
            check_output(t, example="metrics.json")
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and link.is_symlink()


def test_files_replaced_together_killed_between_renames_get_the_old_set_back(tmp_path):
    """atomic_paths (the leaderboard's .csv and .json, bench.json and split.json): a process killed (SIGKILL) after
    the first file is moved into place leaves a record, and the next reader finds the old pair whole, the record
    and the old files kept aside gone."""
    import os
    import signal
    import subprocess
    import sys

    from rnagen._io import check_replacements

    a, b = tmp_path / "leaderboard.csv", tmp_path / "leaderboard.json"
    a.write_text("old csv\n")
    b.write_text("old json\n")
    code = ("import os, signal\n"
            "from pathlib import Path\n"
            "from rnagen._io import atomic_paths\n"
            "real = os.replace\n"
            "def replace(src, dst, *x, **k):\n"
            "    real(src, dst, *x, **k)\n"
            "    if '.tmp' in os.fspath(src) and os.path.basename(dst).startswith('leaderboard.'):\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "os.replace = replace\n"
            f"with atomic_paths([Path({str(a)!r}), Path({str(b)!r})]) as (x, y):\n"
            "    x.write_text('new csv\\n')\n"
            "    y.write_text('new json\\n')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == -signal.SIGKILL
    assert (a.read_text(), b.read_text()) == ("new csv\n", "old json\n")   # as the kill left them
    check_replacements(b)
    assert (a.read_text(), b.read_text()) == ("old csv\n", "old json\n")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".tmp.json")) == [a.name, b.name]



def test_a_written_file_reaches_the_disk_before_its_name_and_the_name_after(tmp_path, sync_events):
    """A power loss after an atomic write's rename must not leave the name on an empty file: the temporary's content
    is flushed before it is moved over the destination, and the folder's entry after the move; a pair written
    together (atomic_paths) alike, each file before any move."""
    from rnagen._io import atomic_paths

    write_text(tmp_path / "a.json", "old")
    events = sync_events
    events.clear()   # from the replacing write on
    write_text(tmp_path / "a.json", "new")
    ino = os.stat(tmp_path / "a.json").st_ino
    folder = os.stat(tmp_path).st_ino
    assert events == [("sync", "file", ino), ("move", ino, "a.json"), ("sync", "dir", folder)]
    assert (tmp_path / "a.json").read_text() == "new"

    events.clear()
    with atomic_paths([tmp_path / "train.txt", tmp_path / "test.txt"]) as (a, b):
        a.write_text("train")
        b.write_text("test")
    inos = [os.stat(tmp_path / n).st_ino for n in ("train.txt", "test.txt")]
    files = [e for e in events if e[:2] == ("sync", "file")]
    moves = [e for e in events if e[0] == "move" and e[2] in ("train.txt", "test.txt")]
    assert [e[2] for e in files[:2]] == inos and [e[1] for e in moves] == inos
    assert events.index(files[1]) < events.index(moves[0])            # both flushed before the first move
    assert events[-1] == ("sync", "dir", folder)                      # the folder after the last


def test_a_text_table_of_profiles_is_written_a_block_at_a_time_as_the_whole_table_would_be(tmp_path, monkeypatch):
    """``write_profiles`` writes a .csv / .tsv / .txt / .csv.gz a block of profiles at a time: the file is byte for
    byte what pandas writes of the whole table at once (the id column, the obs columns with a categorical label and
    a missing value, an obs column named ``sample``, a sparse matrix), and the write holds a block beside the
    profiles, not a second copy of them."""
    import gzip
    import tracemalloc

    import anndata as ad
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    import rnagen._io as rio

    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, 3.0, (50, 7)).astype(np.float32)
    obs = pd.DataFrame({"kind": pd.Categorical(["a", "b"] * 25), "age": [40.5, np.nan] * 25,
                        "sample": [f"p{i}" for i in range(50)]}, index=[f"syn_{i}" for i in range(50)])
    genes = [f"G{j}" for j in range(7)]

    def whole(a, sep):
        table = pd.concat([a.obs.reset_index(drop=True), pd.DataFrame(np.asarray(a.X.todense() if sp.issparse(a.X)
                                                                                 else a.X), columns=genes)], axis=1)
        table.insert(0, "sample_id", list(a.obs_names))
        return table.to_csv(sep=sep, index=False, lineterminator="\n")

    monkeypatch.setattr(rio, "TABLE_BLOCK_VALUES", 7 * 8, raising=False)   # blocks of 8 profiles
    for matrix in (X, sp.csr_matrix(X)):
        a = ad.AnnData(matrix, obs=obs, var=pd.DataFrame(index=genes))
        for name, sep in (("o.csv", ","), ("o.tsv", "\t"), ("o.txt", "\t"), ("o.csv.gz", ",")):
            rio.write_profiles(a, tmp_path / name)
            raw = (tmp_path / name).read_bytes()
            text = gzip.decompress(raw).decode() if name.endswith(".gz") else raw.decode()
            assert text == whole(a, sep), name
    # the write's own peak on 8,000 profiles x 100 genes (3.2 MB): a block, not the table
    monkeypatch.setattr(rio, "TABLE_BLOCK_VALUES", 1 << 12, raising=False)
    big = ad.AnnData(rng.normal(size=(8000, 100)).astype(np.float32),
                     obs=pd.DataFrame({"kind": pd.Categorical(["a", "b"] * 4000)},
                                      index=[f"syn_{i}" for i in range(8000)]))
    tracemalloc.start()
    try:
        rio.write_profiles(big, tmp_path / "big.csv")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * big.X.nbytes, peak
    back = pd.read_csv(tmp_path / "big.csv", index_col=0)
    np.testing.assert_array_equal(back.iloc[:, 1:].to_numpy(np.float32), big.X)
