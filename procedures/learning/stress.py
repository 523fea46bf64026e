"""Cycling stress of the 2T2R pairs of a tiled layout, through the endurance procedure's path.

:func:`precycle_pairs` cycles both devices of every pair holding a weight ``cycles`` times with
the SET/RESET pulses of ``endurance`` (its default amplitudes, gates and widths), as WGFMU
sequences of repeated one-cycle patterns (the fast path of the simulated WGFMU), die by die.
Each device ends RESET (HRS); the weights must be written again afterwards. The cycles applied
are counted from the sequences run (``RunData.repeats``): wear comes from the operations, never
from the twin's model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from procedures.experiments.endurance import EnduranceProcedure
from procedures.operations.pulsing import PulseSession

if TYPE_CHECKING:
    from procedures.learning.chip_api import BinaryWeights

StopCheck = Callable[[], bool]


def precycle_pairs(weights: BinaryWeights, cycles: int,
                   should_stop: StopCheck | None = None) -> int:
    """Cycle both devices of every used pair ``cycles`` times; returns the cycles applied.

    Every level is checked against the WGFMU's limits before anything is sent (LimitError).
    Stops early (fewer cycles) when ``should_stop`` says so; the SMU outputs are off and the
    WGFMU channels back in SMU mode afterwards.
    """
    cycles = int(cycles)
    if cycles <= 0:
        return 0
    session_ = weights.session
    bench, io = session_.bench, session_.io
    e = EnduranceProcedure()
    set_, reset = e.set_pulse(), e.reset_pulse()
    stopped = should_stop if should_stop is not None else (lambda: False)
    done = 0
    for t in session_.stepper.order(weights.dies):
        if stopped():
            break
        session_.stepper.visit(weights.dies[t])
        io.off()
        with PulseSession(bench, io) as pulses:
            pulses.check([set_, reset])
            e.bench = bench
            chunk, _ = e.chunk_limit(pulses)
            for _, row, pair in weights.tiles[t].layout.slots:
                if stopped():
                    break
                for side in ("BL", "BLB"):
                    io.select("2T2R", row, pair, side)
                    todo = cycles
                    while todo > 0 and not stopped():  # a stop ends the loops here
                        data = pulses.run([set_, reset], repeat=min(todo, chunk),
                                          should_stop=stopped)
                        done += data.repeats
                        todo -= data.repeats
        io.off()
    return done


__all__ = ["precycle_pairs"]
