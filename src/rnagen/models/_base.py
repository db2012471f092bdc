"""The one generator interface every model implements, and the run folder it saves to.

Public methods (``fit``, ``sample``, ``save``, ``load``) validate, bind data, seed and convert units; the
model-specific ``_fit`` / ``_sample`` only ever see float32 matrices in the model's transformed space and
integer class ids (synthcity's public/private split; scvi-tools' user-facing class owning data binding).

Units: ``fit`` receives an AnnData in whatever units the user has (raw TPM, log2 values, ...). The model
fits a :class:`rnagen.pp.Pipeline` (``log2(x+1)`` unless the data are already log-scale, then a per-gene
scaler) on the training data, stores it in the run folder, and ``sample`` inverts it, so synthetic profiles
come back in the training data's own units with the same ``var_names``.

Run folder (``save``/``load``; every file written atomically)::

    config.toml          model name + resolved configuration (accepted by ``rnagen train --config``)
    meta.json            rnagen version, label key, labels and counts, data shape, pipeline, timings
    genes.txt            var_names, one per line, in training order
    transforms.npz       fitted per-gene transform arrays (no pickles), where each class's zeros fall
                         (``preprocess.zeros``), and the genes at one value in every profile, or in every profile of
                         a class, with that value
    weights.safetensors  what sampling needs (EMA weights for the torch models)
    train_log.csv        the training history (with the validation checks' columns, ``val_*``)
    validation.csv       the validation curve (step, score, its indicators, the share of near copies of training
                         profiles, the smoothed score), when one was held out
    checkpoint.pt        during training: full state for resume (torch.save of tensors, weights_only)
    checkpoint_member{k}.pt  the same for member k of a diffusion mixture (``train.members``); ``*_refit.pt``
                         for a refit (``train.refit``)
    manifest.json        size and SHA-256 of each file above, written last (checked on load and resume)

Training into an existing run folder first compares it with the new run (model, configuration, data
fingerprint) under the folder's write lock, before a single file in it changes: an interrupted run with the
same settings resumes; a finished run, or one with other settings, is refused unless ``resume=False``
(``--no-resume``), which replaces it.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import math
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

from .. import __version__
from .._io import (
    SYNTHETIC_PREFIX,
    atomic_path,
    check_output,
    lock_holder,
    remove_stale_temporaries,
    write_json,
    write_npz,
    write_text,
    writer_lock,
)
from .._manifest import MANIFEST, RUN_FILES, folder_kind, reading, verify_manifest, write_manifest
from ..config import (
    SEED_MAX,
    build_config,
    check_number,
    check_seed,
    checked,
    config_to_dict,
    given_keys,
    read_toml,
    require_config,
    write_config,
)
from ..errors import ConfigError, DataError, DivergedError, OutputError, RunDirError
from ..pp.history import (
    below_one_note,
    depth_normalisation,
    log_base,
    log_state,
    looks_logged,
    record,
    row_spans,
    sync_scanpy_log1p,
    with_scanpy_log1p,
)
from ..pp.prepare import check_log_record
from ..pp.preprocess import check_labels, folded_label
from ..pp.transforms import Floor, Pipeline, Transform, make_pipeline
from ..train.privacy import PRIVATE_LOG_COLUMNS
from ..utils import as_path, check_label_key, label_text, numeric_label_aliases, require_anndata

if TYPE_CHECKING:
    import torch

    from ._subspace import SubspaceCodec

__all__ = ["Generator", "PreprocessConfig", "register", "get_model", "available_models", "load",
           "label_plan"]


@dataclass
@checked("preprocess")
class PreprocessConfig:
    """How a model maps the user's values to its training space (section ``[preprocess]``)."""

    log: Literal["auto", "log2p1", "none"] = "auto"
    """``auto``: log2(x+1) unless the data are already log-scale (recorded by ``rnagen data prepare`` or
    recognised from the value range); ``log2p1``: always; ``none``: never."""
    scaler: Literal["standard", "maxabs", "minmax", "none"] = "standard"
    """Per-gene scaler fitted on the training data (``maxabs`` is what the released paper code used)."""
    support: Literal["auto", "nonnegative", "any"] = "auto"
    """Where generated values may lie, in the data's units. ``auto``: at or above 0 when every training value
    is (expression on a log2(x+1), TPM or count scale; a model of such data puts part of its mass below 0,
    which the ``nonnegative`` step clips to 0 when sampling); ``nonnegative``: the same, and training values
    below 0 are an error; ``any``: no bound. ``auto`` bounds logged data at their minimum when it is a point
    mass other than 0 (:data:`FLOOR_MIN_SHARE` of the values at it: log2(x + c) data, whose unexpressed values
    sit at log2(c), as UCSC Xena's log2(TPM + 0.001) at -9.966; values raised to a detection limit, as
    microarray intensities floored at 10 before the log), and ``zeros`` places the values at that floor as it
    places zeros; not for a private model. A gene at one value in every training profile is sampled at that
    value, and a gene at one value in every training profile of a class at that value in the class's samples (a
    value a pipeline clipped or imputed, a detection limit other than the floor), as a class's exact zeros are
    (again not for a private model). With a ``log2p1`` step the inverse already stops at 0. The validation during
    training scores the network's own samples, before the clip: scored after it, an early check's spread reads as
    the data's and the length chosen is shorter, with a worse AA_ts
    (``benchmarks/RESULTS_realdata.md``, "Generated values on the data's support")."""
    zeros: Literal["auto", "match", "mirror", "clip"] = "auto"
    """Where the exact zeros of bounded data fall (data at or above 0, see ``support``, with values at exactly
    0: log2(x+1) of genes not expressed in some profiles; or at the data's floor, see ``support``). ``match``:
    after training, a calibration draw of :data:`ZERO_CALIBRATION_PER_CLASS` profiles per class gives, for each
    class and gene, the value of the
    network's output below which the share of generated profiles equals that class's share of training
    profiles at exactly 0; sampling sets those values to 0 (a hurdle on the model's own ranking, so a class's
    zeros co-occur as the network places them) and clips the rest at the support's edge, so a class and gene
    without a zero in the training data still gets the zeros of the model's mass below the edge. ``mirror``:
    ``match``, and in a class and gene without zeros that mass mirrored above the edge instead: each class's share
    of zeros as the data's, at a cost in the detection AUC and AA_ts, as the mirrored values fall between 0 and the
    smallest expressed values, where real profiles are few (``benchmarks/RESULTS_realdata.md``, "Zeros where a
    class has none"). ``clip``: the clip only (a gene's share of zeros is the model's mass below 0, whatever the
    class). ``auto``: ``match``, except for a private model (the shares are read from the training data, which the
    DP guarantee does not cover)."""
    space: Literal["auto", "genes", "pca"] = "auto"
    """Where the network learns (``diffusion``, ``wgan-gp``, ``vae``; the ``gaussian`` has no such option).
    ``genes``: the standardised profiles. ``pca``: the standardised scores of the training profiles' leading
    principal components, as many as keep their variance in held-out profiles, each class's residual outside
    them a per-gene Gaussian (:mod:`rnagen.models._subspace`). ``auto``: ``pca`` when the training profiles do
    not span the held-out ones, i.e. more than :data:`rnagen.train.validation.OUTSIDE_SPAN_WARN` of the
    validation hold-out's variance (``train.val_fraction``, a tenth without validation) lies outside the span of
    the rest (fewer profiles than genes, with gene-level noise: there a network on the genes reproduces its
    training profiles or strays from all of them) and the variance the kept components leave behaves like
    gene-level noise (:func:`rnagen.models._subspace.residual_is_noise`; structured, as in small real sets, the
    space's per-gene residual would put every sample off the data), else ``genes``; ``genes`` for a private
    model (the directions would be fitted outside the privacy budget) and for the per-class Gaussian (the floor,
    kept as it is)."""


def valid_subspace_record(sub: Any) -> bool:
    """Whether a run's record of its principal-component space (``meta.json``) names a number of components."""
    return isinstance(sub, dict) and isinstance(sub.get("n_components"), int) and sub["n_components"] >= 1


#: The validation ``preprocess.space=auto`` gives a fixed-length run where the variance beyond the principal
#: components is structured (:meth:`Generator._choose_space`): the diffusion model's default share and least
#: hold-out (10 profiles, with the validation score's copy factor), the length chosen within the epoch budget.
AUTO_VALIDATION = {"val_fraction": 0.1, "val_min": 10}
#: keywords a caller may give ``sample`` for how many profiles, and the argument that says it
_COUNT_KEYWORDS = {
    **dict.fromkeys(("labels", "label_counts", "class_counts", "n_per_class_dict"),
                    "counts={label: n} (or n_per_label=, like=)"),
    **dict.fromkeys(("n_samples", "num_samples", "size", "n_profiles"), "n= (split by the training classes' sizes)"),
    **dict.fromkeys(("n_per_class", "per_label", "per_class"), "n_per_label="),
}
#: a class below this share of the training profiles is named as one a learned model may not learn (``fit``)
RARE_CLASS_SHARE = 0.02
#: the least share of all training values at their minimum that makes it the data's floor (``support=auto``)
FLOOR_MIN_SHARE = 0.01


def exact_values(X: Any) -> np.ndarray:
    """The training matrix as an array whose every value float64 holds exactly: float32 and float64 as they are
    (a float64 copy of a float32 transcriptome is twice its size; every comparison, extreme and rounding of a
    float32 value is that of its float64 one), anything else (integers, float16) as float64."""
    X = np.asarray(X)
    return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)


def _point_floor(X: np.ndarray) -> float | None:
    """The minimum of the data when it is a point mass other than 0 (at least :data:`FLOOR_MIN_SHARE` of all
    values, in two genes or more, sit exactly at it: log2(x + c) of genes not expressed, below 0; values raised
    to a detection limit, above it), else ``None``. Read a block of rows at a time."""
    m = float(X.min())
    if m == 0:
        return None
    n_at, genes = 0, np.zeros(X.shape[1], dtype=bool)
    for a, b in row_spans(X):
        at = X[a:b] == m
        n_at += int(np.count_nonzero(at))
        genes |= at.any(axis=0)
    return m if n_at / X.size >= FLOOR_MIN_SHARE and int(genes.sum()) >= 2 else None


def _below(X: np.ndarray, value: float) -> int:
    """How many values of ``X`` lie below ``value``, read a block of rows at a time."""
    return sum(int(np.count_nonzero(X[a:b] < value)) for a, b in row_spans(X))


def _same_in_all_rows(X: np.ndarray) -> np.ndarray:
    """Per column of ``X``, whether every row holds the first row's value (read a block of rows at a time)."""
    same = np.ones(X.shape[1], dtype=bool)
    for a, b in row_spans(X):
        same &= (X[a:b] == X[0]).all(axis=0)
    return same


SUBSPACE_PREFIX = "subspace."
"""Prefix of the principal-component space's arrays (:mod:`rnagen.models._subspace`) among the saved weights."""
#: a finished private run's ``fingerprint``: the data digest is not recorded (it would tell whoever knows the other
#: training profiles whether one was among them)
PRIVATE_FINGERPRINT = "not recorded (private run)"

_REGISTRY: dict[str, type["Generator"]] = {}


