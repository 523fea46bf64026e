"""Twin fidelity report, part 3: statistics that need many reads (cycle memory, PCSA offset).

Same conventions as :mod:`procedures.twin_report.measurements` (die 9,9, cells allocated per
measurement; verdicts computed from the measured numbers). Both rows are measured through the
instruments only:

* **Cycle memory**: ``cycles`` SET/RESET pulse cycles per cell on the WGFMU (read after each
  pulse), then the semivariogram ``gamma(k) = 1/2 <(x[t+k] - x[t])^2>`` of ``x = ln R_HRS`` per
  cell, fitted by ``gamma(k) = s_w + s_ar (1 - rho^k)`` (white + AR(1) parts; the variogram does
  not need the series mean, which a slowly varying AR(1) of a few hundred cycles biases; one rho
  for HRS and LRS, lags up to 150). Reported:
  rho, the memory length ``1 / (1 - rho)`` cycles and the AR share of the variance.
* **Sense-amplifier offset**: every pair of some formed 2T2R rows programmed to LRS on both
  sides at the same compliance (B1500), so the pairs are nearly balanced (a few % apart);
  each device read by the B1500 (twice: the read noise of the ratio) and each row by the PCSAs
  (chip controller ``PCSA:READ?``). The bit against the measured ``r = ln(G_BL / G_BLB)`` is fit
  by a probit ``P(1) = Phi((r - mu) / sigma)`` (maximum likelihood); the amplifiers' offset
  spread is ``sigma`` less the B1500 read noise of ``r`` (in quadrature; the PCSA's own read
  noise stays in, so an upper bound), as an input offset ``V_read sigma`` at the PCSA's 0.1 V
  bit-line read voltage.
"""

from __future__ import annotations

import math

import numpy as np

from instruments.chip.geometry import N_PAIRS_2T2R
from procedures.twin_report.fidelity import Context, Row, in_range, judge
from procedures.twin_report.measurements import _cell_io, _run

CYCLE_ROW = 20
"""1T1R row of the cycle-memory cells (not used by the other measurements)."""
CYCLES_PER_EXECUTE = 25
"""SET/read/RESET/read cycles programmed into one WGFMU execute."""
MAX_LAG = 150
"""Largest lag (cycles) of the fitted semivariograms (at most a quarter of the cycles)."""
PCSA_READ_V = 0.1
"""V. Bit-line read voltage of the PCSA discharge (design value [E], rram_params)."""


