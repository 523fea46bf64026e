"""Benchmark: prober round trips while a long WGFMU execute runs on the same simulated lab.

Starts the simulated lab, programs a measured WGFMU sequence (no fast path: every period is
simulated) of ``--repeats`` periods, executes it in a thread, and meanwhile sends
``ReadChuckStatus`` to the prober in a loop. Prints one JSON line: the execute's wall time, the
lab calls it made, and the prober's round-trip times (median, max) during it. Before the lab
lock yielded between chunks, every prober request waited for the whole execute.

Run: ``.venv/bin/python benchmarks/bench_wgfmu_lock.py [--repeats N] [--chunk 0]`` (``--chunk 0``
never yields: the behaviour before, for comparison).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from instruments.sim import wgfmu_server  # noqa: E402
from instruments.sim.lab import LabConfig, SimLab  # noqa: E402
from tests.instruments._wgfmu import measured_reads_on  # noqa: E402


def main() -> None:
    """Run the benchmark and print a JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=20000, help="measured periods to execute")
    ap.add_argument("--chunk", type=int, default=wgfmu_server.CALLS_PER_CHUNK,
                    help="lab calls between yields (0: never yield, the old behaviour)")
    args = ap.parse_args()
    wgfmu_server.CALLS_PER_CHUNK = args.chunk if args.chunk > 0 else 10**12
    lab = SimLab(LabConfig(seed=3)).start()
    try:
        res = lab.resources()
        wg = measured_reads_on(res["wgfmu"], args.repeats)
        calls = 0
        real = lab.bias_selected

        def counting(*a, **k):
            nonlocal calls
            calls += 1
            return real(*a, **k)

        lab.bias_selected = counting
        done = threading.Event()
        wall: list[float] = []

        def run() -> None:
            t0 = time.perf_counter()
            wg.execute()
            wall.append(time.perf_counter() - t0)
            done.set()

        runner = threading.Thread(target=run)
        runner.start()
        _, host, port, _ = res["prober"].split("::")
        trips: list[float] = []
        with socket.create_connection((host, int(port)), timeout=600) as sock:
            f = sock.makefile("rw", newline="\n")
            while not done.is_set():  # every trip that starts during the execute counts
                t0 = time.perf_counter()
                f.write("ReadChuckStatus\n")
                f.flush()
                f.readline()
                trips.append(time.perf_counter() - t0)
        runner.join()
        wg.close()
    finally:
        lab.stop()
    print(json.dumps({
        "benchmark": "wgfmu_lock",
        "repeats": args.repeats,
        "lab_calls": calls,
        "calls_per_chunk": args.chunk,
        "execute_s": round(wall[0], 3),
        "prober_trips_during_execute": len(trips),
        "prober_trip_median_ms": round(1e3 * statistics.median(trips), 2) if trips else None,
        "prober_trip_max_ms": round(1e3 * max(trips), 2) if trips else None,
    }))


if __name__ == "__main__":
    main()
