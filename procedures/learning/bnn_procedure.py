"""``bnn-metaplastic``: continual learning of a binarized network stored in 2T2R pairs.

The binary weights of a small binarized perceptron (:mod:`procedures.learning.bnn`, default
48 binary inputs -> 16 hidden -> 10 classes = 928 weights) live in the 2T2R array of the
contacted die, one pair per weight (:mod:`procedures.learning.synapses`); the real hidden
weights, the batch-norm thresholds and the optimiser stay on the computer.

Per mini-batch: the weights are read by the precharge sense amplifiers (one PCSA read per array
row), the forward/backward pass is computed off-chip from the bits read (XNOR-popcount), the
metaplastic Adam rule (Laborieux et al. 2021, ``meta`` = m) updates the hidden weights, and every
weight whose sign flipped is programmed (SET one side, RESET the other), verified by a PCSA read,
and remapped to a spare pair if a device is found stuck. Tasks are permuted-pixel versions of the
scikit-learn 8x8 digits (task 1 = natural order); after every epoch the accuracy on every task
seen so far is measured with the bits read from the chip.

``backend = ideal`` runs the same training with software synapses (no bench access) - the
reference for the statistics across m (``benchmarks/learning_table.py``).
"""

from __future__ import annotations

import logging
import math
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
from procedures.base import BenchProcedure
from procedures.learning.bnn import (
    INPUT_LAYOUTS,
    BinarizedMLP,
    BNNConfig,
    batches,
    permuted_digits_tasks,
)
from procedures.learning.synapses import (
    ChipPairs,
    DeviceProgram,
    IdealPairs,
    single_die_layout,
)
from procedures.parameter_sets import DeviceOpParameters

log = logging.getLogger(__name__)

MAX_TASKS = 8
"""Most tasks of one run (one accuracy column each)."""
TASK_COLUMNS = [f"Task {k + 1} accuracy" for k in range(MAX_TASKS)]


