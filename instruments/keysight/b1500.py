"""Keysight B1500A driver (FLEX), built on pymeasure's ``AgilentB1500`` with bench safety limits.

(Longer than ~500 lines on purpose: the pymeasure subclass, its fixes and the bench-limit guards
of every output method stay side by side; FLEX vocabulary is :mod:`instruments.keysight.flex`.)

:class:`B1500` subclasses :class:`pymeasure.instruments.agilent.AgilentB1500` and

* fixes what is wrong there (each fix says why): the voltage ramp (:meth:`B1500.ramp_voltage`,
  used by :meth:`B1500SMU.ramp_source`), ``read_data`` (pandas 3), ``read_channels`` (leaves the
  terminator's ``\\n`` unread on a socket) and ``check_errors`` (only parses plain messages);
* adds pulsed spot (``MM 3``/``PT``/``PV``), high-speed spot (``TI``/``TV``) and staircase sweep
  helpers; ``FMT 1`` data are decoded by :func:`instruments.keysight.flex.parse_fmt1` (each
  value keeps its status; the dummy ``199.999E+99`` of overflowed or aborted data reads as NaN,
  never as 2e101 A);
* detects an automatic sweep abort as the instrument shows it: data for every programmed step,
  the steps after the abort all dummy with status ``V``;
* checks every force/sweep/pulse request against the bench's :class:`SafetyLimits` *before*
  anything is written (a :class:`LimitError` leaves the instrument untouched), also through the
  pymeasure SMU methods (:class:`B1500SMU`).

Channels are addressed by their FLEX channel number (the SMU's slot); ``channel_map`` says which
chip terminal each one drives (by default :data:`instruments.wiring.SMU_WIRING`: SMU 1..4 on BL,
SL, WL, SUB), which picks the voltage limit that applies. Units: volts, amperes, seconds.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyvisa
from pymeasure.instruments.agilent.agilentB1500 import SMU, AgilentB1500
from pymeasure.instruments.validators import strict_discrete_set

from instruments.exchange import SerialChannel, SerialExchange
from instruments.keysight.flex import Reading, parse_fmt1, parse_fmt1_value
from instruments.limits import LimitError, SafetyLimits
from instruments.wiring import SMU_WIRING

__all__ = ["B1500", "B1500Error", "B1500SMU", "OutputState", "Reading", "SweepResult",
           "parse_fmt1", "parse_fmt1_value"]

log = logging.getLogger(__name__)

DEFAULT_CHANNEL_MAP = SMU_WIRING  # the one default wiring (instruments.wiring)

#: ``TGP`` trigger ports (B1500A programming guide; QCoDeS ``constants.TriggerPort``): -1 Ext
#: Trig In, -2 Ext Trig Out, 1..16 the digital I/O paths
TRIGGER_PORTS = (-1, -2, *range(1, 17))
EXT_TRIG_OUT = -2
#: ``TGP port,2,polarity,type`` output types (the guide's Table 4-31 "Trigger Type")
TRIGGER_OUTPUTS: dict[str, int] = {
    "os": 0,  # sent by OS/OSX
    "measurement": 1,  # after the measurement
    "step_output": 2,  # when the output of each sweep step is set
    "step_measurement": 3,  # after the measurement at each sweep step (staircase sweeps)
}
TRIGGER_POLARITIES: dict[str, int] = {"positive": 1, "negative": 2}


class B1500Error(OSError):
    """An error reported by the instrument's ``ERRX?`` (code and message)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"B1500 error {code}: {message}")
        self.code = code
        self.message = message


@dataclass
class SweepResult:
    """Result of a staircase sweep.

    Attributes:
        voltage: V, source value of every measured step (the programmed staircase up to and
            including the step that stopped an automatic abort).
        current: A, current measured on the swept channel at every step (NaN if not measured).
        compliance: per step, True when any measured channel was in compliance.
        currents: A, per measured channel.
        readings: the raw readings of every measured step.
        aborted: True when the instrument stopped before the last programmed step (the steps
            after the abort came back as dummy data and are left out).
    """

    voltage: np.ndarray
    current: np.ndarray
    compliance: np.ndarray
    currents: dict[int, np.ndarray] = field(default_factory=dict)
    readings: list[list[Reading]] = field(default_factory=list)
    aborted: bool = False


