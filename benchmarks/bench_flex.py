"""Benchmark: FLEX spot measurements per second through pyvisa to the simulated B1500.

Starts the simulated lab in-process, contacts a die, forms nothing (reads an unformed cell) and
times three paths through pyvisa-py on loopback, printing one JSON line:

* ``raw_ti``: ``TI 1`` queries on a bare pyvisa resource (protocol + server only);
* ``driver_ti``: :meth:`B1500.high_speed_spot_current` (driver parsing included);
* ``driver_force_and_ti``: ``DV`` + ``ERRX?`` check + ``TI`` (a read at a new bias).

Run: ``.venv/bin/python benchmarks/bench_flex.py [--n N]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyvisa

from instruments.bench import Bench


def _rate(fn, n: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)


def main() -> None:
    """Run the benchmark and print a JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000, help="measurements per path")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Bench.open("simulated", Path(tmp), fresh=True) as b:
        b.prober.contact()
        b.b1500.enable(1, 2, 3)
        b.b1500.force_voltage(3, 2.5, 1e-4)
        b.b1500.force_voltage(1, 0.1, 1e-3)
        rm = pyvisa.ResourceManager("@py")
        raw = rm.open_resource(b.config.resources["b1500"], read_termination="\r\n",
                               write_termination="\r\n")
        raw_rate = _rate(lambda: raw.query("TI 1"), args.n)
        raw.close()  # not rm.close(): the ResourceManager is shared with the bench's drivers
        drv_rate = _rate(lambda: b.b1500.high_speed_spot_current(1), args.n)
        volts = iter([0.1, 0.12] * args.n)

        def force_and_read() -> None:
            b.b1500.force_voltage(1, next(volts), 1e-3)
            b.b1500.high_speed_spot_current(1)

        both_rate = _rate(force_and_read, args.n // 2)
    print(json.dumps({
        "benchmark": "flex_spot",
        "raw_ti_per_s": round(raw_rate),
        "driver_ti_per_s": round(drv_rate),
        "driver_force_and_ti_per_s": round(both_rate),
        "n": args.n,
    }))


if __name__ == "__main__":
    main()
