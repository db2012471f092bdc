"""Differentially private training of the torch models: DP-SGD through opacus (section ``[privacy]``).

DP-SGD (Abadi et al. 2016, "Deep learning with differential privacy", Algorithm 1), each step:

  1. a Poisson-sampled batch: every training profile joins with probability ``q = B / n`` independently (the
     subsampling the privacy amplification of the accountants assumes; Mironov et al. 2019), so batches vary
     in size and can be empty;
  2. per-profile gradients (opacus's ``GradSampleModule`` hooks), each clipped to L2 norm ``C``
     (``privacy.max_grad_norm``);
  3. their sum plus Gaussian noise N(0, (σ C)^2 I), divided by the expected batch size ``B``
     (opacus's ``DPOptimizer``), then the model's optimiser step;
  4. the accountant records (σ, q) for the step; the spent ε is opacus's RDP (Mironov 2017) or PRV (Gopi et al.
     2021) accountant's, or by default (``auto``) the smaller of the two: each is an upper bound on the same
     mechanism's ε at δ, so their minimum is one too; PRV's numerical composition is the tighter where it
     runs (it is not tried past ε = :data:`PRV_MAX_EPSILON` by RDP, where it runs out of memory or range).

``privacy.epsilon`` sets σ for the whole step budget (the smallest σ whose ε does not exceed the target, to
0.01); ``privacy.noise_multiplier`` sets σ directly and the spent ε is reported. δ defaults to 1/n.

What the guarantee covers and what it does not (also written into the run record):

- the weights, and everything computed from them alone (EMA of the weights, samples): post-processing;
- **not** the preprocessing fitted on the training data (the per-gene scaler, the log-scale detection of
  ``preprocess.log=auto``, the support read by ``preprocess.support=auto``), unless it is data-independent
  (``preprocess.scaler=none`` with ``preprocess.log=log2p1`` on linear values, or with ``preprocess.log=none`` and
  ``preprocess.support=nonnegative`` or ``any``, as log values need); the run record says ``preprocessing: "not
  covered"`` otherwise;
- **not** the number of training profiles and the class sizes saved in ``meta.json`` (treated as public, as
  the sample rate ``q = B / n`` of DP-SGD is). The guarantee compares data sets that differ by one profile added
  or removed (the relation of opacus's accountants), which exact sizes tell apart; the record says so
  (``neighbours``): for data sets of one size with one profile replaced the same noise spends a larger ε.

A private run has a fixed length (the step budget of ``[train]``): choosing the length on held-out private
profiles would spend budget that the accountant does not count, so ``train.val_fraction`` is ignored (the
record says so) and ``train.refit=true`` is an error. The non-private gradient clipping ``train.grad_clip``
and mixed precision are off (the noisy gradient is already bounded; opacus's per-sample hooks run in float32).
The noise and the Poisson batches are drawn from a key taken from the operating system's entropy when the run
starts (:func:`noise_key`), never saved: the run's seed is public (it defaults to 0 and is written in
``meta.json``), and noise that anyone can replay from it protects nothing (whoever knows the other profiles
rebuilds the noise and reads off the one left). A resumed run draws a new key for the steps it has left; the
accountant's history is saved in the checkpoint and restored. ``privacy.reproducible=true`` draws them from the
seed instead, so a run repeats exactly (tests, benchmarks); the record then says that the guarantee holds only
against whoever does not know the seed. The generators are torch's and NumPy's, not a cryptographically secure
one (opacus's ``secure_mode`` needs ``torchcsprng``).

Under torchrun (DDP) the processes draw the same Poisson batch from rank 0's key (broadcast) and each takes its
slice of it: the union is the batch one process would draw (each profile joins independently, so the accounting
is the same). Each rank clips the per-profile gradients of its slice and sums them; rank 0 alone adds the noise,
and the sums are added over the ranks (opacus's ``DistributedDPOptimizer``): the update of one process that drew
the whole batch, up to the order of float summation. The weights start from rank 0's (broadcast, no DDP
wrapper: its gradient averaging would run before the per-profile clipping).
"""
from __future__ import annotations

import functools
import math
import secrets
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np
import torch

from ..config import checked
from ..errors import ConfigError

if TYPE_CHECKING:
    from .loop import StepContext

__all__ = ["PRIVATE_LOG_COLUMNS", "PrivacyConfig", "PrivacyPlan", "PrivateTraining", "plan_privacy", "require_opacus",
           "spent_epsilon", "INSTALL_HINT", "preprocessing_coverage", "noise_key", "noise_source", "resolve_delta",
           "describe_privacy", "zcdp_to_dp", "dp_to_zcdp",
           "gaussian_mechanism_delta", "gaussian_mechanism_epsilon", "gaussian_mechanism_rho", "release_rho"]

INSTALL_HINT = "pip install 'rnagen[privacy]'"
#: what a private run shows and keeps of its training log (``train_log.csv``, the progress bar): the schedule and the
#: time, not the losses, which are statistics of the private batches, nor the Poisson batches' sizes, which count
#: the profiles each step drew (a member's presence adds to them): both outside what the accountant counts (only
#: the noised, clipped gradient sums are). Wall time, as in opacus, is not treated as a release.
PRIVATE_LOG_COLUMNS = ("step", "lr", "seconds")
#: the most bytes of per-profile gradients (profiles x parameters x 4) one backward pass of a private step holds:
#: a Poisson batch whose gradients would take more is clipped and summed in parts of as many profiles as fit
#: (opacus's virtual steps, as its ``BatchMemoryManager`` takes them), one noise draw for the whole batch
GRAD_SAMPLE_BYTES = 256 * 2**20
DEFAULT_MAX_GRAD_NORM = 1.0
DEFAULT_ACCOUNTANT = "auto"
#: ``auto`` asks the PRV accountant only when RDP's ε is at most this (past it PRV's grid outgrows memory or
#: overflows, and a guarantee that weak gains nothing from a tighter count)
PRV_MAX_EPSILON = 100.0


