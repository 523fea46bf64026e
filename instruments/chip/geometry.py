"""The test chip's arrays: the one place that says how big they are.

The same chip sits on the real bench and in the twin, so the driver, the simulated chip and its
controller, the procedures' target parsing and the GUI's array map all read these numbers.
Rows x columns; for the 2T2R array a column is a pair of cells (BL and BLB).
"""

from __future__ import annotations

ARRAYS = ("1T1R", "2T2R")
N_ROWS = 32
N_COLS_1T1R = 32
N_PAIRS_2T2R = 32
#: rows x columns of each array (2T2R: columns are pairs)
ARRAY_SHAPES: dict[str, tuple[int, int]] = {
    "1T1R": (N_ROWS, N_COLS_1T1R),
    "2T2R": (N_ROWS, N_PAIRS_2T2R),
}
