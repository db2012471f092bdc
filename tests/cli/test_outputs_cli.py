"""How the commands put their outputs on disk, end to end through the command line: an ``--out`` that is a
symbolic link is written through it (the link stays, its target gets the content, an input behind a link is
still refused), two commands writing the same file are kept apart by one lock, a benchmark stopped by a full
disk leaves its resume state and nothing empty, and output names that cannot mean what they say are refused."""
from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen.cli.main import main


def _labelled_csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    genes = ["PSME1", "CISD1", "SPDEF", "TP53", "EGFR", "MYC", "GAPDH", "ACTB"]
    frames = [pd.DataFrame(rng.normal(mu, 0.3, (12, len(genes))), columns=genes).assign(kind=c)
              for c, mu in (("tumor", 1.0), ("normal", 4.0), ("other", 7.0))]
    df = pd.concat(frames, ignore_index=True)
    df.index = [f"S{i:03d}" for i in range(len(df))]
    df.to_csv(path, index_label="sample")
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A labelled CSV and a per-class Gaussian trained on it (shared; never written by a test)."""
    d = tmp_path_factory.mktemp("outputs_base")
    data = _labelled_csv(d / "expr.csv")
    assert main(["train", str(data), "--model", "gaussian", "--label-key", "kind", "--out", str(d / "run"),
                 "--quiet"]) == 0
    return {"data": data, "run": d / "run"}


def _sample(base, out, n=6, *extra) -> int:
    return main(["sample", str(base["run"]), "--n", str(n), "--seed", "1", "--out", str(out), "--quiet", *extra])


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnagen: error: ") and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)
    return err


def _n_profiles(path: Path) -> int:
    from rnagen.data import read

    return read(path, label_key="kind").n_obs


# --- an --out that is a symbolic link -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["syn.h5ad", "syn.csv", "syn.tsv", "syn.parquet", "syn.gct"])
def test_a_linked_out_file_is_written_through_the_link(base, tmp_path, name):
    """``latest.EXT -> runs/target.EXT``: the target gets the new profiles (with its own permissions) and the link
    stays a link, as shell redirection leaves them; no temporary is left beside either."""
    runs = tmp_path / "runs"
    target = runs / name
    assert _sample(base, target, 3) == 0
    target.chmod(0o600)
    link = tmp_path / f"latest{Path(name).suffix}"
    link.symlink_to(Path("runs") / name)
    assert _sample(base, link, 9) == 0
    assert link.is_symlink() and os.readlink(link) == str(Path("runs") / name)
    assert _n_profiles(target) == 9
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(os.listdir(runs)) == [name] and sorted(os.listdir(tmp_path)) == [link.name, "runs"]


def test_a_linked_json_and_a_dangling_link_and_what_cannot_be_followed(base, tmp_path, capsys):
    """A results file (evaluate's JSON) through a link; a link to nothing creates its target where the target's
    folder exists; a link into a folder that does not exist, and a loop of links, are one-line errors that
    create nothing."""
    syn = tmp_path / "syn.h5ad"
    assert _sample(base, syn, 12) == 0
    (tmp_path / "keep").mkdir()
    link = tmp_path / "metrics.json"
    link.symlink_to(tmp_path / "keep" / "m.json")   # nothing there yet: created through the link
    argv = ["evaluate", "--real", str(base["data"]), "--synthetic", str(syn), "--label-key", "kind", "--metrics",
            "precision", "--k", "3", "--n-boot", "20"]
    assert main([*argv, "--out", str(link)]) == 0
    assert link.is_symlink() and '"precision"' in (tmp_path / "keep" / "m.json").read_text()
    assert os.listdir(tmp_path / "keep") == ["m.json"]
    capsys.readouterr()

    nowhere = tmp_path / "nowhere.csv"
    nowhere.symlink_to(tmp_path / "gone" / "x.csv")
    assert _sample(base, nowhere) == 2
    _one_line_error(capsys, "is a symbolic link to", "nor its folder", "create that folder")
    loop_a, loop_b = tmp_path / "a.h5ad", tmp_path / "b.h5ad"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    assert _sample(base, loop_a) == 2
    _one_line_error(capsys, "leads back to itself")
    assert not (tmp_path / "gone").exists() and loop_a.is_symlink() and loop_b.is_symlink()


def test_an_input_behind_a_link_is_still_refused(base, tmp_path, capsys):
    """The link's target is the file written, so a link to an input is that input: refused, nothing changed."""
    like = tmp_path / "like.csv"
    like.write_bytes(base["data"].read_bytes())
    link = tmp_path / "out.csv"
    link.symlink_to(like)
    before = like.read_bytes()
    assert main(["sample", str(base["run"]), "--like", str(like), "--out", str(link), "--quiet"]) == 2
    _one_line_error(capsys, "would overwrite the input")
    assert like.read_bytes() == before and link.is_symlink()


def test_linked_output_folders_are_written_through(base, tmp_path, capsys):
    """A run folder and a split folder given as links (to nothing yet: created): written in the target, the link
    kept, and read back through it; a file of the split that is itself a link is written through too."""
    store = tmp_path / "store"
    store.mkdir()
    run = tmp_path / "run"
    run.symlink_to(store / "run1")
    assert main(["train", str(base["data"]), "--model", "gaussian", "--label-key", "kind", "--out", str(run),
                 "--quiet"]) == 0
    assert run.is_symlink() and {"config.toml", "manifest.json"} <= set(os.listdir(store / "run1"))
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.h5ad"), "--quiet"]) == 0

    split = tmp_path / "split"
    split.symlink_to(store / "split1")
    argv = ["data", "split", str(base["data"]), "--label-key", "kind", "--out", str(split)]
    assert main(argv) == 0
    assert sorted(os.listdir(store / "split1")) == ["test.h5ad", "train.h5ad"]
    # the training part kept elsewhere, linked from the split folder: the next split writes it there
    (store / "split1" / "train.h5ad").rename(store / "train_kept.h5ad")
    (store / "split1" / "train.h5ad").symlink_to(store / "train_kept.h5ad")
    assert main([*argv, "--test-size", "0.5"]) == 0
    assert (store / "split1" / "train.h5ad").is_symlink()
    assert ad.read_h5ad(store / "train_kept.h5ad").n_obs == 18
    assert ad.read_h5ad(store / "split1" / "test.h5ad").n_obs == 18
    assert sorted(os.listdir(store)) == ["run1", "split1", "train_kept.h5ad"]


def test_a_benchmark_folder_and_its_report_through_links(base, tmp_path):
    """The benchmark folder given as a link (created through it), then its report.html kept elsewhere and linked:
    the resumed benchmark writes the report there and keeps the link."""
    keep = tmp_path / "keep"
    keep.mkdir()
    out = tmp_path / "bench"
    out.symlink_to(keep / "b1")
    argv = ["benchmark", str(base["data"]), "--label-key", "kind", "--models", "gaussian", "--metrics", "precision",
            "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert out.is_symlink() and (keep / "b1" / "leaderboard.csv").is_file()
    report = keep / "b1" / "report.html"
    report.rename(keep / "report.html")
    (keep / "report.html").write_text("an older report")
    report.symlink_to(keep / "report.html")
    assert main(argv) == 0
    assert report.is_symlink() and "<html" in (keep / "report.html").read_text()[:500].lower()
    assert not [f for f in os.listdir(keep) if f.startswith(".")]


def test_a_link_to_another_file_system_is_written_there(base, tmp_path):
    """The temporary is made beside the link's target, so the final rename stays on the target's file system
    (beside the link it would cross devices)."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK) or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no writable second file system (/dev/shm) here")
    import tempfile

    with tempfile.TemporaryDirectory(dir=shm) as other:
        target = Path(other) / "syn.h5ad"
        link = tmp_path / "syn.h5ad"
        link.symlink_to(target)
        assert _sample(base, link, 5) == 0
        assert link.is_symlink() and ad.read_h5ad(target).n_obs == 5 and os.listdir(other) == ["syn.h5ad"]


# --- one writer of a file, whichever command writes it -------------------------------------------------------------
_HOLD = """
import sys
from rnagen._io import claim_output
kind, out = sys.argv[1], sys.argv[2]
writes = sys.argv[3:]
with claim_output(out, kind=kind, writes=writes):
    print("held", flush=True)
    sys.stdin.read()
"""


def _holding(kind: str, out: Path, *writes: str) -> subprocess.Popen:
    """A process holding the claim a command takes on ``out`` (as ``data split`` or ``sample`` takes it) until its
    standard input is closed."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, kind, str(out), *writes], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                [str(Path(__file__).resolve().parents[2] / "src"), os.environ.get("PYTHONPATH", "")])})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _release(proc: subprocess.Popen) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0


def test_split_and_sample_writing_the_same_file_keep_apart(base, tmp_path, capsys):
    """``data split --out D`` locks the folder and, each as the file it is, D/train.h5ad and D/test.h5ad; ``sample
    --out D/train.h5ad`` takes that file's lock: whichever comes second is refused in one line, nothing written."""
    split = tmp_path / "split"
    holder = _holding("dir", split, "train.h5ad", "test.h5ad")   # a split writing the folder
    try:
        assert _sample(base, split / "train.h5ad") == 2
        _one_line_error(capsys, "train.h5ad is being written by another rnagen process", f"pid {holder.pid}")
    finally:
        _release(holder)
    assert os.listdir(split) == []   # the folder the holder made (its claim succeeded), and nothing of sample's

    holder = _holding("file", split / "test.h5ad")   # a sample writing one of the split's files
    try:
        assert main(["data", "split", str(base["data"]), "--label-key", "kind", "--out", str(split)]) == 2
        _one_line_error(capsys, "test.h5ad is being written by another rnagen process")
    finally:
        _release(holder)
    assert os.listdir(split) == []


def test_a_file_and_the_link_to_it_have_one_lock(base, tmp_path, capsys):
    """Two names of one file (a link and its target) are one output: the second writer is refused."""
    target = tmp_path / "runs" / "syn.h5ad"
    target.parent.mkdir()
    link = tmp_path / "latest.h5ad"
    link.symlink_to(target)
    holder = _holding("file", target)
    try:
        assert _sample(base, link) == 2
        _one_line_error(capsys, "is being written by another rnagen process")
    finally:
        _release(holder)
    assert not target.exists() and link.is_symlink()


@pytest.mark.slow  # two processes, each importing torch
def test_two_processes_writing_one_path_leave_one_whole_file(base, tmp_path):
    """Two ``rnagen sample`` processes started together on one --out: each ends with success or the one-line
    refusal of a concurrent writer, and the file is whole, the profiles of one that succeeded (never a mixture
    or a truncated file); no temporary or lock file is left."""
    out = tmp_path / "syn.h5ad"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"),
                                                       os.environ.get("PYTHONPATH", "")])}
    procs = {n: subprocess.Popen([sys.executable, "-m", "rnagen", "sample", str(base["run"]), "--n", str(n),
                                  "--out", str(out), "--quiet"], stderr=subprocess.PIPE, text=True, env=env)
             for n in (5, 7)}
    done = {n: (p.wait(timeout=120), p.stderr.read() if p.stderr else "") for n, p in procs.items()}
    for p in procs.values():
        if p.stderr:
            p.stderr.close()
    won = [n for n, (rc, _) in done.items() if rc == 0]
    assert won, done
    for rc, err in done.values():
        assert rc == 0 or (rc == 2 and err.count("\n") == 1 and "being written by another rnagen process" in err)
    assert _n_profiles(out) in won
    assert os.listdir(tmp_path) == ["syn.h5ad"]


