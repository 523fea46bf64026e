"""Tests of the simulated prober's state machine (no sockets)."""

from __future__ import annotations

import math

import pytest

from instruments.sim import prober as pm
from instruments.sim.prober import ProberConfig, ProberError, ProberModel, Subsite
from instruments.wafermap import WaferMap
from tests.instruments._prober import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def model(clock: FakeClock) -> ProberModel:
    return ProberModel(WaferMap(), clock=clock, advance=clock.advance)


def code_of(excinfo: pytest.ExceptionInfo[ProberError]) -> int:
    return excinfo.value.code


def test_initial_state_is_separated_over_the_home_die(model: ProberModel) -> None:
    assert not model.in_contact
    assert model.separated
    assert model.preset_height() == "S"
    assert model.die_under_chuck() == model.physical.home_die
    assert model.temperature_k() == pytest.approx(298.15)
    assert model.vacuum_on


def test_z_presets_and_contact_flag(model: ProberModel) -> None:
    contact = model.contact_um
    assert contact is not None
    model.move_contact()
    assert model.in_contact and model.preset_height() == "C"
    assert model.z_um == pytest.approx(contact)
    model.move_align()
    assert not model.in_contact and model.preset_height() == "A"
    assert not model.separated
    model.move_separation()
    assert model.separated and model.preset_height() == "S"
    assert model.z_um == pytest.approx(contact - model.sep_dist_um)
    model.set_chuck_mode(overtravel=1)
    model.move_contact()
    assert model.preset_height() == "O" and model.in_contact
    assert model.z_um == pytest.approx(contact + model.overtravel_um)


def test_z_moves_never_exceed_contact(model: ProberModel) -> None:
    contact = model.contact_um
    assert contact is not None
    with pytest.raises(ProberError) as exc:
        model.move_z(contact + 1.0)
    assert code_of(exc) == pm.E_Z_LIMIT
    model.move_z(contact)
    assert model.in_contact
    model.set_chuck_mode(overtravel=1)
    model.move_z(contact + model.overtravel_um)
    with pytest.raises(ProberError):
        model.move_z(contact + model.overtravel_um + 1.0)


def test_contact_needs_a_taught_height(clock: FakeClock) -> None:
    model = ProberModel(WaferMap(), clock=clock, config=ProberConfig(contact_height_um=None))
    assert model.heights()[0] == -1
    assert model.preset_height() == "0"
    for move in (model.move_contact, model.move_separation, model.move_align):
        with pytest.raises(ProberError) as exc:
            move()
        assert code_of(exc) == pm.E_NO_CONTACT_HEIGHT
    assert not model.in_contact
    model.set_chuck_height("C", "V", 9000.0)
    model.move_contact()
    assert model.in_contact and model.z_um == pytest.approx(9000.0)
    model.move_separation()
    model.set_chuck_height("C", "R")
    assert model.contact_um is None


def test_vacuum_off_refuses_contact(model: ProberModel) -> None:
    model.set_vacuum(False)
    with pytest.raises(ProberError) as exc:
        model.move_contact()
    assert code_of(exc) == pm.E_VACUUM_OFF
    assert not model.in_contact


def test_xy_interlock_refuses_moves_unless_separated(model: ProberModel) -> None:
    before = model.position_um("Z")
    for height in (model.move_contact, model.move_align):
        height()
        for move in (lambda: model.move_chuck(0, 0, "C"), lambda: model.move_chuck_index(1, 0, "R"),
                     lambda: model.move_chuck_subsite(100, 100)):
            with pytest.raises(ProberError) as exc:
                move()
            assert code_of(exc) == pm.E_INTERLOCK
        assert model.position_um("Z")[:2] == before[:2]
    model.move_separation()
    model.move_chuck(1000.0, -2000.0, "C")
    assert model.position_um("C")[:2] == pytest.approx((1000.0, -2000.0))


def test_auto_z_separates_before_an_xy_move(model: ProberModel) -> None:
    model.set_chuck_mode(auto_z=1)
    model.move_contact()
    model.move_chuck(5000.0, 5000.0, "C")
    assert model.separated and not model.in_contact
    assert model.position_um("C")[:2] == pytest.approx((5000.0, 5000.0))


def test_position_references(model: ProberModel) -> None:
    layout = model.map
    hx, hy = layout.die_center_um(*model.home_die)
    model.move_chuck(100.0, 200.0, "H")
    assert model.position_um("C")[:2] == pytest.approx((hx + 100.0, hy + 200.0))
    assert model.position_um("Z")[:2] == model.position_um("C")[:2]
    assert model.position_um("H")[:2] == pytest.approx((100.0, 200.0))
    assert model.position_um("D")[:2] == pytest.approx((0.0, 0.0))  # MoveChuck sets die home
    model.move_chuck(-50.0, 25.0, "R")
    assert model.position_um("H")[:2] == pytest.approx((50.0, 225.0))
    model.move_chuck_subsite(10.0, 20.0)
    assert model.position_um("D")[:2] == pytest.approx((10.0, 20.0))
    with pytest.raises(ProberError) as exc:
        model.position_um("R")
    assert code_of(exc) == pm.E_BAD_ARGUMENT
    with pytest.raises(ProberError) as exc:
        model.move_chuck(1e7, 0.0, "C")
    assert code_of(exc) == pm.E_XY_LIMIT


