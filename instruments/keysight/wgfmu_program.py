"""The one pulse-layout engine for the B1530A WGFMU: time-aligned patterns on the 10 ns grid.

A *program* is one pattern per terminal (each starting at 0 V: a list of ``(d_time, V)`` vectors,
each a linear ramp to ``V`` over ``d_time``, as ``WGFMU_addVectors`` takes them), all of the same
length, plus the measure events on the measured terminal's pattern. :class:`Tracks` builds the
patterns side by side: every segment lasts the same number of 10 ns ticks on every terminal, so
the patterns stay aligned whatever each terminal does. The step vocabulary that lays pulses out
with it is the procedures' cell steps with a gate level
(:func:`procedures.operations.pulsing.build_program`: BL, SL and WL); the driver tests lay
their BL/SL programs out with :class:`Tracks` directly.

Pure: nothing here talks to an instrument (:meth:`instruments.keysight.wgfmu.WGFMU.load_program`
turns a program into library calls). Units: seconds, volts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from instruments.keysight.wgfmu_limits import TIME_RESOLUTION


@dataclass(frozen=True)
class MeasureEvent:
    """A measure event of a program (times in s from the start of the pattern).

    Attributes:
        name: event name (unique in its pattern).
        time: s, start of the first sample window.
        points: samples.
        interval: s between samples.
        average: s, averaging window of each sample.
        step: index of the step of the layout the event belongs to (0 if unused).
    """

    name: str
    time: float
    points: int
    interval: float
    average: float
    step: int = 0


@dataclass
class Program:
    """Time-aligned patterns of a list of steps (each pattern starts at 0 V).

    Attributes:
        vectors: per terminal, the ``(d_time s, V)`` vectors.
        events: measure events (on the measured terminal's pattern).
        duration: s, length of every pattern.
        kinds: the laid-out steps in order (vocabulary of the layout, e.g. ``"set"``).
    """

    vectors: dict[str, list[tuple[float, float]]]
    events: list[MeasureEvent]
    duration: float
    kinds: tuple[str, ...] = ()

    def waveform(self, terminal: str) -> tuple[np.ndarray, np.ndarray]:
        """Breakpoints (times s, volts V) of one terminal's pattern (starting at 0 V)."""
        vec = self.vectors[terminal]
        t = np.cumsum([0.0] + [d for d, _ in vec])
        v = np.array([0.0] + [x for _, x in vec])
        return t, v

    def applied(self, t: np.ndarray) -> np.ndarray:
        """V_BL - V_SL (V) programmed at times ``t`` (s from the program start)."""
        tb, vb = self.waveform("BL")
        ts, vs = self.waveform("SL")
        return np.interp(t, tb, vb) - np.interp(t, ts, vs)

    def levels(self, terminal: str) -> list[float]:
        """Every voltage of one terminal's pattern (V), for limit checks."""
        return [0.0] + [v for _, v in self.vectors[terminal]]


class Tracks:
    """Builds one pattern per terminal side by side on the 10 ns grid (all start at 0 V)."""

    def __init__(self, terminals: Sequence[str]) -> None:
        self.terminals = tuple(terminals)
        self.level = dict.fromkeys(self.terminals, 0.0)
        self.vectors: dict[str, list[tuple[float, float]]] = {t: [] for t in self.terminals}
        self.ticks = 0

    def seg(self, ticks: int, **targets: float) -> int:
        """Ramp the named terminals to their targets (others hold) over ``ticks``; start tick."""
        start = self.ticks
        for term in self.terminals:
            self.level[term] = float(targets.get(term, self.level[term]))
            self.vectors[term].append((ticks * TIME_RESOLUTION, self.level[term]))
        self.ticks += ticks
        return start

    def program(self, events: list[MeasureEvent], edge_ticks: int,
                kinds: tuple[str, ...] = ()) -> Program:
        """The finished program: every terminal ramped back to 0 V over ``edge_ticks`` if needed."""
        if any(v != 0.0 for v in self.level.values()):
            self.seg(edge_ticks, **dict.fromkeys(self.terminals, 0.0))
        return Program(self.vectors, events, self.ticks * TIME_RESOLUTION, kinds)


__all__ = ["MeasureEvent", "Program", "Tracks"]
