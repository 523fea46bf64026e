"""What a campaign tells its caller (callbacks, progress, points, the end) and where campaigns
live on disk (``<data root>/<lot>/<wafer>/campaigns/<name>_<stamp>``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procedures.campaign.cursor import peek
from procedures.campaign.model import Campaign
from procedures.framework.runner import RunCallbacks
from procedures.framework.validation import safe_component


class CampaignRunError(RuntimeError):
    """A campaign cannot be started or resumed (e.g. its file changed)."""


@dataclass(frozen=True)
class CampaignProgress:
    """Progress: ``done`` of ``total`` units, ``fraction`` 0..1, the current step; ``elapsed_s``
    wall time of this session; ``eta_s`` wall-time estimate of the time left (this session's
    rate, None unknown); ``bench_left_s`` bench time left (s, modeled on the twin): the mean
    bench time of the measurements done so far times those left, at least the schedule time
    left of a monitor schedule (None before the first measurement of a temperature schedule).
    """

    done: int
    total: int
    fraction: float
    step: int | None
    label: str
    elapsed_s: float
    eta_s: float | None
    bench_left_s: float | None = None


@dataclass(frozen=True)
class CampaignPoint:
    """A finished measurement: its step, name, condition columns and figures (for live plots);
    ``chip`` the board socket on a packaged bench (None on a wafer bench)."""

    step: int
    label: str
    measurement: str
    status: str
    condition: dict[str, Any]
    figures: dict[str, Any]
    chip: int | None = None

    @property
    def series(self) -> str:
        """Curve name: the measurement, with its chip on a packaged bench (``map chip 1``)."""
        return self.measurement if self.chip is None else f"{self.measurement} chip {self.chip}"


@dataclass
class CampaignCallbacks:
    """Hooks called from the campaign thread (a GUI re-emits them as Qt signals)."""

    on_progress: Any = None   # (CampaignProgress)
    on_status: Any = None     # (str)
    on_point: Any = None      # (CampaignPoint)
    on_step: Any = None       # (step index, state, temperature reached C or None)
    on_limit: Any = None      # (reason text)
    run: RunCallbacks | None = None


@dataclass
class CampaignOutcome:
    """How a campaign session ended (``state`` as the cursor's)."""

    state: str
    out_dir: Path
    done: int
    total: int
    error: str = ""
    reason: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)


def campaigns_dir(data_root: Path, campaign: Campaign) -> Path:
    """Folder holding the output folders of ``campaign``'s lot and wafer."""
    return (Path(data_root) / safe_component(campaign.lot) / safe_component(campaign.wafer_id)
            / "campaigns")


def latest_campaign(data_root: Path, campaign: Campaign) -> Path | None:
    """The newest output folder of a run of ``campaign`` (same name, lot and wafer)."""
    base = campaigns_dir(data_root, campaign)
    if not base.is_dir():
        return None
    for folder in sorted(base.glob(f"{safe_component(campaign.name)}_*"), reverse=True):
        data = peek(folder)
        if data is not None and data.get("campaign_name") == campaign.name:
            return folder
    return None


__all__ = ["CampaignCallbacks", "CampaignOutcome", "CampaignPoint", "CampaignProgress",
           "CampaignRunError", "campaigns_dir", "latest_campaign"]
