"""The default diffusion model's training step (batch 128: loss, backward, gradient clipping, AdamW, EMA) and a
validation draw (DPM-Solver++ 20 of 1,699 profiles, the held-out share of 17,000) with the network alone and at
the guidance pairs the run scores after training (classifier-free guidance 0.25 and autoguidance 2: two network
calls per step each, four together), on 978 genes and 30 classes, at 1 and 2 torch threads in turns; the least of
``--reps`` rounds of each (the least is the one least slowed by other jobs on a shared machine). For BENCHMARKS.md
("The default `rnagen train` at GTEx's size"): the 2-thread speed-up that carries the 1-thread figures of
``train_scale.py`` to 2 cores.

    python benchmarks/train_step_threads.py [--reps 3] [--steps 20]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rnagen.models.diffusion import DiffusionModel
from rnagen.train.ema import EMA

#: (classifier-free guidance, autoguidance) of the draws timed
PAIRS = ((0.0, 1.0), (0.0, 2.0), (0.25, 1.0), (0.25, 2.0))


def main() -> None:
    """Time the step and the draws at 1 and 2 threads and print the least of each and the speed-ups."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    genes, labels, n_val = 978, 30, 1699
    m = DiffusionModel()
    m.var_names = [f"g{i}" for i in range(genes)]
    m.labels = [f"c{i}" for i in range(labels)]
    m.label_counts = np.full(labels, 10, dtype=np.int64)
    m.label_key, m.device = "label", torch.device("cpu")
    m._build()
    for p in m.net.parameters():   # non-zero weights everywhere (the output layer starts at zero)
        torch.nn.init.normal_(p, std=0.02)
    m._set_guide({k: torch.randn_like(v) * 0.02 if v.is_floating_point() else v for k, v in m.net.state_dict().items()})
    obj = m._objective()
    opt = torch.optim.AdamW(obj.parameters(), lr=1e-3, weight_decay=1e-4)
    ema = EMA(obj, 0.999)
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(128, genes), torch.randint(0, labels, (128,))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = obj(X, y, generator=g).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(obj.parameters()), 1.0)
        opt.step()
        ema.update(obj)

    yv = np.arange(n_val) % labels
    best: dict[tuple[str, int], float] = {}
    for _ in range(a.reps):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            step()
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step()
            dt = (time.perf_counter() - t0) / a.steps
            best[("step", threads)] = min(best.get(("step", threads), dt), dt)
            obj.eval()
            for pair in PAIRS:
                t0 = time.perf_counter()
                m._sample_own(yv, seed=1, batch_size=4096, progress=False, decode=False, guidance=pair[0],
                              autoguidance=pair[1])
                dt = time.perf_counter() - t0
                best[(pair, threads)] = min(best.get((pair, threads), dt), dt)
            obj.train()
    for what in ("step", *PAIRS):
        one, two = best[(what, 1)], best[(what, 2)]
        name = ("training step (s)" if what == "step" else
                f"DPM-Solver++ 20 draw of {n_val}, guidance {what[0]:g}, autoguidance {what[1]:g} (s)")
        print(f"{name}: 1 thread {one:.4f}, 2 threads {two:.4f}, speed-up {one / two:.2f}")


if __name__ == "__main__":
    main()
