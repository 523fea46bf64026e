"""Base class of every MemProbe procedure.

A MemProbe procedure is a pymeasure :class:`~pymeasure.experiment.Procedure` with

* the shared target parameters (die, subsite, chip, array, cells, lot/wafer/operator),
* ``NAME`` (its command-line name) and ``DATA_COLUMNS`` with units,
* :meth:`validate` that checks every parameter against the bench's safety limits *before*
  anything is applied (the runner calls it; it raises ``ValueError``/``LimitError``),
* :meth:`summary` returning the run's figures for the catalog (e.g. ``v_form``, ``r_lrs``),
* a ``shutdown`` that always turns every output off.

The runner (``procedures.framework.runner``) gives the procedure its open bench as ``self.bench``
and a
:class:`~procedures.operations.cell_io.CellIO` as ``self.io`` before ``startup`` runs.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pymeasure.experiment import IntegerParameter, ListParameter, Parameter, Procedure

from instruments.bench_types import BenchInterface
from instruments.limits import SafetyLimits
from procedures.framework.targets import ARRAY_SHAPES, Cell, parse_cells, parse_die
from procedures.framework.validation import check_parameter_values, coerce_parameter

log = logging.getLogger(__name__)

DISPLAY_BATCH = "display batch"
"""Emit topic of rows (a dict of lists) for live displays only: the runner hands them to
``RunCallbacks.on_batch`` but they are not recorded (e.g. waveforms stored in HDF5)."""


class BenchProcedure(Procedure):
    """A procedure that runs on a bench, on selected cells of one die."""

    NAME: ClassVar[str] = ""
    """Command-line name (``memprobe run NAME``)."""
    ONLY_ARRAY: ClassVar[str] = ""
    """The one array the procedure runs on (``validate`` refuses another); "" = any."""

    die = Parameter("Die (col,row)", default="",
                    description="die to measure as 'col,row'; empty = the die under the chuck")
    subsite = IntegerParameter("Subsite", default=0, minimum=0, maximum=99,
                               description="subsite index within the die")
    chip = IntegerParameter("Chip (board socket)", default=-1, minimum=-1, maximum=63,
                            description="packaged bench: the socket of the chip to measure; "
                                        "-1 = the chip selected now (no prober: no die)")
    array = ListParameter("Array", choices=list(ARRAY_SHAPES), default="1T1R",
                          description="array of the test chip")
    cells = Parameter("Cells", default="0,0",
                      description="cells as 'row,col;...', ranges 'r0-r1,c0-c1' or 'all'")
    lot = Parameter("Lot", default="LOT0", description="lot identifier (data folder)")
    wafer_id = Parameter("Wafer", default="W00", description="wafer identifier (data folder)")
    operator = Parameter("Operator", default="", description="who runs the measurement")

    HISTORY_COLUMNS: ClassVar[tuple[str, ...]] = ()
    """CSV columns whose rows also go to the run's HDF5 ``/history`` table (per-cell histories,
    :mod:`procedures.framework.waveform_store`); empty: none."""
    HISTORY_WHERE: ClassVar[dict[str, float]] = {}
    """Only rows with these column values go to ``/history`` (e.g. ``{"Point": -1}``)."""

    #: set by the runner before startup
    bench: BenchInterface = None  # type: ignore[assignment]  # set by the runner
    io: Any = None
    data_root: Any = None
    #: the run's results CSV (set by the runner before startup; None outside a run)
    results_file: Any = None
    #: the run's HDF5 store (``RunStore``; set by the runner before startup; None: none)
    store: Any = None

    def hdf5_tables(self) -> list[Any]:
        """Extra HDF5 tables of the run besides ``/history`` (``waveform_store.Table``)."""
        return []

    # -- target -------------------------------------------------------------------------------
    def target_cells(self) -> list[Cell]:
        """The cells selected by the ``cells`` parameter on ``array``."""
        return parse_cells(self.cells, self.array)

    def target_die(self) -> tuple[int, int] | None:
        """The die parameter as (col, row), None for the die under the chuck."""
        return parse_die(self.die)

    def target_chip(self) -> int | None:
        """Packaged bench: the socket to select (``chip``), None for the one selected now."""
        chip = int(self.chip)
        return None if chip < 0 else chip

    # -- validation -----------------------------------------------------------------------------
    def validate(self, limits: SafetyLimits) -> None:
        """Check parameters (ranges, target, safety limits) before anything is applied.

        Subclasses extend it with their voltages and compliances (call ``super().validate``).
        Raises ``ValueError`` (``LimitError`` for safety limits) naming the parameter.
        """
        self.check_parameters()
        check_parameter_values(self)  # NaN/inf, 1.5 or true for an integer, names in paths
        self.target_die()
        self.target_cells()
        if self.ONLY_ARRAY and self.array != self.ONLY_ARRAY:
            raise ValueError(f"array must be {self.ONLY_ARRAY} for {self.NAME}, "
                             f"not {self.array!r}")

    # -- results --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Figures of the run for the catalog (partial figures for an aborted run)."""
        return {}

    def progress(self, fraction: float) -> None:
        """Emit progress in percent from a fraction 0..1."""
        self.emit("progress", max(0.0, min(100.0, 100.0 * fraction)))

    def shutdown(self) -> None:
        """Outputs off, always (also after an error or an abort)."""
        if self.bench is None:
            return
        for name, action in (("WGFMU", self._wgfmu_off), ("SMUs", self.bench.b1500.all_off)):
            try:
                action()
            except Exception as exc:  # the other instrument must still be turned off
                log.error("could not turn %s off: %s", name, exc)

    def _wgfmu_off(self) -> None:
        wg = getattr(self.bench, "wgfmu", None)
        if wg is not None:
            wg.safe_state()


def set_parameters(proc: Any, settings: dict[str, Any]) -> None:
    """Set pymeasure parameters of ``proc`` from values; ValueError naming the parameter.

    Float and integer values are converted strictly (:func:`~procedures.framework.validation.
    coerce_parameter`: no NaN/inf, no 1.5 or true for an integer).
    """
    objects = proc.parameter_objects()
    for key, value in settings.items():
        if key not in objects:
            raise ValueError(f"unknown parameter {key!r} for {proc.NAME}; "
                             f"known: {', '.join(objects)}")
        param = objects[key]
        value = coerce_parameter(key, param, value)
        try:
            param.value = value
        except (TypeError, ValueError) as exc:
            rng = ""
            if hasattr(param, "minimum") and hasattr(param, "maximum"):
                rng = f" (allowed {param.minimum:g} .. {param.maximum:g} {param.units or ''})"
            elif getattr(param, "choices", None):
                rng = f" (allowed: {', '.join(map(str, param.choices))})"
            raise ValueError(f"parameter {key} = {value!r}: {exc}{rng}") from None
        setattr(proc, key, param.value)
