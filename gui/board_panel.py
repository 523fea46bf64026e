"""The board dock of a packaged bench: :class:`~gui.widgets.board_view.BoardView` wired to the
main window (it replaces the wafer map when the bench has no prober).

A click on a socket makes that chip the target of the next run (the procedure form's ``chip``);
a double click selects it on the board now, in the bench worker (every output off first; refused
while a run owns the bench). The bench status shows which socket and array are routed; sockets
are coloured by the chosen figure (median over the chip's finished runs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gui.widgets.board_view import BoardView


class BoardPanel:
    """The glue between the board view and the main window ``window`` (its ``bench``, ``io``
    worker, ``procedure_panel``, ``catalog`` and ``message``)."""

    def __init__(self, window: Any) -> None:
        self.window = window
        bench = window.bench
        self.view = BoardView(bench.capabilities.sockets)
        self.view.setObjectName("board-view")
        self.view.chipClicked.connect(self.chip_clicked)
        self.view.chipDoubleClicked.connect(self.select_chip)
        n = self.view.sockets
        window.io.submit(lambda: [bench.chip_die(k) for k in range(n)], self.view.set_dies,
                         name="board set-up", owner=True)  # no run exists yet

    def chip_clicked(self, socket: int) -> None:
        """The clicked chip becomes the target of the next run."""
        self.window.procedure_panel.set_parameter("chip", socket)

    def select_chip(self, socket: int) -> bool:
        """Select ``socket`` on the board now (worker thread; outputs off first)."""
        w = self.window
        if w.busy:
            w.message(f"Not selecting chip {socket}: a run is in progress (stop it first)",
                      error=True)
            return False
        bench = w.bench

        def done(die: Any) -> None:
            ident = f" (die {die[0]},{die[1]})" if die is not None else ""
            w.message(f"Board routed to chip {socket}{ident}; outputs off")
            w.procedure_panel.set_parameter("chip", socket)
            self.view.set_selected(socket, self.view.array)
            self.view.chipRouted.emit(socket)
            w.refresh_status()

        def failed(exc: Exception) -> None:
            w.message(f"Board refused to select chip {socket}: {exc}", error=True)

        return w.io.submit(lambda: bench.select_chip(socket), done, failed,  # outputs off first
                           name=f"select chip {socket}")

    def routed_die(self) -> tuple[int, int] | None:
        """Identity (origin die) of the chip the board routes now, None if unknown."""
        k = self.view.selected
        return self.view.dies[k] if k is not None and k < len(self.view.dies) else None

    def show_status(self, status: Any) -> None:
        """Show the routed socket, array and cell of a bench status, and the board's
        temperature when it has a heater."""
        b = getattr(status, "board", None)
        if b is not None:
            self.view.set_selected(b.selected, b.array, b.cell)
            self.view.set_temperature(getattr(b, "temperature_c", None),
                                      getattr(b, "heater", ""))

    def show_values(self, runs: list[Any], key: str, label: str, units: str) -> None:
        """Colour each socket by the median of ``key`` over its chip's finished ``runs``."""
        by_die = {d: k for k, d in enumerate(self.view.dies) if d is not None}
        values: dict[int, list[float]] = {}
        for r in runs:
            v = r.summary.get(key)
            k = by_die.get(tuple(r.die)) if r.die is not None else None
            if k is not None and isinstance(v, int | float):
                values.setdefault(k, []).append(float(v))
        if values:
            self.view.set_values({k: float(np.median(v)) for k, v in values.items()},
                                 label=f"median {label}", units=units)
        else:
            self.view.clear_values()


__all__ = ["BoardPanel"]
