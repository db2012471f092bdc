"""The principal-component space (``preprocess.space``): the number of directions chosen on held-out
profiles, the codec's factor model, when ``auto`` uses it, and diffusion, WGAN-GP and VAE models trained, saved
and loaded in it."""
from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

from rnagen.errors import ConfigError, RunDirError
from rnagen.models._subspace import (
    KEEP_RATIO,
    NOISE_FACTOR,
    SubspaceCodec,
    _pca,
    choose_components,
    fit_subspace,
    noise_ratio,
    residual_is_noise,
)
from rnagen.models.diffusion import DiffusionModel
from rnagen.train.validation import (
    OUTSIDE_SPAN_WARN,
    describe,
    outside_span_share,
    stratified_holdout,
    validation_holdout,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ["network.width=16", "network.depth=1", "network.time_dim=8", "schedule.T=50", "sample.steps=5",
        "train.batch_size=32", "train.log_every=5", "train.steps=60", "train.val_every=20",
        "preprocess.log=none"]


def _factor_data(n: int, g: int, *, rank: int = 3, noise: float = 1.0, seed: int = 0):
    """Profiles of 3 classes: class means and ``rank - 2`` shared factors in a few directions, plus independent
    gene noise (sd ``noise``); the signal directions have variances well above the noise's."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    loads = rng.normal(size=(rank, g)) * 0.4
    centres = rng.normal(size=(3, 2)) * 2.0
    factors = np.hstack([centres[y], rng.normal(size=(n, rank - 2))])
    X = factors @ loads + noise * rng.normal(size=(n, g))
    return X, y


def _structured_data(n: int, g: int, *, seed: int = 0):
    """Profiles of 3 classes whose variance beyond the class means is spread over 60 factors of slowly falling
    strength (sub-types, batches) plus gene noise: what a few dozen real profiles hold beyond their leading
    directions, which no half of them pins down."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    factors = rng.normal(size=(n, 60)) * 0.3 * 0.95 ** np.arange(60)
    X = rng.normal(size=(3, g))[y] * 0.5 + factors @ rng.normal(size=(60, g)) + rng.normal(size=(n, g))
    return X, y


def test_noise_ratio_is_the_held_out_ratio_of_directions_fitted_to_noise():
    rng = np.random.default_rng(0)
    for n, g in ((80, 400), (200, 2000)):
        mu, Vt, var = _pca(rng.normal(size=(n, g)))
        ratio = ((rng.normal(size=(n, g)) - mu) @ Vt[:5].T).var(axis=0) / var[:5]
        assert 0.6 * noise_ratio(n, g) < np.median(ratio) < 1.5 * noise_ratio(n, g)
    assert noise_ratio(100, 100) == pytest.approx(0.25) and noise_ratio(10_000, 100) > 0.8


def test_the_residual_reads_as_noise_after_a_factor_model_and_as_structure_in_real_like_data():
    _, _, rec = choose_components(*_factor_data(160, 600, rank=4), 3, seed=0)
    assert rec["residual_ratio"] < NOISE_FACTOR * rec["noise_ratio"] and residual_is_noise(rec)
    for seed in (0, 1):
        X, y = _structured_data(150, 600, seed=seed)
        _, _, rec = choose_components(X, y, 3, seed=0)
        assert rec["residual_ratio"] > 3 * rec["noise_ratio"] and not residual_is_noise(rec)
    # nothing left to read, or too few profiles to split: the factor model is kept
    assert residual_is_noise({"residual_ratio": None, "noise_ratio": 0.1})
    assert residual_is_noise(choose_components(*_factor_data(12, 50, rank=3), 3, seed=0)[2])


def test_choose_components_keeps_the_signal_directions_and_drops_those_fitted_to_noise():
    X, y = _factor_data(160, 600, rank=4)
    k, scale, record = choose_components(X, y, 3, seed=0)
    assert k == 4
    # signal directions keep their variance in the other half, noise directions keep about n/G of it
    assert min(record["ratios"][:4]) >= KEEP_RATIO > max(record["ratios"][4:])
    # the in-sample residual variance is too low for a new profile: the scale raises it, but not far
    assert 1.0 < scale < 1.3
    # pure noise: no direction holds its variance; still one is kept
    k0, _, _ = choose_components(np.random.default_rng(1).normal(size=(100, 500)), np.arange(100) % 2, 2, seed=0)
    assert k0 == 1
    # too few profiles to split in halves: one direction per class
    Xs, ys = _factor_data(12, 50, rank=3)
    k1, scale1, rec1 = choose_components(Xs, ys, 3, seed=0)
    assert (k1, scale1) == (3, 1.0) and "too few" in rec1["rule"]


def test_codec_round_trip_and_residual_draws_have_the_fitted_moments():
    X, y = _factor_data(150, 300, rank=3)
    codec, record = fit_subspace(X, y, 3, seed=0)
    assert codec.n_components == record["n_components"] == 3 and 0.0 < record["kept_share"] < 1.0
    Xt = torch.tensor(X, dtype=torch.float32)
    Z = codec.encode(Xt)
    # standardised scores of the profiles fitted to
    assert torch.allclose(Z.var(dim=0, unbiased=True), torch.ones(3), atol=1e-3)
    # decoding adds each class's residual: mean and variance per gene as fitted
    yy = torch.zeros(20_000, dtype=torch.long)
    z0 = torch.zeros(20_000, 3)
    D = codec.decode(z0, yy, generator=torch.Generator().manual_seed(0)) - codec.mean
    assert torch.allclose(D.mean(dim=0), codec.res_mean[0], atol=0.05)
    assert torch.allclose(D.std(dim=0), codec.res_sd[0], rtol=0.05)
    # the factor part of decode(encode(x)) is the projection of x on the kept directions
    P = codec.decode(Z, torch.from_numpy(y), generator=torch.Generator().manual_seed(0))
    noise_free = codec.mean + (Z * codec.scale) @ codec.basis
    A = Xt - codec.mean
    assert torch.allclose(noise_free - codec.mean, (A @ codec.basis.T) @ codec.basis, atol=1e-3)
    assert P.shape == Xt.shape
    with pytest.raises(ValueError, match="subspace basis of shape"):
        SubspaceCodec(300, 3, 3).set(codec.mean.numpy(), np.zeros((2, 300)), np.ones(3), np.zeros((3, 300)),
                                     np.ones((3, 300)))


def _adata(X, y):
    obs = pd.DataFrame({"label": pd.Categorical(np.array(["a", "b", "c"])[y])}, index=[f"s{i}" for i in range(len(y))])
    return ad.AnnData(X.astype(np.float32), obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])]))


