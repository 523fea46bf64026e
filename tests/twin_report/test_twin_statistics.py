"""Twin report, part 3: cycle memory and PCSA offset measured through the instruments; the
estimators recover known values from synthetic data."""

from __future__ import annotations

import dataclasses

import numpy as np

from instruments.sim.rram import RRAMParams
from procedures.twin_report.fidelity import DIFFERS, build_report, in_range
from procedures.twin_report.statistics import fit_ar1_variogram, fit_probit, semivariogram


def _ar1(rng, cells: int, n: int, rho: float, share: float) -> np.ndarray:
    a = np.zeros((cells, n))
    a[:, 0] = rng.standard_normal(cells)
    for t in range(1, n):
        a[:, t] = rho * a[:, t - 1] + np.sqrt(1 - rho * rho) * rng.standard_normal(cells)
    return np.sqrt(share) * a + np.sqrt(1 - share) * rng.standard_normal((cells, n))


def test_variogram_fit_recovers_the_memory_of_an_ar1_series():
    rng = np.random.default_rng(3)
    g = semivariogram(_ar1(rng, 8, 2000, 0.97, 0.5), 150)
    white = semivariogram(rng.standard_normal((8, 2000)), 150)
    assert np.allclose(white, 1.0, atol=0.05)  # white noise: flat at the variance
    rho, [(s_w, s_ar)] = fit_ar1_variogram(g)
    assert 0.955 < rho < 0.985 and 0.35 < s_ar / (s_w + s_ar) < 0.65
    rho2, _ = fit_ar1_variogram(semivariogram(_ar1(rng, 8, 2000, 0.8, 0.5), 150))
    assert 0.7 < rho2 < 0.88  # a shorter memory is told apart


def test_probit_fit_recovers_the_comparator_offset():
    rng = np.random.default_rng(4)
    r = rng.normal(0.0, 0.1, 4000)
    bits = r + rng.normal(0.01, 0.03, r.size) > 0  # offset spread 0.03, mean -0.01
    mu, sigma = fit_probit(r, bits)
    assert abs(mu + 0.01) < 0.005 and abs(sigma - 0.03) < 0.006


def test_cycle_memory_and_pcsa_offset_are_measured_through_the_instruments():
    rows, info = build_report(quick=True, only=["cycle memory", "PCSA offset"])
    by = {r.quantity: r for r in rows}
    cm, sa = by["Cycle memory"], by["Sense amplifier offset"]
    assert "not measured" not in (cm.verdict, sa.verdict)
    assert 0.5 < cm.values["rho"] < 1.0 and cm.values["memory_cycles"] >= 2
    assert 0 < cm.values["ar_share_hrs"] <= 1
    # the model's offset is 3 mV sigma: measured from the bits of nearly balanced pairs
    v = sa.values["v_offset_sigma"]
    assert 1e-3 < v < 6e-3 and sa.verdict == in_range(v, 1e-3, 10e-3, 0.3)
    assert set(info["timings"]) == {"cycle memory", "PCSA offset"}
    # a refitted model with 25 mV amplifiers measures as such and differs from the reference
    wide = dataclasses.replace(RRAMParams(), pcsa_offset_sigma_v=25e-3)
    rows2, _ = build_report(quick=True, only=["PCSA offset"], params=wide)
    sa2 = rows2[0]
    assert sa2.values["v_offset_sigma"] > 12e-3 and sa2.verdict == DIFFERS
