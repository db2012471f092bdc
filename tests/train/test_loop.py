"""The shared training loop: it optimises, resumes exactly, refuses foreign checkpoints, keeps EMA."""
import pytest
import torch
from torch import nn

from rnagen.errors import RunDirError
from rnagen.train import LossOutput, TrainConfig, train_loop


class Regression(nn.Module):
    """y = X w: the loss is the MSE of a linear map, plus noise from the loop's generator."""

    def __init__(self, d):
        super().__init__()
        self.lin = nn.Linear(d, 1)

    def forward(self, x, y, generator=None):
        target = x @ torch.arange(1.0, x.shape[1] + 1) + 0.01 * torch.randn(x.shape[0], generator=generator)
        loss = ((self.lin(x).squeeze(1) - target) ** 2).mean()
        return LossOutput(loss, {"mse": float(loss.detach())})


def _data(n=256, d=4):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g), torch.zeros(n, dtype=torch.long)


def _interrupted(base, after: int = 120):
    """``base`` whose training is interrupted (KeyboardInterrupt) at its call ``after`` + 1."""
    class Boom(base):
        calls = 0

        def forward(self, x, y, generator=None):
            Boom.calls += 1
            if Boom.calls > after:
                raise KeyboardInterrupt
            return super().forward(x, y, generator)

    return Boom


def _uninterrupted(model_cls, init, X, y, cfg):
    """A ``model_cls`` trained from ``init`` without a break: the module and its training log."""
    full = model_cls(4)
    full.load_state_dict(init)
    return full, train_loop(full, X, y, cfg, device=torch.device("cpu"), seed=5, progress=False).history


def _resumed(model_cls, init, X, y, cfg, tmp_path, *, after: int = 120, without: str | None = None):
    """A ``model_cls`` run from ``init`` interrupted at step ``after`` + 1, resumed from its checkpoint (with the
    entry ``without`` taken out: a checkpoint as older code wrote it): the resumed module, its training log and
    the step it resumed from."""
    from rnagen._manifest import RUN_FILES, write_manifest

    broken = _interrupted(model_cls, after=after)(4)
    broken.load_state_dict(init)
    with pytest.raises(KeyboardInterrupt):
        train_loop(broken, X, y, cfg, device=torch.device("cpu"), seed=5, progress=False, run_dir=tmp_path,
                   fingerprint="x")
    path = tmp_path / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    if without is not None:
        del state[without]
        torch.save(state, path)
        write_manifest(tmp_path, RUN_FILES, fingerprint="x")
    resumed = model_cls(4)
    resumed.load_state_dict(init)
    history = train_loop(resumed, X, y, cfg, device=torch.device("cpu"), seed=5, progress=False, run_dir=tmp_path,
                         fingerprint="x").history
    return resumed, history, int(state["step"])


def _cfg(**kw):
    base = dict(steps=300, batch_size=32, lr=0.05, warmup_steps=10, ema_decay=0.9, checkpoint_every=50,
                log_every=25)
    base.update(kw)
    return TrainConfig(**base)


def test_loop_learns_the_linear_map():
    torch.manual_seed(0)
    m = Regression(4)
    X, y = _data()
    res = train_loop(m, X, y, _cfg(), device=torch.device("cpu"), seed=1, progress=False)
    assert res.steps == 300
    assert torch.allclose(m.lin.weight.detach().squeeze(), torch.tensor([1.0, 2, 3, 4]), atol=0.05)
    assert res.history[-1]["mse"] < 0.01 < res.history[0]["mse"]
    # the EMA weights are close to (but not identical to) the live ones
    ema_w = res.ema.state_dict()["lin.weight"].squeeze()
    assert torch.allclose(ema_w, torch.tensor([1.0, 2, 3, 4]), atol=0.1)


def test_kill_and_resume_is_bitwise_identical(tmp_path):
    """Simulate an interruption: a run that raises after step 120 resumes from its step-100 checkpoint, with the
    autoguidance guide it took at step 75 (a quarter of the budget)."""
    X, y = _data()
    torch.manual_seed(0)
    init = Regression(4).state_dict()

    full = Regression(4)
    full.load_state_dict(init)
    want = train_loop(full, X, y, _cfg(), device=torch.device("cpu"), seed=5, progress=False, guide_fraction=0.25)

    broken = _interrupted(Regression)(4)
    broken.load_state_dict(init)
    with pytest.raises(KeyboardInterrupt):
        train_loop(broken, X, y, _cfg(), device=torch.device("cpu"), seed=5, progress=False, run_dir=tmp_path,
                   fingerprint="x", guide_fraction=0.25)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 100 and state["guide_step"] == 75
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary files left behind"

    resumed = Regression(4)
    resumed.load_state_dict(init)  # weights are replaced by the checkpoint's
    res = train_loop(resumed, X, y, _cfg(), device=torch.device("cpu"), seed=5, progress=False, run_dir=tmp_path,
                     fingerprint="x", guide_fraction=0.25)
    assert res.steps == 300 and res.guide_step == want.guide_step == 75
    for k in init:
        assert torch.equal(resumed.state_dict()[k], full.state_dict()[k])
        assert torch.equal(res.guide_state[k], want.guide_state[k])


