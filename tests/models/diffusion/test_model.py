"""DiffusionModel end to end: a labelled 2-D Gaussian mixture is recovered, save/load reproduces samples,
sampler options are validated, and a short GTEx training gives TSTR accuracy far above chance."""
import numpy as np
import pandas as pd
import pytest

from rnagen.errors import ConfigError
from rnagen.models import get_model, load
from rnagen.models.diffusion import DiffusionModel

MEANS = np.array([[3.0, 0.0], [-2.0, 2.0], [0.0, -3.0]])
COVS = [np.array([[1.0, 0.6], [0.6, 1.0]]), np.array([[0.5, 0.0], [0.0, 0.2]]), np.array([[0.3, -0.2], [-0.2, 0.8]])]
SMALL = ["preprocess.log='none'", "network.width=64", "network.depth=2", "network.dropout=0.0",
         "network.time_dim=32", "train.batch_size=256", "train.log_every=100"]


def mixture(n_per: int = 400, seed: int = 0):
    import anndata as ad

    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.multivariate_normal(MEANS[c], COVS[c], n_per) for c in range(3)])
    y = np.repeat(["a", "b", "c"], n_per)
    obs = pd.DataFrame({"lab": pd.Categorical(y)}, index=[f"s{i}" for i in range(len(y))])
    return ad.AnnData(X=X.astype(np.float32), obs=obs, var=pd.DataFrame(index=["g1", "g2"]))


@pytest.fixture(scope="module")
def mixture_model():
    m = DiffusionModel.from_config(overrides=SMALL + ["train.steps=800"])
    return m.fit(mixture(), label_key="lab", seed=0, progress=False)


def test_registered():
    assert get_model("diffusion") is DiffusionModel
    cfg = DiffusionModel().config
    assert cfg.objective.prediction == "v" and cfg.schedule.kind == "quad" and cfg.schedule.T == 1000
    # guidance unset: the weight chosen at training
    assert (cfg.sample.sampler, cfg.sample.steps, cfg.sample.eta, cfg.sample.guidance) == ("dpm++", 20, 0.0, None)
    # the training length is chosen on held-out profiles by default, with a constant rate and EMA annealing
    t = cfg.train
    assert (t.steps, t.val_fraction, t.lr_schedule, t.ema_decay) == (None, 0.1, "constant", 0.999)


def test_mixture_components_recovered(mixture_model):
    for kw in ({}, {"sampler": "ddpm", "steps": 200}, {"sampler": "dpm++", "steps": 15},
               {"sampler": "dpm++", "steps": 15, "spacing": "logsnr"}):
        syn = mixture_model.sample(n_per_label=3000, seed=1, **kw)
        assert syn.shape == (9000, 2) and list(syn.var_names) == ["g1", "g2"]
        for c, lab in enumerate("abc"):
            Z = np.asarray(syn.X[(syn.obs["lab"] == lab).to_numpy()], dtype=np.float64)
            assert np.abs(Z.mean(0) - MEANS[c]).max() < 0.3, (kw, lab, Z.mean(0))
            err = np.linalg.norm(np.cov(Z.T) - COVS[c]) / np.linalg.norm(COVS[c])
            assert err < 0.6, (kw, lab, np.cov(Z.T))


def test_save_load_same_samples(mixture_model, tmp_path):
    mixture_model.save(tmp_path / "run")
    back = load(tmp_path / "run", device="cpu")
    assert isinstance(back, DiffusionModel) and back.config == mixture_model.config
    for kw in ({}, {"sampler": "ddpm", "steps": 20}, {"sampler": "ddim", "eta": 0.5, "steps": 10, "guidance": 1.0},
               {"sampler": "dpm++", "steps": 10, "guidance": 1.0}):
        a = mixture_model.sample(n_per_label=50, seed=7, **kw)
        b = back.sample(n_per_label=50, seed=7, **kw)
        np.testing.assert_array_equal(np.asarray(a.X), np.asarray(b.X))
    c = back.sample(n_per_label=50, seed=8)
    assert not np.allclose(np.asarray(c.X), np.asarray(b.X))


def test_a_smaller_conditioning_embedding_trains_saves_and_loads(tmp_path):
    """network.cond_dim sizes the time + label embedding that modulates each block (0: the width): its weights
    count as the formula says, and the model trains, saves and loads with it."""
    from rnagen.models.diffusion.network import ResMLPDenoiser

    def count(**kw):
        return sum(p.numel() for p in ResMLPDenoiser(10, 3, width=64, depth=2, time_dim=32, **kw).parameters())

    # each block's FiLM weights: cond_dim x 2 width; the time MLP time_dim -> cond_dim -> cond_dim and the label
    # embedding (3 labels and the null one) follow cond_dim
    def cond(c):
        return (32 * c + c) + (c * c + c) + 4 * c

    small, full = count(cond_dim=8), count()
    assert full - small == 2 * (64 - 8) * 2 * 64 + cond(64) - cond(8)
    m = DiffusionModel.from_config(overrides=SMALL + ["train.steps=30", "network.cond_dim=8"])
    m.fit(mixture(n_per=40), label_key="lab", seed=0, progress=False)
    assert m.net.blocks[0].film.in_features == 8
    m.save(tmp_path / "run")
    back = load(tmp_path / "run", device="cpu")
    assert back.config.network.cond_dim == 8
    np.testing.assert_array_equal(np.asarray(m.sample(n_per_label=5, seed=1).X),
                                  np.asarray(back.sample(n_per_label=5, seed=1).X))
    with pytest.raises(ConfigError, match="cond_dim"):
        DiffusionModel.from_config(overrides=["network.cond_dim=-1"])


