"""WaferMapWidget: real widget, real mouse/keyboard events through pytest-qt (offscreen)."""

from __future__ import annotations

import math
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PyQt6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from gui.widgets.wafer_map import NAN_COLOR, UNTESTED_COLOR, WaferMapWidget  # noqa: E402
from instruments.wafermap import WaferMap  # noqa: E402

BIN_TABLE = {1: ("pass", True, "#43a047"), 2: ("leaky", False, "#fdd835"),
             3: ("short", False, "#e53935")}


@pytest.fixture
def wmw(qtbot):
    w = WaferMapWidget(WaferMap())
    qtbot.addWidget(w)
    w.resize(640, 680)
    w.show()
    qtbot.waitExposed(w)
    return w


def view_point(w: WaferMapWidget, col: int, row: int, dx_mm: float = 0.0,
               dy_mm: float = 0.0) -> QPoint:
    """Viewport pixel of a die's centre (+ offset in mm): die centre -> scene -> view."""
    QApplication.processEvents()  # pending layout changes (e.g. colour bar shown)
    x, y = w.die_center_mm(col, row)
    scene = w.plot.vb.mapViewToScene(QPointF(x + dx_mm, y + dy_mm))
    return w.view.mapFromScene(scene)


def rgba(color: str) -> tuple[int, int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16), 255


def test_draws_every_die_true_size(wmw):
    wm = wmw.wafer_map
    assert len(wm.dies) > 200
    assert wmw.die_colors().shape == (len(wm.dies), 4)
    assert all(tuple(c) == rgba(UNTESTED_COLOR) for c in wmw.die_colors())
    rects = wmw._dies._rects
    assert len(rects) == len(wm.dies)
    for (col, row), rect in zip(wm.dies, rects, strict=True):
        assert rect.width() == pytest.approx(wm.die_width_um / 1000)
        assert rect.height() == pytest.approx(wm.die_height_um / 1000)
        assert rect.center().x() == pytest.approx(wm.die_center_um(col, row)[0] / 1000)
        assert rect.center().y() == pytest.approx(wm.die_center_um(col, row)[1] / 1000)
    # Square dies on screen (aspect locked): a die is as many pixels wide as it is high.
    a = view_point(wmw, 9, 9, -5, -5)
    b = view_point(wmw, 9, 9, 5, 5)
    assert abs(abs(b.x() - a.x()) - abs(b.y() - a.y())) <= 2


def test_notch_at_flat_angle():
    for angle, direction in ((0, (0, -1)), (90, (-1, 0)), (180, (0, 1)), (270, (1, 0))):
        x, y = WaferMapWidget._outline_points(100.0, angle)
        r = np.hypot(x, y)
        tip = int(np.argmin(r))
        assert r[tip] < 99
        assert x[tip] / r[tip] == pytest.approx(direction[0], abs=1e-9)
        assert y[tip] / r[tip] == pytest.approx(direction[1], abs=1e-9)


def test_die_at_scene_pos_round_trip(wmw):
    for die in wmw.wafer_map.dies[::17]:
        assert wmw.die_at_scene_pos(wmw.die_scene_pos(*die)) == die
    outside = wmw.plot.vb.mapViewToScene(QPointF(99.0, 99.0))
    assert wmw.die_at_scene_pos(outside) is None


@pytest.mark.parametrize("die", [(9, 9), (3, 6), (14, 16)])
def test_click_emits_die(qtbot, wmw, die):
    assert die in wmw.wafer_map.die_set
    with qtbot.waitSignal(wmw.dieClicked, timeout=1000) as blocker:
        qtbot.mouseClick(wmw.view.viewport(), Qt.MouseButton.LeftButton,
                         pos=view_point(wmw, *die))
    assert blocker.args == list(die)


def test_click_outside_dies_emits_nothing(qtbot, wmw):
    with qtbot.assertNotEmitted(wmw.dieClicked, wait=50):
        qtbot.mouseClick(wmw.view.viewport(), Qt.MouseButton.LeftButton,
                         pos=view_point(wmw, 9, 9, 90.0, 90.0))