def test_auto_uses_the_principal_component_space_only_where_the_profiles_do_not_span_the_held_out_ones():
    def chosen(X, y, *over):
        m = DiffusionModel.from_config(overrides=["preprocess.log=none", *over])
        Xt, yt, _ = m._bind(_adata(X, y), "label")
        return m._choose_space(Xt, yt, 0)

    wide, y = _factor_data(150, 600, rank=3, noise=1.0)
    rec = chosen(wide, y)
    assert rec is not None and rec["outside_span"] > OUTSIDE_SPAN_WARN and "preprocess.space=auto" in rec["reason"]
    # the share is the one the validation record reports: same hold-out as fit_validated's
    m = DiffusionModel.from_config(overrides=["preprocess.log=none"])
    Xt, yt, _ = m._bind(_adata(wide, y), "label")
    tr, va = stratified_holdout(yt, fraction=m.config.train.val_fraction, seed=0)
    assert rec["outside_span"] == outside_span_share(Xt[tr], Xt[va])
    # as many genes, but almost no gene-level noise: the held-out profiles lie in the training span
    assert chosen(*_factor_data(150, 600, rank=3, noise=0.01)) is None
    # more profiles than genes: the span is everything
    assert chosen(*_factor_data(300, 100, rank=3)) is None
    assert chosen(wide, y, "preprocess.space=genes") is None
    assert chosen(*_factor_data(300, 100, rank=3), "preprocess.space=pca") == {"reason": "preprocess.space=pca"}
    # a private model stays on the genes: the directions would be fitted outside the budget
    assert chosen(wide, y, "privacy.epsilon=10") is None
    # too few profiles to validate on (30: 6 held out, fewer than the 20 the length is chosen on): the share is
    # measured on a smaller hold-out, not skipped (the widest sets, with the fewest profiles, were left on the genes)
    few, yf = _factor_data(30, 600, rank=3, noise=1.0)
    assert stratified_holdout(yf, fraction=0.1, seed=0) is None
    rec = chosen(few, yf)
    assert rec is not None and rec["outside_span"] > OUTSIDE_SPAN_WARN


