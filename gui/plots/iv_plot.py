"""Live I-V curves: linear I(V) and log |I|(V) side by side, one curve per cycle.

Cycles are coloured along a colour map (viridis by default) from the oldest visible cycle (dark)
to the newest (bright), older cycles also fade; a colour bar on the right is the key (cycle
number). Only the ``max_cycles`` highest cycle numbers are kept, so the plot stays fast during a
long endurance run. An optional dashed line marks the current compliance.

The log panel plots ``log10(|I| / A)`` computed once when the points arrive (zeros and
non-finite currents become NaN and are simply not drawn); its left axis is in log mode, so
ticks read 10⁻⁶ A etc. Currents are in A, voltages in V.

The GUI thread's work per frame is bounded whatever the sweep's length: points go to a
:class:`gui.plots.curve_reducer.CurveReducer`, whose worker thread keeps every point and reduces
each curve to at most ``max_drawn_points`` (peak-preserving); a redraw only calls ``setData``
with what the last reduction left. Zooming in (a manual range) re-reduces for the visible
voltage window on the worker: every measured point in view is drawn where they fit.
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

from gui.buffers import Rows, rows_to_columns
from gui.plots.curve_reducer import CurveDraw, CurveReducer, Frame
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
    max_drawn_points: int = 4000
    """Most points drawn per panel, all cycles together (each at least 500): beyond it a
    curve is drawn peak-decimated (:class:`gui.buffers.PeakDecimator`: the lowest and highest
    point of each run of consecutive points), so one paint stays within a frame however long
    the sweep. The buffers keep every point (:meth:`IVPlot.data`)."""
    max_hz: float = MAX_REDRAW_HZ
    """Most redraws per second."""


class _Cycle:
    """One cycle's two curves (linear and log panel) and what they show."""

    def __init__(self) -> None:
        self.linear = pg.PlotDataItem()
        self.log = pg.PlotDataItem()
        self.draw: CurveDraw | None = None
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
        self.reducer = CurveReducer(self.config.max_drawn_points, self.config.max_cycles,
                                    self.config.max_points_per_cycle, self.config.max_hz)
        """The data and their reduction (its worker thread does the O(points) work)."""
        self._frames_drawn = 0
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
        self.linear_plot.vb.sigRangeChanged.connect(self._on_range)  # bound: held weakly

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
        """Add points (V in V, I in A); ``cycles`` is one cycle number or one per point.

        O(1) on the calling (GUI) thread beyond the arrays' conversion: the points are reduced
        on the reducer's worker thread and drawn at the next redraw after that."""
        vs = np.atleast_1d(np.asarray(vs, dtype=float))
        currents = np.atleast_1d(np.asarray(is_, dtype=float))
        if vs.shape != currents.shape or vs.ndim != 1:
            raise ValueError("vs and is_ must be 1-D arrays of the same length")
        cyc = np.broadcast_to(np.asarray(cycles), vs.shape).astype(np.int64)
        if vs.size == 0:
            return
        self.reducer.submit(cyc, vs, currents)
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
        self.reducer.clear()
        for c in list(self._cycles):
            self._drop(c)
        self._colors_dirty = True
        self._changed()

    def flush(self) -> None:
        """Reduce what arrived and draw it now, in the calling thread (a test, the end of a
        run), instead of at the worker's next reduction and the next timer tick."""
        self._apply(self.reducer.reduce_now())
        self.throttle.flush()

    # -- data out -----------------------------------------------------------------------------
    @property
    def redraw_count(self) -> int:
        """Redraws done so far: reductions put on screen (a timer tick that only looked for
        the worker's result does not count)."""
        return self._frames_drawn

    def drawn_factor(self, cycle: int) -> int:
        """Points per drawn min/max pair of ``cycle``'s curves as last drawn (1: every point
        in view is drawn)."""
        draw = self._cycles[cycle].draw
        return 1 if draw is None else draw.factor

    @property
    def cycles(self) -> list[int]:
        """Cycle numbers currently kept, ascending (every point added so far counted)."""
        return self.reducer.cycles

    def data(self, cycle: int) -> tuple[np.ndarray, np.ndarray]:
        """``(V in V, I in A)`` kept for ``cycle``, every point (read-only views)."""
        return self.reducer.data(cycle)

    def curves(self, cycle: int) -> tuple[pg.PlotDataItem, pg.PlotDataItem]:
        """The ``(linear, log)`` curve items of ``cycle``."""
        entry = self._cycles[cycle]
        return entry.linear, entry.log

    def cycle_color(self, cycle: int) -> pg.QtGui.QColor:
        """Pen colour of ``cycle``'s curves (after the last redraw)."""
        return self._cycles[cycle].linear.opts["pen"].color()

    # -- internals ----------------------------------------------------------------------------
    def _sync_cycles(self, kept: tuple[int, ...]) -> None:
        """Curve items for exactly the cycles the reducer keeps."""
        for c in [c for c in self._cycles if c not in kept]:
            self._drop(c)
        for c in kept:
            if c not in self._cycles:
                entry = _Cycle()
                self.linear_plot.addItem(entry.linear)
                self.log_plot.addItem(entry.log)
                self._cycles[c] = entry
                self._colors_dirty = True

    def _drop(self, c: int) -> None:
        entry = self._cycles.pop(c)
        self.linear_plot.removeItem(entry.linear)
        self.log_plot.removeItem(entry.log)
        self._colors_dirty = True

    def _redraw(self) -> None:
        frame = self.reducer.take()
        if frame is not None:
            self._apply(frame)
        elif self._colors_dirty:
            self._recolor()
        if self.reducer.busy:  # the worker is still reducing: look again at the next tick
            self.throttle.mark_dirty()

    def _apply(self, frame: Frame) -> None:
        """``setData`` on the curves whose reduction changed (at most the budget each)."""
        self._frames_drawn += 1
        self._sync_cycles(frame.cycles)
        if self._colors_dirty:
            self._recolor()
        for c, entry in self._cycles.items():
            draw = frame.curves.get(c)
            if draw is None or (entry.draw is not None and draw.version == entry.draw.version):
                continue
            entry.draw = draw
            thick = draw.points <= self.config.thick_line_limit
            if thick != entry.thick:
                entry.thick = thick
                self._set_pen(entry)
            set_curve_data(entry.linear, *draw.linear, draw.linear_finite)
            set_curve_data(entry.log, *draw.log, draw.log_finite)

    def _on_range(self, view: pg.ViewBox, ranges: object = None, *_: object) -> None:
        """Zoomed in (x no longer auto-ranging): reduce for the visible voltage window."""
        x_auto = bool(view.autoRangeEnabled()[0])
        self.reducer.set_window(None if x_auto else tuple(view.viewRange()[0]))
        if self.reducer.busy:
            self._changed()

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

