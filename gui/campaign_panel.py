"""Campaign panel: load a campaign, see its schedule, start/pause/resume/abort, watch the
condition's timeline and the figures vs condition live.

The campaign executes in its own thread (:class:`procedures.campaign.CampaignRun`); its
callbacks are re-emitted as Qt signals (nothing here talks to an instrument). While a campaign is
active the bench belongs to it: procedure runs, manual actions and wafer runs are refused, and a
campaign starts only when none of them owns the bench and the GUI's bench I/O worker has no job
left (:func:`attach_campaign_panel` wires this into the main window). A limit with ``action =
"pause"`` pauses here (outputs off, chuck separated, heater kept) until Resume.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from procedures.campaign import (
    Campaign,
    CampaignCallbacks,
    CampaignError,
    CampaignPoint,
    CampaignProgress,
    CampaignRun,
    CampaignRunError,
    latest_campaign,
    load_campaign,
)
from procedures.campaign.cursor import peek
from procedures.campaign.model import CAMPAIGN_DIR
from procedures.campaign.outputs import PLOTTED
from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunCallbacks

log = logging.getLogger(__name__)

SCHEDULE_COLUMNS = ("step", "condition", "set point (C)", "state", "reached (C)")
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


class _Signals(QObject):
    progress = pyqtSignal(object)  # CampaignProgress
    status = pyqtSignal(str)
    point = pyqtSignal(object)  # CampaignPoint
    step = pyqtSignal(int, str, object)  # step, state, reached C
    limit = pyqtSignal(str)
    row = pyqtSignal(dict)
    batch = pyqtSignal(dict)
    runStarted = pyqtSignal(object)


class CampaignPanel(QWidget):
    """Controls, schedule, condition timeline and live figures of a campaign."""

    runningChanged = pyqtSignal(bool)
    finished = pyqtSignal(object)  # CampaignOutcome

    def __init__(self, bench: Any, data_root: Path, catalog: Catalog,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bench = bench
        self.data_root = Path(data_root)
        self.catalog = catalog
        self.campaign: Campaign | None = None
        self.run: CampaignRun | None = None
        self.signals = _Signals()
        #: returns why the bench is not free for a campaign ("" when free); set by the window
        self.blocked_by: Callable[[], str] = lambda: ""
        #: the GUI's bench I/O worker (:class:`gui.bench_io.BenchIO`), set by the window
        self.io: Any = None
        self._waiting_io = False
        self.points: list[CampaignPoint] = []
        layout = QVBoxLayout(self)

        pick = QHBoxLayout()
        self.campaign_combo = QComboBox()
        self.campaign_combo.setObjectName("campaign-combo")
        self.campaign_combo.addItems(sorted(p.stem for p in CAMPAIGN_DIR.glob("*.toml")))
        self.load_button = QPushButton("Load")
        self.browse_button = QPushButton("File…")
        pick.addWidget(self.campaign_combo, 1)
        pick.addWidget(self.load_button)
        pick.addWidget(self.browse_button)
        layout.addLayout(pick)
        self.campaign_label = QLabel("no campaign loaded")
        self.campaign_label.setWordWrap(True)
        layout.addWidget(self.campaign_label)
        self.schedule = QTableWidget(0, len(SCHEDULE_COLUMNS))
        self.schedule.setObjectName("campaign-schedule")
        self.schedule.setHorizontalHeaderLabels(list(SCHEDULE_COLUMNS))
        self.schedule.verticalHeader().setVisible(False)
        self.schedule.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.schedule.setMinimumHeight(110)
        self.schedule.setMaximumHeight(170)
        layout.addWidget(self.schedule)

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
        self.limit_label = QLabel("")
        self.limit_label.setObjectName("campaign-limit")
        self.limit_label.setWordWrap(True)
        self.limit_label.setStyleSheet("color: #b71c1c")
        layout.addWidget(self.limit_label)

        self.timeline = pg.PlotWidget()
        self.timeline.setObjectName("campaign-timeline")
        self.timeline.setMinimumHeight(140)
        self.timeline.setLabel("bottom", "elapsed", units="s")
        self.timeline.showGrid(x=True, y=True, alpha=0.3)
        self.timeline_curve = self.timeline.plot([], [], pen=pg.mkPen("#d62728", width=2),
                                                 symbol="o", symbolSize=5)
        layout.addWidget(self.timeline, 1)
        fig_row = QHBoxLayout()
        fig_row.addWidget(QLabel("figure"))
        self.figure_combo = QComboBox()
        self.figure_combo.setObjectName("campaign-figure")
        self.figure_combo.addItems(list(PLOTTED))
        fig_row.addWidget(self.figure_combo, 1)
        layout.addLayout(fig_row)
        self.figures = pg.PlotWidget()
        self.figures.setObjectName("campaign-figures")
        self.figures.setMinimumHeight(140)
        self.figures.showGrid(x=True, y=True, alpha=0.3)
        self.figures.addLegend(offset=(5, 5))
        self.figure_curves: dict[str, Any] = {}
        layout.addWidget(self.figures, 1)

        self.load_button.clicked.connect(lambda: self.load(self.campaign_combo.currentText()))
        self.browse_button.clicked.connect(self._browse)
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.abort_button.clicked.connect(self.abort)
        self.figure_combo.currentTextChanged.connect(lambda _t: self._redraw())
        s = self.signals
        s.progress.connect(self._progress)
        s.status.connect(self.status_label.setText)
        s.point.connect(self._point)
        s.step.connect(self._step)
        s.limit.connect(self.limit_label.setText)
        self._poll = QTimer(self)
        self._poll.setInterval(200)
        self._poll.timeout.connect(self._check_done)
        self._update_buttons()

    @property
    def busy(self) -> bool:
        """A campaign is active (running, pausing or paused)."""
        return self.run is not None and self.run.outcome is None

    # -- campaign -------------------------------------------------------------------------------
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Campaign", str(CAMPAIGN_DIR),
                                              "TOML (*.toml)")
        if path:
            self.load(path)

    def load(self, name_or_path: str | Path) -> bool:
        """Load and validate a campaign (against the bench limits); show its schedule."""
        try:
            campaign = load_campaign(name_or_path)
            campaign.validate(self.bench.limits)
        except (CampaignError, ValueError, OSError) as exc:
            self.status_label.setText(f"Campaign refused: {exc}")
            log.warning("campaign %s refused: %s", name_or_path, exc)
            return False
        self.campaign = campaign
        if self.campaign_combo.findText(campaign.name) >= 0:
            self.campaign_combo.setCurrentText(campaign.name)
        s = campaign.schedule
        self.schedule.setRowCount(s.n_steps())
        for k in range(s.n_steps()):
            t = s.set_point(k)
            for col, text in enumerate((str(k + 1), s.label(k), "" if t is None else f"{t:g}",
                                        "pending", "")):
                self.schedule.setItem(k, col, QTableWidgetItem(text))
        names = ", ".join(dict.fromkeys(f"{m.series} ({m.procedure})"
                                        for m in campaign.measurements))
        self.campaign_label.setText(f"<b>{campaign.name}</b>: {s.n_steps()} {s.kind} steps; "
                                    f"{names} — {campaign.description}")
        self._clear_plots()
        resumable = self._resumable()
        self.status_label.setText(
            f"unfinished campaign found: {resumable.name} (Resume continues it)" if resumable
            else "ready")
        self._update_buttons()
        return True

    def _resumable(self) -> Path | None:
        if self.campaign is None:
            return None
        folder = latest_campaign(self.data_root, self.campaign)
        if folder is None or (peek(folder) or {}).get("state") == "completed":
            return None
        return folder

    # -- control --------------------------------------------------------------------------------
    def _callbacks(self) -> CampaignCallbacks:
        s = self.signals
        return CampaignCallbacks(
            on_progress=s.progress.emit, on_status=s.status.emit, on_point=s.point.emit,
            on_step=lambda k, state, t: s.step.emit(k, state, t), on_limit=s.limit.emit,
            run=RunCallbacks(on_row=s.row.emit, on_batch=s.batch.emit,
                             on_start=s.runStarted.emit),
        )

    def start(self) -> bool:
        """Start a new campaign of the loaded file."""
        if self.campaign is None or self.busy or self._blocked():
            return False
        try:
            self.run = CampaignRun.create(self.campaign, self.bench, self.data_root,
                                          self.catalog, self._callbacks())
        except (CampaignError, CampaignRunError, ValueError) as exc:
            self.status_label.setText(f"Not started: {exc}")
            return False
        self._clear_plots()
        return self._launch()

    def resume(self) -> bool:
        """Resume a paused campaign, or continue the last unfinished one of this file."""
        if self.run is not None and self.busy:
            self.run.resume()
            self.limit_label.setText("")
            self.status_label.setText("resuming")
            return True
        if self.campaign is None or self._blocked():
            return False
        out_dir = self._resumable()
        if out_dir is None:
            self.status_label.setText("nothing to resume for this campaign")
            return False
        try:
            self.run = CampaignRun.reopen(self.campaign, self.bench, self.data_root,
                                          self.catalog, out_dir, self._callbacks())
        except (CampaignError, CampaignRunError, ValueError) as exc:
            self.status_label.setText(f"Cannot resume: {exc}")
            return False
        self._clear_plots()
        for rec in self.run.cursor.steps:
            self._step(rec.index, rec.state, rec.reached_c)
        for e in self.run.cursor.entries:
            if e.counted:
                self._point(CampaignPoint(e.step, self.campaign.schedule.label(e.step),
                                          e.measurement, e.status, e.condition, e.figures,
                                          e.chip))
        return self._launch()

    def _blocked(self) -> bool:
        reason = self.blocked_by()
        if reason:
            self.status_label.setText(f"Not started: {reason}")
        return bool(reason)

    def _launch(self) -> bool:
        assert self.run is not None
        run = self.run
        self.limit_label.setText("")
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
        """Pause after the current measurement (outputs off, chuck separated)."""
        if self.busy:
            self.run.pause()
            self.status_label.setText("pausing after the current measurement…")

    def abort(self) -> None:
        """Abort now: outputs off, chuck separated, heater back to the safe temperature."""
        if self.busy and self._waiting_io:  # not started yet: nothing applied
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
        """The window closes: abort an active campaign and wait until it has ended (outputs
        off, chuck separated, heater set back, cursor saved) before the bench is closed; after
        ``notice_s`` s a warning is logged and the wait goes on (every instrument I/O has a
        timeout, so an aborted campaign always ends)."""
        if not self.busy:
            return
        run = self.run
        self.abort()  # a campaign not started yet is dropped (self.run is None)
        if self.run is not None and run is not None and run.wait(notice_s) is None:
            log.warning("waiting for the campaign to end safely before the bench is closed")
            run.wait()

    # -- callbacks (GUI thread) -----------------------------------------------------------------
    def _progress(self, p: CampaignProgress) -> None:
        self.progress.setValue(int(1000 * p.fraction))
        eta = "" if p.eta_s is None or not math.isfinite(p.eta_s) else \
            f" — ETA {int(p.eta_s) // 60}:{int(p.eta_s) % 60:02d}"
        bench = "" if p.bench_left_s is None else f", bench {p.bench_left_s / 3600:.2g} h left"
        self.progress.setFormat(f"{p.done}/{p.total} measurements{eta}{bench}")

    def _step(self, step: int, state: str, reached: Any) -> None:
        if step >= self.schedule.rowCount():
            return
        self.schedule.setItem(step, 3, QTableWidgetItem(state))
        self.schedule.setItem(step, 4, QTableWidgetItem("" if reached is None
                                                        else f"{float(reached):.1f}"))
        if state == "in-progress":
            self.schedule.selectRow(step)

    def _point(self, point: CampaignPoint) -> None:
        self.points.append(point)
        self._redraw()

    def condition_axis(self) -> tuple[str, str, str]:
        """(condition key, axis label, units) the figures are drawn against: dose when a
        dosimeter gave one, the chuck temperature for a temperature schedule, else time."""
        if any(p.condition.get("dose_gy") is not None for p in self.points):
            return "dose_gy", "dose", "Gy"
        if self.campaign is not None and self.campaign.schedule.kind == "temperature":
            return "temperature_c", "chuck temperature", "C"
        return "elapsed_s", "elapsed", "s"

    def _redraw(self) -> None:
        key, label, units = self.condition_axis()
        timeline_key = "dose_gy" if key == "dose_gy" else "temperature_c"
        pts = [p for p in self.points if p.condition.get(timeline_key) is not None]
        self.timeline.setLabel("left", "dose" if key == "dose_gy" else "chuck temperature",
                               units="Gy" if key == "dose_gy" else "C")
        self.timeline_curve.setData([float(p.condition["elapsed_s"]) for p in pts],
                                    [float(p.condition[timeline_key]) for p in pts])
        figure = self.figure_combo.currentText()
        self.figures.setLabel("bottom", label, units=units)
        self.figures.setLabel("left", figure)
        names = list(dict.fromkeys(p.series for p in self.points))  # first seen first
        for name in names:
            xy = [(float(p.condition[key]), float(p.figures[figure])) for p in self.points
                  if p.series == name and p.condition.get(key) is not None
                  and isinstance(p.figures.get(figure), int | float)]
            curve = self.figure_curves.get(name)
            if curve is None:
                i = len(self.figure_curves)
                curve = self.figures.plot([], [], name=name, symbol="o", symbolSize=6,
                                          pen=pg.mkPen(_COLOURS[i % len(_COLOURS)], width=2),
                                          symbolBrush=_COLOURS[i % len(_COLOURS)])
                self.figure_curves[name] = curve
            curve.setData([x for x, _ in xy], [y for _, y in xy])

    def _clear_plots(self) -> None:
        self.points = []
        self.timeline_curve.setData([], [])
        for curve in self.figure_curves.values():
            self.figures.removeItem(curve)
        self.figure_curves = {}
        legend = self.figures.getPlotItem().legend
        if legend is not None:
            legend.clear()

    def _check_done(self) -> None:
        if self.run is None or self.run.outcome is None:
            return
        self._poll.stop()
        outcome = self.run.outcome
        self.status_label.setText(f"campaign {outcome.state}: {outcome.out_dir}"
                                  + (f" ({outcome.error})" if outcome.error else ""))
        if outcome.reason:
            self.limit_label.setText(outcome.reason)
        self.runningChanged.emit(False)
        self._update_buttons()
        self.finished.emit(outcome)

    def _update_buttons(self) -> None:
        busy = self.busy
        self.start_button.setEnabled(self.campaign is not None and not busy)
        self.pause_button.setEnabled(busy)
        self.abort_button.setEnabled(busy)
        self.resume_button.setEnabled(self.campaign is not None)
        self.load_button.setEnabled(not busy)


def attach_campaign_panel(window: Any, beside: Any) -> CampaignPanel:
    """Add the Campaign tab (a dock tabified with ``beside``) to the main window and wire the
    one-owner rule: while a campaign is active, procedure runs, manual actions and wafer runs
    are refused, and a campaign waits for none of them to own the bench."""
    panel = CampaignPanel(window.bench, window.data_root, window.catalog)
    panel.io = window.io
    busy_text = "a campaign owns the bench (pause or abort it first)"
    for owner in (window.controller, window.manual, window.wafer_panel):
        earlier = owner.blocked_by

        def blocked(earlier: Callable[[], str] = earlier) -> str:
            return busy_text if panel.busy else earlier()

        owner.blocked_by = blocked
    panel.blocked_by = lambda: (
        "a procedure run owns the bench (wait for it or stop it)"
        if window.controller.busy or window.controller.queue
        else "a wafer run owns the bench (pause or abort it first)" if window.wafer_panel.busy
        else "")
    dock = window._dock("Campaign", panel, Qt.DockWidgetArea.RightDockWidgetArea)
    window.tabifyDockWidget(beside, dock)
    panel.signals.row.connect(window.router.feed_row)
    panel.signals.batch.connect(window.router.feed_columns)
    panel.signals.runStarted.connect(
        lambda proc: window.router.start(list(proc.DATA_COLUMNS), proc.array))
    panel.runningChanged.connect(window._busy_changed)
    panel.finished.connect(lambda _o: window.results_browser.refresh())
    return panel


__all__ = ["CampaignPanel", "SCHEDULE_COLUMNS", "attach_campaign_panel"]
