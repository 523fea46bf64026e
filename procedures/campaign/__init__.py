"""Environment campaigns (issue #16): a schedule of conditions (chuck temperature steps with
ramp and soak, or monitoring every N minutes while an external condition such as a beam changes)
and a measurement set run at every step, crash-safe and resumable.

Parts: :mod:`~procedures.campaign.model` (the campaign) + :mod:`~procedures.campaign.schema`
(pydantic), :mod:`~procedures.campaign.executor` (the loop, pause/resume/abort, limits),
:mod:`~procedures.campaign.events` (callbacks, progress, outcome; campaign folders),
:mod:`~procedures.campaign.cursor` (typed, versioned, atomic),
:mod:`~procedures.campaign.conditions` (temperature, elapsed time, dose; heater moves),
:mod:`~procedures.campaign.outputs` + :mod:`~procedures.campaign.plots` (summary, figures,
Arrhenius fit). See ``docs/campaigns.md``.
"""

from procedures.campaign.executor import (
    CampaignCallbacks,
    CampaignOutcome,
    CampaignPoint,
    CampaignProgress,
    CampaignRun,
    CampaignRunError,
    campaigns_dir,
    latest_campaign,
)
from procedures.campaign.model import (
    Campaign,
    CampaignError,
    load_campaign,
    parse_campaign,
)

__all__ = [
    "Campaign", "CampaignCallbacks", "CampaignError", "CampaignOutcome", "CampaignPoint",
    "CampaignProgress", "CampaignRun", "CampaignRunError", "campaigns_dir", "latest_campaign",
    "load_campaign", "parse_campaign",
]
