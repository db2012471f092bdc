"""One readable training loop for every torch model (nanoGPT style: top to bottom, comments say why).

What it does, in order, each step:
  1. take the next global batch from a seeded per-epoch permutation (deterministic, so a resumed run sees
     exactly the batches an uninterrupted one would); under DDP each rank takes its slice of that batch;
  2. run the model's step (default: ``loss = module(x, y, generator=g)``; AdamW; gradient clipping;
     learning-rate schedule; mixed precision on CUDA), or a model's own ``step_fn`` (the GAN's two
     optimisers); with ``privacy`` set, DP-SGD instead: Poisson batches, per-sample clipping, Gaussian noise
     and the accountant (:mod:`rnagen.train.privacy`);
  3. update the EMA weights that sampling will use;
  4. every ``val_every`` steps, when a validator is given, score the EMA weights on held-out profiles
     (:mod:`rnagen.train.validation`), keep the weights of the best score and stop once ``patience``
     checks in a row have not improved on it (early stopping, Prechelt 1998);
  5. every ``checkpoint_every`` steps (and at the end) write ``checkpoint.pt`` atomically (rank 0 only), so
     a run killed with ``kill -9`` resumes from the last checkpoint, validation curve, patience counter and the
     training log's current window included (its rows are an uninterrupted run's), and never leaves a corrupt
     file; the run folder's ``manifest.json`` is rewritten with it (verified on resume).

The length of a run is a budget: ``train.steps`` when set, else ``train.epochs`` passes over the training
profiles, clipped to [``min_steps``, ``max_steps``] (:func:`resolve_budget`); the learning-rate schedule's
warm-up and decay are laid out over that budget.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from .._io import atomic_path, remove_stale_temporaries
from .._manifest import MAX_MEMBERS, RUN_FILES, verify_manifest, write_manifest
from ..config import checked
from ..errors import ConfigError, DivergedError, RunDirError
from .distributed import DistInfo, init_distributed
from .ema import EMA
from .privacy import PRIVATE_LOG_COLUMNS
from .validation import ValidationTracker

CHECKPOINT = "checkpoint.pt"
_CKPT_FIX = "run again with --no-resume to start over"


def read_checkpoint(path: str | Path, *, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`train_loop` without unpickling code (``weights_only=True``).

    A damaged, truncated or foreign file (including a pickle that would run code) is one
    :class:`rnagen.errors.RunDirError` naming the file and ``--no-resume``; torch's own message, which
    suggests loading with ``weights_only=False``, never reaches the user.
    """
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr: not for the user
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception:  # noqa: BLE001 - unpickling refusals, truncated zip archives, random bytes
        raise RunDirError(f"{path} is damaged or not an rnagen checkpoint (it cannot be read as tensors only); "
                          f"{_CKPT_FIX}") from None
    if not isinstance(state, dict) or not {"step", "module", "optimizers", "schedulers"} <= set(state):
        raise RunDirError(f"{path} is not an rnagen checkpoint (entries missing); {_CKPT_FIX}")
    return state


@dataclass
@checked("train", steps=">= 1", epochs="> 0", min_steps=">= 1", max_steps=">= 1", batch_size=">= 1", lr="> 0",
         weight_decay=">= 0", warmup_fraction="[0, 1)", warmup_steps=">= 0", grad_clip=">= 0", ema_decay="[0, 1)",
         checkpoint_every=">= 1", log_every=">= 1", val_fraction="[0, 1)", val_every=">= 1", patience=">= 1",
         val_window=">= 1", patience_from="[0, 1)", members=f"[1, {MAX_MEMBERS}]", val_min=">= 2",
         rare_share="[0, 0.5)")
class TrainConfig:
    """Optimisation settings shared by the torch models (section ``[train]`` of a model config)."""

    steps: int | None = None
    """The step budget (optimiser steps, i.e. global batches); unset: from the data size (``epochs``)."""
    epochs: float = 1000.0
    """Budget when ``steps`` is unset: this many passes over the training profiles, in steps
    ``ceil(epochs * n_train / batch_size)`` clipped to [``min_steps``, ``max_steps``]."""
    min_steps: int = 500
    max_steps: int = 20000
    batch_size: int = 256
    """Global batch size, split across DDP ranks; capped at the number of training samples."""
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lr_schedule: Literal["cosine", "onecycle", "constant"] = "cosine"
    warmup_fraction: float = 0.03
    """Linear warm-up over this share of the budget (the cosine decay spans the rest of it)."""
    warmup_steps: int | None = None
    """Warm-up length in steps; overrides ``warmup_fraction`` when set."""
    grad_clip: float = 1.0
    """Maximum gradient norm; 0 disables clipping."""
    ema_decay: float = 0.999
    """EMA decay of the sampling weights; 0 disables EMA (the live weights are used)."""
    amp: bool = True
    """Mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling); ignored on CPU."""
    checkpoint_every: int = 500
    """Steps between checkpoints (the last step is always checkpointed)."""
    log_every: int = 50
    val_fraction: float = 0.1
    """Share of each class held out to choose the training length (0: no validation, train for the budget);
    see :func:`rnagen.train.validation.stratified_holdout` for the per-class minimum and the fallback."""
    val_min: int = 20
    """Fewest held-out profiles to choose the length on: a small set holds out up to a fifth of each class to
    reach it, and a set too small for that trains for its whole budget (``rnagen.train.validation``)."""
    val_every: int | None = None
    """Steps between validation checks; unset: a twentieth of the budget (at least 25 steps)."""
    patience: int = 6
    """Stop when this many validation checks in a row have not improved on the best score."""
    patience_from: float = 0.25
    """Share of the budget before which checks without improvement do not count toward ``patience``: early in
    training every sample set is far from the data (AA_truth ~1, AA_syn ~0, density ~0), the score moves by
    noise, and a short budget's closely spaced checks would take that for a plateau."""
    val_window: int = 1
    """The score a check is judged by: the mean of the last ``val_window`` checks' scores; the weights kept for
    the best window are its middle check's (1: each check's own score and weights; each score already averages
    several synthetic draws, :data:`rnagen.train.validation.VAL_DRAWS`)."""
    refit: bool = False
    """After choosing the length on the validation share, train again on all profiles for the best step's
    number of steps (schedule laid out over that length) and keep that model."""
    members: int = 1
    """Train this many networks on the same profiles (the diffusion model; the others refuse more than 1), member
    k with seed ``seed + 1000 k`` and so its own initial weights, batches and validation hold-out, each its length
    chosen on its own hold-out, and sample from their equal-weight mixture: each profile from one member drawn at
    random. Mixing independently trained generators averages out part of the error each one owes to its own
    training draw (as a deep ensemble does, Lakshminarayanan et al. 2017; here a mixture, not an average of the
    outputs, which would shrink the spread of the samples). Training takes ``members`` times as long; sampling
    as long as one network. Not with privacy: each member would spend the budget again."""
    rare_share: float = 0.02
    """A class holding fewer than this share of the training profiles is drawn about as often as a class of this
    share: its profiles appear ``ceil(rare_share x n / n_class)`` times in each epoch's permutation. A class seen
    in a handful of batches can come out like the large classes (the network's class embedding barely trained);
    classes at or above the share appear once per epoch, so data without such a class train exactly as with 0,
    which turns it off. Not for a private run (DP-SGD's Poisson batches sample every profile alike, which its
    accounting assumes)."""

    def __post_init__(self) -> None:
        if self.min_steps > self.max_steps:
            raise ConfigError(f"need train.min_steps <= train.max_steps, got {self.min_steps}, {self.max_steps}")


