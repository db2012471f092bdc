"""How a rank with a process group leaves (``rnagen.train.distributed.leave``): its group torn down, every exit
handler run, its output flushed, and the exit status it was given, without the interpreter's finalization."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_leave_tears_the_group_down_runs_the_exit_handlers_and_keeps_the_status(tmp_path):
    marker = tmp_path / "handler.txt"
    script = textwrap.dedent(f"""
        import atexit, datetime
        import torch.distributed as dist
        from rnagen.train.distributed import leave

        def handler():
            # registered before the group: runs after leave's own tear-down, as at a normal exit
            open({str(marker)!r}, "w").write(f"initialized={{dist.is_initialized()}}")

        atexit.register(handler)
        store = dist.FileStore({str(tmp_path / "store")!r}, 1)
        dist.init_process_group("gloo", store=store, rank=0, world_size=1,
                                timeout=datetime.timedelta(seconds=30))
        print("work done", end="")  # no newline: left in the buffer unless leave flushes it
        leave(3)
        print("never reached")
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr[-2000:]
    assert r.stdout == "work done"
    assert marker.read_text() == "initialized=False"


def test_the_command_line_leaves_through_it_where_it_started_the_group(tmp_path):
    """Under a process group the command started (``init_distributed``, as under torchrun) ``main`` ends the
    process with the command's status (here a user error, 2, with its one line); under a group its caller started,
    or none, it returns the status to the caller."""
    script = textwrap.dedent(f"""
        import datetime
        import torch.distributed as dist
        from rnagen.cli.main import main
        from rnagen.train import distributed

        missing = ["data", "info", {str(tmp_path / "missing.h5ad")!r}]
        assert main(missing) == 2  # no group: returned
        dist.init_process_group("gloo", store=dist.FileStore({str(tmp_path / "store")!r}, 1), rank=0,
                                world_size=1, timeout=datetime.timedelta(seconds=30))
        assert main(missing) == 2 and dist.is_initialized()  # the caller's group: returned, left up
        distributed._STARTED_HERE = True  # what init_distributed records when it starts the group
        main(missing)
        print("never reached")
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "never reached" not in r.stdout
    errors = [line for line in r.stderr.splitlines() if line.startswith("rnagen: error:")]
    assert len(errors) == 3 and "Traceback" not in r.stderr
