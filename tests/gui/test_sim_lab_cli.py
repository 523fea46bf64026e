"""`memprobe sim-lab` served standalone, driven by STOCK pymeasure clients; the wafer persists."""

from __future__ import annotations

import signal

import pytest
from pymeasure.instruments.agilent import AgilentB1500
from pymeasure.instruments.formfactor import Velox

from tests._sim_lab import end_process, start_sim_lab


def _start_lab(data, *extra):
    lab = start_sim_lab(data, 3, *extra)
    return lab.proc, lab.resources


def _stop_lab(proc):
    # stopped by a signal, as a shell says
    assert end_process(proc, signal.SIGINT) == 128 + signal.SIGINT


def _measure_bl(b1500: AgilentB1500) -> tuple[str, float]:
    b1500.meas_mode("SPOT", b1500.smu1)
    b1500.send_trigger()
    (reading,) = b1500.read_channels(1)
    b1500.adapter.flush_read_buffer()  # the '\n' of '\r\n' that read_channels leaves (sockets)
    return reading[0], reading[3]


def _clients(res):
    b1500 = AgilentB1500(res["b1500"], visa_library="@py", timeout=5000)
    velox = Velox(res["prober"], visa_library="@py", read_termination="\n", timeout=5000)
    return b1500, velox


def _contact_and_bias(b1500: AgilentB1500, velox: Velox, v_wl: float) -> None:
    """Stock clients: step to die (9,9), contact, enable SMU1-3, WL at ``v_wl`` V, BL at 0.1 V."""
    velox.wafermap.step_to_die(9, 9)
    velox.chuck.move_contact()
    b1500.initialize_all_smus()
    b1500.data_format(1)
    for smu in (b1500.smu1, b1500.smu2, b1500.smu3):
        smu.enable()
    b1500.smu3.force("Voltage", "Auto Ranging", v_wl, 1e-4)
    b1500.smu1.force("Voltage", "Auto Ranging", 0.1, 1e-3)


def _read_cell_on_die_9_9(res) -> float:
    """Stock clients: step to die (9,9), contact, read cell (0,0) at 0.1 V (WL 2.5 V); A."""
    b1500, velox = _clients(res)
    try:
        _contact_and_bias(b1500, velox, 2.5)
        return _measure_bl(b1500)[1]
    finally:
        b1500.force_gnd()
        velox.chuck.move_separation()
        b1500.adapter.close()
        velox.adapter.close()


def test_stock_clients_step_form_and_the_wafer_remembers(tmp_path):
    data = tmp_path / "data"
    proc, res = _start_lab(data, "--fresh")
    try:
        assert set(res) == {"b1500", "wgfmu", "prober", "prober_message_server", "chip"}
        assert all(r.startswith("TCPIP::127.0.0.1::") and r.endswith("::SOCKET")
                   for r in res.values())
        b1500, velox = _clients(res)
        assert "Velox" in velox.ask("*IDN?")
        # Velox: walk the route a few dies, then go to a die and contact
        first = velox.wafermap.step_first_die()
        second = velox.wafermap.step_next_die()
        assert first[:2] != second[:2]
        # B1500: find the SMUs, bias WL, force BL and measure: an unformed cell leaks < 0.1 uS
        _contact_and_bias(b1500, velox, 1.5)
        status, i_before = _measure_bl(b1500)
        assert abs(i_before) < 0.1e-6 * 0.1
        # forming by hand: staircase until the 100 uA compliance is reached
        formed_at = None
        for k in range(10, 90):
            v = k * 0.05
            b1500.smu1.force("Voltage", "Auto Ranging", v, 1e-4)
            status, i = _measure_bl(b1500)
            if status == "C" or i > 80e-6:
                formed_at = v
                break
        assert formed_at is not None and 2.0 < formed_at < 4.0
        b1500.smu1.force("Voltage", "Auto Ranging", 0.1, 1e-3)
        b1500.smu3.force("Voltage", "Auto Ranging", 2.5, 1e-4)
        _, i_after = _measure_bl(b1500)
        assert i_after > 2e-6  # LRS: > 20 uS at 0.1 V
        b1500.force_gnd()
        velox.chuck.move_separation()
        b1500.adapter.close()
        velox.adapter.close()
    finally:
        _stop_lab(proc)

    # a new session on the same data root: the cell is still formed
    proc, res = _start_lab(data)
    try:
        assert _read_cell_on_die_9_9(res) == pytest.approx(i_after, rel=0.2)
    finally:
        _stop_lab(proc)

    # --fresh starts a new wafer
    proc, res = _start_lab(data, "--fresh")
    try:
        assert abs(_read_cell_on_die_9_9(res)) < 0.01e-6
    finally:
        _stop_lab(proc)
