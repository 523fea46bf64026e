"""``bnn-inference``: a binarized network programmed into tiled 2T2R arrays, run in memory.

After Bocquet et al. (IEDM 2018) and Hirtzlin et al. (Front. Neurosci. 2020): a BNN trained in
software is programmed into the 2T2R arrays of several dies (one pair per binary weight, every
neuron's fan-in on whole array rows: ``layout="rows"`` of
:class:`~procedures.learning.chip_api.BinaryWeights`) and run with the **sense amplifiers
computing XNOR** with the input bits and the **chip controller the row popcount**
(``PCSA:XNOR?``/``PCSA:POPC?``, :mod:`procedures.learning.inmemory`); the host adds a neuron's
row counts, applies the batch norm (batch statistics of the whole test set, gamma/beta kept
off-chip) and the sign, and sends the hidden bits to the next layer's rows.

Network: scikit-learn's 8x8 digits, **binary inputs** (pixel > half scale; ``inputs`` crops or
pools first), ``n_in -> n_hidden -> 10``, trained in software (:class:`~procedures.learning.bnn.
BinarizedMLP`, Adam, ``epochs`` over the training split of ``split_seed``, from ``seed``). The
software accuracy is that network's test accuracy with exact weights.

For every cycling-stress level (``precycle``: cumulative SET/RESET cycles per device applied
through the endurance pulses before programming, :mod:`procedures.learning.stress`) and every
programming strength (``strengths``), the weights are written **open-loop** (one SET and one
RESET per pair, no verify: what the chip stores as programmed), then

1. the arrays are read back by the PCSA: ``BER 2T2R`` = pairs read wrong / weights;
2. in-memory inference of the test set (XNOR-popcount on the chip): ``Accuracy 2T2R``;
3. with ``reference_read``, the 1T1R-with-reference comparison: every weight's BL device is read
   alone and compared with ``g_ref`` = the geometric mean of the median conductances of the
   devices written LRS and of those written HRS (a reference halfway in log G, as in
   ``ber-2t2r``): ``BER 1T1R``; the network run with those bits (XNOR-popcount emulated on the
   host: the single-ended array has no differential sense amplifier) gives ``Accuracy 1T1R``.

Strengths (:data:`STRENGTHS`, or ``Ic_uA/Vreset_V``): ``strong`` = 100 uA SET compliance and a
full RESET (2.0 V on SL); ``weak`` = 80 uA and a partial RESET (1.3 V, HRS only ~3x the LRS: the
weak programming of ``ber-2t2r``, where the two single-device distributions overlap).

Summary: ``test_accuracy`` (in-memory 2T2R accuracy of the first condition: first strength, no
added stress), ``software_accuracy``, ``ber`` (2T2R BER of that condition), ``conditions`` (every
stress level x strength: accuracies, BERs, g_ref), ``ber_tolerance`` (software reference: the
accuracy with random weight flips at BER 1e-3 .. 1e-1, :func:`ber_tolerance`), device
operations, pre-cycling cycles, XNOR queries and prober moves counted.
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
from procedures.framework.targets import parse_cells
from procedures.learning.bnn import (
    INPUT_LAYOUTS,
    BinarizedMLP,
    BNNConfig,
    batches,
    digits_inputs,
    sign,
)
from procedures.learning.bnn_procedure import TileParameters
from procedures.learning.chip_api import BinaryWeights, ChipSession
from procedures.learning.curves import ACCURACY_AXIS, ACCURACY_LIMITS, LearningFigure, percent
from procedures.learning.inmemory import row_aligned_tiles, xnor_popcount_reference
from procedures.learning.stress import precycle_pairs
from procedures.learning.synapses import DeviceProgram
from procedures.operations.cell_io import bench_clock

log = logging.getLogger(__name__)

STRENGTHS: dict[str, tuple[float, float]] = {"strong": (100e-6, 2.0), "weak": (80e-6, 1.3)}
"""Programming strength -> (SET compliance A, RESET voltage on SL V). ``weak`` is the partial
RESET of ``ber-2t2r`` (HRS ~3x LRS); ``strong`` the full RESET of the default programs."""
PIXEL_THRESHOLD = 0.5
"""Binary input = pixel (0..1) above this fraction of full scale."""


def parse_strengths(text: str) -> list[tuple[str, float, float]]:
    """``'strong;weak;60/1.2'`` -> [(label, SET compliance A, RESET V)]; ValueError naming the
    parameter."""
    out = []
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        if part in STRENGTHS:
            out.append((part, *STRENGTHS[part]))
            continue
        try:
            ic, vr = (float(v) for v in part.split("/"))
        except ValueError:
            raise ValueError(f"strengths: {part!r} is neither one of {sorted(STRENGTHS)} nor "
                             "'Ic_uA/Vreset_V' (e.g. '60/1.2')") from None
        out.append((part, ic / 1e6, vr))
    if not out:
        raise ValueError("strengths: give at least one (e.g. 'strong;weak')")
    return out


def parse_levels(text: str) -> list[int]:
    """``'0;1e5;1e6'`` -> increasing cumulative cycles per device; ValueError if not."""
    try:
        levels = [int(float(v)) for v in (text or "0").split(";") if v.strip()]
    except ValueError:
        raise ValueError(f"precycle: {text!r} is not a list of cycle counts like '0;1e5'") from None
    if not levels or any(v < 0 for v in levels) or levels != sorted(set(levels)):
        raise ValueError(f"precycle: {text!r} must be increasing, non-negative cycle counts")
    return levels


def binary_digits(layout: str, split_seed: int, test_fraction: float = 0.25
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) of the digits with binary (bool) pixels."""
    from sklearn.model_selection import train_test_split

    x, y = digits_inputs(layout)
    xb = x > PIXEL_THRESHOLD
    tr, te = train_test_split(np.arange(len(y)), test_size=test_fraction,
                              random_state=split_seed, stratify=y)
    return xb[tr], y[tr], xb[te], y[te]


