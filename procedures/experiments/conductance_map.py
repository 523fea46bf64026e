"""Conductance map: read every selected cell of an array, optionally after programming a pattern.

Every target cell (``cells``, default ``all``) is read at ``v_read`` on BL (SL 0 V, WL
``v_wl_read``); on the 2T2R array both devices of each pair are read (``sides`` = ``both``) or
one side only. Reads use :class:`procedures.operations.cell_io.ReadScan` (the read bias stays on;
per cell
only the address and one high-speed spot current are sent), so a 1,024-cell map takes seconds.
Cells are read run by run (the adjacent cells of one row): when the bench's chip controller has
the scan mode (``bench.capabilities.chip_scan``) a run is one constant-voltage sweep of the
B1500 whose trigger output steps the controller from cell to cell, else cell by cell. The rows
of a run are emitted (to disk and the live map) as soon as it is read: a crash loses at most
one run. A run whose trigger count does not match is read again cell by cell (a warning;
``runs_reread`` in the summary).

Pattern programming (needs formed cells; unformed ones are formed first only with ``form_first``,
else the run is refused before anything is programmed):

* ``none``: read only;
* ``checkerboard``: cell (row, col) is SET (LRS) when ``row + col`` is even, else RESET (HRS);
* ``image``: ``image_path`` names a 2-D array indexed [row, col] (absolute array coordinates;
  it must cover every target cell). Supported files: ``.csv``/``.txt`` (numbers separated by
  commas or white space, numpy ``loadtxt``), ``.npy`` (numpy) and ``.pgm`` (portable grey map,
  ASCII P2 or binary P5). Values are scaled to 0..1 (by the PGM maxval, or by the largest value
  when it exceeds 1) and thresholded at 0.5: 1 = LRS, 0 = HRS (a binary program; grey levels
  would need program-and-verify). PNG is not read (no image library outside the GUI):
  convert with e.g. ``convert in.png out.pgm``.

On the 2T2R array a pattern bit is a pair's weight: bit 1 programs BL to LRS and BLB to HRS,
bit 0 the opposite (what the PCSA reads as 1/0).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from pymeasure.experiment import BooleanParameter, FloatParameter, ListParameter, Parameter

from instruments.limits import SafetyLimits
from procedures.data.extract import finite_or_none
from procedures.framework.base import BenchProcedure
from procedures.framework.parameter_sets import DCProgramParameters
from procedures.framework.targets import ARRAY_SHAPES
from procedures.operations.cell_io import ReadScan
from procedures.operations.programming import (
    FORMED_CONDUCTANCE_SIEMENS,
    FormingRamp,
    UnformedCellError,
    form_with_ramp,
)

log = logging.getLogger(__name__)

SIDE_CODES = {"BL": 0, "BLB": 1}
"""Value of the ``Side`` column per side (1T1R cells are side 0)."""


# ------------------------------------------------------------------------------------------------
# Pattern files
# ------------------------------------------------------------------------------------------------
def _read_pgm(path: Path) -> np.ndarray:
    """A PGM file (P2 ASCII or P5 binary) as a float array scaled to 0..1."""
    data = path.read_bytes()
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:  # magic, width, height, maxval (comments start with '#')
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        if pos >= len(data):
            raise ValueError(f"{path}: truncated PGM header")
        if data[pos : pos + 1] == b"#":
            while pos < len(data) and data[pos : pos + 1] not in (b"\n", b"\r"):
                pos += 1
            continue
        start = pos
        while pos < len(data) and not data[pos : pos + 1].isspace():
            pos += 1
        tokens.append(data[start:pos])
    magic = tokens[0]
    try:
        width, height, maxval = (int(t) for t in tokens[1:])
    except ValueError:
        raise ValueError(f"{path}: bad PGM header") from None
    if magic not in (b"P2", b"P5") or width <= 0 or height <= 0 or not 0 < maxval < 65536:
        raise ValueError(f"{path}: not a P2/P5 grey map (magic {magic!r})")
    count = width * height
    if magic == b"P2":
        values = np.array(data[pos:].split()[:count], dtype=float)
    else:
        pos += 1  # the single white-space byte after maxval
        dtype = np.dtype(">u2") if maxval > 255 else np.dtype("u1")
        n = min(count, (len(data) - pos) // dtype.itemsize)
        values = np.frombuffer(data, dtype=dtype, count=n, offset=pos).astype(float)
    if values.size != count:
        raise ValueError(f"{path}: {values.size} pixels, expected {width} x {height}")
    return values.reshape(height, width) / maxval


def load_pattern(path: str | Path) -> np.ndarray:
    """A binary pattern (bool array [row, col], True = LRS) from a .csv/.txt, .npy or .pgm file.

    Values are scaled to 0..1 (PGM: by maxval; others: by the largest value if it exceeds 1)
    and thresholded at 0.5. Raises ValueError for an unreadable or non-2-D file.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"pattern file {p} does not exist")
    suffix = p.suffix.lower()
    try:
        if suffix == ".pgm":
            grey = _read_pgm(p)
        elif suffix == ".npy":
            grey = np.load(p, allow_pickle=False).astype(float)
        elif suffix in (".csv", ".txt"):
            text = p.read_text()
            delimiter = "," if "," in text else None
            grey = np.loadtxt(p, delimiter=delimiter, dtype=float, ndmin=2)
        else:
            raise ValueError(f"unsupported pattern file type {suffix!r} (use .csv, .txt, .npy or "
                             ".pgm; convert PNG to PGM)")
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read pattern file {p}: {exc}") from None
    if grey.ndim != 2 or grey.size == 0:
        raise ValueError(f"pattern file {p} is not a 2-D image (shape {grey.shape})")
    if not np.all(np.isfinite(grey)):
        raise ValueError(f"pattern file {p} has non-numeric values")
    if suffix != ".pgm":
        top = float(grey.max())
        if top > 1.0:
            grey = grey / top
    return grey >= 0.5


