"""Twin fidelity report, part 3: the twin under radiation (total dose, periphery upsets).

Each measurement opens its own simulated bench in the twin's beam (``[dosimetry] kind =
"simulated"``: the facility's log read back by ``bench.dosimeter``), same seed and model
parameters as the report, and measures through the instruments (B1500 reads, chip controller
error queue). The dose of every point is the dosimeter's reading, never the model's value.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from instruments.bench_types import BenchInterface
from procedures.twin_report.fidelity import NOT_MODELLED, Context, Row, judge

if TYPE_CHECKING:  # the bench module is imported only when a bench is opened
    from instruments.bench import Bench

log = logging.getLogger(__name__)

#: dose points of the total-dose row, Gy(Si)
DOSES_GY = (1e3, 1e4, 5e4, 1e5)


def _bench_file(ctx: Context, name: str, dosimetry: str) -> Path:
    """The report's bench file (wafer or packaged) with the given ``[dosimetry]`` body, under
    the data root."""
    from instruments.bench_config import bench_path

    source = ctx.bench.config.source or bench_path("simulated")
    text = Path(source).read_text(encoding="utf-8")
    path = ctx.root / f"{name}.toml"
    path.write_text(f'{text}\n[dosimetry]\nkind = "simulated"\n{dosimetry}\n', encoding="utf-8")
    return path


def _open(ctx: Context, name: str, dosimetry: str) -> Bench:
    from instruments.bench import Bench

    overrides = {"params": ctx.params} if ctx.params is not None else None
    return Bench.open(_bench_file(ctx, name, dosimetry), data_dir=ctx.root / name, fresh=True,
                      seed=ctx.seed, lab_overrides=overrides)


def _wait_for_dose(bench: BenchInterface, dose_gy: float) -> float:
    """Let bench time pass until the dosimeter reads at least ``dose_gy``; returns its reading."""
    for _ in range(100):
        r = bench.dosimeter.read()
        if r.dose_gy >= dose_gy:
            return float(r.dose_gy)
        if r.dose_rate_gy_s <= 0:
            raise RuntimeError(f"beam off at {r.dose_gy:g} Gy before {dose_gy:g} Gy")
        bench.wait((dose_gy - r.dose_gy) / r.dose_rate_gy_s + 1.0)
    raise RuntimeError(f"dose {dose_gy:g} Gy not reached")


def total_dose(ctx: Context) -> list[Row]:
    """Window (median LRS / median HRS read) of formed cells vs the dose of a 1 Gy/s gamma beam."""
    from procedures.operations.cell_io import CellIO
    from procedures.operations.programming import form_cell, reset_cell

    n = ctx.n(8, 3)
    lrs = [(0, c) for c in range(n)]
    hrs = [(1, c) for c in range(n)]
    with _open(ctx, "radiation-tid", 'particle = "gamma"\ndose_rate_gy_s = 1.0\n'
               "log_period_s = 60.0") as bench:
        io = CellIO(bench)
        if bench.prober is None:  # packaged chips at the beam: the report's socket
            bench.select_chip(ctx.chip)
        else:
            bench.prober.contact()
        for cell in lrs + hrs:
            io.select("1T1R", *cell)
            if form_cell(io, compliance=100e-6) is None:
                raise RuntimeError(f"cell {cell} did not form")
        for cell in hrs:
            io.select("1T1R", *cell)
            reset_cell(io, 2.4, 2.8, 1e-3, read_after=False)
        io.off()

        def window() -> tuple[float, float, float]:
            g = {}
            for name, cells in (("lrs", lrs), ("hrs", hrs)):
                reads = []
                for cell in cells:
                    io.select("1T1R", *cell)
                    # the mean of 5 reads: read noise is not what the window's change measures
                    reads.append(float(np.mean([io.read().current for _ in range(5)])) / 0.1)
                g[name] = float(np.median(reads))
            io.off()
            return g["lrs"] / g["hrs"], g["lrs"], g["hrs"]

        w0, lrs0, hrs0 = window()
        points = []
        for dose in DOSES_GY:
            got = _wait_for_dose(bench, dose)
            w, g_l, g_h = window()
            points.append((got, w / w0, g_l / lrs0, g_h / hrs0))
        if bench.prober is not None:
            bench.prober.separate()
    log.info("total dose: %s", points)
    rel = {round(d): w for d, w, _, _ in points}
    by_dose = dict(zip(DOSES_GY, points, strict=True))
    low_ok = all(abs(by_dose[d][1] - 1.0) < 0.02 for d in (1e3, 1e4))
    weakens = by_dose[5e4][1] < 0.97 and by_dose[1e5][1] < by_dose[5e4][1]
    text = "; ".join(f"{d:.0f} Gy: window x{w:.3f} (LRS x{a:.2f}, HRS x{b:.2f})"
                     for d, w, a, b in points)
    return [
        Row("Radiation: total dose", "TiN/HfO2/TiN unchanged to very high total dose; filament "
            "stability weakens at ~5 Mrad (5e4 Gy) gamma [F]", text,
            judge(low_ok and weakens, low_ok),
            f"{len(lrs)} LRS + {len(hrs)} HRS cells formed at 100 uA, B1500 reads at 0.1 V in a "
            "1 Gy(Si)/s Co-60 twin beam; dose read from the facility's log",
            {f"window_{k}": v for k, v in rel.items()}),
        Row("Radiation: displacement damage", "displacement damage of particle beams "
            "(physics.md: effect to model)", "no displacement-damage model (total ionising dose "
            "and upsets only)", NOT_MODELLED, ""),
    ]


def periphery_upsets(ctx: Context) -> list[Row]:
    """Controller upsets (error 301) counted at two proton dose rates through the error queue."""
    span = 40_000  # s per dose rate: ~130 upsets at 10 Gy/s (the run takes seconds)
    beam = (f"particle = \"proton\"\nlog_period_s = 100.0\nbeam = [{{ start_s = 0, stop_s = "
            f"{span}, dose_rate_gy_s = 10.0 }}, {{ start_s = {span}, stop_s = {2 * span}, "
            "dose_rate_gy_s = 20.0 }]")
    counts: dict[float, int] = {}
    with _open(ctx, "radiation-see", beam) as bench:
        bench.chip.check_errors()
        for rate, until in ((10.0, span), (20.0, 2 * span)):
            n = 0
            while bench.clock() < until - 200.0:
                bench.wait(min(200.0, until - bench.clock() - 1.0))
                n += sum(code == 301 for code, _ in bench.chip.check_errors())
            counts[rate] = n
            assert bench.dosimeter.read().dose_rate_gy_s == rate
    ratio = counts[20.0] / counts[10.0] if counts[10.0] else float("nan")
    per_hour = counts[10.0] / (span / 3600.0)
    return [Row("Radiation: periphery upsets", "transient upsets of the CMOS periphery at a rate "
                "proportional to flux (physics.md) [F concept]",
                f"controller upsets {counts[10.0]} at 10 Gy/s, {counts[20.0]} at 20 Gy/s (100 MeV "
                f"protons, {span:.0f} s each): ratio {ratio:.2f}, {per_hour:.1f}/h at 10 Gy/s; "
                "PCSA bit flips ~1e-7 per bit and read at 10 Gy/s (too rare to count here)",
                judge(1.5 <= ratio <= 2.6, 1.2 <= ratio <= 3.0),
                "chip controller SYST:ERR? (error 301) between bench waits, dose rate from the "
                "facility's log", {"ratio": ratio, "upsets_10": counts[10.0]})]


MEASUREMENTS = [
    ("radiation: total dose", total_dose),
    ("radiation: upsets", periphery_upsets),
]

__all__ = ["DOSES_GY", "MEASUREMENTS"]
