"""The device history dock and the array map coloured by state (pytest-qt, simulated bench)."""

from __future__ import annotations

import numpy as np
import pytest

from tests._gui import run_in_window


@pytest.fixture
def window(main_window):
    main_window.procedure_panel.set_parameter("die", "9,9")
    return main_window


def _run(qtbot, window, name, **params):
    outcome = run_in_window(qtbot, window, name, **params)
    assert outcome.status == "finished", outcome.error
    return outcome


def test_history_of_a_cell_after_forming_cycling_and_a_map(qtbot, window):
    _run(qtbot, window, "forming", die="9,9", cells="1,2")
    _run(qtbot, window, "iv-cycling", die="9,9", cells="1,2", cycles=2)
    _run(qtbot, window, "pulse-train", die="9,9", cells="1,2", count=3)
    mapped = _run(qtbot, window, "conductance-map", die="9,9", cells="0-3,0-3")
    # a click on the cell opens its history (read in the file reader's thread)
    view = window.history
    window.array_map.set_selection([(1, 2)])
    with qtbot.waitSignal(view.loaded, timeout=30_000):
        window.array_map.selectionChanged.emit(window.array_map.selected_cells())
    assert list(view.frames) == [(1, 2)]
    frame = view.frames[(1, 2)]
    s = frame.attrs["summary"]
    assert s["formed"] and s["cycles"] == 2 and s["pulses"] == 3 and len(s["runs"]) == 4
    assert s["runs"][-1] == mapped.run_id
    assert "formed" in view.summary_label.text() and "2 cycles" in view.summary_label.text()
    curves = view.g_plot.getPlotItem().listDataItems()
    assert len(curves) == 1 and len(curves[0].getData()[0]) >= 5  # reads, pulses, cycles
    # several cells: one curve each
    with qtbot.waitSignal(view.loaded, timeout=30_000):
        window.show_history([(1, 2), (0, 0)])
    assert len(view.g_plot.getPlotItem().listDataItems()) == 2
    # the array map coloured by state from the histories, hover shows the summary
    with qtbot.waitSignal(view.coloured, timeout=30_000):
        view.state_combo.setCurrentText("formed")
    amap = window.array_map
    amap.flush()
    assert amap.state_label.startswith("formed")
    assert amap._log[1, 2] == 1.0 and amap._log[0, 0] == 0.0 and np.isnan(amap._log[10, 10])
    assert "formed" in amap.hover_text(1, 2) and "3 pulses" in amap.hover_text(1, 2)
    view.state_combo.setCurrentText("cycles so far")
    assert amap._log[1, 2] == 2.0
    # the next live data brings the conductance colours back
    window.router.flush()
    amap.update_cell(0, 0, 1e-5)
    assert amap.state_label is None


def test_2t2r_state_colours_and_hover_land_on_the_pair_columns(qtbot, window):
    """2T2R histories are per pair (row, pair); the array map shows each pair as two columns
    (2 * pair, 2 * pair + 1), so pair 5 colours columns 10 and 11, not column 5."""
    _run(qtbot, window, "conductance-map", die="9,9", array="2T2R", cells="0,5")
    amap = window.array_map
    assert amap.shape == (32, 64)
    amap.set_selection([(0, 10)])
    view = window.history
    with qtbot.waitSignal(view.loaded, timeout=30_000):
        amap.selectionChanged.emit(amap.selected_cells())
    assert list(view.frames) == [(0, 5)] and view.array == "2T2R"
    with qtbot.waitSignal(view.coloured, timeout=30_000):
        view.state_combo.setCurrentText("last G")
    amap.flush()
    assert np.isfinite(amap._log[0, 10]) and np.isfinite(amap._log[0, 11])
    assert np.isnan(amap._log[0, 5]) and np.isnan(amap._log[0, 4])
    assert "cell 0,5" in amap.hover_text(0, 11)
    assert "cell" not in amap.hover_text(0, 5)
