"""The GUI's run queue refuses bad input before anything is applied (issue 9)."""

from __future__ import annotations

import math

import pytest

from gui.run_controller import RunController
from procedures.experiments.forming import FormingProcedure
from procedures.framework.catalog import Catalog


@pytest.fixture
def controller(qtbot, sim_bench, data_root):
    catalog = Catalog(data_root)
    ctl = RunController(sim_bench, data_root, catalog)
    yield ctl
    catalog.close()


def test_nan_set_from_a_widget_is_refused_when_queued(controller, sim_bench):
    proc = FormingProcedure()
    proc.die = "9,9"
    proc.v_step = math.nan  # what a free-text float field may hand over
    with pytest.raises(ValueError, match="v_step"):
        controller.enqueue(proc)
    assert controller.queue == [] and not controller.busy


def test_die_off_the_map_is_refused_before_the_prober_moves(controller, sim_bench, qtbot,
                                                           data_root):
    lab = sim_bench.lab
    before = (lab.prober.position_um("H"), lab.prober.current_map_die())
    proc = FormingProcedure()
    proc.die = "99,99"
    with qtbot.waitSignal(controller.statusChanged, timeout=10_000) as status:
        controller.enqueue(proc)
    assert status.args[0].startswith("refused: die = 99,99")
    assert not controller.busy and controller.handle is None
    assert (lab.prober.position_um("H"), lab.prober.current_map_die()) == before
    assert controller.catalog.runs() == []
    assert not list(data_root.rglob("*.csv"))
