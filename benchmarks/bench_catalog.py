"""Catalog under concurrency: opening a new and an existing catalog, and the write rate of several
processes recording runs at once (start + summary + finish per run). Prints one JSON line.

Also the cost of the simulated wafer's autosave: one die's state written (compressed, synced).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROCESSES = 4
RUNS_EACH = 50


def _writer(root: str, barrier, out) -> None:
    from procedures.framework.catalog import Catalog

    cat = Catalog(root)
    barrier.wait()
    t0 = time.perf_counter()
    for i in range(RUNS_EACH):
        rid = cat.start_run("forming", {"i": i}, f"f{i}.csv", die=(1, 1))
        cat.update_summary(rid, v_form=1.0)
        cat.finish_run(rid, "finished", {"v_form": 1.0})
    out.put(time.perf_counter() - t0)
    cat.close()


def main() -> None:
    from instruments.sim.lab import LabConfig, SimLab
    from procedures.framework.catalog import Catalog

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        Catalog(root / "new").close()
        t_new = time.perf_counter() - t0
        t0 = time.perf_counter()
        Catalog(root / "new").close()
        t_open = time.perf_counter() - t0

        ctx = mp.get_context("spawn")
        barrier, out = ctx.Barrier(PROCESSES + 1), ctx.Queue()
        procs = [ctx.Process(target=_writer, args=(str(root / "new"), barrier, out))
                 for _ in range(PROCESSES)]
        for p in procs:
            p.start()
        barrier.wait()
        t0 = time.perf_counter()
        durations = [out.get(timeout=600) for _ in procs]
        wall = time.perf_counter() - t0
        for p in procs:
            p.join()

        lab = SimLab(LabConfig(seed=7, data_dir=root / "lab", fresh=True, autosave_s=0))
        with lab.lock:
            lab.wafer.chip(9, 9).touched = True
        t0 = time.perf_counter()
        lab.save()
        t_save = time.perf_counter() - t0
        lab.stop()

    print(json.dumps({
        "benchmark": "catalog",
        "open_new_catalog_s": round(t_new, 4),
        "open_existing_catalog_s": round(t_open, 4),
        "writer_processes": PROCESSES,
        "runs_recorded": PROCESSES * RUNS_EACH,
        "runs_per_s_all_writers": round(PROCESSES * RUNS_EACH / wall, 1),
        "slowest_writer_s": round(max(durations), 3),
        "autosave_one_die_s": round(t_save, 4),
    }))


if __name__ == "__main__":
    main()
