"""Results browser: runs from the catalog, filtered and paged; opening one restores its plots.

The search box matches the operator's notes and tags (and procedure, message); the notes and
tags of the selected run are edited below the table and stored in the catalog at once.

The table shows one page of :data:`PAGE_SIZE` runs (newest first; Newer / Older step through
the pages), so the window holds the same few hundred rows whether the catalog has a hundred
runs or a hundred thousand, and each query is one bounded database page
(:meth:`procedures.framework.catalog.Catalog.page`). Typing in the search box queries the
catalog only when the typing pauses (:data:`SEARCH_DEBOUNCE_MS`), and in the file reader's
worker thread (:class:`gui.file_reader.FileReader`): the window never waits on a slow catalog.
"""

from __future__ import annotations

import logging

from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.file_reader import FileReader
from procedures.analysis import run_data
from procedures.framework.catalog import Catalog, RunInfo
from procedures.framework.registry import PROCEDURES
from procedures.framework.targets import parse_die

log = logging.getLogger(__name__)

COLUMNS = ["id", "procedure", "status", "die", "subsite", "array", "started", "tags", "notes",
           "summary"]
KEY_FIGURES = ("v_form", "r_lrs", "r_hrs", "on_off", "g_median", "ber_2t2r", "ber_1t1r",
               "test_accuracy")
PAGE_SIZE = 200
"""Runs shown per page of the table."""
SEARCH_DEBOUNCE_MS = 250
"""The search runs once typing has paused this long (ms)."""


