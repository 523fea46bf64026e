"""Benchmark: live 128x128 map update, MemProbe's ArrayMapWidget versus pymeasure's ResultsImage.

Both are fed the same rows in one run. pymeasure's path is the one its ImageWindow takes on every
refresh: the new rows are appended to the Results CSV file (as its Recorder does), then
``ResultsImage.update_data()`` re-reads the Results data and re-colours every row of it. Our path:
the batch of rows arrives (as numpy arrays, as through a Qt signal), is written into the map's
numpy buffer (``update_cells``) and ``flush()`` pushes it to the ImageItem with
``setImage(..., autoLevels=False)``. For both, the ImageItem's ``render()`` (building the QImage
that is painted) is timed too; the Qt event loop is not. The file is pre-filled with
``--prefill-lines`` map lines, then ``--updates`` batches of ``--rows-per-update`` rows are timed
(the end of a 128x128 map, where a live view is slowest). Prints one JSON line. Run:
``.venv/bin/python benchmarks/bench_live_map.py [--size 128] [--updates 8]``.
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
from pymeasure.display.curves import ResultsImage  # noqa: E402
from pymeasure.experiment import FloatParameter, Procedure, Results  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from gui.widgets.array_map import ArrayMapWidget  # noqa: E402


class MapScan(Procedure):
    """A tiny procedure describing a regular x/y grid, as ResultsImage requires."""

    x_start = FloatParameter("X start", default=0.0)
    x_end = FloatParameter("X end", default=127.0)
    x_step = FloatParameter("X step", default=1.0)
    y_start = FloatParameter("Y start", default=0.0)
    y_end = FloatParameter("Y end", default=127.0)
    y_step = FloatParameter("Y step", default=1.0)

    DATA_COLUMNS = ["x", "y", "value"]

    def execute(self) -> None:  # never run: the benchmark writes the rows itself
        """Nothing: rows are written by the benchmark."""


def make_rows(size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All map rows in scan order: (x = column, y = row, conductance in S)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.divmod(np.arange(size * size), size)
    lrs = 10 ** rng.normal(-4.0, 0.15, size * size)
    hrs = 10 ** rng.normal(-6.3, 0.3, size * size)
    g = np.where(rng.random(size * size) < 0.5, lrs, hrs)
    return xs, ys, g


def append_rows(results: Results, xs: np.ndarray, ys: np.ndarray, gs: np.ndarray) -> None:
    """Append rows to the results file as pymeasure's Recorder would (formatted CSV lines)."""
    with open(results.data_filename, "a", encoding=Results.ENCODING) as f:
        for x, y, g in zip(xs.tolist(), ys.tolist(), gs.tolist(), strict=True):
            f.write(results.format({"x": x, "y": y, "value": g}) + Results.LINE_BREAK)


def main() -> None:
    """Run the benchmark and print a JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=128, help="map is size x size")
    ap.add_argument("--prefill-lines", type=int, default=None,
                    help="map lines already in the file before timing (default size - updates)")
    ap.add_argument("--updates", type=int, default=8, help="timed updates")
    ap.add_argument("--rows-per-update", type=int, default=None,
                    help="rows arriving per update (default: one map line)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    size = args.size
    per_update = args.rows_per_update or size
    prefill = (size - args.updates) * size if args.prefill_lines is None \
        else args.prefill_lines * size
    if prefill + args.updates * per_update > size * size:
        raise SystemExit("prefill + updates exceed the map")

    app = QApplication.instance() or QApplication([])
    xs, ys, gs = make_rows(size, args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        procedure = MapScan()
        procedure.x_end = procedure.y_end = float(size - 1)
        results = Results(procedure, str(Path(tmp) / "map.csv"))
        append_rows(results, xs[:prefill], ys[:prefill], gs[:prefill])

        theirs = pg.PlotWidget()
        image = ResultsImage(results, x="x", y="y", z="value")
        theirs.addItem(image)
        theirs.resize(500, 500)
        theirs.show()
        image.update_data()  # initial load of the prefilled rows (not timed)

        ours = ArrayMapWidget(size, size)
        ours.resize(500, 500)
        ours.show()
        ours.update_cells(ys[:prefill], xs[:prefill], gs[:prefill])
        ours.flush()
        ours.image.render()
        app.processEvents()

        t_theirs: list[float] = []
        t_ours: list[float] = []
        t_ours_update: list[float] = []
        for k in range(args.updates):
            sl = slice(prefill + k * per_update, prefill + (k + 1) * per_update)
            append_rows(results, xs[sl], ys[sl], gs[sl])  # the Recorder's work, not timed
            t0 = time.perf_counter()
            image.update_data()
            image.render()
            t_theirs.append(time.perf_counter() - t0)

            rows, cols, g = ys[sl].copy(), xs[sl].copy(), gs[sl].copy()  # as from a signal
            t0 = time.perf_counter()
            ours.update_cells(rows, cols, g)
            ours.flush()
            t1 = time.perf_counter()
            ours.image.render()
            t_ours.append(time.perf_counter() - t0)
            t_ours_update.append(t1 - t0)
            app.processEvents()

        expected = np.full((size, size), np.nan)
        n = prefill + args.updates * per_update
        expected[ys[:n], xs[:n]] = np.log10(gs[:n])
        same = bool(np.allclose(ours.image.image, expected, equal_nan=True))
        rows_in_file = len(results.data)
        theirs.close()
        ours.close()

    med_theirs = statistics.median(t_theirs)
    med_ours = statistics.median(t_ours)
    print(json.dumps({
        "map": f"{size}x{size}",
        "rows_in_file_at_end": rows_in_file,
        "rows_per_update": per_update,
        "updates": args.updates,
        "pymeasure_ResultsImage_s_per_update": float(f"{med_theirs:.4g}"),
        "memprobe_ArrayMap_s_per_update": float(f"{med_ours:.4g}"),
        "memprobe_update_without_render_s": float(f"{statistics.median(t_ours_update):.4g}"),
        "speedup": float(f"{med_theirs / med_ours:.4g}"),
        "target_speedup": 50,
        "memprobe_image_matches_data": same,
    }))


if __name__ == "__main__":
    main()
