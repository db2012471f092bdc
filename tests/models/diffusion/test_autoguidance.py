"""Autoguidance (Karras et al. 2024): the diffusion model keeps its guide, an earlier check's weights, samples
with D_guide + w (D - D_guide) at every step, saves and loads it, and refuses a weight it cannot honour."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from rnagen.errors import ConfigError
from rnagen.models import load
from rnagen.models.diffusion import DiffusionModel

TINY = ["network.width=32", "network.depth=1", "network.time_dim=8", "schedule.T=100", "sample.steps=8",
        "train.batch_size=64", "train.log_every=50", "train.val_every=40", "train.steps=240", "train.patience=50",
        "train.val_fraction=0.2"]


@pytest.fixture(scope="module")
def guided(small_gtex):
    return DiffusionModel.from_config(overrides=TINY).fit(small_gtex, label_key="tissue", seed=0, progress=False)


@pytest.fixture(scope="module")
def small_gtex():
    from rnagen import datasets

    ad = datasets.gtex26()
    keep = ad.obs["tissue"].isin(sorted(ad.obs["tissue"].unique())[:8]).to_numpy()
    return ad[keep, :24].copy()


def test_the_guide_is_the_check_nearest_half_the_chosen_length(guided):
    v = guided.validation
    steps = [r["step"] for r in v["curve"] if r["step"] < v["best_step"]]
    want = min(steps, key=lambda s: (abs(s - 0.5 * v["best_step"]), -s))
    assert guided.guide_net is not None and guided.guide_step == want < v["best_step"]
    differ = [k for k, p in guided.net.state_dict().items()
              if not torch.equal(p, guided.guide_net.state_dict()[k])]
    assert differ   # an earlier, different network


class Combined(nn.Module):
    """``w * a + (1 - w) * b`` of two networks, written out: what one network call of the guided sampler gives."""

    def __init__(self, a, b, w):
        super().__init__()
        self.a, self.b, self.w, self.null_label = a, b, w, a.null_label

    def forward(self, x, t, y):
        return self.w * self.a(x, t, y) + (1 - self.w) * self.b(x, t, y)


@pytest.mark.parametrize("kw", [{}, {"sampler": "ddim", "steps": 5}, {"sampler": "ddpm", "steps": 6}])
def test_every_step_combines_the_network_with_its_guide(guided, kw):
    """Sampling with weight w equals sampling, unguided, the network ``w D + (1 - w) D_guide``; weight 1 is the
    network alone (the guide not called)."""
    net, guide = guided.net, guided.guide_net
    out = guided.sample(n_per_label=20, seed=4, autoguidance=2.5, **kw).X
    try:
        guided.net = Combined(net, guide, 2.5)
        want = guided.sample(n_per_label=20, seed=4, autoguidance=1, **kw).X
        guided.net, guided.guide_net = net, None
        alone = guided.sample(n_per_label=20, seed=4, **kw).X
    finally:
        guided.net, guided.guide_net = net, guide
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(guided.sample(n_per_label=20, seed=4, autoguidance=1, **kw).X, alone)
    assert not np.allclose(out, alone, atol=1e-3)


def test_the_weight_is_chosen_on_the_held_out_profiles_and_used_by_default(guided, monkeypatch):
    """Each candidate weight is scored on the held-out profiles that chose the length; the best (the first of
    equal scores) is the model's; sampling uses it unless another is asked for, and records it."""
    from rnagen.models.diffusion.model import GUIDE_WEIGHTS

    rec = guided.validation["guide"]
    assert rec["weights"] == list(GUIDE_WEIGHTS) and GUIDE_WEIGHTS[0] == 1.0 and len(rec["scores"]) == 4
    # chosen with the classifier-free guidance weight: the best pair of the grid (rows: guidance weights)
    grid = rec["guidance"]["scores"] if "guidance" in rec else [rec["scores"]]
    assert grid[0] == rec["scores"]
    assert guided.guide_weight == rec["chosen"] == GUIDE_WEIGHTS[int(np.argmax(grid)) % len(GUIDE_WEIGHTS)]
    assert rec["step"] == guided.guide_step
    # weight 1 is the network alone on the validator's fixed draws, as its own check scored it
    best = next(r for r in guided.validation["curve"] if r["step"] == guided.validation["best_step"])
    assert rec["scores"][0] == best["score"]
    from rnagen.train.validation import describe

    assert (f"; autoguidance weight {rec['chosen']:g} chosen on them (of 1, 1.5, 2, 3; guide: the "
            f"step-{guided.guide_step} weights)") in describe(guided.validation)
    assert guided.config.sample.autoguidance is None
    syn = guided.sample(n_per_label=5, seed=1)
    assert syn.uns["rnagen"]["synthetic"]["autoguidance"] == guided.guide_weight
    np.testing.assert_array_equal(syn.X, guided.sample(n_per_label=5, seed=1, autoguidance=guided.guide_weight).X)
    monkeypatch.setattr(guided, "guide_weight", 3.0)
    assert guided.sample(n_per_label=5, seed=1).uns["rnagen"]["synthetic"]["autoguidance"] == 3.0
    monkeypatch.setattr(guided.config.sample, "autoguidance", 1.5)   # a configured weight wins over the chosen
    assert guided.sample(n_per_label=5, seed=1).uns["rnagen"]["synthetic"]["autoguidance"] == 1.5


