"""Fidelity report of the physics twin: every reference of physics.md measured through the bench.

:func:`build_report` opens a fresh simulated bench (fixed seed), runs the measurements of
:mod:`procedures.twin_report.measurements` through the instruments (B1500, WGFMU, prober heater,
chip
controller; the procedures of this package where one exists) and returns :class:`Row` objects:
quantity | reference | twin (measured) | verdict. Every verdict is computed from the measured
numbers by the row's check, never written by hand. :func:`render_markdown` writes the table of
``docs/twin-fidelity.md``; ``memprobe twin-report`` (``gui/cli_twin.py``) is the command.

Verdicts: ``agrees`` (inside the reference range), ``close`` (within the stated slack of it),
``differs``, ``not modelled`` (the twin has no model of it; said so rather than faked), ``not
measured`` (modelled, but not measured through the instruments by this report).
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instruments.bench_types import BenchInterface

log = logging.getLogger(__name__)

AGREES = "agrees"
CLOSE = "close"
DIFFERS = "differs"
NOT_MODELLED = "not modelled"
NOT_MEASURED = "not measured"


@dataclass
class Row:
    """One line of the report.

    Attributes:
        quantity: what is compared.
        reference: the published or estimated reference (physics.md wording).
        twin: the twin's measured value(s), as text.
        verdict: ``agrees``, ``close``, ``differs`` or ``not modelled``.
        how: how it was measured (procedure / instrument path, cells).
        values: the measured numbers the verdict was computed from.
    """

    quantity: str
    reference: str
    twin: str
    verdict: str
    how: str = ""
    values: dict[str, float] = field(default_factory=dict)


def judge(ok: bool, close: bool = False) -> str:
    """Verdict from the two checks of a row."""
    if ok:
        return AGREES
    return CLOSE if close else DIFFERS


def in_range(x: float, lo: float, hi: float, slack: float = 0.0) -> str:
    """``agrees`` if lo <= x <= hi, ``close`` within ``slack`` (relative) outside, else differs."""
    if not math.isfinite(x):
        return DIFFERS
    ok = lo <= x <= hi
    near = lo * (1 - slack) <= x <= hi * (1 + slack) if slack else False
    return judge(ok, near)


@dataclass
class Context:
    """What a measurement needs: the open bench, data root, catalog, size, figure folder (and
    the wafer seed and model parameters, for a measurement that opens a bench of its own)."""

    bench: BenchInterface
    root: Path
    catalog: Any
    quick: bool
    figures: Path | None
    die: str = "9,9"
    results: dict[str, Any] = field(default_factory=dict)
    seed: int = 1
    params: Any = None

    def n(self, full: int, quick: int) -> int:
        """Cell or repeat count for the report size."""
        return quick if self.quick else full


Measurement = Callable[[Context], list[Row]]


def build_report(quick: bool = False, seed: int = 1, figures: Path | None = None,
                 data_root: Path | None = None, only: list[str] | None = None,
                 params: Any = None) -> tuple[list[Row], dict[str, Any]]:
    """Run every measurement on a fresh simulated bench; returns (rows, run information).

    Args:
        quick: fewer cells and shorter runs (a test runs this).
        seed: wafer seed.
        figures: folder for the PNG figures (None: no figures).
        data_root: data root (None: a temporary folder, removed afterwards).
        only: names of the measurements to run (default all, in order).
        params: device-model parameters (:class:`~instruments.sim.rram_params.RRAMParams`) to
            measure instead of the defaults (a refit).
    """
    from instruments.bench import Bench
    from procedures.framework.catalog import Catalog
    from procedures.twin_report import measurements as twin_measurements
    from procedures.twin_report import radiation as twin_radiation
    from procedures.twin_report import reliability as twin_reliability
    from procedures.twin_report import statistics as twin_statistics

    measurements = (twin_measurements.MEASUREMENTS + twin_reliability.MEASUREMENTS
                    + twin_statistics.MEASUREMENTS + twin_radiation.MEASUREMENTS)

    tmp = None
    if data_root is None:
        tmp = tempfile.TemporaryDirectory(prefix="memprobe-twin-")
        data_root = Path(tmp.name)
    t0 = time.perf_counter()
    rows: list[Row] = []
    timings: dict[str, float] = {}
    figs: dict[str, str] = {}
    try:
        overrides = {"params": params} if params is not None else None
        with Bench.open("simulated", data_dir=data_root, fresh=True, seed=seed,
                        lab_overrides=overrides) as bench:
            ctx = Context(bench, data_root, Catalog(data_root), quick, figures, seed=seed,
                          params=params)
            for name, measure in measurements:
                if only and name not in only:
                    continue
                t1 = time.perf_counter()
                try:
                    rows += measure(ctx)
                except Exception as exc:  # a broken measurement is reported, not hidden
                    log.exception("measurement %s failed", name)
                    rows.append(Row(name, "", f"measurement failed: {exc}", DIFFERS))
                timings[name] = time.perf_counter() - t1
            figs = dict(ctx.results.get("figures", {}))
    finally:
        if tmp is not None:
            tmp.cleanup()
    info = {"seed": seed, "quick": quick, "seconds": time.perf_counter() - t0,
            "timings": timings, "figures": figs}
    return rows, info


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: list[Row], info: dict[str, Any],
                    figures: dict[str, str] | None = None) -> str:
    """The report as Markdown (``docs/twin-fidelity.md``)."""
    kinds = (AGREES, CLOSE, DIFFERS, NOT_MODELLED, NOT_MEASURED)
    counts = {v: sum(r.verdict == v for r in rows) for v in kinds}
    lines = [
        "# Twin fidelity report",
        "",
        "Generated by `memprobe twin-report` (`procedures/twin_report/fidelity.py`,",
        "`procedures/twin_report/measurements.py`): a fresh simulated bench (wafer seed "
        f"{info['seed']}, die 9,9), every quantity measured through the instruments (B1500, WGFMU,",
        "prober heater, chip controller) with the procedures of MemProbe, against the references",
        "of `physics.md` ([F] published, [E] estimate). Verdicts are computed from the measured",
        "numbers. Do not edit by hand; rerun the command after changing the model",
        "(`instruments/sim/rram_params.py`).",
        "",
        f"Summary: {counts[AGREES]} agree, {counts[CLOSE]} close, {counts[DIFFERS]} differ, "
        f"{counts[NOT_MODELLED]} not modelled, {counts[NOT_MEASURED]} not measured"
        f"{' (quick run)' if info.get('quick') else ''}; run time {info['seconds']:.0f} s.",
        "",
        "| quantity | reference | twin (measured) | verdict | how |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {_cell(r.quantity)} | {_cell(r.reference)} | {_cell(r.twin)} | "
                     f"**{r.verdict}** | {_cell(r.how)} |")
    if figures:
        lines += ["", "## Figures", ""]
        for title, path in figures.items():
            lines += [f"![{title}]({path})", ""]
    return "\n".join(lines) + "\n"


__all__ = [
    "AGREES", "CLOSE", "DIFFERS", "NOT_MEASURED", "NOT_MODELLED", "Context", "Row",
    "build_report", "in_range",
    "judge", "render_markdown",
]
