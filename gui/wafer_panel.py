"""Wafer-run panel: load a recipe, see its route, start/pause/resume/abort, watch the bins.

The wafer run executes in its own thread (``procedures.wafer.WaferRun``); its callbacks are
re-emitted as Qt signals. Dies are coloured on the wafer map as they finish; yield counters and
progress/ETA update live. While a wafer run is active the bench belongs to it: the procedure
queue and manual stepping are refused (the main window checks ``busy``). A run starts only
once the GUI's bench I/O worker (``io``) has no job left, so the two never talk to the bench
at the same time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.session_panel import SessionPanel, format_eta
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


class _Signals(QObject):
    dieStarted = pyqtSignal(object, int, int)  # (col,row), index, total
    dieFinished = pyqtSignal(object)  # DieResult
    progress = pyqtSignal(object)  # WaferProgress
    status = pyqtSignal(str)
    row = pyqtSignal(dict)
    batch = pyqtSignal(dict)
    runStarted = pyqtSignal(object)  # the procedure of a step, as it starts


class WaferPanel(SessionPanel):
    """Controls of a wafer run on the main window's bench and wafer map."""

    NOUN = "recipe"
    RUN_NOUN = "run"
    OUTCOME_NOUN = "wafer run"
    RUN_ERRORS = (WaferRunError, RecipeError, ValueError)
    PAUSE_TEXT = "pausing after the current step…"
    file_dir = RECIPE_DIR

    def __init__(self, bench: BenchInterface, data_root: Path, catalog: Catalog, wafer_map: Any,
                 parent: QWidget | None = None) -> None:
        super().__init__(bench, data_root, catalog, parent)
        self.wafer_map = wafer_map
        self.recipe: Recipe | None = None
        self.run: WaferRun | None = None
        self.signals = _Signals()
        layout = QVBoxLayout(self)
        self._build_picker(layout, sorted(p.stem for p in RECIPE_DIR.glob("*.toml")),
                           "recipe-combo")
        self._build_controls(layout)
        self.yield_label = QLabel("")
        layout.addWidget(self.yield_label)
        layout.addStretch(1)

        self.signals.dieStarted.connect(self._die_started)
        self.signals.dieFinished.connect(self._die_finished)
        self.signals.progress.connect(self._progress)
        self.signals.status.connect(self.status_label.setText)
        self.passed = self.failed = 0
        self._update_buttons()

    # -- recipe ---------------------------------------------------------------------------------
    def _loaded(self) -> Recipe | None:
        return self.recipe

    def load(self, name_or_path: str | Path) -> bool:
        """Load and validate a recipe; show its route and bin table on the wafer map."""
        try:
            recipe = load_recipe(name_or_path)
            recipe.validate(self.bench.limits)
            route = recipe.plan_route()
        except (RecipeError, ValueError, OSError) as exc:
            return self._refused(name_or_path, exc)
        self.recipe = recipe
        self.wafer_map.set_bin_table({code: (b.name, b.passed, b.color)
                                      for code, b in recipe.bin_table().items()})
        self.wafer_map.clear_bins()
        self.wafer_map.set_route(route)
        self.wafer_map.set_subsites([(sub.label, sub.dx_um, sub.dy_um)
                                     for sub in recipe.subsites])
        return self._loaded_shown(f"<b>{recipe.name}</b>: {len(route)} dies, "
                                  f"{len(recipe.steps)} steps per die — {recipe.description}")

    def _resumable(self) -> Path | None:
        return None if self.recipe is None else find_resumable(self.data_root, self.recipe)

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

    def start(self, dies: list[tuple[int, int]] | None = None) -> bool:  # type: ignore[override]
        """Start a new wafer run of the loaded recipe (``dies``: only these)."""
        return super().start(dies=dies)

    def _create(self, dies: list[tuple[int, int]] | None = None) -> WaferRun:
        assert self.recipe is not None
        return WaferRun.create(self.recipe, self.bench, self.data_root, self.catalog,
                               dies=dies, callbacks=self._callbacks())

    def _reopen(self, out_dir: Path) -> WaferRun:
        assert self.recipe is not None
        return WaferRun.reopen(self.recipe, self.bench, self.data_root, self.catalog,
                               out_dir, callbacks=self._callbacks())

    def _clear_display(self) -> None:
        self.passed = self.failed = 0
        self.wafer_map.clear_bins()

    def _show_reopened(self) -> None:
        for die in self.run.route:
            rec = self.run.die_record(die)
            if rec.bin is not None:
                self.wafer_map.set_die_bin(die[0], die[1], int(rec.bin))

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
        self.progress.setFormat(f"{p.dies_done}/{p.dies_total} dies{format_eta(p.eta_s)}")
