from dataclasses import dataclass, field, replace
from typing import Literal

import pytest

from rnagen.config import build_config, config_from_dict, config_to_dict, overrides_to_dict, write_config
from rnagen.errors import ConfigError


@dataclass
class Inner:
    lr: float = 1e-3
    steps: int = 10
    kind: Literal["a", "b"] = "a"


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    flag: bool = False
    shrink: float | None = None


def test_overrides_nested_and_typed():
    cfg = build_config(Outer, overrides=["inner.lr=0.5", "inner.steps=3", "flag=true", "inner.kind=b"])
    assert cfg.inner.lr == 0.5 and cfg.inner.steps == 3 and cfg.flag is True and cfg.inner.kind == "b"
    assert overrides_to_dict(["a.b=1", "a.c=x"]) == {"a": {"b": 1, "c": "x"}}


def test_overrides_as_one_string_or_a_mapping_with_dotted_keys():
    assert build_config(Outer, overrides="inner.steps=3").inner.steps == 3
    cfg = build_config(Outer, overrides={"inner.lr": 0.5, "inner": {"steps": 4}, "flag": True})
    assert cfg.inner.lr == 0.5 and cfg.inner.steps == 4 and cfg.flag is True
    for bad in ({"inner": 1, "inner.lr": 0.5}, {"inner.lr": 0.5, "inner": 1},
                {"inner.lr": 0.5, "inner": {"lr": {"x": 1}}}):
        with pytest.raises(ConfigError, match="conflicts with an earlier one"):
            build_config(Outer, overrides=bad)


def test_a_configuration_mapping_for_another_model_is_refused():
    from rnagen.models import get_model

    with pytest.raises(ConfigError, match="is for model 'vae', not 'diffusion'"):
        get_model("diffusion").from_config({"model": "vae", "train": {"steps": 20}})
    assert get_model("vae").from_config({"model": "vae", "train": {"steps": 20}}).config.train.steps == 20


def test_unknown_key_lists_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown config key 'inner.lrr'.*inner.lr"):
        build_config(Outer, overrides=["inner.lrr=1"])


@pytest.mark.parametrize("item, meant", [("inner.stpes=3", "'inner.steps'"), ("iner.steps=3", "'inner'"),
                                        ("steps=3", "'inner.steps'"), ("flg=true", "'flag'")])
def test_unknown_key_names_the_key_it_most_likely_meant(item, meant):
    with pytest.raises(ConfigError, match=rf"unknown config key '[a-z.]+' \(did you mean {meant}\?\); valid keys"):
        build_config(Outer, overrides=[item])
    with pytest.raises(ConfigError, match=r"unknown config key 'inner.speed'; valid keys: inner.lr, inner.steps"):
        build_config(Outer, overrides=["inner.speed=3"])   # nothing near it: the valid keys alone


@pytest.mark.parametrize("item,msg", [("inner.steps=1.5", "integer"), ("inner.kind=c", "one of"),
                                      ("flag=3", "true or false"), ("inner=3", "section"), ("noequals", "key=value")])
def test_bad_values(item, msg):
    with pytest.raises(ConfigError, match=msg):
        build_config(Outer, overrides=[item])


@pytest.mark.parametrize("name, text, other", [
    ("c.json", '{"model": "vae", "train": {"steps": 5}}', "JSON"),
    ("c.toml", '{"model": "vae"}', "JSON"),   # JSON under a TOML name
    ("c.yaml", "model: vae\ntrain:\n  steps: 5\n", "YAML"),
])
def test_a_config_in_another_format_is_named_with_the_way_to_toml(tmp_path, name, text, other):
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=rf"not valid TOML .*configurations are TOML files, not {other}: write it as "
                                          "TOML"):
        build_config(Outer, toml=tmp_path / name)
    (tmp_path / "bad.toml").write_text("flag = true\nflag = false\n")   # a TOML file's own mistake: TOML's message
    with pytest.raises(ConfigError, match=r"is not valid TOML: Cannot overwrite a value"):
        build_config(Outer, toml=tmp_path / "bad.toml")


def test_toml_round_trip(tmp_path):
    cfg = build_config(Outer, overrides=["inner.lr=0.25", "shrink=0.3"])
    write_config(tmp_path / "c.toml", cfg, model="m")
    back = build_config(Outer, toml=tmp_path / "c.toml")
    assert back == cfg
    assert config_from_dict(Outer, config_to_dict(cfg)) == cfg
    # None is dropped from TOML and comes back as the default
    assert build_config(Outer, toml=config_to_dict(Outer())).shrink is None


