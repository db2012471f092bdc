"""``rnagen data``: fetch public data, prepare user files, summarise and split ``.h5ad`` files.

Thin: every sub-command parses its options, calls :mod:`rnagen.data` / :mod:`rnagen.pp`, and writes
outputs atomically (:func:`rnagen._io.write_h5ad`).
"""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..errors import DataError
from . import _types as T
from ._common import class_codes_hint, columns_hint, read_input

if TYPE_CHECKING:
    from ..data.genes import IdType
    from ..data.io import Duplicates

# the gene columns written into ``var``: the ID type each maps to -> its column name
_VAR_COLUMNS: dict[Literal["symbol", "entrez", "ensembl"], str] = {
    "symbol": "symbol", "entrez": "entrez_id", "ensembl": "ensembl_id"}


def _annotate_var(adata, *, id_type: IdType) -> None:
    """Add ``symbol``/``entrez_id``/``ensembl_id``/``is_landmark`` to ``var`` where the shipped tables know
    the gene (existing columns are kept); features that are not genes (``other``) get no gene columns."""
    from ..data import genes as g

    if id_type == "other":
        return
    ids = [str(v) for v in adata.var_names]
    for to, col in _VAR_COLUMNS.items():
        if col not in adata.var.columns:
            mapped, _ = g.map_ids(ids, to=to, id_type=id_type)
            adata.var[col] = [m or "" for m in mapped]
    if "is_landmark" not in adata.var.columns:
        lm = set(g.landmark_entrez())
        adata.var["is_landmark"] = [e in lm for e in adata.var["entrez_id"]]


def cmd_prepare(args: argparse.Namespace) -> int:
    """``rnagen data prepare``: read, log-transform, select genes, check labels, write ``--out``
    (claimed first, so an existing file or a concurrent writer is refused before any work)."""
    from .._io import claim_output, output_ending

    _check_missing_options(args)
    _check_scale_option(args)
    inputs = [args.input, args.labels, args.feature_map, args.sample_names, args.recount_qc] + (
        [args.genes] if args.genes not in ("landmarks", "all") else [])
    with claim_output(args.out, inputs=inputs, profiles=True):
        # an .h5ad under a table's name is refused before any work
        output_ending(args.out, (".h5ad",), "this command writes an .h5ad (it keeps the data's history, log state "
                      "and label column, which later commands read)")
        return _prepare(args)


def _check_scale_option(args: argparse.Namespace) -> None:
    """``--scale log|linear`` states the scale of values kept as read: only with ``--log none``, and ``log`` not
    with ``--normalize`` (depth-normalised counts are linear)."""
    if args.scale != "auto" and args.log != "none":
        raise DataError(f"--scale {args.scale} states the scale of values kept as read (--log none), and --log "
                        f"{args.log} takes log2(x+1) of linear values itself: give --log none --scale {args.scale}, "
                        "or remove --scale")
    if args.scale == "log" and args.normalize != "none":
        raise DataError(f"--scale log with --normalize {args.normalize}: depth-normalised counts are on a linear "
                        "scale; remove --scale log (or --normalize for values that are log already)")


def _check_missing_options(args: argparse.Namespace) -> None:
    """``--max-missing`` and ``--impute-neighbours`` only with the ``--missing`` policy that uses them."""
    if args.missing == "error" and args.max_missing is not None:
        raise DataError("--max-missing applies to --missing impute or drop; add one of them or remove --max-missing")
    if args.missing != "impute" and args.impute_neighbours is not None:
        raise DataError("--impute-neighbours applies to --missing impute; add it or remove --impute-neighbours")
    if args.background != "none" and args.normalize != "nanostring":
        raise DataError("--background subtracts an nCounter lane's negative controls, with --normalize nanostring; "
                        "add --normalize nanostring or remove --background")


def _prepare(args: argparse.Namespace) -> int:
    import numpy as np

    from .._io import write_h5ad
    from ..data import genes as g
    from ..data import map_features, read_feature_map
    from ..data.io import read_gene_list
    from ..pp import (
        check_labels,
        class_counts,
        complete_missing,
        dense,
        filter_classes,
        get_history,
        log2p1,
        log_state,
        looks_like_counts,
        merge_same_genes,
        normalize_depth,
        record,
        select_genes,
        set_log_state,
    )
    from ..pp.history import rebasable_to_log2
    from ..pp.prepare import state_scale
    from ..pp.preprocess import leave_out_other_matrices

    genes = args.genes if args.genes in ("landmarks", "all") else read_gene_list(args.genes)
    adata = read_input(args.input, label_key=args.label_key, labels=args.labels, orientation=args.orientation,
                       sep=args.sep, duplicates=args.duplicates, drop_unlabelled=args.drop_unlabelled,
                       missing="error" if args.missing == "error" else "keep", quantity=args.quantity,
                       strand=args.strand, layer=args.layer, sheet=args.sheet, sample_names=args.sample_names,
                       recount_qc=args.recount_qc)
    since = _steps_before_reading(args.input, adata)
    if args.feature_map is not None:
        adata = map_features(adata, read_feature_map(args.feature_map), duplicates=args.duplicates,
                             source=f"feature map {Path(args.feature_map).name}")
    label_key = args.label_key or adata.uns.get("rnagen", {}).get("label_key")
    if label_key is None and args.labels is not None:
        reads = [h for h in reversed(adata.uns["rnagen"]["history"].values()) if h["step"] == "read"]
        label_key = reads[0]["label_key"]
    if label_key is None and (args.drop_unlabelled or args.min_samples is not None):
        # options on the classes of a label column: without one they would leave every sample in, unsaid
        opts = " and ".join(o for o, on in (("--drop-unlabelled", args.drop_unlabelled),
                                            ("--min-samples", args.min_samples is not None)) if on)
        raise DataError(f"{opts} act{'s' if ' and ' not in opts else ''} on a label column, and none is given: add "
                        f"--label-key with the column holding the classes"
                        f"{columns_hint([str(c) for c in adata.obs.columns], adata)}, or remove {opts}")
    adata = _transcripts_to_genes(adata, args)
    from ..data.io import feature_id_type, platform_probes
    id_type = feature_id_type(adata) if args.id_type == "auto" else args.id_type
    genes_kinds = ("symbol", "entrez", "ensembl", "ensembl_versioned")
    seen = feature_id_type(adata) if args.id_type != "auto" and id_type in genes_kinds else None
    if seen in genes_kinds and seen.split("_")[0] != id_type.split("_")[0]:
        # gene ids of one kind named another: mapped by their own pattern, but recorded and reported as the other
        raise DataError(f"--id-type {id_type}, but the features are {seen} ids (e.g. "
                        f"{str(adata.var_names[0])[:40]!r}); drop --id-type (detected) or give --id-type {seen}")
    if args.id_type == "auto" and genes != "all" and platform_probes(adata):
        raise DataError(f"the {adata.n_vars} features are probe numbers of the GEO platform (ID_REF, e.g. "
                        f"{str(adata.var_names[0])!r}), not genes: map them to genes with --feature-map (the "
                        "platform's table, GEO's GPL file) or use --genes all (--id-type entrez if they are Entrez "
                        "ids)")
    if args.duplicates != "error" and id_type != "other":
        # columns of one gene merged on the values as read: sum adds counts, mean averages them (before the log)
        adata = merge_same_genes(adata, id_type=id_type, duplicates=args.duplicates)
    # sequencing depth: over every feature read (before gene selection), on the counts (before the log)
    if args.normalize != "none":
        normalize_depth(adata, args.normalize, background=args.background)
        depth = _depth_note(adata)
    else:
        depth = _counts_hint(adata)
    depth += _standardised_note(adata)
    before = log_state(adata)
    if args.log == "auto":
        log2p1(adata)
    elif args.log == "log2p1":
        st = log_state(adata)
        if rebasable_to_log2(st) is not None:
            log2p1(adata)   # log_b(x+1) of a known base (scanpy's ln): converted, not logged twice
        elif st is not None and st.get("logged"):
            raise DataError(f"--log log2p1 on values its record says are log scale already ({st['transform']}): "
                            "they would be logged twice; remove --log (or --log none)")
        else:
            log2p1(adata, force=True)
    else:
        record(adata, "log2p1", applied=False, reason="--log none")
        X = dense(adata.X)
        if args.scale != "auto":
            state_scale(adata, args.scale)
            if args.scale == "log":
                depth = _standardised_note(adata)   # log values: not read as a linear scale's totals
        elif log_state(adata) is None and args.normalize != "none":
            # depth-normalised counts (normalize_depth refuses log values): linear, whatever their range
            set_log_state(adata, logged=False, transform=f"{args.normalize}-normalised, as given (--log none)")
        elif log_state(adata) is None and X.size and not looks_like_counts(X) and np.nanquantile(X, 0.99) <= 30:
            # log-range values the scale test leaves undecided (a few above 30): --log none takes them for log
            # values, so that training does not stop at the same question; the summary says so and names
            # --scale linear, as linear values below 30 (low TPM, CPM, proportions) have the same range; counts
            # and linear values above it stay unrecorded
            set_log_state(adata, logged=True, transform="as given (--log none)")
            depth = _standardised_note(adata)   # log values now: not read as a linear scale's totals
    adata = select_genes(adata, genes, id_type=id_type, duplicates=args.duplicates)
    if label_key is not None and args.min_samples is not None:
        adata = filter_classes(adata, label_key, min_samples=args.min_samples)
    if args.missing != "error":
        # on the log scale and the selected genes, the classes' missing shares from the classes kept
        adata = complete_missing(adata, how=args.missing,
                                 max_missing=0.2 if args.max_missing is None else args.max_missing,
                                 k=10 if args.impute_neighbours is None else args.impute_neighbours,
                                 label_key=label_key)
        if label_key is not None and args.min_samples is not None and \
                min(class_counts(adata, label_key).values) < args.min_samples:
            adata = filter_classes(adata, label_key, min_samples=args.min_samples)  # classes the drops shrank
    if label_key is not None:
        check_labels(adata, label_key, min_per_class=2)
        adata.uns["rnagen"]["label_key"] = label_key
    _annotate_var(adata, id_type=id_type)
    left_out = leave_out_other_matrices(adata)
    write_h5ad(adata, args.out)
    miss = adata.uns["rnagen"].get("genes", {}).get("missing", [])
    if id_type == "other":
        what = ("named by their positions, the input has no gene names" if g.positional_names(
            [str(v) for v in adata.var_names]) else "other IDs: not genes")
        msg = f"prepared {adata.n_obs} samples x {adata.n_vars} features ({what}, no gene mapping)"
    else:
        msg = f"prepared {adata.n_obs} samples x {adata.n_vars} genes ({id_type} IDs)"
        n_mapped = int(((adata.var["entrez_id"] != "") | (adata.var.get("symbol", "") != "")).sum())
        msg += f"; {n_mapped}/{adata.n_vars} mapped to Entrez/symbol/Ensembl"
        if g.other_species(adata.var_names) == "mouse or rat":
            msg += (f"; the symbols are in mouse/rat case (e.g. {str(adata.var_names[0])!r}): mapped to the human "
                    "genes of the same name (rnagen's gene tables and the landmarks are human; orthologs not checked)")
    shown = ", ".join(map(str, list(miss)[:5])) + (", ..." if len(miss) > 5 else "")
    if args.genes == "landmarks":
        msg += f"; {adata.n_vars}/978 landmarks" + (f", missing {len(miss)} ({shown})" if len(miss) else "")
    elif args.genes != "all" and len(miss):
        msg += f"; {len(miss)} of the list's genes not in the data ({shown})"
    if label_key is not None:
        k = adata.obs[label_key].nunique()
        msg += f"; {k} class{'es' if k != 1 else ''} of {label_key!r}" + (
            " (one class: the models generate it unconditionally)" if k == 1 else "") + _near_duplicate_labels(
            adata.obs[label_key])
    msg += _what_was_dropped(adata, since=since) + depth + _split_column_hint(adata)
    converted = [h for h in get_history(adata)[since:] if h["step"] == "log2p1" and "converted_from" in h]
    if converted:
        msg += (f"; values {converted[-1]['converted_from']} converted to log2(x+1), the same expression in log2 "
                "units (--log none keeps them as read)")
    if left_out:
        shown = ", ".join(left_out[:6]) + (f" and {len(left_out) - 6} more" if len(left_out) > 6 else "")
        layer = any(m.startswith(("layers[", "raw")) for m in left_out)
        msg += (f"; left out the input's {shown} (its genes and values, not the prepared ones; "
                f"{Path(args.input).name} keeps them" + (", --layer NAME prepares one instead of X)" if layer else ")"))
    after = log_state(adata)
    if after is not None and after.get("logged") and not (before or {}).get("logged"):
        # the models then learn log values: what they sample, and what --round (whole counts) needs, follow it;
        # said from the step's own record, as the scale test and --log none record log values without taking one
        took = [h for h in get_history(adata) if h["step"] == "log2p1"][-1]["applied"]
        if took and args.normalize != "none":   # normalised values are no whole counts: --round does not apply
            msg += "; values log2(x+1)-transformed (--log none keeps them as read)"
        elif took:
            msg += ("; values log2(x+1)-transformed (--log none keeps them as read: a model trained on counts "
                    "samples whole counts with rnagen sample --round)")
        elif args.scale == "log":
            msg += "; values kept as read and recorded as log scale, as stated (--scale log)"
        elif args.log == "none":
            msg += ("; values kept as read and recorded as log scale (--log none): not whole numbers, 99% of them at "
                    "most 30, so taken for log values; linear values (low TPM or CPM, proportions): --scale linear "
                    "records them so")
        else:
            from ..pp import dense
            from ..pp.history import LOG_RANGE, below_one_note

            X = dense(adata.X)
            small = below_one_note(float(np.nanmin(X)), float(np.nanmax(X))) if X.size else None
            msg += ("; warning: " + small if small else
                    f"; values kept as read: they look log-scale already (all within [{LOG_RANGE[0]:g}, "
                    f"{LOG_RANGE[1]:g}]; --log log2p1 takes the log anyway)")
    if args.scale == "linear" and after is not None and not after["logged"]:
        msg += "; values kept as read and recorded as linear scale (--scale linear): training takes log2(x+1) of them"
    same = _identical_samples(adata)
    if same:
        msg += "; " + same
    print(f"{msg} -> {args.out}")
    return 0


