"""Shared test fixtures. Area-specific fixtures live in each tests/<area>/conftest.py."""
import os

import pytest


def pytest_configure(config):
    """Share the cores among the test processes: ``make test`` runs two pytest-xdist workers on CI's two cores, so
    each process (a worker, and the subprocesses it starts, which inherit the setting) gets one torch and BLAS
    thread; a plain ``pytest`` gets every core. Set before any test module imports torch, which reads it then;
    a value the user exported stands."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT") or getattr(config.option, "numprocesses", None) or 1
    try:
        workers = max(1, int(workers))
    except (TypeError, ValueError):   # "-n auto" before xdist resolves it: one per core
        workers = os.cpu_count() or 1
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    os.environ.setdefault("MKL_NUM_THREADS", threads)


@pytest.fixture(autouse=True)
def entropy_from_the_test(monkeypatch, request):
    """A private release draws its noise from a key of the operating system's entropy
    (:func:`rnagen.train.privacy.noise_key`, ``secrets.randbits``); in a test the keys come from a stream seeded
    by the test's id, so a statistical assertion on a release checks the same draw on every machine and run, while
    two releases in one test still get different keys (as two runs do)."""
    import random
    import secrets
    import zlib

    stream = random.Random(zlib.crc32(request.node.nodeid.encode()))
    monkeypatch.setattr(secrets, "randbits", stream.getrandbits)


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch thread, restoring the previous count after it (tiny networks and matrices
    run faster without intra-op threading, and two threads thrash on a shared 2-core machine)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def earlier_output():
    """Writes a small .h5ad as rnagen writes one (its ``uns["rnagen"]`` record) at a path: the earlier result a
    failing command must leave as it was (a file rnagen did not write there is refused before any work)."""
    def write(path):
        import anndata as ad
        import numpy as np

        a = ad.AnnData(np.zeros((2, 2), np.float32))
        a.uns["rnagen"] = {"synthetic": {"model": "earlier"}}
        a.write_h5ad(path)
        return path

    return write



@pytest.fixture
def killed_after(monkeypatch):
    """``with killed_after(cls, n): <a fit>``: ``cls.forward`` (a training objective's) raises KeyboardInterrupt from
    its call ``n + 1`` on, as a run killed there, which the block must raise; the forward is put back after it."""
    import contextlib

    @contextlib.contextmanager
    def kill(cls, n):
        forward, calls = cls.forward, []

        def dies(self, *a, **kw):
            calls.append(1)
            if len(calls) > n:
                raise KeyboardInterrupt
            return forward(self, *a, **kw)

        monkeypatch.setattr(cls, "forward", dies)
        try:
            with pytest.raises(KeyboardInterrupt):
                yield
        finally:
            monkeypatch.setattr(cls, "forward", forward)

    return kill


@pytest.fixture
def sync_events(monkeypatch):
    """The list, in order, of each fsync (``("sync", kind, inode)``, kind ``file`` or ``dir``) and each rename
    (``("move", source inode, destination name)``) the process makes from here on."""
    import os
    import stat

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        st = os.fstat(fd)
        events.append(("sync", "dir" if stat.S_ISDIR(st.st_mode) else "file", st.st_ino))
        return real_fsync(fd)

    def replace(src, dst, *a, **kw):
        events.append(("move", os.stat(src).st_ino, os.path.basename(dst)))
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


@pytest.fixture
def fill_disk():
    """``fill_disk(path)`` writes zeros into the new file ``path`` until its disk is full (a small tmpfs,
    :func:`mount_tmpfs`) and returns the file's size: ``os.truncate`` it to leave some room."""
    def fill(path):
        with open(path, "wb", buffering=0) as fh:
            with pytest.raises(OSError):
                while True:
                    fh.write(b"\0" * 4096)
        return path.stat().st_size

    return fill


@pytest.fixture
def mount_tmpfs():
    """``mount_tmpfs(mnt, size)`` mounts a tmpfs of ``size`` (``"64k"``, ``"2m"``) at the existing folder ``mnt``
    and returns it: a disk that fills; unmounted after the test (lazily where a file on it is still open: detached
    now, freed when it is closed). Needs mount rights (root in a container that allows it); the test is skipped
    otherwise."""
    import shutil
    import subprocess

    mounted = []

    def mount(mnt, size: str):
        if shutil.which("mount") is None or shutil.which("umount") is None:
            pytest.skip("no mount command: a small tmpfs cannot be made here")
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True)
        if res.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (not root, or the container forbids it): "
                        f"{res.stderr.decode().strip()}")
        mounted.append(mnt)
        return mnt

    yield mount
    for mnt in mounted:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)
