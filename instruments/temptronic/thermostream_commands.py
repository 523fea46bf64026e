"""The inTEST (Temptronic) ThermoStream remote-command vocabulary, in one place.

A ThermoStream blows a temperature-controlled air stream through a thermal cap over the sockets
of a test board: the temperature instrument of a bench of packaged chips. Used by MemProbe's
driver (:mod:`instruments.temptronic.thermostream`) and by the twin's server
(:mod:`instruments.sim.thermostream_server`): which commands exist, their ranges, the status
register bits, the identity string and the processing time.

Sources (cited, not copied):

* inTEST Thermal Solutions, *TP04300 Series Interface & Applications Manual*, chapter 4 (remote
  interfaces): syntax (ASCII, a space before an argument, ``;`` between commands of one
  message, replies ``;``-joined; GPIB replies end in LF, serial replies in CR LF), the RS-232
  commands ``%RM`` / ``%GL`` / ``%LL``, the device commands (``ADMD``, ``AUXC?`` version-3 bits,
  ``EROR?`` bits, ``FLOW 1/0``), ``*IDN?`` reply ``TEMPTRONIC,TP04300A,4000,Ver 3.2.0``, and
  appendix C: "The TP04300A takes about 100 ms to process a command string".
* pymeasure's ``pymeasure.instruments.temptronic`` (ATSBase, after the *ATS-515/615, 525/625,
  535/635 ThermoStream Interface & Applications Manual*, rev. E, 2019): the command mnemonics
  and their ranges (``SETP`` -99.9..225 C, ``LLIM`` -99..25 C, ``ULIM`` 25..225 C, ``WNDW``
  0.1..9.9 C, ``SOAK`` 0..9999 s, ``RAMP`` 0..9999 C/min, ``DUTC`` 20..500, ``ADMD``
  10..300 C, ``TTIM`` 0..9999 s, ``SETN`` 0..17), ``TECR?`` bits, ``HEAD`` 0 up / 1 down,
  ``DUTM`` 1 DUT / 0 air, ``DSNS`` 0 none / 1 T / 2 K thermocouple, ``WHAT?`` 5 operator
  screen (manual) / 6 cycle screen, ``TEMP?`` over 400 C = no valid reading.

Where a source gives no behaviour (what the instrument does with a set point beyond ``ULIM``),
the twin's choice is written in :mod:`instruments.sim.thermostream` and ``docs/packaged-chips.md``.
Units: C, s, C/min.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

from instruments.conformance import ConformanceRow

INSTRUMENT = "inTEST ThermoStream (TP04300A / ATS-5xx)"
IDN_TWIN = "TEMPTRONIC,TP04300A (MemProbe twin),0,Ver 3.2.0"
"""``*IDN?`` of the twin: the TP04300A's fields (manual, appendix C), the model marked."""

COMMAND_PROCESSING_S = 0.1
"""[F] s a TP04300A takes to process one command string (manual, appendix C)."""

INVALID_READING_C = 400.0
"""[F] C. A ``TEMP?`` reading above this is no valid temperature (open sensor)."""

WHAT_OPERATOR = 5
"""[F] ``WHAT?``: the operator screen (manual set points, what remote control uses)."""
WHAT_CYCLE = 6
"""[F] ``WHAT?``: the cycle screen."""

HEAD_UP, HEAD_DOWN = 0, 1
"""[F] ``HEAD n``: 0 lifts the test head, 1 lowers it onto the board."""

SENSOR_NONE, SENSOR_T, SENSOR_K = 0, 1, 2
"""[F] ``DSNS n``: no DUT sensor, type T or type K thermocouple."""


class TemperatureCondition(IntFlag):
    """[F] ``TECR?``: temperature condition register."""

    AT_TEMPERATURE = 1  # within the window for the soak time
    NOT_AT_TEMPERATURE = 2
    END_OF_TEST = 4  # the maximum test time elapsed
    END_OF_ONE_CYCLE = 8
    END_OF_ALL_CYCLES = 16
    CYCLING_STOPPED = 32


class AuxCondition(IntFlag):
    """[F] ``AUXC?`` (version-3 software) bits."""

    HEAD_UP = 4
    HEAT_ONLY = 8  # compressor off
    DUT_MODE = 16
    FLOW_ON = 32
    READY = 64  # ready for operation (start-up done)
    OPERATOR_SCREEN = 256


class DeviceError(IntFlag):
    """[F] ``EROR?`` (version-3 software) bits; read with ``EROR?``, cleared by ``CLER``."""

    OVERHEAT = 1
    AIR_OPEN_LOOP = 2
    SETPOINT_OUT_OF_RANGE = 4
    LOW_FLOW = 8
    LOW_INPUT_AIR_PRESSURE = 16
    INTERNAL_ERROR = 128
    DUT_OPEN_LOOP = 256
    NO_DUT_SENSOR_SELECTED = 16384


ESR_COMMAND_ERROR = 32
"""[F] IEEE 488.2 ``*ESR?`` bit 5: a command the instrument does not know (or a bad argument)."""


