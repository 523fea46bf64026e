"""Keysight B1530A WGFMU driven through a Python mirror of the WGFMU instrument library.

(Longer than ~500 lines on purpose: the call table, both backends, the mirror and the program
loader marshal the same calls and are kept side by side so they cannot drift; the library's
constants and limits are in :mod:`instruments.keysight.wgfmu_limits`.)

In the lab the B1530A is programmed through Keysight's WGFMU instrument library (``wgfmu.dll``,
a C API): a waveform is a *pattern* (an initial voltage followed by vectors ``(dTime, V)``, each a
linear ramp to ``V`` over ``dTime``), *measure events* sample a pattern, *sequences* put patterns
(with a repeat count) on channels, and ``execute`` runs all channels at once. :class:`WGFMU`
exposes the same calls with Python names and Python types, and hands every call to one of two
backends:

* :class:`CtypesBackend` marshals each call to the vendor library through :mod:`ctypes`
  (``c_char_p`` names, ``c_double`` times and voltages, ``c_int`` channels and modes, pointers for
  output arguments) and is given either the loaded library or any object with the same
  ``WGFMU_*`` attributes (the tests use a recording fake).
* :class:`SimBackend` sends each call as one text line to the simulated WGFMU server
  (:mod:`instruments.sim.wgfmu_server`, which documents the line protocol) through pyvisa and
  reads one reply per call.

Both backends see exactly the same sequence of library calls.

Session flow (the vendor's): :meth:`WGFMU.start` opens the session, calls ``initialize`` (every
channel in SMU pass-through mode), checks the wired channels against ``getChannelIds`` and
optionally runs ``doSelfCalibration``. Pulse runs put channels in the fast I-V mode; behind an
RSU the SMU then no longer reaches the probe, so whatever ran pulses calls
:meth:`WGFMU.smu_mode` before any SMU operation (``procedures.operations.pulsing.PulseSession``
does it on
exit, :meth:`WGFMU.safe_state` too). The library's limits (2,048 vectors per pattern, 512
sequences per channel, sampling and averaging times) come from
:mod:`instruments.keysight.wgfmu_limits` and are refused before sending.

A negative return code raises :class:`WGFMUError` carrying the library's error summary.

Safety: every pattern voltage is checked against the bench's
:class:`~instruments.limits.SafetyLimits` for the terminal the channel drives
(``channel_terminals``, default :data:`instruments.wiring.WGFMU_WIRING`: the B1530A in slot 5)
*before* anything is sent; a violation raises :class:`~instruments.limits.LimitError`. A pattern
is checked against its channel's terminal when it is put in a sequence (and every later vector of
it too); before that, against the most permissive terminal any channel drives. Hardware rules
(10 ns time grid, output within -10..+10 V) raise ``ValueError`` before sending.

Pulses are laid out by the one engine, :mod:`instruments.keysight.wgfmu_program` (its step
vocabulary is the procedures' :func:`procedures.operations.pulsing.build_program`), and a laid-out
:class:`~instruments.keysight.wgfmu_program.Program` becomes library calls in one place,
:meth:`WGFMU.load_program`.

Units: seconds, volts, amperes throughout.
"""

from __future__ import annotations

import ctypes
import logging
import math
import re
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial, wraps
from typing import Any, TypeVar

import numpy as np

# Library constants, limits and defaults live in one module shared with the simulator
from instruments.keysight.wgfmu_limits import (  # re-exported
    CURRENT_RANGE_AMPS,
    FORCE_RANGE_WINDOW,
    FORCE_RANGES_BY_MODE,
    MAX_AVERAGE_S,
    MAX_INTERVAL_S,
    MAX_SEQUENCES_PER_CHANNEL,
    MAX_VECTOR_TIME_S,
    MAX_VECTORS_PER_PATTERN,
    MIN_INTERVAL_S,
    OUTPUT_MAX_V,
    OUTPUT_MIN_V,
    SELF_CAL_PASS,
    TIME_RESOLUTION,
    VOLTAGE_RANGE_VOLTS,
    ErrorCode,
    ForceVoltageRange,
    MeasureCurrentRange,
    MeasureEventData,
    MeasureMode,
    MeasureVoltageRange,
    OperationMode,
    Status,
)
from instruments.keysight.wgfmu_program import Program
from instruments.limits import LimitError, SafetyLimits
from instruments.wiring import WGFMU_WIRING

T = TypeVar("T")

#: default wiring: B1530A in slot 5 of the B1500, channel 1 -> BL, channel 2 -> SL
DEFAULT_CHANNEL_TERMINALS = WGFMU_WIRING  # the one default wiring (instruments.wiring)

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def to_ticks(seconds: float, what: str, minimum: int = 1) -> int:
    """Return ``seconds`` as an integer number of 10 ns ticks, or raise ValueError.

    Args:
        seconds: a duration or time (s); must lie on the 10 ns grid.
        what: name of the quantity for the error message.
        minimum: smallest allowed number of ticks (1 = 10 ns, 0 allows zero).
    """
    if not math.isfinite(seconds):
        raise ValueError(f"{what} must be finite, got {seconds!r}")
    exact = seconds / TIME_RESOLUTION
    ticks = round(exact)
    if abs(exact - ticks) > 1e-4 + 1e-9 * abs(ticks):
        raise ValueError(f"{what} {seconds:g} s is not a multiple of the 10 ns time resolution")
    if ticks < minimum:
        raise ValueError(f"{what} {seconds:g} s is below the minimum of {minimum * 10} ns")
    return int(ticks)


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a valid pattern/event name (letters, digits, ``_.-``, <= 64)."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"{what} {name!r} must be 1-64 characters of letters, digits, '_', '.' or '-'"
        )
    return name


