"""``bnn-hybrid``: hybrid analog-digital learning on differential 2T2R synapses.

After Hirtzlin et al. (IEDM 2019): the binarized network of ``bnn-metaplastic`` (same task,
network, tiling over dies, normalisation protocol with per-task batch-norm parameters kept
off-chip, real-valued pixels into the first layer) but **no hidden weights on the computer**:

* the binary weight of a pair is its PCSA read; the forward and backward passes of a
  mini-batch use the bits last read (cached by the host, every read counted);
* the straight-through gradient of every binary weight is computed on the host; in each layer
  the ``nudge_fraction`` of weights with the largest |gradient| (rule ``against-sign``, the
  default: among those whose descent direction opposes their bit; ``steepest``: among all) are
  nudged one gradual push-pull step in the direction of descent
  (:class:`~procedures.learning.hybrid.HybridPairs`: a weak SET pulse on the side to raise, a
  weak RESET pulse on the other), die by die; their
  rows are read back by the PCSA, which gives the new binary weights. The analog conductance
  difference of the pair is the hidden weight: a pair written strongly needs several nudges
  against its sign before it flips;
* the batch norms' gamma/beta (off-chip) learn with plain Adam (``learning_rate``), saved per
  task and restored before testing that task, as in ``bnn-metaplastic``.

The weights are written once at the start (the initial random signs, open-loop DC programming:
one full cycle per device at ``set_compliance``, 50 uA by default, so the pairs stay plastic);
after every epoch all tiles are read back by the PCSA and every task seen so far is tested with
the bits read. Compare with ``bnn-metaplastic`` on the same task (same
``inputs``, ``n_hidden``, ``tasks``, ``epochs``, ``seed``): accuracy, device operations and the
energy proxy (:func:`~procedures.learning.hybrid.energy_proxy`, in both summaries).

Summary: ``test_accuracy`` (mean over the tasks after the last task), ``task_accuracies``,
``accuracy_matrix``, ``nudges``, ``pulses`` (gradual SET + RESET pulses), ``flips`` (binary
weights changed by nudges), ``device_programs`` (DC programs: the initial write and repairs),
``energy_proxy_j``, ``prober_moves`` and the other counters of ``bnn-metaplastic``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pymeasure.experiment import FloatParameter, ListParameter

from instruments.limits import SafetyLimits
from procedures.learning.bnn import BinarizedMLP, MetaplasticAdam
from procedures.learning.bnn_procedure import BNNMetaplasticProcedure
from procedures.learning.chip_api import ChipSession
from procedures.learning.hybrid import NUDGE_RESET, NUDGE_SET, HybridPairs, energy_proxy
from procedures.operations.pulsing import CellPulse

log = logging.getLogger(__name__)


def steepest(grads: list[np.ndarray], fraction: float, bits: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the ``fraction`` of each layer's weights with the largest |gradient|
    (at least one per layer, none with a zero gradient) and their direction (True: toward +1,
    i.e. a negative gradient). With ``bits`` (the binary weights, flat), only weights whose
    descent direction is against their present bit are candidates (rule ``against-sign``:
    a nudge along the sign pushes a pair that is already saturated), still at most
    ``fraction`` of each layer."""
    idx, up, off = [], [], 0
    for g in grads:
        flat = np.asarray(g).ravel()
        k = max(1, int(round(fraction * flat.size)))
        mag = np.abs(flat)
        if bits is not None:
            b = np.asarray(bits[off:off + flat.size], dtype=bool)
            mag = np.where((flat < 0) != b, mag, 0.0)
        top = np.argpartition(-mag, k - 1)[:k]
        top = np.sort(top[mag[top] != 0])
        idx.append(off + top)
        up.append(flat[top] < 0)
        off += flat.size
    return np.concatenate(idx), np.concatenate(up)


