"""The Campaign tab of the main window, on the simulated bench (pytest-qt): schedule, one
owner of the bench, pause/resume, live timeline and figures, a limit's reason, the bench left
safe with the heater back at 25 C."""

from __future__ import annotations

import pytest

from tests._gui import pause_then_resume
from tests._toml import campaign_text, checkerboard_map, limit, measurement

CAMPAIGN = campaign_text("gui-steps", "GUI", (9, 9),
                         'kind = "temperature"\nset_points_c = [25, 120]',
                         checkerboard_map("0,0-3"), measurement("ber", "ber-2t2r", "1,0-1"),
                         head='description = "two temperatures"')


@pytest.fixture
def window(main_window):
    return main_window


def test_campaign_tab_schedule_owner_pause_resume_and_live_plots(qtbot, window, sim_bench,
                                                                 tmp_path):
    panel = window.campaign_panel
    path = tmp_path / "gui-steps.toml"
    path.write_text(CAMPAIGN)
    assert panel.load(path)
    assert panel.schedule.rowCount() == 2
    assert panel.schedule.item(1, 1).text() == "120 C" and panel.schedule.item(1, 3).text() == \
        "pending"
    points = []
    panel.signals.point.connect(points.append)
    assert panel.start()
    assert window.busy and not panel.start_button.isEnabled()
    # the campaign owns the bench: procedure runs, wafer runs and manual stepping are refused
    assert not window.procedure_panel.queue_current()
    assert "campaign owns the bench" in window.procedure_panel.error_label.text()
    assert window.wafer_panel.load("demo-wafer") and not window.wafer_panel.start()
    assert "campaign owns the bench" in window.wafer_panel.status_label.text()
    assert not window.step_to_die(3, 8)
    outcome = pause_then_resume(qtbot, panel, sim_bench, lambda: len(points) >= 1)
    assert [panel.schedule.item(k, 3).text() for k in range(2)] == ["done", "done"]
    assert abs(float(panel.schedule.item(1, 4).text()) - 120) < 2.5
    # the timeline: chuck temperature (read back) vs elapsed time, one point per measurement
    x, y = panel.timeline_curve.getData()
    assert len(x) == 4 and list(x) == sorted(x)
    assert y[0] == pytest.approx(25, abs=2) and y[-1] == pytest.approx(120, abs=2)
    # live figures vs temperature: the window of both measurements
    panel.figure_combo.setCurrentText("window")
    assert set(panel.figure_curves) == {"map", "ber"}
    fx, fy = panel.figure_curves["map"].getData()
    assert len(fx) == 2 and fx[1] > fx[0] and all(v > 1 for v in fy)
    assert not window.busy
    heater = sim_bench.prober.heater()
    assert abs(heater.temperature - 25.0) < 0.5 and heater.status == "R"
    assert sim_bench.prober.chuck_status().preset_height == "S"
    assert (outcome.out_dir / "campaign_summary.csv").is_file()


def test_a_limit_reason_is_shown_and_a_bad_file_refused(qtbot, window, sim_bench, tmp_path):
    panel = window.campaign_panel
    bad = tmp_path / "bad.toml"
    bad.write_text(CAMPAIGN.replace('procedure = "ber-2t2r"', 'procedure = "teleport"'))
    assert not panel.load(bad)
    assert "teleport" in panel.status_label.text() and panel.campaign is None
    path = tmp_path / "limit.toml"
    path.write_text(CAMPAIGN + "\n" + limit("map.window", "max", 1, "stop"))
    assert panel.load(path)
    with qtbot.waitSignal(panel.finished, timeout=180_000) as blocker:
        assert panel.start()
    assert blocker.args[0].state == "stopped"
    assert panel.limit_label.text().startswith("limit map.window = ")
    assert "stop" in panel.limit_label.text()
    assert sim_bench.prober.heater().temperature == pytest.approx(25, abs=0.5)


def test_closing_the_window_aborts_the_campaign_and_sets_the_heater_back(qtbot, window,
                                                                        tmp_path):
    panel = window.campaign_panel
    path = tmp_path / "close.toml"
    path.write_text(CAMPAIGN)
    assert panel.load(path)
    points = []
    panel.signals.point.connect(points.append)
    assert panel.start()
    qtbot.waitUntil(lambda: len(points) >= 1, timeout=120_000)
    run = panel.run
    window.close()  # waits for the campaign's safe end, then closes the bench
    assert run.outcome is not None and run.outcome.state == "aborted"
    assert run.cursor.safe_end["set_point_c"] == 25.0 and not run.outcome.error
    assert run.cursor.state == "aborted"
