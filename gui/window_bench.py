"""The main window's own use of the bench: the status tick, Stop, and stepping the prober.

Whatever the window asks of the instruments itself runs in the bench I/O worker
(:mod:`gui.bench_io`), never while a run owns the bench; results come back as signals, so the
window never waits on a query. The prober is only stepped when idle, separated before the move.
"""

from __future__ import annotations

import logging
from typing import Any

from PyQt6.QtCore import QTimer

from procedures.framework.runner import position_prober

log = logging.getLogger(__name__)


class WindowBench:
    """Mixin of :class:`gui.main_window.MainWindow`: bench status, Stop and die stepping."""

    @property
    def busy(self) -> bool:
        """A procedure run or a wafer run owns the instruments."""
        return self.controller.busy or self.wafer_panel.busy or self.campaign_panel.busy

    def refresh_status(self) -> None:
        """Ask the worker for the bench state (not while a run owns the instruments, nor while
        an earlier request is still on its way)."""
        if self.busy or self.io.busy:
            return
        self.io.submit(self.bench.status, self._show_status, name="status")

    def _show_status(self, status: Any) -> None:
        if self.busy:
            return
        shown = self.bench_panel.show_status(status)
        if shown is not None and shown.chuck is not None and shown.chuck.die is not None:
            self.wafer_map.set_current_die(*shown.chuck.die)
        if shown is not None and self.board is not None:
            self.board.show_status(shown)
        self.statusShown.emit(status)

    def stop_all(self) -> None:
        """Abort the current run and empty the queue; outputs off and chuck separated.

        Each run makes the bench safe as it ends; once none owns the bench the worker turns
        every output off and separates the chuck once more (the window does not wait).
        """
        self.wafer_panel.abort()
        self.campaign_panel.abort()
        self.controller.abort_all()
        self._stop_pending = True
        if self.busy:
            self.message("Stop requested: the run is ending and turns outputs off and "
                         "separates the chuck itself", error=True)
        self._finish_stop()

    def _finish_stop(self) -> None:
        if not self._stop_pending or self.busy:
            return
        self._stop_pending = False

        def report(problems: list[str]) -> None:
            if problems:
                self.message("Stop: not everything could be made safe: " + "; ".join(problems),
                             error=True)
            else:
                self.message("Stopped: outputs off, chuck separated")
            QTimer.singleShot(0, self.refresh_status)  # show the bench as Stop left it

        self.io.submit(self.bench.safe_state, report, name="safe state", owner=True)

    def step_to_die(self, col: int, row: int) -> bool:
        """Ask the worker to step the prober to die (col, row) if safe: idle bench, separate
        first. True when the step was sent; ``stepped`` follows when the prober reports it."""
        if self.bench.prober is None:
            self.message(f"Not stepping to die {col},{row}: this bench has no prober "
                         "(packaged chips: select a chip on the board)", error=True)
            return False
        if self.busy:
            self.message(f"Not stepping to die {col},{row}: a run is in progress "
                         "(stop it first)", error=True)
            return False
        if (col, row) not in self.wafer_map.wafer_map.die_set:
            self.message(f"Die {col},{row} is not on the wafer map", error=True)
            return False
        bench = self.bench

        def failed(exc: Exception) -> None:
            self.message(f"Prober refused to step to {col},{row}: {exc}", error=True)

        return self.io.submit(lambda: position_prober(bench, (col, row), 0, contact=False),
                              self._stepped, failed, name=f"step to {col},{row}")

    def _stepped(self, at: tuple[int, int]) -> None:
        self.wafer_map.set_current_die(*at)
        self.procedure_panel.set_parameter("die", f"{at[0]},{at[1]}")
        self.message(f"Prober at die {at[0]},{at[1]} (separated)")
        self.stepped.emit(*at)
        QTimer.singleShot(0, self.refresh_status)  # after this job has left the worker
