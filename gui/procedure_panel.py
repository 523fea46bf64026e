"""Procedure panel: choose a procedure, edit its parameters, queue runs, follow progress, abort.

The parameter form is generated from the procedure class (pymeasure Parameters): floats get an
SI-prefix spin box with units and the allowed range, integers a spin box, choices a combo box,
booleans a check box, text a line edit. Parameters are grouped (target, procedure, programming,
identity), labels show the units, and parameters that only matter under a condition on another
one are shown only then (:data:`SHOWN_WHEN`, e.g. conductance-map's programming parameters only
once a pattern is chosen; a pymeasure ``group_by`` on a parameter is honoured the same way).
The last values of each procedure persist in QSettings.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import pyqtgraph as pg
from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
    Parameter,
)
from PyQt6.QtCore import QSettings, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.run_controller import RunController
from procedures.framework.base import BenchProcedure, set_parameters
from procedures.framework.parameter_sets import DCProgramParameters
from procedures.framework.registry import PROCEDURES

log = logging.getLogger(__name__)

TARGET_KEYS = ("die", "subsite", "chip", "array", "cells")
IDENTITY_KEYS = ("lot", "wafer_id", "operator")
DEFAULT_PROCEDURE = "conductance-map"
PROGRAM_KEYS = tuple(k for k, v in vars(DCProgramParameters).items() if isinstance(v, Parameter))


def _patterned(value: Any) -> bool:
    return value != "none"


SHOWN_WHEN: dict[str, dict[str, tuple[str, Any]]] = {
    "conductance-map": {
        **{k: ("pattern", _patterned) for k in PROGRAM_KEYS},
        "form_first": ("pattern", _patterned),
        "image_path": ("pattern", lambda v: v == "image"),
    },
}
"""procedure -> parameter -> (controlling parameter, shown(value)). GUI only: a hidden parameter
keeps its value and is still sent."""


def ordered_parameters(cls: type[BenchProcedure]) -> list[tuple[str, Parameter]]:
    """A procedure class's parameters in declaration order (base classes first)."""
    seen: dict[str, Parameter] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Parameter):
                seen.pop(name, None)
                seen[name] = value
    return list(seen.items())


class ParameterEditor:
    """One parameter's input widget, with get/set of the value as the parameter's type."""

    def __init__(self, key: str, param: Parameter) -> None:
        self.key = key
        self.param = param
        self.widget: QWidget
        tip = param.description or param.name
        if isinstance(param, FloatParameter):
            box = pg.SpinBox(value=float(param.default or 0.0), suffix=param.units or "",
                             siPrefix=bool(param.units), dec=True, minStep=1e-12,
                             bounds=(param.minimum, param.maximum), compactHeight=False)
            box.setMinimumWidth(120)
            tip += f"\nallowed {param.minimum:g} .. {param.maximum:g} {param.units or ''}"
            self.widget = box
        elif isinstance(param, IntegerParameter):
            box = QSpinBox()
            box.setRange(int(max(param.minimum, -2**31 + 1)), int(min(param.maximum, 2**31 - 1)))
            box.setValue(int(param.default or 0))
            if param.units:
                box.setSuffix(f" {param.units}")
            tip += f"\nallowed {param.minimum:g} .. {param.maximum:g}"
            self.widget = box
        elif isinstance(param, BooleanParameter):
            box = QCheckBox()
            box.setChecked(bool(param.default))
            self.widget = box
        elif isinstance(param, ListParameter):
            box = QComboBox()
            box.addItems([str(c) for c in param.choices])
            if param.default is not None:
                box.setCurrentText(str(param.default))
            self.widget = box
        else:
            box = QLineEdit(str(param.default or ""))
            self.widget = box
        self.widget.setToolTip(tip)
        self.widget.setObjectName(f"param-{key}")

    def value(self) -> Any:
        """The current value as the parameter's type."""
        w = self.widget
        if isinstance(w, pg.SpinBox):
            return float(w.value())
        if isinstance(w, QSpinBox):
            return int(w.value())
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QComboBox):
            return w.currentText()
        return w.text()

    def set_value(self, value: Any) -> None:
        """Show ``value`` (converted to the widget's type)."""
        w = self.widget
        if isinstance(w, pg.SpinBox):
            w.setValue(float(value))
        elif isinstance(w, QSpinBox):
            w.setValue(int(value))
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QComboBox):
            w.setCurrentText(str(value))
        else:
            w.setText(str(value))


