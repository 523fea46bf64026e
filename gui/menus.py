"""The main window's menu bar, exports, sequences, the about box and end-of-run notices.

* File: open the data folder, open a run (by id), export the current plot (PNG/SVG/CSV through
  pyqtgraph's exporters), export the wafer map (PNG/SVG), quit.
* View: show/hide each dock, reset the layout to the default one.
* Run: queue, stop, sequences (:func:`sequence_procedures`: one procedure over a list of values of
  one parameter, or over several cell groups or dies; each an ordinary queued run).
* Help: keyboard shortcuts, about (versions, bench, the instruments' identities, read by the
  bench I/O worker, never on the GUI thread).

A finished or failed run longer than :data:`NOTIFY_AFTER_S` is announced in the status bar and,
where the platform has a system tray, by a tray message.
"""

from __future__ import annotations

import copy
import logging
import platform
import time
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pyqtgraph as pg
import pyqtgraph.exporters as pg_exporters
from PyQt6.QtCore import QUrl
from PyQt6.QtGui import QAction, QDesktopServices, QKeySequence
from PyQt6.QtWidgets import (
    QApplication,
    QFileDialog,
    QInputDialog,
    QMessageBox,
    QStyle,
    QSystemTrayIcon,
)

from procedures.framework.base import BenchProcedure, set_parameters

log = logging.getLogger(__name__)

NOTIFY_AFTER_S = 30.0
"""Runs at least this long (s) are announced when they end."""

SHORTCUTS = (
    ("Ctrl+R", "Queue the procedure with the shown parameters"),
    ("Ctrl+.", "STOP: abort, outputs off, chuck separated"),
    ("Ctrl+Shift+A", "Apply the manual action to the selected cells"),
    ("Ctrl+Shift+Q", "Queue a sequence"),
    ("Ctrl+E", "Export the current plot"),
    ("Ctrl+O", "Open a run by id"),
    ("Ctrl+Q", "Quit"),
    ("F1", "Keyboard shortcuts"),
    ("Arrow keys (wafer map)", "Step the prober to the neighbouring die"),
    ("Double-click a die", "Step the prober there (separated first)"),
    ("Click / drag / Ctrl+click cells", "Target cells; one cell opens its history"),
)


