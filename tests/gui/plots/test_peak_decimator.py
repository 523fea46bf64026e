"""PeakDecimator: what a long live curve draws (bounded, real points, peaks kept, incremental)."""

from __future__ import annotations

import numpy as np
import pytest

from gui.buffers import ColumnBuffer, PeakDecimator


def _series(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(0, 1, n))
    y = rng.normal(0, 1, n)
    return x, y


def test_short_series_are_drawn_whole():
    dec = PeakDecimator(100)
    x, y = _series(100)
    dx, dy = dec.update(x, y)
    assert dec.factor == 1 and dx is x and dy is y


@pytest.mark.parametrize("n", [1001, 4096, 12_345, 200_000])
def test_long_series_stay_within_the_budget_with_every_peak(n):
    dec = PeakDecimator(1000)
    x, y = _series(n)
    dx, dy = dec.update(x, y)
    assert len(dx) == len(dy) <= 1000
    assert dec.factor > 1 and dec.factor & (dec.factor - 1) == 0  # a power of two
    # every drawn point is a measured one
    pairs = set(zip(x.tolist(), y.tolist(), strict=True))
    assert all(p in pairs for p in zip(dx.tolist(), dy.tolist(), strict=True))
    # the lowest and highest point of every run of `factor` points are drawn
    f = dec.factor
    runs = n // f
    ys = y[:runs * f].reshape(runs, f)
    assert set(ys.min(axis=1)) <= set(dy.tolist()) and set(ys.max(axis=1)) <= set(dy.tolist())
    assert dy.max() == y.max() and dy.min() == y.min()
    # drawn in the measured order (x of a random walk is not monotonic: compare indices)
    index = {(a, b): k for k, (a, b) in enumerate(zip(x.tolist(), y.tolist(), strict=True))}
    order = [index[p] for p in zip(dx.tolist(), dy.tolist(), strict=True)]
    assert order == sorted(order)


def test_fed_in_pieces_draws_what_it_would_draw_at_once():
    x, y = _series(50_000)
    whole = PeakDecimator(2000).update(x, y)
    dec = PeakDecimator(2000)
    buf = ColumnBuffer(["x", "y"])
    rng = np.random.default_rng(0)
    at = 0
    while at < len(x):
        k = int(rng.integers(1, 3000))
        buf.extend({"x": x[at:at + k], "y": y[at:at + k]})
        at += k
        dx, dy = dec.update(buf.column("x"), buf.column("y"))
        assert len(dx) <= 2000
    np.testing.assert_array_equal(dx, whole[0])
    np.testing.assert_array_equal(dy, whole[1])


def test_nan_points_are_skipped_within_a_run_and_a_run_of_nan_is_a_gap():
    y = np.arange(64, dtype=float)
    y[0:8] = np.nan  # one whole run (factor 8 below)
    y[9] = np.nan
    x = np.arange(64, dtype=float)
    dec = PeakDecimator(18)  # 8 runs of 8: 16 points (+ 2 for a run filling)
    dx, dy = dec.update(x, y)
    assert dec.factor == 8 and len(dx) == 16
    assert np.isnan(dy[:2]).all()  # the NaN run: a gap
    assert dy[2] == 8.0 and dy[3] == 15.0  # NaN at 9 skipped


def test_a_shorter_series_starts_afresh():
    dec = PeakDecimator(100)
    x, y = _series(10_000)
    dec.update(x, y)
    dx, _ = dec.update(x[:50], y[:50])
    assert dec.factor == 1 and len(dx) == 50


def test_budget_must_hold_a_pair():
    with pytest.raises(ValueError):
        PeakDecimator(3)
