"""A level the B1500 rejects stops a DC step before any measurement, with the outputs off
(``CellIO.step_bl``/``step_sl``), read back from the simulated B1500."""

from __future__ import annotations

from dataclasses import replace

import pytest

from instruments.keysight.b1500 import B1500Error
from procedures.operations.cell_io import CellIO

DIE = (9, 9)


def _contacted(bench) -> CellIO:
    bench.prober.step_next_die(*DIE, 0)
    bench.prober.contact()
    io = CellIO(bench)
    io.select("1T1R", 0, 0)
    return io


def _measured_s(bench, t0: float, transfer0: float) -> float:
    """Modeled seconds since ``t0`` that were not command turnaround (integration, sweeps)."""
    return (bench.lab.now() - t0) - (bench.lab.ledger.transfer_s - transfer0)


def _assert_all_off(bench) -> None:
    for ch in bench.b1500.channel_map:
        assert bench.b1500.output_state(ch) is None, f"channel {ch} still forces"


@pytest.mark.parametrize("step", ["step_bl", "step_sl"])
def test_a_level_over_the_smu_range_stops_before_the_measurement(sim_bench, monkeypatch, step):
    io = _contacted(sim_bench)
    b = sim_bench.b1500
    first = getattr(io, step)(0.3, 1.5, 100e-6)  # a good step: the level stays on
    assert first.current == first.current  # a number
    # limits wider than the SMU (100 V): the driver lets 150 V through, the instrument refuses
    wide = replace(b.limits, max_voltage={t: 200.0 for t in b.limits.max_voltage},
                   max_power=1e3)
    monkeypatch.setattr(b, "limits", wide)
    ledger = sim_bench.lab.ledger
    t0, transfer0, lines0 = sim_bench.lab.now(), ledger.transfer_s, ledger.requests["b1500"]
    with pytest.raises(B1500Error) as info:
        getattr(io, step)(150.0, 1.5, 100e-6)
    # nothing measured: no integration on the twin's clock; levels + ERRX? + the safe end
    assert _measured_s(sim_bench, t0, transfer0) == pytest.approx(0.0, abs=1e-9)
    assert ledger.requests["b1500"] - lines0 == 2 + 3  # DV line, ERRX?; DZ, CL, *OPC?
    _assert_all_off(sim_bench)
    message = str(info.value)
    assert "rejected levels" in message and "150 V" in message and "nothing measured" in message


def test_an_output_switched_off_behind_the_steps_back_stops_the_next_step(sim_bench):
    io = _contacted(sim_bench)
    b = sim_bench.b1500
    io.step_bl(0.3, 1.5, 100e-6)
    b.write(f"CL {io.ch_sl}")  # e.g. another client, or the instrument's own protection
    ledger = sim_bench.lab.ledger
    t0, transfer0 = sim_bench.lab.now(), ledger.transfer_s
    with pytest.raises(B1500Error) as info:
        io.step_bl(0.4, 1.5, 100e-6)
    # the instrument dropped BL's DV after SL's error: BL still held 0.3 V, never measured
    assert _measured_s(sim_bench, t0, transfer0) == pytest.approx(0.0, abs=1e-9)
    _assert_all_off(sim_bench)
    assert "rejected levels BL 0.4 V, SL 0 V, WL 1.5 V" in str(info.value)
    b.check_errors()  # the error queue was read: nothing left over for the next block


def test_a_good_step_costs_three_lines_and_leaves_its_level_on(sim_bench):
    io = _contacted(sim_bench)
    io.enable()
    b = sim_bench.b1500
    sent = b.round_trips
    r = io.step_bl(0.5, 1.5, 100e-6)
    assert b.round_trips - sent == 3  # levels, ERRX?, TI: the check moved before TI, no cost
    assert r.voltage == 0.5 and b.output_state(io.ch_bl).level == 0.5
    r = io.step_sl(0.6, 1.5, 100e-6)
    assert r.voltage == -0.6 and b.output_state(io.ch_sl).level == 0.6
    assert b.output_state(io.ch_bl).level == 0.0
    io.off()
