"""Results browser: runs from the catalog, filtered; opening one restores its plots.

The search box matches the operator's notes and tags (and procedure, message); the notes and
tags of the selected run are edited below the table and stored in the catalog at once.
"""

from __future__ import annotations

import logging

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from procedures.analysis import run_data
from procedures.framework.catalog import Catalog, RunInfo
from procedures.framework.registry import PROCEDURES
from procedures.framework.targets import parse_die

log = logging.getLogger(__name__)

COLUMNS = ["id", "procedure", "status", "die", "subsite", "array", "started", "tags", "notes",
           "summary"]
KEY_FIGURES = ("v_form", "r_lrs", "r_hrs", "on_off", "g_median", "ber_2t2r", "ber_1t1r",
               "test_accuracy")


class ResultsBrowser(QWidget):
    """Table of catalog runs with filters; double-click (or Open) emits ``runOpened``."""

    runOpened = pyqtSignal(object, object)  # RunInfo, DataFrame

    def __init__(self, catalog: Catalog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalog = catalog
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
        for w in (self.procedure_filter, self.status_filter, self.station_filter, self.die_filter,
                  self.search,
                  self.refresh_button, self.open_button):
            filters.addWidget(w)
        layout.addLayout(filters)
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
        self.search.textChanged.connect(lambda _t: self.refresh())
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button.clicked.connect(self.open_selected)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.open_row(row))
        self.procedure_filter.currentIndexChanged.connect(self.refresh)
        self.status_filter.currentIndexChanged.connect(self.refresh)
        self.station_filter.currentIndexChanged.connect(self.refresh)
        self.die_filter.editingFinished.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Re-query the catalog with the filters."""
        proc = self.procedure_filter.currentText()
        status = self.status_filter.currentText()
        try:
            die = parse_die(self.die_filter.text())
        except ValueError:
            die = None
        station = self._sync_stations()
        self.runs = self.catalog.runs(
            procedure=None if proc.startswith("(") else proc,
            status=None if status.startswith("(") else status,
            die=die, station=station, search=self.search.text() or None,
        )[::-1]  # newest first
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
        """Load row ``row``'s data and emit ``runOpened``."""
        info = self.runs[row]
        try:
            data = run_data(self.catalog, info.id)  # partial files of aborted runs load too
        except Exception as exc:
            QMessageBox.warning(self, "Open run", f"Cannot read {info.file}: {exc}")
            return
        self.runOpened.emit(info, data)


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
