"""Wire-level tests of the VeloxProber driver (pymeasure expected_protocol, no server)."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from instruments.cascade import velox_commands as vc
from instruments.cascade.velox import (
    ChuckStatus,
    ProberSafetyError,
    VeloxError,
    VeloxProber,
    WaferMapParams,
)
from instruments.limits import LimitError, SafetyLimits

SEPARATED = "0: 7 20 0 0 T 1 S 0 0 P 0"
IN_CONTACT = "0: 7 20 0 0 T 1 C 0 0 P 0"
AT_ALIGN = "0: 7 20 0 0 T 1 A 0 0 P 0"
HEIGHTS = "0: 10000.00 20.00 50.00 300.00 100.00"
NO_HEIGHTS = "0: -1.00 20.00 50.00 300.00 100.00"


def test_identification_has_no_code() -> None:
    with expected_protocol(VeloxProber, [("*IDN?", "FormFactor,Velox (simulated),X,1")]) as p:
        assert p.id == "FormFactor,Velox (simulated),X,1"


def test_chuck_status_is_parsed() -> None:
    with expected_protocol(VeloxProber, [("ReadChuckStatus", "0: 7 23 0 1 T 1 C 0 0 P 1")]) as p:
        status = p.chuck_status()
    assert isinstance(status, ChuckStatus)
    assert status.flags_init == 7 and status.flags_mode == 23
    assert status.has_overtravel and status.has_auto_z and status.has_interlock
    assert status.contact_set and status.moving and status.vacuum_on and status.quiet
    assert status.in_contact and not status.separated
    assert status.camera_connection == "P"


def test_short_status_reply_of_older_velox_is_accepted() -> None:
    with expected_protocol(VeloxProber, [("ReadChuckStatus", "0: 7 7 0 0 T 1 S 2 0 P")]) as p:
        status = p.chuck_status()
    assert status.separated and not status.quiet and status.load_pos == "2"


def test_chuck_heights_not_set_is_none() -> None:
    with expected_protocol(VeloxProber, [("ReadChuckHeights Y", NO_HEIGHTS),
                                         ("ReadChuckHeights Y", HEIGHTS)]) as p:
        assert p.chuck_heights().contact_um is None
        heights = p.chuck_heights()
    assert heights.contact_set and heights.contact_um == 10000.0
    assert (heights.overtravel_um, heights.align_dist_um, heights.sep_dist_um) == (20, 50, 300)


def test_xy_move_reads_status_first_and_moves_when_separated() -> None:
    pairs = [("ReadChuckStatus", SEPARATED), ("MoveChuck 100 -200.5 H Y 100", "0:")]
    with expected_protocol(VeloxProber, pairs) as p:
        p.move_chuck_xy(100, -200.5)


@pytest.mark.parametrize("status", [IN_CONTACT, AT_ALIGN])
def test_xy_move_is_refused_unless_separated(status: str) -> None:
    with expected_protocol(VeloxProber, [("ReadChuckStatus", status)]) as p:
        with pytest.raises(ProberSafetyError):
            p.move_chuck_xy(0, 0, "center")


def test_inherited_chuck_channel_is_interlocked_too() -> None:
    with expected_protocol(VeloxProber, [("ReadChuckStatus", IN_CONTACT)]) as p:
        with pytest.raises(ProberSafetyError):
            p.chuck.move(10, 10)
    pairs = [("ReadChuckStatus", SEPARATED), ("MoveChuckIndex 1 0 H 100", "0:")]
    with expected_protocol(VeloxProber, pairs) as p:
        p.chuck.move_index(1, 0)


def test_bad_arguments_send_nothing() -> None:
    with expected_protocol(VeloxProber, []) as p:
        with pytest.raises(ValueError):
            p.move_chuck_xy(0, 0, "nowhere")
        with pytest.raises(ValueError):
            p.move_chuck_xy(0, 0, velocity=500)
        with pytest.raises(ValueError):
            p.step_next_die(col=3)


def test_contact_refused_without_a_taught_height() -> None:
    with expected_protocol(VeloxProber, [("ReadChuckHeights Y", NO_HEIGHTS)]) as p:
        with pytest.raises(ProberSafetyError):
            p.contact()
    pairs = [("ReadChuckHeights Y", HEIGHTS), ("MoveChuckContact 50", "0:")]
    with expected_protocol(VeloxProber, pairs) as p:
        p.contact(50)


def test_step_replies_and_end_of_route() -> None:
    steps = [
        ("StepFirstDie 1", "0: 7 1 0 3"),
        ("StepNextDie", "0: 8 1 0 3"),
        ("StepNextDie 5 6 0", "0: 5 6 0 3"),
        ("StepNextDie 5 6 2", "0: 5 6 2 3"),
        ("BinStepDie 1", "0: 6 6 0 3"),
        ("BinStepDie 2 9 9", "0: 9 9 0 3"),
        ("StepNextDie", "703: EndOfWafer"),
    ]
    # every step is an XY move: the driver reads the chuck state first
    pairs = [pair for step in steps for pair in (("ReadChuckStatus", SEPARATED), step)]
    with expected_protocol(VeloxProber, pairs) as p:
        first = p.step_first_die()
        assert (first.col, first.row, first.site, first.last_site_index) == (7, 1, 0, 3)
        assert p.step_next_die().die == (8, 1)
        assert p.step_next_die(5, 6, 0).die == (5, 6)  # site 0 is sent (pymeasure drops it)
        assert p.step_next_die(5, 6, 2).site == 2
        assert p.bin_step_die(1).die == (6, 6)
        assert p.bin_step_die(2, 9, 9).die == (9, 9)
        end = p.step_next_die()
        assert end.end_of_route and end.die is None
        assert p.wafermap.end_reached


def test_step_is_refused_in_contact_and_nothing_is_sent() -> None:
    with expected_protocol(VeloxProber, [("ReadChuckStatus", IN_CONTACT)]) as p:
        with pytest.raises(ProberSafetyError, match="StepNextDie"):
            p.step_next_die(5, 6)


def test_errors_raise_velox_error_with_the_code() -> None:
    pairs = [("MoveChuckSeparation 100", "520: ContactHeightNotSet")]
    with expected_protocol(VeloxProber, pairs) as p:
        with pytest.raises(VeloxError) as exc:
            p.separate()
    assert exc.value.code == 520
    assert isinstance(exc.value, ConnectionError)


def test_map_position_yield_and_home() -> None:
    pairs = [
        ("ReadMapPosition2", "0: 7 1 -22500.00 82500.00 2 3 1 256 1 256"),
        ("ReadMapYield", "0: 256 10 8 2"),
        ("ReadChuckStatus", SEPARATED), ("StepNextSubDie", "0: 3 3"),
        ("BinMapDie 4", "0: 7 1"),
        ("BinMapDie 4 8 2", "0: 8 2"),
        ("SetMapHome", "0:"),
        ("SetMapHome 9 9", "0:"),
    ]
    with expected_protocol(VeloxProber, pairs) as p:
        pos = p.map_position()
        assert (pos.col, pos.row, pos.site, pos.die_number, pos.dies_count) == (7, 1, 2, 1, 256)
        assert (pos.cluster_number, pos.clusters_count) == (1, 256)
        assert pos.x_from_home_um == -22500.0
        y = p.map_yield()
        assert (y.total, y.tested, y.passed, y.failed) == (256, 10, 8, 2)
        assert p.step_next_subdie() == (3, 3)
        assert p.bin_map_die(4) == (7, 1)
        assert p.bin_map_die(4, 8, 2) == (8, 2)
        p.set_map_home()
        p.set_map_home(9, 9)


def test_heater_set_point_checked_against_limits_and_separation() -> None:
    limits = SafetyLimits(max_chuck_temperature=150.0)
    with expected_protocol(VeloxProber, [], limits=limits) as p:
        with pytest.raises(LimitError):
            p.set_heater_temp(151.0)
        with pytest.raises(LimitError):
            p.heat_chuck(-100.0)
    with expected_protocol(VeloxProber, [("ReadChuckStatus", IN_CONTACT)], limits=limits) as p:
        with pytest.raises(ProberSafetyError):
            p.set_heater_temp(85.0)
    pairs = [
        ("ReadChuckStatus", SEPARATED), ("SetHeaterTemp 85 C 1", "0: 85.00 C"),
        ("ReadChuckStatus", SEPARATED), ("HeatChuck 85 C 1", "0: 85.00 C"),
        ("GetHeaterTemp C", "0: 84.70 C S"),
    ]
    with expected_protocol(VeloxProber, pairs, limits=limits,
                           connection_attributes={"timeout": 40000}) as p:
        assert p.set_heater_temp(85) == 85.0
        assert p.heat_chuck(85) == 85.0
        assert p.adapter.connection.timeout == 40000  # raised for HeatChuck, then restored
        heater = p.heater()
    assert (heater.temperature, heater.unit, heater.status) == (84.7, "C", "S")


def test_status_modes_and_safe_state() -> None:
    pairs = [
        ("ReadProberStatus", "0: 0 1 R 0"),
        ("SetExternalMode R", "0:"),
        ("SetExternalMode L", "0:"),
        ("ReadChuckHeights Y", HEIGHTS), ("MoveChuckSeparation 100", "0:"),
        ("ReadChuckHeights Y", NO_HEIGHTS),
        ("ReadChuckPosition Y C", "0: 1.50 -2.00 9700.00"),
        ("SetChuckHeight C 0", "0:"),
        ("SetChuckHeight S V Y 250", "0:"),
    ]
    with expected_protocol(VeloxProber, pairs) as p:
        status = p.prober_status()
        assert (status.busy, status.contact, status.mode, status.quiet) == (0, 1, "R", False)
        p.set_external_mode(True)
        p.set_external_mode(False)
        p.safe_state()
        p.safe_state()  # no contact height: nothing to move to, nothing sent
        assert p.chuck_position("center") == (1.5, -2.0, 9700.0)
        p.set_chuck_height("contact")
        p.set_chuck_height("separation", 250)


def test_wafer_map_params_round_trip() -> None:
    reply = "0: 200.00 10000.00 10000.00 0.00 0 0.00 0.00 3000.00"
    pairs = [("GetWaferMapParams2", reply),
             ("SetWaferMapParams2 200 5000 5000 0 90 0 0 3000", "0:")]
    with expected_protocol(VeloxProber, pairs) as p:
        params = p.wafer_map_params
        assert params == WaferMapParams(200, 10000, 10000, 0, 0, 0, 0, 3000)
        assert isinstance(params.flat_angle_deg, int)
        p.set_wafer_map_params(WaferMapParams(200, 5000, 5000, 0, 90, 0, 0, 3000))


# -- every motion path goes through the interlock ------------------------------------------------
@pytest.mark.parametrize("call, command", [
    (lambda p: p.wafermap.step_next_die(), "StepNextDie"),
    (lambda p: p.wafermap.step_to_die(3, 4), "StepNextDie 3 4"),
    (lambda p: p.wafermap.step_to_die(3, 4, 1), "StepNextDie 3 4 1"),
    (lambda p: p.wafermap.step_first_die(), "StepFirstDie"),
    (lambda p: p.chuck.move(5, 5, pos_ref="relative", unit="jogs"), "MoveChuck 5 5 R J 100"),
    (lambda p: p.chuck.move_index(1, 1), "MoveChuckIndex 1 1 H 100"),
    (lambda p: p.move_chuck_subsite(100, 0), "MoveChuckSubsite 100 0 Y 100"),
    (lambda p: p.ask("StepToDie 4"), "StepToDie 4"),
    (lambda p: p.ask("MoveChuckLoad 0"), "MoveChuckLoad 0"),
    (lambda p: p.ask("InitChuck 7 0 0"), "InitChuck 7 0 0"),
    (lambda p: p.ask("movechuck 1 1 R Y"), "movechuck 1 1 R Y"),
])
def test_inherited_and_raw_motion_paths_are_interlocked(call, command: str) -> None:
    with expected_protocol(VeloxProber, [("ReadChuckStatus", IN_CONTACT)]) as p:
        with pytest.raises(ProberSafetyError):
            call(p)
    pairs = [("ReadChuckStatus", SEPARATED), (command, "0: 1 2 0 3")]
    with expected_protocol(VeloxProber, pairs) as p:
        call(p)


def test_between_presets_the_driver_compares_z_with_the_heights() -> None:
    between = "0: 7 20 0 0 T 1 0 0 0 P 0"
    pairs = [
        ("ReadChuckStatus", between), ("ReadChuckHeights Y", HEIGHTS),
        ("ReadChuckPosition Y Z", "0: 0.00 0.00 9000.00"),  # 1000 um below contact: separated
        ("StepNextDie", "0: 1 2 0 3"),
        ("ReadChuckStatus", between), ("ReadChuckHeights Y", HEIGHTS),
        ("ReadChuckPosition Y Z", "0: 0.00 0.00 9850.00"),  # 150 um below contact: not
    ]
    with expected_protocol(VeloxProber, pairs) as p:
        assert p.step_next_die().die == (1, 2)
        with pytest.raises(ProberSafetyError, match="9850"):
            p.step_next_die()


def test_auto_separate_separates_then_moves() -> None:
    pairs = [
        ("ReadChuckStatus", IN_CONTACT), ("MoveChuckSeparation 100", "0:"),
        ("ReadChuckStatus", SEPARATED), ("StepNextDie", "0: 1 2 0 3"),
    ]
    with expected_protocol(VeloxProber, pairs, auto_separate=True) as p:
        assert p.wafermap.step_next_die() == [1, 2, 0, 3]


def test_raw_heater_commands_are_checked_too() -> None:
    limits = SafetyLimits(max_chuck_temperature=150.0)
    with expected_protocol(VeloxProber, [], limits=limits) as p:
        with pytest.raises(LimitError):
            p.ask("SetHeaterTemp 500 K")  # 226.85 C
        with pytest.raises(ProberSafetyError):
            p.ask("HeatChuck")
    with expected_protocol(VeloxProber, [("ReadChuckStatus", IN_CONTACT)], limits=limits) as p:
        with pytest.raises(ProberSafetyError):
            p.ask("SetHeaterTemp 100 F 0")


def test_raw_contact_needs_a_taught_height() -> None:
    with expected_protocol(VeloxProber, [("ReadChuckHeights Y", NO_HEIGHTS)]) as p:
        with pytest.raises(ProberSafetyError):
            p.chuck.move_contact()


# -- message-server transport ----------------------------------------------------------------
def test_message_server_registers_frames_and_checks_ids() -> None:
    pairs = [
        ("FCN=1:RegisterProberApp:MemProbe MemProbe 0", "Rsp=1:0:"),
        ("Cmd=2:ReportSoftwareVersion:", "Rsp=2:0:3.2.0.0 Velox"),
        ("Cmd=3:ReadChuckStatus:", "Rsp=3:0:7 20 0 0 T 1 S 0 0 P 0"),
        # a stale reply (id 2) and a notification arrive before the real one: both skipped
        ("Cmd=4:StepNextDie:", "Rsp=2:0:old"),
        (None, "Ntf=1:WMNewCurrentDie:1 2"),
        (None, "Rsp=4:0:1 2 0 3"),
        ("Cmd=5:ReadChuckStatus:", "Rsp=5:0:7 20 0 0 T 1 S 0 0 P 0"),
        ("Cmd=6:StepNextDie:", "Rsp=6:703:EndOfWafer"),
        ("Cmd=7:MoveChuckSeparation:100", "Rsp=7:520:ContactHeightNotSet"),
    ]
    with expected_protocol(VeloxProber, pairs, transport="message-server") as p:
        assert p.id == "FormFactor,Velox,3.2.0.0 Velox"
        assert p.step_next_die().die == (1, 2)
        assert p.step_next_die().end_of_route
        with pytest.raises(VeloxError) as exc:
            p.separate()
        assert exc.value.code == 520


def test_message_server_ids_wrap_after_999() -> None:
    from instruments.cascade import velox_commands as vc

    assert vc.next_message_id(998) == 999 and vc.next_message_id(999) == 1
    assert vc.frame_command(12, "MoveChuckZ", "100 R Y 50") == "Cmd=12:MoveChuckZ:100 R Y 50"
    assert vc.parse_response("Rsp=12:0:a:b c\r\n") == (12, 0, "a:b c")


def test_unknown_transport_is_refused() -> None:
    with pytest.raises(ValueError, match="transport"):
        with expected_protocol(VeloxProber, [], transport="carrier-pigeon"):
            pass


@pytest.mark.parametrize(("unit", "value", "celsius"), [
    ("C", 25.0, 25.0), ("F", 212.0, 100.0), ("F", -40.0, -40.0), ("K", 273.15, 0.0),
])
def test_temperature_units_convert_both_ways(unit: str, value: float, celsius: float) -> None:
    """Velox's C/F/K letters: one conversion for the driver's limit check and the twin."""
    assert vc.to_celsius(value, unit) == pytest.approx(celsius)
    assert vc.from_celsius(celsius, unit) == pytest.approx(value)
    with pytest.raises(ValueError, match="unit"):
        vc.to_celsius(value, "R")


def test_a_set_point_in_an_unknown_unit_is_refused_before_anything_is_sent() -> None:
    with expected_protocol(VeloxProber, []) as p:  # nothing may go out
        with pytest.raises(ProberSafetyError, match="temperature unit"):
            p.ask("SetHeaterTemp 30 R")
        with pytest.raises(LimitError):  # 572 F = 300 C, over the default chuck limit
            p.ask("SetHeaterTemp 572 F")
