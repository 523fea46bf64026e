"""Simulated Keysight B1530A WGFMU: the WGFMU instrument library's calls over a line protocol.

(Longer than ~500 lines on purpose: the protocol, the waveform compiler and the fast path share
the session's state; the numbers are in :mod:`instruments.keysight.wgfmu_limits`.)

The real B1530A is driven through the vendor library; the simulator serves the same calls as text
lines (``\\n`` terminated), one reply line per request. Each TCP connection is one library session
with its own patterns, events, sequences, channel settings and results.

Protocol
--------
Request: ``<function> <arg> <arg> ...`` separated by single spaces. ``<function>`` is the library
name without the ``WGFMU_`` prefix (the prefix is accepted too). Names of patterns and events are
tokens of letters, digits, ``_ . -``. Numbers are plain Python literals (``1e-08``, ``0.5``,
``501``). Arrays (``addVectors``) are comma-separated lists; their length is implied (no size).

Reply: ``<code>`` or ``<code> <payload>``; code 0 = no error, negative = the library's error codes
(see :class:`instruments.keysight.wgfmu.ErrorCode`); errors append a line to the error summary.

Calls without a reply payload (reply ``0`` or a negative code)::

    openSession GPIB0::17::INSTR        closeSession        initialize        clear
    createPattern p1 0.0
    addVector p1 1e-07 1.5
    addVectors p1 1e-07,1e-06 1.5,1.5
    setMeasureEvent p1 ev1 1e-07 10 1e-07 1e-07 12000
        (pattern event time points interval averaging rawData)
    addSequence 501 p1 1000.0
    setOperationMode 501 2001           setForceVoltageRange 501 3000
    setMeasureMode 501 4001             setMeasureVoltageRange 501 5002
    setMeasureCurrentRange 501 6003
    connect 501                         disconnect 501
    update                              updateChannel 501
    execute (replies when the run is over)      abort        waitUntilCompleted

Calls with a payload::

    getStatus                   -> 0 <status> <elapsed s> <total s>
    getMeasureValueSize 501     -> 0 <measured> <total>
    getMeasureValues 501 0 100  -> 0 t1,v1;t2,v2;...   (just 0 when size is 0)
    getChannelIdSize            -> 0 2
    getChannelIds               -> 0 501,502
    getErrorSummarySize         -> 0 <characters>
    getErrorSummary             -> 0 <text>   (entries joined by " | "; reading clears it)
    doSelfCalibration           -> 0 <result 0 pass / 1 fail> <detail text>
    getOperationMode 501        -> 0 2003     (also getForceVoltageRange, getMeasureCurrentRange)

Limits and defaults are those of the library (:mod:`instruments.keysight.wgfmu_limits`, shared
with the driver): at most 2,048 vectors per pattern and 512 sequences per channel, sampling
interval 10 ns .. 1.34217728 s, averaging 0 .. 20.97 ms, force ranges as on the instrument (AUTO
picks the one range that holds every voltage of the channel's sequence; the PG mode has no 10 V
ranges). An error entry reads ``WGFMU_<call>: error <code> (<meaning>): <detail>``.

Behaviour of the simulation (choices where the real manual was not at hand are marked *unknown*):

* Channels 501 (drives BL) and 502 (drives SL): the B1530A sits in slot 5 of the B1500. The word
  line stays on the B1500's SMU3: its level is ``lab.dc_bias["WL"]`` at ``execute`` (optional
  wiring: a channel on WL, see :func:`make_server`, so that SET and RESET may use different gate
  voltages within one sequence, as 1T1R cycling needs). A terminal
  whose channel is not connected keeps the SMU level ``lab.dc_bias[terminal]``; a connected channel
  without a sequence outputs 0 V.
* ``initialize`` resets every channel (SMU mode, voltage measurement, 10 mA / 10 V ranges, AUTO
  force range) and disconnects; patterns stay. ``clear`` forgets patterns, sequences and results.
  ``openSession`` starts an empty library setup but leaves the hardware as it was.
* RSU: the operation mode reaches the hardware at ``update``, ``updateChannel``, ``execute`` or
  ``initialize`` (``setOperationMode`` alone only changes the setup). The applied mode of each
  channel is kept in ``lab.rsu_modes``; while a channel's applied mode is not SMU (2003), the SMU
  wired to that terminal reaches nothing (``lab.smu_path_connected``, consulted by the B1500
  server: an open circuit), whether or not the WGFMU channel is connected.
* Lab lock: an execute holds ``lab.lock`` but yields it every :data:`CALLS_PER_CHUNK` lab calls
  (:meth:`~instruments.sim.lab_lock.LabLock.yield_to_waiters`), so the prober, the B1500 and the
  chip controller keep answering during a long run; what they do in between acts on the bench
  as it would on the real one.
* ``execute`` checks: a session, a connected channel with a sequence, fast-IV or PG mode on the
  running channels (current measurement only in fast IV), every pattern voltage inside the force
  range, every measure event inside its pattern and not overlapping the next one. Then it runs the
  whole sequence synchronously (``waitUntilCompleted`` returns at once).
* Waveforms: each pattern is piecewise linear on the 10 ns grid, starting at its initial voltage
  (a step at the pattern boundary); a finished channel holds its last voltage. Both channels are
  merged on one time base and applied through ``lab.bias_selected`` per segment: one call per flat
  segment, :data:`RAMP_SUBSTEPS` calls per ramp (each at the voltage at the sub-step end), split at
  every sample point so that each sample reads the response of the call ending there.
* Sample ``k`` of an event covers ``[time + k*interval, time + k*interval + averaging]``; it is read
  and reported at the window's middle (the library's convention for averaged data). A RAW event
  returns ``1 + averaging / 5 ns`` values per point, at the window start + j * 5 ns, each with
  the noise of a single sample.
* Current mode: BL channel reads ``resp.i_bl``, SL channel ``-resp.i_bl``; open circuit reads 0.
  Noise ``CURRENT_NOISE_FRACTION * range / sqrt(averaging / 10 ns)`` (Gaussian) is added and the
  reading saturates at +/- the range full scale (:data:`RANGE_OVERLOAD` times the range; *unknown*:
  how far past full scale the real unit reads). The source itself is not current-limited; the cell
  current is limited by the access transistor.
  Voltage mode: the forced voltage plus ``VOLTAGE_NOISE_V / sqrt(...)`` noise, clipped to the
  voltage measurement range.
* Repeats: a sequence entry with count > 1 runs as one period applied ``count`` times. When the
  period holds exactly one SET pulse (BL above SL) and one RESET pulse (SL above BL), no measure
  event, and the contacted chip has ``cycle``, the repeats go through ``Chip.cycle`` (fast path for
  endurance runs: pulse biases at the peak, durations = full width at half maximum); otherwise the
  period is simulated ``count`` times.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from instruments.keysight import wgfmu_limits as lim
from instruments.keysight.wgfmu import check_name, to_ticks
from instruments.keysight.wgfmu_limits import (
    CURRENT_RANGE_AMPS,
    ERROR_TEXT,
    TIME_RESOLUTION,
    VOLTAGE_RANGE_VOLTS,
    ErrorCode,
    ForceVoltageRange,
    MeasureEventData,
    MeasureMode,
    MeasureVoltageRange,
    OperationMode,
    Status,
)
from instruments.sim.line_server import LineServer
from instruments.wiring import WGFMU_WIRING

#: sub-steps (lab calls) per ramp segment
RAMP_SUBSTEPS = 4
#: relative current noise (sigma / range) of one 10 ns sample
CURRENT_NOISE_FRACTION = 5e-4
#: voltage measurement noise of one 10 ns sample (V)
VOLTAGE_NOISE_V = 1e-3
#: a reading saturates at this multiple of the range full scale
RANGE_OVERLOAD = 1.0
#: |V_BL - V_SL| above which a period counts as "pulsing" for the SET/RESET fast path (V)
PULSE_THRESHOLD_V = 0.05
#: default channel -> terminal wiring
DEFAULT_CHANNELS = WGFMU_WIRING  # the bench default (instruments.wiring)
#: refuse runs longer than this many breakpoints when channels are not period-aligned
MAX_EXPANDED_POINTS = 2_000_000
#: lab calls of an execute between two yields of the lab lock (other instruments answer then)
CALLS_PER_CHUNK = 2000


class _Fail(Exception):
    """A library error: code and message for the error summary."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = int(code)


