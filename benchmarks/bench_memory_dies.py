"""Benchmark: what grows per die of a wafer run, in MemProbe's own process (issue #13).

:mod:`bench_memory` compares the peak RSS of separate processes running 6, 12, 30 ... dies;
the differences are small (~2 MiB) and mix a warm-up (lazy imports, SQLite's page cache
filling up to its bound, first-use caches of numpy/pint) with any true per-die growth, so a
straight line through them over-estimates 256 dies. This benchmark runs ONE wafer run of the
full-wafer recipe (the twin in its own process, ``memprobe sim-lab``, as on a real bench) and
after every die (``WaferCallbacks.on_die_finished``, after ``gc.collect()``) prints:

* ``rss``: the resident set size (``VmRSS``), ``hwm``: its peak so far (``VmHWM``), KiB;
* ``rss_anon_kib`` / ``rss_file_kib``: the resident set's heaps and mapped files;
  ``malloc_kib`` / ``malloc_held_kib``: the C heap in use and held (glibc ``mallinfo2``:
  numpy buffers, large Python objects and every C library's allocations); ``pymalloc_kib`` /
  ``pymalloc_arenas_kib``: Python's small objects and the arenas holding them;
  ``catalog_file_kib`` (the catalog's SQLite file with its WAL: its connections cache its
  pages), ``hdf5_free_lists_kib`` (HDF5's), ``threads`` (the OS threads), ``fds`` (open file
  descriptors), ``finalizers`` (live ``weakref.finalize``): a leaked thread, handle or
  connection shows up here;
* with ``--trace``: Python's traced heap (``tracemalloc``, numpy buffers included) and, at
  the end, the tracebacks whose allocations grew most between the second and the last die;
* with ``--objects``: at the end, the object types whose live count (``gc.get_objects``)
  grew between the second and the last die (objgraph's ``growth``, without objgraph).

The slope of ``rss`` (least squares over dies ``--from`` (6) .. N, past the warm-up) is
extrapolated to 256 dies against the peak at 12 dies (goal: within 10 %). ``--trace`` slows
the run and adds its own memory: use it to find what grows, not for the RSS figures. Figures
are printed, never asserted. Run: ``.venv/bin/python benchmarks/bench_memory_dies.py
[--dies 16] [--from 6] [--trace] [--objects] [--sqlite-cache-kib N]``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import sys
import tempfile
import tracemalloc
import weakref
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_memory import ExternalLab  # noqa: E402


def status_kib() -> tuple[int, int]:
    """``(VmRSS, VmHWM)`` of this process, KiB (Linux ``/proc/self/status``)."""
    fields = _status()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _status() -> dict[str, str]:
    return dict(line.split(":", 1) for line in Path("/proc/self/status").read_text()
                .splitlines() if ":" in line)


def rss_parts_kib() -> dict[str, int]:
    """The resident set by kind, KiB: ``anon`` (heaps: malloc's and Python's own arenas, which
    pymalloc maps itself, so ``malloc_kib`` does not see them) and ``file`` (mapped files:
    the code of the shared libraries, paged in as code paths first run)."""
    fields = _status()
    return {"rss_anon_kib": int(fields["RssAnon"].split()[0]),
            "rss_file_kib": int(fields["RssFile"].split()[0])}


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def malloc_kib() -> dict[str, float]:
    """The C heap (glibc ``mallinfo2``, every arena), KiB: ``malloc_kib`` in use (small blocks
    + mmapped), ``malloc_held_kib`` obtained from the system (freed blocks it keeps
    included); empty without glibc >= 2.33."""
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = _MallInfo2
    info = fn()
    return {"malloc_kib": round((info.uordblks + info.hblkhd) / 1024, 1),
            "malloc_held_kib": round((info.arena + info.hblkhd) / 1024, 1)}


def pymalloc_kib() -> dict[str, float]:
    """Python's small-object allocator (``sys._debugmallocstats``, which writes to fd 2), KiB:
    ``pymalloc_kib`` in live blocks, ``pymalloc_arenas_kib`` its arenas (1 MiB each, mapped
    by itself: ``malloc_kib`` does not see them)."""
    with tempfile.TemporaryFile("w+") as out:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()  # noqa: SLF001 - CPython's only arena figures
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read()
    figures: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition("=")
        value = value.strip().replace(",", "")
        if name.startswith("# bytes in allocated blocks") and value.isdigit():
            figures["pymalloc_kib"] = round(int(value) / 1024, 1)
        elif name.startswith("Total") and value.isdigit() and "pymalloc_arenas_kib" not in figures:
            figures["pymalloc_arenas_kib"] = round(int(value) / 1024, 1)
    return figures


def _loaded_library(name: str) -> ctypes.CDLL | None:
    """The shared library whose file name starts with ``name`` as mapped into this process
    (the instance the Python modules use), or None."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split()[-1]
        if Path(path).name.startswith(name):
            return ctypes.CDLL(path)
    return None


