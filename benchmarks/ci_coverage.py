"""Benchmark: how often rnagen's 95% intervals contain the true value, at the replicate counts the tools use
(``n_boot_expensive`` 10 for the fast budget, 20 by default; ``n_boot`` 1000), against the interval they replace,
in the same run.

Two statistics with a known population value:
- the mean of ``n`` profiles' per-profile terms (:func:`rnagen.metrics._bootstrap.mean_ci`, the scheme of
  precision, coverage, AA and DCR shares), on standard-normal and on exponential (skewed) terms;
- the ratio of the medians of two independent exponential samples (the shape of ``dcr_ratio``; population value
  1), recomputed on resampled rows and re-centred (:func:`rnagen.metrics._bootstrap.stat_ci` with ``estimate``).

The neighbour indicators (``--neighbours``): precision, recall, density, coverage and AA_ts of a synthetic set
against a held-out set, both drawn afresh in every trial from known distributions (real N(0, I), synthetic N(0,
s^2 I)), the true value the mean over the trials; rnagen's interval (subsamples of both sets recomputed,
:meth:`rnagen.metrics._context.EvalContext.neighbour_ci`, through :func:`rnagen.metrics.evaluate`; a share's never
narrower than its Wilson interval) against the resample of one set's per-profile terms with the neighbour structure
fixed (1,000 replicates; without the Wilson floor, as those intervals were).

    .venv/bin/python benchmarks/ci_coverage.py --trials 2000
The same on many small classes (``--gtex26``): held-out and synthetic sets of ``--per-class`` profiles of each of
the 26 tissues drawn from the per-class Gaussian (diagonal) fitted on all of the bundled GTEx subset, as its
held-out split is (4 per tissue); rnagen's interval with its subsamples drawn per class (the default) and
without.

The privacy indicators (``--privacy``): a perfect generator (training, held-out and synthetic profiles drawn from
one distribution, N(0, I)), whose DCR share has the known value n_train / (n_train + n_holdout) and whose privacy
loss has the value 0; rnagen's intervals (subsamples of the three sets recomputed,
:func:`rnagen.metrics.privacy.dcr_replicates` and the adversarial scorer's) against the resample of the synthetic
profiles' terms with the training and held-out sets fixed (1,000 replicates; with the Wilson floor, as the DCR
share's interval had it), for each ``--sizes`` triple n_train,n_holdout,n_synthetic.

The membership attacks (``--membership``): the same perfect generator, whose every attack has the known AUC 0.5 and
TPR at FPR ``f`` equal to ``f`` (the population value; the row's target, :func:`rnagen.metrics.membership
.chance_tpr`, is the interpolated ROC's expectation with ``n`` non-members, above ``f`` for small ``n``); the
coverage of both by each attack's interval as :func:`rnagen.metrics.evaluate` gives it, for each ``--sizes``
triple (the held-out set split in three: non-members, reference and independent draw; as many members). With
``--leak rho`` the generator leaks instead: each synthetic profile is ``rho t + sqrt(1 - rho^2) z`` for its own
training profile ``t`` (drawn without replacement while they last) and new noise ``z``, N(0, I) still; the true
value is then the mean over the trials, as for the neighbour indicators.

Where the membership intervals' shortfall comes from (``--membership-sr``, ``--sizes`` quadruples
n_train,n_nonmembers,n_reference,n_synthetic): many audits of each of many generators, the spread of each
statistic split into the part within one generator (members and non-members drawn anew: what the resample draws)
and the part between generators (the synthetic and reference sets, the training set); rnagen's interval against
the resample with every attack's scores held fixed, on the same draws (:func:`membership_sr_case`).

    .venv/bin/python benchmarks/ci_coverage.py --trials 2000
    .venv/bin/python benchmarks/ci_coverage.py --neighbours --trials 300 --n 300 --genes 20
    .venv/bin/python benchmarks/ci_coverage.py --neighbours --trials 100 --n 5000 --genes 20
    .venv/bin/python benchmarks/ci_coverage.py --gtex26 --trials 100 --n-boot 10 --spread 1.0 1.3
    .venv/bin/python benchmarks/ci_coverage.py --privacy --trials 300 --genes 20 \
        --sizes 400,100,100 400,100,1000 400,50,400 2000,100,2000
    .venv/bin/python benchmarks/ci_coverage.py --membership --trials 200 --genes 20 --sizes 400,300,300 400,300,30
    .venv/bin/python benchmarks/ci_coverage.py --membership --leak 0.9 --trials 200 --sizes 400,300,300 400,300,30
    .venv/bin/python benchmarks/ci_coverage.py --membership-sr --leak 0.9 --outer 40 --inner 50 --sizes 400,20,20,300
"""
from __future__ import annotations

