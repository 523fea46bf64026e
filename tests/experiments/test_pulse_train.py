"""Pulse trains (WGFMU) on the simulated bench, through the runner, catalog and results file."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
from pymeasure.experiment import Results

from instruments.bench import Bench, load_bench_config
from instruments.limits import LimitError
from procedures.experiments.pulse_train import PulseTrainProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunCallbacks, prepare_run
from procedures.operations.pulsing import CellPulse, build_program, is_set_reset_cycle

RESET = {"kind": "reset", "amplitude": 2.2, "v_wl": 2.8}
SET = {"kind": "set", "amplitude": 1.5, "v_wl": 1.2}


def _proc(**params) -> PulseTrainProcedure:
    proc = PulseTrainProcedure()
    proc.die = "9,9"
    for k, v in params.items():
        setattr(proc, k, v)
    return proc


def _run(bench, root, **params):
    return prepare_run(_proc(**params), bench, root, Catalog(root)).run()


def test_reset_then_set_trains_move_the_conductance(sim_bench, data_root):
    cells = "0,0-3"
    reset = _run(sim_bench, data_root, cells=cells, form_first=True, count=4, **RESET)
    assert reset.status == "finished", reset.error
    s = reset.summary
    assert s["cells"] == 4 and s["n_pulses"] == 16 and s["cells_formed_first"] == 4
    # formed at 100 uA: LRS ~90 uS; a 2.2 V RESET with the gate high leaves HRS < 25 uS
    assert 40e-6 < s["g_initial"] < 150e-6
    assert all(g < 25e-6 for g in s["g_final_values"])
    set_ = _run(sim_bench, data_root, cells=cells, count=3, record_waveform=True,
                waveform_points=10, waveform_file="csv", **SET)
    assert set_.status == "finished", set_.error
    g = np.array(set_.summary["g_final_values"])
    # gate 1.2 V: compliance 98 uA -> G ~ 90 uS (minus the transistor's on-resistance at read)
    assert np.all((g > 50e-6) & (g < 130e-6))
    data = Results.load(str(set_.file)).data
    reads = data[data["Point"] == -1]
    waves = data[data["Point"] >= 0]
    assert len(reads) == 4 * (3 + 1) and len(waves) == 4 * 3 * 10
    assert reads["Measured I (A)"].isna().all() and waves["Read G (S)"].isna().all()
    assert set(reads["Pulse"]) == {0, 1, 2, 3} and set(waves["Kind"]) == {1}
    # the sampled waveform reaches the pulse top; the SET current flows during it
    top = waves[np.isclose(waves["Applied V (V)"], 1.5)]
    assert len(top) >= 4 * 3 * 6
    assert (top["Measured I (A)"] > 10e-6).mean() > 0.9
    assert waves["Applied V (V)"].max() <= 1.5 + 1e-9
    # time runs forward within each cell's train
    first = reads[reads["Cell col"] == 0]
    assert np.all(np.diff(first["Time (s)"].to_numpy()) > 0)


def test_long_train_without_reads_runs_as_repeated_sequences(sim_bench, data_root):
    out = _run(sim_bench, data_root, cells="6,0", form_first=True, count=250, read_each=False,
               **RESET)
    assert out.status == "finished", out.error
    assert out.summary["n_pulses"] == 250 and out.summary["g_final"] < 25e-6
    data = Results.load(str(out.file)).data
    assert list(data["Pulse"]) == list(range(251))
    read = data[data["Read G (S)"].notna()]
    assert list(read["Pulse"]) == [0, 250]
    assert read["Time (s)"].iloc[1] > 250 * 1e-6


def test_unformed_cells_are_refused_without_form_first(sim_bench, data_root):
    out = _run(sim_bench, data_root, cells="5,5", count=2, **SET)
    assert out.status == "failed" and "unformed" in out.error


def test_limits_and_time_grid_are_checked_before_anything_runs(sim_bench, data_root):
    with pytest.raises(LimitError):
        prepare_run(_proc(kind="reset", amplitude=4.2, v_wl=2.8), sim_bench, data_root,
                    Catalog(data_root))
    with pytest.raises(LimitError):
        prepare_run(_proc(v_wl=4.5), sim_bench, data_root, Catalog(data_root))
    with pytest.raises(ValueError, match="10 ns"):
        prepare_run(_proc(width=1.005e-6), sim_bench, data_root, Catalog(data_root))
    with pytest.raises(ValueError, match="1T1R"):
        prepare_run(_proc(array="2T2R"), sim_bench, data_root, Catalog(data_root))


def test_stop_mid_train_aborts_with_outputs_off(sim_bench, data_root):
    rows = []
    handle_box = {}
    enough = threading.Event()

    def on_batch(batch):
        rows.extend(batch["Pulse"])
        if len(rows) >= 30:
            enough.set()
            handle_box["h"].stop()

    proc = _proc(cells="1,0", form_first=True, count=1_000_000, **SET)
    handle = prepare_run(proc, sim_bench, data_root, Catalog(data_root),
                         RunCallbacks(on_batch=on_batch))
    handle_box["h"] = handle
    outcome = handle.start().wait(60)
    assert outcome is not None and outcome.status == "aborted"
    assert enough.is_set()
    assert 30 <= outcome.summary["n_pulses"] < 1000
    assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())
    assert not sim_bench.lab.prober.in_contact
    data = Results.load(str(outcome.file)).data
    assert 30 <= len(data) < 1000


def test_bench_without_wl_channel_sets_the_gate_with_the_smu(data_root, caplog):
    config = load_bench_config("simulated")
    config.wgfmu_terminals = {501: "BL", 502: "SL"}
    with Bench.open(config, data_dir=data_root, fresh=True) as bench:
        with caplog.at_level(logging.INFO, logger="procedures.operations.pulsing"):
            reset = _run(bench, data_root, cells="2,0-1", form_first=True, count=2, **RESET)
        assert reset.status == "finished", reset.error
        assert "WL has no WGFMU channel" in caplog.text
        assert all(g < 25e-6 for g in reset.summary["g_final_values"])
        set_ = _run(bench, data_root, cells="2,0-1", count=2, **SET)
        assert set_.status == "finished", set_.error
        assert all(50e-6 < g < 130e-6 for g in set_.summary["g_final_values"])
        assert bench.lab.dc_bias["WL"] == 0.0


def test_program_layout_is_on_the_grid_and_fast_path_needs_one_set_and_one_reset():
    s = CellPulse("set", 1.5, 1.2)
    r = CellPulse("reset", 2.0, 2.8)
    prog = build_program([s, r])
    for term in ("BL", "SL", "WL"):
        assert prog.vectors[term][-1][1] == 0.0
        ticks = np.array([d for d, _ in prog.vectors[term]]) / 10e-9
        assert np.allclose(ticks, np.round(ticks))
    t, wl = prog.waveform("WL")
    assert {1.2, 2.8} <= set(wl)
    assert is_set_reset_cycle(prog)
    assert not is_set_reset_cycle(build_program([s, s, r]))
    assert not is_set_reset_cycle(build_program([s]))
    assert not is_set_reset_cycle(build_program([CellPulse("set", 1.5, 1.2, points=5), r]))
