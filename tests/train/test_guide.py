"""The guide a run keeps for autoguidance: the EMA weights at a fraction of the chosen length (validated runs) or
of the budget (fixed-length runs), kept through a checkpoint and a resume."""
import pytest
import torch
from torch import nn

from rnagen.train import LossOutput, TrainConfig, train_loop
from rnagen.train.validation import ValidationTracker


class Regression(nn.Module):
    """A linear map fitted to y = 2 x_0 - x_1 by MSE."""

    def __init__(self, d):
        super().__init__()
        self.lin = nn.Linear(d, 1)

    def forward(self, x, y, generator=None):
        return LossOutput(((self.lin(x).squeeze(1) - (2 * x[:, 0] - x[:, 1])) ** 2).mean())


def _data(n=128, d=3):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(1)), torch.zeros(n, dtype=torch.long)


def _replay(scores, every, **kw):
    """A tracker fed ``scores`` at steps every, 2 every, ... (weights: the check's index) until it stops."""
    t = ValidationTracker(budget_source="steps", every=every, **kw)
    for i, s in enumerate(scores):
        if t.check(every * (i + 1), {"score": s}, {"w": torch.tensor(float(i))}):
            break
    return t


def test_the_guide_is_the_check_nearest_the_fraction_of_the_best_step_and_earlier_checks_are_let_go():
    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.6, 0.5, 0.4, 0.3]   # best at step 80
    t = _replay(scores, 10, patience=4, budget=10_000, guide_fraction=0.5)
    assert (t.best_step, t.stop_reason) == (80, "patience")
    step, weights = t.guide()
    assert step == 40 and float(weights["w"]) == 3.0
    # only the checks from the last one at or below 0.5 x 80 on are held (those a later best could still need)
    assert [s for s, _ in t.guides] == [40, 50, 60, 70, 80, 90, 100, 110, 120]
    # 0.3 x 80 = 24 is nearest 20, 0.35 x 80 = 28 nearest 30; 0.3125 x 80 = 25, as near both, takes the later
    for frac, step in ((0.3, 20), (0.35, 30), (0.3125, 30)):
        assert _replay(scores, 10, patience=4, budget=10_000, guide_fraction=frac).guide()[0] == step
    # the best at the first check: no earlier check to guide it
    assert _replay([0.9, 0.5, 0.4, 0.3, 0.2], 10, patience=4, budget=10_000, guide_fraction=0.5).guide() is None
    # no fraction: nothing kept
    t0 = _replay(scores, 10, patience=4, budget=10_000)
    assert t0.guide() is None and t0.guides == []
    # the checkpoint's state keeps them
    again = ValidationTracker(patience=4, budget=10_000, budget_source="steps", every=10, guide_fraction=0.5)
    again.load_state_dict(t.state_dict())
    assert again.guide()[0] == 40 and float(again.guide()[1]["w"]) == 3.0


def _cfg(**kw):
    base = dict(steps=40, batch_size=32, lr=0.05, warmup_steps=0, lr_schedule="constant", ema_decay=0.9,
                checkpoint_every=15, log_every=10, val_fraction=0.0)
    base.update(kw)
    return TrainConfig(**base)


def test_a_fixed_length_run_keeps_the_ema_weights_at_the_fraction_of_its_budget():
    """With a constant learning rate the first 20 steps of a 40-step run are a 20-step run: the guide of the
    longer run at fraction 0.5 is the shorter run's final EMA weights."""
    X, y = _data()
    torch.manual_seed(0)
    init = Regression(3).state_dict()
    runs = {}
    for steps, frac in ((40, 0.5), (20, 0.0)):
        m = Regression(3)
        m.load_state_dict(init)
        runs[steps] = train_loop(m, X, y, _cfg(steps=steps), device=torch.device("cpu"), seed=3, progress=False,
                                 guide_fraction=frac)
    assert runs[40].guide_step == 20 and runs[20].guide_state is None
    for k, v in runs[20].ema.state_dict().items():
        assert torch.equal(runs[40].guide_state[k], v)
    assert not torch.equal(runs[40].guide_state["lin.weight"], runs[40].ema.state_dict()["lin.weight"])


def test_a_killed_run_resumes_with_its_guide(tmp_path):
    """Interrupted after its guide was taken (step 20) and its step-30 checkpoint written, a resumed run ends with
    the uninterrupted run's guide."""
    X, y = _data()
    torch.manual_seed(0)
    init = Regression(3).state_dict()
    full = Regression(3)
    full.load_state_dict(init)
    want = train_loop(full, X, y, _cfg(), device=torch.device("cpu"), seed=3, progress=False, guide_fraction=0.5)

    class Boom(Regression):
        calls = 0

        def forward(self, x, y, generator=None):
            Boom.calls += 1
            if Boom.calls > 35:
                raise KeyboardInterrupt
            return super().forward(x, y, generator)

    broken = Boom(3)
    broken.load_state_dict(init)
    with pytest.raises(KeyboardInterrupt):
        train_loop(broken, X, y, _cfg(), device=torch.device("cpu"), seed=3, progress=False, run_dir=tmp_path,
                   fingerprint="g", guide_fraction=0.5)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["guide_step"] == 20
    resumed = Regression(3)
    got = train_loop(resumed, X, y, _cfg(), device=torch.device("cpu"), seed=3, progress=False, run_dir=tmp_path,
                     fingerprint="g", guide_fraction=0.5)
    assert got.guide_step == 20
    for k, v in want.guide_state.items():
        assert torch.equal(got.guide_state[k], v)
