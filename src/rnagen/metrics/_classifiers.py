"""Small torch classifiers (softmax regression and a one-hidden-layer MLP) shared by utility and detection.

Trained with Adam on mini-batches, seeded through a private ``torch.Generator`` (weight init and shuffling),
so nothing touches torch's global random state. No dropout (it would draw from the global generator); a
small weight decay regularises instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

Kind = Literal["mlp", "logreg"]

#: profiles seen at most per classifier fit (see :func:`fit_classifier`)
MAX_PROFILES = 51_200
#: genes above which ``evaluate``'s classifiers (TSTR and TRTR, augmentation, detection, the classifier Fréchet
#: distance; LOGAN-D1 those of its reference set) take :class:`PrincipalInputs` instead of the genes: a first
#: layer of ``hidden x genes`` weights, fitted with Adam dozens of times per call, is what makes a transcriptome
#: with its non-coding genes (~60,000) slow. A classifier on the fitted profiles' axes does not see differences
#: off them (a synthetic set's per-gene shifts there), so every set up to the protein-coding genes (~20,000, the
#: GTEx v8 universe 18,691) keeps the classifiers on the genes, at minutes per evaluation
WIDE_GENES = 20_000
#: the most principal components :class:`PrincipalInputs` keeps (every one the fitted profiles span up to it)
CLASSIFIER_COMPONENTS = 512


@dataclass
class TrainedClassifier:
    """A fitted classifier: ``predict_proba(X)`` and, for the MLP, ``hidden(X)`` (post-ReLU activations)."""

    net: nn.Sequential
    kind: str
    n_classes: int
    #: the input columns in the order the network takes them (:func:`column_order` of the training rows)
    columns: np.ndarray | None = None

    @torch.no_grad()
    def _forward(self, X: np.ndarray, *, hidden: bool = False) -> np.ndarray:
        self.net.eval()
        out = []
        for s in range(0, len(X), 8192):
            B = X[s:s + 8192] if self.columns is None else X[s:s + 8192][:, self.columns]
            h = torch.as_tensor(np.ascontiguousarray(B, dtype=np.float32))
            if hidden:
                h = self.net[1](self.net[0](h))
                out.append(h)
            else:
                out.append(torch.softmax(self.net(h), dim=1))
        return torch.cat(out).numpy() if out else np.zeros((0, self.n_classes), np.float32)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (softmax of the logits), ``n x n_classes``, in blocks of 8192 rows."""
        return self._forward(X)

    def hidden(self, X: np.ndarray) -> np.ndarray:
        if self.kind != "mlp":
            raise ValueError("hidden activations exist for the MLP only")
        return self._forward(X, hidden=True)


