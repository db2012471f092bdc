"""Run folders and outputs under attack: damaged files, outputs that are inputs, two writers, killed writers,
modes, a full disk. Every refusal is a clean failure (one line, exit 2, nothing changed or left behind)."""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rnagen._io import lock_path, remove_stale_temporaries, writer_lock
from rnagen._manifest import MANIFEST, RUN_FILES, verify_manifest, write_manifest
from rnagen.errors import OutputError, RunDirError

SRC = str(Path(__file__).resolve().parents[2] / "src")
LANDMARK_SYMBOLS = ["PSME1", "CISD1", "SPDEF", "IKZF1", "RAB4A", "HADH", "ABCF1", "CHERP", "DRAP1", "HMGCS1",
                    "FOXO3", "ATF1"]
TINY_DIFFUSION = ["--set", "network.width=16", "--set", "network.depth=1", "--set", "train.steps=4",
                  "--set", "train.checkpoint_every=2", "--set", "train.batch_size=8", "--set", "schedule.T=20",
                  "--set", "sample.steps=4", "--set", "train.log_every=2"]


# --- module fixtures: a tiny data file and two trained run folders ---------------------------------------------
@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """``{data, gauss, diff, recon}``: a 3-tissue x 12-gene .h5ad and a gaussian and a tiny diffusion run."""
    import anndata as ad
    import pandas as pd

    from rnagen.cli.main import main

    root = tmp_path_factory.mktemp("adv_runs")
    rng = np.random.default_rng(0)
    tissue = np.repeat(["blood", "brain", "liver"], 10)
    centre = rng.normal(3.0, 1.0, (3, 12))[np.repeat(np.arange(3), 10)]
    adata = ad.AnnData(X=np.exp(centre + rng.normal(0, 0.3, (30, 12))).astype(np.float32),
                       obs=pd.DataFrame({"tissue": pd.Categorical(tissue)}, index=[f"s{i:02d}" for i in range(30)]),
                       var=pd.DataFrame(index=LANDMARK_SYMBOLS))
    data = root / "data.h5ad"
    adata.write_h5ad(data)
    gauss, diff = root / "gauss", root / "diff"
    assert main(["train", str(data), "--model", "gaussian", "--label-key", "tissue", "--out", str(gauss),
                 "--quiet", "--device", "cpu"]) == 0
    assert main(["train", str(data), "--model", "diffusion", "--label-key", "tissue", "--out", str(diff),
                 "--quiet", "--device", "cpu", *TINY_DIFFUSION]) == 0
    recon = root / "recon"
    inputs = root / "inputs.txt"
    inputs.write_text("\n".join(map(str, adata.var_names[:4])) + "\n")
    assert main(["reconstruct", "fit", str(data), "--inputs", str(inputs), "--out", str(recon), "--quiet"]) == 0
    return {"root": root, "data": data, "gauss": gauss, "diff": diff, "recon": recon}


@pytest.fixture
def work(base, tmp_path):
    """Per-case copies of the run folders (the module's are never touched) and a fresh output folder."""
    copies = {"data": base["data"], "tmp": tmp_path}
    for name in ("gauss", "diff", "recon"):
        copies[name] = tmp_path / name
        shutil.copytree(base[name], copies[name])
    (tmp_path / "out").mkdir()
    return copies


def _sample_argv(run: Path, out: Path) -> list[str]:
    return ["sample", str(run), "--n", "6", "--out", str(out), "--quiet", "--device", "cpu"]


# --- family: damaged run folders x (rnagen sample, rnagen.models.load) ---------------------------------------
def _rewrite_toml(path: Path, **section_updates) -> None:
    import tomllib

    import tomli_w

    data = tomllib.loads(path.read_text())
    for key, value in section_updates.items():
        sec, _, k = key.partition("__")
        if k:
            data[sec][k] = value
        else:
            data[sec] = value
    path.write_text(tomli_w.dumps(data))


def _damage(kind: str, run: Path, other: Path) -> str:
    """Damage ``run`` in one way; returns the file name the error must name."""
    import json

    w = run / "weights.safetensors"
    if kind == "weights_random":
        w.write_bytes(np.random.default_rng(0).bytes(w.stat().st_size))
        return "weights.safetensors"
    if kind == "weights_truncated":
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
        return "weights.safetensors"
    if kind == "weights_empty":
        w.write_bytes(b"")
        return "weights.safetensors"
    if kind == "weights_other_model":
        shutil.copy(other / "weights.safetensors", w)
        return "weights.safetensors"
    if kind == "config_shapes":  # a configuration that no longer matches the weights' shapes
        if run.name == "diff":
            _rewrite_toml(run / "config.toml", network__width=32)
            return "weights.safetensors" if not (run / MANIFEST).exists() else "config.toml"
        _rewrite_toml(run / "config.toml", covariance="diag")
        return "weights.safetensors" if not (run / MANIFEST).exists() else "config.toml"
    if kind == "config_invalid":
        (run / "config.toml").write_text("model = \n[[[")
        return "config.toml"
    if kind == "meta_invalid_json":
        (run / "meta.json").write_text("{not json")
        return "meta.json"
    if kind == "meta_missing_keys":
        meta = json.loads((run / "meta.json").read_text())
        del meta["labels"]
        (run / "meta.json").write_text(json.dumps(meta))
        return "meta.json"
    if kind == "transforms_truncated":
        t = run / "transforms.npz"
        t.write_bytes(t.read_bytes()[:100])
        return "transforms.npz"
    if kind == "genes_duplicated":
        g = (run / "genes.txt").read_text().splitlines()
        g[1] = g[0]
        (run / "genes.txt").write_text("\n".join(g) + "\n")
        return "genes.txt"
    if kind == "genes_missing":
        (run / "genes.txt").unlink()
        return "genes.txt"
    if kind == "manifest_invalid":
        (run / MANIFEST).write_text("[1, 2")
        return MANIFEST
    raise AssertionError(kind)


DAMAGES = ["weights_random", "weights_truncated", "weights_empty", "weights_other_model", "config_shapes",
           "config_invalid", "meta_invalid_json", "meta_missing_keys", "transforms_truncated", "genes_duplicated",
           "genes_missing", "manifest_invalid"]


@pytest.mark.parametrize("model", ["gauss", "diff"])
@pytest.mark.parametrize("damage", DAMAGES)
def test_sample_from_damaged_run_folder(work, clean_failure, model, damage):
    """With the manifest (as saved): the damaged file is named before anything reads it."""
    run = work[model]
    other = work["diff" if model == "gauss" else "gauss"]
    name = _damage(damage, run, other)
    out = work["tmp"] / "out" / "syn.h5ad"
    res = clean_failure(_sample_argv(run, out), watch=[run, out.parent], match=name)
    assert "weights_only" not in res.err


