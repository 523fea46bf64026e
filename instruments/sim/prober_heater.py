"""The thermal chuck of the simulated Velox station (a mixin of :class:`ProberModel`).

Behaviour chosen for the simulator (FormFactor's SCI reference names the commands, arguments and
reply fields; the rest is written down here and in ``docs/velox-twin.md``):

* The chuck temperature follows a linear ramp of ``ramp_c_per_min`` (default 10 C/min) towards
  the set point. SetHeaterTemp returns at once; HeatChuck lets simulated time run ahead until the
  set point is reached plus the soak time, then returns (nothing sleeps).
* **Contact safety.** A temperature change moves the wafer against the probes (thermal expansion
  of chuck and wafer), so it is never done in contact. SetHeaterTemp's ``UseContactSafety`` (Velox
  default 1) and HeatChuck's ``ReduceContact`` (default 1): with 1, a chuck that is not separated
  moves to separation height first, then the set point changes; with 0 the command is refused
  with ``E_INTERLOCK`` while the chuck is not separated. Either way no set point ever changes in
  contact. (A real station with ``UseContactSafety`` keeps the probes clear while ramping; the
  twin separates and stays separated: the caller goes back to contact explicitly.)
* GetHeaterTemp status letters: ``H`` heating, ``C`` cooling, ``S`` soaking, ``R`` ready.
* StopHeatChuck: the temperature reached now becomes the set point (Velox: "the actual
  temperature is set as target temperature").
* EnableHeaterHoldMode 1 only when ready (else ``E_HEATER_STATE``); a new set point ends it.
  EnableHeaterStandby: any temperature set or read ends standby (Velox documents this).
* The dew point is a constant ``dew_point_c`` (dry-air purge, -40 C).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from instruments.cascade.velox_commands import (
    E_HEATER_RANGE,
    E_HEATER_STATE,
    ERROR_MESSAGES,
)

if TYPE_CHECKING:
    from instruments.sim.prober import ProberConfig

DEW_POINT_C = -40.0


class ProberError(Exception):
    """A command the prober refuses; ``code`` is the Velox-style reply code."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        text = ERROR_MESSAGES.get(code, "Error")
        super().__init__(f"{text} {detail}".strip())


class HeaterMixin:
    """Heater state and commands; mixed into ProberModel (which supplies config, time, Z)."""

    config: ProberConfig

    # supplied by ProberModel
    def now(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def _let_time_pass(self, seconds: float) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _contact_safe(self, use_safety: bool, action: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def _init_heater(self, cfg: Any) -> None:
        # linear ramp from (t0, T0) towards the set point
        # (the clock is not read here: the lab builds the model before its clock starts)
        self._set_point_c: float = cfg.ambient_c
        self._ramp_t0: float | None = None  # None: settled at the set point since ever
        self._ramp_T0: float = cfg.ambient_c
        self._reached_at: float | None = -math.inf
        self.soak_s: float = cfg.soak_s
        self.hold_mode = False
        self.standby = False

    @property
    def set_point_c(self) -> float:
        """Heater set point, C."""
        return self._set_point_c

    def temperature_c(self) -> float:
        """Chuck temperature now (C), following the linear ramp."""
        if self._ramp_t0 is None:
            return self._set_point_c
        rate = self.config.ramp_c_per_min / 60.0
        elapsed = max(0.0, self.now() - self._ramp_t0)
        span = self._set_point_c - self._ramp_T0
        step = min(abs(span), rate * elapsed)
        return self._ramp_T0 + math.copysign(step, span)

    def temperature_k(self) -> float:
        """Chuck temperature now, kelvin."""
        return self.temperature_c() + 273.15

    def _time_to_set_point(self) -> float:
        remaining = abs(self._set_point_c - self.temperature_c())
        return remaining / (self.config.ramp_c_per_min / 60.0)

    def _start_ramp(self, celsius: float) -> None:
        now = self.now()
        self._ramp_T0 = self.temperature_c()
        self._ramp_t0 = now
        self._set_point_c = float(celsius)
        self._reached_at = None if self._ramp_T0 != celsius else now

    def set_heater_temp(self, celsius: float, use_contact_safety: bool = True) -> float:
        """SetHeaterTemp: new set point (C), returns at once; the chuck ramps towards it.

        Never changes the set point in contact: separates first (``use_contact_safety``) or is
        refused with E_INTERLOCK.
        """
        if not self.config.heater_min_c <= celsius <= self.config.heater_max_c:
            raise ProberError(E_HEATER_RANGE, f"{celsius:g} C")
        self._contact_safe(use_contact_safety, "a chuck temperature change")
        self.standby = False
        if celsius == self._set_point_c:
            return self._set_point_c
        self.hold_mode = False
        self._start_ramp(celsius)
        return self._set_point_c

    def heat_chuck(self, celsius: float, reduce_contact: bool = True) -> float:
        """HeatChuck: set point and let simulated time pass until reached + soak; returns C."""
        self.set_heater_temp(celsius, reduce_contact)
        self._update_reached()
        self._let_time_pass(self._time_to_set_point())
        self._update_reached()
        assert self._reached_at is not None
        self._let_time_pass(self._reached_at + self.soak_s - self.now())
        return self.temperature_c()

    def stop_heat_chuck(self) -> None:
        """StopHeatChuck: the temperature now becomes the set point."""
        temp = self.temperature_c()
        if temp != self._set_point_c:
            self._start_ramp(temp)
            self._ramp_t0 = None
            self._reached_at = self.now()

    def _update_reached(self) -> None:
        if self._reached_at is None and self._time_to_set_point() <= 1e-9:
            assert self._ramp_t0 is not None
            rate = self.config.ramp_c_per_min / 60.0
            self._reached_at = self._ramp_t0 + abs(self._set_point_c - self._ramp_T0) / rate

    def heater_status(self) -> tuple[float, str]:
        """GetHeaterTemp: (temperature C, status H heating / C cooling / S soaking / R ready)."""
        self.standby = False
        self._update_reached()
        temp = self.temperature_c()
        if self._reached_at is None:
            return temp, "H" if self._set_point_c > temp else "C"
        if self.now() < self._reached_at + self.soak_s:
            return temp, "S"
        return temp, "R"

    def soak_time_left_s(self) -> float:
        """Seconds of soak left (0 unless soaking)."""
        self._update_reached()
        if self._reached_at is None:
            return 0.0
        return max(0.0, self._reached_at + self.soak_s - self.now())

    def set_heater_soak(self, fixed_wafer_soak_s: float) -> None:
        """SetHeaterSoak: the fixed wafer soak time, s (-1 = unchanged)."""
        if fixed_wafer_soak_s >= 0:
            self.soak_s = float(fixed_wafer_soak_s)

    def enable_hold_mode(self, on: bool) -> bool:
        """EnableHeaterHoldMode: constant-current hold, only from the ready state."""
        if on and self.heater_status()[1] != "R":
            raise ProberError(E_HEATER_STATE, "hold mode needs the chuck at temperature")
        self.hold_mode = on
        return on

    def enable_standby(self, on: bool) -> bool:
        """EnableHeaterStandby: power-save mode on/off."""
        self.standby = on
        return on
