"""Environment campaigns: a schedule of conditions and a measurement set run at every step.

(The campaign model and its limit checks; the file schema is :mod:`procedures.campaign.schema`,
the executor :mod:`procedures.campaign.executor`.) Example::

    name = "temperature-demo"

    [target]
    lot = "CAMP"                 # data folders and catalog
    wafer_id = "W01"
    die = [9, 9]                 # default die of every measurement (col, row)

    [schedule]
    kind = "temperature"         # temperature | monitor
    set_points_c = [25, 100, 150, 200]
    ramp_c_per_min = 10.0        # C/min; omitted: as fast as the station ramps
    soak_s = 60.0                # s after the station reports the set point ready
    safe_temperature_c = 25.0    # heater set point at the end and on abort

    [[measurements]]
    name = "ber"
    procedure = "ber-2t2r"
    cells = "0,0-3"
    params = { seed = 1 }

    [[limits]]
    figure = "ber.ber_2t2r"      # <measurement>.<figure>
    max = 1e-2
    action = "stop"              # pause | stop

A ``monitor`` schedule measures every ``every_min`` minutes for ``duration_h`` hours (step k is
due ``k * every_min`` minutes after the campaign started, on the bench clock) while an external
condition changes (a beam, a climate chamber), optionally at one chuck ``temperature_c``.

Errors are :class:`CampaignError` naming the file, the line and the key, before anything is
applied (``demo.toml:12: schedule.set_points_c[2]: must be <= 300 C ...``).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instruments.bench_types import BenchInterface
from instruments.limits import SafetyLimits
from instruments.tomlschema import TomlError, find_line, key_path, named_toml, parse_toml
from procedures.framework.base import set_parameters

CAMPAIGN_DIR = Path(__file__).resolve().parents[2] / "resources" / "campaigns"

#: target parameters the campaign sets itself
CAMPAIGN_PARAMS = ("die", "subsite", "chip", "lot", "wafer_id")

SAFE_TEMPERATURE_C = 25.0
"""C. Default heater set point at the end of a campaign and on abort/error/signal."""


class CampaignError(TomlError):
    """A campaign file is malformed or unsafe; names the file, line (if found) and key."""

    def __init__(self, message: str, key: str = "", line: int | None = None,
                 source: str = "") -> None:
        super().__init__(message, key, line, source or "campaign")


@dataclass(frozen=True)
class ScheduleSpec:
    """The conditions of a campaign.

    Attributes:
        kind: ``temperature`` (one step per chuck set point) or ``monitor`` (one step every
            ``every_s`` for ``duration_s``).
        set_points_c: chuck set points of a temperature schedule, C, in order.
        ramp_c_per_min: C/min. The set point moves towards each new temperature at this rate
            (in set-point steps, separated); None = as fast as the station ramps.
        soak_s: s waited after the station reports the set point ready (before contact).
        heater_timeout_s: longest wait for a set point, s.
        every_s, duration_s: monitor schedule: period and length, s.
        temperature_c: monitor schedule: chuck set point kept throughout (None: leave as is).
        safe_temperature_c: heater set point at the end and on abort/error/signal, C.
        cool_down: at the normal end, wait until the chuck reads the safe temperature.
    """

    kind: str = "temperature"
    set_points_c: tuple[float, ...] = ()
    ramp_c_per_min: float | None = None
    soak_s: float = 0.0
    heater_timeout_s: float = 7200.0
    every_s: float = 0.0
    duration_s: float = 0.0
    temperature_c: float | None = None
    safe_temperature_c: float = SAFE_TEMPERATURE_C
    cool_down: bool = True

    def n_steps(self) -> int:
        """Steps of the schedule."""
        if self.kind == "temperature":
            return len(self.set_points_c)
        return int(math.floor(self.duration_s / self.every_s + 1e-9)) + 1

    def set_point(self, step: int) -> float | None:
        """Chuck set point of ``step`` (C), None for a monitor step without temperature."""
        if self.kind == "temperature":
            return float(self.set_points_c[step])
        return self.temperature_c

    def due_s(self, step: int) -> float:
        """s after the campaign started at which a monitor step is due (0 for temperature)."""
        return step * self.every_s if self.kind == "monitor" else 0.0

    def label(self, step: int) -> str:
        """``150 C`` or ``t+30 min``."""
        if self.kind == "temperature":
            return f"{self.set_points_c[step]:g} C"
        return f"t+{self.due_s(step) / 60:g} min"


@dataclass(frozen=True)
class MeasurementSpec:
    """One procedure run at every step.

    Attributes:
        name: label (summary columns ``<name>.<figure>``, limits).
        procedure: registered procedure name.
        params: procedure parameters (converted strictly).
        die: (col, row) or None (the prober stays where it is). subsite: subsite index.
        chip: packaged bench: the board socket to select (outputs off while switching), None
            = the chip routed now. A file's ``chips = [1, 2]`` gives one spec per chip, in order,
            with the same name (limits and summary columns apply to each chip).
        file_index: index of the measurement in the file (``measurements[i]`` of errors).
        keys: file keys of the target ("die", "chip", "subsite"), for line-accurate errors.
        cells, array: cell selection text and array; None = the procedure's default.
        every: run at steps 0, every, 2 * every, ... only.
        follow_temperature: set the procedure's ``temperature_c`` to the step's set point.
    """

    name: str
    procedure: str
    params: dict[str, Any] = field(default_factory=dict)
    die: tuple[int, int] | None = None
    subsite: int = 0
    cells: str | None = None
    array: str | None = None
    every: int = 1
    follow_temperature: bool = False
    chip: int | None = None
    file_index: int = 0
    keys: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def series(self) -> str:
        """Name of this measurement's curve: ``ber``, or ``ber chip 2`` for one chip."""
        return self.name if self.chip is None else f"{self.name} chip {self.chip}"

    def runs_at(self, step: int) -> bool:
        """Whether this measurement runs at ``step``."""
        return step % self.every == 0


