"""Pulsed cell operations on the bench's B1530A WGFMU: SET/RESET pulses with a per-pulse gate.

(A little over ~500 lines: steps, their layout, the session and the procedures' shared base use
one another's internals.)

A 1T1R cell needs a different word-line (gate) level for each operation: SET uses a low gate
(WL ~1-1.7 V: the access transistor's saturation current 1/2 k (V_WL - V_T)^2 is the SET
compliance), RESET a high gate (WL ~2.5-3 V: the transistor's source is the internal node, so a
low gate would starve the RESET), a read a high gate and 0.1-0.2 V on BL. This module lays out
a list of *steps* (:class:`CellPulse`, :class:`ReadPulse`) as three time-aligned WGFMU patterns
(BL, SL and WL) and runs them with the WGFMU library calls the lab uses (``clear``,
``createPattern``/``addVectors``, ``setMeasureEvent``, channel modes, ``addSequence``,
``execute``, ``getMeasureValues``).

Wiring: the bench's ``wgfmu_terminals`` map must drive BL and SL. If it also drives WL (the
simulated bench: channel 601), every step carries its own gate level inside one execute. If WL
has no WGFMU channel (e.g. ``lab-example.toml``), :class:`PulseSession` falls back to setting the
WL level with the B1500 SMU (``CellIO.set_wl``) between runs of steps that share a gate level
(one execute per run of steps, logged once per session).

A read is a measure event on the BL channel (current mode): one averaged sample over the
second half of the read's flat top. Pulses may also be sampled (``CellPulse.points``) from the
start of the rise to the end of the fall, for the applied V(t) and measured I(t).

:func:`is_set_reset_cycle` tells whether a program is one SET/RESET cycle with nothing
measured: the period repeated ``n`` times in one execute (``add_sequence(count=n)``) by cycling
procedures. It reads the steps the program was laid out from, never the waveform: how an
instrument (or the twin) runs such a sequence is the instrument's business.

Units: volts, seconds, amperes, siemens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pymeasure.experiment import FloatParameter

from instruments.bench_types import BenchInterface
from instruments.keysight import wgfmu_limits
from instruments.keysight.wgfmu import (
    TIME_RESOLUTION,
    MeasureCurrentRange,
    WGFMUError,
    to_ticks,
)
from instruments.keysight.wgfmu_program import MeasureEvent, Program, Tracks
from instruments.limits import SafetyLimits
from procedures.framework.base import BenchProcedure
from procedures.framework.parameter_sets import FormFirstParameters
from procedures.operations.programming import (
    FORMED_CONDUCTANCE_SIEMENS,
    UnformedCellError,
    form_with_ramp,
)

log = logging.getLogger(__name__)

TERMINALS = ("BL", "SL", "WL")
EDGE_S = 100e-9
"""s. Edge of gate and read transitions."""
SETTLE_S = 200e-9
"""s. Gate settling before a pulse or read and hold after it."""

StopCheck = Callable[[], bool]


# ------------------------------------------------------------------------------------------------
# Steps
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CellPulse:
    """One SET (BL) or RESET (SL) pulse with its gate level.

    Attributes:
        kind: ``"set"`` (``amplitude`` on BL, SL 0 V) or ``"reset"`` (``amplitude`` on SL,
            BL 0 V).
        amplitude: V, pulse top.
        v_wl: V, word line during the pulse (and its settling time).
        width: s, flat top (10 ns grid).
        rise: s, leading edge.
        fall: s, trailing edge.
        points: current samples from the start of the rise to the end of the fall (0 = none).
        settle: s, gate settling before the pulse and hold after it.
    """

    kind: Literal["set", "reset"]
    amplitude: float
    v_wl: float
    width: float = 1e-6
    rise: float = 100e-9
    fall: float = 100e-9
    points: int = 0
    settle: float = SETTLE_S

    def __post_init__(self) -> None:
        if self.kind not in ("set", "reset"):
            raise ValueError(f"pulse kind must be 'set' or 'reset', got {self.kind!r}")
        if int(self.points) != self.points or self.points < 0:
            raise ValueError(f"points must be a non-negative integer, got {self.points!r}")

    @property
    def terminal(self) -> str:
        """The pulsed terminal: BL for SET, SL for RESET."""
        return "BL" if self.kind == "set" else "SL"

    def check(self, limits: SafetyLimits, what: str = "pulse") -> None:
        """LimitError/ValueError if a level exceeds the limits or a time is off the 10 ns grid."""
        limits.check_voltage(self.terminal, self.amplitude)
        limits.check_voltage("WL", self.v_wl)
        to_ticks(self.width, f"{what} width")
        to_ticks(self.rise, f"{what} rise")
        to_ticks(self.fall, f"{what} fall")
        to_ticks(self.settle, f"{what} settle")
        if self.points:
            window = to_ticks(self.rise + self.width + self.fall, f"{what} duration")
            if window < self.points:
                raise ValueError(f"{self.points} waveform points do not fit into the "
                                 f"{window * 10} ns {what}")


@dataclass(frozen=True)
class ReadPulse:
    """A read: ``v_read`` on BL (SL 0 V) with the gate at ``v_wl``; one averaged current sample.

    Attributes:
        v_read: V on BL.
        v_wl: V on WL.
        time: s, flat read duration; the sample averages its second half.
        settle: s, gate settling before the read and hold after it.
    """

    v_read: float = 0.1
    v_wl: float = 2.5
    time: float = 2e-6
    settle: float = SETTLE_S

    def check(self, limits: SafetyLimits) -> None:
        """LimitError/ValueError for unsafe levels or times off the 10 ns grid."""
        if not self.v_read > 0:
            raise ValueError(f"read voltage must be positive, got {self.v_read} V")
        limits.check_voltage("BL", self.v_read)
        limits.check_voltage("WL", self.v_wl)
        if to_ticks(self.time, "read time") < 2:
            raise ValueError("read time must be at least 20 ns")
        to_ticks(self.settle, "read settle")


Step = CellPulse | ReadPulse


# ------------------------------------------------------------------------------------------------
# Layout (the engine is instruments.keysight.wgfmu_program; this is the cell-step vocabulary)
# ------------------------------------------------------------------------------------------------
def build_program(steps: Sequence[Step]) -> Program:
    """Lay out ``steps`` one after another (pure: nothing is sent).

    A pulse: gate to ``v_wl`` (BL, SL 0 V) over 100 ns, settle, rise to ``amplitude``, hold
    ``width``, fall to 0 V, hold ``settle``. A read: gate to ``v_wl`` over 100 ns, settle, BL to
    ``v_read`` over 100 ns, hold ``time`` (sampled over the second half), BL to 0 V, hold
    ``settle``. The program ends with every terminal at 0 V.
    """
    if not steps:
        raise ValueError("no steps")
    lay = Tracks(TERMINALS)
    events: list[MeasureEvent] = []
    edge = to_ticks(EDGE_S, "edge")
    for k, s in enumerate(steps):
        settle = to_ticks(s.settle, "settle")
        if isinstance(s, CellPulse):
            rise, fall = to_ticks(s.rise, "rise"), to_ticks(s.fall, "fall")
            width = to_ticks(s.width, "width")
            lay.seg(edge, BL=0.0, SL=0.0, WL=s.v_wl)
            lay.seg(settle)
            start = lay.seg(rise, **{s.terminal: s.amplitude})
            lay.seg(width)
            lay.seg(fall, **{s.terminal: 0.0})
            if s.points:
                interval = (rise + width + fall) // s.points
                events.append(MeasureEvent(f"p{k}", start * TIME_RESOLUTION, int(s.points),
                                           interval * TIME_RESOLUTION,
                                           interval * TIME_RESOLUTION, step=k))
            lay.seg(settle)
        elif isinstance(s, ReadPulse):
            read = to_ticks(s.time, "read time")
            lay.seg(edge, BL=0.0, SL=0.0, WL=s.v_wl)
            lay.seg(settle)
            lay.seg(edge, BL=s.v_read)
            start = lay.seg(read)
            half = read // 2
            events.append(MeasureEvent(f"r{k}", (start + half) * TIME_RESOLUTION, 1,
                                       (read - half) * TIME_RESOLUTION,
                                       (read - half) * TIME_RESOLUTION, step=k))
            lay.seg(edge, BL=0.0)
            lay.seg(settle)
        else:
            raise TypeError(f"not a step: {s!r}")
    kinds = tuple(s.kind if isinstance(s, CellPulse) else "read" for s in steps)
    return lay.program(events, edge, kinds)


def is_set_reset_cycle(program: Program) -> bool:
    """True if ``program`` is one SET and one RESET pulse (either order) with nothing measured.

    Such a period repeated ``n`` times in one execute is ``n`` SET/RESET cycles; the WL level of
    each pulse is in the WL pattern, so SET and RESET gates may differ.
    """
    return not program.events and sorted(program.kinds) == ["reset", "set"]


def step_vectors(step: Step) -> int:
    """Vectors one step adds to each terminal's pattern (without the final return to 0 V)."""
    return len(build_program([step]).vectors["BL"]) - 1


