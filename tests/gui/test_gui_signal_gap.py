"""A stop signal landing after the window is shown but before the event loop runs (between
``window.show()`` and the stop action's registration, formerly a KeyboardInterrupt that left
the bench open) closes the window and makes the bench safe like any later signal."""

from __future__ import annotations

import signal

import gui.app
from instruments.bench import Bench
from procedures.framework.shutdown import ShutdownSignals


def test_a_signal_right_after_show_closes_the_window_and_the_bench(data_root, qapp, monkeypatch):
    stopper = ShutdownSignals()  # not installed: request() plays the handler's part
    real_bridge = gui.app.SignalBridge
    shown = []

    def bridge_after_a_signal(app):
        shown.extend(w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow")
        stopper.request(signal.SIGTERM)  # lands here: after show(), before app.exec()
        return real_bridge(app)

    monkeypatch.setattr(gui.app, "SignalBridge", bridge_after_a_signal)
    code = gui.app.run_app(bench="simulated", data_dir=data_root, fresh=True, shutdown=stopper)
    assert code == 0 and stopper.signum == signal.SIGTERM
    assert shown and not shown[0].isVisible()  # the window was closed
    with Bench.open("simulated", data_dir=data_root) as bench:  # the first bench was closed
        assert bench.prober.chuck_status().separated
