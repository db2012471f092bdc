"""The user-facing reconstructor: fit on real full profiles, apply to (synthetic) input genes, score, save, load.

Lacan et al. train, on real data only, a map from the 978 landmark genes to every other gene (ordinary least
squares and a D-GEX MLP on z-scored values), apply it to generated landmark profiles and score the full
profiles like landmark data. Here the map is a ridge regression (penalty chosen on a validation split,
:mod:`rnagen.reconstruct.ridge`) or a D-GEX MLP (:mod:`rnagen.reconstruct.mlp`).

Units. ``fit`` receives profiles in the user's units (TPM, counts, log2 values...). Inputs and targets each get
a :class:`rnagen.pp.Pipeline`: ``log2(x+1)`` unless the data are already log-scale (recorded log state, or
:func:`rnagen.pp.looks_logged`), then a per-gene z-score, fitted on the training data, stored and inverted.
``apply`` returns profiles in the training data's units.

Folder written by :meth:`Reconstructor.save` (each file atomic; ``meta.json`` last)::

    config.toml              resolved configuration
    genes.tsv                every training gene in training order: gene, role (input/target), symbol
    transforms.npz           fitted arrays of both pipelines (keys ``inputs/0.mean``..., no pickles) and a digest
                             of each training profile's input genes (``train_rows``: scoring tells held-out
                             profiles from training ones)
    weights.safetensors      linear: coef (inputs x targets), intercept; mlp: the network's state_dict
    train_log.csv            mlp: epochs with train and validation MSE
    meta.json                kind, rnagen version, method, pipelines, input selection, validation record
    manifest.json            size and SHA-256 of each file above, written last (checked on load)
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .. import __version__
from .._io import atomic_path, check_output, write_json, write_npz, writer_lock
from .._manifest import MANIFEST, folder_kind, reading, verify_manifest, write_manifest
from ..config import SEED_MAX, build_config, checked, require_config, write_config
from ..errors import ConfigError, DataError, RunDirError
from ..pp.history import (
    TWO_LOG_BASES,
    conversion_formula,
    get_history,
    log1p_name,
    log_base,
    log_bases_differ,
    log_plan,
    log_pseudocount,
    log_state,
    looks_logged,
    looks_standardised,
    record,
    relogged_copy,
    relogged_scale,
    set_log_state,
    unknown_pseudocount_note,
    with_scanpy_log1p,
)
from ..pp.transforms import Log2p1, NonNegative, Pipeline, StandardScaler
from ..utils import as_path, check_label_key, require_anndata
from .genes import match_genes, require_genes, resolve_inputs
from .ridge import DEFAULT_ALPHAS, fit_ridge

if TYPE_CHECKING:
    import torch

__all__ = ["ReconstructConfig", "LinearConfig", "MLPConfig", "Reconstructor", "LinearReconstructor", "MLPReconstructor",
           "fit", "load", "gene_scores"]

_KIND = "rnagen.reconstruct"
# what a reconstructor folder holds (the manifest covers those present)
FOLDER_FILES = ("config.toml", "genes.tsv", "transforms.npz", "weights.safetensors", "train_log.csv", "meta.json",
                MANIFEST)
_LOAD_FIX = "fit it again (rnagen reconstruct fit ... --out FOLDER)"
_MISFIT = "its tensors do not fit the genes and config.toml of the folder"
_CHUNK = 4096  # rows per block when transforming or predicting (bounds memory on wide data)


@dataclass
@checked("linear", alphas=">= 0", block=">= 1")
class LinearConfig:
    """Ridge least squares (section ``[linear]``)."""

    alphas: list[float] = field(default_factory=lambda: list(DEFAULT_ALPHAS))
    """Per-sample penalties tried on the validation split (``lam = n * alpha`` on z-scored inputs)."""
    per_gene_alpha: bool = False
    """Choose the penalty for each target gene separately (same cost) instead of one for all."""
    block: int = 4096
    """Target genes per block in the solver (bounds memory)."""


@dataclass
@checked("mlp", hidden=">= 1", dropout="[0, 1)", lr="> 0", weight_decay=">= 0", batch_size=">= 1",
         max_epochs=">= 1", patience=">= 1")
class MLPConfig:
    """D-GEX MLP (section ``[mlp]``); defaults sized to train in seconds to minutes on a CPU."""

    hidden: list[int] = field(default_factory=lambda: [512, 512])
    """Width of each Linear-BatchNorm-ReLU-Dropout block."""
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    max_epochs: int = 100
    patience: int = 8
    """Stop after this many epochs without a better validation MSE (the best weights are kept)."""


#: the MSE, as a share of the test targets' mean variance (both on the model's log scale), below which
#: :meth:`Reconstructor.score`'s test targets are its own predictions written with three decimals or more (rounding
#: to 0.001 leaves an MSE of about 1e-7): measured expression is never predicted that closely
_OWN_PREDICTIONS_MSE = 1e-6

#: the gene columns of ``var`` that name the genes of profiles whose ``var_names`` are microarray probes (CMap's
#: GCT row metadata first)
_GENE_COLUMNS = ("pr_gene_id", "pr_gene_symbol", "gene_id", "gene_symbol", "symbol", "entrez_id", "ensembl_id")

#: the fewest held-out profiles :meth:`Reconstructor.score` takes
MIN_SCORE_SAMPLES = 5


@dataclass
@checked(None, val_size="[0, 1)", seed=f"[0, {SEED_MAX}]")
class ReconstructConfig:
    """Configuration of a reconstructor."""

    method: Literal["linear", "mlp"] = "linear"
    log: Literal["auto", "log2p1", "none"] = "auto"
    """``auto``: log2(x+1) unless the data are already log-scale; ``log2p1``: always; ``none``: never."""
    val_size: float = 0.1
    """Fraction of the training samples held out to choose the ridge penalty / stop the MLP."""
    seed: int = 0
    linear: LinearConfig = field(default_factory=LinearConfig)
    mlp: MLPConfig = field(default_factory=MLPConfig)


def _dense_rows(X, rows: slice | np.ndarray, cols: np.ndarray | None = None, *, cast: bool = True) -> np.ndarray:
    B = X[rows]
    if hasattr(B, "toarray"):
        B = B.toarray()
    B = np.asarray(B)
    if cols is not None:
        B = B[:, cols]
    return B.astype(np.float64, copy=False) if cast else B


#: the number of random directions a training profile's inputs are projected on (:func:`_input_sketch`)
_SKETCH_DIMS = 16


def _input_sketch(X, cols: np.ndarray) -> np.ndarray:
    """Each row's ``cols`` projected on :data:`_SKETCH_DIMS` fixed random unit directions (float32, rows x 16): a
    profile written again with fewer decimals lands within its rounding of its own projections, where two
    different profiles are apart (:meth:`Reconstructor._training_profiles`); 16 numbers per profile, not its
    values."""
    P = np.random.default_rng(0x5EED).standard_normal((len(cols), _SKETCH_DIMS))
    P /= np.linalg.norm(P, axis=0, keepdims=True)
    out = np.empty((X.shape[0], _SKETCH_DIMS), dtype=np.float32)
    step = _chunk_rows(len(cols))
    for s in range(0, X.shape[0], step):
        block = _dense_rows(X, slice(s, s + step), cols)
        out[s:s + len(block)] = block @ P
    return out


def _near_sketch(test: np.ndarray, train: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """For each test sketch, whether a training sketch lies within the rounding of a CSV export on every
    direction: 0.02 plus 0.5% of the profile's root-mean-square input (``scale``); the projection of a rounding
    error of a few thousandths per value is that small, the projections of two different profiles differ by
    about their distance over the square root of the number of inputs."""
    found = np.zeros(len(test), dtype=bool)
    if not len(train):
        return found
    tol = 0.02 + 0.005 * np.asarray(scale, np.float64)
    T = train.astype(np.float64)
    for s in range(0, len(test), 256):
        d = np.abs(test[s:s + 256, None, :].astype(np.float64) - T[None, :, :]).max(axis=2)
        found[s:s + 256] = (d <= tol[s:s + 256, None]).any(axis=1)
    return found


def _input_keys(X, cols: np.ndarray) -> np.ndarray:
    """A 16-byte digest of each row's ``cols`` as float32 (:func:`rnagen.pp.copies.row_keys`), rows x 16: equal
    digests, equal values; the training profiles' are kept so that a score on them is told from a held-out one."""
    from ..pp.copies import row_keys

    out = np.empty((X.shape[0], 16), dtype=np.uint8)
    step = _chunk_rows(len(cols))
    for s in range(0, X.shape[0], step):
        block = _dense_rows(X, slice(s, s + step), cols, cast=False).astype(np.float32)
        keys = row_keys(block)
        out[s:s + len(keys)] = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 16)
    return out


