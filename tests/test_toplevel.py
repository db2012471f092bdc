"""``import rnagen as rg``: sub-packages as lazy attributes (PEP 562), torch not imported by the top level."""
import subprocess
import sys

import pytest

import rnagen

SUBPACKAGES = ["bench", "data", "datasets", "metrics", "models", "pp", "reconstruct", "report", "train", "tune"]


def _run(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_import_and_pp_do_not_import_torch():
    out = _run("import sys, rnagen as rg\n"
               "a = 'torch' in sys.modules\n"
               "rg.pp, rg.datasets, rg.data\n"
               "print(a, 'torch' in sys.modules, 'rnagen.models' in sys.modules)")
    assert out == "False False False"


def test_subpackages_are_attributes_and_listed():
    names = dir(rnagen)
    for name in SUBPACKAGES:
        assert name in names
    lm = rnagen.datasets.landmarks()
    assert lm.shape[0] == 978 and lm["entrez_id"].is_unique
    assert rnagen.models.get_model("gaussian").name == "gaussian"
    import rnagen.pp as pp_module

    assert rnagen.pp is pp_module


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        rnagen.nosuch  # noqa: B018


def test_progress_bars_write_to_a_log_every_half_minute():
    """A progress bar whose stream is a file (a batch job's log) updates at most every LOG_PROGRESS_INTERVAL
    seconds, not every tenth of a second (each update is appended to one long line there); on a terminal it keeps
    tqdm's interval."""
    import io

    from rnagen.utils import LOG_PROGRESS_INTERVAL, progress_bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, interval in ((io.StringIO(), LOG_PROGRESS_INTERVAL), (Terminal(), 0.1)):
        bar = progress_bar(total=10, file=stream, desc="x")
        assert bar.mininterval == interval
        before = len(stream.getvalue())
        bar.set_postfix(loss=0.5)   # the training loop's: written at once on a terminal, at the next update in a log
        assert (len(stream.getvalue()) > before) == (interval != LOG_PROGRESS_INTERVAL)
        for _ in range(10):
            bar.update(1)
        bar.close()
        assert "10/10" in stream.getvalue() and "loss=0.5" in stream.getvalue()   # the last state either way


def test_progress_bars_in_a_log_leave_no_thread_behind():
    """Bars written to a log (every training check and sampling run makes some), one left open, leave no thread
    behind each (tqdm keeps a monitor thread per bar class for the life of the process)."""
    import io
    import threading

    from rnagen.utils import progress_bar

    open_bar = progress_bar(total=5, file=io.StringIO())   # an unfinished bar keeps tqdm's instances non-empty
    before = threading.active_count()
    for _ in range(50):
        with progress_bar(total=3, file=io.StringIO()) as bar:
            bar.update(3)
        progress_bar(total=3, file=io.StringIO(), disable=True).close()
    open_bar.close()
    assert threading.active_count() <= before