class ProcedurePanel(QWidget):
    """Pick a procedure, set parameters, queue, see progress, abort."""

    procedureChanged = pyqtSignal(str)

    def __init__(self, controller: RunController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.editors: dict[str, ParameterEditor] = {}
        self._shown = ""
        layout = QVBoxLayout(self)

        self.combo = QComboBox()
        self.combo.setObjectName("procedure-combo")
        self.combo.addItems(sorted(PROCEDURES))
        self.combo.currentTextChanged.connect(self._build_form)
        layout.addWidget(self.combo)
        self.doc_label = QLabel()
        self.doc_label.setWordWrap(True)
        layout.addWidget(self.doc_label)

        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        layout.addWidget(self.scroll, 1)

        buttons = QHBoxLayout()
        self.queue_button = QPushButton("Queue run  (Ctrl+R)")
        self.queue_button.setObjectName("queue-button")
        self.queue_button.clicked.connect(self.queue_current)
        self.abort_button = QPushButton("Abort")
        self.abort_button.setObjectName("abort-button")
        self.abort_button.clicked.connect(controller.abort)
        self.abort_button.setEnabled(False)
        buttons.addWidget(self.queue_button)
        buttons.addWidget(self.abort_button)
        layout.addLayout(buttons)

        self.error_label = QLabel()
        self.error_label.setObjectName("error-label")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c62828; font-weight: bold;")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        layout.addWidget(self.progress)
        self.status_label = QLabel("idle")
        layout.addWidget(self.status_label)
        layout.addWidget(QLabel("Queue"))
        self.queue_list = QListWidget()
        self.queue_list.setMaximumHeight(110)
        layout.addWidget(self.queue_list)

        controller.progressChanged.connect(self._on_progress)
        controller.statusChanged.connect(self._on_status)
        controller.queueChanged.connect(self._refresh_queue)
        controller.busyChanged.connect(self._on_busy)
        controller.runFinished.connect(self._on_finished)
        last = QSettings().value("procedures/last", DEFAULT_PROCEDURE)
        if last in PROCEDURES:
            self.combo.blockSignals(True)
            self.combo.setCurrentText(last)
            self.combo.blockSignals(False)
        self._build_form(self.combo.currentText())

    # -- form -----------------------------------------------------------------------------------
    def _build_form(self, name: str) -> None:
        if self.editors:
            self.save_settings(self._shown)
        self._shown = name
        cls = PROCEDURES[name]
        self.doc_label.setText((cls.__doc__ or "").strip().splitlines()[0])
        container = QWidget()
        vbox = QVBoxLayout(container)
        groups = {"Target": QFormLayout(), "Parameters": QFormLayout(),
                  "Programming": QFormLayout(), "Identity": QFormLayout()}
        self.editors = {}
        self.labels: dict[str, QLabel] = {}
        self.conditions = dict(SHOWN_WHEN.get(name, {}))
        programmed = name in SHOWN_WHEN
        for key, param in ordered_parameters(cls):
            ed = ParameterEditor(key, param)
            self.editors[key] = ed
            group = ("Target" if key in TARGET_KEYS else
                     "Identity" if key in IDENTITY_KEYS else
                     "Programming" if programmed and key in PROGRAM_KEYS else "Parameters")
            units = getattr(param, "units", None)
            label = QLabel(f"{param.name} [{units}]" if units else param.name)
            self.labels[key] = label
            groups[group].addRow(label, ed.widget)
            by = getattr(param, "group_by", None)
            if isinstance(by, str) and key not in self.conditions:
                cond = getattr(param, "group_condition", True)
                self.conditions[key] = (by, cond if callable(cond) else
                                        (lambda v, c=cond: v == c))
        self.group_boxes: dict[str, QGroupBox] = {}
        for title, form in groups.items():
            if form.rowCount():
                box = QGroupBox(title)
                box.setLayout(form)
                vbox.addWidget(box)
                self.group_boxes[title] = box
        vbox.addStretch(1)
        self.scroll.setWidget(container)
        self.load_settings()
        for controller in {c for c, _ in self.conditions.values()}:
            w = self.editors[controller].widget if controller in self.editors else None
            signal = getattr(w, "currentTextChanged", None) or getattr(w, "toggled", None) \
                or getattr(w, "textChanged", None)
            if signal is not None:
                signal.connect(lambda _v: self._apply_conditions())
        self._apply_conditions()
        self._bench_targets()
        self.procedureChanged.emit(name)


    def _bench_targets(self) -> None:
        """Only the targets the bench has: a die and subsite under a prober, a chip (board
        socket) on a packaged bench; the hidden ones are reset to "none"."""
        bench = getattr(self.controller, "bench", None)
        packaged = bench is not None and getattr(bench, "prober", 0) is None
        hidden = {"die": "", "subsite": 0} if packaged else {"chip": -1}
        for key, value in hidden.items():
            if key in self.editors:
                self.editors[key].set_value(value)
                self.editors[key].widget.setVisible(False)
                self.labels[key].setVisible(False)

    def _apply_conditions(self) -> None:
        """Show each conditional parameter only when its condition holds."""
        for key, (controller, shown) in self.conditions.items():
            if key not in self.editors or controller not in self.editors:
                continue
            visible = bool(shown(self.editors[controller].value()))
            self.editors[key].widget.setVisible(visible)
            self.labels[key].setVisible(visible)
        box = self.group_boxes.get("Programming")
        if box is not None:
            box.setVisible(any(self.editors[k].widget.isVisibleTo(box)
                               for k in PROGRAM_KEYS if k in self.editors))

    def is_shown(self, key: str) -> bool:
        """Whether parameter ``key`` is shown in the form (not hidden by a condition)."""
        if key not in self.editors:
            return False
        box = next((b for b in self.group_boxes.values()
                    if self.editors[key].widget.parent() is b), None)
        return not self.editors[key].widget.isHidden() and (box is None or not box.isHidden())

    def procedure_name(self) -> str:
        """The selected procedure's command-line name."""
        return self.combo.currentText()

    def set_procedure(self, name: str) -> None:
        """Select a procedure by name."""
        self.combo.setCurrentText(name)

    def set_parameter(self, key: str, value: Any) -> None:
        """Show a value in the form (no effect for an unknown key)."""
        if key in self.editors:
            self.editors[key].set_value(value)

    def values(self) -> dict[str, Any]:
        """Every parameter's value as shown."""
        return {k: ed.value() for k, ed in self.editors.items()}

    def build_procedure(self) -> BenchProcedure:
        """A procedure instance with the form's values (parameter checks raise ValueError)."""
        proc = PROCEDURES[self.procedure_name()]()
        set_parameters(proc, self.values())  # pymeasure validates ranges and choices
        return proc

    # -- actions --------------------------------------------------------------------------------
    def queue_current(self) -> bool:
        """Queue a run with the form's values; a bad value is reported, nothing queued."""
        try:
            proc = self.build_procedure()
            self.controller.enqueue(proc)
        except ValueError as exc:  # LimitError included: nothing was queued or applied
            self.show_error(f"Not queued — {self.procedure_name()}: {exc}")
            return False
        self.error_label.hide()
        self.save_settings()
        return True

    def show_error(self, text: str) -> None:
        """Show why the last request was refused (non-modal, stays until the next queue)."""
        self.error_label.setText(text)
        self.error_label.show()
        log.warning(text)

    def _on_progress(self, percent: float, remaining: float) -> None:
        self.progress.setValue(int(percent * 10))
        # ``remaining``: bench time left (modeled on the twin, procedures.framework.eta)
        eta = "" if math.isnan(remaining) else f" — {_duration(remaining)} of bench time left"
        self.status_label.setText(f"running {percent:.1f} %{eta}")

    def _on_status(self, text: str) -> None:
        self.status_label.setText(text)

    def _on_busy(self, busy: bool) -> None:
        self.abort_button.setEnabled(busy)
        if busy:
            self.progress.setValue(0)

    def _on_finished(self, outcome: Any) -> None:
        text = f"{outcome.status}: {outcome.file.name if outcome.file else ''}"
        if outcome.error:
            text += f" ({outcome.error})"
        self.status_label.setText(text)
        if outcome.status == "finished":
            self.progress.setValue(1000)

    def _refresh_queue(self) -> None:
        self.queue_list.clear()
        current = self.controller.current
        if current is not None:
            self.queue_list.addItem(f"▶ {current.label}")
        for item in self.controller.queue:
            self.queue_list.addItem(f"   {item.label}")

    # -- settings -------------------------------------------------------------------------------
    def save_settings(self, name: str | None = None) -> None:
        """Remember the shown values of the form (of procedure ``name``, default: selected)."""
        name = name or self.procedure_name()
        try:
            QSettings().setValue(f"procedures/{name}", json.dumps(self.values()))
            QSettings().setValue("procedures/last", name)
        except (TypeError, ValueError) as exc:
            log.warning("could not save parameters of %s: %s", name, exc)

    def load_settings(self) -> None:
        """Show the remembered values of the current procedure, if any."""
        raw = QSettings().value(f"procedures/{self._shown}")
        if not raw:
            return
        try:
            for key, value in json.loads(raw).items():
                self.set_parameter(key, value)
        except (ValueError, TypeError) as exc:
            log.warning("ignoring saved parameters: %s", exc)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
