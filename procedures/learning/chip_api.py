"""Program the chip from your own code: weight matrices on 2T2R pairs or 1T1R cells.

A small, documented API for notebooks and scripts (``docs/learning-api.md`` has a worked example
that the tests execute). It uses only the bench's drivers, so the same code runs on the simulated
and on a lab bench; :class:`ChipSession` checks its bias conditions against the bench's safety
limits before anything is applied, and the bench's owner lock (taken by ``Bench.open``) keeps
other programs off the instruments while it runs.

* :class:`ChipSession` -- the entry point on an open bench: bias conditions, one set of operation
  counters (:class:`~procedures.learning.synapses.SynapseCounters`: every SET, RESET, forming,
  PCSA row read, device read, prober move), the prober stepper.
* :class:`BinaryWeights` -- binary matrices (+-1) tiled over the 2T2R arrays of one or several
  dies (one pair per weight, 1,024 pairs per die). Programming a weight = RESET the side that
  becomes HRS, SET the side that becomes LRS; every write is verified by a PCSA read, retried,
  and a pair with a stuck device is moved to a spare pair of its die. The host **caches the bits
  it wrote and verified** (:meth:`BinaryWeights.bits`), so training loops need not re-read the
  arrays; :meth:`BinaryWeights.read` reads them back through the sense amplifiers.
* :meth:`BinaryWeights.xnor_popcount` -- the in-memory XNOR-popcount of a layer with binary
  inputs: the host sends the input bits, the sense amplifiers compute XNOR (``PCSA:XNOR?``) and
  the chip controller the row popcount (``PCSA:POPC?``); see
  :mod:`procedures.learning.inmemory` (``xnor_popcount_reference`` is the software reference).
  ``layout="rows"`` places every neuron's fan-in on whole array rows so that each row is one
  controller popcount. :meth:`BinaryWeights.read_with_reference` is the 1T1R-with-reference
  read (one device of each pair against a reference conductance) for comparison.
* :class:`ConductanceCells` -- real values as 1T1R conductances (RESET then SET at a chosen
  compliance; the read after the SET is the value).

Tiling over dies: tile ``k`` is the 2T2R array of ``dies[k]``; the weights are spread evenly over
the tiles (the pairs left over in each die are its spares). Operations are grouped by tile: the
prober visits a die once per call (``program``: every flip of the die, its verify reads and
repairs), starting with the contacted die so that consecutive calls move as little as possible.
A move is always separate -> step -> (check the reported die) -> contact, through the runner's
:func:`~procedures.framework.runner.position_prober`; the SMU outputs are turned off before every
move.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from instruments.bench_types import BenchInterface
from procedures.framework.targets import parse_cells
from procedures.framework.validation import check_target
from procedures.learning.conductances import ChipConductances
from procedures.learning.inmemory import read_with_reference, row_aligned_tiles, xnor_popcount
from procedures.learning.synapses import (
    ChipPairs,
    DeviceProgram,
    SynapseCounters,
    single_die_layout,
)
from procedures.operations.cell_io import CellIO

Die = tuple[int, int]
StopCheck = Callable[[], bool]
PAIRS_PER_DIE = 1024
"""2T2R pairs of one die's array (32 rows x 32 pairs)."""