@pytest.mark.parametrize("model", ["gauss", "diff"])
@pytest.mark.parametrize("damage", [d for d in DAMAGES if d != "manifest_invalid"])
def test_load_damaged_run_folder_without_manifest(work, model, damage):
    """A folder written before manifests existed: every reader still names the damaged file in one line."""
    from rnagen.models import load

    run = work[model]
    (run / MANIFEST).unlink()
    name = _damage(damage, run, work["diff" if model == "gauss" else "gauss"])
    with pytest.raises(RunDirError) as info:
        load(run, device="cpu")
    msg = str(info.value)
    assert "\n" not in msg and name in msg and "weights_only" not in msg, msg
    assert "retrain" in msg or "train" in msg


def _damage_recon(kind: str, d: Path) -> str:
    if kind == "weights_random":
        w = d / "weights.safetensors"
        w.write_bytes(np.random.default_rng(0).bytes(w.stat().st_size))
        return "weights.safetensors"
    if kind == "weights_truncated":
        w = d / "weights.safetensors"
        w.write_bytes(w.read_bytes()[:40])
        return "weights.safetensors"
    if kind == "transforms_truncated":
        (d / "transforms.npz").write_bytes((d / "transforms.npz").read_bytes()[:64])
        return "transforms.npz"
    if kind == "meta_invalid_json":
        (d / "meta.json").write_text('{"kind": "rnagen.reconstruct", ')
        return "meta.json"
    if kind == "meta_missing_pipelines":
        import json

        meta = json.loads((d / "meta.json").read_text())
        del meta["pipelines"]
        (d / "meta.json").write_text(json.dumps(meta))
        return "meta.json"
    if kind == "genes_duplicated":
        lines = (d / "genes.tsv").read_text().splitlines()
        lines[2] = lines[1]
        (d / "genes.tsv").write_text("\n".join(lines) + "\n")
        return "genes.tsv"
    if kind == "config_invalid":
        (d / "config.toml").write_text("method = [")
        return "config.toml"
    if kind == "genes_missing":
        (d / "genes.tsv").unlink()
        return "genes.tsv"
    raise AssertionError(kind)


RECON_DAMAGES = ["weights_random", "weights_truncated", "transforms_truncated", "meta_invalid_json",
                 "meta_missing_pipelines", "genes_duplicated", "config_invalid", "genes_missing"]


@pytest.mark.parametrize("damage", RECON_DAMAGES)
def test_reconstruct_apply_with_damaged_folder(work, clean_failure, damage):
    d = work["recon"]
    name = _damage_recon(damage, d)
    out = work["tmp"] / "out" / "full.h5ad"
    clean_failure(["reconstruct", "apply", str(d), str(work["data"]), "--out", str(out)], watch=[d, out.parent],
                  match=name)


@pytest.mark.parametrize("damage", RECON_DAMAGES)
def test_reconstruct_load_damaged_folder_without_manifest(work, damage):
    from rnagen.reconstruct import load

    d = work["recon"]
    (d / MANIFEST).unlink()
    name = _damage_recon(damage, d)
    with pytest.raises(RunDirError) as info:
        load(d, device="cpu")
    msg = str(info.value)
    assert "\n" not in msg and name in msg and ("fit" in msg), msg


def test_saved_run_has_a_verifying_manifest(work):
    import hashlib
    import json

    run = work["diff"]
    m = json.loads((run / MANIFEST).read_text())
    assert m["model"] == "diffusion" and re.fullmatch(r"[0-9a-f]{16}-seed0", m["fingerprint"])   # data, seed
    assert set(m["files"]) == {f for f in RUN_FILES if (run / f).exists()}
    assert "checkpoint.pt" in m["files"] and "weights.safetensors" in m["files"]
    for name, rec in m["files"].items():
        data = (run / name).read_bytes()
        assert rec["size"] == len(data) and rec["sha256"] == hashlib.sha256(data).hexdigest()
    assert verify_manifest(run, fix="x") == m


def test_run_folder_without_manifest_still_loads_and_samples(work, cli):
    run = work["gauss"]
    (run / MANIFEST).unlink()
    out = work["tmp"] / "out" / "syn.h5ad"
    res = cli(_sample_argv(run, out))
    assert res.rc == 0, res.err
    import anndata as ad

    assert ad.read_h5ad(out).shape == (6, 12)


def test_sampling_reads_and_verifies_only_what_it_needs(work, cli):
    """The checkpoint (training state, not needed to sample) is verified on resume, not on every load."""
    run = work["diff"]
    (run / "checkpoint.pt").write_bytes(b"damaged")
    assert cli(_sample_argv(run, work["tmp"] / "out" / "syn.h5ad")).rc == 0
    with pytest.raises(RunDirError, match="checkpoint.pt is truncated or replaced"):
        verify_manifest(run, fix="x")


def test_manifest_accepts_the_pending_checkpoint_until_rewritten(tmp_path):
    """A kill between a checkpoint's replacement and the manifest's rewrite leaves a folder that verifies."""
    (tmp_path / "checkpoint.pt").write_bytes(b"old")
    new = tmp_path / ".checkpoint.pt.abcdefgh.tmp.pt"
    new.write_bytes(b"newer")
    write_manifest(tmp_path, RUN_FILES, pending={"checkpoint.pt": new})
    verify_manifest(tmp_path, fix="x")  # the old one
    os.replace(new, tmp_path / "checkpoint.pt")
    verify_manifest(tmp_path, fix="x")  # the new one
    (tmp_path / "checkpoint.pt").write_bytes(b"other")
    with pytest.raises(RunDirError, match="checkpoint.pt has changed"):
        verify_manifest(tmp_path, fix="x")


# --- family: resume from a damaged checkpoint ----------------------------------------------------------------
def _interrupted(run: Path, *, manifest: bool) -> None:
    """Turn a finished run folder into one interrupted after its last checkpoint."""
    import json

    fp = json.loads((run / MANIFEST).read_text())["fingerprint"]
    for f in ("weights.safetensors", "meta.json", "genes.txt", "transforms.npz", "train_log.csv", MANIFEST):
        (run / f).unlink(missing_ok=True)
    if manifest:
        write_manifest(run, RUN_FILES, fingerprint=fp)


def _train_argv(base_data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", str(base_data), "--model", "diffusion", "--label-key", "tissue", "--out", str(out), "--quiet",
            "--device", "cpu", *TINY_DIFFUSION, *extra]


def test_interrupted_run_resumes_and_finishes(work, cli):
    run = work["diff"]
    _interrupted(run, manifest=True)
    res = cli(_train_argv(work["data"], run, "--config", str(run / "config.toml")))  # its own config: resumes
    assert res.rc == 0, res.err
    from rnagen.models import load

    assert load(run, device="cpu").n_genes == 12 and verify_manifest(run, fix="x") is not None


