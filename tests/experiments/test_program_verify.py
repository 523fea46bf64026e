"""Program-and-verify (ISPP, WGFMU) on the simulated bench: multi-level convergence, abort."""

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.experiment import Results

from instruments.limits import LimitError
from procedures.experiments.program_verify import ProgramVerifyProcedure, parse_targets
from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunCallbacks, prepare_run

LEVELS = (20e-6, 40e-6, 60e-6, 80e-6)
TOL = 5e-6


def _proc(**params) -> ProgramVerifyProcedure:
    proc = ProgramVerifyProcedure()
    proc.die = "9,9"
    proc.form_first = True
    proc.tolerance = TOL
    for k, v in params.items():
        setattr(proc, k, v)
    return proc


def test_parse_targets():
    assert parse_targets("20e-6, 40e-6;60e-6 80e-6") == list(LEVELS)
    for bad in ("", "abc", "-1e-6", "0"):
        with pytest.raises(ValueError, match="targets"):
            parse_targets(bad)


def _check_levels(out) -> tuple:
    """The run converged to four ordered levels; (data, final rows) of its results file."""
    assert out.status == "finished", out.error
    s = out.summary
    assert s["cells"] == 12 and s["converged_fraction"] >= 0.9
    assert s["median_abs_error"] <= TOL
    assert 1 <= s["median_pulses"] <= 60
    data = Results.load(str(out.file)).data
    final = data.groupby("Cell col").tail(1)
    # round-robin assignment of the targets to the cells
    assert list(final["Target (S)"]) == [LEVELS[c % 4] for c in range(12)]
    ok = final[final["Converged"] == 1]
    assert (np.abs(ok["Read G (S)"] - ok["Target (S)"]) <= TOL + 1e-12).all()
    # every converged cell converged on its last read, and only there
    assert (data.groupby("Cell col")["Converged"].sum() <= 1).all()
    # the levels are ordered and separated (medians > 2 tolerances apart, no overlap)
    levels = s["levels"]
    assert [lv["target"] for lv in levels] == list(LEVELS)
    medians = np.array([lv["g_median"] for lv in levels])
    assert np.all(np.diff(medians) > 2 * TOL)
    for lo, hi in zip(LEVELS[:-1], LEVELS[1:], strict=True):
        assert final[final["Target (S)"] == lo]["Read G (S)"].max() < \
            final[final["Target (S)"] == hi]["Read G (S)"].min()
    assert all(lv["g_std"] < 2 * TOL for lv in levels)
    # pulse numbers count up from the initial read, every pulse has a read
    for _, cell in data.groupby("Cell col"):
        assert list(cell["Pulse"]) == list(range(len(cell)))
    sets = data[data["Kind"] == 1]
    resets = data[data["Kind"] == -1]
    assert sets["Gate (V)"].between(0.7 - 1e-9, 1.5 + 1e-9).all()
    assert (resets["Gate (V)"] == 2.8).all()
    assert resets["Amplitude (V)"].between(1.0 - 1e-9, 2.2 + 1e-9).all()
    return data, final


@pytest.mark.parametrize("reset_first", [True, False])
def test_adaptive_converges_in_fewer_pulses_than_ispp(sim_bench, data_root, tmp_path,
                                                      reset_first):
    """Same wafer (seed 1), same 12 cells, same tolerance: both algorithms reach the four
    levels; the adaptive one (aimed SET, fine identical RESET pulses) with fewer pulses."""
    from instruments.bench import Bench

    targets = ",".join(f"{g:g}" for g in LEVELS)
    row = 3 if reset_first else 4
    params = {"cells": f"{row},0-11", "targets": targets, "reset_first": reset_first}
    adaptive = prepare_run(_proc(algorithm="adaptive", **params), sim_bench, data_root,
                           Catalog(data_root)).run()
    data, final = _check_levels(adaptive)
    root = tmp_path / "ispp"
    root.mkdir()
    with Bench.open("simulated", data_dir=root, fresh=True) as bench:
        ispp = prepare_run(_proc(algorithm="ispp", **params), bench, root, Catalog(root)).run()
        assert all(v == 0.0 for v in bench.lab.dc_bias.values())
    ispp_data, ispp_final = _check_levels(ispp)
    assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())
    a, i = adaptive.summary, ispp.summary
    assert a["converged_fraction"] >= i["converged_fraction"]
    # fewer pulses on average (measured with seed 1, 24 cells: benchmarks/
    # bench_program_verify_gradual.py); a third fewer leaves margin for the cells of one row
    assert a["mean_pulses"] < 0.67 * i["mean_pulses"]
    # the adaptive RESET repeats identical pulses (gradual RESET) on some cell
    resets = data[data["Kind"] == -1]
    repeated = [np.any(np.diff(c["Amplitude (V)"].to_numpy()) == 0)
                for _, c in resets.groupby("Cell col") if len(c) > 1]
    assert any(repeated)
    # ISPP: SET steps raise the gate one step at a time, or back off
    sets = ispp_data[ispp_data["Kind"] == 1]
    if reset_first:  # from the HRS every cell climbs the SET staircase
        assert set(sets["Cell col"]) >= set(ispp_final[ispp_final["Pulse"] > 1]["Cell col"])
    else:  # formed cells (LRS ~90 uS) are trimmed down by RESET steps
        assert len(sets) < len(ispp_data[ispp_data["Kind"] == -1])
    for _, cell in sets.groupby("Cell col"):
        steps = np.diff(cell["Gate (V)"].to_numpy())
        assert np.all(np.isclose(steps, 0.02) | (steps < 0))  # +1 step, or back off


def test_single_target_for_all_cells_and_abort(sim_bench, data_root):
    box = {}

    def on_row(row):
        if row["Cell col"] == 1 and row["Pulse"] == 3:
            box["h"].stop()

    handle = prepare_run(_proc(cells="5,0-7", targets="30e-6"), sim_bench, data_root,
                         Catalog(data_root), RunCallbacks(on_row=on_row))
    box["h"] = handle
    out = handle.start().wait(60)
    assert out is not None and out.status == "aborted"
    assert out.summary["cells"] == 2
    assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())
    data = Results.load(str(out.file)).data
    assert set(data["Cell col"]) == {0, 1}
    assert (data["Target (S)"] == 30e-6).all()


def test_validation(sim_bench, data_root):
    cat = Catalog(data_root)
    with pytest.raises(ValueError, match="targets"):
        prepare_run(_proc(targets="1e-5,x"), sim_bench, data_root, cat)
    with pytest.raises(ValueError, match="algorithm"):
        prepare_run(_proc(algorithm="magic"), sim_bench, data_root, cat)
    with pytest.raises(ValueError, match="v_wl_start"):
        prepare_run(_proc(v_wl_start=1.6, v_wl_max=1.5), sim_bench, data_root, cat)
    with pytest.raises(LimitError):
        prepare_run(_proc(v_sl_max=4.5), sim_bench, data_root, cat)
    with pytest.raises(LimitError):
        prepare_run(_proc(set_amplitude=5.0), sim_bench, data_root, cat)
    with pytest.raises(LimitError):
        prepare_run(_proc(v_wl_read=4.5), sim_bench, data_root, cat)
