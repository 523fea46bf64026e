"""Benchmark: device-model pulses per second on a 1 Mb population (vectorised RRAMPopulation).

Forms 1,048,576 devices once, then times full-array SET pulses, RESET pulses and reads, and prints
one JSON line of figures (device-pulses per second). Run:
``.venv/bin/python benchmarks/bench_model.py [--n N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from instruments.sim.rram import RRAMParams, RRAMPopulation


def main() -> None:
    """Run the benchmark and print a JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1 << 20, help="number of devices")
    ap.add_argument("--repeat", type=int, default=5, help="SET/RESET/read rounds to time")
    args = ap.parse_args()
    n = args.n
    t0 = time.perf_counter()
    pop = RRAMPopulation(n, RRAMParams(), seed=1)
    t_build = time.perf_counter() - t0
    idx = np.arange(n)
    t0 = time.perf_counter()
    pop.apply_pulse(idx, 4.0, 100e-6, 1e-6)
    t_form = time.perf_counter() - t0
    t_set = t_reset = t_read = 0.0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        pop.apply_pulse(idx, -2.0, 0.0, 1e-6)
        t1 = time.perf_counter()
        i_hrs = pop.read(idx, 0.1)
        t2 = time.perf_counter()
        pop.apply_pulse(idx, 1.5, 100e-6, 1e-6)
        t3 = time.perf_counter()
        i_lrs = pop.read(idx, 0.1)
        t4 = time.perf_counter()
        t_reset += t1 - t0
        t_set += t3 - t2
        t_read += (t2 - t1) + (t4 - t3)
    r = args.repeat
    total_pulses = 3 * r * n + r * n  # SET + RESET + 2 reads per round
    figures = {
        "devices": n,
        "build_s": round(t_build, 3),
        "form_s": round(t_form, 3),
        "set_pulses_per_s": n * r / t_set,
        "reset_pulses_per_s": n * r / t_reset,
        "read_pulses_per_s": 2 * n * r / t_read,
        "all_pulses_per_s": total_pulses / (t_set + t_reset + t_read),
        "median_on_off": float(np.median(i_lrs) / np.median(i_hrs)),
    }
    print(json.dumps({k: (float(f"{v:.4g}") if isinstance(v, float) else v)
                      for k, v in figures.items()}))


if __name__ == "__main__":
    main()
