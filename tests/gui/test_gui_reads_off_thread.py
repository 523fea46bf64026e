"""The GUI thread never waits on the catalog or the results files: the device history and the
wafer map's figures are read in the file reader's worker (pytest-qt, slow catalog stubs that
block in the worker until released, and a timer that must fire meanwhile)."""

from __future__ import annotations

import threading

import pytest
from PyQt6.QtCore import QTimer

from gui.history_view import HistoryView
from gui.widgets.array_map import ArrayMapWidget
from procedures.framework.catalog import Catalog


class _Gate:
    """Makes ``catalog.runs`` block (in whichever thread calls it) until released."""

    def __init__(self, catalog: Catalog) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.threads: list[threading.Thread] = []
        real = catalog.runs

        def runs(*args, **kwargs):
            self.threads.append(threading.current_thread())
            self.entered.set()
            assert self.release.wait(30)
            return real(*args, **kwargs)

        catalog.runs = runs


def _loop_is_free(qtbot) -> None:
    fired = []
    QTimer.singleShot(0, lambda: fired.append(True))
    qtbot.waitUntil(lambda: fired == [True], timeout=5_000)


@pytest.fixture
def gated(qtbot, tmp_path):
    """A history view (and its array map) of die (9,9) 1T1R on a new catalog whose ``runs``
    blocks until released (:class:`_Gate`); its reader and the catalog closed after the test."""
    catalog = Catalog(tmp_path)
    try:
        amap = ArrayMapWidget(32, 32)
        view = HistoryView(catalog, amap)
        qtbot.addWidget(amap)
        qtbot.addWidget(view)
        gate = _Gate(catalog)
        view.set_die((9, 9), "1T1R")
        yield view, gate
        view.reader.close()
    finally:
        catalog.close()


def test_history_is_read_in_the_worker_and_the_loop_stays_free(qtbot, gated):
    view, gate = gated
    view.show_cells([(1, 2)])  # returns at once: the catalog is stuck in the worker
    assert view.summary_label.text().startswith("reading")
    qtbot.waitUntil(gate.entered.is_set, timeout=10_000)
    _loop_is_free(qtbot)
    assert view.frames == {}
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        gate.release.set()
    assert list(view.frames) == [(1, 2)] and len(view.frames[(1, 2)]) == 0
    assert "die 9,9 1T1R" in view.summary_label.text()
    assert gate.threads and all(t is not threading.main_thread() for t in gate.threads)
    # the array map coloured by state: summaries read in the worker too
    gate.entered.clear()
    view.state_combo.setCurrentText("formed")
    qtbot.waitUntil(gate.entered.is_set, timeout=10_000)
    assert all(t is not threading.main_thread() for t in gate.threads)


def test_a_later_click_supersedes_an_earlier_one(qtbot, gated):
    view, gate = gated
    view.show_cells([(0, 0)])
    qtbot.waitUntil(gate.entered.is_set, timeout=10_000)
    view.show_cells([(3, 4), (5, 6)])  # clicked again before the answer came
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        gate.release.set()
    qtbot.waitUntil(lambda: not view.reader.busy, timeout=10_000)
    assert list(view.frames) == [(3, 4), (5, 6)] and view.reader.superseded == 1


def test_wafer_map_figures_are_read_in_the_worker(qtbot, main_window):
    window = main_window
    cat = window.catalog
    a = cat.start_run("forming", {}, "a.csv", die=(9, 9))
    cat.finish_run(a, "finished", summary={"v_form": 2.0})
    b = cat.start_run("forming", {}, "b.csv", die=(9, 9))
    cat.finish_run(b, "finished", summary={"v_form": 3.0})
    gate = _Gate(cat)
    window._update_wafer_values()
    qtbot.waitUntil(gate.entered.is_set, timeout=10_000)
    _loop_is_free(qtbot)
    with qtbot.waitSignal(window.waferValuesShown, timeout=10_000):
        gate.release.set()
    assert all(t is not threading.main_thread() for t in gate.threads)
    assert window.wafer_map.values() == {(9, 9): 2.5}
