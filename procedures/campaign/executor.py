"""The campaign executor: the schedule step by step, the measurement set at every step.

:class:`CampaignRun` walks the units (step, measurement) of a :class:`~procedures.campaign.model.
Campaign` in order. At every step:

1. monitor schedule: wait on the bench clock until the step is due (abort honoured);
2. a set point (temperature schedule, or a monitor schedule's fixed temperature): outputs off and
   chuck separated, ramp/soak (:func:`~procedures.campaign.conditions.reach_temperature`); the
   temperature reached is recorded on the step;
3. every measurement of the step not yet counted: the condition read just before it (chuck
   temperature read back, elapsed bench time, dose), then one ordinary procedure run through
   :func:`procedures.framework.runner.prepare_run` (step, contact, results file, catalog entry
   tagged ``campaign`` and ``campaign:<id>``, safe end: outputs off and chuck separated after
   every run); the figures and the condition go into the cursor and the run's catalog summary;
   the limits are checked: ``pause`` pauses (the GUI waits for Resume; the command line ends the
   session as ``paused``), ``stop`` ends the campaign as ``stopped``; the reason is recorded and
   reported.

The cursor (:mod:`procedures.campaign.cursor`) is saved atomically before and after every
measurement: a killed campaign resumes (:meth:`CampaignRun.reopen`) at the first unit without a
counted run (the one in flight is redone; its old run is kept as an orphan, marked aborted in
the catalog when it is opened; a run that had finished in the catalog just before the kill,
before the cursor counted it, is an orphan with status ``finished``: complete, not counted).
At the end, on abort, error or signal: outputs off, chuck separated, heater set back to
``safe_temperature_c`` (at a normal end, with ``cool_down``, the campaign waits until the chuck
reads it); then the outputs are written (:mod:`procedures.campaign.outputs`). Pause, resume and
abort may be called from any thread.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from instruments.bench_types import BenchInterface
from procedures.campaign.conditions import (
    Condition,
    has_heater,
    heater_to_safe,
    reach_temperature,
    read_condition,
)
from procedures.campaign.cursor import CampaignCursor, MeasurementEntry, StepRecord, now
from procedures.campaign.events import (
    CampaignCallbacks,
    CampaignOutcome,
    CampaignPoint,
    CampaignProgress,
    CampaignRunError,
    campaigns_dir,
    latest_campaign,
)
from procedures.campaign.model import Campaign
from procedures.campaign.outputs import measurement_figures, write_outputs
from procedures.framework.callbacks import notify
from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunOutcome, prepare_run
from procedures.framework.session import BackgroundSession
from procedures.operations.cell_io import bench_clock, wait
from procedures.wafer.folders import new_output_folder

log = logging.getLogger(__name__)


class _Abort(Exception):
    pass


class _Stop(Exception):
    """A limit (or a pause on the command line) ends the session."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


def _check_bench(campaign: Campaign, bench: BenchInterface) -> None:
    """The campaign against the bench: limits and targets (chips on a packaged bench, dies with
    a prober; CampaignError naming the key) and a heater for a schedule that sets temperatures
    (CampaignRunError); nothing is applied."""
    campaign.validate(bench.limits)
    s = campaign.schedule
    if (s.kind == "temperature" or s.temperature_c is not None) and not has_heater(bench):
        raise CampaignRunError(f"bench {bench.config.name} has no heater (no prober hot chuck, "
                               "no bench.heater): a temperature schedule cannot run on it")
    campaign.check_targets(bench)