@dataclass
class LossOutput:
    """What a model's ``forward`` returns during training: the scalar loss and numbers to log."""

    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)


def resolve_budget(cfg: TrainConfig, n_train: int, batch_size: int) -> tuple[int, str]:
    """The step budget for ``n_train`` profiles in batches of ``batch_size``, and where it came from:
    ``"steps"`` (set), ``"epochs"``, or ``"min_steps"`` / ``"max_steps"`` (the epochs' count, clipped)."""
    if cfg.steps is not None:
        return int(cfg.steps), "steps"
    want = math.ceil(cfg.epochs * n_train / max(1, batch_size))
    if want < cfg.min_steps:
        return int(cfg.min_steps), "min_steps"
    if want > cfg.max_steps:
        return int(cfg.max_steps), "max_steps"
    return int(want), "epochs"


def warmup_length(cfg: TrainConfig, total: int) -> int:
    """Warm-up steps for a budget of ``total`` steps (``warmup_steps`` if set, else the fraction)."""
    w = cfg.warmup_steps if cfg.warmup_steps is not None else round(cfg.warmup_fraction * total)
    return max(0, min(int(w), total - 1))


@dataclass
class TrainResult:
    """What :func:`train_loop` returns: the training log, wall time, steps taken, the EMA and validation's choice."""

    history: list[dict[str, float]]
    seconds: float
    steps: int
    ema: EMA | None
    best_state: dict[str, torch.Tensor] | None = None
    """The weights sampling should use when validation chose them (the EMA weights at the best check)."""
    validation: dict[str, Any] | None = None
    """Validation record: curve, best step and score, why training stopped (see ``rnagen.train.validation``)."""
    private: Any = None
    """The :class:`rnagen.train.privacy.PrivateTraining` of a differentially private run (its accountant and
    settings: ``private.record()``)."""
    guide_step: int = 0
    guide_state: dict[str, torch.Tensor] | None = None
    """With ``guide_fraction``: the EMA weights at the check before the best nearest that fraction of the best step
    (validated runs; none when the best is the first check) or at that fraction of the budget (fixed-length runs),
    and their step; a worse version of the same model for autoguidance (Karras et al. 2024)."""

    def apply_to(self, module: nn.Module) -> None:
        """Load the sampling weights into ``module``: the best checkpoint's, else the EMA's, else leave it."""
        if self.best_state is not None:
            module.load_state_dict(self.best_state)
        elif self.ema is not None:
            self.ema.apply_to(module)


@dataclass
class StepContext:
    """Everything a training step needs; passed to a model's custom ``step_fn``."""

    module: nn.Module
    """The module to call (DDP-wrapped when distributed with the default step)."""
    raw: nn.Module
    """The unwrapped module (what is saved, averaged and validated)."""
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any]
    generator: torch.Generator
    """Noise of the objective (timesteps, reparameterisation...), seeded per run and rank."""
    cfg: TrainConfig
    device: torch.device
    dist: DistInfo
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    ema: EMA | None = None
    """The parameters' moving average, when ``train.ema_decay > 0``."""
    step: int = 0
    """Index of the step being taken (0-based)."""
    private: Any = None
    """The run's :class:`rnagen.train.privacy.PrivateTraining` when training is differentially private (its
    accountant is saved in the checkpoint)."""
    shared_noise: bool = False
    """``generator`` is one stream on every rank (a step that draws its noise with :meth:`batch_noise`), seeded as
    one process's: each profile of a global batch gets the same noise on any number of ranks."""

    def batch_noise(self, draw: Callable[..., torch.Tensor], n: int, *size: int) -> torch.Tensor:
        """``draw((n, *size), generator=...)`` for this rank's ``n`` rows of the global batch, e.g.
        ``ctx.batch_noise(torch.randn, len(xb), d)``.

        With :attr:`shared_noise` under DDP every rank draws the whole global batch's noise (its ``n * world_size``
        rows, in one process's order) from the shared stream and keeps the rows of its slice (``rank::world_size``,
        as :class:`_Batches` deals the profiles): a profile's noise is then the same on any number of ranks, so a run
        resumed on another number of processes continues an uninterrupted one's draws. Otherwise this rank's own
        stream draws its ``n`` rows."""
        if not (self.shared_noise and self.dist.enabled):
            return draw((n, *size), generator=self.generator, device=self.device)
        whole = draw((n * self.dist.world_size, *size), generator=self.generator, device=self.device)
        return whole[self.dist.rank::self.dist.world_size]

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed-precision context on CUDA when enabled, a no-op otherwise."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def all_reduce_grads(self, params: Iterable[nn.Parameter]) -> None:
        """Average gradients over ranks (for steps that do not go through a DDP wrapper)."""
        if not self.dist.enabled:
            return
        import torch.distributed as dist

        for p in params:
            if p.grad is not None:
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                p.grad.div_(self.dist.world_size)

    def backward_step(self, loss: torch.Tensor, name: str = "main",
                      params: Iterable[nn.Parameter] | None = None) -> float | None:
        """Backward, (unscale), clip, optimiser step, scheduler step. Returns the gradient norm."""
        opt = self.optimizers[name]
        if params is None:
            params = [p for g in opt.param_groups for p in g["params"]]
        self.scaler.scale(loss).backward()
        grad_norm = None
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(opt)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip))
        self.scaler.step(opt)
        self.scaler.update()
        self.schedulers[name].step()
        return grad_norm


