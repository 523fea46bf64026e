"""An unhandled exception in a GUI slot (a display bug) is logged (log pane) and the
application goes on. It never aborts the process: PyQt6's default without an except hook is
qFatal -> SIGABRT, which would leave outputs on and the chuck in contact with no safe end
(pyqtgraph's import happens to install a hook that only prints; MemProbe owns the behaviour).
The window then closes as usual, making the bench safe. Run in a subprocess: the real process's
exit status is checked."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests._paths import REPO

ROOT = REPO

_SCRIPT = textwrap.dedent("""
    import logging
    import sys
    from pathlib import Path
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication
    from gui.app import run_app
    from instruments.bench import Bench

    logging.basicConfig(level=logging.WARNING)  # as memprobe's main: records to stderr
    app = QApplication([])

    def boom():
        raise RuntimeError("display bug")

    def close():
        for w in app.topLevelWidgets():
            if type(w).__name__ == "MainWindow":
                w.close()

    QTimer.singleShot(0, boom)   # both run once the application's loop runs, in this order
    QTimer.singleShot(0, close)
    root = Path(sys.argv[1])
    code = run_app(data_dir=root, fresh=True)
    with Bench.open("simulated", data_dir=root) as bench:  # the first bench was closed
        print("reopened", bench.prober.chuck_status().separated, flush=True)
    print("exit", code, flush=True)
""")


def test_an_error_in_a_slot_is_logged_and_the_gui_goes_on(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "data")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "reopened True" in proc.stdout and "exit 0" in proc.stdout, proc.stdout
    assert "unhandled error in the GUI (the application goes on): RuntimeError: display bug" \
        in proc.stderr, proc.stderr[-2000:]
