"""Which rows of :func:`rnagen.metrics.evaluate`'s table are the overall ones.

Each row of the table has a ``group``: :data:`OVERALL_GROUP` for an indicator over every class, a class name for
a per-class row (TSTR F1, DE F1, co-expression per class), ``"a vs b"`` for a pair of classes (``"a vs b (pair)"``
where a class bears the name ``"a vs b"``: :func:`rnagen.metrics.biology.pair_group`). A class may carry
any name, :data:`OVERALL_GROUP` included; where one does, the ``group`` text alone cannot tell that class's rows
from the overall ones, and the table gains the boolean column :data:`OVERALL_COLUMN` (its last), true on the
overall rows. Every reader of the table asks :func:`overall_rows`, which reads that column where the table has
it and the ``group`` text otherwise: a table of other class names keeps its columns as they are.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

#: the ``group`` of the table's overall rows; a per-class row's is the class name
OVERALL_GROUP = "all"
#: the column, present only where a class is named :data:`OVERALL_GROUP`, that marks the overall rows
OVERALL_COLUMN = "overall"


def overall_rows(df: pd.DataFrame) -> pd.Series:
    """A boolean Series over ``df``'s rows: true on the overall rows (an indicator over every class; every row of
    a table without a ``group`` column)."""
    import pandas as pd

    if "group" not in df.columns:
        return pd.Series(True, index=df.index)
    if OVERALL_COLUMN in df.columns:
        return df[OVERALL_COLUMN].astype(bool)
    return df["group"] == OVERALL_GROUP


def marked(df: pd.DataFrame, overall) -> pd.DataFrame:
    """``df`` with :data:`OVERALL_COLUMN` as its last column where a row that is not overall has the group
    :data:`OVERALL_GROUP` (a class so named), else without it; ``overall`` is the boolean mask of the overall
    rows."""
    import numpy as np

    overall = np.asarray(overall, dtype=bool)
    df = df.drop(columns=[OVERALL_COLUMN], errors="ignore")
    if not bool(((df["group"] == OVERALL_GROUP).to_numpy() & ~overall).any()):
        return df
    df[OVERALL_COLUMN] = overall   # last: a table output's first fields (name, group, value) stay as they are
    return df
