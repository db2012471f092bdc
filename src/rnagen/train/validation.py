"""Training length chosen on held-out profiles: a validation share, a fast fidelity score, early stopping.

Pieces, in the order :func:`fit_validated` uses them:

1. :func:`stratified_holdout` sets aside ``train.val_fraction`` of each class (at least one profile from
   every class that keeps at least two for training; a small set holds out up to :data:`MAX_VAL_FRACTION`
   so that :data:`MIN_VAL` profiles can be scored, :func:`validation_holdout`); with fewer than ``train.val_min``
   held-out profiles (:data:`MIN_VAL` unless a model sets fewer) there is nothing reliable to score, and training
   runs for its whole budget instead.
2. :class:`FidelityValidator` scores a model against the held-out profiles, in the model's transformed
   space: :data:`VAL_DRAWS` synthetic draws with the held-out label mix (fixed seeds, so successive checks
   differ only by the weights), then density and coverage (Naeem et al. 2020, k-NN balls with k =
   :data:`VAL_K`) and the nearest-neighbour adversarial accuracy AA_ts (Yale et al. 2020), all from
   :mod:`rnagen.metrics`, averaged over the draws. Each is compared with its real-vs-real value (training
   profiles, as many as held out and with the same label mix, scored the same way, averaged over
   :data:`VAL_REFERENCE_DRAWS` subsamples), and the score is the mean share of the way from the indicator's worst
   value to that reference::

       s_density  = 1 - min(|density - ref| / ref, 1)          (worst: 0, no synthetic profile in a ball)
       s_coverage = 1 - min(|coverage - ref| / ref, 1)         (worst: 0)
       s_aa       = 1 - min(d_AA / (1 - ref), 1)               (worst: 1, fully separable sets)
       d_AA       = (|AA_truth - ref_truth| + |AA_syn - ref_syn|) / 2
       s_copy     = 1 - min(max(c - a, 0) / (1 - a), 1)
       score      = s_copy (s_density + s_coverage + s_aa) / 3  (1 = scores like real held-out data)

   where ``c`` is the share of the draws' profiles nearer a training profile than all but a share ``q`` =
   :data:`COPY_QUANTILE` of the ``n`` held-out profiles are: a generator whose profiles are as new as held-out
   ones puts about ``max(q, 1 / (n + 1))`` of them there (the quantile of a few held-out profiles sits near
   their nearest), one that reproduces its training profiles nearly all; ``a`` is twice that share. Density,
   coverage and AA_ts compare the draws with held-out profiles only, and a draw as small as a small set's
   hold-out (ten profiles) cannot show samples piling onto training profiles (on real subsets of 77-88 profiles,
   ``benchmarks/RESULTS_objectives.md``, "Small real sets").

   The distance to the reference, not to the ideal value, penalises both directions: over-dense samples
   and near copies (AA_ts below the real-vs-real value) lose as much as under-dense or separable ones.
   AA_ts is read on its two halves: early in training the samples are spread wider than the data, every
   profile's nearest neighbour is real (AA_truth ~1, AA_syn ~0) and their mean sits at the ideal 0.5.
3. :class:`ValidationTracker` (driven by :func:`rnagen.train.train_loop`) keeps the curve, the best score
   (the mean of the last ``train.val_window`` checks), the weights of that window's middle check and the
   patience counter, and is saved inside the checkpoint, so a resumed run continues
   the same curve. Checks whose draws fall in almost no held-out profile's neighbourhood before any check has
   (:meth:`FidelityValidator.at_floor`) carry no signal: they choose nothing and do not count toward patience (the
   most trained weights are kept, and the stop line warns).
4. After training, :meth:`FidelityValidator.floor` scores the per-class Gaussian (the floor every learned model must
   beat) fitted to the same training profiles, in the space the model is scored in, on the same held-out profiles
   and draws' seeds; the record keeps it (``floor``) beside the score of what the run keeps (``final_score``: the
   best window's, or the chosen guidance pair's), and :func:`describe_floor` says which is higher. On a small set
   the Gaussian can be as near the real-vs-real reference as a learned model gets, and a user should know when
   their run adds nothing over it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._manifest import refit_checkpoint
from ..errors import ConfigError

if TYPE_CHECKING:
    from .loop import TrainConfig, TrainResult

__all__ = ["stratified_holdout", "validation_holdout", "FidelityValidator", "ValidationTracker", "fit_validated",
           "describe", "describe_floor", "MIN_VAL", "NO_SIGNAL", "MAX_VAL_FRACTION", "VAL_K", "VAL_DRAWS",
           "VAL_REFERENCE_DRAWS", "COPY_QUANTILE", "copy_factor"]

MIN_VAL = 20
"""Fewest held-out profiles worth scoring (density and coverage need k-NN balls among them): ``train.val_min``'s
default, and the hold-outs other than the validation's (the WGAN-GP's noise calibration, the halves of
:func:`rnagen.models._subspace.choose_components`)."""
MAX_VAL_FRACTION = 0.2
"""The largest share of a small training set held out to reach :data:`MIN_VAL` profiles (a set of under
``train.val_min / MAX_VAL_FRACTION`` profiles trains for its whole budget instead)."""
SMALL_VAL_SHARE_MAX = 0.25
"""The largest share of the set that a hold-out of fewer than :data:`MIN_VAL` profiles (``train.val_min`` below it)
may take: one profile from each of many small classes would otherwise leave too little to train on."""
VAL_K = 5
"""Neighbours of the k-NN balls of the validation density and coverage (a held-out share is small)."""
VAL_DRAWS = 4
"""Synthetic draws of the held-out label mix scored per check (their indicators averaged)."""
VAL_REFERENCE_DRAWS = 8
"""Training subsamples averaged into the real-vs-real reference of the validation score."""
COPY_QUANTILE = 0.05
"""The held-out profiles' quantile of distance to their nearest training profile below which a generated profile
counts toward the validation score's copy factor (module docstring)."""
NO_SIGNAL = 0.05
"""The mean of a check's density and coverage, each as a share of its real-vs-real value, below which the check
carries no signal of training progress (:meth:`FidelityValidator.at_floor`, :class:`ValidationTracker`)."""
STOP_REASONS = ("patience", "budget", "max_steps")
OUTSIDE_SPAN_WARN = 0.2
"""Share of the held-out profiles' variance outside the span of the training profiles above which
:func:`describe` warns and ``preprocess.space=auto`` trains the learned models on principal components:
between the development sets' shares and that of the simulated counts on which a denoiser on the genes fails
(``benchmarks/RESULTS_realdata.md``, "Fewer training profiles than genes")."""


