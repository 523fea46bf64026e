"""The manual control dock acting on cells selected in the array map (pytest-qt)."""

from __future__ import annotations

import pytest

from gui.manual_dock import MANUAL_TAG
from tests._gui import start_in_window


@pytest.fixture
def window(main_window):
    main_window.procedure_panel.set_parameter("die", "9,9")
    return main_window


def _select(window, cells):
    window.array_map.set_selection(cells)
    window.array_map.selectionChanged.emit(window.array_map.selected_cells())


def _apply(qtbot, window, action, timeout=60_000, **values):
    dock = window.manual
    dock.set_action(action)
    for k, v in values.items():
        dock.set_value(k, v)
    with qtbot.waitSignal(dock.resultShown, timeout=timeout) as blocker:
        assert dock.apply(), dock.message_label.text()
    return blocker.args[0], dock.last_outcome


def test_form_then_read_a_selected_cell_each_a_catalog_run(qtbot, window, sim_bench):
    _select(window, [(3, 4)])
    assert "cells 3,4" in window.manual.target_label.text()
    text, form = _apply(qtbot, window, "FORM (quasi-static)", v=4.0, compliance=100e-6)
    assert form.status == "finished", form.error
    assert "V_form =" in text and form.summary["v_form"] > 1.0
    text, read = _apply(qtbot, window, "Read", v=0.1, v_wl=2.5)
    assert read.status == "finished" and text.startswith("G = ")
    assert read.summary["g_median"] > 10e-6  # formed: conducting
    x, y = window.manual.curve.getData()
    assert len(y) == 1 and y[0] == pytest.approx(read.summary["g_median"])
    # both are runs of the catalog, tagged manual, with their results files on disk
    for outcome, name in ((form, "forming"), (read, "conductance-map")):
        info = window.catalog.get(outcome.run_id)
        assert info.procedure == name and MANUAL_TAG in info.tags
        assert info.cells == [[3, 4]] and info.die == (9, 9)
        assert outcome.file.exists() and outcome.file.stat().st_size > 0
    # the bench is left safe after each action
    assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())
    assert not sim_bench.lab.prober.in_contact


def test_reset_pulse_and_train_on_a_formed_cell(qtbot, window):
    _select(window, [(6, 6)])
    _apply(qtbot, window, "FORM (quasi-static)")
    text, out = _apply(qtbot, window, "RESET pulse (WGFMU)", v=2.2, v_wl=2.8, width=1e-6)
    assert out.status == "finished", out.error
    assert out.summary["n_pulses"] == 1 and "after the last pulse" in text
    text, out = _apply(qtbot, window, "Pulse train (WGFMU)", v=1.5, v_wl=1.2, count=5)
    assert out.status == "finished", out.error
    assert out.summary["n_pulses"] == 5
    x, y = window.manual.curve.getData()
    assert len(y) >= 5


def test_bad_value_and_busy_bench_are_refused_before_anything_runs(qtbot, window):
    _select(window, [(1, 1)])
    dock = window.manual
    dock.set_action("FORM (quasi-static)")
    dock.set_value("v", 4.9)  # over the simulated bench's BL limit of 4.5 V
    assert not dock.apply()
    assert "4.5 V" in dock.message_label.text() and "\n" not in dock.message_label.text()
    assert window.catalog.runs() == [] and not window.controller.busy
    # a run owns the bench: refused
    start_in_window(qtbot, window, "conductance-map", cells="all")
    dock.set_action("Read")
    assert not dock.apply()
    assert "run owns the bench" in dock.message_label.text()
    window.controller.abort()
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=20_000)
    # nothing selected: refused
    window.array_map.clear_selection()
    assert not dock.apply() and "select cells" in dock.message_label.text()


def test_notes_and_tags_searchable_in_the_results_browser(qtbot, window):
    _select(window, [(2, 2)])
    _, read = _apply(qtbot, window, "Read")
    browser = window.results_browser
    browser.refresh()
    browser.table.selectRow(0)
    assert browser.selected_run().id == read.run_id
    assert "manual" in browser.tags_edit.text()
    browser.tags_edit.setText("manual, golden cell")
    browser.notes_edit.setText("reference read before the bake")
    assert browser.save_notes()
    info = window.catalog.get(read.run_id)
    assert info.tags == ["manual", "golden cell"] and "bake" in info.notes
    with qtbot.waitSignal(browser.refreshed, timeout=10_000):  # debounced, in the worker
        browser.search.setText("bake")
    assert [r.id for r in browser.runs] == [read.run_id]
    assert browser.table.item(0, 8).text() == "reference read before the bake"
    with qtbot.waitSignal(browser.refreshed, timeout=10_000):
        browser.search.setText("no such words")
    assert browser.runs == [] and browser.table.rowCount() == 0


def test_action_refused_when_prepared_says_so_in_the_dock(qtbot, window, sim_bench):
    """A die off the prober's map passes the parameter checks but is refused when the run is
    prepared (a prober query): the dock says so instead of waiting forever."""
    assert (0, 0) not in window.wafer_map.wafer_map.die_set
    window.procedure_panel.set_parameter("die", "0,0")
    _select(window, [(1, 1)])
    dock = window.manual
    dock.set_action("Read")
    with qtbot.waitSignal(window.controller.runRefused, timeout=30_000):
        assert dock.apply(), dock.message_label.text()  # queued: checked when prepared
    text = dock.message_label.text()
    assert text.startswith("Refused: ") and "0,0" in text and "wafer map" in text, text
    assert dock.pending is None and "…" not in text
    assert window.catalog.runs() == [] and not window.controller.busy
    # the next action on a die of the map runs as usual
    window.procedure_panel.set_parameter("die", "9,9")
    _, read = _apply(qtbot, window, "Read")
    assert read.status == "finished", read.error
