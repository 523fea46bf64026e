"""Tests of the vectorised RRAM device model (instruments/sim/rram.py), fixed seeds."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from instruments.sim.rram import (
    DieProcess,
    RRAMParams,
    RRAMPopulation,
    element_current,
    saturation_current,
    transistor_current,
)

P = RRAMParams()
N = 2000


def formed_pop(n: int = N, seed: int = 3, params: RRAMParams = P, i_c: float = 100e-6):
    """A population formed with a strong pulse at compliance ``i_c``."""
    pop = RRAMPopulation(n, params, seed=seed)
    pop.apply_pulse(np.arange(n), 5.0, i_c, 1e-3)
    assert pop.formed.all()
    return pop


def staircase_threshold(pop, idx, v_start, v_stop, step, sign, i_c, check):
    """Ramp ``sign * v`` in steps of 1 ms; return the step voltage at which ``check`` turns True."""
    found = np.full(idx.size, np.nan)
    for v in np.arange(v_start, v_stop + step / 2, step):
        todo = np.isnan(found)
        if not todo.any():
            break
        j = idx[todo]
        pop.apply_pulse(j, sign * v, i_c, 1e-3)
        done = check(j)
        sub = np.flatnonzero(todo)[done]
        found[sub] = v
    return found


def test_params_frozen_and_documented_fields():
    with pytest.raises(dataclasses.FrozenInstanceError):
        P.v_set_mean = 1.0  # type: ignore[misc]
    d = P.to_dict()
    assert d["v_set_mean"] == 0.68 and d["r_hrs_median"] == 74e3
    assert RRAMParams(endurance_cycles_median=10).endurance_cycles_median == 10


def test_fresh_cells_are_unformed_and_leak_little():
    pop = RRAMPopulation(N, P, seed=1)
    assert not pop.formed.any()
    assert pop.g.max() < 0.1e-6
    i = pop.read(np.arange(N), 0.1)
    assert np.all(np.abs(i) < 0.1e-6 * 0.1 * 1.2)


def test_forming_voltage_distribution_quasi_static():
    pop = RRAMPopulation(400, P, seed=2)
    idx = np.arange(400)
    vf = staircase_threshold(pop, idx, 1.0, 4.5, 0.05, 1, 100e-6, lambda j: pop.formed[j])
    assert not np.isnan(vf).any()
    assert np.all((vf > 1.9) & (vf < 4.1))
    assert abs(vf.mean() - (P.v_form_mean + 0.025)) < 0.05
    assert 0.2 < vf.std() < 0.3


def test_forming_kinetics_shorter_pulses_need_more_voltage():
    res = []
    for t in (1e-6, 1e-3, 1.0):
        pop = RRAMPopulation(400, P, seed=2)
        idx = np.arange(400)
        found = np.full(400, np.nan)
        for v in np.arange(1.0, 5.0, 0.02):
            pop.apply_pulse(idx, v, 100e-6, t)
            found[np.isnan(found) & pop.formed] = v
        res.append(found.mean())
    # ~75 mV per decade: 3 decades each
    assert res[0] - res[1] == pytest.approx(3 * P.kinetics_v_per_decade, abs=0.03)
    assert res[1] - res[2] == pytest.approx(3 * P.kinetics_v_per_decade, abs=0.03)


def test_lrs_after_forming_follows_compliance():
    pop = formed_pop()
    g_us = pop.g * 1e6
    assert np.all((g_us > 30) & (g_us < 120))
    assert np.mean(g_us) == pytest.approx(100e-6 / P.v_c * 1e6, rel=0.03)
    pop2 = formed_pop(i_c=50e-6)
    assert np.mean(pop2.g) == pytest.approx(50e-6 / P.v_c, rel=0.03)


def test_lrs_cycle_to_cycle_spread_scales_with_sqrt_g():
    for i_c in (50e-6, 200e-6):
        pop = formed_pop(i_c=i_c, seed=5)
        idx = np.arange(N)
        pop.apply_pulse(idx, -1.6, 0.0, 1e-3)
        pop.apply_pulse(idx, 1.5, i_c, 1e-3)
        target = pop.lrs_target(idx, i_c)
        sigma = P.k_s * 1e-6 * np.sqrt(target * 1e6)
        z = (pop.g - target) / sigma
        assert abs(z.mean()) < 0.08
        assert z.std() == pytest.approx(1.0, abs=0.07)


def test_set_threshold_distribution():
    pop = formed_pop(seed=6)
    idx = np.arange(N)
    pop.apply_pulse(idx, -1.6, 0.0, 1e-3)
    assert not pop.is_set.any()
    vs = staircase_threshold(pop, idx, 0.3, 1.5, 0.01, 1, 100e-6, lambda j: pop.is_set[j])
    assert vs.mean() == pytest.approx(P.v_set_mean + 0.005, abs=0.01)
    assert vs.std() == pytest.approx(P.v_set_sigma, rel=0.15)


def test_hrs_lognormal_after_full_reset():
    pop = formed_pop(seed=7)
    idx = np.arange(N)
    pop.apply_pulse(idx, -P.v_reset_full, 0.0, P.t_ref_switch)
    r = 1.0 / pop.g
    assert np.median(r) == pytest.approx(P.r_hrs_median, rel=0.08)
    ln_r = np.log(r / pop.hrs_d2d)  # remove the device-to-device part
    assert ln_r.std() == pytest.approx(P.hrs_sigma_ln, rel=0.1)
    total = math.hypot(P.hrs_sigma_ln, P.hrs_d2d_sigma_log10 * math.log(10))
    assert np.log(r).std() == pytest.approx(total, rel=0.1)
    # lognormal: skewness of ln R near 0
    z = (ln_r - ln_r.mean()) / ln_r.std()
    assert abs(np.mean(z**3)) < 0.2


def test_hrs_grows_with_reset_stop_voltage_and_partial_reset():
    meds = []
    for v_stop in (0.9, 1.2, 1.46, 2.0, 2.5):
        pop = formed_pop(seed=8)
        g_lrs = pop.g.copy()
        pop.apply_pulse(np.arange(N), -v_stop, 0.0, 1e-3)
        assert np.all(pop.g <= g_lrs)
        meds.append(np.median(1.0 / pop.g))
    assert all(a < b for a, b in zip(meds, meds[1:], strict=False))
    assert meds[0] < 30e3  # partial RESET
    assert 30e3 < meds[2] < 150e3
    assert meds[-1] <= P.r_hrs_max * 1.5
    # a RESET event continues to deepen while the stop voltage rises
    pop = formed_pop(seed=8)
    pop.apply_pulse(np.arange(N), -1.0, 0.0, 1e-3)
    r1 = 1.0 / pop.g.copy()
    pop.apply_pulse(np.arange(N), -1.8, 0.0, 1e-3)
    assert np.all(1.0 / pop.g >= r1) and np.median(1.0 / pop.g) > 2 * np.median(r1)
    assert np.all(pop.wear == 1)  # one RESET event, one cycle


def test_cycling_on_off_and_cycle_memory():
    n, cycles = 300, 120
    pop = formed_pop(n=n, seed=9)
    idx = np.arange(n)
    g_lrs = np.empty((cycles, n))
    g_hrs = np.empty((cycles, n))
    z = np.empty((cycles, n))
    target = pop.lrs_target(idx, 100e-6)
    sigma = P.k_s * 1e-6 * np.sqrt(target * 1e6)
    for c in range(cycles):
        pop.apply_pulse(idx, -1.6, 0.0, 1e-3)
        g_hrs[c] = pop.read(idx, 0.1) / 0.1
        pop.apply_pulse(idx, 1.5, 100e-6, 1e-3)
        z[c] = (pop.g - target) / sigma
        g_lrs[c] = pop.read(idx, 0.1) / 0.1
    on_off = np.median(g_lrs) / np.median(g_hrs)
    assert on_off >= 5
    assert np.all(pop.wear == cycles)
    # AR(1) memory: successive LRS deviations correlate, distant ones much less
    assert z.std() == pytest.approx(1.0, abs=0.08)
    lag1 = np.mean(z[1:] * z[:-1])
    lag60 = np.mean(z[60:] * z[:-60])
    assert lag1 == pytest.approx(P.ar_weight * P.ar_rho, abs=0.08)
    assert lag60 == pytest.approx(P.ar_weight * P.ar_rho**60, abs=0.1)


def test_read_noise_small_in_lrs_larger_in_hrs():
    pop = formed_pop(n=500, seed=10)
    idx = np.arange(500)
    reads = np.array([pop.read(idx, 0.1) for _ in range(40)])
    rel_lrs = np.median(reads.std(axis=0) / reads.mean(axis=0))
    pop.apply_pulse(idx, -1.6, 0.0, 1e-3)
    reads = np.array([pop.read(idx, 0.1) for _ in range(40)])
    rel_hrs = np.median(reads.std(axis=0) / reads.mean(axis=0))
    assert 0.003 < rel_lrs < 0.012
    assert 0.01 < rel_hrs < 0.05
    assert rel_hrs > 1.5 * rel_lrs


def test_retention_arrhenius():
    def window_after(temp_k: float, dt: float) -> float:
        pop = formed_pop(n=400, seed=11)
        idx = np.arange(400)
        pop.apply_pulse(idx[200:], -1.6, 0.0, 1e-3)
        pop.relax(dt, temp_k)
        return float(np.median(pop.g[:200]) / np.median(pop.g[200:]))

    w0 = window_after(300.0, 0.0)
    assert window_after(300.0, 86400.0) == pytest.approx(w0, rel=1e-3)
    w150 = window_after(423.15, 1e4)
    w250 = window_after(523.15, 1e4)
    assert w250 < w150 < w0
    assert w250 < 0.5 * w0  # clearly visible at 250 C


def test_wear_out_closes_window_then_stuck_lrs():
    p = RRAMParams(endurance_cycles_median=1000.0, endurance_sigma_ln=0.3)
    pop = formed_pop(n=300, seed=12, params=p)
    idx = np.arange(300)

    def on_off() -> float:
        pop.apply_pulse(idx, 1.5, 100e-6, 1e-3)
        g_on = np.median(pop.g)
        pop.apply_pulse(idx, -1.6, 0.0, 1e-3)
        return float(g_on / np.median(pop.g))

    fresh = on_off()
    pop.advance_cycles(idx, 300)
    mid = on_off()
    pop.advance_cycles(idx, 5000)
    late = on_off()
    assert fresh > 5
    assert late < mid < fresh
    assert late < 1.3
    assert pop.stuck(idx).mean() > 0.95
    assert np.all(pop.wear >= 5300)


def test_transistor_and_element_models():
    assert saturation_current(P, 1.5) == pytest.approx(0.5 * 400e-6 * 1.0**2)
    assert transistor_current(P, 0.0, 1.0) < 1e-10
    assert transistor_current(P, 1.5, 3.0) > saturation_current(P, 1.5)
    assert transistor_current(P, 1.5, 0.01) == pytest.approx(400e-6 * 1.0 * 0.01, rel=0.05)
    v = np.linspace(-2, 2, 41)
    for g in (1e-7, 10e-6, 200e-6):
        i = element_current(P, g, v)
        assert np.all(np.diff(i) > 0)
        assert np.allclose(i, -i[::-1])
    assert element_current(P, 100e-6, 0.1) == pytest.approx(10e-6, rel=0.01)


def test_determinism_and_state_round_trip():
    a = RRAMPopulation(100, P, seed=13, process=DieProcess(v_form_shift=0.1))
    b = RRAMPopulation(100, P, seed=13, process=DieProcess(v_form_shift=0.1))
    idx = np.arange(100)
    for pop in (a, b):
        pop.apply_pulse(idx, 4.0, 100e-6, 1e-3)
        pop.apply_pulse(idx, -1.5, 0.0, 1e-3)
    assert np.array_equal(a.g, b.g)
    state = a.state_dict()
    c = RRAMPopulation(100, P, seed=13, process=DieProcess(v_form_shift=0.1))
    c.load_state_dict(state)
    for pop in (a, c):
        pop.apply_pulse(idx, 1.5, 100e-6, 1e-3)
    assert np.array_equal(a.g, c.g)
    assert np.array_equal(a.read(idx, 0.1), c.read(idx, 0.1))
    d = RRAMPopulation(100, P, seed=14)
    assert not np.array_equal(d.v_form, a.v_form)
