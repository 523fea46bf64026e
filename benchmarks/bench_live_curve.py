"""Benchmark: +100 rows on a 200,000-row live I-V curve, MemProbe's IVPlot versus pymeasure.

Both are fed the same rows in one run. pymeasure's path is what its plot widget does on every
refresh: the new rows are appended to the Results CSV file (as its Recorder does) and
``ResultsCurve.update_data()`` takes ``results.data`` (pymeasure re-scans the file past the rows
it already holds and concatenates a new DataFrame) and calls ``setData`` with the whole columns.
Our path: the 100 rows (numpy arrays, as through a Qt signal) are appended to the plot's
:class:`gui.buffers.ColumnBuffer` and ``IVPlot.flush()`` redraws, i.e. ``setData`` on the existing
curve items (linear and log-|I| panel) with the points to draw (the buffer's read-only views,
or beyond ``IVPlotConfig.max_drawn_points`` their incremental min/max decimation). Both timings
include appending the rows. Painting is timed separately (widget ``grab()``) and is not part of the
ratio: it depends only on the number of points drawn. Prints one JSON line. Run:
``.venv/bin/python benchmarks/bench_live_curve.py [--rows 200000] [--repeats 9]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from pymeasure.display.curves import ResultsCurve  # noqa: E402
from pymeasure.experiment import FloatParameter, Procedure, Results  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from gui.plots.iv_plot import IVPlot  # noqa: E402

V_COL, I_COL = "Voltage (V)", "Current (A)"


class IVSweep(Procedure):
    """A tiny I-V procedure: only its columns matter here."""

    v_max = FloatParameter("Maximum voltage", units="V", default=1.5)
    DATA_COLUMNS = [V_COL, I_COL]

    def execute(self) -> None:  # never run: the benchmark writes the rows itself
        """Nothing: rows are written by the benchmark."""


def make_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of repeated triangular sweeps: voltage (V) and a noisy current (A)."""
    rng = np.random.default_rng(seed)
    phase = np.arange(n) % 400
    v = 1.5 * np.where(phase < 200, phase / 200.0, (400 - phase) / 200.0)
    i = v * 1e-4 * (1.0 + 0.02 * rng.standard_normal(n))
    return v, i


def append_rows(results: Results, v: np.ndarray, i: np.ndarray) -> None:
    """Append rows to the results file as pymeasure's Recorder would (formatted CSV lines)."""
    with open(results.data_filename, "a", encoding=Results.ENCODING) as f:
        for vv, ii in zip(v.tolist(), i.tolist(), strict=True):
            f.write(results.format({V_COL: vv, I_COL: ii}) + Results.LINE_BREAK)


def main() -> None:
    """Run the benchmark and print a JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000, help="rows already in the run")
    ap.add_argument("--new-rows", type=int, default=100, help="rows arriving per update")
    ap.add_argument("--repeats", type=int, default=9, help="timed updates (median reported)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    n0, k = args.rows, args.new_rows
    app = QApplication.instance() or QApplication([])
    v, i = make_rows(n0 + k * args.repeats, args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        results = Results(IVSweep(), str(Path(tmp) / "iv.csv"))
        append_rows(results, v[:n0], i[:n0])

        theirs = pg.PlotWidget()
        curve = ResultsCurve(results, x=V_COL, y=I_COL, pen=pg.mkPen("b"))
        theirs.addItem(curve)
        theirs.resize(700, 450)
        theirs.show()
        curve.update_data()  # initial load of the 200k rows (not timed)

        ours = IVPlot()
        ours.resize(1000, 450)
        ours.show()
        ours.add_points(0, v[:n0], i[:n0])
        ours.flush()
        app.processEvents()

        t_theirs: list[float] = []
        t_ours: list[float] = []
        paint_theirs: list[float] = []
        paint_ours: list[float] = []
        for r in range(args.repeats):
            sl = slice(n0 + r * k, n0 + (r + 1) * k)
            t0 = time.perf_counter()
            append_rows(results, v[sl], i[sl])
            curve.update_data()
            t_theirs.append(time.perf_counter() - t0)

            new_v, new_i = v[sl].copy(), i[sl].copy()  # as delivered by a signal
            t0 = time.perf_counter()
            ours.add_points(0, new_v, new_i)
            ours.flush()
            t_ours.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            theirs.grab()
            paint_theirs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ours.grab()
            paint_ours.append(time.perf_counter() - t0)
            app.processEvents()

        n = n0 + k * args.repeats
        xs, ys = ours.data(0)  # every point kept; drawn: at most max_drawn_points (decimated)
        ours_ok = bool(np.array_equal(xs, v[:n]) and np.array_equal(ys, i[:n]))
        drawn = len(ours.curves(0)[0].xData)
        theirs_points = len(curve.getData()[0])
        theirs.close()
        ours.close()

    med_theirs = statistics.median(t_theirs)
    med_ours = statistics.median(t_ours)
    print(json.dumps({
        "rows_before": n0,
        "rows_per_update": k,
        "repeats": args.repeats,
        "pymeasure_ResultsCurve_s_per_update": float(f"{med_theirs:.4g}"),
        "memprobe_IVPlot_s_per_update": float(f"{med_ours:.4g}"),
        "speedup": float(f"{med_theirs / med_ours:.4g}"),
        "target_speedup": 50,
        "paint_s_pymeasure_1_panel": float(f"{statistics.median(paint_theirs):.4g}"),
        "paint_s_memprobe_2_panels": float(f"{statistics.median(paint_ours):.4g}"),
        "memprobe_curve_matches_data": ours_ok,
        "pymeasure_points_at_end": theirs_points,
        "memprobe_points_at_end": len(xs),
        "memprobe_points_drawn": drawn,
    }))


if __name__ == "__main__":
    main()
