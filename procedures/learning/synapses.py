"""Synapses of the learning procedures: weights stored in chip devices (or in software).

Binary weights on 2T2R pairs (``bnn-metaplastic``)
--------------------------------------------------
One binary weight is one pair of the 2T2R array: weight +1 = BL side LRS / BLB side HRS (the
precharge sense amplifier reads bit 1 when R_BL < R_BLB), weight -1 the reverse.

* Layout (:class:`PairLayout`): the flat weight vector (input layer first, row-major) is packed
  into the selected pairs in order, 32 weights per array row; the selected pairs left over are
  *spares*. A 48 -> 16 -> 10 network needs 928 pairs (29 rows) of the 1024 pairs of one die.
* Tiling: :class:`ChipPairs` drives the 2T2R array of the contacted die;
  :class:`procedures.learning.chip_api.BinaryWeights` spreads a network over the arrays of
  several dies (one :class:`ChipPairs` per die, sharing one :class:`SynapseCounters`) and steps
  the prober between them.
* Programming: a pair is programmed only when its weight flips: SET the side that becomes LRS,
  RESET the side that becomes HRS (2 device operations, every one counted). The initial write
  after forming (both sides LRS) RESETs one side per pair (1 operation, counted separately).
* Verify and failures: after programming, the rows touched are read by the PCSA; a pair reading
  the wrong bit is programmed once more; if still wrong, both its devices are read one by one
  (1T1R read): a device that should be HRS but reads above ``g_hrs_max`` (stuck in LRS, the
  endurance failure of the model) or one that did not form marks the pair failed, and its
  weight moves to a spare pair (formed on demand). Wrong bits without a failed device are read
  errors (counted, not remapped). Eight devices in a row that do not form stop the run: the die
  is dead or shorted.
* Wear: counted operations only (one cycle per RESET); a procedure never reads the twin's model.

Conductances on 1T1R cells (``mcmc-bayes``) are in :mod:`procedures.learning.conductances`.

``ideal`` backends (:class:`IdealPairs`) hold the same quantities in software for reference runs.

Why over 500 lines: the chip-backed and the software synapses share one interface and are kept
side by side so that a change to one is seen against the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from instruments.chip.geometry import N_PAIRS_2T2R, N_ROWS
from procedures.operations.cell_io import CellIO
from procedures.operations.programming import (
    DEFAULT_RAMP,
    FORMED_CONDUCTANCE_SIEMENS,
    ProgramSettings,
    form_cell,
    reset_cell,
    set_cell,
)

log = logging.getLogger(__name__)

PAIRS_PER_ROW = N_PAIRS_2T2R
STUCK_RATIO = 0.9
"""A RESET leaving a device above this fraction of its previous conductance did not switch."""
ROWS_2T2R = N_ROWS
DEAD_DIE_PAIRS = 8
"""Devices in a row that do not form before a tile's die is declared dead (RuntimeError)."""
StopCheck = Callable[[], bool]


# ------------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceProgram(ProgramSettings):
    """Bias conditions of the single-step DC operations on one device: the SET/RESET/read
    settings of :class:`~procedures.operations.programming.ProgramSettings` (same fields and
    defaults), and:

    Attributes:
        v_reset_retry: V on SL for the second (deeper) RESET of a device that did not switch.
        v_wl_reset_retry: V on WL for that second RESET (more transistor current).
        g_hrs_max: S; a device that should be HRS but reads above this is stuck in LRS.
        form_v_start, form_v_stop, form_v_step: V, forming staircase on BL (stops at the
            current jump, then ramps down in steps of at most 0.5 V).
        form_compliance: A, forming compliance.
        form_v_wl: V on WL while forming.
    """

    v_reset_retry: float = 2.5
    v_wl_reset_retry: float = 3.0
    g_hrs_max: float = 40e-6
    form_v_start: float = 2.0  # the learning writes' own start (DEFAULT_RAMP starts at 0.5 V)
    form_v_stop: float = DEFAULT_RAMP.v_stop
    form_v_step: float = DEFAULT_RAMP.v_step
    form_compliance: float = DEFAULT_RAMP.compliance
    form_v_wl: float = DEFAULT_RAMP.v_wl

    def check(self, limits: Any) -> None:
        """LimitError/ValueError for any unsafe or inconsistent value."""
        limits.check_voltage("BL", self.v_set)
        limits.check_voltage("BL", self.v_read)
        limits.check_voltage("BL", self.form_v_stop)
        limits.check_voltage("SL", max(self.v_reset, self.v_reset_retry))
        limits.check_voltage("WL", max(self.v_wl_set, self.v_wl_reset, self.v_wl_read,
                                       self.form_v_wl, self.v_wl_reset_retry))
        limits.check_compliance(self.set_compliance, self.v_set)
        limits.check_compliance(self.reset_compliance, max(self.v_reset, self.v_reset_retry))
        limits.check_compliance(self.form_compliance, self.form_v_stop)
        limits.check_compliance(1e-3, self.v_read)
        if self.v_read >= self.v_set:
            raise ValueError(f"v_read ({self.v_read} V) must be below v_set ({self.v_set} V)")
        if self.form_v_start >= self.form_v_stop:
            raise ValueError(f"form_v_start ({self.form_v_start} V) must be below form_v_stop "
                             f"({self.form_v_stop} V)")


