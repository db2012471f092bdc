"""``rnagen reconstruct fit|apply|score``: the same calls as :mod:`rnagen.reconstruct`."""
from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from . import _types as T
from ._common import read_input


def _preview(names, k: int = 6) -> str:
    names = list(names)
    return ", ".join(map(str, names[:k])) + (f", ... ({len(names) - k} more)" if len(names) > k else "")


def _check_flags_and_sets(args: argparse.Namespace) -> None:
    """``--method``, ``--seed`` and ``--val-size`` are the configuration's ``method``, ``seed`` and ``val_size``:
    each may be given either way (a flag left out leaves the ``--set`` value, or the default), not both."""
    from ..config import parse_override
    from ..errors import ConfigError

    for item in args.set:
        key = ".".join(parse_override(item)[0])
        flag = "--" + key.replace("_", "-")
        if key in ("method", "seed", "val_size") and getattr(args, key) is not None:
            raise ConfigError(f"{flag} {getattr(args, key)} and --set {item} both set {key}; give it once")


def cmd_fit(args: argparse.Namespace) -> int:
    """``rnagen reconstruct fit``: learn full profiles from the input genes and save the folder ``--out``."""
    from .._io import check_output
    from ..reconstruct import fit
    from ..reconstruct.model import FOLDER_FILES, check_folder

    inputs = [args.full] + ([args.inputs] if args.inputs != "landmarks" else [])
    _check_flags_and_sets(args)
    check_output(args.out, inputs=inputs, kind="dir", writes=FOLDER_FILES)
    check_folder(args.out)   # before the fit: a fitted folder is never replaced
    adata = read_input(args.full, label_key=args.label_key)
    rec = fit(adata, inputs=args.inputs, method=args.method, seed=args.seed, val_size=args.val_size,
              label_key=args.label_key, overrides=args.set or None, device=args.device, progress=not args.quiet)
    rec.save(args.out)
    m = rec.meta
    inp = m["inputs"]
    if inp["selection"] == "landmarks" and inp["missing"]:
        print(f"using {inp['n_inputs']} of the 978 landmarks ({len(inp['missing'])} not in the data: "
              f"{_preview(inp['missing'])})")
    f = m["fit"]
    if rec.method == "linear":
        how = f"ridge penalty alpha={f['alpha']:g}" if f["alpha"] != "per gene" else "ridge penalty chosen per gene"
        if f["val_r2_mean"] is not None:
            how += f" (validation mean R² {f['val_r2_mean']:.3f} on {m['n_val']} samples)"
    else:
        how = f"best epoch {f['best_epoch']} of {f['epochs']}, validation MSE {f['best_val_mse']:.4f} (z-scores)"
    print(f"fitted {rec.method} reconstruction: {m['n_inputs']} input genes -> {m['n_targets']} target genes on "
          f"{m['n_train']} samples in {m['seconds']['preprocess'] + m['seconds']['fit']:.1f} s; {how} -> {args.out}")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    """``rnagen reconstruct apply``: complete input-gene profiles to the full gene set and write ``--out``."""
    from .._io import PROFILES, claim_output, output_ending, write_profiles
    from ..reconstruct import load
    from ..reconstruct.model import FOLDER_FILES

    with claim_output(args.out, inputs=[args.data, *(Path(args.recon_dir) / f for f in FOLDER_FILES)],
                      profiles="generated"):
        output_ending(args.out, *PROFILES)   # a name of another format refused before any work
        rec = load(args.recon_dir, device=args.device)
        syn = read_input(args.data)
        full = rec.apply(syn)
        write_profiles(full, args.out)
    from ..pp import get_history

    step = get_history(full)[-1]
    if note := step.get("input_log"):   # the inputs' log converted to the fit's base
        print(f"note: {note}")
    if n := step.get("replaced_targets"):
        shown = _preview(step["replaced_examples"], 5)
        print(f"note: {n} genes of {args.data} that the reconstructor predicts ({shown}{', ...' if n > 5 else ''}) "
              f"hold its predictions in {args.out}, not the values given")
    if n := step.get("left_out_genes"):
        shown = _preview(step["left_out_examples"], 5)
        print(f"note: {n} genes of {args.data} that the reconstructor was not fitted on ({shown}"
              f"{', ...' if n > 5 else ''}) are left out of {args.out}")
    print(f"reconstructed {full.n_obs} profiles: {len(rec.input_idx)} input genes kept + {len(rec.target_idx)} "
          f"predicted = {full.n_vars} genes -> {args.out}")
    return 0


def format_scores(res: dict) -> str:
    """A readable summary of :meth:`rnagen.reconstruct.Reconstructor.score`."""
    absent = res.get("targets_missing") or []
    lines = [f"{res['method']} reconstruction scored on {res['n_samples']} samples: {res['n_inputs']} inputs -> "
             f"{res['n_targets_scored']} target genes" + (f" ({res['n_targets_missing']} targets absent"
                                                          + (f": {_preview(absent)}" if absent else "") + ")"
                                                          if res["n_targets_missing"] else "")
             + f"; values on scale {res['scale']}"]
    lines.append(f"{'per gene':10s} {'median':>8s} {'q1':>8s} {'q3':>8s} {'mean':>8s}  undefined")
    for key, name in (("r2", "R²"), ("pearson", "Pearson r")):
        s = res[key]
        lines.append(f"{name:10s} {s['median']:8.4f} {s['q1']:8.4f} {s['q3']:8.4f} {s['mean']:8.4f}  "
                     f"{s['n_undefined']}")
    lines.append(f"overall    MSE {res['mse']:.4f}  MAE {res['mae']:.4f}  (z-score MSE {res['mse_z']:.4f})")
    return "\n".join(lines)


