"""Running one procedure on a bench: target, file, catalog, worker, safe end.

:func:`prepare_run` validates everything and decides where the data go *before* any instrument
output; :class:`RunHandle` runs the procedure in a pymeasure :class:`Worker` thread (rows reach the
results CSV as they are measured) and reports progress, rows and the end to callbacks. The
parameters are snapshotted when the run is prepared: later edits of the caller's objects never
change where a run's data go.

Sequence of a run:
1. validate parameters against the bench limits (``BenchProcedure.validate``);
2. step the prober to the die/subsite if asked (the chuck is separated before any XY move),
   read back the position the prober reports, move to contact; on a packaged bench (no
   prober) select the chip's socket on the board instead (outputs off first);
3. create the results file under ``<root>/<lot>/<wafer>/<die>/<subsite>/`` and a ``running``
   catalog entry;
4. run the procedure (startup/execute/shutdown; shutdown turns outputs off);
5. outputs off and chuck separated (``bench.safe_state``), catalog entry finished with the
   procedure's summary and its status (finished/aborted/failed).
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pymeasure.experiment import Procedure, Results, Worker

from instruments.bench_types import BenchInterface
from procedures.framework.base import DISPLAY_BATCH, BenchProcedure
from procedures.framework.board import check_chip_target, select_target_chip
from procedures.framework.callbacks import notify
from procedures.framework.catalog import Catalog, resolve_operator
from procedures.framework.run_end import RunEnd, append_run_end
from procedures.framework.validation import check_target, safe_component, validate_procedure
from procedures.framework.waveform_store import RunStore, open_run_store
from procedures.operations.cell_io import CellIO, bench_clock, bench_round_trips

log = logging.getLogger(__name__)

STATUS_NAMES = {
    Procedure.FINISHED: "finished",
    Procedure.ABORTED: "aborted",
    Procedure.FAILED: "failed",
}


@dataclass
class RunOutcome:
    """How a run ended."""

    run_id: int
    status: str
    file: Path
    summary: dict[str, Any]
    die: tuple[int, int] | None
    error: str = ""


@dataclass
class RunCallbacks:
    """Hooks called from the worker thread (a GUI must re-emit them as queued Qt signals)."""

    on_row: Callable[[dict[str, Any]], None] | None = None
    on_batch: Callable[[dict[str, Any]], None] | None = None
    on_progress: Callable[[float], None] | None = None
    on_status: Callable[[str], None] | None = None
    on_start: Callable[[BenchProcedure], None] | None = None  # just before the first row


class _Worker(Worker):
    """pymeasure's Worker, also forwarding rows and progress to callbacks."""

    def __init__(self, results: Results, callbacks: RunCallbacks,
                 store: RunStore | None = None) -> None:
        super().__init__(results)
        self.callbacks = callbacks
        self.store = store
        self.error_text = ""

    def emit(self, topic: str, record: Any) -> None:
        super().emit(topic, record)
        if self.store is not None and topic in ("results", "batch results"):
            self.store.append_rows(record)  # the per-cell history in HDF5, as measured
        cb = self.callbacks
        try:
            if topic == "results" and cb.on_row:
                cb.on_row(record)
            elif topic in ("batch results", DISPLAY_BATCH) and cb.on_batch:
                cb.on_batch(record)
            elif topic == "progress" and cb.on_progress:
                cb.on_progress(float(record))
            elif topic == "error":
                self.error_text = str(record)
        except Exception:  # a display problem must never stop a measurement
            log.exception("run callback failed")


def die_folder(die: tuple[int, int] | None) -> str:
    """Folder name of a die: ``c07r03``; ``unknown-die`` if None."""
    return "unknown-die" if die is None else f"c{die[0]:02d}r{die[1]:02d}"


