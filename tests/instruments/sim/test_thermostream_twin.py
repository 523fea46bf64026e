"""The twin's ThermoStream: its first-order thermal model on the lab clock, the manual's syntax
(``;``-joined messages and replies, refusals in the error registers) read over a plain socket,
a stock client (pymeasure's Temptronic ATS driver, written by others) driving it, and the
chips' physics following the DUT temperature."""

from __future__ import annotations

import math

import pytest
from pymeasure.instruments.temptronic import ATS525

from instruments.sim.lab import LabConfig, SimLab
from instruments.sim.thermostream import ThermalHeadParams, ThermoStreamModel
from instruments.temptronic import thermostream_commands as tc


@pytest.fixture
def lab():
    with SimLab(LabConfig(seed=2, sockets=2, thermostream=ThermalHeadParams())) as served:
        yield served


def _client(lab):
    import pyvisa

    rm = pyvisa.ResourceManager("@py")
    return rm.open_resource(lab.resources()["heater"], read_termination="\n",
                            write_termination="\n", timeout=10_000)


def _blowing(model: ThermoStreamModel, dut_mode: bool) -> None:
    for name, value in (("HEAD", 1), ("DSNS", 1), ("DUTM", int(dut_mode))):
        assert model.set_value(name, value)
    model.set_flow(True)


def test_in_air_mode_the_dut_follows_the_air_with_its_time_constant():
    p = ThermalHeadParams()
    m = ThermoStreamModel(p)
    _blowing(m, dut_mode=False)
    assert m.set_value("SETP", 85.0)
    slew_s = 60.0 / p.air_slew_c_per_s  # the air reaches 85 C after this
    m.advance_to(slew_s)
    assert m.air_c == pytest.approx(85.0)
    # from then on a first-order lag: 1 - 1/e of what is left after one time constant
    left = 85.0 - m.dut_c
    m.advance_to(slew_s + p.dut_tau_s)
    assert 85.0 - m.dut_c == pytest.approx(left / math.e, rel=0.02)
    m.advance_to(slew_s + 20 * p.dut_tau_s)
    assert m.dut_c == pytest.approx(85.0, abs=1e-3)


def test_dut_mode_overdrives_the_air_within_admd_and_settles_faster():
    p = ThermalHeadParams()
    air, dut = ThermoStreamModel(p), ThermoStreamModel(p)
    _blowing(air, dut_mode=False)
    _blowing(dut, dut_mode=True)
    assert dut.set_value("ADMD", 30.0)
    for m in (air, dut):
        assert m.set_value("SETP", 100.0)
    peak = 0.0
    for k in range(1, 121):
        dut.advance_to(float(k))
        peak = max(peak, dut.air_c)
    air.advance_to(120.0)
    assert peak == pytest.approx(130.0)  # set point + ADMD, never more
    assert abs(100.0 - dut.dut_c) < abs(100.0 - air.dut_c)
    dut.advance_to(2000.0)
    assert dut.dut_c == pytest.approx(100.0, abs=1e-3) and dut.air_c == pytest.approx(100.0)


def test_without_air_the_board_drifts_back_to_ambient():
    p = ThermalHeadParams()
    m = ThermoStreamModel(p)
    _blowing(m, dut_mode=True)
    m.set_value("SETP", 120.0)
    m.advance_to(600.0)
    assert m.dut_c == pytest.approx(120.0, abs=0.1)
    m.set_flow(False)
    m.advance_to(600.0 + p.idle_tau_s)
    assert 25.0 < m.dut_c < 25.0 + 95.0 / math.e * 1.1
    assert m.condition() == tc.TemperatureCondition.NOT_AT_TEMPERATURE


def test_at_temperature_needs_the_soak_inside_the_window():
    m = ThermoStreamModel()
    _blowing(m, dut_mode=True)
    m.set_value("WNDW", 1.0)
    m.set_value("SOAK", 30.0)
    m.set_value("SETP", 60.0)
    t = 0.0
    while abs(m.dut_c - 60.0) > 1.0:
        t += 0.25
        m.advance_to(t)
    assert m.condition() == tc.TemperatureCondition.NOT_AT_TEMPERATURE
    m.advance_to(t + 29.0)
    assert m.condition() == tc.TemperatureCondition.NOT_AT_TEMPERATURE
    m.advance_to(t + 31.0)
    assert m.condition() == tc.TemperatureCondition.AT_TEMPERATURE
    m.set_value("SETP", 61.0)  # a new set point: soak again
    assert m.condition() == tc.TemperatureCondition.NOT_AT_TEMPERATURE


