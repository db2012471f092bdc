"""What ``rnagen tune`` maximises: quality of a synthetic set against a held-out real validation split.

The default objective (higher is better, range [0, 3]) adds three indicators of the paper, each in [0, 1]:

* ``density`` (Naeem et al. 2020, k = 10): how much of the synthetic set lies where real data are dense;
  it can exceed 1 for mode-collapsed sets, so it is clipped at 1 (over-density earns nothing);
* ``aa_score = 1 - |AA_truth - 0.5| - |AA_syn - 0.5|`` (Yale et al. 2020; AA_ts is their mean): 1 when
  real and synthetic profiles are indistinguishable by nearest neighbours (both halves 0.5), 0 when they are
  fully separable (AA_ts = 1), when the synthetic set copies the real one (AA_ts = 0), or when it is spread
  wider than the data (AA_truth = 1, AA_syn = 0: an AA_ts of 0.5 that ``1 - 2 |AA_ts - 0.5|`` would score
  as perfect); where the halves are equal it is ``1 - 2 |AA_ts - 0.5|``;
* ``tstr``: accuracy on the real validation split of the paper's MLP classifier trained on the synthetic
  set only (train on synthetic, test on real), i.e. whether the labels were learned.

The indicators are those of :mod:`rnagen.metrics` (``prdc``, ``adversarial_accuracy``, ``tstr``), with one
classifier seed per evaluation to keep trials cheap.

All three are computed on the same fixed representation for every trial (log2(x+1) unless the data are
already log-scale, then per-gene standardisation fitted on the training split), so trials that search the
model's own preprocessing are still compared on equal terms. ``--objective density|aa|tstr`` optimises one
indicator alone.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

OBJECTIVES = ("default", "density", "aa", "tstr")


@dataclass
class Scores:
    """Indicators of one synthetic set (each in [0, 1], higher is better) and the raw values behind them."""

    density: float
    aa_ts: float
    aa_score: float
    tstr: float

    def as_dict(self) -> dict[str, float]:
        """The four indicators by name (stored as a trial's user attributes)."""
        return {"density": self.density, "aa_ts": self.aa_ts, "aa_score": self.aa_score, "tstr": self.tstr}


#: a diverged model's scores: the worst of each indicator
DIVERGED = Scores(density=0.0, aa_ts=1.0, aa_score=0.0, tstr=0.0)


def _clip01(v: float) -> float:
    v = float(v)
    if not np.isfinite(v):
        return 0.0
    return float(min(1.0, max(0.0, v)))


def score_synthetic(real: np.ndarray, y_real: np.ndarray, fake: np.ndarray, y_fake: np.ndarray, *,
                    k: int = 10, seed: int = 0) -> Scores:
    """Indicators of a synthetic set against real validation data (both in the same representation).

    Parameters
    ----------
    real, y_real
        Real validation profiles (samples x genes) and their integer labels.
    fake, y_fake
        Synthetic profiles and the labels they were generated for.
    k
        Neighbourhood size of the density (capped at the number of real samples - 1).
    """
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    if not np.isfinite(fake).all():
        # a diverged model: the worst possible scores rather than an exception that kills the study
        return DIVERGED
    from ..metrics import METRICS, adversarial_accuracy, prdc
    from ..metrics import tstr as tstr_metric
    from ..metrics.gap import distance_from

    k = max(1, min(int(k), len(real) - 1, len(fake) - 1))
    density = float(prdc(real, fake, k=k)["density"])
    aa_all = adversarial_accuracy(real, fake)
    aa = float(aa_all["aa_ts"])
    if len(np.unique(y_fake)) < 2:
        # no classifier can be fitted on one class: it would predict that label everywhere
        tstr = float(np.mean(np.asarray(y_real) == np.asarray(y_fake)[0]))
    else:
        tstr = float(tstr_metric(fake, y_fake, real, y_real, classifier="mlp", seeds=(seed,))["accuracy"])
    target = float(METRICS["aa_ts"].direction)  # the registry's ideal AA_ts
    miss = 2.0 * distance_from("aa_ts", aa_all, dict.fromkeys(aa_all, target))  # on the halves
    return Scores(density=density, aa_ts=aa, aa_score=_clip01(1.0 - miss), tstr=_clip01(tstr))


def objective_value(scores: Scores, objective: str | Callable[[Scores], float] = "default") -> float:
    """Combine :class:`Scores` into the number the study maximises (see the module docstring)."""
    if callable(objective):
        return float(objective(scores))
    if objective == "default":
        return _clip01(scores.density) + scores.aa_score + scores.tstr
    if objective == "density":
        return _clip01(scores.density)
    if objective == "aa":
        return scores.aa_score
    if objective == "tstr":
        return scores.tstr
    raise ConfigError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")


def check_objective(objective: Any) -> None:
    """Refuse an unknown objective name before a study starts (a callable is accepted as it is)."""
    if not callable(objective) and objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
