"""Cell-level operations on an open bench: select, bias the word line, read, sweep.

These are the building blocks of the procedures. They use only the drivers (so they run the
same on the simulated and on a real bench) and the bench wiring (which SMU drives BL, SL, WL).

Conventions (the project's physics reference; ``docs/simulated-lab.md``): forming and SET put a
positive voltage on BL with SL grounded; RESET puts a positive voltage on SL with BL grounded;
reads use a small positive BL voltage. Currents are those measured by the BL SMU (A, positive
into the cell).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from instruments.bench_types import BenchInterface
from instruments.chip.controller import SCAN_SWITCH_S
from instruments.keysight.b1500 import B1500Error

log = logging.getLogger(__name__)

WL_COMPLIANCE_A = 1e-4
"""Current compliance of the word-line SMU (A): the gate draws only leakage."""


@dataclass(frozen=True)
class ReadResult:
    """A read of one cell.

    Attributes:
        current: A, measured on BL.
        voltage: V, read voltage on BL.
        compliance: the BL SMU was in compliance.
    """

    current: float
    voltage: float
    compliance: bool

    @property
    def conductance(self) -> float:
        """S (current / voltage)."""
        return self.current / self.voltage if self.voltage else float("nan")

    @property
    def resistance(self) -> float:
        """Ohm (voltage / current); inf for no current."""
        return self.voltage / self.current if self.current > 0 else float("inf")


class CellIO:
    """Cell operations through the B1500 SMUs and the chip controller of ``bench``."""

    def __init__(self, bench: BenchInterface) -> None:
        self.bench = bench
        self.b1500 = bench.b1500
        by_terminal = {term: ch for ch, term in bench.config.smu_terminals.items()}
        try:
            self.ch_bl = by_terminal["BL"]
            self.ch_sl = by_terminal["SL"]
            self.ch_wl = by_terminal["WL"]
        except KeyError as exc:
            raise ValueError(f"bench wiring has no SMU on {exc.args[0]}") from None
        self._enabled = False

    # -- routing --------------------------------------------------------------------------------
    def select(self, array: str, row: int, col: int, side: str = "BL") -> None:
        """Route the channels to a cell (2T2R: ``col`` is the pair, ``side`` BL or BLB)."""
        self.bench.chip.select(array, int(row), int(col), side)

    def enable(self) -> None:
        """Connect the BL, SL and WL SMUs (at 0 V)."""
        if not self._enabled:
            self.b1500.enable(self.ch_bl, self.ch_sl, self.ch_wl)
            self._enabled = True

    def off(self) -> None:
        """All SMU outputs to zero and disconnected."""
        self._enabled = False
        self.b1500.all_off()

    # -- DC levels ------------------------------------------------------------------------------
    def set_wl(self, volts: float) -> None:
        """Word-line (gate) voltage, V."""
        self.enable()
        self.b1500.force_voltage(self.ch_wl, volts, WL_COMPLIANCE_A)

    def set_levels(
        self, v_bl: float, v_sl: float, v_wl: float, compliance: float, check: bool = True
    ) -> None:
        """Force WL, SL and BL (V) in one line; ``compliance`` (A) on BL and SL.

        ``check`` queries ``ERRX?`` after the line: a level the instrument rejects turns every
        output off and raises :class:`B1500Error` naming the levels (:meth:`check_levels`).
        ``check=False`` leaves the error check to the end of the caller's block
        (:meth:`instruments.keysight.b1500.B1500.force_voltages`)."""
        self.enable()
        self.b1500.force_voltages([(self.ch_wl, v_wl, WL_COMPLIANCE_A),
                                   (self.ch_sl, v_sl, compliance),
                                   (self.ch_bl, v_bl, compliance)], check=False)
        if check:
            self.check_levels(v_bl, v_sl, v_wl)

    def check_levels(self, v_bl: float, v_sl: float, v_wl: float) -> None:
        """One ``ERRX?`` for the levels just sent (V); on an error all outputs off, then a
        :class:`B1500Error` (same code) saying which levels were rejected.

        The instrument executes the commands of a line in order and drops the rest of the line
        after an error (the twin does the same), so a rejected level leaves the terminals at a
        mix of old and new levels: nothing is measured there, the outputs go off."""
        try:
            self.b1500.check_errors()
        except B1500Error as err:
            self.off()
            raise B1500Error(
                err.code,
                f"{err.message} (rejected levels BL {v_bl:g} V, SL {v_sl:g} V, WL {v_wl:g} V; "
                "nothing measured, outputs turned off)",
            ) from err

    # -- measurements ---------------------------------------------------------------------------
    def _pulse_step(self, ch: int, volts: float, v_wl: float, compliance: float,
                    check_levels: bool = False) -> ReadResult:
        """One DC step: ``ch`` (BL or SL) at ``volts`` V, the other 0 V, WL ``v_wl`` V; the BL
        current, then ``ch`` back to 0 V. Four round trips: the levels, ``TI``, the return to
        0 V and one ``ERRX?`` for the block (an error discards the reading); ``check_levels``
        adds an ``ERRX?`` after the levels (a programming step: the level is confirmed before
        it is measured, and the cell sees it for the same ~2.8 ms of modeled time as with one
        check per command: ``ERRX?`` + ``TI`` + the return line)."""
        bl, sl = (volts, 0.0) if ch == self.ch_bl else (0.0, volts)
        self.set_levels(bl, sl, v_wl, compliance, check=check_levels)
        r = self.b1500.high_speed_spot_current(self.ch_bl)
        self.b1500.force_voltage(ch, 0.0, compliance)  # ERRX? of the block
        return ReadResult(r.value, volts if ch == self.ch_bl else -volts, r.compliance)

    def read(self, v_read: float = 0.1, v_wl: float = 2.5, compliance: float = 1e-3) -> ReadResult:
        """Read the selected cell: BL at ``v_read`` V, SL at 0 V, WL at ``v_wl`` V; BL current.
        BL returns to 0 V (four round trips, see :meth:`_pulse_step`). Its levels are checked
        with the block, after ``TI``: a rejected read level leaves the cell at the levels before
        the block (0 V on BL and SL after a read or a pulse) for one reading, which is
        discarded; a check before ``TI`` would cost a fifth line per read."""
        return self._pulse_step(self.ch_bl, v_read, v_wl, compliance)

    def _step(self, v_bl: float, v_sl: float, v_wl: float, compliance: float) -> ReadResult:
        """Levels (one line), their ``ERRX?``, then ``TI`` on BL; the levels stay on.

        Three round trips, as many as with the check after the measurement, and a rejected
        level stops before any measurement (:meth:`check_levels`: outputs off, B1500Error).
        ``TI`` needs no check of its own: the instrument answers it with data or not at all,
        and a read that times out queries ``ERRX?`` (:meth:`B1500._ask_data`). Chaining the
        levels and ``TI`` in one line would save two lines but make a rejected level cost a
        VISA timeout (the instrument drops the ``TI`` after the error), so it is not done."""
        self.set_levels(v_bl, v_sl, v_wl, compliance)
        return self.b1500.high_speed_spot_current(self.ch_bl)

    def step_bl(self, v_bl: float, v_wl: float, compliance: float) -> ReadResult:
        """Force BL to ``v_bl`` V (SL 0 V, WL ``v_wl`` V) and measure the BL current (one step);
        BL stays at ``v_bl``. A rejected level: B1500Error, nothing measured, outputs off."""
        r = self._step(v_bl, 0.0, v_wl, compliance)
        return ReadResult(r.value, v_bl, r.compliance)

    def step_sl(self, v_sl: float, v_wl: float, compliance: float) -> ReadResult:
        """Force SL to ``v_sl`` V (BL 0 V, WL ``v_wl`` V); returns the BL current (negative).
        SL stays at ``v_sl``. A rejected level: B1500Error, nothing measured, outputs off."""
        r = self._step(0.0, v_sl, v_wl, compliance)
        return ReadResult(r.value, -v_sl, r.compliance)

    def _program_step(self, ch: int, volts: float, v_wl: float, compliance: float) -> ReadResult:
        """A DC programming step with one ``DV`` + ``ERRX?`` per terminal (WL, SL, BL), ``TI``,
        ``ch`` back to 0 V (+ ``ERRX?``): 9 lines, kept on purpose. How long the cell sees the
        programming level (~2.8 ms modeled for SET on BL, ~4.0 ms for RESET on SL) is set by
        these lines, and the weak/strong programming of the learning procedures is calibrated
        with it. The instrument-side way to a defined, shorter step is a pulsed spot
        (``PT``/``PV``/``MM 3``, :meth:`instruments.keysight.b1500.B1500.pulsed_spot`): not done.
        """
        bl, sl = (volts, 0.0) if ch == self.ch_bl else (0.0, volts)
        self.enable()
        self.b1500.force_voltage(self.ch_wl, v_wl, WL_COMPLIANCE_A)
        self.b1500.force_voltage(self.ch_sl, sl, compliance)
        self.b1500.force_voltage(self.ch_bl, bl, compliance)
        r = self.b1500.high_speed_spot_current(self.ch_bl)
        self.b1500.force_voltage(ch, 0.0, compliance)
        return ReadResult(r.value, volts if ch == self.ch_bl else -volts, r.compliance)

    def pulse_bl(self, v_bl: float, v_wl: float, compliance: float) -> ReadResult:
        """One DC step on BL (SL 0 V, WL ``v_wl`` V), its BL current, BL back to 0 V."""
        return self._program_step(self.ch_bl, v_bl, v_wl, compliance)

    def pulse_sl(self, v_sl: float, v_wl: float, compliance: float) -> ReadResult:
        """One DC step on SL (BL 0 V, WL ``v_wl`` V), the BL current (negative), SL to 0 V."""
        return self._program_step(self.ch_sl, v_sl, v_wl, compliance)

    def sweep(
        self,
        terminal: str,
        v_stop: float,
        steps: int,
        v_wl: float,
        compliance: float,
        delay: float = 1e-3,
        double: bool = True,
        abort: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Staircase sweep 0 -> ``v_stop`` (-> 0 if ``double``) on BL (SET) or SL (RESET).

        The other of BL/SL is held at 0 V and WL at ``v_wl``. Returns the cell voltage
        (V_BL - V_SL, so negative for an SL sweep), the BL current (A) and the compliance flags.
        """
        if terminal not in ("BL", "SL"):
            raise ValueError("sweep terminal must be BL or SL")
        self.set_levels(0.0, 0.0, v_wl, compliance, check=False)  # checked with the sweep set-up
        ch = self.ch_bl if terminal == "BL" else self.ch_sl
        res = self.b1500.staircase_sweep(
            ch, 0.0, v_stop, steps, compliance, delay=delay, double=double,
            measure=[self.ch_bl], abort=abort,
        )
        sign = 1.0 if terminal == "BL" else -1.0
        return sign * res.voltage, res.currents[self.ch_bl], res.compliance


