"""Aborting runs: stop() mid-run, SIGINT to ``memprobe run``, SIGKILL of the process.

Every abort must leave the bench safe (outputs off, chuck separated), the catalog entry
``aborted`` and the partial results file readable by pymeasure. The stop point is an event: N
rows emitted or on disk, N drawn from a generator seeded by the test's name (never a time).
"""

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pymeasure.experiment import Results

from procedures.experiments.ber_2t2r import BER2T2RProcedure
from procedures.experiments.forming import FormingProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunCallbacks, prepare_run
from tests._events import GUARD_S, total_rows, wait_for

MEMPROBE = Path(sys.executable).parent / "memprobe"


def _start_and_stop_after_rows(bench, root, proc, n_rows):
    """Start ``proc``, stop it once ``n_rows`` rows were emitted (an event, not a time)."""
    catalog = Catalog(root)
    enough = threading.Event()
    rows = []

    def on_row(row):
        rows.append(row)
        if len(rows) >= n_rows:
            enough.set()

    handle = prepare_run(proc, bench, root, catalog, RunCallbacks(on_row=on_row)).start()
    assert enough.wait(GUARD_S), "the rows never arrived"
    handle.stop()
    outcome = handle.wait(GUARD_S)
    assert outcome is not None, "the run did not end after stop()"
    return outcome, catalog, rows


def _assert_safe(bench):
    assert all(v == 0 for v in bench.lab.dc_bias.values())
    assert not bench.lab.prober.in_contact


def test_forming_stopped_mid_run(sim_bench, data_root):
    proc = FormingProcedure()
    proc.die = "9,9"
    proc.cells = "0-3,0-31"  # 128 cells, ~7,600 rows if it were not stopped
    n_rows = random.Random("forming-stop").randint(1, 600)
    outcome, catalog, rows = _start_and_stop_after_rows(sim_bench, data_root, proc, n_rows)
    assert outcome.status == "aborted" and "stopped" in outcome.error
    assert catalog.get(outcome.run_id).status == "aborted"
    _assert_safe(sim_bench)
    data = Results.load(str(outcome.file)).data
    assert len(data) >= n_rows
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
    n_rows = random.Random("ber-stop").randint(1, 400)  # 16 rows (bits) per repeat
    outcome, catalog, _ = _start_and_stop_after_rows(sim_bench, data_root, proc, n_rows)
    assert outcome.status == "aborted"
    assert catalog.get(outcome.run_id).status == "aborted"
    _assert_safe(sim_bench)
    s = outcome.summary
    assert 1 <= s["repeats_done"] < 500
    data = Results.load(str(outcome.file)).data
    assert len(data) >= max(16, n_rows)
    # the partial summary describes exactly the rows in the file
    assert s["n_bits"] == len(data)
    assert s["errors_2t2r"] == data["Error 2T2R"].sum()
    assert catalog.get(outcome.run_id).summary["n_bits"] == len(data)


def _spawn_forming(root, n_rows):
    """``memprobe run forming`` on 128 cells in a subprocess, returned once ``n_rows`` rows are
    in its results file (the progress bar shows 0 % before the first measurement, so progress
    alone does not mean the run is under way)."""
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
    wait_for(lambda: total_rows(root) >= n_rows, proc, f"{n_rows} rows in the results file")
    return proc, reader, err


def test_cli_run_interrupted_with_sigint(data_root):
    n_rows = random.Random("cli-sigint").randint(1, 600)
    proc, reader, err = _spawn_forming(data_root, n_rows)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(GUARD_S)  # stderr is drained by the reader thread; stdout is one line
    finally:
        if proc.poll() is None:
            proc.kill()
    out = proc.stdout.read()
    reader.join(5)
    text = bytes(err).decode(errors="replace")
    assert proc.returncode == 128 + signal.SIGINT, text
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
    assert len(Results.load(printed).data) >= n_rows


def test_killed_run_is_marked_aborted_on_next_open(data_root):
    n_rows = random.Random("cli-sigkill").randint(1, 600)
    proc, reader, _ = _spawn_forming(data_root, n_rows)
    proc.kill()  # SIGKILL: no handler, no cleanup
    proc.wait(GUARD_S)
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
    assert len(data) >= n_rows
    assert set(data.columns) == set(FormingProcedure.DATA_COLUMNS)
