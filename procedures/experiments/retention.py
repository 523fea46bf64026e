"""Retention bake: hold the chuck at a temperature and read programmed cells at log-spaced times.

Sequence:

1. the runner contacts the die; ``startup`` separates the chuck, sets the heater to
   ``temperature_c`` and waits until the prober reports it ready (reached and soaked), then
   contacts again (the chuck never changes temperature in contact);
2. optionally forms unformed cells (``form_first``) and programs the cells (``program``):
   ``program_state`` ``split`` SETs the even-indexed target cells and RESETs the odd ones, ``LRS``
   or ``HRS`` programs them all alike (quasi-static sweeps, see
   ``procedures.experiments.iv_cycling``);
3. reads every cell at t = 0 and at ``points`` log-spaced times from ``first_read_s`` to
   ``duration_s`` (seconds after programming). Waiting uses
   :func:`procedures.operations.cell_io.wait`: on
   the simulated bench it advances the lab clock (the devices age at the chuck temperature), on a
   real bench it sleeps while watching for an abort.

The chuck is left at ``temperature_c`` (the operator decides when to cool down) and separated by
the runner. Rows carry the chuck temperature read from the prober for every read. The summary
gives, per programmed state, the median relative conductance change from t = 0 to the last read.

Arrhenius study: ``temperatures`` (e.g. ``"200,225,250"``, C) runs one leg per temperature in
order (steps 1-3 each, the cells re-programmed at the start of every leg, so ``program`` must be
on). Per leg the window w(t) = median G_LRS / median G_HRS gives the half-window time t_half
(ln w halved, log-interpolated between reads); a straight-line fit of ln t_half vs 1 / kT gives
the activation energy ``ea_ev`` and its standard error ``ea_err_ev`` (summary; needs two legs
whose window halved, an error needs three). The figure (window vs time per leg and the Arrhenius
plot) is written beside the results file as ``<results>-arrhenius.png``. The chuck is left at
the last temperature.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
    Parameter,
)

from instruments.bench_types import BenchInterface
from instruments.limits import SafetyLimits
from procedures.data.extract import finite_or_none, inverse_kt, median, relative_change
from procedures.framework.base import BenchProcedure
from procedures.framework.parameter_sets import DCProgramParameters
from procedures.operations.cell_io import bench_clock, wait
from procedures.operations.programming import (
    FORMED_CONDUCTANCE_SIEMENS,
    FormingRamp,
    UnformedCellError,
    form_with_ramp,
)

log = logging.getLogger(__name__)

STATE_HRS = 0
STATE_LRS = 1
STATE_UNKNOWN = -1

HEATER_POLL_S = 5.0
"""s between heater status polls while waiting for the chuck temperature."""
TEMPERATURE_TOLERANCE_C = 2.0
"""C. The chuck counts as at temperature when the prober reports ready and within this."""
HEATER_STABLE_C = 0.1
"""C. A bench heater's reading has settled when it changes by at most this between two polls."""
AMBIENT_C = 25.0
"""C. Room temperature: the only bake of a bench without a heater (a packaged board in air)."""


def settle_heater(bench: BenchInterface, set_point: float, timeout_s: float,
                  should_stop: Callable[[], bool]) -> float | None:
    """A bench heater that is not the prober's chuck (``bench.heater``: a ThermoStream over a
    packaged board) to ``set_point`` C: sent, then polled every :data:`HEATER_POLL_S` s of
    bench time until the device reads within :data:`TEMPERATURE_TOLERANCE_C` and has settled
    (:data:`HEATER_STABLE_C` between two polls). Returns the temperature read (C), None if
    ``should_stop`` cut the wait short; TimeoutError after ``timeout_s`` s."""
    heater = bench.heater
    heater.set_point(set_point)
    t_end = bench_clock(bench) + timeout_s
    before = math.inf
    while abs((now_c := float(heater.temperature())) - set_point) > TEMPERATURE_TOLERANCE_C \
            or abs(now_c - before) > HEATER_STABLE_C:
        before = now_c
        if bench_clock(bench) > t_end:
            raise TimeoutError(f"heater not at {set_point:g} C after {timeout_s:g} s (now "
                               f"{now_c:g} C)")
        if not wait(bench, HEATER_POLL_S, should_stop):
            return None
    return now_c


