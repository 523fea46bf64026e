"""Fixtures of the WGFMU tests (driver and twin): the simulated WGFMU server on the small test
double of the lab (:class:`tests.instruments._wgfmu.FakeLab`) and the driver's session on it.
A module that needs another ``lab``/``server``/``wg`` defines its own (it takes precedence)."""

from __future__ import annotations

import pytest

from tests.instruments._wgfmu import FakeLab


@pytest.fixture
def lab() -> FakeLab:
    """The two-state fake lab (its calls recorded)."""
    return FakeLab()


@pytest.fixture
def server(lab):
    """The simulated WGFMU server on ``lab`` (127.0.0.1), stopped after the test."""
    from instruments.sim.wgfmu_server import make_server

    srv = make_server(lab).start()
    yield srv
    srv.stop()


@pytest.fixture
def wg(server):
    """The WGFMU driver with its session open on ``server``, closed after the test."""
    from instruments.keysight.wgfmu import WGFMU

    w = WGFMU.simulated(server.resource)
    w.open_session("GPIB0::17::INSTR")
    yield w
    w.close()
