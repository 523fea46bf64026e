"""The wafer-run and campaign panels (the :class:`gui.session_panel.SessionPanel` base) find an
unfinished run written by the code of commit 4550269 and continue it with the Resume button: the
reopened part shown at once, the live rows fed to the window's plots, the results browser
refreshed when it ends (the wiring of :meth:`SessionPanel.connect_router`), the bench left
safe. The fixtures (files that code wrote) are described in :mod:`tests._old_cursors`."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import Qt

from tests._old_cursors import OLD_CAMPAIGN, OLD_RECIPE, old_campaign_in, old_wafer_run_in
from tests.wafer._wafer import bench_safe

GUARD_MS = 180_000  # hang guard of a whole resumed session (it ends on its signal long before)


@pytest.fixture
def window(main_window):
    return main_window


def _resume_with_the_button(qtbot, panel, source, tmp_path, out_dir, run_noun: str,
                            shown) -> list:
    """Load a copy of ``source`` in ``panel`` (it finds the unfinished run in ``out_dir``),
    click Resume and wait for its completed end; what ``shown()`` gave as the run started."""
    path = tmp_path / source.name
    path.write_text(source.read_text())
    assert panel.load(path), panel.status_label.text()
    assert panel.status_label.text() == (f"unfinished {run_noun} found: {out_dir.name} "
                                         "(Resume continues it)")
    at_start: list = []
    panel.runningChanged.connect(lambda running: running and at_start.append(shown()))
    with qtbot.waitSignal(panel.finished, timeout=GUARD_MS) as blocker:
        qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
        assert panel.busy  # launched by the click
    outcome = blocker.args[0]
    assert outcome.state == "completed" and outcome.out_dir == out_dir, outcome.error
    return at_start


def test_the_wafer_panel_resumes_an_old_run_with_its_button(qtbot, window, sim_bench,
                                                            data_root, tmp_path):
    out_dir = old_wafer_run_in(data_root)
    panel = window.wafer_panel
    shown_at_start = _resume_with_the_button(
        qtbot, panel, OLD_RECIPE, tmp_path, out_dir, "run", lambda: dict(window.wafer_map.bins()))
    assert shown_at_start == [{(9, 9): 1}]  # the old run's binned die, shown on resume
    assert window.wafer_map.bins() == {(9, 9): 1, (10, 9): 1}
    assert panel.status_label.text().startswith(f"wafer run completed: {out_dir}")
    # the results browser was refreshed at the end: it lists the runs of the resumed die
    ids = {r.id for r in window.results_browser.runs}
    new = {e.run_id for e in panel.run.die_record((10, 9)).runs if e.counted}
    assert len(new) == 2 and new <= ids
    assert not window.busy and panel.start_button.isEnabled()
    assert bench_safe(sim_bench)


def test_the_campaign_panel_resumes_an_old_campaign_with_its_button(qtbot, window, sim_bench,
                                                                    data_root, tmp_path):
    out_dir = old_campaign_in(data_root)
    panel = window.campaign_panel
    window.array_map.clear()
    shown_at_start = _resume_with_the_button(
        qtbot, panel, OLD_CAMPAIGN, tmp_path, out_dir, "campaign",
        lambda: [panel.schedule.item(k, 3).text() for k in range(3)])
    assert shown_at_start == [["done", "in-progress", "pending"]]  # the old steps, on resume
    assert [panel.schedule.item(k, 3).text() for k in range(3)] == ["done"] * 3
    # the maps' live rows reached the window's array map (cells 0,0-3)
    window.router.flush()
    g = window.array_map.conductance()
    assert np.isfinite(g[0, :4]).all() and np.isnan(g[1:, :]).all()
    ids = {r.id for r in window.results_browser.runs}
    assert {e.run_id for e in panel.run.cursor.entries if e.counted and e.step > 0} <= ids
    assert not window.busy
    assert sim_bench.prober.chuck_status().preset_height == "S"
    heater = sim_bench.prober.heater()
    assert abs(heater.temperature - 25.0) < 0.5 and heater.status == "R"
