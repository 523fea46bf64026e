"""DC programming of one cell through :class:`~procedures.operations.cell_io.CellIO` and the B1500
SMUs.

Shared helpers for procedures that need formed or programmed cells (``ber-2t2r``, maps, ...).
Every function acts on the cell currently selected with ``io.select(...)`` and leaves every
terminal it raised back at 0 V.

* :func:`form_cell`: compliance-limited voltage staircase on BL (SL 0 V, WL ``v_wl``), one
  instrument-side sweep with automatic abort (``WV``/``WM``), until the
  BL current reaches ``jump_fraction`` x ``compliance``, then a ramp back to 0 V: the same
  algorithm as :class:`procedures.experiments.forming.FormingProcedure`. Returns V_form (V) or None.
* :func:`set_cell`: one DC step with BL at ``v_bl`` (SL 0 V, WL ``v_wl``) under the SMU current
  ``compliance``; the LRS conductance follows the compliance (G ~ I_c / 1.1 V in the model).
* :func:`reset_cell`: one DC step with SL at ``v_sl`` (BL 0 V, WL ``v_wl``); the HRS depth
  follows ``v_sl`` (a partial RESET below ~1.5 V across the element, a full one above).
* :func:`form_with_ramp`, :func:`sweep_set`, :func:`sweep_reset`: the same forming with a
  :class:`FormingRamp`, and quasi-static SET/RESET double sweeps (:class:`SwitchBias`), used by
  the I-V cycling, retention, conductance-map and pulsed procedures.

One DC step is one spot measurement of the B1500 (the bias is applied for the ADC integration
time, ~1 ms with the high-speed ADC); on the simulated bench this is exactly how long the device
sees the bias, and one step switches a device reliably when the element voltage is beyond its
threshold (SET ~0.7 V, RESET onset ~0.73 V, full RESET ~1.46 V; physics.md). An LRS device is
only SET again by a higher compliance: to program a *lower* LRS conductance, RESET first
(:func:`program_cell` does that for you).

Conventions (physics.md): SET/forming = positive BL with SL grounded, WL ~1-1.7 V; RESET =
positive SL with BL grounded, WL ~2.5-3 V; reads 0.1-0.2 V on BL with WL ~2.5 V.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from instruments.limits import SafetyLimits
from procedures.operations.cell_io import CellIO, ReadResult

StepCallback = Callable[[int, int, float, ReadResult], None]
"""``on_step(step, direction, v_bl, result)``: step index, +1 up / -1 ramp-down, BL volts."""
StopCheck = Callable[[], bool]

FORMED_CONDUCTANCE_SIEMENS = 1e-6
"""S. A cell reading above this conductance at the read voltage counts as formed."""


class UnformedCellError(RuntimeError):
    """A target cell reads below the formed threshold and ``form_first`` is not set."""

    @classmethod
    def for_cells(cls, cells: list[tuple[int, int]]) -> UnformedCellError:
        """The refusal for these unformed ``(row, col)`` cells (the first eight named)."""
        names = ", ".join(f"({r},{c})" for r, c in cells[:8])
        more = f" and {len(cells) - 8} more" if len(cells) > 8 else ""
        return cls(f"{len(cells)} target cell(s) read below "
                   f"{FORMED_CONDUCTANCE_SIEMENS * 1e6:g} uS (unformed): {names}{more}; "
                   "form them first or set form_first")


@dataclass(frozen=True)
class ProgramSettings:
    """Bias conditions of a SET/RESET program (units in the field docs).

    Attributes:
        v_set: V on BL for SET (SL 0 V).
        v_wl_set: V on WL during SET.
        set_compliance: A, SMU current compliance of SET (sets the LRS conductance).
        v_reset: V on SL for RESET (BL 0 V); sets the HRS depth.
        v_wl_reset: V on WL during RESET.
        reset_compliance: A, SMU current compliance during RESET.
        v_read: V on BL for the read after programming.
        v_wl_read: V on WL for the read.
    """

    v_set: float = 1.2
    v_wl_set: float = 1.5
    set_compliance: float = 100e-6
    v_reset: float = 2.0
    v_wl_reset: float = 2.7
    reset_compliance: float = 1e-3
    v_read: float = 0.1
    v_wl_read: float = 2.5


@dataclass(frozen=True)
class FormingRamp:
    """The forming staircase (as ``FormingProcedure``): BL ``v_start``..``v_stop`` in ``v_step``.

    Attributes:
        v_start, v_stop, v_step: V on BL (SL 0 V).
        compliance: A, SMU compliance on BL/SL.
        v_wl: V on the word line.
        jump_fraction: forming is detected at this fraction of ``compliance``.
        ramp_down_step: V per step of the ramp back to 0 V.
    """

    v_start: float = 0.5
    v_stop: float = 4.0
    v_step: float = 0.05
    compliance: float = 100e-6
    v_wl: float = 1.5
    jump_fraction: float = 0.8
    ramp_down_step: float = 0.2

    def check(self, limits: SafetyLimits) -> None:
        """LimitError/ValueError if the ramp is unsafe or inconsistent."""
        if self.v_start >= self.v_stop:
            raise ValueError(f"form_v_start ({self.v_start} V) must be below form_v_stop "
                             f"({self.v_stop} V)")
        limits.check_voltage("BL", self.v_stop)
        limits.check_voltage("WL", self.v_wl)
        limits.check_compliance(self.compliance, self.v_stop)


DEFAULT_RAMP = FormingRamp()
"""The default forming staircase: the one place of the forming defaults (:func:`form_cell`,
the procedures' forming parameters, the learning procedures' device operations)."""


def form_cell(
    io: CellIO,
    v_stop: float = DEFAULT_RAMP.v_stop,
    v_step: float = DEFAULT_RAMP.v_step,
    compliance: float = DEFAULT_RAMP.compliance,
    v_wl: float = DEFAULT_RAMP.v_wl,
    jump_fraction: float = DEFAULT_RAMP.jump_fraction,
    should_stop: Callable[[], bool] | None = None,
    *,
    v_start: float = DEFAULT_RAMP.v_start,
    ramp_down_step: float = DEFAULT_RAMP.ramp_down_step,
    on_step: StepCallback | None = None,
    step_delay: float = 0.0,
) -> float | None:
    """Form the selected cell: BL staircase ``v_start`` -> ``v_stop`` (V) then ramp to 0 V.

    The staircase is one instrument-side sweep (B1500A Programming Guide, ``WV`` staircase
    sweep source, ``WT`` hold/delay, ``WM 2`` automatic abort, one ``XE``): SL 0 V, WL ``v_wl``
    V, ``compliance`` A on BL/SL, the BL current measured at every step (``step_delay`` s,
    then the integration time). The instrument stops the staircase at the first step in
    compliance (the forming jump, limited by the compliance) and forces the start value; the
    steps after it return no data. V_form is the first step whose current reaches
    ``jump_fraction`` x ``compliance`` or is in compliance (a jump that the access transistor
    limits below the compliance is found in the data; the instrument cannot abort on it, so
    that cell sees the rest of the staircase at its transistor's current). BL is then ramped
    from the start value to 0 V in steps of at most ``ramp_down_step`` V (a second sweep,
    ending at 0 V); the ramp-down always runs once the staircase started. ``on_step`` sees
    every measured step (for data rows). ``should_stop`` is asked before the staircase only
    (it lasts < 0.1 s).

    Round trips: the levels line, the sweep set-up, its ``ERRX?``, ``XE``, and three for the
    ramp-down: 7 lines instead of 7 per step of a ``DV`` + ``TI`` + ``ERRX?`` staircase.

    Returns:
        V_form (V, the BL voltage of the step that formed the cell) or None if not formed.
    """
    if v_step <= 0 or ramp_down_step <= 0:
        raise ValueError("v_step and ramp_down_step must be positive")
    if v_start >= v_stop:
        raise ValueError(f"v_start ({v_start} V) must be below v_stop ({v_stop} V)")
    levels = np.arange(v_start, v_stop + v_step / 2, v_step)
    threshold = jump_fraction * compliance
    if should_stop is not None and should_stop():
        return None
    b1500 = io.b1500
    io.set_levels(0.0, 0.0, v_wl, compliance, check=False)  # checked with the sweep set-up
    up = b1500.staircase_sweep(
        io.ch_bl, float(levels[0]), float(levels[-1]), len(levels), compliance,
        delay=step_delay, measure=[io.ch_bl], abort=True,
    )
    v_form: float | None = None
    step = 0
    for v, i, comp in zip(up.voltage, up.current, up.compliance, strict=True):
        if on_step is not None:
            on_step(step, +1, float(v), ReadResult(float(i), float(v), bool(comp)))
        step += 1
        if v_form is None and (i >= threshold or comp):
            v_form = float(v)
    # after the staircase (aborted or complete, post = start) BL forces the start value
    last_v = float(levels[0])
    n_down = max(1, math.ceil(round(last_v / ramp_down_step, 9)))
    down = b1500.staircase_sweep(
        io.ch_bl, last_v * (1 - 1 / n_down), 0.0, n_down, compliance, measure=[io.ch_bl],
        abort=False, post_stop=True,
    )
    for v, i, comp in zip(down.voltage, down.current, down.compliance, strict=True):
        if on_step is not None:
            on_step(step, -1, float(v), ReadResult(float(i), float(v), bool(comp)))
        step += 1
    return v_form


def _read_after(
    io: CellIO, step: ReadResult, read_after: bool, v_read: float, v_wl_read: float
) -> ReadResult:
    return io.read(v_read, v_wl_read) if read_after else step


def set_cell(
    io: CellIO,
    v_bl: float,
    v_wl: float,
    compliance: float,
    *,
    read_after: bool = True,
    v_read: float = 0.1,
    v_wl_read: float = 2.5,
) -> ReadResult:
    """SET the selected cell with one DC step: BL ``v_bl`` V, SL 0 V, WL ``v_wl`` V.

    ``compliance`` (A) on BL and SL limits the SET current (the LRS conductance follows it;
    the access transistor's saturation current at ``v_wl`` limits it too). BL returns to 0 V.

    Returns:
        the read after (``v_read`` V on BL, WL ``v_wl_read`` V) or, with ``read_after=False``,
        the BL current measured during the SET step itself.
    """
    r = io.pulse_bl(v_bl, v_wl, compliance)
    return _read_after(io, r, read_after, v_read, v_wl_read)


def reset_cell(
    io: CellIO,
    v_sl: float,
    v_wl: float,
    compliance: float,
    *,
    read_after: bool = True,
    v_read: float = 0.1,
    v_wl_read: float = 2.5,
) -> ReadResult:
    """RESET the selected cell with one DC step: SL ``v_sl`` V, BL 0 V, WL ``v_wl`` V.

    ``compliance`` (A) on BL and SL (1 mA is fine: RESET is self-limiting). The HRS depth grows
    with ``v_sl`` (partial RESET for element voltages between ~0.73 and ~1.46 V). SL returns to
    0 V.

    Returns:
        the read after (see :func:`set_cell`) or the step's BL current (negative).
    """
    r = io.pulse_sl(v_sl, v_wl, compliance)
    return _read_after(io, r, read_after, v_read, v_wl_read)


def form_with_ramp(io: CellIO, ramp: FormingRamp,
                   should_stop: StopCheck | None = None) -> float | None:
    """Form the selected cell with the staircase ``ramp`` (:func:`form_cell`); V_form or None."""
    return form_cell(
        io, v_stop=ramp.v_stop, v_step=ramp.v_step, compliance=ramp.compliance,
        v_wl=ramp.v_wl, jump_fraction=ramp.jump_fraction, should_stop=should_stop,
        v_start=ramp.v_start, ramp_down_step=ramp.ramp_down_step,
    )


@dataclass(frozen=True)
class SwitchBias:
    """A quasi-static programming sweep (double staircase 0 -> ``v_stop`` -> 0).

    Attributes:
        v_stop: V, on BL for SET, on SL for RESET.
        v_wl: V on the word line.
        compliance: A, SMU compliance.
        steps: points of the outgoing staircase.
        delay: s per step.
    """

    v_stop: float
    v_wl: float
    compliance: float
    steps: int = 10
    delay: float = 1e-3

    def check(self, limits: SafetyLimits, terminal: str) -> None:
        """LimitError if the sweep exceeds the bench limits on ``terminal`` (BL or SL)."""
        limits.check_voltage(terminal, self.v_stop)
        limits.check_voltage("WL", self.v_wl)
        limits.check_compliance(self.compliance, self.v_stop)


DEFAULT_SET_SWEEP = SwitchBias(v_stop=1.5, v_wl=1.5, compliance=100e-6)
"""SET: BL to 1.5 V, WL 1.5 V, 100 uA (G_LRS ~ 90 uS)."""
DEFAULT_RESET_SWEEP = SwitchBias(v_stop=1.8, v_wl=2.8, compliance=1e-3)
"""RESET: SL to 1.8 V, WL 2.8 V (R_HRS ~ 0.1 MOhm)."""


def sweep_set(io: CellIO, bias: SwitchBias = DEFAULT_SET_SWEEP) -> tuple[np.ndarray, ...]:
    """SET the selected cell by a BL double sweep; returns (v_cell, i_bl, compliance flags)."""
    return io.sweep("BL", bias.v_stop, bias.steps, bias.v_wl, bias.compliance, delay=bias.delay)


def sweep_reset(io: CellIO, bias: SwitchBias = DEFAULT_RESET_SWEEP) -> tuple[np.ndarray, ...]:
    """RESET the selected cell by an SL double sweep; returns (v_cell, i_bl, compliance flags)."""
    return io.sweep("SL", bias.v_stop, bias.steps, bias.v_wl, bias.compliance, delay=bias.delay)


def program_cell(
    io: CellIO, lrs: bool, settings: ProgramSettings, *, read_after: bool = True
) -> ReadResult:
    """Program the selected (formed) cell to LRS or HRS with a full cycle.

    LRS: RESET then SET (so the SET compliance of ``settings`` sets the conductance even if the
    device was in a stronger LRS); HRS: SET then RESET (a fresh RESET draw every time, like a
    cycle). Returns the read after (or the last step's current, see :func:`set_cell`).
    """
    s = settings
    if lrs:
        reset_cell(io, s.v_reset, s.v_wl_reset, s.reset_compliance, read_after=False)
        return set_cell(io, s.v_set, s.v_wl_set, s.set_compliance, read_after=read_after,
                        v_read=s.v_read, v_wl_read=s.v_wl_read)
    set_cell(io, s.v_set, s.v_wl_set, s.set_compliance, read_after=False)
    return reset_cell(io, s.v_reset, s.v_wl_reset, s.reset_compliance, read_after=read_after,
                      v_read=s.v_read, v_wl_read=s.v_wl_read)


__all__ = [
    "DEFAULT_RAMP", "DEFAULT_RESET_SWEEP", "DEFAULT_SET_SWEEP", "FORMED_CONDUCTANCE_SIEMENS",
    "FormingRamp", "ProgramSettings", "StepCallback", "SwitchBias", "UnformedCellError",
    "form_cell", "form_with_ramp", "program_cell", "reset_cell", "set_cell", "sweep_reset",
    "sweep_set",
]
