"""Cumulative distributions (CDFs) of figures across runs: R_LRS, R_HRS (Ω, log x), V_form (V).

Each named sample set (``"R_LRS"``, ``"R_HRS wafer 7"``, ``"V_form"``, ...) is one curve: its
finite values sorted, at cumulative probabilities ``k / n`` (k = 1..n), so the last point is 1.
Sample sets are grouped into *quantities* (by default by their units), and a combo box picks the
quantity shown: resistances together on a log axis, forming voltages on a linear one. The legend
gives each set's size and median.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from numpy.typing import ArrayLike
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.plots.throttle import (
    MAX_REDRAW_HZ,
    LivePlotWidget,
    LogAxis,
    add_legend,
    make_layout_widget,
    series_color,
    style_plot,
)

UNIT_ALIASES = {"ohm": "Ω", "ohms": "Ω", "Ohm": "Ω", "Ohms": "Ω", "Ω": "Ω"}
"""Spellings of units normalised for display."""
LOG_UNITS = frozenset({"Ω", "S"})
"""Units plotted on a logarithmic axis by default (resistance, conductance)."""


def empirical_cdf(values: ArrayLike, positive_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sorted finite ``values`` and their cumulative probabilities ``k / n`` (k = 1..n).

    ``positive_only`` also drops values <= 0 (they cannot sit on a log axis).
    """
    x = np.asarray(values, dtype=float).ravel()
    keep = np.isfinite(x)
    if positive_only:
        keep &= x > 0
    x = np.sort(x[keep])
    return x, np.arange(1, x.size + 1, dtype=float) / max(x.size, 1)


@dataclass
class CDFPlotConfig:
    """Settings of a :class:`CDFPlot`."""

    symbol_size: float = 5.0
    """Point symbol size (px); 0 draws lines only."""
    max_hz: float = MAX_REDRAW_HZ
    """Most redraws per second."""


@dataclass
class _Samples:
    name: str
    x: np.ndarray  # sorted values
    p: np.ndarray  # cumulative probabilities
    units: str
    quantity: str
    log_x: bool
    item: pg.PlotDataItem


