"""The user-facing conditional VAE generator (registered as ``"vae"``).

Training goes through the shared :func:`rnagen.train.train_loop` (the :class:`ConditionalVAE` module's
``forward`` returns the loss, so checkpoints, resume, EMA and DDP come for free). Sampling draws z from the
prior N(0, I) for each requested label and decodes it; by default it returns the decoder mean f(z, y), and
``noise=True`` adds Gaussian observation noise N(0, s_g^2), s_g^2 being the per-gene residual variance of
the training reconstructions (without it the decoder mean under-disperses: on a 2-D mixture the per-class sd
comes out 0.1 instead of 0.5; with it, 0.5).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ...errors import ConfigError
from ...train import TrainConfig, train_loop
from .._base import Generator, PreprocessConfig, register
from .network import ConditionalVAE

__all__ = ["VAEModel", "VAEConfig", "VAENetworkConfig", "VAEObjectiveConfig", "VAESampleConfig"]


@dataclass
class VAENetworkConfig:
    """Encoder/decoder size (section ``[network]``); the decoder mirrors the encoder's widths."""

    hidden: list[int] = field(default_factory=lambda: [512, 256])
    """Encoder hidden widths, input side first (the paper's GTEx best: 4 blocks, 8192-4096-4096-2048)."""
    latent_dim: int = 32
    """Size of z (the paper: 128)."""
    norm: Literal["batch", "layer", "none"] = "batch"
    negative_slope: float = 0.2
    """LeakyReLU slope."""
    dropout: float = 0.0
    label_dim: int = 0
    """0: one-hot label concatenated to the inputs; > 0: a learned embedding of this size."""

    def __post_init__(self) -> None:
        if not self.hidden or any(w < 1 for w in self.hidden):
            raise ConfigError(f"network.hidden must be a non-empty list of positive widths, got {self.hidden}")
        if self.latent_dim < 1 or self.label_dim < 0:
            raise ConfigError(f"network.latent_dim must be >= 1 and label_dim >= 0, got "
                              f"{self.latent_dim}, {self.label_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"network.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class VAEObjectiveConfig:
    """Loss (section ``[objective]``)."""

    likelihood: Literal["gaussian", "mse"] = "gaussian"
    """``gaussian``: learned per-gene decoder variance; ``mse``: squared error (the paper's MSE + KL)."""
    beta: float = 1.0
    """Weight of the KL term (beta-VAE, Higgins et al. 2017)."""
    kl_warmup_steps: int = 200
    """Steps over which the KL weight rises linearly from 0 to ``beta`` (0: no warm-up)."""

    def __post_init__(self) -> None:
        if self.beta < 0 or self.kl_warmup_steps < 0:
            raise ConfigError(f"objective.beta and kl_warmup_steps must be >= 0, got {self.beta}, "
                              f"{self.kl_warmup_steps}")


@dataclass
class VAESampleConfig:
    """Sampling defaults (section ``[sample]``), overridable per call (``sample(..., noise=True)``)."""

    noise: bool = False
    """Add the decoder's Gaussian observation noise to the decoded mean."""
    temperature: float = 1.0
    """Standard deviation of the prior draw z ~ N(0, temperature^2 I)."""

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ConfigError(f"sample.temperature must be > 0, got {self.temperature}")


def _default_train() -> TrainConfig:
    # Sized for the bundled GTEx subset (416 training profiles x 467 genes) on 2 CPU cores;
    # see BENCHMARKS.md ("Baselines").
    return TrainConfig(steps=3000, batch_size=64, lr=1e-3, weight_decay=1e-4, lr_schedule="cosine",
                       warmup_steps=100, grad_clip=1.0, ema_decay=0.995, checkpoint_every=1000, log_every=50)


@dataclass
class VAEConfig:
    """Configuration of the conditional VAE (one TOML table per section)."""

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    network: VAENetworkConfig = field(default_factory=VAENetworkConfig)
    objective: VAEObjectiveConfig = field(default_factory=VAEObjectiveConfig)
    train: TrainConfig = field(default_factory=_default_train)
    sample: VAESampleConfig = field(default_factory=VAESampleConfig)


@register
class VAEModel(Generator):
    """Conditional variational autoencoder for expression profiles (a baseline of Lacan et al. 2026).

    Examples
    --------
    >>> model = VAEModel.from_config(overrides=["train.steps=1000"])   # doctest: +SKIP
    >>> model.fit(adata, label_key="tissue", seed=0)                  # doctest: +SKIP
    >>> syn = model.sample(n_per_label=100, seed=1)                   # doctest: +SKIP
    """

    name = "vae"
    config_cls = VAEConfig

    net: ConditionalVAE

    def _build(self) -> None:
        cfg: VAEConfig = self.config
        n, o = cfg.network, cfg.objective
        self.net = ConditionalVAE(self.n_genes, self.n_labels, hidden=n.hidden, latent_dim=n.latent_dim,
                                  norm=n.norm, negative_slope=n.negative_slope, dropout=n.dropout,
                                  label_dim=n.label_dim, likelihood=o.likelihood, beta=o.beta,
                                  kl_warmup_steps=o.kl_warmup_steps)
        if self.device is not None:
            self.net.to(self.device)

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, run_dir: Path | None, progress: bool,
             resume: bool) -> None:
        with torch.random.fork_rng(devices=[]):  # initial weights from the seed, global RNG untouched
            torch.manual_seed(seed)
            self._build()
        result = train_loop(self.net, torch.from_numpy(X), torch.from_numpy(y), self.config.train,
                            device=self.device, seed=seed, run_dir=run_dir, progress=progress, resume=resume,
                            fingerprint=self.fingerprint(X), desc="vae")
        if result.ema is not None:
            result.ema.apply_to(self.net)  # sampling uses the EMA weights
        self.net.eval()
        self._set_noise(X, y)
        self.history = result.history
        self.train_seconds = result.seconds

    @torch.inference_mode()
    def _set_noise(self, X: np.ndarray, y: np.ndarray) -> None:
        """Observation-noise variance used by ``noise=True``: the per-gene variance of the training residuals
        x - f(mu(x, y), y) (the maximum-likelihood decoder variance for the trained decoder; the learned
        ``log_var`` of the gaussian likelihood converges too slowly to rely on in short runs)."""
        net, dev = self.net, self.device or torch.device("cpu")
        sq = torch.zeros(self.n_genes, dtype=torch.float64, device=dev)
        for s in range(0, len(X), 4096):
            xb = torch.from_numpy(X[s:s + 4096]).to(dev)
            yb = torch.from_numpy(y[s:s + 4096]).to(dev)
            mu, _ = net.encode(xb, yb)
            sq += (xb - net.decode(mu, yb)).double().pow(2).sum(0)
        net.noise_log_var.copy_(torch.log((sq / len(X)).clamp_min(1e-8)).float())

    # --- sampling ----------------------------------------------------------------------------------------
    def _sample(self, y: np.ndarray, *, seed: int, batch_size: int, progress: bool, **options: Any) -> np.ndarray:
        valid = {"noise", "temperature"}
        unknown = sorted(set(options) - valid)
        if unknown:
            raise ConfigError(f"unknown sampler option(s) {unknown} for the vae; valid: {sorted(valid)}")
        s = self.config.sample
        noise = bool(s.noise if options.get("noise") is None else options["noise"])
        temp = float(s.temperature if options.get("temperature") is None else options["temperature"])
        if temp <= 0:
            raise ConfigError(f"temperature must be > 0, got {temp}")
        return self.generate(torch.from_numpy(np.asarray(y, dtype=np.int64)), seed=seed, batch_size=batch_size,
                             noise=noise, temperature=temp)

    @torch.inference_mode()
    def generate(self, y: torch.Tensor, *, seed: int, batch_size: int, noise: bool = False,
                 temperature: float = 1.0) -> np.ndarray:
        """Decode prior draws for class ids ``y`` in batches (float32, transformed space).

        One seeded generator draws every batch's z (and observation noise) in order, so the output is
        reproducible for a given (seed, batch_size).
        """
        net, dev = self.net, self.device or torch.device("cpu")
        net.eval()
        g = torch.Generator(device=dev)
        g.manual_seed(int(seed))
        sd = torch.exp(0.5 * net.noise_log_var)
        out = np.empty((len(y), self.n_genes), dtype=np.float32)
        for start in range(0, len(y), batch_size):
            yb = y[start:start + batch_size].to(dev)
            z = temperature * torch.randn((len(yb), net.latent_dim), generator=g, device=dev)
            x = net.decode(z, yb)
            if noise:
                x = x + sd * torch.randn(x.shape, generator=g, device=dev)
            out[start:start + len(yb)] = x.float().cpu().numpy()
        return out

    # --- persistence -------------------------------------------------------------------------------------
    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.net.state_dict())

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict(tensors)
        self.net.to(self.device or torch.device("cpu")).eval()

    def _extra_meta(self) -> dict[str, Any]:
        return {"n_parameters": int(sum(p.numel() for p in self.net.parameters())),
                "flops_per_profile": self.net.flops_per_sample()}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        width = trial.suggest_categorical("network.width", [256, 512, 1024])
        depth = trial.suggest_int("network.depth", 1, 4)
        return {
            "network.hidden": [max(32, width // 2 ** i) for i in range(depth)],
            "network.latent_dim": trial.suggest_categorical("network.latent_dim", [16, 32, 64, 128]),
            "objective.beta": trial.suggest_float("objective.beta", 0.1, 2.0, log=True),
            "objective.likelihood": trial.suggest_categorical("objective.likelihood", ["gaussian", "mse"]),
            "train.lr": trial.suggest_float("train.lr", 1e-4, 3e-3, log=True),
        }