def test_auto_keeps_the_genes_where_the_variance_beyond_the_components_is_structured(tmp_path):
    X, y = _structured_data(150, 600)
    m = DiffusionModel.from_config(overrides=["preprocess.log=none"])
    Xt, yt, _ = m._bind(_adata(X, y), "label")
    tr, va = stratified_holdout(yt, fraction=m.config.train.val_fraction, seed=0)
    assert outside_span_share(Xt[tr], Xt[va]) > OUTSIDE_SPAN_WARN  # the share alone would take the space
    assert m._choose_space(Xt, yt, 0) is None and "trained on the genes although" in m.space_note
    # the run says so in place of the warning that points to preprocess.space=pca
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        fit = DiffusionModel.from_config(overrides=TINY).fit(_adata(X, y), label_key="label", seed=0,
                                                             progress=False, run_dir=tmp_path / "run")
    assert fit.codec is None and fit.subspace is None and fit.net.n_genes == 600
    line = describe(fit.validation)
    assert "trained on the genes although" in line and "is structured" in line and "preprocess.space=pca" not in line
    assert json.loads((tmp_path / "run" / "meta.json").read_text())["validation"]["space_note"] == fit.space_note
    # too few profiles to choose a length on: the genes would train for the whole budget (copies), so the space is
    # kept, with the warning in its reason
    few, yf = _structured_data(45, 600)
    mf = DiffusionModel.from_config(overrides=["preprocess.log=none"])
    Xf, yf, _ = mf._bind(_adata(few, yf), "label")
    assert validation_holdout(yf, mf.config.train, 0) is None  # 9 of 45 within a fifth: fewer than val_min
    rec = mf._choose_space(Xf, yf, 0)
    assert rec is not None and "is structured" in rec["reason"] and "too few profiles" in rec["reason"]
    assert mf.space_note is None
    # preprocess.space=pca still takes the space on the same data
    forced = DiffusionModel.from_config(overrides=["preprocess.log=none", "preprocess.space=pca"])
    assert forced._choose_space(Xt, yt, 0) == {"reason": "preprocess.space=pca"} and forced.space_note is None


@pytest.mark.parametrize("model", ["wgan-gp", "vae"])
def test_auto_validates_a_fixed_length_run_where_it_keeps_the_genes(model, tmp_path):
    """The VAE and the WGAN-GP train for a fixed length by default; where the variance beyond the components is
    structured, ``auto`` keeps the genes and chooses their length on held-out profiles instead (on the genes a fixed
    budget copies, on the components the per-gene residual puts samples off the data)."""
    from rnagen.models import get_model
    from rnagen.models._base import AUTO_VALIDATION

    X, y = _structured_data(150, 600)
    small = {"wgan-gp": ["network.generator_hidden=[16]", "network.critic_hidden=[16]"],
             "vae": ["network.hidden=[16]", "network.latent_dim=4"]}[model]
    cfg = ["preprocess.log=none", "train.val_every=20", "train.log_every=10", "train.min_steps=20",
           "train.max_steps=60", *small]
    m = get_model(model).from_config(overrides=cfg)
    assert m.config.train.val_fraction == 0 and m.config.train.steps is not None   # a fixed length configured
    Xt, yt, _ = m._bind(_adata(X, y), "label")
    assert m._choose_space(Xt, yt, 0) is None and "instead of the configured fixed length" in m.space_note
    auto = m._train_config()
    assert auto.val_fraction == AUTO_VALIDATION["val_fraction"] and auto.steps is None
    assert auto.val_min == AUTO_VALIDATION["val_min"] and m.config.train.val_fraction == 0  # the config untouched
    # a length the user set is not replaced by the epochs' budget: validation chooses within it
    own = get_model(model).from_config(overrides=cfg + ["train.steps=37"])
    Xo, yo, _ = own._bind(_adata(X, y), "label")
    assert own._choose_space(Xo, yo, 0) is None and "within train.steps=37 instead of" in own.space_note
    assert own._train_config().steps == 37 and own._train_config().val_fraction > 0
    with torch.random.fork_rng(devices=[]):
        fit = get_model(model).from_config(overrides=cfg).fit(_adata(X, y), label_key="label", seed=0,
                                                               progress=False, run_dir=tmp_path / "run")
    v = fit.validation
    assert fit.codec is None and v["stop_reason"] != "no_validation" and v["n_val"] > 0 and "floor" in v
    assert "instead of the configured fixed length" in describe(v)
    # a set large enough to span the genes, or preprocess.space=pca, keeps the configured fixed length
    wide = get_model(model).from_config(overrides=cfg + ["preprocess.space=pca"])
    Xw, yw, _ = wide._bind(_adata(X, y), "label")
    assert wide._choose_space(Xw, yw, 0) == {"reason": "preprocess.space=pca"}
    assert wide._train_config() is wide.config.train
    tall, yl = _structured_data(150, 40)
    mt = get_model(model).from_config(overrides=cfg)
    Xl, yl, _ = mt._bind(_adata(tall, yl), "label")
    assert mt._choose_space(Xl, yl, 0) is None and mt._train_config() is mt.config.train


