"""Calling the optional display callbacks of runs and wafer runs.

A callback (status line, progress bar, plot) is the caller's; an error in it must never stop a
measurement, so it is logged and the run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def notify(callback: Callable[..., Any] | None, *args: Any, what: str = "callback") -> None:
    """Call ``callback(*args)`` if it is set; log (never raise) what it raises."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:  # a display problem must never stop a measurement
        log.exception("%s callback failed", what)
