"""Menu bar features: exports, sequences, layout reset, about, notices, large curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PyQt6.QtGui import QImage

from gui import menus as menus_module
from tests._gui import run_in_window


@pytest.fixture
def window(main_window):
    return main_window


_run = run_in_window


def test_export_plot_and_wafer_map_files_are_readable(qtbot, window, tmp_path):
    out = _run(qtbot, window, "forming", die="9,9", cells="0,0")
    assert out.status == "finished", out.error
    window.router.flush()
    window.plot_tabs.setCurrentWidget(window.iv_plot)
    menus = window.menus
    png = menus.export_plot(tmp_path / "iv.png")
    img = QImage(str(png))
    assert img.width() >= 800 and img.height() > 100
    svg = menus.export_plot(tmp_path / "iv.svg").read_text()
    assert "<svg" in svg and "</svg>" in svg
    table = pd.read_csv(menus.export_plot(tmp_path / "iv.csv"))
    v, _i = window.iv_plot.data(window.iv_plot.cycles[0])
    assert table.shape[0] >= len(v) and np.isfinite(table.iloc[:, 0].to_numpy(float)).any()
    wafer = QImage(str(menus.export_wafer_map(tmp_path / "wafer.png")))
    assert wafer.width() >= 800
    with pytest.raises(ValueError, match="png"):
        menus.export_plot(tmp_path / "iv.bmp")


def test_sequence_over_cell_groups_and_values_each_an_ordinary_run(qtbot, window):
    panel = window.procedure_panel
    panel.set_procedure("conductance-map")
    panel.set_parameter("die", "9,9")
    finished = []
    window.controller.runFinished.connect(finished.append)
    assert window.menus.queue_sequence("cells", "0,0-3; 1,0-3; 2,0-3") == 3
    qtbot.waitUntil(lambda: len(finished) == 3, timeout=120_000)
    infos = [window.catalog.get(o.run_id) for o in finished]
    assert [i.cells for i in infos] == [[[r, c] for c in range(4)] for r in range(3)]
    assert all(o.status == "finished" for o in finished)
    # a numeric parameter over start:stop:count
    panel.set_parameter("cells", "3,3")
    assert window.menus.queue_sequence("v_read", "0.1:0.2:3") == 3
    qtbot.waitUntil(lambda: len(finished) == 6, timeout=120_000)
    assert [window.catalog.get(o.run_id).parameters["v_read"] for o in finished[3:]] == \
        pytest.approx([0.1, 0.15, 0.2])
    # one bad value: nothing of the sequence is queued
    with pytest.raises(ValueError, match="v_read"):
        window.menus.queue_sequence("v_read", "0.1; 7")
    assert not window.controller.queue and len(window.catalog.runs()) == 6


def test_view_reset_help_about_and_notices(qtbot, window, monkeypatch):
    dock = window.history_dock
    dock.hide()
    window.menus.reset_layout()
    assert dock.isVisibleTo(window)
    menu_titles = [a.text() for a in window.menuBar().actions()]
    assert menu_titles == ["&File", "&View", "&Run", "&Help"]
    assert "Ctrl+R" in window.menus.shortcuts_text()
    qtbot.waitUntil(lambda: not window.io.busy, timeout=30_000)
    assert window.menus.fetch_identities()
    qtbot.waitUntil(lambda: bool(window.menus.identities), timeout=30_000)
    about = window.menus.about_text()
    assert "Bench: simulated" in about and "b1500:" in about and "pyqtgraph" in about
    monkeypatch.setattr(menus_module, "NOTIFY_AFTER_S", 0.0)
    out = _run(qtbot, window, "conductance-map", die="9,9", cells="0,0")
    assert window.menus.last_notice[0] == f"Run {out.run_id} finished"


def test_a_million_point_waveform_is_drawn_downsampled(qtbot, window):
    t = np.linspace(0, 1e-3, 1_000_000)
    window.pulse_plot.set_waveform(t, np.sin(t * 1e4), np.cos(t * 1e4) * 1e-4)
    window.plot_tabs.setCurrentWidget(window.pulse_plot)
    qtbot.waitUntil(lambda: window.pulse_plot.voltage_curve.xData is not None, timeout=5000)
    curve = window.pulse_plot.voltage_curve
    assert len(curve.xData) == 1_000_000  # all the data kept
    # what is drawn: downsampled to the view's width once the tab is laid out
    qtbot.waitUntil(lambda: len(curve.getData()[0]) < 100_000, timeout=10_000)


def test_a_million_pulses_conductance_curve_is_drawn_downsampled(qtbot, window):
    cp = window.conductance_plot
    n = 1_000_000
    cp.config.connect_all = True
    cp.line.setVisible(True)
    cp.add_rows({"Pulse": np.arange(n), "Read G (S)": np.full(n, 1e-5), "Kind": np.ones(n)}) \
        if hasattr(cp, "add_rows") else pytest.skip("no add_rows")
    window.plot_tabs.setCurrentWidget(cp)
    qtbot.waitUntil(lambda: cp.line.xData is not None and len(cp.line.xData) == n,
                    timeout=10_000)
    assert cp.line.opts["autoDownsample"] and cp.line.opts["clipToView"]
