"""Data-parallel training through the real launcher: ``torchrun --nproc_per_node=2`` on CPU (gloo).

Checks: a 2-rank run trains and writes one run folder; both ranks end with identical live and EMA weights;
the result equals a 1-process run with the same global batch (the toy model's loss has no noise, so only
float summation order differs); a run whose rank 1 dies mid-training resumes from rank 0's checkpoint to the
same weights as an uninterrupted run, with dropout too (each rank's global generator restored); and a real
registered torch model trains under torchrun.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

HERE = Path(__file__).parent
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")

pytestmark = pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found next to the Python interpreter")

STEPS = 30          # ToyConfig default; checkpoints every 10 steps
TOY = ["--model", "ddp-toy", "--label-key", "label", "--seed", "3", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    """64 samples x 8 genes, 2 labels, written as h5ad."""
    import anndata as ad

    from rnagen._io import write_h5ad

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 32)
    X = rng.normal(size=(64, 8)) + 2.0 * y[:, None] * np.linspace(-1, 1, 8)[None, :]
    obs = pd.DataFrame({"label": pd.Categorical(np.where(y == 0, "a", "b"))}, index=[f"s{i}" for i in range(64)])
    adata = ad.AnnData(X=X.astype(np.float32), obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(8)]))
    path = tmp_path_factory.mktemp("ddp") / "toy.h5ad"
    write_h5ad(adata, path)
    return path


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [str(HERE), *filter(None, [env.get("PYTHONPATH")])]))
    for k in ("RNAGEN_TEST_DUMP", "RNAGEN_TEST_CRASH_AT", "RNAGEN_TEST_GAN_CRASH_AT", "WORLD_SIZE", "RANK",
              "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    env.update(extra)
    return env


def _torchrun(args: list[str], *, nproc: int = 2, env: dict[str, str], module: bool = False):
    target = ["-m", "rnagen"] if module else [str(HERE / "ddp_worker.py")]
    # --standalone: a local rendezvous on a free port, so parallel test runs never collide
    cmd = [TORCHRUN, "--standalone", f"--nproc_per_node={nproc}", "--max-restarts=0", *target, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def _load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def _assert_state_close(a: dict, b: dict, *, atol: float, rtol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=rtol, msg=lambda m, k=k: f"{k}: {m}")


@pytest.fixture(scope="module")
def ddp_run(data_file, tmp_path_factory):
    """One uninterrupted 2-rank run with per-rank weight dumps."""
    root = tmp_path_factory.mktemp("ddp_run")
    dump = root / "dump"
    dump.mkdir()
    r = _torchrun(["train", str(data_file), *TOY, "--out", str(root / "run")], env=_env(RNAGEN_TEST_DUMP=str(dump)))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return root, r


def test_two_ranks_train_and_agree(ddp_run):
    root, r = ddp_run
    run = root / "run"
    # one run folder, written once (rank 0): the success line printed once
    assert r.stdout.count("trained ddp-toy") == 1, r.stdout
    for f in ("config.toml", "meta.json", "genes.txt", "transforms.npz", "weights.safetensors", "checkpoint.pt"):
        assert (run / f).is_file(), f
    r0, r1 = _load(root / "dump" / "rank0.pt"), _load(root / "dump" / "rank1.pt")
    assert r0["world_size"] == r1["world_size"] == 2
    # DDP keeps replicas in lock-step: bitwise equal live and EMA weights on both ranks
    _assert_state_close(r0["live"], r1["live"], atol=0.0)
    _assert_state_close(r0["ema"], r1["ema"], atol=0.0)
    # it learned: the loss went down
    assert r0["history"][-1]["mse"] < 0.8 * r0["history"][0]["mse"]
    # what rank 0 saved is what both ranks hold
    from safetensors.torch import load_file

    saved = load_file(str(run / "weights.safetensors"))
    _assert_state_close({k[4:]: v for k, v in saved.items()}, r0["ema"], atol=0.0)
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ck["step"] == STEPS and len(ck["noise_rng"]) == 2


def test_matches_single_process_same_global_batch(ddp_run, data_file, tmp_path):
    """2 ranks x 8 samples == 1 process x 16 samples (global batch 16): same trajectory."""
    root, _ = ddp_run
    dump = tmp_path / "dump"
    dump.mkdir()
    env = _env(RNAGEN_TEST_DUMP=str(dump))
    r = subprocess.run([sys.executable, str(HERE / "ddp_worker.py"), "train", str(data_file), *TOY,
                        "--out", str(tmp_path / "single")], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    single = _load(dump / "rank0.pt")
    assert single["world_size"] == 1
    ddp = _load(root / "dump" / "rank0.pt")
    _assert_state_close(ddp["live"], single["live"], atol=1e-5, rtol=1e-4)
    _assert_state_close(ddp["ema"], single["ema"], atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose([h["mse"] for h in ddp["history"]], [h["mse"] for h in single["history"]],
                               rtol=1e-4)


def _assert_same_log(got: list[dict], want: list[dict], *, rtol: float) -> None:
    """The same training log rows: the same steps and columns, each number within ``rtol``."""
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for g, w in zip(got, want):
        assert g.keys() == w.keys(), g["step"]
        np.testing.assert_allclose([g[k] for k in sorted(g)], [w[k] for k in sorted(w)], rtol=rtol,
                                   err_msg=str(g["step"]))


def test_resume_after_a_rank_dies(ddp_run, data_file, tmp_path):
    """Rank 1 dies at step 15; the relaunched job resumes from the step-10 checkpoint and ends where an
    uninterrupted run ends (bitwise), and so does a 1-process run resumed from the same checkpoint. Both write an
    uninterrupted run's training log: the row of step 12 averages steps 9 to 12, two of them from before the
    checkpoint."""
    root, _ = ddp_run
    out = tmp_path / "run"
    crashed = _torchrun(["train", str(data_file), *TOY, "--out", str(out)], env=_env(RNAGEN_TEST_CRASH_AT="15"))
    assert crashed.returncode != 0
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 10
    assert not (out / "weights.safetensors").exists()
    shutil.copytree(out, tmp_path / "run_single")
    dump = tmp_path / "dump"
    dump.mkdir()
    resumed = _torchrun(["train", str(data_file), *TOY, "--out", str(out)], env=_env(RNAGEN_TEST_DUMP=str(dump)))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    a, b = _load(dump / "rank0.pt"), _load(root / "dump" / "rank0.pt")
    _assert_state_close(a["live"], b["live"], atol=0.0)
    _assert_state_close(a["ema"], b["ema"], atol=0.0)
    _assert_state_close(_load(dump / "rank1.pt")["live"], a["live"], atol=0.0)
    _assert_same_log(a["history"], b["history"], rtol=1e-12)
    assert pd.read_csv(out / "train_log.csv").columns.tolist() == ["step", "lr", "loss", "mse"]
    _assert_same_log(pd.read_csv(out / "train_log.csv").to_dict("records"),
                     pd.read_csv(root / "run" / "train_log.csv").to_dict("records"), rtol=1e-12)
    # the same checkpoint also resumes in a single process (same global batches; float order aside)
    dump1 = tmp_path / "dump1"
    dump1.mkdir()
    r = subprocess.run([sys.executable, str(HERE / "ddp_worker.py"), "train", str(data_file), *TOY,
                        "--out", str(tmp_path / "run_single")], env=_env(RNAGEN_TEST_DUMP=str(dump1)),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    # the one process says what it repeats of the 2-rank run (the toy's ranks draw their own noise streams)
    assert "rnagen: warning: resuming at step 10 a run checkpointed by 2 process(es) on 1: it continues correctly " \
        "but with other noise draws" in r.stderr, r.stderr[-3000:]
    assert "rnagen: warning: resuming" not in resumed.stderr   # on as many processes: nothing to warn of
    _assert_state_close(_load(dump1 / "rank0.pt")["live"], a["live"], atol=1e-5, rtol=1e-4)
    _assert_same_log(_load(dump1 / "rank0.pt")["history"], b["history"], rtol=1e-4)


def test_a_run_with_dropout_resumes_each_rank_s_global_generator(data_file, tmp_path):
    """Dropout draws its masks from torch's global generator, one stream per rank. Rank 1 dies at step 15; the
    relaunched job restores every rank's own global generator from the step-10 checkpoint and ends bitwise where
    an uninterrupted run ends (a resume that restored none, or rank 0's alone, drew other masks)."""
    args = ["train", str(data_file), *TOY, "--set", "dropout=0.3"]
    dumps = {}
    for name in ("whole", "resumed"):
        dumps[name] = tmp_path / f"dump_{name}"
        dumps[name].mkdir()
    whole = _torchrun([*args, "--out", str(tmp_path / "whole")], env=_env(RNAGEN_TEST_DUMP=str(dumps["whole"])))
    assert whole.returncode == 0, whole.stdout[-3000:] + whole.stderr[-3000:]
    out = tmp_path / "run"
    crashed = _torchrun([*args, "--out", str(out)], env=_env(RNAGEN_TEST_CRASH_AT="15"))
    assert crashed.returncode != 0
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 10
    resumed = _torchrun([*args, "--out", str(out)], env=_env(RNAGEN_TEST_DUMP=str(dumps["resumed"])))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    for rank in (0, 1):
        a, b = _load(dumps["resumed"] / f"rank{rank}.pt"), _load(dumps["whole"] / f"rank{rank}.pt")
        _assert_state_close(a["live"], b["live"], atol=0.0)
        _assert_state_close(a["ema"], b["ema"], atol=0.0)
    # the checkpoint holds each rank's state, and rank 0's under the key one process resumes by
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert len(ck["global_rng_ranks"]) == 2
    assert not torch.equal(ck["global_rng_ranks"][0]["cpu"], ck["global_rng_ranks"][1]["cpu"])
    assert torch.equal(ck["global_rng"]["cpu"], ck["global_rng_ranks"][0]["cpu"])


def test_a_run_folder_refused_by_rank_0_ends_every_rank_at_once(ddp_run, data_file):
    """Rank 0 refuses a finished run folder before it joins the process group; rank 1, waiting to join in native
    code, must end on the launcher's SIGTERM rather than be killed after torchrun's grace period."""
    root, _ = ddp_run
    r = _torchrun(["train", str(data_file), *TOY, "--out", str(root / "run")], env=_env())
    assert r.returncode != 0
    assert "rnagen: error: " in r.stderr and "already holds a finished ddp-toy run" in r.stderr, r.stderr[-3000:]
    assert "Unable to shutdown" not in r.stderr, r.stderr[-3000:]   # torchrun's word before its SIGKILL


GAN = ["--model", "wgan-gp", "--label-key", "label", "--device", "cpu", "--quiet", "--seed", "3",
       "--set", "train.steps=20", "--set", "train.batch_size=16", "--set", "train.checkpoint_every=5",
       "--set", "train.log_every=3", "--set", "network.generator_hidden=[16]", "--set", "network.critic_hidden=[16]",
       "--set", "gan.n_critic=2"]


def _single(args: list[str], env: dict[str, str]):
    return subprocess.run([sys.executable, str(HERE / "ddp_worker.py"), *args], env=env, capture_output=True,
                          text=True, timeout=120)


def _gan_state(run: Path) -> tuple[dict, dict, pd.DataFrame]:
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 20
    return ck["module"], ck["ema"], pd.read_csv(run / "train_log.csv")


def test_a_wgan_gp_resumed_on_another_number_of_processes_follows_the_uninterrupted_run(data_file, tmp_path):
    """The WGAN-GP draws each profile's noise (z, the penalty's eps) for the whole global batch from one stream on
    every rank: killed at critic step 12 (between generator updates, inside a logging window) and resumed from the
    step-10 checkpoint on another number of processes (2 to 1, 1 to 2), it ends where the uninterrupted 1-process
    run ends, critic, generator, their averages and the training log, up to float rounding (the gradients are
    summed in another order; per-rank streams drew other noise for the same profiles, off by about 5e-3), and says
    so in one warning. Resumed on as many processes it is bitwise the uninterrupted run (the other tests' check)."""
    whole = _single(["train", str(data_file), *GAN, "--out", str(tmp_path / "whole")], _env())
    assert whole.returncode == 0, whole.stderr[-3000:]
    want = _gan_state(tmp_path / "whole")
    for saved, resumed_on in ((2, 1), (1, 2)):
        out = tmp_path / f"run{saved}{resumed_on}"
        args = ["train", str(data_file), *GAN, "--out", str(out)]
        env = _env(RNAGEN_TEST_GAN_CRASH_AT="12")
        crashed = _torchrun(args, env=env) if saved == 2 else _single(args, env)
        assert crashed.returncode != 0
        assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 10
        r = _torchrun(args, env=_env()) if resumed_on == 2 else _single(args, _env())
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert r.stderr.count(f"rnagen: warning: resuming at step 10 a run checkpointed by {saved} process(es) on "
                              f"{resumed_on}: it follows an uninterrupted run up to floating-point rounding") == 1, \
            r.stderr[-3000:]
        got = _gan_state(out)
        _assert_state_close(got[0], want[0], atol=1e-6, rtol=1e-5)
        _assert_state_close(got[1], want[1], atol=1e-6, rtol=1e-5)
        assert list(got[2].columns) == list(want[2].columns) and "loss_g" in want[2].columns
        _assert_same_log(got[2].to_dict("records"), want[2].to_dict("records"), rtol=1e-5)


def test_a_loss_diverging_on_one_rank_stops_every_rank(data_file, tmp_path):
    """A NaN loss on rank 1 alone: every rank stops at that step with the one-line error (no rank left waiting in
    a gradient all-reduce), and no run folder is left as if trained."""
    out = tmp_path / "run"
    r = _torchrun(["train", str(data_file), *TOY, "--out", str(out)], env=_env(RNAGEN_TEST_NAN_AT="12"))
    assert r.returncode != 0
    assert r.stderr.count("rnagen: error: training diverged at step 12 of 30: ") == 2, r.stderr[-3000:]
    assert "a logged number is not finite on another process" in r.stderr and "loss = nan" in r.stderr
    assert not (out / "weights.safetensors").exists()
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 10


def _real_torch_model() -> str | None:
    from rnagen.models import available_models, get_model

    for name in ("diffusion", "vae", "wgan-gp"):
        if name in available_models() and getattr(get_model(name), "uses_torch", True):
            return name
    return None


def test_torchrun_m_rnagen_trains_a_real_model(data_file, tmp_path):
    """The command users run: ``torchrun --nproc_per_node=2 -m rnagen train ...`` with a shipped model."""
    name = _real_torch_model()
    if name is None:
        pytest.skip("no shipped torch model (diffusion, vae, wgan-gp) registered in this build")
    out = tmp_path / "run"
    args = ["train", str(data_file), "--model", name, "--label-key", "label", "--device", "cpu", "--quiet",
            "--set", "train.steps=6", "--set", "train.batch_size=16", "--set", "train.checkpoint_every=3",
            "--out", str(out)]
    r = _torchrun(args, env=_env(), module=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    from rnagen.models import load

    model = load(out, device="cpu")
    syn = model.sample(n_per_label=4, seed=0)
    assert syn.shape == (8, 8) and np.isfinite(syn.X).all()
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 6


def test_torchrun_trains_a_private_wgan_gp(data_file, tmp_path):
    """The WGAN-GP's own step under DP-SGD on two ranks: each clips its slice's per-profile critic gradients
    and rank 0 adds the noise (DistributedDPOptimizer); the run records the composed guarantee and samples."""
    pytest.importorskip("opacus")
    out = tmp_path / "run"
    args = ["train", str(data_file), "--model", "wgan-gp", "--label-key", "label", "--device", "cpu", "--quiet",
            "--set", "train.steps=6", "--set", "train.batch_size=16", "--set", "network.generator_hidden=[16]",
            "--set", "network.critic_hidden=[16]", "--set", "privacy.epsilon=5", "--set", "privacy.accountant=rdp",
            "--out", str(out)]
    r = _torchrun(args, env=_env(), module=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    from rnagen.models import load
    from rnagen.train.privacy import spent_epsilon

    model = load(out, device="cpu")
    rec = model.privacy
    assert rec["steps"] == 6 and rec["prior_rho"] > 0 and 5 - 0.011 < rec["epsilon"] <= 5
    assert rec["epsilon"] == pytest.approx(spent_epsilon([(rec["noise_multiplier"], rec["sample_rate"], 6)],
                                                         delta=rec["delta"], accountant="rdp",
                                                         prior_rho=rec["prior_rho"]), rel=1e-9)
    assert np.isfinite(model.sample(n_per_label=4, seed=0).X).all()


def test_custom_step_ranks_agree_even_from_different_initial_weights():
    """The GAN-style path (own step_fn, gradients via ctx.all_reduce_grads, no DDP wrapper)."""
    r = subprocess.run([TORCHRUN, "--standalone", "--nproc_per_node=2", "--max-restarts=0",
                        str(HERE / "ddp_stepfn_worker.py")], env=_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    line = next(s for s in r.stdout.splitlines() if s.startswith("max-rank-diff"))
    assert float(line.split()[1]) == 0.0


PRIVATE = ["--model", "ddp-toy-private", "--label-key", "label", "--seed", "3", "--device", "cpu", "--quiet"]


def test_private_training_under_two_ranks_shares_rank_0_s_secret_key(data_file, tmp_path):
    """DP-SGD under torchrun: the ranks draw one Poisson batch from rank 0's secret key (each process draws its
    own key, broadcast from rank 0) and end with the same weights; the run folder records the spent epsilon. That
    the update is one process's DP-SGD step is checked with the seed as the key
    (test_a_private_run_with_empty_slices_and_an_odd_batch_is_one_process_s)."""
    dump = tmp_path / "dump"
    dump.mkdir()
    r = _torchrun(["train", str(data_file), *PRIVATE, "--out", str(tmp_path / "run")],
                  env=_env(RNAGEN_TEST_DUMP=str(dump)))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r0, r1 = _load(dump / "rank0.pt"), _load(dump / "rank1.pt")
    assert r0["key"] == r1["key"] != 3   # the secret key of rank 0 on both
    _assert_state_close(r0["live"], r1["live"], atol=0.0)
    meta = __import__("json").loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["privacy"]["epsilon"] == pytest.approx(r0["epsilon"]) and r0["epsilon"] > 0


def test_a_private_run_whose_rank_dies_resumes_with_its_accountant(data_file, tmp_path):
    """Rank 1 of a private 2-rank run dies at step 15: the relaunched job resumes from the step-10 checkpoint,
    its accountant's history restored (the spent epsilon of 30 steps, as an uninterrupted run's), both ranks on a
    new shared key, and ends with both ranks' weights identical."""
    out = tmp_path / "run"
    crashed = _torchrun(["train", str(data_file), *PRIVATE, "--out", str(out)], env=_env(RNAGEN_TEST_CRASH_AT="15"))
    assert crashed.returncode != 0
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 10 and [h[2] for h in ck["privacy"]["history"]] == [10]
    dump = tmp_path / "dump"
    dump.mkdir()
    resumed = _torchrun(["train", str(data_file), *PRIVATE, "--out", str(out)], env=_env(RNAGEN_TEST_DUMP=str(dump)))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    a, b = _load(dump / "rank0.pt"), _load(dump / "rank1.pt")
    assert a["key"] == b["key"]
    _assert_state_close(a["live"], b["live"], atol=0.0)
    from rnagen.train.privacy import spent_epsilon

    whole = spent_epsilon([(0.8, 16 / 64, STEPS)], delta=1 / 64, accountant="auto")
    assert a["epsilon"] == pytest.approx(whole, rel=1e-6)


def test_a_private_run_with_empty_slices_and_an_odd_batch_is_one_process_s(data_file, tmp_path):
    """With the seed as the key (privacy.reproducible) a 2-rank private run follows the 1-process run: the same
    Poisson batches, the noise added once (by rank 0), the same update up to float summation order and the same
    epsilon. Here with an expected batch of 3, logged every step: a rank's slice is often empty (it logs no loss
    that step, and every rank must still reduce the same log tensor), and 3 is not rounded to a multiple of the
    ranks (the sample rate and epsilon of one process)."""
    runs = {}
    for name in ("ddp", "single"):
        d = tmp_path / f"dump_{name}"
        d.mkdir()
        args = ["train", str(data_file), *PRIVATE, "--set", "privacy.reproducible=true", "--set",
                "train.batch_size=3", "--set", "train.log_every=1", "--set", "train.steps=20",
                "--out", str(tmp_path / f"run_{name}")]
        env = _env(RNAGEN_TEST_DUMP=str(d))
        r = (_torchrun(args, env=env) if name == "ddp" else
             subprocess.run([sys.executable, str(HERE / "ddp_worker.py"), *args], env=env, capture_output=True,
                            text=True, timeout=120))
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        runs[name] = _load(d / "rank0.pt")
    assert runs["ddp"]["epsilon"] == pytest.approx(runs["single"]["epsilon"])
    _assert_state_close(runs["ddp"]["live"], runs["single"]["live"], atol=1e-5, rtol=1e-4)
    hist = {k: r["history"] for k, r in runs.items()}
    assert len(hist["ddp"]) == len(hist["single"]) == 20
    np.testing.assert_allclose([h["batch"] for h in hist["ddp"]], [h["batch"] for h in hist["single"]])
    # a step whose whole batch was empty logs no loss, on one process or two
    assert [("loss" in h) for h in hist["ddp"]] == [("loss" in h) for h in hist["single"]]
    assert any(h["batch"] == 0 for h in hist["single"]) or any(h["batch"] == 1 for h in hist["single"])