def test_samples_record_the_sampling_they_were_drawn_with(mixture_model):
    """The sample record names the sampler settings in effect, defaults included, and the batch size (both
    change the profiles of a seed)."""
    rec = mixture_model.sample(n_per_label=2, seed=1).uns["rnagen"]["synthetic"]
    cfg = mixture_model.config.sample
    # the guidance weight in effect: unset in the configuration, the one chosen at training
    assert cfg.guidance is None
    assert (rec["sampler"], rec["steps"], rec["guidance"], rec["batch_size"]) == (cfg.sampler, cfg.steps,
                                                                                 mixture_model.cfg_weight, 4096)
    rec = mixture_model.sample(n_per_label=2, seed=1, sampler="ddim", steps=7, batch_size=5).uns["rnagen"]["synthetic"]
    assert (rec["sampler"], rec["steps"], rec["eta"], rec["batch_size"]) == ("ddim", 7, cfg.eta, 5)
    # the eta a sampler runs with: ddpm's is 1, and another asked of it is refused rather than dropped
    for asked in (None, 1.0):
        rec = mixture_model.sample(n_per_label=2, seed=1, sampler="ddpm", steps=5, eta=asked).uns["rnagen"]
        assert rec["synthetic"]["eta"] == 1.0
    with pytest.raises(ConfigError, match="the ddpm sampler is ancestral: eta is 1"):
        mixture_model.sample(n_per_label=2, seed=1, sampler="ddpm", steps=5, eta=0.0)


def test_guidance_needs_a_model_trained_with_dropped_labels(mixture_model):
    """Guidance on a model trained with objective.label_dropout = 0 used an unconditional output never learnt:
    refused, naming the setting."""
    import copy

    m = copy.copy(mixture_model)
    m.config = copy.deepcopy(mixture_model.config)
    m.config.objective.label_dropout = 0.0
    with pytest.raises(ConfigError, match="trained with objective.label_dropout = 0"):
        m.sample(n_per_label=2, seed=0, guidance=2.0)
    assert m.sample(n_per_label=2, seed=0).n_obs > 0


def test_eta0_deterministic_and_guidance_changes_samples(mixture_model):
    a = mixture_model.sample(n_per_label=20, seed=3, steps=10)
    b = mixture_model.sample(n_per_label=20, seed=3, steps=10)
    g = mixture_model.sample(n_per_label=20, seed=3, steps=10, guidance=2.0)
    np.testing.assert_array_equal(np.asarray(a.X), np.asarray(b.X))
    assert not np.allclose(np.asarray(a.X), np.asarray(g.X))


def test_bad_sampler_options(mixture_model):
    with pytest.raises(ConfigError, match="unknown sampler option"):
        mixture_model.sample(n=5, temperature=2)
    with pytest.raises(ConfigError, match="steps"):
        mixture_model.sample(n=5, steps=5000)
    with pytest.raises(ConfigError, match="sampler"):
        mixture_model.sample(n=5, sampler="euler")
    with pytest.raises(ConfigError, match="guidance"):
        mixture_model.sample(n=5, guidance=-1)
    with pytest.raises(ConfigError, match="dpm\\+\\+ sampler is deterministic"):
        mixture_model.sample(n=5, sampler="dpm++", eta=0.5)
    with pytest.raises(ConfigError, match="spacing"):
        mixture_model.sample(n=5, sampler="dpm++", spacing="karras")
    # a configured DDIM eta does not stop a per-call dpm++ (it applies to ddim only)
    noisy = DiffusionModel.from_config(overrides=["sample.sampler=ddim", "sample.eta=0.5"])
    noisy.__dict__.update({k: v for k, v in mixture_model.__dict__.items() if k != "config"})
    a = noisy.sample(n=5, sampler="dpm++", steps=5, seed=0)
    b = mixture_model.sample(n=5, sampler="dpm++", steps=5, seed=0)
    np.testing.assert_array_equal(np.asarray(a.X), np.asarray(b.X))
    with pytest.raises(ConfigError, match="network.time_dim"):
        DiffusionModel.from_config(overrides=["network.time_dim=3"])


@pytest.mark.slow
def test_gtex_tstr_well_above_chance():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from rnagen.datasets import gtex26

    adata = gtex26()
    lab = adata.obs["tissue"].astype(str).to_numpy()
    tr, te = train_test_split(np.arange(adata.n_obs), test_size=0.2, stratify=lab, random_state=42)
    m = DiffusionModel.from_config(overrides=["network.width=256", "network.depth=2", "train.steps=600",
                                              "train.batch_size=64", "train.lr=2e-3"])
    m.fit(adata[tr].copy(), label_key="tissue", seed=0, progress=False)
    syn = m.sample(n_per_label=16, seed=0, steps=20)
    assert syn.shape == (16 * 26, adata.n_vars) and list(syn.var_names) == list(adata.var_names)
    clf = LogisticRegression(max_iter=1000).fit(np.asarray(syn.X), syn.obs["tissue"].astype(str))
    acc = float((clf.predict(adata.X[te]) == lab[te]).mean())
    assert acc > 0.6, acc  # chance is 1/26 = 0.04
