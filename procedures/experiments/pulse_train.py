"""Pulse train: identical SET or RESET pulses from the WGFMU, each followed by a read.

For each target cell: a WGFMU read (pulse 0), then ``count`` pulses of ``kind`` (SET:
``amplitude`` on BL, SL 0 V; RESET: ``amplitude`` on SL, BL 0 V) with the word line at ``v_wl``
during each pulse, each followed by a read (``v_read`` on BL, WL ``v_wl_read``) if
``read_each`` (else only after the last pulse). Pulses and reads run as WGFMU sequences of up
to ``PULSES_PER_EXECUTE`` pulses per execute (``REPEATED_PULSES_PER_EXECUTE`` as one repeated
sequence when nothing is measured per pulse); the gate is driven per pulse by the WL channel,
or by the WL SMU on benches without one (see :mod:`procedures.operations.pulsing`).

Rows (a rectangular CSV): one read row per pulse (``Point`` = -1, the read current and
conductance, NaN for a pulse without a read; NaN waveform columns), emitted as one batch per
execute; the read rows also go to the run's HDF5 ``/history`` (G vs pulse per cell). With
``record_waveform`` each pulse's applied V_BL - V_SL and measured BL current,
``waveform_points`` samples from the start of the rise to the end of the fall, go by default
(``waveform_file = "hdf5"``) to the HDF5 file beside the CSV
(:mod:`procedures.framework.waveform_store`, written block by block as measured; key: cell and
``Pulse``; summary ``waveform_file``); the last trace of each block is also emitted as a
display-only batch (``DISPLAY_BATCH``) for the GUI's live pulse plot. ``"csv"`` puts them into
the CSV instead, as ``waveform_points`` rows per pulse (``Point`` 0.., NaN read columns).
``Time (s)`` is the WGFMU time from the start of the cell's train. ``Kind`` is +1 SET, -1 RESET,
0 for the initial read.

Typical levels (physics.md): SET 1.2-2 V on BL with WL 1-1.7 V (the gate sets the compliance
1/2 * 400 uA/V^2 * (V_WL - 0.5)^2); RESET 1.5-2.5 V on SL with WL 2.5-3 V (a low gate starves
the RESET: the transistor's source is then the internal node). Pulses of 1 us need ~0.2 V more
than the quasi-static thresholds.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
)

from instruments.keysight.wgfmu import MeasureCurrentRange
from instruments.limits import SafetyLimits
from procedures.data.extract import finite_or_none, median
from procedures.framework.base import DISPLAY_BATCH
from procedures.framework.waveform_store import WAVEFORMS, waveform_table
from procedures.operations.pulsing import CellPulse, PulsedProcedure, PulseSession, Step

log = logging.getLogger(__name__)

PULSES_PER_EXECUTE = 20
"""Pulses (with their reads) programmed into one WGFMU execute; should_stop between executes."""
REPEATED_PULSES_PER_EXECUTE = 100
"""Pulses per execute (one repeated sequence) when neither reads nor waveforms are taken."""
RESET_GATE_WARNING_V = 2.0
"""V. A RESET train with a gate below this is probably starved by the access transistor."""

NAN = float("nan")


class PulseTrainProcedure(PulsedProcedure):
    """Trains of identical SET or RESET pulses with a read after each (WGFMU)."""

    NAME = "pulse-train"

    kind = ListParameter("Pulse kind", choices=["set", "reset"], default="set")
    amplitude = FloatParameter("Pulse amplitude", units="V", default=1.5, minimum=0.0,
                               maximum=10.0)
    count = IntegerParameter("Pulses", default=10, minimum=1, maximum=1_000_000)
    v_wl = FloatParameter("Word-line voltage during the pulse", units="V", default=1.2,
                          minimum=0.0, maximum=5.0)
    read_each = BooleanParameter("Read after each pulse", default=True)
    record_waveform = BooleanParameter("Record waveforms", default=False)
    waveform_points = IntegerParameter("Waveform points per pulse", default=20, minimum=2,
                                       maximum=1000)
    waveform_file = ListParameter("Waveforms to", choices=["hdf5", "csv"], default="hdf5")

    DATA_COLUMNS = [
        "Cell row", "Cell col", "Pulse", "Kind", "Amplitude (V)", "Gate (V)", "Point",
        "Time (s)", "Applied V (V)", "Measured I (A)", "Read I (A)", "Read G (S)",
    ]
    HISTORY_COLUMNS = ("Cell row", "Cell col", "Pulse", "Kind", "Amplitude (V)", "Gate (V)",
                       "Time (s)", "Read I (A)", "Read G (S)")
    HISTORY_WHERE = {"Point": -1}  # read rows only (CSV waveform rows stay in the CSV)

    # -- configuration ------------------------------------------------------------------------
    def pulse(self) -> CellPulse:
        """The train's pulse."""
        return self.cell_pulse(self.kind, self.amplitude, self.v_wl,
                               points=int(self.waveform_points) if self.record_waveform else 0)

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        try:
            self.pulse().check(limits)
        except ValueError as exc:
            raise type(exc)(f"pulse (amplitude/v_wl/width/rise/fall): {exc}") from None
        if self.kind == "reset" and self.v_wl < RESET_GATE_WARNING_V:
            log.warning("RESET train with the gate at %.2f V: below ~%.1f V the access "
                        "transistor limits the RESET (use v_wl 2.5-3 V)", self.v_wl,
                        RESET_GATE_WARNING_V)

    def hdf5_tables(self) -> list[Any]:
        """The waveform table when waveforms are recorded to HDF5."""
        if self.record_waveform and self.waveform_file == "hdf5":
            return [waveform_table(int(self.waveform_points))]
        return []

    # -- run ----------------------------------------------------------------------------------
    def startup(self) -> None:
        self.g_initial: dict[tuple[int, int], float] = {}
        self.g_final: dict[tuple[int, int], float] = {}
        self.pulses_done: dict[tuple[int, int], int] = {}
        self.v_forms: dict[tuple[int, int], float] = {}
        store = self.store
        self.waves = store if store is not None and WAVEFORMS in store.tables else None

    def execute(self) -> None:
        cells, self.v_forms = self.ready_cells(self.target_cells())
        rng = MeasureCurrentRange.MA1 if self.record_waveform else MeasureCurrentRange.UA100
        total = max(1, len(cells) * int(self.count))
        done = 0
        with self.pulse_session(rng) as session:
            for row, col in cells:
                if self.should_stop():
                    return
                self.io.select(self.array, row, col)
                done = self._train(session, row, col, done, total)
                if done < 0:
                    return

    def _train(self, session: PulseSession, row: int, col: int, done: int, total: int) -> int:
        """Pulse one cell; returns the updated progress count (-1 when stopped)."""
        read = self.read_pulse()
        pulse = self.pulse()
        kind = 1 if self.kind == "set" else -1
        count = int(self.count)
        measured = bool(self.read_each or self.record_waveform)
        data = session.run([read])
        g0 = data.conductance(0, read.v_read)
        self.g_initial[(row, col)] = g0
        self.g_final[(row, col)] = g0
        self.pulses_done[(row, col)] = 0
        t_offset = data.duration
        self._read_rows(row, col, [0], 0, NAN, NAN, [data.steps.get(0)], read.v_read, 0.0)
        n = 0
        while n < count:
            if self.should_stop():
                return -1
            if measured:
                chunk = min(PULSES_PER_EXECUTE, count - n)
                steps: list[Step] = []
                for _ in range(chunk):
                    steps += [pulse, read] if self.read_each else [pulse]
                data = session.run(steps)
            else:  # nothing measured per pulse: one sequence of repeated pulses
                chunk = min(REPEATED_PULSES_PER_EXECUTE, count - n)
                data = session.run([pulse], repeat=chunk)
            per = 2 if self.read_each else 1
            reads = [data.steps.get(per * j + 1) if self.read_each else None
                     for j in range(chunk)]
            final_offset = t_offset + data.duration
            if n + chunk == count and not self.read_each:  # the final read
                final = session.run([read])
                reads[-1] = final.steps.get(0)
            block = []
            for j in range(chunk):
                wave = data.steps.get(per * j) if self.record_waveform else None
                if wave is not None and self.waves is not None:
                    block.append((n + j + 1, wave))
                elif wave is not None:
                    self._wave_rows(row, col, n + j + 1, kind, pulse, wave, t_offset)
            if block:
                self._wave_block(row, col, kind, block, t_offset)
            offsets = [t_offset] * chunk
            if not self.read_each:
                offsets[-1] = final_offset
            self._read_rows(row, col, list(range(n + 1, n + chunk + 1)), kind, pulse.amplitude,
                            pulse.v_wl, reads, read.v_read, offsets)
            last = reads[-1]
            if last is not None:
                self.g_final[(row, col)] = last.current / read.v_read
            t_offset = final_offset
            n += chunk
            self.pulses_done[(row, col)] = n
            done += chunk
            self.progress(done / total)
        return done

    def _read_rows(self, row: int, col: int, numbers: list[int], kind: int, amplitude: float,
                   gate: float, reads: list[Any], v_read: float,
                   t_offset: float | list[float]) -> None:
        """One read row per pulse (NaN read for a pulse without a read), as one batch."""
        m = len(numbers)
        offsets = t_offset if isinstance(t_offset, list) else [t_offset] * m
        current = [rd.current if rd is not None else NAN for rd in reads]
        times = [float(rd.t[0]) + off if rd is not None and rd.t.size else NAN
                 for rd, off in zip(reads, offsets, strict=True)]
        self.emit("batch results", {
            "Cell row": [row] * m, "Cell col": [col] * m, "Pulse": numbers, "Kind": [kind] * m,
            "Amplitude (V)": [amplitude] * m, "Gate (V)": [gate] * m, "Point": [-1] * m,
            "Time (s)": times, "Applied V (V)": [NAN] * m, "Measured I (A)": [NAN] * m,
            "Read I (A)": current, "Read G (S)": [i / v_read for i in current],
        })

    def _wave_rows(self, row: int, col: int, number: int, kind: int, pulse: CellPulse,
                   wave: Any, t_offset: float, topic: str = "batch results") -> None:
        """One pulse's waveform as ``waveform_points`` rows (to the CSV, or display only)."""
        n = int(wave.t.size)
        self.emit(topic, {
            "Cell row": [row] * n, "Cell col": [col] * n, "Pulse": [number] * n,
            "Kind": [kind] * n, "Amplitude (V)": [pulse.amplitude] * n,
            "Gate (V)": [pulse.v_wl] * n, "Point": list(range(n)),
            "Time (s)": [float(x) + t_offset for x in wave.t],
            "Applied V (V)": [float(x) for x in wave.v],
            "Measured I (A)": [float(x) for x in wave.i],
            "Read I (A)": [NAN] * n, "Read G (S)": [NAN] * n,
        })

    def _wave_block(self, row: int, col: int, kind: int, block: list[tuple[int, Any]],
                    t_offset: float) -> None:
        """One execute's waveforms to the HDF5 file (traces padded with NaN to the points)."""
        pts = int(self.waveform_points)

        def arr(values: Any, offset: float = 0.0) -> np.ndarray:
            out = np.full(pts, NAN)
            v = np.asarray(values, dtype=float)[:pts]
            out[:v.size] = v + offset
            return out

        m = len(block)
        self.waves.append(WAVEFORMS, {
            "t": np.stack([arr(w.t, t_offset) for _, w in block]),
            "v": np.stack([arr(w.v) for _, w in block]),
            "i": np.stack([arr(w.i) for _, w in block]),
            "cell_row": np.full(m, row), "cell_col": np.full(m, col),
            "pulse": np.array([number for number, _ in block]), "kind": np.full(m, kind)})
        number, wave = block[-1]  # the live pulse plot shows the latest trace
        self._wave_rows(row, col, number, kind, self.pulse(), wave, t_offset, DISPLAY_BATCH)

    # -- results --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        g0 = np.array(list(getattr(self, "g_initial", {}).values()), dtype=float)
        g1 = np.array(list(getattr(self, "g_final", {}).values()), dtype=float)
        done = getattr(self, "pulses_done", {})
        out: dict[str, Any] = {
            "cells": len(done),
            "n_pulses": int(sum(done.values())),
            "g_initial": finite_or_none(median(g0)),
            "g_final": finite_or_none(median(g1)),
            "cells_formed_first": len(getattr(self, "v_forms", {})),
        }
        waves = getattr(self, "waves", None)
        if waves is not None:  # (the runner adds the same figures when it closes the file)
            out["waveform_file"] = waves.path.name
            out["waveforms"] = waves.counts[WAVEFORMS]
        if g0.size:
            out["g_initial_values"] = [finite_or_none(float(x)) for x in g0]
            out["g_final_values"] = [finite_or_none(float(x)) for x in g1]
        return out


__all__ = ["PULSES_PER_EXECUTE", "REPEATED_PULSES_PER_EXECUTE", "PulseTrainProcedure"]
