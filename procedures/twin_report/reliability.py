"""Twin fidelity report, part 2: retention, endurance, read noise, temperature, 2T2R and PCSA.

Same conventions as :mod:`procedures.twin_report.measurements` (cells allocated per measurement on
die
9,9; verdicts computed from the measured numbers).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from pymeasure.experiment import Results

from instruments.chip.geometry import N_COLS_1T1R, N_PAIRS_2T2R, N_ROWS
from procedures.twin_report.fidelity import Context, Row, in_range, judge, needs_prober
from procedures.twin_report.measurements import _cell_io, _run

YEAR_S = 3.156e7
log = logging.getLogger(__name__)


# -- retention ---------------------------------------------------------------------------------
def _window_curve(out: Any) -> tuple[np.ndarray, np.ndarray]:
    """(time s, median LRS / median HRS conductance) per read point of a retention run."""
    d = Results.load(str(out.file)).data
    from procedures.experiments.retention import STATE_HRS, STATE_LRS

    lrs = d[d["State"] == STATE_LRS].groupby("Point")
    hrs = d[d["State"] == STATE_HRS].groupby("Point")
    t = lrs["Time (s)"].min().to_numpy()
    w = (lrs["Conductance (S)"].median() / hrs["Conductance (S)"].median()).to_numpy()
    return t, w


@needs_prober("its bakes at 85-250 C use the prober's hot chuck")
def retention(ctx: Context) -> list[Row]:
    from procedures.experiments.retention import RetentionProcedure, fit_arrhenius, half_window_time

    ncol = ctx.n(8, 4)
    temps = (200.0, 225.0, 250.0)  # the simulated bench's chuck goes to 250 C
    curves: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    t_half: dict[float, float] = {}
    for k, temp in enumerate(temps):
        out = _run(ctx, RetentionProcedure(), cells=f"{7 + k},0-{ncol - 1}", form_first=True,
                   temperature_c=temp, duration_s=3e5, points=ctx.n(14, 8),
                   reset_stop=2.2)
        t, w = _window_curve(out)
        curves[temp] = (t, w)
        t_half[temp] = half_window_time(t, w)
    ok_t = {k: v for k, v in t_half.items() if math.isfinite(v)}
    ea, ea_err = fit_arrhenius(t_half)
    if ctx.figures is not None:
        from procedures.data.figures import retention_arrhenius

        ctx.results.setdefault("figures", {})["Retention and Arrhenius plot"] = \
            retention_arrhenius(curves, t_half, ea, ctx.figures / "twin-retention-arrhenius.png")
    hours = ", ".join(f"{k:.0f} C: {v / 3600:.1f} h" for k, v in t_half.items())
    rows = [Row("Retention (Arrhenius)", "E_a ~1.0-1.5 eV [E]/[F]; window lost within hours at "
                "250-300 C [E]",
                f"E_a {ea:.2f} +- {ea_err:.2f} eV from the half-window times ({hours})",
                judge(1.0 <= ea <= 1.5 and ok_t.get(250.0, math.inf) < 6 * 3600
                      and len(ok_t) == 3, 0.8 <= ea <= 1.7),
                "retention at 200/225/250 C (prober heater, B1500 reads in situ)",
                {"ea": ea, **{f"t_half_{k:.0f}": v for k, v in t_half.items()}})]
    # ten years at 85 C, read back at 25 C before and after, for two programming compliances
    windows = {}
    for k, i_c in enumerate((50e-6, 100e-6)):
        cells = f"{10 + k},0-{ctx.n(24, 4) - 1}"  # 12 LRS + 12 HRS: trend above the spread
        first = _run(ctx, RetentionProcedure(), cells=cells, form_first=True, temperature_c=25.0,
                     duration_s=1.0, points=2, set_compliance=i_c, reset_stop=2.2)
        rest = 10 * YEAR_S
        for _ in range(10):  # bakes of at most 1e8 s (the procedure's limit)
            if rest <= 10.0:
                break
            step = min(rest, 1e8)
            o = _run(ctx, RetentionProcedure(), cells=cells, program=False, temperature_c=85.0,
                     duration_s=step, points=2)
            rest -= max(float(o.summary["elapsed_s"]), 1.0)
        cold = _run(ctx, RetentionProcedure(), cells=cells, program=False, temperature_c=25.0,
                    duration_s=1.0, points=2)
        _, w_cold = _window_curve(cold)
        _, w0 = _window_curve(first)
        windows[i_c] = (float(w0[0]), float(w_cold[-1]))
    ok = all(w[1] >= 5.0 for w in windows.values())
    worse = (1 - math.log(windows[50e-6][1]) / math.log(windows[50e-6][0]) >
             1 - math.log(windows[100e-6][1]) / math.log(windows[100e-6][0]))
    rows.append(Row("Retention target", "window >= 5x after 10 years at 85 C for >= 50 uA; lower "
                    "compliance retains worse [E]", "; ".join(
                        f"{i * 1e6:.0f} uA: {a:.1f} -> {b:.1f}" for i, (a, b) in windows.items())
                    + f" (lower compliance loses more: {'yes' if worse else 'no'})",
                    judge(ok and worse, all(w[1] >= 4.0 for w in windows.values())),
                    "retention 85 C for 10 years (lab clock), read back at 25 C",
                    {f"w_{int(i * 1e6)}": w[1] for i, w in windows.items()}))
    return rows


# -- endurance -----------------------------------------------------------------------------------
def endurance(ctx: Context) -> list[Row]:
    from procedures.experiments.endurance import EnduranceProcedure

    cycles = ctx.n(10**8, 3 * 10**6)
    out = {}
    settings = {
        "weak (SET BL 1.5 V, WL 1.0 V ~50 uA; RESET SL 2.0 V)":
            dict(set_amplitude=1.5, v_wl_set=1.0, reset_amplitude=2.0, v_wl_reset=2.8),
        "strong (SET WL 1.7 V ~290 uA, BL 2.4 V, RESET SL 3.0 V)":
            dict(set_amplitude=2.4, v_wl_set=1.7, reset_amplitude=3.0, v_wl_reset=3.0),
    }
    late: dict[str, float] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for k, (name, kw) in enumerate(settings.items()):
        o = _run(ctx, EnduranceProcedure(), cells=f"12,{2 * k}-{2 * k + 1}", form_first=True,
                 cycles=cycles, stop_on_failure=False, **kw)
        out[name] = o.summary
        d = Results.load(str(o.file)).data
        late[name] = float(d[d["Cycle"] >= cycles / 10]["Ratio"].median())
        g = d.groupby("Cycle")["Ratio"].median()
        curves[name] = (g.index.to_numpy(), g.to_numpy())
    if ctx.figures is not None:
        from procedures.data.figures import endurance_strengths

        ctx.results.setdefault("figures", {})["Endurance at two programming strengths"] = \
            endurance_strengths(curves, ctx.figures / "twin-endurance-strength.png")
    (w_name, weak), (s_name, strong) = out.items()
    w_late, s_late = late[w_name], late[s_name]
    text = "; ".join(f"{n}: median R_HRS/R_LRS {late[n]:.1f} over the last decade of "
                     f"{cycles:.0e} cycles" for n in out)
    ok = w_late >= 2.0 and s_late < 1.5
    rows = [Row("Endurance vs programming strength", "weak low-V/low-I programming lasts "
                "billions of cycles; strong wears out sooner [F qualitative] Bocquet 2018",
                text + " (fit: lifetime 1e8 (100 uA / I_c)^3 exp(-RESET excess / 0.5 V): "
                "~6e8 for the weak setting, ~1e6 for the strong one)",
                judge(ok, w_late > 2 * s_late), "endurance (WGFMU fast path)",
                {"weak_ratio": w_late, "strong_ratio": s_late})]
    ref = _run(ctx, EnduranceProcedure(), cells="12,4-5", form_first=True, cycles=cycles,
               stop_on_failure=False)
    d = Results.load(str(ref.file)).data
    end_ratio = float(d[d["Cycle"] >= cycles / 10]["Ratio"].median())
    rows.append(Row("Endurance at 100 uA", "1e8 cycles at 100 uA; failure = window closes or "
                    "stuck LRS [F]/[E]", f"median R_HRS/R_LRS {end_ratio:.1f} over the last "
                    f"decade of {cycles:.0e} cycles", judge(end_ratio >= 2.0, end_ratio >= 1.5),
                    "endurance defaults (SET WL 1.2 V ~98 uA, RESET SL 2.2 V)",
                    {"ratio": end_ratio}))
    return rows


# -- read noise, read disturb, temperature ---------------------------------------------------------
def _states(ctx: Context) -> tuple[Any, tuple[int, int], tuple[int, int]]:
    """Two formed cells of row 13: col 0 in LRS, col 1 in HRS (pulse-train)."""
    from procedures.experiments.pulse_train import PulseTrainProcedure

    _run(ctx, PulseTrainProcedure(), cells="13,0-1", form_first=True, kind="set", amplitude=1.5,
         v_wl=1.2, count=1)
    _run(ctx, PulseTrainProcedure(), cells="13,1", kind="reset", amplitude=2.2, v_wl=2.8,
         count=2)
    return _cell_io(ctx), (13, 0), (13, 1)


def _reads(io: Any, cell: tuple[int, int], n: int, v: float = 0.1) -> np.ndarray:
    io.select("1T1R", *cell)
    out = np.array([io.read(v).current for _ in range(n)])
    io.off()
    return out


def noise_and_temperature(ctx: Context) -> list[Row]:
    io, lrs, hrs = _states(ctx)
    b = ctx.bench.b1500
    n = ctx.n(200, 60)
    rel = {}
    for t_int in (20e-3, 2e-6):
        b.adc_setup("HSADC", "TIME", t_int)
        rel[t_int] = {name: float(np.std(x) / np.mean(x)) for name, x in
                      (("LRS", _reads(io, lrs, n)), ("HRS", _reads(io, hrs, n)))}
    b.adc_setup("HSADC", "AUTO", 1)
    rows = [Row("Read noise", "Johnson + shot, B ~100 MHz; 1-5 % telegraph noise in HRS [F]/[E]",
                "; ".join(f"t_int {t * 1e3:g} ms: LRS {100 * r['LRS']:.2f} %, HRS "
                          f"{100 * r['HRS']:.2f} %" for t, r in rel.items()),
                judge(0.005 <= rel[20e-3]["HRS"] <= 0.05 and rel[2e-6]["HRS"] > rel[20e-3]["HRS"]
                      and rel[20e-3]["HRS"] > rel[20e-3]["LRS"]),
                "B1500 spot reads at 0.1 V, HS ADC integration 20 ms and 2 us",
                {"hrs_long": rel[20e-3]["HRS"], "hrs_short": rel[2e-6]["HRS"]})]
    # read disturb: long reads at 0.3 V
    before = {c: float(np.median(_reads(io, c, 5))) for c in (lrs, hrs)}
    b.adc_setup("HSADC", "PLC", 100)  # 2 s per read
    reads = ctx.n(500, 50)
    for c in (lrs, hrs):
        _reads(io, c, reads, v=0.3)
    b.adc_setup("HSADC", "AUTO", 1)
    after = {c: float(np.median(_reads(io, c, 5))) for c in (lrs, hrs)}
    change = max(abs(after[c] / before[c] - 1) for c in before)
    log.info("read disturb: before %s after %s", before, after)
    stress = reads * 2.0
    rows.append(Row("Read disturb", "negligible at <= 0.2-0.3 V for > 1e9 reads [E]",
                    f"{100 * change:.1f} % change after {stress:.0f} s at 0.3 V "
                    f"(= {stress / 1e-6:.0e} reads of 1 us)", judge(change < 0.05),
                    "B1500 reads at 0.3 V, 2 s each",
                    {"change": change}))
    # temperature: window vs chuck temperature
    reference = ("HRS conduction thermally activated (HRS current rises with T); switching "
                 "voltages shift slightly [F concept]/[E]")
    if ctx.packaged:
        rows.append(ctx.not_applicable("Temperature dependence", reference,
                                       "the temperature is set by the prober's hot chuck"))
        return rows
    g = {}
    for temp in (25.0, 85.0, 125.0):
        ctx.bench.prober.separate()
        ctx.bench.prober.heat_chuck(temp)
        position_io = _cell_io(ctx)
        g[temp] = {name: float(np.median(_reads(position_io, c, 10))) / 0.1
                   for name, c in (("LRS", lrs), ("HRS", hrs))}
        ctx.bench.prober.separate()
    ctx.bench.prober.separate()
    ctx.bench.prober.heat_chuck(25.0)
    ratio_hrs = g[125.0]["HRS"] / g[25.0]["HRS"]
    ratio_lrs = g[125.0]["LRS"] / g[25.0]["LRS"]
    windows = ", ".join(f"{t:.0f} C: {v['LRS'] / v['HRS']:.1f}" for t, v in g.items())
    rows.append(Row("Temperature dependence", reference,
                    f"G_HRS x{ratio_hrs:.2f}, G_LRS x{ratio_lrs:.2f} from 25 to 125 C; window "
                    f"{windows}; thresholds -0.4 mV/K (model)",
                    judge(ratio_hrs > 1.2 and 0.8 < ratio_lrs < 1.05),
                    "B1500 reads with the chuck at 25/85/125 C",
                    {"ratio_hrs": ratio_hrs, "ratio_lrs": ratio_lrs}))
    return rows


# -- 2T2R, PCSA, geometry (radiation: radiation.py) -----------------------------------------------
def two_t_two_r(ctx: Context) -> list[Row]:
    from procedures.experiments.ber_2t2r import BER2T2RProcedure

    rows_2t2r = ctx.n(8, 2)
    out = _run(ctx, BER2T2RProcedure(), cells=f"0-{rows_2t2r - 1},0-{N_PAIRS_2T2R - 1}",
                array="2T2R")
    s = out.summary
    b2, b1 = float(s["ber_2t2r"]), float(s["ber_1t1r"])
    rows = [Row("2T2R vs 1T1R bit error rate", "differential 2T2R read far below 1T1R with a "
                "reference [F] Bocquet 2018", f"BER 2T2R {b2:.1e}, 1T1R {b1:.1e} "
                f"({s['n_bits']} bits, weak programming)", judge(b1 > 0 and b2 < b1 / 3, b2 < b1),
                "ber-2t2r (B1500 programming, PCSA reads via the chip controller)",
                {"ber_2t2r": b2, "ber_1t1r": b1})]
    chip = ctx.bench.chip
    position_io = _cell_io(ctx)
    rng = np.random.default_rng(0)
    agree, pops = 0, 0
    for row in range(rows_2t2r):
        word = chip.pcsa_read(row)
        x = [int(v) for v in rng.integers(0, 2, N_PAIRS_2T2R)]
        out_bits = chip.pcsa_xnor(row, x)
        agree += sum(int(o == (1 - (w ^ xi))) for o, w, xi in zip(out_bits, word, x,
                                                                    strict=True))
        pops += int(chip.popcount(row, x) == sum(chip.pcsa_xnor(row, x)))
    ctx.separate()
    del position_io
    frac = agree / (N_PAIRS_2T2R * rows_2t2r)
    rows.append(Row("Sense amplifier: XNOR and popcount", "XNOR with the input on the pair's "
                    "selection, popcount per row in the periphery [F concept] Bocquet 2018 / "
                    "Hirtzlin 2020", f"XNOR = NOT(read XOR input) on {100 * frac:.1f} % of bits; "
                    f"popcount consistent on {pops}/{rows_2t2r} rows",
                    judge(frac > 0.99 and pops == rows_2t2r, frac > 0.95),
                    "chip controller PCSA:READ?, PCSA:XNOR?, PCSA:POPC?", {"xnor": frac}))
    ctx.results["formed_2t2r_rows"] = rows_2t2r  # the PCSA offset (statistics) reuses them
    return rows


def geometry(ctx: Context) -> list[Row]:
    from instruments.chip.controller import ChipControllerError

    chip = ctx.bench.chip
    sizes = {}
    for array in ("1T1R", "2T2R"):
        chip.select(array, N_ROWS - 1, N_COLS_1T1R - 1)  # the design size (geometry)
        try:
            chip.select(array, N_ROWS, 0)
            sizes[array] = f"more than {N_ROWS} rows"
        except (ValueError, ChipControllerError):
            sizes[array] = f"{N_ROWS} x {N_COLS_1T1R}" + (" pairs" if array == "2T2R" else " cells")
    chip.select("1T1R", 0, 0)
    return [
        Row("Array sizes", "1 kb (32x32) 1T1R arrays, 2T2R arrays of 1,024 pairs, 16 kb arrays "
            "[F]", f"1T1R {sizes['1T1R']}, 2T2R {sizes['2T2R']}; no 16 kb array",
            judge(sizes["1T1R"] == "32 x 32 cells" and sizes["2T2R"] == "32 x 32 pairs"),
            "chip controller CELL:SEL range"),
    ]


MEASUREMENTS = [
    ("retention", retention),
    ("endurance", endurance),
    ("noise and temperature", noise_and_temperature),
    ("2T2R and PCSA", two_t_two_r),
    ("geometry", geometry),
]

__all__ = ["MEASUREMENTS", "in_range"]
