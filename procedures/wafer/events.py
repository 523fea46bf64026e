"""What a wafer run tells its caller: callbacks, progress, the end of a die and of the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instruments.wafermap import DieIndex
from procedures.framework.runner import RunCallbacks


@dataclass(frozen=True)
class DieResult:
    """How a die ended: bin, pass/fail, figures."""

    die: DieIndex
    bin_code: int
    bin_name: str
    passed: bool
    color: str
    figures: dict[str, Any]
    error: str = ""


@dataclass(frozen=True)
class WaferProgress:
    """Progress of a wafer run.

    Attributes:
        dies_done, dies_total: finished dies and dies in the route.
        fraction: 0..1 including the part of the current die already measured.
        die: the die being measured (None between dies).
        elapsed_s: wall time of this session, s. eta_s: bench time left, s (None unknown): this
            session's bench time (modeled on the twin) per fraction done x what remains.
    """

    dies_done: int
    dies_total: int
    fraction: float
    die: DieIndex | None
    elapsed_s: float
    eta_s: float | None


@dataclass
class WaferCallbacks:
    """Hooks called from the thread running the wafer (a GUI re-emits them as Qt signals).

    ``run`` is passed on to every procedure run (live rows, progress of the run).
    """

    on_die_started: Callable[[DieIndex, int, int], None] | None = None
    on_die_finished: Callable[[DieResult], None] | None = None
    on_progress: Callable[[WaferProgress], None] | None = None
    on_status: Callable[[str], None] | None = None
    run: RunCallbacks | None = None


@dataclass
class WaferOutcome:
    """How a wafer run ended (``state``: completed, aborted, paused, failed)."""

    state: str
    out_dir: Path
    dies_done: int
    dies_total: int
    yield_counts: dict[str, Any]
    error: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    preflight_failed: bool = False


__all__ = ["DieResult", "WaferCallbacks", "WaferOutcome", "WaferProgress"]
