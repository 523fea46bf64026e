"""procedures.framework.shutdown (stop signals -> one orderly stop) and the GUI's wakeup bridge,
in-process.

The commands' behaviour under real signals, against a separately started simulated lab, is in
tests/framework/test_signals.py; this module pins the mechanism itself.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import threading

import pytest

from procedures.framework.shutdown import ShutdownSignals, handled_signals

POSIX = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")


@pytest.fixture(autouse=True)
def _restore_handlers():
    saved = {s: signal.getsignal(s) for s in handled_signals()}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


@POSIX
def test_first_signal_runs_the_stop_actions_a_second_is_only_reported():
    out = io.StringIO()
    calls: list[str] = []
    with ShutdownSignals(stream=out) as sh, sh.on_stop(lambda: calls.append("abort")):
        signal.raise_signal(signal.SIGTERM)  # the handler runs before raise_signal returns
        assert calls == ["abort"] and sh.requested.is_set()
        signal.raise_signal(signal.SIGINT)  # while stopping: reported, nothing else
        signal.raise_signal(signal.SIGTERM)
    assert calls == ["abort"]
    assert sh.signum == signal.SIGTERM and sh.reason == "stopped by SIGTERM"
    assert sh.exit_code(0) == 128 + signal.SIGTERM
    text = out.getvalue()
    assert "SIGTERM received: stopping" in text
    assert text.count("received while stopping") == 2
    # on the way out a late signal is ignored rather than killing the process
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


@POSIX
def test_without_a_stop_action_the_first_signal_is_a_keyboard_interrupt_once():
    cleaned = []
    with ShutdownSignals(stream=io.StringIO()) as sh:
        with pytest.raises(KeyboardInterrupt):
            try:
                signal.raise_signal(signal.SIGTERM)
            finally:
                signal.raise_signal(signal.SIGTERM)  # must not interrupt this clean-up
                cleaned.append(True)
    assert cleaned == [True] and sh.exit_code(1) == 143


@POSIX
def test_an_action_registered_after_the_request_runs_at_once():
    sh = ShutdownSignals(stream=io.StringIO())
    with sh, pytest.raises(KeyboardInterrupt):
        sh.request(signal.SIGHUP)  # no action yet: the default stop
    calls = []
    with sh.on_stop(lambda: calls.append(1)):
        pass
    assert calls == [1] and sh.exit_code(0) == 129


@POSIX
def test_handlers_are_restored_when_no_signal_came():
    def mine(*_):
        pass

    signal.signal(signal.SIGHUP, mine)
    # SIGINT's handler before: Python's default, or SIG_IGN where the suite itself was started in
    # the background by a non-interactive shell (as a CI runner may do)
    sigint_before = signal.getsignal(signal.SIGINT)
    with ShutdownSignals() as sh:
        assert signal.getsignal(signal.SIGHUP) == sh._handle
        assert signal.getsignal(signal.SIGINT) == sh._handle
    assert signal.getsignal(signal.SIGHUP) is mine
    assert signal.getsignal(signal.SIGINT) == sigint_before
    assert sh.exit_code(3) == 3


@POSIX
def test_a_failing_action_does_not_stop_the_others():
    calls = []

    def broken():
        raise RuntimeError("display gone")

    with ShutdownSignals(stream=io.StringIO()) as sh, sh.on_stop(broken), \
            sh.on_stop(lambda: calls.append("abort")):
        signal.raise_signal(signal.SIGINT)
    assert calls == ["abort"]


@POSIX
def test_signal_bridge_wakes_a_blocked_qt_event_loop(qapp):
    """A signal sent while the main thread sits in Qt's C++ event loop is handled at once:
    without the wakeup descriptor the loop would sleep on until the hang guard ends it."""
    from PyQt6.QtCore import QEventLoop, QTimer

    from gui.signal_bridge import SignalBridge

    loop = QEventLoop()
    in_loop = threading.Event()
    guard_fired = []

    def guard():
        guard_fired.append(True)
        loop.quit()

    def send():
        in_loop.wait(60)
        os.kill(os.getpid(), signal.SIGTERM)

    bridge = SignalBridge()
    sender = threading.Thread(target=send, daemon=True)
    try:
        with ShutdownSignals(stream=io.StringIO()) as sh, sh.on_stop(loop.quit):
            QTimer.singleShot(0, in_loop.set)  # the event: the loop is running
            QTimer.singleShot(60_000, guard)  # hang guard only
            sender.start()
            loop.exec()
    finally:
        bridge.close()
        sender.join(10)
    assert not guard_fired, "the signal was not handled while the event loop ran"
    assert sh.signum == signal.SIGTERM and bridge.wakeups >= 1


@pytest.mark.skipif(sys.platform != "win32", reason="Windows console control events")
def test_windows_handles_ctrl_break_and_console_close():  # pragma: no cover - Windows CI only
    assert signal.SIGBREAK in handled_signals()
    with ShutdownSignals(stream=io.StringIO()) as sh:
        assert sh._console_handler is not None  # SetConsoleCtrlHandler accepted it
    assert sh._console_handler is None
