"""One owner at a time: cross-process locks on a bench and on a simulated wafer's state.

A bench is identified by its instruments' VISA resource strings, normalised
(:func:`normalise_resource`: ``TCPIP::Prober-PC::1412::socket`` and
``TCPIP0::prober-pc::1412::SOCKET`` are one instrument, ``GPIB::17`` is ``GPIB0::17::INSTR``).
Each instrument has its own lock file, so two bench files sharing only a prober still exclude
each other. The lock files live in one machine-wide folder (:func:`lock_dir`: every user of the
bench computer, every data root): two operators logged in on the same station, a ``memprobe
sim-lab`` and its clients, a GUI and a CLI started with different ``--data`` folders all meet the
same lock file for the same instrument. The folder and its lock files are writable by every
user (a lock file is only ever locked, never written or removed); a bench file's ``lock_dir``
or ``$MEMPROBE_LOCK_DIR`` moves it (tests, a station with a managed shared folder).

The lock itself is an operating-system file lock (``filelock``: ``flock`` on Linux/macOS,
``LockFileEx`` on Windows), taken without waiting. The system drops it when its process ends,
however it ends, so a lock left by a killed process is simply free again: the next process takes
it in the same atomic step as any other acquisition (no delete-and-recreate race), notes the
previous owner's record in the log (:attr:`OwnerLock.took_over`) and writes its own. Beside each
lock file, ``<name>.owner.json`` records the owner (command line, process id, host, start time)
so that a refused process can name it (process id, user, host, since when).

Nothing here talks to an instrument: a bench takes its locks before connecting to anything.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import shlex
import socket
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import filelock

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "MEMPROBE_LOCK_DIR"
SHARED_MODE = 0o777
"""Mode of the machine-wide lock folder: every user creates and replaces lock records there
(not sticky: a user takes over the record a crashed process of another user left)."""
LOCK_FILE_MODE = 0o666
"""Mode of a lock file: any user's process opens it to lock it."""

_CLASSES = ("INSTR", "SOCKET", "INTFC", "BACKPLANE", "SERVANT", "RAW")


class BusyError(RuntimeError):
    """Something is owned by another process; the message names the owner and what to do."""

    def __init__(self, message: str, owner: Owner | None = None) -> None:
        super().__init__(message)
        self.owner = owner


class BenchBusyError(BusyError):
    """An instrument of the bench is owned by another process."""


class WaferStateBusyError(BusyError):
    """A simulated wafer's saved state is owned by another process."""


@dataclass(frozen=True)
class Owner:
    """Who holds a lock.

    Attributes:
        command: the owner's command line.
        pid: its process id.
        host: the host it runs on.
        since: when it took the lock (local time, ISO 8601, seconds).
        what: what it owns, in words (``bench lab-station-1``).
        user: the operating-system user it runs as ("?" in records of older versions).
    """

    command: str
    pid: int
    host: str
    since: str
    what: str = ""
    user: str = "?"

    @classmethod
    def me(cls, what: str = "") -> Owner:
        """This process as an owner, now."""
        argv = list(sys.argv) or ["python"]
        name = Path(argv[0]).name
        if name == "__main__.py":  # python -m gui ...
            argv[0:1] = ["python", "-m", Path(argv[0]).parent.name]
        else:
            argv[0] = name or "python"
        return cls(command=shlex.join(argv), pid=os.getpid(), host=socket.gethostname(),
                   since=datetime.now().isoformat(timespec="seconds"), what=what,
                   user=_user())

    def describe(self) -> str:
        """``pid 1234 of user alice on host lab-pc (memprobe run forming --die 9,9) since
        2026-...``."""
        return (f"pid {self.pid} of user {self.user} on host {self.host} ({self.command}) "
                f"since {self.since.replace('T', ' ')}")

    def alive(self) -> bool | None:
        """Whether the owner process still exists (None: on another host, cannot tell)."""
        if self.host != socket.gethostname():
            return None
        import psutil

        return psutil.pid_exists(self.pid)


