"""Vectorised statistical model of HfO2 RRAM devices (the physics of the simulated lab).

(Longer than ~500 lines on purpose: one vectorised population whose forming, SET, RESET, read
and relaxation rules share the same state arrays; every parameter is in
:mod:`instruments.sim.rram_params`.)

The model is event based, in the spirit of the Synaptogen model (Hennen et al., 2022) and of
the bench's physics reference (``physics.md``): every device carries a small state vector
(conductance, formed flag, AR(1) cycle memory, wear, current thresholds) and every bias step either
leaves it alone or triggers a forming, SET or RESET event. All state lives in numpy arrays, so a
single call acts on any subset of a population of millions of devices.

Every number of the model is a field of :class:`RRAMParams`, with its unit and a tag:
``[F]`` found in a published source (see physics.md) or ``[E]`` an estimate to be calibrated.

Sign conventions (as in the 1T1R cell): ``v_cell`` is the voltage of the top electrode (bit-line
side) minus the bottom electrode. Forming and SET need positive ``v_cell``, RESET negative.
Conductances are in siemens, resistances in ohms, currents in amperes, times in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from instruments.sim.rram_params import K_B_EV, K_B_J, Q_E, T_ROOM_K, RRAMParams

IndexLike = np.ndarray | slice | list[int] | int
ArrayLike = np.ndarray | float


@dataclass(frozen=True)
class DieProcess:
    """Process variation of one die relative to the nominal parameters.

    Attributes:
        v_form_shift: V, added to ``RRAMParams.v_form_mean``.
        g_lrs_scale: 1, multiplies the LRS conductance (I_c / V_c).
        r_hrs_scale: 1, multiplies the HRS median.
    """

    v_form_shift: float = 0.0
    g_lrs_scale: float = 1.0
    r_hrs_scale: float = 1.0


# -- transistor ------------------------------------------------------------------------------------
def transistor_current(
    p: RRAMParams, v_gs: float, v_ds: float, temperature_k: float = 300.0
) -> float:
    """Drain current (A) of the access NMOS for ``v_ds >= 0`` (square law + subthreshold).

    Above threshold: ``k (V_ov V_DS - V_DS^2/2)`` in the linear region (a resistance
    1/(k V_ov) at small V_DS), ``k/2 V_ov^2 (1 + lambda V_DS)`` in saturation. Below threshold an
    exponential subthreshold current ``I_sub exp(V_ov / (n kT/q))`` (pA at V_GS = 0).
    """
    if v_ds <= 0.0:
        return 0.0
    vth = K_B_EV * temperature_k
    v_ov = v_gs - p.v_t
    sub = p.i_sub_threshold * math.exp(min(v_ov, 0.0) / (p.subthreshold_n * vth))
    sub *= -math.expm1(-v_ds / vth)
    if v_ov <= 0.0:
        return sub
    if v_ds < v_ov:
        sq = p.k_transistor * (v_ov * v_ds - 0.5 * v_ds * v_ds)
    else:
        sq = 0.5 * p.k_transistor * v_ov * v_ov
    return sq * (1.0 + p.lambda_clm * v_ds) + sub


def saturation_current(p: RRAMParams, v_gs: float) -> float:
    """Saturation current (A) ``k/2 (V_GS - V_T)^2`` of the access transistor (0 below V_T)."""
    v_ov = max(v_gs - p.v_t, 0.0)
    return 0.5 * p.k_transistor * v_ov * v_ov


# -- element I-V -----------------------------------------------------------------------------------
def nonlinear_weight(p: RRAMParams, g: ArrayLike) -> ArrayLike:
    """Weight (0..1) of the sinh I-V shape for conductance ``g`` (1 in HRS, ~0 in LRS)."""
    r = np.asarray(g, dtype=float) / p.g_nonlinear
    return 1.0 / (1.0 + r * r)


def element_current(p: RRAMParams, g: ArrayLike, v: ArrayLike) -> np.ndarray:
    """Current (A) through an RRAM element of low-field conductance ``g`` (S) at voltage ``v``.

    ``I = G V [1 + w (sinh(x)/x - 1)]`` with ``x = |V|/V0`` and ``w`` the nonlinear weight: ohmic
    in LRS, Stanford-like sinh in HRS; odd in V and strictly increasing.
    """
    g = np.asarray(g, dtype=float)
    v = np.asarray(v, dtype=float)
    x = np.abs(v) / p.v0_nonlinear
    with np.errstate(invalid="ignore", divide="ignore"):
        shape = np.where(x > 1e-6, np.sinh(np.minimum(x, 50.0)) / np.maximum(x, 1e-6), 1.0)
    w = nonlinear_weight(p, g)
    return g * v * (1.0 + w * (shape - 1.0))


def element_current_scalar(p: RRAMParams, g: float, w: float, v: float) -> float:
    """Scalar fast path of :func:`element_current` with precomputed nonlinear weight ``w``."""
    x = abs(v) / p.v0_nonlinear
    shape = math.sinh(min(x, 50.0)) / x if x > 1e-6 else 1.0
    return g * v * (1.0 + w * (shape - 1.0))


def thermal_factor(p: RRAMParams, g: ArrayLike, temperature_k: ArrayLike) -> np.ndarray:
    """Factor (1 at 300 K) on the low-field conductance ``g`` (S) at ``temperature_k`` (K).

    HRS-like states conduct by thermally activated transport (``hrs_conduction_ea_ev``), LRS
    filaments are metallic (``lrs_tcr_per_k``); the sinh weight mixes the two.
    """
    t = np.asarray(temperature_k, dtype=float)
    w = nonlinear_weight(p, g)
    act = np.exp(-p.hrs_conduction_ea_ev / K_B_EV * (1.0 / t - 1.0 / T_ROOM_K))
    metal = 1.0 / np.maximum(1.0 + p.lrs_tcr_per_k * (t - T_ROOM_K), 0.1)
    return w * act + (1.0 - w) * metal


def _beta_normal(rng: np.random.Generator, shape: float, n: int) -> np.ndarray:
    """Standardised (mean 0, sd 1) symmetric beta(shape, shape) draws; normal for huge shape."""
    if shape >= 50.0:
        return rng.standard_normal(n)
    x = rng.beta(shape, shape, n)
    return (x - 0.5) * 2.0 * math.sqrt(2.0 * shape + 1.0)


def _pow10(x: np.ndarray) -> np.ndarray:
    """10**x clipped to avoid overflow (x in decades)."""
    return np.power(10.0, np.clip(x, -300.0, 300.0))


# -- population ------------------------------------------------------------------------------
_DYNAMIC = (
    "g", "formed", "is_set", "set_ic", "v_set_cur", "v_reset_cur", "reset_od", "r_start",
    "z_hrs", "a_lrs", "a_hrs", "wear",
    "g_goal", "s_form", "s_reset", "walk", "damage", "cyc_icf", "cyc_vf",
)
#: dynamic arrays added after the first saved format, with their value for old saved states
_DYNAMIC_DEFAULTS = {
    "g_goal": None, "s_form": 0.0, "s_reset": 0.0, "walk": 0.0, "damage": None,
    "cyc_icf": 1.0, "cyc_vf": 1.0,
}
_STATIC = ("v_form", "lrs_d2d", "hrs_d2d", "n_life", "ret_rate", "rtn_amp")


class RRAMPopulation:
    """State of ``n`` RRAM devices, all numpy arrays of length ``n``.

    Static (drawn once from ``seed``, never saved because they are reproducible):
        ``v_form`` (V), ``lrs_d2d`` (relative LRS factor), ``hrs_d2d`` (HRS median factor),
        ``n_life`` (reference cycles to failure), ``ret_rate`` (relative retention rate),
        ``rtn_amp`` (1).
    Dynamic (saved by :meth:`state_dict`):
        ``g`` (S, true low-field conductance at 300 K), ``formed``, ``is_set`` (LRS since the last
        SET or forming), ``set_ic`` (A, compliance of the last SET), ``g_goal`` (S, conductance
        the current SET event grows toward), ``v_set_cur``/``v_reset_cur`` (V, thresholds drawn
        for the current cycle), ``s_form``/``s_reset`` (1, accumulated forming / RESET stress in
        units of the threshold stress: the event happens at 1), ``reset_od`` (V, effective RESET
        overdrive reached in the current RESET event), ``r_start`` (Ohm, resistance when that
        RESET event began), ``z_hrs`` (normalised HRS deviation of the event), ``walk`` (HRS
        random walk along the event), ``a_lrs``/``a_hrs`` (AR(1) states), ``wear`` (completed
        SET/RESET cycles), ``damage`` (wear in reference cycles: each cycle counts by its
        programming strength), ``cyc_icf``/``cyc_vf`` (strength factors of the last cycle).

    Args:
        n: number of devices.
        params: model parameters.
        seed: integer or SeedSequence; device parameters and the event RNG derive from it.
        process: die-level process variation.
    """

    def __init__(
        self,
        n: int,
        params: RRAMParams | None = None,
        seed: int | np.random.SeedSequence | list[int] = 0,
        process: DieProcess | None = None,
    ) -> None:
        self.n = int(n)
        self.params = p = params or RRAMParams()
        self.process = process or DieProcess()
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        static_ss, dyn_ss = ss.spawn(2)
        srng = np.random.default_rng(static_ss)
        #: RNG of every cycle-to-cycle draw and of read noise (its state is saved).
        self.rng = np.random.default_rng(dyn_ss)
        n = self.n
        # static per-device parameters (V_form's shape drawn last: the other draws keep their
        # order whatever the shape)
        z_form = srng.standard_normal(n)
        self.lrs_d2d = self.process.g_lrs_scale * np.maximum(
            1.0 + p.lrs_d2d_sigma * srng.standard_normal(n), 0.5
        )
        self.hrs_d2d = self.process.r_hrs_scale * 10.0 ** (
            p.hrs_d2d_sigma_log10 * srng.standard_normal(n)
        )
        self.n_life = p.endurance_cycles_median * np.exp(
            p.endurance_sigma_ln * srng.standard_normal(n)
        )
        self.ret_rate = np.exp(p.retention_rate_sigma_ln * srng.standard_normal(n))
        self.rtn_amp = srng.uniform(p.rtn_amp_min, p.rtn_amp_max, n)
        g0 = p.g_unformed_median * np.exp(p.g_unformed_sigma_ln * srng.standard_normal(n))
        if p.v_form_shape < 50.0:
            z_form = _beta_normal(srng, p.v_form_shape, n)
        self.v_form = p.v_form_mean + self.process.v_form_shift + p.v_form_sigma * z_form
        #: RNG of the gradual-switching steps (partial SET noise, RESET walk)
        self.step_rng = np.random.default_rng(srng.integers(0, 2**63, 2))
        # dynamic state
        self.g = np.minimum(g0, 0.09e-6)
        self.formed = np.zeros(n, dtype=bool)
        self.is_set = np.zeros(n, dtype=bool)
        self.set_ic = np.zeros(n)
        self.g_goal = self.g.copy()
        self.v_set_cur = p.v_set_mean + p.v_set_sigma * self.rng.standard_normal(n)
        self.v_reset_cur = p.v_reset_mean + p.v_reset_sigma * self.rng.standard_normal(n)
        self.s_form = np.zeros(n)
        self.s_reset = np.zeros(n)
        self.reset_od = np.full(n, -np.inf)
        self.r_start = 1.0 / self.g
        self.z_hrs = np.zeros(n)
        self.walk = np.zeros(n)
        self.a_lrs = self.rng.standard_normal(n)
        self.a_hrs = self.rng.standard_normal(n)
        self.wear = np.zeros(n, dtype=np.int64)
        self.damage = np.zeros(n)
        self.cyc_icf = np.ones(n)
        self.cyc_vf = np.ones(n)
        #: radiation (instruments/sim/radiation_effects.py): retention rate factor (1) and
        #: SET/RESET threshold shift (V) of the dose absorbed so far
        self.rad_retention_factor = 1.0
        self.rad_threshold_shift = 0.0
        # stress before the present step (re-evaluations of one step replace, not add)
        self._s_form_base = np.zeros(n)
        self._s_reset_base = np.zeros(n)

    # -- helpers -------------------------------------------------------------------------------
    def _draw(self, mean: float, sigma: float, size: int) -> np.ndarray:
        """Normal draws from the event RNG."""
        return mean + sigma * self.rng.standard_normal(size)

    def _ar_step(self, a: np.ndarray, steps: int | np.ndarray = 1) -> np.ndarray:
        """Advance AR(1) states ``a`` by ``steps`` cycles (stationary N(0, 1))."""
        rho_n = self.params.ar_rho ** np.asarray(steps, dtype=float)
        eps = self.rng.standard_normal(a.shape)
        return rho_n * a + np.sqrt(np.maximum(1.0 - rho_n * rho_n, 0.0)) * eps

    def _c2c(self, a: np.ndarray) -> np.ndarray:
        """Normalised c2c deviation: AR(1) part ``a`` mixed with fresh white noise."""
        w = self.params.ar_weight
        return math.sqrt(w) * a + math.sqrt(1.0 - w) * self.rng.standard_normal(a.shape)

    def lrs_target(self, idx: IndexLike, i_c: ArrayLike) -> np.ndarray:
        """Mean LRS conductance (S) each device reaches under compliance ``i_c`` (A)."""
        return np.asarray(i_c, dtype=float) / self.params.v_c * self.lrs_d2d[idx]

    def _draw_lrs(self, idx: np.ndarray, i_c: np.ndarray) -> np.ndarray:
        p = self.params
        g_mean = self.lrs_target(idx, i_c)
        self.a_lrs[idx] = self._ar_step(self.a_lrs[idx])
        sigma = p.k_s * 1e-6 * np.sqrt(np.maximum(g_mean, 0.0) * 1e6)
        g = g_mean + sigma * self._c2c(self.a_lrs[idx])
        return np.clip(g, p.g_lrs_min, p.g_max)

    def closure(self, idx: IndexLike) -> np.ndarray:
        """Fraction (0..1) by which the memory window has closed from wear."""
        w = np.maximum(self.damage[idx], 1.0)
        dec = np.log10(w / self.n_life[idx])
        return np.clip(dec / self.params.endurance_closing_decades + 1.0, 0.0, 1.0)

    def stuck(self, idx: IndexLike) -> np.ndarray:
        """True for devices worn out (stuck in LRS)."""
        return self.damage[idx] >= self.n_life[idx]

    def cycle_strength(self, i_c: ArrayLike, reset_excess_v: ArrayLike = 0.0) -> np.ndarray:
        """Wear of one SET/RESET cycle in reference cycles (1 at 100 uA, full RESET).

        ``(I_c / endurance_i_ref)^endurance_ic_exponent * exp(excess / endurance_v_scale)``, with
        ``reset_excess_v`` (V) the RESET overdrive beyond a full RESET. Lifetime = n_life / this.
        """
        p = self.params
        icf = (np.maximum(np.asarray(i_c, dtype=float), 1e-9) / p.endurance_i_ref) ** (
            p.endurance_ic_exponent
        )
        return icf * np.exp(np.maximum(np.asarray(reset_excess_v, dtype=float), 0.0)
                            / p.endurance_v_scale)

    @staticmethod
    def _accumulate(s: np.ndarray, base: np.ndarray, j: np.ndarray, contrib: np.ndarray,
                    same_step: bool) -> np.ndarray:
        """Add one step's stress ``contrib`` to ``s[j]`` (a re-evaluation replaces it)."""
        if same_step:
            s[j] = np.maximum(s[j], base[j] + contrib)
        else:
            base[j] = s[j]
            s[j] = s[j] + contrib
        return s[j]

    # -- events ----------------------------------------------------------------------------------
    def apply_pulse(
        self,
        idx: IndexLike,
        v_cell: ArrayLike,
        i_comp: ArrayLike,
        duration_s: ArrayLike,
        temperature_k: float = T_ROOM_K,
        same_step: bool = False,
    ) -> np.ndarray:
        """Apply one bias step of ``duration_s`` (s) at ``v_cell`` (V) to devices ``idx``.

        ``i_comp`` (A) is the compliance current available to a forming/SET event (the smaller
        of the access transistor's saturation current and the SMU compliance). A step of time t
        at overdrive dV counts ``t / t_ref 10^(dV / kinetics)`` threshold stresses: forming and
        RESET stress accumulate across steps (a staircase forms earlier; identical RESET pulses
        RESET gradually, largest steps first); a SET pulse of stress r grows ln G a fraction
        ``1 - exp(-(r - 1) / set_gradual_r)`` toward its compliance level (weak or short pulses:
        gradual; strong: abrupt). Thresholds shift with ``temperature_k`` (K). ``same_step``
        re-evaluates the previous step at a new voltage (the circuit solved again after a state
        change) without counting its time twice. ``idx`` must not repeat a device within a call.

        Returns:
            bool array: True where the device state changed (formed, SET or RESET further).
        """
        p = self.params
        idx = np.arange(self.n)[idx] if not isinstance(idx, np.ndarray) else idx
        idx = np.atleast_1d(idx)
        m = idx.size
        v = np.broadcast_to(np.asarray(v_cell, dtype=float), (m,))
        ic = np.broadcast_to(np.asarray(i_comp, dtype=float), (m,))
        t = np.maximum(np.broadcast_to(np.asarray(duration_s, dtype=float), (m,)), 1e-15)
        kin = p.kinetics_v_per_decade
        d_temp = float(temperature_k) - T_ROOM_K
        shift_sw = p.threshold_tc_v_per_k * d_temp + self.rad_threshold_shift
        changed = np.zeros(m, dtype=bool)

        formed = self.formed[idx]
        cand = ~formed & (ic > 0) & (v > 0)
        if cand.any():
            changed |= self._form(idx, cand, v, ic, t, d_temp, same_step)
        # SET (formed devices, positive polarity)
        od_set = v - (self.v_set_cur[idx] + shift_sw) + kin * np.log10(t / p.t_ref_switch)
        above = formed & (od_set > 0) & (ic > 0)
        if above.any():
            changed |= self._set(idx, above, od_set, ic, t, same_step)
        # RESET (formed devices, negative polarity)
        neg = formed & (v < 0)
        if neg.any():
            changed |= self._reset(idx, neg, v, t, shift_sw, same_step)
        return changed

    def _form(self, idx: np.ndarray, cand: np.ndarray, v: np.ndarray, ic: np.ndarray,
              t: np.ndarray, d_temp: float, same_step: bool) -> np.ndarray:
        """Forming of devices ``idx[cand]`` (stress accumulates across steps); returns changed.

        ``d_temp`` (K) is the chuck temperature above room temperature.
        """
        p = self.params
        changed = np.zeros(idx.size, dtype=bool)
        j = idx[cand]
        od = v[cand] - (self.v_form[j] + p.form_tc_v_per_k * d_temp)
        contrib = t[cand] / p.t_ref_form * _pow10(od / p.kinetics_v_per_decade)
        s = self._accumulate(self.s_form, self._s_form_base, j, contrib, same_step)
        changed[np.flatnonzero(cand)[s >= 1.0]] = True
        if changed.any():
            j = idx[changed]
            self.g[j] = self._draw_lrs(j, ic[changed])
            self.g_goal[j] = self.g[j]
            self.formed[j] = True
            self.is_set[j] = True
            self.set_ic[j] = ic[changed]
            self.s_reset[j] = 0.0
            self.v_reset_cur[j] = self._draw(p.v_reset_mean, p.v_reset_sigma, j.size)
        return changed

    def _set(self, idx: np.ndarray, above: np.ndarray, od_set: np.ndarray, ic: np.ndarray,
             t: np.ndarray, same_step: bool) -> np.ndarray:
        """SET events and partial SET growth of devices ``idx[above]``; returns changed."""
        p = self.params
        m = idx.size
        changed = np.zeros(m, dtype=bool)
        is_set = self.is_set[idx]
        new = above & (~is_set | (ic > self.set_ic[idx] * (1.0 + p.set_recompliance_margin)))
        if new.any():  # a SET event (or a higher compliance): a new goal conductance
            j = idx[new]
            g_new = self._draw_lrs(j, ic[new])
            was = self.is_set[j]
            # a SET never lowers G (a compliance below the present state leaves it)
            self.g_goal[j] = np.where(was, np.maximum.reduce([self.g[j], self.g_goal[j], g_new]),
                                      np.maximum(g_new, self.g[j]))
            self.set_ic[j] = np.where(was, np.maximum(self.set_ic[j], ic[new]), ic[new])
            fresh = j[~was]
            self.is_set[j] = True
            self.s_reset[fresh] = 0.0
            self.reset_od[fresh] = -np.inf
            self.v_reset_cur[fresh] = self._draw(p.v_reset_mean, p.v_reset_sigma, fresh.size)
        grow = new | (above & is_set & (self.g[idx] < self.g_goal[idx] * (1.0 - 1e-3)))
        if same_step:
            grow &= new
        if grow.any():
            j = idx[grow]
            r = _pow10(od_set[grow] / p.kinetics_v_per_decade)
            rate = 1.0 / p.set_gradual_r + t[grow] / p.set_runaway_time
            f = -np.expm1(-np.maximum(r - 1.0, 0.0) * rate)
            ln_g = np.log(self.g[j])
            gap = np.log(self.g_goal[j]) - ln_g
            noise = p.set_step_noise * np.sqrt(f * (1.0 - f)) * np.abs(gap)
            step = f * gap + noise * self.step_rng.standard_normal(j.size)
            # the noisy step never passes the compliance-limited level it grows toward
            self.g[j] = np.clip(np.exp(np.minimum(ln_g + step, ln_g + gap)), 1e-9, p.g_max)
            changed[np.flatnonzero(grow)] = np.abs(step) > 1e-6
        return changed

    def _reset(self, idx: np.ndarray, neg: np.ndarray, v: np.ndarray, t: np.ndarray,
               shift_sw: float, same_step: bool) -> np.ndarray:
        """Accumulate RESET stress on ``idx[neg]``; RESET events and deepening; returns changed."""
        p = self.params
        kin = p.kinetics_v_per_decade
        m = idx.size
        changed = np.zeros(m, dtype=bool)
        j = idx[neg]
        od = -v[neg] - (self.v_reset_cur[j] + shift_sw)
        contrib = t[neg] / p.t_ref_switch * _pow10(od / kin)
        s = self._accumulate(self.s_reset, self._s_reset_base, j, contrib, same_step)
        with np.errstate(divide="ignore"):
            od_eff = kin * np.log10(s)
        rs = od_eff > 0
        if not rs.any():
            return changed
        pos = np.flatnonzero(neg)[rs]
        j = j[rs]
        od_eff = od_eff[rs]
        start = self.is_set[j]
        if start.any():  # a new RESET event begins: one more completed cycle
            s_ = j[start]
            self.cyc_icf[s_] = self.cycle_strength(self.set_ic[s_])
            self.cyc_vf[s_] = 1.0
            self.damage[s_] += self.cyc_icf[s_]
            self.is_set[s_] = False
            self.set_ic[s_] = 0.0
            self.r_start[s_] = 1.0 / self.g[s_]
            self.reset_od[s_] = -np.inf
            self.walk[s_] = 0.0
            self.a_hrs[s_] = self._ar_step(self.a_hrs[s_])
            self.z_hrs[s_] = self._c2c(self.a_hrs[s_])
            self.wear[s_] += 1
            self.v_set_cur[s_] = self._draw(p.v_set_mean, p.v_set_sigma, s_.size)
        deeper = od_eff > self.reset_od[j]
        k = j[deeper]
        if not k.size:
            return changed
        od_new = od_eff[deeper]
        od_full = p.v_reset_full - p.v_reset_mean
        frac_old = np.clip(np.nan_to_num(self.reset_od[k], neginf=0.0) / od_full, 0.0, 1.0)
        frac_new = np.clip(od_new / od_full, 0.0, 1.0)
        self.walk[k] += np.sqrt(frac_new - frac_old) * self.step_rng.standard_normal(k.size)
        gain = od_new - np.maximum(self.reset_od[k], 0.0)
        self.reset_od[k] = od_new
        vf = np.exp(np.maximum(od_new - od_full, 0.0) / p.endurance_v_scale)
        self.damage[k] += self.cyc_icf[k] * np.maximum(vf - self.cyc_vf[k], 0.0)
        self.cyc_vf[k] = np.maximum(vf, self.cyc_vf[k])
        r = self._hrs_resistance(k)
        ok = ~self.stuck(k)
        # never above the event's start conductance (also not by rounding 1 / (1 / g))
        g_cap = np.minimum(self.g[k], 1.0 / self.r_start[k])
        g_new = np.where(r > self.r_start[k], np.clip(1.0 / r, 1e-9, p.g_max), g_cap)
        # quasi-static steps (longer than the runaway time) RESET monotonically; pulses may not
        slow = t[neg][rs][deeper] > p.set_runaway_time
        g_new = np.where(slow, np.minimum(g_new, self.g[k]), g_new)
        self.g[k[ok]] = g_new[ok]
        changed[pos[deeper][ok]] = gain[ok] > 1e-4
        return changed

    def _hrs_resistance(self, j: np.ndarray) -> np.ndarray:
        """Resistance (Ohm) after RESET for the devices' current event (overdrive, start R)."""
        p = self.params
        od = self.reset_od[j]
        od_full = p.v_reset_full - p.v_reset_mean
        frac = np.clip(od / od_full, 0.0, 1.0)
        ln_start = np.log(self.r_start[j])
        ln_full = np.log(p.r_hrs_median * self.hrs_d2d[j])
        extra = np.maximum(od - od_full, 0.0) / p.v_r_hrs
        ln_med = np.minimum(ln_full + extra, math.log(p.r_hrs_max))
        # wear closes the window: the RESET level falls toward the start (LRS) level
        open_ = 1.0 - self.closure(j)
        w = p.reset_walk_fraction
        ln_r = ln_start + frac * open_ * np.maximum(ln_med - ln_start, 0.0)
        ln_r += open_ * p.hrs_sigma_ln * (
            frac * math.sqrt(1.0 - w) * self.z_hrs[j] + math.sqrt(w) * self.walk[j]
        )
        return np.maximum(np.exp(ln_r), self.r_start[j])

    # -- fast cycling ---------------------------------------------------------------------------
    def advance_cycles(self, idx: IndexLike, n_cycles: int) -> None:
        """Account for ``n_cycles`` SET/RESET cycles without simulating each one.

        Adds the wear (each cycle as strong as the last simulated one) and advances the AR(1)
        memories in closed form (``rho^n``), so the next explicit SET/RESET sees the right wear
        and correlation. Used by ``Chip.cycle``.
        """
        if n_cycles <= 0:
            return
        idx = np.atleast_1d(np.arange(self.n)[idx])
        self.wear[idx] += int(n_cycles)
        self.damage[idx] += int(n_cycles) * self.cyc_icf[idx] * self.cyc_vf[idx]
        self.a_lrs[idx] = self._ar_step(self.a_lrs[idx], n_cycles)
        self.a_hrs[idx] = self._ar_step(self.a_hrs[idx], n_cycles)

    # -- read --------------------------------------------------------------------------------------
    def current(self, idx: IndexLike, v: ArrayLike, temperature_k: float = T_ROOM_K
                ) -> np.ndarray:
        """Noise-free element current (A) at element voltage ``v`` (V) and ``temperature_k``."""
        g = self.g[idx]
        if temperature_k != T_ROOM_K:
            g = g * thermal_factor(self.params, g, temperature_k)
        return element_current(self.params, g, v)

    def noise_factor(self, idx: IndexLike, t_int: float | None = None) -> np.ndarray:
        """Multiplicative 1/f + random-telegraph read-noise factor per device.

        The 1/f variance grows as ln(t_obs / t_int) (``t_int`` in s, default ``t_noise_ref``);
        the telegraph noise of HRS cells is symmetric (+-amp/2, mean zero).
        """
        p = self.params
        g = np.atleast_1d(self.g[idx])
        h = nonlinear_weight(p, g)
        sigma = p.noise_rel_lrs + (p.noise_rel_hrs - p.noise_rel_lrs) * h
        if t_int is not None and t_int != p.t_noise_ref:
            t = min(max(float(t_int), 1e-10), p.t_noise_observation / 10.0)
            ref = math.log(p.t_noise_observation / p.t_noise_ref)
            sigma = sigma * math.sqrt(math.log(p.t_noise_observation / t) / ref)
        sign = np.where(self.rng.random(g.shape) < 0.5, 0.5, -0.5)
        rtn = np.atleast_1d(self.rtn_amp[idx]) * h * sign
        return 1.0 + sigma * self.rng.standard_normal(g.shape) + rtn

    def white_noise_sigma(self, idx: IndexLike, i_abs: ArrayLike, t_int: float | None,
                          temperature_k: float = T_ROOM_K) -> np.ndarray:
        """Johnson + shot current noise (A, sigma) over B = 1 / (2 t_int), plus the floor."""
        p = self.params
        t = max(float(t_int if t_int is not None else p.t_noise_ref), 1e-10)
        bw = 1.0 / (2.0 * t)
        g = np.atleast_1d(self.g[idx])
        psd = 4.0 * K_B_J * float(temperature_k) * g + 2.0 * Q_E * np.abs(i_abs)
        return np.sqrt(psd * bw + p.i_noise_floor**2)

    def read(self, idx: IndexLike, v_read: ArrayLike, t_int: float | None = None,
             temperature_k: float = T_ROOM_K) -> np.ndarray:
        """Read current (A) at element voltage ``v_read`` (V) with read noise; state unchanged.

        ``t_int`` (s) is the integration time (default ``t_noise_ref``).
        """
        i = np.atleast_1d(self.current(idx, v_read, temperature_k))
        i = i * self.noise_factor(idx, t_int)
        sigma = self.white_noise_sigma(idx, i, t_int, temperature_k)
        return i + sigma * self.rng.standard_normal(i.shape)

    # -- retention ---------------------------------------------------------------------------------
    def relax(self, dt_s: float, temperature_k: float) -> bool:
        """Retention: ln G of formed devices relaxes for ``dt_s`` seconds at ``temperature_k``.

        LRS states relax toward ``g_relax_lrs`` at ``ret_rate * A exp(-E_a / kT) * (I_ref /
        I_c)^exponent`` (weaker filaments faster), HRS states toward ``g_relax`` at
        their own (higher) activation energy ``retention_hrs_ea_ev``. Negligible at 300 K, a few
        per cent of the ln-window in 10 years at 85 C, lost within hours at 250-300 C.

        Returns:
            True if any state changed noticeably (relative change above ~1e-9).
        """
        if dt_s <= 0:
            return False
        p = self.params
        rate = p.retention_attempt_rate * math.exp(-p.retention_ea_ev / (K_B_EV * temperature_k))
        x = rate * dt_s * self.rad_retention_factor
        f = self.formed
        if x < 1e-9 or not f.any():
            return False
        lrs = f & self.is_set
        hrs = f & ~self.is_set
        if lrs.any():
            ic = np.maximum(self.set_ic[lrs], 1e-7)
            k = self.ret_rate[lrs] * (p.retention_i_ref / ic) ** p.retention_ic_exponent
            ln_mid = math.log(p.g_relax_lrs)
            self.g[lrs] = np.exp(ln_mid + (np.log(self.g[lrs]) - ln_mid) * np.exp(-x * k))
        if hrs.any():
            x_h = p.retention_hrs_attempt_rate * dt_s * self.rad_retention_factor * math.exp(
                -p.retention_hrs_ea_ev / (K_B_EV * temperature_k))
            k = self.ret_rate[hrs] * (x_h / x)
            ln_mid = math.log(p.g_relax)
            self.g[hrs] = np.exp(ln_mid + (np.log(self.g[hrs]) - ln_mid) * np.exp(-x * k))
        return True

    # -- persistence -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Dynamic state: arrays plus the RNG state (JSON-able dict under ``"rng"``)."""
        d: dict[str, Any] = {k: getattr(self, k).copy() for k in _DYNAMIC}
        d["rng"] = self.rng.bit_generator.state
        d["step_rng"] = self.step_rng.bit_generator.state
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore a state produced by :meth:`state_dict` (static parameters come from the seed).

        States saved before a field existed get its default (``g_goal`` = ``g``, ``damage`` =
        ``wear``).
        """
        for k in _DYNAMIC:
            if k not in d and k in _DYNAMIC_DEFAULTS:
                continue
            arr = np.asarray(d[k])
            if arr.shape != (self.n,):
                raise ValueError(f"state {k!r} has shape {arr.shape}, expected ({self.n},)")
            setattr(self, k, arr.astype(getattr(self, k).dtype, copy=True))
        for k, default in _DYNAMIC_DEFAULTS.items():
            if k in d:
                continue
            if k == "g_goal":
                self.g_goal = self.g.copy()
            elif k == "damage":
                self.damage = self.wear.astype(float)
            else:
                setattr(self, k, np.full(self.n, default))
        self.rng.bit_generator.state = d["rng"]
        if "step_rng" in d:
            self.step_rng.bit_generator.state = d["step_rng"]


__all__ = [
    "K_B_EV", "DieProcess", "RRAMParams", "RRAMPopulation", "element_current",
    "element_current_scalar", "nonlinear_weight", "saturation_current", "thermal_factor",
    "transistor_current",
]
