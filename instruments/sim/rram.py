"""Vectorised statistical model of HfO2 RRAM devices (the physics of the simulated lab).

The model is event based, in the spirit of the Synaptogen model (Hennen et al., 2022) and of
/work/shared/reference/physics.md: every device carries a small state vector (conductance, formed
flag, AR(1) cycle memory, wear, current thresholds) and every bias step either leaves it alone or
triggers a forming, SET or RESET event. All state lives in numpy arrays, so a single call acts on
any subset of a population of millions of devices.

Every number of the model is a field of :class:`RRAMParams`, with its unit and a tag:
``[F]`` found in a published source (see physics.md) or ``[E]`` an estimate to be calibrated.

Sign conventions (as in the 1T1R cell): ``v_cell`` is the voltage of the top electrode (bit-line
side) minus the bottom electrode. Forming and SET need positive ``v_cell``, RESET negative.
Conductances are in siemens, resistances in ohms, currents in amperes, times in seconds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Boltzmann constant in eV/K.
K_B_EV = 8.617333262e-5

IndexLike = np.ndarray | slice | list[int] | int
ArrayLike = np.ndarray | float


@dataclass(frozen=True)
class RRAMParams:
    """Every parameter of the RRAM device model (LETI-like 130 nm TiN/HfO2/Ti/TiN 1T1R cell).

    Units are in the field names' docstrings; tags: [F] published, [E] estimate.
    """

    # -- fresh (unformed) devices -------------------------------------------------------------
    g_unformed_median: float = 0.02e-6
    """S. Median low-field conductance of a fresh cell; [F] SkyWater: G < 0.1 uS."""
    g_unformed_sigma_ln: float = 0.5
    """1 (ln units). Device-to-device spread of the fresh-cell conductance. [E]"""

    # -- forming -------------------------------------------------------------------------------
    v_form_mean: float = 2.7
    """V. Mean quasi-static forming voltage at the wafer centre for ``t_ref_form`` steps. [E]"""
    v_form_sigma: float = 0.25
    """V. Device-to-device sigma of the forming voltage. [E]"""
    t_ref_form: float = 1e-3
    """s. Stress time at which a device forms exactly at its drawn V_form. [E]"""
    kinetics_v_per_decade: float = 0.075
    """V/decade. Switching thresholds drop by this much per decade of stress time. [E]"""

    # -- SET / LRS ------------------------------------------------------------------------------
    v_set_mean: float = 0.68
    """V. SET threshold across the cell at ``t_ref_switch``. [F] Synaptogen fit of LETI cells."""
    v_set_sigma: float = 0.06
    """V. Cycle-to-cycle sigma of the SET threshold (drawn every cycle). [F]"""
    t_ref_switch: float = 1e-3
    """s. Stress time at which SET/RESET occur exactly at their drawn thresholds. [E]"""
    v_c: float = 1.1
    """V. LRS conductance after SET/forming is G = I_c / v_c (I_c: active compliance). [E]"""
    k_s: float = 0.7
    """uS^0.5. Cycle-to-cycle LRS sigma_G = k_s sqrt(G) with G in uS. [E] (4.5 % at 4.6 kOhm [F])"""
    lrs_d2d_sigma: float = 0.04
    """1 (relative). Device-to-device spread of the LRS conductance. [F] Synaptogen."""
    g_lrs_min: float = 1e-6
    """S. Lower clip of a freshly SET conductance. [E]"""
    g_max: float = 2e-3
    """S. Upper clip of any device conductance (filament saturation). [E]"""
    set_recompliance_margin: float = 0.05
    """1. An LRS device is SET again only if I_c exceeds its last SET's I_c by this fraction. [E]"""

    # -- RESET / HRS ----------------------------------------------------------------------------
    v_reset_mean: float = 0.73
    """V. RESET onset |V_cell| at ``t_ref_switch``. [F] Synaptogen."""
    v_reset_sigma: float = 0.036
    """V. Cycle-to-cycle sigma of the RESET onset. [F]"""
    v_reset_full: float = 1.46
    """V. |V_cell| of a full RESET (where the HRS median is ``r_hrs_median``). [F] Synaptogen."""
    r_hrs_median: float = 74e3
    """Ohm. HRS median after a full RESET. [F] Synaptogen."""
    hrs_sigma_ln: float = 0.44
    """1 (ln R). Cycle-to-cycle HRS spread (lognormal). [F] Synaptogen."""
    hrs_d2d_sigma_log10: float = 0.065
    """decades. Device-to-device sigma of log10 of the HRS median. [F] Synaptogen."""
    v_r_hrs: float = 0.6
    """V. Beyond full RESET, the HRS median grows as exp((V_stop - V_full) / v_r_hrs). [E]"""
    r_hrs_max: float = 1e6
    """Ohm. Upper clip of the HRS median (deep RESET). [E] physics.md range 30 kOhm-1 MOhm."""

    # -- cycle memory ---------------------------------------------------------------------------
    ar_rho: float = 0.97
    """1. AR(1) coefficient of the per-device cycle memory (~40 cycles). [F] IEEE EDL 2016."""
    ar_weight: float = 0.5
    """1. Fraction of the c2c variance carried by the AR(1) term (the rest is white). [E]"""

    # -- I-V nonlinearity (Stanford-like sinh) ---------------------------------------------------
    v0_nonlinear: float = 0.8
    """V. I = G V0 sinh(V/V0) shape for HRS-like states (Stanford V0 = 0.25 V [F], softened). [E]"""
    g_nonlinear: float = 20e-6
    """S. Weight of the sinh shape: 1 / (1 + (G / g_nonlinear)^2); HRS nonlinear, LRS ohmic. [E]"""

    # -- read noise ------------------------------------------------------------------------------
    noise_rel_lrs: float = 0.005
    """1. Relative white read noise of an LRS cell. [E] (Johnson + shot at ~100 MHz [F])"""
    noise_rel_hrs: float = 0.01
    """1. Relative white read noise of an HRS cell. [E]"""
    rtn_amp_min: float = 0.01
    """1. Smallest per-device random-telegraph amplitude in HRS. [F]/[E] 1-5 %."""
    rtn_amp_max: float = 0.05
    """1. Largest per-device random-telegraph amplitude in HRS. [F]/[E]"""
    i_noise_floor: float = 2e-12
    """A. Absolute current noise floor (sigma) of a read. [E]"""

    # -- retention -------------------------------------------------------------------------------
    retention_ea_ev: float = 1.2
    """eV. Activation energy of the relaxation. [E]/[F] 1.0-1.5 eV."""
    retention_attempt_rate: float = 6e8
    """1/s. Prefactor A of the relaxation rate A exp(-E_a / kT) (~1e-4 /s at 200 C). [E]"""
    retention_rate_sigma_ln: float = 0.7
    """1 (ln). Device-to-device spread of the relaxation rate. [E]"""
    g_relax: float = 30e-6
    """S. Intermediate conductance the states relax toward (in ln G). [E]"""

    # -- endurance --------------------------------------------------------------------------------
    endurance_cycles_median: float = 1e8
    """cycles. Median number of SET/RESET cycles to failure (stuck LRS). [F] 1e8 at 100 uA."""
    endurance_sigma_ln: float = 0.7
    """1 (ln). Device-to-device spread of the endurance (lognormal). [E]"""
    endurance_closing_decades: float = 1.0
    """decades. The HRS/LRS window closes over this many decades of wear before failure. [E]"""

    # -- access transistor (130 nm NMOS) ---------------------------------------------------------
    k_transistor: float = 400e-6
    """A/V^2. Square-law gain k of I_sat = k/2 (V_GS - V_T)^2. [E]"""
    v_t: float = 0.5
    """V. Threshold voltage of the access transistor. [E]"""
    lambda_clm: float = 0.02
    """1/V. Channel-length modulation in saturation. [E]"""
    i_sub_threshold: float = 1e-7
    """A. Subthreshold current at V_GS = V_T (gives ~0.3 pA at V_GS = 0). [E]"""
    subthreshold_n: float = 1.5
    """1. Subthreshold slope factor (n kT/q per e-fold). [E]"""

    # -- wafer: process gradient and defective dies ------------------------------------------------
    v_form_radial: float = 0.25
    """V. V_form mean shift at the wafer edge relative to the centre (grows with r^2). [E]"""
    v_form_linear_x: float = 0.06
    """V. V_form mean shift from wafer centre to the right edge (linear in x). [E]"""
    v_form_linear_y: float = -0.04
    """V. V_form mean shift from wafer centre to the top edge (linear in y). [E]"""
    v_form_die_sigma: float = 0.02
    """V. Random die-to-die V_form mean offset. [E]"""
    lrs_scale_radial: float = -0.08
    """1. Relative LRS conductance change at the wafer edge (r^2). [E]"""
    hrs_scale_radial: float = 0.15
    """1. Relative HRS median change at the wafer edge (r^2). [E]"""
    dead_die_fraction: float = 0.02
    """1. Fraction of open (dead) dies, at least one. [E]"""
    short_die_fraction: float = 0.01
    """1. Fraction of shorted dies, at least one. [E]"""
    r_short: float = 3e3
    """Ohm. BL-to-SL resistance of a shorted die. [E]"""

    def to_dict(self) -> dict[str, float]:
        """Parameters as a plain dict (for saved metadata)."""
        return asdict(self)


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


