"""What a live I-V plot draws, reduced off the GUI thread (numpy and one worker thread; no Qt).

A 1,000,000-point sweep must not cost the GUI thread more per frame than a 1,000-point one. The
GUI thread therefore only hands each batch of points to a :class:`CurveReducer`
(:meth:`~CurveReducer.submit`: a list append under a lock) and, once a frame, picks up what to
draw (:meth:`~CurveReducer.take`: at most ``budget`` points per curve, ready for ``setData``).
Everything proportional to the data happens on the reducer's worker thread: ``log10 |I|``,
splitting by cycle, growing the buffers (their doubling copies), the incremental peak
decimation (:class:`gui.buffers.PeakDecimator`: the lowest and highest point of each run of
consecutive points, so a spike is never lost), and, when the user zooms in, selecting the raw
points of the visible voltage window (:meth:`~CurveReducer.set_window`): where they fit in the
budget every measured point is drawn; where not, the window's points are peak-decimated.

The worker thread runs only while there is work (it ends after an idle reduction) and reduces at
most ``max_hz`` times a second, however fast batches come. The raw points stay readable
(:meth:`~CurveReducer.data`); every reader first applies the batches still pending, so what a
caller submitted is what it reads. Voltages in V, currents in A.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from gui.buffers import ColumnBuffer, PeakDecimator

MIN_CURVE_BUDGET = 500
"""Fewest points a curve may be drawn with, however many cycles share the budget."""


@dataclass(frozen=True)
class CurveDraw:
    """What one cycle's two curves show: ``(x, y)`` of the linear panel (V, A) and of the log
    panel (V, log10 |I / A|), whether each holds only finite values, the raw points behind
    them, and points per drawn min/max pair (1: every point in view is drawn)."""

    linear: tuple[np.ndarray, np.ndarray]
    log: tuple[np.ndarray, np.ndarray]
    linear_finite: bool
    log_finite: bool
    points: int
    factor: int
    version: int


@dataclass(frozen=True)
class Frame:
    """A reduction's result: the cycles kept (ascending) and what each of them draws."""

    cycles: tuple[int, ...]
    curves: dict[int, CurveDraw]
    generation: int


@dataclass
class _CycleData:
    buffer: ColumnBuffer
    dec_linear: PeakDecimator
    dec_log: PeakDecimator
    changed: bool = True
    version: int = 0
    draw: CurveDraw | None = None


@dataclass
class _Pending:
    """What the GUI thread hands over (guarded by the reducer's small lock)."""

    batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    generation: int = 0
    window: tuple[float, float] | None = None
    window_changed: bool = False
    worker: bool = False
    latest: Frame | None = None


