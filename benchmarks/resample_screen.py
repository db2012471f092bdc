"""Screen: the default diffusion model's samples resampled by a classifier's density ratio (issue 16).

Sampling-importance-resampling with likelihood-free importance weights (Grover et al. 2019, "Bias correction of
learned generative models using likelihood-free importance weighting"; Azadi et al. 2019, discriminator rejection
sampling): a probabilistic classifier c told the real training profiles from a training-sized synthetic set, so
that w(x) = c(x) / (1 - c(x)) estimates p_data(x) / p_model(x); each class's synthetic set is then drawn without
replacement (Efraimidis-Spirakis keys) from ``OVER`` times as many candidates with probability proportional to
w(x)^alpha (alpha < 1 flattens the weights). The question is whether keeping more of the model's own samples where
real profiles lie more often than it puts them raises recall and lowers AA_truth without moving any sample (the
variance and temperature screens, which move them, traded those for density).

Classifiers (features: the log-scale genes z-scored with the training statistics, the class one-hot):
``lin``: logistic regression (C = 0.1) on the training profiles' 50 leading principal components (standardised)
and the one-hot: a log-linear ratio; ``mlp``: one hidden layer of 128 (scikit-learn, L2 1e-2, early stopping) on
the genes and the one-hot. A variant is ``KIND+OVER`` with an optional ``a05`` (alpha = 0.5), e.g. ``mlp4a05``;
``plain`` is the model's own samples. ``resK`` (not a resampling) keeps each sample's part in the training profiles'
K leading principal components and redraws the rest from its class's Gaussian of the training profiles' parts
there (mean and Ledoit-Wolf covariance): whether the weak directions, where ``aa_by_dimension.py`` finds the
samples under-spread, are a class Gaussian the model misses.

Protocol of ``quality.py``: a stratified 80/20 split per seed, the per-class Gaussian floor and the real-vs-real
ceiling on the same split, 2 synthetic draws (a held-out-sized set and a training-sized one for TSTR per draw);
printed per variant: the share of the gap closed per indicator, the values behind it, TSTR - TRTR, the DCR share
and the effective sample size of the weights. ``--cache DIR`` keeps each split's trained model (``DIR/D_SEED``).

Usage: OMP_NUM_THREADS=1 python benchmarks/resample_screen.py --dataset mirna4 --seeds 0 1 2 --threads 1 \
           --variants plain lin4 mlp4a05
"""
from __future__ import annotations

import argparse
import functools
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import quality as Q  # noqa: E402

SHARES = ["density", "coverage", "precision", "recall", "aa_ts"]


def log_values(X, logged: bool) -> np.ndarray:
    """The values on the log scale the indicators read: as they are when logged, else log2(x + 1) of counts."""
    X = np.asarray(X, np.float64)
    return X if logged else np.log2(np.maximum(X, 0) + 1)


