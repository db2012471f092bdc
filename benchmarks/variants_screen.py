"""Screens of variants of the default diffusion model that need their own training (issue 16).

``aa_by_dimension.py`` finds the default's samples in place along the data's leading directions and away from the
held-out profiles in the many weak ones: a held-out profile's nearest real neighbour shares structure with it in
hundreds of genes (sub-types, sites, batches within a class) that the model's samples smooth over. Two questions:

``kPER``, clusters as conditions: does the model reproduce that structure when given it as a condition? Cluster
labels found without supervision (Hu et al. 2023, "Self-guided diffusion models"; Adaloglou et al. 2024,
"Rethinking cluster-conditioned diffusion models for label-free image synthesis"): each class of the training
split is cut by k-means (10 restarts) on the training profiles' 20 leading principal components (log-scale genes
z-scored with the training statistics) into k = floor(n_class / PER) clusters (fewer while a cluster would hold
under PER / 3 profiles); the default diffusion model (validation-chosen length, autoguidance, DPM-Solver++ 20;
nothing else changed) is trained with the (class, cluster) pairs as its classes; a synthetic profile of class c
takes cluster j with the training split's frequency n_cj / n_c and is reported as class c.

``ensN``, an ensemble of N default models trained with different seeds (their own initialisation, batches and
validation hold-out), each synthetic profile drawn from one of them at random: is the smoothing the variance of
one training run (which a mixture of runs averages out) or a bias every run shares?

``mN``: the package's own mixture, the default trained with ``train.members=N`` (its members are the ``ensN``
models, each profile from one at random; the zeros placed on the mixture's draws, not each member's).

``gW``: the default network sampled with classifier-free guidance weight W (no training of its own).

``joint``: the default network sampled with the (classifier-free guidance, autoguidance) pair that the run's own
validation score chooses among CFG 0, 0.25, 0.5 and its autoguidance weights (``joint_guidance.py``);
``joint:W1,W2,...`` among the CFG weights listed instead; ``joint@dpm++10``, ``joint@ddim50``: that pair with another
sampler (what ``rnagen sample --sampler S --steps N`` gives a run trained with the current default);
``joint~LO-HI``: that pair with classifier-free guidance applied only at the steps whose noise level (t + 1) / T lies
in (LO, HI] (Kynkäänniemi et al. 2024, "Applying guidance in a limited interval improves sample and distribution
quality in diffusion models"), the network's own conditional output elsewhere; autoguidance at every step.

``ddimN``, ``dpm++N``: the default network sampled with DDIM or DPM-Solver++ at N steps instead of the default
sampler (no training of its own).

``coolF``: a learning-rate cool-down after the chosen length (the "decay" phase of warmup-stable-decay schedules;
Hägele et al. 2024, "Scaling laws and compute-optimal training beyond fixed training durations"): the default is
trained at a constant learning rate and keeps the EMA weights of its best check, which a decay never reached.
Starting from those weights, F x the chosen length more steps on the run's own training part (its held-out
profiles excluded), the learning rate rising over 50 steps to the run's and falling linearly to 0, fresh AdamW
moments, the run's batch size, weight decay and gradient clipping; then sampled with the (CFG, autoguidance) pair
the run's validation score chooses for the cooled network (as ``joint``), the guide unchanged. Prints the
validation score of the network alone before and after: a guarded option would keep the cool-down only where it
rises.

``pgG`` (``coolFpgG``): the ``joint`` sampling (of the ``coolF`` network) with particle guidance (Corso et al. 2024,
"Particle guidance: non-I.I.D. diverse sampling with diffusion models"): at every step each sample's predicted
profile x̂0 is pushed away from the kernel-weighted mean of its class's other samples in the batch, x̂0 + G σ_t²
(x̂0 − Σ_j k_ij x̂0_j / Σ_j k_ij), k_ij = exp(−|x̂0_i − x̂0_j|² / h) with the median heuristic h = median |·|² /
log n (Liu & Wang 2016): strongest at high noise, none at the last step. Aimed at the samples that crowd among
themselves (AA_syn above its real value).

``avgN``: the denoiser outputs of N default networks trained with different seeds (the ``ensN`` models) averaged
at every sampling step (their guides likewise), one network's score estimate with the seeds' own errors averaged
out, against ``ensN``'s mixture of their samples; sampled with the pair the first run's validation score chooses for
it (its held-out profiles are partly the other runs' training profiles; the first run's zero thresholds);
``avgN:G,A`` with classifier-free guidance G and autoguidance A instead.

``fracF``: the default trained on a stratified share F of the split's training profiles (``rnagen.pp.split``, seeded
by the split), scored against the same held-out profiles, floor and ceiling: how the gap moves with the data's size
(the model chooses its own length and guidance pair on its own held-out share, as any run); ``fracF:KEY=VALUE,...``
with settings changed (``minval=N``: validated on a hold-out raised only to N profiles, by the score without its
copy factor, what found the copies of "Small real sets"; ``guidance=G``, ``autoguidance=A``: sampled with that
weight instead of the run's choice, the same network); ``gaussfracF`` the per-class Gaussian fitted on the same
share (the floor of that size).

``set:KEY=VALUE``: the default trained with one setting changed (e.g. ``set:objective.label_dropout=0``).

``plain`` is the default model; ``sOFFSET`` the default trained with seed split + OFFSET alone (the ensemble's
second member at 1000). Protocol of ``quality.py`` (as ``resample_screen.py``): a stratified 80/20 split
per seed, the per-class Gaussian floor and the real-vs-real ceiling on the same split, 2 synthetic draws (``--draws``).
``--cache DIR`` keeps each split's trained models (``DIR/D_SEED`` the default, ``DIR/D_SEED_kPER`` a clustered
one, ``DIR/D_SEED_sS`` the default trained with seed S, ``DIR/D_SEED_mN`` the mixture, ``DIR/D_SEED_fracF`` the
default trained on a share F).

Usage: OMP_NUM_THREADS=1 python benchmarks/variants_screen.py --dataset mirna4 --seeds 0 1 2 --threads 1 \
           --variants plain k150 k50 ens2 m2 --cache DIR
"""
from __future__ import annotations

