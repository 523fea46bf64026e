"""What the wafer-run and campaign panels share: a long session run in its own thread.

A :class:`SessionPanel` picks a file (a recipe, a campaign) from a combo box or a file dialog,
shows Start / Pause / Resume / Abort, a progress bar and a status line, and drives a run object
of ``procedures`` (``WaferRun``, ``CampaignRun``: ``create``/``reopen`` build it; ``start``,
``pause``, ``resume``, ``abort``, ``wait`` and ``outcome`` drive it). What each session loads,
builds and shows is written in the subclass; the rules of ownership are written here once:

* a session starts only when ``blocked_by()`` names no other owner of the bench, and only once
  the GUI's bench I/O worker (``io``, :class:`gui.bench_io.BenchIO`) has no job left, so the two
  never talk to the bench at the same time;
* an abort before the worker let it start drops the run (nothing was applied);
* closing the window aborts an active session and waits until it has ended safely.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from instruments.bench_types import BenchInterface
from procedures.framework.catalog import Catalog

log = logging.getLogger(__name__)

POLL_MS = 200
"""How often (ms) an active session is checked for its outcome."""


def format_eta(eta_s: float | None) -> str:
    """`` — ETA m:ss`` for an estimate in seconds; empty when there is none (None, inf, NaN)."""
    if eta_s is None or not math.isfinite(eta_s):
        return ""
    return f" — ETA {int(eta_s) // 60}:{int(eta_s) % 60:02d}"


class SessionPanel(QWidget):
    """Base of :class:`gui.wafer_panel.WaferPanel` and :class:`gui.campaign_panel.CampaignPanel`.

    Subclasses set the class attributes, build their own widgets between :meth:`_build_picker`
    and :meth:`_build_controls`, and implement :meth:`_loaded`, :meth:`_create`,
    :meth:`_reopen`, :meth:`_resumable` and the display hooks.
    """

    runningChanged = pyqtSignal(bool)  # noqa: N815 - Qt naming
    finished = pyqtSignal(object)  # the run's outcome

    NOUN = "session"
    """What the file is called in messages ("recipe", "campaign")."""
    RUN_NOUN = "session"
    """What one run of it is called ("run", "campaign")."""
    OUTCOME_NOUN = "session"
    """What a run is called in the outcome line ("wafer run", "campaign")."""
    RUN_ERRORS: tuple[type[Exception], ...] = (ValueError,)
    """Errors of ``create``/``reopen`` shown as "Not started" / "Cannot resume"."""
    PAUSE_TEXT = "pausing…"
    """Status shown when Pause is pressed."""

    def __init__(self, bench: BenchInterface, data_root: Path, catalog: Catalog,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bench = bench
        self.data_root = Path(data_root)
        self.catalog = catalog
        self.run: Any = None
        #: returns why the bench is not free for this session ("" when free); set by the window
        self.blocked_by: Callable[[], str] = lambda: ""
        #: the GUI's bench I/O worker (:class:`gui.bench_io.BenchIO`), set by the window
        self.io: Any = None
        self._waiting_io = False  # a run is launched but waits for the worker's last job
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._check_done)

    # -- construction -----------------------------------------------------------------------------
    def _build_picker(self, layout: QVBoxLayout, names: list[str], object_name: str) -> None:
        """The file chooser row (``file_combo``, ``load_button``, ``browse_button``) and the label
        of the loaded file (``file_label``)."""
        pick = QHBoxLayout()
        self.file_combo = QComboBox()
        self.file_combo.setObjectName(object_name)
        self.file_combo.addItems(names)
        self.load_button = QPushButton("Load")
        self.browse_button = QPushButton("File…")
        pick.addWidget(self.file_combo, 1)
        pick.addWidget(self.load_button)
        pick.addWidget(self.browse_button)
        layout.addLayout(pick)
        self.file_label = QLabel(f"no {self.NOUN} loaded")
        self.file_label.setWordWrap(True)
        layout.addWidget(self.file_label)
        self.load_button.clicked.connect(lambda: self.load(self.file_combo.currentText()))
        self.browse_button.clicked.connect(self._browse)

    def _build_controls(self, layout: QVBoxLayout) -> None:
        """Start / Pause / Resume / Abort, the progress bar and the status line."""
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.abort_button = QPushButton("Abort")
        for b in (self.start_button, self.pause_button, self.resume_button, self.abort_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        layout.addWidget(self.progress)
        self.status_label = QLabel("idle")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.start_button.clicked.connect(lambda: self.start())
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.abort_button.clicked.connect(self.abort)

    def connect_router(self, router: Any, busy_changed: Callable[[bool], None],
                       refresh_results: Callable[[], None]) -> None:
        """Feed the session's rows to the window's plot router (``signals.row``/``batch``/
        ``runStarted``), tell the window when it runs, refresh the results when it ends."""
        self.signals.row.connect(router.feed_row)
        self.signals.batch.connect(router.feed_columns)
        self.signals.runStarted.connect(
            lambda proc: router.start(list(proc.DATA_COLUMNS), proc.array))
        self.runningChanged.connect(busy_changed)
        self.finished.connect(lambda _o: refresh_results())

    # -- to write in a subclass -----------------------------------------------------------------
    signals: Any
    """The panel's Qt signals (``row``, ``batch``, ``runStarted`` at least)."""
    file_dir: Path
    """Where the file dialog opens."""

    def _loaded(self) -> Any:  # pragma: no cover - every subclass overrides
        """The loaded recipe / campaign, or None."""
        raise NotImplementedError

    def load(self, name_or_path: str | Path) -> bool:  # pragma: no cover - overridden
        """Load and validate a file; False (and why, in the status line) if refused."""
        raise NotImplementedError

    def _create(self, **options: Any) -> Any:  # pragma: no cover - every subclass overrides
        """A new run of the loaded file."""
        raise NotImplementedError

    def _reopen(self, out_dir: Path) -> Any:  # pragma: no cover - every subclass overrides
        """The unfinished run in ``out_dir``, to continue."""
        raise NotImplementedError

    def _resumable(self) -> Path | None:  # pragma: no cover - every subclass overrides
        """The folder of the last unfinished run of the loaded file, or None."""
        raise NotImplementedError

    def _clear_display(self) -> None:
        """Forget what an earlier run showed (a new run starts)."""

    def _show_reopened(self) -> None:
        """Show what the reopened run ``self.run`` has done already."""

    def _show_running(self) -> None:
        """A run is launched or resumed from a pause."""

    def _show_outcome(self, outcome: Any) -> None:
        """A run has ended with ``outcome`` (after the status line)."""

    # -- file ------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A session is active (running, pausing or paused)."""
        return self.run is not None and self.run.outcome is None

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.NOUN.capitalize(), str(self.file_dir),
                                              "TOML (*.toml)")
        if path:
            self.load(path)

    def _refused(self, name_or_path: str | Path, exc: Exception) -> bool:
        """Say why a file was refused; False."""
        self.status_label.setText(f"{self.NOUN.capitalize()} refused: {exc}")
        log.warning("%s %s refused: %s", self.NOUN, name_or_path, exc)
        return False

    def _loaded_shown(self, what: str) -> bool:
        """The file is loaded: show ``what`` it is and whether an unfinished run waits; True."""
        self.file_label.setText(what)
        resumable = self._resumable()
        self.status_label.setText(
            f"unfinished {self.RUN_NOUN} found: {resumable.name} (Resume continues it)"
            if resumable else "ready")
        self._update_buttons()
        return True

    # -- control ---------------------------------------------------------------------------------
    def start(self, **options: Any) -> bool:
        """Start a new run of the loaded file (``options`` go to :meth:`_create`)."""
        if self._loaded() is None or self.busy or self._blocked():
            return False
        if not self._opened(lambda: self._create(**options), "Not started"):
            return False
        self._clear_display()
        return self._launch()

    def resume(self) -> bool:
        """Resume a paused run, or continue the last unfinished run of the loaded file."""
        if self.run is not None and self.busy:
            self.run.resume()
            self._show_running()
            self.status_label.setText("resuming")
            return True
        if self._loaded() is None or self._blocked():
            return False
        out_dir = self._resumable()
        if out_dir is None:
            self.status_label.setText(f"nothing to resume for this {self.NOUN}")
            return False
        if not self._opened(lambda: self._reopen(out_dir), "Cannot resume"):
            return False
        self._show_reopened()
        return self._launch()

    def _opened(self, make: Callable[[], Any], refusal: str) -> bool:
        """``self.run = make()``; False (with ``refusal: why``) if it refuses."""
        try:
            self.run = make()
        except self.RUN_ERRORS as exc:
            self.status_label.setText(f"{refusal}: {exc}")
            return False
        return True

    def _blocked(self) -> bool:
        reason = self.blocked_by()
        if reason:
            self.status_label.setText(f"Not started: {reason}")
        return bool(reason)

    def _launch(self) -> bool:
        assert self.run is not None
        run = self.run
        self._show_running()
        self.runningChanged.emit(True)
        self._update_buttons()

        def go() -> None:  # once no GUI job talks to the bench (and if not aborted meanwhile)
            if self.run is run and run.outcome is None:
                self._waiting_io = False
                run.start()
                self._poll.start()

        if self.io is not None:
            self._waiting_io = True
            self.io.when_idle(go)
        else:
            go()
        return True

    def pause(self) -> None:
        """Pause after the current step or measurement (outputs off, chuck separated)."""
        if self.busy:
            self.run.pause()
            self.status_label.setText(self.PAUSE_TEXT)

    def abort(self) -> None:
        """Abort now (outputs off, chuck separated; the unfinished part is redone on resume)."""
        if self.busy and self._waiting_io:  # not started yet: it never will, nothing applied
            self._waiting_io = False
            self.run = None
            self.status_label.setText("aborted before start (nothing applied)")
            self.runningChanged.emit(False)
            self._update_buttons()
            return
        if self.busy:
            self.run.abort()
            self.status_label.setText("aborting…")

    def end_for_close(self, notice_s: float) -> None:
        """The window closes: abort an active run and wait until it has ended (outputs off,
        chuck separated, cursor saved) before the bench is closed; after ``notice_s`` s a
        warning is logged and the wait goes on (every instrument I/O has a timeout, so an
        aborted run always ends)."""
        if not self.busy:
            return
        run = self.run
        self.abort()  # a run not started yet is dropped (self.run is None)
        if self.run is not None and run is not None and run.wait(notice_s) is None:
            log.warning("waiting for the %s to end safely before the bench is closed",
                        self.RUN_NOUN)
            run.wait()

    # -- GUI thread ------------------------------------------------------------------------------
    def _check_done(self) -> None:
        if self.run is None or self.run.outcome is None:
            return
        self._poll.stop()
        outcome = self.run.outcome
        self.status_label.setText(f"{self.OUTCOME_NOUN} {outcome.state}: {outcome.out_dir}"
                                  + (f" ({outcome.error})" if outcome.error else ""))
        self._show_outcome(outcome)
        self.runningChanged.emit(False)
        self._update_buttons()
        self.finished.emit(outcome)

    def _update_buttons(self) -> None:
        busy = self.busy
        loaded = self._loaded() is not None
        self.start_button.setEnabled(loaded and not busy)
        self.pause_button.setEnabled(busy)
        self.abort_button.setEnabled(busy)
        self.resume_button.setEnabled(loaded)
        self.load_button.setEnabled(not busy)


__all__ = ["POLL_MS", "SessionPanel", "format_eta"]