def _check_output(volts: float) -> float:
    volts = float(volts)
    if not (OUTPUT_MIN_V <= volts <= OUTPUT_MAX_V):
        raise ValueError(
            f"{volts:g} V is outside the WGFMU output range [{OUTPUT_MIN_V:g}, {OUTPUT_MAX_V:g}] V"
        )
    return volts


class WGFMUError(RuntimeError):
    """A library call returned a negative code.

    Attributes:
        code: the return code (see :class:`ErrorCode`).
        function: the library function (``WGFMU_...``).
        summary: the library's error summary text (``WGFMU_getErrorSummary``).
    """

    def __init__(self, code: int, function: str, summary: str = "") -> None:
        self.code = int(code)
        self.function = function
        self.summary = summary
        try:
            label = ErrorCode(self.code).name
        except ValueError:
            label = "UNKNOWN"
        text = f"{function} returned {self.code} ({label})"
        if summary:
            text += f": {summary}"
        super().__init__(text)


# ---------------------------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------------------------

#: argument kinds of the library calls that only take inputs:
#: s = string, i = int, d = double, D = double array (its length follows as an int in the C call)
CALL_SIGNATURES: dict[str, tuple[str, ...]] = {
    "openSession": ("s",),
    "closeSession": (),
    "initialize": (),
    "clear": (),
    "createPattern": ("s", "d"),
    "addVector": ("s", "d", "d"),
    "addVectors": ("s", "D", "D"),
    "setMeasureEvent": ("s", "s", "d", "i", "d", "d", "i"),
    "addSequence": ("i", "s", "d"),
    "setOperationMode": ("i", "i"),
    "setForceVoltageRange": ("i", "i"),
    "setMeasureMode": ("i", "i"),
    "setMeasureVoltageRange": ("i", "i"),
    "setMeasureCurrentRange": ("i", "i"),
    "connect": ("i",),
    "disconnect": ("i",),
    "update": (),
    "updateChannel": ("i",),
    "execute": (),
    "abort": (),
    "waitUntilCompleted": (),
}

Arg = str | int | float | Sequence[float]


def _check_signature(function: str, args: tuple[Arg, ...]) -> tuple[str, ...]:
    try:
        kinds = CALL_SIGNATURES[function]
    except KeyError:
        raise ValueError(f"unknown WGFMU library call {function!r}") from None
    if len(kinds) != len(args):
        raise TypeError(f"WGFMU_{function} takes {len(kinds)} arguments, got {len(args)}")
    return kinds