def register(cls: type["Generator"]) -> type["Generator"]:
    """Class decorator adding a generator to the registry under ``cls.name``."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no registry name")
    _REGISTRY[cls.name] = cls
    return cls


#: The built-in models and the module (under ``rnagen.models``) that defines and registers each one: an
#: explicit table, so the registry never globs for plug-ins and a broken module fails loudly.
BUILTIN_MODELS: dict[str, str] = {"diffusion": "diffusion", "vae": "vae", "wgan-gp": "gan", "gaussian": "gaussian"}


def _ensure_builtin_models() -> None:
    """Import the built-in models' modules, so their ``@register`` decorators have run."""
    for module in dict.fromkeys(BUILTIN_MODELS.values()):
        importlib.import_module(f"{__package__}.{module}")


def available_models() -> list[str]:
    """Names of the registered generators."""
    _ensure_builtin_models()
    return sorted(_REGISTRY)


def get_model(name: str) -> type["Generator"]:
    """The generator class registered as ``name``."""
    _ensure_builtin_models()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


_LOAD_FIX = "retrain it (rnagen train ... --no-resume, or into a new --out)"
#: the most values (profiles x genes) ``sample`` generates and inverts at once: a batch of ``batch_size``
#: profiles is cut to this many values, so that a wide model (a full transcriptome) holds a few float64 batches
#: of this size beside its float32 output instead of ``batch_size`` x genes of each (the 978 landmarks keep the
#: default batch whole)
SAMPLE_BATCH_VALUES = 1 << 24
#: profiles per class drawn after training to place each class's zeros (``preprocess.zeros``): the share of
#: zeros is matched to within 1/256
ZERO_CALIBRATION_PER_CLASS = 256
ZERO_KEY = "zeros.threshold"  # its array in transforms.npz
UPPER_KEY = "upper.bound"  # the per-gene ceiling of generated values on the model's scale, in transforms.npz
UPPER_MARGIN = 3.0
"""How far past its gene's largest training value a generated value may go, in units of the model's scale (the
training standard deviation with the default scaler), and in log2 units on log-scale data (:meth:`Generator.
_upper_bound`): a draw there lies past anything the data held, and on a log scale each further unit multiplies
the value in the data's units."""
CONSTANT_KEYS = ("constant.index", "constant.value")  # the genes at one value in every training profile, and those
#: per class and gene, the value of a gene at one value in every training profile of the class (NaN elsewhere), in
#: transforms.npz
CLASS_CONSTANT_KEY = "constant.per_class"
#: the fewest training profiles of a class whose shared values are placed: two profiles of whole-number counts share
#: low counts by chance, and every value two profiles share, placed in all the class's samples, pulls them toward
#: those two training profiles
CLASS_CONSTANT_MIN = 3
_LOADED = [f for f in RUN_FILES if not f.endswith(".pt")]  # what load reads (checkpoints: on resume)


def load(run_dir: str | Path, *, device: str = "auto") -> "Generator":
    """Load any saved generator from its run folder (the model name is read from ``config.toml``)."""
    run_dir = as_path(run_dir, "load: the run folder", error=ConfigError)
    cfg_path = run_dir / "config.toml"
    if not cfg_path.is_file():
        raise RunDirError(f"{run_dir} is not an rnagen run folder (no config.toml); train a model into it first")
    with reading(cfg_path, fix=_LOAD_FIX):  # the model's load verifies the manifest
        name = read_toml(cfg_path).get("model")
        if not name:
            raise RunDirError(f"{cfg_path} does not name its model; {_LOAD_FIX}")
        if name == "reconstruct":   # what `rnagen reconstruct fit` writes there
            raise RunDirError(f"{run_dir} holds a reconstructor (rnagen reconstruct fit), not a generator: apply it "
                              f"with rnagen reconstruct apply {run_dir} ..., or give a generator's run folder")
        cls = get_model(name)
    return cls.load(run_dir, device=device)


#: Profiles one call may ask for (a bound that keeps the integer arithmetic exact; memory is checked too).
_MAX_PROFILES = f"[1, {2**40}]"


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``weights`` that sum exactly to ``total``."""
    w = np.asarray(weights, dtype=np.float64)
    share = total * w / w.sum()
    base = np.floor(share).astype(np.int64)
    rest = total - int(base.sum())
    order = np.argsort(-(share - base), kind="stable")
    base[order[:rest]] += 1
    return base


def label_plan(
    labels: Sequence[str],
    train_counts: np.ndarray,
    *,
    n: int | None = None,
    n_per_label: int | None = None,
    like: Any = None,
    label_key: str | None = None,
    counts: Mapping[str, int] | None = None,
    n_genes: int | None = None,
) -> np.ndarray:
    """Class ids to generate, in label order.

    Exactly one of: ``n`` (split by the training label frequencies, largest remainder), ``n_per_label``,
    ``like`` (an AnnData or a data file whose ``obs[label_key]`` counts are matched, or a table of samples and
    their classes with a column headed ``label_key``), ``counts`` (``{label: count}``). Given ``n_genes``, a plan
    whose float32 output would not fit in this machine's memory is refused before anything is allocated.
    """
    given = [x is not None for x in (n, n_per_label, like, counts)]
    if sum(given) != 1:
        raise ConfigError("say how many profiles to generate: exactly one of --n, --n-per-label or --like")
    labels = [label_text(lab) for lab in labels]
    index = {lab: i for i, lab in enumerate(labels)}
    if n is not None:
        per = _largest_remainder(check_number("n", n, _MAX_PROFILES, integer=True), train_counts)
    elif n_per_label is not None:
        per = np.full(len(labels), check_number("n_per_label", n_per_label, _MAX_PROFILES, integer=True),
                      dtype=np.int64)
    else:
        if like is not None:
            if isinstance(like, (str, Path)):
                from .. import datasets
                from ..data import read

                if datasets.is_bundled(like):   # a shipped data set, by name
                    like = datasets.load(str(like))
                elif not Path(like).is_file():
                    raise DataError(f"like: {str(like)!r} is not a file; give the real data (.h5ad, CSV/TSV, GCT "
                                    f"or parquet) whose {label_key!r} counts to match")
                else:
                    try:
                        like = read(like, label_key=label_key)
                    except DataError as e:
                        # only the label counts matter: a table of sample ids and classes, no expression values
                        # (a --labels file), is read as its column headed by the model's label column
                        counts = _label_table_counts(Path(like), label_key)
                        if counts is None and f"label column {label_key!r} not found" not in str(e):
                            raise DataError(f"like: {e}") from None
                        if counts is None:
                            like = read(like)   # read again without it, to name the columns it has
            if counts is None:
                if not hasattr(like, "obs"):
                    raise DataError(f"like: give an AnnData or a data file whose {label_key!r} counts to match, not "
                                    f"{type(like).__name__} (or pass counts={{class: n}})")
                if label_key not in like.obs:
                    cols = ", ".join(str(c)[:30] for c in list(like.obs.columns)[:10]) or "none"
                    raise DataError(f"like: the reference data have no column {label_key!r}, the model's label "
                                    f"column (their columns: {cols}); give data labelled as the training data were, or "
                                    "say how many: --n-per-label N (N of every label), --n N (the training mix)")
                counts = like.obs[label_key].astype(str).map(label_text).value_counts().to_dict()
        assert counts is not None  # neither n nor n_per_label: counts were given or read from ``like``
        if not isinstance(counts, Mapping):
            raise ConfigError(f"counts must be a dict of label -> number of profiles, not {type(counts).__name__}; "
                              "or say how many with n (the training mix) or n_per_label")
        texts = Counter(label_text(k) for k in counts)   # a model's labels are text ("1" for 1)
        if twice := sorted(t for t, c in texts.items() if c > 1):
            raise DataError(f"label(s) {twice[:5]} given more than once, as two forms of one text (composed and "
                            "decomposed Unicode, or a number and its text); give each label's count once")
        counts = {label_text(k): v for k, v in counts.items()}
        # numeric classes written another way (1.0 for 1, as a float column holds them): the model's label
        aliases = numeric_label_aliases(counts, labels)
        counts = {aliases.get(k, k): v for k, v in counts.items()}
        unknown = sorted(set(counts) - set(index))
        if unknown:
            folded = {folded_label(x) for x in labels}
            hint = ("; they differ from the model's only in case or spacing: write them as the training data does"
                    if any(folded_label(u) in folded for u in unknown) else "")
            raise DataError(
                f"unknown label(s) {unknown[:5]} (the model was trained on {len(labels)} labels: "
                f"{', '.join(labels[:8])}{', ...' if len(labels) > 8 else ''}){hint}"
            )
        per = np.zeros(len(labels), dtype=np.int64)
        for lab, c in counts.items():
            per[index[lab]] = check_number(f"count of label {lab!r}", c, ">= 0", integer=True)
        if per.sum() < 1:
            raise DataError("the requested label counts add up to 0 profiles; ask for at least one")
    if n_genes is not None:
        _check_output_fits(int(per.sum()), n_genes)
    return np.repeat(np.arange(len(labels), dtype=np.int64), per)


def _label_table_counts(path: Path, label_key: str | None) -> dict[str, int] | None:
    """The class counts of ``path`` read as a label table (:func:`rnagen.data.io.label_column_counts`), ``None``
    where it is none with a column headed ``label_key`` (a label row without a class is an error)."""
    from ..data.io import label_column_counts

    if label_key is None:
        return None
    try:
        return label_column_counts(path, label_key)
    except DataError as e:
        raise DataError(f"like: {e}") from None


def _check_save_target(run_dir: Path) -> None:
    """Refuse to save a model among files it did not write: another run (of any model), a reconstructor, a
    benchmark, or a config.toml of the user's own (``fit(run_dir=...)`` refuses the same folders)."""
    kind, model = folder_kind(run_dir)
    present = [f for f in (*RUN_FILES, MANIFEST) if (run_dir / f).exists()]
    what = {"benchmark": "a benchmark (bench.json)", "reconstructor": "a reconstructor (rnagen reconstruct fit)",
            "own": "a config.toml of your own", "unreadable": "a config.toml that is not TOML",
            "run": f"a {model!r} run"}.get(str(kind))
    if what is None and present:
        what = "run files (" + ", ".join(present) + ")"
    if what is not None:
        raise RunDirError(f"{run_dir} holds {what}, which saving would overwrite; save into a new folder")


def _finished(run_dir: Path, *, fix: str) -> bool:
    """Whether the run folder's final save completed: ``meta.json`` written and the manifest of the saved model
    (written last, naming the model) covering the weights; a folder of an rnagen without manifests counts by its
    ``meta.json``. A kill between the weights and the manifest leaves an unfinished run, resumed from its
    checkpoint."""
    from .._manifest import read_manifest

    if not (run_dir / "meta.json").is_file():
        return False
    m = read_manifest(run_dir, fix=fix)
    return m is None or ("model" in m and "weights.safetensors" in m["files"] and "meta.json" in m["files"])