@dataclass(frozen=True)
class OutputState:
    """Present output of a channel as read back with ``*LRN? <ch>``.

    ``kind`` is "V" (level in V, compliance in A) or "I" (level in A, compliance in V).
    """

    kind: str
    level: float
    compliance: float


def _steps_before_abort(groups: list[list[Reading]]) -> int:
    """Number of steps measured before an automatic abort: the trailing steps whose every datum
    is the dummy with status V are the ones the instrument skipped (a dummy step followed by a
    measured one is an overflow, not an abort)."""
    n = len(groups)
    while n > 1 and all(r.dummy and r.status == "V" for r in groups[n - 1]):
        n -= 1
    if n < len(groups) and not any(r.compliance or r.overflow for r in groups[n - 1]):
        return len(groups)  # dummy tail without a stopping step: not an abort
    return n


def _f(value: float) -> str:
    """A number as sent to the instrument (6 significant digits, e.g. ``0.5``, ``1E-05``)."""
    return f"{float(value):.6G}"


class B1500SMU(SerialChannel, SMU):
    """pymeasure's SMU channel with the bench limits enforced and a correct voltage ramp (its
    queries atomic exchanges of the B1500)."""

    def _limits_parent(self) -> B1500:
        parent = self.parent
        if not isinstance(parent, B1500):
            raise TypeError("B1500SMU must be a child of B1500")
        return parent

    def force(
        self,
        source_type: str,
        source_range: int | str,
        output: float,
        comp: float | str = "",
        comp_polarity: int | str = "",
        comp_range: int | str = "",
    ) -> None:
        """pymeasure's ``force`` (``DV``/``DI``) after checking the bench limits.

        Unlike pymeasure, ``comp`` is required: the limits cannot be checked against a compliance
        that was set earlier.
        """
        self._check(source_type, [float(output)], comp)
        super().force(source_type, source_range, output, comp, comp_polarity, comp_range)

    def staircase_sweep_source(
        self,
        source_type: str,
        mode: int | str,
        source_range: int | str,
        start: float,
        stop: float,
        steps: int,
        comp: float,
        Pcomp: float | str = "",  # noqa: N803 - pymeasure's name
    ) -> None:
        """pymeasure's ``staircase_sweep_source`` (``WV``/``WI``) after checking the limits."""
        self._check(source_type, [float(start), float(stop)], comp)
        super().staircase_sweep_source(
            source_type, mode, source_range, start, stop, steps, comp, Pcomp
        )

    def synchronous_sweep_source(
        self,
        source_type: str,
        source_range: int | str,
        start: float,
        stop: float,
        comp: float,
        Pcomp: float | str = "",  # noqa: N803 - pymeasure's name
    ) -> None:
        """pymeasure's ``synchronous_sweep_source`` (``WSV``/``WSI``) after checking the limits."""
        self._check(source_type, [float(start), float(stop)], comp)
        super().synchronous_sweep_source(source_type, source_range, start, stop, comp, Pcomp)

    def sampling_source(
        self, source_type: str, source_range: int | str, base: float, bias: float, comp: float
    ) -> None:
        """pymeasure's ``sampling_source`` (``MV``/``MI``) after checking the limits."""
        self._check(source_type, [float(base), float(bias)], comp)
        super().sampling_source(source_type, source_range, base, bias, comp)

    def ramp_source(
        self,
        source_type: str,
        source_range: int | str,
        target_output: float,
        comp: float | str = "",
        comp_polarity: int | str = "",
        comp_range: int | str = "",
        stepsize: float = 0.001,
        pause: float = 20e-3,
    ) -> None:
        """Ramp the output; voltage ramps go through :meth:`B1500.ramp_voltage`.

        pymeasure 0.16 looks the present value up under ``DI<ch>`` also in voltage mode, never finds
        it while forcing a voltage, and starts the ramp at 0 V: the output jumps. The voltage case
        is therefore replaced; the current case (which reads ``DI<ch>`` correctly) is kept.
        """
        if source_type.upper() == "VOLTAGE":
            v_range = self.voltage_ranging.output(source_range).index
            self.ramp_voltage(
                float(target_output), stepsize, pause, None if comp == "" else float(comp),
                v_range=v_range,
            )
            return
        self._check(source_type, [float(target_output)], comp)
        super().ramp_source(
            source_type, source_range, target_output, comp, comp_polarity, comp_range,
            stepsize, pause,
        )

    def ramp_voltage(
        self,
        target: float,
        step: float = 0.1,
        pause: float = 0.02,
        compliance: float | None = None,
        v_range: int = 0,
    ) -> None:
        """Ramp this SMU's voltage to ``target`` V; see :meth:`B1500.ramp_voltage`."""
        self._limits_parent().ramp_voltage(self.id, target, step, pause, compliance, v_range)

    def _check(self, source_type: str, outputs: list[float], comp: object) -> None:
        parent = self._limits_parent()
        if comp == "" or comp is None:
            raise LimitError(f"{self.name}: give the compliance explicitly (bench safety)")
        peak = max(outputs, key=abs)
        if source_type.upper() == "VOLTAGE":
            parent.check_voltage_request(self.id, peak, float(comp))
        elif source_type.upper() == "CURRENT":
            parent.check_current_request(self.id, peak, float(comp))
        else:
            raise ValueError("Source Type must be Current or Voltage.")


