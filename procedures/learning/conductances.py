"""Analog conductances on 1T1R cells (``mcmc-bayes``, the researcher API's ConductanceCells).

:class:`ChipConductances` programs one 1T1R cell to a conductance by RESET then SET at a chosen
compliance (the calibration, :class:`~procedures.learning.mcmc.Calibration`, says which
compliance centres the new conductance on a target); the cycle-to-cycle spread of the device is
the randomness. The read after the RESET checks that the device left LRS (stuck devices are
reported and excluded). Every operation is counted in a
:class:`~procedures.learning.synapses.SynapseCounters`; wear is the RESETs counted.
"""

from __future__ import annotations

import logging

from procedures.learning.synapses import (
    STUCK_RATIO,
    DeviceProgram,
    StopCheck,
    SynapseCounters,
    form_device,
)
from procedures.operations.cell_io import CellIO
from procedures.operations.programming import FORMED_CONDUCTANCE_SIEMENS, reset_cell, set_cell

log = logging.getLogger(__name__)


class ChipConductances:
    """1T1R cells of the contacted die programmed to conductances by RESET then SET.

    Args:
        io: cell operations of the open bench.
        program: bias conditions (``set_compliance`` is replaced by the compliance asked for).
        form_first: form unformed cells before their first use.
    """

    name = "chip"

    def __init__(self, io: CellIO, program: DeviceProgram, form_first: bool = True) -> None:
        self.io = io
        self.prog = program
        self.form_first = form_first
        self.counters = SynapseCounters()
        self.failed: set[tuple[int, int]] = set()
        self._formed: set[tuple[int, int]] = set()
        self.last_g: dict[tuple[int, int], float] = {}

    def ensure_formed(self, row: int, col: int, should_stop: StopCheck | None = None) -> bool:
        """Form cell (row, col) if it reads unformed; False if it does not form (marked failed)."""
        if (row, col) in self._formed:
            return True
        if (row, col) in self.failed:
            return False
        self.io.select("1T1R", row, col)
        self.counters.reads += 1
        g = self.io.read(self.prog.v_read, self.prog.v_wl_read).conductance
        if g < FORMED_CONDUCTANCE_SIEMENS:
            if not self.form_first:
                raise RuntimeError(f"1T1R cell ({row},{col}) is unformed; set form_first")
            if form_device(self.io, self.prog, should_stop) is None:
                if should_stop is not None and should_stop():
                    return False
                self._mark_failed(row, col, "did not form")
                return False
            self.counters.devices_formed += 1
        self._formed.add((row, col))
        return True

    def _mark_failed(self, row: int, col: int, why: str) -> None:
        log.warning("1T1R cell (%d,%d) failed: %s; excluded", row, col, why)
        self.failed.add((row, col))
        self.counters.device_failures += 1
        self.counters.failed_devices.append((row, col, why))

    def program(self, row: int, col: int, compliance: float) -> float | None:
        """RESET then SET cell (row, col) at ``compliance`` (A); returns the read G (S).

        A RESET that leaves the cell above ``g_hrs_max`` *and* above ``STUCK_RATIO`` of its
        conductance before the RESET did not switch; if a second, deeper RESET
        (``v_reset_retry``) does not switch it either, the cell is stuck in LRS (the endurance
        failure): it is marked failed and None is returned (also for a cell already marked
        failed). A partial RESET (clearly lower G) is accepted: the
        SET after it draws a fresh LRS anyway.
        """
        if (row, col) in self.failed:
            return None
        p = self.prog
        c = self.counters
        self.io.select("1T1R", row, col)
        g_before = self.last_g.get((row, col))
        if g_before is None:
            g_before = self.io.read(p.v_read, p.v_wl_read).conductance
            c.reads += 1
        biases = ((p.v_reset, p.v_wl_reset), (p.v_reset_retry, p.v_wl_reset_retry))
        for attempt, (v_sl, v_wl) in enumerate(biases):
            r = reset_cell(self.io, v_sl, v_wl, p.reset_compliance, v_read=p.v_read,
                           v_wl_read=p.v_wl_read)
            c.device_programs += 1
            c.resets += 1
            c.reads += 1
            g = r.conductance
            if g <= p.g_hrs_max or g < STUCK_RATIO * g_before:
                break
            if attempt == 1:
                self._mark_failed(row, col, f"stuck in LRS ({g * 1e6:.1f} uS after RESET)")
                return None
            c.retries += 1
        r = set_cell(self.io, p.v_set, p.v_wl_set, float(compliance), v_read=p.v_read,
                     v_wl_read=p.v_wl_read)
        c.device_programs += 1
        c.reads += 1
        self.last_g[(row, col)] = float(r.conductance)
        return float(r.conductance)

    def wear(self) -> int:
        """Cycles added by this run, from the operations counted (one per RESET)."""
        return self.counters.resets


__all__ = ["ChipConductances"]