def results_path(
    root: Path, procedure: BenchProcedure, die: tuple[int, int] | None, subsite: int
) -> Path:
    """A new, unique results file path for ``procedure`` on ``die``/``subsite``."""
    folder = (Path(root) / safe_component(procedure.lot) / safe_component(procedure.wafer_id)
              / die_folder(die) / f"s{subsite:02d}")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{safe_component(procedure.NAME)}_{stamp}"
    path = folder / f"{base}.csv"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{base}_{n}.csv"
    return path


def create_results(
    root: Path, procedure: BenchProcedure, die: tuple[int, int] | None, subsite: int
) -> tuple[Path, Results]:
    """A new results file for ``procedure`` (header written) and its pymeasure ``Results``.

    The name is picked and the file created under a lock shared by every process on the data
    root (``<root>/.results-naming.lock``), so two runs of one procedure started in the same
    second, in one process or several, never get the same file.
    """
    import filelock

    Path(root).mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(Path(root) / ".results-naming.lock"), timeout=60,
                           thread_local=False):
        path = results_path(root, procedure, die, subsite)
        return path, Results(procedure, str(path))  # the header claims the name


def position_prober(
    bench: BenchInterface, die: tuple[int, int] | None, subsite: int, contact: bool = True
) -> tuple[int, int]:
    """Step the prober to ``die``/``subsite`` (None: stay), contact (if asked), and return the
    die the prober reports.

    Stepping always separates first (never XY in contact); contact comes last.
    """
    prober = bench.prober
    if die is not None:
        prober.separate()
        prober.step_next_die(die[0], die[1], subsite)
    pos = prober.map_position()
    reported = (pos.col, pos.row)
    if die is not None and reported != die:
        raise RuntimeError(f"prober reports die {reported} after stepping to {die}")
    if contact:
        prober.contact()
    return reported


def device_temperature(bench: BenchInterface) -> float | None:
    """Temperature of the device (degC) from the bench's heater (the prober's hot chuck), None
    without one or when it cannot be read (logged)."""
    heater = getattr(bench, "heater", None)
    try:
        if heater is not None:
            return float(heater.temperature())
        if getattr(bench, "prober", None) is not None:
            return float(bench.prober.heater().temperature)
    except Exception as exc:
        log.warning("device temperature unknown: %s", exc)
    return None