def stratified_holdout(y: np.ndarray, *, fraction: float, seed: int, min_total: int = MIN_VAL,
                       target: int | None = None, groups: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray] | None:
    """Indices ``(train, val)`` holding out ``fraction`` of each class, or ``None`` when too few can be.

    A class of ``n_c`` profiles gives ``max(1, round(f * n_c))`` of them, as long as at least two stay for
    training (a class of fewer than three gives none), where ``f`` is ``fraction`` raised to
    ``target / n`` (``target`` defaults to ``min_total``; at most :data:`MAX_VAL_FRACTION`) on a small set of
    ``n`` profiles. ``None`` when ``fraction`` is 0 or the held-out total is below ``min_total``. Deterministic
    for a given ``seed``.

    ``groups`` (a label per row, :func:`rnagen.pp.copies.copy_labels`) keeps the copies of one profile on one
    side: a class's groups are drawn as its profiles are, each with all its rows (a held-out copy of a training
    profile would score a memorising model as a perfect one). Without copies the split is the rows'.
    """
    y = np.asarray(y)
    if fraction <= 0:
        return None
    g = np.arange(len(y)) if groups is None else np.asarray(groups)
    grouped = not np.array_equal(g, np.arange(len(y)))
    # a small set holds out enough profiles to score, within MAX_VAL_FRACTION of it (of its distinct profiles)
    n = len(np.unique(g)) if grouped else len(y)
    fraction = max(fraction, min((min_total if target is None else target) / max(n, 1), MAX_VAL_FRACTION))
    rng = np.random.default_rng([int(seed), 0x5A1])
    val = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        idx = np.unique(g[rows])   # the group of each of the class's rows: the rows themselves without copies
        take = max(1, int(round(fraction * len(idx))))
        if len(idx) - take < 2:
            continue
        drawn = rng.permutation(idx)[:take]
        val.append(np.flatnonzero(np.isin(g, drawn)) if grouped else drawn)
    if not val or sum(len(v) for v in val) < min_total:
        return None
    val_idx = np.unique(np.concatenate(val))   # sorted; a group of copies labelled two ways drawn once
    train_idx = np.setdiff1d(np.arange(len(y)), val_idx)
    return train_idx, val_idx


def validation_holdout(y: np.ndarray, cfg: TrainConfig, seed: int, *, groups: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray] | None:
    """The split :func:`fit_validated` makes under ``TrainConfig`` ``cfg``: ``cfg.val_fraction`` of each class,
    raised on a small set toward :data:`MIN_VAL` held-out profiles (within :data:`MAX_VAL_FRACTION`), ``None``
    below ``cfg.val_min`` of them, or when fewer than :data:`MIN_VAL` would take more than
    :data:`SMALL_VAL_SHARE_MAX` of the set (classes of three, each giving one); copies of one profile (``groups``,
    :func:`stratified_holdout`) on one side."""
    split = stratified_holdout(y, fraction=cfg.val_fraction, seed=seed, min_total=cfg.val_min,
                               target=max(cfg.val_min, MIN_VAL), groups=groups)
    if split is not None and len(split[1]) < MIN_VAL and len(split[1]) > SMALL_VAL_SHARE_MAX * len(y):
        return None
    return split


