"""Retention on packaged chips under the twin's ThermoStream: the bake runs at the set point
(no refusal as on a board in air), its rows carry the DUT temperature read back, and the
chips' retention physics follows it (a hotter bake drifts more)."""

from __future__ import annotations

import pytest
from pymeasure.experiment import Results

from instruments.bench import Bench
from procedures.experiments.forming import FormingProcedure
from procedures.experiments.retention import RetentionProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run


def _run(bench, root, proc, **params):
    for k, v in params.items():
        setattr(proc, k, v)
    return prepare_run(proc, bench, root, Catalog(root)).run()


def test_a_hot_bake_on_the_board_drifts_more_than_a_cool_one(data_root):
    with Bench.open("simulated-packaged-thermostream", data_dir=data_root / "lab",
                    fresh=True) as bench:
        drifts = {}
        for chip, celsius in ((0, 25.0), (1, 150.0)):
            formed = _run(bench, data_root, FormingProcedure(), chip=chip, cells="0,0-7")
            assert formed.status == "finished", formed.error
            bake = _run(bench, data_root, RetentionProcedure(), chip=chip, cells="0,0-7",
                        temperature_c=celsius, duration_s=3600.0, points=4, program=True)
            assert bake.status == "finished", bake.error
            temps = Results.load(str(bake.file)).data["Temperature (C)"]
            assert temps.between(celsius - 1.0, celsius + 1.0).all()  # read back every row
            assert bake.summary["temperature_c"] == pytest.approx(celsius, abs=1.0)
            drifts[celsius] = (abs(bake.summary["drift_lrs"]), abs(bake.summary["drift_hrs"]))
        assert drifts[150.0][0] > 2 * drifts[25.0][0] and drifts[150.0][1] > 2 * drifts[25.0][1]
        # the heater is left at the bake temperature (as the chuck is): the operator decides
        assert bench.heater.temperature() == pytest.approx(150.0, abs=1.0)
        assert bench.lab.driven_terminals() == []
