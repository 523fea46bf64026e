"""Round trips counted on the driver side: every command line an instrument driver sends.

On GPIB, USB or a socket each line is one transaction whose turnaround the instrument's own
work cannot hide (``instruments/sim/timing.py``: ~0.5 ms per B1500 line on a GPIB gateway); a
query's reply belongs to the line that asked for it. :class:`RoundTripCounter` goes first in a
pymeasure instrument's bases and counts :meth:`write` (pymeasure's ``ask`` and ``values`` write
through it). :meth:`instruments.bench.Bench.round_trips` adds the instruments up; a run's
summary carries the difference (``round_trips``).
"""

from __future__ import annotations

import threading
from typing import Any


class RoundTripCounter:
    """Mixin of a pymeasure ``Instrument``: ``round_trips`` counts the lines written."""

    round_trips: int = 0
    _round_trip_lock = threading.Lock()

    def write(self, command: str, **kwargs: Any) -> None:
        """Count the line, then send it as the next class in the MRO does."""
        with self._round_trip_lock:
            self.round_trips += 1
        super().write(command, **kwargs)  # type: ignore[misc]


def count_of(instrument: object) -> int:
    """Lines ``instrument`` has sent (0 for a driver without a counter, or None)."""
    return int(getattr(instrument, "round_trips", 0) or 0)


__all__ = ["RoundTripCounter", "count_of"]
