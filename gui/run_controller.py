"""The Qt side of running procedures: a queue, one run at a time, signals for the plots.

Runs execute in pymeasure's worker thread (through :mod:`procedures.framework.runner`); their
callbacks
are re-emitted here as Qt signals, which Qt queues onto the GUI thread. Widgets never touch the
instruments while a run is active (``busy``): the instruments are the run's alone.

With a bench I/O worker (``io``, :class:`gui.bench_io.BenchIO`), a run starts only when the
worker has no job left, and its preparation (the die checked against the prober's map, queries
only) runs in the worker: the GUI thread never waits on an instrument.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QCoreApplication, QObject, QTimer, pyqtSignal

from instruments.bench_types import BenchInterface
from procedures.framework.base import BenchProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.eta import BenchEta
from procedures.framework.runner import RunCallbacks, RunHandle, RunOutcome, prepare_run

log = logging.getLogger(__name__)


@dataclass
class QueuedRun:
    """A procedure snapshot waiting in the queue (parameters frozen when queued)."""

    procedure: BenchProcedure
    label: str
    queued_at: float = field(default_factory=time.time)


class RunController(QObject):
    """Queue of runs on one bench; emits progress, rows and outcomes as Qt signals."""

    queueChanged = pyqtSignal()
    runStarted = pyqtSignal(object)  # QueuedRun
    rowReceived = pyqtSignal(dict)
    batchReceived = pyqtSignal(dict)
    progressChanged = pyqtSignal(float, float)  # percent, seconds remaining (NaN unknown)
    statusChanged = pyqtSignal(str)
    runFinished = pyqtSignal(object)  # RunOutcome
    runRefused = pyqtSignal(object, str)  # QueuedRun, why (nothing was applied; no run file)
    busyChanged = pyqtSignal(bool)

    def __init__(self, bench: BenchInterface, data_root: Path, catalog: Catalog,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bench = bench
        self.data_root = Path(data_root)
        self.catalog = catalog
        self.queue: list[QueuedRun] = []
        self.current: QueuedRun | None = None
        self.handle: RunHandle | None = None
        self.last_outcome: RunOutcome | None = None
        self.last_item: QueuedRun | None = None
        self._eta: BenchEta | None = None
        self._poll = QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self._check_done)
        #: returns why the bench is not free for a run ("" when free); set by the main window
        self.blocked_by: Callable[[], str] = lambda: ""
        #: the GUI's bench I/O worker (None: prepare on the calling thread)
        self.io: Any = None
        self._preparing: QueuedRun | None = None
        self._cancel = False
        self._waiting_io = False

    @property
    def busy(self) -> bool:
        """A run is being prepared or in progress (the instruments belong to it)."""
        return self.handle is not None or self._preparing is not None

    def enqueue(self, procedure: BenchProcedure, label: str = "") -> QueuedRun:
        """Validate against the bench limits and queue a snapshot; starts it if idle.

        Raises ValueError/LimitError (nothing queued) for a bad parameter.
        """
        import copy

        reason = self.blocked_by()
        if reason:
            raise ValueError(f"not queued: {reason}")
        from procedures.framework.validation import validate_procedure

        snapshot = copy.deepcopy(procedure)
        validate_procedure(snapshot, self.bench.limits)  # messages name the parameter
        item = QueuedRun(snapshot, label or f"{snapshot.NAME} {snapshot.cells}")
        self.queue.append(item)
        self.queueChanged.emit()
        if not self.busy:
            self._start_next()
        return item

    def remove(self, index: int) -> None:
        """Drop a waiting run from the queue."""
        if 0 <= index < len(self.queue):
            del self.queue[index]
            self.queueChanged.emit()

    def abort(self) -> None:
        """Stop the current run (outputs go off, chuck separates) and clear nothing else.

        The current run is the one in progress, being prepared, or next in the queue waiting
        for the bench I/O worker to finish a job; one that has not started is dropped
        (``runRefused(item, "aborted before start")``), nothing having been applied.
        """
        if self._preparing is not None:
            self._cancel = True  # nothing applied yet: it will not start
        elif self.handle is None and self._waiting_io and self.queue:
            item = self.queue.pop(0)  # the run about to start once the worker is free
            log.info("run %s aborted before start", item.label)
            self.statusChanged.emit("aborted before start")
            self.runRefused.emit(item, "aborted before start")
            self.queueChanged.emit()
        if self.handle is not None:
            self.statusChanged.emit("stopping")
            self.handle.stop()

    def abort_all(self) -> None:
        """Empty the queue and stop the current run."""
        self.queue.clear()
        self.queueChanged.emit()
        self.abort()

    def wait_idle(self, timeout_s: float | None = 60.0) -> bool:
        """Block (processing no events) until the current run ends (None: however long);
        for scripts, tests and closing."""
        if self.handle is None:
            return True
        return self.handle.done.wait(timeout_s)

    # -- internals ----------------------------------------------------------------------------
    def _start_next(self) -> None:
        if not self.queue or self.busy:
            return
        if self.io is not None and self.io.busy:  # a GUI job talks to the bench: after it
            if not self._waiting_io:
                self._waiting_io = True
                self.io.when_idle(self._io_idle)
            return
        item = self.queue.pop(0)
        callbacks = RunCallbacks(
            on_row=self.rowReceived.emit,
            on_batch=self.batchReceived.emit,
            on_progress=self._on_progress,
            on_status=self.statusChanged.emit,
        )
        self.current = item
        self.queueChanged.emit()
        self._eta = BenchEta(self.bench)

        def prepare() -> Any:  # checks the die/subsite against the prober's map (queries only)
            return prepare_run(item.procedure, self.bench, self.data_root, self.catalog,
                               callbacks)

        if self.io is None:
            try:
                handle = prepare()
            except ValueError as exc:
                self._refused(item, exc)
                return
            self._launch(item, handle)
            return
        self._preparing = item
        self._cancel = False
        self.busyChanged.emit(True)
        self.io.submit(prepare, on_done=lambda h: self._prepared(item, h),
                       on_error=lambda exc: self._prepared(item, exc), name="prepare run",
                       owner=True)

    def _io_idle(self) -> None:
        self._waiting_io = False
        self._start_next()

    def _prepared(self, item: QueuedRun, result: Any) -> None:
        self._preparing = None
        if isinstance(result, Exception) or self._cancel:
            self.busyChanged.emit(False)
            if self._cancel:
                self.current = None
                self.statusChanged.emit("aborted before start")
                self.runRefused.emit(item, "aborted before start")
                self.queueChanged.emit()
                self._start_next()
            else:
                self._refused(item, result)
            return
        self._launch(item, result, emit_busy=False)

    def _refused(self, item: QueuedRun, exc: Exception) -> None:
        """Nothing was applied: report, then the next queued run."""
        log.error("run %s refused: %s", item.label, exc)
        self.current = None
        self.statusChanged.emit(f"refused: {exc}")
        self.runRefused.emit(item, str(exc))
        self.queueChanged.emit()
        self._start_next()

    def _launch(self, item: QueuedRun, handle: RunHandle, emit_busy: bool = True) -> None:
        self.handle = handle
        if emit_busy:
            self.busyChanged.emit(True)
        self.runStarted.emit(item)
        self.handle.start()
        self._poll.start()

    def _on_progress(self, percent: float) -> None:
        # bench time left (modeled on the twin): what the run would take on the bench
        eta = self._eta
        remaining = eta.remaining_s(percent) if eta is not None else float("nan")
        self.progressChanged.emit(percent, remaining)

    def _check_done(self) -> None:
        if self.handle is None or not self.handle.done.is_set():
            return
        self._poll.stop()
        # deliver the rows the worker queued before it ended, so that listeners of
        # runFinished see the complete data
        QCoreApplication.sendPostedEvents()
        outcome = self.handle.outcome
        self.last_item = self.current  # the run runFinished reports
        self.handle = None
        self.current = None
        self.queueChanged.emit()
        self.last_outcome = outcome
        self.busyChanged.emit(False)
        self.runFinished.emit(outcome)
        self._start_next()
