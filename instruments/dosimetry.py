"""Dosimetry: what a radiation facility tells the bench about the beam (dose, dose rate, fluence).

This module holds the interface every dose source implements (:class:`Dosimeter`) and the reading
it returns (:class:`DoseReading`). Sources (typed-in values, the facility's dosimetry log file, the
simulated facility of the twin) implement :meth:`Dosimeter.read`; campaigns tag each measurement
with the reading taken just before it.

Units: absorbed dose in Gy (in silicon, Gy(Si); 1 Gy = 100 rad), dose rate in Gy/s, fluence in
particles/cm^2 and flux in particles/(cm^2 s); times in seconds of the bench clock
(:meth:`instruments.bench.Bench.clock`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class DoseReading:
    """One reading of the dosimetry.

    Attributes:
        time_s: bench-clock time of the reading (s).
        dose_gy: total ionising dose accumulated since the start of the exposure (Gy(Si)).
        dose_rate_gy_s: dose rate at the time of the reading (Gy(Si)/s); 0 with the beam off.
        fluence_cm2: particle fluence accumulated (1/cm^2), None for photon (gamma, X-ray) beams.
        flux_cm2_s: particle flux (1/(cm^2 s)), None for photon beams.
        beam_on: whether the beam is on at the time of the reading.
        source: where the reading comes from (e.g. ``"typed"``, ``"log:dose.csv"``, ``"twin"``).
    """

    time_s: float
    dose_gy: float
    dose_rate_gy_s: float
    fluence_cm2: float | None = None
    flux_cm2_s: float | None = None
    beam_on: bool = False
    source: str = ""


@runtime_checkable
class Dosimeter(Protocol):
    """A source of dose readings (typed in, a facility log file, an instrument, the twin)."""

    def read(self) -> DoseReading:
        """The latest reading (never blocks for long: a log file is read, not waited on)."""
        ...
