"""The twin under radiation: the beam on the lab clock and the total-dose effects on the cells
(fixed seeds, distributions over a whole 1T1R array; instruments/sim/radiation*.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from instruments.sim.chip import Chip
from instruments.sim.radiation import BeamConfig, BeamSegment, RadiationSource
from instruments.sim.radiation_effects import damage, saturation
from instruments.sim.rram import RRAMParams

P = RRAMParams()
N = Chip.N_1T1R
LRS = np.arange(0, N, 2)  # even cells SET, odd cells RESET
HRS = np.arange(1, N, 2)


def programmed(seed: int = 7, params: RRAMParams = P) -> Chip:
    """A chip whose 1T1R cells are formed at 100 uA, then every odd cell fully RESET."""
    chip = Chip(params, seed=seed)
    idx = np.arange(N)
    chip.pop.apply_pulse(idx, 3.6, 100e-6, 1e-3)
    chip.pop.apply_pulse(HRS, -1.6, 0.0, 1e-3)
    assert chip.pop.formed[:N].all() and chip.pop.is_set[LRS].all()
    assert not chip.pop.is_set[HRS].any()
    return chip


def medians(chip: Chip) -> tuple[float, float]:
    """Median conductance (S) of the LRS and of the HRS cells."""
    g = chip.pop.g
    return float(np.median(g[LRS])), float(np.median(g[HRS]))


# -- the beam -------------------------------------------------------------------------------------
def test_dose_is_the_exact_integral_of_the_schedule_and_nothing_while_off():
    src = RadiationSource(BeamConfig(schedule=(BeamSegment(10, 20, 2.0),
                                               BeamSegment(30, 40, 0.5))))
    assert src.dose_at(5) == 0 and src.rate_at(5) == 0 and not src.reading(5).beam_on
    assert src.dose_at(15) == pytest.approx(10.0)
    assert src.dose_at(25) == src.dose_at(20) == pytest.approx(20.0)  # beam off: no dose
    assert src.dose_at(1e6) == pytest.approx(25.0)
    assert src.reading(35).beam_on and src.reading(35).dose_rate_gy_s == 0.5


def test_beam_switched_on_and_off_while_running():
    src = RadiationSource(BeamConfig(dose_rate_gy_s=1.0))
    src.set_beam(100.0, 0.0)  # beam off at t = 100 s
    assert src.dose_at(1000.0) == pytest.approx(100.0)
    src.set_beam(1000.0, 3.0)
    assert src.dose_at(1010.0) == pytest.approx(130.0)
    assert src.dose_at(50.0) == pytest.approx(50.0)  # the past is unchanged
    with pytest.raises(ValueError, match="must be >= 0"):
        src.set_beam(1010.0, -1.0)


def test_overlapping_schedule_and_unknown_particle_are_refused():
    with pytest.raises(ValueError, match="overlaps"):
        BeamConfig(schedule=(BeamSegment(0, 20, 1.0), BeamSegment(10, 30, 1.0)))
    with pytest.raises(ValueError, match="particle"):
        BeamConfig(particle="neutrino")


def test_photon_beam_reports_no_fluence_proton_beam_does():
    g = RadiationSource(BeamConfig(dose_rate_gy_s=1.0)).reading(10)
    p = RadiationSource(BeamConfig(particle="proton", dose_rate_gy_s=1.0)).reading(10)
    assert g.fluence_cm2 is None and g.flux_cm2_s is None
    assert p.fluence_cm2 == pytest.approx(10 * 1.08e9) and p.flux_cm2_s == pytest.approx(1.08e9)


# -- total-dose effects ---------------------------------------------------------------------------
def test_no_change_at_all_below_1e3_gy_nor_up_to_the_onset():
    """Same seed, same programming: the dosed chip's states, thresholds and even its later noisy
    reads are identical to the undosed one's (the dose draws nothing from the device streams)."""
    a, b = programmed(), programmed()
    for dose in (10.0, 1e3, 0.99 * P.rad_onset_gy):
        b.expose_to(dose)
    assert b.dose_gy == pytest.approx(0.99 * P.rad_onset_gy)
    assert np.array_equal(a.pop.g, b.pop.g)
    assert np.array_equal(a.pop.v_form, b.pop.v_form)
    assert np.array_equal(a.pop.hrs_d2d, b.pop.hrs_d2d)
    ra = [a.bias("1T1R", 3, c, "BL", 0.1, 0.0, 2.5, 1e-3).i_bl for c in range(32)]
    rb = [b.bias("1T1R", 3, c, "BL", 0.1, 0.0, 2.5, 1e-3).i_bl for c in range(32)]
    assert ra == rb