def outside_span_share(X_train: np.ndarray, X_val: np.ndarray | None, *, max_train: int = 2000,
                       rows: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Share of the held-out profiles' squared norm (centred on the training mean) that lies outside the span
    of the centred training profiles.

    A generator learns nothing about directions its training profiles do not span. With more profiles than
    genes the span is the whole space (0); with fewer, genes whose noise no other gene predicts put a new
    profile's energy outside it, where a model can only reproduce its training profiles or leave noise. The
    span is that of at most ``max_train`` training profiles (a fixed random subset beyond it, which spans less:
    the share is then an upper bound), so the QR factorisation stays within O(max_train² G).

    ``rows``: ``(training, held-out)`` row indices of ``X_train`` that are the two sets (``X_val`` unused), each
    taken into float64 on its own, so that no copy of the training rows in ``X_train``'s own type is held beside
    the factorisation.
    """
    if rows is not None:
        X_train = np.asarray(X_train)
        X_val = X_train[rows[1]]
        Xt = np.asarray(X_train[rows[0]], dtype=np.float64)
    else:
        Xt = np.asarray(X_train, dtype=np.float64)
    Xv = np.asarray(X_val, dtype=np.float64)
    del X_val
    if len(Xt) - 1 >= Xt.shape[1]:
        return 0.0
    mu = Xt.mean(axis=0)
    if len(Xt) > max_train:
        Xt = Xt[np.sort(np.random.default_rng(0).choice(len(Xt), max_train, replace=False))]
    # centred in place where Xt is a copy of its own (the same values and layout as Xt - mu), so that the
    # factorisation's own copy and its Q are the only others held beside it
    if np.may_share_memory(Xt, np.asarray(X_train)):
        Xt = Xt - mu
    else:
        Xt -= mu
    Q, R = np.linalg.qr(Xt.T)
    del Xt
    Q = Q[:, np.abs(np.diag(R)) > 1e-10 * max(float(np.abs(R).max()), 1e-300)]  # drop null directions
    A = Xv - mu
    total = float((A ** 2).sum())
    if total <= 0:
        return 0.0
    inside = float(((A @ Q) ** 2).sum())
    return max(0.0, 1.0 - inside / total)


def _indicators(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    from ..metrics import adversarial_accuracy, prdc

    p = prdc(real, fake, k=k)
    aa = adversarial_accuracy(real, fake)
    return {"density": float(p["density"]), "coverage": float(p["coverage"]), "aa_ts": float(aa["aa_ts"]),
            "aa_truth": float(aa["aa_truth"]), "aa_syn": float(aa["aa_syn"])}


def combine(m: dict[str, float], ref: dict[str, float]) -> float:
    """The validation score of indicators ``m`` against real-vs-real values ``ref`` (module docstring)."""
    from ..metrics.gap import distance_from

    s_d = 1.0 - min(abs(m["density"] - ref["density"]) / max(ref["density"], 1e-12), 1.0)
    s_c = 1.0 - min(abs(m["coverage"] - ref["coverage"]) / max(ref["coverage"], 1e-12), 1.0)
    # AA_ts read on its halves when both hold them (rnagen.metrics.gap): a model whose samples are spread
    # wider than the data scores AA_truth ~1 and AA_syn ~0, an AA_ts at its ideal value
    s_a = 1.0 - min(distance_from("aa_ts", m, ref) / max(1.0 - ref["aa_ts"], 1e-12), 1.0)
    return (s_d + s_c + s_a) / 3.0


class FidelityValidator:
    """``validator() -> {"score", "density", "coverage", "aa_ts", ...}`` for a model's current weights.

    A held-out share of a small set is a few dozen profiles, and one synthetic draw of that size, or one
    training subsample as the reference, moves each indicator by several hundredths: the indicators are
    averaged over ``draws`` synthetic draws per check (fixed seeds, so successive checks differ only by the
    weights) and the reference over ``reference_draws`` training subsamples.

    Parameters
    ----------
    generate
        ``generate(y, seed) -> float array`` draws profiles for class ids ``y`` from the model as it stands
        (transformed space).
    X_train, y_train
        The profiles the model trains on (the real-vs-real reference is drawn from them).
    X_val, y_val
        The held-out profiles.
    draws, reference_draws
        Synthetic draws per check; training subsamples of the reference.
    """

    def __init__(self, generate: Callable[[np.ndarray, int], np.ndarray], X_train: np.ndarray,
                 y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *, seed: int, k: int = VAL_K,
                 draws: int = VAL_DRAWS, reference_draws: int = VAL_REFERENCE_DRAWS):
        self.generate = generate
        self.X_val = np.asarray(X_val, dtype=np.float32)
        self.y_val = np.asarray(y_val, dtype=np.int64)
        self.seed = int(seed) * 104_729 + 17
        self.draws = int(draws)
        self.k = int(min(k, len(self.X_val) - 1))
        # the reference: as many training profiles as held out, with the held-out label mix, averaged
        X_train = np.asarray(X_train, dtype=np.float32)
        refs = []
        for r in range(int(reference_draws)):
            rng = np.random.default_rng([int(seed), r, 0xC0DE])
            pick = [rng.choice(np.flatnonzero(y_train == c), size=int((self.y_val == c).sum()),
                               replace=int((self.y_val == c).sum()) > int((y_train == c).sum()))
                    for c in np.unique(self.y_val)]
            refs.append(_indicators(self.X_val, X_train[np.concatenate(pick)], self.k))
        self.reference = _mean(refs)
        self.X_train = X_train
        self.y_train = np.asarray(y_train, dtype=np.int64)
        # held-out profiles that are training profiles too (a sample in the data twice) are left out of the radius:
        # at distance 0 they would set it at 0 and hide every copy (as rnagen.metrics.privacy.dcr's threshold)
        d_val = _nearest(self.X_val, X_train)
        self.copy_radius = float(np.quantile(d_val[d_val > 0] if (d_val > 0).any() else d_val, COPY_QUANTILE))
        self.copy_allowance = 2.0 * max(COPY_QUANTILE, 1.0 / (len(self.X_val) + 1))

    def __call__(self) -> dict[str, float]:
        """Draw the held-out label mix from the model as it stands and score it against the reference."""
        return self.score(self.generate)

    def at_floor(self, row: dict[str, float]) -> bool:
        """Whether a check's indicators ``row`` carry no signal of training progress: its draws fall in almost no
        held-out profile's k-NN ball (density and coverage, each as a share of its real-vs-real value, averaging
        under :data:`NO_SIGNAL`). Every profile's nearest neighbour is then one of its own set whatever the weights
        (AA_truth ~1, AA_syn ~0), and the score moves by the draws' noise. Draws that were not finite are a worst
        value, not a floor."""
        d, c = float(row.get("density", np.nan)), float(row.get("coverage", np.nan))
        if not (np.isfinite(d) and np.isfinite(c)):
            return False
        share = (d / max(self.reference["density"], 1e-12) + c / max(self.reference["coverage"], 1e-12)) / 2
        return share < NO_SIGNAL

    def floor(self) -> dict[str, float]:
        """The same score for the per-class Gaussian floor (:func:`rnagen.models.gaussian.fit_class_gaussians`:
        Ledoit-Wolf shrunk covariances, diagonal above :data:`~rnagen.models.gaussian.FULL_COVARIANCE_MAX_GENES`
        dimensions) fitted to the training profiles in the space the model is scored in, on the same held-out
        profiles and draws' seeds: what a learned model must beat on them."""
        from ..models.gaussian import FULL_COVARIANCE_MAX_GENES, draw_class_gaussians, fit_class_gaussians

        G = self.X_train.shape[1]
        full = G <= FULL_COVARIANCE_MAX_GENES
        # each draw's normals for every held-out row, then one class at a time fitted and drawn: one G x G factor
        # in memory, whatever the number of classes
        z = {s: np.random.default_rng([s, 0x6A55]).standard_normal((len(self.y_val), G)) for s in self._seeds()}
        drawn = {s: np.empty((len(self.y_val), G), dtype=np.float32) for s in z}
        for c in np.unique(self.y_val):
            rows = np.flatnonzero(self.y_val == c)
            Xc = self.X_train[self.y_train == c]
            means, factors, _ = fit_class_gaussians(Xc, np.zeros(len(Xc), np.int64), 1, full=full)
            for s in z:
                drawn[s][rows] = draw_class_gaussians(means, factors, np.zeros(len(rows), np.int64), z[s][rows])
        return self.score(lambda y, seed: drawn[seed])

    def _seeds(self) -> list[int]:
        """The seeds of a check's draws (the same at every check)."""
        return [self.seed + 7919 * j for j in range(self.draws)]

    def score(self, generate: Callable[[np.ndarray, int], np.ndarray]) -> dict[str, float]:
        """The score of the profiles ``generate(y, seed)`` draws for the held-out label mix (the module docstring's
        score, its indicators and the copy share)."""
        found, near = [], []
        for seed in self._seeds():
            fake = np.asarray(generate(self.y_val, seed), dtype=np.float32)
            if not np.isfinite(fake).all():  # a diverged model scores the worst possible value
                return {"score": 0.0, **{k: float("nan") for k in self.reference}, "copy_share": float("nan")}
            found.append(_indicators(self.X_val, fake, self.k))
            d = _nearest(fake, self.X_train)
            near.append((d < self.copy_radius) | (d == 0))  # an exact copy counts whatever the radius
        m = _mean(found)
        c = float(np.concatenate(near).mean())
        return {"score": combine(m, self.reference) * copy_factor(c, self.copy_allowance), **m, "copy_share": c}