def test_index_moves_follow_the_map_axes(model: ProberModel) -> None:
    col, row = model.physical.home_die
    model.move_chuck_index(0, 0, "H")
    assert model.die_under_chuck() == (col, row)
    model.move_chuck_index(1, 0, "R")
    assert model.die_under_chuck() == (col + 1, row)
    model.move_chuck_index(0, 1, "R")  # +y is up: one row towards the top
    assert model.die_under_chuck() == (col + 1, row - 1)


def test_default_route_is_row_first_serpentine_over_all_dies(model: ProberModel) -> None:
    route = model.route
    assert sorted(route) == sorted(model.map.dies)
    assert len(set(route)) == len(route)
    rows = [r for _, r in route]
    assert rows == sorted(rows)
    for i, row in enumerate(sorted(set(rows))):
        cols = [c for c, r in route if r == row]
        assert cols == (sorted(cols) if i % 2 == 0 else sorted(cols, reverse=True))


def test_stepping_visits_the_route_then_reports_end(model: ProberModel) -> None:
    first = model.step_first_die()
    visited = [(first.col, first.row)]
    assert first.site == 0 and first.last_site_index == len(model.subsites) - 1
    while True:
        try:
            step = model.step_next_die()
        except ProberError as exc:
            assert exc.code == pm.E_END_OF_ROUTE
            break
        visited.append((step.col, step.row))
        assert model.die_under_chuck() == (step.col, step.row)
        assert model.separated
    assert visited == model.route
    position = model.position_um("Z")
    with pytest.raises(ProberError) as exc:
        model.step_next_die()
    assert exc.value.code == pm.E_END_OF_ROUTE
    assert model.position_um("Z") == position


def test_step_from_contact_separates_automatically(model: ProberModel) -> None:
    model.step_first_die()
    model.move_contact()
    step = model.step_next_die()
    assert not model.in_contact and model.preset_height() == "S"
    assert model.die_under_chuck() == (step.col, step.row)


