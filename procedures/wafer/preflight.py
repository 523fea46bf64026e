"""Preflight of a wafer run: the station is checked before anything moves.

Prober reachable, wafer vacuum on, contact height taught, the prober's wafer map and home die as
the recipe says (written to the prober only with ``wafer.apply_to_prober``), remote mode; only
then is the bench made safe (outputs off, chuck separated) and the chuck temperature set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from instruments.wafermap import DieIndex, WaferMap, velox_fields
from procedures.wafer.errors import PreflightError

if TYPE_CHECKING:
    from procedures.wafer.executor import WaferRun

#: the map fields a recipe and the prober must agree on (WaferMap attribute names, units as named)
MAP_FIELDS = ("diameter_mm", "die_width_um", "die_height_um", "flat_angle_deg", "x_offset_um",
              "y_offset_um", "edge_exclusion_mm")


def preflight(run: WaferRun) -> None:
    """Check the station, then make the bench safe and set the chuck temperature
    (PreflightError naming the problem; nothing moved before the checks pass)."""
    p = run.bench.prober
    try:
        status = p.chuck_status()
    except Exception as exc:
        raise PreflightError(f"prober not reachable: {exc}") from None
    if not status.vacuum_on:
        raise PreflightError("wafer vacuum is off: no wafer on the chuck? (nothing moved)")
    try:
        heights = p.chuck_heights()
    except Exception as exc:
        raise PreflightError(f"cannot read the chuck heights: {exc}") from None
    if not heights.contact_set:
        raise PreflightError("no contact height is taught on the prober: teach it first "
                             "(nothing moved)")
    run.contact.contact_um = heights.contact_um
    run.contact.overtravel = status.has_overtravel
    check_map(run)
    try:
        p.set_external_mode(True)
    except Exception as exc:
        raise PreflightError(f"cannot switch the station to remote mode: {exc}") from None
    from procedures.operations.cell_io import CellIO

    run.contact.io = CellIO(run.bench)
    problems = run.make_safe()
    if problems:
        raise PreflightError("cannot make the bench safe: " + "; ".join(problems))
    chuck = run.recipe.chuck
    if chuck.temperature_c is not None:
        run.heat(chuck.temperature_c)
    else:
        try:
            run.set_point = float(p.heater().temperature)
        except Exception:
            run.set_point = None


def map_differences(want: WaferMap, have: dict[str, float]) -> list[str]:
    """The :data:`MAP_FIELDS` on which a map and a prober's map fields
    (:func:`~instruments.wafermap.velox_fields`) differ (relative tolerance 1e-3)."""
    out = []
    for k in MAP_FIELDS:
        a, b = float(getattr(want, k)), float(have[k])
        if abs(a - b) > 1e-3 * max(1.0, abs(a)):
            out.append(k)
    return out


def check_map(run: WaferRun) -> None:
    """The prober's map and home die against the recipe's (written if the recipe says so)."""
    p = run.bench.prober
    w = run.recipe.wafer
    want = run.recipe.wafer_map()
    try:
        params = p.wafer_map_params
    except Exception as exc:
        raise PreflightError(f"cannot read the prober's wafer map: {exc}") from None
    have = velox_fields(params)
    diff = map_differences(want, have)
    if diff and not w.apply_to_prober:
        k = diff[0]
        raise PreflightError(str(run.recipe.error(
            f"wafer.{k}",
            f"the prober's map has {k} = {have[k]:g}, the recipe "
            f"{getattr(want, k):g} (set wafer.apply_to_prober = true to write the recipe's "
            "map to the prober)",
        )))
    if diff:
        from instruments.cascade.velox import WaferMapParams

        p.set_wafer_map_params(WaferMapParams(*want.velox_params(params.flat_length_mm)))
        run.cursor.event("prober-map-set", **{k: getattr(want, k) for k in MAP_FIELDS})
    try:
        p.map_position()
    except Exception as exc:
        raise PreflightError(f"the prober reports no map position (home die not set or "
                             f"chuck off the map): {exc}") from None
    if w.home is not None:
        home = prober_home(run)
        if home != w.home:
            if not w.apply_to_prober:
                raise PreflightError(str(run.recipe.error(
                    "wafer.home", f"the prober's home die is {home}, the recipe's {w.home}")))
            p.set_map_home(*w.home)


def prober_home(run: WaferRun) -> DieIndex | None:
    """The prober's home die, from its map position and the chuck position."""
    p = run.bench.prober
    wmap = run.recipe.wafer_map()
    pos = p.map_position()
    dx, dy, _ = p.chuck_position("diehome")
    cx, cy = wmap.die_center_um(pos.col, pos.row)
    return wmap.die_at_um(cx + dx - pos.x_from_home_um, cy + dy - pos.y_from_home_um)


__all__ = ["MAP_FIELDS", "check_map", "map_differences",
           "preflight", "prober_home"]
