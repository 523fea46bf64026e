"""Quasi-static I-V cycling: RESET/SET double sweeps per cell with reads; V_set, V_reset, R.

Per cycle and cell (RESET first by default: a freshly formed cell is in LRS):

* RESET leg: SL staircase 0 -> ``reset_stop`` -> 0 V (BL 0 V, WL ``v_wl_reset``, compliance
  ``reset_compliance``), then a read at ``v_read`` (BL) -> R_HRS;
* SET leg: BL staircase 0 -> ``set_stop`` -> 0 V (SL 0 V, WL ``v_wl_set``, SMU compliance
  ``set_compliance``), then a read -> R_LRS.

Rows (one ``batch results`` per leg, one row per read): ``Leg`` +1 SET sweep, -1 RESET sweep,
+2 read after SET, -2 read after RESET. ``Voltage (V)`` is V_BL - V_SL as applied (negative for
RESET); it includes the drop over the access transistor, so it slightly exceeds the voltage over
the RRAM element once the current is large (RESET onset: ~10-20 % at WL 2.8 V).

V_set is the outgoing SET step of the largest current jump (else the first step whose current
reaches ``set_fraction`` x ``set_compliance``); V_reset (a magnitude) is the |V| of the current
peak of the RESET leg (``procedures.data.extract``). Cells that read below 1 uS before cycling are
unformed: the run is refused unless ``form_first`` is set, which forms them with the compliance
staircase of ``forming``. The sweeps and the forming are the shared primitives of
:mod:`procedures.operations.programming`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pymeasure.experiment import BooleanParameter, FloatParameter, IntegerParameter

from instruments.limits import SafetyLimits
from procedures.data.extract import (
    CycleFigures,
    finite_or_none,
    on_off_ratio,
    read_resistance,
    reset_voltage,
    set_voltage,
)
from procedures.framework.base import BenchProcedure
from procedures.framework.parameter_sets import DCProgramParameters, FormFirstParameters
from procedures.operations.programming import (
    FORMED_CONDUCTANCE_SIEMENS,
    UnformedCellError,
    form_with_ramp,
    sweep_reset,
    sweep_set,
)

log = logging.getLogger(__name__)

StopCheck = Callable[[], bool]


# ------------------------------------------------------------------------------------------------
# The procedure
# ------------------------------------------------------------------------------------------------
class IVCyclingProcedure(FormFirstParameters, DCProgramParameters, BenchProcedure):
    """Quasi-static SET/RESET cycling of 1T1R cells with V_set, V_reset, R_LRS, R_HRS per cycle."""

    NAME = "iv-cycling"

    cycles = IntegerParameter("Cycles", default=10, minimum=1, maximum=100000)
    steps = IntegerParameter("Steps per leg", default=40, minimum=2, maximum=5000)
    step_delay = FloatParameter("Step delay", units="s", default=1e-3, minimum=0, maximum=1)
    v_read = FloatParameter("Read voltage", units="V", default=0.1, minimum=0.01, maximum=0.5)
    v_wl_read = FloatParameter("Read word-line voltage", units="V", default=2.5, minimum=0,
                               maximum=5)
    reset_first = BooleanParameter("RESET first", default=True)
    set_fraction = FloatParameter("SET jump threshold", units="x compliance", default=0.5,
                                  minimum=0.05, maximum=1.0)

    DATA_COLUMNS = [
        "Cell row", "Cell col", "Cycle", "Leg", "Step", "Voltage (V)", "Current (A)",
        "Compliance",
    ]

    # -- configuration ------------------------------------------------------------------------
    def sweep_steps(self) -> dict[str, Any]:
        """The legs' staircase: ``steps`` points, ``step_delay`` s each."""
        return {"steps": self.steps, "delay": self.step_delay}

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        if self.array != "1T1R":
            raise ValueError("iv-cycling runs on the 1T1R array (array = 1T1R)")
        self.set_bias().check(limits, "BL")
        self.reset_bias().check(limits, "SL")
        limits.check_voltage("BL", self.v_read)
        limits.check_voltage("WL", self.v_wl_read)
        limits.check_compliance(1e-3, self.v_read)
        if self.v_read >= self.set_stop:
            raise ValueError(f"v_read ({self.v_read} V) must be below set_stop "
                             f"({self.set_stop} V)")
        if self.form_first:
            self.forming_ramp().check(limits)

    # -- run ----------------------------------------------------------------------------------
    def startup(self) -> None:
        self.figures: dict[tuple[int, int], CycleFigures] = {}
        self.v_forms: dict[tuple[int, int], float] = {}
        self.not_formed: list[tuple[int, int]] = []

    def execute(self) -> None:
        io = self.io
        cells = self.target_cells()
        # refuse unformed cells before anything is cycled
        unformed = []
        for row, col in cells:
            if self.should_stop():
                return
            io.select(self.array, row, col)
            if io.read(self.v_read, self.v_wl_read).conductance < FORMED_CONDUCTANCE_SIEMENS:
                unformed.append((row, col))
        if unformed and not self.form_first:
            raise UnformedCellError.for_cells(unformed)
        for row, col in unformed:
            if self.should_stop():
                return
            io.select(self.array, row, col)
            v_form = form_with_ramp(io, self.forming_ramp(), self.should_stop)
            if v_form is None:
                log.warning("cell (%d,%d) did not form; not cycled", row, col)
                self.not_formed.append((row, col))
            else:
                self.v_forms[(row, col)] = v_form
        todo = [c for c in cells if c not in self.not_formed]
        total = max(1, len(todo) * self.cycles)
        done = 0
        for row, col in todo:
            fig = self.figures.setdefault((row, col), CycleFigures([], [], [], []))
            io.select(self.array, row, col)
            for cycle in range(self.cycles):
                legs = (-1, +1) if self.reset_first else (+1, -1)
                for leg in legs:
                    if self.should_stop():
                        return
                    self._leg(row, col, cycle, leg, fig)
                done += 1
                self.progress(done / total)

    def _leg(self, row: int, col: int, cycle: int, leg: int, fig: CycleFigures) -> None:
        """One sweep leg (+1 SET, -1 RESET) and the read after it."""
        io = self.io
        if leg > 0:
            v, i, comp = sweep_set(io, self.set_bias())
            fig.v_set.append(set_voltage(v, i, self.set_compliance, self.set_fraction))
        else:
            v, i, comp = sweep_reset(io, self.reset_bias())
            fig.v_reset.append(reset_voltage(v, i))
        n = len(v)
        self.emit("batch results", {
            "Cell row": [row] * n, "Cell col": [col] * n, "Cycle": [cycle] * n,
            "Leg": [leg] * n, "Step": list(range(n)),
            "Voltage (V)": [float(x) for x in v], "Current (A)": [float(x) for x in i],
            "Compliance": [int(bool(x)) for x in comp],
        })
        r = io.read(self.v_read, self.v_wl_read)
        resistance = read_resistance(r.voltage, r.current)
        (fig.r_lrs if leg > 0 else fig.r_hrs).append(resistance)
        self.emit("results", {
            "Cell row": row, "Cell col": col, "Cycle": cycle, "Leg": 2 * leg, "Step": 0,
            "Voltage (V)": r.voltage, "Current (A)": r.current, "Compliance": int(r.compliance),
        })

    # -- results --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        figures: dict[tuple[int, int], CycleFigures] = getattr(self, "figures", {})
        merged = CycleFigures([], [], [], [])
        for fig in figures.values():
            merged.v_set += fig.v_set
            merged.v_reset += fig.v_reset
            merged.r_lrs += fig.r_lrs
            merged.r_hrs += fig.r_hrs
        out: dict[str, Any] = merged.summary()
        lrs: list[float] = []
        hrs: list[float] = []
        for fig in figures.values():  # pair R_HRS and R_LRS of the same cycle, cell by cell
            n = min(len(fig.r_lrs), len(fig.r_hrs))
            lrs += fig.r_lrs[:n]
            hrs += fig.r_hrs[:n]
        out["on_off"] = finite_or_none(on_off_ratio(hrs, lrs))
        out["cycles_done"] = sum(
            min(len(f.r_lrs), len(f.r_hrs)) for f in figures.values()
        )
        out["cells_cycled"] = len(figures)
        out["cells_formed_first"] = len(getattr(self, "v_forms", {}))
        out["cells_not_formed"] = len(getattr(self, "not_formed", []))
        return out


__all__ = ["IVCyclingProcedure"]
