"""The main window on a packaged bench: the board view replaces the wafer map (pytest-qt)."""

from __future__ import annotations

import math

import pytest
from PyQt6.QtCore import QPoint, Qt

from gui.widgets.board_view import SELECTED_COLOR, SOCKET_COLOR, BoardView
from instruments.bench import Bench
from tests._gui import open_main_window, run_in_window


@pytest.fixture
def packaged(tmp_path):
    with Bench.open("simulated-packaged", data_dir=tmp_path / "lab", fresh=True) as bench:
        yield bench


@pytest.fixture
def window(qtbot, packaged, data_root):
    with open_main_window(qtbot, packaged, data_root) as w:
        yield w


def _centre(view: BoardView, k: int) -> QPoint:
    return view.board.socket_rect(k).center().toPoint()


def test_the_board_dock_replaces_the_wafer_map(qtbot, window, packaged):
    assert window.findChild(object, "dock-board") is not None
    assert window.findChild(object, "dock-wafer-map") is None
    assert not window.wafer_panel.isEnabled()  # wafer runs need a prober
    panel = window.procedure_panel  # the form offers a chip, not a die or a subsite
    assert panel.is_shown("chip") and not panel.is_shown("die") and not panel.is_shown("subsite")
    assert not window.step_to_die(9, 9) and "no prober" in window.last_message
    view = window.board.view
    assert view.sockets == 8
    qtbot.waitUntil(lambda: view.dies == packaged.lab.board.dies)  # BOARD:ID? off the GUI thread
    qtbot.waitUntil(lambda: view.selected == 0)  # the bench status says which socket is routed
    assert "routed: socket 0" in view.caption.text()
    assert window.bench_panel.height_label.text() == "0"


def test_click_targets_a_chip_and_double_click_selects_it(qtbot, window, packaged):
    view = window.board.view
    qtbot.waitUntil(lambda: view.dies == packaged.lab.board.dies)
    qtbot.mouseClick(view.board, Qt.MouseButton.LeftButton, pos=_centre(view, 5))
    assert window.procedure_panel.editors["chip"].value() == 5 and view.target == 5
    with qtbot.waitSignal(view.chipRouted, timeout=10_000) as blocker:
        qtbot.mouseDClick(view.board, Qt.MouseButton.LeftButton, pos=_centre(view, 3))
    assert blocker.args == [3]
    assert packaged.lab.board.selected == 3 and packaged.chip.board_socket == 3
    assert view.selected == 3


def test_a_run_on_a_clicked_chip_measures_that_chip(qtbot, window, packaged):
    view = window.board.view
    qtbot.waitUntil(lambda: view.dies == packaged.lab.board.dies)
    view.chipClicked.emit(6)
    outcome = run_in_window(qtbot, window, "forming", chip=6, cells="0,0-1")
    assert outcome.status == "finished", outcome.error
    assert outcome.die == packaged.lab.board.dies[6] and packaged.lab.board.selected == 6
    assert all(v == 0.0 for v in packaged.lab.dc_bias.values())
    # the finished run colours its chip's socket (V_form per chip)
    window.wafer_figure.setCurrentText(next(
        t for t in (window.wafer_figure.itemText(i) for i in range(window.wafer_figure.count()))
        if "form" in t.lower()))
    qtbot.waitUntil(lambda: 6 in view.values)
    assert math.isfinite(view.values[6]) and view.fill(6) != SOCKET_COLOR


def test_board_view_geometry_and_screenshot(qtbot, tmp_path):
    view = BoardView(8)
    qtbot.addWidget(view)
    view.resize(520, 340)
    view.show()
    view.set_dies([(9 + k, 1) for k in range(8)])
    view.set_selected(2, "2T2R", (4, 7))
    view.set_target(5)
    view.set_values({0: 1.0, 1: 2.0, 2: float("nan")}, label="V_form", units="V")
    for k in range(8):  # every socket is hit at its centre and nowhere else
        c = _centre(view, k)
        assert view.board.socket_at(c.x(), c.y()) == k
    assert view.board.socket_at(-5, -5) is None
    assert "socket 2 (chip c11r01), 2T2R, cell 4,7" in view.caption.text()
    assert "next run: chip 5" in view.caption.text()
    img = view.grab().toImage()
    r = view.board.socket_rect(2)
    frame = img.pixelColor(int(r.center().x()), int(r.top()) + 1)
    assert frame.name() == SELECTED_COLOR
    path = tmp_path / "board.png"
    assert view.grab().save(str(path))
    assert path.stat().st_size > 1000