def require_opacus() -> Any:
    """The ``opacus`` module, or a one-line :class:`ConfigError` naming how to install it."""
    try:
        import opacus
    except ImportError:
        raise ConfigError(f"differentially private training needs opacus, which is not installed; "
                          f"{INSTALL_HINT}") from None
    return opacus


@dataclass
@checked("privacy", epsilon="> 0", delta="(0, 1)", noise_multiplier="> 0", max_grad_norm="> 0")
class PrivacyConfig:
    """DP-SGD settings (section ``[privacy]``); all unset (the default) trains without privacy.

    Set exactly one of ``epsilon`` (the noise is chosen for the step budget) or ``noise_multiplier`` (the
    spent ε is reported).
    """

    epsilon: float | None = None
    """Target ε of the (ε, δ) guarantee at the end of the step budget."""
    delta: float | None = None
    """δ of the guarantee; unset: 1/n for n training profiles."""
    noise_multiplier: float | None = None
    """σ, the noise standard deviation in units of the clipping norm (instead of ``epsilon``)."""
    max_grad_norm: float | None = None
    """C, the L2 norm each profile's gradient is clipped to; unset: 1.0."""
    accountant: Literal["auto", "rdp", "prv"] | None = None
    """opacus's accountant: ``rdp`` (Rényi DP, Mironov 2017), ``prv`` (privacy random variables, Gopi et al.
    2021, tighter) or ``auto``, the smaller ε of the two (module docstring); unset: ``auto``."""
    reproducible: bool | None = None
    """``true``: the noise and the batches are drawn from the run's seed, so the run repeats exactly (tests,
    benchmarks), and the guarantee holds only against whoever does not know the seed; unset or ``false``: from
    a key of the operating system's entropy, never saved (:func:`noise_key`)."""

    def __post_init__(self) -> None:
        if self.epsilon is not None and self.noise_multiplier is not None:
            raise ConfigError("set privacy.epsilon or privacy.noise_multiplier, not both (epsilon chooses the "
                              "noise multiplier for the step budget)")
        if not self.enabled and (self.delta is not None or self.max_grad_norm is not None
                                 or self.accountant is not None or self.reproducible is not None):
            raise ConfigError("privacy.delta, privacy.max_grad_norm, privacy.accountant and privacy.reproducible "
                              "need privacy.epsilon or privacy.noise_multiplier")

    @property
    def enabled(self) -> bool:
        """Whether training is differentially private."""
        return self.epsilon is not None or self.noise_multiplier is not None


@dataclass
class PrivacyPlan:
    """The DP-SGD settings of one run, resolved from a :class:`PrivacyConfig` and the data size."""

    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    expected_batch_size: int
    steps: int
    delta: float
    accountant: str
    n_train: int
    epsilon_target: float | None = None
    prior_rho: float = 0.0
    """ρ of a Gaussian-mechanism release made from the same profiles before DP-SGD (the diffusion model's
    anchor statistics, ``objective.anchor``), σ_i = Δ_i / sqrt(2 ρ_i) with the ρ_i adding up to ρ: one Gaussian
    mechanism of sensitivity 1 and noise 1 / sqrt(2 ρ) (Dong, Roth & Su 2022, Corollary 3.3), which either
    accountant composes with DP-SGD as one step at sample rate 1 (:func:`spent_epsilon`)."""
    prior_mechanism: str = ""


def plan_privacy(cfg: PrivacyConfig, *, n: int, batch_size: int, steps: int, prior_rho: float = 0.0,
                 prior_mechanism: str = "") -> PrivacyPlan:
    """σ, q and δ for ``steps`` DP-SGD steps with expected batch ``batch_size`` out of ``n`` profiles.

    With ``cfg.epsilon`` set, σ is opacus's ``get_noise_multiplier`` for (ε, δ, q, steps) with an ``rdp`` or
    ``prv`` accountant (the smallest σ on its bisection grid whose ε does not exceed the target). With ``auto``,
    or a prior Gaussian-mechanism release of ``prior_rho`` from the same profiles, σ is the one whose ε by
    :func:`spent_epsilon` (composed with that release) is the target to within 0.01 and not more.
    """
    require_opacus()
    from opacus.accountants.utils import get_noise_multiplier

    if n < 1 or steps < 1:
        raise ConfigError(f"private training needs at least one profile and one step, got n={n}, steps={steps}")
    B = max(1, min(int(batch_size), int(n)))
    q = B / n
    delta = resolve_delta(cfg.delta, n)
    accountant = cfg.accountant or DEFAULT_ACCOUNTANT
    C = float(cfg.max_grad_norm or DEFAULT_MAX_GRAD_NORM)
    if cfg.noise_multiplier is not None:
        sigma = float(cfg.noise_multiplier)
        if accountant == "prv":   # refused before training, not when the spent epsilon is counted at its end
            spent_epsilon([(sigma, q, int(steps))], delta=delta, accountant="prv", prior_rho=prior_rho)
    elif prior_rho > 0 or accountant == "auto":
        assert cfg.epsilon is not None
        sigma = _composed_noise_multiplier(float(cfg.epsilon), delta=delta, q=q, steps=int(steps),
                                           prior_rho=prior_rho, accountant=accountant)
    else:
        assert cfg.epsilon is not None
        if accountant == "prv" and float(cfg.epsilon) > PRV_MAX_EPSILON:
            raise ConfigError(_PRV_RANGE.format(eps=f"privacy.epsilon={cfg.epsilon:g}"))
        try:
            sigma = float(get_noise_multiplier(target_epsilon=float(cfg.epsilon), target_delta=delta,
                                               sample_rate=q, steps=int(steps), accountant=accountant))
        except ValueError:
            raise ConfigError(_unreachable(float(cfg.epsilon), steps, q, delta=delta)) from None
    return PrivacyPlan(noise_multiplier=sigma, max_grad_norm=C, sample_rate=q, expected_batch_size=B,
                       steps=int(steps), delta=delta, accountant=accountant, n_train=int(n),
                       epsilon_target=None if cfg.epsilon is None else float(cfg.epsilon),
                       prior_rho=float(prior_rho), prior_mechanism=prior_mechanism)


