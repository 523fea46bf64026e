"""The main window: bench status dock, Stop, log. Later issues add the maps, plots and procedures."""

from __future__ import annotations

import logging
from pathlib import Path

from PyQt6.QtCore import QSettings, Qt, QTimer
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox

from gui.bench_panel import BenchPanel
from instruments.bench import Bench

log = logging.getLogger(__name__)

STATUS_PERIOD_MS = 1000


class MainWindow(QMainWindow):
    """MemProbe's main window on an open bench."""

    def __init__(self, bench: Bench, data_root: Path) -> None:
        super().__init__()
        self.bench = bench
        self.data_root = data_root
        self.setWindowTitle(f"MemProbe — bench: {bench.config.name}")
        self.resize(1280, 800)

        centre = QLabel(
            "MemProbe\n\nBench connected. Procedures, wafer map and array map arrive in the next "
            "releases;\nuse the command line (memprobe --help) meanwhile."
        )
        centre.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCentralWidget(centre)

        self.bench_panel = BenchPanel(bench)
        dock = QDockWidget("Bench", self)
        dock.setObjectName("bench-dock")
        dock.setWidget(self.bench_panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)

        self.stop_action = QAction("Stop", self)
        self.stop_action.setShortcut(QKeySequence("Ctrl+."))
        self.stop_action.setToolTip("Outputs off and chuck separated (Ctrl+.)")
        self.stop_action.triggered.connect(self.stop_all)
        toolbar = self.addToolBar("Run")
        toolbar.setObjectName("run-toolbar")
        toolbar.addAction(self.stop_action)
        self.bench_panel.stop_button.clicked.connect(self.stop_all)

        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh_status)
        self._timer.start(STATUS_PERIOD_MS)
        self._restore_settings()
        self.refresh_status()

    def refresh_status(self) -> None:
        """Re-read the bench state into the bench panel."""
        self.bench_panel.refresh()

    def stop_all(self) -> None:
        """Outputs off, chuck separated; report any instrument that could not be made safe."""
        problems = self.bench.safe_state()
        self.refresh_status()
        if problems:
            QMessageBox.warning(self, "Stop", "Not everything could be made safe:\n" + "\n".join(problems))
        else:
            self.statusBar().showMessage("Stopped: outputs off, chuck separated", 5000)

    def _restore_settings(self) -> None:
        s = QSettings()
        geometry = s.value("main/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = s.value("main/state")
        if state is not None:
            self.restoreState(state)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        s = QSettings()
        s.setValue("main/geometry", self.saveGeometry())
        s.setValue("main/state", self.saveState())
        s.setValue("main/last_bench", str(self.bench.config.source or self.bench.config.name))
        self._timer.stop()
        self.bench.close()
        super().closeEvent(event)
