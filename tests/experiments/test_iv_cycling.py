"""Quasi-static I-V cycling on the simulated bench: extraction against the model's truth."""

import numpy as np
import pytest
from pymeasure.experiment import Results

from instruments.limits import LimitError
from procedures.data.extract import reset_voltage, set_voltage
from procedures.experiments.forming import FormingProcedure
from procedures.experiments.iv_cycling import IVCyclingProcedure
from procedures.operations.cell_io import CellIO
from procedures.operations.programming import (
    FormingRamp,
    SwitchBias,
    form_with_ramp,
    sweep_reset,
    sweep_set,
)
from tests._procedures import prepare, stopped_at_first_progress

DIE = (9, 9)
DIE_TEXT = "9,9"


def _run(bench, root, cls, callbacks=None, **params):
    return prepare(cls, bench, root, callbacks, **params)


def _form(bench, root, cells):
    out = _run(bench, root, FormingProcedure, cells=cells, die=DIE_TEXT).run()
    assert out.status == "finished", out.error
    return out


def _assert_safe(bench):
    assert all(v == 0.0 for v in bench.lab.dc_bias.values())
    assert not bench.lab.prober.in_contact


def test_cycling_figures_match_the_model(sim_bench, data_root):
    _form(sim_bench, data_root, "0,0-3")
    out = _run(sim_bench, data_root, IVCyclingProcedure, cells="0,0-3", die=DIE_TEXT,
               cycles=4).run()
    assert out.status == "finished", out.error
    s = out.summary
    assert s["cycles_done"] == 16 and s["cells_cycled"] == 4
    # SET threshold across the cell 0.68 V (sigma 0.06): the applied BL voltage of the jump
    v_set = np.array(s["v_set_values"], dtype=float)
    assert np.all(np.isfinite(v_set))
    assert 0.6 < s["v_set"] < 0.8 and np.all((v_set > 0.45) & (v_set < 0.95))
    # RESET onset 0.73 V across the element, plus the access-transistor drop
    v_reset = np.array(s["v_reset_values"], dtype=float)
    assert np.all(np.isfinite(v_reset))
    assert 0.7 < s["v_reset"] < 1.0
    # LRS ~ I_c / V_c = 91 uS (+ ~1.3 kOhm transistor); HRS median ~74-110 kOhm
    assert 9e3 < s["r_lrs"] < 16e3
    assert 4e4 < s["r_hrs"] < 3e5
    assert s["on_off"] >= 5
    # the last leg was a SET: the last R_LRS of every cell matches the model's conductance
    truth = sim_bench.lab.wafer.chip(*DIE).conductance("1T1R")[0, :4]
    last_lrs = np.array(s["r_lrs_values"]).reshape(4, 4)[:, -1]
    assert np.allclose(last_lrs, 1 / truth, rtol=0.2)
    # one SET and one RESET leg of 2 x steps points per cycle, plus one read per leg
    data = Results.load(str(out.file)).data
    sweeps = data[data["Leg"].abs() == 1]
    assert len(sweeps) == 16 * 2 * 2 * 40
    assert set(data["Leg"]) == {-2, -1, 1, 2}
    assert data[data["Leg"] == -1]["Voltage (V)"].min() == pytest.approx(-1.8)
    assert data[data["Leg"] == 1]["Voltage (V)"].max() == pytest.approx(1.5)
    assert data[data["Leg"] == 1]["Current (A)"].max() <= 100e-6 * 1.05  # SMU compliance
    _assert_safe(sim_bench)


def test_set_first_ends_in_hrs_matching_the_model(sim_bench, data_root):
    _form(sim_bench, data_root, "1,0-3")
    out = _run(sim_bench, data_root, IVCyclingProcedure, cells="1,0-3", die=DIE_TEXT,
               cycles=2, reset_first=False).run()
    assert out.status == "finished", out.error
    s = out.summary
    v_set = np.array(s["v_set_values"], dtype=float).reshape(4, 2)
    # a freshly formed cell is already in LRS: the first SET shows no jump
    assert np.all(np.isnan(v_set[:, 0])) and np.all(np.isfinite(v_set[:, 1]))
    truth = sim_bench.lab.wafer.chip(*DIE).conductance("1T1R")[1, :4]
    last_hrs = np.array(s["r_hrs_values"]).reshape(4, 2)[:, -1]
    assert np.allclose(last_hrs, 1 / truth, rtol=0.2)


