"""A campaign cursor written by the code of commit 4550269 (before ``CursorFile`` held the
fields the wafer and campaign cursors share, and ``BackgroundSession`` the pause checkpoint)
resumes with today's code: loaded without losing a key, resumed in process and with
``memprobe campaign --resume``. The fixture is described in :mod:`tests._old_cursors`."""

from __future__ import annotations

import json

from procedures.campaign import CampaignRun, parse_campaign
from procedures.campaign.cursor import CURSOR_FORMAT, CURSOR_NAME, CampaignCursor
from procedures.campaign.events import latest_campaign
from procedures.framework.catalog import Catalog
from tests._old_cursors import (
    OLD_CAMPAIGN,
    OLD_CAMPAIGN_CURSOR,
    contains,
    old_campaign_in,
    resumed_on_the_command_line,
)
from tests.campaign.test_executor import assert_safe_and_cool


def test_the_old_cursor_loads_and_saves_back_without_losing_a_key(tmp_path):
    old = json.loads(OLD_CAMPAIGN_CURSOR.read_text())
    assert old["format"] == 1 and old["state"] == "aborted"
    out_dir = old_campaign_in(tmp_path)
    cursor = CampaignCursor.load(out_dir)
    assert cursor.format == CURSOR_FORMAT and cursor.state == "aborted"
    assert cursor.units_done() == 1 and cursor.elapsed_s == old["elapsed_s"]
    assert [s.state for s in cursor.steps] == ["done", "in-progress", "pending"]
    assert [(e.step, e.status, e.counted) for e in cursor.entries] == [
        (0, "finished", True), (1, "aborted", False)]
    assert cursor.safe_end == old["safe_end"] and cursor.events == old["events"]
    cursor.save(out_dir)
    assert contains(json.loads((out_dir / CURSOR_NAME).read_text()),
                    {k: v for k, v in old.items() if k != "updated_at"})


def test_a_campaign_aborted_by_the_old_code_is_found_and_resumed_to_the_end(sim_bench,
                                                                            data_root):
    out_dir = old_campaign_in(data_root)
    campaign = parse_campaign(OLD_CAMPAIGN.read_text(), "steps.toml")
    assert latest_campaign(data_root, campaign) == out_dir  # what Resume and --resume pick
    old_elapsed = json.loads(OLD_CAMPAIGN_CURSOR.read_text())["elapsed_s"]
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
    out_dir = old_campaign_in(tmp_path / "data")
    saved = resumed_on_the_command_line(tmp_path, capsys, "campaign", OLD_CAMPAIGN, out_dir,
                                        "--no-figures")
    assert [(e["step"], e["counted"]) for e in saved["entries"]] == [
        (0, True), (1, False), (1, True), (2, True)]
