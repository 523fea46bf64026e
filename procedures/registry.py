"""Procedures by command-line name."""

from __future__ import annotations

from procedures.base import BenchProcedure
from procedures.ber_2t2r import BER2T2RProcedure
from procedures.conductance_map import ConductanceMapProcedure
from procedures.endurance import EnduranceProcedure
from procedures.forming import FormingProcedure
from procedures.iv_cycling import IVCyclingProcedure
from procedures.learning.bnn_procedure import BNNMetaplasticProcedure
from procedures.learning.mcmc_procedure import MCMCBayesProcedure, MCMCCalibrationProcedure
from procedures.program_verify import ProgramVerifyProcedure
from procedures.pulse_train import PulseTrainProcedure
from procedures.retention import RetentionProcedure

PROCEDURES: dict[str, type[BenchProcedure]] = {
    cls.NAME: cls
    for cls in (
        FormingProcedure,
        IVCyclingProcedure,
        RetentionProcedure,
        PulseTrainProcedure,
        ProgramVerifyProcedure,
        EnduranceProcedure,
        ConductanceMapProcedure,
        BER2T2RProcedure,
        BNNMetaplasticProcedure,
        MCMCCalibrationProcedure,
        MCMCBayesProcedure,
    )
}


def procedure_class(name: str) -> type[BenchProcedure]:
    """The procedure class for a command-line name; KeyError lists the known names."""
    try:
        return PROCEDURES[name]
    except KeyError:
        raise KeyError(
            f"unknown procedure {name!r}; known: {', '.join(sorted(PROCEDURES))}"
        ) from None
