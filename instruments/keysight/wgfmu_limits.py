"""The WGFMU instrument library's constants, limits and defaults: one place for the driver and twin.

:mod:`instruments.keysight.wgfmu` (the driver: refuses before sending) and
:mod:`instruments.sim.wgfmu_server` (the twin: answers with the library's negative return codes)
both take these numbers from here, so they cannot drift apart.

Sources (Keysight B1530A / WGFMU Instrument Library user's guide, as quoted by public drivers):

* constant values: ``wgfmu.h`` as shipped with the library (copies in the public
  ``ilev-sergey/keysight-b1530a`` and ``3it-inpaqt/B1530A_control`` repositories);
* ``WGFMU_setMeasureEvent``: sampling interval 10 ns to 1.34217728 s, averaging time 0 or 10 ns
  to 0.020971512 s, both in 10 ns resolution; while averaging the channel samples every 5 ns,
  so a RAW event returns ``points * (1 + int(average / 5 ns))`` values (docstrings of
  ``keysight_b1530a.enums`` and ``_bindings/event_setup.py``);
* ``WGFMU_addVector(s)``: incremental time 10 ns to 10995.11627775 s;
* ``WGFMU_OPERATION_MODE_SMU``: "SMU mode, default setting. For using SMU connected to the
  RSU"; the operation mode is applied to the hardware by ``WGFMU_update``,
  ``WGFMU_updateChannel``, ``WGFMU_execute`` or the DC measurement functions;
* ``WGFMU_initialize``: resets every channel (SMU mode, 10 mA current range) and keeps the
  library's software setup (patterns, sequences);
* ``WGFMU_doSelfCalibration(int* result, char* detail, int* size)``: result 0 pass, 1 fail;
* at most 2,048 vectors per pattern and 512 sequences (``addSequence`` entries) per channel
  (the B1530A's sequencer memory, as given in the user's guide);
* force voltage ranges: 3 V, 5 V, -10 V (-10..0 V) and +10 V (0..+10 V); AUTO picks the one
  range that holds the whole waveform of the channel; in the PG mode (50 ohm output) only the
  3 V and 5 V ranges exist.

Units: seconds, volts, amperes.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class ErrorCode(IntEnum):
    """Return codes of the library (0 = no error, negative = error)."""

    NO_ERROR = 0
    PARAMETER_OUT_OF_RANGE = -1
    ILLEGAL_STRING = -2
    CONTEXT = -3
    FUNCTION_NOT_SUPPORTED = -4
    COMMUNICATION = -5
    FW = -6
    LIBRARY = -7
    ERROR = -8
    CHANNEL_NOT_FOUND = -9
    PATTERN_NOT_FOUND = -10
    EVENT_NOT_FOUND = -11
    PATTERN_ALREADY_EXISTS = -12
    SEQUENCER_NOT_RUNNING = -13
    RESULT_NOT_READY = -14
    RESULT_OUT_OF_DATE = -15


#: what each error code means (the error summary starts each entry with it)
ERROR_TEXT: dict[int, str] = {
    ErrorCode.PARAMETER_OUT_OF_RANGE: "parameter out of range",
    ErrorCode.ILLEGAL_STRING: "illegal or empty string",
    ErrorCode.CONTEXT: "context error between related functions",
    ErrorCode.FUNCTION_NOT_SUPPORTED: "function not supported by this channel",
    ErrorCode.COMMUNICATION: "IO library error",
    ErrorCode.FW: "firmware error",
    ErrorCode.LIBRARY: "instrument library error",
    ErrorCode.ERROR: "unidentified error",
    ErrorCode.CHANNEL_NOT_FOUND: "channel id not available",
    ErrorCode.PATTERN_NOT_FOUND: "pattern not found",
    ErrorCode.EVENT_NOT_FOUND: "event not found",
    ErrorCode.PATTERN_ALREADY_EXISTS: "pattern already exists",
    ErrorCode.SEQUENCER_NOT_RUNNING: "sequencer not running",
    ErrorCode.RESULT_NOT_READY: "measurement in progress",
    ErrorCode.RESULT_OUT_OF_DATE: "result data deleted by a setup change",
}


class OperationMode(IntEnum):
    """``WGFMU_setOperationMode``: DC, fast I-V, pulse generator (50 ohm) or SMU pass-through."""

    DC = 2000
    FASTIV = 2001
    PG = 2002
    SMU = 2003


class ForceVoltageRange(IntEnum):
    """``WGFMU_setForceVoltageRange``."""

    AUTO = 3000
    V3 = 3001
    V5 = 3002
    V10_NEGATIVE = 3003
    V10_POSITIVE = 3004


class MeasureMode(IntEnum):
    """``WGFMU_setMeasureMode``."""

    VOLTAGE = 4000
    CURRENT = 4001


class MeasureVoltageRange(IntEnum):
    """``WGFMU_setMeasureVoltageRange``."""

    V5 = 5001
    V10 = 5002


class MeasureCurrentRange(IntEnum):
    """``WGFMU_setMeasureCurrentRange``."""

    UA1 = 6001
    UA10 = 6002
    UA100 = 6003
    MA1 = 6004
    MA10 = 6005


class MeasureEventData(IntEnum):
    """``rawData`` argument of ``WGFMU_setMeasureEvent``."""

    AVERAGED = 12000
    RAW = 12001


class Status(IntEnum):
    """``WGFMU_getStatus``."""

    COMPLETED = 10000
    DONE = 10001
    RUNNING = 10002
    ABORT_COMPLETED = 10003
    ABORTED = 10004
    RUNNING_ILLEGAL = 10005
    IDLE = 10006


#: ``WGFMU_doSelfCalibration`` / ``WGFMU_doSelfTest`` result values
SELF_CAL_PASS = 0
SELF_CAL_FAIL = 1

#: full scale (A) of each current measurement range
CURRENT_RANGE_AMPS: dict[int, float] = {
    MeasureCurrentRange.UA1: 1e-6,
    MeasureCurrentRange.UA10: 10e-6,
    MeasureCurrentRange.UA100: 100e-6,
    MeasureCurrentRange.MA1: 1e-3,
    MeasureCurrentRange.MA10: 10e-3,
}

#: output window (V) of each fixed force voltage range
FORCE_RANGE_WINDOW: dict[int, tuple[float, float]] = {
    ForceVoltageRange.V3: (-3.0, 3.0),
    ForceVoltageRange.V5: (-5.0, 5.0),
    ForceVoltageRange.V10_NEGATIVE: (-10.0, 0.0),
    ForceVoltageRange.V10_POSITIVE: (0.0, 10.0),
}
#: fixed force ranges each operation mode offers, in the order AUTO tries them
FORCE_RANGES_BY_MODE: dict[int, tuple[int, ...]] = {
    OperationMode.FASTIV: (ForceVoltageRange.V3, ForceVoltageRange.V5,
                           ForceVoltageRange.V10_NEGATIVE, ForceVoltageRange.V10_POSITIVE),
    OperationMode.DC: (ForceVoltageRange.V3, ForceVoltageRange.V5,
                       ForceVoltageRange.V10_NEGATIVE, ForceVoltageRange.V10_POSITIVE),
    OperationMode.PG: (ForceVoltageRange.V3, ForceVoltageRange.V5),
}

#: full scale (V) of each voltage measurement range
VOLTAGE_RANGE_VOLTS: dict[int, float] = {MeasureVoltageRange.V5: 5.0, MeasureVoltageRange.V10: 10.0}

#: time resolution of vectors and measure events (s)
TIME_RESOLUTION = 10e-9
#: output limits of the hardware (V)
OUTPUT_MIN_V = -10.0
OUTPUT_MAX_V = 10.0
#: longest incremental time of one vector (s)
MAX_VECTOR_TIME_S = 10995.11627775
#: vectors one pattern may hold
MAX_VECTORS_PER_PATTERN = 2048
#: sequences (``addSequence`` entries) one channel may hold
MAX_SEQUENCES_PER_CHANNEL = 512
#: sampling interval of a measure event (s)
MIN_INTERVAL_S = 10e-9
MAX_INTERVAL_S = 1.34217728
#: averaging time of a measure event (s): 0 or 10 ns .. this
MAX_AVERAGE_S = 0.020971512
#: sampling period inside an averaging window (s); a RAW event returns each of these samples
RAW_SAMPLE_S = 5e-9
#: repeat count of one sequence entry
MAX_SEQUENCE_COUNT = 1_099_511_627_776

#: channel state left by ``WGFMU_initialize`` (and at power-on)
INITIAL_OPERATION_MODE = OperationMode.SMU
INITIAL_CURRENT_RANGE = MeasureCurrentRange.MA10
INITIAL_VOLTAGE_RANGE = MeasureVoltageRange.V10
INITIAL_MEASURE_MODE = MeasureMode.VOLTAGE
INITIAL_FORCE_RANGE = ForceVoltageRange.AUTO

#: operation modes in which ``execute`` runs a channel's sequence
RUNNING_MODES = (OperationMode.FASTIV, OperationMode.PG)


def values_per_point(average_s: float, raw: bool) -> int:
    """Values one sample point returns: 1 averaged, ``1 + int(average / 5 ns)`` RAW."""
    if not raw:
        return 1
    return 1 + int(round(average_s / RAW_SAMPLE_S))


def auto_force_range(mode: int, volts: Iterable[float]) -> int | None:
    """The one fixed range AUTO uses for a channel's whole waveform, None if none holds it."""
    values = list(volts)
    lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
    for rng in FORCE_RANGES_BY_MODE.get(int(mode), ()):
        r_lo, r_hi = FORCE_RANGE_WINDOW[rng]
        if r_lo <= lo and hi <= r_hi:
            return rng
    return None


def force_range_error(mode: int, rng: int, volts: Iterable[float]) -> str | None:
    """Why ``volts`` cannot be output in force range ``rng`` of ``mode`` (None if they can)."""
    values = list(volts)
    if int(rng) == ForceVoltageRange.AUTO:
        if auto_force_range(mode, values) is None:
            allowed = FORCE_RANGES_BY_MODE.get(int(mode), ())
            widest = max((max(abs(v) for v in FORCE_RANGE_WINDOW[r]) for r in allowed),
                         default=0.0)
            return (f"no force range of the {OperationMode(int(mode)).name} mode holds "
                    f"{min(values):g}..{max(values):g} V (AUTO fits the whole waveform into one "
                    f"range; widest {widest:g} V)")
        return None
    if int(rng) not in FORCE_RANGES_BY_MODE.get(int(mode), ()):
        return (f"force range {ForceVoltageRange(int(rng)).name} does not exist in the "
                f"{OperationMode(int(mode)).name} mode")
    lo, hi = FORCE_RANGE_WINDOW[int(rng)]
    if values and (min(values) < lo or max(values) > hi):
        return f"{min(values):g}..{max(values):g} V leaves the force range {lo:g}..{hi:g} V"
    return None
