"""Direct tests of the target parsing every procedure shares (cells, dies)."""

from __future__ import annotations

import pytest

from instruments.chip.geometry import ARRAY_SHAPES
from procedures.framework.targets import format_cells, parse_cells, parse_die, target_settings


def test_one_cell_a_list_and_a_rectangle():
    assert parse_cells("3,7") == [(3, 7)]
    assert parse_cells(" 0,0 ; 0,1;5,9 ") == [(0, 0), (0, 1), (5, 9)]
    assert parse_cells("0-1,30-31") == [(0, 30), (0, 31), (1, 30), (1, 31)]


def test_all_covers_each_array_in_row_order():
    for array, (rows, cols) in ARRAY_SHAPES.items():
        cells = parse_cells("ALL", array)
        assert len(cells) == rows * cols
        assert cells[0] == (0, 0) and cells[1] == (0, 1) and cells[-1] == (rows - 1, cols - 1)


def test_repeated_cells_are_kept_once_in_first_order():
    assert parse_cells("2,2;0-2,2;2,2;1,1") == [(2, 2), (0, 2), (1, 2), (1, 1)]


@pytest.mark.parametrize("text, match", [
    ("", "no cell given"),
    ("   ", "no cell given"),
    (";", "no cell in"),
    ("32,0", r"row '32' is outside 0\.\.31"),
    ("0,40", r"column '40' is outside 0\.\.31"),
    ("3-1,0", r"row '3-1' is outside"),
    ("1,2,3", r"bad cell '1,2,3' for 1T1R \(32 rows x 32 columns\)"),
    ("a,b", "bad cell 'a,b'"),
])
def test_bad_cells_name_the_allowed_ranges(text, match):
    with pytest.raises(ValueError, match=match):
        parse_cells(text)


def test_unknown_array_is_refused():
    with pytest.raises(ValueError, match="array must be one of 1T1R, 2T2R"):
        parse_cells("0,0", "3T3R")


def test_format_cells_is_the_inverse_of_parse_cells():
    cells = [(0, 0), (5, 9), (31, 31)]
    assert format_cells(cells) == "0,0;5,9;31,31"
    assert parse_cells(format_cells(cells)) == cells


def test_parse_die():
    assert parse_die("") is None and parse_die("  ") is None
    assert parse_die(" 3, -2 ") == (3, -2)
    for bad in ("3", "3,4,5", "x,1"):
        with pytest.raises(ValueError, match="die must be 'col,row'"):
            parse_die(bad)


def test_target_settings_name_the_die_and_leave_out_what_is_not_given():
    """What a wafer run and a campaign set on every procedure run they build."""
    assert target_settings("L1", "W07", "ana", 2, (9, 10)) == {
        "lot": "L1", "wafer_id": "W07", "operator": "ana", "subsite": 2, "die": "9,10"}
    assert target_settings("L1", "W07", "", 0, None) == {
        "lot": "L1", "wafer_id": "W07", "subsite": 0}
    assert parse_die(target_settings("L", "W", "", 0, (3, 4))["die"]) == (3, 4)
