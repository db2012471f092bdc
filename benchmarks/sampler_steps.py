"""Quality against the number of sampling steps: DDIM, DPM-Solver++(2M) and DDPM on ONE trained network,
and the sampling throughput next to the measured float32 matmul roofline.

Quality. For each data set and split seed: a stratified 80/20 split; the default diffusion model (the
dataclass defaults, as a user gets them) and the per-class Gaussian (the floor) train on the 80%; every
sampler configuration draws a synthetic set with the held-out split's label mix from the same trained
network (same seed, so deterministic samplers start from the same x_T) and ``rnagen.metrics.evaluate``
scores it against the held-out split; the real-vs-real ceiling (real training profiles scored the same
way) comes from the same calls. Per indicator the share of the gap closed is
1 - |model - ceiling| / |floor - ceiling|, on the means over the seeds ("-" where the floor is within 0.005
of the ceiling); "Δ vs DDIM 50" is the mean paired difference to DDIM with 50 steps over the seeds, with
its standard deviation.

Throughput. A default-sized network built for 978 genes (2 labels; weights after a few training steps:
speed does not depend on them) samples 1,000 profiles through the public ``Generator.sample`` for each
sampler and step count (best of ``--repeats``); the roofline is the GFLOP/s of a float32 matmul of the
network's widest layer at that batch size, measured in the same run, times the network's FLOPs per step.

Data sets: ``gtex26`` (the bundled GTEx subset, label ``tissue``) and ``tcga_mirna4``
(``/work/shared/data/tcga_mirna4/expression.csv.gz``, label ``label``, already z-scored); ``brca258`` and
``brca200`` as read by ``quality.py`` (label ``label``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sampler_steps.py --datasets gtex26 tcga_mirna4 \\
        --seeds 0 1 2 --threads 1 --cache /tmp/sampler_steps
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/sampler_steps.py --throughput-only --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

METRICS = ["density", "coverage", "precision", "recall", "aa_ts"]
SHORT = {"density": "dens", "coverage": "cov", "precision": "prec", "recall": "rec", "aa_ts": "AA_ts"}
TCGA = "/work/shared/data/tcga_mirna4/expression.csv.gz"


def load_dataset(name: str):
    """(AnnData, label key) of a development data set."""
    import anndata
    import pandas as pd

    if name == "gtex26":
        from rnagen import datasets

        return datasets.gtex26(), "tissue"
    if name == "tcga_mirna4":
        df = pd.read_csv(TCGA, index_col=0)
        obs = pd.DataFrame({"label": df.pop("label").astype(str).to_numpy()}, index=df.index.astype(str))
        return anndata.AnnData(X=df.to_numpy(np.float32), obs=obs,
                               var=pd.DataFrame(index=df.columns.astype(str))), "label"
    if name in ("brca258", "brca200"):
        from quality import LABEL
        from quality import load_dataset as load_development

        return load_development(name), LABEL
    raise SystemExit(f"unknown data set {name!r}")


def configs(steps: list[int], ddpm_steps: list[int]) -> list[tuple[str, dict]]:
    """(row label, sampler options) for every configuration scored."""
    out = []
    for S in steps:
        out.append((f"ddim {S}", {"sampler": "ddim", "steps": S, "spacing": "trailing"}))
        out.append((f"dpm++ {S}", {"sampler": "dpm++", "steps": S, "spacing": "trailing"}))
        out.append((f"dpm++ logsnr {S}", {"sampler": "dpm++", "steps": S, "spacing": "logsnr"}))
    for S in ddpm_steps:
        out.append((f"ddpm {S}", {"sampler": "ddpm", "steps": S}))
    return out


def score(test, syn, train, label_key: str, seed: int, metrics: list[str] = METRICS
          ) -> tuple[dict[str, float], dict[str, float]]:
    """(values, real-vs-real references) of ``syn`` against the held-out ``test`` split on ``metrics``."""
    from rnagen.metrics import evaluate

    df = evaluate(test, syn, train=train, label_key=label_key, metrics=metrics, n_boot=0, n_boot_expensive=0,
                  seed=seed)
    df = df[df["group"] == "all"].set_index("name")
    return ({m: float(df.loc[m, "value"]) for m in metrics}, {m: float(df.loc[m, "reference"]) for m in metrics})


def screen_draws(model, gauss, train, test, label_key: str, seed: int, cfgs: list[tuple[str, dict]], draws: int,
                 res: dict, json_path: Path | None = None) -> dict:
    """Score ``draws`` synthetic sets of ``model`` per sampler configuration next to the Gaussian floor and the
    real-vs-real ceiling (the screens' shared protocol: sampling seeds ``seed + 100 + 1000 d``); fills ``res``
    (``floor``, ``ceiling``, ``rows``) and rewrites ``json_path`` after every draw."""
    res.setdefault("floor", [])
    res.setdefault("ceiling", [])
    res.setdefault("rows", {lab: [] for lab, _ in cfgs})
    for d in range(draws):
        s_seed = seed + 100 + 1000 * d
        floor, ceiling = score(test, gauss.sample(like=test, seed=s_seed), train, label_key, seed)
        res["floor"].append(floor)
        res["ceiling"].append(ceiling)
        print(f"[draw {d}] floor {floor}; ceiling {ceiling}", flush=True)
        for lab, opts in cfgs:
            syn = model.sample(like=test, seed=s_seed, progress=False, **opts)
            val, _ = score(test, syn, train, label_key, seed)
            res["rows"][lab].append(val)
            print(f"[draw {d}] {lab:12s} " + " ".join(f"{SHORT[m]}={val[m]:.3f}" for m in METRICS), flush=True)
        if json_path:
            json_path.write_text(json.dumps(res, default=float))
    return res


def trained_diffusion(train, label_key: str, seed: int, cache: Path | None, overrides: list[str]):
    """The default diffusion model trained on ``train`` (loaded from ``cache`` when it is there)."""
    from rnagen.models import get_model, load

    run = cache / f"diffusion_{seed}" if cache else None
    if run is not None and (run / "meta.json").is_file():
        return load(run, device="cpu"), float(json.loads((run / "fit_seconds.json").read_text())["s"])
    model = get_model("diffusion").from_config(overrides=overrides)
    t0 = time.perf_counter()
    model.fit(train, label_key=label_key, seed=seed, device="cpu", progress=False)
    fit_s = time.perf_counter() - t0
    if run is not None:
        model.save(run)
        (run / "fit_seconds.json").write_text(json.dumps({"s": fit_s}))
    return model, fit_s


def quality(name: str, seeds: list[int], cfgs: list[tuple[str, dict]], cache: Path | None,
            overrides: list[str], json_path: Path | None = None, draws: int = 1) -> dict:
    """{"floor": [...], "ceiling": [...], "rows": {label: [...]}, "fit_s": [...]}: one entry per (split seed,
    draw) in the same order everywhere, so rows can be compared pair by pair."""
    from rnagen import pp
    from rnagen.models import get_model

    adata, label_key = load_dataset(name)
    res: dict = {"floor": [], "ceiling": [], "rows": {lab: [] for lab, _ in cfgs}, "fit_s": [], "sample_s": {},
                 "seeds": seeds, "draws": draws}
    for seed in seeds:
        train, test = pp.split(adata, label_key=label_key, test_size=0.2, seed=seed)
        gauss = get_model("gaussian").from_config().fit(train, label_key=label_key, seed=seed, progress=False)
        model, fit_s = trained_diffusion(train, label_key, seed, cache / name if cache else None, overrides)
        res["fit_s"].append(fit_s)
        print(f"[{name} seed {seed}] n_train={train.n_obs} n_test={test.n_obs} genes={train.n_vars} "
              f"fit {fit_s:.0f} s", flush=True)
        for d in range(draws):
            s_seed = seed + 100 + 1000 * d  # the same x_T for every deterministic sampler of this draw
            floor, ceiling = score(test, gauss.sample(like=test, seed=s_seed), train, label_key, seed)
            res["floor"].append(floor)
            res["ceiling"].append(ceiling)
            print(f"[{name} seed {seed} draw {d}] floor {floor}; ceiling {ceiling}", flush=True)
            for lab, opts in cfgs:
                t0 = time.perf_counter()
                syn = model.sample(like=test, seed=s_seed, progress=False, **opts)
                res["sample_s"].setdefault(lab, []).append(time.perf_counter() - t0)
                val, _ = score(test, syn, train, label_key, seed)
                res["rows"][lab].append(val)
                print(f"[{name} seed {seed} draw {d}] {lab:18s} "
                      + " ".join(f"{SHORT[m]}={val[m]:.3f}" for m in METRICS), flush=True)
            if json_path is not None:  # after every draw, so an interrupted run keeps what it measured
                json_path.write_text(json.dumps({name: res}))
    return res


def gap(model: float, floor: float, ceiling: float) -> float | None:
    d = abs(floor - ceiling)
    return None if d < 0.005 else 1.0 - abs(model - ceiling) / d


def quality_table(name: str, res: dict, seeds: list[int]) -> str:
    mean = lambda rows, m: float(np.mean([r[m] for r in rows]))  # noqa: E731
    sd = lambda rows, m: float(np.std([r[m] for r in rows]))  # noqa: E731
    floor, ceiling = res["floor"], res["ceiling"]
    base = res["rows"].get("ddim 50")
    draws = res.get("draws", 1)
    lines = [f"### {name}: mean (sd) over split seeds {seeds} x {draws} synthetic draw(s); diffusion trained in "
             f"{np.mean(res['fit_s']):.0f} s per split (mean)", "",
             "| sampler | " + " | ".join(SHORT[m] for m in METRICS) + " | gap closed: "
             + " / ".join(SHORT[m] for m in METRICS) + " | Δ vs DDIM 50: " + " / ".join(SHORT[m] for m in METRICS)
             + " |", "|---" * (3 + len(METRICS)) + "|"]
    lines[-1] = "|---|" + "---|" * len(METRICS) + "---|---|"

    def cells(rows):
        return " | ".join(f"{mean(rows, m):.3f} ({sd(rows, m):.3f})" for m in METRICS)

    lines.append(f"| real (ceiling) | {cells(ceiling)} | | |")
    lines.append(f"| gaussian (floor) | {cells(floor)} | | |")
    for lab, rows in res["rows"].items():
        gaps = []
        for m in METRICS:
            g = gap(mean(rows, m), mean(floor, m), mean(ceiling, m))
            gaps.append("-" if g is None else f"{100 * g:.0f}%")
        if base is not None:
            diffs = [f"{np.mean([r[m] - b[m] for r, b in zip(rows, base)]):+.3f}"
                     f"±{np.std([r[m] - b[m] for r, b in zip(rows, base)]):.3f}" for m in METRICS]
        else:
            diffs = ["?"] * len(METRICS)
        lines.append(f"| {lab} | {cells(rows)} | {' / '.join(gaps)} | {' / '.join(diffs)} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------
# the analytic case: exact denoiser of N(2, 0.5^2) data, error against the exact probability-flow solution
# ----------------------------------------------------------------------------------------------------------
def analytic(steps: list[int], *, n: int = 20_000, mu: float = 2.0, sd: float = 0.5) -> str:
    """Max |x_0 - x_0*| over ``n`` samples, x_0* the exact ODE solution from the same x_T (float64)."""
    import math

    from rnagen.models.diffusion.samplers import make_sampler
    from rnagen.models.diffusion.schedule import NoiseSchedule

    sch = NoiseSchedule("quad", 1000)

    def eps(x, t):
        a = sch.alpha_bar(t)
        return math.sqrt(1 - a) * (x - math.sqrt(a) * mu) / (a * sd ** 2 + 1 - a)

    xT = torch.randn(n, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    aT = sch.alpha_bar(999)
    exact = mu + sd * (xT - math.sqrt(aT) * mu) / math.sqrt(aT * sd ** 2 + 1 - aT)
    lines = ["max |x_0 - exact ODE solution| (sd of the samples; exact: %.4f), quad schedule T = 1000, "
             "exact ε of N(%g, %g²), %d samples, float64" % (float(exact.std()), mu, sd, n), "",
             "| sampler | spacing | " + " | ".join(f"{S} steps" for S in steps) + " |",
             "|---|---|" + "---|" * len(steps)]
    for name in ("ddim", "dpm++"):
        for spacing in ("trailing", "logsnr"):
            cells = []
            for S in steps:
                x = make_sampler(name, sch, spacing=spacing).sample(eps, xT.shape, steps=S, x_T=xT,
                                                                    dtype=torch.float64)
                cells.append(f"{float((x - exact).abs().max()):.1e} ({float(x.std()):.3f})")
            lines.append(f"| {name} | {spacing} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------
# throughput
# ----------------------------------------------------------------------------------------------------------
def matmul_gflops(m: int, k: int, n: int, *, seconds: float = 1.0) -> float:
    """Measured float32 GFLOP/s of ``(m x k) @ (k x n)`` (best of repeated runs over ``seconds``)."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    out = torch.empty(m, n)
    torch.matmul(a, b, out=out)
    best, t_end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        for _ in range(5):
            torch.matmul(a, b, out=out)
        best = min(best, (time.perf_counter() - t0) / 5)
    return 2.0 * m * k * n / best / 1e9


def throughput(steps: list[int], *, n: int = 1000, genes: int = 978, repeats: int = 3) -> str:
    import anndata
    import pandas as pd

    from rnagen.models import get_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, genes)).astype(np.float32)
    obs = pd.DataFrame({"label": ["a", "b"] * 32}, index=[f"s{i}" for i in range(64)])
    ad = anndata.AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(genes)]))
    model = get_model("diffusion").from_config(overrides=["train.steps=3", "train.warmup_steps=1",
                                                          "train.checkpoint_every=3", "train.log_every=1"])
    model.fit(ad, label_key="label", seed=0, device="cpu", progress=False)
    flops = model.net.flops_per_sample()
    w, e = model.config.network.width, model.config.network.expansion
    gf = matmul_gflops(n, w, e * w)
    lines = [f"threads {torch.get_num_threads()}; network {flops / 1e6:.2f} MFLOP per profile and step "
             f"({genes} genes, width {w}, depth {model.config.network.depth}); measured float32 matmul "
             f"{n}x{w} @ {w}x{e * w}: {gf:.1f} GFLOP/s", "",
             "| sampler | steps | seconds for 1,000 profiles (best of %d) | profiles/s | roofline s | "
             "share of roofline |" % repeats, "|---|---|---|---|---|---|"]
    # autoguidance (a weight other than 1) calls the network and its guide at every step: twice the arithmetic
    for sampler, ag in (("ddim", 1.0), ("dpm++", 1.0), ("dpm++", 2.0)):
        for S in steps:
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                model.sample(n, seed=0, sampler=sampler, steps=S, progress=False, autoguidance=ag)
                best = min(best, time.perf_counter() - t0)
            roof = (1 if ag == 1.0 else 2) * flops * n * S / (gf * 1e9)
            name = sampler if ag == 1.0 else f"{sampler}, autoguidance {ag:g}"
            lines.append(f"| {name} | {S} | {best:.3f} | {n / best:,.0f} | {roof:.3f} | {100 * roof / best:.0f}% |")
            print(lines[-1], flush=True)
    # the solver's own arithmetic per step, without the network (a denoiser returning a fixed tensor)
    from rnagen.models.diffusion.samplers import make_sampler

    out = torch.randn(n, genes)
    lines += ["", "solver arithmetic alone (no network), %d x %d, per step:" % (n, genes)]
    for sampler in ("ddim", "dpm++"):
        s = make_sampler(sampler, model.schedule, prediction="v")
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            s.sample(lambda x, t: out, (n, genes), steps=50, generator=torch.Generator().manual_seed(0))
            best = min(best, (time.perf_counter() - t0) / 50)
        lines.append(f"- {sampler}: {1e3 * best:.2f} ms per step (network step at the roofline: "
                     f"{1e3 * flops * n / (gf * 1e9):.1f} ms)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["gtex26", "tcga_mirna4"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--steps", nargs="+", type=int, default=[5, 10, 15, 20, 25, 50])
    ap.add_argument("--ddpm-steps", nargs="*", type=int, default=[50, 1000])
    ap.add_argument("--draws", type=int, default=1, help="synthetic draws (sampling seeds) per split; the "
                    "deterministic samplers start every configuration of a draw from the same x_T")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (training, sampling and timing)")
    ap.add_argument("--cache", type=Path, default=None, help="folder keeping the trained models between runs")
    ap.add_argument("--json", type=Path, default=None, help="write the raw results here")
    ap.add_argument("--set", nargs="*", default=[], help="diffusion config overrides (default: none, the "
                    "defaults as users get them)")
    ap.add_argument("--throughput-only", action="store_true")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (best of)")
    ap.add_argument("--analytic", action="store_true", help="only the exact-denoiser table (seconds)")
    ap.add_argument("--table-from", type=Path, nargs="*", default=[],
                    help="only print the quality tables of earlier --json outputs")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average at start {load[0]:.2f} "
          f"(machine has {os.cpu_count()} cores)", flush=True)
    out = []
    raw = {}
    if args.analytic:
        print(analytic(args.steps + [100, 200]))
        return
    if args.table_from:
        for path in args.table_from:
            for name, res in json.loads(path.read_text()).items():
                print(quality_table(name, res, res.get("seeds", args.seeds)) + "\n")
        return
    if not args.throughput_only:
        cfgs = configs(args.steps, args.ddpm_steps)
        for name in args.datasets:
            raw[name] = quality(name, args.seeds, cfgs, args.cache, args.set,
                                args.json.with_suffix(f'.{name}.json') if args.json else None, args.draws)
            out.append(quality_table(name, raw[name], args.seeds))
            print("\n" + out[-1] + "\n", flush=True)
            if args.json:
                args.json.write_text(json.dumps(raw))
    if not args.no_throughput:
        out.append(throughput(args.steps, repeats=args.repeats))
    load = os.getloadavg()
    print(f"\nload average at end {load[0]:.2f}\n\n" + "\n\n".join(out))


if __name__ == "__main__":
    main()
