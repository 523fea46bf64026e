"""Recipes checked by the pydantic schema (procedures.wafer.recipe_schema): types, bounds, names in
paths, bin names, a grid walk that cannot hang; every message names the file, line and key."""

from __future__ import annotations

import math
import threading

import pytest

from instruments.wafermap import MAX_GRID_POSITIONS, WaferMap
from procedures.wafer.g85 import g85_xml, read_g85
from procedures.wafer.recipe import RecipeError, parse_recipe
from tests._toml import line_of, recipe_text, step

BASE = recipe_text(step("cyc", "iv-cycling", "0,0-3", "cycles = 20"), '"cyc.r_lrs" = [1e3, inf]',
                   wafer="die_width_um = 10000.0\ndie_height_um = 10000.0")


def _refused(text: str, key: str, needle: str | None, *words: str) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, "r.toml")
    err = info.value
    assert err.key == key, str(err)
    if needle is not None:
        assert err.line == line_of(text, needle), str(err)
    assert "\n" not in str(err)
    assert str(err).startswith(f"r.toml:{err.line}: {key}: ") if err.line else True
    for w in words:
        assert w in str(err), str(err)
    return err


def test_base_recipe_is_fine():
    r = parse_recipe(BASE, "r.toml")
    assert r.steps[0].params == {"cycles": 20}
    assert r.bins[0].limits["cyc.r_lrs"] == (1e3, math.inf)


def test_tiny_die_pitch_is_refused_at_once_instead_of_hanging():
    """``die_width_um = 1.0`` made the parser walk a 200,000-column grid (4e10 positions)."""
    text = BASE.replace("die_width_um = 10000.0", "die_width_um = 1.0")
    done = threading.Event()
    result: list[BaseException] = []

    def parse() -> None:
        try:
            parse_recipe(text, "r.toml")
        except RecipeError as exc:
            result.append(exc)
        finally:
            done.set()

    threading.Thread(target=parse, daemon=True).start()
    assert done.wait(60), "the parser hangs on a 1 um die pitch"
    err = result[0]
    assert err.key == "wafer.die_width_um" and err.line == line_of(text, "die_width_um = 1.0")
    assert ">= 100 um" in str(err)
    # a pitch above the bound but a grid over the limit: refused, naming the pitch
    text = BASE.replace("die_width_um = 10000.0", "die_width_um = 150.0").replace(
        "die_height_um = 10000.0", "die_height_um = 150.0")
    _refused(text, "wafer.die_width_um", "die_width_um = 150.0", "grid",
             f"{MAX_GRID_POSITIONS:,}")


def test_wafer_map_itself_refuses_a_huge_grid():
    with pytest.raises(ValueError, match="grid"):
        WaferMap(diameter_mm=200.0, die_width_um=1.0, die_height_um=1.0)
    with pytest.raises(ValueError, match="finite"):
        WaferMap(die_width_um=math.inf)


