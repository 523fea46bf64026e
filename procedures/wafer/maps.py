"""Headless wafer maps as PNG files, drawn with matplotlib (no Qt, no pyplot state).

Every map is drawn in wafer coordinates in millimetres (origin at the wafer centre, x right, y up,
as the GUI's wafer map), dies as true-size rectangles with the wafer outline, a title, axes in
mm and a colour bar (value maps: the figure with its unit) or a legend (bin map). The colours are
the GUI's (:mod:`procedures.wafer.palette`). The figure layout is fixed (:class:`MapGeometry`), so
a test can find the pixel at a die's centre; the PNG's text entries carry ``Title``, and for
value maps ``vmin``/``vmax`` (the colour scale).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from instruments.wafermap import DieIndex, WaferMap
from procedures.wafer.atomic import atomic_write
from procedures.wafer.palette import (
    DIE_EDGE_COLOR,
    NAN_COLOR,
    UNKNOWN_BIN_COLOR,
    UNTESTED_COLOR,
    VALUE_COLORMAP,
    hex_rgb,
    value_levels,
)

#: units of the figures in the wafer summary (by figure name, the part after ``<step>.``)
FIGURE_UNITS = {
    "v_form": "V", "v_set": "V", "v_reset": "V", "i_form": "A", "r_lrs": "Ω", "r_hrs": "Ω",
    "on_off": "R_HRS / R_LRS", "g": "S", "first_fail_cycle": "cycle", "cells_formed": "cells",
    "devices_failed": "devices", "devices_survived": "devices",
}


def figure_unit(column: str) -> str:
    """The unit of a summary column (``form.v_form`` -> ``V``; "" if unknown)."""
    name = column.rsplit(".", 1)[-1]
    for suffix in ("_p5", "_p95"):
        name = name.removesuffix(suffix)
    if name.endswith("_n"):
        return "devices"
    return FIGURE_UNITS.get(name, "")


@dataclass(frozen=True)
class MapGeometry:
    """Fixed layout of a map figure: ``width_px`` x ``height_px`` at ``dpi``, a square map axes
    of ``map_px`` pixels with its lower-left corner at (``left_px``, ``bottom_px``) from the
    figure's lower-left, showing the wafer plus ``pad_mm`` on each side."""

    width_px: int = 760
    height_px: int = 620
    dpi: int = 100
    map_px: int = 480
    left_px: int = 80
    bottom_px: int = 70
    pad_mm: float = 3.0

    def half_span_mm(self, wmap: WaferMap) -> float:
        """Half the width (mm) the map axes show."""
        return wmap.diameter_mm / 2 + self.pad_mm

    def axes_rect(self) -> tuple[float, float, float, float]:
        """The map axes as figure fractions (left, bottom, width, height)."""
        return (self.left_px / self.width_px, self.bottom_px / self.height_px,
                self.map_px / self.width_px, self.map_px / self.height_px)

    def colorbar_rect(self) -> tuple[float, float, float, float]:
        """The colour bar (or legend) axes as figure fractions."""
        x = self.left_px + self.map_px + 30
        return (x / self.width_px, self.bottom_px / self.height_px, 18 / self.width_px,
                self.map_px / self.height_px)

    def px(self, wmap: WaferMap, x_mm: float, y_mm: float) -> tuple[int, int]:
        """Pixel (row from the top, column) of a point in wafer coordinates (mm)."""
        h = self.half_span_mm(wmap)
        col = self.left_px + (x_mm + h) / (2 * h) * self.map_px
        row = self.height_px - (self.bottom_px + (y_mm + h) / (2 * h) * self.map_px)
        return int(math.floor(row)), int(math.floor(col))

    def die_center_px(self, wmap: WaferMap, die: DieIndex) -> tuple[int, int]:
        """Pixel (y, x) at the centre of a die."""
        x_um, y_um = wmap.die_center_um(*die)
        return self.px(wmap, x_um / 1000, y_um / 1000)


def _figure(geometry: MapGeometry) -> Any:
    from matplotlib.figure import Figure

    g = geometry
    return Figure(figsize=(g.width_px / g.dpi, g.height_px / g.dpi), dpi=g.dpi)