def test_extracted_thresholds_follow_the_drawn_ones(sim_bench, data_root):
    """Per cycle, V_set/V_reset against the thresholds the model drew for that cycle."""
    sim_bench.prober.step_next_die(*DIE, 0)
    sim_bench.prober.contact()
    chip = sim_bench.lab.wafer.chip(*DIE)
    io = CellIO(sim_bench)
    set_bias = SwitchBias(1.5, 1.5, 100e-6, steps=40)
    reset_bias = SwitchBias(1.8, 2.8, 1e-3, steps=40)
    d_set, d_reset, g_before_set = [], [], []
    for col in range(3):
        io.select("1T1R", 2, col)
        assert form_with_ramp(io, FormingRamp()) is not None
        idx = chip.index("1T1R", 2, col)
        for _ in range(5):
            true_reset = float(chip.pop.v_reset_cur[idx])
            v, i, _c = sweep_reset(io, reset_bias)
            d_reset.append(reset_voltage(v, i) - true_reset)
            true_set = float(chip.pop.v_set_cur[idx])
            g_before_set.append(float(chip.pop.g[idx]))
            v, i, _c = sweep_set(io, set_bias)
            d_set.append(set_voltage(v, i, 100e-6) - true_set)
    io.off()
    sim_bench.prober.separate()
    d_set, d_reset = np.array(d_set), np.array(d_reset)
    step_set, step_reset = 1.5 / 39, 1.8 / 39
    # SET from HRS: hardly any transistor drop; the first step at/after the threshold. A weak
    # RESET (a real occurrence of the model, see below) leaves a shallow state (> 20 uS): its
    # SET current is large enough for the transistor drop to show it a step or two late
    from_hrs = np.array(g_before_set) < 20e-6
    assert np.count_nonzero(from_hrs) >= 12
    ok_set = (d_set > -0.02) & (d_set < step_set + 0.03)
    assert np.all(ok_set[from_hrs])
    # RESET: the applied voltage includes the transistor drop (~0.05-0.1 V at ~70 uA). The lab
    # clock is modeled, so this sequence gives the same draws on every run; with the default
    # timing table two of these 15 RESETs are weak ones, seen a step late (a real occurrence
    # of the model, kept: two allowed)
    ok_reset = (d_reset > 0.0) & (d_reset < 0.12 + step_reset)
    assert np.count_nonzero(~ok_reset) <= 2
    assert np.std(d_reset[ok_reset]) < 0.04


def test_unformed_cells_refused_unless_form_first(sim_bench, data_root):
    out = _run(sim_bench, data_root, IVCyclingProcedure, cells="3,0-1", die=DIE_TEXT,
               cycles=1).run()
    assert out.status == "failed"
    assert "unformed" in out.error and "form_first" in out.error
    assert np.all(sim_bench.lab.wafer.chip(*DIE).conductance("1T1R")[3, :2] < 0.1e-6)
    _assert_safe(sim_bench)
    out = _run(sim_bench, data_root, IVCyclingProcedure, cells="3,0-1", die=DIE_TEXT,
               cycles=2, form_first=True).run()
    assert out.status == "finished", out.error
    assert out.summary["cells_formed_first"] == 2 and out.summary["cycles_done"] == 4
    assert out.summary["on_off"] >= 5


def test_validation_names_the_unsafe_parameter(sim_bench, data_root):
    with pytest.raises(LimitError, match="SL"):
        _run(sim_bench, data_root, IVCyclingProcedure, reset_stop=4.5)
    with pytest.raises(LimitError, match="compliance"):
        _run(sim_bench, data_root, IVCyclingProcedure, reset_compliance=5e-3)
    with pytest.raises(ValueError, match="1T1R"):
        _run(sim_bench, data_root, IVCyclingProcedure, array="2T2R")
    with pytest.raises(ValueError, match="v_read"):
        _run(sim_bench, data_root, IVCyclingProcedure, set_stop=0.2, v_read=0.3)
    with pytest.raises(LimitError):
        _run(sim_bench, data_root, IVCyclingProcedure, form_first=True, form_v_stop=4.8)
    assert not sim_bench.lab.prober.in_contact


def test_abort_stops_cycling_and_leaves_the_bench_safe(sim_bench, data_root):
    _form(sim_bench, data_root, "4,0")
    out = stopped_at_first_progress(lambda cb: _run(
        sim_bench, data_root, IVCyclingProcedure, cb, cells="4,0", die=DIE_TEXT, cycles=500))
    assert out is not None and out.status == "aborted"
    assert 1 <= out.summary["cycles_done"] < 500
    _assert_safe(sim_bench)
    data = Results.load(str(out.file)).data
    assert 0 < len(data) < 500 * 2 * 81
