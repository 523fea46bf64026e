"""Per-run and per-die figures of a wafer run, from the procedures' summaries and results files.

Per-device figures come from the procedures' summaries (lists named ``<figure>_values``, e.g.
forming's ``v_form_values``) and, for some procedures, from their results files:
``iv-cycling`` gives per-device medians over cycles of ``r_lrs``, ``r_hrs`` and ``on_off`` and,
with cycle limits, ``first_fail_cycle`` (1-based cycle at which a device first fell outside its
limits; devices that never did are counted in ``devices_survived``); ``conductance-map`` gives
``g`` (S) per device. Scalar summary numbers are pooled over the die's runs of a step: integers
(counts) are summed, other numbers take the median.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


@dataclass
class RunFigures:
    """Figures of one procedure run: per-device value lists and scalars.

    Attributes:
        step: step name. split: ``param=value`` or empty.
        devices: figure -> per-device values.
        scalars: figure -> number (counts as int).
    """

    step: str
    split: str = ""
    devices: dict[str, list[float]] = field(default_factory=dict)
    scalars: dict[str, float | int] = field(default_factory=dict)

    def medians(self) -> dict[str, float | int]:
        """Flat figures of this run (device medians and scalars), for ``wafer_runs.csv``."""
        out: dict[str, float | int] = dict(self.scalars)
        for name, values in self.devices.items():
            out[name] = stats(values)["median"]
        return out


def stats(values: Iterable[float]) -> dict[str, float]:
    """Median, 5th and 95th percentile and count of the finite values (NaN when none)."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"median": math.nan, "p5": math.nan, "p95": math.nan, "n": 0}
    p5, med, p95 = np.percentile(x, [5, 50, 95])
    return {"median": float(med), "p5": float(p5), "p95": float(p95), "n": int(x.size)}


def read_rows(file: str | Path) -> pd.DataFrame | None:
    """The data rows of a pymeasure results file (header lines skipped); None if unreadable."""
    try:
        return pd.read_csv(file, comment="#")
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None


def _number(v: Any) -> float | int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v
    return None


def run_figures(
    step: str,
    procedure: str,
    summary: dict[str, Any],
    file: str | Path | None,
    split: str = "",
    cycle_limits: dict[str, tuple[float, float]] | None = None,
) -> RunFigures:
    """Figures of one run from its catalog summary and (for some procedures) its results file."""
    out = RunFigures(step, split)
    for key, value in summary.items():
        if key.endswith("_values") and isinstance(value, list):
            vals = [float(v) for v in value if _number(v) is not None]
            out.devices[key[: -len("_values")]] = vals
            continue
        n = _number(value)
        if n is not None:
            out.scalars[key] = n
    extractor = _EXTRACTORS.get(procedure)
    if extractor is not None and file:
        rows = read_rows(file)
        if rows is not None and len(rows):
            try:
                extractor(rows, out, cycle_limits or {})
            except (KeyError, ValueError) as exc:  # unexpected columns: summary figures only
                log.warning("could not extract device figures from %s: %s", file, exc)
    for name in out.devices:  # device statistics replace a scalar of the same name
        out.scalars.pop(name, None)
    return out


def _cycling(rows: pd.DataFrame, out: RunFigures, limits: dict[str, tuple[float, float]]) -> None:
    """iv-cycling: per-device medians over cycles and the first cycle outside ``limits``."""
    reads = rows[rows["Leg"].isin([2, -2])]
    if reads.empty:
        return
    v = reads["Voltage (V)"].to_numpy(dtype=float)
    i = reads["Current (A)"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(i > 0, np.abs(v) / i, np.inf)
    reads = reads.assign(R=r)
    per_dev: dict[str, list[float]] = {"r_lrs": [], "r_hrs": [], "on_off": []}
    fail_cycles: list[float] = []
    survived = 0
    for _, dev in reads.groupby(["Cell row", "Cell col"]):
        lrs = dev[dev["Leg"] == 2].set_index("Cycle")["R"]
        hrs = dev[dev["Leg"] == -2].set_index("Cycle")["R"]
        cycles = sorted(set(lrs.index) & set(hrs.index))
        if not cycles:
            continue
        lrs_c = lrs.groupby(level=0).last().reindex(cycles).to_numpy(dtype=float)
        hrs_c = hrs.groupby(level=0).last().reindex(cycles).to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = hrs_c / lrs_c
        per_dev["r_lrs"].append(float(np.median(lrs_c)))
        per_dev["r_hrs"].append(float(np.median(hrs_c)))
        per_dev["on_off"].append(float(np.median(ratio)))
        if limits:
            ok = np.ones(len(cycles), dtype=bool)
            for name, arr in (("r_lrs", lrs_c), ("r_hrs", hrs_c), ("on_off", ratio)):
                if name in limits:
                    lo, hi = limits[name]
                    ok &= np.isfinite(arr) & (arr >= lo) & (arr <= hi)
            bad = np.flatnonzero(~ok)
            if bad.size:
                fail_cycles.append(float(cycles[int(bad[0])]) + 1.0)
            else:
                survived += 1
    out.devices.update({k: vals for k, vals in per_dev.items() if vals})
    if limits:
        out.devices["first_fail_cycle"] = fail_cycles
        out.scalars["devices_failed"] = len(fail_cycles)
        out.scalars["devices_survived"] = survived


def _conductance(rows: pd.DataFrame, out: RunFigures, limits: dict[str, Any]) -> None:
    """conductance-map: per-device conductance (S)."""
    out.devices["g"] = [float(x) for x in rows["Conductance (S)"].to_numpy(dtype=float)]


_EXTRACTORS = {"iv-cycling": _cycling, "conductance-map": _conductance}


def die_figures(runs: list[RunFigures]) -> dict[str, float]:
    """Summary figures of one die from its runs (see the module docstring for the names)."""
    out: dict[str, float] = {}

    def pool(prefix: str, group: list[RunFigures], full: bool) -> None:
        devices: dict[str, list[float]] = {}
        scalars: dict[str, list[float | int]] = {}
        for rf in group:
            for k, vals in rf.devices.items():
                devices.setdefault(k, []).extend(vals)
            for k, val in rf.scalars.items():
                scalars.setdefault(k, []).append(val)
        for k, vals in scalars.items():
            if k in devices:
                continue
            if all(isinstance(x, int) for x in vals):
                out[f"{prefix}.{k}"] = float(sum(vals))
            else:
                s = stats(float(x) for x in vals)
                out[f"{prefix}.{k}"] = s["median"]
        for k, vals in devices.items():
            s = stats(vals)
            out[f"{prefix}.{k}"] = s["median"]
            out[f"{prefix}.{k}_n"] = float(s["n"])
            if full:
                out[f"{prefix}.{k}_p5"] = s["p5"]
                out[f"{prefix}.{k}_p95"] = s["p95"]

    by_step: dict[str, list[RunFigures]] = {}
    for rf in runs:
        by_step.setdefault(rf.step, []).append(rf)
    for step, group in by_step.items():
        pool(step, group, True)
        splits: dict[str, list[RunFigures]] = {}
        for rf in group:
            if rf.split:
                splits.setdefault(rf.split, []).append(rf)
        for label, sub in splits.items():
            pool(f"{step}[{label}]", sub, False)
    return out


__all__ = ["RunFigures", "die_figures", "read_rows", "run_figures", "stats"]
