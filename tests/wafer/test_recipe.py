"""Recipes: parsing, validation against bench limits (errors name the key and line), routes,
splits and bin rules. No bench is opened."""

import math

import pytest

from instruments.bench import load_bench_config
from procedures.wafer.recipe import (
    RecipeError,
    find_line,
    load_recipe,
    parse_recipe,
)
from tests._toml import line_of, recipe_text, step

LIMITS = load_bench_config("simulated").limits

BASE = recipe_text(step("form", "forming", "0,0-5", "v_stop = 4.0"),
                   '"form.v_form" = [2.0, 3.5]')


@pytest.mark.parametrize("name", ["demo-wafer", "full-wafer"])
def test_shipped_recipes_parse_and_are_safe_on_the_simulated_bench(name):
    recipe = load_recipe(name)
    recipe.validate(LIMITS)
    route = recipe.plan_route()
    assert len(route) == len(set(route))
    if name == "full-wafer":
        assert len(route) == len(recipe.wafer_map().dies) == 256
    else:
        assert 10 <= len(route) <= 16
    codes = {b.code for b in recipe.bins}
    assert {80, 81, 90} <= codes  # special bins are always there
    assert any(b.passed for b in recipe.bins)


def test_base_recipe_defaults():
    r = parse_recipe(BASE, "t.toml")
    r.validate(LIMITS)
    assert r.wafer.lot == "L1" and r.route.mode == "list"
    assert r.plan_route() == [(9, 9), (10, 9)]
    assert r.special_bin("no-contact").code == 80
    assert r.evaluate_bins({"form.v_form": 2.5}).code == 1
    # a missing or NaN figure fails the limit: the catch-all fail bin (99) is added
    assert r.evaluate_bins({}).code == 99
    assert r.evaluate_bins({"form.v_form": math.nan}).code == 99
    assert r.evaluate_bins({"form.v_form": 3.6}).code == 99


def test_unknown_procedure_names_the_key_and_line():
    text = BASE.replace('procedure = "forming"', 'procedure = "froming"')
    with pytest.raises(RecipeError) as e:
        parse_recipe(text, "t.toml")
    assert e.value.key == "steps[0].procedure"
    assert e.value.line == line_of(text, "froming")
    assert "froming" in str(e.value) and "forming" in str(e.value)
    assert str(e.value).startswith(f"t.toml:{e.value.line}: steps[0].procedure")


def test_unsafe_voltage_is_rejected_naming_the_parameter():
    text = BASE.replace("v_stop = 4.0", "v_stop = 6.0")  # bench limit on BL: 4.5 V
    r = parse_recipe(text, "t.toml")  # structurally fine
    with pytest.raises(RecipeError) as e:
        r.validate(LIMITS)
    assert e.value.key == "steps[0].params.v_stop"
    assert e.value.line == line_of(text, "v_stop = 6.0")
    assert "exceeds the bench limit" in str(e.value)


def test_unsafe_split_value_names_the_split():
    text = BASE.replace('cells = "0,0-5"\n', 'cells = "0,0-5"\n'
                        'split = { param = "compliance", values = [1e-4, 5e-3] }\n')
    r = parse_recipe(text, "t.toml")
    with pytest.raises(RecipeError) as e:
        r.validate(LIMITS)  # 4 V x 5 mA = 20 mW > 10 mW
    assert e.value.key == "steps[0].split.values"
    assert "compliance=0.005" in str(e.value)
    assert e.value.line == line_of(text, "split =")


def test_unknown_parameter_and_key_typos_are_named():
    text = BASE.replace("v_stop = 4.0", "v_stpo = 4.0")
    with pytest.raises(RecipeError) as e:
        parse_recipe(text, "t.toml")
    assert e.value.key == "steps[0].params.v_stpo" and e.value.line == line_of(text, "v_stpo")
    text = BASE.replace('lot = "L1"', 'lott = "L1"')
    with pytest.raises(RecipeError) as e:
        parse_recipe(text)
    assert e.value.key == "wafer.lott" and e.value.line == line_of(text, "lott")
    text = BASE.replace("params = {", 'die = "1,1"\nparams = {')
    with pytest.raises(RecipeError, match="steps\\[0\\].die"):
        parse_recipe(text)


