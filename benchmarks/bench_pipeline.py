"""Benchmark: software overhead per operation of the procedure pipeline on the simulated bench.

On the simulated bench bias durations cost no wall time, so every figure is pure overhead
(driver, pyvisa, loopback TCP, simulator, pymeasure):

* ``ti_ms``: one B1500 round trip, a high-speed spot current (``TI``) with outputs on;
* ``force_ms``: one ``force_voltage`` (``DV`` + error check);
* ``cell_read_ms``: select a cell + ``CellIO.read`` (forces BL/SL/WL, TI, BL back to 0 V);
* ``scan_read_ms``: one cell of a :class:`~procedures.operations.cell_io.ReadScan` (re-select + TI);
* ``form_step_ms``: one forming staircase step (``CellIO.step_bl``);
* ``form_cell_ms``: forming one fresh cell with :func:`procedures.operations.programming.form_cell`
  (staircase from 0.5 V + ramp-down; ``form_steps_per_cell`` steps on average);
* ``rows_per_s`` / ``row_us``: rows through pymeasure's ``Worker`` + ``Recorder`` into the
  results CSV, for a procedure that emits rows without instrument I/O.

Run: ``.venv/bin/python benchmarks/bench_pipeline.py [--n N] [--rows ROWS]``; prints one JSON
line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pymeasure.experiment import IntegerParameter, Procedure, Results, Worker


class EmitRows(Procedure):
    """Emits ``n_rows`` rows of three numbers, no instrument I/O."""

    n_rows = IntegerParameter("Rows", default=10000, minimum=1, maximum=10**8)
    DATA_COLUMNS = ["Index", "Voltage (V)", "Current (A)"]

    def execute(self) -> None:
        for k in range(int(self.n_rows)):
            self.emit("results", {"Index": k, "Voltage (V)": 1e-3 * k, "Current (A)": 1e-9 * k})
            if self.should_stop():
                return


def _per_call(fn: Any, n: int, batches: int = 5) -> float:
    """Wall time of one ``fn()`` call in ms: median over ``batches`` batches of the mean of
    ``n // batches`` calls (after one warm-up call), so a busy machine disturbs it less."""
    fn()
    per = max(1, n // batches)
    means = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(per):
            fn()
        means.append(1e3 * (time.perf_counter() - t0) / per)
    return statistics.median(means)


def bench_rows(n_rows: int, folder: Path) -> float:
    """Rows per second through Worker + Recorder into a CSV file."""
    proc = EmitRows()
    proc.n_rows = n_rows
    results = Results(proc, str(folder / "rows.csv"))
    worker = Worker(results)
    t0 = time.perf_counter()
    worker.start()
    worker.join(timeout=None)
    while worker.is_alive():
        worker.join(0.1)
    elapsed = time.perf_counter() - t0
    n_file = len(Results.load(str(folder / "rows.csv")).data)
    if n_file != n_rows:
        raise RuntimeError(f"{n_file} rows in the file, {n_rows} emitted")
    return n_rows / elapsed


def bench_instruments(n: int, n_form: int, folder: Path) -> dict[str, float]:
    """Round trip, read and forming-step overheads on a fresh simulated bench."""
    from instruments.bench import Bench
    from procedures.operations.cell_io import CellIO, ReadScan
    from procedures.operations.programming import form_cell

    bench = Bench.open("simulated", data_dir=folder, fresh=True)
    try:
        bench.prober.contact()
        io = CellIO(bench)
        io.select("1T1R", 0, 0)
        io.set_levels(0.1, 0.0, 2.5, 1e-3)
        out: dict[str, float] = {}
        out["ti_ms"] = _per_call(lambda: bench.b1500.high_speed_spot_current(io.ch_bl), n)
        out["force_ms"] = _per_call(lambda: bench.b1500.force_voltage(io.ch_bl, 0.1, 1e-3), n)
        cells = iter(range(10**9))

        def read_one() -> None:
            k = next(cells)
            io.select("1T1R", (k // 32) % 32, k % 32)
            io.read(0.1, 2.5)

        out["cell_read_ms"] = _per_call(read_one, n)
        with ReadScan(io, 0.1, 2.5) as scan:
            out["scan_read_ms"] = _per_call(
                lambda: scan.read("1T1R", (next(cells) // 32) % 32, 5), n)
        io.select("1T1R", 31, 31)
        out["form_step_ms"] = _per_call(lambda: io.step_bl(0.3, 1.5, 100e-6), n)
        steps = 0

        def count(*_: Any) -> None:
            nonlocal steps
            steps += 1

        t0 = time.perf_counter()
        for col in range(n_form):
            io.select("1T1R", 30, col)
            form_cell(io, on_step=count)
        out["form_cell_ms"] = 1e3 * (time.perf_counter() - t0) / n_form
        out["form_steps_per_cell"] = steps / n_form
        return out
    finally:
        bench.close()


def main() -> None:
    """Run the benchmark and print a JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=300, help="calls per instrument figure")
    ap.add_argument("--form", type=int, default=8, help="cells formed for form_cell_ms")
    ap.add_argument("--rows", type=int, default=20000, help="rows for rows_per_s")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        figures: dict[str, Any] = bench_instruments(args.n, args.form, folder)
        rows_per_s = bench_rows(args.rows, folder)
    figures["rows_per_s"] = rows_per_s
    figures["row_us"] = 1e6 / rows_per_s
    print(json.dumps({k: float(f"{v:.4g}") for k, v in figures.items()}))


if __name__ == "__main__":
    main()
