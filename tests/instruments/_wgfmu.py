"""A small test double of the lab for the WGFMU server (a two-state cell whose calls are
recorded) and the set-up every WGFMU test repeats; the fixtures serving it are in
``tests/instruments/conftest.py``."""

from __future__ import annotations

import threading
import types

from instruments.keysight.wgfmu import WGFMU, MeasureCurrentRange, MeasureMode, OperationMode
from instruments.sim.chip import CellResponse

#: S; the fake cell's conductance in HRS / LRS
G_HRS, G_LRS = 10e-6, 100e-6


class FakeChip:
    def __init__(self) -> None:
        self.cycles: list[tuple] = []

    def cycle(self, array, row, col, side, n, set_bias, reset_bias, temperature_k=300.0):
        self.cycles.append((array, row, col, side, n, set_bias, reset_bias))


class FakeLab:
    """What the WGFMU server needs of SimLab: a two-state cell (SET above 1 V, RESET below -1 V)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.dc_bias = {"BL": 0.0, "SL": 0.0, "WL": 1.5, "SUB": 0.0}
        self.selection = types.SimpleNamespace(array="1T1R", row=3, col=4, side="BL")
        self.calls: list[tuple[float, float, float, float]] = []
        self.g = G_HRS
        self.contact = True
        self.chip = FakeChip()
        self.time = 0.0

    def bias_selected(self, v_bl, v_sl, v_wl, duration_s, i_comp_bl=None, i_comp_sl=None):
        self.calls.append((v_bl, v_sl, v_wl, duration_s))
        if not self.contact:
            return None
        if v_bl - v_sl > 1.0:
            self.g = G_LRS
        elif v_sl - v_bl > 1.0:
            self.g = G_HRS
        self.time += duration_s
        return CellResponse(self.g * (v_bl - v_sl), 0.0, None)

    def advance(self, seconds: float) -> None:
        self.time += seconds

    def contacted_chip(self):
        return self.chip if self.contact else None


def setup_current(wg: WGFMU, ch: int, rng: int = MeasureCurrentRange.UA10) -> None:
    """Channel ``ch`` in fast I-V mode measuring current on range ``rng``."""
    wg.set_operation_mode(ch, OperationMode.FASTIV)
    wg.set_measure_mode(ch, MeasureMode.CURRENT)
    wg.set_measure_current_range(ch, rng)


def measured_reads_on(resource: str, repeats: int,
                      rng: int = MeasureCurrentRange.UA100) -> WGFMU:
    """The driver on the WGFMU at ``resource`` (channels 501/502 wired to BL/SL), initialized,
    with ``repeats`` measured 0.1 V reads of 1.2 us queued on channel 501 (one current point
    per read, on range ``rng``: measured, so no fast path, every period is simulated) and the
    channel connected; not executed."""
    wg = WGFMU.simulated(resource, channel_terminals={501: "BL", 502: "SL"})
    wg.open_session("GPIB0::17::INSTR")
    wg.initialize()
    wg.create_pattern("rd", 0.0)
    wg.add_vectors("rd", [100e-9, 1e-6, 100e-9], [0.1, 0.1, 0.0])
    wg.set_measure_event("rd", "e", 500e-9, 1, 100e-9, 100e-9)
    setup_current(wg, 501, rng)
    wg.add_sequence(501, "rd", repeats)
    wg.connect(501)
    return wg
