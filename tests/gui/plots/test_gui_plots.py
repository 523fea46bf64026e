"""Live plots: items hold exactly the buffered data, throttled redraws, axes, colours, PNGs."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import logging  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
import pytest  # noqa: E402
from PyQt6.QtGui import QImage  # noqa: E402

from gui.plots import (  # noqa: E402
    CDFPlot,
    ConductancePlot,
    ConductancePlotConfig,
    IVPlot,
    IVPlotConfig,
    LearningPlot,
    PulsePlot,
    RedrawThrottle,
    empirical_cdf,
)
from gui.plots.throttle import format_log_tick  # noqa: E402


def _show(qtbot, widget, size=(700, 420)):
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    return widget


def _sweep(n_half: int = 30) -> np.ndarray:
    return np.concatenate([np.linspace(0, 1.2, n_half), np.linspace(1.2, -1.2, 2 * n_half),
                           np.linspace(-1.2, 0, n_half)])


def _distinct_colors(image: QImage, step: int = 4) -> int:
    return len({image.pixel(x, y) for x in range(0, image.width(), step)
                for y in range(0, image.height(), step)})


# -- throttle ----------------------------------------------------------------------------------
def test_throttle_coalesces_many_marks_into_few_redraws(qtbot):
    calls = []
    throttle = RedrawThrottle(lambda: calls.append(1), max_hz=30.0)
    assert throttle.interval_ms == 34
    for _ in range(500):
        throttle.mark_dirty()
    assert calls == []  # nothing drawn synchronously
    qtbot.waitUntil(lambda: len(calls) >= 1, timeout=2000)
    qtbot.wait(3 * throttle.interval_ms)
    assert 1 <= len(calls) <= 2
    assert throttle.redraw_count == len(calls)
    qtbot.waitUntil(lambda: not throttle.active, timeout=2000)  # idle timer stops itself
    assert not throttle.flush()  # nothing pending


def test_throttle_flush_and_limits(qtbot):
    calls = []
    throttle = RedrawThrottle(lambda: calls.append(1))
    throttle.mark_dirty()
    assert throttle.flush() and calls == [1]
    qtbot.wait(3 * throttle.interval_ms)
    assert calls == [1]  # the timer found nothing left to draw
    with pytest.raises(ValueError):
        RedrawThrottle(lambda: None, max_hz=60.0)
    with pytest.raises(ValueError):
        RedrawThrottle(lambda: None, max_hz=0.0)


def test_throttle_logs_a_failing_redraw(qtbot, caplog):
    def broken() -> None:
        raise RuntimeError("bad row")

    throttle = RedrawThrottle(broken)
    throttle.mark_dirty()
    with caplog.at_level(logging.ERROR, logger="gui.plots.throttle"):
        assert throttle.flush()
    assert "redraw failed" in caplog.text
    assert not throttle.dirty


def test_plot_many_adds_within_a_period_redraw_at_most_twice(qtbot):
    plot = _show(qtbot, IVPlot())
    v = _sweep()
    for vv in v:
        plot.add_point(1, vv, 1e-4 * vv)
    assert plot.redraw_count == 0
    qtbot.waitUntil(lambda: plot.redraw_count >= 1, timeout=2000)
    qtbot.wait(3 * plot.throttle.interval_ms)
    assert plot.redraw_count <= 2
    x, y = plot.curves(1)[0].getData()
    np.testing.assert_array_equal(x, v)


# -- I-V ---------------------------------------------------------------------------------------
def test_iv_curves_hold_exactly_the_buffered_data(qtbot):
    plot = _show(qtbot, IVPlot())
    rng = np.random.default_rng(1)
    v = _sweep()
    expected = {}
    for cycle in (1, 2, 3):
        i = v * 10 ** rng.uniform(-6, -4) * (1 + 0.05 * rng.standard_normal(v.size))
        plot.add_points(cycle, v[:40], i[:40])
        plot.add_points(np.full(v.size - 40, cycle), v[40:], i[40:])
        expected[cycle] = i
    plot.flush()
    assert plot.cycles == [1, 2, 3]
    for cycle, i in expected.items():
        lin, log = plot.curves(cycle)
        x, y = lin.getData()
        np.testing.assert_array_equal(x, v)
        np.testing.assert_array_equal(y, i)
        x, y = log.getData()
        np.testing.assert_array_equal(x, v)
        with np.errstate(divide="ignore"):
            ref = np.log10(np.abs(i))
        ref[~np.isfinite(ref)] = np.nan
        np.testing.assert_array_equal(y, ref)
        bv, bi = plot.data(cycle)
        np.testing.assert_array_equal(bi, i)


def test_iv_mixed_cycles_in_one_batch_and_rows(qtbot):
    plot = _show(qtbot, IVPlot())
    plot.add_points([1, 2, 1, 2], [0.1, 0.2, 0.3, 0.4], [1e-6, 2e-6, 3e-6, 4e-6])
    plot.add_rows([{"Cycle": 2, "Voltage (V)": 0.5, "Current (A)": 5e-6, "Step": 4},
                   {"Voltage (V)": 0.6, "Current (A)": 6e-6}])  # no cycle: cycle 0
    plot.add_rows({"Cycle": 3, "Voltage (V)": [0.7, 0.8], "Current (A)": [7e-6, 8e-6]})
    plot.flush()
    assert plot.cycles == [0, 1, 2, 3]
    np.testing.assert_array_equal(plot.curves(1)[0].getData()[0], [0.1, 0.3])
    np.testing.assert_array_equal(plot.curves(2)[0].getData()[1], [2e-6, 4e-6, 5e-6])
    np.testing.assert_array_equal(plot.curves(0)[0].getData()[0], [0.6])
    np.testing.assert_array_equal(plot.curves(3)[0].getData()[0], [0.7, 0.8])


def test_iv_cycles_get_distinct_colours_and_a_key(qtbot):
    plot = _show(qtbot, IVPlot())
    v = _sweep()
    for cycle in range(1, 7):
        plot.add_points(cycle, v, 1e-5 * v * cycle)
    plot.flush()
    colors = {plot.cycle_color(c).rgb() for c in plot.cycles}
    assert len(colors) == 6
    alphas = [plot.cycle_color(c).alpha() for c in plot.cycles]
    assert alphas == sorted(alphas) and alphas[-1] == 255  # older cycles fade
    assert plot.colorbar.levels() == (1.0, 6.0)


def test_iv_keeps_only_the_newest_cycles(qtbot):
    plot = _show(qtbot, IVPlot(IVPlotConfig(max_cycles=4)))
    for cycle in range(10):
        plot.add_point(cycle, 0.1, 1e-6)
    plot.add_point(2, 0.2, 1e-6)  # too old now: ignored
    plot.flush()
    assert plot.cycles == [6, 7, 8, 9]
    assert len(plot.linear_plot.listDataItems()) == 4
    assert len(plot.log_plot.listDataItems()) == 4
    plot.clear()
    plot.flush()
    assert plot.cycles == [] and plot.linear_plot.listDataItems() == []


def test_iv_log_panel_ignores_zero_and_negative_currents_safely(qtbot, tmp_path):
    plot = _show(qtbot, IVPlot())
    v = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    i = np.array([0.0, 1e-6, 0.0, -2e-6, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot.add_points(1, v, i)
        plot.flush()
        assert plot.grab().save(str(tmp_path / "iv_zero.png"))
    y = plot.curves(1)[1].getData()[1]
    np.testing.assert_allclose(y[[1, 3]], [-6.0, np.log10(2e-6)])
    assert np.isnan(y[[0, 2, 4]]).all()
    np.testing.assert_array_equal(plot.curves(1)[0].getData()[1], i)  # linear keeps all


def test_iv_axes_units_and_compliance(qtbot):
    plot = _show(qtbot, IVPlot())
    assert plot.linear_plot.getAxis("left").labelUnits == "A"
    assert plot.linear_plot.getAxis("bottom").labelUnits == "V"
    assert plot.log_plot.getAxis("left").logMode
    plot.set_compliance(1e-4)
    lin, log = plot.compliance_lines
    assert lin.isVisible() and lin.value() == pytest.approx(1e-4)
    assert log.value() == pytest.approx(-4.0)
    assert "100 µA" in lin.label.toPlainText()
    plot.set_compliance(None)
    assert not lin.isVisible() and not log.isVisible()


# -- pulse -------------------------------------------------------------------------------------
def test_pulse_plot_dual_axis(qtbot):
    plot = _show(qtbot, PulsePlot())
    t = np.array([0, 10e-9, 20e-9, 520e-9, 530e-9, 1e-6])
    v = np.array([0, 0, 1.2, 1.2, 0, 0])
    ti = np.linspace(0, 1e-6, 50)
    i = np.interp(ti, t, v) * 5e-5
    plot.set_waveform(t, v, i, t_i=ti)
    plot.flush()
    np.testing.assert_array_equal(plot.voltage_curve.xData, t)
    np.testing.assert_array_equal(plot.voltage_curve.yData, v)
    np.testing.assert_array_equal(plot.current_curve.xData, ti)
    np.testing.assert_array_equal(plot.current_curve.yData, i)
    # current on its own view box, behind the right axis, x linked to the voltage view
    right = plot.plot.getAxis("right")
    assert right.isVisible() and right.linkedView() is plot.current_view
    assert plot.current_curve.getViewBox() is plot.current_view
    assert plot.voltage_curve.getViewBox() is plot.plot.vb
    assert plot.current_view.linkedView(pg.ViewBox.XAxis) is plot.plot.vb
    assert right.labelUnits == "A"
    assert plot.plot.getAxis("left").labelUnits == "V"
    assert plot.plot.getAxis("bottom").labelUnits == "s"
    # a new waveform replaces the old one; streamed rows append
    plot.set_waveform([0.0, 1e-6], [0.0, -1.0])
    plot.add_rows({"Time (s)": [2e-6, 3e-6], "Voltage (V)": [-1.0, 0.0],
                   "Current (A)": [-1e-5, 0.0]})
    plot.flush()
    np.testing.assert_array_equal(plot.voltage_curve.xData, [0.0, 1e-6, 2e-6, 3e-6])
    np.testing.assert_array_equal(plot.current_curve.yData, [-1e-5, 0.0])
    with pytest.raises(ValueError):
        plot.set_waveform([0.0, 1.0], [0.0])


# -- conductance -------------------------------------------------------------------------------
def test_conductance_points_by_kind_and_log_axis(qtbot):
    plot = _show(qtbot, ConductancePlot())
    plot.add_point(1, 20e-6, "set")
    plot.add_points([2, 3, 4], [30e-6, 10e-6, 12e-6], ["set", "reset", "read"])
    plot.add_rows([{"Pulse": 5, "Conductance (S)": 40e-6, "Kind": "SET"},
                   {"Pulse": 6, "Conductance (S)": 0.0}])  # no kind: read; G = 0
    plot.add_rows({"Pulse": [7, 8], "Conductance (S)": [5e-6, 6e-6], "Kind": [2, 0]})
    plot.flush()
    np.testing.assert_array_equal(plot.curves["set"].getData()[0], [1, 2, 5])
    np.testing.assert_array_equal(plot.curves["set"].getData()[1], [20e-6, 30e-6, 40e-6])
    np.testing.assert_array_equal(plot.curves["reset"].getData()[0], [3, 7])
    np.testing.assert_array_equal(plot.curves["read"].getData()[0], [4, 6, 8])
    np.testing.assert_array_equal(plot.line.getOriginalDataset()[0], np.arange(1, 9))
    assert plot.plot.getAxis("left").labelUnits == "S"
    assert plot.curves["set"].opts["symbolBrush"].color().name() != \
        plot.curves["reset"].opts["symbolBrush"].color().name()
    assert {label.text for _, label in plot.legend.items} == {"SET", "RESET", "read"}

    plot.set_log_y(True)
    plot.flush()
    assert plot.log_checkbox.isChecked() and plot.plot.getAxis("left").logMode
    y = plot.curves["read"].getData()[1]
    np.testing.assert_allclose(y[[0, 2]], np.log10([12e-6, 6e-6]))
    assert np.isnan(y[1])  # G = 0 has no place on a log axis
    plot.log_checkbox.setChecked(False)
    plot.flush()
    assert not plot.log_y
    np.testing.assert_array_equal(plot.curves["read"].getData()[1], [12e-6, 0.0, 6e-6])
    with pytest.raises(ValueError):
        plot.add_point(9, 1e-6, "form")


def test_conductance_target_band(qtbot):
    plot = _show(qtbot, ConductancePlot())
    plot.set_target(50e-6, 0.1)
    assert plot.target_band.isVisible() and plot.target_line.isVisible()
    assert plot.target_band.getRegion() == pytest.approx((45e-6, 55e-6))
    plot.set_log_y(True)
    assert plot.target_band.getRegion() == pytest.approx(np.log10([45e-6, 55e-6]))
    assert plot.target_line.value() == pytest.approx(np.log10(50e-6))
    plot.set_target_band(1e-6, 2e-6)
    assert not plot.target_line.isVisible()
    plot.clear_target()
    assert not plot.target_band.isVisible()


def test_conductance_many_points_drop_symbols_and_ring(qtbot):
    plot = _show(qtbot, ConductancePlot(ConductancePlotConfig(symbol_limit=100,
                                                               max_points=500)))
    n = np.arange(2000.0)
    plot.add_points(n, 1e-5 + 1e-7 * (n % 7), "read")
    plot.flush()
    assert plot.curves["read"].opts["symbol"] is None
    np.testing.assert_array_equal(plot.data("read")[0], n[-500:])
    np.testing.assert_array_equal(plot.curves["read"].getOriginalDataset()[0], n[-500:])


# -- CDF ---------------------------------------------------------------------------------------
def test_empirical_cdf_sorted_in_unit_interval():
    rng = np.random.default_rng(5)
    for size in (1, 2, 10, 1000):
        values = rng.lognormal(9, 1, size)
        x, p = empirical_cdf(values)
        assert np.all(np.diff(x) >= 0) and np.all(np.diff(p) > 0)
        assert p[0] > 0 and p[-1] == 1.0 and np.all((p > 0) & (p <= 1))
        np.testing.assert_array_equal(np.sort(values), x)
    x, p = empirical_cdf([3.0, np.nan, -1.0, 0.0, 2.0], positive_only=True)
    assert x.tolist() == [2.0, 3.0] and p.tolist() == [0.5, 1.0]


def test_cdf_plot_quantities_and_curves(qtbot):
    plot = _show(qtbot, CDFPlot())
    rng = np.random.default_rng(8)
    lrs = 10 ** rng.normal(3.9, 0.1, 100)
    hrs = 10 ** rng.normal(5.2, 0.3, 80)
    vform = rng.normal(2.6, 0.2, 60)
    plot.set_samples("R_LRS", lrs, "Ohm")
    plot.set_samples("R_HRS", hrs, "Ohm")
    plot.set_samples("V_form", vform, "V")
    plot.flush()
    assert plot.quantities == ["Ω", "V"] and plot.quantity == "Ω"
    assert plot.quantity_combo.count() == 2
    assert "R_LRS" in plot.quantity_combo.itemText(0)
    assert plot.plot.getAxis("bottom").logMode
    x, p = plot.curve("R_HRS").getOriginalDataset()
    np.testing.assert_array_equal(x, np.sort(hrs))
    assert np.all(np.diff(x) >= 0) and np.all((p > 0) & (p <= 1)) and p[-1] == 1.0
    assert plot.curve("R_LRS").isVisible() and not plot.curve("V_form").isVisible()
    assert plot.plot.getAxis("bottom").labelUnits == "Ω"

    plot.quantity_combo.setCurrentIndex(1)  # as the operator would
    plot.flush()
    assert plot.quantity == "V" and not plot.plot.getAxis("bottom").logMode
    assert plot.curve("V_form").isVisible() and not plot.curve("R_LRS").isVisible()
    np.testing.assert_array_equal(plot.curve("V_form").getData()[0], np.sort(vform))
    assert plot.plot.getAxis("bottom").labelUnits == "V"
    assert "n=60" in plot.legend.items[0][1].text

    plot.set_samples("V_form", [3.0, 2.0], "V")  # replaces
    plot.remove_samples("R_LRS")
    plot.flush()
    np.testing.assert_array_equal(plot.cdf("V_form")[0], [2.0, 3.0])
    assert plot.names == ["R_HRS", "V_form"]
    plot.clear()
    plot.flush()
    assert plot.quantities == [] and plot.quantity_combo.count() == 0


# -- learning ----------------------------------------------------------------------------------
def test_learning_plot_series_colours_and_legend(qtbot):
    plot = _show(qtbot, LearningPlot())
    for epoch in range(1, 6):
        plot.add_point("task 1", epoch, 0.5 + 0.05 * epoch)
        plot.add_point("test accuracy", epoch, 0.4 + 0.05 * epoch)
    plot.add_rows([{"Epoch": 6, "task 1": 0.9, "acceptance rate": 0.2},
                   {"Epoch": 7, "acceptance rate": 0.1}])
    plot.add_point("task 1", 8, float("nan"))  # skipped
    plot.flush()
    assert plot.series == ["task 1", "test accuracy", "acceptance rate"]
    x, y = plot.curve("task 1").getData()
    np.testing.assert_array_equal(x, [1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(y, [0.55, 0.6, 0.65, 0.7, 0.75, 0.9])
    np.testing.assert_array_equal(plot.curve("acceptance rate").getData()[0], [6, 7])
    assert len({plot.color(s) for s in plot.series}) == 3
    assert [label.text for _, label in plot.legend.items] == plot.series
    plot.clear()
    plot.flush()
    assert plot.series == [] and plot.legend.items == []


# -- pictures ----------------------------------------------------------------------------------
def _filled_plots(qtbot):
    rng = np.random.default_rng(11)
    iv = _show(qtbot, IVPlot(), (1000, 420))
    v = _sweep()
    for cycle in range(1, 6):
        i = np.where(np.arange(v.size) < 25, 1e-6, 8e-5) * v * (1 + 0.05 * cycle)
        iv.add_points(cycle, v, i)
    iv.set_compliance(1e-4)
    pulse = _show(qtbot, PulsePlot())
    t = np.linspace(0, 2e-6, 200)
    vp = np.where((t > 0.2e-6) & (t < 1.2e-6), 1.5, 0.0)
    pulse.set_waveform(t, vp, vp * 4e-5 + 1e-7 * rng.standard_normal(t.size))
    cond = _show(qtbot, ConductancePlot())
    g = 20e-6 * 1.1 ** np.arange(15)
    cond.add_points(np.arange(15), g, ["set"] * 14 + ["read"])
    cond.set_target(80e-6, 0.1)
    cdf = _show(qtbot, CDFPlot())
    cdf.set_samples("R_LRS", 10 ** rng.normal(3.9, 0.1, 100), "Ohm")
    cdf.set_samples("R_HRS", 10 ** rng.normal(5.2, 0.3, 100), "Ohm")
    learn = _show(qtbot, LearningPlot())
    learn.add_points("test accuracy", np.arange(20), 1 - np.exp(-np.arange(20) / 5))
    plots = {"iv": iv, "pulse": pulse, "conductance": cond, "cdf": cdf, "learning": learn}
    for plot in plots.values():
        plot.flush()
    return plots


def test_plots_render_to_png(qtbot, tmp_path):
    for name, plot in _filled_plots(qtbot).items():
        path = tmp_path / f"plot_{name}.png"
        assert plot.grab().save(str(path)), name
        image = QImage(str(path))
        assert image.width() > 300 and image.height() > 200
        assert _distinct_colors(image) > 5, f"{name} looks blank"


def test_log_tick_text():
    assert format_log_tick(70.0) == "70"
    assert format_log_tick(0.25) == "0.25"
    assert format_log_tick(1e-9) == "10⁻⁹"
    assert format_log_tick(2e5) == "2·10⁵"
    assert format_log_tick(0.0) == ""


def test_plots_are_freed_without_the_cycle_collector(qtbot):
    """No reference cycle through the throttle: a dropped plot is deleted at once, in Qt's
    parent-child order (the cycle collector would free its items in arbitrary order)."""
    import gc
    import weakref

    gc.disable()
    try:
        for cls in (IVPlot, PulsePlot, ConductancePlot, CDFPlot, LearningPlot):
            plot = cls()
            plot.show()
            plot.throttle.mark_dirty()
            plot.flush()
            ref = weakref.ref(plot)
            plot.close()
            del plot
            assert ref() is None, f"{cls.__name__} kept alive by a reference cycle"
    finally:
        gc.enable()
