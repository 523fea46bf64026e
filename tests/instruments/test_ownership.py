"""One owner of a bench at a time: locks by resource string, stale takeover, CLI vs CLI and GUI
vs CLI on a separately started sim-lab, one owner of a simulated wafer's saved state.

Subprocesses report through their output or files; the tests wait for those events (a line, a
lock record appearing, an exit), never for a time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from instruments.ownership import (
    BenchBusyError,
    BenchLock,
    WaferStateBusyError,
    lock_dir,
    normalise_resource,
)
from tests._paths import REPO
from tests._sim_lab import end_process, start_sim_lab

ROOT = REPO


def _memprobe(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gui", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _wait_for(condition, what: str, timeout: float = 120.0):
    """Poll ``condition`` until it returns a true value (an event), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _owner_records(pid: int) -> list[dict]:
    out = []
    for f in lock_dir().glob("*.owner.json"):
        try:
            d = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if d.get("pid") == pid:
            out.append(d)
    return out


# -- the lock itself ----------------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [
    ("TCPIP::127.0.0.1::40123::SOCKET", "tcpip0::127.0.0.1::40123::socket"),
    ("TCPIP::localhost::1412::SOCKET", "TCPIP0::127.0.0.1::1412::SOCKET"),
    ("TCPIP::Prober-PC::1412::SOCKET", "TCPIP0::prober-pc::1412::SOCKET"),
    ("GPIB::17", "GPIB0::17::INSTR"),
    (" GPIB0::17::INSTR ", "gpib0::17::instr"),
    ("COM3", "ASRL3::INSTR"),
])
def test_one_instrument_however_its_address_is_spelt(a, b):
    assert normalise_resource(a) == normalise_resource(b)


def test_different_instruments_stay_different():
    names = ["GPIB0::17::INSTR", "GPIB0::18::INSTR", "GPIB1::17::INSTR",
             "TCPIP0::127.0.0.1::1412::SOCKET", "TCPIP0::127.0.0.1::1413::SOCKET",
             "ASRL/dev/ttyUSB0::INSTR", "ASRL/dev/ttyUSB1::INSTR"]
    assert len({normalise_resource(n) for n in names}) == len(names)


def test_a_second_owner_is_refused_with_the_owner_named_and_all_or_nothing(tmp_path):
    first = BenchLock(["GPIB0::17::INSTR", "GPIB0::17::INSTR", "TCPIP::prober-pc::1412::SOCKET"],
                      bench="station-1", directory=tmp_path).acquire()
    try:
        # another bench file sharing only the prober (spelt differently) is refused...
        other = BenchLock(["GPIB0::5::INSTR", "tcpip0::Prober-PC::1412::socket"],
                          bench="station-2", directory=tmp_path)
        with pytest.raises(BenchBusyError) as err:
            other.acquire()
        text = str(err.value)
        assert "\n" not in text
        assert f"pid {os.getpid()}" in text and "since" in text and "retry" in text
        assert "TCPIP0::prober-pc::1412::SOCKET" in text
        assert err.value.owner is not None and err.value.owner.pid == os.getpid()
        # ...and keeps nothing: its own B1500 is free for someone else
        with BenchLock(["GPIB0::5::INSTR"], directory=tmp_path):
            pass
    finally:
        first.release()
    with BenchLock(["tcpip0::Prober-PC::1412::socket"], directory=tmp_path) as again:
        assert again.took_over == []  # released cleanly: nothing to take over


_HOLDER = textwrap.dedent("""
    import sys
    from instruments.ownership import BenchLock
    lock = BenchLock(sys.argv[1:], bench="holder").acquire()
    print("held", flush=True)
    sys.stdin.read()
""")


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path):
    res = ["GPIB0::9::INSTR", "TCPIP::127.0.0.1::1999::SOCKET"]
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, *res], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BenchBusyError) as err:
            BenchLock(res, bench="me").acquire()
        assert f"pid {holder.pid}" in str(err.value)
    finally:
        holder.kill()  # SIGKILL: no chance to release anything
        holder.wait()
    lock = BenchLock(res, bench="me").acquire()
    try:
        assert [o.pid for o in lock.took_over] == [holder.pid, holder.pid]
        assert all(o.alive() is False for o in lock.took_over)
        assert _owner_records(os.getpid())  # our own record replaced the dead one's
        assert not _owner_records(holder.pid)
    finally:
        lock.release()


