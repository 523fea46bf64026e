"""Grab the Campaign tab's screenshot for the README (offscreen):

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/campaign_screenshot.py

Runs the ``temperature-demo`` campaign from the GUI's Campaign tab on a fresh simulated bench and
saves docs/campaign-tab.png (schedule, condition timeline, window vs chuck temperature).
"""

from __future__ import annotations

from screenshot_window import DOCS, open_window, wait


def main() -> int:
    app, bench, w = open_window()
    panel = w.campaign_panel
    panel.load("temperature-demo")
    panel.start()
    wait(panel.finished, 300_000)
    panel.figure_combo.setCurrentText("window")
    app.processEvents()
    panel.setParent(None)  # out of its dock, at a readable size
    panel.resize(620, 980)
    panel.show()
    app.processEvents()
    panel.grab().save(str(DOCS / "campaign-tab.png"))
    w.close()
    bench.close()
    print(DOCS / "campaign-tab.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
