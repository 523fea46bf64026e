"""Every request gets its own reply: two threads on one driver over a real socket to the twin, and
a reply that comes after its request timed out (:mod:`instruments.exchange`).

Seen once in a loaded full-suite run: the GUI's status tick asked the prober's identity while
a run's thread read the map position, and ``ReadMapPosition2`` got ``FormFactor,Velox...``.
The races here are forced (events, see :mod:`tests.instruments._exchange`), not timed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymeasure.test import expected_protocol
from pyvisa.errors import VisaIOError

from instruments.cascade.velox import VeloxProber, VeloxReplyMismatch
from instruments.chip.controller import ChipController
from instruments.exchange import ExchangeOutOfStepError
from instruments.keysight.b1500 import B1500
from instruments.keysight.wgfmu import SimBackend, WGFMUError
from instruments.sim import b1500_server, chip_server, prober_server
from tests.instruments._exchange import HeldRelay, address_of, race
from tests.instruments._prober import served_prober

SHORT_MS = 300  #: I/O timeout of the request that is made to time out (its reply is held)


@pytest.fixture
def velox() -> Iterator[tuple[VeloxProber, VeloxProber, HeldRelay]]:
    """A prober driver through a relay that can hold replies, and a reference driver."""
    with served_prober() as (_lab, server):
        relay = HeldRelay(address_of(server.resource))
        p = VeloxProber(relay.resource, visa_library="@py", timeout=5000)
        ref = VeloxProber(server.resource, visa_library="@py", timeout=5000)
        try:
            yield p, ref, relay
        finally:
            p.adapter.close()
            ref.adapter.close()
            relay.close()


def test_identity_and_map_position_from_two_threads_each_get_their_own_reply(velox) -> None:
    p, ref, _ = velox
    expected = ref.map_position()
    position, identity = race(p, p.map_position, "ReadMapPosition2", lambda: p.id)
    assert position == expected
    assert identity == prober_server.IDN


def test_chuck_status_and_position_from_two_threads_each_get_their_own_reply(velox) -> None:
    p, ref, _ = velox
    status, xyz = ref.chuck_status(), ref.chuck_position("home")
    got_status, got_xyz = race(p, p.chuck_status, "ReadChuckStatus",
                               lambda: p.chuck_position("home"))
    assert got_status == status and got_xyz == xyz


def test_a_late_prober_reply_is_dropped_not_taken_by_the_next_command(velox) -> None:
    p, ref, relay = velox
    xyz, position = ref.chuck_position("home"), ref.map_position()
    relay.hold()
    p.adapter.connection.timeout = SHORT_MS
    with pytest.raises(VisaIOError):
        p.chuck_position("home")  # its reply is held: it comes after the timeout
    p.adapter.connection.timeout = 5000
    relay.release()
    assert p.map_position() == position  # not the late ReadChuckPosition reply
    assert p.chuck_position("home") == xyz and p.id == prober_server.IDN


def test_a_prober_that_stays_silent_after_a_timeout_sends_nothing_more(velox) -> None:
    p, ref, relay = velox
    relay.hold()
    p.adapter.connection.timeout = SHORT_MS
    with pytest.raises(VisaIOError):
        p.map_position()
    with pytest.raises(ExchangeOutOfStepError, match="nothing was sent"):
        p.separate()  # the resynchronisation's *IDN? gets no reply either: no move is sent
    p.adapter.connection.timeout = 5000
    relay.release()
    assert p.map_position() == ref.map_position()  # in step again once the replies come


@pytest.mark.parametrize(("command", "call", "reply"), [
    ("ReadMapPosition2", lambda p: p.map_position(), "FormFactor,Velox (simulated),X,1"),
    ("*IDN?", lambda p: p.id, "0: 3 4 0.00 0.00 0 0 5 21 0 0"),
])
def test_a_reply_of_the_wrong_form_raises_a_mismatch_not_a_value(command, call, reply) -> None:
    with expected_protocol(VeloxProber, [(command, reply)]) as p, \
            pytest.raises(VeloxReplyMismatch, match="does not answer"):
        call(p)


@pytest.fixture(scope="module")
def lab_servers(module_bench):
    """Addresses of the simulated bench's B1500 and chip-controller servers."""
    bench, _root = module_bench
    return {name: address_of(bench.config.resources[name]) for name in ("b1500", "chip")}


