"""``BenchProcedure.ONLY_ARRAY``: a procedure made for one array refuses another in ``validate``,
with one line naming the parameter, before anything is applied (no bench is needed)."""

from __future__ import annotations

import pytest

from instruments.limits import SafetyLimits
from procedures.experiments.ber_2t2r import BER2T2RProcedure
from procedures.experiments.conductance_map import ConductanceMapProcedure
from procedures.learning.mcmc_procedure import MCMCCalibrationProcedure


@pytest.mark.parametrize("cls, wrong", [(BER2T2RProcedure, "1T1R"),
                                        (MCMCCalibrationProcedure, "2T2R")])
def test_the_other_array_is_refused_naming_the_procedure(cls, wrong):
    proc = cls()
    proc.cells = "0,0"
    proc.validate(SafetyLimits())  # its own array passes
    proc.array = wrong  # as a plugin or a stale setting could leave it
    with pytest.raises(ValueError, match=rf"array must be {cls.ONLY_ARRAY} for {cls.NAME}, "
                                         rf"not '{wrong}'"):
        proc.validate(SafetyLimits())


def test_a_procedure_for_any_array_takes_both():
    assert ConductanceMapProcedure.ONLY_ARRAY == ""
    proc = ConductanceMapProcedure()
    proc.cells = "0,0"
    for array in ("1T1R", "2T2R"):
        proc.array = array
        proc.validate(SafetyLimits())
