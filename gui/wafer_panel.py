"""Wafer-run panel: load a recipe, see its route, start/pause/resume/abort, watch the bins.

The wafer run executes in its own thread (``procedures.wafer.WaferRun``); its callbacks are
re-emitted as Qt signals. Dies are coloured on the wafer map as they finish; yield counters and
progress/ETA update live. While a wafer run is active the bench belongs to it: the procedure
queue and manual stepping are refused (the main window checks ``busy``). A run starts only
once the GUI's bench I/O worker (``io``) has no job left, so the two never talk to the bench
at the same time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, QTimer, pyqtSignal
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
from procedures.framework.runner import RunCallbacks
from procedures.wafer import (
    RECIPE_DIR,
    DieResult,
    Recipe,
    RecipeError,
    WaferCallbacks,
    WaferProgress,
    WaferRun,
    WaferRunError,
    find_resumable,
    load_recipe,
)

log = logging.getLogger(__name__)


class _Signals(QObject):
    dieStarted = pyqtSignal(object, int, int)  # (col,row), index, total
    dieFinished = pyqtSignal(object)  # DieResult
    progress = pyqtSignal(object)  # WaferProgress
    status = pyqtSignal(str)
    row = pyqtSignal(dict)
    batch = pyqtSignal(dict)
    runStarted = pyqtSignal(object)  # the procedure of a step, as it starts


class WaferPanel(QWidget):
    """Controls of a wafer run on the main window's bench and wafer map."""

    runningChanged = pyqtSignal(bool)
    finished = pyqtSignal(object)  # WaferOutcome

    def __init__(self, bench: BenchInterface, data_root: Path, catalog: Catalog, wafer_map: Any,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bench = bench
        self.data_root = Path(data_root)
        self.catalog = catalog
        self.wafer_map = wafer_map
        self.recipe: Recipe | None = None
        self.run: WaferRun | None = None
        self.signals = _Signals()
        layout = QVBoxLayout(self)

        pick = QHBoxLayout()
        self.recipe_combo = QComboBox()
        self.recipe_combo.setObjectName("recipe-combo")
        self.recipe_combo.addItems(sorted(p.stem for p in RECIPE_DIR.glob("*.toml")))
        self.load_button = QPushButton("Load")
        self.browse_button = QPushButton("File…")
        pick.addWidget(self.recipe_combo, 1)
        pick.addWidget(self.load_button)
        pick.addWidget(self.browse_button)
        layout.addLayout(pick)
        self.recipe_label = QLabel("no recipe loaded")
        self.recipe_label.setWordWrap(True)
        layout.addWidget(self.recipe_label)

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
        self.yield_label = QLabel("")
        layout.addWidget(self.yield_label)
        layout.addStretch(1)

        self.load_button.clicked.connect(lambda: self.load(self.recipe_combo.currentText()))
        self.browse_button.clicked.connect(self._browse)
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.abort_button.clicked.connect(self.abort)
        self.signals.dieStarted.connect(self._die_started)
        self.signals.dieFinished.connect(self._die_finished)
        self.signals.progress.connect(self._progress)
        self.signals.status.connect(self.status_label.setText)
        self._poll = QTimer(self)
        self._poll.setInterval(200)
        self._poll.timeout.connect(self._check_done)
        self.passed = self.failed = 0
        #: returns why the bench is not free for a wafer run ("" when free); set by the window
        self.blocked_by: Callable[[], str] = lambda: ""
        #: the GUI's bench I/O worker (:class:`gui.bench_io.BenchIO`), set by the window
        self.io: Any = None
        self._waiting_io = False  # a run is launched but waits for the worker's last job
        self._update_buttons()

    @property
    def busy(self) -> bool:
        """A wafer run is active (running or pausing)."""
        return self.run is not None and self.run.outcome is None

    # -- recipe ---------------------------------------------------------------------------------
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Recipe", str(RECIPE_DIR), "TOML (*.toml)")
        if path:
            self.load(path)

    def load(self, name_or_path: str | Path) -> bool:
        """Load and validate a recipe; show its route and bin table on the wafer map."""
        try:
            recipe = load_recipe(name_or_path)
            recipe.validate(self.bench.limits)
            route = recipe.plan_route()
        except (RecipeError, ValueError, OSError) as exc:
            self.status_label.setText(f"Recipe refused: {exc}")
            log.warning("recipe %s refused: %s", name_or_path, exc)
            return False
        self.recipe = recipe
        self.wafer_map.set_bin_table({code: (b.name, b.passed, b.color)
                                      for code, b in recipe.bin_table().items()})
        self.wafer_map.clear_bins()
        self.wafer_map.set_route(route)
        self.wafer_map.set_subsites([(sub.label, sub.dx_um, sub.dy_um)
                                     for sub in recipe.subsites])
        self.recipe_label.setText(f"<b>{recipe.name}</b>: {len(route)} dies, "
                                  f"{len(recipe.steps)} steps per die — {recipe.description}")
        resumable = find_resumable(self.data_root, recipe)
        self.status_label.setText(
            f"unfinished run found: {resumable.name} (Resume continues it)" if resumable
            else "ready")
        self._update_buttons()
        return True

    # -- control --------------------------------------------------------------------------------
    def _callbacks(self) -> WaferCallbacks:
        s = self.signals
        return WaferCallbacks(
            on_die_started=lambda die, i, n: s.dieStarted.emit(die, i, n),
            on_die_finished=s.dieFinished.emit,
            on_progress=s.progress.emit,
            on_status=s.status.emit,
            run=RunCallbacks(on_row=s.row.emit, on_batch=s.batch.emit,
                             on_start=s.runStarted.emit),
        )

    def start(self, dies: list[tuple[int, int]] | None = None) -> bool:
        """Start a new wafer run of the loaded recipe (``dies``: only these)."""
        if self.recipe is None or self.busy or self._blocked():
            return False
        try:
            self.run = WaferRun.create(self.recipe, self.bench, self.data_root, self.catalog,
                                       dies=dies, callbacks=self._callbacks())
        except (RecipeError, WaferRunError, ValueError) as exc:
            self.status_label.setText(f"Not started: {exc}")
            return False
        self.passed = self.failed = 0
        self.wafer_map.clear_bins()
        return self._launch()

    def resume(self) -> bool:
        """Resume a paused run, or continue the last unfinished run of this recipe."""
        if self.run is not None and self.busy:
            self.run.resume()
            self.status_label.setText("resuming")
            return True
        if self.recipe is None or self._blocked():
            return False
        out_dir = find_resumable(self.data_root, self.recipe)
        if out_dir is None:
            self.status_label.setText("nothing to resume for this recipe")
            return False
        try:
            self.run = WaferRun.reopen(self.recipe, self.bench, self.data_root, self.catalog,
                                       out_dir, callbacks=self._callbacks())
        except (WaferRunError, RecipeError, ValueError) as exc:
            self.status_label.setText(f"Cannot resume: {exc}")
            return False
        for die in self.run.route:
            rec = self.run.die_record(die)
            if rec.bin is not None:
                self.wafer_map.set_die_bin(die[0], die[1], int(rec.bin))
        return self._launch()

    def _blocked(self) -> bool:
        reason = self.blocked_by()
        if reason:
            self.status_label.setText(f"Not started: {reason}")
        return bool(reason)

    def _launch(self) -> bool:
        assert self.run is not None
        run = self.run
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
        """Pause after the current step (outputs off, chuck separated)."""
        if self.busy:
            self.run.pause()
            self.status_label.setText("pausing after the current step…")

    def abort(self) -> None:
        """Abort the wafer run now (the current step is redone on a later resume)."""
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

    # -- callbacks (GUI thread) -----------------------------------------------------------------
    def _die_started(self, die: tuple[int, int], index: int, total: int) -> None:
        self.wafer_map.set_current_die(*die)
        self.status_label.setText(f"die {die[0]},{die[1]} ({index + 1}/{total})")

    def _die_finished(self, result: DieResult) -> None:
        self.wafer_map.set_die_bin(result.die[0], result.die[1], result.bin_code)
        if result.passed:
            self.passed += 1
        else:
            self.failed += 1
        tested = self.passed + self.failed
        y = 100.0 * self.passed / tested if tested else 0.0
        self.yield_label.setText(f"tested {tested}   passed {self.passed}   failed "
                                 f"{self.failed}   yield {y:.1f} %")

    def _progress(self, p: WaferProgress) -> None:
        self.progress.setValue(int(1000 * p.fraction))
        eta = "" if p.eta_s is None or not math.isfinite(p.eta_s) else \
            f" — ETA {int(p.eta_s) // 60}:{int(p.eta_s) % 60:02d}"
        self.progress.setFormat(f"{p.dies_done}/{p.dies_total} dies{eta}")

    def _check_done(self) -> None:
        if self.run is None or self.run.outcome is None:
            return
        self._poll.stop()
        outcome = self.run.outcome
        self.status_label.setText(f"wafer run {outcome.state}: {outcome.out_dir}"
                                  + (f" ({outcome.error})" if outcome.error else ""))
        self.runningChanged.emit(False)
        self._update_buttons()
        self.finished.emit(outcome)

    def _update_buttons(self) -> None:
        busy = self.busy
        self.start_button.setEnabled(self.recipe is not None and not busy)
        self.pause_button.setEnabled(busy)
        self.abort_button.setEnabled(busy)
        self.resume_button.setEnabled(self.recipe is not None)
        self.load_button.setEnabled(not busy)