@dataclass(frozen=True)
class Setting:
    """A numeric setting: ``NAME value`` sets it, ``NAME?`` reads it back.

    Attributes:
        name: the mnemonic.
        low, high: the instrument's range (units as named).
        units: C, s, C/min or "" (a code).
        integer: sent as an integer.
        description: what it is.
    """

    name: str
    low: float
    high: float
    units: str
    integer: bool
    description: str


#: every numeric setting, by mnemonic (the driver's validators and the twin's ranges)
SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("SETP", -99.9, 225.0, "C", False, "temperature set point"),
    Setting("LLIM", -99.0, 25.0, "C", False, "lowest air temperature (set points below refused)"),
    Setting("ULIM", 25.0, 225.0, "C", False, "highest air temperature (set points above refused)"),
    Setting("WNDW", 0.1, 9.9, "C", False, "at-temperature window around the set point"),
    Setting("SOAK", 0.0, 9999.0, "s", False, "time in the window before at temperature"),
    Setting("RAMP", 0.0, 9999.0, "C/min", False, "ramp rate of the set point (0: fastest)"),
    Setting("DUTM", 0, 1, "", True, "control on the DUT sensor (1) or the air (0)"),
    Setting("DSNS", 0, 2, "", True, "DUT sensor: 0 none, 1 T, 2 K thermocouple"),
    Setting("DUTC", 20.0, 500.0, "", False, "DUT thermal constant (higher: more mass)"),
    Setting("ADMD", 10.0, 300.0, "C", False, "largest air-to-DUT difference while settling"),
    Setting("TTIM", 0.0, 9999.0, "s", False, "maximum test time at one temperature"),
    Setting("SETN", 0, 17, "", True, "set point number (operator: 0 hot, 1 ambient, 2 cold)"),
    Setting("HEAD", 0, 1, "", True, "head 0 up, 1 down"),
)}

#: commands without a reply: ``FLOW 1|0`` air on/off, ``COOL 1|0`` compressor, ``CLER`` clear
#: errors, ``RSTO``/``*RST`` operator screen, ``*CLS`` clear status, remote/local
ACTIONS = ("FLOW", "COOL", "CLER", "RSTO", "*RST", "*CLS", "%RM", "%GL", "%LL")

#: queries without a setting: ``TEMP?`` controlled temperature (DUT in DUT mode, else air),
#: ``TMPA?`` air, ``TMPD?`` DUT, ``SETD?`` dynamic (ramping) set point, the registers
QUERIES = ("TEMP?", "TMPA?", "TMPD?", "SETD?", "TECR?", "TESR?", "AUXC?", "EROR?", "WHAT?",
           "*IDN?", "*ESR?", "*OPC?")


def format_value(setting: Setting, value: float) -> str:
    """``value`` as the instrument takes it (0.1 C resolution; integers for codes)."""
    return str(int(round(value))) if setting.integer else f"{value:.1f}"


#: manual commands the twin does not model: answered with the ``*ESR?`` command-error bit
NOT_MODELLED = ("CYCL", "CYCC", "RMPC", "RMPS", "NEXT", "SFIL", "CFIL", "LRNM", "FLWM", "FLLE",
                "CYCL?", "CYCC?", "LRNM?", "FLWR?", "FLRL?")

_DETAILS = {
    "TTIM": "stored; the end of test is not modelled",
    "SETN": "stored; the operator screen's set point is SETP",
    "TESR?": "the condition register (not a latched event register)",
    "TMPD?": "999.9 with no DUT sensor selected (DSNS 0)",
    "RSTO": "back to the operator screen (set point number 1)",
    "*RST": "as RSTO",
}


def conformance_rows() -> list[ConformanceRow]:
    """Every ThermoStream command of the vocabulary and how the twin answers it."""
    rows = [ConformanceRow(INSTRUMENT, f"{n} x / {n}?", "supported",
                           _DETAILS.get(n, f"{s.description}; {s.low:g}..{s.high:g}"
                                           f"{' ' + s.units if s.units else ''}; out of range: "
                                           + ("EROR? bit 2" if n == "SETP" else "*ESR? bit 5")))
            for n, s in SETTINGS.items()]
    rows += [ConformanceRow(INSTRUMENT, c, "supported", _DETAILS.get(c, ""))
             for c in (*ACTIONS, *QUERIES)]
    rows += [ConformanceRow(INSTRUMENT, c, "refused", "*ESR? bit 5 (command error), no reply")
             for c in NOT_MODELLED]
    return rows


__all__ = ["ACTIONS", "AuxCondition", "COMMAND_PROCESSING_S", "DeviceError", "ESR_COMMAND_ERROR",
           "HEAD_DOWN", "HEAD_UP", "IDN_TWIN", "INSTRUMENT", "INVALID_READING_C", "QUERIES",
           "SENSOR_K", "SENSOR_NONE", "SENSOR_T", "SETTINGS", "Setting", "TemperatureCondition",
           "WHAT_CYCLE", "WHAT_OPERATOR", "conformance_rows", "format_value"]
