"""One owner of the bench at a time: a procedure run (with its queue), a wafer run or a campaign.

Each of the window's runners (the run controller, the manual dock, the wafer-run and the campaign
panels) asks its ``blocked_by()`` before it applies anything; :func:`share_bench` gives each one
that answers with the first other owner that is active, so the rule and its messages are written
here once. The GUI's own bench I/O (:mod:`gui.bench_io`) is refused by the window while any run
is active.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PROCEDURE_OWNS = "a procedure run owns the bench (wait for it or stop it)"
WAFER_OWNS = "a wafer run owns the bench (pause or abort it first)"
CAMPAIGN_OWNS = "a campaign owns the bench (pause or abort it first)"

Owner = tuple[Callable[[], bool], str]
"""(is it active now, the refusal message)"""


def _first_active(*owners: Owner) -> Callable[[], str]:
    return lambda: next((text for active, text in owners if active()), "")


def share_bench(controller: Any, manual: Any, wafer_panel: Any, campaign_panel: Any) -> None:
    """Set ``blocked_by`` of the four runners: a procedure run (running or queued), a wafer run
    and a campaign exclude one another; manual actions go through the controller, which refuses
    them itself while a procedure run is active."""
    procedure: Owner = (lambda: bool(controller.busy or controller.queue), PROCEDURE_OWNS)
    wafer: Owner = (lambda: wafer_panel.busy, WAFER_OWNS)
    campaign: Owner = (lambda: campaign_panel.busy, CAMPAIGN_OWNS)
    controller.blocked_by = _first_active(campaign, wafer)
    manual.blocked_by = _first_active(campaign, wafer)
    wafer_panel.blocked_by = _first_active(campaign, procedure)
    campaign_panel.blocked_by = _first_active(procedure, wafer)


__all__ = ["CAMPAIGN_OWNS", "PROCEDURE_OWNS", "WAFER_OWNS", "share_bench"]