@dataclass(frozen=True)
class LimitSpec:
    """A limit on a figure: outside [min, max] the campaign pauses or stops, saying why.

    ``figure`` is ``<measurement>.<figure>`` (a column of ``campaign_summary.csv``)."""

    figure: str
    min: float | None = None
    max: float | None = None
    action: str = "stop"

    def violated(self, value: Any) -> str:
        """Why ``value`` violates the limit ("" if it holds; a missing value holds)."""
        if value is None or not isinstance(value, int | float) or not math.isfinite(value):
            return ""
        if self.max is not None and value > self.max:
            return f"{self.figure} = {value:g} > max {self.max:g}"
        if self.min is not None and value < self.min:
            return f"{self.figure} = {value:g} < min {self.min:g}"
        return ""


@dataclass
class Campaign:
    """A parsed campaign. Build with :func:`load_campaign` / :func:`parse_campaign`.

    ``on_fault``: a measurement that fails (instrument error, timeout) ``stop``s the campaign
    (state ``failed``, resumable: the measurement is redone) or, with ``continue``, is recorded
    (status failed, no figures), the bench made safe, and the campaign goes on."""

    name: str
    description: str
    lot: str
    wafer_id: str
    operator: str
    schedule: ScheduleSpec
    measurements: list[MeasurementSpec]
    limits: list[LimitSpec] = field(default_factory=list)
    on_fault: str = "stop"
    text: str = ""
    source: str = ""

    @property
    def sha256(self) -> str:
        """Hash of the campaign text (a resumed campaign checks it did not change)."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    def error(self, key: str, message: str) -> CampaignError:
        """A CampaignError for ``key`` with the line found in the campaign text."""
        return CampaignError(message, key, find_line(self.text, key_path(key)), self.source)

    def units(self) -> list[tuple[int, int]]:
        """Every (step, measurement index) of the campaign, in order."""
        return [(s, m) for s in range(self.schedule.n_steps())
                for m, spec in enumerate(self.measurements) if spec.runs_at(s)]

    def build(self, m: int, step: int | None = None) -> Any:
        """A procedure instance of measurement ``m`` (for ``step``: its set point followed)."""
        from procedures.framework.registry import procedure_class
        from procedures.framework.targets import target_settings

        spec = self.measurements[m]
        proc = procedure_class(spec.procedure)()
        settings: dict[str, Any] = dict(spec.params)
        if spec.array is not None:
            settings["array"] = spec.array
        if spec.cells is not None:
            settings["cells"] = spec.cells
        settings.update(target_settings(self.lot, self.wafer_id, self.operator, spec.subsite,
                                        spec.die))
        if spec.chip is not None:
            settings["chip"] = int(spec.chip)
        if spec.follow_temperature and step is not None:
            t = self.schedule.set_point(step)
            if t is not None:
                settings["temperature_c"] = t
        set_parameters(proc, settings)
        return proc

    def validate(self, limits: SafetyLimits) -> None:
        """Check temperatures against the bench limits and build and validate every
        measurement at every set point; CampaignError naming the key, nothing applied."""
        s = self.schedule
        temps = [("schedule.safe_temperature_c", s.safe_temperature_c)]
        temps += [(f"schedule.set_points_c[{k}]", t) for k, t in enumerate(s.set_points_c)]
        if s.temperature_c is not None:
            temps.append(("schedule.temperature_c", s.temperature_c))
        for key, t in temps:
            try:
                limits.check_temperature(t)
            except ValueError as exc:
                raise self.error(key, str(exc)) from None
        steps = range(s.n_steps()) if s.kind == "temperature" else [0]
        for m, spec in enumerate(self.measurements):
            for step in steps:
                try:
                    self.build(m, step).validate(limits)
                except (KeyError, ValueError) as exc:
                    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
                    culprit = next((p for p in spec.params
                                    if re.search(rf"\b{re.escape(p)}\b", text)), None)
                    i = spec.file_index
                    key = (f"measurements[{i}].params.{culprit}" if culprit
                           else f"measurements[{i}].procedure")
                    raise self.error(key, f"({spec.name}: {spec.procedure}) {text}") from None

    def check_targets(self, bench: BenchInterface) -> None:
        """Every measurement's target against the bench (queries only, nothing moves):
        chips only on a packaged bench (a socket of its board), dies only with a prober (on
        its wafer map); CampaignError naming the file's line and key."""
        from procedures.framework.board import check_chip_target
        from procedures.framework.validation import check_target

        for spec in self.measurements:
            keys = spec.keys or {}
            try:
                if bench.prober is None or spec.chip is not None:
                    check_chip_target(bench, spec.die, int(spec.subsite), spec.chip)
                elif spec.die is not None:
                    check_target(bench, spec.die, int(spec.subsite))
            except ValueError as exc:
                text = str(exc)
                kind = ("subsite" if text.startswith("subsite") else
                        "chip" if text.startswith("chip") else "die")
                key = keys.get(kind) or keys.get("die") or keys.get("chip") \
                    or f"measurements[{spec.file_index}].procedure"
                raise self.error(key, f"({spec.name}: {spec.procedure}) {text}") from None


def campaign_path(name_or_path: str | Path) -> Path:
    """A campaign file: a path, or a name in ``resources/campaigns`` (``temperature-demo``)."""
    return named_toml(name_or_path, CAMPAIGN_DIR, "campaign", CampaignError)


def load_campaign(name_or_path: str | Path) -> Campaign:
    """Read and check a campaign file (structure; see :meth:`Campaign.validate`)."""
    from instruments.tomlschema import read_toml_text

    path = campaign_path(name_or_path)
    return parse_campaign(read_toml_text(path, CampaignError), str(path))


def parse_campaign(text: str, source: str = "campaign") -> Campaign:
    """Parse campaign TOML text; CampaignError naming the line/key of the first problem."""
    from procedures.campaign.schema import build_campaign

    doc = parse_toml(text, source, CampaignError)
    return build_campaign(doc, text, source)


__all__ = [
    "CAMPAIGN_DIR", "Campaign", "CampaignError", "LimitSpec", "MeasurementSpec",
    "SAFE_TEMPERATURE_C", "ScheduleSpec", "campaign_path", "load_campaign", "parse_campaign",
]
