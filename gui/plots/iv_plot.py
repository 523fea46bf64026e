"""Live I-V curves: linear I(V) and log |I|(V) side by side, one curve per cycle.

Cycles are coloured along a colour map (viridis by default) from the oldest visible cycle (dark)
to the newest (bright), older cycles also fade; a colour bar on the right is the key (cycle
number). Only the ``max_cycles`` highest cycle numbers are kept, so the plot stays fast during a
long endurance run. An optional dashed line marks the current compliance.

The log panel plots ``log10(|I| / A)`` computed once when the points arrive (zeros and
non-finite currents become NaN and are simply not drawn); its left axis is in log mode, so
ticks read 10⁻⁶ A etc. Currents are in A, voltages in V.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from numpy.typing import ArrayLike
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from gui.buffers import ColumnBuffer, PeakDecimator, Rows, rows_to_columns
from gui.plots.throttle import (
    MAX_REDRAW_HZ,
    LivePlotWidget,
    LogAxis,
    make_layout_widget,
    set_curve_data,
    style_plot,
)

COMPLIANCE_COLOR = "#e53935"


@dataclass
class IVPlotConfig:
    """Settings of an :class:`IVPlot`."""

    voltage_column: str = "Voltage (V)"
    """Row key of the applied voltage (V) in :meth:`IVPlot.add_rows`."""
    current_column: str = "Current (A)"
    """Row key of the measured current (A)."""
    cycle_column: str = "Cycle"
    """Row key of the cycle number; rows without it belong to cycle 0."""
    max_cycles: int = 20
    """Cycles kept and drawn (the highest cycle numbers); older ones are dropped."""
    max_points_per_cycle: int | None = None
    """Ring limit per cycle (points), or ``None`` for unbounded."""
    colormap: str = "viridis"
    """pyqtgraph colour map name for the cycles."""
    colormap_span: tuple[float, float] = (0.0, 0.88)
    """Part of the colour map used (viridis' last yellows are hard to see on white)."""
    min_alpha: int = 80
    """Opacity (0-255) of the oldest visible cycle; the newest is opaque."""
    line_width: float = 1.6
    """Curve width in pixels."""
    thick_line_limit: int = 5000
    """Cycles with more points are drawn 1 px wide (Qt paints wide lines far slower)."""
    max_drawn_points: int = 10_000
    """Most points drawn per panel, all cycles together (each at least 500): beyond it a
    curve is drawn peak-decimated (:class:`gui.buffers.PeakDecimator`: the lowest and highest
    point of each run of consecutive points), so one paint stays within a frame however long
    the sweep. The buffers keep every point (:meth:`IVPlot.data`)."""
    max_hz: float = MAX_REDRAW_HZ
    """Most redraws per second."""


class _Cycle:
    """One cycle's buffer and its two curves (linear and log panel)."""

    def __init__(self, max_len: int | None) -> None:
        self.buffer = ColumnBuffer(["v", "i", "log_abs_i"], max_len=max_len)
        self.linear = pg.PlotDataItem()
        self.log = pg.PlotDataItem()
        self.dirty = True
        self.dec_linear = PeakDecimator(IVPlotConfig.max_drawn_points)
        self.dec_log = PeakDecimator(IVPlotConfig.max_drawn_points)
        self.thick = True
        self.color = pg.mkColor("k")


class IVPlot(LivePlotWidget):
    """Linear and log-|I| I-V panels with one colour-mapped curve per cycle.

    Attributes ``linear_plot`` and ``log_plot`` are the two :class:`pyqtgraph.PlotItem` panels
    (x axes linked), ``colorbar`` the cycle colour key.
    """

    def __init__(self, config: IVPlotConfig | None = None, parent: QWidget | None = None) -> None:
        self.config = config or IVPlotConfig()
        if self.config.max_cycles < 1:
            raise ValueError("max_cycles must be >= 1")
        super().__init__(parent, self.config.max_hz)
        self._cycles: dict[int, _Cycle] = {}
        self._key_label = "cycle"
        self._key_text: Callable[[int], str] = str
        self._colors_dirty = True
        self._compliance: float | None = None
        lo, hi = self.config.colormap_span
        base = pg.colormap.get(self.config.colormap)
        stops = np.linspace(0.0, 1.0, 16)
        self.colormap = pg.ColorMap(stops, base.map(lo + (hi - lo) * stops, mode="byte"))
        """Colour map actually used (the configured span of the named map)."""

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.view = make_layout_widget()
        layout.addWidget(self.view)
        self.linear_plot: pg.PlotItem = self.view.addPlot(row=0, col=0)
        self.log_plot: pg.PlotItem = self.view.addPlot(row=0, col=1,
                                                       axisItems={"left": LogAxis("left")})
        for plot, title in ((self.linear_plot, "I-V"), (self.log_plot, "log |I| - V")):
            style_plot(plot)
            plot.setLabel("bottom", "Voltage", units="V")
            plot.setTitle(title, color="#212121", size="10pt")
        self.linear_plot.setLabel("left", "Current", units="A")
        self.log_plot.setLabel("left", "|Current|", units="A")
        self.log_plot.getAxis("left").setLogMode(True)
        self.log_plot.setXLink(self.linear_plot)
        self._track_view(self.linear_plot.vb)
        self._track_view(self.log_plot.vb)

        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=self.colormap, width=12,
                                        interactive=False, label="cycle", pen="#424242",
                                        colorMapMenu=False)
        axis = self.colorbar.getAxis("left")
        axis.setTextPen(pg.mkPen("#212121"))
        self.colorbar.getAxis("right").setTextPen(pg.mkPen("#212121"))
        self.view.addItem(self.colorbar, row=0, col=2)

        dash = pg.mkPen(COMPLIANCE_COLOR, width=1.2, style=Qt.PenStyle.DashLine)
        label_opts = {"position": 0.08, "color": COMPLIANCE_COLOR, "fill": (255, 255, 255, 200),
                      "anchors": [(0, 1), (0, 1)]}
        self.compliance_lines = (
            pg.InfiniteLine(angle=0, pen=dash, label="", labelOpts=label_opts),
            pg.InfiniteLine(angle=0, pen=dash, label="", labelOpts=label_opts),
        )
        """Compliance markers on the linear and the log panel (hidden until set)."""
        self.linear_plot.addItem(self.compliance_lines[0], ignoreBounds=True)
        self.log_plot.addItem(self.compliance_lines[1], ignoreBounds=True)
        for line in self.compliance_lines:
            line.hide()

    # -- data in ------------------------------------------------------------------------------
    def add_point(self, cycle: int, v: float, i: float) -> None:
        """Add one point: ``v`` in V, ``i`` in A, to cycle ``cycle``."""
        self.add_points(cycle, [v], [i])

    def add_points(self, cycles: int | ArrayLike, vs: ArrayLike, is_: ArrayLike) -> None:
        """Add points (V in V, I in A); ``cycles`` is one cycle number or one per point."""
        vs = np.atleast_1d(np.asarray(vs, dtype=float))
        currents = np.atleast_1d(np.asarray(is_, dtype=float))
        if vs.shape != currents.shape or vs.ndim != 1:
            raise ValueError("vs and is_ must be 1-D arrays of the same length")
        cyc = np.broadcast_to(np.asarray(cycles), vs.shape).astype(np.int64)
        if vs.size == 0:
            return
        with np.errstate(divide="ignore", invalid="ignore"):
            log_abs = np.log10(np.abs(currents))
        log_abs[~np.isfinite(log_abs)] = np.nan
        if np.all(cyc == cyc[0]):
            groups: list[tuple[int, np.ndarray | slice]] = [(int(cyc[0]), slice(None))]
        else:
            groups = [(int(c), cyc == c) for c in np.unique(cyc)]
        for c, sel in groups:
            entry = self._cycle(c)
            if entry is None:
                continue
            entry.buffer.extend({"v": vs[sel], "i": currents[sel], "log_abs_i": log_abs[sel]})
            entry.dirty = True
        self._changed()

    def add_rows(self, rows: Rows | Mapping[str, Any]) -> None:
        """Add rows keyed by the configured column names (see :class:`IVPlotConfig`)."""
        cfg = self.config
        cols = rows_to_columns(rows, [cfg.cycle_column, cfg.voltage_column, cfg.current_column])
        cycles = np.nan_to_num(cols[cfg.cycle_column], nan=0.0)
        self.add_points(cycles, cols[cfg.voltage_column], cols[cfg.current_column])

    def set_compliance(self, i_cc: float | None) -> None:
        """Show the current compliance ``i_cc`` (A) as a dashed line; ``None`` hides it."""
        self._compliance = None if i_cc is None else float(i_cc)
        lin, logl = self.compliance_lines
        if self._compliance is None or self._compliance == 0:
            lin.hide()
            logl.hide()
            return
        text = f"compliance {pg.siFormat(self._compliance, suffix='A')}"
        lin.setValue(self._compliance)
        logl.setValue(float(np.log10(abs(self._compliance))))
        for line in (lin, logl):
            line.show()  # before the text: a hidden label ignores updates
            line.label.setFormat(text)
            line.label.valueChanged()

    def set_key(self, label: str = "cycle", text: Callable[[int], str] = str) -> None:
        """What the curves' numbers are: the colour bar's title (``"cycle"``, ``"cell"``) and
        the text of number ``k`` on it (``str``; e.g. ``"3,4"`` for a cell)."""
        self._key_label, self._key_text = label, text
        self.colorbar.axis.setLabel(label)
        self._colors_dirty = True
        self._changed()

    @property
    def key_label(self) -> str:
        """What the curves are numbered by (the colour bar's title)."""
        return self._key_label

    def key_text(self, number: int) -> str:
        """The colour bar's text for curve number ``number``."""
        return self._key_text(number)

    def clear(self) -> None:
        """Remove every cycle."""
        for c in list(self._cycles):
            self._drop(c)
        self._colors_dirty = True
        self._changed()

    # -- data out -----------------------------------------------------------------------------
    def drawn_factor(self, cycle: int) -> int:
        """Points per drawn min/max pair of ``cycle``'s curves (1: every point is drawn)."""
        return self._cycles[cycle].dec_linear.factor

    @property
    def cycles(self) -> list[int]:
        """Cycle numbers currently kept, ascending."""
        return sorted(self._cycles)

    def data(self, cycle: int) -> tuple[np.ndarray, np.ndarray]:
        """``(V in V, I in A)`` buffered for ``cycle`` (read-only views)."""
        buf = self._cycles[cycle].buffer
        return buf.column("v"), buf.column("i")

    def curves(self, cycle: int) -> tuple[pg.PlotDataItem, pg.PlotDataItem]:
        """The ``(linear, log)`` curve items of ``cycle``."""
        entry = self._cycles[cycle]
        return entry.linear, entry.log

    def cycle_color(self, cycle: int) -> pg.QtGui.QColor:
        """Pen colour of ``cycle``'s curves (after the last redraw)."""
        return self._cycles[cycle].linear.opts["pen"].color()

    # -- internals ----------------------------------------------------------------------------
    def _cycle(self, c: int) -> _Cycle | None:
        """The entry of cycle ``c``, created if needed; ``None`` if ``c`` is too old to keep."""
        entry = self._cycles.get(c)
        if entry is not None:
            return entry
        if len(self._cycles) >= self.config.max_cycles and c < min(self._cycles):
            return None
        entry = _Cycle(self.config.max_points_per_cycle)
        self.linear_plot.addItem(entry.linear)
        self.log_plot.addItem(entry.log)
        self._cycles[c] = entry
        while len(self._cycles) > self.config.max_cycles:
            self._drop(min(self._cycles))
        self._colors_dirty = True
        return entry

    def _drop(self, c: int) -> None:
        entry = self._cycles.pop(c)
        self.linear_plot.removeItem(entry.linear)
        self.log_plot.removeItem(entry.log)

    def _redraw(self) -> None:
        if self._colors_dirty:
            self._recolor()
        budget = max(500, self.config.max_drawn_points // max(1, len(self._cycles)))
        for entry in self._cycles.values():
            if not entry.dirty:
                continue
            buf = entry.buffer
            v = buf.column("v")
            thick = len(buf) <= self.config.thick_line_limit
            if thick != entry.thick:
                entry.thick = thick
                self._set_pen(entry)
            for item, column, dec in ((entry.linear, "i", entry.dec_linear),
                                      (entry.log, "log_abs_i", entry.dec_log)):
                dec.budget = budget
                if buf.dropped:  # a ring buffer: reduce what it holds afresh (bounded)
                    dec.reset()
                x, y = dec.update(v, buf.column(column))
                finite = (buf.all_finite("v") and buf.all_finite(column)) if dec.factor == 1 \
                    else bool(np.isfinite(x).all() and np.isfinite(y).all())
                set_curve_data(item, x, y, finite)
            entry.dirty = False

    def _recolor(self) -> None:
        self._colors_dirty = False
        if not self._cycles:
            self.colorbar.setLevels((0.0, 1.0))
            return
        order = sorted(self._cycles)
        lo, hi = order[0], order[-1]
        span = hi - lo
        n = len(order)
        for rank, c in enumerate(order):
            color = self.colormap.map((c - lo) / span if span else 1.0, mode="qcolor")
            color.setAlpha(255 if n == 1 else
                           round(self.config.min_alpha
                                 + (255 - self.config.min_alpha) * rank / (n - 1)))
            entry = self._cycles[c]
            entry.color = color
            self._set_pen(entry)
            entry.linear.setZValue(rank)
            entry.log.setZValue(rank)
        self.colorbar.setLevels((lo - 0.5, hi + 0.5) if span == 0 else (lo, hi))
        if self._key_text is str:  # cycles: at most ~8 integer ticks
            step = max(1, int(np.ceil((span + 1) / 8)))
            ticks = list(range(lo, hi + 1, step))
        else:  # named curves (cells): ticks only where there is a curve
            ticks = order[::max(1, int(np.ceil(n / 8)))]
        self.colorbar.axis.setTicks([[(float(c), self._key_text(c)) for c in ticks]])

    def _set_pen(self, entry: _Cycle) -> None:
        pen = pg.mkPen(entry.color, width=self.config.line_width if entry.thick else 1)
        entry.linear.setPen(pen)
        entry.log.setPen(pen)

