"""The classifier-free guidance weight chosen with the autoguidance weight on the held-out profiles that chose the
length: the best-scoring pair is the model's, sampling uses it unless told otherwise, it is saved and loaded, and a
model that cannot be guided (no label dropout) or has no guide chooses what it can."""
import json

import numpy as np
import pytest

from rnagen.models import load
from rnagen.models.diffusion import DiffusionModel
from rnagen.models.diffusion.model import CFG_WEIGHTS, GUIDE_WEIGHTS

TINY = ["network.width=32", "network.depth=1", "network.time_dim=8", "schedule.T=100", "sample.steps=8",
        "train.batch_size=64", "train.log_every=50", "train.val_every=40", "train.steps=240", "train.patience=50",
        "train.val_fraction=0.2"]


@pytest.fixture(scope="module")
def small_gtex():
    from rnagen import datasets

    ad = datasets.gtex26()
    keep = ad.obs["tissue"].isin(sorted(ad.obs["tissue"].unique())[:8]).to_numpy()
    return ad[keep, :24].copy()


def _scored_by_pair(monkeypatch, best):
    """A validator whose 6 length checks improve to the last and whose score after them is 0.6, 0.65 for the
    pair ``best``: the (guidance, autoguidance) each draw was made with is read off the sampler's call."""
    import rnagen.train.validation as validation

    seen: list[tuple[float, float]] = []
    generate = DiffusionModel.generate

    def spy(self, y, **kw):
        seen.append((float(kw["guidance"]), float(kw["autoguidance"])))
        return generate(self, y, **kw)

    def scores(self):
        self.generate(self.y_val, self.seed)
        n = len(seen)
        if n <= 6:
            assert seen[-1] == (0.0, 1.0)   # the length is chosen on the network alone
            return {"score": 0.1 * n}
        return {"score": 0.65 if seen[-1] == best else 0.6}

    monkeypatch.setattr(DiffusionModel, "generate", spy)
    monkeypatch.setattr(validation.FidelityValidator, "__call__", scores)
    return seen