def split_for_pattern(steps: Sequence[Step], index: Sequence[int],
                      max_vectors: int | None = None) -> list[list[int]]:
    """Split ``index`` (indices into ``steps``) into runs whose program fits one pattern.

    Each run's program holds at most ``max_vectors`` vectors per terminal (default: the
    library's ``MAX_VECTORS_PER_PATTERN``), the final return to 0 V included. ValueError if a
    single step does not fit.
    """
    limit = wgfmu_limits.MAX_VECTORS_PER_PATTERN if max_vectors is None else int(max_vectors)
    runs: list[list[int]] = []
    used = 0
    cost: dict[int, int] = {}
    for k in index:
        key = id(steps[k])
        n = cost.get(key)
        if n is None:
            n = cost[key] = step_vectors(steps[k])
        if n + 1 > limit:
            raise ValueError(f"step {k} needs {n + 1} vectors; a pattern holds {limit}")
        if runs and used + n + 1 <= limit:
            runs[-1].append(k)
            used += n
        else:
            runs.append([k])
            used = n
    return runs


# ------------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------------
@dataclass
class StepData:
    """Measured points of one step.

    Attributes:
        step: index of the step in the list given to :meth:`PulseSession.run`.
        t: s, sample times from the start of the run.
        v: V, programmed V_BL - V_SL at the sample times.
        i: A, BL current (negative while SL drives).
    """

    step: int
    t: np.ndarray
    v: np.ndarray
    i: np.ndarray

    @property
    def current(self) -> float:
        """A, mean of the samples (the read current of a read step)."""
        return float(np.mean(self.i)) if self.i.size else float("nan")