# --- a benchmark stopped by a full disk --------------------------------------------------------------------------
def _disk_full_at(monkeypatch, name: str) -> None:
    """The benchmark's JSON writes fail as on a full disk from the first file called ``name`` on (``bench.json`` or
    ``split.json``: the settings' pair, written together)."""
    import rnagen.bench.runner as runner
    from rnagen._io import describe_os_error
    from rnagen.errors import OutputError

    real = runner.write_json
    state = {"full": False}

    def write_json(path, obj):
        state["full"] = state["full"] or Path(path).name == name
        if state["full"]:
            raise OutputError(describe_os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), path))
        return real(path, obj)
    monkeypatch.setattr(runner, "write_json", write_json)
    settings = runner._write_settings

    def write_settings(out, *a, **k):   # bench.json and split.json, written together (atomic_paths)
        state["full"] = state["full"] or name in ("bench.json", "split.json")
        if state["full"]:
            raise OutputError(describe_os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
                                                Path(out) / "bench.json"))
        return settings(out, *a, **k)
    monkeypatch.setattr(runner, "_write_settings", write_settings)


def _empty_folders(root: Path) -> list[str]:
    return [d for d, dirs, files in os.walk(root) if not dirs and not files]


def _bench_argv(base, out):
    return ["benchmark", str(base["data"]), "--label-key", "kind", "--models", "gaussian", "--metrics",
            "precision", "--out", str(out)]