def test_equal_scores_choose_no_guidance(small_gtex, monkeypatch):
    """A validator that cannot tell the weights apart leaves the network alone (w = 1)."""
    import rnagen.train.validation as validation

    calls = []

    def scores(self):   # the 6 checks improve to the last (a guide at step 120), then every weight scores as it
        calls.append(1)
        return {"score": 0.1 * min(len(calls), 6)}

    monkeypatch.setattr(validation.FidelityValidator, "__call__", scores)
    m = DiffusionModel.from_config(overrides=TINY).fit(small_gtex, label_key="tissue", seed=0, progress=False)
    # the pair (0, 1) is not drawn again: its score is the best check's own; the 11 other (classifier-free
    # guidance, autoguidance) pairs are
    assert m.validation["best_step"] == 240 and m.guide_step == 120 and len(calls) == 6 + 3 * 4 - 1
    assert m.validation["guide"]["scores"] == [0.1 * 6] * 4 and m.guide_weight == 1.0
    assert m.validation["guide"]["guidance"]["scores"] == [[0.1 * 6] * 4] * 3 and m.cfg_weight == 0.0


def test_save_and_load_keep_the_guide(guided, tmp_path):
    from safetensors.torch import load_file

    guided.save(tmp_path / "run")
    assert any(k.startswith("guide.") for k in load_file(str(tmp_path / "run" / "weights.safetensors")))
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert (meta["extra"]["guide_step"], meta["extra"]["guide_weight"]) == (guided.guide_step, guided.guide_weight)
    back = load(tmp_path / "run", device="cpu")
    assert (back.guide_step, back.guide_weight) == (guided.guide_step, guided.guide_weight)
    for w in (1.0, 2.0, 3.0):
        np.testing.assert_array_equal(back.sample(n_per_label=6, seed=2, autoguidance=w).X,
                                      guided.sample(n_per_label=6, seed=2, autoguidance=w).X)


def test_a_model_without_a_guide_samples_alone_and_refuses_a_weight(small_gtex, tmp_path, capsys):
    from rnagen.cli.main import main

    m = DiffusionModel.from_config(overrides=TINY + ["objective.guide_fraction=0"]).fit(
        small_gtex, label_key="tissue", seed=0, progress=False)
    assert m.guide_net is None
    syn = m.sample(n_per_label=4, seed=0)   # no guide, no weight chosen: the network alone
    assert syn.uns["rnagen"]["synthetic"]["autoguidance"] == 1.0
    with pytest.raises(ConfigError, match=r"^autoguidance 2 needs the guide a model keeps from its training "
                                          r"\(objective.guide_fraction > 0\), and this one kept none"):
        m.sample(n_per_label=4, seed=0, autoguidance=2)
    m.save(tmp_path / "run")
    assert main(["sample", str(tmp_path / "run"), "--n", "8", "--autoguidance", "2", "--quiet",
                 "--out", str(tmp_path / "s.h5ad")]) == 2
    err = capsys.readouterr().err
    assert "kept none" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "s.h5ad").exists()
    with pytest.raises(SystemExit) as e:
        main(["sample", str(tmp_path / "run"), "--n", "8", "--autoguidance", "0.5", "--quiet",
              "--out", str(tmp_path / "s.h5ad")])
    assert e.value.code == 2 and "--autoguidance" in capsys.readouterr().err and not (tmp_path / "s.h5ad").exists()
    with pytest.raises(ConfigError, match="autoguidance"):
        m.sample(n_per_label=4, seed=0, autoguidance=11)
    with pytest.raises(ConfigError, match="sample.autoguidance"):
        DiffusionModel.from_config(overrides=["sample.autoguidance=0.5"])
    with pytest.raises(ConfigError, match="objective.guide_fraction"):
        DiffusionModel.from_config(overrides=["objective.guide_fraction=1"])