@pytest.mark.parametrize("model", ["diff", "gauss"])
def test_a_save_cut_after_the_weights_resumes(work, cli, model):
    """A kill between the weights and meta.json of the final save (the manifest still the training loop's):
    sample sends the user to train again, and train resumes (from the checkpoint; the Gaussian, which has none,
    fits again) instead of calling the folder finished."""
    import json

    run = work[model]
    fp = json.loads((run / MANIFEST).read_text())["fingerprint"]
    (run / "meta.json").unlink()
    write_manifest(run, [f for f in RUN_FILES if f not in ("weights.safetensors", "meta.json")], fingerprint=fp)
    res = cli(_sample_argv(run, work["tmp"] / "out" / "s.h5ad"))
    assert res.rc == 2 and "run `rnagen train` again with the same --out to resume" in res.err
    argv = _train_argv(work["data"], run) if model == "diff" else [
        "train", str(work["data"]), "--model", "gaussian", "--label-key", "tissue", "--out", str(run), "--quiet",
        "--device", "cpu"]
    res = cli(argv)
    assert res.rc == 0, res.err
    assert (run / "meta.json").is_file() and verify_manifest(run, fix="x") is not None
    assert cli(_sample_argv(run, work["tmp"] / "out" / "s.h5ad")).rc == 0
    assert cli(argv).rc == 2   # now finished: refused as before


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/rnagen_pwned_by_checkpoint",))


@pytest.mark.parametrize("manifest", [True, False], ids=["manifest", "no_manifest"])
@pytest.mark.parametrize("damage", ["truncated", "empty", "random", "malicious_pickle"])
def test_resume_from_damaged_checkpoint(work, clean_failure, damage, manifest):
    import pickle

    run = work["diff"]
    _interrupted(run, manifest=manifest)
    ck = run / "checkpoint.pt"
    if damage == "truncated":
        ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 3])
    elif damage == "empty":
        ck.write_bytes(b"")
    elif damage == "random":
        ck.write_bytes(np.random.default_rng(1).bytes(4096))
    else:
        ck.write_bytes(pickle.dumps(_Evil()))
    res = clean_failure(_train_argv(work["data"], run), watch=[run], match="--no-resume")
    assert "checkpoint.pt" in res.err and "weights_only" not in res.err
    assert not Path("/tmp/rnagen_pwned_by_checkpoint").exists()


# --- family: train into an existing run folder -----------------------------------------------------------------
def test_train_finished_run_same_settings_is_refused(work, clean_failure):
    clean_failure(_train_argv(work["data"], work["diff"]), watch=[work["diff"]], match="--no-resume")


def test_train_finished_run_other_settings_is_refused_before_any_write(work, clean_failure):
    """The reported loss: config.toml was rewritten before the refusal, so the finished run no longer loaded."""
    from rnagen.models import load

    run = work["diff"]
    clean_failure(_train_argv(work["data"], run, "--set", "network.width=24"), watch=[run], match="network.width")
    assert load(run, device="cpu").config.network.width == 16


def test_train_other_model_into_run_is_refused(work, clean_failure):
    argv = ["train", str(work["data"]), "--model", "gaussian", "--label-key", "tissue", "--out", str(work["diff"]),
            "--quiet"]
    clean_failure(argv, watch=[work["diff"]], match="--no-resume")


def test_train_interrupted_run_with_other_settings_is_refused(work, clean_failure):
    run = work["diff"]
    _interrupted(run, manifest=True)
    clean_failure(_train_argv(work["data"], run, "--set", "train.lr=0.01"), watch=[run], match="train.lr")


def test_train_interrupted_run_on_changed_data_is_refused(work, clean_failure):
    """Resuming on data that differ in their last profile, or in two profiles' labels only: refused (the data
    digest left the labels of the profiles out; a changed file resumed on the old run's steps and said it was
    trained on the new one)."""
    import anndata as ad

    run = work["diff"]
    _interrupted(run, manifest=True)
    a = ad.read_h5ad(work["data"])
    b = a.copy()
    X = np.asarray(b.X).copy()
    X[-1] = X[-1] + 0.5
    b.X = X
    b.write_h5ad(work["tmp"] / "changed.h5ad")
    clean_failure(_train_argv(work["tmp"] / "changed.h5ad", run, "--config", str(run / "config.toml")), watch=[run],
                  match="belongs to a run on other data")
    c = a.copy()
    labels = c.obs["tissue"].astype(str).to_numpy().copy()
    i = int(np.flatnonzero(labels != labels[-1])[0])
    labels[[i, -1]] = labels[[-1, i]]   # two profiles' labels swapped: the same values and classes
    c.obs["tissue"] = labels
    c.write_h5ad(work["tmp"] / "relabelled.h5ad")
    clean_failure(_train_argv(work["tmp"] / "relabelled.h5ad", run, "--config", str(run / "config.toml")),
                  watch=[run], match="belongs to a run on other data")


def test_train_interrupted_run_resumed_with_another_seed_is_refused(work, clean_failure):
    """A resume with another --seed went through and recorded the new seed, though the steps before the kill
    (the initialisation included) had drawn from the old one: refused, naming the seed to resume with."""
    run = work["diff"]
    _interrupted(run, manifest=True)
    clean_failure(_train_argv(work["data"], run, "--config", str(run / "config.toml"), "--seed", "5"), watch=[run],
                  match="belongs to a run of seed 0, not 5: resume it with --seed 0")


def test_train_into_foreign_folder_is_refused(work, clean_failure):
    d = work["tmp"] / "foreign"
    d.mkdir()
    (d / "meta.json").write_text('{"mine": true}')
    (d / "notes.txt").write_text("keep")
    clean_failure(_train_argv(work["data"], d), watch=[d], match="not an rnagen run folder")


@pytest.mark.parametrize("flags", [[], ["--no-resume"]], ids=["resume", "no_resume"])
def test_train_into_a_folder_of_the_users_own_files_is_refused(work, clean_failure, flags):
    """--out . in a project folder holding the user's config.toml (given as --config), a genes list and a log
    under the names a run writes: refused before any write, with or without --no-resume (which deletes a run's
    files), the files kept."""
    d = work["tmp"] / "project"
    d.mkdir()
    (d / "config.toml").write_text("[train]\nsteps = 30\n")
    (d / "genes.txt").write_text("TP53\nEGFR\n")
    (d / "train_log.csv").write_text("step,loss\n")
    clean_failure(_train_argv(work["data"], d, "--config", str(d / "config.toml"), *flags), watch=[d],
                  match="holds files of your own (config.toml, genes.txt, train_log.csv;")


def test_folders_of_one_command_are_not_another_commands_out(work, clean_failure):
    """train or reconstruct fit into a benchmark folder, a benchmark into a trained model's folder: refused
    before any write."""
    bench = work["tmp"] / "bench"
    bench.mkdir()
    (bench / "bench.json").write_text("{}")
    clean_failure(_train_argv(work["data"], bench), watch=[bench], match="is a benchmark folder")
    clean_failure(["reconstruct", "fit", str(work["data"]), "--inputs", "landmarks", "--out", str(bench), "--quiet"],
                  watch=[bench], match="is a benchmark folder")
    clean_failure(["benchmark", str(work["data"]), "--label-key", "tissue", "--models", "gaussian", "--metrics",
                   "precision", "--quiet", "--out", str(work["gauss"])], watch=[work["gauss"]],
                  match="holds a trained model's folder")


