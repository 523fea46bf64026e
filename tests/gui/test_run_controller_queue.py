"""Aborting a run that is queued behind a bench I/O job removes it: it never starts (real
simulated bench, real BenchIO worker held busy by a job that waits for the test)."""

from __future__ import annotations

import threading

import pytest

from gui.bench_io import BenchIO
from gui.run_controller import RunController
from procedures.framework.catalog import Catalog
from procedures.framework.registry import PROCEDURES


@pytest.fixture
def held(sim_bench, data_root):
    """A run controller on the simulated bench whose BenchIO worker is held busy by a job that
    waits for the test (set the returned event to release it); worker and catalog closed after.
    """
    catalog = Catalog(data_root)
    io = BenchIO()
    try:
        controller = RunController(sim_bench, data_root, catalog)
        controller.io = io
        release = threading.Event()
        yield controller, io, catalog, release
    finally:
        io.close()
        catalog.close()


def _hold(io: BenchIO, release: threading.Event) -> None:
    io.submit(lambda: release.wait(30), name="a slow status read")


def _map(cells: str):
    proc = PROCEDURES["conductance-map"]()
    proc.die, proc.cells = "9,9", cells
    return proc


def test_abort_removes_a_run_waiting_for_the_worker(qtbot, held):
    controller, io, catalog, release = held
    started, refused = [], []
    controller.runStarted.connect(started.append)
    controller.runRefused.connect(lambda item, why: refused.append((item, why)))
    _hold(io, release)
    item = controller.enqueue(_map("0,0"))
    assert controller.queue == [item] and not controller.busy  # waiting for the worker
    controller.abort()
    assert controller.queue == [] and refused == [(item, "aborted before start")]
    with qtbot.waitSignal(io.idle, timeout=30_000):
        release.set()
    # had it stayed queued, the idle signal would have started its preparation by now
    assert not io.busy and not controller.busy and started == []
    assert catalog.runs() == []  # nothing was recorded: nothing ran


def test_abort_keeps_the_runs_queued_behind_the_one_dropped(qtbot, held):
    controller, io, catalog, release = held
    _hold(io, release)
    procs = [controller.enqueue(_map(cell)) for cell in ("0,0", "0,1")]
    controller.abort()
    assert controller.queue == [procs[1]]
    with qtbot.waitSignal(controller.runFinished, timeout=120_000) as blocker:
        release.set()
    assert blocker.args[0].status == "finished"
    assert [r.cells for r in catalog.runs()] == [[[0, 1]]]
