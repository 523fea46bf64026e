"""Manual control (the curve tracer): act on the cells selected in the array map.

Each action is an ordinary registered procedure run through the run controller (so through
:mod:`procedures.framework.runner`): it is validated against the bench limits before anything is
applied
(a bad value gets the one-line message of the procedure's validation), it runs in a worker
thread, its rows reach a results file and the catalog indexes it with the tag ``manual``.

- Read: ``conductance-map``; V = read voltage, WL = read word-line voltage.
- FORM (quasi-static): ``forming``; V = stop voltage, compliance, WL (re-forms formed cells).
- SET / RESET pulse (WGFMU): ``pulse-train`` with one pulse; V = amplitude, width, WL; G read
  after the pulse.
- I-V sweep (quasi-static): ``iv-cycling``, one SET/RESET cycle; V = SET stop voltage,
  compliance, WL of the SET leg.
- Pulse train (WGFMU): ``pulse-train``, N identical pulses; G read after each.

The action is refused while a run or a wafer run owns the bench (``blocked_by``). The result
shows at once in the dock: the value (G, V_form, ...) and a small plot of the run's curve.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.run_controller import QueuedRun, RunController
from procedures.analysis import run_data
from procedures.framework.base import BenchProcedure
from procedures.framework.registry import PROCEDURES

log = logging.getLogger(__name__)

MANUAL_TAG = "manual"


@dataclass(frozen=True)
class ManualAction:
    """One manual action: the procedure it runs and which fields it uses."""

    label: str
    procedure: str
    fields: tuple[str, ...]  # of "v", "v_wl", "width", "compliance", "count"
    defaults: dict[str, float]


ACTIONS: dict[str, ManualAction] = {a.label: a for a in (
    ManualAction("Read", "conductance-map", ("v", "v_wl"), {"v": 0.1, "v_wl": 2.5}),
    ManualAction("FORM (quasi-static)", "forming", ("v", "v_wl", "compliance"),
                 {"v": 4.0, "v_wl": 1.5, "compliance": 100e-6}),
    ManualAction("SET pulse (WGFMU)", "pulse-train", ("v", "v_wl", "width"),
                 {"v": 1.5, "v_wl": 1.2, "width": 1e-6}),
    ManualAction("RESET pulse (WGFMU)", "pulse-train", ("v", "v_wl", "width"),
                 {"v": 2.2, "v_wl": 2.8, "width": 1e-6}),
    ManualAction("I-V sweep (quasi-static)", "iv-cycling", ("v", "v_wl", "compliance"),
                 {"v": 1.5, "v_wl": 1.5, "compliance": 100e-6}),
    ManualAction("Pulse train (WGFMU)", "pulse-train", ("v", "v_wl", "width", "count"),
                 {"v": 1.5, "v_wl": 1.2, "width": 1e-6, "count": 10}),
)}

_FIELD_LABELS = {"v": ("V", "V"), "v_wl": ("WL", "V"), "width": ("Width", "s"),
                 "compliance": ("Compliance", "A")}


def build_manual_procedure(label: str, values: dict[str, float], die: str, array: str,
                           cells: str) -> BenchProcedure:
    """The procedure of manual action ``label`` with the dock's ``values`` (SI units).

    Raises ValueError for an unknown action; limits are checked when the run is queued.
    """
    action = ACTIONS.get(label)
    if action is None:
        raise ValueError(f"unknown manual action {label!r}")
    proc = PROCEDURES[action.procedure]()
    proc.die, proc.array, proc.cells = die, array, cells
    v, v_wl = values.get("v"), values.get("v_wl")
    if action.procedure == "conductance-map":
        proc.v_read, proc.v_wl_read = v, v_wl
    elif action.procedure == "forming":
        proc.v_stop, proc.v_wl, proc.compliance, proc.force = v, v_wl, values["compliance"], True
    elif action.procedure == "iv-cycling":
        proc.cycles, proc.set_stop, proc.v_wl_set = 1, v, v_wl
        proc.set_compliance = values["compliance"]
        proc.form_first = False
    else:  # pulse-train
        proc.kind = "reset" if label.startswith("RESET") else "set"
        proc.amplitude, proc.v_wl, proc.width = v, v_wl, values["width"]
        proc.count = int(values.get("count", 1)) if "count" in action.fields else 1
        proc.read_each = True
        proc.record_waveform = False
    proc.run_tags = [MANUAL_TAG, label]
    return proc


class ManualDock(QWidget):
    """Manual actions on the array map's selected cells; results shown as soon as they end.

    Signals: ``resultShown(str)`` with the one-line result of each finished manual run.
    """

    resultShown = pyqtSignal(str)

    def __init__(self, controller: RunController, target: Callable[[], tuple[str, str, str]],
                 parent: QWidget | None = None) -> None:
        """``target()`` returns (die, array, cells) of the current selection."""
        super().__init__(parent)
        self.controller = controller
        self.target = target
        #: returns why the bench is not free ("" when free); set by the main window
        self.blocked_by: Callable[[], str] = lambda: ""
        self.pending: QueuedRun | None = None
        self.last_outcome: Any = None
        layout = QVBoxLayout(self)
        self.target_label = QLabel("cells: (select cells in the array map)")
        self.target_label.setWordWrap(True)
        layout.addWidget(self.target_label)
        self.action_combo = QComboBox()
        self.action_combo.setObjectName("manual-action")
        self.action_combo.addItems(list(ACTIONS))
        layout.addWidget(self.action_combo)
        form = QFormLayout()
        self.fields: dict[str, Any] = {}
        self._rows: dict[str, tuple[QLabel, QWidget]] = {}
        for key, (name, units) in _FIELD_LABELS.items():
            box = pg.SpinBox(value=0.0, suffix=units, siPrefix=True, dec=True, minStep=1e-12,
                             compactHeight=False)
            box.setMinimumWidth(110)
            self.fields[key] = box
            lab = QLabel(name)
            form.addRow(lab, box)
            self._rows[key] = (lab, box)
        count = QSpinBox()
        count.setRange(1, 1000)
        self.fields["count"] = count
        lab = QLabel("Pulses")
        form.addRow(lab, count)
        self._rows["count"] = (lab, count)
        layout.addLayout(form)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Run the action on the selected cells (Ctrl+Shift+A)")
        layout.addWidget(self.apply_button)
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        layout.addWidget(self.message_label)
        self.result_label = QLabel("")
        self.result_label.setObjectName("manual-result")
        self.result_label.setWordWrap(True)
        layout.addWidget(self.result_label)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(160)
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#1565c0", width=1.2), symbol="o",
                                    symbolSize=6, symbolBrush="#1565c0")
        layout.addWidget(self.plot, 1)
        self.action_combo.currentTextChanged.connect(self._show_fields)
        self.apply_button.clicked.connect(self.apply)
        controller.runFinished.connect(self._finished)
        controller.runRefused.connect(self._not_run)
        self._show_fields(self.action_combo.currentText())

    # -- form -----------------------------------------------------------------------------------
    def set_action(self, label: str) -> None:
        """Choose an action (its fields get their defaults)."""
        self.action_combo.setCurrentText(label)

    def set_value(self, key: str, value: float) -> None:
        """Set one field (SI units; ``count`` an integer)."""
        self.fields[key].setValue(int(value) if key == "count" else float(value))

    def values(self) -> dict[str, float]:
        """The fields of the current action (SI units)."""
        action = ACTIONS[self.action_combo.currentText()]
        return {k: float(self.fields[k].value()) for k in action.fields}

    def _show_fields(self, label: str) -> None:
        action = ACTIONS[label]
        for key, (lab, box) in self._rows.items():
            shown = key in action.fields
            lab.setVisible(shown)
            box.setVisible(shown)
            if shown and key in action.defaults:
                self.set_value(key, action.defaults[key])

    def show_target(self, die: str, array: str, cells: str) -> None:
        """Show what the next action acts on."""
        self.target_label.setText(f"die {die or '(current)'}  {array}  cells {cells}")

    # -- action ---------------------------------------------------------------------------------
    def apply(self) -> bool:
        """Queue the action on the selected cells; False (nothing applied) with a message."""
        reason = self.blocked_by()
        if reason:
            return self._refuse(f"Refused: {reason}")
        if self.controller.busy or self.controller.queue:
            return self._refuse("Refused: a run owns the bench (wait for it or stop it)")
        die, array, cells = self.target()
        if not cells:
            return self._refuse("Refused: select cells in the array map first")
        label = self.action_combo.currentText()
        try:
            proc = build_manual_procedure(label, self.values(), die, array, cells)
            self.pending = self.controller.enqueue(proc, label=f"manual: {label} {cells}")
        except (ValueError, TypeError) as exc:  # LimitError is a ValueError
            return self._refuse(str(exc).splitlines()[0])
        self.message_label.setText(f"{label} on {cells}…")
        self.result_label.setText("")
        return True

    def _refuse(self, text: str) -> bool:
        self.message_label.setText(text)
        log.warning("manual action: %s", text)
        return False

    def _not_run(self, item: Any, why: str) -> None:
        """The queued action was refused when prepared (e.g. the die is not on the prober's
        map) or aborted before it started: nothing was applied."""
        if item is not self.pending:
            return
        self.pending = None
        self._refuse(f"Refused: {why.splitlines()[0] if why else 'not run'}")

    def _finished(self, outcome: Any) -> None:
        item, self.pending = self.pending, None
        if item is None or self.controller.last_item is not item:
            self.pending = item
            return
        self.last_outcome = outcome
        text = f"run {outcome.run_id} {outcome.status}"
        if outcome.error:
            text += f" ({outcome.error})"
        try:
            data = run_data(self.controller.catalog, outcome.run_id)
        except Exception as exc:  # the file could not be read: say so, keep the summary
            log.warning("manual run %s: %s", outcome.run_id, exc)
            data = None
        value, xy, axes = _result_of(item.procedure.NAME, outcome.summary, data)
        if value:
            text = f"{value} — {text}"
        self.result_label.setText(text)
        self.message_label.setText("")
        self.curve.setData(*xy)
        self.plot.setLogMode(y=axes[1].startswith("|I|") and bool(len(xy[1])))
        self.plot.setLabel("bottom", axes[0])
        self.plot.setLabel("left", axes[1])
        self.plot.setTitle(f"{item.label}", size="9pt")
        self.resultShown.emit(text)


def _si(value: Any, units: str) -> str:
    if not isinstance(value, int | float) or not np.isfinite(value):
        return "-"
    return pg.siFormat(float(value), suffix=units, precision=3)


def _result_of(name: str, summary: dict[str, Any], data: Any
               ) -> tuple[str, tuple[np.ndarray, np.ndarray], tuple[str, str]]:
    """The one-line value, the curve and its axes of a finished manual run."""
    empty = (np.array([]), np.array([]))
    cols = set(data.columns) if data is not None else set()

    def col(c: str) -> np.ndarray:
        return data[c].to_numpy(dtype=float)

    if name == "conductance-map":
        g_col = next((c for c in cols if c.startswith("Conductance")), None)
        xy = (np.arange(len(data), dtype=float), col(g_col)) if g_col else empty
        return f"G = {_si(summary.get('g_median'), 'S')}", xy, ("G (S)", "cell")[::-1]
    if name in ("forming", "iv-cycling"):
        xy = (col("Voltage (V)"), np.abs(col("Current (A)"))) \
            if {"Voltage (V)", "Current (A)"} <= cols else empty
        value = (f"V_form = {_si(summary.get('v_form'), 'V')}" if name == "forming" else
                 f"R_LRS = {_si(summary.get('r_lrs'), 'Ω')}, "
                 f"R_HRS = {_si(summary.get('r_hrs'), 'Ω')}")
        return value, xy, ("V (V)", "|I| (A)")
    g_col, n_col = "Read G (S)", "Pulse"
    if {g_col, n_col} <= cols:
        g = col(g_col)
        finite = np.isfinite(g)
        xy = (col(n_col)[finite], g[finite])
        last = g[finite][-1] if finite.any() else float("nan")
        return f"G = {_si(last, 'S')} after the last pulse", xy, ("pulse", "G (S)")
    return "", empty, ("", "")