class RunHandle:
    """One prepared run; :meth:`start` runs it in a worker thread, :meth:`wait` for the end."""

    def __init__(
        self,
        procedure: BenchProcedure,
        bench: BenchInterface,
        data_root: Path,
        catalog: Catalog,
        callbacks: RunCallbacks | None = None,
        move_prober: bool = True,
        safe_end: bool = True,
    ) -> None:
        self.procedure = procedure
        self.bench = bench
        self.data_root = Path(data_root)
        self.catalog = catalog
        self.callbacks = callbacks or RunCallbacks()
        self.move_prober = move_prober
        self.safe_end = safe_end
        self.outcome: RunOutcome | None = None
        self._worker: _Worker | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._stop_reason = "stopped by operator"
        self.done = threading.Event()

    def start(self) -> RunHandle:
        """Start the run in a background thread; returns self."""
        self._thread = threading.Thread(target=self._run, name=f"run-{self.procedure.NAME}",
                                        daemon=True)
        self._thread.start()
        return self

    def run(self) -> RunOutcome:
        """Run in the calling thread (still measuring in pymeasure's worker thread)."""
        self._run()
        assert self.outcome is not None
        return self.outcome

    def run_until_done(self, should_abort: Callable[[], bool], poll_s: float = 0.1
                       ) -> RunOutcome:
        """Start in a worker thread and wait for the end, stopping the run as soon as
        ``should_abort()`` is true (checked before the start and every ``poll_s`` s): how a
        wafer or campaign executor drives one run it can abort from another thread."""
        if should_abort():
            self.stop()
        self.start()
        while self.wait(poll_s) is None:
            if should_abort():
                self.stop()
        assert self.outcome is not None
        return self.outcome

    def stop(self, reason: str = "stopped by operator") -> None:
        """Abort: the procedure stops at its next ``should_stop`` check, outputs go off.

        ``reason`` becomes the run's message (the first one given wins)."""
        if not self._stop.is_set():
            self._stop_reason = reason
        self._stop.set()
        if self._worker is not None:
            self._worker.stop()

    def wait(self, timeout: float | None = None) -> RunOutcome | None:
        """Wait for the end; the outcome (None if still running after ``timeout`` s).

        The end is after the safe end and the catalog update: ``outcome`` is known a little
        earlier, but a caller must not close the bench or the catalog before then."""
        if not self.done.wait(timeout):
            return None
        return self.outcome

    def _status(self, text: str) -> None:
        notify(self.callbacks.on_status, text, what="status")

    def _run(self) -> None:
        proc = self.procedure
        run_id = -1
        path = Path()
        die: tuple[int, int] | None = None
        self._bench_t0 = bench_clock(self.bench)  # bench_time_s: modeled on the twin
        self._wall_t0 = time.perf_counter()  # wall_time_s of the results file's closing block
        self._wall_s: float | None = None
        self._trips0 = bench_round_trips(self.bench)  # round_trips of the run
        try:
            proc.bench = self.bench
            proc.io = CellIO(self.bench)
            proc.data_root = self.data_root
            if self.bench.prober is None:  # packaged chips: select the chip on the board
                self._status("selecting the chip")
                board_socket, die = select_target_chip(
                    self.bench, proc.target_chip() if self.move_prober else None)
                proc.chip = board_socket  # the run records the socket it measured
            elif self.move_prober:
                self._status("positioning the prober")
                die = position_prober(self.bench, proc.target_die(), int(proc.subsite))
            else:
                # the caller (e.g. a wafer run) has positioned and contacted the prober
                pos = self.bench.prober.map_position()
                die = (pos.col, pos.row)
            if self._stop.is_set():
                raise _Aborted()
            temperature = device_temperature(self.bench)
            config = self.bench.config
            proc.operator = resolve_operator(proc.operator, getattr(config, "operator", ""))
            station = config.station_name() if hasattr(config, "station_name") else ""
            # the file (header) exists before the entry
            path, results = create_results(self.data_root, proc, die, int(proc.subsite))
            run_id = self.catalog.start_run(
                proc.NAME, _parameter_values(proc), path, die=die, subsite=int(proc.subsite),
                array=proc.array, cells=[list(c) for c in proc.target_cells()],
                temperature_c=temperature, lot=proc.lot, wafer=proc.wafer_id,
                operator=proc.operator, bench=config.name, station=station,
                tags=list(getattr(proc, "run_tags", []) or []),  # e.g. "manual" (GUI actions)
            )
            _start_record(self.catalog, run_id, path)
            proc.results_file = path  # side files (HDF5 waveforms) go beside it
            self._store = proc.store = open_run_store(proc, path)
            self._worker = _Worker(results, self.callbacks, self._store)
            if self._stop.is_set():
                self._worker.stop()
            self._status("running")
            notify(self.callbacks.on_start, proc, what="start")
            self._worker.start()
            # Thread.join: pymeasure's Worker.join only waits for the stop flag, which is set
            # as soon as the run is aborted (a loop on it would spin until the worker ends)
            threading.Thread.join(self._worker)
            status = STATUS_NAMES.get(proc.status, "failed")
            error = self._worker.error_text.strip().splitlines()[-1:] if status == "failed" else []
            message = error[0] if error else (self._stop_reason if status == "aborted" else "")
            store = getattr(self, "_store", None)  # closed at the end, with its end figures
            summary = self._timed({**_safe_summary(proc),
                                   **(store.summary() if store is not None else {})})
            self.outcome = RunOutcome(run_id, status, path, summary, die, message)
        except _Aborted:
            self.outcome = RunOutcome(run_id, "aborted", path, {}, die, "stopped before start")
        except Exception as exc:
            log.exception("run of %s failed", proc.NAME)
            self.outcome = RunOutcome(run_id, "failed", path, self._timed(_safe_summary(proc)),
                                      die, str(exc))
        finally:
            try:
                self._finish(run_id)
            finally:
                self._close_store()  # already closed by _finish unless it failed first
                _release_worker_hooks(proc)
                self.done.set()  # whatever failed above, waiters must not hang

    def _close_store(self, end: RunEnd | None = None) -> None:
        """Close the run's HDF5 store (if any), ``end``'s figures written as its attributes."""
        store, self._store = getattr(self, "_store", None), None
        if store is None:
            return
        try:
            if end is not None:
                store.set_end(end.as_dict())
            store.close()
        except Exception as exc:  # the CSV holds the rows; report, do not lose the run
            log.error("HDF5 file %s not closed cleanly: %s", store.path, exc)
            try:
                store.close()
            except Exception:
                log.debug("HDF5 file %s: second close failed too", store.path)

    def _timed(self, summary: dict[str, Any]) -> dict[str, Any]:
        """``summary`` with ``bench_time_s``: the run's time on the bench clock
        (:meth:`instruments.bench.Bench.clock`, modeled on the twin), positioning included."""
        self._wall_s = time.perf_counter() - self._wall_t0
        try:
            out = {**summary, "bench_time_s": bench_clock(self.bench) - self._bench_t0}
            trips = bench_round_trips(self.bench)
            if trips is not None and self._trips0 is not None:
                out["round_trips"] = trips - self._trips0  # driver lines, positioning included
            return out
        except Exception as exc:  # a clock problem must not lose the summary
            log.warning("bench time unknown: %s", exc)
            return summary

    def _finish(self, run_id: int) -> None:
        # outputs are off after the procedure's shutdown; a standalone run also separates
        problems = self.bench.safe_state() if self.safe_end else []
        if problems and self.outcome is not None:
            self.outcome.error = (self.outcome.error + "; " if self.outcome.error else "") + \
                "safe state: " + "; ".join(problems)
        end = self._run_end()
        self._close_store(end)  # the HDF5 file complete before the catalog says the run ended
        if end is not None:
            _close_results(self.outcome, end)
        if self.outcome is not None and run_id >= 0:
            try:
                self.catalog.finish_run(run_id, self.outcome.status, self.outcome.summary,
                                        self.outcome.error)
            except Exception as exc:  # the file is complete; the entry stays "running"
                log.error("catalog entry %d not updated: %s", run_id, exc)
                self.outcome.error += f"; catalog not updated: {exc}"
            _end_record(self.catalog, self.outcome)
        self._status(self.outcome.status if self.outcome else "failed")


    def _run_end(self) -> RunEnd | None:
        """How the run ended, as its files say it (the catalog's figures); None without an
        outcome."""
        from datetime import UTC

        out = self.outcome
        if out is None:
            return None
        trips = out.summary.get("round_trips")
        bench_s = out.summary.get("bench_time_s")
        return RunEnd(status=out.status,
                      bench_time_s=None if bench_s is None else float(bench_s),
                      wall_time_s=self._wall_s, round_trips=None if trips is None else int(trips),
                      ended_at=datetime.now(UTC).isoformat(), message=out.error)


