"""The results browser shows one bounded page of the catalog, and its search per keystroke is
debounced and runs off the GUI thread (pytest-qt, a real SQLite catalog)."""

from __future__ import annotations

import threading

import pytest

from gui.results_browser import ResultsBrowser
from procedures.framework.catalog import Catalog


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog(tmp_path)
    yield cat
    cat.close()


def _fill(cat: Catalog, n: int) -> list[int]:
    ids = []
    for k in range(n):
        run_id = cat.start_run("forming" if k % 2 else "iv-cycling", {}, f"r{k}.csv")
        if k % 10 == 0:
            cat.set_notes(run_id, f"bake step {k}")
        ids.append(run_id)
    return ids


def test_pages_of_the_newest_runs_with_newer_and_older(qtbot, catalog):
    ids = _fill(catalog, 45)
    browser = ResultsBrowser(catalog, page_size=20)
    qtbot.addWidget(browser)
    assert [r.id for r in browser.runs] == ids[::-1][:20]
    assert browser.table.rowCount() == 20 and browser.total == 45
    assert browser.page_label.text() == "1-20 of 45"
    assert not browser.newer_button.isEnabled() and browser.older_button.isEnabled()
    browser.older_button.click()
    browser.older_button.click()
    assert [r.id for r in browser.runs] == ids[::-1][40:]
    assert browser.table.rowCount() == 5 and browser.page_label.text() == "41-45 of 45"
    assert browser.newer_button.isEnabled() and not browser.older_button.isEnabled()
    browser.older_button.click()  # no page past the last
    assert browser.page == 2
    browser.newer_button.click()
    assert [r.id for r in browser.runs] == ids[::-1][20:40]
    # a filter applies to the whole catalog, not to the shown page
    browser.procedure_filter.setCurrentText("forming")
    assert browser.total == 22 and all(r.procedure == "forming" for r in browser.runs)


def test_search_waits_for_the_typing_to_pause_then_reads_in_the_worker(qtbot, catalog):
    ids = _fill(catalog, 30)
    browser = ResultsBrowser(catalog, page_size=20)
    qtbot.addWidget(browser)
    threads: list[str] = []
    real_page = catalog.page

    def page(**query):
        threads.append(threading.current_thread().name)
        return real_page(**query)

    catalog.page = page
    with qtbot.waitSignal(browser.refreshed, timeout=10_000):
        for ch in "bake":  # four keystrokes: one query once they pause
            browser.search.setText(browser.search.text() + ch)
        assert threads == []  # nothing read while typing
    assert len(threads) == 1 and threads[0] != threading.main_thread().name
    assert [r.id for r in browser.runs] == [ids[k] for k in (20, 10, 0)]
    assert browser.page_label.text() == "1-3 of 3"


def test_a_slow_catalog_never_blocks_the_window(qtbot, catalog):
    ids = _fill(catalog, 5)
    browser = ResultsBrowser(catalog)
    qtbot.addWidget(browser)
    entered, release = threading.Event(), threading.Event()
    real_page = catalog.page

    def slow_page(**query):
        entered.set()
        assert release.wait(30)
        return real_page(**query)

    catalog.page = slow_page
    browser.search.setText("bake")
    qtbot.waitUntil(entered.is_set, timeout=10_000)  # the query is in the worker, stuck
    # the GUI thread still runs its event loop: a timer posted now fires
    from PyQt6.QtCore import QTimer

    fired = []
    QTimer.singleShot(0, lambda: fired.append(True))
    qtbot.waitUntil(lambda: fired == [True], timeout=5_000)
    assert len(browser.runs) == 5  # still the previous page
    with qtbot.waitSignal(browser.refreshed, timeout=10_000):
        release.set()
    assert [r.id for r in browser.runs] == [ids[0]]


def test_an_explicit_refresh_supersedes_a_search_on_its_way(qtbot, catalog):
    _fill(catalog, 5)
    browser = ResultsBrowser(catalog)
    qtbot.addWidget(browser)
    entered, release = threading.Event(), threading.Event()
    real_page = catalog.page

    def slow_page(**query):
        if threading.current_thread() is not threading.main_thread():
            entered.set()
            assert release.wait(30)
        return real_page(**query)

    catalog.page = slow_page
    browser.search.setText("no such words")
    qtbot.waitUntil(entered.is_set, timeout=10_000)
    browser.search.blockSignals(True)
    browser.search.clear()
    browser.search.blockSignals(False)
    browser.refresh()  # now, on the GUI thread: all five
    assert len(browser.runs) == 5
    release.set()
    qtbot.waitUntil(lambda: not browser.reader.busy, timeout=10_000)
    assert len(browser.runs) == 5 and browser.reader.superseded == 1
