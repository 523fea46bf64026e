"""Headless wafer maps (matplotlib): die colours at their pixels, the palette shared with the GUI,
the colour scale and the unit in the PNG's text entries."""

from __future__ import annotations

import math

from instruments.wafermap import WaferMap
from procedures.wafer.binning import BinRule
from procedures.wafer.maps import MapGeometry, bin_map_png, figure_unit, read_png, value_map_png
from procedures.wafer.palette import NAN_COLOR, UNTESTED_COLOR, hex_rgb, value_levels


def test_value_map_pixels_scale_and_unit(tmp_path):
    wmap = WaferMap(diameter_mm=150.0, die_width_um=10000.0, die_height_um=10000.0)
    dies = wmap.dies
    values = {dies[0]: 1.0, dies[1]: 3.0, dies[2]: float("nan")}
    values.update({d: 2.0 for d in dies[3:10]})
    special = {dies[10]: (0, 0, 0)}
    path = tmp_path / "m.png"
    scale = value_map_png(path, wmap, values, "form.v_form", special, subtitle="L / W",
                          special_names={"short": (0, 0, 0)})
    assert (scale["vmin"], scale["vmax"]) == value_levels(values.values())
    img, text = read_png(path)
    g = MapGeometry()
    assert img.shape == (g.height_px, g.width_px, 3)
    assert text["Title"] == "form.v_form" and text["Unit"] == "V"
    assert math.isclose(float(text["vmin"]), scale["vmin"])

    def at(die):
        y, x = g.die_center_px(wmap, die)
        return tuple(int(v) for v in img[y, x])

    assert at(dies[2]) == hex_rgb(NAN_COLOR)
    assert at(dies[10]) == (0, 0, 0)
    assert at(dies[-1]) == hex_rgb(UNTESTED_COLOR)
    low, high = sum(at(dies[0])), sum(at(dies[1]))
    assert high > low  # viridis: brighter for higher values


def test_bin_map_pixels_are_the_bin_colours(tmp_path):
    wmap = WaferMap(diameter_mm=100.0, die_width_um=8000.0, die_height_um=12000.0,
                    x_offset_um=2000.0)
    table = {1: BinRule(1, "good", True, "#2e7d32"), 99: BinRule(99, "fail", False, "#c62828")}
    bins = {d: (1 if k % 3 else 99) for k, d in enumerate(wmap.dies)}
    path = tmp_path / "bins.png"
    bin_map_png(path, wmap, bins, table)
    img, text = read_png(path)
    g = MapGeometry()
    for die, code in bins.items():
        y, x = g.die_center_px(wmap, die)
        assert tuple(int(v) for v in img[y, x]) == hex_rgb(table[code].color), die
    assert text["Title"] == "bins" and text["Legend"] == "1=good; 99=fail"


def test_the_gui_wafer_map_uses_the_same_palette():
    import gui.widgets.wafer_map as widget
    import procedures.wafer.palette as palette

    for name in ("UNTESTED_COLOR", "NAN_COLOR", "UNKNOWN_BIN_COLOR", "DIE_EDGE_COLOR"):
        assert getattr(widget, name) == getattr(palette, name)


def test_figure_units():
    assert figure_unit("form.v_form") == "V" and figure_unit("form.v_form_p95") == "V"
    assert figure_unit("map.g") == "S" and figure_unit("cycle.r_lrs") == "Ω"
    assert figure_unit("form.v_form_n") == "devices" and figure_unit("x.unknown") == ""