def test_double_click_emits_die(qtbot, wmw):
    # Qt delivers a double click as press, release, double-click, release; QTest.mouseDClick
    # only sends the double-click event, so the other three are sent around it.
    vp, pos, left = wmw.view.viewport(), view_point(wmw, 10, 4), Qt.MouseButton.LeftButton
    with qtbot.waitSignal(wmw.dieClicked, timeout=1000) as first:
        qtbot.mouseClick(vp, left, pos=pos)
    with qtbot.waitSignal(wmw.dieDoubleClicked, timeout=1000) as blocker:
        qtbot.mouseDClick(vp, left, pos=pos)
        qtbot.mouseRelease(vp, left, pos=pos)
    assert first.args == [10, 4]
    assert blocker.args == [10, 4]


def test_arrow_keys_request_neighbours(qtbot, wmw):
    wmw.set_current_die(9, 9)
    wmw.view.setFocus()
    expected = {Qt.Key.Key_Left: [8, 9], Qt.Key.Key_Right: [10, 9],
                Qt.Key.Key_Up: [9, 8], Qt.Key.Key_Down: [9, 10]}
    for key, target in expected.items():
        with qtbot.waitSignal(wmw.stepRequested, timeout=1000) as blocker:
            qtbot.keyClick(wmw.view, key)
        assert blocker.args == target
    # The widget only requests; the current die is unchanged until told.
    assert wmw.current_die == (9, 9)


def test_arrow_keys_nothing_at_edge(qtbot, wmw):
    wm = wmw.wafer_map
    row = 9
    cols = sorted(c for c, r in wm.dies if r == row)
    wmw.set_current_die(cols[0], row)
    with qtbot.assertNotEmitted(wmw.stepRequested, wait=50):
        qtbot.keyClick(wmw.view, Qt.Key.Key_Left)
    with qtbot.waitSignal(wmw.stepRequested, timeout=1000) as blocker:
        qtbot.keyClick(wmw.view, Qt.Key.Key_Right)
    assert blocker.args == [cols[0] + 1, row]
    top_row = min(r for c, r in wm.dies if c == 9)
    wmw.set_current_die(9, top_row)
    with qtbot.assertNotEmitted(wmw.stepRequested, wait=50):
        qtbot.keyClick(wmw.view, Qt.Key.Key_Up)
    wmw.set_current_die(None)
    with qtbot.assertNotEmitted(wmw.stepRequested, wait=50):
        qtbot.keyClick(wmw.view, Qt.Key.Key_Down)


def test_bins_colour_dies_and_yield(wmw):
    dies = wmw.wafer_map.dies
    wmw.set_bin_table(BIN_TABLE)
    bins = {d: 1 + i % 3 for i, d in enumerate(dies[:30])}
    bins[dies[30]] = 9  # not in the table
    wmw.set_bins(bins)
    assert wmw.mode == "bins"
    for die, code in bins.items():
        colour = wmw.die_color(*die)
        got = (colour.red(), colour.green(), colour.blue(), colour.alpha())
        if code in BIN_TABLE:
            assert got == rgba(BIN_TABLE[code][2])
        else:
            assert got not in {rgba(v[2]) for v in BIN_TABLE.values()} | {rgba(UNTESTED_COLOR)}
    untested = wmw.die_color(*dies[-1])
    assert untested.name() == UNTESTED_COLOR
    # The painted item uses the same colours (one brush per colour).
    brushes = {b.color().name() for b, _ in wmw._dies._groups}
    assert brushes == {v[2] for v in BIN_TABLE.values()} | {UNTESTED_COLOR,
                                                             wmw.die_color(*dies[30]).name()}
    assert wmw.yield_counts() == (10, 31)
    assert wmw.legend.isVisible()
    wmw.set_die_bin(*dies[-1], 1)
    assert wmw.die_color(*dies[-1]).name() == BIN_TABLE[1][2]


