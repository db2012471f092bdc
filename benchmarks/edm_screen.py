"""Screen: EDM preconditioning and loss weighting (Karras et al. 2022, "Elucidating the design space of
diffusion-based generative models", table 1 and sec. 5) on the diffusion model's own network, VP noise
schedule, training loop and samplers.

EDM writes the forward process in the variance-exploding form x̃ = x0 + σ n and trains a denoiser

    D(x̃; σ) = c_skip(σ) x̃ + c_out(σ) F(c_in(σ) x̃; c_noise(σ))                                (EDM eq. 7)
    c_skip = σ_d² / (σ² + σ_d²),  c_out = σ σ_d / sqrt(σ² + σ_d²),  c_in = 1 / sqrt(σ² + σ_d²),
    c_noise = ln(σ) / 4                                                                     (EDM table 1)

with the loss λ(σ) ||D(x̃; σ) - x0||², λ(σ) = (σ² + σ_d²) / (σ σ_d)² (so that λ c_out² = 1: a unit-weighted
regression of F on its target at every σ, EDM eq. 8). F is the package's residual MLP; its time input is
c_noise instead of the integer VP timestep.

The package's VP process x_t = α_t x0 + s_t ε (α_t = sqrt(ᾱ_t), s_t = sqrt(1 - ᾱ_t)) is the same process
scaled: x̃ = x_t / α_t with σ_t = s_t / α_t (EDM sec. 2, eq. 4 with s(t) = α_t). So the denoiser can be called
at any VP timestep t, and its x0 estimate converted to the v-prediction the package's samplers expect:

    v̂ = (α_t x_t - D(x_t / α_t; σ_t)) / s_t                 (from x0 = α_t x_t - s_t v, Salimans & Ho 2022)

DPM-Solver++ 20 (the default, also used for the validation checks) and DDIM 50 then drive the EDM-trained
network unchanged.

σ_d is the root mean square of the training profiles in the model's space (per-gene z-scores, so 1 up to
rounding; the value used is printed). With σ_d = 1 on a VP schedule c_in x̃ = x_t, c_skip x̃ = α_t x_t and
c_out = s_t, so D = α_t x_t + s_t F: the preconditioned F is minus the v-prediction and λ makes its loss the
unweighted v-MSE. What the "preconditioning + weighting" variant changes against the default is therefore the
network's noise input (c_noise = ln σ / 4) and the small departure of σ_d from 1; the second variant adds
EDM's training distribution of σ.

Variants (``--variant``):

``precond``    EDM's D and λ; σ drawn as the default draws its timesteps (uniform VP timestep t, antithetic
               pairs t, T-1-t), σ = σ_t.
``lognormal``  the same D and λ with EDM's log-normal σ: ln σ ~ N(P_mean = -1.2, P_std = 1.2) (EDM table 1),
               a continuous σ clamped to the schedule's range [σ_0, σ_{T-1}] (the range the samplers visit).
``default``    the package's own model, for a control with another ``--train-seed`` (the training run's seed:
               weights, batches, noise and validation hold-out; by default the split seed, as in the other
               screens) on the same split and draws.

Lives in this script, not in the package, until it beats the default. Same protocol as ``sampler_steps.py`` and
``selfcond_screen.py`` (stratified 80/20 split, per-class Gaussian floor, real-vs-real ceiling, draws with the
held-out label mix, the same seeds, so the floor and ceiling are the same numbers); otherwise the package
default (validation-chosen length, same network, EMA 0.999, DPM-Solver++ 20 for the validation checks).

    OMP_NUM_THREADS=1 python benchmarks/edm_screen.py --dataset tcga_mirna4 --seed 0 --draws 2
    OMP_NUM_THREADS=1 python benchmarks/edm_screen.py --dataset tcga_mirna4 --seed 0 --draws 2 --variant lognormal
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sampler_steps import load_dataset, screen_draws  # noqa: E402

from rnagen.models.diffusion.model import DiffusionModel, DiffusionObjective  # noqa: E402
from rnagen.models.diffusion.network import ResMLPDenoiser  # noqa: E402
from rnagen.models.diffusion.schedule import NoiseSchedule  # noqa: E402
from rnagen.train import LossOutput  # noqa: E402

P_MEAN, P_STD = -1.2, 1.2  # EDM table 1, training distribution of ln σ


class EDMDenoiser(ResMLPDenoiser):
    """The residual MLP as EDM's F, wrapped in EDM's preconditioning.

    :meth:`denoise` is D(x̃; σ) in the variance-exploding space; :meth:`forward` is what the package's samplers
    call, ``net(x_t, t, y)`` at integer VP timesteps, and returns the v-prediction implied by D.
    """

    def __init__(self, *args, schedule: NoiseSchedule, sigma_data: float, **kw):
        super().__init__(*args, **kw)
        self.sigma_data = float(sigma_data)
        # σ_t = s_t / α_t of the VP schedule, from its float64 ᾱ_t
        abar = schedule.alphas_cumprod64
        self.register_buffer("sigmas", torch.as_tensor(np.sqrt((1.0 - abar) / abar), dtype=torch.float32),
                             persistent=False)
        self.register_buffer("alphas", torch.as_tensor(np.sqrt(abar), dtype=torch.float32), persistent=False)

    def coefficients(self, sigma: torch.Tensor):
        """(c_skip, c_out, c_in, c_noise) of EDM table 1 at noise levels ``sigma`` (any shape)."""
        sd2 = self.sigma_data ** 2
        root = torch.sqrt(sigma ** 2 + sd2)
        return sd2 / (sigma ** 2 + sd2), sigma * self.sigma_data / root, 1.0 / root, sigma.log() / 4.0

    def denoise(self, x_ve: torch.Tensor, sigma: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """D(x̃; σ) = c_skip x̃ + c_out F(c_in x̃; c_noise) for x̃ = x0 + σ n; ``sigma`` of shape (batch,) or (1,)."""
        c_skip, c_out, c_in, c_noise = self.coefficients(sigma)
        f = super().forward(c_in[:, None] * x_ve, c_noise, y)
        return c_skip[:, None] * x_ve + c_out[:, None] * f

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The v-prediction at VP state ``x`` = x_t and integer timesteps ``t``: (α_t x_t - D(x_t/α_t; σ_t)) / s_t."""
        t = t.reshape(-1)
        a, sigma = self.alphas[t], self.sigmas[t]
        s = a * sigma  # s_t = α_t σ_t
        x0 = self.denoise(x / a[:, None], sigma, y)
        return (a[:, None] * x - x0) / s[:, None]


