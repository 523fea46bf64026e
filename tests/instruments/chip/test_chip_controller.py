"""Chip controller: driver wire protocol, simulated server, and the two against each other."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from pymeasure.test import expected_protocol

from instruments.chip.controller import ChipController, ChipControllerError
from instruments.sim import chip_server
from instruments.sim.chip_server import ChipControllerState
from instruments.sim.lab import CellSelection

NO_ERROR = '0,"No error"'
ROW_BITS = "01" * 16


# -- driver, wire level -----------------------------------------------------------------------
def test_select_sends_each_setting_and_checks_errors() -> None:
    pairs = [
        ("ARR:SEL 2T2R", None), ("SYST:ERR?", NO_ERROR),
        ("CELL:SEL 3,5", None), ("SYST:ERR?", NO_ERROR),
        ("CELL:SIDE BLB", None), ("SYST:ERR?", NO_ERROR),
    ]
    with expected_protocol(ChipController, pairs) as chip:
        chip.select("2T2R", 3, 5, "BLB")


def test_rejected_setting_raises_with_the_errors() -> None:
    pairs = [("ARR:SEL 1T1R", None), ("SYST:ERR?", '-222,"Data out of range; column 40"'),
             ("SYST:ERR?", NO_ERROR)]
    with expected_protocol(ChipController, pairs) as chip:
        with pytest.raises(ChipControllerError) as exc:
            chip.array = "1T1R"
    assert exc.value.errors == [(-222, "Data out of range; column 40")]


@pytest.mark.parametrize(
    "args", [("3T3R", 0, 0, "BL"), ("1T1R", 32, 0, "BL"), ("1T1R", 0, -1, "BL"),
             ("2T2R", 0, 0, "SL")],
)
def test_invalid_selection_sends_nothing(args: tuple[str, int, int, str]) -> None:
    with expected_protocol(ChipController, []) as chip:
        with pytest.raises(ValueError):
            chip.select(*args)


def test_readback_of_the_selection() -> None:
    pairs = [("CELL:SEL?", "7,12"), ("ARR:SEL?", "2T2R"), ("CELL:SIDE?", "BLB")]
    with expected_protocol(ChipController, pairs) as chip:
        assert chip.selection() == ("2T2R", 7, 12, "BLB")


def test_pcsa_read_parses_bits_and_reports_open_circuit() -> None:
    pairs = [
        ("PCSA:READ? 4", ROW_BITS),
        ("PCSA:READ? 5", "OPEN"), ("SYST:ERR?", '201,"No die contacted"'),
        ("SYST:ERR?", NO_ERROR),
        ("PCSA:READ? 6", "ERROR"), ("SYST:ERR?", '-222,"Data out of range"'),
        ("SYST:ERR?", NO_ERROR),
    ]
    with expected_protocol(ChipController, pairs) as chip:
        assert chip.pcsa_read(4) == [0, 1] * 16
        with pytest.raises(ChipControllerError, match="open circuit") as exc:
            chip.pcsa_read(5)
        assert exc.value.errors[0][0] == 201
        with pytest.raises(ChipControllerError):
            chip.pcsa_read(6)
        with pytest.raises(ValueError):
            chip.pcsa_read(32)


# -- simulated server, protocol engine --------------------------------------------------------
Selection = CellSelection  # the lab's own record of the routed cell


@dataclass
class ChipLab:
    """The part of SimLab the chip server uses: contact decides whether the PCSA sees a chip."""

    contacted: bool = True
    selection: Selection = field(default_factory=Selection)
    lock: threading.RLock = field(default_factory=threading.RLock)
    reads: list[int] = field(default_factory=list)

    def pcsa_read(self, row: int) -> str | None:
        self.reads.append(row)
        return ROW_BITS if self.contacted else None


def test_server_settings_queries_and_errors() -> None:
    lab = ChipLab()
    s = ChipControllerState(lab)
    assert "chip controller" in s.handle("*IDN?")
    assert s.handle("ARR:SEL 2T2R") is None and lab.selection.array == "2T2R"
    assert s.handle("cell:sel 31,7") is None
    assert s.handle("CELL:SEL?") == "31,7" and s.handle("ARR:SEL?") == "2T2R"
    assert s.handle("CELL:SIDE BLB") is None and s.handle("CELL:SIDE?") == "BLB"
    assert s.handle("SYST:ERR?") == NO_ERROR
    # invalid values: error queued, selection unchanged
    for bad in ("CELL:SEL 32,0", "CELL:SEL 1,x", "CELL:SEL 4", "ARR:SEL 3T3R", "CELL:SIDE SL",
                "BOGUS 1"):
        assert s.handle(bad) is None
    assert lab.selection == Selection("2T2R", 31, 7, "BLB")
    codes = [int(s.handle("SYST:ERR?").split(",")[0]) for _ in range(7)]
    assert codes == [-222, -104, -109, -224, -224, -113, 0]
    assert s.handle("*RST") is None and lab.selection == Selection()


def test_server_pcsa_open_circuit_and_bad_row() -> None:
    lab = ChipLab()
    s = ChipControllerState(lab)
    assert s.handle("PCSA:READ? 3") == ROW_BITS and lab.reads == [3]
    lab.contacted = False
    assert s.handle("PCSA:READ? 3") == "OPEN"
    assert s.handle("SYST:ERR?").startswith("201,")
    assert s.handle("PCSA:READ? 40") == "ERROR"
    assert s.handle("SYST:ERR?").startswith("-222,")
    assert s.handle("PCSA:READ?") == "ERROR"


def test_server_error_queue_overflows_and_clears() -> None:
    s = ChipControllerState(ChipLab())
    for _ in range(15):
        s.handle("CELL:SEL 99,99")
    replies = [s.handle("SYST:ERR?") for _ in range(11)]
    assert replies[8].startswith("-222,") and replies[9].startswith("-350,")
    assert replies[10] == NO_ERROR
    s.handle("BOGUS")
    s.handle("*CLS")
    assert s.handle("SYST:ERR?") == NO_ERROR


# -- driver against the server over TCP (pyvisa-py) -------------------------------------------
@pytest.fixture
def chip_lab() -> Iterator[tuple[ChipLab, ChipController]]:
    lab = ChipLab()
    server = chip_server.make_server(lab).start()
    chip = ChipController(server.resource, visa_library="@py")
    try:
        yield lab, chip
    finally:
        chip.adapter.close()
        server.stop()


def test_driver_against_server(chip_lab: tuple[ChipLab, ChipController]) -> None:
    lab, chip = chip_lab
    assert "chip controller" in chip.id
    chip.select("2T2R", 12, 30, "BLB")
    assert lab.selection == Selection("2T2R", 12, 30, "BLB")
    assert chip.selection() == ("2T2R", 12, 30, "BLB")
    assert chip.pcsa_read(12) == [0, 1] * 16
    lab.contacted = False
    with pytest.raises(ChipControllerError, match="open circuit"):
        chip.pcsa_read(12)
    assert chip.check_errors() == []  # the driver drained the queue
    chip.reset()
    assert chip.selection() == ("1T1R", 0, 0, "BL")


def test_raw_socket_client(chip_lab: tuple[ChipLab, ChipController]) -> None:
    lab, chip = chip_lab
    host, port = chip.adapter.connection.resource_name.split("::")[1:3]
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"CELL:SEL 2,3\r\nCELL:SEL?\n")
        data = b""
        while not data.endswith(b"\n"):
            data += sock.recv(1024)
    assert data == b"2,3\n"


# -- the real simulated lab -------------------------------------------------------------------
def test_with_the_real_simlab() -> None:
    """Prober contact decides whether the chip controller reads a chip (SimLab, two servers)."""
    try:
        from instruments.sim.lab import SimLab
    except ImportError as exc:  # pragma: no cover - depends on modules written elsewhere
        pytest.skip(f"SimLab not importable yet: {exc}")
    from instruments.cascade.velox import VeloxProber
    from instruments.sim import prober_server

    lab = SimLab()
    servers = [prober_server.make_server(lab).start(), chip_server.make_server(lab).start()]
    prober = VeloxProber(servers[0].resource, visa_library="@py", timeout=5000)
    chip = ChipController(servers[1].resource, visa_library="@py")
    try:
        chip.select("2T2R", 5, 9, "BLB")
        assert (lab.selection.array, lab.selection.row, lab.selection.col,
                lab.selection.side) == ("2T2R", 5, 9, "BLB")
        with pytest.raises(ChipControllerError):
            chip.pcsa_read(5)  # separated: open circuit
        step = prober.step_first_die()
        prober.contact()
        assert lab.contacted_chip() is not None
        assert lab.prober.die_under_chuck() == step.die
        bits = chip.pcsa_read(5)
        assert len(bits) == 32 and set(bits) <= {0, 1}
        prober.safe_state()
        with pytest.raises(ChipControllerError):
            chip.pcsa_read(5)
    finally:
        prober.adapter.close()
        chip.adapter.close()
        for server in servers:
            server.stop()
