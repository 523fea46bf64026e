"""A wafer run and a campaign that the code of commit 4550269 wrote (before the cursors shared
``CursorFile``/``JsonRecord`` and the sessions ``BackgroundSession``'s checkpoint), placed in a
data root to be resumed by today's code; shared by the cursor, command-line and GUI tests.

``tests/wafer/data/cursor_4550269_aborted.json`` + ``recipe_4550269.toml``: a run of two dies
aborted on the second die's first split (die (9,9) done, die (10,9) in progress with one
aborted, uncounted run). ``tests/campaign/data/cursor_4550269_aborted.json`` +
``campaign_4550269.toml``: a three-step temperature campaign aborted in the second step's map.
Only the absolute folder of their results files was replaced by ``/old-lab/data``. Kept as they
are: do not regenerate them with newer code, that would defeat the check.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

TESTS = Path(__file__).parent
OLD_WAFER_CURSOR = TESTS / "wafer" / "data" / "cursor_4550269_aborted.json"
OLD_RECIPE = TESTS / "wafer" / "data" / "recipe_4550269.toml"
OLD_WAFER_FOLDER = "T/W1/wafer-runs/small_20261201-221058"
OLD_CAMPAIGN_CURSOR = TESTS / "campaign" / "data" / "cursor_4550269_aborted.json"
OLD_CAMPAIGN = TESTS / "campaign" / "data" / "campaign_4550269.toml"
OLD_CAMPAIGN_FOLDER = "CT/W1/campaigns/steps_20261201-221100"


def _placed(data_root: Path, folder: str, cursor: Path, source: Path, name: str) -> Path:
    out_dir = data_root / folder
    out_dir.mkdir(parents=True)
    shutil.copy(cursor, out_dir / "cursor.json")
    shutil.copy(source, out_dir / name)
    return out_dir


def old_wafer_run_in(data_root: Path) -> Path:
    """The old aborted wafer run's output folder, placed under ``data_root``."""
    return _placed(data_root, OLD_WAFER_FOLDER, OLD_WAFER_CURSOR, OLD_RECIPE, "recipe.toml")


def old_campaign_in(data_root: Path) -> Path:
    """The old aborted campaign's output folder, placed under ``data_root``."""
    return _placed(data_root, OLD_CAMPAIGN_FOLDER, OLD_CAMPAIGN_CURSOR, OLD_CAMPAIGN,
                   "campaign.toml")


def contains(new: Any, was: Any) -> bool:
    """Every key and value of ``was`` is in ``new`` (lists item by item)."""
    if isinstance(was, dict):
        return isinstance(new, dict) and all(k in new and contains(new[k], v)
                                             for k, v in was.items())
    if isinstance(was, list):
        return isinstance(new, list) and len(new) == len(was) and all(map(contains, new, was))
    return new == was


def resumed_on_the_command_line(tmp_path: Path, capsys: Any, command: str, source: Path,
                                out_dir: Path, *options: str) -> dict[str, Any]:
    """``memprobe <command> <copy of source> --data <root of out_dir> --resume --quiet
    <options>`` run in process: exit code 0, the old folder found (no "no run ... to resume"),
    completed in a second session, no other folder made; its saved cursor."""
    from gui.cli import main

    path = tmp_path / f"{command}-{source.name}"
    path.write_text(source.read_text())
    root = out_dir.parents[3]
    assert main([command, str(path), "--data", str(root), "--resume", "--quiet", *options]) == 0
    assert "to resume" not in capsys.readouterr().err
    saved = json.loads((out_dir / "cursor.json").read_text())
    assert saved["state"] == "completed" and len(saved["sessions"]) == 2
    assert [p.name for p in out_dir.parent.iterdir()] == [out_dir.name]
    return saved
