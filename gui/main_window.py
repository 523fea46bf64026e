"""The main window: bench dock, wafer map, array map, plots, procedures, results, log.

Layout: bench status and wafer map on the left; array map and plots in the centre; the
procedure panel on the right; results browser and log at the bottom. Docks can be moved; the
layout and the procedure parameters persist (QSettings).

Rules kept here: the GUI never talks to the instruments while a run is active (the run owns
them; the bench dock shows "run in progress"), and the prober is only stepped from the GUI when
idle, always separating before the XY move. Whatever the GUI asks of the instruments itself
(status, stepping, the wafer-map set-up, making safe after Stop) runs in the bench I/O worker
(:mod:`gui.bench_io`); results come back as signals, so the window never waits on a query.

This module builds the window and wires its docks; the window's own bench actions (status,
Stop, stepping) are in :mod:`gui.window_bench`, the figures it colours the wafer map (or board)
and the distributions with in :mod:`gui.window_figures`, the menus in :mod:`gui.menus`, and
which runner may own the bench in :mod:`gui.bench_owner`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QSplitter,
    QTabWidget,
)

from gui.bench_io import BenchIO
from gui.bench_owner import share_bench
from gui.bench_panel import BenchPanel
from gui.board_panel import BoardPanel
from gui.campaign_panel import CampaignPanel
from gui.file_reader import FileReader
from gui.history_view import HistoryView
from gui.log_pane import LogPane
from gui.manual_dock import ManualDock
from gui.menus import Menus
from gui.plot_router import PlotRouter
from gui.plots.cdf_plot import CDFPlot
from gui.plots.conductance_plot import ConductancePlot
from gui.plots.iv_plot import IVPlot
from gui.plots.learning_plot import LearningPlot
from gui.plots.pulse_plot import PulsePlot
from gui.procedure_panel import ProcedurePanel
from gui.results_browser import ResultsBrowser
from gui.run_controller import RunController
from gui.wafer_panel import WaferPanel
from gui.widgets.array_map import ArrayMapWidget
from gui.window_bench import WindowBench
from gui.window_figures import WindowFigures
from instruments.bench import Bench
from instruments.chip.geometry import ARRAY_SHAPES
from procedures.framework.catalog import Catalog, RunInfo
from procedures.framework.targets import format_cells, parse_die

log = logging.getLogger(__name__)

STATUS_PERIOD_MS = 1000
#: after this many seconds (wall clock) of waiting for a run to stop, closing the window says
#: in the log that it waits for the run's safe end (it never closes the bench under a run)
CLOSE_NOTICE_S = 10.0


class MainWindow(WindowBench, WindowFigures, QMainWindow):
    """MemProbe's main window on an open bench.

    Signals: ``stepped(col, row)`` when the prober reports the die it stepped to,
    ``statusShown(object)`` with each bench status shown, ``waferValuesShown()`` when the
    wafer map shows the chosen figure (all on the GUI thread).
    """

    stepped = pyqtSignal(int, int)
    statusShown = pyqtSignal(object)
    waferValuesShown = pyqtSignal()

    def __init__(self, bench: Bench, data_root: Path, catalog: Catalog | None = None,
                 restore_layout: bool = True) -> None:
        super().__init__()
        self.bench = bench
        self.data_root = Path(data_root)
        self.catalog = catalog or Catalog(self.data_root)
        self.controller = RunController(bench, self.data_root, self.catalog, self)
        self.io = BenchIO(self)  # the GUI's own instrument I/O, off the GUI thread
        self.io.blocked_by = lambda: "a run owns the bench" if self.busy else ""
        self.controller.io = self.io
        self.reader = FileReader(self)  # catalog and file reads, off the GUI thread
        self._stop_pending = False
        self.last_message = ""
        self.setWindowTitle(f"MemProbe — bench: {bench.config.name}")
        self.resize(1600, 1000)
        self._build_centre()
        self._build_docks()
        self._build_actions()
        self._wire()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh_status)
        self._timer.start(STATUS_PERIOD_MS)
        if restore_layout:
            self._restore_settings()
        # the first status read queues behind the wafer-map set-up (refresh_status would skip it)
        self.io.submit(self.bench.status, self._show_status, name="status")

    # -- construction helpers -------------------------------------------------------------------
    def _build_centre(self) -> None:
        """The centre: array map | plot tabs, and the router that feeds them."""
        self.array_map = ArrayMapWidget(*ARRAY_SHAPES["1T1R"])
        self.iv_plot = IVPlot()
        self.pulse_plot = PulsePlot()
        self.conductance_plot = ConductancePlot()
        self.cdf_plot = CDFPlot()
        self.learning_plot = LearningPlot()
        self.plot_tabs = QTabWidget()
        for widget, title in ((self.iv_plot, "I-V"), (self.pulse_plot, "Pulse"),
                              (self.conductance_plot, "G vs pulse"),
                              (self.cdf_plot, "Distributions"),
                              (self.learning_plot, "Learning")):
            self.plot_tabs.addTab(widget, title)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.array_map)
        splitter.addWidget(self.plot_tabs)
        splitter.setSizes([520, 520])
        self.setCentralWidget(splitter)
        self.router = PlotRouter(self.iv_plot, self.pulse_plot, self.conductance_plot,
                                 self.learning_plot, self.array_map)

    def _build_docks(self) -> None:
        """The bench, wafer-map, procedure, wafer-run, manual, results, log and history docks."""
        bench = self.bench
        self.bench_panel = BenchPanel(bench)
        #: the board of a packaged bench (None with a prober)
        self.board = BoardPanel(self) if bench.prober is None else None
        wafer_box = self._build_wafer_box()
        self.procedure_panel = ProcedurePanel(self.controller)
        self.wafer_panel = WaferPanel(bench, self.data_root, self.catalog, self.wafer_map)
        self.campaign_panel = CampaignPanel(bench, self.data_root, self.catalog)
        self.wafer_panel.io = self.campaign_panel.io = self.io
        self.manual = ManualDock(self.controller, self._manual_target)
        share_bench(self.controller, self.manual, self.wafer_panel, self.campaign_panel)
        self.results_browser = ResultsBrowser(self.catalog, reader=self.reader)
        self.history = HistoryView(self.catalog, self.array_map, reader=self.reader)
        self.log_pane = LogPane()
        self._dock("Bench", self.bench_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        if self.board is not None:  # packaged chips: the board view instead of the wafer map
            self._dock("Board", self._board_box(), Qt.DockWidgetArea.LeftDockWidgetArea)
            self._unused_wafer_box = wafer_box  # not shown; the wafer panel keeps its map
            self.wafer_panel.setEnabled(False)  # wafer runs need a prober
            self.wafer_panel.setToolTip("This bench has no prober: wafer runs are not possible")
        else:
            self._dock("Wafer map", wafer_box, Qt.DockWidgetArea.LeftDockWidgetArea)
        proc_dock = self._dock("Procedure", self.procedure_panel,
                               Qt.DockWidgetArea.RightDockWidgetArea)
        wafer_dock = self._dock("Wafer run", self.wafer_panel,
                                Qt.DockWidgetArea.RightDockWidgetArea)
        manual_dock = self._dock("Manual", self.manual, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(proc_dock, wafer_dock)
        self.tabifyDockWidget(proc_dock, manual_dock)
        campaign_dock = self._dock("Campaign", self.campaign_panel,
                                   Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(proc_dock, campaign_dock)
        proc_dock.raise_()
        results_dock = self._dock("Results", self.results_browser,
                                  Qt.DockWidgetArea.BottomDockWidgetArea)
        log_dock = self._dock("Log", self.log_pane, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(results_dock, log_dock)
        self.history_dock = self._dock("History", self.history,
                                       Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(results_dock, self.history_dock)
        results_dock.raise_()
        docks = [self.findChild(QDockWidget, n) for n in ("dock-bench", "dock-procedure")]
        self.resizeDocks(docks, [380, 330], Qt.Orientation.Horizontal)
        self.resizeDocks([results_dock], [200], Qt.Orientation.Vertical)

    def _build_actions(self) -> None:
        """Stop and Queue (toolbar and shortcuts), the busy label and the menus."""
        self.stop_action = self._action("Stop", "Ctrl+.", self.stop_all,
                                        "Abort the run, outputs off, chuck separated")
        self.queue_action = self._action("Queue run", "Ctrl+R",
                                         self.procedure_panel.queue_current,
                                         "Queue the procedure with the shown parameters")
        toolbar = self.addToolBar("Run")
        toolbar.setObjectName("run-toolbar")
        toolbar.addAction(self.queue_action)
        toolbar.addAction(self.stop_action)
        self.bench_panel.stop_button.clicked.connect(self.stop_all)
        self.busy_label = QLabel("")
        self.statusBar().addPermanentWidget(self.busy_label)
        self.menus = Menus(self)  # menu bar, exports, sequences, about, end-of-run notices

    def _wire(self) -> None:
        """Connect the widgets' and runners' signals to the window and the plot router."""
        self.wafer_map.dieClicked.connect(self._die_clicked)
        self.wafer_map.dieDoubleClicked.connect(self.step_to_die)
        self.wafer_map.stepRequested.connect(self.step_to_die)
        self.array_map.selectionChanged.connect(self._cells_selected)
        self.controller.runStarted.connect(self._run_started)
        self.controller.rowReceived.connect(self.router.feed_row)
        self.controller.batchReceived.connect(self.router.feed_columns)
        self.controller.runFinished.connect(self._run_finished)
        self.controller.busyChanged.connect(self._busy_changed)
        self.results_browser.runOpened.connect(self.show_run)
        for panel in (self.wafer_panel, self.campaign_panel):
            panel.connect_router(self.router, self._busy_changed, self.results_browser.refresh)
        self.results_browser.table.itemSelectionChanged.connect(self._update_distributions)

    def _dock(self, title: str, widget: Any, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower().replace(' ', '-')}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, shortcut: str, slot: Any, tip: str) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip} ({shortcut})")
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def message(self, text: str, error: bool = False) -> None:
        """Show a message in the status bar (and the log)."""
        self.last_message = text
        self.statusBar().showMessage(text, 10000)
        (log.warning if error else log.info)(text)

    def _die_clicked(self, col: int, row: int) -> None:
        self.wafer_map.set_selected_die(col, row)
        self.procedure_panel.set_parameter("die", f"{col},{row}")

    def _cells_selected(self, cells: list) -> None:
        if not cells:
            return
        die, array, text = self._manual_target()
        self.procedure_panel.set_parameter("array", array)
        self.procedure_panel.set_parameter("cells", text)
        self.manual.show_target(die, array, text)
        self.show_history([tuple(c) for c in cells], raise_dock=len(cells) == 1)

    def show_history(self, cells: list[tuple[int, int]], raise_dock: bool = True) -> None:
        """Show the history of ``cells`` (array map indices) of the die in the procedure form."""
        die, array, _ = self._manual_target()
        try:
            target = parse_die(die)
        except ValueError:
            return
        if target is None and self.board is not None:  # the routed chip's identity
            target = self.board.routed_die()
        self.history.set_die(target, array)
        if array == "2T2R":
            cells = sorted({(r, c // 2) for r, c in cells})
        self.history.show_cells(cells)
        if raise_dock:
            self.history_dock.raise_()

    def _manual_target(self) -> tuple[str, str, str]:
        """(die, array, cells) the manual dock acts on: the array map's selection."""
        cells = self.array_map.selected_cells()
        array = "2T2R" if self.array_map.shape[1] == 2 * ARRAY_SHAPES["2T2R"][1] else "1T1R"
        if array == "2T2R":
            cells = sorted({(r, c // 2) for r, c in cells})
        die = str(self.procedure_panel.editors["die"].value()) \
            if "die" in self.procedure_panel.editors else ""
        return die, array, format_cells([tuple(c) for c in cells]) if cells else ""

    # -- runs -----------------------------------------------------------------------------------
    def _run_started(self, item: Any) -> None:
        proc = item.procedure
        self.router.start(list(proc.DATA_COLUMNS), proc.array)
        compliance = getattr(proc, "compliance", None) or getattr(proc, "set_compliance", None)
        self.iv_plot.set_compliance(compliance)
        self.message(f"Running {item.label}")

    def _run_finished(self, outcome: Any) -> None:
        self.message(f"Run {outcome.run_id} {outcome.status}: {outcome.file}"
                     + (f" ({outcome.error})" if outcome.error else ""),
                     error=outcome.status != "finished")
        self.results_browser.refresh()
        self._update_wafer_values()
        self.history.invalidate()

    def _busy_changed(self, _busy: bool) -> None:
        busy = self.busy
        self.busy_label.setText("● run in progress" if busy else "")
        self.bench_panel.set_busy(busy)
        self.procedure_panel.queue_button.setEnabled(not self.wafer_panel.busy)
        self.queue_action.setEnabled(not self.wafer_panel.busy)
        self.wafer_panel.start_button.setEnabled(
            not self.controller.busy and self.wafer_panel.recipe is not None and not
            self.wafer_panel.busy)
        self._finish_stop()
        if not busy:  # show the bench as the run left it, not "run in progress" until the tick
            QTimer.singleShot(0, self.refresh_status)  # (skipped if the next run has started)

    def show_run(self, info: RunInfo, data: Any) -> None:
        """Restore a past run's plots from its data (a long I-V is reduced on the plot's
        worker and drawn when ready: the window never waits on it)."""
        self.router.start(list(data.columns), info.array or "1T1R")
        self.router.feed_columns({c: data[c].to_numpy() for c in data.columns})
        self.router.show()
        self.message(f"Opened run {info.id} ({info.procedure}, {info.status})")

    # -- settings -------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = QSettings()
        geometry = s.value("main/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = s.value("main/state")
        if state is not None:
            self.restoreState(state)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        s = QSettings()
        s.setValue("main/geometry", self.saveGeometry())
        s.setValue("main/state", self.saveState())
        s.setValue("main/last_bench", str(self.bench.config.source or self.bench.config.name))
        self.procedure_panel.save_settings()
        self._timer.stop()
        # the runs end (outputs off, separated, catalog updated) before the bench is closed,
        # however long their stop takes: closing it under a running run could leave an output
        # on that the run switched on after the bench's safe state. Each instrument I/O has a
        # timeout, so an aborted run always ends.
        self.wafer_panel.end_for_close(CLOSE_NOTICE_S)  # aborted, chuck separated, safe
        self.campaign_panel.end_for_close(CLOSE_NOTICE_S)  # aborted, heater set back, safe
        self.controller.abort_all()
        if not self.controller.wait_idle(CLOSE_NOTICE_S):
            log.warning("waiting for the run to end safely before the bench is closed")
            self.controller.wait_idle(None)
        self.io.close()  # its last job ends before the bench is closed
        self.reader.close()
        self.log_pane.detach()
        self.bench.close()
        super().closeEvent(event)
