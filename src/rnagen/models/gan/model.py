"""The user-facing conditional WGAN-GP generator (registered as ``"wgan-gp"``).

Training goes through the shared :func:`rnagen.train.train_loop` with this model's own step
(:func:`~.network.wgan_gp_step`) and two optimisers (``param_groups``): one loop step is one critic update
on one global batch, and every ``n_critic``-th step also updates the generator, so ``train.steps`` counts
critic steps and the generator takes ``steps // n_critic``. Checkpoints, resume, EMA (of both networks;
sampling uses the generator's average, Yazici et al. 2019) and multi-process training come from the loop.

Defaults are sized for a CPU and a few hundred profiles, chosen on the bundled GTEx data (the comparisons,
with their commands, are in ``benchmarks/RESULTS_baselines.md``):

- a projection critic (Miyato & Koyama 2018: the label enters as an inner product of a class embedding with
  the critic's features, which scores class membership directly) with LayerNorm, since the per-sample
  gradient penalty rules out batch statistics in the critic (Gulrajani et al. 2017, section 4);
- a LayerNorm generator whose output adds a per-class offset initialised at the training class means, so the
  MLP learns the within-class variation instead of spending its steps reaching the class centres;
- Adam with betas (0, 0.9) (Gulrajani et al. 2017, Algorithm 1) and one critic step per generator step: on a
  few hundred profiles the generator needs the updates more than the critic does.

Output noise (``[sample]``, :class:`GANSampleConfig`): the generator maps a 32-dimensional noise vector
onto the profiles, so its samples lie closer together than real profiles do (over-dense; each one's nearest
neighbour is another synthetic profile). Gaussian noise added to its outputs spreads them, as a VAE's
observation noise does; by default (``sample.noise=auto``) its scale is chosen on a tenth of each class held
out from training, with the fidelity score that chooses the diffusion model's length.

The paper's baseline is ``network.critic_conditioning=concat network.class_bias=false
network.generator_norm=batch gan.optimizer=rmsprop gan.n_critic=5 gan.copy_penalty=0 sample.noise=0`` with its
widths and learning rates.

Memorisation and the copy repulsion (on by default): on small training sets the generator produces near
copies of training profiles, mostly through the weight average that sampling uses (a plausible reading: the
live generator moves around each training profile and its average lands on it; the diagnosis is in
``benchmarks/RESULTS_baselines.md``, "where the copies come from"). ``gan.copy_penalty`` therefore judges the
*averaged* generator: for each noise vector whose averaged output lies within ``copy_quantile``'s radius of a
training profile, the live generator's output for it is pushed straight away from that profile
(:func:`~.network.copy_repulsion`, a repulsive variant of the memorisation rejection of Bai et al. 2021). The
training profiles stay in memory for this (never in the run folder); ``gan.copy_penalty=0`` turns it off. It
is a guard for high-dimensional profiles: on a 2-D mixture it distorts the fragile small GAN
(tests/models/test_registry.py). The DCR share stays high with it (the profiles remain nearer the training
set than held-out ones are), so check the ``near_copy_share`` and ``dcr_share`` indicators before sharing any
generator's output.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ...config import check_number, checked
from ...errors import ConfigError
from ...train import FidelityValidator, TrainConfig, fit_validated, stratified_holdout
from ...train.privacy import PrivacyConfig
from .._base import Generator, PreprocessConfig, register
from ..gaussian import FULL_COVARIANCE_MAX_GENES, anchor_statistics
from .network import WGANGP, CondCritic, CondGenerator, wgan_gp_step

__all__ = ["WGANGPModel", "WGANGPConfig", "GANNetworkConfig", "GANConfig", "GANSampleConfig", "NOISE_GRID",
           "nearest_other_distance"]


def nearest_other_distance(X: torch.Tensor | np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distance of each row of ``X`` (or of the rows indexed by ``rows``) to its nearest other row
    of ``X`` (leave-one-out; a duplicated row has distance 0), with the metrics' blocked nearest-neighbour
    search."""
    from ...metrics._knn import knn, knn_radius

    X = np.asarray(X, dtype=np.float32)
    if len(X) < 2:
        raise ConfigError("gan.copy_penalty needs at least 2 training profiles")
    if rows is None:
        return knn_radius(X, k=1)
    rows = np.asarray(rows)
    d, idx = knn(X[rows], X, k=2)  # the row itself is among its two nearest (distance 0, or tied at 0)
    return np.where(idx[:, 0] == rows, d[:, 1], d[:, 0])


