"""Benchmark: the simulated Velox prober through MemProbe's driver, both transports.

Starts one twin prober (a 200 mm map of 10 mm dies) with its plain-line and message-server ports
and prints one JSON line:

* ``plain_steps_per_s`` / ``message_server_steps_per_s``: interlocked die steps (ReadChuckStatus
  + StepNextDie) per second through pyvisa-py on loopback;
* ``largest_map_s``: seconds one ``SetWaferMapParams2`` of the largest accepted grid
  (``MAX_MAP_GRID_CELLS``) holds the lab lock;
* ``refused_map_s``: seconds to refuse the 1 um pitch map of issue #9 (4e10 cells).

Run: ``.venv/bin/python benchmarks/bench_prober.py [--n N]``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field

from instruments.cascade import velox_commands as vc
from instruments.cascade.velox import VeloxProber
from instruments.sim import prober_server
from instruments.sim.prober import ProberModel
from instruments.wafermap import WaferMap


@dataclass
class _Lab:
    prober: ProberModel
    lock: threading.RLock = field(default_factory=threading.RLock)


def _steps_per_s(resource: str, transport: str, model: ProberModel, n: int) -> float:
    p = VeloxProber(resource, visa_library="@py", timeout=5000, transport=transport)
    try:
        p.step_first_die()
        t0 = time.perf_counter()
        for i in range(n):
            p.step_next_die(*model.route[i % len(model.route)])
        return n / (time.perf_counter() - t0)
    finally:
        p.adapter.close()


def main() -> None:
    """Run the benchmark and print a JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=300, help="die steps per transport")
    args = ap.parse_args()
    lab = _Lab(ProberModel(WaferMap(), clock=lambda: 0.0))
    plain = prober_server.make_server(lab).start()
    message = prober_server.make_message_server(lab).start()
    try:
        out = {
            "plain_steps_per_s": round(_steps_per_s(plain.resource, "plain", lab.prober,
                                                    args.n), 1),
            "message_server_steps_per_s": round(_steps_per_s(
                message.resource, "message-server", lab.prober, args.n), 1),
        }
    finally:
        plain.stop()
        message.stop()
    pitch = 200 * 1000 / vc.MAX_MAP_GRID_CELLS ** 0.5
    t0 = time.perf_counter()
    code, _ = prober_server.execute(lab.prober, "SetWaferMapParams2",
                                    f"200 {pitch:g} {pitch:g} 0 0 0 0 3000".split())
    out["largest_map_s"] = round(time.perf_counter() - t0, 3)
    assert code == 0
    t0 = time.perf_counter()
    code, _ = prober_server.execute(lab.prober, "SetWaferMapParams2",
                                    "200 1 1 0 0 0 0 0".split())
    out["refused_map_s"] = round(time.perf_counter() - t0, 6)
    assert code == vc.E_BAD_ARGUMENT
    out["max_map_grid_cells"] = vc.MAX_MAP_GRID_CELLS
    print(json.dumps(out))


if __name__ == "__main__":
    main()