def _composed_noise_multiplier(epsilon: float, *, delta: float, q: float, steps: int, prior_rho: float,
                               accountant: str) -> float:
    """The σ whose ``steps`` DP-SGD steps at rate ``q`` composed with a Gaussian-mechanism release of
    ``prior_rho`` spend at most ``epsilon`` at ``delta`` and within 0.01 of it (the tolerance of opacus's
    ``get_noise_multiplier``).

    ε falls as σ grows. The search keeps a bracket ``lo < hi`` with ε(lo) above the target and ε(hi) at most it:
    the upper end found by doubling σ under RDP's ε, which is never below ``auto``'s (the smaller of RDP's and
    PRV's) and far cheaper than PRV's numerical composition, then checked and moved down under the run's
    accountant; inside the bracket a secant step in 1/σ aims at the middle of the tolerance (a bisection step
    once one end has moved twice in a row), so that ``auto`` needs a few PRV evaluations instead of a bisection's
    dozen."""
    def eps(sigma: float) -> float:
        return spent_epsilon([(sigma, q, steps)], delta=delta, accountant=accountant, prior_rho=prior_rho)

    if prior_rho > 0 and spent_epsilon([], delta=delta, accountant=accountant, prior_rho=prior_rho) >= epsilon:
        raise ConfigError(f"the statistics released before DP-SGD alone spend privacy.epsilon={epsilon}; lower "
                          "their share of it (objective.anchor_epsilon_share, gan.anchor_epsilon_share)")
    # an upper bound on eps(sigma) for the doubling: RDP's for auto, unless RDP's count of the release alone is
    # already past the target (then no sigma brings it below, and auto's own is used)
    by_rdp = accountant == "auto" and spent_epsilon([], delta=delta, accountant="rdp", prior_rho=prior_rho) < epsilon

    def bound(sigma: float) -> float:
        return spent_epsilon([(sigma, q, steps)], delta=delta, accountant="rdp" if by_rdp else accountant,
                             prior_rho=prior_rho)

    hi = 1.0
    while (e_hi := bound(hi)) > epsilon:
        hi *= 2.0
        if hi > 1e6:
            raise ConfigError(_unreachable(epsilon, steps, q, delta=delta, prior_rho=prior_rho))
    if by_rdp:   # the bound's value; the run's accountant's own at hi
        e_hi = eps(hi)
    lo, e_lo = hi / 2.0, math.inf
    while lo > 1e-6 * hi:   # the lower end: ε above the target under the run's accountant
        e_lo = eps(lo)
        if e_lo > epsilon:
            break
        hi, e_hi, lo, e_lo = lo, e_lo, lo / 2.0, math.inf
    else:
        lo, e_lo = 0.0, math.inf
    aim, last, kept = epsilon - 0.005, 0, 0   # kept: secant steps in a row that moved the same end
    while epsilon - e_hi > 0.01 and hi - lo > 1e-6 * hi:
        width = hi - lo
        if math.isfinite(e_lo) and e_lo > e_hi and kept < 2:
            # secant in 1 / sigma, in which epsilon is close to linear (it is convex in sigma itself)
            u = 1.0 / hi + (aim - e_hi) * (1.0 / lo - 1.0 / hi) / (e_lo - e_hi)
            mid = min(max(1.0 / u, lo + 0.01 * width), hi - 0.01 * width)
        else:  # no finite lower end yet, or one end moved twice in a row: bisect
            mid, kept = 0.5 * (lo + hi), 0
        e = eps(mid)
        side = 1 if e <= epsilon else -1
        kept, last = (kept + 1 if side == last else 1), side
        if side > 0:
            hi, e_hi = mid, e
        else:
            lo, e_lo = mid, e
    return hi


#: the refusal of an explicit ``prv`` accountant past :data:`PRV_MAX_EPSILON` (its grid overflows; at epsilon
#: 1,000 it does not finish)
_PRV_RANGE = ("{eps} is beyond the PRV accountant's range (epsilon at most 100: its grid overflows past it); use "
              "privacy.accountant=rdp or auto, which count such budgets by RDP")


def _unreachable(epsilon: float, steps: int, q: float, *, delta: float, prior_rho: float = 0.0) -> str:
    """The refusal of a target ε no noise multiplier up to 1e6 (the search's bound) meets. Where even one step at
    that bound spends more by RDP's conversion, which costs about log(1/δ)/(α-1) at its largest order α whatever
    the noise (and PRV's count fails at so small a δ), δ is what to change, not the steps."""
    try:
        least = spent_epsilon([(1e6, q, 1)], delta=delta, accountant="rdp", prior_rho=prior_rho)
    except (ValueError, OverflowError, FloatingPointError):
        least = math.inf
    if least > epsilon:
        return (f"privacy.epsilon={epsilon:g} cannot be reached at privacy.delta={delta:.3g}: the accountant's "
                f"conversion spends about {least:.3g} at that delta whatever the noise and the number of steps; "
                "raise privacy.delta (at most 1/n, the default) or privacy.epsilon")
    fewer = " or lower train.steps" if steps > 1 else ""
    return (f"privacy.epsilon={epsilon:g} cannot be reached in {steps} step{'s' if steps > 1 else ''} at sample "
            f"rate {q:.3g} with a noise multiplier up to 1e6 (where the search stops); raise epsilon{fewer}")