def test_a_full_disk_at_the_start_of_a_benchmark_leaves_nothing(base, tmp_path, monkeypatch, capsys):
    """Nothing finished (the settings record cannot be written): no folder is left, neither the benchmark's nor
    its empty runs/, results/ and plots/."""
    _disk_full_at(monkeypatch, "bench.json")
    out = tmp_path / "bench"
    assert main([*_bench_argv(base, out), "--quiet"]) == 2
    _one_line_error(capsys, "no space left")
    assert os.listdir(tmp_path) == []


def test_a_full_disk_mid_benchmark_names_its_resume_state(base, tmp_path, monkeypatch, capsys):
    """The real row scored and the Gaussian trained, then the disk full: results/ and runs/ are kept (resume
    state), the error names them and both ways on, no empty folder is left; once there is room the same
    command resumes (the finished row and the trained model reused)."""
    _disk_full_at(monkeypatch, "gaussian_seed0.json")
    out = tmp_path / "bench"
    assert main([*_bench_argv(base, out), "--quiet"]) == 2
    _one_line_error(capsys, "no space left", "(results/, runs/: the benchmark's resume state)",
                    "run the same command again to resume", f"or delete {out} to start over")
    assert (out / "results" / "real_seed0.json").is_file() and (out / "runs" / "gaussian_seed0" /
                                                                "weights.safetensors").is_file()
    assert _empty_folders(out) == [] and not [f for f in os.listdir(out) if f.startswith(".")]
    monkeypatch.undo()
    assert main(_bench_argv(base, out)) == 0
    err = capsys.readouterr().err
    assert "real run 0: done earlier, skipped" in err and "trained earlier, loaded" in err
    assert (out / "report.html").is_file()


