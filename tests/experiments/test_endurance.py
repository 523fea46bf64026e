"""Endurance (WGFMU SET/RESET cycling) on the simulated bench: fast path, wear-out, abort."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
from pymeasure.experiment import Results

from instruments.bench import Bench, load_bench_config
from instruments.limits import LimitError
from instruments.sim.chip import Chip
from instruments.sim.rram import RRAMParams
from procedures.experiments.endurance import EnduranceProcedure, read_cycles
from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunCallbacks, prepare_run

DIE = (9, 9)


def _proc(**params) -> EnduranceProcedure:
    proc = EnduranceProcedure()
    proc.die = f"{DIE[0]},{DIE[1]}"
    proc.form_first = True
    for k, v in params.items():
        setattr(proc, k, v)
    return proc


@pytest.fixture
def cycle_calls(monkeypatch):
    """Every Chip.cycle call's cycle count (the simulated WGFMU's SET/RESET fast path)."""
    calls: list[int] = []
    original = Chip.cycle

    def spy(self, array, row, col, side, n_cycles, *args, **kwargs):
        calls.append(int(n_cycles))
        return original(self, array, row, col, side, n_cycles, *args, **kwargs)

    monkeypatch.setattr(Chip, "cycle", spy)
    return calls


def test_read_cycles_are_log_spaced_and_end_at_the_total():
    assert list(read_cycles(1000)) == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    assert list(read_cycles(7)) == [1, 2, 5, 7]
    assert list(read_cycles(1)) == [1]
    ten = list(read_cycles(10**4, per_decade=10))
    assert ten[0] == 1 and ten[-1] == 10**4 and np.all(np.diff(ten) > 0)
    assert len(list(read_cycles(10**12))) == 37  # lazy: no per-cycle array


def test_a_million_cycles_through_the_fast_path_keep_the_window_open(
        sim_bench, data_root, cycle_calls):
    out = prepare_run(_proc(cells="3,0-1", cycles=1_000_000), sim_bench, data_root,
                      Catalog(data_root)).run()
    assert out.status == "finished", out.error
    s = out.summary
    assert s["cycles_done"] == 1_000_000 and s["cells"] == 2
    assert s["cells_failed"] == 0 and s["cycle_of_failure"] is None
    assert s["fast_path"] is True
    # the cycles between reads went through Chip.cycle (19 read cycles per cell ran in full)
    assert sum(cycle_calls) == 2 * (1_000_000 - 19)
    assert max(cycle_calls) <= 100_000  # chunks are bounded
    chip = sim_bench.lab.wafer.chip(*DIE)
    wear = [int(chip.pop.wear[chip.index("1T1R", 3, c)]) for c in (0, 1)]
    assert all(w >= 1_000_000 for w in wear)
    data = Results.load(str(out.file)).data
    for col in (0, 1):
        cell = data[data["Cell col"] == col]
        assert list(cell["Cycle"])[:4] == [1, 2, 5, 10] and cell["Cycle"].iloc[-1] == 1_000_000
        assert len(cell) == 19
    # LRS ~10-20 kOhm, HRS ~30 kOhm-1 MOhm (physics.md), window ~7 to the end
    assert data["R_LRS (ohm)"].between(5e3, 25e3).all()
    assert data["R_HRS (ohm)"].between(2e4, 2e6).all()
    assert data["Ratio"].median() > 4
    late = data[data["Cycle"] >= 100_000]
    assert late["Ratio"].median() > 4
    assert s["on_off"] > 2 and s["r_hrs_end"] > 2 * s["r_lrs_end"]


def test_the_window_closes_at_wear_out(data_root, cycle_calls):
    params = dataclasses.replace(RRAMParams(), endurance_cycles_median=2e4)
    with Bench.open("simulated", data_dir=data_root, fresh=True,
                    lab_overrides={"params": params}) as bench:
        out = prepare_run(_proc(cells="3,0-3", cycles=1_000_000), bench, data_root,
                          Catalog(data_root)).run()
    assert out.status == "finished", out.error
    s = out.summary
    assert s["cells_failed"] == 4
    for cell in s["per_cell"]:
        assert cell["failure_mode"] in ("window closed", "stuck LRS")
        assert 500 <= cell["cycle_of_failure"] <= 200_000
        assert cell["cycle_of_failure"] <= cell["cycles_done"] < 1_000_000
        assert cell["on_off"] < 2.0
    assert 500 <= s["cycle_of_failure"] <= 200_000
    data = Results.load(str(out.file)).data
    early = data[data["Cycle"] <= 100]
    assert early["Ratio"].median() > 4  # open at first, closed at the end
    assert cycle_calls and sum(cycle_calls) < 4 * 1_000_000


def test_stop_between_chunks_aborts_with_outputs_off(sim_bench, data_root):
    box = {}

    def on_row(row):
        if row["Cycle"] >= 1000:
            box["h"].stop()

    handle = prepare_run(_proc(cells="4,0", cycles=10**10), sim_bench, data_root,
                         Catalog(data_root), RunCallbacks(on_row=on_row))
    box["h"] = handle
    out = handle.start().wait(60)
    assert out is not None and out.status == "aborted"
    assert 1000 <= out.summary["cycles_done"] < 10**8
    assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())
    assert not sim_bench.lab.prober.in_contact
    data = Results.load(str(out.file)).data
    assert 10 <= len(data) < 30 and data["Cycle"].is_monotonic_increasing


def test_validation_names_the_problem(sim_bench, data_root):
    cat = Catalog(data_root)
    with pytest.raises(LimitError):
        prepare_run(_proc(reset_amplitude=4.5), sim_bench, data_root, cat)
    with pytest.raises(LimitError):
        prepare_run(_proc(v_wl_reset=4.2), sim_bench, data_root, cat)
    with pytest.raises(ValueError, match="stuck_ratio"):
        prepare_run(_proc(stuck_ratio=3.0, min_ratio=2.0), sim_bench, data_root, cat)
    with pytest.raises(ValueError, match="10 ns"):
        prepare_run(_proc(width=55e-9 + 1e-12 * 3), sim_bench, data_root, cat)


def test_bench_without_wl_channel_cycles_with_the_smu_gate(data_root, caplog, cycle_calls):
    config = load_bench_config("simulated")
    config.wgfmu_terminals = {501: "BL", 502: "SL"}
    with Bench.open(config, data_dir=data_root, fresh=True) as bench:
        with caplog.at_level(logging.INFO, logger="procedures"):
            out = prepare_run(_proc(cells="3,0", cycles=30), bench, data_root,
                              Catalog(data_root)).run()
        assert out.status == "finished", out.error
        assert bench.lab.dc_bias["WL"] == 0.0
    assert "WL has no WGFMU channel" in caplog.text
    assert out.summary["cycles_done"] == 30 and out.summary["fast_path"] is False
    assert cycle_calls == []  # one execute per gate level: no SET/RESET period to fast-path
    data = Results.load(str(out.file)).data
    assert list(data["Cycle"]) == [1, 2, 5, 10, 20, 30]
    assert data["Ratio"].median() > 3
