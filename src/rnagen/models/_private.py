"""The settings a torch model trains with when it is trained privately (DP-SGD), unless the user sets them.

:data:`PRIVATE_SETTINGS` holds, for each model family with DP-SGD, the configuration its private training uses
on top of the dataclass defaults; the defaults themselves are the non-private model's. Why they differ:

- a fixed length (``train.steps``, ``train.val_fraction=0``): a private run cannot choose its length on held-out
  private profiles (the accountant would not count them), so it trains every profile for its step budget;
- a smaller network (the diffusion model's width 64 and depth 1, the VAE's halved encoder and decoder, a critic of
  one layer of 64): the noise DP-SGD adds to the averaged gradient has the same standard deviation on every
  parameter, so its norm grows with the square root of the parameter count (Abadi et al. 2016), and opacus's
  per-sample gradients take batch x parameters memory and time;
- the diffusion model learns a residual on the exact denoiser of the private per-class Gaussian
  (``objective.anchor=full``), with 16 noise draws per profile inside each clipped gradient
  (``objective.noise_multiplicity``, Dockhorn et al. 2022) and no label dropout (guidance is not used);
- the WGAN-GP's generator learns at a fiftieth of the default rate: a generator that moves fast on a noisy critic
  leaves the data (``benchmarks/RESULTS_privacy.md``, "The private WGAN-GP").

:meth:`rnagen.models.Generator.from_config` (hence ``rnagen train``) applies each key of a private configuration
that its TOML file and overrides do not set (:func:`private_defaults`); the benchmark's private rows
(:mod:`rnagen.bench.privacy`) train with all of them, after the budget's settings. A configuration built by hand
(``DiffusionModel(DiffusionConfig(...))``) is taken as it is.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["PRIVATE_SETTINGS", "private_defaults", "describe_private_defaults"]

#: each private family's settings (``dotted.key: value``), on top of the non-private defaults
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

#: a key of the settings left out when the user set one of these (the same choice made another way: the
#: length from ``train.epochs`` then is what it is without privacy)
_SAME_CHOICE: dict[str, tuple[str, ...]] = {"train.steps": ("train.epochs",)}
#: keys that split ``privacy.epsilon`` (the anchor's statistics): left out with ``privacy.noise_multiplier``,
#: which has no target ε to share
_NEED_EPSILON = ("objective.anchor",)


def private_defaults(name: str, config: Any, given: Iterable[str]) -> dict[str, Any]:
    """The keys of :data:`PRIVATE_SETTINGS` for model ``name`` that a private ``config`` takes: every key not in
    ``given`` (the dotted keys the user set), nor made by a key given (``train.steps`` by ``train.epochs``), nor
    splitting a target ε the configuration has not (``objective.anchor`` with ``privacy.noise_multiplier``).
    Empty for a configuration that is not private."""
    privacy = getattr(config, "privacy", None)
    if privacy is None or not privacy.enabled:
        return {}
    given = set(given)
    out = {}
    for key, value in PRIVATE_SETTINGS.get(name, {}).items():
        if key in given or any(k in given for k in _SAME_CHOICE.get(key, ())):
            continue
        if key in _NEED_EPSILON and privacy.epsilon is None:
            continue
        out[key] = list(value) if isinstance(value, list) else value   # the table itself stays as it is
    return out


def describe_private_defaults(applied: dict[str, Any]) -> str:
    """One line naming the private settings applied and how to override them (``""`` where none were)."""
    if not applied:
        return ""
    items = " ".join(f"{k}={_shown(v)}" for k, v in applied.items())
    return (f"private training settings applied (measured for DP-SGD; rnagen.models.PRIVATE_SETTINGS): {items}; "
            "--set KEY=VALUE overrides each")


def _shown(v: Any) -> str:
    """``v`` as ``--set`` reads it back, without spaces: ``64``, ``0.003``, ``full``, ``[256,128]``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_shown(x) for x in v) + "]"
    return str(v) if isinstance(v, str) else repr(v)
