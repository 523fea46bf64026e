"""Direct tests of :class:`gui.plot_router.PlotRouter`: each kind of row reaches its plot."""

from __future__ import annotations

import numpy as np
import pytest

from gui.plot_router import PlotRouter
from gui.plots.conductance_plot import ConductancePlot
from gui.plots.iv_plot import IVPlot
from gui.plots.learning_plot import LearningPlot
from gui.plots.pulse_plot import PulsePlot
from gui.widgets.array_map import ArrayMapWidget
from instruments.chip.geometry import ARRAY_SHAPES


@pytest.fixture
def router(qtbot):
    widgets = IVPlot(), PulsePlot(), ConductancePlot(), LearningPlot(), ArrayMapWidget()
    for w in widgets:
        qtbot.addWidget(w)
    return PlotRouter(*widgets)


def test_iv_rows_draw_one_curve_per_cycle(router):
    router.start(["Cell row", "Cell col", "Cycle", "Voltage (V)", "Current (A)"])
    router.feed_columns({"Cycle": [1, 1, 2], "Voltage (V)": [0.1, 0.2, 0.3],
                         "Current (A)": [1e-6, 2e-6, 3e-6]})
    router.feed_row({"Cycle": 2, "Voltage (V)": 0.4, "Current (A)": 4e-6})
    assert router.iv.cycles == [1, 2]
    np.testing.assert_array_equal(router.iv.data(2)[0], [0.3, 0.4])


def test_forming_rows_without_a_cycle_draw_one_curve_per_cell(router):
    router.feed_columns({"Cell row": [0, 0, 1], "Cell col": [2, 2, 0],
                         "Voltage (V)": [1.0, 1.1, 1.0], "Current (A)": [1e-7, 1e-5, 1e-7]})
    cols = ARRAY_SHAPES["1T1R"][1]
    assert router.iv.cycles == [2, cols]  # row * columns + col


def test_a_2t2r_map_puts_each_side_in_its_own_column(router):
    router.start(["Cell row", "Cell col", "Side", "Conductance (S)"], array="2T2R")
    rows, pairs = ARRAY_SHAPES["2T2R"]
    assert router.array_map.shape == (rows, 2 * pairs)
    router.feed_columns({"Cell row": [3, 3], "Cell col": [5, 5], "Side": [0, 1],
                         "Conductance (S)": [1e-4, float("nan")]})
    g = router.array_map.conductance()
    assert g[3, 10] == pytest.approx(1e-4)
    assert np.isnan(g[3, 11])  # a NaN reading is not drawn
    router.start(["Cell row", "Cell col", "Conductance (S)"], array="1T1R")
    assert router.array_map.shape == ARRAY_SHAPES["1T1R"]


def test_pulse_and_endurance_rows_reach_the_conductance_plot_by_kind(router):
    router.start(["Pulse", "Kind", "Read G (S)"])
    router.feed_columns({"Pulse": [1, 2, 3], "Kind": [1, -1, 0],
                         "Read G (S)": [1e-4, 1e-5, 2e-5], "Cell row": [0, 0, 0],
                         "Cell col": [1, 1, 1]})
    n, g = router.conductance.data("set")
    np.testing.assert_array_equal(n, [1])
    np.testing.assert_allclose(g, [1e-4])
    assert router.conductance.data("reset")[0].tolist() == [2]
    assert router.conductance.data("read")[0].tolist() == [3]
    router.start(["Cycle", "R_LRS (ohm)", "R_HRS (ohm)"])
    assert router.conductance.data()[0].size == 0  # a new run clears the plot
    router.feed_columns({"Cycle": [10, 100], "R_LRS (ohm)": [1e4, 2e4],
                         "R_HRS (ohm)": [1e6, float("nan")]})
    np.testing.assert_allclose(router.conductance.data("set")[1], [1e-4, 5e-5])
    np.testing.assert_allclose(router.conductance.data("reset")[1], [1e-6])


def test_waveform_and_learning_rows(router):
    router.feed_columns({"Time (s)": [0.0, 1e-6, 2e-6], "Applied V (V)": [0.0, 1.5, np.nan],
                         "Measured I (A)": [0.0, 1e-5, 0.0]})
    t, v = router.pulse.voltage_data()
    np.testing.assert_allclose(t, [0.0, 1e-6])
    np.testing.assert_allclose(v, [0.0, 1.5])
    router.feed_columns({"Epoch": [1, 2], "Test accuracy": [0.5, 0.75], "Loss": [1.0, 0.5]})
    assert router.learning.series == ["Test accuracy"]
    np.testing.assert_allclose(router.learning.data("Test accuracy")[1], [0.5, 0.75])
