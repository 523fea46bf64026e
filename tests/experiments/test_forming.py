"""Forming on the simulated bench, through the runner, the catalog and the results file."""

import numpy as np
from pymeasure.experiment import Results

from procedures.experiments.forming import FormingProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run


def _form(bench, root, **params):
    proc = FormingProcedure()
    for k, v in params.items():
        setattr(proc, k, v)
    catalog = Catalog(root)
    outcome = prepare_run(proc, bench, root, catalog).run()
    return outcome, catalog


def test_forming_jump_between_2_and_4_volts_and_lrs_after(sim_bench, data_root):
    outcome, catalog = _form(sim_bench, data_root, cells="0,0-7", die="9,9")
    assert outcome.status == "finished", outcome.error
    s = outcome.summary
    assert s["cells_formed"] == 8
    v = np.array(s["v_form_values"])
    assert np.all((v > 2.0) & (v < 4.0))
    # LRS after forming at 100 uA: 30-120 uS (physics.md)
    assert 30e-6 < s["g_after_form"] < 120e-6
    # file reloadable by pymeasure, rows as measured
    data = Results.load(str(outcome.file)).data
    assert set(data["Cell col"]) == set(range(8))
    up = data[data["Direction"] == 1]
    assert up["Voltage (V)"].max() <= 4.0 + 1e-9
    entry = catalog.get(outcome.run_id)
    assert entry.status == "finished" and entry.die == (9, 9) and entry.summary["v_form"] > 2
    # chuck separated and outputs off afterwards
    assert not sim_bench.lab.prober.in_contact
    assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())


def test_formed_cell_is_refused_unless_forced(sim_bench, data_root):
    first, _ = _form(sim_bench, data_root, cells="3,3")
    assert first.status == "finished"
    again, catalog = _form(sim_bench, data_root, cells="3,3")
    assert again.status == "failed" and "already formed" in again.error
    assert catalog.get(again.run_id).status == "failed"
    forced, _ = _form(sim_bench, data_root, cells="3,3", force=True)
    assert forced.status == "finished"