@dataclass
class RunData:
    """What :meth:`PulseSession.run` measured.

    Attributes:
        duration: s, total programmed time of the run (all repeats).
        repeats: repeats completed (fewer than asked only when stopped in the fallback mode).
        steps: measured steps by step index.
    """

    duration: float
    repeats: int
    steps: dict[int, StepData] = field(default_factory=dict)

    def conductance(self, step: int, v_read: float) -> float:
        """S, read current of ``step`` divided by ``v_read``; NaN if not measured."""
        d = self.steps.get(step)
        return d.current / v_read if d is not None and v_read else float("nan")


class PulseSession:
    """Runs step lists on the bench's WGFMU; channels connected while the session is open.

    Use as a context manager: entering connects the WGFMU channels (RSU to the WGFMU), leaving
    disconnects them and puts every channel back in SMU pass-through mode (also on errors):
    the one place where MemProbe hands the probes back to the SMUs. While open, the B1500 SMUs
    behind the RSUs do not reach the cell.

    A step list longer than one pattern may hold (``wgfmu_limits.MAX_VECTORS_PER_PATTERN``)
    runs as several executes, each ending with every terminal at 0 V.

    Args:
        bench: the open bench (``wgfmu``, ``config``).
        io: the CellIO, needed only when WL has no WGFMU channel (gate set by the WL SMU).
        current_range: BL current measurement range (:class:`MeasureCurrentRange`).
    """

    def __init__(self, bench: BenchInterface, io: Any = None,
                 current_range: int = MeasureCurrentRange.UA100) -> None:
        self.bench = bench
        self.wgfmu = bench.wgfmu
        self.io = io
        self.current_range = int(current_range)
        self.channels = {term: ch for ch, term in self.wgfmu.channel_terminals.items()
                         if term in TERMINALS}
        missing = {"BL", "SL"} - set(self.channels)
        if missing:
            raise ValueError(f"no WGFMU channel drives {', '.join(sorted(missing))}")
        self.wl_driven = "WL" in self.channels
        if not self.wl_driven and io is None:
            raise ValueError("WL has no WGFMU channel: a CellIO is needed to set the gate")
        self._wl_level: float | None = None
        self._open = False

    # -- life cycle -------------------------------------------------------------------------
    def __enter__(self) -> PulseSession:
        if not self.wl_driven:
            log.info("WL has no WGFMU channel on this bench: the gate level is set with the "
                     "B1500 WL SMU between pulses (one WGFMU execute per gate level)")
        try:
            for ch in self.channels.values():
                self.wgfmu.connect(ch)
        except Exception:
            self._disconnect()
            raise
        self._open = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._open = False
        self._disconnect()
        try:
            self.wgfmu.smu_mode()  # SMUs behind the RSUs reach the cell again
        except Exception as err:
            log.error("WGFMU channels not back in SMU mode: %s", err)
            if exc[0] is None:
                raise
        if not self.wl_driven and self._wl_level is not None:
            try:
                self.io.set_wl(0.0)
            except Exception as err:
                log.error("could not return WL to 0 V: %s", err)
            self._wl_level = None

    def _disconnect(self) -> None:
        for ch in self.channels.values():
            try:
                self.wgfmu.disconnect(ch)
            except WGFMUError as exc:
                log.warning("WGFMU disconnect %d: %s", ch, exc)

    # -- checks -----------------------------------------------------------------------------
    def check(self, steps: Sequence[Step]) -> None:
        """LimitError/ValueError before anything is sent (levels per terminal, time grid)."""
        limits = self.wgfmu.limits
        for s in steps:
            s.check(limits)

    def repeats_as_one_sequence(self, steps: Sequence[Step]) -> bool:
        """True if ``steps`` repeated run as one SET/RESET sequence per execute (WL driven)."""
        return self.wl_driven and is_set_reset_cycle(build_program(steps))

    # -- running ----------------------------------------------------------------------------
    def run(self, steps: Sequence[Step], repeat: int = 1,
            should_stop: StopCheck | None = None) -> RunData:
        """Run ``steps`` (``repeat`` times as one sequence); returns the measured steps.

        With a WL channel this is one execute. Without one, consecutive steps sharing a gate
        level run as one execute each, after the WL SMU is set. Steps that do not fit one
        pattern (2,048 vectors) are split into several executes (:func:`split_for_pattern`).
        With more than one execute, repeats are looped here (``should_stop`` is checked
        between them). Measured steps need ``repeat == 1``.
        """
        if not self._open:
            raise RuntimeError("the pulse session is not open (use it as a context manager)")
        steps = list(steps)
        repeat = int(repeat)
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        if repeat > 1 and any(
            isinstance(s, ReadPulse) or (isinstance(s, CellPulse) and s.points) for s in steps
        ):
            raise ValueError("measured steps cannot be repeated; unroll them")
        self.check(steps)
        # without a WL channel: runs of steps that share a gate level (WL set by the SMU)
        groups: list[tuple[float | None, list[int]]] = []
        for k, s in enumerate(steps):
            wl = None if self.wl_driven else s.v_wl
            if groups and groups[-1][0] == wl:
                groups[-1][1].append(k)
            else:
                groups.append((wl, [k]))
        programs = [(wl, part, build_program([steps[k] for k in part]))
                    for wl, idx in groups for part in split_for_pattern(steps, idx)]
        if len(programs) == 1:
            wl, idx, program = programs[0]
            self._gate(wl)
            out = RunData(program.duration * repeat, repeat)
            self._execute(program, repeat, idx, 0.0, out)
            return out
        out = RunData(0.0, 0)
        for _ in range(repeat):
            if should_stop and should_stop() and out.repeats:
                break
            for wl, idx, program in programs:
                self._gate(wl)
                self._execute(program, 1, idx, out.duration, out)
                out.duration += program.duration
            out.repeats += 1
        return out

    def _gate(self, v_wl: float | None) -> None:
        if v_wl is not None and self._wl_level != v_wl:
            self.io.set_wl(v_wl)
            self._wl_level = v_wl

    def _execute(self, program: Program, repeat: int, index: list[int], t0: float,
                 out: RunData) -> None:
        """Program, execute and read one program; measured steps land in ``out`` (by index)."""
        wg = self.wgfmu
        wg.load_program(program, self.channels, measure_terminal="BL",
                        current_range=self.current_range, repeat=repeat, prefix="mp")
        wg.execute()
        wg.wait_until_completed()
        if not program.events:
            return
        t, i = wg.get_measure_values(self.channels["BL"])
        pos = 0
        for ev in sorted(program.events, key=lambda e: e.time):
            tt, ii = t[pos:pos + ev.points], i[pos:pos + ev.points]
            pos += ev.points
            out.steps[index[ev.step]] = StepData(index[ev.step], tt + t0, program.applied(tt), ii)


