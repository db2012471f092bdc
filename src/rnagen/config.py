"""Configuration: dataclass defaults are the single source of truth; TOML files and ``--set`` override them.

A model's configuration is a (possibly nested) dataclass. :func:`build_config` starts from its defaults,
applies a TOML file, then ``key=value`` overrides (dotted keys reach nested sections, e.g.
``train.lr=1e-3``). An unknown key is an error that lists the valid ones. :func:`config_to_dict` and
:func:`write_config` write the resolved configuration into every run folder, and :func:`config_from_dict`
reads it back.
"""
from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ._io import write_text
from .errors import ConfigError

T = TypeVar("T")


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert ``value`` to the annotated type ``tp`` (int/float/bool/str/Literal/Optional/tuple/list)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"config key {key!r} must be one of {list(args)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"config key {key!r}: invalid value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r} must be a list, got {value!r}")
        inner = args[0] if args else Any
        out = [_coerce(v, inner, key) for v in value]
        return tuple(out) if origin is tuple else out
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"config key {key!r} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ConfigError(f"config key {key!r} must be an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key {key!r} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {key!r} must be a string, got {value!r}")
        return value
    return value


def _apply(cfg: Any, updates: Mapping[str, Any], prefix: str = "") -> Any:
    types_ = _field_types(type(cfg))
    changes: dict[str, Any] = {}
    for k, v in updates.items():
        full = f"{prefix}{k}"
        if k not in types_:
            valid = ", ".join(f"{prefix}{n}" for n in types_)
            raise ConfigError(f"unknown config key {full!r}; valid keys: {valid}")
        tp = types_[k]
        if _is_dataclass_type(tp):
            if not isinstance(v, Mapping):
                raise ConfigError(f"config key {full!r} is a section; set its keys, e.g. {full}.KEY=VALUE")
            changes[k] = _apply(getattr(cfg, k), v, prefix=f"{full}.")
        else:
            changes[k] = _coerce(v, tp, full)
    return dataclasses.replace(cfg, **changes)


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse one ``key=value`` override; the value is read as a TOML literal, else as a plain string."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key=value (e.g. train.lr=1e-3)")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {item!r} has an empty key")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.split("."), value


def overrides_to_dict(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``["a.b=1", "c=x"]`` into the nested dict ``{"a": {"b": 1}, "c": "x"}``."""
    out: dict[str, Any] = {}
    for item in items:
        path, value = parse_override(item)
        node = out
        for p in path[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with an earlier one")
        node[path[-1]] = value
    return out


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning syntax errors into a one-line :class:`ConfigError`."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {e}") from None


def build_config(
    cls: type[T],
    *,
    toml: str | Path | Mapping[str, Any] | None = None,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
    base: T | None = None,
) -> T:
    """Resolve a configuration: ``base`` (or the dataclass defaults), then a TOML file, then overrides.

    A TOML file written by :func:`write_config` may carry a top-level ``model`` key naming the model; it is
    ignored here (the caller checks it).
    """
    cfg = base if base is not None else cls()
    if toml is not None:
        data = dict(toml) if isinstance(toml, Mapping) else read_toml(toml)
        data.pop("model", None)
        cfg = _apply(cfg, data)
    if overrides:
        data = overrides_to_dict(overrides) if not isinstance(overrides, Mapping) else dict(overrides)
        cfg = _apply(cfg, data)
    return cfg


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The configuration as plain, TOML-writable types (``None`` values are dropped: TOML has no null)."""

    def clean(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items() if v is not None}
        if isinstance(obj, (list, tuple)):
            return [clean(v) for v in obj]
        return obj

    return clean(dataclasses.asdict(cfg))


def config_from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Rebuild a configuration from :func:`config_to_dict` output (missing keys keep their defaults)."""
    return build_config(cls, toml=data)


def write_config(path: str | Path, cfg: Any, *, model: str | None = None) -> Path:
    """Write the resolved configuration as TOML (atomically), with the model name on top if given."""
    import tomli_w

    data = config_to_dict(cfg)
    if model is not None:
        data = {"model": model, **data}
    return write_text(path, tomli_w.dumps(data))
