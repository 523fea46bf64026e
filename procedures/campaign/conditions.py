"""The condition of a campaign measurement, and the chuck heater moves of a campaign.

:func:`read_condition` tags a measurement just before it runs: chuck temperature read back from
the prober (GetHeaterTemp), elapsed campaign time on the bench clock, and the dosimetry reading
when the bench has a dosimeter (``bench.dosimeter``, an :class:`instruments.dosimetry.Dosimeter`;
absent or None: the dose columns stay empty). :func:`dosimeter_of` is the one place that looks
the dosimeter up.

:func:`reach_temperature` moves the chuck to a set point the way ``retention`` does (separated
first: the set point never changes in contact; the prober reports ready; then a soak), with an
optional ramp rate done by the host: the set point steps towards the target by at most
``ramp_c_per_min`` per minute of bench time, so a station without a ramp-rate command still
ramps as the campaign asks (a real station ramps at its own rate within each step).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from instruments.bench_types import BenchInterface
from instruments.dosimetry import DoseReading, Dosimeter
from procedures.experiments.retention import (
    HEATER_POLL_S,
    TEMPERATURE_TOLERANCE_C,
    settle_heater,
)
from procedures.operations.cell_io import bench_clock, wait

log = logging.getLogger(__name__)

RAMP_STEP_S = 60.0
"""s of bench time per set-point step of a host-side ramp."""
SETTLED_C = 0.5
"""C. A chuck that reads ready within this of the set point is left as it is (no new set point,
no soak): a monitor schedule's fixed temperature, a first step at the ambient temperature."""


@dataclass(frozen=True)
class Condition:
    """The condition of one measurement.

    Attributes:
        temperature_c: chuck temperature read back, C (None if unreadable).
        set_point_c: the schedule's set point, C (None: not controlled).
        elapsed_s: campaign time on the bench clock, s (over every session of the campaign).
        dose_gy, dose_rate_gy_s, fluence_cm2, flux_cm2_s, beam_on: the dosimetry reading
            (Gy(Si), Gy(Si)/s, 1/cm^2, 1/(cm^2 s)); None without a dosimeter.
    """

    temperature_c: float | None
    set_point_c: float | None
    elapsed_s: float
    dose_gy: float | None = None
    dose_rate_gy_s: float | None = None
    fluence_cm2: float | None = None
    flux_cm2_s: float | None = None
    beam_on: bool | None = None

    def columns(self) -> dict[str, Any]:
        """The condition columns of ``campaign_summary.csv`` (units in the names)."""
        return {
            "temperature_c": self.temperature_c, "set_point_c": self.set_point_c,
            "elapsed_s": self.elapsed_s, "dose_gy": self.dose_gy,
            "dose_rate_gy_s": self.dose_rate_gy_s, "fluence_cm2": self.fluence_cm2,
            "flux_cm2_s": self.flux_cm2_s, "beam_on": self.beam_on,
        }


CONDITION_COLUMNS = tuple(Condition(None, None, 0.0).columns())


def dosimeter_of(bench: BenchInterface) -> Dosimeter | None:
    """The bench's dosimeter, or None (a bench without dosimetry)."""
    dosimeter = getattr(bench, "dosimeter", None)
    return dosimeter if isinstance(dosimeter, Dosimeter) else None


def has_heater(bench: BenchInterface) -> bool:
    """The bench can set the device temperature (the prober's hot chuck or a ``bench.heater``)."""
    return bench.prober is not None or bench.heater is not None


def device_temperature(bench: BenchInterface) -> float | None:
    """C. The device temperature as the bench reads it (the hot chuck's GetHeaterTemp, or
    ``bench.heater``); None without either."""
    if bench.prober is not None:
        return float(bench.prober.heater().temperature)
    return None if bench.heater is None else float(bench.heater.temperature())


def read_condition(bench: BenchInterface, elapsed_s: float,
                   set_point_c: float | None) -> Condition:
    """The condition now (temperature read back, dosimetry read); never raises for a reading
    that fails (the column stays empty and the problem is logged)."""
    temperature = None
    try:
        temperature = device_temperature(bench)
    except Exception as exc:
        log.warning("device temperature unknown: %s", exc)
    dose: DoseReading | None = None
    dosimeter = dosimeter_of(bench)
    if dosimeter is not None:
        try:
            dose = dosimeter.read()
        except Exception as exc:
            log.warning("dosimeter not read: %s", exc)
    if dose is None:
        return Condition(temperature, set_point_c, float(elapsed_s))
    return Condition(temperature, set_point_c, float(elapsed_s), float(dose.dose_gy),
                     float(dose.dose_rate_gy_s), dose.fluence_cm2, dose.flux_cm2_s,
                     bool(dose.beam_on))


def _ready(state: Any, set_point: float) -> bool:
    return (abs(state.temperature - set_point) <= TEMPERATURE_TOLERANCE_C
            and str(state.status).upper().startswith("R"))


