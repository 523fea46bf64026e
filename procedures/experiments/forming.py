"""Forming: compliance-limited voltage staircase on BL until the current jumps, then ramp down.

For each target cell: read it first (an already formed cell is refused unless ``force`` is set),
then raise BL from ``v_start`` to ``v_stop`` in ``v_step`` steps with SL at 0 V and the word
line at ``v_wl``, measuring the BL current at every step. Forming is detected when the current
reaches ``jump_fraction`` x ``compliance`` (or the SMU reports compliance); V_form is the BL
voltage of that step. BL is then ramped back to 0 V and the cell is read at ``v_read``.
Reference: physics.md, "Measurement methods: forming"; V_form ~2.2-3.1 V for 1 us pulses.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pymeasure.experiment import BooleanParameter, FloatParameter

from instruments.limits import SafetyLimits
from procedures.framework.base import BenchProcedure
from procedures.operations import programming

log = logging.getLogger(__name__)

#: the old name of :data:`~procedures.operations.programming.FORMED_CONDUCTANCE_SIEMENS` (S),
#: kept while code in flight still imports it from here
FORMED_CONDUCTANCE_S = programming.FORMED_CONDUCTANCE_SIEMENS
_RAMP = programming.DEFAULT_RAMP


class FormingProcedure(BenchProcedure):
    """Forming of 1T1R cells by a compliance-limited staircase."""

    NAME = "forming"

    v_start = FloatParameter("Start voltage", units="V", default=_RAMP.v_start, minimum=0,
                             maximum=10)
    v_stop = FloatParameter("Stop voltage", units="V", default=_RAMP.v_stop, minimum=0.1,
                            maximum=10)
    v_step = FloatParameter("Voltage step", units="V", default=_RAMP.v_step, minimum=0.001,
                            maximum=1)
    compliance = FloatParameter("Compliance", units="A", default=_RAMP.compliance, minimum=1e-7,
                                maximum=10e-3)
    v_wl = FloatParameter("Word-line voltage", units="V", default=_RAMP.v_wl, minimum=0,
                          maximum=5)
    jump_fraction = FloatParameter("Jump threshold", units="x compliance",
                                   default=_RAMP.jump_fraction, minimum=0.05, maximum=1.0)
    v_read = FloatParameter("Read voltage", units="V", default=0.1, minimum=0.01, maximum=0.5)
    v_wl_read = FloatParameter("Read word-line voltage", units="V", default=2.5, minimum=0,
                               maximum=5)
    ramp_down_step = FloatParameter("Ramp-down step", units="V", default=_RAMP.ramp_down_step,
                                    minimum=0.01, maximum=2)
    force = BooleanParameter("Re-form formed cells", default=False)

    DATA_COLUMNS = [
        "Cell row", "Cell col", "Step", "Direction", "Voltage (V)", "Current (A)", "Compliance",
    ]

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        if self.v_start >= self.v_stop:
            raise ValueError(f"v_start ({self.v_start} V) must be below v_stop ({self.v_stop} V)")
        limits.check_voltage("BL", self.v_stop, "v_stop")
        limits.check_voltage("BL", self.v_read, "v_read")
        limits.check_voltage("WL", self.v_wl, "v_wl")
        limits.check_voltage("WL", self.v_wl_read, "v_wl_read")
        limits.check_compliance(self.compliance, self.v_stop, "compliance", "v_stop")
        if self.array != "1T1R":
            # 2T2R devices are formed one side at a time through the same path; the pair
            # procedures (ber-2t2r) form both sides themselves.
            raise ValueError("forming runs on the 1T1R array (array = 1T1R)")

    def startup(self) -> None:
        self.v_forms: dict[tuple[int, int], float] = {}
        self.g_after: dict[tuple[int, int], float] = {}
        self.refused: list[tuple[int, int]] = []

    def execute(self) -> None:
        cells = self.target_cells()
        io = self.io
        for k, (row, col) in enumerate(cells):
            if self.should_stop():
                return
            io.select(self.array, row, col)
            before = io.read(self.v_read, self.v_wl_read)
            if before.conductance > programming.FORMED_CONDUCTANCE_SIEMENS and not self.force:
                log.warning("cell (%d,%d) is already formed (G = %.3g uS); skipped (set force to "
                            "re-form)", row, col, before.conductance * 1e6)
                self.refused.append((row, col))
                continue
            v_form = self._ramp(row, col)
            after = io.read(self.v_read, self.v_wl_read)
            self.g_after[(row, col)] = after.conductance
            if v_form is not None:
                self.v_forms[(row, col)] = v_form
            self.progress((k + 1) / len(cells))
        if self.refused and len(self.refused) == len(cells):
            raise RuntimeError(
                f"every target cell is already formed ({len(cells)}); set force=true to re-form"
            )

    def _ramp(self, row: int, col: int) -> float | None:
        """Staircase up until the jump, then down (always); returns V_form or None."""
        return programming.form_cell(
            self.io, v_stop=self.v_stop, v_step=self.v_step, compliance=self.compliance,
            v_wl=self.v_wl, jump_fraction=self.jump_fraction, should_stop=self.should_stop,
            v_start=self.v_start, ramp_down_step=self.ramp_down_step,
            on_step=lambda step, direction, v, r: self._row(
                row, col, step, direction, v, r.current, r.compliance),
        )

    def _row(self, row: int, col: int, step: int, direction: int, v: float, i: float,
             comp: bool) -> None:
        self.emit("results", {
            "Cell row": row, "Cell col": col, "Step": step, "Direction": direction,
            "Voltage (V)": v, "Current (A)": i, "Compliance": int(comp),
        })

    def summary(self) -> dict[str, Any]:
        v = np.array(list(getattr(self, "v_forms", {}).values()), dtype=float)
        g = np.array(list(getattr(self, "g_after", {}).values()), dtype=float)
        out: dict[str, Any] = {
            "cells_formed": int(v.size),
            "cells_tried": int(len(getattr(self, "g_after", {}))),
            "cells_refused": len(getattr(self, "refused", [])),
        }
        if v.size:
            out["v_form"] = float(np.median(v))
            out["v_form_values"] = [float(x) for x in v]
        if g.size:
            out["g_after_form"] = float(np.median(g))
            out["r_lrs"] = float(1.0 / np.median(g)) if np.median(g) > 0 else None
        return out
