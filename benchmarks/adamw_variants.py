"""torch's AdamW variants on the default diffusion network (978 genes, 30 classes, 6.07M parameters), batch 128:
the weights and second moments after ``--steps`` steps against the for-loop implementation the training loop uses
(bit-identical or not) and each variant's CPU time per optimiser step. ``blocked 2^k``: the for-loop arithmetic
(``torch.optim.adam.adam``, op for op) run on blocks of 2^k values of each tensor, so that a block's eight passes
stay in cache. For BENCHMARKS.md ("The default `rnagen train` at GTEx's size"):

    OMP_NUM_THREADS=1 python benchmarks/adamw_variants.py [--steps 60]
"""
from __future__ import annotations

import argparse
import copy
import time

import torch
from torch.optim.adam import adam

from rnagen.models.diffusion.network import ResMLPDenoiser


class BlockedAdamW(torch.optim.AdamW):
    """AdamW's for-loop arithmetic on blocks of ``block`` values of each tensor (default options only)."""

    block = 1 << 16

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - as torch.optim.AdamW.step, without a closure
        for group in self.param_groups:
            P, G, M, V, S = [], [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if len(st) == 0:
                    st["step"] = torch.tensor(0.0, dtype=torch.float32)
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                flat = [t.view(-1) for t in (p, p.grad, st["exp_avg"], st["exp_avg_sq"])]
                for s in range(0, p.numel(), self.block):
                    for lst, f in zip((P, G, M, V), flat):
                        lst.append(f[s:s + self.block])
                    S.append(st["step"].clone())   # each block's counter steps once, as the tensor's
                st["step"] += 1
            b1, b2 = group["betas"]
            adam(P, G, M, V, [], S, foreach=False, capturable=False, differentiable=False, fused=None,
                 has_complex=False, decoupled_weight_decay=True, amsgrad=False, beta1=b1, beta2=b2, lr=group["lr"],
                 weight_decay=group["weight_decay"], eps=group["eps"], maximize=False)


def main() -> None:
    """Train copies of one network side by side with each variant on the same batches; print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    a = ap.parse_args()
    torch.manual_seed(0)
    net = ResMLPDenoiser(978, 30, width=512, depth=3, time_dim=128, dropout=0.0, expansion=2, cond_dim=None)
    print(f"parameters {sum(p.numel() for p in net.parameters()):,}")
    variants: dict[str, dict] = {"for-loop (default)": {"foreach": False}, "foreach": {"foreach": True},
                                 "fused": {"fused": True},
                                 **{f"blocked 2^{k}": {"block": 1 << k} for k in (15, 16, 17)}}
    nets = {k: copy.deepcopy(net) for k in variants}
    opts: dict[str, torch.optim.Optimizer] = {}
    for k, v in variants.items():
        if "block" in v:
            o = BlockedAdamW(nets[k].parameters(), lr=1e-3, weight_decay=1e-4)
            o.block = v["block"]
            opts[k] = o
        else:
            opts[k] = torch.optim.AdamW(nets[k].parameters(), lr=1e-3, weight_decay=1e-4, **v)
    cpu = dict.fromkeys(variants, 0.0)
    g = torch.Generator().manual_seed(1)
    for _ in range(a.steps):
        x, t = torch.randn(128, 978, generator=g), torch.randint(0, 1000, (128,), generator=g)
        y = torch.randint(0, 30, (128,), generator=g)
        for k in variants:
            opts[k].zero_grad(set_to_none=True)
            (nets[k](x, t, y) - x).pow(2).mean().backward()
            torch.nn.utils.clip_grad_norm_(list(nets[k].parameters()), 1.0)
            c0 = time.process_time()
            opts[k].step()
            cpu[k] += time.process_time() - c0
    ref_name = next(iter(variants))
    ref, ref_params = nets[ref_name].state_dict(), list(nets[ref_name].parameters())
    for k in variants:
        sd = nets[k].state_dict()
        same = all(torch.equal(ref[n], sd[n]) for n in ref) and all(
            torch.equal(opts[ref_name].state[p]["exp_avg_sq"], opts[k].state[q]["exp_avg_sq"])
            for p, q in zip(ref_params, nets[k].parameters()))
        diff = max(float((ref[n] - sd[n]).abs().max()) for n in ref)
        print(f"{k}: {'bit-identical' if same else f'differs (weights up to {diff:.2g} apart)'}, "
              f"{1000 * cpu[k] / a.steps:.1f} ms CPU a step")


if __name__ == "__main__":
    main()