import contextlib
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import quality as Q  # noqa: E402
import resample_screen as RS  # noqa: E402

SEP = "@@"  # joins a class and its cluster in a composite label; in no class name of the development sets


def clusters(train, *, per: int, logged: bool, seed: int) -> np.ndarray:
    """The composite label (class SEP cluster) of every training profile."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    X = RS.log_values(train.X, logged)
    Z = (X - X.mean(0)) / (X.std(0) + 1e-8)
    P = PCA(min(20, Z.shape[1], Z.shape[0] - 1), random_state=seed).fit_transform(Z)
    y = train.obs[Q.LABEL].astype(str).to_numpy()
    out = np.empty(len(y), dtype=object)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k, lab = max(1, len(idx) // per), np.zeros(len(idx), int)
        while k > 1:
            lab = KMeans(k, n_init=10, random_state=seed).fit_predict(P[idx])
            if np.bincount(lab).min() >= per / 3:
                break
            k -= 1
        lab = lab if k > 1 else np.zeros(len(idx), int)
        out[idx] = [f"{c}{SEP}{j}" for j in lab]
    return out


class Ensemble:
    """``n`` default models of one split (seeds ``seed``, ``seed + 1000``, ...; the first is ``first``); each
    profile drawn from one."""

    def __init__(self, first, dataset: str, train, seed: int, cache: Path | None, *, n: int) -> None:
        self.models = [first] + [reseeded(dataset, train, seed, cache, 1000 * i) for i in range(1, n)]

    def sample(self, like, seed: int):
        """A set with ``like``'s label counts, each profile from a model drawn uniformly."""
        import anndata

        pick = np.random.default_rng([seed, 19]).integers(len(self.models), size=like.n_obs)
        parts = {str(i): m.sample(like=like[pick == i], seed=seed + i)
                 for i, m in enumerate(self.models) if (pick == i).any()}
        return anndata.concat(parts, index_unique="-")