def train_software(cfg: BNNConfig, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int,
                   seed: int) -> BinarizedMLP:
    """A BNN trained on binary inputs (as +-1 values) with exact weights."""
    rng = np.random.default_rng(seed)
    net = BinarizedMLP(cfg, rng)
    xs = np.where(x, 1.0, -1.0)
    for _ in range(int(epochs)):
        for b in batches(len(y), int(batch_size), rng):
            net.train_step(xs[b], y[b])
    return net


def predict_counts(net: BinarizedMLP, count1: Any, layer2: Any) -> np.ndarray:
    """Predictions from the first layer's popcounts and a callable giving the second layer's
    popcounts of the hidden bits; the batch norm uses the statistics of the whole batch."""
    n_in = net.config.n_in
    h = sign(net.normalize(0, 2 * np.asarray(count1) - n_in)) > 0
    count2 = layer2(h)
    if count2 is None:
        return np.array([])
    z = net.normalize(1, 2 * np.asarray(count2) - net.config.n_hidden)
    return np.argmax(z, axis=1)


TOLERANCE_BERS = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
"""Bit error rates of the software fault-injection reference (:func:`ber_tolerance`)."""


def ber_tolerance(net: BinarizedMLP, flat: np.ndarray, x: np.ndarray, y: np.ndarray,
                  seed: int, draws: int = 5) -> dict[str, float]:
    """Software reference: mean test accuracy with random weight flips at each BER of
    :data:`TOLERANCE_BERS` (``draws`` draws each, from ``seed``); keys are the BERs as text."""
    rng = np.random.default_rng([seed, 104729])
    xs = np.where(x, 1.0, -1.0)
    out = {}
    for ber in TOLERANCE_BERS:
        accs = [net.accuracy(xs, y, net.unflatten(flat ^ (rng.random(flat.size) < ber)))
                for _ in range(draws)]
        out[f"{ber:g}"] = float(np.mean(accs))
    return out


