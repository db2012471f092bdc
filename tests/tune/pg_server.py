"""Start and stop a throw-away PostgreSQL server for tests (initdb + pg_ctl on 127.0.0.1, a free port).

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the ``postgres`` system
user (created by the Debian package) or, failing that, ``nobody``.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def find_pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (PATH first, then Debian's /usr/lib/postgresql/*/bin)."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parts[-3].split(".")])
    for c in reversed(cands):
        if Path(c).with_name("pg_ctl").exists():
            return Path(c).parent
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_user() -> str | None:
    """The non-root user to run the server as (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


@dataclass
class PgServer:
    bindir: Path
    root: Path
    port: int
    user: str | None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def _cmd(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run(args, user=self.user, check=True, capture_output=True, text=True,
                              cwd=self.root, timeout=60, **kw)

    def start(self) -> None:
        self._cmd([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--no-locale", "--no-sync"])
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c max_connections=50")
        self._cmd([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.root / "server.log"),
                   "-o", opts, "-w", "-t", "30", "start"])

    def create_database(self, name: str) -> None:
        import psycopg2

        deadline = time.monotonic() + 20
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            subprocess.run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"],
                           user=self.user, capture_output=True, timeout=60, cwd=self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PgServer:
    bindir = find_pg_bin()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL binaries (initdb, pg_ctl)")
    user = _run_user()
    # Not under pytest's tmp_path: that folder is private to root, and the server may run as another user.
    root = Path(tempfile.mkdtemp(prefix="rnagen-pg-"))
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    srv = PgServer(bindir=bindir, root=root, port=free_port(), user=user)
    try:
        srv.start()
    except Exception:
        srv.stop()
        raise
    return srv