def parse_temperatures(text: str) -> list[float]:
    """Chuck temperatures (C) from ``"200,225,250"`` (commas, semicolons or spaces); [] if empty."""
    out = []
    for part in (p for p in re.split(r"[,;\s]+", str(text or "").strip()) if p):
        try:
            t = float(part)
        except ValueError:
            raise ValueError(f"temperatures: {part!r} is not a number (C)") from None
        if not math.isfinite(t):
            raise ValueError(f"temperatures: {part!r} must be a finite temperature in C")
        out.append(t)
    return out


def half_window_time(t: np.ndarray, w: np.ndarray) -> float:
    """s. First time ln w(t) falls to half of ln w(0), log-interpolated; NaN if it never does.

    ``t`` (s, t[0] = 0) and ``w`` (window G_LRS / G_HRS) per read point."""
    lnw = np.log(np.maximum(np.asarray(w, dtype=float), 1.0))
    t = np.asarray(t, dtype=float)
    if lnw.size < 2 or not lnw[0] > 0:
        return math.nan
    half = lnw[0] / 2.0
    below = np.flatnonzero(lnw <= half)
    if not below.size or below[0] == 0:
        return math.nan
    j = int(below[0])
    f = (lnw[j - 1] - half) / (lnw[j - 1] - lnw[j])
    if t[j - 1] <= 0:  # halved before the first log-spaced read: linear in t
        return float(t[j - 1] + f * (t[j] - t[j - 1]))
    return float(math.exp(math.log(t[j - 1]) + f * (math.log(t[j]) - math.log(t[j - 1]))))


def fit_arrhenius(t_half: dict[float, float]) -> tuple[float, float]:
    """(E_a eV, standard error eV) of ln t_half = E_a / kT + c over the finite times.

    ``t_half`` maps chuck temperature (C) to half-window time (s). NaN E_a with fewer than two
    finite times, NaN error with fewer than three (no residual degree of freedom)."""
    ok = {k: v for k, v in t_half.items() if math.isfinite(v) and v > 0}
    if len(ok) < 2:
        return math.nan, math.nan
    x = np.array([inverse_kt(k) for k in ok])
    y = np.log(np.array(list(ok.values())))
    slope, icpt = np.polyfit(x, y, 1)
    if len(ok) < 3:
        return float(slope), math.nan
    resid = y - (slope * x + icpt)
    s2 = float(np.sum(resid ** 2)) / (len(ok) - 2)
    return float(slope), float(math.sqrt(s2 / float(np.sum((x - x.mean()) ** 2))))


