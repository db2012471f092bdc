"""The user-facing conditional VAE generator (registered as ``"vae"``).

Training goes through the shared :func:`rnagen.train.train_loop` (the :class:`ConditionalVAE` module's
``forward`` returns the loss, so checkpoints, resume, EMA and DDP come for free).

Sampling (section ``[sample]``, each key overridable per call) decodes a latent draw for each requested label:

- ``prior="aggregate"`` (default): z from a Gaussian fitted, per class, to the aggregate posterior of that
  class's training profiles (ex-post density estimation, Ghosh et al. 2020, "From variational to deterministic
  autoencoders"): mean and Ledoit-Wolf-shrunk covariance of the encoder means plus the average posterior
  variance (the moments of (1/n_c) sum_i N(mu_i, diag sigma_i^2)). A conditional VAE's encoder does not make
  q(z | y) match N(0, I) per class, so prior draws land where the decoder never was (holes in the prior: the
  adversarial accuracy AA_ts rises). ``prior="standard"``: z ~ N(0, I).
- ``noise=True`` (default) adds N(0, diag s^2) to the decoded mean: the decoder mean alone is a denoised
  profile and crowds the data's dense regions (density above the real-vs-real value).
  ``noise_variance="residual"``: s^2 = training residual variance (tiny when the decoder fits the training
  profiles closely); ``"matched"`` (default): the per-gene within-class variance the decoded draws lack, times
  ``noise_scale^2`` (below 1: independent per-gene noise spreads profiles in every direction at once, so the
  full gap overshoots and density falls below the real value). ``noise_covariance="full"`` draws it with the
  within-class covariance the decoded draws lack instead, keeping gene-gene co-variation.

Defaults chosen on the bundled GTEx data; the figures behind each choice, and every screened setting, are in
``benchmarks/RESULTS_baselines.md``. The paper's baseline (BatchNorm, MSE + KL, sampling from N(0, I)) is
``network.norm=batch objective.likelihood=mse objective.beta=1 sample.prior=standard sample.noise=false`` with
its widths and latent size (128).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ...config import check_number, checked
from ...errors import ConfigError
from ...train import TrainConfig, fit_validated
from ...train.privacy import PrivacyConfig
from .._base import Generator, PreprocessConfig, register
from .network import ConditionalVAE

__all__ = ["VAEModel", "VAEConfig", "VAENetworkConfig", "VAEObjectiveConfig", "VAESampleConfig",
           "covariance_gap_factor"]

MAX_NOISE_RANK = 1024
"""Most directions kept in the full-covariance observation noise (bounds its size: genes x rank floats)."""


def _pooled_centred(A: np.ndarray, lab: np.ndarray, n_labels: int) -> tuple[np.ndarray, int]:
    """Rows of ``A`` centred on their class mean (classes with >= 2 rows) and the pooled degrees of freedom."""
    parts, dof = [], 0
    for c in range(n_labels):
        a = A[lab == c]
        if len(a) > 1:
            parts.append(a - a.mean(axis=0))
            dof += len(a) - 1
    return (np.concatenate(parts) if parts else np.zeros((0, A.shape[1]))), max(dof, 1)


def covariance_gap_factor(X: np.ndarray, y: np.ndarray, D: np.ndarray, yd: np.ndarray, n_labels: int, *,
                          max_rank: int = MAX_NOISE_RANK, rtol: float = 1e-6) -> np.ndarray:
    """``F`` (genes x r) with ``F F^T`` the positive part of ``S_X - S_D``, the pooled within-class covariances
    of ``X`` (labels ``y``) and ``D`` (labels ``yd``), keeping its ``max_rank`` largest directions (those above
    ``rtol`` times the largest per-gene variance of ``X``).

    Works in the smaller of the gene space and the row space: with ``M`` the class-centred rows of both sets
    scaled by 1/sqrt(dof) and ``s`` their signs (+1 for X, -1 for D), ``S_X - S_D = M^T diag(s) M``; for more
    genes than rows it is diagonalised through a QR factor of ``M^T``, so the cost is O(min(G, n)^2 max(G, n)).
    """
    Xc, dx = _pooled_centred(np.asarray(X, np.float64), y, n_labels)
    Dc, dd = _pooled_centred(np.asarray(D, np.float64), yd, n_labels)
    M = np.concatenate([Xc / np.sqrt(dx), Dc / np.sqrt(dd)])
    sign = np.concatenate([np.ones(len(Xc)), -np.ones(len(Dc))])
    if X.shape[1] <= len(M):
        w, V = np.linalg.eigh((M.T * sign) @ M)
    else:
        Q, R = np.linalg.qr(M.T)
        w, U = np.linalg.eigh((R * sign) @ R.T)
        V = Q @ U
    # directions above rtol x the largest per-gene variance of X (not of the gap: a zero gap is rank 0, not
    # its rounding noise)
    order = np.argsort(w)[::-1][:max_rank]
    scale = float(((Xc ** 2).sum(axis=0) / dx).max()) if Xc.size else 0.0
    top = order[w[order] > rtol * scale] if scale > 0 else order[:0]
    return V[:, top] * np.sqrt(w[top])


@dataclass
@checked("network", hidden=">= 1", latent_dim=">= 1", negative_slope=">= 0", dropout="[0, 1)", label_dim=">= 0")
class VAENetworkConfig:
    """Encoder/decoder size (section ``[network]``); the decoder mirrors the encoder's widths."""

    hidden: list[int] = field(default_factory=lambda: [512, 256])
    """Encoder hidden widths, input side first (the paper's GTEx best: 4 blocks, 8192-4096-4096-2048)."""
    latent_dim: int = 16
    """Size of z (the paper: 128; 16 here, against 32 on the bundled GTEx data in
    ``benchmarks/RESULTS_baselines.md``)."""
    norm: Literal["batch", "layer", "none"] = "layer"
    """``layer`` by default: BatchNorm's eval-mode (running) statistics differ from the batch statistics the
    decoder was trained with, which raised the training reconstruction error and over-densified the samples
    on the bundled GTEx data (``benchmarks/RESULTS_baselines.md``)."""
    negative_slope: float = 0.2
    """LeakyReLU slope."""
    dropout: float = 0.0
    label_dim: int = 0
    """0: one-hot label concatenated to the inputs; > 0: a learned embedding of this size."""

    def __post_init__(self) -> None:
        if not self.hidden:
            raise ConfigError(f"network.hidden must be a non-empty list of positive widths, got {self.hidden}")


