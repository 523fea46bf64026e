"""Learning curves of on-chip training: accuracies and rates versus epoch (or iteration).

Any number of named series (``"task 1"``, ``"test accuracy"``, ``"acceptance rate"``, ...) share
one plot, each with its own colour and a legend entry. Values are fractions (0..1) by default
(set ``y_range=None`` in the config for free scaling).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    series_color,
    set_curve_data,
)


@dataclass
class LearningPlotConfig:
    """Settings of a :class:`LearningPlot`."""

    x_column: str = "Epoch"
    """Row key of the x value in :meth:`LearningPlot.add_rows`; also the x axis label."""
    x_units: str = ""
    """Units of x (empty for a count such as epochs)."""
    y_label: str = "accuracy / rate"
    """Left axis label."""
    y_units: str = ""
    """Units of y (empty for fractions)."""
    y_range: tuple[float, float] | None = (0.0, 1.0)
    """Fixed y range, or ``None`` to follow the data."""
    series_columns: tuple[str, ...] | None = None
    """Columns of :meth:`LearningPlot.add_rows` that are series (default: every other column)."""
    symbol_limit: int = 200
    """Point symbols are drawn while a series has at most this many points."""
    max_points: int | None = None
    """Ring limit (points per series), or ``None`` for unbounded."""
    max_hz: float = MAX_REDRAW_HZ
    """Most redraws per second."""


class _Series:
    def __init__(self, name: str, color: str, max_len: int | None) -> None:
        self.name = name
        self.color = color
        self.buffer = ColumnBuffer(["x", "y"], max_len=max_len)
        self.item = pg.PlotDataItem(pen=pg.mkPen(color, width=1.8), symbol="o", symbolSize=5,
                                    symbolBrush=pg.mkBrush(color), symbolPen=None)
        self.item.setDownsampling(auto=True, method="peak")
        self.item.setClipToView(True)
        self.dirty = True


class LearningPlot(LivePlotWidget):
    """Several named series of y versus epoch/iteration with a legend.

    ``plot`` is the :class:`pyqtgraph.PlotItem`; :meth:`curve` gives a series' item.
    """

    def __init__(self, config: LearningPlotConfig | None = None,
                 parent: QWidget | None = None) -> None:
        self.config = config or LearningPlotConfig()
        super().__init__(parent, self.config.max_hz)
        cfg = self.config
        self._series: dict[str, _Series] = {}

        self.plot = self._add_single_plot()
        self.plot.setLabel("bottom", cfg.x_column, units=cfg.x_units or None)
        self.plot.setLabel("left", cfg.y_label, units=cfg.y_units or None)
        if cfg.y_range is not None:
            self.plot.setYRange(*cfg.y_range, padding=0.02)
            self.plot.enableAutoRange(axis=pg.ViewBox.YAxis, enable=False)
        self.legend = add_legend(self.plot, offset=(-10, -10))
        self._track_view(self.plot.vb)

    # -- data in ------------------------------------------------------------------------------
    def add_point(self, series: str, x: float, y: float) -> None:
        """Add the point ``(x, y)`` to the series ``series`` (created on first use)."""
        self.add_points(series, [x], [y])

    def add_points(self, series: str, xs: ArrayLike, ys: ArrayLike) -> None:
        """Add points to one series; points with a non-finite y are skipped."""
        xs = np.atleast_1d(np.asarray(xs, dtype=float))
        ys = np.atleast_1d(np.asarray(ys, dtype=float))
        if xs.shape != ys.shape or xs.ndim != 1:
            raise ValueError("xs and ys must be 1-D arrays of the same length")
        keep = np.isfinite(ys) & np.isfinite(xs)
        if not keep.any():
            return
        if not keep.all():
            xs, ys = xs[keep], ys[keep]
        entry = self._entry(series)
        entry.buffer.extend({"x": xs, "y": ys})
        entry.dirty = True
        self._changed()

    def add_rows(self, rows: Rows | Mapping[str, Any]) -> None:
        """Add wide rows: ``{x_column: epoch, "test accuracy": 0.91, "task 1": 0.88, ...}``.

        Every column other than ``x_column`` (or only ``series_columns`` when configured) is a
        series; missing or NaN values are skipped.
        """
        cfg = self.config
        if isinstance(rows, Mapping):
            names: Sequence[str] = list(rows)
        else:
            rows = list(rows)
            names = list(dict.fromkeys(key for row in rows for key in row))
        series = [n for n in names if n != cfg.x_column and
                  (cfg.series_columns is None or n in cfg.series_columns)]
        cols = rows_to_columns(rows, [cfg.x_column, *series])
        for name in series:
            self.add_points(name, cols[cfg.x_column], cols[name])

    def clear(self) -> None:
        """Remove every series."""
        for entry in self._series.values():
            self.plot.removeItem(entry.item)
            self.legend.removeItem(entry.item)
        self._series.clear()
        self._changed()

    # -- data out -----------------------------------------------------------------------------
    @property
    def series(self) -> list[str]:
        """Series names, in order of creation."""
        return list(self._series)

    def data(self, series: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` buffered for ``series`` (read-only views)."""
        buf = self._series[series].buffer
        return buf.column("x"), buf.column("y")

    def curve(self, series: str) -> pg.PlotDataItem:
        """The curve item of ``series``."""
        return self._series[series].item

    def color(self, series: str) -> str:
        """Colour of ``series`` (``#rrggbb``)."""
        return self._series[series].color

    # -- internals ----------------------------------------------------------------------------
    def _entry(self, name: str) -> _Series:
        entry = self._series.get(name)
        if entry is None:
            entry = _Series(name, series_color(len(self._series)), self.config.max_points)
            self._series[name] = entry
            self.plot.addItem(entry.item)
            # again after addItem, which applies the PlotItem's own (off) downsampling modes
            entry.item.setDownsampling(auto=True, method="peak")
            entry.item.setClipToView(True)
            self.legend.addItem(entry.item, name)
        return entry

    def _redraw(self) -> None:
        for entry in self._series.values():
            if not entry.dirty:
                continue
            buf = entry.buffer
            if len(buf) > self.config.symbol_limit and entry.item.opts["symbol"] is not None:
                entry.item.setSymbol(None)
            # non-finite points are never stored
            set_curve_data(entry.item, buf.column("x"), buf.column("y"), all_finite=True)
            entry.dirty = False
