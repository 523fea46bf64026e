"""Route planning: which dies a wafer run visits, in which order (prober map indices)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from instruments.wafermap import DieIndex, WaferMap

if TYPE_CHECKING:
    from procedures.wafer.recipe import RouteSpec, WaferSpec


class RouteError(ValueError):
    """A die asked for is not on the wafer map (``key``: the option that named it)."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


def plan_route(wafer: WaferSpec, route: RouteSpec,
               dies: list[DieIndex] | None = None) -> list[DieIndex]:
    """The dies to visit in order (map indices).

    Args:
        wafer, route: the recipe's wafer and route sections.
        dies: restrict to these dies (recipe indices, kept in route order); a die that is
            not on the map raises RouteError.
    """
    wmap = wafer.wafer_map()
    w, r = wafer, route
    if r.mode == "list":
        picked = [w.to_map(c, rr, wmap) for c, rr in r.dies]
    else:
        picked = []
        for die in wmap.dies:
            rc = _from_map(w, wmap, die)
            if r.mode == "region":
                if r.cols is not None and not r.cols[0] <= rc[0] <= r.cols[1]:
                    continue
                if r.rows is not None and not r.rows[0] <= rc[1] <= r.rows[1]:
                    continue
                if r.max_radius is not None and wmap.radius_fraction(*die) > r.max_radius:
                    continue
            picked.append(die)
        picked = _order(picked, r.order, r.pattern)
    excluded = {w.to_map(c, rr, wmap) for c, rr in r.exclude}
    route = [d for d in picked if d not in excluded]
    if dies is not None:
        wanted = []
        for c, rr in dies:
            d = w.to_map(c, rr, wmap)
            if d not in wmap.die_set:
                raise RouteError(f"die ({c}, {rr}) is not on the wafer map", "--dies")
            wanted.append(d)
        in_route = [d for d in route if d in set(wanted)]
        extra = [d for d in wanted if d not in set(route)]
        route = in_route + extra
    return route


def _from_map(w: WaferSpec, wmap: WaferMap, die: DieIndex) -> DieIndex:
    """Map indices -> recipe indices (the conversion is its own inverse)."""
    return w.to_map(die[0], die[1], wmap)


def _order(dies: list[DieIndex], order: str, pattern: str) -> list[DieIndex]:
    """Sort dies into lines (rows or columns) and walk them one-way or serpentine."""
    major = 1 if order == "row" else 0
    lines: dict[int, list[DieIndex]] = {}
    for d in dies:
        lines.setdefault(d[major], []).append(d)
    out: list[DieIndex] = []
    for i, key in enumerate(sorted(lines)):
        line = sorted(lines[key], key=lambda d: d[1 - major])
        out.extend(reversed(line) if pattern == "serpentine" and i % 2 else line)
    return out


__all__ = ["RouteError", "plan_route"]