class _Aborted(Exception):
    pass


def _close_results(outcome: RunOutcome | None, end: RunEnd) -> None:
    """The closing block at the end of the results file (:mod:`procedures.framework.run_end`);
    nothing when no file was made. A failure is logged: the rows are on disk already."""
    if outcome is None or not outcome.file.is_file():
        return
    try:
        append_run_end(outcome.file, end)
    except Exception as exc:
        log.error("closing block of %s not written: %s", outcome.file, exc)


def _start_record(catalog: Catalog, run_id: int, path: Path) -> None:
    """The run record beside the results file (:mod:`procedures.framework.run_record`), as the
    catalog
    has it; a failure is logged, never stops the run (the catalog entry exists)."""
    from procedures.framework.run_record import write_record

    try:
        info = catalog.get(run_id).to_json()
        write_record(path, {**info, "run_id": run_id, "host": socket.gethostname(),
                            "pid": os.getpid()})
    except Exception as exc:
        log.error("run record of %s not written: %s", path, exc)


def _end_record(catalog: Catalog, outcome: RunOutcome) -> None:
    """The end of the run into its record: as the catalog has it, else as the run ended."""
    from datetime import UTC

    from procedures.framework.catalog import _jsonable
    from procedures.framework.run_record import update_record

    try:
        try:
            info = catalog.get(outcome.run_id)
            end = {"status": info.status, "message": info.message, "summary": info.summary,
                   "ended_at": info.ended_at}
        except Exception:  # the catalog is unreachable: the file still says how it ended
            end = {"status": outcome.status, "message": outcome.error[:1024],
                   "summary": _jsonable(outcome.summary),
                   "ended_at": datetime.now(UTC).isoformat()}
        update_record(outcome.file, **end)
    except Exception as exc:
        log.error("run record of %s not updated: %s", outcome.file, exc)