class Sampled:
    """The default model sampled with other sampler ``options`` (``guidance=0.5``; ``sampler="ddim", steps=50``)."""

    def __init__(self, model, **options) -> None:
        self.model, self.options = model, options

    def sample(self, like, seed: int):
        """A set with ``like``'s label counts, drawn with the options."""
        return self.model.sample(like=like, seed=seed, **self.options)


class CFGInterval(Sampled):
    """The default model sampled with ``options`` and classifier-free guidance only at noise levels in (lo, hi]: at
    the other steps the unconditional half of the guided forward pass is replaced by the conditional half, so that
    (1 + w) cond - w uncond is the conditional output (the same network calls, a prototype of the option)."""

    def __init__(self, model, lo: float, hi: float, **options) -> None:
        super().__init__(model, **options)
        self.lo, self.hi = lo, hi

    def sample(self, like, seed: int):
        """A set with ``like``'s label counts, the networks wrapped while it is drawn."""
        import torch

        m, T = self.model, self.model.schedule.T
        lo, hi = self.lo, self.hi

        class Wrapped(torch.nn.Module):
            def __init__(self, net) -> None:
                super().__init__()
                self.net, self.null_label = net, net.null_label

            def forward(self, x, t, y):
                out = self.net(x, t, y)
                if lo < (int(t.reshape(-1)[0]) + 1) / T <= hi or not bool((y == self.null_label).any()):
                    return out
                half = len(y) // 2
                return torch.cat([out[:half], out[:half]])

        net, guide = m.net, m.guide_net
        try:
            m.net = Wrapped(net)
            m.guide_net = Wrapped(guide) if guide is not None else None
            return super().sample(like, seed)
        finally:
            m.net, m.guide_net = net, guide


class Particle(Sampled):
    """``model`` sampled with ``options`` and particle guidance of strength ``gamma`` (``pgG`` above): the sampler's
    denoiser output of each batch is replaced by the one whose x̂0 is pushed away from its class's other samples."""

    def __init__(self, model, gamma: float, **options) -> None:
        super().__init__(model, **options)
        self.gamma = gamma

    @staticmethod
    def away(x0, labels, gamma_sigma2: float):
        """x̂0 moved ``gamma_sigma2`` of the way from each class's kernel-weighted mean of the others."""
        import torch

        out = x0.clone()
        for c in torch.unique(labels):
            idx = torch.nonzero(labels == c).flatten()
            if len(idx) < 3:
                continue
            Z = x0[idx]
            D2 = torch.cdist(Z, Z).pow(2)
            off = D2[~torch.eye(len(idx), dtype=torch.bool)]
            h = float(off.median()) / float(np.log(len(idx))) + 1e-12
            D2.fill_diagonal_(float("inf"))
            # each row shifted by its nearest distance: the weights' ratios unchanged, none all underflowed to 0
            K = torch.exp(-(D2 - D2.min(1, keepdim=True).values) / h)
            mean = (K @ Z) / K.sum(1, keepdim=True)
            out[idx] = Z + gamma_sigma2 * (Z - mean)
        return out

    def sample(self, like, seed: int):
        """A set with ``like``'s label counts, each sampler call's denoiser wrapped."""
        m, gamma = self.model, self.gamma
        sched = m.schedule
        assert m.config.objective.prediction == "v"
        original = m.generate

        def generate(y, *, sampler, **kw):
            pos = [0]
            inner = sampler.sample

            def run(denoise, shape, **skw):
                yb = y[pos[0]:pos[0] + shape[0]]
                pos[0] += shape[0]

                def pushed(x, t):
                    v = denoise(x, t)
                    a2 = float(sched.alphas_cumprod64[int(t)])
                    a, sg = a2 ** 0.5, (1.0 - a2) ** 0.5
                    x0 = a * x - sg * v
                    x0n = self.away(x0, yb.to(x0.device), gamma * sg * sg)
                    return (a * x - x0n) / sg   # v = (α x_t − x0) / σ

                return inner(pushed, shape, **skw)

            sampler.sample = run
            return original(y, sampler=sampler, **kw)

        m.generate = generate
        try:
            return super().sample(like, seed)
        finally:
            del m.generate