StepFn = Callable[[StepContext, torch.Tensor, torch.Tensor], dict[str, float]]


def _default_step(ctx: StepContext, xb: torch.Tensor, yb: torch.Tensor) -> dict[str, float]:
    opt = ctx.optimizers["main"]
    opt.zero_grad(set_to_none=True)
    with ctx.autocast():
        out: LossOutput = ctx.module(xb, yb, generator=ctx.generator)
    ctx.backward_step(out.loss, "main")
    return {"loss": float(out.loss.detach()), **{k: float(v) for k, v in out.logs.items()}}


def _make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, lr: float, total: int):
    """The learning-rate schedule laid out over a budget of ``total`` steps."""
    warm = warmup_length(cfg, total)
    if cfg.lr_schedule == "onecycle":
        # Smith & Topor (2019) one-cycle, the paper's schedule; warm-up share from the warm-up length.
        pct = min(max(warm / total, 0.01), 0.5)
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=pct)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if cfg.lr_schedule == "constant":
            return 1.0
        progress = (step - warm) / max(1, total - warm)
        # cosine decay to 10% of the peak learning rate
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)

# ----------------------------------------------------------------------------------------------------------
# set-up: optimisers, mixed precision, the rank wrapper
# ----------------------------------------------------------------------------------------------------------
def _build_optimizers(raw: nn.Module, cfg: TrainConfig, param_groups: dict[str, dict[str, Any]] | None,
                      total: int) -> tuple[dict[str, torch.optim.Optimizer], dict[str, Any]]:
    """One optimiser (AdamW unless the group names another) and one schedule over ``total`` steps per group."""
    groups = param_groups or {"main": {"params": list(raw.parameters()), "lr": cfg.lr}}
    optimizers, schedulers = {}, {}
    for name, spec in groups.items():
        spec = dict(spec)
        params = list(spec.pop("params"))
        lr = float(spec.pop("lr", cfg.lr))
        opt_cls = spec.pop("optimizer", torch.optim.AdamW)
        spec.setdefault("weight_decay", cfg.weight_decay)
        optimizers[name] = opt_cls(params, lr=lr, **spec)
        schedulers[name] = _make_scheduler(optimizers[name], cfg, lr, total)
    return optimizers, schedulers


def _global_batch(batch_size: int, n: int, dist: DistInfo) -> int:
    """The global batch: capped at ``n``, divisible by the number of ranks so every rank gets an equal slice."""
    B = min(batch_size, n)
    return max(dist.world_size, B - B % dist.world_size)


def _mixed_precision(cfg: TrainConfig, device: torch.device) -> tuple[torch.dtype | None, torch.amp.GradScaler]:
    """The autocast dtype on CUDA (bf16 where supported, else fp16) and the loss scaler fp16 needs."""
    amp_dtype = None
    if cfg.amp and device.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return amp_dtype, torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)


def _module_for_ranks(raw: nn.Module, dist: DistInfo, device: torch.device, custom_step: bool) -> nn.Module:
    """The module the default step calls: DDP-wrapped under torch.distributed, else ``raw`` itself."""
    if not dist.enabled:
        return raw
    if not custom_step:
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(raw, device_ids=[device.index] if device.type == "cuda" else None)
    # A custom step has no DDP wrapper, so nothing broadcasts the initial weights: start every rank from
    # rank 0's (as DDP does), else ranks that initialised differently would never agree.
    import torch.distributed as tdist

    with torch.no_grad():
        for t in raw.state_dict().values():
            tdist.broadcast(t, src=0)
    return raw


def _make_context(raw: nn.Module, cfg: TrainConfig, *, device: torch.device, dist: DistInfo, seed: int,
                  total: int, custom_step: bool,
                  param_groups: dict[str, dict[str, Any]] | None, shared_noise: bool = False) -> StepContext:
    optimizers, schedulers = _build_optimizers(raw, cfg, param_groups, total)
    amp_dtype, scaler = _mixed_precision(cfg, device)
    call_module = _module_for_ranks(raw, dist, device, custom_step)
    # Noise for the objective (diffusion timesteps, VAE reparameterisation...): its own seeded generator,
    # different per rank so ranks do not draw identical noise for different samples; with ``shared_noise`` one
    # stream on every rank, rank 0's (one process's), from which each rank keeps its rows (StepContext.batch_noise).
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed) * 7919 + 1 + (0 if shared_noise else dist.rank))
    ema = EMA(raw, cfg.ema_decay) if cfg.ema_decay > 0 else None
    return StepContext(module=call_module, raw=raw, optimizers=optimizers, schedulers=schedulers, generator=gen,
                       cfg=cfg, device=device, dist=dist, scaler=scaler, amp_dtype=amp_dtype, ema=ema,
                       shared_noise=shared_noise)


