"""A stop signal landing after the window is shown but before the event loop runs (between
``window.show()`` and the stop action's registration, formerly a KeyboardInterrupt that left
the bench open) closes the window and makes the bench safe like any later signal.

Run in a subprocess: ``run_app`` quits the application (``aboutToQuit`` runs pyqtgraph's
clean-up), which must not leak into the other tests' QApplication."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests._paths import REPO

_SCRIPT = textwrap.dedent("""
    import signal
    import sys
    from pathlib import Path
    from PyQt6.QtWidgets import QApplication
    import gui.app
    from instruments.bench import Bench
    from procedures.framework.shutdown import ShutdownSignals

    app = QApplication([])
    stopper = ShutdownSignals()  # not installed: request() plays the handler's part
    real_bridge = gui.app.SignalBridge
    shown = []

    def bridge_after_a_signal(app):
        shown.extend(w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow")
        stopper.request(signal.SIGTERM)  # lands here: after show(), before app.exec()
        return real_bridge(app)

    gui.app.SignalBridge = bridge_after_a_signal
    root = Path(sys.argv[1])
    code = gui.app.run_app(bench="simulated", data_dir=root, fresh=True, shutdown=stopper)
    print("returned", code, stopper.signum == signal.SIGTERM, flush=True)
    print("window closed", bool(shown) and not shown[0].isVisible(), flush=True)
    with Bench.open("simulated", data_dir=root) as bench:  # the first bench was closed
        print("reopened separated", bench.prober.chuck_status().separated, flush=True)
""")


def test_a_signal_right_after_show_closes_the_window_and_the_bench(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "data")], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "returned 0 True" in out
    assert "window closed True" in out
    assert "reopened separated True" in out
