"""Fault injection: stop signals at event-chosen points of every entry point.

A separately started ``memprobe sim-lab`` (one per module) is the bench; ``memprobe run``,
``memprobe wafer`` and ``memprobe gui`` reach it through the bench file it writes
(``--bench-file``), as they would reach a real station. Each test waits for an EVENT (N data rows
in the results files, N drawn from a generator seeded by the test's name), sends SIGINT, SIGTERM
or SIGHUP (some followed at once by a second signal), then checks: exit code 128 + signal, the
catalog entry ``aborted`` (nothing left ``running``), the partial results file readable by
pymeasure, and, read back over the wire by a plain VISA client, every SMU output off
(``*LRN? 0`` -> ``CL``), the chuck at separation height (``ReadChuckStatus``), the WGFMU idle,
and after a WGFMU run its RSUs back in SMU pass-through (an SMU bias reaches the cell again).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pymeasure.experiment import Results

from tests._events import GUARD_S, total_rows, wait_for
from tests._paths import REPO
from tests._sim_lab import StandaloneLab, end_process, start_sim_lab
from tests._visa import visa_query

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")

ROOT = REPO
SIGS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}
if hasattr(signal, "SIGHUP"):
    SIGS["SIGHUP"] = signal.SIGHUP


Lab = StandaloneLab


def _start_lab(tmp: Path, seed: int, *extra: str) -> Lab:
    return start_sim_lab(tmp / "lab-data", seed, *extra, bench_file=tmp / "sim-lab-bench.toml")


def _stop_lab(lab: Lab, signum: int = signal.SIGTERM) -> int:
    return end_process(lab.proc, signum)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One standalone simulated lab for the module (each test works on dies of its own)."""
    lab = _start_lab(tmp_path_factory.mktemp("sim-lab"), 7, "--fresh")
    try:
        yield lab
    finally:
        assert _stop_lab(lab) == 128 + signal.SIGTERM


def assert_bench_safe(lab: Lab) -> None:
    """Read the instruments back over the wire: SMUs off, chuck separated, WGFMU idle."""
    res = lab.resources
    assert visa_query(res["b1500"], "*LRN? 0", "\r\n") == "CL"  # no SMU output on
    fields = visa_query(res["prober"], "ReadChuckStatus", "\n").split()
    assert fields[0] == "0:" and fields[7] == "S", fields  # preset height: separation
    # the twin keeps WGFMU channel state per library session: a new session must find nothing
    # running (the channels of the stopped process were disconnected by its safe end)
    import pyvisa

    rm = pyvisa.ResourceManager("@py")
    w = rm.open_resource(res["wgfmu"], read_termination="\n", write_termination="\n",
                         timeout=10_000)
    try:
        assert w.query("openSession check").strip() == "0"
        status = w.query("getStatus").split()
        assert status[0] == "0" and int(status[1]) not in (10002, 10005)  # not RUNNING
        w.query("closeSession")
    finally:
        w.close()


def outputs_off(b1500) -> None:
    """Switch every SMU output off (``CL``) and return only once the B1500 has executed it.

    ``*OPC?`` on the same connection is answered after ``CL`` ran. A ``CL`` only written is not
    a fact yet: the twin serves each connection in its own thread, so a check over a new
    connection (``*LRN? 0``) may be served first and still find the outputs on."""
    b1500.write("CL")
    assert b1500.query("*OPC?").strip() == "1"


def assert_smu_paths_closed(lab: Lab, die: str) -> None:
    """The WGFMU channels' RSUs are back in SMU pass-through (the WGFMU outputs disconnected
    from the probes): read over the wire, an SMU bias reaches the cell (a formed or unformed
    1T1R cell conducts > 0.1 nA at 0.5 V, an RSU left in fast I-V / PG mode is an open circuit).
    Contacts the die for the reading and leaves the bench safe again."""
    import pyvisa

    res = lab.resources
    col, row = die.split(",")
    assert visa_query(res["prober"], f"StepNextDie {col} {row} 0", "\n").startswith("0:")
    assert visa_query(res["prober"], "MoveChuckContact", "\n").startswith("0:")
    chip = pyvisa.ResourceManager("@py").open_resource(
        res["chip"], read_termination="\n", write_termination="\n", timeout=10_000)
    b1500 = pyvisa.ResourceManager("@py").open_resource(
        res["b1500"], read_termination="\r\n", write_termination="\n", timeout=10_000)
    try:
        chip.write("ARR:SEL 1T1R")
        chip.write("CELL:SEL 0,0")
        for cmd in ("CN 1,2,3", "DV 3,0,1.5,1e-4", "DV 2,0,0,1e-4", "DV 1,0,0.5,1e-4"):
            b1500.write(cmd)
        reading = b1500.query("TI 1")
        current = abs(float(reading.split(",")[0][3:]))
    finally:
        try:
            outputs_off(b1500)  # executed before the read-back below, on its own connection
        finally:
            b1500.close()
            chip.close()
        visa_query(res["prober"], "MoveChuckSeparation", "\n")
    assert current > 1e-10, f"the SMU reaches an open circuit on BL/SL: {reading}"
    assert_bench_safe(lab)