def test_a_stale_record_without_a_lock_is_taken_over(tmp_path):
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    dead_pid = int(ended.stdout)
    lock = BenchLock(["GPIB0::3::INSTR"], directory=tmp_path)
    record = lock.locks[0].record_path
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"command": "memprobe run forming", "pid": dead_pid,
                                  "host": os.uname().nodename if hasattr(os, "uname") else "",
                                  "since": "2026-01-01T00:00:00", "what": "x"}))
    lock.acquire()
    try:
        assert [o.pid for o in lock.took_over] == [dead_pid]
        assert json.loads(record.read_text())["pid"] == os.getpid()
    finally:
        lock.release()
    assert not record.exists()


# -- a bench served by a separate sim-lab: CLI vs CLI, GUI vs CLI -------------------------------

@pytest.fixture(scope="module")
def sim_lab(tmp_path_factory):
    """A ``memprobe sim-lab`` process and the lab bench file it wrote, pointing at it."""
    folder = tmp_path_factory.mktemp("sim-lab")
    lab = start_sim_lab(folder / "lab-data", 3, "--fresh",
                        bench_file=folder / "sim-lab-bench.toml")
    yield lab.bench_file, lab.resources
    # stopped by a signal (shutdown)
    assert end_process(lab.proc, signal.SIGINT) == 128 + signal.SIGINT


def _prober_die(res) -> tuple[tuple[int, int], str]:
    """(die, preset height) as the sim-lab's prober reports them, asked with the stock driver."""
    from pymeasure.instruments.formfactor import Velox

    velox = Velox(res["prober"], visa_library="@py", read_termination="\n", timeout=5000)
    try:
        pos = velox.ask("ReadMapPosition2").split()
        status = velox.ask("ReadChuckStatus").split()
        return (int(pos[0]), int(pos[1])), status[6]  # the stock driver strips the "0:"
    finally:
        velox.adapter.close()


def test_a_second_run_on_a_bench_is_refused_before_it_touches_anything(sim_lab, tmp_path, qapp,
                                                                      capsys):
    from gui.app import run_app
    from procedures.framework.catalog import Catalog

    bench, res = sim_lab
    data = tmp_path / "data"
    first = _memprobe("run", "iv-cycling", "--bench", str(bench), "--die", "9,9", "--cell",
                      "0,0", "--set", "cycles=100000", "--set", "form_first=true", "--data",
                      str(data), "--quiet")
    try:
        wanted = {normalise_resource(res[k]) for k in ("b1500", "wgfmu", "prober", "chip")}

        def owning():  # every instrument's record written (they are taken one by one)
            if first.poll() is not None:
                raise AssertionError(f"the first run ended: {first.communicate()[1][-2000:]}")
            return wanted <= {r["what"].split()[1] for r in _owner_records(first.pid)}

        _wait_for(owning, "the first run to own the bench")
        # the first run is measuring on die (9,9); wait until its entry exists
        _wait_for(lambda: Catalog(data).runs(), "the first run's catalog entry")
        second = _memprobe("run", "conductance-map", "--bench", str(bench), "--die", "10,9",
                           "--data", str(data), "--quiet")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 2, err
        line = [e for e in err.splitlines() if "in use" in e]
        assert line and f"pid {first.pid}" in line[0] and "run iv-cycling" in line[0]
        assert "since" in line[0] and "retry" in line[0]
        # the GUI is refused the same way (no dialog offscreen), before touching anything
        assert run_app(bench=str(bench), data_dir=tmp_path / "gui-data") == 2
        assert f"pid {first.pid}" in capsys.readouterr().err
        assert _prober_die(res)[0] == (9, 9)  # nobody stepped the prober away
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode in (0, 128 + signal.SIGINT)  # stopped by SIGINT (or finished)
    runs = Catalog(data).runs()
    assert len(runs) == 1  # the refused run left no entry, no file
    (run,) = runs
    assert run.procedure == "iv-cycling" and run.die == (9, 9) and "c09r09" in run.file
    assert run.status in ("aborted", "finished")
    die, height = _prober_die(res)
    assert die == (9, 9) and height != "C"  # the first run's safe end separated the chuck
    assert not _owner_records(first.pid)  # released at the end


def test_a_gui_holding_a_bench_refuses_a_cli(sim_lab, tmp_path):
    from instruments.bench import Bench

    bench_file, res = sim_lab
    with Bench.open(bench_file) as bench:  # what the GUI does when it starts on this bench
        assert bench.lock is not None
        refused = _memprobe("run", "conductance-map", "--bench", str(bench_file), "--die",
                            "10,9", "--data", str(tmp_path / "data"), "--quiet")
        _, err = refused.communicate(timeout=120)
        assert refused.returncode == 2
        assert f"pid {os.getpid()}" in err
        # within this process too: a second Bench on the same instruments is refused
        with pytest.raises(BenchBusyError):
            Bench.open(bench_file)
    assert not (tmp_path / "data" / "LOT0").exists()
    with Bench.open(bench_file):  # released on close
        pass


