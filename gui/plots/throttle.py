"""Redraw throttling shared by the live plots, and the base widget and styling they all use.

Data reach a plot far more often than a screen can show them (a WGFMU train or a fast sweep can
emit thousands of rows a second). Each plot therefore only writes into its numpy buffers and calls
:meth:`RedrawThrottle.mark_dirty`; a :class:`~PyQt6.QtCore.QTimer` ticking at most
:data:`MAX_REDRAW_HZ` times a second calls the redraw callback, and only when something changed.
The timer stops itself after one idle tick, so a quiet plot costs nothing.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QObject, QTimer, pyqtSignal
from PyQt6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

log = logging.getLogger(__name__)

MAX_REDRAW_HZ = 30.0
"""Highest redraw rate a throttle accepts (redraws per second)."""

AXIS_COLOR = "#424242"
TEXT_COLOR = "#212121"
GRID_ALPHA = 0.15

SERIES_COLORS = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
"""Qualitative palette for named series (ten colours distinguishable on white)."""


class RedrawThrottle(QObject):
    """Coalesces change notifications into at most ``max_hz`` redraws a second.

    ``mark_dirty()`` is cheap and may be called for every row. The first call after an idle
    period starts a repeating timer with period ``1 / max_hz``; each tick redraws if something
    changed since the last redraw, otherwise stops the timer. The first redraw therefore comes one
    period after the first change (at most ~33 ms at 30 Hz). An exception raised by the callback
    is logged, not propagated, so a bad row cannot take the main window down.

    A bound-method callback is held weakly (the usual case: a plot owns its throttle), so the
    throttle creates no reference cycle and the plot is freed as soon as it is dropped; freeing
    Qt widgets through Python's cycle collector deletes their graphics items in arbitrary order.
    """

    redrawn = pyqtSignal()
    """Emitted after every redraw (timer or :meth:`flush`)."""

    def __init__(self, redraw: Callable[[], None], max_hz: float = MAX_REDRAW_HZ,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        if not (0 < max_hz <= MAX_REDRAW_HZ):
            raise ValueError(f"max_hz must be in (0, {MAX_REDRAW_HZ:g}], not {max_hz}")
        self._redraw: Callable[[], Callable[[], None] | None]
        if hasattr(redraw, "__self__") and hasattr(redraw, "__func__"):
            self._redraw = weakref.WeakMethod(redraw)
        else:
            self._redraw = lambda: redraw
        self._dirty = False
        self.redraw_count = 0
        """Redraws done so far."""
        self._timer = QTimer(self)
        self._timer.setInterval(math.ceil(1000.0 / max_hz))
        self._timer.timeout.connect(self._on_tick)

    @property
    def interval_ms(self) -> int:
        """Timer period in milliseconds (``ceil(1000 / max_hz)``)."""
        return self._timer.interval()

    @property
    def dirty(self) -> bool:
        """True when a change is waiting to be drawn."""
        return self._dirty

    @property
    def active(self) -> bool:
        """True while the timer runs (a change was marked recently)."""
        return self._timer.isActive()

    def mark_dirty(self) -> None:
        """Note that the data changed; a redraw follows within one timer period."""
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> bool:
        """Redraw now if anything changed; returns whether a redraw happened."""
        if not self._dirty:
            return False
        self._do_redraw()
        return True

    def stop(self) -> None:
        """Stop the timer; pending changes stay marked (a later :meth:`flush` draws them)."""
        self._timer.stop()

    def _on_tick(self) -> None:
        if self._dirty:
            self._do_redraw()
        else:
            self._timer.stop()

    def _do_redraw(self) -> None:
        self._dirty = False
        self.redraw_count += 1
        redraw = self._redraw()
        if redraw is None:  # the owner is gone
            self._timer.stop()
            return
        try:
            redraw()
        except Exception:  # a broken redraw must not kill the GUI (logged with traceback)
            log.exception("live plot redraw failed")
        self.redrawn.emit()


class LivePlotWidget(QWidget):
    """Base of the live plots: a throttle, :meth:`flush`, :meth:`clear` and a redraw hook.

    Subclasses keep their data in :class:`gui.buffers.ColumnBuffer` objects, call
    :meth:`_changed` after writing to them, and implement :meth:`_redraw` (push buffer views into
    existing plot items with ``setData``; never re-read files) and :meth:`clear`.
    """

    def __init__(self, parent: QWidget | None = None, max_hz: float = MAX_REDRAW_HZ) -> None:
        super().__init__(parent)
        self.throttle = RedrawThrottle(self._redraw, max_hz, self)
        self._tracked_views: list[pg.ViewBox] = []
        """Redraw throttle of this plot (``throttle.redraw_count`` counts redraws)."""

    @property
    def redraw_count(self) -> int:
        """Redraws done so far."""
        return self.throttle.redraw_count

    def flush(self) -> None:
        """Draw pending changes now instead of at the next timer tick."""
        self.throttle.flush()

    def clear(self) -> None:  # pragma: no cover - every subclass overrides
        """Drop all data."""
        raise NotImplementedError

    def _changed(self) -> None:
        self.throttle.mark_dirty()

    def _add_single_plot(self) -> pg.PlotItem:
        """Fill this widget with a white layout widget (``self.view``) holding one styled
        :class:`pyqtgraph.PlotItem`, and return the plot."""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.view = make_layout_widget()
        layout.addWidget(self.view)
        plot: pg.PlotItem = self.view.addPlot()
        style_plot(plot)
        return plot

    def _redraw(self) -> None:  # pragma: no cover - every subclass overrides
        """Push the buffers into the plot items (called by the throttle)."""
        raise NotImplementedError

    def _track_view(self, view: pg.ViewBox) -> None:
        """Restore pyqtgraph's off-screen clipping on ``view``'s curves once the user zooms.

        :func:`set_curve_data` turns that clipping off while the view auto-ranges (then it can
        never trigger); a manual zoom must bring it back before the next paint.
        """
        self._tracked_views.append(view)
        view.sigRangeChangedManually.connect(self._on_manual_range)  # bound: held weakly

    def _on_manual_range(self, *_: object) -> None:
        for view in self._tracked_views:
            _restore_range_limit(view)


def _restore_range_limit(view: pg.ViewBox) -> None:
    for item in list(view.addedItems):
        if isinstance(item, pg.PlotDataItem):
            item.setDynamicRangeLimit(DYNAMIC_RANGE_LIMIT)


DYNAMIC_RANGE_LIMIT = 1e6
"""pyqtgraph's default limit (in view heights) beyond which off-screen curve points are clipped."""


