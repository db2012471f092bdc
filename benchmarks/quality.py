"""Every generator's quality on a development data set, next to the real-vs-real ceiling and the Gaussian floor.

The judging protocol of the project (README "How good are the models?"): for each seed, a stratified 80/20
split of the data set; each model trains on the training split and generates a synthetic set with the test
split's label mix; ``rnagen.metrics.evaluate`` scores it against the held-out test split with the tool's own
preprocessing (log scale, genes z-scored with the real training statistics) and gives, in the same call, the
real-vs-real reference: a training subsample of the synthetic set's size scored the same way (the ceiling).
The per-class Gaussian is the floor.

Data sets (``--dataset``; all but gtex26 are read from ``/work/shared/data``, the development data, or from
``--data-dir``):

``gtex26``   the bundled GTEx subset: 26 tissues x 20 profiles, 467 genes (416 train / 104 test per split)
``mirna4``   TCGA miRNA-seq of 4 cancer types, 1,934 x 383 miRNAs, log2 then z-scored upstream (label ``label``)
``brca258``  TCGA BRCA, 1,105 x 258 genes, raw counts (label ``groups``: ductal / lobular)
``brca200``  TCGA BRCA (mixOmics), 220 x 200 genes, normalised log scale (label ``subtype``: LumA / Basal /
             Her2); the file's own train/test column is ignored: every seed draws its own stratified split
``gemdiff16`` GEMDiff's fixture, a set no default was chosen on: its train and test files together, 1,181 profiles
             (tumour / normal) of the 11 of 16 genes missing in at most a fifth of a class, the rest imputed
             (``rnagen data prepare --missing impute``)

The share of the gap closed (:mod:`rnagen.metrics.gap`) is computed per split from that split's floor and
ceiling, then summarised over splits: 1 - d(model) / d(floor), d the distance from the real-vs-real value on
the indicator's side (100% = as real data, 0% = as the Gaussian, negative = worse; NaN where the Gaussian
already reaches the ceiling; marked ‡k where on k splits the real-vs-real value lies inside the floor's 95%
bootstrap CI, a gap within the sampling noise: ``rnagen.metrics.gap.gap_resolved`` on the floor's first draw).
TSTR is reported against TRTR (the same classifiers trained on the real training
split), as the difference TSTR - TRTR.

Two reference rows besides the ceiling and the floor: "copies", the memoriser (each synthetic profile is a
training profile of the same label, drawn with replacement), shows what copying scores: it beats the Gaussian
on density, AA_ts and TSTR on small splits, so a model that wins only as far as it copies has not won; the
privacy columns tell them apart: DCR share (share of synthetic profiles nearer the training set than the
held-out set; reference: the real-vs-real value, held-out profiles playing the synthetic set) and the
near-copy share (closer to a training profile than 99% of held-out real profiles are; copies: 1).

Indicators: density and coverage (k = 10), precision, recall, AA_ts (0.5 ideal), detection AUC (0.5
ideal), correlation score, TSTR accuracy (logistic regression and MLP, 3 classifier seeds) of classifiers
trained on a second synthetic set with the training split's size and label mix, so that TSTR compares with
its reference TRTR (the same classifiers trained on the real training split). ``--draws N`` scores N synthetic
draws (pairs of a test-sized and a training-sized set) per model and split and averages them, the floor
included: one draw moves AA_ts by ~0.02 for the same trained model.

``--variant "MODEL:LABEL:option=value,..."`` scores the same trained model again with other sampler options
as a row of its own (e.g. ``--variant "diffusion:diffusion ddim 50:sampler=ddim,steps=50"``): the samplers of
one network compared on the same splits and draws, its training seconds repeated on each row.

``--resume-log LOG`` continues an interrupted run from its printed output (the model rows it printed are
reused; the floor, ceiling and copies rows are recomputed). ``--out PREFIX`` writes PREFIX.json (every
split's values, the summaries and the command) and PREFIX.md (the tables printed at the end), rewritten after
every finished split.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/quality.py --models gaussian diffusion --seeds 0 1 2
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/quality.py --dataset mirna4 --threads 1 --out mirna4
    .venv/bin/python benchmarks/quality.py --models diffusion --set diffusion:train.steps=6000 \\
        --sample diffusion:steps=50 --threads 1
"""
from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from collections import defaultdict
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import torch