class BNNInferenceProcedure(LearningFigure, TileParameters, DeviceOpParameters, BenchProcedure):
    """In-memory inference of a software-trained BNN on tiled 2T2R arrays (module docstring).

    Figure: ``<results>-accuracy.png``, the 2T2R (and 1T1R-with-reference) accuracy vs the
    cycling stress per strength, with the software accuracy (summary ``accuracy_png``)."""

    FIGURE = "accuracy"
    FIGURE_COLUMNS = ("Cycling stress (cycles)", "Strength", "Accuracy 2T2R", "Accuracy 1T1R")

    NAME = "bnn-inference"

    cells = Parameter("Cells", default="all",
                      description="2T2R pairs used on each die; whole rows hold the neurons' "
                                  "fan-ins, the rest are spares: 'r0-r1,p0-p1' or 'all'")
    n_hidden = IntegerParameter("Hidden neurons", default=128, minimum=1, maximum=1024)
    inputs = ListParameter("Input pixels", choices=list(INPUT_LAYOUTS), default="8x8",
                           description="8x8 digits, cropped to 8x6 or pooled to 4x4, binarised")
    epochs = IntegerParameter("Training epochs (software)", default=20, minimum=1, maximum=1000)
    learning_rate = FloatParameter("Learning rate", default=0.01, minimum=1e-5, maximum=1.0)
    batch_size = IntegerParameter("Batch size", default=32, minimum=2, maximum=2048)
    seed = IntegerParameter("Seed", default=0, minimum=0, maximum=2**31 - 1,
                            description="initial weights and batch order of the training")
    split_seed = IntegerParameter("Split seed", default=0, minimum=0, maximum=2**31 - 1,
                                  description="train/test split of the digits")
    test_limit = IntegerParameter("Test samples", default=0, minimum=0, maximum=2000,
                                  description="infer only this many test samples (0 = all)")
    strengths = Parameter("Programming strengths", default="strong;weak",
                          description="'strong', 'weak' or 'Ic_uA/Vreset_V', separated by "
                                      "';' (each sets the SET compliance and the RESET "
                                      "voltage: v_reset is not used)")
    precycle = Parameter("Cycling stress (cycles per device)", default="0",
                         description="cumulative SET/RESET cycles per device before "
                                     "programming, one level after another: '0;1e5;1e6'")
    reference_read = BooleanParameter("1T1R-with-reference comparison", default=True)
    form_first = BooleanParameter("Form unformed devices first", default=True)

    DATA_COLUMNS = [
        "Cycling stress (cycles)", "Strength", "SET compliance (A)", "RESET voltage (V)",
        "Software accuracy", "Accuracy 2T2R", "Accuracy 1T1R", "BER 2T2R", "BER 1T1R",
        "g_ref (S)", "Bit errors 2T2R", "Bit errors 1T1R", "Weights", "Device programs",
        "XNOR queries", "Prober moves", "Bench time (s)",
    ]

    # -- configuration --------------------------------------------------------------------------
    def network_config(self) -> BNNConfig:
        """The network of this run (binary inputs)."""
        return BNNConfig(n_in=INPUT_LAYOUTS[self.inputs], n_hidden=int(self.n_hidden),
                         lr=float(self.learning_rate))

    def device_program(self, set_compliance: float, v_reset: float) -> DeviceProgram:
        """Bias conditions of one programming strength."""
        return DeviceProgram(**self.device_op_values(set_compliance, v_reset))

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        levels = parse_levels(self.precycle)
        for label, ic, vr in parse_strengths(self.strengths):
            try:
                self.device_program(ic, vr).check(limits)
            except ValueError as exc:
                raise type(exc)(f"strengths ({label}): {exc}") from None
        if levels[-1] > 0:
            e = EnduranceProcedure()
            for pulse in (e.set_pulse(), e.reset_pulse()):
                pulse.check(limits, "pre-cycling pulse")
        row_aligned_tiles(self.network_config().shapes, len(self.tile_dies()),
                          parse_cells(self.cells, "2T2R"))  # enough whole rows?

    # -- run --------------------------------------------------------------------------------------
    def startup(self) -> None:
        self.conditions: list[dict[str, Any]] = []
        self.software_acc: float | None = None
        self.session: ChipSession | None = None
        self.precycle_cycles = 0
        self.t0 = bench_clock(self.bench)

    def execute(self) -> None:
        cfg = self.network_config()
        x_tr, y_tr, x_te, y_te = binary_digits(self.inputs, int(self.split_seed))
        if int(self.test_limit) > 0:
            x_te, y_te = x_te[: int(self.test_limit)], y_te[: int(self.test_limit)]
        net = train_software(cfg, x_tr, y_tr, int(self.epochs), int(self.batch_size),
                             int(self.seed))
        self.software_acc = net.accuracy(np.where(x_te, 1.0, -1.0), y_te)
        flat = net.flat_signs()
        self.tolerance = ber_tolerance(net, flat, x_te, y_te, int(self.seed))
        strengths = parse_strengths(self.strengths)
        self.session = s = ChipSession(self.bench, self.device_program(*strengths[0][1:]),
                                       self.form_first, int(self.subsite))
        start_die = s.die
        dies = self.tile_dies()
        done_cycles = 0
        for level in parse_levels(self.precycle):
            for label, ic, vr in strengths:
                if self.should_stop():
                    return
                s.program = self.device_program(ic, vr)
                w = s.binary_weights(cfg.shapes, dies, self.cells, layout="rows")
                if level > done_cycles:  # stress the pairs (formed by a first write)
                    if s.counters.device_programs == 0 and not w.write(flat, self.should_stop,
                                                                       verify=False):
                        return
                    self.precycle_cycles += precycle_pairs(w, level - done_cycles,
                                                           self.should_stop)
                    done_cycles = level
                if not w.write(flat, self.should_stop, verify=False):
                    return
                if not self._condition(net, w, flat, x_te, y_te, level, label, ic, vr):
                    return
        s.stepper.visit(start_die)  # end where the run started

    def _condition(self, net: BinarizedMLP, w: BinaryWeights, flat: np.ndarray, x: np.ndarray,
                   y: np.ndarray, level: int, label: str, ic: float, vr: float) -> bool:
        """Read back, infer in memory, compare with the 1T1R read; False if stopped."""
        stop = self.should_stop
        bits = w.read(repair=False)  # as stored: no pair is repaired or moved
        ber2 = float(np.mean(bits != flat))
        c1 = w.xnor_popcount(0, x, stop)
        if c1 is None:
            return False
        pred = predict_counts(net, c1, lambda h: w.xnor_popcount(1, h, stop))
        if pred.size == 0:
            return False
        acc2 = float(np.mean(pred == y))
        row: dict[str, Any] = {
            "Cycling stress (cycles)": level, "Strength": label, "SET compliance (A)": ic,
            "RESET voltage (V)": vr, "Software accuracy": self.software_acc,
            "Accuracy 2T2R": acc2, "BER 2T2R": ber2,
            "Bit errors 2T2R": int(np.count_nonzero(bits != flat)), "Weights": w.n_weights,
            "Accuracy 1T1R": float("nan"), "BER 1T1R": float("nan"), "g_ref (S)": float("nan"),
            "Bit errors 1T1R": -1,
        }
        if self.reference_read:
            out = w.read_with_reference(0.0, stop)
            if out is None:
                return False
            g = out[1]
            g_ref = float(np.sqrt(np.median(g[flat]) * np.median(g[~flat])))
            b1 = g > g_ref
            mats = w.matrices(b1)
            pred1 = predict_counts(net, xnor_popcount_reference(mats[0], x),
                                   lambda h: xnor_popcount_reference(mats[1], h))
            row.update({"Accuracy 1T1R": float(np.mean(pred1 == y)),
                        "BER 1T1R": float(np.mean(b1 != flat)), "g_ref (S)": g_ref,
                        "Bit errors 1T1R": int(np.count_nonzero(b1 != flat))})
        c = w.counters
        row.update({"Device programs": c.device_programs, "XNOR queries": c.xnor_reads,
                    "Prober moves": c.prober_moves,
                    "Bench time (s)": bench_clock(self.bench) - self.t0})
        self.conditions.append(row)
        self.emit_row(row)
        return True

    # -- results ----------------------------------------------------------------------------------
    def draw_figure(self, path: Path) -> str:
        """Accuracy (%) of the in-memory 2T2R inference and of the 1T1R-with-reference read
        (dashed), with the software accuracy as a reference line: vs the cycling stress (cycles
        per device) per strength, or per strength when there is one stress level."""
        stress, strength = self.column("Cycling stress (cycles)"), self.column("Strength")
        acc2, acc1 = (percent(self.column(f"Accuracy {a}")) for a in ("2T2R", "1T1R"))
        soft = getattr(self, "software_acc", None)
        ref = {"software (exact weights)": 100.0 * soft} if soft is not None else None
        if len(np.unique(stress)) == 1:  # one stress level: accuracy per strength
            x = np.arange(len(strength), dtype=float)
            curves = [Curve("2T2R in memory", x, acc2)]
            if np.isfinite(acc1).any():
                curves.append(Curve("1T1R with reference", x, acc1, "s--"))
            return curve_figure(
                curves, path, title=f"{self.NAME}: accuracy per programming strength "
                                    f"({stress[0]:g} stress cycles)",
                xlabel="programming strength", ylabel=ACCURACY_AXIS, hlines=ref,
                ylim=ACCURACY_LIMITS, xticks=dict(zip(x.tolist(), strength, strict=True)))
        curves = []
        for label in dict.fromkeys(strength):
            on = strength == label
            curves.append(Curve(f"2T2R in memory ({label})", stress[on], acc2[on]))
            if np.isfinite(acc1[on]).any():
                curves.append(Curve(f"1T1R with reference ({label})", stress[on], acc1[on],
                                    "s--"))
        return curve_figure(
            curves, path, title=f"{self.NAME}: accuracy vs cycling stress",
            xlabel="cycling stress (cycles per device)", ylabel=ACCURACY_AXIS, hlines=ref,
            xscale="symlog", ylim=ACCURACY_LIMITS)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = self.figure_outputs()
        if getattr(self, "software_acc", None) is not None:
            out["software_accuracy"] = float(self.software_acc)
            out["ber_tolerance"] = dict(getattr(self, "tolerance", {}))
        conds = getattr(self, "conditions", [])
        if conds:
            out["test_accuracy"] = float(conds[0]["Accuracy 2T2R"])
            out["ber"] = float(conds[0]["BER 2T2R"])
            keys = {"Cycling stress (cycles)": "precycle", "Strength": "strength",
                    "Accuracy 2T2R": "accuracy_2t2r", "Accuracy 1T1R": "accuracy_1t1r",
                    "BER 2T2R": "ber_2t2r", "BER 1T1R": "ber_1t1r", "g_ref (S)": "g_ref"}
            out["conditions"] = [
                {k2: (None if isinstance(r[k1], float) and not np.isfinite(r[k1]) else r[k1])
                 for k1, k2 in keys.items()} for r in conds]
        s = getattr(self, "session", None)
        if s is not None:
            c = s.counters
            out.update({
                "n_weights": int(self.network_config().n_weights),
                "device_programs": c.device_programs, "devices_formed": c.devices_formed,
                "device_reads": c.reads, "xnor_queries": c.xnor_reads,
                "prober_moves": c.prober_moves, "die_visits": c.die_visits,
                "device_failures": c.device_failures,
                "precycle_cycles": int(getattr(self, "precycle_cycles", 0)),
                "wear_total": int(c.resets) + int(getattr(self, "precycle_cycles", 0)),
                "dies": [list(d) for d in self.tile_dies()],
                "bench_time_s": bench_clock(self.bench) - self.t0,
            })
        return out


__all__ = ["STRENGTHS", "BNNInferenceProcedure", "parse_levels", "parse_strengths"]