# -- the in-process simulated bench: one owner of a seed's wafer state ---------------------------

def _formed(data: Path, seed: int, die: tuple[int, int], cells: list[tuple[int, int]]) -> list:
    """Whether each 1T1R cell of ``die`` is formed in the saved state (read in a new lab)."""
    from instruments.sim.lab import LabConfig, SimLab

    lab = SimLab(LabConfig(seed=seed, data_dir=data))
    try:
        chip = lab.wafer.chip(*die)
        return [bool(chip.pop.formed[chip.index("1T1R", r, c)]) for r, c in cells]
    finally:
        lab.stop()


def test_two_processes_on_one_data_folder_never_lose_device_history(data_root):
    from instruments.bench import Bench
    from procedures.framework.catalog import Catalog
    from procedures.framework.registry import procedure_class
    from procedures.framework.runner import prepare_run

    with Bench.open("simulated", data_dir=data_root, fresh=True) as bench:
        proc = procedure_class("forming")()
        proc.die, proc.cells = "9,9", "0,0-3"
        catalog = Catalog(data_root)
        assert prepare_run(proc, bench, data_root, catalog).run().status == "finished"
        catalog.close()
        # a second process on the same folder and seed is refused, naming this one
        for args in (["run", "forming", "--die", "9,9", "--cell", "1,0-3", "--quiet"],
                     ["sim-lab", "--seed", "1"]):
            p = _memprobe(*args, "--data", str(data_root))
            _, err = p.communicate(timeout=120)
            assert p.returncode == 2, err
            assert "simulated wafer (seed 1)" in err and f"pid {os.getpid()}" in err
        with pytest.raises(WaferStateBusyError):
            Bench.open("simulated", data_dir=data_root)
    # this process's formed cells were saved; nobody overwrote them
    assert _formed(data_root, 1, (9, 9), [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]) == [
        True, True, True, True, False]
    # another seed is another wafer: no conflict
    with Bench.open("simulated", data_dir=data_root, seed=2):
        pass


_CRASHER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from instruments.bench import Bench
    from procedures.framework.catalog import Catalog
    from procedures.framework.registry import procedure_class
    from procedures.framework.runner import prepare_run
    root = Path(sys.argv[1])
    bench = Bench.open("simulated", data_dir=root, fresh=True)
    proc = procedure_class("forming")()
    proc.die, proc.cells = "9,9", "2,0-1"
    print(prepare_run(proc, bench, root, Catalog(root)).run().status, flush=True)
    sys.stdin.read()  # killed here, never closed
""")


def _saved_formed(state: Path, cells: list[tuple[int, int]]) -> list[bool] | None:
    """Formed flags of 1T1R cells in a saved die file, read directly (None: no file yet)."""
    import numpy as np

    from instruments.sim.chip import Chip

    try:
        with np.load(state, allow_pickle=False) as z:
            formed = z["formed"]
    except (OSError, ValueError, KeyError):
        return None
    return [bool(formed[r * Chip.COLS_1T1R + c]) for r, c in cells]


def test_a_crash_loses_at_most_the_autosave_period(data_root):
    state = data_root / "simlab" / "seed-1" / "die_9_9.npz"
    crasher = subprocess.Popen([sys.executable, "-c", _CRASHER, str(data_root)], cwd=ROOT,
                               text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert crasher.stdout.readline().strip() == "finished"
        # not at exit (it never exits): the lab's periodic save while it still runs
        _wait_for(lambda: _saved_formed(state, [(2, 0), (2, 1)]) == [True, True],
                  "the autosave of die (9,9)")
    finally:
        crasher.kill()
        crasher.wait()
    assert _formed(data_root, 1, (9, 9), [(2, 0), (2, 1), (2, 2)]) == [True, True, False]


def test_a_wafer_run_on_an_owned_wafer_is_refused_before_anything_moves(data_root, capsys):
    from gui.cli import main
    from instruments.bench import Bench

    with Bench.open("simulated", data_dir=data_root, fresh=True) as bench:
        before = bench.prober.map_position()
        assert main(["wafer", "demo-wafer", "--data", str(data_root), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "simulated wafer (seed 1)" in err and f"pid {os.getpid()}" in err
        after = bench.prober.map_position()
        assert (after.col, after.row) == (before.col, before.row)
    assert not list(data_root.glob("**/cursor.json"))  # no wafer run was created