class CampaignRun(BackgroundSession[CampaignOutcome]):
    """One campaign on an open bench. Build with :meth:`create` or :meth:`reopen`.

    A :meth:`pause` takes effect after the current measurement (outputs off, chuck separated,
    heater kept); :meth:`resume` continues it.
    """

    def __init__(self, campaign: Campaign, bench: BenchInterface, data_root: Path, catalog: Catalog,
                 out_dir: Path, cursor: CampaignCursor,
                 callbacks: CampaignCallbacks | None = None) -> None:
        self.campaign = campaign
        self.callbacks = callbacks or CampaignCallbacks()
        #: the command line: a pause ends the session (state ``paused``; --resume continues)
        self.exit_on_pause = False
        self.draw_figures = True
        self.outcome: CampaignOutcome | None = None
        self._init_session(bench, data_root, catalog, out_dir, cursor)
        self._units = campaign.units()
        self._clock0: float | None = None  # bench clock at the start of this session
        self._elapsed0 = cursor.elapsed_s
        self._t0 = time.monotonic()
        self._done0: int | None = None

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def create(cls, campaign: Campaign, bench: BenchInterface, data_root: Path, catalog: Catalog,
               callbacks: CampaignCallbacks | None = None,
               out_dir: Path | None = None) -> CampaignRun:
        """A new campaign: validated against the bench limits, output folder and cursor made."""
        _check_bench(campaign, bench)
        if out_dir is None:
            out_dir = new_output_folder(campaigns_dir(data_root, campaign), campaign.name)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        from procedures.wafer.atomic import atomic_write

        atomic_write(out_dir / "campaign.toml", campaign.text)
        s = campaign.schedule
        cursor = CampaignCursor(
            campaign_name=campaign.name, campaign_sha256=campaign.sha256,
            campaign_source=campaign.source, lot=campaign.lot, wafer_id=campaign.wafer_id,
            bench=bench.config.name,
            steps=[StepRecord(k, s.label(k), s.set_point(k)) for k in range(s.n_steps())],
        )
        run = cls(campaign, bench, data_root, catalog, out_dir, cursor, callbacks)
        run.save()
        return run

    @classmethod
    def reopen(cls, campaign: Campaign, bench: BenchInterface, data_root: Path, catalog: Catalog,
               out_dir: Path, callbacks: CampaignCallbacks | None = None) -> CampaignRun:
        """Continue the campaign in ``out_dir`` (after a kill, abort, pause or limit stop)."""
        from procedures.campaign.cursor import CampaignCursorError

        try:
            cursor = CampaignCursor.load(out_dir)
        except CampaignCursorError as exc:
            raise CampaignRunError(str(exc)) from None
        if cursor.campaign_sha256 != campaign.sha256:
            raise CampaignRunError(
                "the campaign file changed since this campaign started; resume with its saved "
                f"copy {Path(out_dir) / 'campaign.toml'} or start a new campaign")
        _check_bench(campaign, bench)
        run = cls(campaign, bench, data_root, catalog, Path(out_dir), cursor, callbacks)
        run._adopt_orphans()
        return run

    def _adopt_orphans(self) -> None:
        """Runs of this campaign in the catalog that no entry counts (a kill mid-run): kept as
        orphans (the catalog marks a dead process's runs aborted when it is opened)."""
        known = {e.run_id for e in self.cursor.entries} | {o.get("run_id")
                                                           for o in self.cursor.orphans}
        try:
            found = self.catalog.runs(tag=self.tag)
        except Exception as exc:
            log.warning("catalog not searched for interrupted runs: %s", exc)
            found = []
        for r in found:
            if r.id not in known:
                self.cursor.orphans.append({"run_id": r.id, "status": r.status,
                                            "unit": self.cursor.pending or "", "time": now()})
        if self.cursor.pending:
            self.cursor.event("interrupted", unit=self.cursor.pending)
        self.cursor.pending = None
        self.save()

    # -- control (any thread) ---------------------------------------------------------------------
    @property
    def tag(self) -> str:
        """Catalog tag of this campaign's runs: ``campaign:<output folder name>``."""
        return f"campaign:{self.out_dir.name}"

    @property
    def state(self) -> str:
        return self.cursor.state

    def start(self) -> CampaignRun:
        """Run in a background thread; :meth:`wait` for the outcome. An :meth:`abort` made
        after this call is honoured even before the thread gets going."""
        self._start_thread(self._execute, "campaign")
        return self

    # -- bookkeeping ------------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Campaign time on the bench clock (s), every session included."""
        if self._clock0 is None:
            return self._elapsed0
        return self._elapsed0 + bench_clock(self.bench) - self._clock0

    def save(self) -> None:
        """Write the cursor atomically."""
        if self._clock0 is not None:
            self.cursor.elapsed_s = self.elapsed()
        self.cursor.save(self.out_dir)

    def _set_state(self, state: str, error: str = "") -> None:
        self.cursor.state = state
        if error or state == "running":
            self.cursor.error = error
        self.save()
        notify(self.callbacks.on_status, state + (f": {error}" if error else ""), what="status")

    def _progress(self, step: int | None) -> None:
        total = len(self._units)
        done = self.cursor.units_done()
        if self._done0 is None:
            self._done0 = done
        wall = time.monotonic() - self._t0
        gained = done - self._done0
        eta = wall * (total - done) / gained if gained > 0 else None
        s = self.campaign.schedule
        times = [e.bench_time_s for e in self.cursor.entries
                 if e.counted and e.bench_time_s is not None]
        left = sum(times) / len(times) * (total - done) if times else None
        if s.kind == "monitor":
            left = max(left or 0.0, s.duration_s - self.elapsed())
        label = s.label(step) if step is not None else ""
        notify(self.callbacks.on_progress,
               CampaignProgress(done, total, done / max(1, total), step, label, wall, eta, left),
               what="progress")

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> CampaignOutcome:
        """Execute (or continue) the campaign in the calling thread."""
        self._abort.clear()
        return self._execute()

    def _execute(self) -> CampaignOutcome:
        self._t0 = time.monotonic()
        self._done0 = None
        self._elapsed0 = self.cursor.elapsed_s
        self._clock0 = bench_clock(self.bench)
        self.cursor.sessions.append({"pid": os.getpid(), "started_at": now()})
        state, error = "failed", ""
        try:
            self.cursor.reason = ""
            self._set_state("running")
            self._progress(None)
            for step in range(self.campaign.schedule.n_steps()):
                self._do_step(step)
            state = "completed"
        except _Abort:
            state = "aborted"
        except _Stop as exc:
            state = exc.state
        except Exception as exc:
            log.exception("campaign failed")
            error = f"{type(exc).__name__}: {exc}"
        finally:
            state, error = self._safe_end(state, error)
        return self.outcome  # type: ignore[return-value]

    def _safe_end(self, state: str, error: str) -> tuple[str, str]:
        problems = self.make_safe()
        s = self.campaign.schedule
        controlled = s.kind == "temperature" or s.temperature_c is not None
        if controlled:
            wait_s = s.heater_timeout_s if s.cool_down and state in ("completed", "stopped") \
                else None
            reached, problem = heater_to_safe(self.bench, s.safe_temperature_c, wait_s)
            self.cursor.safe_end = {"set_point_c": s.safe_temperature_c, "read_c": reached,
                                    "waited": bool(wait_s), "time": now()}
            if problem:
                problems.append(problem)
        if problems and not error:
            error = "safe state: " + "; ".join(problems)
        self.cursor.pending = None
        outputs: dict[str, Any] = {}
        try:
            self._set_state(state, error)
            outputs = write_outputs(self.out_dir, self.campaign, self.cursor,
                                    draw=self.draw_figures)
        except Exception as exc:  # a disk problem: report it, waiters must not hang
            log.exception("could not save the campaign's state or outputs")
            state, error = "failed", f"{error}; saving: {exc}".lstrip("; ")
        self.outcome = CampaignOutcome(state, self.out_dir, self.cursor.units_done(),
                                       len(self._units), error, self.cursor.reason, outputs)
        return state, error

    def _checkpoint(self) -> None:
        if not self._pause_point(_Abort, reason=self.cursor.reason):
            return
        if self.exit_on_pause:
            raise _Stop("paused")
        if self._wait_while_paused():
            raise _Abort()
        self.cursor.event("resumed")
        self.cursor.reason = ""
        self._set_state("running")

    def _should_stop(self) -> bool:
        return self._abort.is_set()

    def _do_step(self, step: int) -> None:
        rec = self.cursor.steps[step]
        todo = [m for s, m in self._units if s == step and not self.cursor.settled(s, m)]
        if not todo:
            if rec.state != "done":
                rec.state, rec.finished_at = "done", rec.finished_at or now()
                self.save()
            return
        self._checkpoint()
        s = self.campaign.schedule
        if s.kind == "monitor":
            due = s.due_s(step)
            if not wait(self.bench, due - self.elapsed(), self._should_stop):
                raise _Abort()
        rec.state = "in-progress"
        rec.started_at = rec.started_at or now()
        self.save()
        set_point = s.set_point(step)
        if set_point is not None:
            self.make_safe()
            notify(self.callbacks.on_status, f"step {step + 1}: chuck to {set_point:g} C",
                   what="status")
            reached = reach_temperature(self.bench, set_point, s.ramp_c_per_min, s.soak_s,
                                        s.heater_timeout_s, self._should_stop)
            if reached is None:
                raise _Abort()
            rec.reached_c = reached
            self.cursor.event("temperature", step=step, set_point_c=set_point, reached_c=reached)
            self.save()
        notify(self.callbacks.on_step, step, "in-progress", rec.reached_c, what="step")
        for m in todo:
            self._checkpoint()
            self._do_measurement(step, m, set_point)
        rec.state, rec.finished_at = "done", now()
        self.save()
        notify(self.callbacks.on_step, step, "done", rec.reached_c, what="step")

    def _do_measurement(self, step: int, m: int, set_point: float | None) -> None:
        spec = self.campaign.measurements[m]
        proc = self.campaign.build(m, step)
        proc.run_tags = ["campaign", self.tag]
        condition = read_condition(self.bench, self.elapsed(), set_point)
        entry = MeasurementEntry(step, spec.name, m, started_at=now(),
                                 condition=condition.columns())
        self.cursor.pending = entry.unit
        self.save()
        outcome = self._run(proc, spec.chip is not None if self.bench.prober is None
                            else spec.die is not None)
        entry.run_id, entry.status = int(outcome.run_id), outcome.status
        entry.chip = spec.chip if self.bench.prober is None else None
        if outcome.die is not None:
            entry.die = f"{outcome.die[0]},{outcome.die[1]}"
        entry.file, entry.error = str(outcome.file), outcome.error or ""
        entry.counted = outcome.status == "finished"
        entry.bench_time_s = outcome.summary.get("bench_time_s")
        if entry.counted:
            entry.figures = measurement_figures(spec.name, spec.procedure, outcome.summary,
                                                outcome.file)
        self.cursor.entries.append(entry)
        self.cursor.pending = None
        self.save()
        self._tag_catalog(entry, condition)
        notify(self.callbacks.on_point, CampaignPoint(
            step, self.campaign.schedule.label(step), spec.name, entry.status,
            dict(entry.condition), dict(entry.figures), entry.chip), what="point")
        self._progress(step)
        if not entry.counted:
            if self._abort.is_set():
                raise _Abort()
            fault = (f"{spec.name} ({spec.procedure}) at step {step + 1} {outcome.status}: "
                     f"{outcome.error or 'no message'}")
            if self.campaign.on_fault != "continue":
                raise RuntimeError(fault)
            entry.skipped = True  # settled without a result: the campaign goes on
            self.cursor.event("fault", step=step, measurement=spec.name, error=fault)
            self.save()
            notify(self.callbacks.on_status, f"fault, continuing: {fault}", what="status")
            return
        self._check_limits(step, entry)

    def _run(self, proc: Any, move: bool) -> RunOutcome:
        """One run; ``move``: step to the measurement's die (wafer bench) or select its chip
        (packaged bench: the bench switches with every output off; a bonded chip has no
        contact nor separation), else stay on the die (contact) or the chip routed now."""
        if not move and self.bench.prober is not None:  # stay on the die; contact
            self.bench.prober.contact()
        handle = prepare_run(proc, self.bench, self.data_root, self.catalog,
                             callbacks=self.callbacks.run, move_prober=move,
                             safe_end=True)
        return self._run_stoppable(handle)

    def _tag_catalog(self, entry: MeasurementEntry, condition: Condition) -> None:
        if entry.run_id < 0:
            return
        try:
            self.catalog.update_summary(
                entry.run_id, campaign=self.out_dir.name, campaign_name=self.campaign.name,
                campaign_step=entry.step, campaign_label=self.campaign.schedule.label(entry.step),
                campaign_measurement=entry.measurement,
                **({} if entry.chip is None else {"campaign_chip": entry.chip}),
                **{f"condition_{k}": v for k, v in condition.columns().items()})
        except KeyError:
            pass

    def _check_limits(self, step: int, entry: MeasurementEntry) -> None:
        for limit in self.campaign.limits:
            name, figure = limit.figure.split(".", 1)
            if name != entry.measurement:
                continue
            why = limit.violated(entry.figures.get(figure))
            if not why:
                continue
            reason = f"limit {why} at step {step + 1} ({self.campaign.schedule.label(step)}): " \
                     f"{limit.action}"
            self.cursor.reason = reason
            self.cursor.limit_hits.append({"figure": limit.figure,
                                           "value": entry.figures.get(figure),
                                           "action": limit.action, "step": step,
                                           "reason": reason, "time": now()})
            self.cursor.event("limit", reason=reason)
            self.save()
            notify(self.callbacks.on_limit, reason, what="limit")
            if limit.action == "stop":
                raise _Stop("stopped")
            self.pause()


__all__ = ["CampaignCallbacks", "CampaignOutcome", "CampaignPoint", "CampaignProgress",
           "CampaignRun", "CampaignRunError", "campaigns_dir", "latest_campaign"]
