"""WGFMU driver against the simulated WGFMU server, through real sockets (pyvisa-py).

Most tests run the server on a small test double of the lab (a two-state cell whose calls are
recorded); the last ones run it on the real :class:`~instruments.sim.lab.SimLab`.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest

from instruments.keysight.wgfmu import (
    WGFMU,
    ErrorCode,
    ForceVoltageRange,
    MeasureCurrentRange,
    MeasureMode,
    OperationMode,
    WGFMUError,
)
from instruments.limits import LimitError, SafetyLimits
from instruments.sim.wgfmu_server import RAMP_SUBSTEPS, make_server
from tests.instruments._wgfmu import (
    EDGE_TICKS,
    G_HRS,
    G_LRS,
    bl_sl,
    pulse,
    read,
    run_program,
    setup_current,
)


def flat_pattern(wg: WGFMU, name: str, level: float, hold: float = 2e-6, edge: float = 100e-9):
    """0 V -> ``level`` over ``edge``, hold, back to 0 V over ``edge``."""
    wg.create_pattern(name, 0.0)
    wg.add_vectors(name, [edge, hold, edge], [level, level, 0.0])


def fast_iv(wg: WGFMU, *channels: int) -> None:
    """Fast I-V mode (``initialize`` and power-on leave the SMU pass-through mode)."""
    for ch in channels:
        wg.set_operation_mode(ch, OperationMode.FASTIV)


# -- patterns, events, timing ------------------------------------------------------------------


def test_measure_events_points_times_and_values(wg, lab):
    flat_pattern(wg, "rd", 0.2)  # 2.2 us
    wg.set_measure_event("rd", "ev", 200e-9, 5, 300e-9, 100e-9)
    setup_current(wg, 501)
    wg.add_sequence(501, "rd", 3)
    wg.connect(501)
    wg.connect(502)
    wg.execute()
    wg.wait_until_completed()
    assert wg.get_measure_value_size(501) == (15, 15)
    assert wg.get_measure_value_size(502) == (0, 0)
    t, i = wg.get_measure_values(501)
    period = 2.2e-6
    expect = (np.arange(3)[:, None] * period + 200e-9 + np.arange(5)[None, :] * 300e-9 + 50e-9)
    assert t == pytest.approx(expect.ravel(), abs=1e-12)
    # 0.2 V on an HRS cell: 2 uA, noise ~ 5e-4 * 10 uA / sqrt(10) per sample
    assert i.mean() == pytest.approx(G_HRS * 0.2, rel=0.01)
    assert 0 < i.std() < 20e-9
    # bounded number of lab calls: per period two ramps, the flat split at 5 samples
    assert len(lab.calls) <= 3 * (2 * RAMP_SUBSTEPS + 6)
    assert sum(c[3] for c in lab.calls) == pytest.approx(3 * period)
    assert {c[2] for c in lab.calls} == {1.5}  # WL from the SMU's DC level
    assert {c[1] for c in lab.calls} == {0.0}  # SL channel connected without sequence -> 0 V
    assert max(c[0] for c in lab.calls) == pytest.approx(0.2)
    status, elapsed, total = wg.get_status()
    assert status == 10000 and total == pytest.approx(3 * period)
    # partial reads with offsets
    t2, i2 = wg.get_measure_values(501, 4, 6)
    assert t2 == pytest.approx(t[4:10]) and i2 == pytest.approx(i[4:10])


def test_unconnected_terminal_keeps_the_smu_level(wg, lab):
    lab.dc_bias["SL"] = 0.3
    flat_pattern(wg, "p", 1.0)
    wg.add_sequence(501, "p", 1)
    wg.add_sequence(502, "p", 1)  # not connected: does not run
    fast_iv(wg, 501)
    wg.connect(501)
    wg.execute()
    assert {c[1] for c in lab.calls} == {0.3}


def test_voltage_mode_reads_the_forced_voltage(wg):
    flat_pattern(wg, "v", 1.234, hold=1e-6)
    wg.set_measure_event("v", "e", 500e-9, 20, 20e-9, 10e-9)
    wg.set_operation_mode(502, OperationMode.PG)
    wg.set_measure_mode(502, MeasureMode.VOLTAGE)
    wg.add_sequence(502, "v", 1)
    wg.connect(502)
    wg.execute()
    _, v = wg.get_measure_values(502)
    assert len(v) == 20
    assert v.mean() == pytest.approx(1.234, abs=1e-3)
    assert np.all(np.abs(v - 1.234) < 5e-3)


def test_sl_channel_reads_minus_i_bl(wg, lab):
    flat_pattern(wg, "s", 0.5, hold=1e-6)
    wg.set_measure_event("s", "e", 500e-9, 10, 50e-9, 50e-9)
    setup_current(wg, 502)
    wg.add_sequence(502, "s", 1)
    wg.connect(502)
    wg.execute()
    _, i = wg.get_measure_values(502)
    assert i.mean() == pytest.approx(G_HRS * 0.5, rel=0.01)  # i_bl = -5 uA


@pytest.mark.parametrize(
    ("rng", "expect"),
    [(MeasureCurrentRange.UA100, 100e-6), (MeasureCurrentRange.MA1, 500e-6)],
)
def test_current_range_clips(wg, lab, rng, expect):
    lab.g = 1e-3
    flat_pattern(wg, "r", 0.5, hold=1e-6)  # below the 1 V SET threshold of the double
    wg.set_measure_event("r", "e", 500e-9, 10, 50e-9, 50e-9)
    setup_current(wg, 501, rng)
    wg.add_sequence(501, "r", 1)
    wg.connect(501)
    wg.execute()
    _, i = wg.get_measure_values(501)
    if expect == 100e-6:
        assert np.all(i == 100e-6)
    else:
        assert i.mean() == pytest.approx(expect, rel=0.01)


def test_open_circuit_reads_small_noise(wg, lab):
    lab.contact = False
    flat_pattern(wg, "o", 1.0, hold=4e-6)
    wg.set_measure_event("o", "e", 100e-9, 200, 20e-9, 10e-9)
    setup_current(wg, 501, MeasureCurrentRange.UA1)
    wg.add_sequence(501, "o", 1)
    wg.connect(501)
    wg.execute()
    _, i = wg.get_measure_values(501)
    assert len(i) == 200
    assert abs(i.mean()) < 0.3e-9
    assert 0.2e-9 < i.std() < 1e-9
    assert lab.time == pytest.approx(4.2e-6)  # time still runs


def test_pattern_steps_at_boundaries_and_unaligned_channels(wg, lab):
    # 501: a 1 us pattern x3; 502: a 1.5 us pattern x2 -> not period-aligned
    wg.create_pattern("a", 0.0)
    wg.add_vectors("a", [10e-9, 990e-9], [0.5, 0.5])
    wg.set_measure_event("a", "ea", 500e-9, 2, 100e-9)
    wg.create_pattern("b", 0.8)  # starts with a step to 0.8 V every repeat
    wg.add_vectors("b", [1.5e-6], [0.0])
    wg.set_measure_event("b", "eb", 0.0, 1, 10e-9)
    for ch, name, n in ((501, "a", 3), (502, "b", 2)):
        wg.set_operation_mode(ch, OperationMode.FASTIV)
        wg.set_measure_mode(ch, MeasureMode.VOLTAGE)
        wg.add_sequence(ch, name, n)
        wg.connect(ch)
    wg.execute()
    ta, va = wg.get_measure_values(501)
    tb, vb = wg.get_measure_values(502)
    assert ta == pytest.approx([0.5e-6, 0.6e-6, 1.5e-6, 1.6e-6, 2.5e-6, 2.6e-6])
    assert va == pytest.approx([0.5] * 6, abs=5e-3)
    assert tb == pytest.approx([0.0, 1.5e-6])
    assert vb == pytest.approx([0.8, 0.8], abs=5e-3)
    assert sum(c[3] for c in lab.calls) == pytest.approx(3e-6)


# -- repeats and the SET/RESET fast path ---------------------------------------------------------


def set_reset_patterns(wg: WGFMU, set_first: bool = True) -> float:
    """BL: SET pulse (2 V) in one half, SL: RESET pulse (2.5 V) in the other; returns period s."""
    pulse = [100e-9, 1e-6, 100e-9]
    quiet = [1.2e-6]
    for name, amp, active_first in (("bl", 2.0, set_first), ("sl", 2.5, not set_first)):
        wg.create_pattern(name, 0.0)
        if active_first:
            wg.add_vectors(name, pulse + [1e-6] + quiet + [1e-6], [amp, amp, 0, 0, 0, 0])
        else:
            wg.add_vectors(name, quiet + [1e-6] + pulse + [1e-6], [0, 0, amp, amp, 0, 0])
    fast_iv(wg, 501, 502)
    return 2 * 1.2e-6 + 2e-6


def test_fast_path_uses_chip_cycle(wg, lab):
    period = set_reset_patterns(wg)
    wg.add_sequence(501, "bl", 10_000)
    wg.add_sequence(502, "sl", 10_000)
    wg.connect(501)
    wg.connect(502)
    wg.execute()
    assert len(lab.chip.cycles) == 1
    array, row, col, side, n, set_bias, reset_bias = lab.chip.cycles[0]
    assert (array, row, col, side, n) == ("1T1R", 3, 4, "BL", 10_000)
    # peak biases, full width at half maximum = top + half of each edge
    assert set_bias == pytest.approx((2.0, 0.0, 1.5, 1.1e-6))
    assert reset_bias == pytest.approx((0.0, 2.5, 1.5, 1.1e-6))
    assert lab.calls == []
    assert lab.time == pytest.approx(10_000 * period)


def test_fast_path_reset_first_splits_the_period(wg, lab):
    period = set_reset_patterns(wg, set_first=False)
    wg.add_sequence(501, "bl", 500)
    wg.add_sequence(502, "sl", 500)
    wg.connect(501)
    wg.connect(502)
    wg.execute()
    (cyc,) = lab.chip.cycles
    assert cyc[4] == 499
    # the first RESET and the last SET are applied by ordinary calls
    assert 0 < len(lab.calls) <= 4 * (2 * RAMP_SUBSTEPS + 2)
    assert lab.g == G_LRS  # the sequence ends with a SET
    assert lab.time == pytest.approx(500 * period)


def measured_set_reset(wg: WGFMU, repeats: int) -> float:
    """``repeats`` SET/RESET periods (:func:`set_reset_patterns`) with one current point at the
    top of each SET, both channels connected; returns the period s."""
    period = set_reset_patterns(wg)
    wg.set_measure_event("bl", "top", 600e-9, 1, 10e-9)
    setup_current(wg, 501, MeasureCurrentRange.MA1)
    wg.add_sequence(501, "bl", repeats)
    wg.add_sequence(502, "sl", repeats)
    wg.connect(501)
    wg.connect(502)
    return period


def test_repeats_with_measurements_are_simulated(wg, lab):
    period = measured_set_reset(wg, 40)
    wg.execute()
    assert lab.chip.cycles == []
    t, i = wg.get_measure_values(501)
    assert len(t) == 40
    assert np.diff(t) == pytest.approx(np.full(39, period))
    assert i == pytest.approx(np.full(40, 2.0 * G_LRS), rel=0.02)  # SET happened each cycle
    assert lab.time == pytest.approx(40 * period)


def test_too_many_repeats_with_measurements_are_refused_not_run(wg, lab):
    measured_set_reset(wg, 10_000_000)
    with pytest.raises(WGFMUError) as info:
        wg.execute()
    assert info.value.code == ErrorCode.LIBRARY and "too many" in info.value.summary
    assert lab.time == 0 and lab.chip.cycles == []  # nothing was applied


# -- pulse programs (the one layout engine, wgfmu_program, loaded by WGFMU.load_program) --------


def test_pulse_program_set_raises_and_reset_lowers_the_read(wg, lab):
    tr, events = bl_sl(), []
    read(tr, events, points=4)  # read only
    pulse(tr, "BL", 2.0, 1e-6)  # SET, then read
    read(tr, events)
    pulse(tr, "SL", 2.0, 500e-9)  # RESET, then read
    read(tr, events)
    pulse(tr, "BL", 1.5, 1e-6, events, points=5)  # sampled over its flat top
    t, v, i = run_program(wg, tr.program(events, EDGE_TICKS))
    assert len(t) == len(v) == len(i) == 4 + 1 + 1 + 5
    assert np.all(np.diff(t) > 0)
    assert v[:6] == pytest.approx([0.1] * 6)
    assert v[6:] == pytest.approx([1.5] * 5)
    g = i[:6] / v[:6]
    assert g[:4] == pytest.approx([G_HRS] * 4, rel=0.05)
    assert g[4] == pytest.approx(G_LRS, rel=0.05)
    assert g[5] == pytest.approx(G_HRS, rel=0.05)
    # the run left both channels disconnected: a new execute has nothing to run
    with pytest.raises(WGFMUError) as info:
        wg.execute()
    assert info.value.code == ErrorCode.CONTEXT


# -- safety and errors ---------------------------------------------------------------------------


def test_limit_refusal_sends_nothing(server, lab):
    limits = SafetyLimits(max_voltage={"BL": 1.5, "SL": 3.0, "WL": 3.0, "SUB": 1.0})
    wg = WGFMU.simulated(server.resource, limits=limits)
    sent: list[str] = []
    original = wg.backend.call

    def spy(function, *args):
        sent.append(function)
        return original(function, *args)

    wg.backend.call = spy
    try:
        wg.open_session("GPIB0::17::INSTR")
        flat_pattern(wg, "hi", 2.0)  # fine on SL, not on BL
        n_sent = len(sent)
        with pytest.raises(LimitError):
            wg.add_sequence(501, "hi", 1)
        tr = bl_sl()
        pulse(tr, "BL", 2.0, 1e-6)
        with pytest.raises(LimitError):
            wg.load_program(tr.program([], EDGE_TICKS), {"BL": 501, "SL": 502})
        assert len(sent) == n_sent
        wg.connect(501)
        with pytest.raises(WGFMUError, match="no sequence"):
            wg.execute()
        assert lab.calls == []
    finally:
        wg.close()


def test_library_errors_raise_with_summary(wg, lab):
    with pytest.raises(WGFMUError) as info:
        wg.add_vector("nope", 10e-9, 0.1)
    assert info.value.code == ErrorCode.PATTERN_NOT_FOUND and "nope" in info.value.summary
    assert wg.get_error_summary() == ""  # read (and cleared) by the exception
    wg.create_pattern("p", 0.0)
    with pytest.raises(WGFMUError) as info:
        wg.create_pattern("p", 0.0)
    assert info.value.code == ErrorCode.PATTERN_ALREADY_EXISTS
    with pytest.raises(WGFMUError) as info:
        wg.set_operation_mode(999, OperationMode.FASTIV)
    assert info.value.code == ErrorCode.CHANNEL_NOT_FOUND
    with pytest.raises(WGFMUError) as info:
        wg.set_operation_mode(501, 1234)
    assert info.value.code == ErrorCode.PARAMETER_OUT_OF_RANGE
    with pytest.raises(WGFMUError) as info:
        wg.wait_until_completed()
    assert info.value.code == ErrorCode.SEQUENCER_NOT_RUNNING
    with pytest.raises(WGFMUError) as info:
        wg.execute()
    assert info.value.code == ErrorCode.CONTEXT and "connected" in str(info.value)
    wg.set_operation_mode(502, OperationMode.PG)
    with pytest.raises(WGFMUError, match="fast I-V"):
        wg.set_measure_mode(502, MeasureMode.CURRENT)
    with pytest.raises(WGFMUError):
        wg.get_measure_values(501, 0, 5)
    assert lab.calls == []


@pytest.mark.parametrize(
    "problem",
    ["event_outside", "events_overlap", "force_range", "smu_mode", "empty_pattern"],
)
def test_execute_validation_errors(wg, lab, problem):
    flat_pattern(wg, "p", 4.0, hold=1e-6)  # 1.2 us
    if problem == "event_outside":
        wg.set_measure_event("p", "e", 1.1e-6, 3, 100e-9)
    elif problem == "events_overlap":
        wg.set_measure_event("p", "e1", 100e-9, 5, 100e-9, 100e-9)
        wg.set_measure_event("p", "e2", 300e-9, 1, 10e-9)
    elif problem == "force_range":
        wg.set_force_voltage_range(501, ForceVoltageRange.V3)
    elif problem == "smu_mode":
        wg.set_operation_mode(501, OperationMode.SMU)
    else:
        wg.create_pattern("empty", 0.0)
        wg.add_sequence(501, "empty", 1)
    wg.add_sequence(501, "p", 1)
    wg.connect(501)
    with pytest.raises(WGFMUError) as info:
        wg.execute()
    assert info.value.code < 0 and info.value.summary
    assert lab.calls == []


def test_raw_protocol_never_crashes(server):
    host, port = server.address
    with socket.create_connection((host, port), timeout=5) as sock:
        f = sock.makefile("rw", newline="\n")

        def ask(line: str) -> str:
            f.write(line + "\n")
            f.flush()
            return f.readline().strip()

        assert ask("createPattern p 0") == "-3"  # no session yet
        assert ask("WGFMU_openSession GPIB0::17::INSTR") == "0"
        for bad in ("bogus 1 2", "createPattern", "createPattern p x", "addVector p 1e-8 1",
                    "createPattern p,q 0", "addSequence 501 nope 1", "getMeasureValues 501 a b",
                    "addVectors p 1e-8,2e-8 0.1", "createPattern p 99", "connect 7",
                    "setMeasureEvent p e 0 1 1e-8 0 5", "\xff\xfe"):
            reply = ask(bad)
            assert int(reply) < 0, bad
        assert ask("createPattern p 0.0") == "0"
        assert ask("addVectors p 1e-07,1e-07 0.5,0.0") == "0"
        assert ask("getChannelIds") == "0 501,502"
        assert ask("getMeasureValueSize 501") == "0 0 0"
        summary = ask("getErrorSummary")
        assert summary.startswith("0 WGFMU_") and "bogus" in summary
        assert ask("getErrorSummary") == "0"
        f.write("\n")  # an empty line gets no reply: the next reply belongs to the next query
        assert ask("getChannelIdSize") == "0 2"


# -- the real simulated lab ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def simlab():
    try:
        from instruments.sim.lab import LabConfig, SimLab
    except ImportError as exc:  # the device model is written by another helper
        pytest.skip(f"SimLab does not import yet: {exc}")
    lab = SimLab(LabConfig(seed=5)).start()
    lab.prober.move_contact()
    yield lab
    lab.stop()


def pulse_then_read(terminal: str, amplitude: float):
    """A 1 us pulse on ``terminal`` then a 0.1 V read (one sample)."""
    tr, events = bl_sl(), []
    pulse(tr, terminal, amplitude, 1e-6)
    read(tr, events)
    return tr.program(events, EDGE_TICKS)


def form_cell(lab, row: int, col: int) -> None:
    """Quasi-static forming of the selected cell through the lab (BL staircase, 100 uA)."""
    lab.selection.array, lab.selection.row, lab.selection.col = "1T1R", row, col
    for k in range(80):
        resp = lab.bias_selected(1.0 + 0.05 * k, 0.0, 1.5, 1e-3, i_comp_bl=100e-6)
        if resp.i_bl > 80e-6:
            break
    lab.bias_selected(0.0, 0.0, 1.5, 1e-3)


def test_real_lab_set_raises_and_reset_lowers_read_current(simlab):
    wg = WGFMU.simulated(simlab.resources()["wgfmu"])
    wg.open_session("GPIB0::17::INSTR")
    ratios = []
    try:
        for col in range(4):
            form_cell(simlab, 6, col)
            for _ in range(3):
                simlab.dc_bias["WL"] = 2.8
                _, _, hrs = run_program(wg, pulse_then_read("SL", 2.4))
                simlab.dc_bias["WL"] = 1.4
                _, _, lrs = run_program(wg, pulse_then_read("BL", 2.0))
                ratios.append(lrs[0] / hrs[0])
                assert 2e-6 < lrs[0] < 50e-6
    finally:
        simlab.dc_bias["WL"] = 0.0
        wg.close()
    ratios = np.array(ratios)
    assert np.median(ratios) > 5
    assert np.all(ratios > 2)


def test_real_lab_open_circuit_when_separated(simlab):
    wg = WGFMU.simulated(simlab.resources()["wgfmu"])
    wg.open_session("GPIB0::17::INSTR")
    simlab.prober.move_separation()
    try:
        simlab.dc_bias["WL"] = 1.4
        tr, events = bl_sl(), []
        pulse(tr, "BL", 0.2, 1e-6, events, points=20)
        _, _, i = run_program(wg, tr.program(events, EDGE_TICKS))
        assert len(i) == 20 and np.all(np.abs(i) < 1e-6)  # noise of the 100 uA range only
    finally:
        simlab.dc_bias["WL"] = 0.0
        simlab.prober.move_contact()
        wg.close()


def test_real_lab_endurance_fast_path_with_a_wl_channel(simlab):
    """1T1R cycling needs a higher WL for RESET than for SET: drive WL from a WGFMU channel."""
    wiring = {501: "BL", 502: "SL", 601: "WL"}
    srv = make_server(simlab, channels=wiring).start()
    wg = WGFMU.simulated(srv.resource, channel_terminals=wiring)
    try:
        wg.open_session("GPIB0::17::INSTR")
        form_cell(simlab, 7, 0)
        chip = simlab.contacted_chip()
        cell = chip.index("1T1R", 7, 0, "BL")
        wear0 = int(chip.pop.wear[cell])
        edge, top, gap = 100e-9, 1e-6, 1e-6
        shapes = {
            "bl": [0, 2.0, 2.0, 0, 0, 0, 0, 0, 0],
            "sl": [0, 0, 0, 0, 0, 2.4, 2.4, 0, 0],
            "wl": [1.4, 1.4, 1.4, 1.4, 2.8, 2.8, 2.8, 2.8, 0],
        }
        times = [edge, top, edge, gap, edge, edge, top, edge, gap]
        for name, volts in shapes.items():
            wg.create_pattern(name, 0.0)
            wg.add_vectors(name, times, volts)
        for ch, name in ((501, "bl"), (502, "sl"), (601, "wl")):
            fast_iv(wg, ch)
            wg.add_sequence(ch, name, 2000)
            wg.connect(ch)
        t0 = simlab.now()
        wg.execute()
        assert simlab.now() - t0 >= 2000 * sum(times)
        assert int(chip.pop.wear[cell]) - wear0 >= 1900
        # ends after a RESET: the cell reads low
        read = chip.bias("1T1R", 7, 0, "BL", 0.1, 0.0, 1.4, 1e-6).i_bl
        lrs_read = 0.1 * 0.5 * 400e-6 * (1.4 - 0.5) ** 2 / 0.7  # rough LRS at WL 1.4
        assert read < 0.5 * lrs_read
    finally:
        wg.close()
        srv.stop()