@dataclass
@checked("network", noise_dim=">= 1", generator_hidden=">= 1", critic_hidden=">= 1", negative_slope=">= 0",
         label_dim=">= 0", critic_minibatch_std=">= 0")
class GANNetworkConfig:
    """Generator and critic sizes (section ``[network]``)."""

    noise_dim: int = 32
    """Size of the generator's noise vector (the paper: 32)."""
    generator_hidden: list[int] = field(default_factory=lambda: [256, 512])
    """Generator hidden widths (the paper's GTEx best: 128-1024-4096)."""
    critic_hidden: list[int] = field(default_factory=lambda: [256, 128])
    """Critic hidden widths (the paper's GTEx best: 8192-256; 512-256 against 256-128 on the bundled data:
    ``benchmarks/RESULTS_baselines.md``)."""
    generator_norm: Literal["batch", "layer", "none"] = "layer"
    critic_norm: Literal["layer", "none"] = "layer"
    """No BatchNorm in the critic: the per-sample gradient penalty needs per-sample outputs."""
    negative_slope: float = 0.2
    label_dim: int = 0
    """0: one-hot label concatenated to the inputs; > 0: a learned embedding of this size."""
    critic_conditioning: Literal["concat", "projection"] = "projection"
    """How the critic sees the label: concatenated to the profile, or ``projection`` (Miyato & Koyama 2018)."""
    critic_minibatch_std: int = 0
    """Group size of the critic's minibatch standard-deviation feature (Karras et al. 2018; 0: none): the critic
    sees how varied each group of generated profiles is, against real groups with the same labels
    (:class:`~.network.CondCritic`)."""
    class_bias: bool = True
    """Add a learned per-class output offset to the generator, initialised to the training class means."""

    def __post_init__(self) -> None:
        if self.critic_conditioning not in ("concat", "projection"):
            raise ConfigError(f"network.critic_conditioning must be 'concat' or 'projection', got "
                              f"{self.critic_conditioning!r}")
        for key in ("generator_hidden", "critic_hidden"):
            v = getattr(self, key)
            if not v:
                raise ConfigError(f"network.{key} must be a non-empty list of positive widths, got {v}")


@dataclass
@checked("gan", n_critic=">= 1", gp_weight=">= 0", drift=">= 0", adam_beta1="[0, 1)", lr_generator="> 0",
         lr_critic="> 0", copy_penalty=">= 0", copy_quantile="(0, 1)", anchor_epsilon_share="(0, 1)")