def _user() -> str:
    """The operating-system user of this process ("?" if the system cannot say)."""
    try:
        return getpass.getuser()
    except Exception:  # no user name in the environment nor the password database
        return "?"


def normalise_resource(resource: str) -> str:
    """The canonical form of a VISA resource string, for comparing instruments.

    Interface and resource-class keywords are upper-cased and defaults filled in by pyvisa's own
    parser (``GPIB::17`` -> ``GPIB0::17::INSTR``, ``TCPIP::h::5025::SOCKET`` ->
    ``TCPIP0::h::5025::SOCKET``); host names are lower-cased and ``localhost`` is ``127.0.0.1``;
    ``COM3`` is ``ASRL3::INSTR``. A string pyvisa cannot parse is kept, stripped.
    """
    from pyvisa import rname

    text = resource.strip()
    if text.upper().startswith("COM") and text[3:].isdigit():
        text = f"ASRL{text[3:]}::INSTR"
    parts = text.split("::")
    head = parts[0]
    if head.upper().startswith("ASRL"):
        parts[0] = "ASRL" + head[4:]  # a serial device path keeps its case
    else:
        parts[0] = head.upper()
    if len(parts) > 1 and parts[-1].upper() in _CLASSES:
        parts[-1] = parts[-1].upper()
    text = "::".join(parts)
    try:
        parsed = rname.parse_resource_name(text)
    except Exception:  # not a VISA string pyvisa knows: compare it as written
        return text
    if hasattr(parsed, "host_address"):
        host = parsed.host_address.lower()
        parsed.host_address = "127.0.0.1" if host == "localhost" else host
    return str(parsed)


def default_lock_dir() -> Path:
    """The machine-wide lock folder: ``%PROGRAMDATA%\\memprobe\\locks`` on Windows (every
    user may create files there), ``/tmp/memprobe-locks`` elsewhere (not ``$TMPDIR``, which
    may differ per user)."""
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA") or r"C:\ProgramData") / "memprobe" / "locks"
    return Path("/tmp/memprobe-locks")


def lock_dir(configured: str | Path | None = None) -> Path:
    """The folder of the lock files (created, writable by every user): ``configured`` (a bench
    file's ``lock_dir``), else ``$MEMPROBE_LOCK_DIR``, else :func:`default_lock_dir`. A folder
    that cannot be created or written is an OSError that names it: falling back to a private
    folder would let a second owner in."""
    env = os.environ.get(LOCK_DIR_ENV)
    path = Path(configured or env or default_lock_dir()).expanduser()
    try:
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            try:
                os.chmod(path, SHARED_MODE)  # through the umask: every user locks here
            except OSError:
                pass
        probe = path / f".probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise OSError(
            f"the bench lock folder {path} is not usable by user {_user()} ({exc}); make it "
            f"writable for every user of this computer (e.g. chmod {SHARED_MODE:o}) or set "
            f"lock_dir in the bench file (or ${LOCK_DIR_ENV})") from exc
    return path


class OwnerLock:
    """An exclusive, non-blocking lock on ``path`` with an owner record beside it.

    Args:
        path: the lock file (``<path>.owner.json`` holds the owner record).
        what: what the lock protects, in words, for messages.
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self.record_path = self.path.with_name(self.path.name + ".owner.json")
        self._lock = filelock.FileLock(str(self.path), timeout=0, thread_local=False,
                                       mode=LOCK_FILE_MODE)
        self.owner: Owner | None = None
        #: the record of a previous owner that ended without releasing (None if the lock was free)
        self.took_over: Owner | None = None

    def read_owner(self) -> Owner | None:
        """The owner record on disk (None if there is none or it is unreadable)."""
        try:
            d = json.loads(self.record_path.read_text(encoding="utf-8"))
            return Owner(**{k: d[k] for k in ("command", "pid", "host", "since", "what")},
                         user=str(d.get("user", "?")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self.owner is not None

    def try_acquire(self) -> Owner | None:
        """Take the lock; None on success, else the current owner's record (or an unknown one)."""
        if self.held:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            return self.read_owner() or Owner("unknown (starting up)", -1, "?", "?", self.what)
        previous = self.read_owner()
        if previous is not None:  # the OS lock was free: that owner ended without releasing
            self.took_over = previous
            state = {True: "still exists (pid reused)", False: "has ended",
                     None: "ran on another host"}[previous.alive()]
            log.warning("taking over %s from %s, which %s without releasing it",
                        self.what, previous.describe(), state)
        self.owner = Owner.me(self.what)
        tmp = self.record_path.with_name(self.record_path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self.owner)), encoding="utf-8")
        os.replace(tmp, self.record_path)
        return None

    def release(self) -> None:
        """Give the lock back (the owner record is removed first). Idempotent."""
        if not self.held:
            return
        try:
            self.record_path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s: %s", self.record_path, exc)
        self.owner = None
        self._lock.release(force=True)


