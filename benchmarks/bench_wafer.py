"""Benchmark: wafer-run throughput on the simulated bench (dies per minute) and where time goes.

Runs a recipe (default ``full-wafer``: forming 8 cells, I-V cycling 4 cells x 10 cycles and a
1,024-cell conductance map per die) on the first ``--dies`` dies of its route, on a fresh
simulated wafer in a temporary data root, and prints a table of the time per phase (stepping,
contact check, each procedure step, binning, cursor writes, outputs) and one JSON line. Run:
``.venv/bin/python benchmarks/bench_wafer.py [--recipe full-wafer] [--dies 12]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from _quiet import quiet_logging

from instruments.bench import Bench
from procedures.framework.catalog import Catalog
from procedures.wafer import WaferRun, load_recipe


def main() -> None:
    """Run the benchmark and print a table and a JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--recipe", default="full-wafer", help="recipe name or file")
    ap.add_argument("--dies", type=int, default=12, help="first N dies of the route")
    ap.add_argument("--no-maps", action="store_true", help="skip the PNG maps")
    args = ap.parse_args()
    quiet_logging(logging.WARNING)
    recipe = load_recipe(args.recipe)
    route = recipe.plan_route()[: args.dies]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        catalog = Catalog(root)
        t_open = time.perf_counter()
        bench = Bench.open("simulated", data_dir=root, fresh=True)
        t_open = time.perf_counter() - t_open
        try:
            run = WaferRun.create(recipe, bench, root, catalog, dies=[
                recipe.wafer.to_map(c, r) for c, r in route])
            run.draw_maps = not args.no_maps
            t0 = time.perf_counter()
            outcome = run.run()
            wall = time.perf_counter() - t0
        finally:
            bench.close()
            catalog.close()
    n = outcome.dies_done
    contacted = outcome.yield_counts.get("tested", n)
    timings = dict(sorted(outcome.timings.items(), key=lambda kv: -kv[1]))
    accounted = sum(v for k, v in timings.items() if k != "preflight")
    print(f"{recipe.name}: {n} dies in {wall:.1f} s ({outcome.state}); bench open {t_open:.2f} s")
    print(f"{'phase':<24} {'total s':>9} {'per die s':>10} {'share':>7}")
    for name, secs in timings.items():
        print(f"{name:<24} {secs:9.2f} {secs / max(1, n):10.3f} {100 * secs / wall:6.1f} %")
    print(f"{'other (threads, waits)':<24} {wall - accounted:9.2f} "
          f"{(wall - accounted) / max(1, n):10.3f} {100 * (wall - accounted) / wall:6.1f} %")
    figures = {
        "recipe": recipe.name, "dies": n, "tested": contacted, "wall_s": round(wall, 2),
        "dies_per_minute": round(60.0 * n / wall, 2),
        "seconds_per_die": round(wall / max(1, n), 3),
        "phases_s": {k: round(v, 3) for k, v in timings.items()},
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