def test_pca_space_with_privacy_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="preprocess.space=genes") as e:
        DiffusionModel.from_config(overrides=["preprocess.space=pca", "privacy.epsilon=10"])
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="preprocess.space"):
        DiffusionModel.from_config(overrides=["preprocess.space=latent"])


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory):
    X, y = _factor_data(300, 400, rank=3, noise=1.0, seed=2)
    X, y, new = X[:150], y[:150], X[150:]  # new: profiles of the same process, not trained on
    run = tmp_path_factory.mktemp("wide") / "run"
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        m = DiffusionModel.from_config(overrides=TINY).fit(_adata(X, y), label_key="label", seed=0,
                                                           progress=False, run_dir=run)
    return m, run, X, y, new


def test_a_model_trained_in_the_principal_component_space_samples_profiles_of_all_genes(wide_run):
    m, run, X, y, new = wide_run
    assert m.codec is not None and m.codec.n_components == 3 and m.net.n_genes == 3
    assert m.subspace["n_components"] == 3 and m.subspace["outside_span"] > OUTSIDE_SPAN_WARN
    # the validation record's share is the one the choice measured on the same hold-out, not a second QR
    assert m.validation["outside_span"] == m.subspace["outside_span"]
    line = describe(m.validation)
    assert "trained on the 3 leading principal components" in line and "warning" not in line
    assert len(line.splitlines()) == 1
    meta = json.loads((run / "meta.json").read_text())
    assert meta["subspace"]["n_components"] == 3 and meta["validation"]["subspace"]["n_components"] == 3
    s = m.sample(n_per_label=200, seed=1)
    assert s.shape == (600, 400) and np.isfinite(s.X).all()
    # each sample carries a new profile's worth of gene noise outside the training span, not a training
    # profile's worth inside it (the failure of a denoiser on the genes)
    Xs = m.pipeline.transform(np.asarray(s.X, dtype=np.float64))
    Xt = m.pipeline.transform(X)
    mu = Xt.mean(axis=0)
    Q = np.linalg.qr((Xt - mu).T)[0]

    def outside(A):
        A = A - mu
        return float(((A ** 2).sum(1) - ((A @ Q) ** 2).sum(1)).mean())

    ratio = outside(Xs) / outside(m.pipeline.transform(new))
    assert 0.8 < ratio < 1.25


def test_the_principal_component_space_round_trips_through_the_run_folder(wide_run, tmp_path):
    m, run, _, _, _ = wide_run
    loaded = DiffusionModel.load(run)
    assert loaded.subspace == m.subspace and loaded.codec is not None
    a, b = m.sample(n_per_label=5, seed=4), loaded.sample(n_per_label=5, seed=4)
    np.testing.assert_array_equal(np.asarray(a.X), np.asarray(b.X))
    # a run folder whose record says nothing of the space its weights hold is refused, in one line
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    meta = json.loads((bad / "meta.json").read_text())
    del meta["subspace"]
    (bad / "meta.json").write_text(json.dumps(meta))
    from rnagen._manifest import RUN_FILES, write_manifest

    write_manifest(bad, RUN_FILES, model="diffusion")   # a finished folder's, the record edited
    with pytest.raises(RunDirError, match="weights.safetensors") as e:
        DiffusionModel.load(bad)
    assert "\n" not in str(e.value)


