"""Transforms on AnnData (scanpy style): log, gene selection, invertible scalers, class filtering, splits."""
from .history import get_history, log_state, looks_logged, record, set_log_state
from .transforms import Pipeline, Transform, make_pipeline

__all__ = ["Pipeline", "Transform", "make_pipeline", "record", "get_history", "log_state", "set_log_state", "looks_logged"]
