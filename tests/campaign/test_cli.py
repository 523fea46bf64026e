"""``memprobe campaign`` end to end: bad files refused before anything is applied, SIGKILL at
random points then ``--resume`` (every unit exactly once), a stop signal against a standalone
``memprobe sim-lab`` (heater set back, chuck separated, SMUs off: read back over the wire)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymeasure.experiment import Results

from gui.cli import main
from procedures.framework.catalog import Catalog
from tests._events import GUARD_S, data_rows, last_json, wait_for
from tests._paths import REPO
from tests._sim_lab import serve_sim_lab
from tests._toml import campaign_text, checkerboard_map, limit, measurement
from tests._visa import visa_query

DEMO = REPO / "resources" / "campaigns" / "temperature-demo.toml"


def _cursor(root: Path, name: str = "temperature-demo") -> dict | None:
    return last_json(root, f"CAMP/W01/campaigns/{name}_*/cursor.json")


def _start(root: Path, *extra: str, campaign: str = "temperature-demo") -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gui.cli", "campaign", campaign, "--data", str(root),
           "--quiet", "--no-figures", *extra]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_bad_campaign_is_one_line_exit_2_nothing_written(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(DEMO.read_text().replace("soak_s = 60.0", "soak_s = nan"))
    root = tmp_path / "data"
    rc = main(["campaign", str(bad), "--data", str(root), "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"{bad}:15: schedule.soak_s" in lines[0], err
    assert not root.exists() or not any(root.rglob("*.csv"))


def test_a_pause_limit_ends_the_session_paused_and_resume_continues(tmp_path, capsys):
    path = tmp_path / "pause.toml"
    path.write_text(HOT.replace('name = "hot"', 'name = "pause"')
                    + limit("map.window", "max", 1, "pause"))
    root = tmp_path / "data"
    args = ["campaign", str(path), "--data", str(root), "--quiet", "--no-figures"]
    assert main([*args, "--fresh"]) == 1
    out, err = capsys.readouterr()
    assert "paused: 1/2 measurements; limit map.window = " in err and "pause" in err
    folder = Path(out.strip().splitlines()[-1])
    assert json.loads((folder / "cursor.json").read_text())["state"] == "paused"
    assert main([*args, "--resume"]) == 0  # the last step's hit has nothing left to pause
    out, err = capsys.readouterr()
    assert Path(out.strip().splitlines()[-1]) == folder and "completed: 2/2" in err
    cursor = json.loads((folder / "cursor.json").read_text())
    assert len(cursor["limit_hits"]) == 2 and len(cursor["sessions"]) == 2


KILL = campaign_text("killme", "CAMP", (9, 9), 'kind = "temperature"\nset_points_c = [25, 60, 90]',
                     checkerboard_map("0-1,0-31"),
                     measurement("read", "conductance-map", "2-5,0-31"), wafer_id="W01")


def _running_runs(root: Path, pid: int) -> list[tuple[int, Path]]:
    """(id, results file) of the catalog's ``running`` runs of process ``pid`` (read only)."""
    db = root / "catalog.sqlite"
    if not db.is_file():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.5)
        try:
            rows = con.execute("SELECT id, file FROM runs WHERE status = 'running' AND pid = ?",
                               (pid,)).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []
    return [(int(i), Path(f) if Path(f).is_absolute() else root / f) for i, f in rows]


def _kill_in_flight(proc: subprocess.Popen, root: Path, k: int, session: int) -> None:
    """SIGKILL the campaign while a measurement is in flight after ``k`` counted units.

    The process is frozen (SIGSTOP) while its state on disk is judged, so what is judged is
    exactly what the kill leaves: a cursor with a pending unit and a catalog run of it still
    ``running`` with rows on disk (which resume must find as an orphan, marked aborted). Not
    in flight: SIGCONT and look again. (Judging a live process raced: the run could finish in
    the catalog between the look and the kill, before the cursor counted it, and the orphan
    was then rightly ``finished``.)"""
    def frozen_then_killed() -> bool:
        os.kill(proc.pid, signal.SIGSTOP)
        c = _cursor(root, "killme")
        ready = (c is not None and len(c["sessions"]) > session and c["pending"] is not None
                 and sum(e["counted"] for e in c["entries"]) >= k
                 and any(data_rows(f) > 0 for _, f in _running_runs(root, proc.pid)))
        os.kill(proc.pid, signal.SIGKILL if ready else signal.SIGCONT)
        return ready

    wait_for(frozen_then_killed, proc, f"a measurement in flight after {k} units")


