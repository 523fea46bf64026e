"""Conductance versus pulse number, with SET/RESET/read points and an optional target band.

Each point carries a kind: ``"set"`` (read after a SET pulse), ``"reset"`` (after a RESET pulse)
or ``"read"`` (a plain read). A thin grey line joins every point in pulse order; each kind is drawn
in its own colour. With :meth:`ConductancePlot.set_target` (or ``set_target_band``) a shaded band
shows the tolerance window of incremental-step (ISPP) programming. Conductance is in S (the axis
shows µS etc.); the optional log scale plots ``log10(G / S)`` prepared when the points arrive, so
switching scale or redrawing costs no recomputation. Long runs (endurance) are drawn with
peak-preserving downsampling and without point symbols beyond ``symbol_limit`` points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from numpy.typing import ArrayLike
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.buffers import ColumnBuffer, Rows, rows_to_columns
from gui.plots.throttle import (
    MAX_REDRAW_HZ,
    LivePlotWidget,
    LogAxis,
    add_legend,
    make_layout_widget,
    set_curve_data,
    style_plot,
)

KINDS = ("set", "reset", "read")
"""Point kinds, in legend order."""
KIND_CODES = {"read": 0, "set": 1, "reset": 2}
"""Numeric codes accepted for the kind column of :meth:`ConductancePlot.add_rows`."""
_SYMBOLS = {"set": "t1", "reset": "t", "read": "o"}  # up triangle, down triangle, circle


def _default_colors() -> dict[str, str]:
    return {"set": "#d32f2f", "reset": "#1565c0", "read": "#424242"}


@dataclass
class ConductancePlotConfig:
    """Settings of a :class:`ConductancePlot`."""

    pulse_column: str = "Pulse"
    """Row key of the pulse number in :meth:`ConductancePlot.add_rows`."""
    conductance_column: str = "Conductance (S)"
    """Row key of the conductance (S)."""
    kind_column: str = "Kind"
    """Row key of the kind (``"set"``, ``"reset"``, ``"read"`` or a :data:`KIND_CODES` code);
    rows without it are reads."""
    colors: dict[str, str] = field(default_factory=_default_colors)
    """Colour of each kind."""
    log_y: bool = False
    """Start with a logarithmic conductance axis."""
    connect_all: bool = True
    """Join every point in pulse order with a thin grey line."""
    symbol_limit: int = 3000
    """Above this many points of a kind, that kind is drawn as a line without symbols."""
    max_points: int | None = None
    """Ring limit (points kept per kind and for the joining line), ``None`` for unbounded."""
    max_hz: float = MAX_REDRAW_HZ
    """Most redraws per second."""


class ConductancePlot(LivePlotWidget):
    """Conductance (S) versus pulse number with kind colours and a target band.

    ``plot`` is the :class:`pyqtgraph.PlotItem`; ``curves[kind]`` the item of each kind;
    ``line`` the grey line joining all points; ``target_band`` the tolerance band item.
    """

    def __init__(self, config: ConductancePlotConfig | None = None,
                 parent: QWidget | None = None) -> None:
        self.config = config or ConductancePlotConfig()
        super().__init__(parent, self.config.max_hz)
        cfg = self.config
        self._log_y = bool(cfg.log_y)
        self._band: tuple[float, float] | None = None
        self._target: float | None = None
        columns = {"n": float, "g": float, "log_g": float}
        self._all = ColumnBuffer(columns, max_len=cfg.max_points)
        self._kinds = {k: ColumnBuffer(columns, max_len=cfg.max_points) for k in KINDS}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        top = QHBoxLayout()
        self.status_label = QLabel(" ")
        top.addWidget(self.status_label, 1)
        self.log_checkbox = QCheckBox("log G")
        self.log_checkbox.setToolTip("Logarithmic conductance axis")
        self.log_checkbox.setChecked(self._log_y)
        self.log_checkbox.toggled.connect(self.set_log_y)
        top.addWidget(self.log_checkbox)
        layout.addLayout(top)
        self.view = make_layout_widget()
        layout.addWidget(self.view, 1)
        self.plot: pg.PlotItem = self.view.addPlot(axisItems={"left": LogAxis("left")})
        style_plot(self.plot)
        self.plot.setLabel("bottom", "Pulse number")
        self.plot.setLabel("left", "Conductance", units="S")
        self.legend = add_legend(self.plot)
        self._track_view(self.plot.vb)

        self.target_band = pg.LinearRegionItem(
            orientation="horizontal", movable=False, brush=pg.mkBrush(76, 175, 80, 45),
            pen=pg.mkPen("#43a047", width=1, style=Qt.PenStyle.DashLine))
        self.target_band.setZValue(-10)
        self.target_band.hide()
        self.plot.addItem(self.target_band)  # auto-range keeps the target in view
        self.target_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#2e7d32", width=1.2))
        self.target_line.hide()
        self.plot.addItem(self.target_line, ignoreBounds=True)

        self.line = pg.PlotDataItem(pen=pg.mkPen(190, 190, 190, 200, width=1))
        self.line.setVisible(cfg.connect_all)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.plot.addItem(self.line)
        # after addItem, which applies the PlotItem's own (off) downsampling modes
        self.line.setDownsampling(auto=True, method="peak")
        self.line.setClipToView(True)
        for k in KINDS:
            color = cfg.colors[k]
            curve = pg.PlotDataItem(pen=None, symbol=_SYMBOLS[k], symbolSize=7,
                                    symbolBrush=pg.mkBrush(color), symbolPen=pg.mkPen(color))
            curve.setZValue(1 + KINDS.index(k))
            self.curves[k] = curve
            self.plot.addItem(curve)
        self._in_legend: set[str] = set()
        self._apply_axis_mode()

    # -- data in ------------------------------------------------------------------------------
    def add_point(self, n: float, g: float, kind: str = "read") -> None:
        """Add conductance ``g`` (S) measured at pulse number ``n``; ``kind`` set/reset/read."""
        self.add_points([n], [g], kind)

    def add_points(self, ns: ArrayLike, gs: ArrayLike,
                   kinds: str | Sequence[str] | ArrayLike = "read") -> None:
        """Add points: pulse numbers, conductances (S), and one kind or one kind per point."""
        ns = np.atleast_1d(np.asarray(ns, dtype=float))
        gs = np.atleast_1d(np.asarray(gs, dtype=float))
        if ns.shape != gs.shape or ns.ndim != 1:
            raise ValueError("ns and gs must be 1-D arrays of the same length")
        if ns.size == 0:
            return
        codes = _kind_codes(kinds, ns.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_g = np.log10(gs)
        log_g[~np.isfinite(log_g)] = np.nan
        self._all.extend({"n": ns, "g": gs, "log_g": log_g})
        for kind in KINDS:
            sel = codes == KIND_CODES[kind]
            if sel.all():
                self._kinds[kind].extend({"n": ns, "g": gs, "log_g": log_g})
            elif sel.any():
                self._kinds[kind].extend({"n": ns[sel], "g": gs[sel], "log_g": log_g[sel]})
        self._changed()

    def add_rows(self, rows: Rows | Mapping[str, Any]) -> None:
        """Add rows keyed by the configured column names (see :class:`ConductancePlotConfig`)."""
        cfg = self.config
        if isinstance(rows, Mapping):
            kinds = rows.get(cfg.kind_column, "read")
            cols = rows_to_columns(rows, [cfg.pulse_column, cfg.conductance_column])
        else:
            rows = list(rows)
            kinds = [row.get(cfg.kind_column, "read") for row in rows]
            cols = rows_to_columns(rows, [cfg.pulse_column, cfg.conductance_column])
        self.add_points(cols[cfg.pulse_column], cols[cfg.conductance_column], kinds)

    def set_target(self, g_target: float, tolerance: float, relative: bool = True) -> None:
        """Show target conductance ``g_target`` (S) and its band ``± tolerance``.

        ``tolerance`` is a fraction of the target when ``relative`` (0.1 = ±10 %), else in S.
        """
        half = abs(tolerance) * abs(g_target) if relative else abs(tolerance)
        self.set_target_band(g_target - half, g_target + half)
        self._target = float(g_target)
        self._apply_target()

    def set_target_band(self, low_siemens: float, high_siemens: float) -> None:
        """Shade the band ``low_siemens .. high_siemens`` (S) (no centre line)."""
        lo, hi = sorted((float(low_siemens), float(high_siemens)))
        self._band = (lo, hi)
        self._target = None
        self._apply_target()

    def clear_target(self) -> None:
        """Hide the target band and line."""
        self._band = None
        self._target = None
        self._apply_target()

    def set_log_y(self, on: bool) -> None:
        """Switch the conductance axis between linear and logarithmic."""
        on = bool(on)
        if on != self.log_checkbox.isChecked():
            self.log_checkbox.setChecked(on)  # re-enters through the toggled signal
            return
        if on == self._log_y:
            return
        self._log_y = on
        self._apply_axis_mode()
        self._changed()

    @property
    def log_y(self) -> bool:
        """True when the conductance axis is logarithmic."""
        return self._log_y

    def clear(self) -> None:
        """Remove every point (the target stays)."""
        self._all.clear()
        for buf in self._kinds.values():
            buf.clear()
        self._changed()

    # -- data out -----------------------------------------------------------------------------
    def data(self, kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(pulse numbers, G in S)`` of one kind, or of every point when ``kind`` is None."""
        buf = self._all if kind is None else self._kinds[kind]
        return buf.column("n"), buf.column("g")

    # -- internals ----------------------------------------------------------------------------
    def _y_key(self) -> str:
        return "log_g" if self._log_y else "g"

    def _apply_axis_mode(self) -> None:
        self.plot.getAxis("left").setLogMode(self._log_y)
        self._apply_target()
        self.plot.enableAutoRange(axis=pg.ViewBox.YAxis)

    def _apply_target(self) -> None:
        if self._band is None:
            self.target_band.hide()
            self.target_line.hide()
            return
        lo, hi = self._band
        if self._log_y:
            lo = float(np.log10(lo)) if lo > 0 else -18.0
            hi = float(np.log10(hi)) if hi > 0 else -18.0
        self.target_band.setRegion((lo, hi))
        self.target_band.show()
        if self._target is not None and (self._target > 0 or not self._log_y):
            self.target_line.setValue(np.log10(self._target) if self._log_y else self._target)
            self.target_line.show()
        else:
            self.target_line.hide()

    def _redraw(self) -> None:
        key = self._y_key()
        for buf, item in [(self._all, self.line)] + [
                (self._kinds[k], self.curves[k]) for k in KINDS]:
            set_curve_data(item, buf.column("n"), buf.column(key),
                           buf.all_finite("n") and buf.all_finite(key))
        for k in KINDS:
            buf, curve = self._kinds[k], self.curves[k]
            big = len(buf) > self.config.symbol_limit
            if big and curve.opts["symbol"] is not None:
                curve.setSymbol(None)
                curve.setPen(pg.mkPen(self.config.colors[k], width=1.2))
                curve.setDownsampling(auto=True, method="peak")
                curve.setClipToView(True)
            elif not big and curve.opts["symbol"] is None:
                curve.setSymbol(_SYMBOLS[k])
                curve.setPen(None)
                curve.setDownsampling(auto=False)
                curve.setClipToView(False)
            if len(buf) and k not in self._in_legend:
                self._in_legend.add(k)
                self._rebuild_legend()
            elif not len(buf) and k in self._in_legend:
                self._in_legend.discard(k)
                self._rebuild_legend()
        n_pts = len(self._all)
        if n_pts:
            g = self._all.column("g")[-1]
            self.status_label.setText(
                f"{n_pts} points, last G = {pg.siFormat(float(g), suffix='S')}")
        else:
            self.status_label.setText(" ")

    def _rebuild_legend(self) -> None:
        self.legend.clear()
        for k in KINDS:
            if k in self._in_legend:
                self.legend.addItem(self.curves[k], k.upper() if k != "read" else "read")


def _kind_codes(kinds: str | Sequence[str] | ArrayLike, n: int) -> np.ndarray:
    """Kind codes (:data:`KIND_CODES`) for ``n`` points; ValueError on an unknown kind."""
    if isinstance(kinds, str):
        if kinds.lower() not in KIND_CODES:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kinds!r}")
        return np.full(n, KIND_CODES[kinds.lower()])
    arr = np.atleast_1d(np.asarray(kinds))
    if arr.shape != (n,):
        arr = np.broadcast_to(arr, (n,))
    if arr.dtype.kind in "iuf":
        codes = arr.astype(int)
        if not np.isin(codes, list(KIND_CODES.values())).all():
            raise ValueError(f"kind codes must be among {KIND_CODES}")
        return codes
    try:
        return np.array([KIND_CODES[str(k).lower()] for k in arr])
    except KeyError as exc:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {exc.args[0]!r}") from None
