"""The typed wafer cursor: round trip, a format-1 file written by the code before the cursor was
typed, atomic saves, and a run aborted under format 1 resumed by the typed executor."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from procedures.framework.catalog import Catalog
from procedures.wafer import WaferRun, load_cursor
from procedures.wafer.atomic import atomic_write
from procedures.wafer.cursor import (
    CURSOR_FORMAT,
    CURSOR_NAME,
    ContactCheck,
    DieRecord,
    PendingUnit,
    RunEntry,
    WaferCursor,
)
from procedures.wafer.errors import CursorError, WaferRunError
from tests.wafer._wafer import aborted_in_second_die, bench_safe, counted, small_recipe

DATA = Path(__file__).parent / "data"


def _sample() -> WaferCursor:
    c = WaferCursor(recipe_name="r", recipe_sha256="ab", lot="L", wafer_id="W", bench="sim",
                    route=[(9, 9), (10, 9)], catalog_floor=3)
    rec = c.record((9, 9))
    rec.state, rec.bin, rec.bin_name, rec.passed = "done", 1, "good", True
    rec.runs.append(RunEntry(unit="0/0/0", run_id=4, procedure="forming", status="finished",
                             file="f.csv", counted=True, step="form", step_index=0,
                             split_param="compliance", split_value=5e-5,
                             summary={"v_form": 2.5}, figures={"v_form": 2.5}))
    rec.contact.append(ContactCheck(state="contact", current_a=1e-9, g_max_siemens=2e-9,
                                    tries=1, checked=True, subsite=0))
    rec.figures = {"form.v_form": float("nan")}
    c.pending = PendingUnit((10, 9), "0/0/1", "form", "2026-01-01T00:00:00+00:00")
    c.event("paused")
    return c


def test_round_trip_keeps_every_field(tmp_path):
    c = _sample()
    c.save(tmp_path)
    back = WaferCursor.load(tmp_path)
    assert back.to_json() == {**c.to_json(), "updated_at": back.updated_at}
    assert back.format == CURSOR_FORMAT
    rec = back.get((9, 9))
    assert isinstance(rec, DieRecord) and rec.passed is True and rec.bin == 1
    assert rec.figures == {"form.v_form": None}  # NaN is stored as null
    assert back.pending == c.pending and back.route == [(9, 9), (10, 9)]
    assert back.get((10, 9)) is None and back.dies_done() == 1
    raw = json.loads((tmp_path / CURSOR_NAME).read_text())
    assert raw["dies"]["9,9"]["pass"] is True and raw["format"] == CURSOR_FORMAT


def test_a_format_1_cursor_of_the_old_code_loads_without_losing_anything(tmp_path):
    """``cursor_format1.json`` was written by the untyped executor (an orphan-marked run)."""
    old = json.loads((DATA / "cursor_format1.json").read_text())
    assert old["format"] == 1
    shutil.copy(DATA / "cursor_format1.json", tmp_path / CURSOR_NAME)
    c = load_cursor(tmp_path)
    assert c.state == old["state"] and c.recipe_sha256 == old["recipe_sha256"]
    assert c.route == [tuple(d) for d in old["route"]]
    rec = c.get((9, 9))
    assert rec is not None and rec.bin == old["dies"]["9,9"]["bin"]
    assert [e.run_id for e in rec.runs] == [e["run_id"] for e in old["dies"]["9,9"]["runs"]]
    assert rec.runs[0].counted is False and rec.runs[0].unit == ""  # the orphan entry
    # the contact check is typed; the old key g_max_s (siemens) reads as g_max_siemens
    old_check = old["dies"]["9,9"]["contact"][0]
    assert isinstance(rec.contact[0], ContactCheck)
    assert rec.contact[0].g_max_siemens == old_check["g_max_s"]
    assert rec.contact[0].state == old_check["state"] and rec.contact[0].subsite == 0

    def contains(new, was):  # every old key and value is still there
        if isinstance(was, dict):
            return all(k in new and contains(new[k], v) for k, v in was.items())
        if isinstance(was, list):
            return len(new) == len(was) and all(map(contains, new, was))
        return new == was

    new = c.to_json()
    renamed = json.loads((DATA / "cursor_format1.json").read_text()
                         .replace('"g_max_s"', '"g_max_siemens"'))
    assert contains(new, {k: v for k, v in renamed.items() if k != "format"})
    assert new["format"] == CURSOR_FORMAT


@pytest.mark.parametrize("text, message", [
    ("{not json", "is not readable"),
    ('{"format": 99, "recipe_name": "r", "recipe_sha256": ""}', "unknown cursor format 99"),
    ("[]", "not a JSON object"),
])
def test_a_bad_cursor_is_a_clear_error(tmp_path, text, message):
    (tmp_path / CURSOR_NAME).write_text(text)
    with pytest.raises(WaferRunError, match=message):
        WaferCursor.load(tmp_path)
    with pytest.raises(CursorError, match="does not exist"):
        WaferCursor.load(tmp_path / "nowhere")


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "cursor.json"
    atomic_write(target, "old")
    assert target.read_text() == "old" and oct(target.stat().st_mode & 0o777) == "0o644"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new" * 1000)
    assert target.read_text() == "old"  # untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["cursor.json"]  # no temp left
    monkeypatch.undo()
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"


def test_a_run_aborted_under_format_1_resumes(sim_bench, data_root):
    """A run aborted by the code before the typed cursor (format 1 layout) resumes and
    completes, redoing only the aborted step."""
    recipe = small_recipe("[[9, 9], [10, 9]]")
    catalog = Catalog(data_root)
    _, outcome = aborted_in_second_die(recipe, sim_bench, data_root, catalog)
    assert outcome.state == "aborted"
    # what the untyped executor wrote: format 1, no "figures" on runs never evaluated
    path = outcome.out_dir / CURSOR_NAME
    data = json.loads(path.read_text())
    data["format"] = 1
    for rec in data["dies"].values():
        for e in rec["runs"]:
            if not e["counted"] and not e["figures"]:
                del e["figures"]
    path.write_text(json.dumps(data, indent=1))
    again = WaferRun.reopen(recipe, sim_bench, data_root, catalog, outcome.out_dir)
    again.draw_maps = False
    assert again.run().state == "completed"
    for die in again.route:
        assert sorted(e.unit for e in counted(again, die)) == ["0/0/0", "0/0/1"]
    assert json.loads(path.read_text())["format"] == CURSOR_FORMAT
    assert bench_safe(sim_bench)