class DieStepper:
    """Moves the prober between the dies of a tiled layout; counts every move.

    The stepper knows the die *and* the subsite the prober is on: a visit of a die at another
    subsite than ``subsite`` is a move too (separate, step to the subsite, contact), never a
    contact in place on the wrong test structure.

    Args:
        bench: the open bench.
        io: its cell operations (outputs are turned off before a move).
        counters: where moves and visits are counted.
        subsite: subsite of every die.
    """

    def __init__(self, bench: BenchInterface, io: CellIO, counters: SynapseCounters,
                 subsite: int = 0
                 ) -> None:
        self.bench = bench
        self.io = io
        self.counters = counters
        self.subsite = int(subsite)
        #: packaged bench (no prober): the socket of each chip, by its identity (origin die)
        self.sockets: dict[Die, int] = {}
        if bench.prober is None:  # a die is a chip of the board: selected, not stepped to
            n = bench.capabilities.sockets
            self.sockets = {d: k for k in range(n) if (d := bench.chip_die(k)) is not None}
            self.current = bench.chip_die(int(bench.chip.board_socket)) or (-1, -1)
            self.site, self.contacted = 0, True  # bonded: always connected
            return
        pos = bench.prober.map_position()
        self.current: Die = (int(pos.col), int(pos.row))
        self.site = int(pos.site)
        self.contacted = bool(bench.prober.chuck_status().in_contact)

    def check(self, die: Die) -> None:
        """ValueError unless ``die`` can be visited: on the prober's wafer map, or the identity
        of a chip of a packaged bench's board (queries only, nothing moves)."""
        if self.bench.prober is not None:
            check_target(self.bench, die, self.subsite)
        elif tuple(die) not in self.sockets:
            known = ", ".join(f"{c},{r}" for c, r in self.sockets)
            raise ValueError(f"die = {die[0]},{die[1]} is no chip of this board (packaged "
                             f"chips: {known or 'identities unknown'})")

    def on(self, die: Die) -> bool:
        """True if the prober is on ``die`` at the stepper's subsite (no XY move needed)."""
        return tuple(die) == self.current and self.site == self.subsite

    def visit(self, die: Die) -> None:
        """Be in contact on ``die`` at the subsite: step there (separate, step, contact) unless
        already there."""
        from procedures.framework.runner import position_prober

        self.counters.die_visits += 1
        if self.on(die):
            if not self.contacted:  # on the die but separated: contact only (no XY move)
                self.bench.prober.contact()
                self.contacted = True
            return
        self.io.off()  # no bias while the needles leave the pads
        if self.bench.prober is None:  # packaged: the board switches to the chip (outputs off)
            self.check(die)
            self.bench.select_chip(self.sockets[tuple(die)])
            self.current = tuple(die)
            self.counters.prober_moves += 1
            return
        self.current = position_prober(self.bench, tuple(die), self.subsite)
        self.site = self.subsite
        self.contacted = True
        self.counters.prober_moves += 1

    def order(self, dies: Sequence[Die]) -> list[int]:
        """Indices of ``dies`` in visiting order: the contacted die first, then the others."""
        idx = list(range(len(dies)))
        here = [k for k in idx if self.on(dies[k])]
        return here + [k for k in idx if k not in here]


class ChipSession:
    """Researcher entry point on an open bench (see the module docstring).

    Args:
        bench: an open :class:`~instruments.bench.Bench` (simulated or lab).
        program: bias conditions of every device operation (checked against the bench limits).
        form_first: form unformed devices before their first use.
        subsite: subsite of the dies used.
    Raises LimitError/ValueError (before anything is applied) for unsafe bias conditions.
    """

    def __init__(self, bench: BenchInterface, program: DeviceProgram | None = None,
                 form_first: bool = True, subsite: int = 0) -> None:
        self.bench = bench
        self.program = DeviceProgram() if program is None else program
        self.program.check(bench.limits)
        self.form_first = form_first
        self.io = CellIO(bench)
        self.counters = SynapseCounters()
        self.stepper = DieStepper(bench, self.io, self.counters, subsite)

    @property
    def die(self) -> Die:
        """The die the prober is on."""
        return self.stepper.current

    def binary_weights(self, shapes: Sequence[tuple[int, int]],
                       dies: Sequence[Die] | None = None, pairs: str = "all",
                       layout: str = "flat") -> BinaryWeights:
        """Binary matrices of ``shapes`` (out, in) tiled over ``dies`` (default: the contacted
        die only); ``pairs`` selects the pairs of each die (``'r0-r1,p0-p1'`` or ``'all'``);
        ``layout`` ``'flat'`` (packed) or ``'rows'`` (each neuron's fan-in on whole rows)."""
        return BinaryWeights(self, shapes, list(dies) if dies else [self.die], pairs, layout)

    def conductances(self, cells: str | Sequence[tuple[int, int]], die: Die | None = None
                     ) -> ConductanceCells:
        """1T1R cells (``'r0-r1,c0-c1'``, ``'all'`` or a list) of ``die`` (default: the die
        the prober is on)."""
        return ConductanceCells(self, cells, self.die if die is None else tuple(die))

    def close(self) -> None:
        """Outputs off (the bench's own close also separates the chuck)."""
        self.io.off()