# -- additions for the cycling, retention and map procedures ------------------------------------
def bench_clock(bench: BenchInterface) -> float:
    """Seconds on the bench's clock (:meth:`instruments.bench.Bench.clock`): modeled time on the
    simulated bench, wall time on a lab bench. Objects without ``clock()``: wall time."""
    clock = getattr(bench, "clock", None)
    if callable(clock):
        return float(clock())
    return time.monotonic()


def bench_round_trips(bench: BenchInterface) -> int | None:
    """Command lines the bench's drivers have sent (:meth:`instruments.bench.Bench.round_trips`);
    None for objects without the counter."""
    count = getattr(bench, "round_trips", None)
    return int(count()) if callable(count) else None


def wait(
    bench: BenchInterface,
    seconds: float,
    should_stop: Callable[[], bool] | None = None,
    slice_s: float = 0.1,
) -> bool:
    """Let ``seconds`` (s) pass on the bench (:meth:`instruments.bench.Bench.wait`); returns
    False if ``should_stop`` cut it short. Objects without ``wait()`` sleep in slices."""
    bench_wait = getattr(bench, "wait", None)
    if callable(bench_wait):
        return bool(bench_wait(seconds, should_stop, slice_s))
    end = time.monotonic() + seconds
    while True:
        if should_stop and should_stop():
            return False
        left = end - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(slice_s, left))