class Backend(ABC):
    """Carries library calls to the instrument; returns raw codes (never raises for codes < 0)."""

    @abstractmethod
    def call(self, function: str, *args: Arg) -> int:
        """Call ``WGFMU_<function>`` (a name of :data:`CALL_SIGNATURES`); return its code."""

    @abstractmethod
    def measure_value_size(self, channel: int) -> tuple[int, int, int]:
        """``WGFMU_getMeasureValueSize``: (code, measured points, total points)."""

    @abstractmethod
    def measure_values(
        self, channel: int, offset: int, size: int
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """``WGFMU_getMeasureValues``: (code, times in s, values in A or V)."""

    @abstractmethod
    def status(self) -> tuple[int, int, float, float]:
        """``WGFMU_getStatus``: (code, status, elapsed s, total s)."""

    @abstractmethod
    def channel_ids(self) -> tuple[int, list[int]]:
        """``WGFMU_getChannelIdSize`` + ``WGFMU_getChannelIds``: (code, channel ids)."""

    @abstractmethod
    def error_summary(self) -> str:
        """``WGFMU_getErrorSummarySize`` + ``WGFMU_getErrorSummary`` (clears the summary)."""

    @abstractmethod
    def self_calibration(self) -> tuple[int, int, str]:
        """``WGFMU_doSelfCalibration``: (code, result 0 pass / 1 fail, detail text)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the transport (nothing by default)."""


def _one_call_at_a_time(method: Callable[..., T]) -> Callable[..., T]:
    """Run a :class:`CtypesBackend` method under the backend's lock (one library call at once)."""

    @wraps(method)
    def locked(self: CtypesBackend, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


class CtypesBackend(Backend):
    """The vendor library (``wgfmu.dll``) through ctypes.

    Args:
        library: the loaded library (``ctypes.WinDLL``) or any object with ``WGFMU_*`` callables
            taking ctypes arguments and returning an ``int`` code. Output arguments are passed as
            ``ctypes.pointer(...)`` (scalars) or ctypes arrays / string buffers.
    """

    def __init__(self, library: Any) -> None:
        self._lib = library
        # One library call at a time, like every other driver's exchange (instruments/exchange.py):
        # the vendor documents no thread safety, and the GUI's status tick and a run's thread
        # may both reach the WGFMU. Re-entrant: channel_ids/error_summary make two calls.
        self._lock = threading.RLock()
        for name in (*CALL_SIGNATURES, "getMeasureValueSize", "getMeasureValues", "getStatus",
                     "getChannelIdSize", "getChannelIds", "getErrorSummarySize",
                     "getErrorSummary", "doSelfCalibration"):
            fn = getattr(library, "WGFMU_" + name, None)
            if isinstance(fn, ctypes._CFuncPtr):  # a real library: declare the C return type
                fn.restype = ctypes.c_int

    @classmethod
    def load(cls, path: str = "wgfmu.dll") -> CtypesBackend:
        """Load the vendor library (Windows only: the library is ``_stdcall``)."""
        loader = getattr(ctypes, "WinDLL", None)
        if loader is None:
            raise OSError(
                f"the Keysight WGFMU instrument library is Windows-only; cannot load {path!r} on "
                f"{sys.platform} (use the simulated bench, or pass a library object)"
            )
        return cls(loader(path))

    def _fn(self, name: str) -> Any:
        try:
            return getattr(self._lib, "WGFMU_" + name)
        except AttributeError:
            raise WGFMUError(
                ErrorCode.FUNCTION_NOT_SUPPORTED, "WGFMU_" + name, "not in the loaded library"
            ) from None

    @_one_call_at_a_time
    def call(self, function: str, *args: Arg) -> int:
        kinds = _check_signature(function, args)
        cargs: list[Any] = []
        for kind, value in zip(kinds, args, strict=True):
            if kind == "s":
                cargs.append(ctypes.c_char_p(str(value).encode("ascii")))
            elif kind == "i":
                cargs.append(ctypes.c_int(int(value)))  # type: ignore[arg-type]
            elif kind == "d":
                cargs.append(ctypes.c_double(float(value)))  # type: ignore[arg-type]
            else:  # "D": array then (after the last array) its length
                values = [float(v) for v in value]  # type: ignore[union-attr]
                cargs.append((ctypes.c_double * len(values))(*values))
        if "D" in kinds:
            cargs.append(ctypes.c_int(len(cargs[-1])))
        return int(self._fn(function)(*cargs))

    @_one_call_at_a_time
    def measure_value_size(self, channel: int) -> tuple[int, int, int]:
        measured, total = ctypes.c_int(0), ctypes.c_int(0)
        rc = self._fn("getMeasureValueSize")(
            ctypes.c_int(int(channel)), ctypes.pointer(measured), ctypes.pointer(total)
        )
        return int(rc), measured.value, total.value

    @_one_call_at_a_time
    def measure_values(
        self, channel: int, offset: int, size: int
    ) -> tuple[int, np.ndarray, np.ndarray]:
        n = ctypes.c_int(int(size))
        times = (ctypes.c_double * max(int(size), 1))()
        values = (ctypes.c_double * max(int(size), 1))()
        rc = self._fn("getMeasureValues")(
            ctypes.c_int(int(channel)), ctypes.c_int(int(offset)), ctypes.pointer(n), times, values
        )
        got = max(0, min(n.value, int(size)))
        return int(rc), np.array(times[:got], dtype=float), np.array(values[:got], dtype=float)

    @_one_call_at_a_time
    def status(self) -> tuple[int, int, float, float]:
        st, elapsed, total = ctypes.c_int(0), ctypes.c_double(0.0), ctypes.c_double(0.0)
        rc = self._fn("getStatus")(
            ctypes.pointer(st), ctypes.pointer(elapsed), ctypes.pointer(total)
        )
        return int(rc), st.value, elapsed.value, total.value

    @_one_call_at_a_time
    def channel_ids(self) -> tuple[int, list[int]]:
        n = ctypes.c_int(0)
        rc = int(self._fn("getChannelIdSize")(ctypes.pointer(n)))
        if rc < 0:
            return rc, []
        ids = (ctypes.c_int * max(n.value, 1))()
        size = ctypes.c_int(n.value)
        rc = int(self._fn("getChannelIds")(ids, ctypes.pointer(size)))
        return rc, list(ids[: max(0, min(size.value, n.value))])

    @_one_call_at_a_time
    def error_summary(self) -> str:
        n = ctypes.c_int(0)
        rc = int(self._fn("getErrorSummarySize")(ctypes.pointer(n)))
        if rc < 0:
            return f"(error summary unavailable: WGFMU_getErrorSummarySize returned {rc})"
        buf = ctypes.create_string_buffer(n.value + 1)
        size = ctypes.c_int(len(buf))
        rc = int(self._fn("getErrorSummary")(buf, ctypes.pointer(size)))
        if rc < 0:
            return f"(error summary unavailable: WGFMU_getErrorSummary returned {rc})"
        return buf.value.decode("ascii", errors="replace").strip()

    @_one_call_at_a_time
    def self_calibration(self) -> tuple[int, int, str]:
        result = ctypes.c_int(0)
        buf = ctypes.create_string_buffer(SELF_CAL_DETAIL_CHARS)
        size = ctypes.c_int(len(buf))
        rc = int(self._fn("doSelfCalibration")(ctypes.pointer(result), buf, ctypes.pointer(size)))
        return rc, result.value, buf.value.decode("ascii", errors="replace").strip()


#: characters reserved for the detail text of ``WGFMU_doSelfCalibration``
SELF_CAL_DETAIL_CHARS = 4096


class SimBackend(Backend):
    """The simulated WGFMU server, one text line per library call (see ``wgfmu_server``).

    Args:
        resource: VISA resource of the server, e.g. ``TCPIP::127.0.0.1::5025::SOCKET``.
        resource_manager: a pyvisa ``ResourceManager`` (default: a pyvisa-py one).
        timeout_s: reply timeout of ordinary calls (s).
        execute_timeout_s: reply timeout of ``execute`` (the simulator runs the whole sequence
            before replying), in seconds.

    Each call is one exchange (a lock per connection: two threads never take each other's
    reply). The replies carry no id, but the server answers every line with exactly one line,
    in order: a call whose reply timed out leaves one reply owed, and the next call first
    reads and drops the owed replies (a COMMUNICATION error, nothing sent, if they still do
    not come), so no call ever takes another's reply.
    """

    def __init__(
        self,
        resource: str,
        resource_manager: Any = None,
        timeout_s: float = 10.0,
        execute_timeout_s: float = 600.0,
    ) -> None:
        import pyvisa

        self._rm = resource_manager or pyvisa.ResourceManager("@py")
        self._res = self._rm.open_resource(
            resource, read_termination="\n", write_termination="\n"
        )
        self._timeout_ms = int(timeout_s * 1000)
        self._execute_timeout_ms = int(execute_timeout_s * 1000)
        self._res.timeout = self._timeout_ms
        self._lock = threading.Lock()
        self._owed = 0  # replies of timed-out calls still to come (read and dropped first)

    @staticmethod
    def _format(kind: str, value: Arg) -> str:
        if kind == "s":
            return str(value)
        if kind == "i":
            return str(int(value))  # type: ignore[arg-type]
        if kind == "d":
            return repr(float(value))  # type: ignore[arg-type]
        return ",".join(repr(float(v)) for v in value)  # type: ignore[union-attr]

    def _query(self, line: str, timeout_ms: int | None = None) -> tuple[int, str]:
        import pyvisa

        function = "WGFMU_" + line.split(" ", 1)[0]
        with self._lock:
            try:
                if timeout_ms is not None:
                    self._res.timeout = timeout_ms
                self._drop_owed_replies(function)
                self._owed += 1  # until this call's reply is read
                reply = self._res.query(line)
                self._owed -= 1
            except pyvisa.VisaIOError as exc:
                raise WGFMUError(ErrorCode.COMMUNICATION, function, str(exc)) from exc
            finally:
                if timeout_ms is not None:
                    self._res.timeout = self._timeout_ms
        head, _, payload = reply.strip().partition(" ")
        try:
            return int(head), payload
        except ValueError:
            raise WGFMUError(
                ErrorCode.COMMUNICATION, function, f"malformed reply {reply!r}"
            ) from None

    def _drop_owed_replies(self, function: str) -> None:
        """Read the late replies of timed-out calls (nothing is sent before they are in)."""
        import pyvisa

        while self._owed:
            try:
                late = self._res.read()
            except pyvisa.VisaIOError as exc:
                raise WGFMUError(ErrorCode.COMMUNICATION, function,
                                 f"{self._owed} late replies still missing ({exc}); nothing "
                                 "sent") from None
            self._owed -= 1
            log.warning("WGFMU: dropped the late reply %r", late.strip())

    def call(self, function: str, *args: Arg) -> int:
        kinds = _check_signature(function, args)
        parts = [function] + [self._format(k, v) for k, v in zip(kinds, args, strict=True)]
        timeout = self._execute_timeout_ms if function == "execute" else None
        return self._query(" ".join(parts), timeout)[0]

    def self_calibration(self) -> tuple[int, int, str]:
        rc, payload = self._query("doSelfCalibration", self._execute_timeout_ms)
        if rc < 0:
            return rc, 1, ""
        result, _, detail = payload.partition(" ")
        return rc, int(result), detail

    def measure_value_size(self, channel: int) -> tuple[int, int, int]:
        rc, payload = self._query(f"getMeasureValueSize {int(channel)}")
        if rc < 0:
            return rc, 0, 0
        measured, total = (int(x) for x in payload.split())
        return rc, measured, total

    def measure_values(
        self, channel: int, offset: int, size: int
    ) -> tuple[int, np.ndarray, np.ndarray]:
        rc, payload = self._query(f"getMeasureValues {int(channel)} {int(offset)} {int(size)}")
        if rc < 0 or not payload:
            return rc, np.empty(0), np.empty(0)
        flat = np.array(payload.replace(";", ",").split(","), dtype=float)
        return rc, flat[0::2].copy(), flat[1::2].copy()

    def status(self) -> tuple[int, int, float, float]:
        rc, payload = self._query("getStatus")
        if rc < 0:
            return rc, int(Status.IDLE), 0.0, 0.0
        st, elapsed, total = payload.split()
        return rc, int(st), float(elapsed), float(total)

    def channel_ids(self) -> tuple[int, list[int]]:
        rc, payload = self._query("getChannelIds")
        if rc < 0 or not payload:
            return rc, []
        return rc, [int(x) for x in payload.split(",")]

    def error_summary(self) -> str:
        rc, payload = self._query("getErrorSummary")
        if rc < 0:
            return f"(error summary unavailable: WGFMU_getErrorSummary returned {rc})"
        return payload

    def close(self) -> None:
        # Only the resource: pyvisa's ResourceManager is shared by the whole process (one per
        # backend library), so closing it would close every other instrument's session too.
        self._res.close()


# ---------------------------------------------------------------------------------------------
# The library mirror
# ---------------------------------------------------------------------------------------------


@dataclass
class _PatternMirror:
    """What this client sent for one pattern: every voltage (V) and the channels it runs on."""

    volts: list[float]
    channels: set[int] = field(default_factory=set)

    @property
    def vectors(self) -> int:
        """Vectors added so far (every voltage but the initial one)."""
        return len(self.volts) - 1


@dataclass(frozen=True)
class SelfCalibration:
    """Result of ``WGFMU_doSelfCalibration``: ``passed`` and the library's detail text."""

    passed: bool
    detail: str


class WGFMU:
    """The WGFMU instrument library, call for call, with safety limits.

    Args:
        backend: :class:`CtypesBackend` (the vendor library) or :class:`SimBackend` (simulator).
        limits: the bench's safety limits (default: :class:`SafetyLimits` defaults).
        channel_terminals: which terminal (``BL``, ``SL``, ...) each channel drives.

    Every method raises :class:`WGFMUError` when the library returns a negative code,
    ``ValueError`` for arguments the hardware cannot do (checked before sending) and
    :class:`LimitError` for voltages over the bench limits (checked before sending).
    """

    def __init__(
        self,
        backend: Backend,
        limits: SafetyLimits | None = None,
        channel_terminals: Mapping[int, str] | None = None,
    ) -> None:
        self.backend = backend
        self.limits = limits or SafetyLimits()
        terminals = dict(channel_terminals or DEFAULT_CHANNEL_TERMINALS)
        for ch, term in terminals.items():
            if term not in self.limits.max_voltage:
                raise ValueError(f"channel {ch} drives unknown terminal {term!r}")
        self.channel_terminals: dict[int, str] = {int(k): v for k, v in terminals.items()}
        self._patterns: dict[str, _PatternMirror] = {}
        self._sequences: dict[int, int] = {}
        #: operation mode last set per channel, and the one applied to the hardware (None:
        #: unknown, e.g. before ``initialize`` or after a failed execute)
        self._mode_set: dict[int, int] = {}
        self._mode_applied: dict[int, int | None] = {}

    # -- construction helpers -------------------------------------------------------------------
    @classmethod
    def simulated(cls, resource: str, **kwargs: Any) -> WGFMU:
        """A WGFMU talking to the simulated server at VISA ``resource``.

        ``limits`` and ``channel_terminals`` go to :class:`WGFMU`, anything else to
        :class:`SimBackend`.
        """
        own = {k: kwargs.pop(k) for k in ("limits", "channel_terminals") if k in kwargs}
        return cls(SimBackend(resource, **kwargs), **own)

    @classmethod
    def from_library(cls, library: Any = None, path: str = "wgfmu.dll", **kwargs: Any) -> WGFMU:
        """A WGFMU on the vendor library (``library`` object, or loaded from ``path``)."""
        backend = CtypesBackend(library) if library is not None else CtypesBackend.load(path)
        return cls(backend, **kwargs)

    def __enter__(self) -> WGFMU:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the backend's transport (does not close the session)."""
        self.backend.close()

    # -- plumbing -------------------------------------------------------------------------------
    def _check(self, function: str, rc: int) -> int:
        if rc < 0:
            raise WGFMUError(rc, "WGFMU_" + function, self.backend.error_summary())
        return rc

    def _call(self, function: str, *args: Arg) -> int:
        return self._check(function, self.backend.call(function, *args))

    def _terminal(self, channel: int) -> str:
        try:
            return self.channel_terminals[int(channel)]
        except KeyError:
            raise ValueError(
                f"channel {channel} is not wired to a terminal (known: "
                f"{', '.join(str(c) for c in self.channel_terminals)})"
            ) from None

    def _check_limit(self, pattern: str, volts: float) -> None:
        """LimitError unless ``volts`` is allowed where ``pattern`` runs (or could run)."""
        mirror = self._patterns.get(pattern)
        if mirror is not None and mirror.channels:
            for ch in sorted(mirror.channels):
                self.limits.check_voltage(self._terminal(ch), volts)
            return
        terminals = sorted(
            set(self.channel_terminals.values()), key=lambda t: -self.limits.max_voltage[t]
        )
        self.limits.check_voltage(terminals[0], volts)  # the most permissive terminal

    # -- session --------------------------------------------------------------------------------
    def open_session(self, address: str) -> None:
        """``WGFMU_openSession``: open the B1500 at VISA ``address`` (e.g. ``GPIB0::17::INSTR``)."""
        if not address or any(c.isspace() for c in address):
            raise ValueError(f"bad instrument address {address!r}")
        self._call("openSession", address)

    def close_session(self) -> None:
        """``WGFMU_closeSession``."""
        self._call("closeSession")
        self._patterns.clear()
        self._sequences.clear()

    def initialize(self) -> None:
        """``WGFMU_initialize``: reset every channel (SMU mode, 10 mA range, disconnected).

        The library's software setup (patterns, sequences) is kept.
        """
        self._call("initialize")
        self._mode_set.clear()
        self._mode_applied = dict.fromkeys(self.channel_terminals, int(OperationMode.SMU))

    def clear(self) -> None:
        """``WGFMU_clear``: forget every pattern, event, sequence and measured value."""
        self._call("clear")
        self._patterns.clear()
        self._sequences.clear()

    def start(self, address: str, self_calibration: bool = False, source: str = "") -> None:
        """The vendor's session flow: open, initialize, check the channels, self-calibrate.

        ``openSession(address)``, ``initialize`` (every channel in SMU pass-through mode),
        :meth:`check_channels` (``source`` names the bench file in the message), and with
        ``self_calibration`` a ``doSelfCalibration`` whose result is logged (a failure raises
        :class:`WGFMUError`).
        """
        self.open_session(address)
        self.initialize()
        self.check_channels(source)
        if self_calibration:
            cal = self.do_self_calibration()
            if cal.passed:
                log.info("WGFMU self-calibration passed%s", f": {cal.detail}" if cal.detail else "")
            else:
                log.error("WGFMU self-calibration FAILED: %s", cal.detail or "(no detail)")
                raise WGFMUError(ErrorCode.FW, "WGFMU_doSelfCalibration",
                                 f"self-calibration failed: {cal.detail or 'no detail'}")

    def check_channels(self, source: str = "") -> list[int]:
        """ValueError unless every wired channel is installed (``WGFMU_getChannelIds``)."""
        installed = self.get_channel_ids()
        missing = [ch for ch in self.channel_terminals if ch not in installed]
        if missing:
            where = f"{source}: " if source else ""
            names = ", ".join(f"{ch} ({self.channel_terminals[ch]})" for ch in missing)
            have = ", ".join(str(c) for c in installed) or "none"
            raise ValueError(
                f"{where}[wiring.wgfmu] names WGFMU channel {names}, which the instrument does "
                f"not have (installed channels: {have})"
            )
        return installed

    def do_self_calibration(self) -> SelfCalibration:
        """``WGFMU_doSelfCalibration``: calibrate every channel (outputs disconnected)."""
        rc, result, detail = self.backend.self_calibration()
        self._check("doSelfCalibration", rc)
        return SelfCalibration(result == SELF_CAL_PASS, detail)

    # -- patterns -------------------------------------------------------------------------------
    def create_pattern(self, name: str, init_v: float) -> None:
        """``WGFMU_createPattern``: a new pattern starting at ``init_v`` (V)."""
        check_name(name, "pattern name")
        init_v = _check_output(init_v)
        self._check_limit(name, init_v)
        self._call("createPattern", name, init_v)
        self._patterns[name] = _PatternMirror(volts=[init_v])

    def add_vector(self, pattern: str, d_time: float, v: float) -> None:
        """``WGFMU_addVector``: ramp linearly to ``v`` (V) over ``d_time`` (s, 10 ns grid)."""
        self.add_vectors(pattern, [d_time], [v])

    def add_vectors(
        self, pattern: str, d_times: Sequence[float], volts: Sequence[float]
    ) -> None:
        """``WGFMU_addVectors`` (one vector: ``WGFMU_addVector``); times s, voltages V."""
        check_name(pattern, "pattern name")
        d_times = [float(d) for d in d_times]
        volts = [_check_output(v) for v in volts]
        if len(d_times) != len(volts) or not d_times:
            raise ValueError("d_times and volts must be non-empty and of equal length")
        for d in d_times:
            to_ticks(d, "vector time")
            if d > MAX_VECTOR_TIME_S:
                raise ValueError(f"vector time {d:g} s exceeds {MAX_VECTOR_TIME_S:g} s")
        mirror = self._patterns.get(pattern)
        if mirror is not None and mirror.vectors + len(volts) > MAX_VECTORS_PER_PATTERN:
            raise ValueError(
                f"pattern {pattern!r} would hold {mirror.vectors + len(volts)} vectors; the "
                f"library allows {MAX_VECTORS_PER_PATTERN} per pattern (split the waveform)"
            )
        for v in volts:
            self._check_limit(pattern, v)
        if len(volts) == 1:
            self._call("addVector", pattern, d_times[0], volts[0])
        else:
            self._call("addVectors", pattern, d_times, volts)
        if pattern in self._patterns:
            self._patterns[pattern].volts.extend(volts)

    def set_measure_event(
        self,
        pattern: str,
        event: str,
        time: float,
        points: int,
        interval: float,
        average: float = 0.0,
        rdata: int = MeasureEventData.AVERAGED,
    ) -> None:
        """``WGFMU_setMeasureEvent``: sample ``points`` values from ``time`` every ``interval``.

        Args:
            pattern: pattern name.
            event: event name (unique within the pattern).
            time: start of the first sample, from the start of the pattern (s, 10 ns grid).
            points: number of samples (>= 1).
            interval: sample spacing (s, >= 10 ns, 10 ns grid).
            average: averaging window of each sample (s, 0 or 10 ns grid, <= interval).
            rdata: :class:`MeasureEventData` (AVERAGED or RAW).
        """
        check_name(pattern, "pattern name")
        check_name(event, "event name")
        to_ticks(time, "measure event time", minimum=0)
        interval_ticks = to_ticks(interval, "measure interval")
        average_ticks = to_ticks(average, "averaging time", minimum=0)
        if not MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S * (1 + 1e-12):
            raise ValueError(f"measure interval {interval:g} s is outside "
                             f"{MIN_INTERVAL_S:g}..{MAX_INTERVAL_S:g} s")
        if average > MAX_AVERAGE_S * (1 + 1e-12):
            raise ValueError(f"averaging time {average:g} s exceeds {MAX_AVERAGE_S:g} s")
        if int(points) != points or points < 1:
            raise ValueError(f"measurement points must be a positive integer, got {points!r}")
        if average_ticks > interval_ticks:
            raise ValueError(f"averaging time {average:g} s exceeds the interval {interval:g} s")
        if int(rdata) not in (MeasureEventData.AVERAGED, MeasureEventData.RAW):
            raise ValueError(f"rdata must be 12000 (averaged) or 12001 (raw), got {rdata!r}")
        self._call(
            "setMeasureEvent", pattern, event, float(time), int(points), float(interval),
            float(average), int(rdata),
        )

    def add_sequence(self, channel: int, pattern: str, count: int = 1) -> None:
        """``WGFMU_addSequence``: run ``pattern`` ``count`` times on ``channel``.

        Every voltage of the pattern is checked against the limit of the channel's terminal first.
        """
        check_name(pattern, "pattern name")
        terminal = self._terminal(channel)
        if int(count) != count or count < 1:
            raise ValueError(f"sequence count must be a positive integer, got {count!r}")
        used = self._sequences.get(int(channel), 0)
        if used >= MAX_SEQUENCES_PER_CHANNEL:
            raise ValueError(f"channel {channel} already holds {used} sequences; the library "
                             f"allows {MAX_SEQUENCES_PER_CHANNEL} per channel")
        mirror = self._patterns.get(pattern)
        if mirror is not None:
            for v in mirror.volts:
                self.limits.check_voltage(terminal, v)
        self._call("addSequence", int(channel), pattern, float(count))
        self._sequences[int(channel)] = used + 1
        if mirror is not None:
            mirror.channels.add(int(channel))

    # -- channel setup --------------------------------------------------------------------------
    def set_operation_mode(self, channel: int, mode: int) -> None:
        """``WGFMU_setOperationMode`` (:class:`OperationMode`).

        The mode reaches the hardware at the next :meth:`update`, :meth:`update_channel` or
        :meth:`execute`.
        """
        self._call("setOperationMode", int(channel), int(mode))
        self._mode_set[int(channel)] = int(mode)

    def update(self) -> None:
        """``WGFMU_update``: apply the channel setup (modes, ranges) of every channel."""
        try:
            self._call("update")
        except WGFMUError:
            self._mode_applied.clear()
            raise
        self._apply_modes(self.channel_terminals)

    def update_channel(self, channel: int) -> None:
        """``WGFMU_updateChannel``: apply the setup of one channel."""
        try:
            self._call("updateChannel", int(channel))
        except WGFMUError:
            self._mode_applied.pop(int(channel), None)
            raise
        self._apply_modes([int(channel)])

    def _apply_modes(self, channels: Any) -> None:
        for ch in channels:
            if ch in self._mode_set:
                self._mode_applied[ch] = self._mode_set[ch]

    def smu_mode(self) -> None:
        """Put every wired channel in SMU pass-through mode (2003), so the SMUs reach the cell.

        Behind an RSU an SMU reaches the probe only while its WGFMU channel is in the SMU mode:
        a channel left in the fast I-V or PG mode after a pulse run leaves the SMU path open.
        Sends only what is needed: ``setOperationMode`` for the channels whose mode was set to
        something else, then one ``update`` (``updateChannel`` for a single channel) unless
        every channel is known to be in the SMU mode already (nothing is sent then).
        """
        smu = int(OperationMode.SMU)
        for ch in self.channel_terminals:
            if self._mode_set.get(ch, smu) != smu or self._mode_applied.get(ch) is None:
                self.set_operation_mode(ch, smu)
        stale = [ch for ch in self.channel_terminals if self._mode_applied.get(ch) != smu]
        if len(stale) == 1:
            self.update_channel(stale[0])
        elif stale:
            self.update()

    def set_force_voltage_range(self, channel: int, rng: int) -> None:
        """``WGFMU_setForceVoltageRange`` (:class:`ForceVoltageRange`).

        ValueError (nothing sent) for a fixed range the channel's operation mode does not have
        (the PG mode has no 10 V ranges).
        """
        mode = self._mode_set.get(int(channel))
        if (mode in FORCE_RANGES_BY_MODE and int(rng) != ForceVoltageRange.AUTO
                and int(rng) not in FORCE_RANGES_BY_MODE[mode]):
            raise ValueError(f"force range {ForceVoltageRange(int(rng)).name} does not exist in "
                             f"the {OperationMode(mode).name} mode of channel {channel}")
        self._call("setForceVoltageRange", int(channel), int(rng))

    def set_measure_mode(self, channel: int, mode: int) -> None:
        """``WGFMU_setMeasureMode`` (:class:`MeasureMode`)."""
        self._call("setMeasureMode", int(channel), int(mode))

    def set_measure_voltage_range(self, channel: int, rng: int) -> None:
        """``WGFMU_setMeasureVoltageRange`` (:class:`MeasureVoltageRange`)."""
        self._call("setMeasureVoltageRange", int(channel), int(rng))

    def set_measure_current_range(self, channel: int, rng: int) -> None:
        """``WGFMU_setMeasureCurrentRange`` (:class:`MeasureCurrentRange`).

        The range's full scale counts as the channel's current compliance: LimitError (nothing
        sent) when it exceeds the bench's ``max_compliance``.
        """
        if int(rng) in CURRENT_RANGE_AMPS:
            self.limits.check_compliance(CURRENT_RANGE_AMPS[int(rng)])
        self._call("setMeasureCurrentRange", int(channel), int(rng))

    def connect(self, channel: int) -> None:
        """``WGFMU_connect``: switch the RSU of ``channel`` to the WGFMU."""
        self._call("connect", int(channel))

    def disconnect(self, channel: int) -> None:
        """``WGFMU_disconnect``."""
        self._call("disconnect", int(channel))

    def safe_state(self) -> None:
        """Outputs off: abort anything running, then disconnect every wired channel.

        Meant for shutdown and stop paths: every step is tried even if an earlier one fails;
        the first error is raised at the end.
        """
        first: Exception | None = None
        steps = [self.abort] + [partial(self.disconnect, ch) for ch in self.channel_terminals]
        steps.append(self.smu_mode)  # leave the SMU paths closed (SMU outputs are off)
        for step in steps:
            try:
                step()
            except Exception as exc:  # keep going: the other channels must still be released
                first = first or exc
        if first is not None:
            raise first

    def load_program(
        self,
        program: Program,
        channels: Mapping[str, int],
        *,
        measure_terminal: str = "BL",
        current_range: int = MeasureCurrentRange.UA100,
        repeat: int = 1,
        prefix: str = "mp",
    ) -> None:
        """Set the library up to run ``program`` (the one place a program becomes library calls).

        Every level of every pattern is checked against its terminal's limit first (LimitError,
        nothing sent). Then: ``clear``; one pattern ``<prefix>_<terminal>`` per terminal of
        ``channels`` (terminal -> channel id); the program's measure events on the
        ``measure_terminal`` pattern; each channel in fast I-V mode (current measurement in
        ``current_range`` on the measured channel, voltage on the others) with one sequence of
        its pattern repeated ``repeat`` times. Connecting and executing are the caller's.
        """
        for term in channels:
            for v in program.levels(term):
                self.limits.check_voltage(term, v)
        self.clear()
        names = {term: f"{prefix}_{term.lower()}" for term in channels}
        for term, name in names.items():
            self.create_pattern(name, 0.0)
            d_times, volts = zip(*program.vectors[term], strict=True)
            self.add_vectors(name, d_times, volts)
        for ev in program.events:
            self.set_measure_event(names[measure_terminal], ev.name, ev.time, ev.points,
                                   ev.interval, ev.average, MeasureEventData.AVERAGED)
        for term, ch in channels.items():
            self.set_operation_mode(ch, OperationMode.FASTIV)
            if term == measure_terminal:
                self.set_measure_mode(ch, MeasureMode.CURRENT)
                self.set_measure_current_range(ch, current_range)
            else:
                self.set_measure_mode(ch, MeasureMode.VOLTAGE)
            self.add_sequence(ch, names[term], repeat)

    def identity(self) -> str:
        """A short description of the installed WGFMU channels (e.g. for a status display)."""
        return "B1530A WGFMU, channels " + ", ".join(str(c) for c in self.get_channel_ids())

    # -- running --------------------------------------------------------------------------------
    def execute(self) -> None:
        """``WGFMU_execute``: apply every channel's setup and run its sequence."""
        try:
            self._call("execute")
        except WGFMUError:
            self._mode_applied.clear()  # partly applied, perhaps: unknown
            raise
        self._apply_modes(self.channel_terminals)

    def abort(self) -> None:
        """``WGFMU_abort``."""
        self._call("abort")

    def wait_until_completed(self) -> None:
        """``WGFMU_waitUntilCompleted``."""
        self._call("waitUntilCompleted")

    def get_status(self) -> tuple[int, float, float]:
        """``WGFMU_getStatus``: (:class:`Status`, elapsed s, total s)."""
        rc, st, elapsed, total = self.backend.status()
        self._check("getStatus", rc)
        return st, elapsed, total

    def get_channel_ids(self) -> list[int]:
        """``WGFMU_getChannelIds``: ids of the installed WGFMU channels."""
        rc, ids = self.backend.channel_ids()
        self._check("getChannelIds", rc)
        return ids

    # -- data -----------------------------------------------------------------------------------
    def get_measure_value_size(self, channel: int) -> tuple[int, int]:
        """``WGFMU_getMeasureValueSize``: (points measured so far, points expected)."""
        rc, measured, total = self.backend.measure_value_size(int(channel))
        self._check("getMeasureValueSize", rc)
        return measured, total

    def get_measure_values(
        self, channel: int, offset: int = 0, size: int | None = None, block: int = 20000
    ) -> tuple[np.ndarray, np.ndarray]:
        """``WGFMU_getMeasureValues``: (times s, values A or V) of ``channel``.

        ``size=None`` reads every measured point from ``offset``; reads go in blocks of ``block``.
        """
        if size is None:
            size = self.get_measure_value_size(channel)[0] - int(offset)
        if offset < 0 or size < 0:
            raise ValueError(f"bad offset/size {offset}/{size}")
        times: list[np.ndarray] = []
        values: list[np.ndarray] = []
        done = 0
        while done < size:
            n = min(block, size - done)
            rc, t, v = self.backend.measure_values(int(channel), int(offset) + done, n)
            self._check("getMeasureValues", rc)
            if len(t) == 0:
                break
            times.append(t)
            values.append(v)
            done += len(t)
        if not times:
            return np.empty(0), np.empty(0)
        return np.concatenate(times), np.concatenate(values)

    def get_error_summary(self) -> str:
        """``WGFMU_getErrorSummary``: the accumulated error text (and clear it)."""
        return self.backend.error_summary()


__all__ = [
    "CURRENT_RANGE_AMPS", "DEFAULT_CHANNEL_TERMINALS", "FORCE_RANGE_WINDOW", "TIME_RESOLUTION",
    "VOLTAGE_RANGE_VOLTS", "Backend", "CtypesBackend", "ErrorCode", "ForceVoltageRange",
    "LimitError", "MeasureCurrentRange", "MeasureEventData", "MeasureMode",
    "MeasureVoltageRange", "OperationMode", "Program", "SelfCalibration", "SimBackend", "Status",
    "WGFMU", "WGFMUError", "check_name", "to_ticks",
]
