"""A small test double of the lab for the WGFMU server (a two-state cell whose calls are
recorded) and the set-up every WGFMU test repeats; the fixtures serving it are in
``tests/instruments/conftest.py``."""

from __future__ import annotations

import threading
import types

from instruments.keysight.wgfmu import WGFMU, MeasureCurrentRange, MeasureMode, OperationMode

#: S; the fake cell's conductance in HRS / LRS
G_HRS, G_LRS = 10e-6, 100e-6


class FakeResponse:
    def __init__(self, i_bl: float) -> None:
        self.i_bl = i_bl
        self.v_cell = 0.0
        self.compliance = None


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
        return FakeResponse(self.g * (v_bl - v_sl))

    def advance(self, seconds: float) -> None:
        self.time += seconds

    def contacted_chip(self):
        return self.chip if self.contact else None


def setup_current(wg: WGFMU, ch: int, rng: int = MeasureCurrentRange.UA10) -> None:
    """Channel ``ch`` in fast I-V mode measuring current on range ``rng``."""
    wg.set_operation_mode(ch, OperationMode.FASTIV)
    wg.set_measure_mode(ch, MeasureMode.CURRENT)
    wg.set_measure_current_range(ch, rng)
