"""The native HDF5 store beside the CSV: waveforms (pulse-train, by default) and per-cell
histories (pulse-train, program-verify, endurance, retention) written as measured, chunked and
compressed, read through procedures.analysis, and still readable after a SIGKILL mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from pymeasure.experiment import Results

from procedures.analysis import cell_history, run_data, run_history, run_waveforms
from procedures.experiments.endurance import EnduranceProcedure
from procedures.experiments.program_verify import ProgramVerifyProcedure
from procedures.experiments.pulse_train import PulseTrainProcedure
from procedures.experiments.retention import RetentionProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run
from procedures.framework.waveform_store import (
    HISTORY,
    Column,
    RunStore,
    Table,
    history_table,
    read_history,
    read_table,
    read_waveforms,
    waveform_path,
)
from tests._paths import REPO
from tests._procedures import with_params

ROOT = REPO
SET = {"kind": "set", "amplitude": 1.5, "v_wl": 1.2}


def test_pulse_train_waveforms_go_to_hdf5_beside_the_csv(sim_bench, data_root):
    proc = with_params(PulseTrainProcedure(), die="9,9", cells="0,0-1", form_first=True, count=3,
                       record_waveform=True, waveform_points=10, waveform_file="hdf5", **SET)
    cat = Catalog(data_root)
    try:
        out = prepare_run(proc, sim_bench, data_root, cat).run()
        assert out.status == "finished", out.error
        h5 = waveform_path(out.file)
        assert out.summary["waveform_file"] == h5.name and out.summary["waveforms"] == 6
        assert cat.get(out.run_id).summary["waveform_file"] == h5.name  # referenced
        data = Results.load(str(out.file)).data  # the CSV: stock pymeasure, read rows only
        assert (data["Point"] == -1).all() and len(data) == 2 * 4
        w = run_waveforms(cat, out.run_id)
        assert w["v"].shape == w["i"].shape == w["t"].shape == (6, 10)
        assert list(w["pulse"]) == [1, 2, 3, 1, 2, 3] and set(w["kind"]) == {1}
        assert list(w["cell_col"]) == [0, 0, 0, 1, 1, 1]
        assert np.nanmax(w["v"]) <= 1.5 + 1e-9 and np.isclose(w["v"], 1.5).sum() >= 6 * 6
        assert (w["i"][np.isclose(w["v"], 1.5)] > 10e-6).mean() > 0.9  # SET current flows
        with h5py.File(h5, "r") as f:  # closed cleanly: any HDF5 reader opens it
            ds = f["waveforms/v"]
            assert ds.compression == "gzip" and ds.chunks is not None
            assert f.attrs["results_file"] == out.file.name
    finally:
        cat.close()


KILLED = """
import sys
from instruments.bench import Bench
from procedures.framework.catalog import Catalog
from procedures.{module} import {cls}
from procedures.framework.runner import RunCallbacks, prepare_run
root = sys.argv[1]
bench = Bench.open("simulated", data_dir=root, fresh=True)
proc = {cls}()
for k, v in dict({params}).items():
    setattr(proc, k, v)
from procedures.framework import waveform_store
write = waveform_store.RunStore._write
def spy(self, table):
    write(self, table)
    if {when} and not seen:
        seen.append(table)
        print("{tag}", handle.procedure.results_file, flush=True)