import argparse

import numpy as np

from rnagen.metrics import _bootstrap as bs


def percentile(reps: np.ndarray) -> tuple[float, float]:
    """The percentile interval of the replicates (every interval before ``bootstrap_ci``)."""
    lo, hi = np.quantile(reps, [0.025, 0.975])
    return float(lo), float(hi)


def mean_case(draw, truth: float, B: int, trials: int, n: int, seed: int) -> tuple[float, float]:
    """Coverage of the mean of ``n`` terms from ``draw``: rnagen's interval, the percentile interval."""
    rng = np.random.default_rng(seed)
    new = old = 0
    for _ in range(trials):
        t = draw(rng, n)
        lo, hi = bs.mean_ci(t, n_boot=B, rng=np.random.default_rng(rng.integers(2**32)))
        new += lo <= truth <= hi
        reps = t[rng.integers(0, n, (B, n))].mean(1)
        lo, hi = percentile(reps)
        old += lo <= truth <= hi
    return new / trials, old / trials


def ratio_case(B: int, trials: int, n: int, seed: int) -> tuple[float, float]:
    """Coverage of the ratio of two exponential samples' medians (re-centred): rnagen's, the percentile."""
    rng = np.random.default_rng(seed)
    fn = lambda a, b: float(np.median(a) / np.median(b))  # noqa: E731
    new = old = 0
    for _ in range(trials):
        a, b = rng.standard_exponential(n), rng.standard_exponential(n)
        est = fn(a, b)
        lo, hi = bs.stat_ci(fn, [a, b], n_boot=B, rng=np.random.default_rng(rng.integers(2**32)), estimate=est)
        new += lo <= 1.0 <= hi
        reps = np.array([fn(a[rng.integers(0, n, n)], b[rng.integers(0, n, n)]) for _ in range(B)])
        lo, hi = percentile(reps - reps.mean() + est)
        old += lo <= 1.0 <= hi
    return new / trials, old / trials


NEIGHBOUR = ("precision", "recall", "density", "coverage", "aa_ts")


def record(df, fixed: dict[str, tuple[float, float]], vals: dict, new: dict, old: dict) -> None:
    """Append one trial: each neighbour indicator's value and interval from ``evaluate``'s table ``df`` (indexed by
    name) and its fixed-structure interval."""
    for m in NEIGHBOUR:
        vals[m].append(float(df.loc[m, "value"]))
        new[m].append((float(df.loc[m, "ci_low"]), float(df.loc[m, "ci_high"])))
        old[m].append(fixed[m])


def summary(title: str, vals: dict, new: dict, old: dict) -> None:
    """Print the table of one case: per indicator the true value and its spread over the trials, then the
    coverage and mean half-width of rnagen's intervals and of the fixed-structure ones."""
    print(title)
    print(f"{'indicator':>10} | {'true (mean)':>11} {'sd':>7} | {'rnagen cover':>12} {'half-width':>10} | "
          f"{'fixed cover':>11} {'half-width':>10}")
    for m in NEIGHBOUR:
        (ca, wa), (cb, wb) = cover(vals[m], new[m]), cover(vals[m], old[m])
        print(f"{m:>10} | {np.mean(vals[m]):>11.4f} {np.std(vals[m], ddof=1):>7.4f} | {ca:>12.3f} {wa:>10.4f} | "
              f"{cb:>11.3f} {wb:>10.4f}", flush=True)


def cover(values: list[float], intervals: list[tuple[float, float]]) -> tuple[float, float]:
    """The share of ``intervals`` containing the mean of ``values`` (the true value), and their mean half-width."""
    c, truth = np.array(intervals), float(np.mean(values))
    return float(np.mean((c[:, 0] <= truth) & (truth <= c[:, 1]))), float(np.mean(c[:, 1] - c[:, 0]) / 2)


