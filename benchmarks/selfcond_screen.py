"""Screen: self-conditioning (Chen et al. 2023, "Analog Bits", section 3.2) on the diffusion model's own network,
objective and training loop.

The idea tested: the samples are under-dispersed because an imperfect regressor of x0 on x_t pulls every step
toward the class core (``RESULTS_objectives.md``); a denoiser that also sees its own previous estimate of x0 can
refine it instead of regressing from scratch at every step. Training: for half of each batch (a per-profile coin)
the network first predicts x0 with an empty self-conditioning input (no gradient) and is then trained with that
estimate as the extra input; the other half trains with the empty input. Sampling: each step feeds the previous
step's x0 estimate (the first step an empty one). The estimate enters through its own linear projection added to
the input projection (equivalent to concatenating it to x_t); that projection starts at zero, so the untrained
network is the plain denoiser.

Lives in this script, not in the package, until it beats the default. Same protocol as ``sampler_steps.py``
(stratified 80/20 split, per-class Gaussian floor, real-vs-real ceiling, draws with the held-out label mix; seeds
as there, so the floor and ceiling are the same numbers). The model is the package default otherwise
(validation-chosen length, v-prediction, EMA 0.999, DPM-Solver++ 20 for the validation checks).

    OMP_NUM_THREADS=1 python benchmarks/selfcond_screen.py --dataset tcga_mirna4 --seed 0 --draws 2
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sampler_steps import load_dataset, screen_draws  # noqa: E402

from rnagen.models.diffusion.model import DiffusionModel, DiffusionObjective  # noqa: E402
from rnagen.models.diffusion.network import ResMLPDenoiser  # noqa: E402
from rnagen.train import LossOutput  # noqa: E402


class SelfCondNet(ResMLPDenoiser):
    """The residual MLP with a self-conditioning input ``x_sc`` (an estimate of x0).

    Called without ``x_sc`` (the samplers' ``net(x, t, y)``) it conditions on the x0 estimate of its own previous
    call in the same trajectory (a call at a timestep not below the last one starts a new trajectory).
    """

    def __init__(self, *args, schedule, prediction: str, **kw):
        super().__init__(*args, **kw)
        self.sc = nn.Linear(self.n_genes, self.inp.out_features, bias=False)
        nn.init.zeros_(self.sc.weight)
        self._schedule, self._prediction = schedule, prediction
        self._last_t: int | None = None
        self._last_x0: torch.Tensor | None = None

    def x0_from(self, x: torch.Tensor, t: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The x0 estimate implied by the network output ``out`` at ``(x, t)`` (v or eps parametrisation)."""
        a = self._schedule.sqrt_alphas_cumprod.to(x.device)[t][:, None]
        s = self._schedule.sqrt_one_minus_alphas_cumprod.to(x.device)[t][:, None]
        return a * x - s * out if self._prediction == "v" else (x - s * out) / a

    def core(self, x, t, y, x_sc):
        """The network on ``x_t`` with the self-conditioning input ``x_sc`` added to the input projection."""
        c = self.cond_act(self.time_embed(t) + self.label_embed(y))
        h = self.inp(x) + self.sc(x_sc)
        for block in self.blocks:
            h = block(h, c)
        return self.out(self.cond_act(self.out_norm(h)))

    def forward(self, x, t, y, x_sc=None):
        """``core`` with ``x_sc`` given, else with the previous call's x0 estimate of the same trajectory."""
        if x_sc is not None:
            return self.core(x, t, y, x_sc)
        t0 = int(t.reshape(-1)[0])
        fresh = self._last_x0 is None or self._last_t is None or t0 >= self._last_t \
            or self._last_x0.shape != x.shape
        x_sc = torch.zeros_like(x) if fresh else self._last_x0
        out = self.core(x, t.expand(len(x)) if t.numel() == 1 else t, y, x_sc)
        tt = t.expand(len(x)) if t.numel() == 1 else t
        self._last_x0, self._last_t = self.x0_from(x, tt, out).detach(), t0
        return out


class SelfCondObjective(DiffusionObjective):
    """The denoising loss with self-conditioning on a random half of the batch."""

    def forward(self, x0, y, generator=None):
        """The loss of a batch; half of it (a per-profile coin) conditions on a first, gradient-free estimate."""
        B, dev = x0.shape[0], x0.device
        half = torch.randint(0, self.T, ((B + 1) // 2,), generator=generator, device=dev)
        t = torch.cat([half, self.T - 1 - half])[:B]
        noise = torch.randn(x0.shape, generator=generator, device=dev, dtype=x0.dtype)
        x_t = self.schedule.add_noise(x0, noise, t)
        if self.cfg.label_dropout > 0:
            drop = torch.rand(B, generator=generator, device=dev) < self.cfg.label_dropout
            y = torch.where(drop, torch.full_like(y, self.net.null_label), y)
        use = torch.rand(B, generator=generator, device=dev) < 0.5
        zeros = torch.zeros_like(x_t)
        with torch.no_grad():
            est = self.net.x0_from(x_t, t, self.net.core(x_t, t, y, zeros))
        x_sc = torch.where(use[:, None], est, zeros)
        out = self.net.core(x_t, t, y, x_sc)
        target = noise if self.cfg.prediction == "eps" else self.schedule.velocity(x0, noise, t)
        per = (out.float() - target.float()).pow(2).mean(dim=1)
        return LossOutput(loss=per.mean(), logs={"mse": float(per.detach().mean())})


class SelfCondModel(DiffusionModel):
    """The default diffusion model with :class:`SelfCondNet` and :class:`SelfCondObjective`."""

    def _build(self):
        cfg, n = self.config, self.config.network
        super()._build()
        self.net = SelfCondNet(self.n_genes, self.n_labels, width=n.width, depth=n.depth, time_dim=n.time_dim,
                               dropout=n.dropout, expansion=n.expansion, schedule=self.schedule,
                               prediction=cfg.objective.prediction)
        if self.device is not None:
            self.net.to(self.device)

    def _objective(self):
        """The screened objective on the freshly built network (the package's training loop does the rest)."""
        return SelfCondObjective(self.net, self.schedule, self.config.objective)


def main():
    """Train on one split and score the draws (module docstring)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="tcga_mirna4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[])
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(1)
    from rnagen import pp
    from rnagen.models import get_model

    adata, key = load_dataset(a.dataset)
    train, test = pp.split(adata, label_key=key, test_size=0.2, seed=a.seed)
    gauss = get_model("gaussian").from_config().fit(train, label_key=key, seed=a.seed, progress=False)
    model = SelfCondModel.from_config(overrides=a.set)
    t0 = time.perf_counter()
    model.fit(train, label_key=key, seed=a.seed, device="cpu", progress=False)
    fit_s = time.perf_counter() - t0
    v = {k: x for k, x in (model.validation or {}).items() if k != "curve"}
    print(f"[{a.dataset} seed {a.seed}] fit {fit_s:.0f} s; validation {v}", flush=True)
    cfgs = [("dpm++ 20", {"sampler": "dpm++", "steps": 20}), ("dpm++ 50", {"sampler": "dpm++", "steps": 50}),
            ("ddim 50", {"sampler": "ddim", "steps": 50})]
    res = {"fit_s": [fit_s], "validation": model.validation}
    screen_draws(model, gauss, train, test, key, a.seed, cfgs, a.draws, res, a.json)


if __name__ == "__main__":
    main()
