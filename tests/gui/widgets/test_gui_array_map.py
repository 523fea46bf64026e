"""ArrayMapWidget: real widget, real mouse events through pytest-qt (offscreen)."""

from __future__ import annotations

import math
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PyQt6.QtGui import QMouseEvent  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from gui.widgets.array_map import (  # noqa: E402
    ArrayMapWidget,
    format_conductance,
    log_conductance_ticks,
)

LEFT = Qt.MouseButton.LeftButton
CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def amw(qtbot):
    w = ArrayMapWidget(32, 32)
    qtbot.addWidget(w)
    w.resize(600, 560)
    w.show()
    qtbot.waitExposed(w)
    return w


def cell_point(w: ArrayMapWidget, row: int, col: int) -> QPoint:
    """Viewport pixel of a cell's centre: cell centre -> scene -> view."""
    QApplication.processEvents()
    return w.view.mapFromScene(w.cell_scene_pos(row, col))


def random_map(seed: int, shape=(32, 32)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lrs = 10 ** rng.normal(-4.0, 0.15, shape)
    hrs = 10 ** rng.normal(-6.3, 0.3, shape)
    return np.where(rng.random(shape) < 0.5, lrs, hrs)


def test_update_cells_then_flush_shows_log10(amw):
    rng = np.random.default_rng(7)
    n = 300
    flat = rng.choice(32 * 32, size=n, replace=False)
    rows, cols = np.divmod(flat, 32)
    gs = 10 ** rng.uniform(-7, -3, n)
    before = amw.redraw_count
    amw.update_cells(rows, cols, gs)
    assert amw.dirty
    assert amw.redraw_count == before  # nothing drawn until the refresh
    assert np.isnan(amw.image.image[rows, cols]).all()
    amw.flush()
    assert not amw.dirty
    assert amw.redraw_count == before + 1
    img = amw.image.image
    assert img.shape == (32, 32)
    np.testing.assert_allclose(img[rows, cols], np.log10(gs))
    mask = np.ones((32, 32), bool)
    mask[rows, cols] = False
    assert np.isnan(img[mask]).all()  # unmeasured cells stay NaN (drawn transparent on grey)
    amw.update_cell(3, 4, 2.5e-5)
    amw.update_cell(3, 5, float("nan"))
    amw.update_cell(3, 6, 0.0)  # open: shown at the floor, not dropped
    amw.flush()
    assert amw.image.image[3, 4] == pytest.approx(math.log10(2.5e-5))
    assert np.isnan(amw.image.image[3, 5])
    assert amw.image.image[3, 6] == pytest.approx(-15.0)
    amw.clear()
    amw.flush()
    assert np.isnan(amw.image.image).all()


def test_refresh_timer_throttles_redraws(qtbot, amw):
    before = amw.redraw_count
    for i in range(500):
        amw.update_cell(i % 32, (i // 32) % 32, 1e-6 * (1 + i))
        amw.update_cell(0, 0, 1e-6 * (1 + i))
    assert amw.redraw_count == before
    qtbot.waitUntil(lambda: not amw.dirty, timeout=2000)
    assert amw.redraw_count == before + 1  # 1000 updates, one redraw
    assert amw.image.image[0, 0] == pytest.approx(math.log10(500e-6))
    assert amw.image.image[31, 14] == pytest.approx(math.log10(1e-6 * (1 + 31 + 14 * 32)))


def test_set_map_and_shapes(amw):
    g = random_map(1, (32, 64))
    amw.set_shape(32, 64, group_cols=2)
    amw.set_map(g)
    amw.flush()
    assert amw.shape == (32, 64)
    np.testing.assert_allclose(amw.image.image, np.log10(g))
    x, _ = amw._groups.getData()
    assert sorted(set(x.tolist())) == list(range(2, 64, 2))
    amw.set_map(np.full((8, 4), 1e-5))
    amw.flush()
    assert amw.shape == (8, 4)
    np.testing.assert_allclose(amw.image.image, -5.0)
    with pytest.raises(ValueError):
        amw.set_shape(0, 4)


def test_levels_auto_and_manual(amw):
    g = random_map(2)
    amw.set_map(g)
    amw.flush()
    assert amw.auto_levels
    lo, hi = amw.levels()
    assert lo == pytest.approx(10 ** np.percentile(np.log10(g), 0.5), rel=1e-6)
    assert hi == pytest.approx(10 ** np.percentile(np.log10(g), 99.5), rel=1e-6)
    assert amw.image.getLevels() == pytest.approx(np.log10([lo, hi]))
    amw.set_levels(1e-7, 1e-3)
    assert not amw.auto_levels
    assert not amw.auto_checkbox.isChecked()
    assert amw.levels() == pytest.approx((1e-7, 1e-3))
    amw.update_cell(0, 0, 1.0)
    amw.flush()
    assert amw.levels() == pytest.approx((1e-7, 1e-3))  # manual levels stay
    assert amw.image.getLevels() == pytest.approx((-7.0, -3.0))
    amw.auto_checkbox.setChecked(True)
    assert amw.auto_levels
    logs = np.log10(amw.conductance())
    assert amw.levels() == pytest.approx(tuple(10 ** np.percentile(logs, [0.5, 99.5])))
    with pytest.raises(ValueError):
        amw.set_levels(0.0, 1e-3)


def test_colour_bar_ticks_read_as_conductance():
    major, minor = log_conductance_ticks()
    labels = dict(major)
    assert labels[-6.0] == "1 µS"
    assert labels[-3.0] == "1 mS"
    assert labels[-9.0] == "1 nS"
    assert ("20 µS" in [s for _, s in minor]) and ("500 nS" in [s for _, s in minor])
    assert format_conductance(1.234e-5) == "12.3 µS"


def test_click_selects_cell(qtbot, amw):
    with qtbot.waitSignal(amw.selectionChanged, timeout=1000) as blocker:
        qtbot.mouseClick(amw.view.viewport(), LEFT, pos=cell_point(amw, 5, 7))
    assert blocker.args == [[(5, 7)]]
    assert amw.selected_cells() == [(5, 7)]
    with qtbot.waitSignal(amw.selectionChanged, timeout=1000) as blocker:
        qtbot.mouseClick(amw.view.viewport(), LEFT, pos=cell_point(amw, 20, 0))
    assert blocker.args == [[(20, 0)]]


def test_ctrl_click_toggles(qtbot, amw):
    vp = amw.view.viewport()
    qtbot.mouseClick(vp, LEFT, pos=cell_point(amw, 1, 1))
    with qtbot.waitSignal(amw.selectionChanged, timeout=1000) as blocker:
        qtbot.mouseClick(vp, LEFT, CTRL, pos=cell_point(amw, 2, 3))
    assert blocker.args == [[(1, 1), (2, 3)]]
    with qtbot.waitSignal(amw.selectionChanged, timeout=1000) as blocker:
        qtbot.mouseClick(vp, LEFT, CTRL, pos=cell_point(amw, 1, 1))
    assert blocker.args == [[(2, 3)]]
    assert not amw._selection_item.path().isEmpty()


def drag(qtbot, w: ArrayMapWidget, a: tuple[int, int], b: tuple[int, int], modifier=None):
    """Press on cell a, move with the button (and modifier) held, release on cell b.

    The moves are sent as QMouseEvents because QTest.mouseMove carries no keyboard modifier.
    """
    vp = w.view.viewport()
    mod = modifier if modifier is not None else Qt.KeyboardModifier.NoModifier
    p0, p1 = cell_point(w, *a), cell_point(w, *b)
    qtbot.mousePress(vp, LEFT, mod, pos=p0)
    for t in (0.25, 0.5, 0.75, 1.0):
        qtbot.wait(15)  # pyqtgraph drops mouse moves closer than 10 ms apart: pace them
        pos = QPointF(p0.x() + t * (p1.x() - p0.x()), p0.y() + t * (p1.y() - p0.y()))
        ev = QMouseEvent(QEvent.Type.MouseMove, pos, QPointF(vp.mapToGlobal(pos.toPoint())),
                         Qt.MouseButton.NoButton, LEFT, mod)
        QApplication.sendEvent(vp, ev)
    qtbot.wait(15)
    qtbot.mouseRelease(vp, LEFT, mod, pos=p1)


def test_drag_selects_rectangle(qtbot, amw):
    with qtbot.waitSignal(amw.selectionChanged, timeout=1000) as blocker:
        drag(qtbot, amw, (6, 9), (3, 12))
    expected = [(r, c) for r in range(3, 7) for c in range(9, 13)]
    assert blocker.args == [expected]
    assert amw.selected_cells() == expected
    assert not amw._band.isVisible()
    # Ctrl+drag adds a second rectangle.
    with qtbot.waitSignal(amw.selectionChanged, timeout=1000) as blocker:
        drag(qtbot, amw, (20, 20), (21, 21), modifier=CTRL)
    assert blocker.args == [sorted(expected + [(20, 20), (20, 21), (21, 20), (21, 21)])]


def test_hover_shows_g_and_r(qtbot, amw):
    amw.update_cell(4, 6, 20e-6)
    amw.flush()
    text = amw.hover_text(4, 6)
    assert "row 4, col 6" in text
    assert "G = 20 µS" in text
    assert "R = 50 kΩ" in text
    assert "not measured" in amw.hover_text(0, 0)
    with qtbot.waitSignal(amw.cellHovered, timeout=1000) as blocker:
        qtbot.mouseMove(amw.view.viewport(), cell_point(amw, 4, 6))
    assert blocker.args[:2] == [4, 6]
    assert blocker.args[2] == pytest.approx(20e-6)
    assert "G = 20 µS" in amw.status_label.text()


def test_grab_png(tmp_path, amw):
    g = random_map(3)
    g[20:, 25:] = np.nan
    amw.set_map(g)
    amw.flush()
    amw.set_selection([(3, 4), (3, 5)])
    path = tmp_path / "array_map.png"
    assert amw.grab().save(str(path))
    assert path.stat().st_size > 5000


def test_selection_api_and_shape_change(qtbot, amw):
    with qtbot.waitSignal(amw.selectionChanged, timeout=1000):
        amw.set_selection([(0, 0), (31, 31), (40, 0)])
    assert amw.selected_cells() == [(0, 0), (31, 31)]
    with qtbot.waitSignal(amw.selectionChanged, timeout=1000) as blocker:
        amw.set_shape(16, 16)
    assert blocker.args == [[]]
    assert amw.cell_at(QPointF(15.9, 15.9)) == (15, 15)
    assert amw.cell_at(QPointF(16.1, 1.0)) is None


def test_colour_bar_drag_sets_manual_levels(amw):
    amw.set_map(random_map(4))
    amw.flush()
    assert amw.auto_levels
    before = amw.colorbar.levels()
    amw.colorbar.region.setRegion((40, 191))  # operator drags the lower handle down
    assert not amw.auto_levels
    assert not amw.auto_checkbox.isChecked()
    after = amw.colorbar.levels()
    assert after[0] < before[0]
    assert amw.image.getLevels() == pytest.approx(after)
    amw.update_cell(0, 0, 1.0)
    amw.flush()
    assert amw.colorbar.levels() == pytest.approx(after)  # kept while auto is off
