"""FormFactor's message-server transport: the twin's second prober port and the driver over it.

Framing as in FormFactor's own Python client (``vxmessageserver.py``): register with
``FCN=1:RegisterProberApp:<app> <app> 0``, then ``Cmd=<id>:<Name>:<args>`` ->
``Rsp=<id>:<code>:<values>``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from instruments.bench import Bench, load_bench_config
from instruments.cascade import velox_commands as vc
from instruments.cascade.velox import ProberSafetyError, VeloxError, VeloxProber
from instruments.sim import prober_server
from instruments.sim.line_server import LineServer
from tests.instruments._prober import LineClient, ProberLab, served_prober

Client = LineClient


@pytest.fixture
def served() -> Iterator[tuple[ProberLab, LineServer]]:
    with served_prober(prober_server.make_message_server) as pair:
        yield pair


def test_registration_comes_first_then_ids_are_echoed(
    served: tuple[ProberLab, LineServer],
) -> None:
    lab, server = served
    c = Client(server.address)
    try:
        assert c.ask("Cmd=2:ReadChuckHeights:Y") == "Rsp=2:540:ClientNotRegistered"
        assert c.ask(vc.registration_message("pytest app")) == "Rsp=1:0:"
        assert c.ask("Cmd=3:ReadChuckHeights:Y").startswith("Rsp=3:0:10000.00 20.00 ")
        reply = c.ask("Cmd=4:StepNextDie:1 0")
        assert reply.startswith("Rsp=4:0:1 0 0 3") or reply.startswith("Rsp=4:701:")
        assert c.ask("Cmd=5:Bogus:1 2") == "Rsp=5:509:UnknownCommand Bogus"
        assert c.ask("Cmd=6:MoveChuckVelocity:+ + 0 100 100 0").startswith(
            f"Rsp=6:{vc.E_NOT_SUPPORTED}:")
        assert c.ask("Cmd=7:MoveChuckContact:") == "Rsp=7:0:"
        assert c.ask("Cmd=8:MoveChuck:100 0 R Y").startswith(f"Rsp=8:{vc.E_INTERLOCK}:")
        assert lab.prober.in_contact
        assert c.ask("garbage").startswith("Rsp=0:509:")
        listing = c.ask("FCN=1:GetCommands:")
        assert listing.startswith("Rsp=1:0:")
        entries = [e.split(" ") for e in listing.split(":", 2)[2].split(";")]
        # the shape FormFactor's client parses: section name number timeout
        assert all(len(e) == 4 and int(e[2]) > 0 and int(e[3]) > 0 for e in entries)
        assert "ReadMapPosition2" in {e[1] for e in entries}
    finally:
        c.close()


def test_each_connection_registers_on_its_own(served: tuple[ProberLab, LineServer]) -> None:
    _, server = served
    a, b = Client(server.address), Client(server.address)
    try:
        a.ask(vc.registration_message("a"))
        assert a.ask("Cmd=2:ReadProberStatus:").startswith("Rsp=2:0:")
        assert b.ask("Cmd=2:ReadProberStatus:") == "Rsp=2:540:ClientNotRegistered"
    finally:
        a.close()
        b.close()


def test_driver_over_the_message_server_walks_and_interlocks(
    served: tuple[ProberLab, LineServer],
) -> None:
    lab, server = served
    p = VeloxProber(server.resource, visa_library="@py", timeout=5000,
                    transport="message-server")
    try:
        assert p.id.startswith("FormFactor,Velox,3.")
        visited = []
        step = p.step_first_die()
        while not step.end_of_route:
            visited.append(step.die)
            p.contact()
            assert lab.prober.in_contact
            with pytest.raises(ProberSafetyError):
                p.wafermap.step_next_die()  # pymeasure's API, interlocked
            assert lab.prober.in_contact and lab.prober.current_map_die() == step.die
            p.separate()
            step = p.step_next_die()
        assert visited == lab.prober.route
        pos = p.map_position()
        assert (pos.die_number, pos.dies_count) == (pos.cluster_number, pos.clusters_count)
        with pytest.raises(VeloxError) as exc:
            p.ask("NoSuchCommand")
        assert exc.value.code == vc.E_UNKNOWN_COMMAND
        p.ask("EchoData hello")  # the connection still works after an error
    finally:
        p.adapter.close()


def test_default_transport_follows_the_port() -> None:
    assert vc.default_transport("TCPIP::prober-pc::1412::SOCKET") == "message-server"
    assert vc.default_transport("TCPIP0::10.0.0.5::1412::SOCKET") == "message-server"
    assert vc.default_transport("TCPIP::prober-pc::5025::SOCKET") == "plain"
    assert vc.default_transport("GPIB0::28::INSTR") == "plain"
    assert load_bench_config("lab-example").prober_transport == "message-server"


def test_simulated_bench_with_the_message_server_transport(tmp_path) -> None:
    bench_file = tmp_path / "sim-ms.toml"
    text = load_bench_config("simulated").source.read_text()
    bench_file.write_text(text.replace('transport = "plain"', 'transport = "message-server"'))
    cfg = load_bench_config(bench_file)
    assert cfg.prober_transport == "message-server"
    with Bench.open(cfg, data_dir=tmp_path) as bench:
        assert bench.prober.transport == "message-server"
        lab = bench.lab
        assert bench.prober.adapter.resource_name.endswith(
            f"::{lab.servers['prober_message_server'].address[1]}::SOCKET")
        bench.prober.step_next_die(*lab.prober.route[3])
        bench.prober.contact()
        assert lab.prober.in_contact
        status = bench.status()
        assert status.chuck is not None and status.chuck.die == lab.prober.route[3]
        assert all(i.ok for i in status.instruments if i.name == "prober")
        bench.safe_state()
        assert not lab.prober.in_contact and lab.prober.separated


def test_bad_transport_in_a_bench_file_is_refused(tmp_path) -> None:
    from instruments.bench import BenchConfigError

    bench_file = tmp_path / "bad.toml"
    text = load_bench_config("simulated").source.read_text()
    bench_file.write_text(text.replace('transport = "plain"', 'transport = "smoke-signals"'))
    with pytest.raises(BenchConfigError, match="transport"):
        load_bench_config(bench_file)