#: s, WT step delay of a triggered read sweep: the chip controller routes the next cell after
#: each trigger edge (``SCAN_SWITCH_S``, ~10 us [E]); 0.1 ms leaves the line time to settle
SCAN_STEP_DELAY_S = max(1e-4, SCAN_SWITCH_S)


class ReadScan:
    """Fast reads of many cells: the read bias stays on while the cells are stepped through.

    ``CellIO.read`` forces BL/SL/WL and measures for every cell (~4 instrument round trips);
    inside a scan WL (``v_wl`` V), SL (0 V) and BL (``v_read`` V) are forced once. Then either

    * :meth:`read` one cell: its address (array/side only when they change) and one high-speed
      spot current (``TI``), ~3 round trips per cell; or
    * :meth:`read_run` a run of cells of one row: when the bench's chip controller has the scan
      mode (``bench.capabilities.chip_scan``, or ``trigger_scan``), one constant-voltage
      staircase sweep of the B1500 reads them all, its step measurement completion trigger
      stepping the controller to the next cell (:meth:`B1500.triggered_sweep_setup
      <instruments.keysight.b1500.B1500.triggered_sweep_setup>`): ~5 round trips per run. The
      controller's trigger count is compared with the points; on a mismatch (a lost or extra
      edge) the run is read again cell by cell and a warning logged.

    BL returns to 0 V when the scan ends (and a scan used is disarmed, the trigger set-up
    cleared). Use as a context manager::

        with ReadScan(io, 0.1, 2.5) as scan:
            r = scan.read("1T1R", row, col)
            rs = scan.read_run("1T1R", "BL", row, 0, 31)
    """

    def __init__(self, io: CellIO, v_read: float = 0.1, v_wl: float = 2.5,
                 compliance: float = 1e-3, trigger_scan: bool | None = None) -> None:
        self.io = io
        self.v_read = float(v_read)
        self.v_wl = float(v_wl)
        self.compliance = float(compliance)
        if trigger_scan is None:
            caps = getattr(io.bench, "capabilities", None)
            trigger_scan = bool(getattr(caps, "chip_scan", False))
        #: runs are read by the controller's scan mode (else cell by cell)
        self.trigger_scan = trigger_scan
        #: runs whose trigger count did not match (read again cell by cell)
        self.recounted = 0
        self._array: str | None = None
        self._side: str | None = None
        self._sweep_points: int | None = None  #: points of the sweep set up on the B1500
        self._scan_used = False  #: a scan was started: disarm and clear the trigger at the end

    def __enter__(self) -> ReadScan:
        self.io.set_levels(self.v_read, 0.0, self.v_wl, self.compliance)
        return self

    def __exit__(self, *exc: object) -> None:
        # each step runs even when one before it fails (a controller that does not answer
        # must not leave the trigger output set up or BL at the read voltage); the first
        # failure is raised after the others
        scanned, self._scan_used, self._sweep_points = self._scan_used, False, None
        try:
            if scanned:  # a scan was used: disarmed, trigger set-up cleared
                try:
                    self.io.bench.chip.scan_abort()
                finally:
                    self.io.b1500.clear_triggers(check=False)  # checked with the 0 V below
        finally:
            self.io.b1500.force_voltage(self.io.ch_bl, 0.0, self.compliance)

    def read(self, array: str, row: int, col: int, side: str = "BL") -> ReadResult:
        """Select ``array`` (row, col[, side]) and read its BL current at the held bias."""
        chip = self.io.bench.chip
        if array != self._array or side != self._side:
            chip.select(array, int(row), int(col), side)
            self._array, self._side = array, side
        else:
            chip.cell = (int(row), int(col))
        r = self.io.b1500.high_speed_spot_current(self.io.ch_bl)
        return ReadResult(r.value, self.v_read, r.compliance)

    def read_run(self, array: str, side: str, row: int, col0: int, col1: int
                 ) -> list[ReadResult]:
        """Read cells ``col0..col1`` (2T2R: pairs on ``side``) of ``row``, in column order.

        Scan mode (:attr:`trigger_scan`, two cells or more): ``SCAN:LOAD`` + ``SCAN:ARM``
        (checked; a cell outside the array is refused before anything is sent), the sweep's
        set-up when the run length changes, its ``XE``, ``SCAN:COUNT?``; cell by cell
        otherwise or when the count is not the number of points (logged, counted in
        :attr:`recounted`)."""
        n = int(col1) - int(col0) + 1
        if n < 1:
            raise ValueError(f"empty run: columns {col0}..{col1}")
        if not self.trigger_scan or n < 2:
            return [self.read(array, row, c, side) for c in range(col0, col1 + 1)]
        io, chip = self.io, self.io.bench.chip
        # the controller first: it refuses cells outside the array before the B1500 is set up
        self._scan_used = True  # before sending: a scan armed by a refused line is disarmed
        chip.scan_start(array, side, int(row), int(col0), int(row), int(col1))
        self._array, self._side = array, side
        if self._sweep_points != n:
            io.b1500.triggered_sweep_setup(io.ch_bl, self.v_read, n, self.compliance,
                                           SCAN_STEP_DELAY_S, measure=[io.ch_bl])
            self._sweep_points = n
        steps = io.b1500.triggered_sweep(n, [io.ch_bl])
        count = chip.scan_count()
        if count != n:
            log.warning("scan of row %d, columns %d..%d (%s %s): the controller counted %d "
                        "trigger(s) for %d points; reading the row again cell by cell",
                        row, col0, col1, array, side, count, n)
            self.recounted += 1
            chip.scan_abort()  # still armed after a lost edge: the selection must be free
            return [self.read(array, row, c, side) for c in range(col0, col1 + 1)]
        return [ReadResult(g[0].value, self.v_read, g[0].compliance) for g in steps]