def test_b1500_error_query_and_identity_from_two_threads(lab_servers) -> None:
    b = B1500(f"TCPIP::{lab_servers['b1500'][0]}::{lab_servers['b1500'][1]}::SOCKET",
              visa_library="@py", timeout=5000)
    try:
        errors, identity = race(b, lambda: b.ask("ERRX?"), "ERRX?", lambda: b.id)
        assert errors.startswith("+0") and identity.strip() == b1500_server.IDN
    finally:
        b.adapter.close()


def test_chip_controller_cell_and_identity_from_two_threads(lab_servers) -> None:
    host, port = lab_servers["chip"]
    c = ChipController(f"TCPIP::{host}::{port}::SOCKET", visa_library="@py")
    try:
        cell, identity = race(c, lambda: c.cell, "CELL:SEL?", lambda: c.id)
        assert isinstance(cell, tuple) and len(cell) == 2 and identity == chip_server.IDN
    finally:
        c.adapter.close()


LATE = {  # driver class, a query whose reply comes late, a query after it and its check
    "b1500": (B1500, lambda d: d.ask("*LRN? 1"), lambda d: d.ask("ERRX?"),
              lambda got: got.startswith("+0")),
    "chip": (ChipController, lambda d: d.array, lambda d: d.board_count(),
             lambda got: got == 0),
}


@pytest.mark.parametrize("name", sorted(LATE))
def test_a_late_reply_is_dropped_by_the_next_query(lab_servers, name) -> None:
    """B1500 (``*LRN?`` late, then ``ERRX?``) and chip controller (``ARR:SEL?`` late, then
    ``BOARD:COUNT?``): the second query gets its own reply, and so does ``*IDN?``."""
    driver_class, late, after, right = LATE[name]
    relay = HeldRelay(lab_servers[name])
    driver = driver_class(relay.resource, visa_library="@py", timeout=SHORT_MS)
    identity = {"b1500": b1500_server.IDN, "chip": chip_server.IDN}[name]
    try:
        relay.hold()
        with pytest.raises(VisaIOError):
            late(driver)
        driver.adapter.connection.timeout = 5000
        relay.release()
        assert right(after(driver))  # not the late reply
        assert driver.id.strip() == identity
    finally:
        driver.adapter.close()
        relay.close()


def test_a_late_wgfmu_reply_is_dropped(server) -> None:
    reference = SimBackend(server.resource)
    relay = HeldRelay(address_of(server.resource))
    backend = SimBackend(relay.resource, timeout_s=SHORT_MS / 1000)
    try:
        assert backend.call("openSession", "GPIB0::17::INSTR") == 0
        reference.call("openSession", "GPIB0::17::INSTR")
        expected = reference.channel_ids()
        relay.hold()
        with pytest.raises(WGFMUError):
            backend.status()  # its reply is held: it comes after the timeout
        backend._timeout_ms = backend._res.timeout = 5000  # the late reply must not be missed
        relay.release()
        assert backend.channel_ids() == expected  # not the late getStatus reply
        assert backend.status()[0] == 0
    finally:
        backend.close()
        reference.close()
        relay.close()


def test_a_late_thermostream_reply_is_dropped(data_root) -> None:
    from instruments.bench import Bench
    from instruments.temptronic.thermostream import ThermoStream
    from instruments.temptronic.thermostream_commands import IDN_TWIN

    with Bench.open("simulated-packaged-thermostream", data_dir=data_root, fresh=True) as bench:
        relay = HeldRelay(address_of(bench.config.resources["heater"]))
        ts = ThermoStream(relay.resource, visa_library="@py", timeout=SHORT_MS)
        try:
            relay.hold()
            with pytest.raises(VisaIOError):
                _ = ts.aux_condition
            ts.adapter.connection.timeout = 5000
            relay.release()
            assert float(ts.setpoint) == float(bench.thermostream.setpoint)  # not AUXC?'s
            assert ts.id == IDN_TWIN
        finally:
            ts.adapter.close()
            relay.close()