def cooled(model, train, seed: int, fraction: float):
    """A copy of ``model`` trained ``fraction`` x its chosen length more with the learning rate decayed to 0
    (``coolF`` above); returns it, the network-alone validation scores before and after, and the steps taken."""
    import copy

    import joint_guidance as J
    import torch

    from rnagen.models.diffusion.model import DiffusionObjective
    from rnagen.train.validation import FidelityValidator

    m = copy.deepcopy(model)
    assert m.subspace is None and not m.members, "one network, trained on the genes"
    Xt, y, fi, vi = J.own_holdout(m, train, seed)

    def generate(yy: np.ndarray, sd: int) -> np.ndarray:
        return m._sample_own(yy, seed=sd, batch_size=4096, progress=False, decode=False, guidance=0.0,
                             autoguidance=1.0)

    validator = FidelityValidator(generate, Xt[fi], y[fi], Xt[vi], y[vi], seed=seed)
    before = float(validator()["score"])
    tc = m.config.train
    steps = max(1, int(round(fraction * int(m.validation["best_step"]))))
    warm = min(50, steps // 2)
    net = m.net
    net.train()
    objective = DiffusionObjective(net, m.schedule, m.config.objective)
    opt = torch.optim.AdamW(net.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    gen = torch.Generator().manual_seed(int(seed) + 4242)
    rng = np.random.default_rng([int(seed), 4242])
    Xf, yf = torch.from_numpy(Xt[fi]), torch.from_numpy(y[fi])
    order, pos = rng.permutation(len(fi)), 0
    for s in range(steps):
        for g in opt.param_groups:
            g["lr"] = tc.lr * min(1.0, (s + 1) / max(warm, 1)) * (1.0 - s / steps)
        if pos + tc.batch_size > len(order):
            order, pos = rng.permutation(len(fi)), 0
        b = torch.from_numpy(order[pos:pos + tc.batch_size])
        pos += tc.batch_size
        loss = objective(Xf[b], yf[b], generator=gen).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), tc.grad_clip)
        opt.step()
    net.eval()
    return m, before, float(validator()["score"]), steps


def averaged(models):
    """A copy of the first of ``models`` whose network and guide output the mean of all the models' (``avgN``)."""
    import copy

    import torch

    class Mean(torch.nn.Module):
        def __init__(self, nets) -> None:
            super().__init__()
            self.nets = torch.nn.ModuleList(nets)
            self.null_label = nets[0].null_label

        def forward(self, x, t, y):
            return torch.stack([n(x, t, y) for n in self.nets]).mean(0)

    m = copy.copy(models[0])
    m.net = Mean([k.net for k in models])
    guides = [k.guide_net for k in models]
    m.guide_net = Mean(guides) if all(g is not None for g in guides) else None
    return m


def share(train, fraction: float, seed: int):
    """The stratified share ``fraction`` of split ``seed``'s training profiles that ``fracF`` and ``gaussfracF`` fit."""
    from rnagen import pp

    return pp.split(train, label_key=Q.LABEL, test_size=1.0 - fraction, seed=seed)[0]


@contextlib.contextmanager
def fewest_held_out(n: int | None):
    """While inside, where ``n`` is given, the validation that found the copies of "Small real sets"
    (``RESULTS_objectives.md``): a hold-out raised only to ``n`` profiles (within a fifth of the set) and the score
    without its copy factor (its ``copy_share`` still recorded)."""
    from rnagen.train import validation as V

    if n is None:
        yield
        return
    saved = V.validation_holdout, V.copy_factor
    V.validation_holdout = lambda y, cfg, seed: V.stratified_holdout(y, fraction=cfg.val_fraction, seed=seed,
                                                                     min_total=n)
    V.copy_factor = lambda share, allowance: 1.0
    try:
        yield
    finally:
        V.validation_holdout, V.copy_factor = saved


def reseeded(dataset: str, train, seed: int, cache: Path | None, offset: int):
    """The default model of split ``seed`` trained with seed ``seed + offset`` (kept as ``DATASET_SEED_sS``)."""
    return RS.default_model(dataset, train, seed, cache, tag=f"_s{seed + offset}", fit_seed=seed + offset)