@pytest.mark.parametrize("old, new, key, words", [
    ("cycles = 20", "cycles = 1.5", "steps[0].params.cycles", ["integer"]),
    ("cycles = 20", "cycles = true", "steps[0].params.cycles", ["integer"]),
    ("cycles = 20", "cycles = nan", "steps[0].params.cycles", ["finite"]),
    ("cycles = 20", "cycles = 1e7", "steps[0].params.cycles", ["1 .. 100000"]),
    ("cycles = 20", "cycles = 20, v_read = inf", "steps[0].params.v_read", ["finite"]),
    ('lot = "L1"', 'lot = ".."', "wafer.lot", ["folder"]),
    ('wafer_id = "W1"', 'wafer_id = "../../etc"', "wafer.wafer_id", ["separator"]),
    ('lot = "L1"', 'lot = "C:\\\\temp"', "wafer.lot", []),
    ('name = "t"', 'name = ".."', "name", []),
    ('name = "t"', 'name = "a/b"', "name", []),
    ('name = "good"', 'name = "go\\u0007od"', "bins[0].name", ["control character"]),
    ('name = "good"', 'name = "line\\nbreak"', "bins[0].name", ["control character"]),
    ("[1e3, inf]", "[nan, 1e6]", "bins[0].limits.cyc.r_lrs[0]", ["nan"]),
    ("[1e3, inf]", "[1e6, 1e3]", "bins[0].limits.cyc.r_lrs", ["empty"]),
    ("pass = true", 'pass = "yes"', "bins[0].pass", ["bool"]),
    ("code = 1", "code = 1.0", "bins[0].code", ["integer"]),
    ("code = 1", "code = 255", "bins[0].code", ["<= 254"]),
    ('color = "#00ff00"', 'color = "green"', "bins[0].color", ["pattern"]),
    ("die_height_um = 10000.0", 'die_height_um = "10000"', "wafer.die_height_um",
     ["number"]),
    ("die_height_um = 10000.0", "die_height_um = nan", "wafer.die_height_um", ["finite"]),
    ("die_height_um = 10000.0", "diameter_mm = 1000.0", "wafer.diameter_mm", ["<= 450 mm"]),
    ('mode = "list"', 'mode = "spiral"', "route.mode", ["all", "list", "region"]),
    ("dies = [[9, 9], [10, 9]]", "dies = [[9, 9], [10, true]]", "route.dies[1][1]",
     ["integer"]),
    ('cells = "0,0-3"', 'cells = ";;;"', "steps[0].cells", ["no cell"]),
    ('procedure = "iv-cycling"', 'procedure = "iv-cycling"\ntemperature_c = 1000.0',
     "steps[0].temperature_c", ["<= 300 C"]),
])
def test_bad_value_is_refused_with_key_and_line(old, new, key, words):
    assert old in BASE
    text = BASE.replace(old, new, 1)
    needle = new.splitlines()[-1]
    _refused(text, key, needle, *words)


def test_missing_steps_and_unknown_sections():
    text = BASE[: BASE.index("[[steps]]")]
    _refused(text, "steps", None, "missing")
    _refused(BASE + "\n[extra]\na = 1\n", "extra", "[extra]", "unknown key", "steps")
    _refused(BASE.replace("pass = true", "pass = true\npriority = 2"), "bins[0].priority",
             "priority", "unknown key", "color")


def test_contact_levels_within_the_instruments_ratings():
    text = BASE + "\n[contact]\ncompliance = 5.0\n"
    _refused(text, "contact.compliance", "compliance = 5.0", "<= 0.1 A")
    text = BASE + "\n[contact]\nv_read = 2.0\n"
    _refused(text, "contact.v_read", "v_read = 2.0", "<= 1 V")


def test_integral_float_for_an_integer_parameter_is_accepted():
    r = parse_recipe(BASE.replace("cycles = 20", "cycles = 20.0"), "r.toml")
    assert r.steps[0].params["cycles"] == 20 and isinstance(r.steps[0].params["cycles"], int)


def test_bins_xml_holds_any_bin_name():
    """Whatever reaches the writer (a recipe refuses them, other callers may not), bins.xml
    stays readable: characters XML cannot hold are replaced."""
    from procedures.wafer.recipe import BinRule

    wmap = WaferMap()
    die = wmap.dies[0]
    table = {7: BinRule(7, "bad\x07name <&> \x00", False, "#000000")}
    text = g85_xml(wmap, {die: 7}, table, lot="L\x01", wafer_id="W\x1b1", product="p")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "bins.xml"
        f.write_text(text, encoding="utf-8")
        back = read_g85(f)
    assert back["bins"] == {die: 7}
    desc = back["definitions"][7]["BinDescription"]
    assert desc.startswith("bad") and "<&>" in desc and "\x07" not in desc
    assert back["attributes"]["LotId"] == "L\ufffd"
