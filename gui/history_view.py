"""Device history dock: G (and pulses so far) against time for one or several cells, and the
array map coloured by each cell's state from its history.

Everything comes from the catalog and the results files (:mod:`procedures.data.device_history`);
nothing here talks to the instruments. The reads run in the file reader's worker thread
(:class:`gui.file_reader.FileReader`), never on the GUI thread: ``loaded`` follows
:meth:`HistoryView.show_cells` once the curves are drawn, ``coloured`` follows
:meth:`HistoryView.colour_map` once the array map shows the states; a click on another cell
before the answer came supersedes it. Each run's file is read once and kept until a new run
ends (``invalidate``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.file_reader import FileReader
from procedures.analysis import cached_loader
from procedures.data.device_history import DeviceSummary, die_summaries, history_frame, summary_of
from procedures.framework.catalog import Catalog

log = logging.getLogger(__name__)

STATE_MODES = ("live conductance", "formed", "last G", "cycles so far", "pulses so far")
_COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#4e342e")
MAX_CURVES = len(_COLOURS)


class HistoryView(QWidget):
    """History of the cells selected in the array map; colours the map by state.

    Signals (GUI thread): ``loaded()`` when the histories asked for are shown, ``coloured()``
    when the array map shows the chosen state.
    """

    loaded = pyqtSignal()
    coloured = pyqtSignal()

    def __init__(self, catalog: Catalog, array_map: Any, parent: QWidget | None = None,
                 reader: FileReader | None = None) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.reader = reader or FileReader(self)
        self.array_map = array_map
        self.die: tuple[int, int] | None = None
        self.array = "1T1R"
        self.frames: dict[tuple[int, int], Any] = {}
        self.summaries: dict[tuple[int, int], DeviceSummary] = {}
        self._load = cached_loader(catalog)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.state_combo = QComboBox()
        self.state_combo.setObjectName("history-state")
        self.state_combo.addItems(list(STATE_MODES))
        self.state_combo.setToolTip("Colour the array map by each cell's state from its history")
        self.refresh_button = QPushButton("Refresh")
        top.addWidget(QLabel("Array map shows"))
        top.addWidget(self.state_combo, 1)
        top.addWidget(self.refresh_button)
        layout.addLayout(top)
        self.summary_label = QLabel("select cells in the array map")
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)
        self.g_plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()}, background="w")
        self.g_plot.setLogMode(y=True)
        self.g_plot.setLabel("left", "G", units="S")
        self.g_plot.addLegend(offset=(5, 5))
        self.p_plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()}, background="w")
        self.p_plot.setLabel("left", "pulses")
        self.g_plot.setLabel("bottom", "time (local)")
        self.p_plot.setXLink(self.g_plot)
        self.p_plot.setMaximumHeight(140)
        layout.addWidget(self.g_plot, 3)
        layout.addWidget(self.p_plot, 1)
        self.state_combo.currentTextChanged.connect(lambda _t: self.colour_map())
        self.refresh_button.clicked.connect(self.refresh)
        array_map.hover_hook = self.hover_text

    # -- data -----------------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Forget the read files and summaries (a run ended); re-show what was shown."""
        self._load = cached_loader(self.catalog)
        self.summaries.clear()
        self.refresh()

    def set_die(self, die: tuple[int, int] | None, array: str) -> None:
        """The die and array whose cells are shown (summaries re-read if they changed)."""
        if (die, array) != (self.die, self.array):
            self.die, self.array = die, array
            self.summaries.clear()

    def show_cells(self, cells: list[tuple[int, int]]) -> None:
        """Plot the history of ``cells`` (the first :data:`MAX_CURVES`) of the current die; the
        files are read in the worker, ``loaded`` follows."""
        cells = [tuple(c) for c in cells]
        if self.die is None:
            self._clear_plots()
            self.summary_label.setText("no die chosen (click a die on the wafer map)")
            self.loaded.emit()
            return
        catalog, load, die, array = self.catalog, self._load, self.die, self.array

        def read() -> list[tuple[tuple[int, int], Any]]:
            infos = catalog.runs(die=die)
            return [(cell, history_frame(infos, load, die, array, cell))
                    for cell in cells[:MAX_CURVES]]

        self.summary_label.setText("reading the history…")
        self.reader.request("history-cells", read,
                            lambda frames: self._show_frames(die, array, cells, frames),
                            self._read_failed)

    def _clear_plots(self) -> None:
        self.g_plot.clear()
        self.p_plot.clear()
        self.frames.clear()

    def _read_failed(self, exc: Exception) -> None:
        self.summary_label.setText(f"cannot read the history: {exc}")
        self.loaded.emit()

    def _show_frames(self, die: tuple[int, int], array: str, cells: list[tuple[int, int]],
                     frames: list[tuple[tuple[int, int], Any]]) -> None:
        self._clear_plots()
        lines = []
        for k, (cell, frame) in enumerate(frames):
            self.frames[cell] = frame
            lines.append(summary_of(frame).text())
            if not len(frame):
                continue
            t = frame["time"].map(lambda x: x.timestamp()).to_numpy(float)
            g = frame["g"].to_numpy(float)
            ok = np.isfinite(g) & (g > 0)
            pen = pg.mkPen(_COLOURS[k], width=1.5)
            self.g_plot.plot(t[ok], g[ok], pen=pen, symbol="o", symbolSize=4,
                             symbolBrush=_COLOURS[k], name=f"{cell[0]},{cell[1]}")
            self.p_plot.plot(t, frame["pulses"].to_numpy(float), pen=pen, stepMode=None)
        more = f" (first {MAX_CURVES} of {len(cells)})" if len(cells) > MAX_CURVES else ""
        self.summary_label.setText(
            f"die {die[0]},{die[1]} {array}{more}\n" + "\n".join(lines))
        self.loaded.emit()

    def refresh(self) -> None:
        """Re-show the shown cells and the map colouring."""
        self.show_cells(list(self.frames) or self.array_map.selected_cells())
        self.colour_map()

    # -- array map ------------------------------------------------------------------------------
    def colour_map(self) -> None:
        """Colour the array map by the chosen state (live conductance: leave it alone); the
        die's summaries are read in the worker the first time, ``coloured`` follows."""
        mode = self.state_combo.currentText()
        if mode == STATE_MODES[0] or self.die is None:
            return
        if self.summaries:
            self._paint(mode)
            return
        catalog, load, die, array = self.catalog, self._load, self.die, self.array

        def read() -> dict[tuple[int, int], DeviceSummary]:
            return die_summaries(catalog.runs(die=die), load, die, array)

        def got(summaries: dict[tuple[int, int], DeviceSummary]) -> None:
            if (die, array) == (self.die, self.array):
                self.summaries = summaries
                self.colour_map()

        self.reader.request("history-summaries", read, got)

    def _paint(self, mode: str) -> None:
        shape = self.array_map.shape
        values = np.full(shape, np.nan)
        group = self._group()
        for (row, col), s in self.summaries.items():
            if row >= shape[0] or (col + 1) * group > shape[1]:
                continue
            if mode == "formed":
                value = 1.0 if s.formed else 0.0
            elif mode == "last G":
                value = np.log10(s.last_g) if s.last_g and s.last_g > 0 else np.nan
            elif mode == "cycles so far":
                value = s.cycles
            else:
                value = s.pulses
            values[row, col * group:(col + 1) * group] = value  # a 2T2R pair: both devices
        label = {"formed": "formed (1) / unformed (0)", "last G": "last read log10 G (S)"}
        self.array_map.show_state(values, label.get(mode, mode),
                                  levels=(0.0, 1.0) if mode == "formed" else None)
        self.coloured.emit()

    def hover_text(self, row: int, col: int) -> str:
        """The history summary of a cell, for the array map's hover text."""
        if self.die is None:
            return ""
        s = self.summaries.get((row, col // self._group()))
        return s.text() if s is not None else ""

    def _group(self) -> int:
        """Array-map columns per cell of the history: 2 for 2T2R pairs (shown side by side,
        the histories are per pair), else 1."""
        return 2 if self.array == "2T2R" and self.array_map.shape[1] % 2 == 0 else 1
