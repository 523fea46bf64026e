"""gui.bench_owner.share_bench: each runner is refused with the first other active owner's
message, and free when none is active (plain objects stand in for the four runners)."""

from __future__ import annotations

from types import SimpleNamespace

from gui.bench_owner import CAMPAIGN_OWNS, PROCEDURE_OWNS, WAFER_OWNS, share_bench


def _runners() -> tuple[SimpleNamespace, ...]:
    controller = SimpleNamespace(busy=False, queue=[])
    manual = SimpleNamespace()
    wafer = SimpleNamespace(busy=False)
    campaign = SimpleNamespace(busy=False)
    share_bench(controller, manual, wafer, campaign)
    return controller, manual, wafer, campaign


def test_all_free_when_nothing_runs():
    runners = _runners()
    assert [r.blocked_by() for r in runners] == ["", "", "", ""]


def test_a_procedure_run_or_its_queue_blocks_wafer_runs_and_campaigns():
    controller, manual, wafer, campaign = _runners()
    controller.queue.append("queued run")
    assert wafer.blocked_by() == PROCEDURE_OWNS
    assert campaign.blocked_by() == PROCEDURE_OWNS
    assert controller.blocked_by() == "" and manual.blocked_by() == ""  # the controller's own
    controller.queue.clear()
    controller.busy = True
    assert wafer.blocked_by() == PROCEDURE_OWNS


def test_a_wafer_run_blocks_the_others():
    controller, manual, wafer, campaign = _runners()
    wafer.busy = True
    assert controller.blocked_by() == WAFER_OWNS
    assert manual.blocked_by() == WAFER_OWNS
    assert campaign.blocked_by() == WAFER_OWNS
    assert wafer.blocked_by() == ""


def test_a_campaign_blocks_the_others_first():
    controller, manual, wafer, campaign = _runners()
    campaign.busy = True
    wafer.busy = True  # never together in the GUI; the campaign's message comes first
    assert controller.blocked_by() == CAMPAIGN_OWNS
    assert manual.blocked_by() == CAMPAIGN_OWNS
    assert wafer.blocked_by() == CAMPAIGN_OWNS
    assert campaign.blocked_by() == WAFER_OWNS
