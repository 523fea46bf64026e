"""Wafer runs: a recipe executed die by die on the prober, with binning and crash-safe resume.

The package, one responsibility per module:

* :mod:`~procedures.wafer.recipe` (model and limit checks), :mod:`~procedures.wafer.recipe_schema`
  (the TOML file's pydantic schema), :mod:`~procedures.wafer.route` (which dies, in which order),
  :mod:`~procedures.wafer.binning` (bin rules, special bins, ``NULL_BIN``);
* :mod:`~procedures.wafer.executor` (the loop and its threading: pause, resume, abort),
  :mod:`~procedures.wafer.die` (one die: units, faults, binning),
  :mod:`~procedures.wafer.preflight`, :mod:`~procedures.wafer.contact` (stepping, touchdown,
  progressive contact), :mod:`~procedures.wafer.reconcile` (reconcile-on-resume);
* :mod:`~procedures.wafer.cursor` (the typed persisted state, ``cursor.json``, schema version),
  :mod:`~procedures.wafer.atomic` (atomic writes), :mod:`~procedures.wafer.folders`;
* outputs: :mod:`~procedures.wafer.figures` (per-die figures), :mod:`~procedures.wafer.outputs`
  (tables, yield), :mod:`~procedures.wafer.g85` (SEMI G85), :mod:`~procedures.wafer.maps`
  (wafer-map PNGs).

The names below are the public interface (the GUI and the command line import them from here).
"""

from procedures.wafer.cursor import CURSOR_NAME, DieRecord, RunEntry, WaferCursor
from procedures.wafer.errors import CursorError, PreflightError, WaferRunError
from procedures.wafer.events import DieResult, WaferCallbacks, WaferOutcome, WaferProgress
from procedures.wafer.executor import WaferRun, load_cursor
from procedures.wafer.folders import find_resumable, latest_run, parse_dies, wafer_runs_dir
from procedures.wafer.recipe import RECIPE_DIR, Recipe, RecipeError, load_recipe, parse_recipe

__all__ = [
    "CURSOR_NAME", "CursorError", "DieRecord", "DieResult", "PreflightError", "RECIPE_DIR",
    "Recipe", "RecipeError", "RunEntry", "WaferCallbacks", "WaferCursor", "WaferOutcome",
    "WaferProgress", "WaferRun", "WaferRunError", "find_resumable", "latest_run", "load_cursor",
    "load_recipe", "parse_dies", "parse_recipe", "wafer_runs_dir",
]
