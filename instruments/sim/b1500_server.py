"""Simulated Keysight B1500A mainframe speaking FLEX on a TCP socket.

This module is over ~500 lines on purpose: it is one command interpreter whose commands share the
instrument state; the measurement physics (:mod:`instruments.sim.b1500_measure`) and the
``*LRN?`` replies (:mod:`instruments.sim.b1500_lrn`) live beside it.

The server keeps the state of every SMU (output switch, forced voltage or current, compliance,
ranges, measurement operation mode, ADC) and computes what the SMUs measure by asking the lab for
the response of the selected cell: the SMUs wired to BL, SL and WL (see ``channel_map``) bias the
cell through :meth:`SimLab.bias_selected`; the SMU on the substrate only measures noise.

Tables (error codes and messages, range full scales, FMT 1 encoding, status and channel letters,
module models, which FLEX headers exist and how the twin answers each) come from
:mod:`instruments.keysight.flex`, shared with the driver; the *parser* here (chained commands,
headers, arguments, numeric syntax, argument counts and bounds) is this module's own.

Wire format: lines end with ``\\n`` or ``\\r\\n``; commands may be chained with ``;``; every reply
ends with ``\\r\\n``. Replies of several queries in one line are joined with ``;``. Measurement data
use ``FMT 1`` (e.g. ``NAI+000.123E-06``). ``ERRX?`` answers ``+0,"No Error."`` (signed code, as the
firmware does), ``ERRX? 1`` the code only, ``ERRX? 2`` the message only; the queue is oldest
first. On an error the rest of a chained line is skipped and nothing of the failing command is
applied. A FLEX header of a module that is not installed (CMU, SPGU, ASU, expanders) is refused
at once with error 151; a real header the twin does not model gets 620 (a query of that kind is
also answered with an empty line, so a client never waits for it); anything else 100.

Serving everyone: one line runs under the instrument's own lock (B1500 clients are served one
line at a time, like the instrument's single command queue) while the lab-wide lock is taken per
command and released between chunks of :data:`CHUNK_STEPS` sweep steps or samples, so the prober,
chip controller and WGFMU keep answering while a long sweep runs.

Physics approximations (here and in :mod:`instruments.sim.b1500_measure`):

* DC levels act on the device from the moment they are forced until they change, on the lab
  clock: before every command, the levels held since the previous one are applied to the
  selected cell for the elapsed lab time (so ``DV``, ``DV``, ``DV`` with no measurement stresses
  the cell, and can SET or RESET it). A spot measurement applies the levels for the integration
  time, a sweep step for ``hold`` (first step) + ``delay`` + the integration time, a pulse for
  ``hold`` at its base then ``width`` at its peak.
* Integration time of a measurement (the longest of the measured channels' ADCs, ``AAD``/``AIT``):
  high-speed ADC auto/manual N x 1 ms, PLC N x 20 ms, time mode N s; high-resolution ADC
  auto/manual N x 3.33 ms (default N=6, one 50 Hz power-line cycle), PLC N x 20 ms. ``AV`` is
  ``AIT 0`` in other words (``AV n,0`` = ``AIT 0,0,n``, ``AV n,1`` = ``AIT 0,1,n``, ``AV -n`` =
  ``AIT 0,2,n``), and each shows the other in ``*LRN?``.
* A channel whose output switch is off leaves its terminal floating: with BL or SL floating no
  current flows (noise only); a floating WL is taken as 0 V.
* A current source (``DI``) on BL or SL is modelled as a voltage source at its voltage compliance
  with a current compliance of |I|; on WL or SUB a non-zero current source is always in voltage
  compliance. In ``lab.dc_bias`` a current-forcing channel shows the voltage found at its last
  measurement.
* SMU1 (BL) measures ``resp.i_bl``, SMU2 (SL) ``-resp.i_bl``; the WL SMU measures a gate leakage
  of 0.1 pA/V plus noise; open terminals and the substrate measure noise of 0.1 pA (1 sigma).
* Ranges: see :mod:`instruments.sim.b1500_measure` (fixed ranges overflow, limited auto-ranging
  never goes below its limit, resolution and noise follow the range).
* ``*CAL?``/``CA`` take 30 s of lab time and leave the modules as ``CL`` does; they pass.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from instruments.keysight import flex
from instruments.keysight.flex import ERRORS
from instruments.keysight.flex import format_fmt1_value as format_value
from instruments.sim import b1500_lrn
from instruments.sim.b1500_measure import MeasureMixin, Source
from instruments.sim.b1500_trigger import MEASUREMENT_DONE, TriggerMixin
from instruments.sim.line_server import LineServer
from instruments.wiring import SMU_WIRING

__all__ = ["ERRORS", "B1500Simulator", "FlexError", "format_value", "make_server"]

log = logging.getLogger(__name__)

IDN = "Keysight Technologies,B1500A,SIM0000001,A.06.01.2019.0423"
DEFAULT_CHANNEL_MAP = SMU_WIRING  # the bench default (instruments.wiring)
SMU_MODEL = "B1517A"
WGFMU_MODEL = "B1530A"
N_SLOTS = 10
CAL_TIME_S = 30.0  #: lab time of a self-calibration (QCoDeS quotes ~30 s from the manual)

MAX_VOLTAGE = flex.HRSMU_MAX_V
MAX_CURRENT = flex.HRSMU_MAX_I
V_RANGES = {0, *flex.HRSMU_V_CODES}
I_RANGES = {0, *flex.HRSMU_I_CODES}
CHUNK_STEPS = 64  #: sweep steps or samples between two releases of the lab lock


class FlexError(Exception):
    """A FLEX error: the command is rejected and ``code`` queued for ``ERRX?``."""

    def __init__(self, code: int) -> None:
        super().__init__(ERRORS.get(code, "Unknown error."))
        self.code = code


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
    rm: tuple[int, int] = (1, 50)  #: RM: auto-ranging mode and rate
    pulse: tuple[int, float, float, float] | None = None  #: PV: range, base, peak, compliance
    applied_v: float = 0.0  #: terminal voltage last applied (V), published in lab.dc_bias


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
    power_compliance: float | None = None

    def values(self) -> np.ndarray:
        """Output values of every step (double sweeps go start->stop->start)."""
        if self.mode in (1, 3):
            vals = np.linspace(self.start, self.stop, self.steps)
        else:
            vals = np.sign(self.start) * np.geomspace(abs(self.start), abs(self.stop), self.steps)
        if self.mode in (3, 4):
            vals = np.concatenate([vals, vals[::-1]])
        return vals


@dataclass
class SamplingSetup:
    """Sampling measurement set-up (MT, ML, MSC and the MV/MI sources)."""

    h_bias: float = 0.0
    interval: float = 2e-3
    number: int = 1000
    h_base: float = 0.0
    mode: int = 1
    abort: int = 1
    post: int = 1
    #: channel -> (kind, range, base, bias, compliance)
    sources: dict[int, tuple[str, int, float, float, float]] = field(default_factory=dict)


class B1500Simulator(TriggerMixin, MeasureMixin):
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
        self._t_settled = self._now()
        self._busy = threading.RLock()  #: one line at a time, like the instrument's queue
        self._range_override: dict[tuple[int, str], int] = {}
        self.chunk_steps = CHUNK_STEPS
        #: called (without the lab lock) each time a long command lets the other instruments in
        self.on_yield: Callable[[], None] | None = None
        #: set while a line runs (tests and benchmarks wait on it to order events)
        self.busy = threading.Event()
        self.errors: deque[int] = deque(maxlen=16)
        self._applying = False  #: inside a bias call (the lab's settle hook must not recurse)
        hooks = getattr(lab, "dc_hooks", None)
        if isinstance(hooks, list):
            hooks.append(self._settle_hook)
        self._commands: dict[str, Callable[[list[str]], str | None]] = {
            "*IDN?": lambda a: IDN,
            "*STB?": self._cmd_stb,
            "*SRE": self._cmd_sre,
            "*SRE?": lambda a: str(self.sre),
            "*TST?": lambda a: "0",
            "*CAL?": self._cmd_cal,
            "CA": self._cmd_cal,
            "ERS?": lambda a: "0",
            "EMG?": self._cmd_emg,
            "ERMOD": self._cmd_ermod,
            "ERMOD?": lambda a: str(self.ermod),
            "ERSSP": self._cmd_erssp,
            "ERSSP?": self._cmd_erssp_q,
            "LOP?": self._cmd_lop,
            "WZ?": self._cmd_wz,
            "TM": self._cmd_tm,
            "TIV": lambda a: self._cmd_spot_iv(a, timed=False),
            "TTIV": lambda a: self._cmd_spot_iv(a, timed=True),
            "MT": self._cmd_mt,
            "ML": self._cmd_ml,
            "MSC": self._cmd_msc,
            "MV": lambda a: self._cmd_sampling_source("V", a),
            "MI": lambda a: self._cmd_sampling_source("I", a),
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
            **self.trigger_commands(),  # TGP, TGPC, TGMO ... (instruments.sim.b1500_trigger)
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
        self.wt: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
        self.wm = (1, 1)
        self.pt = (0.0, 1e-3, 10e-3)
        self.ait: dict[int, tuple[int, float]] = {0: (0, 1.0), 1: (0, 6.0)}
        self.flags = {"az": 1, "cm": 1, "pad": 0, "tsc": 0}
        self.tm = 1
        self.wat: tuple[float, float] = (1.0, 0.0)
        self.sampling = SamplingSetup()
        self.sre = 0
        self.ermod = 0
        self.erssp: dict[int, int] = {}
        self._reset_triggers()
        self._publish()

    @property
    def av(self) -> tuple[int, int]:
        """``AV number,mode`` as the instrument reports it: ``AIT 0`` in other words."""
        mode, n = self.ait[0]
        if mode == 2:
            return -int(n), 0
        if mode == 3:
            return 1, 0
        return int(n), mode

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
        with self._busy:
            self.busy.set()
            try:
                for part in line.split(";"):
                    part = part.strip()
                    if not part:
                        continue
                    with self.lab.lock:  # per command: other instruments run in between
                        try:
                            self._settle()
                            reply = self._execute(part)
                        except FlexError as err:
                            self.errors.append(err.code)
                            log.debug("B1500 sim: %r -> error %d", part, err.code)
                            self._publish()
                            if err.code == 620 and part.split(" ")[0].endswith("?"):
                                replies.append("")  # a real query: the client never waits
                            break
                        self._publish()
                    if reply is not None:
                        replies.append(reply)
            finally:
                self.busy.clear()
        return ";".join(replies) if replies else None

    def _yield_lab(self) -> None:
        """Let the other instruments use the lab for a moment (inside a long command)."""
        self._publish()
        lock = self.lab.lock
        lock.__exit__(None, None, None)
        try:
            time.sleep(0)  # hand the GIL over, so a thread waiting on the lab lock gets it
            if self.on_yield is not None:
                self.on_yield()
        finally:
            lock.__enter__()

    @staticmethod
    def _raise(code: int) -> Any:
        raise FlexError(code)

    def _execute(self, command: str) -> str | None:
        match = re.match(r"(\*?[A-Za-z]+\??)\s*(.*)$", command)
        if match is None:
            raise FlexError(100)
        header, rest = match.group(1).upper(), match.group(2).strip()
        self._current_header = header
        func = self._commands.get(header)
        if func is None:
            known = flex.COMMANDS.get(header)
            raise FlexError(known.error if known is not None and known.error else 100)
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

    def _abort_post(self, args: list[str]) -> tuple[int, int]:
        """``abort[,post]`` of WM and MSC: automatic abort 1 off / 2 on; the output after the
        measurement 1 or 2 (WM: start / stop value, MSC: base / bias value), default 1."""
        self._nargs(args, 1, 2)
        abort = self._int(args[0])
        post = self._int(args[1]) if len(args) > 1 else 1
        if abort not in (1, 2) or post not in (1, 2):
            raise FlexError(120)
        return abort, post

    def _choice(self, text: str, allowed: Container[int]) -> int:
        """An integer argument that must be one of ``allowed`` (else error 120)."""
        value = self._int(text)
        if value not in allowed:
            raise FlexError(120)
        return value

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
        self._nargs(args, 0, 1)
        mode = self._int(args[0]) if args else 0
        if mode not in (0, 1, 2):
            raise FlexError(120)
        code = self.errors.popleft() if self.errors else 0
        return flex.errx_reply(code, mode)

    def _cmd_stb(self, args: list[str]) -> str:
        """Status byte: bit 5 (32) while the error queue holds an error; bit 6 when requested."""
        value = 32 if self.errors else 0
        if value & self.sre:
            value |= 64
        return str(value)

    def _cmd_sre(self, args: list[str]) -> None:
        self._nargs(args, 1, 1)
        self.sre = int(self._in_range(self._int(args[0]), 0, 255))

    def _cmd_emg(self, args: list[str]) -> str:
        self._nargs(args, 1, 1)
        return f'"{ERRORS.get(self._int(args[0]), "Unknown error.")}"'

    def _cmd_cal(self, args: list[str]) -> str | None:
        """``*CAL? [slot]``/``CA [slot]``: 30 s, modules as after CL; answers 0 (passed)."""
        self._nargs(args, 0, 1)
        if args:
            slot = self._int(args[0])
            installed = set(self.smus) | set(self._wgfmu_slots())
            if slot not in installed and slot not in (0, 11):
                raise FlexError(150)
        self._cmd_cl([])
        self._advance(CAL_TIME_S)
        self._t_settled = self._now()
        return "0" if self._current_header == "*CAL?" else None

    def _cmd_ermod(self, args: list[str]) -> None:
        self._nargs(args, 1, 2)
        mode = self._choice(args[0], (0, 1, 2, 4, 8, 16, 32))
        if mode != 0:
            raise FlexError(151)  # no selector or expander installed
        self.ermod = mode

    def _cmd_erssp(self, args: list[str]) -> None:
        self._nargs(args, 2, 2)
        port, status = self._int(args[0]), self._int(args[1])
        if port not in range(4) or status not in range(4):
            raise FlexError(120)
        self.erssp[port] = status

    def _cmd_erssp_q(self, args: list[str]) -> str:
        self._nargs(args, 1, 1)
        port = self._choice(args[0], range(4))
        return str(self.erssp.get(port, 0))

    def _cmd_lop(self, args: list[str]) -> str:
        """Output status per channel: 00 off, 01 forcing V, 02 forcing I (this twin's coding)."""
        return ",".join(
            "00" if not s.on else ("01" if s.source.kind == "V" else "02")
            for s in self.smus.values()
        )

    def _cmd_wz(self, args: list[str]) -> str:
        zero = all(not s.on or s.source.level == 0.0 for s in self.smus.values())
        return "1" if zero else "0"

    def _cmd_tm(self, args: list[str]) -> None:
        self._nargs(args, 1, 1)
        mode = self._choice(args[0], (1, 2, 3, 4))
        if mode != 1:
            raise FlexError(620)
        self.tm = mode

    def _cmd_err(self, args: list[str]) -> str:
        codes = [self.errors.popleft() if self.errors else 0 for _ in range(4)]
        return ",".join(str(c) for c in codes)

    def _wgfmu_slots(self) -> list[int]:
        if self.wgfmu_slots is None:
            free = [s for s in range(5, N_SLOTS + 1) if s not in self.smus]
            return free[:1]
        return [s for s in self.wgfmu_slots if s not in self.smus]

    def _cmd_unt(self, args: list[str]) -> str:
        slots = ["0,0"] * N_SLOTS
        for slot in self.smus:
            slots[slot - 1] = f"{SMU_MODEL},0"
        for slot in self._wgfmu_slots():
            slots[slot - 1] = f"{WGFMU_MODEL},0"
        return ";".join(slots)

    def _cmd_pa(self, args: list[str]) -> None:
        self._nargs(args, 0, 1)
        if args:
            self._advance(self._in_range(self._num(args[0]), 0.0, 655.35))

    def _cmd_wat(self, args: list[str]) -> None:
        self._nargs(args, 2, 3)
        values = [self._num(a) for a in args]
        self.wat = (values[1], values[2] if len(values) > 2 else 0.0)

    def _set_flag(self, name: str, args: list[str]) -> None:
        self._nargs(args, 1, 1)
        value = self._choice(args[0], (0, 1))
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
        mode = self._choice(args[1], range(5))
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
        """``AV n[,mode]``: the high-speed ADC's averaging, i.e. ``AIT 0`` (see :attr:`av`)."""
        self._nargs(args, 1, 2)
        n = self._int(args[0])
        mode = self._int(args[1]) if len(args) > 1 else 0
        if not (1 <= n <= 1023 or -100 <= n <= -1) or mode not in (0, 1):
            raise FlexError(120)
        self.ait[0] = (2, float(-n)) if n < 0 else (mode, float(n))

    def _cmd_fl(self, args: list[str]) -> None:
        self._nargs(args, 1, 11)
        state = self._choice(args[0], (0, 1))
        for smu in self._smus(args[1:]):
            smu.filter_on = bool(state)

    def _cmd_ssr(self, args: list[str]) -> None:
        self._nargs(args, 2, 2)
        smu = self._smu(args[0])
        state = self._choice(args[1], (0, 1))
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
        smu = self._smu(args[0])
        mode = self._choice(args[1], (1, 2, 3))
        rate = int(self._in_range(self._int(args[2]), 11, 100)) if len(args) > 2 else 50
        smu.rm = (mode, rate)

    # -- measurement setup --------------------------------------------------------------------
    def _cmd_mm(self, args: list[str]) -> None:
        self._nargs(args, 1, 11)
        mode = self._int(args[0])
        slots = [self._smu(a).slot for a in args[1:]]
        if mode not in (1, 2, 3, 10):
            raise FlexError(620 if mode in flex.MM_MODES else 120)
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
        p_comp = self._num(args[7]) if len(args) > 7 else None  # kept, not modelled
        if mode not in (1, 2, 3, 4) or not 1 <= steps <= 10001:
            raise FlexError(120)
        if out_range not in (V_RANGES if kind == "V" else I_RANGES):
            raise FlexError(120)
        if mode in (2, 4) and (start * stop <= 0):
            raise FlexError(120)
        self._check_output(kind, max(abs(start), abs(stop)), comp)
        if p_comp is not None:
            self._in_range(p_comp, 0.001, 2.0)
        self.sweep = SweepSetup(smu.slot, kind, mode, out_range, start, stop, steps, comp, p_comp)

    def _cmd_wt(self, args: list[str]) -> None:
        """``WT hold[,delay[,sdelay[,tdelay[,mdelay]]]]`` (s); missing values are 0."""
        self._nargs(args, 1, 5)
        hold = self._in_range(self._num(args[0]), 0.0, 655.35)
        rest = [self._in_range(self._num(a), 0.0, 65.535) for a in args[1:]]
        if len(rest) > 1 and rest[1] > 1.0:  # step delay: 0..1 s
            raise FlexError(120)
        self.wt = (hold, *rest, *([0.0] * (4 - len(rest))))

    def _cmd_wm(self, args: list[str]) -> None:
        self.wm = self._abort_post(args)

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

    # -- *LRN?, sampling and high-speed spot ----------------------------------------------------
    def _cmd_lrn(self, args: list[str]) -> str:
        self._nargs(args, 1, 1)
        return b1500_lrn.learn(self, self._int(args[0]))

    def _cmd_mt(self, args: list[str]) -> None:
        """``MT h_bias,interval,number[,h_base]`` (s, s, points, s)."""
        self._nargs(args, 3, 4)
        h_bias = self._in_range(self._num(args[0]), -0.09, 655.35)
        interval = self._in_range(self._num(args[1]), 1e-4, 65.535)
        number = int(self._in_range(self._int(args[2]), 1, 100001))
        h_base = self._in_range(self._num(args[3]), 0.0, 655.35) if len(args) > 3 else 0.0
        cfg = self.sampling
        cfg.h_bias, cfg.interval = max(h_bias, 0.0), interval
        cfg.number, cfg.h_base = number, h_base

    def _cmd_ml(self, args: list[str]) -> None:
        self._nargs(args, 1, 1)
        mode = self._choice(args[0], (1, 2, 3, 4, 5))
        if mode != 1:
            raise FlexError(620)  # log sampling not modelled
        self.sampling.mode = mode

    def _cmd_msc(self, args: list[str]) -> None:
        self.sampling.abort, self.sampling.post = self._abort_post(args)

    def _cmd_sampling_source(self, kind: str, args: list[str]) -> None:
        """``MV``/``MI ch,range,base,bias[,comp]``: a sampling source (V or A)."""
        self._nargs(args, 4, 5)
        smu = self._smu(args[0])
        out_range = self._int(args[1])
        base, bias = self._num(args[2]), self._num(args[3])
        comp = self._num(args[4]) if len(args) > 4 else (100e-6 if kind == "V" else 2.0)
        if out_range not in (V_RANGES if kind == "V" else I_RANGES):
            raise FlexError(120)
        self._check_output(kind, max(abs(base), abs(bias)), comp)
        self.sampling.sources[smu.slot] = (kind, out_range, base, bias, abs(comp))

    def _cmd_spot_hs(self, kind: str, args: list[str], timed: bool) -> str:
        self._nargs(args, 1, 2)
        smu = self._smu(args[0])
        ranges: dict[str, int] = {}
        if len(args) > 1:
            rng = self._int(args[1])
            if abs(rng) not in (I_RANGES if kind == "I" else V_RANGES):
                raise FlexError(120)
            ranges[kind] = rng
        return self._spot_hs(smu.slot, kind, ranges, timed)

    def _cmd_spot_iv(self, args: list[str], timed: bool) -> str:
        """``TIV``/``TTIV ch[,irange,vrange]``: current then voltage of one channel."""
        if len(args) not in (1, 3):
            raise FlexError(104)
        smu = self._smu(args[0])
        ranges: dict[str, int] = {}
        if len(args) == 3:
            i_rng, v_rng = self._int(args[1]), self._int(args[2])
            if abs(i_rng) not in I_RANGES or abs(v_rng) not in V_RANGES:
                raise FlexError(120)
            ranges = {"I": i_rng, "V": v_rng}
        return self._spot_hs(smu.slot, "IV", ranges, timed)

    def _require_on(self, slots: list[int]) -> None:
        if any(not self.smus[s].on for s in slots):
            raise FlexError(200)

    def _cmd_xe(self, args: list[str]) -> str:
        if self.mm is None:
            raise FlexError(300)
        mode, slots = self.mm
        if mode == 1:
            data = self._run_spot(slots)
        elif mode == 2:
            data = self._run_sweep(slots)
        elif mode == 10:
            data = self._run_sampling(slots)
        else:
            data = self._run_pulsed(slots[0])
        self._trigger_out(MEASUREMENT_DONE)  # TGP port,2,polarity,1
        return data


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
        channel_map: SMU slot -> terminal; default :data:`instruments.wiring.SMU_WIRING`.
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
