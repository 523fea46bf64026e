"""B1500 trigger outputs (TGP ...) in the twin and the driver, and the triggered sweep stepping
the simulated chip controller: point k reads the cell selected at that moment."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from instruments.keysight.b1500 import B1500, B1500Error
from instruments.keysight.flex import parse_fmt1
from instruments.sim.b1500_server import B1500Simulator
from instruments.sim.chip import CellResponse
from instruments.sim.chip_server import ChipControllerState
from instruments.sim.lab import CellSelection
from instruments.sim.trigger_line import TriggerLine


class StepLab:
    """A lab whose selected cell conducts (col + 1) uS, cabled Ext Trig Out -> controller."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.dc_bias = {"BL": 0.0, "SL": 0.0, "WL": 0.0, "SUB": 0.0}
        self.dc_hooks: list = []
        self.selection = CellSelection()
        self.trigger_line = TriggerLine()
        self.ports: list[int] = []
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def settle_dc(self) -> None:
        for hook in self.dc_hooks:
            hook()

    def trigger_out(self, port: int) -> None:
        self.ports.append(port)
        if port == -2:
            self.trigger_line.pulse(self.t)

    def bias_selected(self, v_bl, v_sl, v_wl, duration_s, i_comp_bl=None, i_comp_sl=None,
                      advance_clock=True):
        if advance_clock:
            self.t += duration_s
        g = 1e-6 * (1 + self.selection.col)
        return CellResponse(g * (v_bl - v_sl), v_bl - v_sl, None)


def _bench() -> tuple[StepLab, B1500Simulator, ChipControllerState]:
    lab = StepLab()
    sim = B1500Simulator(lab, seed=3)
    chip = ChipControllerState(lab)
    lab.trigger_line.connect(chip.on_trigger)
    return lab, sim, chip


def _errors(sim: B1500Simulator) -> list[int]:
    out = []
    while (reply := sim.handle("ERRX?")) != '+0,"No Error."':
        out.append(int(reply.split(",")[0]))
    return out


def test_tgp_set_up_and_its_errors() -> None:
    lab, sim, _ = _bench()
    for line in ("TGP -2,2,1,3", "TGP 5,2,2,1", "TGP -2,2,1"):
        assert sim.handle(line) is None
    assert sim.trigger_ports == {-2: (2, 1, 0), 5: (2, 2, 1)} and _errors(sim) == []
    bad = ["TGP -1,2,1,3", "TGP -2,1,1,1", "TGP 17,2,1,3", "TGP -2,2,3,3", "TGP -2,2,1,4",
           "TGP -2,2", "TGP 1,1,1,1", "TGMO 2", "TGMO 3", "TGSO 1", "TGXO 1", "TGSI 2",
           "TGSI 0", "OSX 3", "OSX -1", "OSX -2,1", "TGPC 99"]
    for line in bad:
        sim.handle(line)
    assert _errors(sim) == [120, 120, 120, 120, 120, 104, 620, 620, 120, 120, 120, 120,
                            620, 120]
    assert sim.handle("TGPC 5") is None and sim.trigger_ports == {-2: (2, 1, 0)}
    assert sim.handle("TGPC") is None and sim.trigger_ports == {}
    sim.handle("TGP -2,2,1,3")
    sim.handle("*RST")
    assert sim.trigger_ports == {}


def test_os_and_osx_send_an_edge() -> None:
    lab, sim, _ = _bench()
    sim.handle("OS")
    sim.handle("TGP 4,2,1,0;OSX 4;OSX 4,2")
    assert lab.ports == [-2, 4, 4] and lab.trigger_line.sent == 1 and _errors(sim) == []


def test_each_tgp_type_sends_at_its_moment() -> None:
    lab, sim, _ = _bench()
    sim.handle("CN 1,2,3;DV 3,0,2.5,1E-4;DV 1,0,0.1,1E-3")
    sim.handle("TGP 1,2,1,1;TGP 2,2,1,2;TGP 3,2,1,3")
    sim.handle("WT 0,0;WM 1,1;WV 1,1,0,0.1,0.1,5,1E-3;CMM 1,1;MM 2,1")
    assert _errors(sim) == []
    sim.handle("XE")
    assert lab.ports == [2, 3] * 5 + [1]  # per step: output set, measured; then the sweep
    lab.ports.clear()
    sim.handle("MM 1,1")
    sim.handle("XE")
    assert lab.ports == [1]  # a spot measurement: measurement completion only
    lab.ports.clear()
    sim.handle("TI 1")
    assert lab.ports == []  # a high-speed spot is not started by XE: no trigger
    sim.handle("PT 0,1E-3,5E-3;PV 1,0,0,0.2,1E-3;MM 3,1")
    assert _errors(sim) == []
    sim.handle("XE")
    # a pulsed spot: the pulsed output set up (type 2, Table 4-31), then measured (type 1);
    # "step measurement completion" is for staircase, multi channel and CV sweeps only
    assert lab.ports == [2, 1]


