"""The wafer-run executor: a recipe die by die, with binning, pause/resume/abort, crash-safe resume.

:class:`WaferRun` is a state machine over the recipe's route. For every die, for every subsite:

1. step: separate, ``StepNextDie col row 0`` (plus ``MoveChuckSubsite dx dy`` for recipe
   subsites), read back the position the prober reports (``ReadMapPosition2``) and record it;
2. contact and verify (:mod:`procedures.wafer.contact`: reference cells read ``contact``,
   ``open`` or ``short``; progressive contact). A die that cannot be contacted (or is shorted)
   gets the ``no-contact`` (``short``) bin. The contact check and the bins need no result of a
   procedure, so dead and shorted dies cost one touchdown;
3. run the recipe's steps, one procedure run per split group, each through
   :func:`procedures.framework.runner.prepare_run` (``move_prober=False``, ``safe_end=False``): the
   data
   go to the usual results files and the catalog;
4. separate, evaluate the bin rules on the die's figures (:mod:`procedures.wafer.outputs`), bin
   the die on the prober (``BinMapDie``), in the cursor and in the catalog (``wafer_bin`` in
   each run's summary), then the next die.

This module is the loop and its threading; the work on one die is :mod:`procedures.wafer.die`;
preflight (:mod:`procedures.wafer.preflight`), contact, reconcile-on-resume
(:mod:`procedures.wafer.reconcile`) and outputs (:mod:`procedures.wafer.outputs`) are their own
modules. The cursor (:class:`~procedures.wafer.cursor.WaferCursor`, ``cursor.json`` in the wafer
output folder) is written atomically (temporary file, fsync, rename) before and after every
procedure run. A process killed at any point resumes (:meth:`WaferRun.reopen`) without redoing a
recorded run or skipping one: the run in flight at the kill is redone, and its old catalog entry
is kept but marked ``aborted`` with a note (a header-only results file stands in if the kill
came before the file was written). Prober bins are pushed again on resume.

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

import gc
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from instruments.bench_types import BenchInterface
from instruments.wafermap import DieIndex
from procedures.framework.board import wafer_only
from procedures.framework.callbacks import notify
from procedures.framework.catalog import Catalog
from procedures.framework.eta import BenchEta
from procedures.framework.session import BackgroundSession
from procedures.wafer.atomic import atomic_write
from procedures.wafer.contact import ContactState
from procedures.wafer.cursor import (
    DieRecord,
    WaferCursor,
    now,
)
from procedures.wafer.die import DieSteps, _Abort, _Fault
from procedures.wafer.errors import PreflightError, WaferRunError
from procedures.wafer.events import WaferCallbacks, WaferOutcome, WaferProgress
from procedures.wafer.folders import new_output_folder, wafer_runs_dir
from procedures.wafer.outputs import write_outputs
from procedures.wafer.preflight import preflight
from procedures.wafer.recipe import Recipe, StepRun
from procedures.wafer.reconcile import reconcile

log = logging.getLogger(__name__)

def load_cursor(out_dir: Path) -> WaferCursor:
    """Read a wafer output folder's cursor (WaferRunError if missing or unreadable)."""
    return WaferCursor.load(out_dir)


