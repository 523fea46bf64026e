"""Command-line progress bars (tqdm): what they show, the wafer run's own ETA."""

from __future__ import annotations

import io

from gui.progress import ProgressBar, WaferProgressBar


def test_wafer_bar_shows_dies_fraction_and_the_runs_own_eta():
    out = io.StringIO()
    bar = WaferProgressBar(12, out, mininterval=0)
    bar.show(0, 0.0, None)
    assert "wafer 0/12 dies" in out.getvalue() and "ETA --:--" in out.getvalue()
    bar.show(3, 0.3, 125.0)
    frame = [f for f in out.getvalue().split("\r") if f.strip()][-1]
    assert "wafer 3/12 dies" in frame and " 30.0 %" in frame
    assert "ETA 02:05" in frame  # the run's estimate, not a rate of the bar's own
    bar.show(3, 0.3, 3725.0)
    frame = [f for f in out.getvalue().split("\r") if f.strip()][-1]
    assert "ETA 1:02:05" in frame
    bar.finish("completed")
    assert out.getvalue().endswith("\n") and "wafer 3/12 dies: completed in " in out.getvalue()


def test_procedure_bar_percent_and_status():
    out = io.StringIO()
    bar = ProgressBar("forming", out, mininterval=0)
    bar.update(0.0)
    bar.update(40.0)
    frame = [f for f in out.getvalue().split("\r") if f.strip()][-1]
    assert frame.startswith("forming |") and " 40.0 %" in frame and "ETA" in frame
    bar.update(150.0)  # clipped
    frame = [f for f in out.getvalue().split("\r") if f.strip()][-1]
    assert "100.0 %" in frame
    bar.finish("finished")
    assert out.getvalue().rstrip().splitlines()[-1].split("\r")[-1].startswith(
        "forming: finished in ")
