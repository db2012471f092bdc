"""Networks and training step of the conditional WGAN-GP (Arjovsky et al. 2017; Gulrajani et al. 2017).

Generator G(z, y): an MLP from noise z ~ N(0, I) and the label (concatenated) to a profile. Critic D(x, y): an
MLP from a profile and its label to a score. The critic uses LayerNorm or no normalisation, never
BatchNorm: the gradient penalty is defined per sample, and batch statistics would couple the samples
(Gulrajani et al. 2017, section 4).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from .._blocks import LabelInput, mlp

__all__ = ["CondGenerator", "CondCritic", "WGANGP", "gradient_penalty", "copy_repulsion", "wgan_gp_step",
           "per_sample_critic_grads"]


class CondGenerator(nn.Module):
    """``G(z, y)``: noise and label -> profile (transformed space).

    With ``class_bias`` the output also gets a learned per-class offset ``b_y`` (a label embedding of
    gene size added at the output, initialised by the model to the class means of the training data), so
    the MLP only has to produce the within-class variation: in short CPU runs the plain generator spends most
    of its steps moving to the class centres.

    With an ``anchor`` (``diag`` or ``full``) the output is a draw of a per-class Gaussian plus the MLP's
    residual: ``G(z, y) = m_y + S_y e + MLP(z', y)`` with ``z = (z', e)``, ``e ~ N(0, I)`` of gene size and
    ``S_y S_y^T`` the class covariance (``diag``: per-gene variances; ``full``: its eigenvectors scaled by the
    square roots of its eigenvalues), set by :meth:`set_anchor`; the residual's output layer starts at zero, so
    the untrained generator is that Gaussian, as the private diffusion model starts from its anchor: under DP-SGD
    the critic carries little signal, and a generator started at random has nothing to fall back on.
    :attr:`noise_dim` is then the size of ``z`` and ``e`` together.
    """

    anchor_mean: torch.Tensor
    anchor_scale: torch.Tensor

    def __init__(self, n_genes: int, n_labels: int, *, noise_dim: int = 32, hidden: Sequence[int] = (256, 512),
                 norm: Literal["batch", "layer", "none"] = "batch", negative_slope: float = 0.2,
                 label_dim: int = 0, class_bias: bool = False, anchor: Literal["none", "diag", "full"] = "none"
                 ) -> None:
        super().__init__()
        if anchor not in ("none", "diag", "full"):
            raise ValueError(f"anchor must be 'none', 'diag' or 'full', got {anchor!r}")
        self.anchor = anchor
        self.mlp_noise_dim = int(noise_dim)
        self.noise_dim = int(noise_dim) + (n_genes if anchor != "none" else 0)
        self.label = LabelInput(n_labels, label_dim)
        self.body = mlp(noise_dim + self.label.out_dim, list(hidden), norm=norm, negative_slope=negative_slope)
        self.out = nn.Linear(list(hidden)[-1], n_genes)
        self.class_bias = nn.Embedding(n_labels, n_genes) if class_bias else None
        if self.class_bias is not None:
            nn.init.zeros_(self.class_bias.weight)
        if anchor != "none":
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
            self.register_buffer("anchor_mean", torch.zeros(n_labels, n_genes))
            self.register_buffer("anchor_scale", torch.ones(n_labels, n_genes) if anchor == "diag"
                                 else torch.eye(n_genes).repeat(n_labels, 1, 1))

    def set_anchor(self, means: torch.Tensor, eig: torch.Tensor, basis: torch.Tensor | None = None) -> None:
        """The anchor's per-class Gaussians: means and variances (``diag``), or means, covariance eigenvalues
        and eigenvectors as columns (``full``); one row per class."""
        if self.anchor == "none":
            raise ValueError("this generator has no anchor")
        if means.shape != self.anchor_mean.shape or eig.shape != self.anchor_mean.shape:
            raise ValueError(f"anchor statistics of shape {tuple(means.shape)} / {tuple(eig.shape)}; "
                             f"expected {tuple(self.anchor_mean.shape)}")
        if (basis is None) != (self.anchor == "diag"):
            raise ValueError(f"a {self.anchor} anchor {'takes no' if self.anchor == 'diag' else 'needs an'} "
                             "eigenbasis")
        sd = eig.clamp_min(0).sqrt()
        self.anchor_mean.copy_(means)
        self.anchor_scale.copy_(sd if basis is None else basis * sd.unsqueeze(1))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Profiles ``(batch, genes)`` for noise ``z`` and class ids ``y``."""
        zm = z[:, :self.mlp_noise_dim]
        x = self.out(self.body(torch.cat([zm, self.label(y)], dim=1)))
        if self.class_bias is not None:
            x = x + self.class_bias(y)
        if self.anchor != "none":
            e = z[:, self.mlp_noise_dim:]
            if self.anchor == "diag":
                draw = self.anchor_scale[y] * e
            else:  # per class present: never a genes x genes matrix per row
                draw = torch.empty_like(e)
                for c in torch.unique(y).tolist():
                    rows = torch.nonzero(y == c).flatten()
                    draw[rows] = e[rows] @ self.anchor_scale[c].T
            x = x + self.anchor_mean[y] + draw.to(x.dtype)
        return x


