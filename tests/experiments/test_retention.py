"""Retention bake on the simulated bench (simulated time), and the bench wait helper."""

from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
from pymeasure.experiment import Results

from instruments.limits import LimitError
from procedures.experiments.retention import STATE_HRS, STATE_LRS, RetentionProcedure
from procedures.framework.catalog import Catalog
from procedures.operations.cell_io import bench_clock, wait
from tests._procedures import prepare, stopped_at_first_progress

DIE_TEXT = "9,9"


_run = partial(prepare, RetentionProcedure)  # (bench, root, callbacks=None, **params)


def test_hotter_bake_drifts_more(sim_bench, data_root):
    # 12000 s: the bake the refit retention (prefactors / 4, see rram_params) needs at 250 C
    common = dict(die=DIE_TEXT, duration_s=12000.0, points=4, form_first=True)
    cool = _run(sim_bench, data_root, cells="0,0-7", temperature_c=150.0, **common).run()
    assert cool.status == "finished", cool.error
    assert not sim_bench.lab.prober.in_contact
    chip = sim_bench.lab.wafer.chip(9, 9)
    assert np.all(chip.conductance("1T1R")[0, 0:8:2] > 60e-6)  # the model's truth: still LRS
    hot = _run(sim_bench, data_root, cells="1,0-7", temperature_c=250.0, **common).run()
    assert hot.status == "finished", hot.error
    c, h = cool.summary, hot.summary
    assert c["n_lrs"] == c["n_hrs"] == 4 and h["n_lrs"] == h["n_hrs"] == 4
    # both states relax toward an intermediate conductance: LRS falls, HRS rises
    assert h["drift_lrs"] < -0.3 and h["drift_hrs"] > 0.5
    assert abs(c["drift_lrs"]) < 0.1 and abs(c["drift_hrs"]) < 0.2
    assert abs(h["drift_lrs"]) > 3 * abs(c["drift_lrs"])
    assert c["temperature_c"] == pytest.approx(150.0, abs=0.5)
    assert h["temperature_c"] == pytest.approx(250.0, abs=0.5)
    assert h["elapsed_s"] >= 12000.0
    # the model's truth agrees: the LRS cells of the hot run relaxed far below ~90 uS
    assert np.all(chip.conductance("1T1R")[1, 0:8:2] < 60e-6)
    # one row per cell and read point, temperature and time recorded on every row
    data = Results.load(str(hot.file)).data
    assert len(data) == 8 * 5
    assert np.allclose(data["Temperature (C)"], 250.0, atol=0.5)
    times = data.groupby("Point")["Time (s)"].min().to_numpy()
    assert np.all(np.diff(times) > 0) and times[-1] >= 12000.0
    assert set(data["State"]) == {STATE_LRS, STATE_HRS}
    # the chuck stays at the bake temperature (the operator decides), separated
    assert sim_bench.prober.heater().temperature == pytest.approx(250.0, abs=0.5)
    assert not sim_bench.lab.prober.in_contact
    assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())


def test_temperature_outside_the_bench_limits_is_refused(sim_bench, data_root):
    before = sim_bench.prober.heater().temperature
    with pytest.raises(LimitError, match="temperature"):
        _run(sim_bench, data_root, temperature_c=300.0)
    with pytest.raises(LimitError):
        _run(sim_bench, data_root, reset_stop=4.5)
    assert sim_bench.prober.heater().temperature == before


def test_unformed_cells_are_refused_without_form_first(sim_bench, data_root):
    out = _run(sim_bench, data_root, cells="5,0", die=DIE_TEXT, temperature_c=25.0,
               duration_s=10.0, points=2).run()
    assert out.status == "failed" and "unformed" in out.error
    assert not sim_bench.lab.prober.in_contact


