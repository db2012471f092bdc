"""Differentially private rows of a benchmark (``rnagen benchmark --privacy-budgets 1,4,10``).

For each ε of the list and each model family with a private variant (:data:`PRIVATE_FAMILIES`), one row
``<family>-dp-eps<ε>`` (``diffusion-dp-eps1``, ``vae-dp-eps4``, ``gaussian-dp-eps10``, ...): the model
trained with ``privacy.epsilon=ε`` (δ = 1/n, the default accountant for the torch models; the exact
Gaussian-mechanism analysis of :mod:`rnagen.models.gaussian` for the Gaussian), sampled and scored like every
other row. The diffusion rows sample with DPM-Solver++ (the model's default sampler).

The torch models' private rows train with :data:`PRIVATE_SETTINGS` (:mod:`rnagen.models._private`, which says
why each differs from the non-private default; ``rnagen train`` applies the same ones to a private run) on top of
the budget's settings: a fixed length, a smaller network, the diffusion model's anchor on the private per-class
Gaussian (``objective.anchor=full``, released with 80% of the budget; the accountant composes both) and the
WGAN-GP's slow generator. A user's ``--set MODEL:KEY=VALUE`` applies to the private rows of that model too,
after these settings.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..models._private import PRIVATE_SETTINGS

__all__ = ["PRIVATE_FAMILIES", "PRIVATE_SETTINGS", "parse_privacy_budgets", "private_rows", "parse_private_row",
           "private_row_name"]

#: model families with a private variant (registered model names), in leaderboard order
PRIVATE_FAMILIES: tuple[str, ...] = ("diffusion", "vae", "wgan-gp", "gaussian")
#: the sampler options of each family's private rows
PRIVATE_SAMPLER: dict[str, dict[str, Any]] = {"diffusion": {"sampler": "dpm++"}, "vae": {}, "wgan-gp": {},
                                               "gaussian": {}}

_ROW = re.compile(r"^(?P<family>[a-z][a-z0-9_-]*?)-dp-eps(?P<eps>[0-9.e+-]+)$")


def parse_privacy_budgets(budgets: str | Sequence[float] | None) -> list[float]:
    """ε values from ``"1,4,10"`` or a list; each must be a finite number > 0, at least one given, and no two
    alike in the six digits that name their rows (a :class:`ConfigError` else)."""
    if budgets is None:
        return []
    items = budgets.split(",") if isinstance(budgets, str) else list(budgets)
    out: list[float] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        try:
            eps = float(item)
        except (TypeError, ValueError):
            eps = math.nan
        if not math.isfinite(eps) or eps <= 0:
            raise ConfigError(f"--privacy-budgets takes epsilon values > 0 separated by commas (e.g. 1,4,10), "
                              f"got {item!r}")
        out.append(eps)
    if not out:
        raise ConfigError(f"--privacy-budgets {budgets!r} names no epsilon; give values > 0 separated by commas "
                          "(e.g. 1,4,10), or leave the option out for no private rows")
    named: dict[str, float] = {}
    for eps in dict.fromkeys(out):
        key = f"{eps:g}"
        if key in named:   # rows are named by the value's short form (diffusion-dp-eps1)
            raise ConfigError(f"--privacy-budgets {named[key]!r} and {eps!r} name one row (eps{key}); give "
                              "epsilons that differ in their first six digits")
        named[key] = eps
    return list(named.values())


def private_row_name(family: str, epsilon: float) -> str:
    """``diffusion-dp-eps1``, ``vae-dp-eps0.5``: the leaderboard row of ``family`` trained at ``epsilon``."""
    return f"{family}-dp-eps{epsilon:g}"


def parse_private_row(row: str) -> tuple[str, float] | None:
    """``(family, epsilon)`` of a private row's name, ``None`` for any other row."""
    m = _ROW.match(row)
    if m is None or m["family"] not in PRIVATE_FAMILIES:
        return None
    try:
        return m["family"], float(m["eps"])
    except ValueError:
        return None


def private_rows(budgets: Sequence[float], families: Sequence[str] = PRIVATE_FAMILIES
                 ) -> dict[str, tuple[str, dict[str, Any], list[str]]]:
    """Row name -> (registered model, sampler options, config overrides) for every family and ε."""
    rows: dict[str, tuple[str, dict[str, Any], list[str]]] = {}
    for family in families:
        for eps in budgets:
            settings = [f"{k}={_literal(v)}" for k, v in PRIVATE_SETTINGS[family].items()]
            rows[private_row_name(family, eps)] = (family, dict(PRIVATE_SAMPLER[family]),
                                                   settings + [f"privacy.epsilon={eps!r}"])
    return rows


def _literal(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)  # numbers and lists of numbers are TOML literals as Python writes them
