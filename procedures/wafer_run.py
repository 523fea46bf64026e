"""Wafer runs: a recipe executed die by die, with binning, pause/resume/abort and crash-safe resume.

:class:`WaferRun` is a state machine over the recipe's route. For every die, for every subsite:

1. step: separate, ``StepNextDie col row 0`` (plus ``MoveChuckSubsite dx dy`` for recipe
   subsites), read back the position the prober reports (``ReadMapPosition2``) and record it;
2. contact and verify: move to contact height and read the recipe's reference cells (see
   :class:`~procedures.recipe.ContactSpec`): ``contact`` (leakage of unformed cells, ~nA),
   ``open`` (noise floor only: not touching, or a dead die) or ``short`` (a shorted die).
   Progressive contact: while open, raise Z by ``z_step_um`` (``MoveChuckZ dz R``) and check
   again, at most ``max_tries`` times. With overtravel enabled on the station the touchdown is
   made at contact height (``MoveChuckZ <contact> Z``, since ``MoveChuckContact`` would go to
   overtravel at once) so the steps use the overtravel range; a station that refuses Z beyond
   contact ends the tries. A die that cannot be contacted (or is shorted) gets the
   ``no-contact`` (``short``) bin. The contact check and the bins need no result of a
   procedure, so dead and shorted dies cost one touchdown;
3. run the recipe's steps, one procedure run per split group, each through
   :func:`procedures.runner.prepare_run` (``move_prober=False``, ``safe_end=False``): the data
   go to the usual results files and the catalog;
4. separate, evaluate the bin rules on the die's figures (:mod:`procedures.wafer_outputs`), bin
   the die on the prober (``BinMapDie``), in the cursor and in the catalog (``wafer_bin`` in
   each run's summary), then the next die.

The cursor (``cursor.json`` in the wafer output folder) is written atomically (temporary file,
fsync, rename) before and after every procedure run. A process killed at any point resumes
(:meth:`WaferRun.reopen`) without redoing a recorded run or skipping one: the run in flight at
the kill is redone, and its old catalog entry is kept but marked ``aborted`` with a note (a
header-only results file stands in if the kill came before the file was written). Prober bins
are pushed again on resume.

Faults (an instrument error or timeout in our prober/contact calls, or a failed procedure run)
leave the bench safe (``bench.safe_state()``), are recorded on the die, and either retry once
(re-step, re-contact, redo the failed run; ``on_fault = "retry"``) or give the die the ``fault``
bin (``next-die``). ``max_consecutive`` faulted dies in a row stop the run (resumable).

Pause, resume and abort are thread-safe (for a GUI): pause takes effect when the current
procedure run has finished (outputs off, chuck separated); resume re-reads the prober's position
and contacts again; abort stops the current run at once (it stays recorded as aborted and is
redone on resume). Simulated bench note: the virtual wafer's device states are saved when the
bench closes, so after a SIGKILL the devices go back to their last saved state; the data and the
catalog stay consistent.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from instruments.wafermap import DieIndex
from procedures.catalog import Catalog
from procedures.recipe import BinRule, Recipe, RecipeError, StepRun, set_parameters
from procedures.runner import RunCallbacks, RunOutcome, prepare_run
from procedures.validation import safe_component
from procedures.wafer_outputs import atomic_write, die_figures, run_figures, write_outputs

log = logging.getLogger(__name__)

CURSOR_NAME = "cursor.json"
CURSOR_FORMAT = 1
STATES = ("created", "running", "paused", "aborted", "failed", "completed")


class WaferRunError(RuntimeError):
    """A wafer run cannot start or continue (preflight, cursor, recipe mismatch)."""


class PreflightError(WaferRunError):
    """The station is not ready; nothing was moved."""


class _Abort(Exception):
    """Internal: the operator aborted."""


class _Fault(Exception):
    """Internal: a fault on the current die."""


@dataclass(frozen=True)
class DieResult:
    """How a die ended: bin, pass/fail, figures."""

    die: DieIndex
    bin_code: int
    bin_name: str
    passed: bool
    color: str
    figures: dict[str, Any]
    error: str = ""


@dataclass(frozen=True)
class WaferProgress:
    """Progress of a wafer run.

    Attributes:
        dies_done, dies_total: finished dies and dies in the route.
        fraction: 0..1 including the part of the current die already measured.
        die: the die being measured (None between dies).
        elapsed_s: wall time of this session, s. eta_s: estimated time left, s (None unknown).
    """

    dies_done: int
    dies_total: int
    fraction: float
    die: DieIndex | None
    elapsed_s: float
    eta_s: float | None


@dataclass
class WaferCallbacks:
    """Hooks called from the thread running the wafer (a GUI re-emits them as Qt signals).

    ``run`` is passed on to every procedure run (live rows, progress of the run).
    """

    on_die_started: Callable[[DieIndex, int, int], None] | None = None
    on_die_finished: Callable[[DieResult], None] | None = None
    on_progress: Callable[[WaferProgress], None] | None = None
    on_status: Callable[[str], None] | None = None
    run: RunCallbacks | None = None


@dataclass
class WaferOutcome:
    """How a wafer run ended (``state``: completed, aborted, paused, failed)."""

    state: str
    out_dir: Path
    dies_done: int
    dies_total: int
    yield_counts: dict[str, Any]
    error: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    preflight_failed: bool = False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, paths to text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def _scalars(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without its (long) per-device lists, for the cursor."""
    return {k: v for k, v in summary.items() if not isinstance(v, list | dict)}


