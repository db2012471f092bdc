"""The peak resident memory the memory benchmarks report: this process's own, whatever process started it."""
import os
import resource


def peak_mb() -> float:
    """This process's peak resident memory so far in MiB: Linux's VmHWM (``/proc/self/status``), which starts
    afresh at exec; ``getrusage(RUSAGE_SELF).ru_maxrss`` where there is none.

    ``ru_maxrss`` is not a child's own peak on Linux: it starts from the resident set of the process it was forked
    from (``vfork``, as ``subprocess`` starts a child, carries the parent's peak so far) and is kept across
    ``execve`` (getrusage(2): "Resource usage metrics are preserved across an execve"), so a worker started by a
    parent that holds, or once held, a large matrix reports at least that parent's peak. ``wait4``'s figure for
    the child is the same number; ``/usr/bin/time -v`` reports its own fork's child, which starts from time's
    small resident set.
    """
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_env() -> dict[str, str]:
    """The environment for ``python -c CODE`` children that import this module: this one's, with this folder first
    on ``PYTHONPATH`` (a script's own folder is on ``sys.path`` only when it runs as a file)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])))