def test_triggered_sweep_reads_the_cell_selected_at_each_point() -> None:
    lab, sim, chip = _bench()
    sim.handle("CN 1,2,3;DV 3,0,2.5,1E-4;DV 2,0,0,1E-3;DV 1,0,0.1,1E-3")
    sim.handle("FMT 1,0;TGP -2,2,1,3;WT 0,1E-4;WM 1,1;WV 1,1,0,0.1,0.1,8,1E-3;CMM 1,1;MM 2,1")
    chip.handle("SCAN:LOAD 1T1R,BL,7,10,7,17")
    chip.handle("SCAN:ARM")
    t0 = lab.t
    data = parse_fmt1(sim.handle("XE"))
    g = np.array([r.value for r in data]) / 0.1
    assert np.allclose(g, 1e-6 * np.arange(11, 19), rtol=1e-3)  # cell k at point k
    assert chip.handle("SCAN:COUNT?") == "8" and chip.handle("SCAN:STAT?") == "DONE"
    # the points cost delay + integration each on the lab clock (no per-cell round trips)
    assert lab.t - t0 == pytest.approx(8 * (1e-4 + 1e-3), rel=1e-9)
    lab.trigger_line.drop(after=2)
    chip.handle("SCAN:ARM")
    data = parse_fmt1(sim.handle("XE"))
    g = np.array([r.value for r in data]) / 0.1
    # the third edge is lost: points 3.. read one cell behind, and the count tells
    assert np.allclose(g, 1e-6 * np.array([11, 12, 13, 13, 14, 15, 16, 17]), rtol=1e-3)
    assert chip.handle("SCAN:COUNT?") == "7" and chip.handle("SCAN:STAT?") == "ARMED"


# -- the driver ---------------------------------------------------------------------------------
def test_driver_triggered_sweep_lines() -> None:
    setup = ("FMT 1,0;TGP -2,2,1,3;WT 0,0.0001;WM 1,1;WV 1,1,0,0.1,0.1,3,0.001;CMM 1,1;"
             "MM 2,1")
    data = "NAI+001.000E-07,NAI+002.000E-07,CAI+003.000E-07"
    pairs = [(setup, None), ("ERRX?", '+0,"No Error."'), ("XE", data),
             ("TGPC", None), ("TGPC -2,3", None), ("ERRX?", '+0,"No Error."'),
             ("OS", None), ("ERRX?", '+0,"No Error."'), ("OSX 4,2", None),
             ("ERRX?", '+100,"Undefined GPIB command."')]
    with expected_protocol(B1500, pairs) as b:
        b.triggered_sweep_setup(1, 0.1, 3, 1e-3, 1e-4, measure=[1])
        steps = b.triggered_sweep(3, [1])
        assert [g[0].value for g in steps] == pytest.approx([1e-7, 2e-7, 3e-7])
        assert [g[0].compliance for g in steps] == [False, False, True]
        b.clear_triggers(check=False)
        b.clear_triggers(-2, 3)
        b.send_trigger()
        with pytest.raises(B1500Error):
            b.send_trigger(4)


@pytest.mark.parametrize("kwargs", [{"points": 0}, {"points": 10002}, {"delay": -1.0},
                                    {"trigger_port": -1}, {"trigger_port": 17}, {"volts": 50.0}])
def test_driver_refuses_bad_triggered_sweeps_before_sending(kwargs: dict) -> None:
    args = {"channel": 1, "volts": 0.1, "points": 4, "compliance": 1e-3, "delay": 1e-4}
    args.update(kwargs)
    with expected_protocol(B1500, []) as b:
        with pytest.raises(ValueError):
            b.triggered_sweep_setup(**args)


def test_scan_through_the_real_simulated_lab(sim_bench) -> None:
    """Drivers over sockets: the B1500's step triggers step the controller; counted, safe."""
    bench, lab = sim_bench, sim_bench.lab
    assert bench.capabilities.chip_scan
    bench.prober.step_first_die()
    bench.prober.contact()
    b, chip = bench.b1500, bench.chip
    b.enable(1, 2, 3)
    b.force_voltages([(3, 2.5, 1e-4), (2, 0.0, 1e-3), (1, 0.1, 1e-3)])
    b.triggered_sweep_setup(1, 0.1, 32, 1e-3, 1e-4, measure=[1])
    chip.scan_start("1T1R", "BL", 4, 0, 4, 31)
    lines = dict(lab.ledger.requests)
    steps = b.triggered_sweep(32, [1])
    assert len(steps) == 32 and all(np.isfinite(g[0].value) for g in steps)
    assert lab.ledger.requests["b1500"] - lines["b1500"] == 1  # one XE for 32 cells
    assert lab.ledger.requests["chip"] == lines["chip"]  # no line to the controller
    assert chip.scan_count() == 32 and chip.scan_state() == "DONE"
    assert chip.cell == (4, 31) and lab.trigger_line.sent == 32
    chip.scan_start("1T1R", "BL", 5, 0, 5, 31)
    assert chip.scan_state() == "ARMED"
    assert bench.safe_state() == []  # disarms the controller too
    assert chip.scan_state() == "IDLE"
    assert b.output_state(1) is None and not lab.prober.in_contact