def test_a_setting_of_none_over_another_default_survives_config_toml(tmp_path):
    """train.steps=none (the validation-chosen length) and train.warmup_steps=none were left out of config.toml
    (TOML has no null) and read back as the model's defaults (1500, 100): a killed run could not be resumed ('other
    settings: 1500 -> None') and --config run/config.toml trained another run. Written "none", read back None; a
    None that is the default is still left out."""
    from rnagen.config import build_config, config_to_dict, write_config
    from rnagen.models import get_model

    m = get_model("vae").from_config(overrides=["train.steps=none", "train.warmup_steps=none"])
    d = config_to_dict(m.config)
    assert d["train"]["steps"] == "none" and d["train"]["warmup_steps"] == "none"
    assert build_config(type(m.config), toml=d) == m.config
    write_config(tmp_path / "config.toml", m.config, model="vae")
    again = get_model("vae").from_config(toml=tmp_path / "config.toml")
    assert again.config.train.steps is None and again.config.train.warmup_steps is None
    assert config_to_dict(get_model("vae")().config)["train"]["steps"] == 1500   # defaults written as before
    assert "none" not in str(config_to_dict(get_model("gaussian")().config))


def test_config_files_users_write_are_read_or_refused_in_one_line(tmp_path):
    """A byte-order mark (Windows editors) is read; a folder, a non-UTF-8 file and a [model] table are refused
    naming the fix (a UnicodeDecodeError traceback, 'does not exist' for a folder, and a dict printed as the
    model's name before)."""
    from rnagen.config import read_toml
    from rnagen.errors import ConfigError

    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbfmodel = \"vae\"\n[train]\nsteps = 10\n")
    assert read_toml(bom) == {"model": "vae", "train": {"steps": 10}}
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"# caf\xe9\n[train]\nsteps = 10\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xe9 at offset 5\).*save it as UTF-8"):
        read_toml(latin)
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ConfigError, match="is a folder, not a TOML file"):
        read_toml(tmp_path / "dir.toml")
    table = tmp_path / "table.toml"
    table.write_text('[model]\nname = "vae"\n')
    with pytest.raises(ConfigError, match=r"must name a model, e\.g\. model = \"diffusion\".*not a \[model\] table"):
        read_toml(table)
    number = tmp_path / "number.toml"
    number.write_text("model = 3\n")
    with pytest.raises(ConfigError, match="not 3$"):
        read_toml(number)


def test_numpy_numbers_are_taken_as_the_python_numbers_they_hold():
    """np.int64 from an array (a grid of settings, a loop's counter) raised a TypeError (NumPy's integers have no
    __trunc__); np.bool_ was refused. A non-integral NumPy float stays refused for an integer key."""
    import numpy as np

    cfg = build_config(Outer, overrides={"inner.steps": np.int64(7), "inner.lr": np.float32(0.25),
                                         "flag": np.bool_(True)})
    assert cfg.inner.steps == 7 and type(cfg.inner.steps) is int and cfg.inner.lr == 0.25 and cfg.flag is True
    assert build_config(Outer, overrides={"inner": {"steps": np.int32(8)}}).inner.steps == 8
    assert build_config(Outer, overrides={"inner.steps": np.float64(9.0)}).inner.steps == 9
    with pytest.raises(ConfigError, match="must be an integer"):
        build_config(Outer, overrides={"inner.steps": np.float64(2.5)})


def test_a_section_given_as_a_dict_or_a_wrong_type():
    from rnagen.models import get_model

    D = get_model("diffusion").config_cls
    built = D(train={"steps": 3})   # a dict of the section's keys builds the section on the model's own defaults
    assert built.train.steps == 3 and built.train == replace(D().train, steps=3)
    assert D().train != type(D().train)()   # (the diffusion model's training defaults are not the generic ones)
    with pytest.raises(ConfigError, match=r"^config key 'train' is a section: give a TrainConfig or a dict of its "
                                          "keys, not int"):
        D(train=5)
    with pytest.raises(ConfigError, match="unknown config key 'train.nope'"):
        D(train={"nope": 1})
    with pytest.raises(ConfigError, match="^a configuration is the path of a TOML file or a dict of its keys, not int"):
        build_config(D, toml=5)
