"""Targets on a packaged bench: chips in the sockets of a test board instead of dies on a wafer.

A bench without a prober (``bench.prober is None``: the one check) holds packaged chips that
the chip controller's board multiplexer selects (``docs/packaged-chips.md``). A run targets a
chip by its socket (the procedures' ``chip`` parameter) instead of a die; the die recorded with
the run is the chip's identity, its origin die (:meth:`instruments.bench.Bench.chip_die`), so
its device history joins the history it had on the wafer.
"""

from __future__ import annotations

from instruments.bench_types import BenchInterface


def check_chip_target(bench: BenchInterface, die: tuple[int, int] | None, subsite: int,
                      chip: int | None) -> None:
    """ValueError (one line) unless the target suits the bench; queries only, nothing moves.

    Packaged bench: no die, subsite 0, a socket of the board. Wafer bench: no chip.
    """
    if bench.prober is not None:
        if chip is not None:
            raise ValueError(f"chip = {chip}: this bench has a prober and no board of packaged "
                             "chips; give a die (col,row) instead")
        return
    n = bench.capabilities.sockets
    if die is not None:
        raise ValueError(f"die = {die[0]},{die[1]}: this bench has no prober (packaged chips); "
                         f"select a chip with chip = 0..{n - 1} instead")
    if subsite != 0:
        raise ValueError(f"subsite = {subsite}: a packaged chip has no subsites (use 0)")
    if chip is not None and not 0 <= chip < n:
        raise ValueError(f"chip = {chip} does not exist: the board has sockets 0..{n - 1}")


def select_target_chip(bench: BenchInterface, chip: int | None) -> tuple[int, tuple[int, int]
                                                                         | None]:
    """Select ``chip`` (None: keep the selected one; outputs go off before a switch) and return
    (socket, the chip's origin die) as read back from the controller."""
    if chip is not None:
        bench.select_chip(chip)
    socket = int(bench.chip.board_socket)
    if chip is not None and socket != chip:
        raise RuntimeError(f"the board reports socket {socket} after selecting chip {chip}")
    return socket, bench.chip_die(socket)


def wafer_only(bench: BenchInterface, what: str) -> None:
    """ValueError (one line) when ``what`` (e.g. "a wafer run") needs a prober the bench lacks."""
    if bench.prober is None:
        raise ValueError(f"{what} steps dies with a prober; this bench has none (packaged chips "
                         "on a board): run procedures with --chip K instead")


__all__ = ["check_chip_target", "select_target_chip", "wafer_only"]
