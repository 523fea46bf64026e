"""Benchmark: the GUI keeps its frame rate while data stream in (MemProbe's plots vs pymeasure's).

Two streams, each through MemProbe's real widgets and through pymeasure's ManagedWindow plot
widgets (``pymeasure.display.widgets.ImageWidget`` / ``PlotWidget``), one after the other in
the same process (offscreen Qt platform; painting happens as on a screen):

* **map**: a 128 x 128 conductance map (16,384 rows of row, col, G) at ``--map-rate`` rows/s
  (default 10,000), one map line per batch, ``--map-repeats`` maps;
* **iv**: a 1,000,000-point I-V curve (one sweep, V in V, I in A) at ``--iv-rate`` points/s
  (default 100,000) in batches of ``--iv-batch`` points.

A producer thread plays the procedure and pymeasure's Recorder: it paces the batches and appends
them to a results CSV file, for both stacks (the same work in the same thread). MemProbe's side
also gets each batch as a Qt signal, as ``RunController.batchReceived`` delivers it, into
:class:`gui.plot_router.PlotRouter` and its :class:`~gui.widgets.array_map.ArrayMapWidget` and
:class:`~gui.plots.iv_plot.IVPlot` (throttled redraws, numpy buffers). pymeasure's side is its
ManagedWindow path: the widgets' 0.2 s timer calls ``update_data()`` on the ``ResultsImage`` /
``ResultsCurve``, which re-read the growing results file.

The figure is the event loop's latency: a 1 ms precise ``QTimer`` records how late each of its
ticks comes (interval minus 1 ms); p50 / p99 / max over the stream, in ms. Goal: p99 < 16 ms (one
frame at 60 Hz) for MemProbe. Wall-clock lateness also counts the time the GUI thread waited for
a CPU, which on a loaded machine is most of it; so each tick also records the GUI thread's own
CPU time since the previous tick (``time.thread_time``, insensitive to the machine's load):
``cpu_p99_ms`` / ``cpu_max_ms`` bound the work of one event-loop pass (a redraw, a paint, a
batch received), and ``cpu_per_paint_ms`` is the GUI thread's CPU over the stream divided by
the plot views' paints. The load average (1 min) is printed before and after each stream. Also
printed: the redraws done, and whether every row reached the widget by the end of the stream
(plus one refresh period). Prints a table and one JSON line. Run:
``.venv/bin/python benchmarks/bench_gui_framerate.py [--only map,iv]
[--stacks memprobe,pymeasure]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from pymeasure.display.widgets import ImageWidget, PlotWidget  # noqa: E402
from pymeasure.experiment import FloatParameter, Procedure, Results  # noqa: E402
from PyQt6.QtCore import (  # noqa: E402
    QElapsedTimer,
    QEvent,
    QEventLoop,
    QObject,
    Qt,
    QTimer,
    pyqtSignal,
)
from PyQt6.QtWidgets import QApplication, QGraphicsView, QHBoxLayout, QWidget  # noqa: E402

from gui.plot_router import PlotRouter  # noqa: E402
from gui.plots.conductance_plot import ConductancePlot  # noqa: E402
from gui.plots.iv_plot import IVPlot  # noqa: E402
from gui.plots.learning_plot import LearningPlot  # noqa: E402
from gui.plots.pulse_plot import PulsePlot  # noqa: E402
from gui.widgets.array_map import ArrayMapWidget  # noqa: E402

MAP_COLUMNS = ["Cell row", "Cell col", "Conductance (S)"]
IV_COLUMNS = ["Voltage (V)", "Current (A)"]
FRAME_MS = 16.0
PYMEASURE_REFRESH_S = 0.2  # pymeasure's PlotWidget / ImageWidget default refresh_time


class MapProcedure(Procedure):
    """A map's columns and grid (pymeasure's ResultsImage reads ``<x column>_start``, ``_end``,
    ``_step`` attributes of the procedure, set on the instance)."""

    size = FloatParameter("Map size", default=128.0)
    DATA_COLUMNS = MAP_COLUMNS

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        for column in ("Cell row", "Cell col"):
            setattr(self, f"{column}_start", 0.0)
            setattr(self, f"{column}_end", 127.0)
            setattr(self, f"{column}_step", 1.0)

    def execute(self) -> None:  # never run: the producer writes the rows
        """Nothing."""


class IVProcedure(Procedure):
    """An I-V's columns."""

    DATA_COLUMNS = IV_COLUMNS

    def execute(self) -> None:  # never run: the producer writes the rows
        """Nothing."""


class Feed(QObject):
    """The worker-to-GUI signal (queued onto the GUI thread, like ``batchReceived``)."""

    batch = pyqtSignal(dict)