def test_outputs_off_returns_only_once_the_b1500_has_switched_them_off(sim_bench):
    """The read-back helpers' own switch-off is a fact when it returns (the cause of a rare
    ``*LRN? 0 -> CN1,2,3`` after a pulse-train run: the check's own ``CL``, only written, was
    served after the ``*LRN? 0`` of a new connection). The twin holds that ``CL`` until the
    helper either returned or moved on to its next exchange, and records which came first."""
    import pyvisa

    sim = sim_bench.lab.servers["b1500"].simulator
    resource = sim_bench.lab.resources()["b1500"]
    moved_on, done = threading.Event(), threading.Event()
    returned_first: list[bool] = []
    original = sim.handle

    def held(line: str):  # connections opened from now on are served through this
        if line.strip() == "CL":
            assert moved_on.wait(GUARD_S)
            returned_first.append(done.is_set())
        return original(line)

    class Watched:  # the helper's instrument: tells the twin when the helper moves on
        def __init__(self, inst) -> None:
            self.inst = inst

        def write(self, cmd: str) -> None:
            self.inst.write(cmd)

        def query(self, cmd: str) -> str:
            moved_on.set()
            return self.inst.query(cmd)

    sim.handle = held
    b1500 = pyvisa.ResourceManager("@py").open_resource(
        resource, read_termination="\r\n", write_termination="\n", timeout=10_000)
    try:
        b1500.write("CN 1,2,3")
        assert b1500.query("*OPC?").strip() == "1"  # executed before the other connection asks
        assert visa_query(resource, "*LRN? 0", "\r\n") == "CN1,2,3"

        def switch_off() -> None:
            try:
                outputs_off(Watched(b1500))
            finally:
                done.set()
                moved_on.set()

        worker = threading.Thread(target=switch_off)
        worker.start()
        worker.join(GUARD_S)
        assert returned_first == [False]  # "CL" ran while the helper was still waiting
        assert visa_query(resource, "*LRN? 0", "\r\n") == "CL"
    finally:
        del sim.handle
        b1500.close()


def _spawn(args: list[str], tmp: Path, env: dict | None = None) -> subprocess.Popen:
    out = open(tmp / "cmd.out", "wb")  # noqa: SIM115
    err = open(tmp / "cmd.err", "wb")  # noqa: SIM115
    try:
        return subprocess.Popen(args, stdout=out, stderr=err, cwd=ROOT,
                                env={**os.environ, **(env or {})})
    finally:
        out.close()
        err.close()


def _signal_and_wait(proc: subprocess.Popen, tmp: Path, signum: int,
                     second: int | None = None) -> str:
    """Send ``signum`` (with ``second``: both at once, so the second certainly lands while the
    first is being handled); wait for the end; return the stderr."""
    if second is None:
        proc.send_signal(signum)
    else:  # pending together while the process is stopped: delivered together on SIGCONT
        proc.send_signal(signal.SIGSTOP)
        proc.send_signal(signum)
        proc.send_signal(second)
        proc.send_signal(signal.SIGCONT)
    end_process(proc, None)
    return (tmp / "cmd.err").read_text(errors="replace")


def _check_exit(proc: subprocess.Popen, err: str, signum: int, second: int | None) -> None:
    """Exit status 128 + the signal handled first; a second signal was only reported."""
    # two pending signals are handled in signal-number order, so either may come first
    expected = {128 + signum} if second is None else {128 + signum, 128 + second}
    assert proc.returncode in expected, err[-3000:]
    assert "received: stopping" in err
    if second is not None:
        assert "received while stopping" in err