def spent_epsilon(history: list[tuple[float, float, int]], *, delta: float, accountant: str,
                  prior_rho: float = 0.0) -> float:
    """ε spent by a DP-SGD history ``[(σ, q, steps), ...]`` at ``delta``, by opacus's ``rdp`` or ``prv``
    accountant or the smaller of their two (``auto``; module docstring), with a prior
    Gaussian-mechanism release of ``prior_rho`` (:attr:`PrivacyPlan.prior_rho`) composed in as one step of
    noise multiplier 1 / sqrt(2 ρ) at sample rate 1: its Rényi divergence α ρ at order α (Mironov 2017), its
    privacy random variable that of the Gaussian mechanism (Gopi et al. 2021)."""
    require_opacus()
    hist = [(float(s), float(q), int(k)) for s, q, k in history]
    if prior_rho > 0:
        hist.insert(0, (1.0 / math.sqrt(2.0 * prior_rho), 1.0, 1))
    if not hist:
        return 0.0

    def by(mechanism: str) -> float:
        return _accounted(mechanism, tuple(hist), float(delta))

    if accountant == "prv" and not by("rdp") <= PRV_MAX_EPSILON:
        raise ConfigError(_PRV_RANGE.format(eps=f"the epsilon of these settings ({by('rdp'):.4g} by RDP)"))
    if accountant != "auto":
        return by(accountant)
    rdp = by("rdp")
    if not rdp <= PRV_MAX_EPSILON:
        return rdp
    try:
        prv = by("prv")
    except (MemoryError, ValueError, OverflowError, FloatingPointError, RuntimeError):
        return rdp
    return min(rdp, prv) if math.isfinite(prv) else rdp


@functools.lru_cache(maxsize=4096)
def _accounted(mechanism: str, history: tuple[tuple[float, float, int], ...], delta: float) -> float:
    """opacus's ``mechanism`` accountant's ε for ``history`` at ``delta``. Remembered: a noise search asks RDP and
    then ``auto`` for the same σ, and the models of one benchmark plan the same (n, batch, steps, ε), while each
    count takes RDP's hundred-odd fractional orders or PRV's numerical composition afresh."""
    from opacus.accountants import create_accountant

    acc = create_accountant(mechanism=mechanism)
    acc.history = list(history)
    with warnings.catch_warnings():  # RDP's "optimal order is the largest alpha" for a release on its own;
        warnings.simplefilter("ignore", UserWarning)  # PRV's log(1 - q) at rate 1, in a branch not taken
        warnings.simplefilter("ignore", RuntimeWarning)
        # PRV's upper bound goes below 0 where δ alone covers the history; ε is 0 there, not negative
        return max(0.0, float(acc.get_epsilon(delta=delta)))


#: the smallest ρ, relative to the exact Gaussian mechanism's, that :func:`release_rho` tries before refusing
_RHO_FLOOR = 1e-12


def release_rho(epsilon: float, delta: float, accountant: str) -> float:
    """The largest ρ of a Gaussian-mechanism release that ``accountant`` (:func:`spent_epsilon`) counts as at
    most (``epsilon``, ``delta``)-DP on its own, so that the release's share of a composed budget is its share by
    the run's own accountant: for ``prv`` and ``auto`` the exact :func:`gaussian_mechanism_rho` (PRV's privacy
    random variable is the Gaussian mechanism's) where the count of it stays within ``epsilon``, else the ρ
    bisected below it to where it does (PRV's count is an upper bound up to 0.01 above the exact ε, which at an ε
    of a few hundredths is a large part of it; 1e-6 relative); for ``rdp`` the largest ρ its conversion from
    Rényi DP allows (bisection to 1e-9 relative, rounded down). A share no ρ fits is refused: tried first at a ρ
    far below the exact one, since RDP's conversion spends about log(1/δ)/(α-1) at any ρ and PRV's count may be
    0.01 above the truth, and bisecting towards 0 would take σ = 1 / sqrt(2 ρ) past what the accountants can
    square."""
    exact = gaussian_mechanism_rho(epsilon, delta)
    if not _release_within(exact * _RHO_FLOOR, epsilon, delta, accountant):
        other = [a for a in ("auto", "rdp") if a != accountant
                 and _release_within(exact * _RHO_FLOOR, epsilon, delta, a)]
        hint = f", or count with privacy.accountant={other[0]}" if other else ""
        raise ConfigError(f"the statistics' share of privacy.epsilon ({epsilon:.3g}) is below what the {accountant} "
                          f"accountant can count for them at delta {delta:.3g}: raise privacy.epsilon or the "
                          "statistics' share of it (objective.anchor_epsilon_share, gan.anchor_epsilon_share)"
                          + hint)
    if accountant != "rdp" and _release_within(exact, epsilon, delta, accountant):
        rho = exact
    else:
        rho = _boundary(lambda rho: _release_within(rho, epsilon, delta, accountant), exact,
                        rel=1e-9 if accountant == "rdp" else 1e-6)[0]
    if gaussian_mechanism_epsilon(rho, delta) <= 0:
        # so little ε that δ alone covers the release: its noise, set from the exact (ε, δ) of ρ, would be that
        # of ε = 0, a larger ρ than the accountant allowed
        raise ConfigError(f"the statistics' share of privacy.epsilon ({epsilon:.3g}) is so small that delta "
                          f"({delta:.3g}) alone covers their release: raise privacy.epsilon or lower privacy.delta")
    return rho


