"""Every torch model chooses its training length on held-out profiles and keeps the best check's weights."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from rnagen import datasets
from rnagen.models import get_model, load
from rnagen.train import FidelityValidator, stratified_holdout
from rnagen.train.validation import describe_floor

# the diffusion model validates by default; the VAE and the WGAN-GP opt in (train.val_fraction = 0.1)
TINY = {
    "diffusion": ["network.width=32", "network.depth=1", "schedule.T=100", "sample.steps=10", "train.val_fraction=0.1"],
    "vae": ["network.hidden=[32]", "network.latent_dim=4", "train.val_fraction=0.1"],
    "wgan-gp": ["network.generator_hidden=[32]", "network.critic_hidden=[32]", "train.val_fraction=0.1",
                "sample.noise=0"],  # validation draws are noise-free: rescoring the kept weights matches
}


@pytest.fixture(scope="module")
def gtex32():
    return datasets.gtex26()[:, :32].copy()  # 26 tissues x 20 profiles: 2 per tissue held out (52)


@pytest.mark.parametrize("name", ["diffusion", "vae", "wgan-gp"])
def test_fit_records_the_curve_and_keeps_the_best_step(name, gtex32, tmp_path):
    torch.set_num_threads(1)
    cfg = TINY[name] + ["train.steps=100", "train.val_every=20", "train.patience=2", "train.batch_size=64"]
    model = get_model(name).from_config(overrides=cfg)
    model.fit(gtex32, label_key="tissue", seed=3, device="cpu", progress=False, run_dir=tmp_path)
    v = model.validation
    curve = pd.read_csv(tmp_path / "validation.csv")
    assert v["n_val"] == 52 and list(curve.columns) == ["step", "score", "density", "coverage", "aa_ts", "aa_truth",
                                                       "aa_syn", "copy_share", "smoothed"]
    assert curve["step"].tolist() == list(range(20, v["steps"] + 1, 20))
    # each check is judged by the mean of the last `window` scores; the kept weights are the window's middle
    W = v["window"]
    assert W == 1 and curve["smoothed"].tolist() == pytest.approx(
        curve["score"].rolling(W, min_periods=1).mean().tolist())
    i = int(curve["smoothed"].idxmax())                  # first maximum: ties keep the shorter run
    best = int(curve["step"][i - ((W - 1) // 2 if i + 1 >= W else i - i // 2)])
    if i == len(curve) - 1 and v["stop_reason"] == "budget":
        best = int(curve["step"][i])                     # still improving at the end: the last check
    assert v["best_step"] == best and v["best_score"] == pytest.approx(curve["smoothed"].max())
    if v["stop_reason"] == "patience":
        assert v["steps"] == int(curve["step"][i]) + 2 * 20   # stopped 2 checks after the best window
    else:
        assert v["stop_reason"] == "budget" and v["steps"] == 100
    meta = json.loads((tmp_path / "meta.json").read_text())["validation"]
    assert meta["best_step"] == best and meta["stop_reason"] == v["stop_reason"] and "curve" not in meta
    # the per-class Gaussian on the same held-out profiles, beside the score of what the run keeps
    assert meta["floor"] == pytest.approx(v["floor"]) and 0 < v["floor"]["score"] <= 1
    assert meta["final_score"] == pytest.approx(v["final_score"]) and v["final_score"] >= v["best_score"] - 1e-12
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert log.dropna(subset=["val_score"])["val_score"].tolist() == pytest.approx(curve["score"].tolist())
    if name == "vae":
        return  # its sampler is refitted on all profiles after training; the weights are checked below
    # the saved weights are the best check's: scoring them again gives the best score exactly
    reloaded = load(tmp_path, device="cpu")
    X = reloaded.pipeline.transform(np.asarray(gtex32.X, dtype=np.float64)).astype(np.float32)
    y = gtex32.obs["tissue"].astype(str).map({c: i for i, c in enumerate(reloaded.labels)}).to_numpy(np.int64)
    tr, va = stratified_holdout(y, fraction=0.1, seed=3)
    # the validation scores the network's own samples, before the support clip of the output, and (diffusion)
    # without autoguidance and classifier-free guidance, whose weights are chosen after the length
    assert reloaded.pipeline.spec.startswith("nonnegative")
    alone = {"autoguidance": 1.0, "guidance": 0.0} if name == "diffusion" else {}
    validator = FidelityValidator(lambda yy, s: reloaded._sample(yy, seed=s, batch_size=4096, progress=False, **alone),
                                  X[tr], y[tr], X[va], y[va], seed=3)
    assert validator()["score"] == pytest.approx(curve.set_index("step")["score"][best], abs=1e-9)
    assert validator.floor() == pytest.approx(v["floor"], abs=1e-9)


def test_vae_keeps_the_best_weights(gtex32, tmp_path):
    """The VAE's network weights in the run folder are the EMA weights of its best check."""
    cfg = TINY["vae"] + ["train.steps=100", "train.val_every=20", "train.patience=10", "train.batch_size=64"]
    model = get_model("vae").from_config(overrides=cfg)
    model.fit(gtex32, label_key="tissue", seed=1, device="cpu", progress=False, run_dir=tmp_path)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    best = state["validation"]["best_weights"]
    assert state["validation"]["best_step"] == model.validation["best_step"]
    ema = state["ema"]
    for k, t in model.net.state_dict().items():
        if k.startswith(("prior_", "matched_noise", "noise_log_var")):
            continue  # fitted after training
        assert torch.equal(t, best[k])
    if model.validation["best_step"] != state["step"]:  # the final EMA differs from what was kept
        assert any(not torch.equal(best[k], ema[k]) for k in best)


