"""Helpers shared by the GUI tests (pytest-qt): a main window that ends safely, queueing a
procedure from its panel and waiting on the controller's signals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def open_main_window(qtbot, bench, data_root: Path, idle_s: float = 20.0) -> Iterator:
    """The main window on ``bench`` with the default parameters (Qt settings cleared), shown.

    At the end whatever it still runs is aborted and waited for (a campaign or a wafer run: up
    to 60 s; the procedure queue: up to ``idle_s`` s, hang guards only), then it is closed, which
    ends the bench I/O worker before the caller closes the bench.
    """
    from PyQt6.QtCore import QSettings

    from gui.main_window import MainWindow

    QSettings().clear()  # every test starts from the default parameters
    w = MainWindow(bench, data_root, restore_layout=False)
    qtbot.addWidget(w)
    w.show()
    try:
        yield w
    finally:
        for panel in (w.campaign_panel, w.wafer_panel):
            if panel.busy:
                panel.abort()
                panel.run.wait(60)
        w.controller.abort_all()
        w.controller.wait_idle(idle_s)
        w.close()


def queue_in_window(qtbot, window, name: str, signal: str, timeout_ms: int, **params) -> list:
    """Queue procedure ``name`` from the window's procedure panel with ``params`` (refused: the
    panel's error line is the failure); wait for the controller's ``signal`` and return its
    arguments."""
    panel = window.procedure_panel
    panel.set_procedure(name)
    for k, v in params.items():
        panel.set_parameter(k, v)
    with qtbot.waitSignal(getattr(window.controller, signal), timeout=timeout_ms) as blocker:
        assert panel.queue_current(), panel.error_label.text()
    return blocker.args


def run_in_window(qtbot, window, name, **params):
    """Queue procedure ``name`` from the window's procedure panel with ``params``; wait for the
    run's end and return its outcome."""
    return queue_in_window(qtbot, window, name, "runFinished", 120_000, **params)[0]


def start_in_window(qtbot, window, name, **params) -> None:
    """Queue procedure ``name`` from the window's procedure panel with ``params``; return once
    the GUI has received the run's first row (the run owns the bench and is still going)."""
    queue_in_window(qtbot, window, name, "rowReceived", 20_000, **params)


def run_campaign_in_tab(qtbot, window, path: Path, points: int, timeout_ms: int = 180_000):
    """Load the campaign file ``path`` in the window's Campaign tab and run it; wait for its end
    and for ``points`` measurement points to reach the tab. Returns (outcome, points)."""
    panel = window.campaign_panel
    assert panel.load(path)
    heard: list = []
    panel.signals.point.connect(heard.append)
    with qtbot.waitSignal(panel.finished, timeout=timeout_ms) as blocker:
        assert panel.start()
    qtbot.waitUntil(lambda: len(heard) == points, timeout=60_000)
    return blocker.args[0], heard


def pause_then_resume(qtbot, panel, bench, started) -> object:
    """Once ``started()`` holds, pause the session ``panel`` (a campaign or a wafer run); at
    the pause the bench is left safe (out of contact, every DC output 0 V, read on the twin);
    resume it and return its outcome once it has completed."""
    qtbot.waitUntil(started, timeout=120_000)
    panel.pause()
    qtbot.waitUntil(lambda: panel.run.state == "paused", timeout=120_000)
    assert not bench.lab.prober.in_contact
    assert all(v == 0.0 for v in bench.lab.dc_bias.values())
    with qtbot.waitSignal(panel.finished, timeout=180_000) as blocker:
        assert panel.resume()
    outcome = blocker.args[0]
    assert outcome.state == "completed", outcome.error
    return outcome
