"""`memprobe sim-lab` driven by clients nobody here wrote (issue #10, "Proof").

QCoDeS' stock Keysight B1500 driver (unmodified, a test-only dependency) connects, enables
channels, measures spot, runs staircase sweeps with compliance and automatic abort, sets the
ADCs, reads errors, resets and self-calibrates, and what it reads obeys the device physics. A stock
pymeasure ``AgilentB1500`` script ramps SL to 2 V with ``force()`` and no trigger: the DC levels
act on the cell on the lab clock, so the ramp RESETs it. One ``sim-lab`` process and one QCoDeS
instrument serve the whole module (QCoDeS is slow to import and to construct).
"""

from __future__ import annotations

import math
import signal
import socket

import numpy as np
import pytest
from pymeasure.instruments.agilent import AgilentB1500
from pymeasure.instruments.formfactor import Velox

from tests._sim_lab import end_process, start_sim_lab

qcodes_b1500 = pytest.importorskip("qcodes.instrument_drivers.Keysight.keysightb1500")
from qcodes.instrument_drivers.Keysight import KeysightB1500  # noqa: E402

constants = qcodes_b1500.constants


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = start_sim_lab(tmp_path_factory.mktemp("qcodes-lab"), 11, "--fresh")
    res = lab.resources
    velox = Velox(res["prober"], visa_library="@py", read_termination="\n", timeout=5000)
    velox.wafermap.step_to_die(9, 9)
    velox.chuck.move_contact()
    spa = KeysightB1500("memprobe_twin", res["b1500"], visalib="@py", timeout=30)
    try:
        yield res, spa
    finally:
        spa.close()
        velox.chuck.move_separation()
        velox.adapter.close()
        assert end_process(lab.proc, signal.SIGINT) == 128 + signal.SIGINT  # stopped by a signal


def _select(res, row: int, col: int) -> None:
    host, port = res["chip"].split("::")[1:3]
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(f"ARR:SEL 1T1R\nCELL:SEL {row},{col}\nCELL:SEL?\n".encode())
        assert s.makefile("rb").readline().decode().strip() == f"{row},{col}"


def _bias(spa, wl: float) -> None:
    """SL at 0 V, WL at ``wl`` V, BL at 0 V (all with 1 mA compliance)."""
    spa.enable_channels([1, 2, 3])
    for slot, volts in ((2, 0.0), (3, wl), (1, 0.0)):
        smu = spa.by_slot[slot]
        smu.source_config(constants.VOutputRange.AUTO, compliance=1e-3)
        smu.voltage(volts)


def _read(spa, volts: float = 0.1) -> float:
    smu1 = spa.by_slot[1]
    smu1.source_config(constants.VOutputRange.AUTO, compliance=1e-3)
    smu1.voltage(volts)
    current = smu1.current()
    smu1.voltage(0.0)
    return current


def _form(spa, n_steps: int = 81, v_end: float = 4.0):
    """QCoDeS staircase sweep 0 -> v_end on BL with 100 uA compliance and automatic abort."""
    smu1 = spa.by_slot[1]
    smu1.setup_staircase_sweep(
        v_start=0.0, v_end=v_end, n_steps=n_steps, i_comp=100e-6,
        i_meas_range=constants.IMeasRange.MIN_100uA, step_delay=1e-3,
        abort_enabled=constants.Abort.ENABLED,
        post_sweep_voltage_val=constants.WMDCV.Post.STOP,
    )
    spa.set_measurement_mode(constants.MM.Mode.STAIRCASE_SWEEP, [1])
    spa.run_iv_staircase_sweep.set_names_labels_and_units(["i_bl"])
    (current,) = spa.run_iv_staircase_sweep()
    return np.asarray(current, dtype=float), spa.run_iv_staircase_sweep


def test_connect_modules_errors_and_status(lab):
    res, spa = lab
    assert spa.IDN()["model"] == "B1500A"
    kinds = {slot: m.MODULE_KIND for slot, m in spa.by_slot.items()}
    assert [int(s) for s, k in kinds.items() if k == "SMU"] == [1, 2, 3, 4]
    assert "WGFMU" in kinds.values()
    assert spa.error_message() == '+0,"No Error."'
    with pytest.raises(RuntimeError, match=r"\+100"):
        spa.write("NOSUCH 1")  # QCoDeS reads ERRX? after every write
    assert spa.get_status() == 0  # the error was read: queue empty, status byte clear
    spa.visa_handle.write("FC 7,1000")  # a CMU command: no MFCMU installed
    assert spa.get_status() & 32
    assert spa.error_message(constants.ERRX.Mode.CODE_ONLY) == "+151"
    assert spa.error_message() == '+0,"No Error."'