def _nearest(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Each row of ``A``'s Euclidean distance to its nearest row of ``B`` (the metrics' exact blocked search)."""
    from ..metrics import _knn

    return _knn.knn(A, B, k=1)[0][:, 0]


def copy_factor(share: float, allowance: float) -> float:
    """The validation score's copy factor (module docstring) for a share ``share`` of generated profiles nearer a
    training profile than the held-out profiles' :data:`COPY_QUANTILE` quantile: 1 up to ``allowance``, 0 when
    every profile is."""
    return 1.0 - min(max(share - allowance, 0.0) / (1.0 - allowance), 1.0)


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


class ValidationTracker:
    """The validation curve, the best check and its weights, the patience counter and the stop reason.

    A check is judged by the mean score of the last ``window`` checks (fewer at the start): one score of a
    small held-out share moves by several hundredths from draw to draw, and a single lucky or unlucky check
    would otherwise end a run or choose its length. The weights kept for the best window are those of its
    middle check (the window's centre, where a trailing mean of a peaked curve is highest), so the tracker
    holds the weights of the last ``(window - 1) // 2 + 1`` checks; a run still improving when its budget ends
    keeps its last check.

    With ``no_signal`` (``no_signal(row) -> bool``, :meth:`FidelityValidator.at_floor`), the checks it calls without
    signal, up to the first it does not, neither count toward patience nor choose the length by their noise: each
    keeps its own weights, the most trained, and the first check with signal is the best so far whatever their
    scores. A model whose samples are all far from the held-out profiles stays there at every check (the diffusion
    network on more genes than it could denoise, ``benchmarks/RESULTS_objectives.md``, "A per-gene affine path"),
    and the highest of its scores is the luckiest draw, often of the least trained weights; patience counted over
    them would end the run before it could leave the floor.

    With ``guide_fraction`` f > 0 it also keeps the weights of the check before the best nearest f x the best step,
    a worse version of the same model for autoguidance (Karras et al. 2024: :func:`guide`): since the best step
    only moves later, the checks before the last one at or below f x best can never be that check again and are
    let go, so it holds the checks from there to the current one.
    """

    def __init__(self, *, patience: int, budget: int, budget_source: str, every: int, window: int = 1,
                 patience_from: float = 0.0, guide_fraction: float = 0.0,
                 no_signal: Callable[[dict[str, float]], bool] | None = None):
        self.patience = int(patience)
        self.no_signal = no_signal
        self.signal_seen = False   # with no_signal: whether a check has carried signal
        self.patience_from = float(patience_from)
        self.budget = int(budget)
        self.budget_source = budget_source
        self.every = int(every)
        self.window = int(window)
        self.curve: list[dict[str, float]] = []
        self.best_step = 0
        self.best_score = -float("inf")
        self.bad = 0
        self.stop_reason: str | None = None
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.recent: list[tuple[int, dict[str, torch.Tensor]]] = []  # (step, weights) of the last checks
        self.diverged = ""   # with stop_reason "diverged": the number that was not finite, where
        self.guide_fraction = float(guide_fraction)
        self.guides: list[tuple[int, dict[str, torch.Tensor]]] = []  # the checks the guide may still be

    def check(self, step: int, row: dict[str, float], weights: dict[str, torch.Tensor]) -> bool:
        """Record the check at ``step``; True when training should stop (patience run out or budget spent)."""
        self.recent = (self.recent + [(int(step), weights)])[-((self.window - 1) // 2 + 1):]
        scores = [float(r["score"]) for r in self.curve[-(self.window - 1):]] if self.window > 1 else []
        smoothed = float(np.mean(scores + [float(row["score"])]))
        self.curve.append({"step": int(step), **{k: float(v) for k, v in row.items()}, "smoothed": smoothed})
        if self.no_signal is not None and not self.signal_seen and self.no_signal(row):
            # no check has carried signal yet: the differences between checks are the draws' noise, not training
            # progress, so none chooses the length or counts toward patience; the most trained weights are kept
            self.best_step, self.best_weights = self.recent[-1]
            self.best_score, self.bad = smoothed, 0
        else:
            if self.no_signal is not None and not self.signal_seen:
                # the first check with signal: the scores of the checks without any set no bar to clear
                self.signal_seen, self.best_score = True, -float("inf")
            if smoothed > self.best_score:  # strictly better: ties keep the earlier (shorter) run
                n = len(self.curve)  # the window's middle check (of the checks there are at the start)
                back = (self.window - 1) // 2 if n >= self.window else (n - 1) - (n - 1) // 2
                self.best_step, self.best_weights = self.recent[-1 - min(back, len(self.recent) - 1)]
                self.best_score, self.bad = smoothed, 0
            elif step > self.patience_from * self.budget:  # early checks move by noise: no count toward patience
                self.bad += 1
        if self.bad >= self.patience:
            self.stop_reason = "patience"
        elif step >= self.budget:
            self.stop_reason = "max_steps" if self.budget_source == "max_steps" else "budget"
            if self.bad == 0:  # still improving when the budget ended: no later check to centre a window on
                self.best_step, self.best_weights = self.recent[-1]
        if self.guide_fraction > 0:
            self.guides.append((int(step), weights))
            target = self.guide_fraction * self.best_step
            below = [s for s, _ in self.guides if s <= target]
            if below:
                self.guides = [(s, w) for s, w in self.guides if s >= max(below)]
        return self.stop_reason is not None

    @property
    def no_signal_run(self) -> bool:
        """Whether no check so far carried signal (``no_signal``): the run learnt nothing the score can see."""
        return self.no_signal is not None and bool(self.curve) and not self.signal_seen

    def guide(self) -> tuple[int, dict[str, torch.Tensor]] | None:
        """The (step, weights) of the check before the best one nearest ``guide_fraction`` x the best step (of two
        as near, the later: a guide too far from the model degrades it, Karras et al. 2024, sec. 3), or ``None``
        without a guide fraction or a check before the best (the model itself would be its guide)."""
        earlier = [(s, w) for s, w in self.guides if s < self.best_step]
        if self.guide_fraction <= 0 or not earlier:
            return None
        target = self.guide_fraction * self.best_step
        return min(earlier, key=lambda sw: (abs(sw[0] - target), -sw[0]))

    def state_dict(self) -> dict[str, Any]:
        """The tracker's state for a checkpoint (read back by :meth:`load_state_dict`)."""
        return {"curve": self.curve, "best_step": self.best_step, "best_score": self.best_score,
                "bad": self.bad, "stop_reason": self.stop_reason or "", "diverged": self.diverged,
                "signal_seen": self.signal_seen,
                "best_weights": self.best_weights or {},
                "recent_steps": [s for s, _ in self.recent], "recent_weights": [w for _, w in self.recent],
                "guide_steps": [s for s, _ in self.guides], "guide_weights": [w for _, w in self.guides]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the tracker from :meth:`state_dict` when training resumes from a checkpoint."""
        self.curve = [dict(r) for r in state["curve"]]
        self.best_step = int(state["best_step"])
        self.best_score = float(state["best_score"])
        self.bad = int(state["bad"])
        self.stop_reason = state["stop_reason"] or None
        self.diverged = str(state.get("diverged", ""))
        self.signal_seen = bool(state.get("signal_seen", True))   # a checkpoint without it chose as any run
        self.best_weights = dict(state["best_weights"]) or None
        self.recent = [(int(s), dict(w)) for s, w in zip(state.get("recent_steps", []),
                                                           state.get("recent_weights", []))]
        self.guides = [(int(s), dict(w)) for s, w in zip(state.get("guide_steps", []),
                                                         state.get("guide_weights", []))]

    def record(self, *, steps: int) -> dict[str, Any]:
        """What the run folder keeps (``meta.json`` and ``validation.csv``)."""
        return {"steps": int(steps), "budget": self.budget, "budget_source": self.budget_source,
                "val_every": self.every, "patience": self.patience, "window": self.window, "checks": len(self.curve),
                "best_step": self.best_step, "best_score": self.best_score, "stop_reason": self.stop_reason,
                **({"diverged": self.diverged} if self.stop_reason == "diverged" else {}),
                **({"no_signal": True} if self.no_signal_run else {}), "curve": list(self.curve)}


def _space_note(v: dict[str, Any]) -> str:
    """The clause of :func:`describe` on the space trained in, or the warning that the held-out profiles lie
    outside the span of the training profiles."""
    sub = v.get("subspace")
    if isinstance(sub, dict):
        return (f"; trained on the {sub['n_components']} leading principal components of the training profiles "
                f"({sub['kept_share']:.0%} of their variance), each class's rest a per-gene Gaussian "
                f"({sub['reason']})")
    if isinstance(v.get("space_note"), str):
        return f"; {v['space_note']}"
    if v.get("outside_span", 0.0) > OUTSIDE_SPAN_WARN:
        return (f"; warning: {v['outside_span']:.0%} of the held-out profiles' variance lies outside the span of "
                "the training profiles, where a model can only reproduce its training profiles or leave noise "
                "(fewer profiles than genes, with gene-level noise: preprocess.space=pca, or fewer genes, e.g. "
                "--genes landmarks)")
    return ""


def describe(v: dict[str, Any] | None) -> str:
    """One line saying where training stopped and why."""
    if not v:
        return "no validation record"
    if v.get("stop_reason") == "no_validation":
        line = (f"trained for the whole budget of {v['steps']} steps, its length not chosen on held-out profiles "
                f"({v.get('note', 'train.val_fraction = 0')})")
        if members := v.get("members"):
            line = f"each of a mixture of {len(members)} networks (train.members) " + line
        return line + _space_note(v)
    why = {"patience": f"patience ran out, no improvement in {v['patience']} checks (every {v['val_every']} steps)",
           "budget": "the step budget was spent",
           "max_steps": "max_steps reached (train.epochs asked for more)",
           "diverged": f"training diverged ({v.get('diverged', '')}): a lower train.lr may train further"
           }[v["stop_reason"]]
    # the window's mean covers the checks made so far when fewer than the window were made
    window = min(int(v.get("window", 1)), int(v.get("checks") or len(v.get("curve") or []) or v.get("window", 1)))
    mean = f" (mean of {window} checks)" if window > 1 else ""
    if "no_signal" in v:
        # no check carried signal (ValidationTracker's no_signal): none chose the length
        line = (f"stopped at step {v['steps']} of {v['budget']}: {why}; warning: at every validation check the "
                f"generated profiles fell in almost no held-out profile's neighbourhood (density and coverage under "
                f"{NO_SIGNAL:.0%} of the real-vs-real values; {v['n_val']} held-out profiles): nothing chose the "
                f"length, the last check's weights (step {v['best_step']}) kept; the model did not learn these data "
                "in this budget: compare it with the per-class Gaussian (rnagen benchmark, or --model gaussian)")
    else:
        line = (f"stopped at step {v['steps']} of {v['budget']}: {why}; best validation score "
                f"{v['best_score']:.3f}{mean} (1 = as real profiles) at step {v['best_step']} (those weights kept; "
                f"{v['n_val']} held-out profiles)")
    if v["stop_reason"] in ("budget", "max_steps") and v.get("best_step") == v["steps"] and "no_signal" not in v:
        # the best check is the last one: the curve had not turned, so the run may be under-trained
        key = "train.max_steps" if v["stop_reason"] == "max_steps" else "train.steps (or train.epochs)"
        line += f"; still improving at the last check: a longer run may do better (raise {key})"
    if (g := v.get("guide")) and "step" in g:
        line += (f"; autoguidance weight {g['chosen']:g} chosen on them (of {', '.join(f'{w:g}' for w in g['weights'])}"
                 f"; guide: the step-{g['step']} weights)")
    if g and (c := g.get("guidance")):
        line += (f"; classifier-free guidance weight {c['chosen']:g} chosen on them"
                 f"{' with it' if 'step' in g else ''} (of {', '.join(f'{w:g}' for w in c['weights'])})")
    if v.get("refit_steps"):
        line += f"; refitted on all profiles for {v['refit_steps']} steps"
    if members := v.get("members"):
        # the line above is the first member's; the others (train.members) each chose on their own hold-out
        line = "network 1: " + line
        line += (f"; a mixture of {len(members)} networks (train.members), each its length chosen on its own held-out "
                 "profiles, best at steps " + ", ".join(str(m.get("best_step", m.get("steps"))) for m in members))
    return line + _space_note(v)


def _final_score(v: dict[str, Any]) -> float:
    """The validation score of what the run keeps: the best window's, or with a guidance choice the chosen
    pair's (scored with the kept weights on the same draws)."""
    g = v.get("guide") or {}
    if "guidance" in g:
        grid = g["guidance"]["scores"]
        return float(grid[g["guidance"]["weights"].index(g["guidance"]["chosen"])][g["weights"].index(g["chosen"])])
    if "scores" in g:
        return float(g["scores"][g["weights"].index(g["chosen"])])
    return float(v["best_score"])


def describe_floor(v: dict[str, Any] | None) -> str | None:
    """The line comparing a validated run's kept model with the per-class Gaussian fitted to the same training
    profiles and scored on the same held-out ones, with a warning where the Gaussian scores as well or better on
    at least :data:`MIN_VAL` of them: a learned model that does not beat it adds nothing on this data. A run too
    small to validate gets the warning that nothing compared them; ``None`` without either record (a fixed-length
    or private run)."""
    if v and v.get("too_small"):
        # nothing held out to compare on (benchmarks/RESULTS_objectives.md, "Sets too small to validate")
        return ("not compared with the per-class Gaussian: too few profiles to hold any out; warning: on subsets "
                "of the development sets too small to validate, the learned model scored below the per-class "
                "Gaussian fitted to the same profiles (benchmarks/RESULTS_objectives.md, \"Sets too small to "
                "validate\"): compare both with rnagen benchmark, or use --model gaussian")
    if not v or "floor" not in v or "final_score" not in v:
        return None
    model, floor = float(v["final_score"]), float(v["floor"]["score"])
    # a refit trains on the held-out profiles too (only the validated run can be scored on them); a mixture's
    # record is its first network's
    what = ("the validated run (before its refit on every profile)" if v.get("refit_steps") else
            "network 1 of the mixture" if v.get("members") else "the kept model")
    g = v.get("guide") or {}
    if "guidance" in g or "scores" in g:   # _final_score: the chosen guidance's, not the best window's above
        what += " at its chosen guidance"
    line = (f"validation score of {what} {model:.3f} against {floor:.3f} for the per-class Gaussian fitted to "
            f"the same profiles (on the same {v['n_val']} held-out profiles)")
    if model <= floor and int(v["n_val"]) >= MIN_VAL:
        line += ("; warning: the learned model does not beat the per-class Gaussian on these held-out profiles: "
                 "compare both with rnagen benchmark, or use --model gaussian")
    elif model <= floor:
        # too few held-out profiles for the verdict to hold (benchmarks/RESULTS_objectives.md, same section)
        line += (f"; the Gaussian scores as high, but fewer than {MIN_VAL} held-out profiles are too few to tell "
                 "them apart (benchmarks/RESULTS_objectives.md, \"The floor on the run's own held-out profiles\"): "
                 "compare both on a test split with rnagen benchmark")
    return line


def fit_validated(setup: Callable[[np.ndarray, np.ndarray], tuple[torch.nn.Module, dict[str, Any]]],
                  generate: Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray],
                  X: np.ndarray, y: np.ndarray, cfg: "TrainConfig", *, device: torch.device, seed: int,
                  run_dir: Path | None, progress: bool, resume: bool, fingerprint: str,
                  desc: str, privacy: Any = None,
                  scored_in: Callable[[np.ndarray], np.ndarray] | None = None,
                  outside_span: float | None = None,
                  choose: Callable[["TrainResult", FidelityValidator], dict[str, Any]] | None = None,
                  checkpoint_name: str = "checkpoint.pt", groups: np.ndarray | None = None) -> "TrainResult":
    """Train with the length chosen on a held-out share of ``(X, y)``; the common ``_fit`` of torch models.

    Parameters
    ----------
    setup
        ``setup(X, y) -> (module, train_loop keyword arguments)`` builds fresh networks (from the seed) for
        training on ``(X, y)``.
    generate
        ``generate(X_train, y_train, y, seed) -> profiles`` draws from the model being trained, for class ids
        ``y`` (``X_train, y_train``: the profiles it trains on, for models whose sampler is fitted to them).

    privacy
        A :class:`rnagen.train.privacy.PrivacyConfig`; when enabled the run is differentially private and
        has a fixed length: nothing is held out (``cfg.val_fraction`` is ignored, ``cfg.refit`` is an error),
        since choosing the length on private profiles would spend budget the accountant does not count.
    scored_in
        Maps profiles into the space ``generate`` draws in, when that is not the profiles' own (a model that
        trains in a fitted latent space and is scored there): called on the profiles trained on and the held-out
        ones after ``setup``, so it may use what ``setup`` fitted.
    outside_span
        The validation hold-out's :func:`outside_span_share`, when the caller has measured it on the same split
        (``stratified_holdout(y, fraction=cfg.val_fraction, seed=seed)``); else it is computed for the record.
    choose
        ``choose(result, validator) -> record``: after a validated run (before a refit), a choice the model makes
        on the same held-out profiles with the trained networks (the diffusion model's autoguidance weight); its
        record is the validation record's ``guide`` (a refit keeps the choice).
    checkpoint_name
        The checkpoint's file in ``run_dir`` (a refit's: the same name ending ``_refit.pt``).
    groups
        :func:`rnagen.pp.copies.copy_labels` of ``X`` (a label per row, equal for the copies of one profile, which
        the hold-out keeps on one side) where the caller has found them; found here otherwise (not for a private
        run, which holds nothing out).

    Returns the :class:`~rnagen.train.TrainResult` whose ``apply_to`` loads the weights to keep; its
    ``validation`` says how the length was chosen (``n_val`` held out, or ``stop_reason="no_validation"``).
    """
    from .loop import resolve_budget, train_loop

    common: dict[str, Any] = dict(device=device, seed=seed, run_dir=run_dir, progress=progress, resume=resume,
                                  desc=desc)
    private = privacy is not None and privacy.enabled
    if private and cfg.refit:
        raise ConfigError("train.refit needs a validation-chosen length, which a private run does not have; "
                          "remove train.refit=true (the run trains for train.steps)")
    from ..pp.copies import copy_labels

    # copies of one profile (a sample in the data twice) held out beside their training copy would score a model
    # that reproduces its training profiles as a perfect one: kept on one side
    if not private and groups is None:
        groups = copy_labels(X)
    split = None if private else validation_holdout(y, cfg, seed, groups=groups)
    if split is None and cfg.refit:
        why = ("train.val_fraction = 0" if cfg.val_fraction <= 0 else
               f"too few profiles to hold out {cfg.val_min}, at most {MAX_VAL_FRACTION:.0%} of them")
        raise ConfigError(f"train.refit retrains on every profile for the validation-chosen length, and nothing is "
                          f"held out here ({why}); remove train.refit=true or set train.val_fraction above 0")
    if split is None:
        module, kw = setup(X, y)
        if private:
            kw = {**kw, "privacy": privacy}
        result = train_loop(module, torch.from_numpy(X), torch.from_numpy(y), cfg, fingerprint=fingerprint,
                            checkpoint_name=checkpoint_name, **common, **kw)
        note = ("differential privacy: a fixed length, train.val_fraction ignored" if private else
                "train.val_fraction = 0" if cfg.val_fraction <= 0 else
                f"too few profiles to hold out {cfg.val_min}, at most {MAX_VAL_FRACTION:.0%} of them, with at least "
                "2 per class left for training")
        budget = resolve_budget(cfg, len(X), min(cfg.batch_size, len(X)))
        result.validation = {"stop_reason": "no_validation", "note": note, "steps": result.steps,
                             "budget": budget[0], "budget_source": budget[1], "n_val": 0, "curve": [],
                             **({"too_small": True} if not private and cfg.val_fraction > 0 else {})}
        return result
    Xt, yt, Xv, yv = X[split[0]], y[split[0]], X[split[1]], y[split[1]]
    module, kw = setup(Xt, yt)
    mapped = (lambda A: A) if scored_in is None else scored_in
    validator = FidelityValidator(lambda yy, s: generate(Xt, yt, yy, s), mapped(Xt), yt, mapped(Xv), yv, seed=seed)
    result = train_loop(module, torch.from_numpy(Xt), torch.from_numpy(yt), cfg, fingerprint=fingerprint,
                        validator=validator, checkpoint_name=checkpoint_name, **common, **kw)
    assert result.validation is not None  # train_loop returns the validation record when given a validator
    record = {**result.validation, "n_val": int(len(Xv)), "reference": validator.reference,
              "outside_span": outside_span_share(Xt, Xv) if outside_span is None else float(outside_span)}
    if choose is not None and (chosen := choose(result, validator)):
        record["guide"] = chosen
    # the weights (and guidance) kept against the per-class Gaussian on the same held-out profiles
    record["final_score"] = _final_score(record)
    record["floor"] = validator.floor()
    if cfg.refit:
        # the chosen length on all profiles, its schedule laid out over that length
        refit_cfg = replace(cfg, steps=max(1, record["best_step"]), val_fraction=0.0)
        module, kw = setup(X, y)
        result = train_loop(module, torch.from_numpy(X), torch.from_numpy(y), refit_cfg,
                            fingerprint=fingerprint, checkpoint_name=refit_checkpoint(checkpoint_name),
                            **common, **kw)
        record["refit_steps"] = result.steps
    result.validation = record
    return result