class RetentionProcedure(DCProgramParameters, BenchProcedure):
    """Conductance retention of programmed cells at a chuck temperature."""

    NAME = "retention"

    temperature_c = FloatParameter("Chuck temperature", units="C", default=150.0, minimum=-60,
                                   maximum=400)
    temperatures = Parameter("Arrhenius temperatures (C, comma list)",
                             default="")
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
        "Current (A)", "Conductance (S)", "Set point (C)",
    ]
    HISTORY_COLUMNS = tuple(DATA_COLUMNS)  # reads per cell, also in the run's HDF5

    # -- configuration ------------------------------------------------------------------------
    def read_times(self) -> np.ndarray:
        """Read times (s after programming): 0, then ``points`` log-spaced up to the duration."""
        first = min(self.first_read_s, self.duration_s)
        times = np.geomspace(first, self.duration_s, int(self.points))
        return np.concatenate([[0.0], times])

    def leg_temperatures(self) -> list[float]:
        """Chuck set points (C) of the legs: ``temperatures``, else ``[temperature_c]``."""
        return parse_temperatures(self.temperatures) or [float(self.temperature_c)]

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        limits.check_temperature(self.temperature_c, "temperature_c")
        legs = parse_temperatures(self.temperatures)
        for t in legs:
            limits.check_temperature(t, "temperatures")
        if len(legs) > 1 and not self.program:
            raise ValueError("temperatures: several bakes re-program the cells (set program)")
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
        self.chuck_temps: list[float] = []
        self.elapsed_s = 0.0
        self.points_done = 0
        self.legs: list[dict[str, Any]] = []
        self.figure_path = ""
        if self.bench is None:
            return
        self._reach_temperature(self.leg_temperatures()[0])
        if self.should_stop():
            return
        self._contact()

    def _contact(self) -> None:
        if self.bench.prober is not None:  # packaged chips are bonded: nothing to contact
            self.bench.prober.contact()

    def _temperature(self) -> float:
        """The device temperature (C) for the rows; NaN on a bench without a heater."""
        heater = getattr(self.bench, "heater", None)
        return float(heater.temperature()) if heater is not None else float("nan")

    def _reach_temperature(self, set_point: float) -> None:
        """Separate, set the heater and wait until ready (abort honoured while waiting).

        A packaged board with a heater (``bench.heater``, no prober) goes through
        :func:`settle_heater`; one without (a board in the lab air) runs only at room
        temperature (:data:`AMBIENT_C` within :data:`TEMPERATURE_TOLERANCE_C`)."""
        prober = self.bench.prober
        if prober is None and getattr(self.bench, "heater", None) is not None:
            settle_heater(self.bench, set_point, self.heater_timeout_s, self.should_stop)
            return  # a packaged board's heater (no chuck to separate)
        if prober is None or getattr(self.bench, "heater", 0) is None:
            if abs(set_point - AMBIENT_C) > TEMPERATURE_TOLERANCE_C:
                raise ValueError(f"temperature {set_point:g} C needs a heater; this bench has "
                                 f"none: bake at room temperature ({AMBIENT_C:g} C) or use a "
                                 "bench with a hot chuck")
            return
        prober.separate()
        prober.set_heater_temp(set_point)
        t_end = bench_clock(self.bench) + self.heater_timeout_s
        while True:
            state = prober.heater()
            near = abs(state.temperature - set_point) <= TEMPERATURE_TOLERANCE_C
            if near and state.status.upper().startswith("R"):
                log.info("chuck at %.1f C", state.temperature)
                return
            if bench_clock(self.bench) > t_end:
                raise TimeoutError(
                    f"chuck not ready at {set_point:g} C after "
                    f"{self.heater_timeout_s:g} s (now {state.temperature:g} C, "
                    f"status {state.status!r})"
                )
            if not wait(self.bench, HEATER_POLL_S, self.should_stop):
                return

    def execute(self) -> None:
        legs = self.leg_temperatures()
        for k, set_point in enumerate(legs):
            if k > 0:  # startup reached the first temperature
                self._reach_temperature(set_point)
                if self.should_stop():
                    return
                self._contact()
            if not self._leg(set_point, k, len(legs)):
                return
        if len(self.legs) > 1:
            self._write_figure()

    def _leg(self, set_point: float, leg: int, n_legs: int) -> bool:
        """Program (if set) and read the cells at ``set_point`` (C); False if stopped."""
        io = self.io
        cells = self.target_cells()
        g_pts: list[dict[tuple[int, int], float]] = []
        if self.program:
            self._program(cells)
            if self.should_stop():
                return False
        times = self.read_times()
        t_read: list[float] = []
        t0 = bench_clock(self.bench)
        for point, t_target in enumerate(times):
            if not wait(self.bench, t_target - (bench_clock(self.bench) - t0), self.should_stop):
                return False
            g_pts.append({})
            for row, col in cells:
                if self.should_stop():
                    return False
                io.select(self.array, row, col)
                r = io.read(self.v_read, self.v_wl_read)
                t = bench_clock(self.bench) - t0
                temp = self._temperature()
                g = r.conductance
                if point == 0:
                    self.g_start[(row, col)] = g
                    if (row, col) not in self.states:
                        self.states[(row, col)] = (
                            STATE_LRS if g >= self.lrs_threshold else STATE_HRS
                        )
                self.g_last[(row, col)] = g
                g_pts[-1][(row, col)] = g
                self.chuck_temps.append(temp)
                self.elapsed_s = t
                self.emit("results", {
                    "Time (s)": t, "Temperature (C)": temp, "Point": point,
                    "Cell row": row, "Cell col": col, "State": self.states[(row, col)],
                    "Current (A)": r.current, "Conductance (S)": g, "Set point (C)": set_point,
                })
            t_read.append(bench_clock(self.bench) - t0)
            self.points_done = point + 1
            self.progress((leg + (point + 1) / len(times)) / n_legs)
        self.legs.append(self._leg_result(set_point, t_read, g_pts))
        return True

    def _leg_result(self, set_point: float, t: list[float],
                    g_pts: list[dict[tuple[int, int], float]]) -> dict[str, Any]:
        """Window (median LRS / median HRS) per read and the half-window time of one leg."""
        lrs = [k for k, s in self.states.items() if s == STATE_LRS]
        hrs = [k for k, s in self.states.items() if s == STATE_HRS]
        w = np.full(len(g_pts), math.nan)
        if lrs and hrs:
            w = np.array([np.median([g[k] for k in lrs if k in g]) /
                          np.median([g[k] for k in hrs if k in g]) for g in g_pts])
        return {"set_point_c": set_point, "t_s": np.array(t), "window": w,
                "t_half_s": half_window_time(np.array(t), w)}

    def arrhenius(self) -> tuple[dict[float, float], float, float]:
        """(t_half s per set point C, E_a eV, standard error eV) of the legs done."""
        t_half = {leg["set_point_c"]: leg["t_half_s"] for leg in getattr(self, "legs", [])}
        ea, err = fit_arrhenius(t_half)
        return t_half, ea, err

    def _write_figure(self) -> None:
        """The window curves and the Arrhenius plot beside the results file
        (``<results>-arrhenius.png``; a failure is logged: the data are on disk)."""
        from procedures.data.figures import figure_beside, retention_arrhenius

        def draw(path: Path) -> str:
            t_half, ea, _ = self.arrhenius()
            curves = {leg["set_point_c"]: (leg["t_s"], leg["window"]) for leg in self.legs}
            return retention_arrhenius(curves, t_half, ea, path)

        self.figure_path = figure_beside(getattr(self, "results_file", None), "arrhenius", draw)

    def _program(self, cells: list[tuple[int, int]]) -> None:
        """Form (if allowed) and program every target cell to its planned state."""
        io = self.io
        for (row, col), state in zip(cells, self.planned_states(), strict=True):
            if self.should_stop():
                return
            io.select(self.array, row, col)
            if io.read(self.v_read, self.v_wl_read).conductance < FORMED_CONDUCTANCE_SIEMENS:
                if not self.form_first:
                    raise UnformedCellError(
                        f"cell ({row},{col}) reads below {FORMED_CONDUCTANCE_SIEMENS * 1e6:g} uS "
                        "(unformed); form it first or set form_first"
                    )
                if form_with_ramp(io, FormingRamp(), self.should_stop) is None:
                    log.warning("cell (%d,%d) did not form", row, col)
                    continue
            self.dc_program(io, state == STATE_LRS)
            self.states[(row, col)] = state

    # -- results --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        g0: dict[tuple[int, int], float] = getattr(self, "g_start", {})
        g1: dict[tuple[int, int], float] = getattr(self, "g_last", {})
        states: dict[tuple[int, int], int] = getattr(self, "states", {})
        temps = getattr(self, "chuck_temps", [])
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
        if len(getattr(self, "legs", [])) > 1:
            t_half, ea, err = self.arrhenius()
            out["t_half_s"] = {f"{k:g}": finite_or_none(v) for k, v in t_half.items()}
            out["ea_ev"] = finite_or_none(ea)
            out["ea_err_ev"] = finite_or_none(err)
            out["arrhenius_png"] = getattr(self, "figure_path", "")
        return out


__all__ = ["RetentionProcedure", "STATE_HRS", "STATE_LRS", "STATE_UNKNOWN", "fit_arrhenius",
           "half_window_time", "parse_temperatures"]