@pytest.mark.parametrize("route, key", [
    ('mode = "list"\ndies = [[9, 9], [0, 0]]', "route.dies[1]"),      # corner: not on the map
    ('mode = "list"\ndies = [[9, 9], [9, 9]]', "route.dies[1]"),      # twice
    ('mode = "list"\ndies = [[9, 9], [9]]', "route.dies[1]"),         # malformed
    ('mode = "region"\ncols = [0, 0]\nrows = [0, 0]', "route"),        # selects nothing
    ('mode = "spiral"', "route.mode"),
    ('mode = "all"\ncols = [1, 3]', "route.cols"),
])
def test_bad_routes_are_rejected(route, key):
    text = BASE.replace('mode = "list"\ndies = [[9, 9], [10, 9]]', route)
    with pytest.raises(RecipeError) as e:
        parse_recipe(text, "t.toml")
    assert e.value.key == key
    assert e.value.line is not None
    if key == "route.dies[1]":
        assert e.value.line == line_of(text, "dies =")


def test_toml_syntax_error_gives_the_line():
    text = BASE.replace('wafer_id = "W1"', 'wafer_id = "W1')
    with pytest.raises(RecipeError) as e:
        parse_recipe(text, "t.toml")
    assert e.value.line == line_of(text, 'wafer_id = "W1')


def test_bins_reference_known_steps_and_valid_codes():
    with pytest.raises(RecipeError) as e:
        parse_recipe(BASE.replace('"form.v_form"', '"forming.v_form"'))
    assert e.value.key.startswith("bins[0].limits")
    with pytest.raises(RecipeError, match="bins\\[0\\].code"):
        parse_recipe(BASE.replace("code = 1", "code = 255"))
    with pytest.raises(RecipeError, match="bins\\[0\\].limits"):
        parse_recipe(BASE.replace("[2.0, 3.5]", "[3.5, 2.0]"))


def test_programming_the_contact_reference_cells_is_refused():
    text = BASE.replace('cells = "0,0-5"', 'cells = "31,30-31"')
    with pytest.raises(RecipeError) as e:
        parse_recipe(text)
    assert e.value.key == "steps[0].cells" and "reference" in str(e.value)
    # a read-only map over all cells is fine
    ok = BASE + '\n[[steps]]\nname = "map"\nprocedure = "conductance-map"\ncells = "all"\n'
    parse_recipe(ok).validate(LIMITS)


def test_temperature_outside_the_bench_limits():
    # 280 C: within the thermal chuck's range (the schema's bound), over this bench's 250 C
    text = BASE.replace('[[steps]]\nname = "form"', '[chuck]\ntemperature_c = 280.0\n\n'
                        '[[steps]]\nname = "form"')
    r = parse_recipe(text)
    with pytest.raises(RecipeError) as e:
        r.validate(LIMITS)
    assert e.value.key == "chuck.temperature_c" and e.value.line == line_of(text, "280.0")
    # 400 C is beyond any thermal chuck: refused when the recipe is read
    text = text.replace("280.0", "400.0")
    with pytest.raises(RecipeError) as e:
        parse_recipe(text)
    assert e.value.key == "chuck.temperature_c" and e.value.line == line_of(text, "400.0")