def test_the_best_pair_is_chosen_and_sampled_with_by_default(small_gtex, monkeypatch, tmp_path):
    seen = _scored_by_pair(monkeypatch, (0.25, 2.0))
    m = DiffusionModel.from_config(overrides=TINY).fit(small_gtex, label_key="tissue", seed=0, progress=False)
    monkeypatch.undo()
    # every pair but (0, 1), whose score is its check's own, drawn once after the 6 checks; then the zeros'
    # placement is calibrated on draws with the chosen pair, as sample() draws by default
    n = len(CFG_WEIGHTS) * len(GUIDE_WEIGHTS) - 1
    assert sorted(seen[6:6 + n]) == sorted((g, w) for g in CFG_WEIGHTS for w in GUIDE_WEIGHTS if (g, w) != (0, 1))
    assert set(seen[6 + n:]) == {(0.25, 2.0)}
    rec = m.validation["guide"]
    assert rec["guidance"]["weights"] == list(CFG_WEIGHTS) and rec["guidance"]["chosen"] == 0.25
    # the autoguidance weights' scores at guidance 0, the first the best check's own
    assert rec["chosen"] == 2.0 and rec["scores"] == pytest.approx([0.6] * 4)
    assert rec["guidance"]["scores"][1] == pytest.approx([0.6, 0.6, 0.65, 0.6])
    assert (m.cfg_weight, m.guide_weight) == (0.25, 2.0)
    from rnagen.train.validation import describe

    line = describe(m.validation)
    assert "; autoguidance weight 2 chosen on them" in line
    assert "; classifier-free guidance weight 0.25 chosen on them with it (of 0, 0.25, 0.5)" in line
    # sampling: the chosen pair unless the call or the configuration asks for another weight
    syn = m.sample(n_per_label=5, seed=1)
    used = syn.uns["rnagen"]["synthetic"]
    assert (used["guidance"], used["autoguidance"]) == (0.25, 2.0)
    np.testing.assert_array_equal(syn.X, m.sample(n_per_label=5, seed=1, guidance=0.25, autoguidance=2).X)
    plain = m.sample(n_per_label=5, seed=1, guidance=0)
    assert plain.uns["rnagen"]["synthetic"]["guidance"] == 0.0 and not np.allclose(plain.X, syn.X)
    monkeypatch.setattr(m.config.sample, "guidance", 0.5)   # a configured weight wins over the chosen one
    assert m.sample(n_per_label=5, seed=1).uns["rnagen"]["synthetic"]["guidance"] == 0.5
    monkeypatch.undo()
    # saved and loaded with the model; a run saved before the choice (no weight recorded) samples without guidance
    m.save(tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["extra"]["cfg_weight"] == 0.25
    back = load(tmp_path / "run", device="cpu")
    assert back.cfg_weight == 0.25
    np.testing.assert_array_equal(back.sample(n_per_label=5, seed=1).X, syn.X)
    del meta["extra"]["cfg_weight"]
    (tmp_path / "run" / "manifest.json").unlink()   # a folder without a manifest is read on its files alone
    (tmp_path / "run" / "meta.json").write_text(json.dumps(meta))
    old = load(tmp_path / "run", device="cpu")
    assert old.cfg_weight == 0.0 and old.sample(n_per_label=5, seed=1).uns["rnagen"]["synthetic"]["guidance"] == 0.0


@pytest.mark.parametrize("bad", [-1, 101, "0.5", None, True])
def test_a_recorded_weight_out_of_range_is_refused_on_load(small_gtex, tmp_path, bad):
    from rnagen.errors import RunDirError

    m = DiffusionModel.from_config(overrides=TINY + ["train.steps=40", "train.val_fraction=0"]).fit(
        small_gtex, label_key="tissue", seed=0, progress=False)
    m.save(tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    meta["extra"]["cfg_weight"] = bad
    (tmp_path / "run" / "manifest.json").unlink()
    (tmp_path / "run" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(RunDirError, match="guidance weight") as err:
        load(tmp_path / "run", device="cpu")
    assert "\n" not in str(err.value) and "meta.json" in str(err.value)


def test_without_label_dropout_only_autoguidance_is_chosen(small_gtex, monkeypatch):
    seen = _scored_by_pair(monkeypatch, (0.5, 1.5))
    m = DiffusionModel.from_config(overrides=TINY + ["objective.label_dropout=0"]).fit(
        small_gtex, label_key="tissue", seed=0, progress=False)
    assert {g for g, _ in seen} == {0.0} and sorted(seen[6:9]) == [(0.0, 1.5), (0.0, 2.0), (0.0, 3.0)]
    assert set(seen[9:]) == {(0.0, 1.0)}   # the zeros' calibration, with the chosen pair
    assert "guidance" not in m.validation["guide"] and m.cfg_weight == 0.0 and m.guide_weight == 1.0


def test_without_a_guide_the_guidance_weight_is_still_chosen(small_gtex, monkeypatch):
    seen = _scored_by_pair(monkeypatch, (0.5, 1.0))
    m = DiffusionModel.from_config(overrides=TINY + ["objective.guide_fraction=0"]).fit(
        small_gtex, label_key="tissue", seed=0, progress=False)
    assert seen[6:8] == [(0.25, 1.0), (0.5, 1.0)] and set(seen[8:]) == {(0.5, 1.0)} and m.guide_net is None
    rec = m.validation["guide"]
    assert rec["weights"] == [1.0] and "step" not in rec and rec["guidance"]["chosen"] == 0.5 == m.cfg_weight
    from rnagen.train.validation import describe

    line = describe(m.validation)
    assert "autoguidance" not in line and "; classifier-free guidance weight 0.5 chosen on them (of" in line