class PaintCounter(QObject):
    """Counts the paint events of every graphics view under a window (the plots' frames)."""

    def __init__(self, window: QWidget) -> None:
        super().__init__()
        self.paints = 0
        for view in window.findChildren(QGraphicsView):
            view.viewport().installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """Count, never filter."""
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


class LatencyProbe(QObject):
    """A 1 ms precise timer recording how late each tick comes (ms) and the GUI thread's CPU
    time since the previous tick (ms)."""

    def __init__(self) -> None:
        super().__init__()
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(1)
        self.timer.timeout.connect(self._tick)
        self.clock = QElapsedTimer()
        self.late_ms: list[float] = []
        self.cpu_ms: list[float] = []
        self._last = 0
        self._last_cpu = 0.0
        self.cpu_s = 0.0
        """GUI-thread CPU time from :meth:`start` to :meth:`stop` (s)."""

    def start(self) -> None:
        """Start recording (clears earlier figures)."""
        self.late_ms = []
        self.cpu_ms = []
        self.clock.start()
        self._last = self.clock.nsecsElapsed()
        self._last_cpu = self._cpu0 = time.thread_time()
        self.timer.start()

    def stop(self) -> None:
        """Stop recording."""
        self.timer.stop()
        self.cpu_s = time.thread_time() - self._cpu0

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed()
        cpu = time.thread_time()
        self.late_ms.append(max(0.0, (now - self._last) / 1e6 - 1.0))
        self.cpu_ms.append((cpu - self._last_cpu) * 1e3)
        self._last, self._last_cpu = now, cpu

    def figures(self) -> dict[str, float]:
        """p50 / p99 / max lateness (ms), the GUI thread's CPU per tick (p99 / max, ms), its
        CPU over the recording (s) and the tick count."""
        a = np.asarray(self.late_ms) if self.late_ms else np.zeros(1)
        c = np.asarray(self.cpu_ms) if self.cpu_ms else np.zeros(1)
        return {"p50_ms": round(float(np.percentile(a, 50)), 2),
                "p99_ms": round(float(np.percentile(a, 99)), 2),
                "max_ms": round(float(a.max()), 2), "ticks": len(self.late_ms),
                "cpu_p99_ms": round(float(np.percentile(c, 99)), 2),
                "cpu_max_ms": round(float(c.max()), 2), "gui_cpu_s": round(self.cpu_s, 3)}


