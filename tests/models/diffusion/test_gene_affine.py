"""The denoiser's per-gene affine path (``network.gene_affine``): it reaches every gene where the residual stream is
narrower than the genes, it lets the model learn each gene's own noise, ``auto`` builds it where the genes outnumber
the stream's width, and run folders whose config.toml does not name it load as the network without it that their
weights hold."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from rnagen.errors import RunDirError
from rnagen.models.diffusion import DiffusionModel
from rnagen.models.diffusion.network import ResMLPDenoiser

NARROW = ["preprocess.log='none'", "network.width=16", "network.depth=1", "network.time_dim=16",
          "train.val_fraction=0", "train.batch_size=128"]


def _independent_genes(G: int = 64, n_per: int = 200, seed: int = 0):
    """3 classes of ``G`` genes, each gene with its own class mean and its own noise (no gene predicts another):
    the profiles and the per-class standard deviations."""
    import anndata as ad

    rng = np.random.default_rng(seed)
    means, sd = rng.normal(0, 2, (3, G)), rng.uniform(0.3, 1.0, (3, G))
    y = np.repeat(np.arange(3), n_per)
    X = means[y] + rng.standard_normal((len(y), G)) * sd[y]
    obs = pd.DataFrame({"lab": pd.Categorical(np.array(list("abc"))[y])}, index=[f"s{i}" for i in range(len(y))])
    return ad.AnnData(X.astype(np.float32), obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(G)])), sd


def _jacobian_rank(net: ResMLPDenoiser, G: int) -> int:
    x = torch.randn(G)
    J = torch.autograd.functional.jacobian(lambda v: net(v[None], torch.tensor([500]), torch.tensor([0]))[0], x)
    return int(torch.linalg.matrix_rank(J))


def test_the_path_reaches_every_gene_through_a_narrower_stream():
    """Through a stream of width 8 the output moves in at most 8 of 40 directions whatever the weights; the path
    adds a slope and an offset per gene, and starts at zero (the untrained network predicts 0)."""
    G = 40
    torch.manual_seed(0)
    plain, path = (ResMLPDenoiser(G, 2, width=8, depth=1, time_dim=4, gene_affine=a) for a in (False, True))
    for net in (plain, path):
        torch.nn.init.normal_(net.out.weight)   # a trained output layer, not the zero start
    assert _jacobian_rank(plain, G) <= 8
    x, t, y = torch.randn(5, G), torch.tensor([3, 10, 200, 600, 999]), torch.tensor([0, 1, 2, 0, 1])
    path.out.weight.data.zero_()
    assert torch.equal(path(x, t, y), torch.zeros(5, G))
    slope, offset = torch.linspace(-1, 1, G), torch.linspace(2, 3, G)
    path.gene_affine.bias.data.copy_(torch.cat([slope, offset]))
    torch.testing.assert_close(path(x, t, y), slope * x + offset)
    torch.nn.init.normal_(path.out.weight)
    assert _jacobian_rank(path, G) == G


def test_each_genes_own_noise_is_learnt_with_the_path_and_not_without(tmp_path):
    """64 genes of independent noise through a stream 16 wide (as 978 landmark genes through the default 512): the
    model without the path leaves each class's spread at over twice the data's; with it (``auto`` builds it here),
    the data's; its run folder loads with the path and samples as saved."""
    data, sd = _independent_genes()
    spread = {}
    for on in ("false", "auto"):
        m = DiffusionModel.from_config(overrides=NARROW + ["train.steps=400", f"network.gene_affine={on}"])
        m.fit(data, label_key="lab", seed=0, progress=False)
        assert (m.net.gene_affine is not None) == (on == "auto")
        syn = m.sample(n_per_label=500, seed=1)
        Z, ys = np.asarray(syn.X), syn.obs["lab"].astype(str).to_numpy()
        spread[on] = [float(np.median(Z[ys == c].std(0) / sd[i])) for i, c in enumerate("abc")]
        if on == "auto":
            m.save(tmp_path / "run")
            back = DiffusionModel.load(tmp_path / "run")
            assert back.config.network.gene_affine == "auto" and back.net.gene_affine is not None
            np.testing.assert_array_equal(np.asarray(back.sample(n_per_label=500, seed=1).X), Z)
    assert all(r > 1.8 for r in spread["false"]), spread
    assert all(0.85 < r < 1.15 for r in spread["auto"]), spread


