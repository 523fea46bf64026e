"""Start the Qt application: open the bench, show the main window."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

from gui.main_window import MainWindow
from instruments.bench import Bench, BenchConfigError
from instruments.datadir import resolve_data_root

log = logging.getLogger(__name__)


def run_app(
    bench: str = "simulated",
    data_dir: Path | None = None,
    fresh: bool = False,
    screenshot: Path | None = None,
) -> int:
    """Run the GUI until the window closes; with ``screenshot``, save a PNG and exit.

    Returns the process exit code.
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("MemProbe")
    app.setOrganizationName("MemProbe")
    root = resolve_data_root(data_dir)
    try:
        the_bench = Bench.open(bench, data_dir=root, fresh=fresh)
    except (BenchConfigError, OSError) as exc:
        print(f"memprobe: cannot open bench {bench!r}: {exc}", file=sys.stderr)
        return 2
    window = MainWindow(the_bench, data_root=root)
    window.show()
    code = 0
    if screenshot is not None:
        def grab() -> None:
            nonlocal code
            window.refresh_status()
            if not window.grab().save(str(screenshot)):
                log.error("could not write %s", screenshot)
                code = 1
            window.close()

        QTimer.singleShot(300, grab)
    app.exec()
    return code
