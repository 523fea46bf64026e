"""Concurrent catalog writers for the catalog tests: processes (stations) that open one catalog
at the same moment and write runs."""

from __future__ import annotations

import multiprocessing as mp

from procedures.framework.catalog import Catalog


def _write_runs(url: str, k: int, runs_each: int, prefix: str, stations: bool, barrier,
                out) -> None:
    """Writer k: open the (new) catalog at the same moment as the others, then write runs
    (parameters ``writer`` = k and ``i``; file ``<prefix><k>_<i>.csv``; station ``probe-<k>``
    and operator ``op<k>`` when ``stations``)."""
    barrier.wait()
    try:
        cat = Catalog(url)
        ids = []
        for i in range(runs_each):
            who = {"station": f"probe-{k}", "operator": f"op{k}"} if stations else {}
            rid = cat.start_run("forming", {"writer": k, "i": i}, f"{prefix}{k}_{i}.csv",
                                die=(k, i), **who)
            cat.update_summary(rid, v_form=1.0 + i)
            cat.finish_run(rid, "finished", {"v_form": 1.0 + i})
            ids.append(rid)
        cat.close()
        out.put((k, ids, ""))
    except Exception as exc:  # reported to the test, not lost in a child's stderr
        out.put((k, [], f"{type(exc).__name__}: {exc}"))


def write_concurrently(url: str, n: int, runs_each: int, prefix: str = "w",
                       stations: bool = False) -> tuple[list[int], list[str]]:
    """Run ``n`` spawned writers at once; return all run ids written and the errors seen."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(n)
    out = ctx.Queue()
    procs = [ctx.Process(target=_write_runs,
                         args=(url, k, runs_each, prefix, stations, barrier, out))
             for k in range(n)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return [i for _, got, _ in results for i in got], [e for _, _, e in results if e]


def assert_every_run_written(cat: Catalog, ids: list[int], writers: int, runs_each: int) -> list:
    """The ``writers`` x ``runs_each`` runs :func:`write_concurrently` reported (``ids``) are
    all in ``cat``, each once, finished with the summary its writer gave it; the runs."""
    assert len(ids) == len(set(ids)) == writers * runs_each
    runs = cat.runs()
    assert len(runs) == writers * runs_each  # no run lost
    assert all(r.status == "finished" and r.summary == {"v_form": r.parameters["i"] + 1.0}
               for r in runs)
    return runs
