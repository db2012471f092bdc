"""D-GEX-style multilayer perceptron: input genes -> target genes (Chen et al. 2016, Bioinformatics 32:1832).

Blocks of Linear -> BatchNorm -> ReLU -> Dropout, then a linear output layer, trained with MSE on z-scored
inputs and targets (as in Lacan et al.), AdamW, early stopping on a validation split; the weights of the best
validation epoch are kept.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError

__all__ = ["build_mlp", "train_mlp", "predict_mlp", "MLPResult"]


def build_mlp(n_in: int, n_out: int, hidden: Sequence[int], dropout: float, *, seed: int = 0):
    """The network: ``[Linear, BatchNorm1d, ReLU, Dropout] x len(hidden)`` then ``Linear(hidden[-1], n_out)``.

    The initial weights come from ``seed`` (PyTorch's default initialisation, drawn inside
    :func:`torch.random.fork_rng` so the caller's global random state is untouched).
    """
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        layers: list = []
        d = n_in
        for h in hidden:
            layers += [nn.Linear(d, int(h)), nn.BatchNorm1d(int(h)), nn.ReLU(), nn.Dropout(float(dropout))]
            d = int(h)
        layers.append(nn.Linear(d, n_out))
        return nn.Sequential(*layers)


@dataclass
class MLPResult:
    """What :func:`train_mlp` returns: the best epoch's weights, where and how well it stopped, the epoch log."""

    state: dict                     # best state_dict (CPU tensors)
    best_epoch: int
    best_val_mse: float
    epochs: int
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def _batches(n: int, size: int, generator):
    import torch

    perm = torch.randperm(n, generator=generator)
    for start in range(0, n, size):
        idx = perm[start:start + size]
        if len(idx) >= 2 or n < 2:   # BatchNorm cannot train on a batch of one sample
            yield idx


def train_mlp(X: np.ndarray, Y: np.ndarray, *, val_idx: np.ndarray, hidden: Sequence[int], dropout: float,
              lr: float, weight_decay: float, batch_size: int, max_epochs: int, patience: int, seed: int,
              device, progress=None) -> MLPResult:
    """Train the MLP on the rows outside ``val_idx``; stop when validation MSE has not improved for ``patience``
    epochs; return the best weights.

    Randomness (initial weights, batch order, dropout masks) comes from ``seed`` only: the global torch
    generator is used inside :func:`torch.random.fork_rng`, so the caller's random state is untouched.
    """
    import torch

    n = X.shape[0]
    mask = np.zeros(n, dtype=bool)
    mask[np.asarray(val_idx, dtype=np.int64)] = True
    if mask.sum() == 0:
        raise DataError("the MLP needs a validation split for early stopping; use a validation size > 0")
    fit_rows, val_rows = np.flatnonzero(~mask), np.flatnonzero(mask)
    if len(fit_rows) < 2:
        raise DataError(f"the MLP needs at least 2 training samples outside the validation split, got {len(fit_rows)}")
    Xf = torch.as_tensor(np.ascontiguousarray(X[fit_rows], dtype=np.float32), device=device)
    Yf = torch.as_tensor(np.ascontiguousarray(Y[fit_rows], dtype=np.float32), device=device)
    Xv = torch.as_tensor(np.ascontiguousarray(X[val_rows], dtype=np.float32), device=device)
    Yv = torch.as_tensor(np.ascontiguousarray(Y[val_rows], dtype=np.float32), device=device)
    devices = [device] if getattr(device, "type", str(device)) == "cuda" else []
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        net = build_mlp(X.shape[1], Y.shape[1], hidden, dropout, seed=seed).to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=float(lr), weight_decay=float(weight_decay))
        g = torch.Generator().manual_seed(int(seed) + 1)
        best, best_epoch, best_state, bad = math.inf, -1, None, 0
        history: list[dict] = []
        epoch = 0
        for epoch in range(1, int(max_epochs) + 1):
            net.train()
            tot, cnt = 0.0, 0
            for idx in _batches(len(fit_rows), int(batch_size), g):
                idx = idx.to(device)
                pred = net(Xf[idx])
                loss = torch.nn.functional.mse_loss(pred, Yf[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                tot += float(loss.detach()) * len(idx)
                cnt += len(idx)
            val = _mse(net, Xv, Yv, int(batch_size) * 4)
            history.append({"epoch": epoch, "train_mse": tot / max(cnt, 1), "val_mse": val,
                            "seconds": time.perf_counter() - t0})
            if progress is not None:
                progress(epoch, history[-1])
            if val < best - 1e-6 * abs(best if math.isfinite(best) else 1.0):
                best, best_epoch, bad = val, epoch, 0
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
            else:
                bad += 1
                if bad >= int(patience):
                    break
    if best_state is None:  # validation loss never finite
        best_state = copy.deepcopy({k: v.detach().cpu() for k, v in net.state_dict().items()})
    return MLPResult(state=best_state, best_epoch=best_epoch, best_val_mse=float(best), epochs=epoch,
                     history=history, seconds=time.perf_counter() - t0)


def _mse(net, X, Y, bs: int) -> float:
    import torch

    net.eval()
    tot = 0.0
    with torch.no_grad():
        for s in range(0, X.shape[0], bs):
            tot += float(((net(X[s:s + bs]) - Y[s:s + bs]) ** 2).sum())
    return tot / max(X.shape[0] * Y.shape[1], 1)


def predict_mlp(net, X: np.ndarray, *, device, batch_size: int = 4096) -> np.ndarray:
    """Predictions of ``net`` (eval mode) for ``X`` as float32 NumPy."""
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for s in range(0, X.shape[0], batch_size):
            xb = torch.as_tensor(np.ascontiguousarray(X[s:s + batch_size], dtype=np.float32), device=device)
            out.append(net(xb).float().cpu().numpy())
    if not out:
        return np.zeros((0, net[-1].out_features), dtype=np.float32)
    return np.concatenate(out, axis=0)