@dataclass
class SynapseCounters:
    """Operation counts of a synapse backend (every device operation is counted).

    Attributes:
        device_programs: SET/RESET operations on devices (initial write + training + repairs).
        initial_programs: part of ``device_programs`` spent on the initial write.
        pair_programs: weights programmed because their sign flipped (2 device ops each).
        resets: RESET operations (each completes one SET/RESET cycle: the wear added).
        reads: PCSA row reads (2T2R) or device reads (1T1R).
        xnor_reads: in-memory XNOR / popcount queries (one row and one input vector each).
        bit_errors: weights read with the wrong sign (PCSA) in the forward passes.
        devices_formed: devices formed by this run.
        device_failures: devices found stuck or unformable (and survived by remapping).
        retries: extra programs after a failed verify.
        prober_moves: die-to-die steps of the prober (separate, step, contact) for tiling.
        die_visits: visits of a tile's die (a visit without a move: the die was contacted).
        failed_devices: (row, col or pair, side or reason) of every failed device.
    """

    device_programs: int = 0
    initial_programs: int = 0
    pair_programs: int = 0
    resets: int = 0
    reads: int = 0
    xnor_reads: int = 0
    bit_errors: int = 0
    devices_formed: int = 0
    device_failures: int = 0
    retries: int = 0
    prober_moves: int = 0
    die_visits: int = 0
    failed_devices: list[tuple[int, int, str]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# Layout of binary weights on 2T2R pairs
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tile:
    """One 2T2R array holding part of the weights.

    Attributes:
        die: (col, row) of the die, None for the contacted die.
        pairs: the (row, pair) addresses of this array available to the network, in fill order.
    """

    die: tuple[int, int] | None
    pairs: tuple[tuple[int, int], ...]


class PairLayout:
    """Flat weight index -> (tile, row, pair), with spare pairs for failed ones.

    Args:
        n_weights: binary weights to place.
        tiles: arrays to fill in order (the first ``n_weights`` pairs hold weights, the rest are
            spares).
    Raises ValueError if the tiles hold fewer pairs than weights.
    """

    def __init__(self, n_weights: int, tiles: list[Tile]) -> None:
        slots = [(t, r, p) for t, tile in enumerate(tiles) for r, p in tile.pairs]
        if len(slots) < n_weights:
            raise ValueError(
                f"the network needs {n_weights} 2T2R pairs but the selected cells offer "
                f"{len(slots)} ({len(slots) // PAIRS_PER_ROW} rows x {PAIRS_PER_ROW}); reduce "
                f"n_hidden / the input size or select more pairs"
            )
        self.tiles = tiles
        self.n_weights = int(n_weights)
        self.slots: list[tuple[int, int, int]] = slots[:n_weights]
        self.spares: list[tuple[int, int, int]] = slots[n_weights:]
        self.failed: list[tuple[int, int, int]] = []

    def rows(self) -> list[tuple[int, int]]:
        """(tile, row) of every row holding at least one weight, sorted."""
        return sorted({(t, r) for t, r, _ in self.slots})

    def remap(self, k: int) -> tuple[int, int, int]:
        """Move weight ``k`` to the next spare pair; returns the new slot (RuntimeError if none)."""
        if not self.spares:
            raise RuntimeError("no spare 2T2R pair left to replace a failed pair")
        self.failed.append(self.slots[k])
        self.slots[k] = self.spares.pop(0)
        return self.slots[k]


def single_die_layout(n_weights: int, pairs: list[tuple[int, int]]) -> PairLayout:
    """A one-tile layout on the contacted die's 2T2R array (``pairs`` in fill order)."""
    return PairLayout(n_weights, [Tile(None, tuple(pairs))])


# ------------------------------------------------------------------------------------------------
# Backends for binary weights
# ------------------------------------------------------------------------------------------------
class IdealPairs:
    """Software binary synapses: exact programming and reads (the reference backend)."""

    name = "ideal"

    def __init__(self, n_weights: int) -> None:
        self._bits = np.zeros(n_weights, dtype=bool)
        self.counters = SynapseCounters()

    def write_initial(self, signs: np.ndarray, should_stop: StopCheck | None = None) -> bool:
        """Store the first weights (True = +1); counts one RESET per pair. False if stopped."""
        self._bits = np.asarray(signs, dtype=bool).copy()
        n = int(self._bits.size)
        self.counters.device_programs += n
        self.counters.initial_programs += n
        self.counters.resets += n
        return True

    def program(self, idx: np.ndarray, signs: np.ndarray,
                should_stop: StopCheck | None = None) -> int:
        """Flip weights ``idx`` to ``signs[idx]``; returns how many were programmed."""
        idx = np.asarray(idx, dtype=int)
        self._bits[idx] = np.asarray(signs, dtype=bool)[idx]
        c = self.counters
        c.pair_programs += int(idx.size)
        c.device_programs += 2 * int(idx.size)
        c.resets += int(idx.size)
        return int(idx.size)

    def read(self) -> np.ndarray:
        """The stored weights (True = +1)."""
        return self._bits.copy()

    # the interface of procedures.learning.chip_api.BinaryWeights
    def write(self, signs: np.ndarray, should_stop: StopCheck | None = None) -> bool:
        """Same as :meth:`write_initial`."""
        return self.write_initial(signs, should_stop)

    def bits(self) -> np.ndarray:
        """The stored weights (True = +1)."""
        return self._bits.copy()

    def update(self, signs: np.ndarray, should_stop: StopCheck | None = None) -> int:
        """Program the weights whose sign differs from the stored one; returns how many."""
        signs = np.asarray(signs, dtype=bool)
        return self.program(np.flatnonzero(signs != self._bits), signs, should_stop)

    def wear(self) -> int:
        """Cycles added (RESET operations)."""
        return self.counters.resets


class ChipPairs:
    """Binary weights on the 2T2R array of the contacted die (see the module docstring).

    Args:
        io: cell operations of the open bench.
        layout: where each weight lives (a single tile on the contacted die).
        program: bias conditions.
        form_first: form unformed devices before their first use.
    """

    name = "chip"

    def __init__(self, io: CellIO, layout: PairLayout, program: DeviceProgram,
                 form_first: bool = True, counters: SynapseCounters | None = None,
                 name: str = "the contacted die") -> None:
        if len(layout.tiles) != 1:
            raise ValueError("ChipPairs drives one 2T2R array (the contacted die); "
                             "procedures.learning.chip_api.BinaryWeights tiles several dies")
        self.io = io
        self.layout = layout
        self.prog = program
        self.form_first = form_first
        self.name = name
        self.counters = SynapseCounters() if counters is None else counters
        self.target = np.zeros(layout.n_weights, dtype=bool)
        self._formed: set[tuple[int, int, str]] = set()
        self._fresh: set[tuple[int, int, str]] = set()  # formed by this run, still LRS
        self._unformable = 0  # pairs in a row that did not form (a dead die stops the run)

    # -- device operations --------------------------------------------------------------------
    def _select(self, row: int, pair: int, side: str) -> None:
        self.io.select("2T2R", row, pair, side)

    def _set(self) -> None:
        p = self.prog
        set_cell(self.io, p.v_set, p.v_wl_set, p.set_compliance, read_after=False)
        self.counters.device_programs += 1

    def _reset(self, deep: bool = False) -> None:
        p = self.prog
        v_sl, v_wl = (p.v_reset_retry, p.v_wl_reset_retry) if deep else (p.v_reset, p.v_wl_reset)
        reset_cell(self.io, v_sl, v_wl, p.reset_compliance, read_after=False)
        self.counters.device_programs += 1
        self.counters.resets += 1

    def _read_g(self) -> float:
        self.counters.reads += 1
        return self.io.read(self.prog.v_read, self.prog.v_wl_read).conductance

    def _ensure_formed(self, row: int, pair: int, should_stop: StopCheck | None) -> bool:
        """Form both devices of a pair if needed; False if a device does not form."""
        ok = True
        for side in ("BL", "BLB"):
            key = (row, pair, side)
            if key in self._formed:
                continue
            self._select(row, pair, side)
            if self._read_g() < FORMED_CONDUCTANCE_SIEMENS:
                if not self.form_first:
                    raise RuntimeError(
                        f"2T2R device ({row},{pair},{side}) is unformed; set form_first")
                v = form_device(self.io, self.prog, should_stop)
                if v is None:
                    if should_stop is not None and should_stop():
                        return False
                    ok = False
                    self._fail(row, pair, side, "did not form")
                    self._unformable += 1
                    if self._unformable >= DEAD_DIE_PAIRS:
                        raise RuntimeError(
                            f"{self.name}: {self._unformable} devices in a row did not form; "
                            f"the die looks dead or shorted, choose other dies")
                    continue
                self._unformable = 0
                self.counters.devices_formed += 1
                self._fresh.add(key)
            self._formed.add(key)
        return ok

    def _fail(self, row: int, pair: int, side: str, why: str) -> None:
        log.warning("2T2R device (%d,%d,%s) failed: %s; its weight moves to a spare pair",
                    row, pair, side, why)
        self.counters.device_failures += 1
        self.counters.failed_devices.append((row, pair, side))

    def _write_pair(self, row: int, pair: int, plus: bool, reset_only: bool = False,
                    deep: bool = False) -> None:
        """Program a pair to +1 (BL LRS, BLB HRS) or -1: RESET the HRS side, SET the LRS side.

        ``reset_only`` skips the SET (both sides are known to be LRS, right after forming);
        ``deep`` RESETs at ``v_reset_retry`` (the retry after a failed verify).
        """
        lrs, hrs = ("BL", "BLB") if plus else ("BLB", "BL")
        self._select(row, pair, hrs)
        self._reset(deep)
        if not reset_only:
            self._select(row, pair, lrs)
            self._set()

    def _cycle_pair(self, row: int, pair: int, plus: bool) -> None:
        """Open-loop write of a pair with a full cycle per device (HRS side: SET then RESET,
        LRS side: RESET then SET), so the bias conditions set both states whatever they were."""
        lrs, hrs = ("BL", "BLB") if plus else ("BLB", "BL")
        self._select(row, pair, hrs)
        self._set()
        self._reset()
        self._select(row, pair, lrs)
        self._reset()
        self._set()

    # -- reads ----------------------------------------------------------------------------------
    def _read_rows(self, rows: list[int]) -> dict[int, np.ndarray]:
        words = {}
        for r in rows:
            words[r] = np.asarray(self.io.bench.chip.pcsa_read(r), dtype=bool)
            self.counters.reads += 1
        return words

    def read(self, repair: bool = True) -> np.ndarray:
        """The weights as read by the PCSA (True = +1), every used row read once.

        Bits that differ from the programmed sign are counted as bit errors (and used as read:
        the network sees what the chip stores); with ``repair`` their pairs are checked device
        by device and moved to a spare if a device is stuck.
        """
        rows = sorted({r for _, r, _ in self.layout.slots})
        words = self._read_rows(rows)
        bits = np.array([words[r][p] for _, r, p in self.layout.slots], dtype=bool)
        wrong = np.flatnonzero(bits != self.target)
        self.counters.bit_errors += int(wrong.size)
        for k in wrong if repair else ():  # a marginal pair may hide a stuck device
            self._diagnose_and_repair(int(k), None)
        return bits

    # -- writes -----------------------------------------------------------------------------------
    def write_initial(self, signs: np.ndarray, should_stop: StopCheck | None = None,
                      verify: bool = True) -> bool:
        """Form (if needed) and write every weight; verify and repair. ``verify=False``: an
        open-loop write, every device with one full cycle at the bias conditions (see
        :meth:`_cycle_pair`), no verify. False if stopped."""
        self.target = np.asarray(signs, dtype=bool).copy()
        for k, (_, row, pair) in enumerate(self.layout.slots):
            if should_stop is not None and should_stop():
                return False
            while not self._ensure_formed(row, pair, should_stop):
                if should_stop is not None and should_stop():
                    return False
                _, row, pair = self.layout.remap(k)
            n0 = self.counters.device_programs
            if verify:
                # right after forming both sides are LRS: one RESET writes the pair; a pair
                # formed earlier (unknown state) gets the full SET + RESET
                fresh = {(row, pair, "BL"), (row, pair, "BLB")} <= self._fresh
                self._write_pair(row, pair, bool(self.target[k]), reset_only=fresh)
            else:
                self._cycle_pair(row, pair, bool(self.target[k]))
            self.counters.initial_programs += self.counters.device_programs - n0
        if verify:
            self._verify(np.arange(self.layout.n_weights), should_stop)
        return True

    def program(self, idx: np.ndarray, signs: np.ndarray,
                should_stop: StopCheck | None = None) -> int:
        """Program the weights ``idx`` (whose signs flipped) to ``signs[idx]``; verify them.

        Returns the number of weights programmed (fewer if stopped).
        """
        idx = np.asarray(idx, dtype=int)
        signs = np.asarray(signs, dtype=bool)
        done = []
        for k in idx:
            if should_stop is not None and should_stop():
                break
            self.target[k] = signs[k]
            _, row, pair = self.layout.slots[k]
            self._write_pair(row, pair, bool(signs[k]))
            self.counters.pair_programs += 1
            done.append(k)
        if done:
            self._verify(np.asarray(done, dtype=int), should_stop)
        return len(done)

    def _verify(self, idx: np.ndarray, should_stop: StopCheck | None) -> None:
        """PCSA-read the rows of ``idx``; retry wrong pairs once, then check and remap."""
        for attempt in range(2):
            rows = sorted({self.layout.slots[k][1] for k in idx})
            words = self._read_rows(rows)
            wrong = [k for k in idx
                     if words[self.layout.slots[k][1]][self.layout.slots[k][2]] != self.target[k]]
            if not wrong:
                return
            if attempt == 1:
                break
            for k in wrong:
                _, row, pair = self.layout.slots[k]
                self.counters.retries += 1
                self._write_pair(row, pair, bool(self.target[k]), deep=True)
            idx = np.asarray(wrong, dtype=int)
        for k in wrong:
            if should_stop is not None and should_stop():
                return
            self._diagnose_and_repair(int(k), should_stop)

    def _diagnose_and_repair(self, k: int, should_stop: StopCheck | None) -> None:
        """Per-device reads of a pair that reads wrong after a retry; remap if a device failed."""
        _, row, pair = self.layout.slots[k]
        hrs, lrs = ("BLB", "BL") if self.target[k] else ("BL", "BLB")
        self._select(row, pair, hrs)
        g_hrs = self._read_g()
        self._select(row, pair, lrs)
        g_lrs = self._read_g()
        if g_hrs <= self.prog.g_hrs_max or g_hrs < STUCK_RATIO * g_lrs:
            return  # the devices switch: a marginal pair / read error, not a failure
        self._fail(row, pair, hrs, f"stuck in LRS (reads {g_hrs * 1e6:.1f} uS after RESET)")
        for _ in range(len(self.layout.spares) + 1):
            _, row, pair = self.layout.remap(k)
            if not self._ensure_formed(row, pair, should_stop):
                continue
            self._write_pair(row, pair, bool(self.target[k]))
            bit = self._read_rows([row])[row][pair]
            if bit == self.target[k]:
                return
            self._select(row, pair, "BLB" if self.target[k] else "BL")
            if self._read_g() <= self.prog.g_hrs_max:
                return
            self._fail(row, pair, "BLB" if self.target[k] else "BL", "stuck in LRS")

    def wear(self) -> int:
        """Cycles added by this run, from the operations counted (one per RESET)."""
        return self.counters.resets


def form_device(io: CellIO, prog: DeviceProgram, should_stop: StopCheck | None = None
                ) -> float | None:
    """Form the selected device: the staircase of ``forming`` (stop at the jump, ramp down).

    Returns V_form (V) or None (did not form up to ``form_v_stop``, or stopped).
    """
    return form_cell(io, v_stop=prog.form_v_stop, v_step=prog.form_v_step,
                     compliance=prog.form_compliance, v_wl=prog.form_v_wl, jump_fraction=0.8,
                     should_stop=should_stop, v_start=prog.form_v_start, ramp_down_step=0.5)


__all__ = [
    "ChipPairs", "DeviceProgram", "IdealPairs", "PairLayout",
    "SynapseCounters", "Tile",
    "form_device", "single_die_layout",
]
