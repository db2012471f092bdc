"""torch.distributed set-up from the environment ``torchrun`` provides (WORLD_SIZE, RANK, LOCAL_RANK).

``torchrun --nproc_per_node=N -m rnagen train ...`` starts N processes; :func:`init_distributed` joins them
into one process group (``nccl`` on GPUs, ``gloo`` on CPU). A plain ``rnagen train`` runs with world size 1
and no process group.
"""
from __future__ import annotations

import atexit
import os
import sys
from dataclasses import dataclass
from typing import NoReturn

import torch


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run: ``world_size`` processes, global ``rank``, ``local_rank`` on its machine."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True under ``torchrun`` with more than one process (gradients and logs are averaged over ranks)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one process that writes files (checkpoints, run folder, logs)."""
        return self.rank == 0


def dist_info() -> DistInfo:
    """The current process's place in the job (world size 1 when not launched by torchrun)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_world_size(), dist.get_rank(), _env_int("LOCAL_RANK", 0))
    return DistInfo(_env_int("WORLD_SIZE", 1), _env_int("RANK", 0), _env_int("LOCAL_RANK", 0))


def _env_int(name: str, default: int) -> int:
    """The whole number torchrun puts in the environment variable ``name`` (``default`` where it is unset or
    empty); any other text is a one-line error naming the variable, since it would decide the rank that writes."""
    from ..errors import ConfigError

    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"environment variable {name}={text!r} is not a whole number; torchrun sets it for the "
                          f"processes it starts: unset {name} to train in one process") from None


def init_distributed(device: torch.device) -> DistInfo:
    """Initialise the process group if launched by torchrun with WORLD_SIZE > 1; idempotent."""
    import torch.distributed as dist

    info = dist_info()
    if info.world_size <= 1 or dist.is_initialized():
        return info
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(info.local_rank)
    # joining waits in native code for every rank, where no Python signal handler runs: a rank whose peer failed
    # before joining (rank 0 refusing the run folder) would ignore the launcher's SIGTERM until torchrun kills it
    # after its grace period. Nothing is held yet that the handler would release, so SIGTERM ends it at once here.
    import signal
    import threading

    before = signal.signal(signal.SIGTERM, signal.SIG_DFL) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        dist.init_process_group(backend=backend)
    except ValueError as e:   # torch's env:// rendezvous names the variable torchrun sets that is missing
        from ..errors import ConfigError

        raise ConfigError(f"WORLD_SIZE={info.world_size} asks for {info.world_size} processes, but they cannot "
                          f"meet ({' '.join(str(e).split())}); start them with torchrun --nproc_per_node=N -m "
                          "rnagen train ..., or unset WORLD_SIZE to train in one process") from None
    finally:
        if before is not None:
            signal.signal(signal.SIGTERM, before)
    global _STARTED_HERE
    _STARTED_HERE = True
    # destroy the group before the interpreter tears down: a gloo group left to its destructor can abort the
    # process at exit ("terminate called without an active exception") while its threads are still running
    atexit.register(_destroy_process_group)
    return dist_info()


#: Whether :func:`init_distributed` started this process's group (the command line then ends the process with
#: :func:`leave`; a group the caller started is the caller's to end).
_STARTED_HERE = False


def started_here() -> bool:
    """Whether this process's process group was started by :func:`init_distributed` and is still up."""
    import torch.distributed as dist

    return _STARTED_HERE and dist.is_available() and dist.is_initialized()


#: How long a rank leaving waits at exit for its peers before tearing its group down anyway.
EXIT_BARRIER_SECONDS = 60


def _destroy_process_group() -> None:
    """Tear the process group down at exit, on gloo after every rank has arrived (a rank that destroys its
    group while a peer still talks to it can abort), with a timeout so a rank whose peers died does not hang."""
    import datetime

    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    if dist.get_backend() == "gloo":
        try:
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=EXIT_BARRIER_SECONDS))
        except RuntimeError:
            pass  # a peer is gone: nothing left to wait for
    dist.destroy_process_group()


def leave(rc: int) -> NoReturn:
    """End a torchrun worker whose process group is up with exit status ``rc``: the group torn down (as at exit),
    every exit handler run and the standard streams flushed, then the process ends without the interpreter's
    finalization. A gloo group's C++ objects can outlive :func:`torch.distributed.destroy_process_group` (other
    references hold them); released during finalization, their worker threads cannot take the interpreter's
    lock and the rank aborts ("terminate called without an active exception") after its work is done."""
    _destroy_process_group()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
