"""Wafer-map geometry: die indices (col, row) versus physical positions (um).

Conventions (kept in one place so they can be matched to a station's settings):

* Wafer coordinates are in micrometres with the origin at the wafer centre, x to the right and
  y **up** when the notch/flat is at the bottom (``flat_angle_deg = 0``, Velox convention).
* Die indices start at (0, 0) in the **top-left** corner of the bounding grid; ``col`` grows to the
  right (+x) and ``row`` grows **downwards** (-y), as on a prober's map display.
* The grid is centred on the wafer centre (``x_offset_um``/``y_offset_um`` shift it).
* A die exists on the map when all four of its corners lie inside the usable radius
  (diameter / 2 minus the edge exclusion).
* The chuck position "relative to home" is the wafer position minus the home die's centre.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

DieIndex = tuple[int, int]

MIN_DIE_PITCH_UM = 100.0
"""Smallest die pitch (um) of a map (recipes, SetWaferMapParams2)."""
MAX_GRID_POSITIONS = 40_000
"""Largest bounding grid (columns x rows) a map may span (200 x 200: 1 mm dies on a 200 mm wafer,
500 um on a 100 mm one). Building the map walks every position (about 0.5 s at this bound on a
loaded 2-core machine; the twin does it under the lab lock); a 1 um pitch would be 4e10
positions, a hang."""
DIAMETER_RANGE_MM = (25.0, 450.0)
"""Wafer diameters (mm) a map may have (SEMI wafer sizes up to 450 mm)."""


def velox_fields(params: object) -> dict[str, float]:
    """A prober's ``WaferMapParams`` (edge area in um) as :class:`WaferMap` field values (edge
    exclusion in mm): the one place the Velox map parameters are converted."""
    p: Any = params
    return {
        "diameter_mm": p.diameter_mm, "die_width_um": p.die_width_um,
        "die_height_um": p.die_height_um, "edge_exclusion_mm": p.edge_area_um / 1000.0,
        "flat_angle_deg": p.flat_angle_deg, "x_offset_um": p.x_offset_um,
        "y_offset_um": p.y_offset_um,
    }


@dataclass(frozen=True)
class WaferMap:
    """Geometry of a wafer map.

    Attributes:
        diameter_mm: wafer diameter in mm (200 for a 200 mm wafer).
        die_width_um: die pitch along x in um.
        die_height_um: die pitch along y in um.
        edge_exclusion_mm: ring at the wafer edge where no die is counted, in mm.
        flat_angle_deg: notch/flat position, 0 bottom, 90 left, 180 top, 270 right.
        x_offset_um: shift of the die grid along x, in um.
        y_offset_um: shift of the die grid along y, in um.
        home: home die (col, row); ``None`` picks the die closest to the centre.
    """

    diameter_mm: float = 200.0
    die_width_um: float = 10_000.0
    die_height_um: float = 10_000.0
    edge_exclusion_mm: float = 3.0
    flat_angle_deg: float = 0.0
    x_offset_um: float = 0.0
    y_offset_um: float = 0.0
    home: DieIndex | None = field(default=None)

    def __post_init__(self) -> None:
        if self.diameter_mm <= 0 or self.die_width_um <= 0 or self.die_height_um <= 0:
            raise ValueError("wafer diameter and die pitch must be positive")
        if not 0 <= self.edge_exclusion_mm < self.diameter_mm / 2:
            raise ValueError("edge exclusion must be >= 0 and smaller than the radius")
        if not all(math.isfinite(v) for v in (self.diameter_mm, self.die_width_um,
                                               self.die_height_um, self.x_offset_um,
                                               self.y_offset_um)):
            raise ValueError("wafer map sizes and offsets must be finite numbers")
        if self.n_cols * self.n_rows > MAX_GRID_POSITIONS:
            raise ValueError(f"a {self.diameter_mm:g} mm wafer at a {self.die_width_um:g} x "
                             f"{self.die_height_um:g} um die pitch is a {self.n_cols} x "
                             f"{self.n_rows} grid, over {MAX_GRID_POSITIONS:,} positions")

    @classmethod
    def from_velox(cls, params: object, home: DieIndex | None = None) -> WaferMap:
        """The map of a prober's ``GetWaferMapParams2`` reply (a ``WaferMapParams``: diameter
        mm, die width/height um, flat angle deg, x/y offset um, edge area um)."""
        return cls(**velox_fields(params), home=home)

    def velox_params(self, flat_length_mm: float) -> tuple[float, ...]:
        """This map as the eight ``SetWaferMapParams2`` / ``GetWaferMapParams2`` values, in
        order: diameter (mm), die width, die height (um), flat length (mm, not part of the map:
        given), flat angle (deg, int), x offset, y offset (um), edge area (um)."""
        return (self.diameter_mm, self.die_width_um, self.die_height_um, flat_length_mm,
                int(self.flat_angle_deg), self.x_offset_um, self.y_offset_um,
                self.edge_exclusion_mm * 1000.0)

    # -- grid -------------------------------------------------------------------------------
    @property
    def n_cols(self) -> int:
        """Number of columns of the bounding grid."""
        return math.ceil(self.diameter_mm * 1000 / self.die_width_um)

    @property
    def n_rows(self) -> int:
        """Number of rows of the bounding grid."""
        return math.ceil(self.diameter_mm * 1000 / self.die_height_um)

    def die_center_um(self, col: int, row: int) -> tuple[float, float]:
        """Centre of die (col, row) in wafer coordinates (um)."""
        x = (col - (self.n_cols - 1) / 2) * self.die_width_um + self.x_offset_um
        y = -(row - (self.n_rows - 1) / 2) * self.die_height_um + self.y_offset_um
        return x, y

    def die_at_um(self, x: float, y: float) -> DieIndex | None:
        """Die (col, row) whose area contains wafer position (x, y) um, or None off the map."""
        col = math.floor((x - self.x_offset_um) / self.die_width_um + self.n_cols / 2)
        row = math.floor(-(y - self.y_offset_um) / self.die_height_um + self.n_rows / 2)
        if (col, row) in self.die_set:
            return col, row
        return None

    def _inside(self, col: int, row: int) -> bool:
        r_um = (self.diameter_mm / 2 - self.edge_exclusion_mm) * 1000
        cx, cy = self.die_center_um(col, row)
        hw, hh = self.die_width_um / 2, self.die_height_um / 2
        return all(
            math.hypot(cx + sx * hw, cy + sy * hh) <= r_um for sx in (-1, 1) for sy in (-1, 1)
        )

    @cached_property
    def dies(self) -> tuple[DieIndex, ...]:
        """All dies on the map, row by row from the top, left to right."""
        return tuple(
            (c, r) for r in range(self.n_rows) for c in range(self.n_cols) if self._inside(c, r)
        )

    @cached_property
    def die_set(self) -> frozenset[DieIndex]:
        """The dies as a set, for membership tests."""
        return frozenset(self.dies)

    @property
    def home_die(self) -> DieIndex:
        """The home die: as configured, else the die closest to the wafer centre."""
        if self.home is not None:
            return self.home
        return min(self.dies, key=lambda d: (math.hypot(*self.die_center_um(*d)), d[1], d[0]))

    def to_home_um(self, x: float, y: float) -> tuple[float, float]:
        """Wafer position (um) expressed relative to the home die's centre."""
        hx, hy = self.die_center_um(*self.home_die)
        return x - hx, y - hy

    def from_home_um(self, dx: float, dy: float) -> tuple[float, float]:
        """Position relative to the home die's centre (um) in wafer coordinates."""
        hx, hy = self.die_center_um(*self.home_die)
        return dx + hx, dy + hy

    def radius_fraction(self, col: int, row: int) -> float:
        """Distance of the die centre from the wafer centre as a fraction of the radius."""
        return math.hypot(*self.die_center_um(col, row)) / (self.diameter_mm * 500)