class WaferRun(DieSteps, BackgroundSession[WaferOutcome]):
    """One wafer run of a recipe on an open bench. Build with :meth:`create` or :meth:`reopen`.

    :meth:`run` executes it in the calling thread (:meth:`start` in a new thread); :meth:`pause`,
    :meth:`resume` and :meth:`abort` may be called from any thread (a pause takes effect after the
    current procedure run: outputs off, chuck separated; on resume the prober position is read
    again, then contact). ``timings`` accumulates the wall time per phase (``step``,
    ``contact``, ``procedure:<step>``, ``binning``, ``cursor``, ``outputs``, ``preflight``,
    ``temperature``, ``gc``) in seconds.
    """

    def __init__(
        self,
        recipe: Recipe,
        bench: BenchInterface,
        data_root: Path,
        catalog: Catalog,
        out_dir: Path,
        cursor: WaferCursor,
        callbacks: WaferCallbacks | None = None,
    ) -> None:
        self.recipe = recipe
        self.callbacks = callbacks or WaferCallbacks()
        self.timings: dict[str, float] = {}
        self.draw_maps = True
        self._lock = threading.RLock()
        self._init_session(bench, data_root, catalog, out_dir, cursor)
        self.contact = ContactState()
        self.set_point: float | None = None
        self._t0 = time.monotonic()
        self._fraction0: float | None = None
        self._eta = BenchEta(bench)
        self._consecutive_faults = 0
        self.outcome: WaferOutcome | None = None
        self._runs = recipe.step_runs()
        self._subsites = recipe.subsites or []

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        recipe: Recipe,
        bench: BenchInterface,
        data_root: Path,
        catalog: Catalog,
        dies: list[DieIndex] | None = None,
        callbacks: WaferCallbacks | None = None,
        out_dir: Path | None = None,
    ) -> WaferRun:
        """A new wafer run: validates the recipe against the bench limits, plans the route
        (``dies``: only these, recipe indices), makes the output folder and its cursor.
        ValueError on a bench without a prober (packaged chips)."""
        wafer_only(bench, "a wafer run")
        recipe.validate(bench.limits)
        route = recipe.plan_route(dies)
        if out_dir is None:
            out_dir = new_output_folder(wafer_runs_dir(data_root, recipe), recipe.name)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(out_dir / "recipe.toml", recipe.text)
        floor = max((r.id for r in catalog.runs(wafer=recipe.wafer.wafer_id)), default=0)
        cursor = WaferCursor(
            recipe_name=recipe.name, recipe_sha256=recipe.sha256, recipe_source=recipe.source,
            lot=recipe.wafer.lot, wafer_id=recipe.wafer.wafer_id, bench=bench.config.name,
            route=list(route), catalog_floor=int(floor),
        )
        run = cls(recipe, bench, data_root, catalog, out_dir, cursor, callbacks)
        run.save()
        return run

    @classmethod
    def reopen(
        cls,
        recipe: Recipe,
        bench: BenchInterface,
        data_root: Path,
        catalog: Catalog,
        out_dir: Path,
        callbacks: WaferCallbacks | None = None,
    ) -> WaferRun:
        """Continue the wafer run in ``out_dir`` (after a kill, abort or pause).

        Raises WaferRunError if the recipe changed since the run was created (its saved copy is
        ``out_dir/recipe.toml``).
        """
        wafer_only(bench, "a wafer run")
        cursor = load_cursor(out_dir)
        if cursor.recipe_sha256 != recipe.sha256:
            raise WaferRunError(
                f"the recipe changed since this wafer run started; resume with its saved copy "
                f"{Path(out_dir) / 'recipe.toml'} or start a new run"
            )
        recipe.validate(bench.limits)
        return cls(recipe, bench, data_root, catalog, Path(out_dir), cursor, callbacks)

    # -- control (any thread) ---------------------------------------------------------------------
    @property
    def state(self) -> str:
        """Cursor state: created, running, paused, aborted, failed or completed."""
        return self.cursor.state

    @property
    def route(self) -> list[DieIndex]:
        """The dies of the run, in order (map indices)."""
        return list(self.cursor.route)

    def die_record(self, die: DieIndex) -> DieRecord:
        """The cursor's record of ``die`` (state, bin, runs, contact, positions, faults); a
        pending record (not stored) for a die not reached yet."""
        return self.cursor.get(die) or DieRecord(int(die[0]), int(die[1]))

    def start(self) -> WaferRun:
        """Run in a background thread; :meth:`wait` for the outcome."""
        self._start_thread(self._run, "wafer-run", (False,))
        return self

    # -- bookkeeping ------------------------------------------------------------------------------
    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    def save(self) -> None:
        """Write the cursor (atomically)."""
        with self._timed("cursor"), self._lock:
            self.cursor.save(self.out_dir)

    def _set_state(self, state: str, error: str = "") -> None:
        self.cursor.state = state
        if error or state in ("running", "completed"):
            self.cursor.error = error
        self.save()
        self._status(state + (f": {error}" if error else ""))

    def _status(self, text: str) -> None:
        notify(self.callbacks.on_status, text, what="status")

    def dies_done(self) -> int:
        """Dies of the route finished (binned)."""
        return self.cursor.dies_done()

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
            if not rec.done:
                units = self._units()
                counted = len(rec.counted_runs())
                frac += min(1.0, counted / max(1, len(units)))
        fraction = frac / max(1, total)
        if self._fraction0 is None:
            self._fraction0 = fraction
            self._eta.start(100.0 * fraction)  # this session's rate only
        elapsed = time.monotonic() - self._t0
        # ETA on the bench clock (modeled on the twin): what the rest takes on the bench
        left = self._eta.remaining_s(100.0 * fraction)
        eta = None if math.isnan(left) else left
        notify(self.callbacks.on_progress, WaferProgress(done, total, fraction, die, elapsed, eta),
               what="progress")

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
        self._eta = BenchEta(self.bench)
        self._consecutive_faults = 0
        self.cursor.sessions.append({"pid": os.getpid(), "started_at": now()})
        error = ""
        state = "failed"
        preflight_failed = False
        try:
            with self._timed("preflight"):
                preflight(self)
                reconcile(self)
            self._set_state("running")
            self._progress(None)
            for index, die in enumerate(self.route):
                if self.die_record(die).done:
                    continue
                self._checkpoint()
                self._do_die(index, die)
                with self._timed("gc"):  # a die's runs leave reference cycles (procedures,
                    gc.collect()  # results, workers) that the rare full collection would let
                    # pile up: ~0.2 MiB a die of RSS (benchmarks/bench_memory_dies.py)
                if self._consecutive_faults >= self.recipe.faults.max_consecutive:
                    raise _Fault(f"{self._consecutive_faults} dies in a row ended with a fault; "
                                 f"last: {self.die_record(die).error}")
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
            problems = self.make_safe()
            if problems and not error:
                error = "safe state: " + "; ".join(problems)
            self.cursor.pending = None
            if state == "completed":
                try:
                    self.bench.prober.set_external_mode(False)
                except Exception as exc:
                    log.warning("could not give the station back to local mode: %s", exc)
                try:
                    y = self.bench.prober.map_yield()
                    self.cursor.prober_yield = {"total": y.total, "tested": y.tested,
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

    def make_safe(self) -> list[str]:
        """Outputs off, chuck separated (``bench.safe_state()``); the problems, if any."""
        self.contact.contacted = None
        return super().make_safe()

    def heat(self, celsius: float) -> None:
        """Chuck to ``celsius`` (separated), wait for the set point and soak."""
        if self.set_point is not None and abs(self.set_point - celsius) < 0.05:
            return
        from procedures.operations.cell_io import wait

        with self._timed("temperature"):
            self.make_safe()
            reached = self.bench.prober.heat_chuck(celsius, self.recipe.chuck.heater_timeout_s)
            wait(self.bench, self.recipe.chuck.soak_s, self._abort.is_set)
            self.set_point = float(celsius)
            self.cursor.event("temperature", set_point_c=celsius, reached_c=reached)

    # -- pause / abort checkpoints ----------------------------------------------------------------
    def _checkpoint(self) -> None:
        """Between procedure runs: abort, or pause (outputs off, separated) until resumed."""
        if not self._pause_point(_Abort):
            return
        if self._wait_while_paused():
            raise _Abort()
        position: dict[str, Any] = {}
        try:  # re-read where the prober really is (an operator may have moved it)
            pos = self.bench.prober.map_position()
            status = self.bench.prober.chuck_status()
            position = {"col": pos.col, "row": pos.row, "x_from_home_um": pos.x_from_home_um,
                        "y_from_home_um": pos.y_from_home_um, "height": status.preset_height}
        except Exception as exc:
            position = {"error": str(exc)}
        self.contact.contacted = None
        self.cursor.event("resumed", position=position)
        self._set_state("running")


__all__ = ["WaferRun", "load_cursor"]