def neighbour_case(n: int, genes: int, spread: float, trials: int, seed: int, n_boot: int) -> None:
    """Print, per neighbour indicator, the coverage of the mean over the trials by rnagen's interval and by the
    fixed-structure resample of the same trial's terms, and the mean half-widths."""
    import torch

    from rnagen.metrics import evaluate

    torch.set_num_threads(2)
    rng = np.random.default_rng(seed)
    vals, new, old = ({m: [] for m in NEIGHBOUR} for _ in range(3))
    for _ in range(trials):
        R = rng.standard_normal((n, genes)).astype(np.float32)
        S = (spread * rng.standard_normal((n, genes))).astype(np.float32)
        df = evaluate(R, S, metrics=list(NEIGHBOUR), n_boot=0, n_boot_expensive=n_boot, k=10,
                      seed=int(rng.integers(2**31))).set_index("name")
        record(df, fixed_structure(R, S, np.random.default_rng(int(rng.integers(2**31)))), vals, new, old)
    summary(f"neighbour indicators: {trials} trials, {n} held-out and {n} synthetic profiles of {genes} genes, "
            f"synthetic spread {spread}, k = 10; rnagen's interval from {n_boot} subsample pairs", vals, new, old)


def unfloored_mean_ci(terms: np.ndarray, B: int, rng: np.random.Generator) -> tuple[float, float]:
    """The interval of the mean of ``terms`` from ``B`` resamples of them, without the Wilson floor
    ``mean_ci`` gives a share: the per-profile means' interval as it was."""
    t = np.sort(terms)
    return bs.bootstrap_ci(float(t.mean()), t[rng.integers(0, t.size, (B, t.size))].mean(1))


def fixed_structure(R: np.ndarray, S: np.ndarray, rng: np.random.Generator) -> dict[str, tuple[float, float]]:
    """The intervals the neighbour indicators had before: 1,000 resamples of one set's per-profile terms on the
    sets as evaluate z-scores them, the neighbour structure fixed."""
    from rnagen.metrics import _knn, prepare
    from rnagen.metrics._bootstrap import combo_ci
    from rnagen.metrics.adversarial import aa_from_distances
    from rnagen.metrics.fidelity import prdc_terms

    p = prepare(R, S)
    Rz, Sz = p["real"], p["synthetic"]
    t = prdc_terms(Rz, Sz, k=10)
    kr = _knn.knn(Rz, k=1, exclude_self=True, squared=True)[0][:, 0]
    ks = _knn.knn(Sz, k=1, exclude_self=True, squared=True)[0][:, 0]
    aa = aa_from_distances(kr, t["_real_to_fake_nn2"], ks, t["_fake_to_real_nn2"])
    out = {m: unfloored_mean_ci(np.asarray(t[m], np.float64), 1000, rng) for m in NEIGHBOUR[:4]}
    out["aa_ts"] = combo_ci([aa["_truth_terms"], aa["_syn_terms"]], [0.5, 0.5], n_boot=1000, rng=rng)
    return out


def gtex26_case(per_class: int, spread: float, trials: int, n_boot: int, stratified: bool) -> None:
    """Print the coverage of the neighbour indicators' intervals on GTEx-like sets of 26 small classes, and of
    the fixed-structure intervals of the same sets."""
    import torch

    import rnagen.metrics._context as context
    from rnagen.datasets import gtex26
    from rnagen.metrics import evaluate
    from rnagen.models.gaussian import draw_class_gaussians, fit_class_gaussians

    torch.set_num_threads(2)
    a = gtex26()
    X = np.asarray(a.X, np.float64)
    y = a.obs["tissue"].astype("category").cat.codes.to_numpy()
    C = int(y.max()) + 1
    means, sds, _ = fit_class_gaussians(X, y, C, full=False)
    context.STRATIFIED = stratified
    rng = np.random.default_rng(0)
    yy = np.repeat(np.arange(C), per_class)
    vals, cis, old = ({m: [] for m in NEIGHBOUR} for _ in range(3))
    for t in range(trials):
        R = draw_class_gaussians(means, sds, yy, rng.standard_normal((len(yy), X.shape[1])))
        S = draw_class_gaussians(means, sds * spread, yy, rng.standard_normal((len(yy), X.shape[1])))
        df = evaluate(R, S, real_labels=yy.astype(str), synthetic_labels=yy.astype(str), metrics=list(NEIGHBOUR),
                      n_boot=0, n_boot_expensive=n_boot, seed=t).set_index("name")
        record(df, fixed_structure(R, S, np.random.default_rng(t)), vals, cis, old)
    summary(f"gtex26-like: {trials} trials, {per_class} held-out and synthetic profiles per tissue, synthetic spread "
            f"{spread}, {n_boot} subsample pairs, {'per class' if stratified else 'not per class'}", vals, cis, old)


