"""The share of the gap closed: where a generator sits between the per-class Gaussian floor and real data.

For a fidelity indicator with a real-vs-real value (the ceiling: real training profiles scored as the synthetic
set) and the value of the per-class Gaussian model (the floor), both measured against the same held-out
profiles::

    gap_closed = 1 - d(model) / d(floor),     d(x) = distance of x from the ceiling

100% means indistinguishable from real data on that indicator, 0% no better than the Gaussian, a negative
value worse than the Gaussian. The distance follows the indicator's direction in the metric registry
(:data:`rnagen.metrics.METRICS`):

- a target value (density 1, AA_ts 0.5, detection AUC 0.5): ``d(x) = |x - ceiling|``; missing the real value
  on either side is a shortfall (an over-dense set is as far from real as an under-dense one);
- ``"higher"`` (precision, recall, coverage, correlation score): ``d(x) = max(ceiling - x, 0)``;
- ``"lower"`` (Fréchet distances, MMD, per-gene distances): ``d(x) = max(x - ceiling, 0)``.

For a one-sided indicator a value beyond the ceiling on the good side (coverage above the real-vs-real value,
a Fréchet distance below it: sampling noise of the reference, or a set spread wider than real data) is not a
shortfall on that indicator, so it counts as 100%; the other indicators show what it costs. Wherever the
model and the floor are on the far side of the ceiling this is the plain ``1 - |model - ceiling| /
|floor - ceiling|``.

An indicator that averages parts (registry ``parts``: AA_ts = (AA_truth + AA_syn) / 2, Yale et al. 2020) is
judged on them when they are given: ``d(x) = mean_p |x_p - ceiling_p|``. The average alone can sit at its
target while both halves miss it on opposite sides: a set far from the data, whose profiles are spread wider
than the real ones, scores AA_truth ~1 (every real profile's nearest neighbour is real) and AA_syn ~0 (every
synthetic profile's is real too), hence AA_ts ~0.5, the ideal value. Where the halves miss on the same side
the two distances agree.

When the floor already reaches the ceiling (``d(floor) == 0``, e.g. coverage 1.0 for both) there is no gap
to close and the share is undefined: it is reported as NaN (see :data:`NO_GAP_NOTE`).

A gap smaller than the indicator's sampling noise is not measured either: the share divides by ``d(floor)``,
so a floor a hair from the ceiling turns any wobble of the model into hundreds of percent.
:func:`gap_resolved` says whether the floor is measurably away from the ceiling: whether the ceiling lies
outside the floor's 95% bootstrap CI on the side the floor falls short (on any part of a composite
indicator). The share is still computed; the tables that show it mark the unresolved ones
(:data:`UNRESOLVED_NOTE`).

Only fidelity, correlation, adversarial, detection and biology indicators get a share (:func:`applies`): utility
(TSTR) is judged against its own reference, TRTR, and the privacy indicators reward a different thing
(distance from the training profiles), so "closer to real than the Gaussian" does not order them.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._registry import METRICS, REFERENCE_FAMILIES, against_reference
from ._table import overall_rows

__all__ = ["gap_closed", "gap_closed_from", "gap_closed_array", "add_gap_columns", "distance_to_ceiling",
           "distance_from", "applies", "gap_resolved", "share_measured", "GAP_FAMILIES", "NO_GAP_NOTE",
           "UNRESOLVED_NOTE"]

#: metric families whose indicators get a share of the gap closed: those judged against the real-vs-real
#: reference
GAP_FAMILIES: tuple[str, ...] = REFERENCE_FAMILIES

#: why a share is NaN when the floor already sits at the ceiling
NO_GAP_NOTE = ("gap closed is undefined (NaN) where the Gaussian floor already reaches the real-vs-real ceiling: "
               "there is no gap to close on that indicator")

#: what a table says of a share whose floor is within its CI of the ceiling (:func:`gap_resolved`)
UNRESOLVED_NOTE = ("the Gaussian floor is within its 95% CI of the real-vs-real value, or the indicator has no CI to "
                   "tell (the biology family): the gap may be smaller than the indicator's sampling noise, so its "
                   "share is not a measurement")


def applies(name: str) -> bool:
    """Does indicator ``name`` get a share of the gap closed? Those judged against the real-vs-real reference
    (:func:`rnagen.metrics._registry.against_reference`; ``privacy_loss`` has none)."""
    return against_reference(name)


def distance_to_ceiling(value: float, *, ceiling: float, direction: str | float) -> float:
    """How far ``value`` falls short of ``ceiling`` on an indicator with registry ``direction``."""
    if direction == "higher":
        return max(ceiling - value, 0.0)
    if direction == "lower":
        return max(value - ceiling, 0.0)
    return abs(value - ceiling)


def gap_closed(name: str, value: float, *, floor: float, ceiling: float,
               parts: Mapping[str, tuple[float, float, float]] | None = None) -> float:
    """Share of the floor-to-ceiling gap that ``value`` closes on indicator ``name`` (see the module text).

    Parameters
    ----------
    name
        A registered indicator (its direction is read from :data:`rnagen.metrics.METRICS`).
    value
        The model's value.
    floor
        The per-class Gaussian model's value against the same held-out profiles.
    ceiling
        The real-vs-real value (real training profiles scored as the synthetic set).
    parts
        For an indicator with registry ``parts`` (AA_ts): ``{part: (value, floor, ceiling)}`` of each part;
        the distances are then read on the parts (module text). Without them, or with any part missing, the
        indicator's own value is used.

    Returns
    -------
    float
        1.0 at the ceiling, 0.0 at the floor, negative when worse than the floor; NaN when the floor already
        reaches the ceiling, when any input is missing, or when ``name`` gets no share (:func:`applies`).
    """
    if not applies(name):
        return math.nan
    vals = [_num(x) for x in (value, floor, ceiling)]
    if not all(math.isfinite(v) for v in vals):
        return math.nan
    value, floor, ceiling = vals
    direction = METRICS[name].direction
    ceil_p = {p: t[2] for p, t in (parts or {}).items()}
    d_model = part_distance(name, {p: t[0] for p, t in (parts or {}).items()}, ceil_p)
    d_floor = part_distance(name, {p: t[1] for p, t in (parts or {}).items()}, ceil_p)
    if d_model is not None and d_floor is not None:
        scale = max(1.0, max(abs(_num(ceil_p[p])) for p in METRICS[name].parts))
    else:
        d_model = distance_to_ceiling(value, ceiling=ceiling, direction=direction)
        d_floor = distance_to_ceiling(floor, ceiling=ceiling, direction=direction)
        scale = max(1.0, abs(ceiling))
    # a floor within rounding of the ceiling leaves no gap: the ratio would only amplify noise
    if d_floor <= 1e-12 * scale:
        return math.nan
    return float(1.0 - d_model / d_floor)


def gap_closed_from(name: str, values: Mapping[str, Any], floors: Mapping[str, Any],
                    ceilings: Mapping[str, Any]) -> float:
    """:func:`gap_closed` of ``name`` from mappings of indicator name to the model's, the floor's and the
    ceiling's values (the parts of a composite indicator are taken from them when all three hold them)."""
    info = METRICS.get(name)
    parts = {p: (values[p], floors[p], ceilings[p]) for p in (info.parts if info else ())
             if p in values and p in floors and p in ceilings}
    return gap_closed(name, _num(values.get(name)), floor=_num(floors.get(name)), ceiling=_num(ceilings.get(name)),
                      parts=parts)


