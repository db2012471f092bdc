"""A mixture of diffusion networks (``train.members``): member k is the run trained with seed + 1000 k, each
profile is drawn by one member chosen at random, the run folder saves and loads every member (its guide and its
principal-component space), a killed run resumes member by member, and the options that cannot hold are refused."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from rnagen.errors import ConfigError
from rnagen.models import get_model, load
from rnagen.models.diffusion import DiffusionModel
from rnagen.train import describe

TINY = ["network.width=32", "network.depth=1", "network.time_dim=8", "schedule.T=100", "sample.steps=8",
        "train.batch_size=64", "train.log_every=20", "train.val_every=20", "train.steps=60", "train.patience=50",
        "train.checkpoint_every=10", "train.val_fraction=0.2"]


@pytest.fixture(scope="module")
def small_gtex():
    from rnagen import datasets

    ad = datasets.gtex26()
    keep = ad.obs["tissue"].isin(sorted(ad.obs["tissue"].unique())[:6]).to_numpy()
    return ad[keep, :24].copy()


@pytest.fixture(scope="module")
def mixture(small_gtex, tmp_path_factory):
    run = tmp_path_factory.mktemp("mixture") / "run"
    model = DiffusionModel.from_config(overrides=[*TINY, "train.members=3"])
    return model.fit(small_gtex, label_key="tissue", seed=4, run_dir=run, progress=False), run


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_each_member_is_the_run_of_its_own_seed(mixture, small_gtex):
    model, _ = mixture
    assert [m.seed for m in model.members] == [1004, 2004]
    alone = DiffusionModel.from_config(overrides=TINY).fit(small_gtex, label_key="tissue", seed=1004, progress=False)
    assert _same_weights(model.members[0].net, alone.net)
    assert model.members[0].guide_step == alone.guide_step and _same_weights(model.members[0].guide_net,
                                                                              alone.guide_net)
    # a different seed gives a different network: the members are not copies of each other
    assert not _same_weights(model.net, model.members[0].net)
    assert not _same_weights(model.members[0].net, model.members[1].net)


def test_each_profile_comes_from_one_member_chosen_at_random(mixture, monkeypatch):
    """With members that draw k + 1 everywhere, each profile is one member's, every class draws from every
    member in about equal shares, and each member draws with its own seed."""
    model, _ = mixture
    parts = [model, *model.members]
    seeds: list[tuple[int, int]] = []

    def constant(k):
        def draw(y, *, seed, batch_size, progress, decode=True, **options):
            seeds.append((k, seed))
            parts[k]._sampling_used = {"sampler": "dpm++", "autoguidance": float(k)}
            return np.full((len(y), model.n_genes), k + 1.0, dtype=np.float32)
        return draw

    for k, m in enumerate(parts):
        monkeypatch.setattr(m, "_sample_own", constant(k))
    y = np.repeat(np.arange(model.n_labels), 300)
    Z = model._sample(y, seed=7, batch_size=4096, progress=False)
    assert np.all(Z == Z[:, :1]) and set(np.unique(Z)) == {1.0, 2.0, 3.0}
    assert sorted(seeds) == [(0, 7), (1, 1007), (2, 2007)]
    for c in range(model.n_labels):
        share = np.bincount(Z[y == c, 0].astype(int) - 1, minlength=3) / 300
        assert np.all(np.abs(share - 1 / 3) < 0.1), share
    assert model._sampling_used["members"] == 3 and model._sampling_used["autoguidance"] == "0, 1, 2"
    # the same seed picks the same members, another seed others
    again = model._sample(y, seed=7, batch_size=4096, progress=False)
    assert np.array_equal(again, Z)
    assert not np.array_equal(model._sample(y, seed=8, batch_size=4096, progress=False), Z)


def test_sampling_is_reproducible_and_reaches_every_member(mixture):
    model, _ = mixture
    syn = model.sample(n_per_label=100, seed=7)
    assert syn.uns["rnagen"]["synthetic"]["members"] == 3
    assert np.array_equal(model.sample(n_per_label=100, seed=7).X, syn.X)
    # not the first network's own draw: the other members drew part of the set
    members, model.members = model.members, ()
    try:
        alone = model.sample(n_per_label=100, seed=7)
    finally:
        model.members = members
    assert not np.array_equal(alone.X, syn.X)
    assert not np.array_equal(model.sample(n_per_label=100, seed=8).X, syn.X)


def test_the_run_folder_keeps_every_member(mixture):
    model, run = mixture
    meta = json.loads((run / "meta.json").read_text())
    assert [m["seed"] for m in meta["extra"]["members"]] == [1004, 2004]
    v = meta["validation"]
    assert [m["seed"] for m in v["members"]] == [4, 1004, 2004]
    assert all(m["stop_reason"] == "budget" and m["steps"] == 60 for m in v["members"])
    curve = pd.read_csv(run / "validation.csv")
    assert curve.groupby("member").size().to_dict() == {0: 3, 1: 3, 2: 3}
    log = pd.read_csv(run / "train_log.csv")
    assert sorted(log["member"].unique()) == [0, 1, 2]
    assert "a mixture of 3 networks" in describe(model.validation)
    back = load(run)
    assert len(back.members) == 2 and all(_same_weights(a.net, b.net) for a, b in zip(back.members, model.members))
    assert np.array_equal(back.sample(n_per_label=30, seed=3).X, model.sample(n_per_label=30, seed=3).X)


@pytest.mark.parametrize("edit", ["drop_member", "bad_record", "fewer_in_config"])
def test_a_run_folder_whose_members_do_not_match_is_refused_in_one_line(mixture, tmp_path, edit):
    import shutil

    from rnagen.errors import RunDirError

    _, run = mixture
    bad = tmp_path / "run"
    shutil.copytree(run, bad)
    (bad / "manifest.json").unlink()   # a folder without a manifest is read on its files' own consistency
    meta = json.loads((bad / "meta.json").read_text())
    if edit == "drop_member":
        meta["extra"]["members"] = meta["extra"]["members"][:1]
    elif edit == "bad_record":
        meta["extra"]["members"][0]["seed"] = "x"
    else:
        cfg = (bad / "config.toml").read_text()
        assert "members = 3" in cfg
        (bad / "config.toml").write_text(cfg.replace("members = 3", "members = 2"))
    (bad / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(RunDirError) as err:
        load(bad)
    msg = str(err.value)
    assert "\n" not in msg and ("meta.json" in msg or "weights.safetensors" in msg) and "retrain" in msg


def test_members_in_a_principal_component_space_save_and_load(small_gtex, tmp_path):
    model = DiffusionModel.from_config(overrides=[*TINY, "train.members=2", "preprocess.space=pca"])
    model.fit(small_gtex, label_key="tissue", seed=1, run_dir=tmp_path / "run", progress=False)
    m = model.members[0]
    assert m.codec is not None and m.subspace is not None
    # the member's space was fitted to its own training share: not the first member's
    assert not torch.equal(m.codec.state_dict()["mean"], model.codec.state_dict()["mean"])
    back = load(tmp_path / "run")
    assert back.members[0].subspace == m.subspace
    assert np.array_equal(back.sample(n_per_label=20, seed=2).X, model.sample(n_per_label=20, seed=2).X)


def test_a_killed_mixture_resumes_member_by_member(small_gtex, tmp_path, monkeypatch):
    """Killed in the second member's training (the first finished, the second checkpointed at step 30): the
    resumed run keeps the first, continues the second from its checkpoint and ends as an uninterrupted run."""
    from rnagen.models.diffusion import DiffusionObjective

    over = [*TINY, "train.members=2"]
    whole = tmp_path / "whole"
    DiffusionModel.from_config(overrides=over).fit(small_gtex, label_key="tissue", seed=0, run_dir=whole,
                                                   progress=False)
    forward, calls = DiffusionObjective.forward, []

    def dies(self, *a, **kw):
        calls.append(1)
        if len(calls) > 60 + 35:
            raise KeyboardInterrupt
        return forward(self, *a, **kw)

    run = tmp_path / "run"
    monkeypatch.setattr(DiffusionObjective, "forward", dies)
    with pytest.raises(KeyboardInterrupt):
        DiffusionModel.from_config(overrides=over).fit(small_gtex, label_key="tissue", seed=0, run_dir=run,
                                                       progress=False)
    assert torch.load(run / "checkpoint_member1.pt", weights_only=True)["step"] == 30
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 60
    assert not (run / "weights.safetensors").exists()
    calls.clear()

    def counted(self, *a, **kw):
        calls.append(1)
        return forward(self, *a, **kw)

    monkeypatch.setattr(DiffusionObjective, "forward", counted)
    DiffusionModel.from_config(overrides=over).fit(small_gtex, label_key="tissue", seed=0, run_dir=run,
                                                   progress=False)
    assert len(calls) == 30   # the first member not trained again, the second from its step 30
    assert (run / "weights.safetensors").read_bytes() == (whole / "weights.safetensors").read_bytes()
    assert (run / "validation.csv").read_text() == (whole / "validation.csv").read_text()


def test_a_mixture_of_fixed_length_runs_says_so(small_gtex):
    over = [*TINY, "train.members=2", "train.val_fraction=0", "train.steps=20"]
    model = DiffusionModel.from_config(overrides=over).fit(small_gtex, label_key="tissue", seed=0, progress=False)
    assert [m["steps"] for m in model.validation["members"]] == [20, 20]
    assert describe(model.validation).startswith("each of a mixture of 2 networks (train.members) trained for the "
                                                 "whole budget of 20 steps")


def test_what_a_mixture_cannot_do_is_refused():
    with pytest.raises(ConfigError, match="train.members = 2 .* privacy budget again"):
        DiffusionModel.from_config(overrides=["train.members=2", "privacy.epsilon=5"])
    with pytest.raises(ConfigError, match=r"train.members"):
        DiffusionModel.from_config(overrides=["train.members=9"])
    for name in ("vae", "wgan-gp"):
        with pytest.raises(ConfigError, match=f"the {name} trains one"):
            get_model(name).from_config(overrides=["train.members=2"])
