"""The persisted state of a campaign: a typed, versioned cursor (``cursor.json``).

Written atomically (:func:`procedures.wafer.atomic.atomic_write`) before and after every
measurement, so a kill at any point leaves the old or the new cursor. ``--resume`` continues at
the first (step, measurement) unit that has no counted entry; the unit in flight at a kill
(``pending``) is redone and its old run kept as an orphan. Keys a reader does not know are kept
in ``extra`` and written back (the wafer cursor's rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from procedures.wafer.cursor import (
    CURSOR_NAME,
    CursorFile,
    JsonRecord,
    now,
    peek,
    plain,
    split_fields,
)

CURSOR_FORMAT = 1
"""Schema version written and read."""
STATES = ("created", "running", "paused", "aborted", "failed", "stopped", "completed")
"""``stopped``: a limit with ``action = "stop"`` ended the campaign (resumable)."""


class CampaignCursorError(ValueError):
    """A campaign cursor is missing or unreadable."""


@dataclass
class MeasurementEntry(JsonRecord):
    """One procedure run of a campaign unit (step, measurement).

    ``condition`` holds the condition columns (:class:`~procedures.campaign.conditions.Condition`);
    ``figures`` the flat figures of the run; ``counted`` is True for a finished run;
    ``bench_time_s`` the run's time on the bench clock (s, modeled on the twin); ``skipped``
    is True for a failed run the campaign passed over (``on_fault = "continue"``): the unit is
    settled without a counted run. ``chip``: the board socket measured on a packaged bench
    (None on a wafer bench); ``die``: the die the run recorded (``col,row``: the prober's
    position, or the chip's origin die)."""

    step: int
    measurement: str
    index: int
    run_id: int = -1
    chip: int | None = None
    die: str = ""
    status: str = ""
    file: str = ""
    counted: bool = False
    skipped: bool = False
    error: str = ""
    started_at: str = ""
    bench_time_s: float | None = None
    condition: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return f"{self.step}/{self.index}"


@dataclass
class StepRecord(JsonRecord):
    """A step of the schedule: its condition and state (pending, in-progress, done)."""

    index: int
    label: str
    set_point_c: float | None = None
    state: str = "pending"
    reached_c: float | None = None
    started_at: str | None = None
    finished_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CampaignCursor(CursorFile):
    """The whole persisted state of a campaign.

    ``elapsed_s`` is the campaign time on the bench clock accumulated by earlier sessions
    (a session adds its own); ``pending`` the unit in flight (``step/index``); ``limit_hits``
    every limit that fired (figure, value, action, reason, step).
    """

    load_error: ClassVar[type[Exception]] = CampaignCursorError
    folder_what: ClassVar[str] = "a campaign folder"
    file_format: ClassVar[int] = CURSOR_FORMAT

    campaign_name: str
    campaign_sha256: str
    campaign_source: str = ""
    reason: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    entries: list[MeasurementEntry] = field(default_factory=list)
    pending: str | None = None
    limit_hits: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    safe_end: dict[str, Any] = field(default_factory=dict)

    def counted(self, step: int, index: int) -> MeasurementEntry | None:
        """The counted entry of unit (step, measurement index), or None."""
        return next((e for e in self.entries
                     if e.step == step and e.index == index and e.counted), None)

    def settled(self, step: int, index: int) -> bool:
        """Unit (step, measurement index) needs no more run: counted, or failed and skipped."""
        return any(e.step == step and e.index == index and (e.counted or e.skipped)
                   for e in self.entries)

    def units_done(self) -> int:
        """Units settled (counted or skipped)."""
        return len({(e.step, e.index) for e in self.entries if e.counted or e.skipped})

    def to_json(self) -> dict[str, Any]:
        out = self._json_fields(("steps", "entries"))
        out["steps"] = [s.to_json() for s in self.steps]
        out["entries"] = [e.to_json() for e in self.entries]
        return plain(out)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CampaignCursor:
        if data.get("format") != CURSOR_FORMAT:
            raise CampaignCursorError(f"unknown campaign cursor format {data.get('format')!r}")
        known, extra = split_fields(cls, data)
        known.pop("format", None)
        known["steps"] = [StepRecord.from_json(s) for s in known.get("steps", [])]
        known["entries"] = [MeasurementEntry.from_json(e) for e in known.get("entries", [])]
        return cls(**known, extra=extra)



__all__ = ["CURSOR_FORMAT", "CURSOR_NAME", "CampaignCursor", "CampaignCursorError",
           "MeasurementEntry", "STATES", "StepRecord", "now", "peek"]
