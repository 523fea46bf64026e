"""Wafer-map view: every die of a :class:`~instruments.wafermap.WaferMap` at its true size.

(Longer than ~500 lines on purpose: one widget whose geometry, colouring, route, hover and
keyboard stepping share the die index and plot items.)

The view is drawn in wafer coordinates expressed in **millimetres** (origin at the wafer centre,
x right, y up, notch at ``flat_angle_deg``), so dies are true-size rectangles at their pitch and
the aspect ratio is locked. Dies are painted by one :class:`_DieMapItem` (a single graphics item
for all dies, one brush per colour), which stays fast for a few hundred dies.

Colouring is either by bin (:meth:`WaferMapWidget.set_bins` with a bin table and a legend) or by
a value (:meth:`WaferMapWidget.set_values` with a colour bar; NaN is grey). The widget never moves
the prober: clicks and arrow keys only emit :attr:`~WaferMapWidget.dieClicked`,
:attr:`~WaferMapWidget.dieDoubleClicked` and :attr:`~WaferMapWidget.stepRequested`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QKeyEvent, QPainter, QPen
from PyQt6.QtWidgets import QGraphicsRectItem, QLabel, QVBoxLayout, QWidget

from gui.widgets.pens import cosmetic_pen
from instruments.wafermap import DieIndex, WaferMap, count_yield
from procedures.wafer.palette import (  # the palette shared with the headless PNG maps
    DIE_EDGE_COLOR,
    NAN_COLOR,
    UNKNOWN_BIN_COLOR,
    UNTESTED_COLOR,
    VALUE_COLORMAP,
    VALUE_PERCENTILES,
    value_levels,
)

_ARROW_STEPS: dict[int, tuple[int, int]] = {
    Qt.Key.Key_Left: (-1, 0),
    Qt.Key.Key_Right: (1, 0),
    Qt.Key.Key_Up: (0, -1),  # rows grow downwards on the map
    Qt.Key.Key_Down: (0, 1),
}


@dataclass(frozen=True)
class BinInfo:
    """One entry of a bin table.

    Attributes:
        name: short bin name shown in the legend and hover text.
        passed: True for a passing (good) bin, counted in the yield.
        color: fill colour, ``"#rrggbb"``.
    """

    name: str
    passed: bool
    color: str


def _rgba(color: str | QColor) -> tuple[int, int, int, int]:
    c = pg.mkColor(color)
    return c.red(), c.green(), c.blue(), c.alpha()


class _DieMapItem(pg.GraphicsObject):
    """All dies of the map as filled rectangles (data units: mm), painted in one item."""

    def __init__(self, on_click: Callable[[QPointF, bool], bool]) -> None:
        super().__init__()
        self._on_click = on_click
        self._rects: list[QRectF] = []
        self._groups: list[tuple[QBrush, list[QRectF]]] = []
        self._bounds = QRectF()
        self._pen = QPen(pg.mkColor(DIE_EDGE_COLOR))
        self._pen.setCosmetic(True)
        self._pen.setWidthF(1.0)

    def set_rects(self, rects: list[QRectF]) -> None:
        """Set the die rectangles (mm), in the order used by :meth:`set_colors`."""
        self.prepareGeometryChange()
        self._rects = rects
        bounds = QRectF()
        for r in rects:
            bounds = bounds.united(r)
        self._bounds = bounds
        self._groups = []
        self.update()

    def set_colors(self, rgba: np.ndarray) -> None:
        """Set the fill of every die from an (n, 4) uint8 RGBA array (same order as the rects)."""
        groups: dict[tuple[int, ...], list[QRectF]] = {}
        for rect, colour in zip(self._rects, map(tuple, rgba.tolist()), strict=True):
            groups.setdefault(colour, []).append(rect)
        self._groups = [(QBrush(QColor(*c)), rs) for c, rs in groups.items()]
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._bounds

    def paint(self, p: QPainter, *args) -> None:
        p.setPen(self._pen)
        for brush, rects in self._groups:
            p.setBrush(brush)
            p.drawRects(rects)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if ev.button() == Qt.MouseButton.LeftButton and self._on_click(ev.pos(), ev.double()):
            ev.accept()
        else:
            ev.ignore()


class _KeyFilter(QObject):
    """Routes arrow keys pressed on the graphics view to the wafer-map widget."""

    def __init__(self, handler: Callable[[QKeyEvent], bool]) -> None:
        super().__init__()
        self._handler = handler

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802 - Qt API
        if ev.type() == QEvent.Type.KeyPress and isinstance(ev, QKeyEvent):
            return self._handler(ev)
        return False


class WaferMapWidget(QWidget):
    """Interactive wafer map: outline with notch, edge exclusion, dies coloured by bin or value.

    Coordinates in the plot are wafer millimetres. Die indices are ``(col, row)`` as in
    :class:`~instruments.wafermap.WaferMap` (row 0 at the top). Signals carry ``(col, row)``.
    """

    dieClicked = pyqtSignal(int, int)  # noqa: N815 - Qt naming
    dieDoubleClicked = pyqtSignal(int, int)  # noqa: N815
    stepRequested = pyqtSignal(int, int)  # noqa: N815
    dieHovered = pyqtSignal(int, int)  # noqa: N815

    def __init__(self, wafer_map: WaferMap | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._wm = wafer_map if wafer_map is not None else WaferMap()
        self._index: dict[DieIndex, int] = {}
        self._bins: dict[DieIndex, int] = {}
        self._bin_table: dict[int, BinInfo] = {}
        self._values: dict[DieIndex, float] = {}
        self._value_label = "value"
        self._value_units = ""
        self._value_levels: tuple[float, float] | None = None  # None: percentile auto
        self._value_percentiles = VALUE_PERCENTILES
        self._mode = "none"  # "none" | "bins" | "values"
        self._colors = np.zeros((0, 4), dtype=np.uint8)
        self._current: DieIndex | None = None
        self._selected: DieIndex | None = None
        self._route: list[DieIndex] = []
        self._subsites: list[tuple[str, float, float]] = []
        self._hover_hook: Callable[[int, int], str] | None = None
        self._hovered: DieIndex | None = None
        self._cmap = pg.colormap.get(VALUE_COLORMAP)
        self._build_view()
        self._build_colorbar()
        self._build_items()
        self._build_legend()
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._key_filter = _KeyFilter(self._handle_key)
        self.view.installEventFilter(self._key_filter)
        self.set_wafer_map(self._wm)

    # -- construction -----------------------------------------------------------------------
    def _build_view(self) -> None:
        """The graphics view with the plot (axes in mm) above the status label."""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout.addWidget(self.view, 1)
        self.status_label = QLabel(" ")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status_label)
        self.setFocusProxy(self.view)

        self.plot: pg.PlotItem = self.view.addPlot(row=0, col=0)
        self.plot.setAspectLocked(True)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen("#424242"))
            axis.setTextPen(pg.mkPen("#212121"))
        self.plot.setLabel("bottom", "x", units="mm")
        self.plot.setLabel("left", "y", units="mm")
        for name in ("left", "bottom"):
            self.plot.getAxis(name).enableAutoSIPrefix(False)

    def _build_colorbar(self) -> None:
        """The value colour bar (hidden until values are shown); dragging it sets the levels."""
        self.colorbar = pg.ColorBarItem(
            values=(0.0, 1.0), colorMap=self._cmap, width=18, interactive=True, rounding=1e-12,
            pen="k", hoverPen="r",
        )
        self.colorbar.getAxis("right").setTextPen(pg.mkPen("#212121"))
        self.colorbar.getAxis("left").setTextPen(pg.mkPen("#212121"))
        self.colorbar.sigLevelsChanged.connect(self._on_colorbar_dragged)
        self.view.addItem(self.colorbar, row=0, col=1)
        self.colorbar.hide()

    def _build_items(self) -> None:
        """The plot items, created once and updated in place."""
        self._outline = pg.PlotCurveItem(pen=cosmetic_pen("#212121", 2.0))
        self._exclusion = pg.PlotCurveItem(pen=cosmetic_pen("#e65100", 1.2, Qt.PenStyle.DashLine))
        self._dies = _DieMapItem(self._on_die_click)
        self._route_curve = pg.PlotCurveItem(pen=cosmetic_pen("#1565c0", 1.5))
        self._route_labels: list[pg.TextItem] = []
        self._home_label = pg.TextItem("H", color="#000000", anchor=(0, 0))
        self._home_label.setToolTip("home die")
        self._subsite_item = pg.ScatterPlotItem(
            symbol="o", size=6, pen=pg.mkPen("#000000"), brush=pg.mkBrush("#ffffff")
        )
        self._hover_rect = QGraphicsRectItem()
        self._hover_rect.setPen(cosmetic_pen("#000000", 1.0, Qt.PenStyle.DotLine))
        self._selected_rect = QGraphicsRectItem()
        self._selected_rect.setPen(cosmetic_pen("#1e88e5", 2.5, Qt.PenStyle.DashLine))
        self._current_rect = QGraphicsRectItem()
        self._current_rect.setPen(cosmetic_pen("#d50000", 3.5))
        for z, item in enumerate(
            (self._exclusion, self._dies, self._outline, self._route_curve, self._home_label,
             self._hover_rect, self._selected_rect, self._current_rect, self._subsite_item)
        ):
            item.setZValue(z)
            self.plot.addItem(item)
        for item in (self._hover_rect, self._selected_rect, self._current_rect):
            item.hide()

    def _build_legend(self) -> None:
        """The bin legend (hidden until bins are shown)."""
        self.legend = pg.LegendItem(offset=(-5, 5), labelTextColor="#212121",
                                    brush=pg.mkBrush(255, 255, 255, 220), pen=pg.mkPen("#9e9e9e"))
        self.legend.setParentItem(self.plot.vb)
        self.legend.hide()
        self._legend_labels: dict[int, pg.LabelItem] = {}
        self._legend_samples: list[pg.ScatterPlotItem] = []

    # -- geometry ---------------------------------------------------------------------------
    @property
    def wafer_map(self) -> WaferMap:
        """The wafer map shown."""
        return self._wm

    def set_wafer_map(self, wafer_map: WaferMap) -> None:
        """Show another wafer map; keeps bins/values of dies that still exist."""
        self._wm = wafer_map
        self._index = {d: i for i, d in enumerate(wafer_map.dies)}
        self._colors = np.zeros((len(wafer_map.dies), 4), dtype=np.uint8)
        self._dies.set_rects([self._die_rect(*d) for d in wafer_map.dies])

        r = wafer_map.diameter_mm / 2
        x, y = self._outline_points(r, wafer_map.flat_angle_deg)
        self._outline.setData(x, y)
        t = np.linspace(0, 2 * np.pi, 361)
        re = r - wafer_map.edge_exclusion_mm
        self._exclusion.setData(re * np.cos(t), re * np.sin(t))
        self._exclusion.setVisible(wafer_map.edge_exclusion_mm > 0)

        home = wafer_map.home_die
        rect = self._die_rect(*home)
        self._home_label.setPos(rect.left(), rect.bottom())
        self._home_label.setVisible(home in self._index)

        self._bins = {d: b for d, b in self._bins.items() if d in self._index}
        self._values = {d: v for d, v in self._values.items() if d in self._index}
        if self._current not in self._index:
            self._current = None
        if self._selected not in self._index:
            self._selected = None
        self._route = [d for d in self._route if d in self._index]
        self._refresh_markers()
        self._recolor()
        pad = r * 1.04
        self.plot.setRange(xRange=(-pad, pad), yRange=(-pad, pad), padding=0)

    @staticmethod
    def _outline_points(r: float, flat_angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
        """Wafer edge (mm) as a closed polyline with a V notch at ``flat_angle_deg``."""
        theta = math.radians(flat_angle_deg)
        phi = math.atan2(-math.cos(theta), -math.sin(theta))  # 0 deg -> bottom, 90 -> left
        depth = max(1.0, 0.03 * r)  # drawn a little larger than SEMI's 1 mm for visibility
        half = math.asin(min(depth / r, 0.5))
        arc = np.linspace(phi + half, phi + 2 * np.pi - half, 721)
        tip = (r - depth)
        x = np.concatenate([r * np.cos(arc), [tip * math.cos(phi), r * math.cos(arc[0])]])
        y = np.concatenate([r * np.sin(arc), [tip * math.sin(phi), r * math.sin(arc[0])]])
        return x, y

    def _die_rect(self, col: int, row: int) -> QRectF:
        """Rectangle of die (col, row) in plot coordinates (mm)."""
        cx, cy = self._wm.die_center_um(col, row)
        w, h = self._wm.die_width_um / 1000, self._wm.die_height_um / 1000
        return QRectF(cx / 1000 - w / 2, cy / 1000 - h / 2, w, h)

    def die_center_mm(self, col: int, row: int) -> tuple[float, float]:
        """Centre of die (col, row) in plot coordinates (mm)."""
        cx, cy = self._wm.die_center_um(col, row)
        return cx / 1000, cy / 1000

    def die_scene_pos(self, col: int, row: int) -> QPointF:
        """Scene position of the centre of die (col, row)."""
        return self.plot.vb.mapViewToScene(QPointF(*self.die_center_mm(col, row)))

    def die_at_scene_pos(self, pos: QPointF) -> DieIndex | None:
        """Die (col, row) under a scene position, or None off the map."""
        p = self.plot.vb.mapSceneToView(pos)
        return self._wm.die_at_um(p.x() * 1000, p.y() * 1000)

    # -- current / selected / route / subsites ----------------------------------------------
    @property
    def current_die(self) -> DieIndex | None:
        """The die the prober is on (as told by :meth:`set_current_die`)."""
        return self._current

    @property
    def selected_die(self) -> DieIndex | None:
        """The die selected by the operator (as told by :meth:`set_selected_die`)."""
        return self._selected

    def set_current_die(self, col: int | None, row: int | None = None) -> None:
        """Highlight the die the prober is on (thick outline); ``None`` clears it."""
        self._current = None if col is None or row is None else (int(col), int(row))
        self._refresh_markers()

    def set_selected_die(self, col: int | None, row: int | None = None) -> None:
        """Mark a selected die (dashed outline); ``None`` clears it."""
        self._selected = None if col is None or row is None else (int(col), int(row))
        self._refresh_markers()

    def set_route(self, route: Iterable[DieIndex], numbers: bool = False) -> None:
        """Show the visiting order as a polyline through die centres, optionally numbered."""
        self._route = [(int(c), int(r)) for c, r in route]
        pts = np.array([self.die_center_mm(c, r) for c, r in self._route], dtype=float)
        if len(pts):
            self._route_curve.setData(pts[:, 0], pts[:, 1])
        else:
            self._route_curve.setData([], [])
        n = len(self._route) if numbers else 0
        while len(self._route_labels) < n:
            label = pg.TextItem("", color="#0d47a1", anchor=(0.5, 0.5))
            label.setZValue(4)
            self.plot.addItem(label)
            self._route_labels.append(label)
        for i, label in enumerate(self._route_labels):
            if i < n:
                label.setText(str(i + 1))
                label.setPos(*pts[i])
                label.show()
            else:
                label.hide()

    @property
    def route(self) -> list[DieIndex]:
        """The route shown, in order."""
        return list(self._route)

    def set_subsites(self, subsites: Sequence[tuple[str, float, float]]) -> None:
        """Subsites of the current die as ``(label, dx_um, dy_um)`` from the die centre."""
        self._subsites = [(str(n), float(dx), float(dy)) for n, dx, dy in subsites]
        self._refresh_markers()

    def _refresh_markers(self) -> None:
        for rect_item, die in ((self._current_rect, self._current),
                               (self._selected_rect, self._selected)):
            if die is None:
                rect_item.hide()
            else:
                rect_item.setRect(self._die_rect(*die))
                rect_item.show()
        if self._current is not None and self._subsites:
            cx, cy = self.die_center_mm(*self._current)
            self._subsite_item.setData(
                x=[cx + dx / 1000 for _, dx, _ in self._subsites],
                y=[cy + dy / 1000 for _, _, dy in self._subsites],
                data=[n for n, _, _ in self._subsites],
            )
        else:
            self._subsite_item.setData(x=[], y=[])

    # -- colouring --------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """What colours the dies: ``"none"``, ``"bins"`` or ``"values"``."""
        return self._mode

    def set_bin_table(self, table: Mapping[int, tuple[str, bool, str] | BinInfo]) -> None:
        """Set the bins: ``{code: (name, pass, "#rrggbb")}``; rebuilds the legend."""
        self._bin_table = {
            int(code): info if isinstance(info, BinInfo) else BinInfo(str(info[0]),
                                                                      bool(info[1]), info[2])
            for code, info in table.items()
        }
        self.legend.clear()
        self._legend_labels.clear()
        self._legend_samples = []
        for code, info in sorted(self._bin_table.items()):
            sample = pg.ScatterPlotItem(symbol="s", size=12, pen=pg.mkPen(DIE_EDGE_COLOR),
                                        brush=pg.mkBrush(info.color))
            self._legend_samples.append(sample)
            self.legend.addItem(sample, f"{code} {info.name}")
            self._legend_labels[code] = self.legend.items[-1][1]
        if self._mode == "bins":
            self._recolor()

    def set_bins(self, bins: Mapping[DieIndex, int]) -> None:
        """Colour dies by bin code (replaces all bins); switches to bin colouring."""
        self._bins = {(int(c), int(r)): int(b) for (c, r), b in bins.items()
                      if (int(c), int(r)) in self._index}
        self._mode = "bins"
        self._recolor()

    def set_die_bin(self, col: int, row: int, code: int | None) -> None:
        """Set (or clear with None) the bin of one die, e.g. as a wafer run progresses."""
        if (col, row) not in self._index:
            return
        if code is None:
            self._bins.pop((col, row), None)
        else:
            self._bins[(col, row)] = int(code)
        self._mode = "bins"
        self._recolor()

    def bins(self) -> dict[DieIndex, int]:
        """Current bin codes by die."""
        return dict(self._bins)

    def set_values(self, values: Mapping[DieIndex, float], label: str = "value",
                   units: str = "", levels: tuple[float, float] | None = None) -> None:
        """Colour dies by a value (NaN = grey), with a colour bar labelled ``label (units)``.

        ``levels=None`` keeps manual levels if set with :meth:`set_value_levels`, else uses the
        2nd-98th percentile of the finite values.
        """
        self._values = {(int(c), int(r)): float(v) for (c, r), v in values.items()
                        if (int(c), int(r)) in self._index}
        self._value_label, self._value_units = label, units
        if levels is not None:
            self._value_levels = (float(levels[0]), float(levels[1]))
        text = f"{label} ({units})" if units else label
        self.colorbar.getAxis("left").setLabel(text)
        self._mode = "values"
        self._recolor()

    def values(self) -> dict[DieIndex, float]:
        """Current values by die."""
        return dict(self._values)

    def set_value_levels(self, low: float | None, high: float | None = None) -> None:
        """Fix the value colour scale to [low, high]; ``None`` returns to percentile levels."""
        if low is None or high is None:
            self._value_levels = None
        else:
            self._value_levels = (float(min(low, high)), float(max(low, high)))
        if self._mode == "values":
            self._recolor()

    def set_value_percentiles(self, low: float = 2.0, high: float = 98.0) -> None:
        """Percentiles used for automatic value levels (default 2-98)."""
        self._value_percentiles = (float(low), float(high))
        if self._mode == "values":
            self._recolor()

    def value_levels(self) -> tuple[float, float]:
        """Colour-scale limits in use for values (manual or percentile)."""
        if self._value_levels is not None:
            return self._value_levels
        return value_levels(self._values.values(), self._value_percentiles)

    def clear_values(self) -> None:
        """Drop the value colouring; back to bins if any, else untested colours."""
        self._values = {}
        self._mode = "bins" if self._bins else "none"
        self._recolor()

    def clear_bins(self) -> None:
        """Drop all bins."""
        self._bins = {}
        if self._mode == "bins":
            self._mode = "none"
        self._recolor()

    def die_colors(self) -> np.ndarray:
        """Fill colour of every die as an (n, 4) uint8 RGBA array, in ``wafer_map.dies`` order."""
        return self._colors.copy()

    def die_color(self, col: int, row: int) -> QColor:
        """Fill colour of one die."""
        return QColor(*(int(v) for v in self._colors[self._index[(col, row)]]))

    def yield_counts(self) -> tuple[int, int]:
        """``(passing dies, binned dies)`` from the bins and the bin table."""
        passing = {c for c, info in self._bin_table.items() if info.passed}
        y = count_yield(self._bins, self._bins, passing)
        return y.passed, y.tested

    def _recolor(self) -> None:
        n = len(self._wm.dies)
        colors = np.empty((n, 4), dtype=np.uint8)
        colors[:] = _rgba(UNTESTED_COLOR)
        if self._mode == "bins":
            cache: dict[int, tuple[int, int, int, int]] = {}
            for die, code in self._bins.items():
                if code not in cache:
                    info = self._bin_table.get(code)
                    cache[code] = _rgba(info.color if info else UNKNOWN_BIN_COLOR)
                colors[self._index[die]] = cache[code]
        elif self._mode == "values" and self._values:
            idx = np.fromiter((self._index[d] for d in self._values), dtype=int)
            vals = np.fromiter(self._values.values(), dtype=float)
            lo, hi = self.value_levels()
            finite = np.isfinite(vals)
            norm = np.clip((vals[finite] - lo) / (hi - lo), 0.0, 1.0)
            colors[idx[finite]] = self._cmap.map(norm, mode="byte")
            colors[idx[~finite]] = _rgba(NAN_COLOR)
            self.colorbar.blockSignals(True)
            self.colorbar.rounding = 10 ** math.floor(math.log10(hi - lo)) / 100
            self.colorbar.setLevels((lo, hi))
            self.colorbar.blockSignals(False)
        self._colors = colors
        self._dies.set_colors(colors)
        self.colorbar.setVisible(self._mode == "values")
        self.legend.setVisible(self._mode == "bins" and bool(self._bin_table))
        self._update_summary()

    def _update_summary(self) -> None:
        if self._mode == "bins":
            counts: dict[int, int] = {}
            for b in self._bins.values():
                counts[b] = counts.get(b, 0) + 1
            for code, label in self._legend_labels.items():
                info = self._bin_table[code]
                label.setText(f"{code} {info.name}: {counts.get(code, 0)}")
            n_pass, n = self.yield_counts()
            title = f"yield {100 * n_pass / n:.1f} % ({n_pass}/{n})" if n else ""
            self.plot.setTitle(title, color="#212121", size="10pt")
        elif self._mode == "values":
            finite = [v for v in self._values.values() if math.isfinite(v)]
            med = f", median {np.median(finite):.4g} {self._value_units}" if finite else ""
            self.plot.setTitle(f"{self._value_label}: {len(finite)} dies{med}",
                               color="#212121", size="10pt")
        else:
            self.plot.setTitle(f"{len(self._wm.dies)} dies", color="#212121", size="10pt")

    def _on_colorbar_dragged(self, bar: pg.ColorBarItem) -> None:
        lo, hi = bar.levels()
        self._value_levels = (float(lo), float(hi))
        if self._mode == "values":
            self._recolor()

    # -- hover ------------------------------------------------------------------------------
    def set_hover_hook(self, hook: Callable[[int, int], str] | None) -> None:
        """Extra hover text for a die: ``hook(col, row) -> str`` (appended as more lines)."""
        self._hover_hook = hook

    def hover_text(self, col: int, row: int) -> str:
        """Text shown when hovering die (col, row): index, position, bin, value."""
        x, y = self.die_center_mm(col, row)
        lines = [f"die ({col},{row})   x = {x:.2f} mm, y = {y:.2f} mm"]
        if (col, row) == self._wm.home_die:
            lines[0] += "   [home]"
        code = self._bins.get((col, row))
        if code is not None:
            info = self._bin_table.get(code)
            if info is None:
                lines.append(f"bin {code}")
            else:
                verdict = "good die" if info.passed else "reject"
                lines.append(f"bin {code}: {info.name} ({verdict})")
        value = self._values.get((col, row))
        if value is not None:
            units = f" {self._value_units}" if self._value_units else ""
            shown = "NaN" if not math.isfinite(value) else f"{value:.4g}{units}"
            lines.append(f"{self._value_label} = {shown}")
        if self._hover_hook is not None:
            extra = self._hover_hook(col, row)
            if extra:
                lines.append(extra)
        return "\n".join(lines)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        die = self.die_at_scene_pos(scene_pos)
        if die == self._hovered:
            return
        self._hovered = die
        if die is None:
            self._hover_rect.hide()
            self.status_label.setText(" ")
            self.view.setToolTip("")
            return
        self._hover_rect.setRect(self._die_rect(*die))
        self._hover_rect.show()
        text = self.hover_text(*die)
        self.status_label.setText(text.replace("\n", "   |   "))
        self.view.setToolTip(text)
        self.dieHovered.emit(*die)

    # -- mouse and keys ---------------------------------------------------------------------
    def _on_die_click(self, pos: QPointF, double: bool) -> bool:
        die = self._wm.die_at_um(pos.x() * 1000, pos.y() * 1000)
        if die is None:
            return False
        self.view.setFocus(Qt.FocusReason.MouseFocusReason)
        (self.dieDoubleClicked if double else self.dieClicked).emit(*die)
        return True

    def neighbour(self, col: int, row: int, dcol: int, drow: int) -> DieIndex | None:
        """Next die on the map from (col, row) in direction (dcol, drow), or None at the edge."""
        c, r = col + dcol, row + drow
        while 0 <= c < self._wm.n_cols and 0 <= r < self._wm.n_rows:
            if (c, r) in self._index:
                return c, r
            c, r = c + dcol, r + drow
        return None

    def _handle_key(self, ev: QKeyEvent) -> bool:
        step = _ARROW_STEPS.get(ev.key())
        if step is None:
            return False
        if self._current is not None:
            target = self.neighbour(*self._current, *step)
            if target is not None:
                self.stepRequested.emit(*target)
        ev.accept()
        return True

    def keyPressEvent(self, ev: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if not self._handle_key(ev):
            super().keyPressEvent(ev)
