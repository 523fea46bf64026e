"""Measurement: cost of the run's HDF5 store (per-cell history and waveforms, SWMR, flushed).

Appends ``--rows`` history rows (nine scalar columns, as pulse-train's reads) to a fresh
:class:`~procedures.framework.waveform_store.RunStore`, one row per call and in batches of 20
(one WGFMU execute of pulse-train), and ``--traces`` waveform traces of 20 points in blocks of
20; then reads everything back. Prints one JSON line: rows/s and traces/s appended (flushed),
read time and file size against the same rows as CSV text. Run:
``.venv/bin/python benchmarks/bench_hdf5_store.py [--rows N] [--traces N]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

COLUMNS = ("Cell row", "Cell col", "Pulse", "Kind", "Amplitude (V)", "Gate (V)", "Time (s)",
           "Read I (A)", "Read G (S)")
BATCH = 20


def main() -> None:
    """Measure and print a JSON line."""
    from procedures.framework.waveform_store import (
        WAVEFORMS,
        RunStore,
        history_table,
        read_history,
        read_waveforms,
        waveform_table,
    )

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--traces", type=int, default=20000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="memprobe-h5-") as tmp:
        for mode in ("single", "batch"):
            csv = Path(tmp) / f"{mode}.csv"
            store = RunStore(csv, [history_table(COLUMNS), waveform_table(20)], {})
            n = args.rows
            data = {c: rng.random(n) for c in COLUMNS}
            t0 = time.perf_counter()
            if mode == "single":
                for k in range(n):
                    store.append_rows({c: float(data[c][k]) for c in COLUMNS})
            else:
                for k in range(0, n, BATCH):
                    store.append_rows({c: list(data[c][k:k + BATCH]) for c in COLUMNS})
            out[f"history_rows_per_s_{mode}"] = n / (time.perf_counter() - t0)
            if mode == "batch":
                m = args.traces
                t0 = time.perf_counter()
                for k in range(0, m, BATCH):
                    store.append(WAVEFORMS, {
                        "t": rng.random((BATCH, 20)), "v": rng.random((BATCH, 20)),
                        "i": rng.random((BATCH, 20)), "cell_row": np.zeros(BATCH),
                        "cell_col": np.zeros(BATCH), "pulse": np.arange(k, k + BATCH),
                        "kind": np.ones(BATCH)})
                out["traces_per_s"] = m / (time.perf_counter() - t0)
            store.close()
            t0 = time.perf_counter()
            h = read_history(store.path)
            if mode == "batch":
                read_waveforms(store.path)
            out[f"read_s_{mode}"] = time.perf_counter() - t0
            assert len(h["Pulse"]) == n
            out[f"file_mb_{mode}"] = store.path.stat().st_size / 1e6
        text = "\n".join(",".join(f"{data[c][k]:.10g}" for c in COLUMNS) for k in range(n))
        out["history_csv_mb"] = len(text) / 1e6
    print(json.dumps({k: round(v, 3) for k, v in out.items()}))


if __name__ == "__main__":
    main()
