"""Issue #11 device-physics targets, fixed seeds: gradual switching, forming under pulses,
retention, endurance vs programming strength, read noise, temperature."""

from __future__ import annotations

import math

import numpy as np
import pytest

from instruments.sim.chip import Chip
from instruments.sim.rram import K_B_EV, RRAMParams, RRAMPopulation

P = RRAMParams()
READ = (0.1, 0.0, 2.5, 1e-3)


def formed_chip(n: int, seed: int = 31) -> Chip:
    chip = Chip(P, seed=seed)
    for c in range(n):
        chip.bias("1T1R", 0, c, "BL", 3.5, 0.0, 1.5, 1e-3, i_comp_bl=100e-6)
    return chip


def read_g(chip: Chip, col: int) -> float:
    return chip.bias("1T1R", 0, col, "BL", *READ).i_bl / READ[0]


def test_identical_reset_pulses_lower_g_gradually_largest_steps_first():
    n, pulses = 12, 30
    chip = formed_chip(n)
    g = np.empty((pulses + 1, n))
    for c in range(n):
        g[0, c] = read_g(chip, c)
        for k in range(pulses):
            chip.bias("1T1R", 0, c, "BL", 0.0, 1.3, 2.5, 1e-6)
            g[k + 1, c] = read_g(chip, c)
    med = np.median(g, axis=1)
    assert med[-1] < 0.75 * med[1]  # still decreasing after the first pulse
    assert med[10] > med[-1] and med[1] > med[10]
    steps = -np.diff(med)
    assert steps[:5].mean() > 3 * steps[-10:].mean()  # largest steps first
    ups = np.mean(np.diff(g, axis=0) > 0)
    assert 0.02 < ups < 0.45  # cycle-to-cycle noise: some pulses go the wrong way


def test_set_abrupt_when_strong_gradual_under_word_line_steps_and_short_pulses():
    chip = formed_chip(8, seed=32)
    i_c = 0.5 * P.k_transistor * (1.2 - P.v_t) ** 2
    for c in range(4):  # strong SET pulse: one pulse reaches the compliance level
        chip.bias("1T1R", 0, c, "BL", 0.0, 2.2, 2.8, 1e-6)
        chip.bias("1T1R", 0, c, "BL", 1.5, 0.0, 1.2, 1e-6)
        g = chip.conductance("1T1R")[0, c]
        assert g == pytest.approx(i_c / P.v_c, rel=0.25)
    c = 4  # word-line steps: G grows step by step
    chip.bias("1T1R", 0, c, "BL", 0.0, 2.2, 2.8, 1e-6)
    gs = []
    for k in range(20):
        chip.bias("1T1R", 0, c, "BL", 1.5, 0.0, 0.8 + 0.03 * k, 1e-6)
        gs.append(chip.conductance("1T1R")[0, c])
    assert gs[-1] > 4 * gs[2] and np.sum(np.diff(gs) > 0) >= 10
    # short weak pulses: several distinguishable levels on the way up
    pop = RRAMPopulation(500, P, seed=33)
    idx = np.arange(500)
    pop.apply_pulse(idx, 4.0, 100e-6, 1e-3)
    pop.apply_pulse(idx, -1.6, 0.0, 1e-3)
    trace = [np.median(pop.g)]
    for _ in range(10):
        pop.apply_pulse(idx, pop.v_set_cur + 0.36, 100e-6, 1e-7)
        trace.append(np.median(pop.g))
    trace = np.array(trace)
    assert np.all(np.diff(trace) > 0)
    assert trace[-1] < 0.95 * np.median(pop.lrs_target(idx, 100e-6))
    ln_steps = np.diff(np.log(trace))
    assert ln_steps[0] > ln_steps[-1]  # largest steps first (in ln G)


def test_pulsed_forming_staircase_forms_by_3_1_v_and_accumulates_stress():
    n = 4000
    pop = RRAMPopulation(n, P, seed=34)
    idx = np.arange(n)
    found = np.full(n, np.nan)
    for v in np.arange(1.5, 3.5, 0.02):
        pop.apply_pulse(idx, v, 100e-6, 1e-6)
        found[np.isnan(found) & pop.formed] = v
    assert np.mean(found <= 3.1 + 1e-9) > 0.99
    assert 2.0 < np.nanmin(found) and 2.5 < np.nanmean(found) < 2.8
    # accumulated stress: the staircase forms below each device's single-pulse threshold
    single = pop.v_form - P.kinetics_v_per_decade * math.log10(1e-6 / P.t_ref_form)
    assert np.nanmedian(single - found) > 0.01


def _window(i_c: float, years: float, temp_c: float, seed: int = 35) -> float:
    pop = RRAMPopulation(2000, P, seed=seed)
    idx = np.arange(2000)
    pop.apply_pulse(idx, 4.0, i_c, 1e-3)
    pop.apply_pulse(idx[1000:], -2.0, 0.0, 1e-3)  # HRS half
    pop.relax(years * 3.156e7, temp_c + 273.15)
    return float(np.median(pop.read(idx[:1000], 0.1)) / np.median(pop.read(idx[1000:], 0.1)))