@dataclass
@checked("objective", beta=">= 0", kl_warmup_steps=">= 0")
class VAEObjectiveConfig:
    """Loss (section ``[objective]``)."""

    likelihood: Literal["gaussian", "mse"] = "gaussian"
    """``gaussian``: learned per-gene decoder variance; ``mse``: squared error (the paper's MSE + KL)."""
    beta: float = 0.3
    """Weight of the KL term (beta-VAE, Higgins et al. 2017). Below 1 the latent keeps more of each profile;
    the aggregate prior then supplies the matching latent distribution (beta screened on the bundled GTEx
    data: ``benchmarks/RESULTS_baselines.md``)."""
    kl_warmup_steps: int = 200
    """Steps over which the KL weight rises linearly from 0 to ``beta`` (0: no warm-up)."""


@dataclass
@checked("sample", noise_scale=">= 0", temperature="> 0")
class VAESampleConfig:
    """Sampling defaults (section ``[sample]``), overridable per call (``sample(..., noise=True)``)."""

    noise: bool = True
    """Add Gaussian observation noise N(0, diag s^2) to the decoded mean (``noise_variance`` says which s^2)."""
    noise_variance: Literal["residual", "matched"] = "matched"
    """``residual``: s_g^2 = the variance of the training reconstruction residuals (small when the decoder
    overfits); ``matched``: s_g^2 = the pooled within-class variance of the training data minus that of decoded
    draws from the configured ``prior`` and ``temperature`` (zero where the draws already vary enough), so the
    samples' per-gene within-class variance matches the data's."""
    noise_covariance: Literal["diagonal", "full"] = "diagonal"
    """Shape of the ``matched`` noise: ``diagonal``, independent per-gene noise; ``full``, the within-class
    covariance the decoded draws lack (its positive part, at most ``MAX_NOISE_RANK`` directions), so the noise
    follows the genes' co-variation (against ``diagonal`` on the bundled GTEx data:
    ``benchmarks/RESULTS_baselines.md``). ``residual`` noise is always diagonal. The factor (genes x rank floats) is
    computed and saved only when this is ``full`` at training time; a model trained with ``diagonal`` samples
    only diagonal noise."""
    noise_scale: float = 0.75
    """Multiplier of the observation noise's standard deviation (independent per-gene noise spreads profiles
    in every direction at once, so the full matched variance overshoots; see benchmarks/RESULTS_baselines.md)."""
    temperature: float = 1.0
    """Scale of the latent draw: z ~ N(0, temperature^2 I), or the aggregate prior's spread times this."""
    prior: Literal["standard", "aggregate"] = "aggregate"
    """Where z comes from: ``standard`` N(0, I), or ``aggregate``, a per-class Gaussian fitted to the encoder's
    posteriors of that class's training profiles after training (Ghosh et al. 2020's ex-post estimate)."""

    def __post_init__(self) -> None:
        if self.noise_covariance not in ("full", "diagonal"):
            raise ConfigError(f"sample.noise_covariance must be 'full' or 'diagonal', got "
                              f"{self.noise_covariance!r}")
        if self.noise_variance not in ("residual", "matched"):
            raise ConfigError(f"sample.noise_variance must be 'residual' or 'matched', got {self.noise_variance!r}")
        if self.prior not in ("standard", "aggregate"):
            raise ConfigError(f"sample.prior must be 'standard' or 'aggregate', got {self.prior!r}")