class CDFPlot(LivePlotWidget):
    """CDFs of named sample sets, one quantity at a time (chosen in ``quantity_combo``)."""

    def __init__(self, config: CDFPlotConfig | None = None,
                 parent: QWidget | None = None) -> None:
        self.config = config or CDFPlotConfig()
        super().__init__(parent, self.config.max_hz)
        self._samples: dict[str, _Samples] = {}
        self._quantity: str | None = None
        self._color_index = 0

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        top = QHBoxLayout()
        top.addWidget(QLabel("Quantity:"))
        self.quantity_combo = QComboBox()
        self.quantity_combo.setToolTip("Which distributions to show")
        self.quantity_combo.currentIndexChanged.connect(self._on_combo)
        top.addWidget(self.quantity_combo, 1)
        layout.addLayout(top)
        self.view = make_layout_widget()
        layout.addWidget(self.view, 1)
        self.plot: pg.PlotItem = self.view.addPlot(axisItems={"bottom": LogAxis("bottom")})
        style_plot(self.plot)
        self.plot.setLabel("left", "cumulative probability")
        self.plot.setYRange(0.0, 1.0, padding=0.02)
        self.plot.enableAutoRange(axis=pg.ViewBox.YAxis, enable=False)
        self.legend = add_legend(self.plot, offset=(-10, -10))

    # -- data in ------------------------------------------------------------------------------
    def set_samples(self, name: str, values: ArrayLike, units: str, *,
                    quantity: str | None = None, log_x: bool | None = None) -> None:
        """Show the distribution of ``values`` (in ``units``) as the curve ``name``.

        Replaces an earlier set of the same name. ``quantity`` groups sets shown together
        (default: the units, so all resistances share a plot); ``log_x`` defaults to True for
        Ω and S. Non-finite values (and, on a log axis, values <= 0) are left out.
        """
        units = UNIT_ALIASES.get(units, units)
        log = units in LOG_UNITS if log_x is None else bool(log_x)
        group = quantity if quantity is not None else units
        x, p = empirical_cdf(values, positive_only=log)
        old = self._samples.get(name)
        if old is not None:
            item = old.item
        else:
            color = series_color(self._color_index)
            self._color_index += 1
            size = self.config.symbol_size
            item = pg.PlotDataItem(pen=pg.mkPen(color, width=1.6),
                                   symbol="o" if size > 0 else None, symbolSize=size,
                                   symbolBrush=pg.mkBrush(color), symbolPen=None)
            self.plot.addItem(item)
        self._samples[name] = _Samples(name, x, p, units, group, log, item)
        self._refresh_combo(select=group if self._quantity is None else None)
        self._changed()

    def remove_samples(self, name: str) -> None:
        """Remove the curve ``name`` (KeyError if unknown)."""
        entry = self._samples.pop(name)
        self.plot.removeItem(entry.item)
        self._refresh_combo()
        self._changed()

    def set_quantity(self, quantity: str) -> None:
        """Show the sample sets of ``quantity`` (one of :attr:`quantities`)."""
        if quantity not in self.quantities:
            raise KeyError(f"no quantity {quantity!r}; have {self.quantities}")
        self.quantity_combo.setCurrentIndex(self.quantities.index(quantity))

    def clear(self) -> None:
        """Remove every sample set."""
        for name in list(self._samples):
            self.plot.removeItem(self._samples.pop(name).item)
        self._color_index = 0
        self._refresh_combo()
        self._changed()

    # -- data out -----------------------------------------------------------------------------
    @property
    def quantities(self) -> list[str]:
        """Quantity groups, in the order their first sample set arrived."""
        return list(dict.fromkeys(s.quantity for s in self._samples.values()))

    @property
    def quantity(self) -> str | None:
        """The quantity shown."""
        return self._quantity

    @property
    def names(self) -> list[str]:
        """Names of all sample sets."""
        return list(self._samples)

    def cdf(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(sorted values, cumulative probabilities)`` of the set ``name``."""
        entry = self._samples[name]
        return entry.x, entry.p

    def curve(self, name: str) -> pg.PlotDataItem:
        """The curve item of the set ``name``."""
        return self._samples[name].item

    # -- internals ----------------------------------------------------------------------------
    def _label(self, quantity: str) -> str:
        names = [s.name for s in self._samples.values() if s.quantity == quantity]
        text = " / ".join(names[:3]) + (" / …" if len(names) > 3 else "")
        return f"{text} [{self._units_of(quantity)}]"

    def _units_of(self, quantity: str) -> str:
        return next(s.units for s in self._samples.values() if s.quantity == quantity)

    def _refresh_combo(self, select: str | None = None) -> None:
        quantities = self.quantities
        keep = select or self._quantity
        if keep not in quantities:
            keep = quantities[0] if quantities else None
        self.quantity_combo.blockSignals(True)
        self.quantity_combo.clear()
        for q in quantities:
            self.quantity_combo.addItem(self._label(q), q)
        if keep is not None:
            self.quantity_combo.setCurrentIndex(quantities.index(keep))
        self.quantity_combo.blockSignals(False)
        if keep != self._quantity:
            self._quantity = keep
            self.plot.enableAutoRange(axis=pg.ViewBox.XAxis)
        self._changed()

    def _on_combo(self, index: int) -> None:
        quantity = self.quantity_combo.itemData(index) if index >= 0 else None
        if quantity != self._quantity:
            self._quantity = quantity
            self.plot.enableAutoRange(axis=pg.ViewBox.XAxis)
            self._changed()

    def _redraw(self) -> None:
        shown = [s for s in self._samples.values() if s.quantity == self._quantity]
        log = bool(shown) and all(s.log_x for s in shown)
        self.plot.setLogMode(x=log, y=False)
        for entry in self._samples.values():
            visible = entry.quantity == self._quantity
            entry.item.setVisible(visible)
            if visible:
                entry.item.setData(entry.x, entry.p)
        self.legend.clear()
        for entry in shown:
            median = float(np.median(entry.x)) if entry.x.size else float("nan")
            med = pg.siFormat(median, suffix=entry.units) if np.isfinite(median) else "–"
            self.legend.addItem(entry.item, f"{entry.name}  (n={entry.x.size}, median {med})")
        if shown:
            units = shown[0].units
            names = " / ".join(dict.fromkeys(s.name for s in shown))
            title = "Resistance" if units == "Ω" else names
            self.plot.setLabel("bottom", title, units=units)