def _finite_range(X) -> np.ndarray:
    """``[[min, max]]`` of the finite values of ``X``, with one value that is not a whole number when there is
    one, read row block by row block: what :func:`rnagen.pp.looks_logged` decides by (the range and whether every
    value is whole: counts), without a float64 copy of a wide matrix."""
    lo, hi = np.inf, -np.inf
    fraction = None
    step = _chunk_rows(X.shape[1])
    for s in range(0, X.shape[0], step):
        B = _dense_rows(X, slice(s, s + step), cast=False)
        f = B[np.isfinite(B)]
        if f.size:
            lo, hi = min(lo, float(f.min())), max(hi, float(f.max()))
            if fraction is None:
                frac = f[f != np.round(f)]
                fraction = float(frac[0]) if frac.size else None
    if not np.isfinite(lo):
        return np.zeros((0, 0))
    return np.array([[lo, hi] + ([fraction] if fraction is not None else [])])


def _chunk_rows(n_cols: int) -> int:
    # about 16 M values (128 MB in float64) per block, whatever the width
    return max(1, min(_CHUNK, (1 << 24) // max(n_cols, 1)))


def _fit_pipeline(X, cols: np.ndarray, *, log: bool, what: str, bound: bool = False) -> tuple[Pipeline, np.ndarray]:
    """Fit ``[log2p1] + standard`` on the columns ``cols`` of ``X`` and return it with the float32 z-scores.
    With ``bound`` (the target genes), values that are all at or above 0 without a log step get a ``nonnegative``
    step first, whose inverse clips predictions at 0: a ridge or MLP map puts part of a gene near 0 below it, a
    value no profile of such data has (the log step's inverse clips at 0 already).

    One pass over ``X`` in row blocks (so a 10,000 x 20,000 matrix is never copied in float64): each block is
    logged, written into the float32 output and added to shifted float64 moment sums (shifted by the first
    row, which keeps the variance free of cancellation); then the output is standardised in place.
    """
    n = X.shape[0]
    pre = Log2p1() if log else None
    Z = np.empty((n, len(cols)), dtype=np.float32)
    s1 = np.zeros(len(cols))
    s2 = np.zeros(len(cols))
    shift = None
    lowest = np.inf
    step = _chunk_rows(len(cols))
    for s in range(0, n, step):
        B = _dense_rows(X, slice(s, s + step), cols)
        if pre is not None:
            B = pre.transform(B)
        if not np.isfinite(B).all():
            raise DataError(f"the {what} contain NaN or infinite values; impute or drop them before fitting")
        if bound and pre is None and B.size:
            lowest = min(lowest, float(B.min()))
        Z[s:s + step] = B
        if shift is None:
            shift = B[0].copy()
        B -= shift
        s1 += B.sum(0)
        s2 += np.einsum("ij,ij->j", B, B)
    m1 = s1 / n
    mean = np.asarray(shift + m1, dtype=np.float64)
    std = np.sqrt(np.maximum(s2 / n - m1 * m1, 0.0))
    std = np.where(std > 1e-12, std, 1.0)  # a constant gene maps to 0 and back unchanged
    sc = StandardScaler()
    sc.set_arrays({"mean": mean, "std": std})
    mean32, inv32 = mean.astype(np.float32), (1.0 / std).astype(np.float32)
    for s in range(0, n, step):
        blk = Z[s:s + step]
        blk -= mean32
        blk *= inv32
    first: list = [pre] if pre is not None else [NonNegative()] if bound and lowest >= 0 else []
    return Pipeline(first + [sc]), Z


def _summary(values: np.ndarray) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    f = v[np.isfinite(v)]
    if f.size == 0:
        nan = float("nan")
        return {"median": nan, "q1": nan, "q3": nan, "mean": nan, "min": nan, "max": nan, "n": 0,
                "n_undefined": int(v.size)}
    q1, med, q3 = np.quantile(f, [0.25, 0.5, 0.75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "mean": float(f.mean()),
            "min": float(f.min()), "max": float(f.max()), "n": int(f.size), "n_undefined": int(v.size - f.size)}


def gene_scores(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene (per-column) R² and Pearson r of ``pred`` against ``truth``.

    R² = 1 - sum (y - ŷ)² / sum (y - ȳ)² with ȳ the mean of the held-out truth (scikit-learn's ``r2_score``;
    it can be negative). Both are NaN for a gene constant in ``truth`` (and r also for a constant prediction).
    """
    y = np.asarray(truth, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    yc = y - y.mean(0)
    pc = p - p.mean(0)
    sst = (yc * yc).sum(0)
    sse = ((y - p) ** 2).sum(0)
    spp = (pc * pc).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 1e-12, 1.0 - sse / sst, np.nan)
        r = np.where((sst > 1e-12) & (spp > 1e-12), (yc * pc).sum(0) / np.sqrt(sst * spp), np.nan)
    return r2, np.clip(r, -1.0, 1.0)


def check_folder(path: str | os.PathLike, *, replace: bool = False) -> None:
    """Refuse a reconstructor folder ``path`` that holds another command's files (a generator's run, a
    benchmark, the user's own config.toml) or, unless ``replace``, a fitted reconstructor."""
    kind, model = folder_kind(path)
    if kind == "benchmark":
        raise RunDirError(f"{path} is a benchmark folder (bench.json); fit into a new --out")
    if kind == "own":
        raise RunDirError(f"{path} holds a config.toml of your own (it names no model) that fitting would "
                          "overwrite; choose a new --out")
    if kind in ("run", "unreadable"):
        raise RunDirError(f"{path} holds an rnagen run folder ({model or 'unknown'!r} model), not a reconstructor; "
                          "choose another --out")
    if kind == "reconstructor" and not replace and (Path(path) / "meta.json").is_file():
        raise RunDirError(f"--out {path} already holds a fitted reconstructor; choose a new --out, or remove that "
                          "folder first to fit it again")


def _file_id(path: Path) -> tuple[int, int] | None:
    """The device and inode of ``path`` (``None``: no such file); an atomic write gives a file a new one."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


class Reconstructor:
    """Predicts every non-input gene of the training data from its input genes.

    Build with :func:`fit` (or :meth:`fit`), reload with :func:`load`. Public methods: :meth:`apply`
    (full profiles), :meth:`predict` (target genes only), :meth:`score` (held-out real data), :meth:`save`.

    The gene bookkeeping, units, scoring and folder are shared; the map itself is a method's subclass
    (:class:`LinearReconstructor`, :class:`MLPReconstructor`). ``Reconstructor(config)`` builds the subclass
    of ``config.method``.
    """

    def __new__(cls, config: ReconstructConfig | None = None):
        """An instance of the subclass of ``config.method`` when called on the base class."""
        if config is not None:
            require_config(config, ReconstructConfig, "Reconstructor")
        if cls is Reconstructor:
            cls = _METHODS.get((config if config is not None else ReconstructConfig()).method, cls)
        return super().__new__(cls)

    def __init__(self, config: ReconstructConfig | None = None):
        self.config = config if config is not None else ReconstructConfig()
        self.var_names: list[str] = []
        self.symbols: list[str] = []
        self.input_idx = np.zeros(0, dtype=np.int64)    # positions of the inputs in var_names (model order)
        self.target_idx = np.zeros(0, dtype=np.int64)   # positions of the targets in var_names
        self.train_keys: np.ndarray | None = None       # training profiles' input digests (_input_keys)
        self.train_sketch: np.ndarray | None = None     # and their projections (_input_sketch)
        self.pipe_in: Pipeline | None = None
        self.pipe_out: Pipeline | None = None
        self.meta: dict[str, Any] = {}
        self.history: list[dict] = []
        self.is_fitted = False

    # ---------------------------------------------------------------------------------------------------
    @property
    def method(self) -> str:
        """The map's name (``config.method``): ``"linear"`` or ``"mlp"``."""
        return self.config.method

    @property
    def input_names(self) -> list[str]:
        """The input genes, in the order the map reads them."""
        return [self.var_names[i] for i in self.input_idx]

    @property
    def target_names(self) -> list[str]:
        """The predicted genes, in the order :meth:`predict` returns them."""
        return [self.var_names[i] for i in self.target_idx]

    def __repr__(self) -> str:
        state = (f"{len(self.input_idx)} inputs -> {len(self.target_idx)} targets" if self.is_fitted
                 else "not fitted")
        return f"Reconstructor(method={self.method!r}, {state})"

    # --- fit ------------------------------------------------------------------------------------------------
    def fit(self, adata, *, inputs: str | Sequence[str] | os.PathLike = "landmarks", label_key: str | None = None,
            device: str = "auto", progress: bool = False) -> "Reconstructor":
        """Learn to predict every non-input gene of ``adata`` (real full profiles) from its input genes.

        Parameters
        ----------
        adata
            Samples x genes, in the user's units (all genes: inputs and targets).
        inputs
            ``"landmarks"`` (the L1000 landmarks present in the data), a list of gene IDs, or the path of a
            genes file (one ID per line). IDs of any supported type (symbols, Entrez, Ensembl) are matched.
        label_key
            If given, the validation split is stratified by ``adata.obs[label_key]``.
        device
            MLP only: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        progress
            Show a progress bar.
        """
        from ..utils import check_device

        require_anndata(adata, "fit")
        if label_key is not None:
            check_label_key(label_key)
        check_device(device)
        # scanpy's record of the log (uns["log1p"]) of an AnnData given in memory, taken as a file's is on reading
        # (the caller's object unchanged)
        adata = with_scanpy_log1p(adata, "the training data")
        cfg = self.config
        if cfg.method not in _METHODS:
            raise ConfigError(f"unknown reconstruction method {cfg.method!r}; choose linear or mlp")
        if not 0.0 <= float(cfg.val_size) < 1.0:
            raise ConfigError(f"validation size must be in [0, 1), got {cfg.val_size}")
        var, in_idx, tg_idx, report = self._split_genes(adata, inputs)
        t0 = time.perf_counter()
        # units: decide the log step once for the whole matrix (inputs and targets share their scale)
        log = self._log_step(adata)
        self.var_names = var
        self.symbols = ([str(s) for s in adata.var["symbol"].astype(str)] if "symbol" in adata.var.columns
                        else [""] * len(var))
        self.input_idx = np.asarray(in_idx, dtype=np.int64)
        self.target_idx = np.asarray(tg_idx, dtype=np.int64)
        self.train_keys = _input_keys(adata.X, self.input_idx)
        self.train_sketch = _input_sketch(adata.X, self.input_idx)
        self.pipe_in, Zin = _fit_pipeline(adata.X, self.input_idx, log=log, what="input genes")
        self.pipe_out, Zout = _fit_pipeline(adata.X, self.target_idx, log=log, what="target genes", bound=True)
        val_idx = self._val_split(adata, label_key, Zin)
        t_prep = time.perf_counter() - t0
        bar = self._progress_bar(len(tg_idx)) if progress else None
        t1 = time.perf_counter()
        try:
            fit_info = self._fit_map(Zin, Zout, val_idx, device=device, bar=bar)
        finally:
            if bar is not None:
                bar.close()
        self.meta = {
            "kind": _KIND,
            "rnagen_version": __version__,
            "method": cfg.method,
            "n_train": int(adata.n_obs),
            "n_val": int(len(val_idx)),
            "n_inputs": int(len(in_idx)),
            "n_targets": int(len(tg_idx)),
            "inputs": {k: v for k, v in report.items()},
            "log": {"applied": bool(log), "decided_by": cfg.log,
                    "data_log_state": (log_state(adata) or {}).get("transform", "detected from the value range"),
                    "data_log_base": log_base(log_state(adata)),
                    "data_log_pseudocount": log_pseudocount(log_state(adata))},
            "label_key": label_key,
            "fit": fit_info,
            "seconds": {"preprocess": t_prep, "fit": time.perf_counter() - t1},
        }
        self.is_fitted = True
        return self

    @staticmethod
    def _split_genes(adata, inputs) -> tuple[list[str], list[int], list[int], dict[str, Any]]:
        """The gene IDs, the positions of the input and of the target genes, and the input-matching report."""
        var = [str(v) for v in adata.var_names]
        if len(set(var)) != len(var):
            dup = pd.Index(var)[pd.Index(var).duplicated()][:3].tolist()
            raise DataError(f"duplicated gene ids {dup}; make var_names unique before fitting")
        # two columns of one gene under other names (TP53 and ENSG00000141510): one would be an input and the
        # other a target predicted from it, and the folder could not tell which column new data's gene is
        from .._genes import detect_id_type
        from ..pp.preprocess import merge_same_genes

        merge_same_genes(adata, id_type=detect_id_type(var), duplicates="error")
        in_idx, report = resolve_inputs(inputs, var)
        in_set = set(in_idx)
        tg_idx = [i for i in range(len(var)) if i not in in_set]
        if not tg_idx:
            raise DataError("every gene of the data is an input gene; nothing is left to reconstruct")
        if adata.n_obs < 3:
            raise DataError(f"need at least 3 training samples to fit a reconstruction, got {adata.n_obs}")
        return var, in_idx, tg_idx, report

    def _log_step(self, adata) -> bool:
        """Whether to apply ``log2(x+1)``: as configured, or (``auto``) unless the data are already log-scale."""
        if self.config.log == "log2p1":
            return True
        if self.config.log == "none":
            return False
        st = log_state(adata)
        return not (st["logged"] if st is not None else looks_logged(_finite_range(adata.X)))

    def _val_split(self, adata, label_key: str | None, Zin: np.ndarray) -> np.ndarray:
        """The held-out rows that choose the penalty (or stop the MLP): ``val_size`` of the samples (at least 3,
        leaving 3), stratified by ``label_key`` where every class allows it.

        The copies of one profile (:func:`rnagen.pp.copies.copy_labels` of the input z-scores ``Zin``) are held
        out together or not at all: a held-out profile whose input genes copy a training profile's is predicted
        as that profile's targets, and its score would choose the penalty (or the epoch) that memorises the
        training profiles best. The share and the bounds are then counted in distinct profiles. Without copies,
        the split of the rows."""
        from ..pp.copies import copy_labels, first_of_group, warn_mixed_labels
        from ..utils import numpy_rng

        n = adata.n_obs
        if self.config.val_size <= 0:
            return np.zeros(0, dtype=np.int64)
        y = None
        if label_key is not None:
            if label_key not in adata.obs.columns:
                raise DataError(f"label column {label_key!r} not found (sample columns: "
                                f"{', '.join(map(str, adata.obs.columns)) or 'none'}); "
                                "pass --label-key with one of these")
            y = adata.obs[label_key].astype(str).to_numpy()
        g = first_of_group(copy_labels(Zin), n)
        first = np.flatnonzero(g == np.arange(n))   # one row per distinct profile: every row without copies
        m = len(first)
        # a held-out R² per gene needs a spread: 3 profiles at least (over 1 it is NaN, which would then choose the
        # penalty), and 3 left to fit on
        n_val = min(max(int(round(float(self.config.val_size) * m)), 3), m - 3)
        if n_val < 3:
            what = f"{n} training samples" if m == n else f"{m} distinct profiles ({n} samples, copies kept together)"
            raise DataError(f"{what} are too few to hold out 3 for choosing the reconstruction's penalty (or "
                            "stopping its MLP) and fit on 3 more; give at least 6, or fit without validation "
                            "(val_size=0 with one penalty, linear.alphas=[A])")
        if y is not None and m < n:
            warn_mixed_labels(g, y, adata.obs_names, what="the validation split keeps each such profile's copies "
                              "on one side, stratified as its first sample's class")
        val = None
        if y is not None:
            from sklearn.model_selection import train_test_split

            try:
                _, val = train_test_split(first, test_size=n_val, random_state=int(self.config.seed),
                                          stratify=y[first])
            except ValueError:
                pass  # a class too small to stratify: fall back to a plain random split
        if val is None:
            val = numpy_rng(int(self.config.seed)).permutation(first)[:n_val]
        # each drawn profile with its copies (the drawn rows themselves without copies)
        return np.sort(val) if m == n else np.flatnonzero(np.isin(g, val))

    # --- what each method provides ------------------------------------------------------------------------
    def _progress_bar(self, n_targets: int) -> Any:
        raise NotImplementedError

    def _fit_map(self, Zin: np.ndarray, Zout: np.ndarray, val_idx: np.ndarray, *, device: str,
                 bar: Any) -> dict[str, Any]:
        """Fit the map from input to target z-scores (``val_idx``: held-out rows); returns ``meta["fit"]``."""
        raise NotImplementedError

    def _predict_z(self, Zin: np.ndarray) -> np.ndarray:
        """Target z-scores (float32) for input z-scores."""
        raise NotImplementedError

    def _save_weights(self, d: Path) -> None:
        """Write ``weights.safetensors`` (and the method's other files) into ``d``, each atomically."""
        raise NotImplementedError

    def _load_weights(self, d: Path, *, fix: str, device: str) -> None:
        """Read what :meth:`_save_weights` wrote, checked against the genes (errors name ``fix``)."""
        raise NotImplementedError

    # --- prediction -------------------------------------------------------------------------------------
    def _check(self) -> None:
        if not self.is_fitted:
            raise RunDirError("the reconstructor is not fitted; call rnagen.reconstruct.fit or load a folder")

    def _pipelines(self) -> tuple[Pipeline, Pipeline]:
        """The fitted input and target transforms (set by ``fit`` and ``load``)."""
        if self.pipe_in is None or self.pipe_out is None:
            raise RunDirError("the reconstructor is not fitted; call rnagen.reconstruct.fit or load a folder")
        return self.pipe_in, self.pipe_out

    def _gene_names(self, adata) -> list[str]:
        """The gene of each column of ``adata``: its ``var_names``, or, where those are microarray probe ids (CMap's
        L1000 GCT files name each landmark by its Affymetrix probe, ``200814_at``), the first gene column of its
        ``var`` (:data:`_GENE_COLUMNS`: CMap's ``pr_gene_id`` and ``pr_gene_symbol`` first) that names any of the
        input genes."""
        from .._genes import looks_like_probes

        var = [str(v) for v in adata.var_names]
        if not looks_like_probes(var):
            return var
        for col in _GENE_COLUMNS:
            if col in adata.var.columns:
                names = [str(v) for v in adata.var[col]]
                if any(h is not None for h in match_genes(self.input_names, names)):
                    return names
        return var

    def _input_positions(self, adata, where: str) -> list[int]:
        require_anndata(adata, where)
        pos = require_genes(self.input_names, self._gene_names(adata), what="input genes of the "
                            "reconstructor", where=where)
        step = _chunk_rows(len(pos))
        n_neg, first_neg = 0, ""
        for s in range(0, adata.n_obs, step):   # one missing input gives every predicted gene of its profile NaN
            block = _dense_rows(adata.X, slice(s, s + step), np.asarray(pos), cast=False)
            if not np.isfinite(block).all():
                i, j = np.argwhere(~np.isfinite(block))[0]
                raise DataError(f"{where}: NaN or infinite values in the input genes (first: sample "
                                f"{str(adata.obs_names[s + i])!r}, gene {self.input_names[j]!r}); fill them in or "
                                "drop those samples first (rnagen data prepare --missing impute|drop)")
            below = block < 0
            if below.any():
                if not n_neg:
                    i, j = np.argwhere(below)[0]
                    first_neg = (f"sample {str(adata.obs_names[s + i])!r}, gene {self.input_names[j]!r}: "
                                 f"{float(block[i, j]):.4g}")
                n_neg += int(below.sum())
        self._check_scale(adata, np.asarray(pos), where)
        if n_neg and any(isinstance(t, Log2p1) for t in self._pipelines()[0].steps):
            # values on the fitted linear scale (the log-scale reading was refused above) with some below 0, as a
            # generator's noise leaves them: log2(x+1) is undefined below -1 and is no expression level below 0
            raise DataError(f"{where}: {n_neg} values of its input genes are below 0 (first: {first_neg}), but the "
                            "reconstructor takes log2(x+1) of values before the log, which are never negative; "
                            "set them to 0 (clip the profiles at 0) or drop those samples first")
        return pos

    def _check_scale(self, adata, pos: np.ndarray, where: str) -> None:
        """The input genes of ``adata`` on the scale the reconstructor was fitted on: log-scale values given to one
        that takes the log itself (fitted on counts or TPM) would be logged twice, raw values given to one fitted on
        log-scale data not at all; either way every prediction is off, so both are refused."""
        lg = self.meta.get("log", {})
        X = _dense_rows(adata.X, slice(0, min(adata.n_obs, 2000)), pos, cast=False)
        if not X.size:
            return
        self._check_not_standardised(X, where)
        st = log_state(adata)   # recorded (rnagen data prepare, a synthetic set): not guessed from the values
        fitted = self._fitted_log_state()
        if log_bases_differ(fitted, st):
            raise DataError(f"{where}: its values are {(st or {}).get('transform')} but the reconstructor was fitted "
                            f"on {lg.get('data_log_state')}: {TWO_LOG_BASES}")
        if lg.get("decided_by") != "auto":
            return   # the user fixed the log step (log=log2p1 or none): their data, their scale
        logged, by_means = (bool(st["logged"]), True) if st is not None else self._looks_logged_inputs(X)
        if lg.get("applied") and logged:
            raise DataError(f"{where}: its input genes look log-scale (values up to {float(np.nanmax(X)):.3g}) but the "
                            "reconstructor was fitted on values before the log (it takes log2(x+1) itself); give the "
                            "values before the log, or fit it on log-scale data")
        # linear values with a few below 0 (a generator's noise) are linear still, where the recorded state or the
        # fitted means say so; below 0 by the range rule alone, they may be centred log values
        if not lg.get("applied") and not logged and (by_means or float(np.nanmin(X)) >= 0):
            raise DataError(f"{where}: its input genes look like values before the log (up to "
                            f"{float(np.nanmax(X)):.4g}) but the reconstructor was fitted on log-scale data; give "
                            "log-scale values (log2(x+1)), or fit it on the raw values")

    def _fitted_log_state(self) -> dict | None:
        """The log state of the fit's data (:func:`rnagen.pp.history.log_state`'s form): its recorded base, or the
        base its transform names where a fit of an earlier version recorded none (log2(x+1)), with its pseudocount
        where recorded; ``None`` for data the reconstructor logs itself (they were linear)."""
        lg = self.meta.get("log", {})
        if lg.get("applied"):
            return None
        pc = lg.get("data_log_pseudocount")
        return {"logged": True, "transform": lg.get("data_log_state", ""), "base": lg.get("data_log_base"),
                "pseudocount": float(pc) if isinstance(pc, (int, float)) else float("nan")}

    def _on_fitted_base(self, adata, where: str):
        """``adata`` (scanpy's ``uns["log1p"]`` taken as its log state, :func:`rnagen.pp.history.with_scanpy_log1p`)
        with its values on the fit's log scale where the two records name two scales that can be brought to one,
        as ``rnagen evaluate`` scores such sets (:func:`rnagen.pp.history.log_plan`): inputs recorded as
        ``log_b(x + 1)`` beside a fit on log2 values made log2(x+1) (times ``log2(b)``, exact), log2(x+1) inputs
        beside a fit on ``log_b(x + 1)`` made that (divided by ``log2(b)``), inputs of another pseudocount than the
        fit's (log2(x+1) beside log2(TPM+0.001)) made the fit's (:func:`rnagen.pp.history.relogged`, exact, or
        refused). A copy is converted, never the caller's object; returns it with the line saying so (``None``
        where nothing was converted or said; a pseudocount one record names and the other does not is said, the
        values taken as they are). Bases that cannot be brought to one are refused by :meth:`_check_scale`."""
        require_anndata(adata, where)
        adata = with_scanpy_log1p(adata, where)
        fitted, st = self._fitted_log_state(), log_state(adata)
        if log_plan(fitted, st) is None or st is None or fitted is None:
            note = unknown_pseudocount_note(where, st, "the reconstructor's training data", fitted)
            return adata, note
        fitted = {**fitted, "transform": fitted.get("transform") or "the reconstructor's training data's log"}
        b2, c2 = relogged_scale(st, fitted)
        assert c2 is not None
        out = relogged_copy(adata, fitted, f"{where} beside the reconstructor's training data's {fitted['transform']}")
        how = conversion_formula(st, fitted)
        return out, (f"{where}: its {st.get('transform')} converted to {log1p_name(b2, c2)} ({how}, exact), the "
                     f"reconstructor's training data's {'base' if how.startswith('x ') else 'scale'}")

    def _check_not_standardised(self, X: np.ndarray, where: str) -> None:
        """Input genes standardised per gene (z-scores: each gene's mean 0 and sd 1) given to a reconstructor fitted
        on expression values (its input genes' means far from 0): each gene would be read as expressed at about
        the training data's lowest level, and every prediction would be off. Refused, by the values, whatever
        scale the file records."""
        steps = self.pipe_in.steps if self.pipe_in is not None else []
        sc = steps[-1] if steps and isinstance(steps[-1], StandardScaler) else None
        if sc is None or sc.mean is None or sc.std is None or not looks_standardised(X):
            return
        mu, sd = np.asarray(sc.mean, np.float64), np.asarray(sc.std, np.float64)
        # fitted on values whose genes sit more than one of their sds from 0: not z-scores themselves
        if float(np.median(np.abs(mu) / np.maximum(sd, 1e-12))) > 1.0:
            raise DataError(f"{where}: its input genes are standardised per gene (each gene's mean 0 and sd 1: "
                            f"z-scores), but the reconstructor was fitted on expression values (their median mean "
                            f"{float(np.median(mu)):.3g}); give the values before scaling")

    def _looks_logged_inputs(self, X: np.ndarray) -> tuple[bool, bool]:
        """Whether input values ``X`` (samples x input genes, no recorded log state) are log-scale, and whether the
        fitted input genes decided it: the scale on which their means lie nearer the training means (in training
        standard deviations, median over the genes) when the two readings differ fourfold or more, else the
        value-range rule of :func:`rnagen.pp.looks_logged`. The range alone cannot tell linear values that stay
        in the log range (genes of 3 to 25 reads, say) from log values. The linear reading takes values below 0 as
        0: a generator's profiles on the linear scale hold a few such values, which leave their means where they
        are, while log-scale values (log2(TPM+0.001) at -9.97 for no expression) are judged as the log values they
        are."""
        steps = self.pipe_in.steps if self.pipe_in is not None else []
        sc = steps[-1] if steps and isinstance(steps[-1], StandardScaler) else None
        if sc is None or sc.mean is None or sc.std is None:
            return looks_logged(X), False
        mu, sd = np.asarray(sc.mean, np.float64), np.asarray(sc.std, np.float64)
        m = np.nanmean(np.asarray(X, np.float64), axis=0)

        def off(means: np.ndarray) -> float:
            return float(np.nanmedian(np.abs(means - mu) / sd)) if np.isfinite(means).any() else np.inf

        # the fitted means are of log-scale values either way (log2(x+1) taken by the pipeline or by the user):
        # log-scale input compares as it is, linear input after log2(x+1)
        as_log = off(m)
        as_linear = off(np.log2(np.maximum(np.asarray(X, np.float64), 0.0) + 1.0).mean(axis=0))
        if as_log <= 0.25 * as_linear:
            return True, True
        if as_linear <= 0.25 * as_log:
            return False, True
        return looks_logged(X), False

    def predict(self, adata) -> np.ndarray:
        """Predicted target genes (``target_names`` order) for the input genes of ``adata``, original units."""
        self._check()
        adata, _ = self._on_fitted_base(adata, "the data to reconstruct")
        pos = np.asarray(self._input_positions(adata, "the data to reconstruct"))
        n = adata.n_obs
        out = np.empty((n, len(self.target_idx)), dtype=np.float32)
        step = _chunk_rows(len(self.var_names))
        pipe_in, pipe_out = self._pipelines()
        for s in range(0, n, step):
            Zin = pipe_in.transform(_dense_rows(adata.X, slice(s, s + step), pos))
            out[s:s + step] = pipe_out.inverse_transform(self._predict_z(Zin))
        return out

    def apply(self, adata):
        """Full profiles: the input genes of ``adata`` unchanged plus the predicted target genes.

        Returns
        -------
        anndata.AnnData
            ``n_obs`` x all training genes, in the training data's gene order and units; ``obs`` and ``uns``
            of ``adata`` kept; ``var["reconstructed"]`` marks predicted genes (``var["symbol"]`` when known).
            Inputs recorded on another log base than the fit's are converted to it first
            (:meth:`_on_fitted_base`), and the ``reconstruct`` step records it (``input_log``).
        """
        import anndata as ad

        self._check()
        adata, rebased = self._on_fitted_base(adata, "the data to reconstruct")
        pos = np.asarray(self._input_positions(adata, "the data to reconstruct"))
        Xin = adata.X
        n = adata.n_obs
        # the inputs are copied as they are, so keep their precision (float32 at least)
        full = np.empty((n, len(self.var_names)), dtype=np.result_type(Xin.dtype, np.float32))
        step = _chunk_rows(len(self.var_names))
        pipe_in, pipe_out = self._pipelines()
        for s in range(0, n, step):
            block = _dense_rows(Xin, slice(s, s + step), pos, cast=False)
            full[s:s + step, self.input_idx] = block              # inputs copied, not round-tripped
            Zin = pipe_in.transform(block)
            full[s:s + step, self.target_idx] = pipe_out.inverse_transform(self._predict_z(Zin))
        var = pd.DataFrame(index=pd.Index(self.var_names))
        if any(self.symbols):
            var["symbol"] = self.symbols
        rec = np.ones(len(self.var_names), dtype=bool)
        rec[self.input_idx] = False
        var["reconstructed"] = rec
        out = ad.AnnData(X=full, obs=adata.obs.copy(), var=var)
        out.uns = copy.deepcopy(dict(adata.uns))   # the input's own record is not written to
        u = dict(out.uns.get("rnagen", {}))
        if isinstance(u.get("synthetic"), dict) and u["synthetic"].get("rounded"):
            # the predicted genes are not whole numbers: the input's rounding no longer describes the profiles
            u["synthetic"] = {k: v for k, v in u["synthetic"].items() if k != "rounded"}
        out.uns["rnagen"] = u
        fitted = self.meta.get("log")
        if log_state(out) is None and isinstance(fitted, dict) and "applied" in fitted:
            # the profiles are in the training data's units (the inputs were checked to be on its scale): their
            # scale is recorded, which an input read from a table does not carry
            logged = not bool(fitted["applied"])
            what = str(fitted.get("data_log_state", "detected from the value range")) if logged else "linear"
            set_log_state(out, logged=logged, transform=f"{what}, as the reconstructor's training data")
        record(out, "reconstruct", method=self.method, n_inputs=int(len(self.input_idx)),
               n_targets=int(len(self.target_idx)), rnagen_version=__version__,
               **({"input_log": rebased} if rebased is not None else {}),
               **self._genes_not_kept(adata, pos))
        return out

    def _genes_not_kept(self, adata, pos: np.ndarray) -> dict[str, Any]:
        """The genes of ``adata`` besides its input genes, which the full profiles do not carry over: those the
        reconstructor predicts (their values replaced by its predictions: ``replaced_targets``, the first names in
        ``replaced_examples``) and those it does not know (left out: ``left_out_genes``, ``left_out_examples``);
        nothing where ``adata`` holds only input genes."""
        var = self._gene_names(adata)
        if len(var) <= len(pos):
            return {}
        hits = match_genes(self.target_names, var)
        replaced = sorted({h for h in hits if h is not None} - set(pos.tolist()))
        left = sorted(set(range(len(var))) - set(pos.tolist()) - set(replaced))
        out: dict[str, Any] = {}
        if replaced:
            out.update(replaced_targets=len(replaced), replaced_examples=[var[i] for i in replaced[:5]])
        if left:
            out.update(left_out_genes=len(left), left_out_examples=[var[i] for i in left[:5]])
        return out

    # --- scoring ----------------------------------------------------------------------------------------
    def score(self, adata, *, per_gene: bool = True) -> dict[str, Any]:
        """Score the reconstruction on held-out real full profiles.

        The input genes of ``adata`` are mapped to the target genes, and predictions are compared with the
        real target values on the model's log scale (``log2(x+1)`` of the data, or the data themselves when
        already log-scale): per-gene R² and Pearson r with their distribution (median, quartiles, mean), and
        overall MSE and MAE over all target values (plus ``mse_z``, the MSE of the z-scores). Targets absent
        from ``adata`` are skipped, counted and named (``targets_missing``).

        Returns
        -------
        dict
            JSON-able; ``per_gene`` (when asked) holds ``gene``, ``symbol``, ``r2`` and ``pearson`` lists;
            ``log_note`` where the test data's log was converted to the fit's base (:meth:`_on_fitted_base`).
        """
        self._check()
        require_anndata(adata, "the test data")
        if not isinstance(per_gene, (bool, np.bool_)):   # "no" would read as true
            raise ConfigError(f"score: per_gene must be True or False, got {per_gene!r}")
        adata, rebased = self._on_fitted_base(adata, "the test data")
        var = self._gene_names(adata)
        pos = np.asarray(self._input_positions(adata, "the test data"))
        hits = match_genes(self.target_names, var, unique=True, where="the test data")
        keep = np.asarray([k for k, h in enumerate(hits) if h is not None], dtype=np.int64)
        if keep.size == 0:
            raise DataError(f"none of the {len(self.target_idx)} target genes of the reconstructor are in the test "
                            f"data; score on full profiles with the training data's genes")
        tpos = np.asarray([hits[k] for k in keep], dtype=np.int64)
        self._refuse_reconstructed(adata, tpos)
        if adata.n_obs < MIN_SCORE_SAMPLES:
            # each gene's R² divides by its spread over the test profiles: over 2 or 3 of them some genes hardly
            # vary, and their R² (large and negative) swamps the mean
            raise DataError(f"need at least {MIN_SCORE_SAMPLES} test samples to score a reconstruction (a per-gene R² "
                            f"over fewer is dominated by the genes that happen not to vary), got {adata.n_obs}")
        seen = self._training_profiles(adata, pos)
        pipe_in, pipe_out = self._pipelines()
        sub_out = pipe_out.subset(keep)
        logstep, scaler = Pipeline(sub_out.steps[:-1]), sub_out.steps[-1]
        Zin = pipe_in.transform(_dense_rows(adata.X, slice(0, adata.n_obs), pos))
        Zp = self._predict_z(Zin)[:, keep].astype(np.float64)
        truth_log = logstep.transform(_dense_rows(adata.X, slice(0, adata.n_obs), tpos))
        pred_log = scaler.inverse_transform(Zp)
        if any(st.kind in ("nonnegative", "log2p1") for st in sub_out.steps):
            np.maximum(pred_log, 0.0, out=pred_log)   # as apply and predict return them: at or above 0
            Zp = scaler.transform(pred_log)
        r2, r = gene_scores(truth_log, pred_log)
        err = pred_log - truth_log
        zt = scaler.transform(truth_log)
        if float(np.mean(err * err)) < _OWN_PREDICTIONS_MSE * float(np.mean(truth_log.var(axis=0))):
            raise DataError("the test data's target genes are this reconstructor's own predictions (they match them "
                            "to within rounding: reconstructed profiles, as a CSV file of reconstruct apply's holds "
                            "them): they would score it against itself; score on held-out real full profiles")
        genes = [self.target_names[k] for k in keep]
        res: dict[str, Any] = {
            "method": self.method,
            "n_samples": int(adata.n_obs),
            "n_inputs": int(len(self.input_idx)),
            "n_targets": int(len(self.target_idx)),
            "n_targets_scored": int(keep.size),
            "n_targets_missing": int(len(self.target_idx) - keep.size),
            "targets_missing": [self.target_names[k] for k, h in enumerate(hits) if h is None],
            "scale": self._scale_name(),
            "r2": _summary(r2),
            "pearson": _summary(r),
            "mse": float(np.mean(err * err)),
            "mae": float(np.mean(np.abs(err))),
            "mse_z": float(np.mean((Zp - zt) ** 2)),
        }
        if rebased is not None:
            res["log_note"] = rebased
        if seen:
            names = [str(x) for x in adata.obs_names]
            res["held_out_in_train"] = {
                "n": len(seen), "examples": [names[i] for i in seen[:5]],
                "note": (f"{len(seen)} of the {adata.n_obs} test profiles equal training profiles on every input "
                         f"gene (e.g. {names[seen[0]]!r}): their scores are on seen data; remove them from the test "
                         "set")}
        if per_gene:
            res["per_gene"] = {"gene": genes, "symbol": [self.symbols[self.target_idx[k]] for k in keep],
                               "r2": r2.tolist(), "pearson": r.tolist()}
        return res

    @staticmethod
    def _refuse_reconstructed(adata, tpos: np.ndarray) -> None:
        """Refuse test data whose target genes are predictions: profiles :meth:`apply` wrote (their history's
        ``reconstruct`` step, or ``var["reconstructed"]`` marking the genes at ``tpos``, as a GCT file keeps it).
        Scored, a reconstructor's own predictions give R² 1, and another reconstructor's measure the two against
        each other, not against measured expression."""
        steps = [h for h in get_history(adata) if h.get("step") == "reconstruct"]
        mark = adata.var["reconstructed"] if "reconstructed" in adata.var.columns else None
        marked = (mark is not None and pd.api.types.is_bool_dtype(mark.dtype)
                  and bool(np.asarray(mark, dtype=bool)[tpos].any()))
        if steps or marked:
            how = (f"its record names a {steps[-1].get('method') or 'reconstruct'} step" if steps
                   else "its genes are marked reconstructed")
            raise DataError(f"the test data are reconstructed profiles ({how}): their target genes are predictions, "
                            "not measured values, and would score the reconstruction against predictions; score on "
                            "held-out real full profiles")

    def _training_profiles(self, adata, pos: np.ndarray) -> list[int]:
        """The test profiles that are training profiles (every input value the same by their digests, or the same
        up to rounding by their projections; sample ids are not compared): most of them refused (the training
        file given to score, a split done wrong, also once written with fewer decimals), a few returned for a
        note. A folder saved without the digests checks nothing."""
        if self.train_keys is None:
            return []
        seen = {bytes(k) for k in self.train_keys}
        hit = np.array([bytes(k) in seen for k in _input_keys(adata.X, pos)], dtype=bool)
        if self.train_sketch is not None and not hit.all():
            X = _dense_rows(adata.X, slice(0, adata.n_obs), pos)
            scale = np.sqrt(np.mean(X * X, axis=1))
            hit |= _near_sketch(_input_sketch(X, np.arange(X.shape[1])), self.train_sketch, scale)
        same = np.flatnonzero(hit).tolist()
        if 2 * len(same) > adata.n_obs:
            name = str(adata.obs_names[same[0]])
            raise DataError(f"{len(same)} of the {adata.n_obs} test profiles are training profiles of the "
                            f"reconstructor, every input value the same up to rounding (e.g. {name!r}); score on "
                            "held-out profiles (rnagen data split before reconstruct fit)")
        return same

    def _scale_name(self) -> str:
        lg = self.meta.get("log", {})
        if lg.get("applied"):
            return "log2(x+1)"
        if lg.get("decided_by") == "none":
            return "as given (no log applied)"
        return f"as given (already log scale: {lg.get('data_log_state', 'detected')})"

    # --- persistence ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the reconstructor folder (see the module docstring); every file atomically, ``meta.json`` last."""
        self._check()
        d = check_output(path, kind="dir", option="reconstructor folder")
        with writer_lock(d, kind="dir"):
            check_folder(d, replace=True)
            before = {f: _file_id(d / f) for f in FOLDER_FILES}
            try:
                self._save(d)
            except BaseException:
                # a save cut short (a full disk): the files it put in place go, so no half-written folder is left
                for f in FOLDER_FILES:
                    if _file_id(d / f) not in (None, before[f]):
                        (d / f).unlink(missing_ok=True)
                raise
        return d

    def _save(self, d: Path) -> None:
        write_config(d / "config.toml", self.config, model="reconstruct")
        role = np.full(len(self.var_names), "target", dtype=object)
        role[self.input_idx] = "input"
        genes = pd.DataFrame({"gene": self.var_names, "role": role, "symbol": self.symbols})
        with atomic_path(d / "genes.tsv") as tmp:
            genes.to_csv(tmp, sep="\t", index=False)
        pipe_in, pipe_out = self._pipelines()
        desc_in, arr_in = pipe_in.to_state()
        desc_out, arr_out = pipe_out.to_state()
        arrays = {f"inputs/{k}": v for k, v in arr_in.items()}
        arrays.update({f"targets/{k}": v for k, v in arr_out.items()})
        arrays["input_order"] = self.input_idx
        if self.train_keys is not None:
            arrays["train_rows"] = self.train_keys
        if self.train_sketch is not None:
            arrays["train_sketch"] = self.train_sketch
        write_npz(d / "transforms.npz", **arrays)
        self._save_weights(d)
        write_json(d / "meta.json", {**self.meta, "pipelines": {"inputs": desc_in, "targets": desc_out}})
        write_manifest(d, FOLDER_FILES[:-1], kind=_KIND)  # last: every file above is complete

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str = "auto") -> "Reconstructor":
        """Load a folder written by :meth:`save` (as the class of its method); needs nothing else."""
        d = as_path(path, "load: the reconstructor folder", error=ConfigError)
        meta = _read_folder_meta(d)
        fix = _LOAD_FIX
        from ..config import read_toml

        with reading(d / "config.toml", fix=fix):
            cfg = build_config(ReconstructConfig, toml=read_toml(d / "config.toml"))
        self = _METHODS[cfg.method](cfg)
        self._load_genes_and_transforms(d, meta)
        self._load_weights(d, fix=fix, device=device)
        self.meta = meta
        self.is_fitted = True
        return self

    def _load_genes_and_transforms(self, d: Path, meta: dict[str, Any]) -> None:
        """Genes, roles and fitted pipelines of the folder (``meta`` loses its ``pipelines`` entry)."""
        fix = _LOAD_FIX
        with reading(d / "genes.tsv", fix=fix):
            genes = pd.read_csv(d / "genes.tsv", sep="\t", dtype=str, keep_default_na=False)
            self.var_names = genes["gene"].tolist()
            self.symbols = genes["symbol"].tolist()
            roles = genes["role"].to_numpy()
            if not pd.Index(self.var_names).is_unique:
                raise ValueError("duplicated gene ids")
        with reading(d / "transforms.npz", fix=fix):
            with np.load(d / "transforms.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            self.input_idx = arrays["input_order"].astype(np.int64)
            self.train_keys = arrays["train_rows"].astype(np.uint8) if "train_rows" in arrays else None
            if self.train_keys is not None and (self.train_keys.ndim != 2 or self.train_keys.shape[1] != 16):
                raise ValueError("train_rows is not a digest per training profile")
            self.train_sketch = arrays["train_sketch"].astype(np.float32) if "train_sketch" in arrays else None
            if self.train_sketch is not None and (self.train_sketch.shape[1:] != (_SKETCH_DIMS,) or (
                    self.train_keys is not None and len(self.train_sketch) != len(self.train_keys))):
                raise ValueError("train_sketch is not a projection per training profile")
            self.target_idx = np.flatnonzero(roles == "target").astype(np.int64)
            if sorted(self.input_idx.tolist()) != np.flatnonzero(roles == "input").tolist():
                raise ValueError("genes.tsv and transforms.npz disagree on the input genes")
        with reading(d / "meta.json", fix=fix):
            pipelines = meta.pop("pipelines")
        with reading(d / "transforms.npz", fix=fix):
            self.pipe_in = Pipeline.from_state(pipelines["inputs"], {k[len("inputs/"):]: v for k, v in arrays.items()
                                                                     if k.startswith("inputs/")})
            self.pipe_out = Pipeline.from_state(pipelines["targets"], {k[len("targets/"):]: v
                                                                       for k, v in arrays.items()
                                                                       if k.startswith("targets/")})
            self.pipe_in.inverse_transform(np.zeros((1, len(self.input_idx)), dtype=np.float32))
            self.pipe_out.inverse_transform(np.zeros((1, len(self.target_idx)), dtype=np.float32))


class LinearReconstructor(Reconstructor):
    """Ridge least squares from input to target z-scores (Lacan et al.'s linear map, with a penalty chosen on
    the validation split: :func:`rnagen.reconstruct.ridge.fit_ridge`)."""

    def __init__(self, config: ReconstructConfig | None = None):
        super().__init__(config)
        self.coef: np.ndarray | None = None         # inputs x targets
        self.intercept: np.ndarray | None = None
        self._alpha: np.ndarray | None = None       # the penalty chosen for each target gene

    def _progress_bar(self, n_targets: int) -> Any:
        from ..utils import progress_bar

        return progress_bar(total=n_targets, desc="ridge", unit="gene")

    def _fit_map(self, Zin: np.ndarray, Zout: np.ndarray, val_idx: np.ndarray, *, device: str,
                 bar: Any) -> dict[str, Any]:
        lin = self.config.linear
        res = fit_ridge(Zin, Zout, val_idx=val_idx if len(lin.alphas) > 1 else None, alphas=lin.alphas,
                        per_gene=lin.per_gene_alpha, block=lin.block,
                        progress=bar.update if bar is not None else None)
        self.coef, self.intercept = res.coef, res.intercept
        self._alpha = res.alpha.astype(np.float32)
        chosen = np.unique(res.alpha)
        return {"alpha": float(chosen[0]) if chosen.size == 1 else "per gene",
                "alpha_per_gene_counts": {f"{a:g}": int((res.alpha == a).sum()) for a in chosen},
                "alphas": res.alphas.tolist(), "val_mse": res.val_mse.tolist(),
                "val_r2_mean": float(res.val_r2[0]) if res.val_r2.size else None}

    def _predict_z(self, Zin: np.ndarray) -> np.ndarray:
        assert self.coef is not None and self.intercept is not None  # fitted: callers check first
        return Zin.astype(np.float32) @ self.coef + self.intercept

    def _save_weights(self, d: Path) -> None:
        from safetensors.numpy import save_file

        alpha = self._alpha if self._alpha is not None else np.zeros(0, np.float32)
        tensors = {"coef": np.ascontiguousarray(self.coef, dtype=np.float32),
                   "intercept": np.ascontiguousarray(self.intercept, dtype=np.float32),
                   "alpha": np.ascontiguousarray(alpha)}
        with atomic_path(d / "weights.safetensors") as tmp:
            save_file(tensors, str(tmp))

    def _load_weights(self, d: Path, *, fix: str, device: str) -> None:
        from safetensors.numpy import load_file

        w_path = d / "weights.safetensors"
        with reading(w_path, fix=fix):
            w = load_file(str(w_path))
        with reading(w_path, fix=fix, reason=_MISFIT):
            self.coef, self.intercept = w["coef"], w["intercept"]
            self._alpha = w.get("alpha")
            if self.coef.shape != (len(self.input_idx), len(self.target_idx)) or \
                    self.intercept.shape[-1] != len(self.target_idx):
                raise ValueError(_MISFIT)


class MLPReconstructor(Reconstructor):
    """A D-GEX MLP from input to target z-scores (Chen et al. 2016; :mod:`rnagen.reconstruct.mlp`), stopped
    early on the validation split; its epochs are saved as ``train_log.csv``."""

    def __init__(self, config: ReconstructConfig | None = None):
        super().__init__(config)
        self.net: torch.nn.Module | None = None
        self.device: torch.device | None = None

    def _progress_bar(self, n_targets: int) -> Any:
        from ..utils import progress_bar

        return progress_bar(total=self.config.mlp.max_epochs, desc="mlp", unit="epoch")

    def _fit_map(self, Zin: np.ndarray, Zout: np.ndarray, val_idx: np.ndarray, *, device: str,
                 bar: Any) -> dict[str, Any]:
        from ..utils import resolve_device
        from .mlp import build_mlp, train_mlp

        self.device = resolve_device(device)
        m = self.config.mlp

        def _tick(epoch, row):
            if bar is not None:
                bar.update(1)
                bar.set_postfix(val_mse=f"{row['val_mse']:.4f}")

        out = train_mlp(Zin, Zout, val_idx=val_idx, hidden=m.hidden, dropout=m.dropout, lr=m.lr,
                        weight_decay=m.weight_decay, batch_size=m.batch_size, max_epochs=m.max_epochs,
                        patience=m.patience, seed=self.config.seed, device=self.device, progress=_tick)
        self.net = net = build_mlp(Zin.shape[1], Zout.shape[1], m.hidden, m.dropout)
        net.load_state_dict(out.state)
        net.to(self.device).eval()
        self.history = out.history
        return {"best_epoch": out.best_epoch, "epochs": out.epochs, "best_val_mse": out.best_val_mse,
                "device": str(self.device)}

    def _predict_z(self, Zin: np.ndarray) -> np.ndarray:
        from .mlp import predict_mlp

        assert self.net is not None  # fitted: callers check first
        return predict_mlp(self.net, Zin, device=self.device)

    def _save_weights(self, d: Path) -> None:
        from safetensors.torch import save_file

        assert self.net is not None  # only a fitted reconstructor is saved
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        with atomic_path(d / "weights.safetensors") as tmp:
            save_file(state, str(tmp))
        with atomic_path(d / "train_log.csv") as tmp:
            pd.DataFrame(self.history).to_csv(tmp, index=False)

    def _load_weights(self, d: Path, *, fix: str, device: str) -> None:
        from safetensors.torch import load_file

        from ..utils import resolve_device
        from .mlp import build_mlp

        w_path, m = d / "weights.safetensors", self.config.mlp
        self.device = resolve_device(device)
        with reading(d / "config.toml", fix=fix):
            self.net = net = build_mlp(len(self.input_idx), len(self.target_idx), m.hidden, m.dropout)
        with reading(w_path, fix=fix):
            state = load_file(str(w_path))
        with reading(w_path, fix=fix, reason=_MISFIT):
            net.load_state_dict(state)
        net.to(self.device).eval()
        log = d / "train_log.csv"
        with reading(log, fix=fix):
            self.history = pd.read_csv(log).to_dict("records") if log.is_file() else []


#: the class of each ``method``
_METHODS: dict[str, type[Reconstructor]] = {"linear": LinearReconstructor, "mlp": MLPReconstructor}


def _read_folder_meta(d: Path) -> dict[str, Any]:
    """``meta.json`` of a complete, verified reconstructor folder ."""
    meta_path = d / "meta.json"
    if not meta_path.is_file():
        raise RunDirError(f"{d} is not a reconstructor folder (no meta.json); create one with "
                          f"`rnagen reconstruct fit`")
    fix = _LOAD_FIX
    verify_manifest(d, fix=fix)
    with reading(meta_path, fix=fix):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    if meta.get("kind") != _KIND:
        raise RunDirError(f"{d} holds a {meta.get('kind', meta.get('model', 'unknown'))!r} folder, not a "
                          f"reconstructor")
    missing = [f for f in ("config.toml", "genes.tsv", "transforms.npz", "weights.safetensors")
               if not (d / f).is_file()]
    if missing:
        raise RunDirError(f"{d} is not a complete reconstructor folder (missing {', '.join(missing)}); {fix}")
    return meta


def fit(adata, *, inputs: str | Sequence[str] | os.PathLike = "landmarks",
        method: Literal["linear", "mlp"] | None = None, seed: int | None = None, val_size: float | None = None,
        label_key: str | None = None, config: ReconstructConfig | None = None,
        overrides: Sequence[str] | dict | None = None, device: str = "auto", progress: bool = False) -> Reconstructor:
    """Fit a reconstructor on real full profiles (see :meth:`Reconstructor.fit`).

    Parameters
    ----------
    adata
        Real samples x all genes (inputs and targets), any units.
    inputs
        ``"landmarks"``, a list of gene IDs, or a genes file path.
    method
        ``"linear"`` (ridge, penalty chosen on the validation split, closed form) or ``"mlp"`` (D-GEX);
        default: the config's (``"linear"``).
    seed
        Seed of the validation split and of the MLP (default: the config's, 0).
    val_size
        Fraction of samples held out for the penalty choice / early stopping (default: the config's, 0.1).
    config, overrides
        A full :class:`ReconstructConfig`, and ``"section.key=value"`` overrides on top of it (e.g.
        ``["mlp.hidden=[512]", "linear.per_gene_alpha=true"]``). ``method``, ``seed`` and ``val_size`` given
        here win over both.
    device
        ``auto`` (CUDA when available), ``cpu`` or ``cuda``: where the MLP trains (the linear fit is NumPy).
    progress
        Print the MLP's training progress.

    Returns
    -------
    Reconstructor
        Fitted; ``save`` writes it to a folder, ``apply`` / ``predict`` / ``score`` use it.
    """
    base = config if config is not None else ReconstructConfig()
    require_config(base, ReconstructConfig, "reconstruct.fit")
    cfg = build_config(ReconstructConfig, overrides=overrides, base=dataclasses.replace(base)) if overrides else base
    given = {k: v for k, v in (("method", method), ("seed", seed), ("val_size", val_size)) if v is not None}
    if given:
        cfg = build_config(ReconstructConfig, overrides=given, base=cfg)
    return Reconstructor(cfg).fit(adata, inputs=inputs, label_key=label_key, device=device, progress=progress)


def load(path: str | os.PathLike, *, device: str = "auto") -> Reconstructor:
    """Load a reconstructor folder written by :meth:`Reconstructor.save`."""
    return Reconstructor.load(path, device=device)