def _default_train() -> TrainConfig:
    # Sized for the bundled GTEx subset (416 training profiles x 467 genes) on 2 CPU cores: a fixed 1,500
    # steps of batch 64 (benchmarks/RESULTS_baselines.md). The validation-chosen length is opt-in, as for the
    # diffusion model: --set train.val_fraction=0.1 --set train.steps=none (budget: train.epochs).
    return TrainConfig(steps=1500, epochs=250.0, min_steps=500, max_steps=10000, batch_size=64, lr=1e-3,
                       weight_decay=1e-4, lr_schedule="cosine", warmup_steps=100, grad_clip=1.0,
                       ema_decay=0.995, checkpoint_every=1000, log_every=50, val_fraction=0.0, patience=6)


@dataclass
@checked(None)   # each section: an instance, or a dict built into one
class VAEConfig:
    """Configuration of the conditional VAE (one TOML table per section)."""

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    network: VAENetworkConfig = field(default_factory=VAENetworkConfig)
    objective: VAEObjectiveConfig = field(default_factory=VAEObjectiveConfig)
    train: TrainConfig = field(default_factory=_default_train)
    sample: VAESampleConfig = field(default_factory=VAESampleConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    """DP-SGD (:mod:`rnagen.train.privacy`). A private VAE's decoder variance is fixed at 1 (not learned: a
    parameter outside a layer gets no per-sample gradient), and its sampler is fitted on no private data:
    the standard prior N(0, I) and unit-variance observation noise times ``sample.noise_scale`` (the aggregate
    prior and the matched or residual noise are statistics of the training profiles outside the budget)."""

    def __post_init__(self) -> None:
        if self.train.members > 1:
            raise ConfigError("train.members trains a mixture of diffusion networks; the vae trains one (remove "
                              "train.members)")
        if self.privacy.enabled and self.sample.noise_covariance == "full":
            raise ConfigError("sample.noise_covariance=full is fitted on the training profiles, outside a private "
                              "run's budget; use sample.noise_covariance=diagonal with privacy")


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
    supports_space = True

    def _build(self) -> None:
        cfg: VAEConfig = self.config
        n, o = cfg.network, cfg.objective
        self.net = ConditionalVAE(self.space_dim, self.n_labels, hidden=n.hidden, latent_dim=n.latent_dim,
                                  norm=n.norm, negative_slope=n.negative_slope, dropout=n.dropout,
                                  label_dim=n.label_dim, likelihood=o.likelihood, beta=o.beta,
                                  kl_warmup_steps=o.kl_warmup_steps)
        if self.device is not None:
            self.net.to(self.device)

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, run_dir: Path | None, progress: bool,
             resume: bool) -> None:
        # in a principal-component space (preprocess.space) the whole VAE, its validation and its sampler's noise
        # work on the scores, fitted to every training profile (a held-out share for the length included)
        self._fit_space(X, y, self._choose_space(X, y, seed), seed=seed)
        if self.codec is not None:
            X = self._encode(X)

        def setup(Xt: np.ndarray, yt: np.ndarray):
            with torch.random.fork_rng(devices=[]):  # initial weights from the seed, global RNG untouched
                torch.manual_seed(seed)
                self._build()
            if private and isinstance(self.net.log_var, torch.nn.Parameter):
                self.net.log_var.requires_grad_(False)  # see VAEConfig.privacy
            return self.net, {}

        private = self.config.privacy.enabled

        def generate(Xt: np.ndarray, yt: np.ndarray, yy: np.ndarray, sd: int) -> np.ndarray:
            # the sampler is fitted to the weights being validated, then draws as sample() does by default
            self._fit_sampler(Xt, yt, seed=seed)
            return self._sample(yy, seed=sd, batch_size=4096, progress=False, decode=False)

        assert self.device is not None  # Generator.fit resolves it for every torch model
        result = fit_validated(setup, generate, X, y, self._train_config(), device=self.device, seed=seed,
                               run_dir=run_dir, progress=progress, resume=resume, fingerprint=self._fingerprint,
                               desc="vae", privacy=self.config.privacy,
                               groups=None if private else self._copy_groups(X))
        result.apply_to(self.net)  # sampling uses the best checkpoint's weights (else the EMA's)
        self.net.eval()
        if not private:  # a private model keeps the data-independent sampler (see VAEConfig.privacy)
            self._fit_sampler(X, y, seed=seed)
        self.history = result.history
        self.validation = result.validation
        self.privacy = self._privacy_record(result)
        self.train_seconds = result.seconds

    def _fit_sampler(self, X: np.ndarray, y: np.ndarray, *, seed: int) -> None:
        """Fit what sampling needs besides the weights (noise variances, aggregate prior) to ``(X, y)``."""
        self._set_noise(X, y)
        self._set_aggregate_prior(X, y)
        self._set_matched_noise(X, y, seed=seed)

    @torch.inference_mode()
    def _set_noise(self, X: np.ndarray, y: np.ndarray) -> None:
        """Observation-noise variance used by ``noise=True``: the per-gene variance of the training residuals
        x - f(mu(x, y), y) (the maximum-likelihood decoder variance for the trained decoder; the learned
        ``log_var`` of the gaussian likelihood converges too slowly to rely on in short runs)."""
        net, dev = self.net, self.device or torch.device("cpu")
        sq = torch.zeros(self.space_dim, dtype=torch.float64, device=dev)
        for s in range(0, len(X), 4096):
            xb = torch.from_numpy(X[s:s + 4096]).to(dev)
            yb = torch.from_numpy(y[s:s + 4096]).to(dev)
            mu, _ = net.encode(xb, yb)
            sq += (xb - net.decode(mu, yb)).double().pow(2).sum(0)
        net.noise_log_var.copy_(torch.log((sq / len(X)).clamp_min(1e-8)).float())

    @torch.inference_mode()
    def _set_aggregate_prior(self, X: np.ndarray, y: np.ndarray) -> None:
        """Per-class Gaussian of the aggregate posterior q(z | y=c) = (1/n_c) sum_i N(mu_i, diag sigma_i^2):
        mean = mean_i mu_i, covariance = Cov_i(mu_i) (Ledoit-Wolf shrunk: a class can have fewer profiles than
        latent dimensions) + mean_i diag sigma_i^2 (law of total variance). Stored as mean and Cholesky factor."""
        from sklearn.covariance import ledoit_wolf

        net, dev = self.net, self.device or torch.device("cpu")
        mus, variances = [], []
        for s in range(0, len(X), 4096):
            mu_b, logvar_b = net.encode(torch.from_numpy(X[s:s + 4096]).to(dev),
                                        torch.from_numpy(y[s:s + 4096]).to(dev))
            mus.append(mu_b.double().cpu().numpy())
            variances.append(logvar_b.double().exp().cpu().numpy())
        mu, var = np.concatenate(mus), np.concatenate(variances)
        d = net.latent_dim
        means, chols = np.zeros((self.n_labels, d)), np.zeros((self.n_labels, d, d))
        for c in range(self.n_labels):
            m = mu[y == c]
            cov = ledoit_wolf(m)[0] if len(m) > 1 else np.zeros((d, d))
            cov = cov + np.diag(var[y == c].mean(axis=0))
            means[c] = m.mean(axis=0)
            chols[c] = np.linalg.cholesky(cov + 1e-8 * np.eye(d))
        net.prior_mean.copy_(torch.from_numpy(means).float())
        net.prior_chol.copy_(torch.from_numpy(chols).float())

    @torch.inference_mode()
    def _set_matched_noise(self, X: np.ndarray, y: np.ndarray, *, seed: int) -> None:
        """Noise for ``noise_variance="matched"``: what noise-free decoded draws (as many per class as the class
        has profiles, at least 64; the configured ``sample.prior`` and ``sample.temperature``) lack of the
        training data's pooled within-class covariance: its diagonal (per-gene variances, floored at 1e-8)
        and its positive part as a factor (:func:`covariance_gap_factor`)."""
        s = self.config.sample
        counts = np.bincount(y, minlength=self.n_labels)
        yd = np.repeat(np.arange(self.n_labels), np.maximum(counts, 64))
        D = self.generate(torch.from_numpy(yd), seed=seed + 7919, batch_size=4096, noise=False,
                          temperature=s.temperature, prior=s.prior, decode=False).astype(np.float64)
        Xc, dx = _pooled_centred(X.astype(np.float64), y, self.n_labels)
        Dc, dd = _pooled_centred(D, yd, self.n_labels)
        gap = np.maximum((Xc ** 2).sum(axis=0) / dx - (Dc ** 2).sum(axis=0) / dd, 1e-8)
        self.net.matched_noise_log_var.copy_(torch.from_numpy(np.log(gap)).float())
        if s.noise_covariance == "full":  # only then: the factor can be large (genes x up to 1,024 floats)
            F = covariance_gap_factor(X, y, D, yd, self.n_labels)
            self.net.matched_noise_factor = torch.from_numpy(F).float().to(self.net.matched_noise_log_var.device)

    # --- sampling ----------------------------------------------------------------------------------------
    def _sample(self, y: np.ndarray, *, seed: int, batch_size: int, progress: bool, decode: bool = True,
                **options: Any) -> np.ndarray:
        valid = {"noise", "temperature", "prior", "noise_variance", "noise_scale", "noise_covariance"}
        unknown = sorted(set(options) - valid)
        if unknown:
            raise ConfigError(f"unknown sampler option(s) {unknown} for the vae; valid: {sorted(valid)}")
        s = self.config.sample
        noise = bool(s.noise if options.get("noise") is None else options["noise"])
        temp = float(check_number("temperature", s.temperature if options.get("temperature") is None
                                  else options["temperature"], "> 0"))
        prior = str(s.prior if options.get("prior") is None else options["prior"])
        if prior not in ("standard", "aggregate"):
            raise ConfigError(f"prior must be 'standard' or 'aggregate', got {prior!r}")
        nvar = str(s.noise_variance if options.get("noise_variance") is None else options["noise_variance"])
        if nvar not in ("residual", "matched"):
            raise ConfigError(f"noise_variance must be 'residual' or 'matched', got {nvar!r}")
        nscale = float(check_number("noise_scale", s.noise_scale if options.get("noise_scale") is None
                                    else options["noise_scale"], ">= 0"))
        ncov = str(s.noise_covariance if options.get("noise_covariance") is None else options["noise_covariance"])
        if ncov not in ("full", "diagonal"):
            raise ConfigError(f"noise_covariance must be 'full' or 'diagonal', got {ncov!r}")
        if ncov == "full" and s.noise_covariance != "full":
            raise ConfigError("noise_covariance='full' needs the covariance factor computed at training time: "
                              "this model was trained with sample.noise_covariance=diagonal (train with "
                              "sample.noise_covariance=full)")
        return self.generate(torch.from_numpy(np.asarray(y, dtype=np.int64)), seed=seed, batch_size=batch_size,
                             noise=noise, temperature=temp, prior=prior, noise_variance=nvar, noise_scale=nscale,
                             noise_covariance=ncov, decode=decode)

    @torch.inference_mode()
    def generate(self, y: torch.Tensor, *, seed: int, batch_size: int, noise: bool = False,
                 temperature: float = 1.0, prior: str = "standard",
                 noise_variance: str = "residual", noise_scale: float = 1.0,
                 noise_covariance: str = "diagonal", decode: bool = True) -> np.ndarray:
        """Decode prior draws for class ids ``y`` in batches (float32, transformed space; in a
        principal-component space, ``preprocess.space``, the scores decoded with each class's residual drawn
        unless ``decode`` is false).

        One seeded generator draws every batch's z (and observation noise, then the residual) in order, so the
        output is reproducible for a given (seed, batch_size).
        """
        net, dev = self.net, self.device or torch.device("cpu")
        net.eval()
        g = torch.Generator(device=dev)
        g.manual_seed(int(seed))
        sd = noise_scale * torch.exp(0.5 * (net.matched_noise_log_var if noise_variance == "matched"
                                            else net.noise_log_var))
        factor = net.matched_noise_factor if (noise_variance == "matched" and noise_covariance == "full") else None
        out, decode = self._draw_buffer(len(y), decode)
        for start in range(0, len(y), batch_size):
            yb = y[start:start + batch_size].to(dev)
            z = temperature * torch.randn((len(yb), net.latent_dim), generator=g, device=dev)
            if prior == "aggregate":  # z = m_c + L_c eps (eps already scaled by the temperature)
                # one product per class present: never a latent x latent factor per profile
                zc = torch.empty_like(z)
                for c in torch.unique(yb):
                    rows = yb == c
                    zc[rows] = net.prior_mean[c] + z[rows] @ net.prior_chol[c].T
                z = zc
            x = net.decode(z, yb)
            if noise and factor is not None:  # N(0, noise_scale^2 F F^T)
                e = torch.randn((len(yb), factor.shape[1]), generator=g, device=dev)
                x = x + noise_scale * (e @ factor.T)
            elif noise:
                x = x + sd * torch.randn(x.shape, generator=g, device=dev)
            x = self._decoded(x, yb, g, decode)
            out[start:start + len(yb)] = x.float().cpu().numpy()
        return out

    # --- persistence -------------------------------------------------------------------------------------
    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.net.state_dict())

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        # a run folder without the aggregate prior's buffers (from a version without it) keeps the standard prior
        if "matched_noise_factor" in tensors:  # its rank is the fitted one
            self.net.matched_noise_factor = torch.empty_like(tensors["matched_noise_factor"])
        elif self.config.sample.noise_covariance == "full":
            # a run folder without the noise factor (from a version without it) was trained with diagonal noise
            warnings.warn("this run folder has no full-covariance noise factor: sampling with "
                          "noise_covariance='diagonal'", stacklevel=2)
            self.config.sample.noise_covariance = "diagonal"
        tensors = {**{k: v for k, v in self.net.state_dict().items()
                      if k.startswith("prior_") or k in ("matched_noise_log_var", "matched_noise_factor")},
                   **tensors}
        self.net.load_state_dict(tensors)
        self.net.to(self.device or torch.device("cpu")).eval()

    def _extra_meta(self) -> dict[str, Any]:
        return {"n_parameters": int(sum(p.numel() for p in self.net.parameters())),
                "flops_per_profile": self.net.flops_per_sample()}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """Optuna search space: dotted config keys -> values drawn from ``trial`` (hidden widths and depth,
        latent size, KL weight beta, likelihood, sampling noise scale, learning rate)."""
        width = trial.suggest_categorical("network.width", [256, 512, 1024])
        depth = trial.suggest_int("network.depth", 1, 4)
        return {
            "network.hidden": [max(32, width // 2 ** i) for i in range(depth)],
            "network.latent_dim": trial.suggest_categorical("network.latent_dim", [16, 32, 64, 128]),
            "objective.beta": trial.suggest_float("objective.beta", 0.1, 2.0, log=True),
            "objective.likelihood": trial.suggest_categorical("objective.likelihood", ["gaussian", "mse"]),
            "sample.noise_scale": trial.suggest_float("sample.noise_scale", 0.0, 1.0),
            "train.lr": trial.suggest_float("train.lr", 1e-4, 3e-3, log=True),
        }
