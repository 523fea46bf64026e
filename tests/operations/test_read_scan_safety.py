"""The chip controller's scan mode left safe: by the bench's safe state on its own, and by
``ReadScan`` when the controller fails on the way out (read back from the twin's instruments)."""

import pytest

from procedures.operations.cell_io import CellIO, ReadScan


def _trigger_ports(bench) -> dict:
    return bench.lab.servers["b1500"].simulator.trigger_ports


def _arm_a_scan(bench) -> None:
    """What a scan leaves on the bench mid-row: the B1500's triggered sweep set up (its
    trigger output on Ext Trig Out) and the controller armed on a row."""
    bench.b1500.triggered_sweep_setup(1, 0.1, 8, 1e-3, 1e-4)
    bench.chip.scan_start("1T1R", "BL", 0, 0, 0, 7)
    assert _trigger_ports(bench) and bench.chip.scan_state() == "ARMED"


def test_safe_state_clears_the_trigger_output_and_disarms(sim_bench):
    """No capability asked before (a fresh bench): the safe state still finds the scan mode,
    clears TGP and disarms; a later sweep then sends no edge and routes nothing."""
    _arm_a_scan(sim_bench)
    assert sim_bench.safe_state() == []
    assert _trigger_ports(sim_bench) == {}
    assert sim_bench.chip.scan_state() == "IDLE"
    assert all(sim_bench.b1500.output_state(ch) is None for ch in (1, 2, 3))
    sent = sim_bench.lab.trigger_line.sent
    cell = sim_bench.chip.cell
    sim_bench.b1500.enable(1)
    sim_bench.b1500.staircase_sweep(1, 0.0, 0.1, 4, 1e-3)
    sim_bench.b1500.all_off()
    assert sim_bench.lab.trigger_line.sent == sent and sim_bench.chip.cell == cell


def test_safe_state_of_a_bench_without_scan_mode_sends_no_scan_commands(tmp_path):
    from instruments.bench import Bench

    bench = Bench.open("simulated", data_dir=tmp_path, fresh=True,
                       lab_overrides={"chip_scan": False})
    try:
        assert bench.safe_state() == []
        assert bench.chip.check_errors() == []  # no SCAN:ABORT the firmware lacks
    finally:
        bench.close()


def test_read_scan_clears_the_trigger_and_zeroes_bl_when_the_controller_fails(
        sim_bench, monkeypatch):
    sim_bench.prober.step_first_die()
    sim_bench.prober.contact()
    io = CellIO(sim_bench)

    def no_answer() -> None:
        raise ConnectionError("controller does not answer")

    with pytest.raises(ConnectionError, match="does not answer"):
        with ReadScan(io, 0.1, 2.5, trigger_scan=True) as scan:
            assert len(scan.read_run("1T1R", "BL", 0, 0, 7)) == 8
            sim_bench.chip.scan_start("1T1R", "BL", 1, 0, 1, 7)  # armed when it fails
            monkeypatch.setattr(sim_bench.chip, "scan_abort", no_answer)
    # the B1500 side is safe although the disarm failed
    assert _trigger_ports(sim_bench) == {}
    assert sim_bench.lab.dc_bias["BL"] == 0.0
    assert sim_bench.chip.scan_state() == "ARMED"
    monkeypatch.undo()  # the controller answers again: the bench's safe state disarms it
    assert sim_bench.safe_state() == []
    assert sim_bench.chip.scan_state() == "IDLE"
    assert not sim_bench.lab.prober.in_contact


@pytest.mark.parametrize("cols", [(30, 32), (-1, 3)])
def test_a_run_outside_the_array_is_refused_before_anything_is_sent(sim_bench, cols):
    io = CellIO(sim_bench)
    with ReadScan(io, 0.1, 2.5, trigger_scan=True) as scan:
        sent = dict(sim_bench.lab.ledger.requests)
        with pytest.raises(ValueError):
            scan.read_run("1T1R", "BL", 0, *cols)
        assert dict(sim_bench.lab.ledger.requests) == sent  # neither instrument got a line
        assert _trigger_ports(sim_bench) == {} and sim_bench.chip.scan_state() == "IDLE"
        assert len(scan.read_run("1T1R", "BL", 0, 24, 31)) == 8  # the scan still works
    assert _trigger_ports(sim_bench) == {} and sim_bench.chip.scan_state() == "IDLE"


def test_safe_state_reports_a_scan_that_stays_armed(sim_bench, monkeypatch):
    """The disarm is read back (SCAN:STAT?): a controller that ignores SCAN:ABORT is a
    problem of the safe state, not a silent success."""
    _arm_a_scan(sim_bench)
    monkeypatch.setattr(sim_bench.chip, "scan_abort", lambda: None)  # the line is lost
    problems = sim_bench.safe_state()
    assert problems == ["chip: the chip controller's scan is still armed after SCAN:ABORT"]
    assert _trigger_ports(sim_bench) == {}  # the B1500 side was still made safe
    monkeypatch.undo()
    assert sim_bench.safe_state() == [] and sim_bench.chip.scan_state() == "IDLE"
