"""Where a wafer recipe runs: the wafer (identity and map geometry), the route over its dies
and the subsites of a die (parts of :class:`procedures.wafer.recipe.Recipe`).

Die indices: the recipe's own (``origin`` corner); :meth:`WaferSpec.to_map` converts them to the
prober map's (col right, row down from the top-left, :mod:`instruments.wafermap`). Lengths in um
unless the name says mm.
"""

from __future__ import annotations

from dataclasses import dataclass

from instruments.wafermap import MAP_DEFAULTS, DieIndex, WaferMap


@dataclass(frozen=True)
class WaferSpec:
    """Wafer identity and map geometry.

    Attributes:
        lot, wafer_id, product, operator: identity (data folders, catalog, G85 header).
        diameter_mm: mm. die_width_um, die_height_um: die pitch, um.
        edge_exclusion_mm: mm. flat_angle_deg: notch/flat (0 bottom, 90 left, 180 top, 270 right).
        x_offset_um, y_offset_um: shift of the die grid, um.
        home: home die (map indices) or None (the die closest to the centre).
        origin: corner of the recipe's die (0, 0): top-left (the prober's), top-right,
            bottom-left or bottom-right; indices grow away from it.
        apply_to_prober: preflight writes this geometry to the prober when it differs (else a
            difference is an error).
    """

    lot: str = "LOT0"
    wafer_id: str = "W00"
    product: str = "memprobe-rram-1k"
    operator: str = ""
    # the map geometry's defaults are the wafer map's (one place: instruments.wafermap)
    diameter_mm: float = MAP_DEFAULTS["diameter_mm"]
    die_width_um: float = MAP_DEFAULTS["die_width_um"]
    die_height_um: float = MAP_DEFAULTS["die_height_um"]
    edge_exclusion_mm: float = MAP_DEFAULTS["edge_exclusion_mm"]
    flat_angle_deg: float = MAP_DEFAULTS["flat_angle_deg"]
    x_offset_um: float = MAP_DEFAULTS["x_offset_um"]
    y_offset_um: float = MAP_DEFAULTS["y_offset_um"]
    home: DieIndex | None = None
    origin: str = "top-left"
    apply_to_prober: bool = False

    def wafer_map(self) -> WaferMap:
        """The map geometry (home in map indices)."""
        return WaferMap(
            diameter_mm=self.diameter_mm, die_width_um=self.die_width_um,
            die_height_um=self.die_height_um, edge_exclusion_mm=self.edge_exclusion_mm,
            flat_angle_deg=self.flat_angle_deg, x_offset_um=self.x_offset_um,
            y_offset_um=self.y_offset_um, home=self.home,
        )

    def to_map(self, col: int, row: int, wmap: WaferMap | None = None) -> DieIndex:
        """Recipe die indices -> prober map indices (col right, row down from the top-left)."""
        m = wmap or self.wafer_map()
        c = col if self.origin.endswith("left") else m.n_cols - 1 - col
        r = row if self.origin.startswith("top") else m.n_rows - 1 - row
        return int(c), int(r)


@dataclass(frozen=True)
class RouteSpec:
    """Which dies, in which order.

    Attributes:
        mode: ``all`` (every die of the map), ``list`` (``dies`` in the given order) or
            ``region`` (the dies within ``cols``/``rows`` and ``max_radius`` of the centre).
        dies: (col, row) in recipe indices, for ``list``.
        cols, rows: inclusive index ranges (recipe indices) for ``region``; None = no limit.
        max_radius: largest die-centre distance from the wafer centre, as a fraction of the
            wafer radius (``region``).
        order: ``row`` (walk along a row, then the next row) or ``column``.
        pattern: ``serpentine`` (alternate direction) or ``one-way``.
        exclude: dies left out (recipe indices).
    """

    mode: str = "all"
    dies: tuple[DieIndex, ...] = ()
    cols: tuple[int, int] | None = None
    rows: tuple[int, int] | None = None
    max_radius: float | None = None
    order: str = "row"
    pattern: str = "serpentine"
    exclude: tuple[DieIndex, ...] = ()


@dataclass(frozen=True)
class SubsiteSpec:
    """A touchdown position inside a die: ``dx_um``, ``dy_um`` from the die centre (um)."""

    label: str
    dx_um: float
    dy_um: float