@pytest.mark.parametrize("after", [20, 130])
def test_a_resumed_run_writes_the_training_log_of_an_uninterrupted_one(tmp_path, after):
    """Checkpoints every 15 steps, log rows every 25: a run interrupted after step 20 (or 130) resumes from step 15
    (or 120), inside a logging window. The rows after the resume average the window's steps from before the
    checkpoint too, so the whole log is an uninterrupted run's."""
    X, y = _data()
    torch.manual_seed(0)
    init = Regression(4).state_dict()
    cfg = _cfg(checkpoint_every=15)
    _, want = _uninterrupted(Regression, init, X, y, cfg)
    _, got, start = _resumed(Regression, init, X, y, cfg, tmp_path, after=after)
    assert start == after // 15 * 15
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for g, w in zip(got, want):
        assert g == pytest.approx(w, rel=1e-9, abs=1e-12), g["step"]


def test_a_checkpoint_without_the_logging_window_still_resumes(tmp_path):
    """A checkpoint written without the logging window (``log_window``) resumes: the weights are an uninterrupted
    run's, and the first row after the resume averages the steps since the checkpoint."""
    X, y = _data()
    torch.manual_seed(0)
    init = Regression(4).state_dict()
    cfg = _cfg(checkpoint_every=15)
    full, want = _uninterrupted(Regression, init, X, y, cfg)
    resumed, got, _ = _resumed(Regression, init, X, y, cfg, tmp_path, without="log_window")
    for k in init:
        assert torch.equal(resumed.state_dict()[k], full.state_dict()[k]), k
    assert [r["step"] for r in got] == [r["step"] for r in want]
    assert got[:4] == want[:4]   # the rows of steps 25 to 100, from the checkpoint
    assert got[4]["mse"] != pytest.approx(want[4]["mse"])  # step 125: steps 121 to 125 alone
    for g, w in zip(got[5:], want[5:]):
        assert g == pytest.approx(w, rel=1e-9, abs=1e-12), g["step"]


class Dropped(Regression):
    """The regression behind dropout: its masks come from torch's global generator."""

    def __init__(self, d):
        super().__init__(d)
        self.drop = nn.Dropout(0.3)

    def forward(self, x, y, generator=None):
        return super().forward(self.drop(x), y, generator)


def test_dropout_repeats_with_the_seed_and_resumes_as_an_uninterrupted_run(tmp_path):
    """Dropout draws its masks from torch's global generator, whose start differs per process: two runs of one
    seed gave two models, and a resumed run another than an uninterrupted one. The loop seeds that generator
    from the run's seed, saves it in the checkpoint, and gives it back as it was."""
    X, y = _data()
    torch.manual_seed(0)
    init = Dropped(4).state_dict()
    finals = []
    for outside in (1, 2):   # the global generator in another state before each run
        torch.manual_seed(outside)
        m = Dropped(4)
        m.load_state_dict(init)
        before = torch.get_rng_state()
        train_loop(m, X, y, _cfg(), device=torch.device("cpu"), seed=5, progress=False)
        assert torch.equal(torch.get_rng_state(), before)   # given back as it was
        finals.append(m.state_dict())
    for k in init:
        assert torch.equal(finals[0][k], finals[1][k]), k

    broken = _interrupted(Dropped)(4)
    broken.load_state_dict(init)
    with pytest.raises(KeyboardInterrupt):
        train_loop(broken, X, y, _cfg(), device=torch.device("cpu"), seed=5, progress=False, run_dir=tmp_path,
                   fingerprint="x")
    torch.manual_seed(3)   # another process's start
    resumed = Dropped(4)
    resumed.load_state_dict(init)
    train_loop(resumed, X, y, _cfg(), device=torch.device("cpu"), seed=5, progress=False, run_dir=tmp_path,
               fingerprint="x")
    for k in init:
        assert torch.equal(resumed.state_dict()[k], finals[0][k]), k


def test_a_checkpoint_with_rank_0_s_global_generator_alone_resumes_as_before(tmp_path):
    """A one-process checkpoint whose global generator is saved under ``global_rng`` alone (no per-rank list,
    ``global_rng_ranks``) still resumes dropout where an uninterrupted run has it."""
    X, y = _data()
    torch.manual_seed(0)
    init = Dropped(4).state_dict()
    full, _ = _uninterrupted(Dropped, init, X, y, _cfg())
    resumed, _, _ = _resumed(Dropped, init, X, y, _cfg(), tmp_path, without="global_rng_ranks")
    for k in init:
        assert torch.equal(resumed.state_dict()[k], full.state_dict()[k]), k