def _release_within(rho: float, epsilon: float, delta: float, accountant: str) -> bool:
    """Whether ``accountant`` counts a Gaussian-mechanism release of ``rho`` on its own as at most ``epsilon`` at
    ``delta`` (RDP: opacus's conversion of its α ρ at the default orders, never tighter than the exact count)."""
    if accountant != "rdp":
        return spent_epsilon([], delta=delta, accountant=accountant, prior_rho=rho) <= epsilon
    require_opacus()
    import numpy as np
    from opacus.accountants import RDPAccountant
    from opacus.accountants.analysis.rdp import get_privacy_spent

    orders = np.asarray(RDPAccountant.DEFAULT_ALPHAS, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(get_privacy_spent(orders=orders, rdp=rho * orders, delta=delta)[0]) <= epsilon


def preprocessing_coverage(*, log: str, scaler: str, support: str = "auto") -> str:
    """What the DP guarantee says about a model's preprocessing (section ``[preprocess]``): ``"data-independent"``
    when nothing is fitted on or read from the training data (no scaler, a fixed log choice, a fixed support:
    ``support=auto`` reads whether any training value is below 0, except after ``log2p1``, whose inverse
    stops at 0 anyway), else ``"not covered"``."""
    support_fixed = support != "auto" or log == "log2p1"
    return "data-independent" if scaler == "none" and log != "auto" and support_fixed else "not covered"


def resolve_delta(delta: float | None, n: int) -> float:
    """δ of a private release from ``n`` profiles: ``privacy.delta``, or 1/n unset (the default issue 18 sets, the
    loosest accepted). A mechanism that publishes each profile whole with probability δ meets (0, δ): at δ = 1/n
    it publishes one profile on average, above it more, so a δ above 1/n is refused and a smaller one (1e-5, or
    1/n^1.1) makes the stronger statement."""
    if delta is None:
        return 1.0 / n
    if float(delta) > 1.0 / n:
        raise ConfigError(f"privacy.delta={delta:g} is above 1/n = {1.0 / n:.3g} for the {n} training profiles: a "
                          "guarantee with that delta allows publishing whole profiles; set privacy.delta below 1/n "
                          "(1e-5 is common), or leave it unset (1/n, the loosest accepted)")
    return float(delta)


def noise_key(seed: int, *, reproducible: bool | None) -> int:
    """The key a private release draws its noise (and DP-SGD its batches) from: 62 bits of the operating system's
    entropy (:mod:`secrets`), never saved, or with ``reproducible`` the run's seed (public: the guarantee then
    holds only against whoever does not know it)."""
    return int(seed) if reproducible else secrets.randbits(62)


#: the neighbouring data sets the guarantee compares (what opacus's accountants and the private Gaussian's
#: sensitivities assume); the exact sizes a record publishes tell such neighbours apart, hence their stating
NEIGHBOURS = ("add or remove one profile (the accountant's and the sensitivities' relation); n_train and the class "
              "sizes are released exactly, outside the guarantee: for data sets of one size differing in one profile "
              "(replace-one) the same noise spends a larger epsilon, the sensitivities being doubled")


def noise_source(reproducible: bool | None) -> str:
    """What a run record says of where its noise came from."""
    return ("the run's seed (privacy.reproducible=true: the run repeats exactly; not private against whoever "
            "knows the seed)" if reproducible else "a key of the operating system's entropy, not saved")


#: the random streams of a DP-SGD run: the Poisson batches and the Gaussian noise
_BATCHES, _NOISE = 0, 1


def stream_seed(key: int, stream: int, step: int) -> int:
    """The 63-bit seed of draw ``step`` of ``stream`` (:data:`_BATCHES` or :data:`_NOISE`) of a run's key: NumPy's
    SeedSequence hashes the three together, so no seed of one stream is a seed of the other. The subsampled
    Gaussian mechanism's accounting assumes the noise independent of the subsampling, and on the CPU torch draws
    its normals from the same uniforms as its ``rand``: a noise seed equal to a batch seed (as an arithmetic
    progression of seeds per stream allows) would make that step's noise a function of the batch's membership
    draws."""
    return int(np.random.SeedSequence([int(key) & ((1 << 64) - 1), stream, int(step)]).generate_state(
        1, dtype=np.uint64)[0] >> 1)


class _PoissonBatches:
    """Poisson subsampling: at step ``k`` each of the ``n`` profiles joins the batch with probability ``q``,
    drawn from a generator seeded by (key, k); under DDP (``rank`` of ``world_size``) this rank's slice of it."""

    def __init__(self, n: int, q: float, *, key: int, device: torch.device, rank: int = 0,
                 world_size: int = 1) -> None:
        self.n, self.q, self.key, self.device = int(n), float(q), int(key), device
        self.rank, self.world_size = int(rank), int(world_size)

    def indices(self, step: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(stream_seed(self.key, _BATCHES, step))
        keep = torch.rand(self.n, generator=g) < self.q
        idx = torch.nonzero(keep).flatten()
        return idx[self.rank::self.world_size].to(self.device)


class PrivateTraining:
    """DP-SGD for one run of :func:`rnagen.train.train_loop`: Poisson batches, the per-sample clipped and
    noised step, and the accountant (see the module docstring).

    Parameters
    ----------
    plan
        The resolved settings (:func:`plan_privacy`).
    seed
        The run's seed; with ``reproducible`` the batch and noise generators of step ``k`` are seeded from
        (seed, k), else from (a secret key, k) (:func:`noise_key`).
    reproducible
        ``privacy.reproducible``.
    """

    def __init__(self, plan: PrivacyPlan, *, seed: int, reproducible: bool | None = None) -> None:
        require_opacus()
        from opacus.accountants import create_accountant

        self.plan, self.seed, self.reproducible = plan, int(seed), bool(reproducible)
        self._key = noise_key(seed, reproducible=reproducible)
        # the history of (σ, q, steps) it keeps is the same for every accountant; ε is spent_epsilon's
        self.accountant = create_accountant(mechanism="rdp" if plan.accountant == "auto" else plan.accountant)
        self._gsm: Any = None
        self._dp_optimizer: Any = None
        self._custom: Any = None   # a model's own step that computes the per-sample gradients (attach)
        self._noise: torch.Generator | None = None
        self._rank, self._world = 0, 1   # this process's place in the run (attach)

    # --- set-up -----------------------------------------------------------------------------------------
    def batches(self, n: int, *, device: torch.device) -> _PoissonBatches:
        """The Poisson batches of this run (this rank's slices of them under DDP; :meth:`attach` first, which
        gives every rank rank 0's key)."""
        return _PoissonBatches(n, self.plan.sample_rate, key=self._key, device=device, rank=self._rank,
                               world_size=self._world)

    def attach(self, ctx: "StepContext", step_fn: Any = None) -> None:
        """Wrap ``ctx.raw`` for per-sample gradients and the ``main`` optimiser in opacus's ``DPOptimizer``
        (``DistributedDPOptimizer`` under DDP, with every rank on rank 0's key).

        With a model's own ``step_fn`` (the WGAN-GP's), only the optimiser it names in its
        ``private_optimizer`` attribute is wrapped (the one whose parameters read the training profiles), and
        no hooks are installed: the step computes each profile's gradient itself (its loss may hold a gradient
        penalty, a second-order term opacus's hooks do not differentiate), stores it as ``p.grad_sample`` on
        those parameters and calls :attr:`optimizer`'s ``step``, which clips, noises and applies it."""
        from opacus import GradSampleModule
        from opacus.optimizers import DistributedDPOptimizer, DPOptimizer
        from opacus.validators import ModuleValidator

        name = "main" if step_fn is None else str(getattr(step_fn, "private_optimizer", ""))
        if step_fn is not None and name not in ctx.optimizers:
            raise ConfigError("differentially private training is available for models trained by the default step "
                              "(diffusion, vae) or by a step that clips per-profile gradients (wgan-gp)")
        if step_fn is None and set(ctx.optimizers) != {"main"}:
            raise ConfigError("differentially private training supports models with one optimiser (diffusion, "
                              "vae); this model has " + ", ".join(sorted(ctx.optimizers)))
        # a model's own step answers for its per-sample gradients (the WGAN-GP's critic has no batch statistics)
        problems = ModuleValidator.validate(ctx.raw, strict=False) if step_fn is None else []
        if problems:
            # opacus's reasons run to a paragraph; its first sentence names the layer
            reason = str(problems[0]).split(". ")[0].strip().rstrip(".")
            if "BatchNorm" in reason:
                reason = ("BatchNorm normalises each profile by the statistics of its batch, so no clipping bounds "
                          "one profile's influence")
            raise ConfigError(f"this network cannot be trained with per-sample gradient clipping: {reason}; with "
                              "the vae use --set network.norm=layer")
        self._noise = torch.Generator(device=ctx.device)
        if step_fn is None:
            self._gsm = GradSampleModule(ctx.raw, loss_reduction="mean")
        self._custom = step_fn
        world = ctx.dist.world_size
        if ctx.dist.enabled:
            import torch.distributed as tdist

            # one batch for every rank: rank 0's key (a secret key differs from process to process)
            key = torch.tensor([self._key], dtype=torch.int64, device=ctx.device)
            tdist.broadcast(key, src=0)
            self._key = int(key.item())
        # each rank divides its clipped sum (plus the noise, on rank 0) by its share of the expected batch size and
        # DistributedDPOptimizer averages over the ranks: the sum over the whole batch divided by its expected size
        opt_cls = DistributedDPOptimizer if ctx.dist.enabled else DPOptimizer
        self._dp_optimizer = opt_cls(ctx.optimizers[name], noise_multiplier=self.plan.noise_multiplier,
                                     max_grad_norm=self.plan.max_grad_norm,
                                     expected_batch_size=(self.plan.expected_batch_size if world == 1 else
                                                          self.plan.expected_batch_size / world),
                                     loss_reduction="mean", generator=self._noise)
        if self._gsm is not None:
            ctx.module = self._gsm
        self._rank, self._world = ctx.dist.rank, world

    @property
    def optimizer(self) -> Any:
        """The private optimiser (opacus's ``DPOptimizer``): its ``step`` clips each ``p.grad_sample`` to
        ``max_grad_norm``, adds the noise, divides by the expected batch size and applies the update."""
        return self._dp_optimizer

    def detach(self) -> None:
        """Remove opacus's hooks from the trained module (sampling then runs the plain network)."""
        if self._gsm is not None:
            self._gsm._close()
            self._gsm = None

    # --- one step ----------------------------------------------------------------------------------------
    def step(self, ctx: "StepContext", xb: torch.Tensor, yb: torch.Tensor) -> dict[str, float]:
        """One DP-SGD step on the Poisson batch ``(xb, yb)`` (steps 2-4 of the module docstring)."""
        opt = self._dp_optimizer
        assert opt is not None and self._noise is not None, "attach() first"
        opt.zero_grad(set_to_none=True)
        self._noise.manual_seed(stream_seed(self._key, _NOISE, ctx.step))
        logs: dict[str, float] = {}
        if self._custom is not None:
            # the model's step fills p.grad_sample (empty for an empty batch), calls opt.step() and its schedulers
            logs = self._custom(ctx, xb, yb)
        elif len(xb):
            logs = self._clipped_sums(ctx, xb, yb)
        else:  # an empty Poisson batch: no gradients, but the noise is added and the step is accounted
            for p in opt.params:
                p.grad_sample = torch.zeros((0, *p.shape), device=p.device, dtype=p.dtype)
        if self._custom is None:
            opt.step()
            ctx.schedulers["main"].step()
        self.accountant.step(noise_multiplier=self.plan.noise_multiplier, sample_rate=self.plan.sample_rate)
        # the loop averages each log over the ranks: the whole batch's size is the mean slice times their number
        return {**logs, "batch": float(len(xb) * self._world)}

    def part_rows(self) -> int:
        """The profiles of one backward pass of :meth:`step`: as many as :data:`GRAD_SAMPLE_BYTES` of per-profile
        gradients hold (at least one)."""
        n_params = sum(p.numel() for p in self._dp_optimizer.params) if self._dp_optimizer is not None else 0
        return max(1, GRAD_SAMPLE_BYTES // max(1, 4 * n_params))

    def _clipped_sums(self, ctx: "StepContext", xb: torch.Tensor, yb: torch.Tensor) -> dict[str, float]:
        """The per-profile gradients of the batch ``(xb, yb)``, clipped and summed into the optimiser's
        ``summed_grad`` a part of :meth:`part_rows` profiles at a time: every part but the last is clipped and
        accumulated with the noise and the update skipped (``signal_skip_step``), the last is left for the
        caller's ``opt.step()``, which clips it, adds the noise once and applies the update. The sum of the
        clipped gradients is the batch's whichever the parts (each profile's gradient is of its own loss), and
        so is the noise; the per-profile gradients held at once, which grow with batch x parameters, stay
        bounded. The logs are the batch's means (of the parts' means, by their sizes)."""
        opt = self._dp_optimizer
        rows = self.part_rows()
        sums: dict[str, float] = {}
        for start in range(0, len(xb), rows):
            part = slice(start, start + rows)
            with warnings.catch_warnings():  # torch notes that the inputs need no gradient: expected here
                warnings.simplefilter("ignore", UserWarning)
                out = ctx.module(xb[part], yb[part], generator=ctx.generator)
                out.loss.backward()
            k = len(xb[part])
            for name, v in {"loss": out.loss.detach(), **out.logs}.items():
                sums[name] = sums.get(name, 0.0) + k * float(v)
            if start + rows < len(xb):
                opt.signal_skip_step(do_skip=True)
                opt.step()    # clip this part's gradients and add them to summed_grad; no noise, no update
                opt.zero_grad(set_to_none=True)   # the part's grad_sample; summed_grad is kept (a skipped step)
        return {name: v / len(xb) for name, v in sums.items()}

    # --- accounting and checkpoints -----------------------------------------------------------------------
    @property
    def history(self) -> list[tuple[float, float, int]]:
        """The accountant's history, ``[(σ, q, steps), ...]``."""
        return [(float(s), float(q), int(k)) for s, q, k in self.accountant.history]

    def epsilon(self) -> float:
        """ε spent so far at the plan's δ."""
        return spent_epsilon(self.history, delta=self.plan.delta, accountant=self.plan.accountant,
                             prior_rho=self.plan.prior_rho)

    def state_dict(self) -> dict[str, Any]:
        """The accountant's state for the checkpoint (plain lists and numbers: loadable with weights_only)."""
        return {"mechanism": self.plan.accountant, "history": [list(h) for h in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the accountant's history saved by :meth:`state_dict` (from a run with the same accountant:
        its σ was chosen by it)."""
        if state.get("mechanism") != self.plan.accountant:
            raise ValueError(f"accountant {state.get('mechanism')!r} is not {self.plan.accountant!r}")
        self.accountant.history = [(float(s), float(q), int(k)) for s, q, k in state["history"]]

    def record(self, *, preprocessing: str = "not covered") -> dict[str, Any]:
        """What the run folder and the samples carry: the guarantee and every DP setting (JSON-able)."""
        p = self.plan
        steps = sum(k for _, _, k in self.history)
        out: dict[str, Any] = {
            "mechanism": "DP-SGD (Abadi et al. 2016) with opacus",
            "epsilon": self.epsilon(),
            "delta": p.delta,
            "accountant": p.accountant,
            "noise_multiplier": p.noise_multiplier,
            "max_grad_norm": p.max_grad_norm,
            "sample_rate": p.sample_rate,
            "expected_batch_size": p.expected_batch_size,
            "sampling": "poisson",
            "steps": int(steps),
            "n_train": p.n_train,
            "length": "fixed (train.val_fraction ignored)",
            "preprocessing": preprocessing,
            "public": "n_train, labels and class sizes",
            "neighbours": NEIGHBOURS,
            "noise": noise_source(self.reproducible),
        }
        if p.epsilon_target is not None:
            out["epsilon_target"] = p.epsilon_target
        if p.prior_rho > 0:
            out["mechanism"] += f" composed with {p.prior_mechanism} ({p.accountant.upper()} accountant)"
            out["prior_rho"] = p.prior_rho
            out["prior_mechanism"] = p.prior_mechanism
            out["epsilon_dpsgd"] = spent_epsilon(self.history, delta=p.delta, accountant=p.accountant)
        return out


def zcdp_to_dp(rho: float, delta: float) -> float:
    """ε of the (ε, δ)-DP guarantee implied by ρ-zCDP (Bun & Steinke 2016, Proposition 1.3):
    ε = ρ + 2 sqrt(ρ log(1/δ))."""
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))


def dp_to_zcdp(epsilon: float, delta: float) -> float:
    """The largest ρ whose :func:`zcdp_to_dp` is ``epsilon``: (sqrt(log(1/δ) + ε) - sqrt(log(1/δ)))^2."""
    L = math.log(1.0 / delta)
    return (math.sqrt(L + epsilon) - math.sqrt(L)) ** 2


def gaussian_mechanism_delta(rho: float, epsilon: float) -> float:
    """δ(ε) of Gaussian mechanisms whose ρ_i = Δ_i² / (2 σ_i²) add up to ``rho``, exactly.

    A Gaussian mechanism of sensitivity Δ and noise σ is μ-GDP with μ = Δ / σ, adaptive compositions of them are
    μ-GDP with μ² the sum of theirs (Dong, Roth & Su 2022, Corollary 3.3), so μ = sqrt(2 ρ); the privacy
    profile of μ-GDP is δ(ε) = Φ(-ε/μ + μ/2) - e^ε Φ(-ε/μ - μ/2) (Balle & Wang 2018, Theorem 8; Dong, Roth &
    Su 2022, Corollary 2.13). Tighter than the zCDP bound :func:`zcdp_to_dp`, which holds for any ρ-zCDP
    mechanism."""
    from scipy.special import log_ndtr, ndtr

    if rho <= 0:
        return 0.0
    mu = math.sqrt(2.0 * rho)
    return max(0.0, float(ndtr(-epsilon / mu + mu / 2.0) - math.exp(epsilon + log_ndtr(-epsilon / mu - mu / 2.0))))


def gaussian_mechanism_epsilon(rho: float, delta: float) -> float:
    """The least ε at which Gaussian mechanisms totalling ``rho`` are (ε, ``delta``)-DP
    (:func:`gaussian_mechanism_delta`, decreasing in ε; bisection to 1e-12 relative, rounded up)."""
    if gaussian_mechanism_delta(rho, 0.0) <= delta:
        return 0.0
    return _boundary(lambda eps: gaussian_mechanism_delta(rho, eps) > delta, 1.0)[1]


def gaussian_mechanism_rho(epsilon: float, delta: float) -> float:
    """The largest ρ whose Gaussian mechanisms are (``epsilon``, ``delta``)-DP (:func:`gaussian_mechanism_delta`,
    increasing in ρ; bisection to 1e-12 relative, rounded down). Larger than :func:`dp_to_zcdp`'s, the most
    that the zCDP bound allows: less noise for the same guarantee, most at small ε."""
    if epsilon <= 0 or not 0 < delta < 1:
        raise ValueError(f"need epsilon > 0 and 0 < delta < 1, got {epsilon}, {delta}")
    return _boundary(lambda rho: gaussian_mechanism_delta(rho, epsilon) <= delta, 1.0)[0]


def _boundary(below: Callable[[float], bool], hi: float, *, rel: float = 1e-12) -> tuple[float, float]:
    """(lo, hi) within ``rel`` of where the monotone ``below`` turns false on [0, inf), ``below(lo)`` true and
    ``below(hi)`` false: ``hi`` doubled until ``below`` is false there, then bisection."""
    lo = 0.0
    while below(hi):
        lo, hi = hi, 2.0 * hi
    while hi - lo > rel * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if below(mid) else (lo, mid)
    return lo, hi


def epsilon_text(epsilon: float, digits: int = 4) -> str:
    """``epsilon`` to ``digits`` significant digits rounded up, never down: a guarantee printed shorter must not
    read stronger than the one spent (2.99448 is "2.995", not "2.994")."""
    e = float(epsilon)
    if not math.isfinite(e) or e <= 0:
        return f"{e:.{digits}g}"
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(e)))
    up = math.ceil(e * scale * (1 - 1e-12)) / scale   # the relative nudge keeps an exact 2.995 at 2.995
    return f"{up:.{digits}g}"


def describe_privacy(record: dict[str, Any]) -> str:
    """One line for ``rnagen train``: the spent ε with its δ and the settings behind it."""
    parts = [f"differential privacy: epsilon {epsilon_text(record['epsilon'])} spent"]
    if "epsilon_target" in record:
        parts[0] += f" (target {record['epsilon_target']:.4g})"
    if "epsilon_dpsgd" in record:
        prior = str(record.get("prior_mechanism") or "the anchor statistics")
        parts[0] += (f", composed of DP-SGD (epsilon {epsilon_text(record['epsilon_dpsgd'])} alone) and the release "
                     f"of {prior}")
    parts.append(f"delta {record['delta']:.3g}")
    parts.append("accountant auto (the smaller epsilon of RDP and PRV)" if record["accountant"] == "auto"
                 else f"{record['accountant']} accountant")
    if "noise_multiplier" in record:
        parts.append(f"noise multiplier {record['noise_multiplier']:.4g}, clipping norm {record['max_grad_norm']:.4g}, "
                     f"sample rate {record['sample_rate']:.4g}, {record['steps']} steps")
    if "correlation_rank" in record:  # the private Gaussian (rnagen.models.gaussian)
        if record["covariance_share"] > 0:
            parts.append(f"within-class correlation of rank {record['correlation_rank']} from "
                         f"{record['covariance_share']:.0%} of rho")
        else:
            parts.append(f"correlation {record.get('correlation', 'not released')} (detection floor "
                         f"{record['correlation_detection_floor']:.0%})")
    line = ", ".join(parts) + f"; preprocessing {record.get('preprocessing', 'not covered')}"
    if str(record.get("noise", "")).startswith("the run's seed"):
        line += "; noise from the run's seed (privacy.reproducible=true): not private against whoever knows it"
    return line