waveform_store.RunStore._write = spy
seen = []
handle = prepare_run(proc, bench, root, Catalog(root))
handle.run()
print("ENDED", flush=True)
"""


def _sigkilled_at(tmp_path: Path, tag: str, **script: str) -> Path:
    """Run the :data:`KILLED` script (``module``, ``cls``, ``params``, ``when``) on a fresh
    simulated bench under ``tmp_path``; SIGKILL it at its event (its line ``<tag> <results
    file>``, printed once ``when`` holds after a write of the run's HDF5 store); the results
    file of the killed run."""
    code = KILLED.format(tag=tag, **script)
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # the event
        assert line.startswith(tag), proc.stderr.read()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return Path(line.split(" ", 1)[1].strip())


def test_a_sigkilled_run_leaves_a_readable_waveform_file(tmp_path):
    csv = _sigkilled_at(  # the event: one block of waveforms written and flushed
        tmp_path, "BLOCK", module="experiments.pulse_train", cls="PulseTrainProcedure",
        params='die="9,9", cells="0,0-7", form_first=True, count=400, record_waveform=True, '
               'waveform_points=8, waveform_file="hdf5", kind="set", amplitude=1.5, v_wl=1.2',
        when='table == "waveforms" and self._file_n[table]')  # a block is on disk
    w = read_waveforms(waveform_path(csv))
    n = len(w["pulse"])
    assert n >= 1 and w["v"].shape == (n, 8) and np.isfinite(w["v"]).all()
    assert list(w["pulse"][:3]) == list(range(1, min(n, 3) + 1))
    assert n < 8 * 400  # killed mid-train
    assert len(Results.load(str(csv)).data) >= 1  # the CSV too
    h = read_history(waveform_path(csv))  # the per-cell history (G vs pulse) as well
    k = len(h["Pulse"])  # (its blocks are written on their own schedule: maybe none yet)
    assert list(h["Pulse"][:3]) == list(range(min(k, 3)))
    assert np.isfinite(h["Read G (S)"]).all() and (h["Cell col"][:3] == 0).all()


def _history_matches_csv(cat, out, columns):
    """The run's HDF5 history holds exactly the CSV rows' columns, in order."""
    h = run_history(cat, out.run_id)
    csv = run_data(cat, out.run_id)
    assert list(h.columns) == list(columns)
    assert len(h) == len(csv) and len(h) == out.summary["history_rows"]
    pd.testing.assert_frame_equal(h, csv[list(columns)].astype(h.dtypes.to_dict()),
                                  check_exact=False, rtol=1e-12)
    assert cat.get(out.run_id).summary["hdf5_file"] == waveform_path(out.file).name
    return h


def test_pulse_train_stores_waveforms_and_history_in_hdf5_by_default(sim_bench, data_root):
    proc = with_params(PulseTrainProcedure(), die="9,9", cells="1,0-2", form_first=True, count=4,
                record_waveform=True, waveform_points=6, **SET)
    cat = Catalog(data_root)
    try:
        out = prepare_run(proc, sim_bench, data_root, cat).run()
        assert out.status == "finished", out.error
        s = out.summary
        assert s["waveform_file"] == s["hdf5_file"] == waveform_path(out.file).name
        assert s["waveforms"] == 12 and s["history_rows"] == 3 * 5
        data = Results.load(str(out.file)).data  # stock pymeasure: scalar read rows only
        assert (data["Point"] == -1).all() and data["Applied V (V)"].isna().all()
        w = run_waveforms(cat, out.run_id)
        assert w["v"].shape == (12, 6) and np.isclose(np.nanmax(w["v"]), 1.5)
        h = _history_matches_csv(cat, out, PulseTrainProcedure.HISTORY_COLUMNS)
        one = cell_history(cat, out.run_id, (1, 2))
        assert list(one["Pulse"]) == [0, 1, 2, 3, 4] and (one["Cell col"] == 2).all()
        assert one["Read G (S)"].iloc[-1] > 50e-6  # SET at gate 1.2 V
        assert set(h["Cell col"]) == {0, 1, 2}
        with h5py.File(waveform_path(out.file), "r") as f:  # closed cleanly, compressed
            assert f[HISTORY]["Read G (S)"].compression == "gzip"
            assert f.attrs["procedure"] == "pulse-train"
    finally:
        cat.close()


def test_program_verify_endurance_and_retention_histories(sim_bench, data_root):
    cat = Catalog(data_root)
    try:
        runs = [
            (with_params(ProgramVerifyProcedure(), die="9,9", cells="2,0-1", form_first=True,
                  targets="40e-6"), ProgramVerifyProcedure.HISTORY_COLUMNS),
            (with_params(EnduranceProcedure(), die="9,9", cells="2,2-3", form_first=True,
                  cycles=1000), EnduranceProcedure.DATA_COLUMNS),
            (with_params(RetentionProcedure(), die="9,9", cells="2,4-5", form_first=True,
                  temperature_c=150.0, duration_s=1000.0, points=3),
             RetentionProcedure.DATA_COLUMNS),
        ]
        for proc, columns in runs:
            out = prepare_run(proc, sim_bench, data_root, cat).run()
            assert out.status == "finished", (proc.NAME, out.error)
            h = _history_matches_csv(cat, out, columns)
            cells = sorted({(int(r), int(c)) for r, c in zip(h["Cell row"], h["Cell col"],
                                                                strict=True)})
            assert len(cells) == 2
            for cell in cells:
                one = cell_history(cat, out.run_id, cell)
                assert len(one) >= 2 and (one["Cell col"] == cell[1]).all()
            if proc.NAME == "endurance":
                assert list(cell_history(cat, out.run_id, cells[0])["Cycle"])[-1] == 1000
        from procedures.experiments.conductance_map import ConductanceMapProcedure

        out = prepare_run(with_params(ConductanceMapProcedure(), die="9,9", cells="3,0"),
                          sim_bench, data_root, cat).run()
        assert out.status == "finished", out.error
        assert "hdf5_file" not in out.summary
        with pytest.raises(FileNotFoundError):  # a procedure without an HDF5 store
            run_history(cat, out.run_id)
    finally:
        cat.close()


def test_run_store_keeps_committed_records_and_filters_rows(tmp_path):
    csv = tmp_path / "run.csv"
    table = Table("t", (Column("x"), Column("trace", "f8", 3)))
    store = RunStore(csv, [history_table(["Cell row", "Cell col", "G"]), table], {"a": 1})
    store.where = {"Point": -1}
    store.append_rows({"Cell row": 1, "Cell col": 2, "G": 5e-6, "Point": -1})
    store.append_rows({"Cell row": [1, 1, 1], "Cell col": [3, 3, 3], "G": [1.0, 2.0, 3.0],
                       "Point": [-1, 0, 1]})  # only the read row
    store.append_rows({"Cell row": [4], "Cell col": [4]})  # a missing column is NaN
    store.append("t", {"x": [1.0, 2.0], "trace": np.ones((2, 3))})
    assert store.counts == {"history": 3, "t": 2}
    store.flush()  # what a chunk's worth of rows or FLUSH_S after the last write does
    # a crash between a block's columns and its commit: the resized, uncommitted record
    ds = store._sets["t"]["x"]
    ds.resize(3, axis=0)
    ds[2] = 9.0
    ds.flush()
    h = read_history(waveform_path(csv))  # read while the writer is open (SWMR)
    assert list(h["Cell col"]) == [2, 3, 4] and list(h["G"][:2]) == [5e-6, 1.0]
    assert np.isnan(h["G"][2]) and h["Cell row"].dtype == np.int32
    t = read_table(waveform_path(csv), "t")
    assert list(t["x"]) == [1.0, 2.0] and t["trace"].shape == (2, 3)
    store.append_rows({"Cell row": 5, "Cell col": 5, "G": 1.0, "Point": -1})  # pending
    store.close()  # writes it
    store.close()
    assert store.summary() == {"hdf5_file": "run.h5", "history_rows": 4}
    assert list(read_history(waveform_path(csv))["Cell col"]) == [2, 3, 4, 5]


def test_a_sigkilled_endurance_run_leaves_a_readable_history(tmp_path):
    csv = _sigkilled_at(  # the event: three checkpoints written and flushed
        tmp_path, "ROWS", module="experiments.endurance", cls="EnduranceProcedure",
        params='die="9,9", cells="0,0-3", form_first=True, cycles=10**12, '
               'stop_on_failure=False',
        when="self._file_n[table] >= 3")  # three checkpoints on disk: tell the test
    h = read_history(waveform_path(csv))
    assert len(h["Cycle"]) >= 3 and list(h["Cycle"][:3]) == [1, 2, 5]
    assert (h["Cell col"][:3] == 0).all() and np.isfinite(h["R_LRS (ohm)"][:3]).all()
    assert h["Cycle"][-1] < 10**12  # killed mid-run
