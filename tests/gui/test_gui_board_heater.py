"""The main window on a packaged bench under a ThermoStream (pytest-qt): the bench dock and the
board view show the board's temperature and the heater's state, read off the GUI thread; a
temperature campaign from the Campaign tab draws the board temperature and ends with the heater
back at the safe temperature (read back over a new connection)."""

from __future__ import annotations

import pytest

from instruments.bench import Bench
from procedures.campaign.model import CAMPAIGN_DIR
from tests._gui import open_main_window, run_campaign_in_tab
from tests._visa import query_bench


@pytest.fixture
def window(qtbot, data_root):
    with Bench.open("simulated-packaged-thermostream", data_dir=data_root, fresh=True) as bench, \
            open_main_window(qtbot, bench, data_root) as w:
        yield w


def test_the_bench_dock_and_board_view_show_the_board_temperature(qtbot, window):
    label, caption = window.bench_panel.temperature_label, window.board.view.caption
    qtbot.waitUntil(lambda: label.text() == "25.0 °C (flow off)", timeout=20_000)
    assert "board 25.0 °C (flow off)" in caption.text()
    window.bench.heater.set_temperature(60.0, timeout_s=3600.0)
    window.refresh_status()
    qtbot.waitUntil(lambda: label.text().endswith("°C (ready)"), timeout=20_000)
    assert abs(float(label.text().split()[0]) - 60.0) <= 1.0
    assert "°C (ready)" in caption.text()


def test_a_temperature_campaign_from_the_tab_draws_the_board_temperature(qtbot, window,
                                                                         tmp_path):
    panel, bench = window.campaign_panel, window.bench
    path = tmp_path / "hot.toml"
    path.write_text((CAMPAIGN_DIR / "temperature-packaged.toml").read_text()
                    .replace("[25.0, 85.0, 125.0]", "[25.0, 85.0]"))
    outcome, points = run_campaign_in_tab(qtbot, window, path, 6)
    assert outcome.state == "completed", outcome.error
    temps = [p.condition["temperature_c"] for p in points]
    assert temps[:3] == pytest.approx([25.0] * 3, abs=2) and temps[3:] == pytest.approx(
        [85.0] * 3, abs=2)
    assert panel.condition_axis() == ("temperature_c", "board temperature", "C")
    assert panel.timeline.getAxis("left").labelText == "board temperature"
    assert query_bench(bench, "heater", "SETP?") == "25.0"
    assert query_bench(bench, "b1500", "*LRN? 0") == "CL"