# ----------------------------------------------------------------------------------------------------------
# progress, checkpoints and resume
# ----------------------------------------------------------------------------------------------------------
@dataclass
class _Progress:
    """What a run has done so far; saved in the checkpoint and restored on resume."""

    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    seconds_before: float = 0.0
    """Training time of the runs this one resumes."""
    started: float = field(default_factory=time.perf_counter)
    guide: tuple[int, dict[str, torch.Tensor]] | None = None
    """A fixed-length run's guide weights once taken (step, EMA weights)."""
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)
    """The logging window: each logged number's sum and count over the steps since the last training log row
    that logged it (this rank's; a resumed rank 0 also holds every rank's share from before the checkpoint)."""

    def seconds(self) -> float:
        return self.seconds_before + (time.perf_counter() - self.started)


@dataclass
class _Checkpoints:
    """Writes and reads ``run_dir / name`` for one run (identified by its fingerprint)."""

    run_dir: Path
    name: str
    fingerprint: str

    @property
    def path(self) -> Path:
        return self.run_dir / self.name

    def resume(self, ctx: StepContext, tracker: ValidationTracker | None) -> _Progress:
        """The progress saved in the checkpoint, with every state of ``ctx`` (and ``tracker``) restored."""
        verify_manifest(self.run_dir, fix=_CKPT_FIX, only=[self.name])
        state = read_checkpoint(self.path, map_location=ctx.device)
        if state.get("fingerprint", "") != self.fingerprint:
            raise RunDirError(
                f"{self.path} belongs to a run with other data or settings; use a new --out folder, "
                "or --no-resume to start this one from scratch"
            )
        try:
            ctx.raw.load_state_dict(state["module"])
            for k, o in ctx.optimizers.items():
                o.load_state_dict(state["optimizers"][k])
            for k, s in ctx.schedulers.items():
                s.load_state_dict(state["schedulers"][k])
            if ctx.ema is not None and "ema" in state:
                ctx.ema.load_state_dict(state["ema"], int(state.get("ema_updates", 0)))
            if state.get("scaler"):
                ctx.scaler.load_state_dict(state["scaler"])
            _restore_rng_states(ctx, state)
            _warn_other_world_size(ctx, len(state["noise_rng"]), int(state["step"]))
            progress = _Progress(step=int(state["step"]), history=list(state.get("history", [])),
                                 seconds_before=float(state.get("seconds", 0.0)))
            if state.get("guide"):
                progress.guide = (int(state["guide_step"]), dict(state["guide"]))
            # the window's sums pooled over the saving run's ranks go to rank 0 alone: the next row pools the ranks'
            # sums again, so it averages the steps since the last row, before and after the checkpoint. Resumed on
            # another number of ranks, they are rescaled to this one's: a step then counts as many times before the
            # checkpoint as after it (one per rank), as in an uninterrupted run. A checkpoint without them (older
            # ones) starts the window at the checkpoint.
            window = state.get("log_window") or {}
            if ctx.dist.is_main and window:
                scale = ctx.dist.world_size / int(window.get("world_size", ctx.dist.world_size))
                progress.sums = {str(k): float(v) * scale for k, v in window["sums"].items()}
                progress.counts = {str(k): float(v) * scale for k, v in window["counts"].items()}
            if tracker is not None and "validation" in state:
                tracker.load_state_dict(state["validation"])
            if ctx.private is not None:
                ctx.private.load_state_dict(state["privacy"])
            _restore_log_buffers(ctx, state.get("log_buffers") or [])
        except Exception:  # noqa: BLE001 - tensors of the wrong shape, missing entries
            raise RunDirError(f"{self.path} does not fit this model (its tensors or entries differ); "
                              f"{_CKPT_FIX}") from None
        return progress

    def save(self, ctx: StepContext, progress: _Progress, tracker: ValidationTracker | None) -> None:
        """Write the checkpoint atomically (rank 0), with every rank's noise- and global-generator states."""
        noise, global_rng = _gather_rng_states(ctx)
        sums, counts = _pooled(ctx, progress.sums, progress.counts)
        log_buffers = _gather_log_buffers(ctx)
        if not ctx.dist.is_main:
            return
        payload = {
            "step": progress.step,
            "fingerprint": self.fingerprint,
            "module": ctx.raw.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in ctx.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in ctx.schedulers.items()},
            "scaler": ctx.scaler.state_dict() if ctx.scaler.is_enabled() else {},
            "noise_rng": noise,
            # every rank's global generator, by rank (each rank draws its own dropout masks), and rank 0's alone
            # under the key that checkpoints without the per-rank list resume by
            "global_rng": global_rng[0],
            "global_rng_ranks": global_rng,
            "history": progress.history,
            # the current logging window, so the first row after a resume averages the same steps as an
            # uninterrupted run's
            "log_window": {"sums": sums, "counts": counts, "world_size": ctx.dist.world_size},
            "seconds": progress.seconds(),
            "config": asdict(ctx.cfg),
        }
        if ctx.ema is not None:
            payload["ema"] = ctx.ema.state_dict()
            payload["ema_updates"] = ctx.ema.num_updates
        if progress.guide is not None:
            payload["guide_step"], payload["guide"] = progress.guide
        if tracker is not None:
            payload["validation"] = tracker.state_dict()
        if ctx.private is not None:
            payload["privacy"] = ctx.private.state_dict()
        if log_buffers:
            payload["log_buffers"] = log_buffers
        with atomic_path(self.path, suffix=".pt") as tmp:
            torch.save(payload, tmp)
            # the manifest accepts the old and the new checkpoint until it is rewritten below, so a kill
            # between the two writes leaves a folder that still verifies
            write_manifest(self.run_dir, RUN_FILES, pending={self.name: tmp}, fingerprint=self.fingerprint)
        write_manifest(self.run_dir, RUN_FILES, fingerprint=self.fingerprint)


