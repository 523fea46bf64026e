"""PCSA offsets, in-memory XNOR and popcount: chip model, controller protocol and driver."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.chip.controller import ChipController, ChipControllerError
from instruments.sim import chip_server
from instruments.sim.chip import Chip
from instruments.sim.chip_server import ChipControllerState
from instruments.sim.rram import RRAMParams
from tests.instruments._chip import program_2t2r

P = RRAMParams()

def test_offsets_are_a_few_millivolts_device_to_device_and_reproducible():
    a, b, c = Chip(P, seed=3), Chip(P, seed=3), Chip(P, seed=4)
    assert a.pcsa_offset.shape == (32, 32)
    assert np.array_equal(a.pcsa_offset, b.pcsa_offset)
    assert not np.array_equal(a.pcsa_offset, c.pcsa_offset)
    assert a.pcsa_offset.std() == pytest.approx(P.pcsa_offset_sigma_v, rel=0.1)
    assert abs(a.pcsa_offset.mean()) < 0.5e-3


def test_offset_decides_nearly_equal_pairs_consistently():
    """Two equal conductances: each amplifier outputs its own offset's sign (mostly), whatever
    the input (the offset stays with the amplifier when the input swaps the branches)."""
    chip = Chip(dataclass_replace(pcsa_offset_sigma_v=20e-3), seed=5)
    chip.pop.g[chip.N_1T1R:chip.N_1T1R + 64] = 50e-6
    chip.pop.formed[:] = True
    reads = np.array([chip.pcsa_read(0) for _ in range(20)])
    expected = chip.pcsa_offset[0] > 0
    assert np.mean(reads == expected) > 0.9
    inv = np.array([chip.pcsa_xnor(0, np.zeros(32)) for _ in range(20)])
    assert np.mean(inv == expected) > 0.9


def dataclass_replace(**kw):
    import dataclasses

    return dataclasses.replace(P, **kw)


def test_xnor_and_popcount_on_programmed_rows():
    rng = np.random.default_rng(0)
    bits = rng.random((3, 32)) < 0.5
    chip = Chip(P, seed=6)
    program_2t2r(chip, bits)
    for row in range(3):
        x = rng.random(32) < 0.5
        out = chip.pcsa_xnor(row, x)
        assert np.array_equal(out, ~(bits[row] ^ x))
        assert chip.popcount(row, x) == int(np.sum(~(bits[row] ^ x)))
        assert np.array_equal(chip.pcsa_read(row), bits[row])
        assert chip.popcount(row) == int(bits[row].sum())
    with pytest.raises(ValueError):
        chip.pcsa_xnor(0, [1, 0])


class _Lab:
    def __init__(self) -> None:
        import threading

        from instruments.sim.lab import CellSelection

        self.lock = threading.RLock()
        self.selection = CellSelection()
        self.contacted = True
        self.weights = "01" * 16

    def pcsa_read(self, row: int) -> str | None:
        return self.weights if self.contacted else None

    def pcsa_xnor(self, row: int, inputs: str) -> str | None:
        if not self.contacted:
            return None
        return "".join("1" if a == b else "0" for a, b in zip(self.weights, inputs, strict=True))


def test_protocol_commands_and_errors():
    lab = _Lab()
    s = ChipControllerState(lab)
    ones = "1" * 32
    assert s.handle(f"PCSA:XNOR? 3,{ones}") == lab.weights
    assert s.handle(f"pcsa:xnor? 3,{'0' * 32}") == "10" * 16
    assert s.handle(f"PCSA:POPC? 3,{ones}") == "16"
    assert s.handle("PCSA:POPC? 3") == "16"
    assert s.handle("SYST:ERR?") == '0,"No error"'
    for bad, code in ((f"PCSA:XNOR? 32,{ones}", "-222"), ("PCSA:XNOR? 3", "-109"),
                      ("PCSA:XNOR? 3,0101", "-224"), (f"PCSA:POPC? 3,{'2' * 32}", "-224"),
                      ("PCSA:POPC? x", "-104")):
        assert s.handle(bad) == "ERROR"
        assert s.handle("SYST:ERR?").startswith(code)
    lab.contacted = False
    assert s.handle(f"PCSA:POPC? 3,{ones}") == "OPEN"
    assert s.handle("SYST:ERR?").startswith("201")


def test_driver_xnor_and_popcount_over_the_socket_on_the_simulated_lab():
    from instruments.cascade.velox import VeloxProber
    from instruments.sim import prober_server
    from instruments.sim.lab import SimLab

    lab = SimLab()
    servers = [prober_server.make_server(lab).start(), chip_server.make_server(lab).start()]
    prober = VeloxProber(servers[0].resource, visa_library="@py", timeout=5000)
    ctl = ChipController(servers[1].resource, visa_library="@py")
    try:
        with pytest.raises(ValueError):
            ctl.pcsa_xnor(0, [1] * 31)  # refused before anything is sent
        with pytest.raises(ChipControllerError):
            ctl.popcount(0)  # separated: open circuit
        prober.step_first_die()
        prober.contact()
        chip = lab.contacted_chip()
        bits = np.random.default_rng(1).random((1, 32)) < 0.5
        program_2t2r(chip, bits)
        x = [1] * 16 + [0] * 16
        out = ctl.pcsa_xnor(0, x)
        expect = ~(bits[0] ^ np.array(x, dtype=bool))
        assert out == [int(b) for b in expect]
        assert ctl.popcount(0, x) == int(expect.sum())
        assert ctl.popcount(0) == int(bits[0].sum())
        prober.safe_state()
    finally:
        prober.adapter.close()
        ctl.adapter.close()
        for server in servers:
            server.stop()
