"""Wafer-map geometry: die indices versus positions."""

import math

import pytest

from instruments.wafermap import WaferMap


def test_200mm_wafer_has_a_plausible_number_of_dies():
    m = WaferMap()
    # a 200 mm wafer with 10 mm dies and 3 mm edge exclusion: pi*97^2/100 ~ 295 at most
    assert 200 < len(m.dies) < 300
    assert m.n_cols == m.n_rows == 20


def test_every_die_lies_inside_the_usable_radius():
    m = WaferMap()
    r_um = (m.diameter_mm / 2 - m.edge_exclusion_mm) * 1000
    for col, row in m.dies:
        x, y = m.die_center_um(col, row)
        assert math.hypot(x, y) + math.hypot(m.die_width_um, m.die_height_um) / 2 <= r_um + 1e-6


def test_die_at_position_inverts_die_center():
    m = WaferMap(die_width_um=8000, die_height_um=12000, x_offset_um=1500)
    for die in m.dies:
        x, y = m.die_center_um(*die)
        assert m.die_at_um(x, y) == die
        assert m.die_at_um(x + 3900, y - 5900) == die
    assert m.die_at_um(1e6, 0) is None


def test_rows_grow_downwards_and_cols_to_the_right():
    m = WaferMap()
    x0, y0 = m.die_center_um(5, 5)
    x1, y1 = m.die_center_um(6, 6)
    assert x1 > x0 and y1 < y0


def test_home_die_is_central_and_positions_relative_to_it():
    m = WaferMap()
    home = m.home_die
    assert home in m.die_set
    assert m.radius_fraction(*home) < 0.1
    assert m.to_home_um(*m.die_center_um(*home)) == (0.0, 0.0)
    assert m.from_home_um(0.0, 0.0) == m.die_center_um(*home)


@pytest.mark.parametrize("kwargs", [{"diameter_mm": 0}, {"die_width_um": -1},
                                    {"edge_exclusion_mm": 150}])
def test_bad_geometry_is_refused(kwargs):
    with pytest.raises(ValueError):
        WaferMap(**kwargs)