def test_no_resume_replaces_a_finished_run(work, cli):
    from rnagen.models import load

    run = work["diff"]
    res = cli(_train_argv(work["data"], run, "--set", "network.width=24", "--no-resume"))
    assert res.rc == 0, res.err
    assert load(run, device="cpu").config.network.width == 24 and verify_manifest(run, fix="x")


@pytest.mark.parametrize("model", ["gaussian", "diffusion"])
def test_no_resume_that_fails_leaves_the_finished_run_it_was_replacing(work, clean_failure, monkeypatch, model):
    """`train --no-resume` over a finished run that fails (a full disk at the new weights, after the new run's
    checkpoints): the old run is back as it was, every file, and no folder or file of the new one is left."""
    import safetensors.torch

    def full(tensors, filename, *a, **k):
        Path(filename).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(safetensors.torch, "save_file", full)
    run = work["gauss" if model == "gaussian" else "diff"]
    argv = (["train", str(work["data"]), "--model", "gaussian", "--label-key", "tissue", "--out", str(run), "--quiet",
             "--no-resume"] if model == "gaussian" else _train_argv(work["data"], run, "--seed", "3", "--no-resume"))
    res = clean_failure(argv, watch=[work["tmp"]], match="no space left")
    assert "weights.safetensors" in res.err and verify_manifest(run, fix="x")


KILLED_NO_RESUME = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import safetensors.torch
    def stalled(tensors, filename, *a, **k):   # the new run's final save, where the kill comes
        print("saving", flush=True)
        time.sleep(120)
    safetensors.torch.save_file = stalled
    from rnagen.cli.main import main
    main(sys.argv[2:])
""")


def test_no_resume_killed_then_the_next_train_puts_the_old_run_back(work, cli):
    """`train --no-resume` killed (SIGKILL) with the old run set aside and the new one half written: the next
    `rnagen train` into the folder puts the old run back, whole, before anything else (here: refused as the
    finished run it is), and `--no-resume` again replaces it."""
    from rnagen._io import file_digests

    run = work["diff"]
    before = file_digests(run)
    argv = _train_argv(work["data"], run, "--seed", "3", "--no-resume")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_NO_RESUME, SRC, *argv], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.stdout.readline().strip() == "saving"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert file_digests(run) != before and (run / ".rnagen-previous-run").is_dir()
    res = cli(_sample_argv(run, work["tmp"] / "out" / "s.h5ad"))   # a reader is told where the old run is
    assert res.rc == 2 and f"the run it was replacing is kept in {run / '.rnagen-previous-run'}" in res.err, res.err
    res = cli(_train_argv(work["data"], run))
    assert res.rc == 2 and "already holds a finished diffusion run" in res.err, res.err
    assert file_digests(run) == before and sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
    assert cli(argv).rc == 0
    assert file_digests(run)["weights.safetensors"] != before["weights.safetensors"]
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("state", [".tmp", ".old"])
def test_a_set_aside_run_cut_while_moving_is_put_back_whole(tmp_path, state):
    """Killed while the old run's files moved aside (``.tmp``: they and the folder hold it between them) or while
    the set-aside run was deleted after the new one was saved (``.old``): the old run whole, or the new one kept."""
    from rnagen.models._base import PREVIOUS_RUN, _recover_aside

    run = tmp_path / "run"
    (run / f"{PREVIOUS_RUN}{state}").mkdir(parents=True)
    (run / "config.toml").write_text("model = 'gaussian'\n")
    (run / "meta.json").write_text("{}")
    (run / f"{PREVIOUS_RUN}{state}" / "weights.safetensors").write_bytes(b"old weights")
    _recover_aside(run)
    names = sorted(p.name for p in run.iterdir())
    if state == ".tmp":
        assert names == ["config.toml", "meta.json", "weights.safetensors"]
        assert (run / "weights.safetensors").read_bytes() == b"old weights"
    else:
        assert names == ["config.toml", "meta.json"]


@pytest.mark.parametrize("flags", [[], ["--no-resume"]], ids=["resume", "no_resume"])
def test_train_into_a_reconstructor_folder_is_refused(work, clean_failure, flags):
    clean_failure(_train_argv(work["data"], work["recon"], *flags), watch=[work["recon"]], match="reconstructor")


def test_reconstruct_fit_into_a_generator_run_is_refused(work, clean_failure):
    genes = work["tmp"] / "inputs.txt"
    import anndata as ad

    genes.write_text("\n".join(ad.read_h5ad(work["data"]).var_names[:4]) + "\n")
    argv = ["reconstruct", "fit", str(work["data"]), "--inputs", str(genes), "--out", str(work["gauss"]), "--quiet"]
    clean_failure(argv, watch=[work["gauss"]], match="not a reconstructor")


# --- family: outputs that are inputs, or the wrong kind of path --------------------------------------------------
def _out_cases(w: dict) -> dict[str, tuple[list[str], list[Path]]]:
    data, tmp, run = w["data"], w["tmp"], w["gauss"]
    link = tmp / "link.h5ad"
    if not link.exists():
        link.symlink_to(data)
    hard = tmp / "hard.h5ad"
    if not hard.exists():
        os.link(data, hard)
    file_ = tmp / "afile.txt"
    file_.write_text("x")
    ev = ["evaluate", "--label-key", "tissue", "--metrics", "density"]
    return {
        "evaluate_out_is_real": ([*ev, "--real", data, "--synthetic", link, "--out", data], [data]),
        "evaluate_out_is_synthetic": ([*ev, "--real", link, "--synthetic", data, "--out", data], [data]),
        "evaluate_out_is_train": ([*ev, "--real", link, "--synthetic", link, "--train", data, "--out", data], [data]),
        "evaluate_out_symlink_to_real": ([*ev, "--real", data, "--synthetic", data, "--out", link], [data, link]),
        "sample_out_is_like": (["sample", run, "--like", data, "--out", data], [data, run]),
        "sample_out_symlink_to_like": (["sample", run, "--like", data, "--out", link], [data, run]),
        "sample_out_is_run_weights": (["sample", run, "--n", "3", "--out", run / "weights.safetensors"], [run]),
        "prepare_out_is_input": (["data", "prepare", data, "--label-key", "tissue", "--out", data], [data]),
        "prepare_out_hardlink_to_input": (["data", "prepare", data, "--label-key", "tissue", "--out", hard],
                                          [data, hard]),
        # every file prepare reads is an input: the sample-name table and recount3's QC table too
        "prepare_out_is_sample_names": (["data", "prepare", data, "--label-key", "tissue", "--sample-names", file_,
                                         "--out", file_], [file_]),
        "prepare_out_is_recount_qc": (["data", "prepare", data, "--label-key", "tissue", "--recount-qc", file_,
                                       "--out", file_], [file_]),
        "prepare_input_is_symlink_to_out": (["data", "prepare", link, "--label-key", "tissue", "--out", data],
                                            [data]),
        "split_out_holds_input": (["data", "split", tmp / "s" / "train.h5ad", "--label-key", "tissue",
                                   "--out", tmp / "s"], [tmp / "s"]),
        "reconstruct_apply_out_is_input": (["reconstruct", "apply", tmp / "recon", data, "--out", data], [data]),
        "reconstruct_score_out_is_input": (["reconstruct", "score", tmp / "recon", data, "--out", data], [data]),
        "benchmark_out_holds_input": (["benchmark", tmp / "b" / "runs" / "d.h5ad", "--label-key", "tissue",
                                       "--out", tmp / "b"], [tmp / "b"]),
        "tune_out_is_input": (["tune", data, "--model", "gaussian", "--label-key", "tissue", "--out", data], [data]),
        "train_out_is_data_file": (["train", data, "--label-key", "tissue", "--out", data], [data]),
        "train_out_holds_data_as_run_file": (["train", tmp / "r" / "meta.json", "--label-key", "tissue",
                                              "--out", tmp / "r"], [tmp / "r"]),
        "sample_out_is_a_folder": (["sample", run, "--n", "3", "--out", tmp / "out"], [tmp / "out", run]),
        "evaluate_out_is_a_folder": ([*ev, "--real", data, "--synthetic", data, "--out", tmp / "out"], [tmp / "out"]),
        "prepare_out_is_a_folder": (["data", "prepare", data, "--out", tmp / "out"], [tmp / "out"]),
        "sample_out_under_a_file": (["sample", run, "--n", "3", "--out", file_ / "x.h5ad"], [file_, run]),
        "split_out_under_a_file": (["data", "split", data, "--label-key", "tissue", "--out", file_ / "s"], [file_]),
        "train_out_under_a_file": (["train", data, "--label-key", "tissue", "--out", file_ / "run"], [file_]),
        "split_out_is_a_file": (["data", "split", data, "--label-key", "tissue", "--out", file_], [file_]),
        "benchmark_out_is_a_file": (["benchmark", data, "--label-key", "tissue", "--out", file_], [file_]),
        "evaluate_out_under_a_file": ([*ev, "--real", data, "--synthetic", data, "--out", file_ / "m.json"], [file_]),
    }


OUT_CASES = ["evaluate_out_is_real", "evaluate_out_is_synthetic", "evaluate_out_is_train",
             "evaluate_out_symlink_to_real", "sample_out_is_like", "sample_out_symlink_to_like",
             "sample_out_is_run_weights", "prepare_out_is_input", "prepare_out_hardlink_to_input",
             "prepare_out_is_sample_names", "prepare_out_is_recount_qc",
             "prepare_input_is_symlink_to_out", "split_out_holds_input", "reconstruct_apply_out_is_input",
             "reconstruct_score_out_is_input", "benchmark_out_holds_input", "tune_out_is_input",
             "train_out_is_data_file", "train_out_holds_data_as_run_file", "sample_out_is_a_folder",
             "evaluate_out_is_a_folder", "prepare_out_is_a_folder", "sample_out_under_a_file",
             "split_out_under_a_file", "train_out_under_a_file", "split_out_is_a_file", "benchmark_out_is_a_file",
             "evaluate_out_under_a_file"]


@pytest.mark.parametrize("case", OUT_CASES)
def test_output_never_replaces_an_input(work, clean_failure, case):
    tmp = work["tmp"]
    for sub in ("s", "b/runs", "r"):  # inputs that sit where a command would write
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy(work["data"], tmp / "s" / "train.h5ad")
    shutil.copy(work["data"], tmp / "b" / "runs" / "d.h5ad")
    shutil.copy(work["data"], tmp / "r" / "meta.json")
    (tmp / "recon").mkdir(exist_ok=True)
    argv, watch = _out_cases(work)[case]
    res = clean_failure([str(a) for a in argv], watch=[*watch, tmp / "s", tmp / "b", tmp / "r", tmp / "out"])
    line = res.err.lower()
    assert any(s in line for s in ("overwrite the input", "is a folder", "is a file", "existing file")), line


# --- family: one writer at a time --------------------------------------------------------------------------------
HOLDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from rnagen._io import writer_lock
    with writer_lock(sys.argv[1], kind=sys.argv[2]):
        print("held", flush=True)
        time.sleep(120)
""")