class B1500(SerialExchange, AgilentB1500):
    """Keysight B1500A semiconductor parameter analyzer with SMUs (FLEX, ``\\r\\n`` terminated).

    Args:
        adapter: VISA resource string or pymeasure adapter.
        name: instrument name.
        limits: bench safety limits (defaults to :class:`SafetyLimits` defaults).
        channel_map: SMU channel number -> terminal (BL, SL, WL, SUB).
        **kwargs: passed to pymeasure's ``Instrument`` (e.g. ``timeout`` in ms).

    Each query (and a trigger with its data) is one exchange, never interleaved with another
    thread's; after a read timed out, the next exchange first drops the late reply up to the
    reply of ``*IDN?`` (:class:`~instruments.exchange.SerialExchange`).
    """

    resync_query = "*IDN?"
    resync_reply = r"B1500"  #: in the identity only (data, ERRX? and *LRN? replies never)

    def __init__(
        self,
        adapter: object,
        name: str = "Keysight B1500A",
        limits: SafetyLimits | None = None,
        channel_map: dict[int, str] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(adapter, name, **kwargs)
        self.limits = limits or SafetyLimits()
        self.channel_map = dict(channel_map or DEFAULT_CHANNEL_MAP)

    # -- safety -------------------------------------------------------------------------------
    def terminal(self, channel: int) -> str:
        """Terminal driven by ``channel``; LimitError for a channel outside the bench wiring."""
        try:
            return self.channel_map[int(channel)]
        except (KeyError, ValueError):
            raise LimitError(
                f"channel {channel} is not wired on this bench "
                f"(wired: {', '.join(f'{c}->{t}' for c, t in self.channel_map.items())})"
            ) from None

    def check_voltage_request(self, channel: int, volts: float, compliance: float) -> None:
        """LimitError unless forcing ``volts`` V with ``compliance`` A on ``channel`` is allowed."""
        self.limits.check_voltage(self.terminal(channel), volts)
        self.limits.check_compliance(compliance, volts)

    def check_current_request(self, channel: int, amps: float, v_compliance: float) -> None:
        """LimitError unless forcing ``amps`` A with ``v_compliance`` V on ``channel`` is OK."""
        self.limits.check_voltage(self.terminal(channel), v_compliance)
        self.limits.check_compliance(amps, v_compliance)

    # -- fixes of pymeasure -------------------------------------------------------------------
    def check_errors(self) -> None:
        """Read ``ERRX?`` and raise :class:`B1500Error` for a non-zero code.

        Replaces pymeasure's version, whose pattern only accepts letters, digits, blanks and dots
        in the message (and fails with an AttributeError on anything else).
        """
        reply = self.ask("ERRX?").strip()  # e.g. +0,"No Error." (signed code)
        match = re.match(r'\s*([+-]?\d+)\s*(?:,\s*"?(.*?)"?)?\s*$', reply)
        if match is None:
            raise B1500Error(-1, f"unparsable ERRX? reply {reply!r}")
        code = int(match.group(1))
        if code != 0:
            raise B1500Error(code, match.group(2) or "")

    def read_data(self, number_of_points: int) -> pd.DataFrame:
        """Read all data from the buffer as a DataFrame (one row per point), as pymeasure does.

        Replaces pymeasure's version, which uses ``DataFrame.applymap`` (removed in pandas 3).
        Requires :meth:`data_format` to have been called.
        """
        elements = self.read().strip().split(",")
        if number_of_points <= 0 or len(elements) % number_of_points:
            raise ValueError(
                f"{len(elements)} values cannot be split into {number_of_points} points"
            )
        per_point = len(elements) // number_of_points
        rows = [
            [self._data_format.format_single(e) for e in elements[k : k + per_point]]
            for k in range(0, len(elements), per_point)
        ]
        columns = [" ".join(str(part) for part in cell[1:3]) for cell in rows[0]]
        return pd.DataFrame([[cell[3] for cell in row] for row in rows], columns=columns)

    def read_channels(self, nchannels: int) -> tuple:
        """Read one point of ``nchannels`` values, as pymeasure does.

        pymeasure reads exactly 16 bytes per value, so the last point of a reply leaves the
        ``\\n`` of the ``\\r\\n`` terminator unread; on a socket it would then be taken as the next
        reply. It is consumed here.
        """
        with self.exchange():
            data = self.read_bytes(self._data_format.size * nchannels).decode("ascii")
            if data.endswith("\r"):
                self.read_bytes(1)
        return tuple(self._data_format.format_single(e) for e in data.rstrip("\r,").split(","))

    def initialize_all_smus(self) -> None:
        """Query the modules (``UNT?``) and add a :class:`B1500SMU` per SMU (``.smu1`` ...).

        Same as pymeasure's, but with the safety-checked SMU class; calling it again is a no-op.
        """
        if self._smu_references:
            return
        index = 1
        for slot, module_type in self.query_modules().items():
            if "SMU" in module_type:
                self.add_child(
                    B1500SMU, index, collection="smus", prefix="smu", smu_type=module_type,
                    name=f"SMU{index}", slot=slot,
                )
                self._smu_references[slot] = self.smus[index]
                self._smu_names[slot] = self.smus[index].name
                index += 1

    def initialize(self, reset: bool = False) -> None:
        """Optionally reset (``*RST``), find the SMUs (``UNT?``) and select ``FMT 1,0``."""
        if reset:
            self.write("*RST")
        self.initialize_all_smus()
        self.data_format(1, 0)

    # -- outputs ------------------------------------------------------------------------------
    def enable(self, *channels: int) -> None:
        """Connect the outputs of ``channels`` (``CN``; all when none given); they force 0 V."""
        self.write("CN" + (" " + ",".join(str(int(c)) for c in channels) if channels else ""))
        self.check_errors()

    def disable(self, *channels: int) -> None:
        """Disconnect the outputs of ``channels`` (``CL``; all when none given)."""
        self.write("CL" + (" " + ",".join(str(int(c)) for c in channels) if channels else ""))
        self.check_errors()

    def all_off(self) -> None:
        """Zero every output (``DZ``) and disconnect every channel (``CL``). No error check.

        Meant for shutdown and emergency stop paths: it never raises because of a pending
        instrument error, and ``CL`` is sent even if sending ``DZ`` failed. It returns once the
        instrument has executed both (``*OPC?``), so "outputs off" is a fact when it returns.
        """
        try:
            self.write("DZ")
        finally:
            self.write("CL")
            self.ask("*OPC?")

    safe_state = all_off

    def force_voltage(
        self, channel: int, volts: float, compliance: float, v_range: int = 0,
        check: bool = True,
    ) -> None:
        """Force ``volts`` V on ``channel`` with a current compliance of ``compliance`` A (``DV``).

        The channel must be enabled. Raises LimitError (nothing sent) outside the bench limits.
        ``check=False`` leaves the ``ERRX?`` to the caller's next check of the block (see
        :meth:`force_voltages`).
        """
        self.force_voltages([(channel, volts, compliance)], v_range, check)

    def force_voltages(
        self, levels: Sequence[tuple[int, float, float]], v_range: int = 0, check: bool = True
    ) -> None:
        """Force several ``(channel, volts, compliance A)`` in one line of chained ``DV`` commands.

        Every level is checked against the bench limits before anything is written (one
        LimitError, nothing sent). Error checks once per block: pymeasure queries ``ERRX?``
        after every write, one more GPIB round trip (~0.6 ms modeled,
        ``instruments/sim/timing.py``) per command; here one line carries the whole block and
        one ``ERRX?`` follows it (``check``), or a caller that goes on with the same block (a
        measurement, a return to 0 V) leaves it to the check that ends the block. The checks
        that keep the bench safe are never skipped: before a trigger (:meth:`staircase_sweep`,
        :meth:`spot_measure`, :meth:`pulsed_spot` check their set-up before ``XE``), after
        ``CN``/``CL`` and at the end of every block that returns an output to 0 V. The
        commands of a line run in order; the twin drops the rest of a line after an error
        (:meth:`instruments.sim.b1500_server.B1500Simulator.handle`), and the ``ERRX?`` of
        the block reports it either way.
        """
        for channel, volts, compliance in levels:
            self.check_voltage_request(channel, volts, compliance)
        if not levels:
            return
        self.write(";".join(
            f"DV {int(ch)},{int(v_range)},{_f(v)},{_f(c)}" for ch, v, c in levels))
        if check:
            self.check_errors()

    def force_current(
        self, channel: int, amps: float, v_compliance: float, i_range: int = 0
    ) -> None:
        """Force ``amps`` A on ``channel`` with a voltage compliance ``v_compliance`` V (``DI``)."""
        self.check_current_request(channel, amps, v_compliance)
        self.write(f"DI {int(channel)},{int(i_range)},{_f(amps)},{_f(v_compliance)}")
        self.check_errors()

    def output_state(self, channel: int) -> OutputState | None:
        """What ``channel`` forces now (``*LRN? <ch>``); None when its output is off."""
        learned = self.query_learn(int(channel))
        for kind in ("V", "I"):
            params = learned.get(f"D{kind}{int(channel)}")
            if params is not None:
                return OutputState(kind, float(params[1]), abs(float(params[2])))
        return None

    def ramp_voltage(
        self,
        channel: int,
        target: float,
        step: float = 0.1,
        pause: float = 0.02,
        compliance: float | None = None,
        v_range: int = 0,
    ) -> None:
        """Ramp ``channel`` from its present output to ``target`` V in steps of at most ``step`` V.

        The present output is read back with ``*LRN?`` (a current-forcing channel starts from its
        measured voltage, a disconnected one is connected and starts at 0 V). ``compliance`` (A)
        defaults to the present one of a voltage-forcing channel. The target is checked against
        the limits before anything is written; ``pause`` s separates the steps.
        """
        if step <= 0:
            raise ValueError("step must be > 0 V")
        if compliance is not None:
            self.check_voltage_request(channel, target, compliance)
        state = self.output_state(channel)
        if compliance is None:
            if state is None or state.kind != "V":
                raise ValueError(f"channel {channel}: give the compliance (not forcing a voltage)")
            compliance = state.compliance
        self.check_voltage_request(channel, target, compliance)
        if state is None:
            self.enable(channel)
            start = 0.0
        elif state.kind == "I":
            start = self.high_speed_spot_voltage(channel).value
        else:
            start = state.level
        n_steps = max(1, math.ceil(round(abs(target - start) / step, 9)))
        for k, volts in enumerate(np.linspace(start, target, n_steps + 1)[1:]):
            if k:
                time.sleep(pause)
            self.force_voltage(channel, float(volts), compliance, v_range)

    # -- measurements -------------------------------------------------------------------------
    def _trigger(self) -> list[Reading]:
        """Send ``XE`` and parse the data; on a timeout report the instrument's error instead."""
        with self.exchange():  # the trigger and its data: no other thread's line between
            self.write("XE")
            try:
                text = self.read()
            except pyvisa.errors.VisaIOError:
                self.check_errors()  # the late data is dropped first (out of step after a timeout)
                raise
        return [r for r in parse_fmt1(text) if r.kind != "T"]

    def _ask_data(self, command: str) -> list[Reading]:
        try:
            text = self.ask(command)
        except pyvisa.errors.VisaIOError:
            self.check_errors()
            raise
        return [r for r in parse_fmt1(text) if r.kind != "T"]

    def spot_measure(self, channels: Sequence[int], quantity: str = "I") -> list[Reading]:
        """Spot measurement (``MM 1``) of ``quantity`` ("I" or "V") on ``channels``, in order."""
        mode = {"I": 1, "V": 2}[quantity.upper()]
        chans = [int(c) for c in channels]
        if not chans:
            raise ValueError("no channel to measure")
        setup = ["FMT 1,0", *(f"CMM {c},{mode}" for c in chans)]
        setup.append("MM 1," + ",".join(map(str, chans)))
        self.write(";".join(setup))
        self.check_errors()
        return self._trigger()

    def spot_current(self, channel: int) -> Reading:
        """Current (A) of ``channel`` by a spot measurement (``MM 1``, ``CMM ch,1``, ``XE``)."""
        return self.spot_measure([channel], "I")[0]

    def spot_voltage(self, channel: int) -> Reading:
        """Voltage (V) of ``channel`` by a spot measurement (``MM 1``, ``CMM ch,2``, ``XE``)."""
        return self.spot_measure([channel], "V")[0]

    def high_speed_spot_current(self, channel: int, i_range: int | None = None) -> Reading:
        """Current (A) of ``channel`` by high-speed spot (``TI ch[,range]``)."""
        rng = "" if i_range is None else f",{int(i_range)}"
        return self._ask_data(f"TI {int(channel)}{rng}")[0]

    def high_speed_spot_voltage(self, channel: int, v_range: int | None = None) -> Reading:
        """Voltage (V) of ``channel`` by high-speed spot (``TV ch[,range]``)."""
        rng = "" if v_range is None else f",{int(v_range)}"
        return self._ask_data(f"TV {int(channel)}{rng}")[0]

    def _sweep_checks(self, channel: int, steps: int, peak: float, compliance: float,
                      measure: Sequence[int] | None) -> list[int]:
        """Checks of a sweep before anything is sent (ValueError/LimitError): 1..10001 steps,
        ``peak`` V with ``compliance`` A within the limits, a channel to measure; returns the
        measured channels (default: the swept one)."""
        if not 1 <= int(steps) <= 10001:
            raise ValueError("steps must be within 1..10001")
        self.check_voltage_request(channel, peak, compliance)
        chans = [int(c) for c in (measure if measure is not None else [channel])]
        if not chans:
            raise ValueError("no channel to measure")
        return chans

    def staircase_sweep(
        self,
        channel: int,
        start: float,
        stop: float,
        steps: int,
        compliance: float,
        hold: float = 0.0,
        delay: float = 0.0,
        double: bool = False,
        measure: Sequence[int] | None = None,
        abort: bool = True,
        v_range: int = 0,
        post_stop: bool = False,
    ) -> SweepResult:
        """Linear voltage staircase sweep on ``channel`` measuring currents (``WV``, ``MM 2``).

        Args:
            channel: swept SMU (must be enabled, as must every measured one).
            start, stop: V; steps: number of steps (1..10001) of one leg.
            compliance: A, current compliance of the swept channel.
            hold: s before the first step; delay: s before each step's measurement.
            double: go start -> stop -> start (2 x steps points).
            measure: channels whose current is measured at every step (default: the swept one).
            abort: stop at the first step where a channel reaches compliance (``WM 2``).
            v_range: output range index (0 = auto).
            post_stop: leave the output at the stop value (default: back to start).
        """
        chans = self._sweep_checks(channel, steps, max(start, stop, key=abs), compliance,
                                   measure)
        setup = [
            "FMT 1,0",
            f"WT {_f(hold)},{_f(delay)}",
            f"WM {2 if abort else 1},{2 if post_stop else 1}",
            f"WV {int(channel)},{3 if double else 1},{int(v_range)},{_f(start)},{_f(stop)},"
            f"{int(steps)},{_f(compliance)}",
            *(f"CMM {c},1" for c in chans),
            "MM 2," + ",".join(map(str, chans)),
        ]
        self.write(";".join(setup))
        self.check_errors()
        readings = self._trigger()
        programmed = np.linspace(start, stop, int(steps))
        if double:
            programmed = np.concatenate([programmed, programmed[::-1]])
        per_step = len(chans)
        groups = [readings[k : k + per_step] for k in range(0, len(readings), per_step)]
        groups = [g for g in groups if len(g) == per_step][: len(programmed)]
        measured = _steps_before_abort(groups)
        aborted = measured < len(groups) or len(groups) < len(programmed)
        groups = groups[:measured]
        currents = {
            c: np.array([g[j].value for g in groups], dtype=float) for j, c in enumerate(chans)
        }
        swept = currents.get(int(channel), np.full(len(groups), np.nan))
        return SweepResult(
            voltage=programmed[: len(groups)].astype(float),
            current=swept,
            compliance=np.array([any(r.compliance for r in g) for g in groups], dtype=bool),
            currents=currents,
            readings=groups,
            aborted=aborted,
        )

    # -- trigger outputs and the triggered constant-voltage sweep ------------------------------
    def trigger_output_command(self, port: int = EXT_TRIG_OUT, timing: str = "step_measurement",
                               polarity: str = "positive") -> str:
        """The ``TGP port,2,polarity,type`` command that makes ``port`` a trigger output sending
        an edge at ``timing`` (a key of :data:`TRIGGER_OUTPUTS`); validated, not sent."""
        port = int(strict_discrete_set(int(port), TRIGGER_PORTS))
        if port == -1:
            raise ValueError("port -1 (Ext Trig In) is an input, not a trigger output")
        kind = strict_discrete_set(timing, tuple(TRIGGER_OUTPUTS))
        pol = strict_discrete_set(polarity, tuple(TRIGGER_POLARITIES))
        return f"TGP {port},2,{TRIGGER_POLARITIES[pol]},{TRIGGER_OUTPUTS[kind]}"

    def clear_triggers(self, *ports: int, check: bool = True) -> None:
        """Clear the trigger set-up of ``ports`` (``TGPC``; every port when none given)."""
        for port in ports:
            strict_discrete_set(int(port), TRIGGER_PORTS)
        self.write("TGPC" + (" " + ",".join(str(int(p)) for p in ports) if ports else ""))
        if check:
            self.check_errors()

    def send_trigger(self, port: int = EXT_TRIG_OUT) -> None:
        """Send one edge from ``port`` now (``OS`` for Ext Trig Out, else ``OSX port,2``)."""
        port = int(strict_discrete_set(int(port), TRIGGER_PORTS))
        self.write("OS" if port == EXT_TRIG_OUT else f"OSX {port},2")
        self.check_errors()

    def triggered_sweep_setup(
        self,
        channel: int,
        volts: float,
        points: int,
        compliance: float,
        delay: float,
        measure: Sequence[int] | None = None,
        trigger_port: int = EXT_TRIG_OUT,
    ) -> None:
        """Set up a constant-voltage staircase sweep of ``points`` steps with a trigger out at
        each step (one chained line and its ``ERRX?``; :meth:`triggered_sweep` runs it).

        ``channel`` forces ``volts`` V at every step (``WV ch,1,0,volts,volts,points,comp``: a
        linear staircase whose start and stop are equal), ``measure`` (default ``channel``)
        measure their currents after ``delay`` s (``WT 0,delay``) and the integration time;
        no automatic abort, the output stays at ``volts`` after the sweep (``WM 1,1``). The
        edge: ``TGP port,2,1,3``, "step measurement completion": the guide's Table 4-31
        ("the B1500 sends a trigger after measurement at each sweep step", staircase sweeps;
        with several measured channels when all have measured), an edge of ~10 us. An
        instrument that steps on these edges (the chip controller's scan mode) routes the
        next device while the B1500 waits ``delay`` before the next step's measurement.
        """
        if not 0.0 <= float(delay) <= 65.535:
            raise ValueError("delay must be within 0..65.535 s")
        chans = self._sweep_checks(channel, points, volts, compliance, measure)
        setup = [
            "FMT 1,0",
            self.trigger_output_command(trigger_port, "step_measurement"),
            f"WT 0,{_f(delay)}",
            "WM 1,1",
            f"WV {int(channel)},1,0,{_f(volts)},{_f(volts)},{int(points)},{_f(compliance)}",
            *(f"CMM {c},1" for c in chans),
            "MM 2," + ",".join(map(str, chans)),
        ]
        self.write(";".join(setup))
        self.check_errors()

    def triggered_sweep(self, points: int, measure: Sequence[int]) -> list[list[Reading]]:
        """Run the sweep set up by :meth:`triggered_sweep_setup` (``XE``): one group of
        readings (one per measured channel) per step; ValueError if the instrument returned
        another number of data."""
        readings = self._trigger()
        per_step = len(measure)
        if len(readings) != per_step * int(points):
            raise ValueError(f"triggered sweep returned {len(readings)} values, expected "
                             f"{per_step * int(points)}")
        return [readings[k : k + per_step] for k in range(0, len(readings), per_step)]

    def pulsed_spot(
        self,
        channel: int,
        base: float,
        pulse: float,
        width: float,
        period: float,
        compliance: float,
        hold: float = 0.0,
        v_range: int = 0,
    ) -> Reading:
        """One voltage pulse on ``channel``, current measured at its end (``PT``, ``PV``, ``MM 3``).

        Args:
            base, pulse: V, base and peak level. width: s (0.5 ms..2 s). period: s (0 = auto, else
            >= width). compliance: A. hold: s at base before the pulse. After the pulse the
            channel stays at ``base``.
        """
        peak = max(base, pulse, key=abs)
        self.check_voltage_request(channel, base, compliance)
        self.check_voltage_request(channel, peak, compliance)
        ch = int(channel)
        setup = [
            "FMT 1,0",
            f"PT {_f(hold)},{_f(width)},{_f(period)}",
            f"PV {ch},{int(v_range)},{_f(base)},{_f(pulse)},{_f(compliance)}",
            f"CMM {ch},1",
            f"MM 3,{ch}",
        ]
        self.write(";".join(setup))
        self.check_errors()
        return self._trigger()[0]
