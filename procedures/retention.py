"""Retention bake: hold the chuck at a temperature and read programmed cells at log-spaced times.

Sequence:

1. the runner contacts the die; ``startup`` separates the chuck, sets the heater to
   ``temperature_c`` and waits until the prober reports it ready (reached and soaked), then
   contacts again (the chuck never changes temperature in contact);
2. optionally forms unformed cells (``form_first``) and programs the cells (``program``):
   ``program_state`` ``split`` SETs the even-indexed target cells and RESETs the odd ones, ``LRS``
   or ``HRS`` programs them all alike (quasi-static sweeps, see ``procedures.iv_cycling``);
3. reads every cell at t = 0 and at ``points`` log-spaced times from ``first_read_s`` to
   ``duration_s`` (seconds after programming). Waiting uses :func:`procedures.cell_io.wait`: on
   the simulated bench it advances the lab clock (the devices age at the chuck temperature), on a
   real bench it sleeps while watching for an abort.

The chuck is left at ``temperature_c`` (the operator decides when to cool down) and separated by
the runner. Rows carry the chuck temperature read from the prober for every read. The summary
gives, per programmed state, the median relative conductance change from t = 0 to the last read.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
)

from instruments.limits import SafetyLimits
from procedures.base import BenchProcedure
from procedures.cell_io import bench_clock, wait
from procedures.extract import finite_or_none, median, relative_change
from procedures.forming import FORMED_CONDUCTANCE_S
from procedures.iv_cycling import (
    FormingRamp,
    SwitchBias,
    UnformedCellError,
    form_cell,
    reset_cell,
    set_cell,
)
from procedures.parameter_sets import DCProgramParameters

log = logging.getLogger(__name__)

STATE_HRS = 0
STATE_LRS = 1
STATE_UNKNOWN = -1

HEATER_POLL_S = 5.0
"""s between heater status polls while waiting for the chuck temperature."""
TEMPERATURE_TOLERANCE_C = 2.0
"""C. The chuck counts as at temperature when the prober reports ready and within this."""


class RetentionProcedure(DCProgramParameters, BenchProcedure):
    """Conductance retention of programmed cells at a chuck temperature."""

    NAME = "retention"

    temperature_c = FloatParameter("Chuck temperature", units="C", default=150.0, minimum=-60,
                                   maximum=400)
    duration_s = FloatParameter("Duration", units="s", default=1e4, minimum=1e-3, maximum=1e8)
    points = IntegerParameter("Read points", default=10, minimum=1, maximum=500)
    first_read_s = FloatParameter("First read after", units="s", default=1.0, minimum=1e-3,
                                  maximum=1e6)
    heater_timeout_s = FloatParameter("Heater timeout", units="s", default=7200.0, minimum=1,
                                      maximum=1e5)
    program = BooleanParameter("Program cells first", default=True)
    program_state = ListParameter("Programmed state", choices=["split", "LRS", "HRS"],
                                  default="split")
    lrs_threshold = FloatParameter("LRS threshold", units="S", default=30e-6, minimum=1e-9,
                                   maximum=1e-2)
    v_read = FloatParameter("Read voltage", units="V", default=0.1, minimum=0.01, maximum=0.5)
    v_wl_read = FloatParameter("Read word-line voltage", units="V", default=2.5, minimum=0,
                               maximum=5)
    form_first = BooleanParameter("Form unformed cells first", default=False)

    DATA_COLUMNS = [
        "Time (s)", "Temperature (C)", "Point", "Cell row", "Cell col", "State",
        "Current (A)", "Conductance (S)",
    ]

    # -- configuration ------------------------------------------------------------------------
    def read_times(self) -> np.ndarray:
        """Read times (s after programming): 0, then ``points`` log-spaced up to the duration."""
        first = min(self.first_read_s, self.duration_s)
        times = np.geomspace(first, self.duration_s, int(self.points))
        return np.concatenate([[0.0], times])

    def set_bias(self) -> SwitchBias:
        """The SET programming sweep."""
        return SwitchBias(self.set_stop, self.v_wl_set, self.set_compliance)

    def reset_bias(self) -> SwitchBias:
        """The RESET programming sweep."""
        return SwitchBias(self.reset_stop, self.v_wl_reset, self.reset_compliance)

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        limits.check_temperature(self.temperature_c, "temperature_c")
        if self.array != "1T1R":
            raise ValueError("retention runs on the 1T1R array (array = 1T1R)")
        limits.check_voltage("BL", self.v_read, "v_read")
        limits.check_voltage("WL", self.v_wl_read, "v_wl_read")
        limits.check_compliance(1e-3, self.v_read, volts_name="v_read")
        if self.program:
            self.set_bias().check(limits, "BL")
            self.reset_bias().check(limits, "SL")
        if self.form_first:
            FormingRamp().check(limits)

    def planned_states(self) -> list[int]:
        """State each target cell is programmed to (STATE_LRS/STATE_HRS), in target order."""
        n = len(self.target_cells())
        if self.program_state == "LRS":
            return [STATE_LRS] * n
        if self.program_state == "HRS":
            return [STATE_HRS] * n
        return [STATE_LRS if k % 2 == 0 else STATE_HRS for k in range(n)]

    # -- run ----------------------------------------------------------------------------------
    def startup(self) -> None:
        self.g_start: dict[tuple[int, int], float] = {}
        self.g_last: dict[tuple[int, int], float] = {}
        self.states: dict[tuple[int, int], int] = {}
        self.temperatures: list[float] = []
        self.elapsed_s = 0.0
        self.points_done = 0
        if self.bench is None:
            return
        self._reach_temperature()
        if self.should_stop():
            return
        self.bench.prober.contact()

    def _reach_temperature(self) -> None:
        """Separate, set the heater and wait until ready (abort honoured while waiting)."""
        prober = self.bench.prober
        prober.separate()
        prober.set_heater_temp(self.temperature_c)
        t_end = bench_clock(self.bench) + self.heater_timeout_s
        while True:
            state = prober.heater()
            near = abs(state.temperature - self.temperature_c) <= TEMPERATURE_TOLERANCE_C
            if near and state.status.upper().startswith("R"):
                log.info("chuck at %.1f C", state.temperature)
                return
            if bench_clock(self.bench) > t_end:
                raise TimeoutError(
                    f"chuck not ready at {self.temperature_c:g} C after "
                    f"{self.heater_timeout_s:g} s (now {state.temperature:g} C, "
                    f"status {state.status!r})"
                )
            if not wait(self.bench, HEATER_POLL_S, self.should_stop):
                return

    def execute(self) -> None:
        io = self.io
        cells = self.target_cells()
        if self.program:
            self._program(cells)
            if self.should_stop():
                return
        times = self.read_times()
        t0 = bench_clock(self.bench)
        for point, t_target in enumerate(times):
            if not wait(self.bench, t_target - (bench_clock(self.bench) - t0), self.should_stop):
                return
            for row, col in cells:
                if self.should_stop():
                    return
                io.select(self.array, row, col)
                r = io.read(self.v_read, self.v_wl_read)
                t = bench_clock(self.bench) - t0
                temp = float(self.bench.prober.heater().temperature)
                g = r.conductance
                if point == 0:
                    self.g_start[(row, col)] = g
                    if (row, col) not in self.states:
                        self.states[(row, col)] = (
                            STATE_LRS if g >= self.lrs_threshold else STATE_HRS
                        )
                self.g_last[(row, col)] = g
                self.temperatures.append(temp)
                self.elapsed_s = t
                self.emit("results", {
                    "Time (s)": t, "Temperature (C)": temp, "Point": point,
                    "Cell row": row, "Cell col": col, "State": self.states[(row, col)],
                    "Current (A)": r.current, "Conductance (S)": g,
                })
            self.points_done = point + 1
            self.progress((point + 1) / len(times))

    def _program(self, cells: list[tuple[int, int]]) -> None:
        """Form (if allowed) and program every target cell to its planned state."""
        io = self.io
        for (row, col), state in zip(cells, self.planned_states(), strict=True):
            if self.should_stop():
                return
            io.select(self.array, row, col)
            if io.read(self.v_read, self.v_wl_read).conductance < FORMED_CONDUCTANCE_S:
                if not self.form_first:
                    raise UnformedCellError(
                        f"cell ({row},{col}) reads below {FORMED_CONDUCTANCE_S * 1e6:g} uS "
                        "(unformed); form it first or set form_first"
                    )
                if form_cell(io, FormingRamp(), self.should_stop) is None:
                    log.warning("cell (%d,%d) did not form", row, col)
                    continue
            if state == STATE_LRS:
                reset_cell(io, self.reset_bias())  # a full cycle: the SET starts from HRS
                set_cell(io, self.set_bias())
            else:
                reset_cell(io, self.reset_bias())
            self.states[(row, col)] = state

    # -- results --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        g0: dict[tuple[int, int], float] = getattr(self, "g_start", {})
        g1: dict[tuple[int, int], float] = getattr(self, "g_last", {})
        states: dict[tuple[int, int], int] = getattr(self, "states", {})
        temps = getattr(self, "temperatures", [])
        out: dict[str, Any] = {
            "temperature_c": finite_or_none(float(np.mean(temps))) if temps else None,
            "set_point_c": float(self.temperature_c),
            "elapsed_s": float(getattr(self, "elapsed_s", 0.0)),
            "points_done": int(getattr(self, "points_done", 0)),
            "cells": len(g0),
        }
        for name, code in (("lrs", STATE_LRS), ("hrs", STATE_HRS)):
            keys = [k for k in g0 if states.get(k) == code and k in g1]
            if not keys:
                continue
            a = np.array([g0[k] for k in keys])
            b = np.array([g1[k] for k in keys])
            drift = relative_change(a, b)
            out[f"n_{name}"] = len(keys)
            out[f"g_{name}_start"] = finite_or_none(float(np.median(a)))
            out[f"g_{name}_end"] = finite_or_none(float(np.median(b)))
            out[f"drift_{name}"] = finite_or_none(median(drift))
        return out


__all__ = ["RetentionProcedure", "STATE_HRS", "STATE_LRS", "STATE_UNKNOWN"]