def row_runs(devices: list[tuple[int, int, str]]) -> list[tuple[int, str, int, int]]:
    """Devices (row, col, side) in reading order as runs (row, side, col0, col1) of adjacent
    columns of one row and side, in the same order (a run is one triggered sweep)."""
    runs: list[tuple[int, str, int, int]] = []
    for row, col, side in devices:
        if runs and runs[-1][:2] == (row, side) and runs[-1][3] + 1 == col:
            runs[-1] = (row, side, runs[-1][2], col)
        else:
            runs.append((row, side, col, col))
    return runs


def checkerboard(rows: int, cols: int) -> np.ndarray:
    """Checkerboard pattern [row, col]: True (LRS) where row + col is even."""
    r, c = np.indices((rows, cols))
    return (r + c) % 2 == 0


# ------------------------------------------------------------------------------------------------
# The procedure
# ------------------------------------------------------------------------------------------------
class ConductanceMapProcedure(DCProgramParameters, BenchProcedure):
    """Read the conductance of every selected cell (optionally after programming a pattern)."""

    NAME = "conductance-map"

    cells = Parameter("Cells", default="all",
                      description="cells as 'row,col;...', ranges 'r0-r1,c0-c1' or 'all'")
    v_read = FloatParameter("Read voltage", units="V", default=0.1, minimum=0.01, maximum=0.5)
    v_wl_read = FloatParameter("Read word-line voltage", units="V", default=2.5, minimum=0,
                               maximum=5)
    read_compliance = FloatParameter("Read compliance", units="A", default=1e-3, minimum=1e-7,
                                     maximum=10e-3)
    sides = ListParameter("2T2R sides", choices=["both", "BL", "BLB"], default="both")
    g_threshold = FloatParameter("Conductance threshold", units="S", default=30e-6,
                                 minimum=1e-9, maximum=1e-2)
    pattern = ListParameter("Pattern", choices=["none", "checkerboard", "image"], default="none")
    image_path = Parameter("Pattern file", default="",
                           description=".csv/.txt/.npy/.pgm image [row, col]; >= half max = LRS")
    form_first = BooleanParameter("Form unformed cells first", default=False)

    DATA_COLUMNS = [
        "Cell row", "Cell col", "Side", "Target", "Current (A)", "Conductance (S)",
    ]
    """``Side``: 0 BL, 1 BLB (always 0 on 1T1R). ``Target``: programmed state 1 LRS, 0 HRS,
    -1 not programmed."""

    # -- configuration ------------------------------------------------------------------------
    def side_list(self) -> list[str]:
        """Sides read per cell: ``["BL"]`` on 1T1R; on 2T2R per the ``sides`` parameter."""
        if self.array != "2T2R":
            return ["BL"]
        return ["BL", "BLB"] if self.sides == "both" else [str(self.sides)]

    def pattern_bits(self) -> np.ndarray | None:
        """The pattern as bool [row, col] (True = LRS; 2T2R: BL side LRS), None for ``none``."""
        if self.pattern == "none":
            return None
        if self.pattern == "checkerboard":
            return checkerboard(*ARRAY_SHAPES[str(self.array)])
        return load_pattern(self.image_path)

    def targets(self) -> list[tuple[int, int, str]]:
        """Devices (row, col, side) to read, in reading order (side by side: fewer re-routes)."""
        return [(r, c, s) for s in self.side_list() for r, c in self.target_cells()]

    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        limits.check_voltage("BL", self.v_read, "v_read")
        limits.check_voltage("WL", self.v_wl_read, "v_wl_read")
        limits.check_compliance(self.read_compliance, self.v_read, "read_compliance", "v_read")
        if self.pattern == "none":
            return
        try:
            bits = self.pattern_bits()
        except ValueError as exc:
            raise ValueError(f"image_path: {exc}") from None
        assert bits is not None
        cells = self.target_cells()
        max_r = max(r for r, _ in cells)
        max_c = max(c for _, c in cells)
        if bits.shape[0] <= max_r or bits.shape[1] <= max_c:
            raise ValueError(
                f"image_path: pattern of {bits.shape[0]} x {bits.shape[1]} does not cover cell "
                f"({max_r},{max_c}) of the selection"
            )
        self.set_bias().check(limits, "BL")
        self.reset_bias().check(limits, "SL")
        if self.form_first:
            FormingRamp().check(limits)

    # -- run ----------------------------------------------------------------------------------
    def startup(self) -> None:
        self.g: dict[tuple[int, int, str], float] = {}
        self.target_state: dict[tuple[int, int, str], int] = {}
        self.formed_now = 0
        self.read_seconds = 0.0
        self.runs_reread = 0
        self.scan_mode = False

    def execute(self) -> None:
        devices = self.targets()
        bits = self.pattern_bits()
        n_prog = 0
        if bits is not None:
            n_prog = len(devices)
            self._program(devices, bits)
            if self.should_stop():
                return
        total = n_prog + len(devices)
        t_start = time.perf_counter()
        done = 0
        with ReadScan(self.io, self.v_read, self.v_wl_read, self.read_compliance) as scan:
            self.scan_mode = scan.trigger_scan  # known before the first run: an abort says it
            for row, side, col0, col1 in row_runs(devices):
                if self.should_stop():
                    return
                # one run (a row's contiguous cells) at a time: with the controller's scan mode
                # one triggered sweep; its rows reach disk and the live map before the next run
                for col, r in zip(range(col0, col1 + 1),
                                  scan.read_run(self.array, side, row, col0, col1), strict=True):
                    g = r.conductance
                    self.g[(row, col, side)] = g
                    self.emit("results", {
                        "Cell row": row, "Cell col": col, "Side": SIDE_CODES[side],
                        "Target": self.target_state.get((row, col, side), -1),
                        "Current (A)": r.current, "Conductance (S)": g,
                    })
                done += col1 - col0 + 1
                self.read_seconds = time.perf_counter() - t_start
                self.runs_reread = scan.recounted
                self.progress((n_prog + done) / total)
        log.info("read %d devices in %.2f s (%s)", len(devices), self.read_seconds,
                 "controller scan mode" if scan.trigger_scan else "cell by cell")

    def _state_of(self, bits: np.ndarray, row: int, col: int, side: str) -> int:
        bit = bool(bits[row, col])
        return int(bit if side == "BL" else not bit)

    def _program(self, devices: list[tuple[int, int, str]], bits: np.ndarray) -> None:
        """Check (and form) then program every device to its pattern state."""
        io = self.io
        unformed: list[tuple[int, int, str]] = []
        for row, col, side in devices:
            if self.should_stop():
                return
            io.select(self.array, row, col, side)
            if io.read(self.v_read, self.v_wl_read).conductance < FORMED_CONDUCTANCE_SIEMENS:
                unformed.append((row, col, side))
        if unformed and not self.form_first:
            names = ", ".join(f"({r},{c}{'' if self.array == '1T1R' else ',' + s})"
                              for r, c, s in unformed[:8])
            raise UnformedCellError(
                f"{len(unformed)} device(s) read below {FORMED_CONDUCTANCE_SIEMENS * 1e6:g} uS "
                f"(unformed), e.g. {names}; programming a pattern needs formed cells: form them "
                "first or set form_first"
            )
        failed: set[tuple[int, int, str]] = set()
        for dev in unformed:
            if self.should_stop():
                return
            io.select(self.array, dev[0], dev[1], dev[2])
            if form_with_ramp(io, FormingRamp(), self.should_stop) is None:
                log.warning("device %s did not form; not programmed", dev)
                failed.add(dev)
            else:
                self.formed_now += 1
        for k, (row, col, side) in enumerate(devices):
            if self.should_stop():
                return
            if (row, col, side) in failed:
                continue
            state = self._state_of(bits, row, col, side)
            io.select(self.array, row, col, side)
            self.dc_program(io, bool(state))
            self.target_state[(row, col, side)] = state
            self.progress((k + 1) / (2 * len(devices)))

    # -- results --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The run's figures (also of an aborted run: the runs read so far).

        Always: ``n_cells`` (devices read), ``g_threshold`` (S), ``read_seconds`` (wall s of
        the reads), ``scan_mode`` (runs read by the controller's scan mode), ``runs_reread``
        (scan runs whose trigger count did not match, read again cell by cell). With reads:
        ``g_median`` (S), ``fraction_above`` (of the devices above ``g_threshold``). With a
        pattern: ``cells_programmed``, ``cells_formed_first``, ``g_lrs_median`` and
        ``g_hrs_median`` (S), ``pattern_match`` (fraction of programmed devices read on the
        side of the threshold their state asks for).
        """
        g_map: dict[tuple[int, int, str], float] = getattr(self, "g", {})
        g = np.array(list(g_map.values()), dtype=float)
        out: dict[str, Any] = {
            "n_cells": int(g.size),
            "g_threshold": float(self.g_threshold),
            "read_seconds": round(float(getattr(self, "read_seconds", 0.0)), 3),
            "scan_mode": bool(getattr(self, "scan_mode", False)),
            "runs_reread": int(getattr(self, "runs_reread", 0)),
        }
        if g.size:
            out["g_median"] = finite_or_none(float(np.median(g)))
            out["fraction_above"] = float(np.mean(g > self.g_threshold))
        states: dict[tuple[int, int, str], int] = getattr(self, "target_state", {})
        if states:
            out["cells_programmed"] = len(states)
            out["cells_formed_first"] = int(getattr(self, "formed_now", 0))
            for name, code in (("lrs", 1), ("hrs", 0)):
                vals = [g_map[k] for k, s in states.items() if s == code and k in g_map]
                if vals:
                    out[f"g_{name}_median"] = finite_or_none(float(np.median(vals)))
            hits = [(g_map[k] > self.g_threshold) == bool(s) for k, s in states.items()
                    if k in g_map]
            if hits:
                out["pattern_match"] = float(np.mean(hits))
        return out


__all__ = ["ConductanceMapProcedure", "SIDE_CODES", "checkerboard", "load_pattern", "row_runs"]