@contextlib.contextmanager
def _seeded_global_rng(seed: int, device: torch.device | str, dist: DistInfo):
    """torch's global generator seeded from the run's seed while it trains, and given back as it was after: what
    draws from it inside a network (``nn.Dropout``'s masks) then repeats with the seed, and a resumed run continues
    it from its checkpoint (:meth:`_Checkpoints.save`) as an uninterrupted one draws it."""
    dev = torch.device(device)
    devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed) * 104_729 + 17 + dist.rank)
        yield


def _global_rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's global generator state (CPU, and the CUDA device's where it trains there)."""
    out = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def _gather_rng_states(ctx: StepContext) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """Every rank's noise-generator state and global-generator states (:func:`_global_rng_state`), by rank, so a
    resumed DDP run continues each rank's streams. One all-gather of each rank's states laid end to end: they are
    byte tensors of the same sizes on every rank (every rank trains on the same type of device)."""
    local = {"noise": ctx.generator.get_state(), **_global_rng_state(ctx.device)}
    if not ctx.dist.enabled:
        per_rank = [local]
    else:
        import torch.distributed as tdist

        flat = torch.cat([t.reshape(-1) for t in local.values()])
        if ctx.device.type == "cuda":   # nccl needs CUDA tensors
            flat = flat.to(ctx.device)
        gathered = [torch.empty_like(flat) for _ in range(ctx.dist.world_size)]
        tdist.all_gather(gathered, flat)
        sizes = [t.numel() for t in local.values()]
        # clones: a view would save the whole gathered buffer with each state
        per_rank = [{k: part.clone() for k, part in zip(local, g.cpu().split(sizes))} for g in gathered]
    noise = [states.pop("noise") for states in per_rank]
    return noise, per_rank


def _restore_rng_states(ctx: StepContext, state: dict[str, Any]) -> None:
    """Restore this rank's noise- and global-generator states from a checkpoint.

    Rank r takes rank r's saved states, so a run resumed on as many processes as it was saved from draws what an
    uninterrupted one would. A checkpoint of fewer processes (or one with rank 0's global generator alone, no
    ``global_rng_ranks``) has no state for the others: those keep the stream seeded for them at the start
    (:func:`_seeded_global_rng`, :func:`_make_context`), distinct per rank, rather than repeat another rank's draws
    for different profiles; a checkpoint of more processes is resumed by its first ranks' states. Neither repeats
    an uninterrupted run, whose ranks draw other numbers for the same batch anyway (README, "Scaling out").
    A step with one noise stream on every rank (:attr:`StepContext.shared_noise`) takes rank 0's on every rank,
    on any number of processes."""
    rank = ctx.dist.rank
    noise = state["noise_rng"]
    if ctx.shared_noise:   # one stream on every rank: rank 0's, the same on any number of processes
        ctx.generator.set_state(noise[0].to("cpu"))
    elif rank < len(noise):
        ctx.generator.set_state(noise[rank].to("cpu"))
    saved = state.get("global_rng_ranks") or ([state["global_rng"]] if "global_rng" in state else [])
    if rank < len(saved):
        torch.set_rng_state(saved[rank]["cpu"].to("cpu"))
        if "cuda" in saved[rank] and ctx.device.type == "cuda":
            torch.cuda.set_rng_state(saved[rank]["cuda"].to("cpu"), ctx.device)


def _warn_other_world_size(ctx: StepContext, saved: int, step: int) -> None:
    """Warn (rank 0) when a checkpoint written by ``saved`` processes is resumed on another number, saying what the
    resumed run then repeats of an uninterrupted one.

    On as many processes it repeats it bit for bit. On another number it cannot: each rank averages its slice's
    gradients and the all-reduce sums the ranks' averages, floating-point additions in another order than one
    process's mean over the batch (or another number of ranks'), and layers with batch statistics (BatchNorm, a
    minibatch-standard-deviation feature) see other slices. A step drawing its noise per global batch
    (:attr:`StepContext.shared_noise`) keeps every profile's draws, so the run follows an uninterrupted one up to
    that rounding; any other step's ranks draw their own streams, so it continues with other draws."""
    if saved == ctx.dist.world_size or not ctx.dist.is_main:
        return
    what = ("it follows an uninterrupted run up to floating-point rounding (each profile keeps its noise draws; the "
            "gradients are summed in another order), not bit for bit" if ctx.shared_noise else
            "it continues correctly but with other noise draws than an uninterrupted run (each rank draws its own)")
    warnings.warn(f"resuming at step {step} a run checkpointed by {saved} process(es) on {ctx.dist.world_size}: "
                  f"{what}; resume on {saved} process(es) to repeat it exactly", UserWarning, stacklevel=2)


def _gather_log_buffers(ctx: StepContext) -> list[dict[str, torch.Tensor]]:
    """Every rank's values of the buffers its module names in ``log_buffers``, by rank (none: ``[]``).

    A module's step may log a number it keeps between steps outside its weights (the GAN logs its generator's
    latest loss at every critic step): such buffers are not in the module's ``state_dict``, so without them a
    resumed run would log their initial value until the step that sets them again."""
    names = tuple(getattr(ctx.raw, "log_buffers", ()))
    if not names:
        return []
    local = {n: getattr(ctx.raw, n).detach().cpu().clone() for n in names}
    if not ctx.dist.enabled:
        return [local]
    import torch.distributed as tdist

    out: list[Any] = [None] * ctx.dist.world_size
    tdist.all_gather_object(out, local)
    return out


def _restore_log_buffers(ctx: StepContext, saved: list[dict[str, torch.Tensor]]) -> None:
    """Restore this rank's ``log_buffers`` (:func:`_gather_log_buffers`): rank r's saved values on as many ranks as
    saved them, else the mean over the saved ranks on every rank (the pooled log averages the ranks' values, so it
    stays what it was). A checkpoint without them leaves the buffers as the module starts them."""
    if not saved:
        return
    if len(saved) == ctx.dist.world_size:
        values = saved[ctx.dist.rank]
    else:
        values = {n: torch.stack([s[n].float() for s in saved]).mean(0) for n in saved[0]}
    for n, v in values.items():
        buf = getattr(ctx.raw, n, None)
        if isinstance(buf, torch.Tensor):
            buf.copy_(v)


