"""A slow bench (50 ms per command) never freezes the window: the GUI's instrument I/O runs in
the bench I/O worker and the event loop keeps delivering events meanwhile (pytest-qt)."""

from __future__ import annotations

import pytest
from PyQt6.QtCore import QTimer

from instruments.bench import Bench, load_bench_config
from tests._gui import open_main_window

LATENCY_MS = 50


@pytest.fixture
def slow_bench(data_root):
    bench = Bench.open("simulated", data_dir=data_root, fresh=True,
                       lab_overrides={"latency_ms": LATENCY_MS})
    try:
        yield bench
    finally:
        bench.close()


@pytest.fixture
def window(qtbot, slow_bench, data_root):
    with open_main_window(qtbot, slow_bench, data_root, idle_s=30) as w:
        yield w


class _Ticks:
    """Counts the ticks of a 0 ms timer: it fires whenever the GUI event loop is free."""

    def __init__(self) -> None:
        self.count = 0
        self.timer = QTimer()
        self.timer.setInterval(0)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        self.count += 1


def test_every_simulated_server_has_the_latency(slow_bench):
    assert {s.latency_s for s in slow_bench.lab.servers.values()} == {LATENCY_MS / 1000}


def test_latency_ms_in_a_bench_file(tmp_path):
    import re

    text = re.sub(r"(?m)^latency_ms = .*$", "latency_ms = 25",
                  load_bench_config("simulated").source.read_text())
    path = tmp_path / "slow.toml"
    path.write_text(text)
    assert load_bench_config(path).latency_ms == 25
    from instruments.bench import BenchConfigError

    path.write_text(text.replace("latency_ms = 25", "latency_ms = -1"))
    with pytest.raises(BenchConfigError, match="latency_ms"):
        load_bench_config(path)


def test_status_polling_and_stepping_leave_the_event_loop_free(qtbot, window, slow_bench):
    ticks = _Ticks()
    qtbot.waitUntil(lambda: not window.io.busy, timeout=30_000)  # start-up jobs done
    # status: identities once, then four prober queries, each 50 ms on this bench
    ticks.timer.start()
    with qtbot.waitSignal(window.statusShown, timeout=30_000) as blocker:
        window.refresh_status()
        during_call = ticks.count
    assert during_call == 0  # refresh_status only queued the job
    status_ticks = ticks.count
    assert blocker.args[0].chuck is not None
    assert window.bench_panel.die_label.text() != "-"
    # stepping: separate, step, read the position back, each 50 ms
    before = ticks.count
    with qtbot.waitSignal(window.stepped, timeout=30_000):
        assert window.step_to_die(5, 6)
    step_ticks = ticks.count - before
    ticks.timer.stop()
    assert slow_bench.lab.prober.die_under_chuck() == (5, 6)
    # the GUI thread went on delivering events while the worker waited on the bench
    assert status_ticks >= 10 and step_ticks >= 10, (status_ticks, step_ticks)


def test_a_run_waits_for_the_worker_and_polling_pauses_during_it(qtbot, window, slow_bench):
    """One owner at a time: a queued run starts after the GUI's job; no polling during it."""
    jobs: list[str] = []
    qtbot.waitUntil(lambda: not window.io.busy, timeout=30_000)
    assert window.step_to_die(9, 9)
    window.io.busyChanged.connect(lambda b: jobs.append("io busy" if b else "io idle"))
    window.controller.busyChanged.connect(lambda b: jobs.append("run" if b else "run end"))
    panel = window.procedure_panel
    panel.set_procedure("conductance-map")
    panel.set_parameter("die", "9,9")
    panel.set_parameter("cells", "0,0-3")
    with qtbot.waitSignal(window.controller.runFinished, timeout=120_000) as blocker:
        assert panel.queue_current(), panel.error_label.text()
        assert window.io.busy  # the step is still on its way: the run waits for it
        window.refresh_status()  # refused quietly: the bench belongs to the run
    assert blocker.args[0].status == "finished", blocker.args[0].error
    # the step ended before the run was prepared (in the worker, owner) and started
    assert jobs[:2] == ["io idle", "run"], jobs
    assert window.catalog.get(blocker.args[0].run_id).die == (9, 9)