def test_auto_builds_the_path_where_the_inputs_outnumber_the_width():
    from rnagen.errors import ConfigError

    net = DiffusionModel().config.network
    assert net.gene_affine == "auto" and net.width == 512
    assert net.affine_path(978) and not net.affine_path(512) and not net.affine_path(467)
    for value, want in (("true", True), ("false", False)):
        cfg = DiffusionModel.from_config(overrides=[f"network.gene_affine={value}"]).config.network
        assert cfg.affine_path(978) is want and cfg.affine_path(10) is want
    with pytest.raises(ConfigError, match="gene_affine.*true or false or must be one of \\['auto'\\], got 'yes'"):
        DiffusionModel.from_config(overrides=["network.gene_affine=yes"])
    # a fit on 12 genes through a stream 16 wide goes without it
    data, _ = _independent_genes(G=12, n_per=30)
    m = DiffusionModel.from_config(overrides=NARROW + ["train.steps=5"]).fit(data, label_key="lab", seed=0,
                                                                             progress=False)
    assert m.net.gene_affine is None


def test_a_folder_not_naming_the_path_loads_without_it(tmp_path):
    """Weights of a network without the path, under a config.toml that does not name it (where ``auto`` would build
    it: 24 genes through a stream 16 wide), load without it and sample as saved."""
    from rnagen._manifest import RUN_FILES, write_manifest

    data, _ = _independent_genes(G=24, n_per=30)
    m = DiffusionModel.from_config(overrides=NARROW + ["train.steps=20", "network.gene_affine=false"])
    m.fit(data, label_key="lab", seed=0, progress=False)
    m.save(tmp_path / "run")
    old = tmp_path / "old"
    shutil.copytree(tmp_path / "run", old)
    lines = (old / "config.toml").read_text().splitlines()
    assert sum(line.startswith("gene_affine") for line in lines) == 1
    (old / "config.toml").write_text("\n".join(x for x in lines if not x.startswith("gene_affine")) + "\n")
    write_manifest(old, RUN_FILES, model="diffusion")   # a finished folder's, its config without the key
    back = DiffusionModel.load(old)
    assert back.config.network.gene_affine is False and back.net.gene_affine is None
    np.testing.assert_array_equal(np.asarray(m.sample(n_per_label=4, seed=2).X),
                                  np.asarray(back.sample(n_per_label=4, seed=2).X))
    # weights without the path under a config.toml that names it: refused in one line
    meta = json.loads((old / "meta.json").read_text())
    (old / "config.toml").write_text("\n".join(x.replace("gene_affine = false", "gene_affine = true")
                                               for x in lines) + "\n")
    write_manifest(old, RUN_FILES, model="diffusion")
    assert json.loads((old / "meta.json").read_text()) == meta
    with pytest.raises(RunDirError, match="weights.safetensors") as e:
        DiffusionModel.load(old)
    assert "\n" not in str(e.value)


def test_an_interrupted_run_whose_config_does_not_name_the_path_is_not_resumed_with_it(tmp_path, killed_after):
    """A checkpoint of a network without the path, under a config.toml that does not name it, is another run's than
    the default's: resuming it with the default is refused naming the setting (not a failed weights load)."""
    from rnagen._manifest import RUN_FILES, read_manifest, write_manifest
    from rnagen.models.diffusion import DiffusionObjective

    data, _ = _independent_genes(G=24, n_per=30)   # auto would build the path: 24 genes, width 16
    cfg = [*NARROW, "train.steps=40", "train.checkpoint_every=10"]
    with killed_after(DiffusionObjective, 15):
        DiffusionModel.from_config(overrides=[*cfg, "network.gene_affine=false"]).fit(
            data, label_key="lab", seed=0, progress=False, run_dir=tmp_path / "run")
    run = tmp_path / "run"
    fingerprint = read_manifest(run, fix="")["fingerprint"]
    path = run / "config.toml"
    path.write_text("\n".join(x for x in path.read_text().splitlines() if not x.startswith("gene_affine")) + "\n")
    write_manifest(run, RUN_FILES, fingerprint=fingerprint)   # a checkpoint's, its config without the key
    with pytest.raises(RunDirError, match="gene_affine") as e:
        DiffusionModel.from_config(overrides=cfg).fit(data, label_key="lab", seed=0, progress=False,
                                                      run_dir=tmp_path / "run")
    assert "\n" not in str(e.value)
    # stated as the run had it, it resumes
    resumed = DiffusionModel.from_config(overrides=[*cfg, "network.gene_affine=false"]).fit(
        data, label_key="lab", seed=0, progress=False, run_dir=tmp_path / "run")
    assert resumed.net.gene_affine is None and len(resumed.history) > 0


def test_a_private_run_trains_the_path():
    """Under DP-SGD (opacus's per-sample gradients) the path's weights are clipped, noised and trained like the rest."""
    data, _ = _independent_genes(G=24, n_per=40)
    m = DiffusionModel.from_config(overrides=NARROW + ["train.steps=10", "privacy.noise_multiplier=1.0"])
    m.fit(data, label_key="lab", seed=0, progress=False)
    assert m.privacy is not None and m.privacy["epsilon"] > 0
    path = m.net.gene_affine
    assert path is not None and path.weight.abs().sum() > 0 and path.bias.abs().sum() > 0