class Clustered:
    """The default diffusion model trained on (class, cluster) labels; samples reported by class."""

    def __init__(self, dataset: str, train, seed: int, cache: Path | None, *, per: int, logged: bool) -> None:
        comp = clusters(train, per=per, logged=logged, seed=seed)
        names, counts = np.unique(comp, return_counts=True)
        self.choices: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for c in np.unique([n.split(SEP)[0] for n in names]):
            m = np.array([n.split(SEP)[0] == c for n in names])
            self.choices[c] = (names[m], counts[m] / counts[m].sum())
        t = train.copy()
        t.obs[Q.LABEL] = comp.astype(str)
        self.model = RS.default_model(dataset, t, seed, cache, tag=f"_k{per}")

    def sample(self, like, seed: int):
        """A set with ``like``'s classes, each profile's cluster drawn with its training frequency."""
        rng = np.random.default_rng([seed, 17])
        lab = like.obs[Q.LABEL].astype(str).to_numpy()
        comp = np.array([rng.choice(self.choices[c][0], p=self.choices[c][1]) for c in lab])
        t = like.copy()
        t.obs[Q.LABEL] = comp
        syn = self.model.sample(like=t, seed=seed)
        syn.obs[Q.LABEL] = [s.split(SEP)[0] for s in syn.obs[Q.LABEL].astype(str)]
        return syn


