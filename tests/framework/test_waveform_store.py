"""Waveforms in HDF5 beside the CSV: written as measured by pulse-train, chunked and compressed,
read through procedures.analysis, and still readable after the run is SIGKILLed mid-train."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
from pymeasure.experiment import Results

from procedures.analysis import run_waveforms
from procedures.experiments.pulse_train import PulseTrainProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run
from procedures.framework.waveform_store import read_waveforms, waveform_path
from tests._paths import REPO

ROOT = REPO
SET = {"kind": "set", "amplitude": 1.5, "v_wl": 1.2}


def test_pulse_train_waveforms_go_to_hdf5_beside_the_csv(sim_bench, data_root):
    proc = PulseTrainProcedure()
    for k, v in dict(die="9,9", cells="0,0-1", form_first=True, count=3, record_waveform=True,
                     waveform_points=10, waveform_file="hdf5", **SET).items():
        setattr(proc, k, v)
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


KILLED_RUN = """
import sys
from instruments.bench import Bench
from procedures.framework.catalog import Catalog
from procedures.experiments.pulse_train import PulseTrainProcedure
from procedures.framework.runner import RunCallbacks, prepare_run
root = sys.argv[1]
bench = Bench.open("simulated", data_dir=root, fresh=True)
proc = PulseTrainProcedure()
for k, v in dict(die="9,9", cells="0,0-7", form_first=True, count=400, record_waveform=True,
                 waveform_points=8, waveform_file="hdf5", kind="set", amplitude=1.5,
                 v_wl=1.2).items():
    setattr(proc, k, v)
seen = []
def progress(p):
    if p > 0 and not seen:  # the first block is in the HDF5 file: tell the test
        seen.append(p)
        print("BLOCK", handle.procedure.results_file, flush=True)
cb = RunCallbacks(on_progress=progress)
handle = prepare_run(proc, bench, root, Catalog(root), cb)
handle.run()
print("ENDED", flush=True)
"""


def test_a_sigkilled_run_leaves_a_readable_waveform_file(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # the event: one block written and flushed
        assert line.startswith("BLOCK"), proc.stderr.read()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    csv = Path(line.split(" ", 1)[1].strip())
    w = read_waveforms(waveform_path(csv))
    n = len(w["pulse"])
    assert n >= 1 and w["v"].shape == (n, 8) and np.isfinite(w["v"]).all()
    assert list(w["pulse"][:3]) == list(range(1, min(n, 3) + 1))
    assert n < 8 * 400  # killed mid-train
    assert len(Results.load(str(csv)).data) >= 1  # the CSV too
