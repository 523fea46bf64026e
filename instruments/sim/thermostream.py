"""The twin's ThermoStream: a first-order thermal model of the air stream and the packaged chips.

State and commands follow :mod:`instruments.temptronic.thermostream_commands`; the server is
:mod:`instruments.sim.thermostream_server`. The model runs on the lab clock (modeled seconds):
each command first brings it to the lab's present time (:meth:`ThermoStreamModel.advance_to`),
so hours of bench waiting cost one integration that stops as soon as everything has settled.

Physics (estimates [E], written down in ``docs/packaged-chips.md``):

* **Air.** The nozzle air slews towards its target at ``air_slew_c_per_s`` (18 C/s [E]:
  ThermoStream data sheets give transitions of -55 to +125 C in about 10 s), within the air
  limits ``LLIM``..``ULIM``. In air mode (``DUTM 0``) the target is the set point; in DUT mode it
  is overdriven, ``set point + dut_gain x (set point - DUT)``, by at most ``ADMD`` C (the
  manual's "allowed difference between nozzle air and DUT temperature during settling").
* **DUT.** The chips under the thermal cap follow the air with one time constant ``dut_tau_s``
  (40 s [E]: a ceramic DIP/QFN package in a socket under the cap). The cap covers the whole
  board: every socket's chip is at the DUT temperature.
* **No air** (flow off or head up): air and chips relax to ``ambient_c`` by natural convection
  with ``idle_tau_s`` (600 s [E]).
* **Set point ramp.** ``RAMP r`` > 0 moves the dynamic set point (``SETD?``) at r C/min; 0 =
  at once.
* **At temperature** (``TECR?`` bit 0): the controlled temperature (DUT in DUT mode, air in air
  mode) within ``WNDW`` of the set point for ``SOAK`` s without leaving it, air flowing.
* **Refusals** (the twin's choice where the manuals say only which bit exists): a set point
  outside the ``SETP`` range or beyond ``LLIM``/``ULIM`` is not taken and sets the ``EROR?``
  bit "setpoint out of range"; a value outside a setting's range is not taken and sets the
  IEEE 488.2 command-error bit of ``*ESR?``. ``CLER`` clears ``EROR``, ``*CLS`` the ``*ESR``.
* At power-up the head is down over the board (where the operator left it), the air off.
* ``TTIM`` (maximum test time) and cycling are stored, not modeled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from instruments.temptronic import thermostream_commands as tc


@dataclass(frozen=True)
class ThermalHeadParams:
    """Thermal model of the twin's ThermoStream and board (C, s; [E] estimates)."""

    ambient_c: float = 25.0
    air_slew_c_per_s: float = 18.0
    dut_tau_s: float = 40.0
    idle_tau_s: float = 600.0
    dut_gain: float = 2.0
    step_s: float = 0.25
    """integration step, s (air slews and DUT time constants are >> it)."""


_SETTLED_C = 1e-4  # C: below this everything is at rest and time can jump