def main() -> None:
    """Train (or load) each variant per split and print every variant's shares."""
    args, a, logged = RS.start(__doc__, ["plain", "s1000", "ens2"])
    pairs: dict[tuple, tuple[float, float]] = {}  # (split, network, CFG grid): the pair its validation chose
    cooled_nets: dict[tuple, object] = {}  # (split, F): the cooled network, trained once per split

    def pair(model, train, seed: int, network: str, v: str, grid=None) -> tuple[float, float]:
        """The (CFG, autoguidance) pair the run's own validation score chooses for ``model`` (``joint_scores``),
        scored once per split, network and grid; ``network`` "default" also prints the run's recorded choice."""
        import joint_guidance as J

        key = (seed, network, grid)
        if key not in pairs:
            r = J.joint_scores(model, train, seed, grid)
            recorded = (f" (the run chose {r['recorded_chosen']:g}; CFG 0 scores vs recorded "
                        f"{r['recorded_diff']:.2g})" if network == "default" else "")
            print(f"split {seed} {v}: CFG {r['chosen'][0]:g}, autoguidance {r['chosen'][1]:g}{recorded}", flush=True)
            pairs[key] = r["chosen"]
        return pairs[key]

    def build(v: str, train, seed: int, base):
        if v == "plain":
            return base()
        if (m := re.fullmatch(r"k(\d+)", v)) is not None:
            model = Clustered(args.dataset, train, seed, args.cache, per=int(m[1]), logged=logged)
            sizes = {c: len(n) for c, (n, _) in model.choices.items()}
            print(f"split {seed} {v}: clusters per class {sizes}", flush=True)
            return model
        if (m := re.fullmatch(r"s(\d+)", v)) is not None:
            return reseeded(args.dataset, train, seed, args.cache, int(m[1]))
        if (m := re.fullmatch(r"ens(\d+)", v)) is not None:
            return Ensemble(base(), args.dataset, train, seed, args.cache, n=int(m[1]))
        if (m := re.fullmatch(r"gaussfrac([\d.]+)", v)) is not None:
            from rnagen.models import get_model

            model = get_model("gaussian").from_config()
            model.fit(share(train, float(m[1]), seed), label_key=Q.LABEL, seed=seed, progress=False)
            return model
        if (m := re.fullmatch(r"frac([\d.]+)(?::([\w.]+=[\w.+-]+(?:,[\w.]+=[\w.+-]+)*))?", v)) is not None:
            part = share(train, float(m[1]), seed)
            print(f"split {seed} {v}: {part.n_obs} of {train.n_obs} training profiles", flush=True)
            given = m[2].split(",") if m[2] else []
            sampling = {k: float(x.split("=")[1]) for x in given for k in ("guidance", "autoguidance")
                        if x.startswith(k + "=")}
            trained = [x for x in given if x.split("=")[0] not in sampling]
            minval = [x for x in trained if x.startswith("minval=")]
            settings = [x for x in trained if not x.startswith("minval=")]
            tag = f"_frac{m[1]}" + (f"_{','.join(trained)}" if trained else "")
            with fewest_held_out(int(minval[-1].split("=")[1]) if minval else None):
                model = RS.default_model(args.dataset, part, seed, args.cache, tag=tag, overrides=settings or None)
            return Sampled(model, **sampling) if sampling else model
        if (m := re.fullmatch(r"avg(\d+)(?::([\d.]+),([\d.]+))?", v)) is not None:
            model = averaged([base()] + [reseeded(args.dataset, train, seed, args.cache, 1000 * i)
                                         for i in range(1, int(m[1]))])
            cfg, auto = (float(m[2]), float(m[3])) if m[2] else pair(model, train, seed, f"avg{m[1]}", v)
            return Sampled(model, guidance=cfg, autoguidance=auto)
        if (m := re.fullmatch(r"g([\d.]+)", v)) is not None:
            return Sampled(base(), guidance=float(m[1]))
        if (m := re.fullmatch(r"joint(?::([\d.,]+))?(?:@(ddim|dpm\+\+)(\d+))?(?:~([\d.]+)-([\d.]+))?", v)) is not None:
            model = base()
            grid = tuple(float(x) for x in m[1].split(",")) if m[1] else None
            cfg, auto = pair(model, train, seed, "default", v, grid)
            sampler = {"sampler": m[2], "steps": int(m[3])} if m[2] else {}
            if m[4]:
                return CFGInterval(model, float(m[4]), float(m[5]), guidance=cfg, autoguidance=auto, **sampler)
            return Sampled(model, guidance=cfg, autoguidance=auto, **sampler)
        if (m := re.fullmatch(r"(?:cool([\d.]+))?(?:pg([\d.]+))?", v)) is not None and (m[1] or m[2]):
            if not m[1]:
                model, network = base(), "default"
            else:
                network = f"cool{m[1]}"
                if (seed, m[1]) not in cooled_nets:
                    net, before, after, steps = cooled(base(), train, seed, float(m[1]))
                    print(f"split {seed} {network}: {steps} cool-down steps; validation score (network alone) "
                          f"{before:.4f} -> {after:.4f}", flush=True)
                    cooled_nets[seed, m[1]] = net
                model = cooled_nets[seed, m[1]]
            cfg, auto = pair(model, train, seed, network, v)
            if m[2]:
                return Particle(model, float(m[2]), guidance=cfg, autoguidance=auto)
            return Sampled(model, guidance=cfg, autoguidance=auto)
        if (m := re.fullmatch(r"(ddim|dpm\+\+)(\d+)", v)) is not None:
            return Sampled(base(), sampler=m[1], steps=int(m[2]))
        if (m := re.fullmatch(r"set:([\w.]+=[\w.+-]+)", v)) is not None:
            return RS.default_model(args.dataset, train, seed, args.cache, tag=f"_{m[1]}", overrides=[m[1]])
        if (m := re.fullmatch(r"m(\d+)", v)) is not None:
            return RS.default_model(args.dataset, train, seed, args.cache, tag=f"_m{m[1]}",
                                    overrides=[f"train.members={m[1]}"])
        raise SystemExit(f"unknown variant {v!r}: plain, kPER (e.g. k150), sOFFSET (e.g. s1000), ensN (e.g. ens2), "
                         "mN (e.g. m3), gW (e.g. g0.5), joint (joint@dpm++10, joint~0.25-0.75), coolF, pgG, coolFpgG "
                         "(e.g. cool0.1pg0.03), avgN, fracF, gaussfracF, ddimN or dpm++N (e.g. dpm++10), set:KEY=VALUE")

    RS.run(args, a, build)

if __name__ == "__main__":
    main()
