"""Grab the operator docks' screenshots for the README (offscreen):

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/operator_screenshots.py

Forms a cell, reads it, pulses it, maps part of the array, then saves docs/manual-dock.png
(the manual control dock after a pulse train) and docs/history-dock.png (the cell's history and
the array map coloured by "formed").
"""

from __future__ import annotations

from screenshot_window import DOCS, open_window, wait


def main() -> int:
    app, _bench, w = open_window()
    w.procedure_panel.set_parameter("die", "9,9")
    panel = w.procedure_panel
    panel.set_procedure("conductance-map")
    panel.set_parameter("cells", "0-7,0-7")
    panel.set_parameter("die", "9,9")
    panel.queue_current()
    wait(w.controller.runFinished)
    w.array_map.set_selection([(4, 4)])
    w.array_map.selectionChanged.emit(w.array_map.selected_cells())
    for action, values in (("FORM (quasi-static)", {}), ("RESET pulse (WGFMU)", {}),
                           ("Pulse train (WGFMU)", {"count": 20}), ("Read", {})):
        w.manual.set_action(action)
        for k, v in values.items():
            w.manual.set_value(k, v)
        w.manual.apply()
        wait(w.manual.resultShown)
    w.manual.set_action("Pulse train (WGFMU)")
    w.manual.set_value("count", 20)
    w.manual.apply()
    wait(w.manual.resultShown)
    w.findChild(type(w.history_dock), "dock-manual").raise_()
    app.processEvents()
    w.manual.resize(420, 620)
    w.manual.grab().save(str(DOCS / "manual-dock.png"))
    w.show_history([(4, 4), (2, 3)])
    w.history.state_combo.setCurrentText("formed")
    w.array_map.flush()
    app.processEvents()
    w.history_dock.raise_()
    w.history.resize(900, 420)
    w.history.grab().save(str(DOCS / "history-dock.png"))
    w.array_map.clear_selection()
    w.array_map.flush()
    app.processEvents()
    w.array_map.grab().save(str(DOCS / "array-map-formed.png"))
    w.close()
    print(DOCS / "manual-dock.png", DOCS / "history-dock.png", DOCS / "array-map-formed.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
