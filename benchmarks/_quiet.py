"""Logging of a benchmark script: only records at ``level`` and above reach the console."""

from __future__ import annotations

import logging


def quiet_logging(level: int = logging.WARNING) -> None:
    """Console logging at ``level``; a filter on every root handler as well, because pymeasure's
    worker resets its logger's level."""
    logging.basicConfig(level=level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda r: r.levelno >= level)
