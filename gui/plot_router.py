"""Routes measured rows to the plots and the array map, by the columns they carry.

Live rows arrive one at a time (``results``) or as a dict of lists (``batch results``); rows
of a past run arrive as a DataFrame. Both go through :meth:`PlotRouter.feed_columns`, so a
reopened run draws exactly as it did live.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gui.plots.conductance_plot import ConductancePlot
from gui.plots.iv_plot import IVPlot
from gui.plots.learning_plot import LearningPlot
from gui.plots.pulse_plot import PulsePlot
from gui.widgets.array_map import ArrayMapWidget
from instruments.chip.geometry import N_COLS_1T1R, N_PAIRS_2T2R, N_ROWS


def _col(data: Mapping[str, Any], name: str) -> np.ndarray | None:
    if name not in data:
        return None
    return np.atleast_1d(np.asarray(data[name], dtype=float))


def _cell_text(number: int) -> str:
    """``"row,col"`` of the I-V curve number of a cell (``row * N_COLS_1T1R + col``)."""
    row, col = divmod(int(number), N_COLS_1T1R)
    return f"{row},{col}"


class PlotRouter:
    """Feeds rows to the plots that can show them."""

    def __init__(self, iv: IVPlot, pulse: PulsePlot, conductance: ConductancePlot,
                 learning: LearningPlot, array_map: ArrayMapWidget) -> None:
        self.iv = iv
        self.pulse = pulse
        self.conductance = conductance
        self.learning = learning
        self.array_map = array_map
        self.array = "1T1R"

    def start(self, columns: list[str], array: str = "1T1R") -> None:
        """A run with these data columns begins: clear the plots it will draw on (the others
        keep showing the previous runs); size the array map for its array."""
        self.array = array
        cols = set(columns)
        if "Pulse" in cols or "R_LRS (ohm)" in cols:
            self.conductance.clear()
        if {"Applied V (V)", "Time (s)"} <= cols:
            self.pulse.clear()
        if {"Voltage (V)", "Current (A)"} <= cols and "Time (s)" not in cols:
            self.iv.clear()
            if "Cycle" in cols:
                self.iv.set_key("cycle")
            else:  # forming: one curve per cell, numbered row * N_COLS_1T1R + col
                self.iv.set_key("cell (row,col)", _cell_text)
        if cols & {"Epoch", "Iteration", "Step"}:
            self.learning.clear()
        if "Conductance (S)" in cols and "Pulse" not in cols:
            # a new map: start from an empty array (other runs keep the last map on screen)
            # (same shape: clear only, so the operator's cell selection stays)
            shape, group = (((N_ROWS, 2 * N_PAIRS_2T2R), 2) if array == "2T2R"
                            else ((N_ROWS, N_COLS_1T1R), 1))
            if self.array_map.shape == shape:
                self.array_map.clear()
            else:
                self.array_map.set_shape(*shape, group_cols=group)

    def feed_row(self, row: Mapping[str, Any]) -> None:
        """One live row."""
        self.feed_columns({k: [v] for k, v in row.items()})

    def feed_columns(self, data: Mapping[str, Any]) -> None:
        """Columns of equal length (a batch, or a whole past run)."""
        v = _col(data, "Voltage (V)")
        i = _col(data, "Current (A)")
        rows = _col(data, "Cell row")
        cols = _col(data, "Cell col")
        g = _col(data, "Conductance (S)")
        if g is None:
            g = _col(data, "Read G (S)")
        if v is not None and i is not None and _col(data, "Time (s)") is None:
            cycle = _col(data, "Cycle")
            if cycle is None:  # forming: one curve per cell
                cycle = (rows * N_COLS_1T1R + cols) if rows is not None and cols is not None \
                    else np.zeros_like(v)
            self.iv.add_points(cycle.astype(int), v, i)
        if g is not None and rows is not None and cols is not None:  # maps and programming
            side = _col(data, "Side")
            c = cols * 2 + side if (self.array == "2T2R" and side is not None) else cols
            ok = np.isfinite(g)
            self.array_map.update_cells(rows[ok].astype(int), c[ok].astype(int), g[ok])
        pulse = _col(data, "Pulse")
        if pulse is not None and g is not None:
            kinds = data.get("Kind")
            kind_list = (["set" if k == 1 else "reset" if k == -1 else "read"
                          for k in np.atleast_1d(kinds)] if kinds is not None
                         else ["read"] * len(pulse))
            ok = np.isfinite(g)
            self.conductance.add_points(pulse[ok], g[ok], [k for k, o in zip(kind_list, ok,
                                                                             strict=True) if o])
        r_lrs = _col(data, "R_LRS (ohm)")
        r_hrs = _col(data, "R_HRS (ohm)")
        cycle = _col(data, "Cycle")
        if cycle is not None and r_lrs is not None and r_hrs is not None:  # endurance
            for r, kind in ((r_lrs, "set"), (r_hrs, "reset")):
                ok = np.isfinite(r) & (r > 0)
                self.conductance.add_points(cycle[ok], 1.0 / r[ok], [kind] * int(ok.sum()))
        t = _col(data, "Time (s)")
        applied = _col(data, "Applied V (V)")
        measured = _col(data, "Measured I (A)")
        if t is not None and applied is not None:
            ok = np.isfinite(applied)
            if ok.any():
                self.pulse.set_waveform(t[ok], applied[ok],
                                        measured[ok] if measured is not None else None)
        x = next((c for c in (_col(data, k) for k in ("Iteration", "Step", "Epoch"))
                  if c is not None), None)
        if x is not None:
            for name in data:
                if "accuracy" in name.lower() or "acceptance" in name.lower():
                    y = _col(data, name)
                    if y is not None:
                        ok = np.isfinite(y)
                        self.learning.add_points(name, x[ok], y[ok])

    def show(self) -> None:
        """Draw what was fed (a reopened run) without reducing a long curve on the calling
        (GUI) thread: the I-V plot draws its curves once its worker has reduced them (its
        redraw timer takes the result), the other plots draw now."""
        for w in (self.pulse, self.conductance, self.learning, self.array_map):
            w.flush()

    def flush(self) -> None:
        """Redraw everything now, the I-V reduction included, in the calling thread (tests,
        screenshots, the end of a run)."""
        for w in (self.iv, self.pulse, self.conductance, self.learning, self.array_map):
            w.flush()