# ----------------------------------------------------------------------------------------------------------
# the steps: batches, the rank-averaged log, validation
# ----------------------------------------------------------------------------------------------------------
def rare_class_repeats(y: np.ndarray, share: float) -> np.ndarray | None:
    """Per profile, how often it appears in an epoch (``train.rare_share``): ``ceil(share x n / n_c)`` for the
    profiles of a class c below the share, 1 for the others; ``None`` where no class is below it."""
    if share <= 0 or len(y) == 0:
        return None
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    if len(classes) < 2 or not (counts < share * len(y)).any():
        return None
    per_class = np.where(counts < share * len(y), np.ceil(share * len(y) / counts), 1).astype(np.int64)
    return per_class[inverse]


class _Batches:
    """Global batches of a seeded permutation per epoch (a resumed run sees the batches an uninterrupted one
    would); under DDP each rank takes its slice of the global batch. ``repeats``: how often each profile is in
    an epoch's permutation (:func:`rare_class_repeats`; ``None``: once)."""

    def __init__(self, n: int, batch: int, *, seed: int, device: torch.device, dist: DistInfo,
                 repeats: np.ndarray | None = None) -> None:
        self.pool = None if repeats is None else torch.from_numpy(np.repeat(np.arange(n), repeats)).to(device)
        n = n if self.pool is None else len(self.pool)
        self.n, self.batch, self.seed, self.device, self.dist = n, batch, int(seed), device, dist
        self.per_epoch = max(1, n // batch)
        self._perm: torch.Tensor | None = None
        self._epoch = -1

    def indices(self, step: int) -> torch.Tensor:
        epoch, pos = divmod(step, self.per_epoch)
        if self._perm is None or epoch != self._epoch:  # no permutation yet, or a new epoch
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.n, generator=g).to(self.device)
            if self.pool is not None:
                self._perm = self.pool[self._perm]
            self._epoch = epoch
        idx = self._perm[pos * self.batch:(pos + 1) * self.batch]
        return idx[self.dist.rank::self.dist.world_size] if self.dist.enabled else idx


def _not_finite(ctx: StepContext, logs: dict[str, Any]) -> str | None:
    """The first logged number of this step that is not finite (``loss = nan``), else ``None``; under DDP every
    rank gets the same answer (a NaN on one rank has reached every rank's weights through the gradient
    all-reduce, and a rank that stopped alone would leave the others waiting in theirs).

    A private run reads its weights instead: its losses are statistics of the private batches, outside ε, and a
    decision to stop taken on them would release one bit of them; the weights after each step are the DP-SGD
    release itself, and reading them is post-processing. Non-finite weights are what divergence leaves.
    """
    if ctx.private is not None:
        bad = next((f"weight {name} is not finite" for name, p in ctx.raw.named_parameters()
                    if not bool(torch.isfinite(p).all())), None)
    else:
        bad = next((f"{k} = {float(v)}" for k, v in logs.items() if not math.isfinite(float(v))), None)
    if ctx.dist.enabled:
        import torch.distributed as tdist

        t = torch.tensor([0.0 if bad is None else 1.0], device=ctx.device if ctx.device.type == "cuda" else "cpu")
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
        if bad is None and float(t) > 0:
            bad = "a logged number is not finite on another process"
    return bad


def _pooled(ctx: StepContext, sums: dict[str, float], counts: dict[str, float]
            ) -> tuple[dict[str, float], dict[str, float]]:
    """The logging window's sums and counts summed over the ranks (this rank's own without DDP); every rank
    must call it."""
    if not ctx.dist.enabled:
        return dict(sums), dict(counts)
    # the names are those any rank logged: a rank whose slices were empty (a private run's Poisson batch) logged
    # fewer, and every rank must reduce the same tensor
    import torch.distributed as tdist

    names: list[list[str]] = [[] for _ in range(ctx.dist.world_size)]
    tdist.all_gather_object(names, sorted(sums))
    keys = sorted(set().union(*names))
    t = torch.tensor([[sums.get(k, 0.0), float(counts.get(k, 0))] for k in keys], dtype=torch.float64,
                     device=ctx.device if ctx.device.type == "cuda" else "cpu").reshape(len(keys), 2)
    tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
    return ({k: float(s) for k, s in zip(keys, t[:, 0].tolist())},
            {k: float(c) for k, c in zip(keys, t[:, 1].tolist())})


def _log_row(ctx: StepContext, step: int, sums: dict[str, float], counts: dict[str, float]) -> dict[str, float]:
    """The training log row of ``step``: the learning rate and the mean of each logged number over the steps
    since the last row that logged it, on every rank (a step of an empty batch logs no loss)."""
    row = {"step": step, "lr": ctx.optimizers[next(iter(ctx.optimizers))].param_groups[0]["lr"]}
    # each rank saw only its slice of the global batch: pool the ranks' sums and counts, i.e. what one process
    # training on the whole global batch would log (exact for means over equal slices)
    sums, counts = _pooled(ctx, sums, counts)
    row.update({k: sums[k] / counts[k] for k in sorted(sums) if counts.get(k)})
    return row


