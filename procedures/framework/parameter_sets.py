"""Parameter groups shared by several procedures (mixins of pymeasure Parameters).

pymeasure collects a procedure's Parameters from its class attributes, inherited ones included,
so a procedure gets a group by listing the mixin before
:class:`~procedures.framework.base.BenchProcedure`.
"""

from __future__ import annotations

from typing import Any

from pymeasure.experiment import BooleanParameter, FloatParameter

from procedures.operations.cell_io import CellIO
from procedures.operations.programming import DEFAULT_RAMP as _RAMP
from procedures.operations.programming import (
    FormingRamp,
    SwitchBias,
    sweep_reset,
    sweep_set,
)


class FormFirstParameters:
    """Optional forming of unformed target cells before the measurement (B1500 staircase)."""

    form_first = BooleanParameter("Form unformed cells first", default=False)
    form_v_stop = FloatParameter("Forming stop voltage", units="V", default=_RAMP.v_stop,
                                 minimum=0.5, maximum=10)
    form_compliance = FloatParameter("Forming compliance", units="A", default=_RAMP.compliance,
                                     minimum=1e-7, maximum=10e-3)
    form_v_wl = FloatParameter("Forming word-line voltage", units="V", default=_RAMP.v_wl,
                               minimum=0, maximum=5)

    def forming_ramp(self) -> FormingRamp:
        """The forming staircase used by ``form_first``."""
        return FormingRamp(v_stop=self.form_v_stop, compliance=self.form_compliance,
                           v_wl=self.form_v_wl)


class DCProgramParameters:
    """Quasi-static SET (BL sweep) and RESET (SL sweep) used to program cells to LRS/HRS."""

    set_stop = FloatParameter("SET stop voltage (BL)", units="V", default=1.5, minimum=0.1,
                              maximum=10)
    set_compliance = FloatParameter("SET compliance", units="A", default=100e-6, minimum=1e-7,
                                    maximum=10e-3)
    v_wl_set = FloatParameter("SET word-line voltage", units="V", default=1.5, minimum=0,
                              maximum=5)
    reset_stop = FloatParameter("RESET stop voltage (SL)", units="V", default=1.8, minimum=0.1,
                                maximum=10)
    reset_compliance = FloatParameter("RESET compliance", units="A", default=1e-3, minimum=1e-7,
                                      maximum=10e-3)
    v_wl_reset = FloatParameter("RESET word-line voltage", units="V", default=2.8, minimum=0,
                                maximum=5)

    def sweep_steps(self) -> dict[str, Any]:
        """Staircase of the sweeps (``steps``, ``delay`` of :class:`SwitchBias`); its
        defaults unless a procedure has parameters for them."""
        return {}

    def set_bias(self) -> SwitchBias:
        """The SET sweep (BL)."""
        return SwitchBias(self.set_stop, self.v_wl_set, self.set_compliance,
                          **self.sweep_steps())

    def reset_bias(self) -> SwitchBias:
        """The RESET sweep (SL)."""
        return SwitchBias(self.reset_stop, self.v_wl_reset, self.reset_compliance,
                          **self.sweep_steps())

    def dc_program(self, io: CellIO, lrs: bool) -> None:
        """Program the selected cell: a RESET sweep, then for the LRS a SET sweep (the SET
        starts from the HRS: a full cycle)."""
        sweep_reset(io, self.reset_bias())
        if lrs:
            sweep_set(io, self.set_bias())


class DeviceOpParameters:
    """SET, RESET and forming conditions of device writes on 2T2R pairs (the learning
    procedures, ``ber-2t2r``)."""

    v_set = FloatParameter("SET voltage (BL)", units="V", default=1.2, minimum=0.1, maximum=5)
    v_wl_set = FloatParameter("SET word-line voltage", units="V", default=1.5, minimum=0,
                              maximum=5)
    v_reset = FloatParameter("RESET voltage (SL)", units="V", default=2.0, minimum=0.1,
                             maximum=5)
    v_wl_reset = FloatParameter("RESET word-line voltage", units="V", default=2.7, minimum=0,
                                maximum=5)
    form_v_stop = FloatParameter("Forming stop voltage", units="V", default=_RAMP.v_stop,
                                 minimum=0.5, maximum=10)
    form_compliance = FloatParameter("Forming compliance", units="A", default=_RAMP.compliance,
                                     minimum=1e-7, maximum=10e-3)

    def device_op_values(self, set_compliance: float, v_reset: float) -> dict[str, Any]:
        """The run's SET/RESET/forming conditions as keyword arguments of a device-operation
        settings object (``DeviceProgram``), with the SET compliance (A) and RESET voltage
        (V) given: procedures choose them per program (a fixed value, a range's maximum, a
        programming strength)."""
        return {"v_set": self.v_set, "v_wl_set": self.v_wl_set, "set_compliance": set_compliance,
                "v_reset": v_reset, "v_wl_reset": self.v_wl_reset,
                "form_v_stop": self.form_v_stop, "form_compliance": self.form_compliance}
