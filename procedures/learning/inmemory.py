"""In-memory computing on tiled 2T2R arrays: row-aligned tiles, XNOR-popcount through the chip
controller, and the 1T1R-with-reference read used for comparison.

XNOR-popcount on the chip
-------------------------
The chip controller has two in-memory commands (``instruments/chip/controller.py``, documented in
``docs/`` with the chip-controller protocol):

* ``PCSA:XNOR? row,bits`` -- the 32 sense amplifiers of a 2T2R row each compute XNOR(weight,
  input bit): the input bit is applied on the pair's selection (1: BL/BLB to the amplifier's
  true/complement branch, 0: swapped), so the amplifier outputs the weight or its complement;
* ``PCSA:POPC? row,bits`` -- the controller counts the ones of that XNOR word (0..32).

:func:`xnor_popcount` sends the input bits of every used row and sample: a row whose 32 pairs
all hold weights of one output neuron of the layer is answered by ``PCSA:POPC?`` (one integer
per row and sample, the controller's popcount); any other row (a partly used row, a row shared
by two neurons, a spare holding a remapped weight) by ``PCSA:XNOR?``, whose output bits of the
pairs that belong to the layer are summed per neuron on the host. The host only adds the row
popcounts of a neuron (its fan-in spans ceil(n_in / 32) rows). Nothing of the weights is
computed on the host: the bits come out of the sense amplifiers, XNOR-ed with the inputs.

Row-aligned tiles (``layout="rows"``)
-------------------------------------
:func:`row_aligned_tiles` puts every output neuron's fan-in on whole array rows (segments of 32
weights, a neuron with 64 inputs uses two rows), spreads the segments evenly over the dies and
keeps the remaining pairs as spares. With fan-ins that are multiples of 32 (64 -> 128 -> 10:
296 rows over ten dies) every row is answered by the controller's popcount.

1T1R-with-reference read
------------------------
:func:`read_with_reference` reads one device of each pair alone (the BL side, which is LRS for a
weight +1 and HRS for -1) with the SMU and compares its conductance with a reference ``g_ref``:
what a 1T1R array with a reference column would decide. Bocquet et al. (IEDM 2018) and Hirtzlin
et al. (Front. Neurosci. 2020) show that the differential 2T2R read keeps its bit error rate
low where this single-ended read does not (weak programming, worn devices).

Units: siemens for conductances; counts are integers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from instruments.chip.geometry import N_PAIRS_2T2R

if TYPE_CHECKING:
    from procedures.learning.chip_api import BinaryWeights

PAIRS_PER_ROW = N_PAIRS_2T2R
StopCheck = Callable[[], bool]


def segments(shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """Flat weight indices of every row segment: each output neuron's fan-in cut into pieces of
    at most 32 weights, matrices in order, neurons in order (increasing flat indices)."""
    out, off = [], 0
    for n_out, n_in in shapes:
        for j in range(n_out):
            for c0 in range(0, n_in, PAIRS_PER_ROW):
                out.append(off + j * n_in + np.arange(c0, min(n_in, c0 + PAIRS_PER_ROW)))
        off += n_out * n_in
    return out


def row_aligned_tiles(shapes: Sequence[tuple[int, int]], n_tiles: int,
                      cells: Sequence[tuple[int, int]]
                      ) -> tuple[np.ndarray, list[list[tuple[int, int]]]]:
    """Place the weights of ``shapes`` row by row over ``n_tiles`` dies (module docstring).

    Args:
        shapes: (out, in) of every matrix.
        n_tiles: dies.
        cells: the (row, pair) addresses selected on every die; only rows selected in full
            (32 pairs) hold segments, every other selected pair is a spare.
    Returns:
        ``tile_of`` (tile of every flat weight) and, per tile, its pairs in fill order: the
        pairs of its weights (flat order) followed by its spares.
    Raises ValueError if a die does not have enough full rows.
    """
    chosen = set(cells)
    full = sorted({r for r, _ in cells
                   if all((r, p) in chosen for p in range(PAIRS_PER_ROW))})
    segs = segments(shapes)
    per_tile = math.ceil(len(segs) / n_tiles)
    if per_tile > len(full):
        need = math.ceil(len(segs) / max(1, len(full))) if full else None
        raise ValueError(
            f"the row-aligned layout needs {len(segs)} full 2T2R rows (one per 32 weights of a "
            f"neuron); {n_tiles} dies x {len(full)} full rows selected is too few"
            + (f": use at least {need} dies" if need else ": select whole rows"))
    seg_tile = (np.arange(len(segs)) * n_tiles) // len(segs)
    n_weights = sum(a * b for a, b in shapes)
    tile_of = np.zeros(n_weights, dtype=int)
    pairs: list[list[tuple[int, int]]] = []
    for t in range(n_tiles):
        used: list[tuple[int, int]] = []
        for i, s in enumerate(k for k in range(len(segs)) if seg_tile[k] == t):
            tile_of[segs[s]] = t
            used += [(full[i], p) for p in range(len(segs[s]))]
        taken = set(used)
        pairs.append(used + [c for c in cells if c not in taken])
    return tile_of, pairs


def layer_of(shapes: Sequence[tuple[int, int]], flat: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(matrix, output neuron, input) of every flat weight index in ``flat``."""
    flat = np.asarray(flat, dtype=int)
    sizes = np.array([a * b for a, b in shapes])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    layer = np.searchsorted(np.cumsum(sizes), flat, side="right")
    n_in = np.array([b for _, b in shapes])[layer]
    local = flat - starts[layer]
    return layer, local // n_in, local % n_in