METRICS = ["density", "coverage", "precision", "recall", "aa_ts", "aa_truth", "aa_syn", "detection_auc",
           "correlation_score", "tstr_logreg_accuracy", "tstr_mlp_accuracy"]
PRIVACY = ["dcr_share", "near_copy_share"]
#: the indicators that get a share of the gap closed (fidelity-type; see rnagen.metrics.gap.applies)
GAP = ["density", "coverage", "precision", "recall", "aa_ts", "detection_auc", "correlation_score"]
TSTR = ["tstr_logreg_accuracy", "tstr_mlp_accuracy"]
SHORT = {"density": "dens", "coverage": "cov", "precision": "prec", "recall": "rec", "aa_ts": "AA_ts",
         "aa_truth": "AA_truth", "aa_syn": "AA_syn",
         "detection_auc": "det", "correlation_score": "corr", "tstr_logreg_accuracy": "TSTR_lr",
         "tstr_mlp_accuracy": "TSTR_mlp", "dcr_share": "DCR", "near_copy_share": "copies"}
DATASETS = ("gtex26", "mirna4", "brca258", "brca200", "gtex26xena", "gtex26floor", "gemdiff16")
DEFAULT_DATA_DIR = Path("/work/shared/data")

#: the label key of the AnnData every loader returns
LABEL = "label"


# ------------------------------------------------------------------------------------------------- data
def _adata(X: np.ndarray, labels, obs_names, var_names, *, logged: bool | None, what: str) -> anndata.AnnData:
    from rnagen.pp.history import set_log_state

    a = anndata.AnnData(X=np.asarray(X, np.float32),
                        obs=pd.DataFrame({LABEL: pd.Categorical(np.asarray(labels).astype(str))},
                                         index=[str(s) for s in obs_names]),
                        var=pd.DataFrame(index=[str(g) for g in var_names]))
    if logged is not None:
        # recorded so that every model and evaluate() take the values as they are (no second log)
        set_log_state(a, logged=logged, transform=what)
    return a


def load_dataset(name: str, data_dir: Path = DEFAULT_DATA_DIR) -> anndata.AnnData:
    """The development data set ``name`` as AnnData with the class in ``obs["label"]``."""
    if name == "gtex26":
        from rnagen import datasets

        a = datasets.gtex26()
        a.obs[LABEL] = a.obs["tissue"].astype(str).astype("category")
        return a
    if name == "gtex26xena":
        # the same profiles as UCSC Xena writes TPM, log2(x + 0.001) (unexpressed: -9.966), from gtex26's log2(x + 1)
        from rnagen import datasets

        a = datasets.gtex26()
        X = np.log2(np.exp2(np.asarray(a.X, np.float64)) - 1 + 0.001).astype(np.float32)
        return _adata(X, a.obs["tissue"].astype(str), a.obs_names, a.var_names, logged=True,
                      what="log2(x+0.001) (gtex26 rewritten as UCSC Xena writes TPM)")
    if name == "gtex26floor":
        # the same profiles with every value below 0.1 raised to 0.1, as values raised to a detection limit (36% of
        # the values sit at that floor, the 21% at 0 among them)
        from rnagen import datasets

        a = datasets.gtex26()
        X = np.maximum(np.asarray(a.X, np.float32), np.float32(0.1))
        return _adata(X, a.obs["tissue"].astype(str), a.obs_names, a.var_names, logged=True,
                      what="max(x, 0.1) of gtex26's log2(x+1) (values raised to a detection limit)")
    if name == "mirna4":
        df = pd.read_csv(data_dir / "tcga_mirna4" / "expression.csv.gz", index_col="sample_id")
        y = df.pop("label")
        return _adata(df.to_numpy(np.float32), y, df.index, df.columns, logged=True,
                      what="log2(x+1), then z-scored per miRNA (upstream)")
    if name == "brca258":
        df = pd.read_csv(data_dir / "tcga_brca" / "syngbts_RNABRCASubtypeSel258.csv.gz")
        y = df.pop("groups")
        # raw counts: left unrecorded, so models and evaluate() apply log2(x+1) themselves
        return _adata(df.to_numpy(np.float32), y, [f"BRCA{i:04d}" for i in range(len(df))], df.columns,
                      logged=None, what="")
    if name == "brca200":
        df = pd.read_csv(data_dir / "tcga_brca" / "mixomics_breastTCGA_mrna200.csv", index_col="sample_id")
        y = df.pop("subtype")
        df = df.drop(columns=["split"])
        return _adata(df.to_numpy(np.float32), y, df.index, df.columns, logged=True,
                      what="normalised log scale (mixOmics DIABLO preprocessing)")
    if name == "gemdiff16":
        # a set no default was chosen on: GEMDiff's fixture, train and test files together (788 + 393 profiles of
        # 16 genes, log2 scale, tumour / normal, the normal class from two sources: GTEx and TCGA), its genes
        # missing in over a fifth of a class dropped and the rest imputed as `rnagen data prepare --missing impute`
        from rnagen.pp.impute import complete_missing

        d = data_dir / "gemdiff_fixture"
        parts = [(pd.read_csv(d / f"example_{s}.txt", sep="\t", index_col=0),
                  pd.read_csv(d / f"example_{s}_labels.txt", sep="\t", header=None, index_col=0)[1])
                 for s in ("train", "test")]
        df = pd.concat([p[0] for p in parts])
        y = pd.concat([p[1] for p in parts]).loc[df.index]
        a = _adata(df.to_numpy(np.float32), y, df.index, df.columns, logged=True, what="log2 scale (GEMDiff fixture)")
        return complete_missing(a, how="impute", label_key=LABEL)
    raise SystemExit(f"unknown --dataset {name!r}; choose one of {', '.join(DATASETS)}")