class ResultsBrowser(QWidget):
    """Table of catalog runs with filters, one page at a time; double-click (or Open) emits
    ``runOpened``; ``refreshed`` after every update of the table (GUI thread).

    ``runs`` are the runs of the shown page (newest first), ``total`` how many match.
    """

    runOpened = pyqtSignal(object, object)  # RunInfo, DataFrame
    refreshed = pyqtSignal()

    def __init__(self, catalog: Catalog, parent: QWidget | None = None,
                 reader: FileReader | None = None, page_size: int = PAGE_SIZE) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.reader = reader or FileReader(self)
        self.page_size = page_size
        self.page = 0
        """Shown page (0 = the newest runs)."""
        self.total = 0
        self.runs: list[RunInfo] = []
        layout = QVBoxLayout(self)
        filters = QHBoxLayout()
        self.procedure_filter = QComboBox()
        self.procedure_filter.addItems(["(all procedures)", *sorted(PROCEDURES)])
        self.status_filter = QComboBox()
        self.status_filter.addItems(["(any status)", "running", "finished", "aborted", "failed"])
        self.station_filter = QComboBox()  # filled from the catalog at each refresh
        self.station_filter.addItem("(all stations)")
        self.die_filter = QLineEdit()
        self.die_filter.setPlaceholderText("die col,row")
        self.search = QLineEdit()
        self.search.setObjectName("results-search")
        self.search.setPlaceholderText("search notes, tags…")
        self.search.setClearButtonEnabled(True)
        self.refresh_button = QPushButton("Refresh")
        self.open_button = QPushButton("Open")
        self.newer_button = QPushButton("◀ Newer")
        self.older_button = QPushButton("Older ▶")
        self.page_label = QLabel("")
        for w in (self.procedure_filter, self.status_filter, self.station_filter, self.die_filter,
                  self.search, self.refresh_button, self.open_button, self.newer_button,
                  self.page_label, self.older_button):
            filters.addWidget(w)
        layout.addLayout(filters)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self._search_now)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        layout.addWidget(self.table)
        notes_row = QHBoxLayout()
        self.tags_edit = QLineEdit()
        self.tags_edit.setPlaceholderText("tags, comma separated")
        self.notes_edit = QLineEdit()
        self.notes_edit.setPlaceholderText("notes on the selected run")
        self.save_notes_button = QPushButton("Save notes")
        notes_row.addWidget(self.tags_edit, 1)
        notes_row.addWidget(self.notes_edit, 3)
        notes_row.addWidget(self.save_notes_button)
        layout.addLayout(notes_row)
        self.save_notes_button.clicked.connect(self.save_notes)
        self.notes_edit.returnPressed.connect(self.save_notes)
        self.tags_edit.returnPressed.connect(self.save_notes)
        self.table.itemSelectionChanged.connect(self._show_notes)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.newer_button.clicked.connect(lambda: self.show_page(self.page - 1))
        self.older_button.clicked.connect(lambda: self.show_page(self.page + 1))
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button.clicked.connect(self.open_selected)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.open_row(row))
        self.procedure_filter.currentIndexChanged.connect(self.refresh)
        self.status_filter.currentIndexChanged.connect(self.refresh)
        self.station_filter.currentIndexChanged.connect(self.refresh)
        self.die_filter.editingFinished.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Re-query the catalog with the filters (the shown page, now, on this thread: one
        bounded page)."""
        self._search_timer.stop()
        self.reader.cancel("results-search")  # a search still on its way is out of date
        self._show(*self.catalog.page(**self._query(self._sync_stations())))

    def show_page(self, page: int) -> None:
        """Show page ``page`` (0 = newest; clamped to the pages there are)."""
        last = max(0, (self.total - 1) // self.page_size)
        self.page = min(max(0, page), last)
        self.refresh()

    def _query(self, station: str | None) -> dict:
        proc = self.procedure_filter.currentText()
        status = self.status_filter.currentText()
        try:
            die = parse_die(self.die_filter.text())
        except ValueError:
            die = None
        return {"limit": self.page_size, "offset": self.page * self.page_size,
                "procedure": None if proc.startswith("(") else proc,
                "status": None if status.startswith("(") else status,
                "die": die, "station": station,
                "search": self.search.text() or None}

    def _search_now(self) -> None:
        """The typing paused: query the first page in the reader's thread."""
        self.page = 0
        chosen = self.station_filter.currentText()
        query = self._query(None if chosen.startswith("(") else chosen)
        catalog = self.catalog
        self.reader.request("results-search", lambda: catalog.page(**query),
                            lambda found: self._show(*found))

    def _show(self, runs: list[RunInfo], total: int) -> None:
        self.runs, self.total = runs, total
        self.table.setRowCount(len(self.runs))
        for i, r in enumerate(self.runs):
            figures = ", ".join(f"{k}={_fmt(r.summary[k])}" for k in KEY_FIGURES
                                if r.summary.get(k) is not None)
            cells = [str(r.id), r.procedure, r.status,
                     f"{r.die[0]},{r.die[1]}" if r.die else "-",
                     "-" if r.subsite is None else str(r.subsite), r.array,
                     r.started_at[:19].replace("T", " "), ", ".join(r.tags),
                     r.notes.splitlines()[0] if r.notes else "", figures]
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        first = self.page * self.page_size
        self.page_label.setText(f"{first + 1}-{first + len(runs)} of {total}" if runs
                                else "no runs")
        self.newer_button.setEnabled(self.page > 0)
        self.older_button.setEnabled(first + len(runs) < total)
        self.refreshed.emit()

    def _sync_stations(self) -> str | None:
        """Offer the catalog's stations (keeping the choice); the chosen one, None for all."""
        chosen = self.station_filter.currentText()
        known = ["(all stations)", *self.catalog.stations()]
        if [self.station_filter.itemText(i) for i in range(self.station_filter.count())] != known:
            self.station_filter.blockSignals(True)
            self.station_filter.clear()
            self.station_filter.addItems(known)
            self.station_filter.setCurrentIndex(max(0, self.station_filter.findText(chosen)))
            self.station_filter.blockSignals(False)
        chosen = self.station_filter.currentText()
        return None if chosen.startswith("(") else chosen

    def selected_run(self) -> RunInfo | None:
        """The first selected run (None if none)."""
        rows = self.table.selectionModel().selectedRows()
        return self.runs[rows[0].row()] if rows else None

    def _show_notes(self) -> None:
        info = self.selected_run()
        self.tags_edit.setText(", ".join(info.tags) if info else "")
        self.notes_edit.setText(info.notes if info else "")

    def save_notes(self) -> bool:
        """Store the edited notes and tags on the selected run; False if none is selected."""
        info = self.selected_run()
        if info is None:
            return False
        tags = [t.strip() for t in self.tags_edit.text().split(",")]
        self.catalog.set_tags(info.id, tags)
        self.catalog.set_notes(info.id, self.notes_edit.text())
        run_id = info.id
        self.refresh()
        for i, r in enumerate(self.runs):
            if r.id == run_id:
                self.table.selectRow(i)
        return True

    def open_selected(self) -> None:
        """Open the selected run."""
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.open_row(rows[0].row())

    def open_row(self, row: int) -> None:
        """Read row ``row``'s data in the file reader's thread (with the HDF5 waveforms of a
        pulse train, as rows: :func:`procedures.analysis.run_data`), then emit ``runOpened``
        on the GUI thread; a file that cannot be read is one warning box."""
        info = self.runs[row]
        catalog = self.catalog

        def read() -> object:  # partial files of aborted runs load too
            return run_data(catalog, info.id, waveforms=True)

        def failed(exc: Exception) -> None:
            QMessageBox.warning(self, "Open run", f"Cannot read {info.file}: {exc}")

        self.reader.request("open-run", read, lambda data: self.runOpened.emit(info, data),
                            failed)


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