def test_a_fixed_length_run_keeps_the_ema_weights_at_the_fraction_of_its_budget():
    """With a constant learning rate the first 20 steps of a 40-step run are a 20-step run: the guide of the
    longer run at fraction 0.5 is the shorter run's final EMA weights; without a fraction there is none."""
    X, y = _data()
    torch.manual_seed(0)
    init = Regression(4).state_dict()
    runs = {}
    for steps, frac in ((40, 0.5), (20, 0.0)):
        m = Regression(4)
        m.load_state_dict(init)
        runs[steps] = train_loop(m, X, y, _cfg(steps=steps, lr_schedule="constant", warmup_steps=0),
                                 device=torch.device("cpu"), seed=3, progress=False, guide_fraction=frac)
    assert runs[40].guide_step == 20 and runs[20].guide_state is None
    for k, v in runs[20].ema.state_dict().items():
        assert torch.equal(runs[40].guide_state[k], v)
    assert not torch.equal(runs[40].guide_state["lin.weight"], runs[40].ema.state_dict()["lin.weight"])


def test_foreign_checkpoint_is_refused(tmp_path):
    X, y = _data()
    train_loop(Regression(4), X, y, _cfg(steps=60), device=torch.device("cpu"), seed=0, progress=False,
               run_dir=tmp_path, fingerprint="one")
    with pytest.raises(RunDirError, match="other data or settings"):
        train_loop(Regression(4), X, y, _cfg(steps=60), device=torch.device("cpu"), seed=0, progress=False,
                   run_dir=tmp_path, fingerprint="two")


def test_a_diverged_run_stops_with_the_step_and_the_learning_rate(tmp_path):
    """A loss that turns NaN (a learning rate far too high) ends the run at that step with one error naming it and
    the learning rate, before the NaN weights reach the EMA or a checkpoint: the checkpoint on disk is the last
    finite one."""
    from rnagen.errors import ConfigError

    class Blows(Regression):
        calls = 0

        def forward(self, x, y, generator=None):
            out = super().forward(x, y, generator)
            Blows.calls += 1
            return LossOutput(out.loss * float("nan"), out.logs) if Blows.calls >= 130 else out

    X, y = _data()
    torch.manual_seed(0)
    with pytest.raises(ConfigError, match=r"training diverged at step 130 of 300: loss = nan; lower the learning "
                                          r"rate \(train.lr = 0.05\) and train again"):
        train_loop(Blows(4), X, y, _cfg(), device=torch.device("cpu"), seed=1, progress=False, run_dir=tmp_path,
                   fingerprint="blow")
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 100
    for part in ("module", "ema"):
        assert all(torch.isfinite(v).all() for v in state[part].values() if v.is_floating_point())


def test_a_rare_class_is_drawn_as_often_as_a_class_of_the_rare_share():
    """``train.rare_share``: a class of 2 among 500 profiles appears in each epoch's batches about as often as a
    class of 2% (its profiles repeated), each of its profiles equally; data without such a class are batched
    exactly as with the share at 0."""
    import numpy as np

    from rnagen.train.distributed import dist_info
    from rnagen.train.loop import _Batches, rare_class_repeats

    y = np.array([0] * 300 + [1] * 198 + [2] * 2)
    rep = rare_class_repeats(y, 0.02)
    assert rep is not None and set(rep[:498].tolist()) == {1} and rep[498:].tolist() == [5, 5]
    b = _Batches(len(y), 50, seed=3, device=torch.device("cpu"), dist=dist_info(), repeats=rep)
    epoch = torch.cat([b.indices(s) for s in range(b.per_epoch)]).numpy()
    assert b.per_epoch == 10 and np.isin(epoch, [498, 499]).sum() == 10   # 2% of the batches
    assert np.bincount(epoch[epoch >= 498] - 498).tolist() == [5, 5]
    plain = np.array([0] * 300 + [1] * 200)
    assert rare_class_repeats(plain, 0.02) is None and rare_class_repeats(y, 0.0) is None
    before = _Batches(500, 50, seed=3, device=torch.device("cpu"), dist=dist_info())
    after = _Batches(500, 50, seed=3, device=torch.device("cpu"), dist=dist_info(),
                     repeats=rare_class_repeats(plain, 0.02))
    assert all(torch.equal(before.indices(s), after.indices(s)) for s in range(25))
    with pytest.raises(Exception, match="rare_share"):
        TrainConfig(rare_share=0.6)
