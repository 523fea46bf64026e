"""Endurance: SET/RESET pulse cycling with reads at log-spaced cycle numbers (WGFMU).

For each target cell, cycles run until ``cycles`` or failure. A cycle is a SET pulse
(``set_amplitude`` on BL, gate ``v_wl_set``) followed by a RESET pulse (``reset_amplitude`` on
SL, gate ``v_wl_reset``). The cycles with a read (cycle numbers 1, 2, 5, 10, 20, 50, ... for
``reads_per_decade`` 3, and the last cycle) run as SET, read, RESET, read in one execute:
R_LRS is read after the SET, R_HRS after the RESET (``v_read`` on BL, WL ``v_wl_read``). The
cycles in between run as one WGFMU sequence per chunk (``add_sequence(count=n)`` of a one-cycle
pattern on BL, SL and WL), at most ``max_chunk`` cycles and about 0.5 s of pulsing per execute,
with ``should_stop`` checked between chunks. On the simulated bench such a chunk (exactly one
SET and one RESET per period, no measure event, the gates from the WL channel) takes the
simulator's fast path (``Chip.cycle``), so 1e6 cycles take seconds; the run logs whether the
pattern qualifies.

Memory stays bounded: nothing is stored per cycle, rows are emitted only at read points.

Failure: the window is closed when R_HRS / R_LRS < ``min_ratio`` at ``fail_reads`` consecutive
reads; the cell is stuck when the ratio falls below ``stuck_ratio`` at a single read (stuck LRS
or stuck HRS, see :meth:`EnduranceProcedure.failure_mode`). With ``stop_on_failure`` the
cell's cycling ends there. The cycle of failure is the first read of the run of low reads
(ratio below ``min_ratio``) that met the failure criterion, None for a cell that did not fail;
``first_low_read`` is the first read with a ratio below ``min_ratio`` at all.

The default ``min_ratio`` of 2 sits well below the typical window (R_HRS/R_LRS ~7 with the
default pulses) and its cycle-to-cycle tail (the HRS spreads lognormally, sigma ~0.44 in ln R;
~1 % of reads fall below 2.3), so two consecutive reads below it mean the window is closing
rather than one unlucky RESET.

Rows: cell, cycle (cycles completed including the read cycle), R_LRS (ohm), R_HRS (ohm), ratio.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pymeasure.experiment import BooleanParameter, FloatParameter, IntegerParameter

from instruments.limits import SafetyLimits
from procedures.data.extract import finite_or_none, median, read_resistance
from procedures.operations.pulsing import CellPulse, PulsedProcedure, PulseSession, build_program

log = logging.getLogger(__name__)

CHUNK_WALL_S = 0.5
"""s. Pulsing time of one chunk on a real bench (should_stop is checked between chunks)."""
FALLBACK_CHUNK_CYCLES = 20
"""Chunk cap when WL has no WGFMU channel (two executes and two WL SMU changes per cycle)."""


def read_cycles(total: int, per_decade: int = 3) -> Iterator[int]:
    """Cycle numbers with a read: 1, 2, 5, 10, 20, ... (``per_decade`` 3), ending at ``total``.

    Other ``per_decade`` values give log-spaced numbers (rounded, strictly increasing). A lazy
    generator: nothing is allocated per cycle.
    """
    total = int(total)
    if total < 1:
        return
    if per_decade == 3:
        mantissas = [1.0, 2.0, 5.0]
    else:
        mantissas = [10 ** (k / per_decade) for k in range(per_decade)]
    last = 0
    decade = 1
    while True:
        for m in mantissas:
            c = int(round(m * decade))
            if c >= total:
                yield total
                return
            if c > last:
                last = c
                yield c
        decade *= 10


@dataclass
class CellRecord:
    """Endurance figures of one cell (resistances in ohm)."""

    row: int
    col: int
    cycles_done: int = 0
    cycle_of_failure: int | None = None
    failure_mode: str | None = None
    r_lrs_start: float = float("nan")
    r_hrs_start: float = float("nan")
    r_lrs_end: float = float("nan")
    r_hrs_end: float = float("nan")
    first_low_read: int | None = None
    streak_start: int | None = None
    low_reads: int = 0
    reads: int = 0
    #: every chunk ran as one repeated SET/RESET sequence per execute (the fast cycling path)
    fast_path: bool = False

    @property
    def on_off(self) -> float:
        """R_HRS / R_LRS of the last read."""
        return _ratio(self.r_hrs_end, self.r_lrs_end)

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON figures for the summary."""
        return {
            "row": self.row, "col": self.col, "cycles_done": self.cycles_done,
            "cycle_of_failure": self.cycle_of_failure, "failure_mode": self.failure_mode,
            "first_low_read": self.first_low_read,
            "on_off": finite_or_none(self.on_off),
            "r_lrs_start": finite_or_none(self.r_lrs_start),
            "r_hrs_start": finite_or_none(self.r_hrs_start),
            "r_lrs_end": finite_or_none(self.r_lrs_end),
            "r_hrs_end": finite_or_none(self.r_hrs_end),
            "fast_path": self.fast_path,
        }


