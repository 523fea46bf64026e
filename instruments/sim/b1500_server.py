"""Simulated Keysight B1500A mainframe speaking FLEX on a TCP socket.

The server keeps the state of every SMU (output switch, forced voltage or current, compliance,
ranges, measurement operation mode, ADC) and computes what the SMUs measure by asking the lab for
the response of the selected cell: the SMUs wired to BL, SL and WL (see ``channel_map``) bias the
cell through :meth:`SimLab.bias_selected`; the SMU on the substrate only measures noise.

Wire format: lines end with ``\\n`` or ``\\r\\n``; commands may be chained with ``;``; every reply
ends with ``\\r\\n``. Replies of several queries in one line are joined with ``;``. Measurement data
(``XE``, ``TI``/``TV``/``TTI``/``TTV``, ``TSQ``) use ``FMT 1``: ``<status><channel><type><value>``,
e.g. ``NAI+000.123E-06`` (status N normal, C this channel in compliance, T another channel in
compliance, V overflow, W/E sweep source data of an intermediate/last step; channel A = slot 1;
type I, V or T), values separated by ``,``.

Error codes (readable with ``ERRX?`` as ``code,"message"``; oldest first; ``0,"No Error."`` when
the queue is empty). They are modelled on FLEX codes but are this simulator's choice:

=====  ====================================  ==============================================
code   message                               raised by
=====  ====================================  ==============================================
100    Undefined GPIB command.               unknown header
102    Incorrect numeric data syntax.        a parameter that is not a number
104    Incorrect number of parameters.       too few or too many parameters
120    Parameter out of range.               value, range index, mode or time out of range
150    Channel not installed or not an SMU.  channel that is not an SMU slot
200    Channel output switch must be ON.     DV/DI/TI/TV/XE on a channel that is off
300    Measurement mode or channels not set. XE without MM, MM without channels
305    Sweep source not set.                 XE in MM 2 without WV/WI
310    Pulse source not set.                 XE in MM 3 without PV on the channel
620    Not supported by the simulator.       FMT other than 1, MM other than 1/2/3, and
                                             known FLEX commands not modelled (UNSUPPORTED)
=====  ====================================  ==============================================

On an error the rest of a chained line is skipped and nothing of the failing command is applied.

Physics approximations (all in this module):

* DC levels act on the device only while the instrument measures: a spot measurement applies the
  present levels for the integration time, a sweep step for ``hold`` (first step) + ``delay`` +
  the integration time, a pulse for ``hold`` at its base then ``width`` at its peak. Idle time
  between commands is not applied as electrical stress.
* Integration time of a measurement (the longest of the measured channels' ADCs, ``AAD``/``AIT``):
  high-speed ADC auto/manual N x 1 ms, PLC N x 20 ms, time mode N s; high-resolution ADC
  auto/manual N x 3.33 ms (default N=6, one 50 Hz power-line cycle), PLC N x 20 ms.
* A channel whose output switch is off leaves its terminal floating: with BL or SL floating no
  current flows (noise only); a floating WL is taken as 0 V.
* A current source (``DI``) on BL or SL is modelled as a voltage source at its voltage compliance
  with a current compliance of |I|: if the cell then draws |I| (the usual case) the channel reports
  I and the voltage ``v_other + v_cell`` (the access transistor's drop is neglected); if the cell
  cannot draw |I| the channel is in (voltage) compliance at ``Vcomp`` with the smaller current.
  On WL or SUB a non-zero current source is always in voltage compliance. In ``lab.dc_bias`` a
  current-forcing channel shows the voltage found at its last measurement.
* SMU1 (BL) measures ``resp.i_bl``, SMU2 (SL) ``-resp.i_bl``; the WL SMU measures a gate leakage
  of 0.1 pA/V plus noise; open terminals and the substrate measure noise of 0.1 pA (1 sigma).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from instruments.sim.line_server import LineServer

log = logging.getLogger(__name__)

ERRORS: dict[int, str] = {
    0: "No Error.",
    100: "Undefined GPIB command.",
    102: "Incorrect numeric data syntax.",
    104: "Incorrect number of parameters.",
    120: "Parameter out of range.",
    150: "Channel not installed or not an SMU.",
    200: "Channel output switch must be ON.",
    300: "Measurement mode or channels not set.",
    305: "Sweep source not set.",
    310: "Pulse source not set.",
    620: "Not supported by the simulator.",
}

IDN = "Keysight Technologies,B1500A,SIM0000001,A.06.01.2019.0423"
DEFAULT_CHANNEL_MAP: dict[int, str] = {1: "BL", 2: "SL", 3: "WL", 4: "SUB"}
SMU_MODEL = "B1517A"
WGFMU_MODEL = "B1530A"
N_SLOTS = 10

MAX_VOLTAGE = 100.0  #: V, HRSMU output limit
MAX_CURRENT = 0.1  #: A, HRSMU output/compliance limit
OVERFLOW = 199.999e99  #: dummy value of overflowed data
NOISE_FLOOR = 1e-13  #: A, 1 sigma current noise of an open terminal
GATE_LEAKAGE = 1e-12  #: A/V, leakage of the WL terminal

#: HRSMU output range indices (V and I); 0 = auto
#: real FLEX headers this simulator knows but does not model (error 620 instead of 100)
UNSUPPORTED = frozenset({
    "ML", "MT", "MSC", "MV", "MI", "MSP", "WSV", "WSI", "PI", "PWV", "PWI", "TIV", "TTIV",
    "ERMOD", "ERSSP", "IMP", "FC", "ACV", "DCV", "TC", "TTC", "SIM", "SPV", "SPT", "SRP", "SPP",
    "WDCV", "WTDCV", "LMN", "SSP",
})

V_RANGES = {0, 5, 11, 20, 50, 12, 200, 13, 400, 14, 1000}
I_RANGES = {0, *range(8, 20)}

_HS_SAMPLE = 1e-3  #: s per high-speed ADC "sample" (auto/manual modes)
_HR_SAMPLE = 1 / 300  #: s per high-resolution ADC "sample" (auto/manual modes)
_PLC = 0.02  #: s, one 50 Hz power-line cycle


class FlexError(Exception):
    """A FLEX error: the command is rejected and ``code`` queued for ``ERRX?``."""

    def __init__(self, code: int) -> None:
        super().__init__(ERRORS.get(code, "Unknown error."))
        self.code = code


@dataclass
class Source:
    """What a channel forces: ``kind`` "V" (volts, compliance in A) or "I" (A, compliance in V)."""

    kind: str = "V"
    level: float = 0.0
    compliance: float = 100e-6
    out_range: int = 0
    polarity: int = 0
    comp_range: int = 0


@dataclass
class SMUState:
    """State of one simulated SMU (slot ``slot``, wired to ``terminal``)."""

    slot: int
    terminal: str
    on: bool = False
    source: Source = field(default_factory=Source)
    saved: Source | None = None  #: settings stored by DZ, restored by RZ
    cmm: int = 0  #: measurement operation mode (CMM)
    adc: int = 0  #: 0 high-speed, 1 high-resolution (AAD)
    i_range: int = 0
    v_range: int = 0
    filter_on: bool = False
    series_r: bool = False
    pulse: tuple[int, float, float, float] | None = None  #: PV: range, base, peak, compliance
    applied_v: float = 0.0  #: terminal voltage last applied (V), published in lab.dc_bias


@dataclass
class Measured:
    """What one channel saw in one bias step (V, A, and whether it was in compliance)."""

    v: float
    i: float
    compliance: bool
    kind: str = "V"  #: what the channel forced during the step ("V" or "I")


@dataclass
class SweepSetup:
    """Staircase sweep source (WV/WI)."""

    slot: int
    kind: str
    mode: int
    out_range: int
    start: float
    stop: float
    steps: int
    compliance: float | None

    def values(self) -> np.ndarray:
        """Output values of every step (double sweeps go start->stop->start)."""
        if self.mode in (1, 3):
            vals = np.linspace(self.start, self.stop, self.steps)
        else:
            vals = np.sign(self.start) * np.geomspace(abs(self.start), abs(self.stop), self.steps)
        if self.mode in (3, 4):
            vals = np.concatenate([vals, vals[::-1]])
        return vals


def format_value(status: str, channel: str, kind: str, value: float) -> str:
    """One FMT 1 datum: status, channel letter, data type and a 12-character value.

    The value is written in engineering notation ``sddd.dddEsdd`` (e.g. ``+001.235E-06``), so
    that the datum is always 15 characters (16 with its separator).
    """
    if not math.isfinite(value) or abs(value) >= 1e99:
        return f"{status}{channel}{kind}+199.999E+99"
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


def _channel_letter(slot: int) -> str:
    return chr(ord("A") + slot - 1)


class B1500Simulator:
    """FLEX command interpreter and SMU physics of a simulated B1500A.

    Args:
        lab: the simulated lab (``lock``, ``dc_bias``, ``bias_selected``; optionally ``now``,
            ``advance`` and ``config.seed``).
        channel_map: SMU slot -> terminal (``BL``, ``SL``, ``WL``, ``SUB``); each key is a B1517A.
        seed: seed of the measurement noise (default: the lab's seed, else 0).
        wgfmu_slots: slots holding a B1530A WGFMU (listed by ``UNT?``); default: the first
            free slot from 5 on.
    """

    def __init__(
        self,
        lab: Any,
        channel_map: dict[int, str] | None = None,
        seed: int | None = None,
        wgfmu_slots: tuple[int, ...] | None = None,
    ) -> None:
        self.lab = lab
        self.channel_map = dict(channel_map or DEFAULT_CHANNEL_MAP)
        self.wgfmu_slots = tuple(wgfmu_slots) if wgfmu_slots is not None else None
        for slot in self.channel_map:
            if not 1 <= slot <= N_SLOTS:
                raise ValueError(f"SMU slot {slot} is outside 1..{N_SLOTS}")
        if seed is None:
            seed = int(getattr(getattr(lab, "config", None), "seed", 0) or 0)
        self._rng = np.random.default_rng(seed)
        self._t_reset = self._now()
        self.errors: deque[int] = deque(maxlen=16)
        self._commands: dict[str, Callable[[list[str]], str | None]] = {
            "*IDN?": lambda a: IDN,
            "*RST": self._cmd_rst,
            "*OPC?": lambda a: "1",
            "*CLS": self._cmd_cls,
            "*LRN?": self._cmd_lrn,
            "UNT?": self._cmd_unt,
            "ERRX?": self._cmd_errx,
            "ERR?": self._cmd_err,
            "CN": self._cmd_cn,
            "CL": self._cmd_cl,
            "DZ": self._cmd_dz,
            "RZ": self._cmd_rz,
            "DV": lambda a: self._cmd_force("V", a),
            "DI": lambda a: self._cmd_force("I", a),
            "TI": lambda a: self._cmd_spot_hs("I", a, timed=False),
            "TV": lambda a: self._cmd_spot_hs("V", a, timed=False),
            "TTI": lambda a: self._cmd_spot_hs("I", a, timed=True),
            "TTV": lambda a: self._cmd_spot_hs("V", a, timed=True),
            "MM": self._cmd_mm,
            "CMM": self._cmd_cmm,
            "WV": lambda a: self._cmd_sweep("V", a),
            "WI": lambda a: self._cmd_sweep("I", a),
            "WT": self._cmd_wt,
            "WM": self._cmd_wm,
            "PT": self._cmd_pt,
            "PV": self._cmd_pv,
            "XE": self._cmd_xe,
            "FMT": self._cmd_fmt,
            "AAD": self._cmd_aad,
            "AIT": self._cmd_ait,
            "AV": self._cmd_av,
            "AZ": lambda a: self._set_flag("az", a),
            "CM": lambda a: self._set_flag("cm", a),
            "PAD": lambda a: self._set_flag("pad", a),
            "FL": self._cmd_fl,
            "SSR": self._cmd_ssr,
            "RI": lambda a: self._cmd_meas_range("I", a),
            "RV": lambda a: self._cmd_meas_range("V", a),
            "RM": self._cmd_rm,
            "TSC": lambda a: self._set_flag("tsc", a),
            "TSR": self._cmd_tsr,
            "TSQ": self._cmd_tsq,
            "BC": self._cmd_nop,
            "AB": self._cmd_nop,
            "NUB?": lambda a: "0",
            "PA": self._cmd_pa,
            "WAT": self._cmd_wat,
        }
        self._reset_state()

    # -- state --------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.smus: dict[int, SMUState] = {
            slot: SMUState(slot, term) for slot, term in sorted(self.channel_map.items())
        }
        self.fmt = (1, 0)
        self.mm: tuple[int, list[int]] | None = None
        self.sweep: SweepSetup | None = None
        self.wt = (0.0, 0.0)
        self.wm = (1, 1)
        self.pt = (0.0, 1e-3, 10e-3)
        self.ait: dict[int, tuple[int, float]] = {0: (0, 1.0), 1: (0, 6.0)}
        self.av = (1, 0)
        self.flags = {"az": 1, "cm": 1, "pad": 0, "tsc": 0}
        self._publish()

    def _now(self) -> float:
        now = getattr(self.lab, "now", None)
        return float(now()) if callable(now) else time.monotonic()

    def _advance(self, seconds: float) -> None:
        adv = getattr(self.lab, "advance", None)
        if callable(adv) and seconds > 0:
            adv(seconds)

    def _publish(self) -> None:
        """Write the DC level of every terminal to ``lab.dc_bias`` (0 V when floating)."""
        levels: dict[str, float] = {}
        for smu in self.smus.values():
            if smu.on:
                if smu.source.kind == "V":
                    smu.applied_v = smu.source.level
                levels[smu.terminal] = smu.applied_v
            else:
                smu.applied_v = 0.0
                levels.setdefault(smu.terminal, 0.0)
        bias = getattr(self.lab, "dc_bias", None)
        if isinstance(bias, dict):
            bias.update(levels)

    # -- line handling ------------------------------------------------------------------------
    def handle(self, line: str) -> str | None:
        """Execute one line of (possibly chained) FLEX commands; return the reply or None."""
        replies: list[str] = []
        with self.lab.lock:
            for part in line.split(";"):
                part = part.strip()
                if not part:
                    continue
                try:
                    reply = self._execute(part)
                except FlexError as err:
                    self.errors.append(err.code)
                    log.debug("B1500 sim: %r -> error %d", part, err.code)
                    break
                if reply is not None:
                    replies.append(reply)
            self._publish()
        return ";".join(replies) if replies else None

    def _execute(self, command: str) -> str | None:
        match = re.match(r"(\*?[A-Za-z]+\??)\s*(.*)$", command)
        if match is None:
            raise FlexError(100)
        header, rest = match.group(1).upper(), match.group(2).strip()
        func = self._commands.get(header)
        if func is None:
            raise FlexError(620 if header.rstrip("?") in UNSUPPORTED else 100)
        args = [a.strip() for a in rest.split(",")] if rest else []
        return func(args)

    # -- parameter helpers --------------------------------------------------------------------
    @staticmethod
    def _num(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise FlexError(102) from None
        if not math.isfinite(value):
            raise FlexError(102)
        return value

    def _int(self, text: str) -> int:
        value = self._num(text)
        if value != int(value):
            raise FlexError(102)
        return int(value)

    @staticmethod
    def _nargs(args: list[str], lo: int, hi: int) -> None:
        if not lo <= len(args) <= hi:
            raise FlexError(104)

    def _smu(self, text: str) -> SMUState:
        slot = self._int(text)
        if slot not in self.smus:
            raise FlexError(150)
        return self.smus[slot]

    def _smus(self, args: list[str]) -> list[SMUState]:
        return [self._smu(a) for a in args] if args else list(self.smus.values())

    @staticmethod
    def _in_range(value: float, lo: float, hi: float) -> float:
        if not lo <= value <= hi:
            raise FlexError(120)
        return value

    def _check_output(self, kind: str, level: float, compliance: float | None) -> None:
        out_max = MAX_VOLTAGE if kind == "V" else MAX_CURRENT
        comp_max = MAX_CURRENT if kind == "V" else MAX_VOLTAGE
        self._in_range(abs(level), 0.0, out_max)
        if compliance is not None:
            self._in_range(abs(compliance), 0.0, comp_max)

    # -- mainframe commands -------------------------------------------------------------------
    def _cmd_nop(self, args: list[str]) -> None:
        return None

    def _cmd_rst(self, args: list[str]) -> None:
        self._nargs(args, 0, 0)
        self._reset_state()
        self._t_reset = self._now()

    def _cmd_cls(self, args: list[str]) -> None:
        self.errors.clear()

    def _cmd_errx(self, args: list[str]) -> str:
        if not self.errors:
            return f'0,"{ERRORS[0]}"'
        code = self.errors.popleft()
        return f'{code},"{ERRORS[code]}"'

    def _cmd_err(self, args: list[str]) -> str:
        codes = [self.errors.popleft() if self.errors else 0 for _ in range(4)]
        return ",".join(str(c) for c in codes)

    def _cmd_unt(self, args: list[str]) -> str:
        slots = ["0,0"] * N_SLOTS
        for slot in self.smus:
            slots[slot - 1] = f"{SMU_MODEL},0"
        if self.wgfmu_slots is None:
            free = [i for i in range(4, N_SLOTS) if slots[i] == "0,0"]
            wgfmu_indices = free[:1]
        else:
            wgfmu_indices = [s - 1 for s in self.wgfmu_slots if slots[s - 1] == "0,0"]
        for i in wgfmu_indices:
            slots[i] = f"{WGFMU_MODEL},0"
        return ";".join(slots)

    def _cmd_pa(self, args: list[str]) -> None:
        self._nargs(args, 0, 1)
        if args:
            self._advance(self._in_range(self._num(args[0]), 0.0, 655.35))

    def _cmd_wat(self, args: list[str]) -> None:
        self._nargs(args, 2, 3)
        for a in args:
            self._num(a)

    def _set_flag(self, name: str, args: list[str]) -> None:
        self._nargs(args, 1, 1)
        value = self._int(args[0])
        if value not in (0, 1):
            raise FlexError(120)
        self.flags[name] = value

    def _cmd_tsr(self, args: list[str]) -> None:
        self._t_reset = self._now()

    def _cmd_tsq(self, args: list[str]) -> str:
        return format_value("N", "Z", "T", self._now() - self._t_reset)

    def _cmd_fmt(self, args: list[str]) -> None:
        self._nargs(args, 1, 2)
        fmt = self._int(args[0])
        mode = self._int(args[1]) if len(args) > 1 else 0
        if fmt not in (1, 2, 3, 4, 5, 11, 12, 13, 14, 15, 21, 22, 25) or not 0 <= mode <= 10:
            raise FlexError(120)
        if fmt != 1:
            raise FlexError(620)
        self.fmt = (fmt, mode)

    # -- channel commands ---------------------------------------------------------------------
    def _cmd_cn(self, args: list[str]) -> None:
        for smu in self._smus(args):
            if not smu.on:
                smu.on = True
                smu.source = Source()

    def _cmd_cl(self, args: list[str]) -> None:
        for smu in self._smus(args):
            smu.on = False
            smu.source = Source()
            smu.saved = None

    def _cmd_dz(self, args: list[str]) -> None:
        for smu in self._smus(args):
            if smu.on:
                smu.saved = Source(**vars(smu.source))
                comp = smu.source.compliance if smu.source.kind == "V" else 100e-6
                smu.source = Source("V", 0.0, comp)

    def _cmd_rz(self, args: list[str]) -> None:
        for smu in self._smus(args):
            if smu.on and smu.saved is not None:
                smu.source, smu.saved = smu.saved, None

    def _cmd_force(self, kind: str, args: list[str]) -> None:
        self._nargs(args, 3, 6)
        smu = self._smu(args[0])
        out_range = self._int(args[1])
        level = self._num(args[2])
        comp = self._num(args[3]) if len(args) > 3 else None
        polarity = self._int(args[4]) if len(args) > 4 else 0
        comp_range = self._int(args[5]) if len(args) > 5 else 0
        if out_range not in (V_RANGES if kind == "V" else I_RANGES) or polarity not in (0, 1):
            raise FlexError(120)
        self._check_output(kind, level, comp)
        if not smu.on:
            raise FlexError(200)
        if comp is None:
            same = smu.source.kind == kind
            comp = smu.source.compliance if same else (100e-6 if kind == "V" else 2.0)
        smu.source = Source(kind, level, abs(comp), out_range, polarity, comp_range)
        smu.saved = None

    def _cmd_cmm(self, args: list[str]) -> None:
        self._nargs(args, 2, 2)
        smu = self._smu(args[0])
        mode = self._int(args[1])
        if mode not in range(5):
            raise FlexError(120)
        smu.cmm = mode

    def _cmd_aad(self, args: list[str]) -> None:
        self._nargs(args, 1, 2)
        smu = self._smu(args[0])
        adc = self._int(args[1]) if len(args) > 1 else 0
        if adc not in (0, 1, 2):
            raise FlexError(120)
        smu.adc = adc

    def _cmd_ait(self, args: list[str]) -> None:
        self._nargs(args, 2, 3)
        adc, mode = self._int(args[0]), self._int(args[1])
        if adc not in (0, 1, 2) or mode not in (0, 1, 2, 3) or (adc == 1 and mode == 3):
            raise FlexError(120)
        default = {0: 1.0, 1: 6.0}.get(adc, 1.0) if mode in (0, 1) else 1.0
        n = self._num(args[2]) if len(args) > 2 else default
        if mode == 3:
            self._in_range(n, 2e-6, 20e-3)
        else:
            self._in_range(n, 1, 1023 if adc == 0 else 127)
        self.ait[min(adc, 1)] = (mode, n)

    def _cmd_av(self, args: list[str]) -> None:
        self._nargs(args, 1, 2)
        n = self._int(args[0])
        mode = self._int(args[1]) if len(args) > 1 else 0
        if not (1 <= n <= 1023 or -100 <= n <= -1) or mode not in (0, 1):
            raise FlexError(120)
        self.av = (n, mode)

    def _cmd_fl(self, args: list[str]) -> None:
        self._nargs(args, 1, 11)
        state = self._int(args[0])
        if state not in (0, 1):
            raise FlexError(120)
        for smu in self._smus(args[1:]):
            smu.filter_on = bool(state)

    def _cmd_ssr(self, args: list[str]) -> None:
        self._nargs(args, 2, 2)
        smu = self._smu(args[0])
        state = self._int(args[1])
        if state not in (0, 1):
            raise FlexError(120)
        smu.series_r = bool(state)

    def _cmd_meas_range(self, kind: str, args: list[str]) -> None:
        self._nargs(args, 2, 2)
        smu = self._smu(args[0])
        rng = self._int(args[1])
        if abs(rng) not in (I_RANGES if kind == "I" else V_RANGES):
            raise FlexError(120)
        if kind == "I":
            smu.i_range = rng
        else:
            smu.v_range = rng

    def _cmd_rm(self, args: list[str]) -> None:
        self._nargs(args, 2, 3)
        self._smu(args[0])
        if self._int(args[1]) not in (1, 2, 3):
            raise FlexError(120)
        if len(args) > 2:
            self._in_range(self._num(args[2]), 11, 100)

    # -- measurement setup --------------------------------------------------------------------
    def _cmd_mm(self, args: list[str]) -> None:
        self._nargs(args, 1, 11)
        mode = self._int(args[0])
        slots = [self._smu(a).slot for a in args[1:]]
        if mode not in (1, 2, 3):
            raise FlexError(620)
        if not slots or (mode == 3 and len(slots) != 1):
            raise FlexError(300)
        self.mm = (mode, slots)

    def _cmd_sweep(self, kind: str, args: list[str]) -> None:
        self._nargs(args, 6, 8)
        smu = self._smu(args[0])
        mode, out_range = self._int(args[1]), self._int(args[2])
        start, stop = self._num(args[3]), self._num(args[4])
        steps = self._int(args[5])
        comp = self._num(args[6]) if len(args) > 6 else None
        if len(args) > 7:
            self._num(args[7])  # power compliance: accepted, not modelled
        if mode not in (1, 2, 3, 4) or not 1 <= steps <= 10001:
            raise FlexError(120)
        if out_range not in (V_RANGES if kind == "V" else I_RANGES):
            raise FlexError(120)
        if mode in (2, 4) and (start * stop <= 0):
            raise FlexError(120)
        self._check_output(kind, max(abs(start), abs(stop)), comp)
        self.sweep = SweepSetup(smu.slot, kind, mode, out_range, start, stop, steps, comp)

    def _cmd_wt(self, args: list[str]) -> None:
        self._nargs(args, 1, 5)
        hold = self._in_range(self._num(args[0]), 0.0, 655.35)
        delay = self._in_range(self._num(args[1]), 0.0, 65.535) if len(args) > 1 else 0.0
        for a in args[2:]:
            self._in_range(self._num(a), 0.0, 65.535)
        self.wt = (hold, delay)

    def _cmd_wm(self, args: list[str]) -> None:
        self._nargs(args, 1, 2)
        abort = self._int(args[0])
        post = self._int(args[1]) if len(args) > 1 else 1
        if abort not in (1, 2) or post not in (1, 2):
            raise FlexError(120)
        self.wm = (abort, post)

    def _cmd_pt(self, args: list[str]) -> None:
        """PT hold,width[,period[,tdelay]]: width 0.5 ms..2 s, period 0 (auto) or >= width."""
        self._nargs(args, 2, 4)
        hold = self._in_range(self._num(args[0]), 0.0, 655.35)
        width = self._in_range(self._num(args[1]), 5e-4, 2.0)
        period = self._num(args[2]) if len(args) > 2 else 0.0
        if period != 0.0:
            self._in_range(period, max(width, 5e-3), 5.0)
        if len(args) > 3:
            self._in_range(self._num(args[3]), 0.0, width)
        self.pt = (hold, width, period)

    def _cmd_pv(self, args: list[str]) -> None:
        self._nargs(args, 4, 5)
        smu = self._smu(args[0])
        out_range = self._int(args[1])
        base, peak = self._num(args[2]), self._num(args[3])
        default = smu.source.compliance if smu.source.kind == "V" else 100e-6
        comp = self._num(args[4]) if len(args) > 4 else default
        if out_range not in V_RANGES:
            raise FlexError(120)
        self._check_output("V", max(abs(base), abs(peak)), comp)
        smu.pulse = (out_range, base, peak, abs(comp))

    # -- *LRN? --------------------------------------------------------------------------------
    def _lrn_channel(self, smu: SMUState) -> str:
        if not smu.on:
            return f"CL{smu.slot}"
        s = smu.source
        cmd = "DV" if s.kind == "V" else "DI"
        return (
            f"{cmd}{smu.slot},{s.out_range},{s.level:+.4E},{s.compliance:+.4E},"
            f"{s.polarity},{s.comp_range}"
        )

    def _cmd_lrn(self, args: list[str]) -> str:
        self._nargs(args, 1, 1)
        kind = self._int(args[0])
        smus = list(self.smus.values())
        if 1 <= kind <= N_SLOTS:
            return self._lrn_channel(self._smu(args[0]))
        if kind == 0:
            on = [str(s.slot) for s in smus if s.on]
            return "CN" + ",".join(on) if on else "CL"
        if kind == 30:
            groups = []
            for state in (0, 1):
                chans = [str(s.slot) for s in smus if s.filter_on == bool(state)]
                if chans:
                    groups.append(f"FL{state}," + ",".join(chans))
            return ";".join(groups)
        if kind == 31:
            parts = [f"TM1;AV{self.av[0]},{self.av[1]};CM{self.flags['cm']}"]
            parts.append(f"FMT{self.fmt[0]},{self.fmt[1]}")
            if self.mm is not None:
                parts.append(f"MM{self.mm[0]}," + ",".join(str(c) for c in self.mm[1]))
            return ";".join(parts)
        if kind == 32:
            return ";".join(f"RI{s.slot},{s.i_range};RV{s.slot},{s.v_range}" for s in smus)
        if kind == 33:
            parts = [f"WM{self.wm[0]},{self.wm[1]}", f"WT{self.wt[0]:+.4E},{self.wt[1]:+.4E}"]
            sw = self.sweep
            if sw is not None:
                parts.append(
                    f"W{sw.kind}{sw.slot},{sw.mode},{sw.out_range},{sw.start:+.4E},"
                    f"{sw.stop:+.4E},{sw.steps}"
                    + (f",{sw.compliance:+.4E}" if sw.compliance is not None else "")
                )
            return ";".join(parts)
        if kind == 46:
            return ";".join(f"CMM{s.slot},{s.cmm}" for s in smus)
        if kind == 53:
            return ";".join(f"SSR{s.slot},{int(s.series_r)}" for s in smus)
        if kind == 55:
            return ";".join(f"AAD{s.slot},{s.adc}" for s in smus)
        if kind == 56:
            return ";".join(
                f"AIT{adc},{mode},{n:g}" for adc, (mode, n) in sorted(self.ait.items())
            ) + f";AZ{self.flags['az']}"
        if kind == 60:
            return f"TSC{self.flags['tsc']}"
        raise FlexError(120)

    # -- physics ------------------------------------------------------------------------------
    def _integration_time(self, slots: list[int]) -> float:
        times = []
        for slot in slots:
            adc = 1 if self.smus[slot].adc == 1 else 0
            mode, n = self.ait[adc]
            if mode == 2:
                times.append(n * _PLC)
            elif mode == 3:
                times.append(n)
            else:
                times.append(n * (_HR_SAMPLE if adc == 1 else _HS_SAMPLE))
        return max(times, default=_HS_SAMPLE)

    def _noise(self) -> float:
        return NOISE_FLOOR * float(self._rng.standard_normal())

    def _apply(
        self, duration: float, override: dict[int, Source] | None = None
    ) -> dict[int, Measured]:
        """Apply the present sources (with ``override``) for ``duration`` s; return per channel."""
        sources = {s.slot: s.source for s in self.smus.values() if s.on}
        sources.update(override or {})
        by_term = {self.smus[slot].terminal: (slot, src) for slot, src in sources.items()}

        def drive(term: str) -> tuple[float, float | None]:
            if term not in by_term:
                return 0.0, None
            src = by_term[term][1]
            if src.kind == "V":
                return src.level, src.compliance
            if src.level == 0.0:
                return 0.0, None
            return math.copysign(src.compliance, src.level), abs(src.level)

        v_bl, ic_bl = drive("BL")
        v_sl, ic_sl = drive("SL")
        v_wl, _ = drive("WL")
        resp = None
        if "BL" in by_term and "SL" in by_term:
            resp = self.lab.bias_selected(
                v_bl, v_sl, v_wl, duration, i_comp_bl=ic_bl, i_comp_sl=ic_sl
            )
        else:
            self._advance(duration)
        terminal_v = {"BL": v_bl, "SL": v_sl, "WL": v_wl}

        out: dict[int, Measured] = {}
        for slot, src in sources.items():
            term = self.smus[slot].terminal
            drive_v = drive(term)[0]
            if term in ("BL", "SL"):
                sign = 1.0 if term == "BL" else -1.0
                i_cell = sign * resp.i_bl if resp is not None else self._noise()
                limited = resp is not None and resp.compliance == term
                if src.kind == "V":
                    out[slot] = Measured(src.level, i_cell, limited, "V")
                elif src.level == 0.0:
                    out[slot] = Measured(0.0, i_cell, False, "I")
                elif limited:
                    other = terminal_v["SL" if term == "BL" else "BL"]
                    out[slot] = Measured(other + sign * resp.v_cell, src.level, False, "I")
                else:
                    out[slot] = Measured(drive_v, i_cell, True, "I")
            else:
                leak = GATE_LEAKAGE * drive_v if term == "WL" else 0.0
                i_term = leak + self._noise()
                if src.kind == "V":
                    out[slot] = Measured(src.level, i_term, False, "V")
                else:
                    out[slot] = Measured(drive_v, i_term, src.level != 0.0, "I")
            if src is self.smus[slot].source:
                self.smus[slot].applied_v = out[slot].v
        return out

    def _data(
        self,
        slots: list[int],
        meas: dict[int, Measured],
        kind: str | None = None,
    ) -> list[str]:
        """FMT 1 data of the measured ``slots`` (quantity per CMM, or ``kind`` "I"/"V")."""
        any_comp = any(m.compliance for m in meas.values())
        values = []
        for slot in slots:
            smu, m = self.smus[slot], meas[slot]
            status = "C" if m.compliance else ("T" if any_comp else "N")
            src_kind = m.kind
            if kind is not None:
                kinds = [kind]
            elif smu.cmm == 0:
                kinds = ["I" if src_kind == "V" else "V"]
            elif smu.cmm == 1:
                kinds = ["I"]
            elif smu.cmm == 2:
                kinds = ["V"]
            elif smu.cmm == 3:
                kinds = [src_kind]
            else:
                kinds = ["I" if src_kind == "V" else "V", src_kind]
            for k in kinds:
                value = m.i if k == "I" else m.v
                values.append(format_value(status, _channel_letter(slot), k, value))
        return values

    def _timestamp(self, slot: int) -> list[str]:
        if not self.flags["tsc"]:
            return []
        return [format_value("N", _channel_letter(slot), "T", self._now() - self._t_reset)]

    def _require_on(self, slots: list[int]) -> None:
        if any(not self.smus[s].on for s in slots):
            raise FlexError(200)

    def _cmd_spot_hs(self, kind: str, args: list[str], timed: bool) -> str:
        self._nargs(args, 1, 2)
        smu = self._smu(args[0])
        if len(args) > 1 and abs(self._int(args[1])) not in (I_RANGES if kind == "I" else V_RANGES):
            raise FlexError(120)
        self._require_on([smu.slot])
        meas = self._apply(self._integration_time([smu.slot]))
        values = self._data([smu.slot], meas, kind=kind)
        if timed:
            values = [format_value("N", _channel_letter(smu.slot), "T",
                                   self._now() - self._t_reset), *values]
        return ",".join(values)

    def _cmd_xe(self, args: list[str]) -> str:
        if self.mm is None:
            raise FlexError(300)
        mode, slots = self.mm
        if mode == 1:
            return self._run_spot(slots)
        if mode == 2:
            return self._run_sweep(slots)
        return self._run_pulsed(slots[0])

    def _run_spot(self, slots: list[int]) -> str:
        self._require_on(slots)
        meas = self._apply(self._integration_time(slots))
        return ",".join(self._timestamp(slots[0]) + self._data(slots, meas))

    def _run_sweep(self, slots: list[int]) -> str:
        sw = self.sweep
        if sw is None:
            raise FlexError(305)
        self._require_on([*slots, sw.slot])
        smu = self.smus[sw.slot]
        comp = sw.compliance
        if comp is None:
            same = smu.source.kind == sw.kind
            comp = smu.source.compliance if same else (100e-6 if sw.kind == "V" else 2.0)
        hold, delay = self.wt
        t_int = self._integration_time(slots)
        values = sw.values()
        data: list[str] = []
        last = values[0]
        for k, value in enumerate(values):
            step = Source(sw.kind, float(value), abs(comp), sw.out_range)
            meas = self._apply((hold if k == 0 else 0.0) + delay + t_int, {sw.slot: step})
            last = value
            data += self._timestamp(slots[0]) + self._data(slots, meas)
            stop = self.wm[0] == 2 and any(m.compliance for m in meas.values())
            if self.fmt[1] == 1:
                status = "E" if (k == len(values) - 1 or stop) else "W"
                data.append(format_value(status, _channel_letter(sw.slot), sw.kind, float(value)))
            if stop:
                break
        post = values[0] if self.wm[1] == 1 else last
        smu.source = Source(sw.kind, float(post), abs(comp), sw.out_range)
        return ",".join(data)

    def _run_pulsed(self, slot: int) -> str:
        smu = self.smus[slot]
        if smu.pulse is None:
            raise FlexError(310)
        self._require_on([slot])
        out_range, base, peak, comp = smu.pulse
        hold, width, period = self.pt
        if hold > 0:
            self._apply(hold, {slot: Source("V", base, comp, out_range)})
        meas = self._apply(width, {slot: Source("V", peak, comp, out_range)})
        smu.source = Source("V", base, comp, out_range)
        self._advance(max(period - width, 0.0))
        return ",".join(self._timestamp(slot) + self._data([slot], meas))


def make_server(
    lab: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    channel_map: dict[int, str] | None = None,
    seed: int | None = None,
    wgfmu_slots: tuple[int, ...] | None = None,
) -> LineServer:
    """Build (not start) the simulated B1500A server for ``lab``.

    Args:
        lab: the simulated lab (see :class:`B1500Simulator`).
        host: loopback address to bind.
        port: TCP port, 0 for an ephemeral one.
        channel_map: SMU slot -> terminal; default ``{1: "BL", 2: "SL", 3: "WL", 4: "SUB"}``.
        seed: seed of the measurement noise.
        wgfmu_slots: slots holding a B1530A (default: the first free slot from 5 on).

    Returns:
        The :class:`LineServer`; its ``simulator`` attribute is the shared
        :class:`B1500Simulator` (instrument state is shared by all connections).
    """
    sim = B1500Simulator(lab, channel_map=channel_map, seed=seed, wgfmu_slots=wgfmu_slots)
    server = LineServer("b1500", lambda: sim.handle, host=host, port=port, terminator="\r\n")
    server.simulator = sim  # type: ignore[attr-defined]
    return server
