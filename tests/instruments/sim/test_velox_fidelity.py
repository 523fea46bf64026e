"""The twin's Velox answers like FormFactor's command reference (issue #10, "Velox prober").

Reply shapes are checked against the vocabulary table (its reply field lists come from FormFactor's
SCI binding), over a real socket, with stock pymeasure where a stock client exists.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymeasure.instruments.formfactor import Velox

from instruments.cascade import velox_commands as vc
from instruments.sim import prober_server
from instruments.sim.line_server import LineServer
from tests.instruments._prober import FakeClock, LineClient, ProberLab, served_prober


@pytest.fixture
def served() -> Iterator[tuple[ProberLab, LineServer]]:
    with served_prober(clock=FakeClock()) as pair:
        yield pair


class Client(LineClient):
    """Replies split into the error code and the values."""

    def ask(self, line: str) -> tuple[int, list[str]]:  # type: ignore[override]
        code, _, values = super().ask(line).partition(":")
        return int(code), values.split()


@pytest.fixture
def client(served: tuple[ProberLab, LineServer]) -> Iterator[Client]:
    c = Client(served[1].address)
    try:
        yield c
    finally:
        c.sock.close()


QUERIES = [  # commands answerable without arguments, on the twin's fresh state
    "ReadMapPosition2", "GetWaferMapParams2", "GetWaferMapParams", "GetMapDims",
    "GetNumSelectedDies", "GetDieDataAsNum 1", "GetSubDieData 0", "GetSubDieStatus 1",
    "GetMapOrientation", "GetWaferID", "ReadScopeStatus", "ReadChuckStatus",
    "ReadChuckPosition Y H", "ReadChuckHeights Y", "ReadChuckIndex Y", "ReadProberStatus",
    "ReadMapYield", "GetHeaterTemp C", "GetTargetTemp C", "ReadChuckThermoValue C",
    "GetDewPointTemp C", "ReadTemperatureChuckStatus", "EnableHeaterStandby 1",
    "EnableHeaterHoldMode 1", "ReportKernelVersion",
]


@pytest.mark.parametrize("line", QUERIES)
def test_every_reply_has_the_documented_fields(client: Client, line: str) -> None:
    spec = vc.spec(line.split()[0])
    assert spec is not None and spec.support == "supported"
    code, values = client.ask(line)
    assert code == 0, values
    if line == "GetDieDataAsNum 1":  # Result (a string) is empty before any measurement
        assert len(values) == len(spec.replies) - 1
    elif line == "ReportKernelVersion":  # Description is a free text
        assert len(values) >= len(spec.replies)
    else:
        assert len(values) == len(spec.replies), (spec.replies, values)


def test_read_map_position2_answers_all_ten_fields(
    served: tuple[ProberLab, LineServer], client: Client,
) -> None:
    lab, _ = served
    die = lab.prober.route[2]
    client.ask(f"StepNextDie {die[0]} {die[1]} 1")
    code, f = client.ask("ReadMapPosition2 0 R")
    assert code == 0 and len(f) == 10
    assert (int(f[0]), int(f[1]), int(f[4]), int(f[6]), int(f[7])) == (*die, 1, 3,
                                                                       len(lab.prober.route))
    assert (int(f[8]), int(f[9])) == (3, len(lab.prober.route))  # clusters of one die


def test_flat_angle_is_an_integer(client: Client) -> None:
    assert client.ask("SetWaferMapParams2 100 20000 20000 0 90 0 0 3000")[0] == 0
    for name in ("GetWaferMapParams2", "GetWaferMapParams"):
        code, f = client.ask(name)
        assert code == 0 and f[4] == "90"
    assert client.ask("SetWaferMapParams2 100 20000 20000 0 90.5 0 0 3000")[0] == \
        vc.E_BAD_ARGUMENT


def test_stock_pymeasure_units_jogs_and_encoder_are_accepted(
    served: tuple[ProberLab, LineServer],
) -> None:
    lab, server = served
    velox = Velox(server.resource, visa_library="@py", read_termination="\n", timeout=5000)
    try:
        x0, y0, _ = lab.prober.position_um("C")
        velox.chuck.move(100, 0, pos_ref="relative", unit="jogs")
        velox.chuck.move(0, 100, pos_ref="relative", unit="encoder")
        velox.chuck.move(1, 0, pos_ref="relative", unit="mils")
        x, y, _ = lab.prober.position_um("C")
        assert (x - x0, y - y0) == pytest.approx(
            (100 * vc.UM_PER_UNIT["J"] + 25.4, 100 * vc.UM_PER_UNIT["E"]))
        assert velox.ask("ReadChuckPosition E C").split()[1] == f"{y / 0.1:.2f}"
    finally:
        velox.adapter.close()


def test_heater_commands(served: tuple[ProberLab, LineServer], client: Client) -> None:
    lab, _ = served
    m = lab.prober
    assert client.ask("SetHeaterSoak 30") == (0, [])
    assert m.soak_s == 30.0
    assert client.ask("SetHeaterTemp 85 C") == (0, ["85.00", "C"])
    assert client.ask("GetTargetTemp K") == (0, ["358.15", "K"])
    code, (status, dp, left, eco) = client.ask("ReadTemperatureChuckStatus")
    assert (code, status, dp, left, eco) == (0, "H", "1", "0", "0")
    assert client.ask("EnableHeaterHoldMode 1")[0] == vc.E_HEATER_STATE  # not at temperature
    lab.clock.advance(60.0)  # 10 C/min: 35 C now
    assert client.ask("StopHeatChuck") == (0, [])
    assert client.ask("GetTargetTemp C") == (0, ["35.00", "C"])
    assert m.heater_status()[1] in ("S", "R")
    lab.clock.advance(60.0)
    assert client.ask("GetHeaterTemp C") == (0, ["35.00", "C", "R"])
    assert client.ask("EnableHeaterHoldMode 1") == (0, ["1"])
    assert client.ask("EnableHeaterStandby 1") == (0, ["1"]) and m.standby
    client.ask("GetHeaterTemp C")
    assert not m.standby  # reading a temperature ends standby (as Velox documents)
    assert client.ask("GetDewPointTemp F") == (0, ["-40.00", "F"])
    assert client.ask("ReadChuckThermoValue C") == (0, ["20.00", "2.33", "2.33"])


def test_map_commands(served: tuple[ProberLab, LineServer], client: Client) -> None:
    lab, _ = served
    m = lab.prober
    code, (kind, xi, yi, cols, rows) = client.ask("GetMapDims")
    assert (code, kind, float(xi), int(cols), int(rows)) == (0, "W", 20000.0, m.map.n_cols,
                                                             m.map.n_rows)
    assert client.ask("GetNumSelectedDies") == (0, [str(len(m.route))])
    die = m.route[4]
    client.ask(f"BinMapDie 2 {die[0]} {die[1]}")
    assert client.ask("GetDieDataAsNum 5") == (0, ["5", str(die[0]), str(die[1]), "2"])
    client.ask("StepToDie 5 0")
    assert m.current_map_die() == die
    assert client.ask("GetDieDataAsNum") == (0, ["5", str(die[0]), str(die[1]), "2"])
    assert client.ask("GetDieDataAsNum 999")[0] == vc.E_DIE_NOT_ON_MAP
    s = m.subsites[1]
    assert client.ask("GetSubDieData 1") == (0, ["1", f"{s.dx_um:.2f}", f"{s.dy_um:.2f}",
                                                 s.label])
    assert client.ask("GetSubDieData 9")[0] == vc.E_BAD_ARGUMENT
    assert client.ask("GetSubDieStatus 0") == (0, ["1"])
    assert client.ask("GetMapOrientation 0") == (0, ["0", "0", "0", "0", "1"])
    assert client.ask("SetWaferID LOT7-W03") == (0, [])
    assert client.ask("GetWaferID") == (0, ["LOT7-W03"])


def test_system_commands(served: tuple[ProberLab, LineServer], client: Client) -> None:
    lab, _ = served
    m = lab.prober
    client.ask("EnableMotorQuiet 1")
    assert client.ask("ReadChuckStatus")[1][10] == "1" and client.ask("ReadProberStatus")[1][3] \
        == "1"
    assert client.ask("ReadScopeStatus")[1][8] == "1"
    client.ask("MoveChuckContact")
    assert client.ask("MoveChuckLift 1") == (0, [])  # lowers the lift: separates first
    assert m.separated and client.ask("ReadChuckStatus")[1][8] == "1"
    assert client.ask("MoveChuckContact")[0] == vc.E_INTERLOCK  # not with the lift down
    client.ask("MoveChuckLift 0")
    client.ask("MoveChuckContact")
    assert client.ask("MoveChuckLoad 0") == (0, [])
    assert m.z_um == 0.0 and client.ask("ReadChuckStatus")[1][7] == "1"
    assert m.die_under_chuck() is None  # at the front of the stage
    assert client.ask("InitChuck 7 0 0") == (0, [])
    assert m.position_um("C")[:2] == (0.0, 0.0) and m.z_um == 0.0
    assert client.ask("ReadChuckStatus")[1][7] == "0"


def test_unknown_and_not_modelled_commands_answer_509_at_once(client: Client) -> None:
    not_modelled = [c.name for c in vc.COMMANDS if c.support == "not modelled"]
    assert len(not_modelled) > 10
    for name in [*not_modelled, "Bogus", "MoveChuckk"]:
        code, values = client.ask(name)
        assert code == vc.E_UNKNOWN_COMMAND and values[-1] == name
    for name in [c.name for c in vc.COMMANDS if c.support == "refused"]:
        assert client.ask(name)[0] == vc.E_NOT_SUPPORTED


@pytest.mark.parametrize("args", [
    "200 1 1 0 0 0 0 0",           # 1 um pitch: 4e10 grid cells
    "200 100 100 0 0 0 0 0",       # 2000 x 2000 = 4e6 cells
    "200 50 10000 0 0 0 0 0",      # pitch below the minimum on one axis
    "2000 10000 10000 0 0 0 0 0",  # a 2 m wafer
    "200 nan 10000 0 0 0 0 0",
])
def test_wafer_map_geometry_is_bounded(
    served: tuple[ProberLab, LineServer], client: Client, args: str,
) -> None:
    lab, _ = served
    before = lab.prober.map
    code, _ = client.ask(f"SetWaferMapParams2 {args}")
    assert code == vc.E_BAD_ARGUMENT
    assert lab.prober.map is before
    assert client.ask("SetChuckIndex 1 1 Y")[0] == vc.E_BAD_ARGUMENT


def test_largest_accepted_map_is_within_the_bound(client: Client) -> None:
    pitch = 200 * 1000 / (vc.MAX_MAP_GRID_CELLS ** 0.5)  # 1 mm on a 200 mm wafer
    assert client.ask(f"SetWaferMapParams2 200 {pitch:g} {pitch:g} 0 0 0 0 3000")[0] == 0
    code, f = client.ask("GetMapDims")
    assert int(f[3]) * int(f[4]) <= vc.MAX_MAP_GRID_CELLS


def test_conformance_rows_cover_the_vocabulary_and_match_the_twin(client: Client) -> None:
    from instruments.conformance import render_markdown

    rows = vc.conformance_rows()
    assert [r.command for r in rows[:-1]] == [c.name for c in vc.COMMANDS]
    assert {r.support for r in rows} == {"supported", "refused", "not modelled"}
    for c in vc.COMMANDS:  # the table says what the twin does: check it against the twin
        code, _ = client.ask(c.name)
        if c.support == "not modelled":
            assert code == vc.E_UNKNOWN_COMMAND, c.name
        elif c.support == "refused":
            assert code == vc.E_NOT_SUPPORTED, c.name
        else:
            assert code != vc.E_UNKNOWN_COMMAND, c.name
            assert c.name in prober_server.HANDLERS
    text = render_markdown(rows)
    assert "## FormFactor Velox" in text and "`ReadMapPosition2` | supported" in text
