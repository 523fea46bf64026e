"""The WGFMU library's limits and defaults: refused by the driver, enforced by the twin.

The twin is driven through real sockets (raw protocol lines where the driver would refuse before
sending); the numbers come from :mod:`instruments.keysight.wgfmu_limits`, so driver and twin
cannot disagree. The long-train tests run on the simulated bench.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest

from instruments.bench import Bench
from instruments.keysight import wgfmu as wgfmu_mod
from instruments.keysight import wgfmu_limits as lim
from instruments.keysight.wgfmu import (
    WGFMU,
    ForceVoltageRange,
    MeasureEventData,
    OperationMode,
    WGFMUError,
)
from procedures.operations.cell_io import CellIO
from procedures.operations.programming import FormingRamp, form_with_ramp
from procedures.operations.pulsing import (
    CellPulse,
    PulseSession,
    ReadPulse,
    build_program,
    split_for_pattern,
)
from tests.instruments._wgfmu import setup_current


@pytest.fixture
def ask(server):
    """Send one raw protocol line, return the reply (session already open)."""
    host, port = server.address
    sock = socket.create_connection((host, port), timeout=10)
    f = sock.makefile("rw", newline="\n")

    def _ask(line: str) -> str:
        f.write(line + "\n")
        f.flush()
        return f.readline().strip()

    assert _ask("openSession GPIB0::17::INSTR") == "0"
    yield _ask
    sock.close()


def _vectors(n: int) -> tuple[list[float], list[float]]:
    return [10e-9] * n, [0.1 * (k % 2) for k in range(n)]


def test_at_most_2048_vectors_per_pattern(wg, ask, lab) -> None:
    assert lim.MAX_VECTORS_PER_PATTERN == 2048
    wg.create_pattern("p", 0.0)
    wg.add_vectors("p", *_vectors(2000))
    wg.add_vectors("p", *_vectors(48))  # exactly 2,048
    with pytest.raises(ValueError, match="2048 per pattern"):
        wg.add_vector("p", 10e-9, 0.0)  # refused before sending
    # the twin refuses it too, with the library's code and summary text
    assert ask("createPattern q 0.0") == "0"
    d, v = _vectors(2049)
    line = "addVectors q " + ",".join(map(repr, d)) + " " + ",".join(map(repr, v))
    assert ask(line) == str(int(lim.ErrorCode.PARAMETER_OUT_OF_RANGE))
    summary = ask("getErrorSummary")
    assert "error -1 (parameter out of range)" in summary and "2048 vectors" in summary
    assert lab.calls == []


def test_at_most_512_sequences_per_channel(wg, ask) -> None:
    wg.create_pattern("p", 0.0)
    wg.add_vector("p", 100e-9, 0.1)
    for _ in range(lim.MAX_SEQUENCES_PER_CHANNEL):
        wg.add_sequence(501, "p", 1)
    with pytest.raises(ValueError, match="512 per channel"):
        wg.add_sequence(501, "p", 1)
    wg.add_sequence(502, "p", 1)  # per channel
    wg.clear()
    wg.create_pattern("p", 0.0)
    wg.add_vector("p", 100e-9, 0.1)
    wg.add_sequence(501, "p", 1)  # clear forgets the sequences
    assert ask("createPattern p 0.0") == "0" and ask("addVector p 1e-07 0.1") == "0"
    for _ in range(512):
        assert ask("addSequence 501 p 1") == "0"
    assert ask("addSequence 501 p 1") == "-1"
    assert "512 sequences" in ask("getErrorSummary")


@pytest.mark.parametrize(("interval", "average", "ok"), [
    (10e-9, 0.0, True),
    (lim.MAX_INTERVAL_S, 0.0, True),
    (1.3421773, 0.0, False),          # beyond 1.34217728 s
    (0.021, 0.02097151, True),        # the longest averaging on the 10 ns grid
    (0.021, 0.02097152, False),       # beyond 0.020971512 s
])
def test_measure_event_interval_and_averaging(wg, ask, interval, average, ok) -> None:
    wg.create_pattern("p", 0.0)
    wg.add_vector("p", 2.0, 0.1)
    ask("createPattern p 0.0")
    ask("addVector p 2.0 0.1")
    line = f"setMeasureEvent p e 0.0 1 {interval!r} {average!r} 12000"
    if ok:
        wg.set_measure_event("p", "e", 0.0, 1, interval, average)
        assert ask(line) == "0"
    else:
        with pytest.raises(ValueError):
            wg.set_measure_event("p", "e", 0.0, 1, interval, average)
        assert ask(line) == "-1"


def test_raw_events_return_every_5ns_sample(wg, lab) -> None:
    wg.create_pattern("rd", 0.0)
    wg.add_vectors("rd", [100e-9, 2e-6, 100e-9], [0.2, 0.2, 0.0])
    wg.set_measure_event("rd", "avg", 300e-9, 3, 400e-9, 100e-9, MeasureEventData.AVERAGED)
    wg.set_measure_event("rd", "raw", 1.5e-6, 3, 200e-9, 100e-9, MeasureEventData.RAW)
    setup_current(wg, 501)
    wg.add_sequence(501, "rd", 2)
    wg.connect(501)
    wg.execute()
    per_point = 1 + round(100e-9 / 5e-9)
    assert lim.values_per_point(100e-9, raw=True) == per_point == 21
    measured, total = wg.get_measure_value_size(501)
    assert measured == total == 2 * (3 + 3 * per_point)
    t, i = wg.get_measure_values(501)
    raw_t = t[3:3 + 3 * per_point].reshape(3, per_point)
    assert np.diff(raw_t, axis=1) == pytest.approx(5e-9)  # one value every 5 ns
    assert raw_t[:, 0] == pytest.approx(lim.TIME_RESOLUTION * np.array([150, 170, 190]))
    raw_i = i[3:3 + 3 * per_point]
    assert raw_i.mean() == pytest.approx(i[:3].mean(), rel=0.01)  # same cell, same level
    assert raw_i.std() > i[:3].std()  # single samples are noisier than their average


def test_initialize_leaves_smu_mode_and_the_10ma_range(ask) -> None:
    assert ask("setOperationMode 501 2001") == "0"
    assert ask("setMeasureCurrentRange 501 6003") == "0"
    assert ask("initialize") == "0"
    assert ask("getOperationMode 501") == f"0 {int(OperationMode.SMU)}"
    assert ask("getMeasureCurrentRange 501") == "0 6005"  # 10 mA
    assert ask("getForceVoltageRange 501") == "0 3000"  # AUTO
    assert ask("createPattern p 0.0") == "0" and ask("addVector p 1e-06 0.5") == "0"
    assert ask("addSequence 501 p 1") == "0" and ask("connect 501") == "0"
    assert ask("execute") == "-3"  # SMU mode does not run a sequence
    assert "not in fast I-V or PG mode" in ask("getErrorSummary")


@pytest.mark.parametrize(("mode", "force_range", "levels", "ok"), [
    (OperationMode.FASTIV, ForceVoltageRange.AUTO, (0.0, 8.0), True),     # +10 V range
    (OperationMode.FASTIV, ForceVoltageRange.AUTO, (-6.0, 6.0), False),   # no one range
    (OperationMode.FASTIV, ForceVoltageRange.AUTO, (-4.5, 4.5), True),    # 5 V range
    (OperationMode.FASTIV, ForceVoltageRange.V3, (0.0, 3.5), False),
    (OperationMode.PG, ForceVoltageRange.AUTO, (0.0, 4.0), True),
    (OperationMode.PG, ForceVoltageRange.AUTO, (0.0, 8.0), False),        # no 10 V in PG
    (OperationMode.PG, ForceVoltageRange.V10_POSITIVE, (0.0, 1.0), False),
])
def test_force_ranges_as_on_the_instrument(server, lab, mode, force_range, levels, ok) -> None:
    from instruments.limits import SafetyLimits

    wide = SafetyLimits(max_voltage={"BL": 10.0, "SL": 10.0, "WL": 10.0, "SUB": 1.0})
    wg = WGFMU.simulated(server.resource, limits=wide)
    try:
        wg.open_session("GPIB0::17::INSTR")
        lo, hi = levels
        wg.create_pattern("a", lo)  # two patterns on one channel: AUTO must hold both
        wg.add_vectors("a", [1e-6, 1e-6], [lo, 0.0])
        wg.create_pattern("b", 0.0)
        wg.add_vectors("b", [1e-6, 1e-6], [hi, 0.0])
        wg.set_force_voltage_range(502, force_range)  # before the mode: the twin must refuse
        wg.set_operation_mode(502, mode)
        wg.add_sequence(502, "a", 1)
        wg.add_sequence(502, "b", 1)
        wg.connect(502)
        if ok:
            wg.execute()
        else:
            with pytest.raises(WGFMUError) as info:
                wg.execute()
            assert info.value.code == lim.ErrorCode.PARAMETER_OUT_OF_RANGE
            assert "range" in info.value.summary
            assert lab.calls == []
    finally:
        wg.close()


def test_driver_refuses_a_10v_range_in_pg_mode(wg, lab) -> None:
    wg.set_operation_mode(501, OperationMode.PG)
    with pytest.raises(ValueError, match="V10_POSITIVE does not exist in the PG mode"):
        wg.set_force_voltage_range(501, ForceVoltageRange.V10_POSITIVE)
    wg.set_force_voltage_range(501, ForceVoltageRange.V5)
    wg.set_operation_mode(502, OperationMode.FASTIV)
    wg.set_force_voltage_range(502, ForceVoltageRange.V10_POSITIVE)


# -- long trains on the simulated bench ---------------------------------------------------------

RESET = CellPulse("reset", 2.2, 2.8)
SET = CellPulse("set", 1.5, 1.2)
READ = ReadPulse(0.1, 2.5)


def _train() -> list:
    steps: list = []
    for _ in range(110):
        steps += [RESET, READ, SET, READ]
    return steps


def _run_train(bench: Bench) -> tuple[list[float], int]:
    bench.prober.step_next_die(9, 9, 0)
    bench.prober.contact()
    io = CellIO(bench)
    io.select("1T1R", 3, 3)
    assert form_with_ramp(io, FormingRamp()) is not None
    io.off()
    executes = 0
    real = bench.wgfmu.execute

    def counting() -> None:
        nonlocal executes
        executes += 1
        real()

    bench.wgfmu.execute = counting
    steps = _train()
    with PulseSession(bench, io) as session:
        data = session.run(steps)
    reads = [k for k, s in enumerate(steps) if isinstance(s, ReadPulse)]
    return [data.conductance(k, READ.v_read) for k in reads], executes


def test_a_train_longer_than_one_pattern_runs_split_with_the_same_physics(
        sim_bench, tmp_path, monkeypatch) -> None:
    steps = _train()
    program = build_program(steps)
    assert len(program.vectors["BL"]) > lim.MAX_VECTORS_PER_PATTERN  # one pattern cannot
    runs = split_for_pattern(steps, range(len(steps)))
    assert len(runs) == 2 and sum(len(r) for r in runs) == len(steps)
    assert all(len(build_program([steps[k] for k in r]).vectors["BL"])
               <= lim.MAX_VECTORS_PER_PATTERN for r in runs)
    g_split, n_split = _run_train(sim_bench)
    assert n_split == 2
    # the same train as one pattern, on a twin of the same wafer with the limit lifted
    monkeypatch.setattr(lim, "MAX_VECTORS_PER_PATTERN", 10**6)
    monkeypatch.setattr(wgfmu_mod, "MAX_VECTORS_PER_PATTERN", 10**6)
    with Bench.open("simulated", data_dir=tmp_path, fresh=True) as other:
        g_one, n_one = _run_train(other)
    assert n_one == 1
    g_split, g_one = np.array(g_split), np.array(g_one)
    assert np.all(np.isfinite(g_split)) and len(g_split) == 220
    # RESET -> HRS, SET -> LRS all along, in both
    assert np.median(g_split[0::2]) < 25e-6
    assert np.mean(g_split[1::2] > 2 * g_split[0::2]) > 0.95
    # the same physics: the same window, cycle after cycle, before and after the split (the
    # reads are not bit-identical: read noise and the cycle-to-cycle draws differ between runs)
    first = sum(isinstance(steps[k], ReadPulse) for k in runs[0])
    k = first + first % 2  # reads alternate HRS (even index), LRS (odd)
    assert np.mean(g_one[1::2] > 2 * g_one[0::2]) > 0.95
    for lo, hi in ((0, k), (k, len(g_split))):
        lrs_s, lrs_o = np.median(g_split[lo + 1:hi:2]), np.median(g_one[lo + 1:hi:2])
        hrs_s, hrs_o = np.median(g_split[lo:hi:2]), np.median(g_one[lo:hi:2])
        assert lrs_s == pytest.approx(lrs_o, rel=0.15)  # set by the gate: sharp
        # the HRS depth is broad (cycle-to-cycle draws; the lab clock includes wall time): a band
        assert 1 / 2.5 < hrs_s / hrs_o < 2.5
