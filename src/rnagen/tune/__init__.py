"""Hyperparameter search with Optuna (``rnagen tune``): search spaces declared next to each model, an
objective measured on a validation split, pruning, and storage shared by several workers (SQLite by
default, PostgreSQL for several machines)."""
from .objective import OBJECTIVES, Scores, objective_value, score_synthetic
from .spaces import BUDGETS, Budget, get_budget, register_space, registered_spaces, space_for, suggest
from .study import (
                    DEFAULT_STORAGE,
                    best_config,
                    normalise_storage,
                    open_study,
                    split_validation,
                    tune,
                    write_best_config,
)

__all__ = ["tune", "open_study", "best_config", "write_best_config", "normalise_storage", "split_validation",
           "DEFAULT_STORAGE", "OBJECTIVES", "Scores", "objective_value", "score_synthetic", "BUDGETS", "Budget",
           "get_budget", "register_space", "registered_spaces", "space_for", "suggest"]
