"""The trigger cable of the simulated lab: the B1500's trigger output to the chip controller.

On the bench a BNC cable runs from the B1500A's ``Ext Trig Out`` to the chip controller's
trigger input; in the twin the lab owns one :class:`TriggerLine` and wires the two simulated
instruments to it in-process (no socket: an edge is a call, on the lab clock, under the lab
lock held by the B1500 command that sends it). The controller's scan mode steps to the next
cell on each edge it receives (``docs/chip-controller-protocol.md``, scan mode).

Fault injection for tests: :meth:`TriggerLine.drop` loses an edge on the way (a loose cable, a
glitch the input filter rejects), so the procedure's count check can be tested.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

#: a trigger input: called once per edge that reaches it, with the lab time (s) of the edge
TriggerInput = Callable[[float], None]


@dataclass
class TriggerLine:
    """One trigger output wired to trigger inputs.

    Attributes:
        sent: edges the output sent since the lab started.
        delivered: edges that reached the inputs (``sent`` minus the dropped ones).
        dropped: edges lost by fault injection.
    """

    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    _inputs: list[TriggerInput] = field(default_factory=list)
    _drop_at: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def connect(self, trigger_input: TriggerInput) -> None:
        """Wire ``trigger_input`` to the line (called on every delivered edge)."""
        with self._lock:
            self._inputs.append(trigger_input)

    def drop(self, after: int = 0) -> None:
        """Fault injection: lose the edge ``after`` edges from now (0: the next one)."""
        if after < 0:
            raise ValueError(f"after = {after} must be >= 0")
        with self._lock:
            self._drop_at.add(self.sent + int(after))

    def pulse(self, t: float) -> bool:
        """The output sends one edge at lab time ``t`` (s); True if it reached the inputs."""
        with self._lock:
            index = self.sent
            self.sent += 1
            if index in self._drop_at:
                self._drop_at.discard(index)
                self.dropped += 1
                return False
            self.delivered += 1
            inputs = list(self._inputs)
        for trigger_input in inputs:
            trigger_input(t)
        return True


__all__ = ["TriggerInput", "TriggerLine"]
