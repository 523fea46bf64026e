"""Schema of a campaign file (pydantic v2 models) and its conversion to a :class:`Campaign`.

The same two passes as recipes (:mod:`procedures.wafer.recipe_schema`), with errors that name the
file, the line and the key (``demo.toml:14: measurements[0].params.seed: ...``):

1. :class:`CampaignSchema` checks the structure (:class:`~instruments.tomlschema.StrictModel`:
   unknown keys, types, NaN/inf, choices, bounds: temperatures within the thermal chuck's range,
   ramp rates up to 100 C/min, monitor periods from 1 s to 30 days);
2. :func:`build_campaign` checks what needs more than one key: procedures and their parameters
   (converted strictly, as on the command line), cells, schedule kind against its keys, limits
   naming a measurement of the campaign, names used in folders.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from instruments.bench_schema import CHUCK_MAX_C, CHUCK_MIN_C
from instruments.tomlschema import StrictModel, TomlError, key_text, validate_toml
from procedures.framework.toml_build import TomlBuilder
from procedures.wafer.recipe_schema import Die, Text, chuck_c


class TargetSchema(StrictModel):
    lot: Text = "CAMPAIGN"
    wafer_id: Text = "W00"
    operator: Text = ""
    die: Die | None = None
    subsite: int = Field(0, ge=0, le=999)
    chip: int | None = Field(None, ge=0, le=63, description="packaged bench: board socket")
    chips: list[int] | None = Field(None, min_length=1, max_length=64,
                                    description="packaged bench: board sockets, one run each")


class ScheduleSchema(StrictModel):
    kind: Literal["temperature", "monitor"]
    set_points_c: list[float] | None = Field(None, min_length=1, max_length=200)
    ramp_c_per_min: float | None = Field(None, gt=0.0, le=100.0,
                                         json_schema_extra={"units": "C/min"})
    soak_s: float = Field(0.0, ge=0.0, le=86_400.0, json_schema_extra={"units": "s"})
    heater_timeout_s: float = Field(7200.0, gt=0.0, le=86_400.0, json_schema_extra={"units": "s"})
    every_min: float | None = Field(None, ge=1 / 60, le=43_200.0,
                                    json_schema_extra={"units": "min"})
    duration_h: float | None = Field(None, gt=0.0, le=8_760.0, json_schema_extra={"units": "h"})
    temperature_c: float | None = chuck_c()
    safe_temperature_c: float = chuck_c(25.0)
    cool_down: bool = True


class MeasurementSchema(StrictModel):
    name: str | None = None
    procedure: str
    params: dict[str, Any] = Field(default_factory=dict)
    die: Die | None = None
    subsite: int | None = Field(None, ge=0, le=999)
    chip: int | None = Field(None, ge=0, le=63, description="packaged bench: board socket")
    chips: list[int] | None = Field(None, min_length=1, max_length=64,
                                    description="packaged bench: board sockets, one run each")
    cells: str | None = None
    array: Literal["1T1R", "2T2R"] | None = None
    every: int = Field(1, ge=1, le=10_000)
    follow_temperature: bool | None = None


class LimitSchema(StrictModel):
    figure: str
    min: float | None = None
    max: float | None = None
    action: Literal["pause", "stop"] = "stop"


class CampaignSchema(StrictModel):
    name: str | None = None
    description: Text = ""
    target: TargetSchema = Field(default_factory=TargetSchema)
    schedule: ScheduleSchema
    measurements: list[MeasurementSchema] = Field(min_length=1, max_length=50)
    limits: list[LimitSchema] = Field(default_factory=list)
    on_fault: Literal["stop", "continue"] = "stop"


class _Builder(TomlBuilder):
    """Turns a validated :class:`CampaignSchema` into a Campaign, with line-numbered errors."""

    def error_type(self) -> type[TomlError]:
        from procedures.campaign.model import CampaignError

        return CampaignError

    def campaign(self, s: CampaignSchema) -> Any:
        from procedures.campaign.model import Campaign

        name = self.checked_name(s.name, "campaign")
        for path, value in ((("target", "lot"), s.target.lot),
                            (("target", "wafer_id"), s.target.wafer_id)):
            self.check_path_name(path, value)
        schedule = self.schedule(s.schedule)
        measurements = self.measurements(s, schedule)
        limits = self.limits(s.limits, measurements)
        return Campaign(name=name, description=s.description, lot=s.target.lot,
                        wafer_id=s.target.wafer_id, operator=s.target.operator,
                        schedule=schedule, measurements=measurements, limits=limits,
                        on_fault=s.on_fault, text=self.text, source=self.source)

    def schedule(self, t: ScheduleSchema) -> Any:
        from procedures.campaign.model import ScheduleSpec

        p = ("schedule",)
        if t.kind == "temperature":
            if not t.set_points_c:
                raise self.fail((*p, "set_points_c"), "a temperature schedule needs "
                                "set_points_c = [C, ...]")
            for k, v in enumerate(t.set_points_c):
                if not CHUCK_MIN_C <= v <= CHUCK_MAX_C:
                    raise self.fail((*p, "set_points_c", k), f"must be within {CHUCK_MIN_C:g} .. "
                                    f"{CHUCK_MAX_C:g} C (thermal chuck range), not {v:g}")
            for key in ("every_min", "duration_h", "temperature_c"):
                if getattr(t, key) is not None:
                    raise self.fail((*p, key), "only used with kind = 'monitor'")
            return ScheduleSpec("temperature", tuple(float(v) for v in t.set_points_c),
                                t.ramp_c_per_min, t.soak_s, t.heater_timeout_s,
                                safe_temperature_c=t.safe_temperature_c, cool_down=t.cool_down)
        for key in ("every_min", "duration_h"):
            if getattr(t, key) is None:
                raise self.fail((*p, key), "a monitor schedule needs every_min and duration_h")
        if t.set_points_c is not None:
            raise self.fail((*p, "set_points_c"), "only used with kind = 'temperature'")
        assert t.every_min is not None and t.duration_h is not None
        if t.every_min * 60 > t.duration_h * 3600:
            raise self.fail((*p, "every_min"), "longer than the whole duration_h")
        if t.duration_h * 60 / t.every_min > 100_000:
            raise self.fail((*p, "every_min"), "more than 100,000 steps; measure less often")
        return ScheduleSpec("monitor", (), t.ramp_c_per_min, t.soak_s, t.heater_timeout_s,
                            every_s=t.every_min * 60.0, duration_s=t.duration_h * 3600.0,
                            temperature_c=t.temperature_c,
                            safe_temperature_c=t.safe_temperature_c, cool_down=t.cool_down)

    def measurements(self, s: CampaignSchema, schedule: Any) -> list[Any]:
        from procedures.campaign.model import CAMPAIGN_PARAMS, MeasurementSpec

        out: list[Any] = []
        for i, t in enumerate(s.measurements):
            p = ("measurements", i)
            name, known = self.procedure_entry(p, t.procedure, t.name, {m.name for m in out},
                                               "measurement")
            reserved = {k: f"give {k} at measurement level or in [target]"
                        for k in CAMPAIGN_PARAMS}
            reserved.update({k: f"give {k} at measurement level" for k in ("cells", "array")})
            params = self.entry_params(p, t.procedure, t.params, known, reserved)
            if t.cells is not None:
                self.check_cells(p, t.cells, t.array, known)
            follow = t.follow_temperature
            if follow is None:  # a procedure that sets the chuck itself follows the schedule
                follow = "temperature_c" in known and "temperature_c" not in params \
                    and schedule.kind == "temperature"
            if follow and "temperature_c" not in known:
                raise self.fail((*p, "follow_temperature"), f"{t.procedure} has no temperature_c")
            if follow and "temperature_c" in params:
                raise self.fail((*p, "params", "temperature_c"), "is set by the schedule "
                                "(follow_temperature); remove it")
            die, chips, key = self.target(s, t, p)
            subsite = t.subsite if t.subsite is not None else s.target.subsite
            for chip, chip_key in chips:
                out.append(MeasurementSpec(
                    name=name, procedure=t.procedure, params=params,
                    die=None if die is None else (int(die[0]), int(die[1])),
                    subsite=subsite, chip=chip, cells=t.cells, array=t.array, every=t.every,
                    follow_temperature=bool(follow), file_index=i,
                    keys={"die": key, "chip": chip_key, "subsite": key_text(
                        (*p, "subsite") if t.subsite is not None else ("target", "subsite"))},
                ))
        return out

    def target(self, s: CampaignSchema, t: MeasurementSchema, p: tuple[Any, ...]
               ) -> tuple[Any, list[tuple[int | None, str]], str]:
        """(die, [(chip, key of the chip)], key of the die) of a measurement: its own die/chip/
        chips replace those of [target]; a die (wafer bench) and chips (packaged) exclude each
        other. Which one the bench takes is checked against the bench (Campaign.check_targets).
        """
        own = t.die is not None or t.chip is not None or t.chips is not None
        src, q = (t, p) if own else (s.target, ("target",))
        if src.chip is not None and src.chips is not None:
            raise self.fail((*q, "chips"), "give chip = K or chips = [K, ...], not both")
        if src.die is not None and (src.chip is not None or src.chips is not None):
            raise self.fail((*q, "chips" if src.chips is not None else "chip"),
                            "a die (wafer bench) and chips (packaged bench) exclude each other")
        if src.chips is not None:
            if len(set(src.chips)) != len(src.chips):
                raise self.fail((*q, "chips"), "a chip is listed twice")
            for k, c in enumerate(src.chips):
                if not 0 <= c <= 63:
                    raise self.fail((*q, "chips", k), f"must be a board socket 0..63, not {c}")
            chips = [(int(c), key_text((*q, "chips", k))) for k, c in enumerate(src.chips)]
        elif src.chip is not None:
            chips = [(int(src.chip), key_text((*q, "chip")))]
        else:
            chips = [(None, "")]
        return src.die, chips, key_text((*q, "die")) if src.die is not None else ""

    def limits(self, raw: list[LimitSchema], measurements: list[Any]) -> list[Any]:
        from procedures.campaign.model import LimitSpec

        names = {m.name for m in measurements}
        out = []
        for i, t in enumerate(raw):
            p = ("limits", i)
            head = t.figure.split(".", 1)[0]
            if "." not in t.figure or head not in names:
                raise self.fail((*p, "figure"), "name a figure '<measurement>.<figure>' of "
                                f"this campaign's measurements ({', '.join(sorted(names))})")
            if t.min is None and t.max is None:
                raise self.fail((*p, "max"), "a limit needs min, max or both")
            if t.min is not None and t.max is not None and t.min > t.max:
                raise self.fail((*p, "min"), f"min {t.min:g} is above max {t.max:g}")
            out.append(LimitSpec(t.figure, t.min, t.max, t.action))
        return out


def build_campaign(doc: dict[str, Any], text: str, source: str) -> Any:
    """The Campaign of a parsed TOML document: schema first, then cross-references."""
    from procedures.campaign.model import CampaignError

    schema = validate_toml(CampaignSchema, doc, text, source, error=CampaignError)
    return _Builder(text, source).campaign(schema)


__all__ = ["CampaignSchema", "build_campaign"]
