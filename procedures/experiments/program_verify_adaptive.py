"""Adaptive program-and-verify: coarse SET aimed from measured data, fine identical RESET pulses.

The ISPP staircase of :mod:`procedures.experiments.program_verify` moves one gate (or SL) step per
pulse whatever the error. This algorithm uses what a gradually switching HfO2 cell offers and what
the run has already measured:

* **Coarse SET, aimed.** The LRS conductance after a SET follows the compliance, the access
  transistor's saturation current ``1/2 k (V_WL - V_T)^2``, so ``sqrt(G)`` is close to linear in
  the gate (G_LRS ~ I_c / V_c with a square-law NMOS: physics.md, [E] fit). Every SET that raised G
  adds a point ``(V_WL, sqrt(G))`` to a least-squares line shared by the run's cells
  (:class:`RunLearning`); a SET is aimed at the gate the line predicts for the target. Before the
  line exists (first cells), the gate climbs with doubling steps from ``v_wl_start``. A SET that
  stays below the target steps the gate by the predicted amount (at least ``v_wl_step``: the
  compliance must rise for a new SET event).
* **Fine RESET, identical pulses.** Above the target, RESET pulses of one fixed SL amplitude
  follow: each identical pulse adds RESET stress, so G falls in decreasing, noisy steps
  (gradual RESET, Garbin et al., IEEE TED 2015) and approaches the target from above instead of
  jumping past it. The first amplitude is the run's median RESET onset (the SL amplitude whose
  first pulse lowered G by ``ONSET_DROP``), one step below. A pulse that did a third of the
  remaining ln G fall or more is repeated identically; below the onset the amplitude climbs with
  doubling steps; otherwise it rises by the secant estimate (the last fall per volt) aimed at half
  the remaining fall, between one and ``MAX_RESET_STEPS`` steps of ``v_sl_step``.
* **Bidirectional verify.** Every pulse is followed by a read; a RESET that undershoots re-SETs the
  cell at the gate aimed for the target (at most the gate that overshot, minus ``backoff_steps``).
* ``reset_first``: one full RESET pulse (``v_sl_max``) first, so every cell starts in the HRS.

Same rows, tolerance, stop and summary as the ISPP (see the procedure); units V, S.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from procedures.operations.pulsing import PulseSession

if TYPE_CHECKING:  # pragma: no cover - typing only (the procedure imports this module)
    from procedures.experiments.program_verify import CellOutcome, ProgramVerifyProcedure

ONSET_DROP = 0.05
"""Relative G drop of one RESET pulse that marks the RESET onset."""
SET_RISE = 0.05
"""Relative G rise of one SET pulse that counts as a SET event (a point of the gate line)."""
FIT_POINTS = 24
"""The gate line uses the latest this many SET points of the run."""
MAX_SEARCH_STEPS = 8
"""Before the gate line exists the gate step doubles up to this many ``v_wl_step``."""
MAX_RESET_STEPS = 4
"""A RESET train raises its amplitude by at most this many ``v_sl_step`` per pulse."""
NO_DROP = 0.01
"""ln G fall below which a RESET pulse did nothing (below the onset)."""


@dataclass
class RunLearning:
    """What the run has measured so far, shared by its cells (gates and amplitudes in V, G in S).

    Attributes:
        set_points: ``(V_WL, G after)`` of SET pulses that raised G by ``SET_RISE`` or more.
        reset_onsets: SL amplitudes of RESET pulses that first lowered a cell's G by
            ``ONSET_DROP``.
    """

    set_points: list[tuple[float, float]] = field(default_factory=list)
    reset_onsets: list[float] = field(default_factory=list)

    def gate_for(self, g: float) -> float | None:
        """The gate (V) whose SET the run's points predict to reach ``g`` (S); None if unknown."""
        pts = self.set_points[-FIT_POINTS:]
        gates = np.array([w for w, _ in pts])
        if len(pts) < 2 or np.ptp(gates) < 1e-6:
            return None
        slope, icpt = np.polyfit(gates, np.sqrt([gv for _, gv in pts]), 1)
        if not slope > 0:
            return None
        return float((math.sqrt(g) - icpt) / slope)

    def reset_onset(self) -> float | None:
        """Median RESET onset amplitude (V) seen in the run; None before the first."""
        return float(np.median(self.reset_onsets)) if self.reset_onsets else None


