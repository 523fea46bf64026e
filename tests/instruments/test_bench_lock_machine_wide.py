"""The bench lock is machine-wide: two users of one bench computer exclude each other (two
processes with different user names, homes, runtime and temp folders), the refusal names the
holder (pid, user, since); a bench file's ``lock_dir`` moves the folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from instruments.bench import Bench
from instruments.ownership import LOCK_DIR_ENV, BenchBusyError, default_lock_dir, resource_key
from tests._paths import REPO

_HOLDER = textwrap.dedent("""
    import sys
    from instruments.ownership import BenchLock, lock_dir
    from instruments.bench import load_bench_config
    if sys.argv[1] == "--bench-file":
        config = load_bench_config(sys.argv[2])
        lock = BenchLock(config.resources.values(), bench=config.name,
                         directory=lock_dir(config.lock_dir or None))
    else:
        lock = BenchLock(sys.argv[1:], bench="shared-station")
    lock.acquire()
    print("held", flush=True)
    sys.stdin.read()
""")

_CONTENDER = textwrap.dedent("""
    import sys
    from instruments.ownership import BenchBusyError, BenchLock
    try:
        lock = BenchLock(sys.argv[1:], bench="shared-station").acquire()
    except BenchBusyError as exc:
        print(exc, flush=True)
        sys.exit(3)
    lock.release()
    print("acquired", flush=True)
""")


def _as_user(tmp_path: Path, user: str) -> dict[str, str]:
    """The environment of another login: its own name, home, runtime and temp folders, and no
    lock folder of the tests."""
    home = tmp_path / user
    for sub in ("run", "tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != LOCK_DIR_ENV}
    env.update(USER=user, LOGNAME=user, USERNAME=user, HOME=str(home),
               XDG_RUNTIME_DIR=str(home / "run"), TMPDIR=str(home / "tmp"))
    return env


def _hold(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, *args], cwd=REPO, text=True,
                              env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    line = holder.stdout.readline().strip()
    if line != "held":
        holder.kill()
        raise AssertionError(holder.stderr.read())
    return holder


def _end(holder: subprocess.Popen) -> None:
    holder.stdin.close()  # the holder reads stdin to its end, then exits (releasing)
    assert holder.wait(timeout=60) == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX user environment")
def test_two_users_of_one_computer_exclude_each_other(tmp_path):
    resources = [f"TCPIP::station-{uuid.uuid4().hex[:8]}::1412::SOCKET", "GPIB0::17::INSTR"]
    holder = _hold(resources, _as_user(tmp_path, "alice"))
    try:
        refused = subprocess.run([sys.executable, "-c", _CONTENDER, *resources], cwd=REPO,
                                 env=_as_user(tmp_path, "bob"), text=True,
                                 capture_output=True, timeout=120)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        message = refused.stdout.strip()
        assert "bench shared-station is in use" in message
        assert f"pid {holder.pid} of user alice" in message and " since " in message
    finally:
        _end(holder)
    # released: bob gets it now
    done = subprocess.run([sys.executable, "-c", _CONTENDER, *resources], cwd=REPO,
                          env=_as_user(tmp_path, "bob"), text=True, capture_output=True,
                          timeout=120)
    assert done.stdout.strip() == "acquired", done.stderr
    folder = default_lock_dir()
    assert os.stat(folder).st_mode & 0o777 == 0o777  # any user may lock there
    from instruments.ownership import normalise_resource

    for r in resources:  # the lock files of this test (released: no owner record left)
        lock = folder / f"{resource_key(normalise_resource(r))}.lock"
        assert not lock.with_name(lock.name + ".owner.json").exists()
        lock.unlink(missing_ok=True)


def test_a_bench_file_lock_dir_is_where_the_bench_is_locked(tmp_path):
    bench_file = tmp_path / "station.toml"
    host = f"station-{uuid.uuid4().hex[:8]}"
    bench_file.write_text(textwrap.dedent(f"""
        name = "station-7"
        kind = "lab"
        lock_dir = "locks"
        [instruments]
        b1500 = "TCPIP::{host}::5025::SOCKET"
        wgfmu = "TCPIP::{host}::5026::SOCKET"
        wgfmu_library = "simulated"
        visa_library = "@py"
        prober = "TCPIP::{host}::1412::SOCKET"
        chip = "TCPIP::{host}::5027::SOCKET"
        [limits]
        max_voltage = {{ BL = 4.5, SL = 4.0, WL = 4.0, SUB = 1.0 }}
        max_compliance = 1e-3
        max_power = 0.01
        max_chuck_temperature = 250.0
        min_chuck_temperature = 20.0
    """))
    holder = _hold(["--bench-file", str(bench_file)], _as_user(tmp_path, "carol"))
    try:
        assert list((tmp_path / "locks").glob("*.lock.owner.json"))  # beside the bench file
        with pytest.raises(BenchBusyError) as err:  # before any connection is tried
            Bench.open(bench_file)
        message = str(err.value)
        assert "bench station-7 is in use" in message
        assert f"pid {holder.pid} of user carol" in message and " since " in message
    finally:
        _end(holder)
