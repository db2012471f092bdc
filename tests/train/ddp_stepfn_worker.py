"""torchrun worker: a custom ``step_fn`` (no DDP wrapper, like the GAN's) whose ranks start from different
weights must still end in agreement (the loop broadcasts rank 0's initial weights). Prints the max
difference between the ranks' final weights, from rank 0."""
import os

import torch
import torch.distributed as dist
from torch import nn

from rnagen.train import TrainConfig, train_loop
from rnagen.train.distributed import leave


def step(ctx, xb, yb):
    opt = ctx.optimizers["main"]
    opt.zero_grad()
    loss = ((ctx.raw(xb).squeeze(1) - xb.sum(1)) ** 2).mean()
    loss.backward()
    ctx.all_reduce_grads(ctx.raw.parameters())
    opt.step()
    ctx.schedulers["main"].step()
    return {"loss": float(loss)}


if __name__ == "__main__":
    rank = int(os.environ["RANK"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(100 + rank)  # deliberately different initial weights on each rank
        m = nn.Linear(4, 1)
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 4, generator=g), torch.zeros(64, dtype=torch.long)
    train_loop(m, X, y, TrainConfig(steps=20, batch_size=16, ema_decay=0.9), device=torch.device("cpu"),
               progress=False, step_fn=step)
    w = torch.cat([p.detach().flatten() for p in m.parameters()])
    ws = [torch.empty_like(w) for _ in range(dist.get_world_size())]
    dist.all_gather(ws, w)
    if rank == 0:
        print(f"max-rank-diff {max((ws[0] - o).abs().max().item() for o in ws)}")
    leave(0)