def map_batches(size: int, repeats: int, seed: int) -> list[dict[str, np.ndarray]]:
    """One batch per map line: ``{"Cell row", "Cell col", "Conductance (S)"}`` arrays."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        for row in range(size):
            g = np.where(rng.random(size) < 0.5, 10 ** rng.normal(-4.0, 0.15, size),
                         10 ** rng.normal(-6.3, 0.3, size))
            out.append({"Cell row": np.full(size, float(row)),
                        "Cell col": np.arange(size, dtype=float), "Conductance (S)": g})
    return out


def iv_batches(points: int, batch: int, seed: int) -> list[dict[str, np.ndarray]]:
    """A ``points``-point triangular sweep (V) with a noisy ohmic current (A), in batches."""
    rng = np.random.default_rng(seed)
    n = np.arange(points)
    phase = (n % 4000) / 4000.0
    v = 1.5 * np.where(phase < 0.5, 2 * phase, 2 - 2 * phase)
    i = v * 1e-4 * (1.0 + 0.02 * rng.standard_normal(points))
    return [{"Voltage (V)": v[k:k + batch], "Current (A)": i[k:k + batch]}
            for k in range(0, points, batch)]


class Producer(threading.Thread):
    """Plays a run: paces the batches at ``rate`` rows/s, appends each to ``csv`` (the
    Recorder's work) and hands it to ``emit`` (None: file only, as for pymeasure)."""

    def __init__(self, batches: list[dict[str, np.ndarray]], rate: float, csv: Path,
                 columns: list[str], emit: Callable[[dict], None] | None) -> None:
        super().__init__(daemon=True)
        self.batches, self.rate, self.csv, self.columns, self.emit = (batches, rate, csv,
                                                                      columns, emit)
        self.behind_s = 0.0
        self.ready = threading.Event()
        self.go = threading.Event()

    def run(self) -> None:
        # the lines are formatted before the clock starts: formatting is the Recorder's CPU
        # time, the same for both stacks and not the GUI's; writing them is not skipped
        texts = []
        for b in self.batches:
            out = io.StringIO()
            np.savetxt(out, np.column_stack([b[c] for c in self.columns]), fmt="%.10g",
                       delimiter=",")
            texts.append(out.getvalue())
        self.ready.set()
        self.go.wait()
        t0 = time.perf_counter()
        sent = 0
        with open(self.csv, "a", encoding=Results.ENCODING) as f:
            for b, text in zip(self.batches, texts, strict=True):
                due = t0 + sent / self.rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                else:
                    self.behind_s = max(self.behind_s, -wait)
                f.write(text)
                f.flush()
                if self.emit is not None:
                    self.emit(b)
                sent += len(b[self.columns[0]])


def wait_for(app: QApplication, done: Callable[[], bool], timeout_s: float) -> bool:
    """Run the Qt event loop (``QEventLoop.exec``, as the application does) until ``done()``
    (checked every 10 ms) or the timeout; whether it became true."""
    loop = QEventLoop()
    end = time.perf_counter() + timeout_s
    check = QTimer()
    check.setInterval(10)
    check.timeout.connect(lambda: loop.quit() if done() or time.perf_counter() > end else None)
    check.start()
    if not done():
        loop.exec()
    check.stop()
    return done()


def stream(app: QApplication, window: QWidget, batches: list[dict], rate: float, csv: Path,
           columns: list[str], emit: Callable[[dict], None] | None,
           complete: Callable[[], bool]) -> dict[str, object]:
    """Show ``window``, run the producer, measure the latency until it ends, then wait for the
    widget to show every row (``complete``)."""
    window.resize(1400, 600)
    window.show()
    settle = time.perf_counter() + 0.3
    wait_for(app, lambda: time.perf_counter() > settle, 1)  # first paint, layouts settle
    probe = LatencyProbe()
    paints = PaintCounter(window)
    producer = Producer(batches, rate, csv, columns, emit)
    producer.start()
    producer.ready.wait()
    load_before = os.getloadavg()[0]
    probe.start()
    t0 = time.perf_counter()
    producer.go.set()
    wait_for(app, lambda: not producer.is_alive(), 600)
    probe.stop()
    elapsed = time.perf_counter() - t0
    n_paints = paints.paints
    t1 = time.perf_counter()
    shown = wait_for(app, complete, 60)
    rows = sum(len(b[columns[0]]) for b in batches)
    figures = probe.figures()
    return {**figures, "paints": n_paints,
            "cpu_per_paint_ms": round(1e3 * figures["gui_cpu_s"] / max(1, n_paints), 2),
            "load_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
            "rows": rows, "rows_per_s": round(rows / elapsed),
            "producer_behind_s": round(producer.behind_s, 3), "all_rows_shown": shown,
            "catch_up_s": round(time.perf_counter() - t1, 3)}


def idle_baseline(app: QApplication, seconds: float) -> dict[str, object]:
    """The same latency figures with nothing streaming (the machine's own floor: on a loaded
    machine the operating system's scheduling alone makes a 1 ms timer late)."""
    probe = LatencyProbe()
    probe.start()
    end = time.perf_counter() + seconds
    wait_for(app, lambda: time.perf_counter() > end, seconds + 5)
    probe.stop()
    return probe.figures()


def memprobe_window() -> tuple[QWidget, PlotRouter]:
    """The main window's plot widgets (array map and I-V side by side) and their router."""
    w = QWidget()
    layout = QHBoxLayout(w)
    amap, iv = ArrayMapWidget(128, 128), IVPlot()
    layout.addWidget(amap)
    layout.addWidget(iv)
    router = PlotRouter(iv, PulsePlot(), ConductancePlot(), LearningPlot(), amap)
    return w, router


def dispose(app: QApplication, window: QWidget, proc: Procedure) -> None:
    """End a stream's window for good: the run is over (pymeasure's widgets refresh only
    running procedures) and every timer of the window stops, so that nothing of it costs the
    next stream's event loop anything (a closed pymeasure widget keeps re-reading its file)."""
    proc.status = Procedure.FINISHED
    for timer in window.findChildren(QTimer):
        timer.stop()
    window.close()
    window.deleteLater()
    app.processEvents()


def run_map(app: QApplication, stack: str, args: argparse.Namespace, tmp: Path) -> dict:
    """The map stream through one stack."""
    batches = map_batches(128, args.map_repeats, args.seed)
    csv = tmp / f"map-{stack}.csv"
    proc = MapProcedure()
    proc.status = Procedure.RUNNING
    if stack == "memprobe":
        results = Results(proc, str(csv))  # header, as the runner writes it
        w, router = memprobe_window()
        feed = Feed()
        feed.batch.connect(router.feed_columns)
        last = batches[-1]

        def complete() -> bool:
            router.array_map.flush()
            img = router.array_map.image.image
            return bool(img is not None and np.isclose(
                img[127, 127], np.log10(last["Conductance (S)"][-1])))

        out = stream(app, w, batches, args.map_rate, csv, MAP_COLUMNS, feed.batch.emit,
                     complete)
        out["redraws"] = router.array_map.redraw_count
    else:
        results = Results(proc, str(csv))
        w = ImageWidget("Map", MAP_COLUMNS, "Cell col", "Cell row", "Conductance (S)",
                        refresh_time=PYMEASURE_REFRESH_S)
        image = w.new_curve(results)
        w.load(image)
        n = len(batches) * 128
        out = stream(app, w, batches, args.map_rate, csv, MAP_COLUMNS, None,
                     lambda: len(results.data) >= n)
    dispose(app, w, proc)
    return out


def run_iv(app: QApplication, stack: str, args: argparse.Namespace, tmp: Path) -> dict:
    """The 1,000,000-point I-V through one stack."""
    batches = iv_batches(args.iv_points, args.iv_batch, args.seed)
    csv = tmp / f"iv-{stack}.csv"
    proc = IVProcedure()
    proc.status = Procedure.RUNNING
    results = Results(proc, str(csv))
    if stack == "memprobe":
        w, router = memprobe_window()
        feed = Feed()
        feed.batch.connect(router.feed_columns)

        def complete() -> bool:
            iv = router.iv
            return bool(iv.cycles) and len(iv.data(iv.cycles[0])[0]) >= args.iv_points \
                and not iv.reducer.busy and not iv.throttle.dirty

        out = stream(app, w, batches, args.iv_rate, csv, IV_COLUMNS, feed.batch.emit, complete)
        out["redraws"] = router.iv.redraw_count
        out["worker_reductions"] = router.iv.reducer.worker_reductions
        out["drawn_points"] = len(router.iv.curves(router.iv.cycles[0])[0].xData)
    else:
        w = PlotWidget("I-V", IV_COLUMNS, "Voltage (V)", "Current (A)",
                       refresh_time=PYMEASURE_REFRESH_S)
        curve = w.new_curve(results)
        w.load(curve)

        def complete() -> bool:
            x = curve.getData()[0]
            return x is not None and len(x) >= args.iv_points

        out = stream(app, w, batches, args.iv_rate, csv, IV_COLUMNS, None, complete)
    dispose(app, w, proc)
    return out


def main() -> None:
    """Run the streams and print the table and a JSON line."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="map,iv", help="streams: map, iv")
    ap.add_argument("--stacks", default="memprobe,pymeasure", help="memprobe, pymeasure")
    ap.add_argument("--map-rate", type=float, default=10_000, help="map rows/s")
    ap.add_argument("--map-repeats", type=int, default=3, help="128x128 maps streamed")
    ap.add_argument("--iv-points", type=int, default=1_000_000, help="I-V points")
    ap.add_argument("--iv-rate", type=float, default=100_000, help="I-V points/s")
    ap.add_argument("--iv-batch", type=int, default=1000, help="I-V points per batch")
    ap.add_argument("--idle-s", type=float, default=3.0, help="idle baseline length (s)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    figures: dict[str, dict] = {"idle": idle_baseline(app, args.idle_s)}
    print(f"idle            p50 {figures['idle']['p50_ms']:7.2f} ms  p99 "
          f"{figures['idle']['p99_ms']:7.2f} ms  max {figures['idle']['max_ms']:8.2f} ms  "
          f"(nothing streaming: the machine's floor; load {os.getloadavg()[0]:.1f})",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in (("map", run_map), ("iv", run_iv)):
            if name not in args.only.split(","):
                continue
            for stack in args.stacks.split(","):
                out = fn(app, stack, args, Path(tmp))
                figures[f"{name}_{stack}"] = out
                print(f"{name:4s} {stack:10s} p50 {out['p50_ms']:7.2f} ms  p99 "
                      f"{out['p99_ms']:7.2f} ms  max {out['max_ms']:8.2f} ms  | GUI CPU per "
                      f"tick p99 {out['cpu_p99_ms']:6.2f} ms max {out['cpu_max_ms']:7.2f} ms, "
                      f"per paint {out['cpu_per_paint_ms']:6.2f} ms ({out['paints']} paints) "
                      f"| load {out['load_1min'][0]}-{out['load_1min'][1]}  "
                      f"({out['rows']} rows at {out['rows_per_s']}/s, all shown: "
                      f"{out['all_rows_shown']}, catch-up {out['catch_up_s']} s)", flush=True)
    for key, out in figures.items():
        if key.endswith("memprobe"):
            out["p99_under_one_frame"] = bool(out["p99_ms"] < FRAME_MS)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
