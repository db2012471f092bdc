"""Screen: a flow-matching (rectified-flow) objective on the diffusion model's own network and training loop.

The objective lives in this script, not in the package (it did not beat the denoising objective: see
``benchmarks/RESULTS_objectives.md``). Same protocol as ``sampler_steps.py`` (stratified 80/20 split, per-class
Gaussian floor, real-vs-real ceiling, synthetic draws with the held-out label mix). The model is a
``DiffusionModel`` whose objective is conditional flow matching on the linear path
x_t = (1 - t) x0 + t eps (Lipman et al. 2023; Liu et al. 2023), target u = eps - x0, t uniform (antithetic
pairs) or logit-normal (Esser et al. 2024), the label dropped with the model's ``label_dropout``; sampled by
Euler or Heun steps from t = 1 to 0. The network's time input is 999 t, the denoiser's timestep range.

    OMP_NUM_THREADS=1 python benchmarks/flow_screen.py --dataset tcga_mirna4 --seed 0 --draws 2
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sampler_steps import load_dataset, screen_draws  # noqa: E402

from rnagen.models.diffusion.model import DiffusionModel  # noqa: E402
from rnagen.train import LossOutput  # noqa: E402

TSCALE = 999.0


class FlowObjective(nn.Module):
    def __init__(self, net, *, label_dropout=0.1, tdist="uniform"):
        super().__init__()
        self.net, self.label_dropout, self.tdist = net, label_dropout, tdist

    def forward(self, x0, y, generator=None):
        B, dev = x0.shape[0], x0.device
        if self.tdist == "logitnormal":
            t = torch.sigmoid(torch.randn(B, generator=generator, device=dev))
        else:
            half = torch.rand((B + 1) // 2, generator=generator, device=dev)
            t = torch.cat([half, 1 - half])[:B]
        eps = torch.randn(x0.shape, generator=generator, device=dev)
        x_t = (1 - t[:, None]) * x0 + t[:, None] * eps
        if self.label_dropout > 0:
            drop = torch.rand(B, generator=generator, device=dev) < self.label_dropout
            y = torch.where(drop, torch.full_like(y, self.net.null_label), y)
        out = self.net(x_t, t * TSCALE, y)
        per = (out - (eps - x0)).pow(2).mean(dim=1)
        return LossOutput(loss=per.mean(), logs={"mse": float(per.detach().mean())})


class FlowModel(DiffusionModel):
    tdist = "uniform"

    def _objective(self):
        """The screened objective on the freshly built network (the package's training loop does the rest)."""
        return FlowObjective(self.net, label_dropout=self.config.objective.label_dropout,
                             tdist=self.tdist)

    @torch.inference_mode()
    def _sample(self, y, *, seed, batch_size, progress, sampler="euler", steps=20, **_):
        net = self.net.eval()
        g = torch.Generator().manual_seed(int(seed))
        yb = torch.from_numpy(np.asarray(y, dtype=np.int64))
        x = torch.randn((len(yb), self.n_genes), generator=g)
        ts = torch.linspace(1.0, 0.0, steps + 1)
        for i in range(steps):
            t, s = float(ts[i]), float(ts[i + 1])
            tt = torch.full((len(yb),), t * TSCALE)
            v = net(x, tt, yb)
            if sampler == "heun" and s > 0:
                x1 = x + (s - t) * v
                v2 = net(x1, torch.full((len(yb),), s * TSCALE), yb)
                x = x + (s - t) * 0.5 * (v + v2)
            else:
                x = x + (s - t) * v
        return x.numpy().astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="tcga_mirna4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--tdist", default="uniform")
    ap.add_argument("--set", nargs="*", default=[])
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(1)
    from rnagen import pp
    from rnagen.models import get_model

    adata, key = load_dataset(a.dataset)
    train, test = pp.split(adata, label_key=key, test_size=0.2, seed=a.seed)
    gauss = get_model("gaussian").from_config().fit(train, label_key=key, seed=a.seed, progress=False)
    FlowModel.tdist = a.tdist
    model = FlowModel.from_config(overrides=a.set)
    t0 = time.perf_counter()
    model.fit(train, label_key=key, seed=a.seed, device="cpu", progress=False)
    fit_s = time.perf_counter() - t0
    v = {k: x for k, x in (model.validation or {}).items() if k != "curve"}
    print(f"[{a.dataset} seed {a.seed}] fit {fit_s:.0f} s; validation {v}", flush=True)
    cfgs = [(f"{s} {n}", {"sampler": s, "steps": n}) for s in ("euler", "heun") for n in (10, 20, 50)]
    res = {"fit_s": [fit_s]}
    screen_draws(model, gauss, train, test, key, a.seed, cfgs, a.draws, res, a.json)


if __name__ == "__main__":
    main()
