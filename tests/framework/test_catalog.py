"""The run catalog, the same tests on SQLite and on a real PostgreSQL server (``catalog_url``)."""

import subprocess
import sys

import numpy as np
import pytest

from procedures.framework.catalog import Catalog


def test_run_lifecycle_and_filters(tmp_path, catalog_url):
    cat = Catalog(catalog_url)
    a = cat.start_run("forming", {"v_max": 4.0}, tmp_path / "a.csv", die=(9, 9), subsite=0,
                      array="1T1R", cells=[[0, 1]], temperature_c=25.0, bench="simulated")
    b = cat.start_run("iv-cycling", {"cycles": 10}, tmp_path / "b.csv", die=(3, 4))
    assert cat.get(a).status == "running"
    cat.finish_run(a, "finished", {"v_form": np.float64(2.71)})
    cat.finish_run(b, "aborted", message="operator stop")
    info = cat.get(a)
    assert info.status == "finished" and info.summary == {"v_form": 2.71}
    assert info.die == (9, 9) and info.cells == [[0, 1]] and info.ended_at
    assert [r.id for r in cat.runs(procedure="forming")] == [a]
    assert [r.id for r in cat.runs(die=(3, 4))] == [b]
    assert [r.id for r in cat.runs(status="aborted")] == [b]
    cat.update_summary(a, r_lrs=1e4)
    assert cat.get(a).summary == {"v_form": 2.71, "r_lrs": 1e4}
    js = cat.get(a).to_json()
    assert js["die"] == [9, 9] and js["parameters"] == {"v_max": 4.0}
    with pytest.raises(ValueError):
        cat.finish_run(a, "done")
    with pytest.raises(KeyError):
        cat.get(999)
    c = cat.start_run("forming", {}, "c.csv", station="probe-2", operator="ada")
    assert [r.id for r in cat.runs(station="probe-2")] == [c]
    assert [r.id for r in cat.runs(operator="ada")] == [c]
    assert cat.get(c).to_json()["station"] == "probe-2"
    cat.close()


def test_run_of_a_killed_process_is_marked_aborted_on_next_open(catalog_url):
    code = (
        "import os, sys; from procedures.framework.catalog import Catalog;"
        f"c = Catalog(r'{catalog_url}'); c.start_run('endurance', {{}}, 'x.csv');"
        "os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    cat = Catalog(catalog_url)
    (run,) = cat.runs()
    assert run.status == "aborted"
    assert "killed" in run.message
