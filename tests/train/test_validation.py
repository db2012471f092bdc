"""Training length chosen on held-out profiles: budget, schedule, hold-out split, early stopping, best weights."""
import numpy as np
import pytest
import torch
from torch import nn

from rnagen.errors import ConfigError
from rnagen.train import LossOutput, TrainConfig, resolve_budget, stratified_holdout, train_loop
from rnagen.train.loop import _make_scheduler, warmup_length
from rnagen.train.validation import (
    COPY_QUANTILE,
    MIN_VAL,
    FidelityValidator,
    ValidationTracker,
    _indicators,
    _nearest,
    combine,
    copy_factor,
    describe,
    describe_floor,
)


# ------------------------------------------------------------------------------------------ the budget
def test_budget_scales_with_the_data_size_in_epochs_and_is_clipped():
    cfg = TrainConfig(steps=None, epochs=100, min_steps=50, max_steps=1000, batch_size=32)
    assert resolve_budget(cfg, 320, 32) == (1000, "epochs")       # 100 epochs x 10 batches
    assert resolve_budget(cfg, 160, 32) == (500, "epochs")        # half the data, half the steps
    assert resolve_budget(cfg, 161, 32) == (504, "epochs")        # ceil(100 * 161 / 32)
    assert resolve_budget(cfg, 10, 32) == (50, "min_steps")       # floor
    assert resolve_budget(cfg, 10_000, 32) == (1000, "max_steps")  # ceiling
    # an explicit step count is the budget, whatever the data size
    assert resolve_budget(TrainConfig(steps=77), 10_000, 32) == (77, "steps")


def test_schedule_is_laid_out_over_the_budget():
    cfg = TrainConfig(steps=None, lr_schedule="cosine", warmup_fraction=0.1)
    assert warmup_length(cfg, 1000) == 100 and warmup_length(cfg, 200) == 20
    assert warmup_length(TrainConfig(warmup_steps=7), 1000) == 7  # explicit steps win over the fraction
    for total in (200, 400):
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = _make_scheduler(opt, cfg, 1.0, total)
        lrs = []
        for _ in range(total):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        warm = total // 10
        assert lrs[0] == pytest.approx(1 / warm)                 # linear warm-up over a tenth of the budget
        assert lrs[warm] == pytest.approx(1.0)                   # peak at the end of the warm-up
        mid = warm + (total - warm) // 2
        assert lrs[mid] == pytest.approx(0.1 + 0.9 * 0.5, abs=0.01)  # half-way down the cosine
        assert opt.param_groups[0]["lr"] == pytest.approx(0.1)    # decayed to 10% exactly at the budget


def test_config_rejects_bad_validation_settings():
    for kw in ({"val_fraction": 1.0}, {"val_fraction": -0.1}, {"patience": 0}, {"val_every": 0},
               {"min_steps": 10, "max_steps": 5}, {"epochs": 0}, {"warmup_fraction": 1.0}):
        with pytest.raises(ConfigError):
            TrainConfig(**kw)


# ----------------------------------------------------------------------------------- the hold-out split
def test_stratified_holdout_takes_a_share_of_each_class():
    y = np.repeat(np.arange(4), [40, 20, 10, 2])
    tr, va = stratified_holdout(y, fraction=0.1, seed=0, min_total=5)
    counts = np.bincount(y[va], minlength=4)
    assert counts.tolist() == [4, 2, 1, 0]  # 10% of each, at least 1, none from a class of 2
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(len(y)))  # a partition
    assert np.bincount(y[tr], minlength=4).min() >= 2
    tr2, va2 = stratified_holdout(y, fraction=0.1, seed=0, min_total=5)
    assert np.array_equal(va, va2)  # deterministic for a seed
    assert not np.array_equal(va, stratified_holdout(y, fraction=0.1, seed=1, min_total=5)[1])


def test_too_small_to_split_falls_back_to_the_whole_budget():
    y = np.repeat(np.arange(5), 3)  # 15 profiles: at most 5 could be held out, fewer than MIN_VAL
    assert stratified_holdout(y, fraction=0.3, seed=0) is None
    assert stratified_holdout(np.repeat(np.arange(30), 20), fraction=0.0, seed=0) is None
    assert stratified_holdout(np.repeat(np.arange(30), 20), fraction=0.1, seed=0)[1].size >= MIN_VAL