class CondCritic(nn.Module):
    """``D(x, y)``: profile and label -> real-valued score (higher = more real).

    ``conditioning="concat"``: the label (one-hot or embedded) is concatenated to the profile.
    ``"projection"`` (Miyato & Koyama 2018): ``D(x, y) = w . phi(x) + e_y . phi(x)``, the label entering as
    an inner product of a class embedding with the features, which scores class membership directly.

    ``minibatch_std=G`` > 0 (Karras et al. 2018, "Progressive growing of GANs", section 3): the batch is cut
    into groups of G consecutive profiles, and each profile's last features get one more, the standard
    deviation of the features within its group averaged over features, so the critic sees how varied a set of
    profiles is and can score a generator whose profiles crowd together (mode collapse) as fake. Real and
    generated batches carry the same labels in the same order, so their groups compare like with like.
    """

    label: LabelInput | None  # concat conditioning
    embed: nn.Embedding | None  # projection conditioning

    def __init__(self, n_genes: int, n_labels: int, *, hidden: Sequence[int] = (512, 256),
                 norm: Literal["layer", "none"] = "layer", negative_slope: float = 0.2, label_dim: int = 0,
                 conditioning: Literal["concat", "projection"] = "concat", minibatch_std: int = 0) -> None:
        super().__init__()
        self.conditioning = conditioning
        self.minibatch_std = int(minibatch_std)
        if conditioning == "projection":
            self.label = None
            self.body = mlp(n_genes, list(hidden), norm=norm, negative_slope=negative_slope)
            self.embed = nn.Embedding(n_labels, list(hidden)[-1])
            nn.init.normal_(self.embed.weight, std=0.02)
        else:
            self.label = LabelInput(n_labels, label_dim)
            self.body = mlp(n_genes + self.label.out_dim, list(hidden), norm=norm, negative_slope=negative_slope)
            self.embed = None
        self.out = nn.Linear(list(hidden)[-1] + (1 if self.minibatch_std > 0 else 0), 1)

    def _with_group_std(self, h: torch.Tensor) -> torch.Tensor:
        """``h`` with one more feature: the mean over features of their standard deviation within each group
        of ``minibatch_std`` consecutive rows (the rows left over form a last, smaller group). The variance gets
        1e-8 under the square root, as in Karras et al., so identical rows still have a finite gradient."""
        B, G = h.shape[0], self.minibatch_std

        def group_sd(grp: torch.Tensor) -> torch.Tensor:  # (groups, size, features) -> (groups,)
            var = (grp - grp.mean(dim=1, keepdim=True)).pow(2).mean(dim=1)
            return (var + 1e-8).sqrt().mean(dim=1)

        full = (B // G) * G
        parts = []
        if full:
            parts.append(group_sd(h[:full].reshape(B // G, G, -1)).repeat_interleave(G))
        if B > full:
            parts.append(group_sd(h[full:].unsqueeze(0)).expand(B - full))
        return torch.cat([h, torch.cat(parts).unsqueeze(1)], dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Critic scores ``(batch,)`` of profiles ``x`` with class ids ``y``."""
        if self.embed is not None:
            h = self.body(x)
            hs = self._with_group_std(h) if self.minibatch_std > 0 else h
            return self.out(hs).squeeze(1) + (self.embed(y) * h).sum(dim=1)
        assert self.label is not None  # concat conditioning: set in __init__ whenever embed is not
        h = self.body(torch.cat([x, self.label(y)], dim=1))
        return self.out(self._with_group_std(h) if self.minibatch_std > 0 else h).squeeze(1)


class WGANGP(nn.Module):
    """Container of the generator and critic (one module, so the shared loop checkpoints and EMA-averages
    both). Hyperparameters of the adversarial game live here so the training step needs nothing else."""

    # buffers (registered in __init__; declared here for the type checker)
    last_g_loss: torch.Tensor
    last_copy_share: torch.Tensor
    copy_reference: torch.Tensor | None
    label_weights: torch.Tensor | None

    def __init__(self, generator: CondGenerator, critic: CondCritic, *, n_critic: int = 5, gp_weight: float = 10.0,
                 drift: float = 0.0, copy_penalty: float = 0.0, copy_target: str = "ema") -> None:
        super().__init__()
        self.generator, self.critic = generator, critic
        self.n_critic, self.gp_weight, self.drift = int(n_critic), float(gp_weight), float(drift)
        self.copy_penalty, self.copy_target = float(copy_penalty), str(copy_target)
        # the generator loss of its latest update, logged every step (the loop averages logs over steps); not
        # weights, so outside the state_dict, but saved in the loop's checkpoint (log_buffers) so a resumed run
        # logs what an uninterrupted one does until the generator's next update
        self.register_buffer("last_g_loss", torch.zeros(()), persistent=False)
        self.register_buffer("last_copy_share", torch.zeros(()), persistent=False)
        self.log_buffers = ("last_g_loss", "last_copy_share")
        # training profiles and the radius for the copy repulsion (set by the model; never saved)
        self.register_buffer("copy_reference", None, persistent=False)
        self.copy_radius = 0.0
        # the classes' shares of the training profiles (public, as the class sizes of a private run are): the
        # labels of a private run's generator updates are drawn from them, not taken from the private batch
        self.register_buffer("label_weights", None, persistent=False)

    def set_copy_reference(self, X: torch.Tensor, radius: float) -> None:
        """The training profiles the generator is pushed away from, and the radius of that push."""
        self.copy_reference = X.detach().float().to(next(self.parameters()).device)
        self.copy_radius = float(radius)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor,
                     eps: torch.Tensor) -> torch.Tensor:
    """``E[(||grad_x D(x_hat, y)||_2 - 1)^2]`` at ``x_hat = eps * real + (1 - eps) * fake`` (Gulrajani et al.
    2017, Algorithm 1), one ``eps ~ U[0, 1]`` per sample; differentiable (create_graph) for the critic step."""
    x_hat = (eps * real + (1.0 - eps) * fake).detach().requires_grad_(True)
    score = critic(x_hat, y)
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
    return (grad.float().norm(2, dim=1) - 1.0).pow(2).mean()


def per_sample_critic_grads(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor,
                            eps: torch.Tensor, *, gp_weight: float, drift: float = 0.0
                            ) -> tuple[dict[str, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Each profile's gradient of its own critic loss, for DP-SGD's per-profile clipping (Abadi et al. 2016).

    Profile ``i``'s loss is ``D(fake_i) - D(real_i) + gp_weight (||grad_x D(x_hat_i)|| - 1)^2`` (+ ``drift
    D(real_i)^2``), ``x_hat_i = eps_i real_i + (1 - eps_i) fake_i``: the terms of :func:`wgan_gp_step`'s critic loss
    that involve profile ``i``, its generated partner and its interpolate, so its clipped gradient bounds the whole
    influence of that profile on the update (the generated partner's term alone is data-independent; clipped with
    the rest, it leaves the sensitivity at the clipping norm). Computed with ``torch.func`` (``vmap`` over profiles
    of ``grad`` of a loss that holds an input ``grad``): the gradient penalty is second order in the critic, which
    opacus's per-layer hooks do not differentiate. The critic must treat each profile alone (no batch statistics, no
    minibatch-std feature). Returns ``{parameter name: (batch, *shape)}`` and the per-profile
    ``(D(real), D(fake), penalty)`` for the log.
    """
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in critic.named_parameters()}

    def score(p: dict[str, torch.Tensor], x: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return functional_call(critic, p, (x.unsqueeze(0), yi.unsqueeze(0))).squeeze(0)

    def loss(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor, fi: torch.Tensor,
             ei: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        x_hat = ei * xi + (1.0 - ei) * fi
        g = grad(lambda inp: score(p, inp, yi))(x_hat)
        gp = (g.float().norm(2) - 1.0).pow(2)
        d_real, d_fake = score(p, xi, yi).float(), score(p, fi, yi).float()
        out = d_fake - d_real + gp_weight * gp
        if drift > 0:
            out = out + drift * d_real.pow(2)
        return out, (d_real.detach(), d_fake.detach(), gp.detach())

    grads, aux = vmap(grad(loss, has_aux=True), in_dims=(None, 0, 0, 0, 0))(params, real, y, fake.detach(), eps)
    return grads, aux


def _private_critic_update(ctx, gan: "WGANGP", xb: torch.Tensor, yb: torch.Tensor) -> dict[str, float]:
    """The critic's DP-SGD step on the Poisson batch ``(xb, yb)``: per-profile gradients
    (:func:`per_sample_critic_grads`) handed to the private optimiser, which clips, noises and applies them
    (:class:`rnagen.train.privacy.PrivateTraining`); an empty batch still takes the noise."""
    G, D = gan.generator, gan.critic
    opt = ctx.private.optimizer
    g, dev, B = ctx.generator, xb.device, xb.shape[0]
    logs: dict[str, float] = {}
    if B:
        z = torch.randn((B, G.noise_dim), generator=g, device=dev)
        eps = torch.rand((B, 1), generator=g, device=dev)
        with torch.no_grad():
            fake = G(z, yb)
        grads, (d_real, d_fake, gp) = per_sample_critic_grads(D, xb, fake, yb, eps, gp_weight=gan.gp_weight,
                                                              drift=gan.drift)
        for name, p in D.named_parameters():
            p.grad_sample = grads[name]  # type: ignore[attr-defined]  # read by opacus's DPOptimizer
        w_dist = float(d_real.mean() - d_fake.mean())
        loss_d = -w_dist + gan.gp_weight * float(gp.mean())
        if gan.drift > 0:
            loss_d += gan.drift * float(d_real.pow(2).mean())
        logs = {"loss_d": loss_d, "w_dist": w_dist, "gp": float(gp.mean())}
    else:
        for p in D.parameters():
            p.grad_sample = torch.zeros((0, *p.shape), device=p.device, dtype=p.dtype)  # type: ignore[attr-defined]
    opt.step()
    return logs


def copy_repulsion(fake: torch.Tensor, reference: torch.Tensor, radius: float,
                   anchor: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Penalty on generated profiles that lie within ``radius`` of a training profile, and their share.

    Without ``anchor`` it is ``mean(relu(radius - d_i))``, ``d_i`` the distance of ``fake[i]`` to its closest
    reference profile: its gradient moves a profile inside the radius straight away from that profile with
    norm 1 / batch size (the scale of the critic's gradient under the 1-Lipschitz penalty) and leaves the
    others alone. With ``anchor`` (the same noise through the averaged generator that sampling uses) the
    distances and directions are the anchor's, and the penalty is that hinge linearised at the anchor, so the
    live generator is pushed wherever the *sampled* generator copies. This is a repulsive variant of
    memorisation rejection (Bai et al. 2021, which drops such samples from the generator's update instead).
    """
    a = fake.detach() if anchor is None else anchor.detach()
    d, idx = torch.cdist(a.float(), reference).min(dim=1)
    inside = d < radius
    away = (a.float() - reference[idx]) / d.clamp_min(1e-12).unsqueeze(1)  # unit vectors away from the copy
    lin = radius - d - ((fake.float() - a.float()) * away).sum(dim=1)   # = radius - d(fake) to first order
    return torch.where(inside, lin, torch.zeros_like(lin)).mean(), inside.float().mean()


def _averaged_generator_output(ctx, G: CondGenerator, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """``G(z, y)`` with the loop's moving-average weights (what sampling uses), or None without an average."""
    if ctx.ema is None:
        return None
    params = {k[len("generator."):]: v for k, v in ctx.ema.shadow.items() if k.startswith("generator.")}
    with torch.no_grad():
        return torch.func.functional_call(G, params, (z, y))


def wgan_gp_step(ctx, xb: torch.Tensor, yb: torch.Tensor) -> dict[str, float]:
    """One step of the shared loop: a critic update on this batch, and every ``n_critic``-th step a generator
    update (Gulrajani et al. 2017, Algorithm 1: n_critic critic iterations per generator iteration).

    Gradients go through ``ctx.all_reduce_grads`` (no DDP wrapper: two optimisers, double backward), so
    every rank applies the same averaged update. Both learning-rate schedules advance once per loop step. The
    noise (``z`` and the penalty's ``eps``) is drawn for the whole global batch from one stream on every rank and
    sliced (``ctx.batch_noise``): N ranks follow one process up to floating-point rounding, and a run resumed on
    another number of processes continues the uninterrupted run's draws.

    Differentially private (``ctx.private``): the critic takes a DP-SGD step (:func:`_private_critic_update`;
    under DDP each rank clips its slice and the private optimiser sums them, rank 0 adding the noise); the
    generator, which sees the profiles only through the critic, trains on it as usual (post-processing) with
    labels drawn from the class shares, and never with the copy repulsion (it reads the profiles).
    """
    gan: WGANGP = ctx.raw
    G, D = gan.generator, gan.critic
    opt_d, opt_g = ctx.optimizers["critic"], ctx.optimizers["generator"]
    g, dev, B = ctx.generator, xb.device, xb.shape[0]
    # bf16 autocast is safe for the double backward; fp16 would need loss scaling of the penalty: use fp32
    use_amp = ctx.amp_dtype is torch.bfloat16
    amp = ctx.autocast() if use_amp else torch.autocast(device_type=dev.type, enabled=False)

    # 1. critic: maximise D(real) - D(fake) under the gradient penalty
    if ctx.private is not None:  # DP-SGD: the critic is the only network that reads the profiles
        logs = _private_critic_update(ctx, gan, xb, yb)
    else:
        # the noise of each profile of the global batch, whatever the number of ranks (StepContext.batch_noise)
        z = ctx.batch_noise(torch.randn, B, G.noise_dim)
        eps = ctx.batch_noise(torch.rand, B, 1)
        with amp:
            with torch.no_grad():
                fake = G(z, yb)
            d_real, d_fake = D(xb, yb).float(), D(fake, yb).float()
            gp = gradient_penalty(D, xb, fake, yb, eps)
        w_dist = d_real.mean() - d_fake.mean()
        loss_d = -w_dist + gan.gp_weight * gp
        if gan.drift > 0:  # keeps the critic's output near 0 (Karras et al. 2018, eq. in section A.1)
            loss_d = loss_d + gan.drift * d_real.pow(2).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward(inputs=list(D.parameters()))
        ctx.all_reduce_grads(D.parameters())
        if ctx.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(D.parameters(), ctx.cfg.grad_clip)
        opt_d.step()
        logs = {"loss_d": float(loss_d.detach()), "w_dist": float(w_dist.detach()), "gp": float(gp.detach())}

    # 2. generator: every n_critic-th step, minimise -D(G(z, y), y)
    if ctx.step % gan.n_critic == gan.n_critic - 1:
        yg = yb
        if ctx.private is not None:
            # post-processing of the private critic: labels from the public class shares, not the private batch
            assert gan.label_weights is not None, "a private run draws the generator's labels from label_weights"
            yg = torch.multinomial(gan.label_weights, ctx.private.plan.expected_batch_size, replacement=True,
                                   generator=g)
        z = (torch.randn((len(yg), G.noise_dim), generator=g, device=dev) if ctx.private is not None else
             ctx.batch_noise(torch.randn, len(yg), G.noise_dim))
        with amp:
            fake = G(z, yg)
            loss_g = -D(fake, yg).float().mean()
        if gan.copy_penalty > 0 and gan.copy_reference is not None:
            anchor = _averaged_generator_output(ctx, G, z, yg) if gan.copy_target == "ema" else None
            pen, share = copy_repulsion(fake, gan.copy_reference, gan.copy_radius, anchor=anchor)
            loss_g = loss_g + gan.copy_penalty * pen
            gan.last_copy_share.fill_(float(share))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward(inputs=list(G.parameters()))  # the critic's gradients are not needed
        ctx.all_reduce_grads(G.parameters())
        if ctx.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(G.parameters(), ctx.cfg.grad_clip)
        opt_g.step()
        gan.last_g_loss.fill_(float(loss_g.detach()))
    with warnings.catch_warnings():
        # the generator's scheduler advances before its first update (step n_critic - 1): expected here
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
        for s in ctx.schedulers.values():
            s.step()
    return {**logs, "loss_g": float(gan.last_g_loss), **({"copy_share": float(gan.last_copy_share)}
                                                        if gan.copy_penalty > 0 else {})}


#: the noise of a non-private step is drawn per global batch (:meth:`rnagen.train.loop.StepContext.batch_noise`): a
#: run on any number of processes, or resumed on another number, gives each profile the draws of one process
wgan_gp_step.batch_noise = True  # type: ignore[attr-defined]

#: the optimiser whose parameters read the training profiles: DP-SGD clips and noises its updates alone
#: (:meth:`rnagen.train.privacy.PrivateTraining.attach`)
wgan_gp_step.private_optimizer = "critic"  # type: ignore[attr-defined]
