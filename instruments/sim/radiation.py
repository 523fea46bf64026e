"""The simulated irradiation facility: a beam on the lab clock, its dosimetry log, periphery upsets.

:class:`RadiationSource` is the twin's beam: a piecewise-constant dose rate (Gy(Si)/s) on the lab
clock (a schedule of beam-on segments, or the beam switched on/off while running), so the dose
delivered by a lab time is exact and deterministic. Every chip of the lab sits in the beam
(:meth:`instruments.sim.chip.Chip.expose_to`; the effects on the cells are
:mod:`instruments.sim.radiation_effects`). Nothing is delivered while the beam is off.

Like a facility's dosimetry, the source *writes* a log file (:meth:`RadiationSource.log_to`,
format in ``docs/dosimetry.md``) as the lab clock advances; the bench reads it with the same
reader as a real facility's file (:class:`instruments.dosimetry.LogDosimeter`).

Transient upsets of the CMOS periphery happen at a rate proportional to the particle flux:
each PCSA output bit flips with probability ``sigma_pcsa * flux * window`` per read, and the chip
controller's registers take ``Poisson(sigma_controller * fluence increment)`` upsets between two
commands (detected, corrected and reported as an error). Cross-sections are ``seu_*`` of
:class:`~instruments.sim.rram_params.RRAMParams` (per proton; photons ``seu_photon_relative``
of that). The upsets draw from their own random stream: the devices' draws do not change.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instruments.dosimetry import LOG_COLUMNS, LOG_HEADER_COMMENT, DoseReading
from instruments.sim.rram_params import RRAMParams

#: particle fluence (1/cm^2) per Gy(Si) of each beam kind the twin knows:
#: gamma = Co-60 photons (1.25 MeV, mass energy-absorption coefficient of Si ~0.0265 cm^2/g,
#: NIST: 5.3e-12 Gy per photon/cm^2); proton = 100 MeV protons (LET in Si ~5.8e-3 MeV cm^2/mg:
#: 1 Gy = 1 / (1.602e-7 Gy per MeV/mg * LET) protons/cm^2)
FLUENCE_PER_GY = {"gamma": 1.9e11, "proton": 1.08e9}
#: beams whose particles are photons (their fluence is not reported, as on a facility's log)
PHOTONS = ("gamma",)


@dataclass(frozen=True)
class BeamSegment:
    """The beam on from ``start_s`` to ``stop_s`` (lab-clock s) at ``dose_rate_gy_s`` Gy(Si)/s."""

    start_s: float
    stop_s: float
    dose_rate_gy_s: float


@dataclass(frozen=True)
class BeamConfig:
    """The simulated facility's beam.

    Attributes:
        particle: ``"gamma"`` (Co-60) or ``"proton"`` (100 MeV), see :data:`FLUENCE_PER_GY`.
        dose_rate_gy_s: Gy(Si)/s from lab time 0 on, used when ``schedule`` is empty.
        schedule: beam-on segments (the beam is off between them).
        fluence_per_gy: 1/(cm^2 Gy), overrides the particle's default.
    """

    particle: str = "gamma"
    dose_rate_gy_s: float = 0.0
    schedule: tuple[BeamSegment, ...] = ()
    fluence_per_gy: float | None = None

    def __post_init__(self) -> None:
        if self.particle not in FLUENCE_PER_GY:
            raise ValueError(f"particle must be one of {', '.join(FLUENCE_PER_GY)}, "
                             f"not {self.particle!r}")
        if not (self.dose_rate_gy_s >= 0 and math.isfinite(self.dose_rate_gy_s)):
            raise ValueError(f"dose_rate_gy_s = {self.dose_rate_gy_s!r} must be >= 0")
        last = -math.inf
        for seg in self.schedule:
            if not (0 <= seg.start_s < seg.stop_s and seg.dose_rate_gy_s >= 0):
                raise ValueError(f"beam segment {seg}: need 0 <= start_s < stop_s, rate >= 0")
            if seg.start_s < last:
                raise ValueError(f"beam segment {seg} overlaps or precedes the one before")
            last = seg.stop_s


class RadiationSource:
    """The twin's beam on the lab clock (call under the lab lock; all times in lab seconds).

    Args:
        beam: the beam and its schedule.
        params: device/periphery parameters (the ``seu_*`` cross-sections).
        seed: seed of the upset stream (the lab's seed).
        dose_offset_gy: dose (Gy(Si)) the facility had delivered before this lab session (a
            continued wafer): added to the readings and the log, not to what the chips absorb
            now (their saved state holds the earlier dose).
    """

    def __init__(self, beam: BeamConfig, params: RRAMParams | None = None, seed: int = 0,
                 dose_offset_gy: float = 0.0) -> None:
        self.beam = beam
        self.params = params or RRAMParams()
        self.dose_offset_gy = float(dose_offset_gy)
        self.fluence_per_gy = beam.fluence_per_gy or FLUENCE_PER_GY[beam.particle]
        #: (time s, dose rate Gy/s from then on), sorted; dose accumulated at each breakpoint
        self._t: list[float] = [0.0]
        self._rate: list[float] = [0.0]
        self._dose: list[float] = [0.0]
        if beam.schedule:
            for seg in beam.schedule:
                self._append(seg.start_s, seg.dose_rate_gy_s)
                self._append(seg.stop_s, 0.0)
        else:
            self._rate[0] = beam.dose_rate_gy_s
        self._rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(0x5E0,)))
        self._upset_fluence = 0.0  # fluence at the last controller-upset draw
        #: upsets drawn so far: PCSA bits flipped, controller register upsets
        self.pcsa_upsets = 0
        self.controller_upsets_total = 0
        self._log: _FacilityLog | None = None

    # -- the beam ------------------------------------------------------------------------------
    def _append(self, t: float, rate: float) -> None:
        t = float(t)
        if t <= self._t[-1]:  # a change at the last breakpoint replaces its rate
            if t == self._t[-1]:
                self._rate[-1] = float(rate)
            return
        self._dose.append(self._dose[-1] + self._rate[-1] * (t - self._t[-1]))
        self._t.append(t)
        self._rate.append(float(rate))

    def set_beam(self, t_now: float, dose_rate_gy_s: float) -> None:
        """From ``t_now`` (s) on, the beam delivers ``dose_rate_gy_s`` (0 = beam off); the rest
        of the schedule is dropped (the operator took over)."""
        if not (dose_rate_gy_s >= 0 and math.isfinite(dose_rate_gy_s)):
            raise ValueError(f"dose rate {dose_rate_gy_s!r} must be >= 0 Gy/s")
        t_now = max(float(t_now), 0.0)
        k = bisect.bisect_right(self._t, t_now)
        dose_now = self.dose_at(t_now)
        del self._t[k:], self._rate[k:], self._dose[k:]
        if self._t[-1] == t_now:
            self._rate[-1] = float(dose_rate_gy_s)
        else:
            self._t.append(t_now)
            self._rate.append(float(dose_rate_gy_s))
            self._dose.append(dose_now)

    def rate_at(self, t: float) -> float:
        """Dose rate (Gy(Si)/s) at lab time ``t`` (s)."""
        k = bisect.bisect_right(self._t, float(t)) - 1
        return self._rate[max(k, 0)]

    def dose_at(self, t: float) -> float:
        """Dose (Gy(Si)) delivered in this lab session, from lab time 0 to ``t`` (s); exact
        (piecewise constant). The facility's total is this plus ``dose_offset_gy``."""
        t = max(float(t), 0.0)
        k = max(bisect.bisect_right(self._t, t) - 1, 0)
        return self._dose[k] + self._rate[k] * (t - self._t[k])

    def flux_at(self, t: float) -> float:
        """Particle (or photon) flux (1/(cm^2 s)) at ``t``."""
        return self.rate_at(t) * self.fluence_per_gy

    def reading(self, t: float) -> DoseReading:
        """What an ideal dosimeter reads at lab time ``t`` (s): the facility's total dose."""
        rate = self.rate_at(t)
        photon = self.beam.particle in PHOTONS
        dose = self.dose_offset_gy + self.dose_at(t)
        return DoseReading(
            time_s=float(t), dose_gy=dose, dose_rate_gy_s=rate,
            fluence_cm2=None if photon else dose * self.fluence_per_gy,
            flux_cm2_s=None if photon else rate * self.fluence_per_gy,
            beam_on=rate > 0, source="twin",
        )

    # -- periphery upsets ----------------------------------------------------------------------
    def _sigma_scale(self) -> float:
        return self.params.seu_photon_relative if self.beam.particle in PHOTONS else 1.0

    def flip_pcsa(self, bits: str, t: float) -> str:
        """The PCSA output ``bits`` ("0"/"1" per pair) after the upsets of one read at ``t``."""
        flux = self.flux_at(t)
        if flux <= 0 or not bits:
            return bits
        p = self.params
        prob = min(p.seu_pcsa_sigma_cm2 * self._sigma_scale() * flux * p.seu_pcsa_window_s, 1.0)
        hit = self._rng.random(len(bits)) < prob
        if not hit.any():
            return bits
        self.pcsa_upsets += int(hit.sum())
        return "".join(("1" if b == "0" else "0") if h else b for b, h in zip(bits, hit,
                                                                              strict=True))

    def controller_upsets(self, t: float) -> int:
        """Upsets of the controller's registers since the last call (Poisson in the fluence)."""
        fluence = self.dose_at(t) * self.fluence_per_gy
        d_fluence = fluence - self._upset_fluence
        self._upset_fluence = max(fluence, self._upset_fluence)
        if d_fluence <= 0:
            return 0
        lam = self.params.seu_controller_sigma_cm2 * self._sigma_scale() * d_fluence
        n = int(self._rng.poisson(lam))
        self.controller_upsets_total += n
        return n

    # -- the facility's log --------------------------------------------------------------------
    def log_to(self, path: Path, period_s: float = 10.0, t_now: float = 0.0) -> Path:
        """Write the dosimetry log to ``path`` every ``period_s`` lab seconds from ``t_now`` on
        (appending to an existing file of an earlier session would mix two clocks: it is
        replaced)."""
        self._log = _FacilityLog(Path(path), float(period_s), float(t_now))
        self._log.write_until(self, float(t_now))
        return self._log.path

    def on_clock(self, t: float) -> None:
        """The lab clock reached ``t`` (s): write the log lines that fell due."""
        if self._log is not None and t >= self._log.next_t:
            self._log.write_until(self, t)

    @property
    def log_path(self) -> Path | None:
        """The log file being written, None if none."""
        return None if self._log is None else self._log.path


class _FacilityLog:
    """The simulated facility's dosimetry log: one line per period of lab time, flushed."""

    def __init__(self, path: Path, period_s: float, t0: float) -> None:
        if not period_s > 0:
            raise ValueError(f"log period {period_s!r} must be > 0 s")
        self.path = path
        self.period_s = period_s
        self.t0 = t0
        self.n = 0  # lines written (line k at t0 + k * period_s, no accumulated rounding)
        self.next_t = t0
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(f"{LOG_HEADER_COMMENT}\n# written by the MemProbe twin's facility; time = "
                    "bench seconds\n")
            f.write(",".join(LOG_COLUMNS) + "\n")

    def write_until(self, src: RadiationSource, t: float) -> None:
        lines = []
        while self.next_t <= t:
            r = src.reading(self.next_t)
            opt = ("" if r.fluence_cm2 is None else f"{r.fluence_cm2:.6g}",
                   "" if r.flux_cm2_s is None else f"{r.flux_cm2_s:.6g}")
            lines.append(f"{r.time_s:.6f},{r.dose_gy:.9g},{r.dose_rate_gy_s:.9g},{opt[0]},"
                         f"{opt[1]},{'on' if r.beam_on else 'off'}\n")
            self.n += 1
            self.next_t = self.t0 + self.n * self.period_s
        if lines:
            with open(self.path, "a", encoding="utf-8", newline="\n") as f:
                f.writelines(lines)


__all__ = ["FLUENCE_PER_GY", "BeamConfig", "BeamSegment", "RadiationSource"]
