"""The measurements of the twin fidelity report, each through the instruments of the bench.

Every function takes a :class:`~procedures.twin_report.fidelity.Context` (open simulated bench, die
9,9) and returns report rows whose verdicts are computed from what it measured. Cells are
allocated per measurement (row numbers of the 1T1R array below) so the measurements do not
disturb each other. Longer than ~500 lines would be; one function per physics.md group.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pymeasure.experiment import Results

from instruments.chip.geometry import N_COLS_1T1R, N_ROWS
from procedures.framework.runner import position_prober, prepare_run
from procedures.twin_report.fidelity import (
    AGREES,
    DIFFERS,
    Context,
    Row,
    in_range,
    judge,
)


def _run(ctx: Context, proc: Any, **params: Any) -> Any:
    ctx.target(proc)
    for k, v in params.items():
        setattr(proc, k, v)
    out = prepare_run(proc, ctx.bench, ctx.root, ctx.catalog).run()
    if out.status != "finished":
        raise RuntimeError(f"{proc.NAME} ended {out.status}: {out.error}")
    return out


def _die() -> tuple[int, int]:
    return (9, 9)


# -- fresh cells, forming, LRS ------------------------------------------------------------------
def fresh_and_forming(ctx: Context) -> list[Row]:
    from procedures.experiments.conductance_map import ConductanceMapProcedure
    from procedures.experiments.forming import FormingProcedure

    rows: list[Row] = []
    fresh = _run(ctx, ConductanceMapProcedure(),  # the last two rows
                 cells=f"{N_ROWS - 2}-{N_ROWS - 1},0-{N_COLS_1T1R - 1}")
    g = Results.load(str(fresh.file)).data["Conductance (S)"].to_numpy()
    rows.append(Row("Fresh (unformed) cell", "G < 0.1 uS [F]",
                    f"max {g.max() * 1e6:.3f} uS, median {np.median(g) * 1e6:.3f} uS "
                    f"({g.size} cells)", judge(bool(g.max() < 0.1e-6)),
                    "conductance-map, B1500 spot reads 0.1 V", {"g_max": float(g.max())}))
    ncol = ctx.n(16, 8)
    out = _run(ctx, FormingProcedure(), cells=f"0-1,0-{ncol - 1}")
    v = np.array(out.summary["v_form_values"], dtype=float)
    ok = 2.4 <= v.mean() <= 3.0 and 0.15 <= v.std() <= 0.35
    near = 2.3 <= v.mean() <= 3.1
    rows.append(Row("Forming voltage, quasi-static (1 ms steps of 50 mV)",
                    "normal, mu ~2.5-3.0 V, sigma ~0.25 V [E]",
                    f"mean {v.mean():.2f} V, sd {v.std():.2f} V, range {v.min():.2f}-"
                    f"{v.max():.2f} V ({v.size} cells)", judge(ok, near),
                    "forming (B1500 staircase, 100 uA)",
                    {"mean": float(v.mean()), "sd": float(v.std())}))
    ctx.results["formed_cells"] = f"0-1,0-{ncol - 1}"
    g_lrs = float(out.summary["g_after_form"])
    rows.append(Row("LRS right after forming", "30-120 uS [F]", f"median {g_lrs * 1e6:.0f} uS",
                    in_range(g_lrs, 30e-6, 120e-6, 0.1), "forming read at 0.1 V",
                    {"g": g_lrs}))
    # LRS vs compliance: G ~ I_c / V_c
    fits = {}
    for k, i_c in enumerate((50e-6, 200e-6)):
        o = _run(ctx, FormingProcedure(), cells=f"5,{8 * k}-{8 * k + 5}", compliance=i_c,
                 v_wl=2.0)
        fits[i_c] = float(o.summary["g_after_form"])
    fits[100e-6] = g_lrs
    # 1/G = V_c / I_c + R_series (the read includes the access transistor's channel)
    inv_i = np.array([1.0 / i for i in sorted(fits)])
    inv_g = np.array([1.0 / fits[i] for i in sorted(fits)])
    vc, r_series = (float(x) for x in np.polyfit(inv_i, inv_g, 1))
    rows.append(Row("LRS vs compliance", "G_LRS ~ I_c / V_c, V_c ~ 0.4-1.1 V [E]",
                    ", ".join(f"{i * 1e6:.0f} uA: {g * 1e6:.0f} uS" for i, g in
                              sorted(fits.items())) + f"; fit 1/G = V_c/I_c + R_s: V_c {vc:.2f} V, "
                    f"R_s {r_series / 1e3:.1f} kOhm (access transistor)",
                    in_range(vc, 0.4, 1.1, 0.15),
                    "forming at 50/100/200 uA SMU compliance", {"v_c": vc}))
    return rows


def pulsed_forming(ctx: Context) -> list[Row]:
    from procedures.operations.pulsing import CellPulse, PulseSession, ReadPulse

    ncol = ctx.n(32, 16)
    results = {}
    io = _cell_io(ctx)
    for width, row in ((1e-6, 2), (100e-6, 4)):
        found = []
        with PulseSession(ctx.bench, io) as session:
            read = ReadPulse()
            for col in range(ncol):
                io.select("1T1R", row, col)
                vf = math.nan
                for v in np.arange(1.8, 3.6, 0.02):
                    d = session.run([CellPulse("set", float(v), 1.2, width), read])
                    if d.conductance(1, read.v_read) > 5e-6:
                        vf = float(v)
                        break
                found.append(vf)
        results[width] = np.array(found)
    kinetics = _reset_thresholds(ctx, io, 2, ncol)  # the cells formed with 1 us pulses
    v1 = results[1e-6]
    frac = float(np.mean(v1 <= 3.1 + 1e-9))
    ok = frac > 0.99 and 2.3 <= np.nanmean(v1) <= 2.7 and np.nanmin(v1) >= 2.1
    near = frac > 0.95
    rows = [Row("Forming voltage, 1 us pulses (staircase of 20 mV)",
                "2.2-3.1 V, mean ~2.5 V, > 99 % formed by 3.1 V [F] SkyWater",
                f"range {np.nanmin(v1):.2f}-{np.nanmax(v1):.2f} V, mean {np.nanmean(v1):.2f} V, "
                f"{100 * frac:.0f} % by 3.1 V ({v1.size} cells)", judge(ok, near),
                "WGFMU 1 us SET-polarity pulses, WL 1.2 V, read after each",
                {"fraction": frac, "mean": float(np.nanmean(v1))})]
    slope_form = float((np.nanmean(v1) - np.nanmean(results[100e-6])) / 2.0)
    slope = float((np.nanmean(kinetics[1e-6]) - np.nanmean(kinetics[100e-6])) / 2.0)
    rows.append(Row("Switching kinetics", "~1 decade of switching time per 75 mV [E]",
                    f"{slope * 1e3:.0f} mV per decade (pulsed RESET onsets, 1 us vs 100 us, "
                    f"same cells; applied SL, the cell sees ~85 % of it); forming on other cells: "
                    f"{slope_form * 1e3:.0f} mV/decade",
                    in_range(slope, 0.06, 0.09, 0.25), "WGFMU RESET staircases at two widths",
                    {"v_per_decade": slope, "v_per_decade_forming": slope_form}))
    return rows


def _reset_thresholds(ctx: Context, io: Any, row: int, ncol: int) -> dict[float, np.ndarray]:
    """Pulsed RESET onset (V, SL) per cell and cycle at 1 us and 100 us (20 mV staircase).

    RESET stress accumulates along a staircase in the same way at both widths, so the difference
    of the onsets measures the voltage-time trade-off alone.
    """
    from procedures.operations.pulsing import CellPulse, PulseSession, ReadPulse

    out: dict[float, list[float]] = {1e-6: [], 100e-6: []}
    read = ReadPulse()
    with PulseSession(ctx.bench, io) as session:
        for col in range(ncol):
            io.select("1T1R", row, col)
            for _ in range(ctx.n(3, 2)):
                for width in out:
                    d = session.run([CellPulse("set", 1.5, 1.2), read])
                    g_lrs = d.conductance(1, read.v_read)
                    v_t = math.nan
                    for v in np.arange(0.4, 2.2, 0.02):
                        d = session.run([CellPulse("reset", float(v), 2.8, width), read])
                        if d.conductance(1, read.v_read) < 0.9 * g_lrs:  # RESET onset
                            v_t = float(v)
                            break
                    out[width].append(v_t)
    return {w: np.array(v) for w, v in out.items()}


def _cell_io(ctx: Context) -> Any:
    from procedures.operations.cell_io import CellIO

    if ctx.packaged:
        ctx.bench.select_chip(ctx.chip)
    else:
        position_prober(ctx.bench, _die(), 0)
    return CellIO(ctx.bench)


# -- quasi-static cycling -------------------------------------------------------------------
def dc_cycling(ctx: Context) -> list[Row]:
    from procedures.experiments.iv_cycling import IVCyclingProcedure

    cells = ctx.results.get("formed_cells", "0-1,0-7")
    out = _run(ctx, IVCyclingProcedure(), cells=cells, cycles=ctx.n(6, 3), form_first=True,
               reset_stop=1.55)
    s = out.summary
    v_set = np.array(s["v_set_values"], dtype=float)
    v_reset = np.array(s["v_reset_values"], dtype=float)
    r_lrs = np.array(s["r_lrs_values"], dtype=float)
    r_hrs = np.array(s["r_hrs_values"], dtype=float)
    rows = [
        Row("SET threshold", "0.68 V, cycle-to-cycle sigma 0.06 V [F] Synaptogen",
            f"mean {np.nanmean(v_set):.2f} V, sd {np.nanstd(v_set):.3f} V (applied BL, "
            f"{np.isfinite(v_set).sum()} sweeps)",
            judge(abs(np.nanmean(v_set) - 0.68) < 0.06 and np.nanstd(v_set) < 0.1,
                  abs(np.nanmean(v_set) - 0.68) < 0.12),
            "iv-cycling (B1500 staircases, 40 steps/leg)",
            {"mean": float(np.nanmean(v_set)), "sd": float(np.nanstd(v_set))}),
        Row("RESET onset", "0.73 V across the cell (sigma 0.036 V) [F]",
            f"current peak at {np.nanmean(v_reset):.2f} V applied (includes the transistor "
            "drop of ~0.05-0.1 V)", in_range(float(np.nanmean(v_reset)), 0.73, 0.9, 0.1),
            "iv-cycling RESET legs, SL 1.55 V, WL 2.8 V", {"mean": float(np.nanmean(v_reset))}),
    ]
    med_hrs = float(np.median(r_hrs))
    s_ln = float(np.std(np.log(r_hrs)))
    rows.append(Row("HRS after full RESET", "lognormal, median ~74 kOhm, sigma(ln R) ~0.44 (c2c) "
                    "+ d2d 0.065 dec [F]", f"median {med_hrs / 1e3:.0f} kOhm, sigma(ln R) "
                    f"{s_ln:.2f} (all cycles and cells)",
                    judge(40e3 <= med_hrs <= 150e3 and 0.3 <= s_ln <= 0.7,
                          30e3 <= med_hrs <= 300e3),
                    "iv-cycling reads after RESET to SL 1.55 V (~1.46 V across the cell)",
                    {"median": med_hrs, "sigma_ln": s_ln}))
    g = 1.0 / r_lrs
    ncell = len(out.summary.get("r_lrs_values", [])) // max(1, ctx.n(6, 3))
    per = g[: ncell * ctx.n(6, 3)].reshape(ncell, -1) if ncell else g[None, :]
    ks = float(np.median(per.std(axis=1) / np.sqrt(per.mean(axis=1) * 1e6)) * 1e6)
    rows.append(Row("LRS cycle-to-cycle spread", "sigma_G ~ k_s sqrt(G), k_s ~0.7 uS^0.5 [E]",
                    f"k_s {ks:.2f} uS^0.5 (per-cell sd of G over {per.shape[1]} cycles)",
                    in_range(ks, 0.35, 1.4, 0.3), "iv-cycling reads after SET",
                    {"k_s": ks}))
    d2d = float(np.std(per.mean(axis=1)) / np.mean(per))
    rows.append(Row("LRS device-to-device spread", "~4 % [F] Synaptogen",
                    f"{100 * d2d:.1f} % (sd of per-cell mean G, includes c2c/sqrt(n))",
                    in_range(d2d, 0.0, 0.08, 0.5), "iv-cycling", {"d2d": d2d}))
    # HRS vs RESET stop voltage
    meds = {}
    for stop in (1.4, 2.2):
        o = _run(ctx, IVCyclingProcedure(), cells=f"1,0-{ctx.n(7, 3)}", cycles=2,
                 reset_stop=stop, reset_first=False)
        meds[stop] = float(np.median(o.summary["r_hrs_values"]))
    rows.append(Row("HRS median vs RESET stop voltage", "rises ~exponentially with V_stop; "
                    "30 kOhm-1 MOhm [E]", ", ".join(f"{k:.1f} V: {v / 1e3:.0f} kOhm"
                                                    for k, v in meds.items()),
                    judge(meds[2.2] > 1.5 * meds[1.4] and 30e3 <= meds[1.4] <= 1e6),
                    "iv-cycling with two RESET stops", {"low": meds[1.4], "high": meds[2.2]}))
    return rows  # cycle memory: procedures.twin_report.statistics (hundreds of pulse cycles)


# -- pulses: biases, gradual switching ----------------------------------------------------------
def pulses(ctx: Context) -> list[Row]:
    from procedures.experiments.pulse_train import PulseTrainProcedure

    rows: list[Row] = []
    ncell = ctx.n(8, 4)
    cells = f"6,0-{ncell - 1}"
    dep = _run(ctx, PulseTrainProcedure(), cells=cells, form_first=True, kind="reset",
               amplitude=1.3, v_wl=2.5, count=30)
    curves = {"potentiation": _wl_staircase(ctx, 6, ncell)}
    d = Results.load(str(dep.file)).data
    d = d[d["Point"] == -1]
    curves["depression"] = d.pivot_table(index="Pulse", columns="Cell col", values="Read G (S)")
    ctx.results["curves"] = curves
    med = curves["depression"].median(axis=1).to_numpy()
    steps = -np.diff(med)
    ups = float((curves["depression"].diff() > 0).to_numpy()[1:].mean())
    sd = float(np.median(curves["depression"].diff().std()))
    levels = int(np.sum(np.abs(np.diff(med)) > 0) if sd == 0 else
                 np.floor((med[1] - med[-1]) / max(sd, 1e-9)) + 1)
    ok = med[-1] < 0.8 * med[1] and steps[:5].mean() > 2 * steps[-10:].mean() and ups > 0.02
    rows.append(Row("Gradual RESET (identical pulses)", "G decreases over tens of pulses, "
                    "largest steps first, noisy [F concept] Garbin 2015; [E] magnitudes",
                    f"median {med[0] * 1e6:.0f} -> {med[1] * 1e6:.0f} (pulse 1) -> "
                    f"{med[-1] * 1e6:.0f} uS (pulse 30); first 5 steps {steps[:5].mean() * 1e6:.1f}"
                    f" uS/pulse vs last 10 {steps[-10:].mean() * 1e6:.2f}; {100 * ups:.0f} % of "
                    f"steps go up; ~{levels} levels", judge(ok),
                    "pulse-train RESET SL 1.3 V, WL 2.5 V, 1 us x 30",
                    {"g_first": float(med[1]), "g_last": float(med[-1]), "ups": ups}))
    pm = curves["potentiation"].median(axis=1).to_numpy()
    rows.append(Row("Gradual SET under increasing compliance", "SET abrupt at fixed compliance, "
                    "gradual under increasing compliance (WL steps) [F concept]",
                    f"median {pm[0] * 1e6:.0f} -> {pm[len(pm) // 2] * 1e6:.0f} -> "
                    f"{pm[-1] * 1e6:.0f} uS over {len(pm)} SET pulses (BL 1.5 V, 1 us, WL 0.8 -> "
                    f"{0.8 + 0.02 * (len(pm) - 1):.2f} V); {np.sum(np.diff(pm) > 0)} of "
                    f"{len(pm) - 1} steps up", judge(pm[-1] > 2.5 * pm[0] and
                                                      np.sum(np.diff(pm) > 0) > len(pm) // 2),
                    "WGFMU SET pulses with the gate stepped by 20 mV",
                    {"g_first": float(pm[0]), "g_last": float(pm[-1])}))
    weak = f"6,{ncell + 4}-{ncell + 7}"
    _run(ctx, PulseTrainProcedure(), cells=weak, form_first=True, kind="reset", amplitude=2.2,
         v_wl=2.8, count=1)
    w = _run(ctx, PulseTrainProcedure(), cells=weak, kind="set", amplitude=1.1, width=100e-9,
             v_wl=1.2, count=20)
    d = Results.load(str(w.file)).data
    d = d[d["Point"] == -1].pivot_table(index="Pulse", columns="Cell col", values="Read G (S)")
    wm = d.median(axis=1).to_numpy()
    ln = np.diff(np.log(wm))
    rows.append(Row("Gradual SET (weak/short identical pulses)", "trains of identical weak pulses "
                    "raise G gradually [F concept] (Pt/HfO2/TiN); [E] magnitudes",
                    f"median {wm[0] * 1e6:.0f} -> {wm[1] * 1e6:.0f} -> {wm[5] * 1e6:.0f} -> "
                    f"{wm[-1] * 1e6:.0f} uS over 20 pulses of 1.1 V / 100 ns (WL 1.2 V)",
                    judge(wm[-1] > 1.5 * wm[1] and ln[:5].sum() > 0,
                          wm[-1] > 1.2 * wm[0]), "pulse-train SET after a full RESET",
                    {"g_first": float(wm[0]), "g_last": float(wm[-1])}))
    # SkyWater pulse biases
    sky = f"6,{ncell}-{ncell + 3}"
    r = _run(ctx, PulseTrainProcedure(), cells=sky, form_first=True, kind="reset",
             amplitude=2.4, v_wl=2.5, count=1)
    s = _run(ctx, PulseTrainProcedure(), cells=sky, kind="set", amplitude=2.4, v_wl=1.7,
             count=1)
    g_reset, g_set = float(r.summary["g_final"]), float(s.summary["g_final"])
    rows.append(Row("1T1R pulse biases", "SET WL 1.7 V, BL 2.4 V, 1 us; RESET WL 2.5-3.0 V, SL "
                    "2.4-3.0 V, 1 us [F] SkyWater", f"one RESET pulse: {g_reset * 1e6:.1f} uS, one "
                    f"SET pulse: {g_set * 1e6:.0f} uS (abrupt), window {g_set / g_reset:.1f}",
                    judge(g_set / g_reset >= 5 and g_set > 60e-6, g_set / g_reset >= 3),
                    "pulse-train, one pulse each", {"g_reset": g_reset, "g_set": g_set}))
    return rows


def _wl_staircase(ctx: Context, row: int, ncell: int, pulses: int = 30) -> Any:
    """G (S) after each SET pulse (BL 1.5 V, 1 us) with the gate stepped 0.8 V + 20 mV/pulse."""
    import pandas as pd

    from procedures.operations.pulsing import CellPulse, PulseSession, ReadPulse

    io = _cell_io(ctx)
    read = ReadPulse()
    table = {}
    with PulseSession(ctx.bench, io) as session:
        for col in range(ncell):
            io.select("1T1R", row, col)
            g = []
            for k in range(pulses):
                d = session.run([CellPulse("set", 1.5, 0.8 + 0.02 * k), read])
                g.append(d.conductance(1, read.v_read))
            table[col] = g
    io.off()
    return pd.DataFrame(table, index=np.arange(1, pulses + 1))


def programming_figure(ctx: Context) -> list[Row]:
    """Potentiation/depression figure from the pulse trains (no row of its own)."""
    curves = ctx.results.get("curves")
    if ctx.figures is not None and curves:
        from procedures.data.figures import potentiation_depression

        ctx.results.setdefault("figures", {})["Potentiation and depression"] = \
            potentiation_depression(curves["potentiation"], curves["depression"],
                                    ctx.figures / "twin-potentiation-depression.png")
    return []


MEASUREMENTS = [
    ("fresh and forming", fresh_and_forming),
    ("pulsed forming", pulsed_forming),
    ("quasi-static cycling", dc_cycling),
    ("pulses", pulses),
    ("potentiation figure", programming_figure),
]

__all__ = ["AGREES", "DIFFERS", "MEASUREMENTS"]
