"""Total-ionising-dose effects on the simulated RRAM cells (the model, separate from the beam).

The documented model (parameters ``rad_*`` of :class:`~instruments.sim.rram_params.RRAMParams`,
tagged [F]/[E] there; ``docs/dosimetry.md`` "Radiation-effects model"):

* Below ``rad_onset_gy`` (1e4 Gy(Si) = 1 Mrad) nothing changes, exactly: TiN/HfO2/TiN cells are
  unchanged to very high total dose, HfOx switching is unchanged up to ~5 Mrad.
* Above it a damage measure ``phi(D) = ((D - onset) / rad_filament_gy)^n`` (``rad_filament_gy``
  = 5e4 Gy = 5 Mrad(Si) gamma, where filament stability weakens) grows, and with it
  - states relax: ln G of an LRS cell moves toward ``g_relax_lrs``, of an HRS cell toward
    ``g_relax``, by ``exp(-k * sensitivity * d(phi))`` per dose increment (the window closes);
  - with the saturating ``s = phi / (1 + phi)``: retention is faster by ``1 +
    rad_retention_gain * s``, the HRS median after RESET, the LRS level after SET, the forming
    voltage and the SET/RESET thresholds shift (``rad_*_shift_*``).
* Each device has a lognormal sensitivity (median 1, ``rad_sensitivity_sigma_ln``) drawn from
  its own random stream, so the device physics' other draws are the same with or without dose.

Dose is what the lab's radiation source has delivered (:mod:`instruments.sim.radiation`); the
devices see nothing while the beam is off.
"""

from __future__ import annotations

import math

import numpy as np

from instruments.sim.rram import RRAMPopulation
from instruments.sim.rram_params import RRAMParams


def damage(p: RRAMParams, dose_gy: float) -> float:
    """Damage measure phi (1) at total dose ``dose_gy`` (Gy(Si)); 0 up to ``rad_onset_gy``."""
    excess = float(dose_gy) - p.rad_onset_gy
    if excess <= 0.0:
        return 0.0
    return (excess / p.rad_filament_gy) ** p.rad_phi_exponent


def saturation(phi: float) -> float:
    """Saturating form ``phi / (1 + phi)`` (0..1) of the damage, for the distribution shifts."""
    return phi / (1.0 + phi)


class DoseResponse:
    """Applies dose increments to one :class:`RRAMPopulation` (one chip).

    Args:
        pop: the devices.
        seed: SeedSequence of the chip; the sensitivities come from a child stream of their own.
    """

    def __init__(self, pop: RRAMPopulation, seed: np.random.SeedSequence) -> None:
        self.pop = pop
        self._seed = seed
        self._sens: np.ndarray | None = None
        #: the static arrays as drawn (the dose shifts are applied relative to them)
        self._base = {"lrs_d2d": pop.lrs_d2d.copy(), "hrs_d2d": pop.hrs_d2d.copy(),
                      "v_form": pop.v_form.copy()}
        #: total dose (Gy(Si)) the devices have absorbed
        self.dose_gy = 0.0

    @property
    def sensitivity(self) -> np.ndarray:
        """Per-device radiation sensitivity (1, lognormal, median 1), drawn on first use."""
        if self._sens is None:
            ss = self._seed
            rng = np.random.default_rng(
                np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, 0x4AD)))
            sigma = self.pop.params.rad_sensitivity_sigma_ln
            self._sens = np.exp(sigma * rng.standard_normal(self.pop.n))
        return self._sens

    def absorb(self, dose_gy: float) -> bool:
        """Raise the absorbed dose to ``dose_gy`` (Gy(Si), total); True if a device changed.

        A lower value than the dose already absorbed changes nothing (dose never decreases).
        """
        dose_gy = float(dose_gy)
        if not dose_gy > self.dose_gy:
            return False
        p = self.pop.params
        phi0, phi1 = damage(p, self.dose_gy), damage(p, dose_gy)
        self.dose_gy = dose_gy
        if phi1 <= phi0:
            return False
        self._relax_states(phi1 - phi0)
        self._apply_static(phi1)
        return True

    def restore(self, dose_gy: float) -> None:
        """After a reload of the device states: the dose already absorbed (Gy(Si)), whose state
        changes are in the saved conductances; only the dose-dependent parameters are set."""
        self.dose_gy = max(float(dose_gy), 0.0)
        self._apply_static(damage(self.pop.params, self.dose_gy))

    def _relax_states(self, d_phi: float) -> None:
        pop, p = self.pop, self.pop.params
        f = pop.formed
        if not f.any():
            return
        sens = self.sensitivity
        for mask, k, g_mid in ((f & pop.is_set, p.rad_lrs_relax, p.g_relax_lrs),
                               (f & ~pop.is_set, p.rad_hrs_relax, p.g_relax)):
            if not mask.any() or k <= 0:
                continue
            ln_mid = math.log(g_mid)
            keep = np.exp(-k * sens[mask] * d_phi)
            pop.g[mask] = np.exp(ln_mid + (np.log(pop.g[mask]) - ln_mid) * keep)

    def _apply_static(self, phi: float) -> None:
        pop, p = self.pop, self.pop.params
        if phi <= 0.0:
            pop.lrs_d2d[:] = self._base["lrs_d2d"]
            pop.hrs_d2d[:] = self._base["hrs_d2d"]
            pop.v_form[:] = self._base["v_form"]
            pop.rad_retention_factor = 1.0
            pop.rad_threshold_shift = 0.0
            return
        s = saturation(phi)
        sens = self.sensitivity
        pop.lrs_d2d[:] = self._base["lrs_d2d"] * np.exp(p.rad_lrs_shift_ln * s * sens)
        pop.hrs_d2d[:] = self._base["hrs_d2d"] * np.exp(p.rad_hrs_shift_ln * s * sens)
        pop.v_form[:] = self._base["v_form"] + p.rad_form_shift_v * s * sens
        pop.rad_retention_factor = 1.0 + p.rad_retention_gain * s
        pop.rad_threshold_shift = p.rad_threshold_shift_v * s


__all__ = ["DoseResponse", "damage", "saturation"]
