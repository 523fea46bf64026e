"""The I-V plot names its curves by what they are: forming curves by cell, cycling by cycle;
a long sweep is drawn within the point budget while every point is kept (pytest-qt)."""

from __future__ import annotations

import numpy as np

from gui.plot_router import PlotRouter
from gui.plots.conductance_plot import ConductancePlot
from gui.plots.iv_plot import IVPlot, IVPlotConfig
from gui.plots.learning_plot import LearningPlot
from gui.plots.pulse_plot import PulsePlot
from gui.widgets.array_map import ArrayMapWidget
from procedures.framework.registry import PROCEDURES


def _router(qtbot) -> PlotRouter:
    widgets = IVPlot(), PulsePlot(), ConductancePlot(), LearningPlot(), ArrayMapWidget(32, 32)
    for w in widgets:
        qtbot.addWidget(w)
    return PlotRouter(*widgets)


def _tick_texts(iv: IVPlot) -> list[str]:
    ticks = iv.colorbar.axis._tickLevels
    return [text for level in ticks for _, text in level]


def test_forming_curves_are_labelled_by_cell_not_cycle(qtbot):
    router = _router(qtbot)
    router.start(list(PROCEDURES["forming"].DATA_COLUMNS))
    v = np.linspace(0, 3, 20)
    router.feed_columns({"Voltage (V)": v, "Current (A)": v * 1e-6,
                         "Cell row": np.full(20, 3.0), "Cell col": np.full(20, 4.0)})
    router.feed_columns({"Voltage (V)": v, "Current (A)": v * 2e-6,
                         "Cell row": np.full(20, 5.0), "Cell col": np.full(20, 0.0)})
    router.flush()
    iv = router.iv
    assert iv.cycles == [3 * 32 + 4, 5 * 32]
    assert iv.key_label.startswith("cell") and iv.key_text(100) == "3,4"
    assert _tick_texts(iv) == ["3,4", "5,0"]
    assert "cycle" not in iv.colorbar.axis.labelText
    # the next I-V cycling run numbers its curves by cycle again
    router.start(list(PROCEDURES["iv-cycling"].DATA_COLUMNS))
    router.feed_columns({"Voltage (V)": v, "Current (A)": v * 1e-6, "Cycle": np.full(20, 100)})
    router.flush()
    assert iv.key_label == "cycle" and _tick_texts(iv) == ["100"]
    assert iv.colorbar.axis.labelText == "cycle"


def test_a_million_point_sweep_is_drawn_within_the_budget_and_kept_whole(qtbot):
    iv = IVPlot(IVPlotConfig(max_drawn_points=10_000))
    qtbot.addWidget(iv)
    n = 1_000_000
    phase = np.arange(n) % 4000 / 4000.0
    v = 1.5 * np.where(phase < 0.5, 2 * phase, 2 - 2 * phase)
    i = v * 1e-4
    i[123_457] = 1.0  # one spike
    for k in range(0, n, 50_000):
        iv.add_points(0, v[k:k + 50_000], i[k:k + 50_000])
        iv.flush()
    kept_v, kept_i = iv.data(0)
    assert len(kept_v) == n and kept_i[123_457] == 1.0  # every point kept
    lin, log = iv.curves(0)
    for item in (lin, log):
        assert len(item.xData) <= 10_000
    assert lin.yData.max() == 1.0  # the spike is drawn
    assert iv.drawn_factor(0) > 1