def _split_column_hint(adata) -> str:
    """``"; column 'split' holds the data's own train/test split: rnagen data split --split-key split uses it"``
    for prepare's summary, else ``""``."""
    from ..pp.preprocess import split_columns

    cols = split_columns(adata)
    if not cols:
        return ""
    return (f"; column {cols[0]!r} holds the data's own train/test split: rnagen data split (or benchmark) "
            f"--split-key {shlex.quote(cols[0])} uses it")


def _identical_samples(adata, *, groups_shown: int = 3) -> str:
    """``"1 sample identical to another ('S5' = 'S2'): ..."``, near copies (:mod:`rnagen.pp.copies`) and samples of
    one value in every gene, for prepare's and info's summaries, with the ids of the first ``groups_shown`` groups;
    ``""`` for none."""
    from ..pp import dense
    from ..pp.copies import NEAR_COPY_RATIO, copy_groups

    found = copy_groups(adata)
    names = [str(x) for x in adata.obs_names]
    notes = []
    if found.flat:
        flat = found.flat
        value = float(dense(adata.X[flat[0]:flat[0] + 1])[0, 0])
        notes.append(f"{len(flat)} sample{'s' if len(flat) > 1 else ''} of one value in every gene (e.g. "
                     f"{names[flat[0]]!r}: {value:g}): failed libraries? remove them from the input")
    if found.groups:
        n_exact = sum(len(g) - 1 for g, ex in zip(found.groups, found.exact) if ex)
        n_near = found.n_copies - n_exact
        parts = []
        if n_exact:
            parts.append(f"{n_exact} sample{'s' if n_exact > 1 else ''} identical to another")
        if n_near:
            parts.append(f"{n_near} near cop{'ies' if n_near > 1 else 'y'} of another sample (nearer it than "
                         f"{NEAR_COPY_RATIO:g} of the data's typical nearest-neighbour distance: the same values up to "
                         "rounding or noise)")
        # each group as its copies, then '=' (the same values) or '~' (a near copy), then its first sample
        shown = ", ".join(", ".join(repr(names[i]) for i in g[1:]) + (" = " if ex else " ~ ") + repr(names[g[0]])
                          for g, ex in list(zip(found.groups, found.exact))[:groups_shown])
        more = f", and {len(found.groups) - groups_shown} more group(s)" if len(found.groups) > groups_shown else ""
        notes.append(f"{' and '.join(parts)} ({shown}{more}): one library under two names? rnagen data split and "
                     "benchmark keep the copies of a profile on one side; remove one of each from the input to count "
                     "it once")
    return "; ".join(notes)


def _near_duplicate_labels(labels) -> str:
    """``"; classes that differ only in case or spacing, kept apart: 'Lung'/'lung', ..."`` (a label column typed by
    hand, where they are most likely one class), else ``""``."""
    from ..pp.preprocess import near_duplicate_labels

    twins = near_duplicate_labels(labels)
    if not twins:
        return ""
    shown = ", ".join("/".join(repr(x) for x in g) for g in twins[:3]) + (", ..." if len(twins) > 3 else "")
    return (f"; {len(twins)} set{'s' if len(twins) > 1 else ''} of classes that differ only in case or spacing, kept "
            f"apart ({shown}): make them one label in the label file if they are one class")


#: the history's source of transcripts added up to the genes their files name
_NAMED_GENES = "the gene ids the transcript tables name"


def _named_genes(adata) -> dict[str, str]:
    """Transcript id -> the gene id the data give it (``var["gene_id"]``: RSEM's column, GENCODE's names, a merged
    table's gene column), transcripts without one left out."""
    if "gene_id" not in adata.var.columns:
        return {}
    named = adata.var["gene_id"].astype(str).str.strip()
    return {t: gid for t, gid in zip(map(str, adata.var_names), named) if gid not in ("", "-", "nan", "NA")}