def _hold(target: Path, kind: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(target), kind, SRC], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("what", ["train_run_folder", "sample_out_file", "split_out_folder"])
def test_second_writer_is_refused_with_the_holders_pid_and_a_dead_holder_never_blocks(work, clean_failure, cli,
                                                                                      what):
    out = work["tmp"] / "out"
    if what == "train_run_folder":
        target, kind = work["diff"], "dir"
        argv = _train_argv(work["data"], target, "--no-resume")
    elif what == "sample_out_file":
        target, kind = out / "syn.h5ad", "file"
        argv = _sample_argv(work["gauss"], target)
    else:
        target, kind = out / "split", "dir"
        argv = ["data", "split", str(work["data"]), "--label-key", "tissue", "--out", str(target)]
    proc = _hold(target, kind)
    try:
        res = clean_failure(argv, watch=[work["diff"], work["gauss"], out], match=f"pid {proc.pid}")
        assert "another rnagen process" in res.err
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert lock_path(target, kind=kind).exists()  # the killed holder left its lock file ...
    res = cli(argv)  # ... which blocks nobody: the kernel released its flock
    assert res.rc == 0, res.err
    assert not lock_path(target, kind=kind).exists()


def test_sample_from_a_run_still_training_names_the_trainer(work, clean_failure):
    run = work["diff"]
    _interrupted(run, manifest=True)
    proc = _hold(run, "dir")
    try:
        out = work["tmp"] / "out"
        clean_failure(_sample_argv(run, out / "syn.h5ad"), watch=[run, out], match=f"trained by another process "
                                                                                 f"(pid {proc.pid})")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def test_lock_is_reentrant_in_one_process_and_removed_after(tmp_path):
    with writer_lock(tmp_path / "d"):
        with writer_lock(tmp_path / "d"):
            assert (tmp_path / "d" / ".rnagen.lock").read_text().strip() == str(os.getpid())
    assert os.listdir(tmp_path / "d") == []


def test_failed_lock_holder_removes_the_folder_it_created(tmp_path):
    with pytest.raises(RuntimeError):
        with writer_lock(tmp_path / "a" / "b"):
            raise RuntimeError("failed")
    assert os.listdir(tmp_path) == []


