"""Compute budgets of the benchmark: one documented table of configuration overrides per model.

A budget says how much training each model gets. It maps to ``key=value`` overrides applied on top of each
model's dataclass defaults (the single source of truth for everything not listed here):

``fast``
    CPU minutes: the whole benchmark of every model on the bundled GTEx subset (416 training profiles x 467
    genes) runs in under 10 minutes on 2 CPU cores (``rnagen demo``). The diffusion model trains as by
    default, so the demo shows what it really does; the WGAN-GP gets a shorter step budget.
``standard``
    The models' own defaults (tuned for a laptop CPU, tens of minutes in all on a few thousand profiles).
``paper``
    The settings of Lacan et al. (2026) (see ``REFERENCE.md``: GTEx best rows of the released
    hyperparameter searches; 15,000 epochs for the denoiser, 1,000 for the VAE and the GAN, fixed lengths on
    all training profiles, no validation share). Meant for a GPU.
``paper-tcga``
    The same recipe with the paper's TCGA best rows (its searches were run per data source): the denoiser 2 x
    4096 at lr 1.4e-3, the VAE's and the WGAN-GP's TCGA layer sizes, batch sizes and learning rates. On
    TCGA-like data this is the paper's recipe; ``paper`` is the GTEx one.

An override value ``"epochs:E"`` on ``train.steps`` is converted to optimiser steps for the data at hand:
``ceil(E * n_train / batch_size)``, so a budget stated in epochs (as the paper states it) means the same on
any data set size.

Benchmark rows and the registered model each trains: ``ddpm``, ``ddim`` and ``dpm++`` are rows sampled from
ONE trained ``diffusion`` model (``sampler="ddpm"`` / ``"ddim"`` / ``"dpm++"``); the other rows are the model
of that name.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ..errors import ConfigError

Budget = Literal["fast", "standard", "paper", "paper-tcga"]
BUDGETS: tuple[str, ...] = ("fast", "standard", "paper", "paper-tcga")

#: benchmark row -> (registered model name, sampler options passed to ``Generator.sample``)
ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "ddpm": ("diffusion", {"sampler": "ddpm"}),
    "ddim": ("diffusion", {"sampler": "ddim"}),
    "dpm++": ("diffusion", {"sampler": "dpm++"}),
    "vae": ("vae", {}),
    "wgan-gp": ("wgan-gp", {}),
    "gaussian": ("gaussian", {}),
}
DEFAULT_MODELS: tuple[str, ...] = ("ddpm", "ddim", "dpm++", "vae", "wgan-gp", "gaussian")

#: per budget: model -> overrides (``dotted.key: value``). Keys absent here keep the model's defaults.
BUDGET_TABLE: dict[str, dict[str, dict[str, Any]]] = {
    "fast": {
        # the model's own default length, not cut short: the demo shows what the default model does
        "diffusion": {},
        # the VAE at its default length; the WGAN-GP at half its default, to keep the demo in minutes
        # (figures in benchmarks/RESULTS_baselines.md)
        "vae": {"train.steps": 1500, "train.checkpoint_every": 500},
        "wgan-gp": {"train.steps": 4000, "train.checkpoint_every": 1000},
        "gaussian": {},
    },
    "standard": {"diffusion": {}, "vae": {}, "wgan-gp": {}, "gaussian": {}},
    "paper": {
        # residual MLP denoiser 2 x 8192, quad schedule T=1000, lr 4.8e-4 one-cycle, batch 2048,
        # 15,000 epochs, EMA 0.999, mixed precision (GTEx best row of the released search). Each block's MLP
        # at width 8192 (expansion 1) and its FiLM conditioning through a 256-dimensional embedding: 293 M
        # parameters for 978 genes, the paper's 227.6 M within 1.3x (REFERENCE.md; the defaults' expansion 2
        # and width-sized embedding would make it 890 M); no per-gene affine path (the paper's network has none)
        "diffusion": {"network.width": 8192, "network.depth": 2, "network.dropout": 0.1,
                      "network.expansion": 1, "network.cond_dim": 256, "network.gene_affine": False,
                      "schedule.kind": "quad", "schedule.T": 1000, "schedule.beta_start": 1e-4,
                      "schedule.beta_end": 0.02, "train.lr": 4.8e-4, "train.lr_schedule": "onecycle",
                      "train.batch_size": 2048, "train.steps": "epochs:15000", "train.ema_decay": 0.999,
                      "train.amp": True, "train.checkpoint_every": 2000, "train.val_fraction": 0.0},
        # conditional VAE: 4-block encoder/decoder, latent 128, batch 256, lr 7.8e-4, 1000 epochs (GTEx best row)
        "vae": {"network.hidden": [8192, 4096, 4096, 2048], "network.latent_dim": 128, "train.batch_size": 256,
                "train.lr": 7.8e-4, "train.steps": "epochs:1000", "train.checkpoint_every": 2000,
                "train.val_fraction": 0.0,  # the paper trains for a fixed length on all profiles
                # the paper's model: batch norm, MSE + KL with beta 1, decoder mean from the N(0, I) prior
                "network.norm": "batch", "objective.likelihood": "mse", "objective.beta": 1.0,
                "sample.prior": "standard", "sample.noise": False},
        # conditional WGAN-GP: noise 32, generator 128-1024-4096, critic 8192-256, RMSprop, lr 2.2e-3 (G) /
        # 5.8e-4 (critic), batch 1024, 1000 epochs of critic steps, 5 critic steps per generator step, GP 10
        "wgan-gp": {"network.noise_dim": 32, "network.generator_hidden": [128, 1024, 4096],
                    "network.critic_hidden": [8192, 256], "gan.optimizer": "rmsprop", "gan.lr_generator": 2.2e-3,
                    "gan.lr_critic": 5.8e-4, "gan.n_critic": 5, "gan.gp_weight": 10.0, "train.batch_size": 1024,
                    "train.steps": "epochs:1000", "train.checkpoint_every": 2000, "train.val_fraction": 0.0,
                    # the paper's critic: labels concatenated, no class offsets, batch-norm generator, no
                    # copy repulsion, and the generator's outputs as they are (trained on all profiles)
                    "network.critic_conditioning": "concat", "network.class_bias": False,
                    "network.generator_norm": "batch", "gan.copy_penalty": 0.0, "sample.noise": 0.0},
        "gaussian": {},
    },
}
# The paper's TCGA best rows (../shared/reference/rnadiffusion/best_hyperparams/*_tcga*.csv): what differs
# from the GTEx rows above; everything else (schedule, epochs, EMA, fixed length, the models' forms) is shared.
BUDGET_TABLE["paper-tcga"] = {
    # residual MLP denoiser 2 x 4096, lr 1.4e-3 (79.5 M parameters for 978 genes and 33 classes with the
    # 256-dimensional conditioning embedding; the paper's TCGA denoiser 63.4 M, REFERENCE.md)
    "diffusion": {**BUDGET_TABLE["paper"]["diffusion"], "network.width": 4096, "train.lr": 1.4155e-3},
    # conditional VAE: encoder/decoder blocks 2048-8192-256-4096, batch 2048, lr 1.11e-3
    "vae": {**BUDGET_TABLE["paper"]["vae"], "network.hidden": [2048, 8192, 256, 4096], "train.batch_size": 2048,
            "train.lr": 1.1107e-3},
    # conditional WGAN-GP: generator 256-1024-8192, critic 4096-128, batch 64, lr 2.75e-4 (G) / 1.24e-4 (critic)
    "wgan-gp": {**BUDGET_TABLE["paper"]["wgan-gp"], "network.generator_hidden": [256, 1024, 8192],
                "network.critic_hidden": [4096, 128], "train.batch_size": 64, "gan.lr_generator": 2.7546e-4,
                "gan.lr_critic": 1.2370e-4},
    "gaussian": {},
}

#: steps of the quality-vs-steps curve of the report, per budget (capped at the schedule's T; DDIM over the
#: whole grid, DPM-Solver++ over its first part, see ``bench.runner.DPM_MAX_STEPS``)
DDIM_STEP_GRID: dict[str, tuple[int, ...]] = {
    "fast": (5, 10, 25, 50, 100, 200),
    "standard": (5, 10, 25, 50, 100, 200, 500, 1000),
    "paper": (10, 25, 50, 100, 200, 500, 1000),
}
#: sampling steps of the ddpm / ddim / dpm++ rows per budget (the paper walks all 1000 steps for ddpm and
#: ddim); dpm++, a second-order solver, at the diffusion model's default 20 steps (its quality against DDIM 50:
#: benchmarks/RESULTS_samplers.md, RESULTS_objectives.md), 50 for the paper budget's longer-trained network
SAMPLER_STEPS: dict[str, dict[str, int]] = {
    "fast": {"ddpm": 1000, "ddim": 50, "dpm++": 20},
    "standard": {"ddpm": 1000, "ddim": 100, "dpm++": 20},
    "paper": {"ddpm": 1000, "ddim": 1000, "dpm++": 50},
}


#: options of :func:`rnagen.metrics.evaluate` per budget: the fast budget trims the bootstrap of the
#: recomputed metrics and runs the TSTR classifiers once; the paper's TSTR is the median of 15 runs
EVALUATE_OPTIONS: dict[str, dict[str, Any]] = {
    "fast": {"classifier_seeds": (0,), "n_boot_expensive": 10},
    "standard": {},
    "paper": {"classifier_seeds": tuple(range(15))},
}
# the TCGA rows differ from the GTEx ones in the models' settings only: sampled and evaluated alike
DDIM_STEP_GRID["paper-tcga"] = DDIM_STEP_GRID["paper"]
SAMPLER_STEPS["paper-tcga"] = SAMPLER_STEPS["paper"]
EVALUATE_OPTIONS["paper-tcga"] = EVALUATE_OPTIONS["paper"]


def check_budget(budget: str) -> str:
    """Return ``budget`` if it names one of :data:`BUDGETS`, else raise :class:`ConfigError` listing them."""
    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    return budget


def parse_models(models: str | Sequence[str]) -> list[str]:
    """Benchmark rows from ``"ddpm,ddim,gaussian"`` or a list; unknown names raise :class:`ConfigError`."""
    names = [m.strip() for m in (models.split(",") if isinstance(models, str) else models) if m.strip()]
    if not names:
        raise ConfigError("no models given; choose from " + ", ".join(ROWS))
    if "real" in names:
        raise ConfigError("'real' is always part of the leaderboard; do not list it")
    unknown = [m for m in names if m not in ROWS]
    if unknown:
        raise ConfigError(f"unknown benchmark model(s) {unknown}; choose from {', '.join(ROWS)} "
                          "(ddpm, ddim and dpm++ are samplers of one trained diffusion model)")
    return list(dict.fromkeys(names))


def budget_overrides(model: str, budget: str, *, n_train: int,
                     extra: Mapping[str, Any] | Sequence[str] | None = None) -> list[str]:
    """The ``key=value`` overrides of registered ``model`` under ``budget`` for ``n_train`` profiles.

    ``extra`` (a mapping or ``["key=value", ...]``) is applied last, so a user can change any setting.
    """
    table = dict(BUDGET_TABLE[check_budget(budget)].get(model, {}))
    if extra:
        items = extra.items() if isinstance(extra, Mapping) else (s.split("=", 1) for s in extra)
        for k, v in items:
            table[k.strip()] = v
    # resolve "epochs:E" once the batch size is known
    batch = table.get("train.batch_size")
    out = []
    for k, v in table.items():
        if isinstance(v, str) and v.startswith("epochs:"):
            if batch is None:
                raise ConfigError(f"{model}: {k}={v} needs train.batch_size in the same budget")
            epochs = float(v.split(":", 1)[1])
            v = max(1, math.ceil(epochs * n_train / int(batch)))
        out.append(f"{k}={_toml_literal(v)}")
    return out


def _toml_literal(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    # already a TOML literal (number, bool, quoted) from the command line: keep it
    if s and (s[0] in "\"'[{" or s in ("true", "false")):
        return s
    try:
        float(s)
        return s
    except ValueError:
        return '"' + s.replace('"', '\\"') + '"'