def _num(x: Any) -> float:
    return float(x) if x is not None else math.nan


def part_distance(name: str, values: Mapping[str, Any], references: Mapping[str, Any]) -> float | None:
    """How far a composite indicator (registry ``parts``) is from ``references`` read on its parts:
    mean_p |values[p] - references[p]|; ``None`` when ``name`` has no parts or a part is missing or not finite
    in either mapping."""
    info = METRICS.get(name)
    want = info.parts if info is not None else ()
    if not want or any(p not in values or p not in references for p in want):
        return None
    d = [abs(_num(values[p]) - _num(references[p])) for p in want]
    return float(np.mean(d)) if all(math.isfinite(x) for x in d) else None


def distance_from(name: str, values: Mapping[str, Any], references: Mapping[str, Any]) -> float:
    """The distance of ``values[name]`` from ``references[name]``: on the parts of a composite indicator when
    both mappings hold them (:func:`part_distance`), else on the indicator's side (:func:`distance_to_ceiling`)."""
    d = part_distance(name, values, references)
    if d is not None:
        return d
    return distance_to_ceiling(_num(values.get(name)), ceiling=_num(references.get(name)),
                               direction=METRICS[name].direction)


def _outside(ceiling: float, lo: float, hi: float, direction: str | float) -> bool | None:
    """Is ``ceiling`` beyond the floor's CI ``[lo, hi]`` on the side the floor falls short? ``None`` without a
    finite CI."""
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(ceiling)):
        return None
    if direction == "higher":
        return ceiling > hi
    if direction == "lower":
        return ceiling < lo
    return ceiling < lo or ceiling > hi


