"""The radiation rows of the twin fidelity report: measured in the twin's beam through the
instruments, verdicts follow the data (a refit with an early onset differs)."""

from __future__ import annotations

import dataclasses

from instruments.sim.rram import RRAMParams
from procedures.twin_report.fidelity import AGREES, DIFFERS, NOT_MODELLED, build_report

ONLY = ["radiation: total dose", "radiation: upsets"]


def test_radiation_rows_agree_with_physics_md():
    rows, info = build_report(quick=True, only=ONLY)
    by = {r.quantity: r for r in rows}
    tid = by["Radiation: total dose"]
    assert tid.verdict == AGREES
    assert abs(tid.values["window_1020"] - 1) < 0.02  # read noise only
    assert tid.values["window_100020"] < tid.values["window_50040"] < 0.97
    assert by["Radiation: displacement damage"].verdict == NOT_MODELLED
    see = by["Radiation: periphery upsets"]
    assert see.verdict == AGREES and see.values["upsets_10"] > 50
    assert 1.5 <= see.values["ratio"] <= 2.6
    assert set(info["timings"]) == set(ONLY)


def test_an_early_onset_refit_differs():
    soft = dataclasses.replace(RRAMParams(), rad_onset_gy=100.0, rad_filament_gy=5e3)
    rows, _ = build_report(quick=True, only=["radiation: total dose"], params=soft)
    tid = {r.quantity: r for r in rows}["Radiation: total dose"]
    assert tid.values["window_10020"] < 0.9
    assert tid.verdict == DIFFERS
