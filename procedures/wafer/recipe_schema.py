"""Schema of a recipe file (pydantic v2 models): the first of the two passes of a recipe.

Two passes, both with errors that name the file, the line and the key
(``demo.toml:31: steps[0].params.v_stop: ...``); the second is in
:mod:`procedures.wafer.recipe_build`:

1. :class:`RecipeSchema` checks the structure: unknown keys, types (no ``true`` for a number, no
   ``1.5`` for an integer), NaN/inf, choices, and bounds. Geometry bounds keep the die grid
   walk small: die pitch >= 100 um, wafer 25 .. 450 mm (SEMI wafer sizes), a bounding grid of at
   most :data:`~instruments.wafermap.MAX_GRID_POSITIONS` die positions (``die_width_um = 1.0``
   used to hang the parser walking 4e10 positions). Temperatures within the thermal chuck's
   range, contact-check levels within the instruments' ratings; the bench's own limits are
   checked later by :meth:`Recipe.validate`.
2. :func:`~procedures.wafer.recipe_build.build_recipe` checks what needs more than one key
   (procedures and their parameters, the route, cross-references, folder and bin names).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, BeforeValidator, Field, field_validator

from instruments.bench_schema import CHUCK_MAX_C, CHUCK_MIN_C, SMU_MAX_I, SMU_MAX_V
from instruments.tomlschema import StrictModel
from instruments.wafermap import (
    DIAMETER_RANGE_MM,
    MAP_DEFAULTS,
    MIN_DIE_PITCH_UM,
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# ------------------------------------------------------------------------------------------------
# Small types
# ------------------------------------------------------------------------------------------------
def _not_nan(x: float) -> float:
    if math.isnan(x):
        raise ValueError("must be a number, not nan")
    return x


def _limit_pair(v: Any) -> Any:
    if isinstance(v, dict):
        extra = set(v) - {"min", "max"}
        if extra:
            raise ValueError(f"a limit table has min and max only, not {', '.join(sorted(extra))}")
        return [v.get("min", -math.inf), v.get("max", math.inf)]
    if not isinstance(v, list):
        raise ValueError("a limit is [min, max] (use inf/-inf for open ends) or "
                         "{min = .., max = ..}")
    return v


def _ordered(v: list[float]) -> list[float]:
    if v[0] > v[1]:
        raise ValueError(f"limit [{v[0]:g}, {v[1]:g}] is empty")
    return v


def _first_le_last(v: list[int]) -> list[int]:
    if v[0] > v[1]:
        raise ValueError(f"must be [first, last] with first <= last, not {v}")
    return v


def _printable(v: str) -> str:
    if _CONTROL.search(v):
        raise ValueError(f"{v!r} contains a control character")
    return v


Bound = Annotated[float, Field(allow_inf_nan=True), AfterValidator(_not_nan)]
Limit = Annotated[list[Bound], BeforeValidator(_limit_pair), Field(min_length=2, max_length=2),
                  AfterValidator(_ordered)]
Die = Annotated[list[int], Field(min_length=2, max_length=2)]
Span = Annotated[list[int], Field(min_length=2, max_length=2), AfterValidator(_first_le_last)]
Text = Annotated[str, AfterValidator(_printable)]


def chuck_c(default: float | None = None) -> Any:
    """A chuck set point within the thermal chuck's range (C), optional by default; recipes and
    campaigns."""
    return Field(default, ge=CHUCK_MIN_C, le=CHUCK_MAX_C, json_schema_extra={"units": "C"},
                 description="thermal chuck range of FormFactor 200 mm stations")


# ------------------------------------------------------------------------------------------------
# Sections
# ------------------------------------------------------------------------------------------------
class WaferSchema(StrictModel):
    lot: Text = "LOT0"
    wafer_id: Text = "W00"
    product: Text = "memprobe-rram-1k"
    operator: Text = ""
    diameter_mm: float = Field(MAP_DEFAULTS["diameter_mm"], ge=DIAMETER_RANGE_MM[0],
                               le=DIAMETER_RANGE_MM[1], description="SEMI wafer sizes",
                               json_schema_extra={"units": "mm"})
    die_width_um: float = Field(MAP_DEFAULTS["die_width_um"], ge=MIN_DIE_PITCH_UM, le=450_000.0,
                                description="die pitch", json_schema_extra={"units": "um"})
    die_height_um: float = Field(MAP_DEFAULTS["die_height_um"], ge=MIN_DIE_PITCH_UM, le=450_000.0,
                                 description="die pitch", json_schema_extra={"units": "um"})
    edge_exclusion_mm: float = Field(MAP_DEFAULTS["edge_exclusion_mm"], ge=0.0, le=225.0,
                                     json_schema_extra={"units": "mm"})
    flat_angle_deg: float = MAP_DEFAULTS["flat_angle_deg"]
    x_offset_um: float = Field(MAP_DEFAULTS["x_offset_um"], ge=-225_000.0, le=225_000.0)
    y_offset_um: float = Field(MAP_DEFAULTS["y_offset_um"], ge=-225_000.0, le=225_000.0)
    home: Die | None = None
    origin: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = "top-left"
    apply_to_prober: bool = False

    @field_validator("flat_angle_deg")
    @classmethod
    def _flat(cls, v: float) -> float:
        if v not in (0.0, 90.0, 180.0, 270.0):
            raise ValueError("must be 0, 90, 180 or 270")
        return v


class RouteSchema(StrictModel):
    mode: Literal["all", "list", "region"] | None = None
    dies: list[Die] | None = None
    cols: Span | None = None
    rows: Span | None = None
    max_radius: float | None = Field(None, gt=0.0, le=2.0)
    order: Literal["row", "column"] = "row"
    pattern: Literal["serpentine", "one-way"] = "serpentine"
    exclude: list[Die] = Field(default_factory=list)


class SubsiteSchema(StrictModel):
    label: Text | None = None
    dx_um: float = Field(0.0, ge=-450_000.0, le=450_000.0)
    dy_um: float = Field(0.0, ge=-450_000.0, le=450_000.0)


class SplitSchema(StrictModel):
    param: str
    values: list[Any] = Field(min_length=2)
    cells: list[str] | None = None


class StepSchema(StrictModel):
    name: str | None = None
    procedure: str
    params: dict[str, Any] = Field(default_factory=dict)
    cells: str | None = None
    array: str | None = None
    split: SplitSchema | None = None
    temperature_c: float | None = chuck_c()
    cycle_limits: dict[Literal["r_lrs", "r_hrs", "on_off"], Limit] = Field(default_factory=dict)


class ContactSchema(StrictModel):
    enabled: bool = True
    array: Literal["1T1R", "2T2R"] = "1T1R"
    cells: str = "31,28-31"
    v_read: float = Field(0.2, gt=0.0, le=1.0, json_schema_extra={"units": "V"},
                          description="a read that cannot disturb a cell")
    v_wl: float = Field(2.5, ge=0.0, le=SMU_MAX_V, json_schema_extra={"units": "V"},
                        description="B1517A HRSMU output rating")
    compliance: float = Field(1e-4, gt=0.0, le=SMU_MAX_I, json_schema_extra={"units": "A"},
                              description="B1517A HRSMU 100 mA range")
    i_min_a: float = Field(1e-10, gt=0.0, le=SMU_MAX_I, json_schema_extra={"units": "A"})
    #: S (``_s`` is seconds in recipe keys: the old name ``g_short_s`` is still read)
    g_short_siemens: float = Field(5e-5, gt=0.0, le=10.0, json_schema_extra={"units": "S"},
                                   validation_alias=AliasChoices("g_short_siemens", "g_short_s"))
    z_step_um: float = Field(5.0, gt=0.0, le=50.0, json_schema_extra={"units": "um"})
    max_tries: int = Field(2, ge=0, le=20)


class ChuckSchema(StrictModel):
    temperature_c: float | None = chuck_c()
    soak_s: float = Field(0.0, ge=0.0, le=86_400.0, json_schema_extra={"units": "s"})
    heater_timeout_s: float = Field(7200.0, gt=0.0, le=86_400.0, json_schema_extra={"units": "s"})


class FaultSchema(StrictModel):
    on_fault: Literal["retry", "next-die"] = "retry"
    max_consecutive: int = Field(3, ge=1, le=1000)


class BinSchema(StrictModel):
    code: int = Field(ge=0, le=254, description="255 is the G85 NullBin")
    name: Text | None = Field(None, max_length=64)
    passed: bool = Field(False, alias="pass")
    color: str = Field("#c62828", pattern=r"^#[0-9a-fA-F]{6}$")
    limits: dict[str, Limit] = Field(default_factory=dict)
    special: Literal["", "no-contact", "short", "fault"] = ""


class OutputsSchema(StrictModel):
    maps: list[str] = Field(default_factory=list)


class RecipeSchema(StrictModel):
    name: str | None = None
    description: str = ""
    wafer: WaferSchema = Field(default_factory=WaferSchema)
    route: RouteSchema = Field(default_factory=RouteSchema)
    subsites: list[SubsiteSchema] = Field(default_factory=list)
    steps: list[StepSchema] = Field(min_length=1, description="at least one [[steps]] table")
    contact: ContactSchema = Field(default_factory=ContactSchema)
    chuck: ChuckSchema = Field(default_factory=ChuckSchema)
    faults: FaultSchema = Field(default_factory=FaultSchema)
    bins: list[BinSchema] = Field(default_factory=list)
    outputs: OutputsSchema = Field(default_factory=OutputsSchema)


__all__ = ["RecipeSchema", "chuck_c"]