class ThermoStreamModel:
    """State of the simulated ThermoStream; every method takes the lab time ``now`` (s)."""

    def __init__(self, params: ThermalHeadParams | None = None, now: float = 0.0) -> None:
        self.p = params or ThermalHeadParams()
        amb = self.p.ambient_c
        self.values: dict[str, float] = {
            "SETP": amb, "LLIM": -99.0, "ULIM": 225.0, "WNDW": 1.0, "SOAK": 30.0, "RAMP": 0.0,
            "DUTM": 0, "DSNS": tc.SENSOR_NONE, "DUTC": 100.0, "ADMD": 50.0, "TTIM": 1000.0,
            "SETN": 1, "HEAD": tc.HEAD_DOWN,  # the operator left the head over the board
        }
        self.flow = False
        self.compressor = True
        self.remote = False
        self.error = tc.DeviceError(0)
        self.esr = 0
        self.air_c = amb
        self.dut_c = amb
        self.dynamic_sp = amb
        self._t = float(now)
        self._in_window_since: float | None = None

    # -- the physics --------------------------------------------------------------------------
    @property
    def blowing(self) -> bool:
        """Air reaches the chips: flow on and the head down."""
        return self.flow and int(self.values["HEAD"]) == tc.HEAD_DOWN

    @property
    def dut_mode(self) -> bool:
        return int(self.values["DUTM"]) == 1

    def controlled_c(self) -> float:
        """The temperature the instrument controls and ``TEMP?`` reads (C)."""
        return self.dut_c if self.dut_mode else self.air_c

    def _air_target(self) -> float:
        v = self.values
        if not self.blowing:
            return self.p.ambient_c
        target = self.dynamic_sp
        if self.dut_mode:
            over = self.p.dut_gain * (self.dynamic_sp - self.dut_c)
            target += max(-v["ADMD"], min(v["ADMD"], over))
        return max(v["LLIM"], min(v["ULIM"], target))

    def _at_rest(self) -> bool:
        target = self.values["SETP"] if self.blowing else self.p.ambient_c
        return (self.dynamic_sp == self.values["SETP"]
                and abs(self.air_c - target) < _SETTLED_C and abs(self.dut_c - target) < _SETTLED_C)

    def _step(self, dt: float) -> None:
        v = self.values
        sp = v["SETP"]
        if v["RAMP"] > 0 and self.dynamic_sp != sp:
            move = v["RAMP"] / 60.0 * dt
            self.dynamic_sp = sp if abs(sp - self.dynamic_sp) <= move else \
                self.dynamic_sp + math.copysign(move, sp - self.dynamic_sp)
        else:
            self.dynamic_sp = sp
        target = self._air_target()
        slew = self.p.air_slew_c_per_s * dt
        self.air_c = target if abs(target - self.air_c) <= slew else \
            self.air_c + math.copysign(slew, target - self.air_c)
        tau = self.p.dut_tau_s if self.blowing else self.p.idle_tau_s
        self.dut_c += (self.air_c - self.dut_c) * (1.0 - math.exp(-dt / tau))

    def _track_window(self, t: float) -> None:
        inside = self.blowing and abs(self.controlled_c() - self.values["SETP"]) <= \
            self.values["WNDW"]
        if not inside:
            self._in_window_since = None
        elif self._in_window_since is None:
            self._in_window_since = t

    def advance_to(self, now: float) -> None:
        """Integrate up to lab time ``now`` (s); jumps once air and chips are at rest."""
        while self._t < now:
            if self._at_rest():
                target = self.values["SETP"] if self.blowing else self.p.ambient_c
                self.air_c = self.dut_c = target
                self._track_window(self._t)
                self._t = now
                break
            dt = min(self.p.step_s, now - self._t)
            self._step(dt)
            self._t += dt
            self._track_window(self._t)

    # -- registers ----------------------------------------------------------------------------
    def condition(self) -> tc.TemperatureCondition:
        """``TECR?`` now."""
        since = self._in_window_since
        if since is not None and self._t - since >= self.values["SOAK"] - 1e-9:
            return tc.TemperatureCondition.AT_TEMPERATURE
        return tc.TemperatureCondition.NOT_AT_TEMPERATURE

    def aux(self) -> tc.AuxCondition:
        """``AUXC?`` now."""
        a = tc.AuxCondition.READY | tc.AuxCondition.OPERATOR_SCREEN
        if int(self.values["HEAD"]) == tc.HEAD_UP:
            a |= tc.AuxCondition.HEAD_UP
        if not self.compressor:
            a |= tc.AuxCondition.HEAT_ONLY
        if self.dut_mode:
            a |= tc.AuxCondition.DUT_MODE
        if self.flow:
            a |= tc.AuxCondition.FLOW_ON
        return a

    # -- settings -----------------------------------------------------------------------------
    def set_value(self, name: str, value: float) -> bool:
        """``NAME value``; False (nothing changed, the error bits set) if refused."""
        s = tc.SETTINGS[name]
        if not (math.isfinite(value) and s.low <= value <= s.high) or \
                (s.integer and value != int(value)):
            if name == "SETP":
                self.error |= tc.DeviceError.SETPOINT_OUT_OF_RANGE
            self.esr |= tc.ESR_COMMAND_ERROR
            return False
        if name == "SETP" and not self.values["LLIM"] <= value <= self.values["ULIM"]:
            self.error |= tc.DeviceError.SETPOINT_OUT_OF_RANGE
            return False
        self.values[name] = float(value)
        if name == "SETP":
            self._in_window_since = None  # a new set point: soak again
            if self.values["RAMP"] <= 0:
                self.dynamic_sp = float(value)
        if name in ("WNDW", "HEAD", "DUTM"):
            self._track_window(self._t)
        return True

    def set_flow(self, on: bool) -> None:
        """``FLOW 1|0``."""
        if on and not self.flow:
            self.dynamic_sp = self.values["SETP"] if self.values["RAMP"] <= 0 else self.air_c
        self.flow = on
        self._track_window(self._t)


__all__ = ["ThermalHeadParams", "ThermoStreamModel"]
