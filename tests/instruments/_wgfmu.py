"""A small test double of the lab for the WGFMU server (a two-state cell whose calls are
recorded) and the set-up every WGFMU test repeats; the fixtures serving it are in
``tests/instruments/conftest.py``. Pulse programs are laid out with the one engine
(:class:`~instruments.keysight.wgfmu_program.Tracks`: :func:`pulse`, :func:`read`) and run with
:meth:`~instruments.keysight.wgfmu.WGFMU.load_program` (:func:`run_program`)."""

from __future__ import annotations

import contextlib
import threading
import types

import numpy as np

from instruments.keysight.wgfmu import (
    TIME_RESOLUTION,
    WGFMU,
    MeasureCurrentRange,
    MeasureMode,
    OperationMode,
    WGFMUError,
    to_ticks,
)
from instruments.keysight.wgfmu_program import MeasureEvent, Program, Tracks
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


# -- programs of the one layout engine (instruments.keysight.wgfmu_program) ---------------------
EDGE_TICKS = 10
"""10 ns ticks of every edge (100 ns)."""
SETTLE_S = 1e-6
"""s at 0 V before and after a pulse and after a read."""


def pulse(tr: Tracks, terminal: str, amplitude: float, width: float,
          events: list[MeasureEvent] | None = None, points: int = 0) -> None:
    """Lay out on ``tr`` (BL and SL tracks) a pulse of ``amplitude`` (V) on ``terminal`` with a
    ``width`` (s) flat top, 100 ns edges and 1 us at 0 V before and after; ``points`` samples
    spread over the flat top (a measure event appended to ``events``)."""
    settle, flat = to_ticks(SETTLE_S, "settle"), to_ticks(width, "width")
    tr.seg(settle)
    tr.seg(EDGE_TICKS, **{terminal: amplitude})
    top = tr.seg(flat)
    if points:
        assert events is not None
        step = flat // points * TIME_RESOLUTION
        events.append(MeasureEvent(f"m{len(events)}", top * TIME_RESOLUTION, points, step, step))
    tr.seg(EDGE_TICKS, **{terminal: 0.0})
    tr.seg(settle)


def read(tr: Tracks, events: list[MeasureEvent], points: int = 1, v_read: float = 0.1,
         time: float = 1e-6) -> None:
    """Lay out on ``tr`` a read: BL to ``v_read`` (V, SL 0 V) over 100 ns, held ``time`` (s) and
    sampled ``points`` times over its second half (a measure event appended to ``events``),
    back to 0 V, 1 us at 0 V."""
    flat = to_ticks(time, "read time")
    tr.seg(EDGE_TICKS, BL=v_read, SL=0.0)
    start = tr.seg(flat)
    half = flat // 2
    step = (flat - half) // points * TIME_RESOLUTION
    events.append(MeasureEvent(f"m{len(events)}", (start + half) * TIME_RESOLUTION, points,
                               step, step))
    tr.seg(EDGE_TICKS, BL=0.0)
    tr.seg(to_ticks(SETTLE_S, "settle"))


def bl_sl() -> Tracks:
    """Empty BL and SL tracks."""
    return Tracks(("BL", "SL"))


def run_program(wg: WGFMU, program: Program, measure_terminal: str = "BL",
                current_range: int = MeasureCurrentRange.UA100
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``program`` on the BL and SL channels: :meth:`WGFMU.load_program` (limits checked
    before anything is sent), connect, execute, read the measured channel; then, whatever
    happened, abort, disconnect both channels and put them back in SMU mode. Returns (t s,
    programmed V_BL - V_SL at t in V, I in A)."""
    channels = {term: ch for ch, term in wg.channel_terminals.items() if term in ("BL", "SL")}
    wg.load_program(program, channels, measure_terminal=measure_terminal,
                    current_range=current_range)
    try:
        for ch in channels.values():
            wg.connect(ch)
        wg.execute()
        wg.wait_until_completed()
        t, i = wg.get_measure_values(channels[measure_terminal])
    finally:
        with contextlib.suppress(WGFMUError):  # a sequence still running
            wg.abort()
        for ch in channels.values():
            with contextlib.suppress(WGFMUError):
                wg.disconnect(ch)
        wg.smu_mode()
    return t, program.applied(t), i