@dataclass
class _Event:
    name: str
    start: int  # ticks from the start of the pattern
    points: int
    interval: int  # ticks
    average: int  # ticks
    raw: bool = False

    @property
    def values_per_point(self) -> int:
        """Values each point returns (RAW: every 5 ns sample of the averaging window)."""
        return lim.values_per_point(self.average * TIME_RESOLUTION, self.raw)

    @property
    def end(self) -> int:
        return self.start + (self.points - 1) * self.interval + self.average

    def sample_ticks(self) -> np.ndarray:
        """Tick at which each sample is read (middle of its averaging window, floored)."""
        return self.start + np.arange(self.points) * self.interval + self.average // 2

    def sample_times(self) -> np.ndarray:
        """Reported time of each sample from the start of the pattern (s)."""
        return (
            self.start + np.arange(self.points) * self.interval + self.average / 2
        ) * TIME_RESOLUTION


@dataclass
class _Pattern:
    init: float
    ticks: list[int] = field(default_factory=lambda: [0])  # cumulative breakpoint ticks
    volts: list[float] = field(default_factory=list)
    events: dict[str, _Event] = field(default_factory=dict)

    @property
    def duration(self) -> int:
        return self.ticks[-1]

    def breakpoints(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.ticks, dtype=np.int64), np.array([self.init, *self.volts])


@dataclass
class _Channel:
    terminal: str
    operation_mode: int = lim.INITIAL_OPERATION_MODE  # as set; applied by update/execute
    measure_mode: int = lim.INITIAL_MEASURE_MODE
    current_range: int = lim.INITIAL_CURRENT_RANGE
    voltage_range: int = lim.INITIAL_VOLTAGE_RANGE
    force_range: int = lim.INITIAL_FORCE_RANGE
    connected: bool = False
    sequence: list[tuple[str, int]] = field(default_factory=list)
    expected: int = 0
    times: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)

    def reset(self) -> None:
        self.operation_mode = lim.INITIAL_OPERATION_MODE
        self.measure_mode = lim.INITIAL_MEASURE_MODE
        self.current_range = lim.INITIAL_CURRENT_RANGE
        self.voltage_range = lim.INITIAL_VOLTAGE_RANGE
        self.force_range = lim.INITIAL_FORCE_RANGE
        self.connected = False


@dataclass
class _Period:
    """One period of the merged waveform, run ``count`` times.

    ``wave[ch]`` are breakpoints (ticks from the period start, volts; duplicated ticks = steps),
    ``samples[ch]`` the sample ticks and their reported times (s from the period start).
    """

    length: int
    count: int
    wave: dict[int, tuple[np.ndarray, np.ndarray]]
    #: per channel: sample ticks, reported times, averaging ticks, values per point (RAW > 1)
    samples: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


@dataclass
class _Step:
    v: dict[int, float]  # channel -> volts during the step
    duration: float  # s
    samples: list[tuple[int, int]]  # (channel, sample index within the period) read at the end


