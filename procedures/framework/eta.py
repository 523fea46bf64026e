"""Time left of a run on the bench clock (issue #13: ETAs from modeled time, not wall time).

:class:`BenchEta` measures the bench time (:meth:`instruments.bench.Bench.clock`: the modeled
lab clock on the twin, wall time on a lab bench) a run has spent per unit of progress and
multiplies it by what remains. On the twin with pacing off the run itself takes far less wall
time than this: the ETA states what the run would take on the real bench (with ``--pace`` both
agree). No Qt: the GUI's run controller, the wafer executor and the command line share it.
"""

from __future__ import annotations

import math

from instruments.bench_types import BenchInterface
from procedures.operations.cell_io import bench_clock


class BenchEta:
    """Bench seconds left of a run from its progress so far.

    ``start()`` when the run starts (it is called by the constructor too);
    :meth:`remaining_s` with the progress in percent (0..100) returns the estimate, NaN while
    nothing measurable has been done. A run resumed part-way (a wafer run) passes the progress
    it started from to ``start`` so that only this session's rate counts.
    """

    def __init__(self, bench: BenchInterface) -> None:
        self.bench = bench
        self.start()

    def start(self, percent0: float = 0.0) -> None:
        """Take the present bench time and ``percent0`` (%) as the reference."""
        self._t0 = bench_clock(self.bench)
        self._p0 = float(percent0)

    def elapsed_s(self) -> float:
        """Bench seconds since :meth:`start`."""
        return bench_clock(self.bench) - self._t0

    def remaining_s(self, percent: float) -> float:
        """Bench seconds left at ``percent`` % done (NaN unknown)."""
        gained = float(percent) - self._p0
        if not gained > 1e-9:
            return math.nan
        return max(0.0, self.elapsed_s() * (100.0 - float(percent)) / gained)


__all__ = ["BenchEta"]
