"""Direct tests of the results browser: filters, notes and tags, opening a measured run."""

from __future__ import annotations

import pytest

from gui.results_browser import ResultsBrowser
from procedures.experiments.conductance_map import ConductanceMapProcedure
from procedures.framework.base import set_parameters
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run


@pytest.fixture
def measured(module_bench):
    """A catalog with one measured map (4 cells on die 9,9) and two catalogued runs without data."""
    bench, root = module_bench
    catalog = Catalog(root)
    proc = ConductanceMapProcedure()
    set_parameters(proc, {"die": "9,9", "cells": "0,0-3"})
    outcome = prepare_run(proc, bench, root, catalog).run()
    assert outcome.status == "finished", outcome.error
    other = catalog.start_run("forming", {}, "gone.csv", die=(3, 4))
    catalog.finish_run(other, "aborted")
    yield catalog, outcome.run_id, other
    catalog.close()


def test_filters_select_by_procedure_status_die_and_search(qtbot, measured):
    catalog, map_id, other = measured
    browser = ResultsBrowser(catalog)
    qtbot.addWidget(browser)
    assert [r.id for r in browser.runs] == [other, map_id]  # newest first
    assert browser.table.rowCount() == 2
    browser.procedure_filter.setCurrentText("conductance-map")
    assert [r.id for r in browser.runs] == [map_id]
    browser.procedure_filter.setCurrentIndex(0)
    browser.status_filter.setCurrentText("aborted")
    assert [r.id for r in browser.runs] == [other]
    browser.status_filter.setCurrentIndex(0)
    browser.die_filter.setText("9,9")
    browser.refresh()
    assert [r.id for r in browser.runs] == [map_id]
    browser.die_filter.setText("not a die")  # ignored, never an exception
    browser.refresh()
    assert len(browser.runs) == 2


def test_notes_and_tags_are_saved_to_the_catalog_and_searchable(qtbot, measured):
    catalog, map_id, _other = measured
    browser = ResultsBrowser(catalog)
    qtbot.addWidget(browser)
    assert not browser.save_notes()  # nothing selected
    row = next(i for i, r in enumerate(browser.runs) if r.id == map_id)
    browser.table.selectRow(row)
    browser.tags_edit.setText("golden, w07")
    browser.notes_edit.setText("reference map after forming")
    assert browser.save_notes()
    info = catalog.get(map_id)
    assert info.tags == ["golden", "w07"] and info.notes == "reference map after forming"
    assert browser.selected_run().id == map_id  # the selection survives the refresh
    with qtbot.waitSignal(browser.refreshed, timeout=10_000):  # the search runs off-thread
        browser.search.setText("reference map")
    assert [r.id for r in browser.runs] == [map_id]


def test_opening_a_run_emits_its_measured_rows(qtbot, measured):
    catalog, map_id, _other = measured
    browser = ResultsBrowser(catalog)
    qtbot.addWidget(browser)
    row = next(i for i, r in enumerate(browser.runs) if r.id == map_id)
    with qtbot.waitSignal(browser.runOpened, timeout=10_000) as blocker:
        browser.open_row(row)
    info, data = blocker.args
    assert info.id == map_id
    assert list(data["Cell col"]) == [0, 1, 2, 3]
    assert (data["Conductance (S)"] > 0).all()