def _transcripts_to_genes(adata, args: argparse.Namespace):
    """Transcript-level values (a folder of Salmon quant.sf, kallisto abundance.tsv or .h5, or RSEM
    .isoforms.results) asked for genes without a tx2gene table: added up to the genes the files name (RSEM's
    ``gene_id`` column, GENCODE's ``ENST|ENSG|...`` names; tximport's sums, ``--duplicates sum`` unless another
    policy is given), else refused with what adds them up (the gene selection could only fail)."""
    from ..data import map_features
    from ..pp import get_history

    reads = [h for h in get_history(adata) if h["step"] == "read"]
    if not (reads and reads[0].get("quant_level") == "transcript" and args.feature_map is None and
            args.genes != "all"):
        return adata
    mapping = _named_genes(adata)
    if mapping:
        how: Duplicates = "sum" if args.duplicates == "error" else args.duplicates
        return map_features(adata, mapping, duplicates=how, source=_NAMED_GENES)
    kind = reads[0].get("quant_kind", "by their names")
    raise DataError(f"{args.input} holds transcript-level values ({kind}): add them up to genes "
                    "with --feature-map tx2gene.tsv (transcript id, gene id) --duplicates sum, or keep the "
                    "transcripts with --genes all")


def _depth_note(adata) -> str:
    """``"; depth normalised (cpm; library sizes 1.2M-35M)"``: what ``--normalize`` did, for prepare's summary."""
    from ..pp import get_history

    h = [h for h in get_history(adata) if h["step"] == "normalize_depth"][-1]
    note = (f"; depth normalised ({h['method']}; library sizes {_count_str(h['library_size_min'])}-"
            f"{_count_str(h['library_size_max'])})")
    if h.get("background", "none") != "none":
        n, size = int(h["n_below_background"]), adata.n_obs * adata.n_vars
        note += (f"; each lane's background ({h['background']} of its negative controls, median "
                 f"{h['background_median']:.3g}) subtracted, {n:,} of {size:,} values below it set to 0")
    n = int(h.get("n_flagged_lanes", 0))
    if n:
        shown = ", ".join(list(h["flagged_lanes"])[:3]) + (", ..." if n > 3 else "")
        note += (f"; {n} lane{'s' if n > 1 else ''} outside nSolver's QC ranges of the scaling factors ({shown}): "
                 "check them before use")
    return note


def _counts_hint(adata) -> str:
    """A note for raw counts left as they are whose library sizes differ (more than 1.5x): depth then varies
    between samples as much as biology does, and ``--normalize`` removes it. recount3's base-pair coverage kept
    as it is: ``--normalize cpm`` cancels each run's read length too."""
    from ..pp import get_history

    reads = [h for h in get_history(adata) if h["step"] == "read"]
    if reads and reads[0].get("quantity") == "base-pair coverage":
        return ("; the values are recount3's base-pair coverage (read counts times the read length): --normalize "
                "cpm removes the read length and sequencing depth")
    found = _depth_totals(adata)
    if found is None:
        return ""
    kind, total = found
    if total.min() <= 0 or total.max() / total.min() <= 1.5:
        return ""
    span = f"per-sample totals {_count_str(total.min())}-{_count_str(total.max())} over {adata.n_vars} features"
    if kind == "linear":
        return (f"; the values are on a linear scale, not whole numbers, {span}: if they are estimated counts "
                "(Salmon's NumReads, RSEM's expected_count), --normalize cpm or median-ratio removes sequencing "
                "depth (FPKM and TPM need none)")
    what = "look like raw counts" if kind == "raw counts" else "are estimated counts"
    return f"; the values {what}, {span}: --normalize {_depth_methods(adata, ' or ')} removes sequencing depth"


def _depth_methods(adata, joint: str) -> str:
    """The ``--normalize`` methods for counts: nSolver's for nCounter lanes read with their controls (RCC files,
    an nSolver export), else the sequencing ones."""
    lanes = "positive_control_geomean" in adata.obs.columns and "code_class" in adata.var.columns
    return "nanostring" if lanes else f"cpm{joint}median-ratio"


def _depth_totals(adata):
    """``(kind, each sample's total)`` of values that may carry sequencing depth (not recorded as logged), else
    ``None``; what the depth notes of ``prepare`` and ``info`` read. ``kind``: ``"raw counts"`` (whole numbers),
    ``"estimated counts"`` (a quantification folder's counts, Salmon's NumReads, RSEM's expected_count or
    kallisto's est_counts, which are not whole numbers) or ``"linear"`` (non-negative values beyond any log
    scale, not whole numbers, whose per-sample totals differ by more than a tenth: estimated counts in a table,
    or FPKM; TPM and CPM total the same in every sample). Microarray probes' intensities carry no depth: ``None``."""
    import warnings

    import numpy as np

    from ..data.genes import looks_like_probes
    from ..pp import dense, get_history, log_state, looks_like_counts

    st = log_state(adata)
    if (st is not None and st["logged"]) or looks_like_probes(adata.var_names[:2000]):
        return None
    X = dense(adata.X)
    total = np.nansum(X, axis=1)
    if looks_like_counts(X):
        return "raw counts", total
    if X.size == 0:
        return None
    with warnings.catch_warnings():   # all NaN: no range (read data hold no infinite values)
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = float(np.nanmin(X)), float(np.nanmax(X))
    if not (lo >= 0 and hi > 30.0):
        return None
    reads = [h for h in get_history(adata) if h["step"] == "read"]
    if reads and reads[0].get("quant_quantity") == "counts":
        return "estimated counts", total
    if st is None:
        from ..pp.history import looks_logged

        try:
            looks_logged(X)
        except DataError:   # log values with a few far above them: the scale is undecided, which is said apart
            return None
    if total.min() > 0 and total.max() / total.min() > 1.1:
        return "linear", total
    return None


def _count_str(x: float) -> str:
    """1234567 -> "1.23M", 45600 -> "45.6k", 999999.9 -> "1M" (not "1e+03k": the unit is taken after rounding);
    past 10^12 in plain scientific notation (the units stop at G)."""
    x = float(f"{x:.3g}")
    if abs(x) >= 1e12:
        return f"{x:.3g}"
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def _steps_before_reading(path: str, adata) -> int:
    """The number of leading entries of ``adata``'s transform record (``uns["rnagen"]["history"]``) that the input
    file itself holds, so that the summary reports only the steps this command adds: a prepared .h5ad's own record
    (a read of it appends a ``read`` entry only where the read changed something), else the entries ahead of the
    last ``read`` entry, the one this read appended."""
    from ..pp import get_history

    hist = get_history(adata)
    p = Path(path)
    if p.suffix.lower() == ".h5ad" and p.is_file():
        import anndata as ad

        try:
            a = ad.read_h5ad(p, backed="r")
        except Exception:   # noqa: BLE001 - the full read before succeeded; count nothing as earlier then
            return 0
        try:
            steps = a.uns.get("rnagen", {}).get("history", {})
            return min(len(steps), len(hist)) if isinstance(steps, dict) else 0
        finally:
            a.file.close()
    reads = [i for i, h in enumerate(hist) if h["step"] == "read"]
    return reads[-1] if reads else 0