def test_values_colour_dies_with_percentile_levels(wmw):
    rng = np.random.default_rng(3)
    dies = wmw.wafer_map.dies
    values = {d: float(v) for d, v in zip(dies, rng.normal(2.5, 0.2, len(dies)), strict=True)}
    values[dies[0]] = math.nan
    wmw.set_values(values, label="V_form", units="V")
    assert wmw.mode == "values"
    assert wmw.colorbar.isVisible()
    finite = np.array([v for v in values.values() if math.isfinite(v)])
    lo, hi = wmw.value_levels()
    assert (lo, hi) == pytest.approx(tuple(np.percentile(finite, [2, 98])))
    assert wmw.colorbar.levels() == pytest.approx((lo, hi))
    assert wmw.die_color(*dies[0]).name() == NAN_COLOR
    # Colour order follows the value order: low values dark (viridis), high values bright.
    lows = [d for d in dies[1:] if values[d] <= lo]
    highs = [d for d in dies[1:] if values[d] >= hi]
    assert lows and highs
    assert len({wmw.die_color(*d).name() for d in lows}) == 1
    assert wmw.die_color(*lows[0]).lightness() < wmw.die_color(*highs[0]).lightness()
    mid = min(dies[1:], key=lambda d: abs(values[d] - (lo + hi) / 2))
    assert wmw.die_color(*mid).name() not in {wmw.die_color(*lows[0]).name(),
                                              wmw.die_color(*highs[0]).name()}
    # Manual levels.
    wmw.set_value_levels(0.0, 10.0)
    assert wmw.value_levels() == (0.0, 10.0)
    assert wmw.colorbar.levels() == pytest.approx((0.0, 10.0))
    wmw.set_value_levels(None)
    assert wmw.value_levels() == pytest.approx((lo, hi))
    # clear_values goes back to bins (or untested).
    wmw.clear_values()
    assert wmw.mode == "none"
    assert not wmw.colorbar.isVisible()
    assert wmw.die_color(*dies[5]).name() == UNTESTED_COLOR


def test_hover_text_and_label(qtbot, wmw):
    wmw.set_bin_table(BIN_TABLE)
    wmw.set_bins({(9, 9): 2})
    wmw.set_values({(9, 9): 2.345}, label="V_form", units="V")
    text = wmw.hover_text(9, 9)
    assert "die (9,9)" in text
    assert "leaky" in text
    assert "V_form = 2.345 V" in text
    wmw.set_hover_hook(lambda c, r: f"devices: {c * r}")
    with qtbot.waitSignal(wmw.dieHovered, timeout=1000) as blocker:
        qtbot.mouseMove(wmw.view.viewport(), view_point(wmw, 9, 9))
    assert blocker.args == [9, 9]
    assert "die (9,9)" in wmw.status_label.text()
    assert "devices: 81" in wmw.status_label.text()
    assert "V_form" in wmw.view.toolTip()


def test_markers_route_and_subsites(wmw):
    wmw.set_current_die(9, 9)
    wmw.set_selected_die(3, 6)
    assert wmw._current_rect.isVisible()
    assert wmw._current_rect.rect().center().x() == pytest.approx(wmw.die_center_mm(9, 9)[0])
    route = list(wmw.wafer_map.dies[:12])
    wmw.set_route(route, numbers=True)
    x, y = wmw._route_curve.getData()
    assert len(x) == 12
    assert (x[3], y[3]) == pytest.approx(wmw.die_center_mm(*route[3]))
    assert sum(lbl.isVisible() for lbl in wmw._route_labels) == 12
    wmw.set_route(route[:4])
    assert sum(lbl.isVisible() for lbl in wmw._route_labels) == 0
    wmw.set_subsites([("A", -2000.0, 1000.0), ("B", 2000.0, 1000.0)])
    pts = wmw._subsite_item.getData()
    cx, cy = wmw.die_center_mm(9, 9)
    assert list(pts[0]) == pytest.approx([cx - 2, cx + 2])
    assert list(pts[1]) == pytest.approx([cy + 1, cy + 1])


def test_grab_png(tmp_path, wmw):
    wmw.set_bin_table(BIN_TABLE)
    wmw.set_bins({d: 1 + i % 3 for i, d in enumerate(wmw.wafer_map.dies)})
    wmw.set_current_die(9, 9)
    path = tmp_path / "wafer_map.png"
    assert wmw.grab().save(str(path))
    assert path.stat().st_size > 5000


def test_colour_bar_drag_fixes_value_levels(wmw):
    dies = wmw.wafer_map.dies
    wmw.set_values({d: float(i) for i, d in enumerate(dies)}, label="R_on", units="Ohm")
    lo, hi = wmw.value_levels()
    wmw.colorbar.region.setRegion((63, 230))  # operator drags the upper handle up
    new_lo, new_hi = wmw.value_levels()
    assert new_lo == pytest.approx(lo, abs=1.0)
    assert new_hi > hi
    top = dies[-1]
    # The highest value is no longer at the top of the scale: not the brightest colour.
    assert wmw.die_color(*top).name() != wmw._cmap.map(1.0, mode="qcolor").name()