def _validate(ctx: StepContext, validator: Callable[[], dict[str, float]], tracker: ValidationTracker,
              progress: _Progress) -> bool:
    """Score the EMA weights (the live ones without EMA) at this step; True when training should stop.

    Every rank validates the same (synchronised) weights on the same held-out profiles, so all ranks take
    the same stopping decision without communicating. The global RNG is forked, so training draws the same
    numbers with or without validation.
    """
    raw = ctx.raw
    live = {k: v.detach().clone() for k, v in raw.state_dict().items()}
    if ctx.ema is not None:
        ctx.ema.apply_to(raw)
    raw.eval()
    with torch.random.fork_rng(devices=[ctx.device] if ctx.device.type == "cuda" else []):
        row = validator()
    weights = {k: v.detach().clone() for k, v in raw.state_dict().items()}
    raw.load_state_dict(live)
    raw.train()
    stop = tracker.check(progress.step, row, weights)
    # the check's numbers join the training log row of the same step
    if progress.history and progress.history[-1]["step"] == progress.step:
        progress.history[-1].update({f"val_{k}": float(v) for k, v in row.items()})
    return stop


def _run_steps(ctx: StepContext, step_fn: StepFn, batches: Any, X: torch.Tensor, y: torch.Tensor, *,
               total: int, progress: _Progress, checkpoints: _Checkpoints | None,
               validator: Callable[[], dict[str, float]] | None, tracker: ValidationTracker | None,
               bar: Any, guide_at: int = 0) -> None:
    """Steps from ``progress.step`` to ``total`` (or until validation stops), logging and checkpointing; at step
    ``guide_at`` (> 0) the EMA weights are kept as the run's guide."""
    cfg = ctx.cfg
    sums, counts = progress.sums, progress.counts
    ctx.raw.train()
    while progress.step < total and not (tracker is not None and tracker.stop_reason):
        idx = batches.indices(progress.step)
        ctx.step = progress.step
        logs = step_fn(ctx, X[idx], y[idx])
        bad = _not_finite(ctx, logs)
        if bad is not None:
            # NaN weights never recover: with a validated best check, training stops there and keeps it; without
            # one there is nothing to keep (NaN would reach the EMA, the checkpoint and every sample). The rates
            # named are those set (a schedule's initial_lr), not where the schedule has taken them.
            rates = {k: o.param_groups[0].get("initial_lr", o.param_groups[0]["lr"]) for k, o in ctx.optimizers.items()}
            lrs = (f"train.lr = {next(iter(rates.values())):.3g}" if len(rates) == 1 else
                   ", ".join(f"{k} {v:.3g}" for k, v in rates.items()))
            if tracker is None or tracker.best_weights is None:
                raise DivergedError(f"training diverged at step {progress.step + 1} of {total}: {bad}; lower the "
                                    f"learning rate ({lrs}) and train again")
            tracker.stop_reason = "diverged"
            tracker.diverged = f"{bad} at step {progress.step + 1}, {lrs}"
            if checkpoints is not None:   # the stop is resumed as a stop (the live weights are not used again)
                checkpoints.save(ctx, progress, tracker)
            break
        if ctx.ema is not None:
            ctx.ema.update(ctx.raw)
        progress.step += 1
        step = progress.step
        if step == guide_at:
            weights = ctx.ema.state_dict() if ctx.ema is not None else ctx.raw.state_dict()
            progress.guide = (step, {k: v.detach().clone() for k, v in weights.items()})
        for k, v in logs.items():
            sums[k] = sums.get(k, 0.0) + float(v)
            counts[k] = counts.get(k, 0) + 1
        bar.update(1)
        check = tracker is not None and (step % tracker.every == 0 or step == total)
        if step % max(1, cfg.log_every) == 0 or step == total or check:
            row = _log_row(ctx, step, sums, counts)
            progress.history.append(row)
            shown = row if ctx.private is None else {k: v for k, v in row.items() if k in PRIVATE_LOG_COLUMNS}
            bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items() if k not in ("step", "lr")})
            sums.clear()
            counts.clear()
        stopped = False
        if check and validator is not None and tracker is not None:  # a tracker exists exactly with a validator
            stopped = _validate(ctx, validator, tracker, progress)
        if checkpoints is not None and (step % max(1, cfg.checkpoint_every) == 0 or step == total or stopped):
            checkpoints.save(ctx, progress, tracker)


