"""``rnagen evaluate``: score a synthetic set against real data (every quality indicator, with 95% CIs and
real-vs-real references), print a table and write JSON.

Thin: reads the inputs (``--reference``: the membership-inference reference set), fits the floor (the
per-class Gaussian, ``--floor gaussian``: :mod:`rnagen.metrics` never fits a model), calls
:func:`rnagen.metrics.evaluate`, writes the result atomically.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path

from ..errors import DataError, RnagenError
from . import _types as T

#: fewer bootstrap resamples than this give rough intervals, which the output says
ROUGH_RESAMPLES = 10


def _read(path: str, label_key: str | None, *, synthetic: bool = False):
    """An input set; ``synthetic``: its repeated sample ids made unique (a generator's ids name no sample; the
    held-out and training sets' ids are kept as they are, the copies and the membership audit read them)."""
    from ..data.io import LABELS_HINT
    from ._common import read_input  # also accepts bundled data set names (gtex26)

    try:
        if synthetic:
            return read_input(path, label_key=label_key, unique_sample_ids=True)
        return read_input(path, label_key=label_key)
    except DataError as e:   # evaluate takes no --labels file: the labels are a column of every set
        text = str(e)
        if text.endswith(LABELS_HINT):
            raise DataError(text.removesuffix(LABELS_HINT) + "; pass --label-key naming the labels of every set "
                            "(a column, as rnagen sample writes it), or --label-key none to score without "
                            "labels") from None
        raise


def _label_key(args: argparse.Namespace) -> str | None:
    """``--label-key``, ``none`` for no labels, or by default the label column the held-out file records."""
    if args.label_key == "none":
        return None
    if args.label_key is not None:
        return args.label_key
    from ._common import recorded_label_key

    key = recorded_label_key(args.real)
    if key is not None:
        print(f"labels: {key!r} (the label column recorded in --real; --label-key none scores without labels)")
    return key


def _shared_label_column(sets) -> tuple[str | None, list[str]]:
    """The label column every input shares when none is recorded or given (tables written by ``rnagen sample
    --out x.csv`` keep their labels as a column, not as a record): the one text column of at most 200 classes
    that names fewer classes than profiles in every set. Returns it (or ``None``) and the candidates, several of
    which are named in a note instead of choosing one."""
    import pandas as pd

    def text(col) -> bool:
        return isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(col.dtype) \
            or pd.api.types.is_object_dtype(col.dtype)

    def columns(a) -> set[str]:
        return {str(c) for c in a.obs.columns if text(a.obs[c])
                if 1 <= a.obs[c].nunique() <= min(200, max(1, a.n_obs - 1))}

    shared = set.intersection(*(columns(a) for a in sets))
    shared -= {"file", "input_id", "sample_type"}   # what the readers add of a file's own, not labels
    found = sorted(shared)
    return (found[0] if len(found) == 1 else None), found


def _out_ending(path: str) -> str:
    """``.json`` (the whole record) or a table's ending (``.csv``, ``.tsv``: the metrics table's rows); another
    format's ending is refused (the JSON was written under any name)."""
    from .._io import output_ending

    return output_ending(path, (".json", ".csv", ".tsv"), "evaluate writes JSON (every indicator, its definition and "
                         "the notes) or the metrics table as .csv or .tsv")


def _renamed_ids_note(syn, what: str = "synthetic set") -> str | None:
    """The note of a synthetic set (or the floor's: ``what``) whose repeated sample ids were made unique on reading
    (the ``read`` step's ``n_sample_ids_made_unique``), else ``None``."""
    steps = list(((getattr(syn, "uns", {}).get("rnagen") or {}).get("history") or {}).values())
    n = next((int(st["n_sample_ids_made_unique"]) for st in reversed(steps)
              if isinstance(st, Mapping) and st.get("step") == "read" and "n_sample_ids_made_unique" in st), 0)
    if not n:
        return None
    return (f"the {what}'s sample ids repeat ({n} of its {syn.n_obs} repeat an earlier one): made unique "
            f"({', '.join(map(repr, list(syn.obs_names[:2])))}, ...), a synthetic profile's id naming no sample")


def _clean(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def _privacy_record(syn) -> dict | None:
    """The guarantee a synthetic set from a differentially private model carries (``rnagen sample`` writes it
    under ``uns['rnagen']['privacy']``): ε, δ, the accountant and what the preprocessing is to it; ``None`` for
    any other set."""
    rec = (getattr(syn, "uns", {}).get("rnagen") or {}).get("privacy") if hasattr(syn, "uns") else None
    if not isinstance(rec, Mapping) or "epsilon" not in rec:
        return None
    out: dict = {}
    for k in ("epsilon", "delta", "accountant", "preprocessing"):
        v = rec.get(k)
        if v is not None:
            v = v.item() if hasattr(v, "item") else v
            out[k] = float(v) if k in ("epsilon", "delta") else str(v)
    return out


def _floor(args: argparse.Namespace, train, syn, say):
    """The floor set: ``--floor gaussian`` (default with --train) fits the per-class Gaussian on the training
    profiles and samples it to the synthetic set's label mix (its size without --label-key); ``none``: no
    floor; anything else is a file of floor profiles. Returns (AnnData or None, description); ``say`` prints a
    note (synthetic classes the training set lacks, which the Gaussian floor has no profiles of)."""
    choice = args.floor if args.floor is not None else ("gaussian" if train is not None else "none")
    if choice == "none":
        return None, None
    if train is None:
        raise DataError(f"--floor {choice} needs --train: the gap is measured up to the real training profiles "
                        "(the ceiling); pass --train or --floor none")
    if choice != "gaussian":
        # profiles of a generator, as the synthetic set's: their repeated ids made unique, said in a note
        floor = _read(choice, args.label_key, synthetic=True)
        if (renamed := _renamed_ids_note(floor, "floor")) is not None:
            say(renamed)
        return floor, choice
    try:
        return _gaussian_floor(args, train, syn, say)
    except RnagenError as e:
        raise type(e)(f"--floor gaussian: {e}; or pass --floor none") from None


def _gaussian_floor(args: argparse.Namespace, train, syn, say):
    from ..models import get_model  # the CLI may fit a model; rnagen.metrics never does

    model = get_model("gaussian")()
    if args.label_key is None:
        # one class: the Gaussian of the whole training set
        fit_on = train.copy()
        fit_on.obs["_all"] = "all"
        model.fit(fit_on, label_key="_all", seed=args.seed, progress=False)
        return model.sample(syn.n_obs, seed=args.seed, progress=False), "gaussian (one class, no --label-key)"
    import numpy as np
    import pandas as pd

    from ..utils import label_text

    syn_y = np.asarray([label_text(v) for v in syn.obs[args.label_key].astype(str)])
    known = {label_text(v) for v in train.obs[args.label_key].astype(str)}
    extra = sorted(set(syn_y.tolist()) - known)
    like = syn
    if extra:
        # a class of the synthetic set alone (an extra class, or one named otherwise) has no training profiles for
        # the Gaussian to fit: the floor is fitted on the training classes and sampled to the label mix of the
        # synthetic profiles of those classes; the extra class's profiles are scored, beside a floor without them
        counts = pd.Series(syn_y).value_counts()
        shown = ", ".join(f"{x!r} ({counts[x]} profiles)" for x in extra[:4]) + (", ..." if len(extra) > 4 else "")
        keep = np.isin(syn_y, sorted(known))
        if not keep.any():
            raise DataError(f"none of the synthetic set's classes ({shown}) is a class of the training set (--train, "
                            f"classes {', '.join(map(repr, sorted(known)[:4]))}): the per-class Gaussian floor has "
                            "no class to sample; label the sets alike")
        like = syn[keep].copy()
        say(f"the synthetic class{'es' if len(extra) > 1 else ''} {shown} {'are' if len(extra) > 1 else 'is'} not "
            f"a class of the training set (--train): the per-class Gaussian floor, fitted on the training classes, "
            f"is sampled to the label mix of the other {int(keep.sum())} synthetic profiles, without "
            f"{'them' if len(extra) > 1 else 'it'}")
    model.fit(train, label_key=args.label_key, seed=args.seed, progress=False)
    return (model.sample(like=like, seed=args.seed, progress=False),
            "gaussian (per-class, fitted on --train, sampled to the synthetic label mix"
            + (f" of the training classes: {len(extra)} synthetic class(es) without training profiles left out)"
               if extra else ")"))


def _gene_sets(args: argparse.Namespace):
    """``--gene-sets FILE.gmt`` read (a bad file fails before any data is read), or ``None``."""
    if args.gene_sets is None:
        return None
    from ..metrics.biology import read_gmt

    return read_gmt(args.gene_sets)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``rnagen evaluate``: score ``--synthetic`` against ``--real``, print the table and write ``--out`` (when
    given)."""
    from .._io import claim_output
    from ..metrics._registry import select_metrics, unknown_metrics_message

    metrics = None
    if args.metrics is not None:
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
        if not metrics:
            raise DataError(f"--metrics {args.metrics!r} names no indicator; give indicator or family names separated "
                            "by commas (e.g. --metrics fidelity,privacy), or leave --metrics out for all")
        try:
            select_metrics(metrics)   # unknown names fail before any data is read
        except KeyError as e:
            raise DataError(unknown_metrics_message(e.args[0])) from None
    floor_file = args.floor if args.floor not in (None, "gaussian", "none") else None
    inputs = [args.real, args.synthetic, args.train, floor_file, args.gene_sets, args.reference]
    if args.out is None:
        return _evaluate(args, metrics, "")
    from ..metrics.evaluate import COLUMNS

    # what evaluate writes first: the record's keys (_evaluate's ``out``), the table's columns
    ours = {".json": ("inputs", "settings", "metrics"), ".csv": COLUMNS[:3], ".tsv": COLUMNS[:3]}
    with claim_output(args.out, inputs=inputs, example="metrics.json", results=ours):
        ending = _out_ending(args.out)   # a name of another format refused before any work
        return _evaluate(args, metrics, ending)


def _evaluate(args: argparse.Namespace, metrics: list[str] | None, ending: str) -> int:
    from .._io import write_json
    from ..metrics import METRICS, evaluate, format_table
    from ..metrics._table import overall_rows
    from ..metrics.biology import BiologyOptions
    from ..metrics.evaluate import check_label_sets, check_synthetic_is_not_held_out

    notes: list[str] = []

    def say(text: str) -> None:
        notes.append(text)
        print(f"note: {text}")

    gene_sets = _gene_sets(args)
    biology = BiologyOptions.from_strings(args.biology or [])
    recorded = args.label_key is None
    args.label_key = _label_key(args)
    real = _read(args.real, args.label_key)
    try:
        syn = _read(args.synthetic, args.label_key, synthetic=True)
        train = _read(args.train, args.label_key) if args.train else None
    except DataError as e:
        if not recorded or args.label_key is None or f"label column {args.label_key!r}" not in str(e):
            raise
        raise DataError(str(e).replace(f"label column {args.label_key!r}", f"label column {args.label_key!r} (the "
                                       "one recorded in --real)", 1)) from None
    if recorded and args.label_key is None:
        key, found = _shared_label_column([a for a in (real, syn, train) if a is not None])
        if key is not None:
            print(f"labels: {key!r} (the one label column every input has; --label-key none scores without "
                  "labels)")
            args.label_key = key
            real, syn = _read(args.real, key), _read(args.synthetic, key, synthetic=True)
            train = _read(args.train, key) if args.train else None
        elif found:
            say(f"no labels used: the inputs share the columns {', '.join(map(repr, found[:5]))}; "
                  "--label-key NAME scores per class, with TSTR and the per-class floor")
        else:
            own = {name: [str(c) for c in a.obs.columns if str(c) not in ("file", "input_id")]
                   for name, a in (("real", real), ("synthetic", syn), ("train", train)) if a is not None}
            if any(own.values()):
                cols = "; ".join(f"{n}: {', '.join(map(repr, c[:3])) or 'none'}" for n, c in own.items())
                say(f"no labels used: no label column is shared by the inputs ({cols}); the labelled "
                      "indicators (TSTR, biology, the per-class floor) are left out: --label-key NAME names the "
                      "column, the same in every input")
    if (renamed := _renamed_ids_note(syn)) is not None:
        say(renamed)
    mia_ref = _read(args.reference, None) if args.reference else None
    check_label_sets(real, syn, train, label_key=args.label_key)   # before the floor is fitted to their labels
    check_synthetic_is_not_held_out(real, syn)
    floor, floor_text = _floor(args, train, syn, say)
    if floor is not None and args.floor not in (None, "gaussian", "none"):
        # the held-out set as the floor would put the floor at the ceiling: every share meaningless
        check_synthetic_is_not_held_out(real, floor, what="floor", option="--floor")
    df = evaluate(real, syn, train=train, floor=floor, label_key=args.label_key, metrics=metrics,
                  n_boot=args.n_boot, n_boot_expensive=args.n_boot_expensive, k=args.k, seed=args.seed,
                  verbose=args.verbose, gene_sets=gene_sets, biology=biology, mia_reference=mia_ref,
                  mia_density=args.mia_density, mia_pca_dims=args.mia_pca_dims, fidelity_size=args.fidelity_size)
    print(format_table(df, per_class=args.per_class))
    private = _privacy_record(syn)
    if private is not None:
        from ..train.privacy import epsilon_text

        say(f"the synthetic set comes from a differentially private model: epsilon "
              f"{epsilon_text(private['epsilon'])}, delta {private.get('delta', math.nan):.3g}"
              + (f", preprocessing {private['preprocessing']}" if "preprocessing" in private else "")
              + " (its record: inputs.synthetic_privacy of --out)")
    if train is None:
        say("without --train there is no real-vs-real reference, floor, TRTR or privacy and membership "
              "indicator: a copy of the training profiles would score here as real data does; pass --train")
    if "held_out_in_train" in df.attrs:
        say(f"{df.attrs['held_out_in_train']['note']}")
    if "label_note" in df.attrs:
        say(f"{df.attrs['label_note']}")
    rough = [f"--{o.replace('_', '-')} {getattr(args, o)}" for o in ("n_boot", "n_boot_expensive")
             if getattr(args, o) < ROUGH_RESAMPLES]
    if rough:   # Student-t intervals (rnagen.metrics._bootstrap.bootstrap_ci) on an SE read from a few replicates
        say(f"{' and '.join(rough)}: intervals from fewer than {ROUGH_RESAMPLES} resamples are rough "
              "(Student-t on the resamples' spread: wide, or of width 0 where the few resamples happen to agree)")
    for key in ("sizes_note", "synthetic_size_note", "geneset_note", "reference_note", "fidelity_size_note",
                "utility_note"):
        if key in df.attrs:
            say(f"{df.attrs[key]}")
    if "training_copies_note" in df.attrs:
        say(f"the synthetic set: {df.attrs['training_copies_note']}")
    if "synthetic_repeats_note" in df.attrs:
        say(f"the synthetic set: {df.attrs['synthetic_repeats_note']}")
    if "note" in (df.attrs.get("classifier_inputs") or {}):
        say(f"{df.attrs['classifier_inputs']['note']}")
    for key in ("biology_de", "biology_coexpr", "biology_concordance"):
        if "note" in (df.attrs.get(key) or {}):
            say(f"{df.attrs[key]['note']}")
    for name in ("synthetic", "train", "mia_reference"):
        for what in ("genes", "scale", "read", "held_out"):
            if f"{name}_{what}" in df.attrs.get("preprocessing", {}):
                text = df.attrs["preprocessing"][f"{name}_{what}"]
                who = {"mia_reference": "membership-inference reference"}.get(name, name)
                say(f"the {who} set's genes {text}" if what == "genes" else f"the {who} set: {text}")
    audit = df.attrs.get("membership", {})
    for key in ("note", "reference_note"):
        if key in audit:
            say(f"membership audit: {audit[key]}")
    if "note" in (audit.get("logan_inputs") or {}):
        say(f"membership audit: {audit['logan_inputs']['note']}")
    if "verdict" in audit:
        print(f"membership inference: {audit['verdict']} (copying generator and independent real draw: "
              "attrs 'membership' of the output)")
    rows = [{k: _clean(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
    overall = overall_rows(df).tolist()
    out = {
        "inputs": {"real": args.real, "synthetic": args.synthetic, "train": args.train,
                   "label_key": args.label_key, "n_real": int(real.n_obs), "n_synthetic": int(syn.n_obs),
                   "n_train": int(train.n_obs) if train is not None else None, "n_genes": int(real.n_vars),
                   "floor": floor_text, "reference": args.reference,
                   "n_reference": int(mia_ref.n_obs) if mia_ref is not None else None,
                   "synthetic_privacy": private},
        "settings": {"seed": args.seed, "k": args.k, "n_boot": args.n_boot,
                     "n_boot_expensive": args.n_boot_expensive, "ci_level": 0.95,
                     "fidelity_size": args.fidelity_size,
                     "biology": dataclasses.asdict(biology)},
        "metrics": [r for r, o in zip(rows, overall) if o],
        "per_class": [r for r, o in zip(rows, overall) if not o],
        "definitions": {m: {"direction": METRICS[m].direction, "definition": METRICS[m].definition,
                            "source": METRICS[m].source} for m in sorted(set(df["name"]))},
        **{k: v for k, v in df.attrs.items()},
        "notes": notes,
    }
    if args.out is None:
        return 0
    if ending == ".json":
        write_json(args.out, out)
    else:
        import pandas as pd

        from .._io import atomic_path

        with atomic_path(args.out, suffix=ending) as tmp:
            pd.DataFrame(rows).to_csv(tmp, sep="," if ending == ".csv" else "\t", index=False)
        if notes:   # a table holds the indicators only: the notes would be lost without a word
            kept = "the note above is kept" if len(notes) == 1 else f"the {len(notes)} notes above are kept"
            print(f"wrote {args.out} (the indicators' table; {kept}, with the inputs and settings, by a .json "
                  "output: --out "
                  f"{Path(args.out).with_suffix('.json').name})")
            return 0
    print(f"wrote {args.out}")
    return 0


def register(sub) -> None:
    """Add ``rnagen evaluate``."""
    p = sub.add_parser(
        "evaluate", help="score a synthetic set against real data (all quality indicators)",
        description="Compute every quality indicator (utility, fidelity, correlation, adversarial, detection, "
                    "privacy, biology) of a synthetic set against real held-out data, with 95% bootstrap confidence "
                    "intervals and, given --train, real-vs-real reference values (the ceiling) and the share "
                    "of the gap from the per-class Gaussian floor to that ceiling closed. Inputs are brought to "
                    "log scale (log2(x+1) unless already logged) and z-scored per gene with the real training "
                    "set's statistics.")
    p.add_argument("--real", required=True, help="real held-out (test) profiles, .h5ad or any rnagen-readable file")
    p.add_argument("--synthetic", required=True, help="generated profiles with the same genes")
    p.add_argument("--train", default=None,
                   help="real training profiles: enables references, TRTR, augmentation and privacy metrics")
    p.add_argument("--floor", default=None, metavar="gaussian|none|FILE",
                   help="the floor of the share of the gap closed: gaussian (default with --train: the per-class "
                        "Gaussian fitted on --train, sampled to the synthetic label mix), none, or a file of floor "
                        "profiles; each fidelity indicator then reports 1 - d(synthetic) / d(floor), d the "
                        "distance from the real-vs-real reference")
    p.add_argument("--reference", default=None,
                   help="membership-inference reference set: real profiles in neither --real nor --train (the "
                        "attacks' sample of the population); default: a stratified third of --real (the other "
                        "thirds: the non-members and an independent real draw)")
    p.add_argument("--mia-density", choices=("kde", "gmm"), default="kde",
                   help="DOMIAS's density model: kde (Gaussian KDE, default) or gmm (Gaussian mixture)")
    p.add_argument("--mia-pca-dims", type=T.integer(">= 1"), default=10,
                   help="dimensions of DOMIAS's PCA space (fitted on the reference set; default 10)")
    p.add_argument("--label-key", default=None,
                   help="obs column with class labels (enables utility metrics and the per-class floor); default: "
                        "the label column recorded in --real (an .h5ad of rnagen data prepare), else none; none: "
                        "score without labels")
    p.add_argument("--metrics", default=None, metavar="NAMES",
                   help="comma-separated metric names or families (fidelity, adversarial, correlation, utility, "
                        "detection, privacy, membership, biology; a family's metrics the inputs cannot give are "
                        "left out); default: all that apply")
    p.add_argument("--fidelity-size", choices=("synthetic", "held-out"), default="synthetic",
                   help="synthetic (default): every indicator on the whole synthetic set; held-out: the indicators "
                        "judged against the real-vs-real reference (fidelity, adversarial, detection, correlation, "
                        "biology) on a part of it like --real (its size and label counts), so that the reference, "
                        "a training subsample as large, lies outside the z-scores and feature spaces fitted on the "
                        "other training profiles; utility, privacy and membership on all of it (what rnagen "
                        "benchmark does with its training-sized sets; needs --train)")
    p.add_argument("--k", type=T.integer(">= 1"), default=10,
                   help="neighbourhood size for precision/recall/density/coverage (default: 10)")
    p.add_argument("--n-boot", type=T.integer(">= 2"), default=1000,
                   help="bootstrap resamples of per-profile terms (DCR shares, accuracies, membership attacks; "
                        "default: 1000)")
    p.add_argument("--n-boot-expensive", type=T.integer(">= 2"), default=20,
                   help="recomputations for the other metrics: subsamples of both sets for precision, recall, "
                        "density, coverage and AA; resampled rows for Fréchet, MMD, correlation, F1/AUC, ... "
                        "(default: 20)")
    p.add_argument("--seed", type=T.seed, default=0,
                   help="seed of bootstrap, subsamples and classifiers (default: 0); each indicator draws from a "
                        "stream of its own, so its numbers do not depend on --metrics")
    p.add_argument("--gene-sets", default=None, metavar="FILE.gmt",
                   help="gene sets (GMT: name, description, genes, tab-separated) for the gene-set indicator "
                        "geneset_ks: KS distance of the per-sample mean z-score of each set, real vs synthetic")
    p.add_argument("--biology", action="append", default=None, metavar="KEY=VALUE",
                   help="a setting of the biology indicators (repeatable): de_test=welch|mannwhitney|deseq2 "
                        "(deseq2: on counts), fdr=0.05, "
                        "min_lfc=1 (|log2 fold change|), de_pair=A,B (also class A vs class B), "
                        "coexpr_threshold=0.3, coexpr_min_class=10, coexpr_class_genes=2000, top_k=20, "
                        "importance=coef|permutation, seed=0")
    p.add_argument("--per-class", action="store_true",
                   help="also print the rows of a group other than all: per class (TSTR F1, DE F1, concordance, "
                        "co-expression) and the DE of a --biology de_pair")
    p.add_argument("--verbose", action="store_true", help="print the time spent per metric family")
    p.add_argument("--out", default=None,
                   help="output file (default: the table is only printed), written atomically: .json (every "
                        "indicator with its definition, the inputs, settings and notes) or .csv / .tsv (the "
                        "metrics table: a row per indicator and group)")
    p.set_defaults(func=cmd_evaluate)
