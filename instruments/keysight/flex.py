"""The Keysight B1500A FLEX vocabulary: the one place for its tables.

What lives here (facts, looked up by both sides):

* the ``FMT 1`` data format: status letters (:data:`STATUS`), channel letters, data types,
  the dummy value :data:`DUMMY` (``199.999E+99``) and one encoder/decoder
  (:func:`format_fmt1_value`, :func:`parse_fmt1`);
* range codes and their full-scale values (:data:`I_RANGES`, :data:`V_RANGES`);
* error codes and messages (:data:`ERRORS`); the ``ERRX?`` reply shape (:func:`errx_reply`);
* module models and what kind of module each is (:data:`MODULES`);
* ``*LRN?`` types (:data:`LRN_TYPES`) and every FLEX command header of the reference tables with
  the module it needs and how the twin answers it (:data:`COMMANDS`, :func:`conformance_rows`).

Who uses what. The driver (:mod:`instruments.keysight.b1500`) decodes replies with
:func:`parse_fmt1`, reads :data:`ERRORS`-shaped ``ERRX?`` replies and the dummy value; it builds
commands with its own code (and pymeasure's). The simulator (:mod:`instruments.sim.b1500_server`)
encodes data with :func:`format_fmt1_value`, takes its error messages, range full scales, module
models and the support column of :data:`COMMANDS` from here, but its *parser* (splitting chained
commands, headers, arguments, numeric syntax, argument counts and per-command bounds) is its own
implementation of the grammar, written from the manual and not shared with the driver, so a
grammar mistake on one side shows up as an error on the other (and the stock QCoDeS and pymeasure
clients in the tests check both).

Sources of the facts: the B1500A programming guide as quoted by QCoDeS' Keysight B1500 driver
(``MessageBuilder``, ``constants``: command headers, range codes, status meanings, "V: ... or the
sweep measurement was aborted by the automatic stop function ... D will be 199.999E+99",
``*LRN?`` types, ``*CAL?`` result bits) and by pymeasure's ``AgilentB1500`` (channel letters,
16-byte FMT 1 data). Error codes other than 0, 100, 102 and 104 are not in a public source:
they are this twin's choice, written here only (see :data:`ERRORS`).

Units: A, V, s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from instruments.conformance import ConformanceRow

INSTRUMENT = "Keysight B1500A (FLEX)"

#: the dummy datum of overflowed, invalid or aborted data (``199.999E+99``)
DUMMY = 199.999e99
DUMMY_TEXT = "+199.999E+99"
_DUMMY_FROM = 1e99  #: |value| from this on is read as the dummy

#: FMT 1 status letters (first character of a datum)
STATUS: dict[str, str] = {
    "N": "normal",
    "C": "this channel reached its compliance",
    "T": "another channel reached its compliance",
    "V": "over the measurement range, or a sweep stopped by automatic abort (dummy data)",
    "X": "oscillation, or the output did not settle",
    "G": "search target not found / quasi-pulse detection time over",
    "S": "search stopped / quasi-pulse slew too slow",
    "U": "CMU NULL loop unbalance",
    "D": "CMU IV amplifier saturation",
    "W": "sweep source data, first or intermediate step",
    "E": "sweep source data, last step",
}

#: FMT 1 data types (third character): I current, V voltage, T time, X sampling index, Z invalid
DATA_TYPES: dict[str, str] = {
    "I": "current (A)", "V": "voltage (V)", "T": "time (s)", "X": "sampling index",
    "Z": "invalid", "F": "frequency (Hz)",
}


def channel_letter(channel: int) -> str:
    """FMT 1 channel letter: ``A``..``J`` for slots 1..10, ``a``..``j`` for ``slot*100+2``."""
    ch = int(channel)
    if 1 <= ch <= 10:
        return chr(ord("A") + ch - 1)
    if ch % 100 == 2 and 1 <= ch // 100 <= 10:
        return chr(ord("a") + ch // 100 - 1)
    raise ValueError(f"channel {channel} has no FMT 1 letter")


def channel_from_letter(letter: str) -> int | str:
    """Channel number of an FMT 1 letter; other letters (``V`` ground, ``Z`` misc.) as is."""
    if "A" <= letter <= "J":
        return ord(letter) - ord("A") + 1
    if "a" <= letter <= "j":
        return (ord(letter) - ord("a") + 1) * 100 + 2
    return letter


@dataclass(frozen=True)
class Reading:
    """One FMT 1 datum.

    Attributes:
        value: the number (A for kind "I", V for "V", s for "T"); NaN for the dummy value (no
            data: overflow, invalid, or a step after an automatic sweep abort).
        status: status letter (see :data:`STATUS`).
        channel: channel number for ``A``..``J``/``a``..``j``, else the letter itself.
        kind: data type letter (see :data:`DATA_TYPES`).
        dummy: True when the instrument sent the dummy value ``199.999E+99``.
    """

    value: float
    status: str
    channel: int | str
    kind: str
    dummy: bool = False

    @property
    def compliance(self) -> bool:
        """True when this channel reached its compliance."""
        return self.status == "C"

    @property
    def other_compliance(self) -> bool:
        """True when another channel of the same measurement reached its compliance."""
        return self.status == "T"

    @property
    def overflow(self) -> bool:
        """True for overflowed/invalid/aborted data (status V or the dummy value)."""
        return self.status == "V" or self.dummy


def format_fmt1_value(status: str, channel: str, kind: str, value: float) -> str:
    """One FMT 1 datum: status, channel letter, data type and a 12-character value.

    The value is written ``sddd.dddEsdd`` (e.g. ``+001.235E-06``), so a datum is always 15
    characters (16 with its separator). NaN, inf and |value| >= 1e99 become the dummy.
    """
    if not math.isfinite(value) or abs(value) >= _DUMMY_FROM:
        return f"{status}{channel}{kind}{DUMMY_TEXT}"
    sign = "-" if value < 0 else "+"
    mag = abs(value)
    if mag < 1e-99:
        return f"{status}{channel}{kind}{sign}000.000E+00"
    exp = 3 * math.floor(math.log10(mag) / 3)
    mant = round(mag / 10.0**exp, 3)
    if mant >= 1000.0:
        exp += 3
        mant = round(mag / 10.0**exp, 3)
    return f"{status}{channel}{kind}{sign}{mant:07.3f}E{exp:+03d}"


def parse_fmt1_value(element: str) -> Reading:
    """Parse one FMT 1 datum such as ``NAI+000.123E-06`` (surrounding whitespace ignored)."""
    text = element.strip()
    if len(text) < 4:
        raise ValueError(f"not an FMT 1 datum: {element!r}")
    status, letter, kind = text[0], text[1], text[2]
    try:
        value = float(text[3:])
    except ValueError:
        raise ValueError(f"not an FMT 1 datum: {element!r}") from None
    if abs(value) >= _DUMMY_FROM:
        return Reading(math.nan, status, channel_from_letter(letter), kind, dummy=True)
    return Reading(value, status, channel_from_letter(letter), kind)


def parse_fmt1(text: str) -> list[Reading]:
    """Parse a comma-separated FMT 1 reply (terminators ignored) into readings."""
    text = text.strip().strip(",")
    if not text:
        return []
    return [parse_fmt1_value(e) for e in text.split(",")]


# -- ranges -----------------------------------------------------------------------------------
#: current range code -> full scale (A); negative codes are the same ranges fixed, 0 is auto
I_RANGES: dict[int, float] = {
    8: 1e-12, 9: 10e-12, 10: 100e-12, 11: 1e-9, 12: 10e-9, 13: 100e-9, 14: 1e-6, 15: 10e-6,
    16: 100e-6, 17: 1e-3, 18: 10e-3, 19: 100e-3, 20: 1.0,
}
#: voltage range code -> full scale (V); the two codings (11..14 and 5..1000) are both accepted
V_RANGES: dict[int, float] = {
    2: 0.2, 5: 0.5, 11: 2.0, 20: 2.0, 50: 5.0, 12: 20.0, 200: 20.0, 13: 40.0, 400: 40.0,
    14: 100.0, 1000: 100.0,
}


def full_scale(kind: str, code: int) -> float:
    """Full scale (A or V) of range ``code`` (sign ignored); KeyError for 0 or an unknown code."""
    return (I_RANGES if kind == "I" else V_RANGES)[abs(int(code))]


# -- modules ----------------------------------------------------------------------------------
#: model -> (kind, description); kinds: SMU, CMU, SPGU, WGFMU
MODULES: dict[str, tuple[str, str]] = {
    "B1510A": ("SMU", "HPSMU high-power SMU"),
    "B1511A": ("SMU", "MPSMU medium-power SMU"),
    "B1511B": ("SMU", "MPSMU medium-power SMU"),
    "B1514A": ("SMU", "MCSMU medium-current SMU"),
    "B1517A": ("SMU", "HRSMU high-resolution SMU"),
    "B1520A": ("CMU", "MFCMU multi-frequency capacitance measurement unit"),
    "B1525A": ("SPGU", "HV-SPGU high-voltage semiconductor pulse generator unit"),
    "B1530A": ("WGFMU", "WGFMU waveform generator/fast measurement unit (two channels)"),
}

#: HRSMU (B1517A) limits used by the twin: output ranges, max output (V, A)
HRSMU_I_CODES = tuple(range(8, 20))  #: 1 pA (with ASU) .. 100 mA
HRSMU_V_CODES = (5, 11, 20, 50, 12, 200, 13, 400, 14, 1000)  #: 0.5 V .. 100 V
HRSMU_MAX_V = 100.0
HRSMU_MAX_I = 0.1


#: MM measurement modes of the manual (QCoDeS ``constants.MM.Mode``); the twin runs 1, 2, 3, 10
MM_MODES: dict[int, str] = {
    1: "spot", 2: "staircase sweep", 3: "pulsed spot", 4: "pulsed sweep",
    5: "staircase sweep with pulsed bias", 9: "quasi-pulsed spot", 10: "sampling",
    13: "quasi-static CV", 14: "linear search", 15: "binary search", 16: "multi-channel sweep",
    17: "spot C", 18: "CV DC sweep", 19: "pulsed spot C", 20: "pulsed sweep CV",
    22: "C-f sweep", 23: "CV AC sweep", 26: "C-t sampling", 27: "multi-channel pulsed spot",
    28: "multi-channel pulsed sweep",
}


# -- errors -----------------------------------------------------------------------------------
#: ERRX? codes and messages. 0/100/102/104 follow the programming guide; the others are this
#: twin's choice (no public source lists them), kept here only.
ERRORS: dict[int, str] = {
    0: "No Error.",
    100: "Undefined GPIB command.",
    102: "Incorrect numeric data syntax.",
    104: "Incorrect number of parameters.",
    120: "Parameter out of range.",
    150: "Channel not installed or not an SMU.",
    151: "No module for this command is installed.",
    200: "Channel output switch must be ON.",
    300: "Measurement mode or channels not set.",
    305: "Sweep source not set.",
    310: "Pulse source not set.",
    620: "Not supported by the simulator.",
}


def errx_reply(code: int, mode: int = 0) -> str:
    """``ERRX? [mode]`` reply: mode 0 ``+0,"No Error."``, 1 the signed code, 2 the message.

    The firmware writes the code with its sign (``+0``, ``+100``), as a real B1500A log shows;
    QCoDeS' stock driver requires exactly ``+0,"No Error."``.
    """
    message = ERRORS.get(code, "Unknown error.")
    if mode == 1:
        return f"{code:+d}"
    if mode == 2:
        return f'"{message}"'
    return f'{code:+d},"{message}"'


# -- *LRN? types --------------------------------------------------------------------------------
#: *LRN? type -> (module kind needed, what it reports)
LRN_TYPES: dict[int, tuple[str, str]] = {
    0: ("mainframe", "output switch (CN/CL)"),
    **{slot: ("SMU", f"channel {slot} output (DV/DI or CL)") for slot in range(1, 11)},
    30: ("SMU", "filter (FL)"),
    31: ("mainframe", "TM, AV, CM, FMT, MM"),
    32: ("SMU", "measurement ranging (RI, RV)"),
    33: ("SMU", "staircase sweep (WM, WT with five values, WV/WI with compliances)"),
    34: ("SMU", "pulsed source (PT, PV/PI)"),
    37: ("SMU", "quasi-pulsed source (BDM, BDT, BDV)"),
    38: ("mainframe", "digital I/O (ERM)"),
    40: ("mainframe", "channel mapping (ACH)"),
    46: ("SMU", "measurement operation mode (CMM)"),
    47: ("SMU", "sampling (MSC, ML, MT, MV/MI)"),
    49: ("SMU", "quasi-static CV (QS...)"),
    50: ("SMU", "linear search (LSM, LSV/LSI ...)"),
    51: ("SMU", "binary search (BSM, BSV/BSI ...)"),
    53: ("SMU", "series resistor (SSR)"),
    54: ("SMU", "auto ranging mode (RM)"),
    55: ("SMU", "ADC type (AAD)"),
    56: ("SMU", "ADC integration/averaging (AIT, AV, AZ)"),
    57: ("SMU", "source/measure wait time (WAT)"),
    58: ("mainframe", "trigger (TGP, TGPC ...)"),
    59: ("SMU", "multi-channel sweep source (WNX)"),
    60: ("mainframe", "time stamp (TSC)"),
    61: ("mainframe", "display (RED, DISP...)"),
    62: ("ASU", "ASU connection path (SAP)"),
    63: ("ASU", "1 pA auto ranging (SAR)"),
    64: ("ASU", "ASU indicator (SAL)"),
    70: ("CMU", "MFCMU measurement mode (IMP)"),
    71: ("CMU", "MFCMU data output (LMN)"),
    72: ("CMU", "MFCMU ADC (ACT)"),
    73: ("CMU", "MFCMU range (RC)"),
    80: ("SCUU", "SCUU indicator (SSL)"),
    81: ("SCUU", "SCUU path (SSP)"),
    90: ("CMU", "MFCMU adjustment (ADJ)"),
    100: ("CMU", "CV DC bias sweep"),
    101: ("CMU", "pulsed spot C"),
    102: ("CMU", "C-f sweep"),
    103: ("CMU", "CV AC level sweep"),
    104: ("CMU", "C-t sampling"),
    105: ("SMU", "multi-channel pulsed spot"),
    106: ("SMU", "multi-channel pulsed sweep"),
    110: ("mainframe", "parallel measurement (PAD)"),
}


# -- commands -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    """A FLEX command header and how the twin answers it.

    ``module`` is the kind of module the command needs (``mainframe``, ``SMU``, ``CMU``,
    ``SPGU``, ``ASU``, ``SCUU``, ``expander`` for the N12xx/16440A selectors and
    expanders); ``support`` is ``supported``, ``refused`` (with ``error``) or ``not modelled``
    (answered with error 620).
    """

    header: str
    module: str
    support: str
    detail: str
    error: int | None = None


_S, _N = "supported", "not modelled"

_SUPPORTED: dict[str, str] = {
    "*IDN?": "identity", "*RST": "reset (error queue kept)", "*OPC?": "answers 1",
    "*CLS": "clears the error queue", "*STB?": "status byte (bit 5: error queue not empty)",
    "*SRE": "service request enable mask", "*SRE?": "mask set by *SRE",
    "*LRN?": "every type of the installed modules (see LRN_TYPES)",
    "*CAL?": "self-calibration: 0 (passed), 30 s of lab time, outputs as after CL",
    "*TST?": "self-test: 0 (passed)", "CA": "self-calibration, as *CAL? without a reply",
    "UNT?": "model,revision per slot", "ERRX?": "mode 0 +code,\"msg\", 1 code, 2 msg",
    "ERR?": "four codes", "ERS?": "0", "EMG?": "message of an error code",
    "ERMOD": "mode 0 (general purpose) only", "ERMOD?": "mode set by ERMOD",
    "ERSSP": "selector port status (no selector: kept, no effect)",
    "ERSSP?": "status set by ERSSP", "CN": "output on (0 V)", "CL": "output off",
    "DZ": "zero and store", "RZ": "restore", "DV": "force voltage, on the lab clock",
    "DI": "force current, on the lab clock", "TI": "high-speed spot current",
    "TV": "high-speed spot voltage", "TTI": "TI with time stamp", "TTV": "TV with time stamp",
    "TIV": "high-speed spot current and voltage", "TTIV": "TIV with time stamp",
    "MM": "modes 1 spot, 2 staircase, 3 pulsed spot, 10 sampling",
    "CMM": "measurement operation mode 0..4", "WV": "voltage staircase (+ power compliance)",
    "WI": "current staircase", "WT": "hold, delay, step/trigger/measure delay",
    "WM": "automatic abort (dummy data after the abort), post value",
    "PT": "pulse timing", "PV": "voltage pulse", "XE": "runs MM; abort-padded data",
    "FMT": "format 1 (modes 0..10)", "AAD": "ADC type", "AIT": "ADC integration time",
    "AV": "averaging (sets AIT 0 as on the instrument)", "AZ": "auto zero", "CM": "auto cal",
    "PAD": "parallel measurement flag", "FL": "filter", "SSR": "series resistor",
    "RI": "current measurement range (fixed ranges overflow)",
    "RV": "voltage measurement range", "RM": "auto ranging mode", "TSC": "time stamp",
    "TSR": "time stamp reset", "TSQ": "time stamp query", "BC": "buffer clear",
    "AB": "abort (no effect: commands run to completion)", "NUB?": "0", "PA": "pause (lab time)",
    "WAT": "wait time", "MT": "sampling timing", "ML": "sampling mode (linear)",
    "MSC": "sampling automatic abort", "MV": "sampling voltage source",
    "MI": "sampling current source", "LOP?": "output status per channel",
    "WZ?": "1 when every output is at 0 V", "TM": "trigger mode (1 only)",
    "TGP": "trigger port set-up: outputs of type 0..3 (edges); inputs not modelled (620)",
    "TGPC": "clears the trigger set-up of the ports (all without a port)",
    "TGMO": "edge (1) or gate (2) trigger output: edge only (gate not modelled)",
    "TGSO": "edge (1) or gate (2) trigger output: edge only (gate not modelled)",
    "TGXO": "edge (1) or gate (2) trigger output: edge only (gate not modelled)",
    "TGSI": "start step output setup trigger input case (kept; inputs not modelled)",
    "OS": "sends an edge from Ext Trig Out", "OSX": "sends an edge from a port (level 2)",
}

_NOT_MODELLED_SMU = (
    "PI PWV PWI WSV WSI MSP BDM BDT BDV BGI BGV BSI BSM BSSI BSSV BST BSV BSVM LGI LGV LSI LSM "
    "LSSI LSSV LSTM LSV LSVM MCC MCPNT MCPNX MCPT MCPWNX MCPWS WNX WNU? QSC QSM QSO QSR QST QSV "
    "QSZ RCV LIM LIM? AITM AITM? IN TDV TDI"
)
_NOT_MODELLED_MAINFRAME = (
    "ST END DO RU SCR VAR VAR? LST? WS PAX ERM ERC ACH DIAG? "
    "DSMPLARM DSMPLFLUSH DSMPLSETUP PCH CNX INTLKVTH INTLKVTH? ODSW ODSW?"
)
_CMU = (
    "ACT ACV ADJ ADJ? CLCORR CORR? CORRDT? CORRL CORRL? CORRSER? CORRST CORRST? DCORR DCORR? DCV "
    "FC IMP LMN MDCV MTDCV PDCV PTDCV PWDCV RC TACV TC TDCV TMACV TMDCV TTC WACV WDCV WFC WMACV "
    "WMDCV WMFC WNCC WTACV WTDCV WTFC"
)
_SPGU = (
    "SER SER? SIM SIM? SOPC SOPC? SOVC SOVC? SPM SPM? SPP SPPER SPPER? SPRM SPRM? SPST? SPT SPT? "
    "SPUPD SPV SPV? SRP ALS ALS? ALW ALW? STGP STGP?"
)
_ASU_SCUU = "SAL SAP SAR SSL SSP"
_EXPANDERS = (
    "ERCMAA ERCMAA? ERCMAGRD ERCMAGRD? ERCMAIO ERCMAIO? ERCMAPFGD ERHPA ERHPA? ERHPE ERHPE? ERHPL "
    "ERHPL? ERHPP ERHPP? ERHPQG ERHPQG? ERHPR ERHPR? ERHPS ERHPS? ERHVCA ERHVCA? ERHVCTST? ERHVP "
    "ERHVP? ERHVPV ERHVS ERHVS? ERPFDA ERPFDA? ERPFDP ERPFDP? ERPFDS ERPFDS? ERPFGA ERPFGA? ERPFGP "
    "ERPFGP? ERPFGR ERPFQG ERPFQG? ERPFTEMP? ERPFUHCA ERPFUHCA? ERPFUHCCAL? ERPFUHCMAX? "
    "ERPFUHCTST? ERUHVA ERUHVA? HVSMUOP HVSMUOP?"
)


_SMU_HEADERS = frozenset(
    "DV DI TI TV TTI TTV TIV TTIV CMM WV WI WT WM PT PV AAD AIT AV AZ FL SSR RI RV RM WAT MT ML "
    "MSC MV MI LOP? WZ? DZ RZ".split()
)


def _build_commands() -> dict[str, Command]:
    table: dict[str, Command] = {}
    for header, detail in _SUPPORTED.items():
        module = "SMU" if header in _SMU_HEADERS else "mainframe"
        table[header] = Command(header, module, _S, detail)
    for names, module in ((_NOT_MODELLED_SMU, "SMU"), (_NOT_MODELLED_MAINFRAME, "mainframe")):
        for header in names.split():
            table[header] = Command(header, module, _N, "not modelled: error 620", 620)
    refused = ((_CMU, "CMU", "B1520A MFCMU"), (_SPGU, "SPGU", "B1525A SPGU"),
               (_ASU_SCUU, "ASU/SCUU", "ASU or SCUU"),
               (_EXPANDERS, "expander", "HVSMU/HCSMU/UHC expander or selector"))
    for names, module, what in refused:
        for header in names.split():
            table[header] = Command(
                header, module, "refused", f"no {what} installed: error 151", 151
            )
    return table


#: every FLEX header of the reference (the command list of QCoDeS' MessageBuilder) -> Command
COMMANDS: dict[str, Command] = _build_commands()


def conformance_rows() -> list[ConformanceRow]:
    """One row per FLEX command for ``docs/protocol-conformance.md`` (supported first)."""
    order = {"supported": 0, "refused": 1, "not modelled": 2}
    rows = sorted(COMMANDS.values(), key=lambda c: (order[c.support], c.header.lstrip("*")))
    return [
        ConformanceRow(INSTRUMENT, c.header, c.support,  # type: ignore[arg-type]
                       f"{c.module}: {c.detail}")
        for c in rows
    ]


#: What the trigger I/O (``TGP``, ``TGPC``, ``TGMO``/``TGSO``/``TGXO``, ``OS``/``OSX``) and the
#: constant-voltage staircase of the chip-controller scan were checked against, and what no
#: public source confirms (``docs/protocol-conformance.md``, below the table). Sources: the
#: B1500A/B1505A Programming Guide, Edition 11, as published online ("Trigger Function",
#: Table 2-7, Figure 2-49, ``TGP`` Table 4-31, ``OSX``, ``WI``), and QCoDeS' ``keysightb1500``
#: (``MessageBuilder.tgp/tgpc/osx/wt/wv/wm``, ``constants.TriggerPort``, ``TGP``, ``OSX``,
#: ``TGMO``/``TGSO``/``TGXO``/``TGSI``, ``WM``, ``Abort``).
CONFORMANCE_NOTES: tuple[str, ...] = (
    "Confirmed: `TGP port,terminal,polarity[,type]` (type optional); ports -1 Ext Trig In, "
    "-2 Ext Trig Out, 1..16 digital I/O; terminal 1 input, 2 output; polarity 1 positive, "
    "2 negative; `TGPC [ports]` with at most 18 ports, all without one.",
    "Confirmed (Table 4-31): output types 0 sent by `OS`/`OSX`, 1 measurement completion, "
    "2 step output setup completion, 3 step measurement completion (staircase, multi channel "
    "and CV sweeps only); with several measured channels the edge follows the last one. The "
    "scan's sweep sets `TGP -2,2,1,3`.",
    "Confirmed (Figure 2-49, `OSX`): an edge trigger is a pulse of about 10 us; `OSX "
    "port[,level]` level 0 low, 1 high, 2 edge (the default).",
    "Confirmed: `WV ch,mode,range,start,stop,step[,Icomp[,Pcomp]]` asks start and stop of "
    "the same polarity only for a log sweep (so the scan's linear `WV` with start == stop is "
    "a legal constant-voltage staircase); `WI`'s page gives 1..10001 steps (the driver and "
    "the twin take the same bound for `WV`); `WM abort[,post]` 1 disables the "
    "automatic abort, post 1 the start value; `WT hold,delay[,step delay[,trigger "
    "delay[,measure delay]]]`.",
    "Not confirmed (no public text found): which trigger output each of `TGMO`, `TGSO` and "
    "`TGXO` sets to edge (1) or gate (2) (QCoDeS only names the two modes), and their initial "
    "setting; the twin starts every one at edge and models edges only, the driver never sends "
    "them and relies on the edge default. A lab bench should read its trigger with a scope "
    "once (about 10 us per point at Ext Trig Out during a scan row).",
    "Not confirmed: the `TGP` type when omitted (the twin takes 0; the driver always sends "
    "it); whether port -1 can be an output or -2 an input (the twin answers error 120); "
    "whether `TI`/`TV` high-speed spot measurements send the type 1 trigger (in the twin only "
    "`XE` measurements do; the scan uses type 3, which only sweeps send). The twin sends a "
    "type 2 edge when a sweep step's output or a pulsed spot's pulse is set, without `WT`'s "
    "trigger delay; its other pulsed modes are not modelled.",
)


def conformance_notes() -> tuple[str, tuple[str, ...]]:
    """The instrument and :data:`CONFORMANCE_NOTES` for ``docs/protocol-conformance.md``."""
    return INSTRUMENT, CONFORMANCE_NOTES