def _what_was_dropped(adata, *, since: int = 0) -> str:
    """``"; 1 duplicated sample averaged (--duplicates mean)"``-style notes of what reading and gene selection
    removed, so a user sees every row or column that did not make it into the output; from the transform record's
    entries ``since`` on (this command's, not those the input file holds)."""
    from ..pp import get_history

    notes = []
    for h in get_history(adata)[since:]:
        if h["step"] == "read":
            for key, what in (("n_duplicated_samples", "duplicated sample"), ("n_duplicated_genes", "duplicated gene")):
                n = int(h.get(key, 0))
                if n:
                    verb = {"mean": "averaged", "sum": "summed"}.get(h["duplicates"], "dropped (first kept)")
                    notes.append(f"{n} {what}{'s' if n > 1 else ''} {verb} (--duplicates {h['duplicates']})")
            n = int(h.get("n_dropped_unlabelled", 0))
            if n:
                notes.append(f"{n} unlabelled sample{'s' if n > 1 else ''} dropped (--drop-unlabelled)")
            notes += _dates_notes(h)
            stats = list(h.get("statistics_columns", []))
            if stats:
                notes.append(f"{len(stats)} column{'s' if len(stats) > 1 else ''} of per-gene statistics left out "
                             f"({', '.join(stats[:5])}{', ...' if len(stats) > 5 else ''}: not samples)")
            totals = list(h.get("total_rows", []))
            if totals:
                notes.append(f"{' and '.join(totals)} holding the sum of the others dropped (a spreadsheet's total: "
                             "no gene, and it would double every library size)")
            rows = list(h.get("count_summary_rows", []))
            if rows:
                notes.append(f"{len(rows)} counter summary row{'s' if len(rows) > 1 else ''} dropped "
                             f"({', '.join(rows[:3])}{', ...' if len(rows) > 3 else ''}: reads given no gene)")
            n = int(h.get("quant_n_control_probes", 0))
            if n:
                notes.append(f"{n} NanoString control probe{'s' if n > 1 else ''} (Positive, Negative, ...) left out")
            n = int(h.get("n_symbol_entrez_ids", 0))
            if n:
                notes.append(f"{n} features named SYMBOL|ENTREZ (TCGA's legacy tables) read by their Entrez ids")
            cov = list(h.get("covariate_columns", []))
            if cov:
                notes.append(f"{len(cov)} numeric column{'s' if len(cov) > 1 else ''} named neither by a gene id nor "
                             f"a known gene kept as sample annotation{'s' if len(cov) > 1 else ''}, not genes "
                             f"({', '.join(cov[:4])}{', ...' if len(cov) > 4 else ''})")
            if h.get("gene_ids_from"):
                notes.append(f"genes named by their {h['gene_ids_from']!r} column (the first column repeats names; "
                             "kept in var['symbol'])")
            n = int(h.get("n_missing_labelled", 0))
            if n:
                shown = ", ".join(list(h["missing_labelled"])[:3]) + (", ..." if n > 3 else "")
                kind = {"archs4": "ARCHS4 ", "gctx": "GCTX "}.get(str(h.get("format")), "")
                notes.append(f"{n} labelled sample{'s' if n > 1 else ''} not in the {kind}file left out ({shown})")
        elif h["step"] == "merge_same_genes":
            n = int(h["n_dropped"])
            verb = {"mean": "averaged into", "sum": "added to"}.get(h["how"], "dropped for")
            notes.append(f"{n} column{'s' if n > 1 else ''} naming an earlier column's gene {verb} it "
                         f"(--duplicates {h['how']})")
        elif h["step"] == "map_features" and h["source"] == _NAMED_GENES:
            n = int(h["n_genes"])
            notes.append(f"{h['n_features'] - h['n_unlisted']} transcripts added up to {n} gene{'s' if n > 1 else ''} "
                         f"by the gene ids the data give them (--duplicates {h['duplicates']}; --genes all keeps the "
                         "transcripts)")
            n = int(h["n_unlisted"])
            if n:
                notes.append(f"{n} transcript{'s' if n > 1 else ''} without a gene id dropped")
        elif h["step"] == "map_features":
            n_drop = int(h["n_unlisted"]) + int(h["n_no_single_gene"])
            if n_drop:
                notes.append(f"{n_drop} feature{'s' if n_drop > 1 else ''} without a single gene in the feature map "
                             "dropped")
            n = int(h["n_merged"])
            if n:
                verb = {"mean": "averaged into", "sum": "added to"}.get(h["duplicates"], "dropped for")
                notes.append(f"{n} feature{'s' if n > 1 else ''} {verb} another of the same gene "
                             f"(--duplicates {h['duplicates']})")
        elif h["step"] == "filter_classes" and not isinstance(h.get("dropped_classes", "none"), str):
            # the dropped classes are a list, or "none"; the written .h5ad holds the list as an array
            gone = [str(c) for c in h["dropped_classes"]]
            n = int(h["n_dropped_samples"])
            shown = ", ".join(repr(c[:30]) for c in gone[:5]) + (", ..." if len(gone) > 5 else "")
            notes.append(f"{len(gone)} class{'es' if len(gone) > 1 else ''} under --min-samples "
                         f"{h['min_samples']} dropped ({shown}; {n} sample{'s' if n > 1 else ''})")
        elif h["step"] == "impute":
            for key, what in (("n_dropped_genes", "gene"), ("n_dropped_samples", "sample")):
                n = int(h[key])
                if n:
                    where = " in a class" if what == "gene" and h["within"] != "all" else ""
                    why = (f"more than {h['max_missing']:.0%} missing{where}" if what == "gene" or h["how"] == "impute"
                           else "a value left missing")
                    notes.append(f"{n} {what}{'s' if n > 1 else ''} with {why} dropped (--missing {h['how']})")
            n = int(h["n_imputed"])
            if n:
                notes.append(f"{n} missing value{'s' if n > 1 else ''} filled in from the {h['k']} nearest samples "
                             "(--missing impute)")
    return "".join(f"; {n}" for n in notes)


def _dates_notes(h: dict) -> list[str]:
    """What reading did with gene symbols a spreadsheet had turned into dates (``1-Sep`` for SEPT1)."""
    notes = []
    src, dst = list(h.get("dates_restored_from", [])), list(h.get("dates_restored_to", []))
    if src:
        shown = ", ".join(f"{a} -> {b}" for a, b in zip(src[:3], dst[:3])) + (", ..." if len(src) > 3 else "")
        notes.append(f"{len(src)} gene symbol{'s' if len(src) > 1 else ''} a spreadsheet had turned into dates "
                     f"renamed back ({shown})")
    gone = dict(zip(h.get("dates_dropped", []), h.get("dates_dropped_genes", [])))
    if gone:
        n = len(h["dates_dropped"])
        shown = ", ".join(f"{a}: {b}" for a, b in gone.items())
        notes.append(f"{n} gene{'s' if n > 1 else ''} dropped whose symbol a spreadsheet had turned into a date that "
                     f"two genes share ({shown}); take these genes from a file that did not pass through a spreadsheet")
    return notes


