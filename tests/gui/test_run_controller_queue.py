"""Aborting a run that is queued behind a bench I/O job removes it: it never starts (real
simulated bench, real BenchIO worker held busy by a job that waits for the test)."""

from __future__ import annotations

import threading

from gui.bench_io import BenchIO
from gui.run_controller import RunController
from procedures.framework.catalog import Catalog
from procedures.framework.registry import PROCEDURES


def test_abort_removes_a_run_waiting_for_the_worker(qtbot, sim_bench, data_root):
    catalog = Catalog(data_root)
    io = BenchIO()
    try:
        controller = RunController(sim_bench, data_root, catalog)
        controller.io = io
        started, refused = [], []
        controller.runStarted.connect(started.append)
        controller.runRefused.connect(lambda item, why: refused.append((item, why)))
        release = threading.Event()
        io.submit(lambda: release.wait(30), name="a slow status read")
        proc = PROCEDURES["conductance-map"]()
        proc.die, proc.cells = "9,9", "0,0"
        item = controller.enqueue(proc)
        assert controller.queue == [item] and not controller.busy  # waiting for the worker
        controller.abort()
        assert controller.queue == [] and refused == [(item, "aborted before start")]
        with qtbot.waitSignal(io.idle, timeout=30_000):
            release.set()
        # had it stayed queued, the idle signal would have started its preparation by now
        assert not io.busy and not controller.busy and started == []
        assert catalog.runs() == []  # nothing was recorded: nothing ran
    finally:
        io.close()
        catalog.close()


def test_abort_keeps_the_runs_queued_behind_the_one_dropped(qtbot, sim_bench, data_root):
    catalog = Catalog(data_root)
    io = BenchIO()
    try:
        controller = RunController(sim_bench, data_root, catalog)
        controller.io = io
        release = threading.Event()
        io.submit(lambda: release.wait(30), name="a slow status read")
        procs = []
        for cell in ("0,0", "0,1"):
            p = PROCEDURES["conductance-map"]()
            p.die, p.cells = "9,9", cell
            procs.append(controller.enqueue(p))
        controller.abort()
        assert controller.queue == [procs[1]]
        with qtbot.waitSignal(controller.runFinished, timeout=120_000) as blocker:
            release.set()
        assert blocker.args[0].status == "finished"
        assert [r.cells for r in catalog.runs()] == [[[0, 1]]]
    finally:
        io.close()
        catalog.close()
