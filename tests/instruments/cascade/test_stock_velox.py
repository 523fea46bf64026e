"""Stock, unmodified pymeasure ``Velox`` drives the simulated prober (any client can use the lab).

Only the connection settings a user would give for a raw socket are passed (``\\n`` read
termination, the pyvisa-py backend).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymeasure.instruments.formfactor import Velox

from instruments.sim.line_server import LineServer
from tests.instruments._prober import ProberLab, served_prober


@pytest.fixture
def served() -> Iterator[tuple[ProberLab, LineServer]]:
    with served_prober() as pair:
        yield pair


@pytest.fixture
def velox(served: tuple[ProberLab, LineServer]) -> Iterator[Velox]:
    _, server = served
    prober = Velox(server.resource, visa_library="@py", read_termination="\n", timeout=5000)
    try:
        yield prober
    finally:
        prober.adapter.close()


def test_stock_velox_steps_through_every_die(
    served: tuple[ProberLab, LineServer], velox: Velox
) -> None:
    lab, _ = served
    visited = []
    coordinates = velox.wafermap.step_first_die()
    while not velox.wafermap.end_reached:
        visited.append((coordinates[0], coordinates[1]))
        velox.chuck.move_contact()
        assert lab.prober.in_contact
        assert lab.prober.die_under_chuck() == (coordinates[0], coordinates[1])
        velox.chuck.move_separation()
        coordinates = velox.wafermap.step_next_die()
    assert visited == lab.prober.route
    assert velox.error_code == 703 and velox.error_message == "EndOfWafer"


def test_stock_velox_error_handling(
    served: tuple[ProberLab, LineServer], velox: Velox
) -> None:
    lab, _ = served
    velox.chuck.move_contact()
    with pytest.raises(ConnectionError, match="^521"):
        velox.chuck.move(100, 100, pos_ref="relative")
    assert velox.error_code == 521
    with pytest.raises(ConnectionError, match="^509"):
        velox.ask("NoSuchCommand")
    velox.chuck.move_separation()
    velox.chuck.move(100, 100, pos_ref="relative")
    assert velox.error_code == 0


def test_stock_velox_properties(served: tuple[ProberLab, LineServer], velox: Velox) -> None:
    lab, _ = served
    assert "Velox" in velox.id
    assert velox.version
    assert velox.wafermap.enabled is True
    assert velox.chuck.index == [20_000.0, 20_000.0]
    velox.chuck.index = (1000.0, 2000.0)
    assert lab.prober.index_um == (1000.0, 2000.0)
    die = lab.prober.route[1]
    velox.wafermap.step_to_die(*die)
    assert lab.prober.die_under_chuck() == die
    cx, cy = lab.prober.map.die_center_um(*die)
    velox.chuck.move_index(1, 0, pos_ref="diehome")  # one (new) index step from the die home
    assert lab.prober.position_um("C")[:2] == pytest.approx((cx + 1000.0, cy))