def set_curve_data(item: pg.PlotDataItem, x: np.ndarray, y: np.ndarray,
                   all_finite: bool) -> None:
    """``item.setData(x, y)`` without the O(n) scans a live plot does not need.

    * ``all_finite`` (known from :meth:`gui.buffers.ColumnBuffer.all_finite`) skips the curve's
      finite check;
    * while the item's view auto-ranges y, every point is inside the view, so pyqtgraph's
      dynamic-range clipping (which scans the whole data for its bounds on every ``setData``)
      cannot trigger and is switched off; when the user has zoomed, it stays on.

    The bounds the view needs for auto-ranging are still computed, once per paint.
    """
    view = item.getViewBox()
    auto_y = view is None or bool(view.autoRangeEnabled()[1])
    item.setDynamicRangeLimit(None if auto_y else DYNAMIC_RANGE_LIMIT)
    item.setSkipFiniteCheck(bool(all_finite))
    item.setData(x, y)


# -- styling shared by the plots (white background, dark axes) ---------------------------------
def make_layout_widget() -> pg.GraphicsLayoutWidget:
    """A white-background pyqtgraph layout widget."""
    view = pg.GraphicsLayoutWidget()
    view.setBackground("w")
    return view


def style_axis(axis: pg.AxisItem) -> None:
    """Dark axis line and tick labels, readable on white; painted from a pixmap cache.

    An axis (with its grid lines) costs more to paint than a decimated curve; while data
    stream in, the curve's repaint also repaints every axis it overlaps. With Qt's
    device-coordinate cache the axis is re-rendered only when it changes (new ticks, resize).
    """
    axis.setPen(pg.mkPen(AXIS_COLOR))
    axis.setTextPen(pg.mkPen(TEXT_COLOR))
    axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def style_plot(plot: pg.PlotItem, grid: bool = True) -> None:
    """Dark axes and a faint grid on a :class:`pyqtgraph.PlotItem`."""
    for name in ("left", "bottom", "right", "top"):
        style_axis(plot.getAxis(name))
    if grid:
        plot.showGrid(x=True, y=True, alpha=GRID_ALPHA)


def add_legend(plot: pg.PlotItem, offset: tuple[float, float] = (10, 10)) -> pg.LegendItem:
    """A legend with dark text on a translucent white box, anchored at ``offset`` (px)."""
    return plot.addLegend(offset=offset, labelTextColor=TEXT_COLOR,
                          brush=pg.mkBrush(255, 255, 255, 215), pen=pg.mkPen("#bdbdbd"))


def series_color(index: int) -> str:
    """Colour number ``index`` of :data:`SERIES_COLORS` (cycling)."""
    return SERIES_COLORS[index % len(SERIES_COLORS)]


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def format_log_tick(x: float) -> str:
    """Tick text for the value ``x`` on a log axis: plain (``70``, ``0.25``) from 10⁻³ to 10⁴,
    otherwise a power of ten (``10⁻⁹``, ``2·10⁵``)."""
    if not np.isfinite(x) or x == 0:
        return ""
    if 1e-3 <= abs(x) < 1e4:
        return np.format_float_positional(x, precision=3, unique=True, fractional=False,
                                          trim="-")
    exponent = int(np.floor(np.log10(abs(x))))
    mantissa = float(f"{x / 10.0**exponent:.2g}")
    if abs(mantissa) >= 10:
        mantissa /= 10
        exponent += 1
    power = "10" + str(exponent).translate(_SUPERSCRIPT)
    return power if mantissa == 1 else f"{mantissa:g}·{power}"


class LogAxis(pg.AxisItem):
    """Axis whose log-mode ticks read ``70`` or ``10⁻⁹`` instead of ``7·10¹`` (see
    :func:`format_log_tick`), and whose minor ticks are only labelled where labels fit (all of
    2..9, else 2 and 5, else none). In linear mode it is a plain :class:`pyqtgraph.AxisItem`."""

    LABEL_PX = (48, 22)
    """Room one tick label needs along a horizontal / vertical axis (px)."""

    def logTickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        """Tick texts of log-mode tick positions ``values`` (log10 of the data)."""
        horizontal = self.orientation in ("top", "bottom")
        length = self.size().width() if horizontal else self.size().height()
        room = max(1, int(length / self.LABEL_PX[0 if horizontal else 1]))
        mantissas = [round(10.0 ** (float(v) % 1.0), 6) for v in values]
        allowed: tuple[float, ...] | None = None
        if len(values) > room:
            n_125 = sum(m in (1.0, 2.0, 5.0) for m in mantissas)
            allowed = (1.0, 2.0, 5.0) if n_125 <= room else (1.0,)
        return ["" if allowed is not None and m not in allowed
                else format_log_tick(10.0 ** float(v) * scale)
                for v, m in zip(values, mantissas, strict=True)]
