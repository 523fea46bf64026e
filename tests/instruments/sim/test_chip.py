"""Tests of the simulated chip (instruments/sim/chip.py): circuit, compliance, arrays, PCSA."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.sim.chip import CellResponse, Chip
from instruments.sim.rram import RRAMParams
from tests.instruments._chip import READ, RESET, SET, program_2t2r

P = RRAMParams()


def cells(n: int) -> list[tuple[int, int]]:
    return [(k // Chip.COLS_1T1R, k % Chip.COLS_1T1R) for k in range(n)]


def form_staircase(chip: Chip, array: str, row: int, col: int, side: str = "BL",
                   i_comp: float = 100e-6) -> float:
    """Quasi-static forming: 0.05 V steps of 1 ms, WL 1.5 V; returns V_BL at forming."""
    for k in range(80):
        v = 1.0 + 0.05 * k
        r = chip.bias(array, row, col, side, v, 0.0, 1.5, 1e-3, i_comp_bl=i_comp)
        if r.i_bl > 0.8 * i_comp:
            chip.bias(array, row, col, side, 0.0, 0.0, 1.5, 1e-3)
            return v
    return float("nan")


@pytest.fixture(scope="module")
def formed_chip() -> tuple[Chip, np.ndarray]:
    chip = Chip(P, seed=21)
    vf = np.array([form_staircase(chip, "1T1R", r, c) for r, c in cells(200)])
    return chip, vf


def test_invalid_arguments_raise():
    chip = Chip(P, seed=1)
    for args in (("1T2R", 0, 0, "BL"), ("1T1R", 32, 0, "BL"), ("1T1R", 0, -1, "BL"),
                 ("2T2R", 0, 32, "BL"), ("2T2R", 0, 0, "SL")):
        with pytest.raises(ValueError):
            chip.bias(*args, 0.1, 0.0, 1.5, 1e-3)
    with pytest.raises(ValueError):
        chip.pcsa_read(32)
    with pytest.raises(ValueError):
        chip.conductance("3T")
    with pytest.raises(ValueError):
        Chip(P, kind="broken")


def test_shapes_and_fresh_chip_unformed():
    chip = Chip(P, seed=1)
    assert chip.conductance("1T1R").shape == (32, 32)
    assert chip.conductance("2T2R").shape == (32, 32, 2)
    assert chip.conductance("1T1R").max() < 0.1e-6
    r = chip.bias("1T1R", 3, 4, "BL", *READ)
    assert isinstance(r, CellResponse)
    assert 0 < r.i_bl < 0.1e-6 * 0.1 * 1.5


def test_no_word_line_no_current():
    chip = Chip(P, seed=2)
    form_staircase(chip, "1T1R", 0, 0)
    for v_bl, v_sl in ((0.1, 0.0), (3.0, 0.0), (0.0, 2.5)):
        r = chip.bias("1T1R", 0, 0, "BL", v_bl, v_sl, 0.0, 1e-3)
        assert abs(r.i_bl) < 1e-10
    assert chip.pop.formed[0]
    # unformed cell at 4 V without WL does not form either
    r = chip.bias("1T1R", 0, 1, "BL", 4.0, 0.0, 0.0, 1e-3)
    assert abs(r.i_bl) < 1e-10 and not chip.pop.formed[1]


def test_forming_distribution_via_chip(formed_chip):
    _, vf = formed_chip
    assert not np.isnan(vf).any()
    assert np.all((vf >= 2.0) & (vf <= 4.0))
    assert vf.mean() == pytest.approx(P.v_form_mean + 0.025, abs=0.06)
    assert 0.19 < vf.std() < 0.31


def test_lrs_after_forming_and_ohmic_read(formed_chip):
    chip, _ = formed_chip
    g = chip.conductance("1T1R").ravel()[:200]
    assert np.all((g > 30e-6) & (g < 120e-6))
    # 0.1 V read: Ohm's law through the element in series with the transistor's channel
    r_on = 1.0 / (P.k_transistor * (1.5 - P.v_t))
    for k in range(0, 200, 20):
        r = chip.bias("1T1R", k // 32, k % 32, "BL", *READ)
        expect = 0.1 / (1.0 / g[k] + r_on)
        assert r.i_bl == pytest.approx(expect, rel=0.06)
        assert r.compliance is None
        assert 0.07 < r.v_cell < 0.1


def test_smu_compliance_is_flagged_and_transistor_limit_is_not():
    chip = Chip(P, seed=3)
    form_staircase(chip, "1T1R", 0, 0, i_comp=100e-6)
    # BL drives into the LRS cell with a low BL compliance
    r = chip.bias("1T1R", 0, 0, "BL", 0.5, 0.0, 2.5, 1e-6, i_comp_bl=10e-6)
    assert r.compliance == "BL" and r.i_bl == pytest.approx(10e-6, rel=0.05)
    # both given: the smaller one limits
    r = chip.bias("1T1R", 0, 0, "BL", 0.5, 0.0, 2.5, 1e-6, i_comp_bl=20e-6, i_comp_sl=5e-6)
    assert r.compliance == "SL" and r.i_bl == pytest.approx(5e-6, rel=0.05)
    # SL drives (RESET polarity), SL compliance limits: negative current, no RESET at low V
    r = chip.bias("1T1R", 0, 0, "BL", 0.0, 0.5, 2.5, 1e-6, i_comp_sl=8e-6)
    assert r.compliance == "SL" and r.i_bl == pytest.approx(-8e-6, rel=0.05)
    assert r.v_cell < 0
    # transistor-limited (low WL): not an SMU compliance
    r = chip.bias("1T1R", 0, 0, "BL", 1.0, 0.0, 0.7, 1e-6, i_comp_bl=1e-3)
    assert r.compliance is None
    assert 0 < r.i_bl < 1.2 * 0.5 * P.k_transistor * 0.2**2


def test_reset_and_set_through_the_transistor():
    chip = Chip(P, seed=4)
    form_staircase(chip, "1T1R", 0, 0)
    r = chip.bias("1T1R", 0, 0, "BL", *RESET)
    assert r.i_bl < 0 and r.v_cell < -P.v_reset_mean
    g_hrs = chip.conductance("1T1R")[0, 0]
    assert 1e5 > 1 / g_hrs > 3e4 or 1 / g_hrs >= 1e5
    r = chip.bias("1T1R", 0, 0, "BL", *SET)
    g_lrs = chip.conductance("1T1R")[0, 0]
    i_sat = 0.5 * P.k_transistor * (SET[2] - P.v_t) ** 2
    assert g_lrs == pytest.approx(i_sat / P.v_c, rel=0.25)
    assert r.i_bl == pytest.approx(i_sat, rel=0.1)


def test_cycling_many_devices_window(formed_chip):
    chip = Chip(P, seed=21)
    lrs, hrs = [], []
    for row, col in cells(64):
        form_staircase(chip, "1T1R", row, col)
        for _ in range(5):
            chip.bias("1T1R", row, col, "BL", *RESET)
            hrs.append(chip.bias("1T1R", row, col, "BL", *READ).i_bl)
            chip.bias("1T1R", row, col, "BL", *SET)
            lrs.append(chip.bias("1T1R", row, col, "BL", *READ).i_bl)
    on_off = np.median(lrs) / np.median(hrs)
    assert on_off >= 5
    assert min(lrs) > max(hrs) * 0.8 or np.mean(np.array(hrs) > np.min(lrs)) < 0.05


def test_pcsa_reads_programmed_bits_and_beats_1t1r_reference():
    rng = np.random.default_rng(0)
    rows = 16
    bits = rng.random((rows, 32)) < 0.5
    # a weaker RESET (lower HRS) makes 1T1R errors frequent enough to measure
    weak = RRAMParams(r_hrs_median=30e3)
    chip = Chip(weak, seed=5)
    program_2t2r(chip, bits)
    read = np.array([chip.pcsa_read(r) for r in range(rows)])
    errors_2t2r = np.sum(read != bits)
    # 1T1R: each device on its own against a reference between LRS and HRS
    g = chip.conductance("2T2R")[:rows]
    g_lrs = np.where(bits, g[..., 0], g[..., 1])
    g_hrs = np.where(bits, g[..., 1], g[..., 0])
    g_ref = np.sqrt(np.median(g_lrs) * np.median(g_hrs))
    errors_1t1r = np.sum(g_lrs < g_ref) + np.sum(g_hrs > g_ref)
    ber_2t2r = errors_2t2r / bits.size
    ber_1t1r = errors_1t1r / (2 * bits.size)
    assert ber_1t1r > 0.01
    assert ber_2t2r < ber_1t1r / 5


def test_pcsa_default_params_error_free():
    bits = np.random.default_rng(1).random((4, 32)) < 0.5
    chip = Chip(P, seed=6)
    program_2t2r(chip, bits)
    read = np.array([chip.pcsa_read(r) for r in range(4)])
    assert np.array_equal(read, bits)


def test_retention_faster_at_higher_temperature():
    def drift(temp_k: float) -> float:
        chip = Chip(P, seed=7)
        for col in range(8):
            form_staircase(chip, "1T1R", 0, col)
        g0 = chip.conductance("1T1R")[0, :8]
        chip.age_to(0.0, temp_k)
        chip.age_to(1e4, temp_k)
        return float(np.median(np.abs(np.log(chip.conductance("1T1R")[0, :8] / g0))))

    d300, d423, d523 = drift(300.0), drift(423.15), drift(523.15)
    assert d300 < 1e-6
    assert d300 < d423 < d523
    assert d523 > 0.3


def test_fast_cycle_path_wear_and_wear_out():
    p = RRAMParams(endurance_cycles_median=1e4, endurance_sigma_ln=0.2)
    chip = Chip(p, seed=8)
    form_staircase(chip, "1T1R", 0, 0)
    i = chip.index("1T1R", 0, 0)
    chip.cycle("1T1R", 0, 0, "BL", 100, SET, RESET)
    assert chip.pop.wear[i] == 100  # one completed cycle per RESET
    assert not chip.pop.is_set[i]  # ends after a RESET
    r_early = 1 / chip.conductance("1T1R")[0, 0]
    chip.cycle("1T1R", 0, 0, "BL", 1_000_000, SET, RESET)
    assert chip.pop.wear[i] >= 1_000_000
    r_late = 1 / chip.conductance("1T1R")[0, 0]
    assert r_early > 2e4
    assert r_late < 0.3 * r_early  # stuck near LRS


def test_dead_and_short_chips():
    dead = Chip(P, seed=9, kind="dead")
    assert abs(dead.bias("1T1R", 0, 0, "BL", 3.0, 0.0, 2.0, 1e-3).i_bl) < 1e-10
    short = Chip(P, seed=9, kind="short")
    for _ in range(3):
        r = short.bias("1T1R", 0, 0, "BL", 0.1, 0.0, 0.0, 1e-3)
        assert r.i_bl == pytest.approx(0.1 / P.r_short, rel=0.05)
    r = short.bias("1T1R", 0, 0, "BL", 2.0, 0.0, 0.0, 1e-3, i_comp_bl=100e-6)
    assert r.compliance == "BL"
    assert dead.pcsa_read(0).shape == (32,)


def test_same_seed_same_responses():
    def run(seed: int) -> list[float]:
        chip = Chip(P, seed=seed)
        form_staircase(chip, "2T2R", 1, 2, "BLB")
        out = [chip.bias("2T2R", 1, 2, "BLB", *RESET).i_bl]
        out += [chip.bias("2T2R", 1, 2, "BLB", *READ).i_bl for _ in range(3)]
        return out

    assert run(10) == run(10)
    assert run(10) != run(11)