def _catalog_runs(root: Path) -> list:
    from procedures.framework.catalog import Catalog

    catalog = Catalog(root)
    try:
        return catalog.runs()
    finally:
        catalog.close()


def _check_aborted_runs(root: Path, min_rows: int) -> list:
    runs = _catalog_runs(root)
    assert runs and not [r for r in runs if r.status == "running"]
    aborted = [r for r in runs if r.status == "aborted"]
    assert len(aborted) == 1, [(r.id, r.status, r.message) for r in runs]
    data = Results.load(aborted[0].file).data  # the partial file, readable by pymeasure
    assert len(data) >= 1
    assert sum(len(Results.load(r.file).data) for r in runs) >= min_rows
    return aborted


# -- memprobe run ---------------------------------------------------------------------------------
RUN_CASES = [  # (procedure, die, extra settings, signal, second signal or None)
    ("forming", "10,10", ["--cells", "all"], "SIGINT", None),
    ("forming", "11,10", ["--cells", "all"], "SIGTERM", "SIGINT"),
    ("forming", "12,10", ["--cells", "all"], "SIGHUP", None),
    ("pulse-train", "13,10", ["--cells", "0-3,0-31", "--set", "count=100000",
                              "--set", "form_first=true"], "SIGTERM", None),
]


@pytest.mark.parametrize("procedure,die,extra,signame,second", RUN_CASES,
                         ids=[f"{c[0]}-{c[3]}" + (f"-{c[4]}" if c[4] else "") for c in RUN_CASES])
def test_run_stopped_by_signal_leaves_the_bench_safe(lab, tmp_path, procedure, die, extra,
                                                      signame, second):
    signum, second_num = SIGS[signame], SIGS.get(second)
    root = tmp_path / "data"
    n_rows = random.Random(f"run-{procedure}-{signame}").randint(5, 400)
    proc = _spawn([sys.executable, "-m", "gui", "run", procedure, "--bench", str(lab.bench_file),
                   "--data", str(root), "--die", die, "--quiet", *extra], tmp_path)
    wait_for(lambda: total_rows(root) >= n_rows, proc, f"{n_rows} rows")
    err = _signal_and_wait(proc, tmp_path, signum, second_num)
    _check_exit(proc, err, signum, second_num)
    (run,) = _check_aborted_runs(root, n_rows)
    first = signal.Signals(proc.returncode - 128).name
    assert run.procedure == procedure and run.message == f"stopped by {first}"
    printed = (tmp_path / "cmd.out").read_text().strip().splitlines()[-1]
    assert Path(printed).resolve() == Path(run.file).resolve()
    assert_bench_safe(lab)
    if procedure == "pulse-train":  # the WGFMU was in use: its RSUs must be back on the SMUs
        assert_smu_paths_closed(lab, die)


# -- memprobe wafer -------------------------------------------------------------------------------
WAFER_RECIPE = """\
name = "sig-{tag}"

[wafer]
lot = "SIG"
wafer_id = "{tag}"

[route]
dies = {dies}

[[steps]]
name = "form"
procedure = "forming"
cells = "0-1,0-31"

[[bins]]
code = 1
name = "good"
pass = true
limits = {{ "form.cells_formed" = [1, 64] }}
"""
WAFER_CASES = [  # (signal, dies of the route, second signal or None)
    ("SIGINT", [[8, 12], [9, 12], [10, 12]], None),
    ("SIGTERM", [[8, 13], [9, 13], [10, 13]], None),
    ("SIGHUP", [[8, 14], [9, 14], [10, 14]], "SIGTERM"),
]


@pytest.mark.parametrize("signame,dies,second", WAFER_CASES,
                         ids=[c[0] + (f"-{c[2]}" if c[2] else "") for c in WAFER_CASES])
