"""Differentially private rows of a benchmark (``rnagen benchmark --privacy-budgets 1,4,10``).

For each ε of the list and each model family with a private variant (:data:`PRIVATE_FAMILIES`), one row
``<family>-dp-eps<ε>`` (``diffusion-dp-eps1``, ``vae-dp-eps4``, ``gaussian-dp-eps10``, ...): the model
trained with ``privacy.epsilon=ε`` (δ = 1/n, the default accountant for the torch models; the exact
Gaussian-mechanism analysis of :mod:`rnagen.models.gaussian` for the Gaussian), sampled and scored like every
other row. The diffusion rows sample with DPM-Solver++ (the model's default sampler).

The torch models' private rows train with :data:`PRIVATE_SETTINGS` on top of the budget's settings: a fixed
length (a private run cannot choose it on held-out private profiles), and a smaller diffusion network than the
non-private default (the noise DP-SGD adds to the averaged gradient has the same standard deviation on every
parameter, so its norm grows with the square root of the parameter count, and opacus's per-sample gradients
take batch x parameters memory and time; the VAE's encoder and decoder are halved for the same reason, and the
WGAN-GP's critic is one layer of 64 and its generator, a residual on the private per-class Gaussian
(``gan.anchor=auto``), learns at a fiftieth of the default rate for 300 steps: a generator that moves fast on a
noisy critic leaves the data, ``benchmarks/RESULTS_privacy.md``, "The private WGAN-GP"). The
private diffusion rows learn a residual on top of the exact denoiser of the private per-class Gaussian
(means, variances and, where it can be detected, the low-rank within-class correlation) whose statistics are
released with 80% of the budget (``objective.anchor=full``; the accountant composes both), with
16 noise draws per profile inside each clipped gradient (``objective.noise_multiplicity``, Dockhorn et al.
2022) and no label dropout (guidance is not used). A user's ``--set MODEL:KEY=VALUE`` applies to the private
rows of that model too, after these settings.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError

__all__ = ["PRIVATE_FAMILIES", "PRIVATE_SETTINGS", "parse_privacy_budgets", "private_rows", "parse_private_row",
           "private_row_name"]

#: model families with a private variant (registered model names), in leaderboard order
PRIVATE_FAMILIES: tuple[str, ...] = ("diffusion", "vae", "wgan-gp", "gaussian")
#: settings of the private rows, applied after the budget's (``dotted.key: value``)
PRIVATE_SETTINGS: dict[str, dict[str, Any]] = {
    "diffusion": {"objective.anchor": "full", "network.width": 64, "network.depth": 1, "train.steps": 300,
                  "train.batch_size": 256, "train.lr": 3e-3, "objective.noise_multiplicity": 16,
                  "objective.label_dropout": 0.0, "train.val_fraction": 0.0, "train.checkpoint_every": 100,
                  "train.ema_decay": 0.99},
    "vae": {"network.hidden": [256, 128], "train.steps": 600, "train.batch_size": 128, "train.val_fraction": 0.0,
            "train.checkpoint_every": 200},
    "wgan-gp": {"network.critic_hidden": [64], "network.generator_norm": "layer", "gan.lr_generator": 1e-5,
                "train.steps": 300,
                "train.batch_size": 128, "train.val_fraction": 0.0, "train.ema_decay": 0.99,
                "train.checkpoint_every": 100},
    "gaussian": {},
}
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