WORKER_HOOKS = ("should_stop", "emit", "is_last")
"""What pymeasure's ``Worker.run`` sets on the procedure (bound methods of the worker)."""


def _release_worker_hooks(proc: Procedure) -> None:
    """Forget the worker's bound methods pymeasure left on the procedure (the class's own
    methods apply again). They tie procedure -> worker -> results -> procedure in a reference
    cycle that only a full garbage collection frees: every run's objects (rows, buffers) would
    outlive it until then, and on a large heap that collection runs rarely (a wafer run's
    memory grew ~0.2 MiB a die)."""
    for name in WORKER_HOOKS:
        proc.__dict__.pop(name, None)


def _safe_summary(proc: BenchProcedure) -> dict[str, Any]:
    try:
        return proc.summary()
    except Exception as exc:
        log.warning("summary of %s failed: %s", proc.NAME, exc)
        return {}


def _parameter_values(proc: BenchProcedure) -> dict[str, Any]:
    return {k: v for k, v in proc.parameter_values().items()}


def prepare_run(
    procedure: BenchProcedure,
    bench: BenchInterface,
    data_root: Path,
    catalog: Catalog,
    callbacks: RunCallbacks | None = None,
    move_prober: bool = True,
    safe_end: bool = True,
) -> RunHandle:
    """Validate ``procedure`` against ``bench`` and return a handle for a snapshot of it.

    Args:
        move_prober: step to the procedure's die/subsite and contact first; False when the
            caller has positioned and contacted the prober (the die is read back from it).
        safe_end: call ``bench.safe_state()`` (outputs off and separate) at the end; False when
            the caller runs more steps on the same contact (outputs still go off in shutdown).

    Raises ValueError/LimitError naming the parameter before anything is applied; with
    ``move_prober`` the die and subsite are checked against the prober's map (queries only).
    On a packaged bench (no prober) the target is a chip (``chip``: a socket of the board,
    selected with every output off; the die recorded is the chip's origin die) and
    ``move_prober`` False keeps the chip selected now.
    """
    snapshot = copy.deepcopy(procedure)
    snapshot.data_root = data_root  # validate may resolve catalog references (run ids)
    validate_procedure(snapshot, bench.limits)
    chip = snapshot.target_chip()
    if bench.prober is None or chip is not None:  # a packaged bench, or a chip on a wafer bench
        check_chip_target(bench, snapshot.target_die(), int(snapshot.subsite), chip)
    elif move_prober:
        check_target(bench, snapshot.target_die(), int(snapshot.subsite))
    return RunHandle(snapshot, bench, data_root, catalog, callbacks, move_prober, safe_end)


__all__ = [
    "RunCallbacks", "RunHandle", "RunOutcome", "prepare_run", "results_path", "create_results",
    "position_prober", "die_folder", "device_temperature",
]