def _draw_wafer(fig: Any, wmap: WaferMap, colors: dict[DieIndex, str | tuple[float, ...]],
                title: str, g: MapGeometry) -> Any:
    """The map axes: every die filled (untested: light grey), outlines, axes in mm."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Circle, Rectangle

    ax = fig.add_axes(g.axes_rect())
    w_mm, h_mm = wmap.die_width_um / 1000, wmap.die_height_um / 1000
    rects, faces = [], []
    for die in wmap.dies:
        x_um, y_um = wmap.die_center_um(*die)
        rects.append(Rectangle((x_um / 1000 - w_mm / 2, y_um / 1000 - h_mm / 2), w_mm, h_mm))
        faces.append(colors.get(die, UNTESTED_COLOR))
    ax.add_collection(PatchCollection(rects, facecolors=faces, edgecolors=DIE_EDGE_COLOR,
                                      linewidths=0.4))
    r = wmap.diameter_mm / 2
    ax.add_patch(Circle((0, 0), r, fill=False, edgecolor=DIE_EDGE_COLOR, linewidth=1.0))
    half = g.half_span_mm(wmap)
    ax.set_xlim(-half, half)
    ax.set_ylim(-half, half)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_title(title, fontsize=11)
    return ax


def _save(fig: Any, path: str | Path, text: dict[str, str]) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": "MemProbe", **text})
    atomic_write(Path(path), buf.getvalue())


def value_map_png(
    path: str | Path,
    wmap: WaferMap,
    values: dict[DieIndex, float],
    title: str,
    special: dict[DieIndex, tuple[int, int, int]] | None = None,
    geometry: MapGeometry | None = None,
    subtitle: str = "",
    special_names: dict[str, tuple[int, int, int]] | None = None,
) -> dict[str, float]:
    """Write a wafer map of ``values`` (colour scale: the palette's percentiles, with a colour
    bar labelled with the figure and its unit); dies in ``special`` (e.g. no contact, RGB) get
    their own colour (``special_names``: a legend entry per name), measured dies with a NaN value
    are grey. Returns {"vmin", "vmax"}."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    g = geometry or MapGeometry()
    vmin, vmax = value_levels(values.values())
    norm = Normalize(vmin, vmax, clip=True)
    cmap = colormaps[VALUE_COLORMAP]
    colors: dict[DieIndex, Any] = {}
    for die, v in values.items():
        colors[die] = NAN_COLOR if v is None or not math.isfinite(v) else cmap(norm(v))
    for die, rgb in (special or {}).items():
        colors[die] = "#" + "".join(f"{int(c):02x}" for c in rgb)
    unit = figure_unit(title)
    fig = _figure(g)
    ax = _draw_wafer(fig, wmap, colors, title + (f"  ({subtitle})" if subtitle else ""), g)
    if special_names:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(facecolor=[c / 255 for c in rgb], edgecolor=DIE_EDGE_COLOR,
                                 label=name) for name, rgb in special_names.items()],
                  loc="upper left", fontsize=7, framealpha=0.9)
    cax = fig.add_axes(g.colorbar_rect())
    bar = fig.colorbar(ScalarMappable(norm, cmap), cax=cax)
    bar.set_label(f"{title} ({unit})" if unit else title)
    _save(fig, path, {"Title": title, "vmin": repr(vmin), "vmax": repr(vmax), "Unit": unit})
    return {"vmin": vmin, "vmax": vmax}


def bin_map_png(path: str | Path, wmap: WaferMap, bins: dict[DieIndex, int],
                bin_table: dict[int, Any], geometry: MapGeometry | None = None,
                subtitle: str = "") -> None:
    """Write the bin map (dies in their bin colour) with a legend: code, name, dies."""
    from matplotlib.patches import Patch

    g = geometry or MapGeometry()
    colors = {d: getattr(bin_table.get(code), "color", UNKNOWN_BIN_COLOR)
              for d, code in bins.items()}
    fig = _figure(g)
    ax = _draw_wafer(fig, wmap, colors, "bins" + (f"  ({subtitle})" if subtitle else ""), g)
    handles = []
    for code in sorted(set(bins.values())):
        rule = bin_table.get(code)
        n = sum(1 for b in bins.values() if b == code)
        handles.append(Patch(facecolor=getattr(rule, "color", UNKNOWN_BIN_COLOR),
                             edgecolor=DIE_EDGE_COLOR,
                             label=f"{code} {getattr(rule, 'name', '?')} ({n})"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  borderaxespad=0.0, fontsize=8, title="bin (dies)", title_fontsize=8)
    legend = "; ".join(f"{c}={getattr(bin_table.get(c), 'name', '')}"
                       for c in sorted(set(bins.values())))
    _save(fig, path, {"Title": "bins", "Legend": legend})


def read_png(path: str | Path) -> tuple[np.ndarray, dict[str, str]]:
    """A PNG as (uint8[h, w, 3] RGB pixels, its text entries)."""
    from PIL import Image

    with Image.open(path) as img:
        text = dict(getattr(img, "text", {}))
        return np.asarray(img.convert("RGB")).copy(), text


__all__ = ["FIGURE_UNITS", "MapGeometry", "bin_map_png", "figure_unit", "hex_rgb", "read_png",
           "value_map_png"]
