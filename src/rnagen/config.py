"""Configuration: dataclass defaults are the single source of truth; TOML files and ``--set`` override them.

A model's configuration is a (possibly nested) dataclass. :func:`build_config` starts from its defaults,
applies a TOML file, then ``key=value`` overrides (dotted keys reach nested sections, e.g.
``train.lr=1e-3``). An unknown key is an error that lists the valid ones. :func:`config_to_dict` and
:func:`write_config` write the resolved configuration into every run folder, and :func:`config_from_dict`
reads it back.

Every configuration dataclass is validated when it is built, whatever builds it (the defaults, a TOML file,
``--set``, or a Python user calling the constructor): :func:`checked` declares each section's numeric ranges
next to its fields, and every value is checked against its annotated type. Floats must be finite everywhere
(a NaN learning rate or guidance weight would only show up later as all-NaN profiles).
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ._io import write_text
from .errors import ConfigError

T = TypeVar("T")


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


# ----------------------------------------------------------------------------------------------------------
# numeric ranges: one checker for config fields, API options and command-line values
# ----------------------------------------------------------------------------------------------------------
_BOUND = re.compile(r"^\s*(?:(?P<op>>=|>|<=|<)\s*(?P<x>\S+)|(?P<lb>[\[(])\s*(?P<lo>[^,]+),\s*(?P<hi>[^\])]+)"
                    r"(?P<rb>[\])]))\s*$")


@dataclasses.dataclass(frozen=True)
class Bound:
    """A numeric range written as ``">= 1"``, ``"> 0"``, ``"<= 10"`` or an interval ``"[0, 1)"``."""

    text: str
    lo: float = -math.inf
    lo_open: bool = False
    hi: float = math.inf
    hi_open: bool = False

    @classmethod
    def parse(cls, text: str) -> "Bound":
        """The range written in ``text``; raises ``ValueError`` naming the accepted forms."""
        m = _BOUND.match(text)
        if m is None:
            raise ValueError(f"bad range {text!r}; write '>= 1', '> 0' or '[0, 1)'")
        if m["op"]:
            x = float(m["x"])
            if m["op"].startswith(">"):
                return cls(text.strip(), lo=x, lo_open=m["op"] == ">")
            return cls(text.strip(), hi=x, hi_open=m["op"] == "<")
        return cls(text.strip(), lo=float(m["lo"]), lo_open=m["lb"] == "(", hi=float(m["hi"]), hi_open=m["rb"] == ")")

    def contains(self, v: float) -> bool:
        """Whether ``v`` lies in the range (open or closed at each end as written)."""
        above = v > self.lo if self.lo_open else v >= self.lo
        below = v < self.hi if self.hi_open else v <= self.hi
        return bool(above and below)

    def describe(self) -> str:
        """The range for an error message: ``">= 1"`` as written, an interval as ``"in [0, 1)"``."""
        return self.text if self.text[0] in "<>" else f"in {self.text}"


def check_number(name: str, value: Any, bound: str | None = None, *, integer: bool = False,
                 optional: bool = False) -> Any:
    """Return ``value`` (an ``int`` when ``integer``) if it is a finite number in ``bound``, else raise.

    Parameters
    ----------
    name
        What the value is called in the error (``"--eta"``, ``"train.lr"``, ``"k"``).
    bound
        A range such as ``">= 1"``, ``"> 0"`` or ``"[0, 1)"`` (see :class:`Bound`); ``None``: any finite value.
    integer
        Require an integer (a float with an integral value is accepted and converted).
    optional
        Accept ``None`` (returned as is).

    Raises
    ------
    ConfigError
        One line: the name, what is allowed, and the value given.
    """
    if value is None and optional:
        return None
    b = Bound.parse(bound) if bound else None
    what = ("an integer" if integer else "a finite number") + (f" {b.describe()}" if b else "")
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        ok = math.isfinite(float(value))
    if ok and integer:
        ok = isinstance(value, numbers.Integral) or float(value).is_integer()
    if ok and b is not None:
        ok = b.contains(value)
    if not ok:
        raise ConfigError(f"{name} must be {what}, got {value!r}")
    return int(value) if integer else value


#: Seeds go to NumPy, torch and scikit-learn; the last accepts 0 .. 2**32 - 1.
SEED_MAX = 2**32 - 1


def check_seed(name: str, value: Any) -> int:
    """Return ``value`` as an ``int`` if it is a valid seed (an integer in 0 .. 2**32 - 1), else raise."""
    return check_number(name, value, f"[0, {SEED_MAX}]", integer=True)


def checked(section: str | None, **bounds: str) -> Callable[[type[T]], type[T]]:
    """Class decorator declaring a configuration section's numeric ranges; apply it below ``@dataclass``.

    On construction every field is checked against its annotated type (floats finite, ints integral,
    ``Literal`` choices) and against its range in ``bounds`` (for a list field: each element), before the
    class's own ``__post_init__`` runs. Errors name the dotted key, e.g. ``train.lr``.

    Examples
    --------
    >>> @dataclasses.dataclass
    ... @checked("train", steps=">= 1", lr="> 0", ema_decay="[0, 1)")
    ... class TrainConfig:
    ...     steps: int = 100
    ...     lr: float = 1e-3
    ...     ema_decay: float = 0.999
    """
    parsed = {k: Bound.parse(v) for k, v in bounds.items()}

    def deco(cls: type[T]) -> type[T]:
        unknown = set(parsed) - set(getattr(cls, "__annotations__", {}))
        if unknown:
            raise TypeError(f"{cls.__name__}: ranges for unknown fields {sorted(unknown)}")
        own = cls.__dict__.get("__post_init__")

        def __post_init__(self) -> None:
            _validate_fields(self, section, parsed)
            if own is not None:
                own(self)

        __post_init__.__doc__ = own.__doc__ if own is not None else "Check every field (see rnagen.config.checked)."
        # attributes added to the class at decoration time, hence setattr
        setattr(cls, "__post_init__", __post_init__)
        setattr(cls, "__config_bounds__", dict(bounds))
        return cls

    return deco


def _validate_fields(obj: Any, section: str | None, bounds: Mapping[str, Bound]) -> None:
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for name, tp in _field_types(type(obj)).items():
        key = f"{section}.{name}" if section else name
        if _is_dataclass_type(tp):
            # a nested section validates itself; one given as a dict ({"steps": 3}) is built from its keys on top
            # of this configuration's defaults for the section (a model's own training defaults, not the generic
            # section's)
            value = getattr(obj, name)
            if isinstance(value, Mapping):
                f = fields.get(name)
                default = (f.default_factory() if f is not None and f.default_factory is not dataclasses.MISSING
                           else f.default if f is not None and f.default is not dataclasses.MISSING else tp())
                object.__setattr__(obj, name, _apply(default, value, prefix=f"{key}."))
            elif not isinstance(value, tp):
                raise ConfigError(f"config key {key!r} is a section: give a {tp.__name__} or a dict of its keys, not "
                                  f"{type(value).__name__}")
            continue
        value = _coerce(getattr(obj, name), tp, key)
        b = bounds.get(name)
        if b is not None:
            items = value if isinstance(value, (list, tuple)) else [value]
            for v in items:
                if v is not None and not b.contains(v):
                    raise ConfigError(f"config key {key!r} must be {b.describe()}, got {getattr(obj, name)!r}")
        object.__setattr__(obj, name, value)


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


#: The largest integer a configuration holds: NumPy's and torch's int64, in which sizes, counts and steps are kept.
_INT_MAX = 2**63 - 1


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
        if len(errors) > 1:   # every alternative named: "must be true or false or must be one of ['auto']"
            wants = [e.split(f"config key {key!r} ", 1)[-1].rsplit(", got ", 1)[0] for e in errors]
            raise ConfigError(f"config key {key!r} {' or '.join(wants)}, got {value!r}")
        raise ConfigError(errors[0] if errors else f"config key {key!r}: invalid value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r} must be a list, got {value!r}")
        inner = args[0] if args else Any
        out = [_coerce(v, inner, key) for v in value]
        return tuple(out) if origin is tuple else out
    if tp is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"config key {key!r} must be true or false, got {value!r}")
    if tp is int:
        # a NumPy number (np.int64 from an array, np.float64 from a computation) as a Python one: NumPy's integers
        # have no __trunc__
        if isinstance(value, (np.integer, np.floating)) and not isinstance(value, np.bool_):
            value = value.item()
        if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
                or math.trunc(value) != value):
            raise ConfigError(f"config key {key!r} must be an integer, got {value!r}")
        whole = int(math.trunc(value))
        if abs(whole) > _INT_MAX:   # NumPy and torch hold sizes and counts in 64 bits
            raise ConfigError(f"config key {key!r} must be an integer of at most 2^63 - 1 in size, got {value!r}")
        return whole
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ConfigError(f"config key {key!r} must be a finite number, got {value!r}")
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
            guess = _nearest_key(cfg, k, v, prefix)
            raise ConfigError(f"unknown config key {full!r}{f' (did you mean {guess}?)' if guess else ''}; valid "
                              f"keys: {valid}")
        tp = types_[k]
        if _is_dataclass_type(tp):
            if not isinstance(v, Mapping):
                raise ConfigError(f"config key {full!r} is a section; set its keys, e.g. {full}.KEY=VALUE")
            changes[k] = _apply(getattr(cfg, k), v, prefix=f"{full}.")
        else:
            changes[k] = _coerce(v, tp, full)
    return dataclasses.replace(cfg, **changes)


def _nearest_key(cfg: Any, key: str, value: Any, prefix: str) -> str | None:
    """The dotted keys (quoted) an unknown ``key`` of ``cfg``'s level most likely meant: a key of this level spelt
    alike (``train.stpes``), one of this level's sections spelt alike for a section (``trian.steps``), or a key of
    its sections given without the section (``lr`` for ``train.lr``; every section that has it); else ``None``."""
    types_ = _field_types(type(cfg))
    sections = [n for n, tp in types_.items() if _is_dataclass_type(tp)]
    pool = sections if isinstance(value, Mapping) else [n for n in types_ if n not in sections]
    close = difflib.get_close_matches(key, pool, n=1, cutoff=0.75)
    if close:
        return repr(f"{prefix}{close[0]}")
    if isinstance(value, Mapping):
        return None
    owners = [repr(f"{prefix}{s}.{key}") for s in sections if key in _field_types(types_[s])]
    return " or ".join(owners) or None


def require_config(config: Any, cls: type, who: str) -> None:
    """Raise :class:`ConfigError` unless ``config`` is a ``cls`` (a whole configuration, not a dict, a string or
    one of its sections): ``who`` names the model or function in the message."""
    if not isinstance(config, cls):
        raise ConfigError(f"{who} expects a {cls.__name__}, got {type(config).__name__}; build one with "
                          f"{cls.__name__}(...) (sections inside it), or change keys with overrides")


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
    if p.is_dir():
        raise ConfigError(f"config {str(p)!r} is a folder, not a TOML file; give a file such as a run folder's "
                          "config.toml")
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        # utf-8-sig: editors on Windows start UTF-8 files with a byte-order mark, which TOML itself does not allow
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {str(p)!r} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset "
                          f"{e.start}); TOML files are UTF-8: save it as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"config file {str(p)!r} cannot be read ({e.strerror or e}); check its permissions") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        other = {".json": "JSON", ".yaml": "YAML", ".yml": "YAML", ".ini": "INI", ".cfg": "INI"}.get(p.suffix.lower())
        if other is None and text.lstrip().startswith("{"):
            other = "JSON"
        if other is not None:   # the one configuration format rnagen reads is TOML (tomllib, the standard library)
            raise ConfigError(f"config file {str(p)!r} is not valid TOML ({e}); configurations are TOML files, not "
                              f"{other}: write it as TOML ([section] headers, key = value lines, as in a run folder's "
                              "config.toml), or give each value with --set section.key=value") from None
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {e}") from None
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise ConfigError(f"config file {str(p)!r}: the top-level 'model' must name a model, e.g. model = "
                          f"\"diffusion\" (see `rnagen list models`), not "
                          + ("a [model] table" if isinstance(model, dict) else repr(model)))
    return data


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
    if toml is not None and not isinstance(toml, (str, os.PathLike, Mapping)):
        raise ConfigError(f"a configuration is the path of a TOML file or a dict of its keys, not "
                          f"{type(toml).__name__}")
    if overrides is not None and not isinstance(overrides, (str, Mapping)):
        items = list(overrides) if isinstance(overrides, Iterable) else None
        if items is None or not all(isinstance(o, str) for o in items):
            got = type(overrides).__name__ if items is None else \
                f"{type(overrides).__name__} of {', '.join(sorted({type(o).__name__ for o in items}))}"
            raise ConfigError(f"overrides are 'key=value' strings (e.g. ['train.lr=1e-3']) or a dict of keys, "
                              f"not {got}")
        overrides = items
    if toml is not None:
        data = dict(toml) if isinstance(toml, Mapping) else read_toml(toml)
        data.pop("model", None)
        cfg = _apply(cfg, data)
    if isinstance(overrides, str):   # one "key=value" (iterated, it would be one override per character)
        overrides = [overrides]
    if overrides:
        data = overrides_to_dict(overrides) if not isinstance(overrides, Mapping) else _expand_dotted(overrides)
        cfg = _apply(cfg, data)
    return cfg


def given_keys(toml: Mapping[str, Any] | None = None,
               overrides: Iterable[str] | Mapping[str, Any] | str | None = None) -> set[str]:
    """The dotted keys (``train.steps``) that a TOML mapping and overrides, as :func:`build_config` reads them,
    set; a value that is a list (``network.hidden=[256,128]``) is one key, the top-level ``model`` none."""
    out: set[str] = set()

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for k, v in node.items():
            if isinstance(v, Mapping):
                walk(v, f"{prefix}{k}.")
            else:
                out.add(f"{prefix}{k}")

    if toml is not None:
        walk({k: v for k, v in toml.items() if k != "model"}, "")
    if isinstance(overrides, str):
        overrides = [overrides]
    if overrides:
        walk(overrides_to_dict(overrides) if not isinstance(overrides, Mapping) else _expand_dotted(overrides), "")
    return out


def _expand_dotted(items: Mapping[str, Any]) -> dict[str, Any]:
    """A mapping of overrides as nested dicts: ``{"train.steps": 20}`` as ``{"train": {"steps": 20}}`` (the dotted
    keys ``--set`` takes), nested mappings kept and merged."""
    out: dict[str, Any] = {}

    def put(node: dict[str, Any], path: list[str], value: Any, shown: str) -> None:
        for p in path[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {shown!r} conflicts with an earlier one")
        if isinstance(value, Mapping):
            inner = node.setdefault(path[-1], {})
            if not isinstance(inner, dict):
                raise ConfigError(f"override {shown!r} conflicts with an earlier one")
            for k, v in value.items():
                put(inner, str(k).split("."), v, f"{shown}.{k}")
        elif isinstance(node.get(path[-1]), dict):
            raise ConfigError(f"override {shown!r} conflicts with an earlier one")
        else:
            node[path[-1]] = value

    for key, value in items.items():
        put(out, str(key).split("."), value, str(key))
    return out


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The configuration as plain, TOML-writable types. TOML has no null: a ``None`` whose default is ``None`` is
    left out (read back as the default), one set over another default (``train.steps=none``: the
    validation-chosen length) is written ``"none"``, which reads back as ``None`` as ``--set`` does; dropped, it
    came back as the default, and the run could not be resumed or reproduced from its own config.toml."""

    def clean(obj: Any, default: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            out = {}
            for f in dataclasses.fields(obj):
                v = getattr(obj, f.name)
                d = getattr(default, f.name, None) if default is not None else None
                if v is None:
                    if d is not None:   # set over a default that is not None
                        out[f.name] = "none"
                    continue
                out[f.name] = clean(v, d)
            return out
        if isinstance(obj, dict):
            return {k: clean(v, None) for k, v in obj.items() if v is not None}
        if isinstance(obj, (list, tuple)):
            return [clean(v, None) for v in obj]
        return obj

    try:
        base = type(cfg)()   # the defaults as the configuration's class builds them (a model's own [train])
    except TypeError:
        base = None
    return clean(cfg, base)


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