# -- exports ----------------------------------------------------------------------------------
def export_item(item: Any, path: str | Path) -> Path:
    """Export a pyqtgraph PlotItem/scene item to ``path``: ``.png``, ``.svg`` or ``.csv``
    (the CSV exporter needs a PlotItem). Returns the path written.

    PNG and CSV use pyqtgraph's exporters; SVG is drawn by Qt's own SVG generator, since
    pyqtgraph's SVG exporter cannot parse the paths Qt 6 writes.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    exporters = {".png": pg_exporters.ImageExporter, ".csv": pg_exporters.CSVExporter}
    if suffix == ".svg":
        return _export_svg(item, path)
    if suffix not in exporters:
        raise ValueError(f"export to .png, .svg or .csv, not {suffix or 'no suffix'!r}")
    if suffix == ".csv" and not isinstance(item, pg.PlotItem):
        raise ValueError("only a plot exports as CSV")
    exporter = exporters[suffix](item)
    if suffix == ".png":
        exporter.parameters()["width"] = max(800, int(item.sceneBoundingRect().width()))
    exporter.export(str(path))
    return path


def _export_svg(item: Any, path: Path) -> Path:
    from PyQt6.QtCore import QRectF, QSize
    from PyQt6.QtGui import QPainter
    from PyQt6.QtSvg import QSvgGenerator

    source = item.sceneBoundingRect()
    gen = QSvgGenerator()
    gen.setFileName(str(path))
    gen.setSize(QSize(int(source.width()), int(source.height())))
    gen.setViewBox(QRectF(0, 0, source.width(), source.height()))
    gen.setTitle("MemProbe plot")
    painter = QPainter(gen)
    try:
        item.scene().render(painter, QRectF(0, 0, source.width(), source.height()), source)
    finally:
        painter.end()
    return path


def current_plot_item(window: Any, csv: bool = False) -> Any:
    """What to export of the plot tab shown: its whole layout (all its plots) for an image,
    its (first) PlotItem for CSV."""
    widget = window.plot_tabs.currentWidget()
    plot = getattr(widget, "plot", None) or getattr(widget, "linear_plot", None)
    if not isinstance(plot, pg.PlotItem):
        raise ValueError("the current tab has no plot to export")
    layout = getattr(getattr(widget, "view", None), "ci", None)
    return plot if csv or layout is None else layout


# -- sequences --------------------------------------------------------------------------------
def parse_values(text: str, template: Any) -> list[Any]:
    """Values of a sequence, ``;``-separated (``,`` is inside cells and dies); numbers may be
    ``start:stop:count`` (inclusive, evenly spaced)."""
    import numpy as np

    out: list[Any] = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        if isinstance(template, int | float) and not isinstance(template, bool) \
                and part.count(":") == 2:
            a, b, n = part.split(":")
            values = np.linspace(float(a), float(b), int(n))
            out.extend(int(round(v)) if isinstance(template, int) else float(v) for v in values)
        else:
            out.append(part)
    if not out:
        raise ValueError("a sequence needs at least one value")
    return out


def sequence_procedures(procedure: BenchProcedure, parameter: str,
                        values: Sequence[Any]) -> list[BenchProcedure]:
    """Copies of ``procedure``, one per value of ``parameter`` (a cells group, a die, any
    parameter), each value converted and checked like a typed-in one (one-line ValueError
    naming the parameter)."""
    out = []
    for value in values:
        p = copy.deepcopy(procedure)
        set_parameters(p, {parameter: value})  # unknown name or bad value: ValueError
        out.append(p)
    return out


# -- the menu bar -----------------------------------------------------------------------------
class Menus:
    """Builds and serves the main window's menu bar."""

    def __init__(self, window: Any) -> None:
        self.w = window
        self.default_state = window.saveState()  # "reset layout" goes back to it
        self.identities: dict[str, str] = {}
        self.tray: QSystemTrayIcon | None = None
        self._started: dict[int, float] = {}
        bar = window.menuBar()
        file_menu = bar.addMenu("&File")
        self._add(file_menu, "Open data folder", "", self.open_data_folder)
        self._add(file_menu, "Open run…", "Ctrl+O", self.open_run_dialog)
        file_menu.addSeparator()
        self._add(file_menu, "Export plot…", "Ctrl+E", self.export_plot_dialog)
        self._add(file_menu, "Export wafer map…", "", self.export_wafer_dialog)
        file_menu.addSeparator()
        self._add(file_menu, "Quit", "Ctrl+Q", window.close)
        view = bar.addMenu("&View")
        from PyQt6.QtWidgets import QDockWidget

        for dock in window.findChildren(QDockWidget):
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        self._add(view, "Reset layout", "", self.reset_layout)
        run = bar.addMenu("&Run")
        run.addAction(window.queue_action)
        run.addAction(window.stop_action)
        self.sequence_action = self._add(run, "Sequence…", "Ctrl+Shift+Q", self.sequence_dialog)
        self.manual_action = self._add(run, "Apply manual action", "Ctrl+Shift+A",
                                       window.manual.apply)
        help_menu = bar.addMenu("&Help")
        self._add(help_menu, "Keyboard shortcuts", "F1", self.show_shortcuts)
        self._add(help_menu, "About MemProbe", "", self.show_about)
        window.controller.runStarted.connect(self._run_started)
        window.controller.runFinished.connect(self._run_finished)
        if QSystemTrayIcon.isSystemTrayAvailable():
            icon = window.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon)
            self.tray = QSystemTrayIcon(icon, window)
            self.tray.setToolTip("MemProbe")
            self.tray.show()

    def _add(self, menu: Any, text: str, shortcut: str, slot: Any) -> QAction:
        action = QAction(text, self.w)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    # -- file -----------------------------------------------------------------------------------
    def open_data_folder(self) -> bool:
        """Open the data root in the desktop's file manager."""
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.w.data_root)))

    def open_run(self, run_id: int) -> bool:
        """Show run ``run_id``'s plots; False with a message if it is not in the catalog. Its
        rows (and HDF5 waveforms) are read in the file reader's thread, as the results
        browser's (:meth:`gui.results_browser.ResultsBrowser.open_row`)."""
        from procedures.analysis import run_data

        try:
            info = self.w.catalog.get(int(run_id))
        except (KeyError, ValueError) as exc:
            self.w.message(f"Cannot open run {run_id}: {exc}", error=True)
            return False
        catalog = self.w.catalog

        def failed(exc: Exception) -> None:
            self.w.message(f"Cannot open run {run_id}: {exc}", error=True)

        self.w.reader.request("open-run", lambda: run_data(catalog, info.id, waveforms=True),
                              lambda data: self.w.show_run(info, data), failed)
        return True

    def open_run_dialog(self) -> None:
        run_id, ok = QInputDialog.getInt(self.w, "Open run", "Run id:", 1, 1, 10**9)
        if ok:
            self.open_run(run_id)

    def export_plot(self, path: str | Path) -> Path:
        """Export the current plot tab to ``path`` (.png, .svg, .csv)."""
        csv = Path(path).suffix.lower() == ".csv"
        written = export_item(current_plot_item(self.w, csv), path)
        self.w.message(f"Plot exported to {written}")
        return written

    def export_wafer_map(self, path: str | Path) -> Path:
        """Export the wafer map to ``path`` (.png or .svg)."""
        if Path(path).suffix.lower() == ".csv":
            raise ValueError("export the wafer map to .png or .svg")
        written = export_item(self.w.wafer_map.plot, path)
        self.w.message(f"Wafer map exported to {written}")
        return written

    def _export_dialog(self, title: str, filters: str, export: Any) -> None:
        path, _ = QFileDialog.getSaveFileName(self.w, title, str(self.w.data_root), filters)
        if not path:
            return
        try:
            export(path)
        except (ValueError, OSError) as exc:
            self.w.message(f"Export failed: {exc}", error=True)

    def export_plot_dialog(self) -> None:
        self._export_dialog("Export plot", "PNG (*.png);;SVG (*.svg);;CSV (*.csv)",
                            self.export_plot)

    def export_wafer_dialog(self) -> None:
        self._export_dialog("Export wafer map", "PNG (*.png);;SVG (*.svg)",
                            self.export_wafer_map)

    # -- view -----------------------------------------------------------------------------------
    def reset_layout(self) -> None:
        """Every dock back where it was at start (and shown)."""
        self.w.restoreState(self.default_state)

    # -- run ------------------------------------------------------------------------------------
    def queue_sequence(self, parameter: str, values_text: str) -> int:
        """Queue the shown procedure once per value of ``parameter``; returns how many.

        Every run is checked before any is queued (nothing queued on a bad value).
        """
        panel = self.w.procedure_panel
        proc = panel.build_procedure()
        template = getattr(proc, parameter, None)
        procs = sequence_procedures(proc, parameter, parse_values(values_text, template))
        from procedures.framework.validation import validate_procedure

        for p in procs:
            validate_procedure(copy.deepcopy(p), self.w.bench.limits)
        for k, p in enumerate(procs):
            self.w.controller.enqueue(
                p, label=f"{p.NAME} [{k + 1}/{len(procs)}] {parameter}={getattr(p, parameter)}")
        self.w.message(f"Sequence: {len(procs)} runs of {proc.NAME} over {parameter} queued")
        return len(procs)

    def sequence_dialog(self) -> None:
        panel = self.w.procedure_panel
        keys = list(panel.editors)
        parameter, ok = QInputDialog.getItem(self.w, "Sequence", "Parameter to vary:", keys,
                                             keys.index("cells") if "cells" in keys else 0,
                                             False)
        if not ok:
            return
        text, ok = QInputDialog.getText(
            self.w, "Sequence", f"Values of {parameter} (';' between values, numbers also "
            "start:stop:count):")
        if not ok:
            return
        try:
            self.queue_sequence(parameter, text)
        except ValueError as exc:
            self.w.message(f"Sequence not queued: {str(exc).splitlines()[0]}", error=True)

    # -- help -----------------------------------------------------------------------------------
    def shortcuts_text(self) -> str:
        """The keyboard shortcuts, one per line."""
        return "\n".join(f"{k}: {what}" for k, what in SHORTCUTS)

    def show_shortcuts(self) -> None:
        QMessageBox.information(self.w, "Keyboard shortcuts", self.shortcuts_text())

    def fetch_identities(self) -> bool:
        """Ask the bench I/O worker for the instruments' identities (not while a run owns
        the bench); they show in the about box when they arrive."""
        def done(status: Any) -> None:
            self.identities = {i.name: (i.identity if i.ok else f"ERROR: {i.message}")
                               for i in status.instruments}

        return self.w.io.submit(self.w.bench.status, done, name="identities")

    def about_text(self) -> str:
        """Versions, the bench and the instruments' identities (as last fetched)."""
        def v(name: str) -> str:
            try:
                return version(name)
            except PackageNotFoundError:
                return "?"

        from PyQt6.QtCore import PYQT_VERSION_STR, QT_VERSION_STR

        cfg = self.w.bench.config
        lines = [f"MemProbe {v('memprobe')}",
                 f"Python {platform.python_version()}, Qt {QT_VERSION_STR}, "
                 f"PyQt {PYQT_VERSION_STR}, pyqtgraph {pg.__version__}, "
                 f"pymeasure {v('pymeasure')}",
                 f"Bench: {cfg.name} ({'simulated' if cfg.simulated else 'lab'})"
                 + (f", {cfg.source}" if cfg.source else ""),
                 f"Data: {self.w.data_root}"]
        for name, ident in self.identities.items():
            lines.append(f"{name}: {ident} ({cfg.resources.get(name, '')})")
        if not self.identities:
            lines.append("instruments: identities not read yet (a run owns the bench?)")
        return "\n".join(lines)

    def show_about(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, "About MemProbe", self.about_text(),
                          parent=self.w)
        if not self.identities and self.fetch_identities():
            def update() -> None:
                box.setText(self.about_text())

            self.w.io.when_idle(update)
        box.open()

    # -- notifications --------------------------------------------------------------------------
    def _run_started(self, item: Any) -> None:
        self._started[id(item)] = time.monotonic()
        self._current = id(item)

    def _run_finished(self, outcome: Any) -> None:
        started = self._started.pop(getattr(self, "_current", 0), None)
        if started is None or time.monotonic() - started < NOTIFY_AFTER_S:
            return
        self.notify(f"Run {outcome.run_id} {outcome.status}",
                    outcome.error or str(outcome.file), outcome.status != "finished")

    def notify(self, title: str, text: str, error: bool = False) -> None:
        """Status bar message and, where there is one, a system tray message."""
        self.w.message(f"{title}: {text}", error=error)
        self.last_notice = (title, text)
        if self.tray is not None and QSystemTrayIcon.supportsMessages():
            icon = (QSystemTrayIcon.MessageIcon.Critical if error
                    else QSystemTrayIcon.MessageIcon.Information)
            self.tray.showMessage(title, text, icon, 10_000)
        QApplication.alert(self.w)
