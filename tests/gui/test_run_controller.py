"""Direct tests of the GUI's run queue (:class:`gui.run_controller.RunController`) on the twin."""

from __future__ import annotations

import pytest

from gui.run_controller import RunController
from instruments.limits import LimitError
from procedures.experiments.conductance_map import ConductanceMapProcedure
from procedures.experiments.forming import FormingProcedure
from procedures.framework.base import set_parameters
from procedures.framework.catalog import Catalog


def _map(cells: str) -> ConductanceMapProcedure:
    proc = ConductanceMapProcedure()
    set_parameters(proc, {"die": "9,9", "cells": cells})
    return proc


@pytest.fixture
def controller(qtbot, sim_bench, data_root):
    c = RunController(sim_bench, data_root, Catalog(data_root))
    yield c
    c.abort_all()
    assert c.wait_idle(60)


def test_queued_runs_run_one_at_a_time_in_order_and_reach_the_catalog(
        qtbot, controller, sim_bench):
    started, finished, rows = [], [], []
    controller.runStarted.connect(lambda item: started.append(item.label))
    controller.runFinished.connect(finished.append)
    controller.rowReceived.connect(rows.append)
    controller.batchReceived.connect(lambda batch: rows.extend([None] * len(batch["Cell row"])))
    with qtbot.waitSignals([controller.runFinished, controller.runFinished],
                           timeout=120_000):
        controller.enqueue(_map("0,0-3"), "first")
        assert controller.busy
        controller.enqueue(_map("1,0-1"), "second")
        assert [q.label for q in controller.queue] == ["second"]  # waits for the first
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=120_000)
    assert started == ["first", "second"]
    assert [o.status for o in finished] == ["finished", "finished"]
    assert not controller.busy and controller.queue == []
    assert len(rows) == 6  # every measured cell reached the GUI thread before runFinished
    ids = {r.id for r in controller.catalog.runs()}
    assert {o.run_id for o in finished} <= ids
    # the bench was left safe: outputs at 0 V, chuck separated
    assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())
    assert not sim_bench.lab.prober.in_contact


def test_a_bad_parameter_is_refused_before_anything_is_queued(qtbot, controller):
    proc = FormingProcedure()
    set_parameters(proc, {"die": "9,9", "cells": "0,0"})
    proc.v_stop = controller.bench.limits.max_voltage["BL"] + 1.0
    with pytest.raises(LimitError, match="v_stop"):
        controller.enqueue(proc)
    assert controller.queue == [] and not controller.busy
    assert controller.catalog.runs() == []


def test_a_blocked_bench_queues_nothing(qtbot, controller):
    controller.blocked_by = lambda: "a wafer run owns the bench"
    with pytest.raises(ValueError, match="not queued: a wafer run owns the bench"):
        controller.enqueue(_map("0,0"))
    assert controller.queue == [] and not controller.busy


def test_abort_all_empties_the_queue_and_stops_the_run_safely(qtbot, controller, sim_bench):
    with qtbot.waitSignal(controller.rowReceived, timeout=60_000):
        controller.enqueue(_map("all"), "long")
        controller.enqueue(_map("0,0"), "never")
    with qtbot.waitSignal(controller.runFinished, timeout=60_000) as blocker:
        controller.abort_all()
    assert blocker.args[0].status == "aborted"
    assert controller.queue == [] and not controller.busy
    assert controller.catalog.get(blocker.args[0].run_id).status == "aborted"
    assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())
    assert not sim_bench.lab.prober.in_contact