def library_kib(data: Path) -> dict[str, float]:
    """What C libraries hold or may hold, KiB: the catalog's SQLite file with its WAL (each
    pooled connection caches its pages, up to SQLite's ``cache_size``, 2,000 KiB by default)
    and HDF5's free lists (``H5get_free_list_sizes``: blocks HDF5 keeps for reuse instead of
    freeing; absent before h5py is loaded). (Debian's SQLite keeps no memory statistics:
    ``sqlite3_memory_used`` reads 0.)"""
    out: dict[str, float] = {"catalog_file_kib": round(sum(
        f.stat().st_size for f in data.glob("catalog.sqlite*")) / 1024, 1)}
    hdf5 = _loaded_library("libhdf5-") or _loaded_library("libhdf5.")
    if hdf5 is not None and hasattr(hdf5, "H5get_free_list_sizes"):
        sizes = [ctypes.c_size_t() for _ in range(4)]
        if hdf5.H5get_free_list_sizes(*[ctypes.byref(v) for v in sizes]) >= 0:
            out["hdf5_free_lists_kib"] = round(sum(v.value for v in sizes) / 1024, 1)
    return out


def process_counts() -> dict[str, int]:
    """OS threads, open file descriptors and live ``weakref.finalize`` registrations (SQLAlchemy
    registers one per pooled connection checkout) of this process."""
    fields = _status()
    return {"threads": int(fields["Threads"]), "fds": len(os.listdir("/proc/self/fd")),
            "finalizers": len(weakref.finalize._registry)}  # noqa: SLF001 - a count only


def type_counts() -> Counter[str]:
    """Live objects tracked by the collector, per type name (module-qualified)."""
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


def describe_new(before: set[int], types: list[str], per_type: int = 3) -> list[str]:
    """A few of the objects of ``types`` not alive at ``before`` (ids): their repr and what
    refers to them (the type names of their referrers)."""
    out = []
    objs = [o for o in gc.get_objects() if id(o) not in before]
    for name in types:
        found = [o for o in objs if f"{type(o).__module__}.{type(o).__qualname__}" == name]
        for o in found[:per_type]:
            holders = sorted({f"{type(r).__module__}.{type(r).__qualname__}"
                              for r in gc.get_referrers(o) if r is not objs and r is not found})
            out.append(f"{name}: {repr(o)[:110]} <- {', '.join(holders[:4])}")
    return out


