"""MemProbe's driver of an inTEST (Temptronic) ThermoStream: the heater of a packaged bench.

The ThermoStream blows temperature-controlled air through a thermal cap over the test board's
sockets; in DUT mode it controls on a thermocouple at the package (``docs/packaged-chips.md``).
The command vocabulary is :mod:`instruments.temptronic.thermostream_commands`. The driver
implements :class:`instruments.bench_types.Heater`:

* every set point is checked against the bench's temperature limits
  (:meth:`~instruments.limits.SafetyLimits.check_temperature`, ``[limits]``
  ``min/max_chuck_temperature``: the device temperature limits of any bench) and the
  instrument's ``SETP`` range **before** it is sent (a one-line
  :class:`~instruments.limits.LimitError` or ValueError, nothing applied), then read back;
* :meth:`start` (at bench open) puts the instrument in remote, writes the bench limits into the
  instrument's own air limits (``LLIM``/``ULIM``: it refuses anything beyond them too), selects DUT
  control on a T thermocouple, the window and soak of "at temperature", and lowers the head;
* :meth:`set_point` also starts the air flow if it is off; :meth:`to_safe` sends the safe set
  point (bench file ``[heater] safe_temperature``) without waiting: the air keeps flowing, so an
  unattended board is brought back to it even after the process ends.

Waiting (:meth:`set_temperature`) polls ``TECR?`` on the bench clock (``wait`` and ``clock``
given by the bench: the twin's modeled time, wall time on a lab bench). Units: C, s, C/min.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pymeasure.instruments import Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from instruments.exchange import SerialExchange
from instruments.limits import SafetyLimits
from instruments.temptronic import thermostream_commands as tc

POLL_S = 2.0
"""s of bench time between ``TECR?`` polls while waiting for the set point."""


class ThermoStreamError(RuntimeError):
    """The ThermoStream did not do what it was told (set point not taken, no valid reading)."""


def _control(name: str, doc: str) -> Any:
    """An ``Instrument.control`` for the numeric setting ``name`` (range from the vocabulary)."""
    s = tc.SETTINGS[name]
    fmt = f"{name} %d" if s.integer else f"{name} %.1f"
    cast = int if s.integer else float
    return Instrument.control(f"{name}?", fmt, f"{doc} ({s.description}; {s.low:g}..{s.high:g}"
                              f"{' ' + s.units if s.units else ''}).",
                              validator=strict_range, values=(s.low, s.high),
                              get_process=lambda v: cast(v))


def _valid(celsius: float) -> float:
    if celsius > tc.INVALID_READING_C:
        raise ThermoStreamError(f"no valid temperature reading ({celsius:g}: sensor open?)")
    return celsius


def _default_wait(seconds: float) -> bool:
    time.sleep(seconds)
    return True


class ThermoStream(SerialExchange, SCPIMixin, Instrument):
    """A ThermoStream (TP04300A / ATS-5xx) as the :class:`~instruments.bench_types.Heater` of a
    packaged bench.

    Args:
        adapter: VISA resource (``GPIB0::24::INSTR``, ``ASRL5::INSTR``,
            ``TCPIP::127.0.0.1::PORT::SOCKET`` for the twin) or adapter.
        limits: the bench's safety limits (device temperature range, C).
        safe_temperature_c: set point of :meth:`to_safe`, C (within the limits).
        window_c: at-temperature window (``WNDW``), C.
        soak_s: time within the window before "at temperature" (``SOAK``), s.
        dut_constant: DUT thermal constant (``DUTC``; 100 = the instrument's default mass).
        wait: lets bench time pass (s) and returns False if stopped (``Bench.wait``).
        clock: the bench clock, s.
        **kwargs: passed to pymeasure (``timeout`` in ms, terminations, ...).
    """

    kind = "thermostream"

    def __init__(self, adapter: object, limits: SafetyLimits | None = None,
                 safe_temperature_c: float = 25.0, window_c: float = 1.0, soak_s: float = 30.0,
                 dut_constant: float = 100.0,
                 wait: Callable[[float], bool] | None = None,
                 clock: Callable[[], float] | None = None,
                 name: str = tc.INSTRUMENT, **kwargs: Any) -> None:
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        kwargs.setdefault("timeout", 5000)
        super().__init__(adapter, name, **kwargs)
        self.limits = limits or SafetyLimits()
        self.safe_temperature_c = float(self.limits.check_temperature(
            safe_temperature_c, "heater safe_temperature"))
        self.window_c = float(window_c)
        self.soak_s = float(soak_s)
        self.dut_constant = float(dut_constant)
        self.wait = wait or _default_wait
        self.clock = clock or time.monotonic

    # -- the instrument's settings ------------------------------------------------------------
    setpoint = _control("SETP", "Temperature set point, C")
    air_limit_low = _control("LLIM", "Lowest air temperature, C")
    air_limit_high = _control("ULIM", "Highest air temperature, C")
    window = _control("WNDW", "At-temperature window, C")
    soak_time = _control("SOAK", "Soak time, s")
    ramp_rate = _control("RAMP", "Set-point ramp rate, C/min")
    dut_mode = _control("DUTM", "Control on the DUT sensor (1) or the air (0)")
    dut_sensor = _control("DSNS", "DUT sensor type code")
    dut_thermal_constant = _control("DUTC", "DUT thermal constant")
    air_to_dut_max = _control("ADMD", "Largest air-to-DUT difference, C")
    head = _control("HEAD", "Test head position code")

    flow = Instrument.setting(
        "FLOW %d", "Set the main air flow on (True) or off (False).",
        validator=strict_discrete_set, values={True: 1, False: 0}, map_values=True)
    remote = Instrument.setting(
        "%s", "Set remote (True: front panel disabled) or local (False).",
        validator=strict_discrete_set, values={True: "%RM", False: "%GL"}, map_values=True)

    controlled_temperature = Instrument.measurement(
        "TEMP?", "Get the controlled temperature, C (the DUT's in DUT mode, else the air's).")
    air_temperature = Instrument.measurement("TMPA?", "Get the air temperature, C.")
    dut_temperature = Instrument.measurement("TMPD?", "Get the DUT sensor temperature, C.")
    condition = Instrument.measurement(
        "TECR?", "Get the temperature condition register.",
        get_process=lambda v: tc.TemperatureCondition(int(v)))
    aux_condition = Instrument.measurement(
        "AUXC?", "Get the auxiliary condition register.",
        get_process=lambda v: tc.AuxCondition(int(v)))
    device_error = Instrument.measurement(
        "EROR?", "Get the device error register.",
        get_process=lambda v: tc.DeviceError(int(v)))

    # -- serialised I/O (instruments.exchange): a query is a write and a read, never
    # interleaved with another thread's; after a timeout, *IDN? puts the replies in step again
    resync_query = "*IDN?"
    resync_reply = r"(?i)temptronic|thermostream"  #: in the identity only

    # -- bench life cycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Remote mode, the bench limits as the instrument's air limits, DUT control on a T
        thermocouple, window, soak and DUT constant; the head lowered onto the board. A set
        point beyond the bench limits (left by someone else) is replaced by the safe one."""
        lo_r, hi_r = tc.SETTINGS["LLIM"], tc.SETTINGS["ULIM"]
        self.remote = True
        self.air_limit_low = min(max(self.limits.min_chuck_temperature, lo_r.low), lo_r.high)
        self.air_limit_high = max(min(self.limits.max_chuck_temperature, hi_r.high), hi_r.low)
        self.dut_sensor = tc.SENSOR_T
        self.dut_mode = 1
        self.dut_thermal_constant = self.dut_constant
        self.window = self.window_c
        self.soak_time = self.soak_s
        self.head = tc.HEAD_DOWN
        sp = float(self.setpoint)
        if not self.limits.min_chuck_temperature <= sp <= self.limits.max_chuck_temperature:
            self.set_point(self.safe_temperature_c)

    # -- Heater -------------------------------------------------------------------------------
    def set_point(self, celsius: float) -> None:
        """Send the set point ``celsius`` (C; checked first, read back) and start the air if it
        is off; returns at once."""
        c = self.limits.check_temperature(float(celsius), "heater set point")
        s = tc.SETTINGS["SETP"]
        if not s.low <= c <= s.high:
            raise ValueError(f"heater set point {c:g} C is outside the ThermoStream's range "
                             f"{s.low:g}..{s.high:g} C")
        with self.exchange():
            self.setpoint = c
            back = float(self.setpoint)
            if abs(back - c) > 0.05 + 1e-9:
                raise ThermoStreamError(f"set point {c:g} C not taken: the ThermoStream reads "
                                        f"{back:g} C (error register {int(self.device_error)})")
            if tc.AuxCondition.FLOW_ON not in self.aux_condition:
                self.flow = True
                if tc.AuxCondition.FLOW_ON not in self.aux_condition:  # read back
                    raise ThermoStreamError("the air flow does not start (FLOW 1): error "
                                            f"register {int(self.device_error)}")

    def temperature(self) -> float:
        """The controlled temperature (C: the DUT sensor's); ThermoStreamError if invalid."""
        return _valid(float(self.controlled_temperature))

    def at_temperature(self) -> bool:
        """True when the instrument reports at temperature (within the window for the soak)."""
        return tc.TemperatureCondition.AT_TEMPERATURE in self.condition

    def set_temperature(self, celsius: float, timeout_s: float = 7200.0) -> float:
        """Go to ``celsius`` (C) and wait (bench time) until at temperature; the temperature
        read then. TimeoutError after ``timeout_s`` s; ThermoStreamError if the wait is cut
        short (the bench stopped)."""
        self.set_point(celsius)
        t_end = self.clock() + float(timeout_s)
        while not self.at_temperature():
            if self.clock() > t_end:
                raise TimeoutError(f"ThermoStream not at {celsius:g} C after {timeout_s:g} s "
                                   f"(now {self.temperature():g} C)")
            if not self.wait(POLL_S):
                raise ThermoStreamError(f"stopped while going to {celsius:g} C")
        return self.temperature()

    def to_safe(self) -> None:
        """The safe set point (no wait; the air keeps flowing towards it)."""
        self.set_point(self.safe_temperature_c)

    def state(self) -> str:
        """``ready`` (at temperature), ``settling``, ``flow off`` or ``head up``."""
        return self.status()[1]

    def status(self) -> tuple[float, str]:
        """(temperature C, state word of :meth:`state`) in one message (``TEMP?;AUXC?;TECR?``:
        one round trip, ~0.1 s of the instrument's processing instead of three)."""
        reply = self.ask("TEMP?;AUXC?;TECR?").strip().split(";")
        if len(reply) != 3:
            raise ThermoStreamError(f"TEMP?;AUXC?;TECR? answered {';'.join(reply)!r}")
        temp, aux = float(reply[0]), tc.AuxCondition(int(reply[1]))
        _valid(temp)
        if tc.AuxCondition.HEAD_UP in aux:
            return temp, "head up"
        if tc.AuxCondition.FLOW_ON not in aux:
            return temp, "flow off"
        at = tc.TemperatureCondition.AT_TEMPERATURE in tc.TemperatureCondition(int(reply[2]))
        return temp, "ready" if at else "settling"


def connect(config: Any, wait: Callable[[float], bool], clock: Callable[[], float],
            **kwargs: Any) -> ThermoStream:
    """The ThermoStream of a bench config with a ``[heater]`` table
    (:class:`~instruments.bench_schema.HeaterSchema`) at ``config.resources["heater"]``,
    started (:meth:`ThermoStream.start`); ``wait``/``clock``: the bench's."""
    h = config.heater
    ts = ThermoStream(config.resources["heater"], limits=config.limits,
                      safe_temperature_c=h.safe_temperature, window_c=h.window, soak_s=h.soak_s,
                      dut_constant=h.dut_constant, wait=wait, clock=clock, **kwargs)
    ts.start()
    return ts


__all__ = ["POLL_S", "ThermoStream", "ThermoStreamError", "connect"]