def test_a_fixed_length_run_takes_its_guide_at_half_its_steps(small_gtex):
    m = DiffusionModel.from_config(overrides=TINY + ["train.val_fraction=0", "train.steps=30"]).fit(
        small_gtex, label_key="tissue", seed=0, progress=False)
    assert m.guide_step == 15 and m.guide_net is not None
    assert m.guide_weight == 1.0 and "guide" not in m.validation   # nothing held out to choose a weight on
    assert m.sample(n_per_label=2, seed=0).uns["rnagen"]["synthetic"]["autoguidance"] == 1.0


class Stepwise(nn.Module):
    """The guided network at the timesteps whose (t + 1) / T lies in (lo, hi], the network alone elsewhere, with
    a record of the timesteps it was called at: what sampling with an autoguidance interval gives."""

    def __init__(self, net, guide, w, lo, hi, T):
        super().__init__()
        self.net, self.both, self.lo, self.hi, self.T = net, Combined(net, guide, w), lo, hi, T
        self.null_label, self.seen = net.null_label, []

    def forward(self, x, t, y):
        step = int(t.reshape(-1)[0])
        self.seen.append(step)
        return self.both(x, t, y) if self.lo < (step + 1) / self.T <= self.hi else self.net(x, t, y)


@pytest.mark.parametrize("lo, hi", [(0.5, 1.0), (0.0, 0.5), (0.25, 0.75)])
def test_an_autoguidance_interval_guides_only_its_steps(guided, lo, hi):
    """With an interval (lo, hi] of noise levels (Kynkäänniemi et al. 2024) the guide is called at the steps
    whose (t + 1) / T lies in it, and only there; the output is the guided network there and the network alone
    elsewhere. The default interval, (0, 1], is every step."""
    net, guide = guided.net, guided.guide_net
    T = guided.schedule.T
    calls = []
    hook = guide.register_forward_pre_hook(lambda m, a: calls.append(int(a[1].reshape(-1)[0])))
    try:
        out = guided.sample(n_per_label=10, seed=3, autoguidance=2.0, autoguidance_from=lo, autoguidance_to=hi).X
    finally:
        hook.remove()
    assert calls and all(lo < (t + 1) / T <= hi for t in calls)
    try:
        guided.net = Stepwise(net, guide, 2.0, lo, hi, T)
        want = guided.sample(n_per_label=10, seed=3, autoguidance=1).X
        seen = guided.net.seen
    finally:
        guided.net = net
    assert sorted(set(calls)) == sorted({t for t in seen if lo < (t + 1) / T <= hi})
    assert len(set(seen)) > len(set(calls))   # some steps unguided
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    every = guided.sample(n_per_label=10, seed=3, autoguidance=2.0).X
    np.testing.assert_array_equal(guided.sample(n_per_label=10, seed=3, autoguidance=2.0, autoguidance_from=0.0,
                                                autoguidance_to=1.0).X, every)
    assert not np.allclose(out, every, atol=1e-3)


@pytest.mark.parametrize("lo, hi, match", [(0.5, 0.5, "below autoguidance_to"), (0.7, 0.2, "below"),
                                           (-0.1, 1.0, "autoguidance_from"), (0.0, 1.5, "autoguidance_to"),
                                           (float("nan"), 1.0, "autoguidance_from")])
def test_an_empty_or_out_of_range_interval_is_refused(guided, lo, hi, match):
    with pytest.raises(ConfigError, match=match):
        guided.sample(n_per_label=2, seed=0, autoguidance_from=lo, autoguidance_to=hi)
    with pytest.raises(ConfigError, match=match):
        DiffusionModel.from_config(overrides=[f"sample.autoguidance_from={lo}", f"sample.autoguidance_to={hi}"])
