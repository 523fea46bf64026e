"""The FormFactor Velox remote-command vocabulary, in one place.

Used by the simulated prober's dispatch (:mod:`instruments.sim.prober_server`: which commands
exist, their argument defaults, reply fields, error codes) and by MemProbe's driver
(:mod:`instruments.cascade.velox`: which commands move the chuck and must pass the interlock, the
message-server framing, the unit letters). :func:`conformance_rows` feeds
``docs/protocol-conformance.md`` (``python -m instruments.conformance``).

Sources (cited, not copied):

* FormFactor's generated Python binding of the Velox SCI commands (``veloxsci.py``, "auto-generated
  from the commands.info.xml file on 2019-08-16, 737 SCI commands"), shipped with FormFactor's
  ``velox`` Python package: command names, argument order and defaults, reply field names and
  types. Its message-server client (``vxmessageserver.py``, MIT, FormFactor GmbH 2025) gives the
  TCP framing on port 1412: register with ``FCN=1:RegisterProberApp:<app> <app> 0``, then send
  ``Cmd=<id>:<Name>:<args>`` (ids 2..999, wrapping to 1) and read ``Rsp=<id>:<code>:<values>``,
  values space separated with ``"..."`` around strings that contain spaces.
* pymeasure 0.16 ``pymeasure.instruments.formfactor.velox`` (units ``Y I J E X``, references
  ``H Z R C D``, 703 = end of wafer map).
* The shared bench reference, ``instruments.md``.

Where the reference gives no value (error codes other than 0/509/703, jog and encoder sizes,
status letters), the simulator's choice is written next to it and in ``docs/velox-twin.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from instruments.conformance import ConformanceRow
from instruments.wafermap import DIAMETER_RANGE_MM, MAX_GRID_POSITIONS, MIN_DIE_PITCH_UM

INSTRUMENT = "FormFactor Velox"

# -- reply codes ------------------------------------------------------------------------------
#: Success.
E_OK = 0
#: Unknown command (Velox).
E_UNKNOWN_COMMAND = 509
#: Missing or malformed argument, value out of range (simulator's code).
E_BAD_ARGUMENT = 510
#: A Velox command the twin knows but deliberately refuses (simulator's code).
E_NOT_SUPPORTED = 511
#: No contact height taught: Z preset moves are impossible (simulator's code).
E_NO_CONTACT_HEIGHT = 520
#: Move or change refused because the chuck is not separated (simulator's code).
E_INTERLOCK = 521
#: Z move beyond contact (+ overtravel when enabled) or outside the Z travel (simulator's code).
E_Z_LIMIT = 522
#: X/Y destination outside the stage travel (simulator's code).
E_XY_LIMIT = 523
#: Contact refused because the wafer vacuum is off (simulator's code).
E_VACUUM_OFF = 524
#: Heater set point outside the heater's range (simulator's code).
E_HEATER_RANGE = 530
#: Heater command not possible in the heater's state, e.g. hold mode while ramping (simulator).
E_HEATER_STATE = 531
#: Message-server command from a client that has not registered (simulator's code).
E_NOT_REGISTERED = 540
#: Die not on the wafer map (simulator's code; Velox's SyncMapHome documents 701 too).
E_DIE_NOT_ON_MAP = 701
#: The chuck is not on a die of the map (simulator's code).
E_NOT_ON_DIE = 702
#: End of the route: StepNextDie after the last die (Velox; normal completion).
E_END_OF_ROUTE = 703
#: StepNextSubDie after the last subsite of the die (simulator's code).
E_END_OF_SUBSITES = 704

ERROR_MESSAGES: dict[int, str] = {
    E_OK: "Success",
    E_UNKNOWN_COMMAND: "UnknownCommand",
    E_BAD_ARGUMENT: "InvalidParameter",
    E_NOT_SUPPORTED: "NotSupportedBySimulator",
    E_NO_CONTACT_HEIGHT: "ContactHeightNotSet",
    E_INTERLOCK: "InterlockViolation chuck not separated",
    E_Z_LIMIT: "ZLimit",
    E_XY_LIMIT: "OutOfMoveRange",
    E_VACUUM_OFF: "WaferVacuumOff",
    E_HEATER_RANGE: "TemperatureOutOfRange",
    E_HEATER_STATE: "ThermalChuckNotReady",
    E_NOT_REGISTERED: "ClientNotRegistered",
    E_DIE_NOT_ON_MAP: "DieNotOnMap",
    E_NOT_ON_DIE: "NotOnDie",
    E_END_OF_ROUTE: "EndOfWafer",
    E_END_OF_SUBSITES: "EndOfSubDieTable",
}

# -- units and references ---------------------------------------------------------------------
#: Position unit letter (and the words Velox also accepts) -> letter.
UNIT_LETTERS: dict[str, str] = {
    "Y": "Y", "MICRONS": "Y", "MICRON": "Y",
    "I": "I", "MILS": "I",
    "J": "J", "JOGS": "J",
    "E": "E", "ENCODER": "E",
    "X": "X", "INDEX": "X",
}
#: Micrometres per unit. Y and I are physical; J (joystick jog) and E (encoder count) depend on
#: the station's set-up and are the simulator's choice: 1 jog = 1 um, 1 count = 0.1 um.
UM_PER_UNIT: dict[str, float] = {"Y": 1.0, "I": 25.4, "J": 1.0, "E": 0.1}
#: Position reference letter (and words) -> letter: H home, Z zero, C centre, D die home, R rel.
REFERENCE_LETTERS: dict[str, str] = {
    "H": "H", "HOME": "H", "Z": "Z", "ZERO": "Z", "C": "C", "CENTER": "C", "R": "R",
    "RELATIVE": "R", "D": "D", "DIEHOME": "D",
}
TEMPERATURE_UNITS = ("C", "F", "K")
#: Kelvin at 0 degC.
ZERO_CELSIUS_K = 273.15


def to_celsius(value: float, unit: str) -> float:
    """``value`` in temperature ``unit`` (``C``, ``F`` or ``K``, Velox's letters) in degC;
    ValueError for any other unit. (The unit definitions are physics, not protocol: the driver
    checks set points with it and the twin converts with it.)"""
    if unit == "C":
        return value
    if unit == "F":
        return (value - 32.0) * 5.0 / 9.0
    if unit == "K":
        return value - ZERO_CELSIUS_K
    raise ValueError(f"temperature unit {unit!r} is none of {', '.join(TEMPERATURE_UNITS)}")


def from_celsius(celsius: float, unit: str) -> float:
    """``celsius`` (degC) in temperature ``unit`` (``C``, ``F`` or ``K``); ValueError else."""
    if unit == "C":
        return celsius
    if unit == "F":
        return celsius * 9.0 / 5.0 + 32.0
    if unit == "K":
        return celsius + ZERO_CELSIUS_K
    raise ValueError(f"temperature unit {unit!r} is none of {', '.join(TEMPERATURE_UNITS)}")
VELOCITY_RANGE = (0.1, 100.0)

# -- safety bounds (simulator and driver) -----------------------------------------------------
#: Smallest separation gap (um below contact) the twin accepts. Why 50 um: the probes must clear
#: the wafer everywhere the chuck travels at separation height, i.e. more than the contact
#: overtravel used by the procedures (15-20 um), plus the height variation of a 200 mm wafer on
#: its chuck (bow/warp and chuck planarity, tens of um) with margin. A 0 um gap would make
#: "separation" the contact height itself.
MIN_SEPARATION_GAP_UM = 50.0
# The map-geometry bounds (smallest die pitch, largest bounding grid, wafer diameters) are one
# fact for every wafer map (prober, twin, recipes): kept in instruments.wafermap, named here as
# SetWaferMapParams2's bounds.
MIN_DIE_PITCH_UM = MIN_DIE_PITCH_UM
MAX_MAP_GRID_CELLS = MAX_GRID_POSITIONS
DIAMETER_RANGE_MM = DIAMETER_RANGE_MM

# -- message server ---------------------------------------------------------------------------
MESSAGE_SERVER_PORT = 1412
MESSAGE_ID_MAX = 999
Transport = Literal["plain", "message-server"]
TRANSPORTS: tuple[str, ...] = ("plain", "message-server")


def registration_message(app_name: str) -> str:
    """The line a client sends first on the message server (without the line end)."""
    name = app_name.replace(" ", "_").replace(":", "_") or "PythonApp"
    return f"FCN=1:RegisterProberApp:{name} {name} 0"


def next_message_id(current: int) -> int:
    """The id after ``current`` (1..999, wrapping), as FormFactor's client counts."""
    return 1 if current >= MESSAGE_ID_MAX or current < 1 else current + 1


def frame_command(msg_id: int, name: str, args: str = "") -> str:
    """``Cmd=<id>:<Name>:<args>`` (without the line end)."""
    return f"Cmd={msg_id}:{name}:{args}"


def frame_response(msg_id: int | str, code: int, values: str = "") -> str:
    """``Rsp=<id>:<code>:<values>`` (without the line end)."""
    return f"Rsp={msg_id}:{code}:{values}"


def parse_response(line: str) -> tuple[int, int, str]:
    """Split ``Rsp=<id>:<code>:<values>`` into (id, code, values); ValueError if not one.

    Values may contain ``:`` (only the first two colons separate fields).
    """
    text = line.strip()
    if not text.startswith("Rsp="):
        raise ValueError(f"not a message-server reply: {text!r}")
    head, _, rest = text[4:].partition(":")
    code, _, values = rest.partition(":")
    return int(head), int(code), values.strip()


def default_transport(resource: str) -> str:
    """The transport a bench file means when it names none: the message server for a socket on
    port 1412 (FormFactor's message server), plain lines otherwise (GPIB, other sockets)."""
    parts = resource.upper().split("::")
    if parts and parts[0].startswith("TCPIP") and str(MESSAGE_SERVER_PORT) in parts[2:3]:
        return "message-server"
    return "plain"


# -- the command table ------------------------------------------------------------------------
Motion = Literal["none", "xy", "z", "heater"]
Support = Literal["supported", "refused", "not modelled"]


@dataclass(frozen=True)
class CommandSpec:
    """One Velox remote command.

    Attributes:
        name: command name as sent.
        group: Velox module (kernel/chuck, scope, map, heater, system).
        args: argument names with their Velox defaults, ``"Name=default"``.
        replies: reply field names, in order.
        motion: what the command can move: ``xy`` (the chuck in X/Y or theta: interlocked),
            ``z`` (chuck height), ``heater`` (chuck temperature), ``none``.
        support: how the twin answers it.
        detail: what is modelled, or the error the twin refuses it with.
        timeout_ms: Velox's command timeout (reported by GetCommands).
    """

    name: str
    group: str
    args: tuple[str, ...] = ()
    replies: tuple[str, ...] = ()
    motion: Motion = "none"
    support: Support = "supported"
    detail: str = ""
    timeout_ms: int = 5000

    def default(self, index: int) -> str | None:
        """Velox default of argument ``index`` (None past the last argument)."""
        if index >= len(self.args):
            return None
        return self.args[index].partition("=")[2]


def _c(name: str, group: str, args: str = "", replies: str = "", motion: Motion = "none",
       support: Support = "supported", detail: str = "", timeout_ms: int = 5000) -> CommandSpec:
    return CommandSpec(name, group, tuple(args.split()), tuple(replies.split()), motion, support,
                       detail, timeout_ms)


_STEP = "DieX DieY CurSite LastSiteIndex"
_POS_ARGS = "Unit=Y PosRef=H"
_TEMP = "RespTemperature RespUnit"
_REFUSED = f"refused with {E_NOT_SUPPORTED} {ERROR_MESSAGES[E_NOT_SUPPORTED]}"

COMMANDS: tuple[CommandSpec, ...] = (
    # -- system ---------------------------------------------------------------------------------
    _c("ReportSoftwareVersion", "system", "", "SoftwareVersion"),
    _c("ReportKernelVersion", "system", "Module=K", "Version Description"),
    _c("EchoData", "system", "TestCmd=Test", "TestRsp"),
    _c("IsAppRegistered", "system", "Application=", "IsAppRegistered",
       detail="WaferMap (and an empty name) are registered"),
    _c("ReadProberStatus", "system", "", "FlagsBusy FlagsContact Mode IsQuiet"),
    _c("SetExternalMode", "system", "Mode=L", detail="R remote (UI locked) / L local"),
    _c("EnableMotorQuiet", "system", "WantQuietModeOn=0 Stage=None",
       detail="quiet flag reported by ReadChuckStatus/ReadProberStatus; moves clear it"),
    _c("ReadScopeStatus", "scope", "",
       "FlagsInit FlagsLimit FlagsMoving Comp IsScopeLiftUp PresetHeight IsScopeLight FlagsMode "
       "IsQuiet", detail="a fixed, initialised scope at focus height (no scope is modelled)"),
    _c("GetWaferID", "map", "", "ID"),
    _c("SetWaferID", "map", "ID=0"),
    _c("SetOperationalMode", "system", "OperationalMode=P", support="refused",
       detail=f"{_REFUSED}: unprotected mode would disable the fences and interlocks"),
    # -- chuck ----------------------------------------------------------------------------------
    _c("ReadChuckStatus", "chuck", "",
       "FlagsInit FlagsMode FlagsLimit FlagsMoving Comp IsVacuumOn PresetHeight LoadPos "
       "IsLiftDown CameraConnection IsQuiet",
       detail="PresetHeight C/O/A/S from Z against the taught heights, 0 elsewhere"),
    _c("ReadChuckPosition", "chuck", f"{_POS_ARGS} Comp=Default", "X Y Z",
       detail="units Y I J E; references H Z C D"),
    _c("ReadChuckHeights", "chuck", "Unit=Y", "Contact Overtravel AlignDist SepDist SearchGap"),
    _c("SetChuckHeight", "chuck", "PresetHeight=C Mode=0 Unit=Y Value=0",
       detail=f"contact re-taught only while separated (else {E_INTERLOCK}); separation gap "
              f">= {MIN_SEPARATION_GAP_UM:g} um (else {E_BAD_ARGUMENT})"),
    _c("SetChuckMode", "chuck", "Overtravel=2 AutoZ=2 Interlock=2 ContactSearch=2 "
       "EdgeInterlock=2 QuietContact=2",
       detail="Overtravel and AutoZ modelled; the twin interlocks whatever the Interlock flag"),
    _c("MoveChuckContact", "chuck", "Velocity=100", motion="z", timeout_ms=60000),
    _c("MoveChuckAlign", "chuck", "Velocity=100", motion="z", timeout_ms=60000),
    _c("MoveChuckSeparation", "chuck", "Velocity=100", motion="z", timeout_ms=60000),
    _c("MoveChuckZ", "chuck", "Height=0 PosRef=Z Unit=Y Velocity=100 Comp=Default", motion="z",
       timeout_ms=60000),
    _c("MoveChuck", "chuck", "XValue=0 YValue=0 PosRef=H Unit=Y Velocity=100 Comp=Default",
       motion="xy", detail=f"refused ({E_INTERLOCK}) unless separated; AutoZ separates first",
       timeout_ms=30000),
    _c("MoveChuckIndex", "chuck", "XSteps=0 YSteps=0 PosRef=H Velocity=100", motion="xy",
       timeout_ms=30000),
    _c("MoveChuckSubsite", "chuck", "XValue=0 YValue=0 Unit=Y Velocity=100", motion="xy",
       timeout_ms=30000),
    _c("MoveChuckLoad", "chuck", "LoadPosition=First", motion="xy",
       detail="Z to 0 first, then X/Y to the load position (front of the stage)",
       timeout_ms=60000),
    _c("MoveChuckLift", "chuck", "SetLift=1", motion="z",
       detail="1 lowers the lift (separates first), 0 raises it; contact refused while down",
       timeout_ms=10000),
    _c("InitChuck", "chuck", "FlagsInit=0 FlagsDirection=0 FlagsMoveRange=0", motion="xy",
       detail="Z to 0 first, then X/Y to the wafer centre (FlagsInit 0 = all axes)",
       timeout_ms=150000),
    _c("ReadChuckIndex", "chuck", "Unit=Y", "IndexX IndexY"),
    _c("SetChuckIndex", "chuck", "XValue=0 YValue=0 Unit=Y"),
    _c("SetChuckVacuum", "chuck", "WantChuckVacuumOn=0",
       detail=f"vacuum off refused in contact ({E_INTERLOCK})", timeout_ms=10000),
    _c("ReadChuckThermoValue", "chuck", "Unit=C", "Temperature ExpCoeffX ExpCoeffY",
       detail="thermal-scaling temperature (20 C, silicon 2.33 ppm/K), not the chuck's"),
    _c("MoveChuckVelocity", "chuck", "PolarityX=0 PolarityY=0 PolarityZ=0 VelocityX=100 "
       "VelocityY=0 VelocityZ=0", motion="xy", support="refused",
       detail=f"{_REFUSED}: a move without destination cannot be checked", timeout_ms=30000),
    _c("MoveChuckAsync", "chuck", "XValue=0 YValue=0 PosRef=H Unit=Y Velocity=100 Comp=Default",
       motion="xy", support="refused", detail=f"{_REFUSED} (internal command)"),
    _c("MoveChuckTransfer", "chuck", "", motion="xy", support="not modelled",
       detail=f"answers {E_UNKNOWN_COMMAND}", timeout_ms=60000),
    _c("SearchChuckContact", "chuck", "Height=100 PosRef=R Unit=Y Velocity=100 Comp=Default",
       "ContactHeight", motion="z", support="not modelled",
       detail=f"answers {E_UNKNOWN_COMMAND}", timeout_ms=60000),
    _c("StopChuckMovement", "chuck", "FlagsStop=15", support="not modelled",
       detail=f"answers {E_UNKNOWN_COMMAND} (moves are instantaneous)"),
    # a rotation moves the wafer sideways under the probes: interlocked as an X/Y move
    _c("MoveTheta", "chuck", "Position=0 PosRef=H Unit=D Velocity=100", motion="xy",
       support="not modelled", detail=f"answers {E_UNKNOWN_COMMAND}"),
    _c("ReadThetaPosition", "chuck", "Unit=D PosRef=H", "Position", support="not modelled",
       detail=f"answers {E_UNKNOWN_COMMAND}"),
    # -- wafer map ------------------------------------------------------------------------------
    _c("StepFirstDie", "map", "ClearBins=1 RecalcRoute=1", _STEP, motion="xy",
       detail="separates first, stays separated", timeout_ms=6000000),
    _c("StepNextDie", "map", "CDieX=0 CDieY=0 Site=0", _STEP, motion="xy",
       detail=f"next die of the route or die (col, row) [site]; {E_END_OF_ROUTE} after the last",
       timeout_ms=6000000),
    _c("StepToDie", "map", "DieNumber=-1 Site=0", _STEP, motion="xy",
       detail="die number = 1-based index in the route", timeout_ms=6000000),
    _c("StepNextSubDie", "map", "Site=0", "CurSite LastSiteIndex", motion="xy",
       detail=f"{E_END_OF_SUBSITES} after the last subsite", timeout_ms=6000000),
    _c("BinStepDie", "map", "Bin=0 CDieX=0 CDieY=0 Site=0", _STEP, motion="xy",
       timeout_ms=6000000),
    _c("BinMapDie", "map", "Bin=0 CDieX=0 CDieY=0", "DieX DieY", timeout_ms=30000),
    _c("ReadMapPosition2", "map", "Pos=0 FromPos=R",
       "DieX DieY XFromHome YFromHome CurSite LastSiteIndex CurDie DiesCount CurCluster "
       "ClustersCount", detail="clusters of 1x1 (cluster = die); Pos/FromPos accepted, current "
       "position only", timeout_ms=10000),
    _c("ReadMapYield", "map", "", "TotalDies TestedDies Passed Failed", timeout_ms=10000),
    _c("SetMapHome", "map", "DieX=0 DieY=0", timeout_ms=10000),
    _c("GetWaferMapParams2", "map", "",
       "Diameter DieWidth DieHeight FlatLength FlatAngle XOffset YOffset EdgeArea",
       detail="FlatAngle an integer; offsets in um", timeout_ms=10000),
    _c("SetWaferMapParams2", "map", "Diameter=200 DieWidth=10000 DieHeight=10000 FlatLength=20 "
       "FlatAngle=0 XOffset=0 YOffset=0 EdgeArea=0",
       detail=f"pitch >= {MIN_DIE_PITCH_UM:g} um, grid <= {MAX_MAP_GRID_CELLS} cells, diameter "
              f"{DIAMETER_RANGE_MM[0]:g}..{DIAMETER_RANGE_MM[1]:g} mm (else {E_BAD_ARGUMENT})",
       timeout_ms=240000),
    _c("GetWaferMapParams", "map", "",
       "Diameter DieWidth DieHeight FlatLength FlatAngle XOffset YOffset EdgeArea",
       detail="offsets in percent of the die pitch", timeout_ms=10000),
    _c("GetMapDims", "map", "", "MapType XIndex YIndex Columns Rows",
       detail="MapType W (round wafer map; the letter is the simulator's choice)",
       timeout_ms=10000),
    _c("GetNumSelectedDies", "map", "", "SelectedDies", detail="dies of the route",
       timeout_ms=10000),
    _c("GetDieDataAsNum", "map", "CDieIndex=0", "RDieIndex DieX DieY Bin Result",
       detail="1-based route index, 0 = current die; Bin -1 = not binned", timeout_ms=10000),
    _c("GetSubDieData", "map", "Site=0", "CurSite X Y Label",
       detail="0-based site; X Y from the die home, um", timeout_ms=10000),
    _c("GetSubDieStatus", "map", "Site=0", "Status", detail="1 = enabled for every subsite",
       timeout_ms=10000),
    _c("GetMapOrientation", "map", "UseOrientationCornerForShift=0",
       "Orientation OriginShiftX OriginShiftY UseAlphas UseIOs",
       detail="0 0 0 0 1: origin top-left, columns right, rows down", timeout_ms=10000),
    _c("ReadMapPosition", "map", "Pos=0 FromPos=R", support="not modelled",
       detail=f"legacy 1-based form; answers {E_UNKNOWN_COMMAND}"),
    _c("GetDieDataAsColRow", "map", "CDieX=0 CDieY=0", support="not modelled",
       detail=f"answers {E_UNKNOWN_COMMAND}"),
    _c("SetMapRoute", "map", "MoveMode=B StartColumn=L StartRow=T MoveParam=H",
       support="not modelled", detail=f"answers {E_UNKNOWN_COMMAND} (route set in Python)"),
    _c("GetMapRoute", "map", "", "MoveMode StartColumn StartRow MoveParam",
       support="not modelled", detail=f"answers {E_UNKNOWN_COMMAND}"),
    _c("StepNextDieOffset", "map", "XOffset=0 YOffset=0 CDieX=0 CDieY=0", motion="xy",
       support="not modelled", detail=f"answers {E_UNKNOWN_COMMAND}"),
    _c("StepFailedBack", "map", "", "DieIndex", motion="xy", support="not modelled",
       detail=f"answers {E_UNKNOWN_COMMAND}"),
    _c("StepFailedForward", "map", "", "DieIndex", motion="xy", support="not modelled",
       detail=f"answers {E_UNKNOWN_COMMAND}"),
    _c("GoToWaferHome", "map", "", motion="xy", support="not modelled",
       detail=f"answers {E_UNKNOWN_COMMAND}"),
    _c("StepFirstCluster", "map", "ClearBins=1 RecalcRoute=1", motion="xy",
       support="not modelled", detail=f"answers {E_UNKNOWN_COMMAND}"),
    _c("StepNextCluster", "map", "CClusterX=0 CClusterY=0", motion="xy",
       support="not modelled", detail=f"answers {E_UNKNOWN_COMMAND}"),
    _c("SetWaferMapParams", "map", "Diameter=200 DieWidth=10000 DieHeight=10000",
       support="not modelled", detail=f"answers {E_UNKNOWN_COMMAND} (use SetWaferMapParams2)"),
    _c("SetRectMapParams", "map", "DieWidth=0 DieHeight=0 Columns=0 Rows=0",
       support="not modelled", detail=f"answers {E_UNKNOWN_COMMAND}"),
    _c("ClearAllBins", "map", "", support="not modelled", detail=f"answers {E_UNKNOWN_COMMAND}"),
    _c("GetLotID", "map", "", "ID", support="not modelled",
       detail=f"answers {E_UNKNOWN_COMMAND}"),
    # -- heater ---------------------------------------------------------------------------------
    _c("SetHeaterTemp", "heater", "Temperature=25 Unit=C UseContactSafety=1", _TEMP,
       motion="heater", detail=f"in contact: UseContactSafety 1 separates first, 0 is refused "
                               f"({E_INTERLOCK})", timeout_ms=60000),
    _c("HeatChuck", "heater", "Temperature=25 Unit=C ReduceContact=1", _TEMP, motion="heater",
       detail="waits (simulated time) until at temperature + soak; in contact as SetHeaterTemp "
              "with ReduceContact", timeout_ms=36000000),
    _c("GetHeaterTemp", "heater", "Unit=C ExternalHeaterID=0", f"{_TEMP} Status",
       detail="Status H heating, C cooling, S soaking, R ready", timeout_ms=60000),
    _c("GetTargetTemp", "heater", "Unit=C", _TEMP, timeout_ms=60000),
    _c("SetHeaterSoak", "heater", "FixedWaferSoakTime=60 DynamicWaferSoakTime=-1 "
       "FixedDieSoakTime=-1 DynamicDieSoakTime=-1", detail="fixed wafer soak time modelled, s",
       timeout_ms=60000),
    _c("StopHeatChuck", "heater", "", detail="the temperature now becomes the target",
       timeout_ms=60000),
    _c("EnableHeaterHoldMode", "heater", "HoldMode=1", "RespHoldMode",
       detail=f"enable only when ready (else {E_HEATER_STATE}); a new set point ends it",
       timeout_ms=60000),
    _c("EnableHeaterStandby", "heater", "Standby=1", "RespStandby",
       detail="setting or reading a temperature ends standby", timeout_ms=60000),
    _c("GetDewPointTemp", "heater", "Unit=C", _TEMP,
       detail="dry-air purge: a constant -40 C dew point (the simulator's choice)",
       timeout_ms=60000),
    _c("ReadTemperatureChuckStatus", "heater", "", "Status DPSensor SoakTimeLeft HasEcoMode",
       detail="Status as GetHeaterTemp; DPSensor 1 (sensor present and active); s left",
       timeout_ms=60000),
    _c("GetHeaterSoak", "heater", "", support="not modelled",
       detail=f"answers {E_UNKNOWN_COMMAND}"),
    _c("SetChuckThermoValue", "chuck", "Temperature=0 Unit=C ExpCoeffX=0 ExpCoeffY=0",
       support="not modelled", detail=f"answers {E_UNKNOWN_COMMAND}"),
)

BY_NAME: dict[str, CommandSpec] = {c.name.lower(): c for c in COMMANDS}
#: Commands that move the chuck in X/Y (the interlock applies), lower case.
XY_MOTION: frozenset[str] = frozenset(c.name.lower() for c in COMMANDS if c.motion == "xy")
#: Commands that change the chuck temperature, lower case.
HEATER_SET: frozenset[str] = frozenset(
    c.name.lower() for c in COMMANDS if c.motion == "heater"
)


def spec(name: str) -> CommandSpec | None:
    """The table entry of command ``name`` (case-insensitive), None if not in the table."""
    return BY_NAME.get(name.lower())


def conformance_rows() -> list[ConformanceRow]:
    """Every Velox command of the reference tables and how the twin answers it."""
    rows = []
    for c in COMMANDS:
        detail = c.detail
        if c.support == "supported" and c.replies:
            fields = "reply " + " ".join(c.replies)
            detail = f"{fields}; {detail}" if detail else fields
        rows.append(ConformanceRow(INSTRUMENT, c.name, c.support, detail))
    rows.append(ConformanceRow(
        INSTRUMENT, "(any other)", "not modelled",
        f"answers {E_UNKNOWN_COMMAND} {ERROR_MESSAGES[E_UNKNOWN_COMMAND]} at once"))
    return rows
