"""Which instrument channel drives which chip terminal: the default wiring, in one place.

A bench's wiring is its bench file's ``[wiring]`` table (``smu``: B1500 SMU channel number ->
terminal; ``wgfmu``: WGFMU channel id ``slot * 100 + channel`` -> terminal). The defaults below
stand when a bench file names none, and for a driver or a twin server opened without a bench
(tests, notebooks): the drivers (:mod:`instruments.keysight.b1500`,
:mod:`instruments.keysight.wgfmu`), the bench (:mod:`instruments.bench`,
:mod:`instruments.bench_schema`) and the twin's servers read them from here. The terminals
themselves are :data:`instruments.limits.TERMINALS`.

The mappings are read-only; take a ``dict(...)`` copy to change one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

SMU_WIRING: Mapping[int, str] = MappingProxyType({1: "BL", 2: "SL", 3: "WL", 4: "SUB"})
"""B1500 SMU channel -> terminal: SMU 1 on the bit line, 2 source line, 3 word line, 4 substrate."""

WGFMU_WIRING: Mapping[int, str] = MappingProxyType({501: "BL", 502: "SL"})
"""WGFMU channel id -> terminal: one B1530A in slot 5, channel 1 on BL and channel 2 on SL."""

TWIN_WGFMU_WIRING: Mapping[int, str] = MappingProxyType({501: "BL", 502: "SL", 601: "WL"})
"""The simulated lab's WGFMU wiring (``resources/benches/simulated.toml``): two B1530A, slot 5
on BL/SL and slot 6 channel 1 on WL, so pulsed SET (low gate) and RESET (high gate) alternate
within one WGFMU sequence."""


def smu_wiring() -> dict[int, str]:
    """A fresh copy of :data:`SMU_WIRING` (a dataclass or pydantic default)."""
    return dict(SMU_WIRING)


def wgfmu_wiring() -> dict[int, str]:
    """A fresh copy of :data:`WGFMU_WIRING`."""
    return dict(WGFMU_WIRING)


def twin_wgfmu_wiring() -> dict[int, str]:
    """A fresh copy of :data:`TWIN_WGFMU_WIRING`."""
    return dict(TWIN_WGFMU_WIRING)