class GANConfig:
    """The adversarial game (section ``[gan]``)."""

    n_critic: int = 1
    """Critic steps per generator step (the paper and Gulrajani et al.: 5; 1 here: on a few hundred profiles
    the generator needs the updates more than the critic does; 1 against 2 and 5 on the bundled GTEx data:
    ``benchmarks/RESULTS_baselines.md``)."""
    gp_weight: float = 10.0
    """Gradient-penalty weight lambda (Gulrajani et al. 2017: 10)."""
    drift: float = 0.0
    """Weight of the critic drift penalty E[D(x)^2] (Karras et al. 2018: 1e-3); 0 disables."""
    optimizer: Literal["adam", "rmsprop"] = "adam"
    """``adam`` with betas (``adam_beta1``, 0.9) as Gulrajani et al., or ``rmsprop`` as the paper's best runs."""
    adam_beta1: float = 0.0
    """Adam's first-moment decay (Gulrajani et al. 2017: 0.5 on images, 0.0 in their later experiments)."""
    lr_generator: float | None = None
    """Generator learning rate; unset = ``train.lr``."""
    lr_critic: float | None = None
    """Critic learning rate; unset = ``train.lr``."""
    copy_penalty: float | None = None
    """Weight of the copy repulsion in the generator loss (0 disables): a generated profile nearer a training
    profile than ``copy_quantile``'s radius is pushed away from it (:func:`~.network.copy_repulsion`); at
    weight w the push is w times the critic's Lipschitz bound. Near-copy shares with and without it:
    ``benchmarks/RESULTS_baselines.md``. Unset: 3.0, and 0 in a private run (the repulsion reads the training
    profiles outside the guarantee; an explicit weight is refused there)."""
    copy_quantile: float = 0.05
    """The repulsion radius: this quantile of the training profiles' distances to their nearest other
    training profile (a real profile is that close to another only this often). A larger radius brings the
    density down at the cost of adversarial accuracy (0.05 against 0.2: ``benchmarks/RESULTS_baselines.md``)."""
    anchor: Literal["none", "diag", "full", "auto"] = "auto"
    """The generator's output as a per-class Gaussian draw plus its residual (:class:`~.network.CondGenerator`):
    ``full`` (each class's covariance), ``diag`` (per-gene variances) or ``none``. Without privacy the
    statistics are the training profiles' (the per-class Gaussian floor's Ledoit-Wolf covariance, or the
    variances); with ``privacy.epsilon`` the private Gaussian's noisy, clipped statistics at
    ``anchor_epsilon_share`` of ε, as the private diffusion model's anchor
    (:func:`rnagen.models.gaussian.anchor_statistics`). ``auto``: ``full`` with ``privacy.epsilon``
    (``diag`` above 4,000 genes), else ``none`` (the non-private default was chosen without it)."""
    anchor_epsilon_share: float = 0.8
    """With ``privacy.epsilon``: the share of ε the anchor's statistics spend on their own by the run's
    accountant (with ``gan.anchor=none``: the class means the generator's class offsets start from); DP-SGD on
    the critic gets the rest, the two composed to ``privacy.epsilon``. With ``privacy.noise_multiplier`` (no
    target ε to share) nothing is released: no anchor, the offsets start at 0."""
    copy_target: Literal["ema", "live"] = "ema"
    """Whose copies are penalised: ``ema``, the averaged generator that sampling uses (its distances decide,
    the live generator's outputs for the same noise are pushed), or ``live``, the generator being trained.
    Without an average (``train.ema_decay=0``) both are the live generator."""

    def __post_init__(self) -> None:
        if self.copy_target not in ("ema", "live"):
            raise ConfigError(f"gan.copy_target must be 'ema' or 'live', got {self.copy_target!r}")
        if self.anchor not in ("none", "diag", "full", "auto"):
            raise ConfigError(f"gan.anchor must be none, diag, full or auto, got {self.anchor!r}")


#: the output-noise scales :class:`GANSampleConfig`'s ``noise="auto"`` scores on the held-out profiles
NOISE_GRID = tuple(round(0.05 * i, 2) for i in range(13))


@dataclass
@checked("sample", holdout="(0, 1)")
class GANSampleConfig:
    """Sampling (section ``[sample]``): Gaussian noise added to the generator's outputs.

    A WGAN generator maps a low-dimensional noise vector onto a thin set of profiles: its samples sit closer
    together than real profiles do (over-dense, each synthetic profile's nearest neighbour another synthetic
    one). Adding N(0, s^2 I) to each output, in the model's transformed space (per gene, in units of the
    training standard deviation after the default scaler), spreads them off that set, as the observation noise
    of a VAE decoder does; with ``s`` too large the samples leave the data altogether. ``auto`` chooses ``s``
    on held-out profiles: ``holdout`` of each class is set aside before training (stratified,
    :func:`rnagen.train.stratified_holdout`, the copies of one profile on one side), the generator trains on
    the rest, and each scale of
    :data:`NOISE_GRID` is scored on the held-out profiles with the fidelity score that chooses the diffusion
    model's length (:class:`rnagen.train.FidelityValidator`: density, coverage and the adversarial accuracy
    halves against their real-vs-real values); the best is kept and recorded in ``meta.json``. A set too
    small to hold out enough profiles trains on all of them with no noise. Comparisons:
    ``benchmarks/RESULTS_baselines.md``."""

    noise: float | Literal["auto"] = "auto"
    """Standard deviation ``s`` of the output noise (0: the generator's outputs as they are), or ``auto``."""
    holdout: float = 0.1
    """Share of each class held out to choose ``s`` when ``noise = "auto"`` (the generator trains on the rest)."""

    def __post_init__(self) -> None:
        if self.noise != "auto" and not float(self.noise) >= 0:
            raise ConfigError(f"config key 'sample.noise' must be auto or a number >= 0, got {self.noise!r}")