def slope(xs: list[int], ys: list[int]) -> float:
    """Least-squares slope of ``ys`` against ``xs`` (0 with fewer than 2 points)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def limit_page_cache(catalog: object, kib: int) -> None:
    """Every connection of ``catalog``'s engine with SQLite's page cache at ``kib`` KiB
    (``PRAGMA cache_size = -kib``): to see how much of the growth is the cache filling up."""
    from sqlalchemy import event

    def connected(dbapi_conn: object, _record: object) -> None:
        dbapi_conn.execute(f"PRAGMA cache_size = -{int(kib)}")  # type: ignore[attr-defined]

    event.listen(catalog.engine, "connect", connected)  # type: ignore[attr-defined]
    catalog.engine.dispose()  # type: ignore[attr-defined]  # connections made so far: reopen


def run(dies: int, root: Path, trace: bool, thread: bool,
        objects: bool = False, page_cache_kib: int | None = None,
        slope_from: int = 6) -> dict[str, object]:
    """One wafer run of ``dies`` dies; the per-die figures."""
    from instruments.bench import Bench, load_bench_config
    from procedures.framework.catalog import Catalog
    from procedures.wafer import WaferCallbacks, WaferRun, load_recipe

    recipe = load_recipe("full-wafer")
    route = recipe.plan_route()[:dies]
    lab = ExternalLab(root / "lab-process")
    rows: list[dict[str, float]] = []
    snaps: list[tracemalloc.Snapshot] = []
    counts: list[Counter[str]] = []
    ids_at_2: set[int] = set()
    try:
        config = load_bench_config(str(lab.bench_file))
        catalog = Catalog(root / "data")
        if page_cache_kib is not None:
            limit_page_cache(catalog, page_cache_kib)
        bench = Bench.open(config, data_dir=root / "data")

        def finished(result: object) -> None:
            gc.collect()
            rss, hwm = status_kib()
            row: dict[str, float] = {"die": len(rows) + 1, "rss_kib": rss, "hwm_kib": hwm,
                                     **rss_parts_kib(),
                                     **malloc_kib(), **pymalloc_kib(),
                                     **library_kib(root / "data"),
                                     **process_counts()}
            if objects and len(rows) >= 1:
                counts[1 if counts else 0:] = [type_counts()]
                if len(rows) == 1:
                    ids_at_2.update(id(o) for o in gc.get_objects())
            if trace:
                if len(rows) >= 1:  # die 2 onwards: keep die 2's snapshot and the latest
                    snaps[1 if snaps else 0:] = [tracemalloc.take_snapshot()]
                row["traced_kib"] = round(tracemalloc.get_traced_memory()[0] / 1024, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)

        if trace:
            tracemalloc.start(12)
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
        for stat in snaps[-1].compare_to(snaps[0], "traceback")[:8]:
            print(f"  {stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks")
            for line in stat.traceback.format()[-8:]:
                print("     ", line)
    if objects and len(counts) >= 2:
        grew = (counts[1] - counts[0]).most_common(15)
        print(f"live objects grown, die 2 -> die {len(rows)}: "
              + (", ".join(f"{name} +{n}" for name, n in grew) or "none"))
        for line in describe_new(ids_at_2, [name for name, _n in grew[:6]]):
            print("  ", line)
    tail = [r for r in rows if r["die"] >= slope_from]
    per_die = slope([int(r["die"]) for r in tail], [int(r["rss_kib"]) for r in tail])
    out: dict[str, object] = {"dies": len(rows), "rss_slope_kib_per_die": round(per_die, 1)}
    xs = [int(r["die"]) for r in tail]
    for key in ("rss_anon_kib", "rss_file_kib", "malloc_kib", "malloc_held_kib",
                "pymalloc_kib", "pymalloc_arenas_kib", "catalog_file_kib",
                "hdf5_free_lists_kib", "threads", "fds", "finalizers"):
        if all(key in r for r in tail):
            out[f"{key.removesuffix('_kib')}_slope_per_die"] = round(
                slope(xs, [float(r[key]) for r in tail]), 2)
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
    ap.add_argument("--objects", action="store_true",
                    help="live object counts per type: which types grow")
    ap.add_argument("--from", dest="slope_from", type=int, default=6,
                    help="first die of the slope (past the warm-up)")
    ap.add_argument("--sqlite-cache-kib", type=int, default=None,
                    help="limit the catalog connections' SQLite page cache (KiB)")
    ap.add_argument("--in-caller", action="store_true",
                    help="WaferRun.run() in the main thread instead of its own thread")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(args.dies, Path(tmp), args.trace, not args.in_caller,
                             args.objects, args.sqlite_cache_kib, args.slope_from)))


if __name__ == "__main__":
    main()
