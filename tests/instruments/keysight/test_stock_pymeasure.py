"""Stock, unmodified pymeasure ``AgilentB1500`` against the simulated B1500A server (pyvisa-py).

Proves the simulator speaks what pymeasure sends and parses what pymeasure expects: module discovery
(``UNT?``), ``ERRX?`` after settings, ``*LRN?`` read-back, spot and staircase measurements in FMT 1.
"""

from __future__ import annotations

import threading

import pytest
from pymeasure.instruments.agilent import AgilentB1500

from instruments.sim.b1500_server import make_server
from instruments.sim.chip import CellResponse


class OhmicLab:
    """Test double of SimLab: a 10 kOhm cell between BL and SL, SMU compliance respected."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.dc_bias = {"BL": 0.0, "SL": 0.0, "WL": 0.0, "SUB": 0.0}

    def bias_selected(self, v_bl, v_sl, v_wl, duration_s, i_comp_bl=None, i_comp_sl=None,
                      advance_clock=True):
        i = (v_bl - v_sl) / 10e3
        if i_comp_bl is not None and i > i_comp_bl:
            return CellResponse(i_comp_bl, i_comp_bl * 10e3, "BL")
        return CellResponse(i, i * 10e3, None)


@pytest.fixture
def stock():
    lab = OhmicLab()
    server = make_server(lab, seed=0).start()
    lab.server = server  # the lines it receives (round trips)
    inst = AgilentB1500(server.resource, visa_library="@py", timeout=3000)
    yield inst, lab
    inst.adapter.close()
    server.stop()


def _drop_terminator_leftover(inst: AgilentB1500) -> None:
    """``read_channels`` reads 16 bytes per value and leaves the ``\\n`` of ``\\r\\n`` unread.

    Over GPIB the B1500 discards unread output when the next command arrives; on a socket the byte
    is already on the client's side, so a stock user drops it with the adapter's flush.
    """
    inst.adapter.flush_read_buffer()


def test_stock_driver_finds_smus_forces_and_measures_spot(stock):
    b, lab = stock
    assert "B1500A" in b.id
    assert b.query_modules() == {1: "HRSMU", 2: "HRSMU", 3: "HRSMU", 4: "HRSMU", 5: "WGFMU"}
    b.initialize_all_smus()
    assert [s.name for s in b.smu_references] == ["SMU1", "SMU2", "SMU3", "SMU4"]
    b.data_format(1)  # FMT 1, 0 + ERRX?
    b.meas_mode("SPOT", b.smu1, b.smu2)
    for smu in (b.smu1, b.smu2, b.smu3):
        smu.enable()
        smu.meas_op_mode = "COMPLIANCE_SIDE"
        smu.adc_type = "HSADC"
        smu.meas_range_current = "1 mA"
    b.adc_setup("HSADC", "AUTO", 1)
    b.adc_averaging(1)
    b.time_stamp = False
    b.smu3.force("Voltage", "Auto Ranging", 2.0, 1e-4)
    b.smu1.force("Voltage", "Auto Ranging", 0.5, 1e-3)
    assert lab.dc_bias == {"BL": 0.5, "SL": 0.0, "WL": 2.0, "SUB": 0.0}
    b.check_errors()
    b.clear_buffer()
    b.clear_timer()
    b.send_trigger()
    bl, sl = b.read_channels(2)
    assert bl[:3] == ("N", "SMU1", "Current (A)") and bl[3] == pytest.approx(50e-6, rel=1e-3)
    assert sl[:3] == ("N", "SMU2", "Current (A)") and sl[3] == pytest.approx(-50e-6, rel=1e-3)
    _drop_terminator_leftover(b)
    b.check_errors()

    # settings read back through *LRN?
    status = b.smu1.status["SMU1"]
    assert status["Source Type"] == "Constant Voltage"
    assert float(status["Voltage Output (V)"]) == 0.5
    assert float(status["Compliance Current (A)"]) == pytest.approx(1e-3)
    assert b.smu1.meas_op_mode.name == "COMPLIANCE_SIDE"
    assert b.smu1.adc_type.name == "HSADC"
    assert b.time_stamp is False
    assert b.query_meas_settings()["Measurement Channels"] == "SMU1, SMU2"

    # compliance is flagged on the limiting channel, the other one sees 'T'
    b.smu1.force("Voltage", "Auto Ranging", 3.0, 1e-4)
    b.send_trigger()
    bl, sl = b.read_channels(2)
    assert (bl[0], sl[0]) == ("C", "T") and bl[3] == pytest.approx(1e-4)
    _drop_terminator_leftover(b)

    # an out-of-range request is refused by the instrument and reported by check_errors
    with pytest.raises(OSError, match="120"):
        b.smu1.force("Voltage", "Auto Ranging", 150, 1e-3)
    b.force_gnd()
    b.smu1.disable()
    b.check_errors()  # a query: the writes before it have been executed when it returns
    assert lab.dc_bias["BL"] == 0.0


def _stock_sweep(b: AgilentB1500, stop: float, steps: int, compliance: float, delay: float,
                 auto_abort: bool) -> list:
    """A staircase sweep the way pymeasure's documentation writes one: SMU1 (BL) 0 V -> ``stop``
    V in ``steps`` points with ``compliance`` A and ``delay`` s per step, SMU2 (SL) at 0 V,
    back to the start value after; the points as ``read_channels`` returns them."""
    b.initialize_all_smus()
    b.data_format(1)
    b.meas_mode("STAIRCASE_SWEEP", b.smu1)
    b.smu1.enable()
    b.smu2.enable()
    b.sweep_timing(0, delay)
    b.sweep_auto_abort(auto_abort, post="START")
    b.smu1.staircase_sweep_source("Voltage", "LINEAR_SINGLE", "Auto Ranging", 0, stop, steps,
                                  compliance)
    b.smu2.force("Voltage", "Auto Ranging", 0, 1e-3)
    b.check_errors()
    b.send_trigger()
    points = [b.read_channels(1)[0] for _ in range(steps)]
    _drop_terminator_leftover(b)
    return points


def test_stock_staircase_sweep(stock):
    b, lab = stock
    points = _stock_sweep(b, 0.5, 6, 1e-3, delay=0.001, auto_abort=False)
    assert [p[1] for p in points] == ["SMU1"] * 6
    assert [p[3] for p in points] == pytest.approx([0, 1e-5, 2e-5, 3e-5, 4e-5, 5e-5], abs=1e-12)
    b.check_errors()
    assert lab.dc_bias["BL"] == 0.0  # post output: start value


def test_stock_sweep_with_automatic_abort_and_its_round_trips(stock):
    """pymeasure's WT/WM/WV path with automatic abort: the twin stops at the first step in
    compliance and returns dummy data (status V) for the rest, as the manual says; pymeasure
    sends an ``ERRX?`` after each setting (the lines are counted: our driver needs 3 for the
    same sweep, set-up + ``ERRX?`` + ``XE``, see ``B1500.staircase_sweep``)."""
    b, lab = stock
    server = lab.server
    lines: list[str] = []
    server.on_request = lines.append
    points = _stock_sweep(b, 2, 11, 1e-4, delay=0, auto_abort=True)
    assert [p[0] for p in points] == ["N"] * 6 + ["C"] + ["V"] * 4
    assert points[6][3] == pytest.approx(1e-4, rel=1e-6)
    assert lab.dc_bias["BL"] == 0.0  # aborted: the start value
    # UNT?, FMT/MM/WT/WM/WV/DV each followed by ERRX?, two CN, the user's ERRX?, XE
    assert sum(line.startswith("ERRX?") for line in lines) == 7 and len(lines) == 17
