"""WGFMU driver on the ctypes backend, against a recording fake of the vendor library."""

from __future__ import annotations

import ctypes
import sys

import numpy as np
import pytest

from instruments.keysight.wgfmu import (
    WGFMU,
    CtypesBackend,
    ErrorCode,
    MeasureCurrentRange,
    MeasureEventData,
    MeasureMode,
    OperationMode,
    Status,
    WGFMUError,
)
from instruments.limits import LimitError, SafetyLimits
from tests.instruments._wgfmu import EDGE_TICKS, bl_sl, pulse, read, run_program


class FakeLibrary:
    """Stands in for wgfmu.dll: records every call with its ctypes arguments.

    ``codes[name]`` sets a function's return code; output arguments are written like the C
    library does (through the pointers / into the arrays and buffers it is given).
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.codes: dict[str, int] = {}
        self.summary = b""
        self.data_t = np.arange(5) * 1e-6
        self.data_v = np.arange(5) * 1e-7

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def __getattr__(self, name: str):
        if not name.startswith("WGFMU_"):
            raise AttributeError(name)

        def fn(*args):
            self.calls.append((name, args))
            short = name.removeprefix("WGFMU_")
            special = getattr(self, "_" + short, None)
            if special is not None:
                special(*args)
            return self.codes.get(short, 0)

        return fn

    # output-argument functions, written like the C library
    def _getErrorSummarySize(self, size_p) -> None:
        size_p.contents.value = len(self.summary)

    def _getErrorSummary(self, buf, size_p) -> None:
        assert isinstance(buf, ctypes.Array) and len(buf) >= len(self.summary) + 1
        buf.value = self.summary
        size_p.contents.value = len(self.summary)
        self.summary = b""

    def _getMeasureValueSize(self, ch, measured_p, total_p) -> None:
        measured_p.contents.value = len(self.data_t)
        total_p.contents.value = len(self.data_t)

    def _getMeasureValues(self, ch, offset, size_p, times, values) -> None:
        lo = offset.value
        n = min(size_p.contents.value, len(self.data_t) - lo)
        for k in range(n):
            times[k] = self.data_t[lo + k]
            values[k] = self.data_v[lo + k]
        size_p.contents.value = n

    def _getStatus(self, status_p, elapsed_p, total_p) -> None:
        status_p.contents.value = Status.COMPLETED
        elapsed_p.contents.value = 2.5e-6
        total_p.contents.value = 2.5e-6

    def _getChannelIdSize(self, size_p) -> None:
        size_p.contents.value = 2

    def _getChannelIds(self, ids, size_p) -> None:
        ids[0], ids[1] = 501, 502
        size_p.contents.value = 2


@pytest.fixture
def lib() -> FakeLibrary:
    return FakeLibrary()


@pytest.fixture
def wg(lib: FakeLibrary) -> WGFMU:
    return WGFMU.from_library(lib)


def test_call_order_and_argument_types(wg: WGFMU, lib: FakeLibrary) -> None:
    wg.open_session("GPIB0::17::INSTR")
    wg.initialize()
    wg.set_operation_mode(501, OperationMode.FASTIV)
    wg.set_measure_mode(501, MeasureMode.CURRENT)
    wg.set_measure_current_range(501, MeasureCurrentRange.UA100)
    wg.create_pattern("p1", 0.0)
    wg.add_vector("p1", 100e-9, 1.5)
    wg.set_measure_event("p1", "ev", 50e-9, 3, 20e-9, 10e-9, MeasureEventData.AVERAGED)
    wg.add_sequence(501, "p1", 10)
    wg.connect(501)
    wg.execute()
    wg.wait_until_completed()
    assert lib.names() == [
        "WGFMU_openSession", "WGFMU_initialize", "WGFMU_setOperationMode",
        "WGFMU_setMeasureMode", "WGFMU_setMeasureCurrentRange", "WGFMU_createPattern",
        "WGFMU_addVector", "WGFMU_setMeasureEvent", "WGFMU_addSequence", "WGFMU_connect",
        "WGFMU_execute", "WGFMU_waitUntilCompleted",
    ]
    calls = dict(lib.calls)
    (addr,) = calls["WGFMU_openSession"]
    assert isinstance(addr, ctypes.c_char_p) and addr.value == b"GPIB0::17::INSTR"
    ch, mode = calls["WGFMU_setOperationMode"]
    assert isinstance(ch, ctypes.c_int) and ch.value == 501
    assert isinstance(mode, ctypes.c_int) and mode.value == 2001
    name, init = calls["WGFMU_createPattern"]
    assert name.value == b"p1" and isinstance(init, ctypes.c_double) and init.value == 0.0
    name, dt, v = calls["WGFMU_addVector"]
    assert isinstance(dt, ctypes.c_double) and dt.value == pytest.approx(100e-9)
    assert isinstance(v, ctypes.c_double) and v.value == 1.5
    ev = calls["WGFMU_setMeasureEvent"]
    assert [type(a) for a in ev] == [
        ctypes.c_char_p, ctypes.c_char_p, ctypes.c_double, ctypes.c_int, ctypes.c_double,
        ctypes.c_double, ctypes.c_int,
    ]
    assert ev[3].value == 3 and ev[6].value == 12000
    ch, name, count = calls["WGFMU_addSequence"]
    # the C API takes the loop count as a double
    assert isinstance(count, ctypes.c_double) and count.value == 10.0
    assert calls["WGFMU_execute"] == ()


def test_add_vectors_marshals_arrays_and_size(wg: WGFMU, lib: FakeLibrary) -> None:
    wg.create_pattern("p", 0.0)
    wg.add_vectors("p", [10e-9, 1e-6, 20e-9], [1.0, 1.0, 0.0])
    name, times, volts, size = lib.calls[-1][1]
    assert lib.calls[-1][0] == "WGFMU_addVectors"
    assert isinstance(times, ctypes.Array) and times._type_ is ctypes.c_double
    assert list(times) == pytest.approx([10e-9, 1e-6, 20e-9])
    assert list(volts) == [1.0, 1.0, 0.0]
    assert isinstance(size, ctypes.c_int) and size.value == 3


def test_negative_code_raises_with_error_summary(wg: WGFMU, lib: FakeLibrary) -> None:
    lib.codes["createPattern"] = ErrorCode.PATTERN_ALREADY_EXISTS
    lib.summary = b"WGFMU_createPattern: pattern 'p' already exists"
    with pytest.raises(WGFMUError) as info:
        wg.create_pattern("p", 0.0)
    err = info.value
    assert err.code == -12 and err.function == "WGFMU_createPattern"
    assert "already exists" in err.summary and "already exists" in str(err)
    assert lib.names() == [
        "WGFMU_createPattern", "WGFMU_getErrorSummarySize", "WGFMU_getErrorSummary",
    ]
    # a failed create leaves no local pattern behind: its limits are not tracked
    lib.codes.clear()
    wg.add_vector("p", 10e-9, 1.0)  # sent; the library decides


def test_unreadable_summary_still_raises(wg: WGFMU, lib: FakeLibrary) -> None:
    lib.codes["execute"] = -3
    lib.codes["getErrorSummarySize"] = -7
    with pytest.raises(WGFMUError, match="unavailable"):
        wg.execute()


def test_positive_codes_are_not_errors(wg: WGFMU, lib: FakeLibrary) -> None:
    lib.codes["connect"] = 1
    wg.connect(502)


def test_read_back_outputs(wg: WGFMU, lib: FakeLibrary) -> None:
    assert wg.get_measure_value_size(501) == (5, 5)
    t, v = wg.get_measure_values(501, block=2)
    assert t == pytest.approx(lib.data_t) and v == pytest.approx(lib.data_v)
    offsets = [a[1].value for n, a in lib.calls if n == "WGFMU_getMeasureValues"]
    assert offsets == [0, 2, 4]
    size_arg = next(a[2] for n, a in lib.calls if n == "WGFMU_getMeasureValues")
    assert isinstance(size_arg.contents, ctypes.c_int)
    t, v = wg.get_measure_values(501, offset=3, size=2)
    assert t == pytest.approx(lib.data_t[3:]) and v == pytest.approx(lib.data_v[3:])
    assert wg.get_status() == (Status.COMPLETED, 2.5e-6, 2.5e-6)
    assert wg.get_channel_ids() == [501, 502]


def test_measure_values_error_code(wg: WGFMU, lib: FakeLibrary) -> None:
    lib.codes["getMeasureValues"] = ErrorCode.RESULT_NOT_READY
    lib.summary = b"not ready"
    with pytest.raises(WGFMUError, match="not ready"):
        wg.get_measure_values(501, 0, 3)


@pytest.mark.parametrize(
    "action",
    [
        lambda w: w.add_vector("p", 15e-9, 1.0),  # off the 10 ns grid
        lambda w: w.add_vector("p", 0.0, 1.0),  # below 10 ns
        lambda w: w.add_vector("p", 1e-6, 10.5),  # outside the output range
        lambda w: w.add_vectors("p", [1e-6], [1.0, 2.0]),
        lambda w: w.create_pattern("bad name", 0.0),
        lambda w: w.set_measure_event("p", "e", 5e-9, 1, 10e-9),
        lambda w: w.set_measure_event("p", "e", 0.0, 0, 10e-9),
        lambda w: w.set_measure_event("p", "e", 0.0, 2, 10e-9, 20e-9),  # average > interval
        lambda w: w.add_sequence(501, "p", 0),
        lambda w: w.add_sequence(101, "p", 1),  # channel not wired
        lambda w: w.open_session("GPIB0 17"),
    ],
)
def test_invalid_arguments_are_refused_before_sending(wg, lib, action) -> None:
    with pytest.raises(ValueError):
        action(wg)
    assert lib.calls == []


def test_limits_checked_per_terminal_before_sending(lib: FakeLibrary) -> None:
    limits = SafetyLimits(max_voltage={"BL": 2.0, "SL": 3.0, "WL": 3.0, "SUB": 1.0})
    wg = WGFMU.from_library(lib, limits=limits)
    wg.create_pattern("p", 0.0)
    wg.add_vector("p", 1e-6, 2.5)  # allowed somewhere (SL), not yet bound to a channel
    with pytest.raises(LimitError):
        wg.add_vector("p", 1e-6, 3.5)  # over every terminal's limit
    before = list(lib.calls)
    with pytest.raises(LimitError, match="BL"):
        wg.add_sequence(501, "p", 1)  # 2.5 V on BL
    assert lib.calls == before
    wg.add_sequence(502, "p", 1)  # fine on SL
    before = list(lib.calls)
    with pytest.raises(LimitError):
        wg.add_vector("p", 1e-6, -3.1)  # now checked against SL
    with pytest.raises(LimitError):
        wg.create_pattern("q", 3.2)
    assert lib.calls == before


def test_channel_terminal_map_is_configurable(lib: FakeLibrary) -> None:
    wg = WGFMU.from_library(lib, channel_terminals={101: "BL", 102: "SL"})
    wg.create_pattern("p", 0.0)
    wg.add_vector("p", 10e-9, 1.0)
    wg.add_sequence(101, "p")
    with pytest.raises(ValueError):
        wg.add_sequence(501, "p")
    with pytest.raises(ValueError):
        WGFMU.from_library(lib, channel_terminals={101: "XX"})


def _set_then_read(amplitude: float = 1.5):
    tr, events = bl_sl(), []
    pulse(tr, "BL", amplitude, 1e-6)
    read(tr, events)
    return tr.program(events, EDGE_TICKS)


def test_program_call_sequence_and_cleanup(lib: FakeLibrary) -> None:
    wg = WGFMU.from_library(lib)
    lib.data_t = np.array([3.0e-6])
    lib.data_v = np.array([1e-6])
    program = _set_then_read()
    t, v, i = run_program(wg, program)
    names = lib.names()
    assert names[:5] == [
        "WGFMU_clear", "WGFMU_createPattern", "WGFMU_addVectors", "WGFMU_createPattern",
        "WGFMU_addVectors",
    ]
    assert names.index("WGFMU_setMeasureEvent") < names.index("WGFMU_addSequence")
    assert names.index("WGFMU_connect") < names.index("WGFMU_execute")
    back_to_smu = ["WGFMU_setOperationMode", "WGFMU_setOperationMode", "WGFMU_update"]
    assert names[-5:] == ["WGFMU_disconnect", "WGFMU_disconnect", *back_to_smu]
    assert [c[1][1].value for c in lib.calls[-3:-1]] == [2003, 2003]
    assert i == pytest.approx([1e-6])
    tb, vb = program.waveform("BL")
    assert v == pytest.approx(np.interp(t, tb, vb))

    # execute fails: both channels are still disconnected, the error surfaces
    lib.calls.clear()
    lib.codes["execute"] = -3
    with pytest.raises(WGFMUError):
        run_program(wg, program)
    assert lib.names()[-5:] == ["WGFMU_disconnect", "WGFMU_disconnect", *back_to_smu]


def test_program_over_limit_sends_nothing(lib: FakeLibrary) -> None:
    limits = SafetyLimits(max_voltage={"BL": 2.0, "SL": 3.0, "WL": 3.0, "SUB": 1.0})
    wg = WGFMU.from_library(lib, limits=limits)
    with pytest.raises(LimitError):
        run_program(wg, _set_then_read(2.5))
    assert lib.calls == []


@pytest.mark.skipif(sys.platform == "win32", reason="checks the non-Windows refusal")
def test_loading_the_vendor_library_off_windows_fails_clearly() -> None:
    with pytest.raises(OSError, match="Windows"):
        CtypesBackend.load()


def test_two_threads_never_call_the_vendor_library_at_once(lib: FakeLibrary) -> None:
    """The GUI's status tick and a run's thread may both reach the WGFMU: the second thread's
    call waits for the backend's lock until the first call has returned (no overlap)."""
    import threading

    from tests.instruments._exchange import WAIT_S, _ObservedLock

    backend = CtypesBackend(lib)
    contended = threading.Event()
    backend._lock = _ObservedLock(contended)
    first_in, inside, overlaps, errors = threading.Event(), [], [], []

    def slow_status(status_p, elapsed_p, total_p) -> None:
        if inside:
            overlaps.append(threading.current_thread().name)
        inside.append(1)
        try:
            if threading.current_thread().name == "first":
                first_in.set()
                # the second call must be waiting for the lock, not inside the library
                if not contended.wait(WAIT_S):
                    errors.append("the second call never waited for the lock")
        finally:
            inside.pop()

    lib._getStatus = slow_status

    def run() -> None:
        backend.status()

    first = threading.Thread(target=run, name="first")
    first.start()
    assert first_in.wait(WAIT_S)
    second = threading.Thread(target=run, name="second")
    second.start()
    first.join(WAIT_S + 5)
    second.join(WAIT_S + 5)
    assert not errors and not overlaps
    assert lib.names().count("WGFMU_getStatus") == 2
