"""Benchmark: the prober's latency while the B1500 runs eight chained 10,001-step double sweeps.

Issue #9 measured 15.5 s of prober stall with the lab lock held per line. Starts the simulated lab
in-process, sends ``XE;XE;...`` (8 times, 20,002 steps each) on one B1500 connection, and while it
runs asks the prober ``ReadChuckStatus`` repeatedly on another, printing one JSON line: the sweep
line's duration and the prober's median and worst reply time during it.

Run: ``.venv/bin/python benchmarks/bench_servers_stay_up.py``.
"""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time

from instruments.sim.lab import LabConfig, SimLab


def main() -> None:
    """Run the benchmark and print a JSON line."""
    with SimLab(LabConfig(seed=2)) as lab:
        lab.prober.move_contact()
        sim = lab.servers["b1500"].simulator
        b1500 = socket.create_connection(lab.servers["b1500"].address, timeout=600)
        prober = socket.create_connection(lab.servers["prober"].address, timeout=600)
        b_file, p_file = b1500.makefile("rb"), prober.makefile("rb")
        b1500.sendall(b"CN 1,2,3;DV 3,0,2.5,1e-3;WM 1,1;WV 1,3,0,0,0.1,10001,1e-3;MM 2,1\r\n")
        done = threading.Event()
        sweep_s: list[float] = []

        def sweep() -> None:
            t0 = time.perf_counter()
            b1500.sendall(b";".join([b"XE"] * 8) + b"\r\n")
            b_file.readline()
            sweep_s.append(time.perf_counter() - t0)
            done.set()

        thread = threading.Thread(target=sweep)
        thread.start()
        sim.busy.wait(timeout=60)
        latencies = []
        while not done.is_set():
            t0 = time.perf_counter()
            prober.sendall(b"ReadChuckStatus\n")
            p_file.readline()
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.01)
        thread.join()
        b1500.close()
        prober.close()
    print(json.dumps({
        "benchmark": "servers_stay_up",
        "sweep_line_s": round(sweep_s[0], 2),
        "prober_replies": len(latencies),
        "prober_median_ms": round(1e3 * statistics.median(latencies), 2),
        "prober_max_ms": round(1e3 * max(latencies), 2),
    }))


if __name__ == "__main__":
    main()
