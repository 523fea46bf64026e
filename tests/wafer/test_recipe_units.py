"""Recipe keys carry their unit: ``_s`` is seconds, conductances are ``_siemens``."""

from __future__ import annotations

import pytest

from procedures.wafer.recipe import RecipeError, parse_recipe
from tests.wafer.test_recipe_schema import BASE


def _with_contact(line: str) -> str:
    return BASE.replace("[[steps]]", f"[contact]\n{line}\n\n[[steps]]", 1)


def test_short_threshold_in_siemens_and_its_old_name():
    assert parse_recipe(_with_contact("g_short_siemens = 2e-4"), "r.toml").contact \
        .g_short_siemens == pytest.approx(2e-4)
    # recipes written before the rename still load
    assert parse_recipe(_with_contact("g_short_s = 3e-4"), "r.toml").contact \
        .g_short_siemens == pytest.approx(3e-4)
    assert parse_recipe(BASE, "r.toml").contact.g_short_siemens == pytest.approx(5e-5)


@pytest.mark.parametrize("key", ["g_short_siemens", "g_short_s"])
def test_a_bad_threshold_names_the_key_written_and_its_line(key):
    text = _with_contact(f"{key} = -1.0")
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, "r.toml")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.startswith(key))
    assert info.value.key == f"contact.{key}" and info.value.line == line, str(info.value)
