"""Aborting runs: stop() mid-run, SIGINT to ``memprobe run``, SIGKILL of the process.

Every abort must leave the bench safe (outputs off, chuck separated), the catalog entry
``aborted`` and the partial results file readable by pymeasure.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pymeasure.experiment import Results

from procedures.ber_2t2r import BER2T2RProcedure
from procedures.catalog import Catalog
from procedures.forming import FormingProcedure
from procedures.runner import RunCallbacks, prepare_run

MEMPROBE = Path(sys.executable).parent / "memprobe"


def _start_and_stop_after_first_row(bench, root, proc):
    catalog = Catalog(root)
    first_row = threading.Event()
    rows = []

    def on_row(row):
        rows.append(row)
        first_row.set()

    handle = prepare_run(proc, bench, root, catalog, RunCallbacks(on_row=on_row)).start()
    assert first_row.wait(60), "no row arrived"
    handle.stop()
    outcome = handle.wait(60)
    assert outcome is not None, "the run did not end after stop()"
    return outcome, catalog, rows


def _assert_safe(bench):
    assert all(v == 0 for v in bench.lab.dc_bias.values())
    assert not bench.lab.prober.in_contact


def test_forming_stopped_mid_run(sim_bench, data_root):
    proc = FormingProcedure()
    proc.die = "9,9"
    proc.cells = "0-3,0-31"  # 128 cells: many seconds if it were not stopped
    outcome, catalog, rows = _start_and_stop_after_first_row(sim_bench, data_root, proc)
    assert outcome.status == "aborted" and "stopped" in outcome.error
    assert catalog.get(outcome.run_id).status == "aborted"
    _assert_safe(sim_bench)
    data = Results.load(str(outcome.file)).data
    assert len(data) >= 1
    assert len(data) == len(rows)  # every emitted row reached the file
    assert outcome.summary["cells_tried"] < 128
    # the interrupted staircase was ramped down: the last row of the file is at 0 V
    assert data["Voltage (V)"].iloc[-1] == 0.0


def test_ber_stopped_mid_run(sim_bench, data_root):
    proc = BER2T2RProcedure()
    proc.die = "9,9"
    proc.cells = "0-1,0-7"
    proc.form_v_start = 1.5
    proc.repeats = 500
    outcome, catalog, _ = _start_and_stop_after_first_row(sim_bench, data_root, proc)
    assert outcome.status == "aborted"
    assert catalog.get(outcome.run_id).status == "aborted"
    _assert_safe(sim_bench)
    s = outcome.summary
    assert 1 <= s["repeats_done"] < 500
    data = Results.load(str(outcome.file)).data
    assert len(data) >= 16
    # the partial summary describes exactly the rows in the file
    assert s["n_bits"] == len(data)
    assert s["errors_2t2r"] == data["Error 2T2R"].sum()
    assert catalog.get(outcome.run_id).summary["n_bits"] == len(data)


def _wait_for_data_rows(root, proc, timeout=60.0):
    """Wait until the run's CSV holds a data row (the progress bar already shows 0 % before
    the first measurement, so progress alone does not mean the run is under way)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        for f in root.rglob("forming_*.csv"):
            lines = [ln for ln in f.read_text().splitlines() if ln and not ln.startswith("#")]
            if len(lines) >= 2:  # labels + one row
                return
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    pytest.fail("no data row reached the results file")


def _spawn_forming(root):
    """``memprobe run forming`` on 128 cells in a subprocess, returned once it is measuring."""
    if not MEMPROBE.exists():
        pytest.skip(f"{MEMPROBE} not installed")
    proc = subprocess.Popen(
        [str(MEMPROBE), "run", "forming", "--data", str(root), "--fresh", "--cells", "0-3,0-31"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(root),
    )
    err = bytearray()

    def pump():
        while chunk := os.read(proc.stderr.fileno(), 4096):
            err.extend(chunk)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    _wait_for_data_rows(root, proc)
    return proc, reader, err


def test_cli_run_interrupted_with_sigint(data_root):
    proc, reader, err = _spawn_forming(data_root)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)  # stderr is drained by the reader thread; stdout is one line
    finally:
        if proc.poll() is None:
            proc.kill()
    out = proc.stdout.read()
    reader.join(5)
    text = bytes(err).decode(errors="replace")
    assert proc.returncode not in (0, None), text
    assert "%" in text and "aborted" in text  # progress bar, then the final status
    printed = out.decode().strip().splitlines()[-1]
    assert printed.endswith(".csv") and Path(printed).is_file()
    catalog = Catalog(data_root)
    try:
        (run,) = catalog.runs(procedure="forming")
        assert run.status == "aborted"
        assert Path(run.file) == Path(printed)
    finally:
        catalog.close()
    assert len(Results.load(printed).data) >= 1


def test_killed_run_is_marked_aborted_on_next_open(data_root):
    proc, reader, _ = _spawn_forming(data_root)
    proc.kill()  # SIGKILL: no handler, no cleanup
    proc.wait(30)
    reader.join(5)
    assert proc.returncode == -signal.SIGKILL
    catalog = Catalog(data_root)  # mark_orphans runs on open
    try:
        (run,) = catalog.runs(procedure="forming")
        assert run.status == "aborted"
        assert "killed" in run.message
        assert run.ended_at is not None
    finally:
        catalog.close()
    data = Results.load(run.file).data
    assert len(data) >= 1
    assert set(data.columns) == set(FormingProcedure.DATA_COLUMNS)
