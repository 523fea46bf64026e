"""The results browser filters the catalog's runs by station."""

from __future__ import annotations

from procedures.framework.catalog import Catalog


def test_results_browser_filters_by_station(qtbot, tmp_path):
    from gui.results_browser import ResultsBrowser

    cat = Catalog(tmp_path)
    try:
        a = cat.start_run("forming", {}, "a.csv", station="probe-1")
        b = cat.start_run("forming", {}, "b.csv", station="probe-2")
        c = cat.start_run("iv-cycling", {}, "c.csv", station="probe-1")
        browser = ResultsBrowser(cat)
        qtbot.addWidget(browser)
        items = [browser.station_filter.itemText(i) for i in range(browser.station_filter.count())]
        assert items == ["(all stations)", "probe-1", "probe-2"]
        assert [r.id for r in browser.runs] == [c, b, a]
        browser.station_filter.setCurrentText("probe-1")  # refreshes
        assert [r.id for r in browser.runs] == [c, a]
        assert browser.table.rowCount() == 2
        d = cat.start_run("forming", {}, "d.csv", station="probe-3")
        browser.refresh()  # a new station appears, the choice is kept
        assert browser.station_filter.currentText() == "probe-1"
        assert browser.station_filter.findText("probe-3") > 0
        browser.station_filter.setCurrentText("probe-3")
        assert [r.id for r in browser.runs] == [d]
    finally:
        cat.close()
