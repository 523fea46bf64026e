"""Stop requests from the operating system: SIGINT, SIGTERM, SIGHUP, Ctrl+Break, console close.

Every ``memprobe`` command runs inside one :class:`ShutdownSignals` (installed by
``gui.cli.main``), so any command, including one added later, is stopped in order:

* The first signal asks for a stop. A command that registered stop actions
  (:meth:`ShutdownSignals.on_stop`, e.g. ``RunHandle.stop`` or ``WaferRun.abort``) has them
  called: the run aborts at its next check, its procedure turns the outputs off, the runner
  separates the chuck and marks the catalog entry aborted, then the command returns. A command
  that registered nothing gets a :class:`KeyboardInterrupt` in the main thread, so its
  ``finally`` blocks and context managers (``Bench.close``: outputs off, chuck separated) run.
* Every later signal is only reported: it can never interrupt the safe end half-way.
* The process exits with ``128 + signal number`` (:meth:`ShutdownSignals.exit_code`), as a
  shell reports a command stopped by a signal (130 SIGINT, 143 SIGTERM, 129 SIGHUP, 149 SIGBREAK).

Signals handled: SIGINT, SIGTERM and, where the platform has them, SIGHUP (terminal closed,
logout) and SIGBREAK (Windows Ctrl+Break). On Windows, closing the console window, logging off
and shutting down are console control events, not signals: a handler registered with
``SetConsoleCtrlHandler`` (through ctypes, imported only on Windows) turns them into a SIGTERM
for the main thread and holds the process (Windows ends it when the handler returns, at the
latest after about 5 s) until the safe end is done.

After SIGHUP the terminal is gone and writing to it fails; standard output and error that were a
terminal are pointed at the null device so that the safe end never fails on a progress bar.

Python runs signal handlers in the main thread between bytecodes; a Qt event loop blocks that.
The GUI adds a wakeup descriptor (``gui/signal_bridge.py``); nothing here imports Qt.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

#: signal names handled where the platform defines them
SIGNAL_NAMES = ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
#: Windows console control events turned into a stop (close, logoff, shutdown);
#: CTRL_C_EVENT (0) and CTRL_BREAK_EVENT (1) arrive as SIGINT and SIGBREAK through Python
CONSOLE_STOP_EVENTS = {2: "console closed", 5: "user logged off", 6: "system shutting down"}
#: how long a console control handler holds the process for the safe end, in s (Windows gives
#: about 5 s for CTRL_CLOSE_EVENT before it ends the process)
CONSOLE_HOLD_S = 4.5


def handled_signals() -> list[int]:
    """The signal numbers this platform has among :data:`SIGNAL_NAMES`."""
    return [int(getattr(signal, n)) for n in SIGNAL_NAMES if hasattr(signal, n)]


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15 (the number as text if unknown)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


class ShutdownSignals:
    """Turn stop signals into one orderly stop (see the module text). A context manager.

    Attributes:
        signum: the first signal received (None if none).
        requested: set when the first signal arrived (for waiting loops in any thread).
    """

    def __init__(self, stream: Any = None) -> None:
        self.signum: int | None = None
        self.requested = threading.Event()
        self._stream = stream
        self._actions: list[Callable[[], None]] = []
        self._previous: dict[int, Any] = {}
        self._done = threading.Event()
        self._console_handler: Any = None
        self._installed = False

    @classmethod
    def of(cls, args: Any) -> ShutdownSignals:
        """The instance a command's ``args.shutdown`` carries (``gui.cli.main`` installs one);
        a new, not installed one if there is none (a command called directly)."""
        found = getattr(args, "shutdown", None)
        return found if isinstance(found, cls) else cls()

    # -- life cycle -----------------------------------------------------------------------------
    def install(self) -> ShutdownSignals:
        """Install the handlers (main thread only; elsewhere nothing is installed)."""
        if threading.current_thread() is not threading.main_thread():
            log.debug("not in the main thread: stop signals are not handled here")
            return self
        for signum in handled_signals():
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except (OSError, ValueError) as exc:  # e.g. a signal the platform refuses
                log.debug("cannot handle %s: %s", signal_name(signum), exc)
        if sys.platform == "win32":
            self._install_console_handler()
        self._installed = True
        return self

    def uninstall(self) -> None:
        """Tell a waiting console handler the safe end is done; restore the handlers.

        After a stop was requested, a default disposition (terminate, or KeyboardInterrupt for
        SIGINT) is not restored but replaced by "ignore": the process is on its way out, and
        a late second signal must not turn its exit status into a kill or a traceback.
        """
        self._done.set()
        if not self._installed:
            return
        self._installed = False
        defaults = (None, signal.SIG_DFL, signal.default_int_handler)
        for signum, previous in self._previous.items():
            if previous in defaults:
                previous = signal.SIG_IGN if self.requested.is_set() else signal.SIG_DFL
                if signum == signal.SIGINT and not self.requested.is_set():
                    previous = signal.default_int_handler
            try:
                signal.signal(signum, previous)
            except (OSError, ValueError, TypeError):
                pass
        self._previous.clear()
        if self._console_handler is not None:
            self._remove_console_handler()

    def __enter__(self) -> ShutdownSignals:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    # -- what a stop does -----------------------------------------------------------------------
    @contextmanager
    def on_stop(self, action: Callable[[], None]) -> Iterator[None]:
        """Within the block, a stop signal calls ``action`` (instead of a KeyboardInterrupt).

        ``action`` runs in the main thread inside the signal handler: it must only ask for a
        stop (set a flag, call ``stop()``/``abort()``), never block. If a stop was already
        requested, ``action`` is called at once.
        """
        self._actions.append(action)
        try:
            if self.requested.is_set():
                self._call(action)
            yield
        finally:
            self._actions.remove(action)

    @property
    def reason(self) -> str:
        """``stopped by SIGTERM`` (for run messages); empty before any signal."""
        return "" if self.signum is None else f"stopped by {signal_name(self.signum)}"

    def exit_code(self, code: int) -> int:
        """``128 + signal`` if a stop signal arrived, else ``code``."""
        return code if self.signum is None else 128 + self.signum

    def request(self, signum: int) -> None:
        """Act as if ``signum`` arrived (also what the handlers call)."""
        if self.requested.is_set():
            self._say(f"{signal_name(signum)} received while stopping: the bench is still "
                      "being made safe (outputs off, chuck separated); please wait")
            return
        self.signum = signum
        self.requested.set()
        if signum == getattr(signal, "SIGHUP", None):
            _detach_from_terminal()
        self._say(f"{signal_name(signum)} received: stopping (a run in progress is aborted, "
                  "outputs off, chuck separated)")
        if not self._actions:
            raise KeyboardInterrupt(signal_name(signum))
        for action in list(self._actions):
            self._call(action)

    # -- internals ------------------------------------------------------------------------------
    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.request(signum)

    @staticmethod
    def _call(action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:  # a failing action must not stop the others
            log.exception("stop action failed")

    def _say(self, text: str) -> None:
        line = f"\nmemprobe: {text}\n"
        try:
            if self._stream is not None:
                self._stream.write(line)
                self._stream.flush()
            else:  # not sys.stderr: the handler may interrupt a write to it (not reentrant)
                os.write(2, line.encode(errors="replace"))
        except (OSError, ValueError, AttributeError, RuntimeError):
            pass  # no terminal any more: the stop goes on regardless

    def _install_console_handler(self) -> None:  # pragma: no cover - Windows only
        import _thread
        import ctypes
        from ctypes import wintypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        prototype = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.DWORD)

        def on_event(event: int) -> bool:
            if event not in CONSOLE_STOP_EVENTS:
                return False  # Ctrl+C / Ctrl+Break: Python's own handler raises the signal
            log.warning("%s: stopping", CONSOLE_STOP_EVENTS[event])
            # runs our SIGTERM handler in the main thread (and trips a Qt wakeup descriptor)
            _thread.interrupt_main(signal.SIGTERM)
            self._done.wait(CONSOLE_HOLD_S)
            return True

        self._console_handler = prototype(on_event)  # keep a reference: ctypes callbacks die
        if not kernel32.SetConsoleCtrlHandler(self._console_handler, True):
            log.warning("SetConsoleCtrlHandler failed (error %d): closing the console will "
                        "not make the bench safe", ctypes.get_last_error())
            self._console_handler = None
        self._kernel32 = kernel32

    def _remove_console_handler(self) -> None:  # pragma: no cover - Windows only
        try:
            self._kernel32.SetConsoleCtrlHandler(self._console_handler, False)
        except Exception:
            pass
        self._console_handler = None


def _detach_from_terminal() -> None:
    """Point standard output/error at the null device if they were a terminal (hung up)."""
    for fd in (1, 2):
        try:
            is_tty = os.isatty(fd)
        except OSError:
            is_tty = True
        if not is_tty:
            continue
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
        except OSError:
            pass


__all__ = ["ShutdownSignals", "handled_signals", "signal_name", "CONSOLE_STOP_EVENTS"]