def _host_ramp(bench: BenchInterface, send: Callable[[float], Any], start: float,
               set_point: float, ramp_c_per_min: float | None,
               should_stop: Callable[[], bool]) -> bool:
    """Step the set point from ``start`` towards ``set_point`` (C) by ``ramp_c_per_min`` C per
    minute of bench time (every :data:`RAMP_STEP_S` s; the last step is the caller's); False
    if stopped. Nothing to do without a rate."""
    if ramp_c_per_min is None:
        return True
    span = set_point - start
    step_c = ramp_c_per_min * RAMP_STEP_S / 60.0
    n = int(math.ceil(abs(span) / step_c - 1e-9)) if step_c > 0 else 0
    for k in range(1, n):
        send(start + math.copysign(step_c * k, span))
        if not wait(bench, RAMP_STEP_S, should_stop):
            return False
    return True


def reach_temperature(bench: BenchInterface, set_point: float, ramp_c_per_min: float | None,
                      soak_s: float, timeout_s: float, should_stop: Callable[[], bool]
                      ) -> float | None:
    """Chuck to ``set_point`` C: separate; unless it already reads ready within
    :data:`SETTLED_C` of it, ramp (host steps of the set point at
    ``ramp_c_per_min`` C/min, None = the station's own rate), wait until ready (at most
    ``timeout_s`` s of bench time), soak ``soak_s`` s. Returns the temperature read back (C), or
    None if ``should_stop`` cut it short. TimeoutError if the chuck never gets ready.

    A bench without a prober but with a ``bench.heater`` (packaged chips under a ThermoStream)
    ramps the same way through :meth:`~instruments.bench_types.Heater.set_point`, waits until
    the device reads the set point (:func:`~procedures.experiments.retention.settle_heater`),
    then soaks."""
    prober = getattr(bench, "prober", None)
    if prober is None:
        heater = bench.heater
        start = float(heater.temperature())
        if abs(start - set_point) <= SETTLED_C:
            heater.set_point(set_point)
            return start  # already there: no new soak
        if not _host_ramp(bench, heater.set_point, start, set_point, ramp_c_per_min,
                          should_stop) or \
                settle_heater(bench, set_point, timeout_s, should_stop) is None or \
                not wait(bench, soak_s, should_stop):
            return None
        return float(heater.temperature())
    prober.separate()
    state = prober.heater()
    if abs(state.temperature - set_point) <= SETTLED_C and _ready(state, set_point):
        return float(state.temperature)  # already there and settled: no new soak
    if not _host_ramp(bench, prober.set_heater_temp, float(state.temperature), set_point,
                      ramp_c_per_min, should_stop):
        return None
    prober.set_heater_temp(set_point)
    t_end = bench_clock(bench) + timeout_s
    while True:
        state = prober.heater()
        if _ready(state, set_point):
            break
        if bench_clock(bench) > t_end:
            raise TimeoutError(f"chuck not ready at {set_point:g} C after {timeout_s:g} s "
                               f"(now {state.temperature:g} C, status {state.status!r})")
        if not wait(bench, HEATER_POLL_S, should_stop):
            return None
    if not wait(bench, soak_s, should_stop):
        return None
    return float(prober.heater().temperature)


def heater_to_safe(bench: BenchInterface, celsius: float, wait_s: float | None,
                   should_stop: Callable[[], bool] | None = None) -> tuple[float | None, str]:
    """Separate (with a prober) and send the set point ``celsius`` C to ``bench.heater`` (the
    hot chuck, :class:`instruments.bench_types.ChuckHeater`, or a board heater); with
    ``wait_s`` wait up to that many s of bench time until it reads it. Returns (temperature
    read back C or None, problem text). A bench without a heater: nothing to set back."""
    try:
        heater, prober = bench.heater, bench.prober
        if prober is not None:
            prober.separate()
        if heater is None:
            return device_temperature(bench), ""
        heater.set_point(celsius)
        if prober is None:  # a bench heater: it waits itself, only if asked
            if wait_s:
                heater.set_temperature(celsius, wait_s)
            return device_temperature(bench), ""
        if wait_s:  # the chuck: the prober's status says when it is ready
            t_end = bench_clock(bench) + wait_s
            while not _ready(prober.heater(), celsius) and bench_clock(bench) < t_end:
                if not wait(bench, HEATER_POLL_S, should_stop):
                    break
        return float(prober.heater().temperature), ""
    except Exception as exc:  # reported by the caller: the rest of the safe end still runs
        log.error("heater not set back to %g C: %s", celsius, exc)
        return None, f"heater not set to {celsius:g} C: {exc}"


__all__ = ["CONDITION_COLUMNS", "Condition", "device_temperature", "dosimeter_of",
           "has_heater", "heater_to_safe", "read_condition", "reach_temperature"]