class BinaryWeights:
    """Binary (+-1) matrices on the 2T2R pairs of one or several dies (module docstring).

    The flat weight vector is every matrix flattened row-major, in order. ``layout="flat"``:
    weight ``k`` lives in tile ``k * n_tiles // n_weights`` (an even spread), at the next pair of
    that tile. ``layout="rows"``: every output neuron's fan-in on whole array rows, the rows
    spread evenly over the tiles (:func:`~procedures.learning.inmemory.row_aligned_tiles`).
    """

    def __init__(self, session: ChipSession, shapes: Sequence[tuple[int, int]],
                 dies: Sequence[Die], pairs: str = "all", layout: str = "flat") -> None:
        if layout not in ("flat", "rows"):
            raise ValueError(f"layout must be 'flat' or 'rows', not {layout!r}")
        self.layout = layout
        self.session = session
        self.shapes = [(int(a), int(b)) for a, b in shapes]
        self.n_weights = sum(a * b for a, b in self.shapes)
        if not dies:
            raise ValueError("dies: at least one die is needed")
        if len(set(map(tuple, dies))) != len(dies):
            raise ValueError(f"dies: each die may hold one tile only, got {list(dies)}")
        self.dies = [tuple(int(v) for v in d) for d in dies]
        for d in self.dies:  # on the prober's wafer map / a chip of the board? (queries only)
            session.stepper.check(d)
        cells = parse_cells(pairs, "2T2R")
        if layout == "rows":
            self.tile_of, fill = row_aligned_tiles(self.shapes, len(self.dies), cells)
        else:
            per_tile = math.ceil(self.n_weights / len(self.dies))
            if per_tile > len(cells):
                need = math.ceil(self.n_weights / len(cells))
                raise ValueError(
                    f"the matrices need {self.n_weights} 2T2R pairs; {len(self.dies)} dies x "
                    f"{len(cells)} pairs is too few: use at least {need} dies or fewer weights")
            self.tile_of = (np.arange(self.n_weights) * len(self.dies)) // self.n_weights
            fill = [cells] * len(self.dies)
        self.members = [np.flatnonzero(self.tile_of == t) for t in range(len(self.dies))]
        s = session
        self.tiles = [
            ChipPairs(s.io, single_die_layout(len(m), f), s.program, s.form_first,
                      counters=s.counters, name=f"die {d}")
            for d, m, f in zip(self.dies, self.members, fill, strict=True)
        ]
        self._bits = np.zeros(self.n_weights, dtype=bool)

    @property
    def counters(self) -> SynapseCounters:
        """The session's operation counters."""
        return self.session.counters

    # -- conversions ------------------------------------------------------------------------------
    def flatten(self, matrices: Sequence[np.ndarray]) -> np.ndarray:
        """Matrices (+-1 or bool) -> flat bool vector (True = +1)."""
        if len(matrices) != len(self.shapes):
            raise ValueError(f"expected {len(self.shapes)} matrices, got {len(matrices)}")
        flat = []
        for m, shape in zip(matrices, self.shapes, strict=True):
            a = np.asarray(m)
            if a.shape != shape:
                raise ValueError(f"matrix of shape {a.shape} given for a {shape} slot")
            flat.append((a > 0).ravel() if a.dtype != bool else a.ravel())
        return np.concatenate(flat)

    def matrices(self, bits: np.ndarray | None = None) -> list[np.ndarray]:
        """Flat bits (default: the cached ones) -> +-1 float matrices."""
        bits = self._bits if bits is None else np.asarray(bits, dtype=bool)
        out, k = [], 0
        for a, b in self.shapes:
            out.append(np.where(bits[k:k + a * b].reshape(a, b), 1.0, -1.0))
            k += a * b
        return out

    def bits(self) -> np.ndarray:
        """The bits the host wrote and verified (True = +1); no device access."""
        return self._bits.copy()

    def note_read(self, idx: np.ndarray, bits: np.ndarray) -> None:
        """Record bits read by the PCSA for the weights ``idx`` (flat): the host's cache and
        the tiles' expected bits follow the chip (the hybrid rule's weights are what is read)."""
        idx = np.asarray(idx, dtype=int)
        bits = np.asarray(bits, dtype=bool)
        self._bits[idx] = bits
        for t in np.unique(self.tile_of[idx]):
            mine = self.tile_of[idx] == t
            self.tiles[t].target[np.searchsorted(self.members[t], idx[mine])] = bits[mine]

    # -- device access ----------------------------------------------------------------------------
    def _as_flat(self, values: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        if isinstance(values, np.ndarray) and values.ndim == 1 and values.size == self.n_weights:
            return values.astype(bool) if values.dtype == bool else values > 0
        return self.flatten(values)  # type: ignore[arg-type]

    def write(self, values: np.ndarray | Sequence[np.ndarray],
              should_stop: StopCheck | None = None, verify: bool = True) -> bool:
        """Form (if needed), write and verify every weight, die by die. False if stopped.

        ``verify=False`` writes each pair open-loop: each device one full cycle at the
        session's bias conditions (LRS: RESET then SET; HRS: SET then RESET), no PCSA verify;
        the read-back then shows the raw bit errors of those conditions."""
        flat = self._as_flat(values)
        for t in self.session.stepper.order(self.dies):
            if should_stop is not None and should_stop():
                return False
            self.session.stepper.visit(self.dies[t])
            if not self.tiles[t].write_initial(flat[self.members[t]], should_stop, verify):
                return False
            self._bits[self.members[t]] = flat[self.members[t]]
        return True

    def program(self, idx: np.ndarray, values: np.ndarray | Sequence[np.ndarray],
                should_stop: StopCheck | None = None) -> int:
        """Program the weights ``idx`` (flat indices) to ``values[idx]``, grouped by die.

        Each die holding one of them is visited once (program, verify, repair). Returns the
        number programmed (fewer if stopped).
        """
        flat = self._as_flat(values)
        idx = np.unique(np.asarray(idx, dtype=int))
        done = 0
        for t in self.session.stepper.order(self.dies):
            mine = idx[self.tile_of[idx] == t]
            if mine.size == 0:
                continue
            if should_stop is not None and should_stop():
                break
            self.session.stepper.visit(self.dies[t])
            local = np.searchsorted(self.members[t], mine)
            target = self.tiles[t].target.copy()
            target[local] = flat[mine]
            n = self.tiles[t].program(local, target, should_stop)
            self._bits[mine[:n]] = flat[mine[:n]]
            done += n
        return done

    def update(self, values: np.ndarray | Sequence[np.ndarray],
               should_stop: StopCheck | None = None) -> int:
        """Program only the weights whose sign differs from the cached bits; returns how many."""
        flat = self._as_flat(values)
        return self.program(np.flatnonzero(flat != self._bits), flat, should_stop)

    def read(self, repair: bool = True) -> np.ndarray:
        """Read every tile through the PCSA (one row read per used row, die by die).

        Bits that differ from those written count as bit errors (with ``repair`` their pairs
        are checked and repaired if a device is stuck); the bits returned are those read.
        """
        out = np.zeros(self.n_weights, dtype=bool)
        for t in self.session.stepper.order(self.dies):
            self.session.stepper.visit(self.dies[t])
            out[self.members[t]] = self.tiles[t].read(repair)
        return out

    def xnor_popcount(self, layer: int, x: np.ndarray, should_stop: StopCheck | None = None
                      ) -> np.ndarray | None:
        """Popcount of XNOR(weights, inputs) per output neuron of matrix ``layer``, in memory.

        ``x``: binary inputs (bool or +-1), shape (samples, in). The host sends the input bits
        of every row, the sense amplifiers compute XNOR and the chip controller the row
        popcount (:func:`procedures.learning.inmemory.xnor_popcount`). Returns int counts
        (samples, out) -- the +-1 dot product is ``2 * count - in`` -- or None if stopped.
        """
        return xnor_popcount(self, layer, x, should_stop)

    def read_with_reference(self, g_ref: float, should_stop: StopCheck | None = None
                            ) -> tuple[np.ndarray, np.ndarray] | None:
        """1T1R-with-reference read: (bits G_BL > ``g_ref`` (S), G_BL (S)) per weight, or None
        if stopped (:func:`procedures.learning.inmemory.read_with_reference`)."""
        return read_with_reference(self, g_ref, should_stop)

    def wear(self) -> int:
        """SET/RESET cycles added, counted (one per RESET)."""
        return self.counters.resets


class ConductanceCells:
    """Real values stored as 1T1R conductances on one die.

    Args:
        session: the chip session.
        cells: ``'r0-r1,c0-c1'``, ``'all'`` or a list of (row, col).
        die: the die (the prober visits it before every program or read).
    """

    def __init__(self, session: ChipSession, cells: str | Sequence[tuple[int, int]],
                 die: Die) -> None:
        self.session = session
        self.die = die
        self.cells = parse_cells(cells, "1T1R") if isinstance(cells, str) else [
            (int(r), int(c)) for r, c in cells]
        self.backend = ChipConductances(session.io, session.program, session.form_first)
        self.backend.counters = session.counters

    def program(self, compliances: Sequence[float] | np.ndarray,
                should_stop: StopCheck | None = None) -> np.ndarray:
        """RESET then SET every cell at its compliance (A); returns the conductances read (S).

        A cell that does not form or is stuck reads NaN (it is reported in the counters).
        """
        comp = np.broadcast_to(np.asarray(compliances, dtype=float), (len(self.cells),))
        lim = self.session.bench.limits
        for ic in np.unique(comp):
            lim.check_compliance(float(ic), self.session.program.v_set)
        out = np.full(len(self.cells), np.nan)
        self.session.stepper.visit(self.die)
        for k, (row, col) in enumerate(self.cells):
            if should_stop is not None and should_stop():
                break
            if not self.backend.ensure_formed(row, col, should_stop):
                continue
            g = self.backend.program(row, col, float(comp[k]))
            out[k] = np.nan if g is None else g
        return out

    def read(self) -> np.ndarray:
        """Read every cell (S) at the session's read bias."""
        io, p = self.session.io, self.session.program
        out = np.empty(len(self.cells))
        self.session.stepper.visit(self.die)
        for k, (row, col) in enumerate(self.cells):
            io.select("1T1R", row, col)
            out[k] = io.read(p.v_read, p.v_wl_read).conductance
            self.session.counters.reads += 1
        return out


__all__ = ["PAIRS_PER_DIE", "BinaryWeights", "ChipSession", "ConductanceCells", "DieStepper"]