def _limits(ticks: np.ndarray, volts: np.ndarray, a: int, b: int) -> tuple[float, float]:
    """Channel voltage just after tick ``a`` and just before tick ``b`` (a < b, both in range)."""
    ia = int(np.searchsorted(ticks, a, side="right")) - 1
    if ticks[ia] == a:
        va = float(volts[ia])
    else:
        t0, t1 = ticks[ia], ticks[ia + 1]
        va = float(volts[ia] + (volts[ia + 1] - volts[ia]) * (a - t0) / (t1 - t0))
    ib = int(np.searchsorted(ticks, b, side="left"))
    if ticks[ib] == b:
        vb = float(volts[ib])
    else:
        t0, t1 = ticks[ib - 1], ticks[ib]
        vb = float(volts[ib - 1] + (volts[ib] - volts[ib - 1]) * (b - t0) / (t1 - t0))
    return va, vb


def _compile(period: _Period, lo: int, hi: int) -> list[_Step]:
    """Lab calls that apply ``period`` between ticks ``lo`` and ``hi``."""
    cuts = {lo, hi}
    for ticks, _ in period.wave.values():
        cuts.update(int(t) for t in ticks if lo <= t <= hi)
    by_tick: dict[int, list[tuple[int, int]]] = {}
    for ch, sample in period.samples.items():
        sticks = sample[0]
        for k, t in enumerate(sticks):
            t = int(t)
            if lo <= t < hi or (t == hi == period.length):
                cuts.add(t)
                by_tick.setdefault(t, []).append((ch, k))
    grid = sorted(cuts)
    steps: list[_Step] = []
    if lo in by_tick:  # a sample at the very start: read without applying time
        v0 = {ch: _limits(t, v, lo, grid[1])[0] for ch, (t, v) in period.wave.items()}
        steps.append(_Step(v0, 0.0, by_tick[lo]))
    for j_seg, (a, b) in enumerate(zip(grid[:-1], grid[1:], strict=True)):
        ends = {ch: _limits(t, v, a, b) for ch, (t, v) in period.wave.items()}
        flat = all(va == vb for va, vb in ends.values())
        n = 1 if flat else min(RAMP_SUBSTEPS, b - a)
        prev = a
        for j in range(1, n + 1):
            s = a + round(j * (b - a) / n)
            volts = {ch: va + (vb - va) * (s - a) / (b - a) for ch, (va, vb) in ends.items()}
            steps.append(_Step(volts, (s - prev) * TIME_RESOLUTION, []))
            prev = s
        if b in by_tick and b != lo:
            after = dict(steps[-1].v)
            if j_seg + 2 < len(grid):  # a step at b (pattern boundary): read after it
                after = {
                    ch: _limits(t, v, b, grid[j_seg + 2])[0]
                    for ch, (t, v) in period.wave.items()
                }
            if all(abs(after[ch] - steps[-1].v[ch]) <= 1e-12 for ch in after):
                steps[-1].samples.extend(by_tick[b])
            else:
                steps.append(_Step(after, 0.0, by_tick[b]))
    return steps


