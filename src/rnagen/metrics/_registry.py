"""The metric registry: the single source of each quality indicator's name, family, direction, definition,
source and needs, and of the scorers that compute them.

``direction`` is ``"higher"`` (higher is better), ``"lower"`` (lower is better) or a number: the ideal target
value (e.g. 0.5 for adversarial accuracy, 0.0 for privacy loss). Every consumer (``evaluate``, the benchmark's
leaderboard, the share of the gap closed, the report) reads it from here.

A scorer (:func:`scorer`) is the one function of a family module that computes a group of indicators from the
shared evaluation context (:class:`rnagen.metrics._context.EvalContext`); :func:`rnagen.metrics.evaluate`
runs the scorers of the requested indicators in their ``order``. The order is part of the result: the
scorers draw their bootstrap resamples from one seeded stream, in this order.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MetricInfo", "METRICS", "register", "direction_from_text", "Scorer", "SCORERS", "scorer", "Scored",
           "families", "select_metrics", "unknown_metrics_message", "REFERENCE_FAMILIES", "against_reference"]


@dataclass(frozen=True)
class MetricInfo:
    """What a reader needs to interpret one indicator.

    ``needs`` names the inputs it cannot do without (``"labels"``, ``"train"``); ``reference`` says whether
    it has a real-vs-real reference value (the ceiling of the share of the gap closed); ``parts`` names the
    indicators it averages when its distance from real data is read on them (:mod:`rnagen.metrics.gap`).
    """

    name: str
    family: str
    direction: str | float
    definition: str
    source: str
    needs: tuple[str, ...] = ()  # "labels", "train"
    expensive: bool = False      # bootstrap by recomputation with fewer resamples
    reference: bool = True
    parts: tuple[str, ...] = ()
    lower: float | None = None   # the least value it can take (distances, shares: 0), where its CI is cut
    upper: float | None = None   # the greatest (shares, AUCs, correlations: 1), where its CI is cut

    @property
    def direction_text(self) -> str:
        """The direction as printed in ``evaluate``'s table: ``higher``, ``lower`` or ``target X``."""
        return direction_text(self.direction)


METRICS: dict[str, MetricInfo] = {}


def register(name: str, *, family: str, direction: str | float, definition: str, source: str,
             needs: tuple[str, ...] = (), expensive: bool = False, reference: bool = True,
             parts: tuple[str, ...] = (), lower: float | None = None, upper: float | None = None) -> MetricInfo:
    """Add a metric to :data:`METRICS` (names are unique); ``lower`` / ``upper``: the least / greatest value it
    can take (a distance: 0 and none; a share or an AUC: 0 and 1; a correlation: -1 and 1), past which a
    bootstrap interval is cut (a re-centred or Student-t interval can reach past them, no value can)."""
    if name in METRICS:
        raise ValueError(f"metric {name!r} registered twice")
    info = MetricInfo(name, family, direction, definition, source, needs, expensive, reference, parts, lower,
                      upper)
    METRICS[name] = info
    return info


def scores_copies(name: str) -> bool:
    """Whether indicator ``name`` judges closeness to the training profiles (the privacy and membership families,
    and the AA privacy loss): the training set scored as the synthetic set is its worst case, a generator that
    copies, not its ceiling; its ideal is the held-out real value (the reference column)."""
    info = METRICS.get(name)
    return info is not None and (info.family in ("privacy", "membership") or name == "privacy_loss")


#: the families whose indicators are compared with a real-vs-real reference drawn from the training set at the
#: synthetic set's size (:mod:`rnagen.metrics.evaluate`), the ceiling of their share of the gap closed
#: (:mod:`rnagen.metrics.gap`): their values depend on the sets' sizes, and the reference lies outside the
#: evaluation's fits only where enough training profiles remain besides it
#: (:func:`rnagen.metrics._context.fits_outside`)
REFERENCE_FAMILIES: tuple[str, ...] = ("fidelity", "adversarial", "detection", "correlation", "biology")


def against_reference(name: str) -> bool:
    """Whether indicator ``name`` is judged against the real-vs-real reference: of a family of
    :data:`REFERENCE_FAMILIES`, with a reference in the registry (``privacy_loss``, of the adversarial family,
    has none: an indicator of closeness to the training profiles, :func:`scores_copies`)."""
    info = METRICS.get(name)
    return info is not None and info.family in REFERENCE_FAMILIES and info.reference


def families() -> dict[str, list[str]]:
    """Each family's metrics, in registry order."""
    out: dict[str, list[str]] = {}
    for m in METRICS.values():
        out.setdefault(m.family, []).append(m.name)
    return out


def select_metrics(names: Iterable[str]) -> tuple[list[str], frozenset[str]]:
    """The indicators ``names`` asks for, each name a metric or a family (all of its metrics), in the order given
    without repeats; and those named one by one. A metric named one by one that the inputs cannot compute is an
    error, a family's are left out (``biology`` without gene sets has no ``geneset_ks``). Raises ``KeyError``
    with the unknown names."""
    fam = families()
    unknown = [n for n in names if n not in METRICS and n not in fam]
    if unknown:
        raise KeyError(unknown)
    out: dict[str, None] = {}
    for n in names:
        out.update(dict.fromkeys(fam.get(n, [n])))
    return list(out), frozenset(n for n in names if n in METRICS)


def unknown_metrics_message(unknown: list[str]) -> str:
    """The one-line refusal of unknown indicator names, with the valid ones."""
    return (f"unknown metric(s) {unknown}; valid: a family ({', '.join(families())}) or a metric "
            f"({', '.join(METRICS)})")


def direction_text(direction: str | float) -> str:
    """``"higher"`` / ``"lower"`` as they are, a target value as ``"target X"`` (read back by
    :func:`direction_from_text`)."""
    return direction if isinstance(direction, str) else f"target {direction:g}"


def direction_from_text(text: str) -> str | float:
    """The inverse of :func:`direction_text`: ``"higher"``, ``"lower"`` or the target value as a float."""
    text = str(text).strip()
    if text in ("higher", "lower"):
        return text
    if text.startswith("target "):
        return float(text.removeprefix("target "))
    raise ValueError(f"not a metric direction: {text!r} (expected higher, lower or 'target X')")


# --------------------------------------------------------------------------------------------- scorers
@dataclass
class Scored:
    """What a scorer returns: table rows (see ``EvalContext.row``) and entries for the table's ``attrs``."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scorer:
    """A family module's function computing ``metrics`` from an evaluation context; ``timing`` names its entry
    in ``evaluate``'s ``attrs["timings"]``."""

    name: str
    order: int
    metrics: frozenset[str]
    timing: str
    fn: Callable[[Any], Scored]


SCORERS: dict[str, Scorer] = {}


def scorer(name: str, *, order: int, metrics: tuple[str, ...], timing: str | None = None
           ) -> Callable[[Callable[[Any], Scored]], Callable[[Any], Scored]]:
    """Register the decorated function as the scorer ``name``: run by ``evaluate`` when any of ``metrics`` is
    requested, after every scorer of lower ``order``."""
    def deco(fn: Callable[[Any], Scored]) -> Callable[[Any], Scored]:
        if name in SCORERS:
            raise ValueError(f"scorer {name!r} registered twice")
        SCORERS[name] = Scorer(name, order, frozenset(metrics), timing or name, fn)
        return fn
    return deco


def ordered_scorers() -> list[Scorer]:
    """The registered scorers in their run order."""
    return sorted(SCORERS.values(), key=lambda s: s.order)