# --- family: stale temporaries -------------------------------------------------------------------------------------
def test_stale_temporaries_next_to_sample_out_are_removed_but_not_others(work, cli):
    out = work["tmp"] / "out"
    mine = out / ".syn.h5ad.abcd1234.tmp.h5ad"
    theirs = out / ".other.h5ad.abcd1234.tmp.h5ad"
    mine.write_bytes(b"half")
    theirs.write_bytes(b"half")
    res = cli(_sample_argv(work["gauss"], out / "syn.h5ad"))
    assert res.rc == 0, res.err
    assert sorted(os.listdir(out)) == [".other.h5ad.abcd1234.tmp.h5ad", "syn.h5ad"]


def test_stale_temporaries_in_run_folder_removed_by_next_train(work, cli):
    run = work["diff"]
    (run / ".checkpoint.pt.abcd1234.tmp.pt").write_bytes(b"half")
    (run / ".weights.safetensors.zz_99xyz.tmp").write_bytes(b"half")
    res = cli(_train_argv(work["data"], run, "--no-resume"))
    assert res.rc == 0, res.err
    assert not [n for n in os.listdir(run) if n.startswith(".")]


def test_temporary_of_a_live_writer_is_kept(tmp_path):
    live = tmp_path / ".syn.h5ad.abcd1234.tmp.h5ad"
    live.write_bytes(b"being written")
    stale = tmp_path / ".old.h5ad.abcd1234.tmp.h5ad"
    stale.write_bytes(b"dead")
    proc = _hold(tmp_path / "syn.h5ad", "file")
    try:
        assert remove_stale_temporaries(tmp_path) == [stale.name]
        assert live.exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert remove_stale_temporaries(tmp_path) == [live.name]


SLOW_SAMPLE = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import anndata
    def slow_write(self, path, **kw):
        open(path, "wb").write(b"partial h5ad")
        print("writing", flush=True)
        # short sleeps, as a real write returns to the interpreter often: a signal the kernel hands one of the
        # native threads (torch's, BLAS's) runs its Python handler when the main thread next does, not after 120 s
        for _ in range(1200):
            time.sleep(0.1)
    anndata.AnnData.write_h5ad = slow_write
    from rnagen.cli.main import main
    main(sys.argv[2:])
