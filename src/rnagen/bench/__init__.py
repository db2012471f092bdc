"""The one-command benchmark: models x seeds on a labelled data set into a leaderboard (and a report).

- :func:`run_benchmark`: split, train, sample, reconstruct, evaluate, resumable; writes ``leaderboard.csv``,
  ``leaderboard.json`` and the report's plot data into an output folder.
- :mod:`rnagen.bench.budgets`: the documented table of compute budgets (``fast``, ``standard``, ``paper``,
  ``paper-tcga``).
"""
from .budgets import BUDGET_TABLE, BUDGETS, DEFAULT_MODELS, ROWS, budget_overrides, parse_models
from .runner import (
                     GAP_COLUMNS,
                     LEADERBOARD_COLUMNS,
                     METRIC_COLUMNS,
                     TEST_FILE_COLUMN,
                     join_test_file,
                     read_leaderboard,
                     run_benchmark,
                     upgrade_leaderboard,
)

__all__ = ["run_benchmark", "read_leaderboard", "budget_overrides", "parse_models", "BUDGET_TABLE", "BUDGETS",
           "DEFAULT_MODELS", "ROWS", "LEADERBOARD_COLUMNS", "METRIC_COLUMNS", "GAP_COLUMNS", "upgrade_leaderboard",
           "join_test_file", "TEST_FILE_COLUMN"]
