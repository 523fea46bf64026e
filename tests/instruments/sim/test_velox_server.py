"""VeloxProber driver against the simulated Velox server through real sockets (pyvisa-py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from instruments.cascade.velox import ProberSafetyError, VeloxError, VeloxProber
from instruments.sim import prober as pm
from instruments.sim.line_server import LineServer
from instruments.sim.prober import ProberConfig, Subsite
from tests.instruments._prober import FakeClock, ProberLab, served_prober


@dataclass
class Bench:
    lab: ProberLab
    clock: FakeClock
    server: LineServer
    prober: VeloxProber


def _bench(config: ProberConfig | None = None) -> Iterator[Bench]:
    clock = FakeClock()
    with served_prober(clock=clock, config=config) as (lab, server):
        prober = VeloxProber(server.resource, visa_library="@py", timeout=5000)
        try:
            yield Bench(lab, clock, server, prober)
        finally:
            prober.adapter.close()


@pytest.fixture
def bench() -> Iterator[Bench]:
    yield from _bench()


def test_identification(bench: Bench) -> None:
    assert "Velox" in bench.prober.id
    assert bench.prober.version.startswith("3.")


def test_walk_the_route_with_contact_at_every_die(bench: Bench) -> None:
    p, model = bench.prober, bench.lab.prober
    visited = []
    step = p.step_first_die()
    while not step.end_of_route:
        visited.append(step.die)
        assert p.chuck_status().separated
        p.contact()
        assert model.in_contact and model.die_under_chuck() == step.die
        assert p.map_position().die == step.die
        p.separate()  # the driver refuses any XY step unless separated
        step = p.bin_step_die(1)
    assert visited == model.route
    total, tested, passed, failed = model.map_yield()
    assert (tested, passed, failed) == (total, total, 0)
    assert p.map_yield().passed == total


def test_xy_interlock_end_to_end(bench: Bench) -> None:
    p, model = bench.prober, bench.lab.prober
    p.contact()
    before = model.position_um("C")
    with pytest.raises(ProberSafetyError):
        p.move_chuck_xy(1000, 1000, "relative")
    with pytest.raises(ProberSafetyError):
        p.set_heater_temp(50)
    with pytest.raises(ProberSafetyError):  # raw commands pass the driver's interlock too
        p.ask("MoveChuck 0 0 C Y 100")
    # the simulated station interlocks on its own as well (the adapter bypasses the driver)
    p.adapter.write("MoveChuck 0 0 C Y 100")
    with pytest.raises(VeloxError) as exc:
        p.read()
    assert exc.value.code == pm.E_INTERLOCK
    assert model.position_um("C") == before and model.set_point_c == 25.0
    p.safe_state()
    assert model.separated
    p.move_chuck_xy(1000, -500, "relative")
    x, y, _ = p.chuck_position("center")
    assert (x, y) == pytest.approx((before[0] + 1000, before[1] - 500))


def test_step_to_die_and_subsites(bench: Bench) -> None:
    p, model = bench.prober, bench.lab.prober
    die = model.route[2]
    step = p.step_next_die(*die, 0)
    assert step.die == die and step.site == 0
    sites = [0]
    while True:
        try:
            site, last = p.step_next_subdie()
        except VeloxError as exc:
            assert exc.code == pm.E_END_OF_SUBSITES
            break
        sites.append(site)
    assert sites == list(range(last + 1))
    pos = p.map_position()
    assert (pos.col, pos.row, pos.site) == (*die, last)
    with pytest.raises(VeloxError) as exc:
        p.step_next_die(0, 0)
    assert exc.value.code == pm.E_DIE_NOT_ON_MAP


def test_heater_over_the_wire(bench: Bench) -> None:
    p = bench.prober
    assert p.set_heater_temp(45) == 45.0
    assert p.heater().status == "H"
    bench.clock.advance(60.0)
    assert p.heater().temperature == pytest.approx(35.0)
    assert p.heat_chuck(45) == pytest.approx(45.0)
    heater = p.heater()
    assert heater.temperature == pytest.approx(45.0) and heater.status == "R"
    assert bench.lab.prober.temperature_k() == pytest.approx(318.15)


def test_status_modes_heights_and_map_params(bench: Bench) -> None:
    p, model = bench.prober, bench.lab.prober
    p.set_external_mode(True)
    assert p.prober_status().mode == "R" and model.external_mode == "R"
    p.set_external_mode(False)
    heights = p.chuck_heights()
    assert heights.contact_um == model.contact_um
    p.set_chuck_height("separation", 500)
    assert p.chuck_heights().sep_dist_um == 500.0
    params = p.wafer_map_params
    assert params.diameter_mm == 100.0 and params.die_width_um == 20_000.0
    p.set_map_home(*model.route[0])
    assert model.home_die == model.route[0]


def test_unknown_command_is_509(bench: Bench) -> None:
    with pytest.raises(VeloxError) as exc:
        bench.prober.ask("NoSuchCommand 1 2")
    assert exc.value.code == 509


def test_no_contact_height_refuses_contact_over_the_wire() -> None:
    config = ProberConfig(contact_height_um=None, subsites=[Subsite("c", 0.0, 0.0)])
    for b in _bench(config):
        with pytest.raises(ProberSafetyError):
            b.prober.contact()
        assert not b.lab.prober.in_contact
        with pytest.raises(ProberSafetyError):  # unknown Z state: no XY moves either
            b.prober.move_chuck_xy(0, 0)
        b.prober.safe_state()  # nothing to do, no error


def test_plain_port_does_not_speak_the_message_server_framing(bench: Bench) -> None:
    with socket.create_connection(bench.server.address, timeout=5) as sock:
        sock.sendall(b"Cmd=7:ReadChuckHeights:Y\n")
        data = b""
        while b"\n" not in data:
            data += sock.recv(4096)
    assert data.decode().startswith("509: UnknownCommand Cmd=7:")


def test_driver_reads_back_the_twins_own_reply_records(bench: Bench) -> None:
    """The reply records (instruments.cascade.velox_replies) are one fact for both sides: what
    the driver parses from the wire equals what the twin's model fills in, field by field."""
    p, model = bench.prober, bench.lab.prober
    p.step_first_die()
    for contact in (False, True):
        if contact:
            p.contact()
        status = p.chuck_status()
        assert status == model.chuck_status()
        assert status.in_contact is contact and status.contact_set and status.has_interlock
        assert p.map_position() == model.map_position()
    p.separate()