class PrincipalInputs:
    """The classifiers' inputs on wide data (more than :data:`WIDE_GENES` genes): each profile's scores on the
    leading principal axes of real (training) profiles, at most :data:`CLASSIFIER_COMPONENTS`, all of them where
    fewer profiles were fitted (the span of the fitted profiles, rotated), divided by one common scale (the root
    mean square of the fitted profiles' scores) so that an input varies about as much as a z-scored gene does.
    The axes come from real data only, so a classifier trained on synthetic profiles is scored in a space the
    synthetic set did not choose; what a profile holds off those axes is not seen by the classifier.

    Fitted exactly from the ``n x n`` Gram matrix of the centred profiles up to 4,096 of them (never a
    ``genes x genes`` matrix), by a seeded randomized SVD above (Halko et al. 2011).
    """

    def __init__(self, fit_on: np.ndarray, *, n_components: int = CLASSIFIER_COMPONENTS,
                 source: str = "real training"):
        # the fitted rows in their content order and the genes in theirs (canonical_order, column_order), each
        # axis's sign set by its largest loading: the same inputs for any order of the rows or genes of a file
        self.genes_ = column_order(fit_on)
        Xc = np.asarray(fit_on)[canonical_order(fit_on)][:, self.genes_].astype(np.float64)   # centred in place
        self.source = source
        n, d = Xc.shape
        self.n_genes, self.n_fitted = d, n
        self.mean_ = Xc.mean(0)
        Xc -= self.mean_
        k = int(max(1, min(n_components, n - 1, d)))
        total = float(np.einsum("ij,ij->", Xc, Xc))
        if n <= 4096:
            w, u = np.linalg.eigh(Xc @ Xc.T)
            top = np.argsort(w)[::-1][:k]
            w, u = w[top], u[:, top]
            keep = w > 1e-9 * max(float(w[0]), 1e-300)   # axes the profiles span (not rounding)
            w, u = (w[keep], u[:, keep]) if keep.any() else (w[:1], u[:, :1])
            V = (Xc.T @ u) / np.sqrt(np.maximum(w, 1e-300))
            var = w
        else:
            from sklearn.utils.extmath import randomized_svd

            _, sv, vt = randomized_svd(Xc, k, n_iter=7, random_state=0)
            V, var = vt.T, sv * sv
        V = V * np.where(V[np.abs(V).argmax(0), np.arange(V.shape[1])] < 0, -1.0, 1.0)
        self.components_ = V.astype(np.float32)   # genes (in self.genes_ order) x components
        self.explained = float(var.sum() / total) if total > 0 else 1.0
        rms = float(np.sqrt(var.sum() / (n * len(var))))
        self.scale_ = rms if rms > 0 else 1.0

    @property
    def n_components(self) -> int:
        return int(self.components_.shape[1])

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """The inputs of profiles ``X`` (samples x genes): ``(X - mean) V / scale``, float32."""
        out = np.empty((len(X), self.n_components), np.float32)
        mean = self.mean_.astype(np.float32)
        for s in range(0, len(X), 4096):
            out[s:s + 4096] = (np.asarray(X[s:s + 4096], np.float32)[:, self.genes_] - mean) @ self.components_
        out /= np.float32(self.scale_)
        return out

    def record(self, used_by: str = "the classifiers (TSTR/TRTR, augmentation, detection, the classifier Fréchet "
                                     "distance)") -> dict:
        """What ``used_by`` ran on, for ``evaluate``'s attrs (``classifier_inputs``, ``membership``)."""
        return {"space": "pca", "genes": self.n_genes, "components": self.n_components,
                "fitted_on": f"{self.n_fitted} {self.source} profiles", "explained_variance": round(self.explained, 6),
                "note": (f"{self.n_genes} genes, more than {WIDE_GENES}: {used_by} ran on the {self.n_components} "
                         f"leading principal components of {self.n_fitted} {self.source} profiles "
                         f"({self.explained:.1%} of their variance), not on the genes")}


def _init_(net: nn.Module, g: torch.Generator) -> None:
    # PyTorch's default Linear init (Kaiming-uniform bound 1/sqrt(fan_in)), drawn from our own generator
    for m in net.modules():
        if isinstance(m, nn.Linear):
            bound = 1.0 / np.sqrt(m.in_features)
            with torch.no_grad():
                m.weight.uniform_(-bound, bound, generator=g)
                m.bias.uniform_(-bound, bound, generator=g)


def canonical_order(X: np.ndarray, y: np.ndarray | None = None, *, chunk: int = 4096) -> np.ndarray:
    """A permutation of the rows of ``X`` set by their content alone (the label, then the sum, the sum of squares and
    of cubes of each row's values): a classifier fitted on the rows in this order, and a subsample or folds drawn
    from them, give the same score however the rows of a file were ordered (a seeded mini-batch order would
    otherwise make TSTR and the detection AUC depend on it), and the key is the same for any order of the genes.
    Rows alike in all of it are interchangeable, so their ties do not matter."""
    keys = _power_sums(X, axis=1, chunk=chunk)
    order = (keys[2], keys[1], keys[0])
    return np.lexsort(order if y is None else (*order, np.asarray(y)))


