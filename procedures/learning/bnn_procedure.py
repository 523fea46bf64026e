"""``bnn-metaplastic``: continual learning of a binarized network tiled over 2T2R arrays.

The binary weights of a binarized perceptron (:mod:`procedures.learning.bnn`, default 64 real
inputs -> 128 hidden -> 10 classes = 9,472 weights) live in the 2T2R arrays of several dies
(default 10 dies, ~948 pairs each), one pair per weight, through the researcher API
(:class:`~procedures.learning.chip_api.BinaryWeights`). What stays on the computer: the real
hidden weights, the optimiser, and the batch norms' affine parameters of every task.

Normalisation protocol (Laborieux et al. 2021 and their public code): batch norm with the
statistics of the batch (training batches; the whole test set of a task when testing), no
running statistics; gamma/beta (off-chip) are saved at the end of each task and restored before
testing that task later; the first layer takes the real-valued pixels (its weighted sum is
computed on the host from the bits read). Adam restarts at each task.

Per mini-batch: the forward/backward pass uses the bits the host wrote and verified (cached, no
array read); the metaplastic Adam rule (``meta`` = m) updates the hidden weights; every weight
whose sign flipped is programmed, grouped by die so each die with a flip is visited once (step,
program, PCSA verify, repair stuck pairs with a spare of the same die). After every epoch all
tiles are read back by the PCSA (bit errors counted) and every task seen so far is tested with
the bits read. Tasks are permuted-pixel versions of scikit-learn's 8x8 digits. A run that
completes steps back to the die it started on (an aborted one stops where it is, separated).

``backend = ideal`` runs the same training with software synapses (no bench access) - the
reference for the statistics across m and seeds (``benchmarks/learning_table.py``).
"""

from __future__ import annotations

import logging
import math
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
from procedures.framework.base import BenchProcedure
from procedures.framework.parameter_sets import DeviceOpParameters
from procedures.framework.targets import parse_cells, parse_die
from procedures.learning.bnn import (
    INPUT_LAYOUTS,
    BinarizedMLP,
    BNNConfig,
    NormState,
    batches,
    permuted_digits_tasks,
    task_accuracies,
)
from procedures.learning.chip_api import ChipSession
from procedures.learning.curves import ACCURACY_AXIS, ACCURACY_LIMITS, LearningFigure, percent
from procedures.learning.hybrid import energy_proxy
from procedures.learning.synapses import DeviceProgram, IdealPairs
from procedures.operations.cell_io import bench_clock

log = logging.getLogger(__name__)

MAX_TASKS = 8
"""Most tasks of one run (one accuracy column each)."""
TASK_COLUMNS = [f"Task {k + 1} accuracy" for k in range(MAX_TASKS)]
DEFAULT_DIES = "8,9;9,9;10,9;11,9;12,9;12,10;11,10;10,10;9,10;8,10"
"""Ten neighbouring dies (a serpentine over a 5 x 2 block near the wafer centre)."""


def parse_dies(text: str) -> list[tuple[int, int]]:
    """``'c,r;c,r;...'`` -> [(col, row), ...]; ValueError naming the parameter."""
    out = []
    for part in (text or "").split(";"):
        if part.strip():
            try:
                die = parse_die(part)
            except ValueError as exc:
                raise ValueError(f"dies: {exc}") from None
            assert die is not None
            out.append(die)
    if not out:
        raise ValueError("dies: give at least one die as 'col,row' (several: 'c,r;c,r')")
    if len(set(out)) != len(out):
        raise ValueError(f"dies: a die is listed twice in {text!r}")
    return out


class TileParameters:
    """Where a network's binary weights live: the 2T2R arrays of ``dies`` (mixin of the BNN
    procedures, listed before :class:`~procedures.framework.base.BenchProcedure`)."""

    ONLY_ARRAY = "2T2R"

    array = ListParameter("Array", choices=["2T2R"], default="2T2R",
                          description="array holding the binary weights (2T2R only)")
    dies = Parameter("Dies", default=DEFAULT_DIES,
                     description="dies whose 2T2R arrays hold the tiles: 'c,r;c,r;...'")

    def tile_dies(self) -> list[tuple[int, int]]:
        """The dies of the tiles (the ``dies`` parameter)."""
        return parse_dies(self.dies)


