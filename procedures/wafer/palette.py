"""The wafer-map palette, one place for the GUI's wafer-map widget and the headless PNG maps.

Qt-free (plain ``#rrggbb`` strings and a colour-map name both pyqtgraph and matplotlib know; the
two libraries' ``viridis`` are the same table), so ``gui/widgets/wafer_map.py`` and
:mod:`procedures.wafer.maps` import the same facts. Bin colours themselves are the recipe's
(``[[bins]] color``; defaults in :mod:`procedures.wafer.binning`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

UNTESTED_COLOR = "#eeeeee"
"""Fill of a die with no bin / no value yet."""
NAN_COLOR = "#9e9e9e"
"""Fill of a die whose value is NaN (measured, no valid result)."""
UNKNOWN_BIN_COLOR = "#7b1fa2"
"""Fill of a die whose bin code is not in the bin table."""
DIE_EDGE_COLOR = "#616161"
"""Outline of a die and of the wafer."""
VALUE_COLORMAP = "viridis"
"""Colour map of value maps (low: dark violet, high: yellow)."""
VALUE_PERCENTILES = (2.0, 98.0)
"""Default colour-scale range of a value map: these percentiles of the finite values."""


def value_levels(values: Iterable[float | None],
                 percentiles: tuple[float, float] = VALUE_PERCENTILES) -> tuple[float, float]:
    """Colour-scale limits (low, high) for ``values``: the ``percentiles`` of the finite ones,
    widened by 5 % (or 0.5) when they coincide; (0, 1) when none is finite."""
    finite = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, percentiles)
    if hi <= lo:
        span = abs(lo) * 0.05 or 0.5
        lo, hi = lo - span, hi + span
    return float(lo), float(hi)


def hex_rgb(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` -> (r, g, b), 0..255."""
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


__all__ = [
    "DIE_EDGE_COLOR", "NAN_COLOR", "UNKNOWN_BIN_COLOR", "UNTESTED_COLOR", "VALUE_COLORMAP",
    "VALUE_PERCENTILES", "hex_rgb", "value_levels",
]
