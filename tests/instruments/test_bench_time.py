"""Modeled bench time: the twin's clock follows the commands, not the machine's load.

The simulated lab's clock advances only by modeled durations (instruments/sim/timing.py), so a
command sequence gives the same physics however long the wall-clock gaps between commands are;
``pace`` makes wall time follow the modeled time; every run records ``bench_time_s``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from instruments.bench import Bench, BenchConfigError, load_bench_config
from instruments.sim.timing import BenchTiming
from procedures.experiments.forming import FormingProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run
from procedures.operations.cell_io import CellIO, bench_clock

CELL = ("1T1R", 0, 0)


def _form_and_read(bench: Bench, gap_s: float) -> tuple[list[float], float]:
    """A forming staircase on one cell, then reads of four cells; ``gap_s`` of wall time
    (a sleep) between commands. Returns the currents and the modeled clock at the end."""
    bench.prober.contact()
    io = CellIO(bench)
    io.select(*CELL)
    out = []
    for v in np.arange(1.0, 3.6, 0.1):
        r = io.step_bl(float(v), 1.5, 100e-6)
        out.append(r.current)
        time.sleep(gap_s)
    io.set_levels(0.0, 0.0, 0.0, 1e-3)
    for col in range(4):
        io.select("1T1R", 0, col)
        time.sleep(gap_s)
        out.append(io.read().current)
    io.off()
    bench.prober.separate()
    return out, bench_clock(bench)


def test_same_commands_same_physics_whatever_the_wall_clock(tmp_path):
    results = []
    for gap in (0.0, 0.02):  # the second bench idles 20 ms of wall time between commands
        with Bench.open("simulated", data_dir=tmp_path / f"gap{gap}", fresh=True) as bench:
            results.append(_form_and_read(bench, gap))
    (a, t_a), (b, t_b) = results
    assert a == b  # bit for bit: the sleeps did not act on the cells
    assert t_a == t_b > 0
    assert max(a[:26]) > 20e-6  # the staircase did form the cell (the test is not vacuous)


def _held_stress(tmp_path, timing: BenchTiming, n: int) -> tuple[list[float], list[float]]:
    """Hold BL at 1.8 V (below forming) on an unformed cell while 3 blocks of ``n`` error
    queries are sent; the cell's forming stress and the modeled clock after each block."""
    with Bench.open("simulated", data_dir=tmp_path, fresh=True,
                    lab_overrides={"timing": timing}) as bench:
        bench.prober.contact()
        io = CellIO(bench)
        io.select(*CELL)
        io.set_levels(1.8, 0.0, 1.5, 100e-6)
        chip = bench.lab.contacted_chip()
        i = chip.index(*CELL, "BL")
        stress, clock = [], []
        for _ in range(3):
            for _ in range(n):
                bench.b1500.check_errors()  # one ERRX? round trip each, nothing else
            stress.append(float(chip.pop.s_form[i]))
            clock.append(bench_clock(bench))
        assert not chip.pop.formed[i]
        io.off()
        return stress, clock


def test_a_dc_level_held_for_n_commands_stresses_for_their_modeled_time(tmp_path):
    fast = BenchTiming()
    slow = replace(fast, b1500_turnaround_s=10 * fast.b1500_turnaround_s)
    n = 20
    s_fast, c_fast = _held_stress(tmp_path / "fast", fast, n)
    s_slow, c_slow = _held_stress(tmp_path / "slow", slow, n)
    per_query = fast.request_s("b1500", "ERRX?")
    # each block of n queries advanced the clock by n turnarounds, exactly
    assert np.diff(c_fast) == pytest.approx([n * per_query] * 2, rel=1e-9)
    assert np.diff(c_slow) == pytest.approx([n * slow.request_s("b1500", "ERRX?")] * 2, rel=1e-9)
    # equal blocks add equal stress; the stress is proportional to the held (modeled) time
    d_fast, d_slow = np.diff(s_fast), np.diff(s_slow)
    assert d_fast[0] > 0 and d_fast[0] == pytest.approx(d_fast[1], rel=1e-6)
    ratio = slow.request_s("b1500", "ERRX?") / per_query
    assert d_slow[0] / d_fast[0] == pytest.approx(ratio, rel=1e-6)


def test_wait_and_moves_advance_the_modeled_clock(sim_bench):
    t0 = bench_clock(sim_bench)
    assert sim_bench.wait(3600.0)  # unpaced: at once
    assert bench_clock(sim_bench) - t0 == pytest.approx(3600.0)
    timing = sim_bench.lab.config.timing
    t1 = bench_clock(sim_bench)
    sim_bench.prober.contact()
    sim_bench.prober.separate()
    # at least the two Z moves (plus the driver's own status queries)
    assert bench_clock(sim_bench) - t1 >= timing.prober_contact_s + timing.prober_separate_s
    assert not sim_bench.wait(10.0, should_stop=lambda: True)


def test_pace_makes_wall_time_follow_the_modeled_time(tmp_path):
    with Bench.open("simulated", data_dir=tmp_path, fresh=True,
                    lab_overrides={"pace": True}) as bench:
        lab = bench.lab
        done = threading.Event()
        # put the modeled clock 0.3 s ahead of the wall clock (opening took wall time)
        lab.advance(max(0.0, lab.wall_s() * lab.config.time_scale - lab.now()) + 0.3)
        wall0 = time.monotonic()
        assert lab.pace_lag() > 0.0  # the next reply is held back ...

        def query() -> None:
            bench.b1500.check_errors()
            done.set()

        threading.Thread(target=query, daemon=True).start()
        assert done.wait(10.0)
        # ... until wall time has caught up: lower bounds only
        assert time.monotonic() - wall0 >= 0.25
        assert lab.pace_lag() < 0.25  # caught up (loose: only a lower bound on wall time)


def test_bench_time_is_in_the_catalog_and_the_run_record(sim_bench, data_root):
    proc = FormingProcedure()
    proc.cells = "0,0"
    proc.die = "9,9"
    out = prepare_run(proc, sim_bench, data_root, Catalog(data_root)).run()
    assert out.status == "finished", out.error
    bt = out.summary["bench_time_s"]
    assert bt > sim_bench.lab.config.timing.prober_index_s  # it stepped to the die at least
    assert bt <= bench_clock(sim_bench)
    entry = Catalog(data_root).get(out.run_id)
    assert entry.summary["bench_time_s"] == pytest.approx(bt)
    record = [p for p in out.file.parent.iterdir() if p.suffix == ".json"]
    assert record and json.loads(record[0].read_text())["summary"]["bench_time_s"] == \
        pytest.approx(bt)


def test_timing_table_and_pace_from_the_bench_file(tmp_path):
    text = load_bench_config("simulated").source.read_text()
    f = tmp_path / "bench.toml"
    assert "pace = false" in text
    f.write_text(text.replace("pace = false", "pace = true")
                 + "\n[timing]\nprober_index_s = 2.5\n")
    cfg = load_bench_config(f)
    assert cfg.pace and cfg.timing == {"prober_index_s": 2.5}

    f.write_text(text + "\n[timing]\nprober_index = 2.5\n")
    with pytest.raises(BenchConfigError, match="timing.prober_index"):
        load_bench_config(f)
    f.write_text(text + "\n[timing]\nprober_index_s = -1\n")
    with pytest.raises(BenchConfigError, match="timing.prober_index_s"):
        load_bench_config(f)
