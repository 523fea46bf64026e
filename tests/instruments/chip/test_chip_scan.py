"""Chip controller scan mode: driver wire protocol, the simulated controller's engine, and the
B1500 trigger output stepping it through cells in the real simulated lab."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest
from pymeasure.test import expected_protocol

from instruments.chip.controller import ChipController, ChipControllerError
from instruments.sim.chip_server import ChipControllerState
from instruments.sim.lab import CellSelection as Selection
from instruments.sim.trigger_line import TriggerLine

NO_ERROR = '0,"No error"'


# -- driver, wire level -----------------------------------------------------------------------
def test_scan_start_loads_arms_and_checks_once() -> None:
    pairs = [("SCAN:LOAD 1T1R,BL,3,0,3,31", None), ("SCAN:ARM", None), ("SYST:ERR?", NO_ERROR),
             ("SCAN:COUNT?", "32"), ("SCAN:STAT?", "DONE"), ("SCAN:ABORT", None)]
    with expected_protocol(ChipController, pairs) as chip:
        chip.scan_start("1T1R", "BL", 3, 0, 3, 31)
        assert chip.scan_count() == 32
        assert chip.scan_state() == "DONE"
        chip.scan_abort()


def test_scan_start_refused_raises_with_the_error() -> None:
    pairs = [("SCAN:LOAD 2T2R,BLB,0,0,31,31", None), ("SCAN:ARM", None),
             ("SYST:ERR?", '204,"Scan armed; disarm with SCAN:ABORT first; SCAN:LOAD"'),
             ("SYST:ERR?", '204,"Scan armed; disarm with SCAN:ABORT first; SCAN:ARM"'),
             ("SYST:ERR?", NO_ERROR)]
    with expected_protocol(ChipController, pairs) as chip:
        with pytest.raises(ChipControllerError) as exc:
            chip.scan_start("2T2R", "BLB", 0, 0, 31, 31)
    assert [code for code, _ in exc.value.errors] == [204, 204]


@pytest.mark.parametrize("args", [("3T3R", "BL", 0, 0, 0, 1), ("1T1R", "SL", 0, 0, 0, 1),
                                  ("1T1R", "BL", 0, 0, 32, 0), ("1T1R", "BL", 0, 5, 0, 4),
                                  ("1T1R", "BL", 2, 0, 1, 0)])
def test_invalid_scan_sends_nothing(args: tuple) -> None:
    with expected_protocol(ChipController, []) as chip:
        with pytest.raises(ValueError):
            chip.scan_start(*args)


def test_options_tell_the_scan_mode() -> None:
    with expected_protocol(ChipController, [("*OPT?", "SCAN")]) as chip:
        assert chip.has_scan()
    with expected_protocol(ChipController, [("*OPT?", "0")]) as chip:
        assert not chip.has_scan()
    old_firmware = [("*OPT?", "ERROR"), ("SYST:ERR?", '-113,"Undefined header; *OPT?"'),
                    ("SYST:ERR?", NO_ERROR)]
    with expected_protocol(ChipController, old_firmware) as chip:
        assert chip.options() == ()


def test_bad_count_reply_raises() -> None:
    pairs = [("SCAN:COUNT?", "ERROR"), ("SYST:ERR?", '-113,"Undefined header"'),
             ("SYST:ERR?", NO_ERROR)]
    with expected_protocol(ChipController, pairs) as chip:
        with pytest.raises(ChipControllerError):
            chip.scan_count()


# -- the simulated controller's engine ----------------------------------------------------------
@dataclass
class ScanLab:
    """What the controller uses of the lab: selection, lock, DC settling and a trigger line."""

    selection: Selection = field(default_factory=Selection)
    lock: threading.RLock = field(default_factory=threading.RLock)
    trigger_line: TriggerLine = field(default_factory=TriggerLine)
    settled: int = 0
    routed: list[tuple[int, int]] = field(default_factory=list)

    def settle_dc(self) -> None:
        self.settled += 1

    def pcsa_read(self, row: int) -> str | None:
        return "0" * 32


def _codes(s: ChipControllerState) -> list[int]:
    out = []
    while (reply := s.handle("SYST:ERR?")) != NO_ERROR:
        out.append(int(reply.split(",")[0]))
    return out


def _engine(scan: bool = True) -> tuple[ScanLab, ChipControllerState]:
    lab = ScanLab()
    state = ChipControllerState(lab, scan=scan)
    lab.trigger_line.connect(state.on_trigger)
    lab.trigger_line.connect(lambda t: lab.routed.append((lab.selection.row,
                                                          lab.selection.col)))
    return lab, state


def test_each_edge_routes_the_next_cell_and_is_counted() -> None:
    lab, s = _engine()
    assert s.handle("*OPT?") == "SCAN" and s.handle("SCAN:STAT?") == "IDLE"
    assert s.handle("SCAN:LOAD 2T2R,BLB,4,30,5,31") is None
    assert s.handle("SCAN:LOAD?") == "2T2R,BLB,4,30,5,31"
    assert s.handle("SCAN:ARM") is None and _codes(s) == []
    assert lab.selection == Selection("2T2R", 4, 30, "BLB")  # the first cell at once
    assert s.handle("SCAN:STAT?") == "ARMED" and s.handle("SCAN:COUNT?") == "0"
    for _ in range(4):
        lab.trigger_line.pulse(0.0)
    # row by row: (4,30) (4,31) (5,30) (5,31); the last edge ends the scan on the last cell
    assert lab.routed == [(4, 31), (5, 30), (5, 31), (5, 31)]
    assert s.handle("SCAN:COUNT?") == "4" and s.handle("SCAN:STAT?") == "DONE"
    assert lab.settled >= 3  # held DC levels act on the old cell before each switch
    lab.trigger_line.pulse(0.0)  # an extra edge is counted, nothing switched
    assert s.handle("SCAN:COUNT?") == "5" and lab.selection == Selection("2T2R", 5, 31, "BLB")
    assert s.handle("SCAN:ARM") is None and s.handle("SCAN:COUNT?") == "0"  # re-armed
    assert lab.selection == Selection("2T2R", 4, 30, "BLB")


def test_routing_is_refused_while_armed() -> None:
    lab, s = _engine()
    s.handle("SCAN:LOAD 1T1R,BL,0,0,0,31")
    s.handle("SCAN:ARM")
    for line in ("CELL:SEL 9,9", "ARR:SEL 2T2R", "CELL:SIDE BLB", "BOARD:SEL 1",
                 "SCAN:LOAD 1T1R,BL,1,0,1,31", "SCAN:ARM"):
        assert s.handle(line) is None
    assert _codes(s) == [204] * 6
    assert lab.selection == Selection("1T1R", 0, 0, "BL")
    assert s.handle("SCAN:LOAD?") == "1T1R,BL,0,0,0,31"
    assert s.handle("PCSA:READ? 0") == "0" * 32  # reading does not route: allowed
    assert s.handle("SCAN:ABORT") is None and s.handle("SCAN:STAT?") == "IDLE"
    lab.trigger_line.pulse(0.0)  # disarmed: an edge does nothing
    assert s.handle("SCAN:COUNT?") == "0" and lab.selection.col == 0
    assert s.handle("CELL:SEL 9,9") is None and _codes(s) == []
    assert lab.selection.row == 9


def test_bad_sequences_and_arming_without_one() -> None:
    lab, s = _engine()
    assert s.handle("SCAN:ARM") is None
    for line in ("SCAN:LOAD 3T3R,BL,0,0,0,1", "SCAN:LOAD 1T1R,SL,0,0,0,1",
                 "SCAN:LOAD 1T1R,BL,0,0,32,1", "SCAN:LOAD 1T1R,BL,0,5,0,4",
                 "SCAN:LOAD 1T1R,BL,0,0", "SCAN:LOAD", "SCAN:LOAD 1T1R,BL,a,0,0,1"):
        assert s.handle(line) is None
    assert _codes(s) == [205, -224, -224, -222, -222, -109, -109, -104]
    assert s.handle("SCAN:LOAD?") == "NONE" and s.handle("SCAN:STAT?") == "IDLE"
    s.handle("SCAN:LOAD 1T1R,BL,0,0,0,3")
    s.handle("SCAN:ARM")
    assert s.handle("*RST") is None  # a reset disarms and forgets the sequence
    assert s.handle("SCAN:STAT?") == "IDLE" and s.handle("SCAN:LOAD?") == "NONE"


def test_a_firmware_without_scan_mode() -> None:
    lab, s = _engine(scan=False)
    assert s.handle("*OPT?") == "0"
    assert s.handle("SCAN:LOAD 1T1R,BL,0,0,0,1") is None
    assert s.handle("SCAN:COUNT?") == "ERROR"
    assert _codes(s) == [-113, -113]


def test_a_dropped_edge_is_lost_and_counted_as_dropped() -> None:
    lab, s = _engine()
    s.handle("SCAN:LOAD 1T1R,BL,0,0,0,3")
    s.handle("SCAN:ARM")
    lab.trigger_line.drop(after=1)
    with pytest.raises(ValueError):
        lab.trigger_line.drop(after=-1)
    for _ in range(4):
        lab.trigger_line.pulse(0.0)
    assert lab.trigger_line.sent == 4 and lab.trigger_line.dropped == 1
    assert s.handle("SCAN:COUNT?") == "3" and s.handle("SCAN:STAT?") == "ARMED"
    assert lab.selection.col == 3


# -- the bench's capability -------------------------------------------------------------------
def test_bench_file_can_turn_the_scan_mode_off(tmp_path) -> None:
    from instruments.bench import Bench, load_bench_config

    assert load_bench_config("lab-example").chip_scan is True
    cfg = load_bench_config("simulated")
    assert cfg.chip_scan is True
    cfg.chip_scan = False  # [instruments] chip_scan = false: no trigger cable on this bench
    bench = Bench.open(cfg, data_dir=tmp_path, fresh=True)
    try:
        lines = bench.lab.ledger.requests["chip"]
        assert not bench.capabilities.chip_scan
        assert bench.lab.ledger.requests["chip"] == lines  # the controller is not even asked
        assert bench.chip.has_scan()  # its firmware has it; the bench does not use it
    finally:
        bench.close()