def test_an_interrupted_run_in_the_principal_component_space_resumes_to_the_same_model(tmp_path, killed_after):
    """Killed at step 45 (checkpoint at 40), then resumed: the same validation curve, codec and samples as the
    uninterrupted run (the codec is refitted from the same profiles and the checkpoint holds it too)."""
    from rnagen.models.diffusion import DiffusionObjective

    X, y = _factor_data(150, 400, rank=3, noise=1.0, seed=2)
    cfg = [*TINY, "train.checkpoint_every=20"]
    full = DiffusionModel.from_config(overrides=cfg).fit(_adata(X, y), label_key="label", seed=0, progress=False,
                                                         run_dir=tmp_path / "full")
    with killed_after(DiffusionObjective, 45):
        DiffusionModel.from_config(overrides=cfg).fit(_adata(X, y), label_key="label", seed=0, progress=False,
                                                      run_dir=tmp_path / "run")
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == 40
    resumed = DiffusionModel.from_config(overrides=cfg).fit(_adata(X, y), label_key="label", seed=0, progress=False,
                                                            run_dir=tmp_path / "run")
    assert resumed.validation["curve"] == full.validation["curve"] and resumed.subspace == full.subspace
    a, b = full.sample(n_per_label=4, seed=2), resumed.sample(n_per_label=4, seed=2)
    np.testing.assert_array_equal(np.asarray(a.X), np.asarray(b.X))


SMALL = {"wgan-gp": ["network.generator_hidden=[16]", "network.critic_hidden=[16]"],
         "vae": ["network.hidden=[16]", "network.latent_dim=4", "train.val_fraction=0.1"]}


@pytest.mark.parametrize("model", ["wgan-gp", "vae"])
def test_the_baselines_learn_the_scores_of_wide_data_and_round_trip(model, tmp_path):
    """The WGAN-GP and the VAE in the principal-component space: their networks take the scores, their
    validation (and the WGAN-GP's output noise) work on them, their samples are profiles of every gene with a
    new profile's worth of residual."""
    from rnagen.models import get_model

    X, y = _factor_data(300, 400, rank=3, noise=1.0, seed=2)
    X, y, new = X[:150], y[:150], X[150:]
    m = get_model(model).from_config(overrides=[
        "preprocess.log=none", "train.steps=40", "train.val_every=20", "train.log_every=10", *SMALL[model]])
    m.fit(_adata(X, y), label_key="label", seed=0, progress=False, run_dir=tmp_path / "run")
    assert m.codec is not None and m.codec.n_components == 3 and m.subspace["outside_span"] > OUTSIDE_SPAN_WARN
    assert "trained on the 3 leading principal components" in describe(m.validation)
    if model == "wgan-gp":
        G = m.gan.generator
        assert G(torch.zeros(2, G.noise_dim), torch.zeros(2, dtype=torch.long)).shape == (2, 3)
        assert m.noise_choice is not None and m.noise_choice["n_heldout"] > 0  # chosen on held-out scores
    else:
        assert m.net.n_genes == 3 and m.validation["n_val"] > 0  # validated on held-out scores
    s = m.sample(n_per_label=100, seed=1)
    assert s.shape == (300, 400) and np.isfinite(s.X).all()
    Xs = m.pipeline.transform(np.asarray(s.X, dtype=np.float64))
    mu = m.pipeline.transform(X).mean(axis=0)
    Q = np.linalg.qr((m.pipeline.transform(X) - mu).T)[0]
    out = lambda A: float((((A - mu) ** 2).sum(1) - (((A - mu) @ Q) ** 2).sum(1)).mean())  # noqa: E731
    assert 0.8 < out(Xs) / out(m.pipeline.transform(new)) < 1.25
    loaded = get_model(model).load(tmp_path / "run")
    np.testing.assert_array_equal(np.asarray(loaded.sample(n_per_label=3, seed=2).X),
                                  np.asarray(m.sample(n_per_label=3, seed=2).X))


@pytest.mark.parametrize("model", ["gaussian"])
def test_models_without_a_principal_component_space_refuse_it_and_stay_on_the_genes(model):
    from rnagen.models import get_model

    with pytest.raises(ConfigError, match=f"the {model} model has no principal-component space") as e:
        get_model(model).from_config(overrides=["preprocess.space=pca"])
    assert "\n" not in str(e.value)
    m = get_model(model).from_config(overrides=["preprocess.log=none"])
    wide, y = _factor_data(150, 600, rank=3, noise=1.0)
    Xt, yt, _ = m._bind(_adata(wide, y), "label")
    assert m._choose_space(Xt, yt, 0) is None


