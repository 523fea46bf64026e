"""A wafer cursor written by the code of commit 4550269 (before the shared ``CursorFile``
fields, ``JsonRecord`` and ``BackgroundSession`` of the #12 refactors) resumes with today's code.

``data/cursor_4550269_aborted.json`` and ``data/recipe_4550269.toml`` are the files that code
wrote for a run of two dies aborted on the second die's first split (die (9,9) done, die
(10,9) in progress with one aborted, uncounted run); only the absolute folder of its results
files was replaced by ``/old-lab/data``. Kept as they are: do not regenerate them with newer
code, that would defeat the check.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from procedures.framework.catalog import Catalog
from procedures.wafer import WaferRun, find_resumable, load_cursor, parse_recipe
from procedures.wafer.cursor import CURSOR_FORMAT, CURSOR_NAME
from tests.wafer._wafer import bench_safe, counted

DATA = Path(__file__).parent / "data"
OLD_CURSOR = DATA / "cursor_4550269_aborted.json"
OLD_RECIPE = DATA / "recipe_4550269.toml"
FOLDER = "T/W1/wafer-runs/small_20261201-221058"


def _old_run_in(data_root: Path) -> Path:
    out_dir = data_root / FOLDER
    out_dir.mkdir(parents=True)
    shutil.copy(OLD_CURSOR, out_dir / CURSOR_NAME)
    shutil.copy(OLD_RECIPE, out_dir / "recipe.toml")
    return out_dir


def _contains(new, was) -> bool:
    """Every key and value of ``was`` is in ``new`` (lists item by item)."""
    if isinstance(was, dict):
        return isinstance(new, dict) and all(k in new and _contains(new[k], v)
                                             for k, v in was.items())
    if isinstance(was, list):
        return isinstance(new, list) and len(new) == len(was) and all(map(_contains, new, was))
    return new == was


def test_the_old_cursor_loads_and_saves_back_without_losing_a_key(tmp_path):
    old = json.loads(OLD_CURSOR.read_text())
    assert old["format"] == 2 and old["state"] == "aborted"
    out_dir = _old_run_in(tmp_path)
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
    renamed = json.loads(OLD_CURSOR.read_text().replace('"g_max_s"', '"g_max_siemens"'))
    assert _contains(json.loads((out_dir / CURSOR_NAME).read_text()),
                     {k: v for k, v in renamed.items() if k != "updated_at"})


def test_a_run_aborted_by_the_old_code_is_found_and_resumed_to_the_end(sim_bench, data_root):
    out_dir = _old_run_in(data_root)
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
    from gui.cli import main

    root = tmp_path / "data"
    out_dir = _old_run_in(root)
    recipe = tmp_path / "small.toml"
    recipe.write_text(OLD_RECIPE.read_text())
    assert main(["wafer", str(recipe), "--data", str(root), "--resume", "--quiet",
                 "--no-maps"]) == 0
    assert "to resume" not in capsys.readouterr().err  # it found the old run
    saved = json.loads((out_dir / CURSOR_NAME).read_text())
    assert saved["state"] == "completed" and len(saved["sessions"]) == 2
    assert [p.name for p in out_dir.parent.iterdir()] == [out_dir.name]  # no new run
    units = sorted(e["unit"] for e in saved["dies"]["10,9"]["runs"] if e["counted"])
    assert units == ["0/0/0", "0/0/1"]