def xnor_popcount(weights: BinaryWeights, layer: int, x: np.ndarray,
                  should_stop: StopCheck | None = None) -> np.ndarray | None:
    """Popcount of XNOR(weights, inputs) per output neuron of matrix ``layer``, on the chip.

    ``x``: binary inputs (bool or +-1), shape (samples, in). Every die holding a part of the
    layer is visited once; per row and sample one ``PCSA:POPC?`` or ``PCSA:XNOR?`` (module
    docstring). Returns int counts (samples, out) -- the +-1 dot product is ``2 * count - in``
    -- or None if stopped.
    """
    n_out, n_in = weights.shapes[layer]
    xb = np.asarray(x) > 0
    if xb.ndim != 2 or xb.shape[1] != n_in:
        raise ValueError(f"inputs must have shape (samples, {n_in}), got {xb.shape}")
    session = weights.session
    chip = session.bench.chip
    counters = weights.counters
    counts = np.zeros((len(xb), n_out), dtype=int)
    for t in session.stepper.order(weights.dies):
        members = weights.members[t]
        lay, neuron, inp = layer_of(weights.shapes, members)
        mine = np.flatnonzero(lay == layer)
        if mine.size == 0:
            continue
        if should_stop is not None and should_stop():
            return None
        session.stepper.visit(weights.dies[t])
        slots = weights.tiles[t].layout.slots
        by_row: dict[int, list[int]] = {}
        for k in mine:
            by_row.setdefault(slots[k][1], []).append(int(k))
        for row, ks in sorted(by_row.items()):
            if should_stop is not None and should_stop():
                return None
            pair = np.array([slots[k][2] for k in ks])
            nrn, src = neuron[ks], inp[ks]
            whole = len(ks) == PAIRS_PER_ROW and bool(np.all(nrn == nrn[0]))
            words = np.ones((len(xb), PAIRS_PER_ROW), dtype=int)
            words[:, pair] = xb[:, src]
            for s in range(len(xb)):
                inputs = words[s].tolist()
                if whole:
                    counts[s, nrn[0]] += chip.popcount(row, inputs)
                else:
                    out = np.asarray(chip.pcsa_xnor(row, inputs), dtype=int)
                    np.add.at(counts[s], nrn, out[pair])
                counters.xnor_reads += 1
    return counts


def xnor_popcount_reference(matrix: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Software reference of :func:`xnor_popcount`: ``matrix`` (+-1 or bool, (out, in)) and
    binary ``x`` (samples, in) -> int counts (samples, out)."""
    w = np.asarray(matrix) > 0
    xb = np.asarray(x) > 0
    if xb.ndim != 2 or xb.shape[1] != w.shape[1]:
        raise ValueError(f"inputs must have shape (samples, {w.shape[1]}), got {xb.shape}")
    return (xb[:, None, :] == w[None, :, :]).sum(axis=2)


def read_with_reference(weights: BinaryWeights, g_ref: float,
                        should_stop: StopCheck | None = None
                        ) -> tuple[np.ndarray, np.ndarray] | None:
    """The 1T1R-with-reference read (module docstring): every weight's BL device read alone.

    Returns (bits: G_BL > ``g_ref`` (S), conductances (S)) per flat weight, or None if stopped.
    """
    session = weights.session
    io, p = session.io, session.program
    bits = np.zeros(weights.n_weights, dtype=bool)
    g = np.full(weights.n_weights, np.nan)
    for t in session.stepper.order(weights.dies):
        session.stepper.visit(weights.dies[t])
        for local, (_, row, pair) in enumerate(weights.tiles[t].layout.slots):
            if should_stop is not None and should_stop():
                return None
            io.select("2T2R", row, pair, "BL")
            k = weights.members[t][local]
            g[k] = io.read(p.v_read, p.v_wl_read).conductance
            weights.counters.reads += 1
    io.off()
    bits[:] = g > g_ref
    return bits, g


__all__ = [
    "PAIRS_PER_ROW", "layer_of", "read_with_reference", "row_aligned_tiles", "segments",
    "xnor_popcount", "xnor_popcount_reference",
]
