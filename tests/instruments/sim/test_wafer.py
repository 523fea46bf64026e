"""Tests of the virtual wafer (instruments/sim/wafer.py): determinism, bad dies, gradient, save."""

from __future__ import annotations

import math

import numpy as np
import pytest

from instruments.sim.rram import RRAMParams
from instruments.sim.wafer import Wafer
from instruments.wafermap import WaferMap

P = RRAMParams()
LAYOUT = WaferMap()


def make(seed: int = 0, state_dir=None, fresh: bool = False) -> Wafer:
    return Wafer(P, LAYOUT, seed=seed, state_dir=state_dir, fresh=fresh)


def good_die(w: Wafer, near_centre: bool = True) -> tuple[int, int]:
    dies = sorted(LAYOUT.dies, key=lambda d: LAYOUT.radius_fraction(*d),
                  reverse=not near_centre)
    return next(d for d in dies if w.die_kind(*d) == "good")


def exercise(chip, n: int = 6) -> list[float]:
    out = []
    for col in range(n):
        out.append(chip.bias("1T1R", 0, col, "BL", 3.6, 0.0, 1.5, 1e-3, i_comp_bl=100e-6).i_bl)
        out.append(chip.bias("1T1R", 0, col, "BL", 0.0, 2.4, 2.8, 1e-6).i_bl)
        out.append(chip.bias("1T1R", 0, col, "BL", 0.1, 0.0, 1.5, 1e-3).i_bl)
    return out


def test_unknown_die_raises_key_error():
    w = make()
    with pytest.raises(KeyError):
        w.chip(0, 0)  # corner of the bounding grid is off the round wafer
    with pytest.raises(KeyError):
        w.die_kind(-1, 5)


def test_dead_and_short_dies_exist_and_are_few():
    for seed in (0, 1, 2):
        w = make(seed)
        kinds = list(w.kinds.values())
        n = len(kinds)
        n_dead, n_short = kinds.count("dead"), kinds.count("short")
        assert n_dead >= 1 and n_short >= 1
        assert (n_dead + n_short) / n < 0.05
        die = next(d for d, k in w.kinds.items() if k == "dead")
        chip = w.chip(*die)
        assert chip.kind == "dead"
        assert abs(chip.bias("1T1R", 0, 0, "BL", 3.0, 0.0, 2.0, 1e-3).i_bl) < 1e-10
        die = next(d for d, k in w.kinds.items() if k == "short")
        r = w.chip(*die).bias("1T1R", 0, 0, "BL", 0.1, 0.0, 0.0, 1e-3)
        assert r.i_bl == pytest.approx(0.1 / P.r_short, rel=0.05)


def test_same_seed_same_wafer_different_seed_differs():
    a, b, c = make(5), make(5), make(6)
    assert a.kinds == b.kinds
    assert a.kinds != c.kinds
    die = good_die(a)
    assert good_die(c) == die or c.die_kind(*die) == "good"
    ra, rb, rc = exercise(a.chip(*die)), exercise(b.chip(*die)), exercise(c.chip(*die))
    assert ra == rb
    assert ra != rc
    assert a.chip(*die) is a.chip(*die)


def test_fresh_dies_are_unformed():
    w = make(3)
    chip = w.chip(*good_die(w))
    assert chip.conductance("1T1R").max() < 0.1e-6
    assert chip.conductance("2T2R").max() < 0.1e-6


def test_process_gradient_centre_vs_edge():
    w = make(4)
    centre = [d for d in LAYOUT.dies if LAYOUT.radius_fraction(*d) < 0.25]
    edge = [d for d in LAYOUT.dies if LAYOUT.radius_fraction(*d) > 0.8]
    vf_c = np.mean([w.chip(*d).pop.v_form.mean() for d in centre])
    vf_e = np.mean([w.chip(*d).pop.v_form.mean() for d in edge])
    assert vf_e - vf_c == pytest.approx(P.v_form_radial * 0.75, abs=0.1)
    assert vf_e - vf_c > 0.1
    # the gradient is smooth: neighbouring dies differ far less than centre vs edge
    d0 = good_die(w)
    d1 = (d0[0] + 1, d0[1])
    s0, s1 = w.die_process(*d0).v_form_shift, w.die_process(*d1).v_form_shift
    assert abs(s0 - s1) < 0.1
    assert w.die_process(*edge[0]).r_hrs_scale > w.die_process(*d0).r_hrs_scale
    assert math.isfinite(w.die_process(*edge[0]).g_lrs_scale)


def test_save_and_resume(tmp_path):
    w = make(7, state_dir=tmp_path)
    die = good_die(w)
    other = good_die(w, near_centre=False)
    chip = w.chip(*die)
    exercise(chip)
    chip.age_to(10.0, 300.0)
    w.chip(*other)  # built but untouched: not saved
    w.save()
    files = sorted(p.name for p in tmp_path.glob("die_*.npz"))
    assert files == [f"die_{die[0]}_{die[1]}.npz"]
    resumed = make(7, state_dir=tmp_path)
    chip2 = resumed.chip(*die)
    assert np.array_equal(chip2.conductance("1T1R"), chip.conductance("1T1R"))
    assert chip2.t_last == 10.0
    # the sequence continues identically (device states and RNG state)
    assert exercise(chip2, 10) == exercise(chip, 10)
    # fresh=True ignores the saved state and overwrites it on save
    fresh = make(7, state_dir=tmp_path, fresh=True)
    assert fresh.chip(*die).conductance("1T1R").max() < 0.1e-6
    fresh.save()
    assert not list(tmp_path.glob("die_*.npz"))
    again = make(7, state_dir=tmp_path)
    assert again.chip(*die).conductance("1T1R").max() < 0.1e-6


def test_save_without_state_dir_is_noop(tmp_path):
    w = make(8)
    exercise(w.chip(*good_die(w)), 1)
    w.save()
    assert not list(tmp_path.iterdir())


def test_saved_state_of_other_seed_is_ignored(tmp_path):
    w = make(9, state_dir=tmp_path)
    die = good_die(w)
    exercise(w.chip(*die), 2)
    w.save()
    other = Wafer(P, LAYOUT, seed=10, state_dir=tmp_path)
    if other.die_kind(*die) == "good":
        assert other.chip(*die).conductance("1T1R").max() < 0.1e-6
