"""Benchmark: what grows per die of a wafer run, in MemProbe's own process (issue #13).

:mod:`bench_memory` compares the peak RSS of separate processes running 6, 12, 30 ... dies;
the differences are small (~2 MiB) and mix a warm-up (lazy imports, SQLite's page cache
filling up to its bound, first-use caches of numpy/pint) with any true per-die growth, so a
straight line through them over-estimates 256 dies. This benchmark runs ONE wafer run of the
full-wafer recipe (the twin in its own process, ``memprobe sim-lab``, as on a real bench) and
after every die (``WaferCallbacks.on_die_finished``, after ``gc.collect()``) prints:

* ``rss``: the resident set size (``VmRSS``), ``hwm``: its peak so far (``VmHWM``), KiB;
* with ``--trace``: Python's traced heap (``tracemalloc``, numpy buffers included) and, at
  the end, the source lines whose allocations grew most between the second and the last die.

The slope of ``rss`` (least squares over dies 3..N, past the warm-up) is extrapolated to 256
dies against the peak at 12 dies (goal: within 10 %). ``--trace`` slows the run and adds its
own memory: use it to find what grows, not for the RSS figures. Figures are printed, never
asserted. Run: ``.venv/bin/python benchmarks/bench_memory_dies.py [--dies 16] [--trace]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_memory import ExternalLab  # noqa: E402


def status_kib() -> tuple[int, int]:
    """``(VmRSS, VmHWM)`` of this process, KiB (Linux ``/proc/self/status``)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text()
                  .splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def slope(xs: list[int], ys: list[int]) -> float:
    """Least-squares slope of ``ys`` against ``xs`` (0 with fewer than 2 points)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def run(dies: int, root: Path, trace: bool, thread: bool) -> dict[str, object]:
    """One wafer run of ``dies`` dies; the per-die figures."""
    from instruments.bench import Bench, load_bench_config
    from procedures.framework.catalog import Catalog
    from procedures.wafer import WaferCallbacks, WaferRun, load_recipe

    recipe = load_recipe("full-wafer")
    route = recipe.plan_route()[:dies]
    lab = ExternalLab(root / "lab-process")
    rows: list[dict[str, float]] = []
    snaps: list[tracemalloc.Snapshot] = []
    try:
        config = load_bench_config(str(lab.bench_file))
        catalog = Catalog(root / "data")
        bench = Bench.open(config, data_dir=root / "data")

        def finished(result: object) -> None:
            gc.collect()
            rss, hwm = status_kib()
            row: dict[str, float] = {"die": len(rows) + 1, "rss_kib": rss, "hwm_kib": hwm}
            if trace:
                if len(rows) >= 1:  # die 2 onwards: keep die 2's snapshot and the latest
                    snaps[1 if snaps else 0:] = [tracemalloc.take_snapshot()]
                row["traced_kib"] = round(tracemalloc.get_traced_memory()[0] / 1024, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)

        if trace:
            tracemalloc.start(4)
        try:
            wafer = WaferRun.create(recipe, bench, root / "data", catalog, list(route),
                                    WaferCallbacks(on_die_finished=finished))
            wafer.draw_maps = False
            if thread:  # as ``memprobe wafer`` and the GUI run it
                wafer.start()
                while wafer.wait(0.2) is None:
                    pass
            else:
                wafer.run()
        finally:
            bench.close()
            catalog.close()
    finally:
        lab.close()
    if trace and len(snaps) >= 2:
        print(f"grew most, die 2 -> die {len(rows)}:")
        for stat in snaps[-1].compare_to(snaps[0], "lineno")[:10]:
            print("  ", stat)
    tail = [r for r in rows if r["die"] >= 3]
    per_die = slope([int(r["die"]) for r in tail], [int(r["rss_kib"]) for r in tail])
    out: dict[str, object] = {"dies": len(rows), "rss_slope_kib_per_die": round(per_die, 1)}
    if len(rows) >= 12:
        hwm12 = rows[11]["hwm_kib"]
        out["hwm_12_dies_MiB"] = round(hwm12 / 1024, 1)
        out["extrapolated_256_vs_12"] = round((hwm12 + per_die * (256 - 12)) / hwm12, 3)
    return out


def main() -> None:
    """Parse arguments; run; print the figures."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dies", type=int, default=16, help="dies of the route (>= 12)")
    ap.add_argument("--trace", action="store_true", help="tracemalloc: what grows")
    ap.add_argument("--in-caller", action="store_true",
                    help="WaferRun.run() in the main thread instead of its own thread")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(args.dies, Path(tmp), args.trace, not args.in_caller)))


if __name__ == "__main__":
    main()
