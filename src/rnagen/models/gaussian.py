"""Per-class multivariate Gaussian: the honest floor every learned generator must beat.

For each label c, fit the mean mu_c and a shrunk covariance Sigma_c of the transformed training profiles
(Ledoit & Wolf 2004: Sigma = (1 - s) S + s (tr S / p) I, with s estimated in closed form, or fixed by the
config), so it works when genes outnumber samples; sample x = mu_c + L_c z with Sigma_c = L_c L_c^T. With
many genes (``covariance="auto"`` above 4,000) a diagonal covariance keeps memory linear in the genes.
Sampling multiplies each class's factor with that class's rows of a batch (never one G x G factor per
profile), so its memory is the model plus one batch of profiles.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from ..config import checked
from ..errors import ConfigError
from ._base import Generator, PreprocessConfig, register

FULL_COVARIANCE_MAX_GENES = 4000


@dataclass
@checked(None, shrinkage="[0, 1]")
class GaussianConfig:
    """Configuration of :class:`GaussianModel`: preprocessing, covariance form and shrinkage."""
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    covariance: Literal["auto", "full", "diag"] = "auto"
    """``full`` (shrunk), ``diag``, or ``auto``: full up to 4,000 genes, diagonal above."""
    shrinkage: float | None = None
    """Fixed shrinkage intensity in [0, 1]; ``None`` estimates it per class (Ledoit-Wolf)."""


@register
class GaussianModel(Generator):
    """A multivariate normal per label with covariance shrinkage (fast; the floor learned models must beat)."""

    name = "gaussian"
    config_cls = GaussianConfig
    uses_torch = False

    def _full(self) -> bool:
        kind = self.config.covariance
        return kind == "full" or (kind == "auto" and self.n_genes <= FULL_COVARIANCE_MAX_GENES)

    def _fit(self, X, y, *, seed, run_dir, progress, resume) -> None:
        from sklearn.covariance import ledoit_wolf, shrunk_covariance

        X = X.astype(np.float64)
        G = X.shape[1]
        self.means = np.zeros((self.n_labels, G))
        self.factors = np.zeros((self.n_labels, G, G)) if self._full() else np.zeros((self.n_labels, G))
        self.shrinkages = np.zeros(self.n_labels)
        for c in range(self.n_labels):
            Xc = X[y == c]
            self.means[c] = Xc.mean(axis=0)
            if self._full():
                if self.config.shrinkage is None:
                    cov, s = ledoit_wolf(Xc)
                else:
                    s = self.config.shrinkage
                    cov = shrunk_covariance(np.cov(Xc, rowvar=False, bias=True).reshape(G, G), shrinkage=s)
                # a tiny jitter keeps the Cholesky factorisation stable for (near-)constant genes
                self.factors[c] = np.linalg.cholesky(cov + 1e-8 * np.eye(G))
                self.shrinkages[c] = s
            else:
                var = Xc.var(axis=0)
                s = 0.0 if self.config.shrinkage is None else self.config.shrinkage
                var = (1 - s) * var + s * var.mean()
                self.factors[c] = np.sqrt(np.maximum(var, 1e-12))
                self.shrinkages[c] = s
        self.history = [{"step": 1, "mean_shrinkage": float(self.shrinkages.mean())}]

    def _sample(self, y, *, seed, batch_size, progress, **options) -> np.ndarray:
        if options:
            raise ConfigError(f"the gaussian model takes no sampler options, got {sorted(options)}")
        rng = np.random.default_rng(seed)
        out = np.empty((len(y), self.n_genes), dtype=np.float32)
        for start in range(0, len(y), batch_size):
            yb = y[start:start + batch_size]
            z = rng.standard_normal((len(yb), self.n_genes))
            # x = mu_c + L_c z for the rows of class c: one (rows x G) @ (G x G) product per class present, so
            # the batch never holds a G x G factor per profile; the same z gives the same profiles
            for c in np.unique(yb):
                rows = np.flatnonzero(yb == c)
                zc = z[rows]
                xc = zc @ self.factors[c].T if self._full() else zc * self.factors[c]
                xc += self.means[c]
                out[start + rows] = xc
        return out

    def _state_tensors(self) -> dict[str, Any]:
        return {"means": torch.from_numpy(self.means), "factors": torch.from_numpy(self.factors),
                "shrinkages": torch.from_numpy(self.shrinkages)}

    def _load_state_tensors(self, tensors) -> None:
        self.means = tensors["means"].numpy().astype(np.float64)
        self.factors = tensors["factors"].numpy().astype(np.float64)
        self.shrinkages = tensors["shrinkages"].numpy().astype(np.float64)
        C, G = self.n_labels, self.n_genes
        factor_shape = (C, G, G) if self._full() else (C, G)
        if self.means.shape != (C, G) or self.factors.shape != factor_shape or self.shrinkages.shape != (C,):
            raise ValueError(f"tensor shapes {self.means.shape}, {self.factors.shape} do not fit {C} labels x "
                             f"{G} genes")

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        """Optuna search space: covariance form, shrinkage intensity and scaler drawn from ``trial``."""
        return {
            "covariance": trial.suggest_categorical("covariance", ["full", "diag"]),
            "shrinkage": trial.suggest_float("shrinkage", 0.01, 0.99),
            "preprocess.scaler": trial.suggest_categorical("preprocess.scaler", ["standard", "none"]),
        }
