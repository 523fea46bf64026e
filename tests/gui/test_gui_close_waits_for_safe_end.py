"""Closing the main window while a run is still stopping never closes the bench under it: the
window waits for the run's safe end (outputs off by the run, catalog updated) however long that
takes, and says so in the log, instead of closing the connections after a fixed time while the
run thread may still be sending (an output switched on after the bench's own safe state would
stay on).

The slow stop is made by holding the run's own "outputs off" until the window reports that it is
waiting: events only, no time."""

from __future__ import annotations

import logging
import threading

from PyQt6.QtCore import QSettings

import gui.main_window
from gui.main_window import MainWindow
from tests._gui import start_in_window


class _OnWarning(logging.Handler):
    def __init__(self, event: threading.Event) -> None:
        super().__init__(logging.WARNING)
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        if "waiting for the run" in record.getMessage():
            self.event.set()


def test_closing_during_a_slow_stop_waits_for_the_runs_safe_end(qtbot, sim_bench, data_root,
                                                               monkeypatch):
    QSettings().clear()
    monkeypatch.setattr(gui.main_window, "CLOSE_NOTICE_S", 0.0, raising=False)
    release = threading.Event()
    handler = _OnWarning(release)
    logging.getLogger("gui.main_window").addHandler(handler)
    original_off = sim_bench.b1500.all_off

    def slow_off() -> None:  # the run's procedure shutdown is held until the window waits
        if threading.current_thread() is not threading.main_thread():
            release.wait(60)  # hang guard only
        original_off()

    monkeypatch.setattr(sim_bench.b1500, "all_off", slow_off)
    w = MainWindow(sim_bench, data_root, restore_layout=False)
    qtbot.addWidget(w)
    w.show()
    seen: dict[str, bool] = {}
    original_close = sim_bench.close

    def recording_close() -> None:
        handle = w.controller.handle
        seen["run ended first"] = handle is None or handle.done.is_set()
        original_close()

    monkeypatch.setattr(sim_bench, "close", recording_close)
    try:
        start_in_window(qtbot, w, "forming", die="9,9", cells="0-3,0-31")
        handle = w.controller.handle
        w.close()
        assert seen == {"run ended first": True}
        assert handle.outcome is not None and handle.outcome.status == "aborted"
        assert w.catalog.get(handle.outcome.run_id).status == "aborted"
        assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())
        assert not sim_bench.lab.prober.in_contact
    finally:
        release.set()
        logging.getLogger("gui.main_window").removeHandler(handler)
