"""Schema of a bench TOML file (pydantic v2), with bounds from the instruments' ratings.

A bench file must say what it is: ``kind`` and a complete ``[limits]`` table are required (an
empty file is an error, never a silent fallback to default limits). Unknown keys, wrong types,
NaN/inf and values beyond what the instruments can do are refused with the file, line and key.

Where each bound comes from (the bench's own limits are meant to be far lower):

========================  ================  ====================================================
key                       bound             source
========================  ================  ====================================================
limits.max_voltage.<T>    0 < V <= 100 V    B1517A HRSMU: +/-100 V output (Keysight B1500A
                                            data sheet); a terminal wired *only* to WGFMU
                                            channels: <= 10 V (B1530A output -10..+10 V)
limits.max_compliance     0 < I <= 0.1 A    B1517A HRSMU: 100 mA highest current range
limits.max_power          0 < P <= 2 W      B1517A HRSMU: 2 W maximum output power (100 V at
                                            20 mA or 20 V at 100 mA)
limits.*_chuck_temp...    -60 .. 300 C      FormFactor thermal chuck systems (Summit/Elite
                                            200 mm): -60 C .. +300 C; min < max
simulated.time_scale      0 < s <= 1e4      a simulated clock that runs forward; faster than
                                            1e4 x makes heater and retention waits meaningless
simulated.seed            0 .. 2**32 - 1    numpy's seed range
timing.<field>            0 <= s < 3600     modeled durations (instruments/sim/timing.py)
wiring.smu keys           1 .. 10           B1500A mainframe: 10 module slots
wiring.wgfmu keys         slot*100 + ch     slot 1..10, channel 1..2 (B1530A: two channels)
heater (thermostream)     -99.9 .. 225 C    ThermoStream SETP range (pymeasure temptronic
                                            driver): [limits] *_chuck_temperature within it;
                                            window 0.1..9.9 C, soak 0..9999 s, DUTC 20..500
========================  ================  ====================================================

``instruments.visa_library`` chooses the pyvisa backend the drivers open their resources with:
``""`` is pyvisa's default, the system VISA (Keysight IO Libraries or NI-VISA: what drives a lab
PC's GPIB card), ``"@py"`` is pyvisa-py (sockets, serial; GPIB only through linux-gpib), or a path
to a VISA library. Default: ``""`` for a lab bench, ``"@py"`` for the simulated bench.
"""

from __future__ import annotations

from dataclasses import fields as dc_fields
from typing import Annotated, Any, Literal

from pydantic import Field, create_model, field_validator, model_validator

from instruments.limits import TERMINALS
from instruments.sim.timing import BenchTiming
from instruments.temptronic.thermostream_commands import SETTINGS as THERMOSTREAM_SETTINGS
from instruments.tomlschema import StrictModel
from instruments.wiring import smu_wiring, wgfmu_wiring

SMU_MAX_V = 100.0
"""B1517A HRSMU output voltage rating, V."""
WGFMU_MAX_V = 10.0
"""B1530A WGFMU output range, V (-10 .. +10 V)."""
SMU_MAX_I = 0.1
"""B1517A HRSMU highest current range, A."""
SMU_MAX_P = 2.0
"""B1517A HRSMU maximum output power, W."""
CHUCK_MIN_C, CHUCK_MAX_C = -60.0, 300.0
"""Thermal chuck range of FormFactor 200 mm stations, degC."""
MAX_TIME_SCALE = 1e4
"""Fastest simulated clock, simulated s per wall-clock s."""

DEFAULT_VISA = {"lab": "", "simulated": "@py"}
"""VISA library per bench kind: the system VISA on a lab PC, pyvisa-py for the twin."""

Volts = Annotated[float, Field(gt=0, le=SMU_MAX_V, description="B1517A HRSMU output rating",
                               json_schema_extra={"units": "V"})]


def _terminal(value: object) -> str:
    if not isinstance(value, str) or value.upper() not in TERMINALS:
        raise ValueError(f"terminal must be one of {', '.join(TERMINALS)}, not {value!r}")
    return value.upper()