def test_window_closes_beyond_5e4_gy_lrs_down_hrs_up():
    chip = programmed()
    lrs0, hrs0 = medians(chip)
    window = [lrs0 / hrs0]
    for dose in (2e4, 5e4, 1e5, 2e5):
        chip.expose_to(dose)
        lrs, hrs = medians(chip)
        window.append(lrs / hrs)
    lrs, hrs = medians(chip)
    assert lrs < 0.7 * lrs0 and hrs > 1.2 * hrs0  # at 2e5 Gy (20 Mrad)
    assert window[1] > 0.98 * window[0]  # 2e4 Gy (2 Mrad): hardly anything yet
    assert window[2] < 0.95 * window[0]  # 5e4 Gy (5 Mrad): the filaments weaken
    assert window[3] < 0.75 * window[0]  # 1e5 Gy
    assert all(w1 < w0 for w0, w1 in zip(window, window[1:], strict=False))


def test_dose_in_steps_equals_dose_at_once():
    a, b = programmed(), programmed()
    a.expose_to(8e4)
    for d in np.linspace(1e4, 8e4, 15):
        b.expose_to(d)
    assert np.allclose(a.pop.g, b.pop.g, rtol=1e-9)


def test_devices_differ_in_sensitivity():
    chip = programmed()
    before = np.log(chip.pop.g[LRS])
    chip.expose_to(1e5)
    drop = before - np.log(chip.pop.g[LRS])
    assert (drop > 0).all()
    assert drop.std() > 0.2 * drop.mean()  # lognormal device-to-device sensitivity


def test_retention_is_faster_after_the_dose():
    """A 250 C bake after 1e5 Gy closes more of the ln-window than the same bake undosed."""
    a, b = programmed(), programmed()
    b.expose_to(1e5)

    def ln_window(c: Chip) -> float:
        lrs, hrs = medians(c)
        return float(np.log(lrs / hrs))

    w_a, w_b = ln_window(a), ln_window(b)
    for c in (a, b):
        c.age_to(0.0, 523.15)
        c.age_to(1800.0, 523.15)
    loss_a, loss_b = w_a - ln_window(a), w_b - ln_window(b)
    assert loss_a > 0
    s = saturation(damage(P, 1e5))
    assert b.pop.rad_retention_factor == pytest.approx(1 + P.rad_retention_gain * s)
    assert loss_b / w_b > 1.5 * loss_a / w_a


def test_forming_voltage_and_hrs_level_shift_with_dose():
    fresh, dosed = Chip(P, seed=9), Chip(P, seed=9)
    dosed.expose_to(1e5)  # unformed cells: only the distributions move
    s = saturation(damage(P, 1e5))
    shift = float(np.mean(dosed.pop.v_form - fresh.pop.v_form))
    assert shift == pytest.approx(P.rad_form_shift_v * s, rel=0.15)
    assert np.mean(fresh.pop.g == dosed.pop.g) == 1.0  # unformed: states untouched
    # forming at a fixed staircase: the dosed chip forms more cells at 2.5 V
    idx = np.arange(N)
    assert (dosed.pop.apply_pulse(idx, 2.5, 100e-6, 1e-3).sum()
            > fresh.pop.apply_pulse(idx, 2.5, 100e-6, 1e-3).sum())
    # a RESET after the dose lands lower (HRS median shift)
    for c in (fresh, dosed):
        c.pop.apply_pulse(idx, 3.6, 100e-6, 1e-3)
        c.pop.apply_pulse(idx, -1.6, 0.0, 1e-3)
    assert np.median(dosed.pop.g[idx]) > 1.15 * np.median(fresh.pop.g[idx])


def test_dose_is_kept_with_the_saved_state():
    chip = programmed()
    chip.expose_to(6e4)
    state = chip.state_dict()
    again = Chip(P, seed=7)
    again.load_state_dict(state)
    assert again.dose_gy == pytest.approx(6e4)
    assert np.array_equal(again.pop.v_form, chip.pop.v_form)
    assert again.pop.rad_retention_factor == chip.pop.rad_retention_factor
    # a new lab starts its dose at 0: the mark resets, the absorbed dose stays
    again.expose_to(100.0)
    assert again.dose_gy == pytest.approx(6e4 + 100.0)


def test_no_onset_no_effect_parameters_are_refittable():
    """A harder stack (onset 1e6 Gy): 2e5 Gy changes nothing."""
    hard = dataclasses.replace(P, rad_onset_gy=1e6)
    a, b = programmed(params=hard), programmed(params=hard)
    b.expose_to(2e5)
    assert np.array_equal(a.pop.g, b.pop.g)