class EDMObjective(DiffusionObjective):
    """EDM's loss λ(σ) ||D(x0 + σ n; σ) - x0||² (EDM eq. 8), σ from the VP timesteps or log-normal."""

    def __init__(self, net: EDMDenoiser, schedule: NoiseSchedule, cfg, *, sigma_dist: str):
        super().__init__(net, schedule, cfg)
        self.sigma_dist = sigma_dist

    def draw_sigma(self, B: int, generator, dev) -> torch.Tensor:
        """σ of a batch: σ_t at uniform (antithetic) VP timesteps, or EDM's log-normal clamped to the schedule."""
        if self.sigma_dist == "lognormal":
            ln = P_MEAN + P_STD * torch.randn(B, generator=generator, device=dev)
            return ln.exp().clamp(float(self.net.sigmas[0]), float(self.net.sigmas[-1]))
        half = torch.randint(0, self.T, ((B + 1) // 2,), generator=generator, device=dev)
        return self.net.sigmas[torch.cat([half, self.T - 1 - half])[:B]]

    def forward(self, x0, y, generator=None):
        """The weighted denoising loss of a batch ``x0`` with class ids ``y`` (labels dropped as the default)."""
        B, dev = x0.shape[0], x0.device
        sigma = self.draw_sigma(B, generator, dev)
        noise = torch.randn(x0.shape, generator=generator, device=dev, dtype=x0.dtype)
        if self.cfg.label_dropout > 0:
            drop = torch.rand(B, generator=generator, device=dev) < self.cfg.label_dropout
            y = torch.where(drop, torch.full_like(y, self.net.null_label), y)
        d = self.net.denoise(x0 + sigma[:, None] * noise, sigma, y)
        sd2 = self.net.sigma_data ** 2
        lam = (sigma ** 2 + sd2) / (sigma * self.net.sigma_data) ** 2
        per = (d.float() - x0.float()).pow(2).mean(dim=1)
        return LossOutput(loss=(lam * per).mean(), logs={"mse": float(per.detach().mean())})


class EDMModel(DiffusionModel):
    """The default diffusion model with :class:`EDMDenoiser` and :class:`EDMObjective`."""

    sigma_dist = "vp"
    sigma_data: float = 1.0

    def _fit(self, X, y, **kw):
        # σ_d: root mean square of the profiles the network sees (all of the training split; the validation
        # share is a tenth of it)
        self.sigma_data = float(np.sqrt(np.mean(np.asarray(X, dtype=np.float64) ** 2)))
        print(f"sigma_data = {self.sigma_data:.4f}", flush=True)
        super()._fit(X, y, **kw)

    def _build(self):
        n = self.config.network
        super()._build()
        self.net = EDMDenoiser(self.n_genes, self.n_labels, width=n.width, depth=n.depth, time_dim=n.time_dim,
                               dropout=n.dropout, expansion=n.expansion, schedule=self.schedule,
                               sigma_data=self.sigma_data)
        if self.device is not None:
            self.net.to(self.device)

    def _objective(self):
        """The screened objective on the freshly built network (the package's training loop does the rest)."""
        return EDMObjective(self.net, self.schedule, self.config.objective, sigma_dist=self.sigma_dist)


def check_conversion() -> None:
    """The EDM-to-sampler conversion, numerically: the sampler's x0 from the returned v is D, its ε is the
    noise that makes x_t from that x0; with σ_d = 1, c_in x̃ is x_t itself and D = α_t x_t + s_t F."""
    g = torch.Generator().manual_seed(0)
    sched = NoiseSchedule("quad", 1000)
    for sd in (0.7, 1.0):
        net = EDMDenoiser(5, 2, width=8, depth=1, time_dim=8, dropout=0.0, schedule=sched, sigma_data=sd).double()
        for p in net.parameters():  # non-zero output layer, so F matters
            p.data = torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.3
        t = torch.tensor([0, 10, 500, 999])
        x = torch.randn(4, 5, generator=g, dtype=torch.float64)
        y = torch.tensor([0, 1, 2, 0])
        abar64 = torch.as_tensor(sched.alphas_cumprod64)
        assert torch.allclose(net.alphas.double() ** 2, abar64, rtol=1e-6, atol=0)
        net.alphas, net.sigmas = abar64.sqrt(), ((1 - abar64) / abar64).sqrt()  # float64, for exact identities
        a, sigma = net.alphas[t][:, None], net.sigmas[t]  # the network's time input is float32: same σ both ways
        s = (1 - a ** 2).sqrt()
        v = net(x, t, y)
        d = net.denoise(x / a, sigma, y)
        assert torch.allclose(a * x - s * v, d, rtol=0, atol=1e-9)  # the sampler's x0 (v-prediction) is D
        eps = s * x + a * v  # the sampler's ε from v
        assert torch.allclose(a * d + s * eps, x, rtol=0, atol=1e-9)
        if sd == 1.0:
            c_skip, c_out, c_in, c_noise = net.coefficients(sigma)
            f = ResMLPDenoiser.forward(net, x, c_noise, y)
            assert torch.allclose(c_in[:, None] * (x / a), x, rtol=0, atol=1e-12)
            assert torch.allclose(d, a * x + s * f, rtol=0, atol=1e-9)
            assert torch.allclose(v, -f, rtol=0, atol=1e-9)


def main():
    """Train one variant on one split and score the draws (module docstring)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="tcga_mirna4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--variant", choices=["precond", "lognormal", "default"], default="precond")
    ap.add_argument("--train-seed", type=int, default=None,
                    help="seed of the training run (weights, batches, noise, validation hold-out); default: --seed")
    ap.add_argument("--set", nargs="*", default=[])
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(1)
    check_conversion()
    from rnagen import pp
    from rnagen.models import get_model

    adata, key = load_dataset(a.dataset)
    train, test = pp.split(adata, label_key=key, test_size=0.2, seed=a.seed)
    gauss = get_model("gaussian").from_config().fit(train, label_key=key, seed=a.seed, progress=False)
    EDMModel.sigma_dist = "lognormal" if a.variant == "lognormal" else "vp"
    model = (DiffusionModel if a.variant == "default" else EDMModel).from_config(overrides=a.set)
    train_seed = a.seed if a.train_seed is None else a.train_seed
    t0 = time.perf_counter()
    model.fit(train, label_key=key, seed=train_seed, device="cpu", progress=False)
    fit_s = time.perf_counter() - t0
    v = {k: x for k, x in (model.validation or {}).items() if k != "curve"}
    sd = getattr(model, "sigma_data", None)
    print(f"[{a.dataset} seed {a.seed} train seed {train_seed} {a.variant}] fit {fit_s:.0f} s; sigma_data {sd}; "
          f"validation {v}", flush=True)
    cfgs = [("dpm++ 20", {"sampler": "dpm++", "steps": 20}), ("dpm++ 50", {"sampler": "dpm++", "steps": 50}),
            ("ddim 50", {"sampler": "ddim", "steps": 50})]
    res = {"fit_s": [fit_s], "variant": a.variant, "train_seed": train_seed, "sigma_data": sd,
           "validation": model.validation}
    screen_draws(model, gauss, train, test, key, a.seed, cfgs, a.draws, res, a.json)


if __name__ == "__main__":
    main()
