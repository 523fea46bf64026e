"""Grab the Campaign tab's screenshot for the README (offscreen):

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/campaign_screenshot.py

Runs the ``temperature-demo`` campaign from the GUI's Campaign tab on a fresh simulated bench and
saves docs/campaign-tab.png (schedule, condition timeline, window vs chuck temperature).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PyQt6.QtCore import QEventLoop, QTimer
from PyQt6.QtWidgets import QApplication

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))


def main() -> int:
    from gui.main_window import MainWindow
    from instruments.bench import Bench

    app = QApplication.instance() or QApplication(sys.argv[:1])
    root = Path(tempfile.mkdtemp(prefix="memprobe-shots-"))
    bench = Bench.open("simulated", data_dir=root, fresh=True)
    w = MainWindow(bench, root, restore_layout=False)
    w.resize(1600, 1000)
    w.show()
    panel = w.campaign_panel
    panel.load("temperature-demo")
    loop = QEventLoop()
    panel.finished.connect(lambda *_: loop.quit())
    QTimer.singleShot(300_000, loop.quit)
    panel.start()
    loop.exec()
    panel.figure_combo.setCurrentText("window")
    app.processEvents()
    panel.setParent(None)  # out of its dock, at a readable size
    panel.resize(620, 980)
    panel.show()
    app.processEvents()
    panel.grab().save(str(DOCS / "campaign-tab.png"))
    w.close()
    bench.close()
    print(DOCS / "campaign-tab.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
