"""`rnagen train` in this process, with the wall time of each part of the fit path and of the training loop's own
pieces, the peak RSS, and optionally a cProfile of the whole run, for BENCHMARKS.md ("Diffusion speed and memory":
"The default `rnagen train` at GTEx's size"):

    OMP_NUM_THREADS=1 python benchmarks/train_scale.py [--profile P.prof] -- train gtex17k.h5ad --out R \\
        --set train.steps=800 --set train.val_every=400 --quiet

Wall and CPU seconds (``time.process_time``: on one thread, the wall time an idle core would take, whatever other
jobs share the machine). Each timed function's calls are printed to stderr as they end (``name #k: seconds``), so a
run cut short by ``timeout`` still reports what it did; the totals, counts and ``ru_maxrss`` are printed at the end.
"""
import cProfile
import resource
import sys
import time

from _patch import resolve

from rnagen.cli.main import main

totals: dict[str, list[float]] = {}   # name -> [wall s, calls, CPU s]
#: per-call lines only for these (the rest, called per step, are summed)
VERBOSE = {"read_input", "Generator._bind", "Generator._copy_groups", "Generator._choose_space",
           "Generator._fit_space", "FidelityValidator.__init__", "FidelityValidator.score", "FidelityValidator.floor",
           "outside_span_share", "train_loop", "Generator.save", "Generator._calibrate_zeros", "copy_labels",
           "_Checkpoints.save", "DiffusionModel._sample_own"}
t_start = time.perf_counter()


def wrap(modname: str, qual: str) -> None:
    """Replace ``modname.qual`` (a function, or ``Class.method``) by one that adds its wall and CPU time to totals."""
    owner, name, fn = resolve(modname, qual)

    def inner(*a, **k):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(*a, **k)
        finally:
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            tot = totals.setdefault(qual, [0.0, 0, 0.0])
            tot[0] += dt
            tot[1] += 1
            tot[2] += dc
            if qual in VERBOSE:
                print(f"[{time.perf_counter() - t_start:8.1f}] {qual} #{tot[1]}: {dt:.2f} s ({dc:.2f} CPU s)",
                      file=sys.stderr, flush=True)
    setattr(owner, name, inner)


for m, q in [("rnagen.cli.models", "read_input"),
             ("rnagen.models._base", "Generator._bind"), ("rnagen.models._base", "Generator._copy_groups"),
             ("rnagen.models._base", "Generator._choose_space"), ("rnagen.models._base", "Generator._fit_space"),
             ("rnagen.models._base", "Generator._calibrate_zeros"), ("rnagen.models._base", "Generator.save"),
             ("rnagen.train.validation", "FidelityValidator.__init__"),
             ("rnagen.train.validation", "FidelityValidator.score"),
             ("rnagen.train.validation", "FidelityValidator.floor"),
             ("rnagen.train.validation", "outside_span_share"),
             ("rnagen.train.loop", "_default_step"), ("rnagen.train.loop", "_not_finite"),
             ("rnagen.train.loop", "_log_row"), ("rnagen.train.loop", "_Checkpoints.save"),
             ("rnagen.train.ema", "EMA.update"), ("rnagen.train.loop", "_Batches.indices"),
             ("rnagen.models.diffusion.model", "DiffusionModel._sample_own")]:
    wrap(m, q)
# train_loop is imported by name into validation.fit_validated's body from .loop: wrap it there
wrap("rnagen.train.loop", "train_loop")

argv = sys.argv[1:]
prof = None
if argv and argv[0] == "--profile":
    prof, argv = argv[1], argv[2:]
if argv and argv[0] == "--":
    argv = argv[1:]
t0, c0 = time.perf_counter(), time.process_time()
rc = 0
try:
    if prof:
        p = cProfile.Profile()
        p.enable()
    rc = main(argv)
finally:
    if prof:
        p.disable()
        p.dump_stats(prof)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s, exit {rc}, peak RSS {peak:.0f} MiB", file=sys.stderr)
    for q, (s, n, c) in sorted(totals.items(), key=lambda kv: -kv[1][0]):
        print(f"  {q}: {s:.2f} s ({c:.2f} CPU s) in {n} calls ({1000 * s / n:.2f} ms each)", file=sys.stderr)
