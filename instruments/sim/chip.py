"""One simulated RRAM test chip: a 32x32 1T1R array and a 2T2R array of 32 rows x 32 pairs.

The chip turns terminal voltages (BL, SL, WL) into a cell current by solving the series circuit
"SMU - RRAM element - access transistor - SMU" and lets the device model
(:class:`~instruments.sim.rram.RRAMPopulation`) decide whether the step formed, SET or RESET the
element. The 2T2R pairs are read differentially by precharge sense amplifiers (PCSA).

Circuit conventions (physics.md): the element's top electrode is on the BL, its bottom electrode
on the transistor's drain node N; the transistor's gate is on the WL, its other terminal on the SL.
``v_cell = V_BL - V_N``. The transistor's source is whichever of N and SL is at the lower potential:
for SET/forming (BL > SL) V_GS = V_WL - V_SL; for RESET (SL > BL) V_GS = V_WL - V_N, with V_N
solved self-consistently (no body effect). SMU compliances of both terminals limit the series
current; the smaller one wins and is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from instruments.chip.geometry import N_COLS_1T1R, N_PAIRS_2T2R, N_ROWS
from instruments.sim.radiation_effects import DoseResponse
from instruments.sim.rram import (
    DieProcess,
    RRAMParams,
    RRAMPopulation,
    element_current_scalar,
    nonlinear_weight,
    saturation_current,
    thermal_factor,
    transistor_current,
)

ARRAYS = ("1T1R", "2T2R")
KINDS = ("good", "dead", "short")


@dataclass(frozen=True)
class CellResponse:
    """Result of one bias step on one cell.

    Attributes:
        i_bl: A, current out of the BL terminal's source into the cell; negative when SL drives.
        v_cell: V across the RRAM element (BL-side electrode minus bottom electrode).
        compliance: ``"BL"`` or ``"SL"`` if that SMU's current compliance limited the current.
    """

    i_bl: float
    v_cell: float
    compliance: str | None


def _root(f: Any, lo: float, hi: float, f_lo: float, f_hi: float, tol: float = 1e-10) -> float:
    """Root of a monotone ``f`` bracketed by [lo, hi] (Illinois false position + bisection)."""
    if f_lo == 0.0:
        return lo
    if f_hi == 0.0:
        return hi
    side = 0
    x = lo
    for it in range(100):
        if it % 4 == 3:  # guarantee progress
            x = 0.5 * (lo + hi)
        else:
            x = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        fx = f(x)
        if fx == 0.0 or hi - lo < tol:
            return x
        if (fx > 0) == (f_lo > 0):
            lo, f_lo = x, fx
            if side == -1:
                f_hi *= 0.5
            side = -1
        else:
            hi, f_hi = x, fx
            if side == 1:
                f_lo *= 0.5
            side = 1
    return x


@dataclass(frozen=True)
class _Solution:
    current: float  # A, magnitude of the series current
    v_cell: float  # V
    compliance: str | None


class Chip:
    """A simulated chip with its device states.

    Args:
        params: device model parameters.
        seed: seed (int, list of ints or SeedSequence) of this die; everything derives from it.
        kind: ``"good"``, ``"dead"`` (open circuit) or ``"short"`` (BL-SL short of ``r_short``).
        process: process variation of this die.
    """

    ROWS = N_ROWS
    COLS_1T1R = N_COLS_1T1R
    PAIRS_2T2R = N_PAIRS_2T2R
    N_1T1R = ROWS * COLS_1T1R
    N_2T2R = ROWS * PAIRS_2T2R * 2

    def __init__(
        self,
        params: RRAMParams | None = None,
        seed: int | list[int] | np.random.SeedSequence = 0,
        kind: str = "good",
        process: DieProcess | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.params = params or RRAMParams()
        self.kind = kind
        self.process = process or DieProcess()
        self.pop = RRAMPopulation(self.N_1T1R + self.N_2T2R, self.params, seed, self.process)
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        sa_rng = np.random.default_rng(
            np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, 0x5A))
        )
        #: V, input offset of each PCSA (row, pair): device-to-device, static
        self.pcsa_offset = self.params.pcsa_offset_sigma_v * sa_rng.standard_normal(
            (self.ROWS, self.PAIRS_2T2R)
        )
        #: simulated time (s) of the last :meth:`age_to`, None before the first call
        self.t_last: float | None = None
        #: True once a bias, read or cycle touched the chip (saved by the wafer)
        self.touched = False
        self._seed = ss
        #: radiation response, made on the first dose (None: never irradiated)
        self._dose: DoseResponse | None = None
        #: the lab's dose reading (Gy) at the last :meth:`expose_to`
        self._dose_mark = 0.0

    # -- addressing ----------------------------------------------------------------------------
    def index(self, array: str, row: int, col: int, side: str = "BL") -> int:
        """Population index of a device; raises ValueError for an invalid address."""
        if array not in ARRAYS:
            raise ValueError(f"array must be '1T1R' or '2T2R', got {array!r}")
        if not isinstance(row, (int, np.integer)) or not 0 <= row < self.ROWS:
            raise ValueError(f"row {row!r} out of range 0..{self.ROWS - 1}")
        if array == "1T1R":
            if not isinstance(col, (int, np.integer)) or not 0 <= col < self.COLS_1T1R:
                raise ValueError(f"col {col!r} out of range 0..{self.COLS_1T1R - 1}")
            return int(row) * self.COLS_1T1R + int(col)
        if not isinstance(col, (int, np.integer)) or not 0 <= col < self.PAIRS_2T2R:
            raise ValueError(f"pair {col!r} out of range 0..{self.PAIRS_2T2R - 1}")
        if side not in ("BL", "BLB"):
            raise ValueError(f"side must be 'BL' or 'BLB', got {side!r}")
        return self.N_1T1R + (int(row) * self.PAIRS_2T2R + int(col)) * 2 + (side == "BLB")

    # -- circuit -------------------------------------------------------------------------------
    def _solve(
        self, g: float, v_bl: float, v_sl: float, v_wl: float, i_comp_bl: float | None,
        i_comp_sl: float | None, temperature_k: float,
    ) -> _Solution:
        """Series current and element voltage for element conductance ``g`` (S)."""
        p = self.params
        va = v_bl - v_sl
        if va == 0.0:
            return _Solution(0.0, 0.0, None)
        if temperature_k != 300.0:
            g = g * float(thermal_factor(p, g, temperature_k))
        w = float(nonlinear_weight(p, g))
        if va > 0:  # BL drives: source = SL, node between v_sl and v_bl

            def f(vn: float) -> float:
                return element_current_scalar(p, g, w, v_bl - vn) - transistor_current(
                    p, v_wl - v_sl, vn - v_sl, temperature_k
                )

            lo, hi = v_sl, v_bl
        else:  # SL drives: source = node N, drain = SL

            def f(vn: float) -> float:
                return transistor_current(
                    p, v_wl - vn, v_sl - vn, temperature_k
                ) - element_current_scalar(p, g, w, vn - v_bl)

            lo, hi = v_bl, v_sl
        vn = _root(f, lo, hi, f(lo), f(hi))
        v_cell = v_bl - vn
        i = abs(element_current_scalar(p, g, w, v_cell))
        comps = {k: c for k, c in (("BL", i_comp_bl), ("SL", i_comp_sl)) if c is not None}
        if comps:
            driver = "BL" if va > 0 else "SL"
            name = min(comps, key=lambda k: (abs(comps[k]), k != driver))
            limit = abs(comps[name])
            if i > limit:
                # the SMU in compliance lowers its voltage: the element carries exactly `limit`
                vmax = abs(v_cell)

                def fc(x: float) -> float:
                    return element_current_scalar(p, g, w, x) - limit

                x = _root(fc, 0.0, vmax, -limit, fc(vmax))
                return _Solution(limit, math.copysign(x, va), name)
        return _Solution(i, v_cell, None)

    def _compliance_for_switching(
        self, v_bl: float, v_sl: float, v_wl: float, i_comp_bl: float | None,
        i_comp_sl: float | None,
    ) -> float:
        """Current (A) available to a forming/SET event: min(transistor I_sat, SMU compliances)."""
        i_c = saturation_current(self.params, v_wl - min(v_sl, v_bl))
        for c in (i_comp_bl, i_comp_sl):
            if c is not None:
                i_c = min(i_c, abs(c))
        return i_c

    # -- public API ------------------------------------------------------------------------------
    def bias(
        self,
        array: str,
        row: int,
        col: int,
        side: str,
        v_bl: float,
        v_sl: float,
        v_wl: float,
        duration_s: float,
        i_comp_bl: float | None = None,
        i_comp_sl: float | None = None,
        temperature_k: float = 300.0,
        read: bool = True,
    ) -> CellResponse:
        """Apply terminal voltages (V) to one cell for ``duration_s`` (s); return the end state.

        ``read=False`` (a DC level held, nothing measured) returns the noiseless current and
        draws no read noise, so holding a level does not shift the noise of later reads.

        Forming/SET/RESET happen when the element voltage crosses the (time-dependent)
        thresholds; the circuit is then solved again with the new state (RESET repeatedly,
        since the element voltage grows as the resistance rises; the re-evaluations do not count
        the step's time again). The returned current includes read noise for an integration
        time of ``duration_s`` (shorter: more noise), HRS conduction is thermally activated.
        """
        i = self.index(array, row, col, side)
        if duration_s < 0:
            raise ValueError("duration_s must be >= 0")
        self.touched = True
        pop = self.pop
        if self.kind == "dead":
            noise = self.params.i_noise_floor * float(pop.rng.standard_normal())
            return CellResponse(noise, 0.0, None)
        if self.kind == "short":
            return self._bias_short(v_bl, v_sl, i_comp_bl, i_comp_sl)
        args = (v_bl, v_sl, v_wl, i_comp_bl, i_comp_sl, temperature_k)
        sol = self._solve(float(pop.g[i]), *args)
        if duration_s > 0:
            i_c = self._compliance_for_switching(v_bl, v_sl, v_wl, i_comp_bl, i_comp_sl)
            idx = np.array([i])
            for k in range(40):
                changed = pop.apply_pulse(idx, sol.v_cell, i_c, duration_s, temperature_k,
                                          same_step=k > 0)
                if not changed[0]:
                    break
                sol = self._solve(float(pop.g[i]), *args)
        sign = 1.0 if v_bl >= v_sl else -1.0
        if not read:
            return CellResponse(sign * sol.current, sol.v_cell, sol.compliance)
        t_int = duration_s if duration_s > 0 else 1e-8
        i_meas = sol.current * float(pop.noise_factor(i, t_int)[0])
        sigma = float(pop.white_noise_sigma(i, sol.current, t_int, temperature_k)[0])
        i_meas += sigma * float(pop.rng.standard_normal())
        sign = 1.0 if v_bl >= v_sl else -1.0
        return CellResponse(sign * i_meas, sol.v_cell, sol.compliance)

    def _bias_short(
        self, v_bl: float, v_sl: float, i_comp_bl: float | None, i_comp_sl: float | None
    ) -> CellResponse:
        va = v_bl - v_sl
        i = abs(va) / self.params.r_short
        comps = {k: abs(c) for k, c in (("BL", i_comp_bl), ("SL", i_comp_sl)) if c is not None}
        name = None
        if comps:
            driver = "BL" if va >= 0 else "SL"
            cand = min(comps, key=lambda k: (comps[k], k != driver))
            if i > comps[cand]:
                i, name = comps[cand], cand
        i *= 1.0 + self.params.noise_rel_lrs * float(self.pop.rng.standard_normal())
        return CellResponse(math.copysign(i, va) if va else 0.0, va, name)

    def cycle(
        self,
        array: str,
        row: int,
        col: int,
        side: str,
        n_cycles: int,
        set_bias: tuple[float, float, float, float],
        reset_bias: tuple[float, float, float, float],
        temperature_k: float = 300.0,
    ) -> None:
        """Apply ``n_cycles`` SET/RESET cycles to one cell quickly; ends after the last RESET.

        ``set_bias``/``reset_bias`` are ``(v_bl, v_sl, v_wl, duration_s)`` without SMU
        compliance (the transistor limits). The first cycle is simulated in full; if it switched
        both ways, the wear and cycle memory of the middle ``n - 2`` cycles are added in closed
        form and the last cycle is simulated in full again (so the final state reflects wear).
        """
        i = self.index(array, row, col, side)
        n = int(n_cycles)
        if n <= 0:
            return

        def one() -> bool:
            w0 = int(self.pop.wear[i])
            self.bias(array, row, col, side, *set_bias, temperature_k=temperature_k)
            set_ok = bool(self.pop.is_set[i])
            self.bias(array, row, col, side, *reset_bias, temperature_k=temperature_k)
            return set_ok and int(self.pop.wear[i]) > w0

        ok = one()
        if n == 1:
            return
        if ok and n > 2 and self.kind == "good":
            self.pop.advance_cycles(np.array([i]), n - 2)
        one()

    def pcsa_read(self, row: int, temperature_k: float = 300.0) -> np.ndarray:
        """Read a 2T2R row with the PCSAs: ``bool[32]``, bit = R_BL < R_BLB for each pair.

        Each sense amplifier compares the two discharge currents at ``pcsa_v_read``, with its
        devices' read noise and its own static input offset (``pcsa_offset``, a few mV), so
        nearly equal pairs may read either way and consistently so per amplifier.
        """
        return self.pcsa_xnor(row, None, temperature_k)

    def pcsa_xnor(self, row: int, inputs: np.ndarray | list[int] | None,
                  temperature_k: float = 300.0) -> np.ndarray:
        """In-memory XNOR of a 2T2R row with ``inputs`` (32 bits): ``bool[32]``.

        The input bit is applied on the pair's selection: input 1 connects BL/BLB to the
        amplifier's true/complement branches (output = weight), input 0 swaps them (output = NOT
        weight). ``inputs=None`` is a plain read (all inputs 1). The offset stays with the
        amplifier: a nearly balanced pair gives the offset's sign whatever the input.
        """
        if not isinstance(row, (int, np.integer)) or not 0 <= row < self.ROWS:
            raise ValueError(f"row {row!r} out of range 0..{self.ROWS - 1}")
        x = np.ones(self.PAIRS_2T2R, dtype=bool)
        if inputs is not None:
            x = np.asarray(inputs).astype(bool).ravel()
            if x.shape != (self.PAIRS_2T2R,):
                raise ValueError(f"inputs must be {self.PAIRS_2T2R} bits, got shape {x.shape}")
        self.touched = True
        start = self.N_1T1R + int(row) * self.PAIRS_2T2R * 2
        idx = np.arange(start, start + self.PAIRS_2T2R * 2)
        if self.kind != "good":
            return self.pop.rng.random(self.PAIRS_2T2R) < 0.5
        p = self.params
        i = self.pop.read(idx, p.pcsa_v_read, temperature_k=temperature_k)
        i = i.reshape(self.PAIRS_2T2R, 2)
        true_ = np.where(x, i[:, 0], i[:, 1])
        comp = np.where(x, i[:, 1], i[:, 0])
        off = self.pcsa_offset[int(row)] / p.pcsa_v_read
        return true_ * (1.0 + 0.5 * off) > comp * (1.0 - 0.5 * off)

    def popcount(self, row: int, inputs: np.ndarray | list[int] | None = None,
                 temperature_k: float = 300.0) -> int:
        """Number of ones of :meth:`pcsa_xnor` on ``row`` (the periphery's popcount, 0..32)."""
        return int(np.count_nonzero(self.pcsa_xnor(row, inputs, temperature_k)))

    def age_to(self, t_now_s: float, temperature_k: float) -> None:
        """Retention relaxation at ``temperature_k`` (K) from the last call to ``t_now_s`` (s).

        The first call (and any call with time running backwards, e.g. a new lab after a
        reload) only sets the clock.
        """
        if self.t_last is not None and t_now_s > self.t_last:
            if self.pop.relax(t_now_s - self.t_last, temperature_k):
                self.touched = True
        self.t_last = float(t_now_s)

    @property
    def dose_gy(self) -> float:
        """Total ionising dose (Gy(Si)) the chip has absorbed (kept with its saved state)."""
        return 0.0 if self._dose is None else self._dose.dose_gy

    def expose_to(self, lab_dose_gy: float) -> None:
        """The lab's radiation source has delivered ``lab_dose_gy`` (Gy(Si)) since the lab
        started: absorb what came since the last call (every chip of the lab is in the beam).

        A lower reading than the last (a new lab, whose dose starts at 0) only resets the mark.
        Effects: :mod:`instruments.sim.radiation_effects` (none below ``rad_onset_gy``).
        """
        lab_dose_gy = float(lab_dose_gy)
        delta = lab_dose_gy - self._dose_mark
        self._dose_mark = lab_dose_gy
        if not delta > 0:
            return
        if self._dose is None:
            self._dose = DoseResponse(self.pop, self._seed)
        self._dose.absorb(self._dose.dose_gy + delta)
        self.touched = True  # the absorbed dose is saved even where nothing moved yet

    def conductance(self, array: str) -> np.ndarray:
        """True (noise-free) low-field conductances (S): 1T1R (32, 32), 2T2R (32, 32, 2)."""
        if array == "1T1R":
            return self.pop.g[: self.N_1T1R].reshape(self.ROWS, self.COLS_1T1R).copy()
        if array == "2T2R":
            return self.pop.g[self.N_1T1R :].reshape(self.ROWS, self.PAIRS_2T2R, 2).copy()
        raise ValueError(f"array must be '1T1R' or '2T2R', got {array!r}")

    # -- persistence -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Dynamic state of the chip (device arrays, RNG state, clock)."""
        d = self.pop.state_dict()
        d["t_last"] = self.t_last
        d["kind"] = self.kind
        if self._dose is not None:
            d["dose_gy"] = self._dose.dose_gy
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore a state produced by :meth:`state_dict`."""
        self.pop.load_state_dict(d)
        t = d.get("t_last")
        self.t_last = None if t is None else float(t)
        dose = float(d.get("dose_gy", 0.0))
        if dose > 0:
            if self._dose is None:
                self._dose = DoseResponse(self.pop, self._seed)
            self._dose.restore(dose)