# -- cycle memory ----------------------------------------------------------------------------
def semivariogram(x: np.ndarray, max_lag: int) -> np.ndarray:
    """gamma(k), k = 1..max_lag, of the rows of ``x`` (cells x cycles), pooled over cells."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    out = np.empty(max_lag)
    for k in range(1, max_lag + 1):
        d = x[:, k:] - x[:, :-k]
        out[k - 1] = 0.5 * np.nanmean(d * d)
    return out


def fit_ar1_variogram(*gammas: np.ndarray) -> tuple[float, list[tuple[float, float]]]:
    """One rho shared by the semivariograms ``gammas`` (k = 1..), each ``gamma(k) = s_w +
    s_ar (1 - rho^k)`` with its own variances: (rho, [(s_white, s_ar), ...]). Least squares of
    the variograms relative to their largest value; rho on a fine grid, the variances linear
    (non-negative)."""
    best: tuple[float, float, list[tuple[float, float]]] = (math.inf, 0.0, [])
    for rho in np.linspace(0.5, 0.999, 500):
        err, coefs = 0.0, []
        for gamma in gammas:
            k = np.arange(1, gamma.size + 1, dtype=float)
            a = np.stack([np.ones_like(k), 1.0 - rho ** k], axis=1)
            coef, *_ = np.linalg.lstsq(a, gamma, rcond=None)
            coef = np.maximum(coef, 0.0)
            err += float(np.sum(((a @ coef - gamma) / np.max(gamma)) ** 2))
            coefs.append((float(coef[0]), float(coef[1])))
        if err < best[0]:
            best = (err, float(rho), coefs)
    return best[1], best[2]


def _pulse_cycles(ctx: Context, cells: list[int], cycles: int) -> tuple[np.ndarray, np.ndarray]:
    """R_LRS, R_HRS (Ohm; cells x cycles) from WGFMU SET/RESET pulse cycles with reads."""
    from procedures.operations.pulsing import CellPulse, PulseSession, ReadPulse

    io = _cell_io(ctx)
    read = ReadPulse()
    set_ = CellPulse("set", 1.5, 1.2)
    reset = CellPulse("reset", 2.2, 2.8)
    r = np.full((2, len(cells), cycles), np.nan)
    with PulseSession(ctx.bench, io) as session:
        for c, col in enumerate(cells):
            io.select("1T1R", CYCLE_ROW, col)
            done = 0
            while done < cycles:
                n = min(CYCLES_PER_EXECUTE, cycles - done)
                data = session.run([set_, read, reset, read] * n)
                for j in range(n):
                    for s, step in enumerate((4 * j + 1, 4 * j + 3)):
                        g = data.conductance(step, read.v_read)
                        r[s, c, done + j] = 1.0 / g if g > 0 else np.nan
                done += n
    io.off()
    return r[0], r[1]


def cycle_memory(ctx: Context) -> list[Row]:
    """Cycle-to-cycle correlation (AR(1) memory) of R_HRS and R_LRS over pulse cycles."""
    from procedures.experiments.forming import FormingProcedure

    ncell, cycles = ctx.n(6, 2), ctx.n(600, 150)
    cells = list(range(ncell))
    _run(ctx, FormingProcedure(), cells=f"{CYCLE_ROW},0-{ncell - 1}")
    r_lrs, r_hrs = _pulse_cycles(ctx, cells, cycles)
    lag = min(MAX_LAG, cycles // 4)
    rho, coefs = fit_ar1_variogram(semivariogram(np.log(r_hrs), lag),
                                   semivariogram(np.log(r_lrs), lag))
    share = {name: s_ar / (s_w + s_ar) if s_w + s_ar > 0 else 0.0
             for name, (s_w, s_ar) in zip(("HRS", "LRS"), coefs, strict=True)}
    rho_own = {name: fit_ar1_variogram(semivariogram(np.log(r), lag))[0]
               for name, r in (("HRS", r_hrs), ("LRS", r_lrs))}
    memory = 1.0 / (1.0 - rho)
    verdict = in_range(memory, 20.0, 80.0, 0.5) if min(share.values()) > 0.1 else judge(False)
    return [Row("Cycle memory", "AR(1) over ~40 cycles, rho ~0.97 [F] IEEE EDL 2016",
                f"rho {rho:.3f} (memory {memory:.0f} cycles) from ln R_HRS and ln R_LRS "
                f"(alone: {rho_own['HRS']:.3f}, {rho_own['LRS']:.3f}); AR share of the c2c "
                f"variance {100 * share['HRS']:.0f} % (HRS), {100 * share['LRS']:.0f} % (LRS); "
                f"{ncell} cells x {cycles} cycles", verdict,
                "WGFMU SET (BL 1.5 V, WL 1.2 V) / RESET (SL 2.2 V, WL 2.8 V) 1 us pulse cycles, "
                f"read after each; semivariograms to lag {lag}, one rho",
                {"rho": rho, "memory_cycles": memory, "ar_share_hrs": share["HRS"],
                 "ar_share_lrs": share["LRS"], "rho_hrs": rho_own["HRS"],
                 "rho_lrs": rho_own["LRS"]})]


# -- sense-amplifier offset --------------------------------------------------------------------
def fit_probit(r: np.ndarray, bits: np.ndarray) -> tuple[float, float]:
    """(mu, sigma) of ``P(bit = 1) = Phi((r - mu) / sigma)``, maximum likelihood."""
    from scipy.optimize import minimize
    from scipy.stats import norm

    r = np.asarray(r, dtype=float)
    b = np.asarray(bits, dtype=bool)

    def nll(p: np.ndarray) -> float:
        z = (r - p[0]) / math.exp(p[1])
        return -float(np.sum(norm.logcdf(z[b])) + np.sum(norm.logcdf(-z[~b])))

    res = minimize(nll, x0=np.array([0.0, math.log(0.02)]), method="Nelder-Mead",
                   options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 2000})
    return float(res.x[0]), float(math.exp(res.x[1]))


def pcsa_offset(ctx: Context) -> list[Row]:
    """PCSA input-offset spread from nearly balanced pairs (B1500 ratio vs PCSA bit)."""
    from procedures.experiments.ber_2t2r import SIDES, BER2T2RProcedure
    from procedures.operations.cell_io import ReadScan
    from procedures.operations.programming import program_cell

    rows_2t2r = int(ctx.results.get("formed_2t2r_rows", 0))
    if rows_2t2r == 0:  # run on its own: form (and weigh) some pairs first
        rows_2t2r = ctx.n(8, 2)
        _run(ctx, BER2T2RProcedure(), cells=f"0-{rows_2t2r - 1},0-{N_PAIRS_2T2R - 1}", array="2T2R")
    proc = BER2T2RProcedure()  # its programming conditions and read bias
    settings = proc.settings()
    io = _cell_io(ctx)
    chip = ctx.bench.chip
    for row in range(rows_2t2r):
        for pair in range(N_PAIRS_2T2R):
            for side in SIDES:
                io.select("2T2R", row, pair, side)
                program_cell(io, lrs=True, settings=settings, read_after=False)
    g = np.full((2, rows_2t2r, N_PAIRS_2T2R, 2), np.nan)
    bits = np.zeros((rows_2t2r, N_PAIRS_2T2R), dtype=bool)
    with ReadScan(io, proc.v_read, proc.v_wl_read, 1e-3) as scan:
        for row in range(rows_2t2r):
            bits[row] = np.asarray(chip.pcsa_read(row), dtype=bool)
            for rep in range(2):
                for pair in range(N_PAIRS_2T2R):
                    for s, side in enumerate(SIDES):
                        g[rep, row, pair, s] = 1.0 / scan.read("2T2R", row, pair, side).resistance
    ctx.separate()
    ratio = np.log(g[..., 0] / g[..., 1])  # (rep, row, pair)
    r = ratio.mean(axis=0).ravel()
    noise = float(np.nanstd(ratio[0] - ratio[1]) / 2.0)  # of the mean of two reads
    ok = np.isfinite(r)
    mu, sigma = fit_probit(r[ok], bits.ravel()[ok])
    sigma_off = math.sqrt(max(sigma * sigma - noise * noise, 0.0))
    v_off = PCSA_READ_V * sigma_off
    near = int(np.sum(np.abs(r[ok]) < 2 * sigma))
    return [Row("Sense amplifier offset", "PCSA offset of a few mV, device-to-device "
                "[F concept] Bocquet 2018 / Hirtzlin 2020; [E] magnitude",
                f"{v_off * 1e3:.1f} mV sigma (ln ratio {sigma_off:.3f} at the 0.1 V bit line; "
                f"mean {PCSA_READ_V * mu * 1e3:+.1f} mV; B1500 ratio noise {noise:.4f}; "
                f"{near} of {int(ok.sum())} pairs within 2 sigma of balance)",
                in_range(v_off, 1e-3, 10e-3, 0.3),
                "2T2R pairs SET on both sides (B1500), per-device B1500 reads vs PCSA:READ? "
                "bits, probit fit",
                {"v_offset_sigma": v_off, "mu_v": PCSA_READ_V * mu, "ratio_noise": noise})]


MEASUREMENTS = [
    ("cycle memory", cycle_memory),
    ("PCSA offset", pcsa_offset),
]

__all__ = ["MEASUREMENTS", "fit_ar1_variogram", "fit_probit", "semivariogram"]