# ------------------------------------------------------------------------------------------------- scoring
def _value(v: str):
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


def score(test, syn, train, seed: int, syn_tstr=None, *, label_key: str = "tissue") -> dict[str, dict[str, float]]:
    """evaluate() on the chosen indicators: {"value": {...}, "reference": {...}}.

    ``syn_tstr``: a synthetic set of the training set's size and label mix; when given, the TSTR accuracies
    come from classifiers trained on it, so that they compare with their reference, TRTR (classifiers trained
    on the whole real training set): a set of the test split's size has a quarter of the training data.
    """
    from rnagen.metrics import evaluate

    tstr = [m for m in METRICS if m.startswith("tstr_")]
    first = [m for m in METRICS + PRIVACY if syn_tstr is None or m not in tstr]
    df = evaluate(test, syn, train=train, label_key=label_key, metrics=first, n_boot=0,
                  n_boot_expensive=0, seed=seed)
    df = df[df["group"] == "all"].set_index("name")
    out = {"value": df["value"].to_dict(), "reference": df["reference"].to_dict()}
    if syn_tstr is not None:
        dt = evaluate(test, syn_tstr, train=train, label_key=label_key, metrics=tstr, n_boot=0,
                      n_boot_expensive=0, seed=seed)
        dt = dt[dt["group"] == "all"].set_index("name")
        out["value"].update(dt["value"].to_dict())
        out["reference"].update(dt["reference"].to_dict())
    return out


def split_with_floor(data, seed: int, draws: int, *, label_key: str = "label"):
    """The stratified 80/20 split of ``seed`` and the per-class Gaussian floor and real-vs-real ceiling scored on
    it over ``draws`` draws: ``(train, test, floor values, ceiling values)`` (the screens' common start)."""
    from rnagen import pp
    from rnagen.models import get_model

    tr, te = pp.split(data, label_key=label_key, test_size=0.2, seed=seed)
    gauss = get_model("gaussian")()
    gauss.fit(tr, label_key=label_key, seed=seed, progress=False)
    ref, _ = score_draws(gauss, tr, te, seed, draws, label_key=label_key)
    return tr, te, ref["value"], ref["reference"]


