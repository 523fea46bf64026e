"""Protocol tests of the B1500A driver: exact FLEX traffic, parsing, and limits sending nothing."""

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from instruments.keysight.b1500 import (
    B1500,
    B1500Error,
    OutputState,
    Reading,
    parse_fmt1,
    parse_fmt1_value,
)
from instruments.limits import LimitError, SafetyLimits

OK = ("ERRX?", '+0,"No Error."')
UNT = "B1517A,0;B1517A,0;B1517A,0;B1517A,0;B1530A,0;0,0;0,0;0,0;0,0;0,0"
LIMITS = SafetyLimits(
    max_voltage={"BL": 5.0, "SL": 5.0, "WL": 5.0, "SUB": 1.0},
    max_compliance=10e-3,
    max_power=0.02,
)


def proto(pairs):
    return expected_protocol(B1500, pairs, limits=LIMITS)


# -- FMT 1 parsing ------------------------------------------------------------------------------
def test_parse_fmt1_values_status_channels_and_kinds():
    readings = parse_fmt1("NAI+000.123E-06,CBI-100.000E-06,TcV+001.500E+00,VAI+199.999E+99\r\n")
    assert readings[0] == Reading(1.23e-7, "N", 1, "I")
    assert readings[1].value == pytest.approx(-1e-4) and readings[1].compliance
    assert readings[1].channel == 2 and not readings[1].other_compliance
    assert readings[2].channel == 302 and readings[2].kind == "V" and readings[2].other_compliance
    assert readings[3].overflow and not readings[0].overflow
    assert parse_fmt1("") == []
    assert parse_fmt1_value(" NZT+000.010E+00").channel == "Z"


@pytest.mark.parametrize("bad", ["NA", "NAIabc"])
def test_parse_fmt1_rejects_garbage(bad):
    with pytest.raises(ValueError):
        parse_fmt1_value(bad)


# -- errors -------------------------------------------------------------------------------------
def test_check_errors_raises_with_code_and_any_message():
    with proto([("ERRX?", '+120,"Parameter out of range (DV, ch 1)."'), OK]) as b:
        with pytest.raises(B1500Error) as info:
            b.check_errors()
        assert info.value.code == 120 and "out of range" in info.value.message
        assert isinstance(info.value, OSError)  # compatible with pymeasure's OSError
        b.check_errors()


# -- outputs ------------------------------------------------------------------------------------
def test_enable_disable_and_all_off():
    with proto([("CN 1,2", None), OK, ("CL 2", None), OK, ("CN", None), OK,
                ("DZ", None), ("CL", None), ("*OPC?", "1")]) as b:
        b.enable(1, 2)
        b.disable(2)
        b.enable()
        b.all_off()
    with proto([("DZ", None), ("CL", None), ("*OPC?", "1")]) as b:
        b.safe_state()


def test_force_voltage_and_current():
    with proto([("DV 1,0,0.5,0.0001", None), OK, ("DI 2,0,-1E-05,2.5", None), OK,
                ("DV 3,11,1.25,1E-06", None), OK]) as b:
        b.force_voltage(1, 0.5, 1e-4)
        b.force_current(2, -1e-5, 2.5)
        b.force_voltage(3, 1.25, 1e-6, v_range=11)


@pytest.mark.parametrize(
    "channel, volts, compliance",
    [
        (1, 5.5, 1e-4),  # over the BL limit
        (2, -6.0, 1e-4),  # over the SL limit (negative)
        (4, 2.0, 1e-4),  # SUB allows only 1 V
        (1, 1.0, 20e-3),  # compliance over max_compliance
        (1, 5.0, 5e-3),  # 25 mW > max_power
        (7, 0.1, 1e-4),  # channel not wired on the bench
        (1, float("nan"), 1e-4),  # not a number
    ],
)
def test_force_voltage_over_limits_sends_nothing(channel, volts, compliance):
    with proto([]) as b:
        with pytest.raises(LimitError):
            b.force_voltage(channel, volts, compliance)


def test_force_current_over_limits_sends_nothing():
    with proto([]) as b:
        with pytest.raises(LimitError):
            b.force_current(1, 50e-3, 1.0)  # current over max compliance
        with pytest.raises(LimitError):
            b.force_current(4, 1e-6, 3.0)  # voltage compliance over the SUB limit
        with pytest.raises(LimitError):
            b.force_current(1, 5e-3, 5.0)  # power