def _key(die: DieIndex) -> str:
    return f"{die[0]},{die[1]}"


def wafer_runs_dir(data_root: Path, recipe: Recipe) -> Path:
    """Folder holding the wafer output folders of ``recipe``'s lot and wafer."""
    return (Path(data_root) / safe_component(recipe.wafer.lot)
            / safe_component(recipe.wafer.wafer_id) / "wafer-runs")


def latest_run(data_root: Path, recipe: Recipe, unfinished: bool = False) -> Path | None:
    """The newest output folder of a run of ``recipe`` (same name, lot and wafer); with
    ``unfinished`` only a run whose cursor is not ``completed``."""
    base = wafer_runs_dir(data_root, recipe)
    if not base.is_dir():
        return None
    for folder in sorted(base.glob(f"{safe_component(recipe.name)}_*"), reverse=True):
        try:
            cursor = json.loads((folder / CURSOR_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
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


def load_cursor(out_dir: Path) -> dict[str, Any]:
    """Read a wafer output folder's cursor (WaferRunError if missing or unreadable)."""
    path = Path(out_dir) / CURSOR_NAME
    try:
        cursor = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WaferRunError(f"{path} does not exist: not a wafer output folder") from None
    except ValueError as exc:
        raise WaferRunError(f"{path} is not readable: {exc}") from None
    if cursor.get("format") != CURSOR_FORMAT:
        raise WaferRunError(f"{path}: unknown cursor format {cursor.get('format')!r}")
    return cursor


class WaferRun:
    """One wafer run of a recipe on an open bench. Build with :meth:`create` or :meth:`reopen`.

    :meth:`run` executes it in the calling thread (:meth:`start` in a new thread); :meth:`pause`,
    :meth:`resume` and :meth:`abort` may be called from any thread. ``timings`` accumulates the
    wall time per phase (``step``, ``contact``, ``procedure:<step>``, ``binning``, ``cursor``,
    ``outputs``, ``preflight``, ``temperature``) in seconds.
    """

    def __init__(
        self,
        recipe: Recipe,
        bench: Any,
        data_root: Path,
        catalog: Catalog,
        out_dir: Path,
        cursor: dict[str, Any],
        callbacks: WaferCallbacks | None = None,
    ) -> None:
        self.recipe = recipe
        self.bench = bench
        self.data_root = Path(data_root)
        self.catalog = catalog
        self.out_dir = Path(out_dir)
        self.cursor = cursor
        self.callbacks = callbacks or WaferCallbacks()
        self.timings: dict[str, float] = {}
        self.draw_maps = True
        self._lock = threading.RLock()
        self._pause = threading.Event()
        self._abort = threading.Event()
        self._wake = threading.Event()
        self._handle: Any = None
        self._thread: threading.Thread | None = None
        self._contacted: tuple[DieIndex, int] | None = None
        self._set_point: float | None = None
        self._io: Any = None
        self._contact_um: float | None = None
        self._overtravel = False
        self._t0 = time.monotonic()
        self._fraction0: float | None = None
        self._consecutive_faults = 0
        self.outcome: WaferOutcome | None = None
        self._runs = recipe.step_runs()
        self._subsites = recipe.subsites or []

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        recipe: Recipe,
        bench: Any,
        data_root: Path,
        catalog: Catalog,
        dies: list[DieIndex] | None = None,
        callbacks: WaferCallbacks | None = None,
        out_dir: Path | None = None,
    ) -> WaferRun:
        """A new wafer run: validates the recipe against the bench limits, plans the route
        (``dies``: only these, recipe indices), makes the output folder and its cursor."""
        recipe.validate(bench.limits)
        route = recipe.plan_route(dies)
        if out_dir is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            base = wafer_runs_dir(data_root, recipe)
            out_dir = base / f"{safe_component(recipe.name)}_{stamp}"
            n = 1
            while out_dir.exists():
                n += 1
                out_dir = base / f"{safe_component(recipe.name)}_{stamp}_{n}"
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(out_dir / "recipe.toml", recipe.text)
        floor = max((r.id for r in catalog.runs(wafer=recipe.wafer.wafer_id)), default=0)
        cursor: dict[str, Any] = {
            "format": CURSOR_FORMAT, "recipe_name": recipe.name, "recipe_sha256": recipe.sha256,
            "recipe_source": recipe.source, "lot": recipe.wafer.lot,
            "wafer_id": recipe.wafer.wafer_id, "bench": bench.config.name,
            "created_at": _now(), "updated_at": _now(), "state": "created", "error": "",
            "route": [list(d) for d in route], "dies": {}, "pending": None, "orphans": [],
            "events": [], "sessions": [], "catalog_floor": int(floor),
        }
        run = cls(recipe, bench, data_root, catalog, out_dir, cursor, callbacks)
        run._save()
        return run

    @classmethod
    def reopen(
        cls,
        recipe: Recipe,
        bench: Any,
        data_root: Path,
        catalog: Catalog,
        out_dir: Path,
        callbacks: WaferCallbacks | None = None,
    ) -> WaferRun:
        """Continue the wafer run in ``out_dir`` (after a kill, abort or pause).

        Raises WaferRunError if the recipe changed since the run was created (its saved copy is
        ``out_dir/recipe.toml``).
        """
        cursor = load_cursor(out_dir)
        if cursor.get("recipe_sha256") != recipe.sha256:
            raise WaferRunError(
                f"the recipe changed since this wafer run started; resume with its saved copy "
                f"{Path(out_dir) / 'recipe.toml'} or start a new run"
            )
        recipe.validate(bench.limits)
        return cls(recipe, bench, data_root, catalog, Path(out_dir), cursor, callbacks)

    # -- control (any thread) ---------------------------------------------------------------------
    def pause(self) -> None:
        """Pause after the current procedure run (outputs off, chuck separated)."""
        self._pause.set()
        self._wake.set()

    def resume(self) -> None:
        """Continue a paused run (the prober position is read again, then contact)."""
        self._pause.clear()
        self._wake.set()

    def abort(self) -> None:
        """Stop now: the current procedure run is aborted (redone on a later resume)."""
        self._abort.set()
        self._wake.set()
        handle = self._handle
        if handle is not None:
            handle.stop()

    @property
    def state(self) -> str:
        """Cursor state: created, running, paused, aborted, failed or completed."""
        return str(self.cursor.get("state", "created"))

    @property
    def route(self) -> list[DieIndex]:
        """The dies of the run, in order (map indices)."""
        return [(int(c), int(r)) for c, r in self.cursor["route"]]

    def die_record(self, die: DieIndex) -> dict[str, Any]:
        """The cursor's record of ``die`` (state, bin, runs, contact, positions, faults)."""
        return self.cursor["dies"].get(_key(die), {})

    def start(self) -> WaferRun:
        """Run in a background thread; :meth:`wait` for the outcome."""
        self._abort.clear()
        self._thread = threading.Thread(target=self._run, args=(False,), name="wafer-run",
                                        daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> WaferOutcome | None:
        """Wait for a run started with :meth:`start`; the outcome (None if still running)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.outcome

    # -- bookkeeping ------------------------------------------------------------------------------
    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    def _save(self) -> None:
        with self._timed("cursor"), self._lock:
            self.cursor["updated_at"] = _now()
            atomic_write(self.out_dir / CURSOR_NAME, json.dumps(_plain(self.cursor), indent=1))

    def _set_state(self, state: str, error: str = "") -> None:
        self.cursor["state"] = state
        if error or state in ("running", "completed"):
            self.cursor["error"] = error
        self._save()
        self._status(state + (f": {error}" if error else ""))

    def _status(self, text: str) -> None:
        if self.callbacks.on_status:
            try:
                self.callbacks.on_status(text)
            except Exception:
                log.exception("status callback failed")

    def _event(self, kind: str, **info: Any) -> None:
        self.cursor["events"].append({"event": kind, "time": _now(), **_plain(info)})

    def _rec(self, die: DieIndex) -> dict[str, Any]:
        return self.cursor["dies"].setdefault(_key(die), {
            "col": die[0], "row": die[1], "state": "pending", "runs": [], "positions": [],
            "contact": [], "faults": [], "bin": None, "bin_name": "", "pass": None,
            "figures": {}, "error": "",
        })

    def dies_done(self) -> int:
        """Dies of the route finished (binned)."""
        return sum(1 for d in self.route if self.die_record(d).get("state") == "done")

    def _unit_key(self, subsite: int, run: StepRun) -> str:
        return f"{subsite}/{run.step_index}/{run.split_index}"

    def _units(self) -> list[tuple[int, StepRun]]:
        return [(s, run) for s in range(max(1, len(self._subsites))) for run in self._runs]

    def _progress(self, die: DieIndex | None) -> None:
        total = len(self.route)
        done = self.dies_done()
        frac = done
        if die is not None:
            rec = self.die_record(die)
            if rec.get("state") != "done":
                units = self._units()
                counted = sum(1 for e in rec.get("runs", []) if e.get("counted"))
                frac += min(1.0, counted / max(1, len(units)))
        fraction = frac / max(1, total)
        if self._fraction0 is None:
            self._fraction0 = fraction
        elapsed = time.monotonic() - self._t0
        gained = fraction - self._fraction0
        eta = elapsed * (1.0 - fraction) / gained if gained > 1e-9 else None
        if self.callbacks.on_progress:
            try:
                self.callbacks.on_progress(WaferProgress(done, total, fraction, die, elapsed, eta))
            except Exception:
                log.exception("progress callback failed")

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> WaferOutcome:
        """Execute (or continue) the wafer run; returns when done, aborted or failed.

        May be called again after an abort (or a failure) to continue."""
        return self._run(True)

    def _run(self, clear_abort: bool) -> WaferOutcome:
        if clear_abort:
            self._abort.clear()
        self._t0 = time.monotonic()
        self._fraction0 = None
        self._consecutive_faults = 0
        self.cursor["sessions"].append({"pid": os.getpid(), "started_at": _now()})
        error = ""
        state = "failed"
        preflight_failed = False
        try:
            with self._timed("preflight"):
                self._preflight()
                self._reconcile()
            self._set_state("running")
            self._progress(None)
            for index, die in enumerate(self.route):
                if self.die_record(die).get("state") == "done":
                    continue
                self._checkpoint()
                self._do_die(index, die)
                if self._consecutive_faults >= self.recipe.faults.max_consecutive:
                    raise _Fault(f"{self._consecutive_faults} dies in a row ended with a fault; "
                                 f"last: {self.die_record(die).get('error', '')}")
            state = "completed"
        except _Abort:
            state = "aborted"
        except PreflightError as exc:
            error = str(exc)
            preflight_failed = True
        except _Fault as exc:
            error = str(exc)
        except Exception as exc:  # make safe and keep the cursor consistent, then report
            log.exception("wafer run failed")
            error = f"{type(exc).__name__}: {exc}"
        finally:
            problems = self._safe()
            if problems and not error:
                error = "safe state: " + "; ".join(problems)
            self.cursor["pending"] = None
            if state == "completed":
                try:
                    self.bench.prober.set_external_mode(False)
                except Exception as exc:
                    log.warning("could not give the station back to local mode: %s", exc)
                try:
                    y = self.bench.prober.map_yield()
                    self.cursor["prober_yield"] = {"total": y.total, "tested": y.tested,
                                                   "passed": y.passed, "failed": y.failed}
                except Exception as exc:
                    log.warning("could not read the prober's yield: %s", exc)
            counts: dict[str, Any] = {}
            try:
                self._set_state(state, error)
                counts = self.write_outputs()
            except Exception as exc:  # a disk problem: report it, waiters must not hang
                log.exception("could not save the wafer run's state or outputs")
                state, error = "failed", f"{error}; saving: {exc}".lstrip("; ")
            self.outcome = WaferOutcome(state, self.out_dir, self.dies_done(), len(self.route),
                                        counts, error, dict(self.timings), preflight_failed)
        return self.outcome

    def write_outputs(self) -> dict[str, Any]:
        """Write the summary, bin maps, yield and wafer maps; returns the yield counts."""
        with self._timed("outputs"):
            try:
                write_outputs(
                    self.out_dir, self.cursor, self.recipe.wafer_map(), self.recipe.bin_table(),
                    self.recipe.wafer.lot, self.recipe.wafer.wafer_id, self.recipe.wafer.product,
                    self.recipe.maps or None, [s.name for s in self.recipe.steps],
                    draw_maps=self.draw_maps,
                )
            except Exception:
                log.exception("writing the wafer outputs failed")
            try:
                counts = json.loads((self.out_dir / "yield.json").read_text())
            except (OSError, ValueError):
                counts = {}
        return counts

    def _safe(self) -> list[str]:
        self._contacted = None
        try:
            return list(self.bench.safe_state())
        except Exception as exc:
            return [str(exc)]

    # -- preflight ---------------------------------------------------------------------------------
    def _preflight(self) -> None:
        """Prober reachable, vacuum on, contact height taught, map and home as the recipe says,
        remote mode; only then separate and set the chuck temperature."""
        p = self.bench.prober
        try:
            status = p.chuck_status()
        except Exception as exc:
            raise PreflightError(f"prober not reachable: {exc}") from None
        if not status.vacuum_on:
            raise PreflightError("wafer vacuum is off: no wafer on the chuck? (nothing moved)")
        try:
            heights = p.chuck_heights()
        except Exception as exc:
            raise PreflightError(f"cannot read the chuck heights: {exc}") from None
        if not heights.contact_set:
            raise PreflightError("no contact height is taught on the prober: teach it first "
                                 "(nothing moved)")
        self._contact_um = heights.contact_um
        self._overtravel = status.has_overtravel
        self._check_map()
        try:
            p.set_external_mode(True)
        except Exception as exc:
            raise PreflightError(f"cannot switch the station to remote mode: {exc}") from None
        from procedures.cell_io import CellIO

        self._io = CellIO(self.bench)
        problems = self._safe()
        if problems:
            raise PreflightError("cannot make the bench safe: " + "; ".join(problems))
        chuck = self.recipe.chuck
        if chuck.temperature_c is not None:
            self._heat(chuck.temperature_c)
        else:
            try:
                self._set_point = float(p.heater().temperature)
            except Exception:
                self._set_point = None

    def _check_map(self) -> None:
        from instruments.cascade.velox import WaferMapParams

        p = self.bench.prober
        w = self.recipe.wafer
        want = {
            "diameter_mm": w.diameter_mm, "die_width_um": w.die_width_um,
            "die_height_um": w.die_height_um, "flat_angle_deg": w.flat_angle_deg,
            "x_offset_um": w.x_offset_um, "y_offset_um": w.y_offset_um,
            "edge_exclusion_mm": w.edge_exclusion_mm,
        }
        try:
            have = p.wafer_map_params
        except Exception as exc:
            raise PreflightError(f"cannot read the prober's wafer map: {exc}") from None
        got = {
            "diameter_mm": have.diameter_mm, "die_width_um": have.die_width_um,
            "die_height_um": have.die_height_um, "flat_angle_deg": have.flat_angle_deg,
            "x_offset_um": have.x_offset_um, "y_offset_um": have.y_offset_um,
            "edge_exclusion_mm": have.edge_area_um / 1000.0,
        }
        diff = [k for k in want if abs(want[k] - got[k]) > 1e-3 * max(1.0, abs(want[k]))]
        if diff and not w.apply_to_prober:
            k = diff[0]
            raise PreflightError(str(self.recipe.error(
                f"wafer.{k}",
                f"the prober's map has {k} = {got[k]:g}, the recipe {want[k]:g} (set "
                "wafer.apply_to_prober = true to write the recipe's map to the prober)",
            )))
        if diff:
            p.set_wafer_map_params(WaferMapParams(
                w.diameter_mm, w.die_width_um, w.die_height_um, have.flat_length_mm,
                w.flat_angle_deg, w.x_offset_um, w.y_offset_um, w.edge_exclusion_mm * 1000,
            ))
            self._event("prober-map-set", **want)
        try:
            p.map_position()
        except Exception as exc:
            raise PreflightError(f"the prober reports no map position (home die not set or "
                                 f"chuck off the map): {exc}") from None
        if w.home is not None:
            home = self._prober_home()
            if home != w.home:
                if not w.apply_to_prober:
                    raise PreflightError(str(self.recipe.error(
                        "wafer.home", f"the prober's home die is {home}, the recipe's {w.home}")))
                p.set_map_home(*w.home)

    def _prober_home(self) -> DieIndex | None:
        """The prober's home die, from its map position and the chuck position."""
        p = self.bench.prober
        wmap = self.recipe.wafer_map()
        pos = p.map_position()
        dx, dy, _ = p.chuck_position("diehome")
        cx, cy = wmap.die_center_um(pos.col, pos.row)
        return wmap.die_at_um(cx + dx - pos.x_from_home_um, cy + dy - pos.y_from_home_um)

    # -- resume reconciliation -------------------------------------------------------------------
    def _reconcile(self) -> None:
        """Mark catalog runs of this wafer run that the cursor never recorded (the run in
        flight at a kill) as aborted, with a note; push recorded bins to the prober."""
        known = {e.get("run_id") for rec in self.cursor["dies"].values()
                 for e in rec.get("runs", [])}
        route = set(self.route)
        floor = int(self.cursor.get("catalog_floor", 0))
        lot = self.recipe.wafer.lot
        for info in self.catalog.runs(wafer=self.recipe.wafer.wafer_id):
            if info.id <= floor or info.id in known or info.lot != lot or info.die not in route:
                continue
            if info.status == "running":
                raise WaferRunError(
                    f"catalog run {info.id} on die {info.die} is still running in another "
                    "process; stop it before resuming"
                )
            note = self._repair_file(info)
            message = (f"wafer run {self.out_dir.name} was interrupted during this run (status "
                       f"was {info.status}); kept but not counted: the step was redone on "
                       f"resume{note}")
            self.catalog.finish_run(info.id, "aborted", info.summary, message)
            rec = self._rec(info.die)  # type: ignore[arg-type]
            entry = {
                "unit": "", "run_id": info.id, "procedure": info.procedure, "status": "aborted",
                "file": info.file, "counted": False, "error": message,
                "subsite": info.subsite,
            }
            rec["runs"].append(entry)
            self.cursor["orphans"].append({"run_id": info.id, "die": list(info.die or ()),
                                           "was": info.status, "file": info.file})
            self._event("orphan-marked", run_id=info.id, die=info.die, was=info.status)
        self.cursor["pending"] = None
        self._save()
        for die in self.route:
            rec = self.die_record(die)
            if rec.get("state") == "done" and rec.get("bin") is not None:
                try:
                    self.bench.prober.bin_map_die(int(rec["bin"]), die[0], die[1])
                except Exception as exc:
                    log.warning("could not bin die %s on the prober: %s", die, exc)

    def _repair_file(self, info: Any) -> str:
        """Make sure an interrupted run's results file exists with a complete header."""
        path = Path(info.file)
        if path.is_file():
            head = path.read_text(errors="replace")
            lines = head.splitlines()
            if "#Data:" in lines and lines.index("#Data:") + 1 < len(lines):
                return ""
            path.replace(path.with_suffix(path.suffix + ".broken"))
        try:
            from pymeasure.experiment import Results

            from procedures.registry import procedure_class

            proc = procedure_class(info.procedure)()
            objects = proc.parameter_objects()
            values = {k: v for k, v in info.parameters.items() if k in objects}
            try:
                set_parameters(proc, values)
            except ValueError:
                pass
            path.parent.mkdir(parents=True, exist_ok=True)
            Results(proc, str(path))
            return "; the results file was never completed, an empty one stands in"
        except Exception as exc:
            log.warning("could not write a stand-in results file %s: %s", path, exc)
            return f"; results file missing ({exc})"

    # -- pause / abort checkpoints ----------------------------------------------------------------
    def _checkpoint(self) -> None:
        """Between procedure runs: abort, or pause (outputs off, separated) until resumed."""
        if self._abort.is_set():
            raise _Abort()
        if not self._pause.is_set():
            return
        self._safe()
        self._set_state("paused")
        self._event("paused")
        while self._pause.is_set() and not self._abort.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
        if self._abort.is_set():
            raise _Abort()
        position: dict[str, Any] = {}
        try:  # re-read where the prober really is (an operator may have moved it)
            pos = self.bench.prober.map_position()
            status = self.bench.prober.chuck_status()
            position = {"col": pos.col, "row": pos.row, "x_from_home_um": pos.x_from_home_um,
                        "y_from_home_um": pos.y_from_home_um, "height": status.preset_height}
        except Exception as exc:
            position = {"error": str(exc)}
        self._contacted = None
        self._event("resumed", position=position)
        self._set_state("running")

    # -- one die -----------------------------------------------------------------------------------
    def _do_die(self, index: int, die: DieIndex) -> None:
        rec = self._rec(die)
        rec["state"] = "in-progress"
        rec.setdefault("started_at", _now())
        self._save()
        if self.callbacks.on_die_started:
            try:
                self.callbacks.on_die_started(die, index, len(self.route))
            except Exception:
                log.exception("die-started callback failed")
        retries = 1 if self.recipe.faults.on_fault == "retry" else 0
        for subsite, run in self._units():
            key = self._unit_key(subsite, run)
            while not any(e.get("unit") == key and e.get("counted") for e in rec["runs"]):
                self._checkpoint()
                try:
                    special = self._prepare_unit(die, subsite, run)
                    if special is not None:
                        self._finish_die(die, self.recipe.special_bin(special))
                        return
                    outcome = self._run_unit(die, subsite, run)
                    error = self._record_run(rec, die, subsite, run, outcome)
                except _Abort:
                    raise
                except Exception as exc:  # instrument error or timeout in our own calls
                    log.warning("fault on die %s: %s", die, exc)
                    error = f"{type(exc).__name__}: {exc}"
                if not error:
                    continue
                if self._abort.is_set():
                    raise _Abort()
                rec["faults"].append({"unit": key, "error": error, "time": _now()})
                rec["error"] = error
                self._event("fault", die=die, unit=key, error=error)
                self._safe()
                self._save()
                if retries > 0:
                    retries -= 1
                    continue
                self._finish_die(die, self.recipe.special_bin("fault"), error)
                self._consecutive_faults += 1
                return
        self._safe()
        self._finish_die(die, None)
        self._consecutive_faults = 0

    def _prepare_unit(self, die: DieIndex, subsite: int, run: StepRun) -> str | None:
        """Temperature, position and contact for a unit; a special bin kind if the die cannot
        be measured (no contact, short)."""
        step = self.recipe.steps[run.step_index]
        if step.temperature_c is not None:
            self._heat(step.temperature_c)
        if self._contacted == (die, subsite):
            return None
        rec = self._rec(die)
        with self._timed("step"):
            pos = self._position(die, subsite)
        rec["positions"] = [p for p in rec["positions"] if p.get("subsite") != subsite] + [pos]
        with self._timed("contact"):
            check = self._touchdown()
        check["subsite"] = subsite
        rec["contact"].append(check)
        self._save()
        if check["state"] == "contact":
            self._contacted = (die, subsite)
            return None
        self._safe()
        first = not any(e.get("counted") for e in rec["runs"])
        if first:
            return "short" if check["state"] == "short" else "no-contact"
        raise RuntimeError(f"contact lost on subsite {subsite}: check reads {check['state']} "
                           f"({check.get('current_a')} A)")

    def _position(self, die: DieIndex, subsite: int) -> dict[str, Any]:
        """Separate, step to the die (and subsite), read back and check the prober's position."""
        p = self.bench.prober
        self._contacted = None
        p.separate()
        result = p.step_next_die(die[0], die[1], 0)
        if result.end_of_route:
            raise RuntimeError(f"prober reports end of route stepping to {die}")
        label = ""
        if self._subsites:
            sub = self._subsites[subsite]
            label = sub.label
            p.move_chuck_subsite(sub.dx_um, sub.dy_um)
        pos = p.map_position()
        reported = {
            "subsite": subsite, "label": label, "col": pos.col, "row": pos.row,
            "x_from_home_um": pos.x_from_home_um, "y_from_home_um": pos.y_from_home_um,
            "site": pos.site,
        }
        if (pos.col, pos.row) != tuple(die):
            raise RuntimeError(f"prober reports die ({pos.col}, {pos.row}) after stepping to "
                               f"{die}")
        return reported

    def _touchdown(self) -> dict[str, Any]:
        """Contact, verify, and step Z up while the check reads open (progressive contact)."""
        from instruments.cascade.velox import VeloxError

        c = self.recipe.contact
        p = self.bench.prober
        if c.enabled and c.max_tries > 0 and self._overtravel and self._contact_um is not None:
            # MoveChuckContact would go straight to overtravel: touch down at contact height
            # and leave the overtravel range to the Z steps
            p.ask(f"MoveChuckZ {self._contact_um:g} Z Y 100")
        else:
            p.contact()
        if not c.enabled:
            return {"state": "contact", "current_a": None, "tries": 1, "checked": False}
        tries = 1
        check = self._check()
        note = ""
        while check["state"] == "open" and tries <= c.max_tries:
            try:
                p.ask(f"MoveChuckZ {c.z_step_um:g} R Y 100")
            except VeloxError as exc:
                note = f"Z step refused: {exc}"
                break
            tries += 1
            check = self._check()
        try:
            check["z_um"] = float(p.chuck_position("home")[2])
        except Exception:
            pass
        check.update(tries=tries, note=note, checked=True)
        return check

    def _check(self) -> dict[str, Any]:
        """Read the reference cells: contact, open or short."""
        from procedures.cell_io import ReadScan
        from procedures.targets import parse_cells

        c = self.recipe.contact
        cells = parse_cells(c.cells, c.array)
        currents = []
        try:
            with ReadScan(self._io, c.v_read, c.v_wl, c.compliance) as scan:
                for row, col in cells:
                    currents.append(scan.read(c.array, row, col).current)
        finally:
            self._io.off()
        i = np.abs(np.asarray(currents, dtype=float))
        g = i / c.v_read
        med = float(np.median(i))
        if np.all(g > c.g_short_s):
            state = "short"
        elif med > c.i_min_a:
            state = "contact"
        else:
            state = "open"
        return {"state": state, "current_a": med, "g_max_s": float(g.max())}

    def _heat(self, celsius: float) -> None:
        """Chuck to ``celsius`` (separated), wait for the set point and soak."""
        if self._set_point is not None and abs(self._set_point - celsius) < 0.05:
            return
        from procedures.cell_io import wait

        with self._timed("temperature"):
            self._safe()
            reached = self.bench.prober.heat_chuck(celsius, self.recipe.chuck.heater_timeout_s)
            wait(self.bench, self.recipe.chuck.soak_s, self._abort.is_set)
            self._set_point = float(celsius)
            self._event("temperature", set_point_c=celsius, reached_c=reached)

    def _run_unit(self, die: DieIndex, subsite: int, run: StepRun) -> RunOutcome:
        step = self.recipe.steps[run.step_index]
        proc = self.recipe.build(run, die, subsite)
        self.cursor["pending"] = {"die": list(die), "unit": self._unit_key(subsite, run),
                                  "step": step.name, "started_at": _now()}
        self._save()
        handle = prepare_run(proc, self.bench, self.data_root, self.catalog,
                             callbacks=self.callbacks.run, move_prober=False, safe_end=False)
        with self._timed(f"procedure:{step.name}"):
            self._handle = handle
            if self._abort.is_set():
                handle.stop()
            handle.start()
            while handle.wait(0.1) is None:
                if self._abort.is_set():
                    handle.stop()
            self._handle = None
        assert handle.outcome is not None
        return handle.outcome

    def _record_run(self, rec: dict[str, Any], die: DieIndex, subsite: int, run: StepRun,
                    outcome: RunOutcome) -> str:
        """Record a finished procedure run in the cursor; returns an error text for a fault."""
        step = self.recipe.steps[run.step_index]
        counted = outcome.status == "finished"
        entry = {
            "unit": self._unit_key(subsite, run), "subsite": subsite,
            "subsite_label": self._subsites[subsite].label if self._subsites else "",
            "step": step.name, "step_index": run.step_index, "procedure": step.procedure,
            "split_param": run.split_param, "split_value": run.split_value,
            "run_id": outcome.run_id, "status": outcome.status, "file": str(outcome.file),
            "error": outcome.error, "counted": counted, "summary": _scalars(outcome.summary),
        }
        if (outcome.die is not None and tuple(outcome.die) != tuple(die)):
            entry["error"] = f"runner read die {outcome.die}, expected {die}"
        rec["runs"].append(_plain(entry))
        self.cursor["pending"] = None
        self._save()
        self._progress(die)
        if counted:
            return ""
        if outcome.status == "aborted" and self._abort.is_set():
            raise _Abort()
        return f"{step.name} ({step.procedure}) {outcome.status}: {outcome.error or 'no message'}"

    # -- binning ----------------------------------------------------------------------------------
    def _finish_die(self, die: DieIndex, rule: BinRule | None, error: str = "") -> None:
        rec = self._rec(die)
        with self._timed("binning"):
            figures: dict[str, Any] = {}
            if rule is None:
                figures = self._figures(rec)
                rule = self.recipe.evaluate_bins(figures)
                first_pass = next((b for b in self.recipe.bins if b.passed and not b.special),
                                  None)
                if first_pass is not None and not rule.passed:
                    rec["failed_limits"] = first_pass.failed_limits(figures)
            rec.update(state="done", bin=rule.code, bin_name=rule.name, **{"pass": rule.passed},
                       figures=_plain(figures), finished_at=_now())
            if error:
                rec["error"] = error
            try:
                self.bench.prober.bin_map_die(rule.code, die[0], die[1])
            except Exception as exc:
                log.warning("could not bin die %s on the prober: %s", die, exc)
                rec["prober_bin_error"] = str(exc)
            for entry in rec["runs"]:
                if entry.get("run_id", -1) >= 0:
                    try:
                        self.catalog.update_summary(
                            int(entry["run_id"]), wafer_bin=rule.code, wafer_bin_name=rule.name,
                            wafer_pass=rule.passed, wafer_run=self.out_dir.name,
                        )
                    except KeyError:
                        pass
        self._save()
        self._progress(None)
        if self.callbacks.on_die_finished:
            try:
                self.callbacks.on_die_finished(DieResult(die, rule.code, rule.name, rule.passed,
                                                         rule.color, dict(figures), error))
            except Exception:
                log.exception("die-finished callback failed")

    def _figures(self, rec: dict[str, Any]) -> dict[str, Any]:
        """Die figures from the counted runs (catalog summaries and results files)."""
        pieces = []
        for entry in rec["runs"]:
            if not entry.get("counted"):
                continue
            step = self.recipe.steps[int(entry["step_index"])]
            summary = dict(entry.get("summary") or {})
            try:
                summary = self.catalog.get(int(entry["run_id"])).summary or summary
            except KeyError:
                pass
            label = ""
            if entry.get("split_param"):
                v = entry.get("split_value")
                label = (f"{entry['split_param']}={v:g}" if isinstance(v, float)
                         else f"{entry['split_param']}={v}")
            rf = run_figures(step.name, step.procedure, summary, entry.get("file"), label,
                             step.cycle_limits)
            entry["figures"] = _plain(rf.medians())
            pieces.append(rf)
        return die_figures(pieces)


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


__all__ = [
    "CURSOR_NAME", "DieResult", "PreflightError", "RecipeError", "WaferCallbacks",
    "WaferOutcome", "WaferProgress", "WaferRun", "WaferRunError", "find_resumable",
    "latest_run", "load_cursor", "parse_dies", "wafer_runs_dir",
]
