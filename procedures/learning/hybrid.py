"""Differential synapses whose hidden weight lives in the devices (Hirtzlin et al., IEDM 2019).

A binary weight is one 2T2R pair; its **binary value is the PCSA read** of the pair (bit 1 when
G_BL > G_BLB) and its **hidden (analog) weight is the conductance difference** G_BL - G_BLB,
kept in the devices instead of on the computer. A learning update does not program a sign: it
*nudges* the difference with gradual pulses on the WGFMU (``nudge``):

* toward +1: a weak SET pulse on the BL device (raises G_BL) and a weak RESET pulse on the BLB
  device (lowers G_BLB); toward -1 the same on the other sides (push-pull, two pulses);
* the pulses are short and below the abrupt regime (defaults :data:`NUDGE_SET`,
  :data:`NUDGE_RESET`: 1.3 V / 10 ns SET with the gate at 1.5 V, 1.5 V / 100 ns RESET with the
  gate at 2.7 V), so a written pair usually needs more than one nudge against its sign before
  the PCSA reads it flipped: the pair's inertia is the hidden weight's magnitude (gradual
  SET/RESET of the twin: ``instruments/sim/rram_params.py``, ``set_gradual_r``,
  ``reset_walk_fraction``);
* after the nudges of a die, its touched rows are read by the PCSA: those bits are the binary
  weights of the next forward pass (cached; every row read counted).

Every pulse is counted (``pulses_set``/``pulses_reset``) and enters an **energy proxy**
:func:`energy_proxy`: sum over operations of V x I_NOMINAL x t, with t the pulse width for a
WGFMU pulse and :data:`DC_EQUIVALENT_S` for a DC SET/RESET step (the programs of
``bnn-metaplastic``), I_NOMINAL = 100 uA for every operation. It compares the bias-time cost of
the two learning schemes; it is not a measured energy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from procedures.operations.pulsing import CellPulse, PulseSession

if TYPE_CHECKING:
    from procedures.learning.chip_api import BinaryWeights
    from procedures.learning.synapses import DeviceProgram, SynapseCounters

StopCheck = Callable[[], bool]
NUDGE_SET = CellPulse("set", 1.3, 1.5, 10e-9)
"""Default gradual SET pulse: 1.3 V on BL for 10 ns, gate 1.5 V."""
NUDGE_RESET = CellPulse("reset", 1.5, 2.7, 100e-9)
"""Default gradual RESET pulse: 1.5 V on SL for 100 ns, gate 2.7 V."""
I_NOMINAL_A = 100e-6
"""A. Nominal device current of every operation in the energy proxy."""
DC_EQUIVALENT_S = 1e-6
"""s. Duration a DC SET/RESET step counts for in the energy proxy (as a 1 us pulse)."""


@dataclass
class PulseCounts:
    """Gradual pulses applied (each counted as applied).

    Attributes:
        nudges: pair updates (two pulses each).
        pulses_set, pulses_reset: gradual SET / RESET pulses.
        flips: binary weights whose PCSA read changed after a nudge.
        against: nudges toward the sign opposite to the pair's bit (the others push a pair
            further into its own sign).
        taken: nudges against the bit after which the PCSA read the intended bit (an update
            that took effect); ``taken / against`` is the effective flip probability.
        pulse_energy: V x s summed over the pulses (x I_NOMINAL_A for joules).
    """

    nudges: int = 0
    pulses_set: int = 0
    pulses_reset: int = 0
    flips: int = 0
    against: int = 0
    taken: int = 0
    pulse_energy: float = 0.0


def energy_proxy(counters: SynapseCounters, program: DeviceProgram,
                 pulses: PulseCounts | None = None) -> float:
    """J. The energy proxy of the module docstring: DC programs (SET at ``v_set``, RESET at
    ``v_reset``, counted in ``counters``) plus the gradual pulses."""
    resets = counters.resets
    sets = max(0, counters.device_programs - resets)
    vs = sets * program.v_set + resets * program.v_reset
    e = vs * DC_EQUIVALENT_S
    if pulses is not None:
        e += pulses.pulse_energy
    return float(e * I_NOMINAL_A)


class HybridPairs:
    """Gradual push-pull updates of the pairs of a :class:`BinaryWeights` (module docstring).

    Args:
        weights: the tiled pairs (written once, strongly, before learning).
        set_pulse, reset_pulse: the gradual pulses (checked against the WGFMU limits).
    """

    def __init__(self, weights: BinaryWeights, set_pulse: CellPulse = NUDGE_SET,
                 reset_pulse: CellPulse = NUDGE_RESET) -> None:
        self.weights = weights
        self.set_pulse = set_pulse
        self.reset_pulse = reset_pulse
        self.counts = PulseCounts()
        self.bits = weights.bits()

    def nudge(self, idx: np.ndarray, up: np.ndarray, should_stop: StopCheck | None = None
              ) -> np.ndarray:
        """Nudge the pairs ``idx`` (flat indices) toward +1 where ``up`` else -1, die by die;
        read their rows back by the PCSA. Returns the binary weights (cached, as read)."""
        w = self.weights
        session = w.session
        bench, io = session.bench, session.io
        idx = np.asarray(idx, dtype=int)
        up = np.asarray(up, dtype=bool)
        c = self.counts
        for t in session.stepper.order(w.dies):
            sel = np.flatnonzero(w.tile_of[idx] == t)
            if sel.size == 0:
                continue
            if should_stop is not None and should_stop():
                break
            session.stepper.visit(w.dies[t])
            io.off()
            local = np.searchsorted(w.members[t], idx[sel])
            slots = w.tiles[t].layout.slots
            with PulseSession(bench, io) as pulses:
                pulses.check([self.set_pulse, self.reset_pulse])
                for k, u in zip(local, up[sel], strict=True):
                    _, row, pair = slots[k]
                    raise_, lower = ("BL", "BLB") if u else ("BLB", "BL")
                    io.select("2T2R", row, pair, raise_)
                    pulses.run([self.set_pulse])
                    io.select("2T2R", row, pair, lower)
                    pulses.run([self.reset_pulse])
                    c.nudges += 1
                    c.pulses_set += 1
                    c.pulses_reset += 1
                    c.pulse_energy += (self.set_pulse.amplitude * self.set_pulse.width
                                       + self.reset_pulse.amplitude * self.reset_pulse.width)
            io.off()
            rows = sorted({slots[k][1] for k in local})
            words = {r: np.asarray(bench.chip.pcsa_read(r), dtype=bool) for r in rows}
            w.counters.reads += len(rows)
            new = np.array([words[slots[k][1]][slots[k][2]] for k in local], dtype=bool)
            old = self.bits[idx[sel]]
            wanted = up[sel] != old
            c.flips += int(np.count_nonzero(new != old))
            c.against += int(np.count_nonzero(wanted))
            c.taken += int(np.count_nonzero(wanted & (new == up[sel])))
            self.bits[idx[sel]] = new
            w.note_read(idx[sel], new)  # the PCSA read is the weight
        return self.bits.copy()


__all__ = ["DC_EQUIVALENT_S", "I_NOMINAL_A", "NUDGE_RESET", "NUDGE_SET", "HybridPairs",
           "PulseCounts", "energy_proxy"]