def test_a_velox_reply_mismatch_resynchronises_before_the_next_command() -> None:
    """A stray coded reply answered ``*IDN?``: the next command first resynchronises (its
    ``*IDN?`` marker), so the map position read after it is its own reply, not a shifted one."""
    position = "0: 3 4 0.00 0.00 0 0 5 21 0 0"
    with expected_protocol(VeloxProber, [
        ("*IDN?", position),  # the stray reply: a mismatch
        ("*IDN?", "FormFactor,Velox (simulated),X,1"),  # the resynchronisation's marker
        ("ReadMapPosition2", position),
    ]) as p:
        with pytest.raises(VeloxReplyMismatch):
            _ = p.id
        assert p.map_position().col == 3


def test_outputs_off_reach_the_b1500_while_its_replies_cannot_be_resynchronised(
        module_bench, lab_servers) -> None:
    """After a timed-out query, with the instrument still not answering (replies held), the
    safe state's DZ and CL are still sent (a write reads no reply); only the confirming
    ``*OPC?`` fails. Read back on the twin through the bench's own connection."""
    bench, _root = module_bench
    relay = HeldRelay(lab_servers["b1500"])
    b = B1500(relay.resource, visa_library="@py", timeout=SHORT_MS)
    try:
        b.write("CN 1")
        b.write("DV 1,0,0.5,1e-3")
        assert b.ask("*OPC?").strip() == "1"  # executed (one connection answers in order)
        assert bench.b1500.ask("*LRN? 0").strip() == "CN1"
        relay.hold()
        with pytest.raises(VisaIOError):
            b.ask("ERRX?")  # times out: replies out of step
        with pytest.raises(ExchangeOutOfStepError):
            b.all_off()  # DZ and CL are sent; the *OPC? cannot be paired
        b.adapter.connection.timeout = 5000
        relay.release()
        assert b.ask("*OPC?").strip() == "1"  # resynchronised; all sent before it is executed
        assert bench.b1500.ask("*LRN? 0").strip() == "CL"
    finally:
        relay.release()
        b.adapter.close()
        relay.close()


def test_an_interrupted_read_leaves_the_connection_to_be_resynchronised(lab_servers) -> None:
    """SIGINT (KeyboardInterrupt) while a reply is awaited: the next query resynchronises
    first instead of taking the interrupted request's reply (``ARR:SEL?``'s, read as the
    board count)."""
    host, port = lab_servers["chip"]
    c = ChipController(f"TCPIP::{host}::{port}::SOCKET", visa_library="@py")
    adapter = c.adapter
    real_read = adapter.read
    calls = {"n": 0}

    def interrupted_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt  # before the reply is read: it stays in the connection
        return real_read(*args, **kwargs)

    try:
        adapter.read = interrupted_once
        with pytest.raises(KeyboardInterrupt):
            _ = c.array
        assert c.board_count() == 0
        assert c.id == chip_server.IDN
    finally:
        adapter.read = real_read
        adapter.close()


def test_a_plain_write_and_its_plain_read_stay_a_pair_after_a_timeout(lab_servers) -> None:
    """pymeasure-style ``write`` then ``read`` (as a script calls ``read_data`` after ``XE``):
    after a timed-out query the write resynchronises first, so the read gets its reply."""
    relay = HeldRelay(lab_servers["b1500"])
    b = B1500(relay.resource, visa_library="@py", timeout=SHORT_MS)
    try:
        relay.hold()
        with pytest.raises(VisaIOError):
            b.ask("*LRN? 1")  # its reply comes late
        b.adapter.connection.timeout = 5000
        relay.release()
        b.write("ERRX?")
        assert b.read().startswith("+0")
    finally:
        b.adapter.close()
        relay.close()