def privacy_case(n_train: int, n_holdout: int, n_synthetic: int, genes: int, trials: int, seed: int,
                 n_boot: int) -> None:
    """Print the coverage of a perfect generator's DCR share and privacy loss by rnagen's intervals and by the
    resample of the synthetic profiles' terms with the other sets fixed, and the mean half-widths."""
    import torch

    from rnagen.metrics import _knn, evaluate, prepare
    from rnagen.metrics._bootstrap import combo_ci, mean_ci
    from rnagen.metrics.adversarial import aa_from_distances
    from rnagen.metrics.privacy import dcr

    torch.set_num_threads(2)
    rng = np.random.default_rng(seed)
    truth = {"dcr_share": n_train / (n_train + n_holdout), "privacy_loss": 0.0}
    vals: dict[str, list[float]] = {m: [] for m in truth}
    new: dict[str, list[tuple[float, float]]] = {m: [] for m in truth}
    old: dict[str, list[tuple[float, float]]] = {m: [] for m in truth}
    for _ in range(trials):
        T, H, S = (rng.standard_normal((n, genes)).astype(np.float32) for n in (n_train, n_holdout, n_synthetic))
        s = int(rng.integers(2**31))
        df = evaluate(H, S, train=T, metrics=list(truth), n_boot=1000, n_boot_expensive=n_boot,
                      seed=s).set_index("name")
        for m in truth:
            vals[m].append(float(df.loc[m, "value"]))
            new[m].append((float(df.loc[m, "ci_low"]), float(df.loc[m, "ci_high"])))
        # the fixed-structure intervals, on the sets as evaluate z-scores them (its reference: a training subsample
        # of the synthetic set's size, drawn as evaluate draws it)
        p = prepare(H, S, train=T)
        r2 = np.random.default_rng(s)
        old["dcr_share"].append(mean_ci(dcr(p["synthetic"], p["train"], p["real"])["_share_terms"], n_boot=1000,
                                        rng=r2))
        F = p["train"][np.sort(r2.choice(n_train, min(n_train, n_synthetic), replace=False))]
        d = {}
        for name, A in (("h", p["real"]), ("f", F)):
            c = _knn.cross_pass(A, p["synthetic"])
            d[name] = aa_from_distances(_knn.knn(A, k=1, exclude_self=True, squared=True)[0][:, 0], c.a_nn2,
                                        _knn.knn(p["synthetic"], k=1, exclude_self=True, squared=True)[0][:, 0],
                                        c.b_nn2)
        old["privacy_loss"].append(combo_ci([d["h"]["_truth_terms"], d["h"]["_syn_terms"], d["f"]["_truth_terms"],
                                             d["f"]["_syn_terms"]], [0.5, 0.5, -0.5, -0.5], n_boot=1000, rng=r2))
    print(f"privacy indicators of a perfect generator: {trials} trials, {n_train} training, {n_holdout} held-out, "
          f"{n_synthetic} synthetic profiles of {genes} genes; rnagen's interval from {n_boot} subsample triples")
    print(f"{'indicator':>14} | {'value':>7} | {'sd over trials':>14} | {'rnagen':>16} | {'terms alone':>16}")
    for m in truth:
        c_new, h_new = cover_value(truth[m], new[m])
        c_old, h_old = cover_value(truth[m], old[m])
        print(f"{m:>14} | {truth[m]:>7.3f} | {np.std(vals[m]):>14.4f} | {c_new:>6.3f} ({h_new:.4f}) | "
              f"{c_old:>6.3f} ({h_old:.4f})", flush=True)