def gap_resolved(name: str, floors: Mapping[str, Mapping[str, Any]], ceilings: Mapping[str, Any]) -> float:
    """Whether the floor of indicator ``name`` is measurably away from its ceiling (see the module text).

    Parameters
    ----------
    name
        A registered indicator with a share (:func:`applies`).
    floors
        Indicator name to the floor's ``{"value", "ci_low", "ci_high"}`` (a benchmark result's ``metrics``).
    ceilings
        Indicator name to the real-vs-real value.

    Returns
    -------
    float
        1.0 when the ceiling lies outside the floor's 95% CI on the side the floor falls short (for an
        indicator with registry ``parts``, on any part when every part has a CI), 0.0 when it lies within it,
        NaN when it cannot be told (no share, no CI, a missing value).
    """
    if not applies(name):
        return math.nan
    info = METRICS[name]
    names = list(info.parts) if info.parts and all(p in floors and p in ceilings for p in info.parts) else [name]
    verdicts = []
    for n in names:
        f = floors.get(n) or {}
        verdicts.append(_outside(_num(ceilings.get(n)), _num(f.get("ci_low")), _num(f.get("ci_high")),
                                 METRICS[n].direction))
    if any(v is None for v in verdicts):
        if names != [name]:  # a part without a CI: judge the indicator itself
            return gap_resolved(name, {name: floors.get(name) or {}}, {name: ceilings.get(name)})
        return math.nan
    return 1.0 if any(verdicts) else 0.0


def share_measured(resolved: Any) -> bool:
    """Is a share read as a measurement, given its :func:`gap_resolved` flag (one evaluation: 1 / 0) or the
    share of seeds whose floor was resolved (a leaderboard)? Not when the floor was within its CI of the
    ceiling on at least half of them, nor when it cannot be told (a NaN flag: an indicator without a CI, as the
    biology family's, whose floor may sit within the noise of its ceiling). Without a flag at all (``None``: a
    leaderboard written before the flags) it is read as measured."""
    if resolved is None:
        return True
    x = _num(resolved) if isinstance(resolved, (int, float)) else math.nan
    return math.isfinite(x) and x > 0.5


def gap_closed_array(name: str, values, *, floor, ceiling) -> np.ndarray:
    """:func:`gap_closed` element-wise (e.g. one value per split)."""
    v, f, c = np.broadcast_arrays(np.asarray(values, float), np.asarray(floor, float), np.asarray(ceiling, float))
    return np.array([gap_closed(name, a, floor=b, ceiling=x) for a, b, x in zip(v.ravel(), f.ravel(), c.ravel())]
                    ).reshape(v.shape)


def add_gap_columns(table, floor_table) -> None:
    """Fill the ``floor``, ``gap_closed`` and ``gap_resolved`` columns of an ``evaluate`` table in place.

    ``floor_table`` is the floor set's ``evaluate`` table against the same held-out and training sets with the
    same seed (hence the same real-vs-real subsample when it has the synthetic set's size); the ceiling is
    ``table``'s own ``reference`` column. Only overall rows of indicators with a share (:func:`applies`) that
    the floor table holds are filled.
    """
    ft = floor_table[overall_rows(floor_table)].set_index("name")
    fv = ft["value"].to_dict()
    fci = ft[["value", "ci_low", "ci_high"]].to_dict("index")
    overall = overall_rows(table)
    mine = table[overall].set_index("name")
    values, ceilings = mine["value"].to_dict(), mine["reference"].to_dict()
    if "gap_resolved" not in table.columns:
        table["gap_resolved"] = np.nan
    for i in table.index[overall & table["name"].isin([m for m in fv if applies(m)])]:
        m = table.at[i, "name"]
        table.at[i, "floor"] = fv.get(m, np.nan)
        share = gap_closed_from(m, values, fv, ceilings)
        table.at[i, "gap_closed"] = share
        table.at[i, "gap_resolved"] = gap_resolved(m, fci, ceilings) if math.isfinite(share) else math.nan