class BenchLock:
    """The locks of every instrument of a bench, all or nothing.

    Args:
        resources: the bench's VISA resource strings (duplicates allowed: the WGFMU library opens
            the B1500's own address).
        bench: the bench's name, for messages.
        directory: the lock folder (default :func:`lock_dir`: machine-wide).
    """

    def __init__(self, resources: Iterable[str], bench: str = "",
                 directory: Path | None = None) -> None:
        self.bench = bench
        self.resources = sorted({normalise_resource(r) for r in resources if r})
        folder = Path(directory) if directory is not None else lock_dir()
        self.locks = [OwnerLock(folder / f"{resource_key(r)}.lock",
                                f"instrument {r} (bench {bench})") for r in self.resources]

    def acquire(self) -> BenchLock:
        """Take every instrument's lock or none: :class:`BenchBusyError` names the owner."""
        taken: list[OwnerLock] = []
        for lock, resource in zip(self.locks, self.resources, strict=True):
            owner = lock.try_acquire()
            if owner is not None:
                for t in taken:
                    t.release()
                raise BenchBusyError(
                    f"bench {self.bench} is in use: {resource} is owned by {owner.describe()}; "
                    "wait for that run to end or stop it (Ctrl+C in its terminal, Stop in its "
                    "window), then retry", owner)
            taken.append(lock)
        return self

    @property
    def took_over(self) -> list[Owner]:
        """Owners of stale locks this bench took over."""
        return [lk.took_over for lk in self.locks if lk.took_over is not None]

    def release(self) -> None:
        """Release every lock (idempotent)."""
        for lock in reversed(self.locks):
            lock.release()

    def __enter__(self) -> BenchLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def resource_key(resource: str) -> str:
    """A file name for a normalised resource: readable prefix plus a short hash."""
    readable = "".join(ch if ch.isalnum() else "_" for ch in resource)[:48]
    digest = hashlib.sha256(resource.encode()).hexdigest()[:12]
    return f"{readable}-{digest}"


def wafer_state_lock(state_dir: Path, seed: int) -> OwnerLock:
    """The lock of a simulated wafer's saved state, ``<state_dir>/owner.lock`` (not acquired)."""
    return OwnerLock(Path(state_dir) / "owner.lock", f"simulated wafer seed {seed} ({state_dir})")


def acquire_wafer_state(state_dir: Path, seed: int) -> OwnerLock:
    """Own a simulated wafer's state or raise :class:`WaferStateBusyError` naming the owner."""
    lock = wafer_state_lock(state_dir, seed)
    owner = lock.try_acquire()
    if owner is not None:
        raise WaferStateBusyError(
            f"the simulated wafer (seed {seed}) in {state_dir} is in use by {owner.describe()}; "
            "wait for it to end, use another --data folder or --seed, or serve the wafer once "
            "with `memprobe sim-lab` and connect every client to it", owner)
    return lock


__all__ = [
    "BenchBusyError", "BenchLock", "BusyError", "LOCK_DIR_ENV", "Owner", "OwnerLock",
    "WaferStateBusyError", "acquire_wafer_state", "default_lock_dir", "lock_dir",
    "normalise_resource", "resource_key", "wafer_state_lock",
]
