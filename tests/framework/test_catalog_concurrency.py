"""The catalog under several processes: a new catalog opened by six at once, concurrent writers,
versioned schema (old catalogs upgraded), unique results files, damaged catalog files."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from procedures.framework.catalog import Catalog, CatalogError, RunRecord
from procedures.framework.catalog_schema import current_revision, head_revision
from tests._catalog import assert_every_run_written, write_concurrently
from tests._paths import REPO

ROOT = REPO
N_PROCESSES = 6
RUNS_EACH = 15


def test_six_processes_create_and_write_one_new_catalog_at_once(tmp_path):
    ids, errors = write_concurrently(str(tmp_path), N_PROCESSES, RUNS_EACH)
    assert not errors
    cat = Catalog(tmp_path)
    try:
        runs = assert_every_run_written(cat, ids, N_PROCESSES, RUNS_EACH)
        assert {(r.parameters["writer"], r.parameters["i"]) for r in runs} == {
            (k, i) for k in range(N_PROCESSES) for i in range(RUNS_EACH)}
        assert current_revision(cat.engine) == head_revision()
        with cat.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10000
    finally:
        cat.close()


def test_two_memprobe_runs_on_a_new_folder_both_work(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "gui", "runs", "--data", str(tmp_path),
                               "--json"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "[]" and "Traceback" not in err


def test_the_migrations_make_exactly_the_mapped_schema(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    cat = Catalog(tmp_path)
    try:
        with cat.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), RunRecord.metadata)
        assert diff == []
    finally:
        cat.close()


def test_a_catalog_made_before_migrations_is_upgraded_and_keeps_its_runs(tmp_path):
    from alembic import command

    from procedures.framework import catalog_schema

    old = create_engine(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    with old.begin() as conn:  # what MemProbe 0.1 made (= revision 0001), without a version
        command.upgrade(catalog_schema._alembic_config(conn), catalog_schema.BASELINE)
        conn.exec_driver_sql("DROP TABLE alembic_version")
    with old.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO runs (procedure, parameters, lot, wafer, array, cells, operator, bench,"
            " status, message, started_at, summary, file, host) VALUES ('forming', '{}', '', '',"
            " '1T1R', '[]', '', '', 'finished', '', '2026-01-01 00:00:00', '{}', 'a.csv', 'h')")
    old.dispose()
    cat = Catalog(tmp_path)
    try:
        assert current_revision(cat.engine) == head_revision()
        assert [r.file for r in cat.runs()] == ["a.csv"]
        cat.start_run("iv-cycling", {}, "b.csv")
        assert [r.file for r in cat.runs()] == ["a.csv", "b.csv"]
    finally:
        cat.close()


# -- results files ------------------------------------------------------------------------------

def _claim(root: str, barrier, out) -> None:
    from procedures.framework.registry import procedure_class
    from procedures.framework.runner import create_results

    proc = procedure_class("forming")()
    barrier.wait()
    path, _ = create_results(Path(root), proc, (9, 9), 0)
    out.put(str(path))


def test_two_runs_in_the_same_second_never_share_a_file(tmp_path):
    from procedures.framework.registry import procedure_class
    from procedures.framework.runner import create_results

    proc = procedure_class("forming")()
    # in one process, one after the other (well within a second)
    a, _ = create_results(tmp_path, proc, (9, 9), 0)
    b, _ = create_results(tmp_path, proc, (9, 9), 0)
    assert a != b and a.read_text().startswith("#Procedure") and b.is_file()
    # in two processes at the same moment
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_claim, args=(str(tmp_path), barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    paths = {out.get(timeout=300) for _ in procs}
    for p in procs:
        p.join(timeout=60)
    assert len(paths) == 2 and not paths & {str(a), str(b)}
    for p in paths:
        assert Path(p).read_text().startswith("#Procedure")


# -- a damaged catalog --------------------------------------------------------------------------

def _damage_garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 200)


def _damage_truncate(path: Path) -> None:
    cat = Catalog(path.parent)
    for i in range(400):
        cat.start_run("forming", {"i": i, "pad": "x" * 400}, f"f{i}.csv")
    cat.close()
    with sqlite3.connect(path) as conn:  # fold the WAL into the file, then cut it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)


@pytest.mark.parametrize("damage", [_damage_garbage, _damage_truncate])
def test_a_damaged_catalog_is_one_clear_line_and_nothing_else_happens(damage, data_root,
                                                                      capsys):
    from gui.cli import main

    path = data_root / "catalog.sqlite"
    damage(path)
    with pytest.raises(CatalogError) as err:
        Catalog(data_root)
    for text in (str(err.value),):
        assert "\n" not in text and str(path) in text and "memprobe catalog rebuild" in text
    assert main(["runs", "--data", str(data_root)]) == 2
    err_text = capsys.readouterr().err.strip()
    assert len(err_text.splitlines()) == 1 and str(path) in err_text and "damaged" in err_text
    assert main(["run", "forming", "--data", str(data_root), "--die", "9,9", "--cell", "0,0",
                 "--quiet"]) == 2
    err_text = capsys.readouterr().err.strip()
    assert "damaged" in err_text and "Traceback" not in err_text
    assert not (data_root / "simlab").exists()  # the bench was never opened
    assert not (data_root / "LOT0").exists()  # no results file
    # the way out works: moved aside, the next command starts a new catalog
    for f in data_root.glob("catalog.sqlite*"):
        f.rename(f.with_name(f.name + ".damaged"))
    assert main(["runs", "--data", str(data_root), "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"


def test_the_gui_refuses_a_damaged_catalog_before_opening_the_bench(data_root, qapp, capsys):
    from gui.app import run_app

    _damage_garbage(data_root / "catalog.sqlite")
    assert run_app(data_dir=data_root) == 2
    assert "damaged" in capsys.readouterr().err
    assert not (data_root / "simlab").exists()


def test_a_reused_pid_does_not_keep_a_dead_run_running(tmp_path):
    from datetime import UTC, datetime

    from sqlalchemy import update

    cat = Catalog(tmp_path)
    try:
        mine = cat.start_run("forming", {}, "mine.csv")  # this process, started after it began
        old = cat.start_run("forming", {}, "old.csv")
        with cat._session() as s:  # a run of 2001 whose pid this process happens to have now
            s.execute(update(RunRecord).where(RunRecord.id == old)
                      .values(started_at=datetime(2001, 1, 1, tzinfo=UTC)))
        assert cat.mark_orphans() == 1
        assert cat.get(old).status == "aborted" and cat.get(mine).status == "running"
    finally:
        cat.close()
