"""Networks of the conditional VAE (its MLP blocks and label input: :mod:`rnagen.models._blocks`).

Gene vectors have no spatial order, so every network here is a plain MLP: ``Linear -> norm -> LeakyReLU``
blocks as in the paper's baselines (Lacan et al. 2026: BatchNorm and LeakyReLU, label concatenated to the
input). The label enters as a one-hot vector or a learned embedding concatenated to the input of the
encoder, the decoder, the generator and the critic (Mirza & Osindero 2014; Sohn et al. 2015).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from ...train import LossOutput
from .._blocks import LabelInput, Norm, mlp

__all__ = ["LabelInput", "mlp", "ConditionalVAE"]


class ConditionalVAE(nn.Module):
    """Conditional VAE (Kingma & Welling 2014; Sohn et al. 2015) whose ``forward`` returns the training loss.

    Encoder q(z | x, y) = N(mu(x, y), diag sigma^2(x, y)); decoder p(x | z, y) = N(f(z, y), diag s^2) with
    ``s^2`` a learned per-gene variance (``likelihood="gaussian"``) or fixed (``"mse"``: the paper's squared
    error, i.e. s^2 = 1/2). Loss per profile (the negative ELBO, Higgins et al. 2017's beta weighting):

        sum_g [(x_g - f_g)^2 / (2 s_g^2) + log s_g]  +  beta_t * KL(q(z|x,y) || N(0, I)),

    divided by the number of genes so its scale does not depend on the panel size. ``beta_t`` rises
    linearly from 0 to ``beta`` over ``kl_warmup_steps`` training steps (Bowman et al. 2016), counted in a
    persistent buffer so a resumed run continues the warm-up where it stopped.
    """

    # parameter or buffers registered in __init__ (declared here for the type checker)
    log_var: torch.Tensor
    noise_log_var: torch.Tensor
    matched_noise_log_var: torch.Tensor
    matched_noise_factor: torch.Tensor
    prior_mean: torch.Tensor
    prior_chol: torch.Tensor
    steps_done: torch.Tensor

    def __init__(self, n_genes: int, n_labels: int, *, hidden: Sequence[int] = (512, 256), latent_dim: int = 32,
                 norm: Norm = "batch", negative_slope: float = 0.2, dropout: float = 0.0, label_dim: int = 0,
                 likelihood: Literal["mse", "gaussian"] = "gaussian", beta: float = 1.0,
                 kl_warmup_steps: int = 0) -> None:
        super().__init__()
        self.n_genes, self.n_labels, self.latent_dim = int(n_genes), int(n_labels), int(latent_dim)
        self.likelihood, self.beta, self.kl_warmup_steps = likelihood, float(beta), int(kl_warmup_steps)
        hidden = list(hidden)
        self.enc_label = LabelInput(n_labels, label_dim)
        self.dec_label = LabelInput(n_labels, label_dim)
        ld = self.enc_label.out_dim
        self.encoder = mlp(n_genes + ld, hidden, norm=norm, negative_slope=negative_slope, dropout=dropout)
        self.to_stats = nn.Linear(hidden[-1] if hidden else n_genes + ld, 2 * latent_dim)
        rev = hidden[::-1]
        self.decoder = mlp(latent_dim + ld, rev, norm=norm, negative_slope=negative_slope, dropout=dropout)
        self.to_x = nn.Linear(rev[-1] if rev else latent_dim + ld, n_genes)
        if likelihood == "gaussian":
            self.log_var = nn.Parameter(torch.zeros(n_genes))
        else:  # MSE: fixed variance 1/2, so (x-f)^2/(2 s^2) is the squared error
            self.register_buffer("log_var", torch.full((n_genes,), float(torch.log(torch.tensor(0.5)))))
        # per-gene variance of the observation noise added at sampling time when asked (set after training)
        self.register_buffer("noise_log_var", torch.zeros(n_genes))
        # the alternative ``noise_variance="matched"``: what the decoded draws lack of the data's per-gene
        # within-class variance (set after training)
        self.register_buffer("matched_noise_log_var", torch.zeros(n_genes))
        # its full-covariance form (``noise_covariance="full"``): a factor F (genes x rank) with F F^T the
        # positive part of the within-class covariance the decoded draws lack; rank 0 until set
        self.register_buffer("matched_noise_factor", torch.zeros(n_genes, 0))
        # per-class Gaussian fitted to the aggregate posterior after training (the ``aggregate`` prior):
        # z = prior_mean[c] + prior_chol[c] @ eps; the identity until set, i.e. the standard prior N(0, I)
        self.register_buffer("prior_mean", torch.zeros(n_labels, latent_dim))
        self.register_buffer("prior_chol", torch.eye(latent_dim).repeat(n_labels, 1, 1))
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of z given a profile and its label."""
        h = self.encoder(torch.cat([x, self.enc_label(y)], dim=1))
        mu, logvar = self.to_stats(h).chunk(2, dim=1)
        return mu, logvar.clamp(-20.0, 10.0)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Decoder mean f(z, y)."""
        return self.to_x(self.decoder(torch.cat([z, self.dec_label(y)], dim=1)))

    def kl_weight(self, step: int) -> float:
        """``beta_t``, the weight of the KL term at ``step``: ``beta`` ramped up linearly over the first
        ``kl_warmup_steps`` steps (KL annealing, Bowman et al. 2016)."""
        if self.kl_warmup_steps <= 0:
            return self.beta
        return self.beta * min(1.0, (step + 1) / self.kl_warmup_steps)

    def forward(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None) -> LossOutput:
        """The loss of the class docstring, averaged over the batch; ``generator`` draws the reparameterisation
        noise (Kingma & Welling 2014, eq. 10)."""
        mu, logvar = self.encode(x, y)
        # reparameterisation trick: z = mu + sigma * eps, eps from the loop's seeded noise generator
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        xr = self.decode(z, y).float()
        lv = self.log_var.float()
        recon = (0.5 * (x.float() - xr).pow(2) * torch.exp(-lv) + 0.5 * lv).sum(dim=1)
        kl = 0.5 * (mu.float().pow(2) + logvar.float().exp() - 1.0 - logvar.float()).sum(dim=1)
        w = self.kl_weight(int(self.steps_done))
        if self.training:
            self.steps_done += 1
        loss = (recon + w * kl).mean() / self.n_genes
        mse = (x.float() - xr).pow(2).mean()
        return LossOutput(loss=loss, logs={"mse": float(mse.detach()), "kl": float(kl.detach().mean()),
                                           "kl_weight": w})

    def flops_per_sample(self) -> int:
        """Multiply-add FLOPs (2 per MAC) of one decoder pass (what sampling one profile costs)."""
        lin = [m for m in list(self.decoder.modules()) + [self.to_x] if isinstance(m, nn.Linear)]
        return int(sum(2 * m.in_features * m.out_features for m in lin))
