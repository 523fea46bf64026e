"""Live conductance map of one array (rows x cols) on a log colour scale.

(A little over ~500 lines: one widget; its drawing, selection and hover share the cell buffers.)

Cell (row, col) is drawn as the unit square ``[col, col + 1] x [row, row + 1]`` with row 0 at the
top. The image shows ``log10(G / S)``; the colour bar is labelled in siemens with SI prefixes
(decades, plus 2x and 5x ticks) so it reads directly as conductance. Cells never measured (NaN)
are transparent over a neutral grey background.

Updates only write into a numpy buffer and mark the map dirty; a single-shot timer redraws at most
``refresh_hz`` times a second (:meth:`ArrayMapWidget.flush` redraws at once). Selection: click a
cell, drag a rectangle, Ctrl+click toggles a cell, Ctrl+drag adds a rectangle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QPainterPath, QPen
from PyQt6.QtWidgets import (
    QCheckBox,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.pens import cosmetic_pen

G_FLOOR_SIEMENS = 1e-15
"""Conductances <= 0 are shown at this floor (S) instead of being dropped."""
NAN_BACKGROUND = "#bdbdbd"
"""Colour behind unmeasured (NaN) cells."""
SELECTION_COLOR = "#ff1744"

Cell = tuple[int, int]


def format_conductance(g: float) -> str:
    """Conductance in S with an SI prefix, e.g. ``12.3 µS`` (3 significant digits)."""
    if not math.isfinite(g):
        return "NaN"
    if g == 0:
        return "0 S"
    for factor, prefix in ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"),
                           (1e-15, "f")):
        if abs(g) >= factor * 0.9995:
            return f"{g / factor:.3g} {prefix}S"
    return f"{g:.3g} S"


def format_resistance(r: float) -> str:
    """Resistance in kOhm (3 significant digits), e.g. ``81.3 kΩ``."""
    if not math.isfinite(r):
        return "NaN"
    return f"{r / 1e3:.3g} kΩ"


def log_conductance_ticks(lo_decade: int = -15, hi_decade: int = 1) -> list[list[tuple]]:
    """Tick levels for a log10(G/S) axis: decades (major) and 2x, 5x (minor), SI labels."""
    major = [(float(e), format_conductance(10.0**e)) for e in range(lo_decade, hi_decade + 1)]
    minor = [(e + math.log10(m), format_conductance(m * 10.0**e))
             for e in range(lo_decade, hi_decade) for m in (2, 5)]
    return [major, minor]


class _CellAxis(pg.AxisItem):
    """Integer cell-index axis: ticks at cell centres (k + 0.5), labelled k."""

    _STEPS = (1, 2, 4, 5, 8, 10, 16, 20, 32, 50, 64, 100, 128, 200, 256, 500, 1000)

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.n_cells = 1
        """Number of cells along this axis; no ticks are drawn outside [0, n_cells)."""

    def tickValues(self, minVal: float, maxVal: float, size: float):  # noqa: N802, N803
        lo, hi = sorted((minVal, maxVal))
        first = max(math.ceil(lo - 0.5), 0)
        last = min(math.floor(hi - 0.5), self.n_cells - 1)
        if last < first or size <= 0:
            return []
        n = last - first + 1
        min_px = 30.0 if self.orientation in ("bottom", "top") else 20.0
        step = next((s for s in self._STEPS if size * s / n >= min_px), self._STEPS[-1])
        start = math.ceil(first / step) * step
        return [(float(step), [k + 0.5 for k in range(start, last + 1, step)])]

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        return [str(math.floor(v)) for v in values]


class _CellImage(pg.ImageItem):
    """The map image; forwards mouse clicks, drags and hovers to the widget (cell units)."""

    def __init__(self, owner: ArrayMapWidget) -> None:
        super().__init__(axisOrder="row-major")
        self._owner = owner

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ctrl = bool(ev.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if self._owner._on_click(ev.pos(), ctrl):
            ev.accept()
        else:
            ev.ignore()

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ctrl = bool(ev.modifiers() & Qt.KeyboardModifier.ControlModifier)
        self._owner._on_drag(ev.buttonDownPos(), ev.pos(), ev.isStart(), ev.isFinish(), ctrl)
        ev.accept()

    def hoverEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        self._owner._on_hover(None if ev.isExit() else ev.pos())


class ArrayMapWidget(QWidget):
    """Conductance map of one array, log colour scale, throttled live updates, cell selection.

    All conductances are in siemens. ``selectionChanged`` carries a list of ``(row, col)``;
    ``cellHovered`` carries ``(row, col, G in S)`` (NaN when not measured).
    """

    selectionChanged = pyqtSignal(list)  # noqa: N815 - Qt naming
    cellHovered = pyqtSignal(int, int, float)  # noqa: N815

    def __init__(self, rows: int = 32, cols: int = 32, group_cols: int = 1,
                 refresh_hz: float = 30.0, colormap: str = "viridis",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows, self._cols, self._group = 0, 0, 1
        self._g = np.empty((0, 0))
        self._log = np.empty((0, 0))
        self._dirty = False
        self._auto = True
        self.auto_percentiles = (0.5, 99.5)
        """Percentiles of log10 G used for automatic levels."""
        self._selection: set[Cell] = set()
        self._drag_base: set[Cell] = set()
        self._hovered: Cell | None = None
        self.redraw_count = 0
        """Number of redraws done (image data pushed to the ImageItem)."""
        self.hover_hook: Callable[[int, int], str] | None = None
        """Extra hover text for a cell (e.g. its history summary); "" for none."""
        self.state_label: str | None = None
        """What the colours show when not the conductance (:meth:`show_state`)."""
        self._build_view()
        self._build_items()
        self._build_colorbar(colormap)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(max(1, round(1000 / refresh_hz)))
        self._timer.timeout.connect(self.flush)
        self.set_shape(rows, cols, group_cols)

    # -- construction -----------------------------------------------------------------------
    def _build_view(self) -> None:
        """Status label and auto-levels box above the plot (rows down, columns across)."""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        top = QHBoxLayout()
        self.status_label = QLabel(" ")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.status_label, 1)
        self.auto_checkbox = QCheckBox("Auto levels")
        self.auto_checkbox.setChecked(True)
        self.auto_checkbox.setToolTip("Scale colours to the data (0.5-99.5 percentile of log G)")
        self.auto_checkbox.toggled.connect(self.set_auto_levels)
        top.addWidget(self.auto_checkbox)
        layout.addLayout(top)

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        layout.addWidget(self.view, 1)
        self.plot: pg.PlotItem = self.view.addPlot(
            axisItems={"left": _CellAxis("left"), "bottom": _CellAxis("bottom")}
        )
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.hideButtons()
        self.plot.setLabel("left", "row")
        self.plot.setLabel("bottom", "column")
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen("#424242"))
            axis.setTextPen(pg.mkPen("#212121"))

    def _build_items(self) -> None:
        """Background (unmeasured), image, group lines, selection outline and rubber band."""
        self._background = QGraphicsRectItem()
        self._background.setBrush(QBrush(pg.mkColor(NAN_BACKGROUND)))
        self._background.setPen(QPen(Qt.PenStyle.NoPen))
        self._background.setZValue(-10)
        self.plot.addItem(self._background)
        self.image = _CellImage(self)
        self.plot.addItem(self.image)
        self._groups = pg.PlotCurveItem(pen=cosmetic_pen("#ffffff", 1.5), connect="pairs")
        self._groups.setZValue(5)
        self.plot.addItem(self._groups)
        self._selection_item = QGraphicsPathItem()
        self._selection_item.setPen(cosmetic_pen(SELECTION_COLOR, 2.0))
        self._selection_item.setBrush(QBrush(QColor(255, 255, 255, 70)))
        self._selection_item.setZValue(10)
        self.plot.addItem(self._selection_item)
        self._band = QGraphicsRectItem()
        self._band.setPen(cosmetic_pen("#000000", 1.5, Qt.PenStyle.DashLine))
        self._band.setBrush(QBrush(QColor(255, 23, 68, 40)))
        self._band.setZValue(11)
        self._band.hide()
        self.plot.addItem(self._band)

    def _build_colorbar(self, colormap: str) -> None:
        """The log-conductance colour bar bound to the image; dragging it sets the levels."""
        self.colorbar = pg.ColorBarItem(
            values=(-7.0, -3.0), colorMap=colormap, width=18, interactive=True, rounding=0.05,
            pen="k", hoverPen="r",
        )
        self.colorbar.axis.setTicks(log_conductance_ticks())
        self.colorbar.axis.setWidth(55)
        self.colorbar.axis.setTextPen(pg.mkPen("#212121"))
        self.colorbar.getAxis("left").setLabel("conductance G (log scale)")
        self.colorbar.getAxis("left").setTextPen(pg.mkPen("#212121"))
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.colorbar.sigLevelsChanged.connect(self._on_colorbar_dragged)

    # -- shape and data ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the map."""
        return self._rows, self._cols

    def set_shape(self, rows: int, cols: int, group_cols: int | None = None) -> None:
        """Resize the map (all cells unmeasured, selection cleared).

        ``group_cols`` draws a separator every that many columns (2 for 2T2R pairs side by side).
        """
        if rows <= 0 or cols <= 0:
            raise ValueError("rows and cols must be positive")
        if group_cols is not None:
            if group_cols <= 0:
                raise ValueError("group_cols must be positive")
            self._group = int(group_cols)
        self._rows, self._cols = int(rows), int(cols)
        self._g = np.full((rows, cols), np.nan)
        self._log = np.full((rows, cols), np.nan)
        self._background.setRect(QRectF(0, 0, cols, rows))
        self.plot.getAxis("left").n_cells = self._rows
        self.plot.getAxis("bottom").n_cells = self._cols
        xs = np.arange(self._group, cols, self._group, dtype=float)
        if self._group > 1 and len(xs):
            self._groups.setData(np.repeat(xs, 2), np.tile([0.0, float(rows)], len(xs)))
        else:
            self._groups.setData([], [])
        self._set_selection(set(), emit=bool(self._selection))
        self._hovered = None
        self.plot.setRange(xRange=(0, cols), yRange=(0, rows), padding=0.02)
        self._dirty = True
        self.flush()

    def show_state(self, values: np.ndarray, label: str,
                   levels: tuple[float, float] | None = None) -> None:
        """Colour the cells by another figure (linear scale: e.g. formed 0/1, cycles so far;
        ``levels`` fixes the scale, else it follows the data); the conductance stays in the
        hover text and comes back with the next data."""
        v = np.asarray(values, dtype=float)
        if v.shape != self.shape:
            raise ValueError(f"show_state needs a {self.shape} array")
        self.state_label = label
        self._log[:] = v
        self.colorbar.axis.setTicks(None)
        self.colorbar.getAxis("left").setLabel(label)
        if levels is not None:
            self._set_auto(False)
            self._apply_levels((float(levels[0]), float(levels[1])))
        else:
            self._set_auto(True)
        self._mark_dirty()

    def _conductance_mode(self) -> None:
        if self.state_label is None:
            return
        self.state_label = None
        self._set_auto(True)
        self._log[:] = self._to_log(self._g)
        self.colorbar.axis.setTicks(log_conductance_ticks())
        self.colorbar.getAxis("left").setLabel("conductance G (log scale)")

    def update_cell(self, row: int, col: int, g: float) -> None:
        """Set the conductance (S) of one cell; redrawn at the next refresh."""
        self._conductance_mode()
        self._g[row, col] = g
        self._log[row, col] = self._to_log(np.asarray(g, dtype=float))
        self._mark_dirty()

    def update_cells(self, rows: np.ndarray, cols: np.ndarray, gs: np.ndarray) -> None:
        """Set the conductances (S) of many cells at once (equal-length index/value arrays)."""
        gs = np.asarray(gs, dtype=float)
        self._conductance_mode()
        self._g[rows, cols] = gs
        self._log[rows, cols] = self._to_log(gs)
        self._mark_dirty()

    def set_map(self, g: np.ndarray) -> None:
        """Replace the whole map (2-D array of S; NaN = unmeasured); reshapes if needed."""
        g = np.asarray(g, dtype=float)
        if g.ndim != 2:
            raise ValueError("set_map needs a 2-D array")
        if g.shape != self.shape:
            self.set_shape(*g.shape)
        self._conductance_mode()
        self._g[:] = g
        self._log[:] = self._to_log(g)
        self._mark_dirty()

    def clear(self) -> None:
        """Mark every cell unmeasured (selection kept)."""
        self._conductance_mode()
        self._g[:] = np.nan
        self._log[:] = np.nan
        self._mark_dirty()

    def conductance(self) -> np.ndarray:
        """Copy of the conductance buffer (S), shape ``(rows, cols)``."""
        return self._g.copy()

    @staticmethod
    def _to_log(g: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.log10(np.where(g > 0, g, np.where(np.isnan(g), np.nan, G_FLOOR_SIEMENS)))

    # -- redraw -----------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        """True when the buffer changed since the last redraw."""
        return self._dirty

    def _mark_dirty(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Redraw now if anything changed (called by the refresh timer)."""
        self._timer.stop()
        if not self._dirty:
            return
        self._dirty = False
        if self._auto:
            self._apply_levels(self._auto_log_levels())
        self.image.setImage(self._log.copy(), autoLevels=False, levels=self.colorbar.levels())
        self.image.setRect(QRectF(0, 0, self._cols, self._rows))
        self.redraw_count += 1
        if self._hovered is not None:
            self._show_hover(*self._hovered)

    # -- levels -----------------------------------------------------------------------------
    def _auto_log_levels(self) -> tuple[float, float]:
        finite = self._log[np.isfinite(self._log)]
        if finite.size == 0:
            return self.colorbar.levels()
        lo, hi = np.percentile(finite, self.auto_percentiles)
        if hi - lo < 0.1:
            mid = (hi + lo) / 2
            lo, hi = mid - 0.05, mid + 0.05
        return float(lo), float(hi)

    def _apply_levels(self, log_levels: tuple[float, float]) -> None:
        self.colorbar.setLevels(log_levels)  # also sets the image levels

    def set_levels(self, g_min: float, g_max: float) -> None:
        """Fix the colour scale to [g_min, g_max] in S (turns automatic levels off)."""
        if not (g_min > 0 and g_max > 0):
            raise ValueError("conductance levels must be positive (S)")
        lo, hi = sorted((math.log10(g_min), math.log10(g_max)))
        self._set_auto(False)
        self._apply_levels((lo, hi))

    def levels(self) -> tuple[float, float]:
        """Colour-scale limits in S."""
        lo, hi = self.colorbar.levels()
        return 10.0**lo, 10.0**hi

    def set_auto_levels(self, enabled: bool = True) -> None:
        """Scale colours to the data at each redraw (on), or keep the current limits (off)."""
        self._set_auto(enabled)
        if enabled:
            self._apply_levels(self._auto_log_levels())

    @property
    def auto_levels(self) -> bool:
        """True when the colour scale follows the data."""
        return self._auto

    def _set_auto(self, enabled: bool) -> None:
        self._auto = bool(enabled)
        self.auto_checkbox.blockSignals(True)
        self.auto_checkbox.setChecked(self._auto)
        self.auto_checkbox.blockSignals(False)

    def _on_colorbar_dragged(self, _bar: pg.ColorBarItem) -> None:
        self._set_auto(False)

    # -- selection --------------------------------------------------------------------------
    def selected_cells(self) -> list[Cell]:
        """Selected cells as ``(row, col)``, sorted."""
        return sorted(self._selection)

    def set_selection(self, cells: Iterable[Cell]) -> None:
        """Select these cells (out-of-range cells are dropped); emits ``selectionChanged``."""
        self._set_selection({(int(r), int(c)) for r, c in cells
                             if 0 <= r < self._rows and 0 <= c < self._cols})

    def clear_selection(self) -> None:
        """Select nothing."""
        self._set_selection(set())

    def _set_selection(self, cells: set[Cell], emit: bool = True) -> None:
        changed = cells != self._selection
        self._selection = set(cells)
        path = QPainterPath()
        for r, c in self._selection:
            path.addRect(QRectF(c, r, 1, 1))
        self._selection_item.setPath(path.simplified() if len(self._selection) > 1 else path)
        if emit and changed:
            self.selectionChanged.emit(self.selected_cells())

    def cell_at(self, pos: QPointF) -> Cell | None:
        """Cell ``(row, col)`` at a position in plot (cell) coordinates, or None outside."""
        r, c = math.floor(pos.y()), math.floor(pos.x())
        if 0 <= r < self._rows and 0 <= c < self._cols:
            return r, c
        return None

    def cell_scene_pos(self, row: int, col: int) -> QPointF:
        """Scene position of the centre of cell (row, col)."""
        return self.plot.vb.mapViewToScene(QPointF(col + 0.5, row + 0.5))

    def _on_click(self, pos: QPointF, ctrl: bool) -> bool:
        cell = self.cell_at(pos)
        if cell is None:
            return False
        if ctrl:
            self._set_selection(self._selection ^ {cell})
        else:
            self._set_selection({cell})
        return True

    def _clamped_cell(self, pos: QPointF) -> Cell:
        r = min(max(math.floor(pos.y()), 0), self._rows - 1)
        c = min(max(math.floor(pos.x()), 0), self._cols - 1)
        return r, c

    def _on_drag(self, start: QPointF, pos: QPointF, is_start: bool, is_finish: bool,
                 ctrl: bool) -> None:
        if is_start:
            self._drag_base = set(self._selection) if ctrl else set()
        (r0, c0), (r1, c1) = self._clamped_cell(start), self._clamped_cell(pos)
        ra, rb = sorted((r0, r1))
        ca, cb = sorted((c0, c1))
        if is_finish:
            self._band.hide()
            block = {(r, c) for r in range(ra, rb + 1) for c in range(ca, cb + 1)}
            self._set_selection(self._drag_base | block)
        else:
            self._band.setRect(QRectF(ca, ra, cb - ca + 1, rb - ra + 1))
            self._band.show()

    # -- hover ------------------------------------------------------------------------------
    def hover_text(self, row: int, col: int) -> str:
        """Text for cell (row, col): indices, G (µS) and R (kOhm), or 'not measured'."""
        where = f"row {row}, col {col}"
        if self._group > 1:
            where += f" (group {col // self._group}, device {col % self._group})"
        g = float(self._g[row, col])
        extra = self.hover_hook(row, col) if self.hover_hook is not None else ""
        extra = f"\n{extra}" if extra else ""
        if not math.isfinite(g):
            return f"{where}: not measured{extra}"
        r = 1.0 / g if g > 0 else math.inf
        r_text = format_resistance(r) if math.isfinite(r) else "open"
        return f"{where}: G = {g * 1e6:.4g} µS, R = {r_text}{extra}"

    def _on_hover(self, pos: QPointF | None) -> None:
        cell = None if pos is None else self.cell_at(pos)
        if cell == self._hovered:
            return
        self._hovered = cell
        if cell is None:
            self.status_label.setText(" ")
            self.view.setToolTip("")
            return
        self._show_hover(*cell)
        self.cellHovered.emit(cell[0], cell[1], float(self._g[cell]))

    def _show_hover(self, row: int, col: int) -> None:
        text = self.hover_text(row, col)
        self.status_label.setText(text)
        self.view.setToolTip(text)
