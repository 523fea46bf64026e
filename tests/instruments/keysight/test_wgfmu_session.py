"""WGFMU session flow and the RSU's SMU pass-through, on the vendor-library fake and the twin.

The vendor flow (open, initialize, channel ids, self-calibration) is checked call by call on a
recording stand-in of ``wgfmu.dll``; the RSU behaviour (an SMU behind a channel in fast I-V mode
reaches nothing) on the simulated bench, through real sockets, reading the cell back.
"""

from __future__ import annotations

import logging

import pytest

from instruments.bench import Bench, BenchConfigError, load_bench_config
from instruments.keysight.wgfmu import WGFMU, OperationMode
from procedures.experiments.conductance_map import ConductanceMapProcedure
from procedures.experiments.pulse_train import PulseTrainProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run
from procedures.operations.cell_io import CellIO
from procedures.operations.programming import FormingRamp, form_with_ramp
from procedures.operations.pulsing import PulseSession, ReadPulse
from tests.instruments.keysight.test_wgfmu_ctypes import FakeLibrary

DIE = (9, 9)
OPEN_CIRCUIT_A = 1e-9  # an SMU on an open circuit reads noise only


def test_start_follows_the_vendor_flow_and_logs_the_calibration(caplog) -> None:
    lib = FakeLibrary()
    lib._getChannelIdSize = lambda size_p: setattr(size_p.contents, "value", 2)

    def ids(buf, size_p):
        buf[0], buf[1] = 501, 502
        size_p.contents.value = 2

    def calibrate(result_p, detail, size_p):
        result_p.contents.value = 0
        detail.value = b"ch 501 pass, ch 502 pass"

    lib._getChannelIds = ids
    lib._doSelfCalibration = calibrate
    wg = WGFMU.from_library(lib)
    with caplog.at_level(logging.INFO, logger="instruments.keysight.wgfmu"):
        wg.start("GPIB0::17::INSTR", self_calibration=True)
    assert lib.names() == [
        "WGFMU_openSession", "WGFMU_initialize", "WGFMU_getChannelIdSize",
        "WGFMU_getChannelIds", "WGFMU_doSelfCalibration",
    ]
    assert "self-calibration passed: ch 501 pass, ch 502 pass" in caplog.text
    # after initialize every channel is in SMU mode: switching back sends nothing
    lib.calls.clear()
    wg.smu_mode()
    assert lib.calls == []

    # a failed calibration is an error, logged with its detail
    def fail(result_p, detail, size_p):
        result_p.contents.value = 1
        detail.value = b"ch 502: offset out of spec"

    lib._doSelfCalibration = fail
    with pytest.raises(Exception, match="offset out of spec"):
        wg.start("GPIB0::17::INSTR", self_calibration=True)
    assert "FAILED: ch 502: offset out of spec" in caplog.text


def test_bench_names_a_wired_channel_the_wgfmu_lacks(data_root) -> None:
    cfg = load_bench_config("simulated")
    cfg.wgfmu_terminals = {501: "BL", 502: "SL", 701: "WL"}
    with pytest.raises(BenchConfigError, match=r"channel 701 \(WL\).*installed channels: 501, 502"):
        Bench.open(cfg, data_dir=data_root, fresh=True,
                   lab_overrides={"wgfmu_wiring": {501: "BL", 502: "SL"}})


def test_simulated_bench_self_calibrates_when_asked(data_root, caplog) -> None:
    cfg = load_bench_config("simulated")
    assert cfg.wgfmu_self_calibration is False  # the twin's default
    assert load_bench_config("lab-example").wgfmu_self_calibration is True
    cfg.wgfmu_self_calibration = True
    with caplog.at_level(logging.INFO, logger="instruments.keysight.wgfmu"):
        with Bench.open(cfg, data_dir=data_root, fresh=True) as bench:
            assert all(bench.lab.smu_path_connected(t) for t in ("BL", "SL", "WL"))
    assert "WGFMU self-calibration passed" in caplog.text


def _formed_cell(bench: Bench, row: int = 4, col: int = 1) -> CellIO:
    bench.prober.step_next_die(*DIE, 0)
    bench.prober.contact()
    io = CellIO(bench)
    io.select("1T1R", row, col)
    assert form_with_ramp(io, FormingRamp()) is not None
    return io


def test_forgetting_the_switch_back_leaves_the_smu_on_an_open_circuit(sim_bench) -> None:
    io = _formed_cell(sim_bench)
    wg = sim_bench.wgfmu
    formed = io.read()
    assert formed.current > 2e-6  # a formed cell at 0.1 V (~70 uS)
    # a pulse run leaves the BL channel in fast I-V mode (applied at update or execute) ...
    wg.set_operation_mode(501, OperationMode.FASTIV)
    wg.update()
    assert not sim_bench.lab.smu_path_connected("BL")
    # ... and the SMU behind its RSU reaches nothing: an open circuit
    assert abs(io.read().current) < OPEN_CIRCUIT_A
    # set, not applied, is not enough: the mode reaches the RSU at update/execute
    wg.set_operation_mode(501, OperationMode.SMU)
    assert abs(io.read().current) < OPEN_CIRCUIT_A
    wg.smu_mode()
    assert sim_bench.lab.smu_path_connected("BL")
    assert io.read().current == pytest.approx(formed.current, rel=0.05)
    io.off()


def test_pulse_session_hands_the_probes_back_to_the_smus(sim_bench) -> None:
    io = _formed_cell(sim_bench, 5, 2)
    smu_read = io.read().current
    with PulseSession(sim_bench, io) as session:
        data = session.run([ReadPulse(0.1, 2.5)])
        assert not any(sim_bench.lab.smu_path_connected(t) for t in ("BL", "SL", "WL"))
    assert data.steps[0].current == pytest.approx(smu_read, rel=0.1)
    assert io.read().current == pytest.approx(smu_read, rel=0.05)  # the SMU reads the cell
    # on an error inside the session too
    with pytest.raises(RuntimeError, match="boom"), PulseSession(sim_bench, io) as session:
        session.run([ReadPulse(0.1, 2.5)])
        raise RuntimeError("boom")
    assert io.read().current == pytest.approx(smu_read, rel=0.05)
    io.off()


def test_procedures_never_forget_the_switch_back(sim_bench, data_root) -> None:
    """Pulse-train: WGFMU read, SMU forming, WGFMU pulses; then an SMU map reads the cells."""
    cat = Catalog(data_root)
    train = PulseTrainProcedure()
    train.die, train.cells, train.form_first = "9,9", "6,0-2", True
    train.kind, train.amplitude, train.v_wl, train.count = "set", 1.5, 1.2, 3
    run = prepare_run(train, sim_bench, data_root, cat).run()
    assert run.status == "finished", run.error
    # forming by the SMUs right after the WGFMU read worked: the SMU path was closed again
    assert run.summary["cells_formed_first"] == 3
    g_pulse = run.summary["g_final_values"]
    smu_map = ConductanceMapProcedure()
    smu_map.die, smu_map.cells = "9,9", "6,0-2"
    mapped = prepare_run(smu_map, sim_bench, data_root, cat).run()
    assert mapped.status == "finished", mapped.error
    from pymeasure.experiment import Results

    data = Results.load(str(mapped.file)).data
    g_smu = list(data.sort_values("Cell col")["Conductance (S)"])
    assert g_smu == pytest.approx(g_pulse, rel=0.15)
    assert min(g_smu) > 20e-6
