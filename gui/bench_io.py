"""Instrument I/O off the GUI thread: one worker thread runs the GUI's bench jobs in order.

Every instrument query or command the GUI makes by itself (status polling, stepping the
prober, reading the wafer-map set-up, the instruments' identities, manual actions) is a *job*:
a plain callable run by :class:`BenchIO`'s worker (a ``QObject`` moved to a ``QThread``). The
result (or the exception) comes back to the GUI thread as a queued signal and is handed to the
job's callbacks there, so a bench whose every query takes tens of milliseconds never freezes the
window.

One owner of the bench at a time: jobs run one after the other (FIFO) in the one worker;
``submit`` refuses a job while ``blocked_by()`` names an owner (a procedure run, a wafer run), and
the run controller and the wafer panel start a run only when :attr:`BenchIO.busy` is False
(they wait for :attr:`idle`). Both decisions are taken on the GUI thread, so a job and a run
never overlap.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

log = logging.getLogger(__name__)

Callback = Callable[[Any], None]


@dataclass
class _Job:
    name: str
    fn: Callable[[], Any]
    on_done: Callback | None
    on_error: Callback | None


class _Worker(QObject):
    """Lives in the I/O thread; runs each job it is sent and reports back."""

    done = pyqtSignal(int, object, object)  # job id, result, exception (None when it worked)

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.outstanding = 0
        self.drained = threading.Event()
        self.drained.set()

    @pyqtSlot(int, object)
    def run(self, job_id: int, fn: Callable[[], Any]) -> None:
        result, error = None, None
        try:
            result = fn()
        except Exception as exc:  # reported to the job's on_error on the GUI thread
            log.debug("bench job %d failed: %s", job_id, exc)
            error = exc
        with self.lock:
            self.outstanding -= 1
            if self.outstanding <= 0:
                self.drained.set()
        self.done.emit(job_id, result, error)


class BenchIO(QObject):
    """The GUI's one line to the instruments, served by a worker thread.

    Signals (GUI thread):
        busyChanged(bool): a job is queued or running / none left.
        idle(): the last queued job has ended (its callbacks have run).
    """

    busyChanged = pyqtSignal(bool)
    idle = pyqtSignal()
    _send = pyqtSignal(int, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("bench-io")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._send.connect(self._worker.run)
        self._worker.done.connect(self._on_done)
        self._jobs: dict[int, _Job] = {}
        self._ids = itertools.count(1)
        self._closed = False
        #: returns why the GUI must not talk to the instruments now ("" when it may)
        self.blocked_by: Callable[[], str] = lambda: ""
        #: number of jobs completed (for tests and the about box)
        self.completed = 0
        self._thread.start()

    @property
    def busy(self) -> bool:
        """A job is queued or running in the worker."""
        return bool(self._jobs)

    def submit(self, fn: Callable[[], Any], on_done: Callback | None = None,
               on_error: Callback | None = None, name: str = "job",
               owner: bool = False) -> bool:
        """Queue ``fn`` (no arguments) for the worker; False (nothing queued) if refused.

        ``on_done(result)`` or ``on_error(exception)`` is called on the GUI thread afterwards.
        ``owner``: the job belongs to the run that owns the bench (not refused by
        ``blocked_by``), e.g. the preparation of a queued run.
        """
        if self._closed:
            return False
        reason = "" if owner else self.blocked_by()
        if reason:
            log.info("bench job %s refused: %s", name, reason)
            if on_error is not None:
                on_error(RuntimeError(reason))
            return False
        job_id = next(self._ids)
        was_busy = self.busy
        self._jobs[job_id] = _Job(name, fn, on_done, on_error)
        with self._worker.lock:
            self._worker.outstanding += 1
            self._worker.drained.clear()
        if not was_busy:
            self.busyChanged.emit(True)
        self._send.emit(job_id, fn)
        return True

    def when_idle(self, slot: Callable[[], None]) -> None:
        """Call ``slot`` once on the GUI thread when no job is left (at once if none is)."""
        if not self.busy:
            slot()
            return

        def once() -> None:
            self.idle.disconnect(once)
            slot()

        self.idle.connect(once)

    def wait_drained(self, timeout_s: float = 30.0) -> bool:
        """Block (processing no events) until the worker has run every queued job (their
        callbacks come later, through the event loop); for closing and tests."""
        return self._worker.drained.wait(timeout_s)

    def _on_done(self, job_id: int, result: Any, error: Any) -> None:
        job = self._jobs.pop(job_id, None)
        self.completed += 1
        if job is not None:
            try:
                if error is None and job.on_done is not None:
                    job.on_done(result)
                elif error is not None:
                    if job.on_error is not None:
                        job.on_error(error)
                    else:
                        log.warning("bench job %s failed: %s", job.name, error)
            except Exception:  # a display problem must not break the queue
                log.exception("callback of bench job %s failed", job.name)
        if not self._jobs:
            self.busyChanged.emit(False)
            self.idle.emit()

    def close(self, timeout_s: float = 30.0) -> None:
        """Refuse new jobs, let the running one end, stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._thread.quit()  # queued jobs not yet started still run before the loop ends
        if not self._thread.wait(int(timeout_s * 1000)):
            log.error("bench I/O thread did not end within %.0f s", timeout_s)
        self._jobs.clear()
        self._worker.drained.set()
