"""The main window driven like an operator would, on the simulated bench (pytest-qt)."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QSettings, Qt, QTimer

from gui.main_window import MainWindow
from tests._gui import run_in_window, start_in_window


@pytest.fixture
def window(main_window):
    return main_window


def test_die_click_selects_and_double_click_steps_the_prober(qtbot, window, sim_bench):
    wm = window.wafer_map
    wm.dieClicked.emit(5, 6)
    assert window.procedure_panel.editors["die"].value() == "5,6"
    with qtbot.waitSignal(window.stepped, timeout=10_000) as blocker:
        assert window.step_to_die(5, 6)  # sent to the bench I/O worker
    assert blocker.args == [5, 6]
    assert sim_bench.lab.prober.die_under_chuck() == (5, 6)
    assert not sim_bench.lab.prober.in_contact
    assert window.procedure_panel.editors["die"].value() == "5,6"
    # arrow-key requests go through the same safe path
    with qtbot.waitSignal(window.stepped, timeout=10_000):
        wm.stepRequested.emit(6, 6)
    assert sim_bench.lab.prober.die_under_chuck() == (6, 6)
    # off the map: refused with a message, prober unchanged
    assert not window.step_to_die(0, 0)
    assert "not on the wafer map" in window.last_message
    assert sim_bench.lab.prober.die_under_chuck() == (6, 6)


def test_stepping_is_refused_while_a_run_owns_the_bench(qtbot, window, sim_bench):
    start_in_window(qtbot, window, "conductance-map", die="9,9", cells="all")
    assert not window.step_to_die(3, 8)
    assert "a run is in progress" in window.last_message
    assert sim_bench.lab.prober.die_under_chuck() == (9, 9)
    window.controller.abort()
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=20_000)


def test_map_run_streams_into_the_array_map_and_reopens_from_the_browser(qtbot, window):
    outcome = run_in_window(qtbot, window, "conductance-map", die="9,9", cells="0-7,0-31")
    assert outcome.status == "finished"
    window.router.flush()
    g = window.array_map.conductance()
    assert np.isfinite(g[:8]).sum() == 8 * 32 and not np.isfinite(g[8:]).any()
    assert np.all(g[:8] < 0.1e-6)  # a fresh die: unformed cells
    # the results browser lists it; reopening restores the map after clearing it
    browser = window.results_browser
    assert browser.runs[0].id == outcome.run_id
    window.array_map.clear()
    with qtbot.waitSignal(browser.runOpened):
        browser.open_row(0)
    window.router.flush()
    assert np.allclose(window.array_map.conductance()[:8], g[:8], equal_nan=True)


def test_forming_and_cycling_feed_the_iv_plot_and_distributions(qtbot, window):
    form = run_in_window(qtbot, window, "forming", die="9,9", cells="2,0-3")
    assert form.status == "finished"
    window.router.flush()
    assert len(window.iv_plot.cycles) == 4  # one curve per cell
    iv = run_in_window(qtbot, window, "iv-cycling", die="9,9", cells="2,1", cycles=3)
    assert iv.status == "finished", iv.error
    window.router.flush()
    assert len(window.iv_plot.cycles) == 3
    v, i = window.iv_plot.data(window.iv_plot.cycles[0])
    assert len(v) > 10 and np.nanmax(i) > 10e-6
    # selecting the forming run shows its V_form distribution
    browser = window.results_browser
    row = next(k for k, r in enumerate(browser.runs) if r.procedure == "forming")
    browser.table.selectRow(row)
    assert "V_form" in window.cdf_plot.names


def test_array_selection_becomes_the_target(qtbot, window):
    assert window.procedure_panel.procedure_name() == "conductance-map"  # the default
    window.procedure_panel.set_procedure("forming")
    window.array_map.set_selection([(1, 2), (1, 3)])
    window.array_map.selectionChanged.emit(window.array_map.selected_cells())
    panel = window.procedure_panel
    assert panel.editors["cells"].value() == "1,2;1,3"
    assert panel.editors["array"].value() == "1T1R"


def test_bad_parameter_is_refused_before_anything_runs(qtbot, window, sim_bench):
    panel = window.procedure_panel
    panel.set_procedure("forming")
    panel.set_parameter("v_stop", 4.9)  # over the simulated bench's BL limit of 4.5 V
    assert not panel.queue_current()
    assert "4.5 V" in panel.error_label.text()
    assert not window.controller.busy and not window.controller.queue
    assert window.catalog.runs() == []


def test_stop_aborts_the_run_outputs_off_and_chuck_separated(qtbot, window, sim_bench):
    start_in_window(qtbot, window, "forming", die="9,9", cells="0-3,0-31")
    with qtbot.waitSignal(window.controller.runFinished, timeout=20_000) as blocker:
        qtbot.keyClick(window, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)
    outcome = blocker.args[0]
    assert outcome.status == "aborted"
    assert window.catalog.get(outcome.run_id).status == "aborted"
    assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())
    assert not sim_bench.lab.prober.in_contact


def test_event_loop_stays_responsive_while_a_map_streams(qtbot, window):
    """While a full-array map streams 1,024 rows into the GUI, the event loop keeps turning.

    Counted in events, not seconds: a 0 ms timer ticks once per event-loop iteration and notes
    how many rows had been delivered by then. A GUI thread that blocked (work per row, a redraw
    per row, re-reading files) would take the rows in a few long iterations; this one takes
    them in many short ones, with timer ticks processed in between.
    """
    delivered = [0]
    seen_at_tick: list[int] = []
    window.controller.rowReceived.connect(lambda _row: delivered.__setitem__(0, delivered[0] + 1))
    timer = QTimer()
    timer.setInterval(0)
    timer.timeout.connect(lambda: seen_at_tick.append(delivered[0]))
    timer.start()
    outcome = run_in_window(qtbot, window, "conductance-map", die="9,9", cells="all")
    timer.stop()
    assert outcome.status == "finished"
    assert delivered[0] == 1024  # every row reached the GUI thread
    # loop iterations in which new rows had arrived, while the map was still streaming
    batches = sorted({n for n in seen_at_tick if 0 < n < 1024})
    assert len(batches) >= 16, batches
    assert np.median(np.diff([0, *batches, 1024])) <= 64  # typically a few rows per iteration


def test_parameters_persist_between_sessions(qtbot, sim_bench, data_root):
    from gui.procedure_panel import ProcedurePanel

    QSettings().clear()
    w = MainWindow(sim_bench, data_root, restore_layout=False)
    qtbot.addWidget(w)
    w.procedure_panel.set_procedure("forming")
    w.procedure_panel.set_parameter("compliance", 50e-6)
    w.procedure_panel.set_procedure("iv-cycling")  # switching saves the form
    again = ProcedurePanel(w.controller)
    qtbot.addWidget(again)
    again.set_procedure("forming")
    assert again.editors["compliance"].value() == pytest.approx(50e-6)


def test_screenshot_contract(tmp_path):
    """`memprobe gui --screenshot PNG` steps, maps, forms, cycles, saves the window, exits 0."""
    import subprocess
    import sys

    png = tmp_path / "main.png"
    proc = subprocess.run(
        [sys.executable, "-m", "gui", "gui", "--data", str(tmp_path / "d"), "--fresh",
         "--screenshot", str(png)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.stat().st_size > 20_000
    from PyQt6.QtGui import QImage

    img = QImage(str(png))
    assert img.width() >= 1200 and img.height() >= 800


def test_pulse_train_feeds_the_pulse_and_conductance_plots(qtbot, window):
    out = run_in_window(qtbot, window, "pulse-train", die="9,9", cells="4,4", count=5,
                        form_first=True, record_waveform=True, kind="reset", v_wl=2.8,
                        amplitude=2.2)
    assert out.status == "finished", out.error
    window.router.flush()
    n, g = window.conductance_plot.data()
    assert list(n) == [0, 1, 2, 3, 4, 5] and np.all(np.isfinite(g))  # initial read + 5
    t, v = window.pulse_plot.voltage_data()
    assert len(t) > 2 and np.nanmax(np.abs(v)) == pytest.approx(2.2, rel=0.05)  # V_BL - V_SL
    # the programmed cell shows on the array map
    assert np.isfinite(window.array_map.conductance()[4, 4])


def test_learning_run_draws_learning_curves(qtbot, window):
    out = run_in_window(qtbot, window, "bnn-metaplastic", die="9,9", backend="ideal", tasks=2,
                        epochs=1, meta=1.0)
    assert out.status == "finished", out.error
    window.router.flush()
    names = window.learning_plot.series
    assert any("Task 1" in n for n in names) and "Mean accuracy" in names
    x, y = window.learning_plot.data("Mean accuracy")
    assert len(x) >= 2 and np.all((y >= 0) & (y <= 1))


def test_bench_status_shown_at_start_and_after_a_run_without_the_polling_timer(qtbot, window):
    """The first status is read even though the wafer-map set-up is queued before it, and a
    finished run's "run in progress" is replaced by the bench state at once, not at a tick."""
    window._timer.stop()  # no periodic polling: only the window's own requests
    qtbot.waitUntil(lambda: window.bench_panel.table.rowCount() == 4, timeout=30_000)
    qtbot.waitUntil(lambda: not window.io.busy, timeout=30_000)
    with qtbot.waitSignal(window.statusShown, timeout=60_000):
        outcome = run_in_window(qtbot, window, "conductance-map", die="9,9", cells="0,0-3")
        assert outcome.status == "finished", outcome.error
        assert window.bench_panel.height_label.text() == "run in progress"
    assert window.bench_panel.height_label.text() != "run in progress"
    assert window.bench_panel.die_label.text() == "col 9, row 9"