# ----------------------------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------------------------
def train_loop(
    module: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    *,
    device: torch.device,
    seed: int = 0,
    run_dir: str | Path | None = None,
    progress: bool = True,
    resume: bool = True,
    step_fn: StepFn | None = None,
    param_groups: dict[str, dict[str, Any]] | None = None,
    fingerprint: str = "",
    desc: str = "train",
    validator: Callable[[], dict[str, float]] | None = None,
    checkpoint_name: str = CHECKPOINT,
    privacy: Any = None,
    privacy_prior: dict[str, Any] | None = None,
    guide_fraction: float = 0.0,
) -> TrainResult:
    """Train ``module`` on ``(X, y)`` for the step budget (or until validation stops it); return its history,
    EMA weights and, with a validator, the best weights and the validation record.

    Parameters
    ----------
    module
        An ``nn.Module`` whose ``forward(x, y, generator=g)`` returns a :class:`LossOutput` (default step),
        or any module when ``step_fn`` is given.
    X, y
        Training data (float32 samples x features, int64 labels), on any device.
    step_fn
        A custom step ``step_fn(ctx, xb, yb) -> logs``; the default is one AdamW step on the loss.
    param_groups
        Optimisers to build, ``{name: {"params": ..., "lr": ..., **AdamW kwargs}}``; default
        ``{"main": {"params": module.parameters(), "lr": cfg.lr}}``.
    fingerprint
        A string identifying the data and configuration; a checkpoint written with another fingerprint is
        not resumed from (the run folder belongs to a different run).
    validator
        ``validator() -> {"score": s, ...}`` scores the module as it stands (higher is better); it is called
        with the EMA weights loaded, every ``cfg.val_every`` steps, under a forked global RNG so training
        draws the same numbers with or without it. Without one, training runs for the whole budget.
    checkpoint_name
        File name of the checkpoint inside ``run_dir``.
    privacy
        A :class:`rnagen.train.privacy.PrivacyConfig`; when enabled, DP-SGD (:mod:`rnagen.train.privacy`):
        Poisson batches, per-sample clipping and noise, the accountant saved in the checkpoint; under DDP each
        rank clips its slice of one batch and rank 0 adds the noise. Not with a validator, nor with a custom
        ``step_fn`` unless it computes per-profile gradients itself (``step_fn.private_optimizer``).
    privacy_prior
        ``{"rho": ρ, "mechanism": text}``: a Gaussian-mechanism release of ρ (:attr:`PrivacyPlan.prior_rho`)
        the model made from the same profiles before training (the diffusion model's anchor statistics); the
        accountant composes it with DP-SGD and σ is chosen for the composed target ε
        (:func:`rnagen.train.privacy.plan_privacy`).
    guide_fraction
        f > 0 keeps a worse version of the model for autoguidance (Karras et al. 2024) in ``guide_state``: the
        EMA weights at the validation check before the best nearest f x the best step, or, without a validator, at
        step f x the budget. Saved in the checkpoint with the rest. A private run's are a post-processing of its
        releases.
    """
    from ..utils import progress_bar

    dist = init_distributed(device)
    raw = module.to(device)
    n = X.shape[0]
    if n < 1:
        raise ConfigError("no training samples")
    X = X.to(device, torch.float32)
    y = y.to(device, torch.long)
    private = privacy is not None and privacy.enabled
    # a private run's batch is a Poisson draw of expected size B, its slices unequal anyway: B as one process
    # has it, so the sample rate and the epsilon are the same on any number of ranks
    B = min(cfg.batch_size, n) if private else _global_batch(cfg.batch_size, n, dist)
    total, budget_source = resolve_budget(cfg, n, B)
    # a private run calls the module without a DDP wrapper (its averaging would run before the per-profile
    # clipping); the weights start from rank 0's as a custom step's do
    # a step that draws its noise per global batch (step_fn.batch_noise) shares one noise stream across the ranks;
    # a private run's slices of its Poisson batch are unequal, so its ranks keep their own streams
    shared = bool(getattr(step_fn, "batch_noise", False)) and not private
    ctx = _make_context(raw, cfg, device=device, dist=dist, seed=seed, total=total,
                        custom_step=step_fn is not None or private, param_groups=param_groups, shared_noise=shared)
    repeats = None if private else rare_class_repeats(y.cpu().numpy(), cfg.rare_share)
    batches: Any = _Batches(n, B, seed=seed, device=device, dist=dist, repeats=repeats)
    if private:
        step_fn, batches = _make_private(ctx, privacy, n=n, batch=B, total=total, seed=seed,
                                         custom_step=step_fn, validator=validator, prior=privacy_prior)
    tracker = ValidationTracker(patience=cfg.patience, budget=total, budget_source=budget_source,
                                every=cfg.val_every or max(25, total // 20),
                                window=cfg.val_window, patience_from=cfg.patience_from,
                                guide_fraction=guide_fraction,
                                no_signal=getattr(validator, "at_floor", None)) if validator is not None else None
    # a fixed-length run takes its guide at that fraction of its budget; a validated one at a check (the tracker)
    guide_at = max(1, round(guide_fraction * total)) if guide_fraction > 0 and tracker is None else 0
    checkpoints = _Checkpoints(Path(run_dir), checkpoint_name, fingerprint) if run_dir is not None else None
    if run_dir is not None and dist.is_main:
        remove_stale_temporaries(run_dir)  # a checkpoint write interrupted by kill -9 leaves its temp file
    with _seeded_global_rng(seed, device, dist):
        done = _Progress()
        if checkpoints is not None and resume and checkpoints.path.exists():
            done = checkpoints.resume(ctx, tracker)

        done.started = time.perf_counter()
        bar = progress_bar(total=total, initial=done.step, desc=desc, disable=not progress or not dist.is_main,
                           dynamic_ncols=True, leave=False)
        _run_steps(ctx, step_fn or _default_step, batches, X, y, total=total, progress=done,
                   checkpoints=checkpoints, validator=validator, tracker=tracker, bar=bar, guide_at=guide_at)
        bar.close()
    if ctx.private is not None:
        ctx.private.detach()
    raw.eval()
    best_state, record = None, None
    if tracker is not None:
        if not tracker.stop_reason:  # resumed from a checkpoint written at the end of the budget
            tracker.stop_reason = "max_steps" if budget_source == "max_steps" else "budget"
        best_state = tracker.best_weights
        record = tracker.record(steps=done.step)
    guide = tracker.guide() if tracker is not None else done.guide
    return TrainResult(history=done.history, seconds=done.seconds(), steps=done.step, ema=ctx.ema,
                       best_state=best_state, validation=record, private=ctx.private,
                       guide_step=guide[0] if guide else 0, guide_state=guide[1] if guide else None)


def _make_private(ctx: StepContext, privacy: Any, *, n: int, batch: int, total: int, seed: int,
                  custom_step: StepFn | None, validator: Any, prior: dict[str, Any] | None = None
                  ) -> tuple[StepFn, Any]:
    """Set ``ctx`` up for DP-SGD (:mod:`rnagen.train.privacy`); the step and the Poisson batches to use. A model's
    own step takes part when it names the optimiser of the parameters that read the profiles
    (``step_fn.private_optimizer``, :meth:`rnagen.train.privacy.PrivateTraining.attach`)."""
    from .privacy import PrivateTraining, plan_privacy

    if validator is not None:
        raise ConfigError("a private run has a fixed length: choosing it on held-out private profiles spends "
                          "budget the accountant does not count; set train.val_fraction=0")
    prior = prior or {}
    plan = plan_privacy(privacy, n=n, batch_size=batch, steps=total, prior_rho=float(prior.get("rho", 0.0)),
                        prior_mechanism=str(prior.get("mechanism", "")))
    private = PrivateTraining(plan, seed=seed, reproducible=privacy.reproducible)
    private.attach(ctx, custom_step)
    ctx.private = private
    return private.step, private.batches(n, device=ctx.device)
