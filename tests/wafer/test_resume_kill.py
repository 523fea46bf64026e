"""Crash safety: ``memprobe wafer`` killed (SIGKILL) at random points and resumed each time.

In the end every die is done exactly once (cursor and summary), every results file the catalog
names exists and loads with pymeasure, nothing is left ``running``, and every run a kill
interrupted is kept but marked ``aborted``.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from pymeasure.experiment import Results

from procedures.framework.catalog import Catalog
from tests._events import GUARD_S, last_json, total_rows, wait_for

ROOT = Path(__file__).resolve().parents[2]

RECIPE = """\
name = "killme"

[wafer]
lot = "K"
wafer_id = "W9"

[route]
dies = [[8, 8], [9, 8], [10, 8], [11, 8], [11, 9], [10, 9], [9, 9], [8, 9]]

[[steps]]
name = "form"
procedure = "forming"
cells = "0,0-3"
params = { v_start = 1.5, v_stop = 4.0, v_step = 0.1 }
split = { param = "compliance", values = [5e-5, 1e-4] }

[[steps]]
name = "map"
procedure = "conductance-map"
cells = "0-1,0-15"

[[bins]]
code = 1
name = "good"
pass = true
limits = { "form.cells_formed" = [3, 4] }
"""
UNITS = ["0/0/0", "0/0/1", "0/1/0"]


def _cursor(root: Path) -> dict | None:
    return last_json(root, "K/W9/wafer-runs/killme_*/cursor.json")


def _start(recipe: Path, root: Path, resume: bool) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gui.cli", "wafer", str(recipe), "--data", str(root),
           "--quiet", "--no-maps"] + (["--resume"] if resume else [])
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_sigkill_at_random_points_then_resume_completes_consistently(tmp_path):
    root = tmp_path / "data"
    recipe = tmp_path / "killme.toml"
    recipe.write_text(RECIPE)
    rng = np.random.default_rng(20240607)
    killed = 0
    for attempt in range(3):
        before = total_rows(root)
        # the kill point, in rows this session writes: anywhere in its first ~2 dies (a die is
        # ~140 rows, the route ~1,100: 3 x <= 250 rows cannot finish it, every kill hits a run)
        n_rows = int(rng.integers(1, 250))
        proc = _start(recipe, root, resume=attempt > 0)

        def session_running(k: int = attempt) -> bool:
            c = _cursor(root)
            return c is not None and len(c.get("sessions", [])) > k and c["state"] == "running"

        def rows_written(target: int = before + n_rows) -> bool:
            return total_rows(root) >= target

        wait_for(session_running, proc, f"session {attempt} running")
        wait_for(rows_written, proc, f"{n_rows} more rows")
        os.kill(proc.pid, signal.SIGKILL)
        killed += 1
        proc.communicate(timeout=GUARD_S)
    assert killed == 3
    final = _start(recipe, root, resume=True)
    out, err = final.communicate(timeout=GUARD_S * 2)
    assert final.returncode == 0, err
    out_dir = Path(out.strip().splitlines()[-1])  # last line: the wafer output folder
    assert (out_dir / "wafer_summary.csv").is_file() and (out_dir / "bins.xml").is_file()

    cursor = json.loads((out_dir / "cursor.json").read_text())
    assert cursor["state"] == "completed"
    route = [tuple(d) for d in cursor["route"]]
    assert len(route) == 8
    counted_ids = set()
    for die in route:
        rec = cursor["dies"][f"{die[0]},{die[1]}"]
        assert rec["state"] == "done" and rec["bin"] == 1
        units = sorted(e["unit"] for e in rec["runs"] if e["counted"])
        assert units == UNITS  # every step exactly once: nothing redone, nothing skipped
        counted_ids |= {e["run_id"] for e in rec["runs"] if e["counted"]}
    summary = pd.read_csv(out_dir / "wafer_summary.csv")
    assert sorted(zip(summary["col"], summary["row"], strict=True)) == sorted(route)

    catalog = Catalog(root)
    try:
        runs = catalog.runs(wafer="W9")
        assert runs and not [r for r in runs if r.status == "running"]
        orphans = {o["run_id"] for o in cursor["orphans"]}
        for r in runs:
            assert Path(r.file).is_file(), r.file
            Results.load(r.file)  # readable by pymeasure, also a killed run's partial file
            if r.id in counted_ids:
                assert r.status == "finished" and r.summary["wafer_bin"] == 1
            else:  # interrupted by a kill: kept, marked
                assert r.id in orphans
                assert r.status == "aborted" and "interrupted" in r.message
        assert len(counted_ids) == 8 * len(UNITS)
        assert len(runs) == len(counted_ids) + len(orphans)
    finally:
        catalog.close()