def test_spot_measurement_reads_the_cell_and_compliance(lab):
    res, spa = lab
    _select(res, 3, 4)
    _bias(spa, 2.5)
    i_fresh = _read(spa, 0.1)
    assert abs(i_fresh) < 0.1e-6 * 0.1  # unformed: < 0.1 uS
    assert spa.by_slot[1].current.measurement_status == constants.MeasurementStatus.N
    current, sweep = _form(spa)
    assert sweep.param1.status[int(np.nanargmax(current))] == "C"
    _bias(spa, 2.5)
    i1, i2 = _read(spa, 0.1), _read(spa, 0.2)
    assert 2e-6 < i1 < 15e-6  # LRS after forming at 100 uA: 20..150 uS
    assert i2 / i1 == pytest.approx(2.0, rel=0.15)  # ohmic read: I ~ G V
    # a 1 uA compliance at 1 V on the formed cell: the SMU reports it
    smu1 = spa.by_slot[1]
    smu1.source_config(constants.VOutputRange.AUTO, compliance=1e-6)
    smu1.voltage(1.0)
    assert smu1.current() == pytest.approx(1e-6, rel=0.05)
    assert smu1.current.measurement_status == constants.MeasurementStatus.C
    smu1.source_config(constants.VOutputRange.AUTO, compliance=1e-3)
    smu1.voltage(0.0)


def test_staircase_sweep_with_automatic_abort_pads_with_dummy_data(lab):
    res, spa = lab
    _select(res, 5, 6)
    _bias(spa, 1.5)
    current, sweep = _form(spa)
    stop = int(np.argmax(np.asarray(sweep.param1.status) == "C"))
    assert sweep.param1.status[stop] == "C"
    assert len(current) == 81  # every programmed step comes back
    assert 30 < stop < 80  # formed around 2.5-3 V
    assert np.all(np.isnan(current[stop + 1:]))  # the dummy data read as NaN by QCoDeS
    assert set(sweep.param1.status[stop + 1:]) == {"V"}
    assert np.all(current[:stop] < 90e-6)
    # after an abort the source goes to the start value, whatever WM's post says
    lrn = spa.ask("*LRN? 1")
    assert lrn.startswith("DV1,") and float(lrn.split(",")[2]) == 0.0
    assert "WT+0.0000E+00,+0.0000E+00,+1.0000E-03,+0.0000E+00,+0.0000E+00" in spa.ask(
        "*LRN? 33")


def test_sweep_that_completes_ends_at_stop_per_post(lab):
    res, spa = lab
    _select(res, 7, 8)
    _bias(spa, 1.5)
    current, sweep = _form(spa, n_steps=11, v_end=0.5)  # far below forming: no abort
    assert not np.any(np.isnan(current))
    assert list(sweep.source_voltage.value) == pytest.approx(np.linspace(0, 0.5, 11))
    assert float(spa.ask("*LRN? 1").split(",")[2]) == pytest.approx(0.5)  # post = stop
    spa.by_slot[1].voltage(0.0)


def test_adc_integration_settings_reach_the_instrument(lab):
    res, spa = lab
    smu1 = spa.by_slot[1]
    spa.use_nplc_for_high_resolution_adc(n=2)
    smu1.use_high_resolution_adc()
    smu1.set_average_samples_for_high_speed_adc(4, constants.AV.Mode.MANUAL)
    spa.autozero_enabled(True)
    ait = spa.ask("*LRN? 56")
    assert "AIT1,2,2" in ait and "AIT0,1,4" in ait and "AZ1" in ait  # AV is AIT 0
    assert "AV4,1" in spa.ask("*LRN? 31")
    assert "AAD1,1" in spa.ask("*LRN? 55")
    smu1.use_high_speed_adc()
    spa.use_nplc_for_high_speed_adc(n=1)
    assert "AV-1,0" in spa.ask("*LRN? 31")


def test_sampling_measurement_reads_the_dc_level(lab):
    res, spa = lab
    _select(res, 11, 12)
    _bias(spa, 2.5)
    smu1 = spa.by_slot[1]
    smu1.timing_parameters(h_bias=0.0, interval=0.01, number=20)
    spa.set_measurement_mode(constants.MM.Mode.SAMPLING, [1])
    smu1.source_config(constants.VOutputRange.AUTO, compliance=1e-3)
    smu1.voltage(0.1)
    trace = smu1.sampling_measurement_trace.get()
    assert trace.shape == (20,) and np.all(np.abs(trace) < 0.1e-6 * 0.1)  # unformed cell
    assert smu1.sampling_measurement_trace.data.status.count("N") == 20
    smu1.voltage(0.0)


