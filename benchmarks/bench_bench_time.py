"""Benchmark: modeled bench time per procedure and for the full-wafer recipe (issue #13).

For each run on the simulated bench (pacing off, a fresh wafer in a temporary data root) it
prints:

* ``bench_s``: the modeled bench time of the run (the lab clock, ``bench_time_s``);
* ``min_s``: its instrument-bound minimum: ``bench_s`` minus the interface turnaround and
  command processing of every line (the lab's :class:`~instruments.sim.timing.RequestLedger`),
  i.e. integration, sweep steps, pulses, waits and prober motion only;
* ``ratio``: ``bench_s / min_s`` (goal <= 1.3);
* ``trips``: round trips counted by the drivers (B1500, prober, chip controller; run summary
  ``round_trips``) and ``lines``: lines the simulated servers received (WGFMU included);
* ``soft_%``: software overhead, wall time of the run minus the simulation's own compute (time
  spent in the servers' handlers), in % of ``bench_s`` (goal <= 5 %);
* ``load``: the machine's 1-minute load average when the run ended (``os.getloadavg``): the
  software overhead is wall time, so it grows on a busy machine; read it next to this.

The full-wafer recipe runs ``--dies`` dies (default 4) and is extrapolated linearly to 256 dies
(the per-die work is the same on every die; stepping between dies is one index move each).
Run: ``.venv/bin/python benchmarks/bench_bench_time.py [--dies 4] [--skip-wafer]``.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instruments.bench import Bench
from procedures.framework.catalog import Catalog
from procedures.framework.registry import PROCEDURES
from procedures.framework.runner import prepare_run

#: (label, procedure, parameters): one representative run each
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("forming 16 cells", "forming", {"cells": "0,0-15", "die": "9,9"}),
    ("iv-cycling 4 cells x 10", "iv-cycling",
     {"cells": "0,0-3", "die": "9,8", "cycles": 10, "steps": 30, "form_first": True}),
    # the chip controller's scan mode (a B1500 trigger per point steps it): one sweep per row
    ("conductance-map 1024", "conductance-map", {"cells": "all", "die": "9,7"}),
    # on cells formed by the forming case
    ("pulse-train 1 cell", "pulse-train", {"cells": "0,4", "die": "9,9"}),
    ("endurance 1 cell", "endurance", {"cells": "0,5", "die": "9,9"}),
    ("program-verify 4 cells", "program-verify", {"cells": "0,8-11", "die": "9,9"}),
]


#: the same runs on a bench whose chip controller has no scan mode (cell by cell, as before)
PER_CELL_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("conductance-map per cell", "conductance-map", {"cells": "all", "die": "9,7"}),
]


@dataclass
class Figures:
    """One row of the table (seconds, counts)."""

    label: str
    bench_s: float
    min_s: float
    trips: int
    lines: int
    wall_s: float
    compute_s: float
    status: str = "finished"
    load_1min: float = float("nan")  # the machine's load average at the end of the run

    @property
    def ratio(self) -> float:
        return self.bench_s / self.min_s if self.min_s > 0 else float("nan")

    @property
    def soft_pct(self) -> float:
        return 100.0 * max(0.0, self.wall_s - self.compute_s) / self.bench_s

    def row(self) -> str:
        return (f"{self.label:<26} {self.bench_s:10.3f} {self.min_s:10.3f} {self.ratio:6.2f} "
                f"{self.trips:8d} {self.lines:8d} {self.soft_pct:7.1f} {self.load_1min:5.1f} "
                f"{self.status}")

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "bench_s": round(self.bench_s, 4),
                "min_s": round(self.min_s, 4), "ratio": round(self.ratio, 3),
                "round_trips": self.trips, "lines": self.lines,
                "software_overhead_pct": round(self.soft_pct, 2),
                "load_1min": round(self.load_1min, 2), "status": self.status}


class Meter:
    """Differences of the lab's ledger, clock, server compute and driver counters."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.lab = bench.lab

    def _read(self) -> tuple[float, float, int, int, float, float]:
        lab = self.lab
        compute = sum(s.compute_s for s in lab.servers.values())
        return (lab.now(), lab.ledger.transfer_s, sum(lab.ledger.requests.values()),
                self.bench.round_trips(), compute, time.perf_counter())

    def __enter__(self) -> Meter:
        self._t0 = self._read()
        return self

    def __exit__(self, *exc: object) -> None:
        self._t1 = self._read()
        self._load = os.getloadavg()[0]

    def figures(self, label: str, status: str = "finished") -> Figures:
        a, b = self._t0, self._t1
        bench_s, transfer = b[0] - a[0], b[1] - a[1]
        return Figures(label, bench_s, bench_s - transfer, b[3] - a[3], b[2] - a[2],
                       b[5] - a[5], b[4] - a[4], status, self._load)