def test_a_small_set_holds_out_enough_to_score_within_the_cap():
    from rnagen.train.validation import MAX_VAL_FRACTION

    y = np.repeat(np.arange(3), [80, 40, 56])  # 176 profiles: 10% would be 18, under MIN_VAL
    tr, va = stratified_holdout(y, fraction=0.1, seed=0)
    assert va.size == MIN_VAL and np.bincount(y[va]).tolist() == [9, 5, 6]  # the raised share, per class
    big = np.repeat(np.arange(4), 500)  # a large set keeps the asked share
    assert stratified_holdout(big, fraction=0.1, seed=0)[1].size == 200
    # under MIN_VAL / MAX_VAL_FRACTION profiles the cap leaves too few to score: the whole budget instead
    n = int(MIN_VAL / MAX_VAL_FRACTION) - 10
    assert stratified_holdout(np.repeat(np.arange(2), n // 2), fraction=0.1, seed=0) is None


def test_score_is_one_at_the_reference_and_falls_both_ways():
    ref = {"density": 1.1, "coverage": 0.9, "aa_ts": 0.52}
    assert combine(ref, ref) == pytest.approx(1.0)
    over = combine({**ref, "density": 1.65}, ref)      # over-dense by half the reference
    under = combine({**ref, "density": 0.55}, ref)     # under-dense by as much
    assert over == pytest.approx(under) == pytest.approx(1 - 0.5 / 3)
    copies = combine({**ref, "aa_ts": 0.04}, ref)      # near copies: AA_ts far below the real-vs-real value
    assert copies == pytest.approx(1 - (0.48 / 0.48) / 3)


def test_score_reads_adversarial_accuracy_on_its_halves():
    """Samples spread wider than the data (early training) score AA_truth ~1 and AA_syn ~0: AA_ts at the
    reference's value, but the worst adversarial score on the halves."""
    ref = {"density": 1.0, "coverage": 1.0, "aa_ts": 0.5, "aa_truth": 0.52, "aa_syn": 0.48}
    spread = {"density": 1.0, "coverage": 1.0, "aa_ts": 0.5, "aa_truth": 1.0, "aa_syn": 0.0}
    assert combine(spread, ref) == pytest.approx((1 + 1 + (1 - 0.48 / 0.5)) / 3)   # d_AA = (0.48 + 0.48) / 2
    without_halves = {k: v for k, v in spread.items() if not k.startswith("aa_") or k == "aa_ts"}
    assert combine(without_halves, ref) == pytest.approx(1.0)
    same_side = {**ref, "aa_ts": 0.6, "aa_truth": 0.62, "aa_syn": 0.58}  # both halves 0.1 above
    assert combine(same_side, ref) == pytest.approx(1 - (0.1 / 0.5) / 3)


def _noisy_problem(n_val=26, n_train=200, g=20, C=13, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(C, g)) * 3
    yt, yv = rng.integers(0, C, n_train), np.repeat(np.arange(C), n_val // C)
    Xt = (centres[yt] + rng.normal(size=(n_train, g))).astype(np.float32)
    Xv = (centres[yv] + rng.normal(size=(len(yv), g))).astype(np.float32)
    return Xt, yt, Xv, yv, centres


def test_validator_averages_its_draws_and_reference_subsamples():
    Xt, yt, Xv, yv, centres = _noisy_problem()
    seeds = []

    def generate(yy, seed):
        seeds.append(seed)
        return centres[yy] + 1.2 * np.random.default_rng(seed).normal(size=(len(yy), Xt.shape[1]))

    v = FidelityValidator(generate, Xt, yt, Xv, yv, seed=0, draws=3, reference_draws=5)
    row = v()
    assert len(seeds) == 3 == len(set(seeds))                     # three distinct draws per check
    per = [_indicators(Xv, generate(yv, s).astype(np.float32), v.k) for s in seeds[:3]]
    for key in ("density", "coverage", "aa_ts", "aa_truth", "aa_syn"):
        assert row[key] == pytest.approx(np.mean([p[key] for p in per]))
    factor = copy_factor(row["copy_share"], v.copy_allowance)
    assert row["score"] == pytest.approx(combine({k: row[k] for k in per[0]}, v.reference) * factor)
    assert v() == row                                               # the same seeds at every check
    one = FidelityValidator(generate, Xt, yt, Xv, yv, seed=0, draws=1, reference_draws=1)
    assert one.reference != v.reference                             # one subsample is not the average


def test_copy_factor_spares_a_new_profile_s_share_and_zeroes_copies():
    assert copy_factor(0.0, 0.1) == copy_factor(0.1, 0.1) == 1.0
    assert copy_factor(1.0, 0.1) == 0.0
    assert copy_factor(0.55, 0.1) == pytest.approx(1 - 0.45 / 0.9)


def test_the_validator_scores_draws_that_reproduce_training_profiles_as_worthless():
    """Draws of ten held-out profiles' size that copy training profiles: density, coverage and AA_ts against the
    held-out profiles alone do not see it (a training profile scores like a held-out one); the copy factor does."""
    Xt, yt, Xv, yv, centres = _noisy_problem(n_val=10, n_train=60, g=30, C=2)

    def copies(yy, seed):
        r = np.random.default_rng(seed)
        return np.stack([Xt[r.choice(np.flatnonzero(yt == c))] for c in yy])

    def fresh(yy, seed):
        return centres[yy] + np.random.default_rng(seed).normal(size=(len(yy), Xt.shape[1]))

    vc = FidelityValidator(copies, Xt, yt, Xv, yv, seed=0)
    vf = FidelityValidator(fresh, Xt, yt, Xv, yv, seed=0)
    rc, rf = vc(), vf()
    assert rc["copy_share"] == 1.0 and rc["score"] == 0.0
    # ten held-out profiles: a new profile falls below their 5% quantile about 1 time in 11, twice that is allowed
    assert vf.copy_allowance == pytest.approx(2 / 11) and rf["copy_share"] <= vf.copy_allowance
    assert rf["score"] > 0.6
    without = combine({k: rc[k] for k in ("density", "coverage", "aa_ts", "aa_truth", "aa_syn")}, vc.reference)
    assert without > 0.6  # what the score would have been: the copies look like real profiles to the rest
    # the radius: the held-out profiles' COPY_QUANTILE quantile of distance to the training profiles
    d = np.sqrt(((Xv[:, None, :].astype(np.float64) - Xt[None, :, :]) ** 2).sum(-1)).min(1)
    assert np.allclose(_nearest(Xv, Xt), d, atol=1e-4)
    assert vc.copy_radius == pytest.approx(np.quantile(d, COPY_QUANTILE), rel=1e-5)
    # a held-out profile that is a training profile too (a sample in the data twice) would put the radius at 0
    # and hide the copies: it is left out of the radius, and an exact copy counts whatever the radius
    Xv2 = Xv.copy()
    Xv2[0] = Xt[np.flatnonzero(yt == yv[0])[0]]
    vd = FidelityValidator(copies, Xt, yt, Xv2, yv, seed=0)
    assert vd.copy_radius == pytest.approx(np.quantile(d[1:], COPY_QUANTILE), rel=1e-5)  # the other nine
    assert vd.copy_radius > 0 and vd()["copy_share"] == 1.0 and vd()["score"] == 0.0


def test_the_floor_is_the_class_gaussian_scored_like_the_model():
    """The floor is a per-class Gaussian fitted to the training profiles, scored on the same held-out profiles and
    draws' seeds as the model: on per-class Gaussian data it scores like the true distribution; a model whose
    samples are spread too wide scores below it and the line says so, one drawn from the truth does not."""
    from rnagen.models.gaussian import draw_class_gaussians, fit_class_gaussians
    from rnagen.train.validation import _final_score

    Xt, yt, Xv, yv, centres = _noisy_problem(n_val=39, n_train=390, g=12, C=13)

    def drawn(scale):
        return lambda yy, seed: centres[yy] + scale * np.random.default_rng(seed).normal(size=(len(yy), Xt.shape[1]))

    v = FidelityValidator(drawn(1.0), Xt, yt, Xv, yv, seed=0)
    floor, truth, wide = v.floor(), v(), v.score(drawn(2.0))
    assert floor == v.floor()                                         # fixed seeds: the same draws every time
    assert floor["score"] > 0.75 and abs(floor["score"] - truth["score"]) < 0.1
    assert wide["score"] < floor["score"] - 0.2
    # the same Gaussian fitted and drawn by hand, scored as the validator scores a model
    means, factors, _ = fit_class_gaussians(Xt, yt, 13, full=True)
    by_hand = v.score(lambda yy, seed: draw_class_gaussians(
        means, factors, yy, np.random.default_rng([seed, 0x6A55]).standard_normal((len(yy), Xt.shape[1]))))
    assert by_hand == floor
    record = {"best_score": wide["score"], "n_val": len(yv), "floor": floor}
    record["final_score"] = _final_score(record)
    assert record["final_score"] == wide["score"]
    line = describe_floor(record)
    assert f"{wide['score']:.3f} against {floor['score']:.3f}" in line and "warning" in line
    assert "--model gaussian" in line and len(line.splitlines()) == 1
    assert "warning" not in describe_floor({**record, "final_score": floor["score"] + 0.01})
    assert "of the kept model" in line
    # on fewer than MIN_VAL held-out profiles the comparison is too coarse to warn on: it says so
    few = describe_floor({**record, "n_val": 16})
    assert "warning" not in few and "too few to tell them apart" in few and "rnagen benchmark" in few
    assert "of the validated run (before its refit" in describe_floor({**record, "refit_steps": 40})
    assert "of network 1 of the mixture" in describe_floor({**record, "members": [{"best_step": 20}]})
    # with a guidance choice the score is the chosen pair's, not the best window's the line above it gives
    guided = {**record, "guide": {"weights": [1.0, 1.5], "chosen": 1.5, "scores": [0.8, 0.9]}}
    guided["final_score"] = _final_score(guided)
    assert f"of the kept model at its chosen guidance {0.9:.3f} against" in describe_floor(guided)
    assert describe_floor({"best_score": 0.5, "n_val": 20}) is None and describe_floor(None) is None


def test_the_kept_score_is_the_chosen_guidance_pair_s():
    from rnagen.train.validation import _final_score

    v = {"best_score": 0.5}
    assert _final_score(v) == 0.5
    assert _final_score({**v, "guide": {"weights": [1.0, 2.0], "scores": [0.5, 0.7], "chosen": 2.0}}) == 0.7
    both = {"weights": [1.0, 2.0], "scores": [0.5, 0.7], "chosen": 1.0,
            "guidance": {"weights": [0.0, 0.5], "scores": [[0.5, 0.7], [0.8, 0.6]], "chosen": 0.5}}
    assert _final_score({**v, "guide": both}) == 0.8


def test_train_val_min_sets_the_fewest_profiles_validated_on():
    from rnagen.train import fit_validated

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)).astype(np.float32), np.repeat(np.arange(2), 30).astype(np.int64)

    def run(**over):
        cfg = TrainConfig(steps=40, batch_size=20, lr=0.01, weight_decay=0.0, lr_schedule="constant",
                          warmup_steps=0, grad_clip=0.0, ema_decay=0.0, val_every=20, patience=3,
                          patience_from=0.0, **over)
        return fit_validated(lambda Xt, yt: (Walker(), {}), lambda Xt, yt, yy, seed: Xt[:len(yy)] + 1.0, X, y, cfg,
                             device=torch.device("cpu"), seed=0, run_dir=None, progress=False, resume=False,
                             fingerprint="vm", desc="vm").validation

    default = run()   # 60 profiles: a fifth would be 12, fewer than 20
    assert default["stop_reason"] == "no_validation" and "hold out 20" in default["note"] and default["too_small"]
    assert "not compared with the per-class Gaussian" in describe_floor(default)
    fixed = run(val_fraction=0.0)  # a fixed length asked for: not too small, nothing to say
    assert "too_small" not in fixed and describe_floor(fixed) is None
    small = run(val_min=10)
    assert small["n_val"] == 12 and small["stop_reason"] != "no_validation"  # raised toward 20, within a fifth
    with pytest.raises(ConfigError, match="val_min"):
        TrainConfig(val_min=1)


def test_the_validation_hold_out_under_20_stays_within_a_quarter_of_the_set():
    from rnagen.train.validation import validation_holdout

    cfg = TrainConfig(val_min=10)
    assert validation_holdout(np.repeat(np.arange(10), 3), cfg, 0) is None   # one of each three: a third
    tr, va = validation_holdout(np.repeat(np.arange(2), 30), cfg, 0)         # raised toward 20: a fifth, 12
    assert len(va) == 12 and len(tr) == 48
    # 100 profiles and more: the same split as with the default minimum
    y = np.repeat(np.arange(4), 40)
    assert np.array_equal(validation_holdout(y, cfg, 3)[1], validation_holdout(y, TrainConfig(), 3)[1])


def test_more_draws_make_the_score_of_a_small_held_out_share_steadier():
    """26 held-out profiles: the score of one model under different validator seeds spreads less with the
    indicators averaged over 4 draws and 8 reference subsamples than with one of each."""
    Xt, yt, Xv, yv, centres = _noisy_problem()

    def generate(yy, seed):
        return centres[yy] + 1.2 * np.random.default_rng(seed).normal(size=(len(yy), Xt.shape[1]))

    spread = {}
    for draws, refs in ((1, 1), (4, 8)):
        scores = [FidelityValidator(generate, Xt, yt, Xv, yv, seed=s, draws=draws, reference_draws=refs)()["score"]
                  for s in range(30)]
        spread[draws] = np.std(scores)
    assert spread[4] < 0.7 * spread[1]


# ------------------------------------------------------------------------- stopping on a known curve
class Walker(nn.Module):
    """One weight that Adam moves up by exactly ``lr`` per step (a constant gradient of -1)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x, y, generator=None):
        return LossOutput(-self.w * 1.0 + 0.0 * x.sum())


def _walk(tmp_path=None, **kw):
    """Score = -|w - 1|: with lr 0.01 the weight reaches 1 at step 100 and the score falls after that."""
    torch.manual_seed(0)
    m = Walker()
    def validator():
        w = float(m.w.detach())
        return {"score": -abs(w - 1.0), "w": w}

    base = dict(steps=1000, batch_size=8, lr=0.01, weight_decay=0.0, lr_schedule="constant", warmup_steps=0,
                grad_clip=0.0, ema_decay=0.0, val_every=20, patience=3, checkpoint_every=30, log_every=10,
                patience_from=0.0)
    base.update(kw)
    X, y = torch.zeros(64, 2), torch.zeros(64, dtype=torch.long)
    res = train_loop(m, X, y, TrainConfig(**base), device=torch.device("cpu"), seed=0, progress=False,
                     validator=validator, run_dir=tmp_path, fingerprint="walk")
    return m, res


def test_stops_after_the_patience_window_and_keeps_the_best_weights():
    m, res = _walk(val_window=1)
    v = res.validation
    assert v["best_step"] == 100 and v["stop_reason"] == "patience"
    assert res.steps == 160                                  # 3 checks after the best one (120, 140, 160)
    assert [r["step"] for r in v["curve"]] == list(range(20, 161, 20))
    assert float(m.w.detach()) == pytest.approx(1.6, abs=1e-3)        # the live weight walked on
    res.apply_to(m)
    assert float(m.w.detach()) == pytest.approx(1.0, abs=1e-3)        # the kept weight is the best step's
    assert float(m.w.detach()) == v["curve"][4]["w"]                  # exactly what the step-100 check scored
    # the training log carries the checks' numbers at their steps
    logged = {r["step"]: r["val_score"] for r in res.history if "val_score" in r}
    assert logged == {r["step"]: r["score"] for r in v["curve"]}
    assert "patience" in describe({**v, "n_val": 0})


def test_a_run_still_improving_when_its_budget_ends_says_so(tmp_path):
    """The weight reaches 1 at step 100: a 60-step budget ends on the best check, and the stop line says the run
    may be under-trained and which key lengthens it; a run that turned (patience) gets no such hint."""
    from rnagen.train.validation import ValidationTracker

    _, res = _walk(tmp_path, steps=60, val_window=1)
    v = res.validation
    assert v["stop_reason"] == "budget" and v["best_step"] == 60 == res.steps
    line = describe({**v, "n_val": 0})
    assert "still improving at the last check" in line and "train.steps" in line
    _, turned = _walk(val_window=1)
    assert "still improving" not in describe({**turned.validation, "n_val": 0})
    # the budget from train.epochs clipped at train.max_steps: the hint names max_steps
    t = ValidationTracker(patience=3, budget=40, budget_source="max_steps", every=20)
    assert not t.check(20, {"score": 0.1}, {}) and t.check(40, {"score": 0.2}, {})
    rec = {**t.record(steps=40), "n_val": 5}
    assert rec["stop_reason"] == "max_steps" and "raise train.max_steps" in describe(rec)


def test_smoothed_score_keeps_the_best_window_s_middle_check():
    """Window 3: the trailing mean of -|w - 1| peaks at the check after the best one (120: mean
    of 80, 100, 120), whose middle check, 100, is kept; patience counts from that window."""
    m, res = _walk(val_window=3)
    v = res.validation
    assert v["window"] == 3 and v["best_step"] == 100 and res.steps == 180
    raw = [r["score"] for r in v["curve"]]
    assert [r["smoothed"] for r in v["curve"]] == pytest.approx(
        [np.mean(raw[max(0, i - 2):i + 1]) for i in range(len(raw))])
    assert v["best_score"] == pytest.approx(np.mean(raw[3:6]))
    res.apply_to(m)
    assert float(m.w.detach()) == v["curve"][4]["w"] == pytest.approx(1.0, abs=1e-3)


def _replay(scores, every, **kw):
    """A tracker fed ``scores`` at steps every, 2 every, ... (weights: the check's index) until it stops."""
    t = ValidationTracker(budget_source="steps", every=every, **kw)
    for i, s in enumerate(scores):
        if t.check(every * (i + 1), {"score": s}, {"w": torch.tensor(float(i))}):
            break
    return t


def test_the_guide_is_the_check_nearest_the_fraction_of_the_best_step_and_earlier_checks_are_let_go():
    """The autoguidance guide of a validated run: the check before the best nearest guide_fraction x the best step
    (of two as near, the later); checks that no later best could need are let go; kept through a checkpoint."""
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
    again = ValidationTracker(patience=4, budget=10_000, budget_source="steps", every=10, guide_fraction=0.5)
    again.load_state_dict(t.state_dict())
    assert again.guide()[0] == 40 and float(again.guide()[1]["w"]) == 3.0


def test_a_lucky_check_does_not_choose_the_length():
    """One check scoring far above its neighbours (noise of a small held-out share) wins on its own score but
    not on the mean of three; the smoothed rule keeps the peak of the underlying curve."""
    scores = [0.1, 0.2, 0.3, 0.9, 0.3, 0.5, 0.6, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    kept = {}
    for window in (1, 3):
        t = _replay(scores, 10, patience=4, budget=10_000, window=window)
        kept[window] = (t.best_step, float(t.best_weights["w"]), t.stop_reason)
    assert kept[1] == (40, 3.0, "patience")     # the spike, and training stopped 4 checks later
    assert kept[3] == (80, 7.0, "patience")     # the window 0.6, 0.7, 0.6 is the best; its middle, the peak


def test_checks_early_in_the_budget_do_not_count_toward_patience():
    """A short budget's early checks, all far from the data, move by noise: with patience counted from 25% of
    the budget a run does not stop on them."""
    scores = [0.30, 0.20, 0.25, 0.28, 0.35, 0.50, 0.60, 0.55, 0.50, 0.45, 0.40]
    ends = {}
    for start in (0.0, 0.25):
        t = _replay(scores, 50, patience=3, budget=1000, patience_from=start)
        ends[start] = (t.curve[-1]["step"], t.best_step)
    assert ends[0.0] == (200, 50)       # three early dips end the run at the first check's weights
    assert ends[0.25] == (500, 350)     # 100..250 do not count; the peak at 350 is found, 3 checks on
    assert TrainConfig().patience_from == 0.25


def _replay_rows(rows, every, **kw):
    """:func:`_replay` with whole rows (score and indicators) instead of scores."""
    t = ValidationTracker(budget_source="steps", every=every, **kw)
    for i, r in enumerate(rows):
        if t.check(every * (i + 1), r, {"w": torch.tensor(float(i))}):
            break
    return t


def _far(score, density=0.01, coverage=0.02):
    """A check's row: the score, the balls' indicators (far from every held-out profile by default)."""
    return {"score": score, "density": density, "coverage": coverage}


def _no_signal(row):
    return row["density"] + row["coverage"] < 0.1


def test_checks_without_signal_neither_choose_the_length_nor_count_toward_patience():
    """Every check of a model whose samples fall in no held-out profile's neighbourhood scores near its floor, the
    first highest by the draws' noise: with a no-signal rule, the run is not stopped by patience on them and keeps
    its most trained weights; without it, it stops three checks in at the first check's weights."""
    scores = [0.12, 0.04, 0.08, 0.03, 0.06, 0.09, 0.10, 0.02]
    old = _replay_rows([_far(s) for s in scores], 10, patience=3, budget=80)
    assert (old.best_step, old.stop_reason, old.curve[-1]["step"]) == (10, "patience", 40)
    t = _replay_rows([_far(s) for s in scores], 10, patience=3, budget=80, no_signal=_no_signal)
    assert (t.best_step, float(t.best_weights["w"]), t.stop_reason) == (80, 7.0, "budget")
    assert t.bad == 0 and t.best_score == pytest.approx(0.02)
    rec = {**t.record(steps=80), "n_val": 40}
    assert rec["no_signal"] is True
    line = describe(rec)
    assert "at every validation check the generated profiles fell in almost no held-out profile's neighbourhood" \
        in line and "(step 80) kept" in line
    assert "still improving" not in line and "best validation score" not in line
    # with a window, the last check is kept, not the window's middle
    t3 = _replay_rows([_far(s) for s in scores], 10, patience=3, budget=80, window=3, no_signal=_no_signal)
    assert (t3.best_step, t3.stop_reason) == (80, "budget")
    # the same tracker through a checkpoint
    again = ValidationTracker(patience=3, budget=80, budget_source="steps", every=10, no_signal=_no_signal)
    again.load_state_dict(_replay_rows([_far(s) for s in scores[:4]], 10, patience=3, budget=80,
                                       no_signal=_no_signal).state_dict())
    for i, s in enumerate(scores[4:], start=4):
        again.check(10 * (i + 1), _far(s), {"w": torch.tensor(float(i))})
    assert (again.best_step, again.stop_reason, again.curve) == (t.best_step, t.stop_reason, t.curve)


def test_the_first_check_with_signal_is_the_best_so_far_and_then_the_run_is_judged_as_any_other():
    """A check with signal after checks without is the best so far even below their scores (the AA term of a far
    model's score need not be 0); after it the best check is kept and patience counts, also for checks that fall
    back near the floor (a model that degrades after its best)."""
    rows = [_far(0.15), _far(0.12), _far(0.10, 0.3, 0.4), _far(0.50, 0.9, 0.9), _far(0.40, 0.8, 0.9),
            _far(0.01), _far(0.02), _far(0.03), _far(0.04)]
    t = _replay_rows(rows, 10, patience=3, budget=1000, no_signal=_no_signal)
    assert (t.best_step, float(t.best_weights["w"]), t.stop_reason) == (40, 3.0, "patience")
    assert t.curve[-1]["step"] == 70 and t.signal_seen
    assert "no_signal" not in t.record(steps=70)
    assert "best validation score 0.500" in describe({**t.record(steps=70), "n_val": 40})
    # left the floor at step 30 and fell: step 30 is kept, not the earlier, higher-scoring checks without signal
    t = _replay_rows(rows[:3] + [_far(0.09, 0.3, 0.3)] * 4, 10, patience=3, budget=1000, no_signal=_no_signal)
    assert (t.best_step, t.stop_reason) == (30, "patience")
    # a checkpoint written by a tracker without the flag resumes as one that has seen signal
    state = t.state_dict()
    del state["signal_seen"]
    resumed = ValidationTracker(patience=3, budget=1000, budget_source="steps", every=10, no_signal=_no_signal)
    resumed.load_state_dict(state)
    assert resumed.signal_seen


def test_the_fidelity_validator_calls_far_draws_without_signal():
    """FidelityValidator.at_floor: density and coverage as shares of their real-vs-real values averaging under
    NO_SIGNAL; draws that were not finite are not a floor; the held-out profiles themselves carry signal, and a
    model whose draws all lie far away does not."""
    from rnagen.train.validation import NO_SIGNAL

    rng = np.random.default_rng(0)
    Xt, Xv = rng.normal(size=(200, 10)), rng.normal(size=(40, 10))
    yt, yv = np.repeat([0, 1], 100), np.repeat([0, 1], 20)
    near = FidelityValidator(lambda y, s: rng.normal(size=(len(y), 10)), Xt, yt, Xv, yv, seed=0)
    far = FidelityValidator(lambda y, s: rng.normal(size=(len(y), 10)) + 30, Xt, yt, Xv, yv, seed=0)
    assert not near.at_floor(near()) and far.at_floor(far())
    ref = near.reference
    edge = {"density": NO_SIGNAL * ref["density"], "coverage": NO_SIGNAL * ref["coverage"]}
    assert not near.at_floor(edge)
    assert near.at_floor({k: 0.99 * v for k, v in edge.items()})
    assert not near.at_floor({"density": float("nan"), "coverage": float("nan"), "score": 0.0})


def test_train_loop_hands_the_validator_s_no_signal_rule_to_its_tracker():
    """A validator with ``at_floor`` whose score falls as training goes on while its draws stay far from the data
    runs the whole budget and keeps the last weights; the same scores from a plain function stop on patience at the
    first check."""
    class Far:
        def __init__(self, m):
            self.m = m

        def __call__(self):
            w = float(self.m.w.detach())
            return {"score": 0.03 - 0.01 * w, "density": 0.0, "coverage": 0.0, "w": w}

        def at_floor(self, row):
            return row["density"] + row["coverage"] < 0.1

    ends = {}
    for with_rule in (False, True):
        torch.manual_seed(0)
        m = Walker()
        far = Far(m)
        cfg = TrainConfig(steps=200, batch_size=8, lr=0.01, weight_decay=0.0, lr_schedule="constant",
                          warmup_steps=0, grad_clip=0.0, ema_decay=0.0, val_every=20, patience=3,
                          patience_from=0.0)
        res = train_loop(m, torch.zeros(64, 2), torch.zeros(64, dtype=torch.long), cfg, device=torch.device("cpu"),
                         seed=0, progress=False, validator=far if with_rule else (lambda: far()),
                         fingerprint="far")
        res.apply_to(m)
        ends[with_rule] = (res.steps, res.validation["best_step"], round(float(m.w.detach()), 3),
                           res.validation.get("no_signal"))
    assert ends[False] == (80, 20, 0.2, None)
    assert ends[True] == (200, 200, 2.0, True)


def test_budget_spent_before_patience_runs_out():
    for window in (1, 3):
        _, res = _walk(steps=90, val_window=window)
        assert res.steps == 90 and res.validation["stop_reason"] == "budget"
        assert res.validation["best_step"] == 90             # still improving when the budget ended: the last


def test_resume_continues_the_same_validation_curve(tmp_path):
    """Interrupted after step 70 (checkpoint at 60), the resumed run ends with the uninterrupted curve."""
    _, full = _walk()

    class Boom(Walker):
        calls = 0

        def forward(self, x, y, generator=None):
            Boom.calls += 1
            if Boom.calls > 70:
                raise KeyboardInterrupt
            return super().forward(x, y, generator)

    torch.manual_seed(0)
    broken = Boom()
    cfg = dict(steps=1000, batch_size=8, lr=0.01, weight_decay=0.0, lr_schedule="constant", warmup_steps=0,
               grad_clip=0.0, ema_decay=0.0, val_every=20, patience=3, checkpoint_every=30, log_every=10,
               patience_from=0.0)

    def v_broken():
        w = float(broken.w.detach())
        return {"score": -abs(w - 1.0), "w": w}

    with pytest.raises(KeyboardInterrupt):
        train_loop(broken, torch.zeros(64, 2), torch.zeros(64, dtype=torch.long), TrainConfig(**cfg),
                   device=torch.device("cpu"), seed=0, progress=False, validator=v_broken, run_dir=tmp_path,
                   fingerprint="walk")
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 60 and [r["step"] for r in state["validation"]["curve"]] == [20, 40, 60]
    m, resumed = _walk(tmp_path)
    assert resumed.validation["curve"] == full.validation["curve"]
    assert (resumed.validation["best_step"], resumed.steps) == (100, 160)
    resumed.apply_to(m)
    assert float(m.w.detach()) == full.validation["curve"][4]["w"]


def _blobs(n_per=50, k=5, d=5):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(k), n_per)
    return (rng.normal(size=(len(y), d)) + 30.0 * y[:, None]).astype(np.float32), y.astype(np.int64)


def _fit_walker(refit: bool):
    """A generator whose draws are the data's distribution shifted by 5 (w - 1): best at w = 1, step 100 (the
    classes 30 apart, so that no shift lands one class on another)."""
    from rnagen.train import fit_validated

    X, y = _blobs()
    walkers = []

    def setup(Xt, yt):
        walkers.append(Walker())
        return walkers[-1], {}

    def generate(Xt, yt, yy, seed):
        w = float(walkers[-1].w.detach())
        rng = np.random.default_rng(seed)
        return rng.normal(size=(len(yy), X.shape[1])) + 30.0 * yy[:, None] + 5.0 * (w - 1.0)

    cfg = TrainConfig(steps=400, batch_size=25, lr=0.01, weight_decay=0.0, lr_schedule="constant",
                      warmup_steps=0, grad_clip=0.0, ema_decay=0.0, val_every=20, patience=3, refit=refit,
                      patience_from=0.0)
    res = fit_validated(setup, generate, X, y, cfg, device=torch.device("cpu"), seed=0, run_dir=None,
                        progress=False, resume=False, fingerprint="w", desc="w")
    return walkers, res


def test_outside_span_share_is_the_held_out_variance_the_training_profiles_do_not_span():
    from rnagen.train.validation import OUTSIDE_SPAN_WARN, outside_span_share

    rng = np.random.default_rng(0)
    # more profiles than genes: the span is the whole space
    assert outside_span_share(rng.normal(size=(300, 20)), rng.normal(size=(50, 20))) == 0.0
    # independent gene noise, 60 training profiles in 400 genes: the centred span has 59 dimensions, so a new
    # profile keeps about (400 - 59) / 400 of its energy outside it
    share = outside_span_share(rng.normal(size=(60, 400)), rng.normal(size=(40, 400)))
    assert share == pytest.approx(341 / 400, abs=0.03) and share > OUTSIDE_SPAN_WARN
    # five factors and a little gene noise: a new profile lies almost wholly inside the span
    L = rng.normal(size=(5, 400))
    low = lambda n: rng.normal(size=(n, 5)) @ L + 0.05 * rng.normal(size=(n, 400))  # noqa: E731
    assert outside_span_share(low(60), low(40)) < 0.01
    # a held-out profile that is a training profile lies inside it exactly
    T = rng.normal(size=(30, 100))
    assert outside_span_share(T, T[:5]) == pytest.approx(0.0, abs=1e-9)
    # beyond max_train the span is a subset's: less of it, so at least the exact share
    T, V = rng.normal(size=(80, 400)), rng.normal(size=(20, 400))
    exact, capped = outside_span_share(T, V), outside_span_share(T, V, max_train=40)
    assert capped > exact and capped == pytest.approx((400 - 40) / 400, abs=0.03)


def test_describe_warns_when_the_held_out_profiles_lie_outside_the_training_span():
    v = {"stop_reason": "patience", "patience": 6, "val_every": 10, "steps": 60, "budget": 100, "best_score": 0.1,
         "best_step": 20, "n_val": 20}
    assert "warning" not in describe({**v, "outside_span": 0.05}) and "warning" not in describe(v)
    line = describe({**v, "outside_span": 0.72})
    assert "72% of the held-out profiles' variance lies outside the span" in line and "--genes landmarks" in line
    assert len(line.splitlines()) == 1


def test_describe_counts_the_checks_the_window_s_mean_covers():
    v = {"stop_reason": "budget", "patience": 6, "val_every": 10, "steps": 30, "budget": 30, "best_score": 0.4,
         "best_step": 20, "n_val": 20, "window": 5}
    assert "(mean of 3 checks)" in describe({**v, "checks": 3})       # fewer checks made than the window
    assert "(mean of 5 checks)" in describe({**v, "checks": 9})
    assert "mean of" not in describe({**v, "checks": 1})


def test_fit_validated_records_the_hold_out_share_outside_the_span_of_what_it_trained_on():
    # independent gene noise, 100 profiles of 400 genes: the held-out profiles lie mostly outside the span of the
    # profiles trained on (the record would read 0 if the span included the held-out profiles themselves)
    from rnagen.train import fit_validated
    from rnagen.train.validation import outside_span_share

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(100, 400)).astype(np.float32), np.repeat(np.arange(2), 50).astype(np.int64)
    cfg = TrainConfig(steps=40, batch_size=25, lr=0.01, weight_decay=0.0, lr_schedule="constant", warmup_steps=0,
                      grad_clip=0.0, ema_decay=0.0, val_every=20, patience=3, patience_from=0.0)
    res = fit_validated(lambda Xt, yt: (Walker(), {}), lambda Xt, yt, yy, seed: X[:len(yy)], X, y, cfg,
                        device=torch.device("cpu"), seed=0, run_dir=None, progress=False, resume=False,
                        fingerprint="span", desc="span")
    tr, va = stratified_holdout(y, fraction=cfg.val_fraction, seed=0)
    v = res.validation
    assert v["outside_span"] == outside_span_share(X[tr], X[va]) and v["outside_span"] > 0.7
    assert "warning" in describe(v)


def test_fit_validated_scores_held_out_profiles_and_can_refit_for_the_chosen_length():
    walkers, res = _fit_walker(refit=False)
    v = res.validation
    assert v["outside_span"] == 0.0  # 225 profiles of 5 genes
    assert v["n_val"] == 25 and v["best_step"] == 100 and v["stop_reason"] == "patience"
    assert 0.0 < v["curve"][0]["score"] < v["curve"][4]["score"]  # shifted draws score lower than unshifted
    res.apply_to(walkers[-1])
    assert float(walkers[-1].w.detach()) == pytest.approx(1.0, abs=1e-3)

    walkers, res = _fit_walker(refit=True)
    assert len(walkers) == 2 and res.validation["refit_steps"] == 100 == res.steps
    assert res.best_state is None  # the refitted model is kept as trained (no checks in the refit)
    assert float(walkers[-1].w.detach()) == pytest.approx(1.0, abs=1e-3)  # 100 steps from scratch on all data
    assert "refitted on all profiles for 100 steps" in describe(res.validation)


def test_a_run_diverging_after_its_best_check_keeps_it(tmp_path):
    """With validation, a loss that turns NaN after the best check (step 100) stops the run there: the best
    weights are kept, the stop reason says so (resumed as a stop), and the line names the step; diverging before
    any check is an error (nothing finite to keep)."""
    from rnagen.errors import ConfigError

    class Blows(Walker):
        calls, at = 0, 130

        def forward(self, x, y, generator=None):
            Blows.calls += 1
            out = super().forward(x, y, generator)
            return LossOutput(out.loss * float("nan")) if Blows.calls >= Blows.at else out

    cfg = dict(steps=1000, batch_size=8, lr=0.01, weight_decay=0.0, lr_schedule="constant", warmup_steps=0,
               grad_clip=0.0, ema_decay=0.0, val_every=20, patience=3, checkpoint_every=30, log_every=10,
               patience_from=0.0)
    torch.manual_seed(0)
    m = Blows()

    def validator():
        w = float(m.w.detach())
        return {"score": -abs(w - 1.0), "w": w}

    def run(model):
        return train_loop(model, torch.zeros(64, 2), torch.zeros(64, dtype=torch.long), TrainConfig(**cfg),
                          device=torch.device("cpu"), seed=0, progress=False, validator=validator, run_dir=tmp_path,
                          fingerprint="walk")

    res = run(m)
    v = res.validation
    assert (v["stop_reason"], v["best_step"], res.steps) == ("diverged", 100, 129)
    assert v["diverged"] == "loss = nan at step 130, train.lr = 0.01"
    res.apply_to(m)
    assert float(m.w.detach()) == pytest.approx(1.0, abs=1e-3)
    assert "training diverged (loss = nan at step 130" in describe({**v, "n_val": 0})
    again = run(m)   # resumed from the stop's checkpoint: the same record, no step taken
    assert again.validation["stop_reason"] == "diverged" and again.validation["best_step"] == 100
    Blows.calls, Blows.at = 0, 5
    with pytest.raises(ConfigError, match="training diverged at step 5 of 1000: loss = nan"):
        train_loop(Blows(), torch.zeros(64, 2), torch.zeros(64, dtype=torch.long), TrainConfig(**cfg),
                   device=torch.device("cpu"), seed=0, progress=False, validator=validator)


def test_refit_without_a_held_out_share_is_refused():
    """train.refit=true with train.val_fraction=0 trained without refitting and recorded refit = true."""
    import numpy as np
    import pytest

    from rnagen import datasets
    from rnagen.errors import ConfigError
    from rnagen.models import get_model

    a = datasets.gtex26()[:, :20].copy()
    m = get_model("vae").from_config(overrides=["train.val_fraction=0", "train.refit=true", "train.steps=5",
                                                "network.hidden=[8]"])
    with pytest.raises(ConfigError, match=r"nothing is held out here \(train.val_fraction = 0\)"):
        m.fit(a, label_key="tissue", seed=0, progress=False)
    assert np.isfinite(np.asarray(a.X)).all()


def test_the_validation_hold_out_keeps_copies_of_a_profile_on_one_side():
    """Copies of one profile (a sample in the data twice) are held out together or not at all: a held-out copy
    of a training profile would score a model that reproduces its training set as a perfect one. Without copies,
    the groups change nothing."""
    from rnagen.train import fit_validated

    y = np.repeat(np.arange(2), 100)
    groups = np.arange(200)
    groups[100:140] = np.arange(0, 40)   # rows 100-139 are copies of rows 0-39 (labelled another way)
    for seed in range(4):
        tr, va = stratified_holdout(y, fraction=0.2, seed=seed, groups=groups)
        held = set(va.tolist())
        assert all((i in held) == (100 + i in held) for i in range(40))
        assert sorted(np.concatenate([tr, va]).tolist()) == list(range(200))
        assert np.array_equal(stratified_holdout(y, fraction=0.2, seed=seed, groups=np.arange(200))[1],
                              stratified_holdout(y, fraction=0.2, seed=seed)[1])
    # fit_validated finds the copies itself: each copied profile is trained on twice or held out twice
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 12)).astype(np.float32)
    X = np.vstack([X, X[:40]])
    yy = np.repeat(np.arange(2), 80)
    yy = np.concatenate([yy, yy[:40]]).astype(np.int64)
    seen = []

    def setup(Xt, yt):
        seen.append(Xt)   # the profiles trained on
        return Walker(), {}

    cfg = TrainConfig(steps=20, batch_size=20, lr=0.01, weight_decay=0.0, lr_schedule="constant", warmup_steps=0,
                      grad_clip=0.0, ema_decay=0.0, val_every=20, patience=3, patience_from=0.0)
    fit_validated(setup, lambda Xt, yt, want, seed: Xt[:len(want)] + 1.0, X, yy, cfg, device=torch.device("cpu"),
                  seed=0, run_dir=None, progress=False, resume=False, fingerprint="cp", desc="cp")
    trained = {row.tobytes() for row in seen[0]}
    counts = [sum(r.tobytes() == X[i].tobytes() for r in seen[0]) for i in range(40)]
    assert len(seen[0]) < len(X) and set(counts) <= {0, 2} and 0 in counts and len(trained) < len(seen[0])
