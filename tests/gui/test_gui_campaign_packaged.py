"""The Campaign tab on a packaged bench in the twin's beam (pytest-qt): a monitor campaign over
two chips runs from the tab, its live figures draw one curve per chip, the bench is left safe."""

from __future__ import annotations

import pytest

from instruments.bench import Bench
from procedures.campaign.model import CAMPAIGN_DIR
from tests._gui import open_main_window, run_campaign_in_tab
from tests._visa import query_bench


@pytest.fixture
def window(qtbot, data_root):
    with Bench.open("simulated-packaged-radiation", data_dir=data_root, fresh=True) as bench, \
            open_main_window(qtbot, bench, data_root) as w:
        yield w


def test_campaign_tab_runs_a_packaged_monitor_over_two_chips(qtbot, window, tmp_path):
    panel, bench = window.campaign_panel, window.bench
    path = tmp_path / "packaged.toml"
    path.write_text((CAMPAIGN_DIR / "radiation-monitor-packaged.toml").read_text()
                    .replace("every_min = 30.0", "every_min = 60.0")
                    .replace("duration_h = 12.0", "duration_h = 1.0"))
    outcome, points = run_campaign_in_tab(qtbot, window, path, 6)
    assert outcome.state == "completed", outcome.error
    assert [p.chip for p in points] == [0, 1, 0] * 2
    assert all(p.condition["dose_gy"] is not None for p in points)
    assert {"map chip 0", "map chip 1", "ber chip 0"} <= set(panel.figure_curves)
    assert query_bench(bench, "b1500", "*LRN? 0") == "CL"
    assert bench.lab.driven_terminals() == []
