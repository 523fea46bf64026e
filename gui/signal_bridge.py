"""Stop signals while Qt's event loop runs.

Python runs a signal's handler in the main thread the next time the interpreter executes
bytecode; while ``QApplication.exec()`` waits in C++ for events, that can be never (SIGTERM and
SIGHUP would wait for the next mouse move). :class:`SignalBridge` makes one end of a socket pair
Python's wakeup descriptor (``signal.set_wakeup_fd``): the C-level handler writes the signal's
number to it, a :class:`QSocketNotifier` on the other end wakes the event loop, and its slot,
being Python code, lets the pending handler (``procedures.framework.shutdown.ShutdownSignals``) run
at
once. A socket pair works on Windows too (a wakeup descriptor there must be a socket).
"""

from __future__ import annotations

import logging
import signal
import socket
from typing import Any

from PyQt6.QtCore import QObject, QSocketNotifier

log = logging.getLogger(__name__)


class SignalBridge(QObject):
    """Wake the Qt event loop for every signal Python handles; :meth:`close` to undo.

    ``wakeups`` counts the wakeups drained (for tests and diagnostics).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.wakeups = 0
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._previous = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)

    def _drain(self, *_: Any) -> None:
        # Python code runs here: the interpreter calls the pending Python-level handlers
        try:
            while data := self._read.recv(512):
                self.wakeups += len(data)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            log.debug("signal wakeup socket: %s", exc)

    def close(self) -> None:
        """Restore the previous wakeup descriptor and close the sockets."""
        self._notifier.setEnabled(False)
        try:
            signal.set_wakeup_fd(self._previous)
        except (ValueError, OSError):
            signal.set_wakeup_fd(-1)
        self._read.close()
        self._write.close()


__all__ = ["SignalBridge"]
