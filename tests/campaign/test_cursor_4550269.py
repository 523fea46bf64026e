"""A campaign cursor written by the code of commit 4550269 (before ``CursorFile`` held the
fields the wafer and campaign cursors share, and ``BackgroundSession`` the pause checkpoint)
resumes with today's code.

``data/cursor_4550269_aborted.json`` and ``data/campaign_4550269.toml`` are the files that code
wrote for a three-step temperature campaign aborted in the second step's map (step 0 counted,
step 1 one aborted, uncounted run); only the absolute folder of its results files was replaced
by ``/old-lab/data``. Kept as they are: do not regenerate them with newer code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from procedures.campaign import CampaignRun, parse_campaign
from procedures.campaign.cursor import CURSOR_FORMAT, CURSOR_NAME, CampaignCursor
from procedures.campaign.events import latest_campaign
from procedures.framework.catalog import Catalog
from tests.campaign.test_executor import assert_safe_and_cool
from tests.wafer.test_cursor_4550269 import _contains

DATA = Path(__file__).parent / "data"
OLD_CURSOR = DATA / "cursor_4550269_aborted.json"
OLD_CAMPAIGN = DATA / "campaign_4550269.toml"
FOLDER = "CT/W1/campaigns/steps_20261201-221100"


def _old_campaign_in(data_root: Path) -> Path:
    out_dir = data_root / FOLDER
    out_dir.mkdir(parents=True)
    shutil.copy(OLD_CURSOR, out_dir / CURSOR_NAME)
    shutil.copy(OLD_CAMPAIGN, out_dir / "campaign.toml")
    return out_dir


def test_the_old_cursor_loads_and_saves_back_without_losing_a_key(tmp_path):
    old = json.loads(OLD_CURSOR.read_text())
    assert old["format"] == 1 and old["state"] == "aborted"
    out_dir = _old_campaign_in(tmp_path)
    cursor = CampaignCursor.load(out_dir)
    assert cursor.format == CURSOR_FORMAT and cursor.state == "aborted"
    assert cursor.units_done() == 1 and cursor.elapsed_s == old["elapsed_s"]
    assert [s.state for s in cursor.steps] == ["done", "in-progress", "pending"]
    assert [(e.step, e.status, e.counted) for e in cursor.entries] == [
        (0, "finished", True), (1, "aborted", False)]
    assert cursor.safe_end == old["safe_end"] and cursor.events == old["events"]
    cursor.save(out_dir)
    assert _contains(json.loads((out_dir / CURSOR_NAME).read_text()),
                     {k: v for k, v in old.items() if k != "updated_at"})


def test_a_campaign_aborted_by_the_old_code_is_found_and_resumed_to_the_end(sim_bench,
                                                                            data_root):
    out_dir = _old_campaign_in(data_root)
    campaign = parse_campaign(OLD_CAMPAIGN.read_text(), "steps.toml")
    assert latest_campaign(data_root, campaign) == out_dir  # what Resume and --resume pick
    old_elapsed = json.loads(OLD_CURSOR.read_text())["elapsed_s"]
    catalog = Catalog(data_root)
    try:
        again = CampaignRun.reopen(campaign, sim_bench, data_root, catalog, out_dir)
        final = again.run()
    finally:
        catalog.close()
    assert final.state == "completed" and final.done == 3, final
    counted = [(e.step, e.index) for e in again.cursor.entries if e.counted]
    assert counted == [(0, 0), (1, 0), (2, 0)]  # the aborted step redone once, step 0 kept
    assert again.cursor.entries[0].run_id == 1
    aborted = [e for e in again.cursor.entries if not e.counted]
    assert [(e.step, e.status) for e in aborted] == [(1, "aborted")]
    assert [s.state for s in again.cursor.steps] == ["done", "done", "done"]
    assert len(again.cursor.sessions) == 2 and again.cursor.elapsed_s > old_elapsed
    saved = json.loads((out_dir / CURSOR_NAME).read_text())
    assert saved["format"] == CURSOR_FORMAT and saved["state"] == "completed"
    assert_safe_and_cool(sim_bench)


def test_memprobe_campaign_resume_continues_the_old_campaign(tmp_path, capsys):
    from gui.cli import main

    root = tmp_path / "data"
    out_dir = _old_campaign_in(root)
    path = tmp_path / "steps.toml"
    path.write_text(OLD_CAMPAIGN.read_text())
    assert main(["campaign", str(path), "--data", str(root), "--resume", "--quiet",
                 "--no-figures"]) == 0
    assert "to resume" not in capsys.readouterr().err  # it found the old campaign
    saved = json.loads((out_dir / CURSOR_NAME).read_text())
    assert saved["state"] == "completed" and len(saved["sessions"]) == 2
    assert [p.name for p in out_dir.parent.iterdir()] == [out_dir.name]  # no new campaign
    assert [(e["step"], e["counted"]) for e in saved["entries"]] == [
        (0, True), (1, False), (1, True), (2, True)]