def _config_diff(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> str:
    """The first differing dotted keys of two configuration dicts, as ``key: old -> new``."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            sub = _config_diff(a, b, f"{prefix}{k}.")
            if sub:
                out.append(sub)
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return ", ".join(out[:3]) + (", ..." if len(out) > 3 else "")


_META_KEYS = {"model": str, "label_key": str, "labels": list, "label_counts": list, "n_train": int, "n_genes": int,
              "pipeline": list}


def _read_meta(path: Path) -> dict[str, Any]:
    """``meta.json`` with its required keys and their types checked (``ValueError`` names the first problem)."""
    meta = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise ValueError("not a JSON object")
    for key, tp in _META_KEYS.items():
        if key not in meta:
            raise ValueError(f"no {key!r} entry")
        if not isinstance(meta[key], tp) or isinstance(meta[key], bool):
            raise ValueError(f"{key!r} is not a {tp.__name__}")
    if len(meta["labels"]) != len(meta["label_counts"]) or not meta["labels"]:
        raise ValueError("'labels' and 'label_counts' disagree")
    return meta


def batch_rows(batch_size: int, n_genes: int) -> int:
    """The profiles ``sample`` handles at once: ``batch_size``, cut to :data:`SAMPLE_BATCH_VALUES` values of
    ``n_genes`` genes each (at least one profile); the same for the same arguments, so a seed and batch size
    still reproduce a set."""
    return int(max(1, min(int(batch_size), SAMPLE_BATCH_VALUES // max(int(n_genes), 1))))


def _check_output_fits(n: int, n_genes: int) -> None:
    """Refuse a request whose float32 output array alone exceeds this machine's physical memory."""
    from ..utils import physical_memory

    need = 4 * n * max(n_genes, 1)
    total = physical_memory()
    if total is None:  # not available on this platform: let the allocation decide
        return
    if need > total:
        raise ConfigError(f"{n} profiles x {n_genes} genes need {need / 2**30:.1f} GiB for the output alone, more "
                          f"than this machine's {total / 2**30:.1f} GiB; ask for fewer profiles")


def _check_finite(X: np.ndarray, what: str, fix: str, *, rows: int = 4096) -> None:
    """Refuse NaN or infinite values in ``X`` (written out, they fail every later step far from their cause);
    checked ``rows`` at a time, so the check holds no mask of the whole output."""
    values = profiles = 0
    for start in range(0, len(X), rows):
        bad = ~np.isfinite(X[start:start + rows])
        values += int(bad.sum())
        profiles += int(bad.any(axis=1).sum())
    if values:
        raise DivergedError(f"the {what} hold {values} NaN or infinite values ({profiles} of {len(X)} profiles): "
                            f"{fix}")


def far_values(Z: np.ndarray, n_train: int, *, rows: int = 4096) -> dict[str, float] | None:
    """Generated values far outside anything training data can hold, in the model's standardised space: beyond
    ``max(50, 3 sqrt(n))`` training standard deviations of their gene's mean (a gene expressed in one of ``n``
    profiles reaches ``sqrt(n - 1)``). A model whose training diverged without a non-finite loss (a GAN at too
    high a rate) makes such values; returns their share, the largest distance and the threshold, or ``None``
    when there are none. Checked ``rows`` at a time."""
    thr = max(50.0, 3.0 * math.sqrt(max(n_train, 1)))
    n = top = 0.0
    for start in range(0, len(Z), rows):
        a = np.abs(Z[start:start + rows])
        n += float((a > thr).sum())
        top = max(top, float(a.max(initial=0.0)))
    if not n:
        return None
    return {"share": n / max(Z.size, 1), "max_sd": top, "threshold_sd": thr}


@dataclass
class _FitCopies:
    """The profiles one :meth:`Generator.fit` trains on (``X`` as given to ``_fit``), their sample ids and class
    names, and their copies of one profile (:func:`rnagen.pp.copies.copy_labels`) once found
    (:meth:`Generator._copy_groups`)."""

    X: np.ndarray
    names: Sequence[str]
    classes: np.ndarray
    groups: np.ndarray | None = None


#: the folder in a run folder holding the run ``train --no-resume`` replaces until the new run is saved (put back
#: where the new run fails, or by the next writer of the folder where its process was killed); with ``.tmp``: its
#: files being moved between the two (all of the old run, none of the new), with ``.old``: being deleted
PREVIOUS_RUN = ".rnagen-previous-run"


def _set_aside(run_dir: Path, names: Sequence[str]) -> None:
    """Move the run files ``names`` of ``run_dir`` into its :data:`PREVIOUS_RUN` folder (the caller holds the
    folder's lock): gathered under the ``.tmp`` name, which says they are all the old run's, then renamed."""
    import os

    moving = run_dir / f"{PREVIOUS_RUN}.tmp"
    moving.mkdir()
    for f in names:
        os.replace(run_dir / f, moving / f)
    os.replace(moving, run_dir / PREVIOUS_RUN)


def _put_back(run_dir: Path) -> None:
    """The run :func:`_set_aside` kept, back in ``run_dir`` in place of the new run's files."""
    import os

    for f in (*RUN_FILES, MANIFEST):
        (run_dir / f).unlink(missing_ok=True)
    moving = run_dir / f"{PREVIOUS_RUN}.tmp"
    os.replace(run_dir / PREVIOUS_RUN, moving)
    for kept in sorted(moving.iterdir()):
        os.replace(kept, run_dir / kept.name)
    moving.rmdir()


def _drop_aside(run_dir: Path) -> None:
    """Delete the run :func:`_set_aside` kept, the new one saved: renamed to ``.old`` first, so that a kill while
    it is deleted leaves no part of it to put back over the new run."""
    import os
    import shutil

    if (run_dir / PREVIOUS_RUN).is_dir():
        os.replace(run_dir / PREVIOUS_RUN, run_dir / f"{PREVIOUS_RUN}.old")
    shutil.rmtree(run_dir / f"{PREVIOUS_RUN}.old", ignore_errors=True)


def _recover_aside(run_dir: Path) -> None:
    """What a ``train --no-resume`` killed in ``run_dir`` left (the caller holds the folder's lock): the run it was
    replacing put back, whole, as if that command had not run; a run saved before the kill kept."""
    import shutil

    moving = run_dir / f"{PREVIOUS_RUN}.tmp"
    if (run_dir / PREVIOUS_RUN).is_dir():
        _put_back(run_dir)
        remove_stale_temporaries(run_dir)   # the killed run's, of files it no longer writes
    elif moving.is_dir():   # killed while the files moved: the folder and it hold the old run between them
        import os

        for kept in sorted(moving.iterdir()):
            os.replace(kept, run_dir / kept.name)
        moving.rmdir()
    shutil.rmtree(run_dir / f"{PREVIOUS_RUN}.old", ignore_errors=True)


class Generator(ABC):
    """Base class of every conditional generator (see the module docstring for the contract)."""

    name: ClassVar[str] = ""
    config_cls: ClassVar[type]
    uses_torch: ClassVar[bool] = True
    supports_space: ClassVar[bool] = False
    """Whether the model can learn in a principal-component space (``preprocess.space``)."""
    _fingerprint: str = ""  # of the training data and configuration (see ``fingerprint``), saved with the run

    def __init__(self, config: Any = None):
        self.config: Any = config if config is not None else self.config_cls()
        require_config(self.config, self.config_cls, self.name)
        self.var_names: list[str] = []
        self.label_key: str | None = None
        self.labels: list[str] = []
        self.label_counts = np.zeros(0, dtype=np.int64)
        self.pipeline: Pipeline | None = None
        self.device: torch.device | None = None  # set by fit/load; None for models that do not use torch
        self.history: list[dict[str, float]] = []
        self.validation: dict[str, Any] | None = None  # how the training length was chosen (train.validation)
        self.privacy: dict[str, Any] | None = None  # the DP guarantee and settings of a private run
        # per class and gene, the network output at or below which a sample is 0 (``preprocess.zeros``)
        self.zero_threshold: np.ndarray | None = None
        #: per gene, the largest value generated on the model's scale (:meth:`_upper_bound`; ``None`` for a
        #: private model: the training maximum is a statistic of the data outside ε)
        self.upper: np.ndarray | None = None
        #: genes at one value in every training profile (their indices, their value): sampled at that value,
        #: which a model's own output reaches only up to its error (a diffusion network spreads it)
        self.constant: tuple[np.ndarray, np.ndarray] | None = None
        #: per class and gene (classes x genes), the value of a gene at one value in every training profile of the
        #: class, NaN where the class's values vary: that class's samples take it, as its exact zeros are placed
        #: (a value a pipeline clipped or imputed, a detection limit); ``None`` where no class has one, and for a
        #: private model (the value would be released without noise)
        self.class_constant: np.ndarray | None = None
        #: whether every training value is a whole number (read counts), which ``sample(round_values=True)``
        #: checks; ``None`` where not recorded (a private model: the data's own property is not released)
        self.whole_numbers: bool | None = None
        #: the training data's log state (recorded, or as preprocess.log decided it), written into every
        #: synthetic set: values in the data's units on the data's scale, which evaluate must not guess anew
        self.data_log: dict[str, Any] | None = None
        #: the training data's sequencing-depth normalisation as its history records it
        #: (:func:`rnagen.pp.history.depth_normalisation`: the method chosen, no statistic of the profiles), which the
        #: samples carry; ``None`` where the data's history says nothing
        self.data_depth: dict[str, str] | None = None
        # the principal-component space the network learns in (``preprocess.space``) and how it was chosen
        self.codec: SubspaceCodec | None = None
        self.subspace: dict[str, Any] | None = None
        #: why ``preprocess.space=auto`` kept the genes where the held-out profiles lie outside the training span
        self.space_note: str | None = None
        #: the ``[train]`` settings of a fixed-length run that ``preprocess.space=auto`` validates instead
        #: (:meth:`_choose_space`); ``None``: the configured ones
        self._validated_train: Any = None
        #: the profiles of the fit in progress and their copies, found once for all its steps (:meth:`_copy_groups`)
        self._fit_copies: _FitCopies | None = None
        self._check_zeros_setting()
        self._check_space_setting()
        self.train_seconds = 0.0
        self.n_train = 0
        self.seed = 0
        self.is_fitted = False
        #: the private settings :meth:`from_config` applied on top of the configuration given (key: value)
        self.private_settings_applied: dict[str, Any] = {}
        #: the run folder this model was trained into, loaded from or saved to: ``save`` may rewrite it
        self._run_dir: Path | None = None

    # ----------------------------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, toml: Any = None, overrides: Any = None, *, private_defaults: bool = True) -> "Generator":
        """Build from a TOML file/dict and ``key=value`` overrides on top of the dataclass defaults.

        A private configuration (``privacy.epsilon`` or ``privacy.noise_multiplier`` set) takes each of the model's
        private settings (:data:`rnagen.models.PRIVATE_SETTINGS`: a fixed length, a smaller network, ...) that
        ``toml`` and ``overrides`` do not set themselves, unless ``private_defaults=False``; the keys applied are
        in :attr:`private_settings_applied`. A configuration built by hand and passed to the constructor is taken
        as it is.
        """
        from ._private import private_defaults as settings_for

        if isinstance(toml, (str, Path)):
            toml = cls._config_file(toml)
        elif isinstance(toml, Mapping) and toml.get("model", cls.name) != cls.name:
            raise ConfigError(f"the configuration is for model {toml['model']!r}, not {cls.name!r}; build it with "
                              f"get_model({toml['model']!r})")
        cfg: Any = build_config(cls.config_cls, toml=toml, overrides=overrides)
        applied = settings_for(cls.name, cfg, given_keys(toml, overrides)) if private_defaults else {}
        if applied:
            cfg = build_config(cls.config_cls, overrides=applied, base=cfg)
        model = cls(cfg)
        model.private_settings_applied = applied
        return model

    @classmethod
    def _config_file(cls, path: str | Path) -> dict[str, Any]:
        """A TOML configuration file's contents, refused when it names another model."""
        data = read_toml(path)
        if data.get("model", cls.name) != cls.name:
            raise ConfigError(f"config file {path} is for model {data['model']!r}, not {cls.name!r}")
        return data

    def _check_zeros_setting(self) -> None:
        """Refuse ``preprocess.zeros=match`` (or ``mirror``) with privacy: it reads per-class statistics outside the
        guarantee."""
        pre: PreprocessConfig = self.config.preprocess
        if pre.zeros in ("match", "mirror") and self._private:
            raise ConfigError(f"preprocess.zeros={pre.zeros} reads each class's share of zeros from the training "
                              "data, which the DP guarantee does not cover; use preprocess.zeros=auto or clip with "
                              "privacy")

    def _check_space_setting(self) -> None:
        """Refuse ``preprocess.space=pca`` for a model without that space or with privacy."""
        if self.config.preprocess.space != "pca":
            return
        if not self.supports_space:
            raise ConfigError(f"preprocess.space=pca: the {self.name} model has no principal-component space "
                              "(diffusion, wgan-gp and vae have); use preprocess.space=auto or genes")
        if self._private:
            raise ConfigError("preprocess.space=pca fits principal directions to the training profiles, outside "
                              "the privacy budget; use preprocess.space=genes (or auto) with privacy")

    def check_privacy_plan(self, n_train: int) -> None:
        """Refuse (:class:`~rnagen.errors.ConfigError`) the private settings that :meth:`fit` on ``n_train``
        profiles would refuse when it plans DP-SGD, before any profile is read or any model trained: the release
        of the statistics the model makes first (:meth:`_privacy_release_share` of ε, by the run's accountant) and
        the noise for the target ε over the fixed step budget (a private run is not validated, so it trains every
        profile for ``train.steps``, or the epochs' count, in expected batches of ``train.batch_size``). A model
        without DP-SGD (the Gaussian's exact mechanism meets any ε) has nothing to check."""
        p, cfg = getattr(self.config, "privacy", None), getattr(self.config, "train", None)
        if p is None or not p.enabled or cfg is None or n_train < 1:
            return
        from ..train.loop import resolve_budget
        from ..train.privacy import DEFAULT_ACCOUNTANT, plan_privacy, release_rho, resolve_delta

        rho, share = 0.0, self._privacy_release_share()
        if share > 0 and p.epsilon is not None:
            rho = release_rho(share * float(p.epsilon), resolve_delta(p.delta, n_train),
                              p.accountant or DEFAULT_ACCOUNTANT)
        batch = min(int(cfg.batch_size), n_train)
        plan_privacy(p, n=n_train, batch_size=batch, steps=resolve_budget(cfg, n_train, batch)[0], prior_rho=rho)

    def _privacy_release_share(self) -> float:
        """The share of ``privacy.epsilon`` a private fit releases as statistics before DP-SGD (0: none)."""
        return 0.0

    def _train_config(self) -> Any:
        """The ``[train]`` settings the run trains with: the configured ones, or those :meth:`_choose_space` set."""
        return self._validated_train if self._validated_train is not None else getattr(self.config, "train", None)

    def _choose_space(self, X: np.ndarray, y: np.ndarray, seed: int, fit_rows: np.ndarray | None = None,
                      groups: np.ndarray | None = None) -> dict[str, Any] | None:
        """``preprocess.space`` resolved: ``None`` for the genes, else the record of why the principal-component
        space is used (``auto``: a held-out share's variance outside the span of the rest of ``X``, on the split
        :func:`~rnagen.train.validation.fit_validated` makes, else a tenth of each class, at least 2 profiles).
        ``fit_rows``: the rows ``fit_validated`` will split, where not all (the WGAN-GP's noise hold-out aside).
        ``groups``: :func:`rnagen.pp.copies.copy_labels` of ``X`` where the caller has them (found here otherwise).

        Where the variance beyond the components is structured, the genes with a validated length: a run of fixed
        length (``train.val_fraction=0``, the VAE's and the WGAN-GP's default) is validated instead
        (:data:`AUTO_VALIDATION`, the step budget from ``train.epochs``, or a ``train.steps`` other than the model's
        default; :meth:`_train_config`), as on the genes
        its fixed budget copies and on the components its samples lie off the data
        (``benchmarks/RESULTS_objectives.md``, "Small real sets: the VAE and the WGAN-GP validated on the genes")."""
        from ..pp.copies import first_of_group
        from ..train.validation import OUTSIDE_SPAN_WARN, outside_span_share, stratified_holdout, validation_holdout
        from ._subspace import choose_components, residual_is_noise

        self.space_note = None
        self._validated_train = None
        y_fit = y if fit_rows is None else y[fit_rows]
        space = self.config.preprocess.space
        if space == "genes" or not self.supports_space or self._private:
            return None
        if space == "pca":
            return {"reason": "preprocess.space=pca"}
        if len(X) - 1 >= X.shape[1]:
            return None  # the training profiles span every direction
        train = getattr(self.config, "train", None)
        frac = train.val_fraction if train is not None and train.val_fraction > 0 else 0.1
        # the split fit_validated makes; on a set too small to validate on, a smaller one: the share outside the
        # span is measured on a few held-out profiles (the widest sets, with the fewest profiles, need it most)
        if groups is None:
            groups = self._copy_groups(X)   # as fit_validated keeps copies of one profile on one side
        g_fit = groups if fit_rows is None else first_of_group(groups[fit_rows], len(fit_rows))
        held = validation_holdout(y, train, seed, groups=groups) if train is not None else None
        validated = held if y_fit is y or train is None else validation_holdout(y_fit, train, seed, groups=g_fit)
        split = (held or stratified_holdout(y, fraction=frac, seed=seed, groups=groups)
                 or stratified_holdout(y, fraction=frac, seed=seed, min_total=2, groups=groups))
        if split is None:
            return None
        share = outside_span_share(X, None, rows=split)
        if share <= OUTSIDE_SPAN_WARN:
            return None
        reason = (f"preprocess.space=auto: {share:.0%} of the held-out profiles' variance lies outside the span of "
                  "the training profiles")
        _, _, rec = choose_components(X, y, self.n_labels, seed=seed, groups=groups)
        if residual_is_noise(rec):
            return {"reason": reason, "outside_span": share}
        k = int(rec["n_components"])
        structured = (f"the variance beyond the {k} principal component{'s' if k != 1 else ''} that carr"
                      f"{'y' if k != 1 else 'ies'} over to held-out profiles is structured (held-out ratio "
                      f"{rec['residual_ratio']:.2f}, noise {rec['noise_ratio']:.2f})")
        if validated is None and train is not None and train.val_fraction <= 0:
            # the default fixed length gives way to a budget from train.epochs; a length the user set stays the
            # budget validation chooses within
            default_steps = getattr(getattr(self.config_cls(), "train", None), "steps", None)
            own = train.steps is not None and train.steps != default_steps
            auto = replace(train, val_fraction=AUTO_VALIDATION["val_fraction"], steps=train.steps if own else None,
                           val_min=min(train.val_min, AUTO_VALIDATION["val_min"]))
            if validation_holdout(y_fit, auto, seed, groups=g_fit) is not None:
                self._validated_train = auto
                within = f" within train.steps={train.steps}" if own else ""
                self.space_note = (f"trained on the genes, its length chosen on held-out profiles{within} instead of "
                                   f"the configured fixed length (train.val_fraction=0), although {share:.0%} of the "
                                   f"held-out profiles' variance lies outside the training span: {structured}, "
                                   "which the principal-component space's per-gene residual would not reproduce "
                                   "(preprocess.space=pca keeps the fixed length on the components)")
                return None
        if validated is None:
            # without validation the genes would train for the whole budget, which reaches copies on such sets
            return {"reason": f"{reason}; warning: {structured}, which the per-gene residual does not reproduce, "
                              "and there are too few profiles to choose a length on the genes",
                    "outside_span": share}
        # the space's per-gene residual would put every sample off the data: the network learns the genes, its
        # length chosen on held-out profiles
        self.space_note = (f"trained on the genes although {share:.0%} of the held-out profiles' variance lies "
                           f"outside the training span: {structured}, which the principal-component space's "
                           "per-gene residual would not reproduce")
        return None

    def _fit_space(self, X: np.ndarray, y: np.ndarray, chosen: dict[str, Any] | None, *, seed: int) -> None:
        """Fit the principal-component space to ``(X, y)`` when ``chosen`` (:meth:`_choose_space`), else none."""
        from ._subspace import fit_subspace

        if chosen is None:
            self.codec, self.subspace = None, None
            return
        self.codec, record = fit_subspace(X, y, self.n_labels, seed=seed, groups=self._copy_groups(X))
        self.subspace = {**chosen, **record}
        if self.device is not None:
            self.codec.to(self.device)

    def _copy_groups(self, X: np.ndarray) -> np.ndarray:
        """:func:`rnagen.pp.copies.copy_labels` of ``X``. For the profiles the fit in progress trains on (``X`` the
        very array :meth:`fit` gave ``_fit``), found on the first call and kept to the fit's end: the validation
        split, the principal-component space's choice and halves, a refit and each member of a mixture share one
        search (a neighbour search over every profile, each a block of rows at a time); copies that carry two
        classes are warned of then, once per fit (:func:`rnagen.pp.copies.warn_mixed_labels`, with their sample
        ids). Another matrix (a part of ``X``, its scores in a fitted space) is searched anew on each call."""
        from ..pp.copies import copy_labels, warn_mixed_labels

        fit = self._fit_copies
        if fit is None or X is not fit.X:
            return copy_labels(X)
        if fit.groups is None:
            fit.groups = copy_labels(X)
            warn_mixed_labels(fit.groups, fit.classes, fit.names, what="the validation split keeps each such "
                              "profile's copies on one side, stratified as its first sample's class")
        return fit.groups

    def _new_codec(self) -> None:
        """An empty codec of the principal-component space :attr:`subspace` records (its arrays are loaded by
        :meth:`_load_space`), built before the networks, whose input it sizes."""
        from ._subspace import SubspaceCodec

        assert self.subspace is not None
        self.codec = SubspaceCodec(self.n_genes, int(self.subspace["n_components"]), self.n_labels)

    def _space_tensors(self) -> dict[str, Any]:
        """The principal-component space's arrays as saved (``subspace.*``; none on the genes)."""
        return {} if self.codec is None else {SUBSPACE_PREFIX + k: v for k, v in self.codec.state_dict().items()}

    def _load_space(self, tensors: Mapping[str, Any]) -> dict[str, Any]:
        """Load the principal-component space's arrays among ``tensors`` (``subspace.*``) into the codec; the
        other tensors. Arrays of a space the run does not record are an error."""
        codec = {k[len(SUBSPACE_PREFIX):]: v for k, v in tensors.items() if k.startswith(SUBSPACE_PREFIX)}
        if self.codec is not None:
            self.codec.load_state_dict(codec)
            self.codec.to(self.device or "cpu")
        elif codec:
            raise ValueError("it holds a principal-component space that meta.json does not describe")
        return {k: v for k, v in tensors.items() if not k.startswith(SUBSPACE_PREFIX)}

    def _encode(self, X: np.ndarray) -> np.ndarray:
        """Profiles (standardised) as the codec's scores, float32."""
        import torch

        assert self.codec is not None
        with torch.no_grad():
            A = torch.from_numpy(np.asarray(X, dtype=np.float32)).to(self.codec.mean.device)
            return self.codec.encode(A).cpu().numpy()

    @property
    def space_dim(self) -> int:
        """The dimension the network learns in: the principal components kept, else the genes."""
        return self.codec.n_components if self.codec is not None else self.n_genes

    def _draw_buffer(self, n: int, decode: bool) -> tuple[np.ndarray, bool]:
        """The float32 output of ``n`` draws and whether they are decoded: in a principal-component space,
        profiles of every gene when ``decode``, else the scores; on the genes, profiles."""
        decode = decode and self.codec is not None
        return np.empty((n, self.n_genes if decode else self.space_dim), dtype=np.float32), decode

    def _decoded(self, x: "torch.Tensor", y: "torch.Tensor", generator: "torch.Generator", decode: bool
                 ) -> "torch.Tensor":
        """A batch of the network's draws ``x`` for classes ``y`` as profiles (``decode`` from
        :meth:`_draw_buffer`: the codec adds each class's residual, drawn from ``generator``) or as they are."""
        if not decode:
            return x
        assert self.codec is not None
        return self.codec.decode(x, y, generator=generator)

    @property
    def _private(self) -> bool:
        """Whether the configuration asks for differential privacy (``privacy.epsilon`` or a noise multiplier)."""
        privacy = getattr(self.config, "privacy", None)
        return bool(privacy is not None and privacy.enabled)

    @property
    def n_genes(self) -> int:
        return len(self.var_names)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    # --- data binding -----------------------------------------------------------------------------------
    def _make_pipeline(self, adata, X: np.ndarray) -> Pipeline:
        pre: PreprocessConfig = self.config.preprocess
        steps: list[str | Transform] = []
        if pre.log == "log2p1":
            st = log_state(adata)
            if st is not None and st.get("logged"):
                # log2 of log values: the model's bounds (UPPER_MARGIN log2 units past the data) and its inverse
                # would be in the wrong units, and its samples log(log) draws put back as if they were counts;
                # rnagen data prepare --log log2p1 refuses the same values
                raise DataError(f"preprocess.log=log2p1 on values the data's record says are log scale already "
                                f"({st.get('transform')}): they would be logged twice; set preprocess.log=auto or "
                                "none (a private run's data-independent preprocessing: preprocess.log=none with "
                                "preprocess.support=nonnegative or any)")
            steps.append("log2p1")
        elif pre.log == "auto":
            st = log_state(adata)
            logged = st["logged"] if st is not None else looks_logged(X, names=(adata.obs_names, adata.var_names))
            if st is not None and logged:
                check_log_record(X)
            if not logged:
                steps.append("log2p1")
            elif st is None and (note := below_one_note(float(X.min()), float(X.max()))):
                import warnings

                warnings.warn(f"{note}; as a model's setting: --set preprocess.log=log2p1", UserWarning, stacklevel=2)
        if pre.support == "nonnegative" and "log2p1" not in steps and X.min() < 0:
            raise DataError(f"preprocess.support=nonnegative but the training data have {_below(X, 0)} "
                            "values below 0; set preprocess.support=auto or any for data that can be negative "
                            "(e.g. z-scores)")
        if "log2p1" not in steps and (pre.support == "nonnegative" or (pre.support == "auto" and X.min() >= 0)):
            steps.insert(0, "nonnegative")
        elif pre.support == "auto" and "log2p1" not in steps and 0 < (neg := _below(X, 0)) <= 1e-3 * X.size:
            # a stray value below 0 in data otherwise at 0 or above (an export's rounding, a typo) takes the bound
            # at 0 away from every generated value: said, with the two ways on
            import warnings

            i, j = np.unravel_index(int(np.argmin(X)), X.shape)
            warnings.warn(f"{neg} of the {X.size} training values are below 0 (the lowest {float(X[i, j]):.3g}, "
                          f"sample {str(adata.obs_names[i])[:30]!r}, gene {str(adata.var_names[j])[:30]!r}) in data "
                          "otherwise at 0 or above, so the generated values are not bounded at 0: set those values "
                          "to 0 if they are errors, or --set preprocess.support=any if the data can be negative",
                          UserWarning, stacklevel=2)
        floor = _point_floor(X) if pre.support == "auto" and "log2p1" not in steps and not self._private else None
        if floor is not None:
            # log2(x + c) data whose unexpressed values sit at log2(c), or values raised to a detection limit:
            # bounded there as log2(x+1) data at 0 (a floor above 0 bounds them above 0 too)
            steps = [Floor(floor), *(s for s in steps if s != "nonnegative")]
        if pre.scaler != "none":
            steps.append(pre.scaler)
        return make_pipeline(steps or ["identity"])

    def _floor(self) -> float:
        """The value the data's point mass sits at: the ``floor`` step's, else 0."""
        return next((float(s.floor) for s in self._fitted_pipeline().steps if isinstance(s, Floor)), 0.0)

    def _bind(self, adata, label_key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Validate ``adata`` and turn it into (transformed float32 X, int64 class ids, each class's share of
        zeros per gene when ``preprocess.zeros`` places them, else ``None``)."""
        if label_key not in adata.obs:
            raise DataError(
                f"no label column {label_key!r} in the data; available columns: {list(adata.obs.columns)} "
                "(choose one with --label-key)"
            )
        X = adata.X
        if hasattr(X, "toarray"):
            X = X.toarray()
        X = exact_values(X)
        if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1:
            raise DataError(f"need a samples x genes matrix with at least 2 samples, got shape {X.shape}; a model "
                            "learns each class's spread from its training profiles: give more samples")
        n_bad, first = 0, None
        for a, b in row_spans(X):
            bad = ~np.isfinite(X[a:b])
            if (k := int(np.count_nonzero(bad))) and first is None:
                first = np.argwhere(bad)[0] + (a, 0)
            n_bad += k
        if first is not None:
            r, c = first
            raise DataError(
                f"the data contain {n_bad} NaN/inf values (first: sample {adata.obs_names[r]!r}, "
                f"gene {adata.var_names[c]!r}); impute or drop them before training"
            )
        if not adata.var_names.is_unique:
            dup = adata.var_names[adata.var_names.duplicated()][:3].tolist()
            raise DataError(f"duplicated gene ids {dup}; make var_names unique before training")
        # missing labels, classes of one sample (at most 8 named), a continuous column (age) taken for classes
        check_labels(adata, label_key, min_per_class=2)
        lab = adata.obs[label_key].astype(str).map(label_text)
        counts = lab.value_counts()
        col = adata.obs[label_key]
        if isinstance(col.dtype, pd.CategoricalDtype):  # keep the user's category order, drop unused ones
            cats = (label_text(c) for c in col.cat.categories)
            self.labels = list(dict.fromkeys(c for c in cats if c in counts.index))
        else:
            self.labels = sorted(counts.index)
        index = {c: i for i, c in enumerate(self.labels)}
        y = lab.map(index).to_numpy(dtype=np.int64)
        self.label_counts = np.bincount(y, minlength=len(self.labels)).astype(np.int64)
        self._fingerprint = self.fingerprint(X, y)   # of the data as given (a fitted transform may vary in its
        # last bits between processes)
        self.label_key = label_key
        self.var_names = [str(v) for v in adata.var_names]
        self.n_train = int(X.shape[0])
        self.pipeline = self._make_pipeline(adata, X)
        self.data_log = self._data_log(adata)
        self.data_depth = depth_normalisation(adata)
        same = np.flatnonzero(_same_in_all_rows(X)) if not self._private else np.zeros(0, np.int64)
        self.constant = (same.astype(np.int64), X[0, same].astype(np.float32)) if len(same) else None
        self.class_constant = self._class_constants(X, y, same) if not self._private else None
        self.whole_numbers = None if self._private else all(
            np.array_equal(X[a:b], np.rint(X[a:b])) for a, b in row_spans(X))
        share = self._zero_shares(X, y)
        Xt, top = self.pipeline.fit_transform_columns(X)
        self.upper = None if self._private else self._upper_bound(X, top)
        return Xt, y, share

    def _class_constants(self, X: np.ndarray, y: np.ndarray, same: np.ndarray) -> np.ndarray | None:
        """Per class and gene, the value of a gene at one value in all the class's training profiles, NaN where
        they vary, the gene is at one value in every profile (``same``: :attr:`constant` places it) or the class
        has fewer than :data:`CLASS_CONSTANT_MIN` profiles; ``None`` where no class has such a gene. A per-class
        model spreads it (a Gaussian's shrunk variance, a network's error), which the data do not."""
        out = np.full((self.n_labels, X.shape[1]), np.nan, dtype=np.float32)
        for c in range(self.n_labels):
            Xc = X[y == c]
            if len(Xc) < CLASS_CONSTANT_MIN:
                continue
            flat = (Xc == Xc[0]).all(axis=0)
            out[c, flat] = Xc[0, flat]
        out[:, same] = np.nan
        return out if not np.isnan(out).all() else None

    def _upper_bound(self, X: np.ndarray, top: np.ndarray) -> np.ndarray:
        """Per gene, the largest value to generate on the model's scale (``top``: each gene's largest training
        value on that scale, ``X``: the training values): :data:`UPPER_MARGIN` training standard
        deviations past the largest training value and, where the values are on a log2 scale (a log2(x+1) step,
        or data recorded as logged), :data:`UPPER_MARGIN` log2 units past it (8 times the largest value; in the
        record's units where it names another base, ``UPPER_MARGIN / log2(base)``: about 2.08 for the natural
        log), the lower of the two: a gene whose values span orders of magnitude has a standard deviation of
        several log2 units, three of which are no bound in its units."""
        upper = np.asarray(top, dtype=np.float64) + UPPER_MARGIN
        top = X.max(axis=0).astype(np.float64)
        if "log2p1" in self._fitted_pipeline().spec.split("+"):
            ceiling = (top + 1.0) * 2.0 ** UPPER_MARGIN - 1.0
        elif (self.data_log or {}).get("logged") is True:
            base = log_base(self.data_log)
            ceiling = top + UPPER_MARGIN / (math.log2(base) if base is not None else 1.0)
        else:
            return upper.astype(np.float32)
        in_model = self._fitted_pipeline().transform(ceiling[None, :])[0]
        return np.minimum(upper, in_model).astype(np.float32)

    def _data_log(self, adata=None) -> dict[str, Any] | None:
        """The training data's log state: as recorded, else as the pipeline took it (a log2(x+1) step: linear
        values; ``preprocess.log=auto`` without one: log values); ``None`` under ``preprocess.log=none`` without a
        record (the values' scale was never decided). Without ``adata`` (a run saved before it was recorded), the
        pipeline's alone."""
        st = log_state(adata) if adata is not None else None
        if st is not None:
            pc = st.get("pseudocount")
            pc = float(pc) if isinstance(pc, (int, float, np.floating)) and np.isfinite(pc) else None
            base = log_base(st)
            return {"logged": bool(st["logged"]), "transform": str(st.get("transform", "")),
                    **({"pseudocount": pc} if pc is not None else {}), **({"base": base} if base is not None else {})}
        if "log2p1" in self._fitted_pipeline().spec.split("+"):
            return {"logged": False, "transform": "linear (the training data's scale; the model logged them)"}
        if self.config.preprocess.log == "auto":
            return {"logged": True, "transform": "log scale (the training data's, read from their values)"}
        return None

    def _zero_shares(self, X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """Each class's share of training values at exactly 0, per gene (classes x genes), when
        ``preprocess.zeros`` places them: the pipeline bounds the data at 0 and some value is 0; else ``None``."""
        zeros = self.config.preprocess.zeros
        bounded = any(s.kind in ("nonnegative", "log2p1", "floor") for s in self._fitted_pipeline().steps)
        if zeros == "clip" or (zeros == "auto" and self._private) or not bounded:
            return None
        floor = self._floor()
        at0 = np.zeros((self.n_labels, X.shape[1]), dtype=np.int64)   # per class and gene, the values at it
        for a, b in row_spans(X):
            hit, yb = X[a:b] == floor, y[a:b]
            for c in np.unique(yb):
                at0[c] += np.count_nonzero(hit[yb == c], axis=0)
        if not at0.any():
            return None
        return at0 / self.label_counts[:, None]

    def _edge_in_model_units(self) -> np.ndarray | None:
        """Per gene, the support's edge (0, or the ``floor`` step's value) in the network's units: the bound pushed
        through the steps after it (a scaler, monotone per gene); ``None`` where the pipeline bounds nothing."""
        pipeline = self._fitted_pipeline()
        if not any(s.kind in ("nonnegative", "log2p1", "floor") for s in pipeline.steps):
            return None
        return np.asarray(pipeline.transform(np.full((1, self.n_genes), self._floor())), dtype=np.float32)[0]

    @staticmethod
    def _reflect_below_edge(Z: np.ndarray, threshold: np.ndarray, edge: np.ndarray) -> None:
        """``preprocess.zeros=mirror``: with each class's zeros placed (``threshold``: each row's class's), the
        network's mass below the support's edge in a class and gene without zeros mirrored above the edge, in
        place: clipped, it would give the class 0s it never has; a boundary-corrected kernel density reflects the
        mass it would put past the boundary so (Schuster 1985). Where the class has zeros, the mass between its
        threshold and the edge stays clipped: it is the network's spread of those zeros."""
        below = (Z < edge) & np.isneginf(threshold)
        if below.any():
            Z[below] = (2 * np.broadcast_to(edge, Z.shape) - Z)[below]

    def _calibrate_zeros(self, share: np.ndarray) -> np.ndarray:
        """Per class and gene, the network output whose quantile in a calibration draw is the class's share of
        zeros (``preprocess.zeros=match``): ``-inf`` where the class has none, ``inf`` where it has only zeros.
        The draw is seeded from the run's seed, one class at a time (its memory stays one class's draw)."""
        n = ZERO_CALIBRATION_PER_CLASS
        genes = np.arange(self.n_genes)
        rank = np.clip(np.ceil(share * n).astype(np.int64) - 1, 0, n - 1)
        threshold = np.full(share.shape, -np.inf, dtype=np.float32)
        for c in range(self.n_labels):
            if not (share[c] > 0).any():
                continue
            seed = (self.seed + 7919 * (c + 1)) % (SEED_MAX + 1)
            Z = np.asarray(self._sample(np.full(n, c, dtype=np.int64), seed=seed, batch_size=4096, progress=False),
                           dtype=np.float32)
            Z.sort(axis=0)
            threshold[c] = np.where(share[c] > 0, Z[rank[c], genes], -np.inf)
            threshold[c][share[c] >= 1] = np.inf
        return threshold

    # --- public API ---------------------------------------------------------------------------------------
    def fit(self, adata, *, label_key: str, seed: int = 0, device: str = "auto", run_dir: str | Path | None = None,
            progress: bool = True, resume: bool = True) -> "Generator":
        """Train on ``adata`` conditioned on ``adata.obs[label_key]``.

        Parameters
        ----------
        adata
            Samples x genes AnnData in the user's units.
        label_key
            Column of ``adata.obs`` holding the class (tissue, cancer type, ...).
        seed
            Seed of every random choice in training.
        device
            ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        run_dir
            If given, checkpoints go there during training (resumed after an interruption when ``resume``)
            and the trained model is saved there, under the folder's write lock (a second writer is refused).
        resume
            Continue an interrupted run in ``run_dir`` with the same model, configuration and data. A finished
            run, or one with other settings, is refused before anything in the folder changes; ``False``
            (``--no-resume``) starts over, the old run's files kept aside until the new run is saved and put
            back if it fails (:func:`_set_aside`).
        progress
            Show the training progress (a bar with the loss; the validation checks' scores).

        Returns
        -------
        Generator
            ``self``, fitted.
        """
        from ..train.distributed import dist_info
        from ..utils import check_device, resolve_device

        seed = check_seed("seed", seed)
        check_device(device)
        require_anndata(adata, "fit")
        check_label_key(label_key)
        # scanpy's record of the log (uns["log1p"]) of an AnnData given in memory, taken as a file's is on reading:
        # the base of the values, which their range cannot tell (the caller's object unchanged)
        adata = with_scanpy_log1p(adata, "the training data")
        if run_dir is not None:
            run_dir = as_path(run_dir, "fit: run_dir", error=ConfigError)
        # from here the model's fields are rebound one by one: a fit that fails part-way leaves a model that
        # says it is not fitted, not the old weights under the new data's names
        self.is_fitted = False
        self.train_seconds = 0.0   # the models that time their own loop set it in _fit
        X, y, zero_share = self._bind(adata, label_key)
        from ..pp.preprocess import near_duplicate_labels

        if twins := near_duplicate_labels(adata.obs[label_key]):
            # a label column typed by hand: most likely one class each, which would be generated apart
            import warnings

            shown = ", ".join("/".join(repr(x) for x in g) for g in twins[:3]) + (", ..." if len(twins) > 3 else "")
            warnings.warn(f"classes that differ only in case or spacing are trained as separate classes ({shown}); "
                          "make them one label if they are one class", UserWarning, stacklevel=2)
        counts = pd.Series(np.asarray(y)).value_counts()
        if self.uses_torch and len(counts) > 1 and (rare := counts[counts < RARE_CLASS_SHARE * len(y)]).size:
            # a network sees such a class in few batches (train.rare_share draws it more often, not in a private
            # run) and learns it from few profiles, and the validation hold-out (a share of each class) holds
            # little or none of it to show how well
            import warnings

            shown = ", ".join(f"{self.labels[int(c)]!r} ({int(n)})" for c, n in list(rare.items())[:3])
            train = self._train_config()
            drawn = (f"drawn into the batches as often as a class of {100 * train.rare_share:g}% "
                     "(train.rare_share), " if train is not None and train.rare_share > 0 and not self._private
                     else "")
            warnings.warn(f"{len(rare)} class(es) hold under {100 * RARE_CLASS_SHARE:g}% of the {len(y)} training "
                          f"profiles ({shown}{', ...' if len(rare) > 3 else ''}): {drawn}the {self.name} model learns "
                          "them from few profiles, which validation barely sees; compare their samples with the "
                          "per-class Gaussian's (--model gaussian), which fits each class on its own", UserWarning,
                          stacklevel=2)
        self.seed = int(seed)
        # a resume continues the same random streams: the seed is part of what a checkpoint must match
        self._fingerprint = f"{self._fingerprint}-seed{self.seed}"
        # a CUDA device this machine lacks is refused for every model, the NumPy ones too (which run on the CPU)
        resolved = resolve_device(device)
        self.device = resolved if self.uses_torch else None
        info = dist_info()
        if self.device is not None and self.device.type == "cuda" and info.enabled and self.device.index is None:
            # one GPU per torchrun process: rank r on cuda:LOCAL_RANK, before any network is built
            import torch

            self.device = torch.device("cuda", info.local_rank)
            torch.cuda.set_device(self.device)
        # the folder this process writes: under torchrun only rank 0 writes the run folder
        out = Path(run_dir) if run_dir is not None and info.is_main else None
        if out is not None:
            check_output(out, kind="dir", option="run folder")
        with writer_lock(out, kind="dir") if out is not None else contextlib.nullcontext():
            if out is not None:
                self._prepare_run_folder(out, resume=resume)
            try:
                if out is not None:
                    # configuration first, so an interrupted run folder says what it was doing
                    write_config(out / "config.toml", self.config, model=self.name)
                t0 = time.perf_counter()
                self._fit_copies = _FitCopies(X, list(map(str, adata.obs_names)), np.asarray(self.labels)[y])
                try:
                    self._fit(X, y, seed=self.seed, run_dir=Path(run_dir) if run_dir is not None else None,
                              progress=progress, resume=resume)
                finally:
                    self._fit_copies = None   # the model keeps no reference to the training profiles
                if self.subspace is not None and isinstance(self.validation, dict):
                    self.validation["subspace"] = {k: self.subspace[k] for k in ("n_components", "kept_share",
                                                                                 "reason")}
                elif self.space_note is not None and isinstance(self.validation, dict):
                    self.validation["space_note"] = self.space_note
                self.zero_threshold = self._calibrate_zeros(zero_share) if zero_share is not None else None
                if not self.train_seconds:
                    self.train_seconds = time.perf_counter() - t0
                self.is_fitted = True
                if out is not None:
                    self._run_dir = out.resolve()   # prepared above for this run
                    self.save(out)
            except BaseException as e:
                if out is not None and (out / PREVIOUS_RUN).is_dir():
                    # the run --no-resume was replacing: back in place, the new run's files gone
                    _put_back(out)
                elif out is not None and not (out / "checkpoint.pt").exists():
                    # nothing to resume from (no checkpoint): leave no half-written run folder behind
                    for f in (*RUN_FILES, MANIFEST):
                        (out / f).unlink(missing_ok=True)
                elif out is not None and isinstance(e, OutputError):
                    # a write refused (a full disk) after a checkpoint: the folder left is this run's, resumable
                    again = "the same command again" if resume else "the command again without --no-resume"
                    raise OutputError(f"{e}; {out} keeps the run's last checkpoint: run {again} to resume from "
                                      "it") from None
                raise
            if out is not None:
                _drop_aside(out)
        return self

    def _prepare_run_folder(self, run_dir: Path, *, resume: bool) -> None:
        """Compare an existing run folder with this run before anything in it changes (caller holds its lock).

        Resumable (same model, configuration and data, unfinished): kept. Finished, or other settings:
        refused, unless ``resume`` is false, which deletes the old run's files. A folder holding no trained
        state (at most ``config.toml``) is simply reused.
        """
        _recover_aside(run_dir)
        kind, _ = folder_kind(run_dir)
        if kind == "benchmark":
            raise RunDirError(f"{run_dir} is a benchmark folder (bench.json); train into a new --out")
        present = [f for f in (*RUN_FILES, MANIFEST) if (run_dir / f).exists()]
        trained = [f for f in ("checkpoint.pt", "weights.safetensors") if f in present]
        cfg_path = run_dir / "config.toml"
        if present and not cfg_path.is_file():
            raise RunDirError(f"{run_dir} holds {', '.join(present)} but no config.toml: not an rnagen run folder; "
                              "choose a new --out")
        if kind == "own" and not trained:
            # every run's config.toml names its model: this one is the user's own (a --config), and training
            # would overwrite it and the files beside it
            mine = ", ".join(present)
            raise RunDirError(f"{run_dir} holds files of your own ({mine}; that config.toml names no model, so it is "
                              "no run's) that training would overwrite; choose a new --out")
        if kind == "reconstructor":
            raise RunDirError(f"{run_dir} holds a reconstructor (rnagen reconstruct fit); choose a new --out")
        if kind == "unreadable":
            # every run's config.toml is TOML naming its model, written whole: this one is a file of the user's
            raise RunDirError(f"{run_dir} holds a config.toml that is not TOML (no run's: a file of your own?) that "
                              "training would overwrite; choose a new --out")
        if not resume:
            remove_stale_temporaries(run_dir)
            if any(f != "config.toml" for f in present):
                _set_aside(run_dir, present)
            return
        if not trained:
            remove_stale_temporaries(run_dir)
            return
        fix = "use a new --out, or --no-resume to replace it"
        with reading(cfg_path, fix=fix):
            old = read_toml(cfg_path)
        if old.get("model") != self.name:
            raise RunDirError(f"{run_dir} holds a {old.get('model')!r} run, not {self.name!r}; {fix}")
        with reading(cfg_path, fix=fix):
            saved = type(self)(build_config(self.config_cls, toml={k: v for k, v in old.items() if k != "model"}))
            saved._saved_config(old)
            old_cfg = config_to_dict(saved.config)
        diff = _config_diff(old_cfg, config_to_dict(self.config))
        if diff:
            raise RunDirError(f"{run_dir} holds a {self.name} run with other settings ({diff}); {fix}")
        if "weights.safetensors" in trained:
            if _finished(run_dir, fix=fix):
                # a finished run with a damaged file cannot be sampled: say so, not "sample from it" (sample's
                # refusal sends the user back here)
                verify_manifest(run_dir, fix="train it again with --no-resume, or into a new --out", only=_LOADED)
                raise RunDirError(f"{run_dir} already holds a finished {self.name} run; sample from it "
                                  f"(rnagen sample {run_dir} ...), or train again with --no-resume or into a new "
                                  "--out")
            if "checkpoint.pt" not in present:
                # a final save cut short (weights written, meta.json or the manifest not) with no checkpoint to
                # resume from: this run's own incomplete files, replaced by training it again
                for f in present:
                    if f != "config.toml":
                        (run_dir / f).unlink()
                remove_stale_temporaries(run_dir)
                return
        ckpt_fix = "run again with --no-resume to start over"
        manifest = verify_manifest(run_dir, fix=ckpt_fix, only=["checkpoint.pt", "config.toml"])
        old_fp = (manifest or {}).get("fingerprint")
        if old_fp is None:
            from ..train.loop import read_checkpoint

            old_fp = read_checkpoint(run_dir / "checkpoint.pt", map_location="cpu").get("fingerprint", "")
        if old_fp != self._fingerprint:
            old_data, _, old_seed = str(old_fp).partition("-seed")
            if old_seed and old_data == self._fingerprint.partition("-seed")[0]:
                raise RunDirError(f"{run_dir / 'checkpoint.pt'} belongs to a run of seed {old_seed}, not "
                                  f"{self.seed}: resume it with --seed {old_seed}, use a new --out, or --no-resume to "
                                  "start this one from scratch")
            raise RunDirError(f"{run_dir / 'checkpoint.pt'} belongs to a run on other data; use a new --out, "
                              "or --no-resume to start this one from scratch")
        remove_stale_temporaries(run_dir)

    def fingerprint(self, X: np.ndarray, y: np.ndarray | None = None) -> str:
        """Identifies the data and configuration of a run (a checkpoint is resumed only if it matches): every
        value and label of the training profiles (a digest of the first rows alone would resume on data changed
        further down), the configuration and the class names. A finished private run does not record it
        (:meth:`_save`)."""
        import hashlib

        h = hashlib.sha256()
        h.update(json.dumps(config_to_dict(self.config), sort_keys=True).encode())
        h.update(str(X.shape).encode())
        for a, b in row_spans(X):   # the float64 values in row-major order, a block of rows at a time
            h.update(np.ascontiguousarray(X[a:b], dtype=np.float64).tobytes())
        if y is not None:
            h.update(np.ascontiguousarray(np.asarray(y, dtype=np.int64)).tobytes())
        h.update("\n".join(self.labels).encode())
        return h.hexdigest()[:16]

    def sample(self, n: int | None = None, *, n_per_label: int | None = None, like: Any = None,
               counts: Mapping[str, int] | None = None, seed: int = 0, batch_size: int | None = None,
               progress: bool = False, round_values: bool = False, **sampler_options: Any):
        """Generate profiles in the training data's units; returns an AnnData.

        Say how many with exactly one of ``n`` (split by the training label frequencies), ``n_per_label``,
        ``like`` (an AnnData or a data file whose label counts are matched, or a table of samples and their
        classes with a column headed by the label column) or ``counts`` ({label: n}).
        ``batch_size``: profiles generated at once; a model that draws its noise batch by batch (diffusion, VAE,
        a WGAN-GP with output noise) reproduces its profiles for the same ``seed`` and ``batch_size`` on the same
        device.
        ``round_values``: whole numbers, as read counts are (DESeq2 and edgeR take no others); refused for a
        model trained on values that are not whole numbers. ``sampler_options`` are model-specific (e.g.
        ``sampler="ddim", steps=50, eta=0.0, guidance=0.0``).
        """
        import anndata as ad

        if not self.is_fitted:
            raise RunDirError(f"{self.name} model is not trained; call fit() or load a run folder")
        if round_values and self.whole_numbers is False:
            raise DataError(f"rounding (--round) makes whole-number counts, but this {self.name} model was trained on "
                            "values that are not whole numbers (log values, depth-normalised counts, TPM, z-scores); "
                            "sample without it, or train on the counts as read (rnagen data prepare logs them unless "
                            "--log none, and --normalize makes them fractions)")
        misnamed = [k for k in sampler_options if k in _COUNT_KEYWORDS]
        if misnamed:   # a count given under another name would otherwise read as an unknown sampler option
            raise ConfigError(f"sample() takes no {misnamed[0]!r}: say how many profiles with "
                              f"{_COUNT_KEYWORDS[misnamed[0]]}")
        seed = check_seed("seed", seed)
        bs = check_number("batch_size", 4096 if batch_size is None else batch_size, ">= 1", integer=True)
        bs = batch_rows(bs, self.n_genes)
        y = label_plan(self.labels, self.label_counts, n=n, n_per_label=n_per_label, like=like,
                       label_key=self.label_key, counts=counts, n_genes=self.n_genes)
        self._sampling_used: dict[str, Any] = {}
        Z = self._sample(y, seed=int(seed), batch_size=bs, progress=progress, **sampler_options)
        _check_finite(Z, f"{self.name} model's samples", "its weights are not finite; train it again (a lower "
                                                            "train.lr)", rows=bs)
        far = far_values(Z, self.n_train, rows=bs) if self.config.preprocess.scaler != "none" else None
        # invert the transforms batch by batch, in place: peak memory stays one float32 output array plus
        # a few float64 batches of at most SAMPLE_BATCH_VALUES values, however many profiles and genes
        X = np.asarray(Z, dtype=np.float32)
        pipeline = self._fitted_pipeline()
        floor = np.float32(self._floor())
        mirror = self.zero_threshold is not None and self.config.preprocess.zeros == "mirror"
        edge = self._edge_in_model_units() if mirror else None
        above = 0
        for start in range(0, len(X), bs):
            rows = slice(start, start + bs)
            if self.upper is not None:
                # past the training values by UPPER_MARGIN: a tail a log scale would turn into values orders of
                # magnitude beyond the data's (a class of two profiles, guidance on a small class)
                above += int((X[rows] > self.upper).sum())
                np.minimum(X[rows], self.upper, out=X[rows])
            threshold = self.zero_threshold[y[rows]] if self.zero_threshold is not None else None
            at0 = X[rows] <= threshold if threshold is not None else None
            if threshold is not None and edge is not None:
                self._reflect_below_edge(X[rows], threshold, edge)
            X[rows] = pipeline.inverse_transform(X[rows])
            if at0 is not None:  # each class's zeros (preprocess.zeros=match); every step is monotone per gene
                X[rows][at0] = floor
        _check_finite(X, f"{self.name} model's samples in the data's units", "values far outside the training "
                                                                             "data's overflow when its transforms are "
                                                                             "inverted; train the model again",
                      rows=bs)
        if self.constant is not None:
            X[:, self.constant[0]] = self.constant[1]
        if self.class_constant is not None:
            for c in np.unique(y):
                genes = np.flatnonzero(~np.isnan(self.class_constant[c]))
                if len(genes):
                    X[np.ix_(np.flatnonzero(y == c), genes)] = self.class_constant[c, genes]
        if round_values:
            np.rint(X, out=X)
        obs = pd.DataFrame(
            {self.label_key: pd.Categorical([self.labels[i] for i in y], categories=self.labels)},
            index=[f"{SYNTHETIC_PREFIX}{i:06d}" for i in range(len(y))],
        )
        out = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=pd.Index(self.var_names)))
        out.uns["rnagen"] = {
            "synthetic": {"model": self.name, "seed": int(seed), "rnagen_version": __version__,
                          **({"rounded": True} if round_values else {}),
                          **{k: v for k, v in {**sampler_options, **self._sampling_used}.items()
                             if isinstance(v, (int, float, str, bool))}, "batch_size": int(bs)}
        }
        if self.data_log is not None:
            # the data's scale: evaluate and reconstruct read it instead of guessing it from the values again
            out.uns["rnagen"]["log"] = {"pseudocount": float("nan"), **self.data_log}
            sync_scanpy_log1p(out)   # scanpy's uns["log1p"] where the scale is its log1p: not logged again there
        if self.data_depth is not None and self.data_depth["method"] != "none":
            # the samples are on the depth-normalised scale of the training data (CPM, DESeq2's size factors):
            # said where every set's normalisation is read (rnagen data info, evaluate's check of two scales)
            record(out, "normalize_depth", **self.data_depth, of="the training data, whose scale the samples are on")
        if far is not None:
            out.uns["rnagen"]["synthetic"]["far_values"] = far
        if above:
            out.uns["rnagen"]["synthetic"]["clipped_above"] = {"share": above / max(X.size, 1),
                                                               "margin": UPPER_MARGIN}
        if self.privacy:  # a private model's samples carry its guarantee and DP settings
            out.uns["rnagen"]["privacy"] = dict(self.privacy)
        return out

    def _fitted_pipeline(self) -> Pipeline:
        """The transforms fitted with the model (set by ``fit`` and ``load``); an untrained model is refused."""
        if self.pipeline is None:
            raise RunDirError(f"{self.name} model is not trained; call fit() or load a run folder")
        return self.pipeline

    # --- persistence -------------------------------------------------------------------------------------
    def save(self, run_dir: str | Path) -> Path:
        """Write the self-contained run folder (see the module docstring)."""
        if not self.is_fitted:
            raise RunDirError("cannot save an untrained model")
        run_dir = check_output(run_dir, kind="dir", option="run folder")
        with writer_lock(run_dir, kind="dir"):
            if self._run_dir is None or run_dir.resolve() != self._run_dir:
                _check_save_target(run_dir)
            self._save(run_dir)
        self._run_dir = run_dir.resolve()
        return run_dir

    def _save(self, run_dir: Path) -> None:
        from safetensors.torch import save_file

        write_config(run_dir / "config.toml", self.config, model=self.name)
        desc, arrays = self._fitted_pipeline().to_state()
        if self.zero_threshold is not None:
            arrays[ZERO_KEY] = self.zero_threshold
        if self.upper is not None:
            arrays[UPPER_KEY] = self.upper
        if self.constant is not None:
            arrays.update(zip(CONSTANT_KEYS, self.constant))
        if self.class_constant is not None:
            arrays[CLASS_CONSTANT_KEY] = self.class_constant
        write_npz(run_dir / "transforms.npz", **arrays)
        write_text(run_dir / "genes.txt", "\n".join(self.var_names) + "\n")
        state = {**self._state_tensors(), **self._space_tensors()}
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        with atomic_path(run_dir / "weights.safetensors") as tmp:
            save_file(tensors, str(tmp))
        if self.history:
            log = pd.DataFrame(self.history)
            if self.privacy:   # the losses of private batches are statistics of the profiles, outside ε
                log = log[[c for c in log.columns if c in PRIVATE_LOG_COLUMNS]]
            with atomic_path(run_dir / "train_log.csv") as tmp:
                log.to_csv(tmp, index=False)
        if self.validation and self.validation.get("curve"):
            with atomic_path(run_dir / "validation.csv") as tmp:
                pd.DataFrame(self.validation["curve"]).to_csv(tmp, index=False)
        write_json(run_dir / "meta.json", {
            "model": self.name,
            "rnagen_version": __version__,
            "label_key": self.label_key,
            "labels": self.labels,
            "label_counts": self.label_counts.tolist(),
            "n_train": self.n_train,
            "n_genes": self.n_genes,
            "pipeline": desc,
            **({"zeros": {"placed": "per class and gene", "calibration_per_class": ZERO_CALIBRATION_PER_CLASS}}
               if self.zero_threshold is not None else {}),
            **({"constant_genes": len(self.constant[0])} if self.constant is not None else {}),
            **({"class_constant_genes": int((~np.isnan(self.class_constant)).sum())}
               if self.class_constant is not None else {}),
            **({"whole_numbers": self.whole_numbers} if self.whole_numbers is not None else {}),
            **({"data_log": self.data_log} if self.data_log is not None else {}),
            **({"data_depth": self.data_depth} if self.data_depth is not None else {}),
            "train_seconds": self.train_seconds,
            "seed": self.seed,
            "fingerprint": PRIVATE_FINGERPRINT if self.privacy else self._fingerprint,
            "extra": self._extra_meta(),
            **({"subspace": self.subspace} if self.subspace is not None else {}),
            **({"validation": {k: v for k, v in self.validation.items() if k != "curve"}}
               if self.validation else {}),
            **({"privacy": self.privacy} if self.privacy else {}),
        })
        if self.privacy:
            # a finished private run keeps nothing computed from the profiles outside ε: the checkpoint (its data
            # digest, the raw losses) is only for resuming, and the digest is a membership test for whoever
            # knows the other profiles
            (run_dir / "checkpoint.pt").unlink(missing_ok=True)
        write_manifest(run_dir, RUN_FILES, model=self.name,
                       fingerprint=PRIVATE_FINGERPRINT if self.privacy else self._fingerprint)  # last: all complete

    def _privacy_record(self, result: Any) -> dict[str, Any] | None:
        """The run record of a private training result (``None`` for a non-private one)."""
        if getattr(result, "private", None) is None:
            return None
        from ..train.privacy import preprocessing_coverage

        pre: PreprocessConfig = self.config.preprocess
        return result.private.record(preprocessing=preprocessing_coverage(log=pre.log, scaler=pre.scaler,
                                                                          support=pre.support))

    def _extra_meta(self) -> dict[str, Any]:
        """Model-specific JSON-able metadata saved in meta.json (read back by ``_load_extra_meta``)."""
        return {}

    def sampling_note(self) -> str | None:
        """One line on a sampling setting chosen during ``fit`` (printed by ``rnagen train``), if any."""
        return None

    def _load_extra_meta(self, extra: dict[str, Any]) -> None:
        return None

    @classmethod
    def load(cls, run_dir: str | Path, *, device: str = "auto") -> "Generator":
        """Load a trained model from its run folder; needs nothing else."""
        from safetensors.torch import load_file

        from ..utils import resolve_device

        run_dir = as_path(run_dir, "load: the run folder", error=ConfigError)
        if not run_dir.is_dir():
            raise RunDirError(f"{run_dir} is not a run folder; give the --out folder of `rnagen train`")
        fix = _LOAD_FIX
        verify_manifest(run_dir, fix=fix, only=_LOADED)  # the checkpoint is verified when resuming
        missing = [f for f in ("config.toml", "meta.json", "genes.txt", "transforms.npz", "weights.safetensors")
                   if not (run_dir / f).is_file()]
        # a folder whose final manifest was not written (killed after the weights and meta.json) is unfinished,
        # as `rnagen train` reads it (it resumes it): not loaded as if complete
        if missing or not _finished(run_dir, fix=fix):
            holder = lock_holder(run_dir)
            if holder is not None:
                raise RunDirError(f"{run_dir} is being trained by another process (pid {holder}); wait for it to "
                                  "finish")
            what = f"missing {', '.join(missing)}" if missing else "its final save did not complete"
            if (run_dir / PREVIOUS_RUN).is_dir() or (run_dir / f"{PREVIOUS_RUN}.tmp").is_dir():
                # a `train --no-resume` killed: the finished run it was replacing is kept aside, whole
                raise RunDirError(f"{run_dir} is not a complete run folder ({what}): a `rnagen train --no-resume` "
                                  f"into it was interrupted, and the run it was replacing is kept in "
                                  f"{run_dir / PREVIOUS_RUN}; run `rnagen train` into {run_dir} again (it puts that "
                                  "run back first; --no-resume replaces it)")
            raise RunDirError(f"{run_dir} is not a complete run folder ({what}); was training interrupted? run "
                              "`rnagen train` again with the same --out to resume")
        with reading(run_dir / "config.toml", fix=fix):
            raw = cls._config_file(run_dir / "config.toml")
            model = cls.from_config(raw, private_defaults=False)   # the run's own settings, as trained
            model._saved_config(raw)
        with reading(run_dir / "meta.json", fix=fix):
            meta = _read_meta(run_dir / "meta.json")
            if meta["model"] != cls.name:
                raise RunDirError(f"{run_dir / 'meta.json'} describes a {meta['model']!r} model, but config.toml a "
                                  f"{cls.name!r} one; {fix}")
            model.label_key = meta["label_key"]
            model.labels = [str(x) for x in meta["labels"]]
            model.label_counts = np.asarray(meta["label_counts"], dtype=np.int64)
            model.n_train = int(meta["n_train"])
            model.train_seconds = float(meta.get("train_seconds", 0.0))
            model.seed = int(meta.get("seed", 0))
            model._fingerprint = str(meta.get("fingerprint", ""))
            whole = meta.get("whole_numbers")
            if whole is not None and not isinstance(whole, bool):
                raise ValueError(f"its whole_numbers entry {whole!r} is not true or false")
            model.whole_numbers = whole
            data_log = meta.get("data_log")
            if data_log is not None and not (isinstance(data_log, dict) and isinstance(data_log.get("logged"), bool)):
                raise ValueError(f"its data_log entry {data_log!r} does not say whether the data were logged")
            model.data_log = data_log
            depth = meta.get("data_depth")
            if depth is not None and not (isinstance(depth, dict) and isinstance(depth.get("method"), str)
                                          and all(isinstance(v, str) for v in depth.values())):
                raise ValueError(f"its data_depth entry {depth!r} does not name a depth normalisation method")
            model.data_depth = depth
            model._load_extra_meta(meta.get("extra", {}))
            sub = meta.get("subspace")
            if sub is not None:
                if not valid_subspace_record(sub):
                    raise ValueError(f"its subspace record {sub!r} has no valid n_components")
                model.subspace = dict(sub)
        genes_path = run_dir / "genes.txt"
        with reading(genes_path, fix=fix):
            model.var_names = genes_path.read_text(encoding="utf-8").splitlines()
            if len(model.var_names) != meta["n_genes"]:
                raise ValueError(f"it lists {len(model.var_names)} genes, meta.json says {meta['n_genes']}")
            dup = pd.Index(model.var_names)
            if not dup.is_unique:
                raise ValueError(f"duplicated gene ids {dup[dup.duplicated()][:3].tolist()}")
        with reading(run_dir / "transforms.npz", fix=fix):
            with np.load(run_dir / "transforms.npz", allow_pickle=False) as z:
                model.pipeline = Pipeline.from_state(meta["pipeline"], {k: z[k] for k in z.files})
                if model.data_log is None:
                    model.data_log = model._data_log()
                if UPPER_KEY in z.files:   # runs saved before it have none: their samples are not bounded above
                    model.upper = np.asarray(z[UPPER_KEY], dtype=np.float32)
                    if model.upper.shape != (model.n_genes,):
                        raise ValueError(f"its {UPPER_KEY} array does not fit {model.n_genes} genes")
                if ZERO_KEY in z.files:
                    model.zero_threshold = np.asarray(z[ZERO_KEY], dtype=np.float32)
                    if model.zero_threshold.shape != (model.n_labels, model.n_genes):
                        raise ValueError(f"its {ZERO_KEY} array does not fit {model.n_labels} labels x "
                                         f"{model.n_genes} genes")
                if all(k in z.files for k in CONSTANT_KEYS):
                    idx, val = (np.asarray(z[k]) for k in CONSTANT_KEYS)
                    if idx.ndim != 1 or idx.shape != val.shape or (len(idx) and not (
                            0 <= idx.min() and idx.max() < model.n_genes)):
                        raise ValueError(f"its {CONSTANT_KEYS[0]} array does not fit {model.n_genes} genes")
                    model.constant = (idx.astype(np.int64), val.astype(np.float32))
                if CLASS_CONSTANT_KEY in z.files:
                    model.class_constant = np.asarray(z[CLASS_CONSTANT_KEY], dtype=np.float32)
                    if model.class_constant.shape != (model.n_labels, model.n_genes):
                        raise ValueError(f"its {CLASS_CONSTANT_KEY} array does not fit {model.n_labels} labels x "
                                         f"{model.n_genes} genes")
            back = model.pipeline.inverse_transform(np.zeros((1, model.n_genes), dtype=np.float32))
            if np.shape(back) != (1, model.n_genes):
                raise ValueError(f"its arrays do not fit {model.n_genes} genes")
        if (run_dir / "train_log.csv").is_file():
            with reading(run_dir / "train_log.csv", fix=fix):
                model.history = pd.read_csv(run_dir / "train_log.csv").to_dict("records")
        model.validation = meta.get("validation")
        model.privacy = meta.get("privacy")
        resolved = resolve_device(device)  # refused for every model where this machine lacks it
        model.device = resolved if cls.uses_torch else None
        if model.subspace is not None:  # built before the networks, whose input it sizes; arrays below
            model._new_codec()
        with reading(run_dir / "config.toml", fix=fix):
            model._build()
        with reading(run_dir / "weights.safetensors", fix=fix):
            tensors = load_file(str(run_dir / "weights.safetensors"))
        with reading(run_dir / "weights.safetensors", fix=fix,
                     reason="its tensors do not fit the model config.toml and meta.json describe"):
            model._load_state_tensors(model._load_space(tensors))
        model.is_fitted = True
        model._run_dir = run_dir.resolve()
        return model

    # --- what each model implements ----------------------------------------------------------------------
    def _saved_config(self, raw: dict[str, Any]) -> None:
        """Settle, from the run folder's ``config.toml`` as written (``raw``), a setting whose default differs from
        what the saved weights were trained with where the file does not name it (nothing by default)."""

    def _build(self) -> None:
        """Create the networks from the configuration, ``n_genes`` and ``n_labels`` (before loading weights)."""

    @abstractmethod
    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, run_dir: Path | None, progress: bool,
             resume: bool) -> None: ...

    @abstractmethod
    def _sample(self, y: np.ndarray, *, seed: int, batch_size: int, progress: bool, **options: Any) -> np.ndarray: ...

    @abstractmethod
    def _state_tensors(self) -> dict[str, Any]: ...

    @abstractmethod
    def _load_state_tensors(self, tensors: dict[str, Any]) -> None: ...

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """Optuna search space: ``{dotted.config.key: value}`` drawn from ``trial`` (see ``rnagen tune``)."""
        raise NotImplementedError(f"model {cls.name!r} declares no search space")

    def __repr__(self) -> str:
        state = f"{self.n_genes} genes, {self.n_labels} labels" if self.is_fitted else "untrained"
        return f"{type(self).__name__}({state})"