class LimitsSchema(StrictModel):
    """``[limits]``: every key required."""

    max_voltage: dict[str, Volts] = Field(description="B1517A HRSMU output rating",
                                          json_schema_extra={"units": "V"})
    max_compliance: float = Field(gt=0, le=SMU_MAX_I, json_schema_extra={"units": "A"},
                                  description="B1517A HRSMU 100 mA range")
    max_power: float = Field(gt=0, le=SMU_MAX_P, json_schema_extra={"units": "W"},
                             description="B1517A HRSMU 2 W output power")
    max_chuck_temperature: float = Field(ge=CHUCK_MIN_C, le=CHUCK_MAX_C,
                                         json_schema_extra={"units": "C"},
                                         description="thermal chuck range -60 .. 300 C")
    min_chuck_temperature: float = Field(ge=CHUCK_MIN_C, le=CHUCK_MAX_C,
                                         json_schema_extra={"units": "C"},
                                         description="thermal chuck range -60 .. 300 C")

    @field_validator("max_voltage", mode="before")
    @classmethod
    def _terminals(cls, value: object) -> object:
        if isinstance(value, dict):
            for key in value:
                _terminal(key)
            return {k.upper(): v for k, v in value.items()}
        return value

    @field_validator("max_voltage")
    @classmethod
    def _every_terminal(cls, value: dict[str, float]) -> dict[str, float]:
        missing = [t for t in TERMINALS if t not in value]
        if missing:
            raise ValueError(f"give a limit for every terminal; missing: {', '.join(missing)}")
        return value

    @model_validator(mode="after")
    def _order(self) -> LimitsSchema:
        if self.min_chuck_temperature >= self.max_chuck_temperature:
            raise ValueError("min_chuck_temperature must be below max_chuck_temperature")
        return self


class WiringSchema(StrictModel):
    """``[wiring]``: B1500 SMU slot -> terminal, WGFMU channel id -> terminal."""

    smu: dict[int, str] = Field(default_factory=smu_wiring)
    wgfmu: dict[int, str] = Field(default_factory=wgfmu_wiring)

    @field_validator("smu", mode="before")
    @classmethod
    def _smu(cls, value: object) -> object:
        return _channels(value, lambda n: 1 <= n <= 10, "an SMU slot 1..10")

    @field_validator("wgfmu", mode="before")
    @classmethod
    def _wgfmu(cls, value: object) -> object:
        return _channels(value, lambda n: 1 <= n // 100 <= 10 and n % 100 in (1, 2),
                         "a WGFMU channel id slot*100+channel (101..1002, channel 1 or 2)")


def _channels(value: object, ok: object, what: str) -> object:
    if not isinstance(value, dict):
        return value
    out = {}
    for key, term in value.items():
        try:
            n = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"{key!r} is not {what}") from None
        if not ok(n):  # type: ignore[operator]
            raise ValueError(f"{key!r} is not {what}")
        out[n] = _terminal(term)
    return out


class InstrumentsSchema(StrictModel):
    """``[instruments]``: VISA resource per instrument, the WGFMU library, the VISA library."""

    b1500: str | None = None
    wgfmu: str | None = None
    prober: str | None = None
    chip: str | None = None
    wgfmu_library: str = "wgfmu.dll"
    visa_library: str | None = Field(
        default=None, description='pyvisa backend: "" system VISA, "@py" pyvisa-py, or a path')
    wgfmu_self_calibration: bool | None = Field(
        default=None, description="WGFMU_doSelfCalibration at bench open (default: lab benches)")
    chip_scan: bool = Field(
        default=True, description="use the chip controller's scan mode when it reports SCAN "
        "(false: read cell by cell, e.g. no trigger cable from the B1500)")


class SimulatedSchema(StrictModel):
    """``[simulated]``: the twin's seed and clock."""

    seed: int = Field(default=1, ge=0, le=2**32 - 1, description="numpy seed range")
    time_scale: float = Field(default=1.0, gt=0, le=MAX_TIME_SCALE,
                              description="simulated s per wall-clock s")
    latency_ms: float = Field(default=0.0, ge=0, le=10_000,
                              description="delay (ms) before each command, like a real bench")
    pace: bool = Field(default=False, description="take the modeled bench time in wall-clock")


#: ``[timing]``: overrides of the modeled durations (s), one key per
#: :class:`~instruments.sim.timing.BenchTiming` field (the defaults and their sources live there)
_TIMING_FIELDS: dict[str, Any] = {
    f.name: (float, Field(default=f.default, ge=0, lt=3600, description="modeled seconds"))
    for f in dc_fields(BenchTiming)
}
TimingSchema = create_model("TimingSchema", __base__=StrictModel, **_TIMING_FIELDS)


