"""The main window on a fresh simulated bench that the docs' screenshot scripts grab from.

Used by ``docs/operator_screenshots.py`` and ``docs/campaign_screenshot.py`` (run offscreen:
``QT_QPA_PLATFORM=offscreen .venv/bin/python docs/<script>.py``); not part of the package.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QEventLoop, QTimer
from PyQt6.QtWidgets import QApplication

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))


def wait(signal: Any, timeout_ms: int = 120_000) -> None:
    """Run the event loop until ``signal`` is emitted (or ``timeout_ms`` ms have passed)."""
    loop = QEventLoop()
    signal.connect(lambda *_: loop.quit())
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def open_window() -> tuple[QApplication, Any, Any]:
    """``(app, bench, window)``: a 1600 x 1000 main window shown on a fresh simulated bench
    whose data go to a new temporary folder."""
    from gui.main_window import MainWindow
    from instruments.bench import Bench

    app = QApplication.instance() or QApplication(sys.argv[:1])
    root = Path(tempfile.mkdtemp(prefix="memprobe-shots-"))
    bench = Bench.open("simulated", data_dir=root, fresh=True)
    window = MainWindow(bench, root, restore_layout=False)
    window.resize(1600, 1000)
    window.show()
    return app, bench, window