def run_procedures(root: Path, only: set[str] | None = None,
                   cases: list[tuple[str, str, dict[str, Any]]] | None = None,
                   lab_overrides: dict[str, Any] | None = None) -> list[Figures]:
    """One run of each case (default :data:`CASES`) on one fresh simulated bench."""
    out = []
    catalog = Catalog(root)
    bench = Bench.open("simulated", data_dir=root, fresh=True, lab_overrides=lab_overrides)
    try:
        for label, name, params in CASES if cases is None else cases:
            if only and name not in only:
                continue
            proc = PROCEDURES[name]()
            for k, v in params.items():
                setattr(proc, k, v)
            with Meter(bench) as meter:
                outcome = prepare_run(proc, bench, root, catalog).run()
            out.append(meter.figures(label, outcome.status))
    finally:
        bench.close()
        catalog.close()
    return out


def run_wafer(root: Path, dies: int) -> tuple[Figures, int]:
    """The full-wafer recipe on the first ``dies`` dies; (figures, dies in the route)."""
    from procedures.wafer import WaferRun, load_recipe

    recipe = load_recipe("full-wafer")
    route = recipe.plan_route()
    catalog = Catalog(root)
    bench = Bench.open("simulated", data_dir=root, fresh=True)
    try:
        run = WaferRun.create(recipe, bench, root, catalog,
                              dies=[recipe.wafer.to_map(c, r) for c, r in route[:dies]])
        run.draw_maps = False
        with Meter(bench) as meter:
            outcome = run.run()
    finally:
        bench.close()
        catalog.close()
    return meter.figures(f"full-wafer {dies} dies", outcome.state), len(route)


def main() -> None:
    """Run the benchmark, print the table and one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dies", type=int, default=4, help="dies of the full-wafer recipe to run")
    ap.add_argument("--skip-wafer", action="store_true", help="procedures only")
    ap.add_argument("--only", nargs="*",
                    help="procedure names to run (default: all; none given: only the wafer)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    for handler in logging.getLogger().handlers:  # pymeasure's worker resets its logger level
        handler.addFilter(lambda r: r.levelno >= logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        only = set(args.only or []) or None
        rows = [] if args.only == [] else run_procedures(Path(tmp) / "procedures", only)
        if args.only != [] and (only is None or "conductance-map" in only):
            rows += run_procedures(Path(tmp) / "per-cell", only, PER_CELL_CASES,
                                   {"chip_scan": False})
        wafer: tuple[Figures, int] | None = None
        if not args.skip_wafer:
            wafer = run_wafer(Path(tmp) / "wafer", args.dies)
    print(f"{'run':<26} {'bench s':>10} {'min s':>10} {'ratio':>6} {'trips':>8} {'lines':>8} "
          f"{'soft %':>7} {'load':>5}")
    for f in rows:
        print(f.row())
    result: dict[str, Any] = {"procedures": [f.as_dict() for f in rows]}
    if wafer is not None:
        f, n_route = wafer
        print(f.row())
        per_die = f.bench_s / max(1, args.dies)
        hours = per_die * 256 / 3600.0
        print(f"full-wafer: {per_die:.1f} s of bench time per die -> 256 dies ~ {hours:.2f} h "
              f"(extrapolated from {args.dies} dies; the route has {n_route} dies)")
        result["wafer"] = {**f.as_dict(), "dies": args.dies, "route_dies": n_route,
                           "bench_s_per_die": round(per_die, 2),
                           "hours_256_dies": round(hours, 2)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