# -- measurements -------------------------------------------------------------------------------
def test_spot_current_and_voltage():
    with proto([
        ("FMT 1,0;CMM 1,1;MM 1,1", None), OK, ("XE", "NAI+000.123E-06"),
        ("FMT 1,0;CMM 3,2;MM 1,3", None), OK, ("XE", "CCV+002.000E+00"),
    ]) as b:
        r = b.spot_current(1)
        assert r == Reading(pytest.approx(1.23e-7), "N", 1, "I")
        v = b.spot_voltage(3)
        assert v.value == 2.0 and v.compliance and v.kind == "V"


def test_spot_measure_several_channels_drops_timestamps():
    with proto([
        ("FMT 1,0;CMM 1,1;CMM 2,1;MM 1,1,2", None), OK,
        ("XE", "NAT+001.000E-03,CAI+100.000E-06,TBI-100.000E-06"),
    ]) as b:
        a, c = b.spot_measure([1, 2])
        assert a.compliance and c.other_compliance and c.value == pytest.approx(-1e-4)


def test_spot_measure_reports_instrument_error_on_bad_setup():
    with proto([("FMT 1,0;CMM 9,1;MM 1,9", None), ("ERRX?", '+150,"Channel not installed."')]) as b:
        with pytest.raises(B1500Error, match="150"):
            b.spot_current(9)


def test_high_speed_spot():
    with proto([("TI 1", "CAI+100.000E-06"), ("TI 2,11", "NBI-000.005E-09"),
                ("TV 3", "NCV+001.000E+00")]) as b:
        r = b.high_speed_spot_current(1)
        assert r.compliance and r.value == pytest.approx(1e-4)
        assert b.high_speed_spot_current(2, i_range=11).value == pytest.approx(-5e-12)
        assert b.high_speed_spot_voltage(3).value == 1.0


def _sweep_reply(currents_ua):
    parts = []
    for i in currents_ua:
        parts.append(f"NAI+{i:07.3f}E-06")
        parts.append(f"NBI-{i:07.3f}E-06")
    return ",".join(parts)