class BNNHybridProcedure(BNNMetaplasticProcedure):
    """Hybrid analog-digital learning: hidden weights in the pairs' conductances."""

    NAME = "bnn-hybrid"

    meta = 0.0  # not a parameter: no metaplastic rule, the devices hold the hidden weights
    backend = ListParameter("Synapses", choices=["chip"], default="chip",
                            description="the hidden weights live in the 2T2R devices")
    learning_rate = FloatParameter("Learning rate (batch norm)", default=0.04, minimum=1e-5,
                                   maximum=1.0, description="Adam step on the off-chip "
                                                            "gamma/beta")
    set_compliance = FloatParameter("SET compliance (initial write)", units="A",
                                    default=50e-6, minimum=1e-6, maximum=10e-3,
                                    description="the initial open-loop write; a moderate LRS "
                                                "leaves the pairs plastic")
    nudge_fraction = FloatParameter("Nudged fraction", default=0.05, minimum=1e-4, maximum=1.0,
                                    description="fraction of each layer's weights nudged per "
                                                "mini-batch (largest |gradient|)")
    nudge_rule = ListParameter("Nudge rule", choices=["against-sign", "steepest"],
                               default="against-sign",
                               description="against-sign: the largest |gradient| among the "
                                           "weights whose descent opposes their bit; steepest: "
                                           "the largest |gradient| whatever the bit")
    nudge_decay = FloatParameter("Nudged fraction decay per epoch", default=0.6, minimum=0.05,
                                 maximum=1.0, description="epoch e of a task nudges "
                                                          "nudge_fraction x decay^e (a learning "
                                                          "rate schedule in pulses)")
    nudge_set_amplitude = FloatParameter("Nudge SET amplitude (BL)", units="V",
                                         default=NUDGE_SET.amplitude, minimum=0.1, maximum=5)
    nudge_set_width = FloatParameter("Nudge SET width", units="s", default=NUDGE_SET.width,
                                     minimum=10e-9, maximum=1e-3)
    nudge_set_v_wl = FloatParameter("Nudge SET gate", units="V", default=NUDGE_SET.v_wl,
                                    minimum=0, maximum=5)
    nudge_reset_amplitude = FloatParameter("Nudge RESET amplitude (SL)", units="V",
                                           default=NUDGE_RESET.amplitude, minimum=0.1,
                                           maximum=5)
    nudge_reset_width = FloatParameter("Nudge RESET width", units="s",
                                       default=NUDGE_RESET.width, minimum=10e-9, maximum=1e-3)
    nudge_reset_v_wl = FloatParameter("Nudge RESET gate", units="V", default=NUDGE_RESET.v_wl,
                                      minimum=0, maximum=5)

    DATA_COLUMNS = [*BNNMetaplasticProcedure.DATA_COLUMNS, "Nudges", "Flips",
                    "Energy proxy (J)"]

    # -- configuration --------------------------------------------------------------------------
    def pulses(self) -> tuple[CellPulse, CellPulse]:
        """The gradual SET and RESET pulses of a nudge."""
        return (CellPulse("set", self.nudge_set_amplitude, self.nudge_set_v_wl,
                          self.nudge_set_width),
                CellPulse("reset", self.nudge_reset_amplitude, self.nudge_reset_v_wl,
                          self.nudge_reset_width))

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        for what, pulse in zip(("set", "reset"), self.pulses(), strict=True):
            try:
                pulse.check(limits, f"nudge {what.upper()} pulse")
            except ValueError as exc:
                names = "/".join(f"nudge_{what}_{k}" for k in ("amplitude", "v_wl", "width"))
                raise type(exc)(f"{names} (nudge {what.upper()} pulse): {exc}") from None

    # -- run --------------------------------------------------------------------------------------
    def execute(self) -> None:
        cfg, tasks, rng, net = self._network()
        self.session = ChipSession(self.bench, self.device_program(), self.form_first,
                                   int(self.subsite))
        start_die = self.session.die
        self.synapses = w = self.session.binary_weights(cfg.shapes, self.tile_dies(),
                                                        self.cells)
        if not w.write(net.flat_signs(), self.should_stop, verify=False):
            return
        self.hybrid = HybridPairs(w, *self.pulses())
        self._bits = self.hybrid.bits.copy()
        if self._train(net, tasks, rng):
            self.session.stepper.visit(start_die)

    def _start_task(self, net: BinarizedMLP) -> None:
        """Plain Adam on the off-chip batch-norm gamma/beta, fresh for every task."""
        self._opt = MetaplasticAdam(lr=net.config.lr, meta=0.0, meta_mask=[False] * 4)

    def _train_batch(self, net: BinarizedMLP, x: np.ndarray, y: np.ndarray, epoch: int
                     ) -> float:
        """One mini-batch on the bits last read: Adam on gamma/beta, then a nudge of the
        weights with the steepest gradients; the loss."""
        loss, g = net.gradients(x, y, net.unflatten(self._bits))
        self._opt.step([net.gamma[0], net.beta[0], net.gamma[1], net.beta[1]], g[2:])
        against = self._bits if self.nudge_rule == "against-sign" else None
        frac = float(self.nudge_fraction) * float(self.nudge_decay) ** epoch
        idx, up = steepest(g[:2], frac, against)
        self._bits = self.hybrid.nudge(idx, up, self.should_stop)
        return loss

    def _after_epoch(self) -> None:
        self._bits = self.hybrid.bits.copy()  # as read back

    def read_back(self) -> np.ndarray:
        """Every weight read back by the PCSA, nothing repaired (a nearly balanced pair is a
        small hidden weight here, not a failed device); the host's cache follows the read."""
        bits = self.synapses.read(repair=False)
        self.synapses.note_read(np.arange(bits.size), bits)
        self.hybrid.bits = bits.copy()
        return bits

    def extra_columns(self, row: dict[str, Any]) -> dict[str, Any]:
        hp = getattr(self, "hybrid", None)
        if hp is not None:
            row.update({"Nudges": hp.counts.nudges, "Flips": hp.counts.flips,
                        "Energy proxy (J)": self._energy()})
        return row

    def _energy(self) -> float:
        hp = getattr(self, "hybrid", None)
        return energy_proxy(self.synapses.counters, self.device_program(),
                            hp.counts if hp is not None else None)

    def figure_title(self) -> str:
        return (f"{self.NAME}: accuracy per task (nudged fraction "
                f"{float(self.nudge_fraction):g}, {self.nudge_rule})")

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        out.pop("meta", None)
        hp = getattr(self, "hybrid", None)
        if hp is not None:
            c = hp.counts
            out.update({"nudges": c.nudges, "pulses": c.pulses_set + c.pulses_reset,
                        "pulses_set": c.pulses_set, "pulses_reset": c.pulses_reset,
                        "flips": c.flips, "nudges_against": c.against,
                        "nudges_taken": c.taken, "energy_proxy_j": self._energy()})
        return out


__all__ = ["BNNHybridProcedure", "steepest"]
