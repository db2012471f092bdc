"""``rnagen train``, ``rnagen sample`` and ``rnagen list``: the same calls a Python user makes."""
from __future__ import annotations

import argparse
import time
import warnings

from . import _types as T
from ._common import label_key_or_recorded, read_input


def cmd_train(args: argparse.Namespace) -> int:
    """``rnagen train``: fit a registered model on DATA into the run folder ``--out`` (resumed when it holds a
    checkpoint of the same settings)."""
    from pathlib import Path

    from .._io import check_output
    from .._manifest import MANIFEST, RUN_FILES
    from ..errors import DataError, RunDirError
    from ..models import get_model
    from ..train.distributed import dist_info

    # --config is read in full before anything is written (a run's own config.toml may resume it)
    check_output(args.out, inputs=[args.data, args.labels], kind="dir", writes=(*RUN_FILES, MANIFEST))
    out = Path(args.out)
    bench = out.parent.parent
    if (out / "bench_fingerprint.txt").is_file() or (out.parent.name == "runs" and (bench / "bench.json").is_file()):
        # the benchmark trains its run folders with its own settings, and refuses one trained otherwise
        raise RunDirError(f"{out} is a run folder of the benchmark in {bench}, which trains it (rnagen benchmark "
                          f"... --out {bench}); train into a new --out")

    name = args.model
    if name is None:  # the model named in --config (e.g. a `rnagen tune` result), else diffusion
        from ..config import read_toml

        name = read_toml(args.config).get("model", "diffusion") if args.config else "diffusion"
    cls = get_model(name)
    # a private run takes the private settings (rnagen.models.PRIVATE_SETTINGS) that --config and --set leave unset
    model = cls.from_config(args.config, args.set)
    if args.label_key is None and args.labels is not None:
        raise DataError("--labels needs --label-key, the label file's column holding the classes")
    args.label_key = label_key_or_recorded(args.label_key, args.data)
    adata = read_input(args.data, label_key=args.label_key, labels=args.labels)
    info = dist_info()
    if info.is_main and model.private_settings_applied:
        from ..models._private import describe_private_defaults

        print(describe_private_defaults(model.private_settings_applied))
    started = time.perf_counter()
    with warnings.catch_warnings():   # said in the summary line below, not as a Python warning
        warnings.filterwarnings("ignore", message="classes that differ only in case", category=UserWarning)
        model.fit(adata, label_key=args.label_key, seed=args.seed, device=args.device, run_dir=args.out,
                  progress=not args.quiet, resume=not args.no_resume)
    wall = time.perf_counter() - started
    if info.is_main:
        from .data import _near_duplicate_labels

        # the training loop's own seconds (across a resume too); the fit's also hold the guidance choice, the floor
        # comparison and the saving, said where they add a second or more
        whole = f" ({wall:.1f} s in all, with the choices after training)" if wall > model.train_seconds + 1 else ""
        print(f"trained {cls.name} on {adata.n_obs} samples x {adata.n_vars} genes, {model.n_labels} "
              f"label{'s' if model.n_labels != 1 else ''} in {model.train_seconds:.1f} s{whole} -> {args.out}"
              + _near_duplicate_labels(adata.obs[args.label_key]))
        if model.validation:
            from ..train.validation import describe, describe_floor

            print(describe(model.validation))
            if floor := describe_floor(model.validation):
                print(floor)
        note = model.sampling_note()
        if note:
            print(note)
        if model.privacy:
            from ..train.privacy import describe_privacy

            print(describe_privacy(model.privacy))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """``rnagen sample``: load a run folder and write a synthetic ``.h5ad`` with the requested label counts."""
    from pathlib import Path

    from .._io import PROFILES, claim_output, output_ending, write_profiles
    from .._manifest import MANIFEST, RUN_FILES
    from ..errors import ConfigError
    from ..models import load

    run_files = [Path(args.run_dir) / f for f in (*RUN_FILES, MANIFEST)]
    with claim_output(args.out, inputs=[args.like, *run_files], profiles="generated"):
        table = output_ending(args.out, *PROFILES) != ".h5ad"   # another format's name refused before any work
        model = load(args.run_dir, device=args.device)
        options = {}
        for key in ("sampler", "steps", "eta", "guidance", "autoguidance", "autoguidance_from", "autoguidance_to"):
            value = getattr(args, key)
            if value is not None:
                options[key] = value
        if options and model.name != "diffusion":
            # the Python API's option names are no flags of this command: the flags given are what to drop
            given = ", ".join("--" + k.replace("_", "-") for k in options)
            raise ConfigError(f"{given} set{'s' if len(options) == 1 else ''} the diffusion model's sampling; "
                              f"{args.run_dir} holds a {model.name} model: drop {given}")
        syn = model.sample(args.n, n_per_label=args.n_per_label, like=args.like, seed=args.seed,
                           batch_size=args.batch_size, progress=not args.quiet, round_values=args.round, **options)
        write_profiles(syn, args.out)
    counts = syn.obs[model.label_key].value_counts()
    n_lab = int((counts > 0).sum())
    print(f"sampled {syn.n_obs} profiles x {syn.n_vars} genes ({n_lab} label{'s' if n_lab != 1 else ''}) "
          f"-> {args.out}")
    far = syn.uns["rnagen"]["synthetic"].get("far_values")
    if far:
        print(f"note: {far['share']:.2%} of the values lie more than {far['threshold_sd']:.0f} training standard "
              f"deviations from their gene's mean (up to {far['max_sd']:.3g}), where no training profile reaches: the "
              "model looks diverged; train it again with a lower learning rate")
    if model.privacy:
        where = ("not in the table: keep it with the file, or write an .h5ad" if table else
                 "adata.uns['rnagen']['privacy']")
        from ..train.privacy import epsilon_text

        print(f"differentially private model: epsilon {epsilon_text(model.privacy['epsilon'])}, delta "
              f"{model.privacy['delta']:.3g} ({where})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``rnagen list models``: each registered model with its docstring's first paragraph on one line (a first
    line alone can end mid-sentence)."""
    from ..models import available_models, get_model

    for name in available_models():
        para = " ".join((get_model(name).__doc__ or "").strip().split("\n\n")[0].split())
        print(f"{name:10s} {para}")
    return 0


def register(sub) -> None:
    """Add the ``train``, ``sample`` and ``list`` sub-commands."""
    p = sub.add_parser(
        "train", help="train a generator on labelled expression data",
        description="Train a conditional generator. DATA is any input the data layer reads (.h5ad, CSV/TSV, "
                    "GCT, parquet, Feather, a workbook, an R .rds/.RData). The run folder gets the resolved config, "
                    "weights, gene names, fitted transforms, version and training log; an interrupted run resumes "
                    "from its checkpoint. A private run (--set privacy.epsilon=E) of the diffusion model, the VAE "
                    "or the WGAN-GP takes the settings measured for DP-SGD (a fixed length, a smaller network; "
                    "rnagen.models.PRIVATE_SETTINGS) for every key --config and --set leave unset, and says which. "
                    "Several processes: torchrun --nproc_per_node=N -m rnagen train ...",
    )
    p.add_argument("data", metavar="DATA",
                   help="expression data with a label column, or 'gtex26' for the bundled GTEx subset")
    p.add_argument("--model", default=None,
                   help="registered model name (see `rnagen list models`); default: the model named in --config, "
                        "else diffusion")
    p.add_argument("--label-key", default=None,
                   help="column holding the class (e.g. tissue, cancer type); default: the one DATA records (rnagen "
                        "data prepare --label-key)")
    p.add_argument("--labels", default=None,
                   help="separate annotation file with the labels (any label file `rnagen data prepare` reads)")
    p.add_argument("--out", required=True, help="run folder to write (created; resumed if it holds a checkpoint)")
    p.add_argument("--config", default=None, help="TOML file overriding the model's defaults (e.g. from `rnagen tune`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set train.steps=500 --set network.width=256 (repeatable)")
    p.add_argument("--seed", type=T.seed, default=0, help="random seed (default 0)")
    p.add_argument("--device", type=T.device, default="auto",
                   help="auto (CUDA when available), cpu or cuda (default auto)")
    p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint in --out and start over")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "sample", help="generate synthetic profiles from a trained run folder",
        description="Generate profiles in the training data's original units, with the same var_names and the "
                    "label column. Say how many with exactly one of --n, --n-per-label or --like.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by `rnagen train`")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--n", type=T.integer(">= 1"), help="total profiles, split by the training label frequencies")
    how.add_argument("--n-per-label", type=T.integer(">= 1"), help="profiles per label")
    how.add_argument("--like", help="data whose label counts to match (e.g. the real test split: an .h5ad or any "
                                    "file the data layer reads), or a table of samples and their classes (a --labels "
                                    "file) with a column headed by the model's label column")
    p.add_argument("--sampler", choices=["ddim", "ddpm", "dpm++"], default=None,
                   help="diffusion sampler: ddim, ddpm or dpm++ (DPM-Solver++(2M), deterministic, fewer steps) "
                        "(default: the model's, dpm++)")
    p.add_argument("--steps", type=T.integer(">= 1"), default=None,
                   help="diffusion sampling steps S <= T (default: the model's, 20)")
    p.add_argument("--eta", type=T.number(">= 0"), default=None,
                   help="DDIM eta: 0 deterministic, 1 DDPM-like (default 0; ddpm runs with 1, dpm++ with 0)")
    p.add_argument("--guidance", type=T.number("[0, 100]"), default=None,
                   help="classifier-free guidance weight, 0 to 100 (Ho & Salimans 2022 use up to 4); default: the "
                        "weight chosen at training with the autoguidance weight on the held-out profiles (0, 0.25 or "
                        "0.5; 0 where nothing was held out)")
    p.add_argument("--autoguidance", type=T.number("[1, 10]"), default=None,
                   help="autoguidance weight, 1 to 10: the network's output pushed away from its guide's, the same "
                        "network earlier in its training (Karras et al. 2024); 1 = off (default: the weight the "
                        "held-out profiles chose at training; 1 where none were held out)")
    p.add_argument("--autoguidance-from", type=T.number("[0, 1)"), default=None, metavar="LO",
                   help="apply autoguidance only at the steps whose noise level (t + 1) / T is above LO (default 0: "
                        "every step up to --autoguidance-to); each step left out saves the guide's network call")
    p.add_argument("--autoguidance-to", type=T.number("(0, 1]"), default=None, metavar="HI",
                   help="apply autoguidance only at the steps whose noise level (t + 1) / T is at most HI (default 1)")
    p.add_argument("--seed", type=T.seed, default=0, help="random seed (default 0)")
    p.add_argument("--batch-size", type=T.integer(">= 1"), default=None,
                   help="profiles per batch (default 4096); the diffusion model, the VAE and a WGAN-GP with output "
                        "noise draw their noise batch by batch, so their profiles are reproduced by the same --seed "
                        "and --batch-size (and device)")
    p.add_argument("--round", action="store_true",
                   help="whole-number values, as read counts are (DESeq2 and edgeR take no others); for a model "
                        "trained on whole-number counts")
    p.add_argument("--device", type=T.device, default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True,
                   help="synthetic profiles to write: an .h5ad (with the model, seed and privacy record in uns), or "
                        "a table by its ending, .csv, .tsv or .txt (optionally .gz) or .parquet: a row per profile, "
                        "its id, label, then a column per gene (parquet keeps the record in its metadata); or .gct "
                        "(optionally .gz), GCT 1.3 as CMap's L1000 tools and GenePattern read it: a line per gene, a "
                        "column per profile, the label a column-metadata line, the genes' annotations row-metadata "
                        "columns")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("list", help="list registered models")
    p.add_argument("what", choices=["models"], help="what to list")
    p.set_defaults(func=cmd_list)
