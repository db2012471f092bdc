"""Transforms on AnnData (scanpy style): depth normalisation, log, gene selection, missing values, invertible
scalers, class filtering, splits."""
from .copies import copy_groups, find_copies
from .history import get_history, log_state, looks_logged, record, set_log_state
from .impute import complete_missing
from .prepare import dense, is_logged, to_log_scale
from .preprocess import (
    check_labels,
    class_counts,
    filter_classes,
    fit_scaler,
    get_scaler,
    log2p1,
    looks_like_counts,
    merge_same_genes,
    normalize_depth,
    select_genes,
    split,
)
from .transforms import Pipeline, Transform, make_pipeline

__all__ = ["Pipeline", "Transform", "make_pipeline", "record", "get_history", "log_state", "set_log_state",
           "looks_logged", "looks_like_counts", "normalize_depth", "log2p1", "select_genes", "filter_classes", "split",
           "fit_scaler", "get_scaler", "check_labels", "class_counts", "dense", "is_logged", "to_log_scale",
           "complete_missing", "merge_same_genes", "copy_groups", "find_copies"]
