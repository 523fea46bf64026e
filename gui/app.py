"""Start the Qt application: open the bench, show the main window.

With ``screenshot``, the app runs a short scripted session instead of waiting for the operator:
step the prober to a die, map the 1T1R array's conductance, form one cell and I-V cycle it,
then save a PNG of the whole main window and exit (0 if every run finished).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QMessageBox

from gui.main_window import MainWindow
from gui.signal_bridge import SignalBridge
from instruments.bench import Bench, BenchConfigError
from instruments.datadir import resolve_data_root
from instruments.ownership import BusyError
from procedures.framework.catalog import Catalog, CatalogError
from procedures.framework.registry import PROCEDURES
from procedures.framework.shutdown import ShutdownSignals

log = logging.getLogger(__name__)

DEMO_DIE = (8, 9)
DEMO_CHIP = 2
"""Packaged bench: the socket of the screenshot session's chip."""
DEMO_CELL = "5,5"


def demo_runs() -> list:
    """The screenshot session's procedures: map, forming, I-V cycling on one cell of
    :data:`DEMO_DIE` (the session retargets them to chip :data:`DEMO_CHIP` on a packaged
    bench)."""
    cmap = PROCEDURES["conductance-map"]()
    cmap.cells = "all"
    form = PROCEDURES["forming"]()
    form.cells = DEMO_CELL
    form.force = True
    iv = PROCEDURES["iv-cycling"]()
    iv.cells = DEMO_CELL
    iv.cycles = 5
    runs = [cmap, form, iv]
    for p in runs:
        p.die = f"{DEMO_DIE[0]},{DEMO_DIE[1]}"
    return runs


class ScreenshotSession:
    """Drives the scripted session of ``memprobe gui --screenshot``."""

    def __init__(self, window: MainWindow, path: Path) -> None:
        self.window = window
        self.path = path
        self.exit_code = 0
        self.pending = demo_runs()
        if window.board is not None:  # packaged chips: a chip of the board, not a die
            for proc in self.pending:
                proc.die, proc.chip = "", DEMO_CHIP
        window.controller.runFinished.connect(self._on_finished)

    def start(self) -> None:
        """Step to the demo die (select the demo chip on a packaged bench), queue the runs."""
        w = self.window
        moved = (w.board.select_chip(DEMO_CHIP) if w.board is not None
                 else w.step_to_die(*DEMO_DIE))
        if not moved:
            self.exit_code = 1
        for proc in self.pending:
            self.window.controller.enqueue(proc)

    def _on_finished(self, outcome: object) -> None:
        if getattr(outcome, "status", "") != "finished":
            log.error("screenshot session: run ended %s: %s", getattr(outcome, "status", "?"),
                      getattr(outcome, "error", ""))
            self.exit_code = 1
        if not self.window.controller.busy and not self.window.controller.queue:
            QTimer.singleShot(200, self._grab)

    def _grab(self) -> None:
        w = self.window
        w.plot_tabs.setCurrentWidget(w.iv_plot)
        w.router.flush()
        w.refresh_status()
        if not w.grab().save(str(self.path)):
            log.error("could not write %s", self.path)
            self.exit_code = 1
        else:
            print(self.path)
        w.close()


def _refuse(message: str, interactive: bool) -> int:
    """Report why the application cannot start (stderr, log, and a dialog for an operator)."""
    print(f"memprobe: {message}", file=sys.stderr)
    log.error("%s", message)
    if interactive:
        QMessageBox.critical(None, "MemProbe cannot start", message)
    return 2


def _bench_catalog(bench: str) -> str:
    """The ``catalog`` URL of a bench file ("" if none, or if the file is bad: Bench.open
    reports that)."""
    from instruments.bench import load_bench_config

    try:
        return load_bench_config(bench).catalog
    except (BenchConfigError, OSError, ValueError):
        return ""


