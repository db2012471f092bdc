"""`rnagen train` in this process under tracemalloc: the run's traced peak and, for the steps of the fit path, the most
held at once during each (counting what was held when it began), for BENCHMARKS.md ("The copy search, the depth
normalisation and the log on a wide matrix", fit memory):

    OMP_NUM_THREADS=1 python benchmarks/fit_memory.py gaussian fit.h5ad --label-key label --out R_g
"""
import importlib
import sys
import tracemalloc

from rnagen.cli.main import main

stack, peaks = [], {}
top = [0]


def _flush():
    p = tracemalloc.get_traced_memory()[1]
    top[0] = max(top[0], p)
    for fr in stack:
        fr[1] = max(fr[1], p)
    tracemalloc.reset_peak()


def wrap(modname, qual):
    """Record the peak during each call of ``modname.qual`` (a function, or ``Class.method``)."""
    mod = importlib.import_module(modname)
    owner, name = mod, qual
    if "." in qual:
        cls, name = qual.split(".")
        owner = getattr(mod, cls)
    fn = getattr(owner, name)

    def inner(*a, **k):
        _flush()
        frame = [qual, 0, tracemalloc.get_traced_memory()[0]]
        stack.append(frame)
        try:
            return fn(*a, **k)
        finally:
            _flush()
            stack.pop()
            old = peaks.get(qual, (0, 0, 0))
            peaks[qual] = (max(old[0], frame[1]), frame[2], old[2] + 1)
    setattr(owner, name, inner)


for m, q in [("rnagen.models._base", "Generator._bind"), ("rnagen.models._base", "Generator._calibrate_zeros"),
             ("rnagen.models._base", "Generator._choose_space"), ("rnagen.models._base", "Generator._fit_space"),
             ("rnagen.pp.copies", "copy_labels"), ("rnagen.train.validation", "outside_span_share"),
             ("rnagen.models._subspace", "choose_components"), ("rnagen.models._subspace", "fit_subspace"),
             ("rnagen.models._subspace", "_pca"), ("rnagen.models._subspace", "_residual"),
             ("rnagen.train.validation", "fit_validated"), ("rnagen.train.validation", "FidelityValidator.__init__"),
             ("rnagen.train.validation", "FidelityValidator.floor"),
             ("rnagen.train.validation", "FidelityValidator.score"),
             ("rnagen.train.loop", "train_loop"), ("rnagen.models.gaussian", "anchor_statistics"),
             ("rnagen.cli.models", "read_input")]:
    try:
        wrap(m, q)
    except AttributeError as e:
        print("no", m, q, e)
model = sys.argv[1]
from rnagen.models import get_model  # noqa: E402

cls = get_model(model)
importlib.import_module(cls.__module__)
wrap(cls.__module__, f"{cls.__name__}._fit")
tracemalloc.start()
rc = main(["train", *sys.argv[2:], "--model", model, "--quiet"])
_flush()
print(f"rc={rc} whole-run traced peak {top[0] / 1e6:.0f} MB")
for k, (p, b, n) in peaks.items():
    print(f"  {k}: peak {p / 1e6:.0f} MB (held at its start {b / 1e6:.0f} MB), {n} call(s)")
