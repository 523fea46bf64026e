"""Forming as one instrument-side staircase, chained levels, error checks once per block and
round trips counted by the drivers (issue #13), on the simulated bench read back."""

from __future__ import annotations

import pytest

from instruments.keysight.b1500 import B1500Error
from instruments.limits import LimitError
from procedures.experiments.forming import FormingProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run
from procedures.operations.cell_io import CellIO
from procedures.operations.programming import form_cell, set_cell

DIE = (9, 9)
T_INT = 1e-3  #: s, the high-speed ADC's integration time at the B1500's default (AIT 0,1,1)


def _contacted(bench):
    bench.prober.step_next_die(*DIE, 0)
    bench.prober.contact()
    return CellIO(bench)


def _record_lines(b1500, monkeypatch) -> list[str]:
    lines: list[str] = []
    original = b1500.write

    def write(command, **kwargs):
        lines.append(command)
        original(command, **kwargs)

    monkeypatch.setattr(b1500, "write", write)
    return lines


def test_forming_is_one_staircase_that_the_instrument_aborts_at_compliance(sim_bench,
                                                                           monkeypatch):
    io = _contacted(sim_bench)
    io.select("1T1R", 0, 0)
    chip = sim_bench.lab.wafer.chip(*DIE)
    idx = chip.index("1T1R", 0, 0)
    assert not chip.pop.formed[idx]
    io.enable()  # CN and its check, once per bench session
    lines = _record_lines(sim_bench.b1500, monkeypatch)
    ledger = sim_bench.lab.ledger
    t0, transfer0 = sim_bench.lab.now(), ledger.transfer_s
    rows: list[tuple[int, float, bool]] = []
    v_form = form_cell(io, on_step=lambda k, d, v, r: rows.append((d, v, r.compliance)))
    assert v_form is not None and 2.0 < v_form < 3.3 and chip.pop.formed[idx]
    # 7 lines: levels, sweep set-up, ERRX?, XE; ramp-down set-up, ERRX?, XE
    assert len(lines) == 7
    setup = next(line for line in lines if "WV" in line)
    assert "WM 2,1" in setup and "WT 0,0" in setup
    assert sum(line == "XE" for line in lines) == 2
    assert sum(line == "ERRX?" for line in lines) == 2
    # the instrument stopped at the forming step: it is the last measured step, in compliance
    up = [(v, c) for d, v, c in rows if d == 1]
    assert up[-1] == (pytest.approx(v_form), True) and not any(c for _, c in up[:-1])
    assert len(up) < 71  # the programmed staircase 0.5..4.0 V has 71 steps
    down = [v for d, v, _ in rows if d == -1]
    assert down[-1] == 0.0 and max(down) <= 0.5  # from the start value the abort forced
    # modeled time: one integration per measured step, the rest is the lines' turnaround
    steps = len(rows)
    assert (sim_bench.lab.now() - t0) - (ledger.transfer_s - transfer0) == pytest.approx(
        steps * T_INT, rel=1e-6)
    # BL is back at 0 V (read back from the instrument)
    state = sim_bench.b1500.output_state(io.ch_bl)
    assert state is not None and state.level == 0.0
    io.off()


def test_a_cell_that_does_not_form_sees_the_whole_staircase_and_ends_at_0_v(sim_bench):
    io = _contacted(sim_bench)
    io.select("1T1R", 0, 1)
    rows: list[tuple[int, float]] = []
    assert form_cell(io, v_stop=1.5, on_step=lambda k, d, v, r: rows.append((d, v))) is None
    up = [v for d, v in rows if d == 1]
    assert len(up) == 21 and up[-1] == pytest.approx(1.5)
    assert sim_bench.b1500.output_state(io.ch_bl).level == 0.0
    io.off()


def test_run_summary_counts_the_round_trips_the_twin_received(sim_bench, data_root):
    ledger = sim_bench.lab.ledger
    before, trips0 = dict(ledger.requests), sim_bench.round_trips()
    proc = FormingProcedure()
    proc.cells, proc.die = "0,0-3", "9,9"
    catalog = Catalog(data_root)
    outcome = prepare_run(proc, sim_bench, data_root, catalog).run()
    assert outcome.status == "finished", outcome.error
    received = {k: n - before.get(k, 0) for k, n in ledger.requests.items() if k != "wgfmu"}
    # the drivers' count is the lines the B1500, prober and chip servers received
    assert sim_bench.round_trips() - trips0 == sum(received.values())
    # the summary's: the run up to its summary (the safe end after it sends a few more)
    assert 0 < outcome.summary["round_trips"] <= sum(received.values())
    assert catalog.get(outcome.run_id).summary["round_trips"] == outcome.summary["round_trips"]
    # about 20 lines per cell for select, read, staircase and read (positioning aside)
    assert received["b1500"] < 4 * 20
    catalog.close()


def test_chained_levels_are_checked_against_the_limits_before_anything_is_sent(sim_bench):
    io = _contacted(sim_bench)
    io.enable()
    sent = sim_bench.b1500.round_trips
    lines = sim_bench.lab.ledger.requests["b1500"]
    with pytest.raises(LimitError):
        io.set_levels(0.1, 0.0, 99.0, 1e-3)  # WL far beyond the bench limit
    assert sim_bench.b1500.round_trips == sent and sim_bench.lab.ledger.requests["b1500"] == lines
    assert sim_bench.b1500.output_state(io.ch_wl).level == 0.0
    io.off()


def test_an_error_inside_a_block_is_reported_by_the_check_that_ends_it(sim_bench):
    io = _contacted(sim_bench)
    io.enable()
    b = sim_bench.b1500
    with pytest.raises(B1500Error):
        b.force_voltages([(io.ch_bl, 0.1, 1e-3)], v_range=99)  # no such output range
    b.force_voltages([(io.ch_bl, 0.1, 1e-3)], v_range=99, check=False)  # deferred
    with pytest.raises(B1500Error):
        b.check_errors()  # the block's one ERRX? reports it
    b.check_errors()  # the queue is empty again
    io.select("1T1R", 0, 2)
    sent = b.round_trips
    r = set_cell(io, 1.2, 1.5, 100e-6)  # 9 lines (the step's duration kept); the read: 4
    assert b.round_trips - sent == 13  # was 18 with an ERRX? after every DV of the read
    assert r.voltage == 0.1 and b.output_state(io.ch_bl).level == 0.0
    io.off()
