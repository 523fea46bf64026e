"""Extraction of V_set, V_reset, resistances and drift from synthetic curves (no bench)."""

import math

import numpy as np
import pytest

from procedures.data.extract import (
    CycleFigures,
    finite_or_none,
    median,
    on_off_ratio,
    outgoing,
    read_resistance,
    relative_change,
    reset_voltage,
    set_voltage,
)

COMPLIANCE = 100e-6


def leg(v_stop: float, steps: int) -> np.ndarray:
    """0 -> v_stop -> 0 staircase as the B1500 double sweep gives it."""
    up = np.linspace(0.0, v_stop, steps)
    return np.concatenate([up, up[::-1]])


def set_curve(v_set: float, g_hrs: float, g_lrs: float, rng: np.random.Generator,
              v_stop: float = 1.5, steps: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """HRS up to v_set, then LRS limited by the compliance; 1 % current noise."""
    v = leg(v_stop, steps)
    peak = int(np.argmax(v))
    switched = np.zeros(v.size, dtype=bool)
    switched[peak:] = True
    switched[:peak + 1] |= v[:peak + 1] >= v_set
    i = np.where(switched, np.minimum(g_lrs * v, COMPLIANCE), g_hrs * v)
    i = i * (1 + 0.01 * rng.standard_normal(v.size)) + 2e-12 * rng.standard_normal(v.size)
    return v, i


def reset_curve(v_reset: float, g_lrs: float, rng: np.random.Generator,
                v_stop: float = 1.8, steps: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Negative leg: ohmic LRS until |V| = v_reset, then G decays; 0.5 % noise (as the model)."""
    v = -leg(v_stop, steps)
    a = np.abs(v)
    peak = int(np.argmax(a))
    depth = np.maximum.accumulate(np.where(np.arange(a.size) <= peak, a, 0.0))
    g = g_lrs * np.exp(-np.maximum(depth - v_reset, 0.0) / 0.25)
    i = g * v * (1 + 0.005 * rng.standard_normal(v.size))
    return v, i


def test_set_voltage_within_one_step_of_the_threshold_over_many_curves():
    rng = np.random.default_rng(7)
    step = 1.5 / 39
    errors = []
    for _ in range(200):
        v_true = rng.normal(0.68, 0.06)
        g_hrs = 10 ** rng.uniform(-6, -4.7)  # 1 MOhm .. 50 kOhm
        v, i = set_curve(v_true, g_hrs, 90e-6, rng)
        errors.append(set_voltage(v, i, COMPLIANCE) - v_true)
    errors = np.array(errors)
    assert np.all(np.isfinite(errors))
    # the first step at or above the threshold: 0 <= error < one step
    assert np.all(errors >= -1e-12) and np.all(errors < step + 1e-12)


def test_set_voltage_of_a_gradual_set_uses_the_compliance_fraction():
    v = leg(1.5, 61)
    g = 5e-6 + 95e-6 / (1 + np.exp(-(np.abs(v) - 0.9) / 0.08))  # smooth HRS -> LRS
    peak = int(np.argmax(v))
    g[peak:] = g[peak]
    i = np.minimum(g * v, COMPLIANCE)
    expected = v[np.flatnonzero(i >= 0.5 * COMPLIANCE)[0]]
    ratio = np.maximum(i[1:peak + 1], 0.05 * i.max()) / np.maximum(i[:peak], 0.05 * i.max())
    assert ratio.max() < 3  # really no jump
    assert set_voltage(v, i, COMPLIANCE) == pytest.approx(expected)


def test_no_set_voltage_for_a_cell_already_in_lrs_or_never_switching():
    v = leg(1.5, 40)
    lrs = np.minimum(90e-6 * v, COMPLIANCE)
    assert math.isnan(set_voltage(v, lrs, COMPLIANCE))
    hrs = 10e-6 * v
    assert math.isnan(set_voltage(v, hrs, COMPLIANCE))
    assert math.isnan(set_voltage([0.0], [0.0], COMPLIANCE))
    with pytest.raises(ValueError):
        set_voltage([0, 1], [0], COMPLIANCE)


def test_reset_voltage_at_the_current_peak_over_many_curves():
    rng = np.random.default_rng(3)
    step = 1.8 / 39
    errors = []
    for _ in range(200):
        v_true = rng.normal(0.73, 0.036)
        v, i = reset_curve(v_true, rng.uniform(60e-6, 110e-6), rng)
        errors.append(reset_voltage(v, i) - v_true)
    errors = np.array(errors)
    # the peak is the last step below the onset or the first one past it
    assert np.all(np.abs(errors) <= step + 1e-9)
    assert abs(np.median(errors)) < step / 2 + 0.01


def test_reset_voltage_at_the_start_of_a_plateau():
    """A gradual RESET: the current stops rising at the onset and then sags slowly."""
    rng = np.random.default_rng(5)
    step = 1.8 / 39
    for v_true in rng.uniform(0.6, 0.9, 50):
        v = -leg(1.8, 40)
        a = np.abs(v)
        i_peak = 80e-6 * v_true
        i = np.where(a <= v_true, 80e-6 * a, i_peak * (1 - 0.08 * (a - v_true)))
        i = -i * (1 + 0.005 * rng.standard_normal(v.size))
        assert abs(reset_voltage(v, i) - v_true) <= step + 1e-9


def test_no_reset_voltage_without_a_current_drop():
    v = -leg(1.8, 40)
    assert math.isnan(reset_voltage(v, 90e-6 * v))  # stays ohmic: peak at the end
    sub = 90e-6 * v * (1 - 0.1 * np.abs(v) / 1.8)  # mildly sub-linear (series transistor)
    assert math.isnan(reset_voltage(v, sub))
    assert math.isnan(reset_voltage([0.0, -0.1], [0.0, -1e-6]))


def test_outgoing_branch_ends_at_the_largest_voltage():
    v = leg(1.0, 5)
    sl = outgoing(v)
    assert v[sl].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert outgoing([]) == slice(0, 0)


def test_resistance_ratio_median_and_relative_change():
    assert read_resistance(0.1, 1e-6) == pytest.approx(1e5)
    assert read_resistance(0.1, 0.0) == math.inf
    assert read_resistance(0.1, -1e-9) == math.inf
    assert on_off_ratio([1e5, 2e5, math.inf], [1e4, 1e4, 1e4]) == pytest.approx(15.0)
    assert math.isnan(on_off_ratio([math.inf], [1e4]))
    with pytest.raises(ValueError):
        on_off_ratio([1.0], [1.0, 2.0])
    assert median([1.0, math.nan, 3.0]) == 2.0
    assert math.isnan(median([]))
    assert relative_change([2.0, 0.0], [1.0, 1.0])[0] == pytest.approx(-0.5)
    assert math.isnan(relative_change([2.0, 0.0], [1.0, 1.0])[1])
    assert finite_or_none(math.nan) is None and finite_or_none(2) == 2.0


def test_cycle_figures_summary_is_plain_json_even_when_empty():
    import json

    empty = CycleFigures([], [], [], []).summary()
    assert empty["v_set"] is None and empty["on_off"] is None and empty["cycles_done"] == 0
    figs = CycleFigures([0.7, math.nan], [0.8, 0.75], [1e4, 1.2e4], [1e5, math.inf])
    s = figs.summary()
    json.dumps(s, allow_nan=False)
    assert s["v_set"] == pytest.approx(0.7)
    assert s["v_set_values"] == [0.7, None]
    assert s["on_off"] == pytest.approx(10.0)
    assert s["r_hrs_values"] == [1e5, None]
