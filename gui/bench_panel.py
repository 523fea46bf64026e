"""Bench status panel: each instrument's connection, the chuck (or board) state, and Stop."""

from __future__ import annotations

from PyQt6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from instruments.bench import Bench, BenchStatus

HEATER_STATES = {"H": "heating", "C": "cooling", "S": "soaking", "R": "at set point"}


class BenchPanel(QWidget):
    """Shows the bench's instruments and chuck state, given by :meth:`show_status`.

    The panel never talks to the instruments itself: the main window reads the status in its
    bench I/O worker (:mod:`gui.bench_io`) and hands it here.
    """

    def __init__(self, bench: Bench) -> None:
        super().__init__()
        self.bench = bench
        self.busy = False
        layout = QVBoxLayout(self)
        kind = "simulated lab" if bench.config.simulated else "lab instruments"
        layout.addWidget(QLabel(f"<b>{bench.config.name}</b> ({kind})"))

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Instrument", "Address", "State"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)

        packaged = bench.prober is None  # a board of packaged chips instead of a chuck
        chuck = QGroupBox("Board" if packaged else "Chuck")
        form = QFormLayout(chuck)
        self.height_label = QLabel("-")
        self.position_label = QLabel("-")
        self.die_label = QLabel("-")
        self.temperature_label = QLabel("-")
        names = (("Socket", "Routed", "Sockets", "Temperature") if packaged else
                 ("Height", "Position", "Die", "Temperature"))
        for name, label in zip(names, (self.height_label, self.position_label, self.die_label,
                                       self.temperature_label), strict=True):
            form.addRow(name, label)
        layout.addWidget(chuck)

        self.stop_button = QPushButton("STOP  (Ctrl+.)")
        self.stop_button.setToolTip("Turn all outputs off and separate the chuck")
        self.stop_button.setStyleSheet(
            "QPushButton { background: #c62828; color: white; font-weight: bold; padding: 10px; }"
        )
        layout.addWidget(self.stop_button)
        layout.addStretch(1)

    def set_busy(self, busy: bool) -> None:
        """Show that a run owns the instruments (no status reads meanwhile)."""
        self.busy = busy
        if busy:
            self.height_label.setText("run in progress")

    def show_status(self, status: BenchStatus) -> BenchStatus | None:
        """Show a status read off the GUI thread; returns it (None, nothing shown, while busy)."""
        if self.busy:
            return None
        self.table.setRowCount(len(status.instruments))
        for i, inst in enumerate(status.instruments):
            state = inst.identity if inst.ok else f"ERROR: {inst.message}"
            for j, text in enumerate((inst.name, inst.resource, state)):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        b = getattr(status, "board", None)
        if b is not None:
            self.height_label.setText(f"{b.selected}")
            self.position_label.setText(f"{b.array}, cell {b.cell[0]},{b.cell[1]}")
            self.die_label.setText(f"{b.sockets}")
            self.temperature_label.setText(
                "no heater" if b.temperature_c is None
                else f"{b.temperature_c:.1f} °C ({b.heater or 'heater'})")
            return status
        c = status.chuck
        if c is None:
            for label in (self.height_label, self.position_label, self.die_label,
                          self.temperature_label):
                label.setText("unknown")
            return status
        self.height_label.setText(c.height)
        self.position_label.setText(f"X {c.x_um:,.0f} um   Y {c.y_um:,.0f} um (from home)")
        self.die_label.setText("-" if c.die is None else f"col {c.die[0]}, row {c.die[1]}")
        heater = HEATER_STATES.get(c.heater, c.heater)
        self.temperature_label.setText(f"{c.temperature_c:.1f} °C ({heater})")
        return status