def test_staircase_sweep_full():
    setup = "FMT 1,0;WT 0.01,0.001;WM 2,1;WV 1,1,0,0,1,5,0.0001;CMM 1,1;CMM 2,1;MM 2,1,2"
    reply = _sweep_reply([0.0, 10.0, 20.0, 30.0, 40.0])
    with proto([(setup, None), OK, ("XE", reply)]) as b:
        res = b.staircase_sweep(1, 0.0, 1.0, 5, 1e-4, hold=0.01, delay=0.001, measure=[1, 2])
    np.testing.assert_allclose(res.voltage, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(res.current, [0, 10e-6, 20e-6, 30e-6, 40e-6])
    np.testing.assert_allclose(res.currents[2], -res.current)
    assert not res.compliance.any() and not res.aborted and len(res.readings) == 5


def test_staircase_sweep_aborted_on_compliance_and_double():
    """The real shape: data for all 6 programmed steps, the 3 after the abort dummy (status V)."""
    setup = "FMT 1,0;WT 0,0;WM 2,2;WV 2,3,0,0,-1,3,0.001;CMM 2,1;MM 2,2"
    reply = "NBI+000.000E+00,NBI-050.000E-06,CBI-001.000E-03," + ",".join(["VBI+199.999E+99"] * 3)
    with proto([(setup, None), OK, ("XE", reply)]) as b:
        res = b.staircase_sweep(2, 0.0, -1.0, 3, 1e-3, double=True, post_stop=True)
    np.testing.assert_allclose(res.voltage, [0.0, -0.5, -1.0])
    assert list(res.compliance) == [False, False, True] and res.aborted
    assert np.all(np.abs(res.current) <= 1e-3)  # never 2e101 A


def test_staircase_sweep_overflow_without_abort_is_no_data_not_an_abort():
    setup = "FMT 1,0;WT 0,0;WM 1,1;WV 1,1,0,0,1,3,0.0001;CMM 1,1;MM 2,1"
    reply = "NAI+000.000E+00,VAI+199.999E+99,NAI+000.010E-06"
    with proto([(setup, None), OK, ("XE", reply)]) as b:
        res = b.staircase_sweep(1, 0.0, 1.0, 3, 1e-4, abort=False)
    assert not res.aborted and len(res.current) == 3
    assert np.isnan(res.current[1]) and res.readings[1][0].overflow
    assert res.current[2] == pytest.approx(1e-8)


def test_staircase_sweep_aborted_at_its_first_step():
    setup = "FMT 1,0;WT 0,0;WM 2,1;WV 1,1,0,1,2,3,0.0001;CMM 1,1;MM 2,1"
    reply = "CAI+100.000E-06,VAI+199.999E+99,VAI+199.999E+99"
    with proto([(setup, None), OK, ("XE", reply)]) as b:
        res = b.staircase_sweep(1, 1.0, 2.0, 3, 1e-4)
    assert res.aborted and list(res.voltage) == [1.0] and list(res.compliance) == [True]


def test_staircase_sweep_without_abort_and_other_measured_channel():
    setup = "FMT 1,0;WT 0,0;WM 1,1;WV 3,1,0,0,2,2,1E-06;CMM 1,1;MM 2,1"
    with proto([(setup, None), OK, ("XE", "NAI+000.000E+00,NAI+001.000E-06")]) as b:
        res = b.staircase_sweep(3, 0.0, 2.0, 2, 1e-6, measure=[1], abort=False)
    assert np.isnan(res.current).all() and res.currents[1][1] == pytest.approx(1e-6)


@pytest.mark.parametrize("start, stop, comp", [(0, 6.0, 1e-4), (-5.5, 0, 1e-4), (0, 4, 11e-3)])
def test_staircase_sweep_over_limits_sends_nothing(start, stop, comp):
    with proto([]) as b, pytest.raises(LimitError):
        b.staircase_sweep(1, start, stop, 11, comp)


def test_pulsed_spot():
    setup = "FMT 1,0;PT 0,0.001,0.01;PV 1,0,0,2.5,0.001;CMM 1,1;MM 3,1"
    with proto([(setup, None), OK, ("XE", "CAI+001.000E-03")]) as b:
        r = b.pulsed_spot(1, 0.0, 2.5, 1e-3, 10e-3, 1e-3)
    assert r.compliance and r.value == pytest.approx(1e-3)


@pytest.mark.parametrize("base, pulse, comp", [(0, 5.1, 1e-4), (-6, 0, 1e-4), (0, 3, 9e-3)])
def test_pulsed_spot_over_limits_sends_nothing(base, pulse, comp):
    with proto([]) as b, pytest.raises(LimitError):
        b.pulsed_spot(2, base, pulse, 1e-3, 10e-3, comp)


# -- ramp -----------------------------------------------------------------------------------------
def test_output_state_reads_back_lrn():
    with proto([("*LRN? 1", "DV1,0,+5.0000E-01,+1.0000E-04,0,0"), ("*LRN? 2", "CL2"),
                ("*LRN? 3", "DI3,0,-1.0000E-06,+2.0000E+00,0,0")]) as b:
        assert b.output_state(1) == OutputState("V", 0.5, 1e-4)
        assert b.output_state(2) is None
        assert b.output_state(3) == OutputState("I", -1e-6, 2.0)


def test_ramp_voltage_starts_from_the_present_output():
    with proto([
        ("*LRN? 1", "DV1,0,+5.0000E-01,+1.0000E-04,0,0"),
        ("DV 1,0,0.75,0.0001", None), OK, ("DV 1,0,1,0.0001", None), OK,
    ]) as b:
        b.ramp_voltage(1, 1.0, step=0.25, pause=0)


def test_ramp_voltage_down_and_from_off_and_from_current_source():
    with proto([
        ("*LRN? 2", "DV2,0,+1.0000E+00,+1.0000E-04,0,0"),
        ("DV 2,0,0.5,0.0002", None), OK, ("DV 2,0,0,0.0002", None), OK,
        ("*LRN? 1", "CL1"), ("CN 1", None), OK, ("DV 1,0,0.3,0.001", None), OK,
        ("*LRN? 3", "DI3,0,+1.0000E-06,+2.0000E+00,0,0"), ("TV 3", "NCV+001.000E+00"),
        ("DV 3,0,1.2,1E-06", None), OK,
    ]) as b:
        b.ramp_voltage(2, 0.0, step=0.5, pause=0, compliance=2e-4)
        b.ramp_voltage(1, 0.3, step=0.5, pause=0, compliance=1e-3)
        b.ramp_voltage(3, 1.2, step=0.5, pause=0, compliance=1e-6)


def test_ramp_voltage_over_limits_sends_nothing():
    with proto([]) as b, pytest.raises(LimitError):
        b.ramp_voltage(1, 7.0, compliance=1e-4)
    # without a compliance the present one is read back first (a query), then refused
    with proto([("*LRN? 1", "DV1,0,+5.0000E-01,+1.0000E-04,0,0")]) as b:
        with pytest.raises(LimitError):
            b.ramp_voltage(1, 7.0)
    with proto([("*LRN? 1", "CL1")]) as b, pytest.raises(ValueError, match="compliance"):
        b.ramp_voltage(1, 1.0)


# -- pymeasure SMU channel methods, safety-checked -------------------------------------------------
def test_smu_channels_are_safety_checked_and_ramp_source_is_fixed():
    with proto([
        ("UNT?", UNT),
        ("DV 1, 0, 0.5, 0.0001", None), OK,
        # stock ramp_source in voltage mode: must start from the present 0.5 V, not from 0 V
        ("*LRN? 1", "DV1,0,+5.0000E-01,+1.0000E-04,0,0"),
        ("DV 1,0,0.6,0.0001", None), OK, ("DV 1,0,0.7,0.0001", None), OK,
    ]) as b:
        b.initialize_all_smus()
        assert [s.id for s in b.smu_references] == [1, 2, 3, 4]
        b.initialize_all_smus()  # no second UNT?
        b.smu1.force("Voltage", 0, 0.5, 1e-4)
        b.smu1.ramp_source("Voltage", 0, 0.7, comp=1e-4, stepsize=0.1, pause=0)
        with pytest.raises(LimitError):
            b.smu1.force("Voltage", 0, 6.0, 1e-4)
        with pytest.raises(LimitError):
            b.smu1.force("Voltage", 0, 1.0)  # compliance must be explicit
        with pytest.raises(LimitError):
            b.smu4.force("Current", 0, 1e-6, 2.0)  # SUB voltage compliance over 1 V
        with pytest.raises(LimitError):
            b.smu2.staircase_sweep_source("Voltage", "LINEAR_SINGLE", 0, 0, 5.5, 11, 1e-4)
        with pytest.raises(LimitError):
            b.smu3.sampling_source("Voltage", 0, 0, 6, 1e-4)


def test_initialize_selects_fmt1():
    with proto([("*RST", None), ("UNT?", UNT), ("FMT 1, 0", None), OK]) as b:
        b.initialize(reset=True)
        assert b.smu_names == {1: "SMU1", 2: "SMU2", 3: "SMU3", 4: "SMU4"}


# -- pymeasure data readers (fixed) ----------------------------------------------------------------
def test_read_data_works_with_pandas_3():
    reply = "NAI+000.001E-06,NBI-000.001E-06,NAI+000.002E-06,NBI-000.002E-06"
    with proto([("UNT?", UNT), ("FMT 1, 0", None), OK, (None, reply)]) as b:
        b.initialize()
        df = b.read_data(2)
    assert list(df.columns) == ["SMU1 Current (A)", "SMU2 Current (A)"]
    np.testing.assert_allclose(df["SMU1 Current (A)"], [1e-9, 2e-9])
    np.testing.assert_allclose(df["SMU2 Current (A)"], [-1e-9, -2e-9])


def test_read_data_rejects_a_wrong_point_count():
    with proto([("UNT?", UNT), ("FMT 1, 0", None), OK, (None, "NAI+000.001E-06")]) as b:
        b.initialize()
        with pytest.raises(ValueError):
            b.read_data(2)


def test_read_channels_consumes_the_whole_terminator():
    # the raw bytes include the "\r\n" terminator: 2 x 16 bytes + "\n"
    reply = "NAI+000.001E-06,NBI-000.002E-06\r\n"
    with proto([("UNT?", UNT), ("FMT 1, 0", None), OK, (None, reply)]) as b:
        b.initialize()
        (a, c) = b.read_channels(2)
    assert a == ("N", "SMU1", "Current (A)", 1e-9)
    assert c[3] == pytest.approx(-2e-9)
