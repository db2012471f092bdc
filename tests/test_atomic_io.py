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