class AdaptiveVerify:
    """Program one cell after another with the adaptive algorithm (see the module docstring)."""

    def __init__(self, proc: ProgramVerifyProcedure, session: PulseSession,
                 learning: RunLearning) -> None:
        self.proc = proc
        self.session = session
        self.learning = learning

    def _pulse(self, pulse, out: CellOutcome) -> float:
        """Apply ``pulse`` then read; the read G (S)."""
        read = self.proc.read_pulse()
        g = self.session.run([pulse, read]).conductance(1, read.v_read)
        out.pulses += 1
        out.g_final = g
        out.history.append(g)
        return g

    def _clip_wl(self, wl: float) -> float:
        p = self.proc
        return float(min(max(wl, p.v_wl_start), p.v_wl_max))

    def _clip_sl(self, sl: float) -> float:
        p = self.proc
        return float(min(max(sl, p.v_sl_start), p.v_sl_max))

    def _aimed_gate(self, target: float, floor: float | None) -> float | None:
        """Gate aimed at ``target`` from the run's line, at least ``floor`` (V)."""
        wl = self.learning.gate_for(target)
        if wl is None:
            return None
        if floor is not None:
            wl = max(wl, floor)
        return self._clip_wl(wl)

    def _next_reset_step(self, dsl: float, drop: float, remaining: float) -> float:
        """The next SL amplitude increase (V) of a RESET train after a pulse.

        ``dsl``: the last increase (V); ``drop``: ln G fall of the last pulse; ``remaining``:
        ln(G / target) still to go. Below the onset (no drop) the increase doubles (search, at
        most ``MAX_RESET_STEPS`` steps); a pulse that did a third of the remaining fall or more
        is repeated identically; otherwise the increase is the secant estimate aimed at half the
        remaining fall (so the cell approaches the target from above).
        """
        step = self.proc.v_sl_step
        if drop < NO_DROP:
            return min(max(2 * dsl, step), MAX_RESET_STEPS * step)
        if drop >= remaining / 3:
            return 0.0
        if dsl > 0:
            return float(np.clip(0.5 * remaining * dsl / drop, step, MAX_RESET_STEPS * step))
        return step

    def program(self, row: int, col: int, out: CellOutcome) -> bool:
        """Program one cell to ``out.target``; False when stopped."""
        p, learn = self.proc, self.learning
        read = p.read_pulse()
        target, tol = out.target, p.tolerance
        g = self.session.run([read]).conductance(0, read.v_read)
        out.g_initial = out.g_final = g
        out.converged = abs(g - target) <= tol
        p.record_read(row, col, target, 0, 0, np.nan, np.nan, g, out.converged)
        if out.converged:
            return True
        if p.reset_first:  # one full RESET: every cell starts from the HRS
            if p.should_stop():
                return False
            pulse = p.reset_pulse(p.v_sl_max)
            g = self._pulse(pulse, out)
            done = abs(g - target) <= tol
            p.record_read(row, col, target, out.pulses, -1, pulse.amplitude, pulse.v_wl, g,
                          done)
            if done:
                out.converged = True
                return True
        wl_last: float | None = None   # gate of the last SET on the cell (since its last RESET)
        wl_over: float | None = None   # gate of a SET that overshot
        search = 1                     # gate step (in v_wl_step) before the line exists
        sl: float | None = None        # amplitude of the current RESET train
        dsl = 0.0                      # its last amplitude increase
        onset_seen = False
        while out.pulses < p.max_pulses:
            if p.should_stop():
                return False
            if g < target - tol:  # ---- SET, aimed
                floor = None if wl_last is None else wl_last + p.v_wl_step
                wl = self._aimed_gate(target, floor)
                if wl is not None and wl_over is not None:
                    wl = min(wl, self._clip_wl(wl_over - p.backoff_steps * p.v_wl_step))
                    if floor is not None:
                        wl = self._clip_wl(max(wl, floor))
                if wl is None:
                    wl = p.v_wl_start if wl_last is None else self._clip_wl(
                        wl_last + search * p.v_wl_step)
                    search = min(2 * search, MAX_SEARCH_STEPS)
                pulse = p.set_pulse(wl)
                g_before = g
                g = self._pulse(pulse, out)
                if g > g_before * (1 + SET_RISE):
                    learn.set_points.append((wl, g))
                wl_last = wl
                if g > target + tol:
                    wl_over = wl
                sl = None
                kind = 1
            else:  # ---- RESET (G above target + tol): identical fine pulses
                if sl is None:
                    onset = learn.reset_onset()
                    sl = p.v_sl_start if onset is None else self._clip_sl(onset - p.v_sl_step)
                    dsl = 0.0
                pulse = p.reset_pulse(sl)
                g_before = g
                g = self._pulse(pulse, out)
                drop = math.log(g_before / g) if g > 0 and g_before > 0 else 0.0
                if not onset_seen and g < g_before * (1 - ONSET_DROP):
                    onset_seen = True
                    learn.reset_onsets.append(sl)
                if g > target + tol:
                    dsl = self._next_reset_step(dsl, drop, math.log(g / target))
                    sl = self._clip_sl(sl + dsl)
                wl_last = None  # a RESET ends the SET event: any compliance SETs again
                kind = -1
            done = abs(g - target) <= tol
            p.record_read(row, col, target, out.pulses, kind, pulse.amplitude, pulse.v_wl, g,
                          done)
            if done:
                out.converged = True
                return True
        return True


__all__ = ["AdaptiveVerify", "RunLearning"]
