"""What the main window shows of the catalog's figures: the wafer map (or the board of a packaged
bench) coloured by a figure's median per die, and the distributions of the selected runs.

The wafer map's geometry is read off the GUI thread (in the bench I/O worker), the catalog in
the file reader's thread (:mod:`gui.file_reader`); ``waferValuesShown`` follows each colouring.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PyQt6.QtWidgets import QComboBox, QVBoxLayout, QWidget

from gui.widgets.wafer_map import WaferMapWidget
from instruments.bench import Bench
from instruments.wafermap import WaferMap
from procedures.framework.catalog import RunInfo

log = logging.getLogger(__name__)

WAFER_FIGURES = {  # shown name -> (summary key, units)
    "V_form": ("v_form", "V"),
    "R_LRS": ("r_lrs", "Ω"),
    "R_HRS": ("r_hrs", "Ω"),
    "on/off": ("on_off", ""),
    "G median (map)": ("g_median", "S"),
    "BER 2T2R": ("ber_2t2r", ""),
    "BER 1T1R": ("ber_1t1r", ""),
}
CDF_FIGURES = {  # summary list -> (label, units)
    "v_form_values": ("V_form", "V"),
    "r_lrs_values": ("R_LRS", "Ω"),
    "r_hrs_values": ("R_HRS", "Ω"),
}


class WindowFigures:
    """Mixin of :class:`gui.main_window.MainWindow`: the figure chooser, wafer-map values and
    distributions."""

    def _build_wafer_box(self) -> QWidget:
        """The wafer map under its figure chooser (geometry read off the GUI thread)."""
        self.wafer_map = WaferMapWidget()  # the prober's geometry replaces it when read
        bench = self.bench
        if bench.prober is not None:
            self.io.submit(lambda: _layout_of(bench), self.wafer_map.set_wafer_map,
                           name="wafer map set-up", owner=True)  # no run exists yet
        self.wafer_figure = QComboBox()
        self.wafer_figure.setObjectName("wafer-figure")
        self.wafer_figure.addItems(list(WAFER_FIGURES))
        self.wafer_figure.setToolTip("Colour the wafer map by the median of this figure per die")
        self.wafer_figure.currentTextChanged.connect(self._update_wafer_values)
        wafer_box = QWidget()
        wafer_layout = QVBoxLayout(wafer_box)
        wafer_layout.setContentsMargins(0, 0, 0, 0)
        wafer_layout.addWidget(self.wafer_figure)
        wafer_layout.addWidget(self.wafer_map, 1)
        return wafer_box

    def _board_box(self) -> QWidget:
        """The board view under the same figure chooser as the wafer map."""
        assert self.board is not None
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.wafer_figure)
        layout.addWidget(self.board.view, 1)
        return box

    def _update_distributions(self) -> None:
        rows = {i.row() for i in self.results_browser.table.selectionModel().selectedRows()}
        runs = [self.results_browser.runs[r] for r in sorted(rows)]
        for key, (label, units) in CDF_FIGURES.items():
            values = [v for r in runs for v in (r.summary.get(key) or []) if v is not None]
            if values:
                self.cdf_plot.set_samples(label, np.asarray(values, dtype=float), units)

    def _update_wafer_values(self, *_: Any) -> None:
        """Colour the wafer map by the chosen figure: median over the die's finished runs (the
        catalog is read in the file reader's thread; ``waferValuesShown`` follows)."""
        label = self.wafer_figure.currentText()
        key, units = WAFER_FIGURES[label]
        catalog = self.catalog

        def read() -> tuple[list[RunInfo], dict[tuple[int, int], float]]:
            runs = catalog.runs(status="finished")
            values: dict[tuple[int, int], list[float]] = {}
            for r in runs:
                v = r.summary.get(key)
                if r.die is not None and isinstance(v, int | float):
                    values.setdefault(r.die, []).append(float(v))
            return runs, {d: float(np.median(v)) for d, v in values.items()}

        def show(found: tuple[list[RunInfo], dict[tuple[int, int], float]]) -> None:
            runs, medians = found
            if self.board is not None:  # a packaged-chip bench: the board view instead
                self.board.show_values(runs, key, label, units)
            elif medians:
                self.wafer_map.set_values(medians, label=f"median {label}", units=units)
            else:
                self.wafer_map.clear_values()
            self.waferValuesShown.emit()

        self.reader.request("wafer-values", read, show)


def _layout_of(bench: Bench) -> WaferMap:
    """The wafer map geometry as the prober reports it (default 200 mm map if it cannot)."""
    try:
        return WaferMap.from_velox(bench.prober.wafer_map_params)
    except Exception as exc:
        log.warning("wafer map parameters unknown (%s); using a default 200 mm map", exc)
        return WaferMap()
