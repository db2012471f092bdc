"""Search spaces and budgets for ``rnagen tune``.

The protocol
------------
A search space maps an Optuna trial to **dotted configuration overrides** of one model, e.g.
``{"train.lr": 3e-4, "net.width": 512}``; :func:`rnagen.config.build_config` applies them to the model's
config dataclass, so a space can only name keys that exist (an unknown key raises ``ConfigError``).

The space is declared next to the model: a :class:`~rnagen.models.Generator` subclass defines ::

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {"train.lr": trial.suggest_float("train.lr", 1e-5, 1e-2, log=True), ...}

Name each Optuna parameter after the config key it sets, so ``study.best_params`` reads like a config.
Every shipped model (gaussian, diffusion, vae, wgan-gp) declares its space this way. A model that does not
(a user's own generator, say) can be given one with :func:`register_space`, without touching its class.

``train.steps`` belongs to the **budget**, not the space: for a model with a ``[train]`` section the tuner
draws ``train.steps`` from the budget's range (log-uniform); a space that draws ``train.steps`` itself is
clamped into that range. So one space serves a quick smoke search and a paper-scale search alike.
"""
from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..models._base import Generator

SpaceFn = Callable[..., dict[str, Any]]
BudgetName = Literal["fast", "standard", "paper"]


@dataclass(frozen=True)
class Budget:
    """How much training each trial may spend.

    Attributes
    ----------
    name
        ``fast`` (minutes on a CPU: smoke tests, laptops), ``standard`` (a GPU hour or so for a study) or
        ``paper`` (the scale of the paper's search: hours per trial on a GPU).
    steps
        ``(low, high)`` range of ``train.steps`` drawn log-uniformly for torch models.
    rungs
        Fractions of a trial's steps at which it is evaluated and may be pruned (each rung trains a fresh
        model for that many steps, so every reported value comes from a complete, annealed schedule); the
        last rung is always 1.0 (the full run).
    """

    name: str
    steps: tuple[int, int]
    rungs: tuple[float, ...]


BUDGETS: dict[str, Budget] = {
    "fast": Budget("fast", (100, 600), (0.25, 1.0)),
    "standard": Budget("standard", (1000, 6000), (0.25, 1.0)),
    "paper": Budget("paper", (4000, 30000), (0.125, 0.5, 1.0)),
}


def get_budget(name: str | Budget) -> Budget:
    """The :class:`Budget` named ``name`` (fast, standard or paper)."""
    if isinstance(name, Budget):
        return name
    if name not in BUDGETS:
        raise ConfigError(f"unknown budget {name!r}; choose one of {', '.join(BUDGETS)}")
    return BUDGETS[name]


# --- spaces of models that do not declare their own --------------------------------------------------------
_SPACES: dict[str, SpaceFn] = {}


def register_space(model: str) -> Callable[[SpaceFn], SpaceFn]:
    """Decorator: use ``fn(trial, keys) -> overrides`` as the search space of ``model`` when the model
    class does not define ``search_space`` itself (``keys``: the dotted keys its config has)."""

    def deco(fn: SpaceFn) -> SpaceFn:
        _SPACES[model] = fn
        return fn

    return deco


def config_keys(config_cls: type, prefix: str = "") -> frozenset[str]:
    """Every dotted key of a (nested) config dataclass, e.g. ``{"train.lr", "network.width", ...}``."""
    keys: set[str] = set()
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        tp = hints[f.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            keys |= config_keys(tp, f"{prefix}{f.name}.")
        else:
            keys.add(f"{prefix}{f.name}")
    return frozenset(keys)


def registered_spaces() -> dict[str, SpaceFn]:
    """The fallback registry (model name -> space function)."""
    return dict(_SPACES)


def space_for(model_cls: type[Generator]) -> Callable[[Any], dict[str, Any]]:
    """The search space ``fn(trial) -> overrides`` of a generator class: its own ``search_space``
    classmethod when it defines one, else the registry entry for its name."""
    from ..models._base import Generator

    own = getattr(model_cls, "search_space", None)
    base = getattr(Generator, "search_space", None)
    if own is not None and getattr(own, "__func__", own) is not getattr(base, "__func__", base):
        return own
    if model_cls.name in _SPACES:
        fn, keys = _SPACES[model_cls.name], config_keys(model_cls.config_cls)
        return lambda trial: fn(trial, keys)
    raise ConfigError(
        f"model {model_cls.name!r} declares no search space; define a search_space(trial) classmethod on "
        f"{model_cls.__name__} or register one with rnagen.tune.register_space({model_cls.name!r})"
    )


def has_train_section(config_cls: type) -> bool:
    """Whether a model config has a ``train`` section with ``steps`` (a torch model)."""
    if not dataclasses.is_dataclass(config_cls):
        return False
    hints = typing.get_type_hints(config_cls)
    tp = hints.get("train")
    return tp is not None and dataclasses.is_dataclass(tp) and "steps" in {f.name for f in dataclasses.fields(tp)}


def suggest(model_cls: type[Generator], trial, budget: Budget) -> dict[str, Any]:
    """Draw one configuration for ``trial``: the model's space plus ``train.steps`` from the budget."""
    overrides = dict(space_for(model_cls)(trial))
    if has_train_section(model_cls.config_cls):
        lo, hi = budget.steps
        if "train.steps" not in overrides:
            overrides["train.steps"] = trial.suggest_int("train.steps", lo, hi, log=True)
        else:
            # a space that draws its own steps is capped by the budget (a fast study stays fast)
            overrides["train.steps"] = int(min(max(int(overrides["train.steps"]), lo), hi))
    return overrides