def test_retention_ten_years_at_85c_and_lost_within_hours_at_250_to_300c():
    for i_c in (50e-6, 100e-6):
        assert _window(i_c, 10.0, 85.0) >= 5.0
    # lower compliance retains worse (relative loss of the ln-window)
    def loss(i_c: float) -> float:
        return 1 - math.log(_window(i_c, 10.0, 85.0)) / math.log(_window(i_c, 0.0, 85.0))
    assert loss(20e-6) > loss(100e-6)
    hours = 3600 / 3.156e7
    assert _window(100e-6, 5 * hours, 275.0) < 2.0
    assert _window(100e-6, 1 * hours, 300.0) < 3.0
    # Arrhenius: the LRS relaxation rate gives E_a within 1.0-1.5 eV
    def rate(temp_c: float) -> float:
        pop = RRAMPopulation(500, P, seed=36)
        idx = np.arange(500)
        pop.apply_pulse(idx, 4.0, 100e-6, 1e-3)
        g0 = np.log(pop.g / P.g_relax_lrs)
        pop.relax(100.0, temp_c + 273.15)
        return float(np.median(-np.log(np.log(pop.g / P.g_relax_lrs) / g0)) / 100.0)
    t1, t2 = 250.0 + 273.15, 300.0 + 273.15
    ea = K_B_EV * math.log(rate(300.0) / rate(250.0)) / (1 / t1 - 1 / t2)
    assert 1.0 <= ea <= 1.5


def test_endurance_depends_on_programming_strength():
    pop = RRAMPopulation(10, P, seed=37)
    weak = float(np.median(pop.n_life) / pop.cycle_strength(40e-6))
    ref = float(np.median(pop.n_life) / pop.cycle_strength(100e-6))
    strong = float(np.median(pop.n_life) / pop.cycle_strength(250e-6, 0.5))
    assert weak > 1e9 and 3e7 < ref < 3e8 and strong < 1e7
    # the wear of simulated cycles follows the programming strength
    a = RRAMPopulation(200, P, seed=38)
    b = RRAMPopulation(200, P, seed=38)
    idx = np.arange(200)
    for pop, i_c in ((a, 40e-6), (b, 200e-6)):
        pop.apply_pulse(idx, 4.0, i_c, 1e-3)
        for _ in range(3):
            pop.apply_pulse(idx, -1.5, 0.0, 1e-3)
            pop.apply_pulse(idx, 1.5, i_c, 1e-3)
        pop.advance_cycles(idx, 1000)
    assert np.all(a.wear == b.wear)
    assert np.median(b.damage) > 50 * np.median(a.damage)


def test_read_noise_depends_on_integration_time_and_telegraph_noise_is_symmetric():
    pop = RRAMPopulation(400, P, seed=39)
    idx = np.arange(400)
    pop.apply_pulse(idx, 4.0, 100e-6, 1e-3)
    pop.apply_pulse(idx, -1.6, 0.0, 1e-3)
    clean = pop.current(idx, 0.1)

    def rel(t_int: float) -> np.ndarray:
        reads = np.array([pop.read(idx, 0.1, t_int=t_int) for _ in range(200)])
        return reads

    long_, short = rel(20e-3), rel(1e-9)
    s_long = np.median(long_.std(axis=0) / clean)
    s_short = np.median(short.std(axis=0) / clean)
    assert s_short > 1.3 * s_long
    bias = np.median(long_.mean(axis=0) / clean - 1.0)
    assert abs(bias) < 0.003  # no one-sided telegraph offset


def test_temperature_raises_hrs_current_and_lowers_thresholds():
    chip = formed_chip(2, seed=40)
    chip.bias("1T1R", 0, 0, "BL", 0.0, 2.2, 2.8, 1e-6)  # col 0 HRS, col 1 LRS

    def current(col: int, temp_k: float) -> float:
        return np.mean([chip.bias("1T1R", 0, col, "BL", *READ, temperature_k=temp_k).i_bl
                        for _ in range(20)])

    assert current(0, 423.15) > 1.3 * current(0, 298.15)
    assert current(1, 423.15) == pytest.approx(current(1, 298.15), rel=0.15)
    # SET thresholds drop with temperature: a staircase SETs earlier when hot
    def v_set(temp_k: float) -> float:
        pop = RRAMPopulation(400, P, seed=41)
        idx = np.arange(400)
        pop.apply_pulse(idx, 4.0, 100e-6, 1e-3)
        pop.apply_pulse(idx, -1.6, 0.0, 1e-3)
        found = np.full(400, np.nan)
        for v in np.arange(0.3, 1.5, 0.01):
            pop.apply_pulse(idx, v, 100e-6, 1e-3, temperature_k=temp_k)
            found[np.isnan(found) & pop.is_set] = v
        return float(np.mean(found))
    assert v_set(300.0) - v_set(423.15) == pytest.approx(0.049, abs=0.02)