class BNNMetaplasticProcedure(LearningFigure, TileParameters, DeviceOpParameters,
                              BenchProcedure):
    """Continual learning of a binarized network on tiled 2T2R synapses, metaplastic Adam.

    Figure: ``<results>-learning.png``, the test accuracy of every task and the training
    accuracy of the current one after each epoch (summary ``learning_png``)."""

    NAME = "bnn-metaplastic"

    cells = Parameter("Cells", default="all",
                      description="2T2R pairs used on each die (weights spread evenly over the "
                                  "dies, the rest are spares): 'r0-r1,p0-p1' or 'all'")
    meta = FloatParameter("Metaplasticity m", default=1.35, minimum=0, maximum=100,
                          description="f_meta = 1 - tanh^2(m |W_h|); 0 = plain BNN")
    tasks = IntegerParameter("Tasks", default=2, minimum=1, maximum=MAX_TASKS,
                             description="permuted-digits tasks learned in sequence")
    epochs = IntegerParameter("Epochs per task", default=12, minimum=1, maximum=1000)
    seed = IntegerParameter("Seed", default=0, minimum=0, maximum=2**31 - 1,
                            description="initial weights, batch order and task permutations")
    n_hidden = IntegerParameter("Hidden neurons", default=128, minimum=1, maximum=1024)
    inputs = ListParameter("Input pixels", choices=list(INPUT_LAYOUTS), default="8x8",
                           description="8x8 digits as is, cropped to 8x6, or pooled to 4x4 "
                                       "(real values)")
    learning_rate = FloatParameter("Learning rate", default=0.04, minimum=1e-5, maximum=1.0,
                                   description="Adam step on the hidden weights")
    batch_size = IntegerParameter("Batch size", default=32, minimum=2, maximum=2048)
    train_limit = IntegerParameter("Training samples", default=0, minimum=0, maximum=2000,
                                   description="use only this many training samples (0 = all)")
    backend = ListParameter("Synapses", choices=["chip", "ideal"], default="chip",
                            description="chip: 2T2R pairs of the dies; ideal: software")
    form_first = BooleanParameter("Form unformed devices first", default=True)
    set_compliance = FloatParameter("SET compliance", units="A", default=100e-6, minimum=1e-6,
                                    maximum=10e-3)

    DATA_COLUMNS = [
        "Task", "Epoch", "Step", "Loss", "Train accuracy", *TASK_COLUMNS, "Mean accuracy",
        "Device programs", "Pair programs", "Bit errors", "Device failures", "Wear (cycles)",
        "Prober moves", "Bench time (s)",
    ]
    FIGURE_COLUMNS = ("Step", "Task", "Train accuracy", *TASK_COLUMNS)

    # -- configuration --------------------------------------------------------------------------
    def network_config(self) -> BNNConfig:
        """The network and optimiser of this run."""
        return BNNConfig(n_in=INPUT_LAYOUTS[self.inputs], n_hidden=int(self.n_hidden),
                         lr=float(self.learning_rate), meta=float(self.meta))

    def device_program(self) -> DeviceProgram:
        """Bias conditions of the device operations."""
        return DeviceProgram(**self.device_op_values(self.set_compliance, self.v_reset))

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        if self.backend == "chip":
            self.device_program().check(limits)
            dies = self.tile_dies()
            n = self.network_config().n_weights
            pairs = len(parse_cells(self.cells, "2T2R"))
            if math.ceil(n / len(dies)) > pairs:
                raise ValueError(
                    f"dies/cells: the network needs {n} 2T2R pairs but {len(dies)} dies x "
                    f"{pairs} pairs is too few; add dies, select more pairs or reduce n_hidden"
                )

    # -- run --------------------------------------------------------------------------------------
    def startup(self) -> None:
        self.acc_matrix = np.full((int(self.tasks), int(self.tasks)), np.nan)
        self.last_accuracies: list[float] = []
        self.synapses: Any = None
        self.epochs_done = 0
        self.t0 = bench_clock(self.bench) if self.bench is not None else 0.0

    def _bench_time(self) -> float:
        return bench_clock(self.bench) - self.t0 if self.bench is not None else 0.0

    def _network(self) -> tuple[BNNConfig, list, np.random.Generator, BinarizedMLP]:
        """(config, tasks, the run's rng, the network initialised from it)."""
        cfg = self.network_config()
        tasks = permuted_digits_tasks(int(self.tasks), int(self.seed), self.inputs,
                                      train_limit=int(self.train_limit))
        rng = np.random.default_rng(int(self.seed))
        return cfg, tasks, rng, BinarizedMLP(cfg, rng)

    def execute(self) -> None:
        cfg, tasks, rng, net = self._network()
        start_die = None
        if self.backend == "chip":
            self.session = ChipSession(self.bench, self.device_program(), self.form_first,
                                       int(self.subsite))
            start_die = self.session.die
            self.synapses = self.session.binary_weights(cfg.shapes, self.tile_dies(), self.cells)
        else:
            self.synapses = IdealPairs(cfg.n_weights)
        if not self.synapses.write(net.flat_signs(), self.should_stop):
            return
        if self._train(net, tasks, rng) and start_die is not None:
            self.session.stepper.visit(start_die)  # end where the run started (a wafer run
            # continues there)

    def _train(self, net: BinarizedMLP, tasks: list, rng: np.random.Generator) -> bool:
        """Every task in turn, ``epochs`` epochs of mini-batches each (:meth:`_start_task`,
        :meth:`_train_batch`, an evaluation and :meth:`_after_epoch`); False if stopped."""
        n_batches = len(batches(len(tasks[0].y_train), int(self.batch_size),
                                np.random.default_rng(0)))  # a count: the run's rng untouched
        total = int(self.tasks) * int(self.epochs) * n_batches
        done = step = 0
        self.norms: list[NormState] = []
        for t, task in enumerate(tasks):
            self._start_task(net)
            for epoch in range(int(self.epochs)):
                losses = []
                for b in batches(len(task.y_train), int(self.batch_size), rng):
                    if self.should_stop():
                        return False
                    losses.append(self._train_batch(net, task.x_train[b], task.y_train[b],
                                                    epoch))
                    done += 1
                    self.progress(done / total)
                if self.should_stop():
                    return False
                self._evaluate(net, tasks, t, epoch, step, float(np.mean(losses)))
                self._after_epoch()
                step += 1
                self.epochs_done = step
            self.norms.append(net.save_norm())
        return True

    def _start_task(self, net: BinarizedMLP) -> None:
        """A fresh optimiser at the start of a task."""
        net.new_task()

    def _train_batch(self, net: BinarizedMLP, x: np.ndarray, y: np.ndarray, epoch: int
                     ) -> float:
        """One mini-batch: a metaplastic step on the weights the host wrote and verified, the
        new signs written to the synapses; the loss."""
        syn = self.synapses
        loss = net.train_step(x, y, net.unflatten(syn.bits()))
        syn.update(net.flat_signs(), self.should_stop)
        return loss

    def _after_epoch(self) -> None:
        """Hook for subclasses: after an epoch's evaluation."""

    def _evaluate(self, net: BinarizedMLP, tasks: list, t: int, epoch: int, step: int,
                  loss: float) -> None:
        """Accuracy on every task seen so far with the weights read back from the synapses."""
        wb = net.unflatten(self.read_back())
        accs = task_accuracies(net, tasks, t, self.norms, wb)
        train_acc = net.accuracy(tasks[t].x_train, tasks[t].y_train, wb)
        self.acc_matrix[t, : t + 1] = accs
        if t == int(self.tasks) - 1:
            self.last_accuracies = accs
        c = self.synapses.counters
        row: dict[str, Any] = {
            "Task": t + 1, "Epoch": epoch + 1, "Step": step + 1, "Loss": loss,
            "Train accuracy": train_acc, "Mean accuracy": float(np.mean(accs)),
            "Device programs": c.device_programs, "Pair programs": c.pair_programs,
            "Bit errors": c.bit_errors, "Device failures": c.device_failures,
            "Wear (cycles)": self.synapses.wear(), "Prober moves": c.prober_moves,
            "Bench time (s)": self._bench_time(),
        }
        for j, col in enumerate(TASK_COLUMNS):
            row[col] = accs[j] if j < len(accs) else float("nan")
        self.emit_row(self.extra_columns(row))

    def read_back(self) -> np.ndarray:
        """Every weight read back (PCSA; stuck pairs repaired): the bits an epoch is tested
        with."""
        return self.synapses.read()

    def extra_columns(self, row: dict[str, Any]) -> dict[str, Any]:
        """Hook for subclasses: add their columns to an epoch's row."""
        return row

    # -- results ----------------------------------------------------------------------------------
    def figure_title(self) -> str:
        """The learning figure's title."""
        return f"{self.NAME}: accuracy per task (m = {float(self.meta):g}, {self.backend})"

    def draw_figure(self, path: Path) -> str:
        """Accuracy (%) vs epoch, the tasks in sequence: every task's test accuracy, the current
        task's training accuracy (dashed), a dotted line where each later task starts."""
        step, task = self.column("Step"), self.column("Task")
        curves = [Curve(f"task {k + 1} (test)", step, percent(self.column(col)))
                  for k, col in enumerate(TASK_COLUMNS[: int(self.tasks)])]
        curves.append(Curve("current task (train)", step,
                            percent(self.column("Train accuracy")), "--"))
        starts = {f"task {int(t)} starts": float(step[np.argmax(task == t)]) - 0.5
                  for t in np.unique(task) if t > 1}
        return curve_figure(curves, path, title=self.figure_title(),
                            xlabel="epoch (all tasks in sequence)", ylabel=ACCURACY_AXIS,
                            vlines=starts, ylim=ACCURACY_LIMITS, integer_x=True)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backend": self.backend, "meta": float(self.meta),
                               "epochs_done": int(getattr(self, "epochs_done", 0)),
                               **self.figure_outputs()}
        accs = getattr(self, "last_accuracies", [])
        if accs:
            out["task_accuracies"] = [float(a) for a in accs]
            out["test_accuracy"] = float(np.mean(accs))
        mat = getattr(self, "acc_matrix", None)
        if mat is not None and np.isfinite(mat).any():
            out["accuracy_matrix"] = [[None if not np.isfinite(v) else float(v) for v in r]
                                      for r in mat]
        syn = getattr(self, "synapses", None)
        if syn is not None:
            c = syn.counters
            out.update({
                "n_weights": int(self.network_config().n_weights),
                "device_programs": c.device_programs,
                "initial_programs": c.initial_programs,
                "pair_programs": c.pair_programs,
                "device_reads": c.reads,
                "bit_errors": c.bit_errors,
                "devices_formed": c.devices_formed,
                "device_failures": c.device_failures,
                "program_retries": c.retries,
                "prober_moves": c.prober_moves,
                "die_visits": c.die_visits,
                "wear": syn.wear(),
                "energy_proxy_j": energy_proxy(c, self.device_program()),
            })
            if self.backend == "chip":
                out["dies"] = [list(d) for d in self.tile_dies()]
                out["bench_time_s"] = self._bench_time()
            if c.failed_devices:
                out["failed_devices"] = [list(d) for d in c.failed_devices]
        return out


__all__ = ["DEFAULT_DIES", "MAX_TASKS", "BNNMetaplasticProcedure", "TileParameters", "parse_dies"]
