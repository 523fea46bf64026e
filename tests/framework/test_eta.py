"""ETAs from bench time (issue #13): the modeled clock of the twin, not the machine's speed."""

from __future__ import annotations

import io
import math

import pytest

from gui.progress import ProgressBar
from procedures.framework.eta import BenchEta


def test_eta_is_the_bench_time_per_percent_times_what_remains(sim_bench):
    eta = BenchEta(sim_bench)
    assert math.isnan(eta.remaining_s(0.0))
    sim_bench.wait(30.0)  # 30 s of modeled bench time, no wall time on the twin
    assert eta.remaining_s(25.0) == pytest.approx(90.0, rel=1e-9)
    eta.start(25.0)  # a session resumed at 25 %: only its own rate counts
    sim_bench.wait(15.0)
    assert eta.remaining_s(50.0) == pytest.approx(30.0, rel=1e-9)
    assert eta.remaining_s(100.0) == 0.0


def test_command_line_bar_shows_the_bench_eta(sim_bench):
    out = io.StringIO()
    bar = ProgressBar("forming", out, mininterval=0)
    bar.use_eta(BenchEta(sim_bench))
    sim_bench.wait(125.0)
    bar.update(50.0)
    frame = [f for f in out.getvalue().split("\r") if f.strip()][-1]
    assert " 50.0 %" in frame and "ETA 02:05 (bench)" in frame
    bar.finish("finished")


def test_gui_run_controller_reports_bench_time_left(qtbot, sim_bench, data_root):
    from gui.run_controller import RunController
    from procedures.framework.catalog import Catalog

    catalog = Catalog(data_root)
    ctl = RunController(sim_bench, data_root, catalog)
    ctl._eta = BenchEta(sim_bench)  # as _launch sets it when a run starts
    sim_bench.wait(40.0)
    with qtbot.waitSignal(ctl.progressChanged, timeout=5_000) as sig:
        ctl._on_progress(80.0)
    assert sig.args[0] == 80.0 and sig.args[1] == pytest.approx(10.0, rel=1e-9)
    catalog.close()
