"""A wafer cursor written by the code of commit 4550269 (before the shared ``CursorFile``
fields, ``JsonRecord`` and ``BackgroundSession`` of the #12 refactors) resumes with today's code:
loaded without losing a key, resumed in process and with ``memprobe wafer --resume``. The
fixture is described in :mod:`tests._old_cursors`."""

from __future__ import annotations

import json

from procedures.framework.catalog import Catalog
from procedures.wafer import WaferRun, find_resumable, load_cursor, parse_recipe
from procedures.wafer.cursor import CURSOR_FORMAT, CURSOR_NAME
from tests._old_cursors import (
    OLD_RECIPE,
    OLD_WAFER_CURSOR,
    contains,
    old_wafer_run_in,
    resumed_on_the_command_line,
)
from tests.wafer._wafer import bench_safe, counted


def test_the_old_cursor_loads_and_saves_back_without_losing_a_key(tmp_path):
    old = json.loads(OLD_WAFER_CURSOR.read_text())
    assert old["format"] == 2 and old["state"] == "aborted"
    out_dir = old_wafer_run_in(tmp_path)
    cursor = load_cursor(out_dir)
    assert cursor.format == CURSOR_FORMAT and cursor.state == "aborted"
    assert cursor.route == [(9, 9), (10, 9)] and cursor.dies_done() == 1
    assert [s["pid"] for s in cursor.sessions] == [s["pid"] for s in old["sessions"]]
    in_progress = cursor.get((10, 9))
    assert in_progress is not None and in_progress.state == "in-progress"
    assert [(e.unit, e.status, e.counted) for e in in_progress.runs] == [
        ("0/0/0", "aborted", False)]
    assert in_progress.contact[-1].g_max_siemens == old["dies"]["10,9"]["contact"][-1]["g_max_s"]
    cursor.save(out_dir)
    # the contact check's g_max_s (siemens) is written back as g_max_siemens, nothing else moves
    renamed = json.loads(OLD_WAFER_CURSOR.read_text().replace('"g_max_s"', '"g_max_siemens"'))
    assert contains(json.loads((out_dir / CURSOR_NAME).read_text()),
                    {k: v for k, v in renamed.items() if k != "updated_at"})


def test_a_run_aborted_by_the_old_code_is_found_and_resumed_to_the_end(sim_bench, data_root):
    out_dir = old_wafer_run_in(data_root)
    recipe = parse_recipe(OLD_RECIPE.read_text(), "small.toml")
    assert find_resumable(data_root, recipe) == out_dir  # what Resume and --resume pick
    catalog = Catalog(data_root)
    try:
        run = WaferRun.reopen(recipe, sim_bench, data_root, catalog, out_dir)
        run.draw_maps = False
        outcome = run.run()
    finally:
        catalog.close()
    assert outcome.state == "completed", outcome.error
    for die in run.route:  # the aborted split redone, nothing counted twice
        assert sorted(e.unit for e in counted(run, die)) == ["0/0/0", "0/0/1"]
    done = run.die_record((9, 9))
    assert [e.run_id for e in done.runs] == [1, 2]  # the old die is not run again
    aborted = [e for e in run.die_record((10, 9)).runs if not e.counted]
    assert [(e.unit, e.status) for e in aborted] == [("0/0/0", "aborted")]
    saved = json.loads((out_dir / CURSOR_NAME).read_text())
    assert saved["format"] == CURSOR_FORMAT and saved["state"] == "completed"
    assert len(saved["sessions"]) == 2
    assert find_resumable(data_root, recipe) is None
    assert bench_safe(sim_bench)


def test_memprobe_wafer_resume_continues_the_old_run(tmp_path, capsys):
    out_dir = old_wafer_run_in(tmp_path / "data")
    saved = resumed_on_the_command_line(tmp_path, capsys, "wafer", OLD_RECIPE, out_dir,
                                        "--no-maps")
    units = sorted(e["unit"] for e in saved["dies"]["10,9"]["runs"] if e["counted"])
    assert units == ["0/0/0", "0/0/1"]