def cmd_score(args: argparse.Namespace) -> int:
    """``rnagen reconstruct score``: print R², Pearson r and errors on held-out real profiles (per gene in
    ``--out``)."""
    from .._io import claim_output, output_ending, write_json
    from ..reconstruct import load
    from ..reconstruct.model import FOLDER_FILES

    inputs = [args.test, *(Path(args.recon_dir) / f for f in FOLDER_FILES)]
    ours = {".json": ("method", "n_samples", "n_inputs")}   # the keys ReconstructionModel.score writes first
    with (claim_output(args.out, inputs=inputs, example="scores.json", results=ours) if args.out
          else contextlib.nullcontext()):
        if args.out:
            output_ending(args.out, (".json",), "the scores, per-gene values included, are written as JSON")
        rec = load(args.recon_dir, device=args.device)
        test = read_input(args.test)
        res = rec.score(test, per_gene=bool(args.out))
        print(format_scores(res))
        if "log_note" in res:
            print(f"note: {res['log_note']}")
        if "held_out_in_train" in res:
            print(f"note: {res['held_out_in_train']['note']}")
        if args.out:
            write_json(args.out, res)
            print(f"scores (with per-gene values) -> {args.out}")
    return 0


def register(sub) -> None:
    """Add the ``reconstruct {fit,apply,score}`` sub-commands."""
    p = sub.add_parser(
        "reconstruct", help="predict the full transcriptome from landmark (input) genes",
        description="Learn on real full profiles to predict every non-input gene from the input genes (ridge "
                    "or D-GEX MLP), apply it to synthetic input-gene profiles, and score it on held-out real data.",
    )
    rsub = p.add_subparsers(dest="reconstruct_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    f = rsub.add_parser(
        "fit", help="fit a reconstruction on real full profiles",
        description="Fit on FULL (any input the data layer reads: .h5ad, CSV/TSV, GCT, parquet, R .rds/.RData, "
                    "...) holding the input genes and every gene to predict. Values are log2(x+1)-transformed "
                    "unless already log-scale, then z-scored; the fitted transforms are stored in RECON_DIR and "
                    "inverted on apply.",
    )
    f.add_argument("full", metavar="FULL", help="real expression data with all genes (inputs and targets), or "
                   "'gtex26' for the bundled GTEx subset")
    f.add_argument("--inputs", default="landmarks",
                   help="input genes: 'landmarks' (the L1000 landmarks present) or a file with one gene ID per line "
                        "(symbols, Entrez or Ensembl IDs); default landmarks")
    f.add_argument("--method", choices=["linear", "mlp"], default=None,
                   help="linear: ridge least squares, penalty chosen on the validation split (closed form); "
                        "mlp: D-GEX MLP with early stopping (default linear)")
    f.add_argument("--label-key", default=None, help="sample label column; stratifies the validation split")
    f.add_argument("--val-size", type=T.share, default=None, help="fraction of samples held out for validation "
                   "(default 0.1)")
    f.add_argument("--seed", type=T.seed, default=None, help="seed of the validation split and the MLP (default 0)")
    f.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set mlp.hidden=[512] --set linear.per_gene_alpha=true "
                        "--set log=none (repeatable)")
    f.add_argument("--device", type=T.device, default="auto",
                   help="mlp: auto (CUDA when available), cpu or cuda (default auto)")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.add_argument("--out", required=True, help="reconstructor folder to write")
    f.set_defaults(func=cmd_fit)

    a = rsub.add_parser(
        "apply", help="reconstruct full profiles from input-gene profiles",
        description="Full profiles = the input genes of SYN unchanged plus the predicted genes, in the training "
                    "data's units and gene order; sample annotations are kept.",
    )
    a.add_argument("recon_dir", metavar="RECON_DIR", help="folder written by `rnagen reconstruct fit`")
    a.add_argument("data", metavar="SYN", help="profiles holding the input genes (e.g. synthetic landmarks)")
    a.add_argument("--device", type=T.device, default="auto", help="mlp: auto, cpu or cuda (default auto)")
    a.add_argument("--out", required=True,
                   help="full profiles to write: an .h5ad, or a table by its ending (.csv, .tsv, .txt, optionally "
                        ".gz, or .parquet: a row per profile, its id and annotations, then a column per gene, parquet "
                        "with the record in its metadata; or "
                        ".gct, optionally .gz: GCT, a line per gene and a column per profile, the annotations "
                        "column-metadata lines of GCT 1.3, the genes' symbols and reconstructed marks row-metadata "
                        "columns)")
    a.set_defaults(func=cmd_apply)

    s = rsub.add_parser(
        "score", help="score a reconstruction on held-out real full profiles",
        description="Per-gene R² and Pearson r (median, quartiles, mean) and overall MSE and MAE of the predicted "
                    "genes against the real ones, on the model's log scale.",
    )
    s.add_argument("recon_dir", metavar="RECON_DIR", help="folder written by `rnagen reconstruct fit`")
    s.add_argument("test", metavar="TEST_FULL", help="held-out real data with all genes")
    s.add_argument("--device", type=T.device, default="auto", help="mlp: auto, cpu or cuda (default auto)")
    s.add_argument("--out", default=None, help="JSON file for the scores, per-gene values included")
    s.set_defaults(func=cmd_score)