def _standardised_note(adata) -> str:
    """``"; the values are standardised per gene ..."`` for prepare's and info's summaries, else ``""``."""
    import numpy as np

    from ..pp import dense
    from ..pp.history import looks_standardised

    # at most 2,000 evenly spaced samples: their means and spreads tell it, without a float64 copy of a wide matrix
    rows = np.arange(0, adata.n_obs, max(1, adata.n_obs // 2000))[:2000]
    if not adata.n_obs or not looks_standardised(dense(adata.X[rows])):
        return ""
    raw = " (this .h5ad's raw values: --layer raw)" if getattr(adata, "raw", None) is not None else ""
    return ("; the values are standardised per gene (each gene's mean 0 and sd 1, as scanpy.pp.scale leaves them): "
            "a model trained on them generates z-scores, not expression; give the values before scaling" + raw)


def _unrecorded_scale(adata) -> str:
    """What rnagen's models and ``evaluate`` take values of an unrecorded scale for
    (:func:`rnagen.pp.looks_logged`, the rule of ``preprocess.log=auto``), with the range it reads."""
    import numpy as np

    from ..pp import dense, looks_logged
    from ..pp.history import below_one_note

    X = dense(adata.X)
    finite = X[np.isfinite(X)]
    if not finite.size:
        return "not recorded"
    lo, hi = float(finite.min()), float(finite.max())
    span = f"values {lo:.4g} to {hi:.4g}"
    try:
        logged = looks_logged(X, names=(adata.obs_names, adata.var_names))
    except DataError as e:
        return f"not recorded; {span}: undecided, {e}"
    if logged:
        small = below_one_note(lo, hi)
        return (f"not recorded; {span}: warning: {small}" if small else
                f"not recorded; {span} taken as log scale (not logged again)") + _standardised_note(adata)
    if lo >= 0:
        return f"not recorded; {span} taken as linear scale (log2(x+1) when training and scoring)"
    return (f"not recorded; {span}: negative but not a log scale (centred? z-scores?); training takes them "
            "as they are with --set preprocess.log=none") + _standardised_note(adata)
def _default_label_key(adata) -> str | None:
    k = adata.uns.get("rnagen", {}).get("label_key")
    return str(k) if k is not None and str(k) in adata.obs.columns else None


def _synthetic_lines(adata) -> list[str]:
    """The record of a set ``rnagen sample`` generated (``uns["rnagen"]["synthetic"]``: the model, the seed, the
    rnagen version, the sampler's settings; :meth:`rnagen.models.Generator.sample`) in two lines of the summary:
    the model and seed, then the other settings, ``[]`` for a set without one."""
    syn = adata.uns.get("rnagen", {}).get("synthetic")
    if not isinstance(syn, dict) or not syn:
        return []
    rest = {k: v for k, v in syn.items() if k not in ("model", "seed", "rnagen_version", "rounded")}
    head = ", ".join(part for part in (
        f"{_shown_setting(syn['model'])} model" if "model" in syn else "",
        f"seed {_shown_setting(syn['seed'])}" if "seed" in syn else "",
        f"rnagen {_shown_setting(syn['rnagen_version'])}" if "rnagen_version" in syn else "",
        "rounded to whole numbers" if _shown_setting(syn.get("rounded")) == "True" else "") if part)
    lines = [f"synthetic: generated by rnagen sample: {head}" if head else "synthetic: generated by rnagen sample"]
    if rest:
        shown = ", ".join(f"{k}={_shown_setting(v)}" for k, v in rest.items())
        lines.append(f"sampling:  {shown if len(shown) <= 300 else shown[:297] + '...'}")
    return lines


def _shown_setting(v) -> str:
    """A recorded setting in one line: a number in its shortest form (``{:g}``), a dict as ``{k=v, ...}``."""
    import numpy as np

    if isinstance(v, np.ndarray) and v.size == 1:
        v = v.item()
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_shown_setting(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    from ..utils import one_line

    return one_line(v)


def summarize(adata, *, path: str = "", label_key: str | None = None) -> str:
    """A text summary: samples, genes, gene ID type, labels with counts, log state and transform history."""
    import numpy as np
    import pandas as pd

    from ..data import genes as g
    from ..pp import dense, get_history, log_state
    from ..utils import display_width, one_line, pad_to

    lines = [f"file:      {path}"] if path else []
    lines.append(f"samples:   {adata.n_obs}")
    from ..data.io import feature_id_type, missing_labels, platform_probes
    id_type = feature_id_type(adata)
    transcripts = any(h["step"] == "read" and h.get("quant_level") == "transcript" for h in get_history(adata))
    if transcripts:
        n_genes = len(set(_named_genes(adata).values()))
        how = (f"of {n_genes} genes the data name: rnagen data prepare adds them up to those (--genes all keeps "
               "them)" if n_genes else "without their genes: rnagen data prepare --feature-map tx2gene.tsv "
               "--duplicates sum adds them up to genes")
        lines.append(f"features:  {adata.n_vars} transcripts {how}")
    elif id_type == "other" and platform_probes(adata):
        lines.append(f"features:  {adata.n_vars} probe numbers of the GEO platform (ID_REF, e.g. "
                     f"{str(adata.var_names[0])!r}), not Entrez ids: rnagen data prepare --feature-map with the "
                     "platform's table (GPLxxx.annot, ID and gene columns) maps them to genes (or --id-type entrez "
                     "if they are Entrez ids)")
    elif id_type == "other":
        example = str(adata.var_names[0])[:40]
        lines.append(f"features:  {adata.n_vars} (other IDs: not gene identifiers, e.g. {example!r})")
    else:
        idx, rep = g.find_landmarks(adata.var_names, id_type=id_type)
        lines.append(f"genes:     {adata.n_vars} ({id_type} IDs; {len(idx)} of 978 landmarks present)")
    lines.extend(_synthetic_lines(adata))
    others = [f"layers[{k!r}]" for k in adata.layers.keys()] + (["raw"] if adata.raw is not None else [])
    if others:   # an .h5ad's other matrices (scanpy's counts beside a normalised X): what is shown is X
        lines.append(f"matrices:  X summarised; also {', '.join(others)[:200]} (--layer NAME reads one instead)")
    miss = np.isnan(dense(adata.X))
    if miss.any():
        per_gene = miss.sum(axis=0)
        n_genes = int((per_gene > 0).sum())
        worst = np.argsort(-per_gene, kind="stable")[:min(3, n_genes)]
        shown = ", ".join(f"{str(adata.var_names[j])[:30]} {per_gene[j] / adata.n_obs:.0%}" for j in worst)
        n = int(miss.sum())
        lines.append(f"missing:   {n} value{'s' if n > 1 else ''} ({miss.mean():.1%}) in {n_genes} "
                     f"gene{'s' if n_genes > 1 else ''} (most: {shown}); rnagen data prepare --missing impute|drop "
                     "completes them")
    same = _identical_samples(adata, groups_shown=20)
    if same:
        lines.append(f"identical: {same}")
    st = log_state(adata)
    lines.append("log state: " + (_unrecorded_scale(adata) if st is None else
                                  f"{'log scale' if st['logged'] else 'linear scale'} ({st['transform']})"))
    reads = [h for h in get_history(adata) if h["step"] == "read"]
    if reads and reads[0].get("quantity") == "base-pair coverage":
        lines.append("values:    recount3 base-pair coverage, not read counts (each read adds the bases it aligns); "
                     "rnagen data prepare --recount-qc PROJECT.recount_qc.MD.gz reads counts")
    elif (found := _depth_totals(adata)) is not None:
        kind, total = found
        span = f"per-sample totals over its {adata.n_vars} features {_count_str(total.min())}-{_count_str(total.max())}"
        if _synthetic_lines(adata):
            # generated profiles are on their model's training data's scale, drawn without a sequencing depth of
            # their own: the --normalize hint of measured counts does not apply
            what = {"raw counts": "whole numbers", "linear": "linear scale, not whole numbers"}.get(kind,
                                                                                                  "not whole numbers")
            lines.append(f"values:    {what} ({span}), generated on the model's training data's scale")
        elif kind == "linear":
            lines.append(f"values:    linear scale, not whole numbers ({span}): estimated counts (Salmon's NumReads, "
                         "RSEM's expected_count) carry sequencing depth, which rnagen data prepare --normalize "
                         "cpm|median-ratio removes; FPKM and TPM need none")
        else:
            what = "whole numbers" if kind == "raw counts" else "not whole numbers"
            lines.append(f"values:    {kind} ({what}; {span}); rnagen data prepare --normalize "
                         f"{_depth_methods(adata, '|')} removes sequencing depth")
    # without a label key: the categorical columns that could be labels (not one value per sample, as GEO's
    # titles and descriptions are; at most 200 classes), not a train/test split column (its own line below)
    from ..pp.preprocess import is_split_column

    keys = [label_key] if label_key else ([_default_label_key(adata)] if _default_label_key(adata) else [
        c for c in adata.obs.columns if (str(adata.obs[c].dtype) == "category" or (
            pd.api.types.is_string_dtype(adata.obs[c].dtype)   # object, or pandas 3's str
            and adata.obs[c].map(lambda v: isinstance(v, str)).all()))
        and adata.obs[c].nunique() <= min(200, max(1, adata.n_obs - 1)) and not is_split_column(adata.obs[c])])
    if not label_key and not keys and len(adata.obs.columns):
        lines.append("columns:   " + ", ".join(map(str, adata.obs.columns))[:300] + " (none looks like labels)")
    if not label_key and not keys and (hint := class_codes_hint(adata)):
        lines.append(f"labels:    none read; {hint}")
    for k in keys:
        if k not in adata.obs.columns:
            columns = ", ".join(map(str, adata.obs.columns)) or "none"
            raise DataError(f"label column {k!r} not found (sample columns: {columns}); "
                            "pass --label-key with one of these")
        # a missing label (NaN, NA, blank) is no class: counted apart, as prepare refuses or drops those samples
        miss = missing_labels(adata.obs[k].astype(object).to_numpy())
        vc = adata.obs[k][~miss].astype(str).value_counts()
        unlabelled = (f", {int(miss.sum())} sample{'s' if miss.sum() > 1 else ''} without a label (rnagen data "
                      "prepare --drop-unlabelled drops them)" if miss.any() and not miss.all() else
                      # none labelled: dropping them leaves no data; the column or the file is the wrong one
                      f", no sample has a label (every {k!r} value empty or a missing-value mark: check --label-key "
                      "or --labels)" if miss.any() else "")
        lines.append(f"labels ({k}): {len(vc)} class{'es' if len(vc) != 1 else ''}{unlabelled}")
        # a class name past 60 characters cut in the listing, so one long name does not push every count away
        listed = [(t if len(t := one_line(name)) <= 60 else t[:59] + "…", n) for name, n in vc.items()]
        w = max((display_width(t) for t, _ in listed), default=0)
        lines.extend(f"  {pad_to(t, w)}  {n}" for t, n in listed)
    if hint := _split_column_hint(adata):
        lines.append("split:     " + hint.removeprefix("; "))
    hist = get_history(adata)
    lines.append(f"history:   {len(hist)} steps")
    for i, h in enumerate(hist, 1):
        # a list the record holds as an array (the classes a filter dropped) as a list is written
        params = ", ".join(f"{k}={v.tolist() if isinstance(v, np.ndarray) and v.ndim else v}" for k, v in h.items()
                           if k != "step")
        lines.append(f"  {i}. {h['step']}" + (f" ({params})" if params else ""))
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    """``rnagen data info``: print :func:`summarize` of a data file."""
    from ..data.io import archs4_summary, gctx_summary, is_recount3_sums

    if args.labels is None and args.sample_names is None and \
            (summary := archs4_summary(args.file) or gctx_summary(args.file)) is not None:
        print(f"file:      {args.file}\n{summary}")   # its matrix is read only for the samples labels name
        return 0
    # recount3's sums are read as the coverage they hold: info has no QC table to make read counts of them
    coverage = is_recount3_sums(args.file)
    # repeated ids are summarised on the first of each (an Atlas microarray file names a gene per probe): info
    # describes the file, prepare is where they are resolved
    # samples without a label are counted beside the classes: info describes the file, prepare refuses or drops them
    adata = read_input(args.file, label_key=args.label_key, labels=args.labels, missing="keep", sheet=args.sheet,
                       sample_names=args.sample_names, duplicates="first", layer=args.layer, keep_unlabelled=True,
                       **({"quantity": "coverage"} if coverage else {}))
    print(summarize(adata, path=args.file, label_key=args.label_key) + _duplicates_note(adata))
    return 0


def _duplicates_note(adata) -> str:
    """``"\nduplicates: ..."`` for info's summary where reading kept the first of repeated ids, else ``""``."""
    from ..pp import get_history

    read = next((h for h in get_history(adata) if h["step"] == "read"), {})
    counts = [(int(read.get(f"n_duplicated_{what}s", 0)), what) for what in ("gene", "sample")]
    parts = [f"{n} repeated {what} id{'s' if n > 1 else ''}" for n, what in counts if n]
    if not parts:
        return ""
    return (f"\nduplicates: {' and '.join(parts)}, summarised on the first of each; rnagen data prepare needs "
            "--duplicates first|mean|sum for them (mean: a gene's probes averaged)")


def cmd_split(args: argparse.Namespace) -> int:
    """``rnagen data split``: stratified, seeded train/test split written as ``train.h5ad`` and ``test.h5ad``."""
    from .._io import claim_output, write_h5ads
    from ..pp import split

    _split_options(args)
    with claim_output(args.out, inputs=[args.file], kind="dir", writes=("train.h5ad", "test.h5ad"),
                      profiles=True) as out:
        adata = read_input(args.file, label_key=args.label_key)
        label_key = args.label_key or _default_label_key(adata)
        if label_key is None:
            hint = columns_hint([str(c) for c in adata.obs.columns], adata)
            raise DataError(f"{Path(args.file).name} records no label column; pass --label-key with the column "
                            f"holding the classes{hint} (rnagen data "
                            "prepare --label-key records it)")
        train, test = split(adata, label_key=label_key, test_size=args.test_size, seed=args.seed, by=args.split_key)
        # both written before either replaces an older split: never a train.h5ad and test.h5ad of two splits
        write_h5ads([(train, out / "train.h5ad"), (test, out / "test.h5ad")])
    how = (f"as column {args.split_key!r} says" if args.split_key else
           f"stratified by {label_key!r}, test size {args.test_size}, seed {args.seed}")
    print(f"split {adata.n_obs} samples ({how}): {train.n_obs} train -> {out / 'train.h5ad'}, {test.n_obs} test -> "
          f"{out / 'test.h5ad'}" + _split_copies_note(train, test))
    return 0


def _split_copies_note(train, test) -> str:
    """``"; 3 copies of profiles kept on their profile's side"`` where the random split grouped copies
    (:mod:`rnagen.pp.copies`), or a warning where a given split holds a profile on both sides; else ``""``."""
    from ..pp.copies import copies_across
    from ..pp.history import get_history

    steps = [h for h in get_history(train) if h["step"] == "split"]
    n = int(steps[-1].get("n_copies_grouped", 0)) if steps else 0
    if n:
        return (f"; {n} cop{'ies' if n > 1 else 'y'} of profiles kept on their profile's side (rnagen data info "
                "names them)")
    if steps and "by" in steps[-1]:
        pairs = copies_across(test, train)
        if pairs:
            i, j = pairs[0]
            return (f"; warning: {len(pairs)} test profile{'s' if len(pairs) > 1 else ''} of the given split "
                    f"{'are copies' if len(pairs) > 1 else 'is a copy'} of training profiles (e.g. "
                    f"{str(test.obs_names[i])!r} of {str(train.obs_names[j])!r}): the held-out indicators read "
                    "better than they are; put each on its copy's side, or remove it")
    return ""


def _split_options(args: argparse.Namespace) -> None:
    """``--split-key`` (the data's own split) or ``--test-size``/``--seed`` (a random one), not both; the random
    split's defaults filled in (test size 0.2, seed 42)."""
    if args.split_key is not None:
        given = [o for o, v in (("--test-size", args.test_size), ("--seed", args.seed)) if v is not None]
        if given:
            raise DataError(f"{given[0]} sets a random split and --split-key takes the data's own; remove one")
    if args.test_size is None:
        args.test_size = 0.2
    if args.seed is None:
        args.seed = 42


def _check_fetch_options(args: argparse.Namespace) -> None:
    """``--accession`` for geo alone, ``--project`` for recount3 alone; the conversion options for tcga and gtex
    alone (geo and recount3 convert nothing)."""
    if args.source == "recount3":
        if not args.project:
            raise DataError("rnagen data fetch recount3 needs --project ID (an SRA study such as SRP009615; with "
                            "--home gtex a tissue such as BLADDER, with --home tcga a project such as BRCA)")
        given = [o for o, v in (("--out", args.out), ("--min-samples", args.min_samples),
                                ("--chunksize", args.chunksize), ("--accession", args.accession),
                                ("--platform", args.platform), ("--counts", args.counts),
                                ("--suppl", args.suppl)) if v is not None]
        if given:
            raise DataError(f"{given[0]} does not apply to recount3, which only downloads; convert with rnagen data "
                            "prepare (its --out, --min-samples)")
        return
    if args.project or args.home is not None or args.organism is not None:
        opt = "--project" if args.project else "--home" if args.home is not None else "--organism"
        raise DataError(f"{opt} applies to recount3; remove it for {args.source}")
    if args.source == "geo":
        if not args.accession:
            raise DataError("rnagen data fetch geo needs --accession GSExxx (the series, e.g. GSE2034)")
        given = [o for o, v in (("--out", args.out), ("--min-samples", args.min_samples),
                                ("--chunksize", args.chunksize)) if v is not None]
        if given:
            raise DataError(f"{', '.join(given)} do not apply to geo, which only downloads; convert with rnagen "
                            "data prepare (its --out, --min-samples)")
        if args.counts and args.platform:
            raise DataError("--platform picks a microarray series' matrix, --counts NCBI's RNA-seq counts; give one")
    elif args.accession or args.platform or args.counts or args.suppl is not None:
        opt = ("--accession" if args.accession else "--platform" if args.platform else "--counts" if args.counts
               else "--suppl")
        raise DataError(f"{opt} applies to geo; {args.source} has one fixed data set, remove {opt}")


def _fetch_geo(args: argparse.Namespace, checksums: dict[str, str]) -> int:
    """``rnagen data fetch geo``: the series matrix and its platform's annotation (or NCBI's RNA-seq counts, or a
    submitter's supplementary file), and the command to go on."""
    import re
    import shlex

    from ..data import read_geo_samples
    from ..data.fetch import fetch_geo
    from ..data.io import geo_has_values

    out = fetch_geo(args.accession, platform=args.platform, counts=args.counts, suppl=args.suppl,
                    cache_dir=args.cache_dir, base_url=args.base_url, checksums=checksums, retries=args.retries,
                    retry_wait=args.retry_wait, progress=not args.no_progress)
    series, gpl, annot, counts, suppl = (out["series"], out["platform"], out["annotation"], out["counts"],
                                         out["suppl"])
    samples = read_geo_samples(series)
    columns = [str(c) for c in samples.columns]
    acc = args.accession.strip().upper()
    extra = annot or counts or (suppl if isinstance(suppl, Path) else None)
    got = series.name + (f" ({gpl})" if gpl else "") + (f" and {extra.name}" if extra else "")
    print(f"{acc}: downloaded {got} into {series.parent}")
    print("sample columns (for --label-key): " + (", ".join(columns) if columns else "none"))
    if isinstance(suppl, list):
        shown = ", ".join(f"{n} ({s})" if s else n for n, s in suppl)
        print(f"supplementary files of {acc}: " + (shown + "; download one with --suppl NAME" if suppl else
                                                    "none (GEO lists no suppl/ folder for it)"))
        return 0
    if suppl is not None:
        if re.search(r"\.(tar|tgz|tar\.gz|tar\.bz2|tbz2|tar\.xz|txz|zip)$", suppl.name, flags=re.IGNORECASE):
            unpack = (f"unzip -d {acc}_suppl {shlex.quote(str(suppl))}" if suppl.name.lower().endswith(".zip") else
                      f"mkdir {acc}_suppl && tar -xf {shlex.quote(str(suppl))} -C {acc}_suppl")
            print(f"an archive: prepare reads the per-sample files in it, or its one matrix file, as they are; for "
                  f"one of several matrix files in it, unpack it first ({unpack}) and prepare that file")
        cmd = ["rnagen", "data", "prepare", str(suppl), "--labels", str(series)]
        print("next: " + " ".join(shlex.quote(c) for c in cmd) + " --label-key COLUMN --out DATA.h5ad")
        return 0
    if counts is not None:
        cmd = ["rnagen", "data", "prepare", str(counts), "--labels", str(series)]
        tail = (" --normalize cpm" if args.counts == "raw" else "") + " --label-key COLUMN --out DATA.h5ad"
        print("next: " + " ".join(shlex.quote(c) for c in cmd) + tail)
        return 0
    if not geo_has_values(series):
        print(f"the series matrix holds no expression values (an RNA-seq series keeps them outside it): add --counts "
              f"raw for NCBI's gene counts of {acc}, or --suppl to list the submitter's files")
        return 0
    if annot is None:
        print("no probe -> gene annotation on GEO for " + (f"platform {gpl}" if gpl else "the series (its matrix "
              "names no single platform)") + ": the probes stay feature ids (--genes all), or give a --feature-map "
              "of your own")
    cmd = ["rnagen", "data", "prepare", str(series)] + (["--feature-map", str(annot), "--duplicates", "mean"]
                                                         if annot else ["--genes", "all"])
    print("next: " + " ".join(shlex.quote(c) for c in cmd) + " --label-key COLUMN --missing impute --out DATA.h5ad")
    return 0


def _fetch_recount3(args: argparse.Namespace, checksums: dict[str, str]) -> int:
    """``rnagen data fetch recount3``: a project's gene sums, QC table and sample metadata, and the command that
    reads the sums as read counts with their labels."""
    import shlex

    from ..data.fetch import fetch_recount3
    from ..data.io import grouping_columns

    out = fetch_recount3(args.project, home=args.home or "sra", organism=args.organism or "human",
                         cache_dir=args.cache_dir, base_url=args.base_url, checksums=checksums,
                         retries=args.retries, retry_wait=args.retry_wait, progress=not args.no_progress)
    print(f"{args.project.strip().upper()}: downloaded {out['sums'].name}, {out['qc'].name} and {out['samples'].name} "
          f"into {out['sums'].parent}")
    shown = grouping_columns(out["samples"])
    print("sample columns that group the runs (for --label-key): "
          + (", ".join(shown[:30]) + (", ..." if len(shown) > 30 else "") if shown else "none"))
    cmd = ["rnagen", "data", "prepare", str(out["sums"]), "--recount-qc", str(out["qc"]), "--labels",
           str(out["samples"])]
    print("next: " + " ".join(shlex.quote(c) for c in cmd) + " --label-key COLUMN --normalize cpm --out DATA.h5ad")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """``rnagen data fetch``: download and convert TCGA or GTEx (:func:`rnagen.data.fetch.fetch`), or download a
    GEO series and its platform annotation (:func:`rnagen.data.fetch.fetch_geo`) or a recount3 project
    (:func:`rnagen.data.fetch.fetch_recount3`)."""
    from ..data.fetch import fetch

    _check_fetch_options(args)
    checksums = {}
    for item in args.checksum or []:
        name, sep, value = item.partition("=")
        if not sep or not value:
            raise DataError(f"bad --checksum {item!r}; write NAME=sha256:HEX (NAME: a file name, 'expression' or "
                            f"'samples')")
        checksums[name] = value
    if args.source == "geo":
        return _fetch_geo(args, checksums)
    if args.source == "recount3":
        return _fetch_recount3(args, checksums)

    def run() -> dict:
        return fetch(args.source, out_dir=args.out, cache_dir=args.cache_dir, base_url=args.base_url,
                     checksums=checksums, min_samples=args.min_samples, retries=args.retries,
                     retry_wait=args.retry_wait, chunksize=2000 if args.chunksize is None else args.chunksize,
                     progress=not args.no_progress)

    if args.out is None or not str(args.out).strip():
        out = run()   # fetch() refuses an empty --out before the output claim would lock the current folder
    else:  # a folder: never an existing file, one writer at a time
        from .._io import claim_output, waiting_for_writer
        from ..data.fetch import MAX_LOCK_WAIT

        writes = (f"{args.source}_full.h5ad", f"{args.source}_landmarks.h5ad")
        # another process writing the folder (a fetch of the same source) is waited for, as a download of the same
        # file is: this run then takes the files it downloaded from the cache, and keeps its views where their
        # record says they are of the same downloads and --min-samples, else converts them again
        with waiting_for_writer(lambda: claim_output(args.out, kind="dir", writes=writes), wait=MAX_LOCK_WAIT,
                                hint="run the same command again once it has finished, or give another --out"):
            out = run()
    print(f"{args.source}: downloaded {out['expression'].name}, {out['samples'].name} into {out['expression'].parent}")
    print(f"full-gene view -> {out['full']}")
    print(f"landmark view  -> {out['landmarks']}")
    return 0


def register(sub) -> None:
    """Add ``rnagen data {fetch,prepare,info,split}``."""
    p = sub.add_parser("data", help="fetch, prepare, inspect and split expression data",
                       description="Fetch public data, prepare expression files as labelled .h5ad, summarise and "
                                   "split them.")
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    _add_fetch(dsub)
    _add_prepare(dsub)
    _add_info(dsub)
    _add_split(dsub)


def _add_fetch(dsub) -> None:
    """Add ``rnagen data fetch`` (:func:`cmd_fetch`)."""
    f = dsub.add_parser("fetch", help="download TCGA (UCSC Xena TOIL) or GTEx v8 and convert to .h5ad, or a GEO "
                                      "series",
                        description="Download the public expression matrix and sample annotations (resumable, "
                                    "cached, size/checksum checked) and write <source>_full.h5ad and "
                                    "<source>_landmarks.h5ad; for geo, download a series matrix and its platform's "
                                    "probe annotation, or with --counts NCBI's RNA-seq gene counts of the series, or "
                                    "with --suppl the submitter's files, and print the rnagen data prepare command "
                                    "that converts them.")
    f.add_argument("source", choices=["tcga", "gtex", "geo", "recount3"],
                   help="tcga: Xena TOIL gene TPM + phenotype; gtex: GTEx v8 gene TPM GCT + SampleAttributesDS; geo: "
                        "a GEO series (--accession); recount3: a project's gene sums, QC table and sample metadata "
                        "(--project)")
    f.add_argument("--project", default=None, metavar="ID",
                   help="recount3: the project (an SRA study such as SRP009615; a GTEx tissue such as BLADDER with "
                        "--home gtex; a TCGA project such as BRCA with --home tcga)")
    f.add_argument("--home", default=None, choices=["sra", "gtex", "tcga"],
                   help="recount3: where the project lives (default sra)")
    f.add_argument("--organism", default=None, choices=["human", "mouse"],
                   help="recount3: human (default; GENCODE v26 gene sums) or mouse (SRA only; GENCODE M23)")
    f.add_argument("--accession", default=None, metavar="GSExxx",
                   help="geo: the series to download (its GSExxx_series_matrix.txt.gz and GPLxxx.annot.gz)")
    f.add_argument("--platform", default=None, metavar="GPLxxx",
                   help="geo: for a series on several platforms, the platform whose matrix to download "
                        "(GSExxx-GPLxxx_series_matrix.txt.gz)")
    f.add_argument("--counts", default=None, choices=["raw", "tpm", "fpkm"],
                   help="geo, an RNA-seq series: NCBI's gene counts of it (raw, or normalised to TPM or FPKM; NCBI "
                        "GeneID x GSM, computed for human and mouse series with reads in SRA) instead of the platform "
                        "annotation; the series matrix gives the labels (prepare --labels)")
    f.add_argument("--suppl", nargs="?", const="", default=None, metavar="NAME",
                   help="geo: the submitter's supplementary files of the series (its suppl/ folder): alone, list "
                        "them; with a NAME, download that file (the series matrix gives the labels)")
    f.add_argument("--base-url", default=None,
                   help="mirror URL holding the same file names (default: the public Xena hub / GTEx portal bucket / "
                        "GEO's https://ftp.ncbi.nlm.nih.gov/geo tree, and https://www.ncbi.nlm.nih.gov/geo for "
                        "--counts / recount3's http://duffel.rail.bio/recount3 tree)")
    f.add_argument("--cache-dir", default=None,
                   help="download cache (default: $RNAGEN_CACHE, else $XDG_CACHE_HOME/rnagen, else ~/.cache/rnagen)")
    f.add_argument("--out", default=None, help="folder for the converted .h5ad files (default: CACHE_DIR/SOURCE)")
    f.add_argument("--min-samples", type=T.integer(">= 1"), default=None,
                   help="drop classes with fewer samples (default: 100 for gtex as in the paper, 2 for tcga)")
    f.add_argument("--checksum", action="append", metavar="NAME=ALGO:HEX",
                   help="expected sha256/md5 of a file (NAME: file name, 'expression' or 'samples'; for geo "
                        "'series', 'annotation', 'counts' or 'suppl'); repeatable")
    f.add_argument("--retries", type=T.integer(">= 0"), default=3,
                   help="resume attempts after an interrupted transfer (default 3)")
    f.add_argument("--retry-wait", type=T.number(">= 0"), default=1.0,
                   help="seconds to wait before the first retry, doubling after (default 1)")
    f.add_argument("--chunksize", type=T.integer(">= 1"), default=None,
                   help="matrix rows parsed per chunk (memory vs speed; default 2000)")
    f.add_argument("--no-progress", action="store_true", help="no progress bars")
    f.set_defaults(func=cmd_fetch)


def _add_prepare(dsub) -> None:
    """Add ``rnagen data prepare`` (:func:`cmd_prepare`)."""
    pr = dsub.add_parser("prepare", help="read an expression file, log, select genes, label, write .h5ad",
                         description="Read .h5ad, CSV/TSV (either orientation, or long; .gz, .zip), GCT/GCTX, loom, "
                                     "a GEO series matrix or SOFT file, featureCounts output, parquet, Feather, a "
                                     "sheet (.xlsx, .xls, .ods), an R matrix or data frame (.rds, .RData), or a "
                                     "folder or archive of per-sample files (STAR, GDC, RSEM, Salmon, kallisto, "
                                     "HTSeq-count, NanoString RCC); validate; map features "
                                     "to genes (--feature-map); normalise sequencing depth (--normalize); "
                                     "log-transform; select genes; complete missing values (--missing); check "
                                     "labels; write a labelled .h5ad.")
    pr.add_argument("input",
                    help="expression file (.h5ad, .csv/.tsv/.txt[.gz], .gct[.gz], CMap .gctx, a GEO series matrix "
                         "GSExxx_series_matrix.txt[.gz], featureCounts output, .parquet, .xlsx/.xls, an R matrix or "
                         "data frame (.rds, .RData); or such a file "
                         "alone in a .zip/.tar.gz), a folder or a .tar/.tar.gz/.zip of per-sample files (STAR "
                         "*ReadsPerGene.out.tab, GDC *.augmented_star_gene_counts.tsv, RSEM *.genes.results, Salmon "
                         "quant.genes.sf, kallisto abundance.tsv or .h5, NanoString .RCC, featureCounts or HTSeq-count "
                         "tables), or 'gtex26' for the bundled GTEx subset")
    pr.add_argument("--label-key", default=None, help="sample label column (in the file, or in the --labels file)")
    pr.add_argument("--labels", default=None,
                    help="annotation file: CSV/TSV (or an Excel sheet, a GEO series matrix or SOFT file, a GDC sample "
                         "sheet, an .h5ad's obs, a GCTX's sample metadata) with a sample id column (any column "
                         "naming every sample) + label columns, or one label per line in sample order")
    pr.add_argument("--orientation", choices=["auto", "samples_x_genes", "genes_x_samples"], default="auto",
                    help="matrix layout of text/parquet/Excel input (default: detect; a long table, one line per "
                         "sample and gene, is detected too)")
    pr.add_argument("--sep", default=None,
                    help="field separator of text input (default: sniffed from the first lines: tab, ';' or ','; a "
                         "decimal comma is recognised in ';'/tab-separated files or quoted in a "
                         "comma-separated one, and thousands separators: 1,234 1.234,5 1 234; where the first "
                         "lines hold whole numbers only, the first values further on with a mark decide)")
    pr.add_argument("--layer", default=None, metavar="NAME",
                    help=".h5ad input: the matrix to read instead of X, a layer (e.g. counts, where scanpy keeps raw "
                         "counts beside a normalised X) or raw (adata.raw)")
    pr.add_argument("--sample-names", default=None, metavar="FILE",
                    help="rename the samples before labelling them: a GDC sample sheet (a folder of GDC files named "
                         "by their TCGA sample ids, which then find their labels in a clinical table given per "
                         "participant) or a table of current and new sample ids; the old names kept in obs")
    pr.add_argument("--sheet", "--object", dest="sheet", default=None, metavar="NAME",
                    help="a workbook (.xlsx, .xls, .ods) of several sheets: the sheet holding the matrix; an R "
                         "workspace (.RData) of several tables: the object holding it")
    pr.add_argument("--quantity", choices=["counts", "tpm", "coverage"], default="counts",
                    help="a folder of per-sample files: read counts (default) or TPM (RSEM, Salmon, GDC); a TCGA "
                         "Firehose RSEM table: its raw_count (default) or scaled_estimate x 10^6 (tpm); recount3's "
                         "gene or exon sums: read counts (with --recount-qc) or the base-pair coverage they hold "
                         "(coverage; then --normalize cpm, which cancels the read length)")
    pr.add_argument("--recount-qc", default=None, metavar="FILE",
                    help="recount3's gene or exon sums (sra.gene_sums.SRP012345.G026.gz) hold base-pair coverage: "
                         "the project's QC table (sra.recount_qc.SRP012345.MD.gz) turns them into read counts, each "
                         "run's coverage over its average mapped length (recount3::compute_read_counts)")
    pr.add_argument("--strand", choices=["auto", "unstranded", "forward", "reverse"], default="auto",
                    help="a folder of STAR or GDC counts: the column of the library's strandedness (auto: the "
                         "stranded column holding over 3x the other's reads, else unstranded)")
    pr.add_argument("--normalize", choices=["none", "cpm", "median-ratio", "tpm", "nanostring"], default="none",
                    help="sequencing depth of raw counts, removed before the log and gene selection: cpm (counts per "
                         "million of each sample's total), median-ratio (DESeq2's size factors, robust to a few genes "
                         "taking many reads), tpm (per kb of gene length, then per million: needs gene lengths, as a "
                         "featureCounts table has), nanostring (nCounter lanes read from RCC files: positive "
                         "controls, then housekeeping genes, as nSolver), none (default: values as given, e.g. TPM)")
    pr.add_argument("--background", choices=["none", "mean", "mean+2sd", "max"], default="none",
                    help="with --normalize nanostring: subtract each lane's background, the mean, mean + 2 SD or "
                         "maximum of its negative controls, after the positive-control scaling (values below it set "
                         "to 0; default none, as nSolver)")
    pr.add_argument("--log", choices=["auto", "log2p1", "none"], default="auto",
                    help="auto: log2(x+1) unless already logged (default); log2p1: always; none: leave values "
                         "(their scale: --scale)")
    pr.add_argument("--scale", choices=["auto", "log", "linear"], default="auto",
                    help="with --log none, the scale of the values kept as read, recorded for train and evaluate: "
                         "log (log2 unless the input's record names another base), linear (logged by training), "
                         "auto (default: whole numbers are counts; values not whole, 99%% of them at most 30, are "
                         "taken for log values, and the summary says so: low TPM or CPM, proportions need --scale "
                         "linear; depth-normalised counts, --normalize, are linear; others stay unrecorded, read by "
                         "their range)")
    pr.add_argument("--genes", default="landmarks",
                    help="'landmarks' (978 L1000 genes, default; needs gene ids and at least half of the landmarks), "
                         "'all' (also for features that are not genes: miRNAs, probes, proteins), or a file with one "
                         "gene/feature id per line")
    pr.add_argument("--feature-map", default=None, metavar="FILE",
                    help="rename the features (e.g. microarray probes) to genes: a text table of feature id (first "
                         "column) and gene (the column headed Gene symbol, Symbol, GENE_SYMBOL, IDENTIFIER or gene, "
                         "else the second), e.g. a GEO platform's GPLxxx.annot (#, ! and ^ lines skipped); features "
                         "with no single gene are dropped, features of one gene resolved by --duplicates (error, "
                         "first, mean, sum: a tx2gene table sums transcript counts to genes)")
    pr.add_argument("--id-type", choices=["auto", "symbol", "entrez", "ensembl", "ensembl_versioned", "mixed", "other"],
                    default="auto",
                    help="feature id type of the input (default: detect; 'mixed': gene ids of several types, each "
                         "mapped by its own pattern; 'other': not genes, e.g. miRNAs)")
    pr.add_argument("--duplicates", choices=["error", "first", "mean", "sum"], default="error",
                    help="duplicated sample or gene ids (also columns naming the same gene, e.g. TP53 and tp53): "
                         "error (default), keep the first, average them, or add them (counts or TPM: technical "
                         "replicates, a gene's transcripts)")
    pr.add_argument("--drop-unlabelled", action="store_true",
                    help="drop samples whose label is missing: empty, NA, or a missing-value mark such as the GDC's "
                         "'-- or TCGA's [Not Available] (default: an error)")
    pr.add_argument("--min-samples", type=T.integer(">= 1"), default=None,
                    help="drop classes with fewer samples (default: keep all; a class with < 2 samples is an error)")
    pr.add_argument("--missing", choices=["error", "impute", "drop"], default="error",
                    help="missing (NaN, empty) values: error (default); impute: drop the genes missing in more than "
                         "--max-missing of any class's samples and the samples missing more than that share of the "
                         "rest, then fill in the remaining values from the nearest samples (KNNimpute, on the log "
                         "scale, labels not used); drop: the same drops, then drop every sample with a value "
                         "still missing")
    pr.add_argument("--max-missing", type=T.number("[0, 1)"), default=None,
                    help="with --missing impute|drop: the largest share of missing values a gene (in any class) or "
                         "a sample may have and be kept (default 0.2)")
    pr.add_argument("--impute-neighbours", type=T.integer(">= 1"), default=None,
                    help="with --missing impute: the samples each missing value is averaged over (default 10)")
    pr.add_argument("--out", required=True, help="output .h5ad")
    pr.set_defaults(func=cmd_prepare)


def _add_info(dsub) -> None:
    """Add ``rnagen data info`` (:func:`cmd_info`)."""
    i = dsub.add_parser("info", help="summarise a data file: samples, genes, labels, transform history",
                        description="Print samples, genes (ID type, landmarks present), labels with counts, log state "
                                    "and history.")
    i.add_argument("file", help="data file (any format rnagen reads), or 'gtex26' for the bundled GTEx subset")
    i.add_argument("--label-key", default=None,
                   help="label column to count (default: the recorded one, else categorical columns)")
    i.add_argument("--labels", default=None, help="annotation file with the labels (for files without them)")
    i.add_argument("--sample-names", default=None, metavar="FILE",
                   help="rename the samples first, as data prepare does: a GDC sample sheet (a folder of GDC files "
                        "named by their TCGA sample ids) or a table of current and new sample ids")
    i.add_argument("--sheet", "--object", dest="sheet", default=None, metavar="NAME",
                   help="a workbook (.xlsx, .xls, .ods) of several sheets: the sheet to summarise; an R workspace "
                        "(.RData) of several tables: the object")
    i.add_argument("--layer", default=None, metavar="NAME",
                   help=".h5ad input: the matrix to summarise instead of X, a layer (e.g. counts) or raw (adata.raw), "
                        "as data prepare --layer reads it")
    i.set_defaults(func=cmd_info)


def _add_split(dsub) -> None:
    """Add ``rnagen data split`` (:func:`cmd_split`)."""
    s = dsub.add_parser("split", help="stratified, seeded train/test split into DIR/train.h5ad and DIR/test.h5ad",
                        description="Stratified train/test split (scikit-learn), written as train.h5ad and test.h5ad.")
    s.add_argument("file", help="input .h5ad (or any readable file with a label column, or 'gtex26')")
    s.add_argument("--label-key", default=None,
                   help="label column to stratify on (default: the one recorded by prepare)")
    s.add_argument("--test-size", type=T.fraction_open, default=None,
                   help="fraction of samples in the test set (default 0.2)")
    s.add_argument("--seed", type=T.seed, default=None, help="random seed (default 42, as in the paper)")
    s.add_argument("--split-key", default=None, metavar="COLUMN",
                   help="the data's own split instead of a random one: the sample column saying train or test "
                        "(training/testing, holdout or validation read as test), e.g. a published set's split")
    s.add_argument("--out", required=True, help="output folder")
    s.set_defaults(func=cmd_split)