def membership_case(n_train: int, n_holdout: int, n_synthetic: int, genes: int, trials: int, seed: int,
                    n_boot: int, leak: float | None = None) -> None:
    """Print, per attack and statistic, the coverage of a perfect generator's known value (and of the row's
    target) by the intervals :func:`rnagen.metrics.evaluate` gives, their mean half-width and the spread of the
    values over the trials; with ``leak``, of a leaking generator's mean over the trials."""
    import torch

    from rnagen.metrics import evaluate
    from rnagen.metrics.membership import ATTACKS, STATISTICS, chance_tpr, metric_name

    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    names = [metric_name(a, k) for a in ATTACKS for k in STATISTICS]
    vals: dict[str, list[float]] = {m: [] for m in names}
    cis: dict[str, list[tuple[float, float]]] = {m: [] for m in names}
    n_non = 0
    for _ in range(trials):
        T, H, S = (rng.standard_normal((n, genes)).astype(np.float32) for n in (n_train, n_holdout, n_synthetic))
        if leak is not None:
            u = rng.choice(n_train, n_synthetic, replace=n_synthetic > n_train)
            S = (leak * T[u] + np.sqrt(1.0 - leak**2) * S).astype(np.float32)
        df = evaluate(H, S, train=T, metrics=names, n_boot=1000, n_boot_expensive=n_boot,
                      seed=int(rng.integers(2**31)))
        n_non = int(df.attrs["membership"]["sizes"]["nonmembers"])
        df = df.set_index("name")
        for m in names:
            vals[m].append(float(df.loc[m, "value"]))
            cis[m].append((float(df.loc[m, "ci_low"]), float(df.loc[m, "ci_high"])))
    what = "a perfect generator" if leak is None else f"a generator leaking its training profiles (rho {leak})"
    print(f"membership attacks on {what}: {trials} trials, {n_train} training, {n_holdout} held-out "
          f"({n_non} non-members, as many members), {n_synthetic} synthetic profiles of {genes} genes; "
          f"n_boot_expensive {n_boot}")
    print(f"{'indicator':>30} | {'truth':>6} {'target':>7} | {'mean':>7} {'sd':>7} | {'cover truth':>11} "
          f"{'cover target':>12} | {'half-width':>10}")
    for a in ATTACKS:
        for k, (alpha, _) in STATISTICS.items():
            m = metric_name(a, k)
            truth = 0.5 if alpha is None else alpha
            target = 0.5 if alpha is None else chance_tpr(alpha, n_non)
            if leak is not None:   # the true value unknown: the mean over the trials in both columns
                truth = target = float(np.mean(vals[m]))
            c_t, hw = cover_value(truth, cis[m])
            c_g, _ = cover_value(target, cis[m])
            print(f"{m:>30} | {truth:>6.3f} {target:>7.4f} | {np.mean(vals[m]):>7.4f} {np.std(vals[m]):>7.4f} | "
                  f"{c_t:>11.3f} {c_g:>12.3f} | {hw:>10.4f}", flush=True)


def fixed_scores_ci(scores: dict, n_pos: int, values: dict, rng: np.random.Generator, n_boot: int = 1000) -> dict:
    """The attacks' intervals as rnagen made them before the MC radius and the AUC's logit scale (code of ad15b84):
    members and non-members resampled, every attack's scores held fixed, :func:`bs.bootstrap_ci` of the
    replicates."""
    from rnagen.metrics import membership as mb

    n = len(next(iter(scores.values())))
    ip = rng.integers(0, n_pos, (n_boot, n_pos))
    ineg = rng.integers(0, n - n_pos, (n_boot, n - n_pos))
    wp, wn, rows = np.zeros((n_boot, n)), np.zeros((n_boot, n)), np.arange(n_boot)[:, None]
    np.add.at(wp, (rows, ip), 1.0)
    np.add.at(wn, (rows, n_pos + ineg), 1.0)
    out = {}
    for a, sc in scores.items():
        st = mb._Roc(sc[:n_pos], sc[n_pos:]).statistics(wp, wn)
        out[a] = {k: bs.bootstrap_ci(values[a][k], v) for k, v in st.items()}
    return out


