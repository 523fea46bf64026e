"""Command-line progress bars (tqdm) for ``memprobe run`` and ``memprobe wafer``.

No Qt. Written to stderr (stdout keeps the machine-readable result lines). A procedure run
reports only its percentage; its ETA is the bench time left
(:class:`procedures.framework.eta.BenchEta`: bench time per percent so far x what remains,
modeled on the twin), or without one tqdm's average-rate estimate over the session
(``smoothing=0``: elapsed x remaining / done). A wafer run estimates its own time left
(:class:`~procedures.wafer.events.WaferProgress` ``eta_s``, from the part of the route this
session has measured, a resumed run starting part-way); the bar shows that estimate, not a
rate of its own.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm import tqdm


def _clock(seconds: float | None) -> str:
    """``mm:ss`` (``h:mm:ss`` past an hour), ``--:--`` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "--:--"
    return tqdm.format_interval(int(seconds))


class _Bar:
    """What both bars share: the label, the start time and the end."""

    label: str
    t0: float
    _bar: tqdm

    def finish(self, status: str) -> None:
        """Close the bar (its last state stays) and print the final status line."""
        stream = self._bar.fp
        self._bar.refresh()
        self._bar.close()
        stream.write(f"{self.label}: {status} in {time.monotonic() - self.t0:.1f} s\n")
        stream.flush()


class ProgressBar(_Bar):
    """A procedure run's bar: ``update(percent)`` 0..100, then ``finish(status)``
    (``mininterval``: least time between redraws, s).

    With ``eta`` (a :class:`procedures.framework.eta.BenchEta`, or anything with
    ``remaining_s(percent)``) the ETA is the bench time left (modeled on the twin); without,
    tqdm's wall-time rate over the session."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30,
                 mininterval: float = 0.1, eta: Any = None) -> None:
        self.label = label
        self.t0 = time.monotonic()
        self._head = "{desc} |{bar:" + str(width) + "}| {percentage:5.1f} %  "
        self._bar = tqdm(total=100.0, desc=label, file=stream or sys.stderr,
                         smoothing=0, mininterval=mininterval, leave=True, dynamic_ncols=True,
                         unit=_clock(None), bar_format=self._head + "ETA {remaining}")
        self.eta: Any = None
        if eta is not None:
            self.use_eta(eta)

    def use_eta(self, eta: Any) -> None:
        """Show the bench time left by ``eta`` (``remaining_s(percent)``) from now on."""
        self.eta = eta
        self._bar.bar_format = self._head + "ETA {unit}"

    def update(self, percent: float) -> None:
        """Move to ``percent`` (0..100)."""
        p = min(100.0, max(0.0, float(percent)))
        if self.eta is not None:
            self._bar.unit = f"{_clock(self.eta.remaining_s(p))} (bench)"
        self._bar.update(p - self._bar.n)



class WaferProgressBar(_Bar):
    """A wafer run's bar: dies done of the route, the fraction including the die being measured,
    and the ETA the run estimates."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30,
                 mininterval: float = 0.1) -> None:
        self.total = total
        self.label = f"wafer 0/{total} dies"
        self.t0 = time.monotonic()
        self._bar = tqdm(total=float(total), desc="wafer", file=stream or sys.stderr,
                         mininterval=mininterval, leave=True, dynamic_ncols=True,
                         unit=f"ETA {_clock(None)}",
                         bar_format="{desc} |{bar:" + str(width) + "}| {percentage:5.1f} %  "
                                    "{unit}")

    def show(self, done: int, fraction: float, eta_s: float | None) -> None:
        """``done`` dies of ``total``, ``fraction`` 0..1 of the route, the run's ETA in s
        (None unknown)."""
        self.label = f"wafer {done}/{self.total} dies"
        self._bar.set_description_str(self.label, refresh=False)
        self._bar.unit = f"ETA {_clock(eta_s)}"  # shown as is: the run's estimate
        self._bar.n = min(1.0, max(0.0, fraction)) * self.total
        self._bar.refresh()  # called a few times per die: every call is shown



__all__ = ["ProgressBar", "WaferProgressBar"]
