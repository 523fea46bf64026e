"""Reopening a very large past run: its I-V curves are reduced on the plot's worker thread and
drawn when ready; the GUI thread does no reduction (the window never waits on it)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pandas as pd

PERIOD = 4000  # points per triangular sweep 0 -> 1.5 V -> 0
CYCLES = 10
N = 1_000_000


def _past_iv_run() -> pd.DataFrame:
    """A 1e6-point I-V cycling run as its file reads (10 cycles of 1e5 points), one spike."""
    k = np.arange(N)
    phase = k % PERIOD / PERIOD
    v = 1.5 * np.where(phase < 0.5, 2 * phase, 2 - 2 * phase)
    i = v * 1e-4
    i[654_321] = 1.0
    return pd.DataFrame({"Cycle": k // (N // CYCLES), "Voltage (V)": v, "Current (A)": i})


def test_a_reopened_million_point_run_is_reduced_off_the_gui_thread(qtbot, main_window):
    window = main_window
    iv = window.iv_plot
    reducer = iv.reducer
    threads: list[threading.Thread] = []
    reduce = reducer._reduce

    def recording_reduce():  # which thread each reduction runs on
        threads.append(threading.current_thread())
        return reduce()

    reducer._reduce = recording_reduce
    data = _past_iv_run()
    info = SimpleNamespace(id=42, procedure="iv-cycling", status="finished", array="1T1R")
    drawn = iv.redraw_count
    window.show_run(info, data)
    assert "Opened run 42" in window.last_message  # at once: nothing waited on the reduction
    qtbot.waitUntil(lambda: not reducer.busy and iv.redraw_count > drawn
                    and iv.curves(CYCLES - 1)[0].xData is not None, timeout=60_000)
    assert threads and threading.main_thread() not in threads
    assert reducer.reductions == reducer.worker_reductions > 0  # none on the GUI thread
    assert iv.cycles == list(range(CYCLES))
    assert sum(len(iv.data(c)[0]) for c in iv.cycles) == N  # every point kept
    lin = iv.curves(6)[0]  # the spike's cycle, drawn within the budget with its peak
    assert 0 < len(lin.xData) <= iv.config.max_drawn_points
    assert np.nanmax(lin.yData) == 1.0