def membership_sr_case(n_train: int, n_non: int, n_ref: int, n_synthetic: int, genes: int, outer: int, inner: int,
                       seed: int, leak: float | None, attacks: list[str]) -> None:
    """Where the membership intervals' shortfall comes from, and the intervals of rnagen against the scores-fixed
    resample (:func:`fixed_scores_ci`) on the same draws. ``outer`` generators (a training set, its synthetic set:
    ``leak`` rho as in :func:`membership_case`, else independent N(0, I) draws; a reference set), each audited
    ``inner`` times with new members (``n_non`` of its training profiles) and new non-members (``n_non`` fresh
    draws). Every attack but MC scores a candidate by itself, so those scores come from one call per generator on
    a pool of its training profiles and ``inner * n_non`` non-members; MC's radius is a quantile of the audited
    candidates' own distances, so it is run per audit. Truth: the mean over every audit; coverage of it and of
    the generator's own mean (the synthetic and reference sets held, the variation the resample draws); the
    spread split into within a generator (members and non-members) and between generators (synthetic and
    reference sets, the training set)."""
    from rnagen.metrics import membership as mb

    rng = np.random.default_rng(seed)
    stats = list(mb.STATISTICS)
    shape = (outer, inner, len(attacks), len(stats))
    vals = np.zeros(shape)
    lo, hi = {m: np.zeros(shape) for m in ("old", "new")}, {m: np.zeros(shape) for m in ("old", "new")}
    opts = {"epsilon_quantile": 0.5, "pca_dims": 10, "density": "kde", "epochs": 10, "reference_side": None,
            "logan_inputs": None}
    for o in range(outer):
        T = rng.standard_normal((n_train, genes)).astype(np.float32)
        R = rng.standard_normal((n_ref, genes)).astype(np.float32)
        S = rng.standard_normal((n_synthetic, genes)).astype(np.float32)
        if leak is not None:
            u = rng.choice(n_train, n_synthetic, replace=n_synthetic > n_train)
            S = (leak * T[u] + np.sqrt(1.0 - leak**2) * S).astype(np.float32)
        pool = rng.standard_normal((n_non * inner, genes)).astype(np.float32)
        alone = [a for a in attacks if a != "mc"]
        sc_t = mb.attack_scores(T, S, R, attacks=alone, seed=o) if alone else {}
        sc_n = mb.attack_scores(pool, S, R, attacks=alone, seed=o) if alone else {}
        for i in range(inner):
            mi, ni = rng.choice(n_train, n_non, replace=False), np.arange(i * n_non, (i + 1) * n_non)
            scores = {a: np.concatenate([sc_t[a][mi], sc_n[a][ni]]) for a in alone}
            mc = None
            if "mc" in attacks:
                got, mc = mb._attack_scores(np.concatenate([T[mi], pool[ni]]), S, R, attacks=["mc"], seed=o, **opts)
                scores["mc"] = got["mc"]
            scores = {a: scores[a] for a in attacks}
            v = {a: mb.attack_statistics(sc[:n_non], sc[n_non:]) for a, sc in scores.items()}
            ci = {"new": mb._bootstrap(scores, n_non, n_boot=1000, rng=np.random.default_rng(rng.integers(2**31)),
                                       values=v, mc=mc),
                  "old": fixed_scores_ci(scores, n_non, v, np.random.default_rng(rng.integers(2**31)))}
            for j, a in enumerate(attacks):
                for k, st in enumerate(stats):
                    vals[o, i, j, k] = v[a][st]
                    for m in ("old", "new"):
                        lo[m][o, i, j, k], hi[m][o, i, j, k] = ci[m][a][st]
    truth, own = vals.mean((0, 1)), vals.mean(1)
    within = vals.var(1, ddof=1).mean(0)
    between = np.sqrt(np.maximum(own.var(0, ddof=1) - within / inner, 0.0))
    what = "an independent real draw" if leak is None else f"a generator leaking its training profiles (rho {leak})"
    print(f"membership attacks on {what}: {outer} generators x {inner} audits; {n_train} training, {n_non} members "
          f"and {n_non} non-members, {n_ref} reference, {n_synthetic} synthetic profiles of {genes} genes; "
          "coverage of the mean over all audits (of the generator's own mean) [mean half-width]")
    print(f"{'indicator':>30} | {'truth':>6} {'sd':>6} {'within':>6} {'betw.':>6} | {'old':>22} | {'rnagen':>22}")
    for j, a in enumerate(attacks):
        for k, st in enumerate(stats):
            cells = []
            for m in ("old", "new"):
                L, H = lo[m][..., j, k], hi[m][..., j, k]
                cu = np.mean((L <= truth[j, k]) & (truth[j, k] <= H))
                cg = np.mean((L <= own[:, None, j, k]) & (own[:, None, j, k] <= H))
                cells.append(f"{cu:.3f} ({cg:.3f}) [{np.mean(H - L) / 2:.3f}]")
            print(f"{mb.metric_name(a, st):>30} | {truth[j, k]:>6.3f} {vals[..., j, k].std():>6.3f} "
                  f"{np.sqrt(within[j, k]):>6.3f} {between[j, k]:>6.3f} | {cells[0]:>22} | {cells[1]:>22}", flush=True)