class CurveReducer:
    """The data side of :class:`gui.plots.iv_plot.IVPlot`: raw points per cycle and what to
    draw of them.

    ``budget`` is the most points drawn per panel, all cycles together (each at least
    :data:`MIN_CURVE_BUDGET`); ``max_cycles`` the cycles kept (the highest numbers: a lower one
    arriving when full is ignored); ``max_points`` a ring limit per cycle (None: unbounded).
    The GUI-side calls (:meth:`submit`, :meth:`set_window`, :meth:`take`, :meth:`clear`,
    :attr:`busy`) only take a lock held for O(1) work, never the one a reduction holds.
    """

    def __init__(self, budget: int, max_cycles: int, max_points: int | None = None,
                 max_hz: float = 30.0) -> None:
        self.budget = int(budget)
        self.max_cycles = int(max_cycles)
        self.max_points = max_points
        self.min_interval_s = 1.0 / max_hz
        """Least time between two of the worker's reductions (s)."""
        self._lock = threading.RLock()  # the cycles' data (held while reducing)
        self._plock = threading.Lock()  # only ``_pending`` (held for O(1) work)
        self._pending = _Pending()
        self._cycles: dict[int, _CycleData] = {}
        self._generation = 0  # the clear() the cycles belong to
        self._window: tuple[float, float] | None = None  # the window the draws are of
        self.reductions = 0
        """Reductions done so far (worker and :meth:`reduce_now`)."""
        self.worker_reductions = 0
        """Of them, the ones done on the worker thread."""

    # -- GUI side: O(1) per call ----------------------------------------------------------------
    def submit(self, cycles: np.ndarray, v: np.ndarray, i: np.ndarray) -> None:
        """Queue points (one cycle number per point, V in V, I in A) and wake the worker."""
        with self._plock:
            self._pending.batches.append((cycles, v, i))
        self._wake()

    def set_window(self, window: tuple[float, float] | None) -> None:
        """Draw only the raw points with V in ``window = (v_min, v_max)`` (V) (the zoomed-in
        view), or the whole series (None)."""
        window = None if window is None else (float(min(window)), float(max(window)))
        with self._plock:
            if window == self._pending.window:
                return
            self._pending.window = window
            self._pending.window_changed = True
        self._wake()

    def take(self) -> Frame | None:
        """The newest frame not taken yet (None: nothing new)."""
        with self._plock:
            frame, self._pending.latest = self._pending.latest, None
            if frame is not None and frame.generation != self._pending.generation:
                return None
            return frame

    @property
    def busy(self) -> bool:
        """True while batches or a window change wait for the worker, or it runs."""
        with self._plock:
            return bool(self._pending.batches or self._pending.window_changed
                        or self._pending.worker)

    def clear(self) -> None:
        """Drop every cycle and every pending batch (the data go at the next reduction or
        read)."""
        with self._plock:
            self._pending.batches.clear()
            self._pending.generation += 1
            self._pending.latest = None

    # -- readers (any thread) -----------------------------------------------------------------
    @property
    def cycles(self) -> list[int]:
        """Cycle numbers kept, ascending (pending batches applied first)."""
        with self._lock:
            self._drain()
            return sorted(self._cycles)

    def data(self, cycle: int) -> tuple[np.ndarray, np.ndarray]:
        """``(V in V, I in A)`` of ``cycle``, every point kept (read-only views)."""
        with self._lock:
            self._drain()
            buf = self._cycles[cycle].buffer
            return buf.column("v"), buf.column("i")

    def reduce_now(self) -> Frame:
        """Apply pending batches and reduce in the calling thread; the frame (also taken)."""
        with self._lock:
            frame = self._reduce()
        with self._plock:
            self._pending.latest = None
        return frame

    # -- worker -------------------------------------------------------------------------------
    def _wake(self) -> None:
        with self._plock:
            if self._pending.worker:
                return
            self._pending.worker = True
        threading.Thread(target=self._work, name="iv-curve-reducer", daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._plock:
                if not (self._pending.batches or self._pending.window_changed):
                    self._pending.worker = False
                    return
            started = time.perf_counter()
            with self._lock:
                self._reduce()
                self.worker_reductions += 1
            rest = self.min_interval_s - (time.perf_counter() - started)
            if rest > 0:  # batches arriving meanwhile are reduced together
                time.sleep(rest)

    def _drain(self) -> None:
        """Move pending batches into the cycles' buffers (caller holds ``_lock``)."""
        with self._plock:
            batches, self._pending.batches = self._pending.batches, []
            generation = self._pending.generation
        if generation != self._generation:  # cleared since
            self._cycles.clear()
            self._generation = generation
        for cycles, v, i in batches:
            self._append(cycles, v, i)

    def _append(self, cycles: np.ndarray, v: np.ndarray, i: np.ndarray) -> None:
        with np.errstate(divide="ignore", invalid="ignore"):
            log_abs = np.log10(np.abs(i))
        log_abs[~np.isfinite(log_abs)] = np.nan
        if np.all(cycles == cycles[0]):
            groups: list[tuple[int, np.ndarray | slice]] = [(int(cycles[0]), slice(None))]
        else:
            groups = [(int(c), cycles == c) for c in np.unique(cycles)]
        for c, sel in groups:
            entry = self._entry(c)
            if entry is None:
                continue
            entry.buffer.extend({"v": v[sel], "i": i[sel], "log_abs_i": log_abs[sel]})
            entry.changed = True

    def _entry(self, c: int) -> _CycleData | None:
        entry = self._cycles.get(c)
        if entry is not None:
            return entry
        if len(self._cycles) >= self.max_cycles and c < min(self._cycles):
            return None
        entry = _CycleData(ColumnBuffer(["v", "i", "log_abs_i"], max_len=self.max_points),
                           PeakDecimator(self.budget), PeakDecimator(self.budget))
        self._cycles[c] = entry
        while len(self._cycles) > self.max_cycles:
            del self._cycles[min(self._cycles)]
        return entry

    def _reduce(self) -> Frame:
        """Drain, then recompute what each changed cycle draws (caller holds ``_lock``)."""
        with self._plock:
            self._pending.window_changed = False
            window = self._pending.window
        self._drain()
        if window != self._window:
            self._window = window
            for entry in self._cycles.values():
                entry.changed = True
        budget = max(MIN_CURVE_BUDGET, self.budget // max(1, len(self._cycles)))
        for entry in self._cycles.values():
            if entry.changed or entry.draw is None:
                entry.draw = self._draw(entry, budget)
                entry.changed = False
        self.reductions += 1
        frame = Frame(tuple(sorted(self._cycles)),
                      {c: e.draw for c, e in self._cycles.items() if e.draw is not None},
                      self._generation)
        with self._plock:
            self._pending.latest = frame
        return frame

    def _draw(self, entry: _CycleData, budget: int) -> CurveDraw:
        buf = entry.buffer
        v = buf.column("v")
        entry.version += 1
        if self._window is not None:
            return self._window_draw(entry, budget)
        out = []
        for column, dec in (("i", entry.dec_linear), ("log_abs_i", entry.dec_log)):
            dec.budget = budget
            if buf.dropped:  # a ring buffer: reduce what it holds afresh (bounded)
                dec.reset()
            x, y = dec.update(v, buf.column(column))
            finite = (buf.all_finite("v") and buf.all_finite(column)) if dec.factor == 1 \
                else bool(np.isfinite(x).all() and np.isfinite(y).all())
            out.append(((x, y), finite))
        return CurveDraw(out[0][0], out[1][0], out[0][1], out[1][1], len(buf),
                         entry.dec_linear.factor, entry.version)

    def _window_draw(self, entry: _CycleData, budget: int) -> CurveDraw:
        """The raw points with V in the window, with one neighbour each side of every stretch
        (lines run on to the edge) and a NaN between stretches (no line across the view)."""
        assert self._window is not None
        lo, hi = self._window
        buf = entry.buffer
        v = buf.column("v")
        inside = (v >= lo) & (v <= hi)
        near = inside.copy()
        near[1:] |= inside[:-1]
        near[:-1] |= inside[1:]
        idx = np.flatnonzero(near)
        out = []
        factor = 1
        for column in ("i", "log_abs_i"):
            y = buf.column(column)
            if len(idx) <= budget:
                breaks = np.flatnonzero(np.diff(idx) > 1) + 1
                x_draw = np.insert(v[idx], breaks, np.nan)
                y_draw = np.insert(y[idx], breaks, np.nan)
                finite = not len(breaks) and bool(np.isfinite(x_draw).all()
                                                  and np.isfinite(y_draw).all())
            else:  # denser than the budget even zoomed in: the window's points decimated
                dec = PeakDecimator(budget)
                x_draw, y_draw = dec.update(v[idx], y[idx])
                factor = dec.factor
                finite = bool(np.isfinite(x_draw).all() and np.isfinite(y_draw).all())
            out.append(((x_draw, y_draw), finite))
        return CurveDraw(out[0][0], out[1][0], out[0][1], out[1][1], len(buf), factor,
                         entry.version)