class Ratio:
    """log w(x) = logit c(x) of a classifier of real training profiles against the model's samples."""

    def __init__(self, train, synthetic, *, kind: str, logged: bool, seed: int) -> None:
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier

        self.logged = logged
        X = log_values(train.X, logged)
        self.mu, self.sd = X.mean(0), X.std(0) + 1e-8
        self.classes = sorted(set(train.obs[Q.LABEL].astype(str)))
        self.pca = None
        if kind == "lin":
            k = min(50, X.shape[0] // 10, X.shape[1])
            self.pca = PCA(k, random_state=seed).fit((X - self.mu) / self.sd)
        F = np.vstack([self.features(train), self.features(synthetic)])
        y = np.r_[np.ones(train.n_obs), np.zeros(synthetic.n_obs)]
        self.clf = (LogisticRegression(C=0.1, max_iter=2000) if kind == "lin" else
                    MLPClassifier((128,), alpha=1e-2, early_stopping=True, random_state=seed, max_iter=500)).fit(F, y)

    def features(self, a) -> np.ndarray:
        """The classifier's inputs for AnnData ``a``: the class one-hot and the (projected) z-scored genes."""
        Z = (log_values(a.X, self.logged) - self.mu) / self.sd
        if self.pca is not None:
            Z = self.pca.transform(Z) / np.sqrt(self.pca.explained_variance_)
        y = a.obs[Q.LABEL].astype(str).to_numpy()
        return np.hstack([np.stack([(y == c).astype(float) for c in self.classes], 1), Z])

    def log_weight(self, a) -> np.ndarray:
        """log w = logit c of each profile of ``a``."""
        p = np.clip(self.clf.predict_proba(self.features(a))[:, 1], 1e-9, 1 - 1e-9)
        return np.log(p) - np.log1p(-p)


def resample(model, like, ratio: Ratio, *, over: int, alpha: float, seed: int):
    """A set with ``like``'s label mix drawn from ``over`` times as many of ``model``'s samples, each class without
    replacement with probability proportional to w^alpha; and the weights' effective sample size per candidate."""
    import anndata

    cand = model.sample(like=anndata.concat([like] * over, index_unique="-"), seed=seed)
    yc = cand.obs[Q.LABEL].astype(str).to_numpy()
    yl = like.obs[Q.LABEL].astype(str).to_numpy()
    lw = alpha * ratio.log_weight(cand)
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for c in np.unique(yl):
        idx = np.flatnonzero(yc == c)
        key = np.log(rng.random(len(idx))) / np.exp(lw[idx] - lw[idx].max())
        keep.extend(idx[np.argsort(-key)[: int((yl == c).sum())]])
    w = np.exp(lw - lw.max())
    return cand[np.sort(np.array(keep))].copy(), float(w.sum() ** 2 / (w ** 2).sum() / len(w))


class Resampled:
    """``model``'s samples resampled by ``ratio`` (:func:`resample`), sampled as a model is; the weights'
    effective sample size of each draw kept per set size."""

    def __init__(self, model, ratio: Ratio, *, over: int, alpha: float) -> None:
        self.model, self.ratio, self.over, self.alpha = model, ratio, over, alpha
        self.ess: dict[int, list[float]] = {}

    def sample(self, like, seed: int):
        """A set with ``like``'s label mix."""
        out, e = resample(self.model, like, self.ratio, over=self.over, alpha=self.alpha, seed=seed)
        self.ess.setdefault(like.n_obs, []).append(e)
        return out

    def extra(self, n: int) -> dict[str, float]:
        """The mean effective sample size of the draws of ``n`` profiles."""
        return {"ess": float(np.mean(self.ess[n]))}


class Residual:
    """``resK``: each sample's part beyond the training profiles' K leading principal components (z-scored log
    genes) replaced by a draw from its class's Gaussian (mean and Ledoit-Wolf covariance) of the training
    profiles' parts there; the leading K components stay the model's. Sampled as a model is."""

    def __init__(self, model, train, *, k: int, logged: bool, seed: int) -> None:
        from sklearn.covariance import LedoitWolf
        from sklearn.decomposition import PCA

        self.model, self.logged, self.rng = model, logged, np.random.default_rng([seed, 31])
        X = log_values(train.X, logged)
        self.mu, self.sd = X.mean(0), X.std(0) + 1e-8
        Z = (X - self.mu) / self.sd
        self.P = PCA(k, random_state=seed).fit(Z).components_            # k x G, orthonormal rows
        E = Z - (Z @ self.P.T) @ self.P
        y = train.obs[Q.LABEL].astype(str).to_numpy()
        self.fits = {c: (E[y == c].mean(0), LedoitWolf().fit(E[y == c]).covariance_) for c in np.unique(y)}

    def sample(self, like, seed: int):
        """``model``'s set with ``like``'s label mix, its residual parts redrawn."""
        return self.apply(self.model.sample(like=like, seed=seed))

    def apply(self, syn):
        """``syn`` with its residual parts redrawn (a copy)."""
        Z = (log_values(syn.X, self.logged) - self.mu) / self.sd
        Z = (Z @ self.P.T) @ self.P
        y = syn.obs[Q.LABEL].astype(str).to_numpy()
        for c in np.unique(y):
            mean, cov = self.fits[c]
            r = self.rng.multivariate_normal(mean, cov, size=int((y == c).sum()), method="eigh")
            Z[y == c] += r - (r @ self.P.T) @ self.P
        X = Z * self.sd + self.mu
        out = syn.copy()
        out.X = (X if self.logged else np.maximum(np.exp2(X) - 1, 0)).astype(np.float32)
        return out


def common_args(ap: argparse.ArgumentParser, *, threads: int) -> None:
    """The options this screen shares with ``aa_by_dimension.py``: data set, splits, threads, model cache."""
    ap.add_argument("--dataset", default="mirna4", choices=Q.DATASETS)
    ap.add_argument("--data-dir", type=Path, default=Q.DEFAULT_DATA_DIR)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--threads", type=int, default=threads)
    ap.add_argument("--cache", type=Path, default=None, help="folder keeping each split's trained model")


def start(doc: str, variants: list[str]):
    """A screen's command line (the shared options and ``--variants``, defaulting to ``variants``), its torch
    threads set: ``(args, data set, whether its values are logged)``."""
    from rnagen.pp.history import log_state

    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    common_args(ap, threads=1)
    ap.add_argument("--variants", nargs="+", default=variants)
    ap.add_argument("--draws", type=int, default=2, help="synthetic draws per split (the first two: the recorded ones)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    a = Q.load_dataset(args.dataset, args.data_dir)
    return args, a, bool((log_state(a) or {}).get("logged"))


def default_model(dataset: str, train, seed: int, cache: Path | None, *, tag: str = "", fit_seed: int | None = None,
                  overrides: list[str] | None = None, name: str = "diffusion"):
    """The default model ``name`` (diffusion unless given) of split ``seed`` (with ``overrides`` of its
    configuration): loaded from ``cache/DATASET_SEED[TAG]`` when there, else trained on ``train`` with seed
    ``fit_seed`` (default ``seed``; saved there when ``cache`` is given)."""
    from rnagen.models import get_model, load

    run = cache / f"{dataset}_{seed}{tag}" if cache else None
    if run is not None and run.exists():
        return load(run, device="cpu")
    model = get_model(name).from_config(overrides=overrides)
    model.fit(train, label_key=Q.LABEL, seed=seed if fit_seed is None else fit_seed, progress=False)
    if run is not None:
        model.save(run)
    return model


def build(v: str, train, seed: int, base, logged: bool):
    """Variant ``v`` of split ``seed``'s default model ``base()``, sampled as a model is."""
    if v == "plain":
        return base()
    if (mr := re.fullmatch(r"res(\d+)", v)) is not None:
        return Residual(base(), train, k=int(mr[1]), logged=logged, seed=seed)
    m = re.fullmatch(r"(lin|mlp)(\d+)(a05)?", v)
    if m is None:
        raise SystemExit(f"unknown variant {v!r}: plain, resK, or lin|mlp, candidates per profile, optional a05")
    ratio = Ratio(train, base().sample(like=train, seed=seed + 7), kind=m[1], logged=logged, seed=seed)
    return Resampled(base(), ratio, over=int(m[2]), alpha=0.5 if m[3] else 1.0)


def run(args, a, build) -> None:
    """Per split of ``args.seeds``: the floor and the ceiling, each variant's model ``build(variant, train, seed,
    base)`` (``base()``: the split's default model, trained or loaded once) scored over ``args.draws`` draws
    (``quality.score_draws``), plus what the model's ``extra(n)`` reports; the split's rows, then the table."""
    rows: dict[str, list[dict]] = {}
    for seed in args.seeds:
        tr, te, floor, ceiling = Q.split_with_floor(a, seed, args.draws, label_key=Q.LABEL)
        base = functools.cache(functools.partial(default_model, args.dataset, tr, seed, args.cache))
        out = {"gaussian": floor}
        for v in args.variants:
            t0 = time.perf_counter()
            model = build(v, tr, seed, base)
            res, _ = Q.score_draws(model, tr, te, seed, args.draws, label_key=Q.LABEL)
            out[v] = res["value"] | (model.extra(te.n_obs) if hasattr(model, "extra") else {})
            print(f"split {seed} {v}: {time.perf_counter() - t0:.0f} s", flush=True)
        print_split(rows, out, seed, floor, ceiling)
    print_table(rows, args.dataset, args.seeds)


def main() -> None:
    """Train (or load) the default diffusion model per split and print every variant's shares."""
    args, a, logged = start(__doc__, ["plain", "lin4", "mlp4a05"])
    run(args, a, functools.partial(build, logged=logged))


def print_split(rows: dict[str, list[dict]], out: dict[str, dict], seed: int, floor: dict, ceiling: dict) -> None:
    """Add split ``seed``'s values per row (``out``) to ``rows`` with their shares of the gap, and print them."""
    from rnagen.metrics.gap import gap_closed_from

    for name, r in out.items():
        r = r | {f"gap_{s}": gap_closed_from(s, r, floor, ceiling) for s in SHARES}
        r["tstr_gap"] = r["tstr_mlp_accuracy"] - ceiling["tstr_mlp_accuracy"]
        rows.setdefault(name, []).append(r)
        print(f"split {seed} {name:9s} " + " ".join(f"{s} {r[s]:.3f} ({r[f'gap_{s}']:.0%})" for s in SHARES)
              + f" AA_truth {r['aa_truth']:.3f} AA_syn {r['aa_syn']:.3f} TSTR-TRTR {100 * r['tstr_gap']:+.1f}"
              f" DCR {r['dcr_share']:.3f} copies {r['near_copy_share']:.3f} ess {r.get('ess', 1.0):.2f}",
              flush=True)


def print_table(rows: dict[str, list[dict]], dataset: str, seeds: list[int]) -> None:
    """The share of the gap closed per row, mean ± sd over the splits, as a Markdown table."""
    print(f"\n{dataset}, splits {seeds}: share of the gap closed, mean ± sd over the splits")
    print("| row | " + " | ".join(SHARES) + " | AA_truth / AA_syn | TSTR MLP - TRTR (points) | DCR share |")
    print("|---" * (len(SHARES) + 4) + "|")
    for name, rs in rows.items():
        def ms(key, scale=100.0, fmt="{:.0f}%"):
            v = np.array([r[key] for r in rs], float) * scale
            v = v[np.isfinite(v)]
            if not len(v):
                return "-"
            sd = fmt.replace("+", "").format(np.nanstd(v, ddof=1)).rstrip("%") if len(v) > 1 else None
            return fmt.format(np.nanmean(v)) + (f" ± {sd}" if sd is not None else "")
        print(f"| {name} | " + " | ".join(ms(f"gap_{s}") for s in SHARES)
              + f" | {np.mean([r['aa_truth'] for r in rs]):.3f} / {np.mean([r['aa_syn'] for r in rs]):.3f} | "
              + ms("tstr_gap", fmt="{:+.1f}") + f" | {np.mean([r['dcr_share'] for r in rs]):.3f} |")


if __name__ == "__main__":
    main()
