"""One die of a wafer run: its units (subsite x step run), contact, procedure runs, faults and
binning. :class:`DieSteps` is the part of :class:`~procedures.wafer.executor.WaferRun` that works
on the current die; the executor keeps the loop over the route, the threads and the
checkpoints."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from instruments.bench_types import BenchInterface
from instruments.wafermap import DieIndex
from procedures.framework.callbacks import notify
from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunOutcome, prepare_run
from procedures.wafer.contact import ContactState, step_to, touchdown
from procedures.wafer.cursor import DieRecord, PendingUnit, RunEntry, WaferCursor, now, plain
from procedures.wafer.events import DieResult, WaferCallbacks
from procedures.wafer.figures import die_figures, run_figures
from procedures.wafer.recipe import BinRule, Recipe, StepRun

log = logging.getLogger(__name__)


class _Abort(Exception):
    """Internal: the operator aborted."""


class _Fault(Exception):
    """Internal: a fault on the current die."""


def _scalars(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without its (long) per-device lists, for the cursor."""
    return {k: v for k, v in summary.items() if not isinstance(v, list | dict)}


class DieSteps:
    """The die-level steps of a wafer run (mixed into :class:`~procedures.wafer.executor.WaferRun`,
    which provides the attributes and bookkeeping methods named here)."""

    recipe: Recipe
    bench: BenchInterface
    data_root: Path
    catalog: Catalog
    out_dir: Path
    cursor: WaferCursor
    callbacks: WaferCallbacks
    contact: ContactState
    set_point: float | None
    route: list[DieIndex]
    _abort: threading.Event
    _run_stoppable: Callable[[Any], RunOutcome]
    _consecutive_faults: int
    _subsites: list[Any]
    _timed: Callable[[str], AbstractContextManager[None]]
    save: Callable[[], None]
    make_safe: Callable[[], list[str]]
    heat: Callable[[float], None]
    _checkpoint: Callable[[], None]
    _progress: Callable[[DieIndex | None], None]
    _unit_key: Callable[[int, StepRun], str]
    _units: Callable[[], list[tuple[int, StepRun]]]

    # -- one die -----------------------------------------------------------------------------------
    def _do_die(self, index: int, die: DieIndex) -> None:
        rec = self.cursor.record(die)
        rec.state = "in-progress"
        if rec.started_at is None:
            rec.started_at = now()
        self.save()
        notify(self.callbacks.on_die_started, die, index, len(self.route), what="die-started")
        retries = 1 if self.recipe.faults.on_fault == "retry" else 0
        for subsite, run in self._units():
            key = self._unit_key(subsite, run)
            while not any(e.unit == key and e.counted for e in rec.runs):
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
                rec.faults.append({"unit": key, "error": error, "time": now()})
                rec.error = error
                self.cursor.event("fault", die=die, unit=key, error=error)
                self.make_safe()
                self.save()
                if retries > 0:
                    retries -= 1
                    continue
                self._finish_die(die, self.recipe.special_bin("fault"), error)
                self._consecutive_faults += 1
                return
        self.make_safe()
        self._finish_die(die, None)
        self._consecutive_faults = 0

    def _prepare_unit(self, die: DieIndex, subsite: int, run: StepRun) -> str | None:
        """Temperature, position and contact for a unit; a special bin kind if the die cannot
        be measured (no contact, short)."""
        step = self.recipe.steps[run.step_index]
        if step.temperature_c is not None:
            self.heat(step.temperature_c)
        if self.contact.contacted == (die, subsite):
            return None
        rec = self.cursor.record(die)
        with self._timed("step"):
            self.contact.contacted = None
            pos = step_to(self.bench.prober, die, subsite, self._subsites)
        rec.positions = [p for p in rec.positions if p.get("subsite") != subsite] + [pos]
        with self._timed("contact"):
            check = touchdown(self.bench.prober, self.recipe.contact, self.contact)
        check.subsite = subsite
        rec.contact.append(check)
        self.save()
        if check.state == "contact":
            self.contact.contacted = (die, subsite)
            return None
        self.make_safe()
        first = not rec.counted_runs()
        if first:
            return "short" if check.state == "short" else "no-contact"
        raise RuntimeError(f"contact lost on subsite {subsite}: check reads {check.state} "
                           f"({check.current_a} A)")

    def _run_unit(self, die: DieIndex, subsite: int, run: StepRun) -> RunOutcome:
        step = self.recipe.steps[run.step_index]
        proc = self.recipe.build(run, die, subsite)
        self.cursor.pending = PendingUnit(tuple(die), self._unit_key(subsite, run), step.name,
                                          now())
        self.save()
        handle = prepare_run(proc, self.bench, self.data_root, self.catalog,
                             callbacks=self.callbacks.run, move_prober=False, safe_end=False)
        with self._timed(f"procedure:{step.name}"):
            return self._run_stoppable(handle)

    def _record_run(self, rec: DieRecord, die: DieIndex, subsite: int, run: StepRun,
                    outcome: RunOutcome) -> str:
        """Record a finished procedure run in the cursor; returns an error text for a fault."""
        step = self.recipe.steps[run.step_index]
        counted = outcome.status == "finished"
        entry = RunEntry(
            unit=self._unit_key(subsite, run), subsite=subsite,
            subsite_label=self._subsites[subsite].label if self._subsites else "",
            step=step.name, step_index=run.step_index, procedure=step.procedure,
            split_param=run.split_param, split_value=plain(run.split_value),
            run_id=int(outcome.run_id), status=outcome.status, file=str(outcome.file),
            error=outcome.error or "", counted=counted,
            summary=plain(_scalars(outcome.summary)),
        )
        if (outcome.die is not None and tuple(outcome.die) != tuple(die)):
            entry.error = f"runner read die {outcome.die}, expected {die}"
        rec.runs.append(entry)
        self.cursor.pending = None
        self.save()
        self._progress(die)
        if counted:
            return ""
        if outcome.status == "aborted" and self._abort.is_set():
            raise _Abort()
        return f"{step.name} ({step.procedure}) {outcome.status}: {outcome.error or 'no message'}"

    # -- binning ----------------------------------------------------------------------------------
    def _finish_die(self, die: DieIndex, rule: BinRule | None, error: str = "") -> None:
        rec = self.cursor.record(die)
        with self._timed("binning"):
            figures: dict[str, Any] = {}
            if rule is None:
                figures = self._figures(rec)
                rule = self.recipe.evaluate_bins(figures)
                first_pass = next((b for b in self.recipe.bins if b.passed and not b.special),
                                  None)
                if first_pass is not None and not rule.passed:
                    rec.failed_limits = first_pass.failed_limits(figures)
            rec.state, rec.bin, rec.bin_name, rec.passed = "done", rule.code, rule.name, rule.passed
            rec.figures, rec.finished_at = plain(figures), now()
            if error:
                rec.error = error
            try:
                self.bench.prober.bin_map_die(rule.code, die[0], die[1])
            except Exception as exc:
                log.warning("could not bin die %s on the prober: %s", die, exc)
                rec.prober_bin_error = str(exc)
            for entry in rec.runs:
                if entry.run_id >= 0:
                    try:
                        self.catalog.update_summary(
                            int(entry.run_id), wafer_bin=rule.code, wafer_bin_name=rule.name,
                            wafer_pass=rule.passed, wafer_run=self.out_dir.name,
                        )
                    except KeyError:
                        pass
        self.save()
        self._progress(None)
        notify(self.callbacks.on_die_finished,
               DieResult(die, rule.code, rule.name, rule.passed, rule.color, dict(figures), error),
               what="die-finished")

    def _figures(self, rec: DieRecord) -> dict[str, Any]:
        """Die figures from the counted runs (catalog summaries and results files)."""
        pieces = []
        for entry in rec.counted_runs():
            step = self.recipe.steps[int(entry.step_index or 0)]
            summary = dict(entry.summary or {})
            try:
                summary = self.catalog.get(int(entry.run_id)).summary or summary
            except KeyError:
                pass
            label = ""
            if entry.split_param:
                v = entry.split_value
                label = (f"{entry.split_param}={v:g}" if isinstance(v, float)
                         else f"{entry.split_param}={v}")
            rf = run_figures(step.name, step.procedure, summary, entry.file or None, label,
                             step.cycle_limits)
            entry.figures = plain(rf.medians())
            pieces.append(rf)
        return die_figures(pieces)


__all__ = ["DieSteps"]
