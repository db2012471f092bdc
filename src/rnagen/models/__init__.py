"""Conditional generators behind one interface: ``fit(adata, label_key=...)``, ``sample(...)``, ``save``,
``load``; a registry by name (``rnagen list models``)."""
from ._base import Generator, PreprocessConfig, available_models, get_model, label_plan, load, register
from ._private import PRIVATE_SETTINGS

__all__ = ["PRIVATE_SETTINGS", "Generator", "PreprocessConfig", "available_models", "get_model", "label_plan", "load",
           "register"]