def column_order(X: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
    """A permutation of the columns (genes) of ``X`` set by their content alone (the sum, the sum of squares
    and of cubes of each column's values, over the rows in any order): a network whose weights are drawn in
    this order of its inputs is the same for any order of the genes of a file (drawn in the file's order,
    TSTR, the detection AUC and LOGAN-D1 moved with it). Columns alike in all of it are interchangeable."""
    keys = _power_sums(X, axis=0, chunk=chunk)
    return np.lexsort((keys[2], keys[1], keys[0]))


def _power_sums(X: np.ndarray, *, axis: int, chunk: int) -> np.ndarray:
    """The sums of the values, of their squares and of their cubes along ``axis`` of ``X`` (1: one key per row, 0:
    per column), read ``chunk`` rows at a time in float64 (no float64 copy of a large matrix; a sparse matrix's
    rows too), rounded to 12 significant digits: sums taken in another order differ in their last bits."""
    keys = np.zeros((3, X.shape[1 - axis]))
    for s in range(0, X.shape[0], chunk):
        B = X[s:s + chunk]
        B = np.asarray(B.toarray() if hasattr(B, "toarray") else B, np.float64)
        B2 = B * B
        parts = (B.sum(axis), B2.sum(axis), (B2 * B).sum(axis))
        for k, part in enumerate(parts):
            if axis == 1:
                keys[k, s:s + chunk] = part
            else:
                keys[k] += part
    return np.stack([_round_sig(k) for k in keys])


def _round_sig(v: np.ndarray, digits: int = 12) -> np.ndarray:
    """``v`` rounded to ``digits`` significant digits (0 stays 0)."""
    with np.errstate(divide="ignore"):
        scale = np.where(v != 0, 10.0 ** (digits - 1 - np.floor(np.log10(np.abs(v)))), 1.0)
    return np.round(v * scale) / scale


def fit_classifier(X: np.ndarray, y: np.ndarray, *, n_classes: int, kind: Kind = "mlp", seed: int = 0,
                   epochs: int = 10, hidden: int = 256, batch_size: int = 512, lr: float = 2e-3,
                   weight_decay: float = 1e-4, max_profiles: int | None = MAX_PROFILES) -> TrainedClassifier:
    """Fit a classifier on ``X`` (float32, standardised) and integer labels ``y`` in ``[0, n_classes)``.

    Trains ``epochs`` passes over the data, stopped once ``max_profiles`` profiles have been seen (default
    :data:`MAX_PROFILES`, 100 steps of 512; ``None``: no cap). The cap binds only on large sets (at 10
    epochs: above 5,120 profiles) and holds a fit on 17,000 profiles to 3 epochs. On
    17,000 x 978 simulated profiles of 26 overlapping classes (held-out accuracy, mean of 3 seeds) it costs
    no accuracy: MLP 0.612 uncapped (10 epochs), 0.613 at 150 steps, 0.627 at 100; logistic regression
    0.597, 0.615, 0.616 (longer training over-fits), at a third of the time.
    """
    g = torch.Generator().manual_seed(int(seed))
    order = canonical_order(X, y)
    columns = column_order(X)
    X, y = X[order][:, columns], np.asarray(y)[order]
    d = X.shape[1]
    if kind not in ("mlp", "logreg"):
        raise ValueError(f"classifier must be 'mlp' or 'logreg', not {kind!r}")
    # the layers' default initialisation draws from torch's global generator, the caller's: drawn from a fork of
    # it, the weights then set from the classifier's own seed (_init_)
    with torch.random.fork_rng(devices=[]):
        net = (nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)) if kind == "mlp"
               else nn.Sequential(nn.Linear(d, n_classes)))
    _init_(net, g)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    Xt = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    n = len(Xt)
    # small sets get smaller batches, so every epoch still takes ~10 optimiser steps: with a floor of 32 a set
    # of 60 profiles got 20 steps in all and one of 120 got 40, so TSTR depended on the synthetic set's size
    # (a copy of 60 training profiles scored far below TRTR on 120)
    batch_size = int(min(batch_size, max(1, -(-n // 10))))
    total = epochs * -(-n // batch_size)
    if max_profiles is not None:
        total = min(total, -(-int(max_profiles) // batch_size))
    net.train()
    done = 0
    while done < total:
        perm = torch.randperm(n, generator=g)
        for s in range(0, n, batch_size):
            if done == total:
                break
            b = perm[s:s + batch_size]
            loss = nn.functional.cross_entropy(net(Xt[b]), yt[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
    return TrainedClassifier(net, kind, n_classes, columns)
