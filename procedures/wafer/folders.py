"""Where wafer runs live on disk (``<data root>/<lot>/<wafer>/wafer-runs/<recipe>_<stamp>``), which
one to resume, and the ``--dies`` syntax."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from instruments.wafermap import DieIndex
from procedures.framework.validation import safe_component
from procedures.wafer.cursor import peek
from procedures.wafer.recipe import Recipe


def wafer_runs_dir(data_root: Path, recipe: Recipe) -> Path:
    """Folder holding the wafer output folders of ``recipe``'s lot and wafer."""
    return (Path(data_root) / safe_component(recipe.wafer.lot)
            / safe_component(recipe.wafer.wafer_id) / "wafer-runs")


def new_output_folder(base: Path, name: str) -> Path:
    """A new folder ``<base>/<name>_<YYYYmmdd-HHMMSS>`` (``_2``, ``_3``, ... appended if that
    second is taken), made with its parents. Used by wafer runs and campaigns."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(base) / f"{safe_component(name)}_{stamp}"
    n = 1
    while out_dir.exists():
        n += 1
        out_dir = Path(base) / f"{safe_component(name)}_{stamp}_{n}"
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def latest_run(data_root: Path, recipe: Recipe, unfinished: bool = False) -> Path | None:
    """The newest output folder of a run of ``recipe`` (same name, lot and wafer); with
    ``unfinished`` only a run whose cursor is not ``completed``."""
    base = wafer_runs_dir(data_root, recipe)
    if not base.is_dir():
        return None
    for folder in sorted(base.glob(f"{safe_component(recipe.name)}_*"), reverse=True):
        cursor = peek(folder)
        if cursor is None:
            continue
        if cursor.get("recipe_name") != recipe.name:
            continue
        if unfinished and cursor.get("state") == "completed":
            continue
        return folder
    return None


def find_resumable(data_root: Path, recipe: Recipe) -> Path | None:
    """The newest output folder of ``recipe`` whose run is unfinished (None if none)."""
    return latest_run(data_root, recipe, unfinished=True)


def parse_dies(text: str) -> list[DieIndex]:
    """``"COL,ROW;COL,ROW"`` -> [(col, row), ...]; ValueError naming the bad item."""
    out: list[DieIndex] = []
    for part in re.split(r"[;\s]+", text.strip()):
        if not part:
            continue
        try:
            col, row = (int(v) for v in part.split(","))
        except ValueError:
            raise ValueError(f"die {part!r} is not COL,ROW") from None
        out.append((col, row))
    if not out:
        raise ValueError("no die given (COL,ROW;COL,ROW...)")
    return out


__all__ = ["find_resumable", "latest_run", "parse_dies", "wafer_runs_dir"]
