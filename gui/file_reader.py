"""File and catalog reads off the GUI thread, newest request wins.

The results browser's search, the device history (every results file of a die) and the wafer
map's figures read the catalog and results files; on a shared catalog server or a slow disk
that takes long enough to freeze the window. :class:`FileReader` runs such reads in its own
worker thread (a one-thread :class:`~PyQt6.QtCore.QThreadPool`: reading files never waits on the
instruments, nor delays a run) and hands the result to a callback on the GUI thread.

Each request has a *key* ("search", "history", ...). When a newer request with the same key
was made before an older one's result came back, the older result is dropped: what is shown
is always the answer to the last question asked (typing a search word, clicking cell after
cell). Nothing here touches an instrument.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Lives on the GUI thread; the worker's results reach it as queued signals."""

    done = pyqtSignal(int, object, object)  # request id, result, exception (None if it worked)


class _Read(QRunnable):
    def __init__(self, request_id: int, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.request_id, self.fn, self.relay = request_id, fn, relay

    def run(self) -> None:
        result, error = None, None
        try:
            result = self.fn()
        except Exception as exc:  # handed to the request's on_error on the GUI thread
            error = exc
        try:
            self.relay.done.emit(self.request_id, result, error)
        except RuntimeError:  # the reader is gone (window closed): nobody to tell
            pass


class FileReader(QObject):
    """One worker thread for the GUI's reads; ``request`` returns at once.

    Signals (GUI thread): ``idle()`` when no read is left.
    """

    idle = pyqtSignal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # one read at a time, in order
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_done)
        self._latest: dict[str, int] = {}
        self._pending: dict[int, tuple[str, int, Callable, Callable | None]] = {}
        self._ids = 0
        #: results delivered / dropped as superseded (for tests and diagnostics)
        self.delivered = 0
        self.superseded = 0

    @property
    def busy(self) -> bool:
        """A read is queued or running."""
        return bool(self._pending)

    def request(self, key: str, fn: Callable[[], Any], on_done: Callable[[Any], None],
                on_error: Callable[[Exception], None] | None = None) -> int:
        """Run ``fn()`` in the worker; ``on_done(result)`` (or ``on_error(exc)``) on the GUI
        thread, unless a newer request with the same ``key`` (or :meth:`cancel`) came
        meanwhile. Returns the request's number (per key, increasing)."""
        token = self._latest.get(key, 0) + 1
        self._latest[key] = token
        self._ids += 1
        self._pending[self._ids] = (key, token, on_done, on_error)
        self._pool.start(_Read(self._ids, fn, self._relay))
        return token

    def cancel(self, key: str) -> None:
        """Drop the result of any request with ``key`` still on its way."""
        if key in self._latest:
            self._latest[key] += 1

    def wait_drained(self, timeout_s: float = 30.0) -> bool:
        """Block until the worker ran every queued read (callbacks come through the loop)."""
        return self._pool.waitForDone(int(timeout_s * 1000))

    def close(self) -> None:
        """Drop the queued reads, let the running one end; later results are dropped."""
        self._latest.clear()
        self._pool.clear()
        self._pool.waitForDone()
        self._pending.clear()

    def _on_done(self, request_id: int, result: Any, error: Any) -> None:
        entry = self._pending.pop(request_id, None)
        if entry is not None:
            key, token, on_done, on_error = entry
            if self._latest.get(key) != token:
                self.superseded += 1
            else:
                self.delivered += 1
                try:
                    if error is None:
                        on_done(result)
                    elif on_error is not None:
                        on_error(error)
                    else:
                        log.warning("reading %s failed: %s", key, error)
                except Exception:  # a display problem must not stop the next reads
                    log.exception("showing the result of %s failed", key)
        if not self._pending:
            self.idle.emit()
