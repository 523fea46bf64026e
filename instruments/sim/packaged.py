"""The simulated test board of a packaged lab: N chips, each one die of the virtual wafer.

A packaged bench has no prober: the chips are bonded in the sockets of a test board and the chip
controller's board multiplexer routes the instrument channels to one socket (``BOARD:SEL n``,
``docs/packaged-chips.md``). The twin mounts dies of its virtual wafer in the sockets, so the same
procedures and campaigns run on the same devices whether they are probed or packaged:

* the dies are the bench file's ``[board] dies`` when given, else the first ``N`` *good* dies of
  the wafer map (row by row from the top, left to right, as
  :attr:`instruments.wafermap.WaferMap.dies` lists them); dead and shorted dies are never mounted,
  as a packaging house would not bond them;
* a bonded chip is always "in contact": the selected socket's chip sees the biases;
* switching is refused while any terminal is driven (an SMU output switch on, or a WGFMU channel
  out of SMU pass-through on its RSU): hot-switching relays would weld them and stress the cells;
* a switch costs :data:`BOARD_SWITCH_S` of modeled time (relay operate + settle).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

BOARD_SWITCH_S = 5e-3
"""[E] Modeled time of one socket switch (s): reed relays operate in ~0.5-1 ms and the lines are
left to settle a few ms before a measurement (typical signal-relay data sheets)."""

DieIndex = tuple[int, int]


def choose_dies(dies: Sequence[DieIndex], kind: Callable[[int, int], str], n: int,
                given: Sequence[DieIndex] = ()) -> list[DieIndex]:
    """The dies mounted on an ``n``-socket board: ``given`` (checked to be on the map), else the
    first ``n`` good dies of ``dies`` in their order. ValueError if there are not enough."""
    on_map = set(dies)
    if given:
        bad = [d for d in given if tuple(d) not in on_map]
        if bad:
            raise ValueError(f"[board] dies {bad} are not on the wafer map")
        chosen = [tuple(d) for d in given]
        rest = [d for d in dies if kind(*d) == "good" and d not in chosen]
        chosen += rest[: max(0, n - len(chosen))]
    else:
        chosen = [d for d in dies if kind(*d) == "good"][:n]
    if len(chosen) < n:
        raise ValueError(f"the wafer has only {len(chosen)} good dies for {n} sockets")
    return chosen  # type: ignore[return-value]


@dataclass
class BoardState:
    """The board multiplexer of the twin: which die sits in which socket, which one is routed."""

    dies: list[DieIndex]
    selected: int = 0
    #: each switch, as (socket from, socket to): tests and the GUI read it back
    switches: list[tuple[int, int]] = field(default_factory=list)

    @property
    def sockets(self) -> int:
        """Number of sockets."""
        return len(self.dies)

    @property
    def die(self) -> DieIndex:
        """The die in the selected socket."""
        return self.dies[self.selected]

    def select(self, socket: int) -> None:
        """Route to ``socket`` (IndexError outside 0..sockets-1; the caller checks outputs)."""
        if not 0 <= socket < self.sockets:
            raise IndexError(socket)
        self.switches.append((self.selected, socket))
        self.selected = socket


__all__ = ["BOARD_SWITCH_S", "BoardState", "choose_dies"]
