"""Helpers shared by the GUI tests (pytest-qt)."""

from __future__ import annotations


def run_in_window(qtbot, window, name, **params):
    """Queue procedure ``name`` from the window's procedure panel with ``params``; wait for the
    run's end and return its outcome."""
    panel = window.procedure_panel
    panel.set_procedure(name)
    for k, v in params.items():
        panel.set_parameter(k, v)
    with qtbot.waitSignal(window.controller.runFinished, timeout=120_000) as blocker:
        assert panel.queue_current(), panel.error_label.text()
    return blocker.args[0]