def test_a_benchmark_refused_for_its_folder_keeps_its_own_way_on(base, tmp_path, capsys):
    """A folder holding another split's benchmark (its results and runs kept) is a RunDirError, a
    FileNotFoundError: it is said as it is, not as a failed write to resume by running the same command again."""
    out = tmp_path / "bench"
    assert main([*_bench_argv(base, out), "--quiet"]) == 0
    capsys.readouterr()
    assert main([*_bench_argv(base, out), "--seed", "7", "--quiet"]) == 2
    err = _one_line_error(capsys, "holds a benchmark of other data or another split",
                          "choose a new --out folder or delete the old one")
    assert "cannot write" not in err and "resume" not in err, err


@pytest.fixture
def small_disk(tmp_path, mount_tmpfs):
    """A 2 MiB tmpfs at ``tmp_path/small`` (unmounted afterwards); skipped where mounting is not allowed."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    return mount_tmpfs(mnt, "2m")


def test_a_benchmark_on_a_full_disk_leaves_no_empty_folders(base, small_disk, fill_disk, capsys):
    """A real full disk (a filled tmpfs with a little room freed, to fail at different writes): each benchmark
    fails in one line and leaves no empty folder; where it keeps nothing to resume, no folder at all."""
    filler = small_disk / "filler"
    size = fill_disk(filler)
    out = small_disk / "bench"
    for room in (8, 16, 32, 64, 128):
        os.truncate(filler, size - room * 1024)
        assert main([*_bench_argv(base, out), "--quiet"]) == 2
        err = _one_line_error(capsys, "no space left")
        assert _empty_folders(small_disk) == [], (room, err)
        if "resume state" not in err:
            assert os.listdir(small_disk) == ["filler"], (room, err)
        else:
            break


# --- output names that cannot mean what they say ---------------------------------------------------------------------
@pytest.mark.parametrize("out,needle", [("", "--out is empty"), ("  ", "--out is blank"),
                                        ("folder/", "ends in /, as a folder's name does"),
                                        ("~/syn.h5ad", "which the shell did not expand")])
def test_output_names_that_cannot_mean_what_they_say(base, tmp_path, monkeypatch, capsys, out, needle):
    """A blank name, a file name ending in / (written as a file of the folder's name) and an unexpanded ~ (a
    folder named ~ made in the current one) are refused in one line; nothing is created."""
    monkeypatch.chdir(tmp_path)
    assert main(["sample", str(base["run"]), "--n", "3", "--out", out, "--quiet"]) == 2
    _one_line_error(capsys, needle)
    assert os.listdir(tmp_path) == []


def test_a_dotdot_after_a_missing_folder_makes_no_folder_for_it(base, tmp_path, monkeypatch):
    """``new/../syn.h5ad`` is ``syn.h5ad``: written there, with no folder ``new`` left behind (a file, a run
    folder, a benchmark folder)."""
    monkeypatch.chdir(tmp_path)
    assert _sample(base, "new/../syn.h5ad") == 0
    assert main(["train", str(base["data"]), "--model", "gaussian", "--label-key", "kind", "--out",
                 "new/../sub/../run", "--quiet"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["run", "syn.h5ad"] and (tmp_path / "run" / "meta.json").is_file()
    assert main([*_bench_argv(base, "new/../bench"), "--quiet"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["bench", "run", "syn.h5ad"]


def test_a_replaced_file_keeps_its_permissions(base, tmp_path):
    """An output written over an existing file keeps that file's permissions (a private file stays private); a
    new one gets what the umask gives."""
    out = tmp_path / "syn.csv"
    assert _sample(base, out, 3) == 0
    out.chmod(0o640)
    assert _sample(base, out, 4) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and _n_profiles(out) == 4


def test_what_a_writer_finishing_first_left_is_checked_under_the_lock(base, tmp_path, monkeypatch, capsys):
    """A command that checked its --out while another was still writing it checks it again once it holds the
    lock: real profiles put there meanwhile (a split finishing first) are refused, not replaced by synthetic
    ones."""
    import rnagen._io as rio

    out = tmp_path / "train.h5ad"
    real_acquire = rio._acquire

    def finished_first(lock_file, target):   # the other writer puts its file in place and releases the lock
        if not out.exists():
            a = ad.AnnData(np.ones((2, 8), np.float32))
            a.uns["rnagen"] = {"history": {"0_read": {"step": "read"}}}
            a.write_h5ad(out)
        return real_acquire(lock_file, target)
    monkeypatch.setattr(rio, "_acquire", finished_first)
    assert _sample(base, out) == 2   # nothing there at its first check
    _one_line_error(capsys, "holds profiles rnagen did not generate")
    assert ad.read_h5ad(out).n_obs == 2 and sorted(os.listdir(tmp_path)) == ["train.h5ad"]


def test_a_replaced_hard_link_says_its_other_names_keep_the_old_content(base, tmp_path, capsys):
    """An output replaced whole (a temporary renamed over it) leaves a hard link's other names on the old file:
    said in one warning line naming the file, not silently."""
    out = tmp_path / "syn.csv"
    assert _sample(base, out, 3) == 0
    os.link(out, tmp_path / "shared.csv")
    capsys.readouterr()
    assert _sample(base, out, 4) == 0
    err = capsys.readouterr().err
    warned = [ln for ln in err.splitlines() if "hard link" in ln]
    assert len(warned) == 1 and str(out) in warned[0] and "1 other name " in warned[0], err
    assert _n_profiles(out) == 4 and _n_profiles(tmp_path / "shared.csv") == 3
    capsys.readouterr()
    assert _sample(base, out, 5) == 0   # a file of one name: no warning
    assert "hard link" not in capsys.readouterr().err
