"""Procedures by command-line name: the built-in ones and those of installed plugins.

Plugins: an installed package that declares an entry point in the group
:data:`PLUGIN_GROUP` (``memprobe.procedures``), named after its procedure and pointing at a
:class:`~procedures.framework.base.BenchProcedure` subclass, for example in its ``pyproject.toml``::

    [project.entry-points."memprobe.procedures"]
    example-read-row = "memprobe_example_plugin:ReadRowProcedure"

adds that procedure to ``memprobe run --list``, the GUI's procedure list and recipes (everything
that looks procedures up here). A plugin that fails to load, is not a BenchProcedure, names a
different ``NAME`` than its entry point, or would replace a built-in procedure is skipped with a
warning (listed in :data:`PLUGIN_ERRORS`): a broken plugin never stops MemProbe.
``docs/examples/memprobe-plugin-example`` is a complete example.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from procedures.experiments.ber_2t2r import BER2T2RProcedure
from procedures.experiments.conductance_map import ConductanceMapProcedure
from procedures.experiments.endurance import EnduranceProcedure
from procedures.experiments.forming import FormingProcedure
from procedures.experiments.iv_cycling import IVCyclingProcedure
from procedures.experiments.program_verify import ProgramVerifyProcedure
from procedures.experiments.pulse_train import PulseTrainProcedure
from procedures.experiments.retention import RetentionProcedure
from procedures.framework.base import BenchProcedure
from procedures.learning.bnn_procedure import BNNMetaplasticProcedure
from procedures.learning.hybrid_procedure import BNNHybridProcedure
from procedures.learning.inference_procedure import BNNInferenceProcedure
from procedures.learning.mcmc_procedure import MCMCBayesProcedure, MCMCCalibrationProcedure

log = logging.getLogger(__name__)

PLUGIN_GROUP = "memprobe.procedures"
"""Entry-point group of procedure plugins."""

BUILTIN: dict[str, type[BenchProcedure]] = {
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
        BNNInferenceProcedure,
        BNNHybridProcedure,
        MCMCCalibrationProcedure,
        MCMCBayesProcedure,
    )
}

PROCEDURES: dict[str, type[BenchProcedure]] = {}
"""Every procedure by name (built-in first, then plugins); :func:`refresh_plugins` updates it
in place, so every module that imported it sees the plugins."""
PLUGINS: dict[str, str] = {}
"""Plugin procedure name -> the distribution (package) that provides it."""
PLUGIN_ERRORS: dict[str, str] = {}
"""Entry point name -> why it was skipped."""


def _load_plugins() -> tuple[dict[str, type[BenchProcedure]], dict[str, str], dict[str, str]]:
    found: dict[str, type[BenchProcedure]] = {}
    sources: dict[str, str] = {}
    errors: dict[str, str] = {}
    for ep in entry_points(group=PLUGIN_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", "?")
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not stop the application
            errors[ep.name] = f"{dist}: could not be loaded ({type(exc).__name__}: {exc})"
            continue
        if not (isinstance(cls, type) and issubclass(cls, BenchProcedure)):
            errors[ep.name] = f"{dist}: {ep.value} is not a BenchProcedure subclass"
        elif cls.NAME != ep.name:
            errors[ep.name] = f"{dist}: entry point {ep.name!r} but NAME is {cls.NAME!r}"
        elif ep.name in BUILTIN:
            errors[ep.name] = f"{dist}: would replace the built-in procedure {ep.name!r}"
        elif ep.name in found:
            errors[ep.name] = f"{dist}: {ep.name!r} is already provided by {sources[ep.name]}"
        else:
            found[ep.name] = cls
            sources[ep.name] = dist
    for name, why in errors.items():
        log.warning("procedure plugin %s skipped: %s", name, why)
    return found, sources, errors


def refresh_plugins() -> dict[str, type[BenchProcedure]]:
    """(Re)discover installed plugins and update :data:`PROCEDURES` in place; returns them."""
    found, sources, errors = _load_plugins()
    PROCEDURES.clear()
    PROCEDURES.update(BUILTIN)
    PROCEDURES.update(found)
    PLUGINS.clear()
    PLUGINS.update(sources)
    PLUGIN_ERRORS.clear()
    PLUGIN_ERRORS.update(errors)
    return found


refresh_plugins()


def procedure_class(name: str) -> type[BenchProcedure]:
    """The procedure class for a command-line name; KeyError lists the known names."""
    try:
        return PROCEDURES[name]
    except KeyError:
        raise KeyError(
            f"unknown procedure {name!r}; known: {', '.join(sorted(PROCEDURES))}"
        ) from None


__all__ = ["BUILTIN", "PLUGINS", "PLUGIN_ERRORS", "PLUGIN_GROUP", "PROCEDURES",
           "procedure_class", "refresh_plugins"]
