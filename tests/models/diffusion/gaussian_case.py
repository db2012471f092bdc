"""The analytic case the sampler tests share: data x0 ~ N(MU, SD^2) in every coordinate, for which the optimal
denoiser is known in closed form, so samplers can be checked without training anything."""
import math
import weakref

from rnagen.models.diffusion.schedule import NoiseSchedule

MU, SD = 2.0, 0.5


def exact_denoiser(s: NoiseSchedule, prediction: str = "eps"):
    """E[ε | x_t] (or E[v | x_t]) for x0 ~ N(MU, SD^2) in every coordinate."""

    def f(x, t: int):
        a = s.alpha_bar(t)
        eps = math.sqrt(1 - a) * (x - math.sqrt(a) * MU) / (a * SD ** 2 + 1 - a)
        if prediction == "eps":
            return eps
        x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
        return math.sqrt(a) * eps - math.sqrt(1 - a) * x0

    return f


class LiveInputs:
    """Wraps a denoiser ``f``; at every call records how many of its earlier inputs are still alive, so a test
    can assert that a sampler keeps no trajectory (``max_alive``) and made ``len(seen)`` network calls."""

    def __init__(self, f):
        self.f = f
        self.seen: list[weakref.ref] = []
        self.max_alive = 0

    def alive(self) -> int:
        """How many inputs of earlier calls are still referenced."""
        return sum(r() is not None for r in self.seen)

    def __call__(self, x, t: int):
        self.max_alive = max(self.max_alive, self.alive())
        self.seen.append(weakref.ref(x))
        return self.f(x, t)