class BNNMetaplasticProcedure(DeviceOpParameters, BenchProcedure):
    """Continual learning of a binarized network on 2T2R synapses, metaplastic Adam (m)."""

    NAME = "bnn-metaplastic"

    array = ListParameter("Array", choices=["2T2R"], default="2T2R",
                          description="array holding the binary weights (2T2R only)")
    cells = Parameter("Cells", default="all",
                      description="2T2R pairs available (weights fill them in order, the rest "
                                  "are spares): 'r0-r1,p0-p1' or 'all'")
    meta = FloatParameter("Metaplasticity m", default=1.5, minimum=0, maximum=100,
                          description="f_meta = 1 - tanh^2(m |W_h|); 0 = plain BNN")
    tasks = IntegerParameter("Tasks", default=2, minimum=1, maximum=MAX_TASKS,
                             description="permuted-digits tasks learned in sequence")
    epochs = IntegerParameter("Epochs per task", default=3, minimum=1, maximum=1000)
    seed = IntegerParameter("Seed", default=0, minimum=0, maximum=2**31 - 1,
                            description="initial weights, batch order and task permutations")
    n_hidden = IntegerParameter("Hidden neurons", default=16, minimum=1, maximum=256)
    inputs = ListParameter("Input pixels", choices=list(INPUT_LAYOUTS), default="8x6",
                           description="8x8 digits as is, cropped to 8x6, or pooled to 4x4")
    learning_rate = FloatParameter("Learning rate", default=0.05, minimum=1e-5, maximum=1.0,
                                   description="Adam step on the hidden weights")
    batch_size = IntegerParameter("Batch size", default=32, minimum=1, maximum=2048)
    train_limit = IntegerParameter("Training samples", default=0, minimum=0, maximum=2000,
                                   description="use only this many training samples (0 = all)")
    backend = ListParameter("Synapses", choices=["chip", "ideal"], default="chip",
                            description="chip: 2T2R pairs of the contacted die; ideal: software")
    form_first = BooleanParameter("Form unformed devices first", default=True)
    set_compliance = FloatParameter("SET compliance", units="A", default=100e-6, minimum=1e-6,
                                    maximum=10e-3)

    DATA_COLUMNS = [
        "Task", "Epoch", "Step", "Loss", "Train accuracy", *TASK_COLUMNS, "Mean accuracy",
        "Device programs", "Pair programs", "Bit errors", "Device failures", "Wear (cycles)",
    ]

    # -- configuration --------------------------------------------------------------------------
    def network_config(self) -> BNNConfig:
        """The network and optimiser of this run."""
        return BNNConfig(n_in=INPUT_LAYOUTS[self.inputs], n_hidden=int(self.n_hidden),
                         lr=float(self.learning_rate), meta=float(self.meta))

    def device_program(self) -> DeviceProgram:
        """Bias conditions of the device operations."""
        return DeviceProgram(
            v_set=self.v_set, v_wl_set=self.v_wl_set, set_compliance=self.set_compliance,
            v_reset=self.v_reset, v_wl_reset=self.v_wl_reset, form_v_stop=self.form_v_stop,
            form_compliance=self.form_compliance,
        )

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        if self.array != "2T2R":
            raise ValueError(f"array must be 2T2R for {self.NAME}, not {self.array!r}")
        if self.backend == "chip":
            self.device_program().check(limits)
            n = self.network_config().n_weights
            pairs = self.target_cells()
            if n > len(pairs):
                raise ValueError(
                    f"n_hidden/inputs: the network needs {n} 2T2R pairs but cells offers "
                    f"{len(pairs)} (one die's array has 1024); reduce n_hidden or inputs"
                )

    # -- run --------------------------------------------------------------------------------------
    def startup(self) -> None:
        self.acc_matrix = np.full((int(self.tasks), int(self.tasks)), np.nan)
        self.last_accuracies: list[float] = []
        self.synapses: Any = None
        self.epochs_done = 0

    def execute(self) -> None:
        cfg = self.network_config()
        tasks = permuted_digits_tasks(int(self.tasks), int(self.seed), self.inputs,
                                      train_limit=int(self.train_limit))
        rng = np.random.default_rng(int(self.seed))
        net = BinarizedMLP(cfg, rng)
        if self.backend == "chip":
            layout = single_die_layout(cfg.n_weights, self.target_cells())
            self.synapses = ChipPairs(self.io, layout, self.device_program(), self.form_first)
        else:
            self.synapses = IdealPairs(cfg.n_weights)
        syn = self.synapses
        signs = net.flat_signs()
        if not syn.write_initial(signs, self.should_stop):
            return
        n_batches = math.ceil(len(tasks[0].y_train) / int(self.batch_size))
        total = int(self.tasks) * int(self.epochs) * n_batches
        done = 0
        step = 0
        for t, task in enumerate(tasks):
            for epoch in range(int(self.epochs)):
                losses = []
                for b in batches(len(task.y_train), int(self.batch_size), rng):
                    if self.should_stop():
                        return
                    wb = net.unflatten(syn.read())
                    losses.append(net.train_step(task.x_train[b], task.y_train[b], wb))
                    new = net.flat_signs()
                    flips = np.flatnonzero(new != signs)
                    if flips.size:
                        syn.program(flips, new, self.should_stop)
                    signs = new
                    done += 1
                    self.progress(done / total)
                if self.should_stop():
                    return
                self._evaluate(net, tasks, t, epoch, step, float(np.mean(losses)))
                step += 1
                self.epochs_done = step

    def _evaluate(self, net: BinarizedMLP, tasks: list, t: int, epoch: int, step: int,
                  loss: float) -> None:
        """Accuracy on every task seen so far with the weights read from the synapses."""
        wb = net.unflatten(self.synapses.read())
        accs = [net.accuracy(tasks[j].x_test, tasks[j].y_test, wb) for j in range(t + 1)]
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
            "Wear (cycles)": self.synapses.wear(),
        }
        for j, col in enumerate(TASK_COLUMNS):
            row[col] = accs[j] if j < len(accs) else float("nan")
        self.emit("results", row)

    # -- results ----------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backend": self.backend, "meta": float(self.meta),
                               "epochs_done": int(getattr(self, "epochs_done", 0))}
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
                "device_programs": c.device_programs,
                "initial_programs": c.initial_programs,
                "pair_programs": c.pair_programs,
                "device_reads": c.reads,
                "bit_errors": c.bit_errors,
                "devices_formed": c.devices_formed,
                "device_failures": c.device_failures,
                "program_retries": c.retries,
                "wear": syn.wear(),
            })
            if c.failed_devices:
                out["failed_devices"] = [list(d) for d in c.failed_devices]
        return out


__all__ = ["BNNMetaplasticProcedure", "MAX_TASKS"]
