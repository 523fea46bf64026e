"""``memprobe catalog check`` and ``rebuild`` on real runs of the simulated bench: run records
beside the results files, a damaged SQLite catalog rebuilt (same ids, status, summary, station),
a results file without its record, rebuilding into PostgreSQL, check's findings."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from pymeasure.experiment import Results

from gui.cli import main
from procedures.experiments.forming import FormingProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.run_end import MARKER
from procedures.framework.run_record import read_record, record_path
from procedures.framework.runner import prepare_run


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Two forming runs on station probe-5 (a fresh data root), their outcomes."""
    from instruments.bench import Bench

    root = tmp_path_factory.mktemp("measured")
    bench = Bench.open("simulated", data_dir=root, fresh=True)
    bench.config.station = "probe-5"
    cat = Catalog(root)
    try:
        outs = []
        for cell in ("0,0", "0,1"):
            proc = FormingProcedure()
            proc.cells, proc.die, proc.operator = cell, "9,9", "ada"
            outs.append(prepare_run(proc, bench, root, cat).run())
    finally:
        cat.close()
        bench.close()
    assert all(o.status == "finished" for o in outs), [o.error for o in outs]
    return root, outs


def _copy(root, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(root, dst, ignore=shutil.ignore_patterns("simlab", "*.lock"))
    return dst


def test_each_run_leaves_a_run_record_and_a_stock_pymeasure_file(measured):
    _, outs = measured
    for o in outs:
        rec = read_record(o.file)
        assert rec["run_id"] == o.run_id and rec["status"] == "finished"
        assert rec["station"] == "probe-5" and rec["operator"] == "ada"
        assert rec["summary"]["cells_formed"] == 1 and rec["ended_at"]
        assert len(Results.load(str(o.file)).data) > 0  # the CSV is untouched pymeasure


def test_a_damaged_catalog_is_rebuilt_from_the_files(measured, tmp_path, capsys):
    root, outs = measured
    root = _copy(root, tmp_path)
    before = {r.id: r for r in Catalog(root).runs()}
    (root / "catalog.sqlite").write_bytes(b"this is not a database" * 100)
    for f in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (root / f).unlink(missing_ok=True)
    assert main(["runs", "--data", str(root)]) == 2
    assert "memprobe catalog rebuild" in capsys.readouterr().err
    assert main(["catalog", "rebuild", "--data", str(root)]) == 0
    out = capsys.readouterr().out
    assert "2 runs indexed (2 from run records" in out
    assert list(root.glob("catalog.sqlite.*.bak"))  # the damaged file was kept aside
    cat = Catalog(root)
    try:
        after = {r.id: r for r in cat.runs()}
        assert set(after) == set(before) == {o.run_id for o in outs}
        for rid, r in after.items():
            b = before[rid]
            assert (r.procedure, r.status, r.summary, r.die, r.station, r.operator, r.cells) == (
                b.procedure, b.status, b.summary, b.die, b.station, b.operator, b.cells)
            assert r.started_at == b.started_at and r.ended_at == b.ended_at
        new = cat.start_run("forming", {}, "next.csv")
        assert new > max(after)
    finally:
        cat.close()


def test_a_file_without_its_record_is_indexed_from_its_header(measured, tmp_path, capsys):
    root, outs = measured
    root = _copy(root, tmp_path)
    for f in root.glob("catalog.sqlite*"):
        f.unlink()
    bare_file = root / outs[1].file.relative_to(measured[0])
    record_path(bare_file).unlink()
    # as a killed run leaves it: no closing block either (tests/framework/test_run_end.py
    # rebuilds from one)
    text = bare_file.read_text(encoding="utf-8")
    bare_file.write_text(text.partition(MARKER + "\n")[0], encoding="utf-8")
    assert main(["catalog", "rebuild", "--data", str(root)]) == 0
    assert "(1 from run records, 1 from the results header alone)" in capsys.readouterr().out
    cat = Catalog(root)
    try:
        by_file = {r.file.rsplit("/", 1)[-1]: r for r in cat.runs()}
        bare = by_file[outs[1].file.name]
        assert bare.procedure == "forming" and bare.die == (9, 9) and bare.status == "aborted"
        assert "unknown" in bare.message and bare.parameters["cells"] == "0,1"
        assert bare.operator == "ada"
    finally:
        cat.close()


def test_rebuild_into_a_postgresql_catalog(measured, tmp_path, pg_server, capsys):
    root = _copy(measured[0], tmp_path)
    url = pg_server.new_database()
    assert main(["catalog", "rebuild", "--data", str(root), "--catalog", url]) == 0
    cat = Catalog(url)
    try:
        assert {r.id for r in cat.runs(station="probe-5")} == {o.run_id for o in measured[1]}
        assert cat.start_run("forming", {}, "x.csv") > max(o.run_id for o in measured[1])
    finally:
        cat.close()
    assert main(["catalog", "rebuild", "--data", str(root), "--catalog", url]) == 2
    assert "empty catalog" in capsys.readouterr().err


def test_check_finds_missing_orphaned_and_dead_running(measured, tmp_path, capsys):
    root, outs = measured
    root = _copy(root, tmp_path)
    cat = Catalog(root)
    moved = [r for r in cat.runs()]
    cat.close()
    # the copy's catalog points at the original files: re-point it by rebuilding
    for f in root.glob("catalog.sqlite*"):
        f.unlink()
    assert main(["catalog", "rebuild", "--data", str(root)]) == 0
    assert main(["catalog", "check", "--data", str(root)]) == 0
    assert capsys.readouterr().out.strip().endswith("ok")
    first = root / outs[0].file.relative_to(measured[0])
    shutil.copy(first, first.with_name("stray_copy.csv"))  # a results file nobody indexed
    first.unlink()  # an indexed file gone
    code = ("import os; from procedures.framework.catalog import Catalog;"
            f"c = Catalog(r'{root}'); c.start_run('endurance', {{}}, 'x.csv', station='s');"
            "os._exit(0)")  # a process that dies mid-run
    subprocess.run([sys.executable, "-c", code], check=True)
    assert main(["catalog", "check", "--data", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"missing file: run {outs[0].run_id}" in out and str(first) in out
    assert "orphaned file (no catalog entry):" in out and "stray_copy.csv" in out
    assert "missing file: run" in out and "x.csv" in out
    assert "1 run(s) of dead processes were still 'running': marked aborted" in out
    assert len(moved) == 2