def test_wafer_stopped_by_signal_leaves_the_bench_safe(lab, tmp_path, signame, dies, second):
    signum, second_num = SIGS[signame], SIGS.get(second)
    root = tmp_path / "data"
    tag = f"W{signame}"
    recipe = tmp_path / "sig.toml"
    recipe.write_text(WAFER_RECIPE.format(tag=tag, dies=json.dumps(dies)))
    # a point anywhere in the first two dies (~3,800 rows each): mid-die or between dies
    n_rows = random.Random(f"wafer-{signame}").randint(10, 6000)
    proc = _spawn([sys.executable, "-m", "gui", "wafer", str(recipe), "--bench",
                   str(lab.bench_file), "--data", str(root), "--quiet", "--no-maps"], tmp_path)
    wait_for(lambda: total_rows(root) >= n_rows, proc, f"{n_rows} rows")
    err = _signal_and_wait(proc, tmp_path, signum, second_num)
    _check_exit(proc, err, signum, second_num)
    runs = _catalog_runs(root)
    assert runs and not [r for r in runs if r.status == "running"]
    assert [r.status for r in runs].count("aborted") <= 1  # the one in flight, if any
    for r in runs:
        Results.load(r.file)
    assert sum(len(Results.load(r.file).data) for r in runs) >= n_rows
    (cursor_file,) = root.glob(f"SIG/{tag}/wafer-runs/*/cursor.json")
    cursor = json.loads(cursor_file.read_text())
    assert cursor["state"] == "aborted"
    assert cursor["pending"] is None
    assert_bench_safe(lab)


# -- memprobe gui ---------------------------------------------------------------------------------
GUI_SCRIPT = """\
import sys
import gui.app as app
from procedures.framework.registry import PROCEDURES

DIE = sys.argv[1]

def runs(packaged=False):  # the scripted session, with one long run instead of the short demo ones
    p = PROCEDURES["forming"]()
    p.die = DIE
    p.cells = "all"
    return [p]

app.demo_runs = runs
from gui.cli import main
sys.argv = ["memprobe", *sys.argv[2:]]
raise SystemExit(main())  # as the console script calls it
"""


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_gui_stopped_by_signal_makes_the_bench_safe_before_quitting(lab, tmp_path, signame):
    signum = SIGS[signame]
    root = tmp_path / "data"
    die = {"SIGTERM": "10,11", "SIGHUP": "11,11"}[signame]
    n_rows = random.Random(f"gui-{signame}").randint(5, 400)
    proc = _spawn([sys.executable, "-c", GUI_SCRIPT, die, "gui", "--bench", str(lab.bench_file),
                   "--data", str(root), "--screenshot", str(tmp_path / "never.png")], tmp_path,
                  env={"QT_QPA_PLATFORM": "offscreen",
                       "XDG_CONFIG_HOME": str(tmp_path / "config")})
    wait_for(lambda: total_rows(root) >= n_rows, proc, f"{n_rows} rows")
    err = _signal_and_wait(proc, tmp_path, signum)
    _check_exit(proc, err, signum, None)
    assert not (tmp_path / "never.png").exists()  # it quit instead of finishing the session
    (run,) = _check_aborted_runs(root, n_rows)
    assert run.procedure == "forming" and run.message == f"stopped by {signame}"
    assert_bench_safe(lab)


# -- memprobe sim-lab -----------------------------------------------------------------------------
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_sim_lab_stops_its_servers_and_saves_the_wafer_on_signal(tmp_path, signame):
    signum = SIGS[signame]
    own = _start_lab(tmp_path, 11, "--fresh")
    try:
        res = own.resources
        # touch die (9,9): contact, bias one cell, read it (changes its device state)
        assert visa_query(res["prober"], "StepNextDie 9 9 0", "\n").startswith("0:")
        assert visa_query(res["prober"], "MoveChuckContact", "\n").startswith("0:")
        import pyvisa

        b1500 = pyvisa.ResourceManager("@py").open_resource(
            res["b1500"], read_termination="\r\n", write_termination="\n", timeout=10_000)
        try:
            for cmd in ("CN 1,2,3", "DV 3,0,2.5,1e-4", "DV 1,0,0.1,1e-3", "DV 2,0,0,1e-3"):
                b1500.write(cmd)
            assert b1500.query("TI 1")  # a spot current: the cell was biased
            b1500.write("CL")
            assert int(b1500.query("ERRX?").split(",")[0]) == 0  # no error
        finally:
            b1500.close()
        state_dir = own.data / "simlab" / "seed-11"
        for old in state_dir.glob("die_*.npz"):  # whatever an autosave wrote: gone
            old.unlink()
    finally:
        rc = _stop_lab(own, signum)
    assert rc == 128 + signum, (tmp_path / "lab.err").read_text()[-2000:]
    assert (state_dir / "die_9_9.npz").is_file()  # saved on the way out (the process ended)