def test_the_randomized_route_of_large_sets_chooses_the_same_space(monkeypatch):
    """Beyond EXACT_SVD_MAX the leading directions come from a randomized SVD: on the same data it keeps the
    same directions, scale and residual as the exact SVD."""
    import rnagen.models._subspace as sub

    X, y = _factor_data(160, 600, rank=4)
    exact, rec = fit_subspace(X, y, 3, seed=0)
    monkeypatch.setattr(sub, "EXACT_SVD_MAX", 20)
    fast, rec_fast = fit_subspace(X, y, 3, seed=0)
    assert rec_fast["n_components"] == rec["n_components"] == 4
    assert rec_fast["residual_scale"] == pytest.approx(rec["residual_scale"], rel=1e-3)
    # the same subspace (directions up to sign and rotation): no angle between them
    gap = 4 - float((exact.basis.double() @ fast.basis.double().T).pow(2).sum())
    assert abs(gap) < 1e-4
    np.testing.assert_allclose(fast.res_sd.numpy(), exact.res_sd.numpy(), rtol=1e-3)


def test_a_class_of_two_profiles_keeps_its_draws_within_reach_of_the_training_values():
    """Fewer profiles than genes (the principal-component space) and a class of two: its residual variance per
    gene had one degree of freedom ((a - b)^2 / 2 for a gene at 0 and a few hundred), and draws went past a
    hundred times their gene's largest training value; moderated toward the pooled within-class variance, they
    do not."""
    import anndata as ad
    import pandas as pd

    from rnagen.models import get_model

    rng = np.random.default_rng(0)
    G = 200
    mu = np.exp(rng.normal(3, 2, G))
    X = rng.poisson(mu * rng.gamma(5, 0.2, (42, G))).astype(np.float32)
    X[:, :40] *= rng.random((42, 40)) < 0.15          # 40 mostly-zero genes
    a = ad.AnnData(X, obs=pd.DataFrame({"lab": ["big"] * 40 + ["tiny"] * 2}, index=[f"s{i}" for i in range(42)]),
                   var=pd.DataFrame(index=[f"g{i}" for i in range(G)]))
    m = get_model("vae").from_config(overrides=["train.steps=200"]).fit(a, label_key="lab", progress=False)
    assert m.subspace is not None
    s = m.sample(n_per_label=100, seed=0)
    tiny = np.asarray(s.X)[(s.obs["lab"] == "tiny").to_numpy()]
    assert (tiny / np.maximum(X.max(0), 1) > 100).sum() == 0


def test_class_moments_moderate_small_classes_toward_the_pooled_variance():
    from rnagen.models._subspace import PRIOR_DF, _class_moments

    rng = np.random.default_rng(1)
    R = np.concatenate([rng.normal(0, 1, (41, 3)), [[0, 0, 0], [10, 10, 10]]])
    y = np.array([0] * 41 + [1] * 2)
    _, var = _class_moments(R, y, 3)
    pooled = (40 * R[:41].var(0, ddof=1) + 1 * R[41:].var(0, ddof=1)) / 41
    np.testing.assert_allclose(var[1], (PRIOR_DF * pooled + R[41:].var(0, ddof=1)) / (PRIOR_DF + 1))
    np.testing.assert_allclose(var[2], pooled)   # a class without profiles: the pooled variance
    assert (var[1] < R[41:].var(0, ddof=1) / 3).all()


def test_the_halves_keep_copies_of_a_profile_in_one_half():
    """Every profile twice (planted copies): the halves that choose the components keep each profile's copies in
    one half, so the record is the one of the profiles without their copies. A copy in the second half carries
    the first half's fit to its noise over, and the directions after the kept ones read as structure (a held-out
    ratio three times that of noise), which keeps ``preprocess.space=auto`` off the components."""
    for seed in range(4):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(60, 3)) * 3 @ rng.normal(size=(3, 400)) + rng.normal(size=(60, 400))
        y = np.repeat([0, 1], 30)
        k, _, alone = choose_components(X, y, 2, seed=seed)
        k2, _, twice = choose_components(np.vstack([X, X]), np.concatenate([y, y]), 2, seed=seed)
        assert k2 == k and twice["noise_ratio"] == alone["noise_ratio"]
        assert twice["residual_ratio"] == pytest.approx(alone["residual_ratio"], rel=0.05)
        assert residual_is_noise(twice)