def score_draws(model, train, test, seed: int, draws: int = 1, *, label_key: str = "tissue",
                **opts) -> tuple[dict[str, dict[str, float]], float]:
    """:func:`score` averaged over ``draws`` synthetic draws of ``model`` (each a test-sized set and a
    training-sized one for TSTR; draw 0 uses the seeds of the one-draw protocol), and the seconds the last
    test-sized draw took."""
    results = []
    for d in range(draws):
        t0 = time.perf_counter()
        syn = model.sample(like=test, seed=seed + 100 + 1000 * d, **opts)
        sample_s = time.perf_counter() - t0
        syn_tstr = model.sample(like=train, seed=seed + 200 + 1000 * d, **opts)
        results.append(score(test, syn, train, seed, syn_tstr=syn_tstr, label_key=label_key))
    res = {part: {k: float(np.mean([r[part][k] for r in results])) for k in results[0][part]}
           for part in ("value", "reference")}
    return res, sample_s


def floor_resolution(gauss, train, test, seed: int, *, label_key: str = "tissue") -> dict[str, float]:
    """Per indicator with a share, whether the Gaussian floor is measurably away from the real-vs-real ceiling
    on this split (:func:`rnagen.metrics.gap.gap_resolved`: the ceiling outside the floor's 95% bootstrap CI;
    1 or 0, NaN where it cannot be told), from the floor's first draw: ``{"res_<indicator>": flag}``."""
    from rnagen.metrics import evaluate
    from rnagen.metrics.gap import gap_resolved

    want = list(dict.fromkeys(GAP + ["aa_truth", "aa_syn"]))
    df = evaluate(test, gauss.sample(like=test, seed=seed + 100), train=train, label_key=label_key, metrics=want,
                  seed=seed)
    df = df[df["group"] == "all"].set_index("name")
    floors = df[["value", "ci_low", "ci_high"]].to_dict("index")
    ceilings = df["reference"].to_dict()
    return {f"res_{m}": gap_resolved(m, floors, ceilings) for m in GAP}


def copies(train, test, seed: int, *, label_key: str = "tissue"):
    """The memoriser: for each test profile, a training profile of the same label drawn with replacement."""
    rng = np.random.default_rng(seed)
    y_tr = train.obs[label_key].astype(str).to_numpy()
    pick = [rng.choice(np.flatnonzero(y_tr == lab)) for lab in test.obs[label_key].astype(str)]
    obs = train.obs.iloc[pick].reset_index(drop=True)
    obs.index = [f"copy{i}" for i in range(len(pick))]
    out = anndata.AnnData(X=np.asarray(train.X)[pick], obs=obs, var=train.var.copy())
    out.uns = {k: v for k, v in train.uns.items() if k == "rnagen"}  # the same log state as the training set
    return out


def beats(name: str, model: dict, floor: dict, ceiling: dict) -> bool:
    """Is the model nearer real data than the Gaussian floor on indicator ``name``? (Dicts of indicator values:
    the share of the gap closed where the indicator has one, AA_ts read on its halves; else higher is better.)"""
    from rnagen.metrics.gap import applies, gap_closed_from

    if applies(name):
        return gap_closed_from(name, model, floor, ceiling) > 0
    return model[name] > floor[name]


def add_gap(rows: dict[str, list[dict]]) -> None:
    """Add ``gap_<indicator>`` and ``tstr_gap_<clf>`` (TSTR - TRTR) to every row of every split, in place,
    each split judged against its own floor (the "gaussian" row) and ceiling (the "real (ceiling)" row)."""
    from rnagen.metrics.gap import gap_closed_from

    floors = {r["seed"]: r for r in rows["gaussian"]}
    ceilings = {r["seed"]: r for r in rows["real (ceiling)"]}
    for name, rs in rows.items():
        for r in rs:
            floor, ceiling = floors[r["seed"]], ceilings[r["seed"]]
            for m in GAP:
                r[f"gap_{m}"] = gap_closed_from(m, r, floor, ceiling)
            for m in TSTR:
                r[f"tstr_gap_{m}"] = r[m] - ceiling[m]