def test_a_set_point_ramp_moves_the_dynamic_set_point():
    m = ThermoStreamModel()
    _blowing(m, dut_mode=False)
    m.set_value("RAMP", 30.0)  # C/min
    m.set_value("SETP", 85.0)
    m.advance_to(60.0)
    assert m.dynamic_sp == pytest.approx(55.0)
    m.advance_to(200.0)
    assert m.dynamic_sp == 85.0


def test_the_wire_syntax_replies_and_refusals(lab):
    inst = _client(lab)
    try:
        assert inst.query("*IDN?").startswith("TEMPTRONIC,TP04300A")
        inst.write("ULIM 100;LLIM -20;SETP 50;WNDW 2;SOAK 5")
        assert inst.query("SETP?;ULIM?;LLIM?;WNDW?;SOAK?") == "50.0;100.0;-20.0;2.0;5.0"
        assert inst.query("EROR?;*ESR?") == "0;0"
        inst.write("SETP 120")  # beyond ULIM: not taken, flagged
        assert inst.query("SETP?;EROR?") == f"50.0;{int(tc.DeviceError.SETPOINT_OUT_OF_RANGE)}"
        inst.write("CLER;WNDW 12;BOGUS 1")  # out of WNDW's range, an unknown command
        assert inst.query("EROR?;WNDW?;*ESR?") == f"0;2.0;{tc.ESR_COMMAND_ERROR}"
        assert inst.query("*ESR?") == "0"  # reading clears it
        assert inst.query("AUXC?") == str(int(tc.AuxCondition.READY
                                              | tc.AuxCondition.OPERATOR_SCREEN))
        inst.write("HEAD 0")
        up = tc.AuxCondition.READY | tc.AuxCondition.HEAD_UP | tc.AuxCondition.OPERATOR_SCREEN
        assert inst.query("HEAD?;AUXC?") == f"0;{int(up)}"
        assert inst.query("TMPD?") == "999.9"  # no DUT sensor selected: no valid reading
    finally:
        inst.close()


def test_every_command_string_costs_the_manuals_processing_time(lab):
    inst = _client(lab)
    try:
        t0 = lab.now()
        for _ in range(5):
            inst.query("TEMP?")
        assert lab.now() - t0 == pytest.approx(5 * tc.COMMAND_PROCESSING_S)
    finally:
        inst.close()


@pytest.mark.filterwarnings("ignore:It is not known whether this device support SCPI")
def test_a_stock_pymeasure_client_drives_the_twin_to_temperature(lab):
    ts = ATS525(lab.resources()["heater"], visa_library="@py", read_termination="\n",
                write_termination="\n")
    try:
        assert ts.mode == "manual"
        ts.configure(temp_window=1, dut_type="T", soak_time=10, temp_limit_air_low=-40,
                     temp_limit_air_high=150, temp_limit_air_dut=40)
        ts.start()
        ts.set_temperature(85)
        assert ts.set_point_number == 0  # pymeasure picks the "hot" operator set point
        assert ts.temperature_setpoint == 85.0 and ts.dut_mode == "ON"
        lab.advance(600.0)
        assert ts.at_temperature() and ts.temperature == pytest.approx(85.0, abs=0.1)
        assert ts.error_code == 0
        ts.shutdown()  # flow off, local
        assert not int(ts.auxiliary_condition_code) & tc.AuxCondition.FLOW_ON  # read back
        lab.advance(1800.0)
        assert not ts.at_temperature() and ts.temperature < 40.0
    finally:
        ts.adapter.close()


def test_the_chips_see_the_dut_temperature(lab):
    m = lab.thermostream
    assert lab.device_temperature_k() == pytest.approx(298.15)
    with lab.lock:
        _blowing(m, dut_mode=True)
        m.set_value("SETP", 125.0)
    lab.advance(900.0)
    assert lab.device_temperature_k() == pytest.approx(398.15, abs=0.01)
    assert lab.prober.temperature_k() == pytest.approx(298.15)  # no chuck heats a board


def test_every_setting_of_the_vocabulary_round_trips_and_the_rest_is_refused(lab):
    inst = _client(lab)
    try:
        for name, s in tc.SETTINGS.items():
            if name == "SETP":
                continue  # bounded by LLIM/ULIM too: the syntax test covers it
            value = s.high if name != "HEAD" else 1  # the head stays down
            inst.write(f"{name} {tc.format_value(s, value)}")
            assert inst.query(f"{name}?;*ESR?") == f"{tc.format_value(s, value)};0", name
        for command in tc.NOT_MODELLED:
            inst.write(command if command.endswith("?") else f"{command} 1")
            assert inst.query("*ESR?") == str(tc.ESR_COMMAND_ERROR), command
        rows = tc.conformance_rows()
        assert {r.command for r in rows if r.support == "refused"} == set(tc.NOT_MODELLED)
    finally:
        inst.close()
