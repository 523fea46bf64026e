"""Extraction of switching figures from quasi-static I-V sweeps and reads (pure numpy, no I/O).

Conventions (as the procedures record them): a sweep leg is a staircase 0 -> V_stop -> 0 of the
cell voltage ``v`` (V, V_BL - V_SL: positive for SET, negative for RESET) with the BL current
``i`` (A). Every figure is returned as a float and is ``nan`` when the curve shows no switching,
so a failed cycle never breaks a summary. Voltages of RESET are reported as magnitudes (V).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ArrayLike = Sequence[float] | np.ndarray

K_B_EV = 8.617333262e-5
"""Boltzmann constant, eV/K (CODATA, exact since the 2019 SI)."""


def inverse_kt(celsius: float) -> float:
    """1 / kT (1/eV) at ``celsius`` (C): the abscissa of an Arrhenius plot or fit."""
    return 1.0 / (K_B_EV * (celsius + 273.15))


def outgoing(v: ArrayLike) -> slice:
    """Slice of the outgoing branch of a leg: from the start to the step of largest |V|."""
    a = np.abs(np.asarray(v, dtype=float))
    if a.size == 0:
        return slice(0, 0)
    return slice(0, int(np.argmax(a)) + 1)


def _outgoing_branch(v: ArrayLike, i: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(|V|, |I|) of the outgoing branch of a leg; ValueError if ``v`` and ``i`` differ in
    length."""
    v_a = np.abs(np.asarray(v, dtype=float))
    i_a = np.abs(np.asarray(i, dtype=float))
    if v_a.shape != i_a.shape:
        raise ValueError("v and i must have the same length")
    sl = outgoing(v_a)
    return v_a[sl], i_a[sl]