def _default_train() -> TrainConfig:
    # Sized for the bundled GTEx subset (416 training profiles x 467 genes) on 2 CPU cores; steps count critic
    # steps. No weight decay or clipping: the gradient penalty is the critic's regulariser. A fixed 8,000
    # steps of batch 64 (benchmarks/RESULTS_baselines.md); the validation-chosen length is opt-in:
    # --set train.val_fraction=0.1 --set train.steps=none (budget: train.epochs).
    return TrainConfig(steps=8000, epochs=1200.0, min_steps=1000, max_steps=20000, batch_size=64, lr=5e-4,
                       weight_decay=0.0, lr_schedule="constant", warmup_steps=0, grad_clip=0.0,
                       ema_decay=0.999, checkpoint_every=1000, log_every=100, val_fraction=0.0, patience=6)


@dataclass
@checked(None)   # each section: an instance, or a dict built into one
class WGANGPConfig:
    """Configuration of the conditional WGAN-GP (one TOML table per section)."""

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    network: GANNetworkConfig = field(default_factory=GANNetworkConfig)
    gan: GANConfig = field(default_factory=GANConfig)
    train: TrainConfig = field(default_factory=_default_train)
    sample: GANSampleConfig = field(default_factory=GANSampleConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    """DP-SGD on the critic, the only network that reads the profiles (:mod:`rnagen.train.privacy`;
    :func:`~.network.per_sample_critic_grads` computes each profile's gradient, gradient penalty included). The
    generator learns from the critic alone (post-processing) as a residual on the private per-class Gaussian
    (``gan.anchor=auto``; with ``gan.anchor=none`` its class offsets start from private class means), it has no
    copy repulsion, and ``sample.noise=auto`` adds no output noise (it would choose it on held-out private
    profiles)."""

    def __post_init__(self) -> None:
        if self.train.members > 1:
            raise ConfigError("train.members trains a mixture of diffusion networks; the wgan-gp trains one (remove "
                              "train.members)")
        if not self.privacy.enabled:
            return
        if self.gan.anchor in ("diag", "full") and self.privacy.epsilon is None:
            raise ConfigError("gan.anchor splits privacy.epsilon between the anchor's statistics and DP-SGD; set "
                              "privacy.epsilon instead of privacy.noise_multiplier (or gan.anchor=auto, no anchor "
                              "then)")
        if self.network.generator_norm == "batch":
            raise ConfigError("network.generator_norm=batch normalises the generated partners of a private batch by "
                              "that batch's statistics (and keeps them in its running means), outside the privacy "
                              "guarantee; use network.generator_norm=layer with privacy")
        if self.network.critic_minibatch_std > 0:
            raise ConfigError("network.critic_minibatch_std mixes the profiles of a batch in the critic, so no "
                              "per-profile clipping bounds one profile's influence; set it to 0 with privacy")
        if self.gan.copy_penalty:
            raise ConfigError("gan.copy_penalty reads the training profiles in the generator's updates, outside the "
                              "privacy guarantee; leave it unset (0 with privacy)")


@register
class WGANGPModel(Generator):
    """Conditional Wasserstein GAN with gradient penalty for expression profiles (a baseline of Lacan et al.).

    Examples
    --------
    >>> model = WGANGPModel.from_config(overrides=["train.steps=2000"])  # doctest: +SKIP
    >>> model.fit(adata, label_key="tissue", seed=0)                    # doctest: +SKIP
    >>> syn = model.sample(n_per_label=100, seed=1)                     # doctest: +SKIP
    """

    name = "wgan-gp"
    config_cls = WGANGPConfig

    gan: WGANGP
    supports_space = True
    #: the output noise's standard deviation in use (``sample.noise``, or the scale ``auto`` chose)
    output_noise: float = 0.0
    #: how ``sample.noise = "auto"`` chose it (held-out profiles, the score of each scale), for meta.json
    noise_choice: dict[str, Any] | None = None

    def _build(self) -> None:
        n, c = self.config.network, self.config.gan
        G = CondGenerator(self.space_dim, self.n_labels, noise_dim=n.noise_dim, hidden=n.generator_hidden,
                          norm=n.generator_norm, negative_slope=n.negative_slope, label_dim=n.label_dim,
                          class_bias=n.class_bias, anchor=self._anchor_kind())
        D = CondCritic(self.space_dim, self.n_labels, hidden=n.critic_hidden, norm=n.critic_norm,
                       negative_slope=n.negative_slope, label_dim=n.label_dim,
                       conditioning=n.critic_conditioning, minibatch_std=n.critic_minibatch_std)
        self.gan = WGANGP(G, D, n_critic=c.n_critic, gp_weight=c.gp_weight, drift=c.drift,
                          copy_penalty=self._copy_penalty(), copy_target=c.copy_target)
        if self.device is not None:
            self.gan.to(self.device)

    def _anchor_kind(self) -> Literal["none", "diag", "full"]:
        """The anchor built (``gan.anchor``, ``auto`` resolved): ``full`` with ``privacy.epsilon`` up to
        4,000 dimensions (genes, or principal components), ``diag`` above, ``none`` otherwise; an explicit
        private ``full`` above 4,000 is ``diag`` too (the private Gaussian releases no correlation there)."""
        kind, p = self.config.gan.anchor, self.config.privacy
        many = self.space_dim > FULL_COVARIANCE_MAX_GENES
        if kind == "auto":
            return ("diag" if many else "full") if p.enabled and p.epsilon is not None else "none"
        if kind == "full" and p.enabled and many:
            return "diag"
        return kind

    def _privacy_release_share(self) -> float:
        """``gan.anchor_epsilon_share`` where the generator starts from released statistics: its anchor, or the
        class means of its per-class offsets (:meth:`_class_means`)."""
        released = self.config.gan.anchor != "none" or self.config.network.class_bias
        return self.config.gan.anchor_epsilon_share if released else 0.0

    def _copy_penalty(self) -> float:
        """``gan.copy_penalty``, unset: 3.0, or 0 in a private run (see :class:`GANConfig`)."""
        c = self.config.gan.copy_penalty
        return float(c) if c is not None else 0.0 if self.config.privacy.enabled else 3.0

    def _param_groups(self) -> dict[str, dict[str, Any]]:
        c, t = self.config.gan, self.config.train
        if c.optimizer == "adam":
            opt = {"optimizer": torch.optim.Adam, "betas": (c.adam_beta1, 0.9)}
        else:
            opt = {"optimizer": torch.optim.RMSprop}
        return {
            "critic": {"params": list(self.gan.critic.parameters()), "lr": c.lr_critic or t.lr, **opt},
            "generator": {"params": list(self.gan.generator.parameters()), "lr": c.lr_generator or t.lr, **opt},
        }

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, run_dir: Path | None, progress: bool,
             resume: bool) -> None:
        # in a principal-component space (preprocess.space) the whole GAN, its validation and its output noise
        # work on the scores, fitted to every training profile (the held-out ones of the length and the noise
        # choice included: the directions, not the network, see them)
        private = self.config.privacy.enabled
        # the output noise's hold-out (sample.noise=auto) is set aside before the length's, with the copies of one
        # profile (a sample in the data twice) on one side: a held-out copy of a training profile would choose the
        # noise that keeps the generator's reproductions of its training profiles nearest the held-out ones
        auto = self.config.sample.noise == "auto"
        groups = self._copy_groups(X) if auto and not private else None
        held = (stratified_holdout(y, fraction=self.config.sample.holdout, seed=seed, groups=groups)
                if auto and not private else None)
        self._fit_space(X, y, self._choose_space(X, y, seed, fit_rows=held[0] if held is not None else None,
                                                 groups=groups), seed=seed)
        if self.codec is not None:
            X = self._encode(X)

        if self.config.gan.anchor == "full" and not private and X.shape[1] > FULL_COVARIANCE_MAX_GENES:
            raise ConfigError(f"gan.anchor=full keeps a genes x genes covariance per class, too large for "
                              f"{X.shape[1]} genes (at most {FULL_COVARIANCE_MAX_GENES}); use gan.anchor=diag")

        def setup(Xt: np.ndarray, yt: np.ndarray):
            with torch.random.fork_rng(devices=[]):  # initial weights from the seed, global RNG untouched
                torch.manual_seed(seed)
                self._build()
            kw: dict[str, Any] = {}
            if (kind := self._anchor_kind()) != "none":
                (a_mean, a_eig, a_basis), a_prior = anchor_statistics(
                    Xt, yt, self.n_labels, kind=kind, epsilon_share=self.config.gan.anchor_epsilon_share,
                    privacy=self.config.privacy, seed=seed, stream=0x6A4E, pooled=False,
                    what="the generator's anchor:")
                self.gan.generator.set_anchor(torch.from_numpy(a_mean).float(), torch.from_numpy(a_eig).float(),
                                              None if a_basis is None else torch.from_numpy(a_basis).float())
                if a_prior is not None:
                    kw["privacy_prior"] = a_prior
            elif self.gan.generator.class_bias is not None:  # start at the class centres (data-dependent init)
                means, prior = self._class_means(Xt, yt, seed=seed)
                with torch.no_grad():
                    for c in range(self.n_labels):
                        if means[c] is not None:
                            self.gan.generator.class_bias.weight[c] = torch.from_numpy(means[c]).float()
                if prior is not None:
                    kw["privacy_prior"] = prior
            if private:
                counts = np.bincount(yt, minlength=self.n_labels).astype(np.float32)
                self.gan.label_weights = torch.from_numpy(counts / counts.sum()).to(self.gan.last_g_loss.device)
            if self._copy_penalty() > 0:
                # the radius from at most 4,096 profiles' leave-one-out distances (the quantile, not all N^2)
                rows = np.random.default_rng(seed).permutation(len(Xt))[:4096] if len(Xt) > 4096 else None
                radius = float(np.quantile(nearest_other_distance(Xt, rows), self.config.gan.copy_quantile))
                self.gan.set_copy_reference(torch.from_numpy(Xt), radius)
                self.copy_radius = radius
            return self.gan, {"step_fn": wgan_gp_step, "param_groups": self._param_groups(), **kw}

        def generate(Xt, yt, yy: np.ndarray, sd: int) -> np.ndarray:
            return self.generate(torch.from_numpy(yy), seed=sd, batch_size=4096, noise=0.0, decode=False)

        assert self.device is not None  # Generator.fit resolves it for every torch model
        Xfit, yfit = (X[held[0]], y[held[0]]) if held is not None else (X, y)
        result = fit_validated(setup, generate, Xfit, yfit, self._train_config(), device=self.device, seed=seed,
                               run_dir=run_dir, progress=progress, resume=resume, fingerprint=self._fingerprint,
                               desc="wgan-gp", privacy=self.config.privacy,
                               groups=None if private else self._copy_groups(Xfit))
        result.apply_to(self.gan)  # sampling uses the best checkpoint's generator (else the EMA generator)
        self.gan.eval()
        self.gan.label_weights = None
        self.history = result.history
        self.validation = result.validation
        self.train_seconds = result.seconds
        self.privacy = self._privacy_record(result)
        if self.privacy is not None:
            self.privacy["scope"] = ("DP-SGD on the critic, the only network that reads the profiles; the generator "
                                     "learns from the critic alone (post-processing)")
        if not auto:
            self.output_noise, self.noise_choice = float(self.config.sample.noise), None
        elif private:
            self.output_noise = 0.0
            self.noise_choice = {"noise": 0.0, "n_heldout": 0,
                                 "note": "differential privacy: no held-out profiles to choose it on"}
        elif held is None:
            self.output_noise = 0.0
            self.noise_choice = {"noise": 0.0, "n_heldout": 0,
                                 "note": "too few profiles to hold out: trained on all of them, no output noise"}
        else:
            self.output_noise, self.noise_choice = self._choose_noise(Xfit, yfit, X[held[1]], y[held[1]],
                                                                      seed=seed)

    def _class_means(self, X: np.ndarray, y: np.ndarray, *, seed: int
                     ) -> tuple[list[np.ndarray | None], dict[str, Any] | None]:
        """Each class's mean (``None`` for a class without profiles) for the generator's class offsets, and the
        privacy release to compose with DP-SGD, if any.

        In a private run with ``privacy.epsilon``: each class's sum of profiles clipped to L2 norm R = sqrt(G)
        (a unit-variance profile's typical norm after the default scaler) plus N(0, σ² I), σ = R / sqrt(2 ρ),
        divided by the class size (public in a private run, as the sample rate is): one Gaussian mechanism of
        sensitivity R (a profile added or removed moves one class's sum by at most R), zCDP ρ = R² / (2 σ²)
        (Bun & Steinke 2016), with ρ the largest that spends ``gan.anchor_epsilon_share`` of ε on its own by the
        run's accountant (:func:`rnagen.train.privacy.release_rho`), which composes it with DP-SGD. With
        ``privacy.noise_multiplier`` (no target ε to share): nothing released, the offsets start at 0."""
        p = self.config.privacy
        present = [(y == c).any() for c in range(self.n_labels)]
        if not p.enabled:
            return [X[y == c].mean(axis=0) if present[c] else None for c in range(self.n_labels)], None
        if p.epsilon is None:
            return [None] * self.n_labels, None
        from ...train.privacy import DEFAULT_ACCOUNTANT, noise_key, release_rho, resolve_delta, spent_epsilon
        from ..gaussian import _clip_rows, warn_if_clipped_away

        R = float(np.sqrt(X.shape[1]))
        warn_if_clipped_away(X, R, "the generator's private starting class means")
        delta = resolve_delta(p.delta, len(X))
        accountant = p.accountant or DEFAULT_ACCOUNTANT
        rho = release_rho(self.config.gan.anchor_epsilon_share * float(p.epsilon), delta, accountant)
        rng = np.random.default_rng([noise_key(seed, reproducible=p.reproducible), 0x6A4E])
        sums = np.zeros((self.n_labels, X.shape[1]))
        np.add.at(sums, y, _clip_rows(np.asarray(X, dtype=np.float64), R))
        sums += rng.normal(0.0, R / np.sqrt(2.0 * rho), sums.shape)
        counts = np.bincount(y, minlength=self.n_labels)
        means = _clip_rows(sums / np.maximum(counts, 1)[:, None], R)  # post-processing: back inside the clip ball
        alone = spent_epsilon([], delta=delta, accountant=accountant, prior_rho=rho)
        prior = {"rho": rho, "mechanism": (f"the generator's starting class means (Gaussian mechanism, rho={rho:.4g}, "
                                           f"epsilon {alone:.3g} on their own)")}
        return [means[c] if present[c] else None for c in range(self.n_labels)], prior

    def _choose_noise(self, Xt: np.ndarray, yt: np.ndarray, Xv: np.ndarray, yv: np.ndarray, *,
                      seed: int) -> tuple[float, dict[str, Any]]:
        """The scale of :data:`NOISE_GRID` whose samples score best on the held-out profiles ``(Xv, yv)``
        (:class:`rnagen.train.FidelityValidator`; the same draws for every scale, so the scores differ by the
        noise alone) and the record of the choice."""
        def draw(s: float) -> Callable[[np.ndarray, int], np.ndarray]:
            return lambda yy, sd: self.generate(torch.from_numpy(yy), seed=sd, batch_size=4096, noise=s, decode=False)

        validator = FidelityValidator(draw(0.0), Xt, yt, Xv, yv, seed=seed)  # its reference is drawn once
        scores = {}
        for s in NOISE_GRID:
            validator.generate = draw(s)
            scores[s] = float(validator()["score"])
        best = max(NOISE_GRID, key=lambda s: (scores[s], -s))  # ties: the smaller noise
        return float(best), {"noise": float(best), "n_heldout": int(len(Xv)), "scores": {str(k): round(v, 4)
                                                                                      for k, v in scores.items()}}

    # --- sampling ----------------------------------------------------------------------------------------
    def _sample(self, y: np.ndarray, *, seed: int, batch_size: int, progress: bool, **options: Any) -> np.ndarray:
        unknown = sorted(set(options) - {"noise"})
        if unknown:
            raise ConfigError(f"unknown sampler option(s) {unknown} for the wgan-gp; valid: ['noise']")
        noise = options.get("noise")
        noise = self.output_noise if noise is None else float(check_number("noise", noise, ">= 0"))
        return self.generate(torch.from_numpy(np.asarray(y, dtype=np.int64)), seed=seed, batch_size=batch_size,
                             noise=noise)

    @torch.inference_mode()
    def generate(self, y: torch.Tensor, *, seed: int, batch_size: int, noise: float | None = None,
                 decode: bool = True) -> np.ndarray:
        """``G(z, y) + noise * e`` for class ids ``y`` in batches, ``z`` and ``e ~ N(0, I)`` from one seeded
        generator (float32, transformed space); ``noise`` defaults to :attr:`output_noise`. Without noise the
        draws of ``z`` are those of a generator without this option. In a principal-component space
        (``preprocess.space``) that is the scores, decoded with each class's residual drawn unless ``decode``
        is false."""
        G, dev = self.gan.generator, self.device or torch.device("cpu")
        s = self.output_noise if noise is None else float(noise)
        G.eval()
        g = torch.Generator(device=dev)
        g.manual_seed(int(seed))
        out, decode = self._draw_buffer(len(y), decode)
        for start in range(0, len(y), batch_size):
            yb = y[start:start + batch_size].to(dev)
            z = torch.randn((len(yb), G.noise_dim), generator=g, device=dev)
            x = G(z, yb)
            if s > 0:
                x = x + s * torch.randn(x.shape, generator=g, device=dev, dtype=x.dtype)
            x = self._decoded(x, yb, g, decode)
            out[start:start + len(yb)] = x.float().cpu().numpy()
        return out

    # --- persistence (the generator is all sampling needs) ----------------------------------------------
    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.gan.generator.state_dict())

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.gan.generator.load_state_dict(tensors)
        self.gan.to(self.device or torch.device("cpu")).eval()

    def _extra_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "n_parameters_generator": int(sum(p.numel() for p in self.gan.generator.parameters())),
            "n_parameters_critic": int(sum(p.numel() for p in self.gan.critic.parameters()))}
        if getattr(self, "copy_radius", None) is not None:
            meta["copy_radius"] = self.copy_radius
        meta["output_noise"] = self.output_noise
        meta["anchor"] = self._anchor_kind()
        if self.noise_choice is not None:
            meta["noise_choice"] = self.noise_choice
        return meta

    def sampling_note(self) -> str | None:
        """Which output noise sampling adds and, for ``sample.noise=auto``, how it was chosen."""
        c = self.noise_choice
        if c is None:
            return f"output noise {self.output_noise:g} (sample.noise)" if self.output_noise > 0 else None
        if not c.get("n_heldout"):
            return f"output noise 0: {c.get('note', 'nothing held out')}"
        s = c["scores"]
        return (f"output noise {c['noise']:g} chosen on {c['n_heldout']} held-out profiles (validation score "
                f"{s[str(c['noise'])]:.3f}; {s[str(NOISE_GRID[0])]:.3f} without noise)")

    def _load_extra_meta(self, extra: dict[str, Any]) -> None:
        # a run folder from before the output noise samples without it, as it did
        self.output_noise = float(extra.get("output_noise", 0.0))
        if not (math.isfinite(self.output_noise) and self.output_noise >= 0):
            raise ValueError(f"its output_noise {self.output_noise!r} is not a number >= 0")
        self.noise_choice = extra.get("noise_choice")

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """Optuna search space: dotted config keys -> values drawn from ``trial`` (widths, noise size,
        critic steps, gradient-penalty weight, optimiser, critic conditioning, learning rate)."""
        wg = trial.suggest_categorical("network.generator_width", [256, 512, 1024])
        wd = trial.suggest_categorical("network.critic_width", [256, 512, 1024])
        return {
            "network.generator_hidden": [wg // 2, wg],
            "network.critic_hidden": [wd, wd // 2],
            "network.noise_dim": trial.suggest_categorical("network.noise_dim", [32, 64, 128]),
            "gan.n_critic": trial.suggest_int("gan.n_critic", 1, 5),
            "gan.gp_weight": trial.suggest_float("gan.gp_weight", 1.0, 20.0, log=True),
            "gan.optimizer": trial.suggest_categorical("gan.optimizer", ["adam", "rmsprop"]),
            "network.critic_conditioning": trial.suggest_categorical("network.critic_conditioning",
                                                                     ["projection", "concat"]),
            "train.lr": trial.suggest_float("train.lr", 5e-5, 1e-3, log=True),
        }
