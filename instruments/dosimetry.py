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

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from instruments.bench_schema import DosimetrySchema

#: columns of a dosimetry log file, in this order (docs/dosimetry.md); ``time`` and ``dose_gy``
#: are required, the others may be missing from the header or empty in a line
LOG_COLUMNS = ("time", "dose_gy", "dose_rate_gy_s", "fluence_cm2", "flux_cm2_s", "beam")
#: first line the twin's facility writes (any ``#`` line is a comment)
LOG_HEADER_COMMENT = "# MemProbe dosimetry log, format 1 (docs/dosimetry.md)"
_BEAM_WORDS = {"on": True, "1": True, "true": True, "off": False, "0": False, "false": False}


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


class DosimetryError(ValueError):
    """A dose source cannot give a reading (malformed log line, missing file, bad entry)."""


# ------------------------------------------------------------------------------------------------
# Typed in
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TypedEntry:
    """A dose typed in by the operator: ``dose_gy`` at bench time ``time_s``, and the dose rate
    (Gy(Si)/s) from then on (the dose between entries grows at that rate)."""

    time_s: float
    dose_gy: float
    dose_rate_gy_s: float = 0.0


class TypedDosimeter:
    """Dose typed in: entries (bench time, dose, rate from then on); a constant rate is one entry.

    Args:
        clock: the bench clock (s), :meth:`instruments.bench.Bench.clock`.
        entries: the typed entries, in time order (dose never decreasing).
    """

    def __init__(self, clock: Callable[[], float], entries: list[TypedEntry] | None = None
                 ) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self.entries: list[TypedEntry] = []
        for e in entries or []:
            self.type_in(e.dose_gy, e.dose_rate_gy_s, e.time_s)

    @classmethod
    def constant_rate(cls, clock: Callable[[], float], dose_rate_gy_s: float,
                      start_s: float = 0.0) -> TypedDosimeter:
        """Dose = ``dose_rate_gy_s`` x (bench time - ``start_s``) (0 before ``start_s``)."""
        return cls(clock, [TypedEntry(start_s, 0.0, dose_rate_gy_s)])

    def type_in(self, dose_gy: float, dose_rate_gy_s: float = 0.0,
                time_s: float | None = None) -> TypedEntry:
        """Add an entry (at the bench clock's present time unless ``time_s`` is given)."""
        t = self.clock() if time_s is None else float(time_s)
        for name, v in (("time_s", t), ("dose_gy", dose_gy), ("dose_rate_gy_s", dose_rate_gy_s)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise DosimetryError(f"typed dose entry: {name} = {v!r} must be a number >= 0")
        entry = TypedEntry(t, float(dose_gy), float(dose_rate_gy_s))
        with self._lock:
            if self.entries:
                last = self.entries[-1]
                if t < last.time_s:
                    raise DosimetryError(f"typed dose entry at {t:g} s is before the last one "
                                         f"({last.time_s:g} s)")
                if entry.dose_gy < self._dose(last, t) * (1 - 1e-9) - 1e-12:
                    raise DosimetryError(f"typed dose {dose_gy:g} Gy at {t:g} s is below the "
                                         f"dose already reached ({self._dose(last, t):g} Gy)")
            self.entries.append(entry)
        return entry

    @staticmethod
    def _dose(e: TypedEntry, t: float) -> float:
        return e.dose_gy + e.dose_rate_gy_s * max(t - e.time_s, 0.0)

    def read(self) -> DoseReading:
        """Dose at the bench clock's present time (0, beam off, before the first entry)."""
        t = self.clock()
        with self._lock:
            past = [e for e in self.entries if e.time_s <= t]
        if not past:
            return DoseReading(t, 0.0, 0.0, beam_on=False, source="typed")
        e = past[-1]
        return DoseReading(t, self._dose(e, t), e.dose_rate_gy_s,
                           beam_on=e.dose_rate_gy_s > 0, source="typed")


# ------------------------------------------------------------------------------------------------
# The facility's log file
# ------------------------------------------------------------------------------------------------
def _number(text: str, name: str, where: str, required: bool) -> float | None:
    text = text.strip()
    if not text:
        if required:
            raise DosimetryError(f"{where}: {name} is empty")
        return None
    try:
        v = float(text)
    except ValueError:
        raise DosimetryError(f"{where}: {name} {text!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise DosimetryError(f"{where}: {name} {text!r} must be a finite number >= 0")
    return v


class LogDosimeter:
    """Reads a facility's dosimetry log (CSV, ``docs/dosimetry.md``) as it is being appended.

    Each :meth:`read` parses the complete lines added since the last one (a line still being
    written, without its newline, waits for the next read) and returns the latest. A malformed
    line raises :class:`DosimetryError` naming the file and line; so does a file that shrank.

    Args:
        path: the log file.
        clock: the bench clock (s); ISO 8601 times in the file are turned into bench seconds
            with the wall time the clock was at 0 (``t0``), bare numbers are bench seconds.
        t0: wall time (UTC) of bench time 0; default: now minus ``clock()``.
        source: the label of the readings (default ``log:<file name>``).
    """

    def __init__(self, path: Path, clock: Callable[[], float], t0: datetime | None = None,
                 source: str = "") -> None:
        self.path = Path(path)
        self.clock = clock
        self.t0 = t0 or (datetime.now(UTC) - timedelta(seconds=float(clock())))
        self.source = source or f"log:{self.path.name}"
        self._lock = threading.Lock()
        self._offset = 0  # bytes parsed
        self._line_no = 0  # lines parsed
        self._columns: list[str] | None = None
        #: every reading parsed so far, in file order
        self.history: list[DoseReading] = []

    def read(self) -> DoseReading:
        """The latest reading in the file (dose 0, beam off, while it has no data line)."""
        with self._lock:
            self._parse_new()
            if self.history:
                return self.history[-1]
        return DoseReading(self.clock(), 0.0, 0.0, beam_on=False, source=self.source)

    def _parse_new(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                if size < self._offset:
                    raise DosimetryError(f"{self.path}: the log file shrank ({size} bytes < "
                                         f"{self._offset} already read); was it replaced?")
                f.seek(self._offset)
                chunk = f.read()
        except OSError as exc:
            raise DosimetryError(f"{self.path}: cannot read the dosimetry log: {exc}") from None
        end = chunk.rfind(b"\n")
        if end < 0:
            return
        for raw in chunk[: end + 1].split(b"\n")[:-1]:
            self._line_no += 1
            self._offset += len(raw) + 1
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise DosimetryError(f"{self.path}:{self._line_no}: not UTF-8 text") from None
            if not line or line.startswith("#"):
                continue
            if self._columns is None:
                self._columns = self._header(line)
                continue
            self.history.append(self._reading(line))

    def _header(self, line: str) -> list[str]:
        where = f"{self.path}:{self._line_no}"
        cols = [c.strip().lower() for c in line.split(",")]
        for need in ("time", "dose_gy"):
            if need not in cols:
                raise DosimetryError(f"{where}: the header needs a {need!r} column (columns: "
                                     f"{', '.join(LOG_COLUMNS)}), got {line!r}")
        if len(set(cols)) != len(cols):
            raise DosimetryError(f"{where}: a column repeats in the header {line!r}")
        return cols

    def _time(self, text: str, where: str) -> float:
        text = text.strip()
        try:
            return float(text) if text[:1].isdigit() and ":" not in text else self._iso(text)
        except ValueError:
            raise DosimetryError(f"{where}: time {text!r} is neither bench seconds nor an ISO "
                                 "8601 time") from None

    def _iso(self, text: str) -> float:
        ts = datetime.fromisoformat(text)
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)  # documented: a time without zone is UTC
        return (ts - self.t0).total_seconds()

    def _reading(self, line: str) -> DoseReading:
        assert self._columns is not None
        where = f"{self.path}:{self._line_no}"
        cells = line.split(",")
        if len(cells) != len(self._columns):
            raise DosimetryError(f"{where}: {len(cells)} fields, the header has "
                                 f"{len(self._columns)}: {line!r}")
        row: dict[str, str] = dict(zip(self._columns, cells, strict=True))
        t = self._time(row["time"], where)
        if not math.isfinite(t):
            raise DosimetryError(f"{where}: time {row['time']!r} is not finite")
        dose = _number(row["dose_gy"], "dose_gy", where, required=True)
        assert dose is not None
        rate = _number(row.get("dose_rate_gy_s", ""), "dose_rate_gy_s", where, False)
        fluence = _number(row.get("fluence_cm2", ""), "fluence_cm2", where, False)
        flux = _number(row.get("flux_cm2_s", ""), "flux_cm2_s", where, False)
        prev = self.history[-1] if self.history else None
        if prev is not None:
            if t < prev.time_s:
                raise DosimetryError(f"{where}: time {row['time'].strip()!r} is before the "
                                     "previous line's")
            if dose < prev.dose_gy:
                raise DosimetryError(f"{where}: dose_gy {dose:g} is below the previous line's "
                                     f"{prev.dose_gy:g} (a dose never decreases)")
        if rate is None:  # derived from the previous line
            dt = t - prev.time_s if prev is not None else 0.0
            rate = (dose - prev.dose_gy) / dt if prev is not None and dt > 0 else 0.0
        beam_text = row.get("beam", "").strip().lower()
        if beam_text and beam_text not in _BEAM_WORDS:
            raise DosimetryError(f"{where}: beam {row['beam'].strip()!r} is not on/off")
        beam_on = _BEAM_WORDS[beam_text] if beam_text else rate > 0
        return DoseReading(t, dose, rate, fluence, flux, beam_on, self.source)


class SimulatedDosimeter(LogDosimeter):
    """The twin facility's dosimetry: the log its beam writes on the lab clock, read back with
    the same reader as a real facility's file (each read first lets the lab write what is due).
    """

    def __init__(self, lab: Any, path: Path, clock: Callable[[], float]) -> None:
        super().__init__(path, clock, source=f"twin:{Path(path).name}")
        self.lab = lab

    def read(self) -> DoseReading:
        with self.lab.lock:
            self.lab.radiation.on_clock(self.lab.now())
        return super().read()


# ------------------------------------------------------------------------------------------------
# From the bench file
# ------------------------------------------------------------------------------------------------
def from_config(cfg: DosimetrySchema | None, lab: Any = None,
                clock: Callable[[], float] | None = None,
                data_dir: Path | None = None, fresh: bool = False) -> Dosimeter | None:
    """The bench's dosimeter from its ``[dosimetry]`` table (None without one).

    ``kind = "simulated"`` also puts the beam into the simulated ``lab`` (its facility writes the
    log to ``path``, by default ``<data_dir>/dosimetry/twin-dose-log.csv``). On a continued wafer
    (not ``fresh``) an earlier session's log is kept as ``<name>.<n>.csv`` and its last dose
    carried on, so the dose of a resumed campaign goes on from where it was. Relative paths are
    relative to ``data_dir`` (the working directory without one).
    """
    if cfg is None:
        return None
    clock = clock or (lab.now if lab is not None else None)
    if clock is None:
        raise DosimetryError("a dosimeter needs the bench clock")
    base = Path(data_dir) if data_dir is not None else Path.cwd()
    if cfg.kind == "typed":
        if cfg.entries:
            return TypedDosimeter(clock, [TypedEntry(e.time_s, e.dose_gy, e.dose_rate_gy_s)
                                          for e in cfg.entries])
        return TypedDosimeter.constant_rate(clock, cfg.dose_rate_gy_s, cfg.start_s)
    path = Path(cfg.path) if cfg.path else None
    if path is not None and not path.is_absolute():
        path = base / path
    if cfg.kind == "log":
        assert path is not None  # the schema requires it
        return LogDosimeter(path, clock)
    if lab is None:
        raise DosimetryError('[dosimetry] kind = "simulated" needs the simulated bench')
    from instruments.sim.radiation import BeamConfig, BeamSegment, RadiationSource

    beam = BeamConfig(
        particle=cfg.particle, dose_rate_gy_s=cfg.dose_rate_gy_s,
        schedule=tuple(BeamSegment(b.start_s, b.stop_s, b.dose_rate_gy_s) for b in cfg.beam),
        fluence_per_gy=cfg.fluence_per_gy,
    )
    if path is None:
        root = Path(data_dir) if data_dir is not None else Path.cwd() / "data"
        path = root / "dosimetry" / "twin-dose-log.csv"
    offset = 0.0
    if path.exists() and not fresh:  # a continued wafer: its chips keep their absorbed dose
        offset = LogDosimeter(path, clock).read().dose_gy
        path.replace(_free_name(path))
    source = RadiationSource(beam, lab.config.params, lab.config.seed, dose_offset_gy=offset)
    with lab.lock:
        lab.attach_radiation(source)
        source.log_to(path, cfg.log_period_s, lab.now())
    return SimulatedDosimeter(lab, path, clock)


def _free_name(path: Path) -> Path:
    """``<stem>.<n><suffix>`` beside ``path`` for the first n >= 1 not taken."""
    n = 1
    while (old := path.with_name(f"{path.stem}.{n}{path.suffix}")).exists():
        n += 1
    return old