class ProberSchema(StrictModel):
    """``[prober]``: how the Velox prober is talked to.

    ``transport``: ``"plain"`` command lines (GPIB, or a raw socket) or ``"message-server"``
    (FormFactor's Velox message server on TCP 1412: register, then ``Cmd=<id>:...`` framing).
    Not given: the message server for a socket on port 1412, plain otherwise (see
    :func:`instruments.cascade.velox_commands.default_transport`). On the simulated bench
    ``message-server`` uses the twin's second prober port.
    """

    transport: Literal["plain", "message-server"] | None = None


class ChipSchema(StrictModel):
    """``[chip]``."""

    type: str = "memprobe-rram-1k"


MAX_SOCKETS = 64
"""Most chip sockets one board multiplexer selects (a 6-bit socket address)."""


class BoardSchema(StrictModel):
    """``[board]``: a test board of packaged chips instead of a prober (docs/packaged-chips.md).

    ``sockets``: chip sockets the chip controller's board multiplexer selects (``BOARD:SEL``).
    ``dies``: optional origin die ``[col, row]`` of the chip in each socket (as marked on the
    packages): the die recorded with each run; on the simulated bench, the dies mounted. Not
    given: the controller's ``BOARD:ID?`` (the twin mounts the first good dies).
    """

    sockets: int = Field(ge=1, le=MAX_SOCKETS, description="chip sockets on the board")
    dies: list[Annotated[list[int], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list, description="origin die [col, row] per socket")

    @model_validator(mode="after")
    def _dies_fit(self) -> BoardSchema:
        if len(self.dies) > self.sockets:
            raise ValueError(f"{len(self.dies)} dies for {self.sockets} sockets")
        if len({tuple(d) for d in self.dies}) != len(self.dies):
            raise ValueError("a die is listed twice: each socket holds its own chip")
        return self


MAX_DOSE_RATE_GY_S = 1e4
"""Highest dose rate of a bench file, Gy(Si)/s: Co-60 cells give up to ~100 Gy/s, proton and
X-ray facilities more; beyond 1e4 Gy/s a flash source upsets everything (not modeled)."""


class TypedEntrySchema(StrictModel):
    """One typed-in dose: ``dose_gy`` at bench time ``time_s``, ``dose_rate_gy_s`` from then on."""

    time_s: float = Field(ge=0, json_schema_extra={"units": "s"}, description="bench time")
    dose_gy: float = Field(ge=0, json_schema_extra={"units": "Gy"}, description="Gy(Si)")
    dose_rate_gy_s: float = Field(default=0.0, ge=0, le=MAX_DOSE_RATE_GY_S,
                                  json_schema_extra={"units": "Gy/s"}, description="Gy(Si)/s")


class BeamSegmentSchema(StrictModel):
    """One beam-on segment of the simulated facility (lab-clock seconds)."""

    start_s: float = Field(ge=0, json_schema_extra={"units": "s"}, description="lab time")
    stop_s: float = Field(gt=0, json_schema_extra={"units": "s"}, description="lab time")
    dose_rate_gy_s: float = Field(ge=0, le=MAX_DOSE_RATE_GY_S,
                                  json_schema_extra={"units": "Gy/s"}, description="Gy(Si)/s")

    @model_validator(mode="after")
    def _order(self) -> BeamSegmentSchema:
        if self.stop_s <= self.start_s:
            raise ValueError(f"stop_s = {self.stop_s:g} must be after start_s = "
                             f"{self.start_s:g}")
        return self


#: keys of ``[dosimetry]`` that only some kinds use
_DOSIMETRY_KEYS = {
    "typed": {"dose_rate_gy_s", "start_s", "entries"},
    "log": {"path"},
    "simulated": {"dose_rate_gy_s", "path", "log_period_s", "particle", "fluence_per_gy",
                  "beam"},
}


class DosimetrySchema(StrictModel):
    """``[dosimetry]``: where the dose comes from (``docs/dosimetry.md``).

    ``kind = "typed"``: ``dose_rate_gy_s`` from ``start_s`` on, or a list of ``entries``;
    ``"log"``: the facility's log file ``path``; ``"simulated"``: the twin's beam (constant
    ``dose_rate_gy_s`` or a ``beam`` schedule; its log written to ``path`` every
    ``log_period_s``). No instrument driver (an electrometer with an ion chamber) exists yet.
    """

    kind: Literal["typed", "log", "simulated"]
    dose_rate_gy_s: float = Field(default=0.0, ge=0, le=MAX_DOSE_RATE_GY_S,
                                  json_schema_extra={"units": "Gy/s"}, description="Gy(Si)/s")
    start_s: float = Field(default=0.0, ge=0, json_schema_extra={"units": "s"},
                           description="bench time the typed rate starts at")
    entries: list[TypedEntrySchema] = Field(default_factory=list)
    path: str = Field(default="", max_length=1024, description="dosimetry log file")
    log_period_s: float = Field(default=10.0, gt=0, le=3600, json_schema_extra={"units": "s"},
                                description="simulated facility: one log line per period")
    particle: Literal["gamma", "proton"] = "gamma"
    fluence_per_gy: float | None = Field(default=None, gt=0, le=1e15,
                                         json_schema_extra={"units": "1/(cm^2 Gy)"},
                                         description="particles per cm^2 per Gy(Si)")
    beam: list[BeamSegmentSchema] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> DosimetrySchema:
        given = set(self.model_fields_set) - {"kind"}
        extra = sorted(given - _DOSIMETRY_KEYS[self.kind])
        if extra:
            raise ValueError(f"{', '.join(extra)} not used by kind = {self.kind!r} (keys: "
                             f"{', '.join(sorted(_DOSIMETRY_KEYS[self.kind]))})")
        if self.kind == "log" and not self.path:
            raise ValueError('kind = "log" needs the path of the facility\'s log file')
        if self.kind == "typed" and self.entries and "dose_rate_gy_s" in given:
            raise ValueError("give either dose_rate_gy_s or entries, not both")
        if self.kind == "simulated" and self.beam and "dose_rate_gy_s" in given:
            raise ValueError("give either dose_rate_gy_s or a beam schedule, not both")
        for name, items in (("entries", self.entries), ("beam", self.beam)):
            for k in range(1, len(items)):
                a, b = items[k - 1], items[k]
                t_a = getattr(a, "time_s", None) if name == "entries" else a.stop_s
                t_b = getattr(b, "time_s", None) if name == "entries" else b.start_s
                if t_b < t_a:
                    raise ValueError(f"{name}[{k}] starts before {name}[{k - 1}] ends")
                if name == "entries" and b.dose_gy < a.dose_gy:
                    raise ValueError(f"entries[{k}].dose_gy is below entries[{k - 1}]'s (a "
                                     "dose never decreases)")
        return self


def _thermostream_field(name: str, default: float, units: str) -> Any:
    s = THERMOSTREAM_SETTINGS[name]
    return Field(default=default, ge=s.low, le=s.high, json_schema_extra={"units": units},
                 description=f"ThermoStream {name}: {s.description}")


class HeaterSchema(StrictModel):
    """``[heater]``: the temperature instrument of a packaged bench (docs/packaged-chips.md).

    ``kind = "thermostream"``: an inTEST/Temptronic ThermoStream over the board's sockets at
    VISA ``address`` (a simulated bench serves the twin's; leave it out there). Its set points
    are bounded by ``[limits]`` ``min/max_chuck_temperature`` (the device temperature limits of
    any bench); ``safe_temperature`` is where it is sent at the end, on abort and at exit.
    """

    kind: Literal["thermostream"]
    address: str = Field(default="", max_length=256, description="VISA resource")
    safe_temperature: float = Field(default=25.0, json_schema_extra={"units": "C"},
                                    description="set point at the end, on abort and at exit")
    window: float = _thermostream_field("WNDW", 1.0, "C")
    soak_s: float = _thermostream_field("SOAK", 30.0, "s")
    dut_constant: float = _thermostream_field("DUTC", 100.0, "")


class BenchSchema(StrictModel):
    """A whole bench file. Field order = the order problems are reported in."""

    name: str | None = None
    description: str = ""
    kind: Literal["simulated", "lab"]
    station: str = Field(default="", max_length=64,
                         description="probe station recorded with each run (default: host name)")
    operator: str = Field(default="", max_length=64,
                          description="default operator of this bench's runs")
    catalog: str = Field(default="", max_length=1024,
                         description="catalog SQLAlchemy URL shared by stations (default: "
                                     "<data root>/catalog.sqlite)")
    lock_dir: str = Field(default="", max_length=1024,
                          description="folder of the instruments' ownership locks, shared by "
                                      "every user of this computer (default: machine-wide)")
    board: BoardSchema | None = None  # before instruments: a packaged bench needs no prober
    instruments: InstrumentsSchema = Field(default_factory=InstrumentsSchema)
    wiring: WiringSchema = Field(default_factory=WiringSchema)
    simulated: SimulatedSchema = Field(default_factory=SimulatedSchema)
    timing: TimingSchema = Field(default_factory=TimingSchema)  # type: ignore[valid-type]
    limits: LimitsSchema
    prober: ProberSchema = Field(default_factory=ProberSchema)
    chip: ChipSchema = Field(default_factory=ChipSchema)
    dosimetry: DosimetrySchema | None = None
    heater: HeaterSchema | None = None

    @field_validator("heater")
    @classmethod
    def _heater_fits(cls, value: HeaterSchema | None, info: object) -> object:
        if value is None:
            return value
        data = getattr(info, "data", {})
        if data.get("board") is None:
            raise ValueError("a [heater] belongs to a packaged bench ([board]); a wafer bench "
                             "heats with the prober's chuck")
        if data.get("kind") == "lab" and not value.address:
            raise ValueError("a lab bench's [heater] needs the instrument's address")
        if data.get("kind") == "simulated" and value.address:
            raise ValueError("a simulated bench serves its own ThermoStream: leave address out")
        lim = data.get("limits")
        sp = THERMOSTREAM_SETTINGS["SETP"]
        if lim is not None:
            for key in ("min_chuck_temperature", "max_chuck_temperature"):
                t = getattr(lim, key)
                if not sp.low <= t <= sp.high:
                    raise ValueError(f"[limits] {key} = {t:g} C is beyond the ThermoStream's "
                                     f"range {sp.low:g}..{sp.high:g} C")
            if not lim.min_chuck_temperature <= value.safe_temperature <= \
                    lim.max_chuck_temperature:
                raise ValueError(f"safe_temperature = {value.safe_temperature:g} C is outside "
                                 f"[limits] {lim.min_chuck_temperature:g}.."
                                 f"{lim.max_chuck_temperature:g} C")
        return value

    @field_validator("dosimetry")
    @classmethod
    def _simulated_beam_on_twin(cls, value: DosimetrySchema | None, info: object) -> object:
        if value is not None and value.kind == "simulated" and \
                getattr(info, "data", {}).get("kind") != "simulated":
            raise ValueError('kind = "simulated" (the twin\'s beam) needs a simulated bench; a '
                             'lab bench reads "typed" doses or the facility\'s "log"')
        return value

    @field_validator("instruments")
    @classmethod
    def _lab_has_every_instrument(cls, value: InstrumentsSchema, info: object) -> object:
        data = getattr(info, "data", {})
        board = data.get("board")
        no_prober = not value.prober or value.prober.lower() == "none"
        if board is not None and not no_prober:
            raise ValueError("[board] (packaged chips) and [instruments] prober exclude each "
                             'other: a packaged bench has no prober (prober = "none")')
        if data.get("kind") == "lab":
            missing = [n for n in ("b1500", "wgfmu", "prober", "chip")
                       if (no_prober and board is None if n == "prober"
                           else not getattr(value, n))]
            if missing:
                hint = (' (no prober: give a [board] of packaged chips and prober = "none")'
                        if "prober" in missing else "")
                raise ValueError(f"[instruments] lacks {', '.join(missing)}{hint}")
        return value

    @field_validator("limits")
    @classmethod
    def _within_wired_ratings(cls, value: LimitsSchema, info: object) -> LimitsSchema:
        wiring = getattr(info, "data", {}).get("wiring")
        if wiring is None:
            return value
        for term in set(wiring.wgfmu.values()) - set(wiring.smu.values()):
            if value.max_voltage[term] > WGFMU_MAX_V:
                raise ValueError(f"max_voltage.{term} = {value.max_voltage[term]:g} V is over "
                                 f"the B1530A WGFMU output range ({WGFMU_MAX_V:g} V), the only "
                                 "instrument wired to it")
        return value

    @property
    def visa(self) -> str:
        """The VISA library to open resources with (the bench kind's default if not given)."""
        given = self.instruments.visa_library
        return DEFAULT_VISA[self.kind] if given is None else given


__all__ = [
    "BeamSegmentSchema", "DosimetrySchema", "MAX_DOSE_RATE_GY_S", "TypedEntrySchema",
    "BenchSchema", "BoardSchema", "CHUCK_MAX_C", "CHUCK_MIN_C", "DEFAULT_VISA", "LimitsSchema",
    "HeaterSchema", "ProberSchema",
    "MAX_TIME_SCALE", "SMU_MAX_I", "SMU_MAX_P", "SMU_MAX_V", "TimingSchema", "WGFMU_MAX_V",
]