# -- population ------------------------------------------------------------------------------
_DYNAMIC = (
    "g", "formed", "is_set", "set_ic", "v_set_cur", "v_reset_cur", "reset_od", "r_start",
    "z_hrs", "a_lrs", "a_hrs", "wear",
)
_STATIC = ("v_form", "lrs_d2d", "hrs_d2d", "n_life", "ret_rate", "rtn_amp")


class RRAMPopulation:
    """State of ``n`` RRAM devices, all numpy arrays of length ``n``.

    Static (drawn once from ``seed``, never saved because they are reproducible):
        ``v_form`` (V), ``lrs_d2d`` (relative LRS factor), ``hrs_d2d`` (HRS median factor),
        ``n_life`` (cycles to failure), ``ret_rate`` (relative retention rate), ``rtn_amp`` (1).
    Dynamic (saved by :meth:`state_dict`):
        ``g`` (S, true low-field conductance), ``formed``, ``is_set`` (LRS since the last SET or
        forming), ``set_ic`` (A, compliance of the last SET), ``v_set_cur``/``v_reset_cur`` (V,
        thresholds drawn for the current cycle), ``reset_od`` (V, largest RESET overdrive of the
        current RESET event), ``r_start`` (Ohm, resistance when that RESET event began),
        ``z_hrs`` (normalised HRS deviation of the event), ``a_lrs``/``a_hrs`` (AR(1) states),
        ``wear`` (completed SET/RESET cycles).

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
        # static per-device parameters
        self.v_form = (
            p.v_form_mean + self.process.v_form_shift + p.v_form_sigma * srng.standard_normal(n)
        )
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
        # dynamic state
        self.g = np.minimum(g0, 0.099e-6)
        self.formed = np.zeros(n, dtype=bool)
        self.is_set = np.zeros(n, dtype=bool)
        self.set_ic = np.zeros(n)
        self.v_set_cur = p.v_set_mean + p.v_set_sigma * self.rng.standard_normal(n)
        self.v_reset_cur = p.v_reset_mean + p.v_reset_sigma * self.rng.standard_normal(n)
        self.reset_od = np.full(n, -np.inf)
        self.r_start = 1.0 / self.g
        self.z_hrs = np.zeros(n)
        self.a_lrs = self.rng.standard_normal(n)
        self.a_hrs = self.rng.standard_normal(n)
        self.wear = np.zeros(n, dtype=np.int64)

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
        w = np.maximum(self.wear[idx], 1).astype(float)
        dec = np.log10(w / self.n_life[idx])
        return np.clip(dec / self.params.endurance_closing_decades + 1.0, 0.0, 1.0)

    def stuck(self, idx: IndexLike) -> np.ndarray:
        """True for devices worn out (stuck in LRS)."""
        return self.wear[idx] >= self.n_life[idx]

    # -- events ----------------------------------------------------------------------------------
    def apply_pulse(
        self,
        idx: IndexLike,
        v_cell: ArrayLike,
        i_comp: ArrayLike,
        duration_s: ArrayLike,
    ) -> np.ndarray:
        """Apply one bias step of ``duration_s`` (s) at ``v_cell`` (V) to devices ``idx``.

        ``i_comp`` (A) is the compliance current available to a forming/SET event (the smaller
        of the access transistor's saturation current and the SMU compliance). Thresholds are
        lowered by ``kinetics_v_per_decade`` per decade of ``duration_s`` above the reference time
        (stress does not accumulate across calls: each call is one step). ``idx`` must not repeat
        a device within one call.

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
        dv_form = kin * np.log10(t / p.t_ref_form)
        dv_sw = kin * np.log10(t / p.t_ref_switch)
        changed = np.zeros(m, dtype=bool)

        formed = self.formed[idx]
        # forming
        fm = ~formed & (v > self.v_form[idx] - dv_form) & (ic > 0)
        if fm.any():
            j = idx[fm]
            self.g[j] = self._draw_lrs(j, ic[fm])
            self.formed[j] = True
            self.is_set[j] = True
            self.set_ic[j] = ic[fm]
            self.v_reset_cur[j] = self._draw(p.v_reset_mean, p.v_reset_sigma, j.size)
            changed |= fm
        # SET (formed devices, positive polarity)
        is_set = self.is_set[idx]
        st = (
            formed & (v > self.v_set_cur[idx] - dv_sw) & (ic > 0)
            & (~is_set | (ic > self.set_ic[idx] * (1.0 + p.set_recompliance_margin)))
        )
        if st.any():
            j = idx[st]
            g_new = self._draw_lrs(j, ic[st])
            was = self.is_set[j]
            self.g[j] = np.where(was, np.maximum(self.g[j], g_new), g_new)
            self.set_ic[j] = np.where(was, np.maximum(self.set_ic[j], ic[st]), ic[st])
            new = j[~was]
            self.is_set[j] = True
            self.reset_od[new] = -np.inf
            self.v_reset_cur[new] = self._draw(p.v_reset_mean, p.v_reset_sigma, new.size)
            changed |= st
        # RESET (formed devices, negative polarity)
        od = -v - (self.v_reset_cur[idx] - dv_sw)
        rs = formed & (od > 0)
        if rs.any():
            j = idx[rs]
            od_j = od[rs]
            start = self.is_set[j]
            if start.any():  # a new RESET event begins: one more completed cycle
                s = j[start]
                self.is_set[s] = False
                self.set_ic[s] = 0.0
                self.r_start[s] = 1.0 / self.g[s]
                self.reset_od[s] = -np.inf
                self.a_hrs[s] = self._ar_step(self.a_hrs[s])
                self.z_hrs[s] = self._c2c(self.a_hrs[s])
                self.wear[s] += 1
                self.v_set_cur[s] = self._draw(p.v_set_mean, p.v_set_sigma, s.size)
            deeper = od_j > self.reset_od[j]
            k = j[deeper]
            if k.size:
                self.reset_od[k] = od_j[deeper]
                r = self._hrs_resistance(k)
                ok = ~self.stuck(k)
                k = k[ok]
                self.g[k] = np.clip(1.0 / r[ok], 1e-9, p.g_max)
                changed[np.flatnonzero(rs)[deeper][ok]] = True
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
        ln_med = ln_start + frac * open_ * np.maximum(ln_med - ln_start, 0.0)
        ln_r = ln_med + frac * open_ * p.hrs_sigma_ln * self.z_hrs[j]
        return np.maximum(np.exp(ln_r), self.r_start[j])

    # -- fast cycling ---------------------------------------------------------------------------
    def advance_cycles(self, idx: IndexLike, n_cycles: int) -> None:
        """Account for ``n_cycles`` SET/RESET cycles without simulating each one.

        Adds the wear and advances the AR(1) memories in closed form (``rho^n``), so the next
        explicit SET/RESET sees the right wear and correlation. Used by ``Chip.cycle``.
        """
        if n_cycles <= 0:
            return
        idx = np.atleast_1d(np.arange(self.n)[idx])
        self.wear[idx] += int(n_cycles)
        self.a_lrs[idx] = self._ar_step(self.a_lrs[idx], n_cycles)
        self.a_hrs[idx] = self._ar_step(self.a_hrs[idx], n_cycles)

    # -- read --------------------------------------------------------------------------------------
    def current(self, idx: IndexLike, v: ArrayLike) -> np.ndarray:
        """Noise-free element current (A) at element voltage ``v`` (V)."""
        return element_current(self.params, self.g[idx], v)

    def noise_factor(self, idx: IndexLike) -> np.ndarray:
        """Multiplicative read-noise factor per device (white + random telegraph in HRS)."""
        p = self.params
        g = np.atleast_1d(self.g[idx])
        h = nonlinear_weight(p, g)
        sigma = p.noise_rel_lrs + (p.noise_rel_hrs - p.noise_rel_lrs) * h
        rtn = np.atleast_1d(self.rtn_amp[idx]) * h * (self.rng.random(g.shape) < 0.5)
        return 1.0 + sigma * self.rng.standard_normal(g.shape) + rtn

    def read(self, idx: IndexLike, v_read: ArrayLike) -> np.ndarray:
        """Read current (A) at element voltage ``v_read`` (V) with read noise; state unchanged."""
        i = np.atleast_1d(self.current(idx, v_read))
        i = i * self.noise_factor(idx)
        return i + self.params.i_noise_floor * self.rng.standard_normal(i.shape)

    # -- retention ---------------------------------------------------------------------------------
    def relax(self, dt_s: float, temperature_k: float) -> bool:
        """Retention: ln G of formed devices relaxes toward ln ``g_relax`` for ``dt_s`` seconds.

        Rate per device ``ret_rate * A exp(-E_a / kT)``: negligible at 300 K over hours, visible
        at 150-250 C over 1e3-1e5 s.

        Returns:
            True if any state changed noticeably (relative change above ~1e-9).
        """
        if dt_s <= 0:
            return False
        p = self.params
        rate = p.retention_attempt_rate * math.exp(-p.retention_ea_ev / (K_B_EV * temperature_k))
        x = rate * dt_s
        f = self.formed
        if x < 1e-9 or not f.any():
            return False
        decay = np.exp(-x * self.ret_rate[f])
        ln_mid = math.log(p.g_relax)
        self.g[f] = np.exp(ln_mid + (np.log(self.g[f]) - ln_mid) * decay)
        return True

    # -- persistence -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Dynamic state: arrays plus the RNG state (JSON-able dict under ``"rng"``)."""
        d: dict[str, Any] = {k: getattr(self, k).copy() for k in _DYNAMIC}
        d["rng"] = self.rng.bit_generator.state
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore a state produced by :meth:`state_dict` (static parameters come from the seed)."""
        for k in _DYNAMIC:
            arr = np.asarray(d[k])
            if arr.shape != (self.n,):
                raise ValueError(f"state {k!r} has shape {arr.shape}, expected ({self.n},)")
            setattr(self, k, arr.astype(getattr(self, k).dtype, copy=True))
        self.rng.bit_generator.state = d["rng"]
