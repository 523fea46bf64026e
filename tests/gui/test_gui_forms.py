"""Procedure forms show what matters: conditional parameters, groups, units (pytest-qt)."""

from __future__ import annotations

import pytest
from PyQt6.QtCore import QSettings

from gui.procedure_panel import PROGRAM_KEYS, ProcedurePanel
from gui.run_controller import RunController


@pytest.fixture
def panel(qtbot, tmp_path):
    QSettings().clear()

    class _Bench:
        limits = None

    from procedures.framework.catalog import Catalog

    controller = RunController(_Bench(), tmp_path, Catalog(tmp_path))
    p = ProcedurePanel(controller)
    qtbot.addWidget(p)
    p.show()
    return p


def test_conductance_map_programming_shown_only_with_a_pattern(panel):
    panel.set_procedure("conductance-map")
    assert PROGRAM_KEYS and "set_stop" in PROGRAM_KEYS
    assert not any(panel.is_shown(k) for k in (*PROGRAM_KEYS, "image_path", "form_first"))
    assert panel.is_shown("v_read") and panel.is_shown("pattern")
    panel.set_parameter("pattern", "checkerboard")
    assert all(panel.is_shown(k) for k in PROGRAM_KEYS) and panel.is_shown("form_first")
    assert not panel.is_shown("image_path")
    panel.set_parameter("pattern", "image")
    assert panel.is_shown("image_path")
    assert "Programming" in panel.group_boxes
    # hidden parameters keep their values and are still sent
    panel.set_parameter("pattern", "none")
    assert panel.build_procedure().set_stop == pytest.approx(panel.editors["set_stop"].value())


def test_labels_show_units_and_other_procedures_show_everything(panel):
    panel.set_procedure("forming")
    assert panel.labels["v_stop"].text() == "Stop voltage [V]"
    assert panel.labels["compliance"].text() == "Compliance [A]"
    assert all(panel.is_shown(k) for k in panel.editors if k != "chip")
    assert not panel.is_shown("chip")  # a wafer bench: dies, no board of packaged chips
    panel.set_procedure("iv-cycling")  # programming parameters are its main parameters here
    assert panel.is_shown("set_stop") and "Programming" not in panel.group_boxes
