"""Several stations, one catalog: processes writing runs at once on SQLite and on a real
PostgreSQL server, the first opens of a new shared catalog migrating it once (advisory lock),
an old PostgreSQL catalog upgraded in place, and stations/operators recorded and filtered."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import create_engine, text

from procedures.framework import catalog_schema
from procedures.framework.catalog import Catalog
from procedures.framework.catalog_schema import current_revision, head_revision
from tests._catalog import assert_every_run_written, write_concurrently
from tests._paths import REPO

ROOT = REPO
N_STATIONS = 4
RUNS_EACH = 12


def test_stations_write_one_new_catalog_at_once_without_loss(catalog_url):
    ids, errors = write_concurrently(catalog_url, N_STATIONS, RUNS_EACH, prefix="s",
                                     stations=True)
    assert errors == []
    cat = Catalog(catalog_url)
    try:
        assert_every_run_written(cat, ids, N_STATIONS, RUNS_EACH)
        for k in range(N_STATIONS):
            mine = cat.runs(station=f"probe-{k}")
            assert {r.file for r in mine} == {f"s{k}_{i}.csv" for i in range(RUNS_EACH)}
            assert {r.operator for r in mine} == {f"op{k}"}
        assert current_revision(cat.engine) == head_revision()
        with cat.engine.connect() as conn:  # migrated exactly once: one version row
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        cat.close()


def test_an_old_postgresql_catalog_is_upgraded_in_place(pg_server):
    from alembic import command

    url = pg_server.new_database()
    engine = create_engine(url)
    with engine.begin() as conn:  # a catalog at the first revision, with one run
        command.upgrade(catalog_schema._alembic_config(conn), catalog_schema.BASELINE)
        conn.execute(text(
            "INSERT INTO runs (procedure, parameters, lot, wafer, \"array\", cells, operator,"
            " bench,"
            " status, message, started_at, summary, file, host) VALUES ('forming', '{}', 'L1',"
            " 'W1', '1T1R', '[]', 'ada', '', 'finished', '', now(), '{}', 'a.csv', 'h')"))
    assert current_revision(engine) == catalog_schema.BASELINE
    engine.dispose()
    cat = Catalog(url)
    try:
        assert current_revision(cat.engine) == head_revision()
        (old,) = cat.runs()
        assert (old.file, old.operator, old.station) == ("a.csv", "ada", "")
        new = cat.start_run("forming", {}, "b.csv", station="probe-1")
        assert [r.id for r in cat.runs(station="probe-1")] == [new]
    finally:
        cat.close()


def test_memprobe_runs_filters_by_station(tmp_path):
    cat = Catalog(tmp_path)
    a = cat.start_run("forming", {}, "a.csv", station="probe-1", operator="ada")
    cat.start_run("forming", {}, "b.csv", station="probe-2", operator="bob")
    cat.close()
    out = subprocess.run([sys.executable, "-m", "gui", "runs", "--data", str(tmp_path),
                          "--station", "probe-1", "--json"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [(r["id"], r["station"], r["operator"]) for r in rows] == [(a, "probe-1", "ada")]
    table = subprocess.run([sys.executable, "-m", "gui", "runs", "--data", str(tmp_path)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "probe-2" in table.stdout and "bob" in table.stdout


def test_a_run_records_the_bench_station_and_the_operator(sim_bench, data_root, monkeypatch):
    from procedures.experiments.forming import FormingProcedure
    from procedures.framework.runner import prepare_run

    sim_bench.config.station = "probe-7"  # what a bench file's `station = "probe-7"` gives
    monkeypatch.setenv("MEMPROBE_OPERATOR", "grace")
    cat = Catalog(data_root)
    try:
        proc = FormingProcedure()
        proc.cells, proc.die = "0,0", "9,9"
        first = prepare_run(proc, sim_bench, data_root, cat).run()
        proc.operator, proc.cells = "ada", "0,1"  # the procedure's operator comes first
        second = prepare_run(proc, sim_bench, data_root, cat).run()
        assert first.status == second.status == "finished", (first.error, second.error)
        runs = cat.runs(station="probe-7")
        assert [(r.id, r.operator) for r in runs] == [(first.run_id, "grace"),
                                                       (second.run_id, "ada")]
    finally:
        cat.close()


def test_bench_file_station_operator_and_catalog_keys(tmp_path):
    from instruments.bench_config import BENCH_DIR, load_bench_config

    text = (BENCH_DIR / "simulated.toml").read_text()
    path = tmp_path / "station.toml"
    path.write_text('station = "probe-3"\noperator = "ada"\n'
                    'catalog = "postgresql+psycopg://labdb/memprobe"\n' + text)
    cfg = load_bench_config(path)
    assert (cfg.station, cfg.operator, cfg.catalog) == (
        "probe-3", "ada", "postgresql+psycopg://labdb/memprobe")
    assert cfg.station_name() == "probe-3"
    assert load_bench_config("simulated").station_name()  # default: the host name


def test_memprobe_run_and_the_gui_use_the_bench_files_catalog(tmp_path, pg_server, monkeypatch):
    """``catalog = URL`` in a bench file: `memprobe runs` of that URL sees what the station
    wrote, and the GUI opens that catalog (`memprobe wafer` too, not tested here)."""
    from gui.app import _bench_catalog
    from instruments.bench_config import BENCH_DIR

    url = pg_server.new_database()
    bench = tmp_path / "station.toml"
    bench.write_text(f'station = "probe-9"\ncatalog = "{url}"\n'
                     + (BENCH_DIR / "simulated.toml").read_text())
    assert _bench_catalog(str(bench)) == url
    assert _bench_catalog("simulated") == ""
    data = tmp_path / "data"
    out = subprocess.run([sys.executable, "-m", "gui", "run", "forming", "--bench", str(bench),
                          "--data", str(data), "--die", "9,9", "--cell", "0,0", "--quiet",
                          "--operator", "ada"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    cat = Catalog(url)
    try:
        (run,) = cat.runs(station="probe-9")
        assert run.status == "finished" and run.operator == "ada"
    finally:
        cat.close()
    assert not (data / "catalog.sqlite").exists()  # the shared catalog, not a local one