def test_step_to_a_die_and_site(model: ProberModel) -> None:
    die = model.map.dies[len(model.map.dies) // 3]
    step = model.step_next_die(die, 2)
    assert (step.col, step.row, step.site) == (*die, 2)
    sub = model.subsites[2]
    cx, cy = model.map.die_center_um(*die)
    assert model.position_um("C")[:2] == pytest.approx((cx + sub.dx_um, cy + sub.dy_um))
    assert model.die_under_chuck() == die
    # stepping on continues the route after that die
    nxt = model.step_next_die()
    assert (nxt.col, nxt.row) == model.route[model.route.index(die) + 1]
    with pytest.raises(ProberError) as exc:
        model.step_next_die((0, 0))  # a corner of the bounding grid is off the wafer
    assert exc.value.code == pm.E_DIE_NOT_ON_MAP
    with pytest.raises(ProberError) as exc:
        model.step_next_die(die, 99)
    assert exc.value.code == pm.E_BAD_ARGUMENT


def test_subsite_stepping_and_end_of_subsites(model: ProberModel) -> None:
    model.step_first_die()
    sites = [model.site]
    for _ in range(model.last_site_index):
        site, last = model.step_next_subdie()
        sites.append(site)
        assert last == model.last_site_index
    assert sites == list(range(len(model.subsites)))
    with pytest.raises(ProberError) as exc:
        model.step_next_subdie()
    assert exc.value.code == pm.E_END_OF_SUBSITES
    model.set_subsites([Subsite("only", 0.0, 0.0)])
    assert model.last_site_index == 0


def test_bins_and_yield(model: ProberModel) -> None:
    model.step_first_die()
    bins = [1, 2, 1, 1, 3]
    for b in bins:
        model.bin_step_die(b)
    total, tested, passed, failed = model.map_yield()
    assert total == len(model.route)
    assert (tested, passed, failed) == (5, 3, 2)
    assert model.bins[model.route[1]] == 2
    die = model.route[-1]
    assert model.bin_map_die(7, die) == die
    assert model.map_yield()[1:] == (6, 3, 3)
    model.step_first_die(clear_bins=True)
    assert model.map_yield()[1] == 0


def test_custom_route(model: ProberModel) -> None:
    dies = list(model.map.dies[:3])
    model.set_route(dies)
    assert model.step_first_die().col == dies[0][0]
    model.step_next_die()
    model.step_next_die()
    with pytest.raises(ProberError):
        model.step_next_die()
    with pytest.raises(ProberError) as exc:
        model.set_route([(0, 0)])
    assert exc.value.code == pm.E_DIE_NOT_ON_MAP


def test_map_position_and_home(model: ProberModel) -> None:
    step = model.step_next_die(model.route[4], 1)
    pos = model.map_position()
    assert (pos.col, pos.row, pos.site) == (step.col, step.row, 1)
    assert pos.die_number == 5 and pos.dies_count == len(model.route)
    hx, hy = model.map.die_center_um(*model.home_die)
    x, y, _ = model.position_um("C")
    assert (pos.x_from_home_um, pos.y_from_home_um) == pytest.approx((x - hx, y - hy))
    model.set_map_home()
    assert model.home_die == (step.col, step.row)
    assert model.map_position().x_from_home_um == pytest.approx(model.subsites[1].dx_um)


def test_wafer_map_params_change_the_map_not_the_wafer(model: ProberModel) -> None:
    params = model.wafer_map_params()
    assert params == (200.0, 10_000.0, 10_000.0, 0.0, 0.0, 0.0, 0.0, 3000.0)
    model.set_wafer_map_params(200.0, 5000.0, 5000.0, 0.0, 0.0, 0.0, 0.0, 3000.0)
    assert model.map.die_width_um == 5000.0
    assert len(model.route) == len(model.map.dies) > len(model.physical.dies)
    assert model.physical.die_width_um == 10_000.0
    with pytest.raises(ProberError) as exc:
        model.set_wafer_map_params(200.0, 5000.0, 5000.0, 0.0, 45.0, 0.0, 0.0, 3000.0)
    assert exc.value.code == pm.E_BAD_ARGUMENT
    with pytest.raises(ProberError):
        model.set_wafer_map_params(-1.0, 5000.0, 5000.0, 0.0, 0.0, 0.0, 0.0, 3000.0)
    assert model.map.die_width_um == 5000.0


def test_chuck_status_flags(model: ProberModel) -> None:
    status = model.chuck_status()
    assert status.flags_mode & 4 and status.flags_mode & 16  # interlock, contact set
    assert status.preset_height == "S" and status.vacuum_on
    model.move_contact()
    assert model.chuck_status().preset_height == "C"
    assert model.prober_status()[1] == 1
    model.set_external_mode("R")
    assert model.prober_status()[2] == "R"
    with pytest.raises(ProberError):
        model.set_external_mode("X")


def test_heater_ramps_at_the_configured_rate(model: ProberModel, clock: FakeClock) -> None:
    rate = model.config.ramp_c_per_min
    assert model.set_heater_temp(85.0) == 85.0
    assert model.temperature_c() == pytest.approx(25.0)
    assert model.heater_status()[1] == "H"
    clock.advance(60.0)
    assert model.temperature_c() == pytest.approx(25.0 + rate)
    clock.advance(3600.0)
    assert model.temperature_c() == pytest.approx(85.0)
    # cooling from mid-ramp starts from the temperature reached
    model.set_heater_temp(200.0)
    clock.advance(30.0)
    mid = model.temperature_c()
    assert mid == pytest.approx(85.0 + rate / 2)
    model.set_heater_temp(20.0)
    assert model.heater_status()[1] == "C"
    clock.advance(60.0)
    assert model.temperature_c() == pytest.approx(mid - rate)
    assert model.temperature_k() == pytest.approx(model.temperature_c() + 273.15)


def test_heat_chuck_advances_simulated_time_through_soak(
    model: ProberModel, clock: FakeClock
) -> None:
    reached = model.heat_chuck(65.0)
    assert reached == pytest.approx(65.0)
    expected = 40.0 / model.config.ramp_c_per_min * 60.0 + model.config.soak_s
    assert clock.t == pytest.approx(expected)
    assert model.heater_status() == (pytest.approx(65.0), "R")


def test_heat_chuck_without_advance_keeps_its_own_time(clock: FakeClock) -> None:
    model = ProberModel(WaferMap(), clock=clock)
    model.heat_chuck(35.0)
    assert clock.t == 0.0
    assert model.now() == pytest.approx(60.0 + model.config.soak_s)
    assert model.temperature_c() == pytest.approx(35.0)


def test_soak_status_after_set_point_is_reached(model: ProberModel, clock: FakeClock) -> None:
    model.set_heater_temp(26.0)
    clock.advance(6.0)
    assert model.heater_status()[1] == "S"
    clock.advance(model.config.soak_s)
    assert model.heater_status()[1] == "R"


def test_heater_range_is_enforced(model: ProberModel) -> None:
    with pytest.raises(ProberError) as exc:
        model.set_heater_temp(1000.0)
    assert exc.value.code == pm.E_HEATER_RANGE
    assert model.set_point_c == 25.0
    assert not math.isnan(model.temperature_c())


def test_every_error_code_has_a_message() -> None:
    codes = [v for k, v in vars(pm).items() if k.startswith("E_") and isinstance(v, int)]
    assert len(codes) == len(set(codes))
    assert all(code in pm.ERROR_MESSAGES for code in codes)
    assert pm.E_OK == 0 and pm.E_UNKNOWN_COMMAND == 509 and pm.E_END_OF_ROUTE == 703