def run_app(
    bench: str = "simulated",
    data_dir: Path | None = None,
    fresh: bool = False,
    screenshot: Path | None = None,
    shutdown: ShutdownSignals | None = None,
) -> int:
    """Run the GUI until the window closes; with ``screenshot``, the scripted session.

    ``shutdown``: the stop-signal handling of the process (``gui.cli.main`` installs one); a
    SIGINT/SIGTERM/SIGHUP then closes the window, which aborts the runs and makes the bench safe
    before the application quits. Returns the process exit code.
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("MemProbe")
    app.setOrganizationName("MemProbe")
    try:
        root = resolve_data_root(data_dir)
    except ValueError as exc:  # a file, not writable: one line, nothing opened
        print(f"memprobe: {exc}", file=sys.stderr)
        return 2
    interactive = screenshot is None and app.platformName() != "offscreen"
    try:
        # the bench file's shared catalog (several stations), else <root>/catalog.sqlite;
        # a damaged catalog stops here, before the bench is opened
        catalog = Catalog(_bench_catalog(bench) or root)
    except CatalogError as exc:
        return _refuse(str(exc), interactive)
    try:
        the_bench = Bench.open(bench, data_dir=root, fresh=fresh)
    except BusyError as exc:  # another process (GUI or CLI) owns the bench: nothing touched
        catalog.close()
        return _refuse(str(exc), interactive)
    except (BenchConfigError, OSError, ValueError) as exc:  # e.g. no GPIB driver
        catalog.close()
        text = " ".join(str(exc).split())  # one line
        print(f"memprobe: cannot open bench {bench!r}: {text}", file=sys.stderr)
        return 2
    stopper = shutdown or ShutdownSignals()
    shown: list[MainWindow] = []

    def on_stop() -> None:  # a signal before the window is shown is acted on once it is
        if shown:
            _close_on_signal(app, shown[0], stopper.reason)

    # from here on a stop signal closes the window (which makes the bench safe) instead of
    # raising KeyboardInterrupt somewhere between the window's show() and the event loop
    with stopper.on_stop(on_stop):
        try:
            # a scripted screenshot uses the default layout, not the operator's saved one
            window = MainWindow(the_bench, data_root=root, catalog=catalog,
                                restore_layout=screenshot is None)
            window.show()
        except BaseException:  # e.g. KeyboardInterrupt from a signal handled as one
            the_bench.close()  # outputs off, chuck separated, lab saved, bench locks released
            catalog.close()
            raise
        shown.append(window)
        if stopper.requested.is_set():  # the signal came while the window was being made
            _close_on_signal(app, window, stopper.reason)
        session = None
        if screenshot is not None:
            session = ScreenshotSession(window, Path(screenshot))
            QTimer.singleShot(100, session.start)
        bridge = SignalBridge(app)  # the Qt loop would otherwise hold Python's signal handlers
        # an error escaping a slot is logged (log pane) and the application goes on: PyQt6's
        # default is qFatal, an abort with no safe end (outputs on, chuck in contact)
        previous_hook, sys.excepthook = sys.excepthook, _log_unhandled
        try:
            app.exec()
        finally:
            sys.excepthook = previous_hook
            bridge.close()
    return session.exit_code if session is not None else 0


def _log_unhandled(exc_type: type[BaseException], exc: BaseException, tb: object) -> None:
    """``sys.excepthook`` while the GUI runs: log the error with its traceback, go on."""
    log.error("unhandled error in the GUI (the application goes on): %s: %s",
              exc_type.__name__, exc, exc_info=(exc_type, exc, tb))  # type: ignore[arg-type]


def _close_on_signal(app: QApplication, window: MainWindow, reason: str) -> None:
    """From a signal handler: stop the current run (``reason`` becomes its message), close the
    window soon (its closeEvent aborts the rest, waits for the safe end, closes the bench), quit.
    """
    handle = window.controller.handle
    if handle is not None:
        handle.stop(reason)

    def close() -> None:
        window.close()
        app.quit()

    QTimer.singleShot(0, close)