def summary(values) -> dict[str, float]:
    """Mean, sd (ddof 1), min and max over splits, NaNs left out; ``n`` splits counted."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], float)
    if len(v) == 0:
        return {"mean": math.nan, "sd": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
            "min": float(v.min()), "max": float(v.max()), "n": int(len(v))}


def _cell(s: dict[str, float], pct: bool = False) -> str:
    if s["n"] == 0:
        return "NaN"
    f = (lambda x: f"{100 * x:.0f}%") if pct else (lambda x: f"{x:.3f}")
    sd = "" if math.isnan(s["sd"]) else f" ± {f(s['sd']).rstrip('%')}"
    rng = f" [{f(s['min'])}, {f(s['max'])}]" if s["n"] > 1 else ""
    return f"{f(s['mean'])}{sd}{rng}" + (f" (n={s['n']})" if pct and s["n"] < s.get("of", s["n"]) else "")


def tables(rows: dict[str, list[dict]], header: str) -> str:
    """The markdown tables: values, share of the gap closed, TSTR vs TRTR (mean ± sd [min, max] over splits)."""
    names = list(rows)
    lines = [header, "", "Values (mean ± sd [min, max] over splits):", "",
             "| set | splits | " + " | ".join(SHORT[m] for m in METRICS + PRIVACY) + " | train s | sample s |",
             "|---" * (len(METRICS + PRIVACY) + 4) + "|"]
    for n in names:
        cells = [_cell(summary([r.get(m, math.nan) for r in rows[n]])) for m in METRICS + PRIVACY]
        lines.append(f"| {n} | {len(rows[n])} | " + " | ".join(cells)
                     + f" | {np.mean([r['fit_s'] for r in rows[n]]):.0f} | "
                     f"{np.mean([r['sample_s'] for r in rows[n]]):.1f} |")
    lines += ["", "Share of the gap closed (Gaussian floor = 0%, real-vs-real ceiling = 100%; mean ± sd [min, "
              "max] over splits, each split judged against its own floor and ceiling; NaN: no gap on any split):",
              "", "| set | " + " | ".join(SHORT[m] for m in GAP) + " |", "|---" * (len(GAP) + 1) + "|"]
    # splits with a gap (the floor's own share finite) whose floor is within its CI of the ceiling
    noisy = {m: sum(r.get(f"res_{m}") == 0 and math.isfinite(r.get(f"gap_{m}", math.nan))
                    for r in rows.get("gaussian", [])) for m in GAP}
    for n in names:
        if n == "real (ceiling)":
            continue
        lines.append(f"| {n} | " + " | ".join(_cell({**summary([r[f'gap_{m}'] for r in rows[n]]),
                                                      "of": len(rows[n])}, pct=True)
                                              + (f" ‡{noisy[m]}" if noisy[m] else "") for m in GAP) + " |")
    if any(noisy.values()):
        lines += ["", "‡k: on k splits the real-vs-real value lies inside the Gaussian floor's 95% bootstrap CI "
                  "(rnagen.metrics.gap.gap_resolved): a gap within the sampling noise, whose share is not a "
                  "measurement: " + ", ".join(f"{SHORT[m]} {k}/{len(rows['gaussian'])}" for m, k in noisy.items()
                                              if k)]
    lines += ["", "TSTR vs TRTR (accuracy; TRTR = classifiers trained on the real training split):", "",
              "| set | " + " | ".join(f"{SHORT[m]} | {SHORT[m]} - TRTR" for m in TSTR) + " |",
              "|---" * (2 * len(TSTR) + 1) + "|"]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(f"{_cell(summary([r[m] for r in rows[n]]))} | "
                                              f"{_cell(summary([r[f'tstr_gap_{m}'] for r in rows[n]]))}"
                                              for m in TSTR) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- main
def _clean(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def main() -> None:
    """Train and score every model on every split (module text)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=DATASETS, default="gtex26", help="development data set (default gtex26)")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                    help=f"folder holding tcga_mirna4/ and tcga_brca/ (default {DEFAULT_DATA_DIR})")
    ap.add_argument("--models", nargs="+", default=["gaussian", "diffusion", "vae", "wgan-gp"],
                    help="registered model names (the Gaussian floor is always added)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="split/training seeds")
    ap.add_argument("--set", nargs="*", default=[], help="MODEL:key=value config overrides")
    ap.add_argument("--sample", nargs="*", default=[], help="MODEL:option=value sampler options (e.g. "
                    "diffusion:steps=50, diffusion:sampler=ddpm, vae:noise=true)")
    ap.add_argument("--variant", nargs="*", default=[], metavar="MODEL:LABEL:OPTS",
                    help="also score MODEL's trained model with sampler options OPTS (option=value,...) as row "
                         "LABEL, e.g. 'diffusion:diffusion ddim 50:sampler=ddim,steps=50'")
    ap.add_argument("--label", default=None, help="row label for the (single) non-Gaussian model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--draws", type=int, default=1, help="synthetic draws per model and split, scores averaged "
                    "(one draw moves AA_ts by ~0.02; the Gaussian floor gets the same number of draws)")
    ap.add_argument("--out", default=None, help="write PREFIX.json and PREFIX.md")
    ap.add_argument("--resume-log", default=None, metavar="LOG",
                    help="the printed output of an interrupted run with the same settings: its model rows (the "
                         "'seed N MODEL key=value ...' lines, 3 decimals) are taken instead of retraining; the "
                         "Gaussian floor, the ceiling and the copies are recomputed (deterministic, seconds)")
    ap.add_argument("--only-logged", action="store_true",
                    help="with --resume-log: train nothing, leave out the (split, model) pairs the log lacks "
                         "(each model's summary then covers the splits it finished, counted as n)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from rnagen import pp
    from rnagen.models import get_model

    a = load_dataset(args.dataset, args.data_dir)
    overrides, sopts = defaultdict(list), defaultdict(dict)
    for s in args.set:
        m, kv = s.split(":", 1)
        overrides[m].append(kv)
    for s in args.sample:
        m, kv = s.split(":", 1)
        k, v = kv.split("=", 1)
        sopts[m][k] = _value(v)
    models = ["gaussian"] + [m for m in args.models if m != "gaussian"]
    variants: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for v in args.variant:
        try:
            m, vlabel, opts = v.split(":", 2)
            vopts = {k: _value(x) for k, x in (kv.split("=", 1) for kv in opts.split(",") if kv)}
        except ValueError:
            ap.error(f"--variant {v!r}: expected MODEL:LABEL:option=value,...")
        if m not in models:
            ap.error(f"--variant {v!r}: model {m!r} is not in --models")
        variants[m].append((vlabel, {**sopts[m], **vopts}))
    rows: dict[str, list[dict]] = defaultdict(list)
    logged = read_log(args.resume_log) if args.resume_log else {}
    t_start = time.perf_counter()
    for seed in args.seeds:
        tr, te = pp.split(a, label_key=LABEL, test_size=0.2, seed=seed)
        res = score(te, copies(tr, te, seed, label_key=LABEL), tr, seed,
                    syn_tstr=copies(tr, tr, seed + 1, label_key=LABEL), label_key=LABEL)
        rows["copies"].append({**res["value"], "fit_s": 0.0, "sample_s": 0.0, "seed": seed})
        print_row(seed, "copies", rows["copies"][-1])
        for name in models:
            label = name if (name == "gaussian" or args.label is None) else args.label
            if (seed, label) in logged and name != "gaussian":
                rows[label].append({**logged[seed, label], "seed": seed})
                print(f"seed {seed} {label:14s} taken from {args.resume_log}", flush=True)
                for vl, _ in variants[name]:  # a variant needs the trained model: only its logged rows are taken
                    if (seed, vl) in logged:
                        rows[vl].append({**logged[seed, vl], "seed": seed})
                continue
            if args.only_logged and name != "gaussian":
                print(f"seed {seed} {label:14s} not in {args.resume_log}: left out (--only-logged)", flush=True)
                continue
            model = get_model(name).from_config(overrides=overrides[name])
            t0 = time.perf_counter()
            model.fit(tr, label_key=LABEL, seed=seed, progress=False)
            fit_s = time.perf_counter() - t0
            res, sample_s = score_draws(model, tr, te, seed, args.draws, label_key=LABEL, **sopts[name])
            extra = {}
            if name == "gaussian":
                rows["real (ceiling)"].append({**res["reference"], "fit_s": 0.0, "sample_s": 0.0, "seed": seed})
                extra = floor_resolution(model, tr, te, seed, label_key=LABEL)
            rows[label].append({**res["value"], "fit_s": fit_s, "sample_s": sample_s, "seed": seed, **extra})
            print_row(seed, label, rows[label][-1])
            for vlabel, vopts in variants[name]:
                if (seed, vlabel) in logged:
                    rows[vlabel].append({**logged[seed, vlabel], "seed": seed})
                    continue
                res, sample_s = score_draws(model, tr, te, seed, args.draws, label_key=LABEL, **vopts)
                rows[vlabel].append({**res["value"], "fit_s": fit_s, "sample_s": sample_s, "seed": seed})
                print_row(seed, vlabel, rows[vlabel][-1])
        # every finished split is written at once: an interrupted run keeps the splits it completed
        finish(rows, args, a, overrides, sopts, time.perf_counter() - t_start, final=seed == args.seeds[-1])


def print_row(seed: int, label: str, row: dict) -> None:
    """The line of a finished (split, row): what :func:`read_log` reads back."""
    print(f"seed {seed} {label:14s} " + " ".join(f"{SHORT.get(k, k)}={v:.3f}" for k, v in row.items() if k != "seed"),
          flush=True)


def read_log(path: str) -> dict[tuple[int, str], dict[str, float]]:
    """{(seed, row label): values} from the lines this script prints for each finished model and split."""
    short_to_name = {v: k for k, v in SHORT.items()}
    out = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[0] != "seed" or "=" not in parts[-1]:
            continue
        kv = [p for p in parts[2:] if "=" in p]
        label = " ".join(p for p in parts[2:] if "=" not in p)
        vals = {short_to_name.get(k, k): float(v) for k, v in (p.split("=", 1) for p in kv)}
        out[int(parts[1]), label] = vals
    return out


def finish(rows: dict[str, list[dict]], args, a, overrides, sopts, seconds: float, *, final: bool) -> None:
    """Gap closed per split, the tables and (with ``--out``) PREFIX.json / PREFIX.md for the splits done."""
    order = ["real (ceiling)", "gaussian", "copies"] + [n for n in rows if n not in ("real (ceiling)", "gaussian",
                                                                                     "copies")]
    rows = {n: [dict(r) for r in rows[n]] for n in order}   # the reference rows first, then the models
    add_gap(rows)
    done = args.seeds[:len(rows["gaussian"])]
    command = "benchmarks/quality.py " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    header = (f"`{command}`: data set {args.dataset} ({a.n_obs} x {a.n_vars}, {a.obs[LABEL].nunique()} classes), "
              f"splits {done}{'' if final else f' of {args.seeds}'}, overrides "
              f"{ {k: v for k, v in overrides.items() if v} }, sampler { {k: v for k, v in sopts.items() if v} }, "
              f"torch threads {args.threads}, draws {args.draws}, {seconds:.0f} s in all")
    text = tables(rows, header)
    old = ""
    g = {r["seed"]: r for r in rows["gaussian"]}
    c = {r["seed"]: r for r in rows["real (ceiling)"]}
    for name, rs in rows.items():
        if name in ("gaussian", "real (ceiling)"):
            continue
        parts = []
        # means over the splits this row finished, the floor's and the ceiling's over the same splits
        mean = {n: {m: float(np.mean([ref[r["seed"]].get(m, math.nan) for r in rs])) for m in METRICS} for n, ref in
                (("gaussian", g), ("real (ceiling)", c), (name, {r["seed"]: r for r in rs}))}
        for m in METRICS:
            if m in ("aa_truth", "aa_syn"):  # read through AA_ts
                continue
            if beats(m, mean[name], mean["gaussian"], mean["real (ceiling)"]):
                # how many seeds agree, each judged against its own split's floor and ceiling
                k = sum(beats(m, r, g[r["seed"]], c[r["seed"]]) for r in rs)
                parts.append(f"{SHORT[m]} ({k}/{len(rs)})")
        old += f"{name}: beats the floor (on the means) on {', '.join(parts) or 'nothing'}\n"
    if final:
        print("\n" + text + "\n\n" + old)
    if args.out:
        from rnagen._io import write_json, write_text

        write_text(Path(args.out + ".md"), text + "\n\n" + old)
        write_json(Path(args.out + ".json"), _clean({
            "command": command, "dataset": args.dataset, "n_obs": a.n_obs, "n_genes": a.n_vars,
            "seeds": done, "complete": final, "draws": args.draws, "threads": args.threads, "rows": rows,
            "summary": {n: {k: summary([r[k] for r in rs]) for k in rs[0]} for n, rs in rows.items()}}))
        print(f"wrote {args.out}.json and {args.out}.md ({len(done)} of {len(args.seeds)} splits)", flush=True)


if __name__ == "__main__":
    main()
