"""A private run of a torch model takes the private settings (``rnagen.models.PRIVATE_SETTINGS``) that the user's
``--config`` and ``--set`` (``from_config``'s TOML and overrides) leave unset, key by key; a non-private run and
a configuration built by hand are taken as given."""
import tomllib

import pytest

pytest.importorskip("opacus")

from rnagen.bench.privacy import PRIVATE_SETTINGS  # noqa: E402  (the benchmark's private rows use these)
from rnagen.cli.main import main  # noqa: E402
from rnagen.models import get_model  # noqa: E402
from rnagen.models.diffusion import DiffusionConfig, DiffusionModel  # noqa: E402
from rnagen.train.privacy import PrivacyConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _value(cfg, key):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return list(cfg) if isinstance(cfg, tuple) else cfg


def _toml_value(data, key):
    for part in key.split("."):
        data = data[part]
    return data


@pytest.fixture
def tiny_h5ad(small, tmp_path):
    path = tmp_path / "tiny.h5ad"
    small[:, :6].copy().write_h5ad(path)
    return path


def test_private_train_records_the_private_settings_the_user_left_unset(tiny_h5ad, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", str(tiny_h5ad), "--model", "diffusion", "--label-key", "tissue", "--out", str(run), "--quiet",
            "--device", "cpu", "--set", "privacy.epsilon=4", "--set", "train.steps=3", "--set", "network.width=16",
            "--set", "objective.noise_multiplicity=2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    saved = tomllib.loads((run / "config.toml").read_text())
    mine = {"train.steps": 3, "network.width": 16, "objective.noise_multiplicity": 2}
    for key, value in PRIVATE_SETTINGS["diffusion"].items():
        assert _toml_value(saved, key) == mine.get(key, value), key
    line = [s for s in out.splitlines() if s.startswith("private training settings applied")]
    assert len(line) == 1 and line[0].endswith("--set KEY=VALUE overrides each")
    assert ("objective.anchor=full network.depth=1 train.batch_size=256 train.lr=0.003 objective.label_dropout=0.0 "
            "train.val_fraction=0.0 train.checkpoint_every=100 train.ema_decay=0.99;") in line[0]
    assert not any(k in line[0] for k in mine)
    # the same command again finds the same settings: the finished run is recognised, not "other settings"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "already holds a finished diffusion run" in err and "other settings" not in err


def test_non_private_train_keeps_the_defaults_and_prints_no_line(tiny_h5ad, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(tiny_h5ad), "--model", "diffusion", "--label-key", "tissue", "--out", str(run),
                 "--quiet", "--device", "cpu", "--set", "train.steps=3", "--set", "network.width=16"]) == 0
    assert "private training settings" not in capsys.readouterr().out
    saved = tomllib.loads((run / "config.toml").read_text())
    default = DiffusionConfig()
    for key in PRIVATE_SETTINGS["diffusion"]:
        if key not in ("train.steps", "network.width"):
            assert _toml_value(saved, key) == _value(default, key), key
    assert saved["network"]["width"] == 16 and saved["objective"]["anchor"] == "none"


@pytest.mark.parametrize("name", ["diffusion", "vae", "wgan-gp"])
def test_from_config_applies_every_private_setting_unless_given(name, tmp_path):
    model = get_model(name).from_config(overrides=["privacy.epsilon=2"])
    assert model.private_settings_applied == PRIVATE_SETTINGS[name]
    for key, value in PRIVATE_SETTINGS[name].items():
        assert _value(model.config, key) == value, key
    plain = get_model(name).from_config(overrides=["train.steps=5"])
    assert plain.private_settings_applied == {}
    assert _value(plain.config, "train.batch_size") == _value(get_model(name).config_cls(), "train.batch_size")
    # a key set in the TOML file counts as the user's, as one in the overrides does
    toml = tmp_path / "c.toml"
    toml.write_text("[train]\nbatch_size = 7\n")
    given = get_model(name).from_config(str(toml), {"privacy.noise_multiplier": 1.0, "train.epochs": 3.0})
    assert given.config.train.batch_size == 7 and given.config.train.epochs == 3.0
    # train.epochs chooses the length as it does without privacy: the family's own train.steps (None for the
    # diffusion model: from the epochs), not the private one
    assert "train.steps" not in given.private_settings_applied
    assert given.config.train.steps == get_model(name).config_cls().train.steps
    assert given.config.train.val_fraction == 0.0
    # a run's saved settings are read back as they are
    assert get_model(name).from_config(overrides=["privacy.epsilon=2"], private_defaults=False
                                       ).private_settings_applied == {}


def test_the_library_and_the_benchmark_share_one_table():
    import rnagen.models

    assert rnagen.models.PRIVATE_SETTINGS is PRIVATE_SETTINGS


def test_the_diffusion_anchor_is_left_out_without_a_target_epsilon():
    """``objective.anchor=full`` splits ``privacy.epsilon``; with ``privacy.noise_multiplier`` it would be refused,
    so a run with a noise multiplier keeps the default (no anchor) and the other settings."""
    model = DiffusionModel.from_config(overrides=["privacy.noise_multiplier=1.0"])
    assert model.config.objective.anchor == "none" and "objective.anchor" not in model.private_settings_applied
    assert model.config.network.width == 64 and model.config.train.steps == 300


def test_a_configuration_built_by_hand_is_taken_as_given():
    model = DiffusionModel(DiffusionConfig(privacy=PrivacyConfig(epsilon=2.0)))
    assert model.config.network.width == DiffusionConfig().network.width and model.private_settings_applied == {}


def test_given_keys_reads_toml_and_overrides_alike():
    from rnagen.config import given_keys

    assert given_keys({"model": "vae", "train": {"steps": 3}, "network": {"hidden": [8]}},
                      ["privacy.epsilon=1", "train.lr=1e-3"]) == {"train.steps", "network.hidden", "privacy.epsilon",
                                                                  "train.lr"}
    assert given_keys(None, {"train.steps": 3, "network": {"width": 8}}) == {"train.steps", "network.width"}
    assert given_keys(None, "train.steps=3") == {"train.steps"}