def set_voltage(
    v: ArrayLike,
    i: ArrayLike,
    compliance: float,
    fraction: float = 0.5,
    min_jump: float = 2.0,
    floor_fraction: float = 0.05,
) -> float:
    """SET voltage (V) of a SET leg: the outgoing step where the current jumps up.

    The jump is the step with the largest current ratio I[k] / I[k-1] on the outgoing branch,
    if that ratio is at least ``min_jump``; currents below ``floor_fraction`` x the largest
    outgoing current count as that floor (so noise and the first steps near 0 V never make a
    jump). Without such a jump (a gradual SET) it is the first step whose |I| reaches
    ``fraction`` x ``compliance`` (A), provided the chord conductance I/V there is at least
    ``min_jump`` times that of the first quarter of the branch (so an ohmic LRS curve, already
    SET, gives no V_set). Returns |V| of that step, ``nan`` when neither is seen.
    """
    v_o, i_o = _outgoing_branch(v, i)
    if v_o.size < 2:
        return float("nan")
    floor = max(float(np.max(i_o)) * floor_fraction, 1e-15)
    i_f = np.maximum(i_o, floor)
    ratio = i_f[1:] / i_f[:-1]
    k = int(np.argmax(ratio))
    if ratio[k] >= min_jump:
        return float(v_o[k + 1])
    if compliance > 0:
        hit = np.flatnonzero(i_o >= fraction * abs(compliance))
        if hit.size and hit[0] > 0:
            # a gradual SET only if the chord conductance rose by min_jump since the first
            # quarter of the branch (an LRS cell also crosses the level, ohmically)
            k = int(hit[0])
            early = (v_o > 0) & (np.arange(v_o.size) <= max(1, v_o.size // 4)) & (
                np.arange(v_o.size) < k)
            if early.any():
                g_early = float(np.median(i_o[early] / v_o[early]))
                if v_o[k] > 0 and i_o[k] / v_o[k] >= min_jump * max(g_early, 1e-15):
                    return float(v_o[k])
    return float("nan")


def reset_voltage(
    v: ArrayLike,
    i: ArrayLike,
    min_drop: float = 0.25,
    peak_tolerance: float = 0.03,
) -> float:
    """RESET voltage (V, magnitude) of a RESET leg: where the current stops rising with |V|.

    On the outgoing branch the cell is ohmic (LRS) until RESET starts; then the current peaks and
    falls, or for a gradual RESET flattens into a plateau. A RESET counts only if the chord
    conductance |I/V| at the largest |V| is at most ``1 - min_drop`` times its early (ohmic)
    value, the median over the first half of the steps before the current peak. V_reset is then
    |V| of the first outgoing step whose |I| comes within ``peak_tolerance`` (relative) of the
    largest outgoing |I|: the current peak of an abrupt RESET, the start of the plateau of a
    gradual one. Returns ``nan`` when no RESET is seen. (A leg clamped by its current compliance
    looks like a plateau: keep the RESET compliance well above the LRS current.)
    """
    v_o, i_o = _outgoing_branch(v, i)
    if v_o.size < 4 or v_o[-1] <= 0:
        return float("nan")
    k_peak = int(np.argmax(i_o))
    early = (np.arange(v_o.size) <= max(2, k_peak // 2)) & (v_o > 0)
    g_early = float(np.median(i_o[early] / v_o[early]))
    g_end = float(i_o[-1] / v_o[-1])
    if not (g_early > 0 and g_end <= (1.0 - min_drop) * g_early):
        return float("nan")
    k = int(np.flatnonzero(i_o >= (1.0 - peak_tolerance) * i_o[k_peak])[0])
    return float(v_o[k])


def read_resistance(v_read: float, i_read: float) -> float:
    """Resistance (Ohm) of a read: V / I; ``inf`` for no (or negative) current."""
    if not i_read > 0:
        return float("inf")
    return float(v_read) / float(i_read)


def median(values: ArrayLike) -> float:
    """Median of the finite values; ``nan`` when there are none."""
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    return float(np.median(a)) if a.size else float("nan")


def on_off_ratio(r_hrs: ArrayLike, r_lrs: ArrayLike) -> float:
    """Median of R_HRS / R_LRS over cycles where both are finite and > 0 (``nan`` if none)."""
    h = np.asarray(r_hrs, dtype=float)
    lo = np.asarray(r_lrs, dtype=float)
    if h.shape != lo.shape:
        raise ValueError("r_hrs and r_lrs must have the same length")
    ok = np.isfinite(h) & np.isfinite(lo) & (lo > 0) & (h > 0)
    return float(np.median(h[ok] / lo[ok])) if ok.any() else float("nan")


def finite_or_none(value: float) -> float | None:
    """``value`` as a float, or None when it is nan/inf (summaries must be plain JSON)."""
    x = float(value)
    return x if np.isfinite(x) else None


def relative_change(g_start: ArrayLike, g_end: ArrayLike) -> np.ndarray:
    """Relative change (G_end - G_start) / G_start per cell (``nan`` where G_start <= 0)."""
    a = np.asarray(g_start, dtype=float)
    b = np.asarray(g_end, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, (b - a) / a, np.nan)


@dataclass
class CycleFigures:
    """Per-cycle figures of an I-V cycling run (lists in cycle order; ``nan`` = not seen).

    Attributes:
        v_set: V, SET voltages. v_reset: V, RESET voltages (magnitudes).
        r_lrs: Ohm, read after SET. r_hrs: Ohm, read after RESET.
    """

    v_set: list[float]
    v_reset: list[float]
    r_lrs: list[float]
    r_hrs: list[float]

    def summary(self) -> dict[str, float | list[float | None] | int | None]:
        """Medians, on/off ratio and the per-cycle lists (for CDFs); None where not seen."""
        n = min(len(self.r_lrs), len(self.r_hrs))

        def values(xs: list[float]) -> list[float | None]:
            return [finite_or_none(x) for x in xs]

        return {
            "cycles_done": max(len(self.v_set), len(self.v_reset)),
            "v_set": finite_or_none(median(self.v_set)),
            "v_reset": finite_or_none(median(self.v_reset)),
            "r_lrs": finite_or_none(median(self.r_lrs)),
            "r_hrs": finite_or_none(median(self.r_hrs)),
            "on_off": finite_or_none(on_off_ratio(self.r_hrs[:n], self.r_lrs[:n])),
            "v_set_values": values(self.v_set),
            "v_reset_values": values(self.v_reset),
            "r_lrs_values": values(self.r_lrs),
            "r_hrs_values": values(self.r_hrs),
        }


__all__ = [
    "CycleFigures", "K_B_EV", "finite_or_none", "inverse_kt", "median", "on_off_ratio",
    "outgoing", "read_resistance", "relative_change", "reset_voltage", "set_voltage",
]
