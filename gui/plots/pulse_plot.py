"""The last WGFMU pulse or pulse train: applied V(t) on the left axis, measured I(t) on the right.

The current lives in a second :class:`pyqtgraph.ViewBox` whose x axis is linked to the voltage
panel, so zooming in time moves both while each keeps its own y scale. Time is in s, voltage in V,
current in A; the axes show SI prefixes (ns, µA, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from numpy.typing import ArrayLike
from PyQt6.QtWidgets import QWidget

from gui.buffers import ColumnBuffer, Rows, rows_to_columns
from gui.plots.throttle import (
    MAX_REDRAW_HZ,
    LivePlotWidget,
    add_legend,
    set_curve_data,
    style_axis,
)


@dataclass
class PulsePlotConfig:
    """Settings of a :class:`PulsePlot`."""

    time_column: str = "Time (s)"
    """Row key of the time (s) in :meth:`PulsePlot.add_rows`."""
    voltage_column: str = "Voltage (V)"
    """Row key of the applied voltage (V)."""
    current_column: str = "Current (A)"
    """Row key of the measured current (A)."""
    voltage_color: str = "#1565c0"
    current_color: str = "#d84315"
    max_points: int | None = None
    """Ring limit (points per trace) for streamed rows, or ``None`` for unbounded."""
    max_hz: float = MAX_REDRAW_HZ
    """Most redraws per second."""


class PulsePlot(LivePlotWidget):
    """Applied voltage and measured current of the last pulse (train) versus time.

    ``plot`` is the :class:`pyqtgraph.PlotItem` (voltage, left axis, time axis);
    ``current_view`` the :class:`pyqtgraph.ViewBox` of the current (right axis).
    ``voltage_curve`` and ``current_curve`` are the two curve items.
    """

    def __init__(self, config: PulsePlotConfig | None = None,
                 parent: QWidget | None = None) -> None:
        self.config = config or PulsePlotConfig()
        super().__init__(parent, self.config.max_hz)
        cfg = self.config
        self._v = ColumnBuffer(["t", "v"], max_len=cfg.max_points)
        self._i = ColumnBuffer(["t", "i"], max_len=cfg.max_points)

        self.plot = self._add_single_plot()
        self.plot.setLabel("bottom", "Time", units="s")
        self.plot.setLabel("left", "Applied voltage", units="V", color=cfg.voltage_color)
        self.plot.showAxis("right")
        right = self.plot.getAxis("right")
        style_axis(right)
        right.setLabel("Measured current", units="A", color=cfg.current_color)

        self.current_view = pg.ViewBox()
        self.plot.scene().addItem(self.current_view)
        right.linkToView(self.current_view)
        self.current_view.setXLink(self.plot.vb)
        self.plot.vb.sigResized.connect(self._sync_views)

        self.voltage_curve = pg.PlotDataItem(pen=pg.mkPen(cfg.voltage_color, width=1.8),
                                             name="V applied")
        self.current_curve = pg.PlotDataItem(pen=pg.mkPen(cfg.current_color, width=1.4),
                                             name="I measured")
        self.plot.addItem(self.voltage_curve)
        self.current_view.addItem(self.current_curve)
        # fluid at 1e6 points; after addItem, which applies the PlotItem's own (off) modes
        for curve in (self.voltage_curve, self.current_curve):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
        self.legend = add_legend(self.plot, offset=(-10, 10))  # top right
        self.legend.addItem(self.voltage_curve, "V applied (left)")
        self.legend.addItem(self.current_curve, "I measured (right)")
        self._track_view(self.plot.vb)
        self._track_view(self.current_view)
        self._sync_views()

    # -- data in ------------------------------------------------------------------------------
    def set_waveform(self, t: ArrayLike, v: ArrayLike, i: ArrayLike | None = None,
                     t_i: ArrayLike | None = None) -> None:
        """Replace the shown waveform: times ``t`` (s), voltages ``v`` (V), currents ``i`` (A).

        ``t_i`` gives the current's own sample times when they differ from the voltage's
        (a WGFMU measures at its measure events, not at every pattern point).
        """
        t = np.atleast_1d(np.asarray(t, dtype=float))
        v = np.atleast_1d(np.asarray(v, dtype=float))
        if t.shape != v.shape or t.ndim != 1:
            raise ValueError("t and v must be 1-D arrays of the same length")
        self._v.clear()
        self._i.clear()
        self._v.extend({"t": t, "v": v})
        if i is not None:
            i = np.atleast_1d(np.asarray(i, dtype=float))
            ti = t if t_i is None else np.atleast_1d(np.asarray(t_i, dtype=float))
            if ti.shape != i.shape:
                raise ValueError("current and its times must have the same length")
            self._i.extend({"t": ti, "i": i})
        self._changed()

    def add_rows(self, rows: Rows | Mapping[str, Any]) -> None:
        """Append streamed rows (time, and voltage and/or current) to the shown waveform.

        A dict of arrays may hold only one of the voltage and current columns; rows missing a
        value are not drawn for that trace.
        """
        cfg = self.config
        cols = rows_to_columns(rows, [cfg.time_column, cfg.voltage_column, cfg.current_column])
        t = cols[cfg.time_column]
        for buf, name, key in ((self._v, cfg.voltage_column, "v"),
                               (self._i, cfg.current_column, "i")):
            y = cols[name]
            keep = np.isfinite(y) & np.isfinite(t)
            if keep.any():
                buf.extend({"t": t[keep], key: y[keep]})
        self._changed()

    def clear(self) -> None:
        """Remove the waveform."""
        self._v.clear()
        self._i.clear()
        self._changed()

    # -- data out -----------------------------------------------------------------------------
    def voltage_data(self) -> tuple[np.ndarray, np.ndarray]:
        """``(t in s, V in V)`` buffered (read-only views)."""
        return self._v.column("t"), self._v.column("v")

    def current_data(self) -> tuple[np.ndarray, np.ndarray]:
        """``(t in s, I in A)`` buffered (read-only views)."""
        return self._i.column("t"), self._i.column("i")

    # -- internals ----------------------------------------------------------------------------
    def _sync_views(self) -> None:
        self.current_view.setGeometry(self.plot.vb.sceneBoundingRect())
        self.current_view.linkedViewChanged(self.plot.vb, self.current_view.XAxis)

    def _redraw(self) -> None:
        for buf, curve, key in ((self._v, self.voltage_curve, "v"),
                                (self._i, self.current_curve, "i")):
            set_curve_data(curve, buf.column("t"), buf.column(key),
                           buf.all_finite("t") and buf.all_finite(key))
