"""Program-and-verify of 1T1R cells to target conductances with WGFMU pulses.

Each target cell gets a target conductance (``targets``, assigned round-robin to the cells, or one
value for all). After a WGFMU read, pulses follow, each with a read (one execute per pulse).
``algorithm = "adaptive"`` (the default) aims a coarse SET from the G-vs-gate line measured on the
run's cells and finishes with identical fine RESET pulses (gradual RESET), see
:mod:`procedures.experiments.program_verify_adaptive`; ``"ispp"`` is the incremental staircase:

* SET direction (G below target - tolerance): a SET pulse (``set_amplitude`` on BL, SL 0 V) with
  the gate stepped up by ``v_wl_step`` per pulse from ``v_wl_start``. The gate sets the
  transistor's saturation current, which is the SET compliance I_c; G_LRS ~ I_c / V_c rises
  with it, and a SET only acts when I_c exceeds that of the last SET.
* RESET direction (G above target + tolerance): a RESET pulse (SL amplitude, BL 0 V, gate at
  ``v_wl_reset``) stepped up by ``v_sl_step`` per pulse; the deeper the RESET the lower G.
* Overshoot switches the direction: a SET overshoot is trimmed by RESET steps (from
  ``v_sl_start``, or just below the RESET onset seen earlier on the cell); a RESET undershoot
  re-SETs the cell from a gate ``backoff_steps`` steps below the gate that overshot (else from
  ``v_wl_start``).
* With ``reset_first`` the ISPP starts from full RESET pulses (``v_sl_max``, repeated while G is
  not yet below the target, at most ``RESET_FIRST_PULSES``: identical RESET pulses deepen the HRS
  gradually), then every cell climbs the SET staircase from the HRS.

The cell stops at |G - target| <= ``tolerance`` (converged) or after ``max_pulses``.

Rows: one per read (pulse 0 is the initial read): cell, target, pulse number, kind (+1 SET,
-1 RESET, 0 read only), amplitude (V, BL for SET, SL for RESET), gate (V), read G (S) and the
converged flag (1 on the converging read). Summary: converged fraction, median pulses to
converge (and their mean ``mean_pulses``), median final |error|, and per target the median and
standard deviation of final G.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
    Parameter,
)

from instruments.limits import SafetyLimits
from procedures.data.extract import finite_or_none, median
from procedures.experiments.program_verify_adaptive import AdaptiveVerify, RunLearning
from procedures.operations.pulsing import CellPulse, PulsedProcedure, PulseSession

ALGORITHMS = ("adaptive", "ispp")
"""``adaptive``: model-guided coarse SET then fine identical RESET pulses (default);
``ispp``: the incremental step staircase (one gate or SL step per pulse)."""

RESET_FIRST_PULSES = 5
"""Full RESET pulses at most before the SET staircase (``reset_first``)."""
log = logging.getLogger(__name__)

ONSET_DROP = 0.05
"""Relative G drop of one RESET pulse that marks the RESET onset (for the next RESET run)."""
ONSET_BACKOFF_STEPS = 2
"""A later RESET run on the cell starts this many SL steps below the onset seen."""


def parse_targets(text: str) -> list[float]:
    """Target conductances (S) from ``"20e-6,40e-6"`` (commas, semicolons or spaces)."""
    parts = [p for p in re.split(r"[,;\s]+", str(text).strip()) if p]
    if not parts:
        raise ValueError("targets: give at least one conductance in S, e.g. '40e-6'")
    out = []
    for p in parts:
        try:
            g = float(p)
        except ValueError:
            raise ValueError(f"targets: {p!r} is not a number (conductances in S)") from None
        if not (np.isfinite(g) and g > 0):
            raise ValueError(f"targets: {p!r} must be a positive conductance in S")
        out.append(g)
    return out


@dataclass
class CellOutcome:
    """ISPP result of one cell (conductances in S)."""

    target: float
    g_initial: float = float("nan")
    g_final: float = float("nan")
    pulses: int = 0
    converged: bool = False
    history: list[float] = field(default_factory=list)


class ProgramVerifyProcedure(PulsedProcedure):
    """ISPP program-and-verify to target conductances (multi-level), WGFMU pulses."""

    NAME = "program-verify"

    algorithm = ListParameter("Algorithm", choices=list(ALGORITHMS), default="adaptive",
                              description="adaptive: coarse SET aimed from the measured G vs "
                                          "gate, fine identical RESET pulses; ispp: staircase")
    targets = Parameter("Target conductances", default="40e-6",
                        description="target G in S, comma-separated; assigned round-robin to "
                                    "the cells (one value: the same target for all)")
    tolerance = FloatParameter("Tolerance", units="S", default=5e-6, minimum=1e-8, maximum=1e-3)
    max_pulses = IntegerParameter("Maximum pulses per cell", default=100, minimum=1,
                                  maximum=10000)
    set_amplitude = FloatParameter("SET amplitude (BL)", units="V", default=1.5, minimum=0.1,
                                   maximum=10)
    v_wl_start = FloatParameter("SET gate start", units="V", default=0.7, minimum=0, maximum=5)
    v_wl_step = FloatParameter("SET gate step", units="V", default=0.02, minimum=0.001,
                               maximum=0.5)
    v_wl_max = FloatParameter("SET gate maximum", units="V", default=1.5, minimum=0, maximum=5)
    v_sl_start = FloatParameter("RESET amplitude start (SL)", units="V", default=1.0,
                                minimum=0.1, maximum=10)
    v_sl_step = FloatParameter("RESET amplitude step", units="V", default=0.02, minimum=0.001,
                               maximum=0.5)
    v_sl_max = FloatParameter("RESET amplitude maximum (SL)", units="V", default=2.2,
                              minimum=0.1, maximum=10)
    v_wl_reset = FloatParameter("RESET gate", units="V", default=2.8, minimum=0, maximum=5)
    reset_first = BooleanParameter("Full RESET first", default=True)
    backoff_steps = IntegerParameter("Re-SET gate backoff", units="steps", default=3, minimum=0,
                                     maximum=100)

    DATA_COLUMNS = [
        "Cell row", "Cell col", "Target (S)", "Pulse", "Kind", "Amplitude (V)", "Gate (V)",
        "Read G (S)", "Converged",
    ]
    HISTORY_COLUMNS = tuple(DATA_COLUMNS)  # G vs pulse per cell, also in the run's HDF5

    # -- configuration ------------------------------------------------------------------------
    def target_list(self) -> list[float]:
        """The target conductances (S)."""
        return parse_targets(self.targets)

    def set_pulse(self, v_wl: float) -> CellPulse:
        """A SET pulse with the gate at ``v_wl`` (V)."""
        return self.cell_pulse("set", self.set_amplitude, v_wl)

    def reset_pulse(self, v_sl: float) -> CellPulse:
        """A RESET pulse of ``v_sl`` (V) on SL."""
        return self.cell_pulse("reset", v_sl, self.v_wl_reset)

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        self.target_list()
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}, "
                             f"got {self.algorithm!r}")
        if self.v_wl_start > self.v_wl_max:
            raise ValueError(f"v_wl_start ({self.v_wl_start} V) must not exceed v_wl_max "
                             f"({self.v_wl_max} V)")
        if self.v_sl_start > self.v_sl_max:
            raise ValueError(f"v_sl_start ({self.v_sl_start} V) must not exceed v_sl_max "
                             f"({self.v_sl_max} V)")
        for what, pulse in (("SET (set_amplitude/v_wl_max)", self.set_pulse(self.v_wl_max)),
                            ("SET (v_wl_start)", self.set_pulse(self.v_wl_start)),
                            ("RESET (v_sl_max/v_wl_reset)", self.reset_pulse(self.v_sl_max))):
            try:
                pulse.check(limits)
            except ValueError as exc:
                raise type(exc)(f"{what}: {exc}") from None

    # -- run ----------------------------------------------------------------------------------
    def startup(self) -> None:
        self.outcomes: dict[tuple[int, int], CellOutcome] = {}
        self.v_forms: dict[tuple[int, int], float] = {}
        self.learning = RunLearning()

    def execute(self) -> None:
        targets = self.target_list()
        cells = self.target_cells()
        assigned = {c: targets[k % len(targets)] for k, c in enumerate(cells)}
        ready, self.v_forms = self.ready_cells(cells)
        with self.pulse_session() as session:
            for k, (row, col) in enumerate(ready):
                if self.should_stop():
                    return
                self.io.select(self.array, row, col)
                outcome = CellOutcome(assigned[(row, col)])
                self.outcomes[(row, col)] = outcome
                if self.algorithm == "adaptive":
                    ok = AdaptiveVerify(self, session, self.learning).program(row, col, outcome)
                else:
                    ok = self._ispp(session, row, col, outcome)
                if not ok:
                    return
                self.progress((k + 1) / len(ready))

    def _ispp(self, session: PulseSession, row: int, col: int, out: CellOutcome) -> bool:
        """Program one cell; False when stopped."""
        read = self.read_pulse()
        target, tol = out.target, self.tolerance
        g = session.run([read]).conductance(0, read.v_read)
        out.g_initial = out.g_final = g
        done = abs(g - target) <= tol
        out.converged = done
        self.record_read(row, col, target, 0, 0, np.nan, np.nan, g, done)
        if done:
            return True
        wl, sl = self.v_wl_start, self.v_sl_start
        wl_over: float | None = None
        sl_onset: float | None = None
        preparing = bool(self.reset_first)  # full RESET pulses until G is below the target
        if preparing:
            direction, sl = -1, self.v_sl_max
        else:
            direction = 1 if g < target else -1
        while out.pulses < self.max_pulses:
            if self.should_stop():
                return False
            pulse = self.set_pulse(wl) if direction > 0 else self.reset_pulse(sl)
            g_before = g
            g = session.run([pulse, read]).conductance(1, read.v_read)
            out.pulses += 1
            out.g_final = g
            out.history.append(g)
            if preparing:  # identical RESET pulses deepen gradually; then climb with SET steps
                self.record_read(row, col, target, out.pulses, direction, pulse.amplitude,
                                 pulse.v_wl, g, False)
                if g < target - tol or out.pulses >= RESET_FIRST_PULSES:
                    preparing, direction = False, 1
                continue
            done = abs(g - target) <= tol
            self.record_read(row, col, target, out.pulses, direction, pulse.amplitude,
                             pulse.v_wl, g, done)
            if done:
                out.converged = True
                return True
            if direction > 0:
                if g > target + tol:  # SET overshoot: trim down with RESET steps
                    wl_over = wl
                    direction = -1
                    sl = self.v_sl_start
                    if sl_onset is not None:
                        sl = max(sl, sl_onset - ONSET_BACKOFF_STEPS * self.v_sl_step)
                else:
                    wl = min(wl + self.v_wl_step, self.v_wl_max)
            else:
                if sl_onset is None and g < g_before * (1 - ONSET_DROP):
                    sl_onset = sl
                if g < target - tol:  # RESET undershoot: re-SET from a lower gate
                    direction = 1
                    wl = self.v_wl_start
                    if wl_over is not None:
                        wl = max(wl, wl_over - self.backoff_steps * self.v_wl_step)
                else:
                    sl = min(sl + self.v_sl_step, self.v_sl_max)
        return True

    def record_read(self, row: int, col: int, target: float, number: int, kind: int,
                    amplitude: float, gate: float, g: float, converged: bool) -> None:
        """Emit one row: a read after pulse ``number`` (kind +1 SET, -1 RESET, 0 none; V, S)."""
        self.emit("results", {
            "Cell row": row, "Cell col": col, "Target (S)": target, "Pulse": number,
            "Kind": kind, "Amplitude (V)": amplitude, "Gate (V)": gate, "Read G (S)": g,
            "Converged": int(converged),
        })

    # -- results --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        outcomes: dict[tuple[int, int], CellOutcome] = getattr(self, "outcomes", {})
        res = list(outcomes.values())
        conv = [o for o in res if o.converged]
        out: dict[str, Any] = {
            "cells": len(res),
            "cells_converged": len(conv),
            "converged_fraction": len(conv) / len(res) if res else None,
            "median_pulses": finite_or_none(median([o.pulses for o in conv])),
            "mean_pulses": finite_or_none(float(np.mean([o.pulses for o in conv])))
            if conv else None,
            "median_abs_error": finite_or_none(median([abs(o.g_final - o.target) for o in res])),
            "cells_formed_first": len(getattr(self, "v_forms", {})),
        }
        levels = []
        for target in sorted({o.target for o in res}):
            g = np.array([o.g_final for o in res if o.target == target], dtype=float)
            g = g[np.isfinite(g)]
            levels.append({
                "target": target,
                "cells": int(g.size),
                "converged": sum(1 for o in conv if o.target == target),
                "g_median": finite_or_none(median(g)),
                "g_std": finite_or_none(float(np.std(g))) if g.size else None,
            })
        out["levels"] = levels
        out["level_std"] = {f"{lv['target']:g}": lv["g_std"] for lv in levels}
        return out


__all__ = ["ALGORITHMS", "CellOutcome", "ProgramVerifyProcedure", "parse_targets"]