def test_sigkill_at_random_points_then_resume_completes_each_unit_once(tmp_path):
    root = tmp_path / "data"
    campaign = tmp_path / "killme.toml"
    campaign.write_text(KILL)
    rng = np.random.default_rng(16)
    for attempt in range(2):
        # kill while a measurement is in flight, after a random number of counted units
        n = int(rng.integers(1 + 2 * attempt, 3 + 2 * attempt))
        proc = _start(root, *(["--fresh"] if attempt == 0 else ["--resume"]),
                      campaign=str(campaign))
        _kill_in_flight(proc, root, n, attempt)
        proc.communicate(timeout=GUARD_S)
    final = _start(root, "--resume", campaign=str(campaign))
    out, err = final.communicate(timeout=GUARD_S * 2)
    assert final.returncode == 0, err
    out_dir = Path(out.strip().splitlines()[-1])  # the last line: the campaign folder
    cursor = json.loads((out_dir / "cursor.json").read_text())
    assert cursor["state"] == "completed" and len(cursor["sessions"]) == 3
    counted = [(e["step"], e["index"]) for e in cursor["entries"] if e["counted"]]
    assert counted == [(s, m) for s in range(3) for m in range(2)]  # nothing redone or skipped
    frame = pd.read_csv(out_dir / "campaign_summary.csv")
    assert len(frame) == 6 and (frame["status"] == "finished").all()
    assert frame["elapsed_s"].is_monotonic_increasing
    orphans = {o["run_id"] for o in cursor["orphans"]}
    assert len(orphans) == 2  # the two runs in flight (running in the catalog) at the kills
    catalog = Catalog(root)
    try:
        runs = catalog.runs(tag=f"campaign:{out_dir.name}")
        assert not [r for r in runs if r.status == "running"]
        ids = {e["run_id"] for e in cursor["entries"] if e["counted"]}
        assert {r.id for r in runs} == ids | orphans
        for r in runs:
            Results.load(r.file)  # also the partial files of the killed runs
            if r.id in orphans:
                assert r.status == "aborted"
            else:
                assert r.summary["campaign_step"] in range(3)
    finally:
        catalog.close()
    again = _start(root, "--resume", campaign=str(campaign))
    out, err = again.communicate(timeout=GUARD_S)
    assert again.returncode == 0 and "already complete" in err
    assert out.strip().splitlines()[-1] == str(out_dir)


@pytest.fixture(scope="module")
def sim_lab(tmp_path_factory):
    """A standalone ``memprobe sim-lab`` and the bench file pointing at it. Paced at 600
    modeled s per wall s: a client of a lab bench waits in wall time, the chuck ramps (10 C/min
    modeled) in a fraction of a second."""
    with serve_sim_lab(tmp_path_factory.mktemp("campaign-lab"), "--seed", "5", "--pace",
                       "--time-scale", "600") as served:
        yield served


HOT = campaign_text("hot", "CAMP", (9, 9), 'kind = "temperature"\nset_points_c = [25, 100]',
                    checkerboard_map("0-1,0-15"), wafer_id="W01")


def test_sigterm_sets_the_heater_back_and_leaves_the_bench_safe(sim_lab, tmp_path):
    resources, bench_file = sim_lab
    root = tmp_path / "data"
    campaign = tmp_path / "hot.toml"
    campaign.write_text(HOT)
    proc = _start(root, "--bench", str(bench_file), campaign=str(campaign))

    def hot_step() -> bool:  # the 100 C step measuring
        c = _cursor(root, "hot")
        return c is not None and c["pending"] is not None and c["pending"].startswith("1/")

    wait_for(hot_step, proc, "a measurement at 100 C")
    assert float(visa_query(resources["prober"], "GetHeaterTemp C").split()[1]) > 95
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=GUARD_S)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert Path(out.strip().splitlines()[-1]).name.startswith("hot_")  # the campaign folder
    assert visa_query(resources["b1500"], "*LRN? 0", "\r\n") == "CL"
    assert visa_query(resources["prober"], "ReadChuckStatus").split()[7] == "S"
    cursor = _cursor(root, "hot")
    assert cursor["state"] == "aborted" and cursor["safe_end"]["set_point_c"] == 25.0

    def cooled() -> bool:  # the paced lab's chuck ramps down to the safe set point
        f = visa_query(resources["prober"], "GetHeaterTemp C").split()
        return abs(float(f[1]) - 25.0) < 0.5 and f[3] == "R"

    wait_for(cooled, None, "the chuck back at 25 C")