def cover_value(truth: float, intervals: list[tuple[float, float]]) -> tuple[float, float]:
    """The share of ``intervals`` containing ``truth``, and their mean half-width."""
    c = np.array(intervals)
    return float(np.mean((c[:, 0] <= truth) & (truth <= c[:, 1]))), float(np.mean(c[:, 1] - c[:, 0]) / 2)


def main() -> None:
    """Print the coverage table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--n", type=int, default=200, help="profiles per set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--neighbours", action="store_true", help="the neighbour indicators' table instead")
    ap.add_argument("--genes", type=int, default=20)
    ap.add_argument("--spread", type=float, nargs="+", default=[1.0, 1.3])
    ap.add_argument("--n-boot", type=int, default=20, help="subsample pairs (evaluate's n_boot_expensive)")
    ap.add_argument("--gtex26", action="store_true", help="the neighbour indicators on GTEx-like small classes")
    ap.add_argument("--per-class", type=int, default=4)
    ap.add_argument("--privacy", action="store_true", help="the privacy indicators of a perfect generator")
    ap.add_argument("--sizes", nargs="+", default=["400,100,100", "400,100,1000"],
                    help="n_train,n_holdout,n_synthetic triples of --privacy and --membership")
    ap.add_argument("--membership", action="store_true", help="the membership attacks of a perfect generator")
    ap.add_argument("--leak", type=float, default=None,
                    help="--membership: synthetic profiles rho t + sqrt(1 - rho^2) z of training profiles t instead")
    ap.add_argument("--membership-sr", action="store_true",
                    help="the membership intervals' shortfall split by source, rnagen's against the scores-fixed "
                         "resample on the same draws (--sizes n_train,n_nonmembers,n_reference,n_synthetic)")
    ap.add_argument("--outer", type=int, default=40, help="--membership-sr: generators")
    ap.add_argument("--inner", type=int, default=50, help="--membership-sr: audits per generator")
    ap.add_argument("--attacks", default="ganleaks,ganleaks_cal,mc,logan,domias", help="--membership-sr")
    a = ap.parse_args()
    if a.membership_sr:
        for quad in a.sizes:
            nt, nn, nr, ns = (int(x) for x in quad.split(","))
            membership_sr_case(nt, nn, nr, ns, a.genes, a.outer, a.inner, a.seed, a.leak, a.attacks.split(","))
        return
    if a.membership:
        for triple in a.sizes:
            nt, nh, ns = (int(x) for x in triple.split(","))
            membership_case(nt, nh, ns, a.genes, a.trials, a.seed, a.n_boot, a.leak)
        return
    if a.privacy:
        for triple in a.sizes:
            nt, nh, ns = (int(x) for x in triple.split(","))
            privacy_case(nt, nh, ns, a.genes, a.trials, a.seed, a.n_boot)
        return
    if a.gtex26:
        for s in a.spread:
            for stratified in (True, False):
                gtex26_case(a.per_class, s, a.trials, a.n_boot, stratified)
        return
    if a.neighbours:
        for s in a.spread:
            neighbour_case(a.n, a.genes, s, a.trials, a.seed, a.n_boot)
        return
    se = np.sqrt(0.95 * 0.05 / a.trials)
    print(f"share of {a.trials} trials whose 95% interval contains the true value (binomial SE {se:.3f}); "
          f"n = {a.n} per set")
    print(f"{'replicates':>10} | {'mean, normal':>22} | {'mean, exponential':>22} | {'ratio of medians':>22}")
    print(f"{'':>10} | {'rnagen':>10} {'percentile':>11} | {'rnagen':>10} {'percentile':>11} | "
          f"{'rnagen':>10} {'percentile':>11}")
    for B in (2, 5, 10, 20, 50, 200, 1000):
        nrm = mean_case(lambda r, n: r.standard_normal(n), 0.0, B, a.trials, a.n, a.seed)
        exp = mean_case(lambda r, n: r.standard_exponential(n), 1.0, B, a.trials, a.n, a.seed + 1)
        rat = ratio_case(B, a.trials // 4, a.n, a.seed + 2) if B <= 200 else (np.nan, np.nan)
        print(f"{B:>10} | {nrm[0]:>10.3f} {nrm[1]:>11.3f} | {exp[0]:>10.3f} {exp[1]:>11.3f} | "
              f"{rat[0]:>10.3f} {rat[1]:>11.3f}", flush=True)


if __name__ == "__main__":
    main()