""")


def test_kill9_during_sample_then_next_sample_cleans_up(work, cli):
    out = work["tmp"] / "out"
    argv = _sample_argv(work["gauss"], out / "syn.h5ad")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SAMPLE, SRC, *argv], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    left = sorted(os.listdir(out))
    assert len(left) == 2 and ".syn.h5ad.lock" in left and any(".tmp" in n for n in left), left
    res = cli(argv)
    assert res.rc == 0, res.err
    assert os.listdir(out) == ["syn.h5ad"]


def test_sigterm_during_sample_leaves_nothing(work):
    """SIGTERM (kill, timeout, a batch scheduler) ends a command as Ctrl-C does: exit 143, one line, its lock and
    temporary removed."""
    out = work["tmp"] / "term"
    argv = _sample_argv(work["gauss"], out / "syn.h5ad")
    stacks = "import sys, time, faulthandler, signal\nfaulthandler.register(signal.SIGUSR1, all_threads=True)"
    code = SLOW_SAMPLE.replace("main(sys.argv[2:])", "raise SystemExit(main(sys.argv[2:]))").replace(
        "import sys, time", stacks)
    proc = subprocess.Popen([sys.executable, "-c", code, SRC, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        # where the child is stuck, for the report: its stacks (faulthandler on SIGUSR1), then it is killed
        proc.send_signal(signal.SIGUSR1)
        time.sleep(2)
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"no exit within 30 s of SIGTERM; the child's stacks and output:\n{err}")
    assert proc.returncode == 143 and err.strip() == "rnagen: terminated"
    assert not out.exists()   # the folder the command created, removed with its lock and temporary


# --- family: modes ----------------------------------------------------------------------------------------------------
@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(old)


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_outputs_follow_the_umask(work, cli, umask, mask, mode):
    umask(mask)
    out = work["tmp"] / "out"
    assert cli(_sample_argv(work["gauss"], out / "syn.h5ad")).rc == 0
    assert cli(["data", "split", str(work["data"]), "--label-key", "tissue", "--out", str(out / "split")]).rc == 0
    for f in (out / "syn.h5ad", out / "split" / "train.h5ad", out / "split" / "test.h5ad"):
        assert stat.S_IMODE(f.stat().st_mode) == mode, (f, oct(f.stat().st_mode))


def test_run_folder_files_follow_the_umask(work, cli, umask):
    umask(0o022)
    run = work["tmp"] / "newrun"
    argv = ["train", str(work["data"]), "--model", "gaussian", "--label-key", "tissue", "--out", str(run), "--quiet"]
    assert cli(argv).rc == 0
    assert {stat.S_IMODE(f.stat().st_mode) for f in run.iterdir()} == {0o644}


# --- family: full disk and other OS errors while writing -----------------------------------------------------------
def _fail_with(monkeypatch, target: str, code: int) -> None:
    def writer(self, path, *a, **k):
        Path(path).write_bytes(b"partial")
        raise OSError(code, os.strerror(code), str(path))
    monkeypatch.setattr(target, writer)


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "no space left"), (errno.EACCES, "permission denied"),
                                        (errno.EROFS, "read-only")])
def test_sample_os_error_while_writing(work, clean_failure, monkeypatch, code, words, earlier_output):
    out = work["tmp"] / "out"
    earlier_output(out / "syn.h5ad")
    _fail_with(monkeypatch, "anndata.AnnData.write_h5ad", code)
    res = clean_failure(_sample_argv(work["gauss"], out / "syn.h5ad"), watch=[out, work["gauss"]], match=words)
    assert "syn.h5ad" in res.err


def test_split_disk_full_on_second_file(work, clean_failure, monkeypatch, earlier_output):
    import anndata

    real = anndata.AnnData.write_h5ad
    calls = []

    def second_fails(self, path, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, **kw)
    out = work["tmp"] / "out" / "split"
    out.mkdir()
    earlier_output(out / "train.h5ad")   # an older split, as rnagen wrote it
    earlier_output(out / "test.h5ad")
    monkeypatch.setattr(anndata.AnnData, "write_h5ad", second_fails)
    res = clean_failure(["data", "split", str(work["data"]), "--label-key", "tissue", "--out", str(out)],
                        watch=[out], match="no space left")
    assert "test.h5ad" in res.err and len(calls) == 2


def test_split_disk_full_on_first_file_names_it(work, clean_failure, monkeypatch, earlier_output):
    """The first file of the pair failing (h5py's RuntimeError of a full disk while it writes train.h5ad) is the
    file named, not the second one whose write had not begun, and the tracebacks h5py prints meanwhile are held
    back: one line, the older split kept."""
    import anndata

    real = anndata.AnnData.write_h5ad
    calls = []

    def first_fails(self, path, **kw):
        calls.append(path)
        if len(calls) == 1:
            print('Traceback (most recent call last):\n  File "h5py/_objects.pyx", line 210\nRuntimeError: Can\'t '
                  "decrement id ref count", file=sys.stderr)
            raise RuntimeError("Disable slist on flush dest failure failed (file write failed: errno = 28, error "
                               "message = 'No space left on device')")
        return real(self, path, **kw)
    out = work["tmp"] / "out" / "split"
    out.mkdir()
    earlier_output(out / "train.h5ad")
    earlier_output(out / "test.h5ad")
    monkeypatch.setattr(anndata.AnnData, "write_h5ad", first_fails)
    res = clean_failure(["data", "split", str(work["data"]), "--label-key", "tissue", "--out", str(out)],
                        watch=[out], match="no space left")
    assert f"cannot write {out / 'train.h5ad'}: no space left" in res.err and len(calls) == 1


def test_split_on_a_real_full_disk_is_one_line_naming_the_file(work, mount_tmpfs, fill_disk):
    """`data split` onto a real disk (a filled tmpfs) with room for neither file (16 to 32 KiB left; the train
    file takes more): exit 2 and one line naming train.h5ad, the file that did not fit; no h5py traceback, no
    segmentation fault at exit, and nothing left beside the filler."""
    mnt = work["tmp"] / "small"
    mnt.mkdir()
    mount_tmpfs(mnt, "1m")
    filler = mnt / "filler"
    size = fill_disk(filler)
    out = mnt / "split"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=SRC)
    for room in (16, 24, 32):
        os.truncate(filler, size - room * 1024)
        proc = subprocess.run([sys.executable, "-m", "rnagen", "data", "split", str(work["data"]), "--label-key",
                               "tissue", "--out", str(out)], capture_output=True, text=True, env=env, timeout=120)
        assert (proc.returncode, proc.stderr) == (2, f"rnagen: error: cannot write {out / 'train.h5ad'}: no space "
                                                     "left on the device; free some space or write elsewhere\n"), \
            (room, proc.returncode, proc.stderr[-3000:])
        assert os.listdir(mnt) == ["filler"], (room, os.listdir(mnt))


def test_train_disk_full_at_save_leaves_no_half_written_run(work, monkeypatch, clean_failure):
    """A full disk at the weights of a run with no checkpoint: one line, and no run folder left behind."""
    import safetensors.torch

    def full(tensors, filename, *a, **k):
        Path(filename).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(safetensors.torch, "save_file", full)
    run = work["tmp"] / "out" / "newrun"
    argv = ["train", str(work["data"]), "--model", "gaussian", "--label-key", "tissue", "--out", str(run), "--quiet"]
    res = clean_failure(argv, watch=[work["tmp"] / "out"], match="no space left")
    assert "weights.safetensors" in res.err and not run.exists()


def test_train_disk_full_keeps_the_checkpoint_to_resume_from(work, monkeypatch, cli):
    import safetensors.torch

    run = work["diff"]
    _interrupted(run, manifest=True)
    before = (run / "checkpoint.pt").read_bytes()

    def full(tensors, filename, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(safetensors.torch, "save_file", full)
    res = cli(_train_argv(work["data"], run))
    assert res.rc == 2 and "no space left" in res.err and len(res.err.strip().splitlines()) == 1
    assert res.err.rstrip().endswith(f"; {run} keeps the run's last checkpoint: run the same command again to "
                                     "resume from it"), res.err
    assert (run / "checkpoint.pt").read_bytes() == before and verify_manifest(run, fix="x")
    monkeypatch.undo()
    assert cli(_train_argv(work["data"], run)).rc == 0  # space freed: the same command finishes the run


@pytest.mark.parametrize("command", ["sample", "evaluate", "tune"])
def test_an_out_that_is_a_pipe_is_refused(work, clean_failure, command):
    """A FIFO (or a device, /dev/stdout) as --out: refused in one line, the FIFO left as it is (the atomic write
    would have replaced it with a regular file)."""
    import stat as st

    out = work["tmp"] / "out" / {"sample": "syn.h5ad", "evaluate": "m.json", "tune": "best.toml"}[command]
    os.mkfifo(out)
    argv = {"sample": _sample_argv(work["gauss"], out),
            "evaluate": ["evaluate", "--real", work["data"], "--synthetic", work["data"], "--metrics", "precision",
                         "--out", out],
            "tune": ["tune", work["data"], "--model", "gaussian", "--label-key", "tissue", "--trials", "1",
                     "--out", out]}[command]
    clean_failure(argv, watch=[out.parent], match="is not a regular file")
    assert st.S_ISFIFO(out.lstat().st_mode)


def test_an_out_folder_that_is_a_dangling_link_is_named(work, clean_failure):
    """--out a symbolic link to a folder that does not exist, in a folder that does not exist either: the link
    named with the fix (mkdir says 'File exists'), the link left as it is. (A link to nothing in a folder that
    exists gets its target made: tests/cli/test_outputs_cli.py.)"""
    link = work["tmp"] / "out" / "run"
    link.symlink_to(work["tmp"] / "gone" / "missing")
    clean_failure(_train_argv(work["data"], link), watch=[link.parent], match="is a symbolic link to")
    clean_failure(_sample_argv(work["gauss"], link / "syn.h5ad"), watch=[link.parent], match="which does not exist")
    assert link.is_symlink() and not (work["tmp"] / "gone").exists()


def test_reconstruct_fit_disk_full_at_save_leaves_no_half_written_folder(work, monkeypatch, clean_failure):
    """A full disk at the reconstructor's weights, its config, genes and transforms written: one line, and no
    reconstructor folder left behind (one that loads as far as its first missing file)."""
    import safetensors.numpy

    def full(tensors, filename, *a, **k):
        Path(filename).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(safetensors.numpy, "save_file", full)
    inputs = work["tmp"] / "inputs.txt"
    inputs.write_text("\n".join(LANDMARK_SYMBOLS[:4]) + "\n")
    out = work["tmp"] / "out" / "recon"
    res = clean_failure(["reconstruct", "fit", str(work["data"]), "--inputs", str(inputs), "--out", str(out),
                         "--quiet"], watch=[work["tmp"] / "out"], match="no space left")
    assert "weights.safetensors" in res.err and not out.exists()


@pytest.mark.parametrize("writer", ["safetensors", "torch"])
def test_a_full_disk_reported_by_the_writer_s_own_error_is_one_line(work, monkeypatch, cli, writer):
    """safetensors reports a full disk as a SafetensorError naming os error 28, torch.save as a RuntimeError
    naming only a file position: both one line, exit 2, as an OSError is."""
    import safetensors.torch
    import torch

    import rnagen._io as rio

    if writer == "safetensors":
        class SafetensorError(Exception):
            pass

        def full(tensors, filename, *a, **k):
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        monkeypatch.setattr(safetensors.torch, "save_file", full)
        argv = ["train", str(work["data"]), "--model", "gaussian", "--label-key", "tissue", "--out",
                str(work["tmp"] / "out" / "g"), "--quiet"]
        name = "weights.safetensors"
    else:
        def full_pos(obj, f, *a, **k):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 162176 vs 162064")
        monkeypatch.setattr(torch, "save", full_pos)
        monkeypatch.setattr("shutil.disk_usage", lambda p: type("Usage", (), {"free": 4096})())
        argv = _train_argv(work["data"], work["tmp"] / "out" / "d")
        name = "checkpoint.pt"
    res = cli(argv)
    assert res.rc == 2 and len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    assert f"{name}: no space left on the device" in res.err
    monkeypatch.undo()
    # a RuntimeError with room on the disk is not taken for a full disk
    with pytest.raises(RuntimeError, match="another failure"):
        with rio.atomic_path(work["tmp"] / "x.bin"):
            raise RuntimeError("another failure")


def test_a_failed_h5ad_write_prints_one_line(work, monkeypatch, cli):
    """A full disk while writing an .h5ad: h5py prints a traceback per object id it cannot release; the command
    prints its one line only, and leaves no temporary behind."""
    import sys

    import anndata

    def full(self, path, **kw):
        for _ in range(3):
            print("Traceback (most recent call last):\n  File \"h5py/_objects.pyx\", line 210\nOSError: 28",
                  file=sys.stderr)
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(anndata.AnnData, "write_h5ad", full)
    out = work["tmp"] / "out" / "s.h5ad"
    res = cli(_sample_argv(work["gauss"], out))
    assert res.rc == 2 and res.err.strip().splitlines() == [
        f"rnagen: error: cannot write {out}: no space left on the device; free some space or write elsewhere"]
    assert sorted(p.name for p in out.parent.iterdir() if not p.name.endswith(".lock")) == []


def test_output_error_is_an_oserror_and_a_user_error():
    assert issubclass(OutputError, OSError)
    with pytest.raises(OutputError, match="no space left"):
        from rnagen._io import atomic_path

        with atomic_path("/tmp/rnagen_never_written.txt"):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert not Path("/tmp/rnagen_never_written.txt").exists()


def test_fetch_out_an_existing_file_is_refused_before_any_download(tmp_path, clean_failure):
    """`data fetch --out` names a folder: an existing file there is refused before anything is fetched."""
    f = tmp_path / "notes.txt"
    f.write_text("keep me\n")
    clean_failure(["data", "fetch", "gtex", "--out", f, "--cache-dir", tmp_path / "cache",
                   "--base-url", "http://127.0.0.1:9/"], watch=[tmp_path], match="notes.txt")


SWALLOWED_SAMPLE = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)   # a test runner's workers may ignore it
    sys.path.insert(0, sys.argv[1])
    import anndata
    class Finaliser:
        def __del__(self):   # the signal lands here, as in h5py's callbacks: Python drops what it raises
            print("writing", flush=True)
            for _ in range(600):   # short sleeps: a signal handed to a native thread runs when the main thread
                time.sleep(0.1)    # next returns to the interpreter (SLOW_SAMPLE), not after a 60-s sleep
    def swallowing_write(self, path, **kw):
        f = Finaliser()
        del f
        open(path, "wb").write(b"a whole file")
    anndata.AnnData.write_h5ad = swallowing_write
    from rnagen.cli.main import main
    raise SystemExit(main(sys.argv[2:]))
""")


