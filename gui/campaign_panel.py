"""Campaign panel: load a campaign, see its schedule, start/pause/resume/abort, watch the
condition's timeline and the figures vs condition live.

The campaign executes in its own thread (:class:`procedures.campaign.CampaignRun`); its
callbacks are re-emitted as Qt signals (nothing here talks to an instrument). While a campaign is
active the bench belongs to it: procedure runs, manual actions and wafer runs are refused, and a
campaign starts only when none of them owns the bench and the GUI's bench I/O worker has no job
left (:mod:`gui.session_panel`; :func:`gui.bench_owner.share_bench` sets the rule). A limit
with ``action = "pause"`` pauses here (outputs off, chuck separated, heater kept) until Resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.session_panel import SessionPanel, format_eta
from instruments.bench_types import BenchInterface
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


class CampaignPanel(SessionPanel):
    """Controls, schedule, condition timeline and live figures of a campaign."""

    NOUN = "campaign"
    RUN_NOUN = "campaign"
    OUTCOME_NOUN = "campaign"
    RUN_ERRORS = (CampaignError, CampaignRunError, ValueError)
    PAUSE_TEXT = "pausing after the current measurement…"
    file_dir = CAMPAIGN_DIR

    def __init__(self, bench: BenchInterface, data_root: Path, catalog: Catalog,
                 parent: QWidget | None = None) -> None:
        super().__init__(bench, data_root, catalog, parent)
        self.campaign: Campaign | None = None
        self.run: CampaignRun | None = None
        self.signals = _Signals()
        self.points: list[CampaignPoint] = []
        layout = QVBoxLayout(self)
        self._build_picker(layout, sorted(p.stem for p in CAMPAIGN_DIR.glob("*.toml")),
                           "campaign-combo")
        self.schedule = QTableWidget(0, len(SCHEDULE_COLUMNS))
        self.schedule.setObjectName("campaign-schedule")
        self.schedule.setHorizontalHeaderLabels(list(SCHEDULE_COLUMNS))
        self.schedule.verticalHeader().setVisible(False)
        self.schedule.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.schedule.setMinimumHeight(110)
        self.schedule.setMaximumHeight(170)
        layout.addWidget(self.schedule)
        self._build_controls(layout)
        self.limit_label = QLabel("")
        self.limit_label.setObjectName("campaign-limit")
        self.limit_label.setWordWrap(True)
        self.limit_label.setStyleSheet("color: #b71c1c")
        layout.addWidget(self.limit_label)
        self._build_plots(layout)

        s = self.signals
        s.progress.connect(self._progress)
        s.status.connect(self.status_label.setText)
        s.point.connect(self._point)
        s.step.connect(self._step)
        s.limit.connect(self.limit_label.setText)
        self._update_buttons()

    def _build_plots(self, layout: QVBoxLayout) -> None:
        """The condition timeline and the figures vs condition (with their chooser)."""
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
        self.figure_combo.currentTextChanged.connect(lambda _t: self._redraw())

    # -- campaign -------------------------------------------------------------------------------
    def _loaded(self) -> Campaign | None:
        return self.campaign

    def load(self, name_or_path: str | Path) -> bool:
        """Load and validate a campaign (against the bench limits); show its schedule."""
        try:
            campaign = load_campaign(name_or_path)
            campaign.validate(self.bench.limits)
        except (CampaignError, ValueError, OSError) as exc:
            return self._refused(name_or_path, exc)
        self.campaign = campaign
        if self.file_combo.findText(campaign.name) >= 0:
            self.file_combo.setCurrentText(campaign.name)
        s = campaign.schedule
        self.schedule.setRowCount(s.n_steps())
        for k in range(s.n_steps()):
            t = s.set_point(k)
            for col, text in enumerate((str(k + 1), s.label(k), "" if t is None else f"{t:g}",
                                        "pending", "")):
                self.schedule.setItem(k, col, QTableWidgetItem(text))
        names = ", ".join(dict.fromkeys(f"{m.series} ({m.procedure})"
                                        for m in campaign.measurements))
        self._clear_plots()
        return self._loaded_shown(f"<b>{campaign.name}</b>: {s.n_steps()} {s.kind} steps; "
                                  f"{names} — {campaign.description}")

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

    def _create(self) -> CampaignRun:
        assert self.campaign is not None
        return CampaignRun.create(self.campaign, self.bench, self.data_root, self.catalog,
                                  self._callbacks())

    def _reopen(self, out_dir: Path) -> CampaignRun:
        assert self.campaign is not None
        return CampaignRun.reopen(self.campaign, self.bench, self.data_root, self.catalog,
                                  out_dir, self._callbacks())

    def _clear_display(self) -> None:
        self._clear_plots()

    def _show_reopened(self) -> None:
        assert self.run is not None and self.campaign is not None
        self._clear_plots()
        for rec in self.run.cursor.steps:
            self._step(rec.index, rec.state, rec.reached_c)
        for e in self.run.cursor.entries:
            if e.counted:
                self._point(CampaignPoint(e.step, self.campaign.schedule.label(e.step),
                                          e.measurement, e.status, e.condition, e.figures,
                                          e.chip))

    def _show_running(self) -> None:
        self.limit_label.setText("")

    def _show_outcome(self, outcome: Any) -> None:
        if outcome.reason:
            self.limit_label.setText(outcome.reason)

    # -- callbacks (GUI thread) -----------------------------------------------------------------
    def _progress(self, p: CampaignProgress) -> None:
        self.progress.setValue(int(1000 * p.fraction))
        eta = format_eta(p.eta_s)
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
        dosimeter gave one, the chuck (or board) temperature for a temperature schedule, else
        time."""
        if any(p.condition.get("dose_gy") is not None for p in self.points):
            return "dose_gy", "dose", "Gy"
        if self.campaign is not None and self.campaign.schedule.kind == "temperature":
            return "temperature_c", self._temperature_label(), "C"
        return "elapsed_s", "elapsed", "s"

    def _temperature_label(self) -> str:
        """What the temperature is: the prober's chuck, or a packaged board's heater."""
        return "chuck temperature" if getattr(self.bench, "prober", None) is not None \
            else "board temperature"

    def _redraw(self) -> None:
        key, label, units = self.condition_axis()
        timeline_key = "dose_gy" if key == "dose_gy" else "temperature_c"
        pts = [p for p in self.points if p.condition.get(timeline_key) is not None]
        self.timeline.setLabel("left", "dose" if key == "dose_gy" else self._temperature_label(),
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


__all__ = ["CampaignPanel", "SCHEDULE_COLUMNS"]
