"""The I-V plot reduces long curves off the GUI thread, keeps peaks, shows raw points on zoom."""

from __future__ import annotations

import numpy as np
import pytest

from gui.plots.iv_plot import IVPlot, IVPlotConfig

PERIOD = 4000  # points per triangular sweep 0 -> 1.5 V -> 0


def _sweep(n: int) -> tuple[np.ndarray, np.ndarray]:
    phase = np.arange(n) % PERIOD / PERIOD
    v = 1.5 * np.where(phase < 0.5, 2 * phase, 2 - 2 * phase)
    return v, v * 1e-4


def _settled(iv: IVPlot) -> bool:
    return not iv.reducer.busy and not iv.throttle.dirty


@pytest.fixture
def iv(qtbot):
    plot = IVPlot(IVPlotConfig(max_drawn_points=4000))
    qtbot.addWidget(plot)
    plot.resize(900, 400)
    plot.show()
    return plot


def test_a_long_sweep_is_reduced_on_the_worker_with_its_spike_drawn(iv, qtbot):
    n = 300_000
    v, i = _sweep(n)
    spike = 123_457
    i[spike] = 1.0
    for k in range(0, n, 1000):  # as rows stream in: no flush, the timer and the worker draw
        iv.add_points(0, v[k:k + 1000], i[k:k + 1000])
    qtbot.waitUntil(lambda: _settled(iv) and iv.curves(0)[0].xData is not None
                    and len(iv.data(0)[0]) == n, timeout=30_000)
    assert iv.reducer.reductions == iv.reducer.worker_reductions > 0  # none on the GUI thread
    lin, log = iv.curves(0)
    assert len(lin.xData) <= 4000 and len(log.xData) <= 4000
    assert iv.drawn_factor(0) > 1
    assert lin.yData.max() == 1.0 and log.yData.max() == 0.0  # the spike: 1 A, log10 = 0
    assert len(iv.data(0)[0]) == n and iv.data(0)[1][spike] == 1.0  # every point kept


def test_zooming_in_draws_the_raw_points_of_the_window_and_zooming_out_decimates(iv, qtbot):
    n = 200_000
    v, i = _sweep(n)
    spike = 50 * PERIOD // 2 + 667  # on a falling branch, at ~0.999 V
    i[spike] = 1e-2
    iv.add_points(0, v, i)
    iv.flush()
    assert iv.drawn_factor(0) > 1
    lo, hi = float(v[spike]) - 0.005, float(v[spike]) + 0.005
    iv.linear_plot.setXRange(lo, hi, padding=0)  # a manual zoom: x stops auto-ranging
    qtbot.waitUntil(lambda: _settled(iv) and iv.drawn_factor(0) == 1, timeout=30_000)
    inside = (v >= lo) & (v <= hi)
    near = inside.copy()
    near[1:] |= inside[:-1]
    near[:-1] |= inside[1:]
    with np.errstate(divide="ignore"):
        log_i = np.log10(i)
    for item, y in zip(iv.curves(0), (i, log_i), strict=True):
        x_drawn, y_drawn = item.xData, item.yData
        real = np.isfinite(x_drawn)
        # exactly the measured points in (and next to) the window, in their order
        np.testing.assert_array_equal(x_drawn[real], v[near])
        np.testing.assert_array_equal(y_drawn[real], y[near])
        assert np.isnan(x_drawn).sum() == np.count_nonzero(np.diff(np.flatnonzero(near)) > 1)
    assert iv.curves(0)[0].yData[np.isfinite(iv.curves(0)[0].yData)].max() == 1e-2
    iv.linear_plot.enableAutoRange(x=True)  # back to the whole curve
    qtbot.waitUntil(lambda: _settled(iv) and iv.drawn_factor(0) > 1, timeout=30_000)
    assert len(iv.curves(0)[0].xData) <= 4000


def test_a_window_denser_than_the_budget_is_decimated_keeping_its_peak(iv):
    n = 400_000
    v, i = _sweep(n)
    spike = 37 * PERIOD + 1000  # 0.75 V, rising
    i[spike] = 5.0
    iv.add_points(0, v, i)
    iv.linear_plot.setXRange(0.7, 0.8, padding=0)  # ~130 points a pass, 200 passes
    iv.flush()
    lin = iv.curves(0)[0]
    assert iv.drawn_factor(0) > 1 and len(lin.xData) <= 4000
    assert np.nanmax(lin.yData) == 5.0


def test_clear_drops_points_still_waiting_for_the_worker(iv):
    iv.add_points(0, [0.1, 0.2], [1e-6, 2e-6])
    iv.clear()
    iv.add_points(3, [0.3], [3e-6])
    iv.flush()
    assert iv.cycles == [3]
    np.testing.assert_array_equal(iv.data(3)[0], [0.3])
    assert [len(c.xData) for c in iv.curves(3)] == [1, 1]