def test_read_only_retention_classifies_by_conductance(sim_bench, data_root):
    out = _run(sim_bench, data_root, cells="6,0-1", die=DIE_TEXT, temperature_c=25.0,
               duration_s=100.0, points=2, program=False).run()
    assert out.status == "finished", out.error
    s = out.summary
    # fresh cells read as HRS, barely change at room temperature
    assert s["n_hrs"] == 2 and "n_lrs" not in s
    assert s["g_hrs_start"] < 0.1e-6


def test_abort_during_reads_leaves_the_bench_safe(sim_bench, data_root):
    out = stopped_at_first_progress(lambda cb: _run(
        sim_bench, data_root, cb, cells="7,0-1", die=DIE_TEXT, temperature_c=40.0,
        duration_s=1e5, points=50, form_first=True))
    assert out is not None and out.status == "aborted"
    assert out.summary["points_done"] < 51
    assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())
    assert not sim_bench.lab.prober.in_contact
    data = Results.load(str(out.file)).data
    assert 0 < len(data) < 2 * 51


def test_wait_advances_the_simulated_clock(sim_bench):
    t0 = bench_clock(sim_bench)
    assert wait(sim_bench, 3600.0)
    assert bench_clock(sim_bench) - t0 >= 3600.0
    assert not wait(sim_bench, 10.0, should_stop=lambda: True)


def test_wait_on_a_real_bench_sleeps_and_honours_stop():
    real = SimpleNamespace(lab=None)
    calls = []

    def stop_on_third() -> bool:
        calls.append(1)
        return len(calls) >= 3

    assert not wait(real, 60.0, should_stop=stop_on_third, slice_s=0.01)
    assert len(calls) == 3
    assert wait(real, 0.03, slice_s=0.01)
    assert wait(real, 0.0)


def test_multi_temperature_retention_fits_the_model_activation_energy(sim_bench, data_root):
    from pathlib import Path

    from instruments.sim.rram_params import RRAMParams

    out = _run(sim_bench, data_root, die=DIE_TEXT, cells="2,0-3", form_first=True,
               temperatures="200, 225, 250", duration_s=3e5, points=8, reset_stop=2.2).run()
    assert out.status == "finished", out.error
    s = out.summary
    assert set(s["t_half_s"]) == {"200", "225", "250"}
    t = [s["t_half_s"][k] for k in ("200", "225", "250")]
    assert all(v is not None for v in t) and t[0] > t[1] > t[2]  # hotter halves sooner
    assert t[2] < 6 * 3600  # window halved within hours at 250 C
    ea = RRAMParams().retention_ea_ev
    assert s["ea_ev"] == pytest.approx(ea, abs=0.15)
    assert s["ea_err_ev"] is not None and 0 < s["ea_err_ev"] < 0.3
    png = Path(s["arrhenius_png"])
    assert png.parent == Path(out.file).parent and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # one leg per set point, every row tagged with its set point and the chuck temperature
    data = Results.load(str(out.file)).data
    assert list(data.groupby("Set point (C)").size().index) == [200.0, 225.0, 250.0]
    for sp, leg in data.groupby("Set point (C)"):
        assert np.allclose(leg["Temperature (C)"], sp, atol=0.5)
        assert leg["Time (s)"].max() >= 3e5
    assert sim_bench.prober.heater().temperature == pytest.approx(250.0, abs=0.5)
    assert not sim_bench.lab.prober.in_contact
    assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())
    # the catalog has the fitted E_a
    entry = Catalog(data_root).get(out.run_id)
    assert entry.summary["ea_ev"] == pytest.approx(s["ea_ev"])


def test_several_temperatures_need_programming(sim_bench, data_root):
    with pytest.raises(ValueError, match="temperatures"):
        _run(sim_bench, data_root, die=DIE_TEXT, temperatures="200,250", program=False)
    with pytest.raises(ValueError, match="temperatures"):
        _run(sim_bench, data_root, die=DIE_TEXT, temperatures="200,hot")
    with pytest.raises(LimitError):
        _run(sim_bench, data_root, die=DIE_TEXT, temperatures="200,300")