def test_ctrl_c_lost_inside_a_write_still_stops_the_command(work):
    """Ctrl-C raised inside a callback Python drops it from (h5py's, while an .h5ad is written): the file is
    discarded and the command ends as interrupted (130, one line), not with exit 0 and a traceback."""
    out = work["tmp"] / "int"
    argv = _sample_argv(work["gauss"], out / "syn.h5ad")
    proc = subprocess.Popen([sys.executable, "-c", SWALLOWED_SAMPLE, SRC, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip() == "rnagen: interrupted", (proc.returncode, err)
    assert not out.exists()


def test_evaluate_does_not_replace_a_file_it_did_not_write(work, cli, clean_failure):
    """`evaluate --out` over a user's own table or JSON is refused; over its own earlier output it writes again."""
    syn = work["tmp"] / "syn.h5ad"
    assert cli(_sample_argv(work["gauss"], syn)).rc == 0
    argv = ["evaluate", "--real", str(work["data"]), "--synthetic", str(syn), "--metrics", "fidelity",
            "--label-key", "tissue", "--n-boot", "10", "--n-boot-expensive", "2", "--k", "3"]
    for name, text in (("mine.csv", "sample,label,g1\ns1,a,1.0\n"), ("notes.json", '{"todo": [1, 2]}')):
        precious = work["tmp"] / "out" / name
        precious.write_text(text)
        clean_failure(argv + ["--out", str(precious)], watch=[work["tmp"] / "out"], match="not a result rnagen wrote")
    for name in ("metrics.json", "metrics.csv", "metrics.tsv"):
        own = work["tmp"] / "out" / name
        for _ in range(2):   # the second run replaces its own output
            res = cli(argv + ["--out", str(own)])
            assert res.rc == 0, res.err
    assert json.loads((work["tmp"] / "out" / "metrics.json").read_text())["metrics"]


def test_train_does_not_overwrite_a_config_toml_that_is_not_toml(work, clean_failure):
    run = work["tmp"] / "out" / "myrun"
    run.mkdir()
    (run / "config.toml").write_text("my notes, not TOML\n")
    clean_failure(["train", str(work["data"]), "--model", "gaussian", "--label-key", "tissue", "--out", str(run),
                   "--quiet"], watch=[work["tmp"] / "out"], match="not TOML")


def test_a_reader_that_stops_reading_does_not_stop_the_command(work, cli):
    """`rnagen evaluate ... --out m.json | true`: a pipe closed before the table is printed stops the printing, not
    the command: it writes its file and exits 0, with nothing on stderr."""
    syn = work["tmp"] / "syn.h5ad"
    assert cli(_sample_argv(work["gauss"], syn)).rc == 0
    out = work["tmp"] / "out" / "m.json"
    argv = ["evaluate", "--real", str(work["data"]), "--synthetic", str(syn), "--label-key", "tissue", "--k", "3",
            "--n-boot", "10", "--n-boot-expensive", "2", "--per-class", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "rnagen", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=SRC))
    proc.stdout.close()   # the reader gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and err == "", err
    assert json.loads(out.read_text())["metrics"]


def test_sample_from_a_reconstructor_names_it(work, clean_failure):
    clean_failure(_sample_argv(work["recon"], work["tmp"] / "out" / "z.csv"),
                  watch=[work["recon"], work["tmp"] / "out"],
                  match="holds a reconstructor (rnagen reconstruct fit), not a generator")