def test_reset_and_self_calibration(lab):
    res, spa = lab
    spa.disable_channels()
    spa.enable_channels([1, 2])
    assert spa.ask("*LRN? 0") == "CN1,2"
    assert spa.self_calibration() == constants.CALResponse.PASSED
    assert spa.ask("*LRN? 0") == "CL"  # modules as after CL
    spa.enable_channels([1])
    spa.reset()
    assert spa.ask("*LRN? 0") == "CL"
    assert spa.error_message() == '+0,"No Error."'


def test_stock_pymeasure_dv_ramp_with_no_trigger_resets_a_cell(lab):
    """A lab-script ramp: force() steps on SL to 2 V and back, never a measurement in between."""
    res, spa = lab
    _select(res, 9, 10)
    _bias(spa, 1.5)
    current, _ = _form(spa)
    assert np.nanmax(current) > 80e-6
    _bias(spa, 2.5)
    i_lrs = _read(spa, 0.1)
    assert i_lrs > 2e-6
    b1500 = AgilentB1500(res["b1500"], visa_library="@py", timeout=5000)
    try:
        b1500.initialize_all_smus()
        b1500.smu1.force("Voltage", "Auto Ranging", 0.0, 1e-3)
        b1500.smu3.force("Voltage", "Auto Ranging", 2.5, 1e-3)
        ramp = [k * 0.1 for k in range(1, 21)]
        for volts in ramp + ramp[::-1][1:] + [0.0]:
            b1500.smu2.force("Voltage", "Auto Ranging", volts, 10e-3)
    finally:
        b1500.adapter.close()
    i_after = _read(spa, 0.1)
    assert not math.isnan(i_after)
    assert i_after < i_lrs / 5  # RESET by the DC ramp alone


def _chip(res, *lines: str) -> list[str]:
    """Send ``lines`` to the chip controller; the replies of the queries among them, once the
    controller has executed every line (a closing ``*OPC?`` is waited for)."""
    host, port = res["chip"].split("::")[1:3]
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall("".join(f"{line}\n" for line in (*lines, "*OPC?")).encode())
        reader = s.makefile("rb")
        replies = [reader.readline().decode().strip() for line in lines if line.endswith("?")]
        assert reader.readline().decode().strip() == "1"
        return replies


def test_stock_message_builder_scan_steps_the_controller(lab):
    """The chip-controller scan as QCoDeS' own MessageBuilder writes it: ``TGP -2,2,1,3``,
    ``WT``, ``WM``, a linear ``WV`` whose start equals its stop, ``MM 2``; each step's edge
    routes the controller's next cell, so point k reads cell k (one formed cell among five).
    ``OSX -2`` sends one edge; after ``TGPC`` a sweep sends none."""
    from qcodes.instrument_drivers.Keysight.keysightb1500.message_builder import MessageBuilder

    from instruments.keysight.flex import parse_fmt1

    res, spa = lab
    _select(res, 12, 3)
    _bias(spa, 1.5)
    formed, _ = _form(spa)
    assert np.isnan(formed).any()  # (12, 3) formed: the sweep aborted at compliance
    _bias(spa, 2.5)  # WL on for the reads, BL and SL at 0 V
    mb = MessageBuilder()
    mb.fmt(1, 0).tgp(constants.TriggerPort.EXT_TRIG_OUT, constants.TGP.TerminalType.OUTPUT,
                     constants.TGP.Polarity.POSITIVE, constants.TGP.TriggerType.THREE)
    mb.wt(hold=0.0, delay=1e-4).wm(abort=False, post=constants.WM.Post.START)
    mb.wv(1, constants.SweepMode.LINEAR, constants.VOutputRange.AUTO, 0.1, 0.1, 5, 1e-3)
    mb.cmm(1, constants.CMM.Mode.CURRENT).mm(constants.MM.Mode.STAIRCASE_SWEEP, [1])
    spa.write(mb.message)
    assert spa.ask("ERRX?").startswith("+0,")
    assert _chip(res, "SCAN:LOAD 1T1R,BL,12,1,12,5", "SCAN:ARM", "SYST:ERR?") == ['0,"No error"']
    current = np.array([r.value for r in parse_fmt1(spa.ask("XE"))])
    assert _chip(res, "SCAN:COUNT?", "SCAN:STAT?") == ["5", "DONE"]
    assert len(current) == 5 and int(np.argmax(current)) == 2  # column 3 is the formed one
    assert current[2] > 1e-6 and np.all(np.delete(current, 2) < 0.1e-6)
    _chip(res, "SCAN:ARM")  # re-armed on column 1
    spa.write(MessageBuilder().osx(constants.TriggerPort.EXT_TRIG_OUT).message)
    spa.write(MessageBuilder().tgpc().message)
    spa.ask("XE")
    assert _chip(res, "SCAN:COUNT?", "SCAN:ABORT", "CELL:SEL?") == ["1", "12,2"]
    assert spa.ask("ERRX?").startswith("+0,")
    spa.by_slot[1].voltage(0.0)
    spa.write("DZ")
