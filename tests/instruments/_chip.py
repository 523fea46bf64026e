"""Biases the chip-model tests apply directly on :class:`instruments.sim.chip.Chip` and the
2T2R programming they share."""

from __future__ import annotations

import numpy as np

from instruments.sim.chip import Chip

#: (v_bl V, v_sl V, v_wl V, duration s) of a read, a SET (transistor compliance ~161 uA), a RESET
READ = (0.1, 0.0, 1.5, 1e-3)
SET = (2.0, 0.0, 1.4, 1e-6)
RESET = (0.0, 2.4, 2.8, 1e-6)


def program_2t2r(chip: Chip, bits: np.ndarray) -> None:
    """Form all pairs of the rows in ``bits`` (rows x 32) directly on the model, then write
    LRS/HRS (bit 1) or HRS/LRS (bit 0)."""
    for row in range(bits.shape[0]):
        for pair in range(32):
            for side in ("BL", "BLB"):
                chip.bias("2T2R", row, pair, side, 4.0, 0.0, 1.4, 1e-3)
                chip.bias("2T2R", row, pair, side, *RESET)
            on = "BL" if bits[row, pair] else "BLB"
            chip.bias("2T2R", row, pair, on, *SET)
