"""Binning of a wafer run's dies: bin rules, the special bins and the 'no die' code.

Bin rules are tried in order; the first rule whose limits all hold gives the die's bin (a rule
without limits always matches); a missing or NaN figure fails a limit. Special bins
(``no-contact``, ``short``, ``fault``) are given by the executor; defaults are used when a recipe
does not define them (80 no contact, 81 short, 90 fault, and 99 fail as the catch-all).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SPECIAL_BINS = ("no-contact", "short", "fault")
NULL_BIN = 255
"""Bin code reserved for 'no die' in the SEMI G85 export (bins are 0..254)."""


@dataclass(frozen=True)
class BinRule:
    """A bin: code (0..254), name, pass/fail, colour and the limits that select it."""

    code: int
    name: str
    passed: bool = False
    color: str = "#c62828"
    limits: dict[str, tuple[float, float]] = field(default_factory=dict)
    special: str = ""

    def matches(self, figures: dict[str, Any]) -> bool:
        """True if every limit holds on ``figures`` (missing/NaN fails)."""
        for key, (lo, hi) in self.limits.items():
            v = figures.get(key)
            try:
                x = float(v)
            except (TypeError, ValueError):
                return False
            if not (math.isfinite(x) and lo <= x <= hi):
                return False
        return True

    def failed_limits(self, figures: dict[str, Any]) -> list[str]:
        """The limit keys that do not hold (for reports)."""
        return [k for k in self.limits if not BinRule(0, "", limits={k: self.limits[k]})
                .matches(figures)]


DEFAULT_SPECIAL = {
    "no-contact": BinRule(80, "no contact", False, "#424242", special="no-contact"),
    "short": BinRule(81, "short", False, "#000000", special="short"),
    "fault": BinRule(90, "fault", False, "#ff6f00", special="fault"),
}
DEFAULT_FAIL = BinRule(99, "fail", False, "#c62828")



def special_bin(bins: Sequence[BinRule], kind: str) -> BinRule:
    """The bin for ``no-contact``, ``short`` or ``fault`` (the recipe's or the default)."""
    for b in bins:
        if b.special == kind:
            return b
    return DEFAULT_SPECIAL[kind]


def evaluate_bins(bins: Sequence[BinRule], figures: dict[str, Any]) -> BinRule:
    """The first (non-special) rule whose limits hold on ``figures`` (else the 99 fail bin)."""
    for b in bins:
        if not b.special and b.matches(figures):
            return b
    return DEFAULT_FAIL


__all__ = ["BinRule", "DEFAULT_FAIL", "DEFAULT_SPECIAL", "NULL_BIN", "SPECIAL_BINS",
           "evaluate_bins", "special_bin"]