def _ratio(r_hrs: float, r_lrs: float) -> float:
    if not (math.isfinite(r_lrs) and r_lrs > 0) or math.isnan(r_hrs):
        return float("nan")
    return r_hrs / r_lrs


class EnduranceProcedure(PulsedProcedure):
    """SET/RESET pulse endurance with log-spaced R_LRS/R_HRS reads (WGFMU)."""

    NAME = "endurance"

    cycles = IntegerParameter("Cycles", default=1_000_000, minimum=1, maximum=10**12)
    set_amplitude = FloatParameter("SET amplitude (BL)", units="V", default=1.5, minimum=0.1,
                                   maximum=10)
    v_wl_set = FloatParameter("SET gate", units="V", default=1.2, minimum=0, maximum=5)
    reset_amplitude = FloatParameter("RESET amplitude (SL)", units="V", default=2.2,
                                     minimum=0.1, maximum=10)
    v_wl_reset = FloatParameter("RESET gate", units="V", default=2.8, minimum=0, maximum=5)
    reads_per_decade = IntegerParameter("Reads per decade", default=3, minimum=1, maximum=20)
    min_ratio = FloatParameter("Minimum R_HRS/R_LRS", default=2.0, minimum=1.0, maximum=1e6)
    fail_reads = IntegerParameter("Consecutive reads below the minimum ratio", default=2,
                                  minimum=1, maximum=100)
    stuck_ratio = FloatParameter("Stuck ratio", default=1.2, minimum=1.0, maximum=1e3)
    stop_on_failure = BooleanParameter("Stop a cell at failure", default=True)
    max_chunk = IntegerParameter("Cycles per execute", default=100_000, minimum=1,
                                 maximum=10_000_000)

    DATA_COLUMNS = ["Cell row", "Cell col", "Cycle", "R_LRS (ohm)", "R_HRS (ohm)", "Ratio"]
    HISTORY_COLUMNS = tuple(DATA_COLUMNS)  # checkpoints per cell, also in the run's HDF5

    # -- configuration ------------------------------------------------------------------------
    def set_pulse(self) -> CellPulse:
        """The cycle's SET pulse."""
        return self.cell_pulse("set", self.set_amplitude, self.v_wl_set)

    def reset_pulse(self) -> CellPulse:
        """The cycle's RESET pulse."""
        return self.cell_pulse("reset", self.reset_amplitude, self.v_wl_reset)

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        for what, pulse in (("SET (set_amplitude/v_wl_set)", self.set_pulse()),
                            ("RESET (reset_amplitude/v_wl_reset)", self.reset_pulse())):
            try:
                pulse.check(limits)
            except ValueError as exc:
                raise type(exc)(f"{what}: {exc}") from None
        if self.stuck_ratio > self.min_ratio:
            raise ValueError(f"stuck_ratio ({self.stuck_ratio}) must not exceed min_ratio "
                             f"({self.min_ratio})")

    def chunk_limit(self, session: PulseSession) -> tuple[int, bool]:
        """Cycles per execute and whether a chunk is one repeated SET/RESET sequence.

        The same on every bench: chunks of at most ``CHUNK_WALL_S`` of pulsing (and
        ``max_chunk`` cycles), or ``FALLBACK_CHUNK_CYCLES`` when WL has no WGFMU channel.
        """
        steps = [self.set_pulse(), self.reset_pulse()]
        cap = int(self.max_chunk)
        if not session.wl_driven:
            log.warning("WL has no WGFMU channel: every cycle needs two executes and two WL SMU "
                        "changes (slow); chunks of at most %d cycles", FALLBACK_CHUNK_CYCLES)
            return min(cap, FALLBACK_CHUNK_CYCLES), False
        one_sequence = session.repeats_as_one_sequence(steps)
        period = build_program(steps).duration
        return max(1, min(cap, int(CHUNK_WALL_S / period))), one_sequence

    # -- run ----------------------------------------------------------------------------------
    def startup(self) -> None:
        self.records: dict[tuple[int, int], CellRecord] = {}
        self.v_forms: dict[tuple[int, int], float] = {}

    def execute(self) -> None:
        cells, self.v_forms = self.ready_cells(self.target_cells())
        with self.pulse_session() as session:
            chunk, fast = self.chunk_limit(session)
            for k, (row, col) in enumerate(cells):
                if self.should_stop():
                    return
                self.io.select(self.array, row, col)
                rec = CellRecord(row, col, fast_path=fast)
                self.records[(row, col)] = rec
                if not self._cycle_cell(session, rec, chunk, k, len(cells)):
                    return

    def _cycle_cell(self, session: PulseSession, rec: CellRecord, chunk: int, k: int,
                    n_cells: int) -> bool:
        """Cycle one cell to ``cycles`` or failure; False when stopped."""
        set_, reset, read = self.set_pulse(), self.reset_pulse(), self.read_pulse()
        total = int(self.cycles)
        log_total = math.log10(total + 1)
        for rc in read_cycles(total, int(self.reads_per_decade)):
            todo = rc - 1 - rec.cycles_done
            while todo > 0:
                if self.should_stop():
                    return False
                n = min(todo, chunk)
                data = session.run([set_, reset], repeat=n, should_stop=self.should_stop)
                rec.cycles_done += data.repeats
                todo -= data.repeats
                self.progress((k + math.log10(rec.cycles_done + 1) / log_total) / n_cells)
                if data.repeats < n:
                    return False
            if self.should_stop():
                return False
            data = session.run([set_, read, reset, read])
            rec.cycles_done += 1
            r_lrs = read_resistance(read.v_read, data.steps[1].current)
            r_hrs = read_resistance(read.v_read, data.steps[3].current)
            if rec.reads == 0:
                rec.r_lrs_start, rec.r_hrs_start = r_lrs, r_hrs
            rec.r_lrs_end, rec.r_hrs_end = r_lrs, r_hrs
            rec.reads += 1
            ratio = _ratio(r_hrs, r_lrs)
            self.emit("results", {
                "Cell row": rec.row, "Cell col": rec.col, "Cycle": rec.cycles_done,
                "R_LRS (ohm)": r_lrs, "R_HRS (ohm)": r_hrs, "Ratio": ratio,
            })
            self.progress((k + math.log10(rec.cycles_done + 1) / log_total) / n_cells)
            self._judge(rec, ratio, r_lrs, r_hrs)
            if rec.failure_mode is not None and self.stop_on_failure:
                log.info("cell (%d,%d) failed (%s) at cycle %d", rec.row, rec.col,
                         rec.failure_mode, rec.cycles_done)
                return True
        return True

    def _judge(self, rec: CellRecord, ratio: float, r_lrs: float, r_hrs: float) -> None:
        """Update the failure state of ``rec`` with one read (first failure only)."""
        low = not ratio >= self.min_ratio
        if low and rec.first_low_read is None:
            rec.first_low_read = rec.cycles_done
        if low and rec.low_reads == 0:
            rec.streak_start = rec.cycles_done
        rec.low_reads = rec.low_reads + 1 if low else 0
        if rec.failure_mode is not None:
            return
        if not ratio >= self.stuck_ratio:
            rec.failure_mode = self.failure_mode(r_lrs, r_hrs)
            rec.cycle_of_failure = rec.streak_start
        elif rec.low_reads >= self.fail_reads:
            rec.failure_mode = "window closed"
            rec.cycle_of_failure = rec.streak_start

    @staticmethod
    def failure_mode(r_lrs: float, r_hrs: float) -> str:
        """``"stuck LRS"`` if even the RESET read is low-ohmic (< 50 kohm), else ``"stuck HRS"``.

        50 kohm sits between a typical LRS (5-20 kohm) and HRS (70 kohm-1 Mohm, physics.md).
        """
        return "stuck LRS" if r_hrs < 50e3 else "stuck HRS"

    # -- results --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        recs = list(getattr(self, "records", {}).values())
        failed = [r for r in recs if r.failure_mode is not None]
        out: dict[str, Any] = {
            "cells": len(recs),
            "cycles_done": int(median([r.cycles_done for r in recs])) if recs else 0,
            "cycle_of_failure": (finite_or_none(median([r.cycle_of_failure for r in failed]))
                                 if failed else None),
            "cells_failed": len(failed),
            "on_off": finite_or_none(median([r.on_off for r in recs])),
            "r_lrs_start": finite_or_none(median([r.r_lrs_start for r in recs])),
            "r_hrs_start": finite_or_none(median([r.r_hrs_start for r in recs])),
            "r_lrs_end": finite_or_none(median([r.r_lrs_end for r in recs])),
            "r_hrs_end": finite_or_none(median([r.r_hrs_end for r in recs])),
            "fast_path": all(r.fast_path for r in recs) if recs else None,
            "cells_formed_first": len(getattr(self, "v_forms", {})),
            "per_cell": [r.as_dict() for r in recs],
        }
        return out


__all__ = ["CellRecord", "EnduranceProcedure", "read_cycles"]