def test_route_order_patterns_and_origin():
    text = BASE.replace('mode = "list"\ndies = [[9, 9], [10, 9]]',
                        'mode = "region"\ncols = [8, 10]\nrows = [8, 9]')
    r = parse_recipe(text)
    assert r.plan_route() == [(8, 8), (9, 8), (10, 8), (10, 9), (9, 9), (8, 9)]
    one_way_col = parse_recipe(text.replace('rows = [8, 9]', 'rows = [8, 9]\norder = "column"\n'
                                            'pattern = "one-way"'))
    assert one_way_col.plan_route() == [(8, 8), (8, 9), (9, 8), (9, 9), (10, 8), (10, 9)]
    # origin bottom-left: recipe (9, 10) is map row 20 - 1 - 10 = 9
    bl = parse_recipe(BASE.replace('wafer_id = "W1"', 'wafer_id = "W1"\norigin = "bottom-left"')
                      .replace("[[9, 9], [10, 9]]", "[[9, 10]]"))
    assert bl.plan_route() == [(9, 9)]
    # --dies keeps route order; a die off the map is refused
    full = parse_recipe(BASE.replace('mode = "list"\ndies = [[9, 9], [10, 9]]', 'mode = "all"'))
    assert full.plan_route([(10, 9), (9, 9)]) == [(9, 9), (10, 9)]
    with pytest.raises(RecipeError, match="not on the wafer map"):
        full.plan_route([(0, 0)])
    excl = parse_recipe(text.replace('rows = [8, 9]', 'rows = [8, 9]\nexclude = [[9, 8]]'))
    assert (9, 8) not in excl.plan_route()


def test_split_shares_cells_and_keeps_values():
    text = BASE.replace('cells = "0,0-5"\n', 'cells = "0,0-6"\n'
                        'split = { param = "compliance", values = [5e-5, 1e-4, 2e-4] }\n')
    r = parse_recipe(text)
    runs = r.step_runs()
    assert [x.split_value for x in runs] == [5e-5, 1e-4, 2e-4]
    assert [x.cells for x in runs] == ["0,0;0,1;0,2", "0,3;0,4", "0,5;0,6"]
    assert runs[1].split_label == "compliance=0.0001"
    proc = r.build(runs[2], die=(9, 9), subsite=1)
    assert proc.compliance == 2e-4 and proc.cells == "0,5;0,6" and proc.die == "9,9"
    assert proc.lot == "L1" and proc.wafer_id == "W1" and proc.subsite == 1
    explicit = text.replace("values = [5e-5, 1e-4, 2e-4] }",
                            'values = [5e-5, 1e-4], cells = ["0,0", "0,1-2"] }')
    assert [x.cells for x in parse_recipe(explicit).step_runs()] == ["0,0", "0,1-2"]
    with pytest.raises(RecipeError, match="split.param"):
        parse_recipe(text.replace('param = "compliance"', 'param = "complience"'))


def test_find_line_resolves_arrays_of_tables_and_subtables():
    text = ("a = 1\n[wafer]\nlot = 'x'\n[[steps]]\nprocedure = 'forming'\n[steps.params]\n"
            "v_stop = 1\n[[steps]]\nprocedure = 'forming'\nparams = { v_stop = 2 }\n")
    assert find_line(text, ("a",)) == 1
    assert find_line(text, ("wafer", "lot")) == 3
    assert find_line(text, ("steps", 0, "params", "v_stop")) == 7
    assert find_line(text, ("steps", 1, "params", "v_stop")) == 10
    assert find_line(text, ("steps", 1, "procedure")) == 9
    assert find_line(text, ("steps", 1, "missing")) == 8  # the table's header


def test_cli_rejects_an_unsafe_recipe_before_opening_the_bench(tmp_path, capsys):
    from gui.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text(BASE.replace("v_stop = 4.0", "v_stop = 6.0"))
    assert main(["wafer", str(bad), "--data", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    line = line_of(bad.read_text(), "v_stop = 6.0")
    assert f"bad.toml:{line}: steps[0].params.v_stop" in err
    assert not (tmp_path / "d" / "catalog.sqlite").exists()  # nothing opened, nothing applied
    assert main(["wafer", str(bad).replace("bad", "missing")]) == 2
    assert main(["wafer", "demo-wafer", "--dies", "9;9"]) == 2
    assert "COL,ROW" in capsys.readouterr().err
