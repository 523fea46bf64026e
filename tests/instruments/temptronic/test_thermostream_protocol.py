"""Wire-level tests of the ThermoStream driver (pymeasure expected_protocol, no server): set
points checked against the bench limits and the instrument's range before anything is sent,
read back, the air started only when off; the bench set-up sequence; invalid readings."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from instruments.bench_types import Heater
from instruments.limits import LimitError, SafetyLimits
from instruments.temptronic.thermostream import ThermoStream, ThermoStreamError

LIMITS = SafetyLimits(max_chuck_temperature=150.0, min_chuck_temperature=-40.0)
FLOWING = "112"  # AUXC?: ready, flow on, DUT mode
STILL = "80"  # AUXC?: ready, DUT mode, flow off


def _ts(pairs):
    return expected_protocol(ThermoStream, pairs, limits=LIMITS)


def test_it_is_a_heater_of_kind_thermostream():
    with _ts([]) as ts:
        assert isinstance(ts, Heater) and ts.kind == "thermostream"


def test_set_point_is_sent_read_back_and_starts_the_air_when_off():
    with _ts([("SETP 85.0", None), ("SETP?", "85.0"), ("AUXC?", STILL), ("FLOW 1", None),
              ("AUXC?", FLOWING)]) as ts:
        ts.set_point(85)
    with _ts([("SETP -12.5", None), ("SETP?", "-12.5"), ("AUXC?", FLOWING)]) as ts:
        ts.set_point(-12.5)  # the air already flows: no FLOW command


@pytest.mark.parametrize("celsius, error, text", [
    (151.0, LimitError, "outside the bench's"),
    (-40.5, LimitError, "outside the bench's"),
    (float("nan"), LimitError, "outside the bench's"),
])
def test_a_set_point_beyond_the_limits_sends_nothing(celsius, error, text):
    with _ts([]) as ts, pytest.raises(error, match=text):  # no command at all on the wire
        ts.set_point(celsius)


def test_a_set_point_beyond_the_instruments_range_sends_nothing():
    wide = SafetyLimits(max_chuck_temperature=300.0, min_chuck_temperature=-60.0)
    with expected_protocol(ThermoStream, [], limits=wide) as ts, \
            pytest.raises(ValueError, match="ThermoStream's range -99.9..225"):
        ts.set_point(250.0)


def test_a_set_point_not_taken_is_an_error_naming_the_register():
    with _ts([("SETP 120.0", None), ("SETP?", "25.0"), ("EROR?", "4")]) as ts, \
            pytest.raises(ThermoStreamError, match="not taken.*25 C.*register 4"):
        ts.set_point(120)


def test_an_air_flow_that_does_not_start_is_an_error():
    with _ts([("SETP 30.0", None), ("SETP?", "30.0"), ("AUXC?", STILL), ("FLOW 1", None),
              ("AUXC?", STILL), ("EROR?", "16")]) as ts, \
            pytest.raises(ThermoStreamError, match="air flow does not start.*16"):
        ts.set_point(30)


def test_a_safe_temperature_outside_the_limits_is_refused_at_once():
    with pytest.raises(LimitError, match="heater safe_temperature = 200"):
        with expected_protocol(ThermoStream, [], limits=LIMITS, safe_temperature_c=200.0):
            pass


def test_start_sets_remote_limits_dut_control_window_soak_and_lowers_the_head():
    with expected_protocol(ThermoStream, [
        ("%RM", None), ("LLIM -40.0", None), ("ULIM 150.0", None), ("DSNS 1", None),
        ("DUTM 1", None), ("DUTC 100.0", None), ("WNDW 0.5", None), ("SOAK 20.0", None),
        ("HEAD 1", None), ("SETP?", "25.0"),
    ], limits=LIMITS, window_c=0.5, soak_s=20.0) as ts:
        ts.start()


def test_start_replaces_a_set_point_left_beyond_the_limits_by_the_safe_one():
    narrow = SafetyLimits(max_chuck_temperature=100.0, min_chuck_temperature=30.0)
    with expected_protocol(ThermoStream, [
        ("%RM", None), ("LLIM 25.0", None), ("ULIM 100.0", None), ("DSNS 1", None),
        ("DUTM 1", None), ("DUTC 100.0", None), ("WNDW 1.0", None), ("SOAK 30.0", None),
        ("HEAD 1", None), ("SETP?", "180.0"),
        ("SETP 40.0", None), ("SETP?", "40.0"), ("AUXC?", FLOWING),
    ], limits=narrow, safe_temperature_c=40.0) as ts:
        ts.start()  # LLIM cannot go above 25 C (its range): the bench limit still holds


def test_temperature_and_an_invalid_reading():
    with _ts([("TEMP?", "84.9"), ("TEMP?", "999.9")]) as ts:
        assert ts.temperature() == pytest.approx(84.9)
        with pytest.raises(ThermoStreamError, match="no valid temperature"):
            ts.temperature()


def test_set_temperature_polls_the_condition_register_on_the_bench_clock():
    waited: list[float] = []
    clock = iter([0.0, 2.0, 4.0])
    with expected_protocol(ThermoStream, [
        ("SETP 60.0", None), ("SETP?", "60.0"), ("AUXC?", FLOWING),
        ("TECR?", "2"), ("TECR?", "2"), ("TECR?", "1"), ("TEMP?", "59.8"),
    ], limits=LIMITS, wait=lambda s: waited.append(s) or True,
            clock=lambda: next(clock)) as ts:
        assert ts.set_temperature(60.0, timeout_s=100.0) == pytest.approx(59.8)
    assert waited == [2.0, 2.0]


def test_set_temperature_times_out_on_the_bench_clock():
    clock = iter([0.0, 50.0, 101.0])
    with expected_protocol(ThermoStream, [
        ("SETP 60.0", None), ("SETP?", "60.0"), ("AUXC?", FLOWING),
        ("TECR?", "2"), ("TECR?", "2"), ("TEMP?", "41.0"),
    ], limits=LIMITS, wait=lambda s: True, clock=lambda: next(clock)) as ts, \
            pytest.raises(TimeoutError, match="not at 60 C after 100 s.*41 C"):
        ts.set_temperature(60.0, timeout_s=100.0)


def test_status_is_one_message_with_the_state_word():
    q = "TEMP?;AUXC?;TECR?"
    with _ts([(q, "25.0;84;2"), (q, f"25.0;{STILL};2"), (q, f"85.1;{FLOWING};1"),
              (q, f"60.2;{FLOWING};2"), (q, f"999.9;{FLOWING};2")]) as ts:
        assert [ts.status() for _ in range(3)] == [(25.0, "head up"), (25.0, "flow off"),
                                                   (85.1, "ready")]
        assert ts.state() == "settling"
        with pytest.raises(ThermoStreamError, match="no valid temperature"):
            ts.status()
