"""`rnagen train` (or `rnagen evaluate`) in this process under tracemalloc: the run's traced peak and CPU time and, for
the steps of the fit path, the most held at once during each (counting what was held when it began), their CPU
time and the shapes of the matrices each was called on, for BENCHMARKS.md ("The copy search, the depth
normalisation and the log on a wide matrix", fit memory):

    OMP_NUM_THREADS=1 python benchmarks/fit_memory.py gaussian fit.h5ad --label-key label --out R_g
    OMP_NUM_THREADS=1 python benchmarks/fit_memory.py evaluate --real real.h5ad --synthetic syn.h5ad \
        --train train.h5ad --label-key label --metrics privacy --out m.json
"""
import importlib
import sys
import time
import tracemalloc

from _patch import resolve

from rnagen.cli.main import main

stack, peaks = [], {}
top = [0]
cpu: dict[str, float] = {}
shapes: dict[str, list[str]] = {}


def _flush():
    p = tracemalloc.get_traced_memory()[1]
    top[0] = max(top[0], p)
    for fr in stack:
        fr[1] = max(fr[1], p)
    tracemalloc.reset_peak()


def wrap(modname, qual):
    """Record the peak during each call of ``modname.qual`` (a function, or ``Class.method``)."""
    owner, name, fn = resolve(modname, qual)

    def inner(*a, **k):
        _flush()
        frame = [qual, 0, tracemalloc.get_traced_memory()[0]]
        stack.append(frame)
        shape = next((x.shape for x in a if isinstance(getattr(x, "shape", None), tuple)), None)
        if shape is not None:
            shapes.setdefault(qual, []).append(" x ".join(map(str, shape)))
        t0 = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            cpu[qual] = cpu.get(qual, 0.0) + time.process_time() - t0
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
             ("rnagen.cli.models", "read_input"), ("rnagen.metrics.evaluate", "_check_held_out"),
             ("rnagen.metrics.evaluate", "_near_copies_in_train")]:
    try:
        wrap(m, q)
    except AttributeError as e:
        print("no", m, q, e)
model = sys.argv[1]
if model == "evaluate":
    argv = ["evaluate", *sys.argv[2:]]
else:
    from rnagen.models import get_model

    cls = get_model(model)
    importlib.import_module(cls.__module__)
    wrap(cls.__module__, f"{cls.__name__}._fit")
    argv = ["train", *sys.argv[2:], "--model", model, "--quiet"]
tracemalloc.start()
t_all = time.process_time()
rc = main(argv)
t_all = time.process_time() - t_all
_flush()
print(f"rc={rc} whole-run traced peak {top[0] / 1e6:.0f} MB, CPU {t_all:.1f} s (under tracemalloc)")
for k, (p, b, n) in peaks.items():
    seen = shapes.get(k, [])
    calls = ", ".join(f"{s} x{seen.count(s)}" for s in dict.fromkeys(seen))
    print(f"  {k}: peak {p / 1e6:.0f} MB (held at its start {b / 1e6:.0f} MB), {n} call(s), CPU {cpu[k]:.1f} s"
          + (f"; on {calls}" if calls else ""))
