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


@pytest.mark.parametrize("reset_first", [True, False])
def test_ispp_converges_to_four_ordered_levels(sim_bench, data_root, reset_first):
    targets = ",".join(f"{g:g}" for g in LEVELS)
    row = 3 if reset_first else 4
    out = prepare_run(_proc(cells=f"{row},0-11", targets=targets, reset_first=reset_first),
                      sim_bench, data_root, Catalog(data_root)).run()
    assert out.status == "finished", out.error
    s = out.summary
    assert s["cells"] == 12 and s["converged_fraction"] >= 0.9
    assert s["median_abs_error"] <= TOL
    assert 1 <= s["median_pulses"] <= 60
    # mean pulses to target: 13-16 measured (benchmarks/bench_program_verify_gradual.py, 24-48
    # cells, both reset_first settings); 25 leaves margin for the seed and the cells
    assert 1 <= s["mean_pulses"] <= 25
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
    # SET steps raise the gate, RESET steps the SL amplitude; the gate of RESET stays high
    sets = data[data["Kind"] == 1]
    resets = data[data["Kind"] == -1]
    assert len(resets) > 0
    if reset_first:  # from the HRS every cell climbs the SET staircase
        assert set(sets["Cell col"]) >= set(final[final["Pulse"] > 1]["Cell col"])
    else:  # formed cells (LRS ~90 uS) are trimmed down by RESET steps
        assert len(sets) < len(resets)
    assert sets["Gate (V)"].between(0.7 - 1e-9, 1.5 + 1e-9).all()
    assert (resets["Gate (V)"] == 2.8).all()
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
    with pytest.raises(ValueError, match="v_wl_start"):
        prepare_run(_proc(v_wl_start=1.6, v_wl_max=1.5), sim_bench, data_root, cat)
    with pytest.raises(LimitError):
        prepare_run(_proc(v_sl_max=4.5), sim_bench, data_root, cat)
    with pytest.raises(LimitError):
        prepare_run(_proc(set_amplitude=5.0), sim_bench, data_root, cat)
    with pytest.raises(LimitError):
        prepare_run(_proc(v_wl_read=4.5), sim_bench, data_root, cat)
