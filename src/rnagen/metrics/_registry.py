"""The metric registry: every quality indicator has a name, a family, a direction and a definition.

``direction`` is ``"higher"`` (higher is better), ``"lower"`` (lower is better) or a number: the ideal target
value (e.g. 0.5 for adversarial accuracy, 0.0 for privacy loss).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """What a reader needs to interpret one indicator."""

    name: str
    family: str
    direction: str | float
    definition: str
    source: str
    needs: tuple[str, ...] = ()  # "labels", "train"
    expensive: bool = False      # bootstrap by recomputation with fewer resamples

    @property
    def direction_text(self) -> str:
        return self.direction if isinstance(self.direction, str) else f"target {self.direction:g}"


METRICS: dict[str, MetricInfo] = {}


def register(name: str, *, family: str, direction: str | float, definition: str, source: str,
             needs: tuple[str, ...] = (), expensive: bool = False) -> MetricInfo:
    """Add a metric to :data:`METRICS` (names are unique)."""
    if name in METRICS:
        raise ValueError(f"metric {name!r} registered twice")
    info = MetricInfo(name, family, direction, definition, source, needs, expensive)
    METRICS[name] = info
    return info
