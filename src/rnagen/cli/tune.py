"""``rnagen tune``: hyperparameter search with Optuna; the best configuration is written as TOML for
``rnagen train --config``."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ..errors import OutputError
from . import _types as T

EPILOG = """\
examples:
  rnagen tune data.h5ad --model diffusion --label-key tissue --trials 50 --out best.toml
  # several workers (any machines) sharing one study in PostgreSQL; run the same line on each:
  rnagen tune data.h5ad --model diffusion --label-key tissue --trials 25 \\
      --storage postgresql://rnagen@dbhost:5432/rnagen --study gtex-diffusion --out best.toml
  rnagen train data.h5ad --model diffusion --config best.toml --label-key tissue --out runs/best
"""


def register(sub) -> None:
    """Add the ``tune`` sub-command."""
    from ..tune.objective import OBJECTIVES
    from ..tune.spaces import BUDGETS

    p = sub.add_parser(
        "tune",
        help="search a model's hyperparameters with Optuna (SQLite or shared PostgreSQL study)",
        description="Search the hyperparameters of one model on a validation split of DATA with Optuna and "
                    "write the best configuration as a TOML file that `rnagen train --config` accepts. "
                    "Several workers given the same --storage and --study share the trials.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", metavar="DATA", help="training data (.h5ad or any format `rnagen data` reads)")
    p.add_argument("--model", required=True, help="model to tune (see `rnagen list models`)")
    p.add_argument("--label-key", default=None,
                   help="column holding the class to condition on; default: the one DATA records (rnagen data prepare "
                        "--label-key)")
    p.add_argument("--trials", type=T.integer(">= 1"), default=20, help="trials this worker runs (default 20)")
    p.add_argument("--storage", default=None,
                   help="Optuna storage URL: sqlite:///FILE.db (default: STUDY.db next to --out) or "
                        "postgresql://USER@HOST:PORT/DB to share the study between workers")
    p.add_argument("--study", default=None, help="study name to create or join (default rnagen-MODEL)")
    p.add_argument("--budget", default="standard", choices=list(BUDGETS),
                   help="training steps per trial and pruning rungs: fast (CPU minutes), standard, paper "
                        "(default standard)")
    p.add_argument("--objective", default="default", choices=list(OBJECTIVES),
                   help="what to maximise on the validation split: default = min(density, 1) + (1 - |AA_truth - "
                        "0.5| - |AA_syn - 0.5|) + TSTR accuracy (each in [0, 1]), or one of them alone")
    p.add_argument("--seed", type=T.seed, default=0, help="seed of the validation split and of each trial's "
                                                       "training and sampling (default 0)")
    p.add_argument("--sampler-seed", type=T.seed, default=None,
                   help="seed of the TPE sampler (default: random, what independent workers want)")
    p.add_argument("--val-size", type=T.fraction_open, default=0.2, help="share of each class held out (default 0.2)")
    p.add_argument("--device", type=T.device, default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--timeout", type=T.number("> 0"), default=None, help="stop starting trials after this many seconds")
    p.add_argument("--out", required=True, metavar="BEST.toml",
                   help="where to write the best configuration found in the study (all workers)")
    p.add_argument("--quiet", action="store_true", help="no line per trial")
    p.set_defaults(func=run)


def _no_interrupt_trace(record: logging.LogRecord) -> bool:
    """Drop optuna's "trial failed" warning and traceback for an interrupt (Ctrl-C, SIGTERM) or an rnagen error (bad
    data or settings, which stop the study): the command ends with its own one line."""
    from ..errors import RnagenError

    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None:
        return isinstance(exc, Exception) and not isinstance(exc, RnagenError)
    return "failed with value None" not in record.getMessage()   # the same failure's second line


def _check_config_out(out: Path) -> None:
    """``--out`` names a TOML file that only an earlier ``rnagen tune`` may have written: a configuration naming a
    generator, and not the configuration of a run or reconstructor folder (whose weights it describes)."""
    from .._manifest import MANIFEST, folder_kind
    from ..config import read_toml
    from ..errors import RnagenError

    if out.suffix.lower() != ".toml":
        raise OutputError(f"--out {out}: the best configuration is written as TOML; give a .toml path "
                          f"(e.g. {out.with_suffix('.toml').name})")
    if not out.exists():
        return
    kind, _ = folder_kind(out.parent)
    if out.name == "config.toml" and kind in ("run", "reconstructor") and (
            (out.parent / MANIFEST).exists() or (out.parent / "weights.safetensors").exists()):
        raise OutputError(f"--out {out} is the configuration of the trained {kind} in {out.parent}; write the best "
                          "configuration to another file (e.g. best.toml)")
    try:
        model = read_toml(out).get("model")
    except (RnagenError, OSError, UnicodeError):
        model = None
    if model is None or model == "reconstruct":
        raise OutputError(f"--out {out} exists and is not a configuration rnagen tune wrote (no generator named in "
                          "it); it would be replaced: choose another path, or delete it first")


def run(args: argparse.Namespace) -> int:
    """``rnagen tune``: run this worker's trials of the study and write the study's best configuration to ``--out``."""
    import optuna

    from .._io import check_output
    from ..tune import tune

    study_name = args.study or f"rnagen-{args.model}"
    storage = args.storage
    # the study's own SQLite file is an input too: --out over it would replace every trial with the TOML
    db_file = (Path(args.out).parent / f"{study_name}.db" if storage is None else
               Path(storage[len("sqlite:///"):]) if storage.startswith("sqlite:///") else None)
    if db_file is not None and (os.path.realpath(db_file) == os.path.realpath(args.out) or (
            db_file.exists() and Path(args.out).exists() and os.path.samefile(db_file, args.out))):
        raise OutputError(f"--out {args.out} is the study's database; write the best configuration to another file "
                          "(e.g. best.toml)")
    # no write lock: several workers may share one --out (the last to finish writes the study's best)
    out = check_output(args.out, inputs=[args.data], example="best.toml")
    _check_config_out(out)
    from ._common import label_key_or_recorded

    args.label_key = label_key_or_recorded(args.label_key, args.data)
    if storage is None:  # its folder is created by tune() once every option and the data are checked
        check_output(out.parent / f"{study_name}.db", inputs=[args.data], option="study database")
        storage = f"sqlite:///{(out.parent / f'{study_name}.db').resolve()}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for handler in logging.getLogger("optuna").handlers:
        handler.addFilter(_no_interrupt_trace)

    def report(study, trial) -> None:
        if args.quiet:
            return
        if trial.state == optuna.trial.TrialState.COMPLETE:
            # the default objective's terms: density (counted up to 1), the AA_ts score read on its halves, TSTR
            parts = ", ".join(f"{k}={trial.user_attrs[k]:.3f}" for k in ("density", "aa_score", "tstr")
                              if k in trial.user_attrs)
            if "aa_ts" in trial.user_attrs:
                parts += f"; AA_ts {trial.user_attrs['aa_ts']:.3f}"
            print(f"trial {trial.number}: {trial.value:.4f} ({parts}) {trained(trial)}", flush=True)
        else:
            print(f"trial {trial.number}: {trial.state.name.lower()} {trained(trial)}", flush=True)

    def trained(trial) -> dict:
        # the configuration the trial trained: a space's own train.steps is capped by the budget, so the
        # suggested parameters can differ from it
        return trial.user_attrs.get("overrides", trial.params)

    study = tune(args.data, model=args.model, label_key=args.label_key, trials=args.trials, storage=storage,
                 study_name=study_name, budget=args.budget, objective=args.objective, seed=args.seed,
                 sampler_seed=args.sampler_seed, val_size=args.val_size, device=args.device,
                 timeout=args.timeout, out=out, callbacks=[report])
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    best = max((t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"), key=lambda t: t.value)
    # trials stopped (Ctrl-C, SIGTERM, an error) and those another worker runs, or ran until it was killed, said too
    others = "".join(f", {states.count(s)} {word}" for s, word in (("FAIL", "failed"), ("RUNNING", "running"),
                                                                    ("WAITING", "waiting")) if s in states)
    print(f"study {study_name!r}: {len(states)} trials ({states.count('COMPLETE')} complete, "
          f"{states.count('PRUNED')} pruned{others}); best trial {best.number}: {best.value:.4f}")
    print(f"wrote {out} (train it with: rnagen train {args.data} --model {args.model} --config {out} "
          f"--label-key {args.label_key} --out RUN_DIR)")
    return 0