# ------------------------------------------------------------------------------------------------
# Procedures built on pulses
# ------------------------------------------------------------------------------------------------
class PulsedProcedure(FormFirstParameters, BenchProcedure):
    """Shared parameters and helpers of the WGFMU procedures (read, pulse shape, forming
    first)."""

    v_read = FloatParameter("Read voltage", units="V", default=0.1, minimum=0.01, maximum=0.5)
    v_wl_read = FloatParameter("Read word-line voltage", units="V", default=2.5, minimum=0,
                               maximum=5)
    read_time = FloatParameter("Read time", units="s", default=2e-6, minimum=20e-9, maximum=1e-3)
    width = FloatParameter("Pulse width", units="s", default=1e-6, minimum=10e-9, maximum=1e-2)
    rise = FloatParameter("Rise time", units="s", default=100e-9, minimum=10e-9, maximum=1e-3)
    fall = FloatParameter("Fall time", units="s", default=100e-9, minimum=10e-9, maximum=1e-3)

    def read_pulse(self) -> ReadPulse:
        """The WGFMU read of every procedure step."""
        return ReadPulse(self.v_read, self.v_wl_read, self.read_time)

    def cell_pulse(self, kind: Literal["set", "reset"], amplitude: float, v_wl: float,
                   points: int = 0) -> CellPulse:
        """A SET/RESET pulse of ``amplitude`` V with the gate at ``v_wl`` V and this run's
        ``width``/``rise``/``fall`` (s); ``points`` current samples."""
        return CellPulse(kind, amplitude, v_wl, self.width, self.rise, self.fall, points=points)

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        if self.array != "1T1R":
            raise ValueError(f"{self.NAME} runs on the 1T1R array (array = 1T1R)")
        try:
            self.read_pulse().check(limits)
        except ValueError as exc:
            raise type(exc)(f"read (v_read/v_wl_read/read_time): {exc}") from None
        if self.form_first:
            self.forming_ramp().check(limits)

    def pulse_session(self, current_range: int = MeasureCurrentRange.UA100) -> PulseSession:
        """A :class:`PulseSession` on this run's bench."""
        return PulseSession(self.bench, self.io, current_range)

    def read_cells(self, cells: Sequence[tuple[int, int]]) -> dict[tuple[int, int], float]:
        """Conductance (S) of each cell by a WGFMU read (stops early on ``should_stop``)."""
        out: dict[tuple[int, int], float] = {}
        read = self.read_pulse()
        with self.pulse_session() as session:
            for row, col in cells:
                if self.should_stop():
                    break
                self.io.select(self.array, row, col)
                out[(row, col)] = session.run([read]).conductance(0, read.v_read)
        return out

    def ready_cells(self, cells: Sequence[tuple[int, int]]) -> tuple[
            list[tuple[int, int]], dict[tuple[int, int], float]]:
        """Formed target cells, forming the unformed ones if ``form_first`` is set.

        Returns (cells to measure, V_form of the cells formed here). Raises
        :class:`UnformedCellError` for unformed cells without ``form_first``. Forming uses the
        B1500 staircase of ``procedures.experiments.forming`` with the WGFMU channels disconnected.
        """
        g = self.read_cells(cells)
        unformed = [c for c in cells if c in g and not g[c] >= FORMED_CONDUCTANCE_SIEMENS]
        if unformed and not self.form_first:
            raise UnformedCellError.for_cells(unformed)
        v_forms: dict[tuple[int, int], float] = {}
        failed: list[tuple[int, int]] = []
        for row, col in unformed:
            if self.should_stop():
                break
            self.io.select(self.array, row, col)
            v = form_with_ramp(self.io, self.forming_ramp(), self.should_stop)
            if v is None:
                log.warning("cell (%d,%d) did not form; skipped", row, col)
                failed.append((row, col))
            else:
                v_forms[(row, col)] = v
        if unformed:
            self.io.off()
        ready = [c for c in cells if c in g and c not in failed]
        return ready, v_forms


__all__ = [
    "CellPulse", "MeasureEvent", "Program", "PulseSession", "PulsedProcedure", "ReadPulse",
    "RunData", "Step", "StepData", "build_program", "is_set_reset_cycle", "split_for_pattern",
    "step_vectors",
]
