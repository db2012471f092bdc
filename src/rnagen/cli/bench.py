"""``rnagen benchmark`` and ``rnagen demo``: the leaderboard and the HTML report in one command; ``rnagen report``:
the report of a benchmark folder written again."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError, DataError
from . import _types as T

# leaderboard columns printed on the terminal (the files hold every column and the CIs)
_PRINTED = ("model", "tstr_mlp_accuracy", "trtr_accuracy", "correlation_score", "precision", "recall", "density",
            "coverage", "aa_ts", "detection_auc", "frechet_classifier", "dcr_share", "train_seconds",
            "sample_seconds") + ("de_f1", "coexpr_edge_f1", "concordance_jaccard")


def _parse_sets(items: list[str]) -> dict[str, list[str]]:
    """``--set diffusion:train.steps=100`` -> ``{"diffusion": ["train.steps=100"]}``."""
    out: dict[str, list[str]] = {}
    for item in items:
        model, sep, kv = item.partition(":")
        if not sep or "=" not in kv:
            raise ConfigError(f"--set {item!r} must look like MODEL:KEY=VALUE, e.g. diffusion:train.steps=100")
        model = {"ddpm": "diffusion", "ddim": "diffusion", "dpm++": "diffusion"}.get(model.strip(), model.strip())
        out.setdefault(model, []).append(kv.strip())
    return out


def print_leaderboard(board, file=None) -> None:
    """The headline columns of a leaderboard as a plain-text table (on ``file``, default stdout), then the
    share of the gap closed per indicator (Gaussian floor 0%, real-vs-real ceiling 100%), with its standard
    deviation over runs where there are several (``--splits``, ``--seeds``)."""
    cols = [c for c in _PRINTED if c in board.columns]
    text = board[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-")
    print(text, file=file or sys.stdout)
    gap = [c for c in board.columns if c.endswith("_gap_closed") and board[c].notna().any()]
    if gap:
        import math

        from ..metrics.gap import UNRESOLVED_NOTE, share_measured

        def cell(r, c: str) -> str:
            v = r[c]
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                return "-"
            measured = share_measured(r.get(c.removesuffix("_gap_closed") + "_gap_resolved"))
            sd = r.get(c + "_sd")
            text = f"{100 * v:.0f}%" + (f" ± {100 * sd:.0f}" if isinstance(sd, float) and math.isfinite(sd) else "")
            n = r.get(c + "_n")   # defined on fewer runs than were run
            if isinstance(n, (int, float)) and math.isfinite(n):
                text += f" ({int(n)} of {int(r['n_seeds'])} runs)"
            return text if measured else f"({text})"

        sub = board[["model"]].copy()
        for c in gap:
            sub[c.removesuffix("_gap_closed")] = [cell(r, c) for r in board.to_dict("records")]
        spread = any(c + "_sd" in board.columns and board[c + "_sd"].notna().any() for c in gap)
        print("\nshare of the gap closed (gaussian = 0%, real = 100%; - where the gaussian reaches real"
              + ("; ± sd over runs" if spread else "") + "):", file=file or sys.stdout)
        print(sub.to_string(index=False), file=file or sys.stdout)
        if any("(" in x for c in sub.columns[1:] for x in sub[c]):
            print(f"(in brackets): on at least half the runs, {UNRESOLVED_NOTE}", file=file or sys.stdout)


#: printed (and shown in the report) after a benchmark of one split
OWN_SPLIT_NOTE = ("one split, the data's own (--split-key or --test): a difference between models smaller than the "
                  "spread over splits is noise; random stratified splits (--splits 3, without --split-key or --test) "
                  "measure that spread")
ONE_SPLIT_NOTE = ("one split: a difference between models smaller than the spread over splits is noise; "
                  "--splits 3 measures that spread")
#: printed after a benchmark of one synthetic draw per trained model
ONE_DRAW_NOTE = ("one synthetic draw per trained model: a difference between models smaller than the spread between "
                 "draws is noise; --draws 4 scores four draws of each, averages them and reports that spread "
                 "(<indicator>_draw_sd in leaderboard.csv)")
#: printed (and shown in the report) when the data has one class: a classifier has nothing to tell apart
ONE_CLASS_NOTE = ("one class: train-on-synthetic / train-on-real accuracies are 1 by construction and say nothing; "
                  "judge the models by the fidelity and privacy indicators")


# what a benchmark writes inside its --out folder (an input there would be replaced)
_BENCH_WRITES = ("bench.json", "split.json", "leaderboard.csv", "leaderboard.json", "report.html", "runs", "plots",
                 "results", "recon")


def _run(args: argparse.Namespace, data, label_key: str, data_name: str | None = None,
         inputs: tuple[str, ...] = ()) -> int:
    from .._io import claim_output

    read = [data if isinstance(data, str) else None, getattr(args, "full", None), *inputs]
    with claim_output(args.out, inputs=read, kind="dir", writes=_BENCH_WRITES):
        return _benchmark(args, data, label_key, data_name)


def _bench_labels(out: Path) -> list:
    """The classes a benchmark ran on, from its settings record (empty when it cannot be read)."""
    import json

    try:
        return list(json.loads((out / "bench.json").read_text()).get("labels") or [])
    except (OSError, ValueError, AttributeError, TypeError):   # unreadable, or edited into another shape
        return []


def _copies_note(data, label_key: str, split_key: str | None) -> str:
    """What the splits do with copies of one profile (:mod:`rnagen.pp.copies`): the random splits keep them on one
    side (said with their number), the data's own split is warned of where it holds them on both sides
    (:func:`rnagen.cli.data._split_copies_note`); ``""`` without copies."""
    from ..bench.runner import _load_data
    from ..pp import copy_groups, split
    from .data import _split_copies_note

    try:
        adata = _load_data(data, label_key)
        if split_key is not None:
            train, test = split(adata, label_key=label_key, by=split_key)
            return _split_copies_note(train, test).removeprefix("; ")
    except (DataError, ConfigError, OSError):
        return ""   # the benchmark's own checks say what is wrong, in their order
    n = copy_groups(adata).n_copies
    return (f"{n} cop{'ies' if n > 1 else 'y'} of profiles in the data (rnagen data info names them): kept on their "
            "profile's side of every split") if n else ""


def _benchmark(args: argparse.Namespace, data, label_key: str, data_name: str | None) -> int:
    from ..bench import run_benchmark

    if note := _copies_note(data, label_key, getattr(args, "split_key", None)):
        print(note)

    board = run_benchmark(
        data, label_key=label_key, models=args.models, reconstruct=getattr(args, "reconstruct", None),
        full=getattr(args, "full", None), seeds=args.seeds, splits=args.splits, draws=args.draws,
        budget=args.budget,
        out_dir=args.out,
        test_size=0.2 if args.test_size is None else args.test_size, seed=args.seed, progress=not args.quiet,
        overrides=_parse_sets(args.set),
        split_key=getattr(args, "split_key", None),
        device=args.device, report=True, data_name=data_name,
        metrics=[m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics is not None else None,
        privacy_budgets=getattr(args, "privacy_budgets", None),
    )
    out = Path(args.out)
    print_leaderboard(board)
    if args.splits == 1:
        print(f"\n{ONE_SPLIT_NOTE if getattr(args, 'split_key', None) is None else OWN_SPLIT_NOTE}")
    if args.draws == 1:
        print(f"\n{ONE_DRAW_NOTE}")
    if len(_bench_labels(out)) == 1:
        print(f"\n{ONE_CLASS_NOTE}")
    print(f"\nleaderboard: {out / 'leaderboard.csv'} (and leaderboard.json)")
    print(f"report:      {(out / 'report.html').resolve()}")
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    """``rnagen benchmark DATA``: every requested model on DATA into ``--out``; returns the exit status."""
    if args.split_key is not None and args.test_size is not None:
        raise DataError("--test-size sets the random split and --split-key takes the data's own; remove one")
    from ._common import label_key_or_recorded

    label_key = label_key_or_recorded(args.label_key, args.data)
    if getattr(args, "test", None) is None:
        return _run(args, args.data, label_key)
    for given, what in ((args.split_key is not None, "--split-key"), (args.test_size is not None, "--test-size"),
                        (args.splits != 1, "--splits")):
        if given:
            raise DataError(f"--test gives the held-out profiles, one split, and {what} asks for another split; "
                            f"remove one")
    from ..bench import TEST_FILE_COLUMN, join_test_file

    data, note = join_test_file(args.data, args.test, label_key)
    if note:
        print(note)
    args.split_key = TEST_FILE_COLUMN
    return _run(args, data, label_key, data_name=f"{Path(args.data).name} + {Path(args.test).name} (--test)",
                inputs=(args.test,))


def cmd_demo(args: argparse.Namespace) -> int:
    """``rnagen demo``: the benchmark on the bundled GTEx subset (``gtex26``); returns the exit status."""
    from ..bench import parse_models
    from ..datasets import gtex26
    from ..models import available_models

    if args.models is not None:
        args.models = parse_models(args.models)
    else:
        have = set(available_models())
        from ..bench import DEFAULT_MODELS, ROWS

        args.models = [m for m in DEFAULT_MODELS if ROWS[m][0] in have]
        skipped = [m for m in DEFAULT_MODELS if m not in args.models]
        if skipped:
            print(f"rnagen demo: models not available in this installation, skipped: {', '.join(skipped)}",
                  file=sys.stderr)
    print(f"rnagen demo: benchmark of {', '.join(args.models)} on the bundled GTEx subset "
          f"(520 samples x 467 genes, 26 tissues), budget {args.budget}, into {args.out}", file=sys.stderr)
    return _run(args, gtex26(), "tissue", data_name="bundled GTEx subset (gtex26)")


def cmd_report(args: argparse.Namespace) -> int:
    """``rnagen report FOLDER``: write the HTML report of a benchmark folder again (after an upgrade of rnagen, an
    interrupted run, or to another file or title); returns the exit status."""
    from .._io import claim_output
    from ..errors import OutputError, RunDirError
    from ..report import write_report
    from ..utils import as_path

    folder = as_path(args.folder, "FOLDER", error=ConfigError)
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise RunDirError(f"{folder} {what}; give the folder `rnagen benchmark --out` (or `rnagen demo --out`) wrote")
    dest = folder / "report.html" if args.out is None else args.out
    if not Path(dest).is_dir() and not str(dest).lower().endswith((".html", ".htm")):   # a browser reads the ending
        raise OutputError(f"--out {dest}: this command writes an HTML page; name it with .html (e.g. report.html)")
    inputs = [folder / n for n in ("leaderboard.json", "leaderboard.csv", "bench.json", "split.json")]
    with claim_output(dest, kind="file", inputs=inputs, option="--out", example="report.html",
                      results={".html": ("rnagen",), ".htm": ("rnagen",)}) as out:
        path = write_report(folder, path=out, title=args.title)
    print(f"report: {Path(path).resolve()}")
    return 0


def _common(p: argparse.ArgumentParser, *, budget_default: str = "fast") -> None:
    p.add_argument("--seeds", type=T.integer(">= 1"), default=1,
                   help="independent trainings per model and split (default 1); the leaderboard reports the mean "
                        "and the spread across runs")
    p.add_argument("--splits", type=T.integer(">= 1"), default=1,
                   help="stratified splits (seeds SEED, SEED+1, ...), every model trained on each and the real "
                        "ceiling and Gaussian floor measured on each; the leaderboard reports the mean and the "
                        "spread over them (default 1: one draw of the held-out profiles)")
    p.add_argument("--draws", type=T.integer(">= 1"), default=1,
                   help="synthetic sets drawn from each trained model and scored (default 1); each row's indicators "
                        "are their mean, and the leaderboard gives their spread (<indicator>_draw_sd): the noise "
                        "of one draw, at the cost of sampling and scoring only")
    # the names of rnagen.bench.budgets.BUDGETS, written out: importing rnagen.bench loads the runner
    p.add_argument("--budget", choices=("fast", "standard", "paper", "paper-tcga"), default=budget_default,
                   help="compute budget: fast (CPU minutes), standard (model defaults), paper (the paper's "
                        "settings from its GTEx search, for a GPU), paper-tcga (the same from its TCGA search); "
                        f"default {budget_default}")
    p.add_argument("--test-size", type=T.fraction_open, default=None,
                   help="held-out share of the stratified split (default 0.2)")
    p.add_argument("--seed", type=T.seed, default=0,
                   help="seed of the (first) split and of the first training (default 0)")
    p.add_argument("--set", action="append", default=[], metavar="MODEL:KEY=VALUE",
                   help="override one setting of one model after the budget, e.g. diffusion:train.steps=200 "
                        "(repeatable; ddpm/ddim/dpm++ mean diffusion)")
    p.add_argument("--metrics", default=None, metavar="NAMES",
                   help="comma-separated quality indicators or families to compute (default: all; see `rnagen "
                        "evaluate`)")
    p.add_argument("--device", type=T.device, default="auto",
                   help="auto (CUDA when available), cpu or cuda (default auto)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def register(sub) -> None:
    """Add the ``benchmark``, ``demo`` and ``report`` sub-commands."""
    p = sub.add_parser(
        "benchmark", help="benchmark generators on labelled data: leaderboard + HTML report",
        description="Split DATA (stratified, seeded), train each model, sample a synthetic set matching the "
                    "training label counts, score it with every quality indicator against the held-out real "
                    "profiles, and write OUT/leaderboard.csv, OUT/leaderboard.json and OUT/report.html. Rerun "
                    "with the same --out to resume: finished models are not redone.",
    )
    p.add_argument("data", metavar="DATA", help="labelled expression data the data layer reads (.h5ad, CSV with a "
                   "label column, TSV, GCT, parquet, Feather, a workbook, an R .rds/.RData); labels in another file, "
                   "raw counts to normalise or per-sample files: rnagen data prepare them first; or 'gtex26' for the "
                   "bundled GTEx subset")
    p.add_argument("--label-key", default=None,
                   help="column holding the class (e.g. tissue, cancer type); default: the one DATA records (rnagen "
                        "data prepare --label-key)")
    p.add_argument("--models", default="ddpm,ddim,dpm++,vae,wgan-gp,gaussian",
                   help="comma-separated benchmark rows from ddpm, ddim, dpm++ (samplers of one trained diffusion "
                        "model), vae, wgan-gp, gaussian (default: all); the real-data row (ceiling) and the "
                        "gaussian row (floor of the share of the gap closed) are always added")
    p.add_argument("--reconstruct", default=None, metavar="METHODS",
                   help="also complete each synthetic set to full profiles with these reconstruction methods "
                        "(linear, mlp; comma-separated) and score them; needs --full")
    p.add_argument("--full", default=None, metavar="FULL",
                   help="full profiles of the same samples (all genes), for --reconstruct")
    p.add_argument("--out", required=True, help="output folder (created; rerun to resume)")
    p.add_argument("--split-key", default=None, metavar="COLUMN",
                   help="the data's own split instead of a random one: the sample column saying train or test "
                        "(training/testing, holdout or validation read as test), e.g. a published set's split; "
                        "one split")
    p.add_argument("--test", default=None, metavar="FILE",
                   help="the held-out profiles in a file of their own (a published split: DATA the training "
                        "profiles, with the same genes and label column); one split")
    p.add_argument("--privacy-budgets", default=None, metavar="EPSILONS",
                   help="also train differentially private diffusion, vae, wgan-gp and gaussian rows at these epsilons "
                        "(comma-separated, e.g. 1,4,10; rows diffusion-dp-eps1, ...; needs rnagen[privacy])")
    _common(p)
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser(
        "demo", help="benchmark every model on the bundled GTEx data (minutes on a CPU)",
        description="The benchmark of every available model on the bundled GTEx subset (520 samples x 467 "
                    "genes, 26 tissues) with the fast budget: under 10 minutes on 2 CPU cores. Prints the "
                    "leaderboard and the path of the HTML report.",
    )
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out; rerun to resume)")
    p.add_argument("--models", default=None, help="comma-separated benchmark rows (default: every available one)")
    _common(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "report", help="write the HTML report of a benchmark folder again",
        description="Write FOLDER/report.html (or --out) from the leaderboard and plot data that `rnagen benchmark "
                    "--out FOLDER` or `rnagen demo --out FOLDER` wrote: after an upgrade of rnagen, a run stopped "
                    "before its report, or for another file or title. Nothing else in FOLDER is changed.",
    )
    p.add_argument("folder", metavar="FOLDER", help="a benchmark's output folder (holds leaderboard.json)")
    p.add_argument("--out", default=None, help="the report's path (default FOLDER/report.html)")
    p.add_argument("--title", default=None, help="the page title (default names the data and the label column)")
    p.set_defaults(func=cmd_report)