MAP_DEFAULTS: dict[str, float] = {
    f.name: f.default for f in fields(WaferMap) if isinstance(f.default, float)}
"""The default map geometry (diameter mm, die pitch um, edge exclusion mm, flat angle deg,
offsets um): recipes and their schema take their defaults from here."""


@dataclass(frozen=True)
class YieldCount:
    """Dies of a route by outcome: ``total`` (route), ``tested`` (binned), ``passed``,
    ``failed``, and ``per_bin`` {bin code: dies}."""

    total: int
    tested: int
    passed: int
    failed: int
    per_bin: dict[int, int] = field(default_factory=dict)

    @property
    def percent(self) -> float | None:
        """Yield in % of the tested dies, 2 decimals (None if none tested)."""
        return round(100.0 * self.passed / self.tested, 2) if self.tested else None


def count_yield(route: Iterable[DieIndex], bins: Mapping[DieIndex, int | None],
                pass_codes: Container[int]) -> YieldCount:
    """The one yield count (prober twin, wafer outputs, GUI): dies of ``route`` with a bin in
    ``bins`` are tested, those whose code is in ``pass_codes`` passed."""
    route = list(route)
    codes = [b for d in route if (b := bins.get(d)) is not None]
    passed = sum(1 for b in codes if b in pass_codes)
    per_bin: dict[int, int] = {}
    for b in codes:
        per_bin[b] = per_bin.get(b, 0) + 1
    return YieldCount(len(route), len(codes), passed, len(codes) - passed, per_bin)
