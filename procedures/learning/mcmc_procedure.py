"""``mcmc-calibration`` and ``mcmc-bayes``: Bayesian learning with device variability.

``mcmc-calibration`` programs every selected 1T1R cell by RESET then SET at ``levels``
compliances from ``c_min`` to ``c_max`` (``repeats`` times, interleaved) and reads the
conductance after each SET: one row per program. The fit (mean and spread of G per compliance,
per-cell gain) is what ``mcmc-bayes`` uses to centre its proposals; the results file *is* the
calibration (``Calibration.from_results``).

``mcmc-bayes`` samples a Bayesian logistic regression of the breast-cancer data (PCA to
``n_features`` + bias, one device per parameter) by Metropolis-Hastings with physical proposals
(:mod:`procedures.learning.mcmc`). Its ``calibration`` parameter names an ``mcmc-calibration``
result (a results CSV path, or a catalog run id); empty runs the calibration inline on its own
cells first (chip) or uses the model's nominal law (ideal); a bad reference is refused by
``validate``, before the prober moves. One row per iteration.

Honest statistics: ``split_seed`` picks the train/test split (``seed`` only the chain's
accept/reject draws), so tables report mean +- sd over splits. The summary carries the
acceptance rate (``acceptance``) and a software point estimate on the same features
(``baseline_accuracy``: MAP logistic regression with the same Gaussian prior, scikit-learn;
``baseline_window_accuracy``: the same MAP restricted to the weights the calibrated conductance
window can represent, i.e. the same conductance scale as on chip). Wear (``wear``) is counted
from the operations the run applied (one cycle per RESET), never read from the twin.

``precycle`` > 0 first cycles every target cell that many times with SET/RESET pulses through
the endurance procedure's WGFMU path (``EnduranceProcedure``, one read per decade, a failing
cell stops cycling); the cycles it applied are ``precycle_cycles`` and ``wear_total`` adds the
run's own, so accuracy can be tabulated against counted wear.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
    Parameter,
)

from instruments.limits import SafetyLimits
from procedures.data.figures import Curve, curve_figure
from procedures.experiments.endurance import EnduranceProcedure
from procedures.framework.base import BenchProcedure
from procedures.framework.parameter_sets import DeviceOpParameters
from procedures.learning.conductances import ChipConductances
from procedures.learning.curves import ACCURACY_AXIS, ACCURACY_LIMITS, LearningFigure, percent
from procedures.learning.mcmc import (
    Calibration,
    ChipProposals,
    ConductanceSampler,
    IdealProposals,
    MCMCConfig,
    breast_cancer_data,
    logistic_baseline,
)
from procedures.learning.synapses import DeviceProgram

log = logging.getLogger(__name__)

DEFAULT_CELLS = "0-3,0-9"
"""4 rows (models) x 10 columns: 9 parameters (8 PCA features + bias) and one spare per row."""


class _ConductanceParameters(LearningFigure, DeviceOpParameters, BenchProcedure):
    """Parameters and helpers shared by the calibration and the sampler (1T1R programs), and
    their figure file (:class:`~procedures.learning.curves.LearningFigure`)."""

    ONLY_ARRAY = "1T1R"

    array = ListParameter("Array", choices=["1T1R"], default="1T1R",
                          description="array of the conductances (1T1R only)")
    cells = Parameter("Cells", default=DEFAULT_CELLS,
                      description="1T1R cells: rows = model slots, columns = parameters + spares")
    c_min = FloatParameter("Lowest SET compliance", units="A", default=10e-6, minimum=1e-6,
                           maximum=1e-3)
    c_max = FloatParameter("Highest SET compliance", units="A", default=160e-6, minimum=2e-6,
                           maximum=1e-3)
    form_first = BooleanParameter("Form unformed cells first", default=True)

    def device_program(self) -> DeviceProgram:
        """Bias conditions (the SET compliance varies per program, up to ``c_max``)."""
        return DeviceProgram(**self.device_op_values(self.c_max, self.v_reset))

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        if self.c_min >= self.c_max:
            raise ValueError(f"c_min ({self.c_min} A) must be below c_max ({self.c_max} A)")
        self.device_program().check(limits)

    def _grid(self) -> tuple[list[int], list[int]]:
        cells = self.target_cells()
        return sorted({r for r, _ in cells}), sorted({c for _, c in cells})

    def _calibrate(self, backend: ChipConductances, levels: int, repeats: int,
                   emit_rows: bool) -> Calibration | None:
        """Program every target cell at every level (interleaved); None if stopped."""
        comps = np.linspace(self.c_min, self.c_max, int(levels))
        cells = self.target_cells()
        c_list, g_list, cell_list = [], [], []
        total = max(1, int(repeats) * len(comps) * len(cells))
        done = 0
        for rep in range(int(repeats)):
            for lev, ic in enumerate(comps):
                for row, col in cells:
                    if self.should_stop():
                        return None
                    if not backend.ensure_formed(row, col, self.should_stop):
                        continue
                    g = backend.program(row, col, float(ic))
                    done += 1
                    if g is None:
                        continue
                    c_list.append(float(ic))
                    g_list.append(g)
                    cell_list.append((row, col))
                    if emit_rows:
                        self.emit_row({
                            "Cell row": row, "Cell col": col, "Level": lev, "Repeat": rep,
                            "Compliance (A)": float(ic), "Conductance (S)": g,
                        })
                if emit_rows:
                    self.progress(done / total)
        return Calibration.from_samples(np.array(c_list), np.array(g_list), cell_list,
                                        source="inline")


class MCMCCalibrationProcedure(_ConductanceParameters):
    """Compliance -> conductance calibration of 1T1R cells (mean, spread, per-cell gain)."""

    NAME = "mcmc-calibration"

    levels = IntegerParameter("Compliance levels", default=6, minimum=2, maximum=100)
    repeats = IntegerParameter("Repeats", default=3, minimum=1, maximum=1000)

    DATA_COLUMNS = ["Cell row", "Cell col", "Level", "Repeat", "Compliance (A)",
                    "Conductance (S)"]
    FIGURE = "calibration"
    FIGURE_COLUMNS = ("Compliance (A)", "Conductance (S)")

    def startup(self) -> None:
        self.calibration: Calibration | None = None
        self.backend: ChipConductances | None = None

    def execute(self) -> None:
        self.backend = ChipConductances(self.io, self.device_program(), self.form_first)
        self.calibration = self._calibrate(self.backend, self.levels, self.repeats, True)

    def draw_figure(self, path: Path) -> str:
        """Read conductance (uS) after SET vs SET compliance (uA): every program and the median
        per compliance level."""
        ic, g = self.column("Compliance (A)") * 1e6, self.column("Conductance (S)") * 1e6
        levels = np.unique(ic)
        medians = [float(np.median(g[ic == c])) for c in levels]
        return curve_figure(
            [Curve("programs", ic, g, "."), Curve("median per level", levels, medians)], path,
            title=f"{self.NAME}: conductance after SET vs compliance",
            xlabel="SET compliance (uA)", ylabel="read conductance (uS)")

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = self.figure_outputs()
        cal = getattr(self, "calibration", None)
        if cal is not None:
            out.update(cal.figures())
        b = getattr(self, "backend", None)
        if b is not None:
            out.update(device_programs=b.counters.device_programs, wear=b.wear(),
                       device_failures=b.counters.device_failures,
                       devices_formed=b.counters.devices_formed)
        return out


def load_calibration(text: str, data_root: Path | None) -> Calibration:
    """A calibration from an ``mcmc-calibration`` results file path or a catalog run id."""
    from pymeasure.experiment import Results

    text = text.strip()
    if text.isdigit():
        from procedures.framework.catalog import Catalog

        if data_root is None:
            from instruments.datadir import default_data_root

            data_root = default_data_root()
        catalog = Catalog(data_root)
        try:
            info = catalog.get(int(text))
        except KeyError:
            raise ValueError(f"calibration: no run {text} in the catalog of {data_root}") from None
        finally:
            catalog.close()
        if info.procedure != MCMCCalibrationProcedure.NAME:
            raise ValueError(f"calibration: run {text} is a {info.procedure!r} run, not "
                             f"{MCMCCalibrationProcedure.NAME!r}")
        path = Path(info.file)
    else:
        path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError(f"calibration: no results file {str(path)!r}")
    return Calibration.from_results(Results.load(str(path)).data, source=str(path))


class MCMCBayesProcedure(_ConductanceParameters):
    """Bayesian logistic regression by MCMC with physical proposals (Dalgaty et al. 2021)."""

    NAME = "mcmc-bayes"

    iterations = IntegerParameter("Iterations", default=500, minimum=1, maximum=1_000_000)
    burn_in = IntegerParameter("Burn-in", default=150, minimum=0, maximum=1_000_000,
                               description="iterations before posterior samples are kept")
    seed = IntegerParameter("Seed", default=0, minimum=0, maximum=2**31 - 1,
                            description="accept/reject draws (the proposals are the devices')")
    n_features = IntegerParameter("PCA features", default=8, minimum=1, maximum=30)
    g_ref = FloatParameter("Conductance of weight 0", units="S", default=60e-6, minimum=1e-6,
                           maximum=1e-3)
    g_scale = FloatParameter("Conductance per unit weight", units="S", default=10e-6,
                             minimum=1e-7, maximum=1e-3)
    prior_sigma = FloatParameter("Prior sigma of the weights", default=2.0, minimum=0.01,
                                 maximum=1000)
    calibration = Parameter("Calibration", default="",
                            description="mcmc-calibration results file or run id; empty = "
                                        "calibrate inline (chip) / nominal model (ideal)")
    cal_levels = IntegerParameter("Inline calibration levels", default=5, minimum=2,
                                  maximum=100)
    cal_repeats = IntegerParameter("Inline calibration repeats", default=2, minimum=1,
                                   maximum=100)
    test_fraction = FloatParameter("Test fraction", default=0.3, minimum=0.05, maximum=0.9)
    split_seed = IntegerParameter("Split seed", default=0, minimum=0, maximum=2**31 - 1,
                                  description="train/test split of the data set (vary it for "
                                              "honest statistics: mean +- sd over splits)")
    backend = ListParameter("Conductances", choices=["chip", "ideal"], default="chip",
                            description="chip: 1T1R cells of the contacted die; ideal: software "
                                        "draws from the calibration")
    precycle = IntegerParameter("Pre-cycling (cycles per cell)", default=0, minimum=0,
                                maximum=10**10,
                                description="SET/RESET pulse cycles applied to every cell first "
                                            "(the endurance procedure's WGFMU path); 0 = none")

    DATA_COLUMNS = [
        "Iteration", "Accepted", "Acceptance rate", "Log-likelihood", "Proposal log-likelihood",
        "Test accuracy", "Train accuracy", "Samples", "Device programs", "Device failures",
        "Wear (cycles)",
    ]
    FIGURE_COLUMNS = ("Iteration", "Test accuracy", "Train accuracy", "Acceptance rate")

    #: data root for resolving a calibration run id (the runner may set it)
    data_root: Path | None = None

    def validate(self, limits: SafetyLimits) -> None:
        if self.backend == "chip":
            super().validate(limits)
            rows, cols = self._grid()
            if len(cols) < self.n_features + 1:
                raise ValueError(f"cells: the model needs {self.n_features + 1} columns "
                                 f"(n_features + bias), cells offers {len(cols)}")
            if len(rows) < 2:
                raise ValueError("cells: MCMC needs at least two rows (current + proposal)")
        else:
            self.check_parameters()
        if self.burn_in >= self.iterations:
            raise ValueError(f"burn_in ({self.burn_in}) must be below iterations "
                             f"({self.iterations})")
        if self.precycle > 0:
            if self.backend != "chip":
                raise ValueError("precycle: pre-cycling wears real devices; it needs "
                                 "backend = chip")
            self.precycler().validate(limits)
        # a bad calibration reference is refused here, before the prober moves or contacts
        self._cal_loaded = (load_calibration(self.calibration, self._data_root())
                            if self.calibration.strip() else None)

    def precycler(self) -> EnduranceProcedure:
        """The endurance run that pre-cycles the target cells (``precycle`` cycles each)."""
        e = EnduranceProcedure()
        e.die, e.subsite, e.array, e.cells = self.die, self.subsite, "1T1R", self.cells
        e.cycles, e.reads_per_decade, e.stop_on_failure = int(self.precycle), 1, True
        e.form_first = bool(self.form_first)
        e.form_v_stop, e.form_compliance = self.form_v_stop, self.form_compliance
        return e

    def _precycle(self) -> bool:
        """Cycle every target cell ``precycle`` times through the endurance path; False if
        stopped. The cycles applied (counted by the endurance run) are the pre-cycling wear."""
        e = self.precycler()
        e.bench, e.io, e.should_stop = self.bench, self.io, self.should_stop
        e.emit = lambda topic, record: None  # its rows are not this run's rows
        e.startup()
        try:
            e.execute()
        finally:
            self.io.off()
        recs = list(e.records.values())
        self.precycle_figures = {
            "precycle_cycles": int(sum(r.cycles_done for r in recs)),
            "precycle_cells": len(recs),
            "precycle_failed_cells": [[r.row, r.col] for r in recs if r.failure_mode],
        }
        return not self.should_stop()

    def _data_root(self) -> Path | None:
        """The runner's data root (None: the default one, see ``load_calibration``)."""
        return Path(self.data_root) if self.data_root is not None else None

    def startup(self) -> None:
        self.sampler: ConductanceSampler | None = None
        self.cal: Calibration | None = None
        self.cells_backend: ChipConductances | None = None
        self.proposals: Any = None

    def execute(self) -> None:
        data = breast_cancer_data(int(self.n_features), int(self.split_seed),
                                  float(self.test_fraction))
        rng = np.random.default_rng(int(self.seed))
        if self.backend == "chip" and self.precycle > 0 and not self._precycle():
            return
        if self.backend == "chip":
            self.cells_backend = ChipConductances(self.io, self.device_program(), self.form_first)
        if self.calibration.strip():
            self.cal = getattr(self, "_cal_loaded", None) or load_calibration(
                self.calibration, self._data_root())
        elif self.backend == "chip":
            assert self.cells_backend is not None
            log.info("no calibration given: calibrating the cells inline")
            self.cal = self._calibrate(self.cells_backend, self.cal_levels, self.cal_repeats,
                                       emit_rows=False)
            if self.cal is None:
                return
        else:
            self.cal = Calibration.nominal()
        if self.backend == "chip":
            rows, cols = self._grid()
            self.proposals = ChipProposals(self.cells_backend, self.cal, rows, cols,
                                           data.x_train.shape[1])
        else:
            self.proposals = IdealProposals(self.cal, rng)
        cfg = MCMCConfig(g_ref=self.g_ref, g_scale=self.g_scale, prior_sigma=self.prior_sigma,
                         burn_in=int(self.burn_in))
        self.sampler = s = ConductanceSampler(self.proposals, data, self.cal, cfg, rng)
        self.baseline = logistic_baseline(data, float(self.prior_sigma), s.weight_bounds())
        if not s.start(self.should_stop):
            return
        for k in range(int(self.iterations)):
            if self.should_stop():
                return
            r = s.step(self.should_stop)
            if r is None:
                return
            c = self.proposals.counters
            self.emit_row({
                "Iteration": r.iteration, "Accepted": int(r.accepted),
                "Acceptance rate": r.acceptance_rate, "Log-likelihood": r.log_likelihood,
                "Proposal log-likelihood": r.proposal_log_likelihood,
                "Test accuracy": r.test_accuracy, "Train accuracy": r.train_accuracy,
                "Samples": r.samples, "Device programs": c.device_programs,
                "Device failures": c.device_failures, "Wear (cycles)": self.proposals.wear(),
            })
            self.progress((k + 1) / int(self.iterations))

    def draw_figure(self, path: Path) -> str:
        """Accuracy (%) of the posterior average vs iteration (test and train), the acceptance
        rate (%), the software MAP baseline as a reference line and the end of burn-in."""
        it = self.column("Iteration")
        curves = [Curve("test accuracy", it, percent(self.column("Test accuracy")), "-"),
                  Curve("train accuracy", it, percent(self.column("Train accuracy")), "-"),
                  Curve("acceptance rate", it, percent(self.column("Acceptance rate")), ":")]
        base = (getattr(self, "baseline", None) or {}).get("baseline_accuracy")
        return curve_figure(
            curves, path, title=f"{self.NAME}: learning curve ({self.backend})",
            xlabel="iteration", ylabel=f"{ACCURACY_AXIS}, acceptance rate (%)",
            hlines={"software MAP baseline (test)": 100.0 * base} if base is not None else None,
            vlines={"end of burn-in": float(self.burn_in)} if self.burn_in > 0 else None,
            ylim=ACCURACY_LIMITS, integer_x=True)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backend": self.backend, **self.figure_outputs()}
        s = getattr(self, "sampler", None)
        if s is not None and s.iteration > 0:
            out.update(
                test_accuracy=s.test_accuracy(), train_accuracy=s.train_accuracy(),
                acceptance=s.accepted / s.iteration,
                acceptance_rate=s.accepted / s.iteration, iterations_done=s.iteration,
                samples=len(s.samples), log_likelihood=s.log_lik,
            )
            if s.samples:
                out["posterior_mean_weights"] = [
                    float(v) for v in s.weights(np.mean(s.samples, axis=0))]
        out.update(getattr(self, "baseline", None) or {})
        pre = getattr(self, "precycle_figures", None)
        if pre is not None:
            out.update(pre)
        out["split_seed"] = int(self.split_seed)
        cal = getattr(self, "cal", None)
        if cal is not None:
            out["calibration"] = cal.source
            out.update(cal.figures())
        p = getattr(self, "proposals", None)
        if p is not None:
            c = p.counters
            out.update(device_programs=c.device_programs, wear=p.wear(),
                       device_failures=c.device_failures, devices_formed=c.devices_formed)
            out["wear_total"] = int(p.wear()) + int((pre or {}).get("precycle_cycles", 0))
            if c.failed_devices:
                out["failed_devices"] = [list(d) for d in c.failed_devices]
        elif getattr(self, "cells_backend", None) is not None:
            c = self.cells_backend.counters
            out.update(device_programs=c.device_programs, device_failures=c.device_failures)
        return out


__all__ = ["MCMCBayesProcedure", "MCMCCalibrationProcedure", "load_calibration"]