def test_no_validation_when_too_small(tmp_path):
    small = datasets.gtex26()[:, :16].copy()
    keep = small.obs.groupby("tissue", observed=True).head(3).index  # 3 per tissue: 1 each, 26 < ... held out
    small = small[small.obs_names.isin(keep[:30])].copy()            # 10 tissues x 3: 10 held out, a third
    model = get_model("diffusion").from_config(overrides=TINY["diffusion"] + ["train.steps=30"])
    model.fit(small, label_key="tissue", seed=0, device="cpu", progress=False, run_dir=tmp_path)
    v = model.validation
    assert v["stop_reason"] == "no_validation" and v["steps"] == 30 and "too few profiles" in v["note"]
    assert not (tmp_path / "validation.csv").exists()
    # nothing held out to compare it with the per-class Gaussian on: the run says so, and what to do
    line = describe_floor(load(tmp_path, device="cpu").validation)
    assert line.startswith("not compared with the per-class Gaussian") and "--model gaussian" in line
    assert model.n_train == 30  # trained on every profile


def test_a_run_killed_in_its_refit_resumes_the_refit(gtex32, tmp_path, monkeypatch):
    """train.refit=true killed during the refit (the validated run finished, the refit checkpointed at step 20):
    the resumed run does not train the validated run again, continues the refit from its checkpoint and ends as
    an uninterrupted run."""
    from rnagen.models.diffusion import DiffusionObjective

    cfg = TINY["diffusion"] + ["train.steps=60", "train.val_every=20", "train.patience=50", "train.batch_size=64",
                               "train.checkpoint_every=10", "train.refit=true"]
    model = get_model("diffusion")
    whole = model.from_config(overrides=cfg).fit(gtex32, label_key="tissue", seed=0, run_dir=tmp_path / "whole",
                                                 progress=False)
    refit_steps = whole.validation["refit_steps"]
    assert refit_steps > 20
    forward, calls = DiffusionObjective.forward, []

    def counted(self, *a, **kw):
        calls.append(1)
        if dies and len(calls) > 60 + 25:
            raise KeyboardInterrupt
        return forward(self, *a, **kw)

    run, dies = tmp_path / "run", True
    monkeypatch.setattr(DiffusionObjective, "forward", counted)
    with pytest.raises(KeyboardInterrupt):
        model.from_config(overrides=cfg).fit(gtex32, label_key="tissue", seed=0, run_dir=run, progress=False)
    assert torch.load(run / "checkpoint_refit.pt", weights_only=True)["step"] == 20
    calls.clear()
    dies = False
    model.from_config(overrides=cfg).fit(gtex32, label_key="tissue", seed=0, run_dir=run, progress=False)
    assert len(calls) == refit_steps - 20
    assert (run / "weights.safetensors").read_bytes() == (tmp_path / "whole" / "weights.safetensors").read_bytes()