def _regions(diff: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs of breakpoints where |diff| > threshold: (first index, last index, sign)."""
    out: list[tuple[int, int, int]] = []
    sign = np.where(diff > PULSE_THRESHOLD_V, 1, np.where(diff < -PULSE_THRESHOLD_V, -1, 0))
    i = 0
    while i < len(sign):
        if sign[i] == 0:
            i += 1
            continue
        j = i
        while j + 1 < len(sign) and sign[j + 1] == sign[i]:
            j += 1
        out.append((i, j, int(sign[i])))
        i = j + 1
    return out


def _fwhm(ticks: np.ndarray, diff: np.ndarray, first: int, last: int, sign: int) -> float:
    """Duration (s) for which sign*diff >= half its peak around the region [first, last]."""
    x = sign * diff
    half = 0.5 * float(x[first : last + 1].max())
    total = 0.0
    for k in range(max(first - 1, 0), min(last + 1, len(x) - 1)):
        d0, d1, dt = x[k], x[k + 1], float(ticks[k + 1] - ticks[k])
        if d0 >= half and d1 >= half:
            total += dt
        elif d0 >= half or d1 >= half:
            total += dt * (max(d0, d1) - half) / abs(d1 - d0)
    return total * TIME_RESOLUTION


class WGFMUSession:
    """One library session (one client connection); ``handle`` answers one request line.

    Args:
        lab: the simulated lab (``lock``, ``dc_bias``, ``selection``, ``bias_selected``,
            ``advance``, ``contacted_chip``; optionally ``device_temperature_k()``).
        channels: channel id -> terminal it drives.
        rng: noise generator (shared by the server's sessions; used under ``lab.lock``).
    """

    def __init__(self, lab: Any, channels: dict[int, str], rng: np.random.Generator) -> None:
        self.lab = lab
        self.rng = rng
        self.channels = {ch: _Channel(term) for ch, term in channels.items()}
        #: operation mode applied to each channel's hardware (shared with the lab when it
        #: keeps one: the B1500's SMUs behind the RSUs consult it)
        modes = getattr(lab, "rsu_modes", None)
        self.applied: dict[int, int] = modes if isinstance(modes, dict) else {}
        for ch in self.channels:
            self.applied.setdefault(ch, lim.INITIAL_OPERATION_MODE)
        self.patterns: dict[str, _Pattern] = {}
        self.errors: list[str] = []
        self.open = False
        self.executed = False
        self.total_time = 0.0
        self._commands: dict[str, Callable[[list[str]], str]] = {
            "openSession": self._open_session,
            "closeSession": self._close_session,
            "initialize": self._initialize,
            "clear": self._clear,
            "createPattern": self._create_pattern,
            "addVector": self._add_vector,
            "addVectors": self._add_vectors,
            "setMeasureEvent": self._set_measure_event,
            "addSequence": self._add_sequence,
            "setOperationMode": self._set_operation_mode,
            "setForceVoltageRange": self._set_force_range,
            "setMeasureMode": self._set_measure_mode,
            "setMeasureVoltageRange": self._set_measure_voltage_range,
            "setMeasureCurrentRange": self._set_measure_current_range,
            "connect": self._connect,
            "disconnect": self._disconnect,
            "update": self._update,
            "updateChannel": self._update_channel,
            "doSelfCalibration": self._self_calibration,
            "getOperationMode": partial(self._get_setting, "operation_mode"),
            "getForceVoltageRange": partial(self._get_setting, "force_range"),
            "getMeasureCurrentRange": partial(self._get_setting, "current_range"),
            "execute": self._execute,
            "abort": lambda args: self._noargs(args),
            "waitUntilCompleted": self._wait,
            "getStatus": self._get_status,
            "getMeasureValueSize": self._get_measure_value_size,
            "getMeasureValues": self._get_measure_values,
            "getChannelIds": self._get_channel_ids,
            "getChannelIdSize": lambda args: f"0 {len(self.channels)}",
            "getErrorSummarySize": lambda args: f"0 {len(self._summary())}",
            "getErrorSummary": self._get_error_summary,
        }
        self._sessionless = {"openSession", "getErrorSummary", "getErrorSummarySize"}

    # -- dispatch -------------------------------------------------------------------------------
    def handle(self, line: str) -> str | None:
        """Answer one request line (never raises for bad input)."""
        parts = line.strip().split()
        if not parts:
            return None
        name = parts[0].removeprefix("WGFMU_")
        fn = self._commands.get(name)
        if fn is None:
            return self._error(name, ErrorCode.FUNCTION_NOT_SUPPORTED, "unknown function")
        if not self.open and name not in self._sessionless:
            return self._error(name, ErrorCode.CONTEXT, "no session is open (call openSession)")
        try:
            return fn(parts[1:])
        except _Fail as exc:
            return self._error(name, exc.code, str(exc))
        except (ValueError, IndexError, TypeError, OverflowError) as exc:
            return self._error(name, ErrorCode.PARAMETER_OUT_OF_RANGE, f"bad arguments ({exc})")

    def _error(self, name: str, code: int, message: str) -> str:
        what = ERROR_TEXT.get(int(code), "error")
        self.errors.append(f"WGFMU_{name}: error {int(code)} ({what}): {message}")
        return str(int(code))

    def _summary(self) -> str:
        return " | ".join(self.errors)

    # -- argument helpers -----------------------------------------------------------------------
    @staticmethod
    def _nargs(args: list[str], n: int) -> list[str]:
        if len(args) != n:
            raise _Fail(
                ErrorCode.PARAMETER_OUT_OF_RANGE, f"expected {n} arguments, got {len(args)}"
            )
        return args

    def _noargs(self, args: list[str]) -> str:
        self._nargs(args, 0)
        return "0"

    def _channel(self, token: str) -> _Channel:
        ch = int(token)
        if ch not in self.channels:
            raise _Fail(ErrorCode.CHANNEL_NOT_FOUND, f"channel {ch} not found")
        return self.channels[ch]

    def _pattern(self, name: str) -> _Pattern:
        if name not in self.patterns:
            raise _Fail(ErrorCode.PATTERN_NOT_FOUND, f"pattern {name!r} not found")
        return self.patterns[name]

    @staticmethod
    def _name(token: str, what: str) -> str:
        try:
            return check_name(token, what)
        except ValueError as exc:
            raise _Fail(ErrorCode.ILLEGAL_STRING, str(exc)) from None

    @staticmethod
    def _volts(token: str) -> float:
        v = float(token)
        if not lim.OUTPUT_MIN_V <= v <= lim.OUTPUT_MAX_V:
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE,
                        f"{v:g} V is outside {lim.OUTPUT_MIN_V:g}..{lim.OUTPUT_MAX_V:g} V")
        return v

    @staticmethod
    def _ticks(token: str, what: str, minimum: int = 1) -> int:
        try:
            return to_ticks(float(token), what, minimum)
        except ValueError as exc:
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE, str(exc)) from None

    @staticmethod
    def _choice(token: str, allowed: object, what: str) -> int:
        value = int(token)
        if value not in allowed:  # type: ignore[operator]
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE, f"{value} is not a valid {what}")
        return value

    # -- session --------------------------------------------------------------------------------
    def _open_session(self, args: list[str]) -> str:
        self._nargs(args, 1)
        self.open = True
        self._clear([])
        for c in self.channels.values():
            c.reset()
        return "0"

    def _close_session(self, args: list[str]) -> str:
        self._nargs(args, 0)
        self._clear([])
        for c in self.channels.values():
            c.reset()
        self.open = False
        return "0"

    def _initialize(self, args: list[str]) -> str:
        """Reset every channel (SMU mode, 10 mA range, disconnected); patterns stay."""
        self._nargs(args, 0)
        for ch, c in self.channels.items():
            c.reset()
            c.times, c.values, c.expected = [], [], 0
            self.applied[ch] = c.operation_mode
        self.executed = False
        return "0"

    def _apply_setup(self, channels: list[int]) -> None:
        settle = getattr(self.lab, "settle_dc", None)
        if callable(settle):
            settle()  # the SMU levels acted through the RSUs up to this mode change
        for ch in channels:
            self.applied[ch] = self.channels[ch].operation_mode

    def _update(self, args: list[str]) -> str:
        self._nargs(args, 0)
        self._apply_setup(list(self.channels))
        return "0"

    def _update_channel(self, args: list[str]) -> str:
        token = self._nargs(args, 1)[0]
        self._channel(token)
        self._apply_setup([int(token)])
        return "0"

    def _get_setting(self, attr: str, args: list[str]) -> str:
        """``getOperationMode`` and friends: one channel setting (as set, not as applied)."""
        return f"0 {int(getattr(self._channel(self._nargs(args, 1)[0]), attr))}"

    def _self_calibration(self, args: list[str]) -> str:
        """Always passes; the channels are disconnected first (*unknown*: real duration)."""
        self._nargs(args, 0)
        for c in self.channels.values():
            c.connected = False
        ids = ",".join(str(ch) for ch in self.channels)
        return f"0 {lim.SELF_CAL_PASS} channels {ids} passed"

    def _clear(self, args: list[str]) -> str:
        self._nargs(args, 0)
        self.patterns.clear()
        for c in self.channels.values():
            c.sequence.clear()
            c.times, c.values, c.expected = [], [], 0
        self.executed = False
        self.total_time = 0.0
        return "0"

    # -- patterns -------------------------------------------------------------------------------
    def _create_pattern(self, args: list[str]) -> str:
        name, init = self._nargs(args, 2)
        name = self._name(name, "pattern name")
        if name in self.patterns:
            raise _Fail(ErrorCode.PATTERN_ALREADY_EXISTS, f"pattern {name!r} already exists")
        self.patterns[name] = _Pattern(init=self._volts(init))
        return "0"

    def _append(self, pattern: _Pattern, d_ticks: list[int], volts: list[float]) -> None:
        total = len(pattern.volts) + len(volts)
        if total > lim.MAX_VECTORS_PER_PATTERN:
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE,
                        f"a pattern holds at most {lim.MAX_VECTORS_PER_PATTERN} vectors "
                        f"({total} asked); nothing was added")
        longest = lim.MAX_VECTOR_TIME_S / TIME_RESOLUTION
        if any(d > longest + 0.5 for d in d_ticks):
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE,
                        f"a vector lasts at most {lim.MAX_VECTOR_TIME_S:g} s")
        t = pattern.ticks[-1]
        for d, v in zip(d_ticks, volts, strict=True):
            t += d
            pattern.ticks.append(t)
            pattern.volts.append(v)

    def _add_vector(self, args: list[str]) -> str:
        name, dt, v = self._nargs(args, 3)
        pattern = self._pattern(name)
        self._append(pattern, [self._ticks(dt, "vector time")], [self._volts(v)])
        return "0"

    def _add_vectors(self, args: list[str]) -> str:
        name, dts, vs = self._nargs(args, 3)
        pattern = self._pattern(name)
        d_ticks = [self._ticks(x, "vector time") for x in dts.split(",")]
        volts = [self._volts(x) for x in vs.split(",")]
        if len(d_ticks) != len(volts):
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE, "time and voltage arrays differ")
        self._append(pattern, d_ticks, volts)
        return "0"

    def _set_measure_event(self, args: list[str]) -> str:
        pname, ename, time, points, interval, average, rdata = self._nargs(args, 7)
        pattern = self._pattern(pname)
        ename = self._name(ename, "event name")
        if ename in pattern.events:
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE, f"event {ename!r} already exists")
        n = int(points)
        if n < 1:
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE, "measurement points must be >= 1")
        raw = self._choice(rdata, set(MeasureEventData), "rawData") == MeasureEventData.RAW
        ev = _Event(
            ename, self._ticks(time, "event time", 0), n,
            self._ticks(interval, "measurement interval"),
            self._ticks(average, "averaging time", 0), raw,
        )
        if ev.interval * TIME_RESOLUTION > lim.MAX_INTERVAL_S * (1 + 1e-12):
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE,
                        f"sampling interval is {lim.MIN_INTERVAL_S:g}..{lim.MAX_INTERVAL_S:g} s")
        if ev.average * TIME_RESOLUTION > lim.MAX_AVERAGE_S * (1 + 1e-12):
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE,
                        f"averaging time is 0 or 10 ns..{lim.MAX_AVERAGE_S:g} s")
        if ev.average > ev.interval:
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE, "averaging time exceeds the interval")
        pattern.events[ename] = ev
        return "0"

    def _add_sequence(self, args: list[str]) -> str:
        ch, name, count = self._nargs(args, 3)
        channel = self._channel(ch)
        self._pattern(name)
        c = float(count)
        if not (c >= 1 and c == math.floor(c) and c <= lim.MAX_SEQUENCE_COUNT):
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE, f"bad loop count {count}")
        if len(channel.sequence) >= lim.MAX_SEQUENCES_PER_CHANNEL:
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE,
                        f"a channel holds at most {lim.MAX_SEQUENCES_PER_CHANNEL} sequences")
        channel.sequence.append((name, int(c)))
        return "0"

    # -- channel setup --------------------------------------------------------------------------
    def _set_operation_mode(self, args: list[str]) -> str:
        ch, mode = self._nargs(args, 2)
        channel = self._channel(ch)
        channel.operation_mode = self._choice(mode, set(OperationMode), "operation mode")
        if channel.operation_mode == OperationMode.PG:
            channel.measure_mode = MeasureMode.VOLTAGE
        return "0"

    def _set_force_range(self, args: list[str]) -> str:
        ch, rng = self._nargs(args, 2)
        self._channel(ch).force_range = self._choice(rng, set(ForceVoltageRange), "force range")
        return "0"

    def _set_measure_mode(self, args: list[str]) -> str:
        ch, mode = self._nargs(args, 2)
        channel = self._channel(ch)
        value = self._choice(mode, set(MeasureMode), "measure mode")
        if value == MeasureMode.CURRENT and channel.operation_mode != OperationMode.FASTIV:
            raise _Fail(
                ErrorCode.PARAMETER_OUT_OF_RANGE, "current measurement needs the fast I-V mode"
            )
        channel.measure_mode = value
        if value == MeasureMode.CURRENT:  # as the library: current mode selects the 5 V range
            channel.voltage_range = MeasureVoltageRange.V5
        return "0"

    def _set_measure_voltage_range(self, args: list[str]) -> str:
        ch, rng = self._nargs(args, 2)
        self._channel(ch).voltage_range = self._choice(rng, VOLTAGE_RANGE_VOLTS, "voltage range")
        return "0"

    def _set_measure_current_range(self, args: list[str]) -> str:
        ch, rng = self._nargs(args, 2)
        self._channel(ch).current_range = self._choice(rng, CURRENT_RANGE_AMPS, "current range")
        return "0"

    def _connect(self, args: list[str]) -> str:
        self._channel(self._nargs(args, 1)[0]).connected = True
        return "0"

    def _disconnect(self, args: list[str]) -> str:
        self._channel(self._nargs(args, 1)[0]).connected = False
        return "0"

    # -- status and data ------------------------------------------------------------------------
    def _wait(self, args: list[str]) -> str:
        self._nargs(args, 0)
        if not self.executed:
            raise _Fail(ErrorCode.SEQUENCER_NOT_RUNNING, "nothing was executed")
        return "0"

    def _get_status(self, args: list[str]) -> str:
        self._nargs(args, 0)
        status = Status.COMPLETED if self.executed else Status.IDLE
        return f"0 {int(status)} {self.total_time!r} {self.total_time!r}"

    def _get_measure_value_size(self, args: list[str]) -> str:
        channel = self._channel(self._nargs(args, 1)[0])
        measured = sum(len(t) for t in channel.times)
        return f"0 {measured} {channel.expected}"

    def _get_measure_values(self, args: list[str]) -> str:
        ch, offset, size = self._nargs(args, 3)
        channel = self._channel(ch)
        off, n = int(offset), int(size)
        times = np.concatenate(channel.times) if channel.times else np.empty(0)
        values = np.concatenate(channel.values) if channel.values else np.empty(0)
        if off < 0 or n < 0 or off + n > len(times):
            raise _Fail(
                ErrorCode.PARAMETER_OUT_OF_RANGE,
                f"offset {off} + size {n} exceeds the {len(times)} measured points",
            )
        body = ";".join(
            f"{float(t)!r},{float(v)!r}"
            for t, v in zip(times[off : off + n], values[off : off + n], strict=True)
        )
        return f"0 {body}" if body else "0"

    def _get_channel_ids(self, args: list[str]) -> str:
        self._nargs(args, 0)
        return "0 " + ",".join(str(ch) for ch in self.channels)

    def _get_error_summary(self, args: list[str]) -> str:
        text = self._summary()
        self.errors.clear()
        return f"0 {text}" if text else "0"

    # -- execution ------------------------------------------------------------------------------
    def _execute(self, args: list[str]) -> str:
        self._nargs(args, 0)
        running = {ch: c for ch, c in self.channels.items() if c.connected}
        if not running:
            raise _Fail(ErrorCode.CONTEXT, "no channel is connected")
        if not any(c.sequence for c in running.values()):
            raise _Fail(ErrorCode.CONTEXT, "no sequence on the connected channels")
        for ch, c in running.items():
            self._validate_channel(ch, c)
        for c in self.channels.values():
            c.times, c.values, c.expected = [], [], 0
        for c in running.values():
            c.expected = sum(
                n * sum(e.points * e.values_per_point for e in self.patterns[p].events.values())
                for p, n in c.sequence
            )
        self._apply_setup(list(self.channels))  # execute applies every channel's setup
        with self.lab.lock:  # yielded between chunks: the other instruments keep answering
            self._run(running)
        self.executed = True
        return "0"

    def _validate_channel(self, ch: int, c: _Channel) -> None:
        if not c.sequence:
            return
        if c.operation_mode not in lim.RUNNING_MODES:
            raise _Fail(ErrorCode.CONTEXT, f"channel {ch} is not in fast I-V or PG mode")
        if c.measure_mode == MeasureMode.CURRENT and c.operation_mode != OperationMode.FASTIV:
            raise _Fail(ErrorCode.CONTEXT, f"channel {ch}: current measurement needs fast I-V")
        every: list[float] = []
        for name, _ in c.sequence:
            p = self.patterns.get(name)
            if p is not None:
                every += [p.init, *p.volts]
        why = lim.force_range_error(c.operation_mode, c.force_range, every)
        if why is not None:
            raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE, f"channel {ch}: {why}")
        for name, _ in c.sequence:
            p = self.patterns.get(name)
            if p is None:
                raise _Fail(ErrorCode.PATTERN_NOT_FOUND, f"pattern {name!r} was removed")
            if p.duration == 0:
                raise _Fail(ErrorCode.PARAMETER_OUT_OF_RANGE, f"pattern {name!r} has no vectors")
            events = sorted(p.events.values(), key=lambda e: e.start)
            for e in events:
                if e.end > p.duration:
                    raise _Fail(
                        ErrorCode.PARAMETER_OUT_OF_RANGE,
                        f"event {e.name!r} ends after pattern {name!r}",
                    )
            for e1, e2 in zip(events[:-1], events[1:], strict=True):
                if e2.start < e1.end or e2.start == e1.start:
                    raise _Fail(
                        ErrorCode.PARAMETER_OUT_OF_RANGE,
                        f"events {e1.name!r} and {e2.name!r} of {name!r} overlap",
                    )

    def _pattern_samples(
        self, pattern: _Pattern
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        events = sorted(pattern.events.values(), key=lambda e: e.start)
        if not events:
            e0 = np.empty(0, np.int64)
            return e0, np.empty(0), e0, e0
        return (
            np.concatenate([e.sample_ticks() for e in events]).astype(np.int64),
            np.concatenate([e.sample_times() for e in events]),
            np.concatenate([np.full(e.points, e.average) for e in events]).astype(np.int64),
            np.concatenate([np.full(e.points, e.values_per_point) for e in events]).astype(
                np.int64),
        )

    def _periods(self, running: dict[int, _Channel]) -> list[_Period]:
        """Split the run into aligned periods; an unaligned remainder becomes one long period."""
        programs = {ch: list(c.sequence) for ch, c in running.items() if c.sequence}
        pos = {ch: [0, prog[0][1]] for ch, prog in programs.items()}  # entry index, repeats left
        hold = {ch: 0.0 for ch in running}
        for ch, prog in programs.items():
            hold[ch] = self.patterns[prog[0][0]].init
        periods: list[_Period] = []
        while True:
            active = {ch: programs[ch][pos[ch][0]][0] for ch in programs
                      if pos[ch][0] < len(programs[ch])}
            if not active:
                return periods
            lengths = {self.patterns[name].duration for name in active.values()}
            if len(lengths) > 1:
                periods.append(self._expanded(running, programs, pos, hold))
                return periods
            length = lengths.pop()
            count = min(pos[ch][1] for ch in active)
            wave, samples = {}, {}
            for ch in running:
                if ch in active:
                    p = self.patterns[active[ch]]
                    wave[ch] = p.breakpoints()
                    samples[ch] = self._pattern_samples(p)
                    hold[ch] = p.volts[-1]
                else:
                    wave[ch] = (np.array([0, length], np.int64), np.array([hold[ch]] * 2))
            periods.append(_Period(length, count, wave, samples))
            for ch in active:
                pos[ch][1] -= count
                if pos[ch][1] == 0:
                    pos[ch][0] += 1
                    if pos[ch][0] < len(programs[ch]):
                        pos[ch][1] = programs[ch][pos[ch][0]][1]

    def _expanded(
        self, running: dict[int, _Channel], programs: dict[int, list[tuple[str, int]]],
        pos: dict[int, list[int]], hold: dict[int, float],
    ) -> _Period:
        """The rest of every channel's program laid out as one long period (count 1)."""
        waves: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        samples: dict[int, list[tuple[np.ndarray, ...]]] = {}
        ends: dict[int, int] = {}
        points = 0
        for ch, prog in programs.items():
            t0 = 0
            tl, vl, sl = [], [], []
            entries = []
            if pos[ch][0] < len(prog):
                entries.append((prog[pos[ch][0]][0], pos[ch][1]))
                entries.extend(prog[pos[ch][0] + 1 :])
            for name, n in entries:
                p = self.patterns[name]
                ticks, volts = p.breakpoints()
                st, stime, sav, svpp = self._pattern_samples(p)
                points += n * len(ticks)
                if points > MAX_EXPANDED_POINTS:
                    raise _Fail(
                        ErrorCode.LIBRARY,
                        "channels with different pattern lengths and this many repeats are too "
                        "long for the simulator",
                    )
                for _ in range(n):
                    tl.append(ticks + t0)
                    vl.append(volts)
                    sl.append((st + t0, stime + t0 * TIME_RESOLUTION, sav, svpp))
                    t0 += p.duration
                hold[ch] = p.volts[-1]
            waves[ch], samples[ch], ends[ch] = (tl, vl), sl, t0
        length = max(ends.values())
        wave: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for ch in running:
            if ch in waves and waves[ch][0]:
                t = np.concatenate(waves[ch][0])
                v = np.concatenate(waves[ch][1])
                if ends[ch] < length:
                    t, v = np.append(t, length), np.append(v, v[-1])
                wave[ch] = (t, v)
            else:
                wave[ch] = (np.array([0, length], np.int64), np.array([hold[ch]] * 2))
        merged = {
            ch: tuple(np.concatenate([s[i] for s in sl]) for i in range(4))
            for ch, sl in samples.items() if sl
        }
        return _Period(length, 1, wave, merged)  # type: ignore[arg-type]

    def _run(self, running: dict[int, _Channel]) -> None:
        dc = self.lab.dc_bias
        self._fixed = {t: float(dc.get(t, 0.0)) for t in ("BL", "SL", "WL")}
        self._running = running
        t_start = 0
        for period in self._periods(running):
            self._run_period(period, t_start)
            t_start += period.length * period.count
        self.total_time = t_start * TIME_RESOLUTION

    def _terminals(self, v: dict[int, float]) -> tuple[float, float, float]:
        volts = dict(self._fixed)
        for ch, value in v.items():
            volts[self.channels[ch].terminal] = value
        return volts["BL"], volts["SL"], volts["WL"]

    def _apply(self, v: dict[int, float], duration: float) -> Any:
        resp = self.lab.bias_selected(*self._terminals(v), duration)
        if resp is None:
            self.lab.advance(duration)
        return resp

    def _run_period(self, period: _Period, t_start: int) -> None:
        n_samples = {ch: len(s[0]) for ch, s in period.samples.items()}
        has_samples = any(n_samples.values())
        if period.count > 1 and not has_samples and self._fast_path(period):
            return
        steps = _compile(period, 0, period.length)
        if period.count * len(steps) > MAX_EXPANDED_POINTS:  # minutes for the client
            raise _Fail(
                ErrorCode.LIBRARY,
                f"{period.count} repeats of a pattern with measure events are too many for the "
                f"simulator (at most {MAX_EXPANDED_POINTS} steps); measure in fewer repeats",
            )
        store = {ch: np.empty((period.count, n)) for ch, n in n_samples.items() if n}
        calls = 0
        for it in range(period.count):
            for step in steps:
                resp = self._apply(step.v, step.duration)
                for ch, k in step.samples:
                    store[ch][it, k] = self._reading(ch, step.v[ch], resp, period.samples[ch][2][k])
                calls += 1
                if calls >= CALLS_PER_CHUNK:
                    self._yield_lab()
                    calls = 0
        for ch, values in store.items():
            base = (t_start + np.arange(period.count) * period.length) * TIME_RESOLUTION
            times = base[:, None] + period.samples[ch][1][None, :]
            vpp = period.samples[ch][3]
            if np.any(vpp > 1):
                times, values = self._raw(ch, times, values, period.samples[ch][2], vpp)
            self.channels[ch].times.append(times.ravel())
            self.channels[ch].values.append(values.ravel())

    def _yield_lab(self) -> None:
        """Let the other instruments' waiting requests run between chunks of an execute."""
        yield_ = getattr(self.lab.lock, "yield_to_waiters", None)
        if callable(yield_):
            yield_()

    def _raw(self, ch: int, times: np.ndarray, values: np.ndarray, average: np.ndarray,
             vpp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RAW points: every 5 ns sample of the averaging window, each with one sample's noise.

        ``times``/``values`` are (repeats, points) at the window middles; returns
        (repeats, sum(vpp)) arrays with the samples at window start + j * 5 ns.
        """
        start = times - average[None, :] * TIME_RESOLUTION / 2
        offsets = np.concatenate([np.arange(n) for n in vpp]) * lim.RAW_SAMPLE_S
        t = np.repeat(start, vpp, axis=1) + offsets[None, :]
        v = np.repeat(values, vpp, axis=1)
        c = self.channels[ch]
        if c.measure_mode == MeasureMode.CURRENT:
            sigma = CURRENT_NOISE_FRACTION * CURRENT_RANGE_AMPS[c.current_range]
        else:
            sigma = VOLTAGE_NOISE_V
        raw = np.repeat(vpp > 1, vpp)[None, :]
        v = v + np.where(raw, self.rng.normal(0.0, sigma, v.shape), 0.0)
        return t, v

    def _reading(self, ch: int, v_forced: float, resp: Any, average_ticks: int) -> float:
        c = self.channels[ch]
        shrink = 1.0 / math.sqrt(max(1, int(average_ticks)))
        if c.measure_mode == MeasureMode.CURRENT:
            full = CURRENT_RANGE_AMPS[c.current_range]
            i = 0.0 if resp is None else float(resp.i_bl)
            if c.terminal != "BL":
                i = -i
            i += self.rng.normal(0.0, CURRENT_NOISE_FRACTION * full * shrink)
            return float(np.clip(i, -RANGE_OVERLOAD * full, RANGE_OVERLOAD * full))
        full = VOLTAGE_RANGE_VOLTS[c.voltage_range]
        v = v_forced + self.rng.normal(0.0, VOLTAGE_NOISE_V * shrink)
        return float(np.clip(v, -full, full))

    # -- the SET/RESET fast path ----------------------------------------------------------------
    def _fast_path(self, period: _Period) -> bool:
        """Run ``period`` ``count`` times through ``Chip.cycle`` if it is a SET+RESET pair."""
        grid = np.unique(np.concatenate([t for t, _ in period.wave.values()]))
        v_at = {ch: np.interp(grid, t, v) for ch, (t, v) in period.wave.items()}
        term = {t: np.full(len(grid), self._fixed[t]) for t in ("BL", "SL", "WL")}
        for ch, v in v_at.items():
            term[self.channels[ch].terminal] = v
        bl, sl, wl = term["BL"], term["SL"], term["WL"]
        diff = bl - sl
        regions = _regions(diff)
        if len(regions) != 2 or regions[0][2] == regions[1][2] or regions[0][1] + 1 >= len(grid):
            return False
        biases = {}
        for first, last, sign in regions:
            peak = first + int(np.argmax(sign * diff[first : last + 1]))
            width = _fwhm(grid, diff, first, last, sign)
            biases[sign] = (float(bl[peak]), float(sl[peak]), float(wl[peak]), width)
        chip = self.lab.contacted_chip()
        if chip is not None and not hasattr(chip, "cycle"):
            return False
        n = period.count
        split = int(grid[regions[0][1] + 1])
        set_first = regions[0][2] > 0
        if not set_first:  # R S R S ... = R (S R)^(n-1) S
            for step in _compile(period, 0, split):
                self._apply(step.v, step.duration)
            n -= 1
        self._cycle(n, biases[1], biases[-1])
        self.lab.advance(n * period.length * TIME_RESOLUTION)
        if not set_first:
            for step in _compile(period, split, period.length):
                self._apply(step.v, step.duration)
        return True

    def _cycle(self, n: int, set_bias: tuple, reset_bias: tuple) -> None:
        chip = self.lab.contacted_chip()
        if chip is None or n <= 0:
            return
        sel = self.lab.selection
        kwargs = {}
        if hasattr(self.lab, "device_temperature_k"):
            kwargs["temperature_k"] = self.lab.device_temperature_k()
        chip.cycle(sel.array, sel.row, sel.col, sel.side, n, set_bias, reset_bias, **kwargs)


def make_server(
    lab: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    channels: dict[int, str] | None = None,
) -> LineServer:
    """The simulated WGFMU server of ``lab`` (not started; call ``.start()``).

    Args:
        lab: the :class:`~instruments.sim.lab.SimLab` (or an object with the same members).
        host: loopback address.
        port: TCP port (0 = ephemeral).
        channels: channel id -> terminal (default :data:`instruments.wiring.WGFMU_WIRING`,
            501 -> BL, 502 -> SL). A channel may also drive WL (e.g. a second B1530A,
            ``601: "WL"``); while it is connected its waveform replaces the SMU's WL level.
    """
    wiring = dict(channels or DEFAULT_CHANNELS)
    bad = {t for t in wiring.values() if t not in ("BL", "SL", "WL")}
    if bad:
        raise ValueError(f"WGFMU channels can drive BL, SL or WL, not {', '.join(sorted(bad))}")
    seed = int(getattr(getattr(lab, "config", None), "seed", 0) or 0)
    rng = np.random.default_rng([seed, 1530])

    def factory() -> Callable[[str], str | None]:
        return WGFMUSession(lab, wiring, rng).handle

    return LineServer("wgfmu", factory, host=host, port=port, terminator="\n")
